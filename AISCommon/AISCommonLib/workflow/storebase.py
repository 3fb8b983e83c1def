"""The plumbing every part of the workflow store shares: transactions with retries, locked case rows,
users and roles, slots, recorded paths, audit events, and the agreement engine on the store's own rule.

- **Atomic claims**: every change to a case, its slots and its reads happens in one transaction that first
  locks the case row (``SELECT ... FOR UPDATE`` on PostgreSQL; the database write lock on SQLite) and
  re-checks everything; a slot is taken with ``UPDATE ... WHERE status = 'open'`` and its row count.
- **Optimistic concurrency**: ``cases.revision`` grows with every state change; an action given the
  revision its client saw is refused with :class:`StaleRevisionError` when it differs.
- **Files**: paths are stored relative to the dataset root with their SHA-256; a refused action removes any
  file it wrote before refusing.
"""

import contextlib
import json
import logging
import time
from pathlib import Path

import numpy as np

from ..core.agreement import AgreementParameters, AgreementResult, compareFiles
from ..core.cases import Case, discoverCases
from ..core.errors import InputError
from ..core.image import Volume, loadVolume, requireSameGrid
from . import chain, finalfiles, identity, people, pgsecurity, queries, schema, states
from .database import (
    LOCK_RETRIES,
    LOCK_WAIT_S,
    READ_ONLY_OPTION,
    TRANSIENT_RETRIES,
    createEngine,
    dumps,
    isLockWait,
    isTransient,
    lockHolders,
)
from .errors import DatabaseError, PermissionDeniedError, StaleRevisionError, UnknownCaseError, UnknownUserError, WorkflowError
from .writequeue import WriteQueue, WriteQueueTimeout

logger = logging.getLogger(__name__)


