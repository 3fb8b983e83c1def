"""The tamper-evident audit trail: a hash chain over the event log and the records each event leaves behind.

Every event carries a ``payload``: the rows of every record it concerns as they stand after the action (the
case with its slots, reads, decisions and training scores; the person with their roles; the settings). Its
``hash`` is SHA-256 over the previous event's hash and all of its own fields, payload included. So:

- an event deleted, changed or moved breaks the chain at that event;
- a record changed behind the store's back (a decision rewritten, a read's hash replaced together with its
  file, a role granted by hand) no longer equals the payload of the last event about it;
- the whole chain recomputed after a rewrite no longer matches the **anchor**: each write appends the new
  chain head to a file outside the database (``derivatives/lesions/workflow-anchor.jsonl``), the export carries
  it, and a manager may sign a head with a private key kept off the machine (Ed25519).

Nothing here trusts the database's own word: :func:`verifyChain` recomputes everything from the rows.
"""

import dataclasses
import functools
import hashlib
import json
from pathlib import Path

from . import schema

#: ``prev_hash`` of the first event.
GENESIS_HASH = "0" * 64
ANCHOR_FILE_NAME = "workflow-anchor.jsonl"
#: Per case, the tables whose rows an event about the case covers (all keyed by ``case_id``).
CASE_TABLES = ("cases", "slots", "reads", "decisions", "training_scores", "panel_members", "opinions")
#: Per person, the tables keyed by ``user_id``.
USER_TABLES = ("users", "user_roles", "logins")
#: PostgreSQL advisory-lock key that serialises event inserts (one chain, one writer at a time).
CHAIN_LOCK_KEY = 0x41495343  # "AISC"


