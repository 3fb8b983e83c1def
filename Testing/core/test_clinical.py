"""Clinical metadata as intervals, never dates: checked values, BIDS tables kept intact, all-or-nothing imports."""

import json

import pytest
from realdata import copyRealCase

from AISCommonLib.core.cases import discoverCases
from AISCommonLib.core.clinical import clinicalCompleteness, importClinicalTable, looksLikeDate, normaliseValue, readClinical, setClinical
from AISCommonLib.core.errors import InputError
from AISCommonLib.core.validate import validateDataset
from AISCommonLib.synthetic.tinycases import writeSimpleCase


@pytest.mark.parametrize("value", ["2024-03-01", "01/03/2024", "1.3.24", "14:30", "2024-03-01T14:30:00", "20240301", "3 Mar", "March 3"])
def test_dates_and_times_of_day_are_refused_without_repeating_them(value):
    assert looksLikeDate(value)
    with pytest.raises(InputError, match="date or a time of day") as raised:
        normaliseValue("onset_to_imaging_h", value, "Row 2 of site.csv")
    assert value not in str(raised.value) and "Row 2 of site.csv, onset_to_imaging_h" in str(raised.value)


def test_values_are_checked_and_normalised():
    assert [looksLikeDate(value) for value in ("3.5", "12", "0.75", "left", "n/a", "210")] == [False] * 6
    assert normaliseValue("onset_to_imaging_h", "3,5") == "3.5" and normaliseValue("onset_to_imaging_h", "2.25h") == "2.25"
    assert normaliseValue("onset_to_imaging_h", 1 / 3) == "0.33" and normaliseValue("nihss", "12.0") == "12"
    assert normaliseValue("stroke_side", "L") == "left" and normaliseValue("stroke_side", "none") == "none"
    assert normaliseValue("nihss", "") == normaliseValue("nihss", "unknown") == normaliseValue("onset_to_imaging_h", None) == "n/a"
    for field, value, message in (("onset_to_imaging_h", "-1", "0 to 720"), ("onset_to_imaging_h", "800", "0 to 720"), ("nihss", "43", "0 to 42"),
                                  ("nihss", "7.5", "whole number"), ("stroke_side", "up", "left, right"), ("onset", "3", "Unknown clinical field")):
        with pytest.raises(InputError, match=message):
            normaliseValue(field, value)


def test_a_session_dataset_keeps_values_in_sessions_tsv_and_other_columns_intact(tmp_path):
    root = tmp_path / "bids"
    writeSimpleCase(root, "01", "01")
    writeSimpleCase(root, "01", "02")
    writeSimpleCase(root, "02", "01")
    (root / "participants.tsv").write_text("participant_id\tage\tsex\nsub-01\t70\tM\nsub-02\t64\tF\n")
    (root / "sub-01" / "sub-01_sessions.tsv").write_text("session_id\tscanner\nses-02\tprisma\n")
    cases = {case.caseId: case for case in discoverCases(root)}
    stored = setClinical(root, cases["sub-01_ses-01"], {"onset_to_imaging_h": "2.5", "nihss": 7, "stroke_side": "right"})
    assert stored == {"onset_to_imaging_h": "2.5", "nihss": "7", "stroke_side": "right"}
    assert (root / "sub-01" / "sub-01_sessions.tsv").read_text().splitlines() == [
        "session_id\tscanner\tonset_to_imaging_h\tnihss\tstroke_side", "ses-02\tprisma\tn/a\tn/a\tn/a", "ses-01\tn/a\t2.5\t7\tright"]
    assert (root / "participants.tsv").read_text() == "participant_id\tage\tsex\nsub-01\t70\tM\nsub-02\t64\tF\n"
    assert json.loads((root / "sessions.json").read_text())["onset_to_imaging_h"]["Units"] == "h"
    setClinical(root, cases["sub-01_ses-01"], {"nihss": "n/a"})
    assert readClinical(root, cases["sub-01_ses-01"]) == {"onset_to_imaging_h": "2.5", "nihss": "n/a", "stroke_side": "right"}
    before = (root / "sub-01" / "sub-01_sessions.tsv").read_text()
    with pytest.raises(InputError, match="date"):
        setClinical(root, cases["sub-01_ses-02"], {"nihss": 4, "onset_to_imaging_h": "2024-01-05"})
    assert (root / "sub-01" / "sub-01_sessions.tsv").read_text() == before  # nothing half-written
    completeness = {row["caseId"]: row["missing"] for row in clinicalCompleteness(root, list(cases.values()))}
    assert completeness == {"sub-01_ses-01": ["nihss"], "sub-01_ses-02": ["onset_to_imaging_h", "nihss", "stroke_side"],
                            "sub-02_ses-01": ["onset_to_imaging_h", "nihss", "stroke_side"]}
    assert not [finding for finding in validateDataset(root, deep=False) if finding.code in ("identifying-column", "participant-not-listed")]


