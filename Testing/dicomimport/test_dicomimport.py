"""DICOM import: real DICOM series written with pydicom from phantom volumes, converted by the real dcm2niix."""

import json
import time
from pathlib import Path

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")
pytest.importorskip("dcm2niix")

from AISCommonLib.core.errors import AISError, InputError, OperationCancelled  # noqa: E402
from AISCommonLib.core.validate import validateDataset  # noqa: E402
from AISCommonLib.dicomimport import importer as dicomimport  # noqa: E402
from AISCommonLib.dicomimport.importer import DEIDENTIFICATION_LOG_NAME, MANIFEST_NAME, importDicom  # noqa: E402
from AISCommonLib.dicomimport.seriesclassify import classifySeries  # noqa: E402
from AISCommonLib.synthetic.phantom import makePhantom  # noqa: E402
from AISCommonLib.synthetic.specs import PhantomSpec  # noqa: E402

FAKE = {
    "PatientName": "DOE^JOHNATHAN", "PatientID": "MRN98765432", "PatientBirthDate": "19461203",
    "AccessionNumber": "ACC55512345", "InstitutionName": "Saint Fakeholm Hospital",
    "ReferringPhysicianName": "HOUSE^GREGORY", "OperatorsName": "TECHNICIAN^TINA",
}
#: Strings that must appear nowhere in the output (file names and text), as the patient's data would.
FORBIDDEN = ["DOE", "JOHNATHAN", "MRN98765432", "19461203", "1946-12-03", "ACC55512345", "FAKEHOLM", "GREGORY", "TECHNICIAN"]


