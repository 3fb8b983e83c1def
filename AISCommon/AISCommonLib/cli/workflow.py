"""``ais workflow``: case routing from the command line (two blind reads, review, arbitration, audit).

Every subcommand takes ``--user`` (who acts) and ``--db`` (a SQLite file or a ``postgresql+psycopg://``
URL; default ``$AIS_DB_URL``, else ``<root>/derivatives/lesions/workflow.sqlite`` of ``--root``), prints
a table or, with ``--json``, one JSON document. The rules themselves live in ``AISCommonLib.workflow``.

In team mode (PostgreSQL) the acting user is the person the database login belongs to; ``--user`` may be left
out and, when given, must be that person. On a single workstation (SQLite) ``--user`` is required (declared).
"""

import argparse
import getpass
import json
import os
import sys
from pathlib import Path

from ..core.errors import AISError, InputError
from .output import stderrProgress
from .regiontable import regionTable, withNotes
from .workflowcase import addNotesCommand, addPanelCommand, addReadRecordArguments, readParameters
from .workflowio import emit as _emit
from .workflowio import formatNumber as _number
from .workflowio import openWorkflowStore as _store
from .workflowio import parseDecisionArguments
from .workflowtraining import addTrainingCommand

EXIT_PROBLEMS = 1


# ---------------------------------------------------------------------------------------------------
# Parser


