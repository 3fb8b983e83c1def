import dataclasses
import enum
import os
import pathlib
import tempfile
import xml.etree.ElementTree as ElementTree
from typing import Annotated

import numpy as np
import slicer
import slicer.packaging
import vtk
from slicer import vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode
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

from AISAnnotatorLib import RUNTIME_REQUIREMENTS, reloading
from AISAnnotatorLib.core import adcunits, cases, image, seeding, sequences
from AISAnnotatorLib.core.errors import GeometryError, OperationCancelled

#: Sequences shown in the scene, in the order they are loaded; keys of ``LoadedCase`` and ``Case.files``.
DISPLAYED_SEQUENCES = ("dwi", "adc", "eadc", "flair", "t1w", "t2w")
#: Seed defaults come from the library so the module and the ``ais seed`` command agree.
DEFAULT_SEED_PARAMETERS = seeding.SeedParameters()
LESION_SEGMENT_NAME = "Lesion"
LESION_SEGMENT_COLOR = (0.95, 0.84, 0.22)


#
# AISAnnotator
#


class AISAnnotator(ScriptedLoadableModule):
    """Registers the module with Slicer: title, category, dependencies, help and acknowledgement."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("AIS Annotator")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Segmentation")]
        self.parent.dependencies = []
        self.parent.contributors = ["AIS Annotation contributors"]
        self.parent.helpText = _("""
Annotate acute ischemic stroke lesions on MRI, one reader at a time, following the expert consensus workflow.
<ol>
<li><b>Case</b>: choose the BIDS dataset folder and press <i>Find cases</i>. Each case shows the required
sequences it lacks (DWI, ADC, FLAIR). Select a case and press <i>Load case</i>: DWI (b=1000), ADC, eADC
(read, or computed from DWI/b0 or exp(-b*ADC)), FLAIR and, when present, T1w and T2w are loaded on their own grids.
Screen the images first and leave out cases with severe artifacts or non-ischemic lesions.</li>
<li><b>Seed</b>: <i>Apply seed</i> marks voxels with ADC below 620 x 10^-6 mm^2/s that are also DWI-bright, drops
regions smaller than the minimum volume and small regions hugging the brain edge at the skull base, where
susceptibility artifacts collect.
The ADC file unit (1e-6 mm^2/s, 1e-3 mm^2/s or mm^2/s) is detected from the brain median and shown;
set it explicitly when detection fails or is wrong.</li>
<li>Refine the <i>Lesion</i> segment on DWI slice by slice in Segment Editor, checking ADC, eADC and FLAIR:
acute ischemia is DWI-bright and ADC-dark; DWI-bright with normal ADC is T2 shine-through. Do not grow the
mask blindly where the boundary is unclear.</li>
</ol>
The lesion mask is always on the voxel grid of the DWI.
""")
        self.parent.acknowledgementText = _("""
Built for dual-reader annotation of acute ischemic stroke datasets following the national expert consensus on
acute ischemic stroke MRI annotation. It relies on 3D Slicer, SimpleITK, NumPy and NiBabel.
""")


#
# AISAnnotatorParameterNode
#


class AdcUnitChoice(enum.Enum):
    """How the ADC file stores its values: detected, or one of the library's units (values are its keys)."""

    AUTO = "auto"
    MICRO = adcunits.MICRO.key
    MILLI = adcunits.MILLI.key
    SI = adcunits.SI.key

    def label(self) -> str:
        """Text of the choice in the unit combo box."""
        labels = {
            AdcUnitChoice.AUTO: _("Auto (detect)"),
            AdcUnitChoice.MICRO: _("1e-6 mm^2/s (white matter ~750)"),
            AdcUnitChoice.MILLI: _("1e-3 mm^2/s (white matter ~0.75)"),
            AdcUnitChoice.SI: _("mm^2/s (white matter ~0.00075)"),
        }
        return labels[self]

    @property
    def unitKey(self) -> str | None:
        """Unit key for ``sequences.loadCase``; None asks the library to detect the unit."""
        return None if self is AdcUnitChoice.AUTO else self.value


