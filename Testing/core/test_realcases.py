"""Real stroke MRI (ISLES 2022, CC BY 4.0): the cases load as shipped and the seed is a starting point worth keeping.

What must hold on any real scan is asserted here (grids, units, seed inside the brain and below the threshold,
no speck below the minimum size, the seed costs the reader less than the plain rule); the quality numbers
per case are in ``Testing/benchmarks/bench_seed_quality.py`` and the README.
"""

import numpy as np
import pytest
from realdata import copyRealCase

from AISCommonLib.core.cases import discoverCases
from AISCommonLib.core.dwiassist import assistOnDwi
from AISCommonLib.core.image import loadVolume
from AISCommonLib.core.seeding import SeedParameters, seedLesion
from AISCommonLib.core.sequences import loadCase

ISLES_MASK = "derivatives/sub-strokecase0001/ses-0001/sub-strokecase0001_ses-0001_msk.nii.gz"


@pytest.fixture(scope="module")
def realCases(tmp_path_factory):
    """name -> (loaded case, seed, plain-rule seed, expert mask or None)."""
    folder = tmp_path_factory.mktemp("real")
    cases = {}
    for name in ("isles22-0001", "isles22-challenge-case"):
        root = copyRealCase(name, folder)
        loaded = loadCase(discoverCases(root)[0])
        maskPath = root.parent / ISLES_MASK
        expert = loadVolume(maskPath).array != 0 if name == "isles22-0001" else None
        cases[name] = (loaded, seedLesion(loaded), seedLesion(loaded, SeedParameters(mode="plain")), expert)
    return cases


def effort(mask, expert):
    shared = int((mask & expert).sum())
    return (int(expert.sum()) - shared + int(mask.sum()) - shared) / int(expert.sum())


def test_cases_load_on_their_grids_with_the_right_units(realCases):
    isles, _, _, expert = realCases["isles22-0001"]
    assert isles.dwi.gridShape == (73, 112, 112) and isles.adcUnit.unit.key == "1e-3"
    assert expert.shape == isles.dwi.gridShape
    challenge = realCases["isles22-challenge-case"][0]
    assert challenge.dwi.gridShape == (25, 128, 128) and challenge.adcUnit.unit.key == "1e-6"
    assert challenge.flair is not None and challenge.flair.gridShape != challenge.dwi.gridShape  # FLAIR keeps its own grid
    for loaded, _, _, _ in realCases.values():
        assert loaded.adc.gridShape == loaded.dwi.gridShape and np.allclose(loaded.adc.ijkToRas, loaded.dwi.ijkToRas, atol=1e-4)
        brainMl = loaded.brainMask.sum() * loaded.dwi.voxelVolumeMm3 / 1000.0
        assert 900.0 < brainMl < 1900.0, f"{loaded.case.caseId}: brain mask of {brainMl:.0f} ml is not a brain"


def test_seed_properties_that_hold_on_every_real_scan(realCases):
    for loaded, seed, plain, _ in realCases.values():
        assert seed.mask.shape == loaded.dwi.gridShape and not (seed.mask & ~loaded.brainMask).any()
        unfilled = seedLesion(loaded, SeedParameters(fillHoles=False)).mask
        assert not (unfilled & ~plain.mask).any()  # every seed voxel obeys the rule; only filled holes may not
        assert all(row["volumeMl"] * 1000.0 >= SeedParameters().minComponentMm3 - 1e-6 for row in seed.summary["componentTable"])
        # The gated seed is a clean-up of the rule: far fewer pieces than the rule alone.
        assert seed.summary["components"] * 10 <= plain.summary["components"]


def test_seed_costs_the_reader_less_than_the_plain_rule_and_stays_close_to_the_expert_lesion_count(realCases):
    loaded, seed, plain, expert = realCases["isles22-0001"]
    assert effort(seed.mask, expert) < effort(plain.mask, expert)
    expertComponents = 31
    assert seed.summary["components"] <= 3 * expertComponents


def test_dwi_assist_recovers_lesion_the_seed_misses(realCases):
    loaded, seed, _, expert = realCases["isles22-0001"]
    assisted = assistOnDwi(loaded, seed.mask)
    recall = lambda mask: (mask & expert).sum() / expert.sum()  # noqa: E731
    assert recall(assisted.mask) > recall(seed.mask) and not (assisted.removed).any()
    assert not (assisted.added & seed.mask).any() and np.array_equal(assisted.mask, seed.mask | assisted.added)


def test_the_challenge_cases_territorial_infarct_is_the_largest_seed_component(realCases):
    loaded, seed, _, _ = realCases["isles22-challenge-case"]
    largest = seed.summary["componentTable"][0]
    assert largest["volumeMl"] > 10.0 and largest["volumeMl"] > 10 * seed.summary["componentTable"][1]["volumeMl"]


def test_region_locations_on_real_scans_match_the_brain_midline(realCases):
    """Every region of seed versus nothing is listed; its side, taken from the middle of the field of view, is the side
    of the brain's own centre line (the scanner centres the head), and its slice lies on the image."""
    from AISCommonLib.core.agreement import compareMasks
    from AISCommonLib.core.image import voxelToRas
    from AISCommonLib.core.regions import MIDLINE_MM

    for loaded, seed, _, _ in realCases.values():
        dwi = loaded.dwi
        regions = compareMasks(seed.mask, np.zeros_like(seed.mask), dwi.ijkToRas).toDict()["discordant_regions"]
        assert sum(region["voxels"] for region in regions) == int(seed.mask.sum())
        brainCentreX = voxelToRas(dwi.ijkToRas, np.argwhere(loaded.brainMask).mean(axis=0)[None])[0, 0]
        middleX = voxelToRas(dwi.ijkToRas, ((np.array(dwi.gridShape) - 1) / 2.0)[None])[0, 0]
        assert abs(brainCentreX - middleX) < MIDLINE_MM, f"{loaded.case.caseId}: the head is not centred in the field of view"
        for region in regions:
            offset = region["centroid_ras"][0] - brainCentreX
            if abs(offset) > 2 * MIDLINE_MM:
                assert region["side"] == ("right" if offset > 0 else "left")
            superiorAxisKji = 2 - int(np.argmax(np.abs(dwi.ijkToRas[2, :3])))
            assert 1 <= region["slice"] <= dwi.gridShape[superiorAxisKji]
