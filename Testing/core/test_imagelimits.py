"""Resource safety: oversized headers are refused before allocation, decompression stops at the declared data."""

import gzip
import struct
import tracemalloc

import nibabel as nib
import numpy as np
import pytest
from testfiles import saveNifti

from AISCommonLib.core.errors import InputError
from AISCommonLib.core.image import loadVolume, readHeaderGrid
from AISCommonLib.core.imagelimits import BoundedStream, ImageLimits, ImageTooLargeError, checkDeclaredSize, readDeclaredSize

MIB = 1024 * 1024


def headerBlock(shape, dtype=np.float32, version=1) -> bytes:
    header = (nib.Nifti1Header if version == 1 else nib.Nifti2Header)()
    header.set_data_shape(shape)
    header.set_data_dtype(dtype)
    header.set_sform(np.eye(4), code=1)
    return header.binaryblock + b"\0" * 4  # no extensions


def writeBomb(path, shape, dataBytes, compressed=True, version=1):
    """A header declaring ``shape`` followed by ``dataBytes`` zero bytes (a few KB once gzipped)."""
    opener = gzip.open if compressed else open
    with opener(path, "wb") as stream:
        stream.write(headerBlock(shape, version=version))
        chunk = b"\0" * min(dataBytes, 16 * MIB)
        written = 0
        while written < dataBytes:
            stream.write(chunk[: dataBytes - written])
            written += len(chunk)
    return path


def peakAllocationMib(function):
    tracemalloc.start()
    try:
        function()
    except InputError as error:
        caught = error
    else:
        caught = None
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / MIB, caught


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("compressed", [False, True])
def test_a_header_declaring_2000_cubed_voxels_is_refused_before_anything_is_allocated(tmp_path, compressed, version):
    path = writeBomb(tmp_path / f"bomb.nii{'.gz' if compressed else ''}", (2000, 2000, 2000), 1000, compressed, version)
    peak, error = peakAllocationMib(lambda: loadVolume(path))
    assert isinstance(error, ImageTooLargeError)
    assert "declares 2000 x 2000 x 2000 voxels" in str(error) and "29.8 GiB" in str(error) and path.name in str(error)
    assert "AIS_MAX_IMAGE_MIB" in str(error)
    assert peak < 5  # MiB: the 30 GiB were never asked for
    with pytest.raises(ImageTooLargeError):
        readHeaderGrid(path)


def test_a_gzip_bomb_inflates_no_further_than_the_declared_voxel_data(tmp_path):
    # Declares 64 x 64 x 64 float32 (1 MiB) but the stream inflates to 256 MiB of zeros.
    path = writeBomb(tmp_path / "gzbomb.nii.gz", (64, 64, 64), 256 * MIB)
    assert path.stat().st_size < 2 * MIB
    peak, error = peakAllocationMib(lambda: loadVolume(path))
    assert error is None
    assert peak < 8  # MiB: the declared 1 MiB (plus copies), never the 256 MiB behind it
    assert loadVolume(path).array.shape == (64, 64, 64)


def test_a_bomb_within_the_declared_size_is_bounded_by_the_configured_limit(tmp_path, monkeypatch):
    path = writeBomb(tmp_path / "big.nii.gz", (256, 256, 64), 16 * MIB)  # 16 MiB of float32
    with pytest.raises(ImageTooLargeError, match="more than the limit of 8 MiB"):
        loadVolume(path, limits=ImageLimits.fromMib(8))
    monkeypatch.setenv("AIS_MAX_IMAGE_MIB", "8")
    with pytest.raises(ImageTooLargeError):
        loadVolume(path)
    monkeypatch.setenv("AIS_MAX_IMAGE_MIB", "lots")
    with pytest.raises(InputError, match="AIS_MAX_IMAGE_MIB='lots' is not a number"):
        loadVolume(path)
    monkeypatch.delenv("AIS_MAX_IMAGE_MIB")
    assert loadVolume(path).array.shape == (64, 256, 256)
    with pytest.raises(InputError, match="positive number of MiB"):
        ImageLimits.fromMib(0)


