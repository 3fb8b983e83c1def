"""Geometry and file handling of the core image module."""

import gzip

import nibabel as nib
import numpy as np
import pytest
from testfiles import saveNifti

from AISCommonLib.core.errors import GeometryError, InputError, OutputExistsError
from AISCommonLib.core.image import (
    Volume,
    fromSimpleITK,
    loadVolume,
    rasToVoxel,
    requireSameGrid,
    resampleToGrid,
    toSimpleITK,
    voxelToRas,
    writeNifti,
)
from AISCommonLib.synthetic.tinycases import rotationAffine

OBLIQUE = rotationAffine(spacing=(0.9, 1.1, 3.0), anglesDeg=(12.0, -7.0, 20.0), origin=(10.0, -30.0, 5.0))


def test_load_keeps_voxels_in_kji_order_and_the_affine(tmp_path):
    data = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    path = saveNifti(data, OBLIQUE, tmp_path / "x.nii.gz")
    volume = loadVolume(path)
    assert volume.array.shape == (6, 5, 4)
    assert volume.array[5, 4, 3] == data[3, 4, 5]
    np.testing.assert_allclose(volume.ijkToRas, nib.load(path).affine, atol=1e-6)
    np.testing.assert_allclose(volume.spacingMm, [0.9, 1.1, 3.0], atol=1e-5)
    assert volume.voxelVolumeMm3 == pytest.approx(0.9 * 1.1 * 3.0, rel=1e-5)


def test_write_then_read_round_trip_sets_qform_and_sform(tmp_path):
    mask = np.zeros((6, 5, 4), dtype=bool)
    mask[2, 3, 1] = True
    path = tmp_path / "m.nii.gz"
    writeNifti(mask, OBLIQUE, path, dtype=np.uint8)
    header = nib.load(path).header
    assert int(header["qform_code"]) == 1 and int(header["sform_code"]) == 1
    np.testing.assert_allclose(header.get_qform(), OBLIQUE, atol=1e-5)
    np.testing.assert_allclose(header.get_sform(), OBLIQUE, atol=1e-5)
    assert header.get_data_dtype() == np.uint8
    assert np.array_equal(loadVolume(path).array.astype(bool), mask)


