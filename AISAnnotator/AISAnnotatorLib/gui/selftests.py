"""The AISAnnotator self-tests that a user runs inside Slicer (Developer Tools > Self Tests, or Reload and Test).

They write their own synthetic case and never use the user's workflow database or keyring: the widget's
database choice is swapped for one kept in memory while a test runs. What can be shown without Slicer's GUI is
tested in CI at the MRML level (``Testing/mrml/test_readingviews.py``, ``test_scenegrowth.py``); these show what
only the running application can: the layout combo box, leaving and re-entering the module, the widget's own
calls, a scene saved to disk.
"""

import contextlib
import pathlib
import tempfile

import slicer

from AISCommonLib import connection, uifile
from AISCommonLib.mrml import layouts
from AISCommonLib.synthetic import tinycases
from AISCommonLib.workflow import database as workflowdatabase
from AISCommonLib.workflow import store as workflowstore

from . import readingflow
from .choices import ReadingLayout

SECRET_URL = "postgresql+psycopg://reader7:Secret-14-pw@db.invalid:5432/stroke"
SECRET = "Secret-14-pw"


def readingFlow(testCase, logicClass) -> None:
    """Claim, load, seed, hints, note, quality, submit to a SQLite store; the other reader sees nothing."""
    with tempfile.TemporaryDirectory() as folder:
        root = pathlib.Path(folder)
        lesion = tinycases.writeSimpleCase(root, "01", "01")["truth"]
        databasePath = str(workflowdatabase.defaultDatabasePath(root))
        # Explicit and in memory, so that neither the user's team database nor their settings are touched.
        logic = logicClass(connection.memoryDatabaseSettings(databasePath))
        logic.ensureWorkflowPackages()
        with workflowstore.openStore(databasePath, root, create=True) as workflow:
            tinycases.initialiseTeam(workflow, root, readers=("reader1", "reader2"))
        parameterNode = logic.getParameterNode()
        parameterNode.datasetRoot = root
        parameterNode.readerId = "reader1"
        try:
            readingflow.readAndSubmit(testCase, logic, parameterNode, lesion)
        finally:
            logic.closeStore()


@contextlib.contextmanager
def annotatorWithCase(testCase):
    """The module's widget, shown, with a synthetic case loaded from the case list and a database kept in memory."""
    slicer.util.selectModule("AISAnnotator")
    widget = slicer.util.getModuleWidget("AISAnnotator")
    userDatabase = widget.logic.database
    widget.logic.database = connection.memoryDatabaseSettings()
    try:
        with tempfile.TemporaryDirectory() as folder:
            root = pathlib.Path(folder)
            tinycases.writeSimpleCase(root, "01", "01")
            widget._parameterNode.datasetRoot = root
            widget.onFindCases()
            widget.onLoadCase()
            testCase.assertTrue(widget._caseLoaded(), widget.ui.statusLabel.text)
            yield widget
            widget.logic.removeCaseNodes(widget._parameterNode)
    finally:
        widget.logic.database = userDatabase
        widget.ui.databaseUrlLineEdit.text = userDatabase.url()


def layoutNode():
    return slicer.app.layoutManager().layoutLogic().GetLayoutNode()


def layoutSelectorShowsTheChosenLayout(testCase) -> None:
    """Issue 14 A2: choosing a layout in the combo box shows that layout, not the previous one."""
    with annotatorWithCase(testCase) as widget:
        choices = list(ReadingLayout)
        for index in (1, 2, 0, 2):
            widget.ui.layoutComboBox.currentIndex = index
            slicer.app.processEvents()
            testCase.assertEqual(widget._parameterNode.readingLayout, choices[index])
            testCase.assertEqual(layoutNode().GetViewArrangement(), layouts.layoutIdByName(choices[index].value))


def reenteringKeepsTheZoom(testCase) -> None:
    """Issue 14 A3: leaving the module and coming back keeps every view's zoom and pan."""
    with annotatorWithCase(testCase) as widget:
        widget.ui.layoutComboBox.currentIndex = 0
        slicer.app.processEvents()
        views = layouts.readingViews(slicer.mrmlScene, layouts.LAYOUT_2X2_AXIAL)
        for _, sliceNode in views:
            sliceNode.SetFieldOfView(37.0, 37.0, sliceNode.GetFieldOfView()[2])
            sliceNode.SetXYZOrigin(5.0, -3.0, 0.0)
        before = [(tuple(node.GetFieldOfView()), tuple(node.GetXYZOrigin())) for _, node in views]
        slicer.util.selectModule("Data")
        slicer.util.selectModule("AISAnnotator")
        slicer.app.processEvents()
        after = [(tuple(node.GetFieldOfView()), tuple(node.GetXYZOrigin())) for _, node in views]
        testCase.assertEqual(after, before)


def readingDoesNotGrowTheScene(testCase) -> None:
    """Issue 14 A1: checking, stepping and loading the case again leave the scene's node count as it was."""
    with annotatorWithCase(testCase) as widget:
        widget.logic.seed(widget._parameterNode)
        before = slicer.mrmlScene.GetNumberOfNodes()
        for _ in range(5):
            widget.onCheckHints()
            widget.onNextLesion()
            widget.logic.hasUnsavedEdits(widget._parameterNode)
        testCase.assertEqual(slicer.mrmlScene.GetNumberOfNodes(), before)
        widget.logic.removeCaseNodes(widget._parameterNode)
        widget.onLoadCase()
        widget.logic.seed(widget._parameterNode)
        testCase.assertEqual(slicer.mrmlScene.GetNumberOfNodes(), before)


def readRecordPanels(testCase) -> None:
    """Issue 14 B: the criterion grid shows the case's sequences and wins over the sequence box; a lesion is described
    at the crosshair and tied to the mask's lesion; the prediction button waits for a file; training stays hidden."""
    with annotatorWithCase(testCase) as widget:
        grid, panel = widget._criteriaGrid, widget._lesionPanel
        testCase.assertEqual(set(grid.scores()), {"dwi", "adc", "eadc", "flair"})
        widget._parameterNode.dwiLikert = 4
        grid._rows["dwi"][1]["motion"].value = 2
        testCase.assertEqual(widget.logic.likertScores(widget._parameterNode, grid.scores())["dwi"]["motion"], 2)
        testCase.assertEqual(widget.logic.likertScores(widget._parameterNode, grid.scores())["dwi"]["noise"], 4)
        result = widget.logic.seed(widget._parameterNode)
        region, _count = widget.logic.stepLesion(widget._parameterNode, 1)
        widget.logic.jumpTo(region.centroidRas)
        panel._combos["territory"].currentIndex = panel._combos["territory"].findData("mca")
        panel.addButton.click()
        testCase.assertEqual(panel.listWidget.count, 1)
        records = widget.logic.reading.lesionAttributeRecords(panel.attributes())
        testCase.assertEqual([record["territory"] for record in records["lesions"]], ["mca"])
        testCase.assertGreater(int(result.mask.sum()), 0)
        testCase.assertFalse(widget.ui.startFromPredictionButton.enabled)
        testCase.assertFalse(widget._trainingPanel.section.visible)


def sceneNeverHoldsTheDatabasePassword(testCase) -> None:
    """Issue 14 A8: a URL with a password typed in the panel leaves the field, and a saved scene has neither."""
    with annotatorWithCase(testCase) as widget:
        uifile.checkSceneHoldsNoPassword(testCase, widget, SECRET_URL, SECRET)
