"""What the acceptance report takes from the workflow database: its tables, how far its identities can be trusted,
the rules it applied (concordance rule, training bar) and every decision a manager took against the rules or with a
reason (role grants below the minimum, rule changes, qualification overrides, exclusions, reopened cases ...).

Nothing here writes to the database; without one the report says so and judges from the files alone.
"""

import dataclasses
import json
import os
from pathlib import Path

from ..core.errors import AISError

#: Event actions whose reason the report echoes whatever they say (a manager's decision taken with a reason).
REASONED_ACTIONS = ("settings", "exclude", "reopen", "revoke_role", "deactivate_user", "reactivate_user")
#: What a manager's action did, in words (``{user}``, ``{role}`` from the event's note).
ACTION_WORDS = {
    "grant_role": "gave {user} the {role} role although they fall short of its minimum ({shortfalls})",
    "qualify": "qualified {user} as a reader without the training bar being met",
    "settings": "changed the workflow rules ({changes})",
    "exclude": "excluded the case ({reasonCode}{note})",
    "reopen": "put the excluded case back (it was excluded for {wasExcludedFor})",
    "revoke_role": "took the {role} role from {user}",
    "deactivate_user": "deactivated {user}",
    "reactivate_user": "reactivated {user}",
}


@dataclasses.dataclass
class WorkflowInfo:
    """The workflow database as the report sees it.

    :param tables: every table (``WorkflowStore.snapshot``).
    :param identity: ``WorkflowStore.identityReport()`` (its ``statement`` goes into the report as it is).
    :param datasetRoot: the root the recorded paths are relative to.
    :param backend: ``sqlite`` or ``postgresql``.
    """

    tables: dict
    identity: dict
    datasetRoot: Path
    backend: str

    def absolutePath(self, recorded: str) -> Path:
        """A recorded (dataset-relative) path on this machine."""
        path = Path(recorded)
        return path if path.is_absolute() else self.datasetRoot / path


def openWorkflow(root: Path, database) -> tuple[WorkflowInfo | None, str | None]:
    """Read the workflow database of a dataset (never creates one).

    :param database: URL or SQLite file; None: ``$AIS_DB_URL``, else the dataset's own SQLite file if it exists.
    :return: ``(info, None)``, or ``(None, sentence saying why there is none)``.
    """
    from ..workflow.database import DATABASE_URL_VARIABLE, defaultDatabasePath
    from ..workflow.store import openStore

    database = database or os.environ.get(DATABASE_URL_VARIABLE)
    if database is None:
        path = defaultDatabasePath(root)
        if not path.is_file():
            return None, f"No workflow database ({path} does not exist and no --db was given): completeness is judged from the files alone."
        database = path
    elif "://" not in str(database) and not Path(database).is_file():
        return None, f"The workflow database '{database}' does not exist: completeness is judged from the files alone."
    try:
        store = openStore(database, root)
    except AISError as error:
        return None, f"The workflow database could not be opened ({error}); completeness is judged from the files alone."
    try:
        tables = store.snapshot()
        identity = store.identityReport()
        try:
            datasetRoot = store.datasetRoot
        except AISError:
            datasetRoot = root
        return WorkflowInfo(tables, identity, Path(datasetRoot), store.backend), None
    except AISError as error:
        return None, f"The workflow database could not be read ({error}); completeness is judged from the files alone."
    finally:
        store.close()


def storedSettings(tables: dict | None) -> dict:
    """Setting key -> its JSON value, as the workflow stores them ({} without a workflow)."""
    settings = {}
    for row in (tables or {}).get("settings", []):
        try:
            settings[row["key"]] = json.loads(row["value"])
        except (TypeError, ValueError):
            settings[row["key"]] = row["value"]
    return settings


def concordanceRule(tables: dict | None):
    """The workflow's concordance rule when the dataset has a workflow, else the default one.

    :return: :class:`~AISCommonLib.core.agreement.AgreementParameters`.
    :raises InputError: the stored rule is out of range.
    """
    from ..core.agreement import AgreementParameters

    stored = storedSettings(tables)
    return AgreementParameters.fromRule(stored["concordance"]) if "concordance" in stored else AgreementParameters()


def trainingBar(tables: dict | None) -> dict | None:
    """The workflow's training bar (its defaults filled in), or None without a workflow."""
    if tables is None:
        return None
    from ..workflow.people import DEFAULT_TRAINING

    stored = storedSettings(tables).get("training")
    return {**DEFAULT_TRAINING, **(stored if isinstance(stored, dict) else {})}


def _note(event: dict) -> dict:
    try:
        note = json.loads(event.get("note") or "{}")
    except ValueError:
        return {"text": event.get("note")}
    return note if isinstance(note, dict) else {"text": str(note)}


def _changes(note: dict) -> str:
    parts = []
    for key in ("concordance", "training"):
        if note.get(key):
            parts.append(f"{key}: " + ", ".join(f"{name} = {value}" for name, value in sorted(note[key].items())))
    return "; ".join(parts) or "no values recorded"


def managerOverrides(tables: dict | None) -> list[dict]:
    """Every decision taken against a rule or with a recorded reason, oldest first.

    Listed: a role granted below its minimum (``grant_role`` with an override reason), a reader qualified without
    meeting the training bar (``qualify`` with an override reason), every change of the rules, every exclusion and
    reopened case, every role revoked and person (de)activated, any other event whose note carries an
    ``override_reason``, and every arbitration ruling that overrode the reviewer (``decisions.override_reason``).

    :return: rows ``{"when", "who", "action", "case", "what", "reason"}``; [] without a workflow.
    """
    rows = []
    for event in (tables or {}).get("events", []):
        action = event.get("action", "")
        note = _note(event)
        override = note.get("override_reason")
        if not override and action not in REASONED_ACTIONS:
            continue
        words = ACTION_WORDS.get(action, action.replace("_", " "))
        fields = {"user": note.get("user", "?"), "role": note.get("role", "?"), "shortfalls": "; ".join(note.get("shortfalls") or []) or "none recorded",
                  "changes": _changes(note), "reasonCode": note.get("reason", "no reason"), "note": f": {note['note']}" if note.get("note") else "",
                  "wasExcludedFor": note.get("was_excluded_for") or "an unrecorded reason"}
        try:
            what = words.format(**fields)
        except (KeyError, IndexError):
            what = words
        reason = override or (note.get("reason") if action not in ("exclude",) else note.get("note") or note.get("reason")) or ""
        rows.append({"when": str(event.get("at") or event.get("created_at") or ""), "who": event.get("user_id", ""), "action": action,
                     "case": event.get("case_id") or "", "what": what, "reason": reason or "no reason recorded"})
    for decision in (tables or {}).get("decisions", []):
        if decision.get("override_reason"):
            rows.append({"when": str(decision.get("created_at") or ""), "who": decision.get("user_id", ""), "action": f"{decision.get('action', 'decide')} (override)",
                         "case": decision.get("case_id") or "", "what": "ruled against the reviewer's decision of the case",
                         "reason": decision["override_reason"]})
    return sorted(rows, key=lambda row: row["when"])
