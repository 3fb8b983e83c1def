"""Which database, and how to talk to it: URL resolution, the SQLite/PostgreSQL engine, transient-error retries.

SQLite (embedded default, ``<root>/derivatives/lesions/workflow.sqlite``, WAL mode, ``BEGIN IMMEDIATE``
write transactions, busy timeout) or PostgreSQL by URL; one code path and schema.
"""

import datetime
import json
import os
import time
from pathlib import Path

from ..core.derivatives import PIPELINE_NAME
from ..core.errors import InputError

DEFAULT_DATABASE_NAME = "workflow.sqlite"
DATABASE_URL_VARIABLE = "AIS_DB_URL"
#: How long a writer waits for a lock (SQLite's write lock, a PostgreSQL row lock) before it is told who holds it.
LOCK_WAIT_S = 10.0
SQLITE_BUSY_TIMEOUT_S = LOCK_WAIT_S
#: Attempts for a transaction that found the database locked (each waits up to LOCK_WAIT_S).
LOCK_RETRIES = 2
#: Attempts for a transaction that hit a deadlock, serialization failure or lock timeout.
TRANSIENT_RETRIES = 8
#: Execution option of the engine for transactions that write nothing (SQLite: no write lock).
READ_ONLY_OPTION = "ais_read_only"
#: A pooled PostgreSQL connection idle this long (seconds) is checked before use (see ``_pingAfterIdle``).
PING_AFTER_IDLE_S = 2.0


def defaultDatabasePath(datasetRoot) -> Path:
    """``<root>/derivatives/lesions/workflow.sqlite``: the embedded database of a dataset."""
    return Path(datasetRoot) / "derivatives" / PIPELINE_NAME / DEFAULT_DATABASE_NAME


def resolveDatabaseUrl(database=None, datasetRoot=None) -> str:
    """The database to use: ``database`` (URL or SQLite file path), else ``$AIS_DB_URL``, else the dataset's SQLite file.

    :raises InputError: none of the three is given.
    """
    database = database or os.environ.get(DATABASE_URL_VARIABLE)
    if database:
        database = str(database)
        return database if "://" in database else "sqlite:///" + str(Path(database).resolve())
    if datasetRoot is not None:
        return "sqlite:///" + str(defaultDatabasePath(Path(datasetRoot).resolve()))
    raise InputError(f"No workflow database given: pass --db (URL or SQLite file), set {DATABASE_URL_VARIABLE}, or give the dataset root.")


def createEngine(url: str):
    """A SQLAlchemy engine for ``url`` with this store's transaction settings.

    :raises InputError: an unusable URL or backend, or a missing driver.
    """
    from sqlalchemy import create_engine, event
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        parsed = make_url(url)
        backend = parsed.get_backend_name()
    except ArgumentError:
        raise InputError(f"'{url}' is not a database URL (e.g. postgresql+psycopg://user@host/db or a SQLite file path).") from None
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise InputError("The workflow database must be a file (several processes share it), not an in-memory SQLite database.")
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})

        @event.listens_for(engine, "connect")
        def _onConnect(dbapiConnection, _record):
            # pysqlite's own transaction handling would start deferred transactions; do it ourselves.
            dbapiConnection.isolation_level = None
            cursor = dbapiConnection.cursor()
            cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _onBegin(connection):
            # Take the write lock at the start: the checks and the change of one action see one state. A transaction
            # that only reads (READ_ONLY_OPTION) reads one snapshot without it (WAL), so it neither waits for writers
            # nor makes them wait.
            connection.exec_driver_sql("BEGIN" if connection.get_execution_options().get(READ_ONLY_OPTION) else "BEGIN IMMEDIATE")

        return engine
    if backend == "postgresql":
        try:
            # Keep the URL's own server options (e.g. a search_path) and add the lock wait.
            options = " ".join(filter(None, [parsed.query.get("options", ""), f"-c lock_timeout={int(LOCK_WAIT_S * 1000)}"]))
            engine = create_engine(url, connect_args={"options": options})
        except NoSuchModuleError:
            raise InputError("PostgreSQL needs the psycopg driver: install 'psycopg[binary]' and use postgresql+psycopg:// URLs.") from None
        _pingAfterIdle(engine)
        return engine
    raise InputError(f"Database backend '{backend}' is not supported; use a SQLite file or a postgresql+psycopg:// URL.")


