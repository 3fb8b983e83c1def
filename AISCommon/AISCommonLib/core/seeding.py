"""The consensus seed: ADC < 620e-6 mm^2/s marks the preliminary lesion, which the reader then refines on DWI.

The rule alone is a weak seed on real scans: noise makes single normal voxels dip below the threshold,
and susceptibility artifacts at the skull base and sinuses are DWI-bright with erratic, low ADC. So the
seed also asks for DWI hyperintensity (acute ischemia is DWI-bright and ADC-dark, never one alone), drops
components that are too small to be read as a lesion, and drops components of the inferior brain
(the skull base: orbitofrontal, temporal poles, posterior fossa) that sit mostly in the rim of the brain
mask, where those artifacts collect. Convexity cortex is spared, so small cortical emboli survive.
Every parameter is reported with the result.
"""

import dataclasses

import numpy as np

from .adcunits import MICRO
from .brainmask import distanceInsideMm
from .errors import InputError
from .sequences import LoadedCase

#: Voxels whose ADC lies in this range (1e-6 mm^2/s) are normal parenchyma: the DWI reference
#: statistics come from them, so CSF (dark) and infarcts (bright) do not skew "normal brain".
PARENCHYMA_ADC_MICRO = (400.0, 1200.0)
#: MAD of a normal distribution times this is its standard deviation.
MAD_TO_SD = 1.4826


@dataclasses.dataclass(frozen=True)
class SeedParameters:
    """Everything that shapes the seed; defaults were chosen on the demo phantoms (see README).

    :param thresholdMm2PerS: the consensus ADC threshold, mm^2/s.
    :param adcFloorMm2PerS: ADC at or below this is a fit failure or signal void, not tissue.
    :param dwiMinRobustZ: a seed voxel's DWI must exceed the normal-parenchyma median by this many
        robust standard deviations (MAD x 1.4826); 0 disables the DWI gate.
    :param minComponentMm3: 26-connected components smaller than this are dropped.
    :param edgeMarginMm: width of the brain-mask rim where artifacts collect.
    :param maxEdgeFraction: skull-base components with more than this fraction of voxels in the rim are
        dropped; 1 disables the rule.
    :param edgeMaxComponentMm3: components at least this large are never dropped by the rim rule
        (a real infarct next to the skull base, e.g. cerebellar, is larger than the artifact fragments).
    :param skullBaseFraction: the skull-base zone is the lowest part of the brain (RAS superior axis),
        this fraction of the brain's height; 1 applies the rim rule to the whole brain.
    :param adcMedianRadius: radius (voxels) of a median filter on ADC before thresholding; 0 = none.
    """

    thresholdMm2PerS: float = 620e-6
    adcFloorMm2PerS: float = 100e-6
    dwiMinRobustZ: float = 1.0
    minComponentMm3: float = 20.0
    edgeMarginMm: float = 12.0
    maxEdgeFraction: float = 0.5
    edgeMaxComponentMm3: float = 1000.0
    skullBaseFraction: float = 0.5
    adcMedianRadius: int = 0

    def validated(self) -> "SeedParameters":
        """Return self after checking ranges.

        :raises InputError: a parameter is outside its meaningful range.
        """
        checks = [
            (0 < self.thresholdMm2PerS < 5e-3, f"ADC threshold {self.thresholdMm2PerS:g} mm^2/s must lie between 0 and 0.005 mm^2/s"),
            (0 <= self.adcFloorMm2PerS < self.thresholdMm2PerS, "the ADC floor must be below the threshold"),
            (self.dwiMinRobustZ >= 0, "the DWI z-score gate must not be negative"),
            (self.minComponentMm3 >= 0, "the minimum component volume must not be negative"),
            (self.edgeMarginMm >= 0, "the edge margin must not be negative"),
            (0 <= self.maxEdgeFraction <= 1, "the edge fraction must lie between 0 and 1"),
            (self.edgeMaxComponentMm3 > 0, "the rim rule's component size limit must be positive"),
            (0 <= self.skullBaseFraction <= 1, "the skull-base fraction must lie between 0 and 1"),
            (0 <= self.adcMedianRadius <= 3, "the ADC median radius must be 0 to 3 voxels"),
        ]
        for ok, message in checks:
            if not ok:
                raise InputError(f"Invalid seed parameter: {message}.")
        return self


@dataclasses.dataclass
class SeedResult:
    """The seed on the DWI grid (boolean ``[k, j, i]``) and a summary a user can read and a sidecar can keep."""

    mask: np.ndarray
    summary: dict


def _report(progress, fraction: float, message: str) -> None:
    if progress:
        progress(fraction, message)


def _medianFiltered(adcMicro: np.ndarray, radius: int) -> np.ndarray:
    if radius == 0:
        return adcMicro
    import SimpleITK as sitk

    return sitk.GetArrayFromImage(sitk.Median(sitk.GetImageFromArray(adcMicro), [radius] * 3))


