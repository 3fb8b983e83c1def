"""Images as the library sees them: a voxel array in [k, j, i] order plus its IJK-to-RAS matrix.

This is the one module that converts between nibabel (RAS, arrays [i, j, k]), SimpleITK (LPS,
arrays [k, j, i]) and the core convention, which matches Slicer's (RAS, arrays [k, j, i]).
"""

import dataclasses
import importlib.util
import logging
import os
import zlib
from pathlib import Path

import numpy as np

from .errors import GeometryError, InputError
from .imagelimits import BoundedStream, DeclaredSize, ImageLimits, checkDeclaredSize

logger = logging.getLogger(__name__)

#: Largest difference allowed between two affines (mm, or unitless for direction terms) that still
#: counts as the same grid; scanners and converters round header floats around 1e-5.
GRID_TOLERANCE = 1e-4

RAS_FROM_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


@dataclasses.dataclass
class Volume:
    """A 3D image (or a 4D series, frames first) on a voxel grid in RAS world space.

    :param array: voxels, shape ``(k, j, i)`` or ``(t, k, j, i)`` for a series.
    :param ijkToRas: 4x4 matrix mapping voxel indices (i, j, k, 1) to RAS millimetres.
    :param path: file the volume was read from, if any.
    :param affineSource: which NIfTI header field gave the matrix: ``sform``, ``qform`` or ``fallback``.
    """

    array: np.ndarray
    ijkToRas: np.ndarray
    path: Path | None = None
    affineSource: str = "sform"

    @property
    def gridShape(self) -> tuple[int, int, int]:
        """Spatial shape ``(k, j, i)``, also for a series."""
        return tuple(self.array.shape[-3:])

    @property
    def spacingMm(self) -> np.ndarray:
        """Voxel size along (i, j, k) in mm."""
        return np.linalg.norm(self.ijkToRas[:3, :3], axis=0)

    @property
    def voxelVolumeMm3(self) -> float:
        """Volume of one voxel in mm^3 (absolute determinant, so oblique grids are exact)."""
        return float(abs(np.linalg.det(self.ijkToRas[:3, :3])))

    @property
    def isSeries(self) -> bool:
        return self.array.ndim == 4

    def label(self) -> str:
        """Name to use in messages: the file name when known."""
        return self.path.name if self.path else "image"

    def withArray(self, array: np.ndarray) -> "Volume":
        """A volume on the same grid with other voxels (a derived map such as eADC or a mask)."""
        if array.shape[-3:] != self.gridShape:
            raise GeometryError(f"Derived array of shape {array.shape} does not fit the grid {self.gridShape} of {self.label()}.")
        return Volume(array, self.ijkToRas.copy(), None, self.affineSource)


def _describe(path: Path) -> str:
    return f"'{path}'"


def nibabelAvailable() -> bool:
    """nibabel is the reference NIfTI reader; inside Slicer it may not be installed yet."""
    return importlib.util.find_spec("nibabel") is not None


def _readWithNibabel(path: Path, declared: DeclaredSize) -> tuple[np.ndarray, np.ndarray, str]:
    """Read through a :class:`BoundedStream` that ends where the checked header says the voxel data ends."""
    import nibabel as nib

    imageClass = nib.Nifti1Image if declared.version == 1 else nib.Nifti2Image
    try:
        with BoundedStream(path, declared.dataOffset + declared.dataBytes) as stream:
            holder = nib.fileholders.FileHolder(filename=str(path), fileobj=stream)
            image = imageClass.from_file_map({"image": holder}, mmap=False)
            data = np.asanyarray(image.dataobj)
    except (OSError, EOFError, ValueError, zlib.error, nib.filebasedimages.ImageFileError, nib.spatialimages.HeaderDataError) as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        raise InputError(f"Could not read the image {_describe(path)}: it is corrupt, truncated or not NIfTI ({reason}).") from None
    header = image.header
    sformCode, qformCode = int(header["sform_code"]), int(header["qform_code"])
    source = "sform" if sformCode > 0 else "qform" if qformCode > 0 else "fallback"
    if sformCode > 0 and qformCode > 0 and not np.allclose(header.get_sform(), header.get_qform(), atol=GRID_TOLERANCE):
        logger.info("%s: qform and sform disagree; using the sform as nibabel and ITK do.", path.name)
    data = _squeezeSingleVolume(data, volumeAxis=3)
    return (nibabelToKji(data) if data.ndim in (3, 4) else data), np.asarray(image.affine, dtype=np.float64), source


