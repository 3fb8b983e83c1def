"""Region pictures drawn by helper processes (``ais review-snapshot --workers``): the same pixels as the earlier
single-process path, every picture drawn even when a helper fails, nothing left running or half-written after a cancel.

The reference pictures are made the way ``review-snapshot`` made them before helpers existed: one
``LayoutRenderer`` in this process, VTK's image filters threaded as VTK sets them up. The tolerance is zero:
every pixel must be equal.
"""

import logging
import multiprocessing

import numpy as np
import pytest
import reviewdata
import vtk
from vtk.util import numpy_support

from AISCommonLib.core.agreement import AgreementParameters
from AISCommonLib.core.cases import discoverCases
from AISCommonLib.core.errors import OperationCancelled
from AISCommonLib.core.image import writeNifti
from AISCommonLib.core.sequences import loadCase
from AISCommonLib.mrml import picturehelpers, regionsnapshot
from AISCommonLib.mrml.headless import createHeadlessApplication
from AISCommonLib.mrml.layouts import LAYOUT_2X2_AXIAL, setLayout
from AISCommonLib.mrml.reviewscene import loadReview
from AISCommonLib.mrml.snapshot import LayoutRenderer

TILE = 128


@pytest.fixture
def reads(simpleDataset, tmp_path, converterRules):
    """``(case, loaded, maskA, maskB, pathA, pathB)`` of the simple case with two reads written as NIfTI files."""
    root, info = simpleDataset
    case = discoverCases(root)[0]
    loaded = loadCase(case)
    maskA, maskB = reviewdata.twoReads(info["truth"])
    pathA, pathB = tmp_path / "readA.nii.gz", tmp_path / "readB.nii.gz"
    writeNifti(maskA.astype(np.uint8), loaded.dwi.ijkToRas, pathA)
    writeNifti(maskB.astype(np.uint8), loaded.dwi.ijkToRas, pathB)
    return case, loaded, maskA, maskB, pathA, pathB


def referencePictures(loaded, maskA, maskB) -> dict:
    """Region id -> picture, drawn as before helpers: one render window in this process, default VTK threading."""
    app = createHeadlessApplication()
    review = loadReview(app.scene, loaded, maskA, maskB, readerIds=("R01", "R02"), regionSegments=False)
    setLayout(app.layoutNode, LAYOUT_2X2_AXIAL)
    app.updateSliceLogics()
    regionsnapshot.showReadsOnly(review)
    descriptions = regionsnapshot.regionDescriptions(review)
    pictures = {}
    with LayoutRenderer(app.applicationLogic, review.caseNodes, LAYOUT_2X2_AXIAL, None, (TILE, TILE), regionsnapshot.REGION_FIELD_OF_VIEW_MM,
                        regionsnapshot.CAPTION_LINES) as renderer:
        for region in review.result.allRegions:
            caption = regionsnapshot.regionCaption(review, region, descriptions[region.regionId])
            pictures[region.regionId] = renderer.render(region.centroidRas, caption)
    return pictures


def readPng(path) -> np.ndarray:
    """RGB pixels of a PNG, top row first (as the renderer returns them)."""
    reader = vtk.vtkPNGReader()
    reader.SetFileName(str(path))
    reader.Update()
    image = reader.GetOutput()
    width, height = image.GetDimensions()[:2]
    pixels = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(height, width, -1)
    return pixels[::-1, :, :3]


def pictureJob(case, loaded, maskA, maskB, regionIds, outDir) -> picturehelpers.PictureJob:
    return picturehelpers.PictureJob(loaded, maskA, maskB, loaded.dwi.ijkToRas, AgreementParameters(), ("R01", "R02"), regionIds, None,
                                     str(outDir), TILE)


def waitUntilHelpersEnd(helpers) -> None:
    """Take the helpers' messages until every helper process has ended (each ends by itself once nothing is left)."""
    while helpers.running():
        helpers.poll(0.5)
    helpers.poll()


def test_a_helper_process_draws_the_same_pixels_as_the_single_process_path(reads, tmp_path):
    case, loaded, maskA, maskB, _, _ = reads
    reference = referencePictures(loaded, maskA, maskB)
    regionIds = sorted(reference)
    assert len(regionIds) >= 3
    outDir = tmp_path / "helper"
    # The main process claims nothing until the helper has ended, so the helper draws every region.
    with picturehelpers.PictureHelpers(1, case.caseId) as helpers:
        helpers.assign(pictureJob(case, loaded, maskA, maskB, regionIds, outDir))
        waitUntilHelpersEnd(helpers)
        assert helpers.helperDone == set(range(len(regionIds)))
        assert helpers.claim() is None
    for regionId in regionIds:
        drawn = readPng(regionsnapshot.picturePath(outDir, case.caseId, regionId))
        assert drawn.shape == reference[regionId].shape
        assert np.array_equal(drawn, reference[regionId]), f"region {regionId}: the helper's picture differs from the single-process one"


