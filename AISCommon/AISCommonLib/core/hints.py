"""Hints before submit: parts of a reader's mask that look unlike an acute infarct.

An acute infarct is DWI-bright with low ADC. Each 26-connected region of the mask is checked against
that: ADC not low (possible T2 shine-through when it is DWI-bright), not DWI-bright, FLAIR-bright
without DWI brightness (an old lesion), or mostly outside the brain. Hints warn; they never block a
submission. Each carries the region's volume and RAS centroid so the reader can jump to it.
"""

import dataclasses

import numpy as np

from .errors import InputError
from .image import Volume, resampleToGrid, voxelToRas
from .seeding import PARENCHYMA_ADC_MICRO, dwiReference
from .sequences import LoadedCase

ADC_NOT_LOW = "adc-not-low"
NOT_DWI_BRIGHT = "not-dwi-bright"
FLAIR_NOT_DWI = "flair-bright-not-dwi-bright"
OUTSIDE_BRAIN = "outside-brain"
#: Hint kinds in the order they are listed for one region.
HINT_KINDS = (ADC_NOT_LOW, NOT_DWI_BRIGHT, FLAIR_NOT_DWI, OUTSIDE_BRAIN)


@dataclasses.dataclass(frozen=True)
class HintParameters:
    """Thresholds of the hints.

    :param adcLowMaxMm2PerS: a region whose median ADC is above this (mm^2/s) has no restricted
        diffusion; the penumbral rim of an infarct (600-700e-6) stays below it.
    :param dwiMinRobustZ: a region is DWI-bright when its median DWI exceeds the normal-parenchyma
        median by this many robust standard deviations (the seed's DWI gate).
    :param flairMinRobustZ: the same for FLAIR, against normal parenchyma on FLAIR.
    :param maxOutsideFraction: a region with more than this fraction of its voxels outside the brain
        mask is reported as outside the brain.
    """

    adcLowMaxMm2PerS: float = 700e-6
    dwiMinRobustZ: float = 1.0
    flairMinRobustZ: float = 2.0
    maxOutsideFraction: float = 0.5


@dataclasses.dataclass(frozen=True)
class MaskRegion:
    """One 26-connected region of a mask.

    :param regionId: 1-based, larger regions first (ties by raster position).
    :param voxels: voxel count.
    :param volumeMl: volume in ml.
    :param centroidRas: voxel centroid mapped through the grid's IJK-to-RAS (mm).
    """

    regionId: int
    voxels: int
    volumeMl: float
    centroidRas: tuple

    def toDict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Hint:
    """A warning about one region of the mask.

    :param kind: one of :data:`HINT_KINDS`.
    :param region: the region it is about.
    :param message: one English sentence for the reader.
    :param measured: the value that triggered it (median ADC in 1e-6 mm^2/s, robust z of DWI or FLAIR,
        or the fraction of voxels outside the brain).
    """

    kind: str
    region: MaskRegion
    message: str
    measured: float

    def toDict(self) -> dict:
        return {"kind": self.kind, "message": self.message, "measured": self.measured, **self.region.toDict()}


def labelRegions(mask: np.ndarray, ijkToRas: np.ndarray) -> tuple[np.ndarray, list[MaskRegion]]:
    """Label the 26-connected regions of a mask, larger first.

    :param mask: boolean or 0/1 array ``[k, j, i]``.
    :param ijkToRas: 4x4 IJK-to-RAS matrix of the mask's grid.
    :return: ``(labels, regions)``: int32 labels ``[k, j, i]`` (0 = background, n = ``regions[n-1]``).
    """
    import SimpleITK as sitk

    binary = np.asarray(mask) != 0
    raw = sitk.GetArrayFromImage(sitk.ConnectedComponent(sitk.GetImageFromArray(binary.astype(np.uint8)), True)).astype(np.int32)
    count = int(raw.max())
    if count == 0:
        return raw, []
    flat = raw.ravel()
    sizes = np.bincount(flat, minlength=count + 1)
    firstIndex = np.full(count + 1, flat.size, dtype=np.int64)
    nonzero = np.flatnonzero(flat)
    np.minimum.at(firstIndex, flat[nonzero], nonzero)
    order = sorted(range(1, count + 1), key=lambda label: (-sizes[label], firstIndex[label]))
    relabel = np.zeros(count + 1, dtype=np.int32)
    relabel[order] = np.arange(1, count + 1, dtype=np.int32)
    labels = relabel[raw]
    k, j, i = np.nonzero(labels)
    owner = labels[k, j, i]
    sums = np.stack([np.bincount(owner, weights=axis, minlength=count + 1) for axis in (k, j, i)], axis=1)
    counts = np.bincount(owner, minlength=count + 1)
    voxelMm3 = float(abs(np.linalg.det(ijkToRas[:3, :3])))
    regions = []
    for label in range(1, count + 1):
        centroidKji = sums[label] / counts[label]
        centroid = voxelToRas(ijkToRas, centroidKji)
        regions.append(MaskRegion(label, int(counts[label]), round(counts[label] * voxelMm3 / 1000.0, 4), tuple(round(float(v), 3) for v in centroid)))
    return labels, regions