def _squeezeSingleVolume(data: np.ndarray, volumeAxis: int) -> np.ndarray:
    """A 4D (or 5D, as some converters write vector images) file with one volume is a 3D image."""
    while data.ndim > 3 and data.shape[volumeAxis if volumeAxis >= 0 else data.ndim + volumeAxis] == 1:
        data = np.squeeze(data, axis=volumeAxis)
    return data


def _readWithSimpleITK(path: Path, declared: DeclaredSize) -> tuple[np.ndarray, np.ndarray, str]:
    """Fallback reader (SimpleITK ships with Slicer); ITK applies the same sform-first rule to orthonormal headers.

    ITK reads exactly the voxel data the (already checked) header declares, so decompression stays bounded.
    """
    import SimpleITK as sitk

    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as error:
        firstLine = str(error).strip().splitlines()[-1] if str(error).strip() else "unknown ITK error"
        raise InputError(f"Could not read the image {_describe(path)}: it is corrupt, truncated or not NIfTI ({firstLine}).") from None
    data = sitk.GetArrayFromImage(image)
    dimension = image.GetDimension()
    data = _squeezeSingleVolume(data, volumeAxis=0)
    spacing = np.asarray(image.GetSpacing()[:3], dtype=np.float64)
    direction = np.asarray(image.GetDirection(), dtype=np.float64).reshape(dimension, dimension)[:3, :3]
    ijkToLps = np.eye(4)
    ijkToLps[:3, :3] = direction * spacing
    ijkToLps[:3, 3] = image.GetOrigin()[:3]
    return data, RAS_FROM_LPS @ ijkToLps, "itk"


def loadVolume(path, allowSeries: bool = False, allowNonFinite: bool = False, limits: ImageLimits | None = None) -> Volume:
    """Read a NIfTI file into a :class:`Volume`, checking everything a user may get wrong.

    The header is sized first (:func:`~AISCommonLib.core.imagelimits.checkDeclaredSize`): an image declaring
    more voxel data than ``limits`` is refused before anything is allocated, and a ``.nii.gz`` is never
    inflated past its declared voxel data. The matrix follows nibabel's rule (sform if its code is set,
    else qform, else scaling only), the same that ITK and Slicer apply to orthonormal headers; which one
    was used is kept in ``affineSource``. Without nibabel (a fresh Slicer) SimpleITK reads the file
    (``affineSource`` ``itk``). A 4D file with one volume is a 3D image.

    :param path: ``.nii`` or ``.nii.gz`` file.
    :param allowSeries: accept a 4D file (returned frames first); otherwise 4D is an error unless it
        has a single frame.
    :param allowNonFinite: keep NaN/inf voxels instead of refusing the file.
    :param limits: size limits; None for :meth:`ImageLimits.fromEnvironment` (1 GiB unless ``AIS_MAX_IMAGE_MIB`` is set).
    :return: the volume, array dtype as stored after NIfTI scaling.
    :raises ImageTooLargeError: the header declares more than ``limits`` allow.
    :raises InputError: missing, unreadable, truncated, wrong dimensionality or NaN/inf voxels.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"The image {_describe(path)} does not exist.")
    declared = checkDeclaredSize(path, limits)
    array, ijkToRas, source = (_readWithNibabel if nibabelAvailable() else _readWithSimpleITK)(path, declared)
    if array.ndim == 4 and not allowSeries:
        raise InputError(f"The image {_describe(path)} is 4D with {array.shape[0]} frames where a 3D image is needed.")
    if array.ndim not in (3, 4):
        raise InputError(f"The image {_describe(path)} has {array.ndim} dimensions; only 3D images (or 4D series) are supported.")
    if not allowNonFinite and np.issubdtype(array.dtype, np.floating):
        badCount = int(np.count_nonzero(~np.isfinite(array)))
        if badCount:
            raise InputError(f"The image {_describe(path)} has {badCount} NaN or infinite voxels; fix or mask them before using it.")
    return Volume(np.ascontiguousarray(array), ijkToRas, path, source)


@dataclasses.dataclass(frozen=True)
class HeaderGrid:
    """An image's grid as its header declares it, without reading voxels.

    :param shape: NIfTI order ``(i, j, k[, t])``.
    :param ijkToRas: 4x4 matrix (nibabel's sform/qform rule).
    :param zoomsMm: voxel size per axis as stored (``pixdim``).
    :param descrip: the header's free-text ``descrip`` field (converters put b values or TE there).
    """

    shape: tuple[int, ...]
    ijkToRas: np.ndarray
    zoomsMm: tuple[float, ...]
    descrip: str = ""

    @property
    def gridShape(self) -> tuple[int, ...]:
        """Spatial shape ``(i, j, k)``."""
        return tuple(self.shape[:3])

    @property
    def volumes(self) -> int:
        """Volumes in the file (1 for a 3D image)."""
        return int(np.prod(self.shape[3:])) if len(self.shape) > 3 else 1

    def sameGrid(self, other: "HeaderGrid", tolerance: float = GRID_TOLERANCE) -> bool:
        return self.gridShape == other.gridShape and bool(np.allclose(self.ijkToRas, other.ijkToRas, atol=tolerance))


def readHeaderGrid(path, limits: ImageLimits | None = None) -> HeaderGrid:
    """Shape, matrix, voxel size and ``descrip`` of a NIfTI file from its header alone (size-checked first).

    :raises ImageTooLargeError: the header declares more than ``limits`` allow.
    :raises InputError: missing or not a NIfTI file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"The image {_describe(path)} does not exist.")
    declared = checkDeclaredSize(path, limits)
    if not nibabelAvailable():
        import SimpleITK as sitk

        reader = sitk.ImageFileReader()
        reader.SetFileName(str(path))
        try:
            reader.ReadImageInformation()
        except RuntimeError as error:
            raise InputError(f"Could not read the header of {_describe(path)} ({str(error).strip().splitlines()[-1]}).") from None
        dimension = reader.GetDimension()
        ijkToLps = np.eye(4)
        direction = np.asarray(reader.GetDirection(), dtype=np.float64).reshape(dimension, dimension)[:3, :3]
        ijkToLps[:3, :3] = direction * np.asarray(reader.GetSpacing()[:3])
        ijkToLps[:3, 3] = reader.GetOrigin()[:3]
        return HeaderGrid(tuple(declared.shape), RAS_FROM_LPS @ ijkToLps, tuple(float(v) for v in reader.GetSpacing()))
    import nibabel as nib

    imageClass = nib.Nifti1Image if declared.version == 1 else nib.Nifti2Image
    try:
        with BoundedStream(path, declared.dataOffset) as stream:
            header = imageClass.header_class.from_fileobj(stream)
    except (OSError, EOFError, ValueError, zlib.error, nib.spatialimages.HeaderDataError) as error:
        raise InputError(f"Could not read the header of {_describe(path)}: it is corrupt or not NIfTI ({error}).") from None
    descrip = np.asarray(header["descrip"]).tobytes().split(b"\0", 1)[0].decode("latin-1").strip()
    return HeaderGrid(tuple(int(size) for size in header.get_data_shape()), np.asarray(header.get_best_affine(), dtype=np.float64),
                      tuple(float(value) for value in header.get_zooms()), descrip)


