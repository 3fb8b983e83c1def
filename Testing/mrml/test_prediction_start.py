"""The reader's case started from an AI prediction at the MRML level: the segment, the recorded origin, dropping a piece."""

import json
import os

import numpy as np
import pytest

if not os.environ.get("AIS_REQUIRE_SLICER_CORE"):
    pytest.importorskip("slicer", reason="slicer-core is not installed")

from testfiles import saveNifti  # noqa: E402

from AISAnnotatorLib.mrml import readingcase  # noqa: E402
from AISCommonLib.core import readrecord  # noqa: E402
from AISCommonLib.core.derivatives import writeReaderMask  # noqa: E402
from AISCommonLib.core.errors import GeometryError, InputError  # noqa: E402


def test_a_prediction_starts_the_segment_and_its_origin_goes_with_the_read(simpleDataset, headlessApp, loadFirstCase, tmp_path):
    root, info = simpleDataset
    loaded = loadFirstCase(root)
    case = readingcase.ReadingCase.addToScene(headlessApp.scene, loaded)
    labels = np.where(info["truth"], 1, 0).astype(np.uint8)
    labels[1, 1, 1] = 1  # a speck the model also marked
    path = saveNifti(labels.transpose(2, 1, 0), info["affine"], tmp_path / "nnunet.nii.gz", np.uint8)
    start = case.startFromPrediction(path, tool="nnU-Net v2")
    np.testing.assert_array_equal(case.lesionMask(), labels > 0)
    assert case.seedSummary["source"] == "prediction" and case.seedSummary["components"] == 2 and start.summary["tool"] == "nnU-Net v2"
    assert case.dropSeedComponent(2) == 1  # the speck goes with one click, as a seed's would
    np.testing.assert_array_equal(case.lesionMask(), info["truth"])
    parameters = readrecord.buildReadParameters({"dwi": 4, "adc": 4, "flair": 4}, {}, [], 30.0, case.seedSummary)
    record = writeReaderMask(root, loaded.case, case.lesionMask(), loaded.dwi, "R01", readrecord.readMethod(case.seedSummary), parameters)
    sidecar = json.loads(record.path.with_name(record.path.name.replace(".nii.gz", ".json")).read_text())
    assert sidecar["Method"] == "ai-prediction+manual" and sidecar["Parameters"]["seed"]["file"] == "nnunet.nii.gz"
    shifted = info["affine"].copy()
    shifted[2, 3] += 8.0
    before = case.lesionMask()
    with pytest.raises(GeometryError):
        case.startFromPrediction(saveNifti(labels.transpose(2, 1, 0), shifted, tmp_path / "shifted.nii.gz", np.uint8))
    with pytest.raises(InputError, match="several labels"):
        case.startFromPrediction(saveNifti((labels * 2 + (labels == 0)).transpose(2, 1, 0), info["affine"], tmp_path / "multi.nii.gz", np.uint8))
    np.testing.assert_array_equal(case.lesionMask(), before)  # refused: nothing changed


def test_lesion_attributes_are_tied_to_the_lesions_on_screen(simpleDataset, headlessApp, loadFirstCase):
    from AISCommonLib.core.image import voxelToRas
    from AISCommonLib.core.lesionattributes import LesionAttributes
    from AISCommonLib.mrml import segmentation

    root, info = simpleDataset
    case = readingcase.ReadingCase.addToScene(headlessApp.scene, loadFirstCase(root))
    assert case.lesionAttributeRecords([]) is None
    segmentation.setSegmentFromMask(case.segmentationNode, info["truth"], case.dwiNode)
    centre = tuple(voxelToRas(info["affine"], np.argwhere(info["truth"]).mean(axis=0)[None])[0])
    records = case.lesionAttributeRecords([LesionAttributes(centre, "no", "mca", "acute")])
    assert records["unattributed_lesions"] == [] and records["lesions"][0]["territory"] == "mca" and records["lesions"][0]["lesion"] == 1
    with pytest.raises(InputError, match="No lesion"):
        case.lesionAttributeRecords([LesionAttributes((500.0, 0.0, 0.0), territory="pca")])
