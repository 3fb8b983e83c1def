"""Issue 14 A5 and A6: the AISReview session at the MRML level, as the module's Logic runs it.

A6: Close Scene ends the session, Next case with unrecorded decisions needs the user's consent and keeps the
case when the workflow hands it out again, and one store serves the whole session and is closed at its end.
A5: editing a region changes the Segment Editor's node only; every view keeps its own sequence.
"""

import json
import os

import numpy as np
import pytest
import reviewdata

if not os.environ.get("AIS_REQUIRE_SLICER_CORE"):
    pytest.importorskip("slicer", reason="slicer-core is not installed")

from AISCommonLib.core import reviewrule  # noqa: E402
from AISCommonLib.mrml import layouts, reviewscene  # noqa: E402
from AISCommonLib.mrml.segmentation import segmentEditorNode  # noqa: E402
from AISCommonLib.synthetic import tinycases  # noqa: E402
from AISCommonLib.workflow.store import openStore  # noqa: E402
from AISReviewLib.mrml import reviewsession  # noqa: E402


class CountingOpener:
    """``openStore`` that counts the stores opened and closed."""

    def __init__(self):
        self.opened, self.closed = [], []

    def __call__(self, database, datasetRoot, create=False):
        store = openStore(database, datasetRoot, create=create)
        close = store.close

        def countedClose():
            self.closed.append(store)
            close()

        store.close = countedClose
        self.opened.append(store)
        return store


@pytest.fixture
def reviewDataset(tmp_path):
    """Two cases, each with two discordant reads submitted: ``(root, truth)``."""
    root = tmp_path / "bids"
    truth = None
    for subject in ("01", "02"):
        truth = tinycases.writeSimpleCase(root, subject, "01")["truth"]
    readA, readB = reviewdata.twoReads(truth)
    with openStore(None, root, create=True) as store:
        tinycases.initialiseTeam(store, root)
        for reader, read in (("R01", readA), ("R02", readB)):
            while (claim := store.claimNext(reader, "reader")) is not None:
                store.submitRead(reader, claim["case_id"], read)
    return root, truth


@pytest.fixture
def work(headlessApp, tmp_path):
    opener = CountingOpener()
    reviewWork = reviewsession.ReviewWork(headlessApp.scene, openStore=opener, draftFolder=tmp_path / "drafts")
    reviewWork.observeSceneClose()
    yield reviewWork, opener, headlessApp
    reviewWork.stopObserving()
    reviewWork.close()


def test_one_store_for_next_refresh_and_decisions(work, reviewDataset):
    reviewWork, opener, _ = work
    root, _ = reviewDataset
    session = reviewWork.claimAndLoad(None, root, "V01", "reviewer")
    for _ in range(3):
        assert reviewWork.datasetSummary(None, root, "M01")["cases"] == 2
        assert reviewWork.claimAndLoad(None, root, "V01", "reviewer") is session, "the held case stays on screen"
    reviewWork.decide(reviewWork.regionTable()[0]["regionId"], reviewrule.DECISION_KEEP)
    assert len(opener.opened) == 1 and opener.closed == []
    # Another database choice closes the first store before opening the next.
    reviewWork.datasetSummary(str(root / "derivatives" / "lesions" / "workflow.sqlite"), root, "M01")
    assert len(opener.opened) == 2 and opener.closed == opener.opened[:1]
    reviewWork.close()
    assert opener.closed == opener.opened


def test_next_case_guards_unrecorded_decisions(work, reviewDataset):
    reviewWork, _, app = work
    root, _ = reviewDataset
    session = reviewWork.claimAndLoad(None, root, "V01", "reviewer")
    assert not reviewWork.hasUnsavedDecisions()
    regionId = reviewWork.regionTable()[0]["regionId"]
    reviewWork.decide(regionId, reviewrule.DECISION_DROP, "not DWI-bright")
    assert reviewWork.hasUnsavedDecisions() and session.unrecordedDecisionCount() == 1
    with pytest.raises(reviewsession.UnsavedDecisionsError, match=session.caseId):
        reviewWork.claimAndLoad(None, root, "V01", "reviewer")
    # With consent, and the workflow giving the same case back: nothing is lost.
    assert reviewWork.claimAndLoad(None, root, "V01", "reviewer", discardUnsaved=True) is session
    assert session.review.adjudication.decisions[regionId] == reviewrule.DECISION_DROP
    # Recording the case clears the flag; the next case comes without a question.
    reviewWork.wholeCase(reviewrule.START_READER_A)
    assert reviewWork.finalise("checked")["state"] == "final"
    assert not reviewWork.hasUnsavedDecisions() and reviewWork.session is None
    assert all(node.GetScene() is None for node in session.review.nodes())
    following = reviewWork.claimAndLoad(None, root, "V01", "reviewer")
    assert following is not None and following.caseId != session.caseId
    assert app.scene.IsNodePresent(following.review.dwiNode)


def test_close_scene_ends_the_session_and_keeps_a_draft(work, reviewDataset):
    reviewWork, opener, app = work
    root, _ = reviewDataset
    session = reviewWork.claimAndLoad(None, root, "V01", "reviewer")
    reviewWork.decide(reviewWork.regionTable()[1]["regionId"], reviewrule.DECISION_KEEP, "DWI-bright, ADC-dark")
    app.scene.Clear(0)
    assert reviewWork.session is None and not reviewWork.hasUnsavedDecisions()
    assert opener.closed == opener.opened, "the store is closed with the session"
    ended = reviewWork.lastEnded
    assert (ended.caseId, ended.unrecordedDecisions) == (session.caseId, 1)
    draft = json.loads(ended.draftPath.read_text(encoding="utf-8"))
    assert draft["adjudication"]["notes"] == {"2": "DWI-bright, ADC-dark"} and draft["user_id"] == "V01"
    with pytest.raises(Exception, match="Next case"):
        reviewWork.regionTable()
    # The claim stayed in the workflow: Next case resumes the same case in a new store.
    resumed = reviewWork.claimAndLoad(None, root, "V01", "reviewer")
    assert resumed.caseId == session.caseId and len(opener.opened) == 2


