"""The review scene: reads and discordant regions as segments, region table, jump-to, decisions, final mask,
whole-case actions and the per-region pictures (slicer-core, no Slicer application)."""

import numpy as np
import pytest
import reviewdata

from AISCommonLib.core.adjudication import Adjudication
from AISCommonLib.core.agreement import compareMasks
from AISCommonLib.core.consensus import intersectionMask, unionMask
from AISCommonLib.mrml import decisions, regionsnapshot, reviewscene
from AISCommonLib.mrml.crosshair import crosshairRas, sliceCenterRas
from AISCommonLib.mrml.layouts import LAYOUT_2X2_AXIAL, readingViews, setLayout, showSequences
from AISCommonLib.mrml.segmentation import segmentMask
from AISCommonLib.mrml.volumes import ijkToRas


@pytest.fixture
def review(simpleCaseNodes):
    """``(app, review, maskA, maskB, info)`` for the simple case with two discordant reads."""
    app, caseNodes, info = simpleCaseNodes
    maskA, maskB = reviewdata.twoReads(info["truth"])
    scene = reviewscene.loadReview(app.scene, caseNodes.loaded, maskA, maskB, readerIds=("R01", "R02"), caseNodes=caseNodes)
    return app, scene, maskA, maskB, info


def test_reads_and_regions_are_segments_equal_to_the_library(review):
    app, scene, maskA, maskB, _ = review
    dwi = scene.dwiNode
    assert np.array_equal(segmentMask(scene.readsNode, dwi, reviewscene.READER_A_SEGMENT_ID), maskA)
    assert np.array_equal(segmentMask(scene.readsNode, dwi, reviewscene.READER_B_SEGMENT_ID), maskB)
    expected = compareMasks(maskA, maskB, ijkToRas(dwi))
    assert [(r.regionId, r.kind, r.regionType) for r in scene.result.regions] == [(r.regionId, r.kind, r.regionType) for r in expected.regions]
    assert [(r.kind, r.regionType) for r in scene.result.regions] == [("a_only", "missed_lesion"), ("b_only", "extent"), ("b_only", "missed_lesion")]
    segmentation = scene.regionsNode.GetSegmentation()
    assert segmentation.GetNumberOfSegments() == len(expected.regions)
    colors = set()
    for region in expected.regions:
        segmentId = reviewscene.regionSegmentId(region.regionId)
        libraryVoxels = expected.regionMap.toFullGrid(expected.regionMap.labels == region.regionId)
        assert np.array_equal(segmentMask(scene.regionsNode, dwi, segmentId), libraryVoxels)
        segment = segmentation.GetSegment(segmentId)
        assert segment.GetName().startswith(f"Region {region.regionId}: ")
        colors.add(tuple(round(value, 3) for value in segment.GetColor()))
    assert segmentation.GetSegment("region_1").GetName() == "Region 1: A only, missed lesion"
    assert len(colors) == 2  # A-only and B-only colours
    readColors = [scene.readsNode.GetSegmentation().GetSegment(segmentId).GetColor()
                  for segmentId in (reviewscene.READER_A_SEGMENT_ID, reviewscene.READER_B_SEGMENT_ID)]
    assert readColors[0] != readColors[1]


def test_region_table_has_units_contrast_and_position(review):
    _, scene, _, _, info = review
    rows = reviewscene.regionTable(scene)
    assert [row["regionId"] for row in rows] == [1, 2, 3]
    first = rows[0]
    assert first["adcUnitLabel"] == "x 1e-6 mm^2/s"
    assert first["volumeMl"] == pytest.approx(48 * 16 / 1000)
    assert 600 < first["meanAdc"] < 950  # drawn on normal parenchyma
    assert first["dwiRatio"] == pytest.approx(1.0, abs=0.1)
    assert first["decision"] is None and len(first["centroidRas"]) == 3
    assert rows[2]["meanAdc"] < 300  # outside the head