def addWorkflowCommand(subparsers) -> None:
    """Register ``ais workflow <subcommand>`` on the ``ais`` parser."""
    from ..core import reviewrule
    from ..core.agreement import AgreementParameters
    from ..workflow import people, states

    defaults = AgreementParameters()
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--user", help="your user ID (pseudonymous, e.g. R01); required on a single workstation (SQLite), "
                                       "in team mode (PostgreSQL) taken from your database login and refused if it differs")
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

    def loginArguments(parser, who):
        parser.add_argument("--login", metavar="ROLE", help=f"team mode: the database login role of {who} (default: the user ID in lower case)")
        parser.add_argument("--no-login", action="store_true", help="team mode: create no database login now")
        passwordArguments(parser, "the new login")

    init = add("init", "create the workflow database for a dataset and register its first manager (--user); "
                       "on PostgreSQL run it as the database owner, and it creates the manager's login", _runInit)
    qualificationArguments(init)
    loginArguments(init, "the manager")
    init.add_argument("--min-dice", type=float, default=defaults.minDice, help="concordance rule: lowest Dice (default %(default)g)")
    init.add_argument("--max-missed-lesions", type=int, default=defaults.maxMissedLesions, help="concordance rule: most missed lesions (default %(default)d)")
    init.add_argument("--min-extent-mm3", type=float, default=defaults.minExtentMm3, help="hide extent regions smaller than this (default %(default)g)")
    training = init.add_mutually_exclusive_group()
    training.add_argument("--require-training", dest="require_training", action="store_true", default=True,
                          help="readers read trial cases before real ones (the default)")
    training.add_argument("--no-training", dest="require_training", action="store_false",
                          help="readers get real cases at once (recorded in the init event; change later with 'training bar')")

    users = add("users", "list users, add one (--add ID, with their database login in team mode), grant/revoke a role, "
                         "deactivate or reactivate a person", _runUsers)
    users.add_argument("--add", metavar="ID", help="register a person (team mode: and create their database login)")
    users.add_argument("--title", choices=people.TITLES)
    users.add_argument("--years-imaging", type=float)
    users.add_argument("--years-neuroimaging", type=float)
    loginArguments(users, "the person added (--add) or given a login (--create-login)")
    users.add_argument("--create-login", metavar="ID", help="team mode: give a registered person their database login")
    users.add_argument("--grant", nargs=2, metavar=("ID", "ROLE"), help=f"give a role ({', '.join(states.ROLES)})")
    users.add_argument("--revoke", nargs=2, metavar=("ID", "ROLE"), help="take a role away (needs --reason)")
    users.add_argument("--deactivate", metavar="ID", help="take a person out: inactive, open claims released, login disabled (needs --reason)")
    users.add_argument("--reactivate", metavar="ID", help="bring a deactivated person back (needs --reason)")
    users.add_argument("--reason", help="override reason (role below its minimum), or why a role is revoked or a person (de)activated")

    whoami = add("whoami", "who you act as: your database login, your workflow user, whether the database authenticated it", _runWhoami)
    whoami.set_defaults(identityOnly=True)
    password = add("password", "team mode: change the password of your own database login (asked twice, never shown)", _runPassword)
    passwordArguments(password, "your login")

    setup = commands.add_parser("setup-postgres", help="print the steps that set up team mode (PostgreSQL) for a site; changes nothing",
                                description="Print the exact steps a site's IT person runs to set up team mode: a PostgreSQL server, "
                                            "the owner role, the workflow, each person's login and .pgpass line. Nothing is run or changed.")
    setup.add_argument("--host", default="localhost", help="server host name as the workstations reach it (default %(default)s)")
    setup.add_argument("--port", type=int, default=5432, help="server port (default %(default)d)")
    setup.add_argument("--database", default="ais_workflow", help="database name (default %(default)s)")
    setup.add_argument("--owner", default="ais_owner", help="owner role: owns the tables, creates the logins (default %(default)s)")
    setup.add_argument("--manager", default="M01", help="the first manager's workflow ID (default %(default)s)")
    setup.add_argument("--data-dir", help="a new server's data folder (initdb); leave out to use a running server")
    setup.add_argument("--root", default="/path/to/bids", help="the BIDS dataset root as the workstations see it")
    setup.set_defaults(handler=_runSetupPostgres)

    register = add("register", "register the dataset's cases (manager)", _runRegister)
    register.add_argument("--participant-label", nargs="+", metavar="LABEL", help="only these subjects")

    nextCase = add("next", "claim your next case: an open read, review or arbitration slot", _runNext)
    nextCase.add_argument("--role", required=True, choices=sorted(states.ROLE_SLOTS))

    submit = add("submit", "submit your read of a claimed case (a NIfTI mask on the DWI grid)", _runSubmit, (common, revision))
    submit.add_argument("case", metavar="CASE")
    submit.add_argument("mask", metavar="MASK")
    addReadRecordArguments(submit)
    addNotesCommand(add, common)

    for name, handler, helpText in (("review", _runReview, "finalise a case you review: a decision per discordant region"),
                                    ("arbitrate", _runArbitrate, "rule on an escalated case you arbitrate")):
        parser = add(name, helpText, handler, (common, revision))
        parser.add_argument("case", metavar="CASE")
        parser.add_argument("--decision", action="append", default=[], metavar="ID=DECISION",
                            help="region decision: keep, drop or edited (repeatable; small=keep|drop decides every small region at once; "
                                 "optional with --edited-mask)")
        parser.add_argument("--default", choices=reviewrule.DEFAULT_DECISIONS, help="decision for every region not listed, small ones included")
        parser.add_argument("--start", choices=reviewrule.STARTING_POINTS,
                            help="start the final from the agreed voxels, a read, their union, intersection, STAPLE or majority; "
                                 "listed decisions then change it (recorded)")
        parser.add_argument("--edited-mask", metavar="MASK",
                            help="your own final mask (any voxel may change, agreed ones too); what it changed is derived and recorded")
        parser.add_argument("--allow-empty", action="store_true", help="accept an empty final mask although both readers marked voxels")
        parser.add_argument("--note", help="notes on the decision")
        if name == "arbitrate":
            parser.add_argument("--override-reason", help="why your ruling differs from the reviewer's proposal (required then)")

    escalate = add("escalate", "send a case you review to an arbiter", _runEscalate, (common, revision))
    escalate.add_argument("case", metavar="CASE")
    escalate.add_argument("--reason", required=True)
    escalate.add_argument("--propose", action="append", default=[], metavar="ID=DECISION",
                          help="the decision you would make on a region, keep or drop (repeatable; small=keep|drop); "
                               "a ruling that differs must say why")
    addPanelCommand(add, common)

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

    verify = add("verify", "check the audit trail's hash chain, its anchor and guards, and re-hash every recorded file (exit 1 on any problem)",
                 _runVerify)
    verify.add_argument("--public-key", metavar="PEM", help="also check the manager's signatures with this public key")
    sign = add("sign", "sign the verified chain head with a manager's private key (kept off this machine)", _runSign)
    sign.add_argument("--key", required=True, metavar="PEM", help="Ed25519 private key (from 'ais workflow keygen')")
    keygen = commands.add_parser("keygen", help="make an Ed25519 key pair for signing the audit trail (no database needed)",
                                 description="Make an Ed25519 key pair for signing the audit trail; keep the private key off the workstation.")
    keygen.add_argument("--private", required=True, metavar="PEM", help="private key file to write (0600, never overwritten)")
    keygen.add_argument("--public", required=True, metavar="PEM", help="public key file to write")
    keygen.set_defaults(handler=_runKeygen)

    export = add("export", "write cases, reads, decisions and events as JSON and CSV", _runExport)
    export.add_argument("--out", required=True, metavar="DIR")

    addTrainingCommand(commands, common)


