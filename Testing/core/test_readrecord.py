"""The parameters a read records (quality, notes, active time) and the time-on-task timer."""

import json

import pytest

from AISCommonLib.core.errors import InputError
from AISCommonLib.core.hints import ADC_NOT_LOW, Hint, MaskRegion
from AISCommonLib.core.readrecord import (
    LIKERT_CRITERIA,
    ActiveTimer,
    ReadNote,
    buildReadParameters,
    combineLikert,
    likertCriteria,
    likertOrNone,
    lowQualitySequences,
    missingLikert,
    readMethod,
)


def test_read_parameters_are_json_and_complete():
    region = MaskRegion(1, 12, 0.096, (1.0, 2.0, 3.0))
    hint = Hint(ADC_NOT_LOW, region, "Region 1 has a high ADC.", 812.0)
    parameters = buildReadParameters(
        {"dwi": 4, "adc": {"noise": 2, "motion": 4, "artifact": 3, "contrast": 5}, "eadc": 0, "flair": 5},
        {"motion": True, "susceptibility": False},
        [ReadNote("N1", "unclear boundary", (1.23456, -2.0, 3.5))],
        125.04,
        seedSummary={"voxels": 10},
        hints=[hint],
    )
    assert json.loads(json.dumps(parameters)) == parameters
    assert parameters["quality"] == {
        "likert": {"dwi": 4, "adc": 2, "eadc": None, "flair": 5, "t1w": None, "t2w": None},
        "likert_criteria": {"dwi": {"noise": 4, "motion": 4, "artifact": 4, "contrast": 4},
                            "adc": {"noise": 2, "motion": 4, "artifact": 3, "contrast": 5},
                            "flair": {"noise": 5, "motion": 5, "artifact": 5, "contrast": 5}},
        "below_acceptable": ["adc"],
        "below_acceptable_criteria": ["adc.noise"],
        "artifacts": ["motion"],
    }
    assert parameters["notes"] == [{"label": "N1", "text": "unclear boundary", "ras": [1.235, -2.0, 3.5]}]
    assert parameters["active_seconds"] == 125.0
    assert parameters["seed"] == {"voxels": 10}
    assert parameters["hints"] == [{"kind": ADC_NOT_LOW, "region": 1, "volume_ml": 0.096, "measured": 812.0}]
    assert parameters["lesions"] == [] and parameters["unattributed_lesions"] is None


def test_every_criterion_of_the_case_sequences_must_be_scored_before_submitting():
    with pytest.raises(InputError, match="flair.noise, flair.motion, flair.artifact, flair.contrast not scored"):
        buildReadParameters({"dwi": 4, "adc": 4}, {}, [], 1.0)
    with pytest.raises(InputError, match="dwi.motion not scored"):
        buildReadParameters({"dwi": {"noise": 4, "artifact": 4, "contrast": 4}, "adc": 4, "flair": 4}, {}, [], 1.0)
    # A case without FLAIR (the ISLES 2022 sample) needs DWI and ADC only; T1w/T2w may be scored, never must.
    parameters = buildReadParameters({"dwi": 4, "adc": 3, "t2w": {"motion": 2}}, {}, [], 1.0, sequences={"dwi", "adc", "t2w"})
    assert parameters["quality"]["likert"]["t2w"] == 2 and parameters["quality"]["below_acceptable_criteria"] == ["t2w.motion"]
    assert missingLikert(likertCriteria({"dwi": 5}), {"dwi", "adc", "flair", "t1w"})[:2] == ["adc.noise", "adc.motion"]
    with pytest.raises(InputError, match="Unknown quality criteria sharpness"):
        likertCriteria({"dwi": {"sharpness": 3}})


def test_records_made_before_criteria_read_the_same_way():
    old = {"likert": {"dwi": 4, "adc": 2, "eadc": None, "flair": None}, "below_acceptable": ["adc"], "artifacts": []}
    assert lowQualitySequences(old["likert"]) == ["adc"]
    assert likertCriteria(old["likert"])["adc"] == {"noise": 2, "motion": 2, "artifact": 2, "contrast": 2}


def test_the_method_says_what_the_mask_started_from():
    assert readMethod(None) == "manual"
    assert readMethod({"voxels": 3}) == "adc-threshold-seed+manual"
    assert readMethod({"source": "prediction", "file": "p.nii.gz"}) == "ai-prediction+manual"


@pytest.mark.parametrize("score", [6, -1, 2.5, "3", True])
def test_bad_likert_scores_are_refused(score):
    with pytest.raises(InputError):
        likertOrNone(score)


def test_unknown_items_and_bad_time_are_refused():
    with pytest.raises(InputError, match="t1"):
        buildReadParameters({"t1": 3}, {}, [], 0.0)
    with pytest.raises(InputError, match="noise"):
        buildReadParameters({}, {"noise": True}, [], 0.0)
    with pytest.raises(InputError, match="active time"):
        buildReadParameters({}, {}, [], float("nan"), sequences=())


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


def test_a_criterion_scored_alone_wins_over_its_sequence_score():
    combined = combineLikert({"dwi": 4, "adc": 0, "flair": 5}, {"dwi": {"motion": 2}, "adc": {"noise": 3}})
    assert combined["dwi"] == {"noise": 4, "motion": 2, "artifact": 4, "contrast": 4}
    assert combined["adc"] == {"noise": 3, "motion": None, "artifact": None, "contrast": None}
    assert combined["flair"] == dict.fromkeys(LIKERT_CRITERIA, 5)
    assert missingLikert(likertCriteria(combined), {"dwi", "adc", "flair"}) == ["adc.motion", "adc.artifact", "adc.contrast"]
