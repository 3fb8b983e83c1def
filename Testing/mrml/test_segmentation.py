"""The reader's segmentation: seed segment, export to the exact DWI grid, import, fill/outline per view."""

import os

import numpy as np
import pytest

if not os.environ.get("AIS_REQUIRE_SLICER_CORE"):
    pytest.importorskip("slicer", reason="slicer-core is not installed")

import nibabel as nib  # noqa: E402

from AISCommonLib.core.errors import GeometryError, InputError  # noqa: E402
from AISCommonLib.core.seeding import seedLesion  # noqa: E402
from AISCommonLib.mrml import layouts, segmentation  # noqa: E402
from AISCommonLib.mrml.caseloader import addCaseToScene  # noqa: E402
from AISCommonLib.mrml.volumes import ijkToRas  # noqa: E402


@pytest.fixture(params=[(0.0, 0.0, 0.0), (12.0, -7.0, 25.0)], ids=["axis-aligned", "oblique"])
def caseScene(request, tmp_path, headlessApp, writeCase, makeAffine, loadFirstCase):
    root = tmp_path / "bids"
    info = writeCase(root, affine=makeAffine(anglesDeg=request.param))
    return headlessApp, addCaseToScene(headlessApp.scene, loadFirstCase(root)), info, root


def test_seed_segment_equals_the_library_seed(caseScene):
    app, caseNodes, _, _ = caseScene
    seed = seedLesion(caseNodes.loaded)
    assert seed.mask.any()
    node = segmentation.createReaderSegmentation(app.scene, caseNodes.dwiNode)
    assert segmentation.seedSegment(node, seed, caseNodes.dwiNode) == segmentation.LESION_SEGMENT_ID
    assert node.GetSegmentation().GetNumberOfSegments() == 1
    np.testing.assert_array_equal(segmentation.segmentMask(node, caseNodes.dwiNode), seed.mask)


def test_round_trip_to_a_nifti_mask_on_the_dwi_grid(caseScene, tmp_path):
    app, caseNodes, info, _ = caseScene
    node = segmentation.createReaderSegmentation(app.scene, caseNodes.dwiNode)
    segmentation.setSegmentFromMask(node, info["truth"], caseNodes.dwiNode)
    path = segmentation.writeSegmentMask(node, caseNodes.dwiNode, tmp_path / "mask.nii.gz")
    written = nib.load(path)
    dwi = nib.load(info["paths"]["dwi"])
    assert written.shape == dwi.shape
    assert written.get_data_dtype() == np.uint8
    np.testing.assert_allclose(written.affine, dwi.affine, atol=1e-5)
    np.testing.assert_allclose(written.get_qform(), written.get_sform(), atol=1e-6)
    np.testing.assert_array_equal(np.asanyarray(written.dataobj).transpose(2, 1, 0), info["truth"].astype(np.uint8))
    # Import into a fresh segment and export again: identical.
    other = segmentation.createReaderSegmentation(app.scene, caseNodes.dwiNode, "Imported")
    segmentation.importMask(other, path, caseNodes.dwiNode)
    np.testing.assert_array_equal(segmentation.segmentMask(other, caseNodes.dwiNode), info["truth"])


def test_submit_writes_a_versioned_reader_mask(caseScene):
    app, caseNodes, info, root = caseScene
    node = segmentation.createReaderSegmentation(app.scene, caseNodes.dwiNode)
    segmentation.setSegmentFromMask(node, info["truth"], caseNodes.dwiNode)
    first = segmentation.submitReaderMask(root, caseNodes, node, "R01", "manual", {"note": "test"})
    second = segmentation.submitReaderMask(root, caseNodes, node, "R01")
    assert (first.version, second.version) == (1, 2)
    assert first.sidecar["Voxels"] == int(info["truth"].sum())
    written = nib.load(first.path)
    np.testing.assert_allclose(written.affine, ijkToRas(caseNodes.dwiNode), atol=1e-5)
    np.testing.assert_array_equal(np.asanyarray(written.dataobj).transpose(2, 1, 0), info["truth"].astype(np.uint8))


def test_bad_masks_are_refused(caseScene, tmp_path):
    app, caseNodes, info, _ = caseScene
    node = segmentation.createReaderSegmentation(app.scene, caseNodes.dwiNode)
    with pytest.raises(InputError, match="DWI grid"):
        segmentation.setSegmentFromMask(node, np.zeros((3, 4, 5), dtype=bool), caseNodes.dwiNode)
    with pytest.raises(InputError, match="no segment"):
        segmentation.segmentMask(node, caseNodes.dwiNode, "missing")
    shifted = info["affine"].copy()
    shifted[:3, 3] += 10.0
    offGrid = nib.Nifti1Image(info["truth"].transpose(2, 1, 0).astype(np.uint8), shifted)
    nib.save(offGrid, tmp_path / "offgrid.nii.gz")
    with pytest.raises(GeometryError):
        segmentation.importMask(node, tmp_path / "offgrid.nii.gz", caseNodes.dwiNode)
    multi = nib.Nifti1Image((info["truth"].astype(np.uint8) * 2 + (np.arange(info["truth"].size).reshape(info["truth"].shape) == 0)).transpose(2, 1, 0), info["affine"])
    nib.save(multi, tmp_path / "multi.nii.gz")
    with pytest.raises(InputError, match="binary"):
        segmentation.importMask(node, tmp_path / "multi.nii.gz", caseNodes.dwiNode)


def test_fill_on_dwi_views_and_outline_elsewhere(readingLayout):
    app, caseNodes, info = readingLayout
    node = segmentation.createReaderSegmentation(app.scene, caseNodes.dwiNode)
    shown = layouts.readingViews(app.scene, layouts.LAYOUT_4X3_MULTIPLANAR)
    dwiViews = [sliceNode for view, sliceNode in shown if view.sequence == "dwi"]
    otherViews = [sliceNode for view, sliceNode in shown if view.sequence != "dwi"]
    fill, outline = segmentation.setFillAndOutlineViews(app.scene, node, dwiViews, otherViews)
    assert node.GetNumberOfDisplayNodes() == 2 and segmentation.outlineDisplayNode(node) is outline
    for sliceNode in dwiViews:
        assert fill.IsDisplayableInView(sliceNode.GetID()) and not outline.IsDisplayableInView(sliceNode.GetID())
    for sliceNode in otherViews:
        assert outline.IsDisplayableInView(sliceNode.GetID()) and not fill.IsDisplayableInView(sliceNode.GetID())
    assert fill.GetVisibility2DFill() and not outline.GetVisibility2DFill() and outline.GetVisibility2DOutline()
    # Calling again reuses the outline display node.
    segmentation.setFillAndOutlineViews(app.scene, node, dwiViews, otherViews)
    assert node.GetNumberOfDisplayNodes() == 2