def passwordArguments(parser, what: str) -> None:
    """``--password-prompt`` / ``--password-env VAR``: how a password is read (never from the command line)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--password-prompt", action="store_true", help=f"ask for the password of {what} (not shown)")
    group.add_argument("--password-env", metavar="VAR", help=f"read the password of {what} from this environment variable")


# ---------------------------------------------------------------------------------------------------
# Handlers


def _password(args, login: str | None, ask: bool = False) -> str | None:
    """The password given by ``--password-env`` or ``--password-prompt`` (asked twice; also without the flag when
    ``ask``), or None.

    :raises InputError: an empty variable, different answers, or a password where no login is made.
    """
    if not (args.password_env or args.password_prompt or ask):
        return None
    if login is None:
        raise InputError("A password belongs to a database login (team mode, PostgreSQL); no login is made here.")
    if args.password_env:
        value = os.environ.get(args.password_env)
        if not value:
            raise InputError(f"The environment variable {args.password_env} holds no password.")
        return value
    first = getpass.getpass(f"Password for the database login '{login}': ")
    if getpass.getpass("The same password again: ") != first:
        raise InputError("The two passwords differ; nothing was changed.")
    return first


def _login(args, backend: str, userId: str) -> str | None:
    """The login role to create for ``userId`` (team mode, unless --no-login), else None.

    :param backend: ``sqlite`` or ``postgresql``.
    """
    from ..workflow.pgsecurity import defaultLogin

    if backend != "postgresql" or args.no_login:
        if args.login:
            raise InputError("--login names a database login, which exists in team mode (PostgreSQL) only." if backend != "postgresql"
                             else "--login and --no-login contradict each other.")
        return None
    return args.login or defaultLogin(userId)


def _runInit(args) -> int:
    from ..workflow.database import resolveDatabaseUrl
    from ..workflow.people import Qualification
    from ..workflow.store import createWorkflow

    if not args.root:
        raise InputError("init needs --root, the BIDS dataset the workflow is for.")
    if not args.user:
        raise InputError("init needs --user, the ID of the workflow's first manager.")
    from ..core.agreement import AgreementParameters

    concordance = AgreementParameters.fromRule(
        {"min_dice": args.min_dice, "max_missed_lesions": args.max_missed_lesions, "min_extent_mm3": args.min_extent_mm3}).ruleDict()
    backend = "postgresql" if resolveDatabaseUrl(args.db, args.root).startswith("postgresql") else "sqlite"
    login = _login(args, backend, args.user)
    password = _password(args, login)
    store, created = createWorkflow(args.db, args.root, args.user, Qualification(args.title, args.years_imaging, args.years_neuroimaging),
                                    concordance=concordance, training={"required": bool(args.require_training)}, login=login, password=password)
    with store:
        text = ("Initialised" if created else "Already initialised") + f" the workflow database {store.url}."
        if created and login:
            text += f" The manager {args.user} logs in as the database role '{login}'."
        _emit(args, {"initialised": created, "database": store.url, "settings": store.settings(), "login": login}, text=text)
    return 0


def _runUsers(args) -> int:
    from ..workflow.people import Qualification

    if args.add and args.create_login:
        raise InputError("--add already creates the login in team mode; use --create-login for a person registered before.")
    with _store(args) as store:
        if args.add:
            if None in (args.title, args.years_imaging, args.years_neuroimaging):
                raise InputError("Adding a user needs --title, --years-imaging and --years-neuroimaging.")
            login = _login(args, store.backend, args.add)
            store.addUser(args.user, args.add, Qualification(args.title, args.years_imaging, args.years_neuroimaging),
                          login=login, password=_password(args, login))
        elif args.create_login:
            login = _login(args, store.backend, args.create_login) if store.backend == "postgresql" else args.login
            store.createLogin(args.user, args.create_login, login, _password(args, login))
        elif args.password_env or args.password_prompt:
            raise InputError("A password is set with --add or --create-login (a person changes their own with 'ais workflow password').")
        if args.grant:
            shortfalls = store.grantRole(args.user, args.grant[0], args.grant[1], args.reason)
            if shortfalls:
                sys.stderr.write(f"Granted below the minimum ({'; '.join(shortfalls)}); the override reason is recorded.\n")
        if args.revoke:
            store.revokeRole(args.user, args.revoke[0], args.revoke[1], args.reason or "")
        for userId, method, done in ((args.deactivate, store.deactivateUser, "Deactivated"), (args.reactivate, store.reactivateUser, "Reactivated")):
            if userId:
                result = method(args.user, userId, args.reason or "")
                released = result.get("released")
                sys.stderr.write(f"{done} {userId}" + (f"; database login '{result['login']}' {'disabled' if released is not None else 'enabled'}"
                                                       if result["login"] else "")
                                 + (f"; claims released: {', '.join(released) or 'none'}" if released is not None else "") + ".\n")
        users = store.users()
        logins = store.logins()
    users = [{**user, "login": logins.get(user["user_id"])} for user in users]
    rows = [{**user, "roles": ",".join(role["role"] + ("*" if role["override_reason"] else "") for role in user["roles"])} for user in users]
    _emit(args, users, rows, ["user_id", "title", "years_imaging", "years_neuroimaging", "roles", "reader_qualified", "active", "login"],
          text=None if args.json else "(* = granted below the minimum by a manager's override)")
    return 0


def _runWhoami(args) -> int:
    with _store(args) as store:
        identity = store.sessionIdentity()
        try:
            identity["acting_user"], problem = store.actingUser(args.user), None
        except AISError as error:
            identity["acting_user"], problem = None, str(error)
    if problem:
        how = problem
    elif identity["backend"] == "postgresql":
        how = (f"You act as {identity['acting_user']}, authenticated by the database as login '{identity['login']}'." if identity["authenticated"]
               else f"You act as {identity['acting_user']}, declared: your database login '{identity['login']}' owns the workflow.")
    else:
        how = f"You act as {identity['acting_user']}, declared, not authenticated (single-workstation mode)."
    _emit(args, {**identity, "problem": problem}, text=f"{how} Computer account {identity['os_user']} on {identity['host']}.")
    return EXIT_PROBLEMS if problem else 0


def _runPassword(args) -> int:
    with _store(args) as store:
        login = store.sessionIdentity()["login"]
        if store.backend != "postgresql":
            raise InputError("A single-workstation (SQLite) workflow has no database logins or passwords.")
        store.changePassword(_password(args, login, ask=True))
    _emit(args, {"login": login, "changed": True}, text=f"The password of the database login '{login}' is changed; update your .pgpass line.")
    return 0


def _runSetupPostgres(args) -> int:
    from ..workflow.pgsetup import setupSteps

    sys.stdout.write(setupSteps(host=args.host, port=args.port, database=args.database, owner=args.owner, manager=args.manager,
                                dataDir=args.data_dir, datasetRoot=args.root))
    return 0


def _runRegister(args) -> int:
    with _store(args) as store:
        registered = store.registerCases(args.user, participantLabels=args.participant_label, progress=stderrProgress)
    _emit(args, {"registered": registered}, text=f"Registered {len(registered)} case(s): {', '.join(registered) or 'none new'}.")
    return 0


def _runNext(args) -> int:
    with _store(args) as store:
        claim = store.claimNext(args.user, args.role)
        if claim is not None and args.role == "reader":
            case = store.case(claim["case_id"])
            claim["folder"] = case["relative_folder"]
    if claim is None:
        text = f"No open {args.role} work for {args.user}."
        if args.role == "reader":
            with _store(args) as store:
                if store.trainingReport(args.user, args.user)["in_training"]:
                    text = (f"{args.user} is in reader training and no trial case is open to them: a manager registers trial cases "
                            "('ais workflow training register') or qualifies the reader with a reason ('ais workflow training qualify').")
        _emit(args, None, text=text)
        return 0
    _emit(args, claim, [claim], ["case_id", "kind", "slot_index", "state", "revision", "resumed"],
          text="A trial case of your reader training: it is scored against a reference mask when you submit." if claim.get("training") else None)
    return 0


def _runSubmit(args) -> int:
    with _store(args) as store:
        result = store.submitRead(args.user, args.case, Path(args.mask), expectedRevision=args.revision, parameters=readParameters(args, store))
    text = None
    if result.get("training"):
        score = result["score"]
        text = "Trial read recorded; it is scored when a client with the agreement engine runs." if score is None else (
            f"Trial score: Dice {score['dice']:.3f}, HD95 {_number(score['hd95_mm'], ' mm')}, lesion F1 {_number(score['lesion_f1'])}, "
            f"{_number(score['duration_seconds'] and score['duration_seconds'] / 60, ' min')}."
            + (" You are now qualified for real cases." if result["qualified"] else ""))
    _emit(args, result, [result], ["case_id", "state", "revision", "mask_path", "sha256"], text=text)
    return 0


def _finalise(args, method) -> int:
    with _store(args) as store:
        decisions, default = parseDecisionArguments(args.decision), args.default
        if args.start:
            if args.edited_mask:
                raise InputError("--start builds the final from the reads; with --edited-mask your mask is the final. Give one of them.")
            startDecisions, startDefault = store.startingDecisions(args.user, args.case, args.start)
            decisions, default = {**startDecisions, **decisions}, default or startDefault
        result = getattr(store, method)(args.user, args.case, decisions, default, args.note, Path(args.edited_mask) if args.edited_mask else None,
                                        args.revision, startingPoint=args.start, allowEmpty=args.allow_empty,
                                        **({"overrideReason": args.override_reason} if method == "arbitrate" else {}))
    outcome = result["outcome"]
    changed = {key: value for key, value in outcome["regions"].items()}
    text = (f"Final mask: {outcome['final_voxels']} voxels; regions " + (", ".join(f"{key} {value}" for key, value in changed.items()) or "none")
            + (f"; agreed voxels removed: {outcome['agreed_removed_voxels']}, voxels added outside both reads: {outcome['added_voxels']}"
               if outcome["agreement_corrected"] else "") + ".")
    _emit(args, result, [result], ["case_id", "state", "revision", "final_mask_path", "sha256"], text=text)
    return 0


def _runReview(args) -> int:
    return _finalise(args, "review")


def _runArbitrate(args) -> int:
    return _finalise(args, "arbitrate")


def _runTransition(args, transition) -> int:
    """Run one case transition ``transition(store)`` and show the case's new state."""
    with _store(args) as store:
        result = transition(store)
    _emit(args, result, [result], ["case_id", "state", "revision"])
    return 0


