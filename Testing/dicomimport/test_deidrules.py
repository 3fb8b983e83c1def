"""The pieces of de-identification on their own: descriptor cleaning, date shifting, the private keep-list,
the identifier search, NIfTI text fields and the secret store."""

import gzip
import stat

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")
pytest.importorskip("dicomanonymizer")

from AISCommonLib.core.errors import AISError  # noqa: E402
from AISCommonLib.dicomimport import deidsecret  # noqa: E402
from AISCommonLib.dicomimport.deidsecret import DeidentificationKey, SecretStore  # noqa: E402
from AISCommonLib.dicomimport.descriptors import cleanDescriptor  # noqa: E402
from AISCommonLib.dicomimport.outputs import clearNiftiText, filterSidecar, findNeedle, findNeedleInDataset, splitNeedles  # noqa: E402
from AISCommonLib.dicomimport.profile import (  # noqa: E402
    PRIVATE_KEEP_LIST,
    DeidentificationContext,
    basicProfileActions,
    deidentifyDataset,
    shiftDate,
    shiftDateAndTime,
    shiftDateTime,
    shiftTime,
)
from AISCommonLib.dicomimport.seriesclassify import classifySeries  # noqa: E402

KEY = DeidentificationKey("0" * 32, bytes(range(32)))


@pytest.mark.parametrize(("text", "expected"), [
    ("ep2d_diff_trace_b1000 Dr Smith 12.03.", "ep2d_diff_trace_b1000"),
    ("t2_tirm_tra_dark-fluid", "t2_tirm_tra_dark-fluid"),
    ("AX DWI JOHN^DOE b1000", "AX DWI b1000"),
    ("DOE_JOHN", ""),
    ("MRN 98765432 t1_se_tra 2024", "t1_se_tra"),
    ("Stroke protocol room 12 / Siemens", "Stroke protocol"),
    ("ep2d_diff_3scan_trace_p2", "ep2d_diff_trace_p2"),
])
def test_clean_descriptors_keeps_technical_words_only(text, expected):
    assert cleanDescriptor(text) == expected


@pytest.mark.parametrize("description", ["ep2d_diff_trace_b1000", "t2_tirm_tra_dark-fluid", "ep2d_diff_ADC", "ep2d_diff_EXP",
                                         "t1_se_tra", "t2_tse_tra", "AX DWI", "sag MPRAGE", "AX T2 FLAIR", "t2_swi_tra"])
def test_cleaned_descriptions_still_classify_the_same(description):
    assert classifySeries({"SeriesDescription": cleanDescriptor(description)}) == classifySeries({"SeriesDescription": description})


def test_dates_and_times_shift_as_one_instant_with_their_precision():
    shift = -(400 * 86400 + 3 * 3600 + 17)
    assert shiftDateAndTime("20240315", "101600.25", shift) == ("20230209", "071543.25")
    assert shiftDateAndTime("20240315", "0130", shift) == ("20230208", "2229")  # crosses midnight, keeps HHMM
    assert shiftDate("20240315", shift) == "20230208"  # a lone date moves by whole days (floor: 401 days back)
    assert shiftDate("2024.03.15", shift) == "20230208"
    assert shiftTime("10:16:00", shift) == "071543"
    assert shiftDateTime("20240315101600.123456+0100", shift) == "20230209071543.123456+0100"
    assert shiftDateTime("202403", shift) == "202301"
    assert shiftDate("not a date", shift) is None and shiftTime("25", shift) is None and shiftDateTime("2024-03-15", shift) is None


def _dataset():
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = MRImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.4.5"
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID, ds.StudyInstanceUID = MRImageStorage, "1.2.3.4.5", "1.2.3.4"
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = "DOE^JOHN", "12345678", "19400101"
    ds.StudyDate, ds.StudyTime, ds.StudyDescription = "20240315", "101500", "MRI Schädel Dr. Who"
    ds.InstitutionName, ds.ReferringPhysicianName = "Hospital", "WHO^DOCTOR"
    ds.CodingSchemeUID = "1.2.840.10008.2.16.4"  # a standard UID stays
    item = Dataset()
    item.ReferencedSOPInstanceUID = "1.2.3.4.6"
    item.PersonName = "NESTED^NAME"
    ds.ReferencedImageSequence = Sequence([item])
    siemens = ds.private_block(0x0019, "SIEMENS MR HEADER", create=True)
    siemens.add_new(0x0C, "IS", "1000")
    siemens.add_new(0x08, "CS", "IMAGE NUM 4")  # not on the keep-list
    other = ds.private_block(0x0021, "ACME 1.0", create=True)
    other.add_new(0x01, "LO", "SECRET NOTE")
    return ds


