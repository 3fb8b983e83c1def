"""Blind reads: submission, the comparison that queues a case for review, who may see which read.

A part of :class:`~AISCommonLib.workflow.store.WorkflowStore`; it relies on the plumbing of
:class:`~AISCommonLib.workflow.storebase.StoreBase`.
"""

import logging
from pathlib import Path

from ..core.atomicio import sha256File
from ..core.derivatives import sidecarPathFor, writeReaderMask
from ..core.errors import AISError, OutputExistsError
from . import queries, schema, states
from .database import dumps as _dumps
from .database import secondsBetween as _secondsBetween
from .errors import (
    BlindingError,
    UnknownCaseError,
)

logger = logging.getLogger(__name__)


class ReadsMixin:
    """Blind reads: submission, the comparison that queues a case for review, who may see which read."""

    def submitRead(self, userId: str, caseId: str, mask, expectedRevision: int | None = None, method: str = "manual",
                   parameters: dict | None = None) -> dict:
        """Submit the reader's mask for their claimed read slot of ``caseId``.

        The mask is written as the reader's next mask version (never overwriting), sealed until the case is final
        (see :mod:`sealedreads`), hashed and recorded.
        The second read is compared with the first at once (agreement engine, the workflow's concordance rule)
        and the case is queued for review; if that step is interrupted the case waits in ``awaiting_comparison``
        for :meth:`settleComparisons`.

        A trial read (a trainee's claimed trial case) is scored against the reference mask in the same
        transaction (Dice, HD95, lesion F1 with the reference as read A, missed lesions, time from claim to
        submission), and the trainee is qualified when that meets the bar. The case stays in ``awaiting_reads``.

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
                # Sealed: a random name in the sealed folder, or (team mode) in this client's private folder until the
                # database holds the bytes; recorded as derivatives/lesions/.sealed-reads/<name> on both backends.
                local, recordedMask = self._newSealedRead()
                record = writeReaderMask(self.datasetRoot, case, array, grid, userId, method, parameters or {}, into=local)
                break
            except OutputExistsError:
                # The same reader submitting from two clients at once took this version's name: take the next.
                if attempt == 4:
                    raise
        sidecar = sidecarPathFor(record.path)
        recordedSidecar = sidecarPathFor(Path(recordedMask)).as_posix()
        files = {recordedMask: sha256File(record.path), recordedSidecar: sha256File(sidecar)}
        summary = None
        if trial:
            try:
                summary = self._compare(reference, record.path).toDict()
            except BaseException:
                self._removeWritten([record.path, sidecar])
                raise

        def run(connection):
            self._user(connection, userId, (states.ROLE_READER,))
            case = self._lockCase(connection, caseId, expectedRevision)
            states.requireTransition(caseId, case["state"], states.ACTION_SUBMIT)
            kindSlots = self._slots(connection, caseId, states.SLOT_TRIAL if trial else states.SLOT_READ)
            slot = self._heldSlot(connection, case, userId, states.SLOT_TRIAL if trial else states.SLOT_READ, kindSlots)
            now = schema.utcNow()
            connection.execute(queries.finishSlot(), {"slot_id": slot["id"], "done_at": now})
            duration = _secondsBetween(slot["claimed_at"], now)
            readId = connection.execute(
                queries.insertRead(),
                {"case_id": caseId, "slot_id": slot["id"], "user_id": userId, "mask_path": recordedMask,
                 "sha256": files[recordedMask], "sidecar_path": recordedSidecar,
                 "sidecar_sha256": files[recordedSidecar], "version": record.version, "method": method,
                 "duration_seconds": duration, "submitted_at": now},
            ).inserted_primary_key[0]
            self._keepReadFiles(connection, caseId, userId, {recordedMask: record.path, recordedSidecar: sidecar})
            if trial:
                self._event(connection, userId, states.ACTION_SUBMIT, caseId, case["state"], case["state"], case["revision"],
                            note=f"trial slot {slot['slot_index']}, version {record.version}", files=files)
                read = {"id": readId, "user_id": userId, "mask_path": recordedMask, "sha256": files[recordedMask], "duration_seconds": duration}
                score = self._recordScore(connection, userId, case, read, summary) if summary is not None else None
                return {"case_id": caseId, "read_id": readId, "mask_path": read["mask_path"], "sha256": read["sha256"], "state": case["state"],
                        "revision": case["revision"], "training": True, "score": score, "qualified": bool(score and score["qualified"])}
            done = sum(s["status"] == states.SLOT_DONE or s["id"] == slot["id"] for s in kindSlots)  # read under the case lock
            toState = states.AWAITING_COMPARISON if done >= states.READS_PER_CASE else states.AWAITING_READS
            revision = self._setState(connection, case, toState) if toState != case["state"] else case["revision"]
            self._event(connection, userId, states.ACTION_SUBMIT, caseId, case["state"], toState, revision,
                        note=f"read slot {slot['slot_index']}, version {record.version}", files=files)
            return {"case_id": caseId, "read_id": readId, "mask_path": recordedMask, "sha256": files[recordedMask],
                    "state": toState, "revision": revision, "training": False}

        try:
            result = self._write(run)
        except BaseException:
            self._removeWritten([record.path, sidecar])
            raise
        if self.backend == "postgresql":  # the bytes just stored are the ones written here: no need to take them back out
            for recorded in (recordedMask, recordedSidecar):
                self._keepCopy(recorded, files[recorded])
        if result["state"] == states.AWAITING_COMPARISON:
            settled = {}
            try:
                settled = self._settle(userId, [caseId])
            except AISError as error:
                # The read is recorded; the case waits for the next settleComparisons instead of losing it.
                logger.warning("Case %s: the reads could not be compared yet (%s); the next reviewer's claim retries.", caseId, error)
                result["comparison_error"] = str(error)
            now = settled.get(caseId) or self.case(caseId)  # settled by another client meanwhile: ask
            result.update(state=now["state"], revision=now["revision"])
        return result

    def settleComparisons(self, userId: str, caseIds=None) -> list[str]:
        """Compare the reads of cases waiting in ``awaiting_comparison`` and queue them for review.

        Concordant cases go to ``review_confirm``, discordant ones to ``review_adjudicate``. Safe to run from
        several clients at once: one of them settles each case.

        :return: the case IDs settled by this call.
        """
        return list(self._settle(userId, caseIds))

    def _settle(self, userId: str, caseIds=None) -> dict[str, dict]:
        """:meth:`settleComparisons`; :return: per case settled by this call, its new ``state`` and ``revision``."""
        from sqlalchemy import select

        t = schema.tables()

        def pending(connection):
            self._user(connection, userId)
            query = select(t.cases.c.case_id).where(t.cases.c.state == states.AWAITING_COMPARISON).order_by(t.cases.c.id)
            if caseIds is not None:
                query = query.where(t.cases.c.case_id.in_(list(caseIds)))
            waiting = [(caseId, self._readRows(connection, caseId)) for caseId in connection.execute(query).scalars()]
            return waiting, self._agreementParametersIn(connection) if waiting else None

        settled = {}
        waiting, parameters = self._read(pending)
        for caseId, reads in waiting:
            if len(reads) != states.READS_PER_CASE:
                logger.warning("Case %s is awaiting comparison with %d reads; left as it is.", caseId, len(reads))
                continue
            result = self._compare(self.localReadFile(reads[0]["mask_path"]), self.localReadFile(reads[1]["mask_path"]), parameters)
            concordant, summary = result.concordant, result.toDict()
            readIds = [read["id"] for read in reads]

            def run(connection, caseId=caseId, concordant=concordant, summary=summary, readIds=readIds, reads=reads):
                case = self._lockCase(connection, caseId)
                if case["state"] != states.AWAITING_COMPARISON or [read["id"] for read in self._readRows(connection, caseId)] != readIds:
                    return None  # another client settled it first
                toState = states.REVIEW_CONFIRM if concordant else states.REVIEW_ADJUDICATE
                revision = self._setState(connection, case, toState, concordant=bool(concordant), comparison=_dumps(summary))
                connection.execute(queries.insertSlot(), {"case_id": caseId, "kind": states.SLOT_REVIEW, "slot_index": 1, "status": states.SLOT_OPEN})
                self._event(connection, userId, states.ACTION_COMPARE, caseId, case["state"], toState, revision,
                            note=_dumps({"concordant": bool(concordant), "dice": summary.get("dice"), "missed_lesions": summary.get("missed_lesions")}),
                            files={read["mask_path"]: read["sha256"] for read in reads})
                return {"state": toState, "revision": revision}

            outcome = self._write(run)
            if outcome is not None:
                settled[caseId] = outcome
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
            readerOfCase = any(read["user_id"] == user["user_id"] for read in reads)
            unblinded = states.ROLE_MANAGER in user["roles"] or readerOfCase
        else:
            readerOfCase = any(slot["user_id"] == user["user_id"] for slot in self._slots(connection, caseId, states.SLOT_READ))
            unblinded = len(reads) >= states.READS_PER_CASE or (states.ROLE_MANAGER in user["roles"] and not readerOfCase)
        # A reader never learns who the other reader is, even after blinding of the masks ends.
        anonymous = readerOfCase and states.ROLE_MANAGER not in user["roles"]
        return [
            {"read_id": read["id"], "user_id": read["user_id"] if read["user_id"] == user["user_id"] or not anonymous else "another reader",
             "mask_path": read["mask_path"], "sha256": read["sha256"],
             "version": read["version"], "submitted_at": read["submitted_at"], "duration_seconds": read["duration_seconds"]}
            for read in reads
            if unblinded or read["user_id"] == user["user_id"]
        ]

    def readMaskPath(self, userId: str, readId: int) -> Path:
        """The mask file of a read, for loading, if ``userId`` may see it (in team mode a private copy taken out of the
        database, valid until the store is closed; see :meth:`localReadFile`).

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

        return self.localReadFile(self._read(run))
