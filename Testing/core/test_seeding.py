"""The ADC-threshold seed on realistic phantoms: the plain rule, the gated seed's steps, and its quality against the truth."""

import dataclasses

import numpy as np
import pytest

from AISCommonLib.core.cases import discoverCases
from AISCommonLib.core.errors import InputError, OperationCancelled
from AISCommonLib.core.seeding import SeedParameters, seedLesion
from AISCommonLib.core.sequences import loadCase

NAIVE = SeedParameters(mode="plain")


def dice(first, second):
    total = first.sum() + second.sum()
    return 1.0 if total == 0 else 2.0 * (first & second).sum() / total


@pytest.fixture(scope="module")
def seeded(demoDataset):
    """caseId -> (loaded case, default seed, naive seed, truth)."""
    root, phantoms = demoDataset
    results = {}
    for case in discoverCases(root):
        loaded = loadCase(case)
        results[case.caseId] = (loaded, seedLesion(loaded), seedLesion(loaded, NAIVE), phantoms[case.caseId].truthMask)
    return results


def test_seed_obeys_the_consensus_rule_inside_the_brain(seeded):
    for loaded, seed, _, _ in seeded.values():
        assert seed.mask.shape == loaded.dwi.gridShape and seed.mask.dtype == bool
        assert not (seed.mask & ~loaded.brainMask).any()
        assert (loaded.adcMicro()[seed.mask] < 620.0).all()
        assert seed.summary["voxels"] == int(seed.mask.sum())


def test_seed_beats_the_bare_rule_on_every_measure(seeded):
    lesionCases = [value for value in seeded.values() if value[3].any()]
    seedDice = np.mean([dice(seed.mask, truth) for _, seed, _, truth in lesionCases])
    naiveDice = np.mean([dice(naive.mask, truth) for _, _, naive, truth in lesionCases])
    assert seedDice > naiveDice + 0.15
    falseSeed = sum((seed.mask & ~truth).sum() for _, seed, _, truth in seeded.values())
    falseNaive = sum((naive.mask & ~truth).sum() for _, _, naive, truth in seeded.values())
    assert falseSeed < 0.25 * falseNaive


@pytest.mark.parametrize("caseId, minimumDice", [
    ("sub-02_ses-01", 0.85),  # large territorial
    ("sub-04_ses-01", 0.7),  # hyperacute, b=800, 1.5 T
    ("sub-07_ses-01", 0.7),  # cerebellar, next to the skull-base artifacts
    ("sub-09_ses-01", 0.75),  # oblique grid
    ("sub-strokecase0008_ses-0001", 0.75),  # ISLES-like flat layout, ADC in 1e-3 mm^2/s
])
def test_seed_quality_on_well_posed_cases(seeded, caseId, minimumDice):
    _, seed, _, truth = seeded[caseId]
    assert dice(seed.mask, truth) >= minimumDice


def test_no_lesion_case_gets_almost_nothing(seeded):
    _, seed, naive, truth = seeded["sub-05_ses-01"]
    assert not truth.any()
    assert seed.summary["volumeMl"] < 0.15 < naive.summary["volumeMl"]


def test_summary_shows_the_threshold_in_the_file_unit(seeded):
    flat = seeded["sub-strokecase0008_ses-0001"][1].summary
    assert flat["adcUnit"]["unit"] == "1e-3" and flat["threshold"]["inFileUnit"] == "0.62 x 1e-3 mm^2/s"
    assert seeded["sub-07_ses-01"][1].summary["threshold"]["inFileUnit"] == "0.00062 mm^2/s"
    assert flat["parameters"]["thresholdMm2PerS"] == 620e-6


def test_the_seed_does_not_depend_on_the_adc_unit(seeded):
    loaded, seed, _, _ = seeded["sub-09_ses-01"]
    for unit, scale in (("1e-3", 1e-3), ("mm2/s", 1e-6)):
        rescaled = dataclasses.replace(loaded, adc=loaded.adc.withArray(loaded.adcMicro().astype(np.float64) * scale))
        rescaled.adcUnit = dataclasses.replace(loaded.adcUnit, unit=__import__("AISCommonLib.core.adcunits", fromlist=["UNITS"]).UNITS[unit])
        assert np.array_equal(seedLesion(rescaled).mask, seed.mask)


