"""Team mode: every person is their own PostgreSQL login, and the database refuses what their workflow roles do not
allow, from the store and from a hand-written SQL session alike. Single-workstation mode (SQLite): identities are
declared and recorded with the computer account and host; people can be deactivated on both backends."""

import contextlib

import psycopg
import pytest
from workflow_fixtures import (
    ARBITER,
    MANAGER,
    PASSWORD,
    QUALIFIED,
    databaseUrl,
    loginUrl,
    makeDataset,
    openStore,
    postgresServer,
    readerMasks,
    schemaOf,
    staff,
    teamDatabase,
)

from AISCommonLib.core.errors import InputError
from AISCommonLib.workflow import pgsecurity
from AISCommonLib.workflow.errors import PermissionDeniedError, UnknownUserError, WorkflowError
from AISCommonLib.workflow.people import Qualification

CASE = "sub-01_ses-01"


class Team:
    """A team-mode workflow of one case: a store per person, each connected as that person's own login."""

    def __init__(self, root, url):
        self.root, self.url = root, url
        self.team = teamDatabase(root, url)
        self.logins, self.urls = self.team["logins"], self.team["urls"]
        self._stores = contextlib.ExitStack()
        with openStore(self.urls[MANAGER], root) as manager:
            manager.registerCases(MANAGER)

    def store(self, userId):
        return self._stores.enter_context(openStore(self.urls[userId], self.root))

    def sql(self, userId):
        """A raw psycopg session as ``userId``'s own login, as someone with psql would open it."""
        connection = psycopg.connect(host="127.0.0.1", port=postgresServer().port, dbname="postgres", user=self.logins[userId],
                                     password=PASSWORD, options=f"-csearch_path={schemaOf(self.url)}", autocommit=True)
        return self._stores.enter_context(connection)

    def close(self):
        self._stores.close()


@pytest.fixture
def team(tmp_path):
    root = makeDataset(tmp_path / "bids", 1)
    team = Team(root, databaseUrl("postgresql", tmp_path))
    yield team
    team.close()


def refused(connection, statement, params=None):
    """Run raw SQL that the database must refuse: an error, or (row-level security hiding the rows) no row changed."""
    try:
        cursor = connection.execute(statement, params)
    except psycopg.errors.InsufficientPrivilege as error:
        return str(error)
    assert cursor.rowcount == 0, f"the database let this through: {statement}"
    return "no row changed"


def readBoth(team, case=CASE, concordant=False):
    for reader, mask in zip(("R01", "R02"), readerMasks(team.root, case, concordant=concordant)):
        store = team.store(reader)
        assert store.claimNext(reader, "reader")["case_id"] == case
        store.submitRead(reader, case, mask)


def test_each_person_acts_as_their_own_login(team):
    for userId in (MANAGER, "R01", "V01", ARBITER):
        store = team.store(userId)
        identity = store.sessionIdentity()
        assert identity["login"] == team.logins[userId] and identity["user_id"] == userId and store.authenticated
        assert store.actingUser() == userId and store.actingUser(userId) == userId
    reader = team.store("R01")
    with pytest.raises(PermissionDeniedError, match=f"logged in to the workflow database as '{team.logins['R01']}', which is user 'R01', not 'M01'"):
        reader.actingUser(MANAGER)
    assert team.store(MANAGER).logins() == team.logins
    with openStore(team.url, team.root) as owner:  # the superuser that created the workflow: trusted, but declared
        assert not owner.authenticated and owner.sessionIdentity()["admin"]
        with pytest.raises(InputError, match="owns the workflow but is no workflow user"):
            owner.actingUser()
        assert owner.actingUser("R01") == "R01"
        with owner._engine.begin() as connection:
            assert pgsecurity.guardProblems(connection) == []
            connection.exec_driver_sql("ALTER TABLE events DISABLE TRIGGER events_no_truncate")
            connection.exec_driver_sql("ALTER TABLE slots DISABLE ROW LEVEL SECURITY")
            problems = pgsecurity.guardProblems(connection)
            connection.rollback()
        assert problems == ["The guard trigger 'events_no_truncate' on events is missing or disabled.", "Row-level security is off on the table slots."]
        with owner._engine.begin() as connection:  # installing again (a later schema step may) changes nothing for anyone
            pgsecurity.install(connection)
            assert pgsecurity.guardProblems(connection) == []
    assert team.store("R02").actingUser() == "R02"


