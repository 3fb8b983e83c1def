import contextlib
import dataclasses
import logging
import os
import pathlib
from typing import Annotated

import numpy as np
import qt
import slicer
import vtk
from slicer import vtkMRMLMarkupsFiducialNode, vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode
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
from AISAnnotatorLib import readerwork
from AISAnnotatorLib.gui import actions, activeclock, lists, messages, progress, readrecordpanels, selftests, shortcuts, training
from AISAnnotatorLib.gui.choices import AdcUnitChoice, AssistModeChoice, ReadingLayout, SeedModeChoice
from AISAnnotatorLib.mrml import notes, readingcase, readingviews
from AISCommonLib import connection, dependencies, reloading, uifile
from AISCommonLib.core import adcunits, cases, dwiassist, readrecord, seeding, sequences
from AISCommonLib.core.errors import OperationCancelled
from AISCommonLib.mrml import caseloader, crosshair, nodes, segmentation
from AISCommonLib.workflow import states

#: Sequences shown in the scene, in display order; keys of ``LoadedCase`` and ``Case.files``.
DISPLAYED_SEQUENCES = caseloader.SEQUENCE_ORDER
#: Seed defaults come from the library so the module and the ``ais seed`` command agree.
DEFAULT_SEED_PARAMETERS = seeding.SeedParameters()
DEFAULT_ASSIST_PARAMETERS = dwiassist.AssistParameters()
#: Effects offered for refinement on DWI, in this order (Segment Editor effect names).
REFINEMENT_EFFECTS = ["Paint", "Draw", "Erase", "Scissors", "Islands", "Smoothing"]
#: Singleton tag of the module's own Segment Editor parameter node (Segment Editor module keeps its own).
SEGMENT_EDITOR_NODE_TAG = "AISAnnotatorSegmentEditor"
#: Layout shortcuts on the main window while the module is shown (lesion keys: ``gui.actions``).
LAYOUT_KEYS = {"2x2": "Alt+1", "4x3": "Alt+2", "dwi-adc": "Alt+3"}

logger = logging.getLogger(__name__)


#
# AISAnnotator
#