def test_jump_to_region_centres_every_view(review):
    app, scene, *_ = review
    setLayout(app.layoutNode, LAYOUT_2X2_AXIAL)
    app.updateSliceLogics()
    showSequences(app.applicationLogic, LAYOUT_2X2_AXIAL, scene.caseNodes.volumeNodes)
    navigator = reviewscene.RegionNavigator(scene)
    visited = []
    for _ in range(4):
        region = reviewscene.stepRegion(app.scene, scene, navigator, +1)
        visited.append(region.regionId)
        views = readingViews(app.scene, LAYOUT_2X2_AXIAL)
        assert len(views) == 4
        for _, sliceNode in views:
            assert np.allclose(sliceCenterRas(sliceNode), region.centroidRas, atol=1e-3)
        assert np.allclose(crosshairRas(app.scene), region.centroidRas)
    assert visited == [1, 2, 3, 1]
    assert reviewscene.stepRegion(app.scene, scene, navigator, -1).regionId == 3


def test_decisions_give_the_expected_final_mask_on_the_dwi_grid(review, tmp_path):
    _, scene, maskA, maskB, _ = review
    agreed = maskA & maskB
    regionMap = scene.result.regionMap

    def region(regionId):
        return regionMap.toFullGrid(regionMap.labels == regionId)

    assert np.array_equal(segmentMask(scene.finalNode, scene.dwiNode, reviewscene.FINAL_SEGMENT_ID), agreed)
    decisions.setRegionDecision(scene, 1, "keep", note="DWI-bright, ADC-dark")
    decisions.setRegionDecision(scene, 2, "drop")
    final = decisions.setRegionDecision(scene, 3, "drop", note="outside the brain")
    assert np.array_equal(final, agreed | region(1))
    assert np.array_equal(decisions.finalMask(scene, fromSegment=True), agreed | region(1))
    assert scene.adjudication.undecided() == []
    table = {row["regionId"]: row for row in reviewscene.regionTable(scene)}
    assert table[1]["decision"] == "keep" and table[1]["note"] == "DWI-bright, ADC-dark"

    # Edit region 2: keep its upper half only, redrawn in the region's segment.
    edited = region(2)
    edited[:10] = False
    decisions.setRegionDecision(scene, 2, "edited")
    decisions.setRegionSegmentMask(scene, 2, edited)
    final = decisions.commitRegionEdit(scene, 2)
    assert np.array_equal(final, agreed | region(1) | edited)
    storeDecisions, default, editedMask = scene.adjudication.storeDecisions()
    assert storeDecisions == {1: "keep", 2: "edited", 3: "drop"}
    assert np.array_equal(editedMask, final)
    assert "Region 3: B only, missed lesion: drop (outside the brain)" in scene.adjudication.notesText("case note")

    volume = decisions.finalVolume(scene)
    assert volume.array.shape == tuple(reversed(scene.dwiNode.GetImageData().GetDimensions()))
    assert np.abs(volume.ijkToRas - ijkToRas(scene.dwiNode)).max() < 1e-6
    import nibabel as nib

    from AISCommonLib.core.consensus import writeConsensusMask

    path = tmp_path / "final.nii.gz"
    writeConsensusMask(volume.array != 0, volume.ijkToRas, path)
    image = nib.load(str(path))
    assert image.shape == scene.caseNodes.loaded.dwi.array.shape[::-1]
    assert np.abs(image.affine - scene.caseNodes.loaded.dwi.ijkToRas).max() < 1e-4
    assert np.array_equal(np.asarray(image.dataobj).transpose(2, 1, 0) != 0, final)


def test_starting_points(review):
    _, scene, maskA, maskB, _ = review
    assert np.array_equal(decisions.applyStartingPoint(scene, "reader_a"), maskA)
    assert np.array_equal(decisions.applyStartingPoint(scene, "reader_b"), maskB)
    assert np.array_equal(decisions.applyStartingPoint(scene, "union"), unionMask([maskA, maskB]))
    assert np.array_equal(decisions.applyStartingPoint(scene, "intersection"), intersectionMask([maskA, maskB]))
    final = decisions.applyStartingPoint(scene, "staple")
    assert (maskA & maskB).sum() <= final.sum() <= (maskA | maskB).sum()
    assert scene.adjudication.startingPoint == "staple" and scene.adjudication.undecided() == []
    assert np.array_equal(decisions.finalMask(scene, fromSegment=True), final)
    # A decision by hand changes that region only; the starting point stays recorded.
    decisions.setRegionDecision(scene, 1, "keep")
    assert scene.adjudication.startingPoint == "staple" and scene.adjudication.undecided() == []