def _runEscalate(args) -> int:
    return _runTransition(args, lambda store: store.escalate(args.user, args.case, args.reason, args.revision, proposal=parseDecisionArguments(args.propose)))


def _runExclude(args) -> int:
    return _runTransition(args, lambda store: store.exclude(args.user, args.case, args.reason, args.note, args.revision))


def _runReopen(args) -> int:
    return _runTransition(args, lambda store: store.reopen(args.user, args.case, args.reason, args.revision))


def _runStatus(args) -> int:
    with _store(args) as store:
        store.settleComparisons(args.user)
        if args.case:
            case = store.case(args.case, viewer=args.user)
            case["reads"] = store.readsVisibleTo(args.user, args.case)
            comparison = case.pop("comparison") or {}
            case["comparison"] = {key: comparison.get(key) for key in ("dice", "missed_lesions", "concordant", "discordant_regions")} if comparison else None
            text = json.dumps({key: case[key] for key in ("case_id", "state", "revision", "exclusion_reason", "final_mask_path")}, indent=1)
            regions = (case["comparison"] or {}).get("discordant_regions") or []
            readers = tuple(read["user_id"] for read in case["reads"]) if len(case["reads"]) == 2 else None
            case["read_records"] = store.readRecords(args.user, args.case) if case["comparison"] else []
            regions = withNotes(regions, case["read_records"])
            _emit(args, case, case["slots"], ["kind", "slot_index", "status", "user_id", "claimed_at"],
                  text=text + ("\n" + regionTable(regions, readers, ("notes",)) if case["comparison"] else ""))
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
        report = store.verify(progress=stderrProgress, publicKeyPath=args.public_key, userId=args.user)
    problems = [row for row in report["files"] if row["status"] != "ok"]
    head = report["head"]
    lines = [f"Audit trail: {head['events']} event(s), chain head {head['event']} {head['hash'][:16]}...",
             *(f"  {problem['message']}" for problem in report["chain"]),
             f"{len(report['files'])} recorded file(s), {len(problems)} missing or changed."]
    _emit(args, {**report, "problems": problems}, problems or None, ["path", "status"], text="\n".join(lines))
    return 0 if report["ok"] else EXIT_PROBLEMS


def _runSign(args) -> int:
    with _store(args) as store:
        entry = store.signChainHead(args.user, Path(args.key))
    _emit(args, entry, text=f"Signed event {entry['event']} ({entry['hash'][:16]}...) with key {entry['key']}.")
    return 0


def _runKeygen(args) -> int:
    from ..workflow.signing import generateKeyPair

    identifier = generateKeyPair(Path(args.private), Path(args.public))
    sys.stdout.write(f"Key {identifier}: private key {args.private} (keep it off this machine), public key {args.public}.\n")
    return 0


def _runExport(args) -> int:
    with _store(args) as store:
        written = store.export(args.user, args.out, progress=stderrProgress)
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