class AISAnnotator(ScriptedLoadableModule):
    """Registers the module with Slicer: title, category, dependencies, help and acknowledgement."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("AIS Annotator")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Segmentation")]
        self.parent.dependencies = ["AISCommon", "Segmentations", "SegmentEditor", "Markups"]
        self.parent.contributors = list(AISCommonLib.CONTRIBUTORS)
        self.parent.helpText = messages.helpText()
        self.parent.acknowledgementText = messages.acknowledgementText()


#
# AISAnnotatorParameterNode
#


@parameterNodeWrapper
class AISAnnotatorParameterNode:
    """What the reader chose and what is on screen, saved with the scene.

    The workflow database is not here: a scene is shared and kept, a database URL may carry a password
    (``AISCommonLib.connection`` keeps it in the user's settings and the keyring).

    datasetRoot - BIDS dataset folder the cases come from.
    readerId - the reader's pseudonymous ID in the workflow.
    caseId - case whose images are loaded (empty when none).
    readingLayout - layout of the slice views.
    adcUnit - how the ADC file stores its values.
    adcThresholdMicro - seed threshold in 1e-6 mm^2/s (the consensus value is 620).
    seedMode - gated (threshold and clean-up steps) or plain (the threshold inside the brain, nothing else).
    dwiGateRobustZ - seed voxels must be this many robust SD above nearby normal DWI; 0 turns the gate off.
    minimumComponentMm3 - seed regions smaller than this are dropped.
    assistMode, assistRobustZ, assistSelectedLesionOnly - the DWI assist: grow/shrink, how bright, which lesion.
    dwiLikert, adcLikert, eadcLikert, flairLikert - image quality 1-5, 0 when not scored.
    motionArtifact, susceptibilityArtifact, deformationArtifact, signalInhomogeneityArtifact - screening flags.
    activeSeconds - active time on the case before the current period.
    dwiVolume, adcVolume, eadcVolume, flairVolume, t1wVolume, t2wVolume - the loaded case's images.
    lesionSegmentation - the reader's segmentation (lesion segment on the DWI grid).
    notesMarkups - the reader's notes on ambiguous regions.
    """

    datasetRoot: pathlib.Path
    readerId: str = ""
    caseId: str = ""
    readingLayout: ReadingLayout = ReadingLayout.AXIAL_2X2
    adcUnit: AdcUnitChoice = AdcUnitChoice.AUTO
    adcThresholdMicro: Annotated[float, WithinRange(1.0, 4999.0)] = round(DEFAULT_SEED_PARAMETERS.thresholdMm2PerS * 1e6, 6)
    dwiGateRobustZ: Annotated[float, WithinRange(0.0, 10.0)] = DEFAULT_SEED_PARAMETERS.dwiMinRobustZ
    minimumComponentMm3: Annotated[float, WithinRange(0.0, 10000.0)] = DEFAULT_SEED_PARAMETERS.minComponentMm3
    seedMode: SeedModeChoice = SeedModeChoice.GATED
    assistMode: AssistModeChoice = AssistModeChoice.GROW
    assistRobustZ: Annotated[float, WithinRange(0.5, 8.0)] = DEFAULT_ASSIST_PARAMETERS.dwiMinRobustZ
    assistSelectedLesionOnly: bool = False
    dwiLikert: Annotated[int, WithinRange(0, 5)] = 0
    adcLikert: Annotated[int, WithinRange(0, 5)] = 0
    eadcLikert: Annotated[int, WithinRange(0, 5)] = 0
    flairLikert: Annotated[int, WithinRange(0, 5)] = 0
    motionArtifact: bool = False
    susceptibilityArtifact: bool = False
    deformationArtifact: bool = False
    signalInhomogeneityArtifact: bool = False
    activeSeconds: float = 0.0
    dwiVolume: vtkMRMLScalarVolumeNode | None
    adcVolume: vtkMRMLScalarVolumeNode | None
    eadcVolume: vtkMRMLScalarVolumeNode | None
    flairVolume: vtkMRMLScalarVolumeNode | None
    t1wVolume: vtkMRMLScalarVolumeNode | None
    t2wVolume: vtkMRMLScalarVolumeNode | None
    lesionSegmentation: vtkMRMLSegmentationNode | None
    notesMarkups: vtkMRMLMarkupsFiducialNode | None


#
# AISAnnotatorWidget
#


class AISAnnotatorWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """Case, views, seed, refinement, hints, quality, notes and submission panels."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._cases = []
        self._hints = []
        self._shortcuts = None
        self._crosshairNode = None
        self._clock = None
        self._criteriaGrid = self._lesionPanel = self._trainingPanel = None

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)

        uiWidget = slicer.util.loadUI(self.resourcePath("UI/AISAnnotator.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)

        self.logic = AISAnnotatorLogic()
        self._setupSegmentEditor()
        uiWidget.setMRMLScene(slicer.mrmlScene)

        for reason in states.EXCLUSION_REASONS:
            self.ui.exclusionReasonComboBox.addItem(reason.replace("_", " "), reason)
        self.ui.hintsTableWidget.horizontalHeader().setStretchLastSection(True)
        self._criteriaGrid = readrecordpanels.QualityScoreGrid(self.ui.criteriaCollapsibleGroupBox.layout())
        self._lesionPanel = readrecordpanels.LesionAttributePanel(self.ui.lesionAttributesCollapsibleButton.layout(), lambda: crosshair.crosshairRas(slicer.mrmlScene))
        self._trainingPanel = training.TrainingPanel(self.layout, self.onShowTrainingReference)

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)

        self.ui.findCasesButton.connect("clicked(bool)", self.onFindCases)
        self.ui.nextCaseButton.connect("clicked(bool)", self.onNextCase)
        self.ui.loadCaseButton.connect("clicked(bool)", self.onLoadCase)
        self.ui.applySeedButton.connect("clicked(bool)", self.onApplySeed)
        self.ui.dropComponentButton.connect("clicked(bool)", self.onDropComponent)
        self.ui.seedComponentsTableWidget.connect("itemSelectionChanged()", self.onSeedComponentSelected)
        self.ui.assistPreviewButton.connect("clicked(bool)", self.onAssistPreview)
        self.ui.assistApplyButton.connect("clicked(bool)", self.onAssistApply)
        self.ui.assistClearButton.connect("clicked(bool)", self.onAssistClear)
        self.ui.assistBrightnessSliderWidget.connect("valueChanged(double)", self.onAssistSliderMoved)
        self.ui.nextLesionButton.connect("clicked(bool)", self.onNextLesion)
        self.ui.previousLesionButton.connect("clicked(bool)", self.onPreviousLesion)
        self.ui.checkHintsButton.connect("clicked(bool)", self.onCheckHints)
        self.ui.excludeButton.connect("clicked(bool)", self.onExclude)
        self.ui.addNoteButton.connect("clicked(bool)", self.onAddNote)
        self.ui.removeNoteButton.connect("clicked(bool)", self.onRemoveNote)
        self.ui.submitButton.connect("clicked(bool)", self.onSubmit)
        self.ui.startFromPredictionButton.connect("clicked(bool)", self.onStartFromPrediction)
        self.ui.predictionPathLineEdit.connect("currentPathChanged(QString)", self._updateActions)
        self.ui.caseListWidget.connect("currentRowChanged(int)", self._updateActions)
        self.ui.caseListWidget.connect("itemDoubleClicked(QListWidgetItem*)", self.onLoadCase)
        self.ui.databaseUrlLineEdit.connect("editingFinished()", self.onDatabaseEdited)
        self.ui.databaseUrlLineEdit.text = self.logic.database.url()
        self.ui.hintsTableWidget.connect("itemSelectionChanged()", self.onHintSelected)
        self.ui.notesListWidget.connect("currentRowChanged(int)", self.onNoteSelected)
        self.ui.noteTextLineEdit.connect("textChanged(QString)", self._updateActions)
        self.ui.exclusionNoteLineEdit.connect("textChanged(QString)", self._updateActions)
        self.ui.exclusionReasonComboBox.connect("currentIndexChanged(int)", self._updateActions)

        bindings = [(actions.NEXT_LESION_KEY, self.onNextLesion), (actions.PREVIOUS_LESION_KEY, self.onPreviousLesion)]
        bindings += [(LAYOUT_KEYS[layout.value], lambda layout=layout: self._chooseLayout(layout)) for layout in ReadingLayout]
        self._shortcuts = shortcuts.Shortcuts(bindings)
        self._clock = activeclock.ActiveClock(self.ui.activeTimeLabel)

        self.initializeParameterNode()

    def _setupSegmentEditor(self) -> None:
        """The embedded editor edits only the reader's lesion segment, with DWI as source volume."""
        editor = self.ui.segmentEditorWidget
        editor.setMaximumNumberOfUndoStates(10)
        editor.setMRMLSegmentEditorNode(self.logic.segmentEditorNode())
        editor.setEffectNameOrder(REFINEMENT_EFFECTS)
        editor.unorderedEffectsVisible = False
        # Each reading view keeps its own sequence: the editor must not put DWI into every view.
        editor.setAutoShowSourceVolumeNode(False)
        editor.setSegmentationNodeSelectorVisible(False)
        editor.setSourceVolumeNodeSelectorVisible(False)
        editor.setSwitchToSegmentationsButtonVisible(False)
        editor.setAddRemoveSegmentButtonsVisible(False)

    def cleanup(self) -> None:
        self._stopActiveTime()
        self.removeObservers()
        self._shortcuts.remove()
        self.logic.closeStore()

    def enter(self) -> None:
        self.initializeParameterNode()
        self.ui.segmentEditorWidget.setMRMLSegmentEditorNode(self.logic.segmentEditorNode())
        self.ui.segmentEditorWidget.installKeyboardShortcuts()
        self.ui.segmentEditorWidget.setupViewObservations()
        self._shortcuts.setEnabled(True)
        self._observeCrosshair(True)
        self._startActiveTime()

    def exit(self) -> None:
        self._stopActiveTime()
        self._observeCrosshair(False)
        self._shortcuts.setEnabled(False)
        self.ui.segmentEditorWidget.setActiveEffect(None)
        self.ui.segmentEditorWidget.uninstallKeyboardShortcuts()
        self.ui.segmentEditorWidget.removeViewObservations()
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)

    def onSceneStartClose(self, caller, event) -> None:
        self._stopActiveTime()
        self._observeCrosshair(False)
        # The scene close cannot be refused from here: keep an unsubmitted mask as a draft file.
        try:
            if self._parameterNode and self.logic.hasUnsavedEdits(self._parameterNode):
                path = self.logic.writeDraft(self._parameterNode)
                self.ui.statusLabel.text = _("The scene was closed with an unsubmitted mask; it was kept as a draft in {path}.").format(path=path)
                logger.warning("Unsubmitted lesion mask of %s kept as a draft in %s", self._parameterNode.caseId, path)
        except Exception:
            logger.exception("The unsubmitted lesion mask could not be kept as a draft")
        self.ui.segmentEditorWidget.setSegmentationNode(None)
        self.ui.segmentEditorWidget.removeViewObservations()
        self.setParameterNode(None)
        self.logic.forgetLoadedCase()
        self._showHints([])
        self.ui.notesListWidget.clear()

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()
            self.ui.segmentEditorWidget.setMRMLSegmentEditorNode(self.logic.segmentEditorNode())
            self.ui.segmentEditorWidget.setupViewObservations()
            self._observeCrosshair(True)

    def onReload(self) -> None:
        """Reload the library too: Slicer's Reload re-runs only this file."""
        reloading.reloadPackage("AISCommonLib")
        reloading.reloadPackage("AISAnnotatorLib")
        ScriptedLoadableModuleWidget.onReload(self)

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())

    def setParameterNode(self, inputParameterNode: AISAnnotatorParameterNode | None) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)
        self._updateActions()

    def _onParameterNodeModified(self, caller=None, event=None) -> None:
        """The layout follows the parameter node (after its GUI connector stored the choice), then the actions."""
        if self._caseLoaded() and self.logic.layoutFollower.changed(self._parameterNode.readingLayout.value):
            with slicer.util.tryWithErrorDisplay(_("Could not show the reading layout."), waitCursor=True):
                self.logic.showLayout(self._parameterNode)
        self._updateActions()

    # ------------------------------------------------------------------------------------------
    # Enabled state, status, timers

    def _selectedCase(self):
        row = self.ui.caseListWidget.currentRow
        return self._cases[row] if 0 <= row < len(self._cases) else None

    def _caseLoaded(self) -> bool:
        node = self._parameterNode
        return bool(node and node.dwiVolume and node.caseId and self.logic.loadedCaseId() == node.caseId)

    @contextlib.contextmanager
    def _action(self, failureMessage: str):
        """Run a slot's work with Slicer's error dialog and wait cursor; refresh the actions whatever happens."""
        try:
            with slicer.util.tryWithErrorDisplay(failureMessage, waitCursor=True):
                yield
        finally:
            self._updateActions()

    def _updateActions(self, *unused) -> None:
        """Enable each action only when it can run, and say why in its tooltip when it cannot."""
        actions.updateActions(self.ui, self._parameterNode, self.logic, self._selectedCase(), self._caseLoaded())
        self._showThresholdInFileUnit()

    def _showThresholdInFileUnit(self) -> None:
        text = self.logic.thresholdInFileUnit(self._parameterNode) if self._parameterNode else ""
        self.ui.thresholdInFileUnitLabel.text = text or _("load a case to see the detected unit")

    def _setStatus(self, text: str) -> None:
        self.ui.statusLabel.text = text
        slicer.app.processEvents()

    def _startActiveTime(self) -> None:
        """Time on task counts while the module is shown (callers run only then) and a case is loaded."""
        if self._caseLoaded():
            self._clock.start()
        self._clock.show()

    def _stopActiveTime(self) -> None:
        if self._clock is None:
            return
        self._clock.stop()
        if self._parameterNode and self._parameterNode.caseId:
            self._parameterNode.activeSeconds = self._clock.seconds

    def _observeCrosshair(self, observe: bool) -> None:
        """Follow the cursor for the probe line while the module is shown."""
        if self._crosshairNode is not None:
            self.removeObserver(self._crosshairNode, slicer.vtkMRMLCrosshairNode.CursorPositionModifiedEvent, self.onCursorMoved)
            self._crosshairNode = None
        if observe:
            self._crosshairNode = crosshair.crosshairNode(slicer.mrmlScene)
            if self._crosshairNode is not None:
                self.addObserver(self._crosshairNode, slicer.vtkMRMLCrosshairNode.CursorPositionModifiedEvent, self.onCursorMoved)

    def onCursorMoved(self, caller, event) -> None:
        """Values of every sequence at the cursor (runs on every mouse move: no dialogs, no scene changes)."""
        ras = [0.0, 0.0, 0.0]
        if not self._caseLoaded() or not caller.GetCursorPositionRAS(ras):
            return
        self.ui.probeLabel.text = self.logic.statusLine(ras)

    # ------------------------------------------------------------------------------------------
    # Case panel

    def _confirmLeavingCase(self, newCase: str) -> bool:
        """Ask before a case with an unsubmitted mask leaves the scene; True when it may go."""
        node = self._parameterNode
        if not node or not node.caseId or not self.logic.hasUnsavedEdits(node):
            return True
        return slicer.util.confirmYesNoDisplay(
            _("The lesion mask of {oldCase} has changes that were not submitted. Loading {newCase} removes it from the scene "
              "(a draft copy is kept in the temporary folder). Continue?").format(oldCase=node.caseId, newCase=newCase)
        )

    def onDatabaseEdited(self) -> None:
        """Remember the database in the user's settings; a password in the URL goes to the keyring, out of the field."""
        with self._action(_("Could not keep the database choice.")):
            self._setStatus(self.logic.rememberDatabase(self.ui.databaseUrlLineEdit.text))
            self.ui.databaseUrlLineEdit.text = self.logic.database.url()

    def onFindCases(self) -> None:
        """List the cases of the chosen dataset, marking what each one lacks."""
        # A failed search must not leave the previous dataset's cases selectable.
        self.ui.caseListWidget.clear()
        self._cases = []
        with self._action(_("Could not list the cases of the dataset.")):
            self._cases = self.logic.findCases(self._parameterNode.datasetRoot)
            lists.fillCaseList(self.ui.caseListWidget, self._cases)
            self._setStatus(_("{count} cases found.").format(count=len(self._cases)))

    def onNextCase(self) -> None:
        """Claim the reader's next case in the workflow (or resume the held one) and load it."""
        with self._action(_("Could not take the next case.")):
            self.logic.ensureWorkflowPackages()
            claim, case = self.logic.claimNextCase(self._parameterNode)
            if claim is None:
                self._setStatus(_("No case is waiting for reader {reader}.").format(reader=self._parameterNode.readerId))
                return
            if case.caseId != self._parameterNode.caseId or not self._caseLoaded():
                if not self._confirmLeavingCase(case.caseId):
                    self._setStatus(_("{caseId} is assigned to you; it was not loaded.").format(caseId=case.caseId))
                    return
                self._loadCase(case)
            how = _("resumed") if claim.get("resumed") else _("assigned")
            self._setStatus(_("{caseId} {how} (read slot {slot}).").format(caseId=case.caseId, how=how, slot=claim["slot_index"])
                            + "\n" + self.ui.statusLabel.text)

    def onLoadCase(self, *unused) -> None:
        """Load the case selected in the list (to look at it; only assigned cases can be submitted)."""
        case = self._selectedCase()
        if case is None or not self.ui.loadCaseButton.enabled or not self._confirmLeavingCase(case.caseId):
            return
        with self._action(_("Could not load the case.")):
            self.logic.ensureNiftiPackages()
            self._loadCase(case)

    def _loadCase(self, case) -> None:
        self._stopActiveTime()
        self._setStatus(_("Loading {caseId}...").format(caseId=case.caseId))
        try:
            loaded = self.logic.loadCase(case, self._parameterNode)
        except Exception:
            self._setStatus(_("Loading {caseId} failed.").format(caseId=case.caseId))
            raise
        self._clock.reset(0.0)
        self._showHints([])
        self.ui.seedComponentsTableWidget.setRowCount(0)
        self._criteriaGrid.setSequences(case.files)
        self._lesionPanel.clear()
        claim = self.logic.claim
        self._trainingPanel.setInTraining(bool(claim and claim.get("training")),
                                          _("{caseId} is a trial case: after you submit, your read is scored against the reference.").format(caseId=case.caseId))
        self._showNotes()
        self._selectInEditor()
        self._setStatus(messages.describeLoadedCase(loaded))
        self._startActiveTime()

    def _selectInEditor(self) -> None:
        node = self._parameterNode
        editor = self.ui.segmentEditorWidget
        editor.setSegmentationNode(node.lesionSegmentation)
        editor.setSourceVolumeNode(node.dwiVolume)
        editor.setCurrentSegmentID(segmentation.LESION_SEGMENT_ID)

    # ------------------------------------------------------------------------------------------
    # Views

    def _chooseLayout(self, layout: ReadingLayout) -> None:
        if self._parameterNode:
            self._parameterNode.readingLayout = layout

    def onNextLesion(self) -> None:
        if self._caseLoaded():
            with slicer.util.tryWithErrorDisplay(_("Could not jump to the next lesion."), waitCursor=True):
                self._stepLesion(1)

    def onPreviousLesion(self) -> None:
        if self._caseLoaded():
            with slicer.util.tryWithErrorDisplay(_("Could not jump to the previous lesion."), waitCursor=True):
                self._stepLesion(-1)

    def _stepLesion(self, direction: int) -> None:
        region, count = self.logic.stepLesion(self._parameterNode, direction)
        self._setStatus(_("The lesion segment is empty.") if region is None else _("Lesion {index} of {count}: {volumeMl:.2f} ml.").format(
            index=region.regionId, count=count, volumeMl=region.volumeMl))

    # ------------------------------------------------------------------------------------------
    # Seed

    def onApplySeed(self) -> None:
        """Make or replace the lesion segment with the ADC-threshold seed (undoable in the editor)."""
        if self.logic.lesionHasVoxels(self._parameterNode) and not slicer.util.confirmYesNoDisplay(
            _("Replace the lesion segment of {caseId} with a new seed? You can go back with Undo in the editor (Z).").format(
                caseId=self._parameterNode.caseId
            )
        ):
            return
        conflict = self.logic.unitConflict(self._parameterNode)
        if conflict and not slicer.util.confirmYesNoDisplay(_("{conflict} Seed with this unit anyway?").format(conflict=conflict)):
            return
        progressDialog = None
        try:
            with slicer.util.tryWithErrorDisplay(_("Could not compute the seed."), waitCursor=True):
                self._selectInEditor()
                # The editor's segmentation history restores the segment as it was before the seed.
                self.ui.segmentEditorWidget.saveStateForUndo()
                progressDialog = slicer.util.createProgressDialog(windowTitle=_("Seeding"), labelText=_("Seeding..."), maximum=100)
                try:
                    result = self.logic.seed(self._parameterNode, progress=progress.progressReporter(progressDialog), force=bool(conflict))
                except OperationCancelled:
                    self._setStatus(_("Seeding cancelled; the lesion segment is unchanged."))
                    return
                self._setStatus(messages.describeSeed(result.summary))
                lists.fillSeedComponentsTable(self.ui.seedComponentsTableWidget, result.summary["componentTable"])
        finally:
            if progressDialog:
                progressDialog.close()
            self._updateActions()

    def _selectedSeedComponent(self):
        row = self.ui.seedComponentsTableWidget.currentRow()
        table = (self.logic.reading.seedSummary or {}).get("componentTable", []) if self.logic.reading else []
        return table[row] if 0 <= row < len(table) else None

    def onSeedComponentSelected(self) -> None:
        component = self._selectedSeedComponent()
        if component is not None:
            with self._action(_("Could not jump to the region.")):
                self.logic.jumpTo(component["centroidRas"])

    def onDropComponent(self) -> None:
        """Erase the selected seed region from the lesion segment (undoable in the editor)."""
        component = self._selectedSeedComponent()
        if component is None:
            return
        with self._action(_("Could not drop the region.")):
            self._selectInEditor()
            self.ui.segmentEditorWidget.saveStateForUndo()
            removed = self.logic.dropSeedComponent(self._parameterNode, component["id"])
            self._setStatus(_("Region {id} dropped ({voxels} voxels); Undo in the editor brings it back.").format(id=component["id"], voxels=removed))

    # ------------------------------------------------------------------------------------------
    # DWI assist

    def onAssistPreview(self) -> None:
        """Show what the DWI assist would add (cyan); the lesion segment is unchanged until Apply."""
        with self._action(_("Could not compute the DWI assist.")):
            result = self.logic.assistPreview(self._parameterNode)
            self._setStatus(messages.describeAssist(result.summary))

    def onAssistSliderMoved(self, value: float) -> None:
        """Follow the slider while a preview is shown."""
        if self.logic.assistResult is not None and self._caseLoaded():
            self.onAssistPreview()

    def onAssistApply(self) -> None:
        """Put the previewed change into the lesion segment (undoable in the editor)."""
        with self._action(_("Could not apply the DWI assist.")):
            self._selectInEditor()
            self.ui.segmentEditorWidget.saveStateForUndo()
            self.logic.applyAssist(self._parameterNode)
            self._setStatus(_("DWI assist applied; Undo in the editor takes it back."))

    def onAssistClear(self) -> None:
        with self._action(_("Could not clear the preview.")):
            self.logic.clearAssistPreview(self._parameterNode)

    # ------------------------------------------------------------------------------------------
    # Hints

    def onCheckHints(self) -> None:
        """List the hints on the current mask; they warn and never block."""
        with self._action(_("Could not check the mask.")):
            found = self.logic.hints(self._parameterNode)
            self._showHints(found)
            self._setStatus(_("{count} hints on the mask.").format(count=len(found)) if found else _("No hint: the mask looks like an acute infarct."))

    def _showHints(self, found: list) -> None:
        self._hints = list(found)
        lists.fillHintsTable(self.ui.hintsTableWidget, self._hints)

    def onHintSelected(self) -> None:
        row = self.ui.hintsTableWidget.currentRow()
        if 0 <= row < len(self._hints):
            with slicer.util.tryWithErrorDisplay(_("Could not jump to the region."), waitCursor=True):
                self.logic.jumpTo(self._hints[row].region.centroidRas)

    # ------------------------------------------------------------------------------------------
    # Notes

    def _showNotes(self) -> None:
        self.ui.notesListWidget.clear()
        for note in self.logic.notes(self._parameterNode):
            self.ui.notesListWidget.addItem(f"{note.label}: {note.text}")

    def onAddNote(self) -> None:
        """Put the typed note at the crosshair."""
        with self._action(_("Could not add the note.")):
            self.logic.addNote(self._parameterNode, self.ui.noteTextLineEdit.text.strip())
            self.ui.noteTextLineEdit.text = ""
            self._showNotes()

    def onRemoveNote(self) -> None:
        row = self.ui.notesListWidget.currentRow
        if row < 0 or not slicer.util.confirmYesNoDisplay(_("Remove the selected note?")):
            return
        with self._action(_("Could not remove the note.")):
            self.logic.removeNote(self._parameterNode, row)
            self._showNotes()

    def onNoteSelected(self, row: int) -> None:
        notes = self.logic.notes(self._parameterNode) if self._caseLoaded() else []
        if 0 <= row < len(notes):
            with slicer.util.tryWithErrorDisplay(_("Could not jump to the note."), waitCursor=True):
                self.logic.jumpTo(notes[row].ras)
        self._updateActions()

    # ------------------------------------------------------------------------------------------
    # Quality, exclusion, submission

    def onExclude(self) -> None:
        """Take the assigned case out of the workflow with a structured reason, after confirmation."""
        reason = self.ui.exclusionReasonComboBox.currentData
        note = self.ui.exclusionNoteLineEdit.text.strip()
        caseId = self._parameterNode.caseId
        if not slicer.util.confirmYesNoDisplay(
            _("Exclude {caseId} from the workflow for '{reason}'? Your unsubmitted mask of this case is not recorded.").format(caseId=caseId, reason=reason)
        ):
            return
        with self._action(_("Could not exclude the case.")):
            result = self.logic.exclude(self._parameterNode, reason, note)
            self.ui.exclusionNoteLineEdit.text = ""
            self._setStatus(_("{caseId} excluded ({reason}). Press Next case for your next assignment.").format(caseId=result["case_id"], reason=reason))

    def onStartFromPrediction(self) -> None:
        """Make (or replace) the lesion segment from an AI prediction file instead of the seed (undoable in the editor)."""
        path = self.ui.predictionPathLineEdit.currentPath
        if self.logic.lesionHasVoxels(self._parameterNode) and not slicer.util.confirmYesNoDisplay(
                _("Replace the lesion segment of {caseId} with the prediction? Undo in the editor (Z) goes back.").format(caseId=self._parameterNode.caseId)):
            return
        with self._action(_("Could not start from the prediction.")):
            self._selectInEditor()
            self.ui.segmentEditorWidget.saveStateForUndo()
            start = self.logic.startFromPrediction(self._parameterNode, path)
            self._setStatus(messages.describePrediction(start.summary))

    def onShowTrainingReference(self, caseId: str) -> None:
        """Show a trial case's reference over the reader's submitted read."""
        with self._action(_("Could not show the reference.")):
            voxels = self.logic.showTrainingReference(self._parameterNode, caseId)
            self._setStatus(_("The reference of {caseId} is shown in its own segment ({voxels} voxels).").format(caseId=caseId, voxels=voxels))

    def onSubmit(self) -> None:
        """Submit the mask with scores, notes and active time through the workflow store."""
        node = self._parameterNode
        low = readrecord.lowQualitySequences(self.logic.likertScores(node, self._criteriaGrid.scores()))
        if low and not slicer.util.confirmYesNoDisplay(
            _("You scored {sequences} below 3; the consensus excludes such data. Submit the read anyway (otherwise exclude the case)?").format(
                sequences=", ".join(key.upper() for key in low))
        ):
            return
        self._stopActiveTime()
        try:
            with slicer.util.tryWithErrorDisplay(_("Could not submit the read."), waitCursor=True):
                self._setStatus(_("Checking and submitting {caseId}...").format(caseId=node.caseId))
                # Hints are recomputed on the submitted mask and kept with it; they never block.
                found = self.logic.hints(node)
                self._showHints(found)
                result = self.logic.submit(node, self._clock.seconds, found, self._criteriaGrid.scores(), self._lesionPanel.attributes())
                self._setStatus(
                    _("Read of {caseId} submitted as {reader} ({path}); case state: {state}. {hintCount} hints recorded.").format(
                        caseId=result["case_id"], reader=node.readerId, path=result["mask_path"], state=result["state"], hintCount=len(found))
                )
                if "score" in result:
                    self._trainingPanel.showFeedback(self.logic.trialFeedback(node, result))
        finally:
            self._startActiveTime()
            self._updateActions()


