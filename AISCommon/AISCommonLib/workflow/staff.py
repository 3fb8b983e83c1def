"""People and rules: initialising the workflow, users, roles with the consensus minimums, settings.

A part of :class:`~AISCommonLib.workflow.store.WorkflowStore`; it relies on the plumbing of
:class:`~AISCommonLib.workflow.storebase.StoreBase`.
"""

import json
from pathlib import Path

from ..core.agreement import AgreementParameters
from ..core.errors import InputError
from . import people, schema, states
from .database import dumps as _dumps
from .errors import (
    PermissionDeniedError,
    WorkflowError,
)


class StaffMixin:
    """People and rules: initialising the workflow, users, roles with the consensus minimums, settings."""

    def initialise(self, datasetRoot, managerId: str, qualification: people.Qualification, concordance=None, training=None,
                   login: str | None = None, password: str | None = None) -> bool:
        """Record the dataset root and rules, and register the first manager (only on an empty database).

        :param concordance: overrides of the default rule (:meth:`AgreementParameters.ruleDict`).
        :param training: overrides of :data:`people.DEFAULT_TRAINING`.
        :param login: team mode: the manager's database login role to create (or attach); None for none.
        :param password: the new login's password (only its SCRAM verifier reaches the server).
        :return: True when initialised now, False when it already was (same root: nothing changes).
        :raises WorkflowError: initialised before for another dataset root.
        """
        from sqlalchemy import func, select

        people.validateUserId(managerId)
        qualification.validate()
        root = Path(datasetRoot).resolve()
        if not root.is_dir():
            raise InputError(f"The dataset root '{root}' is not a folder.")
        rules = AgreementParameters.fromRule(concordance or {}).ruleDict()
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
            if login is not None:
                self._createLogin(connection, managerId, login, password)
            self._event(connection, managerId, states.ACTION_INITIALISE, note=_dumps({"dataset_root": str(root), "concordance": rules, "training": trainingBar}),
                        users=[managerId], settings=True)
            return True

        done = self._write(run)
        self._datasetRoot = self._datasetRoot or root
        return done

    def updateSettings(self, userId: str, reason: str, concordance=None, training=None) -> dict:
        """Change the concordance rule or the training bar (manager only; recorded with a reason).

        After a change of the training bar every reader still in training is checked against the new bar
        at once, and qualified (with an audit event) when they now meet it.

        :param training: changed keys of :data:`people.DEFAULT_TRAINING`; ``min_cases`` is never below 5.
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
            for key, update, known in (("concordance", concordance, AgreementParameters().ruleDict()), ("training", training, people.DEFAULT_TRAINING)):
                if update:
                    unknown = sorted(set(update) - set(known))
                    if unknown:
                        raise InputError(f"Unknown {key} settings: {', '.join(unknown)}.")
                    value = {**current.get(key, known), **update}
                    if key == "training":
                        value = people.validateTrainingBar(value)
                    else:
                        value = AgreementParameters.fromRule(value).ruleDict()
                    connection.execute(t.settings.update().where(t.settings.c.key == key).values(value=_dumps(value)))
                    current[key] = value
            self._event(connection, userId, states.ACTION_SETTINGS, note=_dumps({"reason": reason, "concordance": concordance, "training": training}),
                        settings=True)
            if training:
                for traineeId in self._traineeIds(connection):
                    self._qualifyIfBarMet(connection, userId, traineeId)
            return current

        return self._write(run)

    def addUser(self, actingUser: str, userId: str, qualification: people.Qualification, login: str | None = None,
                password: str | None = None) -> None:
        """Register a person (no role yet). Manager only.

        :param login: team mode: the person's database login role to create (or attach), e.g. ``r01``; None for none.
        :param password: the new login's password (only its SCRAM verifier reaches the server); None to set none.
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
            if login is not None:
                self._createLogin(connection, userId, login, password)
            self._event(connection, actingUser, states.ACTION_ADD_USER, note=_dumps({"user": userId, **{
                "title": qualification.title, "years_imaging": qualification.yearsImaging,
                "years_neuroimaging": qualification.yearsNeuroimaging}}), users=[userId])

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
            user = self._user(connection, userId, acting=False)
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
                        note=_dumps({"user": userId, "role": role, "shortfalls": shortfalls, "override_reason": reason if shortfalls else None}),
                        users=[userId])
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
            user = self._user(connection, userId, acting=False)
            if role not in user["roles"]:
                raise WorkflowError(f"User '{userId}' does not have the role {role}.")
            if role == states.ROLE_MANAGER:
                managers = connection.execute(select(func.count()).select_from(t.userRoles).where(t.userRoles.c.role == states.ROLE_MANAGER)).scalar()
                if managers <= 1:
                    raise PermissionDeniedError("The last manager cannot lose the manager role.")
            connection.execute(t.userRoles.delete().where(t.userRoles.c.user_id == userId, t.userRoles.c.role == role))
            self._event(connection, actingUser, states.ACTION_REVOKE_ROLE, note=_dumps({"user": userId, "role": role, "reason": reason}), users=[userId])

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
