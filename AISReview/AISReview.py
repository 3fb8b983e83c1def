import enum
import os
import pathlib
from typing import Annotated

import qt
import slicer
import vtk
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.parameterNodeWrapper import WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

import AISCommonLib
from AISCommonLib import connection, dependencies, reloading, uifile
from AISCommonLib.core import adjudication, agreement, reviewrule
from AISCommonLib.mrml import crosshair, layouts, segmentation
from AISCommonLib.report.report import REPORT_REQUIREMENTS
from AISReviewLib import backgroundtasks, reviewqueue
from AISReviewLib.gui import selftests, taskrunner, texts
from AISReviewLib.mrml import reviewsession

#: Singleton tag of the module's own Segment Editor parameter node (the Segment Editor module keeps its own).
SEGMENT_EDITOR_NODE_TAG = "AISReviewSegmentEditor"
#: Effects offered to redraw a region, in this order.
EDIT_EFFECTS = ["Paint", "Draw", "Erase", "Scissors", "Islands", "Smoothing"]

#
# AISReview
#


class AISReview(ScriptedLoadableModule):
    """Registers the module with Slicer: title, category, dependencies, help and acknowledgement."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("AIS Review")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Segmentation")]
        self.parent.dependencies = ["AISCommon", "Segmentations", "SegmentEditor"]
        self.parent.contributors = list(AISCommonLib.CONTRIBUTORS)
        self.parent.helpText = _("""
