"""Review, arbitration, escalation, exclusion and reopening of a case.

A part of :class:`~AISCommonLib.workflow.store.WorkflowStore`; it relies on the plumbing of
:class:`~AISCommonLib.workflow.storebase.StoreBase`.
"""

import json
import logging
from collections.abc import Mapping

import numpy as np

from ..core.atomicio import sha256File
from ..core.consensus import adjudicatedMask
from ..core.derivatives import consensusMaskPath, sidecarPathFor, writeMaskWithSidecar
from ..core.errors import InputError
from . import schema, states
from .database import dumps as _dumps
from .errors import (
    PermissionDeniedError,
    StaleRevisionError,
)

logger = logging.getLogger(__name__)


class DecisionsMixin:
    """Review, arbitration, escalation, exclusion and reopening of a case."""

    def review(self, userId: str, caseId: str, decisions: Mapping[int, str] | None = None, defaultDecision: str | None = None,
               note: str | None = None, editedMask=None, expectedRevision: int | None = None) -> dict:
        """Finalise a case as its reviewer: a decision for each discordant region, then the final mask.

        In ``review_adjudicate`` every region shown for review needs ``keep``, ``drop`` or ``edited``; in
        ``review_confirm`` undecided regions follow ``defaultDecision`` (``drop`` when None: agreed voxels
        only). ``edited`` needs ``editedMask``, which then is the final mask. Otherwise it is built from the agreed
        voxels and the regions kept (:func:`AISCommonLib.core.consensus.adjudicatedMask`).

        :return: ``{"case_id", "state", "revision", "final_mask_path", "sha256"}``.
        :raises PermissionDeniedError: no claimed review slot.
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
            comparison = self._compare(self.absolutePath(reads[0]["mask_path"]), self.absolutePath(reads[1]["mask_path"]))
            final = adjudicatedMask(comparison, dict(checked), default)
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
