"""De-identification end to end: a marker in every PS3.15 Basic Profile attribute that holds text, a date or
a time (and in private tags, nested sequences, the file meta, folder and file names) goes through
``ais import-dicom``; no marker may survive in any byte under the dataset or on the console."""

import datetime
import gzip
import json
import os
import shutil
import stat
from pathlib import Path

import pytest

pydicom = pytest.importorskip("pydicom")
pytest.importorskip("dcm2niix")
pytest.importorskip("dicomanonymizer")

from dicomstudy import NAMED_ATTRIBUTES, SERIES_TIME_KEYWORDS, SERIES_TIMES, MarkerPlan, writeStudy  # noqa: E402

from AISCommonLib.core.errors import AISError, InputError  # noqa: E402
from AISCommonLib.dicomimport import dcm2niixrun  # noqa: E402
from AISCommonLib.dicomimport.bidswriter import DEIDENTIFICATION_LOG_NAME, MANIFEST_NAME  # noqa: E402
from AISCommonLib.dicomimport.deidsecret import SecretStore  # noqa: E402
from AISCommonLib.dicomimport.importer import importDicom  # noqa: E402
from AISCommonLib.dicomimport.outputs import SIDECAR_ALLOWED_KEYS  # noqa: E402


@pytest.fixture(scope="module")
def plan():
    return MarkerPlan()


def _markerStudy(root: Path, phantom, plan: MarkerPlan, **options) -> Path:
    names = plan.nameMarkers
    return writeStudy(root, phantom, decorate=plan.decorate, patientFolder=f"{names['patientFolder']}_DOE",
                      seriesFolder=lambda number: f"{names['seriesFolder']}{number}",
                      fileName=lambda instance: f"{names['file']}{instance:04d}.dcm", **options)


def _variants(value: str) -> set[bytes]:
    """How a marker could appear: as written, upper case, UTF-16, and dates also as ISO (1950-03-15)."""
    texts = {value, value.upper()}
    if len(value) == 8 and value.isdigit():
        texts.add(f"{value[:4]}-{value[4:6]}-{value[6:]}")
    return {text.encode() for text in texts} | {text.encode("utf-16-le") for text in texts}


def _survivors(data: bytes, markers: dict) -> list[str]:
    upper = data.upper()
    return sorted(name for name, value in markers.items() if any(variant in data or variant.upper() in upper for variant in _variants(value)))


def _assertNoMarkerUnder(root: Path, markers: dict) -> int:
    """Every file under ``root``, every byte (gzip streams decompressed), and every path name. :return: files searched."""
    count = 0
    for path in sorted(root.rglob("*")):
        found = _survivors(path.relative_to(root).as_posix().encode(), markers)
        assert not found, f"markers {found} in the name {path.relative_to(root)}"
        if not path.is_file():
            continue
        data = path.read_bytes()
        if path.name.endswith(".gz"):
            data = gzip.decompress(data)
        found = _survivors(data, markers)
        assert not found, f"markers {found} in {path.relative_to(root)}"
        count += 1
    return count


def _instant(date: str, time: str) -> datetime.datetime:
    whole, _, fraction = time.partition(".")
    return datetime.datetime.strptime(date + whole, "%Y%m%d%H%M%S") + datetime.timedelta(microseconds=int((fraction + "000000")[:6]))


def _copies(root: Path, case: str) -> dict[int, Path]:
    """First de-identified copy of each series, by series number."""
    copies = {}
    for path in sorted((root / "sourcedata" / case / "dicom").rglob("*.dcm")):
        dataset = pydicom.dcmread(path, stop_before_pixels=True)
        copies.setdefault(int(dataset.SeriesNumber), path)
    return copies


def test_the_marker_study_covers_every_named_attribute(plan):
    covered = set(plan.markers) | set(SERIES_TIME_KEYWORDS)
    assert NAMED_ATTRIBUTES <= covered, sorted(NAMED_ATTRIBUTES - covered)
    assert set(SERIES_TIME_KEYWORDS) <= {keyword for _, keyword, _, _ in plan.attributes}
    assert len(plan.attributes) >= 470  # the whole Basic Profile table, not a hand-picked list
    values = [value for name, value in plan.allMarkers().items() if not name.startswith("series ")]
    assert len(values) == len(set(values))  # one distinct marker per attribute (series share their acquisition date)


