"""The phantom head in millimetres: tissue geometry, random folding fields, pathology, contrast per sequence.

Everything is sampled on an acquisition grid with partial volume (see :func:`tissueModel`).
"""

import itertools

import numpy as np

from .specs import PATHOLOGY_KINDS, LesionSpec, PhantomSpec

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


HEAD_SEMI_AXES_MM = (76.0, 96.0, 72.0, 105.0)  # x, y, z above the centre, z below (face and neck)


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
SUSCEPTIBILITY_SITES = ((9.0, 62.0), (22.0, 54.0), (36.0, 28.0), (26.0, 14.0), (46.0, -14.0), (0.0, 44.0), (30.0, -40.0))


#: Signed distance used beyond the evaluated box of a structure: far outside anything.
_FAR = np.float32(1e4)


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


def headToRasMatrix(spec: PhantomSpec) -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3, :3] = rotationMatrix(spec.headRotationDeg)
    matrix[:3, 3] = spec.headCenterRas
    return matrix


class SamplingGrid:
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


def randomFields(rng: np.random.Generator) -> np.ndarray:
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


def sampleFields(fields: np.ndarray, headToRas: np.ndarray, shapeKji, ijkToRas: np.ndarray) -> np.ndarray:
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


def partialVolumeRamp(insideMm, widthMm: float):
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


def _unionDistance(grid: SamplingGrid, ellipsoids, mirror: bool = False, marginMm: float = 12.0):
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


