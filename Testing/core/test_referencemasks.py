"""Lesion masks a dataset ships: never touched, compared with the reads when on their grid, reported when not."""

import numpy as np
from layoutcases import writeOpenNeuroCase

from AISCommonLib.core.atomicio import sha256File
from AISCommonLib.core.cases import discoverCases
from AISCommonLib.core.derivatives import writeReaderMask
from AISCommonLib.core.referencemasks import REFERENCE_COLUMNS, checkReferenceFit, compareWithReferences
from AISCommonLib.core.sequences import loadCase
from AISCommonLib.core.validate import validateDataset
from AISCommonLib.synthetic.tinycases import rotationAffine


def writeRead(root, case, mask, reader="R01"):
    loaded = loadCase(case)
    return writeReaderMask(root, case, mask, loaded.dwi, reader, "manual", {})


def test_reads_are_compared_with_the_shipped_mask_which_is_never_changed(tmp_path):
    info = writeOpenNeuroCase(tmp_path)
    before = sha256File(info["paths"]["reference"])
    (case,) = discoverCases(tmp_path)
    assert compareWithReferences(tmp_path)[0]["status"] == "no-reads"
    truth = info["truth"].transpose(2, 1, 0)
    half = truth.copy()
    half[: truth.shape[0] // 2 + 1] = False  # drop the lower slices of the lesion
    writeRead(tmp_path, case, truth, "R01")
    writeRead(tmp_path, case, half, "R02")
    rows = compareWithReferences(tmp_path)
    assert [(row["reader"], row["status"]) for row in rows] == [("R01", "compared"), ("R02", "compared")]
    assert rows[0]["dice"] == 1.0 and rows[0]["lesion_f1"] == 1.0 and rows[0]["missed_reference_lesions"] == 0
    expected = 2 * half.sum() / (half.sum() + truth.sum())
    assert abs(rows[1]["dice"] - expected) < 1e-9 and rows[1]["volume_read_ml"] < rows[1]["volume_reference_ml"]
    assert rows[0]["reference"] == "derivatives/lesion_masks/sub-1/dwi/sub-1_space-TRACE_desc-lesion_mask.nii.gz"
    assert set(rows[0]) <= set(REFERENCE_COLUMNS)
    assert sha256File(info["paths"]["reference"]) == before
    assert not any(path.name.startswith("sub-1_space-TRACE") for path in (tmp_path / "derivatives" / "lesions").rglob("*"))


def test_a_reference_on_another_grid_is_reported_not_compared(tmp_path):
    info = writeOpenNeuroCase(tmp_path, maskAffine=rotationAffine(origin=(-37.0, -44.0, -40.0)))
    (case,) = discoverCases(tmp_path)
    fit = checkReferenceFit(case, info["paths"]["reference"], datasetRoot=tmp_path)
    assert not fit.fits and "matrix differs by up to 3 mm" in fit.sentence and "not compared" in fit.sentence
    writeRead(tmp_path, case, info["truth"].transpose(2, 1, 0))
    (row,) = compareWithReferences(tmp_path)
    assert row["status"] == "grid-mismatch" and "is not on the grid of" in row["error"]
    findings = validateDataset(tmp_path)
    mismatch = [f for f in findings if f.code == "reference-mask-grid"]
    assert len(mismatch) == 1 and mismatch[0].severity == "warning" and "another grid" in mismatch[0].message


def test_validate_reports_every_choice_in_words(tmp_path):
    writeOpenNeuroCase(tmp_path)
    findings = validateDataset(tmp_path, choices=True)
    assert not [f for f in findings if f.severity == "error"]
    choices = {f.code: f.message for f in findings if f.severity == "info"}
    assert set(choices) >= {"choice-dwi", "choice-bValue", "choice-adc", "choice-adcUnit", "choice-eadc", "choice-flair", "choice-reference"}
    assert "rec-TRACE" in choices["choice-dwi"] and "b=1000 s/mm^2 from DiffusionBValue in 'rec-TRACE_dwi.json'" in choices["choice-bValue"]
    assert "lies on the DWI grid" in choices["choice-reference"]
    assert not [f for f in validateDataset(tmp_path) if f.severity == "info"]  # the report's call is unchanged
    assert np.all([f.severity in ("error", "warning", "info") for f in findings])
