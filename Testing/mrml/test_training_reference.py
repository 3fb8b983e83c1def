"""Training feedback in the scene: a trial case's reference shown over the trainee's read, never exported with it."""

import os

import numpy as np
import pytest

if not os.environ.get("AIS_REQUIRE_SLICER_CORE"):
    pytest.importorskip("slicer", reason="slicer-core is not installed")

from AISAnnotatorLib.mrml import readingcase  # noqa: E402
from AISCommonLib.core.errors import GeometryError  # noqa: E402
from AISCommonLib.core.image import writeNifti  # noqa: E402
from AISCommonLib.mrml import segmentation  # noqa: E402


def test_the_reference_is_shown_beside_the_read_and_removed(simpleDataset, headlessApp, loadFirstCase, tmp_path):
    root, info = simpleDataset
    case = readingcase.ReadingCase.addToScene(headlessApp.scene, loadFirstCase(root))
    read = info["truth"].copy()
    read[tuple(np.argwhere(read)[0])] = False
    segmentation.setSegmentFromMask(case.segmentationNode, read, case.dwiNode)
    reference = tmp_path / "reference.nii.gz"
    writeNifti(info["truth"].astype(np.uint8), info["affine"], reference)
    assert case.showTrainingReference(reference) == int(info["truth"].sum())
    np.testing.assert_array_equal(case.lesionMask(), read)  # the read itself is unchanged
    segment = case.segmentationNode.GetSegmentation().GetSegment(readingcase.TRAINING_REFERENCE_SEGMENT_ID)
    assert segment.GetName() == "Reference (training)"
    case.hideTrainingReference()
    assert case.segmentationNode.GetSegmentation().GetSegment(readingcase.TRAINING_REFERENCE_SEGMENT_ID) is None
    shifted = info["affine"].copy()
    shifted[0, 3] += 10.0
    writeNifti(info["truth"].astype(np.uint8), shifted, tmp_path / "shifted.nii.gz")
    with pytest.raises(GeometryError):
        case.showTrainingReference(tmp_path / "shifted.nii.gz")