def test_a_lower_threshold_gives_a_subset(seeded):
    loaded, seed, _, _ = seeded["sub-02_ses-01"]
    voxelRules = dataclasses.replace(SeedParameters(), minComponentMm3=0.0, componentMinRobustZ=0.0, maxCsfBorderFraction=1.0, maxEdgeFraction=1.0)
    stricter = seedLesion(loaded, dataclasses.replace(voxelRules, thresholdMm2PerS=500e-6))
    loose = seedLesion(loaded, voxelRules)
    assert stricter.mask.sum() < loose.mask.sum() and not (stricter.mask & ~loose.mask).any()


def test_invalid_parameters_and_cancellation(seeded):
    loaded = seeded["sub-01_ses-01"][0]
    with pytest.raises(InputError, match="between 0 and 0.005"):
        seedLesion(loaded, SeedParameters(thresholdMm2PerS=620.0))
    with pytest.raises(InputError, match="edge fraction"):
        seedLesion(loaded, SeedParameters(maxEdgeFraction=2.0))
    messages = []

    def cancelAfterTwo(fraction, message):
        messages.append(message)
        if len(messages) == 2:
            raise OperationCancelled("stop")

    with pytest.raises(OperationCancelled):
        seedLesion(loaded, progress=cancelAfterTwo)
    assert messages == ["Thresholding ADC", "Measuring DWI against nearby normal tissue"]


def test_the_plain_rule_is_literally_the_threshold_inside_the_brain(seeded):
    loaded, _, plain, _ = seeded["sub-02_ses-01"]
    adc = loaded.adcMicro()
    assert np.array_equal(plain.mask, loaded.brainMask & (adc < 620.0) & (adc > 0))
    assert plain.summary["mode"] == "plain" and [step["step"] for step in plain.summary["steps"]] == ["adc below threshold inside the brain"]


def test_every_step_is_recorded_and_can_be_switched_off(seeded):
    loaded, seed, _, _ = seeded["sub-03_ses-01"]
    steps = seed.summary["steps"]
    assert [step["step"] for step in steps] == [
        "adc below threshold inside the brain", "adc above the floor", "dwi-bright voxels", "away from the brain edge without adc",
        "components of at least the minimum volume", "components bright as a whole", "components bordered by csf dropped",
        "skull-base rim components dropped", "holes filled"]
    assert all(step["enabled"] for step in steps) and steps[-1]["voxelsAfter"] == seed.summary["voxels"]
    for before, after in zip(steps, steps[1:-1]):
        assert after["voxelsBefore"] == before["voxelsAfter"] and after["voxelsAfter"] <= after["voxelsBefore"]
    off = seedLesion(loaded, dataclasses.replace(SeedParameters(), dropBrainEdge=False, fillHoles=False, componentMinRobustZ=0.0))
    switched = {step["step"]: step for step in off.summary["steps"]}
    assert not switched["holes filled"]["enabled"] and not switched["components bright as a whole"]["enabled"]
    assert switched["components bright as a whole"]["removedComponents"] == 0


def test_no_component_is_below_the_minimum_and_the_table_describes_each(seeded):
    for loaded, seed, _, _ in seeded.values():
        table = seed.summary["componentTable"]
        assert len(table) == seed.summary["components"]
        assert [row["voxels"] for row in table] == sorted((row["voxels"] for row in table), reverse=True)
        assert sum(row["voxels"] for row in table) == seed.summary["voxels"]
        assert all(row["volumeMl"] * 1000.0 >= SeedParameters().minComponentMm3 - 1e-6 for row in table)
        assert all(row["side"] in ("left", "right", "midline") and 0 <= row["slice"] < loaded.dwi.gridShape[0] for row in table)
