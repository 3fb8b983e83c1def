"""The AISReview self-tests that a user runs inside Slicer (Developer Tools > Self Tests, or Reload and Test).

They drive the Logic and the widget on synthetic data they write themselves, never the user's database: the
widget's database choice is swapped for one kept in memory while a test runs. The parts that can be shown
without Slicer's GUI are tested in CI at the MRML level (``Testing/mrml/test_reviewsession.py``); these show
what only the running application can: the embedded editor, Close Scene through the widget, a background
process next to a responsive GUI, a scene saved to disk.
"""

import contextlib
import pathlib
import tempfile
import time

import numpy as np
import qt
import slicer

from AISCommonLib import connection, uifile
from AISCommonLib.core import reviewrule
from AISCommonLib.core.errors import InputError
from AISCommonLib.mrml import layouts
from AISCommonLib.synthetic import tinycases

from ..mrml import reviewsession

#: A team database URL with a password, as a user might paste it.
SECRET_URL = "postgresql+psycopg://reviewer7:Secret-14-pw@db.invalid:5432/stroke"
SECRET = "Secret-14-pw"


def memoryDatabase() -> connection.DatabaseSettings:
    """A database choice that touches neither the user's settings nor their keyring."""
    return connection.memoryDatabaseSettings()


def writeMask(mask: np.ndarray, path: pathlib.Path) -> None:
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(mask.astype(np.uint8))
    image.SetSpacing((1.0, 1.0, 2.0))
    image.SetOrigin((-20.0, -20.0, -10.0))
    sitk.WriteImage(image, str(path))


def writeReviewDataset(root: pathlib.Path, logic) -> None:
    """Two cases; readers R01 and R02 submit discordant reads of both (A draws one lesion more, B draws larger)."""
    lesion = np.zeros((20, 44, 40), dtype=bool)
    lesion[8:12, 16:22, 10:16] = True
    readA = lesion.copy()
    readA[8:11, 30:34, 26:30] = True
    readB = lesion.copy()
    readB[9:12, 15:22, 16:19] = True
    for subject in ("01", "02"):
        tinycases.writeSimpleCase(root, subject, "01")
    store = logic.work.store(None, root, create=True)
    tinycases.initialiseTeam(store, root)
    for reader, read in (("R01", readA), ("R02", readB)):
        while (claim := store.claimNext(reader, "reader")) is not None:
            store.submitRead(reader, claim["case_id"], read)


@contextlib.contextmanager
def reviewWidget(testCase):
    """The module's widget, shown, with a database choice kept in memory; the user's choice is put back after."""
    slicer.util.selectModule("AISReview")
    widget = slicer.util.getModuleWidget("AISReview")
    userDatabase, openReport = widget.logic.database, widget.openReportWhenDone
    widget.logic.database = memoryDatabase()
    widget.openReportWhenDone = False
    try:
        yield widget
    finally:
        widget.logic.database, widget.openReportWhenDone = userDatabase, openReport
        widget.ui.databaseUrlLineEdit.text = userDatabase.url()


def compareShiftedReads(testCase, logic) -> None:
    """A lesion drawn 2 voxels apart by the two readers, plus one lesion only reader B drew."""
    maskA = np.zeros((20, 40, 40), dtype=bool)
    maskA[5:15, 10:20, 10:20] = True
    maskB = np.zeros_like(maskA)
    maskB[5:15, 10:20, 12:22] = True
    maskB[5:8, 30:33, 30:33] = True
    with tempfile.TemporaryDirectory() as folder:
        parameterNode = logic.getParameterNode()
        parameterNode.readerAMaskPath = pathlib.Path(folder) / "sub-01_desc-R01_dwi_lesionmask.nii.gz"
        parameterNode.readerBMaskPath = pathlib.Path(folder) / "sub-01_desc-R02_dwi_lesionmask.nii.gz"
        writeMask(maskA, parameterNode.readerAMaskPath)
        writeMask(maskB, parameterNode.readerBMaskPath)
        result = logic.compare(parameterNode)
    shared = 10 * 10 * 8
    testCase.assertAlmostEqual(result.dice, 2 * shared / (1000 + 1027))
    testCase.assertEqual((result.lesionsA, result.lesionsB), (1, 2))
    testCase.assertEqual(result.missedLesions, 1)
    testCase.assertFalse(result.concordant)
    testCase.assertAlmostEqual(result.volumeAMl, 1000 * 2.0 / 1000.0)


