"""ADC unit detection, override and display."""

import numpy as np
import pytest

from AISCommonLib.core.adcunits import MICRO, MILLI, SI, decideAdcUnit, unitByKey
from AISCommonLib.core.errors import AdcUnitError


def brainAdc(scale: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    adc = rng.normal(800, 80, (10, 20, 20))
    adc[:, :3] = 3000  # ventricles
    adc[:, -2:] = 450  # infarct
    return adc * scale, np.ones(adc.shape, dtype=bool)


@pytest.mark.parametrize("scale, unit", [(1.0, MICRO), (1e-3, MILLI), (1e-6, SI)])
def test_each_storage_unit_is_detected(scale, unit):
    adc, brain = brainAdc(scale)
    decision = decideAdcUnit(np.round(adc) if unit is MICRO else adc, brain)
    assert decision.unit == unit and decision.detected == unit and not decision.overridden


def test_values_fitting_no_unit_stop_with_the_statistics():
    adc, brain = brainAdc(1e-2)  # 8.0: neither 1e-3 (would be 8000e-6) nor 1e-6
    with pytest.raises(AdcUnitError, match=r"median 8\.\d+.*5th percentile"):
        decideAdcUnit(adc, brain, fileLabel="adc.nii.gz")


def test_override_wins_and_a_conflict_is_flagged():
    adc, brain = brainAdc(1.0)
    decision = decideAdcUnit(adc, brain, "mm2/s")
    assert decision.unit == SI and decision.detected == MICRO and decision.conflictsWithData
    agreeing = decideAdcUnit(adc, brain, "um2/s")
    assert agreeing.unit == MICRO and not agreeing.conflictsWithData
    unknownData = decideAdcUnit(*brainAdc(1e-2), "1e-3")
    assert unknownData.unit == MILLI and unknownData.detected is None


def test_zero_background_is_ignored_by_the_statistics():
    adc, brain = brainAdc(1.0)
    adc[:5] = 0
    assert decideAdcUnit(adc, brain).statistics.median > 700


def test_thresholds_are_shown_in_each_unit():
    assert MICRO.format(620e-6) == "620 x 1e-6 mm^2/s"
    assert MILLI.format(620e-6) == "0.62 x 1e-3 mm^2/s"
    assert SI.format(620e-6) == "0.00062 mm^2/s"
    assert unitByKey("10^-3") is MILLI
    with pytest.raises(AdcUnitError, match="Unknown ADC unit 'furlongs'"):
        unitByKey("furlongs")
