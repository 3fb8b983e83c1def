"""Dataset validation: acquisition rules, de-identification, naming, geometry."""

import json

import numpy as np
import pytest
from testfiles import saveNifti

from AISCommonLib.core.errors import InputError
from AISCommonLib.core.validate import ValidationLimits, validateDataset
from AISCommonLib.synthetic.tinycases import rotationAffine, writeSimpleCase


def codes(findings, severity=None):
    return {finding.code for finding in findings if severity is None or finding.severity == severity}


def updateSidecar(path, **changes):
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def test_a_clean_dataset_has_no_errors(tmp_path):
    writeSimpleCase(tmp_path)
    (tmp_path / "participants.tsv").write_text("participant_id\tage\nsub-01\t70\n")
    assert codes(validateDataset(tmp_path), "error") == set()


def test_acquisition_limits_of_the_consensus_are_warnings_with_configurable_limits(tmp_path):
    info = writeSimpleCase(tmp_path)
    dwiSidecar = info["paths"]["dwi"].with_name("sub-01_ses-01_dwi.json")
    updateSidecar(dwiSidecar, MagneticFieldStrength=1.0, SliceThickness=6.0, SpacingBetweenSlices=6.0)
    flairSidecar = info["paths"]["flair"].with_name("sub-01_ses-01_FLAIR.json")
    updateSidecar(flairSidecar, SliceThickness=4.0, SpacingBetweenSlices=5.0)  # clinical FLAIR: 4 mm + 1 mm gap
    findings = validateDataset(tmp_path)
    assert codes(findings, "error") == set()  # judgements, not format errors
    assert {"field-strength-low", "slice-too-thick", "slice-gap"} <= codes(findings, "warning")
    gap = next(f.message for f in findings if f.code == "slice-gap")
    assert "1 mm gap between 4 mm slices (25%)" in gap and "20% limit" in gap
    relaxed = ValidationLimits(minFieldStrengthT=1.0, maxSliceThicknessMm=6.0, maxGapFraction=0.25)
    assert not {"field-strength-low", "slice-too-thick", "slice-gap"} & codes(validateDataset(tmp_path, limits=relaxed))
    with pytest.raises(InputError, match="field-of-view overlap"):
        validateDataset(tmp_path, limits=ValidationLimits(minFieldOfViewOverlap=2.0))


def test_identifiers_are_errors_and_quasi_identifiers_warnings(tmp_path):
    info = writeSimpleCase(tmp_path)
    updateSidecar(info["paths"]["dwi"].with_name("sub-01_ses-01_dwi.json"), PatientName="Doe^John", PatientBirthDate="19500101", PatientAge="070Y")
    (tmp_path / "participants.tsv").write_text("participant_id\tname\nsub-01\tJohn\n")
    findings = validateDataset(tmp_path)
    identifying = [f.message for f in findings if f.code == "identifying-field"]
    assert len(identifying) == 2 and any("PatientBirthDate" in message for message in identifying)
    assert "identifying-column" in codes(findings, "error")
    assert "quasi-identifying-field" in codes(findings, "warning")


def test_grid_naming_missing_and_unreadable_files(tmp_path):
    info = writeSimpleCase(tmp_path, withFlair=False)
    saveNifti(np.zeros((40, 44, 20)), rotationAffine(origin=(5.0, 0.0, 0.0)), info["paths"]["adc"])
    writeSimpleCase(tmp_path, subject="02", layout="flat")
    broken = tmp_path / "sub-02" / "ses-01" / "sub-02_ses-01_flair.nii.gz"
    broken.write_bytes(b"broken")
    findings = validateDataset(tmp_path)
    assert {"grid-mismatch", "sequence-missing", "unreadable"} <= codes(findings, "error")
    assert {"flat-layout", "suffix-spelling"} <= codes(findings, "warning")
    assert all(f.caseId for f in findings if f.code == "grid-mismatch")


def test_missing_b_value_is_reported_as_assumed(tmp_path):
    info = writeSimpleCase(tmp_path)
    sidecar = info["paths"]["dwi"].with_name("sub-01_ses-01_dwi.json")
    data = json.loads(sidecar.read_text())
    del data["DiffusionBValue"]
    sidecar.write_text(json.dumps(data))
    assert "b-value-missing" in codes(validateDataset(tmp_path), "warning")


def test_flair_on_its_own_grid_is_fine_unless_it_misses_the_dwi_field_of_view(tmp_path):
    info = writeSimpleCase(tmp_path)
    fine = rotationAffine(spacing=(0.5, 0.5, 5.0), origin=(-40.0, -44.0, -40.0))
    saveNifti(np.zeros((160, 176, 16)), fine, info["paths"]["flair"])
    assert "field-of-view" not in codes(validateDataset(tmp_path, deep=False))
    shifted = rotationAffine(spacing=(0.5, 0.5, 5.0), origin=(30.0, -44.0, -40.0))
    saveNifti(np.zeros((160, 176, 16)), shifted, info["paths"]["flair"])
    messages = [f.message for f in validateDataset(tmp_path, deep=False) if f.code == "field-of-view"]
    assert len(messages) == 1 and "covers only 17%" in messages[0]  # shifted 70 mm to the right
