"""Acceptance report: contents checked against what the fixtures planted, HTML parsing, embedded PNGs, CSVs, bad input."""

import base64
import csv
import datetime
import html.parser
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from AISCommonLib.core.cases import discoverCases
from AISCommonLib.core.derivatives import consensusMaskPath, sidecarPathFor, writeMaskWithSidecar, writeReaderMask
from AISCommonLib.core.errors import AISError, InputError
from AISCommonLib.core.image import loadVolume
from AISCommonLib.report import stats as reportstats
from AISCommonLib.report.report import findSnapshotRenderer, writeReport
from AISCommonLib.synthetic.tinycases import writeSimpleCase

pytest.importorskip("matplotlib")


# ---------------------------------------------------------------------------------------------------
# Helpers


class _ReportParser(html.parser.HTMLParser):
    """Collects what the tests read from the HTML: metrics, missing cases, images, problem boxes."""

    def __init__(self):
        super().__init__()
        self.metrics, self.missing, self.images, self.problems, self.figures = {}, [], [], [], []
        self._capture = None
        self._text = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if "data-metric" in attributes:
            self._capture, self._text = ("metric", attributes["data-metric"]), []
        elif "data-missing-case" in attributes:
            self.missing.append(attributes["data-missing-case"])
        elif tag == "div" and attributes.get("class") == "problem":
            self._capture, self._text = ("problem", None), []
        if tag == "img":
            self.images.append(attributes["src"])
            self.figures.append(attributes.get("data-figure"))

    def handle_data(self, data):
        if self._capture:
            self._text.append(data)

    def handle_endtag(self, tag):
        if self._capture and tag in ("td", "span", "div"):
            kind, key = self._capture
            if kind == "metric":
                self.metrics[key] = "".join(self._text).strip()
            else:
                self.problems.append("".join(self._text).strip())
            self._capture = None


def parseReport(path: Path) -> _ReportParser:
    parser = _ReportParser()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    return parser


