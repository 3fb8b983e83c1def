"""``ais workflow``: case routing from the command line (two blind reads, review, arbitration, audit).

Every subcommand takes ``--user`` (who acts) and ``--db`` (a SQLite file or a ``postgresql+psycopg://``
URL; default ``$AIS_DB_URL``, else ``<root>/derivatives/lesions/workflow.sqlite`` of ``--root``), prints
a table or, with ``--json``, one JSON document. The store is opened with the agreement engine wired in
(:func:`agreementComparator`, :func:`agreementFinaliser`), so this client settles comparisons and builds
final masks; the rules themselves live in ``AISAnnotatorLib.core.workflow``.
"""

import argparse
import json
import sys
from pathlib import Path

from AISAnnotatorLib.cli import emitJson, formatTable, stderrProgress
from AISAnnotatorLib.core.errors import AISError, InputError

EXIT_PROBLEMS = 1


def _agreementParameters(concordance: dict):
    from .core.agreement import AgreementParameters

    parameters = AgreementParameters(
        minExtentMm3=float(concordance["min_extent_mm3"]),
        minDice=float(concordance["min_dice"]),
        maxMissedLesions=int(concordance["max_missed_lesions"]),
    )
    parameters.validate()
    return parameters


def agreementComparator(concordance: dict):
    """The workflow comparator: ``compareFiles`` with the store's concordance rule.

    :param concordance: ``{"min_dice", "max_missed_lesions", "min_extent_mm3"}``.
    :return: callable ``(maskPathA, maskPathB) -> (concordant, summary)``; summary is ``AgreementResult.toDict()``.
    """
    from .core.agreement import compareFiles

    parameters = _agreementParameters(concordance)

    def compare(pathA, pathB):
        result = compareFiles(pathA, pathB, parameters)
        return result.concordant, result.toDict()

    return compare


def agreementFinaliser(concordance: dict):
    """The workflow finaliser: agreed voxels plus the regions decided ``keep`` (``consensus.adjudicatedMask``).

    :return: callable ``(maskPathA, maskPathB, decisions, defaultDecision) -> bool [k, j, i]``.
    """
    from .core.agreement import compareFiles
    from .core.consensus import adjudicatedMask

    parameters = _agreementParameters(concordance)

    def finalise(pathA, pathB, decisions, defaultDecision):
        result = compareFiles(pathA, pathB, parameters)
        return adjudicatedMask(result, dict(decisions), defaultDecision)

    return finalise


def openReviewStore(database=None, datasetRoot=None):
    """A workflow store with the agreement engine wired in (comparator and finaliser from the stored rule).

    :raises InputError: no database can be chosen.
    """
    from AISAnnotatorLib.core.workflow.store import DEFAULT_CONCORDANCE, openStore

    store = openStore(database, datasetRoot)
    concordance = {**DEFAULT_CONCORDANCE, **store.settings().get("concordance", {})}
    store.comparator = agreementComparator(concordance)
    store.finaliser = agreementFinaliser(concordance)
    return store


# ---------------------------------------------------------------------------------------------------
# Parser


