"""Scan-parameter QC (consensus Table 1) from sidecars and headers: every check passed, failed or unknown, per case."""

import json

import numpy as np
import pytest
from realdata import copyRealCase, requireRealData
from testfiles import saveNifti

from AISCommonLib.core.cases import discoverCases
from AISCommonLib.core.errors import InputError
from AISCommonLib.core.scanqc import ScanLimits, scanParameterFindings, summarise
from AISCommonLib.core.validate import MIN_FIELD_STRENGTH_T, ValidationLimits
from AISCommonLib.synthetic.tinycases import writeSimpleCase


def byParameter(findings, sequence="dwi"):
    return {finding.parameter: finding for finding in findings if finding.sequence == sequence}


def test_limits_live_in_one_place():
    assert ValidationLimits().maxSliceThicknessMm == ScanLimits().maxSliceThicknessMm == 5.0
    assert MIN_FIELD_STRENGTH_T == ScanLimits().minFieldStrengthT == 1.5
    with pytest.raises(InputError, match="minDwiMatrix"):
        ScanLimits(minDwiMatrix=-1).validated()
    with pytest.raises(InputError, match="between 0 and 1"):
        ScanLimits(minFieldOfViewOverlap=2.0).validated()


def test_each_parameter_is_checked_from_the_sidecar_and_header(tmp_path):
    root = tmp_path / "bids"
    writeSimpleCase(root)  # 2 x 2 x 4 mm, 40 x 44 x 20; sidecars at 3 T, 4 mm slices, b=1000
    writeSimpleCase(root, "02", series=True)  # the DWI as a 4D [b0, b1000] series with its .bval
    case, series = discoverCases(root)
    findings = scanParameterFindings(case)
    dwi = byParameter(findings)
    assert dwi["field_strength"].status == "pass" and dwi["field_strength"].value == 3.0
    assert dwi["slice_thickness"].status == "pass" and dwi["slice_thickness"].source == "sidecar"
    assert dwi["slice_gap"].status == "pass" and dwi["slice_gap"].value == 0.0
    assert dwi["b_value"].status == "pass" and dwi["b_value"].value == 1000.0
    assert dwi["b0_pair"].status == "unknown" and "trace only" in dwi["b0_pair"].message
    assert dwi["matrix"].status == "fail" and dwi["matrix"].value == [40, 44]  # a tiny test grid
    assert dwi["coverage"].status == "fail" and dwi["coverage"].value == 80.0
    flair = byParameter(findings, "flair")
    assert flair["field_of_view"].status == "pass" and flair["field_of_view"].value == 1.0
    pair = byParameter(scanParameterFindings(series))["b0_pair"]
    assert pair.status == "pass" and "b0/b1000 pair in the series (the .bval file" in pair.message
    # The same case judged against a site's own limits, and with the thickness and a gap changed in the sidecar.
    relaxed = ScanLimits(minDwiMatrix=32, minAnatomicalMatrix=32, maxAnatomicalPixelMm=2.0, minDwiCoverageMm=60.0)
    assert summarise(scanParameterFindings(case, relaxed))["fail"] == 0
    sidecar = case.files["dwi"].with_name(case.files["dwi"].name.replace(".nii.gz", ".json"))
    sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), "MagneticFieldStrength": 1.0, "SliceThickness": 3.0, "SpacingBetweenSlices": 4.0}))
    dwi = byParameter(scanParameterFindings(discoverCases(root)[0], relaxed))
    assert dwi["field_strength"].status == "fail" and "below the 1.5 T limit" in dwi["field_strength"].message
    assert dwi["slice_gap"].status == "fail" and dwi["slice_gap"].value == 1.0 and "33%" in dwi["slice_gap"].message