def dwiReference(dwiArray: np.ndarray, adcMicro: np.ndarray, brainMask: np.ndarray) -> tuple[float, float]:
    """Median and robust SD of DWI over normal-looking parenchyma (brain voxels with normal ADC).

    :return: ``(median, robustSd)`` in the DWI's own intensity units.
    """
    low, high = PARENCHYMA_ADC_MICRO
    tissue = brainMask & (adcMicro > low) & (adcMicro < high)
    values = dwiArray[tissue if tissue.sum() >= 100 else brainMask].astype(np.float64)
    if values.size == 0:
        return 0.0, 0.0
    median = float(np.median(values))
    return median, float(np.median(np.abs(values - median)) * MAD_TO_SD)


def skullBaseZone(loaded: LoadedCase, fraction: float) -> np.ndarray:
    """Voxels (boolean ``[k, j, i]``) in the lowest ``fraction`` of the brain's superior-inferior extent (RAS S)."""
    brain = loaded.brainMask
    matrix = loaded.dwi.ijkToRas
    k, j, i = np.indices(brain.shape, dtype=np.float32, sparse=True)
    superior = matrix[2, 0] * i + matrix[2, 1] * j + matrix[2, 2] * k + matrix[2, 3]
    superior = np.broadcast_to(superior, brain.shape)
    low, high = superior[brain].min(), superior[brain].max()
    return superior <= low + fraction * (high - low)


def _components(candidate: np.ndarray):
    import SimpleITK as sitk

    labels = sitk.GetArrayFromImage(sitk.ConnectedComponent(sitk.GetImageFromArray(candidate.astype(np.uint8)), True))
    return labels, int(labels.max())


def seedLesion(loaded: LoadedCase, parameters: SeedParameters | None = None, progress=None) -> SeedResult:
    """Compute the ADC-threshold seed of one loaded case.

    :param parameters: seed parameters; defaults when None.
    :param progress: optional ``(fraction, message)`` callable; it may raise OperationCancelled.
    :return: the seed mask on the DWI grid and its summary (voxels, ml, components, unit, parameters).
    :raises InputError: invalid parameters, or a brain mask that came out empty.
    """
    parameters = (parameters or SeedParameters()).validated()
    brain = loaded.brainMask
    if not brain.any():
        raise InputError(f"No brain was found in the diffusion images of {loaded.case.caseId}; check the DWI file.")
    _report(progress, 0.1, "Thresholding ADC")
    adcMicro = _medianFiltered(loaded.adcMicro(), parameters.adcMedianRadius)
    lowAdc = brain & (adcMicro < parameters.thresholdMm2PerS * 1e6) & (adcMicro > parameters.adcFloorMm2PerS * 1e6)

    _report(progress, 0.3, "Gating on DWI hyperintensity")
    dwiArray = loaded.dwi.array
    median, robustSd = dwiReference(dwiArray, adcMicro, brain)
    bright = dwiArray > median + parameters.dwiMinRobustZ * robustSd
    candidate = lowAdc & bright

    _report(progress, 0.5, "Removing small and rim components")
    labels, count = _components(candidate)
    voxelMm3 = loaded.dwi.voxelVolumeMm3
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    rim = brain & (distanceInsideMm(brain, loaded.dwi) <= parameters.edgeMarginMm) & skullBaseZone(loaded, parameters.skullBaseFraction)
    rimSizes = np.bincount(labels[rim], minlength=count + 1)
    keep = np.zeros(count + 1, dtype=bool)
    small = sizes * voxelMm3 < parameters.minComponentMm3
    inRim = (rimSizes > parameters.maxEdgeFraction * sizes) & (sizes * voxelMm3 < parameters.edgeMaxComponentMm3)
    keep[1:] = ~small[1:] & ~inRim[1:]
    mask = keep[labels]

    _report(progress, 0.9, "Summarising")
    keptSizes = sorted((int(size) for size in sizes[1:][keep[1:]]), reverse=True)
    unit = loaded.adcUnit.unit
    summary = {
        "caseId": loaded.case.caseId,
        "voxels": int(mask.sum()),
        "volumeMl": round(float(mask.sum()) * voxelMm3 / 1000.0, 4),
        "components": len(keptSizes),
        "componentVolumesMl": [round(size * voxelMm3 / 1000.0, 4) for size in keptSizes],
        "removedSmallComponents": int(small[1:].sum()),
        "removedRimComponents": int((inRim[1:] & ~small[1:]).sum()),
        "threshold": {
            "mm2PerS": parameters.thresholdMm2PerS,
            "micro": MICRO.format(parameters.thresholdMm2PerS),
            "inFileUnit": unit.format(parameters.thresholdMm2PerS),
        },
        "adcUnit": loaded.adcUnit.toDict(),
        "bValue": loaded.bValue,
        "bValueSource": loaded.bValueSource,
        "brainVolumeMl": round(float(brain.sum()) * voxelMm3 / 1000.0, 2),
        "dwiReference": {"median": median, "robustSd": robustSd},
        "parameters": dataclasses.asdict(parameters),
    }
    _report(progress, 1.0, "Seed ready")
    return SeedResult(mask, summary)
