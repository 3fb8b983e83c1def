"""The reviewer's work in the AISReview module: one workflow store, the case in hand and its decisions not
recorded yet, and how that work ends.

Scene-level (slicer-core), so what used to live in the module's Logic is tested without the application:

- **one store**: the store of the chosen database is opened once and reused by Next case, the dataset summary
  and every decision; it is closed when the work ends (Close Scene, another database or dataset, the module
  cleaned up or reloaded), never left open behind a new one;
- **unrecorded decisions**: deciding, editing or starting the final marks the case *changed* until the store
  records it (finalise, escalate, exclude, arbitrate); :meth:`ReviewWork.claimAndLoad` refuses to drop such a
  case unless told to (the widget asks the user first), and when the workflow hands out the same case again the
  case stays on screen as it is, decisions included;
- **Close Scene** ends the session: the scene's nodes go with the scene, the store is closed, and decisions not
  recorded are kept as a JSON draft and named in :attr:`ReviewWork.lastEnded`, never dropped silently.
"""

import dataclasses
import json
import time
from pathlib import Path

import slicer

from AISCommonLib.core.errors import InputError
from AISCommonLib.mrml import decisions as sceneDecisions
from AISCommonLib.mrml import reviewscene
from AISCommonLib.workflow.casetexts import notesByRegion, panelText, readerNotesText

from .. import reviewqueue


class UnsavedDecisionsError(InputError):
    """The case on screen has decisions the workflow has not recorded; loading another would drop them."""


class ReviewSession:
    """The case a user holds: store, claim, review scene and region navigator.

    :param changed: the reviewer changed decisions, edits or the final since the case was loaded.
    :param readRecords: what the readers recorded (fetched once per case, see :meth:`ReviewWork.readerNotesText`).
    """

    def __init__(self, store, userId: str, role: str, claim: dict, review, navigator):
        self.store, self.userId, self.role, self.claim = store, userId, role, claim
        self.review, self.navigator = review, navigator
        self.changed = False
        self.readRecords = None

    @property
    def caseId(self) -> str:
        return self.claim["case_id"]

    @property
    def state(self) -> str:
        return self.claim["state"]

    @property
    def revision(self) -> int:
        return self.claim["revision"]

    def unrecordedDecisionCount(self) -> int:
        """Regions decided (or edited) since loading that the store has not recorded."""
        adjudication = self.review.adjudication
        return len(set(adjudication.decisions) | set(adjudication.editedMasks)) if self.changed else 0


@dataclasses.dataclass(frozen=True)
class EndedSession:
    """What an ended session left: the case, unrecorded decisions and where they were kept (None: nothing to keep)."""

    caseId: str
    unrecordedDecisions: int
    draftPath: Path | None


