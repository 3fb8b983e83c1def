"""DICOM import: real DICOM series written with pydicom from phantom volumes, converted by the real dcm2niix."""

import json
from pathlib import Path

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")
pytest.importorskip("dcm2niix")
pytest.importorskip("dicomanonymizer")

from dicomstudy import FORBIDDEN, writeStudy  # noqa: E402

from AISCommonLib.core.errors import AISError, InputError, OperationCancelled  # noqa: E402
from AISCommonLib.core.validate import validateDataset  # noqa: E402
from AISCommonLib.dicomimport import dcm2niixrun  # noqa: E402
from AISCommonLib.dicomimport.bidswriter import DEIDENTIFICATION_LOG_NAME, MANIFEST_NAME  # noqa: E402
from AISCommonLib.dicomimport.importer import importDicom  # noqa: E402
from AISCommonLib.dicomimport.outputs import SIDECAR_ALLOWED_KEYS  # noqa: E402
from AISCommonLib.dicomimport.seriesclassify import classifySeries  # noqa: E402

_study = writeStudy


def _allFiles(root: Path) -> dict[str, bytes]:
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def _assertNoIdentifier(root: Path) -> None:
    """No identifier value in any file name, any text file, any NIfTI header or any DICOM copy's header."""
    import gzip

    for path in sorted(root.rglob("*")):
        upperName = path.relative_to(root).as_posix().upper()
        for value in FORBIDDEN:
            assert value.upper() not in upperName, f"{value} in the name {upperName}"
        if not path.is_file():
            continue
        if path.name.endswith(".nii.gz"):
            data = gzip.decompress(path.read_bytes())[:352]
        elif path.suffix == ".dcm" or path.parent.parts and "sourcedata" in path.parts and path.suffix not in (".json",):
            dataset = pydicom.dcmread(path)
            del dataset.PixelData
            data = str(dataset).encode() + b"".join(str(dataset.file_meta).encode() for _ in [0])
        else:
            data = path.read_bytes()
        for value in FORBIDDEN:
            assert value.upper().encode() not in data.upper(), f"{value} in {path.relative_to(root)}"


def _assertSameGeometry(niftiPath: Path, array, ijkToRas, scale=1.0, frame=None):
    """Every DICOM voxel lands, through the NIfTI affine, on a NIfTI voxel with the same value."""
    import nibabel as nib

    image = nib.load(str(niftiPath))
    data = np.asarray(image.dataobj)
    if frame is not None:
        data = data[..., frame]
    k, j, i = np.meshgrid(*(np.arange(size) for size in array.shape), indexing="ij")
    ras = np.stack([i, j, k, np.ones_like(i)], axis=-1).reshape(-1, 4) @ np.asarray(ijkToRas).T
    voxel = ras @ np.linalg.inv(image.affine).T
    rounded = np.rint(voxel[:, :3]).astype(int)
    np.testing.assert_allclose(voxel[:, :3], rounded, atol=1e-3)
    expected = np.clip(np.rint(array * scale), 0, 65535).reshape(-1)
    np.testing.assert_allclose(data[rounded[:, 0], rounded[:, 1], rounded[:, 2]], expected, atol=0.5)


