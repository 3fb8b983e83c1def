"""The review rule: decisions for every region, defaults, the reviewer's own mask as the answer, the derived
outcome, starting finals."""

import numpy as np
import pytest
from readpair import MATRIX

from AISCommonLib.core import reviewrule
from AISCommonLib.core.agreement import AgreementParameters, compareMasks
from AISCommonLib.core.errors import InputError


def regionIds(result):
    return {(region.kind, region.voxels): region.regionId for region in result.allRegions}


def test_final_is_agreement_plus_kept_regions(reads):
    maskA, maskB = reads
    result = compareMasks(maskA, maskB, MATRIX, AgreementParameters(minExtentMm3=0))
    ids = regionIds(result)
    missed, wider, longer = ids[("a_only", 1)], ids[("a_only", 60)], ids[("b_only", 120)]
    decisions = reviewrule.checkDecisions(ids.values(), {missed: "keep", wider: "drop", longer: "keep"}, None, requireAll=True)
    expected = (maskA & maskB) | maskB
    expected[5, 16, 16] = True
    assert np.array_equal(reviewrule.finalFromDecisions(result, decisions), expected)
    for default, expected in (("drop", maskA & maskB), ("keep", maskA | maskB)):
        decided = reviewrule.checkDecisions(ids.values(), {}, default, requireAll=True)
        assert np.array_equal(reviewrule.finalFromDecisions(result, decided), expected)


def test_the_default_reaches_small_regions_too(reads):
    maskA, maskB = reads
    maskB[2, 2, 2] = False  # a one-voxel extent region, below the review limit
    result = compareMasks(maskA, maskB, MATRIX, AgreementParameters(minExtentMm3=50))
    small = result.smallRegionIds
    assert small, "the one-voxel region is below the review limit"
    listed = {region["id"]: region["small"] for region in result.toDict()["discordant_regions"]}
    assert set(listed) == {region.regionId for region in result.allRegions} and all(listed[regionId] for regionId in small)
    shown = {region.regionId: "keep" for region in result.regions}
    ids = [region.regionId for region in result.allRegions]
    with pytest.raises(InputError, match="default decision"):
        reviewrule.checkDecisions(ids, shown, None, requireAll=True)
    for default, expected in (("keep", True), ("drop", False)):
        final = reviewrule.finalFromDecisions(result, reviewrule.checkDecisions(ids, shown, default, requireAll=True))
        assert bool(final[2, 2, 2]) is expected and final[5, 16, 16]


def test_small_regions_are_decided_in_bulk_and_an_explicit_id_wins(reads):
    maskA, maskB = reads
    maskB[2, 2, 2] = False  # one voxel A drew and B did not
    maskB[8, 5, 5] = True  # one voxel B drew on top of the box
    result = compareMasks(maskA, maskB, MATRIX, AgreementParameters(minExtentMm3=50))
    small, ids = result.smallRegionIds, [region.regionId for region in result.allRegions]
    assert len(small) == 2
    shown = {region.regionId: "keep" for region in result.regions}
    decided = reviewrule.checkDecisions(ids, {**shown, "small": "keep", small[1]: "drop"}, None, requireAll=True, smallIds=small)
    assert decided[small[0]] == "keep" and decided[small[1]] == "drop"
    final = reviewrule.finalFromDecisions(result, decided)
    assert final[2, 2, 2] and not final[8, 5, 5]
    with pytest.raises(InputError, match="keep or drop"):
        reviewrule.checkDecisions(ids, {**shown, "small": "edited"}, None, requireAll=True, smallIds=small)


def test_a_concordant_case_defaults_to_agreed_voxels(reads):
    result = compareMasks(*reads, MATRIX)
    decided = reviewrule.checkDecisions([region.regionId for region in result.allRegions], {}, None, requireAll=False)
    assert set(decided.values()) == {"drop"}
    assert np.array_equal(reviewrule.finalFromDecisions(result, decided), reads[0] & reads[1])


def test_bad_decisions_are_refused(reads):
    result = compareMasks(*reads, MATRIX)
    ids = [region.regionId for region in result.allRegions]
    with pytest.raises(InputError, match="no discordant regions \\[99\\]"):
        reviewrule.checkDecisions(ids, {99: "keep"}, "drop", requireAll=True)
    with pytest.raises(InputError, match="one of keep, drop, edited"):
        reviewrule.checkDecisions(ids, {ids[0]: "maybe"}, "drop", requireAll=True)
    with pytest.raises(InputError, match="default decision must be keep or drop"):
        reviewrule.checkDecisions(ids, {}, "edited", requireAll=True)
    with pytest.raises(InputError, match="give the edited mask"):
        reviewrule.checkDecisions(ids, {ids[0]: "edited"}, "drop", requireAll=True)
    with pytest.raises(InputError, match="whole-number region id"):
        reviewrule.checkDecisions(ids, {"first": "keep"}, "drop", requireAll=True)


def test_the_reviewers_mask_is_the_answer_and_its_changes_are_derived(reads):
    maskA, maskB = reads
    result = compareMasks(maskA, maskB, MATRIX, AgreementParameters(minExtentMm3=0))
    ids = regionIds(result)
    final = maskA & maskB
    final[2:8, 12, 2:12] = True            # half of B's longer part: an edit
    final[5, 16, 16] = True                # A's missed lesion kept
    final[2, 2:4, 2:4] = False             # a false positive both readers drew: agreement corrected
    final[9, 0, 0] = True                  # a voxel neither drew
    decided = reviewrule.checkDecisions(ids.values(), {}, None, requireAll=True, haveMask=True)
    assert decided == {}
    outcome = reviewrule.describeOutcome(result, final)
    assert outcome.regions[ids[("a_only", 1)]] == "kept"
    assert outcome.regions[ids[("a_only", 60)]] == "dropped"
    assert outcome.regions[ids[("b_only", 120)]] == "edited"
    assert outcome.agreedRemovedVoxels == 4 and outcome.addedVoxels == 1 and outcome.agreementCorrected
    assert outcome.finalVoxels == int(final.sum())
    reviewrule.checkAgainstOutcome({ids[("a_only", 1)]: "keep"}, outcome)
    with pytest.raises(InputError, match="marked keep but the mask dropped it"):
        reviewrule.checkAgainstOutcome({ids[("a_only", 60)]: "keep"}, outcome)
    with pytest.raises(InputError, match="shape"):
        reviewrule.describeOutcome(result, final[1:])


def test_starting_points(reads):
    maskA, maskB = reads
    result = compareMasks(maskA, maskB, MATRIX, AgreementParameters(minExtentMm3=0))
    expected = {"reader_a": maskA, "reader_b": maskB, "union": maskA | maskB, "intersection": maskA & maskB,
                "agreed": maskA & maskB, "majority": maskA & maskB}
    for point, mask in expected.items():
        decisions, default = reviewrule.startingDecisions(result, maskA, maskB, point)
        assert np.array_equal(reviewrule.finalFromDecisions(result, decisions), mask), point
        assert default == ("keep" if point == "union" else "drop")
    decisions, _ = reviewrule.startingDecisions(result, maskA, maskB, "staple")
    assert set(decisions) == {region.regionId for region in result.allRegions}
    with pytest.raises(InputError, match="starting final must be one of"):
        reviewrule.startingDecisions(result, maskA, maskB, "accept_a")
