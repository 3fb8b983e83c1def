"""What a trainee sees after each trial case: their score against the reference, and how far they are from qualified.

The consensus (section 3.1) has new readers annotate trial cases "under guidance": a score that arrives only in
the manager's report guides nobody. So right after a trial read is submitted the reader sees its Dice, HD95,
lesion F1, missed lesions and minutes next to the training bar, what the trial cases read so far cover (size
classes and locations) and what is still missing; the reference mask may then be shown over their own.
Plain Python (no Qt, no Slicer): the module's training panel (``gui/training.py``) only displays it.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class FeedbackRow:
    """One line of the score table: a measure, the trainee's value, the bar's limit, and whether it is met.

    :param met: True/False, or None where the bar sets no limit on this measure.
    """

    measure: str
    value: str
    bar: str
    met: bool | None


@dataclasses.dataclass(frozen=True)
class TrialFeedback:
    """The panel's content.

    :param headline: one sentence: this trial's Dice and whether the reader is qualified now.
    :param rows: this trial's measures against the bar, then the training so far.
    :param shortfalls: what keeps the reader from qualifying (empty when qualified).
    :param caseId: the trial case (its reference may be shown now).
    :param qualified: the reader is qualified for real cases.
    """

    headline: str
    rows: list
    shortfalls: list
    caseId: str
    qualified: bool


def _number(value, digits: int = 2, unit: str = "") -> str:
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def trialFeedback(submission: dict, report: dict) -> TrialFeedback:
    """Feedback for the trial read just submitted.

    :param submission: what :meth:`~AISCommonLib.workflow.store.WorkflowStore.submitRead` returned for a trial read
        (``case_id``, ``score`` with ``dice``, ``hd95_mm``, ``lesion_f1``, ``missed_lesions``, ``duration_seconds``;
        ``qualified``).
    :param report: the trainee's own :meth:`~AISCommonLib.workflow.store.WorkflowStore.trainingReport` after it.
    :return: the feedback; a trial read not scored yet (no agreement engine) says so.
    """
    caseId = submission.get("case_id", "")
    bar, evaluation = report["bar"], report["evaluation"]
    qualified = bool(report["qualified"])
    score = submission.get("score")
    rows = []
    if score is None:
        headline = f"Your read of trial case {caseId} is recorded; it is scored when a client with the agreement engine runs."
    else:
        minutes = None if score.get("duration_seconds") is None else score["duration_seconds"] / 60.0
        maxMinutes = bar.get("max_median_minutes")
        rows += [
            FeedbackRow("Dice (this case)", _number(score["dice"], 3), f">= {bar['min_mean_dice']:g} on average", score["dice"] >= bar["min_mean_dice"]),
            FeedbackRow("HD95 (this case)", _number(score.get("hd95_mm"), 1, " mm"), "", None),
            FeedbackRow("lesion F1 (this case)", _number(score.get("lesion_f1")), "", None),
            FeedbackRow("lesions missed or added (this case)", str(score.get("missed_lesions", 0)),
                        "" if bar.get("max_missed_lesions") is None else f"<= {bar['max_missed_lesions']} in total", None),
            FeedbackRow("minutes (this case)", _number(minutes, 1), "" if maxMinutes is None else f"median <= {maxMinutes:g}", None),
        ]
        headline = f"Trial case {caseId}: Dice {score['dice']:.3f} against the reference."
    maxMissed = bar.get("max_missed_lesions")
    rows += [
        FeedbackRow("trial cases scored", str(evaluation["cases"]), f">= {bar['min_cases']}", evaluation["cases"] >= bar["min_cases"]),
        FeedbackRow("mean Dice", _number(evaluation["mean_dice"], 3), f">= {bar['min_mean_dice']:g}",
                    None if evaluation["mean_dice"] is None else evaluation["mean_dice"] >= bar["min_mean_dice"]),
        FeedbackRow("lesions missed or added", str(evaluation["missed_lesions"]), "-" if maxMissed is None else f"<= {maxMissed}",
                    None if maxMissed is None else evaluation["missed_lesions"] <= maxMissed),
        FeedbackRow("lesion sizes covered", ", ".join(evaluation["size_classes"]) or "none", f">= {bar['min_size_classes']} different",
                    len(evaluation["size_classes"]) >= bar["min_size_classes"]),
        FeedbackRow("locations covered", ", ".join(evaluation["locations"]) or "none", f">= {bar['min_locations']} different",
                    len(evaluation["locations"]) >= bar["min_locations"]),
    ]
    if qualified:
        headline += " You are qualified for real cases" + (" now." if submission.get("qualified") else ".")
    elif report.get("in_training"):
        left = report.get("trial_cases_left")
        headline += f" Still in training ({left} trial case{'s' if left != 1 else ''} left to read)." if left is not None else " Still in training."
    return TrialFeedback(headline, rows, [] if qualified else list(evaluation["shortfalls"]), caseId, qualified)


def feedbackText(feedback: TrialFeedback) -> str:
    """The feedback as plain text (tooltips, logs, the command line)."""
    lines = [feedback.headline]
    for row in feedback.rows:
        mark = "" if row.met is None else (" (met)" if row.met else " (not yet)")
        lines.append(f"  {row.measure}: {row.value}" + (f"   bar {row.bar}" if row.bar else "") + mark)
    if feedback.shortfalls:
        lines.append("To qualify: " + "; ".join(feedback.shortfalls) + ".")
    return "\n".join(lines)
