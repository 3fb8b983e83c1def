"""Reader training: trial cases, scores against reference masks, qualification.

A part of :class:`~AISCommonLib.workflow.store.WorkflowStore`; it relies on the plumbing of
:class:`~AISCommonLib.workflow.storebase.StoreBase`.
"""

from collections.abc import Mapping
from pathlib import Path

from ..core.atomicio import sha256File
from . import people, schema, states
from .database import dumps as _dumps
from .errors import (
    BlindingError,
    PermissionDeniedError,
    WorkflowError,
)


class TrainingMixin:
    """Reader training: trial cases, scores against reference masks, qualification."""

    def _inTraining(self, connection, user, bar: dict | None = None) -> bool:
        """A reader who is not qualified while the bar requires training: trial cases only.

        :param bar: the training bar when read already in this transaction.
        """
        if states.ROLE_READER not in user["roles"] or user["reader_qualified"]:
            return False
        return bool((self._trainingBar(connection) if bar is None else bar)["required"])

    @staticmethod
    def _traineeIds(connection) -> list[str]:
        """Active readers not yet qualified."""
        from sqlalchemy import select

        t = schema.tables()
        query = (select(t.users.c.user_id).join(t.userRoles, t.userRoles.c.user_id == t.users.c.user_id)
                 .where(t.userRoles.c.role == states.ROLE_READER, t.users.c.reader_qualified.is_(False), t.users.c.active.is_(True))
                 .order_by(t.users.c.user_id))
        return list(connection.execute(query).scalars())

    def _claimTrial(self, connection, userId) -> dict | None:
        """Claim (or resume) a trainee's next trial case inside the caller's transaction."""
        from sqlalchemy import func, select

        t = schema.tables()
        # One trainee's clients claim one after another (NO KEY UPDATE: slot inserts of others still pass).
        connection.execute(select(t.users.c.user_id).where(t.users.c.user_id == userId).with_for_update(key_share=True)).first()
        held = self._resumableSlot(connection, userId, states.SLOT_TRIAL, training=True)
        if held is not None:
            caseId, slotIndex, revision, state = held
            return {"case_id": caseId, "kind": states.SLOT_TRIAL, "slot_index": slotIndex, "revision": revision,
                    "state": state, "resumed": True, "training": True}
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
        """The training-score columns from an agreement summary (reference as read A)."""
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
        user = self._user(connection, traineeId, acting=False)
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
                    note=_dumps({"user": traineeId, "override_reason": overrideReason, "released_trial_cases": [slot["case_id"] for slot in released], **details}),
                    users=[traineeId], cases=[slot["case_id"] for slot in released])

    @staticmethod
    def _openTrialSlots(connection, traineeId) -> list[dict]:
        from sqlalchemy import select

        t = schema.tables()
        return [dict(row) for row in connection.execute(select(t.slots).where(
            t.slots.c.user_id == traineeId, t.slots.c.kind == states.SLOT_TRIAL, t.slots.c.status == states.SLOT_CLAIMED)).mappings()]

    def trainingReport(self, userId: str, traineeId: str) -> dict:
        """A trainee's training: the bar, every scored trial read, the evaluation and the qualification.

        Managers see anyone's report, a reader their own. Pending trial reads are scored first.

        :return: ``user``, ``qualified``, ``qualified_at``, ``qualified_by``, ``qualified_note``,
            ``override_reason``, ``training_required``, ``bar``, ``scores`` (one per trial read: case, size
            class, location, ``dice``, ``hd95_mm``, ``lesion_f1``, ``missed_lesions``, ``minutes``,
            ``submitted_at``), ``evaluation`` (see :func:`people.evaluateTraining`),
            ``trial_cases_left`` (trial cases open to them that they have not read) and ``unlabelled_trial_cases``.
        :raises UnknownUserError: either user unknown.
        :raises PermissionDeniedError: neither a manager nor the trainee.
        """
        from sqlalchemy import select

        def check(connection):
            user = self._user(connection, userId)
            if userId != traineeId and states.ROLE_MANAGER not in user["roles"]:
                raise PermissionDeniedError(f"User '{userId}' may see only their own training report; a manager sees everyone's.")
            self._user(connection, traineeId, acting=False)

        self._read(check)
        t = schema.tables()

        def run(connection):
            trainee = self._user(connection, traineeId, acting=False)
            bar = self._trainingBar(connection)
            rows = self._scoreRows(connection, traineeId)
            reads = connection.execute(select(t.slots.c.case_id).where(t.slots.c.user_id == traineeId, t.slots.c.kind == states.SLOT_TRIAL)).scalars()
            readCases = set(reads)
            openTrial = connection.execute(select(t.cases.c.case_id, t.cases.c.lesion_size_class).where(
                t.cases.c.training.is_(True), t.cases.c.state.in_(states.SLOT_STATES[states.SLOT_TRIAL]))).all()
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
            trainee = self._user(connection, traineeId, acting=False)
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
