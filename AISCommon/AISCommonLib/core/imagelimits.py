"""Resource safety when reading images: refuse oversized headers before allocating, bound decompression.

A NIfTI header is 348 (NIfTI-1) or 540 (NIfTI-2) bytes and declares the grid and the voxel type; a
reader that trusts it allocates whatever it declares (a header claiming 2000^3 float32 voxels asks for
30 GiB), and a ``.nii.gz`` can inflate a few kilobytes into gigabytes. So every image is first sized
from its fixed header alone (parsed here with :mod:`struct`, so that a hostile extension or offset
never reaches a full parser), compared with :class:`ImageLimits`, and only then read through
:class:`BoundedStream`, which stops decompressing at the declared end of the voxel data.
"""

import dataclasses
import gzip
import io
import math
import os
import struct
from pathlib import Path

from .errors import InputError

MIB = 1024 * 1024
#: Environment variable that sets the per-image limit in MiB for every command and the modules.
LIMIT_ENVIRONMENT_VARIABLE = "AIS_MAX_IMAGE_MIB"
#: Default limit on an image's voxel data: 1 GiB holds a 4D DWI series of 65 volumes of 256x256x60
#: float32 voxels, far more than a clinical stroke protocol produces.
DEFAULT_MAX_BYTES = 1024 * MIB
#: Header extensions (between the fixed header and the voxel data) larger than this are refused:
#: real extensions (AFNI, DICOM, CIFTI) are kilobytes.
MAX_EXTENSION_BYTES = 64 * MIB
GZIP_MAGIC = b"\x1f\x8b"


class ImageTooLargeError(InputError):
    """An image declares, or would inflate to, more voxel data than the configured limit."""


@dataclasses.dataclass(frozen=True)
class ImageLimits:
    """How much voxel data one image may hold.

    :param maxBytes: largest voxel data of one image as stored (bytes); also the most a ``.nii.gz`` may
        inflate to (plus its header).
    :param maxVoxels: largest voxel count (all volumes of a series); default ``maxBytes // 4``, because
        computations turn voxels into float32.
    """

    maxBytes: int = DEFAULT_MAX_BYTES
    maxVoxels: int | None = None

    @property
    def voxelLimit(self) -> int:
        return self.maxVoxels if self.maxVoxels is not None else self.maxBytes // 4

    @classmethod
    def fromMib(cls, mib: float) -> "ImageLimits":
        """Limits for ``mib`` MiB of voxel data.

        :raises InputError: a limit that is not a positive number.
        """
        if not (isinstance(mib, (int, float)) and math.isfinite(mib) and mib > 0):
            raise InputError(f"The image size limit must be a positive number of MiB, not {mib!r}.")
        return cls(maxBytes=int(mib * MIB))

    @classmethod
    def fromEnvironment(cls) -> "ImageLimits":
        """The default limits, or ``AIS_MAX_IMAGE_MIB`` MiB when that variable is set.

        :raises InputError: the variable is set but is not a positive number.
        """
        value = os.environ.get(LIMIT_ENVIRONMENT_VARIABLE, "").strip()
        if not value:
            return cls()
        try:
            return cls.fromMib(float(value))
        except ValueError:
            raise InputError(f"{LIMIT_ENVIRONMENT_VARIABLE}={value!r} is not a number of MiB.") from None

    def describe(self) -> str:
        return f"{_formatBytes(self.maxBytes)} of voxel data and {self.voxelLimit:,} voxels per image"


def resolveLimits(limits: "ImageLimits | None") -> "ImageLimits":
    """``limits``, or the defaults (with the environment variable applied) when None."""
    return limits if limits is not None else ImageLimits.fromEnvironment()


