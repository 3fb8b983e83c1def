"""Phantom images of one case: the head sampled on each acquisition grid, with noise, bias field, susceptibility and motion.
"""

import dataclasses

import numpy as np

from ..core.errors import InputError
from .anatomy import (
    SUSCEPTIBILITY_SITES,
    SamplingGrid,
    composeContrast,
    gridIjkToRas,
    headToRasMatrix,
    labelMaps,
    partialVolumeRamp,
    randomFields,
    rotationMatrix,
    sampleFields,
    skullBaseHeightMm,
    tissueModel,
)
from .specs import PATHOLOGY_KINDS, TRAP_LABELS, PhantomSpec


@dataclasses.dataclass
class PhantomImages:
    """The images of one synthetic case (no I/O), each ``[k, j, i]`` with its IJK-to-RAS matrix.

    :param b0: b=0 image on the DWI grid, float32.
    :param dwi: diffusion-weighted image (``spec.bValue``), float32, same grid.
    :param adcMicro: ADC as the scanner computes it from the noisy b0 and DWI, 1e-6 mm^2/s, float32,
        0 where b0 is background (bone, air, signal void).
    :param adcTrueMicro: noise-free apparent ADC from the noise-free mixed signals.
    :param eadc: ``exp(-b * ADC)``, unitless, 0 where ADC is 0.
    :param truthMask: acute lesion, bool, on the DWI grid: infarct fills at least half of the voxel and CSF
        less than 25 % of it (what an expert draws on DWI); hemorrhage excluded.
    :param tissueLabels: :data:`TISSUE_LABELS`, uint8. :param trapLabels: :data:`TRAP_LABELS`, uint8.
    :param brainMask: brain parenchyma, ventricles and sulci (half of the voxel or more), bool.
    :param flair: FLAIR on its own grid ``flairIjkToRas``; ``t1w``/``t2w`` share that grid when made.
    :param noiseSigma: Rician noise sigma per image, in the image's units.
    """

    spec: PhantomSpec
    dwiIjkToRas: np.ndarray
    b0: np.ndarray
    dwi: np.ndarray
    adcMicro: np.ndarray
    adcTrueMicro: np.ndarray
    eadc: np.ndarray
    truthMask: np.ndarray
    tissueLabels: np.ndarray
    trapLabels: np.ndarray
    flair: np.ndarray
    flairIjkToRas: np.ndarray
    brainMask: np.ndarray | None = None
    t1w: np.ndarray | None = None
    t2w: np.ndarray | None = None
    noiseSigma: dict = dataclasses.field(default_factory=dict)

    @property
    def voxelVolumeMm3(self) -> float:
        return float(abs(np.linalg.det(self.dwiIjkToRas[:3, :3])))

    @property
    def lesionVolumeMl(self) -> float:
        """Volume of the truth mask, ml."""
        return float(self.truthMask.sum()) * self.voxelVolumeMm3 / 1000.0

    @property
    def headMask(self) -> np.ndarray:
        """Voxels inside the head (anything but background air), bool ``[k, j, i]``."""
        return self.tissueLabels > 0

    @property
    def traps(self) -> tuple[str, ...]:
        """Names of the traps this case contains (from the trap map, plus noise and motion)."""
        present = [TRAP_LABELS[label] for label in sorted(TRAP_LABELS) if np.any(self.trapLabels == label)]
        present.append("adcNoise")
        if self.spec.motion:
            present.append("motion")
        return tuple(present)


@dataclasses.dataclass
class PhantomCase:
    """One written case of a demo dataset and what it is meant to exercise.

    :param truthMask: bool ``[k, j, i]`` on the DWI grid ``dwiIjkToRas`` (RAS).
    :param paths: role (``dwi``, ``adc``, ``eadc``, ``flair``, ``t1w``, ``t2w``, ``truth``, ``tissue``,
        ``traps``, sidecars as ``dwiJson`` ...) -> file written.
    :param adcUnit: unit the ADC file was stored in (:mod:`adcunits` key: ``1e-6``, ``1e-3``, ``mm2/s``).
    :param traps: trap names present (see :attr:`PhantomImages.traps`).
    :param expectInvalid: a reader should mark the case invalid (motion artifact).
    """

    subject: str
    session: str
    description: str
    truthMask: np.ndarray
    dwiIjkToRas: np.ndarray
    paths: dict
    adcUnit: str
    bValue: float
    layout: str
    traps: tuple
    expectInvalid: bool = False
    hyperacute: bool = False
    lesionVolumeMl: float = 0.0

    @property
    def caseId(self) -> str:
        return f"sub-{self.subject}_ses-{self.session}"


