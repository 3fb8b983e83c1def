"""Reader masks as the agreement engine takes them: binary ``[k, j, i]`` arrays on one grid.

Loading goes through :func:`AISCommonLib.core.image.loadVolume`, so unreadable, 4D and NaN files
are refused there; this module adds the mask rules (binary, or one chosen label) and the crop to
the region both reads occupy, which keeps every later step proportional to the lesions, not the image.
"""

import dataclasses
import logging

import numpy as np

from .errors import InputError
from .image import Volume, loadVolume, requireSameGrid

logger = logging.getLogger(__name__)

#: Smallest image (voxels) on which SimpleITK filters are left to use several threads.
THREADED_MIN_VOXELS = 250_000


@dataclasses.dataclass
class MaskPair:
    """Two binary reads on one voxel grid.

    :param maskA: reader A, bool ``[k, j, i]``.
    :param maskB: reader B, bool ``[k, j, i]``.
    :param ijkToRas: 4x4 IJK-to-RAS matrix (mm) of A's file; B's is equal within the grid tolerance.
    :param sources: per read (``a``, ``b``): file path, header field that gave the matrix, label used.
    """

    maskA: np.ndarray
    maskB: np.ndarray
    ijkToRas: np.ndarray
    sources: dict


def binarizeMask(volume: Volume, label: int | None = None) -> np.ndarray:
    """The voxels of a mask file that belong to the lesion.

    A mask is binary when all its non-zero voxels share one value (1, 255, 1.0 are all accepted).

    :param volume: a 3D mask volume.
    :param label: take only voxels equal to this value; required when the mask holds several values.
    :return: bool array ``[k, j, i]``.
    :raises InputError: the mask has several non-zero values and no label was given.
    """
    array = volume.array
    if label is not None:
        mask = array == label
        if not mask.any():
            logger.warning("%s has no voxel with label %s; it is read as an empty mask.", volume.label(), label)
        return mask
    if array.dtype == bool:
        return array
    mask = array != 0
    values = array[mask]
    if values.size and (values != values.flat[0]).any():
        found = np.unique(values)
        shown = ", ".join(f"{value:g}" for value in found[:6]) + (", ..." if found.size > 6 else "")
        raise InputError(
            f"The mask {volume.label()} is not binary (non-zero values {shown}); pass the lesion label value to use (--label)."
        )
    return mask


def loadMaskPair(pathA, pathB, label: int | None = None) -> MaskPair:
    """Read two reader masks and check that they share one voxel grid.

    :param pathA: NIfTI mask of reader A.
    :param pathB: NIfTI mask of reader B.
    :param label: lesion label value for multi-label masks (applies to both).
    :return: the binary pair; never resampled.
    :raises InputError: a file is missing, corrupt, 4D, has NaN voxels or is not binary.
    :raises GeometryError: the grids differ in shape or in their affine beyond the tolerance.
    """
    volumeA = loadVolume(pathA)
    volumeB = loadVolume(pathB)
    requireSameGrid(volumeA, volumeB)
    sources = {
        key: {"path": str(volume.path), "affine_source": volume.affineSource, "label": label}
        for key, volume in (("a", volumeA), ("b", volumeB))
    }
    return MaskPair(binarizeMask(volumeA, label), binarizeMask(volumeB, label), volumeA.ijkToRas, sources)


def boundingBox(masks, margin: int = 1) -> tuple[slice, slice, slice] | None:
    """Smallest box around the true voxels of one or several masks, grown by ``margin`` and clipped.

    One full pass per mask (the k-range is then found inside the (j, i) box), so it costs about as
    much as reading the mask once.

    :param masks: one bool ``[k, j, i]`` array or a sequence of arrays of one shape.
    :return: slices in ``(k, j, i)`` order, or None when every mask is empty.
    """
    masks = [masks] if isinstance(masks, np.ndarray) else list(masks)
    footprint = np.logical_or.reduce([mask.any(axis=0) for mask in masks])
    if not footprint.any():
        return None
    jRange = _extent(footprint.any(axis=1))
    iRange = _extent(footprint.any(axis=0))
    kPresent = np.logical_or.reduce([mask[:, jRange[0] : jRange[1], iRange[0] : iRange[1]].any(axis=(1, 2)) for mask in masks])
    kRange = _extent(kPresent)
    shape = masks[0].shape
    return tuple(slice(max(low - margin, 0), min(high + margin, size)) for (low, high), size in zip((kRange, jRange, iRange), shape))


def _extent(present: np.ndarray) -> tuple[int, int]:
    """First index and one past the last index of the true entries (at least one is true)."""
    indices = np.flatnonzero(present)
    return int(indices[0]), int(indices[-1]) + 1


def limitThreads(imageFilter, voxelCount: int) -> None:
    """Run a SimpleITK filter single-threaded on small images, where starting threads costs more than it saves."""
    if voxelCount < THREADED_MIN_VOXELS:
        imageFilter.SetNumberOfThreads(1)


def spacingKjiMm(ijkToRas: np.ndarray) -> np.ndarray:
    """Voxel size along the array axes ``(k, j, i)`` in mm (column norms of the matrix)."""
    return np.linalg.norm(np.asarray(ijkToRas, dtype=np.float64)[:3, :3], axis=0)[::-1].copy()


def voxelVolumeMm3(ijkToRas: np.ndarray) -> float:
    """Volume of one voxel in mm^3: ``|det|`` of the 3x3 part, exact for oblique grids."""
    return float(abs(np.linalg.det(np.asarray(ijkToRas, dtype=np.float64)[:3, :3])))
