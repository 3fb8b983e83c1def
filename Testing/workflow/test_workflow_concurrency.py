"""Many client processes claiming, submitting and reviewing at once, on SQLite and on PostgreSQL."""

import multiprocessing
import time
from collections import Counter

import pytest
from workflow_fixtures import BACKENDS, MANAGER, QUALIFIED, REVIEWERS, concurrentWorker, databaseUrl, makeDataset, openStore, staff

from AISCommonLib.workflow import states
from AISCommonLib.workflow.people import Qualification
from AISCommonLib.workflow.sealedreads import isSealed

CASES = 8
EXTRA_READERS = ("R05", "R06")


@pytest.mark.parametrize("backend", BACKENDS)
def test_concurrent_clients_never_double_assign_or_lose_events(backend, tmp_path):
    root = makeDataset(tmp_path / "bids", CASES)
    url = databaseUrl(backend, tmp_path)
    store = openStore(url, root)
    staff(store, root)
    for userId in EXTRA_READERS:
        store.addUser(MANAGER, userId, Qualification(*QUALIFIED["reader"]))
        store.grantRole(MANAGER, userId, "reader")
    store.registerCases(MANAGER)
    readers = ("R01", "R02", "R03", "R04") + EXTRA_READERS
    # Eight processes: six readers (R01 twice: one person on two workstations) and two reviewers.
    clients = [(userId, "reader") for userId in readers] + [("R01", "reader")] + [(REVIEWERS[0], "reviewer")]
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(len(clients)), context.Queue()
    deadline = time.monotonic() + 40
    processes = [context.Process(target=concurrentWorker, args=(url, str(root), userId, role, barrier, results, deadline)) for userId, role in clients]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    errors = [f"{userId}: {error}" for userId, _, error in outcomes if error]
    assert errors == []
    refused = [(userId, caseId) for userId, done, _ in outcomes for action, caseId in done if action == "refused"]
    assert all(userId == "R01" for userId, _ in refused)  # only the person working on two clients at once

    snapshot = store.snapshot()
    cases = {row["case_id"]: row for row in snapshot["cases"]}
    assert all(row["state"] == states.FINAL for row in cases.values()), Counter(row["state"] for row in cases.values())

    slots = snapshot["slots"]
    reads = [slot for slot in slots if slot["kind"] == states.SLOT_READ]
    assert len(reads) == 2 * CASES and all(slot["status"] == states.SLOT_DONE for slot in reads)
    for caseId in cases:
        readers = [slot["user_id"] for slot in reads if slot["case_id"] == caseId]
        reviewer = [slot["user_id"] for slot in slots if slot["case_id"] == caseId and slot["kind"] == states.SLOT_REVIEW]
        assert len(set(readers)) == 2, f"{caseId} read twice by one person: {readers}"
        assert len(reviewer) == 1 and reviewer[0] not in readers
    assert len(snapshot["reads"]) == 2 * CASES and len({read["slot_id"] for read in snapshot["reads"]}) == 2 * CASES

    # No lost event: every action a client saw succeed is in the log exactly once, and nothing else.
    performed = Counter((userId, action, caseId) for userId, done, _ in outcomes for action, caseId in done if action != "refused")
    logged = Counter(
        (event["user_id"], event["action"], event["case_id"])
        for event in snapshot["events"]
        if event["action"] in ("claim", "submit", "review")
    )
    assert logged == performed
    compares = Counter(event["case_id"] for event in snapshot["events"] if event["action"] == "compare")
    assert compares == Counter({caseId: 1 for caseId in cases})
    # Revisions count the state changes: submit (2nd read), compare, review.
    for caseId, row in cases.items():
        changes = sum(1 for event in snapshot["events"] if event["case_id"] == caseId and event["from_state"] != event["to_state"] and event["from_state"])
        assert row["revision"] == 1 + changes == 4
    assert store.verify()["ok"]
    onDisk = {path.relative_to(root).as_posix() for path in (root / "derivatives" / "lesions").rglob("*") if path.is_file() and path.name not in ("dataset_description.json", "workflow-anchor.jsonl")}
    recorded = {path for path in store.recordedFiles() if path.startswith("derivatives/")}
    if backend == "postgresql":  # team mode: the sealed reads are database rows, one per recorded sealed file
        inDatabase = set(store._databaseCopyDigests())
        assert inDatabase == {path for path in recorded if isSealed(path)} and len(inDatabase) == 4 * CASES
        recorded -= inDatabase
    assert onDisk == recorded  # refused writes were removed
    store.close()