def test_role_names_fit_postgresql():
    assert pgsecurity.workerRoleName("ais_workflow", "public") == "ais_ais_workflow_workers"
    long = pgsecurity.workerRoleName("Stroke-Dataset " + "x" * 60, "site_" + "y" * 58)
    assert len(long) <= 63 and pgsecurity.LOGIN_PATTERN.match(long) and long != pgsecurity.workerRoleName("Stroke-Dataset " + "x" * 60, "site_" + "y" * 57)
    assert pgsecurity.defaultLogin("R01") == "r01"
    with pytest.raises(InputError, match="does not make a database login name"):
        pgsecurity.defaultLogin("1A")


def test_the_store_refuses_acting_as_someone_else(team):
    reader = team.store("R01")
    with pytest.raises(PermissionDeniedError, match="you cannot act as 'M01'"):
        reader.grantRole(MANAGER, "R01", "arbiter")
    with pytest.raises(PermissionDeniedError, match="needs the role manager"):
        reader.grantRole("R01", "R01", "arbiter")
    with pytest.raises(PermissionDeniedError, match="you cannot act as 'R02'"):
        reader.claimNext("R02", "reader")
    with pytest.raises(PermissionDeniedError, match="you cannot act as 'A01'"):
        reader.events(ARBITER)
    assert "arbiter" not in {role["role"] for user in reader.users() if user["user_id"] == "R01" for role in user["roles"]}


def test_the_whole_path_with_authenticated_logins_records_who_did_what(team):
    readBoth(team)
    reviewer = team.store("V01")
    assert reviewer.claimNext("V01", "reviewer")["case_id"] == CASE
    reviewer.escalate("V01", CASE, "hard case")
    arbiter = team.store(ARBITER)
    assert arbiter.claimNext(ARBITER, "arbiter")["case_id"] == CASE
    result = arbiter.arbitrate(ARBITER, CASE, {}, defaultDecision="keep", note="ruled")
    assert result["state"] == "final"
    manager = team.store(MANAGER)
    events = manager.events(MANAGER, CASE)
    assert {(event["action"], event["user_id"], event["db_login"]) for event in events} >= {
        ("submit", "R01", team.logins["R01"]), ("submit", "R02", team.logins["R02"]), ("escalate", "V01", team.logins["V01"]),
        ("arbitrate", ARBITER, team.logins[ARBITER])}
    assert all(event["os_user"] and event["host"] for event in events)
    report = manager.identityReport()
    # Only the initialisation was done by the owner for a declared manager; everything after it was authenticated.
    assert report["team_mode"] and report["declared_events"] == 1 and report["authenticated_events"] == report["events"] - 1
    assert "1 were declared" in report["statement"]
    assert manager.verify()["ok"]


