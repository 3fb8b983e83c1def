"""Consensus masks from two (or more) reads, on the reads' own grid (the DWI grid): never resampled.

- intersection: voxels every reader marked (conservative);
- union: voxels any reader marked (sensitive);
- STAPLE (Warfield et al. 2004, SimpleITK ``STAPLEImageFilter``): voxels whose estimated probability
  of being lesion is at least :data:`STAPLE_THRESHOLD`; run on the whole grid, because STAPLE
  estimates each reader's specificity from the background as well;
- adjudicated: the agreed voxels (A and B) plus every discordant region whose review decision is
  ``keep``.
"""

import logging
from collections.abc import Mapping, Sequence

import numpy as np

from .agreement import AgreementResult
from .errors import InputError
from .image import writeNifti

logger = logging.getLogger(__name__)

#: Posterior probability from which STAPLE counts a voxel as lesion.
STAPLE_THRESHOLD = 0.5
DECISION_KEEP = "keep"
DECISION_DROP = "drop"
DECISIONS = (DECISION_KEEP, DECISION_DROP)


def _checkMasks(masks: Sequence[np.ndarray]) -> list[np.ndarray]:
    masks = list(masks)
    if len(masks) < 2:
        raise InputError("A consensus needs at least two reads.")
    for index, mask in enumerate(masks):
        if not isinstance(mask, np.ndarray) or mask.dtype != bool or mask.ndim != 3:
            raise InputError(f"Read {index + 1} must be a 3D bool array [k, j, i].")
        if mask.shape != masks[0].shape:
            raise InputError(f"Read {index + 1} has shape {mask.shape} but read 1 has {masks[0].shape}; they must share one voxel grid.")
    return masks


def intersectionMask(masks: Sequence[np.ndarray]) -> np.ndarray:
    """Voxels marked by every read.

    :param masks: bool ``[k, j, i]`` arrays of one shape (at least two).
    :return: bool ``[k, j, i]``.
    :raises InputError: fewer than two reads, or reads of different shapes.
    """
    return np.logical_and.reduce(_checkMasks(masks))


def unionMask(masks: Sequence[np.ndarray]) -> np.ndarray:
    """Voxels marked by any read (same parameters and errors as :func:`intersectionMask`)."""
    return np.logical_or.reduce(_checkMasks(masks))


def stapleMask(masks: Sequence[np.ndarray], threshold: float = STAPLE_THRESHOLD) -> tuple[np.ndarray, dict]:
    """STAPLE consensus of binary reads.

    :param masks: bool ``[k, j, i]`` arrays of one shape (at least two).
    :param threshold: probability (0-1) from which a voxel is lesion.
    :return: the bool mask, and the estimates ``{"sensitivity": [...], "specificity": [...], "iterations": n}``
        per reader (empty lists when every read is empty: the consensus is then empty).
    :raises InputError: fewer than two reads, reads of different shapes, threshold outside 0-1.
    """
    import SimpleITK as sitk

    masks = _checkMasks(masks)
    if not 0.0 <= threshold <= 1.0:
        raise InputError(f"The STAPLE threshold must lie between 0 and 1, not {threshold}.")
    if not any(mask.any() for mask in masks):
        return np.zeros(masks[0].shape, dtype=bool), {"sensitivity": [], "specificity": [], "iterations": 0}
    stapleFilter = sitk.STAPLEImageFilter()
    stapleFilter.SetForegroundValue(1.0)
    probability = stapleFilter.Execute([sitk.GetImageFromArray(mask.view(np.uint8)) for mask in masks])
    estimates = {
        "sensitivity": [float(value) for value in stapleFilter.GetSensitivity()],
        "specificity": [float(value) for value in stapleFilter.GetSpecificity()],
        "iterations": int(stapleFilter.GetElapsedIterations()),
    }
    return sitk.GetArrayFromImage(probability) >= threshold, estimates


def adjudicatedMask(result: AgreementResult, decisions: Mapping[int, str], defaultDecision: str | None = None) -> np.ndarray:
    """The reviewed mask: agreed voxels plus the discordant regions decided ``keep``.

    Regions hidden from review (extent regions below the size limit) follow ``defaultDecision`` when
    given, else they are dropped; regions shown for review need a decision unless a default is given.

    :param result: the comparison the reviewer worked on (its region ids).
    :param decisions: region id -> ``keep`` or ``drop``.
    :param defaultDecision: decision for regions without one, or None to require one for each shown region.
    :return: bool ``[k, j, i]`` on the full grid.
    :raises InputError: unknown region ids, unknown decisions, or shown regions left undecided.
    """
    known = {region.regionId for region in result.allRegions}
    shown = {region.regionId for region in result.regions}
    unknown = sorted(set(decisions) - known)
    if unknown:
        raise InputError(f"Decisions refer to regions {unknown} that this comparison does not have.")
    for value in list(decisions.values()) + ([defaultDecision] if defaultDecision is not None else []):
        if value not in DECISIONS:
            raise InputError(f"A region decision must be 'keep' or 'drop', not '{value}'.")
    undecided = sorted(shown - set(decisions))
    if undecided and defaultDecision is None:
        raise InputError(f"Regions {undecided} have no decision yet; decide each one or give a default.")
    kept = [
        region.regionId
        for region in result.allRegions
        if decisions.get(region.regionId, defaultDecision if defaultDecision is not None else DECISION_DROP) == DECISION_KEEP
    ]
    regionMap = result.regionMap
    crop = regionMap.agreed | np.isin(regionMap.labels, kept)
    logger.info("Adjudicated mask: %d agreed voxels, %d regions kept.", int(regionMap.agreed.sum()), len(kept))
    return regionMap.toFullGrid(crop)


def writeConsensusMask(mask: np.ndarray, ijkToRas: np.ndarray, path) -> None:
    """Write a consensus mask as binary uint8 NIfTI (atomic write, qform = sform = ``ijkToRas``).

    :param mask: bool ``[k, j, i]`` on the DWI grid.
    :param ijkToRas: 4x4 IJK-to-RAS matrix (mm) of that grid.
    :param path: ``.nii.gz`` target.
    """
    writeNifti(np.asarray(mask, dtype=bool), ijkToRas, path, dtype=np.uint8)
