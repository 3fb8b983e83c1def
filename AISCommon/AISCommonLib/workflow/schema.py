"""Database tables of the workflow store (SQLAlchemy Core), their version and the upgrade path.

One schema for SQLite and PostgreSQL. ``schema_version`` holds one row per applied version; a database
written by a newer release is refused, an older one is upgraded in place by :func:`upgradeSchema`, one
version step at a time inside the caller's transaction. The ``events`` table is append-only: triggers
refuse UPDATE and DELETE on both backends (and TRUNCATE on PostgreSQL, see :mod:`pgsecurity`).

SQLAlchemy is imported inside the functions so that the Slicer module loads before it is installed.
"""

import datetime
import functools

from .errors import SchemaVersionError

#: Version this release writes. Version 1 is the first release; add a step to ``_UPGRADES`` per change.
#: Version 2: reader training (trial-case lesion size class and location, HD95 and lesion F1 of
#: training scores, who qualified a reader when and any override reason).
#: Version 3: what a review or ruling changed (derived outcome per region and for the agreed voxels) and
#: the starting final the reviewer chose.
#: Version 4: the hash chain over the event log (``prev_hash``, ``hash``, ``payload``: see :mod:`chain`).
#: Version 5: identities: every event records the client's OS account and host (``os_user``, ``host``) and, on
#: PostgreSQL, the authenticated database login (``db_login``); the ``logins`` table maps login roles to workflow
#: users; on PostgreSQL the team-mode roles, row-level security and guard triggers (see :mod:`pgsecurity`).
#: Version 6: arbitration panels (``panel_members``, ``opinions``), the reviewer's proposal kept with an escalation,
#: and the reason a ruling overrides it (``decisions.override_reason``).
#: Version 7: sealed reads in team mode: the bytes of each read's mask and sidecar in ``read_files`` (PostgreSQL hands a
#: row out under row-level security; see :mod:`sealedreads`); empty on SQLite, where sealed reads are files.
#: Version 8: what keeps a claim as fast at 10,000 cases as at 40; no record changes. Indexes: the slots a person holds
#: (``ix_slots_user``: every claim asks for the slot its user already holds, which scanned every case waiting for reads),
#: a case's training scores (``ix_training_scores_case_id``: every audit event snapshots them), the cases of one state
#: in queue order (``ix_cases_state_id``). And ``case_load``: per case and slot kind, how many slots are taken, kept by
#: the database's own triggers on ``slots`` (no client writes it), so the claim queue walks the cases at the wanted load
#: level in queue order instead of every case waiting for reads (once each case had one read, every claim walked all of
#: them to find no fresh case: 20 ms on SQLite, 45 ms on PostgreSQL at 10,000 cases). It is derived from ``slots``,
#: which the hash chain covers; it is not part of the chain, the exports or the snapshots.
SCHEMA_VERSION = 8


