"""Review, arbitration, escalation, exclusion and reopening of a case.

A part of :class:`~AISCommonLib.workflow.store.WorkflowStore`; it relies on the plumbing of
:class:`~AISCommonLib.workflow.storebase.StoreBase`.
"""

from collections.abc import Mapping

from ..core import reviewrule
from ..core.atomicio import sha256File
from ..core.derivatives import consensusMaskPath, sidecarPathFor, writeMaskWithSidecar
from ..core.errors import InputError
from ..core.image import loadVolume
from . import finalfiles, schema, sealedreads, states
from .database import dumps as _dumps
from .errors import (
    PermissionDeniedError,
    StaleRevisionError,
)


class DecisionsMixin:
    """Review, arbitration, escalation, exclusion and reopening of a case."""

    def review(self, userId: str, caseId: str, decisions: Mapping[int, str] | None = None, defaultDecision: str | None = None,
               note: str | None = None, editedMask=None, expectedRevision: int | None = None, startingPoint: str | None = None,
               allowEmpty: bool = False) -> dict:
        """Finalise a case as its reviewer, by the rule of :mod:`AISCommonLib.core.reviewrule`.

        The reviewer's own mask (``editedMask``), when given, is the final mask: any voxel may change and what
        changed is derived region by region; hand marks are optional and must agree with it. Otherwise the
        final mask is the agreed voxels plus the regions decided ``keep``; regions not listed (small ones
        included) take ``defaultDecision``. In ``review_adjudicate`` every region needs a decision, a default
        or the reviewer's mask; in ``review_confirm`` the default is ``drop`` (agreed voxels only).

        :param startingPoint: where the reviewer's draft started (:data:`reviewrule.STARTING_POINTS`), recorded.
        :param allowEmpty: accept an empty final mask although both readers marked voxels.
        :return: ``{"case_id", "state", "revision", "final_mask_path", "sha256", "outcome"}``.
        :raises PermissionDeniedError: no claimed review slot.
        :raises InputError: unknown region ids or decisions, regions left undecided, marks that contradict the
            mask, an unconfirmed empty mask, a mask off the grid or not binary.
        """
        return self._finalise(userId, caseId, states.SLOT_REVIEW, states.ACTION_REVIEW, states.ROLE_REVIEWER,
                              decisions, defaultDecision, note, editedMask, expectedRevision, startingPoint, allowEmpty)

    def arbitrate(self, userId: str, caseId: str, decisions: Mapping[int, str] | None = None, defaultDecision: str | None = None,
                  note: str | None = None, editedMask=None, expectedRevision: int | None = None, startingPoint: str | None = None,
                  allowEmpty: bool = False, overrideReason: str | None = None) -> dict:
        """The (lead) arbiter's final ruling on an escalated case (same decisions and result as :meth:`review`).

        :param overrideReason: why the ruling differs from what the reviewer proposed when escalating; required
            then, and recorded with the panel's members and opinions (see :mod:`panel`).
        :raises InputError: the ruling overrides the reviewer's proposal without a reason.
        """
        return self._finalise(userId, caseId, states.SLOT_ARBITRATION, states.ACTION_ARBITRATE, states.ROLE_ARBITER,
                              decisions, defaultDecision, note, editedMask, expectedRevision, startingPoint, allowEmpty, overrideReason)

    def startingDecisions(self, userId: str, caseId: str, startingPoint: str) -> tuple[dict[int, str], str]:
        """The region decisions a starting final stands for (:func:`reviewrule.startingDecisions`), for the reviewer
        or arbiter who holds the case.

        :raises PermissionDeniedError: the user holds no review or arbitration of the case.
        """

        def check(connection):
            user = self._user(connection, userId, (states.ROLE_REVIEWER, states.ROLE_ARBITER))
            case = self._lockCase(connection, caseId)
            holds = [slot for slot in self._slots(connection, caseId) if slot["user_id"] == userId and slot["status"] == states.SLOT_CLAIMED
                     and slot["kind"] in (states.SLOT_REVIEW, states.SLOT_ARBITRATION)]
            if not holds:
                raise PermissionDeniedError(f"User '{user['user_id']}' holds no review or arbitration of case {case['case_id']}.")
            return self._readRows(connection, caseId)

        reads = self._read(check)
        paths = [self.localReadFile(read["mask_path"]) for read in reads]
        comparison = self._compare(*paths)
        maskA, maskB = (loadVolume(path).array != 0 for path in paths)
        return reviewrule.startingDecisions(comparison, maskA, maskB, startingPoint)

    def _finalise(self, userId, caseId, kind, action, role, decisions, defaultDecision, note, editedMask, expectedRevision,
                  startingPoint=None, allowEmpty=False, overrideReason=None):
        def check(connection):
            self._user(connection, userId, (role,))
            case = self._lockCase(connection, caseId, expectedRevision)
            states.requireTransition(caseId, case["state"], action)
            self._heldSlot(connection, case, userId, kind)
            return (case, self._readRows(connection, caseId), self._panelRecord(connection, caseId) if action == states.ACTION_ARBITRATE else None,
                    self._agreementParametersIn(connection))

        caseRow, reads, arbitration, parameters = self._read(check)
        if startingPoint is not None and startingPoint not in reviewrule.STARTING_POINTS:
            raise InputError(f"The starting final must be one of {', '.join(reviewrule.STARTING_POINTS)}, not '{startingPoint}'.")
        comparison = self._compare(self.localReadFile(reads[0]["mask_path"]), self.localReadFile(reads[1]["mask_path"]), parameters)
        discordant = caseRow["state"] == states.REVIEW_ADJUDICATE or (caseRow["state"] == states.ARBITRATION and not caseRow["concordant"])
        checked = reviewrule.checkDecisions([region.regionId for region in comparison.allRegions], decisions, defaultDecision,
                                            requireAll=discordant, haveMask=editedMask is not None, smallIds=comparison.smallRegionIds)
        case = self._findCase(caseRow["subject"], caseRow["session"])
        grid = self._referenceGrid(case)
        if editedMask is not None:
            final = self._maskOnGrid(editedMask, grid)
        else:
            final = reviewrule.finalFromDecisions(comparison, checked)
        outcome = reviewrule.describeOutcome(comparison, final)
        reviewrule.checkAgainstOutcome({key: value for key, value in checked.items() if value != reviewrule.DECISION_EDITED}, outcome)
        if not final.any() and comparison.sharedVoxels and not allowEmpty:
            raise InputError(f"The final mask of case {caseId} is empty although both readers marked {comparison.sharedVoxels} voxels; "
                             "confirm that there is no lesion (--allow-empty) or correct the mask.")
        default = None if editedMask is not None else (defaultDecision or reviewrule.DECISION_DROP)
        overridden = _overriddenRegions(arbitration, outcome)
        if overridden and not (overrideReason or "").strip():
            raise InputError(f"The ruling on case {caseId} differs from the reviewer's proposal on regions {overridden}; "
                             "say why (--override-reason).")
        target = consensusMaskPath(self.datasetRoot, case)
        self.recoverFinalFiles(case)
        # The reads leave the sealed folder with the final mask: staged now, renamed after the commit.
        publications = sealedreads.stagePublication(self.datasetRoot, case, reads, self.localReadFile)
        publishedPath = {publication.read["id"]: self._relative(publication.target) for publication in publications}
        sidecar = {
            "Type": "consensus",
            "Case": caseId,
            "FinalisedBy": {"User": userId, "Role": role},
            "Created": schema.utcNow(),
            "Reads": [{"Reader": read["user_id"], "Path": publishedPath.get(read["id"], read["mask_path"]), "SHA256": read["sha256"]} for read in reads],
            "RegionDecisions": {str(key): value for key, value in sorted(checked.items())},
            "DefaultDecision": default,
            "Source": "reviewer mask" if editedMask is not None else "decisions",
            "StartingFinal": startingPoint,
            "Outcome": outcome.toDict(),
            "Voxels": outcome.finalVoxels,
        }
        if arbitration is not None:
            sidecar["Arbitration"] = {"Escalation": arbitration["escalation"], "Panel": arbitration["members"],
                                      "Opinions": len(arbitration["opinions"]), "OverridesReviewerOn": overridden,
                                      "OverrideReason": (overrideReason or "").strip() or None}
        staging = finalfiles.stagingPath(target)
        try:
            writeMaskWithSidecar(staging, final, grid, sidecar)
        except BaseException:
            sealedreads.discard(publications)
            raise
        written = [staging, sidecarPathFor(staging)]
        # Recorded under the final names: the staging files take them right after the commit.
        files = {self._relative(target): sha256File(staging), self._relative(sidecarPathFor(target)): sha256File(sidecarPathFor(staging))}
        files.update({read["mask_path"]: read["sha256"] for read in reads})
        for publication in publications:
            copy = publication.staging or publication.target
            files[self._relative(publication.target)] = sha256File(copy)
            files[self._relative(sidecarPathFor(publication.target))] = sha256File(sidecarPathFor(copy))
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
                default_decision=default, note=note, mask_path=relativeTarget, sha256=files[relativeTarget], created_at=now,
                outcome=_dumps(outcome.toDict()), starting_point=startingPoint, override_reason=(overrideReason or "").strip() or None))
            self._event(connection, userId, action, caseId, current["state"], states.FINAL, revision, note=note, files=files)
            return {"case_id": caseId, "state": states.FINAL, "revision": revision, "final_mask_path": relativeTarget, "sha256": files[relativeTarget],
                    "outcome": outcome.toDict()}

        try:
            result = self._write(run)
        except BaseException:
            self._removeWritten(written)
            sealedreads.discard(publications)
            raise
        finalfiles.promote(staging, target)
        sealedreads.promoteAll(publications)
        return result

    def escalate(self, userId: str, caseId: str, reason: str, expectedRevision: int | None = None, proposal: Mapping | None = None) -> dict:
        """Send a case under review to arbitration, with the reviewer's reason and, optionally, the decisions they propose.

        :param proposal: region id -> ``keep`` or ``drop`` (``small`` for every small region); a ruling that differs
            from it must say why.
        :return: ``{"case_id", "state", "revision"}``.
        :raises PermissionDeniedError: no claimed review slot, or no reason.
        :raises InputError: a proposal on regions the case does not have, or other than keep/drop.
        """
        if not (reason or "").strip():
            raise InputError("Escalating a case needs a reason for the arbiter.")
        proposed = self._proposedDecisions(caseId, proposal)
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
                                                           region_decisions=_dumps({str(k): v for k, v in sorted(proposed.items())}),
                                                           note=reason, created_at=now))
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
            # State first: in team mode the database checks that the excluder still holds a slot of the case.
            revision = self._setState(connection, case, states.EXCLUDED, previous_state=case["state"], exclusion_reason=reason, exclusion_note=note or None)
            for slot in released:
                self._freeSlot(connection, slot)
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

    def _proposedDecisions(self, caseId: str, proposal: Mapping | None) -> dict[int, str]:
        """Region decisions a reviewer proposes or a panel member suggests: listed regions only, keep or drop."""
        if not proposal:
            return {}
        regions = (self.case(caseId)["comparison"] or {}).get("discordant_regions") or []
        parsed = reviewrule.parseDecisions([region["id"] for region in regions], proposal, [region["id"] for region in regions if region.get("small")])
        edited = sorted(regionId for regionId, value in parsed.items() if value not in reviewrule.DEFAULT_DECISIONS)
        if edited:
            raise InputError(f"A proposal says keep or drop per region; regions {edited} are marked otherwise.")
        return parsed


def _overriddenRegions(arbitration: dict | None, outcome) -> list[int]:
    """The regions on which a ruling's outcome differs from the reviewer's proposal (none without a proposal)."""
    if not arbitration or not arbitration["escalation"]:
        return []
    expected = {reviewrule.DECISION_KEEP: reviewrule.OUTCOME_KEPT, reviewrule.DECISION_DROP: reviewrule.OUTCOME_DROPPED}
    return sorted(regionId for regionId, decision in arbitration["escalation"]["proposal"].items()
                  if outcome.regions.get(regionId) != expected[decision])
