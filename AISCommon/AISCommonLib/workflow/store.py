"""The workflow store: every client (Slicer modules, ``ais workflow``) routes cases through this class.

- **Backends**: SQLite (embedded default, ``<root>/derivatives/lesions/workflow.sqlite``, WAL mode,
  ``BEGIN IMMEDIATE`` write transactions, busy timeout) or PostgreSQL by URL; one code path and schema.
- **Atomic claims**: every change to a case, its slots and its reads happens in one transaction that first
  locks the case row (``SELECT ... FOR UPDATE`` on PostgreSQL; the database write lock on SQLite) and
  re-checks everything; a slot is taken with ``UPDATE ... WHERE status = 'open'`` and its row count.
  Two clients asking at once never get the same slot, and one person never holds two reads of a case
  (unique constraint as a second line).
- **Optimistic concurrency**: ``cases.revision`` grows with every state change; an action given the
  revision its client saw is refused with :class:`StaleRevisionError` when it differs.
- **Files**: reader masks go through :func:`derivatives.writeReaderMask` (versioned, never overwritten);
  the final mask is written to the consensus name only at finalisation. Paths are stored relative to
  the dataset root with their SHA-256; a refused action removes any file it wrote before refusing.
- **Audit trail**: one append-only ``events`` row per action, in the same transaction as the change.
- **Blinding**: :meth:`WorkflowStore.readsVisibleTo` and :meth:`WorkflowStore.readMaskPath` show a read to
  anyone but its author only once both reads of the case are in.
- **Training**: while the bar requires it, an unqualified reader's ``claimNext`` gives trial cases only
  (new lesion size classes and locations first); each trial read is scored against the case's reference
  mask with the comparator and the reader is qualified when the bar is met (or by a manager's override
  with a reason). A trainee sees a trial case's reference, and other trainees' reads of it, only after
  submitting their own; :meth:`WorkflowStore.trainingReport` shows the scores.

The agreement engine lives in AISCommonLib, which this library may not import: pass ``comparator`` (two
mask paths -> ``(concordant, summary)``) and ``finaliser`` (two mask paths, decisions, default ->
bool ``[k, j, i]`` final mask) from the review side. Without a comparator a case with both reads waits
in ``awaiting_comparison`` until a client with one calls :meth:`WorkflowStore.settleComparisons`
(reviewers' ``claimNext`` does it first).
"""

import contextlib
import csv
import io
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from ..core.atomicio import sha256File, writeTextAtomic
from ..core.cases import Case, discoverCases
from ..core.derivatives import (
    PIPELINE_NAME,
    consensusMaskPath,
    sidecarPathFor,
    writeMaskWithSidecar,
    writeReaderMask,
)
from ..core.errors import InputError, OutputExistsError
from ..core.image import Volume, loadVolume, requireSameGrid, voxelToRas
from . import people, schema, states
from .errors import (
    BlindingError,
    ConflictOfInterestError,
    DatabaseError,
    PermissionDeniedError,
    StaleRevisionError,
    UnknownCaseError,
    UnknownUserError,
    WorkflowError,
)

logger = logging.getLogger(__name__)

DEFAULT_DATABASE_NAME = "workflow.sqlite"
DATABASE_URL_VARIABLE = "AIS_DB_URL"
#: How long a SQLite writer waits for the write lock before giving up (seconds).
SQLITE_BUSY_TIMEOUT_S = 30.0
#: Attempts for a transaction that hit a deadlock, serialization failure or lock timeout.
TRANSIENT_RETRIES = 8
#: Default concordance rule and review size limit (same defaults as ``ais compare``).
DEFAULT_CONCORDANCE = {"min_dice": 0.7, "max_missed_lesions": 0, "min_extent_mm3": 50.0}
#: Default training bar (see :data:`people.DEFAULT_TRAINING`).
DEFAULT_TRAINING = dict(people.DEFAULT_TRAINING)

Comparator = Callable[[Path, Path], tuple[bool, dict]]
Finaliser = Callable[[Path, Path, Mapping[int, str], str | None], np.ndarray]


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


def _createEngine(url: str):
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


def _isTransient(error) -> bool:
    """Deadlock, serialization failure or a SQLite lock that outlasted the busy timeout: worth a retry."""
    original = getattr(error, "orig", None)
    code = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    if code in ("40001", "40P01", "55P03"):
        return True
    text = str(original).lower()
    return "database is locked" in text or "database is busy" in text


def _dumps(value) -> str:
    return json.dumps(value, sort_keys=True, allow_nan=False)