class StoreBase:
    """Connection, transactions and the row-level helpers of :class:`~AISCommonLib.workflow.store.WorkflowStore`.

    :param url: SQLAlchemy URL (``sqlite:///...`` or ``postgresql+psycopg://...``); see
        :func:`~AISCommonLib.workflow.database.resolveDatabaseUrl`.
    :param datasetRoot: the BIDS root as this machine sees it; default: the root recorded at initialisation.
    :raises InputError: an unusable URL.
    :raises SchemaVersionError: a database of a newer release.
    """

    def __init__(self, url: str, datasetRoot=None):
        self.url = url
        self._engine = createEngine(url)
        self._readEngine = self._engine.execution_options(**{READ_ONLY_OPTION: True})
        # SQLite: our writers queue on an OS lock beside the database instead of SQLite's sleeping retries.
        self._writeQueue = WriteQueue(self._engine.url.database) if self._engine.dialect.name == "sqlite" else None
        self._datasetRoot = Path(datasetRoot).resolve() if datasetRoot is not None else None
        self._write(schema.upgradeSchema)

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
        return self._transaction(self._engine, function, args)

    def _transaction(self, engine, function, args):
        from sqlalchemy.exc import DBAPIError

        lockWaits = 0
        queue = self._writeQueue if engine is self._engine else None
        for attempt in range(TRANSIENT_RETRIES):
            try:
                with queue.turn(LOCK_WAIT_S * LOCK_RETRIES) if queue is not None else contextlib.nullcontext():
                    with engine.begin() as connection:
                        connection.info.pop("aisChainHead", None)
                        result = function(connection, *args)
                        head = connection.info.pop("aisChainHead", None)
                if head is not None:
                    self._anchor(head)
                return result
            except WriteQueueTimeout:
                holders = lockHolders(self._engine)
                raise DatabaseError(f"The workflow database stayed locked for {LOCK_WAIT_S * LOCK_RETRIES:.0f} s"
                                    f"{' by ' + '; '.join(holders) if holders else ' by another program'}; nothing was changed. "
                                    "Try again when it is free.") from None
            except DBAPIError as error:
                if isTransient(error) and attempt + 1 < TRANSIENT_RETRIES:
                    time.sleep(0.01 * (attempt + 1))
                    continue
                refused = pgsecurity.refusal(error)
                if refused is not None:
                    raise refused from None
                if isLockWait(error):
                    lockWaits += 1
                    if lockWaits < LOCK_RETRIES:
                        continue
                    holders = lockHolders(self._engine)
                    raise DatabaseError(f"The workflow database stayed locked for {lockWaits * LOCK_WAIT_S:.0f} s"
                                        f"{' by ' + '; '.join(holders) if holders else ' by another program'}; nothing was changed. "
                                        "Try again when it is free.") from None
                message = str(getattr(error, "orig", error)).strip().splitlines()[0] if str(getattr(error, "orig", error)).strip() else type(error).__name__
                raise DatabaseError(f"The workflow database refused the operation ({message}); nothing was changed.") from None

    def _read(self, function, *args):
        """Run ``function(connection, *args)`` in one transaction that writes nothing (no anchor to keep).

        On SQLite it reads a snapshot without taking the write lock, so reads never queue behind writers.
        """
        return self._transaction(self._readEngine, function, args)

    def _anchor(self, head: tuple[int, str]) -> None:
        """Keep the new chain head outside the database; a failure to write it is logged, never hides the action."""
        try:
            chain.appendAnchor(self.datasetRoot, head)
        except (OSError, WorkflowError) as error:
            logger.warning("The audit trail's anchor file could not be written (%s); 'ais workflow verify' will say so.", error)

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
        root = self.datasetRoot
        if getattr(self, "_resolvedRoot", (None, None))[0] != root:  # resolved once, not once per file (registration: six per case)
            self._resolvedRoot = (root, root.resolve())
        try:
            return Path(path).resolve().relative_to(self._resolvedRoot[1]).as_posix()
        except ValueError:
            return str(Path(path).resolve())

    def absolutePath(self, recorded: str) -> Path:
        """A recorded (dataset-relative) path on this machine."""
        path = Path(recorded)
        return path if path.is_absolute() else self.datasetRoot / path

    @staticmethod
    def _event(connection, userId, action, caseId=None, fromState=None, toState=None, revision=None, note=None, files=None,
               cases=(), users=(), settings: bool = False):
        """Append one event to the hash chain, with the rows of every record it concerns (see :mod:`chain`).

        :param cases: further cases the action changed (``caseId`` is always included).
        :param users: people whose records the action changed.
        :param settings: the action changed the workflow settings.
        """
        if connection.dialect.name == "postgresql":
            # One chain: event inserts take turns (SQLite's write lock already serialises whole transactions).
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({chain.CHAIN_LOCK_KEY})")
        (lastId, lastHash), payload = chain.headAndSnapshot(connection, caseIds=[*([caseId] if caseId else []), *cases], userIds=list(users),
                                                            settings=settings)
        event = {"id": lastId + 1, "at": schema.utcNow(), "user_id": userId, "case_id": caseId, "action": action, "from_state": fromState,
                 "to_state": toState, "revision": revision, "note": note, "files": dumps(files or {}), "payload": chain.canonical(payload),
                 # Where the action came from is hashed too (the database's trigger re-sets db_login; a forged one no longer verifies).
                 "os_user": identity.clientAccount(), "host": identity.clientHost(),
                 "db_login": pgsecurity.sessionLogin(connection) if connection.dialect.name == "postgresql" else None}
        event["prev_hash"] = lastHash
        event["hash"] = chain.eventHash(lastHash, event)
        connection.execute(queries.insertEvent(), event)
        connection.info["aisChainHead"] = (event["id"], event["hash"])

    @staticmethod
    def _user(connection, userId, roles=None, acting: bool = True, withTrainingBar: bool = False):
        """The active user row with a ``roles`` set; with ``roles``, require one of them.

        :param acting: ``userId`` is the one acting (not a person acted on): in team mode the database session must
            be that person's login (see :func:`pgsecurity.requireActor`).
        :param withTrainingBar: return ``(user, the training bar as :meth:`_trainingBar` gives it)``.
        :raises UnknownUserError: not registered or deactivated.
        :raises PermissionDeniedError: none of ``roles``, or logged in to the database as someone else.
        """
        if acting and connection.dialect.name == "postgresql":
            pgsecurity.requireActor(connection, str(userId))
        rows = connection.execute(queries.userWithRoles(), {"user_id": str(userId)}).mappings().all()
        if not rows or not rows[0]["active"]:
            raise UnknownUserError(f"User '{userId}' is not registered in the workflow database.")
        held = {row["held_role"] for row in rows if row["held_role"] is not None}
        user = {name: value for name, value in rows[0].items() if name not in ("held_role", "training_setting")}
        user["roles"] = held
        if roles is not None and not held & set(roles):
            raise PermissionDeniedError(f"User '{userId}' needs the role {' or '.join(roles)} for this action but has {', '.join(sorted(held)) or 'no role'}.")
        if withTrainingBar:  # read by the same statement: a claim needs both, one round trip less
            stored = rows[0]["training_setting"]
            return user, {**people.DEFAULT_TRAINING, **(json.loads(stored) if stored else {})}
        return user

    @staticmethod
    def _lockCase(connection, caseId, expectedRevision=None):
        """The case row, locked for the rest of the transaction.

        :raises UnknownCaseError: not registered.
        :raises StaleRevisionError: ``expectedRevision`` differs from the stored revision.
        """
        row = connection.execute(queries.lockedCase(), {"case_id": str(caseId)}).mappings().first()
        if row is None:
            raise UnknownCaseError(f"Case '{caseId}' is not registered in the workflow.")
        if expectedRevision is not None and int(expectedRevision) != row["revision"]:
            raise StaleRevisionError(
                f"Case {caseId} changed since you loaded it (revision {row['revision']}, you saw {expectedRevision}, now {row['state']}); reload it and try again."
            )
        return dict(row)

    @staticmethod
    def _setState(connection, case, toState, **values):
        parameters = {"target_case_id": case["case_id"], "expected_revision": case["revision"], "state": toState, "revision": case["revision"] + 1,
                      "updated_at": schema.utcNow(), **values}
        result = connection.execute(queries.setCaseState(tuple(sorted(values))), parameters)
        if result.rowcount != 1:  # unreachable while the row is locked; kept as the optimistic guard
            raise StaleRevisionError(f"Case {case['case_id']} changed during the action; reload it and try again.")
        return case["revision"] + 1

    @staticmethod
    def _slots(connection, caseId, kind=None):
        parameters = {"case_id": caseId} if kind is None else {"case_id": caseId, "kind": kind}
        return [dict(row) for row in connection.execute(queries.caseSlots(kind is not None), parameters).mappings()]

    def _heldSlot(self, connection, case, userId, kind, slots=None):
        """The slot of ``kind`` that ``userId`` holds on the case (``slots``: the case's slots of that kind, when read already).

        :raises PermissionDeniedError: none.
        """
        for slot in self._slots(connection, case["case_id"], kind) if slots is None else slots:
            if slot["user_id"] == userId and slot["status"] == states.SLOT_CLAIMED:
                return slot
        raise PermissionDeniedError(f"User '{userId}' holds no open {kind} assignment on case {case['case_id']}; take it with 'next' first.")

    def _readRows(self, connection, caseId):
        return [dict(row) for row in connection.execute(queries.caseReads(), {"case_id": caseId}).mappings()]

    def settings(self) -> dict:
        """Every setting (JSON values): ``dataset_root``, ``concordance``, ``training``."""
        from sqlalchemy import select

        t = schema.tables()
        rows = self._read(lambda connection: connection.execute(select(t.settings)).all())
        return {key: json.loads(value) for key, value in rows}

    def _findCase(self, subject: str, session: str | None) -> Case:
        matches = discoverCases(self.datasetRoot, participantLabels=[subject], sessionLabels=[session] if session else None)
        matches = [case for case in matches if case.session == session]
        if len(matches) != 1:
            raise InputError(f"The images of sub-{subject}{f' ses-{session}' if session else ''} are no longer found under '{self.datasetRoot}'.")
        return matches[0]

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

    @staticmethod
    def _freeSlot(connection, slot) -> None:
        """Give a claimed slot back: a real slot reopens, a trial slot (made for its trainee) is removed."""
        t = schema.tables()
        if slot["kind"] == states.SLOT_TRIAL:
            connection.execute(t.slots.delete().where(t.slots.c.id == slot["id"], t.slots.c.status == states.SLOT_CLAIMED))
        else:
            connection.execute(t.slots.update().where(t.slots.c.id == slot["id"]).values(user_id=None, status=states.SLOT_OPEN, claimed_at=None))

    @staticmethod
    def _trainingBar(connection) -> dict:
        stored = connection.execute(queries.setting(), {"key": "training"}).scalar()
        return {**people.DEFAULT_TRAINING, **(json.loads(stored) if stored else {})}

    def recoverFinalFiles(self, case: Case | None = None) -> list[str]:
        """Finish finalisations a crash interrupted after their commit; clear staging files of ones that never
        committed (see :mod:`finalfiles`). Run by every command that opens the store, and for its own case by every
        finalisation.

        :param case: only this case's folder, checked against the files recorded by its own events and rows (every
            file staged there is the case's final mask, a published read of it, or their sidecars); default: every case.
        :return: one sentence per file renamed or removed.
        """
        if case is None:
            return finalfiles.recover(self.datasetRoot, self.recordedFiles, self._relative)
        return finalfiles.recover(self.datasetRoot, lambda: self.recordedFiles(case.caseId), self._relative, case.relativeFolder)

    def agreementParameters(self) -> AgreementParameters:
        """The comparison settings of this workflow (its concordance rule and review size limit).

        :raises InputError: the recorded settings are out of range.
        """
        return AgreementParameters.fromRule(self.settings().get("concordance", {}))

    @staticmethod
    def _agreementParametersIn(connection) -> AgreementParameters:
        """:meth:`agreementParameters`, read in the caller's transaction (no transaction of its own).

        :raises InputError: the recorded settings are out of range.
        """
        stored = connection.execute(queries.setting(), {"key": "concordance"}).scalar()
        return AgreementParameters.fromRule(json.loads(stored) if stored else {})

    def _compare(self, pathA, pathB, parameters: AgreementParameters | None = None) -> AgreementResult:
        """The agreement engine on two recorded masks, with this workflow's rule (region ids as reviewers see them).

        :param parameters: the rule when the caller read it already (:meth:`_agreementParametersIn`).
        """
        return compareFiles(pathA, pathB, self.agreementParameters() if parameters is None else parameters)
