"""Realistic synthetic acute ischemic stroke MRI, written as a BIDS dataset with ground-truth masks.

The phantom is a continuous head model (scalp with fat, skull, skull base with sinuses and orbits,
cortex folded by sulci, white matter, deep grey nuclei, ventricles with choroid plexus) defined in a
head frame and sampled on each acquisition grid directly, so DWI (2 mm), FLAIR (0.9 x 0.9 x 5 mm) and
oblique grids all see the same anatomy without resampling. Tissues mix in signal space at their
boundaries (partial volume), DWI is ``b0 * exp(-b * ADC)`` with Rician noise and a bias field, and ADC
is computed from the noisy b0 and DWI the way scanners do it (zero where b0 is background).

It reproduces the traps that make the bare ``ADC < 620e-6 mm^2/s`` rule weak on real scans:
susceptibility pile-up and drop-out at the skull base (DWI-bright, erratic low ADC at the brain
edge), T2 shine-through (DWI-bright, ADC normal or high, FLAIR-bright), old infarcts (FLAIR-bright,
ADC high, DWI not bright), noise dipping single white-matter voxels under the threshold, choroid plexus
with borderline ADC, partial-volume CSF edges, scalp fat with low ADC, and a penumbral rim of the
infarct whose ADC (600-700) sits above the threshold although the rim is DWI-bright and part of the
lesion.

Head frame: millimetres, x to the subject's right, y anterior, z superior, origin at the centre of
the head ellipsoid; it is placed in scanner RAS by a rigid pose. Arrays are ``[k, j, i]``; ADC
values inside this module are in 1e-6 mm^2/s.
"""

import dataclasses
import itertools
import logging
import os
import time
from pathlib import Path

import numpy as np

from ..core.adcunits import MICRO, AdcUnit, unitByKey
from ..core.atomicio import atomicWritePath, writeJsonAtomic, writeTextAtomic
from ..core.bidsvalidator import ensureBidsIgnore
from ..core.errors import InputError
from ..core.image import writeNifti

logger = logging.getLogger(__name__)

#: Labels of the tissue map written to ``desc-tissue_dseg`` (argmax of the voxel's tissue fractions;
#: pathology labels override where the pathology fills at least half of the voxel).
TISSUE_LABELS = {
    0: "background",
    1: "scalp",
    2: "bone",
    3: "sinusAir",
    4: "csf",
    5: "greyMatter",
    6: "whiteMatter",
    7: "deepGreyMatter",
    8: "choroidPlexus",
    9: "eye",
    10: "softTissue",
    11: "acuteLesion",
    12: "t2ShineThrough",
    13: "oldLesion",
    14: "hemorrhage",
}
#: Labels of the trap map written to ``desc-traps_dseg``: where a naive seed is expected to go wrong.
TRAP_LABELS = {
    1: "csfPartialVolume",
    2: "choroidPlexus",
    3: "t2ShineThrough",
    4: "oldLesion",
    5: "hemorrhage",
    6: "susceptibility",
}

#: Tissue -> (b0 signal, ADC in 1e-6 mm^2/s, FLAIR, T1w, T2w); signals in arbitrary scanner units.
#: Fat is suppressed on EPI (dark b0) but its ADC is very low; FLAIR and T1w do not suppress it.
_PROPERTIES = {
    "muscle": (600.0, 1300.0, 600.0, 650.0, 450.0),
    "fat": (140.0, 150.0, 1000.0, 1000.0, 700.0),
    "bone": (20.0, 1000.0, 25.0, 40.0, 25.0),
    "softTissue": (420.0, 1400.0, 380.0, 550.0, 350.0),
    "csf": (1450.0, 3000.0, 60.0, 150.0, 1300.0),
    "eye": (1350.0, 2900.0, 90.0, 130.0, 1250.0),
    "choroid": (850.0, 640.0, 420.0, 520.0, 750.0),
    "gm": (700.0, 850.0, 620.0, 480.0, 620.0),
    "wm": (520.0, 760.0, 430.0, 700.0, 420.0),
    "deepGm": (640.0, 790.0, 560.0, 540.0, 520.0),
}
_COLUMNS = {"b0": 0, "flair": 2, "t1w": 3, "t2w": 4}

# The lattice of the random fields (head frame, mm): covers every grid the demo uses, oblique included.
_LATTICE_SPACING_MM = 3.5
_LATTICE_ORIGIN_MM = np.array([-99.0, -120.0, -81.0])
_LATTICE_SHAPE_KJI = (50, 70, 58)
_FIELD_NAMES = ("gyral", "sulcal", "texture", "border", "susceptibility", "fat")

_HEAD_SEMI_AXES_MM = (76.0, 96.0, 72.0, 105.0)  # x, y, z above the centre, z below (face and neck)
_SINUSES = (
    ((0.0, 80.0, -20.0), (16.0, 9.0, 11.0)),  # frontal
    ((0.0, 18.0, -33.0), (13.0, 12.0, 9.0)),  # sphenoid
    ((0.0, 55.0, -40.0), (9.0, 16.0, 12.0)),  # ethmoid / nasal cavity
    ((50.0, -24.0, -44.0), (9.0, 11.0, 10.0)),  # mastoid air cells
    ((-50.0, -24.0, -44.0), (9.0, 11.0, 10.0)),
)
_EYES = (((32.0, 64.0, -36.0), (12.0, 12.0, 12.0)), ((-32.0, 64.0, -36.0), (12.0, 12.0, 12.0)))
_VENTRICLES = (  # lateral ventricle body, frontal horn, atrium, occipital horn, temporal horn (both sides)
    ((8.0, -4.0, 20.0), (5.5, 24.0, 6.0)),
    ((10.0, 18.0, 13.0), (5.5, 10.0, 7.5)),
    ((17.0, -28.0, 14.0), (7.0, 10.0, 8.0)),
    ((16.0, -42.0, 10.0), (4.0, 9.0, 5.0)),
    ((30.0, -5.0, -14.0), (3.5, 12.0, 3.5)),
)
_MIDLINE_VENTRICLES = (((0.0, -6.0, 4.0), (1.8, 14.0, 8.0)), ((0.0, -42.0, -26.0), (5.0, 4.0, 6.0)))
_DEEP_GREY = (((10.0, -16.0, 8.0), (8.0, 13.0, 9.0)), ((22.0, 4.0, 4.0), (6.0, 15.0, 10.0)), ((17.0, 15.0, 14.0), (4.5, 8.0, 8.0)))
_CHOROID = ((18.0, -28.0, 13.0), 4.5)
#: Head-frame (x, y) of skull-base sites where EPI susceptibility artifacts collect: orbitofrontal
#: cortex and gyrus rectus over the frontal sinus and orbits, temporal poles and medial temporal lobes
#: next to the sphenoid sinus, inferior temporal lobes over the mastoids.
_SUSCEPTIBILITY_SITES = ((9.0, 62.0), (22.0, 54.0), (36.0, 28.0), (26.0, 14.0), (46.0, -14.0), (0.0, 44.0), (30.0, -40.0))

#: Signed distance used beyond the evaluated box of a structure: far outside anything.
_FAR = np.float32(1e4)

PATHOLOGY_KINDS = ("acute", "shineThrough", "old", "hemorrhage")


