"""Which database, and how to talk to it: URL resolution, the SQLite/PostgreSQL engine, transient-error retries.

SQLite (embedded default, ``<root>/derivatives/lesions/workflow.sqlite``, WAL mode, ``BEGIN IMMEDIATE``
write transactions, busy timeout) or PostgreSQL by URL; one code path and schema.
"""

import datetime
import json
import os
from pathlib import Path

from ..core.derivatives import PIPELINE_NAME
from ..core.errors import InputError

DEFAULT_DATABASE_NAME = "workflow.sqlite"
DATABASE_URL_VARIABLE = "AIS_DB_URL"
#: How long a SQLite writer waits for the write lock before giving up (seconds).
SQLITE_BUSY_TIMEOUT_S = 30.0
#: Attempts for a transaction that hit a deadlock, serialization failure or lock timeout.
TRANSIENT_RETRIES = 8


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
            # Take the write lock at the start: the checks and the change of one action see one state.
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if backend == "postgresql":
        try:
            return create_engine(url, pool_pre_ping=True)
        except NoSuchModuleError:
            raise InputError("PostgreSQL needs the psycopg driver: install 'psycopg[binary]' and use postgresql+psycopg:// URLs.") from None
    raise InputError(f"Database backend '{backend}' is not supported; use a SQLite file or a postgresql+psycopg:// URL.")


def isTransient(error) -> bool:
    """Deadlock, serialization failure or a SQLite lock that outlasted the busy timeout: worth a retry."""
    original = getattr(error, "orig", None)
    code = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    if code in ("40001", "40P01", "55P03"):
        return True
    text = str(original).lower()
    return "database is locked" in text or "database is busy" in text


def dumps(value) -> str:
    """Canonical JSON for stored values (sorted keys, no NaN)."""
    return json.dumps(value, sort_keys=True, allow_nan=False)




def secondsBetween(start: str | None, end: str) -> float | None:
    """Seconds from one stored ISO time to another; None without a start."""
    if not start:
        return None
    return (datetime.datetime.fromisoformat(end) - datetime.datetime.fromisoformat(start)).total_seconds()