def test_no_marker_survives_anywhere_under_the_dataset_or_on_the_console(tmp_path, phantom, plan, capfd, monkeypatch):
    from AISCommonLib.cli import importdicom
    from AISCommonLib.cli import main as cli

    dicomDir = _markerStudy(tmp_path / "export", phantom, plan)
    root = tmp_path / "bids"
    messages = []

    def everyProgressLine(fraction, message):  # what a terminal would show, every line of it
        messages.append(message)
        os.write(2, f"[{fraction:4.0%}] {message}\n".encode())

    monkeypatch.setattr(importdicom, "stderrProgress", everyProgressLine)
    assert cli.main(["import-dicom", str(dicomDir), str(root), "--participant-label", "P001", "--session", "01"]) == 0
    assert cli.main(["import-dicom", str(dicomDir), str(root), "--participant-label", "P001", "--session", "01", "--json"]) == 0
    # A failing import prints an error that names series, never a marker: a study without DWI.
    noDwi = _markerStudy(tmp_path / "export2", phantom, plan, withDwi=False, withMaps=False, extraFiles=False)
    assert cli.main(["import-dicom", str(noDwi), str(tmp_path / "other"), "--participant-label", "P002"]) != 0
    console = capfd.readouterr()
    markers = plan.allMarkers()
    # The original UIDs are markers too: instance, series, study and frame of reference (file meta included).
    for path in sorted(dicomDir.rglob("*.dcm")):
        original = pydicom.dcmread(path, stop_before_pixels=True)
        for keyword in ("SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID", "FrameOfReferenceUID"):
            markers[f"uid {original.get(keyword)}"] = str(original.get(keyword))
    assert len([name for name in markers if name.startswith("uid ")]) == 56 + 6 + 2
    assert messages and "De-identifying series 3 'ep2d_diff_trace_b1000' (1/6)" in messages
    assert not _survivors((console.out + console.err).encode(), markers), _survivors((console.out + console.err).encode(), markers)
    assert "ep2d_diff_trace_b1000" in console.out and "No DWI series was recognised" in console.err

    searched = _assertNoMarkerUnder(root, markers)
    assert searched >= 6 * 2 + 2 + 56 + 5  # images, sidecars, bval/bvec, DICOM copies, log, manifest, dataset files
    case = root / "sub-P001" / "ses-01"
    assert len(list(case.rglob("*.nii.gz"))) == 6
    # The copies keep what the reading needs: classification worked on the original descriptors, the copies
    # keep the cleaned ones; the reviewed private diffusion tag is kept, every other private tag is gone.
    copies = _copies(root, "sub-P001/ses-01")
    dwi = pydicom.dcmread(copies[3])
    assert str(dwi.SeriesDescription) == "ep2d_diff_trace_b1000" and str(dwi.ProtocolName) == "ep2d_diff_trace_b1000"
    assert str(dwi.PatientName) == "sub-P001" and dwi.PatientIdentityRemoved == "YES"
    assert [code.CodeValue for code in dwi.DeidentificationMethodCodeSequence] == ["113100", "113105", "113107"]
    assert dwi.private_block(0x2001, "Philips Imaging DD 001")[0x03].value == pytest.approx(0.0)
    assert not [element for element in dwi if element.tag.is_private and element.tag.group != 0x2001]
    assert "PerformingPhysicianName" not in dwi.MRDiffusionSequence[0] and "InstitutionName" not in dwi.MRDiffusionSequence[0]
    for path in case.rglob("*.json"):
        assert set(json.loads(path.read_text())) <= SIDECAR_ALLOWED_KEYS, path.name
    import nibabel as nib

    for path in case.rglob("*.nii.gz"):
        header = nib.load(str(path)).header
        assert header["descrip"].tobytes().strip(b"\0") == b"" and header["aux_file"].tobytes().strip(b"\0") == b""
        assert header["db_name"].tobytes().strip(b"\0") == b""
    log = json.loads((root / "sourcedata" / "sub-P001" / "ses-01" / DEIDENTIFICATION_LOG_NAME).read_text())
    entry = next(iter(log["series"].values()))
    assert {"date shifted", "descriptor cleaned (C)", "pseudonym", "UID replaced (U, keyed)", "removed (X)",
            "private kept (reviewed keep-list)"} <= set(entry["rules"])
    assert {"InstitutionName", "OperatorsName", "StationName", "PatientBirthDate"} <= set(entry["rules"]["removed (X)"])
    assert {"StudyDate", "StudyTime", "AcquisitionDateTime"} <= set(entry["rules"]["date shifted"])
    assert entry["privateAttributesRemoved"] >= 4 and "descrip" in entry["niftiFieldsCleared"]


