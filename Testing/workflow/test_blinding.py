"""Blinding, tried as the second reader of a case would: the first read is in no command output, no export and no
readable path under the dataset until both reads are in, and the other reader's identity never shows at all."""

import json
import stat

import numpy as np
import pytest
from workflow_fixtures import (
    BACKENDS,
    MANAGER,
    readerMasks,
    rotationAffine,
    saveNifti,
    staffedStore,
)

from AISCommonLib.cli.workflow import main
from AISCommonLib.core.atomicio import sha256File
from AISCommonLib.workflow.errors import PermissionDeniedError
from AISCommonLib.workflow.sealedreads import SEALED_FOLDER

CASE = "sub-01_ses-01"


@pytest.fixture(params=BACKENDS)
def firstReadIn(request, tmp_path):
    """R01 has submitted, R02 holds the other read slot of the only case."""
    with staffedStore(request.param, tmp_path) as store:
        masks = readerMasks(store.root, CASE, concordant=False)
        store.claimNext("R01", "reader")
        first = store.submitRead("R01", CASE, masks[0])
        store.claimNext("R02", "reader")
        store.masks, store.first = masks, first
        yield store


def ais(capsys, store, user, *arguments):
    code = main(["workflow", *arguments[:1], "--user", user, "--db", store.url, "--root", str(store.root), *arguments[1:]])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def everything(capsys, store, user, tmp_path):
    """What ``user`` can get out of every reporting command, as one text (refusals included)."""
    texts = []
    for arguments in (("status",), ("status", "--case", CASE), ("status", "--case", CASE, "--json"), ("log",), ("log", "--json"),
                      ("log", "--case", CASE, "--json"), ("verify", "--json"), ("export", "--out", str(tmp_path / f"export-{user}"))):
        texts.append(ais(capsys, store, user, *arguments)[1])
    for path in (tmp_path / f"export-{user}").glob("*"):
        texts.append(path.read_text())
    return "\n".join(texts)


def test_the_first_read_is_nowhere_the_second_reader_can_look(firstReadIn, capsys, tmp_path):
    store = firstReadIn
    sealedName = store.first["mask_path"].rsplit("/", 1)[-1]
    seen = everything(capsys, store, "R02", tmp_path)
    for secret in (store.first["sha256"], sealedName, "R01"):
        assert secret not in seen
    assert "Only a manager" in seen or "manager" in seen  # export and verify are refused, not silently empty
    # Nothing under a BIDS name: 'ais compare' on the dataset has no partner read to find.
    published = [path for path in (store.root / "derivatives" / "lesions").rglob("*_lesionmask.nii.gz") if SEALED_FOLDER not in path.parts]
    assert published == []
    if store.backend == "sqlite":  # one computer account: the sealed folder keeps reads out of sight
        assert stat.S_IMODE((store.root / "derivatives" / "lesions" / SEALED_FOLDER).stat().st_mode) == 0o700
    else:  # team mode: the read is in the database only, nothing of it under the dataset
        assert not (store.root / "derivatives" / "lesions" / SEALED_FOLDER).exists()
        assert store.first["sha256"] not in {sha256File(path) for path in store.root.rglob("*") if path.is_file()}


def test_export_and_verify_are_for_managers_only(firstReadIn, tmp_path):
    store = firstReadIn
    with pytest.raises(PermissionDeniedError):
        store.export("R02", tmp_path / "export")
    with pytest.raises(PermissionDeniedError):
        store.verify(userId="R02")
    assert not (tmp_path / "export").exists()


def test_a_manager_who_reads_the_case_exports_it_blinded(firstReadIn, tmp_path):
    store = firstReadIn
    store.grantRole(MANAGER, "R02", "manager", overrideReason="test: a reading manager")
    store.export("R02", tmp_path / "export")
    document = json.loads((tmp_path / "export" / "workflow.json").read_text())
    assert [read["user_id"] for read in document["tables"]["reads"]] == []
    assert store.first["sha256"] not in (tmp_path / "export" / "events.csv").read_text()
    store.export(MANAGER, tmp_path / "full")  # a manager who reads nothing of it sees the whole record
    assert len(json.loads((tmp_path / "full" / "workflow.json").read_text())["tables"]["reads"]) == 1


def test_after_both_reads_the_masks_open_but_the_partner_stays_anonymous(firstReadIn, capsys, tmp_path):
    store = firstReadIn
    path = saveNifti(store.masks[1].transpose(2, 1, 0), rotationAffine(), tmp_path / "R02.nii.gz", np.uint8)
    assert ais(capsys, store, "R02", "submit", CASE, str(path), "--likert", "all=4")[0] == 0
    reads = store.readsVisibleTo("R02", CASE)
    assert sorted(read["user_id"] for read in reads) == ["R02", "another reader"]
    assert store.readMaskPath("R02", store.first["read_id"]).is_file()
    seen = everything(capsys, store, "R02", tmp_path)
    assert "R01" not in seen
    # The reads get their BIDS names (with the reader IDs) only when the case is final.
    store.claimNext("V01", "reviewer")
    regions = store.case(CASE)["comparison"]["discordant_regions"]
    store.review("V01", CASE, {region["id"]: "keep" for region in regions})
    folder = store.root / "derivatives" / "lesions" / "sub-01" / "ses-01"
    assert sorted(path.name for path in folder.glob("*_desc-*_lesionmask.nii.gz")) == [
        f"{CASE}_desc-R01_dwi_lesionmask.nii.gz", f"{CASE}_desc-R02_dwi_lesionmask.nii.gz"]
    assert store.verify(userId=MANAGER)["ok"]