def addWorkflowCommand(subparsers) -> None:
    """Register ``ais workflow <subcommand>`` on the ``ais`` parser."""
    from AISAnnotatorLib.core.workflow import people, states

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--user", required=True, help="your user ID (pseudonymous, e.g. R01)")
    common.add_argument("--db", help="SQLite file or postgresql+psycopg:// URL (default: $AIS_DB_URL, else the dataset's workflow.sqlite)")
    common.add_argument("--root", help="BIDS dataset root (locates the default SQLite database; overrides the recorded root)")
    common.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    revision = argparse.ArgumentParser(add_help=False)
    revision.add_argument("--revision", type=int, help="the case revision you saw; refused if the case changed since")

    workflow = subparsers.add_parser("workflow", help="case routing: two blind reads, review, arbitration, audit trail",
                                     description="Route cases through two blind reads, a senior review and arbitration, with an audit trail.")
    commands = workflow.add_subparsers(dest="workflowCommand", required=True, metavar="SUBCOMMAND")

    def add(name, helpText, handler, parents=(common,)):
        parser = commands.add_parser(name, help=helpText, description=helpText[0].upper() + helpText[1:] + ".", parents=list(parents))
        parser.set_defaults(handler=handler)
        return parser

    def qualificationArguments(parser):
        parser.add_argument("--title", required=True, choices=people.TITLES)
        parser.add_argument("--years-imaging", type=float, required=True)
        parser.add_argument("--years-neuroimaging", type=float, required=True)

    init = add("init", "create the workflow database for a dataset and register its first manager (--user)", _runInit)
    qualificationArguments(init)
    init.add_argument("--min-dice", type=float, default=0.7, help="concordance rule: lowest Dice (default %(default)g)")
    init.add_argument("--max-missed-lesions", type=int, default=0, help="concordance rule: most missed lesions (default %(default)d)")
    init.add_argument("--min-extent-mm3", type=float, default=50.0, help="hide extent regions smaller than this (default %(default)g)")
    init.add_argument("--require-training", action="store_true", help="readers read trial cases before real ones")

    users = add("users", "list users, or add one (--add ID) or grant/revoke a role (--grant/--revoke ID ROLE)", _runUsers)
    users.add_argument("--add", metavar="ID", help="register a person")
    users.add_argument("--title", choices=people.TITLES)
    users.add_argument("--years-imaging", type=float)
    users.add_argument("--years-neuroimaging", type=float)
    users.add_argument("--grant", nargs=2, metavar=("ID", "ROLE"), help=f"give a role ({', '.join(states.ROLES)})")
    users.add_argument("--revoke", nargs=2, metavar=("ID", "ROLE"), help="take a role away (needs --reason)")
    users.add_argument("--reason", help="override reason (role below its minimum) or revocation reason")

    register = add("register", "register the dataset's cases (manager)", _runRegister)
    register.add_argument("--participant-label", nargs="+", metavar="LABEL", help="only these subjects")

    nextCase = add("next", "claim your next case: an open read, review or arbitration slot", _runNext)
    nextCase.add_argument("--role", required=True, choices=sorted(states.ROLE_SLOTS))

    submit = add("submit", "submit your read of a claimed case (a NIfTI mask on the DWI grid)", _runSubmit, (common, revision))
    submit.add_argument("case", metavar="CASE")
    submit.add_argument("mask", metavar="MASK")

    for name, handler, helpText in (("review", _runReview, "finalise a case you review: a decision per discordant region"),
                                    ("arbitrate", _runArbitrate, "rule on an escalated case you arbitrate")):
        parser = add(name, helpText, handler, (common, revision))
        parser.add_argument("case", metavar="CASE")
        parser.add_argument("--decision", action="append", default=[], metavar="ID=DECISION", help="region decision: keep, drop or edited (repeatable)")
        parser.add_argument("--default", choices=(states.DECISION_KEEP, states.DECISION_DROP), help="decision for regions not listed")
        parser.add_argument("--edited-mask", metavar="MASK", help="your edited mask (needed when a region is edited); it becomes the final mask")
        parser.add_argument("--note", help="notes on the decision")

    escalate = add("escalate", "send a case you review to an arbiter", _runEscalate, (common, revision))
    escalate.add_argument("case", metavar="CASE")
    escalate.add_argument("--reason", required=True)

    exclude = add("exclude", "take a case out of the workflow with a structured reason", _runExclude, (common, revision))
    exclude.add_argument("case", metavar="CASE")
    exclude.add_argument("--reason", required=True, choices=states.EXCLUSION_REASONS)
    exclude.add_argument("--note", default="")

    reopen = add("reopen", "put an excluded case back (arbiter or manager)", _runReopen, (common, revision))
    reopen.add_argument("case", metavar="CASE")
    reopen.add_argument("--reason", required=True)

    status = add("status", "cases and their states (or one case with --case)", _runStatus)
    status.add_argument("--case", metavar="CASE")

    log = add("log", "the audit trail (of one case with --case)", _runLog)
    log.add_argument("--case", metavar="CASE")

    add("verify", "re-hash every recorded file and report missing or changed ones (exit 1 if any)", _runVerify)

    export = add("export", "write cases, reads, decisions and events as JSON and CSV", _runExport)
    export.add_argument("--out", required=True, metavar="DIR")


