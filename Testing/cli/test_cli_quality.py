"""`ais scan-qc` and `ais quality`: per-case findings in sentences, proposals with their reason, on phantoms and real cases."""

import json

import numpy as np
from realdata import copyRealCase

from AISCommonLib.cli.main import main
from AISCommonLib.core.cases import discoverCases
from AISCommonLib.core.derivatives import writeReaderMask
from AISCommonLib.core.readrecord import buildReadParameters
from AISCommonLib.core.sequences import loadCase
from AISCommonLib.synthetic.tinycases import writeSimpleCase


def run(capsys, *argv):
    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_scan_qc_prints_each_check_and_takes_site_limits(tmp_path, capsys):
    writeSimpleCase(tmp_path / "bids")
    code, out, err = run(capsys, "scan-qc", tmp_path / "bids")
    assert code == 0, err
    # A tiny test grid: DWI and FLAIR matrices (40 x 44), the FLAIR's 2 mm pixels and the 80 mm DWI slab fail.
    assert "sub-01_ses-01: 9 passed, 4 failed, 1 unknown" in out and "FAIL DWI: in-plane matrix 40 x 44" in out
    assert "ok   DWI: acquired at 3 T." in out and "1 case(s), 4 failed check(s)." in out
    assert run(capsys, "scan-qc", tmp_path / "bids", "--strict")[0] == 1
    code, out, _ = run(capsys, "scan-qc", tmp_path / "bids", "--min-dwi-matrix", "32", "--min-dwi-coverage", "60", "--min-anatomical-matrix", "32",
                       "--max-anatomical-pixel", "2", "--strict", "--problems-only")
    assert code == 0 and "ok " not in out and "?    DWI: no b=0 image shipped" in out
    code, out, _ = run(capsys, "scan-qc", tmp_path / "bids", "--json")
    document = json.loads(out)
    failedChecks = document["cases"]["sub-01_ses-01"]["summary"]["failed"]
    assert document["limits"]["minFieldStrengthT"] == 1.5
    assert failedChecks == ["dwi.matrix", "dwi.coverage", "flair.in_plane_resolution", "flair.matrix"]
    code, _, err = run(capsys, "scan-qc", tmp_path / "bids", "--min-fov-overlap", "3")
    assert code == 2 and "between 0 and 1" in err


def test_scan_qc_on_the_real_cases(tmp_path, capsys):
    for name, expected in (("isles22-0001", "4 passed, 0 failed, 4 unknown"), ("isles22-challenge-case", "7 passed, 1 failed, 6 unknown")):
        code, out, _ = run(capsys, "scan-qc", copyRealCase(name, tmp_path / name))
        assert code == 0 and expected in out
    assert "FAIL FLAIR: slices 6 mm thick" in out


def test_quality_proposes_exclusions_with_the_reason_and_the_command(tmp_path, capsys):
    root = tmp_path / "bids"
    info = writeSimpleCase(root)
    case = discoverCases(root)[0]
    dwi = loadCase(case).dwi
    poorMotion = {"dwi": {"noise": 4, "motion": 2, "artifact": 3, "contrast": 4}, "adc": 3, "flair": 2}
    writeReaderMask(root, case, info["truth"], dwi, "R01", "manual", buildReadParameters(poorMotion, {}, [], 1.0))
    writeReaderMask(root, case, info["truth"], dwi, "R02", "manual", buildReadParameters({"dwi": 3, "adc": 3, "flair": 2}, {}, [], 1.0))
    code, out, err = run(capsys, "quality", root)
    assert code == 0, err
    assert "proposed for exclusion (likert_below_3): Mean Likert score 2.0 < 3 (R01 2, R02 2); below 3: R01 dwi.motion 2" in out
    assert "ais workflow exclude sub-01_ses-01 --reason likert_below_3 --note 'Mean Likert" in out
    code, out, _ = run(capsys, "quality", root, "--min-likert", "1", "--min-snr", "1000", "--json")
    [record] = json.loads(out)["cases"]
    assert record["proposed_exclusion"] == "low_snr_cnr" and "DWI SNR" in record["proposal_note"]
    assert record["low_criteria"]["R01"] == ["dwi.motion 2", "flair.noise 2", "flair.motion 2", "flair.artifact 2", "flair.contrast 2"]


def test_quality_of_the_real_cases(tmp_path, capsys):
    """Nobody has read them: the sample's shipped expert mask gives the CNR; the challenge case has no lesion mask."""
    sample = copyRealCase("isles22-0001", tmp_path / "a")
    code, out, _ = run(capsys, "quality", sample, "--json")
    [record] = json.loads(out)["cases"]
    assert code == 0 and record["lesion_source"] == "reference" and record["dwi_cnr"] > 3 and record["dwi_snr"] > 8
    assert record["proposed_exclusion"] == ""
    code, out, _ = run(capsys, "quality", copyRealCase("isles22-challenge-case", tmp_path / "b"), "--json")
    [record] = json.loads(out)["cases"]
    assert code == 0 and record["lesion_source"] == "none" and record["dwi_cnr"] is None and np.isfinite(record["flair_snr"])