@dataclasses.dataclass(frozen=True)
class LesionSpec:
    """One pathological region of the phantom, as a union of ellipsoids in the head frame.

    :param kind: ``acute`` (the truth: DWI-bright, ADC core 350-600 with a rim of 600-700),
        ``shineThrough`` (T2 shine-through: DWI-bright, ADC normal to high, FLAIR-bright),
        ``old`` (chronic infarct: gliotic rim FLAIR-bright with high ADC around a CSF-like cavity)
        or ``hemorrhage`` (T1-bright, T2- and b0-dark; excluded from the truth).
    :param ellipsoids: ``((center xyz mm), (semi-axes xyz mm))`` pairs in the head frame.
    :param keepBelowPlane: optional ``((normal xyz), offsetMm)``: only points with ``normal . p <= offset``
        belong to the region (cuts a territory at the midline or at the internal capsule).
    :param coreAdcMicro: ADC of the core (acute), of the region (shineThrough) or of the gliotic rim (old).
    :param rimAdcMicro: acute only: ADC at the lesion edge, relaxing to the core over ``rimWidthMm``.
    :param t2Factor: multiplies the b0 (T2-weighted EPI) signal of the underlying tissue.
    :param flairFactor: multiplies FLAIR; 1.0 for a hyperacute (FLAIR-negative) lesion.
    :param irregularityMm: amplitude of the random displacement of the border.
    :param rimWidthMm: acute only: depth over which the ADC relaxes from the rim to the core value.
    """

    kind: str
    ellipsoids: tuple
    keepBelowPlane: tuple | None = None
    coreAdcMicro: float = 470.0
    rimAdcMicro: float = 680.0
    t2Factor: float = 1.2
    flairFactor: float = 1.4
    irregularityMm: float = 1.5
    rimWidthMm: float = 1.5


@dataclasses.dataclass
class PhantomSpec:
    """Everything that defines one synthetic case; the defaults give a healthy 3 T head.

    Shapes are ``(k, j, i)``, spacings ``(i, j, k)`` in mm, rotations ``(about R, about A, about S)`` in
    degrees applied in that order.

    :param lesions: pathological regions (see :class:`LesionSpec`).
    :param bValue: diffusion weighting of the DWI, s/mm^2.
    :param fieldStrengthT: written to sidecars; 1.5 T also lowers the SNR.
    :param dwiRotationDeg: rotation of the DWI acquisition grid in scanner RAS (oblique slices).
    :param dwiRadiological: the DWI's i axis runs right to left (LAS, as dcm2niix writes); else RAS.
    :param headRotationDeg: pose of the head in the scanner.
    :param headCenterRas: where the head frame's origin lies in scanner RAS, mm.
    :param fovCenterHeadMm: head-frame point at the centre of every grid.
    :param noiseScale: multiplies the noise of every image.
    :param ventricleScale: enlarges ventricles (atrophy with age).
    :param sulcalHalfWidthMm: half-width of the sulcal CSF clefts.
    :param whiteMatterHyperintensity: 0-1 severity of periventricular and deep white-matter
        hyperintensities (T2 shine-through with ADC ~1000).
    :param susceptibility: 0-1 strength of the skull-base EPI artifacts.
    :param motion: ghosting along the phase-encoding axis and blur, with the DWI misregistered to b0.
    :param withT1T2: also make T1w and T2w images (on the FLAIR grid).
    """

    lesions: tuple = ()
    bValue: float = 1000.0
    fieldStrengthT: float = 3.0
    dwiShape: tuple = (56, 108, 92)
    dwiSpacingMm: tuple = (2.0, 2.0, 2.0)
    dwiRotationDeg: tuple = (0.0, 0.0, 0.0)
    dwiRadiological: bool = True
    flairShape: tuple = (24, 224, 192)
    flairSpacingMm: tuple = (0.9, 0.9, 5.0)
    flairRotationDeg: tuple = (0.0, 0.0, 0.0)
    headRotationDeg: tuple = (0.0, 0.0, 0.0)
    headCenterRas: tuple = (0.0, -18.0, 12.0)
    fovCenterHeadMm: tuple = (0.0, -2.0, 6.0)
    noiseScale: float = 1.0
    ventricleScale: float = 1.0
    sulcalHalfWidthMm: float = 0.6
    whiteMatterHyperintensity: float = 0.0
    susceptibility: float = 1.0
    motion: bool = False
    withT1T2: bool = False


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


# ---------------------------------------------------------------------------------------------------
# Geometry


def rotationMatrix(anglesDeg) -> np.ndarray:
    """Proper rotation (orthonormal, det +1): about R (x) first, then A (y), then S (z), degrees.

    :return: 3x3 float64 matrix acting on RAS column vectors.
    """
    ax, ay, az = np.deg2rad(np.asarray(anglesDeg, dtype=np.float64))
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def gridIjkToRas(shapeKji, spacingMm, rotation: np.ndarray, centerRas, radiological: bool = True) -> np.ndarray:
    """IJK-to-RAS matrix of an acquisition grid centred on a point.

    :param shapeKji: grid shape ``(k, j, i)``.
    :param spacingMm: voxel size along ``(i, j, k)``, mm.
    :param rotation: 3x3 rotation of the slice stack in scanner RAS (identity: axial).
    :param centerRas: RAS position (mm) of the grid's centre.
    :param radiological: i runs right to left (LAS, dcm2niix's usual output); otherwise left to right.
    :return: 4x4 float64 matrix.
    """
    signs = np.array([-1.0 if radiological else 1.0, 1.0, 1.0])
    matrix = np.eye(4)
    matrix[:3, :3] = rotation @ np.diag(signs * np.asarray(spacingMm, dtype=np.float64))
    centerIjk = (np.asarray(shapeKji[::-1], dtype=np.float64) - 1.0) / 2.0
    matrix[:3, 3] = np.asarray(centerRas, dtype=np.float64) - matrix[:3, :3] @ centerIjk
    return matrix


def _headToRas(spec: PhantomSpec) -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3, :3] = rotationMatrix(spec.headRotationDeg)
    matrix[:3, 3] = spec.headCenterRas
    return matrix


class _Grid:
    """Head-frame coordinates (mm, float32 ``[k, j, i]``) of the voxel centres of one acquisition grid."""

    def __init__(self, shapeKji, ijkToRas: np.ndarray, headToRas: np.ndarray):
        self.shape = tuple(int(size) for size in shapeKji)
        ijkToHead = np.linalg.inv(headToRas) @ ijkToRas
        self.headToIjk = np.linalg.inv(ijkToHead)
        matrix = ijkToHead.astype(np.float32)
        k = np.arange(self.shape[0], dtype=np.float32)[:, None, None]
        j = np.arange(self.shape[1], dtype=np.float32)[None, :, None]
        i = np.arange(self.shape[2], dtype=np.float32)[None, None, :]
        self.x, self.y, self.z = (matrix[row, 0] * i + matrix[row, 1] * j + (matrix[row, 2] * k + matrix[row, 3]) for row in range(3))

    def box(self, low, high):
        """Index slices ``(k, j, i)`` of the sub-block containing the head-frame box ``[low, high]``; None if outside."""
        corners = np.array(list(itertools.product(*zip(low, high))), dtype=np.float64)
        ijk = corners @ self.headToIjk[:3, :3].T + self.headToIjk[:3, 3]
        lower = np.maximum(np.floor(ijk.min(axis=0)).astype(int), 0)
        upper = np.minimum(np.ceil(ijk.max(axis=0)).astype(int) + 1, self.shape[::-1])
        if np.any(lower >= upper):
            return None
        return (slice(lower[2], upper[2]), slice(lower[1], upper[1]), slice(lower[0], upper[0]))

    def coordinates(self, box=None):
        box = box or (slice(None),) * 3
        return self.x[box], self.y[box], self.z[box]


# ---------------------------------------------------------------------------------------------------
# Random fields


