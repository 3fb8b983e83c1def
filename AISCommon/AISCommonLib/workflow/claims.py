"""Work assignment: atomic claims of read, review and arbitration slots, conflicts of interest.

A part of :class:`~AISCommonLib.workflow.store.WorkflowStore`; it relies on the plumbing of
:class:`~AISCommonLib.workflow.storebase.StoreBase`.
"""

import time

from . import people, queries, schema, states
from .database import dumps as _dumps
from .errors import (
    ConflictOfInterestError,
    DatabaseError,
    PermissionDeniedError,
)


def _inSlotOrder(rows: list, limit: int) -> list:
    """Rows of the claim queue (in case order, a case's slots in any order) with each case's slots in slot order; when the
    limit cut the rows, the last case is left out unless it is the only one (its lowest slot may be among those cut)."""
    byCase: dict[str, list] = {}
    for row in rows:
        byCase.setdefault(row.case_id, []).append(row)
    if len(rows) >= limit and len(byCase) > 1:
        byCase.popitem()
    return [row for caseRows in byCase.values() for row in sorted(caseRows, key=lambda row: row.slot_index)]


#: Candidate slots one claim transaction reads before looking again: about two per case (a case's open read slots) for
#: the number of clients asking at once.
CANDIDATE_BATCH = 16


class ClaimsMixin:
    """Work assignment: atomic claims of read, review and arbitration slots, conflicts of interest."""

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

    def _candidateSlots(self, connection, userId, kind, excluded, count=1):
        """Open slots of ``kind`` the user may take, best first: fewest taken slots of that kind on the case, then
        oldest case, then slot order; the first ``len(excluded) + count`` of them minus ``excluded``.

        Asked one load level at a time (no taken slot, then one, ...), each in case order with a limit, so the
        database walks the queue from its front and stops early instead of counting the slots of every case of the
        dataset on every claim (tens of ms at 10,000 cases). The statements are :func:`queries.candidateSlots`.

        :param excluded: slot ids already tried or found locked by another client.
        :return: ``(rows (id, case_id, slot_index), level)``: the level is how many slots of the kind each of those cases
            had taken (None for the catch-all of higher levels).
        """
        limit = len(excluded) + count
        *levels, catchAll = queries.candidateSlots(kind)
        for level, levelQuery in (*enumerate(levels), (None, catchAll)):
            rows = _inSlotOrder(connection.execute(levelQuery, {"user_id": userId, "limit": limit}).all(), limit)
            rows = [row for row in rows if row.id not in excluded]
            if rows or level is None:
                return rows, level
        return [], None

    @staticmethod
    def _resumableSlot(connection, userId, kind, training: bool):
        """The slot of ``kind`` that ``userId`` holds and has not finished, on a case still in a state that takes it
        (oldest case first), as ``(case_id, slot_index, revision, state)``; None when there is none.

        Asked from the person's slots first (``ix_slots_user``, a handful of rows), then their cases: joined in one
        query, SQLite walks every case waiting for reads instead (milliseconds per claim at 10,000 cases).
        """
        held = dict(connection.execute(queries.heldSlots(), {"user_id": userId, "kind": kind}).all())
        if not held:
            return None
        row = connection.execute(queries.resumableCase(kind, training), {"case_ids": sorted(held)}).first()
        return None if row is None else (row.case_id, held[row.case_id], row.revision, row.state)

    def _claimOnce(self, connection, userId, role, kind, tried, busy):
        """One claim transaction: resume the slot held, else take the best open one that no other client holds locked.

        Tries a batch of candidates in turn inside this transaction (a case another client holds is skipped, not waited
        for), so clients asking at once for the front of the queue spread over its first cases without a new
        transaction per collision.

        :return: the claim, None when nothing is open, or ``"retry"`` when every candidate of the batch was taken meanwhile.
        """
        user, bar = self._user(connection, userId, (role,), withTrainingBar=True)
        if role == states.ROLE_READER and self._inTraining(connection, user, bar):
            return self._claimTrial(connection, userId)
        held = self._resumableSlot(connection, userId, kind, training=False)
        if held is not None:
            caseId, slotIndex, revision, state = held
            return {"case_id": caseId, "kind": kind, "slot_index": slotIndex, "revision": revision, "state": state, "resumed": True, "training": False}
        candidates, level = self._candidateSlots(connection, userId, kind, tried | busy, CANDIDATE_BATCH)
        if not candidates:
            return None
        byCase: dict[str, list] = {}
        for row in candidates:  # in queue order; a case's slots in slot order
            byCase.setdefault(row.case_id, []).append(row)
        for caseId, rows in byCase.items():
            # PostgreSQL: skip a case another client holds locked and try the next one instead of queueing
            # behind it (SQLite serialises writers with BEGIN IMMEDIATE, where nothing is ever skipped).
            row = connection.execute(queries.lockedCase(skipLocked=True), {"case_id": caseId}).mappings().first()
            if row is None:
                busy.update(candidate.id for candidate in rows)
                continue
            tried.update(candidate.id for candidate in rows)
            case = dict(row)
            # Re-check under the case lock: every slot change of a case happens while holding it.
            if case["state"] not in states.SLOT_STATES[kind]:
                continue
            slots = self._slots(connection, caseId)
            if level is not None and sum(slot["kind"] == kind and slot["status"] != states.SLOT_OPEN for slot in slots) != level:
                continue  # another client took a slot of this case since the queue was read: no longer this load level
            try:
                self._checkConflicts(connection, case, userId, kind, slots)
            except ConflictOfInterestError:
                continue  # the same person claimed from another client meanwhile; look further
            for slotId, _, slotIndex in rows:
                result = connection.execute(queries.claimSlot(), {"slot_id": slotId, "user_id": userId, "claimed_at": schema.utcNow()})
                if result.rowcount == 1:
                    self._event(connection, userId, states.ACTION_CLAIM, caseId, case["state"], case["state"], case["revision"],
                                note=f"{kind} slot {slotIndex}")
                    return {"case_id": caseId, "kind": kind, "slot_index": slotIndex, "revision": case["revision"], "state": case["state"],
                            "resumed": False, "training": False}
        return "retry"

    def _checkConflicts(self, connection, case, userId, kind, slots=None):
        """:param slots: the case's slots when already read under the case lock.
        :raises ConflictOfInterestError: the person read this case (or reviewed it, for arbitration)."""
        for slot in self._slots(connection, case["case_id"]) if slots is None else slots:
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
