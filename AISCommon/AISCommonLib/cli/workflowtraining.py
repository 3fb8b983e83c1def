"""``ais workflow training``: trial cases scored against reference masks, the bar, qualification."""

from pathlib import Path

from ..core.errors import InputError
from .workflowio import emit as _emit
from .workflowio import formatNumber as _number
from .workflowio import openWorkflowStore as _store


def addTrainingCommand(commands, common) -> None:
    """``ais workflow training <report|register|label|bar|qualify|reference>``; trainees use ``next`` and ``submit``."""
    from ..workflow import people

    training = commands.add_parser("training", help="reader training: trial cases, scores against reference masks, qualification",
                                   description="Reader training: trial cases scored against reference masks; a reader is qualified "
                                               "for real cases when the manager-set bar is met. Trainees use 'next' and 'submit'.")
    subcommands = training.add_subparsers(dest="trainingCommand", required=True, metavar="SUBCOMMAND")

    def add(name, helpText, handler):
        parser = subcommands.add_parser(name, help=helpText, description=helpText[0].upper() + helpText[1:] + ".", parents=[common])
        parser.set_defaults(handler=handler)
        return parser

    report = add("report", "a trainee's trial scores, the bar and whether it is met (manager, or the trainee)", _runTrainingReport)
    report.add_argument("--trainee", required=True, metavar="ID")

    register = add("register", "register trial cases with their reference masks (manager)", _runTrainingRegister)
    register.add_argument("--reference", action="append", required=True, metavar="CASE=MASK", help="trial case and its reference mask (repeatable)")
    register.add_argument("--size", action="append", default=[], metavar="CASE=CLASS",
                          help=f"lesion size class ({', '.join(people.SIZE_CLASSES)}); default: from the reference volume")
    register.add_argument("--location", action="append", default=[], metavar="CASE=LABEL",
                          help="lesion location label (e.g. left_mca); default: RAS octant of the reference centroid")

    label = add("label", "set or re-derive the size class and location of a trial case (manager)", _runTrainingLabel)
    label.add_argument("--case", required=True, metavar="CASE")
    label.add_argument("--size", choices=people.SIZE_CLASSES, help="default: from the reference volume")
    label.add_argument("--location", metavar="LABEL", help="default: RAS octant of the reference centroid")

    bar = add("bar", "show the training bar, or change it (manager, with --reason)", _runTrainingBar)
    required = bar.add_mutually_exclusive_group()
    required.add_argument("--required", dest="required", action="store_true", default=None, help="readers read trial cases before real ones")
    required.add_argument("--not-required", dest="required", action="store_false", help="readers get real cases at once")
    bar.add_argument("--min-cases", type=int, help=f"trial cases to score (at least {people.MIN_TRIAL_CASES})")
    bar.add_argument("--min-mean-dice", type=float, help="lowest mean Dice against the references")
    bar.add_argument("--max-missed-lesions", type=int, help="most lesions missed or added over all trial reads (negative: no limit)")
    bar.add_argument("--max-median-minutes", type=float, help="most median minutes per trial case (0: no limit)")
    bar.add_argument("--min-size-classes", type=int, help="lesion size classes the trial cases must cover")
    bar.add_argument("--min-locations", type=int, help="lesion locations the trial cases must cover")
    bar.add_argument("--reason", help="why the bar changes (recorded)")

    qualify = add("qualify", "qualify a reader without the bar being met: a manager's override with a recorded reason", _runTrainingQualify)
    qualify.add_argument("--trainee", required=True, metavar="ID")
    qualify.add_argument("--reason", required=True)

    reference = add("reference", "the reference mask of a trial case (a trainee after submitting their read, or a manager)", _runTrainingReference)
    reference.add_argument("--case", required=True, metavar="CASE")


def _pairs(values, what: str) -> dict:
    pairs = {}
    for value in values:
        key, separator, item = value.partition("=")
        if not separator or not key.strip() or not item.strip():
            raise InputError(f"A {what} is written CASE={what.upper().replace(' ', '_')}, not '{value}'.")
        pairs[key.strip()] = item.strip()
    return pairs