def test_a_reader_cannot_skip_a_rule_from_raw_sql(team):
    readBoth(team)
    reader = team.sql("R01")
    now = "2026-01-01T00:00:00+00:00"
    # Roles, logins and people are the manager's.
    assert "row-level security" in refused(reader, "INSERT INTO user_roles VALUES ('R01', 'arbiter', 'R01', %s, NULL)", (now,))
    assert "row-level security" in refused(reader, "INSERT INTO user_roles VALUES ('R01', 'arbiter', 'M01', %s, NULL)", (now,))
    assert "only a manager" in refused(reader, "SELECT ais_create_login('R01', 'evil', NULL)")
    assert refused(reader, "UPDATE users SET reader_qualified = true, title = 'chief' WHERE user_id = 'R02'") == "no row changed"
    assert "may not change title" in refused(reader, "UPDATE users SET title = 'chief' WHERE user_id = 'R01'")
    assert refused(reader, "UPDATE settings SET value = '{}'") == "no row changed"
    # Nothing in someone else's name, and SET ROLE does not change who the session is.
    event = "INSERT INTO events (id, at, user_id, action, files) VALUES (9999, %s, %s, 'grant_role', '{}')"
    assert "row-level security" in refused(reader, event, (now, MANAGER))
    reader.execute(f'SET ROLE "{pgsecurity.workerRoleName("postgres", schemaOf(team.url))}"')
    assert "row-level security" in refused(reader, event, (now, ARBITER))
    reader.execute("RESET ROLE")
    decision = "INSERT INTO decisions (case_id, user_id, action, region_decisions, created_at) VALUES (%s, %s, %s, '{}', %s)"
    assert "row-level security" in refused(reader, decision, (CASE, "V01", "review", now))
    assert "row-level security" in refused(reader, decision, (CASE, "R01", "arbitrate", now))
    # No review slot for a reader, no state change without the slot that allows it.
    assert "needs the reviewer role" in refused(reader, "UPDATE slots SET user_id = 'R01', status = 'claimed' WHERE kind = 'review'")
    assert "may not move case" in refused(reader, "UPDATE cases SET state = 'final', revision = revision + 1 WHERE case_id = %s", (CASE,))
    assert "may not change" in refused(reader, "UPDATE cases SET concordant = true WHERE case_id = %s", (CASE,))
    assert "may not move a slot" in refused(reader, "UPDATE slots SET slot_index = 7 WHERE user_id = 'R01'")
    # The event log: no UPDATE, DELETE or TRUNCATE at all.
    for statement in ("UPDATE events SET note = 'x'", "DELETE FROM events", "TRUNCATE events"):
        assert "permission denied" in refused(reader, statement)

    reviewer = team.store("V01")
    reviewer.claimNext("V01", "reviewer")
    reviewer.escalate("V01", CASE, "needs the arbiter")
    # Arbitration: neither the reader nor the reviewer takes the slot or rules.
    for userId in ("R01", "V01"):
        session = team.sql(userId)
        assert "needs the arbiter role" in refused(session, "UPDATE slots SET user_id = %s, status = 'claimed' WHERE kind = 'arbitration'", (userId,))
        assert "may not move case" in refused(session, "UPDATE cases SET state = 'final', revision = revision + 1 WHERE case_id = %s", (CASE,))
    # The arbiter from raw SQL: the slot yes, but a decision only together with the ruling it belongs to.
    arbiter = team.sql(ARBITER)
    assert arbiter.execute("UPDATE slots SET user_id = 'A01', status = 'claimed' WHERE kind = 'arbitration'").rowcount == 1
    assert "row-level security" in refused(arbiter, decision, (CASE, ARBITER, "arbitrate", now))
    # And the store's own path still works for the people who hold the slots.
    assert team.store(ARBITER).arbitrate(ARBITER, CASE, {}, defaultDecision="keep")["state"] == "final"


def test_a_trainee_cannot_qualify_themselves_from_raw_sql(tmp_path):
    root = makeDataset(tmp_path / "bids", 1)
    url = databaseUrl("postgresql", tmp_path)
    team = teamDatabase(root, url, training=True)
    with openStore(team["urls"][MANAGER], root) as manager:
        manager.registerCases(MANAGER)
    session = psycopg.connect(host="127.0.0.1", port=postgresServer().port, dbname="postgres", user=f"{schemaOf(url)}_r01", password=PASSWORD,
                              options=f"-csearch_path={schemaOf(url)}", autocommit=True)
    with session:
        assert "has not met the training bar (0 trial scores" in refused(session, "UPDATE users SET reader_qualified = true WHERE user_id = 'R01'")
        assert "in training" in refused(session, "UPDATE slots SET user_id = 'R01', status = 'claimed' WHERE kind = 'read'")


def test_deactivation_disables_the_login_and_releases_claims(team):
    manager = team.store(MANAGER)
    reader = team.store("R02")
    claim = reader.claimNext("R02", "reader")
    reader.close()
    result = manager.deactivateUser(MANAGER, "R02", "left the team")
    assert result == {"user": "R02", "released": [f"{claim['case_id']} read {claim['slot_index']}"], "login": team.logins["R02"]}
    slot = next(slot for slot in manager.case(claim["case_id"])["slots"] if slot["kind"] == "read" and slot["slot_index"] == claim["slot_index"])
    assert slot["status"] == "open" and slot["user_id"] is None
    actions = [(event["action"], event["case_id"]) for event in manager.events(MANAGER)]
    assert ("release", claim["case_id"]) in actions and ("deactivate_user", None) in actions
    with pytest.raises(psycopg.OperationalError, match="not permitted to log in"):
        psycopg.connect(host="127.0.0.1", port=postgresServer().port, dbname="postgres", user=team.logins["R02"], password=PASSWORD)
    with pytest.raises(PermissionDeniedError, match="cannot deactivate themselves"):
        manager.deactivateUser(MANAGER, MANAGER, "oops")
    with pytest.raises(UnknownUserError):
        manager.deactivateUser(MANAGER, "R02", "again")
    manager.reactivateUser(MANAGER, "R02", "came back")
    with openStore(team.urls["R02"], team.root) as back:
        assert back.actingUser() == "R02" and back.claimNext("R02", "reader") is not None