def _randomFields(rng: np.random.Generator) -> np.ndarray:
    """Smooth Gaussian random fields on the head-frame lattice, ``[field, k, j, i]`` float32.

    ``sulcal`` is band-pass and scaled to a unit RMS gradient, so ``|field|`` approximates the distance
    (mm) to its zero surface (the sulcal midline); the others have unit standard deviation.
    """
    count = len(_FIELD_NAMES)
    white = rng.standard_normal((count, *_LATTICE_SHAPE_KJI), dtype=np.float32)
    spectrum = np.fft.rfftn(white, axes=(1, 2, 3))
    frequencies = [np.fft.fftfreq(n, _LATTICE_SPACING_MM) for n in _LATTICE_SHAPE_KJI[:2]]
    frequencies.append(np.fft.rfftfreq(_LATTICE_SHAPE_KJI[2], _LATTICE_SPACING_MM))
    squared = frequencies[0][:, None, None] ** 2 + frequencies[1][None, :, None] ** 2 + frequencies[2][None, None, :] ** 2

    def gaussian(sigmaMm):
        return np.exp(-2.0 * np.pi**2 * sigmaMm**2 * squared)

    filters = {
        "gyral": gaussian(5.0),
        "sulcal": gaussian(3.5) - gaussian(6.0),
        "texture": gaussian(10.0),
        "border": gaussian(3.5),
        "susceptibility": gaussian(3.0),
        "fat": gaussian(6.0),
    }
    for index, name in enumerate(_FIELD_NAMES):
        spectrum[index] *= filters[name]
    fields = np.fft.irfftn(spectrum, s=_LATTICE_SHAPE_KJI, axes=(1, 2, 3)).astype(np.float32)
    for index, name in enumerate(_FIELD_NAMES):
        field = fields[index]
        field -= field.mean()
        if name == "sulcal":
            gradient = np.gradient(field, _LATTICE_SPACING_MM)
            field /= np.sqrt(np.mean(sum(component**2 for component in gradient)))
            fields[index] = _radial(field)
        else:
            field /= field.std()
    return fields


def _trilinear(volume: np.ndarray, k, j, i):
    """Linear interpolation of ``volume`` at continuous indices (clamped to its bounds)."""
    result = np.zeros(k.shape, dtype=np.float32)
    lower = []
    for values, size in zip((k, j, i), volume.shape):
        values = np.clip(values, 0.0, size - 1.001)
        base = np.floor(values).astype(np.intp)
        lower.append((base, (values - base).astype(np.float32)))
    for corner in itertools.product((0, 1), repeat=3):
        weight = np.ones(k.shape, dtype=np.float32)
        index = []
        for (base, fraction), offset in zip(lower, corner):
            weight *= fraction if offset else 1.0 - fraction
            index.append(base + offset)
        result += weight * volume[tuple(index)]
    return result


def _radial(field: np.ndarray) -> np.ndarray:
    """Stretch a lattice field along rays from the brain centre, so its zero surfaces (sulci) run radially.

    Each point takes the value found at ``c + (p - c) * (keep + (1 - keep) / rho)``, rho being its
    normalised radius in the brain ellipsoid: on the brain surface (rho = 1) nothing moves, deeper
    points look outwards, so a sulcus keeps its position from the surface down to its fundus.
    """
    keep = 0.3
    center = np.array([0.0, -4.0, 8.0])
    k, j, i = np.indices(_LATTICE_SHAPE_KJI, dtype=np.float32)
    point = [_LATTICE_ORIGIN_MM[axis] + _LATTICE_SPACING_MM * index - center[axis] for axis, index in enumerate((i, j, k))]
    semiZ = np.where(point[2] > 0, np.float32(52.0), np.float32(80.0))
    rho = np.sqrt((point[0] / 62.0) ** 2 + (point[1] / 82.0) ** 2 + (point[2] / semiZ) ** 2)
    scale = keep + (1.0 - keep) / np.maximum(rho, 0.3)
    source = [(center[axis] + point[axis] * scale - _LATTICE_ORIGIN_MM[axis]) / _LATTICE_SPACING_MM for axis in range(3)]
    return _trilinear(field, source[2], source[1], source[0])


def _sampleFields(fields: np.ndarray, headToRas: np.ndarray, shapeKji, ijkToRas: np.ndarray) -> np.ndarray:
    """Trilinear samples of the lattice fields at every voxel of a grid, ``[field, k, j, i]`` float32."""
    import SimpleITK as sitk

    lpsFromRas = np.diag([-1.0, -1.0, 1.0])

    def geometry(image, matrix):
        spacing = np.linalg.norm(matrix[:3, :3], axis=0)
        image.SetSpacing(tuple(float(value) for value in spacing))
        image.SetOrigin(tuple(float(value) for value in lpsFromRas @ matrix[:3, 3]))
        image.SetDirection(tuple(float(value) for value in (lpsFromRas @ matrix[:3, :3] / spacing).ravel()))

    latticeToHead = np.eye(4)
    latticeToHead[:3, :3] *= _LATTICE_SPACING_MM
    latticeToHead[:3, 3] = _LATTICE_ORIGIN_MM
    moving = sitk.GetImageFromArray(np.ascontiguousarray(np.moveaxis(fields, 0, -1)), isVector=True)
    geometry(moving, headToRas @ latticeToHead)
    reference = sitk.Image([int(size) for size in shapeKji[::-1]], sitk.sitkUInt8)
    geometry(reference, ijkToRas)
    resampled = sitk.Resample(moving, reference, sitk.Transform(), sitk.sitkLinear, 0.0, moving.GetPixelID())
    return np.ascontiguousarray(np.moveaxis(sitk.GetArrayFromImage(resampled), -1, 0))


# ---------------------------------------------------------------------------------------------------
# Tissue model


def _ramp(insideMm, widthMm: float):
    """Partial-volume fraction from a signed distance (positive inside), linear over ``widthMm``."""
    return np.clip(np.float32(0.5) + insideMm * np.float32(1.0 / widthMm), 0.0, 1.0)


def _ellipsoidDistance(x, y, z, center, semiAxes):
    """Approximate signed distance (mm, negative inside) to an axis-aligned ellipsoid.

    First-order ``(rho - 1) / |grad rho|``: exact on the surface, good within a few mm of it.
    """
    qx = (x - np.float32(center[0])) / np.float32(semiAxes[0])
    qy = (y - np.float32(center[1])) / np.float32(semiAxes[1])
    qz = (z - np.float32(center[2])) / (semiAxes[2] if np.ndim(semiAxes[2]) else np.float32(semiAxes[2]))
    rho = np.sqrt(qx * qx + qy * qy + qz * qz)
    gradientX, gradientY = qx / np.float32(semiAxes[0]), qy / np.float32(semiAxes[1])
    gradientZ = qz / (semiAxes[2] if np.ndim(semiAxes[2]) else np.float32(semiAxes[2]))
    gradient = np.sqrt(gradientX * gradientX + gradientY * gradientY + gradientZ * gradientZ) + np.float32(1e-6)
    return (rho - 1.0) * rho / gradient


def _unionDistance(grid: _Grid, ellipsoids, mirror: bool = False, marginMm: float = 12.0):
    """Signed distance (mm) to a union of ellipsoids; :data:`_FAR` beyond ``marginMm`` of their boxes.

    Each ellipsoid is evaluated only in its bounding box, which keeps small structures cheap.

    :return: ``(distance, box)``: the full-grid array and the index box enclosing every ellipsoid (None if none is on the grid).
    """
    distance = np.full(grid.shape, _FAR, dtype=np.float32)
    lower, upper = np.full(3, np.inf), np.full(3, -np.inf)
    for center, semiAxes in ellipsoids:
        centers = [center, (-center[0], center[1], center[2])] if mirror and center[0] != 0 else [center]
        for point in centers:
            low = np.asarray(point) - np.asarray(semiAxes) - marginMm
            high = np.asarray(point) + np.asarray(semiAxes) + marginMm
            box = grid.box(low, high)
            if box is None:
                continue
            lower, upper = np.minimum(lower, low), np.maximum(upper, high)
            view = distance[box]
            np.minimum(view, _ellipsoidDistance(*grid.coordinates(box), point, semiAxes), out=view)
    return distance, (grid.box(lower, upper) if np.all(np.isfinite(lower)) else None)


def _sigmoid(value):
    return 0.5 * (1.0 + np.tanh(0.5 * value))