def test_deidentify_dataset_reports_rules_and_keeps_only_reviewed_private_tags():
    ds = _dataset()
    report = deidentifyDataset(ds, DeidentificationContext(KEY, "sub-01", -(500 * 86400 + 60)))
    assert str(ds.PatientName) == "sub-01" and ds.PatientID == "sub-01" and "PatientBirthDate" not in ds
    assert ds.StudyDate == "20221101" and ds.StudyTime == "101400" and ds.StudyDescription == "MRI"
    assert "InstitutionName" not in ds and ds.ReferringPhysicianName == ""
    assert ds.SOPInstanceUID == KEY.uid("1.2.3.4.5") == ds.file_meta.MediaStorageSOPInstanceUID
    assert ds.CodingSchemeUID == "1.2.840.10008.2.16.4"
    assert "ReferencedImageSequence" not in ds  # X/Z/U*: removed
    assert ds.private_block(0x0019, "SIEMENS MR HEADER")[0x0C].value == "1000"
    assert 0x00191008 not in ds and 0x00210010 not in ds and 0x00211001 not in ds
    assert report.privateRemoved == 3
    log = report.toLog()
    assert log["rules"]["pseudonym"] == ["PatientID", "PatientName"]
    assert "StudyDescription" in log["rules"]["descriptor cleaned (C)"]
    assert "DOE^JOHN" not in str(log) and "Hospital" not in str(log)
    assert {"DOE^JOHN", "DOE", "JOHN", "12345678", "WHO^DOCTOR"} <= report.needles and "Hospital" not in report.needles


def test_private_keep_list_entries_are_the_documented_diffusion_attributes():
    from pydicom.datadict import private_dictionaries

    names = {creator.upper(): entries for creator, entries in private_dictionaries.items()}
    for creator, group, element in PRIVATE_KEEP_LIST:
        vr, _, name, _ = names[creator][f"{group:04X}xx{element:02X}"]
        assert vr not in ("LO", "LT", "ST", "UT", "PN", "OB", "UN"), name  # numbers or codes only
        assert any(word in name.lower() for word in ("b_value", "b-factor", "diffusion", "mosaic", "b_matrix", "slop_int", "user data 2")), name


def test_the_table_is_ps315_table_e11():
    single, repeating = basicProfileActions()
    assert single[0x00100010] == "Z" and single[0x00080080] == "X/Z/D" and single[0x0020000D] == "U"  # name, institution, study UID
    assert single[0x0008103E] == "X" and single[0x00181030] == "X/D"  # descriptors: the Basic Profile removes them
    assert len(single) > 600 and repeating


def test_identifier_search_matches_words_not_pieces_of_words():
    pattern, short = splitNeedles({"GINA", "4711", "98765432", "DOE^JO", "DOE", "JO"})
    assert short == {"DOE", "JO"}
    assert pattern.search("PATIENT GINA") and pattern.search("X 98765432.") and pattern.search("DOE_JO")
    assert not pattern.search("ORIGINAL\\PRIMARY") and not pattern.search("2.25.1298765432111") and not pattern.search("4711")


def test_a_surviving_name_is_found_by_attribute_and_coil_names_are_not_names():
    ds = _dataset()
    ds.PatientName = "HE^LI"
    ds.ReceiveCoilName = "HE1-4"
    ds.ProcessingFunction = "LI_GENERAL"
    report = deidentifyDataset(ds, DeidentificationContext(KEY, "sub-01", -(500 * 86400)))
    assert findNeedleInDataset(ds, *splitNeedles(report.needles)) == "ProcessingFunction"
    del ds.ProcessingFunction
    assert findNeedleInDataset(ds, *splitNeedles(report.needles)) is None


def test_find_needle_names_the_file_never_the_value(tmp_path):
    sidecar = tmp_path / "a.json"
    sidecar.write_text('{"SeriesDescription": "AX DWI LI", "Manufacturer": "Philips"}')
    pattern, short = splitNeedles({"LI", "PHILIPPA"})
    assert findNeedle([sidecar], ["sub-01/dwi/sub-01_dwi.json"], pattern, short) == "sub-01/dwi/sub-01_dwi.json"
    pattern, short = splitNeedles({"SE"})  # a technical word is not a hit
    sidecar.write_text('{"SeriesDescription": "t1_se_tra"}')
    assert findNeedle([sidecar], ["x.json"], pattern, short) is None


def test_sidecar_allow_list_drops_everything_else_and_cleans_descriptors():
    kept, dropped = filterSidecar({"EchoTime": 0.08, "AcquisitionTime": "10:16:00", "InstitutionName": "H",
                                   "SeriesDescription": "DWI Dr Who", "ProtocolName": "Who", "NewVendorKey": 1})
    assert kept == {"EchoTime": 0.08, "SeriesDescription": "DWI"}
    assert dropped == ["AcquisitionTime", "InstitutionName", "NewVendorKey", "ProtocolName"]