Review and arbitrate the two independent reads of acute ischemic stroke cases.
<p><b>Workflow</b>: choose the dataset, your user ID and role, and press <i>Next case</i>. A reviewer gets cases
from the confirm and adjudicate queues, an arbiter the escalated cases (with the reviewer's notes); nobody gets
a case they read or reviewed. Both reads are shown as outlines (reader A blue, reader B amber) over linked
DWI / ADC / eADC / FLAIR views, each discordant region as its own segment. Select a region in the table (all
views jump to it), decide <i>keep</i>, <i>drop</i> or <i>edit</i> (redraw the region in the editor below the
table, then <i>Use edit</i>) with a note, or use a whole-case action (accept A, accept B, union,
intersection, STAPLE). The green <i>Final</i> segment shows the adjudicated mask live. <i>Finalise</i>,
<i>Escalate</i> (reason required), <i>Exclude</i> (reason) and <i>Arbitrate</i> (ruling note required) are
recorded in the workflow's audit trail. Decisions not recorded yet are kept when the workflow gives you the same
case again; Close Scene keeps them as a draft file and the case stays assigned to you. Managers see status counts
and per-reader agreement, validate the dataset and write the acceptance report; both run in the background with
progress and Cancel.</p>
<p><b>Database</b>: the workflow database is remembered in your Slicer settings, never in the scene; a password
typed in its URL goes to the system keyring (the optional keyring package) or is kept for this session only.</p>
<p><b>Compare files</b>: Choose the lesion masks of reader A and reader B (binary NIfTI files on the DWI grid of the case) and press
<i>Compare</i>. The result gives Dice and Jaccard overlap, both lesion volumes, the 95th percentile Hausdorff
and average surface distances, how many lesions each reader drew and how they match, and the discordant regions:
<i>missed lesions</i> (drawn by one reader, not touched by the other) and <i>extent</i> regions (same lesion, different
boundary), each with its volume and RAS position.</p>
<p>The reads are <b>concordant</b> when Dice reaches the threshold in <i>Advanced</i> (0.7 by default) and no lesion was
missed; otherwise the case goes to a reviewer, and hard or disputed cases to an arbiter. Masks are never resampled:
two masks on different grids are refused.</p>
""")
        self.parent.acknowledgementText = _("""
Built for dual-reader annotation of acute ischemic stroke datasets following the national expert consensus on
acute ischemic stroke MRI annotation. It relies on 3D Slicer, its Segment Editor, SimpleITK, NumPy, NiBabel, SQLAlchemy
and, when installed, keyring and matplotlib.
""")


#
# AISReviewParameterNode
#


class ReviewRole(enum.Enum):
    """Who is working: the role passed to the workflow store."""

    reviewer = "reviewer"
    arbiter = "arbiter"
    manager = "manager"


@parameterNodeWrapper
class AISReviewParameterNode:
    """The workflow session and the two reads to compare, saved with the scene.

    The workflow database is not here: a scene is shared and kept, a database URL may carry a password
    (``AISCommonLib.connection`` keeps it in the user's settings and the keyring).

    datasetRoot - BIDS root of the dataset under review.
    userId - pseudonymous ID of the person working.
    role - reviewer, arbiter or manager.
    readerAMaskPath, readerBMaskPath - NIfTI lesion masks of the two readers (compare files).
    minimumDice - Dice from which two reads count as concordant.
    minimumRegionMm3 - boundary disagreements smaller than this are grouped as small regions (decided in bulk if wished).
    """

    datasetRoot: pathlib.Path
    userId: str = ""
    role: ReviewRole = ReviewRole.reviewer
    readerAMaskPath: pathlib.Path
    readerBMaskPath: pathlib.Path
    minimumDice: Annotated[float, WithinRange(0.0, 1.0)] = agreement.DEFAULT_MIN_DICE
    minimumRegionMm3: Annotated[float, WithinRange(0.0, 100000.0)] = agreement.DEFAULT_MIN_EXTENT_MM3


#
# AISReviewWidget
#


class AISReviewWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """Review workstation: queue, region table and decisions, whole-case actions, finishing actions, dataset view."""

    REGION_COLUMNS = ("Region", "Drawn by", "Type", "Volume (ml)", "Slice", "Side", "Mean ADC", "DWI ratio", "Readers' notes", "Decision")

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNodeGuiTag = None
        self._parameterNode = None
        self._updatingTable = False
        self._tasks = None
        #: The final segmentation watched while the reviewer edits the whole final (live difference), or None.
        self._finalObserved = None
        #: Open the report in the web browser when it is written (self-tests switch it off).
        self.openReportWhenDone = True

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)

        uiWidget = slicer.util.loadUI(self.resourcePath("UI/AISReview.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)

        self.logic = AISReviewLogic()
        self._setupSegmentEditor()
        self._tasks = taskrunner.TaskRunner(self._onTaskProgress, self._onTaskFinished)
        self.ui.taskProgressBar.hide()
        self.ui.databaseUrlLineEdit.text = self.logic.database.url()

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)

        self.ui.databaseUrlLineEdit.connect("editingFinished()", self.onDatabaseEdited)
        self.ui.compareButton.connect("clicked(bool)", self.onCompare)
        self.ui.nextCaseButton.connect("clicked(bool)", self.onNextCase)
        self.ui.regionTableWidget.connect("itemSelectionChanged()", self.onRegionSelected)
        self.ui.previousRegionButton.connect("clicked(bool)", lambda: self.onStepRegion(-1))
        self.ui.nextRegionButton.connect("clicked(bool)", lambda: self.onStepRegion(1))
        self.ui.keepButton.connect("clicked(bool)", lambda: self.onDecide(reviewrule.DECISION_KEEP))
        self.ui.dropButton.connect("clicked(bool)", lambda: self.onDecide(reviewrule.DECISION_DROP))
        self.ui.editButton.connect("clicked(bool)", self.onEdit)
        self.ui.useEditButton.connect("clicked(bool)", self.onUseEdit)
        self.ui.keepSmallButton.connect("clicked(bool)", lambda: self.onDecideSmall(reviewrule.DECISION_KEEP))
        self.ui.dropSmallButton.connect("clicked(bool)", lambda: self.onDecideSmall(reviewrule.DECISION_DROP))
        self.ui.editFinalButton.connect("clicked(bool)", self.onEditFinal)
        self.ui.useFinalEditButton.connect("clicked(bool)", self.onUseFinalEdit)
        self.ui.conveneButton.connect("clicked(bool)", self.onConvene)
        self.ui.opinionButton.connect("clicked(bool)", self.onOpinion)
        for button, action in ((self.ui.agreedButton, reviewrule.START_AGREED), (self.ui.majorityButton, reviewrule.START_MAJORITY),
                               (self.ui.acceptAButton, reviewrule.START_READER_A), (self.ui.acceptBButton, reviewrule.START_READER_B),
                               (self.ui.unionButton, reviewrule.START_UNION), (self.ui.intersectionButton, reviewrule.START_INTERSECTION),
                               (self.ui.stapleButton, reviewrule.START_STAPLE)):
            button.connect("clicked(bool)", lambda checked=False, action=action: self.onWholeCase(action))
        self.ui.finaliseButton.connect("clicked(bool)", self.onFinalise)
        self.ui.escalateButton.connect("clicked(bool)", self.onEscalate)
        self.ui.excludeButton.connect("clicked(bool)", self.onExclude)
        self.ui.arbitrateButton.connect("clicked(bool)", self.onArbitrate)
        self.ui.refreshDatasetButton.connect("clicked(bool)", self.onRefreshDataset)
        self.ui.openReportButton.connect("clicked(bool)", self.onOpenReport)
        self.ui.validateDatasetButton.connect("clicked(bool)", self.onValidateDataset)
        self.ui.exclusionReasonComboBox.addItems(list(reviewqueue.states.EXCLUSION_REASONS))
        self.ui.regionTableWidget.setColumnCount(len(self.REGION_COLUMNS))
        self.ui.regionTableWidget.setHorizontalHeaderLabels(list(self.REGION_COLUMNS))

        self.initializeParameterNode()

    def _setupSegmentEditor(self) -> None:
        """The embedded editor redraws one region with DWI as source; it never puts DWI into every view."""
        editor = self.ui.segmentEditorWidget
        editor.setMRMLSegmentEditorNode(self.logic.segmentEditorNode())
        editor.setEffectNameOrder(EDIT_EFFECTS)
        editor.unorderedEffectsVisible = False
        editor.setAutoShowSourceVolumeNode(False)
        editor.setSegmentationNodeSelectorVisible(False)
        editor.setSourceVolumeNodeSelectorVisible(False)
        editor.setSwitchToSegmentationsButtonVisible(False)
        editor.setAddRemoveSegmentButtonsVisible(False)

    def cleanup(self) -> None:
        self.removeObservers()
        if self._tasks is not None:
            self._tasks.cancel()
        self.logic.close()

    def enter(self) -> None:
        self.initializeParameterNode()
        self.ui.segmentEditorWidget.setMRMLSegmentEditorNode(self.logic.segmentEditorNode())
        self.ui.segmentEditorWidget.setupViewObservations()

    def exit(self) -> None:
        self.ui.segmentEditorWidget.setActiveEffect(None)
        self.ui.segmentEditorWidget.removeViewObservations()
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateActions)

    def onSceneStartClose(self, caller, event) -> None:
        # The session itself ends in the library (ReviewWork observes the scene); the editor lets go of its nodes.
        self.ui.segmentEditorWidget.setActiveEffect(None)
        self.ui.segmentEditorWidget.setSegmentationNode(None)
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        self._refreshRegions()
        self.ui.caseStatusLabel.text = texts.endedSessionText(self.logic.work.lastEnded) or _("No case is loaded.")
        self.ui.historyPlainTextEdit.setPlainText("")
        if self.parent.isEntered:
            self.initializeParameterNode()
            self.ui.segmentEditorWidget.setMRMLSegmentEditorNode(self.logic.segmentEditorNode())

    def onReload(self) -> None:
        """Reload the library too: Slicer's Reload re-runs only this file."""
        reloading.reloadPackage("AISCommonLib")
        reloading.reloadPackage("AISReviewLib")
        ScriptedLoadableModuleWidget.onReload(self)

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())

    def setParameterNode(self, inputParameterNode: AISReviewParameterNode | None) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateActions)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateActions)
        self._updateActions()

    def _updateActions(self, caller=None, event=None) -> None:
        """Compare only two existing, distinct files; say what is missing otherwise."""
        node = self._parameterNode
        paths = [node.readerAMaskPath, node.readerBMaskPath] if node else []
        if len(paths) != 2 or not all(path.is_file() for path in paths):
            reason = _("Choose both reader masks first.")
        elif paths[0].resolve() == paths[1].resolve():
            reason = _("Reader A and reader B masks are the same file.")
        else:
            reason = ""
        self.ui.compareButton.enabled = not reason
        self.ui.compareButton.toolTip = reason or _("Compare the two reads and list where they disagree.")
        self._updateWorkflowActions()

    def _updateWorkflowActions(self) -> None:
        """Enable what the current session allows; the tooltip says why an action is off."""
        node = self._parameterNode
        session = self.logic.work.session if self.logic else None
        if node is None or not str(node.datasetRoot) or str(node.datasetRoot) == "." or not node.userId.strip():
            reason = _("Choose the dataset and enter your user ID first.")
        elif node.role == ReviewRole.manager:
            reason = _("Managers do not take cases; use the dataset view.")
        else:
            reason = ""
        self.ui.nextCaseButton.enabled = not reason
        self.ui.nextCaseButton.toolTip = reason or _("Claim your next case from the workflow (or resume the one you hold).")
        datasetChosen = bool(node and str(node.datasetRoot) not in ("", "."))
        self.ui.refreshDatasetButton.enabled = datasetChosen and bool(node.userId.strip())
        running = self._tasks.task.kind if self._tasks is not None and self._tasks.running else None
        for button, kind, text in ((self.ui.openReportButton, backgroundtasks.TASK_REPORT, _("Open acceptance report")),
                                   (self.ui.validateDatasetButton, backgroundtasks.TASK_VALIDATE, _("Validate dataset"))):
            button.text = _("Cancel") if running == kind else text
            button.enabled = running == kind or (datasetChosen and running is None)
        hasRegion = session is not None and self._selectedRegionId() is not None
        for button in (self.ui.keepButton, self.ui.dropButton, self.ui.editButton):
            button.enabled = hasRegion
        editing = hasRegion and session.review.adjudication.decisions.get(self._selectedRegionId()) == reviewrule.DECISION_EDITED
        self.ui.useEditButton.enabled = editing
        self.ui.segmentEditorWidget.enabled = editing or self._finalObserved is not None
        hasRegions = session is not None and bool(session.review.regionIds)
        for button in (self.ui.previousRegionButton, self.ui.nextRegionButton, self.ui.acceptAButton, self.ui.acceptBButton,
                       self.ui.unionButton, self.ui.intersectionButton, self.ui.stapleButton, self.ui.agreedButton, self.ui.majorityButton):
            button.enabled = hasRegions
        hasSmall = session is not None and bool(session.review.adjudication.smallIds)
        self.ui.keepSmallButton.enabled = self.ui.dropSmallButton.enabled = hasSmall
        self.ui.editFinalButton.enabled = session is not None
        self.ui.useFinalEditButton.enabled = self._finalObserved is not None
        self.ui.conveneButton.enabled = session is not None and session.role == ReviewRole.arbiter.value
        self.ui.opinionButton.enabled = session is not None and session.role == ReviewRole.arbiter.value
        isReviewer = session is not None and session.role == ReviewRole.reviewer.value
        isArbiter = session is not None and session.role == ReviewRole.arbiter.value
        self.ui.finaliseButton.enabled = isReviewer
        self.ui.escalateButton.enabled = isReviewer
        self.ui.arbitrateButton.enabled = isArbiter
        self.ui.excludeButton.enabled = session is not None
        if session is not None and isReviewer and session.review.adjudication.undecided() and session.state == reviewqueue.states.REVIEW_ADJUDICATE:
            self.ui.finaliseButton.toolTip = _("Decide every region first (an edit needs Use edit).")
        else:
            self.ui.finaliseButton.toolTip = _("Finalise the case with these decisions; the final mask is written and the case closed.")

    # Database

    def onDatabaseEdited(self) -> None:
        """Remember the database in the user's settings; a password in the URL goes to the keyring, out of the field."""
        with slicer.util.tryWithErrorDisplay(_("Could not keep the database choice."), waitCursor=True):
            self.ui.caseStatusLabel.text = self.logic.rememberDatabase(self.ui.databaseUrlLineEdit.text)
            self.ui.databaseUrlLineEdit.text = self.logic.database.url()

    # Workflow slots

    def _selectedRegionId(self):
        rows = {index.row() for index in self.ui.regionTableWidget.selectedIndexes()}
        if len(rows) != 1 or self.logic.work.session is None:
            return None
        item = self.ui.regionTableWidget.item(rows.pop(), 0)
        return int(item.text()) if item is not None else None

    def onNextCase(self) -> None:
        """Claim the next case for this role and load it with both reads and the discordant regions."""
        discard = False
        if self.logic.work.hasUnsavedDecisions():
            session = self.logic.work.session
            if not slicer.util.confirmYesNoDisplay(_(
                    "{count} decision(s) on {caseId} are not recorded yet. If the workflow gives you {caseId} again they stay; "
                    "if it gives you another case they are dropped. Take the next case?").format(
                    count=session.unrecordedDecisionCount(), caseId=session.caseId)):
                return
            discard = True
        with slicer.util.tryWithErrorDisplay(_("Could not load the next case."), waitCursor=True):
            node = self._parameterNode
            self.logic.ensureWorkflowPackages()
            session = self.logic.claimAndLoad(node.datasetRoot, node.userId.strip(), node.role.value, discardUnsaved=discard)
            if session is None:
                self.ui.caseStatusLabel.text = _("No case is waiting for you.")
            else:
                self.ui.caseStatusLabel.text = _("{caseId}: {state} (revision {revision})").format(
                    caseId=session.caseId, state=session.state, revision=session.revision)
                self.logic.showCaseLayout(session)
                self.ui.historyPlainTextEdit.setPlainText(self.logic.work.historyText())
            self._refreshRegions()
            self._refreshCaseRecord()

    def _refreshCaseRecord(self) -> None:
        """The readers' notes and, for an arbiter, the escalation and the panel."""
        session = self.logic.work.session
        self.ui.readerNotesPlainTextEdit.setPlainText(self.logic.work.readerNotesText() if session else "")
        isArbiter = session is not None and session.role == ReviewRole.arbiter.value
        self.ui.panelPlainTextEdit.setPlainText(self.logic.work.panelText() if isArbiter else "")

    def _refreshRegions(self) -> None:
        table = self.ui.regionTableWidget
        session = self.logic.work.session
        self._updatingTable = True
        try:
            selected = self._selectedRegionId()
            rows = self.logic.work.regionTable() if session else []
            table.setRowCount(len(rows))
            for rowIndex, row in enumerate(rows):
                meanAdc = "" if row["meanAdc"] is None else f"{row['meanAdc']:.4g} {row['adcUnitLabel']}"
                ratio = "" if row["dwiRatio"] is None else f"{row['dwiRatio']:.2f}"
                kind = adjudication.TYPE_LABELS[row["regionType"]] + (_(" (small)") if row["small"] else "")
                values = (str(row["regionId"]), row["drawnByReader"], kind, f"{row['volumeMl']:.3f}", str(row["sliceNumber"]), row["side"],
                          meanAdc, ratio, row["readerNotes"], row["decision"] or "")
                for column, value in enumerate(values):
                    item = qt.QTableWidgetItem(value)
                    item.setToolTip(row["note"] or row["title"])
                    table.setItem(rowIndex, column, item)
                if row["regionId"] == selected:
                    table.selectRow(rowIndex)
            table.resizeColumnsToContents()
            self.ui.metricsPlainTextEdit.setPlainText(texts.metricsText(self.logic.work.metrics()) if session else "")
        finally:
            self._updatingTable = False
        self._updateWorkflowActions()

    def onRegionSelected(self) -> None:
        """Jump every view to the selected region and show its note."""
        if self._updatingTable:
            return
        regionId = self._selectedRegionId()
        if regionId is not None:
            with slicer.util.tryWithErrorDisplay(_("Could not show the region."), waitCursor=True):
                self.logic.work.jumpToRegion(regionId)
                self.ui.regionNoteLineEdit.text = self.logic.work.session.review.adjudication.notes.get(regionId, "")
        self._updateWorkflowActions()

    def onStepRegion(self, direction: int) -> None:
        """Select the next or previous region (the views follow)."""
        with slicer.util.tryWithErrorDisplay(_("Could not go to the region."), waitCursor=True):
            regionId = self.logic.work.stepRegion(direction)
            if regionId is not None:
                self.ui.regionTableWidget.selectRow(self.logic.work.session.review.regionIds.index(regionId))

    def onDecide(self, decision: str) -> None:
        """Keep or drop the selected region, with the note typed."""
        with slicer.util.tryWithErrorDisplay(_("Could not record the decision."), waitCursor=True):
            self.logic.work.decide(self._selectedRegionId(), decision, self.ui.regionNoteLineEdit.text)
            self._refreshRegions()

    def onEdit(self) -> None:
        """Mark the selected region for editing and point the embedded editor at its segment (views keep their sequences)."""
        with slicer.util.tryWithErrorDisplay(_("Could not start editing the region."), waitCursor=True):
            regionId = self._selectedRegionId()
            self.logic.work.decide(regionId, reviewrule.DECISION_EDITED, self.ui.regionNoteLineEdit.text)
            segmentId = self.logic.work.startRegionEdit(self.logic.segmentEditorNode(), regionId)
            editor = self.ui.segmentEditorWidget
            review = self.logic.work.session.review
            editor.setSegmentationNode(review.regionsNode)
            editor.setSourceVolumeNode(review.dwiNode)
            editor.setCurrentSegmentID(segmentId)
            self._refreshRegions()

    def onUseEdit(self) -> None:
        """Take the edited region segment into the final mask."""
        with slicer.util.tryWithErrorDisplay(_("Could not use the edited region."), waitCursor=True):
            self.ui.segmentEditorWidget.setActiveEffect(None)
            self.logic.work.commitEdit(self._selectedRegionId())
            self._refreshRegions()

    def onDecideSmall(self, decision: str) -> None:
        """Keep or drop every small region that has no decision of its own."""
        with slicer.util.tryWithErrorDisplay(_("Could not decide the small regions."), waitCursor=True):
            self.logic.work.decideSmall(decision)
            self._refreshRegions()

    def onEditFinal(self) -> None:
        """Edit the whole final mask in the embedded editor; the views show what changes against A and B as you draw."""
        with slicer.util.tryWithErrorDisplay(_("Could not start editing the final mask."), waitCursor=True):
            segmentId = self.logic.work.startFinalEdit(self.logic.segmentEditorNode())
            review = self.logic.work.session.review
            editor = self.ui.segmentEditorWidget
            editor.setSegmentationNode(review.finalNode)
            editor.setSourceVolumeNode(review.dwiNode)
            editor.setCurrentSegmentID(segmentId)
            editor.enabled = True
            self._observeFinal(review.finalNode.GetSegmentation())
            self.onFinalModified()

    def _observeFinal(self, segmentation) -> None:
        if self._finalObserved is not None:
            self.removeObserver(self._finalObserved, slicer.vtkSegmentation.SegmentModified, self.onFinalModified)
        self._finalObserved = segmentation
        if segmentation is not None:
            self.addObserver(segmentation, slicer.vtkSegmentation.SegmentModified, self.onFinalModified)
        self._updateWorkflowActions()

    def onFinalModified(self, caller=None, event=None) -> None:
        """Live difference of the final being drawn from the voxels both readers drew."""
        if self.logic.work.session is None:
            return
        changes = self.logic.work.finalChanges()
        self.ui.finalChangesLabel.text = _("+{added} / -{removed} voxels against A and B").format(
            added=changes["addedVoxels"], removed=changes["removedVoxels"])

    def onUseFinalEdit(self) -> None:
        """Take the final as drawn: it is the answer, and what it changed is recorded."""
        with slicer.util.tryWithErrorDisplay(_("Could not use the edited final mask."), waitCursor=True):
            self.ui.segmentEditorWidget.setActiveEffect(None)
            self._observeFinal(None)
            self.logic.work.commitFinalEdit()
            self._refreshRegions()

    def onConvene(self) -> None:
        """Lead arbiter: bring the listed arbiters (or the reviewer who escalated) into the discussion."""
        with slicer.util.tryWithErrorDisplay(_("Could not convene the panel."), waitCursor=True):
            self.ui.panelPlainTextEdit.setPlainText(self.logic.work.convenePanel(self.ui.panelMembersLineEdit.text))

    def onOpinion(self) -> None:
        """Panel member: record the opinion typed, with the keep/drop decisions made so far."""
        with slicer.util.tryWithErrorDisplay(_("Could not record the opinion."), waitCursor=True):
            self.ui.panelPlainTextEdit.setPlainText(self.logic.work.addOpinion(self.ui.opinionLineEdit.text))
            self.ui.opinionLineEdit.text = ""

    def onWholeCase(self, action: str) -> None:
        """Start the final from read A or B, their union, intersection or STAPLE (decides every region at once)."""
        with slicer.util.tryWithErrorDisplay(_("Could not start the final from there."), waitCursor=True):
            self.logic.work.wholeCase(action)
            self._refreshRegions()

    def _showOutcome(self, outcome: dict) -> None:
        self.ui.caseStatusLabel.text = _("{caseId}: {state} (revision {revision})").format(
            caseId=outcome["case_id"], state=outcome["state"], revision=outcome["revision"])
        self.ui.caseNoteLineEdit.text = ""
        self.ui.overrideReasonLineEdit.text = ""
        self.ui.finalChangesLabel.text = ""
        self.ui.segmentEditorWidget.setSegmentationNode(None)
        self._observeFinal(None)
        self._refreshRegions()
        self._refreshCaseRecord()

    def onFinalise(self) -> None:
        """Finalise the case as its reviewer."""
        if slicer.util.confirmYesNoDisplay(_("Finalise this case? The final mask is written and the case is closed.")):
            with slicer.util.tryWithErrorDisplay(_("Could not finalise the case."), waitCursor=True):
                self._showOutcome(self.logic.work.finalise(self.ui.caseNoteLineEdit.text))

    def onEscalate(self) -> None:
        """Send the case to arbitration with the reason typed."""
        with slicer.util.tryWithErrorDisplay(_("Could not escalate the case."), waitCursor=True):
            self._showOutcome(self.logic.work.escalate(self.ui.caseNoteLineEdit.text))

    def onExclude(self) -> None:
        """Take the case out of the workflow with the chosen reason."""
        if slicer.util.confirmYesNoDisplay(_("Exclude this case from the dataset?")):
            with slicer.util.tryWithErrorDisplay(_("Could not exclude the case."), waitCursor=True):
                self._showOutcome(self.logic.work.exclude(self.ui.exclusionReasonComboBox.currentText, self.ui.caseNoteLineEdit.text))

    def onArbitrate(self) -> None:
        """Give the final ruling (a ruling note is required)."""
        if slicer.util.confirmYesNoDisplay(_("Give the final ruling on this case?")):
            with slicer.util.tryWithErrorDisplay(_("Could not record the ruling."), waitCursor=True):
                self._showOutcome(self.logic.work.arbitrate(self.ui.caseNoteLineEdit.text, self.ui.overrideReasonLineEdit.text))

    def onRefreshDataset(self) -> None:
        """Show status counts and per-reader agreement (managers see every read)."""
        with slicer.util.tryWithErrorDisplay(_("Could not summarise the dataset."), waitCursor=True):
            self.logic.ensureWorkflowPackages()
            node = self._parameterNode
            self.ui.datasetPlainTextEdit.setPlainText(texts.datasetText(self.logic.datasetSummary(node.datasetRoot, node.userId.strip())))

    # Background tasks

    def onOpenReport(self) -> None:
        """Write the acceptance report in the background (or cancel the one running) and open it when done."""
        with slicer.util.tryWithErrorDisplay(_("Could not write the acceptance report."), waitCursor=True):
            self._startOrCancel(backgroundtasks.TASK_REPORT)

    def onValidateDataset(self) -> None:
        """Validate the dataset in the background (or cancel the validation running)."""
        with slicer.util.tryWithErrorDisplay(_("Could not validate the dataset."), waitCursor=True):
            self._startOrCancel(backgroundtasks.TASK_VALIDATE)

    def _startOrCancel(self, kind: str) -> None:
        """Cancel the task running, or start ``kind``; the button turns into Cancel while it runs."""
        try:
            if self._tasks.running:
                self._tasks.cancel()
                self.ui.taskStatusLabel.text = _("Cancelling...")
                return
            self._tasks.start(self.logic.backgroundTask(kind, self._parameterNode.datasetRoot))
            self.ui.taskProgressBar.value = 0
            self.ui.taskProgressBar.show()
            self.ui.taskStatusLabel.text = _("Starting the {kind}...").format(kind=kind)
        finally:
            self._updateWorkflowActions()

    def _onTaskProgress(self, fraction: float, message: str) -> None:
        self.ui.taskProgressBar.value = int(round(fraction * self.ui.taskProgressBar.maximum))
        self.ui.taskStatusLabel.text = message

    def _onTaskFinished(self, result) -> None:
        self.ui.taskProgressBar.hide()
        self.ui.taskStatusLabel.text = result.message
        if result.details:
            self.ui.datasetPlainTextEdit.setPlainText(result.details)
        if result.path is not None and self.openReportWhenDone:
            qt.QDesktopServices.openUrl(qt.QUrl.fromLocalFile(str(result.path)))
        self._updateWorkflowActions()

    def onCompare(self) -> None:
        """Compare the two masks and show the agreement report."""
        self.ui.resultsPlainTextEdit.setPlainText("")
        with slicer.util.tryWithErrorDisplay(_("Could not compare the reader masks."), waitCursor=True):
            self.logic.ensureNiftiPackages()
            result = self.logic.compare(self._parameterNode)
            self.ui.resultsPlainTextEdit.setPlainText(texts.describeAgreement(result))