def canonical(value) -> str:
    """The one JSON text a value hashes as (sorted keys, no spaces, no NaN)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=str)


def eventHash(previousHash: str, event: dict) -> str:
    """SHA-256 (hex) of the previous hash and an event's fields (``files`` and ``payload`` as stored text).

    Events since schema version 5 also cover where they came from (OS account, host, database login); older
    events hash as they always did.
    """
    fields = [previousHash, event["id"], event["at"], event["user_id"], event["case_id"], event["action"], event["from_state"],
              event["to_state"], event["revision"], event["note"], event["files"], event["payload"]]
    origin = [event.get("os_user"), event.get("host"), event.get("db_login")]
    if any(value is not None for value in origin):
        fields += origin
    return hashlib.sha256(canonical(fields).encode("utf-8")).hexdigest()


def _rows(connection, table, column, key) -> list[dict]:
    from sqlalchemy import select

    primary = list(table.primary_key.columns)
    rows = connection.execute(select(table).where(table.c[column] == key).order_by(*primary)).mappings()
    return [{name: value for name, value in row.items()} for row in rows]


@functools.cache
def _caseRowsQuery(withHead: bool = False):
    """One statement for the rows of every case table of one case (bound parameter ``case_id``): a UNION ALL with one
    branch per table, each table's columns in their own result positions (NULL cast to the same type in the other
    branches), ordered by table and primary key. With ``withHead``, one more branch gives the newest event's id and hash.

    It gives exactly the rows and values of one ``SELECT`` per table (:func:`_rows`): the result positions carry each
    column's own type, so the driver and SQLAlchemy convert them alike. One statement instead of eight matters where
    every statement is a round trip to the server, inside the chain's lock (PostgreSQL).

    :return: ``(statement, layout)``; ``layout`` lists per table the ``(column name, result position)`` pairs, and for
        ``events`` the positions of the head's id and hash.
    """
    from sqlalchemy import bindparam, cast, func, literal_column, null, select, union_all

    t = schema.tables()
    byName = t.metadata.tables
    positions = [(name, column) for name in CASE_TABLES for column in byName[name].columns]
    if withHead:
        positions += [("events", t.events.c.id), ("events", t.events.c.hash)]
    layout = {name: [(column.name, 2 + index) for index, (owner, column) in enumerate(positions) if owner == name]
              for name in (*CASE_TABLES, *(("events",) if withHead else ()))}
    branches = []
    for tableIndex, name in enumerate(layout):
        table = byName[name]
        (key,) = table.primary_key.columns
        columns = [literal_column(str(tableIndex)).label("t"), key.label("k")]
        columns += [(column if owner == name else cast(null(), column.type)).label(f"c{index}") for index, (owner, column) in enumerate(positions)]
        if name == "events":  # the chain head: the newest event (primary key lookup)
            branches.append(select(*columns).where(table.c.id == select(func.max(table.c.id)).scalar_subquery()))
        else:
            branches.append(select(*columns).where(table.c.case_id == bindparam("case_id")))
    return union_all(*branches).order_by(literal_column("t"), literal_column("k")), layout


def _caseRows(connection, caseId: str, withHead: bool = False):
    """The rows of every case table of one case (as :func:`_rows` gives them), in one statement.

    :param withHead: also the chain head, read by the same statement.
    :return: the tables by name; with ``withHead``, ``(tables, (id, hash) of the newest event or None)``.
    """
    statement, layout = _caseRowsQuery(withHead)
    tables: dict[str, list[dict]] = {name: [] for name in CASE_TABLES}
    head = None
    for row in connection.execute(statement, {"case_id": caseId}):
        name = (*CASE_TABLES, "events")[int(row[0])]
        if name == "events":
            (_, idPosition), (_, hashPosition) = layout["events"]
            head = (row[idPosition], row[hashPosition])
        else:
            tables[name].append({column: row[position] for column, position in layout[name]})
    return (tables, head) if withHead else tables


def headAndSnapshot(connection, caseIds=(), userIds=(), settings: bool = False) -> tuple[tuple[int, str], dict]:
    """:func:`lastEvent` and :func:`snapshot` together; for the first case the head comes with its rows in one statement.

    Call it holding the chain's lock: both must be read after the previous event's transaction committed.
    """
    if not caseIds:
        return lastEvent(connection), snapshot(connection, caseIds, userIds, settings)
    first, *others = sorted(set(caseIds))
    rows, head = _caseRows(connection, first, withHead=True)
    payload = snapshot(connection, others, userIds, settings, knownCases={first: rows})
    return _headOf(head), payload


def snapshot(connection, caseIds=(), userIds=(), settings: bool = False, knownCases: dict | None = None) -> dict:
    """The current rows of the records an event concerns, as the payload stores them.

    :param knownCases: case ID -> its tables already read in this transaction (included as they are).
    """
    from sqlalchemy import select

    t = schema.tables()
    byName = t.metadata.tables  # by name (sorted_tables would sort them again on every event)
    payload = {}
    cases = {**{caseId: _caseRows(connection, caseId) for caseId in set(caseIds)}, **(knownCases or {})}
    if cases:
        payload["cases"] = {caseId: cases[caseId] for caseId in sorted(cases)}
    if userIds:
        payload["users"] = {userId: {name: _rows(connection, byName[name], "user_id", userId) for name in USER_TABLES} for userId in sorted(set(userIds))}
    if settings:
        payload["settings"] = [dict(row) for row in connection.execute(select(t.settings).order_by(t.settings.c.key)).mappings()]
    # Stored as the same canonical text it is hashed as, so a round trip through the database changes nothing.
    return json.loads(canonical(payload))


def lastEvent(connection) -> tuple[int, str]:
    """``(id, hash)`` of the newest event, ``(0, GENESIS_HASH)`` on an empty log (a chain of legacy events: their last id)."""
    from . import queries

    row = connection.execute(queries.lastEvent()).first()
    return _headOf(None if row is None else (row.id, row.hash))


def _headOf(row) -> tuple[int, str]:
    """``(id, hash)`` of the newest event from its row ``(id, hash)`` or None."""
    if row is None:
        return 0, GENESIS_HASH
    return int(row[0]), row[1] or GENESIS_HASH


@dataclasses.dataclass
class ChainProblem:
    """One finding of :func:`verifyChain`: where the trail stops being trustworthy, in a sentence."""

    eventId: int | None
    kind: str
    message: str

    def toDict(self) -> dict:
        return {"event": self.eventId, "kind": self.kind, "message": self.message}


def _describe(event: dict) -> str:
    case = f" on case {event['case_id']}" if event["case_id"] else ""
    return f"event {event['id']} ({event['action']} by {event['user_id']}{case}, {event['at']})"


def verifyChain(connection, anchors: list[dict] | None = None) -> tuple[list[ChainProblem], dict]:
    """Recompute the chain and the records' payloads; compare the head with the anchors.

    :param anchors: entries of the anchor file (``{"event", "hash"}``), oldest first; None when there is none.
    :return: ``(problems, head)``: the first broken link and every record that differs from its last event's
        payload (each a sentence), and ``{"event", "hash", "events"}`` of the chain as recomputed.
    """
    from sqlalchemy import select

    t = schema.tables()
    events = [dict(row) for row in connection.execute(select(t.events).order_by(t.events.c.id)).mappings()]
    problems: list[ChainProblem] = []
    previousHash, previousId = GENESIS_HASH, 0
    covered: dict[tuple, dict] = {}
    for event in events:
        if event["hash"] is None:  # recorded before the chain existed (schema version 3 or older)
            previousId = event["id"]
            continue
        if event["prev_hash"] != previousHash:
            missing = f"events {previousId + 1} to {event['id'] - 1} are missing or " if event["id"] > previousId + 1 else ""
            problems.append(ChainProblem(event["id"], "broken-link", f"The audit trail is broken before {_describe(event)}: {missing}"
                                         "an earlier event was changed, removed or reordered."))
            break
        if eventHash(previousHash, event) != event["hash"]:
            problems.append(ChainProblem(event["id"], "changed-event", f"The audit trail's {_describe(event)} was changed after it was recorded."))
            break
        payload = json.loads(event["payload"]) if event["payload"] else {}
        for caseId, tables in payload.get("cases", {}).items():
            covered[("case", caseId)] = {"event": event, "rows": tables}
        for userId, tables in payload.get("users", {}).items():
            covered[("user", userId)] = {"event": event, "rows": tables}
        if "settings" in payload:
            covered[("settings", "")] = {"event": event, "rows": payload["settings"]}
        previousHash, previousId = event["hash"], event["id"]
    head = {"event": previousId, "hash": previousHash, "events": len(events)}
    if not problems:
        problems.extend(_recordProblems(connection, covered))
    problems.extend(_anchorProblems(events, anchors))
    return problems, head


def _recordProblems(connection, covered: dict) -> list[ChainProblem]:
    """Every record whose rows differ from the payload of the last event about it, or that no event covers."""
    from sqlalchemy import select

    t = schema.tables()
    problems = []
    for (kind, key), entry in sorted(covered.items()):
        current = snapshot(connection, caseIds=[key] if kind == "case" else (), userIds=[key] if kind == "user" else (), settings=kind == "settings")
        rows = current["cases"][key] if kind == "case" else current["users"][key] if kind == "user" else current["settings"]
        if isinstance(rows, dict):  # a table newer than the event (logins, schema version 5) is not in its payload
            rows = {name: value for name, value in rows.items() if name in entry["rows"]}
        if rows != entry["rows"]:
            what = f"case {key}" if kind == "case" else f"user {key}" if kind == "user" else "the workflow settings"
            tables = [name for name in rows if rows[name] != entry["rows"].get(name)] if isinstance(rows, dict) else ["settings"]
            problems.append(ChainProblem(entry["event"]["id"], "changed-record",
                                         f"The records of {what} ({', '.join(tables)}) differ from what {_describe(entry['event'])} recorded: "
                                         "they were changed outside the workflow."))
    known = {key for kind, key in covered if kind == "case"}
    for caseId in connection.execute(select(t.cases.c.case_id)).scalars():
        if caseId not in known and covered:
            problems.append(ChainProblem(None, "unrecorded", f"Case {caseId} is in the database but no event recorded it: it was added outside the workflow."))
    return problems


def _anchorProblems(events: list[dict], anchors: list[dict] | None) -> list[ChainProblem]:
    if not anchors:
        return []
    byId = {event["id"]: event["hash"] for event in events}
    for anchor in anchors:
        recorded = byId.get(int(anchor["event"]))
        if recorded is None:
            return [ChainProblem(int(anchor["event"]), "truncated", f"Event {anchor['event']}, whose hash the anchor file kept, is no longer in the "
                                 "database: the log was truncated or rewritten.")]
        if recorded != anchor["hash"]:
            return [ChainProblem(int(anchor["event"]), "rewritten", f"Event {anchor['event']} no longer has the hash the anchor file kept: "
                                 "the chain was rewritten from there on.")]
    return []


def anchorPath(datasetRoot: Path) -> Path:
    """``<root>/derivatives/lesions/workflow-anchor.jsonl``."""
    from ..core.derivatives import PIPELINE_NAME

    return Path(datasetRoot) / "derivatives" / PIPELINE_NAME / ANCHOR_FILE_NAME


def appendAnchor(datasetRoot: Path, head: tuple[int, str]) -> None:
    """Append the chain head to the anchor file (created when missing); never rewrites earlier lines."""
    path = anchorPath(datasetRoot)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = canonical({"event": head[0], "hash": head[1], "at": schema.utcNow()}) + "\n"
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line)
        handle.flush()


def readAnchors(datasetRoot: Path) -> list[dict] | None:
    """The anchor file's entries, oldest first; None when there is none."""
    path = anchorPath(datasetRoot)
    if not path.is_file():
        return None
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            entries.append(json.loads(line))
    return entries


#: Triggers that keep the event log append-only, per backend (see ``schema``).
GUARD_TRIGGERS = {"sqlite": ("events_no_update", "events_no_delete"), "postgresql": ("events_append_only",)}


def guardProblems(connection) -> list[ChainProblem]:
    """The append-only guards of the event log that are missing (someone dropped them)."""
    dialect = connection.dialect.name
    if dialect == "sqlite":
        present = set(connection.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'").scalars())
    else:
        present = set(connection.exec_driver_sql("SELECT tgname FROM pg_trigger WHERE tgrelid = 'events'::regclass AND NOT tgisinternal").scalars())
    missing = [name for name in GUARD_TRIGGERS.get(dialect, ()) if name not in present]
    return [ChainProblem(None, "guard-missing", f"The event log's guard '{name}' is missing: someone removed the protection that keeps "
                         "the log append-only.") for name in missing]
