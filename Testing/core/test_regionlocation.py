"""Region descriptions for captions and the region list: size, slice and side, who drew it, an optional label."""

import numpy as np

from AISCommonLib.core.regionlocation import authorText, describeRegions, labelNames, locationText, majorityLabels, sizeText
from AISCommonLib.core.regions import KIND_A_ONLY, KIND_B_ONLY, DiscordantRegion, superiorAxisKji


def region(regionId=1, kind="a_only", regionType="extent", voxels=12):
    kindValue = KIND_A_ONLY if kind == "a_only" else KIND_B_ONLY
    return DiscordantRegion(regionId=regionId, kind=kindValue, regionType=regionType, voxels=voxels, volumeMl=voxels * 0.008,
                            centroidRas=(10.0, 0.0, 0.0), lesionId=1, sliceNumber=7, side="right")


def test_superior_axis_is_k_for_an_axial_grid_and_follows_a_permuted_one():
    assert superiorAxisKji(np.diag([2.0, 2.0, 3.0, 1.0])) == 0
    permuted = np.array([[0, 0, 2.0, 0], [2.0, 0, 0, 0], [0, 3.0, 0, 0], [0, 0, 0, 1]])
    assert superiorAxisKji(permuted) == 1


def test_description_names_size_slice_side_reader_and_label():
    (description,) = describeRegions([region()], np.diag([2.0, 2.0, 2.0, 1.0]), (20, 64, 64), smallIds=[1], labels={1: "MCA territory"})
    assert (description.sliceNumber, description.sliceCount, description.side) == (7, 20, "right")
    assert description.drawnBy == "A" and description.lesionDrawnBy == "both" and description.small
    assert sizeText(description) == "12 voxels, 0.096 mL"
    assert "7" in locationText(description) and "right" in locationText(description) and "MCA territory" in locationText(description)
    assert "drawn by" in authorText(description) and "only" in authorText(description)


def test_label_is_the_majority_label_under_the_region():
    regionLabels = np.zeros((1, 2, 4), dtype=np.int64)
    regionLabels[0, 0, :3] = 5
    labelMap = np.zeros_like(regionLabels)
    labelMap[0, 0, :2] = 3
    labelMap[0, 0, 2] = 4
    assert majorityLabels(regionLabels, labelMap) == {5: 3}
    assert labelNames(regionLabels, labelMap, {3: "frontal lobe"}) == {5: "frontal lobe"}