def tissueModel(spec: PhantomSpec, grid: SamplingGrid, fields, widthMm: float) -> dict:
    """Tissue fractions (each of the whole voxel) and pathology shares (of parenchyma) on one grid.

    :param fields: the lattice fields sampled on ``grid`` (``[field, k, j, i]``).
    :param widthMm: width of the partial-volume ramp at boundaries (about the voxel size).
    """
    x, y, z = grid.coordinates()
    gyral, sulcal, texture, border, _, fatField = fields
    semiX, semiY, semiZUp, semiZDown = HEAD_SEMI_AXES_MM
    dHead = _ellipsoidDistance(x, y, z, (0.0, 0.0, 0.0), (semiX, semiY, np.where(z > 0, np.float32(semiZUp), np.float32(semiZDown))))
    head = partialVolumeRamp(-dHead, widthMm)
    innerScalp = partialVolumeRamp(-(dHead + 5.5), widthMm)
    above = z - skullBaseHeightMm(x, y)
    sinusDistance, _ = _unionDistance(grid, _SINUSES)
    eyeDistance, _ = _unionDistance(grid, _EYES)
    sinus = partialVolumeRamp(-sinusDistance, widthMm)
    eye = partialVolumeRamp(-eyeDistance, widthMm) * (1.0 - sinus)
    intracranial = partialVolumeRamp(-(dHead + 12.0), widthMm) * partialVolumeRamp(above, widthMm) * partialVolumeRamp(sinusDistance - 2.0, widthMm) * partialVolumeRamp(eyeDistance - 4.0, widthMm)
    # Depth below the brain surface (mm): the cortex, sulci and susceptibility artifacts follow it.
    depth = np.minimum(-(dHead + 14.0 + 1.2 * gyral), above - 2.5)
    depth = np.minimum(depth, np.minimum(sinusDistance - 4.0, eyeDistance - 6.0))
    brain = np.minimum(partialVolumeRamp(depth, widthMm), intracranial)

    scalp = np.clip(head - innerScalp, 0.0, 1.0)
    fatShare = np.clip(0.35 + 0.25 * fatField, 0.0, 0.9)
    sinusAir = innerScalp * sinus
    eyeFraction = innerScalp * eye
    rest = np.clip(innerScalp - sinusAir - eyeFraction - intracranial, 0.0, 1.0)
    softTissue = rest * partialVolumeRamp(-above - 14.0, 4.0)
    bone = rest - softTissue

    ventricles, _ = _unionDistance(grid, _scaled(_VENTRICLES, spec.ventricleScale), mirror=True)
    midline, _ = _unionDistance(grid, _scaled(_MIDLINE_VENTRICLES, spec.ventricleScale))
    ventricleFraction = brain * partialVolumeRamp(-np.minimum(ventricles, midline), widthMm)
    choroidCenter, choroidRadius = _CHOROID
    choroidDistance, _ = _unionDistance(grid, [(choroidCenter, (choroidRadius,) * 3)], mirror=True)
    choroid = ventricleFraction * partialVolumeRamp(-choroidDistance, widthMm)
    deepDistance, _ = _unionDistance(grid, _DEEP_GREY, mirror=True)
    deepShare = partialVolumeRamp(-deepDistance, widthMm)
    # Interhemispheric fissure: a midline cleft from the vertex down to the corpus callosum (or to the
    # floor at the frontal and occipital poles), treated as one more sulcus.
    callosumTop = 28.0 - 70.0 * _sigmoid((np.abs(y) - 38.0) / 5.0)
    fissureDistance = np.abs(x + 0.8 * gyral) + 3.0 * partialVolumeRamp(callosumTop - z, 6.0) * 10.0
    sulcalDistance = np.minimum(np.abs(sulcal), fissureDistance)
    sulcusShare = partialVolumeRamp(spec.sulcalHalfWidthMm - sulcalDistance, widthMm) * partialVolumeRamp(17.0 - depth, 4.0) * (1.0 - deepShare)
    sulcusShare = np.maximum(sulcusShare, partialVolumeRamp(spec.sulcalHalfWidthMm + 0.4 - fissureDistance, widthMm))
    nonVentricle = brain - ventricleFraction
    sulcalCsf = nonVentricle * sulcusShare
    parenchyma = nonVentricle - sulcalCsf
    cortex = np.maximum(partialVolumeRamp(2.8 - depth, widthMm), partialVolumeRamp(spec.sulcalHalfWidthMm + 2.8 - sulcalDistance, widthMm) * partialVolumeRamp(19.0 - depth, 4.0))
    greyShare = cortex * (1.0 - deepShare)
    csf = np.clip(intracranial - brain, 0.0, 1.0) + (ventricleFraction - choroid) + sulcalCsf

    pathologies = []
    if spec.whiteMatterHyperintensity > 0:
        severity = spec.whiteMatterHyperintensity
        caps, _ = _unionDistance(grid, _scaled(_VENTRICLES[1:4], spec.ventricleScale * 1.35), mirror=True)
        caps = caps - 2.0 * severity + 1.5 * border
        # Deep punctate and patchy lesions: the peaks of the border field.
        punctate = partialVolumeRamp(border - 2.6 + 0.8 * severity, 0.4)
        deepWhite = partialVolumeRamp(depth - 12.0, 4.0) * (1.0 - greyShare) * (1.0 - deepShare)
        share = np.maximum(partialVolumeRamp(-caps, widthMm), punctate) * deepWhite * (1.0 - ventricleFraction)
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
        pathologies.append({"kind": lesion.kind, "lesion": lesion, "box": box, "share": partialVolumeRamp(inward, widthMm), "inward": inward})
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


def composeContrast(model: dict, contrast: str, bValue: float = 0.0):
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
        cavity = partialVolumeRamp(inward - 3.0, 2.0) if kind == "old" else None
        if weighted is not None:
            pathologyWeighted = pathologyBase * attenuation(_pathologyAdc(kind, lesion, inward, texture[box]))
            if cavity is not None:
                pathologyWeighted = (1.0 - cavity) * pathologyWeighted + cavity * csfSignal * attenuation(np.float32(_PROPERTIES["csf"][1]))
            weighted[box] = (1.0 - share) * weighted[box] + share * pathologyWeighted
        if cavity is not None:
            pathologyBase = (1.0 - cavity) * pathologyBase + cavity * csfSignal
        baseline[box] = (1.0 - share) * underlying + share * pathologyBase
    return total + model["parenchyma"] * (baseline if weighted is None else weighted)


def labelMaps(model: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
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