#
# AISAnnotatorLogic
#


class AISAnnotatorLogic(ScriptedLoadableModuleLogic, connection.WorkflowConnectionMixin):
    """Adapter between the parameter node, the application and the libraries.

    Holds what is not saved with the scene: the case on screen (:class:`ReadingCase`), the views that show it,
    the reader's connection to the workflow (:class:`ReaderWork`) and the database choice (user settings).

    :param databaseSettings: where the database choice is kept (the user's QSettings by default).
    """

    def __init__(self, databaseSettings=None) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        self.reading = None
        self.assistResult = None
        self.work = readerwork.ReaderWork()
        self.database = databaseSettings or connection.DatabaseSettings(qt.QSettings())
        self.installer = dependencies.slicerInstaller("AISAnnotator")
        self.views = readingviews.ReadingViews()
        self.layoutFollower = readingviews.LayoutFollower()

    def getParameterNode(self) -> AISAnnotatorParameterNode:
        return AISAnnotatorParameterNode(super().getParameterNode())

    @property
    def loadedCase(self):
        """The library's ``LoadedCase`` on screen, or None."""
        return self.reading.loaded if self.reading else None

    def loadedCaseId(self) -> str:
        """Case ID of the loaded case ("" when none)."""
        return self.reading.caseId if self.reading else ""

    def forgetLoadedCase(self) -> None:
        self.reading = None
        self.assistResult = None
        self.layoutFollower.shown(None)

    def segmentEditorNode(self):
        """The module's Segment Editor parameter node (a scene singleton, created when missing)."""
        return segmentation.segmentEditorNode(slicer.mrmlScene, SEGMENT_EDITOR_NODE_TAG)

    # Workflow ---------------------------------------------------------------------------------

    @property
    def claim(self):
        """The reader's current claim (``case_id``, ``revision``, ``reader`` ...), or None."""
        return self.work.claim

    def _databaseChoice(self, parameterNode: AISAnnotatorParameterNode):
        root = str(parameterNode.datasetRoot)
        return self.database.connectionUrl(), root if root not in ("", ".") else None

    def openStore(self, parameterNode: AISAnnotatorParameterNode):
        """The workflow store of the chosen database (or the dataset's own), reopened when the choice changed."""
        return self.work.open(*self._databaseChoice(parameterNode))

    def closeStore(self) -> None:
        self.work.close()

    def claimNextCase(self, parameterNode: AISAnnotatorParameterNode):
        """Claim (or resume) the reader's next read slot; :return: ``(claim, Case)`` or ``(None, None)``."""
        return self.work.claimNext(parameterNode.readerId.strip(), *self._databaseChoice(parameterNode))

    def exclude(self, parameterNode: AISAnnotatorParameterNode, reason: str, note: str) -> dict:
        """Exclude the claimed case with a structured reason (``states.EXCLUSION_REASONS``)."""
        return self.work.exclude(parameterNode.caseId, reason, note)

    def submit(self, parameterNode: AISAnnotatorParameterNode, activeSeconds: float, shownHints: list, criterionScores=None,
               lesionAttributes=()) -> dict:
        """Submit the lesion mask (DWI grid) and the read record as the claiming reader.

        :param criterionScores: scores per sequence and criterion (``{sequence: {criterion: 0-5}}``) beside the
            per-sequence scores of the parameter node; see :func:`~AISCommonLib.core.readrecord.combineLikert`.
        :param lesionAttributes: :class:`~AISCommonLib.core.lesionattributes.LesionAttributes` given at places.
        :return: the store's submission record (``case_id``, ``read_id``, ``mask_path``, ``state``...; a trial read adds ``score``).
        :raises InputError: a required score is missing, or an attribute lies in no lesion; nothing is submitted.
        """
        reading = self._requireReading(parameterNode)
        mask = reading.lesionMask()
        result = self.work.submit(parameterNode.caseId, mask, self.likertScores(parameterNode, criterionScores), self.artifactFlags(parameterNode),
                                  self.notes(parameterNode), activeSeconds, reading.seedSummary, shownHints,
                                  reading.lesionAttributeRecords(list(lesionAttributes)))
        reading.markSubmitted(mask)
        return result

    def likertScores(self, parameterNode: AISAnnotatorParameterNode, criterionScores=None) -> dict:
        """The reader's score sheet: the per-sequence boxes, with any criterion scored on its own winning."""
        sequenceLevel = {key: getattr(parameterNode, f"{key}Likert") for key in readrecord.LIKERT_SEQUENCES}
        return readrecord.combineLikert(sequenceLevel, criterionScores or {})

    def trialFeedback(self, parameterNode: AISAnnotatorParameterNode, submission: dict):
        return self.work.trialFeedback(parameterNode.readerId.strip(), submission, *self._databaseChoice(parameterNode))

    def showTrainingReference(self, parameterNode: AISAnnotatorParameterNode, caseId: str) -> int:
        """Show the reference of a trial case the reader submitted over their read; :return: its voxel count."""
        path = self.work.trialReference(parameterNode.readerId.strip(), caseId, *self._databaseChoice(parameterNode))
        return self._requireReading(parameterNode).showTrainingReference(path)

    def startFromPrediction(self, parameterNode: AISAnnotatorParameterNode, path: str):
        """Make the lesion segment from an AI prediction on the DWI grid (see ``ReadingCase.startFromPrediction``)."""
        return self._requireReading(parameterNode).startFromPrediction(path)

    def artifactFlags(self, parameterNode: AISAnnotatorParameterNode) -> dict:
        return {
            "motion": parameterNode.motionArtifact,
            "susceptibility": parameterNode.susceptibilityArtifact,
            "deformation": parameterNode.deformationArtifact,
            "signal_inhomogeneity": parameterNode.signalInhomogeneityArtifact,
        }

    # Case -------------------------------------------------------------------------------------

    def loadCase(self, case, parameterNode: AISAnnotatorParameterNode):
        """Read a case with the library, put it in the scene with an empty reader segmentation and notes, show the layout.

        :raises AISError: the library refuses the case (missing DWI/ADC, grid mismatch, unknown ADC unit).
        """
        loaded = sequences.loadCase(case, parameterNode.adcUnit.unitKey)
        self.removeCaseNodes(parameterNode)
        reading = readingcase.ReadingCase.addToScene(slicer.mrmlScene, loaded)
        with slicer.util.NodeModify(parameterNode):
            parameterNode.caseId = case.caseId
            for key in DISPLAYED_SEQUENCES:
                setattr(parameterNode, f"{key}Volume", reading.caseNodes.volumeNodes.get(key))
            parameterNode.lesionSegmentation = reading.segmentationNode
            parameterNode.notesMarkups = reading.notesNode
            parameterNode.activeSeconds = 0.0
            for key in readrecord.LIKERT_SEQUENCES:
                setattr(parameterNode, f"{key}Likert", 0)
            for name in ("motionArtifact", "susceptibilityArtifact", "deformationArtifact", "signalInhomogeneityArtifact"):
                setattr(parameterNode, name, False)
        self.reading = reading
        self.showLayout(parameterNode)
        return loaded

    def findCases(self, datasetRoot) -> list:
        """Cases of a BIDS dataset (see ``AISCommonLib.core.cases.discoverCases``)."""
        return cases.discoverCases(datasetRoot)

    def showLayout(self, parameterNode: AISAnnotatorParameterNode) -> bool:
        """Show the chosen reading layout: one sequence per view, mask filled on DWI and outlined elsewhere.

        Views are fitted to the DWI only the first time they show the case (``readingviews``).
        :return: True when views were fitted.
        """
        layoutManager = slicer.app.layoutManager()
        if layoutManager is None or self.reading is None:
            return False
        name = parameterNode.readingLayout.value
        self.layoutFollower.shown(name)
        # The layout manager creates the views and their slice logics when the layout node changes.
        return self.views.showLayout(slicer.app.applicationLogic(), layoutManager.layoutLogic().GetLayoutNode(), name, self.reading,
                                     slicer.app.processEvents)

    def removeCaseNodes(self, parameterNode: AISAnnotatorParameterNode) -> None:
        """Remove the images, the lesion segmentation and the notes of the case on screen (with their display nodes)."""
        with slicer.util.NodeModify(parameterNode):
            for name in [f"{key}Volume" for key in DISPLAYED_SEQUENCES] + ["lesionSegmentation", "notesMarkups"]:
                node = getattr(parameterNode, name)
                if node:
                    setattr(parameterNode, name, None)
                    nodes.removeNodes(slicer.mrmlScene, [node])
            parameterNode.caseId = ""
        self.forgetLoadedCase()

    def thresholdInFileUnit(self, parameterNode: AISAnnotatorParameterNode) -> str:
        """The seed threshold in the ADC file's unit (the chosen unit, else the one detected at loading); "" when unknown."""
        unitKey = parameterNode.adcUnit.unitKey
        unit = adcunits.UNITS[unitKey] if unitKey else (self.reading.caseNodes.adcUnit if self.reading else None)
        if unit is None:
            return ""
        return unit.format(parameterNode.adcThresholdMicro * 1e-6)

    # Mask -------------------------------------------------------------------------------------

    def _requireReading(self, parameterNode: AISAnnotatorParameterNode):
        if self.reading is None or self.reading.caseId != parameterNode.caseId:
            raise RuntimeError(_("No case is loaded; load a case first."))
        return self.reading

    def lesionMask(self, parameterNode: AISAnnotatorParameterNode) -> np.ndarray:
        """The lesion segment as bool ``[k, j, i]`` on the DWI grid."""
        return self._requireReading(parameterNode).lesionMask()

    def lesionHasVoxels(self, parameterNode: AISAnnotatorParameterNode) -> bool:
        """True when the lesion segment exists and is not empty (re-seeding would replace it)."""
        return self.reading is not None and bool(self.lesionMask(parameterNode).any())

    def hasUnsavedEdits(self, parameterNode: AISAnnotatorParameterNode) -> bool:
        """True when the lesion mask differs from what was last submitted (an empty mask counts as saved)."""
        return self.reading is not None and self.reading.hasUnsavedEdits()

    def writeDraft(self, parameterNode: AISAnnotatorParameterNode) -> pathlib.Path:
        """Keep the current mask as a NIfTI draft in Slicer's temporary folder; :return: its path."""
        folder = pathlib.Path(slicer.app.temporaryPath) / "AISAnnotator-drafts"
        return self._requireReading(parameterNode).writeDraft(folder, parameterNode.readerId.strip())

    def unitConflict(self, parameterNode: AISAnnotatorParameterNode) -> str:
        """Why the chosen ADC unit contradicts the data ("" when it does not)."""
        return self._requireReading(parameterNode).unitConflict(parameterNode.adcUnit.unitKey)

    def seed(self, parameterNode: AISAnnotatorParameterNode, progress=None, force: bool = False):
        """Compute the ADC-threshold seed of the loaded case and make (or replace) the lesion segment with it.

        :param progress: optional ``(fraction, message)`` callable; it may raise ``OperationCancelled``.
        :return: the library's ``SeedResult`` (mask on the DWI grid and summary).
        """
        parameters = dataclasses.replace(
            DEFAULT_SEED_PARAMETERS,
            thresholdMm2PerS=parameterNode.adcThresholdMicro * 1e-6,
            mode=parameterNode.seedMode.value,
            dwiMinRobustZ=parameterNode.dwiGateRobustZ,
            minComponentMm3=parameterNode.minimumComponentMm3,
        )
        return self._requireReading(parameterNode).seed(parameters, parameterNode.adcUnit.unitKey, progress, force)

    def dropSeedComponent(self, parameterNode: AISAnnotatorParameterNode, componentId: int) -> int:
        """Erase one region of the last seed from the lesion segment; :return: voxels removed."""
        return self._requireReading(parameterNode).dropSeedComponent(componentId)

    def assistPreview(self, parameterNode: AISAnnotatorParameterNode):
        """Compute the DWI assist on the current mask and show what it would add; :return: the library's ``AssistResult``."""
        reading = self._requireReading(parameterNode)
        parameters = dataclasses.replace(DEFAULT_ASSIST_PARAMETERS, mode=parameterNode.assistMode.value, dwiMinRobustZ=parameterNode.assistRobustZ)
        atRas = crosshair.crosshairRas(slicer.mrmlScene) if parameterNode.assistSelectedLesionOnly else None
        if parameterNode.assistSelectedLesionOnly and atRas is None:
            raise RuntimeError(_("Put the crosshair on a lesion first (Shift+mouse move)."))
        result = reading.assist(parameters, atRas)
        reading.showAssistPreview(result)
        self.assistResult = result
        return result

    def applyAssist(self, parameterNode: AISAnnotatorParameterNode) -> None:
        """Put the previewed assist into the lesion segment."""
        if self.assistResult is None:
            raise RuntimeError(_("Preview the DWI assist first."))
        self._requireReading(parameterNode).applyAssist(self.assistResult)
        self.assistResult = None

    def clearAssistPreview(self, parameterNode: AISAnnotatorParameterNode) -> None:
        if self.reading is not None:
            self.reading.clearAssistPreview()
        self.assistResult = None

    def hints(self, parameterNode: AISAnnotatorParameterNode) -> list:
        """Hints on the current mask (``AISCommonLib.core.hints.computeHints``)."""
        return self._requireReading(parameterNode).hints()

    def stepLesion(self, parameterNode: AISAnnotatorParameterNode, direction: int):
        """Centre all views on the next (+1) or previous (-1) lesion; :return: ``(region or None, lesion count)``."""
        return self._requireReading(parameterNode).stepLesion(slicer.mrmlScene, direction)

    def statusLine(self, ras) -> str:
        """Values of every sequence at a RAS point (ADC with its unit)."""
        return self.reading.statusLine(ras) if self.reading else ""

    def jumpTo(self, ras) -> None:
        crosshair.jumpToRas(slicer.mrmlScene, ras)

    # Notes ------------------------------------------------------------------------------------

    def notes(self, parameterNode: AISAnnotatorParameterNode) -> list:
        """The reader's notes as ``readrecord.ReadNote`` (label, text, RAS)."""
        return notes.notesFromMarkups(parameterNode.notesMarkups)

    def addNote(self, parameterNode: AISAnnotatorParameterNode, text: str) -> int:
        """Add a note at the crosshair; the point's label shows the text in the views. :return: its index."""
        ras = crosshair.crosshairRas(slicer.mrmlScene)
        if not parameterNode.notesMarkups or ras is None:
            raise RuntimeError(_("No case is loaded; load a case first."))
        return notes.addNote(parameterNode.notesMarkups, ras, text)

    def removeNote(self, parameterNode: AISAnnotatorParameterNode, index: int) -> None:
        notes.removeNote(parameterNode.notesMarkups, index)


