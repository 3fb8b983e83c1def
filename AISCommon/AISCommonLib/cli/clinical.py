"""``ais clinical``: onset-to-imaging interval, NIHSS and stroke side per case, imported or entered, never as dates."""

from ..core.errors import InputError
from .output import emitJson, formatTable


def addClinicalCommand(subparsers) -> None:
    """Register ``ais clinical import|set|show`` on the ``ais`` parser."""
    from ..core.clinical import MAX_NIHSS, MAX_ONSET_TO_IMAGING_H, STROKE_SIDES

    clinical = subparsers.add_parser(
        "clinical", help="clinical metadata per case (onset-to-imaging hours, NIHSS, stroke side) in participants.tsv / sessions.tsv",
        description="Values are kept as intervals in hours, never as dates: a date or time of day anywhere is refused, in one "
                    "sentence that does not repeat it. Cases with a session level use sub-*/sub-*_sessions.tsv, others participants.tsv.")
    commands = clinical.add_subparsers(dest="clinicalCommand", required=True, metavar="SUBCOMMAND")
    importing = commands.add_parser("import", help="import a site's table (CSV; columns participant_id, [session_id,] onset_to_imaging_h, "
                                                   "nihss, stroke_side); every row is checked before anything is written")
    importing.add_argument("bidsRoot", metavar="BIDS_ROOT")
    importing.add_argument("table", metavar="TABLE")
    importing.add_argument("--json", action="store_true")
    importing.set_defaults(handler=_runImport)
    setting = commands.add_parser("set", help="enter the values of one case (others keep theirs)")
    setting.add_argument("bidsRoot", metavar="BIDS_ROOT")
    setting.add_argument("--participant-label", required=True, metavar="LABEL")
    setting.add_argument("--session-label", metavar="LABEL")
    setting.add_argument("--onset-to-imaging-h", metavar="HOURS", help=f"hours from symptom onset (or last known well) to the MRI, 0-{MAX_ONSET_TO_IMAGING_H:g}; n/a if unknown")
    setting.add_argument("--nihss", metavar="SCORE", help=f"NIHSS at admission, 0-{MAX_NIHSS}; n/a if unknown")
    setting.add_argument("--side", metavar="SIDE", help=f"hemisphere the deficit points to: {', '.join(STROKE_SIDES)}; n/a if unknown")
    setting.add_argument("--json", action="store_true")
    setting.set_defaults(handler=_runSet)
    showing = commands.add_parser("show", help="every case's values and what is still missing")
    showing.add_argument("bidsRoot", metavar="BIDS_ROOT")
    showing.add_argument("--json", action="store_true")
    showing.set_defaults(handler=_runShow)


def _runImport(args) -> int:
    from ..core.clinical import importClinicalTable

    imported = importClinicalTable(args.bidsRoot, args.table)
    if args.json:
        emitJson({"imported": imported})
    else:
        print(f"Imported the clinical values of {len(imported)} case(s): {', '.join(row['caseId'] for row in imported)}.")
    return 0


def _runSet(args) -> int:
    from ..core.cases import selectCase
    from ..core.clinical import setClinical

    values = {field: value for field, value in (("onset_to_imaging_h", args.onset_to_imaging_h), ("nihss", args.nihss), ("stroke_side", args.side))
              if value is not None}
    if not values:
        raise InputError("Give at least one of --onset-to-imaging-h, --nihss, --side.")
    case = selectCase(args.bidsRoot, args.participant_label, args.session_label)
    stored = setClinical(args.bidsRoot, case, values, where="The option")
    if args.json:
        emitJson({"caseId": case.caseId, **stored})
    else:
        print(f"{case.caseId}: " + ", ".join(f"{field} {value}" for field, value in stored.items()) + ".")
    return 0


def _runShow(args) -> int:
    from ..core.cases import discoverCases
    from ..core.clinical import CLINICAL_FIELDS, clinicalCompleteness

    rows = clinicalCompleteness(args.bidsRoot, discoverCases(args.bidsRoot))
    if args.json:
        emitJson({"cases": rows})
        return 0
    print(formatTable([{**row, "missing": ", ".join(row["missing"]) or "-"} for row in rows], ["caseId", *CLINICAL_FIELDS, "missing"]))
    complete = sum(not row["missing"] for row in rows)
    print(f"{complete} of {len(rows)} case(s) have every clinical value.")
    for row in rows:
        if row.get("problem"):
            print(f"ais: warning: {row['caseId']}: {row['problem']}")
    return 0