def _runTrainingReport(args) -> int:
    with _store(args) as store:
        report = store.trainingReport(args.user, args.trainee)
    evaluation = report["evaluation"]
    rows = [{**score, **{key: None if score[key] is None else round(score[key], digits) for key, digits in (("dice", 3), ("hd95_mm", 1), ("lesion_f1", 2), ("minutes", 1))}}
            for score in report["scores"]]
    status = "qualified" if report["qualified"] else ("in training" if report["in_training"] else "not qualified (training not required)")
    lines = [f"{report['user']}: {status}" + (f" ({report['qualified_note']})" if report["qualified_note"] else "")]
    if report["override_reason"]:
        lines.append(f"Override by {report['qualified_by']}: {report['override_reason']}")
    lines.append(f"{evaluation['cases']} scored, mean Dice {_number(evaluation['mean_dice'])}, Dice SD {_number(evaluation['dice_sd'])}, "
                 f"median {_number(evaluation['median_minutes'], ' min')}; sizes {', '.join(evaluation['size_classes']) or 'none'}; "
                 f"locations {', '.join(evaluation['locations']) or 'none'}.")
    if not report["qualified"]:
        lines.append("Bar " + ("met." if evaluation["met"] else "not met: " + "; ".join(evaluation["shortfalls"]) + "."))
        lines.append(f"{report['trial_cases_left']} trial case(s) left to read.")
    if report["unlabelled_trial_cases"]:
        lines.append(f"Trial cases without lesion labels (run 'training label'): {', '.join(report['unlabelled_trial_cases'])}.")
    _emit(args, report, rows or None, ["case_id", "lesion_size_class", "lesion_location", "dice", "hd95_mm", "lesion_f1", "missed_lesions", "minutes"],
          text="\n".join(lines))
    return 0


def _runTrainingRegister(args) -> int:
    references = {caseId: Path(path) for caseId, path in _pairs(args.reference, "reference mask").items()}
    subjects = sorted({caseId.split("_")[0].removeprefix("sub-") for caseId in references})
    with _store(args) as store:
        registered = store.registerCases(args.user, participantLabels=subjects, training=True, referenceMasks=references,
                                         sizeClasses=_pairs(args.size, "size class"), locations=_pairs(args.location, "location"))
        cases = [case for case in store.cases() if case["case_id"] in references]
    _emit(args, {"registered": registered, "cases": cases}, cases, ["case_id", "lesion_size_class", "lesion_location", "state"],
          text=f"Registered {len(registered)} trial case(s): {', '.join(registered) or 'none new'}.")
    return 0


def _runTrainingLabel(args) -> int:
    with _store(args) as store:
        result = store.setTrialLabels(args.user, args.case, args.size, args.location)
    _emit(args, result, [result], ["case_id", "lesion_size_class", "lesion_location", "reference_volume_ml"])
    return 0


def _runTrainingBar(args) -> int:
    changes = {key: value for key, value in (
        ("required", args.required), ("min_cases", args.min_cases), ("min_mean_dice", args.min_mean_dice),
        ("max_missed_lesions", args.max_missed_lesions), ("max_median_minutes", args.max_median_minutes),
        ("min_size_classes", args.min_size_classes), ("min_locations", args.min_locations)) if value is not None}
    # Ways to say "no limit" on the command line.
    if changes.get("max_missed_lesions", 0) < 0:
        changes["max_missed_lesions"] = None
    if changes.get("max_median_minutes") == 0:
        changes["max_median_minutes"] = None
    with _store(args) as store:
        if changes:
            if not (args.reason or "").strip():
                raise InputError("Changing the training bar needs --reason for the audit trail.")
            store.updateSettings(args.user, args.reason, training=changes)
        bar = store.settings()["training"]
    from ..workflow.people import DEFAULT_TRAINING

    bar = {**DEFAULT_TRAINING, **bar}
    _emit(args, bar, [{"setting": key, "value": value} for key, value in bar.items()], ["setting", "value"])
    return 0


def _runTrainingQualify(args) -> int:
    with _store(args) as store:
        result = store.qualifyReader(args.user, args.trainee, args.reason)
    covered = "; ".join(result["shortfalls"])
    _emit(args, result, text=f"Reader {args.trainee} is qualified for real cases" + (f" (override covered: {covered})." if covered else "."))
    return 0


def _runTrainingReference(args) -> int:
    with _store(args) as store:
        path = store.referenceMaskPath(args.user, args.case)
    _emit(args, {"case_id": args.case, "reference_mask_path": str(path)}, text=str(path))
    return 0