#
# AISAnnotatorTest
#


class AISAnnotatorTest(ScriptedLoadableModuleTest):
    """In-Slicer tests of the Logic and the widget on a tiny synthetic case (``AISAnnotatorLib.gui.selftests``); the
    reading flow installs SQLAlchemy at first use, after asking (``--testing``: Slicer answers OK and logs it)."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        for test in (self.test_ParameterNameBindings, self.test_ReadingFlow, self.test_LayoutSelectorShowsTheChosenLayout,
                     self.test_ReenteringKeepsTheZoom, self.test_ReadingDoesNotGrowTheScene, self.test_SceneNeverHoldsTheDatabasePassword,
                     self.test_ReadRecordPanels):
            self.setUp()
            test()
        self.delayDisplay("AISAnnotator tests passed")

    def test_ParameterNameBindings(self):
        """Every SlicerParameterName of the .ui names a parameter node field, and each binding connects."""
        uiPath = os.path.join(os.path.dirname(slicer.util.modulePath("AISAnnotator")), "Resources", "UI", "AISAnnotator.ui")
        uifile.checkParameterBindings(self, uiPath, AISAnnotatorLogic(connection.memoryDatabaseSettings()).getParameterNode(), {
            "adcThresholdMicro": ("adcThresholdSpinBox", 500.0), "flairLikert": ("flairLikertSpinBox", 4), "readerId": ("readerIdLineEdit", "reader7")})

    def test_ReadingFlow(self):
        selftests.readingFlow(self, AISAnnotatorLogic)

    def test_LayoutSelectorShowsTheChosenLayout(self):
        selftests.layoutSelectorShowsTheChosenLayout(self)

    def test_ReenteringKeepsTheZoom(self):
        selftests.reenteringKeepsTheZoom(self)

    def test_ReadingDoesNotGrowTheScene(self):
        selftests.readingDoesNotGrowTheScene(self)

    def test_SceneNeverHoldsTheDatabasePassword(self):
        selftests.sceneNeverHoldsTheDatabasePassword(self)

    def test_ReadRecordPanels(self):
        selftests.readRecordPanels(self)