def reviewAndArbitrationFlow(testCase, logic) -> None:
    """The reviewer decides case 1 region by region with an edit and finalises it, escalates case 2; the arbiter sees
    the reason and rules; the audit trail has it all; one store served the whole session."""
    from AISCommonLib.core.image import loadVolume
    from AISCommonLib.mrml import decisions

    logic.ensureWorkflowPackages()
    with tempfile.TemporaryDirectory() as folder:
        root = pathlib.Path(folder)
        writeReviewDataset(root, logic)
        store = logic.work.store(None, root)
        session = logic.claimAndLoad(root, "V01", "reviewer")
        testCase.assertIsNotNone(session)
        logic.showCaseLayout(session)
        rows = logic.work.regionTable()
        testCase.assertEqual({row["kind"] for row in rows}, {"a_only", "b_only"})
        logic.work.jumpToRegion(rows[0]["regionId"])
        logic.work.decide(rows[0]["regionId"], reviewrule.DECISION_KEEP, "DWI-bright and ADC-dark")
        extentId = rows[1]["regionId"]
        logic.work.decide(extentId, reviewrule.DECISION_EDITED)
        edited = session.review.result.regionMap.toFullGrid(session.review.result.regionMap.labels == extentId)
        edited[11] = False
        decisions.setRegionSegmentMask(session.review, extentId, edited)
        logic.work.commitEdit(extentId)
        expected = decisions.finalMask(session.review).copy()
        testCase.assertTrue(logic.work.hasUnsavedDecisions())
        with testCase.assertRaises(reviewsession.UnsavedDecisionsError):
            logic.claimAndLoad(root, "V01", "reviewer")
        outcome = logic.work.finalise("Checked on DWI, ADC and FLAIR.")
        testCase.assertEqual(outcome["state"], "final")
        final = loadVolume(store.absolutePath(outcome["final_mask_path"]))
        testCase.assertTrue(np.array_equal(final.array != 0, expected))

        session = logic.claimAndLoad(root, "V01", "reviewer")
        with testCase.assertRaises(InputError):
            logic.work.escalate("  ")
        logic.work.wholeCase(reviewrule.START_READER_B)
        testCase.assertEqual(logic.work.escalate("Is the small A-only lesion real?")["state"], "arbitration")
        session = logic.claimAndLoad(root, "A01", "arbiter")
        testCase.assertIn("Is the small A-only lesion real?", logic.work.historyText())
        testCase.assertIn("Read ", logic.work.readerNotesText())
        testCase.assertIn("proposal", logic.work.panelText())
        logic.work.wholeCase(reviewrule.START_UNION)
        with testCase.assertRaises(InputError):
            logic.work.arbitrate("")
        with testCase.assertRaises(InputError):  # the union keeps what the reviewer proposed to drop: say why
            logic.work.arbitrate("Ruling: both lesions are acute infarcts.")
        outcome = logic.work.arbitrate("Ruling: both lesions are acute infarcts.", "The A-only lesion is DWI-bright and ADC-dark.")
        testCase.assertEqual(outcome["state"], "final")
        actions = [event["action"] for event in store.events("M01")]
        for action in ("submit", "review", "escalate", "arbitrate"):
            testCase.assertIn(action, actions)
        testCase.assertEqual(logic.datasetSummary(root, "M01")["cases"], 2)
        testCase.assertIs(logic.work.store(None, root), store, "Next case and Refresh share one store")
        logic.close()


def loadCaseInWidget(testCase, widget, root) -> None:
    widget.logic.work.close()
    writeReviewDataset(root, widget.logic)
    parameterNode = widget.logic.getParameterNode()
    parameterNode.datasetRoot = root
    parameterNode.userId = "V01"
    widget.onNextCase()
    testCase.assertIsNotNone(widget.logic.work.session)
    testCase.assertGreater(widget.ui.regionTableWidget.rowCount, 0)