@parameterNodeWrapper
class AISAnnotatorParameterNode:
    """What the reader chose and what is on screen, saved with the scene.

    datasetRoot - BIDS dataset folder the cases come from.
    caseId - case whose images are loaded (empty when none).
    adcUnit - how the ADC file stores its values.
    adcThresholdMicro - seed threshold in 1e-6 mm^2/s (the consensus value is 620).
    minimumComponentMm3 - seed regions smaller than this are dropped.
    dwiVolume, adcVolume, eadcVolume, flairVolume, t1wVolume, t2wVolume - the loaded case's images.
    lesionSegmentation - segmentation holding the lesion segment, on the DWI grid.
    """

    datasetRoot: pathlib.Path
    caseId: str = ""
    adcUnit: AdcUnitChoice = AdcUnitChoice.AUTO
    adcThresholdMicro: Annotated[float, WithinRange(1.0, 4999.0)] = round(DEFAULT_SEED_PARAMETERS.thresholdMm2PerS * 1e6, 6)
    minimumComponentMm3: Annotated[float, WithinRange(0.0, 10000.0)] = DEFAULT_SEED_PARAMETERS.minComponentMm3
    dwiVolume: vtkMRMLScalarVolumeNode | None
    adcVolume: vtkMRMLScalarVolumeNode | None
    eadcVolume: vtkMRMLScalarVolumeNode | None
    flairVolume: vtkMRMLScalarVolumeNode | None
    t1wVolume: vtkMRMLScalarVolumeNode | None
    t2wVolume: vtkMRMLScalarVolumeNode | None
    lesionSegmentation: vtkMRMLSegmentationNode | None


#
# AISAnnotatorWidget
#


class AISAnnotatorWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """Case selection, loading and seeding panel."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._cases = []

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)

        uiWidget = slicer.util.loadUI(self.resourcePath("UI/AISAnnotator.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)

        self.logic = AISAnnotatorLogic()

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)

        self.ui.findCasesButton.connect("clicked(bool)", self.onFindCases)
        self.ui.loadCaseButton.connect("clicked(bool)", self.onLoadCase)
        self.ui.applySeedButton.connect("clicked(bool)", self.onApplySeed)
        self.ui.caseListWidget.connect("currentRowChanged(int)", self._updateActions)
        self.ui.caseListWidget.connect("itemDoubleClicked(QListWidgetItem*)", self.onLoadCase)

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
        self.logic.forgetLoadedCase()

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def onReload(self) -> None:
        """Reload the library too: Slicer's Reload re-runs only this file."""
        reloading.reloadPackage("AISAnnotatorLib")
        ScriptedLoadableModuleWidget.onReload(self)

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())

    def setParameterNode(self, inputParameterNode: AISAnnotatorParameterNode | None) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateActions)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateActions)
        self._updateActions()

    def _selectedCase(self):
        row = self.ui.caseListWidget.currentRow
        return self._cases[row] if 0 <= row < len(self._cases) else None

    def _updateActions(self, *unused) -> None:
        """Enable each action only when it can run, and say why in its tooltip when it cannot."""
        node = self._parameterNode
        root = str(node.datasetRoot) if node else ""
        rootChosen = root not in ("", ".") and os.path.isdir(root)
        self.ui.findCasesButton.enabled = rootChosen
        self.ui.findCasesButton.toolTip = (
            _("List the cases of the dataset and the sequences each one is missing.")
            if rootChosen
            else _("Choose an existing dataset folder first.")
        )

        case = self._selectedCase()
        blocking = [key.upper() for key in sequences.LOAD_REQUIRED_SEQUENCES if case and key not in case.files]
        self.ui.loadCaseButton.enabled = bool(node and case and not blocking)
        if not case:
            self.ui.loadCaseButton.toolTip = _("Select a case in the list.")
        elif blocking:
            self.ui.loadCaseButton.toolTip = _("This case cannot be loaded: it has no {sequences} image.").format(
                sequences=", ".join(blocking)
            )
        else:
            self.ui.loadCaseButton.toolTip = _("Load DWI, ADC, eADC, FLAIR (and T1w/T2w when present) of the selected case.")

        canSeed = bool(node and node.dwiVolume and node.caseId and self.logic.loadedCaseId() == node.caseId)
        self.ui.applySeedButton.enabled = canSeed
        self.ui.applySeedButton.toolTip = (
            _("Mark voxels with ADC below the threshold that are DWI-bright as the lesion seed.") if canSeed else _("Load a case first.")
        )

    def _setStatus(self, text: str) -> None:
        self.ui.statusLabel.text = text
        slicer.app.processEvents()

    def onFindCases(self) -> None:
        """List the cases of the chosen dataset, marking what each one lacks."""
        # A failed search must not leave the previous dataset's cases selectable.
        self.ui.caseListWidget.clear()
        self._cases = []
        try:
            with slicer.util.tryWithErrorDisplay(_("Could not list the cases of the dataset."), waitCursor=True):
                self._cases = self.logic.findCases(self._parameterNode.datasetRoot)
                for row, case in enumerate(self._cases):
                    text = case.caseId
                    if case.missing:
                        text += "  " + _("(missing: {sequences})").format(sequences=", ".join(key.upper() for key in case.missing))
                    self.ui.caseListWidget.addItem(text)
                    if case.problems:
                        self.ui.caseListWidget.item(row).setToolTip("\n".join(case.problems))
                if self._cases:
                    self.ui.caseListWidget.setCurrentRow(0)
                self._setStatus(_("{count} cases found.").format(count=len(self._cases)))
        finally:
            self._updateActions()

    def onLoadCase(self, *unused) -> None:
        """Load the selected case into the scene, replacing the case on screen after confirmation."""
        case = self._selectedCase()
        if case is None or not self.ui.loadCaseButton.enabled:
            return
        if self._parameterNode.lesionSegmentation and not slicer.util.confirmYesNoDisplay(
            _("Loading {newCase} removes {oldCase} and its lesion segmentation from the scene. Unsaved edits are lost. Continue?").format(
                newCase=case.caseId, oldCase=self._parameterNode.caseId
            )
        ):
            return
        try:
            with slicer.util.tryWithErrorDisplay(_("Could not load the case."), waitCursor=True):
                # The library reads NIfTI with nibabel, which Slicer does not ship.
                slicer.packaging.pip_ensure(RUNTIME_REQUIREMENTS, requester="AISAnnotator")
                self._setStatus(_("Loading {caseId}...").format(caseId=case.caseId))
                loaded = self.logic.loadCase(case, self._parameterNode)
                self._setStatus(self._describeLoadedCase(loaded))
        except Exception:
            self._setStatus(_("Loading {caseId} failed.").format(caseId=case.caseId))
            raise
        finally:
            self._updateActions()

    def _describeLoadedCase(self, loaded) -> str:
        decision = loaded.adcUnit
        how = _("set by you") if decision.overridden else _("detected")
        lines = [
            _("{caseId} loaded (b={bValue:g} s/mm^2, from {bValueSource}; eADC: {eadcSource}).").format(
                caseId=loaded.case.caseId, bValue=loaded.bValue, bValueSource=loaded.bValueSource, eadcSource=loaded.eadcSource
            ),
            _("ADC unit: {unit} ({how}); brain median {median:g}.").format(
                unit=decision.unit.label, how=how, median=decision.statistics.median
            ),
        ]
        if decision.conflictsWithData:
            lines.append(
                _("Warning: the data look like {detected}, not {chosen}; check the ADC unit.").format(
                    detected=decision.detected.label, chosen=decision.unit.label
                )
            )
        if loaded.case.missing:
            lines.append(_("Missing: {sequences}.").format(sequences=", ".join(key.upper() for key in loaded.case.missing)))
        return "\n".join(lines)

    def onApplySeed(self) -> None:
        """Replace the lesion segment with the ADC-threshold seed, after confirmation if it holds edits."""
        if self.logic.lesionHasVoxels(self._parameterNode) and not slicer.util.confirmYesNoDisplay(
            _("Replace the lesion segment of {caseId} with a new seed? Edits made to it are lost.").format(
                caseId=self._parameterNode.caseId
            )
        ):
            return
        progressDialog = None
        try:
            with slicer.util.tryWithErrorDisplay(_("Could not compute the seed."), waitCursor=True):
                progressDialog = slicer.util.createProgressDialog(windowTitle=_("Seeding"), labelText=_("Seeding..."), maximum=100)
                try:
                    result = self.logic.seed(self._parameterNode, progress=self._progressReporter(progressDialog))
                except OperationCancelled:
                    self._setStatus(_("Seeding cancelled; the lesion segment is unchanged."))
                    return
                self._setStatus(self._describeSeed(result.summary))
        finally:
            if progressDialog:
                progressDialog.close()
            self._updateActions()

    @staticmethod
    def _progressReporter(progressDialog):
        """Adapt the dialog to the library's ``progress(fraction, message)`` callable."""

        def report(fraction: float, message: str) -> None:
            progressDialog.value = int(round(100 * fraction))
            progressDialog.labelText = message
            slicer.app.processEvents()
            if progressDialog.wasCanceled:
                raise OperationCancelled("Seeding was cancelled by the user.")

        return report

    @staticmethod
    def _describeSeed(summary: dict) -> str:
        lines = [
            _("Seed: {volumeMl:g} ml, {voxels} voxels, connected regions: {components}.").format(
                volumeMl=summary["volumeMl"], components=summary["components"], voxels=summary["voxels"]
            ),
            _("Threshold {threshold} = {inFileUnit} in the file's unit.").format(
                threshold=summary["threshold"]["micro"], inFileUnit=summary["threshold"]["inFileUnit"]
            ),
            _("Dropped {small} small and {rim} rim regions.").format(
                small=summary["removedSmallComponents"], rim=summary["removedRimComponents"]
            ),
        ]
        unit = summary["adcUnit"]
        if unit["overridden"] and unit["detectedUnit"] not in (None, unit["unit"]):
            lines.append(
                _("Warning: the ADC unit was set to {chosen} but the data look like {detected}.").format(
                    chosen=unit["unitLabel"], detected=adcunits.UNITS[unit["detectedUnit"]].label
                )
            )
        if summary["voxels"] == 0:
            lines.append(_("No voxel passed: check the ADC unit and the threshold, or draw the lesion by hand."))
        else:
            lines.append(_("Refine the Lesion segment on DWI in Segment Editor."))
        return "\n".join(lines)


