"""AI predictions as the starting mask: the binarisation rule, the refusals, the recorded origin; phantoms and real cases."""

import json

import numpy as np
import pytest
from realdata import copyRealCase
from testfiles import saveNifti

from AISCommonLib.core.atomicio import sha256File
from AISCommonLib.core.cases import discoverCases
from AISCommonLib.core.errors import GeometryError, InputError
from AISCommonLib.core.image import loadVolume
from AISCommonLib.core.prediction import binarisePrediction, dwiGrid, loadPrediction, writePredictionStart
from AISCommonLib.synthetic.tinycases import writeSimpleCase


def onGrid(array_kji, grid, path, dtype=np.float32):
    """Save a ``[k, j, i]`` array on ``grid``'s voxel grid."""
    return saveNifti(np.asarray(array_kji).transpose(2, 1, 0), grid.ijkToRas, path, dtype)


@pytest.fixture
def simple(tmp_path):
    root = tmp_path / "bids"
    info = writeSimpleCase(root)
    case = discoverCases(root)[0]
    return root, case, dwiGrid(case), info["truth"]


def test_labels_and_probabilities_are_binarised_by_the_documented_rule(simple, tmp_path):
    root, case, grid, truth = simple
    for values, dtype in (((0, 1), np.uint8), ((0, 255), np.uint8), ((0.0, 1.0), np.float32)):
        path = onGrid(np.where(truth, values[1], values[0]), grid, tmp_path / f"labels{values[1]}.nii.gz", dtype)
        start = loadPrediction(path, grid, tool="nnU-Net v2")
        np.testing.assert_array_equal(start.mask, truth)
        assert start.summary["kind"] == "labels" and start.summary["rule"] == "non-zero voxels" and start.summary["tool"] == "nnU-Net v2"
        assert start.summary["sha256"] == sha256File(path) and start.summary["file"] == path.name and start.summary["components"] == 1
    probabilities = np.where(truth, 0.8, 0.1).astype(np.float32)
    probabilities[tuple(np.argwhere(truth)[0])] = 0.5  # exactly at the threshold: lesion
    path = onGrid(probabilities, grid, tmp_path / "probabilities.nii.gz")
    start = loadPrediction(path, grid)
    np.testing.assert_array_equal(start.mask, truth)
    assert start.summary["kind"] == "probabilities" and start.summary["rule"] == "probability >= 0.5" and start.summary["tool"] is None
    assert loadPrediction(path, grid, threshold=0.9).summary["voxels"] == 0
    multi = np.where(truth, 2, 0)
    multi[0, 0, 0] = 1
    path = onGrid(multi, grid, tmp_path / "multi.nii.gz", np.int16)
    with pytest.raises(InputError, match=r"several labels \(1, 2\).*--prediction-label"):
        loadPrediction(path, grid)
    np.testing.assert_array_equal(loadPrediction(path, grid, label=2).mask, truth)
    with pytest.raises(InputError, match="no voxel of label 3"):
        loadPrediction(path, grid, label=3)