def utcNow() -> str:
    """Current UTC time as ISO 8601 with microseconds and offset (sorts as text)."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="microseconds")


def tables(version: int = SCHEMA_VERSION):
    """The table objects of one schema version, built once per process.

    Columns added by a later version carry ``since`` below; the upgrade steps add exactly those, so a
    database created at version 1 and upgraded has the same tables as one created now.

    :param version: the schema version (default: :data:`SCHEMA_VERSION`, what the store uses).
    :return: a namespace with ``metadata`` and one attribute per table.
    """
    return _tables(int(version))


@functools.cache
def _tables(version: int):
    import types

    from sqlalchemy import (
        Boolean,
        Column,
        Float,
        ForeignKey,
        Index,
        Integer,
        LargeBinary,
        MetaData,
        String,
        Table,
        Text,
        UniqueConstraint,
    )

    metadata = MetaData()

    def since(added: int, *columns):
        return columns if version >= added else ()

    timestamp = functools.partial(Column, type_=String(40))
    schemaVersion = Table(
        "schema_version",
        metadata,
        Column("version", Integer, primary_key=True),
        timestamp("applied_at", nullable=False),
    )
    settings = Table(
        "settings",
        metadata,
        Column("key", String(64), primary_key=True),
        Column("value", Text, nullable=False),
    )
    users = Table(
        "users",
        metadata,
        Column("user_id", String(32), primary_key=True),
        Column("title", String(32), nullable=False),
        Column("years_imaging", Float, nullable=False),
        Column("years_neuroimaging", Float, nullable=False),
        Column("active", Boolean, nullable=False, default=True),
        Column("reader_qualified", Boolean, nullable=False, default=False),
        Column("qualified_note", Text),
        timestamp("created_at", nullable=False),
        Column("created_by", String(32)),
        *since(2, timestamp("qualified_at"), Column("qualified_by", String(32)), Column("qualified_override_reason", Text)),
    )
    userRoles = Table(
        "user_roles",
        metadata,
        Column("user_id", String(32), ForeignKey("users.user_id"), primary_key=True),
        Column("role", String(16), primary_key=True),
        Column("granted_by", String(32), nullable=False),
        timestamp("granted_at", nullable=False),
        Column("override_reason", Text),
    )
    cases = Table(
        "cases",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("case_id", String(128), nullable=False, unique=True),
        Column("subject", String(64), nullable=False),
        Column("session", String(64)),
        Column("relative_folder", String(256), nullable=False),
        Column("state", String(32), nullable=False, index=True),
        Column("previous_state", String(32)),
        Column("revision", Integer, nullable=False, default=1),
        Column("training", Boolean, nullable=False, default=False),
        Column("reference_mask_path", Text),
        Column("reference_sha256", String(64)),
        Column("concordant", Boolean),
        Column("comparison", Text),
        Column("exclusion_reason", String(32)),
        Column("exclusion_note", Text),
        Column("final_mask_path", Text),
        Column("final_sha256", String(64)),
        timestamp("registered_at", nullable=False),
        timestamp("updated_at", nullable=False),
        *since(2, Column("lesion_size_class", String(16)), Column("lesion_location", String(32)), Column("reference_volume_ml", Float)),
    )
    slots = Table(
        "slots",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("case_id", String(128), ForeignKey("cases.case_id"), nullable=False, index=True),
        Column("kind", String(16), nullable=False),
        Column("slot_index", Integer, nullable=False),
        Column("user_id", String(32), ForeignKey("users.user_id")),
        Column("status", String(16), nullable=False),
        timestamp("claimed_at"),
        timestamp("done_at"),
        UniqueConstraint("case_id", "kind", "slot_index", name="uq_slots_position"),
        # NULLs are distinct on both backends: open slots do not collide, one person never holds two.
        UniqueConstraint("case_id", "kind", "user_id", name="uq_slots_person"),
    )
    reads = Table(
        "reads",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("case_id", String(128), ForeignKey("cases.case_id"), nullable=False, index=True),
        Column("slot_id", Integer, ForeignKey("slots.id"), nullable=False, unique=True),
        Column("user_id", String(32), ForeignKey("users.user_id"), nullable=False),
        Column("mask_path", Text, nullable=False),
        Column("sha256", String(64), nullable=False),
        Column("sidecar_path", Text, nullable=False),
        Column("sidecar_sha256", String(64), nullable=False),
        Column("version", Integer, nullable=False),
        Column("method", String(64), nullable=False),
        Column("duration_seconds", Float),
        timestamp("submitted_at", nullable=False),
    )
    decisions = Table(
        "decisions",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("case_id", String(128), ForeignKey("cases.case_id"), nullable=False, index=True),
        Column("user_id", String(32), ForeignKey("users.user_id"), nullable=False),
        Column("action", String(16), nullable=False),
        Column("region_decisions", Text, nullable=False),
        Column("default_decision", String(16)),
        Column("note", Text),
        Column("mask_path", Text),
        Column("sha256", String(64)),
        timestamp("created_at", nullable=False),
        *since(3, Column("outcome", Text), Column("starting_point", String(16))),
        *since(6, Column("override_reason", Text)),
    )
    events = Table(
        "events",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        timestamp("at", nullable=False),
        Column("user_id", String(32), nullable=False),
        Column("case_id", String(128), index=True),
        Column("action", String(32), nullable=False),
        Column("from_state", String(32)),
        Column("to_state", String(32)),
        Column("revision", Integer),
        Column("note", Text),
        Column("files", Text, nullable=False),
        *since(4, Column("payload", Text), Column("prev_hash", String(64)), Column("hash", String(64))),
        *since(5, Column("os_user", String(64)), Column("host", String(255)),
               Column("db_login", String(63))),
    )
    trainingScores = Table(
        "training_scores",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("user_id", String(32), ForeignKey("users.user_id"), nullable=False),
        Column("case_id", String(128), ForeignKey("cases.case_id"), nullable=False),
        Column("read_id", Integer, ForeignKey("reads.id"), nullable=False, unique=True),
        Column("dice", Float, nullable=False),
        Column("missed_lesions", Integer, nullable=False),
        Column("duration_seconds", Float),
        Column("summary", Text, nullable=False),
        timestamp("created_at", nullable=False),
        *since(2, Column("hd95_mm", Float), Column("lesion_f1", Float)),
    )
    # Version 5: which database login role is which workflow user (team mode; empty on SQLite).
    logins = Table(
        "logins",
        metadata,
        Column("login_role", String(63), primary_key=True),
        Column("user_id", String(32), ForeignKey("users.user_id"), nullable=False, unique=True),
        Column("managed", Boolean, nullable=False),
        timestamp("created_at", nullable=False),
        Column("created_by", String(63), nullable=False),
    ) if version >= 5 else None
    # Version 6: an arbitration panel: who the lead arbiter convened, and what each of them said.
    panelMembers = Table(
        "panel_members",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("case_id", String(128), ForeignKey("cases.case_id"), nullable=False, index=True),
        Column("user_id", String(32), ForeignKey("users.user_id"), nullable=False),
        Column("role", String(16), nullable=False),
        Column("added_by", String(32), nullable=False),
        timestamp("added_at", nullable=False),
        UniqueConstraint("case_id", "user_id", name="uq_panel_person"),
    ) if version >= 6 else None
    opinions = Table(
        "opinions",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("case_id", String(128), ForeignKey("cases.case_id"), nullable=False, index=True),
        Column("user_id", String(32), ForeignKey("users.user_id"), nullable=False),
        Column("text", Text, nullable=False),
        Column("region_decisions", Text, nullable=False),
        timestamp("created_at", nullable=False),
    ) if version >= 6 else None
    # Version 7: the bytes of sealed reads (team mode), keyed by the path the read records. Not a case table of the
    # hash chain (the payloads would carry the masks): the read row's hashes, which the chain covers, cover them.
    readFiles = Table(
        "read_files",
        metadata,
        Column("path", Text, primary_key=True),
        Column("case_id", String(128), ForeignKey("cases.case_id"), nullable=False, index=True),
        Column("user_id", String(32), ForeignKey("users.user_id"), nullable=False),
        Column("sha256", String(64), nullable=False),
        Column("content", LargeBinary, nullable=False),
        timestamp("created_at", nullable=False),
    ) if version >= 7 else None
    # Version 8: the number of taken slots per case and kind, kept by triggers (see CASE_LOAD_TRIGGERS).
    caseLoad = Table(
        "case_load",
        metadata,
        Column("case_id", String(128), ForeignKey("cases.case_id"), primary_key=True),
        Column("kind", String(16), primary_key=True),
        Column("case_seq", Integer, nullable=False),  # cases.id: the queue order
        Column("taken", Integer, nullable=False),
        Index("ix_case_load_queue", "kind", "taken", "case_seq"),
    ) if version >= 8 else None
    if version >= 8:
        Index("ix_slots_user", slots.c.user_id, slots.c.kind, slots.c.status)
        Index("ix_training_scores_case_id", trainingScores.c.case_id)
        Index("ix_cases_state_id", cases.c.state, cases.c.id)
    return types.SimpleNamespace(
        metadata=metadata,
        caseLoad=caseLoad,
        readFiles=readFiles,
        logins=logins,
        panelMembers=panelMembers,
        opinions=opinions,
        schemaVersion=schemaVersion,
        settings=settings,
        users=users,
        userRoles=userRoles,
        cases=cases,
        slots=slots,
        reads=reads,
        decisions=decisions,
        events=events,
        trainingScores=trainingScores,
    )


#: Tables in dependency order (export, snapshots).
TABLE_NAMES = ("settings", "users", "user_roles", "cases", "slots", "reads", "decisions", "events", "training_scores", "panel_members",
               "opinions")

_SQLITE_APPEND_ONLY = (
    "CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events "
    "BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events "
    "BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END",
)
_POSTGRESQL_APPEND_ONLY = (
    "CREATE OR REPLACE FUNCTION ais_events_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'the event log is append-only'; END $$",
    "DROP TRIGGER IF EXISTS events_append_only ON events",
    "CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events "
    "FOR EACH ROW EXECUTE FUNCTION ais_events_append_only()",
)


#: SQLite: ``case_load`` follows every slot insert, status change and removal in the same transaction (PostgreSQL: the
#: SECURITY DEFINER function ``ais_case_load`` of :mod:`pgsecurity`, so that workers need no write privilege on it).
_SQLITE_CASE_LOAD = (
    "CREATE TRIGGER IF NOT EXISTS case_load_insert AFTER INSERT ON slots BEGIN "
    "INSERT INTO case_load (case_id, kind, case_seq, taken) SELECT NEW.case_id, NEW.kind, c.id, NEW.status <> 'open' "
    "FROM cases c WHERE c.case_id = NEW.case_id ON CONFLICT (case_id, kind) DO UPDATE SET taken = taken + excluded.taken; END",
    "CREATE TRIGGER IF NOT EXISTS case_load_update AFTER UPDATE OF status, case_id, kind ON slots BEGIN "
    "UPDATE case_load SET taken = taken - (OLD.status <> 'open') WHERE case_id = OLD.case_id AND kind = OLD.kind; "
    "INSERT INTO case_load (case_id, kind, case_seq, taken) SELECT NEW.case_id, NEW.kind, c.id, NEW.status <> 'open' "
    "FROM cases c WHERE c.case_id = NEW.case_id ON CONFLICT (case_id, kind) DO UPDATE SET taken = taken + excluded.taken; END",
    "CREATE TRIGGER IF NOT EXISTS case_load_delete AFTER DELETE ON slots BEGIN "
    "UPDATE case_load SET taken = taken - (OLD.status <> 'open') WHERE case_id = OLD.case_id AND kind = OLD.kind; END",
)
#: The triggers that keep ``case_load`` per backend.
CASE_LOAD_TRIGGERS = {"sqlite": ("case_load_insert", "case_load_update", "case_load_delete"), "postgresql": ("ais_case_load",)}


def _createVersion1(connection) -> None:
    tables(1).metadata.create_all(connection)
    statements = _POSTGRESQL_APPEND_ONLY if connection.dialect.name == "postgresql" else _SQLITE_APPEND_ONLY
    for statement in statements:
        connection.exec_driver_sql(statement)


def _addColumns(connection, version: int) -> None:
    """Add the columns that ``version`` introduced (all nullable) to a database one version older (new tables are
    created by their own step)."""
    from sqlalchemy.schema import CreateColumn

    old, new = tables(version - 1), tables(version)
    for table in new.metadata.sorted_tables:
        if table.name not in old.metadata.tables:
            continue
        present = set(old.metadata.tables[table.name].columns.keys())
        for column in table.columns:
            if column.name not in present:
                definition = CreateColumn(column).compile(dialect=connection.dialect)
                connection.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {definition}")


def _requireOwner(connection, version: int, what: str) -> None:
    """:raises SchemaVersionError: a PostgreSQL upgrade step run by a role that does not own the tables (a worker)."""
    owner, mayUpgrade = connection.exec_driver_sql(
        "SELECT t.tableowner::text, pg_has_role(current_user, t.tableowner, 'USAGE') FROM pg_tables t "
        "WHERE t.schemaname = current_schema() AND t.tablename = 'events'").first()
    if not mayUpgrade:
        raise SchemaVersionError(f"The workflow database needs schema version {version} ({what}), which only its owner "
                                 f"'{owner}' can install; open it once as that role.")


def _upgradeTo2(connection) -> None:
    # Reader training: trial-case labels, more training-score metrics, who qualified a reader.
    _addColumns(connection, 2)


def _upgradeTo3(connection) -> None:
    # Review outcome derived from the final mask, and the starting final.
    _addColumns(connection, 3)


def _upgradeTo4(connection) -> None:
    # The hash chain; events recorded before it keep empty hashes and are reported as not covered.
    _addColumns(connection, 4)


def _upgradeTo5(connection) -> None:
    # Identities: OS account, host and database login of each event; login roles; team-mode guards on PostgreSQL.
    if connection.dialect.name == "postgresql":
        _requireOwner(connection, 5, "team-mode identities")
    _addColumns(connection, 5)
    tables(5).logins.create(connection)
    if connection.dialect.name == "postgresql":
        from . import pgsecurity

        pgsecurity.install(connection)


def _upgradeTo6(connection) -> None:
    # Arbitration panels and the reason a ruling overrides the reviewer's proposal.
    _addColumns(connection, 6)
    new = tables(6)
    new.panelMembers.create(connection)
    new.opinions.create(connection)
    if connection.dialect.name == "postgresql":
        from . import pgsecurity

        pgsecurity.install(connection)  # grants and policies for the new tables


def _upgradeTo7(connection) -> None:
    # Sealed reads in the database (team mode); on PostgreSQL only the owner creates the table and its policies.
    if connection.dialect.name == "postgresql":
        _requireOwner(connection, 7, "sealed reads kept in the database")
    tables(7).readFiles.create(connection)
    if connection.dialect.name == "postgresql":
        from . import pgsecurity

        pgsecurity.install(connection)  # grants and row-level security of read_files


def _upgradeTo8(connection) -> None:
    # Indexes and the load of each case for the work queue; on PostgreSQL only the owner may create them.
    if connection.dialect.name == "postgresql":
        _requireOwner(connection, 8, "indexes of the work queue")
    old, new = tables(7), tables(8)
    for table in new.metadata.sorted_tables:
        if table.name not in old.metadata.tables:
            continue
        present = {index.name for index in old.metadata.tables[table.name].indexes}
        for index in sorted(table.indexes, key=lambda index: index.name):
            if index.name not in present:
                index.create(connection, checkfirst=True)
    new.caseLoad.create(connection)
    connection.exec_driver_sql(
        "INSERT INTO case_load (case_id, kind, case_seq, taken) SELECT s.case_id, s.kind, c.id, "
        "SUM(CASE WHEN s.status <> 'open' THEN 1 ELSE 0 END) FROM slots s JOIN cases c ON c.case_id = s.case_id GROUP BY s.case_id, s.kind, c.id")
    if connection.dialect.name == "postgresql":
        from . import pgsecurity

        pgsecurity.install(connection)  # the trigger function, grants and row-level security of case_load
    else:
        for statement in _SQLITE_CASE_LOAD:
            connection.exec_driver_sql(statement)


#: version n -> function upgrading a version-n database to n + 1. A new database is created at version 1
#: and taken through every step, so the upgrade path runs on every store the tests create.
_UPGRADES: dict = {1: _upgradeTo2, 2: _upgradeTo3, 3: _upgradeTo4, 4: _upgradeTo5, 5: _upgradeTo6, 6: _upgradeTo7, 7: _upgradeTo8}


def storedVersion(connection) -> int | None:
    """The schema version of the database, or None when it has no workflow tables yet.

    :raises SchemaVersionError: some tables exist but not the version table.
    """
    from sqlalchemy import func, inspect, select

    existing = set(inspect(connection).get_table_names())
    if "schema_version" not in existing:
        if existing & set(TABLE_NAMES):
            raise SchemaVersionError("The database has workflow tables but no schema_version table; it was not made by this software.")
        return None
    return connection.execute(select(func.max(tables().schemaVersion.c.version))).scalar()


def upgradeSchema(connection) -> int:
    """Create the schema, or upgrade it step by step to :data:`SCHEMA_VERSION`.

    :param connection: a SQLAlchemy connection inside a transaction (all steps commit together).
    :return: the version before the call (0 for a new database).
    :raises SchemaVersionError: the database comes from a newer release or a step is missing.
    """
    from sqlalchemy import insert

    version = storedVersion(connection)
    if version is None:
        _createVersion1(connection)
        connection.execute(insert(tables().schemaVersion).values(version=1, applied_at=utcNow()))
        version, before = 1, 0
    else:
        before = version
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"The workflow database has schema version {version}, newer than the {SCHEMA_VERSION} this software knows; upgrade the software."
        )
    while version < SCHEMA_VERSION:
        step = _UPGRADES.get(version)
        if step is None:
            raise SchemaVersionError(f"No upgrade step from workflow schema version {version}.")
        step(connection)
        version += 1
        connection.execute(insert(tables().schemaVersion).values(version=version, applied_at=utcNow()))
    return before

