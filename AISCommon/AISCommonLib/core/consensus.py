"""Consensus masks from two (or more) reads, on the reads' own grid (the DWI grid): never resampled.

- intersection: voxels every reader marked (conservative);
- union: voxels any reader marked (sensitive);
- STAPLE (Warfield et al. 2004, SimpleITK ``STAPLEImageFilter``): voxels whose estimated probability
  of being lesion is at least :data:`STAPLE_THRESHOLD`; run on the whole grid, because STAPLE
  estimates each reader's specificity from the background as well.

The reviewed (final) mask follows the review rule of :mod:`AISCommonLib.core.reviewrule`.
"""

import logging
from collections.abc import Sequence

import numpy as np

from .errors import InputError
from .image import writeNifti

logger = logging.getLogger(__name__)

#: Posterior probability from which STAPLE counts a voxel as lesion.
STAPLE_THRESHOLD = 0.5


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


def writeConsensusMask(mask: np.ndarray, ijkToRas: np.ndarray, path) -> None:
    """Write a consensus mask as binary uint8 NIfTI (atomic write, qform = sform = ``ijkToRas``).

    :param mask: bool ``[k, j, i]`` on the DWI grid.
    :param ijkToRas: 4x4 IJK-to-RAS matrix (mm) of that grid.
    :param path: ``.nii.gz`` target.
    """
    writeNifti(np.asarray(mask, dtype=bool), ijkToRas, path, dtype=np.uint8)
