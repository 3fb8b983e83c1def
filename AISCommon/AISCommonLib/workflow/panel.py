"""Arbitration as a discussion: the lead arbiter convenes a panel, each member may give an opinion, the lead rules.

A part of :class:`~AISCommonLib.workflow.store.WorkflowStore`. The consensus sends hard cases to a discussion
led by senior experts; the record keeps who took part and what each said. The lead is the arbiter holding the
case's arbitration; members are other arbiters and, if the lead wishes, the reviewer who escalated the case. A
reader of the case never sits on its panel. The ruling itself is :meth:`DecisionsMixin.arbitrate`, which asks for
a reason when it overrides the reviewer's proposal.
"""

import json
from collections.abc import Mapping

from ..core.errors import InputError
from . import schema, states
from .database import dumps as _dumps
from .errors import ConflictOfInterestError, PermissionDeniedError

LEAD = "lead"
MEMBER = "member"


class PanelMixin:
    """Arbitration panels: convene, opinions, the panel's record."""

    def convenePanel(self, userId: str, caseId: str, members: list[str], note: str | None = None) -> dict:
        """Bring other arbiters (and optionally the reviewer who escalated) into the arbitration of ``caseId``.

        :param userId: the lead: the arbiter holding the case's arbitration.
        :param members: user IDs to add (calling again adds more; nobody is removed).
        :return: the panel (see :meth:`panel`).
        :raises PermissionDeniedError: not holding the arbitration; a member who is neither an arbiter nor the reviewer.
        :raises ConflictOfInterestError: a member read the case.
        :raises InputError: no members, or the lead listed as a member.
        """
        members = sorted({str(member).strip() for member in members if str(member).strip()})
        if not members:
            raise InputError("Name at least one arbiter (or the case's reviewer) to convene a panel.")
        if userId in members:
            raise InputError(f"{userId} leads the panel already; list the other members.")
        t = schema.tables()

        def run(connection):
            self._user(connection, userId, (states.ROLE_ARBITER,))
            case = self._lockCase(connection, caseId)
            states.requireTransition(caseId, case["state"], states.ACTION_CONVENE)
            self._heldSlot(connection, case, userId, states.SLOT_ARBITRATION)
            slots = self._slots(connection, caseId)
            readers = {slot["user_id"] for slot in slots if slot["kind"] == states.SLOT_READ}
            reviewers = {slot["user_id"] for slot in slots if slot["kind"] == states.SLOT_REVIEW and slot["status"] == states.SLOT_DONE}
            seated = self._panelRows(connection, caseId)
            now = schema.utcNow()
            if not seated:
                connection.execute(t.panelMembers.insert().values(case_id=caseId, user_id=userId, role=LEAD, added_by=userId, added_at=now))
            added = []
            for member in members:
                person = self._user(connection, member, acting=False)
                if member in readers:
                    raise ConflictOfInterestError(f"{member} read case {caseId} and cannot sit on its arbitration panel.")
                if states.ROLE_ARBITER not in person["roles"] and member not in reviewers:
                    raise PermissionDeniedError(f"{member} is neither an arbiter nor the reviewer who escalated case {caseId}.")
                if member not in {row["user_id"] for row in seated}:
                    connection.execute(t.panelMembers.insert().values(case_id=caseId, user_id=member, role=MEMBER, added_by=userId, added_at=now))
                    added.append(member)
            self._event(connection, userId, states.ACTION_CONVENE, caseId, case["state"], case["state"], case["revision"],
                        note=_dumps({"members": added, "note": note}))
            return self._panelRecord(connection, caseId)

        return self._write(run)

    def addOpinion(self, userId: str, caseId: str, text: str, decisions: Mapping | None = None) -> dict:
        """Record a panel member's opinion, optionally with the region decisions they would make.

        :param decisions: region id -> ``keep`` or ``drop`` (``small`` for all small regions at once).
        :return: the panel (see :meth:`panel`).
        :raises PermissionDeniedError: not on the case's panel.
        :raises InputError: no text, or decisions on regions the case does not have.
        """
        if not (text or "").strip():
            raise InputError("An opinion needs some text.")
        checked = self._proposedDecisions(caseId, decisions)
        t = schema.tables()

        def run(connection):
            self._user(connection, userId)
            case = self._lockCase(connection, caseId)
            states.requireTransition(caseId, case["state"], states.ACTION_OPINION)
            if userId not in {row["user_id"] for row in self._panelRows(connection, caseId)}:
                raise PermissionDeniedError(f"{userId} is not on the arbitration panel of case {caseId}.")
            connection.execute(t.opinions.insert().values(case_id=caseId, user_id=userId, text=text.strip(),
                                                          region_decisions=_dumps({str(k): v for k, v in sorted(checked.items())}),
                                                          created_at=schema.utcNow()))
            self._event(connection, userId, states.ACTION_OPINION, caseId, case["state"], case["state"], case["revision"], note=text.strip())
            return self._panelRecord(connection, caseId)

        return self._write(run)

    def panel(self, userId: str, caseId: str) -> dict:
        """The arbitration record of ``caseId``: the reviewer's escalation (reason and proposed decisions), the panel
        (lead and members) and every opinion, oldest first. For the panel, the case's arbiter and managers.

        :return: ``{"case_id", "escalation", "members", "opinions"}``.
        :raises PermissionDeniedError: anyone else.
        """

        def run(connection):
            user = self._user(connection, userId)
            self._lockCase(connection, caseId)
            record = self._panelRecord(connection, caseId)
            arbiters = {slot["user_id"] for slot in self._slots(connection, caseId, states.SLOT_ARBITRATION)}
            if states.ROLE_MANAGER not in user["roles"] and userId not in arbiters | {member["user_id"] for member in record["members"]}:
                raise PermissionDeniedError(f"Only the arbitration panel of case {caseId}, its arbiter and managers see its discussion.")
            return record

        return self._read(run)

    def _panelRows(self, connection, caseId: str) -> list[dict]:
        from sqlalchemy import select

        t = schema.tables()
        return [dict(row) for row in connection.execute(select(t.panelMembers).where(t.panelMembers.c.case_id == caseId).order_by(t.panelMembers.c.id)).mappings()]

    def _panelRecord(self, connection, caseId: str) -> dict:
        from sqlalchemy import select

        t = schema.tables()
        opinions = connection.execute(select(t.opinions).where(t.opinions.c.case_id == caseId).order_by(t.opinions.c.id)).mappings()
        return {
            "case_id": caseId,
            "escalation": self._escalation(connection, caseId),
            "members": [{"user_id": row["user_id"], "role": row["role"], "added_at": row["added_at"]} for row in self._panelRows(connection, caseId)],
            "opinions": [{"user_id": row["user_id"], "text": row["text"], "decisions": json.loads(row["region_decisions"]), "at": row["created_at"]}
                         for row in opinions],
        }

    @staticmethod
    def _escalation(connection, caseId: str) -> dict | None:
        """The reviewer's escalation of the case: who, why, and the region decisions they proposed (may be empty)."""
        from sqlalchemy import select

        t = schema.tables()
        row = connection.execute(select(t.decisions).where(t.decisions.c.case_id == caseId, t.decisions.c.action == states.ACTION_ESCALATE)
                                 .order_by(t.decisions.c.id.desc()).limit(1)).mappings().first()
        if row is None:
            return None
        return {"user_id": row["user_id"], "reason": row["note"], "proposal": {int(k): v for k, v in json.loads(row["region_decisions"]).items()},
                "at": row["created_at"]}