# ---------------------------------------------------------------------------------------------------
# Handlers


def _store(args):
    return openReviewStore(args.db, args.root)


def _emit(args, data, rows=None, columns=None, text=None) -> None:
    if args.json:
        emitJson(data)
        return
    if rows is not None:
        sys.stdout.write(formatTable(rows, columns) + "\n")
    if text:
        sys.stdout.write(text + "\n")


def _runInit(args) -> int:
    from AISAnnotatorLib.core.workflow.people import Qualification
    from AISAnnotatorLib.core.workflow.store import openStore

    if not args.root:
        raise InputError("init needs --root, the BIDS dataset the workflow is for.")
    concordance = {"min_dice": args.min_dice, "max_missed_lesions": args.max_missed_lesions, "min_extent_mm3": args.min_extent_mm3}
    _agreementParameters(concordance)
    with openStore(args.db, args.root) as store:
        created = store.initialise(args.root, args.user, Qualification(args.title, args.years_imaging, args.years_neuroimaging),
                                   concordance=concordance, training={"required": bool(args.require_training)})
        _emit(args, {"initialised": created, "database": store.url, "settings": store.settings()},
              text=("Initialised" if created else "Already initialised") + f" the workflow database {store.url}.")
    return 0


def _runUsers(args) -> int:
    from AISAnnotatorLib.core.workflow.people import Qualification

    with _store(args) as store:
        if args.add:
            if None in (args.title, args.years_imaging, args.years_neuroimaging):
                raise InputError("Adding a user needs --title, --years-imaging and --years-neuroimaging.")
            store.addUser(args.user, args.add, Qualification(args.title, args.years_imaging, args.years_neuroimaging))
        if args.grant:
            shortfalls = store.grantRole(args.user, args.grant[0], args.grant[1], args.reason)
            if shortfalls:
                sys.stderr.write(f"Granted below the minimum ({'; '.join(shortfalls)}); the override reason is recorded.\n")
        if args.revoke:
            store.revokeRole(args.user, args.revoke[0], args.revoke[1], args.reason or "")
        users = store.users()
    rows = [{**user, "roles": ",".join(role["role"] + ("*" if role["override_reason"] else "") for role in user["roles"])} for user in users]
    _emit(args, users, rows, ["user_id", "title", "years_imaging", "years_neuroimaging", "roles", "reader_qualified"],
          text=None if args.json else "(* = granted below the minimum by a manager's override)")
    return 0


def _runRegister(args) -> int:
    with _store(args) as store:
        registered = store.registerCases(args.user, participantLabels=args.participant_label)
    _emit(args, {"registered": registered}, text=f"Registered {len(registered)} case(s): {', '.join(registered) or 'none new'}.")
    return 0


def _runNext(args) -> int:
    with _store(args) as store:
        claim = store.claimNext(args.user, args.role)
        if claim is not None and args.role == "reader":
            case = store.case(claim["case_id"])
            claim["folder"] = case["relative_folder"]
    if claim is None:
        _emit(args, None, text=f"No open {args.role} work for {args.user}.")
        return 0
    _emit(args, claim, [claim], ["case_id", "kind", "slot_index", "state", "revision", "resumed"])
    return 0


def _runSubmit(args) -> int:
    with _store(args) as store:
        result = store.submitRead(args.user, args.case, Path(args.mask), expectedRevision=args.revision)
    _emit(args, result, [result], ["case_id", "state", "revision", "mask_path", "sha256"])
    return 0


def _decisions(values) -> dict:
    decisions = {}
    for value in values:
        regionId, separator, decision = value.partition("=")
        if not separator or not regionId.strip().isdigit():
            raise InputError(f"A decision is written REGION_ID=keep|drop|edited, not '{value}'.")
        decisions[int(regionId)] = decision.strip()
    return decisions