def test_intervals_survive_and_the_shift_is_the_subjects_secret(tmp_path, phantom, plan, secretFolder):
    dicomDir = _markerStudy(tmp_path / "export", phantom, plan, extraFiles=False)
    root = tmp_path / "bids"
    importDicom(dicomDir, root, "P001")
    copies = {number: pydicom.dcmread(path, stop_before_pixels=True) for number, path in _copies(root, "sub-P001").items()}
    shifted = {number: _instant(str(copy.AcquisitionDate), str(copy.AcquisitionTime)) for number, copy in copies.items()}
    original = {number: _instant(*SERIES_TIMES[number]) for number in copies}
    shifts = {number: shifted[number] - original[number] for number in copies}
    assert len(set(shifts.values())) == 1, shifts  # every interval between series survives, across midnight too
    shift = next(iter(shifts.values()))
    manifest = json.loads((root / "sourcedata" / MANIFEST_NAME).read_text())
    key = SecretStore(secretFolder).load(manifest["secretId"])
    assert shift == datetime.timedelta(seconds=key.dateShiftSeconds("P001"))
    assert datetime.timedelta(days=-3653) <= shift <= datetime.timedelta(days=-366) and shift.seconds != 0
    first = copies[3]
    assert _instant(str(first.StudyDate), str(first.StudyTime)) - _instant("19500315", "101500.1111") == shift
    assert str(first.SeriesTime) == str(first.AcquisitionTime) and str(first.ContentDate) == str(first.AcquisitionDate)
    nested = str(first.MRDiffusionSequence[0].AcquisitionDateTime)
    assert _instant(nested[:8], nested[8:]) - _instant("19500601", "121212.3131") == shift
    # A lone date moves by whole days, so date-only intervals survive as well.
    loneDays = (datetime.datetime.strptime(str(first.DateOfLastCalibration), "%Y%m%d") - datetime.datetime(1950, 3, 1)).days
    assert loneDays == shift.total_seconds() // 86400
    # Sidecars hold no dates or times at all; the images' intervals are kept in the de-identified DICOM copies.
    sidecar = json.loads((root / "sub-P001" / "dwi" / "sub-P001_dwi.json").read_text())
    assert not {key for key in sidecar if "Date" in key or "Time" in key} - {"EchoTime", "RepetitionTime", "InversionTime",
                                                                                "SliceTiming", "EchoTrainDuration", "DwellTime",
                                                                                "TotalReadoutTime"}


def test_same_subject_gets_the_same_shift_and_uids_another_dataset_other_uids(tmp_path, phantom, plan, secretFolder):
    from pydicom.uid import generate_uid

    study = {"uid": generate_uid(), "frame": generate_uid()}
    first = _markerStudy(tmp_path / "export1", phantom, plan, withFlair=False, extraFiles=False, study=study)
    later = _markerStudy(tmp_path / "export2", phantom, plan, withDwi=False, withMaps=False, extraFiles=False, study=study)
    root = tmp_path / "bids"
    importDicom(first, root, "P001")
    importDicom(later, root, "P001")  # a later export of the same study, same subject: same secret, same shift
    copies = {number: pydicom.dcmread(path, stop_before_pixels=True) for number, path in _copies(root, "sub-P001").items()}
    assert sorted(copies) == [3, 4, 5, 6, 7, 8]
    assert len({str(copy.StudyInstanceUID) for copy in copies.values()}) == 1
    assert len({str(copy.FrameOfReferenceUID) for copy in copies.values()}) == 1
    interval = _instant(str(copies[6].AcquisitionDate), str(copies[6].AcquisitionTime)) - _instant(str(copies[3].AcquisitionDate), str(copies[3].AcquisitionTime))
    assert interval == _instant(*SERIES_TIMES[6]) - _instant(*SERIES_TIMES[3])

    # Re-imported after its outputs were removed: byte for byte the same copies (same UIDs, same dates).
    before = {path.relative_to(root): path.read_bytes() for path in (root / "sourcedata" / "sub-P001").rglob("*.dcm")}
    manifestPath = root / "sourcedata" / MANIFEST_NAME
    manifest = json.loads(manifestPath.read_text())
    manifest["series"] = {}
    manifestPath.write_text(json.dumps(manifest))
    shutil.rmtree(root / "sub-P001")
    shutil.rmtree(root / "sourcedata" / "sub-P001")
    importDicom(first, root, "P001")
    importDicom(later, root, "P001")
    after = {path.relative_to(root): path.read_bytes() for path in (root / "sourcedata" / "sub-P001").rglob("*.dcm")}
    assert after == before

    # Another dataset has another secret: other UIDs, another shift for a subject of the same label.
    other = tmp_path / "bids2"
    importDicom(first, other, "P001")
    otherCopy = pydicom.dcmread(_copies(other, "sub-P001")[3], stop_before_pixels=True)
    assert str(otherCopy.StudyInstanceUID) != str(copies[3].StudyInstanceUID)
    assert str(otherCopy.SOPInstanceUID) != str(copies[3].SOPInstanceUID)
    assert str(otherCopy.AcquisitionDate) + str(otherCopy.AcquisitionTime) != str(copies[3].AcquisitionDate) + str(copies[3].AcquisitionTime)
    assert len(list(secretFolder.glob("*.key"))) == 2
    # Another subject of the same dataset (acquired at the same clock time) gets its own shift.
    importDicom(_markerStudy(tmp_path / "export3", phantom, plan, withMaps=False, extraFiles=False), root, "P009")
    ninth = pydicom.dcmread(_copies(root, "sub-P009")[6], stop_before_pixels=True)
    assert str(ninth.AcquisitionDate) + str(ninth.AcquisitionTime) != str(copies[6].AcquisitionDate) + str(copies[6].AcquisitionTime)