def test_import_writes_bids_keeps_geometry_and_removes_identifiers(tmp_path, phantom):
    dicomDir = _study(tmp_path / "dicom", phantom)
    before = _allFiles(dicomDir)
    root = tmp_path / "bids"
    result = importDicom(dicomDir, root, "P001", "01", includeAgeSex=True)
    case = root / "sub-P001" / "ses-01"
    assert {image["key"]: image["path"] for image in result.images} == {
        "dwi": "sub-P001/ses-01/dwi/sub-P001_ses-01_dwi.nii.gz",
        "adc": "sub-P001/ses-01/dwi/sub-P001_ses-01_adc.nii.gz",
        "eadc": "sub-P001/ses-01/dwi/sub-P001_ses-01_eadc.nii.gz",
        "flair": "sub-P001/ses-01/anat/sub-P001_ses-01_FLAIR.nii.gz",
        "t1w": "sub-P001/ses-01/anat/sub-P001_ses-01_T1w.nii.gz",
        "t2w": "sub-P001/ses-01/anat/sub-P001_ses-01_T2w.nii.gz",
    }
    for name in ("dwi/sub-P001_ses-01_dwi.bval", "dwi/sub-P001_ses-01_dwi.bvec", "dwi/sub-P001_ses-01_dwi.json",
                 "anat/sub-P001_ses-01_FLAIR.json"):
        assert (case / name).is_file(), name
    assert not (case / "dwi" / "sub-P001_ses-01_adc.bval").exists()
    assert [float(value) for value in (case / "dwi" / "sub-P001_ses-01_dwi.bval").read_text().split()] == [0.0, 1000.0]
    assert any("not DICOM" in warning for warning in result.warnings)

    dwiSidecar = json.loads((case / "dwi" / "sub-P001_ses-01_dwi.json").read_text())
    assert dwiSidecar["MagneticFieldStrength"] == 3
    assert dwiSidecar["EchoTime"] == pytest.approx(0.08)
    assert dwiSidecar["RepetitionTime"] == pytest.approx(5.0)
    assert dwiSidecar["SliceThickness"] == pytest.approx(5.0)
    flairSidecar = json.loads((case / "anat" / "sub-P001_ses-01_FLAIR.json").read_text())
    assert flairSidecar["InversionTime"] == pytest.approx(2.5)
    for sidecar in (dwiSidecar, flairSidecar):
        assert set(sidecar) <= SIDECAR_ALLOWED_KEYS and "AcquisitionDateTime" not in sidecar and "StudyInstanceUID" not in sidecar

    # Geometry: DICOM voxel -> RAS (from IPP/IOP/PixelSpacing) -> NIfTI voxel, same value (oblique DWI grid).
    _assertSameGeometry(case / "dwi" / "sub-P001_ses-01_dwi.nii.gz", phantom.b0, phantom.dwiIjkToRas, 10.0, frame=0)
    _assertSameGeometry(case / "dwi" / "sub-P001_ses-01_dwi.nii.gz", phantom.dwi, phantom.dwiIjkToRas, 10.0, frame=1)
    _assertSameGeometry(case / "dwi" / "sub-P001_ses-01_adc.nii.gz", phantom.adcMicro, phantom.dwiIjkToRas)
    _assertSameGeometry(case / "anat" / "sub-P001_ses-01_FLAIR.nii.gz", phantom.flair, phantom.flairIjkToRas)

    # Dataset files, participants (age capped, sex), originals untouched, copies de-identified.
    description = json.loads((root / "dataset_description.json").read_text())
    assert description["Name"] and description["BIDSVersion"]
    assert (root / "participants.tsv").read_text().splitlines() == ["participant_id\tage\tsex", "sub-P001\t77\tM"]
    assert _allFiles(dicomDir) == before
    copies = sorted((root / "sourcedata" / "sub-P001" / "ses-01" / "dicom").rglob("*.dcm"))
    assert len(copies) == 8 * 2 + 8 * 5
    assert {copy.parent.name.rsplit("-", 1)[0] for copy in copies} == {f"series-00{number}" for number in range(3, 9)}
    copy = pydicom.dcmread(copies[0])
    assert str(copy.PatientName) == "sub-P001" and copy.PatientID == "sub-P001" and "PatientBirthDate" not in copy
    assert "InstitutionName" not in copy and "OtherPatientIDs" not in copy and copy.StudyDate < "20240315"
    assert copy.PatientIdentityRemoved == "YES"
    assert copy.SOPInstanceUID.startswith("2.25.")
    log = json.loads((root / "sourcedata" / "sub-P001" / "ses-01" / DEIDENTIFICATION_LOG_NAME).read_text())
    entry = next(iter(log["series"].values()))
    assert {"InstitutionName", "OtherPatientIDs", "OperatorsName"} <= set(entry["rules"]["removed (X)"])
    assert {"AccessionNumber", "ReferringPhysicianName", "StudyID"} <= set(entry["rules"]["emptied (Z)"])
    _assertNoIdentifier(root)
    manifest = json.loads((root / "sourcedata" / MANIFEST_NAME).read_text())
    assert len(manifest["series"]) == 6
    assert "1.2.826" not in json.dumps(manifest)  # no raw UID (pydicom's generate_uid root)

    findings = validateDataset(root)
    assert [finding for finding in findings if finding.severity == "error"] == []


def test_reimport_is_idempotent_and_new_series_are_added(tmp_path, phantom):
    dicomDir = _study(tmp_path / "dicom", phantom, withFlair=False, extraFiles=False)
    root = tmp_path / "bids"
    first = importDicom(dicomDir, root, "sub-02")
    assert first.images and (root / "sub-02" / "dwi" / "sub-02_dwi.nii.gz").is_file()
    assert any("FLAIR" in warning for warning in first.warnings)
    snapshot = _allFiles(root)
    again = importDicom(dicomDir, root, "02")
    assert again.written == [] and len(again.alreadyImported) == 3
    assert _allFiles(root) == snapshot
    # A later export with the FLAIR and T1/T2 series adds only those.
    _study(tmp_path / "dicom2", phantom, withDwi=False, withMaps=False, extraFiles=False)
    third = importDicom(tmp_path / "dicom2", root, "02")
    assert {image["key"] for image in third.images} >= {"flair", "t1w", "t2w"}
    assert (root / "participants.tsv").read_text().splitlines() == ["participant_id", "sub-02"]
    assert (root / "sub-02" / "anat" / "sub-02_FLAIR.nii.gz").is_file()


@pytest.mark.parametrize("kind", ["empty", "not-dicom", "no-dwi", "bad-label"])
def test_bad_input_is_one_sentence_and_writes_nothing(tmp_path, phantom, kind):
    dicomDir = tmp_path / "dicom"
    dicomDir.mkdir()
    label = "P1"
    if kind == "not-dicom":
        (dicomDir / "readme.txt").write_text("hello\n")
        (dicomDir / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 200)
    elif kind == "no-dwi":
        _study(dicomDir, phantom, withDwi=True)
        for path in (dicomDir / "DOE_JOHNATHAN_MRN98765432" / "S3").iterdir():
            path.unlink()
    elif kind == "bad-label":
        label = "P_1"
    root = tmp_path / "bids"
    with pytest.raises(InputError) as caught:
        importDicom(dicomDir, root, label)
    message = str(caught.value)
    assert message.endswith(".") and "\n" not in message
    assert ("DICOM" in message or "label" in message) and str(dicomDir) not in message
    assert not root.exists()


