"""`ais seed --from-prediction`: an AI prediction as a reader's starting mask, its origin recorded; bad input refused."""

import json

import numpy as np
from testfiles import saveNifti

from AISCommonLib.cli.main import main
from AISCommonLib.synthetic.tinycases import writeSimpleCase


def run(capsys, *argv):
    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_seed_from_a_prediction(tmp_path, capsys):
    info = writeSimpleCase(tmp_path / "bids", "01")
    writeSimpleCase(tmp_path / "bids", "02")
    probabilities = saveNifti(np.where(info["truth"], 0.9, 0.05).transpose(2, 1, 0), info["affine"], tmp_path / "pred.nii.gz")
    code, _, err = run(capsys, "seed", tmp_path / "bids", "--reader", "R01", "--from-prediction", probabilities)
    assert code == 2 and "belongs to one case, but 2 match" in err and "Traceback" not in err
    code, out, err = run(capsys, "seed", tmp_path / "bids", "--reader", "R01", "--participant-label", "01", "--from-prediction", probabilities,
                         "--tool", "nnU-Net v2 fold 0")
    assert code == 0, err
    assert "started R01's read from the prediction pred.nii.gz (nnU-Net v2 fold 0), probabilities, probability >= 0.5: 1 component(s)" in out
    code, out, _ = run(capsys, "seed", tmp_path / "bids", "--reader", "R01", "--participant-label", "01", "--from-prediction", probabilities,
                       "--prediction-threshold", "0.95", "--json")
    summary = json.loads(out)["seeded"][0]
    assert code == 0 and summary["version"] == 2 and summary["voxels"] == 0 and summary["threshold"] == 0.95
    sidecar = json.loads(open(summary["mask"].replace(".nii.gz", ".json")).read())
    assert sidecar["Method"] == "ai-prediction" and sidecar["Parameters"]["rule"] == "probability >= 0.95"
    logits = saveNifti(np.where(info["truth"], 3.0, -2.5).transpose(2, 1, 0), info["affine"], tmp_path / "logits.nii.gz")
    code, _, err = run(capsys, "seed", tmp_path / "bids", "--reader", "R02", "--participant-label", "01", "--from-prediction", logits)
    assert code == 2 and "neither labels nor probabilities" in err
    code, _, err = run(capsys, "seed", tmp_path / "bids", "--reader", "R02", "--tool", "x")
    assert code == 2 and "go with --from-prediction" in err
    assert not list((tmp_path / "bids" / "derivatives").rglob("*desc-R02*"))