@dataclasses.dataclass(frozen=True)
class DeclaredSize:
    """What a NIfTI header declares, read from its fixed part only.

    :param shape: ``dim[1..dim[0]]`` as stored (NIfTI order ``i, j, k, t, ...``).
    :param bitsPerVoxel: ``bitpix``.
    :param dataOffset: byte offset of the voxel data (``vox_offset``, at least the header size).
    :param version: 1 or 2.
    :param compressed: the file is gzip-compressed.
    """

    shape: tuple[int, ...]
    bitsPerVoxel: int
    dataOffset: int
    version: int
    compressed: bool

    @property
    def voxels(self) -> int:
        return math.prod(self.shape) if self.shape else 0

    @property
    def dataBytes(self) -> int:
        return self.voxels * max(self.bitsPerVoxel // 8, 1)


def _formatBytes(count: float) -> str:
    for unit, size in (("GiB", 1024 * MIB), ("MiB", MIB), ("KiB", 1024)):
        if count >= size:
            return f"{count / size:.3g} {unit}"
    return f"{int(count)} bytes"


def _openStream(path: Path):
    """The file, transparently decompressed when it starts with the gzip magic (whatever its extension)."""
    with open(path, "rb") as handle:
        magic = handle.read(2)
    return gzip.open(path, "rb") if magic == GZIP_MAGIC else open(path, "rb")  # noqa: SIM115 - the caller closes it


def _notNifti(path: Path, reason: str) -> InputError:
    return InputError(f"Could not read the image '{path}': it is corrupt, truncated or not NIfTI ({reason}).")


def _parseFixedHeader(path: Path, block: bytes, compressed: bool) -> DeclaredSize:
    if len(block) < 348:
        raise _notNifti(path, f"the header is {len(block)} bytes long, a NIfTI header has at least 348")
    for order in ("<", ">"):
        sizeofHeader = struct.unpack(order + "i", block[:4])[0]
        if sizeofHeader == 348:
            dims = struct.unpack(order + "8h", block[40:56])
            bitpix = struct.unpack(order + "h", block[72:74])[0]
            offset = struct.unpack(order + "f", block[108:112])[0]
            version = 1
            break
        if sizeofHeader == 540:
            if len(block) < 540:
                raise _notNifti(path, "the NIfTI-2 header is cut short")
            bitpix = struct.unpack(order + "h", block[14:16])[0]
            dims = struct.unpack(order + "8q", block[16:80])
            offset = struct.unpack(order + "q", block[168:176])[0]
            version = 2
            break
    else:
        raise _notNifti(path, "no NIfTI-1 or NIfTI-2 header size at its start")
    rank = int(dims[0])
    if not 1 <= rank <= 7 or any(size < 0 for size in dims[1 : rank + 1]):
        raise _notNifti(path, f"its header declares the dimensions {list(dims[: rank + 1] if 0 <= rank <= 7 else dims)}")
    if bitpix <= 0 or not math.isfinite(offset):
        raise _notNifti(path, f"its header declares {bitpix} bits per voxel and a data offset of {offset}")
    headerBytes = 352 if version == 1 else 544
    # NIfTI-1 single files with vox_offset 0 keep their data right after the header (nibabel reads them so).
    dataOffset = max(int(offset), headerBytes)
    return DeclaredSize(tuple(int(size) for size in dims[1 : rank + 1]), int(bitpix), dataOffset, version, compressed)


def readDeclaredSize(path) -> DeclaredSize:
    """The grid and voxel size a NIfTI file declares, from its first 540 bytes (decompressing no more).

    :raises InputError: the file is missing, unreadable, or does not start with a NIfTI header.
    """
    path = Path(path)
    try:
        with _openStream(path) as stream:
            block = stream.read(540)
            compressed = isinstance(stream, gzip.GzipFile)
    except (OSError, EOFError) as error:
        raise _notNifti(path, str(error) or type(error).__name__) from None
    return _parseFixedHeader(path, block, compressed)


def checkDeclaredSize(path, limits: ImageLimits | None = None) -> DeclaredSize:
    """Refuse an image whose header declares more voxel data than ``limits`` allow, before anything is allocated.

    :param path: NIfTI file (``.nii`` or ``.nii.gz``).
    :param limits: None for :meth:`ImageLimits.fromEnvironment`.
    :return: the declared size, for a bounded read.
    :raises ImageTooLargeError: too many voxels, too many bytes, or an oversized header extension.
    :raises InputError: not a NIfTI file.
    """
    limits = resolveLimits(limits)
    declared = readDeclaredSize(path)
    grid = " x ".join(str(size) for size in declared.shape)
    hint = f"raise the limit with {LIMIT_ENVIRONMENT_VARIABLE} (MiB) if the image is genuine"
    if declared.voxels > limits.voxelLimit or declared.dataBytes > limits.maxBytes:
        raise ImageTooLargeError(
            f"The image '{path}' declares {grid} voxels ({declared.voxels:,} voxels, {_formatBytes(declared.dataBytes)}), "
            f"more than the limit of {limits.describe()}; it was not read ({hint})."
        )
    extensionBytes = declared.dataOffset - (352 if declared.version == 1 else 544)
    if extensionBytes > MAX_EXTENSION_BYTES:
        raise ImageTooLargeError(
            f"The image '{path}' declares {_formatBytes(extensionBytes)} of header extensions before its voxel data, "
            f"more than the {_formatBytes(MAX_EXTENSION_BYTES)} a real image carries; it was not read."
        )
    return declared


class BoundedStream(io.RawIOBase):
    """A read-only file object over a (possibly gzip-compressed) file that never yields more than ``limit`` bytes.

    Decompression happens on demand as the reader asks for bytes, so stopping at ``limit`` means a gzip
    bomb inflates no further than the declared voxel data: reads past it return nothing (end of file)
    and the reader reports a truncated file. A request larger than what is left is clamped before any
    buffer is made, so a hostile size field in the file cannot make the reader allocate it.
    """

    def __init__(self, path, limit: int):
        super().__init__()
        self._stream = _openStream(Path(path))
        self._limit = int(limit)
        self._position = 0
        self.name = str(path)

    def read(self, size: int = -1) -> bytes:
        available = self._limit - self._position
        size = available if size is None or size < 0 else min(size, available)
        if size <= 0:
            return b""
        data = self._stream.read(size)
        self._position += len(data)
        return data

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        total = 0
        while total < len(view):
            # Chunks keep each decompression step small; the buffer was sized from the checked header.
            chunk = self.read(min(len(view) - total, 16 * MIB))
            if not chunk:
                break
            view[total : total + len(chunk)] = chunk
            total += len(chunk)
        return total

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        target = {os.SEEK_SET: offset, os.SEEK_CUR: self._position + offset}.get(whence)
        if target is None:
            raise OSError("BoundedStream seeks from the start or the current position only.")
        self._position = self._stream.seek(min(max(target, 0), self._limit))
        return self._position

    def tell(self) -> int:
        return self._position

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if not self.closed:
            self._stream.close()
        super().close()