def _robustReference(values: np.ndarray) -> tuple[float, float]:
    if values.size == 0:
        return 0.0, 0.0
    median = float(np.median(values))
    return median, float(np.median(np.abs(values - median)) * 1.4826)


#: Robust z reported when normal tissue has no spread at all (a finite stand-in for infinity, JSON-safe).
MAXIMUM_Z = 1e6


def _robustZ(value: float, reference: tuple[float, float]) -> float:
    median, spread = reference
    if spread > 0:
        return float(np.clip((value - median) / spread, -MAXIMUM_Z, MAXIMUM_Z))
    return MAXIMUM_Z if value > median else 0.0


def computeHints(loaded: LoadedCase, mask: np.ndarray, parameters: HintParameters | None = None) -> list[Hint]:
    """Check every region of a reader's mask against the look of an acute infarct.

    :param loaded: the case (DWI, ADC with its unit, brain mask; FLAIR when present, resampled onto the
        DWI grid with :func:`~AISCommonLib.core.image.resampleToGrid`).
    :param mask: boolean or 0/1 array ``[k, j, i]`` on the DWI grid.
    :param parameters: thresholds; defaults when None.
    :return: hints ordered by region (larger first) then kind; empty when nothing looks wrong.
    :raises InputError: the mask is not on the DWI grid.
    """
    parameters = parameters or HintParameters()
    mask = np.asarray(mask)
    if mask.shape != loaded.dwi.gridShape:
        raise InputError(f"The mask of {loaded.case.caseId} has shape {mask.shape[::-1]} but the DWI grid is {loaded.dwi.gridShape[::-1]} (i x j x k).")
    labels, regions = labelRegions(mask, loaded.dwi.ijkToRas)
    if not regions:
        return []
    brain = loaded.brainMask
    adcMicro = loaded.adcMicro()
    dwi = loaded.dwi.array.astype(np.float64)
    dwiRef = dwiReference(dwi, adcMicro, brain)
    flair = flairRef = None
    if loaded.flair is not None:
        flair = resampleToGrid(loaded.flair, loaded.dwi, "linear").array.astype(np.float64)
        low, high = PARENCHYMA_ADC_MICRO
        tissue = brain & (adcMicro > low) & (adcMicro < high) & (labels == 0)
        flairRef = _robustReference(flair[tissue if tissue.sum() >= 100 else brain])
    unit = loaded.adcUnit.unit
    adcLimitMicro = parameters.adcLowMaxMm2PerS * 1e6
    hints = []
    for region in regions:
        inside = labels == region.regionId
        adcMedian = float(np.median(adcMicro[inside]))
        dwiZ = _robustZ(float(np.median(dwi[inside])), dwiRef)
        dwiBright = dwiZ > parameters.dwiMinRobustZ
        where = f"Region {region.regionId} ({region.volumeMl:.2f} ml at R {region.centroidRas[0]:.0f} A {region.centroidRas[1]:.0f} S {region.centroidRas[2]:.0f})"
        if adcMedian > adcLimitMicro:
            why = "possible T2 shine-through: DWI-bright without restricted diffusion" if dwiBright else "no restricted diffusion"
            hints.append(Hint(ADC_NOT_LOW, region, f"{where} has a median ADC of {unit.format(adcMedian * 1e-6)}, above "
                              f"{unit.format(parameters.adcLowMaxMm2PerS)} ({why}).", round(adcMedian, 1)))
        if not dwiBright:
            hints.append(Hint(NOT_DWI_BRIGHT, region, f"{where} is not DWI-bright (median {dwiZ:.1f} robust SD from normal "
                              f"parenchyma, needs more than {parameters.dwiMinRobustZ:g}).", round(float(dwiZ), 2)))
        if flair is not None and not dwiBright:
            flairZ = _robustZ(float(np.median(flair[inside])), flairRef)
            if flairZ > parameters.flairMinRobustZ:
                hints.append(Hint(FLAIR_NOT_DWI, region, f"{where} is FLAIR-bright ({flairZ:.1f} robust SD) but not DWI-bright: "
                                  "possibly an old lesion.", round(float(flairZ), 2)))
        outside = float(np.count_nonzero(inside & ~brain)) / region.voxels
        if outside > parameters.maxOutsideFraction:
            hints.append(Hint(OUTSIDE_BRAIN, region, f"{where} lies {outside:.0%} outside the brain mask.", round(outside, 3)))
    return hints


def hintsForVolume(loaded: LoadedCase, maskVolume: Volume, parameters: HintParameters | None = None) -> list[Hint]:
    """:func:`computeHints` for a mask given as a volume; it must lie on the DWI grid.

    :raises GeometryError: the mask volume is not on the DWI grid.
    """
    from .image import requireSameGrid

    requireSameGrid(loaded.dwi, maskVolume)
    return computeHints(loaded, maskVolume.array, parameters)