#
# AISAnnotatorLogic
#


class AISAnnotatorLogic(ScriptedLoadableModuleLogic):
    """Puts library results into the scene: case images as volumes, the seed as a segment on the DWI grid.

    The loaded case (arrays, ADC unit decision, brain mask) stays here between loading and seeding;
    it is not saved with the scene.
    """

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        self._loadedCase = None

    def getParameterNode(self) -> AISAnnotatorParameterNode:
        return AISAnnotatorParameterNode(super().getParameterNode())

    def loadedCaseId(self) -> str:
        """Case ID of the loaded case held for seeding ("" when none)."""
        return self._loadedCase.case.caseId if self._loadedCase else ""

    def forgetLoadedCase(self) -> None:
        self._loadedCase = None

    def findCases(self, datasetRoot) -> list:
        """Cases of a BIDS dataset (see ``AISAnnotatorLib.core.cases.discoverCases``)."""
        return cases.discoverCases(datasetRoot)

    def loadCase(self, case, parameterNode: AISAnnotatorParameterNode):
        """Read a case with the library, show its images and record the nodes in the parameter node.

        Images read as they are stored come in through Slicer's reader (``slicer.util.loadVolume``); images
        the library derives (the b=1000 mean of a DWI series, a computed eADC) come from its arrays.

        :raises AISError: the library refuses the case (missing DWI/ADC, grid mismatch, unknown ADC unit).
        :raises GeometryError: Slicer reads a file with another geometry than the library.
        """
        loaded = sequences.loadCase(case, parameterNode.adcUnit.unitKey)
        self.removeCaseNodes(parameterNode)
        nodes = {}
        try:
            for key in DISPLAYED_SEQUENCES:
                if getattr(loaded, key) is not None:
                    nodes[key] = self._addVolume(loaded, key)
        except Exception:
            # Leave no half-loaded case behind.
            for node in nodes.values():
                slicer.mrmlScene.RemoveNode(node)
            raise
        with slicer.util.NodeModify(parameterNode):
            parameterNode.caseId = case.caseId
            for key in DISPLAYED_SEQUENCES:
                setattr(parameterNode, f"{key}Volume", nodes.get(key))
        self._loadedCase = loaded
        slicer.util.setSliceViewerLayers(background=nodes["dwi"], fit=True)
        return loaded

    def _addVolume(self, loaded, key: str):
        volume = getattr(loaded, key)
        name = f"{loaded.case.caseId}_{key}"
        derived = (key == "dwi" and loaded.b0 is not None) or (key == "eadc" and loaded.eadcSource != "provided")
        if derived or volume.path is None:
            return slicer.util.addVolumeFromArray(volume.array, ijkToRAS=volume.ijkToRas, name=name)
        node = slicer.util.loadVolume(str(volume.path), {"name": name, "show": False})
        try:
            self._requireSameGeometry(node, volume)
        except GeometryError:
            slicer.mrmlScene.RemoveNode(node)
            raise
        return node

    @staticmethod
    def _requireSameGeometry(node, volume) -> None:
        """Masks are defined on the library's grid; refuse a file that Slicer places elsewhere."""
        matrix = vtk.vtkMatrix4x4()
        node.GetIJKToRASMatrix(matrix)
        difference = float(np.abs(slicer.util.arrayFromVTKMatrix(matrix) - volume.ijkToRas).max())
        shape = tuple(slicer.util.arrayFromVolume(node).shape[-3:])
        if shape != volume.gridShape or difference > image.GRID_TOLERANCE:
            raise GeometryError(
                f"Slicer and the AIS library read '{volume.path}' with different voxel grids (shape {shape} vs {volume.gridShape}, "
                f"matrix difference {difference:.3g} mm); its NIfTI qform and sform probably disagree. Fix the header before annotating."
            )

    def removeCaseNodes(self, parameterNode: AISAnnotatorParameterNode) -> None:
        """Remove the images and the lesion segmentation of the case on screen."""
        with slicer.util.NodeModify(parameterNode):
            for key in DISPLAYED_SEQUENCES:
                node = getattr(parameterNode, f"{key}Volume")
                if node:
                    setattr(parameterNode, f"{key}Volume", None)
                    slicer.mrmlScene.RemoveNode(node)
            if parameterNode.lesionSegmentation:
                node = parameterNode.lesionSegmentation
                parameterNode.lesionSegmentation = None
                slicer.mrmlScene.RemoveNode(node)
            parameterNode.caseId = ""
        self._loadedCase = None

    def lesionHasVoxels(self, parameterNode: AISAnnotatorParameterNode) -> bool:
        """True when the lesion segment exists and is not empty (re-seeding would replace edits)."""
        segmentationNode = parameterNode.lesionSegmentation
        if not segmentationNode or not parameterNode.dwiVolume:
            return False
        segmentId = segmentationNode.GetSegmentation().GetSegmentIdBySegmentName(LESION_SEGMENT_NAME)
        if not segmentId:
            return False
        return bool(slicer.util.arrayFromSegmentBinaryLabelmap(segmentationNode, segmentId, parameterNode.dwiVolume).any())

    def seed(self, parameterNode: AISAnnotatorParameterNode, progress=None):
        """Compute the ADC-threshold seed of the loaded case and put it in the lesion segment.

        :param progress: optional ``(fraction, message)`` callable; it may raise ``OperationCancelled``.
        :return: the library's ``SeedResult`` (mask on the DWI grid and summary).
        :raises RuntimeError: no case is loaded, or the loaded case is not the one on screen.
        """
        loaded = self._loadedCase
        if loaded is None or loaded.case.caseId != parameterNode.caseId or not parameterNode.dwiVolume:
            raise RuntimeError(_("No case is loaded; load a case before seeding it."))
        unitKey = parameterNode.adcUnit.unitKey
        usedKey = loaded.adcUnit.unit.key if loaded.adcUnit.overridden else None
        if unitKey != usedKey:
            # The unit choice changed since loading: let the library decide again from the files.
            loaded = self._loadedCase = sequences.loadCase(loaded.case, unitKey)
        parameters = dataclasses.replace(
            DEFAULT_SEED_PARAMETERS,
            thresholdMm2PerS=parameterNode.adcThresholdMicro * 1e-6,
            minComponentMm3=parameterNode.minimumComponentMm3,
        )
        result = seeding.seedLesion(loaded, parameters, progress)

        segmentationNode = parameterNode.lesionSegmentation
        if not segmentationNode:
            segmentationNode = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode", f"{loaded.case.caseId}_lesion")
            segmentationNode.CreateDefaultDisplayNodes()
            segmentationNode.SetReferenceImageGeometryParameterFromVolumeNode(parameterNode.dwiVolume)
            parameterNode.lesionSegmentation = segmentationNode
        segmentation = segmentationNode.GetSegmentation()
        segmentId = segmentation.GetSegmentIdBySegmentName(LESION_SEGMENT_NAME)
        if not segmentId:
            segmentId = segmentation.AddEmptySegment("", LESION_SEGMENT_NAME, LESION_SEGMENT_COLOR)
            if not segmentId:
                raise RuntimeError(f"Could not add the '{LESION_SEGMENT_NAME}' segment to {segmentationNode.GetName()}.")
        slicer.util.updateSegmentBinaryLabelmapFromArray(result.mask.astype(np.uint8), segmentationNode, segmentId, parameterNode.dwiVolume)
        return result