def test_the_secret_lives_outside_the_dataset_with_owner_only_permissions(tmp_path, phantom, plan, secretFolder, monkeypatch):
    dicomDir = _markerStudy(tmp_path / "export", phantom, plan, withFlair=False, extraFiles=False)
    root = tmp_path / "bids"
    importDicom(dicomDir, root, "P001")
    manifest = json.loads((root / "sourcedata" / MANIFEST_NAME).read_text())
    secretFile = secretFolder / f"{manifest['secretId']}.key"
    assert stat.S_IMODE(secretFile.stat().st_mode) == 0o600 and stat.S_IMODE(secretFolder.stat().st_mode) == 0o700
    secret = secretFile.read_text().strip()
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert secret.encode() not in data and bytes.fromhex(secret) not in data
    # Readable by others: refused. Missing: a clear sentence, nothing written.
    later = _markerStudy(tmp_path / "export2", phantom, plan, withDwi=False, withMaps=False, extraFiles=False)
    secretFile.chmod(0o644)
    with pytest.raises(AISError, match="chmod 600"):
        importDicom(later, root, "P001")
    secretFile.unlink()
    snapshot = {path: path.read_bytes() for path in root.rglob("*") if path.is_file()}
    with pytest.raises(AISError, match="is not in"):
        importDicom(later, root, "P001")
    assert {path: path.read_bytes() for path in root.rglob("*") if path.is_file()} == snapshot
    # A secret folder inside the dataset is refused.
    monkeypatch.setenv("AIS_DEID_SECRET_DIR", str(tmp_path / "bids3" / "code"))
    with pytest.raises(AISError, match="inside the dataset"):
        importDicom(dicomDir, tmp_path / "bids3", "P001")
    assert not (tmp_path / "bids3").exists()


@pytest.mark.parametrize("failure", ["no-dwi", "conversion"])
def test_a_failed_first_import_writes_nothing_not_even_a_secret(tmp_path, phantom, plan, secretFolder, monkeypatch, failure):
    dicomDir = _markerStudy(tmp_path / "export", phantom, plan, withDwi=failure != "no-dwi", extraFiles=False)
    if failure == "conversion":
        realRun = dcm2niixrun.runDcm2niix
        calls = []

        def failThird(executable, inputFolder, outputFolder, seriesName):
            calls.append(seriesName)
            return realRun("/bin/false" if len(calls) == 3 else executable, inputFolder, outputFolder, seriesName)

        monkeypatch.setattr(dcm2niixrun, "runDcm2niix", failThird)
    root = tmp_path / "bids"
    with pytest.raises(InputError if failure == "no-dwi" else AISError) as caught:
        importDicom(dicomDir, root, "P001")
    assert "nothing was imported" in str(caught.value)
    assert not _survivors(str(caught.value).encode(), plan.allMarkers())
    assert not root.exists()
    assert not secretFolder.exists() or not list(secretFolder.iterdir())