#
# AISReviewLogic
#


class AISReviewLogic(ScriptedLoadableModuleLogic, connection.WorkflowConnectionMixin):
    """Adapter between the widget and the library: the review work (store, session, decisions) in Slicer's scene,
    the database choice, the packages to install, the background tasks and the agreement of two files.

    :param databaseSettings: where the database choice is kept (the user's QSettings by default).
    """

    def __init__(self, databaseSettings=None) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        self.database = databaseSettings or connection.DatabaseSettings(qt.QSettings())
        self.installer = dependencies.slicerInstaller("AISReview")
        draftFolder = pathlib.Path(slicer.app.temporaryPath) / "AISReview-drafts"
        self.work = reviewsession.ReviewWork(slicer.mrmlScene, draftFolder=draftFolder)
        self.work.observeSceneClose()

    def close(self) -> None:
        """End the session and close the store (module cleanup, reload)."""
        self.work.stopObserving()
        self.work.close()

    def getParameterNode(self) -> AISReviewParameterNode:
        return AISReviewParameterNode(super().getParameterNode())

    def segmentEditorNode(self):
        """The module's own Segment Editor parameter node (a scene singleton)."""
        return segmentation.segmentEditorNode(slicer.mrmlScene, SEGMENT_EDITOR_NODE_TAG)


    def claimAndLoad(self, datasetRoot, userId: str, role: str, discardUnsaved: bool = False):
        """Claim the user's next case (or keep the held one on screen); :return: the session or None."""
        return self.work.claimAndLoad(self.database.connectionUrl(), datasetRoot, userId, role, discardUnsaved)

    def datasetSummary(self, datasetRoot, userId: str) -> dict:
        return self.work.datasetSummary(self.database.connectionUrl(), datasetRoot, userId)

    def showCaseLayout(self, session) -> None:
        """The linked DWI / ADC / eADC / FLAIR layout (with T1w and T2w when the case has them) with the case's volumes."""
        layoutNode = slicer.app.layoutManager().layoutLogic().GetLayoutNode()
        layouts.setLayout(layoutNode, layouts.LAYOUT_2X2_AXIAL, session.review.caseNodes.volumeNodes)
        slicer.app.processEvents()
        layouts.showSequences(slicer.app.applicationLogic(), layouts.LAYOUT_2X2_AXIAL, session.review.caseNodes.volumeNodes)
        crosshair.showCrosshair(slicer.mrmlScene)

    def backgroundTask(self, kind: str, datasetRoot) -> backgroundtasks.TaskCommand:
        """The ``ais report`` or ``ais validate`` command of the dataset; the report's plotting packages are offered once."""
        if kind == backgroundtasks.TASK_REPORT:
            self.ensureWorkflowPackages()
            self.installer.ensure(REPORT_REQUIREMENTS, _("The acceptance report's plots and the official BIDS validator"), optional=True)
            return backgroundtasks.reportTask(datasetRoot, self.database.connectionUrl())
        self.ensureNiftiPackages()
        return backgroundtasks.validateTask(datasetRoot)

    def compare(self, parameterNode: AISReviewParameterNode):
        """Compare reader A's and reader B's mask files.

        :return: the library's ``AgreementResult``.
        :raises AISError: unreadable, non-binary or 4D masks, or masks on different voxel grids.
        """
        parameters = agreement.AgreementParameters(minExtentMm3=parameterNode.minimumRegionMm3, minDice=parameterNode.minimumDice)
        return agreement.compareFiles(parameterNode.readerAMaskPath, parameterNode.readerBMaskPath, parameters)


