"""The scipy morphology gives SimpleITK's results voxel for voxel, on phantoms, real scans and awkward masks.

The brain and head masks moved from SimpleITK's ball and fill-hole filters to :mod:`core.morphology` for speed;
these tests run both on the same masks and require identical output. The distance map cropped to a lesion's box
must decide the same voxels as the full map at every limit the quality measures use.
"""

import numpy as np
import pytest
import SimpleITK as sitk
from realdata import requireRealData

from AISCommonLib.core import morphology
from AISCommonLib.core.cases import discoverCases
from AISCommonLib.core.image import Volume, loadVolume, toSimpleITK
from AISCommonLib.core.quality import BACKGROUND_MARGIN_MM, DISTANCE_DECIMALS, SHELL_INNER_MM, SHELL_OUTER_MM, _distanceOutsideMm, headMask
from AISCommonLib.core.sequences import loadCase

RADII = ((1, 1, 1), (2, 2, 2), (4, 4, 1), (2, 3, 1))


def _image(mask: np.ndarray):
    return sitk.GetImageFromArray(mask.astype(np.uint8))


def _array(image) -> np.ndarray:
    return sitk.GetArrayFromImage(image).astype(bool)


def _sitkPerSliceFill(mask: np.ndarray) -> np.ndarray:
    return np.stack([_array(sitk.BinaryFillhole(_image(plane))) for plane in mask])


def _sitkLargest(mask: np.ndarray) -> np.ndarray:
    return _array(sitk.RelabelComponent(sitk.ConnectedComponent(_image(mask), True), sortByObjectSize=True) == 1)


def _assertSameAsSimpleItk(mask: np.ndarray) -> None:
    for radius in RADII:
        opened = _array(sitk.BinaryMorphologicalOpening(_image(mask), list(radius), sitk.sitkBall))
        closed = _array(sitk.BinaryMorphologicalClosing(_image(mask), list(radius), sitk.sitkBall))
        assert np.array_equal(morphology.openBall(mask, radius), opened), f"opening, radius {radius}"
        assert np.array_equal(morphology.closeBall(mask, radius), closed), f"closing, radius {radius}"
    assert np.array_equal(morphology.fillHoles(mask), _array(sitk.BinaryFillhole(_image(mask))))
    assert np.array_equal(morphology.fillHolesPerSlice(mask), _sitkPerSliceFill(mask))
    assert np.array_equal(morphology.largestComponent(mask), _sitkLargest(mask))


def _foreground(volume: Volume) -> np.ndarray:
    """The Otsu foreground of a smoothed image: the mask the brain and head masks start from."""
    array = np.asarray(volume.array if volume.array.ndim == 3 else volume.array[-1], dtype=np.float32)
    smoothed = sitk.SmoothingRecursiveGaussian(toSimpleITK(Volume(array, volume.ijkToRas)), 2.0)
    return _array(sitk.OtsuThreshold(smoothed, 0, 1))


def test_ball_footprint_is_itks():
    footprint = morphology.ballFootprint((2, 2, 1))
    assert footprint.shape == (3, 5, 5) and footprint[1, 2, 2] and not footprint[0, 0, 0]
    point = np.zeros((7, 9, 9), dtype=bool)
    point[3, 4, 4] = True
    dilated = _array(sitk.BinaryDilate(_image(point), [2, 2, 1], sitk.sitkBall))
    assert np.array_equal(dilated[2:5, 2:7, 2:7], footprint) and dilated.sum() == footprint.sum()


def test_awkward_masks_match_simpleitk():
    rng = np.random.default_rng(3)
    noisy = rng.random((12, 30, 26)) > 0.45
    holes = np.zeros((10, 24, 24), dtype=bool)
    holes[1:9, 3:21, 3:21] = True
    holes[4:6, 8:12, 8:12] = False  # a 3D hole
    holes[0, 5:15, 5:15] = True
    holes[0, 8:10, 8:10] = False  # a hole in the first slice: 2D only
    holes[:, 10:14, 0:3] = True  # touches the field-of-view edge
    ties = np.zeros((6, 10, 10), dtype=bool)
    ties[1:3, 1:3, 1:3] = True
    ties[3:5, 6:8, 6:8] = True  # two components of the same size
    for mask in (noisy, holes, ties, np.zeros((5, 8, 8), dtype=bool), np.ones((5, 8, 8), dtype=bool)):
        _assertSameAsSimpleItk(mask)


def test_phantom_foregrounds_match_simpleitk(demoDataset):
    root, _ = demoDataset
    for case in discoverCases(root)[:3]:
        loaded = loadCase(case)
        for volume in (loaded.dwi, loaded.flair):
            _assertSameAsSimpleItk(_foreground(volume))


@pytest.mark.parametrize("name", ["isles22-0001", "isles22-challenge-case"])
def test_real_foregrounds_match_simpleitk(name):
    for case in discoverCases(requireRealData() / name):
        loaded = loadCase(case)
        for volume in (loaded.dwi, loaded.flair):
            if volume is not None:
                _assertSameAsSimpleItk(_foreground(volume))


def _fullDistance(mask: np.ndarray, volume: Volume) -> np.ndarray:
    image = toSimpleITK(volume.withArray(mask.astype(np.uint8)))
    distance = sitk.SignedMaurerDistanceMap(image, insideIsPositive=False, squaredDistance=False, useImageSpacing=True)
    return np.round(np.clip(sitk.GetArrayFromImage(distance), 0.0, None), DISTANCE_DECIMALS)


@pytest.mark.parametrize("name", ["isles22-0001", "isles22-challenge-case"])
def test_cropped_distances_decide_like_the_full_map(name):
    """On real grids (spacings such as 1.99999998 mm, where limits fall on float ties) and real lesion-sized masks."""
    rng = np.random.default_rng(5)
    for case in discoverCases(requireRealData() / name):
        loaded = loadCase(case)
        masks = [headMask(loaded.dwi), ~loaded.brainMask]
        masks += [loadVolume(path).array > 0 for path in case.referenceMasks]
        scattered = np.zeros(loaded.dwi.gridShape, dtype=bool)
        scattered[tuple(rng.integers(0, size, 6) for size in scattered.shape)] = True
        edge = np.zeros(loaded.dwi.gridShape, dtype=bool)
        edge[0, :3, :3] = True
        for mask in [*masks, scattered, edge, np.zeros(loaded.dwi.gridShape, dtype=bool)]:
            full = _fullDistance(mask, loaded.dwi) if mask.any() else np.full(mask.shape, np.inf)
            for limit in (SHELL_INNER_MM, SHELL_OUTER_MM, BACKGROUND_MARGIN_MM):
                cropped = _distanceOutsideMm(mask, loaded.dwi, limit)
                assert np.array_equal(cropped > limit, full > limit)
                assert np.array_equal(cropped <= limit, full <= limit)