def pngSize(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, checking the signature and the chunk CRC (no imaging library)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    body = data[16:29]
    assert struct.unpack(">I", data[29:33])[0] == zlib.crc32(kind + body) & 0xFFFFFFFF
    width, height = struct.unpack(">II", body[:8])
    assert data[-12:-8] == b"\x00\x00\x00\x00" and data[-8:-4] == b"IEND"
    return width, height


def tinyPng(width: int = 4, height: int = 3) -> bytes:
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def readCsv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def summaryCsv(dataFolder: Path) -> dict:
    return {row["metric"]: row for row in readCsv(dataFolder / "summary.csv")}


def dice(first, second) -> float:
    return 2.0 * np.count_nonzero(first & second) / (np.count_nonzero(first) + np.count_nonzero(second))


def writeFinal(root, case, mask, dwi):
    sidecar = {"Type": "consensus", "Case": case.caseId, "Created": datetime.datetime.now(datetime.timezone.utc).isoformat(), "Reads": []}
    writeMaskWithSidecar(consensusMaskPath(root, case), mask, dwi, sidecar)


# ---------------------------------------------------------------------------------------------------
# Statistics


def test_icc_matches_shrout_fleiss_table():
    """Shrout & Fleiss (1979), Table 2: 6 targets, 4 judges; ICC(1,1) .17, ICC(2,1) .29, ICC(3,1) .71."""
    ratings = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
    assert reportstats.icc(ratings, "1,1") == pytest.approx(0.17, abs=0.005)
    assert reportstats.icc(ratings, "2,1") == pytest.approx(0.29, abs=0.005)
    assert reportstats.icc(ratings, "3,1") == pytest.approx(0.71, abs=0.005)
    assert reportstats.icc([[1, 1], [2, 2], [3, 3]]) == pytest.approx(1.0)
    with pytest.raises(InputError):
        reportstats.icc([[1, 2]])


def test_bland_altman_and_correlations():
    a, b = [1.0, 2.0, 3.0, 4.0], [0.5, 2.5, 2.0, 3.0]
    analysis = reportstats.blandAltman(a, b)
    differences = np.subtract(a, b)
    assert analysis["bias"] == pytest.approx(differences.mean())
    assert analysis["upper"] - analysis["bias"] == pytest.approx(1.96 * differences.std(ddof=1))
    assert reportstats.pearson(a, b) == pytest.approx(np.corrcoef(a, b)[0, 1])
    assert reportstats.spearman([1, 2, 2, 3], [10, 20, 20, 40]) == pytest.approx(1.0)
    assert list(reportstats.ranks([3, 1, 3, 2])) == [3.5, 1.0, 3.5, 2.0]
    assert reportstats.pearson([1, 2], [1, 2]) is None
    assert reportstats.blandAltman([1.0], [2.0])["lower"] is None


# ---------------------------------------------------------------------------------------------------
# A small planted dataset (files only, no workflow database)


@pytest.fixture(scope="module")
def plantedDataset(tmp_path_factory):
    """Four simple cases: 01 two reads + final, 02 two reads (low Likert) + final, 03 one read, 04 none."""
    root = tmp_path_factory.mktemp("planted") / "bids"
    for subject in ("01", "02", "03", "04"):
        info = writeSimpleCase(root, subject=subject)
    truth = info["truth"]
    cases = {case.subject: case for case in discoverCases(root)}
    dwi = loadVolume(cases["01"].files["dwi"])
    smaller = truth.copy()
    smaller[truth.nonzero()[0].min()] = False  # reader B leaves out the lowest lesion slice
    bigger = truth | np.roll(truth, 1, axis=2)
    planted = {"01": (truth, smaller, {"likert": 4}, {"likert": 5}), "02": (truth, bigger, {"likert": 2}, {"likert": 2})}
    for subject, (maskA, maskB, parametersA, parametersB) in planted.items():
        writeReaderMask(root, cases[subject], maskA, dwi, "R01", "manual", parametersA)
        writeReaderMask(root, cases[subject], maskB, dwi, "R02", "manual", parametersB)
        writeFinal(root, cases[subject], maskA & maskB, dwi)
    writeReaderMask(root, cases["03"], truth, dwi, "R01", "manual", {})
    out = root.parent / "report" / "acceptance.html"
    result = writeReport(root, out, pdf=True, snapshots=False)
    return {"root": root, "out": out, "result": result, "planted": planted, "voxelMl": dwi.voxelVolumeMm3 / 1000.0}


def test_planted_completeness(plantedDataset):
    parser = parseReport(plantedDataset["out"])
    assert parser.missing == ["sub-03_ses-01", "sub-04_ses-01"]
    rows = {row["case"]: row for row in readCsv(plantedDataset["out"].parent / "acceptance_data" / "completeness.csv")}
    assert rows["sub-03_ses-01"]["missing"] == "1 of 2 reads; no final (reviewed) mask"
    assert rows["sub-04_ses-01"]["missing"] == "0 of 2 reads; no final (reviewed) mask"
    assert rows["sub-01_ses-01"]["status"] == rows["sub-02_ses-01"]["status"] == "complete"
    assert parser.metrics["cases_missing"] == "2" and parser.metrics["cases_complete"] == "2"
    assert plantedDataset["result"]["accepted"] is False
    assert parser.metrics["accepted"] == "does not pass acceptance yet"


def test_planted_agreement_numbers(plantedDataset):
    data = plantedDataset["out"].parent / "acceptance_data"
    pairs = {row["case"]: row for row in readCsv(data / "agreement_pairs.csv")}
    assert sorted(pairs) == ["sub-01_ses-01", "sub-02_ses-01"]
    expectedDice = {f"sub-{subject}_ses-01": dice(maskA, maskB) for subject, (maskA, maskB, *_) in plantedDataset["planted"].items()}
    for caseId, expected in expectedDice.items():
        assert float(pairs[caseId]["dice"]) == pytest.approx(expected)
    volumesA = [maskA.sum() * plantedDataset["voxelMl"] for maskA, *_ in plantedDataset["planted"].values()]
    volumesB = [maskB.sum() * plantedDataset["voxelMl"] for _, maskB, *_ in plantedDataset["planted"].values()]
    summary = summaryCsv(data)
    assert float(summary["dice_mean"]["value"]) == pytest.approx(np.mean(list(expectedDice.values())))
    assert float(summary["volume_bias_ml"]["value"]) == pytest.approx(np.mean(np.subtract(volumesA, volumesB)))
    assert float(summary["volume_icc_2_1"]["value"]) == pytest.approx(reportstats.icc(np.column_stack([volumesA, volumesB])))
    assert summary["volume_pearson_r"]["value"] == ""  # two pairs: no correlation, said in the report
    bland = readCsv(data / "bland_altman.csv")
    assert [float(row["difference_ml"]) for row in bland] == pytest.approx(np.subtract(volumesA, volumesB))
    readers = {row["reader"]: row for row in readCsv(data / "per_reader.csv")}
    assert int(readers["R01"]["reads_compared"]) == 2
    assert float(readers["R01"]["volume_bias_vs_other_ml"]) == pytest.approx(np.mean(np.subtract(volumesA, volumesB)))


def test_planted_quality_and_likert(plantedDataset):
    data = plantedDataset["out"].parent / "acceptance_data"
    proposals = readCsv(data / "quality_proposals.csv")
    assert [(row["case"], row["reason"]) for row in proposals] == [("sub-02_ses-01", "likert_below_3")]
    summary = summaryCsv(data)
    assert int(summary["likert_reads"]["value"]) == 4
    assert float(summary["likert_mean"]["value"]) == pytest.approx(13 / 4)
    quality = {row["case"]: row for row in readCsv(data / "quality.csv")}
    assert len(quality) == 4 and float(quality["sub-01_ses-01"]["dwi_snr"]) > 8


def test_html_numbers_match_csv_and_images_decode(plantedDataset):
    parser = parseReport(plantedDataset["out"])
    summary = summaryCsv(plantedDataset["out"].parent / "acceptance_data")
    assert parser.metrics, "the HTML shows no metric"
    for key, shown in parser.metrics.items():
        if key != "accepted":
            assert summary[key]["shown"] == shown, key
    assert {"dice_histogram", "bland_altman", "volume_correlation", "quality_snr_cnr", "likert"} <= set(parser.figures)
    for source in parser.images:
        assert source.startswith("data:image/png;base64,")
        width, height = pngSize(base64.b64decode(source.split(",", 1)[1]))
        assert width > 100 and height > 100
    assert Path(plantedDataset["result"]["pdf"]).read_bytes()[:5] == b"%PDF-"
    assert not list(plantedDataset["out"].parent.glob(".*.tmp*")), "a temporary file was left behind"


# ---------------------------------------------------------------------------------------------------
# Bad input


def test_empty_dataset_gives_a_report(tmp_path):
    root = tmp_path / "bids"
    root.mkdir()
    (root / "dataset_description.json").write_text('{"Name": "x", "BIDSVersion": "1.9.0"}', encoding="utf-8")
    result = writeReport(root, tmp_path / "report.html")
    parser = parseReport(tmp_path / "report.html")
    assert result["accepted"] is False
    assert any("No cases" in problem for problem in parser.problems)
    assert readCsv(tmp_path / "report_data" / "completeness.csv") == []
    with pytest.raises(InputError):
        writeReport(tmp_path / "absent", tmp_path / "other.html")


def test_corrupt_mask_is_reported(tmp_path):
    root = tmp_path / "bids"
    info = writeSimpleCase(root)
    case = discoverCases(root)[0]
    dwi = loadVolume(case.files["dwi"])
    writeReaderMask(root, case, info["truth"], dwi, "R01", "manual", {})
    record = writeReaderMask(root, case, info["truth"], dwi, "R02", "manual", {})
    record.path.write_bytes(b"\x1f\x8b this is not a NIfTI file")
    notBinary = info["truth"].astype(np.uint8) * 2
    from AISCommonLib.core.image import writeNifti

    writeNifti(notBinary, dwi.ijkToRas, consensusMaskPath(root, case), np.uint8)
    sidecarPathFor(consensusMaskPath(root, case)).write_text("{}", encoding="utf-8")
    writeReport(root, tmp_path / "report.html", snapshots=False)
    masks = {row["file"]: row for row in readCsv(tmp_path / "report_data" / "masks.csv")}
    assert masks[record.path.name]["status"] == "problem" and "unreadable" in masks[record.path.name]["problems"]
    final = masks[consensusMaskPath(root, case).name]["problems"]
    assert "not binary" in final and "sidecar lacks Type" in final
    parser = parseReport(tmp_path / "report.html")
    assert any("could not be compared" in problem for problem in parser.problems)
    assert summaryCsv(tmp_path / "report_data")["mask_files_with_problems"]["value"] == "2"


def test_snapshot_step_is_pluggable(tmp_path):
    root = tmp_path / "bids"
    info = writeSimpleCase(root)
    case = discoverCases(root)[0]
    dwi = loadVolume(case.files["dwi"])
    writeReaderMask(root, case, info["truth"], dwi, "R01", "manual", {})
    writeReaderMask(root, case, info["truth"] & (np.arange(info["truth"].shape[0]) < 10)[:, None, None], dwi, "R02", "manual", {})

    def fakeRenderer(case, outDir, pathA, pathB, readerIds):
        outDir.mkdir(parents=True)
        (outDir / "region.png").write_bytes(tinyPng())
        return {"regions": [{"id": 1, "title": "region 1: extent", "png": str(outDir / "region.png")}]}

    writeReport(root, tmp_path / "with.html", snapshots=fakeRenderer)
    parser = parseReport(tmp_path / "with.html")
    assert "snapshot_0" in parser.figures
    assert pngSize(base64.b64decode(parser.images[parser.figures.index("snapshot_0")].split(",", 1)[1])) == (4, 3)

    def brokenRenderer(*args):
        raise AISError("No OpenGL context could be created.")

    writeReport(root, tmp_path / "broken.html", snapshots=brokenRenderer)
    assert any("No OpenGL" in problem for problem in parseReport(tmp_path / "broken.html").problems)
    renderer, why = findSnapshotRenderer()
    assert (renderer is None) == (why is not None)


# ---------------------------------------------------------------------------------------------------
# The demo: a workflow database with review, arbitration and an exclusion


@pytest.fixture(scope="module")
def demoReport(tmp_path_factory):
    from AISCommonLib.synthetic.demo import runDemo

    folder = tmp_path_factory.mktemp("demoreport")
    runDemo(folder / "demo")
    out = folder / "report.html"
    result = writeReport(folder / "demo" / "bids", out, snapshots=False)
    return {"root": folder / "demo" / "bids", "out": out, "result": result}


def test_demo_report_matches_the_workflow(demoReport):
    from AISCommonLib.workflow.store import openStore

    with openStore(None, demoReport["root"]) as store:
        cases = store.cases()
        comparisons = {case["case_id"]: store.case(case["case_id"])["comparison"] for case in cases}
    data = demoReport["out"].parent / "report_data"
    summary = summaryCsv(data)
    excluded = [case["case_id"] for case in cases if case["state"] == "excluded"]
    assert int(summary["cases"]["value"]) == len(cases) == 10
    assert int(summary["cases_excluded"]["value"]) == len(excluded) == 1
    assert int(summary["cases_complete"]["value"]) == 9 and int(summary["cases_missing"]["value"]) == 0
    assert int(summary["cases_adjudicated"]["value"]) == sum(case["concordant"] is False for case in cases)
    assert int(summary["cases_arbitrated"]["value"]) == 1
    assert readCsv(data / "exclusions.csv") == [{"case": excluded[0], "reason": "motion_artifact"}]
    pairs = {row["case"]: row for row in readCsv(data / "agreement_pairs.csv")}
    assert excluded[0] not in pairs and len(pairs) == 9
    for caseId, row in pairs.items():
        assert float(row["dice"]) == pytest.approx(comparisons[caseId]["dice"])
    times = readCsv(data / "reading_times.csv")
    assert {row["reader"] for row in times} == {"R01", "R02"} and len(times) == 18
    parser = parseReport(demoReport["out"])
    assert parser.missing == []
    for key, shown in parser.metrics.items():
        if key != "accepted":
            assert summary[key]["shown"] == shown, key
    for source in parser.images:
        pngSize(base64.b64decode(source.split(",", 1)[1]))
    quality = {row["case"]: row for row in readCsv(data / "quality.csv")}
    # The phantoms' Rician noise: DWI sigma 8.4 at 3 T (14 x 0.6), 11.76 at 1.5 T.
    assert float(quality["sub-02_ses-01"]["dwi_sigma"]) == pytest.approx(8.4, rel=0.05)
    assert float(quality["sub-04_ses-01"]["dwi_sigma"]) == pytest.approx(11.76, rel=0.05)
    assert "not pure noise" in quality[excluded[0]]["problems"]  # the motion case's ghosts


def test_demo_readers_identity_and_overrides_come_from_the_workflow(demoReport):
    from AISCommonLib.workflow.store import openStore

    data = demoReport["out"].parent / "report_data"
    with openStore(None, demoReport["root"]) as store:
        statement = store.identityReport()["statement"]
        readers = {read["user_id"] for read in store.snapshot()["reads"]}
    # The demo also leaves each reader's seed in derivatives/lesions: only the workflow's reads count.
    assert {row["reader_a"] for row in readCsv(data / "agreement_pairs.csv")} | {row["reader_b"] for row in readCsv(data / "agreement_pairs.csv")} == readers
    assert any(note.startswith("Readers are the workflow's") for note in demoReport["result"]["notes"])
    html = demoReport["out"].read_text(encoding="utf-8")
    assert statement in html and 'data-identity="declared"' in html
    overrides = readCsv(data / "overrides.csv")
    assert [row["action"] for row in overrides if row["action"] == "exclude"] == ["exclude"]
    assert 'data-override="exclude"' in html
    assert {row["rule"] for row in readCsv(data / "rules.csv")} == {"concordance", "image quality", "training bar"}


def test_the_report_uses_the_workflows_concordance_rule():
    import json

    from AISCommonLib.report.workflowinfo import concordanceRule

    tables = {"settings": [{"key": "concordance", "value": json.dumps({"min_dice": 0.55, "max_missed_lesions": 1, "min_extent_mm3": 10.0})}]}
    assert concordanceRule(tables).ruleDict() == {"min_dice": 0.55, "max_missed_lesions": 1, "min_extent_mm3": 10.0}
    assert concordanceRule(None).ruleDict() == concordanceRule({"settings": []}).ruleDict() == {"min_dice": 0.7, "max_missed_lesions": 0, "min_extent_mm3": 50.0}


def test_the_report_compares_reads_with_the_masks_the_dataset_ships(tmp_path):
    """The ISLES sample ships an expert mask: a read of the case is compared with it in the report and its CSV; the seed
    the reader started from is not a read and is never compared."""
    from realdata import copyRealCase

    from AISCommonLib.core.readrecord import METHOD_SEEDED
    from AISCommonLib.core.seeding import SeedParameters
    from AISCommonLib.core.seedmask import seedAndWriteCase

    root = copyRealCase("isles22-0001", tmp_path)
    case = discoverCases(root)[0]
    seeded = seedAndWriteCase(root, case, "R01", SeedParameters())
    result = writeReport(root, tmp_path / "seed-only", snapshots=False)
    rows = readCsv(Path(result["html"]).parent / "report_data" / "reads_vs_reference.csv")
    assert [(row["reader"], row["status"]) for row in rows] == [("", "no-reads")]
    # The reader edits the seed (here: keeps it) and submits it as their read.
    seed = loadVolume(seeded["mask"])
    writeReaderMask(root, case, seed.array > 0, loadVolume(case.files["dwi"]), "R01", METHOD_SEEDED, {"quality": {"likert": {"dwi": 4}}})
    result = writeReport(root, tmp_path / "out" / "report.html", snapshots=False)
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "Reads against the masks the dataset ships" in html and "sub-strokecase0001_ses-0001_msk.nii.gz" in html
    path = next(Path(name) for name in result["csv"] if name.endswith("reads_vs_reference.csv"))
    rows = readCsv(path)
    assert len(rows) == 1 and rows[0]["reader"] == "R01" and rows[0]["version"] == "2" and rows[0]["status"] == "compared"
    assert 0.0 < float(rows[0]["dice"]) < 1.0
    masks = {row["file"]: row for row in readCsv(path.parent / "masks.csv")}
    assert masks[Path(seeded["mask"]).name]["kind"] == "seed" and masks[Path(seeded["mask"]).name]["status"] == "ok"