def test_a_manager_gives_a_person_registered_earlier_their_login(team):
    manager = team.store(MANAGER)
    manager.addUser(MANAGER, "R09", Qualification(*QUALIFIED["reader"]))
    login = f"{schemaOf(team.url)}_r09"
    assert manager.createLogin(MANAGER, "R09", login, PASSWORD) == {"user": "R09", "login": login, "created": True}
    with pytest.raises(PermissionDeniedError, match="already has a database login"):
        manager.createLogin(MANAGER, "R09", login + "b")
    with pytest.raises(PermissionDeniedError, match="cannot become a worker login"):
        manager.addUser(MANAGER, "R08", Qualification(*QUALIFIED["reader"]), login="postgres")
    with pytest.raises(InputError, match="at least 8 characters"):
        manager.addUser(MANAGER, "R07", Qualification(*QUALIFIED["reader"]), login=login + "7", password="short")
    assert "R08" not in {user["user_id"] for user in manager.users()}
    with openStore(loginUrl(team.url, login), team.root) as newcomer:
        assert newcomer.actingUser() == "R09"
        newcomer.changePassword("another-long-secret")
    with openStore(loginUrl(team.url, login, "another-long-secret"), team.root) as newcomer:
        assert newcomer.authenticated
    with pytest.raises(PermissionDeniedError, match="needs the role manager"):
        team.store("R01").createLogin("R01", "R01", "whatever")


def test_an_owner_without_superuser_creates_the_workflow_and_the_logins(tmp_path):
    """The site setup of 'ais workflow setup-postgres': the owner has CREATEROLE, not superuser."""
    root = makeDataset(tmp_path / "bids", 1)
    url = databaseUrl("postgresql", tmp_path)
    schemaName = schemaOf(url)
    owner = f"{schemaName}_owner"
    with psycopg.connect(host="127.0.0.1", port=postgresServer().port, dbname="postgres", user="postgres", autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{owner}" LOGIN CREATEROLE PASSWORD \'{PASSWORD}\'')
        admin.execute(f'DROP SCHEMA "{schemaName}"')
        admin.execute(f'CREATE SCHEMA "{schemaName}" AUTHORIZATION "{owner}"')
    with psycopg.connect(host="127.0.0.1", port=postgresServer().port, dbname="postgres", user="postgres", autocommit=True) as admin:
        admin.execute(f'ALTER ROLE "{owner}" NOCREATEROLE')
    with pytest.raises(WorkflowError, match="needs CREATEROLE"):
        openStore(loginUrl(url, owner), root)
    with psycopg.connect(host="127.0.0.1", port=postgresServer().port, dbname="postgres", user="postgres", autocommit=True) as admin:
        admin.execute(f'ALTER ROLE "{owner}" CREATEROLE')
    team = teamDatabase(root, loginUrl(url, owner))
    with openStore(team["urls"]["R01"], root) as reader:
        assert reader.authenticated and reader.actingUser() == "R01"
    with openStore(team["urls"][MANAGER], root) as manager:
        manager.registerCases(MANAGER)
        assert manager.deactivateUser(MANAGER, "R01", "test")["login"] == team["logins"]["R01"]
    with pytest.raises(psycopg.OperationalError, match="not permitted to log in"):
        psycopg.connect(host="127.0.0.1", port=postgresServer().port, dbname="postgres", user=team["logins"]["R01"], password=PASSWORD)


def test_single_workstation_identities_are_declared_and_recorded(tmp_path):
    root = makeDataset(tmp_path / "bids", 1)
    with openStore(databaseUrl("sqlite", tmp_path), root) as store:
        staff(store, root)
        store.registerCases(MANAGER)
        assert not store.authenticated and store.sessionIdentity()["login"] is None
        with pytest.raises(InputError, match="give your user ID with --user"):
            store.actingUser()
        assert store.actingUser("R01") == "R01"
        with pytest.raises(InputError, match="team mode"):
            store.addUser(MANAGER, "R09", Qualification(*QUALIFIED["reader"]), login="r09")
        claim = store.claimNext("R01", "reader")
        result = store.deactivateUser(MANAGER, "R01", "left")
        assert result["released"] == [f"{CASE} read {claim['slot_index']}"] and result["login"] is None
        with pytest.raises(UnknownUserError):
            store.claimNext("R01", "reader")
        events = store.events(MANAGER)
        assert all(event["os_user"] and event["host"] and event["db_login"] is None for event in events)
        report = store.identityReport()
        assert not report["authenticated"] and report["declared_events"] == report["events"] and "declared, not authenticated" in report["statement"]
