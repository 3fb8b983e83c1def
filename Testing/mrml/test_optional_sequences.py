"""T1w and T2w join the reading layouts when a case has them (and leave when the next case has not); phantoms and real cases."""

import os

import numpy as np
import pytest

if not os.environ.get("AIS_REQUIRE_SLICER_CORE"):
    pytest.importorskip("slicer", reason="slicer-core is not installed")

import vtk  # noqa: E402
from realdata import copyRealCase  # noqa: E402
from testfiles import saveNifti  # noqa: E402
from vtk.util import numpy_support  # noqa: E402

from AISCommonLib.core.cases import discoverCases  # noqa: E402
from AISCommonLib.core.sequences import loadCase  # noqa: E402
from AISCommonLib.mrml import caseloader, layouts  # noqa: E402
from AISCommonLib.mrml.snapshot import renderCaseSnapshot  # noqa: E402
from AISCommonLib.synthetic.tinycases import rotationAffine, simpleHead, writeSimpleCase  # noqa: E402


def writeCaseWithT1T2(root):
    """The tiny case plus a T1w (dark lesion-free head) and a T2w (bright CSF) on the DWI grid, in ``anat/``."""
    info = writeSimpleCase(root)
    b0 = simpleHead()[0]
    anat = root / "sub-01" / "ses-01" / "anat"
    saveNifti(b0 * 0.5, rotationAffine(), anat / "sub-01_ses-01_T1w.nii.gz", np.int16)
    saveNifti(b0 * 1.5, rotationAffine(), anat / "sub-01_ses-01_T2w.nii.gz", np.int16)
    return info


def readPng(path) -> np.ndarray:
    """RGB pixels of a PNG, top row first."""
    reader = vtk.vtkPNGReader()
    reader.SetFileName(str(path))
    reader.Update()
    width, height, _ = reader.GetOutput().GetDimensions()
    return numpy_support.vtk_to_numpy(reader.GetOutput().GetPointData().GetScalars()).reshape(height, width, -1)[::-1, :, :3]


def backgrounds(scene, layoutId):
    names = []
    for _, sliceNode in layouts.readingViews(scene, layoutId):
        volumeId = layouts.sliceCompositeNode(scene, sliceNode).GetBackgroundVolumeID()
        names.append(scene.GetNodeByID(volumeId).GetName() if volumeId else None)
    return names


def test_t1w_and_t2w_get_tiles_in_every_reading_layout(tmp_path, headlessApp):
    writeCaseWithT1T2(tmp_path / "t1t2")
    writeSimpleCase(tmp_path / "plain")
    loaded = loadCase(discoverCases(tmp_path / "t1t2")[0])
    assert loaded.t1w is not None and loaded.t2w is not None
    app = headlessApp
    caseNodes = caseloader.addCaseToScene(app.scene, loaded)
    assert caseNodes.sequenceKeys() == ["dwi", "adc", "eadc", "flair", "t1w", "t2w"]
    assert layouts.readingSequences(caseNodes.volumeNodes) == ("dwi", "adc", "eadc", "flair", "t1w", "t2w")
    layouts.setLayout(app.layoutNode, layouts.LAYOUT_2X2_AXIAL, caseNodes.volumeNodes)
    assert len(app.updateSliceLogics()) == 6
    layouts.showSequences(app.applicationLogic, layouts.LAYOUT_2X2_AXIAL, caseNodes.volumeNodes)
    assert backgrounds(app.scene, layouts.LAYOUT_2X2_AXIAL) == ["DWI", "ADC", "eADC", "FLAIR", "T1w", "T2w"]
    assert [len(row) for row in layouts.layoutViews(layouts.LAYOUT_2X2_AXIAL, caseNodes.volumeNodes)] == [3, 3]
    layouts.setLayout(app.layoutNode, layouts.LAYOUT_4X3_MULTIPLANAR, caseNodes.volumeNodes)
    assert len(app.updateSliceLogics()) == 18
    layouts.showSequences(app.applicationLogic, layouts.LAYOUT_4X3_MULTIPLANAR, caseNodes.volumeNodes)
    shown = layouts.readingViews(app.scene, layouts.LAYOUT_4X3_MULTIPLANAR)
    t2Views = [node for view, node in shown if view.sequence == "t2w"]
    assert len(t2Views) == 3 and {node.GetOrientation() for node in t2Views} == {"Axial", "Coronal", "Sagittal"}
    assert all(layouts.sliceCompositeNode(app.scene, node).GetLinkedControl() for node in t2Views)
    assert len({node.GetViewGroup() for _, node in shown}) == 1  # linked with the others
    # The next case has no T1w/T2w: the tiles go (re-registered for its sequences).
    plain = caseloader.addCaseToScene(app.scene, loadCase(discoverCases(tmp_path / "plain")[0]))
    layouts.setLayout(app.layoutNode, layouts.LAYOUT_2X2_AXIAL, plain.volumeNodes)
    assert len(app.updateSliceLogics()) == 4
    assert layouts.layoutSequences(app.scene, layouts.LAYOUT_2X2_AXIAL) == layouts.LAYOUT_SEQUENCES
    assert [view.sequence for view, _ in layouts.readingViews(app.scene, layouts.LAYOUT_2X2_AXIAL)] == ["dwi", "adc", "eadc", "flair"]