def skullBaseHeightMm(x, y):
    """Head-frame height (mm) of the floor of the cranial cavity at head-frame ``(x, y)``.

    Anterior fossa (orbital roofs) high, middle fossa (temporal lobes) lower laterally, posterior fossa
    (cerebellum) lowest.
    """
    posterior = _sigmoid((-y - 18.0) / 6.0)
    temporal = _sigmoid((np.abs(x) - 20.0) / 5.0) * _sigmoid((28.0 - y) / 6.0) * (1.0 - posterior)
    return (-14.0 - 22.0 * temporal - 40.0 * posterior).astype(np.float32)


def _scaled(ellipsoids, scale):
    return tuple((center, tuple(value * scale for value in semiAxes)) for center, semiAxes in ellipsoids)


def _tissueModel(spec: PhantomSpec, grid: _Grid, fields, widthMm: float) -> dict:
    """Tissue fractions (each of the whole voxel) and pathology shares (of parenchyma) on one grid.

    :param fields: the lattice fields sampled on ``grid`` (``[field, k, j, i]``).
    :param widthMm: width of the partial-volume ramp at boundaries (about the voxel size).
    """
    x, y, z = grid.coordinates()
    gyral, sulcal, texture, border, _, fatField = fields
    semiX, semiY, semiZUp, semiZDown = _HEAD_SEMI_AXES_MM
    dHead = _ellipsoidDistance(x, y, z, (0.0, 0.0, 0.0), (semiX, semiY, np.where(z > 0, np.float32(semiZUp), np.float32(semiZDown))))
    head = _ramp(-dHead, widthMm)
    innerScalp = _ramp(-(dHead + 5.5), widthMm)
    above = z - skullBaseHeightMm(x, y)
    sinusDistance, _ = _unionDistance(grid, _SINUSES)
    eyeDistance, _ = _unionDistance(grid, _EYES)
    sinus = _ramp(-sinusDistance, widthMm)
    eye = _ramp(-eyeDistance, widthMm) * (1.0 - sinus)
    intracranial = _ramp(-(dHead + 12.0), widthMm) * _ramp(above, widthMm) * _ramp(sinusDistance - 2.0, widthMm) * _ramp(eyeDistance - 4.0, widthMm)
    # Depth below the brain surface (mm): the cortex, sulci and susceptibility artifacts follow it.
    depth = np.minimum(-(dHead + 14.0 + 1.2 * gyral), above - 2.5)
    depth = np.minimum(depth, np.minimum(sinusDistance - 4.0, eyeDistance - 6.0))
    brain = np.minimum(_ramp(depth, widthMm), intracranial)

    scalp = np.clip(head - innerScalp, 0.0, 1.0)
    fatShare = np.clip(0.35 + 0.25 * fatField, 0.0, 0.9)
    sinusAir = innerScalp * sinus
    eyeFraction = innerScalp * eye
    rest = np.clip(innerScalp - sinusAir - eyeFraction - intracranial, 0.0, 1.0)
    softTissue = rest * _ramp(-above - 14.0, 4.0)
    bone = rest - softTissue

    ventricles, _ = _unionDistance(grid, _scaled(_VENTRICLES, spec.ventricleScale), mirror=True)
    midline, _ = _unionDistance(grid, _scaled(_MIDLINE_VENTRICLES, spec.ventricleScale))
    ventricleFraction = brain * _ramp(-np.minimum(ventricles, midline), widthMm)
    choroidCenter, choroidRadius = _CHOROID
    choroidDistance, _ = _unionDistance(grid, [(choroidCenter, (choroidRadius,) * 3)], mirror=True)
    choroid = ventricleFraction * _ramp(-choroidDistance, widthMm)
    deepDistance, _ = _unionDistance(grid, _DEEP_GREY, mirror=True)
    deepShare = _ramp(-deepDistance, widthMm)
    # Interhemispheric fissure: a midline cleft from the vertex down to the corpus callosum (or to the
    # floor at the frontal and occipital poles), treated as one more sulcus.
    callosumTop = 28.0 - 70.0 * _sigmoid((np.abs(y) - 38.0) / 5.0)
    fissureDistance = np.abs(x + 0.8 * gyral) + 3.0 * _ramp(callosumTop - z, 6.0) * 10.0
    sulcalDistance = np.minimum(np.abs(sulcal), fissureDistance)
    sulcusShare = _ramp(spec.sulcalHalfWidthMm - sulcalDistance, widthMm) * _ramp(17.0 - depth, 4.0) * (1.0 - deepShare)
    sulcusShare = np.maximum(sulcusShare, _ramp(spec.sulcalHalfWidthMm + 0.4 - fissureDistance, widthMm))
    nonVentricle = brain - ventricleFraction
    sulcalCsf = nonVentricle * sulcusShare
    parenchyma = nonVentricle - sulcalCsf
    cortex = np.maximum(_ramp(2.8 - depth, widthMm), _ramp(spec.sulcalHalfWidthMm + 2.8 - sulcalDistance, widthMm) * _ramp(19.0 - depth, 4.0))
    greyShare = cortex * (1.0 - deepShare)
    csf = np.clip(intracranial - brain, 0.0, 1.0) + (ventricleFraction - choroid) + sulcalCsf

    pathologies = []
    if spec.whiteMatterHyperintensity > 0:
        severity = spec.whiteMatterHyperintensity
        caps, _ = _unionDistance(grid, _scaled(_VENTRICLES[1:4], spec.ventricleScale * 1.35), mirror=True)
        caps = caps - 2.0 * severity + 1.5 * border
        # Deep punctate and patchy lesions: the peaks of the border field.
        punctate = _ramp(border - 2.6 + 0.8 * severity, 0.4)
        deepWhite = _ramp(depth - 12.0, 4.0) * (1.0 - greyShare) * (1.0 - deepShare)
        share = np.maximum(_ramp(-caps, widthMm), punctate) * deepWhite * (1.0 - ventricleFraction)
        wmh = LesionSpec("shineThrough", (), coreAdcMicro=1050.0, t2Factor=1.9, flairFactor=2.1)
        pathologies.append({"kind": "wmh", "lesion": wmh, "box": (slice(None),) * 3, "share": share, "inward": None})
    for lesion in sorted(spec.lesions, key=lambda item: PATHOLOGY_KINDS.index(item.kind)):
        distance, box = _unionDistance(grid, lesion.ellipsoids, marginMm=widthMm + 1.0 + 3.5 * lesion.irregularityMm)
        if box is None:
            continue
        distance = distance[box]
        if lesion.keepBelowPlane is not None:
            normal, offset = lesion.keepBelowPlane
            boxX, boxY, boxZ = grid.coordinates(box)
            plane = np.float32(normal[0]) * boxX + np.float32(normal[1]) * boxY + np.float32(normal[2]) * boxZ - np.float32(offset)
            distance = np.maximum(distance, plane)
        inward = -(distance + np.float32(lesion.irregularityMm) * border[box])
        pathologies.append({"kind": lesion.kind, "lesion": lesion, "box": box, "share": _ramp(inward, widthMm), "inward": inward})
    return {
        "fractions": {
            "muscle": scalp * (1.0 - fatShare),
            "fat": scalp * fatShare,
            "bone": bone,
            "softTissue": softTissue,
            "csf": csf,
            "eye": eyeFraction,
            "choroid": choroid,
        },
        "head": head,
        "sinusAir": sinusAir,
        "parenchyma": parenchyma,
        "brain": brain,
        "greyShare": greyShare,
        "deepShare": deepShare,
        "texture": texture,
        "depth": depth,
        "pathologies": pathologies,
    }


def _pathologyAdc(kind: str, lesion: LesionSpec, inward, texture):
    """ADC (1e-6 mm^2/s) of the pathological tissue itself, before partial volume."""
    if kind == "acute":
        relax = np.exp(-np.clip(inward, 0.0, None) / np.float32(lesion.rimWidthMm))
        return lesion.coreAdcMicro + (lesion.rimAdcMicro - lesion.coreAdcMicro) * relax + 25.0 * texture
    if kind in ("shineThrough", "wmh"):
        return lesion.coreAdcMicro + 60.0 * texture
    if kind == "old":
        return 1450.0 + 80.0 * texture
    return 420.0 + 0.0 * texture