def test_metrics_panel(review):
    _, scene, maskA, maskB, _ = review
    decisions.applyStartingPoint(scene, "reader_a")
    panel = decisions.metrics(scene)
    shared = int((maskA & maskB).sum())
    assert panel["dice"] == pytest.approx(2 * shared / (maskA.sum() + maskB.sum()))
    assert (panel["lesionsA"], panel["lesionsB"], panel["missedLesions"]) == (2, 2, 2)
    assert panel["hd95Mm"] > 0 and panel["assdMm"] > 0 and 0 <= panel["lesionF1"] <= 1
    assert panel["finalDiceA"] == pytest.approx(1.0) and panel["finalVolumeMl"] == pytest.approx(panel["volumeAMl"])
    assert {"pairs", "a", "b"} <= set(panel["lesionTable"])


def test_adjudication_refuses_unknown_regions_and_decisions(review):
    from AISCommonLib.core.errors import InputError

    _, scene, maskA, maskB, _ = review
    with pytest.raises(InputError):
        scene.adjudication.setDecision(9, "keep")
    with pytest.raises(InputError):
        scene.adjudication.setDecision(1, "maybe")
    with pytest.raises(InputError):
        scene.adjudication.storeDecisions()
    with pytest.raises(InputError):
        Adjudication(scene.result, maskA[1:], maskB)


def _colorPixels(pixels, color, tolerance=40):
    target = np.array([round(value * 255) for value in color])
    return int((np.abs(pixels.astype(int) - target).max(axis=-1) <= tolerance).sum())


def test_region_pictures_show_both_reads_outlines(review, tmp_path):
    app, scene, *_ = review
    pictures = regionsnapshot.renderRegions(app, scene, tileSize=(160, 160))
    assert sorted(pictures) == [1, 2, 3]
    pixels = pictures[2]  # the extent region: both outlines around it
    assert pixels.shape[1:] == (2 * 160 + 4, 3) and pixels.shape[0] > 2 * 160 + 4 and pixels.std() > 10  # tiles, then the caption band
    assert _colorPixels(pixels, reviewscene.READER_A_COLOR) > 20
    assert _colorPixels(pixels, reviewscene.READER_B_COLOR) > 20
    from AISCommonLib.mrml.offscreen import writePng

    path = tmp_path / "region.png"
    writePng(pixels, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_small_regions_are_listed_shown_together_and_decided_in_bulk(simpleCaseNodes):
    from AISCommonLib.core.agreement import AgreementParameters
    from AISCommonLib.core.errors import InputError

    app, caseNodes, info = simpleCaseNodes
    maskA, maskB = reviewdata.twoReads(info["truth"])
    specks = np.argwhere(maskA & maskB)[:2]
    for speck in specks:  # two one-voxel boundary disagreements: B leaves out voxels A drew
        maskB[tuple(speck)] = False
    scene = reviewscene.loadReview(app.scene, caseNodes.loaded, maskA, maskB, AgreementParameters(minExtentMm3=50), caseNodes=caseNodes)
    small = sorted(scene.adjudication.smallIds)
    assert small and set(small) <= set(scene.regionIds)
    assert scene.regionsNode.GetSegmentation().GetSegment(reviewscene.SMALL_REGIONS_SEGMENT_ID) is not None
    rows = {row["regionId"]: row for row in reviewscene.regionTable(scene)}
    assert all(rows[regionId]["small"] and rows[regionId]["drawnBy"] == "A" for regionId in small)
    assert set(small) <= set(scene.adjudication.undecided())
    before = scene.adjudication.toDict()
    with pytest.raises(InputError, match="small regions shown together"):
        decisions.setRegionDecision(scene, small[0], "edited")
    assert scene.adjudication.toDict() == before
    final = decisions.setSmallRegionsDecision(scene, "keep")
    assert all(final[tuple(speck)] for speck in specks) and not set(small) & set(scene.adjudication.undecided())
    assert not decisions.setSmallRegionsDecision(scene, "drop")[tuple(specks[0])]
    decisions.setRegionDecision(scene, small[0], "keep")  # one of them by hand wins over the bulk decision
    storeDecisions, _, _ = scene.adjudication.storeDecisions(requireAll=False)
    assert storeDecisions[small[0]] == "keep" and all(storeDecisions[regionId] == "drop" for regionId in small[1:])
    reviewscene.showOnlyRegion(scene, small[0])
    reviewscene.showOnlyRegion(scene, None)
