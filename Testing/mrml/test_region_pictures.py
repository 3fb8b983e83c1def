"""Region pictures from one reused render window: identical to fresh windows, captioned with size, place and author."""

import numpy as np
import pytest
import reviewdata

from AISCommonLib.mrml import regionsnapshot, reviewscene


@pytest.fixture
def review(simpleCaseNodes):
    app, caseNodes, info = simpleCaseNodes
    maskA, maskB = reviewdata.twoReads(info["truth"])
    return app, reviewscene.loadReview(app.scene, caseNodes.loaded, maskA, maskB, readerIds=("R01", "R02"), caseNodes=caseNodes)


def test_reused_window_pictures_equal_fresh_window_pictures(review):
    app, scene = review
    reused = {region.regionId: pixels for region, _, pixels in regionsnapshot.iterRegionPictures(app, scene, tileSize=(128, 128))}
    assert sorted(reused) == [region.regionId for region in scene.result.allRegions] and len(reused) >= 2
    # Fresh windows, in reverse order, so a picture cannot depend on the one drawn before it.
    for regionId in sorted(reused, reverse=True):
        fresh = regionsnapshot.renderRegion(app, scene, regionId, tileSize=(128, 128))
        assert fresh.shape == reused[regionId].shape
        assert np.array_equal(fresh, reused[regionId]), f"region {regionId} differs between the reused and a fresh window"
    assert not np.array_equal(reused[1], reused[2])  # each picture is centred on its own region


def test_captions_say_size_place_and_who_drew_it(review):
    app, scene = review
    descriptions = regionsnapshot.regionDescriptions(scene)
    result = scene.result
    voxelMl = float(np.prod(scene.caseNodes.loaded.dwi.spacingMm)) / 1000.0
    for region in result.allRegions:
        description = descriptions[region.regionId]
        voxels = int((result.regionMap.labels == region.regionId).sum())
        assert description.voxels == voxels and description.volumeMl == pytest.approx(voxels * voxelMl)
        caption = regionsnapshot.regionCaption(scene, region, description).split("\n")
        assert len(caption) == regionsnapshot.CAPTION_LINES
        assert f"{voxels} voxel" in caption[0] and f"{voxels * voxelMl:.3f} mL" in caption[0]
        assert caption[1].startswith(f"Slice {description.sliceNumber} of {description.sliceCount}")
        assert any(side in caption[1] for side in ("right side", "left side", "midline"))
        reader = "reader A (R01)" if description.drawnBy == "A" else "reader B (R02)"
        assert caption[2].startswith(f"Drawn by {reader} only")
        assert scene.caseId in caption[3]


def test_progress_reports_every_region_and_the_end(review):
    app, scene = review
    calls = []
    pictures = list(regionsnapshot.iterRegionPictures(app, scene, tileSize=(96, 96), progress=lambda f, m: calls.append((f, m))))
    assert len(calls) == len(pictures) + 1 and calls[-1][0] == 1.0
    assert [fraction for fraction, _ in calls] == sorted(fraction for fraction, _ in calls)
