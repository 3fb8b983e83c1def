"""Issue 14 A1: reading, showing and replacing masks must not grow the scene.

A reader steps through many cases and the widgets read the lesion mask on every check, step, hint and save;
before the fix each read left a colour table and a display node behind, and each case left its display nodes.
"""

import collections
import os

import numpy as np
import pytest
import reviewdata

if not os.environ.get("AIS_REQUIRE_SLICER_CORE"):
    pytest.importorskip("slicer", reason="slicer-core is not installed")

from AISAnnotatorLib.mrml import readingcase  # noqa: E402
from AISCommonLib.core.seeding import SeedParameters  # noqa: E402
from AISCommonLib.mrml import decisions, layouts, nodes, reviewscene, segmentation  # noqa: E402
from AISCommonLib.synthetic import tinycases  # noqa: E402


def nodeCounts(scene) -> collections.Counter:
    return collections.Counter(scene.GetNthNode(index).GetClassName() for index in range(scene.GetNumberOfNodes()))


def showReadingLayout(app, reading) -> None:
    """What the AISAnnotator Logic does when it shows a case: layout, sequences, fill on DWI, outline elsewhere."""
    layouts.setLayout(app.layoutNode, layouts.LAYOUT_2X2_AXIAL)
    app.updateSliceLogics()
    layouts.showSequences(app.applicationLogic, layouts.LAYOUT_2X2_AXIAL, reading.caseNodes.volumeNodes)
    views = layouts.readingViews(app.scene, layouts.LAYOUT_2X2_AXIAL)
    segmentation.setFillAndOutlineViews(app.scene, reading.segmentationNode, [node for view, node in views if view.sequence == "dwi"],
                                        [node for view, node in views if view.sequence != "dwi"])


def test_reading_the_mask_many_times_keeps_the_node_count(simpleDataset, headlessApp, loadFirstCase):
    root, _ = simpleDataset
    scene = headlessApp.scene
    reading = readingcase.ReadingCase.addToScene(scene, loadFirstCase(root))
    reading.seed(SeedParameters(), None)
    showReadingLayout(headlessApp, reading)
    reading.lesionMask()
    before = nodeCounts(scene)
    for _ in range(10):
        reading.lesionMask()
        reading.hasUnsavedEdits()
        reading.stepLesion(scene, 1)
        reading.hints()
        showReadingLayout(headlessApp, reading)
    assert nodeCounts(scene) == before


def test_the_old_export_left_two_nodes_per_read(simpleDataset, headlessApp, loadFirstCase):
    """The defect, reproduced by hand: a labelmap export removed alone leaves its display node and colour table."""
    import slicer
    import vtk

    root, _ = simpleDataset
    scene = headlessApp.scene
    reading = readingcase.ReadingCase.addToScene(scene, loadFirstCase(root))
    reading.lesionMask()
    before = nodeCounts(scene)
    labelmap = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode")
    segmentIds = vtk.vtkStringArray()
    segmentIds.InsertNextValue(segmentation.LESION_SEGMENT_ID)
    assert slicer.vtkSlicerSegmentationsModuleLogic.ExportSegmentsToLabelmapNode(reading.segmentationNode, segmentIds, labelmap, reading.dwiNode)
    colorTable = labelmap.GetDisplayNode().GetColorNode()
    scene.RemoveNode(labelmap)
    left = nodeCounts(scene) - before
    assert left == collections.Counter({"vtkMRMLLabelMapVolumeDisplayNode": 1, "vtkMRMLColorTableNode": 1})
    nodes.removeNodes(scene, [labelmap], [colorTable])
    assert nodeCounts(scene) - before == collections.Counter({"vtkMRMLLabelMapVolumeDisplayNode": 1}), "only what is still in the scene goes"


def test_stepping_through_cases_returns_to_the_same_scene(tmp_path, headlessApp, loadFirstCase):
    scene = headlessApp.scene
    counts = []
    for index in range(4):
        root = tmp_path / f"bids{index}"
        tinycases.writeSimpleCase(root)
        reading = readingcase.ReadingCase.addToScene(scene, loadFirstCase(root))
        reading.seed(SeedParameters(), None)
        showReadingLayout(headlessApp, reading)
        reading.notesNode.AddControlPoint(0.0, 0.0, 0.0, "N1")
        reading.lesionMask()
        assert reading.removeFromScene(scene) > len(reading.nodes())
        counts.append(nodeCounts(scene))
    # The first case creates the layout's slice views (singletons, kept); after that nothing accumulates.
    assert counts[1] == counts[2] == counts[3]
    assert not any(name.endswith("DisplayNode") and "Slice" not in name and "Crosshair" not in name for name in counts[3] - counts[0])


def test_review_cases_leave_nothing_behind(simpleCaseNodes):
    app, caseNodes, info = simpleCaseNodes
    scene = app.scene
    maskA, maskB = reviewdata.twoReads(info["truth"])
    nodes.removeNodes(scene, caseNodes.volumeNodes.values())
    counts = []
    for _ in range(3):
        review = reviewscene.loadReview(scene, caseNodes.loaded, maskA, maskB, readerIds=("R01", "R02"))
        decisions.setRegionDecision(review, review.regionIds[0], "keep")
        decisions.commitRegionEdit(review, review.regionIds[1])
        assert np.array_equal(decisions.finalMask(review, fromSegment=True), decisions.finalMask(review))
        reviewscene.removeReview(scene, review)
        counts.append(nodeCounts(scene))
    # The first review adds the scene's subject hierarchy singleton; nothing else stays.
    assert counts[0] == counts[1] == counts[2]