def test_failed_conversion_and_cancel_leave_no_partial_output(tmp_path, phantom, monkeypatch):
    dicomDir = _study(tmp_path / "dicom", phantom, withFlair=False, extraFiles=False)
    root = tmp_path / "bids"
    root.mkdir()
    (root / "dataset_description.json").write_text('{"Name": "x", "BIDSVersion": "1.9.0"}\n')
    before = _allFiles(root)
    realRun = dcm2niixrun.runDcm2niix
    calls = []

    def failSecond(executable, inputFolder, outputFolder, series):
        calls.append(series)
        if len(calls) == 2:
            return realRun("/bin/false", inputFolder, outputFolder, series)
        return realRun(executable, inputFolder, outputFolder, series)

    monkeypatch.setattr(dcm2niixrun, "runDcm2niix", failSecond)
    with pytest.raises(AISError, match="could not be started|could not convert"):
        importDicom(dicomDir, root, "03")
    assert _allFiles(root) == before
    monkeypatch.setattr(dcm2niixrun, "runDcm2niix", realRun)

    def cancel(fraction, message):
        if fraction > 0.5:
            raise OperationCancelled("stop")

    with pytest.raises(OperationCancelled):
        importDicom(dicomDir, root, "03", progress=cancel)
    assert _allFiles(root) == before


def test_existing_file_from_elsewhere_is_never_overwritten(tmp_path, phantom):
    dicomDir = _study(tmp_path / "dicom", phantom, withFlair=False, extraFiles=False)
    root = tmp_path / "bids"
    target = root / "sub-04" / "dwi" / "sub-04_dwi.nii.gz"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"someone else's file")
    with pytest.raises(AISError, match="already exists"):
        importDicom(dicomDir, root, "04")
    assert target.read_bytes() == b"someone else's file"
    assert sorted(path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file()) == ["sub-04/dwi/sub-04_dwi.nii.gz"]


def test_cli_import_and_validate(tmp_path, phantom, capsys):
    from AISCommonLib.cli import main as cli

    dicomDir = _study(tmp_path / "dicom", phantom, extraFiles=False)
    root = tmp_path / "bids"
    assert cli.main(["import-dicom", str(dicomDir), str(root), "--participant-label", "05", "--session", "A", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["caseId"] == "sub-05_ses-A" and len(summary["images"]) == 6
    assert cli.main(["validate", str(root)]) == 0
    capsys.readouterr()
    assert cli.main(["import-dicom", str(tmp_path / "missing"), str(root), "--participant-label", "06"]) != 0
    error = capsys.readouterr().err.strip()
    assert error.startswith("ais: error:") and "does not exist" in error and len(error.splitlines()) == 1
    assert not (root / "sub-06").exists()


@pytest.mark.parametrize(("sidecar", "bValues", "expected"), [
    ({"ImageType": ["DERIVED", "PRIMARY", "DIFFUSION", "ADC"], "SeriesDescription": "DWI"}, None, "adc"),
    ({"ImageType": ["DERIVED", "PRIMARY", "DIFFUSION", "EADC"]}, None, "eadc"),
    ({"ImageType": ["DERIVED", "PRIMARY"], "SeriesDescription": "eADC"}, None, "eadc"),
    ({"ImageType": ["DERIVED", "PRIMARY", "DIFFUSION", "EXP"]}, None, "eadc"),
    ({"ImageType": ["ORIGINAL", "PRIMARY", "DIFFUSION", "TRACEW"]}, [0, 1000], "dwi"),
    ({"ImageType": ["ORIGINAL", "PRIMARY", "M"], "SeriesDescription": "Ax DWI"}, None, "dwi"),
    ({"ImageType": ["ORIGINAL", "PRIMARY"], "SeriesDescription": "ax"}, [0, 1000], "dwi"),
    ({"SeriesDescription": "AX T2 FLAIR"}, None, "flair"),
    ({"SeriesDescription": "T1 FLAIR AX"}, None, "t1w"),
    ({"SeriesDescription": "sag MPRAGE"}, None, "t1w"),
    ({"SeriesDescription": "t2_tse_tra"}, None, "t2w"),
    ({"SeriesDescription": "t2_swi_tra"}, None, None),
    ({"ImageType": ["ORIGINAL", "PRIMARY", "LOCALIZER"], "SeriesDescription": "loc"}, None, None),
    ({"SeriesDescription": "series 9", "EchoTime": 0.12, "RepetitionTime": 9.0, "InversionTime": 2.5}, None, "flair"),
    ({"SeriesDescription": "series 9", "EchoTime": 0.01, "RepetitionTime": 0.5}, None, "t1w"),
])
def test_classification(sidecar, bValues, expected):
    assert classifySeries(sidecar, bValues)[0] == expected
