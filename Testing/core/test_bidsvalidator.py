"""The official BIDS validator on our layout, and the .bidsignore our ADC/eADC files need."""

import numpy as np
from testfiles import saveNifti

from AISCommonLib.core.bidsvalidator import NONSTANDARD_PATTERNS, ensureBidsIgnore, runOfficialValidator, validatorCommand
from AISCommonLib.synthetic.tinycases import writeSimpleCase


def bidsCase(root):
    info = writeSimpleCase(root)
    dwi = info["paths"]["dwi"]
    dwi.with_name("sub-01_ses-01_dwi.bval").write_text("1000\n")
    dwi.with_name("sub-01_ses-01_dwi.bvec").write_text("1\n0\n0\n")
    return info


def test_bidsignore_is_created_kept_and_idempotent(tmp_path):
    (tmp_path / ".bidsignore").write_text("extra/\n")
    assert ensureBidsIgnore(tmp_path)
    lines = (tmp_path / ".bidsignore").read_text().splitlines()
    assert lines == ["extra/", *NONSTANDARD_PATTERNS]
    assert not ensureBidsIgnore(tmp_path)
    assert (tmp_path / ".bidsignore").read_text().splitlines() == lines


def test_the_official_validator_accepts_our_layout_and_catches_a_bad_name(tmp_path):
    bidsCase(tmp_path)
    before = runOfficialValidator(tmp_path)
    assert before is not None, "bids-validator-deno must be installed (test extra)"
    assert any(issue["code"] == "NOT_INCLUDED" and "_adc" in issue["location"] for issue in before["errors"])
    ensureBidsIgnore(tmp_path)
    assert runOfficialValidator(tmp_path)["errors"] == []
    saveNifti(np.zeros((4, 4, 4)), np.eye(4), tmp_path / "sub-01" / "ses-01" / "anat" / "sub-01_ses-01_flairish.nii.gz")
    errors = runOfficialValidator(tmp_path)["errors"]
    assert [issue["location"] for issue in errors] == ["/sub-01/ses-01/anat/sub-01_ses-01_flairish.nii.gz"]


def test_the_validator_runs_without_network_or_write_access():
    """A patient dataset must not be able to leave the machine through the validator (the launcher allows the net)."""
    command = validatorCommand()
    assert command is not None and "--deny-net" in command
    assert not any(flag.startswith(("--allow-net", "--allow-write", "--allow-run", "--allow-all", "-A")) for flag in command)