def _biasField(grid: SamplingGrid, rng: np.random.Generator, strength: float = 0.12):
    """Smooth multiplicative receive-coil inhomogeneity: brighter towards the periphery, tilted."""
    x, y, z = (value * np.float32(0.01) for value in grid.coordinates())
    linear = rng.normal(0.0, strength, 3)
    quadratic = rng.uniform(0.05, 0.2)
    return np.exp(np.float32(linear[0]) * x + np.float32(linear[1]) * y + np.float32(linear[2]) * z + np.float32(quadratic) * (x * x + y * y))


def _rician(signal, sigma: float, rng: np.random.Generator):
    """Magnitude of the signal plus complex Gaussian noise of standard deviation ``sigma`` per channel."""
    real = signal + rng.standard_normal(signal.shape, dtype=np.float32) * np.float32(sigma)
    imaginary = rng.standard_normal(signal.shape, dtype=np.float32) * np.float32(sigma)
    return np.sqrt(real * real + imaginary * imaginary)


def _addBlob(target: np.ndarray, grid: SamplingGrid, center, sigmaMm: float, amplitude: float) -> None:
    extent = np.full(3, 3.0 * sigmaMm)
    box = grid.box(np.asarray(center) - extent, np.asarray(center) + extent)
    if box is None:
        return
    x, y, z = grid.coordinates(box)
    squared = (x - np.float32(center[0])) ** 2 + (y - np.float32(center[1])) ** 2 + (z - np.float32(center[2])) ** 2
    target[box] += np.float32(amplitude) * np.exp(squared * np.float32(-0.5 / sigmaMm**2))


def _susceptibility(grid: SamplingGrid, model: dict, fields, spec: PhantomSpec, rng: np.random.Generator):
    """EPI pile-up (``pileUp``) and drop-out (``dropOut``) maps at the skull-base sites, 0 to about 1.5.

    Blobs sit a few mm above the cranial floor at each site, broken into fragments by a random field
    and confined to the outer 12 mm of the brain, where field inhomogeneity from the air-bone interfaces is.
    """
    pileUp = np.zeros(grid.shape, dtype=np.float32)
    dropOut = np.zeros(grid.shape, dtype=np.float32)
    for siteX, siteY in SUSCEPTIBILITY_SITES:
        for side in (1.0, -1.0) if siteX else (1.0,):
            centerX = side * siteX + rng.uniform(-4, 4)
            centerY = siteY + rng.uniform(-4, 4)
            centerZ = float(skullBaseHeightMm(np.float32(centerX), np.float32(centerY))) + rng.uniform(3.0, 7.0)
            sigma = rng.uniform(3.0, 6.0)
            _addBlob(pileUp, grid, (centerX, centerY, centerZ), sigma, rng.uniform(0.5, 1.3))
            _addBlob(dropOut, grid, (centerX, centerY, centerZ - 6.0), sigma * 1.2, rng.uniform(0.5, 1.0))
    fragments = np.clip(1.0 + 0.9 * fields[4], 0.0, None)
    nearEdge = partialVolumeRamp(12.0 - model["depth"], 4.0) * model["head"]
    pileUp = np.clip(pileUp * fragments - 0.2, 0.0, None) * nearEdge * np.float32(spec.susceptibility)
    dropOut = np.clip(dropOut, 0.0, 0.9) * nearEdge * np.float32(spec.susceptibility)
    return pileUp, dropOut


