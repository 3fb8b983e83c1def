"""Reader masks in BIDS derivatives: names, versions, sidecars, never overwritten."""

import json

import nibabel as nib
import numpy as np
import pytest

from AISCommonLib.core.atomicio import sha256File
from AISCommonLib.core.cases import discoverCases
from AISCommonLib.core.derivatives import (
    consensusMaskPath,
    latestReaderMasks,
    listReaderMasks,
    validateReaderId,
    writeReaderMask,
)
from AISCommonLib.core.errors import InputError
from AISCommonLib.core.image import loadVolume


@pytest.fixture
def caseAndDwi(simpleDataset):
    root, info = simpleDataset
    case = discoverCases(root)[0]
    return root, case, loadVolume(case.files["dwi"]), info


def test_mask_is_binary_uint8_on_the_dwi_grid_with_provenance(caseAndDwi):
    root, case, dwi, info = caseAndDwi
    record = writeReaderMask(root, case, info["truth"], dwi, "R01", "manual", {"tool": "test"})
    assert record.path.name == "sub-01_ses-01_desc-R01_dwi_lesionmask.nii.gz"
    assert record.path.parent == root / "derivatives" / "lesions" / "sub-01" / "ses-01"
    image = nib.load(record.path)
    assert image.get_data_dtype() == np.uint8 and image.shape == nib.load(case.files["dwi"]).shape
    np.testing.assert_allclose(image.header.get_qform(), dwi.ijkToRas, atol=1e-5)
    np.testing.assert_allclose(image.header.get_sform(), dwi.ijkToRas, atol=1e-5)
    assert set(np.unique(np.asanyarray(image.dataobj))) == {0, 1}
    sidecar = json.loads(record.path.with_name("sub-01_ses-01_desc-R01_dwi_lesionmask.json").read_text())
    assert sidecar["Reader"] == "R01" and sidecar["Version"] == 1 and sidecar["Method"] == "manual"
    assert sidecar["Voxels"] == int(info["truth"].sum())
    hashes = {source["Sequence"]: source["SHA256"] for source in sidecar["Sources"]}
    assert hashes["dwi"] == sha256File(case.files["dwi"])
    description = json.loads((root / "derivatives" / "lesions" / "dataset_description.json").read_text())
    assert description["DatasetType"] == "derivative"


def test_a_second_write_is_a_new_version_and_the_first_is_untouched(caseAndDwi):
    root, case, dwi, info = caseAndDwi
    first = writeReaderMask(root, case, info["truth"], dwi, "R01", "seed", {})
    firstBytes = first.path.read_bytes()
    second = writeReaderMask(root, case, np.zeros_like(info["truth"]), dwi, "R01", "manual", {})
    writeReaderMask(root, case, info["truth"], dwi, "R02", "manual", {})
    assert second.version == 2 and second.path.name == "sub-01_ses-01_desc-R01v2_dwi_lesionmask.nii.gz"
    assert first.path.read_bytes() == firstBytes
    assert [(r.reader, r.version) for r in listReaderMasks(root, case)] == [("R01", 1), ("R01", 2), ("R02", 1)]
    latest = latestReaderMasks(root, case)
    assert latest["R01"].version == 2 and latest["R02"].version == 1
    assert not consensusMaskPath(root, case).exists()


def test_wrong_grid_non_binary_and_bad_reader_ids_are_refused_and_nothing_is_written(caseAndDwi):
    root, case, dwi, info = caseAndDwi
    with pytest.raises(InputError, match="DWI grid"):
        writeReaderMask(root, case, np.zeros((3, 3, 3), bool), dwi, "R01", "manual", {})
    with pytest.raises(InputError, match="not binary"):
        writeReaderMask(root, case, info["truth"].astype(np.uint8) * 2, dwi, "R01", "manual", {})
    for reader in ("", "Dr. Smith", "R_01"):
        with pytest.raises(InputError, match="letters and digits"):
            validateReaderId(reader)
    assert listReaderMasks(root, case) == []
    assert not list((root / "derivatives" / "lesions").rglob("*.nii.gz"))


def test_a_full_disk_gives_one_sentence_and_leaves_nothing(tmp_path, monkeypatch):
    """ENOSPC while writing the sidecar: no sidecar, no mask, no temporary file, an AISError naming the file."""
    import errno

    import numpy as np

    from AISCommonLib.core import atomicio
    from AISCommonLib.core.derivatives import writeMaskWithSidecar
    from AISCommonLib.core.errors import AISError
    from AISCommonLib.core.image import Volume

    grid = Volume(np.zeros((4, 5, 6), dtype=np.float32), np.eye(4))
    target = tmp_path / "sub-01_desc-R01_dwi_lesionmask.nii.gz"
    realFsync = atomicio.os.fsync
    calls = []

    def fullDisk(descriptor):
        calls.append(descriptor)
        if len(calls) == 2:  # the mask got through, the sidecar does not
            raise OSError(errno.ENOSPC, "No space left on device")
        realFsync(descriptor)

    monkeypatch.setattr(atomicio.os, "fsync", fullDisk)
    with pytest.raises(AISError, match="No space left on device. Nothing was written"):
        writeMaskWithSidecar(target, np.zeros((4, 5, 6), dtype=bool), grid, {"Reader": "R01"})
    assert sorted(path.name for path in tmp_path.iterdir()) == []
