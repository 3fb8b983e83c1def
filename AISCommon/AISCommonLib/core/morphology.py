"""Binary morphology for masks on anisotropic grids, fast and with the same results as SimpleITK's ball filters.

The brain and head masks were first written with SimpleITK's ``BinaryMorphologicalOpening/Closing`` (ball)
and ``BinaryFillhole``; on the report's hundreds of cases those filters were most of the time. Here the same
operations run on scipy.ndimage with ITK's own ball footprint (taken from SimpleITK once per radius), ITK's
border rules (erosion treats outside the field of view as foreground; closing pads so the border never erodes)
and hole filling by labelling the background once instead of propagating from the border. The results are
voxel-identical to the SimpleITK filters (``Testing/core/test_morphology.py`` checks it on phantoms and real
scans); all arrays are boolean ``[k, j, i]`` and radii are in voxels ``(i, j, k)`` as SimpleITK takes them.
"""

import functools

import numpy as np

#: Face connectivity within one slice (``[k, j, i]``): a slice-by-slice operation done on the whole volume at once.
IN_PLANE_FACES = np.zeros((3, 3, 3), dtype=bool)
IN_PLANE_FACES[1] = [[False, True, False], [True, True, True], [False, True, False]]


@functools.lru_cache(maxsize=32)
def ballFootprint(radiusIjk: tuple) -> np.ndarray:
    """ITK's ball structuring element of radius ``(ri, rj, rk)`` voxels as a bool ``[k, j, i]`` array.

    Taken from SimpleITK itself (a single voxel dilated with ``sitkBall``), so the footprint is ITK's by
    construction rather than by a re-derived formula.
    """
    import SimpleITK as sitk

    shape = [2 * int(radius) + 1 for radius in reversed(radiusIjk)]
    point = np.zeros(shape, dtype=np.uint8)
    point[tuple(size // 2 for size in shape)] = 1
    dilated = sitk.BinaryDilate(sitk.GetImageFromArray(point), [int(radius) for radius in radiusIjk], sitk.sitkBall)
    footprint = sitk.GetArrayFromImage(dilated).astype(bool)
    footprint.setflags(write=False)
    return footprint


def openBall(mask: np.ndarray, radiusIjk) -> np.ndarray:
    """Opening with ITK's ball (as ``sitk.BinaryMorphologicalOpening``): the field-of-view edge does not erode."""
    from scipy import ndimage

    footprint = ballFootprint(tuple(radiusIjk))
    return ndimage.binary_dilation(ndimage.binary_erosion(mask, footprint, border_value=1), footprint)


def closeBall(mask: np.ndarray, radiusIjk) -> np.ndarray:
    """Closing with ITK's ball (as ``sitk.BinaryMorphologicalClosing`` with its safe border: padded, then cropped)."""
    from scipy import ndimage

    footprint = ballFootprint(tuple(radiusIjk))
    pad = [(size // 2, size // 2) for size in footprint.shape]
    closed = ndimage.binary_erosion(ndimage.binary_dilation(np.pad(mask, pad), footprint), footprint)
    return closed[tuple(slice(low, closed.shape[axis] - high) for axis, (low, high) in enumerate(pad))]


def _fillHoles(mask: np.ndarray, structure, borderAxes: tuple) -> np.ndarray:
    """``mask`` plus every background component (``structure`` connectivity) that touches no border of ``borderAxes``."""
    from scipy import ndimage

    labels, count = ndimage.label(~mask, structure)
    outside = np.zeros(count + 1, dtype=bool)
    outside[0] = True  # label 0 is the mask itself
    for axis in borderAxes:
        outside[np.take(labels, 0, axis=axis)] = True
        outside[np.take(labels, -1, axis=axis)] = True
    return mask | ~outside[labels]


def fillHoles(mask: np.ndarray) -> np.ndarray:
    """Holes filled in 3D, background face-connected (as ``sitk.BinaryFillhole`` with its defaults)."""
    return _fillHoles(mask, None, (0, 1, 2))


def fillHolesPerSlice(mask: np.ndarray) -> np.ndarray:
    """Holes filled in each axial slice ``[k]`` on its own (as ``sitk.BinaryFillhole`` run on every 2D slice)."""
    return _fillHoles(mask, IN_PLANE_FACES, (1, 2))


def largestComponent(mask: np.ndarray) -> np.ndarray:
    """The largest 26-connected component (as ``sitk.ConnectedComponent(fullyConnected=True)`` + ``RelabelComponent``).

    Ties go to the component found first in ``[k, j, i]`` order, as ITK's relabelling keeps the original order.
    """
    from scipy import ndimage

    labels, count = ndimage.label(mask, np.ones((3, 3, 3), dtype=bool))
    if count == 0:
        return np.zeros(mask.shape, dtype=bool)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == int(np.argmax(sizes))
