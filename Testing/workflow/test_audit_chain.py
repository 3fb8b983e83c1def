"""The audit trail is tamper-evident: every edit made behind the store's back is caught by ``verify`` (exit 1, the
broken link named), on SQLite and on PostgreSQL. Each attacker here writes to the database directly, after removing
the append-only guards as someone with the database file or a superuser login could."""

import json

import numpy as np
import pytest
from workflow_fixtures import BACKENDS, MANAGER, readerMasks, replaceReadBytes, saveNifti, staffedStore

from AISCommonLib.cli.workflow import main as workflowMain
from AISCommonLib.workflow import chain, schema

CASE = "sub-01_ses-01"


@pytest.fixture(params=BACKENDS)
def finished(request, tmp_path):
    """A case read twice, reviewed and final, with the anchor file kept; the store is open."""
    with staffedStore(request.param, tmp_path) as store:
        for reader, mask in zip(("R01", "R02"), readerMasks(store.root, CASE, concordant=False)):
            store.claimNext(reader, "reader")
            store.submitRead(reader, CASE, mask)
        store.claimNext("V01", "reviewer")
        store.review("V01", CASE, {}, defaultDecision="keep")
        assert store.verify()["ok"]
        yield store


def tamper(store, *statements):
    """Run SQL as an attacker: the append-only guards removed first, as the owner of the database file could."""
    with store._engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("DROP TRIGGER IF EXISTS events_no_update")
            connection.exec_driver_sql("DROP TRIGGER IF EXISTS events_no_delete")
        else:
            connection.exec_driver_sql("ALTER TABLE events DISABLE TRIGGER USER")
        for statement in statements:
            connection.exec_driver_sql(statement)
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("ALTER TABLE events ENABLE TRIGGER USER")


def restoreGuards(store):
    from AISCommonLib.workflow.schema import _SQLITE_APPEND_ONLY

    if store.backend == "sqlite":
        with store._engine.begin() as connection:
            for statement in _SQLITE_APPEND_ONLY:
                connection.exec_driver_sql(statement)


def kinds(report) -> list[str]:
    return [problem["kind"] for problem in report["chain"]]


def eventId(store, action):
    return next(event["id"] for event in store.events(MANAGER, CASE) if event["action"] == action)


def test_a_deleted_event_breaks_the_chain_at_the_next_one(finished):
    claim = eventId(finished, "claim")
    tamper(finished, f"DELETE FROM events WHERE id = {claim}")
    restoreGuards(finished)
    report = finished.verify()
    assert not report["ok"] and kinds(report)[0] == "broken-link"
    assert f"before event {claim + 1}" in report["chain"][0]["message"] and f"events {claim} to {claim}" in report["chain"][0]["message"]


def test_a_changed_actor_is_named(finished):
    review = eventId(finished, "review")
    tamper(finished, f"UPDATE events SET user_id = 'A01' WHERE id = {review}")
    restoreGuards(finished)
    report = finished.verify()
    assert kinds(report)[0] == "changed-event" and f"event {review} (review by A01" in report["chain"][0]["message"]


def test_reordered_events_are_caught(finished):
    first, second = [event["id"] for event in finished.events(MANAGER, CASE) if event["action"] == "submit"]
    tamper(finished, f"UPDATE events SET id = -1 WHERE id = {first}", f"UPDATE events SET id = {first} WHERE id = {second}",
           f"UPDATE events SET id = {second} WHERE id = -1")
    restoreGuards(finished)
    assert kinds(finished.verify())[0] in ("broken-link", "changed-event")


def test_a_truncated_log_is_caught_by_the_anchor(finished):
    tamper(finished, "DELETE FROM events" if finished.backend == "sqlite" else "TRUNCATE events")
    restoreGuards(finished)
    report = finished.verify()
    assert "truncated" in kinds(report) and not report["ok"]


def test_a_rewritten_decision_is_caught(finished):
    tamper(finished, "UPDATE decisions SET region_decisions = '{}', default_decision = 'drop'")
    restoreGuards(finished)
    report = finished.verify()
    assert kinds(report) == ["changed-record"] and f"case {CASE} (decisions)" in report["chain"][0]["message"]


def test_a_file_replaced_with_its_recorded_hash_is_caught(finished):
    from AISCommonLib.core.atomicio import sha256File

    read = finished.readsVisibleTo(MANAGER, CASE)[0]
    forged = saveNifti(np.zeros((40, 44, 20)), np.eye(4), finished.root.parent / "forged.nii.gz")
    replaceReadBytes(finished, read["mask_path"], forged.read_bytes())  # the sealed file, or the database copy in team mode
    tamper(finished, f"UPDATE reads SET sha256 = '{sha256File(forged)}' WHERE id = {read['read_id']}")
    restoreGuards(finished)
    report = finished.verify()
    assert "changed-record" in kinds(report) and "(reads)" in report["chain"][0]["message"]


