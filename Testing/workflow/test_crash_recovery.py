"""Finishing a case is one recoverable step: a crash at any point is recovered by the next command, and nothing
stays stuck behind "Refusing to overwrite" (SQLite and PostgreSQL)."""

import os

import numpy as np
import pytest
from workflow_fixtures import BACKENDS, MANAGER, readerMasks, staffedStore

from AISCommonLib.core.atomicio import sha256File
from AISCommonLib.core.cases import Case
from AISCommonLib.core.derivatives import latestReaderMasks
from AISCommonLib.core.image import loadVolume
from AISCommonLib.workflow import finalfiles, sealedreads, states
from AISCommonLib.workflow.store import openStore as openRealStore

CASE = "sub-01_ses-01"


@pytest.fixture(params=BACKENDS)
def underReview(request, tmp_path):
    with staffedStore(request.param, tmp_path) as store:
        for reader, mask in zip(("R01", "R02"), readerMasks(store.root, CASE, concordant=False)):
            store.claimNext(reader, "reader")
            store.submitRead(reader, CASE, mask)
        store.claimNext("V01", "reviewer")
        yield store


def stagingFiles(root):
    return sorted((root / "derivatives").rglob(f".*{finalfiles.STAGING_MARK}*"))


def test_a_crash_before_the_commit_leaves_nothing_in_the_way(underReview, monkeypatch):
    store = underReview
    monkeypatch.setattr(store, "_removeWritten", lambda paths: None)  # a killed process cleans nothing up
    monkeypatch.setattr(sealedreads, "discard", lambda publications: None)

    def powerCut(*arguments, **keywords):
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(store, "_setState", powerCut)
    with pytest.raises(KeyboardInterrupt):
        store.review("V01", CASE, {}, defaultDecision="keep")
    monkeypatch.undo()
    leftovers = stagingFiles(store.root)
    assert len(leftovers) == 6 and store.case(CASE)["state"] == states.REVIEW_ADJUDICATE
    result = store.review("V01", CASE, {}, defaultDecision="keep")  # not stuck
    assert result["state"] == states.FINAL and store.absolutePath(result["final_mask_path"]).is_file()
    for path in leftovers:  # once old enough to be nobody's work in progress, the next command clears them
        os.utime(path, (0, 0))
    with openRealStore(store.url if store.backend == "postgresql" else store.url.removeprefix("sqlite:///"), store.root) as again:
        assert stagingFiles(store.root) == [] and again.verify()["ok"]


def test_a_crash_after_the_commit_is_finished_by_the_next_command(underReview, monkeypatch):
    store = underReview
    monkeypatch.setattr(finalfiles, "promote", lambda staging, target: (_ for _ in ()).throw(KeyboardInterrupt("killed")))
    with pytest.raises(KeyboardInterrupt):
        store.review("V01", CASE, {}, defaultDecision="keep")
    monkeypatch.undo()
    case = store.case(CASE)
    final = store.absolutePath(case["final_mask_path"])
    assert case["state"] == states.FINAL and not final.exists() and len(stagingFiles(store.root)) == 6
    with openRealStore(store.url if store.backend == "postgresql" else store.url.removeprefix("sqlite:///"), store.root) as again:
        assert final.is_file() and stagingFiles(store.root) == []
        published = {reader: record.path for reader, record in latestReaderMasks(store.root, Case("01", "01", store.root)).items()}
        assert {reader: sha256File(path) for reader, path in published.items()} == {read["user_id"]: read["sha256"] for read in again.readsVisibleTo(MANAGER, CASE)}
        first, second = readerMasks(store.root, CASE, concordant=False)
        assert np.array_equal(loadVolume(final).array.astype(bool), first | second)
        assert again.verify()["ok"]
