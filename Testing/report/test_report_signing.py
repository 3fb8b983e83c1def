"""The acceptance report a data steward signs: who counts as a reader, findings as sentences, the rules and overrides
echoed, what the readers recorded, scan and clinical rows, where the report goes (all or nothing) and the measure cache."""

import csv
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from AISCommonLib.core.cases import discoverCases
from AISCommonLib.core.derivatives import writeReaderMask
from AISCommonLib.core.image import loadVolume, voxelToRas
from AISCommonLib.core.lesionattributes import LesionAttributes, placeLesionAttributes
from AISCommonLib.core.readrecord import METHOD_SEED, ReadNote, buildReadParameters
from AISCommonLib.report.report import writeReport
from AISCommonLib.synthetic.tinycases import writeSimpleCase


def readCsv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def dataFiles(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.glob("*.csv"))}


def lesionPoint(truth: np.ndarray, affine: np.ndarray) -> list[float]:
    """A RAS point (mm) inside the planted lesion."""
    kji = np.argwhere(truth)[len(np.argwhere(truth)) // 2]
    return [float(value) for value in voxelToRas(affine, kji[None, :].astype(float))[0]]


@pytest.fixture(scope="module")
def twoReaders(tmp_path_factory):
    """One case read by R01 (with a full record: criteria, a note, lesion attributes) and R02, each after a seed of
    their own, plus a seed of R03 who never read the case."""
    root = tmp_path_factory.mktemp("signing") / "bids"
    info = writeSimpleCase(root)
    case = discoverCases(root)[0]
    dwi = loadVolume(case.files["dwi"])
    truth = info["truth"]
    point = lesionPoint(truth, dwi.ijkToRas)
    smaller = truth.copy()
    smaller[truth.nonzero()[0].min()] = False
    for reader in ("R01", "R02", "R03"):
        writeReaderMask(root, case, truth | np.roll(truth, 2, axis=2), dwi, reader, METHOD_SEED, {})
    lesions = placeLesionAttributes([LesionAttributes(tuple(point), "no", "mca", "acute")], truth, dwi.ijkToRas)
    likert = {"dwi": {"noise": 4, "motion": 2, "artifact": 4, "contrast": 4}, "adc": 4, "flair": 4}
    parameters = buildReadParameters(likert, {"motion": True}, [ReadNote("N1", "boundary unclear here", tuple(point))], 300.0, lesions=lesions,
                                     sequences=["dwi", "adc", "flair"])
    writeReaderMask(root, case, truth, dwi, "R01", "manual", parameters)
    writeReaderMask(root, case, smaller, dwi, "R02", "manual", buildReadParameters({"dwi": 4, "adc": 4, "flair": 4}, {}, [], 200.0,
                                                                                   sequences=["dwi", "adc", "flair"]))
    out = root.parent / "out"
    result = writeReport(root, out, snapshots=False, cache=root.parent / "cache")
    return {"root": root, "out": out, "result": result, "case": case}


def test_seeds_never_count_as_readers(twoReaders):
    data = twoReaders["out"] / "report_data"
    pairs = readCsv(data / "agreement_pairs.csv")
    assert [(row["reader_a"], row["reader_b"]) for row in pairs] == [("R01", "R02")]
    assert {row["reader"] for row in readCsv(data / "per_reader.csv")} == {"R01", "R02"}
    kinds = sorted(row["kind"] for row in readCsv(data / "masks.csv"))
    assert kinds == ["read", "read", "seed", "seed", "seed"]
    assert any("seed mask(s)" in note and "not counted" in note for note in twoReaders["result"]["notes"])


def test_every_finding_is_a_sentence_with_what_to_do(twoReaders):
    rows = readCsv(twoReaders["out"] / "report_data" / "findings.csv")
    assert rows, "the tiny case lacks metadata, so there are findings"
    for row in rows:
        sentence = row["finding"]
        # "What is wrong: what to do. [code]" -- never the bare code.
        assert re.fullmatch(r"[A-Z/].{10,}: .{10,}\. \[[^\]]+\]", sentence, re.S), sentence
        assert sentence != row["code"] and not sentence.startswith(row["code"])
    html = (twoReaders["out"] / "report.html").read_text(encoding="utf-8")
    assert "What to do before signing" in html


def test_the_rules_applied_are_echoed(twoReaders):
    rules = {(row["rule"], row["setting"]): row for row in readCsv(twoReaders["out"] / "report_data" / "rules.csv")}
    assert rules[("concordance", "min_dice")]["value"] == "0.7"
    assert rules[("concordance", "min_extent_mm3")]["meaning"].startswith("discordant extent regions smaller than this")
    assert ("image quality", "minSnr") in rules and ("image quality", "minCnr") in rules and ("image quality", "minLikert") in rules
    assert "no workflow database" in rules[("concordance", "min_dice")]["source"]


def test_readers_records_reach_the_report(twoReaders):
    data = twoReaders["out"] / "report_data"
    records = {row["reader"]: row for row in readCsv(data / "read_records.csv")}
    assert set(records) == {"R01", "R02"}
    assert records["R01"]["criteria_below_acceptable"] == "dwi.motion 2" and records["R01"]["artifacts"] == "motion"
    assert "boundary unclear here" in records["R01"]["notes"] and records["R02"]["notes"] == ""
    lesions = readCsv(data / "lesion_attributes.csv")
    assert [(row["reader"], row["territory"], row["acuity"], row["hemorrhagic_transformation"]) for row in lesions] == [("R01", "mca", "acute", "no")]
    quality = readCsv(data / "quality.csv")
    assert quality[0]["criteria_below_acceptable"] == "R01: dwi.motion 2"
    html = (twoReaders["out"] / "report.html").read_text(encoding="utf-8")
    assert "territory MCA, acute, hemorrhagic transformation no" in html


def test_scan_parameters_and_clinical_values_per_case(twoReaders):
    data = twoReaders["out"] / "report_data"
    checks = readCsv(data / "scan_checks.csv")
    caseId = twoReaders["case"].caseId
    assert checks and {row["case"] for row in checks} == {caseId}
    assert {"field_strength", "slice_thickness", "b_value"} <= {row["parameter"] for row in checks}
    assert {row["status"] for row in checks} <= {"pass", "fail", "unknown"}
    assert [row["case"] for row in readCsv(data / "scan_cases.csv")] == [caseId]
    clinical = readCsv(data / "clinical.csv")
    assert clinical[0]["case"] == caseId and clinical[0]["missing"] == "onset_to_imaging_h, nihss, stroke_side"
    findings = readCsv(data / "findings.csv")
    assert any(row["code"] == "clinical-missing" and "ais clinical set" in row["finding"] for row in findings)


def test_the_cache_gives_the_same_report(twoReaders, tmp_path):
    first = twoReaders["result"]
    assert first["run"]["cached"] == 0 and Path(first["cacheFolder"]) == twoReaders["root"].parent / "cache"
    again = writeReport(twoReaders["root"], tmp_path / "again.html", snapshots=False, cache=twoReaders["root"].parent / "cache")
    assert again["run"]["cached"] == again["run"]["cases"] == 1
    assert dataFiles(tmp_path / "again_data") == dataFiles(twoReaders["out"] / "report_data")
    uncached = writeReport(twoReaders["root"], tmp_path / "uncached", snapshots=False, cache=False, workers=2)
    assert uncached["run"]["cached"] == 0 and uncached["cacheFolder"] is None
    assert dataFiles(tmp_path / "uncached" / "report_data") == dataFiles(twoReaders["out"] / "report_data")
    # The default cache is the user's, never inside the dataset.
    default = writeReport(twoReaders["root"], tmp_path / "default", snapshots=False)
    assert Path(default["cacheFolder"]) == Path(os.environ["XDG_CACHE_HOME"]) / "ais-annotation" / "report"
    assert not any(".ais" in path.name or "cache" in path.name for path in (twoReaders["root"] / "derivatives").rglob("*"))


def test_out_is_a_folder_or_a_file(twoReaders, tmp_path, capsys):
    from AISCommonLib.cli.main import main
    from AISCommonLib.cli.report import EXIT_NOT_ACCEPTED

    folder = tmp_path / "new" / "reports"
    code = main(["report", str(twoReaders["root"]), "--out", str(folder), "--no-snapshots", "--workers", "1", "--cache-dir", str(tmp_path / "c")])
    assert code in (0, EXIT_NOT_ACCEPTED)
    assert sorted(path.name for path in folder.iterdir()) == ["report.html", "report_data"]
    assert (folder / "report_data" / "summary.csv").is_file()
    assert "finding(s) to fix before signing" in capsys.readouterr().out
    file = tmp_path / "x" / "acceptance.html"
    main(["report", str(twoReaders["root"]), "--out", str(file), "--no-snapshots", "--no-cache"])
    assert sorted(path.name for path in file.parent.iterdir()) == ["acceptance.html", "acceptance_data"]
    (tmp_path / "plain").write_text("not a folder", encoding="utf-8")
    assert main(["report", str(twoReaders["root"]), "--out", str(tmp_path / "plain"), "--no-snapshots"]) != 0
    assert "ais: error:" in capsys.readouterr().err


def test_a_failure_leaves_nothing_behind(twoReaders, tmp_path, monkeypatch):
    from AISCommonLib.report import report as reportModule

    def broken(*args):
        raise OSError("disk full")

    monkeypatch.setattr(reportModule, "renderHtml", broken)
    with pytest.raises(OSError):
        writeReport(twoReaders["root"], tmp_path / "new" / "deeper", snapshots=False, cache=False)
    assert not (tmp_path / "new").exists()
    old = tmp_path / "old"
    old.mkdir()
    (old / "report.html").write_text("the signed report", encoding="utf-8")
    with pytest.raises(OSError):
        writeReport(twoReaders["root"], old, snapshots=False, cache=False)
    assert sorted(path.name for path in old.iterdir()) == ["report.html"]
    assert (old / "report.html").read_text(encoding="utf-8") == "the signed report"


def test_every_manager_override_is_listed():
    from AISCommonLib.report.workflowinfo import managerOverrides

    tables = {
        "events": [
            {"at": "2026-01-01 10:00:00", "user_id": "M1", "action": "qualify", "case_id": None,
             "note": json.dumps({"user": "R07", "override_reason": "senior neuroradiologist"})},
            {"at": "2026-01-02 10:00:00", "user_id": "M1", "action": "exclude", "case_id": "sub-03_ses-01",
             "note": json.dumps({"reason": "motion_artifact", "note": "ghosting over the lesion"})},
            {"at": "2026-01-03 10:00:00", "user_id": "R01", "action": "submit", "case_id": "sub-01_ses-01", "note": None},
        ],
        "decisions": [
            {"created_at": "2026-01-04 10:00:00", "user_id": "A1", "action": "arbitrate", "case_id": "sub-02_ses-01",
             "override_reason": "the reviewer kept a vessel artefact"},
            {"created_at": "2026-01-05 10:00:00", "user_id": "V1", "action": "review", "case_id": "sub-04_ses-01", "override_reason": None},
        ],
    }
    rows = managerOverrides(tables)
    assert [(row["action"], row["case"]) for row in rows] == [("qualify", ""), ("exclude", "sub-03_ses-01"), ("arbitrate (override)", "sub-02_ses-01")]
    assert rows[0]["reason"] == "senior neuroradiologist" and "without the training bar" in rows[0]["what"]
    assert rows[1]["reason"] == "ghosting over the lesion" and "motion_artifact" in rows[1]["what"]
    assert rows[2]["reason"] == "the reviewer kept a vessel artefact" and rows[2]["who"] == "A1"
