"""The consensus seed: ADC < 620e-6 mm^2/s marks the preliminary lesion, which the reader then refines on DWI.

Two modes, both recorded in the mask's sidecar with every parameter and what each step removed:

- ``plain``: the consensus rule literally: ADC below the threshold inside the brain mask (voxels without an
  ADC value, ADC = 0, are not tissue). A site that wants nothing else gets exactly that.
- ``gated`` (default): the rule alone is a poor starting point on real scans (on the ISLES 2022 sample case it
  marks 55 ml of specks for a 6.7 ml lesion load): noise pushes normal white matter below the threshold, the
  edge of a skull-stripped brain mixes tissue with background, susceptibility at the skull base is DWI-bright
  with erratic ADC. A seed only saves the reader work when most of it is right (a seed whose precision is
  below 50 % costs more erasing than drawing from scratch), so each step removes one known source of
  false positives and can be switched off:

  1. ADC above a floor (below it: fit failure or signal void, not tissue);
  2. DWI-bright relative to nearby normal tissue (:mod:`dwicontrast`: acute ischemia is DWI-bright *and*
     ADC-dark, never one alone), in robust SDs measured on the case itself;
  3. not touching the brain's edge where ADC has no value (partial volume with background);
  4. components of at least a minimum volume (mm^3, so the same on every grid);
  5. components bright as a whole (their mean DWI contrast), which removes noise specks whose voxels
     only just pass step 2;
  6. components bordered mostly by CSF dropped (choroid plexus, CSF partial volume at the ventricles and
     sulci: DWI-bright with borderline ADC, never parenchymal infarct);
  7. skull-base rim components dropped (the inferior brain's edge, where susceptibility artifacts collect),
     unless large;
  8. holes inside a component filled.

Seeds are deliberately conservative: what the ADC rule misses (on real scans often half of an expert's
lesion, whose ADC sits above 620) the reader adds, helped by the DWI assist (:mod:`dwiassist`).
"""

import dataclasses

import numpy as np

from .adcunits import MICRO
from .brainmask import distanceInsideMm
from .dwicontrast import DEFAULT_REFERENCE_SIGMA_MM, NORMAL_ADC_MICRO, measureDwiContrast
from .errors import InputError
from .image import Volume, voxelToRas
from .sequences import LoadedCase

#: ADC above this many times normal tissue's median is CSF (about 3000 against 800 x 1e-6 mm^2/s).
CSF_ADC_FACTOR = 2.0
MODE_GATED = "gated"
MODE_PLAIN = "plain"
SEED_MODES = (MODE_GATED, MODE_PLAIN)
#: Voxels whose ADC lies in this range (1e-6 mm^2/s) are normal parenchyma (shared with hints and review).
PARENCHYMA_ADC_MICRO = NORMAL_ADC_MICRO
#: MAD of a normal distribution times this is its standard deviation.
MAD_TO_SD = 1.4826