def test_a_site_table_is_imported_all_or_nothing(tmp_path):
    root = tmp_path / "bids"
    for subject in ("01", "02", "03"):
        writeSimpleCase(root, subject, None)  # no session level: participants.tsv
    good = tmp_path / "site.csv"
    good.write_text("participant_id;onset_to_imaging_h;nihss_admission;side\nsub-01;3,5;12;L\n02;n/a;0;none\n")
    imported = importClinicalTable(root, good)
    assert imported == [{"caseId": "sub-01", "onset_to_imaging_h": "3.5", "nihss": "12", "stroke_side": "left"},
                        {"caseId": "sub-02", "onset_to_imaging_h": "n/a", "nihss": "0", "stroke_side": "none"}]
    table = (root / "participants.tsv").read_text()
    assert table.splitlines()[0] == "participant_id\tonset_to_imaging_h\tnihss\tstroke_side" and "sub-03" not in table
    for content, message in (
        ("participant_id,onset_time,nihss\nsub-03,08:15,4\n", "Column 'onset_time' .* holds dates or times"),
        ("participant_id,admission_date\nsub-03,x\n", "holds dates or times"),
        ("participant_id,name,nihss\nsub-03,Jane,4\n", "Column 'name' .* is not a clinical field"),
        ("participant_id,onset_to_imaging_h\nsub-03,2\nsub-03,3\n", "repeats sub-03"),
        ("participant_id,onset_to_imaging_h\nsub-09,2\n", "sub-09, which the dataset does not have"),
        ("participant_id,onset_to_imaging_h\nsub-03,2\nsub-01,12/01/2024\n", "Row 3 of bad.csv, onset_to_imaging_h holds a date"),
        ("participant_id,nihss\n", "no data rows"),
        ("nihss\n3\n", "no participant_id"),
    ):
        bad = tmp_path / "bad.csv"
        bad.write_text(content)
        with pytest.raises(InputError, match=message) as raised:
            importClinicalTable(root, bad)
        assert "12/01/2024" not in str(raised.value) and "08:15" not in str(raised.value)
        assert (root / "participants.tsv").read_text() == table  # all or nothing


def test_real_cases(tmp_path):
    """The ISLES 2022 sample (a session level under rawdata/) and the challenge case: values land in their sessions tables."""
    sample = copyRealCase("isles22-0001", tmp_path / "a")
    [case] = discoverCases(sample)
    setClinical(sample, case, {"onset_to_imaging_h": 1.75, "nihss": 9, "stroke_side": "left"})
    assert (sample / "sub-strokecase0001" / "sub-strokecase0001_sessions.tsv").read_text().splitlines()[1] == "ses-0001\t1.75\t9\tleft"
    challenge = copyRealCase("isles22-challenge-case", tmp_path / "b")
    site = tmp_path / "site.tsv"
    site.write_text("participant_id\tsession_id\tonset_to_imaging_h\tnihss\tstroke_side\nsub-01\tses-01\t4.2\t15\tright\n")
    assert importClinicalTable(challenge, site)[0]["caseId"] == "sub-01_ses-01"
    assert clinicalCompleteness(challenge, discoverCases(challenge))[0]["missing"] == []