class WorkflowStore:
    """Cases, people, reads, decisions and the audit trail of one dataset's consensus workflow.

    :param url: SQLAlchemy URL (``sqlite:///...`` or ``postgresql+psycopg://...``); see :func:`resolveDatabaseUrl`.
    :param comparator: ``(maskPathA, maskPathB) -> (concordant, summary)``; ``summary['discordant_regions']``
        lists the regions (with ``id``) a reviewer decides on. None on the reader side.
    :param finaliser: ``(maskPathA, maskPathB, decisions, defaultDecision) -> bool [k, j, i]`` final mask
        (agreed voxels plus the regions decided ``keep``). None on the reader side.
    :param datasetRoot: the BIDS root as this machine sees it; default: the root recorded at initialisation.
    :raises InputError: an unusable URL.
    :raises SchemaVersionError: a database of a newer release.
    """

    def __init__(self, url: str, comparator: Comparator | None = None, finaliser: Finaliser | None = None, datasetRoot=None):
        self.url = url
        self.comparator = comparator
        self.finaliser = finaliser
        self._engine = _createEngine(url)
        self._datasetRoot = Path(datasetRoot).resolve() if datasetRoot is not None else None
        self._write(schema.upgradeSchema)

    # ------------------------------------------------------------------------------------------
    # Plumbing

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._engine.dialect.name

    def close(self) -> None:
        """Release the database connections."""
        self._engine.dispose()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _write(self, function, *args):
        """Run ``function(connection, *args)`` in one transaction, retrying transient lock failures."""
        from sqlalchemy.exc import DBAPIError

        for attempt in range(TRANSIENT_RETRIES):
            try:
                with self._engine.begin() as connection:
                    return function(connection, *args)
            except DBAPIError as error:
                if _isTransient(error) and attempt + 1 < TRANSIENT_RETRIES:
                    time.sleep(0.01 * (attempt + 1))
                    continue
                message = str(getattr(error, "orig", error)).strip().splitlines()[0] if str(getattr(error, "orig", error)).strip() else type(error).__name__
                raise DatabaseError(f"The workflow database refused the operation ({message}); nothing was changed.") from None

    _read = _write

    @property
    def datasetRoot(self) -> Path:
        """The BIDS root the recorded paths are relative to.

        :raises WorkflowError: the database was never initialised with a root.
        """
        if self._datasetRoot is None:
            root = self.settings().get("dataset_root")
            if not root:
                raise WorkflowError("The workflow database has no dataset root; run 'ais workflow init' first.")
            self._datasetRoot = Path(root)
        return self._datasetRoot

    def _relative(self, path: Path) -> str:
        try:
            return Path(path).resolve().relative_to(self.datasetRoot.resolve()).as_posix()
        except ValueError:
            return str(Path(path).resolve())

    def absolutePath(self, recorded: str) -> Path:
        """A recorded (dataset-relative) path on this machine."""
        path = Path(recorded)
        return path if path.is_absolute() else self.datasetRoot / path

    @staticmethod
    def _event(connection, userId, action, caseId=None, fromState=None, toState=None, revision=None, note=None, files=None):
        connection.execute(
            schema.tables().events.insert().values(
                at=schema.utcNow(),
                user_id=userId,
                case_id=caseId,
                action=action,
                from_state=fromState,
                to_state=toState,
                revision=revision,
                note=note,
                files=_dumps(files or {}),
            )
        )

    @staticmethod
    def _user(connection, userId, roles=None):
        """The active user row with a ``roles`` set; with ``roles``, require one of them.

        :raises UnknownUserError: not registered or deactivated.
        :raises PermissionDeniedError: none of ``roles``.
        """
        from sqlalchemy import select

        t = schema.tables()
        row = connection.execute(select(t.users).where(t.users.c.user_id == str(userId))).mappings().first()
        if row is None or not row["active"]:
            raise UnknownUserError(f"User '{userId}' is not registered in the workflow database.")
        held = set(connection.execute(select(t.userRoles.c.role).where(t.userRoles.c.user_id == userId)).scalars())
        user = dict(row, roles=held)
        if roles is not None and not held & set(roles):
            raise PermissionDeniedError(f"User '{userId}' needs the role {' or '.join(roles)} for this action but has {', '.join(sorted(held)) or 'no role'}.")
        return user

    @staticmethod
    def _lockCase(connection, caseId, expectedRevision=None):
        """The case row, locked for the rest of the transaction.

        :raises UnknownCaseError: not registered.
        :raises StaleRevisionError: ``expectedRevision`` differs from the stored revision.
        """
        from sqlalchemy import select

        t = schema.tables()
        row = connection.execute(select(t.cases).where(t.cases.c.case_id == str(caseId)).with_for_update()).mappings().first()
        if row is None:
            raise UnknownCaseError(f"Case '{caseId}' is not registered in the workflow.")
        if expectedRevision is not None and int(expectedRevision) != row["revision"]:
            raise StaleRevisionError(
                f"Case {caseId} changed since you loaded it (revision {row['revision']}, you saw {expectedRevision}, now {row['state']}); reload it and try again."
            )
        return dict(row)

    @staticmethod
    def _setState(connection, case, toState, **values):
        t = schema.tables()
        result = connection.execute(
            t.cases.update()
            .where(t.cases.c.case_id == case["case_id"], t.cases.c.revision == case["revision"])
            .values(state=toState, revision=case["revision"] + 1, updated_at=schema.utcNow(), **values)
        )
        if result.rowcount != 1:  # unreachable while the row is locked; kept as the optimistic guard
            raise StaleRevisionError(f"Case {case['case_id']} changed during the action; reload it and try again.")
        return case["revision"] + 1

    @staticmethod
    def _slots(connection, caseId, kind=None):
        from sqlalchemy import select

        t = schema.tables()
        query = select(t.slots).where(t.slots.c.case_id == caseId).order_by(t.slots.c.kind, t.slots.c.slot_index)
        if kind is not None:
            query = query.where(t.slots.c.kind == kind)
        return [dict(row) for row in connection.execute(query).mappings()]

    def _heldSlot(self, connection, case, userId, kind):
        for slot in self._slots(connection, case["case_id"], kind):
            if slot["user_id"] == userId and slot["status"] == states.SLOT_CLAIMED:
                return slot
        raise PermissionDeniedError(f"User '{userId}' holds no open {kind} assignment on case {case['case_id']}; take it with 'next' first.")

    def _readRows(self, connection, caseId):
        from sqlalchemy import select

        t = schema.tables()
        return [dict(row) for row in connection.execute(select(t.reads).where(t.reads.c.case_id == caseId).order_by(t.reads.c.slot_id)).mappings()]

    # ------------------------------------------------------------------------------------------
    # Settings and people

    def settings(self) -> dict:
        """Every setting (JSON values): ``dataset_root``, ``concordance``, ``training``."""
        from sqlalchemy import select

        t = schema.tables()
        rows = self._read(lambda connection: connection.execute(select(t.settings)).all())
        return {key: json.loads(value) for key, value in rows}

    def initialise(self, datasetRoot, managerId: str, qualification: people.Qualification, concordance=None, training=None) -> bool:
        """Record the dataset root and rules, and register the first manager (only on an empty database).

        :param concordance: overrides of :data:`DEFAULT_CONCORDANCE`.
        :param training: overrides of :data:`DEFAULT_TRAINING`.
        :return: True when initialised now, False when it already was (same root: nothing changes).
        :raises WorkflowError: initialised before for another dataset root.
        """
        from sqlalchemy import func, select

        people.validateUserId(managerId)
        qualification.validate()
        root = Path(datasetRoot).resolve()
        if not root.is_dir():
            raise InputError(f"The dataset root '{root}' is not a folder.")
        rules = {**DEFAULT_CONCORDANCE, **(concordance or {})}
        trainingBar = people.validateTrainingBar(dict(training or {}))
        t = schema.tables()

        def run(connection):
            existing = dict(connection.execute(select(t.settings)).all())
            if "dataset_root" in existing:
                if json.loads(existing["dataset_root"]) != str(root):
                    raise WorkflowError(f"The workflow database was initialised for '{json.loads(existing['dataset_root'])}', not '{root}'.")
                return False
            if connection.execute(select(func.count()).select_from(t.users)).scalar():
                raise WorkflowError("The workflow database already has users but no dataset root; it is damaged.")
            for key, value in (("dataset_root", str(root)), ("concordance", rules), ("training", trainingBar)):
                connection.execute(t.settings.insert().values(key=key, value=_dumps(value)))
            now = schema.utcNow()
            connection.execute(
                t.users.insert().values(
                    user_id=managerId, title=qualification.title, years_imaging=qualification.yearsImaging,
                    years_neuroimaging=qualification.yearsNeuroimaging, active=True, reader_qualified=False,
                    created_at=now, created_by=managerId,
                )
            )
            connection.execute(t.userRoles.insert().values(user_id=managerId, role=states.ROLE_MANAGER, granted_by=managerId, granted_at=now))
            self._event(connection, managerId, states.ACTION_INITIALISE, note=_dumps({"dataset_root": str(root), "concordance": rules, "training": trainingBar}))
            return True

        done = self._write(run)
        self._datasetRoot = self._datasetRoot or root
        return done

    def updateSettings(self, userId: str, reason: str, concordance=None, training=None) -> dict:
        """Change the concordance rule or the training bar (manager only; recorded with a reason).

        After a change of the training bar every reader still in training is checked against the new bar
        at once, and qualified (with an audit event) when they now meet it.

        :param training: changed keys of :data:`DEFAULT_TRAINING`; ``min_cases`` is never below 5.
        :return: the settings after the change.
        :raises PermissionDeniedError: not a manager, or no reason.
        :raises InputError: unknown settings or a training bar out of range.
        """
        if not (reason or "").strip():
            raise PermissionDeniedError("Changing the workflow rules needs a reason for the audit trail.")
        t = schema.tables()

        def run(connection):
            from sqlalchemy import select

            self._user(connection, userId, (states.ROLE_MANAGER,))
            current = {key: json.loads(value) for key, value in connection.execute(select(t.settings)).all()}
            for key, update, known in (("concordance", concordance, DEFAULT_CONCORDANCE), ("training", training, DEFAULT_TRAINING)):
                if update:
                    unknown = sorted(set(update) - set(known))
                    if unknown:
                        raise InputError(f"Unknown {key} settings: {', '.join(unknown)}.")
                    value = {**current.get(key, known), **update}
                    if key == "training":
                        value = people.validateTrainingBar(value)
                    connection.execute(t.settings.update().where(t.settings.c.key == key).values(value=_dumps(value)))
                    current[key] = value
            self._event(connection, userId, states.ACTION_SETTINGS, note=_dumps({"reason": reason, "concordance": concordance, "training": training}))
            if training:
                for traineeId in self._traineeIds(connection):
                    self._qualifyIfBarMet(connection, userId, traineeId)
            return current

        return self._write(run)

    def addUser(self, actingUser: str, userId: str, qualification: people.Qualification) -> None:
        """Register a person (no role yet). Manager only.

        :raises InputError: invalid ID or qualification.
        :raises WorkflowError: the ID exists.
        """
        people.validateUserId(userId)
        qualification.validate()
        t = schema.tables()

        def run(connection):
            from sqlalchemy import select

            self._user(connection, actingUser, (states.ROLE_MANAGER,))
            if connection.execute(select(t.users.c.user_id).where(t.users.c.user_id == userId)).first():
                raise WorkflowError(f"User '{userId}' is already registered.")
            connection.execute(
                t.users.insert().values(
                    user_id=userId, title=qualification.title, years_imaging=qualification.yearsImaging,
                    years_neuroimaging=qualification.yearsNeuroimaging, active=True, reader_qualified=False,
                    created_at=schema.utcNow(), created_by=actingUser,
                )
            )
            self._event(connection, actingUser, states.ACTION_ADD_USER, note=_dumps({"user": userId, **{
                "title": qualification.title, "years_imaging": qualification.yearsImaging,
                "years_neuroimaging": qualification.yearsNeuroimaging}}))

        self._write(run)

    def grantRole(self, actingUser: str, userId: str, role: str, overrideReason: str | None = None) -> list[str]:
        """Give ``userId`` a role; below the role's minimum only with a manager's recorded reason.

        A reader is qualified for real cases at once unless the training bar requires trial cases.

        :return: the shortfalls the override covered (empty when the person qualifies).
        :raises PermissionDeniedError: acting user not a manager, or shortfalls without an override reason.
        """
        people.validateRole(role)
        t = schema.tables()

        def run(connection):
            from sqlalchemy import select

            self._user(connection, actingUser, (states.ROLE_MANAGER,))
            user = self._user(connection, userId)
            if role in user["roles"]:
                raise WorkflowError(f"User '{userId}' already has the role {role}.")
            shortfalls = people.roleShortfalls(role, people.Qualification(user["title"], user["years_imaging"], user["years_neuroimaging"]))
            reason = (overrideReason or "").strip() or None
            if shortfalls and not reason:
                raise PermissionDeniedError(
                    f"User '{userId}' does not meet the {role} minimum ({'; '.join(shortfalls)}); a manager may override with a recorded reason."
                )
            connection.execute(
                t.userRoles.insert().values(user_id=userId, role=role, granted_by=actingUser, granted_at=schema.utcNow(),
                                            override_reason=reason if shortfalls else None)
            )
            if role == states.ROLE_READER:
                training = json.loads(connection.execute(select(t.settings.c.value).where(t.settings.c.key == "training")).scalar() or "{}")
                if not training.get("required"):
                    connection.execute(t.users.update().where(t.users.c.user_id == userId).values(
                        reader_qualified=True, qualified_note="training not required by the workflow settings"))
            self._event(connection, actingUser, states.ACTION_GRANT_ROLE,
                        note=_dumps({"user": userId, "role": role, "shortfalls": shortfalls, "override_reason": reason if shortfalls else None}))
            return shortfalls

        return self._write(run)

    def revokeRole(self, actingUser: str, userId: str, role: str, reason: str) -> None:
        """Take a role away (manager only, with a reason); work already done stays recorded.

        :raises PermissionDeniedError: not a manager, no reason, or the last manager's own role.
        """
        people.validateRole(role)
        if not (reason or "").strip():
            raise PermissionDeniedError("Revoking a role needs a reason for the audit trail.")
        t = schema.tables()

        def run(connection):
            from sqlalchemy import func, select

            self._user(connection, actingUser, (states.ROLE_MANAGER,))
            user = self._user(connection, userId)
            if role not in user["roles"]:
                raise WorkflowError(f"User '{userId}' does not have the role {role}.")
            if role == states.ROLE_MANAGER:
                managers = connection.execute(select(func.count()).select_from(t.userRoles).where(t.userRoles.c.role == states.ROLE_MANAGER)).scalar()
                if managers <= 1:
                    raise PermissionDeniedError("The last manager cannot lose the manager role.")
            connection.execute(t.userRoles.delete().where(t.userRoles.c.user_id == userId, t.userRoles.c.role == role))
            self._event(connection, actingUser, states.ACTION_REVOKE_ROLE, note=_dumps({"user": userId, "role": role, "reason": reason}))

        self._write(run)

    def users(self) -> list[dict]:
        """Every user with roles, qualification and override reasons, sorted by ID."""
        from sqlalchemy import select

        t = schema.tables()

        def run(connection):
            roles: dict[str, list] = {}
            for row in connection.execute(select(t.userRoles).order_by(t.userRoles.c.role)).mappings():
                roles.setdefault(row["user_id"], []).append({"role": row["role"], "granted_by": row["granted_by"], "override_reason": row["override_reason"]})
            result = []
            for row in connection.execute(select(t.users).order_by(t.users.c.user_id)).mappings():
                result.append({**dict(row), "roles": roles.get(row["user_id"], [])})
            return result

        return self._read(run)

    # ------------------------------------------------------------------------------------------
    # Cases

    def _findCase(self, subject: str, session: str | None) -> Case:
        matches = discoverCases(self.datasetRoot, participantLabels=[subject], sessionLabels=[session] if session else None)
        matches = [case for case in matches if case.session == session]
        if len(matches) != 1:
            raise InputError(f"The images of sub-{subject}{f' ses-{session}' if session else ''} are no longer found under '{self.datasetRoot}'.")
        return matches[0]

    def registerCases(self, userId: str, participantLabels=None, training: bool = False, referenceMasks: Mapping[str, object] | None = None,
                      sizeClasses: Mapping[str, str] | None = None, locations: Mapping[str, str] | None = None) -> list[str]:
        """Register the dataset's cases (those not yet registered); each real case gets two open read slots.

        Trial cases (``training=True``) are exactly the cases given a reference mask. Each gets a lesion
        size class and a location label, given by the manager or derived from the reference mask: total
        volume small < 1.5 mL <= medium < 15 mL <= large, and the RAS octant (e.g. ``LPS``) of the lesion
        centroid relative to the centre of the DWI field of view. Trainees read them before real cases.

        :param participantLabels: only these subjects.
        :param training: register trial cases for reader training.
        :param referenceMasks: caseId -> reference mask path (NIfTI, binary, on the case's DWI grid, not
            empty); required for trial cases.
        :param sizeClasses: caseId -> ``small``, ``medium`` or ``large`` for trial cases (default: derived).
        :param locations: caseId -> a location label such as ``left_mca`` for trial cases (default: derived).
        :return: the case IDs registered now.
        :raises PermissionDeniedError: not a manager.
        :raises InputError: a missing, empty or off-grid reference mask, a reference or label for a case
            that does not exist or is not a trial case, an unknown size class or an invalid location label.
        :raises WorkflowError: a case given as a trial case is already registered as a real case.
        """
        cases = discoverCases(self.datasetRoot, participantLabels=participantLabels)
        references = {str(key): Path(value) for key, value in (referenceMasks or {}).items()}
        sizeClasses = {str(key): people.validateSizeClass(value) for key, value in (sizeClasses or {}).items()}
        locations = {str(key): people.validateLocation(str(value).strip()) for key, value in (locations or {}).items()}
        labels: dict[str, dict] = {}
        if training:
            if not references:
                raise InputError("Trial cases need reference masks: give one per trial case.")
            found = {case.caseId for case in cases}
            unknown = sorted(set(references) - found)
            if unknown:
                raise InputError(f"No case {', '.join(unknown)} in the dataset{' for the participants given' if participantLabels else ''}; each reference mask must name a case of the dataset.")
            cases = [case for case in cases if case.caseId in references]
        elif sizeClasses or locations:
            raise InputError("Lesion size classes and locations are given for trial cases only (register with training).")
        stray = sorted((set(sizeClasses) | set(locations)) - set(references))
        if stray:
            raise InputError(f"Size classes or locations were given for {', '.join(stray)}, which have no reference mask.")
        hashes = {}
        for case in cases:
            hashes[case.caseId] = {self._relative(path): sha256File(path) for path in sorted(case.files.values())}
            if case.caseId in references:
                reference = references[case.caseId]
                if not reference.is_file():
                    raise InputError(f"The reference mask '{reference}' of {case.caseId} does not exist.")
                hashes[case.caseId][self._relative(reference)] = sha256File(reference)
                if training:
                    labels[case.caseId] = self._describeReference(case, reference, sizeClasses.get(case.caseId), locations.get(case.caseId))
        t = schema.tables()

        def run(connection):
            from sqlalchemy import select

            self._user(connection, userId, (states.ROLE_MANAGER,))
            known = dict(connection.execute(select(t.cases.c.case_id, t.cases.c.training)).all())
            if training:
                real = sorted(caseId for caseId in references if caseId in known and not known[caseId])
                if real:
                    raise WorkflowError(f"Case {', '.join(real)} is already registered as a real case and cannot become a trial case.")
            registered = []
            for case in cases:
                if case.caseId in known:
                    continue
                now = schema.utcNow()
                reference = references.get(case.caseId)
                label = labels.get(case.caseId, {})
                connection.execute(
                    t.cases.insert().values(
                        case_id=case.caseId, subject=case.subject, session=case.session, relative_folder=case.relativeFolder.as_posix(),
                        state=states.AWAITING_READS, revision=1, training=bool(training),
                        reference_mask_path=self._relative(reference) if reference else None,
                        reference_sha256=hashes[case.caseId][self._relative(reference)] if reference else None,
                        lesion_size_class=label.get("lesion_size_class"), lesion_location=label.get("lesion_location"),
                        reference_volume_ml=label.get("reference_volume_ml"),
                        registered_at=now, updated_at=now,
                    )
                )
                if not training:
                    for index in range(1, states.READS_PER_CASE + 1):
                        connection.execute(t.slots.insert().values(case_id=case.caseId, kind=states.SLOT_READ, slot_index=index, status=states.SLOT_OPEN))
                self._event(connection, userId, states.ACTION_REGISTER, case.caseId, None, states.AWAITING_READS, 1,
                            note=_dumps({"trial_case": True, **label}) if training else None, files=hashes[case.caseId])
                registered.append(case.caseId)
            return registered

        return self._write(run)

    def _describeReference(self, case: Case, reference: Path, sizeClass: str | None = None, location: str | None = None) -> dict:
        """Size class, location and volume of a trial case's reference mask (given labels win over derived ones).

        :raises InputError: the reference is empty, not binary or off the DWI grid.
        :raises GeometryError: the reference file lies on another grid.
        """
        grid = self._referenceGrid(case)
        try:
            mask = self._maskOnGrid(reference, grid)
        except InputError as error:
            raise type(error)(f"The reference mask of trial case {case.caseId} is unusable ({str(error).rstrip('.')}).") from None
        voxels = np.argwhere(mask)
        if not len(voxels):
            raise InputError(f"The reference mask of trial case {case.caseId} is empty; a trial case needs at least one lesion.")
        volumeMl = len(voxels) * grid.voxelVolumeMm3 / 1000.0
        centroid = voxelToRas(grid.ijkToRas, voxels.mean(axis=0))
        centre = voxelToRas(grid.ijkToRas, (np.array(grid.gridShape, dtype=float) - 1.0) / 2.0)
        return {
            "lesion_size_class": sizeClass or people.sizeClassForVolume(volumeMl),
            "lesion_location": location or people.octantLabel(np.asarray(centroid) - np.asarray(centre)),
            "reference_volume_ml": round(float(volumeMl), 4),
        }

    def setTrialLabels(self, userId: str, caseId: str, sizeClass: str | None = None, location: str | None = None) -> dict:
        """Set or correct the lesion size class and location of a trial case (manager only, recorded).

        Labels not given are derived from the reference mask again (e.g. for trial cases registered
        before schema version 2, which have none).

        :return: ``{"case_id", "lesion_size_class", "lesion_location", "reference_volume_ml"}``.
        :raises PermissionDeniedError: not a manager.
        :raises UnknownCaseError: not registered.
        :raises WorkflowError: not a trial case, or its reference mask is missing or changed.
        :raises InputError: an unknown size class or invalid location.
        """
        if sizeClass is not None:
            people.validateSizeClass(sizeClass)
        if location is not None:
            location = people.validateLocation(str(location).strip())

        def check(connection):
            self._user(connection, userId, (states.ROLE_MANAGER,))
            case = self._lockCase(connection, caseId)
            if not case["training"]:
                raise WorkflowError(f"Case {caseId} is not a trial case; only trial cases have lesion labels.")
            return case

        row = self._read(check)
        case = self._findCase(row["subject"], row["session"])
        label = self._describeReference(case, self._checkReference(row), sizeClass, location)
        t = schema.tables()

        def run(connection):
            self._user(connection, userId, (states.ROLE_MANAGER,))
            current = self._lockCase(connection, caseId)
            connection.execute(t.cases.update().where(t.cases.c.case_id == caseId).values(updated_at=schema.utcNow(), **label))
            self._event(connection, userId, states.ACTION_TRIAL_LABELS, caseId, current["state"], current["state"], current["revision"],
                        note=_dumps({**label, "was": {"lesion_size_class": current["lesion_size_class"], "lesion_location": current["lesion_location"]}}))
            return {"case_id": caseId, **label}

        return self._write(run)

    def case(self, caseId: str) -> dict:
        """One case: state, revision, slots (who holds what), comparison summary; for a trial case its lesion
        size class and location and ``has_reference`` (the path only through :meth:`referenceMaskPath`).

        :raises UnknownCaseError: not registered.
        """
        from sqlalchemy import select

        t = schema.tables()

        def run(connection):
            row = connection.execute(select(t.cases).where(t.cases.c.case_id == caseId)).mappings().first()
            if row is None:
                raise UnknownCaseError(f"Case '{caseId}' is not registered in the workflow.")
            result = dict(row)
            result["comparison"] = json.loads(row["comparison"]) if row["comparison"] else None
            result["slots"] = self._slots(connection, caseId)
            # The reference of a trial case is handed out only by referenceMaskPath (blinding of trainees).
            result["has_reference"] = result.pop("reference_mask_path") is not None
            result.pop("reference_sha256")
            return result

        return self._read(run)

    def cases(self) -> list[dict]:
        """Every case with its state, revision, and counts of claimed and submitted reads (no reader IDs: blinding)."""
        from sqlalchemy import select

        t = schema.tables()

        def run(connection):
            slotsByCase: dict[str, list] = {}
            for row in connection.execute(select(t.slots)).mappings():
                slotsByCase.setdefault(row["case_id"], []).append(row)
            result = []
            for row in connection.execute(select(t.cases).order_by(t.cases.c.id)).mappings():
                slots = slotsByCase.get(row["case_id"], [])
                reads = [slot for slot in slots if slot["kind"] in (states.SLOT_READ, states.SLOT_TRIAL)]
                result.append({
                    "case_id": row["case_id"], "state": row["state"], "revision": row["revision"], "training": bool(row["training"]),
                    "lesion_size_class": row["lesion_size_class"], "lesion_location": row["lesion_location"],
                    "reads_claimed": sum(slot["status"] == states.SLOT_CLAIMED for slot in reads),
                    "reads_submitted": sum(slot["status"] == states.SLOT_DONE for slot in reads),
                    "concordant": row["concordant"], "exclusion_reason": row["exclusion_reason"],
                    "final_mask_path": row["final_mask_path"], "updated_at": row["updated_at"],
                })
            return result

        return self._read(run)

    # ------------------------------------------------------------------------------------------
    # Work assignment

    def claimNext(self, userId: str, role: str) -> dict | None:
        """Give ``userId`` their next piece of work as ``role``: an open read, review or arbitration slot.

        A slot already held and not finished is returned again. Otherwise the least-loaded case (fewest
        taken slots of that kind), oldest first, among those the person has no conflict with. The claim
        is atomic: two clients asking at once never get the same slot.

        A reader still in training (the bar requires training and they are not qualified) gets trial cases
        only (kind ``trial``), never real ones: first those adding a lesion size class and a location they
        have not read yet (see :func:`people.rankTrialCases`), each case at most once per trainee.

        :param role: ``reader``, ``reviewer`` or ``arbiter``.
        :return: ``{"case_id", "kind", "slot_index", "revision", "state", "resumed", "training"}``, or None
            when nothing is open.
        :raises UnknownUserError: unknown user.
        :raises PermissionDeniedError: the user lacks the role (or, as a reader, training).
        """
        people.validateRole(role)
        if role not in states.ROLE_SLOTS:
            raise PermissionDeniedError(f"The {role} role has no work queue; use reader, reviewer or arbiter.")
        kind = states.ROLE_SLOTS[role]
        if kind == states.SLOT_REVIEW:
            self.settleComparisons(userId)
        tried: set[int] = set()
        busy: set[int] = set()
        for attempt in range(200):
            outcome = self._write(self._claimOnce, userId, role, kind, tried, busy)
            if outcome is None and busy:
                # Every remaining candidate was locked by another client: look again shortly.
                busy.clear()
                time.sleep(0.002 * min(attempt + 1, 10))
                continue
            if outcome != "retry":
                return outcome
        raise DatabaseError("Could not claim a slot after many attempts under heavy contention; try again.")

    def _candidateSlots(self, connection, userId, kind, tried):
        from sqlalchemy import and_, func, not_, or_, select

        t = schema.tables()
        other = t.slots.alias("other")
        taken = (
            select(func.count())
            .select_from(other)
            .where(and_(other.c.case_id == t.slots.c.case_id, other.c.kind == kind, other.c.status != states.SLOT_OPEN))
            .scalar_subquery()
        )
        conflictKinds = {states.SLOT_READ: (states.SLOT_READ,), states.SLOT_REVIEW: (states.SLOT_READ,),
                         states.SLOT_ARBITRATION: (states.SLOT_READ, states.SLOT_REVIEW)}[kind]
        mine = select(t.slots.c.case_id).where(t.slots.c.user_id == userId, or_(*(t.slots.c.kind == k for k in conflictKinds + (kind,))))
        query = (
            select(t.slots.c.id, t.slots.c.case_id)
            .join(t.cases, t.cases.c.case_id == t.slots.c.case_id)
            .where(
                t.slots.c.kind == kind,
                t.slots.c.status == states.SLOT_OPEN,
                t.cases.c.state.in_(states.SLOT_STATES[kind]),
                t.cases.c.training.is_(False),
                not_(t.slots.c.case_id.in_(mine)),
            )
            .order_by(taken, t.cases.c.id, t.slots.c.slot_index)
            .limit(len(tried) + 1)  # tried and busy slots are passed in one set
        )
        return [row for row in connection.execute(query).all() if row.id not in tried]

    def _claimOnce(self, connection, userId, role, kind, tried, busy):
        from sqlalchemy import select

        t = schema.tables()
        user = self._user(connection, userId, (role,))
        if role == states.ROLE_READER and self._inTraining(connection, user):
            return self._claimTrial(connection, userId)
        held = connection.execute(
            select(t.slots.c.case_id, t.slots.c.slot_index, t.cases.c.revision, t.cases.c.state)
            .join(t.cases, t.cases.c.case_id == t.slots.c.case_id)
            .where(t.slots.c.user_id == userId, t.slots.c.kind == kind, t.slots.c.status == states.SLOT_CLAIMED,
                   t.cases.c.state.in_(states.SLOT_STATES[kind]), t.cases.c.training.is_(False))
            .order_by(t.cases.c.id)
        ).first()
        if held is not None:
            return {"case_id": held.case_id, "kind": kind, "slot_index": held.slot_index, "revision": held.revision, "state": held.state,
                    "resumed": True, "training": False}
        candidates = self._candidateSlots(connection, userId, kind, tried | busy)
        if not candidates:
            return None
        slotId, caseId = candidates[0]
        # PostgreSQL: skip a case another client holds locked and try the next one instead of queueing
        # behind it (SQLite serialises writers with BEGIN IMMEDIATE, where nothing is ever skipped).
        row = connection.execute(select(t.cases).where(t.cases.c.case_id == caseId).with_for_update(skip_locked=True)).mappings().first()
        if row is None:
            busy.add(slotId)
            return "retry"
        tried.add(slotId)
        case = dict(row)
        # Re-check under the case lock: every slot change of a case happens while holding it.
        if case["state"] not in states.SLOT_STATES[kind]:
            return "retry"
        try:
            self._checkConflicts(connection, case, userId, kind)
        except ConflictOfInterestError:
            return "retry"  # the same person claimed from another client meanwhile; look again
        result = connection.execute(
            t.slots.update().where(t.slots.c.id == slotId, t.slots.c.status == states.SLOT_OPEN, t.slots.c.user_id.is_(None))
            .values(user_id=userId, status=states.SLOT_CLAIMED, claimed_at=schema.utcNow())
        )
        if result.rowcount != 1:
            return "retry"
        slotIndex = connection.execute(select(t.slots.c.slot_index).where(t.slots.c.id == slotId)).scalar()
        self._event(connection, userId, states.ACTION_CLAIM, caseId, case["state"], case["state"], case["revision"], note=f"{kind} slot {slotIndex}")
        return {"case_id": caseId, "kind": kind, "slot_index": slotIndex, "revision": case["revision"], "state": case["state"],
                "resumed": False, "training": False}

    def _checkConflicts(self, connection, case, userId, kind):
        """:raises ConflictOfInterestError: the person read this case (or reviewed it, for arbitration)."""
        for slot in self._slots(connection, case["case_id"]):
            if slot["user_id"] != userId:
                continue
            if slot["kind"] == states.SLOT_READ:
                what = "read it already" if kind == states.SLOT_READ else "read it"
                raise ConflictOfInterestError(f"User '{userId}' cannot take the {kind} of case {case['case_id']}: they {what}.")
            if slot["kind"] == states.SLOT_REVIEW and kind == states.SLOT_ARBITRATION:
                raise ConflictOfInterestError(f"User '{userId}' cannot arbitrate case {case['case_id']}: they reviewed it.")
            if slot["kind"] == kind:
                raise ConflictOfInterestError(f"User '{userId}' already holds the {kind} of case {case['case_id']}.")

    def releaseClaim(self, userId: str, caseId: str, reason: str = "") -> None:
        """Give back a claimed slot that is not finished (the case goes back to the queue).

        :raises PermissionDeniedError: the user holds no open slot on the case.
        """

        def run(connection):
            self._user(connection, userId)
            case = self._lockCase(connection, caseId)
            slots = [slot for slot in self._slots(connection, caseId) if slot["user_id"] == userId and slot["status"] == states.SLOT_CLAIMED]
            if not slots:
                raise PermissionDeniedError(f"User '{userId}' holds no open assignment on case {caseId}.")
            for slot in slots:
                self._freeSlot(connection, slot)
            self._event(connection, userId, states.ACTION_RELEASE, caseId, case["state"], case["state"], case["revision"],
                        note=_dumps({"slots": [f"{slot['kind']} {slot['slot_index']}" for slot in slots], "reason": reason}))

        self._write(run)

    # ------------------------------------------------------------------------------------------
    # Reads

    def _referenceGrid(self, case: Case) -> Volume:
        """The DWI grid of a case (first frame of a series): masks must lie on it."""
        dwi = loadVolume(case.files["dwi"], allowSeries=True)
        return dwi.withArray(dwi.array[0]) if dwi.isSeries else dwi

    def _maskOnGrid(self, mask, grid: Volume) -> np.ndarray:
        """The mask as bool ``[k, j, i]``, checked before anything is written.

        :raises GeometryError: a file or volume off the DWI grid.
        :raises InputError: wrong shape or not binary.
        """
        if isinstance(mask, (str, Path)):
            mask = loadVolume(mask)
        if isinstance(mask, Volume):
            requireSameGrid(grid, mask)
            mask = mask.array
        mask = np.asarray(mask)
        if mask.shape != grid.gridShape:
            raise InputError(f"The mask has shape {mask.shape[::-1]} but the DWI grid is {grid.gridShape[::-1]} (i x j x k); masks must be on the DWI grid.")
        if mask.dtype != bool and not np.isin(np.unique(mask), (0, 1)).all():
            raise InputError("The mask is not binary (values other than 0 and 1); binarise it before submitting.")
        return mask.astype(bool)

    @staticmethod
    def _removeWritten(paths) -> None:
        for path in paths:
            with contextlib.suppress(OSError):
                Path(path).unlink()

    def submitRead(self, userId: str, caseId: str, mask, expectedRevision: int | None = None, method: str = "manual",
                   parameters: dict | None = None) -> dict:
        """Submit the reader's mask for their claimed read slot of ``caseId``.

        The mask is written as the reader's next mask version (never overwriting), hashed and recorded.
        The second read moves the case to ``awaiting_comparison``; with a comparator it is compared at once.

        A trial read (a trainee's claimed trial case) is scored against the reference mask in the same
        transaction when this client has a comparator (Dice, HD95, lesion F1 with the reference as read A,
        missed lesions, time from claim to submission), and the trainee is qualified when that meets the bar;
        without a comparator it waits for :meth:`settleTrainingScores`. The case stays in ``awaiting_reads``.

        :param mask: bool or 0/1 array ``[k, j, i]`` on the DWI grid, a :class:`Volume`, or a NIfTI path.
        :param expectedRevision: the case revision the client saw, or None to skip the check.
        :return: ``{"case_id", "read_id", "mask_path", "sha256", "state", "revision", "training"}``; a trial
            read adds ``score`` (None until scored) and ``qualified``.
        :raises PermissionDeniedError: no claimed read (or trial) slot, or not a reader.
        :raises WorkflowError: the reference mask of a trial case is missing or changed.
        :raises IllegalTransitionError: the case no longer takes reads.
        :raises StaleRevisionError: the case changed since ``expectedRevision``.
        :raises InputError: a mask off the DWI grid or not binary.
        """

        def check(connection):
            self._user(connection, userId, (states.ROLE_READER,))
            case = self._lockCase(connection, caseId, expectedRevision)
            states.requireTransition(caseId, case["state"], states.ACTION_SUBMIT)
            self._heldSlot(connection, case, userId, states.SLOT_TRIAL if case["training"] else states.SLOT_READ)
            return case

        caseRow = self._read(check)
        trial = bool(caseRow["training"])
        reference = self._checkReference(caseRow) if trial else None
        case = self._findCase(caseRow["subject"], caseRow["session"])
        grid = self._referenceGrid(case)
        array = self._maskOnGrid(mask, grid)
        for attempt in range(5):
            try:
                record = writeReaderMask(self.datasetRoot, case, array, grid, userId, method, parameters or {})
                break
            except OutputExistsError:
                # The same reader submitting from two clients at once took this version's name: take the next.
                if attempt == 4:
                    raise
        sidecar = sidecarPathFor(record.path)
        files = {self._relative(record.path): sha256File(record.path), self._relative(sidecar): sha256File(sidecar)}
        t = schema.tables()
        summary = None
        if trial and self.comparator is not None:
            try:
                _, summary = self.comparator(reference, record.path)
            except BaseException:
                self._removeWritten([record.path, sidecar])
                raise

        def run(connection):
            self._user(connection, userId, (states.ROLE_READER,))
            case = self._lockCase(connection, caseId, expectedRevision)
            states.requireTransition(caseId, case["state"], states.ACTION_SUBMIT)
            slot = self._heldSlot(connection, case, userId, states.SLOT_TRIAL if trial else states.SLOT_READ)
            now = schema.utcNow()
            connection.execute(t.slots.update().where(t.slots.c.id == slot["id"]).values(status=states.SLOT_DONE, done_at=now))
            duration = _secondsBetween(slot["claimed_at"], now)
            readId = connection.execute(
                t.reads.insert().values(
                    case_id=caseId, slot_id=slot["id"], user_id=userId, mask_path=self._relative(record.path),
                    sha256=files[self._relative(record.path)], sidecar_path=self._relative(sidecar),
                    sidecar_sha256=files[self._relative(sidecar)], version=record.version, method=method,
                    duration_seconds=duration, submitted_at=now,
                )
            ).inserted_primary_key[0]
            if trial:
                self._event(connection, userId, states.ACTION_SUBMIT, caseId, case["state"], case["state"], case["revision"],
                            note=f"trial slot {slot['slot_index']}, version {record.version}", files=files)
                read = {"id": readId, "user_id": userId, "mask_path": self._relative(record.path), "sha256": files[self._relative(record.path)],
                        "duration_seconds": duration}
                score = self._recordScore(connection, userId, case, read, summary) if summary is not None else None
                return {"case_id": caseId, "read_id": readId, "mask_path": read["mask_path"], "sha256": read["sha256"], "state": case["state"],
                        "revision": case["revision"], "training": True, "score": score, "qualified": bool(score and score["qualified"])}
            done = sum(s["status"] == states.SLOT_DONE or s["id"] == slot["id"] for s in self._slots(connection, caseId, states.SLOT_READ))
            toState = states.AWAITING_COMPARISON if done >= states.READS_PER_CASE else states.AWAITING_READS
            revision = self._setState(connection, case, toState) if toState != case["state"] else case["revision"]
            self._event(connection, userId, states.ACTION_SUBMIT, caseId, case["state"], toState, revision,
                        note=f"read slot {slot['slot_index']}, version {record.version}", files=files)
            return {"case_id": caseId, "read_id": readId, "mask_path": self._relative(record.path), "sha256": files[self._relative(record.path)],
                    "state": toState, "revision": revision, "training": False}

        try:
            result = self._write(run)
        except BaseException:
            self._removeWritten([record.path, sidecar])
            raise
        if result["state"] == states.AWAITING_COMPARISON and self.comparator is not None:
            self.settleComparisons(userId, [caseId])
            settled = self.case(caseId)
            result.update(state=settled["state"], revision=settled["revision"])
        return result

    def settleComparisons(self, userId: str, caseIds=None) -> list[str]:
        """Compare the reads of cases waiting in ``awaiting_comparison`` and queue them for review.

        Concordant cases go to ``review_confirm``, discordant ones to ``review_adjudicate``. Does nothing
        without a comparator. Safe to run from several clients at once: one of them settles each case.

        :return: the case IDs settled by this call.
        """
        if self.comparator is None:
            return []
        from sqlalchemy import select

        t = schema.tables()

        def pending(connection):
            self._user(connection, userId)
            query = select(t.cases.c.case_id).where(t.cases.c.state == states.AWAITING_COMPARISON).order_by(t.cases.c.id)
            if caseIds is not None:
                query = query.where(t.cases.c.case_id.in_(list(caseIds)))
            return [(caseId, self._readRows(connection, caseId)) for caseId in connection.execute(query).scalars()]

        settled = []
        for caseId, reads in self._read(pending):
            if len(reads) != states.READS_PER_CASE:
                logger.warning("Case %s is awaiting comparison with %d reads; left as it is.", caseId, len(reads))
                continue
            concordant, summary = self.comparator(self.absolutePath(reads[0]["mask_path"]), self.absolutePath(reads[1]["mask_path"]))
            readIds = [read["id"] for read in reads]

            def run(connection, caseId=caseId, concordant=concordant, summary=summary, readIds=readIds, reads=reads):
                case = self._lockCase(connection, caseId)
                if case["state"] != states.AWAITING_COMPARISON or [read["id"] for read in self._readRows(connection, caseId)] != readIds:
                    return False  # another client settled it first
                toState = states.REVIEW_CONFIRM if concordant else states.REVIEW_ADJUDICATE
                revision = self._setState(connection, case, toState, concordant=bool(concordant), comparison=_dumps(summary))
                connection.execute(t.slots.insert().values(case_id=caseId, kind=states.SLOT_REVIEW, slot_index=1, status=states.SLOT_OPEN))
                self._event(connection, userId, states.ACTION_COMPARE, caseId, case["state"], toState, revision,
                            note=_dumps({"concordant": bool(concordant), "dice": summary.get("dice"), "missed_lesions": summary.get("missed_lesions")}),
                            files={read["mask_path"]: read["sha256"] for read in reads})
                return True

            if self._write(run):
                settled.append(caseId)
        return settled

    def readsVisibleTo(self, userId: str, caseId: str) -> list[dict]:
        """The reads of ``caseId`` that ``userId`` may see: their own, and the others once both reads are in.

        Managers see every read, unless they read the case themselves. On a trial case a trainee sees the
        other trainees' reads once they submitted their own.

        :return: read records (``read_id``, ``user_id``, ``mask_path``, ``sha256``, ``version``, ``submitted_at``).
        :raises UnknownUserError: unknown user.
        :raises UnknownCaseError: unknown case.
        """

        def run(connection):
            user = self._user(connection, userId)
            self._lockCase(connection, caseId)
            return self._visibleReads(connection, user, caseId)

        return self._read(run)

    def _visibleReads(self, connection, user, caseId):
        from sqlalchemy import select

        t = schema.tables()
        reads = self._readRows(connection, caseId)
        if connection.execute(select(t.cases.c.training).where(t.cases.c.case_id == caseId)).scalar():
            # Trial case: read by any number of trainees, each scored against the reference; a trainee sees
            # the others' reads (like the reference) only after submitting their own, so none can copy.
            unblinded = states.ROLE_MANAGER in user["roles"] or any(read["user_id"] == user["user_id"] for read in reads)
        else:
            readerOfCase = any(slot["user_id"] == user["user_id"] for slot in self._slots(connection, caseId, states.SLOT_READ))
            unblinded = len(reads) >= states.READS_PER_CASE or (states.ROLE_MANAGER in user["roles"] and not readerOfCase)
        return [
            {"read_id": read["id"], "user_id": read["user_id"], "mask_path": read["mask_path"], "sha256": read["sha256"],
             "version": read["version"], "submitted_at": read["submitted_at"], "duration_seconds": read["duration_seconds"]}
            for read in reads
            if unblinded or read["user_id"] == user["user_id"]
        ]

    def readMaskPath(self, userId: str, readId: int) -> Path:
        """The mask file of a read, for loading, if ``userId`` may see it.

        :raises BlindingError: another reader's read before both reads are in.
        :raises UnknownCaseError: no such read.
        """
        from sqlalchemy import select

        t = schema.tables()

        def run(connection):
            user = self._user(connection, userId)
            row = connection.execute(select(t.reads).where(t.reads.c.id == int(readId))).mappings().first()
            if row is None:
                raise UnknownCaseError(f"Read {readId} does not exist.")
            if not any(read["read_id"] == row["id"] for read in self._visibleReads(connection, user, row["case_id"])):
                raise BlindingError(f"User '{userId}' cannot see read {readId} of case {row['case_id']} until both reads are submitted.")
            return row["mask_path"]

        return self.absolutePath(self._read(run))

    # ------------------------------------------------------------------------------------------
    # Review, arbitration, exclusion

    def review(self, userId: str, caseId: str, decisions: Mapping[int, str] | None = None, defaultDecision: str | None = None,
               note: str | None = None, editedMask=None, expectedRevision: int | None = None) -> dict:
        """Finalise a case as its reviewer: a decision for each discordant region, then the final mask.

        In ``review_adjudicate`` every region shown for review needs ``keep``, ``drop`` or ``edited``; in
        ``review_confirm`` undecided regions follow ``defaultDecision`` (``drop`` when None: agreed voxels
        only). ``edited`` needs ``editedMask``, which then is the final mask. Otherwise the finaliser builds
        it from the agreed voxels and the regions kept.

        :return: ``{"case_id", "state", "revision", "final_mask_path", "sha256"}``.
        :raises PermissionDeniedError: no claimed review slot, or this client has no finaliser.
        :raises InputError: unknown region ids or decisions, regions left undecided, a mask off the grid.
        """
        return self._finalise(userId, caseId, states.SLOT_REVIEW, states.ACTION_REVIEW, states.ROLE_REVIEWER,
                              decisions, defaultDecision, note, editedMask, expectedRevision)

    def arbitrate(self, userId: str, caseId: str, decisions: Mapping[int, str] | None = None, defaultDecision: str | None = None,
                  note: str | None = None, editedMask=None, expectedRevision: int | None = None) -> dict:
        """The arbiter's final ruling on an escalated case (same decisions and result as :meth:`review`)."""
        return self._finalise(userId, caseId, states.SLOT_ARBITRATION, states.ACTION_ARBITRATE, states.ROLE_ARBITER,
                              decisions, defaultDecision, note, editedMask, expectedRevision)

    def _checkDecisions(self, case, decisions, defaultDecision, strict):
        decisions = {int(key): str(value) for key, value in (decisions or {}).items()}
        shown = {int(region["id"]) for region in (json.loads(case["comparison"]) if case["comparison"] else {}).get("discordant_regions", [])}
        unknown = sorted(set(decisions) - shown)
        if unknown:
            raise InputError(f"Case {case['case_id']} has no discordant regions {unknown} to decide on (regions: {sorted(shown) or 'none'}).")
        for value in [*decisions.values(), *([defaultDecision] if defaultDecision is not None else [])]:
            if value not in states.REGION_DECISIONS:
                raise InputError(f"A region decision must be one of {', '.join(states.REGION_DECISIONS)}, not '{value}'.")
        if defaultDecision == states.DECISION_EDITED:
            raise InputError("The default decision must be keep or drop; mark edited regions one by one.")
        undecided = sorted(shown - set(decisions))
        if strict and undecided:
            raise InputError(f"Case {case['case_id']} is discordant: decide regions {undecided} (keep, drop or edited) before finalising.")
        return decisions

    def _finalise(self, userId, caseId, kind, action, role, decisions, defaultDecision, note, editedMask, expectedRevision):
        def check(connection):
            self._user(connection, userId, (role,))
            case = self._lockCase(connection, caseId, expectedRevision)
            states.requireTransition(caseId, case["state"], action)
            self._heldSlot(connection, case, userId, kind)
            strict = case["state"] == states.REVIEW_ADJUDICATE or (case["state"] == states.ARBITRATION and not case["concordant"])
            return case, self._checkDecisions(case, decisions, defaultDecision, strict), self._readRows(connection, caseId)

        caseRow, checked, reads = self._read(check)
        edited = states.DECISION_EDITED in checked.values()
        if edited and editedMask is None:
            raise InputError(f"Regions of case {caseId} are marked edited: give the edited mask that becomes the final mask.")
        if not edited and editedMask is not None:
            raise InputError("An edited mask was given but no region is marked edited; mark the regions you edited.")
        case = self._findCase(caseRow["subject"], caseRow["session"])
        grid = self._referenceGrid(case)
        default = defaultDecision or states.DECISION_DROP
        if edited:
            final = self._maskOnGrid(editedMask, grid)
        else:
            if self.finaliser is None:
                raise PermissionDeniedError("This client cannot build the final mask (no finaliser); finalise from the review module or 'ais workflow'.")
            final = self.finaliser(self.absolutePath(reads[0]["mask_path"]), self.absolutePath(reads[1]["mask_path"]), checked, default)
        target = consensusMaskPath(self.datasetRoot, case)
        sidecar = {
            "Type": "consensus",
            "Case": caseId,
            "FinalisedBy": {"User": userId, "Role": role},
            "Created": schema.utcNow(),
            "Reads": [{"Reader": read["user_id"], "Path": read["mask_path"], "SHA256": read["sha256"]} for read in reads],
            "RegionDecisions": {str(key): value for key, value in sorted(checked.items())},
            "DefaultDecision": default,
            "Edited": edited,
            "Voxels": int(np.count_nonzero(final)),
        }
        writeMaskWithSidecar(target, final, grid, sidecar)
        written = [target, sidecarPathFor(target)]
        files = {self._relative(path): sha256File(path) for path in written}
        files.update({read["mask_path"]: read["sha256"] for read in reads})
        t = schema.tables()

        def run(connection):
            self._user(connection, userId, (role,))
            current = self._lockCase(connection, caseId, expectedRevision)
            states.requireTransition(caseId, current["state"], action)
            if current["revision"] != caseRow["revision"]:
                raise StaleRevisionError(f"Case {caseId} changed while its final mask was being built; reload it and try again.")
            slot = self._heldSlot(connection, current, userId, kind)
            now = schema.utcNow()
            relativeTarget = self._relative(target)
            revision = self._setState(connection, current, states.FINAL, final_mask_path=relativeTarget, final_sha256=files[relativeTarget])
            connection.execute(t.slots.update().where(t.slots.c.id == slot["id"]).values(status=states.SLOT_DONE, done_at=now))
            connection.execute(t.decisions.insert().values(
                case_id=caseId, user_id=userId, action=action, region_decisions=_dumps({str(k): v for k, v in checked.items()}),
                default_decision=default, note=note, mask_path=relativeTarget, sha256=files[relativeTarget], created_at=now))
            self._event(connection, userId, action, caseId, current["state"], states.FINAL, revision, note=note, files=files)
            return {"case_id": caseId, "state": states.FINAL, "revision": revision, "final_mask_path": relativeTarget, "sha256": files[relativeTarget]}

        try:
            return self._write(run)
        except BaseException:
            self._removeWritten(written)
            raise

    def escalate(self, userId: str, caseId: str, reason: str, expectedRevision: int | None = None) -> dict:
        """Send a case under review to arbitration, with the reviewer's reason.

        :return: ``{"case_id", "state", "revision"}``.
        :raises PermissionDeniedError: no claimed review slot, or no reason.
        """
        if not (reason or "").strip():
            raise InputError("Escalating a case needs a reason for the arbiter.")
        t = schema.tables()

        def run(connection):
            self._user(connection, userId, (states.ROLE_REVIEWER,))
            case = self._lockCase(connection, caseId, expectedRevision)
            states.requireTransition(caseId, case["state"], states.ACTION_ESCALATE)
            slot = self._heldSlot(connection, case, userId, states.SLOT_REVIEW)
            now = schema.utcNow()
            revision = self._setState(connection, case, states.ARBITRATION)
            connection.execute(t.slots.update().where(t.slots.c.id == slot["id"]).values(status=states.SLOT_DONE, done_at=now))
            connection.execute(t.slots.insert().values(case_id=caseId, kind=states.SLOT_ARBITRATION, slot_index=1, status=states.SLOT_OPEN))
            connection.execute(t.decisions.insert().values(case_id=caseId, user_id=userId, action=states.ACTION_ESCALATE,
                                                           region_decisions="{}", note=reason, created_at=now))
            self._event(connection, userId, states.ACTION_ESCALATE, caseId, case["state"], states.ARBITRATION, revision, note=reason)
            return {"case_id": caseId, "state": states.ARBITRATION, "revision": revision}

        return self._write(run)

    def exclude(self, userId: str, caseId: str, reason: str, note: str = "", expectedRevision: int | None = None) -> dict:
        """Take a case out of the workflow with a structured reason (from any state but final).

        Allowed to a manager, or to whoever holds an open assignment on the case (a reader screening the
        images, the reviewer, the arbiter). Unfinished claims on the case are released.

        :param reason: one of :data:`states.EXCLUSION_REASONS` (``other`` needs a note).
        :return: ``{"case_id", "state", "revision"}``.
        :raises InputError: unknown reason, or ``other`` without a note.
        :raises PermissionDeniedError: neither a manager nor holding an assignment on the case.
        """
        if reason not in states.EXCLUSION_REASONS:
            raise InputError(f"Exclusion reason '{reason}' is not known; use one of {', '.join(states.EXCLUSION_REASONS)}.")
        if reason == "other" and not (note or "").strip():
            raise InputError("Excluding a case for an 'other' reason needs a note saying what it is.")

        def run(connection):
            user = self._user(connection, userId, states.ACTION_ROLES[states.ACTION_EXCLUDE])
            case = self._lockCase(connection, caseId, expectedRevision)
            states.requireTransition(caseId, case["state"], states.ACTION_EXCLUDE)
            slots = self._slots(connection, caseId)
            holds = any(slot["user_id"] == userId and slot["status"] == states.SLOT_CLAIMED for slot in slots)
            if states.ROLE_MANAGER not in user["roles"] and not holds:
                raise PermissionDeniedError(f"User '{userId}' may exclude case {caseId} only while assigned to it (or as a manager).")
            released = [slot for slot in slots if slot["status"] == states.SLOT_CLAIMED]
            for slot in released:
                self._freeSlot(connection, slot)
            revision = self._setState(connection, case, states.EXCLUDED, previous_state=case["state"], exclusion_reason=reason, exclusion_note=note or None)
            self._event(connection, userId, states.ACTION_EXCLUDE, caseId, case["state"], states.EXCLUDED, revision,
                        note=_dumps({"reason": reason, "note": note, "released": [f"{s['kind']} {s['slot_index']} ({s['user_id']})" for s in released]}))
            return {"case_id": caseId, "state": states.EXCLUDED, "revision": revision}

        return self._write(run)

    def reopen(self, userId: str, caseId: str, reason: str, expectedRevision: int | None = None) -> dict:
        """Put an excluded case back where it was excluded from (arbiter or manager, with a reason).

        :return: ``{"case_id", "state", "revision"}``.
        """
        if not (reason or "").strip():
            raise InputError("Reopening a case needs a reason for the audit trail.")

        def run(connection):
            self._user(connection, userId, states.ACTION_ROLES[states.ACTION_REOPEN])
            case = self._lockCase(connection, caseId, expectedRevision)
            states.requireTransition(caseId, case["state"], states.ACTION_REOPEN, case["previous_state"])
            toState = case["previous_state"]
            revision = self._setState(connection, case, toState, previous_state=None, exclusion_reason=None, exclusion_note=None)
            self._event(connection, userId, states.ACTION_REOPEN, caseId, states.EXCLUDED, toState, revision,
                        note=_dumps({"reason": reason, "was_excluded_for": case["exclusion_reason"], "note": case["exclusion_note"]}))
            return {"case_id": caseId, "state": toState, "revision": revision}

        return self._write(run)

    # ------------------------------------------------------------------------------------------
    # Training

    @staticmethod
    def _trainingBar(connection) -> dict:
        from sqlalchemy import select

        t = schema.tables()
        stored = connection.execute(select(t.settings.c.value).where(t.settings.c.key == "training")).scalar()
        return {**DEFAULT_TRAINING, **(json.loads(stored) if stored else {})}

    def _inTraining(self, connection, user) -> bool:
        """A reader who is not qualified while the bar requires training: trial cases only."""
        return states.ROLE_READER in user["roles"] and not user["reader_qualified"] and bool(self._trainingBar(connection)["required"])

    @staticmethod
    def _traineeIds(connection) -> list[str]:
        """Active readers not yet qualified."""
        from sqlalchemy import select

        t = schema.tables()
        query = (select(t.users.c.user_id).join(t.userRoles, t.userRoles.c.user_id == t.users.c.user_id)
                 .where(t.userRoles.c.role == states.ROLE_READER, t.users.c.reader_qualified.is_(False), t.users.c.active.is_(True))
                 .order_by(t.users.c.user_id))
        return list(connection.execute(query).scalars())

    @staticmethod
    def _freeSlot(connection, slot) -> None:
        """Give a claimed slot back: a real slot reopens, a trial slot (made for its trainee) is removed."""
        t = schema.tables()
        if slot["kind"] == states.SLOT_TRIAL:
            connection.execute(t.slots.delete().where(t.slots.c.id == slot["id"], t.slots.c.status == states.SLOT_CLAIMED))
        else:
            connection.execute(t.slots.update().where(t.slots.c.id == slot["id"]).values(user_id=None, status=states.SLOT_OPEN, claimed_at=None))

    def _claimTrial(self, connection, userId) -> dict | None:
        """Claim (or resume) a trainee's next trial case inside the caller's transaction."""
        from sqlalchemy import func, select

        t = schema.tables()
        # One trainee's clients claim one after another (NO KEY UPDATE: slot inserts of others still pass).
        connection.execute(select(t.users.c.user_id).where(t.users.c.user_id == userId).with_for_update(key_share=True)).first()
        held = connection.execute(
            select(t.slots.c.case_id, t.slots.c.slot_index, t.cases.c.revision, t.cases.c.state)
            .join(t.cases, t.cases.c.case_id == t.slots.c.case_id)
            .where(t.slots.c.user_id == userId, t.slots.c.kind == states.SLOT_TRIAL, t.slots.c.status == states.SLOT_CLAIMED,
                   t.cases.c.state.in_(states.SLOT_STATES[states.SLOT_TRIAL]))
            .order_by(t.cases.c.id)
        ).first()
        if held is not None:
            return {"case_id": held.case_id, "kind": states.SLOT_TRIAL, "slot_index": held.slot_index, "revision": held.revision,
                    "state": held.state, "resumed": True, "training": True}
        mine = connection.execute(
            select(t.cases.c.case_id, t.cases.c.lesion_size_class, t.cases.c.lesion_location)
            .join(t.slots, t.slots.c.case_id == t.cases.c.case_id)
            .where(t.slots.c.user_id == userId, t.slots.c.kind == states.SLOT_TRIAL)
        ).all()
        taken = (select(func.count()).select_from(t.slots)
                 .where(t.slots.c.case_id == t.cases.c.case_id, t.slots.c.kind == states.SLOT_TRIAL).scalar_subquery())
        query = (select(t.cases.c.id, t.cases.c.case_id, t.cases.c.lesion_size_class, t.cases.c.lesion_location, taken.label("taken"))
                 .where(t.cases.c.training.is_(True), t.cases.c.state.in_(states.SLOT_STATES[states.SLOT_TRIAL]),
                        t.cases.c.reference_mask_path.is_not(None)))
        readIds = {row.case_id for row in mine}
        candidates = [dict(row._mapping) for row in connection.execute(query) if row.case_id not in readIds]
        ranked = people.rankTrialCases(candidates, {row.lesion_size_class for row in mine}, {row.lesion_location for row in mine})
        for candidate in ranked:
            case = self._lockCase(connection, candidate["case_id"])
            if case["state"] not in states.SLOT_STATES[states.SLOT_TRIAL]:
                continue  # excluded by a manager meanwhile
            slotIndex = (connection.execute(select(func.max(t.slots.c.slot_index))
                                            .where(t.slots.c.case_id == case["case_id"], t.slots.c.kind == states.SLOT_TRIAL)).scalar() or 0) + 1
            connection.execute(t.slots.insert().values(case_id=case["case_id"], kind=states.SLOT_TRIAL, slot_index=slotIndex, user_id=userId,
                                                       status=states.SLOT_CLAIMED, claimed_at=schema.utcNow()))
            self._event(connection, userId, states.ACTION_CLAIM, case["case_id"], case["state"], case["state"], case["revision"],
                        note=f"{states.SLOT_TRIAL} slot {slotIndex}")
            return {"case_id": case["case_id"], "kind": states.SLOT_TRIAL, "slot_index": slotIndex, "revision": case["revision"],
                    "state": case["state"], "resumed": False, "training": True}
        return None

    def _checkReference(self, case) -> Path:
        """The reference mask of a trial case, unchanged since registration.

        :raises WorkflowError: missing or changed (a trial read could not be scored).
        """
        path = self.absolutePath(case["reference_mask_path"])
        if not path.is_file() or sha256File(path) != case["reference_sha256"]:
            raise WorkflowError(f"The reference mask of trial case {case['case_id']} is missing or changed since registration; ask a manager to fix it before submitting.")
        return path

    @staticmethod
    def _scoreValues(summary: Mapping) -> dict:
        """The training-score columns from a comparator summary (reference as read A)."""
        return {
            "dice": float(summary["dice"]),
            "hd95_mm": None if summary.get("hd95_mm") is None else float(summary["hd95_mm"]),
            "lesion_f1": None if summary.get("lesion_f1") is None else float(summary["lesion_f1"]),
            "missed_lesions": int(summary.get("missed_lesions") or 0),
        }

    def _recordScore(self, connection, actingUser, case, read, summary) -> dict:
        """Insert one training score with its audit event, then qualify the trainee if the bar is met.

        :return: the score and ``qualified`` (True when this score completed the bar).
        """
        t = schema.tables()
        values = self._scoreValues(summary)
        connection.execute(t.trainingScores.insert().values(
            user_id=read["user_id"], case_id=case["case_id"], read_id=read["id"], duration_seconds=read["duration_seconds"],
            summary=_dumps(dict(summary)), created_at=schema.utcNow(), **values))
        score = {"case_id": case["case_id"], "read_id": read["id"], "user": read["user_id"], "duration_seconds": read["duration_seconds"],
                 "lesion_size_class": case["lesion_size_class"], "lesion_location": case["lesion_location"], **values}
        self._event(connection, actingUser, states.ACTION_TRAINING_SCORE, case["case_id"], case["state"], case["state"], case["revision"],
                    note=_dumps(score), files={case["reference_mask_path"]: case["reference_sha256"], read["mask_path"]: read["sha256"]})
        return {**score, "qualified": self._qualifyIfBarMet(connection, actingUser, read["user_id"])}

    @staticmethod
    def _scoreRows(connection, traineeId) -> list[dict]:
        from sqlalchemy import select

        t = schema.tables()
        query = (select(t.trainingScores, t.cases.c.lesion_size_class, t.cases.c.lesion_location, t.reads.c.submitted_at)
                 .join(t.cases, t.cases.c.case_id == t.trainingScores.c.case_id)
                 .join(t.reads, t.reads.c.id == t.trainingScores.c.read_id)
                 .where(t.trainingScores.c.user_id == traineeId).order_by(t.trainingScores.c.id))
        return [dict(row) for row in connection.execute(query).mappings()]

    def _qualifyIfBarMet(self, connection, actingUser, traineeId) -> bool:
        """Qualify a reader in training whose scores meet the bar (audit event); True when done now."""
        user = self._user(connection, traineeId)
        if not self._inTraining(connection, user):
            return False
        bar = self._trainingBar(connection)
        evaluation = people.evaluateTraining(self._scoreRows(connection, traineeId), bar)
        if not evaluation["met"]:
            return False
        note = (f"training bar met: {evaluation['cases']} trial cases, mean Dice {evaluation['mean_dice']:.3f}, "
                f"size classes {', '.join(evaluation['size_classes'])}, locations {', '.join(evaluation['locations'])}")
        self._setQualified(connection, actingUser, traineeId, note, None, {"how": "training_bar", "bar": bar, "evaluation": evaluation})
        return True

    def _setQualified(self, connection, actingUser, traineeId, note, overrideReason, details) -> None:
        t = schema.tables()
        now = schema.utcNow()
        connection.execute(t.users.update().where(t.users.c.user_id == traineeId).values(
            reader_qualified=True, qualified_note=note, qualified_at=now,
            qualified_by=actingUser if overrideReason else None, qualified_override_reason=overrideReason))
        released = [slot for slot in self._openTrialSlots(connection, traineeId)]
        for slot in released:
            self._freeSlot(connection, slot)
        self._event(connection, actingUser, states.ACTION_QUALIFY,
                    note=_dumps({"user": traineeId, "override_reason": overrideReason, "released_trial_cases": [slot["case_id"] for slot in released], **details}))

    @staticmethod
    def _openTrialSlots(connection, traineeId) -> list[dict]:
        from sqlalchemy import select

        t = schema.tables()
        return [dict(row) for row in connection.execute(select(t.slots).where(
            t.slots.c.user_id == traineeId, t.slots.c.kind == states.SLOT_TRIAL, t.slots.c.status == states.SLOT_CLAIMED)).mappings()]

    def settleTrainingScores(self, userId: str, traineeId: str | None = None) -> list[int]:
        """Score trial reads submitted from a client without a comparator (does nothing without one).

        Safe to run from several clients at once: one of them scores each read.

        :param traineeId: only this trainee's reads.
        :return: the read IDs scored by this call.
        :raises UnknownUserError: unknown user.
        """
        if self.comparator is None:
            return []
        from sqlalchemy import select

        t = schema.tables()

        def pending(connection):
            self._user(connection, userId)
            query = (select(t.reads, t.cases.c.reference_mask_path, t.cases.c.reference_sha256)
                     .join(t.cases, t.cases.c.case_id == t.reads.c.case_id)
                     .where(t.cases.c.training.is_(True), t.reads.c.id.not_in(select(t.trainingScores.c.read_id)))
                     .order_by(t.reads.c.id))
            if traineeId is not None:
                query = query.where(t.reads.c.user_id == traineeId)
            return [dict(row) for row in connection.execute(query).mappings()]

        scored = []
        for read in self._read(pending):
            reference = self._checkReference({"case_id": read["case_id"], "reference_mask_path": read["reference_mask_path"],
                                              "reference_sha256": read["reference_sha256"]})
            _, summary = self.comparator(reference, self.absolutePath(read["mask_path"]))

            def run(connection, read=read, summary=summary):
                case = self._lockCase(connection, read["case_id"])
                if connection.execute(select(t.trainingScores.c.id).where(t.trainingScores.c.read_id == read["id"])).first():
                    return False  # another client scored it first
                self._recordScore(connection, userId, case, read, summary)
                return True

            if self._write(run):
                scored.append(read["id"])
        return scored

    def trainingReport(self, userId: str, traineeId: str) -> dict:
        """A trainee's training: the bar, every scored trial read, the evaluation and the qualification.

        Managers see anyone's report, a reader their own. Pending trial reads are scored first when this
        client has a comparator.

        :return: ``user``, ``qualified``, ``qualified_at``, ``qualified_by``, ``qualified_note``,
            ``override_reason``, ``training_required``, ``bar``, ``scores`` (one per trial read: case, size
            class, location, ``dice``, ``hd95_mm``, ``lesion_f1``, ``missed_lesions``, ``minutes``,
            ``submitted_at``), ``evaluation`` (see :func:`people.evaluateTraining`), ``unscored_reads``,
            ``trial_cases_left`` (trial cases open to them that they have not read) and ``unlabelled_trial_cases``.
        :raises UnknownUserError: either user unknown.
        :raises PermissionDeniedError: neither a manager nor the trainee.
        """
        from sqlalchemy import func, select

        def check(connection):
            user = self._user(connection, userId)
            if userId != traineeId and states.ROLE_MANAGER not in user["roles"]:
                raise PermissionDeniedError(f"User '{userId}' may see only their own training report; a manager sees everyone's.")
            self._user(connection, traineeId)

        self._read(check)
        self.settleTrainingScores(userId, traineeId)
        t = schema.tables()

        def run(connection):
            trainee = self._user(connection, traineeId)
            bar = self._trainingBar(connection)
            rows = self._scoreRows(connection, traineeId)
            reads = connection.execute(select(t.slots.c.case_id).where(t.slots.c.user_id == traineeId, t.slots.c.kind == states.SLOT_TRIAL)).scalars()
            readCases = set(reads)
            openTrial = connection.execute(select(t.cases.c.case_id, t.cases.c.lesion_size_class).where(
                t.cases.c.training.is_(True), t.cases.c.state.in_(states.SLOT_STATES[states.SLOT_TRIAL]))).all()
            submitted = connection.execute(select(func.count()).select_from(t.reads).join(t.cases, t.cases.c.case_id == t.reads.c.case_id)
                                           .where(t.reads.c.user_id == traineeId, t.cases.c.training.is_(True))).scalar()
            scores = [{
                "case_id": row["case_id"], "lesion_size_class": row["lesion_size_class"], "lesion_location": row["lesion_location"],
                "dice": row["dice"], "hd95_mm": row["hd95_mm"], "lesion_f1": row["lesion_f1"], "missed_lesions": row["missed_lesions"],
                "minutes": None if row["duration_seconds"] is None else row["duration_seconds"] / 60.0, "submitted_at": row["submitted_at"],
            } for row in rows]
            return {
                "user": traineeId,
                "qualified": bool(trainee["reader_qualified"]),
                "qualified_at": trainee["qualified_at"],
                "qualified_by": trainee["qualified_by"],
                "qualified_note": trainee["qualified_note"],
                "override_reason": trainee["qualified_override_reason"],
                "training_required": bool(bar["required"]),
                "in_training": self._inTraining(connection, trainee),
                "bar": bar,
                "scores": scores,
                "evaluation": people.evaluateTraining(rows, bar),
                "unscored_reads": int(submitted) - len(rows),
                "trial_cases_left": sum(row.case_id not in readCases for row in openTrial),
                "unlabelled_trial_cases": sorted(row.case_id for row in openTrial if row.lesion_size_class is None),
            }

        return self._read(run)

    def qualifyReader(self, userId: str, traineeId: str, reason: str) -> dict:
        """Qualify a reader for real cases by a manager's decision, with a recorded reason (an override of the bar).

        Any trial case the reader holds is released.

        :return: ``{"user", "qualified", "shortfalls"}``: the shortfalls the override covered.
        :raises PermissionDeniedError: not a manager, no reason, or a manager waiving their own training.
        :raises WorkflowError: the person is not a reader or is qualified already.
        """
        reason = (reason or "").strip()
        if not reason:
            raise PermissionDeniedError(f"Qualifying reader '{traineeId}' without meeting the training bar needs a reason for the audit trail.")

        def run(connection):
            self._user(connection, userId, (states.ROLE_MANAGER,))
            trainee = self._user(connection, traineeId)
            if states.ROLE_READER not in trainee["roles"]:
                raise WorkflowError(f"User '{traineeId}' is not a reader; grant the reader role first.")
            if trainee["reader_qualified"]:
                raise WorkflowError(f"Reader '{traineeId}' is already qualified.")
            if traineeId == userId:
                raise PermissionDeniedError("A manager cannot waive their own training; another manager must.")
            evaluation = people.evaluateTraining(self._scoreRows(connection, traineeId), self._trainingBar(connection))
            note = "qualified by a manager's override" + (f" ({'; '.join(evaluation['shortfalls'])})" if evaluation["shortfalls"] else "")
            self._setQualified(connection, userId, traineeId, note, reason, {"how": "override", "evaluation": evaluation})
            return {"user": traineeId, "qualified": True, "shortfalls": evaluation["shortfalls"]}

        return self._write(run)

    def _maySeeReference(self, connection, user, case) -> bool:
        """Managers always; anyone else only after submitting their own trial read of the case."""
        from sqlalchemy import select

        if states.ROLE_MANAGER in user["roles"]:
            return True
        t = schema.tables()
        return connection.execute(select(t.reads.c.id).where(t.reads.c.case_id == case["case_id"], t.reads.c.user_id == user["user_id"])).first() is not None

    def referenceMaskPath(self, userId: str, caseId: str) -> Path:
        """The reference mask of a trial case, for loading: to a manager, or to a trainee after their submission.

        :raises BlindingError: the user has not submitted their read of the case yet.
        :raises WorkflowError: not a trial case.
        :raises UnknownCaseError: not registered.
        """

        def run(connection):
            user = self._user(connection, userId)
            case = self._lockCase(connection, caseId)
            if not case["training"] or not case["reference_mask_path"]:
                raise WorkflowError(f"Case {caseId} is not a trial case and has no reference mask.")
            if not self._maySeeReference(connection, user, case):
                raise BlindingError(f"User '{userId}' cannot see the reference mask of trial case {caseId} before submitting their own read of it.")
            return case["reference_mask_path"]

        return self.absolutePath(self._read(run))

    # ------------------------------------------------------------------------------------------
    # Audit

    def events(self, userId: str, caseId: str | None = None) -> list[dict]:
        """The audit trail, oldest first; the files of other readers' submissions are hidden while blinded.

        Trial cases: the reference mask (register and score events) is hidden from a trainee until they
        submitted their read; training scores and qualifications are shown to managers and the reader concerned.

        :raises UnknownUserError: unknown user.
        """
        from sqlalchemy import select

        t = schema.tables()

        def run(connection):
            user = self._user(connection, userId)
            query = select(t.events).order_by(t.events.c.id)
            if caseId is not None:
                query = query.where(t.events.c.case_id == caseId)
            rows = [dict(row) for row in connection.execute(query).mappings()]
            visible: dict[str, set] = {}
            references: dict[str, bool] = {}
            trialCases = dict(connection.execute(select(t.cases.c.case_id, t.cases.c.reference_mask_path).where(t.cases.c.training.is_(True))).all())
            manager = states.ROLE_MANAGER in user["roles"]
            result = []
            for row in rows:
                row["files"] = json.loads(row["files"])
                if row["action"] in (states.ACTION_TRAINING_SCORE, states.ACTION_QUALIFY) and not manager:
                    if json.loads(row["note"] or "{}").get("user") != userId:
                        row["files"], row["note"] = {}, "another reader's training: managers only"
                        result.append(row)
                        continue
                if row["case_id"] in trialCases and row["action"] in (states.ACTION_REGISTER, states.ACTION_TRAINING_SCORE):
                    if row["case_id"] not in references:
                        references[row["case_id"]] = self._maySeeReference(connection, user, {"case_id": row["case_id"]})
                    if not references[row["case_id"]]:
                        # The reference mask stays hidden until the trainee submitted; the source images do not.
                        row["files"] = {path: digest for path, digest in row["files"].items() if path != trialCases[row["case_id"]]}
                if row["action"] == states.ACTION_SUBMIT and row["user_id"] != userId:
                    if row["case_id"] not in visible:
                        visible[row["case_id"]] = {read["mask_path"] for read in self._visibleReads(connection, user, row["case_id"])}
                    if not set(row["files"]) & visible[row["case_id"]]:
                        row["files"] = {}
                        row["note"] = ("hidden until you submit your own read of this trial case" if row["case_id"] in trialCases
                                       else "blinded until both reads are in")
                result.append(row)
            return result

        return self._read(run)

    def recordedFiles(self) -> dict[str, set]:
        """Every file path the store recorded, with every SHA-256 recorded for it."""
        from sqlalchemy import select

        t = schema.tables()

        def run(connection):
            recorded: dict[str, set] = {}
            for files in connection.execute(select(t.events.c.files)).scalars():
                for path, digest in json.loads(files).items():
                    recorded.setdefault(path, set()).add(digest)
            for row in connection.execute(select(t.reads)).mappings():
                recorded.setdefault(row["mask_path"], set()).add(row["sha256"])
                recorded.setdefault(row["sidecar_path"], set()).add(row["sidecar_sha256"])
            for row in connection.execute(select(t.cases.c.final_mask_path, t.cases.c.final_sha256, t.cases.c.reference_mask_path, t.cases.c.reference_sha256)):
                for path, digest in ((row[0], row[1]), (row[2], row[3])):
                    if path:
                        recorded.setdefault(path, set()).add(digest)
            return recorded

        return self._read(run)

    def verify(self, progress=None) -> list[dict]:
        """Re-hash every recorded file (source images, reads, sidecars, final and reference masks).

        :param progress: optional ``(fraction, message)`` callable.
        :return: one row per file: ``path``, ``status`` (``ok``, ``missing``, ``changed``), ``expected``, ``actual``.
        """
        rows = []
        recorded = sorted(self.recordedFiles().items())
        for index, (path, digests) in enumerate(recorded):
            if progress:
                progress(index / max(len(recorded), 1), f"Hashing {path}")
            absolute = self.absolutePath(path)
            if not absolute.is_file():
                rows.append({"path": path, "status": "missing", "expected": sorted(digests), "actual": None})
                continue
            actual = sha256File(absolute)
            rows.append({"path": path, "status": "ok" if actual in digests and len(digests) == 1 else "changed",
                         "expected": sorted(digests), "actual": actual})
        if progress:
            progress(1.0, "Verified")
        return rows

    def snapshot(self) -> dict[str, list[dict]]:
        """Every row of every table (JSON-ready), by table name in dependency order."""
        from sqlalchemy import select

        t = schema.tables()
        byName = {table.name: table for table in t.metadata.sorted_tables}

        def run(connection):
            result = {}
            for name in schema.TABLE_NAMES:
                table = byName[name]
                result[name] = [dict(row) for row in connection.execute(select(table).order_by(*table.primary_key.columns)).mappings()]
            return result

        return self._read(run)

    def export(self, outDir) -> list[Path]:
        """Write the whole state as ``workflow.json`` and one CSV per table into ``outDir`` (atomic writes).

        :return: the files written.
        """
        data = self.snapshot()
        outDir = Path(outDir)
        document = {"schema_version": schema.SCHEMA_VERSION, "exported_at": schema.utcNow(), "backend": self.backend, "tables": data}
        written = [outDir / "workflow.json"]
        writeTextAtomic(written[0], json.dumps(document, indent=2, default=str) + "\n")
        for name, rows in data.items():
            buffer = io.StringIO()
            columns = [column.name for column in next(table for table in schema.tables().metadata.sorted_tables if table.name == name).columns]
            writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
            path = outDir / f"{name}.csv"
            writeTextAtomic(path, buffer.getvalue())
            written.append(path)
        return written


def _secondsBetween(start: str | None, end: str) -> float | None:
    import datetime

    if not start:
        return None
    return (datetime.datetime.fromisoformat(end) - datetime.datetime.fromisoformat(start)).total_seconds()


def openStore(database=None, datasetRoot=None, comparator=None, finaliser=None, create: bool = False) -> WorkflowStore:
    """Open the workflow store chosen by :func:`resolveDatabaseUrl`.

    :param create: make a new SQLite database when the file does not exist (``ais workflow init``);
        otherwise a mistyped path is an error instead of a new, empty workflow.
    :raises InputError: no database can be chosen, or the SQLite file does not exist and ``create`` is False.
    """
    url = resolveDatabaseUrl(database, datasetRoot)
    sqlitePath = Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None
    if sqlitePath is not None and not create and not sqlitePath.is_file():
        raise InputError(f"There is no workflow database at '{sqlitePath}'; create it with 'ais workflow init' or check --db.")
    return WorkflowStore(url, comparator=comparator, finaliser=finaliser, datasetRoot=datasetRoot)