@dataclasses.dataclass(frozen=True)
class SeedParameters:
    """Everything that shapes the seed (see the module docstring for why each step exists).

    :param mode: ``gated`` (default) or ``plain`` (the threshold inside the brain, nothing else).
    :param thresholdMm2PerS: the consensus ADC threshold, mm^2/s.
    :param adcFloorMm2PerS: ADC at or below this is a fit failure or signal void, not tissue.
    :param dwiMinRobustZ: step 2: a voxel's DWI contrast must exceed normal tissue by this many robust SDs;
        0 disables the DWI gate.
    :param dwiReferenceSigmaMm: step 2: width (mm) of "nearby" normal tissue.
    :param dropBrainEdge: step 3 on or off.
    :param minComponentMm3: step 4: 26-connected components smaller than this are dropped; 0 keeps all.
    :param componentMinRobustZ: step 5: a component's mean DWI contrast must exceed normal tissue by this many
        robust SDs; 0 disables the step.
    :param maxCsfBorderFraction: step 6: components whose outer border lies in CSF (ADC above twice normal
        tissue's) for more than this fraction are dropped: choroid plexus and CSF partial volume, not
        parenchyma; 1 disables the step.
    :param edgeMarginMm: step 7: width of the brain-mask rim where artifacts collect.
    :param maxEdgeFraction: step 7: components with more than this fraction of voxels in the skull-base rim are
        dropped; 1 disables the step.
    :param edgeMaxComponentMm3: step 7: components at least this large are never dropped by it (a real infarct
        next to the skull base, e.g. cerebellar, is larger than the artifact fragments).
    :param skullBaseFraction: step 7: the skull-base zone is this lowest fraction of the brain's height.
    :param fillHoles: step 8 on or off.
    :param adcMedianRadius: radius (voxels) of a median filter on ADC before thresholding; 0 = none.
    """

    mode: str = MODE_GATED
    thresholdMm2PerS: float = 620e-6
    adcFloorMm2PerS: float = 100e-6
    dwiMinRobustZ: float = 2.0
    dwiReferenceSigmaMm: float = DEFAULT_REFERENCE_SIGMA_MM
    dropBrainEdge: bool = True
    minComponentMm3: float = 20.0
    componentMinRobustZ: float = 3.0
    maxCsfBorderFraction: float = 0.5
    edgeMarginMm: float = 12.0
    maxEdgeFraction: float = 0.5
    edgeMaxComponentMm3: float = 1000.0
    skullBaseFraction: float = 0.5
    fillHoles: bool = True
    adcMedianRadius: int = 0

    def validated(self) -> "SeedParameters":
        """Return self after checking ranges.

        :raises InputError: a parameter is outside its meaningful range.
        """
        checks = [
            (self.mode in SEED_MODES, f"the mode must be one of {', '.join(SEED_MODES)}, not '{self.mode}'"),
            (0 < self.thresholdMm2PerS < 5e-3, f"ADC threshold {self.thresholdMm2PerS:g} mm^2/s must lie between 0 and 0.005 mm^2/s"),
            (0 <= self.adcFloorMm2PerS < self.thresholdMm2PerS, "the ADC floor must be below the threshold"),
            (self.dwiMinRobustZ >= 0, "the DWI z-score gate must not be negative"),
            (self.dwiReferenceSigmaMm > 0, "the DWI reference width must be positive"),
            (self.minComponentMm3 >= 0, "the minimum component volume must not be negative"),
            (self.componentMinRobustZ >= 0, "the component contrast gate must not be negative"),
            (self.edgeMarginMm >= 0, "the edge margin must not be negative"),
            (0 <= self.maxCsfBorderFraction <= 1, "the CSF border fraction must lie between 0 and 1"),
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


def _box(mask: np.ndarray, margin: int = 1) -> tuple[slice, ...] | None:
    """The bounding box of ``mask`` grown by ``margin`` voxels (clipped), or None when it is empty."""
    found = np.argwhere(mask)
    if not len(found):
        return None
    low = np.maximum(found.min(axis=0) - margin, 0)
    high = np.minimum(found.max(axis=0) + margin + 1, mask.shape)
    return tuple(slice(int(start), int(stop)) for start, stop in zip(low, high))


def _touchingNoData(candidate: np.ndarray, adcMicro: np.ndarray) -> np.ndarray:
    """Candidate voxels with a 26-neighbour (inside or outside the brain) that has no ADC value: partial volume with background."""
    import SimpleITK as sitk

    touching = np.zeros(candidate.shape, dtype=bool)
    box = _box(candidate)
    if box is None:
        return touching
    noData = sitk.GetImageFromArray((adcMicro[box] <= 0).astype(np.uint8))
    touching[box] = sitk.GetArrayFromImage(sitk.BinaryDilate(noData, [1, 1, 1], sitk.sitkBox)).astype(bool) & candidate[box]
    return touching


def borderFraction(labels: np.ndarray, count: int, where: np.ndarray) -> np.ndarray:
    """Per component label, the fraction of its outer border (26-neighbours outside every component) lying in ``where``."""
    import SimpleITK as sitk

    box = _box(labels > 0)
    if box is None:
        return np.zeros(count + 1)
    labels, where = labels[box], where[box]
    grown = sitk.GetArrayFromImage(sitk.GrayscaleDilate(sitk.GetImageFromArray(labels.astype(np.int32)), [1, 1, 1], sitk.sitkBox))
    border = (labels == 0) & (grown > 0)
    total = np.bincount(grown[border], minlength=count + 1).astype(np.float64)
    inside = np.bincount(grown[border & where], minlength=count + 1)
    return inside / np.maximum(total, 1.0)


def _fillComponentHoles(mask: np.ndarray) -> np.ndarray:
    import SimpleITK as sitk

    return sitk.GetArrayFromImage(sitk.BinaryFillhole(sitk.GetImageFromArray(mask.astype(np.uint8)), fullyConnected=True)).astype(bool)


class _StepLog:
    """What each clean-up step removed, for the sidecar and the reader."""

    def __init__(self):
        self.steps = []

    def record(self, step: str, enabled: bool, before: np.ndarray, after: np.ndarray, removedComponents: int | None = None) -> np.ndarray:
        entry = {"step": step, "enabled": bool(enabled), "voxelsBefore": int(before.sum()), "voxelsAfter": int(after.sum())}
        if removedComponents is not None:
            entry["removedComponents"] = int(removedComponents)
        self.steps.append(entry)
        return after


def componentLabels(mask: np.ndarray) -> np.ndarray:
    """26-connected components of ``mask`` numbered as in :func:`componentTable` (1 = largest; ties by raster order).

    :return: int32 ``[k, j, i]``, 0 outside the mask.
    """
    labels, count = _components(mask)
    if count == 0:
        return labels.astype(np.int32)
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    order = np.argsort(-sizes[1:], kind="stable") + 1
    renumber = np.zeros(count + 1, dtype=np.int32)
    renumber[order] = np.arange(1, count + 1, dtype=np.int32)
    return renumber[labels]


def componentTable(mask: np.ndarray, loaded: LoadedCase, adcMicro: np.ndarray, contrast=None) -> list[dict]:
    """Per 26-connected component of ``mask``, largest first: what a reader needs to drop a speck with one click.

    :return: dicts with ``id`` (1 = largest), ``voxels``, ``volumeMl``, ``centroidRas`` (mm), ``side`` (patient
        ``left``/``right`` of the brain's centre, or ``midline``), ``slice`` (k index of the centroid, 0-based),
        ``meanAdcMicro`` and, with ``contrast``, ``dwiRobustZ`` (mean DWI contrast in robust SDs).
    """
    labels = componentLabels(mask)
    count = int(labels.max())
    if count == 0:
        return []
    voxelMm3 = loaded.dwi.voxelVolumeMm3
    brainCentre = voxelToRas(loaded.dwi.ijkToRas, np.argwhere(loaded.brainMask).mean(axis=0)) if loaded.brainMask.any() else np.zeros(3)
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    indices = np.argwhere(labels > 0)
    labelAt = labels[tuple(indices.T)]
    rows = []
    for rank in range(1, count + 1):
        label = rank
        voxels = indices[labelAt == label]
        centroid = voxelToRas(loaded.dwi.ijkToRas, voxels.mean(axis=0))
        offset = float(centroid[0] - brainCentre[0])
        row = {
            "id": rank,
            "voxels": int(sizes[label]),
            "volumeMl": round(float(sizes[label]) * voxelMm3 / 1000.0, 4),
            "centroidRas": [round(float(value), 1) for value in centroid],
            "side": "midline" if abs(offset) < 2.0 else ("right" if offset > 0 else "left"),
            "slice": int(round(float(voxels[:, 0].mean()))),
            "meanAdcMicro": round(float(adcMicro[tuple(voxels.T)].mean()), 1),
        }
        if contrast is not None:
            row["dwiRobustZ"] = round(float(contrast.robustZ(contrast.ratio[tuple(voxels.T)].mean())), 2)
        rows.append(row)
    return rows


def seedLesion(loaded: LoadedCase, parameters: SeedParameters | None = None, progress=None) -> SeedResult:
    """Compute the ADC-threshold seed of one loaded case.

    :param parameters: seed parameters; defaults when None.
    :param progress: optional ``(fraction, message)`` callable; it may raise OperationCancelled.
    :return: the seed mask on the DWI grid and its summary (voxels, ml, components with their size and place,
        what each step removed, unit, parameters).
    :raises InputError: invalid parameters, or a brain mask that came out empty.
    """
    parameters = (parameters or SeedParameters()).validated()
    brain = loaded.brainMask
    if not brain.any():
        raise InputError(f"No brain was found in the diffusion images of {loaded.case.caseId}; check the DWI file.")
    log = _StepLog()
    voxelMm3 = loaded.dwi.voxelVolumeMm3
    _report(progress, 0.1, "Thresholding ADC")
    adcMicro = _medianFiltered(loaded.adcMicro(), parameters.adcMedianRadius)
    threshold = parameters.thresholdMm2PerS * 1e6
    mask = brain & (adcMicro < threshold) & (adcMicro > 0)
    log.record("adc below threshold inside the brain", True, brain, mask)
    contrast = None
    if parameters.mode == MODE_GATED:
        _report(progress, 0.2, "Measuring DWI against nearby normal tissue")
        contrast = measureDwiContrast(loaded.dwi, adcMicro, brain, parameters.dwiReferenceSigmaMm)
        mask = log.record("adc above the floor", True, mask, mask & (adcMicro > parameters.adcFloorMm2PerS * 1e6))
        gate = parameters.dwiMinRobustZ > 0
        mask = log.record("dwi-bright voxels", gate, mask, mask & (contrast.ratio > contrast.brightness(parameters.dwiMinRobustZ)) if gate else mask)
        mask = log.record("away from the brain edge without adc", parameters.dropBrainEdge, mask,
                          mask & ~_touchingNoData(mask, adcMicro) if parameters.dropBrainEdge else mask)
        _report(progress, 0.5, "Cleaning up components")
        mask = _cleanComponents(mask, loaded, contrast, parameters, log)
        mask = log.record("holes filled", parameters.fillHoles, mask, _fillComponentHoles(mask) & brain if parameters.fillHoles else mask)

    _report(progress, 0.9, "Summarising")
    table = componentTable(mask, loaded, adcMicro, contrast)
    unit = loaded.adcUnit.unit
    summary = {
        "caseId": loaded.case.caseId,
        "mode": parameters.mode,
        "voxels": int(mask.sum()),
        "volumeMl": round(float(mask.sum()) * voxelMm3 / 1000.0, 4),
        "components": len(table),
        "componentVolumesMl": [row["volumeMl"] for row in table],
        "componentTable": table,
        "steps": log.steps,
        "threshold": {
            "mm2PerS": parameters.thresholdMm2PerS,
            "micro": MICRO.format(parameters.thresholdMm2PerS),
            "inFileUnit": unit.format(parameters.thresholdMm2PerS),
        },
        "adcUnit": loaded.adcUnit.toDict(),
        "bValue": loaded.bValue,
        "bValueSource": loaded.bValueSource,
        "brainVolumeMl": round(float(brain.sum()) * voxelMm3 / 1000.0, 2),
        "dwiReference": None if contrast is None else {"normalRobustSd": round(contrast.normalSd, 4), "normalAdcMicro": round(contrast.normalAdcMicro, 1),
                                                        "sigmaMm": parameters.dwiReferenceSigmaMm},
        "parameters": dataclasses.asdict(parameters),
    }
    _report(progress, 1.0, "Seed ready")
    return SeedResult(mask, summary)


def _cleanComponents(mask: np.ndarray, loaded: LoadedCase, contrast, parameters: SeedParameters, log: _StepLog) -> np.ndarray:
    """Steps 4 to 6: component size, component contrast, skull-base rim."""
    labels, count = _components(mask)
    voxelMm3 = loaded.dwi.voxelVolumeMm3
    flat = labels.ravel()
    sizes = np.bincount(flat, minlength=count + 1).astype(np.float64)
    keep = np.ones(count + 1, dtype=bool)
    keep[0] = False

    def apply(step: str, enabled: bool, drop: np.ndarray) -> None:
        nonlocal mask
        drop = drop & keep if enabled else np.zeros_like(keep)
        drop[0] = False
        before = mask
        keep[drop] = False
        mask = keep[labels]
        log.record(step, enabled, before, mask, int(drop.sum()))

    apply("components of at least the minimum volume", parameters.minComponentMm3 > 0, sizes * voxelMm3 < parameters.minComponentMm3)
    meanRatio = np.bincount(flat, weights=contrast.ratio.ravel().astype(np.float64), minlength=count + 1) / np.maximum(sizes, 1)
    apply("components bright as a whole", parameters.componentMinRobustZ > 0, meanRatio <= contrast.brightness(parameters.componentMinRobustZ))
    csfRule = parameters.maxCsfBorderFraction < 1
    csfBorder = borderFraction(labels, count, loaded.adcMicro() > CSF_ADC_FACTOR * contrast.normalAdcMicro) if csfRule else np.zeros(count + 1)
    apply("components bordered by csf dropped", csfRule, csfBorder > parameters.maxCsfBorderFraction)
    brain = loaded.brainMask
    rimRule = parameters.maxEdgeFraction < 1
    box = _box(mask, margin=int(np.ceil(parameters.edgeMarginMm / min(loaded.dwi.spacingMm))) + 1) if rimRule else None
    if box is not None:
        # Distances up to the margin only need the brain within the margin of the candidates.
        edge = distanceInsideMm(brain[box], Volume(brain[box], loaded.dwi.ijkToRas)) <= parameters.edgeMarginMm
        rim = np.zeros_like(brain)
        rim[box] = brain[box] & edge & skullBaseZone(loaded, parameters.skullBaseFraction)[box]
        rimSizes = np.bincount(labels[rim], minlength=count + 1)
        inRim = (rimSizes > parameters.maxEdgeFraction * sizes) & (sizes * voxelMm3 < parameters.edgeMaxComponentMm3)
    else:
        inRim = np.zeros(count + 1, dtype=bool)
    apply("skull-base rim components dropped", rimRule, inRim)
    return mask