def test_the_voxel_count_is_limited_as_well_as_the_bytes(tmp_path):
    limits = ImageLimits(maxBytes=8 * 1024**3)  # bytes allow it, voxels (2 Gi) do not
    assert limits.voxelLimit == 2 * 1024**3
    uint8 = tmp_path / "uint8.nii"
    uint8.write_bytes(nib.Nifti1Header().binaryblock)
    with open(uint8, "r+b") as stream:  # 4000^3 uint8 voxels: 59.6 GiB
        stream.seek(40)
        stream.write(struct.pack("<8h", 3, 4000, 4000, 4000, 1, 1, 1, 1))
        stream.seek(70)
        stream.write(struct.pack("<hh", 2, 8))
    with pytest.raises(ImageTooLargeError, match="64,000,000,000 voxels"):
        checkDeclaredSize(uint8, limits)


def test_a_truncated_or_broken_header_is_one_sentence(tmp_path):
    short = tmp_path / "short.nii.gz"
    short.write_bytes(gzip.compress(b"\x5c\x01\x00\x00" + b"\0" * 100))
    with pytest.raises(InputError, match="short.nii.gz.*corrupt, truncated or not NIfTI.*at least 348"):
        loadVolume(short)
    negative = tmp_path / "negative.nii"
    block = bytearray(headerBlock((4, 4, 4)))
    block[42:44] = struct.pack("<h", -5)
    negative.write_bytes(bytes(block) + b"\0" * 256)
    with pytest.raises(InputError, match="declares the dimensions"):
        loadVolume(negative)
    data = tmp_path / "data.nii.gz"
    saveNifti(np.ones((20, 20, 20)), np.eye(4), data)
    cut = tmp_path / "cut.nii.gz"
    cut.write_bytes(gzip.compress(gzip.decompress(data.read_bytes())[:5000]))
    with pytest.raises(InputError, match="cut.nii.gz.*corrupt, truncated"):
        loadVolume(cut)


def test_a_header_extension_larger_than_a_real_one_is_refused(tmp_path):
    block = bytearray(headerBlock((4, 4, 4)))
    block[108:112] = struct.pack("<f", 3e9)  # vox_offset: 3 GB of "extensions" before the data
    path = tmp_path / "extension.nii"
    path.write_bytes(bytes(block))
    with pytest.raises(ImageTooLargeError, match="header extensions"):
        loadVolume(path)


def test_declared_size_reads_both_byte_orders_and_nifti2(tmp_path):
    little = saveNifti(np.zeros((5, 6, 7, 2), np.int16), np.eye(4), tmp_path / "a.nii.gz", dtype=np.int16)
    declared = readDeclaredSize(little)
    assert (declared.shape, declared.bitsPerVoxel, declared.version, declared.compressed) == ((5, 6, 7, 2), 16, 1, True)
    big = nib.Nifti1Image(np.zeros((3, 4, 5), dtype=">f4"), np.eye(4))
    nib.save(big, tmp_path / "big.nii")
    assert readDeclaredSize(tmp_path / "big.nii").shape == (3, 4, 5)
    two = nib.Nifti2Image(np.arange(24, dtype=np.float32).reshape(2, 3, 4), np.eye(4))
    nib.save(two, tmp_path / "two.nii.gz")
    assert readDeclaredSize(tmp_path / "two.nii.gz").version == 2
    assert loadVolume(tmp_path / "two.nii.gz").array[3, 2, 1] == 1 * 12 + 2 * 4 + 3


def test_bounded_stream_never_yields_more_than_its_limit(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(b"a" * 10000))
    with BoundedStream(path, 100) as stream:
        assert len(stream.read()) == 100 and stream.read(10) == b""
        stream.seek(90)
        buffer = bytearray(50)
        assert stream.readinto(buffer) == 10
        assert stream.read(10**12) == b""  # a hostile size is clamped, never allocated


def test_single_volume_4d_and_5d_files_are_3d_images(tmp_path):
    for shape in ((4, 5, 6, 1), (4, 5, 6, 1, 1)):
        path = saveNifti(np.ones(shape), np.eye(4), tmp_path / f"x{len(shape)}.nii.gz")
        assert loadVolume(path).array.shape == (6, 5, 4)


def test_header_grid_reads_shape_matrix_and_description_without_voxels(tmp_path):
    image = nib.Nifti1Image(np.zeros((4, 5, 6, 3), np.float32), np.diag([2.0, 2.0, 4.0, 1.0]))
    image.header["descrip"] = b"b=800;TE=90"
    nib.save(image, tmp_path / "g.nii.gz")
    grid = readHeaderGrid(tmp_path / "g.nii.gz")
    assert grid.shape == (4, 5, 6, 3) and grid.volumes == 3 and grid.gridShape == (4, 5, 6)
    assert grid.descrip == "b=800;TE=90" and grid.zoomsMm[:3] == (2.0, 2.0, 4.0)
