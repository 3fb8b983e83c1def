"""``ais compare BIDS_ROOT``: newest read per reader, pairs per case, parallel run, CSV and JSON."""

import csv
import json

import numpy as np
import pytest

from AISCommonLib.cli import main as cli
from AISCommonLib.core.agreement import AgreementParameters
from AISCommonLib.core.cases import Case
from AISCommonLib.core.dataset import compareDataset, findReadPairs
from AISCommonLib.core.derivatives import consensusMaskPath, writeReaderMask
from AISCommonLib.core.image import Volume, writeNifti

SHAPE = (6, 12, 12)


def lesion(slices) -> np.ndarray:
    mask = np.zeros(SHAPE, dtype=bool)
    mask[slices] = True
    return mask


@pytest.fixture
def dataset(tmp_path):
    """Three cases: two readers (R1 has two versions), one reader only, and a session case with a broken read."""
    dwi = Volume(np.zeros(SHAPE, dtype=np.float32), np.diag([2.0, 2.0, 5.0, 1.0]))
    big = lesion(np.s_[1:5, 2:8, 2:8])
    caseOne = Case("001", None, tmp_path / "sub-001")
    writeReaderMask(tmp_path, caseOne, lesion(np.s_[1:2, 2:3, 2:3]), dwi, "R1", "manual", {})
    writeReaderMask(tmp_path, caseOne, big, dwi, "R1", "manual", {})  # version 2, the one to use
    writeReaderMask(tmp_path, caseOne, big, dwi, "R2", "manual", {})
    writeNifti(lesion(np.s_[0:1, 0:1, 0:1]), dwi.ijkToRas, consensusMaskPath(tmp_path, caseOne), dtype=np.uint8)
    caseTwo = Case("002", None, tmp_path / "sub-002")
    writeReaderMask(tmp_path, caseTwo, big, dwi, "R1", "manual", {})
    caseThree = Case("003", "01", tmp_path / "sub-003" / "ses-01")
    writeReaderMask(tmp_path, caseThree, big, dwi, "R1", "manual", {})
    record = writeReaderMask(tmp_path, caseThree, big, dwi, "R2", "manual", {})
    record.path.write_bytes(b"not a nifti file")
    return tmp_path


def test_pairs_use_the_newest_version_and_ignore_the_consensus(dataset):
    pairs, incomplete = findReadPairs(dataset)
    assert [(pair.case.caseId, pair.readerA, pair.versionA, pair.readerB, pair.versionB) for pair in pairs] == [
        ("sub-001", "R1", 2, "R2", 1),
        ("sub-003_ses-01", "R1", 1, "R2", 1),
    ]
    assert [row["case"] for row in incomplete] == ["sub-002"]


def test_dataset_rows_in_parallel(dataset):
    messages = []
    rows = compareDataset(
        dataset, AgreementParameters(), workers=2, progress=lambda fraction, message: messages.append((fraction, message))
    )
    byCase = {row["case"]: row for row in rows}
    assert byCase["sub-001"]["status"] == "compared" and byCase["sub-001"]["dice"] == 1.0 and byCase["sub-001"]["concordant"] is True
    assert byCase["sub-002"]["status"] == "incomplete"
    assert byCase["sub-003_ses-01"]["status"] == "error" and "corrupt" in byCase["sub-003_ses-01"]["error"]
    assert sorted(fraction for fraction, _ in messages) == [0.5, 1.0]


def test_cli_dataset_writes_csv_and_json(dataset, tmp_path, capsys):
    output = tmp_path / "agreement.csv"
    status = cli.main(["compare", str(dataset), "--csv", str(output), "--json", "--workers", "1"])
    captured = capsys.readouterr()
    assert status == 1  # one pair could not be compared: the run says so in its exit status
    document = json.loads(captured.out)
    assert [row["status"] for row in document["pairs"]] == ["compared", "incomplete", "error"]
    with open(output, newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert rows[0]["case"] == "sub-001" and float(rows[0]["dice"]) == 1.0 and rows[0]["version_a"] == "2"
    assert "1 pairs compared, 1 cases with fewer than two reads, 1 failed" in captured.err
    assert "Traceback" not in captured.err


def test_cli_dataset_without_lesion_derivatives_is_one_line(tmp_path, capsys):
    assert cli.main(["compare", str(tmp_path)]) != 0
    assert capsys.readouterr().err.strip().count("\n") == 0
