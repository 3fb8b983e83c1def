import datetime
import enum
import os
import pathlib
import tempfile
from typing import Annotated

import numpy as np
import qt
import slicer
import slicer.packaging
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

from AISCommonLib import RUNTIME_REQUIREMENTS, reloading, uifile
from AISCommonLib.core import adjudication, agreement, reviewrule
from AISCommonLib.core.errors import InputError
from AISCommonLib.report.report import REPORT_REQUIREMENTS
from AISCommonLib.synthetic import tinycases
from AISReviewLib import reviewqueue

#
# AISReview
#


class AISReview(ScriptedLoadableModule):
    """Registers the module with Slicer: title, category, dependencies, help and acknowledgement."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("AIS Review")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Segmentation")]
        self.parent.dependencies = ["AISCommon"]
        self.parent.contributors = ["AIS Annotation contributors"]
        self.parent.helpText = _("""
Review and arbitrate the two independent reads of acute ischemic stroke cases.
<p><b>Workflow</b>: choose the dataset, your user ID and role, and press <i>Next case</i>. A reviewer gets cases
from the confirm and adjudicate queues, an arbiter the escalated cases (with the reviewer's notes); nobody gets
a case they read or reviewed. Both reads are shown as outlines (reader A blue, reader B amber) over linked
DWI / ADC / eADC / FLAIR views, each discordant region as its own segment. Select a region in the table (all
views jump to it), decide <i>keep</i>, <i>drop</i> or <i>edit</i> (redraw the region segment in the Segment
Editor, then <i>Use edit</i>) with a note, or use a whole-case action (accept A, accept B, union,
intersection, STAPLE). The green <i>Final</i> segment shows the adjudicated mask live. <i>Finalise</i>,
<i>Escalate</i> (reason required), <i>Exclude</i> (reason) and <i>Arbitrate</i> (ruling note required) are
recorded in the workflow's audit trail. Managers see status counts and per-reader agreement.</p>
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
acute ischemic stroke MRI annotation. It relies on 3D Slicer, SimpleITK, NumPy and NiBabel.
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

    datasetRoot - BIDS root of the dataset under review.
    databaseUrl - workflow database (empty: the dataset's workflow.sqlite or $AIS_DB_URL).
    userId - pseudonymous ID of the person working.
    role - reviewer, arbiter or manager.
    readerAMaskPath, readerBMaskPath - NIfTI lesion masks of the two readers (compare files).
    minimumDice - Dice from which two reads count as concordant.
    minimumRegionMm3 - boundary disagreements smaller than this are not listed for review.
    """

    datasetRoot: pathlib.Path
    databaseUrl: str = ""
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

    REGION_COLUMNS = ("Region", "Kind", "Type", "Volume (ml)", "Mean ADC", "DWI ratio", "R, A, S (mm)", "Decision")

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._updatingTable = False

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)

        uiWidget = slicer.util.loadUI(self.resourcePath("UI/AISReview.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)

        self.logic = AISReviewLogic()

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)

        self.ui.compareButton.connect("clicked(bool)", self.onCompare)
        self.ui.nextCaseButton.connect("clicked(bool)", self.onNextCase)
        self.ui.regionTableWidget.connect("itemSelectionChanged()", self.onRegionSelected)
        self.ui.previousRegionButton.connect("clicked(bool)", lambda: self.onStepRegion(-1))
        self.ui.nextRegionButton.connect("clicked(bool)", lambda: self.onStepRegion(1))
        self.ui.keepButton.connect("clicked(bool)", lambda: self.onDecide(reviewrule.DECISION_KEEP))
        self.ui.dropButton.connect("clicked(bool)", lambda: self.onDecide(reviewrule.DECISION_DROP))
        self.ui.editButton.connect("clicked(bool)", self.onEdit)
        self.ui.useEditButton.connect("clicked(bool)", self.onUseEdit)
        for button, action in ((self.ui.acceptAButton, reviewrule.START_READER_A), (self.ui.acceptBButton, reviewrule.START_READER_B),
                               (self.ui.unionButton, reviewrule.START_UNION), (self.ui.intersectionButton, reviewrule.START_INTERSECTION),
                               (self.ui.stapleButton, reviewrule.START_STAPLE)):
            button.connect("clicked(bool)", lambda checked=False, action=action: self.onWholeCase(action))
        self.ui.finaliseButton.connect("clicked(bool)", self.onFinalise)
        self.ui.escalateButton.connect("clicked(bool)", self.onEscalate)
        self.ui.excludeButton.connect("clicked(bool)", self.onExclude)
        self.ui.arbitrateButton.connect("clicked(bool)", self.onArbitrate)
        self.ui.refreshDatasetButton.connect("clicked(bool)", self.onRefreshDataset)
        self.ui.openReportButton.connect("clicked(bool)", self.onOpenReport)
        self.ui.exclusionReasonComboBox.addItems(list(reviewqueue.states.EXCLUSION_REASONS))
        self.ui.regionTableWidget.setColumnCount(len(self.REGION_COLUMNS))
        self.ui.regionTableWidget.setHorizontalHeaderLabels(list(self.REGION_COLUMNS))

        self.initializeParameterNode()

    def cleanup(self) -> None:
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateActions)

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

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
        session = self.logic.session if self.logic else None
        if node is None or not str(node.datasetRoot) or str(node.datasetRoot) == "." or not node.userId.strip():
            reason = _("Choose the dataset and enter your user ID first.")
        elif node.role == ReviewRole.manager:
            reason = _("Managers do not take cases; use the dataset view.")
        else:
            reason = ""
        self.ui.nextCaseButton.enabled = not reason
        self.ui.nextCaseButton.toolTip = reason or _("Claim your next case from the workflow (or resume the one you hold).")
        self.ui.refreshDatasetButton.enabled = bool(node and str(node.datasetRoot) not in ("", ".") and node.userId.strip())
        self.ui.openReportButton.enabled = self.ui.refreshDatasetButton.enabled
        hasRegion = session is not None and self._selectedRegionId() is not None
        for button in (self.ui.keepButton, self.ui.dropButton, self.ui.editButton):
            button.enabled = hasRegion
        self.ui.useEditButton.enabled = hasRegion and session.review.adjudication.decisions.get(self._selectedRegionId()) == reviewrule.DECISION_EDITED
        hasRegions = session is not None and bool(session.review.regionIds)
        for button in (self.ui.previousRegionButton, self.ui.nextRegionButton, self.ui.acceptAButton, self.ui.acceptBButton,
                       self.ui.unionButton, self.ui.intersectionButton, self.ui.stapleButton):
            button.enabled = hasRegions
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

    # Workflow slots

    def _selectedRegionId(self):
        rows = {index.row() for index in self.ui.regionTableWidget.selectedIndexes()}
        if len(rows) != 1 or self.logic.session is None:
            return None
        item = self.ui.regionTableWidget.item(rows.pop(), 0)
        return int(item.text()) if item is not None else None

    def onNextCase(self) -> None:
        """Claim the next case for this role and load it with both reads and the discordant regions."""
        with slicer.util.tryWithErrorDisplay(_("Could not load the next case."), waitCursor=True):
            slicer.packaging.pip_ensure(RUNTIME_REQUIREMENTS, requester="AISReview")
            node = self._parameterNode
            session = self.logic.claimAndLoad(node.datasetRoot, node.databaseUrl, node.userId.strip(), node.role.value)
            if session is None:
                self.ui.caseStatusLabel.text = _("No case is waiting for you.")
            else:
                self.ui.caseStatusLabel.text = _("{caseId}: {state} (revision {revision})").format(
                    caseId=session.caseId, state=session.state, revision=session.revision)
                self.logic.showCaseLayout(session)
                self.ui.historyPlainTextEdit.setPlainText(self.logic.historyText(session))
            self._refreshRegions()

    def _refreshRegions(self) -> None:
        table = self.ui.regionTableWidget
        session = self.logic.session
        self._updatingTable = True
        try:
            selected = self._selectedRegionId()
            rows = self.logic.regionTable() if session else []
            table.setRowCount(len(rows))
            for rowIndex, row in enumerate(rows):
                meanAdc = "" if row["meanAdc"] is None else f"{row['meanAdc']:.4g} {row['adcUnitLabel']}"
                ratio = "" if row["dwiRatio"] is None else f"{row['dwiRatio']:.2f}"
                values = (str(row["regionId"]), adjudication.KIND_LABELS[row["kind"]], adjudication.TYPE_LABELS[row["regionType"]],
                          f"{row['volumeMl']:.2f}", meanAdc, ratio, ", ".join(f"{value:.1f}" for value in row["centroidRas"]),
                          row["decision"] or "")
                for column, value in enumerate(values):
                    item = qt.QTableWidgetItem(value)
                    item.setToolTip(row["note"] or row["title"])
                    table.setItem(rowIndex, column, item)
                if row["regionId"] == selected:
                    table.selectRow(rowIndex)
            table.resizeColumnsToContents()
            self.ui.metricsPlainTextEdit.setPlainText(self.logic.metricsText() if session else "")
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
                self.logic.jumpToRegion(regionId)
                self.ui.regionNoteLineEdit.text = self.logic.session.review.adjudication.notes.get(regionId, "")
        self._updateWorkflowActions()

    def onStepRegion(self, direction: int) -> None:
        """Select the next or previous region (the views follow)."""
        with slicer.util.tryWithErrorDisplay(_("Could not go to the region."), waitCursor=True):
            regionId = self.logic.stepRegion(direction)
            if regionId is not None:
                self.ui.regionTableWidget.selectRow(self.logic.session.review.regionIds.index(regionId))

    def onDecide(self, decision: str) -> None:
        """Keep or drop the selected region, with the note typed."""
        with slicer.util.tryWithErrorDisplay(_("Could not record the decision."), waitCursor=True):
            self.logic.decide(self._selectedRegionId(), decision, self.ui.regionNoteLineEdit.text)
            self._refreshRegions()

    def onEdit(self) -> None:
        """Mark the selected region for editing and open the Segment Editor on its segment."""
        with slicer.util.tryWithErrorDisplay(_("Could not start editing the region."), waitCursor=True):
            regionId = self._selectedRegionId()
            self.logic.decide(regionId, reviewrule.DECISION_EDITED, self.ui.regionNoteLineEdit.text)
            self.logic.openSegmentEditor(regionId)
            self._refreshRegions()

    def onUseEdit(self) -> None:
        """Take the edited region segment into the final mask."""
        with slicer.util.tryWithErrorDisplay(_("Could not use the edited region."), waitCursor=True):
            self.logic.commitEdit(self._selectedRegionId())
            self._refreshRegions()

    def onWholeCase(self, action: str) -> None:
        """Start the final from read A or B, their union, intersection or STAPLE (decides every region at once)."""
        with slicer.util.tryWithErrorDisplay(_("Could not start the final from there."), waitCursor=True):
            self.logic.wholeCase(action)
            self._refreshRegions()

    def _showOutcome(self, outcome: dict) -> None:
        self.ui.caseStatusLabel.text = _("{caseId}: {state} (revision {revision})").format(
            caseId=outcome["case_id"], state=outcome["state"], revision=outcome["revision"])
        self.ui.caseNoteLineEdit.text = ""
        self._refreshRegions()

    def onFinalise(self) -> None:
        """Finalise the case as its reviewer."""
        if slicer.util.confirmYesNoDisplay(_("Finalise this case? The final mask is written and the case is closed.")):
            with slicer.util.tryWithErrorDisplay(_("Could not finalise the case."), waitCursor=True):
                self._showOutcome(self.logic.finalise(self.ui.caseNoteLineEdit.text))

    def onEscalate(self) -> None:
        """Send the case to arbitration with the reason typed."""
        with slicer.util.tryWithErrorDisplay(_("Could not escalate the case."), waitCursor=True):
            self._showOutcome(self.logic.escalate(self.ui.caseNoteLineEdit.text))

    def onExclude(self) -> None:
        """Take the case out of the workflow with the chosen reason."""
        if slicer.util.confirmYesNoDisplay(_("Exclude this case from the dataset?")):
            with slicer.util.tryWithErrorDisplay(_("Could not exclude the case."), waitCursor=True):
                self._showOutcome(self.logic.exclude(self.ui.exclusionReasonComboBox.currentText, self.ui.caseNoteLineEdit.text))

    def onArbitrate(self) -> None:
        """Give the final ruling (a ruling note is required)."""
        if slicer.util.confirmYesNoDisplay(_("Give the final ruling on this case?")):
            with slicer.util.tryWithErrorDisplay(_("Could not record the ruling."), waitCursor=True):
                self._showOutcome(self.logic.arbitrate(self.ui.caseNoteLineEdit.text))

    def onRefreshDataset(self) -> None:
        """Show status counts and per-reader agreement (managers see every read)."""
        with slicer.util.tryWithErrorDisplay(_("Could not summarise the dataset."), waitCursor=True):
            slicer.packaging.pip_ensure(RUNTIME_REQUIREMENTS, requester="AISReview")
            node = self._parameterNode
            self.ui.datasetPlainTextEdit.setPlainText(self.logic.datasetText(node.datasetRoot, node.databaseUrl, node.userId.strip()))

    def onOpenReport(self) -> None:
        """Write the acceptance report and show it in the web browser."""
        with slicer.util.tryWithErrorDisplay(_("Could not write the acceptance report."), waitCursor=True):
            slicer.packaging.pip_ensure(RUNTIME_REQUIREMENTS + REPORT_REQUIREMENTS, requester="AISReview")
            node = self._parameterNode
            path = self.logic.writeAcceptanceReport(node.datasetRoot, node.databaseUrl)
            qt.QDesktopServices.openUrl(qt.QUrl.fromLocalFile(str(path)))

    def onCompare(self) -> None:
        """Compare the two masks and show the agreement report."""
        self.ui.resultsPlainTextEdit.setPlainText("")
        with slicer.util.tryWithErrorDisplay(_("Could not compare the reader masks."), waitCursor=True):
            # The library reads NIfTI with nibabel, which Slicer does not ship.
            slicer.packaging.pip_ensure(RUNTIME_REQUIREMENTS, requester="AISReview")
            result = self.logic.compare(self._parameterNode)
            self.ui.resultsPlainTextEdit.setPlainText(self._describe(result))

    @staticmethod
    def _describe(result) -> str:
        def distance(valueMm):
            return _("n/a (a read is empty)") if valueMm is None else f"{valueMm:.2f} mm"

        if result.concordant:
            verdict = _("CONCORDANT: the reads agree.")
        else:
            verdict = _("DISCORDANT: send the case to a reviewer.")
        lines = [
            verdict,
            _("Dice {dice:.3f} (concordant from {minimumDice:.2f}), Jaccard {jaccard:.3f}").format(
                dice=result.dice, minimumDice=result.parameters.minDice, jaccard=result.jaccard
            ),
            _("Volume A {volumeA:.2f} ml, B {volumeB:.2f} ml").format(volumeA=result.volumeAMl, volumeB=result.volumeBMl),
            _("HD95 {hausdorff}, average surface distance {assd}").format(
                hausdorff=distance(result.hausdorffMm), assd=distance(result.assdMm)
            ),
            _("Lesions A {lesionsA}, B {lesionsB}; lesion F1 {f1:.2f}; missed lesions {missed}").format(
                lesionsA=result.lesionsA, lesionsB=result.lesionsB, f1=result.detectionAReference.f1, missed=result.missedLesions
            ),
            "",
            _("Discordant regions to review: {count}").format(count=len(result.regions)),
        ]
        for region in result.regions:
            x, y, z = region.centroidRas
            lines.append(
                _("  #{regionId} {kind} {regionType}: {volumeMl:.3f} ml at R {x:.1f}, A {y:.1f}, S {z:.1f}").format(
                    regionId=region.regionId, kind=region.kind, regionType=region.regionType, volumeMl=region.volumeMl, x=x, y=y, z=z
                )
            )
        hidden = len(result.allRegions) - len(result.regions)
        if hidden:
            lines.append(_("  ({count} smaller boundary regions not listed)").format(count=hidden))
        return "\n".join(lines)


#
# AISReviewLogic
#


class ReviewSession:
    """The case a user holds: store, claim, review scene and region navigator."""

    def __init__(self, store, userId: str, role: str, claim: dict, review, navigator):
        self.store, self.userId, self.role, self.claim = store, userId, role, claim
        self.review, self.navigator = review, navigator

    @property
    def caseId(self) -> str:
        return self.claim["case_id"]

    @property
    def state(self) -> str:
        return self.claim["state"]

    @property
    def revision(self) -> int:
        return self.claim["revision"]


class AISReviewLogic(ScriptedLoadableModuleLogic):
    """Adapter between the widget and the library: workflow store, review scene, decisions, agreement of files."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        self.session = None

    @staticmethod
    def openStore(datasetRoot, databaseUrl: str = "", create: bool = False):
        """The workflow store of the dataset, with the agreement engine wired in (``create``: a new SQLite file)."""
        from AISCommonLib.workflow.store import openStore

        return openStore(databaseUrl or None, datasetRoot, create=create)

    def claimAndLoad(self, datasetRoot, databaseUrl: str, userId: str, role: str):
        """Claim the user's next case (or resume the held one) and load it into the scene.

        :return: the :class:`ReviewSession`, or None when nothing is waiting.
        """
        store = self.openStore(datasetRoot, databaseUrl)
        claim = store.claimNext(userId, role)
        if claim is None:
            self.closeSession()
            return None
        self.loadCase(store, userId, role, claim)
        return self.session

    def loadCase(self, store, userId: str, role: str, claim: dict):
        """Load a claimed case: sequences, both reads, discordant regions, final segment."""
        from AISCommonLib.core.cases import discoverCases
        from AISCommonLib.core.sequences import loadCase
        from AISCommonLib.mrml import reviewscene

        self.closeSession()
        caseId = claim["case_id"]
        reads = store.readsVisibleTo(userId, caseId)
        if len(reads) < 2:
            raise InputError(f"Case {caseId} has {len(reads)} visible read(s); two are needed for review.")
        paths = [store.readMaskPath(userId, read["read_id"]) for read in reads[:2]]
        case = next((case for case in discoverCases(store.datasetRoot) if case.caseId == caseId), None)
        if case is None:
            raise InputError(f"Case {caseId} has no images under {store.datasetRoot}.")
        review = reviewscene.loadReviewFiles(slicer.mrmlScene, loadCase(case), paths[0], paths[1], store.agreementParameters(),
                                             (reads[0]["user_id"], reads[1]["user_id"]))
        self.session = ReviewSession(store, userId, role, claim, review, reviewscene.RegionNavigator(review))
        return self.session

    def closeSession(self) -> None:
        """Remove the current case's nodes from the scene."""
        from AISCommonLib.mrml import reviewscene

        if self.session is not None:
            reviewscene.removeReview(slicer.mrmlScene, self.session.review)
        self.session = None

    def showCaseLayout(self, session) -> None:
        """The linked 2x2 DWI / ADC / eADC / FLAIR layout with the case's volumes (Slicer's layout manager)."""
        from AISCommonLib.mrml import crosshair, layouts

        layoutManager = slicer.app.layoutManager()
        layoutNode = layoutManager.layoutLogic().GetLayoutNode()
        layouts.setLayout(layoutNode, layouts.LAYOUT_2X2_AXIAL)
        layouts.showSequences(slicer.app.applicationLogic(), layouts.LAYOUT_2X2_AXIAL, session.review.caseNodes.volumeNodes)
        crosshair.showCrosshair(slicer.mrmlScene)

    def _requireSession(self):
        if self.session is None:
            raise InputError("No case is loaded; press Next case first.")
        return self.session

    def regionTable(self) -> list:
        from AISCommonLib.mrml import reviewscene

        return reviewscene.regionTable(self._requireSession().review)

    def jumpToRegion(self, regionId: int) -> None:
        from AISCommonLib.mrml import reviewscene

        session = self._requireSession()
        session.navigator.select(regionId)
        reviewscene.jumpToRegion(slicer.mrmlScene, session.review, regionId)

    def stepRegion(self, direction: int):
        """Move to the next/previous region; return its id (None when there are none)."""
        from AISCommonLib.mrml import reviewscene

        session = self._requireSession()
        region = reviewscene.stepRegion(slicer.mrmlScene, session.review, session.navigator, direction)
        return None if region is None else region.regionId

    def decide(self, regionId, decision: str, note: str = "") -> None:
        from AISCommonLib.mrml import decisions

        if regionId is None:
            raise InputError("Select a region in the table first.")
        decisions.setRegionDecision(self._requireSession().review, regionId, decision, note)

    def commitEdit(self, regionId) -> None:
        from AISCommonLib.mrml import decisions

        if regionId is None:
            raise InputError("Select the edited region in the table first.")
        decisions.commitRegionEdit(self._requireSession().review, regionId)

    def openSegmentEditor(self, regionId: int) -> None:
        """Show the Segment Editor on the region's segment (the regions segmentation, DWI as source)."""
        from AISCommonLib.mrml import reviewscene

        review = self._requireSession().review
        slicer.util.selectModule("SegmentEditor")
        editor = slicer.modules.SegmentEditorWidget.editor  # slicer-api-check: ignore (widget attribute of the Segment Editor module)
        editor.setSegmentationNode(review.regionsNode)
        editor.setSourceVolumeNode(review.dwiNode)
        editor.setCurrentSegmentID(reviewscene.regionSegmentId(regionId))

    def wholeCase(self, action: str) -> None:
        from AISCommonLib.mrml import decisions

        decisions.applyStartingPoint(self._requireSession().review, action)

    def metricsText(self) -> str:
        """The metrics panel as text."""
        from AISCommonLib.mrml import decisions

        panel = decisions.metrics(self._requireSession().review)

        def number(value, suffix=""):
            return "n/a" if value is None else f"{value:.3f}{suffix}"

        lines = [
            f"Dice {panel['dice']:.3f}  HD95 {number(panel['hd95Mm'], ' mm')}  ASSD {number(panel['assdMm'], ' mm')}",
            f"Volume A {panel['volumeAMl']:.2f} ml, B {panel['volumeBMl']:.2f} ml, final {panel['finalVolumeMl']:.2f} ml",
            f"Lesions A {panel['lesionsA']}, B {panel['lesionsB']}; lesion F1 {panel['lesionF1']:.2f}; missed {panel['missedLesions']}",
            f"Final vs A Dice {panel['finalDiceA']:.3f}, vs B {panel['finalDiceB']:.3f}",
        ]
        for side in ("a", "b"):
            for row in panel["lesionTable"][side]:
                lines.append(f"  {side.upper()}{row['id']}: {row['volume_ml']:.2f} ml, Dice {row['dice']:.2f}, matches {row['matched'] or '-'}")
        return "\n".join(lines)

    def historyText(self, session) -> str:
        """The reviewer's escalation reason and earlier notes (what an arbiter needs)."""
        rows = reviewqueue.escalationNotes(session.store, session.userId, session.caseId)
        return "\n\n".join(f"{row['action']} by {row['user']} ({row['time']}):\n{row['note']}" for row in rows)

    def finalise(self, note: str) -> dict:
        """Finalise the held case as its reviewer through the store (audit trail)."""
        session = self._requireSession()
        adjudicationState = session.review.adjudication
        strict = session.state == reviewqueue.states.REVIEW_ADJUDICATE
        decisionsForStore, default, editedMask = adjudicationState.storeDecisions(requireAll=strict)
        outcome = session.store.review(session.userId, session.caseId, decisionsForStore, default, adjudicationState.notesText(note),
                                       editedMask, session.revision)
        self.closeSession()
        return outcome

    def escalate(self, reason: str) -> dict:
        """Send the case to the arbiter; the reason and the region decisions so far go into the audit trail."""
        session = self._requireSession()
        reason = reviewqueue.requireNote(reason, "the escalation")
        outcome = session.store.escalate(session.userId, session.caseId, session.review.adjudication.notesText(reason), session.revision)
        self.closeSession()
        return outcome

    def exclude(self, reason: str, note: str) -> dict:
        session = self._requireSession()
        outcome = session.store.exclude(session.userId, session.caseId, reason, note, session.revision)
        self.closeSession()
        return outcome

    def arbitrate(self, ruling: str) -> dict:
        """The arbiter's final ruling; a ruling note is required."""
        session = self._requireSession()
        ruling = reviewqueue.requireNote(ruling, "the ruling")
        adjudicationState = session.review.adjudication
        decisionsForStore, default, editedMask = adjudicationState.storeDecisions(requireAll=not session.review.result.concordant)
        outcome = session.store.arbitrate(session.userId, session.caseId, decisionsForStore, default, adjudicationState.notesText(ruling),
                                          editedMask, session.revision)
        self.closeSession()
        return outcome

    @staticmethod
    def writeAcceptanceReport(datasetRoot, databaseUrl: str = "") -> pathlib.Path:
        """Write a new, timestamped acceptance report into ``derivatives/lesions/reports/``; return its path."""
        from AISCommonLib.report.report import writeReport

        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        out = pathlib.Path(datasetRoot) / "derivatives" / "lesions" / "reports" / f"acceptance-{stamp}.html"
        # Region pictures need an offscreen render window of their own; the app's views are not used here.
        return pathlib.Path(writeReport(datasetRoot, out, database=databaseUrl or None, snapshots=False)["html"])

    def datasetText(self, datasetRoot, databaseUrl: str, userId: str) -> str:
        """Status counts and per-reader agreement as text."""
        summary = reviewqueue.datasetSummary(self.openStore(datasetRoot, databaseUrl), userId)
        lines = [f"{summary['cases']} cases"] + [f"  {state}: {count}" for state, count in summary["states"].items() if count]
        if summary["meanDice"] is not None:
            lines.append(f"Mean inter-reader Dice {summary['meanDice']:.3f}")
        for reader, row in summary["readers"].items():
            lines.append(f"  {reader}: {row['cases']} compared, mean Dice {row['meanDice']:.3f} (min {row['minDice']:.3f}), "
                         f"{row['discordant']} discordant")
        return "\n".join(lines)

    def getParameterNode(self) -> AISReviewParameterNode:
        return AISReviewParameterNode(super().getParameterNode())

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
    """Compares synthetic reader masks written with SimpleITK through the Logic, and checks the .ui bindings."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_ParameterNameBindings()
        self.setUp()
        self.test_CompareShiftedReads()
        self.setUp()
        self.test_ReviewAndArbitrationFlow()

    def test_ParameterNameBindings(self):
        """Every SlicerParameterName of the .ui names a parameter node field, and each binding connects."""
        uiPath = os.path.join(os.path.dirname(slicer.util.modulePath("AISReview")), "Resources", "UI", "AISReview.ui")
        uifile.checkParameterBindings(self, uiPath, AISReviewLogic().getParameterNode(), {"minimumDice": ("minimumDiceSpinBox", 0.5)})

    @staticmethod
    def _writeMask(mask: np.ndarray, path: pathlib.Path) -> None:
        import SimpleITK as sitk

        itkImage = sitk.GetImageFromArray(mask.astype(np.uint8))
        itkImage.SetSpacing((1.0, 1.0, 2.0))
        itkImage.SetOrigin((-20.0, -20.0, -10.0))
        sitk.WriteImage(itkImage, str(path))

    def test_CompareShiftedReads(self):
        """A lesion drawn 2 voxels apart by the two readers, plus one lesion only reader B drew."""
        maskA = np.zeros((20, 40, 40), dtype=bool)
        maskA[5:15, 10:20, 10:20] = True
        maskB = np.zeros_like(maskA)
        maskB[5:15, 10:20, 12:22] = True
        maskB[5:8, 30:33, 30:33] = True

        with tempfile.TemporaryDirectory() as folder:
            logic = AISReviewLogic()
            parameterNode = logic.getParameterNode()
            parameterNode.readerAMaskPath = pathlib.Path(folder) / "sub-01_desc-R01_dwi_lesionmask.nii.gz"
            parameterNode.readerBMaskPath = pathlib.Path(folder) / "sub-01_desc-R02_dwi_lesionmask.nii.gz"
            self._writeMask(maskA, parameterNode.readerAMaskPath)
            self._writeMask(maskB, parameterNode.readerBMaskPath)
            result = logic.compare(parameterNode)

        shared = 10 * 10 * 8
        self.assertAlmostEqual(result.dice, 2 * shared / (1000 + 1027))
        self.assertEqual((result.lesionsA, result.lesionsB), (1, 2))
        self.assertEqual(result.missedLesions, 1)
        self.assertFalse(result.concordant)
        self.assertAlmostEqual(result.volumeAMl, 1000 * 2.0 / 1000.0)
        self.assertIn("DISCORDANT", AISReviewWidget._describe(result))
        self.delayDisplay("Test passed")

    def test_ReviewAndArbitrationFlow(self):
        """Two readers submit discordant reads of two cases; the reviewer decides case 1 region by region with an
        edit and finalises it, escalates case 2; the arbiter sees the reason and rules; the audit trail has it all."""
        lesion = np.zeros((20, 44, 40), dtype=bool)
        lesion[8:12, 16:22, 10:16] = True
        readA = lesion.copy()
        readA[8:11, 30:34, 26:30] = True  # only A
        readB = lesion.copy()
        readB[9:12, 15:22, 16:19] = True  # B draws the lesion larger
        with tempfile.TemporaryDirectory() as folder:
            root = pathlib.Path(folder)
            for subject in ("01", "02"):
                tinycases.writeSimpleCase(root, subject, "01")
            logic = AISReviewLogic()
            store = logic.openStore(root, create=True)
            tinycases.initialiseTeam(store, root)
            for reader, read in (("R01", readA), ("R02", readB)):
                while (claim := store.claimNext(reader, "reader")) is not None:
                    store.submitRead(reader, claim["case_id"], read)

            # The reviewer decides case 1 region by region, editing the extent region.
            session = logic.claimAndLoad(root, "", "V01", "reviewer")
            self.assertIsNotNone(session)
            logic.showCaseLayout(session)
            rows = logic.regionTable()
            self.assertEqual(len(rows), 2)
            self.assertEqual({row["kind"] for row in rows}, {"a_only", "b_only"})
            logic.jumpToRegion(rows[0]["regionId"])
            logic.decide(rows[0]["regionId"], reviewrule.DECISION_KEEP, "DWI-bright and ADC-dark")
            from AISCommonLib.mrml import decisions

            extentId = rows[1]["regionId"]
            logic.decide(extentId, reviewrule.DECISION_EDITED)
            edited = session.review.result.regionMap.toFullGrid(session.review.result.regionMap.labels == extentId)
            edited[11] = False
            decisions.setRegionSegmentMask(session.review, extentId, edited)
            logic.commitEdit(extentId)
            expected = decisions.finalMask(session.review).copy()
            self.assertIn("Final vs A", logic.metricsText())
            firstCase = session.caseId
            outcome = logic.finalise("Checked on DWI, ADC and FLAIR.")
            self.assertEqual(outcome["state"], "final")
            from AISCommonLib.core.image import loadVolume

            final = loadVolume(store.absolutePath(outcome["final_mask_path"]))
            self.assertTrue(np.array_equal(final.array != 0, expected))

            # Case 2 goes to the arbiter with a reason; the reviewer cannot escalate without one.
            session = logic.claimAndLoad(root, "", "V01", "reviewer")
            self.assertNotEqual(session.caseId, firstCase)
            with self.assertRaises(InputError):
                logic.escalate("  ")
            logic.wholeCase(reviewrule.START_READER_B)
            self.assertEqual(logic.escalate("Is the small A-only lesion real?")["state"], "arbitration")

            session = logic.claimAndLoad(root, "", "A01", "arbiter")
            self.assertIn("Is the small A-only lesion real?", logic.historyText(session))
            logic.wholeCase(reviewrule.START_UNION)
            with self.assertRaises(InputError):
                logic.arbitrate("")
            self.assertEqual(logic.arbitrate("Ruling: both lesions are acute infarcts.")["state"], "final")
            actions = [event["action"] for event in store.events("M01")]
            for action in ("submit", "review", "escalate", "arbitrate"):
                self.assertIn(action, actions)
            self.assertIn("2 cases", logic.datasetText(root, "", "M01"))
            report = logic.writeAcceptanceReport(root)
            self.assertTrue(report.is_file() and report.parent.name == "reports")
        self.delayDisplay("Review and arbitration flow passed")