def _writeSeries(folder: Path, volumes, ijkToRas, seriesNumber, description, imageType, study, bValues=None,
                 echoTimeS=0.08, repetitionTimeS=5.0, inversionTimeS=None, scale=1.0):
    """One MR Image Storage series, one file per slice (and per volume), geometry from an IJK-to-RAS matrix.

    Arrays are ``[k, j, i]``: i runs along a DICOM row (columns), j down the columns (rows).
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ ijkToRas
    spacing = np.linalg.norm(lps[:3, :3], axis=0)
    rowCosine, columnCosine = lps[:3, 0] / spacing[0], lps[:3, 1] / spacing[1]
    seriesUid = generate_uid()
    instance = 0
    for volumeIndex, volume in enumerate(volumes):
        for k in range(volume.shape[0]):
            instance += 1
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID = MRImageStorage
            meta.MediaStorageSOPInstanceUID = generate_uid()
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds = Dataset()
            ds.file_meta = meta
            ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, meta.MediaStorageSOPInstanceUID
            for keyword, value in FAKE.items():
                setattr(ds, keyword, value)
            ds.PatientSex, ds.PatientAge = "M", "077Y"
            ds.OtherPatientIDs = "OTHERID4242"
            ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = "20240315"
            ds.StudyTime, ds.AcquisitionTime = "101500", "101600"
            ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study["uid"], seriesUid, study["frame"]
            ds.StudyID, ds.SeriesNumber, ds.InstanceNumber, ds.AcquisitionNumber = "4711", seriesNumber, instance, 1
            ds.Modality, ds.Manufacturer, ds.ManufacturerModelName = "MR", "Philips", "Phantom"
            ds.MagneticFieldStrength = 3.0
            ds.SeriesDescription = ds.ProtocolName = description
            ds.ImageType = imageType
            ds.EchoTime, ds.RepetitionTime = echoTimeS * 1000, repetitionTimeS * 1000
            if inversionTimeS:
                ds.InversionTime = inversionTimeS * 1000
            ds.ScanningSequence = "EP" if bValues else ("IR" if inversionTimeS else "SE")
            ds.SequenceVariant = "NONE"
            ds.SliceThickness = ds.SpacingBetweenSlices = float(spacing[2])
            ds.PixelSpacing = [float(spacing[1]), float(spacing[0])]
            ds.ImageOrientationPatient = [float(value) for value in (*rowCosine, *columnCosine)]
            ds.ImagePositionPatient = [float(value) for value in (lps @ [0, 0, k, 1])[:3]]
            ds.PatientPosition = "HFS"
            if bValues is not None:
                ds.DiffusionBValue = float(bValues[volumeIndex])
                ds.DiffusionDirectionality = "ISOTROPIC" if bValues[volumeIndex] > 0 else "NONE"
            ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
            ds.Rows, ds.Columns = volume.shape[1], volume.shape[2]
            ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
            ds.PixelData = np.ascontiguousarray(np.clip(np.rint(volume[k] * scale), 0, 65535).astype(np.uint16)).tobytes()
            ds.save_as(folder / f"IM{instance:04d}", enforce_file_format=True)


@pytest.fixture(scope="module")
def phantom():
    # 32x32x8 voxels of 6.5 x 6.5 x 5 mm cover a head; the DWI grid is oblique to test geometry exactly.
    spec = PhantomSpec(dwiShape=(8, 32, 32), dwiSpacingMm=(6.5, 6.5, 5.0), dwiRotationDeg=(12.0, 0.0, 5.0),
                       flairShape=(8, 32, 32), flairSpacingMm=(6.5, 6.5, 5.0), withT1T2=True)
    return makePhantom(spec, np.random.default_rng(0))


def _study(root: Path, images, withFlair=True, withDwi=True, withMaps=True, extraFiles=True) -> Path:
    """A PACS-style export: folders named after the patient, one folder per series."""
    from pydicom.uid import generate_uid

    study = {"uid": generate_uid(), "frame": generate_uid()}
    patientFolder = root / "DOE_JOHNATHAN_MRN98765432"
    if withDwi:
        _writeSeries(patientFolder / "S3", [images.b0, images.dwi], images.dwiIjkToRas, 3, "ep2d_diff_trace_b1000",
                     ["ORIGINAL", "PRIMARY", "DIFFUSION", "TRACEW"], study, bValues=[0, 1000], scale=10.0)
    if withMaps:
        _writeSeries(patientFolder / "S4", [images.adcMicro], images.dwiIjkToRas, 4, "ep2d_diff_ADC",
                     ["DERIVED", "PRIMARY", "DIFFUSION", "ADC"], study)
        _writeSeries(patientFolder / "S5", [images.eadc], images.dwiIjkToRas, 5, "ep2d_diff_EXP",
                     ["DERIVED", "PRIMARY", "DIFFUSION", "EADC"], study, scale=1000.0)
    if withFlair:
        _writeSeries(patientFolder / "S6", [images.flair], images.flairIjkToRas, 6, "t2_tirm_tra_dark-fluid",
                     ["ORIGINAL", "PRIMARY", "M", "NORM"], study, echoTimeS=0.09, repetitionTimeS=9.0, inversionTimeS=2.5)
        _writeSeries(patientFolder / "S7", [images.t1w], images.flairIjkToRas, 7, "t1_se_tra",
                     ["ORIGINAL", "PRIMARY", "M", "NORM"], study, echoTimeS=0.01, repetitionTimeS=0.5)
        _writeSeries(patientFolder / "S8", [images.t2w], images.flairIjkToRas, 8, "t2_tse_tra",
                     ["ORIGINAL", "PRIMARY", "M", "NORM"], study, echoTimeS=0.1, repetitionTimeS=4.0)
    if extraFiles:
        (patientFolder / "notes.txt").write_text("export log for DOE^JOHNATHAN\n", encoding="utf-8")
    return root


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
    started = time.perf_counter()
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
        assert not set(sidecar) & (dicomimport.SIDECAR_REMOVED_KEYS | {"AcquisitionDateTime", "StudyInstanceUID"})

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
    copies = sorted((root / "sourcedata" / "sub-P001" / "ses-01").rglob("IM*"))
    assert len(copies) == 8 * 2 + 8 * 5
    assert all("redacted-" in copy.relative_to(root).as_posix() for copy in copies)
    copy = pydicom.dcmread(copies[0])
    assert str(copy.PatientName) == "sub-P001" and copy.PatientID == "sub-P001" and copy.PatientBirthDate == ""
    assert "InstitutionName" not in copy and "OtherPatientIDs" not in copy and copy.StudyDate == ""
    assert copy.PatientIdentityRemoved == "YES"
    assert copy.SOPInstanceUID.startswith("2.25.")
    log = json.loads((root / "sourcedata" / "sub-P001" / "ses-01" / DEIDENTIFICATION_LOG_NAME).read_text())
    entry = next(iter(log["series"].values()))
    assert {"AccessionNumber", "ReferringPhysicianName", "InstitutionName", "OtherPatientIDs"} <= set(entry["dicomAttributesRemoved"])
    assert entry["pathComponentsRenamed"] >= 1
    _assertNoIdentifier(root)
    manifest = json.loads((root / "sourcedata" / MANIFEST_NAME).read_text())
    assert len(manifest["series"]) == 6
    assert "1.2.826" not in json.dumps(manifest)  # no raw UID (pydicom's generate_uid root)

    findings = validateDataset(root)
    assert [finding for finding in findings if finding.severity == "error"] == []
    assert time.perf_counter() - started < 20


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
    assert ("dicom" in message or "label" in message)
    assert not root.exists()


def test_failed_conversion_and_cancel_leave_no_partial_output(tmp_path, phantom, monkeypatch):
    dicomDir = _study(tmp_path / "dicom", phantom, withFlair=False, extraFiles=False)
    root = tmp_path / "bids"
    root.mkdir()
    (root / "dataset_description.json").write_text('{"Name": "x", "BIDSVersion": "1.9.0"}\n')
    before = _allFiles(root)
    realRun = dicomimport._runDcm2niix
    calls = []

    def failSecond(executable, inputFolder, outputFolder, series):
        calls.append(series)
        if len(calls) == 2:
            return realRun("/bin/false", inputFolder, outputFolder, series)
        return realRun(executable, inputFolder, outputFolder, series)

    monkeypatch.setattr(dicomimport, "_runDcm2niix", failSecond)
    with pytest.raises(AISError, match="could not be started|could not convert"):
        importDicom(dicomDir, root, "03")
    assert _allFiles(root) == before
    monkeypatch.setattr(dicomimport, "_runDcm2niix", realRun)

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