def editKeepsEachViewsSequence(testCase) -> None:
    """Issue 14 A5: Edit points the embedded editor at the region; DWI stays in the DWI view only."""
    with reviewWidget(testCase) as widget, tempfile.TemporaryDirectory() as folder:
        widget.logic.ensureWorkflowPackages()
        loadCaseInWidget(testCase, widget, pathlib.Path(folder))
        volumes = widget.logic.work.session.review.caseNodes.volumeNodes
        expected = [volumes[key].GetID() for key in layouts.LAYOUT_SEQUENCES]

        def backgrounds():
            return [layouts.sliceCompositeNode(slicer.mrmlScene, node).GetBackgroundVolumeID()
                    for _, node in layouts.readingViews(slicer.mrmlScene, layouts.LAYOUT_2X2_AXIAL)]

        testCase.assertEqual(backgrounds(), expected)
        widget.ui.regionTableWidget.selectRow(0)
        widget.onEdit()
        slicer.app.processEvents()
        testCase.assertEqual(backgrounds(), expected, "Edit must not put the DWI into every view")
        testCase.assertTrue(widget.ui.segmentEditorWidget.enabled)
        testCase.assertEqual(widget.ui.segmentEditorWidget.segmentationNode().GetID(), widget.logic.work.session.review.regionsNode.GetID())
        widget.onUseEdit()
        widget.logic.work.close()


def closeSceneEndsTheSession(testCase) -> None:
    """Issue 14 A6: Close Scene ends the session, keeps the unrecorded decision as a draft and says so."""
    with reviewWidget(testCase) as widget, tempfile.TemporaryDirectory() as folder:
        widget.logic.ensureWorkflowPackages()
        loadCaseInWidget(testCase, widget, pathlib.Path(folder))
        widget.ui.regionTableWidget.selectRow(0)
        widget.onDecide(reviewrule.DECISION_KEEP)
        testCase.assertTrue(widget.logic.work.hasUnsavedDecisions())
        slicer.mrmlScene.Clear(0)
        testCase.assertIsNone(widget.logic.work.session)
        testCase.assertEqual(widget.ui.regionTableWidget.rowCount, 0)
        testCase.assertIn("not recorded", widget.ui.caseStatusLabel.text)
        testCase.assertTrue(widget.logic.work.lastEnded.draftPath.is_file())


def reportRunsInTheBackground(testCase) -> None:
    """Issue 14 A7: the report runs as a separate process while Slicer's event loop keeps running."""
    with reviewWidget(testCase) as widget, tempfile.TemporaryDirectory() as folder:
        root = pathlib.Path(folder)
        tinycases.writeSimpleCase(root, "01", "01")
        widget.logic.getParameterNode().datasetRoot = root
        ticks = []
        timer = qt.QTimer()
        timer.setInterval(20)
        timer.connect("timeout()", lambda: ticks.append(1))
        timer.start()
        widget.onOpenReport()
        testCase.assertTrue(widget._tasks.running)
        testCase.assertEqual(widget.ui.openReportButton.text, "Cancel")
        deadline = time.monotonic() + 600
        while widget._tasks.running and time.monotonic() < deadline:
            slicer.app.processEvents()
            time.sleep(0.01)
        timer.stop()
        testCase.assertFalse(widget._tasks.running)
        testCase.assertIn("Acceptance report written", widget.ui.taskStatusLabel.text)
        testCase.assertTrue(list((root / "derivatives" / "lesions" / "reports").glob("acceptance-*.html")))
        testCase.assertGreater(len(ticks), 5, "the GUI must keep running while the report is written")


def sceneNeverHoldsTheDatabasePassword(testCase) -> None:
    """Issue 14 A8: a URL with a password typed in the panel leaves the field, and a saved scene has neither."""
    with reviewWidget(testCase) as widget:
        uifile.checkSceneHoldsNoPassword(testCase, widget, SECRET_URL, SECRET)