def _pingAfterIdle(engine) -> None:
    """Check a pooled PostgreSQL connection before use when it sat idle for :data:`PING_AFTER_IDLE_S` or longer.

    A connection left idle may have been dropped (server restart, network timeout); SQLAlchemy's ``pool_pre_ping``
    checks every checkout, which costs every transaction one more round trip to the server (one of about a dozen of a
    claim). Connections handed back moments ago, within one action, are used as they are; one idle since the last
    action is pinged and replaced by a new connection when it is dead.
    """
    from sqlalchemy import event, exc

    @event.listens_for(engine, "checkin")
    def _onCheckin(_dbapiConnection, record):
        record.info["aisIdleSince"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _onCheckout(dbapiConnection, record, _proxy):
        idleSince = record.info.get("aisIdleSince")
        if idleSince is None or time.monotonic() - idleSince < PING_AFTER_IDLE_S:
            return
        try:
            alive = engine.dialect.do_ping(dbapiConnection)
        except engine.dialect.loaded_dbapi.Error:
            alive = False
        if not alive:  # the pool replaces it with a new connection
            raise exc.DisconnectionError("The pooled database connection was closed by the server.")


def isTransient(error) -> bool:
    """Deadlock or serialization failure: another transaction won a race; worth an immediate retry."""
    original = getattr(error, "orig", None)
    return (getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)) in ("40001", "40P01")


def isLockWait(error) -> bool:
    """A lock held by someone else outlasted the wait (SQLite busy, PostgreSQL lock_timeout)."""
    original = getattr(error, "orig", None)
    if (getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)) == "55P03":
        return True
    text = str(original).lower()
    return "database is locked" in text or "database is busy" in text


def lockHolders(engine) -> list[str]:
    """Who holds the workflow database, as far as this machine can tell (one phrase each; [] when unknown).

    SQLite: the processes of this machine that have the database file open. PostgreSQL: the other sessions
    holding locks on the workflow's tables (login, application, since when).
    """
    if engine.dialect.name == "postgresql":
        query = ("SELECT DISTINCT a.pid, a.usename, a.application_name, a.client_addr, a.xact_start FROM pg_locks l "
                 "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.granted AND a.pid <> pg_backend_pid() AND a.datname = current_database() "
                 "AND l.relation IN (SELECT oid FROM pg_class WHERE relname IN ('cases', 'slots', 'reads', 'events', 'users', 'settings'))")
        try:
            with engine.connect() as connection:
                rows = connection.exec_driver_sql(query).all()
        except Exception:  # noqa: BLE001 - the holders are a courtesy in an error message; never hide the error itself
            return []
        return [f"session {row.pid} of {row.usename} ({row.application_name or 'no application name'}, {row.client_addr or 'local'}, "
                f"in a transaction since {row.xact_start})" for row in rows]
    database = Path(engine.url.database).resolve()
    names = {str(database), f"{database}-wal", f"{database}-shm"}
    holders = []
    for process in Path("/proc").glob("[0-9]*"):
        if process.name == str(os.getpid()):
            continue
        try:
            if any(os.readlink(fd) in names for fd in (process / "fd").iterdir()):
                command = " ".join((process / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").split())
                holders.append(f"process {process.name} ({command[:80] or 'unknown'})")
        except OSError:
            continue
    return holders


def dumps(value) -> str:
    """Canonical JSON for stored values (sorted keys, no NaN)."""
    return json.dumps(value, sort_keys=True, allow_nan=False)




def secondsBetween(start: str | None, end: str) -> float | None:
    """Seconds from one stored ISO time to another; None without a start."""
    if not start:
        return None
    return (datetime.datetime.fromisoformat(end) - datetime.datetime.fromisoformat(start)).total_seconds()