def _pathologyFactors(kind: str, lesion: LesionSpec) -> dict:
    """Multipliers of the underlying parenchyma signal per contrast."""
    if kind == "acute":
        return {"b0": lesion.t2Factor, "flair": lesion.flairFactor, "t1w": 0.9, "t2w": 1.0 + 2.0 * (lesion.t2Factor - 1.0)}
    if kind in ("shineThrough", "wmh"):
        return {"b0": lesion.t2Factor, "flair": lesion.flairFactor, "t1w": 0.8, "t2w": lesion.t2Factor * 1.1}
    if kind == "old":
        return {"b0": 1.8, "flair": 2.3, "t1w": 0.7, "t2w": 2.0}
    return {"b0": 0.35, "flair": 0.8, "t1w": 1.9, "t2w": 0.3}


def _compose(model: dict, contrast: str, bValue: float = 0.0):
    """Signal of one contrast from the tissue model; with ``bValue`` > 0 (s/mm^2), the diffusion-weighted b0 contrast.

    Tissues mix in signal space, so partial-volume voxels have the apparent ADC a scanner would see.
    """
    column = _COLUMNS[contrast]

    def attenuation(adcMicro):
        return np.exp(np.float32(-bValue * 1e-6) * adcMicro) if bValue else np.float32(1.0)

    total = np.zeros_like(model["head"])
    for tissue, fraction in model["fractions"].items():
        properties = _PROPERTIES[tissue]
        total += fraction * np.float32(properties[column] * (np.exp(-bValue * 1e-6 * properties[1]) if bValue else 1.0))
    texture = model["texture"]
    grey, deep = model["greyShare"], model["deepShare"]
    white = np.clip(1.0 - grey - deep, 0.0, 1.0)
    whiteSignal = np.float32(_PROPERTIES["wm"][column]) * (1.0 + 0.03 * texture)
    greySignal, deepSignal = np.float32(_PROPERTIES["gm"][column]), np.float32(_PROPERTIES["deepGm"][column])
    baseline = grey * greySignal + deep * deepSignal + white * whiteSignal
    weighted = None
    if bValue:
        whiteAdc = np.float32(_PROPERTIES["wm"][1]) + 22.0 * texture
        weighted = (
            grey * greySignal * attenuation(np.float32(_PROPERTIES["gm"][1]))
            + deep * deepSignal * attenuation(np.float32(_PROPERTIES["deepGm"][1]))
            + white * whiteSignal * attenuation(whiteAdc)
        )
    csfSignal = np.float32(_PROPERTIES["csf"][column])
    for item in model["pathologies"]:
        kind, lesion, box, share, inward = item["kind"], item["lesion"], item["box"], item["share"], item["inward"]
        underlying = baseline[box]
        pathologyBase = underlying * np.float32(_pathologyFactors(kind, lesion)[contrast])
        cavity = _ramp(inward - 3.0, 2.0) if kind == "old" else None
        if weighted is not None:
            pathologyWeighted = pathologyBase * attenuation(_pathologyAdc(kind, lesion, inward, texture[box]))
            if cavity is not None:
                pathologyWeighted = (1.0 - cavity) * pathologyWeighted + cavity * csfSignal * attenuation(np.float32(_PROPERTIES["csf"][1]))
            weighted[box] = (1.0 - share) * weighted[box] + share * pathologyWeighted
        if cavity is not None:
            pathologyBase = (1.0 - cavity) * pathologyBase + cavity * csfSignal
        baseline[box] = (1.0 - share) * underlying + share * pathologyBase
    return total + model["parenchyma"] * (baseline if weighted is None else weighted)