def test_refuses_to_overwrite_when_asked_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "m.nii.gz"
    writeNifti(np.zeros((2, 2, 2), np.uint8), np.eye(4), path)
    with pytest.raises(OutputExistsError):
        writeNifti(np.ones((2, 2, 2), np.uint8), np.eye(4), path, overwrite=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.nii.gz"]
    assert loadVolume(path).array.max() == 0


def test_sform_wins_when_qform_disagrees(tmp_path):
    image = nib.Nifti1Image(np.zeros((3, 3, 3), np.float32), np.eye(4))
    sform = np.diag([2.0, 2.0, 2.0, 1.0])
    image.set_qform(np.eye(4), code=1)
    image.set_sform(sform, code=2)
    nib.save(image, tmp_path / "q.nii.gz")
    volume = loadVolume(tmp_path / "q.nii.gz")
    assert volume.affineSource == "sform"
    np.testing.assert_allclose(volume.ijkToRas, sform)


def test_corrupt_and_truncated_files_give_one_sentence_naming_the_file(tmp_path):
    corrupt = tmp_path / "corrupt.nii.gz"
    corrupt.write_bytes(b"this is not nifti at all")
    full = saveNifti(np.random.default_rng(0).random((30, 30, 30)), np.eye(4), tmp_path / "full.nii.gz")
    truncated = tmp_path / "truncated.nii.gz"
    truncated.write_bytes(full.read_bytes()[: len(full.read_bytes()) // 2])
    for path in (corrupt, truncated):
        with pytest.raises(InputError, match=path.name):
            loadVolume(path)
    with pytest.raises(InputError, match="does not exist"):
        loadVolume(tmp_path / "absent.nii.gz")
    plainGzip = tmp_path / "plain.nii.gz"
    plainGzip.write_bytes(gzip.compress(b"\x00" * 100))
    with pytest.raises(InputError, match="plain.nii.gz"):
        loadVolume(plainGzip)


def test_4d_and_nan_are_refused_unless_allowed(tmp_path):
    series = saveNifti(np.zeros((3, 3, 3, 2)), np.eye(4), tmp_path / "s.nii.gz")
    with pytest.raises(InputError, match="4D with 2 frames"):
        loadVolume(series)
    assert loadVolume(series, allowSeries=True).array.shape == (2, 3, 3, 3)
    single = saveNifti(np.zeros((3, 3, 3, 1)), np.eye(4), tmp_path / "one.nii.gz")
    assert loadVolume(single).array.shape == (3, 3, 3)
    data = np.ones((3, 3, 3))
    data[1, 1, 1] = np.nan
    data[0, 0, 0] = np.inf
    nanPath = saveNifti(data, np.eye(4), tmp_path / "nan.nii.gz")
    with pytest.raises(InputError, match="2 NaN or infinite"):
        loadVolume(nanPath)
    assert np.isnan(loadVolume(nanPath, allowNonFinite=True).array[1, 1, 1])


def test_same_grid_check_reports_shape_and_affine_differences():
    reference = Volume(np.zeros((4, 5, 6)), OBLIQUE)
    requireSameGrid(reference, Volume(np.zeros((4, 5, 6)), OBLIQUE + 1e-6))
    with pytest.raises(GeometryError, match="6 x 5 x 4"):
        requireSameGrid(reference, Volume(np.zeros((5, 5, 6)), OBLIQUE))
    shifted = OBLIQUE.copy()
    shifted[0, 3] += 0.5
    with pytest.raises(GeometryError, match="differ by up to 0.5"):
        requireSameGrid(reference, Volume(np.zeros((4, 5, 6)), shifted))


def test_voxel_and_ras_conversions_are_inverse():
    kji = np.array([[3.0, 2.0, 1.0]])
    ras = voxelToRas(OBLIQUE, kji)
    np.testing.assert_allclose(ras[0], (OBLIQUE @ [1.0, 2.0, 3.0, 1.0])[:3])
    np.testing.assert_allclose(rasToVoxel(OBLIQUE, ras[0]), kji[0], atol=1e-9)


def test_simpleitk_round_trip_keeps_oblique_geometry():
    volume = Volume(np.random.default_rng(1).random((4, 5, 6)).astype(np.float32), OBLIQUE)
    image = toSimpleITK(volume)
    lpsPoint = image.TransformIndexToPhysicalPoint((1, 2, 3))
    rasPoint = (OBLIQUE @ [1, 2, 3, 1])[:3]
    np.testing.assert_allclose(lpsPoint, [-rasPoint[0], -rasPoint[1], rasPoint[2]], atol=1e-6)
    back = fromSimpleITK(image)
    np.testing.assert_allclose(back.ijkToRas, OBLIQUE, atol=1e-9)
    assert np.array_equal(back.array, volume.array)


def test_resampling_maps_world_positions_onto_the_reference_grid():
    fine = rotationAffine(spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0))
    coarse = rotationAffine(spacing=(2.0, 2.0, 2.0), origin=(0.0, 0.0, 0.0))
    array = np.zeros((20, 20, 20), np.float32)
    array[8:12, 8:12, 8:12] = 100.0  # world 8..11 mm in each axis
    resampled = resampleToGrid(Volume(array, fine), Volume(np.zeros((10, 10, 10)), coarse), "nearest")
    assert resampled.gridShape == (10, 10, 10)
    np.testing.assert_allclose(resampled.ijkToRas, coarse)
    assert resampled.array[5, 5, 5] == 100.0 and resampled.array[2, 2, 2] == 0.0


@pytest.fixture
def withoutNibabel(monkeypatch):
    """Force the SimpleITK path that a fresh Slicer (no nibabel installed yet) takes."""
    from AISCommonLib.core import image

    monkeypatch.setattr(image, "nibabelAvailable", lambda: False)


def test_simpleitk_fallback_reads_like_nibabel(tmp_path, withoutNibabel):
    data = np.random.default_rng(2).random((4, 5, 6)).astype(np.float32)
    path = saveNifti(data, OBLIQUE, tmp_path / "x.nii.gz")
    volume = loadVolume(path)
    assert volume.affineSource == "itk"
    np.testing.assert_allclose(volume.ijkToRas, OBLIQUE, atol=1e-5)
    assert np.array_equal(volume.array, data.transpose(2, 1, 0))
    series = saveNifti(np.zeros((4, 5, 6, 2)), OBLIQUE, tmp_path / "s.nii.gz")
    assert loadVolume(series, allowSeries=True).array.shape == (2, 6, 5, 4)
    with pytest.raises(InputError, match="4D with 2 frames"):
        loadVolume(series)
    corrupt = tmp_path / "c.nii.gz"
    corrupt.write_bytes(b"garbage")
    with pytest.raises(InputError, match="c.nii.gz"):
        loadVolume(corrupt)


def test_simpleitk_fallback_writes_qform_and_sform(tmp_path, withoutNibabel):
    mask = np.zeros((6, 5, 4), dtype=np.uint8)
    mask[1, 2, 3] = 1
    writeNifti(mask, OBLIQUE, tmp_path / "m.nii.gz")
    written = nib.load(tmp_path / "m.nii.gz")
    assert int(written.header["sform_code"]) > 0 and int(written.header["qform_code"]) > 0
    np.testing.assert_allclose(written.affine, OBLIQUE, atol=1e-5)
    assert np.array_equal(np.asanyarray(written.dataobj).transpose(2, 1, 0), mask)


def test_atomic_writes_get_ordinary_permissions(tmp_path):
    import os

    previous = os.umask(0o022)
    try:
        writeNifti(np.zeros((2, 2, 2), np.uint8), np.eye(4), tmp_path / "shared.nii.gz")
    finally:
        os.umask(previous)
    assert (tmp_path / "shared.nii.gz").stat().st_mode & 0o777 == 0o644