#
# AISReviewTest
#


class AISReviewTest(ScriptedLoadableModuleTest):
    """In-Slicer tests of the Logic and the widget on synthetic data (``AISReviewLib.gui.selftests``); they install
    SQLAlchemy at first use, after asking (in ``--testing`` mode Slicer answers OK and logs the question)."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        for test in (self.test_ParameterNameBindings, self.test_CompareShiftedReads, self.test_ReviewAndArbitrationFlow,
                     self.test_EditKeepsEachViewsSequence, self.test_CloseSceneEndsTheSession, self.test_ReportRunsInTheBackground,
                     self.test_SceneNeverHoldsTheDatabasePassword):
            self.setUp()
            test()
        self.delayDisplay("AISReview tests passed")

    def test_ParameterNameBindings(self):
        """Every SlicerParameterName of the .ui names a parameter node field, and each binding connects."""
        uiPath = os.path.join(os.path.dirname(slicer.util.modulePath("AISReview")), "Resources", "UI", "AISReview.ui")
        uifile.checkParameterBindings(self, uiPath, AISReviewLogic(selftests.memoryDatabase()).getParameterNode(),
                                      {"minimumDice": ("minimumDiceSpinBox", 0.5)})

    def test_CompareShiftedReads(self):
        selftests.compareShiftedReads(self, AISReviewLogic(selftests.memoryDatabase()))

    def test_ReviewAndArbitrationFlow(self):
        selftests.reviewAndArbitrationFlow(self, AISReviewLogic(selftests.memoryDatabase()))

    def test_EditKeepsEachViewsSequence(self):
        selftests.editKeepsEachViewsSequence(self)

    def test_CloseSceneEndsTheSession(self):
        selftests.closeSceneEndsTheSession(self)

    def test_ReportRunsInTheBackground(self):
        selftests.reportRunsInTheBackground(self)

    def test_SceneNeverHoldsTheDatabasePassword(self):
        selftests.sceneNeverHoldsTheDatabasePassword(self)