def test_review_snapshots_with_two_workers_equal_the_single_process_pictures(reads, tmp_path, monkeypatch):
    case, loaded, maskA, maskB, pathA, pathB = reads
    reference = referencePictures(loaded, maskA, maskB)
    monkeypatch.setattr(regionsnapshot, "MIN_REGIONS_FOR_HELPERS", 1)
    summaries = {workers: regionsnapshot.makeReviewSnapshots(case, tmp_path / f"workers-{workers}", pathA, pathB, ("R01", "R02"),
                                                             tileSize=TILE, workers=workers) for workers in (1, 2)}
    assert summaries[1]["workers"] == 1 and summaries[2]["workers"] == 2
    assert [entry["id"] for entry in summaries[2]["regions"]] == [entry["id"] for entry in summaries[1]["regions"]] == sorted(reference)
    for one, two in zip(summaries[1]["regions"], summaries[2]["regions"], strict=True):
        assert {key: value for key, value in one.items() if key != "png"} == {key: value for key, value in two.items() if key != "png"}
        for entry in (one, two):
            assert np.array_equal(readPng(entry["png"]), reference[entry["id"]]), f"{entry['png']} differs from the single-process picture"
    assert not multiprocessing.active_children()


def test_regions_a_failed_helper_took_are_drawn_by_the_main_process(reads, tmp_path, caplog):
    case, loaded, maskA, maskB, _, _ = reads
    app = createHeadlessApplication()
    review = loadReview(app.scene, loaded, maskA, maskB, readerIds=("R01", "R02"), regionSegments=False)
    regions = regionsnapshot.picturedRegions(review)
    blocked = tmp_path / "a-file-not-a-folder"
    blocked.write_text("the helper cannot write its pictures here\n")
    job = pictureJob(case, loaded, maskA, maskB, [region.regionId for region in regions], blocked)
    drawn = []
    with caplog.at_level(logging.WARNING), picturehelpers.PictureHelpers(1, case.caseId) as helpers, regionsnapshot.PictureWriter() as writer:
        helpers.assign(job)
        waitUntilHelpersEnd(helpers)
        assert helpers.taken[1] == set(range(len(regions))) and not helpers.helperDone
        for index, region, _, pixels in regionsnapshot.drawClaimedPictures(app, review, regions, helpers.claim, tileSize=(TILE, TILE)):
            drawn.append(index)
            writer.submit(pixels, regionsnapshot.picturePath(tmp_path / "main", case.caseId, region.regionId))
        writer.finish()
    assert sorted(drawn) == list(range(len(regions)))
    assert len(list((tmp_path / "main").glob("*.png"))) == len(regions)
    assert "Picture helper process 1" in caplog.text and "failed" in caplog.text and "Cannot write into" in caplog.text


def test_cancelling_stops_the_helpers_and_leaves_only_whole_pictures(reads, tmp_path, monkeypatch):
    case, _, _, _, pathA, pathB = reads
    monkeypatch.setattr(regionsnapshot, "MIN_REGIONS_FOR_HELPERS", 1)
    messages = []

    def progress(fraction, message):
        messages.append(message)
        if message.startswith("Picturing") and len([seen for seen in messages if seen.startswith("Picturing")]) == 2:
            raise OperationCancelled("Stopped by the test.")

    outDir = tmp_path / "pictures"
    with pytest.raises(OperationCancelled):
        regionsnapshot.makeReviewSnapshots(case, outDir, pathA, pathB, ("R01", "R02"), tileSize=TILE, progress=progress, workers=2)
    assert not multiprocessing.active_children()
    files = sorted(outDir.iterdir())
    assert files and all(path.suffix == ".png" and not path.name.startswith(".") for path in files)
    for path in files:
        assert readPng(path).shape[1] == 2 * TILE + 4


@pytest.mark.parametrize("guess", ["few", "many"])
def test_a_case_with_few_regions_is_drawn_by_this_process_alone(reads, tmp_path, monkeypatch, guess):
    case, _, maskA, maskB, pathA, pathB = reads
    assert regionsnapshot.likelyRegionCount(maskA, maskB) == 3
    if guess == "many":
        # Helpers start before the comparison when the quick count is high; they are stopped once the real count is known.
        monkeypatch.setattr(regionsnapshot, "likelyRegionCount", lambda *masks: 10 * regionsnapshot.MIN_REGIONS_FOR_HELPERS)
    summary = regionsnapshot.makeReviewSnapshots(case, tmp_path / "pictures", pathA, pathB, ("R01", "R02"), tileSize=TILE, workers=2)
    assert summary["workers"] == 1 and summary["helperPictures"] == 0 and len(summary["regions"]) == 3
    assert len(list((tmp_path / "pictures").iterdir())) == 3
    assert not multiprocessing.active_children()