#
# AISAnnotatorTest
#


class AISAnnotatorTest(ScriptedLoadableModuleTest):
    """Drives the Logic on a synthetic BIDS case written with SimpleITK, and checks the .ui bindings."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_ParameterNameBindings()
        self.setUp()
        self.test_SeedSyntheticCase()

    def test_ParameterNameBindings(self):
        """Every SlicerParameterName of the .ui names a parameter node field, and each binding connects."""
        uiPath = os.path.join(os.path.dirname(slicer.util.modulePath("AISAnnotator")), "Resources", "UI", "AISAnnotator.ui")
        names = [
            element.findtext("string")
            for element in ElementTree.parse(uiPath).iter("property")
            if element.get("name") == "SlicerParameterName"
        ]
        self.assertTrue(names)
        for name in names:
            self.assertIn(name, AISAnnotatorParameterNode.allParameters)

        parameterNode = AISAnnotatorLogic().getParameterNode()
        uiWidget = slicer.util.loadUI(uiPath)
        tag = parameterNode.connectGui(slicer.util.childWidgetVariables(uiWidget))
        parameterNode.adcThresholdMicro = 500.0
        self.assertEqual(slicer.util.findChild(uiWidget, "adcThresholdSpinBox").value, 500.0)
        parameterNode.disconnectGui(tag)

    @staticmethod
    def _writeSyntheticCase(root: pathlib.Path) -> np.ndarray:
        """A brain ellipsoid with one DWI-bright, ADC-dark sphere; returns the sphere as bool ``[k, j, i]``."""
        import SimpleITK as sitk

        shape = (24, 48, 40)
        spacingMm = (2.0, 2.0, 4.0)
        k, j, i = np.mgrid[0 : shape[0], 0 : shape[1], 0 : shape[2]]
        z, y, x = (k - 11.5) * spacingMm[2], (j - 23.5) * spacingMm[1], (i - 19.5) * spacingMm[0]
        brain = (x / 34.0) ** 2 + (y / 42.0) ** 2 + (z / 40.0) ** 2 <= 1.0
        lesion = (x - 12.0) ** 2 + (y - 6.0) ** 2 + z**2 <= 9.0**2
        noise = np.random.default_rng(0)
        dwi = np.where(brain, 100.0, 0.0) + noise.normal(0.0, 3.0, shape)
        dwi[lesion] = 260.0
        adc = np.where(brain, 800.0 + noise.normal(0.0, 20.0, shape), 0.0)
        adc[lesion] = 450.0
        flair = np.where(brain, 300.0, 0.0)

        folder = root / "sub-01" / "ses-01"
        for name in ("dwi", "anat"):
            (folder / name).mkdir(parents=True)
        for array, relativePath, dtype in (
            (dwi, "dwi/sub-01_ses-01_dwi.nii.gz", np.float32),
            (adc, "dwi/sub-01_ses-01_adc.nii.gz", np.int16),
            (flair, "anat/sub-01_ses-01_FLAIR.nii.gz", np.int16),
        ):
            itkImage = sitk.GetImageFromArray(np.clip(array, 0.0, None).astype(dtype))
            itkImage.SetSpacing(spacingMm)
            itkImage.SetOrigin((60.0, 80.0, -40.0))
            sitk.WriteImage(itkImage, str(folder / relativePath))
        (folder / "dwi" / "sub-01_ses-01_dwi.json").write_text('{"DiffusionBValue": 1000}', encoding="utf-8")
        return lesion

    def test_SeedSyntheticCase(self):
        """Discovery, loading and seeding through the Logic put a non-empty seed on the DWI grid."""
        self.delayDisplay("Writing a synthetic case")
        with tempfile.TemporaryDirectory() as folder:
            lesion = self._writeSyntheticCase(pathlib.Path(folder))
            logic = AISAnnotatorLogic()
            parameterNode = logic.getParameterNode()
            parameterNode.datasetRoot = pathlib.Path(folder)

            found = logic.findCases(parameterNode.datasetRoot)
            self.assertEqual([case.caseId for case in found], ["sub-01_ses-01"])
            self.assertEqual(found[0].missing, [])

            loaded = logic.loadCase(found[0], parameterNode)
            self.delayDisplay("Case loaded")
            self.assertEqual(parameterNode.caseId, "sub-01_ses-01")
            for key in ("dwi", "adc", "eadc", "flair"):
                self.assertIsNotNone(getattr(parameterNode, f"{key}Volume"), key)
            self.assertEqual(loaded.adcUnit.unit.key, adcunits.MICRO.key)
            dwiNode = parameterNode.dwiVolume
            matrix = vtk.vtkMatrix4x4()
            dwiNode.GetIJKToRASMatrix(matrix)
            np.testing.assert_allclose(slicer.util.arrayFromVTKMatrix(matrix), loaded.dwi.ijkToRas, atol=1e-4)

            result = logic.seed(parameterNode)
            self.delayDisplay("Seed computed")

        self.assertGreater(result.summary["voxels"], 0)
        self.assertTrue(lesion[result.mask].all(), "seed voxels outside the synthetic lesion")
        segmentationNode = parameterNode.lesionSegmentation
        self.assertIsNotNone(segmentationNode)
        segmentId = segmentationNode.GetSegmentation().GetSegmentIdBySegmentName(LESION_SEGMENT_NAME)
        seedArray = slicer.util.arrayFromSegmentBinaryLabelmap(segmentationNode, segmentId, dwiNode)
        self.assertEqual(seedArray.shape, slicer.util.arrayFromVolume(dwiNode).shape)
        np.testing.assert_array_equal(seedArray.astype(bool), result.mask)
        self.assertTrue(logic.lesionHasVoxels(parameterNode))
        self.delayDisplay("Test passed")