def _motion(image, rng: np.random.Generator, ghost: float):
    """Ghosting along j (phase encoding, N/2 and N/3 ghosts) and blur from shifts between shots."""
    shifts = [(0, 0, 0), (0, 1, 0), (0, 0, 1), (1, -1, 0)]
    blurred = sum(np.roll(image, shift, axis=(0, 1, 2)) for shift in shifts) / np.float32(len(shifts))
    size = image.shape[1]
    ghosted = blurred + np.float32(ghost) * np.roll(blurred, size // 2, axis=1) + np.float32(ghost * 0.5) * np.roll(blurred, size // 3, axis=1)
    return ghosted * np.float32(rng.uniform(0.97, 1.03))


def makePhantom(spec: PhantomSpec, rng: np.random.Generator) -> PhantomImages:
    """Synthesize the images of one case (no I/O).

    :param spec: what the case contains (see :class:`PhantomSpec`).
    :param rng: the only source of randomness; the same seed gives the same images.
    :return: DWI-grid images (b0, DWI, ADC, eADC, truth, labels) and FLAIR (T1w/T2w) on their own grid.
    :raises InputError: a lesion kind is unknown.
    """
    for lesion in spec.lesions:
        if lesion.kind not in PATHOLOGY_KINDS:
            raise InputError(f"Unknown phantom lesion kind '{lesion.kind}'; use one of {', '.join(PATHOLOGY_KINDS)}.")
    fields = randomFields(rng)
    headToRas = headToRasMatrix(spec)
    fovCenterRas = (headToRas @ np.append(np.asarray(spec.fovCenterHeadMm, dtype=np.float64), 1.0))[:3]

    dwiIjkToRas = gridIjkToRas(spec.dwiShape, spec.dwiSpacingMm, rotationMatrix(spec.dwiRotationDeg), fovCenterRas, spec.dwiRadiological)
    grid = SamplingGrid(spec.dwiShape, dwiIjkToRas, headToRas)
    sampled = sampleFields(fields, headToRas, spec.dwiShape, dwiIjkToRas)
    model = tissueModel(spec, grid, sampled, float(min(spec.dwiSpacingMm)))
    tissueLabels, trapLabels, truth, brainMask = labelMaps(model)
    b0True = composeContrast(model, "b0")
    dwiTrue = composeContrast(model, "b0", spec.bValue)
    adcTrue = np.log(np.maximum(b0True, 1e-3) / np.maximum(dwiTrue, 1e-3)) / np.float32(spec.bValue * 1e-6)
    adcTrue = np.where(b0True > 1.0, adcTrue, 0.0).astype(np.float32)

    pileUp, dropOut = _susceptibility(grid, model, sampled, spec, rng)
    trapLabels[(pileUp > 0.25) & (tissueLabels != 0)] = 6
    bias = _biasField(grid, rng)
    b0Signal = b0True * bias * (1.0 + 0.6 * pileUp) * (1.0 - 0.85 * dropOut)
    jitter = np.exp(np.float32(0.3) * pileUp * rng.standard_normal(pileUp.shape, dtype=np.float32))
    dwiSignal = dwiTrue * bias * (1.0 + 1.5 * pileUp) * jitter * (1.0 - 0.8 * dropOut)
    if spec.motion:
        b0Signal = _motion(b0Signal, rng, 0.12)
        dwiSignal = _motion(np.roll(dwiSignal, (0, 1, 1), axis=(0, 1, 2)), rng, 0.18)

    sigmaB0 = 14.0 * spec.noiseScale * (1.4 if spec.fieldStrengthT < 2.0 else 1.0)
    sigmaDwi = 0.6 * sigmaB0  # the trace averages three directions
    b0 = _rician(b0Signal, sigmaB0, rng)
    dwi = _rician(dwiSignal, sigmaDwi, rng)
    # As scanners do: ADC from the stored magnitudes, zero where b0 is background, no negative values.
    measurable = b0 > 6.0 * sigmaB0
    adc = np.log(np.maximum(b0, 1e-3) / np.maximum(dwi, 1e-3)) / np.float32(spec.bValue * 1e-6)
    adc = np.where(measurable, np.clip(adc, 0.0, 5000.0), 0.0).astype(np.float32)
    eadc = np.where(adc > 0, np.exp(adc * np.float32(-spec.bValue * 1e-6)), 0.0).astype(np.float32)

    flairIjkToRas = gridIjkToRas(spec.flairShape, spec.flairSpacingMm, rotationMatrix(spec.flairRotationDeg), fovCenterRas, True)
    flairGrid = SamplingGrid(spec.flairShape, flairIjkToRas, headToRas)
    flairModel = tissueModel(spec, flairGrid, sampleFields(fields, headToRas, spec.flairShape, flairIjkToRas), 1.5)
    flairBias = _biasField(flairGrid, rng, 0.1)
    sigmaFlair = 8.0 * spec.noiseScale * (1.4 if spec.fieldStrengthT < 2.0 else 1.0)
    images = {}
    for contrast in ("flair", "t1w", "t2w") if spec.withT1T2 else ("flair",):
        signal = composeContrast(flairModel, contrast) * flairBias
        if spec.motion:
            signal = _motion(signal, rng, 0.08)
        images[contrast] = _rician(signal, sigmaFlair, rng)
    return PhantomImages(
        spec=spec,
        dwiIjkToRas=dwiIjkToRas,
        b0=b0,
        dwi=dwi,
        adcMicro=adc,
        adcTrueMicro=adcTrue,
        eadc=eadc,
        truthMask=truth,
        tissueLabels=tissueLabels,
        trapLabels=trapLabels,
        brainMask=brainMask,
        flair=images["flair"],
        flairIjkToRas=flairIjkToRas,
        t1w=images.get("t1w"),
        t2w=images.get("t2w"),
        noiseSigma={"b0": sigmaB0, "dwi": sigmaDwi, "flair": sigmaFlair},
    )
