"""Database faults end in one sentence and leave nothing behind: an external lock names its holder, a failed
``init`` leaves no database, bad folder labels are refused before any write."""

import subprocess
import sys

import pytest
from workflow_fixtures import MANAGER, QUALIFIED, makeDataset, openStore, staff

from AISCommonLib.cli.workflow import main as workflowMain
from AISCommonLib.workflow import database, storebase
from AISCommonLib.workflow.errors import DatabaseError
from AISCommonLib.workflow.people import Qualification


def test_an_external_lock_is_named_within_seconds(tmp_path, monkeypatch):
    monkeypatch.setattr(database, "SQLITE_BUSY_TIMEOUT_S", 0.5)
    monkeypatch.setattr(storebase, "LOCK_WAIT_S", 0.5)
    root = makeDataset(tmp_path / "bids", 1)
    path = tmp_path / "workflow.sqlite"
    store = openStore("sqlite:///" + str(path), root)
    staff(store, root)
    holder = subprocess.Popen([sys.executable, "-c", "import sqlite3, sys, time\n"
                               f"connection = sqlite3.connect({str(path)!r}, isolation_level=None)\n"
                               "connection.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(DatabaseError, match=f"stayed locked for 1 s by process {holder.pid} .*nothing was changed"):
            store.addUser(MANAGER, "R09", Qualification(*QUALIFIED["reader"]))
    finally:
        holder.kill()
        holder.wait()
        store.close()


def test_a_failed_init_leaves_no_database(tmp_path, capsys):
    root = makeDataset(tmp_path / "bids", 1)
    path = tmp_path / "fresh.sqlite"
    status = workflowMain(["workflow", "init", "--user", "M 01", "--db", str(path), "--root", str(root),
                           "--title", "chief", "--years-imaging", "20", "--years-neuroimaging", "12"])
    assert status == 2 and "M 01" in capsys.readouterr().err
    assert sorted(tmp_path.glob("fresh.sqlite*")) == []
    status = workflowMain(["workflow", "init", "--user", "M01", "--db", str(path), "--root", str(tmp_path / "missing"),
                           "--title", "chief", "--years-imaging", "20", "--years-neuroimaging", "12"])
    assert status == 2 and sorted(tmp_path.glob("fresh.sqlite*")) == []


def test_bad_folder_labels_are_refused_before_any_write(tmp_path):
    from AISCommonLib.synthetic.tinycases import writeSimpleCase

    root = makeDataset(tmp_path / "bids", 1)
    writeSimpleCase(root, "0" * 70, "01")  # longer than the database allows for a subject label
    store = openStore("sqlite:///" + str(tmp_path / "workflow.sqlite"), root)
    staff(store, root)
    before = len(store.events(MANAGER))
    with pytest.raises(Exception, match="too long"):
        store.registerCases(MANAGER)
    assert store.cases() == [] and len(store.events(MANAGER)) == before
    store.close()


def test_a_postgresql_row_lock_names_the_session_holding_it(tmp_path, monkeypatch):
    import psycopg
    from workflow_fixtures import databaseUrl

    monkeypatch.setattr(database, "LOCK_WAIT_S", 0.5)
    monkeypatch.setattr(storebase, "LOCK_WAIT_S", 0.5)
    root = makeDataset(tmp_path / "bids", 1)
    url = databaseUrl("postgresql", tmp_path)
    store = openStore(url, root)
    staff(store, root)
    store.registerCases(MANAGER)
    schemaName = url.rsplit("%3D", 1)[1]
    server = url.split("@", 1)[1].split("/", 1)[0]
    host, port = server.split(":")
    with psycopg.connect(f"host={host} port={port} user=postgres dbname=postgres application_name=someone-elses-tool") as holder:
        holder.execute(f'SET search_path TO "{schemaName}"')
        holder.execute("SELECT * FROM cases FOR UPDATE")
        try:
            with pytest.raises(DatabaseError, match="stayed locked for 1 s by session .* of postgres \\(someone-elses-tool"):
                store.exclude(MANAGER, "sub-01_ses-01", "motion_artifact")
        finally:
            holder.rollback()
    assert store.case("sub-01_ses-01")["state"] == "awaiting_reads"
    store.close()
