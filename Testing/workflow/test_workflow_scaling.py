"""What keeps the store's actions as fast at 10,000 cases as at 40 (issue 16 item 4) gives the same results as before:
the case tables snapshotted in one statement, recovery of one case's files, the schema 8 indexes and their upgrade,
and the queue SQLite writers take turns in. On SQLite and PostgreSQL."""

import multiprocessing
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from workflow_fixtures import (
    ARBITER,
    BACKENDS,
    MANAGER,
    QUALIFIED,
    databaseUrl,
    makeDataset,
    openStore,
    readerMasks,
    rotationAffine,
    saveNifti,
    staff,
)

from AISCommonLib.workflow import chain, finalfiles, schema, states, storebase, writequeue
from AISCommonLib.workflow.errors import DatabaseError
from AISCommonLib.workflow.people import Qualification

CASES = ("sub-01_ses-01", "sub-02_ses-01", "sub-03_ses-01")
TRIAL = "sub-04_ses-01"


def caseLoad(connection) -> list[tuple]:
    """``case_load`` as the triggers keep it."""
    return sorted(tuple(row) for row in connection.exec_driver_sql("SELECT case_id, kind, case_seq, taken FROM case_load").all())


def derivedLoad(connection) -> list[tuple]:
    """What ``case_load`` must say: the taken slots per case and kind, counted from the slots."""
    return sorted(tuple(row) for row in connection.exec_driver_sql(
        "SELECT s.case_id, s.kind, c.id, SUM(CASE WHEN s.status <> 'open' THEN 1 ELSE 0 END) FROM slots s JOIN cases c ON c.case_id = s.case_id "
        "GROUP BY s.case_id, s.kind, c.id").all())


def perTableRows(connection, caseId) -> dict:
    """The case tables' rows of one case, one SELECT per table (how snapshots were taken before schema 8)."""
    byName = {table.name: table for table in schema.tables().metadata.sorted_tables}
    return {name: chain._rows(connection, byName[name], "case_id", caseId) for name in chain.CASE_TABLES}


@pytest.fixture(params=BACKENDS)
def busyStore(request, tmp_path):
    """Every case table holds rows: a case arbitrated by a panel (decisions, opinions), one finalised by review, one
    under review, and a trial case read and scored (training scores)."""
    root = makeDataset(tmp_path / "bids", 4)
    store = openStore(databaseUrl(request.param, tmp_path), root)
    staff(store, root)
    store.addUser(MANAGER, "A02", Qualification(*QUALIFIED["arbiter"]))
    store.grantRole(MANAGER, "A02", "arbiter")
    reference = tmp_path / "reference.nii.gz"
    truth = readerMasks(root, TRIAL)[0]
    saveNifti(truth.transpose(2, 1, 0), rotationAffine(), reference, np.uint8)
    for caseId in CASES:  # registered one at a time, so both readers take the same case
        store.registerCases(MANAGER, participantLabels=[caseId[4:6]])
        first, second = readerMasks(root, caseId, concordant=False)
        for reader, mask in (("R01", first), ("R02", second)):
            claim = store.claimNext(reader, "reader")
            assert claim["case_id"] == caseId
            store.submitRead(reader, caseId, mask)
    store.claimNext("V01", "reviewer")
    regions = store.case(CASES[0])["comparison"]["discordant_regions"]
    store.escalate("V01", CASES[0], "unsure", proposal={regions[0]["id"]: "keep"})
    store.claimNext(ARBITER, "arbiter")
    store.convenePanel(ARBITER, CASES[0], ["A02"], note="look at the FLAIR")
    store.addOpinion("A02", CASES[0], "keep it", {regions[0]["id"]: "keep"})
    store.arbitrate(ARBITER, CASES[0], {regions[0]["id"]: "keep"}, defaultDecision="keep")
    store.claimNext("V01", "reviewer")
    store.review("V01", CASES[1], {}, defaultDecision="keep")
    store.claimNext("V02", "reviewer")
    store.registerCases(MANAGER, participantLabels=["04"], training=True, referenceMasks={TRIAL: reference})
    store.updateSettings(MANAGER, "trial reads for the test", training={"required": True})
    store.addUser(MANAGER, "R09", Qualification(*QUALIFIED["reader"]))  # a new reader while training is required: a trainee
    store.grantRole(MANAGER, "R09", "reader")
    claim = store.claimNext("R09", "reader")
    assert claim["case_id"] == TRIAL and claim["training"]
    store.submitRead("R09", TRIAL, truth)
    store.root = root
    yield store
    store.close()