class ReviewWork:
    """One user's review work in a scene.

    :param scene: the MRML scene (``slicer.mrmlScene`` in Slicer).
    :param openStore: ``openStore(database, datasetRoot, create=False)``; the workflow's by default.
    :param draftFolder: where decisions not recorded are kept when the scene closes (None: not kept).
    """

    def __init__(self, scene, openStore=None, draftFolder=None):
        if openStore is None:
            from AISCommonLib.workflow.store import openStore
        self.scene = scene
        self.draftFolder = Path(draftFolder) if draftFolder else None
        self._openStore = openStore
        self._store = None
        self._storeKey = None
        self.session = None
        #: What the last ended session left (shown by the widget after Close Scene).
        self.lastEnded = None
        self._closeObserver = None

    # Store --------------------------------------------------------------------------------------

    def store(self, databaseUrl: str | None, datasetRoot, create: bool = False):
        """The store of the chosen database (or the dataset's own), opened once and reused; another choice ends
        the session and closes the previous store first."""
        key = (databaseUrl or None, str(Path(datasetRoot).resolve()) if datasetRoot else None)
        if self._store is None or key != self._storeKey:
            self.close()
            self._store = self._openStore(databaseUrl or None, datasetRoot, create=create)
            self._storeKey = key
        return self._store

    def close(self) -> EndedSession | None:
        """End the session (its nodes removed) and close the store. :return: what the session left, or None."""
        ended = self.endSession()
        if ended is not None:
            self.lastEnded = ended
        if self._store is not None:
            self._store.close()
        self._store, self._storeKey = None, None
        return ended

    # Scene close --------------------------------------------------------------------------------

    def observeSceneClose(self) -> None:
        """End the session and close the store when the scene closes (call once; :meth:`stopObserving` undoes it)."""
        if self._closeObserver is None:
            self._closeObserver = self.scene.AddObserver(slicer.vtkMRMLScene.StartCloseEvent, self._onSceneStartClose)

    def stopObserving(self) -> None:
        if self._closeObserver is not None:
            self.scene.RemoveObserver(self._closeObserver)
            self._closeObserver = None

    def _onSceneStartClose(self, caller, event) -> None:
        # The scene removes the nodes itself; only the session, its draft and the store are ours to end.
        self.lastEnded = self.endSession(removeNodes=False)
        if self._store is not None:
            self._store.close()
        self._store, self._storeKey = None, None

    # Session ------------------------------------------------------------------------------------

    def hasUnsavedDecisions(self) -> bool:
        """True when the case on screen has decisions, edits or a starting final the store has not recorded."""
        return self.session is not None and self.session.changed

    def requireSession(self) -> ReviewSession:
        """:raises InputError: no case is loaded."""
        if self.session is None:
            raise InputError("No case is loaded; press Next case first.")
        return self.session

    def endSession(self, removeNodes: bool = True) -> EndedSession | None:
        """Drop the case in hand (its claim stays with the user in the workflow; Next case resumes it).

        Decisions the store has not recorded are written to a JSON draft in :attr:`draftFolder`.

        :return: what the session left, or None when there was none.
        """
        session = self.session
        if session is None:
            return None
        self.session = None
        count = session.unrecordedDecisionCount()
        draft = self._writeDraft(session) if count and self.draftFolder else None
        if removeNodes:
            reviewscene.removeReview(self.scene, session.review)
        return EndedSession(session.caseId, count, draft)

    def _writeDraft(self, session: ReviewSession) -> Path:
        self.draftFolder.mkdir(parents=True, exist_ok=True)
        path = self.draftFolder / f"{session.caseId}_{session.userId}_{time.strftime('%Y%m%dT%H%M%S')}_decisions.json"
        state = {"case_id": session.caseId, "user_id": session.userId, "role": session.role, "revision": session.revision,
                 "adjudication": session.review.adjudication.toDict()}
        path.write_text(json.dumps(state, indent=2), encoding="utf-8")
        return path

    def claimAndLoad(self, databaseUrl: str | None, datasetRoot, userId: str, role: str, discardUnsaved: bool = False):
        """Claim the user's next case (or resume the held one) and load it into the scene.

        When the workflow hands out the case already on screen, it stays as it is (decisions included).

        :param discardUnsaved: the user agreed to drop unrecorded decisions if another case comes.
        :return: the :class:`ReviewSession`, or None when nothing is waiting.
        :raises UnsavedDecisionsError: the case on screen has unrecorded decisions and ``discardUnsaved`` is False.
        """
        if self.hasUnsavedDecisions() and not discardUnsaved:
            session = self.session
            raise UnsavedDecisionsError(f"Case {session.caseId} has {session.unrecordedDecisionCount()} decision(s) the workflow has "
                                        "not recorded; finalise, escalate or exclude it first, or agree to drop them.")
        store = self.store(databaseUrl, datasetRoot)
        claim = store.claimNext(userId, role)
        current = self.session
        if (claim is not None and current is not None and current.store is store and current.userId == userId
                and current.caseId == claim["case_id"] and current.revision == claim["revision"]):
            current.claim = claim
            return current
        self.endSession()
        if claim is None:
            return None
        return self.loadCase(store, userId, role, claim)

    def loadCase(self, store, userId: str, role: str, claim: dict) -> ReviewSession:
        """Load a claimed case: sequences, both reads, discordant regions, final segment.

        :raises InputError: fewer than two reads are visible, or the case's images are missing.
        """
        from AISCommonLib.core.cases import discoverCases
        from AISCommonLib.core.sequences import loadCase

        self.endSession()
        caseId = claim["case_id"]
        reads = store.readsVisibleTo(userId, caseId)
        if len(reads) < 2:
            raise InputError(f"Case {caseId} has {len(reads)} visible read(s); two are needed for review.")
        paths = [store.readMaskPath(userId, read["read_id"]) for read in reads[:2]]
        case = next((case for case in discoverCases(store.datasetRoot) if case.caseId == caseId), None)
        if case is None:
            raise InputError(f"Case {caseId} has no images under {store.datasetRoot}.")
        review = reviewscene.loadReviewFiles(self.scene, loadCase(case), paths[0], paths[1], store.agreementParameters(),
                                             (reads[0]["user_id"], reads[1]["user_id"]))
        self.session = ReviewSession(store, userId, role, claim, review, reviewscene.RegionNavigator(review))
        return self.session

    # Regions and decisions ----------------------------------------------------------------------

    def regionTable(self) -> list:
        """The region table (:func:`reviewscene.regionTable`) with ``drawnByReader`` (the reader's ID) and ``readerNotes``
        (what the readers noted about each region)."""
        session = self.requireSession()
        if session.readRecords is None:
            session.readRecords = session.store.readRecords(session.userId, session.caseId)
        notes = notesByRegion(session.readRecords)
        readers = dict(zip(("A", "B"), session.review.readerIds))
        return [{**row, "drawnByReader": readers.get(row["drawnBy"], row["drawnBy"]), "readerNotes": notes.get(row["regionId"], "")}
                for row in reviewscene.regionTable(session.review)]

    def jumpToRegion(self, regionId: int) -> None:
        session = self.requireSession()
        session.navigator.select(regionId)
        reviewscene.jumpToRegion(self.scene, session.review, regionId)

    def stepRegion(self, direction: int):
        """Move to the next/previous region; :return: its id (None when there are none)."""
        session = self.requireSession()
        region = reviewscene.stepRegion(self.scene, session.review, session.navigator, direction)
        return None if region is None else region.regionId

    def decide(self, regionId, decision: str, note: str = "") -> None:
        """Keep, drop or mark a region edited, with a note; the case counts as changed until recorded."""
        if regionId is None:
            raise InputError("Select a region in the table first.")
        session = self.requireSession()
        sceneDecisions.setRegionDecision(session.review, regionId, decision, note)
        session.changed = True

    def startRegionEdit(self, editorNode, regionId) -> str:
        """Point a Segment Editor parameter node at the region's segment, DWI as source, only that region shown.

        Only the editor node changes: every view keeps its own sequence (the editor widget must not show the
        source volume in all views; the module's embedded editor has that switched off).

        :return: the region's segment ID.
        """
        if regionId is None:
            raise InputError("Select a region in the table first.")
        review = self.requireSession().review
        segmentId = reviewscene.regionSegmentId(review.region(regionId).regionId)
        editorNode.SetAndObserveSegmentationNode(review.regionsNode)
        editorNode.SetAndObserveSourceVolumeNode(review.dwiNode)
        editorNode.SetSelectedSegmentID(segmentId)
        reviewscene.showOnlyRegion(review, regionId)
        return segmentId

    def commitEdit(self, regionId) -> None:
        """Take the edited region segment into the final mask and show every region again."""
        if regionId is None:
            raise InputError("Select the edited region in the table first.")
        session = self.requireSession()
        sceneDecisions.commitRegionEdit(session.review, regionId)
        reviewscene.showOnlyRegion(session.review, None)
        session.changed = True

    def decideSmall(self, decision: str | None) -> None:
        """Keep or drop every small region without a decision of its own at once (None undoes it)."""
        session = self.requireSession()
        sceneDecisions.setSmallRegionsDecision(session.review, decision)
        session.changed = True

    def startFinalEdit(self, editorNode) -> str:
        """Point a Segment Editor parameter node at the ``Final`` segment (DWI as source): the reviewer corrects the
        whole final mask, agreed voxels too; :meth:`finalChanges` shows what changed against A and B meanwhile.

        :return: the final segment's ID.
        """
        review = self.requireSession().review
        editorNode.SetAndObserveSegmentationNode(review.finalNode)
        editorNode.SetAndObserveSourceVolumeNode(review.dwiNode)
        editorNode.SetSelectedSegmentID(reviewscene.FINAL_SEGMENT_ID)
        return reviewscene.FINAL_SEGMENT_ID

    def finalChanges(self) -> dict:
        """The live difference of the ``Final`` segment from the agreed voxels, shown in the views (added / removed)."""
        changes = sceneDecisions.showFinalChanges(self.requireSession().review)
        return {"addedVoxels": changes["addedVoxels"], "removedVoxels": changes["removedVoxels"]}

    def commitFinalEdit(self) -> None:
        """Take the edited ``Final`` segment as the reviewer's own final mask (the answer)."""
        session = self.requireSession()
        sceneDecisions.commitFinalEdit(session.review)
        session.changed = True

    def readerNotesText(self) -> str:
        """What the two readers recorded (quality, artifacts, notes by region, hints), for the reviewer and arbiter."""
        session = self.requireSession()
        if session.readRecords is None:
            session.readRecords = session.store.readRecords(session.userId, session.caseId)
        return readerNotesText(session.readRecords)

    def wholeCase(self, action: str) -> None:
        """Start the final from read A or B, their union, intersection or STAPLE (decides every region)."""
        session = self.requireSession()
        sceneDecisions.applyStartingPoint(session.review, action)
        session.changed = True

    def metrics(self) -> dict:
        return sceneDecisions.metrics(self.requireSession().review)

    def historyText(self) -> str:
        """The reviewer's escalation reason and earlier notes (what an arbiter needs)."""
        session = self.requireSession()
        rows = reviewqueue.escalationNotes(session.store, session.userId, session.caseId)
        return "\n\n".join(f"{row['action']} by {row['user']} ({row['time']}):\n{row['note']}" for row in rows)

    # Recording ----------------------------------------------------------------------------------

    def finalise(self, note: str) -> dict:
        """Finalise the held case as its reviewer through the store (audit trail); the session ends."""
        session = self.requireSession()
        adjudication = session.review.adjudication
        strict = session.state == reviewqueue.states.REVIEW_ADJUDICATE
        decisionsForStore, default, editedMask = adjudication.storeDecisions(requireAll=strict)
        outcome = session.store.review(session.userId, session.caseId, decisionsForStore, default, adjudication.notesText(note),
                                       editedMask, session.revision)
        return self._recorded(outcome)

    def escalate(self, reason: str) -> dict:
        """Send the case to the arbiter with the reason and the decisions so far (audit trail); the session ends."""
        session = self.requireSession()
        reason = reviewqueue.requireNote(reason, "the escalation")
        adjudication = session.review.adjudication
        outcome = session.store.escalate(session.userId, session.caseId, adjudication.notesText(reason), session.revision,
                                         proposal=adjudication.proposal())
        return self._recorded(outcome)

    def exclude(self, reason: str, note: str) -> dict:
        session = self.requireSession()
        return self._recorded(session.store.exclude(session.userId, session.caseId, reason, note, session.revision))

    def arbitrate(self, ruling: str, overrideReason: str = "") -> dict:
        """The (lead) arbiter's final ruling (a ruling note is required; a reason when it overrides the reviewer's
        proposal); the session ends."""
        session = self.requireSession()
        ruling = reviewqueue.requireNote(ruling, "the ruling")
        adjudication = session.review.adjudication
        decisionsForStore, default, editedMask = adjudication.storeDecisions(requireAll=not session.review.result.concordant)
        outcome = session.store.arbitrate(session.userId, session.caseId, decisionsForStore, default, adjudication.notesText(ruling),
                                          editedMask, session.revision, overrideReason=overrideReason or None)
        return self._recorded(outcome)

    def convenePanel(self, members: str, note: str = "") -> str:
        """Convene an arbitration panel (the lead arbiter): members as IDs separated by commas or spaces.

        :return: the panel as text.
        """
        session = self.requireSession()
        record = session.store.convenePanel(session.userId, session.caseId, members.replace(",", " ").split(), note or None)
        return panelText(record)

    def addOpinion(self, text: str) -> str:
        """Record this panel member's opinion, with their keep/drop decisions so far as what they would decide.

        :return: the panel as text.
        """
        session = self.requireSession()
        record = session.store.addOpinion(session.userId, session.caseId, text, session.review.adjudication.proposal())
        return panelText(record)

    def panelText(self) -> str:
        """The escalation, the panel and its opinions (for the panel, the case's arbiter and managers)."""
        session = self.requireSession()
        return panelText(session.store.panel(session.userId, session.caseId))

    def _recorded(self, outcome: dict) -> dict:
        self.session.changed = False
        self.endSession()
        return outcome

    def datasetSummary(self, databaseUrl: str | None, datasetRoot, userId: str) -> dict:
        """Status counts and per-reader agreement (:func:`reviewqueue.datasetSummary`), through the one store."""
        return reviewqueue.datasetSummary(self.store(databaseUrl, datasetRoot), userId)