def nibabelToKji(data: np.ndarray) -> np.ndarray:
    """Reorder a nibabel array ``[i, j, k(, t)]`` to the core order ``[k, j, i]`` (``[t, k, j, i]``)."""
    if data.ndim == 4:
        return data.transpose(3, 2, 1, 0)
    return data.transpose(2, 1, 0)


def kjiToNibabel(array: np.ndarray) -> np.ndarray:
    """Reorder a core array ``[k, j, i]`` (``[t, k, j, i]``) to nibabel's ``[i, j, k]`` (``[i, j, k, t]``)."""
    return array.transpose(tuple(reversed(range(array.ndim))))


def gridDifference(first: Volume, second: Volume) -> float:
    """Largest absolute difference between the two IJK-to-RAS matrices (inf when shapes differ)."""
    if first.gridShape != second.gridShape:
        return float("inf")
    return float(np.abs(first.ijkToRas - second.ijkToRas).max())


def requireSameGrid(reference: Volume, other: Volume, tolerance: float = GRID_TOLERANCE) -> None:
    """Refuse ``other`` unless it lies on exactly the voxel grid of ``reference``.

    :raises GeometryError: naming both files, their shapes and the largest matrix difference.
    """
    if reference.gridShape != other.gridShape:
        raise GeometryError(
            f"{other.label()} has grid shape {kjiShapeAsIjk(other.gridShape)} but {reference.label()} has "
            f"{kjiShapeAsIjk(reference.gridShape)}; they must share the same voxel grid."
        )
    difference = gridDifference(reference, other)
    if difference > tolerance:
        raise GeometryError(
            f"{other.label()} is not on the voxel grid of {reference.label()}: their affines differ by up to "
            f"{difference:.4g} (tolerance {tolerance:g}); they must share the same voxel grid."
        )


def kjiShapeAsIjk(shape) -> str:
    """Shape written the way NIfTI tools print it (i x j x k), for messages."""
    return " x ".join(str(size) for size in reversed(tuple(shape)))