def _labels(model: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Tissue labels, trap labels, truth mask and brain mask from a tissue model on the DWI grid."""
    fractions = model["fractions"]
    parenchyma = model["parenchyma"]
    grey, deep = model["greyShare"], model["deepShare"]
    white = np.clip(1.0 - grey - deep, 0.0, 1.0)
    stack = np.stack(
        [
            1.0 - model["head"],
            fractions["muscle"] + fractions["fat"],
            fractions["bone"],
            model["sinusAir"],
            fractions["csf"],
            parenchyma * grey,
            parenchyma * white,
            parenchyma * deep,
            fractions["choroid"],
            fractions["eye"],
            fractions["softTissue"],
        ]
    )
    tissue = np.argmax(stack, axis=0).astype(np.uint8)
    traps = np.zeros_like(tissue)
    csf = fractions["csf"]
    brainTissue = parenchyma + fractions["choroid"] > 0.2
    traps[(csf > 0.25) & (csf < 0.75) & brainTissue] = 1
    traps[fractions["choroid"] > 0.3] = 2
    acute = np.zeros_like(parenchyma)
    hemorrhage = np.zeros(tissue.shape, dtype=bool)
    for item in model["pathologies"]:
        box, share = item["box"], item["share"]
        filled = share * parenchyma[box] >= 0.5
        if item["kind"] == "acute":
            view = acute[box]
            np.maximum(view, share, out=view)
        elif item["kind"] in ("shineThrough", "wmh"):
            tissue[box][filled], traps[box][filled] = 12, 3
        elif item["kind"] == "old":
            tissue[box][filled], traps[box][filled] = 13, 4
        else:
            hemorrhage[box] |= filled
    # What an expert draws on DWI: voxels mostly filled by infarct; CSF-filled voxel parts are not DWI-bright.
    truth = (acute * parenchyma >= 0.5) & (csf < 0.25) & ~hemorrhage
    tissue[truth] = 11
    tissue[hemorrhage], traps[hemorrhage] = 14, 5
    return tissue, traps, truth, model["brain"] >= 0.5


# ---------------------------------------------------------------------------------------------------
# Acquisition effects


def _biasField(grid: _Grid, rng: np.random.Generator, strength: float = 0.12):
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


def _addBlob(target: np.ndarray, grid: _Grid, center, sigmaMm: float, amplitude: float) -> None:
    extent = np.full(3, 3.0 * sigmaMm)
    box = grid.box(np.asarray(center) - extent, np.asarray(center) + extent)
    if box is None:
        return
    x, y, z = grid.coordinates(box)
    squared = (x - np.float32(center[0])) ** 2 + (y - np.float32(center[1])) ** 2 + (z - np.float32(center[2])) ** 2
    target[box] += np.float32(amplitude) * np.exp(squared * np.float32(-0.5 / sigmaMm**2))


def _susceptibility(grid: _Grid, model: dict, fields, spec: PhantomSpec, rng: np.random.Generator):
    """EPI pile-up (``pileUp``) and drop-out (``dropOut``) maps at the skull-base sites, 0 to about 1.5.

    Blobs sit a few mm above the cranial floor at each site, broken into fragments by a random field
    and confined to the outer 12 mm of the brain, where field inhomogeneity from the air-bone interfaces is.
    """
    pileUp = np.zeros(grid.shape, dtype=np.float32)
    dropOut = np.zeros(grid.shape, dtype=np.float32)
    for siteX, siteY in _SUSCEPTIBILITY_SITES:
        for side in (1.0, -1.0) if siteX else (1.0,):
            centerX = side * siteX + rng.uniform(-4, 4)
            centerY = siteY + rng.uniform(-4, 4)
            centerZ = float(skullBaseHeightMm(np.float32(centerX), np.float32(centerY))) + rng.uniform(3.0, 7.0)
            sigma = rng.uniform(3.0, 6.0)
            _addBlob(pileUp, grid, (centerX, centerY, centerZ), sigma, rng.uniform(0.5, 1.3))
            _addBlob(dropOut, grid, (centerX, centerY, centerZ - 6.0), sigma * 1.2, rng.uniform(0.5, 1.0))
    fragments = np.clip(1.0 + 0.9 * fields[4], 0.0, None)
    nearEdge = _ramp(12.0 - model["depth"], 4.0) * model["head"]
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


# ---------------------------------------------------------------------------------------------------
# Public API: images


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
    fields = _randomFields(rng)
    headToRas = _headToRas(spec)
    fovCenterRas = (headToRas @ np.append(np.asarray(spec.fovCenterHeadMm, dtype=np.float64), 1.0))[:3]

    dwiIjkToRas = gridIjkToRas(spec.dwiShape, spec.dwiSpacingMm, rotationMatrix(spec.dwiRotationDeg), fovCenterRas, spec.dwiRadiological)
    grid = _Grid(spec.dwiShape, dwiIjkToRas, headToRas)
    sampled = _sampleFields(fields, headToRas, spec.dwiShape, dwiIjkToRas)
    model = _tissueModel(spec, grid, sampled, float(min(spec.dwiSpacingMm)))
    tissueLabels, trapLabels, truth, brainMask = _labels(model)
    b0True = _compose(model, "b0")
    dwiTrue = _compose(model, "b0", spec.bValue)
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
    flairGrid = _Grid(spec.flairShape, flairIjkToRas, headToRas)
    flairModel = _tissueModel(spec, flairGrid, _sampleFields(fields, headToRas, spec.flairShape, flairIjkToRas), 1.5)
    flairBias = _biasField(flairGrid, rng, 0.1)
    sigmaFlair = 8.0 * spec.noiseScale * (1.4 if spec.fieldStrengthT < 2.0 else 1.0)
    images = {}
    for contrast in ("flair", "t1w", "t2w") if spec.withT1T2 else ("flair",):
        signal = _compose(flairModel, contrast) * flairBias
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


# ---------------------------------------------------------------------------------------------------
# Public API: files

LAYOUTS = ("bids", "bidsUpperAdc", "flat")
_MANUFACTURER = {"Manufacturer": "Synthetic", "ManufacturersModelName": "AISPhantom", "ConversionSoftware": "AISCommonLib.synthetic.phantom"}


def _toInt16(array) -> np.ndarray:
    return np.rint(np.clip(array, 0, 32767)).astype(np.int16)


def _writeSeries(frames: np.ndarray, ijkToRas: np.ndarray, path: Path, repetitionTimeS: float) -> None:
    """Write a ``[t, k, j, i]`` series as 4D NIfTI (qform = sform), atomically."""
    import nibabel as nib

    image = nib.Nifti1Image(np.ascontiguousarray(frames.transpose(3, 2, 1, 0)), ijkToRas)
    image.set_qform(ijkToRas, code=1)
    image.set_sform(ijkToRas, code=1)
    image.header.set_xyzt_units(xyz="mm", t="sec")
    zooms = list(image.header.get_zooms())
    image.header.set_zooms((*zooms[:3], repetitionTimeS))
    with atomicWritePath(path) as temporaryPath:
        nib.save(image, os.fspath(temporaryPath))


def _dwiSidecar(spec: PhantomSpec, imageType: list, inSidecarB: bool) -> dict:
    threeTesla = spec.fieldStrengthT >= 2.0
    sidecar = {
        "Modality": "MR",
        "MagneticFieldStrength": spec.fieldStrengthT,
        **_MANUFACTURER,
        "SeriesDescription": "ep2d_diff_trace",
        "ProtocolName": "DWI_axial",
        "ImageType": imageType,
        "ScanningSequence": "EP",
        "SequenceVariant": "SK_SP",
        "SliceThickness": float(spec.dwiSpacingMm[2]),
        "SpacingBetweenSlices": float(spec.dwiSpacingMm[2]),
        "EchoTime": 0.072 if threeTesla else 0.089,
        "RepetitionTime": 5.2 if threeTesla else 4.6,
        "FlipAngle": 90,
        "PhaseEncodingDirection": "j-",
        "EffectiveEchoSpacing": 0.00032,
    }
    if inSidecarB:
        sidecar["DiffusionBValue"] = spec.bValue
    return sidecar


def _flairSidecar(spec: PhantomSpec, contrast: str) -> dict:
    timing = {"flair": (0.09, 9.0, 2.5), "t1w": (0.011, 2.0, 0.8), "t2w": (0.095, 5.0, None)}[contrast]
    sidecar = {
        "Modality": "MR",
        "MagneticFieldStrength": spec.fieldStrengthT,
        **_MANUFACTURER,
        "SeriesDescription": {"flair": "t2_tirm_tra_dark-fluid", "t1w": "t1_flair_tra", "t2w": "t2_tse_tra"}[contrast],
        "ScanningSequence": "SE\\IR" if timing[2] else "SE",
        "SliceThickness": float(spec.flairSpacingMm[2]) - 0.5,
        "SpacingBetweenSlices": float(spec.flairSpacingMm[2]),
        "EchoTime": timing[0],
        "RepetitionTime": timing[1],
        "PhaseEncodingDirection": "i",
    }
    if timing[2]:
        sidecar["InversionTime"] = timing[2]
    return sidecar


def writePhantomCase(
    root,
    subject: str,
    session: str,
    images: PhantomImages,
    layout: str = "bids",
    adcUnit: str = "1e-6",
    dwiSeries: bool = False,
    writeEadc: bool = False,
    description: str = "",
) -> dict:
    """Write one case's images, sidecars and ground truth under a BIDS root.

    Layouts: ``bids`` (``sub/ses/dwi/*_dwi``, ``*_adc``; ``sub/ses/anat/*_FLAIR``), ``bidsUpperAdc``
    (the same with ``*_ADC``) and ``flat`` (ISLES 2022 style: every file in ``sub/ses/`` with lower-case
    suffixes, the b value only in the DWI sidecar). Truth, tissue and trap maps go to
    ``derivatives/phantom-truth/sub/ses/``.

    :param subject: label without ``sub-``. :param session: label without ``ses-``.
    :param adcUnit: :mod:`adcunits` key: ``1e-6`` (int16), ``1e-3`` or ``mm2/s`` (float32).
    :param dwiSeries: write the DWI as a 4D series ``[b0, b]`` with ``.bval``/``.bvec``; otherwise the
        3D trace (with a one-value ``.bval`` in the BIDS layouts).
    :param writeEadc: also write the eADC map (``*_eADC``).
    :return: role -> path of every file written.
    :raises InputError: unknown layout or ADC unit.
    """
    if layout not in LAYOUTS:
        raise InputError(f"Unknown phantom layout '{layout}'; use one of {', '.join(LAYOUTS)}.")
    unit: AdcUnit = unitByKey(adcUnit)
    root = Path(root)
    spec = images.spec
    prefix = f"sub-{subject}_ses-{session}"
    sessionFolder = root / f"sub-{subject}" / f"ses-{session}"
    flat = layout == "flat"
    dwiFolder = sessionFolder if flat else sessionFolder / "dwi"
    anatFolder = sessionFolder if flat else sessionFolder / "anat"
    adcSuffix = "ADC" if layout == "bidsUpperAdc" else "adc"
    paths = {}

    def nifti(role, folder, name, array, ijkToRas, dtype=None):
        path = folder / f"{prefix}_{name}.nii.gz"
        writeNifti(array, ijkToRas, path, dtype)
        paths[role] = path
        return path

    def sidecar(role, niftiPath, data):
        path = niftiPath.with_name(niftiPath.name.replace(".nii.gz", ".json"))
        writeJsonAtomic(path, data)
        paths[role + "Json"] = path

    dwiAffine = images.dwiIjkToRas
    if dwiSeries:
        path = dwiFolder / f"{prefix}_dwi.nii.gz"
        _writeSeries(np.stack([_toInt16(images.b0), _toInt16(images.dwi)]), dwiAffine, path, 5.2)
        paths["dwi"] = path
        bValues, vectors = [0.0, spec.bValue], [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]
        imageType = ["ORIGINAL", "PRIMARY", "DIFFUSION", "NONE"]
    else:
        path = nifti("dwi", dwiFolder, "dwi", _toInt16(images.dwi), dwiAffine)
        bValues, vectors = [spec.bValue], [[0.0, 0.0, 0.0]]
        imageType = ["DERIVED", "PRIMARY", "DIFFUSION", "TRACEW"]
    sidecar("dwi", path, _dwiSidecar(spec, imageType, inSidecarB=flat))
    if not flat:
        bval = path.with_name(path.name.replace(".nii.gz", ".bval"))
        bvec = path.with_name(path.name.replace(".nii.gz", ".bvec"))
        writeTextAtomic(bval, " ".join(f"{value:g}" for value in bValues) + "\n")
        writeTextAtomic(bvec, "\n".join(" ".join(f"{vector[axis]:g}" for vector in vectors) for axis in range(3)) + "\n")
        paths["bval"], paths["bvec"] = bval, bvec

    # Scanners store 1e-6 mm^2/s as integers; the other units only make sense as floats.
    stored = images.adcMicro / np.float32(unit.toMicro)
    stored = _toInt16(stored) if unit == MICRO else stored.astype(np.float32)
    path = nifti("adc", dwiFolder, adcSuffix, stored, dwiAffine)
    sidecar("adc", path, {**_dwiSidecar(spec, ["DERIVED", "PRIMARY", "DIFFUSION", "ADC"], False), "Units": unit.label})
    if writeEadc:
        path = nifti("eadc", dwiFolder, "eADC", images.eadc, dwiAffine, np.float32)
        sidecar("eadc", path, _dwiSidecar(spec, ["DERIVED", "PRIMARY", "DIFFUSION", "EXP"], False))

    for contrast, suffix in (("flair", "flair" if flat else "FLAIR"), ("t1w", "T1w"), ("t2w", "T2w")):
        array = getattr(images, contrast)
        if array is not None:
            path = nifti(contrast, anatFolder, suffix, _toInt16(array), images.flairIjkToRas)
            sidecar(contrast, path, _flairSidecar(spec, contrast))

    truthFolder = root / "derivatives" / "phantom-truth" / f"sub-{subject}" / f"ses-{session}"
    path = truthFolder / f"{prefix}_desc-truth_dwi_lesionmask.nii.gz"
    writeNifti(images.truthMask.astype(np.uint8), dwiAffine, path)
    paths["truth"] = path
    writeJsonAtomic(
        path.with_name(path.name.replace(".nii.gz", ".json")),
        {
            "Description": description or "Ground-truth acute ischemic lesion of a synthetic phantom.",
            "Sources": [str(paths["dwi"].relative_to(root))],
            "LesionVolumeMl": round(images.lesionVolumeMl, 4),
            "AdcUnit": unit.key,
            "BValue": spec.bValue,
            "Traps": list(images.traps),
        },
    )
    paths["tissue"] = truthFolder / f"{prefix}_desc-tissue_dseg.nii.gz"
    writeNifti(images.tissueLabels, dwiAffine, paths["tissue"])
    paths["traps"] = truthFolder / f"{prefix}_desc-traps_dseg.nii.gz"
    writeNifti(images.trapLabels, dwiAffine, paths["traps"])
    return paths


# ---------------------------------------------------------------------------------------------------
# Demo dataset


def _corticalPoint(rng: np.random.Generator, depthMm: float) -> tuple:
    """A head-frame point about ``depthMm`` below the brain surface, above the skull base."""
    semiX, semiY, semiZ, _ = _HEAD_SEMI_AXES_MM
    while True:
        direction = rng.normal(size=3)
        direction[2] = abs(direction[2]) + 0.15
        direction /= np.linalg.norm(direction)
        surface = 1.0 / np.linalg.norm(direction / np.array([semiX, semiY, semiZ]))
        point = direction * (surface - 14.0 - depthMm)
        if abs(point[0]) > 8.0 and point[2] > 0.0:
            return tuple(float(value) for value in point)


def _demoScenarios(rng: np.random.Generator) -> list[dict]:
    """The demo cases: scenario, spec and how each is written."""

    def acute(ellipsoids, plane=None, core=470.0, rim=680.0, t2=1.2, flair=1.4, irregularity=1.5):
        return LesionSpec("acute", tuple(ellipsoids), plane, core, rim, t2, flair, irregularity)

    def oldLesion(center, radii):
        return LesionSpec("old", ((center, radii),), irregularityMm=2.0)

    def shine(center, radii, adc=1000.0):
        return LesionSpec("shineThrough", ((center, radii),), coreAdcMicro=adc, t2Factor=2.3, flairFactor=2.2, irregularityMm=1.0)

    dots = [((_corticalPoint(rng, rng.uniform(2.0, 9.0))), (r, r, r * 1.2)) for r in rng.uniform(2.5, 4.5, 7)]
    chain = [((-26.0, yCenter, 32.0 + rng.uniform(-2, 2)), (4.0, 5.0, 4.0)) for yCenter in (-30.0, -18.0, -6.0, 6.0, 18.0)]
    return [
        {
            "subject": "01",
            "description": "Small lacunar infarct in the left corona radiata (a few hundred mm^3), FLAIR-positive; "
            "periventricular white-matter hyperintensities and a subacute right lacune with T2 shine-through.",
            "spec": PhantomSpec(
                lesions=(acute([((-24.0, -4.0, 30.0), (4.5, 4.0, 5.5))], irregularity=0.8, core=430.0, rim=660.0), shine((22.0, 6.0, 26.0), (4.0, 4.0, 5.0))),
                whiteMatterHyperintensity=0.6,
                ventricleScale=1.2,
                sulcalHalfWidthMm=0.9,
            ),
            "age": 74,
            "sex": "M",
        },
        {
            "subject": "02",
            "description": "Large left MCA territorial infarct (cortex, insula, lentiform nucleus; tens of ml), FLAIR-positive, "
            "with a petechial hemorrhage (T1-bright, excluded from the truth) and an old right frontal infarct; T1w, T2w and eADC provided.",
            "spec": PhantomSpec(
                lesions=(
                    acute([((-46.0, 6.0, 12.0), (26.0, 38.0, 26.0)), ((-28.0, 2.0, 4.0), (12.0, 16.0, 12.0))], ((1.0, 0.0, 0.0), -12.0), 420.0, 690.0, 1.25, 1.5, 2.5),
                    oldLesion((44.0, 38.0, 30.0), (11.0, 12.0, 10.0)),
                    LesionSpec("hemorrhage", (((-38.0, 10.0, 8.0), (4.0, 5.0, 4.0)),), irregularityMm=0.8),
                ),
                withT1T2=True,
                headRotationDeg=(3.0, 0.0, -4.0),
            ),
            "writeEadc": True,
            "age": 68,
            "sex": "F",
        },
        {
            "subject": "03",
            "description": "Multifocal embolic infarcts: seven small cortical and subcortical dots in several territories; ADC file named *_ADC.",
            "spec": PhantomSpec(lesions=tuple(acute([dot], core=rng.uniform(430, 540), irregularity=0.6) for dot in dots), whiteMatterHyperintensity=0.3),
            "layout": "bidsUpperAdc",
            "age": 61,
            "sex": "M",
        },
        {
            "subject": "04",
            "description": "Hyperacute right MCA cortical infarct, DWI-positive / FLAIR-negative (< 4.5 h); 1.5 T with b=800.",
            "spec": PhantomSpec(
                lesions=(acute([((48.0, 14.0, 26.0), (14.0, 16.0, 13.0))], ((-1.0, 0.0, 0.0), -20.0), 480.0, 690.0, 1.03, 1.0, 2.0),),
                fieldStrengthT=1.5,
                bValue=800.0,
                dwiRadiological=False,
            ),
            "hyperacute": True,
            "age": 57,
            "sex": "F",
        },
        {
            "subject": "05",
            "description": "No acute lesion: white-matter hyperintensities, a subacute T2 shine-through lesion (DWI-bright, ADC ~1050) "
            "and an old left occipital infarct; the truth is empty.",
            "spec": PhantomSpec(
                lesions=(shine((30.0, -30.0, 38.0), (7.0, 8.0, 6.0), 1050.0), oldLesion((-30.0, -62.0, 14.0), (10.0, 12.0, 10.0))),
                whiteMatterHyperintensity=0.8,
                ventricleScale=1.3,
                sulcalHalfWidthMm=1.0,
            ),
            "age": 79,
            "sex": "F",
        },
        {
            "subject": "06",
            "description": "Left PCA occipital infarct with severe motion (ghosting, blur, DWI misregistered to b0): a reader should mark it invalid.",
            "spec": PhantomSpec(lesions=(acute([((-22.0, -64.0, 10.0), (12.0, 14.0, 11.0))], ((1.0, 0.0, 0.0), -3.0)),), motion=True),
            "expectInvalid": True,
            "age": 83,
            "sex": "M",
        },
        {
            "subject": "07",
            "description": "Right cerebellar infarct next to the skull-base artifacts; ADC stored in mm^2/s floats (0.0007).",
            "spec": PhantomSpec(lesions=(acute([((22.0, -58.0, -32.0), (10.0, 10.0, 8.0))], ((-1.0, 0.0, 0.0), -4.0)),), susceptibility=1.2),
            "adcUnit": "mm2/s",
            "age": 66,
            "sex": "M",
        },
        {
            "subject": "strokecase0008",
            "session": "0001",
            "description": "ISLES 2022-like flat session folder (lower-case names, b value only in the sidecar): left frontal "
            "cortical-subcortical infarct; ADC stored in 1e-3 mm^2/s floats (0.7).",
            "spec": PhantomSpec(lesions=(acute([((-40.0, 42.0, 22.0), (14.0, 12.0, 12.0))], ((1.0, 0.0, 0.0), -10.0)),), whiteMatterHyperintensity=0.4),
            "layout": "flat",
            "adcUnit": "1e-3",
            "age": 71,
            "sex": "F",
        },
        {
            "subject": "09",
            "description": "Oblique DWI acquisition (grid rotated 15 deg about R and -12 deg about A, head tilted alike); right "
            "striatocapsular infarct; FLAIR axial (not oblique).",
            "spec": PhantomSpec(
                lesions=(acute([((22.0, 4.0, 8.0), (8.0, 14.0, 9.0))], irregularity=1.2),),
                dwiRotationDeg=(15.0, -12.0, 0.0),
                headRotationDeg=(13.0, -10.0, 2.0),
            ),
            "age": 64,
            "sex": "M",
        },
        {
            "subject": "10",
            "description": "Left internal border-zone infarcts (a chain of small lesions in the centrum semiovale); DWI as a 4D series [b0, b1000] with .bval/.bvec.",
            "spec": PhantomSpec(lesions=(acute(chain, core=500.0, irregularity=1.0),), whiteMatterHyperintensity=0.2),
            "dwiSeries": True,
            "age": 59,
            "sex": "F",
        },
    ]


_README = """# AIS synthetic phantom dataset

Synthetic MRI of acute ischemic stroke for testing and demonstrating the AIS annotation tools.
Every image was generated by `AISCommonLib.synthetic.phantom`; no person was scanned and the
participant table is invented. The scenario of each case is in
`derivatives/phantom-truth/sub-*/ses-*/*_desc-truth_dwi_lesionmask.json`.

- `sub-*/ses-*/dwi`: DWI (b1000 trace, or a [b0, b] series), ADC (unit varies by case on purpose),
  optional eADC; `anat`: FLAIR on its own grid (0.9 x 0.9 x 5 mm), optional T1w/T2w.
- `sub-strokecase0008/ses-0001`: an ISLES 2022-like flat folder with lower-case names.
- `derivatives/phantom-truth`: ground-truth lesion masks on the DWI grid, tissue labels
  (`desc-tissue_dseg`) and the regions that trap a naive ADC threshold (`desc-traps_dseg`).
"""


def _writeDatasetFiles(root: Path, participants: list[dict]) -> dict:
    from .. import __version__

    paths = {
        "description": root / "dataset_description.json",
        "participants": root / "participants.tsv",
        "participantsJson": root / "participants.json",
        "readme": root / "README",
        "derivativeDescription": root / "derivatives" / "phantom-truth" / "dataset_description.json",
    }
    generatedBy = [{"Name": "AISCommonLib.synthetic.phantom", "Version": __version__}]
    writeJsonAtomic(
        paths["description"],
        {"Name": "AIS synthetic phantom", "BIDSVersion": "1.9.0", "DatasetType": "raw", "License": "CC0", "GeneratedBy": generatedBy},
    )
    rows = ["participant_id\tage\tsex"] + [f"sub-{row['subject']}\t{row['age']}\t{row['sex']}" for row in participants]
    writeTextAtomic(paths["participants"], "\n".join(rows) + "\n")
    writeJsonAtomic(
        paths["participantsJson"],
        {
            "age": {"Description": "Age of the synthetic participant", "Units": "year"},
            "sex": {"Description": "Sex of the synthetic participant", "Levels": {"M": "male", "F": "female"}},
        },
    )
    writeTextAtomic(paths["readme"], _README)
    ensureBidsIgnore(root)
    writeJsonAtomic(
        paths["derivativeDescription"],
        {
            "Name": "AIS phantom ground truth",
            "BIDSVersion": "1.9.0",
            "DatasetType": "derivative",
            "GeneratedBy": generatedBy,
            "TissueLabels": {str(key): value for key, value in TISSUE_LABELS.items()},
            "TrapLabels": {str(key): value for key, value in TRAP_LABELS.items()},
        },
    )
    return paths


def makeDemoDataset(root, seed: int = 0, progress=None) -> list[PhantomCase]:
    """Write the demo BIDS dataset (ten cases, ground truth in ``derivatives/phantom-truth``).

    Each case draws from its own generator seeded by ``(seed, case index)``, so a case does not change
    when another one does. Files are written atomically; an existing dataset at ``root`` is overwritten
    file by file.

    :param root: dataset folder (created if missing).
    :param seed: makes the whole dataset reproducible.
    :param progress: optional ``(fraction, message)`` callable; it may raise OperationCancelled, which
        stops after the current file and propagates (files already written stay complete).
    :return: the cases, in the order written.
    """
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise InputError(f"Cannot create the demo dataset: '{root}' exists and is not a folder.")
    scenarios = _demoScenarios(np.random.default_rng([seed, 1000]))
    cases = []
    started = time.perf_counter()
    for index, scenario in enumerate(scenarios):
        subject, session = scenario["subject"], scenario.get("session", "01")
        if progress:
            progress(index / len(scenarios), f"Generating sub-{subject}_ses-{session}")
        images = makePhantom(scenario["spec"], np.random.default_rng([seed, index]))
        layout, adcUnit = scenario.get("layout", "bids"), scenario.get("adcUnit", MICRO.key)
        paths = writePhantomCase(
            root,
            subject,
            session,
            images,
            layout=layout,
            adcUnit=adcUnit,
            dwiSeries=scenario.get("dwiSeries", False),
            writeEadc=scenario.get("writeEadc", False),
            description=scenario["description"],
        )
        cases.append(
            PhantomCase(
                subject=subject,
                session=session,
                description=scenario["description"],
                truthMask=images.truthMask,
                dwiIjkToRas=images.dwiIjkToRas,
                paths=paths,
                adcUnit=adcUnit,
                bValue=images.spec.bValue,
                layout=layout,
                traps=images.traps,
                expectInvalid=scenario.get("expectInvalid", False),
                hyperacute=scenario.get("hyperacute", False),
                lesionVolumeMl=images.lesionVolumeMl,
            )
        )
    _writeDatasetFiles(root, scenarios)
    logger.info("Wrote %d phantom cases to %s in %.1f s.", len(cases), root, time.perf_counter() - started)
    if progress:
        progress(1.0, "Demo dataset written")
    return cases

