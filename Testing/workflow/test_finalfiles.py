"""Finishing finalisations when several clients do it at once: one client's recovery and the finalising client may
promote the same staging files at the same moment, and a staging file may vanish while another client looks."""

import os

import pytest

from AISCommonLib.core.derivatives import sidecarPathFor
from AISCommonLib.core.errors import AISError
from AISCommonLib.workflow import finalfiles


def staged(folder, content=b"mask"):
    target = folder / "derivatives" / "lesions" / "sub-01" / "sub-01_desc-consensus_dwi_lesionmask.nii.gz"
    target.parent.mkdir(parents=True)
    staging = finalfiles.stagingPath(target)
    staging.write_bytes(content)
    sidecarPathFor(staging).write_text("{}")
    return staging, target


def test_promoting_what_another_client_promoted_meanwhile_succeeds(tmp_path):
    staging, target = staged(tmp_path)
    for source, destination in ((sidecarPathFor(staging), sidecarPathFor(target)), (staging, target)):
        os.link(source, destination)  # the other client linked both names and was about to remove the staging ones
    finalfiles.promote(staging, target)
    assert target.read_bytes() == b"mask" and sidecarPathFor(target).is_file()
    assert not staging.exists() and not sidecarPathFor(staging).exists()
    finalfiles.promote(staging, target)  # and once everything is done, promoting again changes nothing
    assert target.read_bytes() == b"mask"


def test_a_final_name_taken_by_another_file_is_still_refused(tmp_path):
    staging, target = staged(tmp_path)
    target.write_bytes(b"someone else's mask")
    with pytest.raises(AISError, match="exists already"):
        finalfiles.promote(staging, target)
    assert staging.read_bytes() == b"mask"


def test_a_staging_file_that_vanishes_during_recovery_is_left_to_its_owner(tmp_path, monkeypatch):
    staging, target = staged(tmp_path)

    def promotedMeanwhile(path):
        finalfiles.promote(staging, target)  # the finalising client finished between the listing and the hash
        raise FileNotFoundError(path)

    monkeypatch.setattr(finalfiles, "sha256File", promotedMeanwhile)
    assert finalfiles.recover(tmp_path, dict, str) == []
    assert target.read_bytes() == b"mask" and not staging.exists()
