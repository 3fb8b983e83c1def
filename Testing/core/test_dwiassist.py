"""DWI assist on the phantoms: growth recovers the penumbral rim the ADC rule misses, stays near the mask, never
floods into CSF or the skull base, shrink removes what is neither bright nor dark, and bad input is refused."""

import numpy as np
import pytest

from AISCommonLib.core.cases import discoverCases
from AISCommonLib.core.dwiassist import AssistParameters, assistOnDwi
from AISCommonLib.core.errors import InputError
from AISCommonLib.core.seeding import seedLesion
from AISCommonLib.core.sequences import loadCase


@pytest.fixture(scope="module")
def territorial(demoDataset):
    root, phantoms = demoDataset
    case = next(case for case in discoverCases(root) if case.caseId == "sub-02_ses-01")
    loaded = loadCase(case)
    return loaded, seedLesion(loaded).mask, phantoms[case.caseId].truthMask


def test_growth_recovers_the_rim_and_stays_near_the_mask(territorial):
    loaded, seed, truth = territorial
    result = assistOnDwi(loaded, seed)
    recall = lambda mask: (mask & truth).sum() / truth.sum()  # noqa: E731
    precision = lambda mask: (mask & truth).sum() / mask.sum()  # noqa: E731
    assert recall(result.mask) > recall(seed) + 0.05 and precision(result.mask) > 0.9
    assert np.array_equal(result.mask, seed | result.added) and not result.removed.any()
    from AISCommonLib.core.brainmask import distanceInsideMm

    assert distanceInsideMm(~seed, loaded.dwi)[result.added].max() <= AssistParameters().maxDistanceMm + 1e-6
    assert result.summary["addedVoxels"] == int(result.added.sum())


def test_the_slider_orders_the_growth(territorial):
    loaded, seed, _ = territorial
    sizes = [assistOnDwi(loaded, seed, AssistParameters(dwiMinRobustZ=z)).added.sum() for z in (1.0, 2.0, 4.0)]
    assert sizes[0] >= sizes[1] >= sizes[2]


def test_one_lesion_at_a_time(territorial):
    loaded, seed, _ = territorial
    elsewhere = np.zeros_like(seed)
    elsewhere[0, 0, 0] = True  # touches no lesion of the mask
    assert not assistOnDwi(loaded, seed, region=elsewhere).added.any()
    assert assistOnDwi(loaded, seed, region=seed).added.sum() == assistOnDwi(loaded, seed).added.sum()


def test_shrink_removes_voxels_that_are_neither_bright_nor_dark(territorial):
    loaded, seed, _ = territorial
    sloppy = seed.copy()
    normal = loaded.brainMask & ~seed & (loaded.adcMicro() > 900) & (loaded.adcMicro() < 1100)
    extra = np.argwhere(normal)[:50]
    sloppy[tuple(extra.T)] = True
    result = assistOnDwi(loaded, sloppy, AssistParameters(mode="shrink"))
    assert result.removed[tuple(extra.T)].mean() > 0.8 and not result.added.any()
    assert not (result.removed & seed & (loaded.adcMicro() < 620)).any()


def test_bad_input_is_refused(territorial):
    loaded, seed, _ = territorial
    with pytest.raises(InputError, match="DWI grid"):
        assistOnDwi(loaded, seed[1:])
    with pytest.raises(InputError, match="mode must be one of"):
        assistOnDwi(loaded, seed, AssistParameters(mode="flood"))
    with pytest.raises(InputError, match="growth distance"):
        assistOnDwi(loaded, seed, AssistParameters(maxDistanceMm=0))