def test_edit_changes_the_editor_node_only(work, reviewDataset):
    reviewWork, _, app = work
    root, _ = reviewDataset
    session = reviewWork.claimAndLoad(None, root, "V01", "reviewer")
    layouts.setLayout(app.layoutNode, layouts.LAYOUT_2X2_AXIAL)
    app.updateSliceLogics()
    layouts.showSequences(app.applicationLogic, layouts.LAYOUT_2X2_AXIAL, session.review.caseNodes.volumeNodes)

    def backgrounds():
        return {view.sequence: layouts.sliceCompositeNode(app.scene, node).GetBackgroundVolumeID()
                for view, node in layouts.readingViews(app.scene, layouts.LAYOUT_2X2_AXIAL)}

    before = backgrounds()
    volumeIds = {key: node.GetID() for key, node in session.review.caseNodes.volumeNodes.items()}
    assert before == {key: volumeIds[key] for key in layouts.LAYOUT_SEQUENCES}
    editor = segmentEditorNode(app.scene, "AISReviewSegmentEditor")
    regionId = reviewWork.regionTable()[0]["regionId"]
    reviewWork.decide(regionId, reviewrule.DECISION_EDITED)
    segmentId = reviewWork.startRegionEdit(editor, regionId)
    assert backgrounds() == before, "the DWI must stay in the DWI view only"
    assert list(backgrounds().values()).count(volumeIds["dwi"]) == 1
    assert editor.GetSegmentationNode() is session.review.regionsNode and editor.GetSourceVolumeNode() is session.review.dwiNode
    assert editor.GetSelectedSegmentID() == segmentId
    display = session.review.regionsNode.GetDisplayNode()
    assert [display.GetSegmentVisibility(reviewscene.regionSegmentId(other)) for other in session.review.regionIds] == [
        other == regionId for other in session.review.regionIds]
    reviewWork.commitEdit(regionId)
    assert all(display.GetSegmentVisibility(reviewscene.regionSegmentId(other)) for other in session.review.regionIds)
    assert np.array_equal(session.review.adjudication.editedMasks[regionId],
                          session.review.result.regionMap.toFullGrid(session.review.result.regionMap.labels == regionId))


def test_whole_final_edit_notes_escalation_proposal_and_panel(work, reviewDataset):
    """Issue 12 item 7 at the Logic level: the reviewer corrects the whole final mask (agreed voxels too) with a
    live difference against A and B, reads what the readers noted, escalates with the decisions made so far as the
    proposal; the lead arbiter convenes a panel, a member gives an opinion, and a ruling that overrides says why."""
    from AISCommonLib.core.errors import InputError
    from AISCommonLib.mrml import decisions as sceneDecisions
    from AISCommonLib.mrml.segmentation import segmentMask, setSegmentFromMask
    from AISCommonLib.workflow.people import Qualification

    reviewWork, _, _ = work
    root, _ = reviewDataset
    session = reviewWork.claimAndLoad(None, root, "V01", "reviewer")
    review = session.review
    editor = segmentEditorNode(reviewWork.scene, "AISReviewSegmentEditor")
    assert reviewWork.startFinalEdit(editor) == reviewscene.FINAL_SEGMENT_ID
    agreed = review.adjudication.maskA & review.adjudication.maskB
    drawn = agreed.copy()
    wrong = tuple(np.argwhere(agreed)[0])
    drawn[wrong] = False  # a voxel both readers drew that is not lesion
    drawn[1, 1:3, 1:3] = True  # a lesion neither drew
    setSegmentFromMask(review.finalNode, drawn, review.dwiNode, reviewscene.FINAL_SEGMENT_ID)  # what the editor does
    assert reviewWork.finalChanges() == {"addedVoxels": 4, "removedVoxels": 1}
    assert segmentMask(review.changesNode, review.dwiNode, sceneDecisions.REMOVED_SEGMENT_ID)[wrong]
    reviewWork.commitFinalEdit()
    assert review.adjudication.undecided() == [] and np.array_equal(review.adjudication.finalMask(), drawn)
    assert "No read records" not in reviewWork.readerNotesText() and "Read " in reviewWork.readerNotesText()
    review.adjudication.setFinalMask(None)  # back to the decisions, to escalate with a proposal
    first = reviewWork.regionTable()[0]["regionId"]
    reviewWork.decide(first, reviewrule.DECISION_KEEP)
    caseId = session.caseId
    reviewWork.escalate("is region 1 acute?")
    store = reviewWork.store(None, root)
    store.addUser("M01", "A02", Qualification("chief", 25.0, 20.0))
    store.grantRole("M01", "A02", "arbiter")
    arbiter = reviewWork.claimAndLoad(None, root, "A01", "arbiter")
    assert arbiter.caseId == caseId
    assert f"proposal: {first} keep" in reviewWork.convenePanel("A02, V01")
    assert "A02 (member)" in reviewWork.panelText()
    reviewWork.decide(first, reviewrule.DECISION_DROP)
    for regionId in [row["regionId"] for row in reviewWork.regionTable()][1:]:
        reviewWork.decide(regionId, reviewrule.DECISION_DROP)
    with pytest.raises(InputError, match="override-reason"):
        reviewWork.arbitrate("old lesion")
    assert reviewWork.arbitrate("old lesion", overrideReason="FLAIR shows it is old")["state"] == "final"
