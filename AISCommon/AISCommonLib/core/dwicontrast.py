"""How bright DWI is compared with normal-appearing tissue nearby: the contrast the seed and the DWI assist read.

Raw DWI intensity drifts across a real scan: receive-coil sensitivity makes the vertex or the occipital
lobes brighter, slices differ, and the b=1000 image carries T2 weighting. A fixed global threshold then
marks healthy tissue in the bright parts and misses lesions in the dark parts. So DWI is divided by a
smooth estimate of normal tissue's own DWI around each voxel (normalised convolution: Gaussian-weighted
mean over voxels whose ADC is normal, Knutsson and Westin 1993), which is 1 in normal tissue whatever the
local gain. The spread of that ratio over normal tissue is measured on the case itself (median absolute
deviation), so "bright" means the same number of robust SDs on every scanner.
"""

import dataclasses

import numpy as np

from .image import Volume, toSimpleITK

#: ADC range (1e-6 mm^2/s) of normal-appearing parenchyma: grey and white matter, not CSF, not infarct.
NORMAL_ADC_MICRO = (550.0, 1200.0)
#: MAD of a normal distribution times this is its standard deviation.
MAD_TO_SD = 1.4826
#: Width (mm) of the Gaussian that defines "nearby" normal tissue: wider than a territorial infarct's
#: radius would let the infarct lower its own reference; narrower follows coil gain and slice drift.
DEFAULT_REFERENCE_SIGMA_MM = 15.0
#: Fewer normal voxels than this and the statistics fall back to the whole brain mask.
MIN_NORMAL_VOXELS = 100


@dataclasses.dataclass
class DwiContrast:
    """DWI relative to nearby normal tissue, for one case.

    :param ratio: float32 ``[k, j, i]``: DWI over the local normal-tissue DWI (1 = like normal tissue; 0 outside
        the brain).
    :param normalSd: robust SD of ``ratio`` over normal tissue (the unit of "how many SDs brighter").
    :param normalAdcMicro: median ADC (1e-6 mm^2/s) of normal tissue in this case.
    :param normalMask: bool ``[k, j, i]``: the voxels taken as normal tissue.
    """

    ratio: np.ndarray
    normalSd: float
    normalAdcMicro: float
    normalMask: np.ndarray

    def brightness(self, robustZ: float) -> float:
        """The ratio a voxel must exceed to be ``robustZ`` robust SDs brighter than normal tissue."""
        return 1.0 + robustZ * self.normalSd

    def robustZ(self, values: np.ndarray) -> np.ndarray:
        """How many robust SDs ``values`` (ratios) lie above normal tissue."""
        return (np.asarray(values, dtype=np.float64) - 1.0) / max(self.normalSd, 1e-6)


def _smoothPair(numerator: np.ndarray, denominator: np.ndarray, volume: Volume, sigmaMm: float) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian-smooth two arrays (sigma in mm) on a coarser grid and bring them back: the field is smooth at
    that scale, and smoothing 2.6 million voxels at 15 mm costs ten times more than smoothing a grid of ~sigma/3."""
    import SimpleITK as sitk

    factors = [max(1, int(sigmaMm / 3.0 // spacing)) for spacing in volume.spacingMm]
    results = []
    for array in (numerator, denominator):
        image = toSimpleITK(volume.withArray(array.astype(np.float32)))
        coarse = sitk.BinShrink(image, factors) if max(factors) > 1 else image
        smooth = sitk.SmoothingRecursiveGaussian(coarse, float(sigmaMm))
        if max(factors) > 1:
            smooth = sitk.Resample(smooth, image, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
        results.append(sitk.GetArrayFromImage(smooth))
    return results[0], results[1]


def measureDwiContrast(dwi: Volume, adcMicro: np.ndarray, brainMask: np.ndarray, sigmaMm: float = DEFAULT_REFERENCE_SIGMA_MM,
                       exclude: np.ndarray | None = None) -> DwiContrast:
    """Divide DWI by a smooth estimate of nearby normal tissue's DWI and measure the spread in normal tissue.

    :param dwi: b~1000 DWI, 3D.
    :param adcMicro: ADC in 1e-6 mm^2/s on the DWI grid.
    :param brainMask: bool ``[k, j, i]`` brain mask.
    :param sigmaMm: width of "nearby" (Gaussian sigma, mm).
    :param exclude: bool ``[k, j, i]`` voxels never taken as normal tissue (e.g. a reader's lesion mask).
    :return: the contrast model; ``normalSd`` 0 and ratio 0 everywhere when the brain mask is empty.
    """
    low, high = NORMAL_ADC_MICRO
    normal = brainMask & (adcMicro > low) & (adcMicro < high) & (dwi.array > 0)
    if exclude is not None:
        normal &= ~exclude
    if normal.sum() < MIN_NORMAL_VOXELS:
        normal = brainMask & (dwi.array > 0)
    if not normal.any():
        zeros = np.zeros(dwi.gridShape, dtype=np.float32)
        return DwiContrast(zeros, 0.0, 0.0, normal)
    numerator, denominator = _smoothPair(np.where(normal, dwi.array, 0.0), normal.astype(np.float32), dwi, sigmaMm)
    # Far from any normal voxel (a huge infarct's centre) the weight is tiny: fall back to the global median.
    globalMedian = float(np.median(dwi.array[normal]))
    reliable = denominator > 0.05
    local = np.where(reliable, numerator / np.maximum(denominator, 1e-6), globalMedian)
    ratio = np.zeros(dwi.gridShape, dtype=np.float32)
    inside = brainMask & (local > 0)
    ratio[inside] = dwi.array[inside] / local[inside]
    values = ratio[normal].astype(np.float64)
    median = float(np.median(values))
    normalSd = float(np.median(np.abs(values - median)) * MAD_TO_SD)
    return DwiContrast(ratio, normalSd, float(np.median(adcMicro[normal])), normal)
