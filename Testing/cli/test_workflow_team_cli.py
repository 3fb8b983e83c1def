"""``ais workflow`` in team mode: the acting user is the database login, ``--user`` must match it, managers create
and disable logins from the command line, passwords come from a prompt, the environment or ``.pgpass``; on a single
workstation ``--user`` is required; ``setup-postgres`` prints a site's steps."""

import json

import pytest
from workflow_fixtures import MANAGER, PASSWORD, databaseUrl, loginUrl, makeDataset, postgresServer, schemaOf

from AISCommonLib.cli.workflow import main

CASE = "sub-01_ses-01"


def run(capsys, *arguments):
    code = main(["workflow", *arguments])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def site(tmp_path, capsys, monkeypatch):
    """Team mode set up from the command line as a site would: the owner runs init, the manager adds a reader."""
    root = makeDataset(tmp_path / "bids", 1)
    url = databaseUrl("postgresql", tmp_path)
    logins = {userId: f"{schemaOf(url)}_{userId.lower()}" for userId in (MANAGER, "R01", "R02")}
    monkeypatch.setenv("AIS_TEST_PASSWORD", PASSWORD)
    code, out, err = run(capsys, "init", "--db", url, "--root", str(root), "--user", MANAGER, "--title", "chief", "--years-imaging", "20",
                         "--years-neuroimaging", "12", "--login", logins[MANAGER], "--password-env", "AIS_TEST_PASSWORD", "--no-training")
    assert code == 0 and f"logs in as the database role '{logins[MANAGER]}'" in out, err
    manager = loginUrl(url, logins[MANAGER])
    for reader in ("R01", "R02"):
        code, out, err = run(capsys, "users", "--db", manager, "--add", reader, "--title", "resident", "--years-imaging", "6",
                             "--years-neuroimaging", "3", "--login", logins[reader], "--password-env", "AIS_TEST_PASSWORD", "--grant", reader, "reader")
        assert code == 0 and logins[reader] in out, err
    assert run(capsys, "register", "--db", manager)[0] == 0
    return {"root": root, "url": url, "logins": logins, "manager": manager, "tmp": tmp_path}


def test_the_login_is_who_acts_and_user_must_match(site, capsys, monkeypatch):
    reader = loginUrl(site["url"], site["logins"]["R01"], password=None)
    passfile = site["tmp"] / "pgpass"
    passfile.write_text(f"127.0.0.1:{postgresServer().port}:postgres:{site['logins']['R01']}:{PASSWORD}\n")
    passfile.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    code, out, err = run(capsys, "whoami", "--db", reader)
    assert code == 0 and f"You act as R01, authenticated by the database as login '{site['logins']['R01']}'" in out, err
    code, out, err = run(capsys, "next", "--db", reader, "--role", "reader", "--json")
    assert code == 0 and json.loads(out)["case_id"] == CASE, err
    code, out, err = run(capsys, "status", "--db", reader, "--user", MANAGER)
    assert code == 2 and "which is user 'R01', not 'M01'" in err and "Traceback" not in err
    code, out, err = run(capsys, "users", "--db", reader, "--grant", "R01", "arbiter")
    assert code == 2 and "needs the role manager" in err
    code, out, err = run(capsys, "users", "--db", reader, "--user", MANAGER, "--grant", "R01", "arbiter")
    assert code == 2 and "not 'M01'" in err
    monkeypatch.delenv("PGPASSFILE")
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    assert run(capsys, "whoami", "--db", loginUrl(site["url"], site["logins"]["R02"], password=None))[0] == 0


def test_a_manager_deactivates_a_reader_who_then_cannot_log_in(site, capsys):
    reader = loginUrl(site["url"], site["logins"]["R02"])
    assert run(capsys, "next", "--db", reader, "--role", "reader")[0] == 0
    code, out, err = run(capsys, "users", "--db", site["manager"], "--deactivate", "R02", "--reason", "left the team", "--json")
    assert code == 0 and f"database login '{site['logins']['R02']}' disabled; claims released: {CASE} read 1" in err
    assert next(user for user in json.loads(out) if user["user_id"] == "R02")["active"] is False
    code, out, err = run(capsys, "whoami", "--db", reader)
    assert code == 2 and "not permitted to log in" in err
    code, out, err = run(capsys, "status", "--db", site["manager"], "--case", CASE, "--json")
    assert [slot["status"] for slot in json.loads(out)["slots"]] == ["open", "open"]


def test_owner_sessions_declare_and_sqlite_needs_user(site, capsys, monkeypatch, tmp_path):
    code, out, err = run(capsys, "status", "--db", site["url"])
    assert code == 2 and "owns the workflow but is no workflow user" in err
    code, out, _ = run(capsys, "whoami", "--db", site["url"], "--user", MANAGER)
    assert code == 0 and "declared: your database login 'postgres' owns the workflow" in out
    monkeypatch.delenv("AIS_DB_URL", raising=False)
    root = makeDataset(tmp_path / "other", 1)
    assert run(capsys, "init", "--root", str(root), "--user", MANAGER, "--title", "chief", "--years-imaging", "20", "--years-neuroimaging", "12")[0] == 0
    code, _, err = run(capsys, "status", "--root", str(root))
    assert code == 2 and "give your user ID with --user" in err
    code, _, err = run(capsys, "users", "--root", str(root), "--user", MANAGER, "--add", "R01", "--title", "resident", "--years-imaging", "6",
                       "--years-neuroimaging", "3", "--login", "r01")
    assert code == 2 and "team mode" in err
    code, out, err = run(capsys, "whoami", "--root", str(root), "--user", "M01")
    assert code == 0 and "declared, not authenticated" in out


def test_setup_postgres_prints_the_steps_and_touches_nothing(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "setup-postgres", "--host", "db.example.org", "--port", "5433", "--database", "stroke",
                       "--owner", "ais_owner", "--manager", "M07", "--data-dir", "/srv/ais-pg")
    assert code == 0 and list(tmp_path.iterdir()) == []
    for expected in ("initdb -D /srv/ais-pg", "pg_ctl -D /srv/ais-pg", "createuser -h db.example.org -p 5433 -U postgres --createrole --no-superuser",
                     "createdb -h db.example.org -p 5433 -U postgres -O ais_owner stroke",
                     "ais workflow init --db postgresql+psycopg://ais_owner@db.example.org:5433/stroke", "--user M07",
                     "ais workflow users --db postgresql+psycopg://m07@db.example.org:5433/stroke --add R01",
                     "db.example.org:5433:stroke:r01:THEIR-PASSWORD", "--deactivate R01"):
        assert expected in out
    assert "initdb" not in run(capsys, "setup-postgres")[1]
