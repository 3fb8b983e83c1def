"""`ais validate` and `ais seed`: results, and bad input ending in one sentence, no traceback, no output."""

import json
from pathlib import Path

import numpy as np
import pytest
from testfiles import saveNifti

from AISCommonLib.cli.main import main
from AISCommonLib.synthetic.tinycases import rotationAffine, writeSimpleCase


def run(capsys, *argv):
    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def maskFiles(root):
    return sorted((root / "derivatives").rglob("*.nii.gz")) if (root / "derivatives").exists() else []


def test_seed_writes_a_mask_per_case_and_reports_the_unit(tmp_path, capsys):
    writeSimpleCase(tmp_path, "01", adcUnit="mm2/s")
    writeSimpleCase(tmp_path, "02")
    code, out, err = run(capsys, "seed", tmp_path, "--reader", "R01", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert [s["caseId"] for s in report["seeded"]] == ["sub-01_ses-01", "sub-02_ses-01"]
    first = report["seeded"][0]
    assert first["adcUnit"]["unit"] == "mm2/s" and first["threshold"]["inFileUnit"] == "0.00062 mm^2/s"
    assert first["voxels"] > 0 and len(maskFiles(tmp_path)) == 2


def test_seed_table_output_and_participant_filter(tmp_path, capsys):
    writeSimpleCase(tmp_path, "01")
    writeSimpleCase(tmp_path, "02")
    code, out, _ = run(capsys, "seed", tmp_path, "--reader", "R07", "--participant-label", "02")
    assert code == 0 and "sub-02_ses-01" in out and "sub-01_ses-01" not in out
    assert "620 x 1e-6 mm^2/s" in out


def test_seed_modes_and_skipped_steps_are_recorded_in_the_sidecar(tmp_path, capsys):
    writeSimpleCase(tmp_path, "01")
    code, out, err = run(capsys, "seed", tmp_path, "--reader", "R01", "--mode", "plain", "--json")
    assert code == 0, err
    plain = json.loads(out)["seeded"][0]
    assert plain["mode"] == "plain" and len(plain["steps"]) == 1
    code, out, err = run(capsys, "seed", tmp_path, "--reader", "R01", "--skip", "fill-holes", "csf-border", "--json")
    assert code == 0, err
    gated = json.loads(out)["seeded"][0]
    steps = {step["step"]: step["enabled"] for step in gated["steps"]}
    assert steps["holes filled"] is False and steps["components bordered by csf dropped"] is False and steps["dwi-bright voxels"] is True
    sidecar = json.loads(Path(gated["mask"].replace(".nii.gz", ".json")).read_text())
    assert sidecar["Parameters"]["mode"] == "gated" and sidecar["Parameters"]["parameters"]["fillHoles"] is False
    assert sidecar["Parameters"]["componentTable"][0]["voxels"] == gated["componentTable"][0]["voxels"]
    with pytest.raises(SystemExit) as exit:  # argparse's own usage error: one line, status 2
        main(["seed", str(tmp_path), "--reader", "R01", "--skip", "everything"])
    assert exit.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_validate_exit_status_follows_errors(tmp_path, capsys):
    writeSimpleCase(tmp_path)
    code, out, _ = run(capsys, "validate", tmp_path, "--json")
    assert code == 0 and json.loads(out)["errors"] == 0
    writeSimpleCase(tmp_path, "02", withFlair=False)
    code, out, _ = run(capsys, "validate", tmp_path)
    assert code == 1 and "sequence-missing" in out


def breakAdcGrid(info):
    saveNifti(np.full((40, 44, 20), 800.0), rotationAffine(origin=(9.0, 0.0, 0.0)), info["paths"]["adc"])


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def addNan(info):
    data = np.full((40, 44, 20), 800.0)
    data[3, 3, 3] = np.nan
    saveNifti(data, info["affine"], info["paths"]["adc"])


BAD_INPUTS = {
    "missing ADC": (lambda info: info["paths"]["adc"].unlink(), "has no ADC image"),
    "ADC on another grid": (breakAdcGrid, "not on the voxel grid"),
    "truncated DWI": (lambda info: truncate(info["paths"]["dwi"]), "corrupt, truncated"),
    "NaN in ADC": (addNan, "NaN or infinite"),
    "4D ADC": (lambda info: saveNifti(np.zeros((40, 44, 20, 3)), info["affine"], info["paths"]["adc"]), "4D with 3 frames"),
    "unknown ADC unit": (lambda info: saveNifti(info["adc"].transpose(2, 1, 0) * 0.01, info["affine"], info["paths"]["adc"]), "Cannot tell the unit"),
}


@pytest.mark.parametrize("name", BAD_INPUTS)
def test_bad_input_is_one_sentence_and_leaves_no_mask(tmp_path, capsys, name):
    breakIt, expected = BAD_INPUTS[name]
    breakIt(writeSimpleCase(tmp_path))
    code, _, err = run(capsys, "seed", tmp_path, "--reader", "R01")
    assert code != 0
    assert expected in err and "Traceback" not in err
    assert len([line for line in err.splitlines() if line.startswith("ais: error:")]) == 1
    assert maskFiles(tmp_path) == []


def test_empty_root_bad_reader_and_bad_parameters(tmp_path, capsys):
    code, _, err = run(capsys, "seed", tmp_path, "--reader", "R01")
    assert code == 2 and "No cases" in err
    writeSimpleCase(tmp_path)
    code, _, err = run(capsys, "seed", tmp_path, "--reader", "Dr Who")
    assert code == 2 and "letters and digits" in err
    code, _, err = run(capsys, "seed", tmp_path, "--reader", "R01", "--threshold", "620")
    assert code == 2 and "Invalid seed parameter" in err
    assert maskFiles(tmp_path) == []


def test_a_forced_unit_that_contradicts_the_data_writes_nothing_unless_forced(tmp_path, capsys):
    writeSimpleCase(tmp_path)
    code, _, err = run(capsys, "seed", tmp_path, "--reader", "R01", "--adc-unit", "mm2/s")
    assert code == 1 and "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("ais: error:")]
    assert len(errors) == 1 and "was forced, but the values look like x 1e-6 mm^2/s" in errors[0] and "--force" in errors[0]
    assert maskFiles(tmp_path) == []
    code, out, err = run(capsys, "seed", tmp_path, "--reader", "R01", "--adc-unit", "mm2/s", "--force", "--json")
    assert code == 0
    assert "ais: warning: sub-01_ses-01: ADC unit mm^2/s was forced, but the values look like x 1e-6 mm^2/s" in err
    seeded = json.loads(out)["seeded"][0]
    assert seeded["adcUnit"]["overridden"] is True and len(maskFiles(tmp_path)) == 1


def test_an_unknown_adc_unit_is_refused_once_before_any_case(tmp_path, capsys):
    writeSimpleCase(tmp_path, "01")
    writeSimpleCase(tmp_path, "02")
    code, _, err = run(capsys, "seed", tmp_path, "--reader", "R01", "--adc-unit", "furlongs")
    assert code == 2 and err.count("Unknown ADC unit 'furlongs'") == 1
    assert maskFiles(tmp_path) == []