def voxelToRas(ijkToRas: np.ndarray, kjiIndices: np.ndarray) -> np.ndarray:
    """Map voxel indices given as ``[..., (k, j, i)]`` rows to RAS points ``[..., (r, a, s)]`` in mm."""
    ijk = np.asarray(kjiIndices, dtype=np.float64)[..., ::-1]
    return ijk @ ijkToRas[:3, :3].T + ijkToRas[:3, 3]


def rasToVoxel(ijkToRas: np.ndarray, ras) -> np.ndarray:
    """Map a RAS point (mm) to continuous voxel coordinates ``(k, j, i)``."""
    ijk = np.linalg.solve(ijkToRas, np.append(np.asarray(ras, dtype=np.float64), 1.0))[:3]
    return ijk[::-1]


def toSimpleITK(volume: Volume):
    """Convert a 3D volume to a SimpleITK image (LPS physical space, same voxels)."""
    import SimpleITK as sitk

    if volume.isSeries:
        raise InputError(f"{volume.label()} is a 4D series; pick one frame before converting it.")
    image = sitk.GetImageFromArray(volume.array)
    ijkToLps = RAS_FROM_LPS @ volume.ijkToRas
    spacing = volume.spacingMm
    image.SetSpacing(tuple(float(s) for s in spacing))
    image.SetOrigin(tuple(float(v) for v in ijkToLps[:3, 3]))
    image.SetDirection(tuple(float(v) for v in (ijkToLps[:3, :3] / spacing).ravel()))
    return image


def fromSimpleITK(image, path: Path | None = None) -> Volume:
    """Convert a SimpleITK image (LPS) to a :class:`Volume` (RAS)."""
    import SimpleITK as sitk

    spacing = np.asarray(image.GetSpacing(), dtype=np.float64)
    direction = np.asarray(image.GetDirection(), dtype=np.float64).reshape(3, 3)
    ijkToLps = np.eye(4)
    ijkToLps[:3, :3] = direction * spacing
    ijkToLps[:3, 3] = image.GetOrigin()
    return Volume(sitk.GetArrayFromImage(image), RAS_FROM_LPS @ ijkToLps, path)


def resampleToGrid(volume: Volume, reference: Volume, interpolation: str = "linear") -> Volume:
    """Resample ``volume`` onto the voxel grid of ``reference`` (world positions kept, RAS).

    Used only where a computation needs voxel-wise comparison (e.g. FLAIR hints on the DWI grid);
    display never resamples.

    :param interpolation: ``linear`` for intensities, ``nearest`` for labels.
    :return: a volume with ``reference``'s grid; voxels outside ``volume`` become 0.
    """
    import SimpleITK as sitk

    if gridDifference(volume, reference) <= GRID_TOLERANCE:
        return volume
    interpolator = {"linear": sitk.sitkLinear, "nearest": sitk.sitkNearestNeighbor}[interpolation]
    moving = toSimpleITK(volume if volume.array.dtype != bool else volume.withArray(volume.array.astype(np.uint8)))
    fixed = toSimpleITK(reference.withArray(np.zeros(reference.gridShape, dtype=np.uint8)))
    resampled = sitk.Resample(moving, fixed, sitk.Transform(), interpolator, 0.0, moving.GetPixelID())
    result = fromSimpleITK(resampled)
    result.ijkToRas = reference.ijkToRas.copy()
    return result


def writeNifti(array: np.ndarray, ijkToRas: np.ndarray, path, dtype=None, overwrite: bool = True) -> None:
    """Write a ``[k, j, i]`` array as NIfTI with qform and sform both set to ``ijkToRas`` (code 1).

    Source files often carry differing qform/sform codes; writing both identical makes every reader
    (nibabel, ITK, Slicer, FSL) agree on the geometry. The write is atomic. Without nibabel, SimpleITK
    writes the file (it also sets both qform and sform).

    :param overwrite: when False, refuse if ``path`` exists (OutputExistsError).
    """
    from .atomicio import atomicWritePath

    data = np.asarray(array if dtype is None else array.astype(dtype))
    with atomicWritePath(Path(path), overwrite) as temporaryPath:
        if nibabelAvailable():
            import nibabel as nib

            image = nib.Nifti1Image(np.ascontiguousarray(kjiToNibabel(data)), ijkToRas)
            image.set_qform(ijkToRas, code=1)
            image.set_sform(ijkToRas, code=1)
            image.header.set_xyzt_units(xyz="mm")
            nib.save(image, os.fspath(temporaryPath))
        else:
            import SimpleITK as sitk

            sitk.WriteImage(toSimpleITK(Volume(data, ijkToRas)), os.fspath(temporaryPath), useCompression=True)
