"""A loaded case in a scene keeps every NIfTI geometry (oblique too) and gets a window per sequence."""

import os

import numpy as np
import pytest

if not os.environ.get("AIS_REQUIRE_SLICER_CORE"):
    pytest.importorskip("slicer", reason="slicer-core is not installed")

import nibabel as nib  # noqa: E402

from AISCommonLib.mrml.caseloader import SEQUENCE_ATTRIBUTE, addCaseToScene, findCaseVolumeNodes  # noqa: E402
from AISCommonLib.mrml.volumes import arrayFromVolumeNode, ijkToRas  # noqa: E402


@pytest.mark.parametrize("angles", [(0.0, 0.0, 0.0), (12.0, -7.0, 25.0)], ids=["axis-aligned", "oblique"])
def test_every_sequence_keeps_its_nifti_geometry(tmp_path, headlessApp, writeCase, makeAffine, loadFirstCase, angles):
    root = tmp_path / "bids"
    info = writeCase(root, affine=makeAffine(anglesDeg=angles))
    caseNodes = addCaseToScene(headlessApp.scene, loadFirstCase(root))
    assert caseNodes.sequenceKeys() == ["dwi", "adc", "eadc", "flair"]
    for key, path in info["paths"].items():
        image = nib.load(path)
        node = caseNodes.volumeNodes[key]
        np.testing.assert_allclose(ijkToRas(node), image.affine, atol=1e-5)
        np.testing.assert_array_equal(arrayFromVolumeNode(node), np.asanyarray(image.dataobj).transpose(2, 1, 0))
    assert {key: node.GetName() for key, node in caseNodes.volumeNodes.items()} == {"dwi": "DWI", "adc": "ADC", "eadc": "eADC", "flair": "FLAIR"}
    assert findCaseVolumeNodes(headlessApp.scene) == caseNodes.volumeNodes
    assert caseNodes.volumeNodes["adc"].GetAttribute(SEQUENCE_ATTRIBUTE) == "adc"


@pytest.mark.parametrize(("unitKey", "expectedWindow", "expectedLevel"), [("1e-6", 1600.0, 800.0), ("1e-3", 1.6, 0.8), ("mm2/s", 1.6e-3, 0.8e-3)])
def test_adc_window_is_in_the_detected_unit(tmp_path, headlessApp, writeCase, loadFirstCase, unitKey, expectedWindow, expectedLevel):
    root = tmp_path / "bids"
    writeCase(root, adcUnit=unitKey)
    caseNodes = addCaseToScene(headlessApp.scene, loadFirstCase(root))
    display = caseNodes.volumeNodes["adc"].GetDisplayNode()
    assert caseNodes.adcUnit.key == unitKey
    assert display.GetWindow() == pytest.approx(expectedWindow, rel=1e-6)
    assert display.GetLevel() == pytest.approx(expectedLevel, rel=1e-6)
    assert not display.GetAutoWindowLevel()
    assert display.GetColorNodeID() == "vtkMRMLColorTableNodeGrey"


def test_dwi_window_keeps_the_lesion_below_saturation(simpleCaseNodes):
    _, caseNodes, info = simpleCaseNodes
    window, level = caseNodes.windowLevel["dwi"]
    dwi = arrayFromVolumeNode(caseNodes.dwiNode)
    lesionMedian = float(np.median(dwi[info["truth"]]))
    assert level - window / 2 < lesionMedian < level + window / 2
