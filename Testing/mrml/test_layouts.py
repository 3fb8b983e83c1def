"""Reading layouts: registered, each view on its own sequence, linked per orientation."""

import os

import numpy as np
import pytest

if not os.environ.get("AIS_REQUIRE_SLICER_CORE"):
    pytest.importorskip("slicer", reason="slicer-core is not installed")

import slicer  # noqa: E402

from AISCommonLib.core.errors import InputError  # noqa: E402
from AISCommonLib.mrml import layouts  # noqa: E402


def backgroundName(scene, sliceNode):
    compositeNode = layouts.sliceCompositeNode(scene, sliceNode)
    return scene.GetNodeByID(compositeNode.GetBackgroundVolumeID()).GetName()


def views(scene, orientation=None):
    found = layouts.readingViews(scene, layouts.LAYOUT_4X3_MULTIPLANAR)
    return [(view, node) for view, node in found if orientation is None or view.orientation == orientation]


def test_layouts_are_registered_with_the_expected_views(headlessApp):
    layoutNode = headlessApp.layoutNode
    assert layouts.registerLayouts(layoutNode) == [5401, 5402, 5403]
    for name, layoutId in layouts.LAYOUT_IDS.items():
        assert layoutNode.IsLayoutDescription(layoutId)
        assert layouts.layoutIdByName(name) == layoutId
    expected = {5401: (4, {"Axial"}), 5402: (12, {"Axial", "Coronal", "Sagittal"}), 5403: (2, {"Axial"})}
    for layoutId, (count, orientations) in expected.items():
        layouts.setLayout(layoutNode, layoutId)
        logics = headlessApp.updateSliceLogics()
        assert len(logics) == count
        shown = layouts.readingViews(headlessApp.scene, layoutId)
        assert len(shown) == count and {view.orientation for view, _ in shown} == orientations
        assert all(node.IsMappedInLayout() for _, node in shown)
        assert all(node.GetViewGroup() == layouts.VIEW_GROUP for _, node in shown)
    with pytest.raises(InputError):
        layouts.layoutIdByName("3x3")


def test_each_view_shows_its_own_sequence(readingLayout):
    app, caseNodes, _ = readingLayout
    scene = app.scene
    names = {"dwi": "DWI", "adc": "ADC", "eadc": "eADC", "flair": "FLAIR"}
    for view, sliceNode in views(scene):
        assert backgroundName(scene, sliceNode) == names[view.sequence]
        assert sliceNode.GetAttribute(layouts.VIEW_SEQUENCE_ATTRIBUTE) == view.sequence
        assert layouts.sliceCompositeNode(scene, sliceNode).GetLinkedControl()
    # Switching to the 2x2 keeps each axial view on its sequence.
    layouts.setLayout(app.layoutNode, layouts.LAYOUT_2X2_AXIAL)
    app.updateSliceLogics()
    layouts.showSequences(app.applicationLogic, layouts.LAYOUT_2X2_AXIAL, caseNodes.volumeNodes)
    shown = layouts.readingViews(scene, layouts.LAYOUT_2X2_AXIAL)
    assert [backgroundName(scene, node) for _, node in shown] == ["DWI", "ADC", "eADC", "FLAIR"]


def test_linked_interaction_moves_every_view_of_that_orientation_only(readingLayout):
    app, _, _ = readingLayout
    scene = app.scene
    axial, coronal = views(scene, "Axial"), views(scene, "Coronal")
    dwiAxial = app.applicationLogic.GetSliceLogic(axial[0][1])
    coronalBefore = [node.GetSliceOffset() for _, node in coronal]
    target = axial[0][1].GetSliceOffset() + 8.0

    dwiAxial.SetSliceOffset(target)  # a plain setter: not propagated
    assert [round(node.GetSliceOffset(), 3) for _, node in axial[1:]] != [round(target, 3)] * 3

    dwiAxial.StartSliceOffsetInteraction()
    dwiAxial.SetSliceOffset(target + 4.0)
    dwiAxial.EndSliceOffsetInteraction()
    for _, node in axial:
        assert node.GetSliceOffset() == pytest.approx(target + 4.0, abs=1e-6)
    assert [node.GetSliceOffset() for _, node in coronal] == pytest.approx(coronalBefore)

    # Zoom (field of view) with the interaction flag: shared by every axial view.
    axialNode = axial[0][1]
    fieldOfView = np.array(axialNode.GetFieldOfView())
    dwiAxial.StartSliceNodeInteraction(slicer.vtkMRMLSliceNode.FieldOfViewFlag)
    axialNode.SetFieldOfView(*(fieldOfView * 0.5))
    dwiAxial.EndSliceNodeInteraction()
    for _, node in axial:
        np.testing.assert_allclose(node.GetFieldOfView()[:2], fieldOfView[:2] * 0.5, atol=1e-6)
    # Backgrounds stayed distinct throughout.
    assert [backgroundName(scene, node) for _, node in axial] == ["DWI", "ADC", "eADC", "FLAIR"]


def test_oblique_views_follow_the_dwi_axes(tmp_path, headlessApp, writeCase, makeAffine, loadFirstCase):
    from AISCommonLib.mrml.caseloader import addCaseToScene
    from AISCommonLib.mrml.volumes import matrixToArray

    root = tmp_path / "bids"
    affine = makeAffine(anglesDeg=(0.0, 0.0, 20.0))
    writeCase(root, affine=affine)
    caseNodes = addCaseToScene(headlessApp.scene, loadFirstCase(root))
    layouts.setLayout(headlessApp.layoutNode, layouts.LAYOUT_DWI_ADC)
    headlessApp.updateSliceLogics()
    layouts.showSequences(headlessApp.applicationLogic, layouts.LAYOUT_DWI_ADC, caseNodes.volumeNodes)
    for _, sliceNode in layouts.readingViews(headlessApp.scene, layouts.LAYOUT_DWI_ADC):
        sliceToRas = matrixToArray(sliceNode.GetSliceToRAS())[:3, :3]
        directions = affine[:3, :3] / np.linalg.norm(affine[:3, :3], axis=0)
        # Every slice axis is one of the DWI's voxel axes (up to sign).
        assert np.allclose(np.abs(directions.T @ sliceToRas).max(axis=0), 1.0, atol=1e-6)


def test_missing_reference_is_an_error(headlessApp):
    layouts.setLayout(headlessApp.layoutNode, layouts.LAYOUT_2X2_AXIAL)
    with pytest.raises(InputError, match="DWI"):
        layouts.showSequences(headlessApp.applicationLogic, layouts.LAYOUT_2X2_AXIAL, {})
