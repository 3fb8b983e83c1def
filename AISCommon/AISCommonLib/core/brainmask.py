"""A brain mask from the diffusion images: enough to keep the seed inside the brain.

Not a skull stripper for morphometry: it has to exclude scalp, skull, orbits and air (where noise and
susceptibility artifacts make DWI bright and ADC erratic) while keeping cortex and ventricles inside.
Cases use the b1000 image (see ``sequences.loadCase``); b0 works too but takes in more skull when
scalp and marrow are bright.
"""

import numpy as np

from .image import Volume, toSimpleITK
from .morphology import closeBall, fillHolesPerSlice, largestComponent, openBall


def _radiusVoxels(volume: Volume, radiusMm: float) -> list[int]:
    return [max(1, int(round(radiusMm / spacing))) for spacing in volume.spacingMm]


def computeBrainMask(volume: Volume, openingRadiusMm: float = 4.0) -> np.ndarray:
    """Brain (with ventricles) as a boolean ``[k, j, i]`` array on ``volume``'s grid.

    Otsu threshold of the smoothed image, a morphological opening that cuts the thin bridges between
    brain and scalp, the largest component, then holes filled so ventricles and infarcts (dark on b0
    only when very old) stay inside.

    :param volume: b1000 DWI (or b0), 3D.
    :param openingRadiusMm: radius of the opening; larger cuts more scalp and more cortex.
    :return: boolean mask; all False when the image has no contrast (e.g. all zeros).
    """
    import SimpleITK as sitk

    array = np.asarray(volume.array, dtype=np.float32)
    if not np.any(array > 0) or float(array.max()) == float(array.min()):
        return np.zeros(volume.gridShape, dtype=bool)
    image = toSimpleITK(volume.withArray(array))
    smoothed = sitk.SmoothingRecursiveGaussian(image, float(min(volume.spacingMm)))
    foreground = sitk.GetArrayViewFromImage(sitk.OtsuThreshold(smoothed, 0, 1)).astype(bool)
    opened = openBall(foreground, _radiusVoxels(volume, openingRadiusMm))
    if not opened.any():
        opened = foreground
    brain = closeBall(largestComponent(opened), _radiusVoxels(volume, 2.0))
    # Slice by slice: ventricles open to the surface in 3D are closed within a slice (every hole closed in 3D
    # is closed in its slices too, so no 3D pass is needed).
    return fillHolesPerSlice(brain)


def distanceInsideMm(mask: np.ndarray, volume: Volume) -> np.ndarray:
    """Distance (mm, spacing honoured) from each voxel inside ``mask`` to the mask's edge; 0 outside."""
    import SimpleITK as sitk

    image = toSimpleITK(volume.withArray(mask.astype(np.uint8)))
    distance = sitk.SignedMaurerDistanceMap(image, insideIsPositive=True, squaredDistance=False, useImageSpacing=True)
    return np.clip(sitk.GetArrayFromImage(distance), 0.0, None)