def _finalise(args, method) -> int:
    with _store(args) as store:
        result = getattr(store, method)(args.user, args.case, _decisions(args.decision), args.default, args.note,
                                        Path(args.edited_mask) if args.edited_mask else None, args.revision)
    _emit(args, result, [result], ["case_id", "state", "revision", "final_mask_path", "sha256"])
    return 0


def _runReview(args) -> int:
    return _finalise(args, "review")


def _runArbitrate(args) -> int:
    return _finalise(args, "arbitrate")


def _runEscalate(args) -> int:
    with _store(args) as store:
        result = store.escalate(args.user, args.case, args.reason, args.revision)
    _emit(args, result, [result], ["case_id", "state", "revision"])
    return 0


def _runExclude(args) -> int:
    with _store(args) as store:
        result = store.exclude(args.user, args.case, args.reason, args.note, args.revision)
    _emit(args, result, [result], ["case_id", "state", "revision"])
    return 0


def _runReopen(args) -> int:
    with _store(args) as store:
        result = store.reopen(args.user, args.case, args.reason, args.revision)
    _emit(args, result, [result], ["case_id", "state", "revision"])
    return 0


def _runStatus(args) -> int:
    with _store(args) as store:
        store.settleComparisons(args.user)
        if args.case:
            case = store.case(args.case)
            case["reads"] = store.readsVisibleTo(args.user, args.case)
            comparison = case.pop("comparison") or {}
            case["comparison"] = {key: comparison.get(key) for key in ("dice", "missed_lesions", "concordant", "discordant_regions")} if comparison else None
            slots = [{**slot, "user_id": slot["user_id"] if slot["kind"] != "read" or case["state"] != "awaiting_reads" else "(blinded)"} for slot in case["slots"]]
            case["slots"] = slots
            text = json.dumps({key: case[key] for key in ("case_id", "state", "revision", "exclusion_reason", "final_mask_path")}, indent=1)
            regions = (case["comparison"] or {}).get("discordant_regions") or []
            regionRows = [{key: region.get(key) for key in ("id", "kind", "type", "voxels", "volume_ml")} for region in regions]
            _emit(args, case, slots, ["kind", "slot_index", "status", "user_id", "claimed_at"],
                  text=text + ("\n" + formatTable(regionRows, ["id", "kind", "type", "voxels", "volume_ml"]) if regionRows else ""))
            return 0
        cases = store.cases()
    counts: dict[str, int] = {}
    for case in cases:
        counts[case["state"]] = counts.get(case["state"], 0) + 1
    _emit(args, {"cases": cases, "counts": counts}, cases,
          ["case_id", "state", "revision", "reads_claimed", "reads_submitted", "concordant", "exclusion_reason"],
          text=", ".join(f"{state}: {count}" for state, count in sorted(counts.items())))
    return 0


def _runLog(args) -> int:
    with _store(args) as store:
        events = store.events(args.user, args.case)
    rows = [{**event, "files": len(event["files"])} for event in events]
    _emit(args, events, rows, ["id", "at", "user_id", "case_id", "action", "from_state", "to_state", "revision", "files", "note"])
    return 0


def _runVerify(args) -> int:
    with _store(args) as store:
        rows = store.verify(progress=stderrProgress)
    problems = [row for row in rows if row["status"] != "ok"]
    _emit(args, {"files": len(rows), "problems": problems}, problems or None, ["path", "status"],
          text=f"{len(rows)} recorded file(s), {len(problems)} missing or changed.")
    return EXIT_PROBLEMS if problems else 0


def _runExport(args) -> int:
    with _store(args) as store:
        written = store.export(args.out)
    _emit(args, {"written": [str(path) for path in written]}, text=f"Wrote {len(written)} files into {args.out}.")
    return 0


def main(argv=None) -> int:
    """Run ``ais workflow`` on its own (the ``ais`` parser wires :func:`addWorkflowCommand` in as well)."""
    parser = argparse.ArgumentParser(prog="ais")
    addWorkflowCommand(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except AISError as error:
        sys.stderr.write(f"ais workflow: {error}\n")
        return 2
