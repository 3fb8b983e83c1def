"""Issue 14 A2 and A3: the reading layout follows the parameter node after it changed, and showing a case again
(re-entering the module, coming back to a layout) keeps the reader's zoom and pan."""

import os

import numpy as np
import pytest

if not os.environ.get("AIS_REQUIRE_SLICER_CORE"):
    pytest.importorskip("slicer", reason="slicer-core is not installed")

import slicer  # noqa: E402
import vtk  # noqa: E402

from AISAnnotatorLib.mrml import readingcase, readingviews  # noqa: E402
from AISCommonLib.mrml import layouts  # noqa: E402
from AISCommonLib.mrml.volumes import matrixToArray  # noqa: E402
from AISCommonLib.synthetic import tinycases  # noqa: E402


@pytest.fixture
def reader(simpleDataset, headlessApp, loadFirstCase):
    """``(app, reading, views, show)`` with ``show(name)`` doing what the AISAnnotator Logic does."""
    root, _ = simpleDataset
    reading = readingcase.ReadingCase.addToScene(headlessApp.scene, loadFirstCase(root))
    views = readingviews.ReadingViews()

    def show(name, case=None):
        return views.showLayout(headlessApp.applicationLogic, headlessApp.layoutNode, name, case or reading, headlessApp.updateSliceLogics)

    return headlessApp, reading, views, show


def viewState(scene, layoutId) -> dict:
    """Field of view and slice-to-RAS of every view of a layout."""
    return {view.layoutName: (np.array(node.GetFieldOfView()), matrixToArray(node.GetSliceToRAS()))
            for view, node in layouts.readingViews(scene, layoutId)}


def assertSameState(first: dict, second: dict) -> None:
    assert first.keys() == second.keys()
    for name in first:
        np.testing.assert_allclose(first[name][0], second[name][0], err_msg=name)
        np.testing.assert_allclose(first[name][1], second[name][1], err_msg=name)


def zoomAndPan(app, layoutId) -> None:
    """The reader zooms into the DWI view and pans it; linked views follow (interaction flags, as the mouse does)."""
    _, sliceNode = layouts.readingViews(app.scene, layoutId)[0]
    logic = app.applicationLogic.GetSliceLogic(sliceNode)
    logic.StartSliceNodeInteraction(slicer.vtkMRMLSliceNode.FieldOfViewFlag | slicer.vtkMRMLSliceNode.XYZOriginFlag)
    fieldOfView = sliceNode.GetFieldOfView()
    sliceNode.SetFieldOfView(fieldOfView[0] / 3, fieldOfView[1] / 3, fieldOfView[2])
    sliceNode.SetXYZOrigin(7.0, -5.0, 0.0)
    logic.EndSliceNodeInteraction()


def test_showing_the_case_again_keeps_zoom_and_pan(reader):
    app, reading, _, show = reader
    axial = layouts.LAYOUT_2X2_AXIAL
    assert show("2x2") is True
    fitted = viewState(app.scene, axial)
    zoomAndPan(app, axial)
    zoomed = viewState(app.scene, axial)
    assert not np.allclose(zoomed["AISDWIAxial"][0], fitted["AISDWIAxial"][0])
    np.testing.assert_allclose(zoomed["AISFLAIRAxial"][0], zoomed["AISDWIAxial"][0]), "linked views zoom together"

    assert show("2x2") is False, "re-entering the module shows the same layout again"
    assertSameState(viewState(app.scene, axial), zoomed)
    assert show("4x3") is True and show("2x2") is False
    assertSameState(viewState(app.scene, axial), zoomed)
    backgrounds = [layouts.sliceCompositeNode(app.scene, node).GetBackgroundVolumeID() for _, node in layouts.readingViews(app.scene, axial)]
    assert backgrounds == [reading.caseNodes.volumeNodes[key].GetID() for key in layouts.LAYOUT_SEQUENCES]

    # What the module did before: fit on every showing, which threw the reader's zoom away.
    layouts.showSequences(app.applicationLogic, axial, reading.caseNodes.volumeNodes)
    assertSameState(viewState(app.scene, axial), fitted)


def test_a_new_case_is_fitted_again(reader, tmp_path, loadFirstCase):
    app, reading, _, show = reader
    show("2x2")
    fitted = viewState(app.scene, layouts.LAYOUT_2X2_AXIAL)
    zoomAndPan(app, layouts.LAYOUT_2X2_AXIAL)
    reading.removeFromScene(app.scene)
    tinycases.writeSimpleCase(tmp_path / "other")
    following = readingcase.ReadingCase.addToScene(app.scene, loadFirstCase(tmp_path / "other"))
    assert show("2x2", following) is True, "a newly loaded case (here with the same ID) is fitted"
    assertSameState(viewState(app.scene, layouts.LAYOUT_2X2_AXIAL), fitted)


def test_the_layout_follows_the_parameter_node_after_it_changed(reader):
    """The module observes its parameter node and shows the layout stored there; the value it reads is the new one."""
    app, _, _, show = reader
    show("2x2")
    follower = readingviews.LayoutFollower()
    follower.shown("2x2")
    parameterNode = slicer.vtkMRMLScriptedModuleNode()
    parameterNode.SetAttribute("ModuleName", "AISAnnotator")
    app.scene.AddNode(parameterNode)
    shown = []

    def onModified(caller, event):
        name = caller.GetParameter("readingLayout")
        if follower.changed(name):
            show(name)
            shown.append(name)

    parameterNode.AddObserver(vtk.vtkCommand.ModifiedEvent, onModified)
    for name in ("4x3", "dwi-adc", "2x2"):
        parameterNode.SetParameter("readingLayout", name)
        assert app.layoutNode.GetViewArrangement() == layouts.layoutIdByName(name), f"{name} chosen, another shown"
    zoomAndPan(app, layouts.LAYOUT_2X2_AXIAL)
    zoomed = viewState(app.scene, layouts.LAYOUT_2X2_AXIAL)
    parameterNode.SetParameter("readingLayout", "2x2")
    parameterNode.Modified()  # what connecting the GUI on entering the module does: no change, no new showing
    assert shown == ["4x3", "dwi-adc", "2x2"]
    assertSameState(viewState(app.scene, layouts.LAYOUT_2X2_AXIAL), zoomed)