def test_a_whole_chain_rewrite_is_caught_by_the_anchor(finished):
    """The attacker changes the review's note and recomputes every hash from there on with our own code."""
    review = eventId(finished, "review")
    with finished._engine.connect() as connection:
        events = [dict(row) for row in connection.execute(__import__("sqlalchemy").select(schema.tables().events).order_by(schema.tables().events.c.id)).mappings()]
    statements, previous = [], chain.GENESIS_HASH
    for event in events:
        if event["id"] == review:
            event["note"] = "nothing to see"
        event["prev_hash"] = previous
        event["hash"] = chain.eventHash(previous, event)
        previous = event["hash"]
        note = "NULL" if event["note"] is None else "'" + event["note"].replace("'", "''") + "'"
        statements.append(f"UPDATE events SET note = {note}, prev_hash = '{event['prev_hash']}', hash = '{event['hash']}' WHERE id = {event['id']}")
    tamper(finished, *statements)
    restoreGuards(finished)
    report = finished.verify()
    assert kinds(report) == ["rewritten"] and f"Event {review}" in report["chain"][0]["message"]


def test_removed_guards_are_reported(finished):
    tamper(finished)  # removes the guards and leaves them off on SQLite
    if finished.backend == "postgresql":
        with finished._engine.begin() as connection:
            connection.exec_driver_sql("DROP TRIGGER events_append_only ON events")
            connection.exec_driver_sql("ALTER TABLE slots DISABLE ROW LEVEL SECURITY")  # team mode's rules, too
    report = finished.verify()
    assert "guard-missing" in kinds(report) and not report["ok"]
    messages = [problem["message"] for problem in report["chain"]]
    if finished.backend == "postgresql":
        assert "Row-level security is off on the table slots." in messages
    else:
        assert any("events_no_delete" in message for message in messages)


def test_cli_verify_exits_1_and_names_the_link(finished, capsys):
    review = eventId(finished, "review")
    tamper(finished, f"UPDATE events SET note = 'changed' WHERE id = {review}")
    restoreGuards(finished)
    arguments = ["workflow", "verify", "--user", MANAGER, "--db", finished.url.removeprefix("sqlite:///"), "--root", str(finished.root)]
    assert workflowMain(arguments) == 1
    out = capsys.readouterr().out
    assert f"event {review} (review by V01" in out
    assert workflowMain([*arguments, "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["chain"][0]["kind"] == "changed-event"


def test_events_cover_the_records_they_create(finished):
    with finished._engine.connect() as connection:
        rows = connection.execute(__import__("sqlalchemy").select(schema.tables().events)).mappings().all()
    review = next(row for row in rows if row["action"] == "review")
    payload = json.loads(review["payload"])
    assert payload["cases"][CASE]["decisions"][0]["user_id"] == "V01" and payload["cases"][CASE]["cases"][0]["state"] == "final"
    grant = next(row for row in rows if row["action"] == "grant_role" and json.loads(row["note"])["user"] == "V01")
    assert json.loads(grant["payload"])["users"]["V01"]["user_roles"][0]["role"] == "reviewer"
    anchors = chain.readAnchors(finished.root)
    assert anchors[-1]["event"] == max(row["id"] for row in rows)


def test_a_signed_head_catches_a_rewrite_of_database_and_anchor_together(finished, tmp_path, capsys):
    from AISCommonLib.workflow.signing import generateKeyPair

    keys = tmp_path / "keys"
    generateKeyPair(keys / "manager.pem", keys / "manager.pub")
    assert oct((keys / "manager.pem").stat().st_mode & 0o777) == "0o600"
    with pytest.raises(Exception, match="needs the role manager"):
        finished.signChainHead("R01", keys / "manager.pem")
    entry = finished.signChainHead(MANAGER, keys / "manager.pem")
    assert finished.verify(publicKeyPath=keys / "manager.pub")["ok"]
    # The attacker rewrites the anchor file's signed line to match a rewritten chain.
    anchorFile = chain.anchorPath(finished.root)
    lines = anchorFile.read_text().splitlines()
    forged = json.loads(lines[-1])
    forged["hash"] = "f" * 64
    anchorFile.write_text("\n".join(lines[:-1] + [json.dumps(forged)]) + "\n")
    report = finished.verify(publicKeyPath=keys / "manager.pub")
    assert "bad-signature" in kinds(report) and not report["ok"]
    generateKeyPair(keys / "other.pem", keys / "other.pub")
    assert "unsigned" in kinds(finished.verify(publicKeyPath=keys / "other.pub"))
    assert entry["event"] == finished.verify()["head"]["event"]