def test_missing_metadata_is_unknown_not_passed(tmp_path):
    root = tmp_path / "bids"
    writeSimpleCase(root)
    for sidecar in root.rglob("*.json"):
        if sidecar.name != "dataset_description.json":
            sidecar.unlink()
    for bval in root.rglob("*.bval"):
        bval.unlink()
    case = discoverCases(root)[0]
    dwi = byParameter(scanParameterFindings(case))
    assert dwi["field_strength"].status == "unknown" and dwi["slice_gap"].status == "unknown"
    assert dwi["slice_thickness"].source == "header" and "no SliceThickness in a sidecar" in dwi["slice_thickness"].message
    assert dwi["b_value"].status == "unknown" and dwi["b0_pair"].status == "unknown"
    broken = saveNifti(np.zeros((4, 4, 4)), np.eye(4), tmp_path / "other" / "sub-01" / "ses-01" / "dwi" / "sub-01_ses-01_dwi.nii.gz")
    broken.write_bytes(b"not a nifti")
    [finding] = scanParameterFindings(discoverCases(tmp_path / "other")[0])
    assert finding.status == "unknown" and finding.parameter == "readable" and finding.message.startswith("DWI: not checked (")


def test_phantom_dataset(demoDataset):
    """The ten phantom cases: what each one's acquisition is, as the generator wrote it."""
    root, phantoms = demoDataset
    results = {case.caseId: scanParameterFindings(case) for case in discoverCases(root)}
    assert set(results) == set(phantoms)
    for caseId, findings in results.items():
        dwi = byParameter(findings)
        assert dwi["field_strength"].value == (1.5 if caseId == "sub-04_ses-01" else 3.0) and dwi["field_strength"].status == "pass"
        assert dwi["slice_thickness"].status == "pass" and dwi["in_plane_resolution"].status == "pass"
        # The phantom DWI is a cropped 92 x 108 x 56 grid of 2 mm: it fails the matrix and the 120 mm coverage, as it should.
        assert dwi["matrix"].status == "fail" and dwi["coverage"].status == "fail" and dwi["coverage"].value == 112.0
        flair = byParameter(findings, "flair")
        assert flair["slice_gap"].status == "pass" and flair["slice_gap"].value == pytest.approx(0.5)
        assert flair["field_of_view"].status == "pass" and flair["matrix"].status == "pass"
    assert byParameter(results["sub-04_ses-01"])["b_value"].status == "fail" and byParameter(results["sub-04_ses-01"])["b_value"].value == 800.0
    assert byParameter(results["sub-10_ses-01"])["b0_pair"].status == "pass"
    assert byParameter(results["sub-01_ses-01"])["b0_pair"].status == "unknown"
    assert {finding.sequence for finding in results["sub-02_ses-01"]} == {"dwi", "flair", "t1w", "t2w"}
    assert byParameter(results["sub-strokecase0008_ses-0001"])["b_value"].source.startswith("DiffusionBValue")


def test_real_cases(tmp_path):
    """ISLES 2022 sample (no sidecars, 2 mm isotropic) and the challenge case (4.8 mm DWI, 6 mm FLAIR, no sidecars)."""
    requireRealData()
    sample = byParameter(scanParameterFindings(discoverCases(copyRealCase("isles22-0001", tmp_path / "a"))[0]))
    assert sample["coverage"].status == "pass" and sample["coverage"].value == 146.0
    assert sample["matrix"].value == [112, 112] and sample["in_plane_resolution"].status == "pass"
    assert sample["field_strength"].status == sample["b_value"].status == sample["b0_pair"].status == "unknown"
    challenge = scanParameterFindings(discoverCases(copyRealCase("isles22-challenge-case", tmp_path / "b"))[0])
    dwi, flair = byParameter(challenge), byParameter(challenge, "flair")
    assert dwi["slice_thickness"].value == pytest.approx(4.8) and dwi["slice_thickness"].status == "pass"
    assert dwi["coverage"].value == pytest.approx(120.0) and dwi["matrix"].value == [128, 128]
    assert flair["slice_thickness"].status == "fail" and "6 mm thick" in flair["slice_thickness"].message
    assert flair["field_of_view"].status == "pass" and 0.5 < flair["field_of_view"].value < 0.8
    assert summarise(challenge)["failed"] == ["flair.slice_thickness"]