def test_one_statement_gives_every_case_table_row_as_one_select_per_table_did(busyStore):
    with busyStore._engine.connect() as connection:
        counts = {name: 0 for name in chain.CASE_TABLES}
        for caseId in (*CASES, TRIAL, "sub-99_ses-01"):
            rows = chain._caseRows(connection, caseId)
            assert rows == perTableRows(connection, caseId)
            # Same values and same Python types (a bool stays a bool, a float a float), so the payloads hash alike.
            assert {name: [{key: type(value) for key, value in row.items()} for row in table] for name, table in rows.items()} == \
                   {name: [{key: type(value) for key, value in row.items()} for row in table] for name, table in perTableRows(connection, caseId).items()}
            for name, table in rows.items():
                counts[name] += len(table)
    assert all(counts.values()), counts  # every case table was exercised
    with busyStore._engine.connect() as connection:  # the chain head read by the same statement as the first case's rows
        for caseIds, userIds, settings in (((CASES[0],), (), False), ((TRIAL, CASES[1], CASES[2]), ("R09",), True), ((), ("M01",), True)):
            assert chain.headAndSnapshot(connection, caseIds, userIds, settings) == \
                   (chain.lastEvent(connection), chain.snapshot(connection, caseIds, userIds, settings))
        assert chain.lastEvent(connection)[0] == len(busyStore.events(MANAGER))


def test_a_case_s_recorded_files_are_the_whole_store_s_records_of_that_case(busyStore):
    everything = busyStore.recordedFiles()
    for caseId in (*CASES, TRIAL):
        folder = f"derivatives/lesions/{caseId.replace('_', '/')}/"
        own = busyStore.recordedFiles(caseId)
        assert all(everything[path] >= digests for path, digests in own.items())
        assert {path: digests for path, digests in everything.items() if path.startswith(folder)} == \
               {path: digests for path, digests in own.items() if path.startswith(folder)}