def test_the_snapshot_shows_t1w_and_t2w_with_the_outline(tmp_path):
    writeCaseWithT1T2(tmp_path / "bids")
    case = discoverCases(tmp_path / "bids")[0]
    out = tmp_path / "snapshot.png"
    summary = renderCaseSnapshot(case, out, tileSize=120)
    pixels = readPng(out)
    assert summary["size"] == [3 * 120 + 2 * 4, 2 * 120 + 4] and pixels.shape[:2] == (244, 368)
    t2Tile = pixels[124:244, 248:368].astype(int)
    red = (t2Tile[..., 0] > 120) & (t2Tile[..., 0] - t2Tile[..., 1] > 40) & (t2Tile[..., 0] - t2Tile[..., 2] > 40)
    assert red.any(), "the seed's outline is drawn on the T2w tile too"


def test_phantom_with_t1w_and_t2w(demoDataset, headlessApp):
    """Phantom sub-02 ships T1w and T2w on the FLAIR grid (0.9 x 0.9 x 5 mm): they keep their grid and get their tiles."""
    root, _ = demoDataset
    case = next(case for case in discoverCases(root) if case.caseId == "sub-02_ses-01")
    loaded = loadCase(case)
    caseNodes = caseloader.addCaseToScene(headlessApp.scene, loaded)
    assert loaded.t2w.gridShape == loaded.flair.gridShape != loaded.dwi.gridShape
    window, level = caseNodes.windowLevel["t2w"]
    assert window > 0 and level > 0
    layouts.setLayout(headlessApp.layoutNode, layouts.LAYOUT_2X2_AXIAL, caseNodes.volumeNodes)
    headlessApp.updateSliceLogics()
    layouts.showSequences(headlessApp.applicationLogic, layouts.LAYOUT_2X2_AXIAL, caseNodes.volumeNodes)
    assert backgrounds(headlessApp.scene, layouts.LAYOUT_2X2_AXIAL) == ["DWI", "ADC", "eADC", "FLAIR", "T1w", "T2w"]
    others = [case for case in discoverCases(root) if case.caseId != "sub-02_ses-01"]
    assert all(layouts.readingSequences(case.files) == layouts.LAYOUT_SEQUENCES for case in others)


@pytest.mark.parametrize("name", ["isles22-0001", "isles22-challenge-case"])
def test_real_cases_without_t1w_and_t2w_keep_the_four_tiles(name, tmp_path, headlessApp):
    root = copyRealCase(name, tmp_path)
    caseNodes = caseloader.addCaseToScene(headlessApp.scene, loadCase(discoverCases(root)[0]))
    assert "t1w" not in caseNodes.volumeNodes and "t2w" not in caseNodes.volumeNodes
    layouts.setLayout(headlessApp.layoutNode, layouts.LAYOUT_2X2_AXIAL, caseNodes.volumeNodes)
    assert len(headlessApp.updateSliceLogics()) == 4
    layouts.showSequences(headlessApp.applicationLogic, layouts.LAYOUT_2X2_AXIAL, caseNodes.volumeNodes)
    expected = ["DWI", "ADC", "eADC", "FLAIR" if "flair" in caseNodes.volumeNodes else None]
    assert backgrounds(headlessApp.scene, layouts.LAYOUT_2X2_AXIAL) == expected


def test_the_annotator_views_show_t1w_and_t2w(tmp_path, headlessApp):
    """What the AISAnnotator module shows (``ReadingViews.showLayout``): the case's T1w and T2w tiles, outline included."""
    from AISAnnotatorLib.mrml import readingcase, readingviews
    from AISCommonLib.mrml import segmentation

    writeCaseWithT1T2(tmp_path / "bids")
    reading = readingcase.ReadingCase.addToScene(headlessApp.scene, loadCase(discoverCases(tmp_path / "bids")[0]))
    views = readingviews.ReadingViews()
    views.showLayout(headlessApp.applicationLogic, headlessApp.layoutNode, "2x2", reading, headlessApp.updateSliceLogics)
    assert backgrounds(headlessApp.scene, layouts.LAYOUT_2X2_AXIAL) == ["DWI", "ADC", "eADC", "FLAIR", "T1w", "T2w"]
    outline = segmentation.outlineDisplayNode(reading.segmentationNode)
    t2View = next(node for view, node in layouts.readingViews(headlessApp.scene, layouts.LAYOUT_2X2_AXIAL) if view.sequence == "t2w")
    assert outline.IsDisplayableInView(t2View.GetID())
