"""The parameters a read records (quality, notes, active time) and the time-on-task timer."""

import json

import pytest

from AISCommonLib.core.errors import InputError
from AISCommonLib.core.hints import ADC_NOT_LOW, Hint, MaskRegion
from AISCommonLib.core.readrecord import (
    ActiveTimer,
    ReadNote,
    buildReadParameters,
    likertOrNone,
    lowQualitySequences,
)


def test_read_parameters_are_json_and_complete():
    region = MaskRegion(1, 12, 0.096, (1.0, 2.0, 3.0))
    hint = Hint(ADC_NOT_LOW, region, "Region 1 has a high ADC.", 812.0)
    parameters = buildReadParameters(
        {"dwi": 4, "adc": 2, "eadc": 0, "flair": None},
        {"motion": True, "susceptibility": False},
        [ReadNote("N1", "unclear boundary", (1.23456, -2.0, 3.5))],
        125.04,
        seedSummary={"voxels": 10},
        hints=[hint],
    )
    assert json.loads(json.dumps(parameters)) == parameters
    assert parameters["quality"] == {
        "likert": {"dwi": 4, "adc": 2, "eadc": None, "flair": None},
        "below_acceptable": ["adc"],
        "artifacts": ["motion"],
    }
    assert parameters["notes"] == [{"label": "N1", "text": "unclear boundary", "ras": [1.235, -2.0, 3.5]}]
    assert parameters["active_seconds"] == 125.0
    assert parameters["seed"] == {"voxels": 10}
    assert parameters["hints"] == [{"kind": ADC_NOT_LOW, "region": 1, "volume_ml": 0.096, "measured": 812.0}]


@pytest.mark.parametrize("score", [6, -1, 2.5, "3", True])
def test_bad_likert_scores_are_refused(score):
    with pytest.raises(InputError):
        likertOrNone(score)


def test_unknown_items_and_bad_time_are_refused():
    with pytest.raises(InputError, match="t1w"):
        buildReadParameters({"t1w": 3}, {}, [], 0.0)
    with pytest.raises(InputError, match="noise"):
        buildReadParameters({}, {"noise": True}, [], 0.0)
    with pytest.raises(InputError, match="active time"):
        buildReadParameters({}, {}, [], float("nan"))


def test_low_quality_ignores_unscored():
    assert lowQualitySequences({"dwi": 0, "adc": 3, "flair": 1}) == ["flair"]


def test_active_timer_counts_only_running_periods():
    now = [100.0]
    timer = ActiveTimer(clock=lambda: now[0])
    timer.start()
    now[0] = 110.0
    assert timer.seconds == 10.0
    assert timer.stop() == 10.0
    now[0] = 500.0
    assert timer.seconds == 10.0 and not timer.running
    timer.start()
    timer.start()
    now[0] = 505.0
    assert timer.stop() == 15.0
    timer.reset(3.0)
    assert timer.seconds == 3.0