def test_finishing_a_case_recovers_its_own_folder_and_never_reads_the_whole_log(busyStore, monkeypatch):
    store = busyStore
    other = store.absolutePath(store.case(CASES[0])["final_mask_path"])
    abandoned = finalfiles.stagingPath(other)  # another case's finalisation that never committed, long ago
    abandoned.write_bytes(b"not a mask")
    os.utime(abandoned, (0, 0))
    asked = []
    original = store.recordedFiles
    monkeypatch.setattr(store, "recordedFiles", lambda caseId=None: asked.append(caseId) or original(caseId))
    ownFolder = store.absolutePath(f"derivatives/lesions/{CASES[2].replace('_', '/')}")
    ownFolder.mkdir(parents=True, exist_ok=True)
    mine = finalfiles.stagingPath(ownFolder / f"{CASES[2]}_dwi_lesionmask.nii.gz")  # this case's own leftover
    mine.write_bytes(b"not a mask either")
    os.utime(mine, (0, 0))
    assert store.review("V02", CASES[2], {}, defaultDecision="keep")["state"] == states.FINAL
    assert asked == [CASES[2]] and not mine.exists() and abandoned.exists()
    monkeypatch.undo()
    store.recoverFinalFiles()  # what opening the store runs: every case
    assert not abandoned.exists() and store.verify()["ok"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_version_7_database_gets_the_indexes_and_keeps_everything(backend, tmp_path):
    from sqlalchemy import inspect

    root = makeDataset(tmp_path / "bids", 2)
    url = databaseUrl(backend, tmp_path)
    store = openStore(url, root)
    staff(store, root)
    store.registerCases(MANAGER, participantLabels=["01"])
    for reader, mask in zip(("R01", "R02"), readerMasks(root, CASES[0])):
        assert store.claimNext(reader, "reader")["case_id"] == CASES[0]
        store.submitRead(reader, CASES[0], mask)
    store.registerCases(MANAGER)
    with store._engine.begin() as connection:  # back to what release 7 left: no version 8 row, index, table or trigger
        if backend == "postgresql":
            connection.exec_driver_sql("DROP TRIGGER ais_case_load ON slots")
            connection.exec_driver_sql("DROP FUNCTION ais_case_load()")
        else:
            for name in schema.CASE_LOAD_TRIGGERS["sqlite"]:
                connection.exec_driver_sql(f"DROP TRIGGER {name}")
        schema.tables().caseLoad.drop(connection)
        for table in schema.tables(7).metadata.sorted_tables:
            for index in schema.tables().metadata.tables[table.name].indexes:
                if index.name not in {index.name for index in table.indexes}:
                    index.drop(connection)
        connection.execute(schema.tables().schemaVersion.delete().where(schema.tables().schemaVersion.c.version == 8))
        assert schema.storedVersion(connection) == 7
    before = store.snapshot()
    store.close()
    store = openStore(url, root)
    try:
        with store._engine.begin() as connection:
            assert schema.storedVersion(connection) == schema.SCHEMA_VERSION == 8
            names = {index["name"] for table in ("slots", "training_scores", "cases", "case_load") for index in inspect(connection).get_indexes(table)}
            assert {"ix_slots_user", "ix_training_scores_case_id", "ix_cases_state_id", "ix_case_load_queue"} <= names
            assert caseLoad(connection) == derivedLoad(connection) and len(caseLoad(connection)) == 3  # two read, one review
        after = store.snapshot()
        assert {name: rows for name, rows in after.items() if name != "schema_version"} == \
               {name: rows for name, rows in before.items() if name != "schema_version"}
        assert store.verify()["ok"]
        assert store.claimNext("R01", "reader")["case_id"] == CASES[1]  # the queue works on the upgraded database
        with store._engine.begin() as connection:  # and the triggers keep the load
            assert caseLoad(connection) == derivedLoad(connection)
    finally:
        store.close()


def test_writers_take_turns_and_a_turn_that_never_comes_times_out(tmp_path):
    queue = writequeue.WriteQueue(tmp_path / "workflow.sqlite")
    if not queue.available:
        pytest.skip("no flock on this platform")  # not reached on Linux CI
    order = []
    holding, release = threading.Event(), threading.Event()

    def holder():
        with queue.turn(5):
            order.append("first in")
            holding.set()
            release.wait(5)
            order.append("first out")

    thread = threading.Thread(target=holder)
    thread.start()
    holding.wait(5)
    started = time.monotonic()
    with pytest.raises(writequeue.WriteQueueTimeout):
        with queue.turn(0.2):
            order.append("never")
    assert 0.15 < time.monotonic() - started < 2
    second = []

    def patient():
        with queue.turn(5):
            second.append(time.monotonic())
            order.append("second in")

    waiter = threading.Thread(target=patient)
    waiter.start()
    time.sleep(0.1)
    released = time.monotonic()
    release.set()
    thread.join(5)
    waiter.join(5)
    assert order == ["first in", "first out", "second in"]
    assert second[0] - released < 0.5  # woken when the turn is given back, not after a sleep
    with queue.turn(0.5):  # the abandoned waiter gave its late turn back
        pass


def test_a_store_whose_write_turn_is_held_elsewhere_says_so_and_changes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(storebase, "LOCK_WAIT_S", 0.5)
    root = makeDataset(tmp_path / "bids", 1)
    path = tmp_path / "workflow.sqlite"
    store = openStore("sqlite:///" + str(path), root)
    staff(store, root)
    if not store._writeQueue.available:
        pytest.skip("no flock on this platform")
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, os, sys, time\n"
                               f"fd = os.open({str(path) + writequeue.LOCK_SUFFIX!r}, os.O_RDWR | os.O_CREAT)\n"
                               "fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = store.snapshot()
        with pytest.raises(DatabaseError, match="stayed locked for 1 s .*nothing was changed"):
            store.addUser(MANAGER, "R09", Qualification(*QUALIFIED["reader"]))
        assert store.snapshot() == before
    finally:
        holder.kill()
        holder.wait()
    store.addUser(MANAGER, "R09", Qualification(*QUALIFIED["reader"]))  # free again
    assert store.verify()["ok"]
    store.close()


def _claimer(url, root, userId, barrier, results):
    store = openStore(url, root)
    try:
        barrier.wait()
        results.put((userId, [store.claimNext(userId, "reader")["case_id"] for _ in range(1)]))
    finally:
        store.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_clients_asking_at_once_spread_over_the_front_of_the_queue(backend, tmp_path):
    """Six readers claim at the same moment: six different cases, the six oldest, each once (one transaction per
    claim tries the next candidate when another client holds the first)."""
    root = makeDataset(tmp_path / "bids", 8)
    url = databaseUrl(backend, tmp_path)
    store = openStore(url, root)
    staff(store, root)
    readers = ("R01", "R02", "R03", "R04", "R05", "R06")
    for userId in readers[4:]:
        store.addUser(MANAGER, userId, Qualification(*QUALIFIED["reader"]))
        store.grantRole(MANAGER, userId, "reader")
    store.registerCases(MANAGER)
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(len(readers)), context.Queue()
    processes = [context.Process(target=_claimer, args=(url, str(root), userId, barrier, results)) for userId in readers]
    for process in processes:
        process.start()
    claimed = dict(results.get(timeout=60) for _ in processes)
    for process in processes:
        process.join(30)
    cases = sorted(caseId for taken in claimed.values() for caseId in taken)
    assert cases == [f"sub-0{index}_ses-01" for index in range(1, 7)]
    assert store.verify()["ok"]
    store.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_queue_read_before_another_claim_never_puts_a_second_reader_on_a_case_while_fresh_ones_wait(backend, tmp_path, monkeypatch):
    """The claim takes candidates from a queue read a moment earlier; one that another client half-took meanwhile is
    passed over (it is no longer at the load level it was found at), as a new look at the queue would."""
    root = makeDataset(tmp_path / "bids", 3)
    store = openStore(databaseUrl(backend, tmp_path), root)
    staff(store, root)
    store.registerCases(MANAGER)
    stale = store._read(lambda connection: store._candidateSlots(connection, "R02", states.SLOT_READ, set(), 8))
    assert stale[1] == 0 and [row.case_id for row in stale[0][:3]] == [CASES[0], CASES[0], CASES[1]]
    assert store.claimNext("R01", "reader")["case_id"] == CASES[0]
    monkeypatch.setattr(store, "_candidateSlots", lambda *arguments: stale)
    assert store.claimNext("R02", "reader")["case_id"] == CASES[1]
    assert store.verify()["ok"]
    store.close()


def test_a_postgresql_connection_dropped_while_idle_is_replaced_before_use(tmp_path, monkeypatch):
    """Pooled connections are checked only after sitting idle (not on every transaction); one the server dropped in
    the meantime is replaced, and the action goes through."""
    import psycopg
    from workflow_fixtures import postgresServer

    from AISCommonLib.workflow import database

    root = makeDataset(tmp_path / "bids", 1)
    store = openStore(databaseUrl("postgresql", tmp_path), root)
    staff(store, root)
    store.registerCases(MANAGER)
    with store._engine.connect() as connection:
        backend = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    server = postgresServer()
    with psycopg.connect(f"host=127.0.0.1 port={server.port} user=postgres dbname=postgres", autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", (backend,)).fetchone()[0]
    monkeypatch.setattr(database, "PING_AFTER_IDLE_S", 0.0)
    assert store.claimNext("R01", "reader")["case_id"] == CASES[0]
    assert store.verify()["ok"]
    store.close()


def test_the_load_of_each_case_follows_every_slot_change(busyStore):
    """Claims, submissions, reviews, escalation, panels, trial slots made and removed, releases, exclusion and reopening:
    after each, ``case_load`` equals the taken slots counted from the slots themselves (kinds with no slot left keep
    a row at 0)."""
    store = busyStore

    def check():
        with store._engine.connect() as connection:
            kept = {(caseId, kind): (seq, taken) for caseId, kind, seq, taken in caseLoad(connection)}
            derived = {(caseId, kind): (seq, taken) for caseId, kind, seq, taken in derivedLoad(connection)}
        assert {key: value for key, value in kept.items() if key in derived} == derived
        assert all(taken == 0 for key, (_, taken) in kept.items() if key not in derived)

    check()
    store.registerCases(MANAGER)  # the rest of the dataset: nothing, all four are registered
    store.addUser(MANAGER, "R10", Qualification(*QUALIFIED["reader"]))
    store.grantRole(MANAGER, "R10", "reader")
    claim = store.claimNext("R10", "reader")  # a trainee's trial slot, made by the claim
    check()
    store.releaseClaim("R10", claim["case_id"], "not now")  # ... and removed again
    check()
    store.exclude(MANAGER, CASES[2], "motion_artifact", "test")  # releases V02's review slot
    check()
    store.reopen(MANAGER, CASES[2], "was fine after all")
    check()
    assert store.claimNext("V02", "reviewer")["case_id"] == CASES[2]
    check()
    assert store.verify()["ok"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_queue_by_load_level_finds_a_fresh_case_behind_half_read_ones_and_then_the_oldest(backend, tmp_path):
    root = makeDataset(tmp_path / "bids", 5)
    store = openStore(databaseUrl(backend, tmp_path), root)
    staff(store, root)
    store.registerCases(MANAGER)
    taken = []
    for _ in range(4):  # one reader works through the four oldest cases, each left with one read
        claim = store.claimNext("R01", "reader")
        taken.append(claim["case_id"])
        store.submitRead("R01", claim["case_id"], readerMasks(root, claim["case_id"])[0])
    assert taken == [f"sub-0{index}_ses-01" for index in range(1, 5)]
    assert store.claimNext("R02", "reader")["case_id"] == "sub-05_ses-01"  # the one case nobody read yet, though newest
    assert store.claimNext("R03", "reader")["case_id"] == "sub-01_ses-01"  # then the oldest with one read
    assert store.verify()["ok"]
    store.close()


def test_a_case_cut_by_the_limit_is_left_for_the_next_look():
    from collections import namedtuple

    from AISCommonLib.workflow.claims import _inSlotOrder

    Row = namedtuple("Row", "id case_id slot_index")
    rows = [Row(2, "a", 2), Row(1, "a", 1), Row(4, "b", 2), Row(3, "b", 1)]
    assert [row.id for row in _inSlotOrder(rows, 5)] == [1, 2, 3, 4]  # not cut: every case, slots in order
    assert [row.id for row in _inSlotOrder(rows, 4)] == [1, 2]  # cut: case b may have lost its first slot
    assert [row.id for row in _inSlotOrder(rows[:2], 2)] == [1, 2]  # a single case is kept
