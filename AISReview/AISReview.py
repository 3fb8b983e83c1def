import os
import pathlib
import tempfile
import xml.etree.ElementTree as ElementTree
from typing import Annotated

import numpy as np
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

from AISAnnotatorLib import RUNTIME_REQUIREMENTS, reloading
from AISReviewLib.core import agreement

#
# AISReview
#


class AISReview(ScriptedLoadableModule):
    """Registers the module with Slicer: title, category, dependencies, help and acknowledgement."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("AIS Review")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Segmentation")]
        self.parent.dependencies = ["AISAnnotator"]
        self.parent.contributors = ["AIS Annotation contributors"]
        self.parent.helpText = _("""
Compare the two independent reads of an acute ischemic stroke case before review.
<p>Choose the lesion masks of reader A and reader B (binary NIfTI files on the DWI grid of the case) and press
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


@parameterNodeWrapper
class AISReviewParameterNode:
    """The two reads to compare and the concordance settings, saved with the scene.

    readerAMaskPath, readerBMaskPath - NIfTI lesion masks of the two readers.
    minimumDice - Dice from which two reads count as concordant.
    minimumRegionMm3 - boundary disagreements smaller than this are not listed for review.
    """

    readerAMaskPath: pathlib.Path
    readerBMaskPath: pathlib.Path
    minimumDice: Annotated[float, WithinRange(0.0, 1.0)] = agreement.DEFAULT_MIN_DICE
    minimumRegionMm3: Annotated[float, WithinRange(0.0, 100000.0)] = agreement.DEFAULT_MIN_EXTENT_MM3


#
# AISReviewWidget
#


class AISReviewWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """Mask selection and agreement report panel."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None

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


class AISReviewLogic(ScriptedLoadableModuleLogic):
    """Runs the library's agreement on the masks named in the parameter node."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)

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

    def test_ParameterNameBindings(self):
        """Every SlicerParameterName of the .ui names a parameter node field, and each binding connects."""
        uiPath = os.path.join(os.path.dirname(slicer.util.modulePath("AISReview")), "Resources", "UI", "AISReview.ui")
        names = [
            element.findtext("string")
            for element in ElementTree.parse(uiPath).iter("property")
            if element.get("name") == "SlicerParameterName"
        ]
        self.assertTrue(names)
        for name in names:
            self.assertIn(name, AISReviewParameterNode.allParameters)

        parameterNode = AISReviewLogic().getParameterNode()
        uiWidget = slicer.util.loadUI(uiPath)
        tag = parameterNode.connectGui(slicer.util.childWidgetVariables(uiWidget))
        parameterNode.minimumDice = 0.5
        self.assertEqual(slicer.util.findChild(uiWidget, "minimumDiceSpinBox").value, 0.5)
        parameterNode.disconnectGui(tag)

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