def test_nifti_text_fields_and_extensions_are_cleared_voxels_kept(tmp_path):
    import nibabel as nib

    data = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    image = nib.Nifti1Image(data, np.diag([2.0, 2.0, 3.0, 1.0]))
    image.header["descrip"] = b"TE=80;Time=101600.000"
    image.header["aux_file"] = b"DOE"
    image.header["db_name"] = b"JOHN"
    image.header.extensions.append(nib.nifti1.Nifti1Extension(6, b"DOE^JOHN comment extension"))
    path = tmp_path / "image.nii.gz"
    nib.save(image, str(path))
    assert set(clearNiftiText(path)) == {"descrip", "aux_file", "db_name", "extensions"}
    raw = gzip.decompress(path.read_bytes())
    assert b"DOE" not in raw and b"101600" not in raw
    again = nib.load(str(path))
    np.testing.assert_array_equal(np.asanyarray(again.dataobj), data)
    np.testing.assert_allclose(again.affine, image.affine)
    first = path.read_bytes()
    clearNiftiText(path)
    assert path.read_bytes() == first  # fixed gzip time stamp: the same bytes every time


def test_keyed_derivations_depend_on_the_secret():
    other = DeidentificationKey("1" * 32, bytes(32))
    assert KEY.uid("1.2.3") == KEY.uid("1.2.3") != other.uid("1.2.3")
    assert KEY.uid("1.2.3").startswith("2.25.") and len(KEY.uid("1.2.3")) <= 64
    assert KEY.seriesKey("1.2.3") != other.seriesKey("1.2.3")
    assert KEY.dateShiftSeconds("01") != KEY.dateShiftSeconds("02")
    shifts = [KEY.dateShiftSeconds(f"S{index}") for index in range(200)]
    assert all(-3653 * 86400 <= shift <= -366 * 86400 for shift in shifts)
    assert "00010203" not in repr(KEY)


def test_file_store_writes_owner_only_and_refuses_a_readable_secret(tmp_path):
    store = SecretStore(tmp_path / "secrets")
    key = store.create()
    assert store.load(key.secretId) is None
    store.save(key)
    path = tmp_path / "secrets" / f"{key.secretId}.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert store.load(key.secretId).uid("1.2.3") == key.uid("1.2.3")
    path.chmod(0o640)
    with pytest.raises(AISError, match="chmod 600"):
        store.load(key.secretId)
    path.chmod(0o600)
    path.write_text("not hex\n")
    with pytest.raises(AISError, match="damaged"):
        store.load(key.secretId)
    with pytest.raises(AISError, match="malformed"):
        store.load("../../etc/passwd")
    store.delete(key)
    assert not path.exists()


def test_keyring_is_used_when_the_machine_has_one(tmp_path, monkeypatch):
    class MemoryKeyring:
        priority = 1

        def __init__(self):
            self.passwords = {}

        def get_password(self, service, user):
            return self.passwords.get((service, user))

        def set_password(self, service, user, password):
            self.passwords[(service, user)] = password

        def delete_password(self, service, user):
            self.passwords.pop((service, user))

    keyring = MemoryKeyring()
    monkeypatch.delenv("AIS_DEID_SECRET_DIR")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setattr(deidsecret, "_usableKeyring", lambda: keyring)
    store = SecretStore()
    key = store.create()
    store.save(key)
    assert list(keyring.passwords) == [("ais-annotation-deid", key.secretId)]
    assert not (tmp_path / "config").exists()
    assert store.load(key.secretId).uid("9.9") == key.uid("9.9")
    # With the environment variable set, the file store is used alone (tests, a shared protected folder).
    monkeypatch.setenv("AIS_DEID_SECRET_DIR", str(tmp_path / "shared"))
    assert SecretStore().load(key.secretId) is None
    store.delete(key)
    assert keyring.passwords == {}


def test_without_keyring_or_variable_the_per_user_config_folder_is_used(tmp_path, monkeypatch):
    monkeypatch.delenv("AIS_DEID_SECRET_DIR")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setattr(deidsecret, "_usableKeyring", lambda: None)
    store = SecretStore()
    key = store.create()
    store.save(key)
    assert (tmp_path / "config" / "ais-annotation" / "deid-secrets" / f"{key.secretId}.key").is_file()
    assert stat.S_IMODE((tmp_path / "config" / "ais-annotation" / "deid-secrets").stat().st_mode) == 0o700