def test_bad_predictions_are_refused_in_one_sentence(simple, tmp_path):
    root, case, grid, truth = simple
    logits = onGrid(np.where(truth, 4.2, -3.1), grid, tmp_path / "logits.nii.gz")
    with pytest.raises(InputError, match="neither labels nor probabilities"):
        loadPrediction(logits, grid)
    channels = np.stack([np.where(truth, 0.1, 0.9), np.where(truth, 0.9, 0.1)], axis=-1)
    fourD = saveNifti(channels.transpose(2, 1, 0, 3), grid.ijkToRas, tmp_path / "softmax.nii.gz")
    with pytest.raises(InputError, match="cannot start the read.*4D"):
        loadPrediction(fourD, grid)
    nan = np.where(truth, 0.9, 0.1).astype(np.float32)
    nan[0, 0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        loadPrediction(onGrid(nan, grid, tmp_path / "nan.nii.gz"), grid)
    shifted = grid.ijkToRas.copy()
    shifted[:3, 3] += 3.0
    offGrid = saveNifti(truth.astype(np.uint8).transpose(2, 1, 0), shifted, tmp_path / "shifted.nii.gz", np.uint8)
    with pytest.raises(GeometryError, match="not on the voxel grid.*never resampled"):
        loadPrediction(offGrid, grid)
    with pytest.raises(InputError, match="threshold"):
        binarisePrediction(np.zeros((2, 2, 2)), "x", threshold=0.0)
    with pytest.raises(InputError, match="probabilities, not labels"):
        binarisePrediction(np.full((2, 2, 2), 0.3), "x", label=1)
    assert not list((root / "derivatives").glob("**/*lesionmask*"))


def test_a_prediction_becomes_the_readers_next_version_with_its_origin(simple, tmp_path):
    root, case, grid, truth = simple
    path = onGrid(np.where(truth, 0.93, 0.02), grid, tmp_path / "monai_prediction.nii.gz")
    summary = writePredictionStart(root, case, "R01", path, tool="MONAI Label deepedit")
    sidecar = json.loads(open(summary["mask"].replace(".nii.gz", ".json")).read())
    assert sidecar["Method"] == "ai-prediction" and sidecar["Parameters"]["tool"] == "MONAI Label deepedit"
    assert sidecar["Parameters"]["sha256"] == sha256File(path) and sidecar["Parameters"]["source"] == "prediction"
    np.testing.assert_array_equal(loadVolume(summary["mask"]).array > 0, truth)
    assert writePredictionStart(root, case, "R01", path)["version"] == 2  # a new version, never overwritten


def test_phantom_truths_as_predictions(demoDataset):
    """Every phantom case: its truth as a label map and as a probability map starts the read on its own DWI grid (4D and oblique too)."""
    root, phantoms = demoDataset
    cases = {case.caseId: case for case in discoverCases(root)}
    checked = 0
    for caseId, phantom in phantoms.items():
        grid = dwiGrid(cases[caseId])
        truth = phantom.truthMask
        folder = root.parent / "predictions"
        labels = onGrid(truth, grid, folder / f"{caseId}_labels.nii.gz", np.uint8)
        np.testing.assert_array_equal(loadPrediction(labels, grid).mask, truth)
        probabilities = onGrid(np.where(truth, 0.75, 0.05), grid, folder / f"{caseId}_probabilities.nii.gz")
        np.testing.assert_array_equal(loadPrediction(probabilities, grid).mask, truth)
        checked += 1
    assert checked == len(phantoms) == 10


def test_real_cases(tmp_path):
    """ISLES 2022 sample: the expert mask (uint16 labels) starts a read; challenge case: a DWI-derived probability map on the
    DWI grid is accepted, the FLAIR (another grid) is refused."""
    sample = copyRealCase("isles22-0001", tmp_path / "a")
    case = discoverCases(sample)[0]
    [expert] = case.referenceMasks
    summary = writePredictionStart(sample, case, "R01", expert, tool="expert mask as a stand-in")
    reference = loadVolume(expert).array > 0
    assert summary["kind"] == "labels" and summary["voxels"] == int(reference.sum()) == 835 and summary["volume_ml"] == pytest.approx(6.68)
    assert summary["components"] == 31
    challenge = copyRealCase("isles22-challenge-case", tmp_path / "b")
    case = discoverCases(challenge)[0]
    grid = dwiGrid(case)
    dwi = grid.array.astype(np.float64)
    low, high = np.percentile(dwi[dwi > 0], (50, 99.9))
    probabilities = onGrid(np.clip((dwi - low) / (high - low), 0.0, 1.0), grid, tmp_path / "challenge_probabilities.nii.gz")
    start = loadPrediction(probabilities, grid, tool="DWI brightness as a stand-in")
    assert start.summary["kind"] == "probabilities" and 0 < start.summary["voxels"] < dwi.size // 100
    with pytest.raises(GeometryError, match="FLAIR"):
        loadPrediction(case.files["flair"], grid)
