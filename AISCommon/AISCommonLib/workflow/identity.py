"""Who acts: authenticated database logins in team mode, declared identities on a single workstation, logins
created, deactivated and reactivated by managers.

A part of :class:`~AISCommonLib.workflow.store.WorkflowStore`; it relies on the plumbing of
:class:`~AISCommonLib.workflow.storebase.StoreBase`.

- **Team mode (PostgreSQL)**: each person connects as their own login role (password from ``.pgpass``,
  ``PGPASSWORD`` or the URL, or a client certificate: whatever libpq accepts). The workflow identity is the
  session's login mapped to a workflow user (``logins`` table); a user ID given by the caller must match it.
  The database enforces the rules itself (:mod:`pgsecurity`). The role that owns the database (or a superuser)
  is trusted: it may act for a declared user, and each event records its login.
- **Single workstation (SQLite)**: identities are declared (typed), not authenticated; every event records the
  computer account and host name it came from, and :meth:`IdentityMixin.identityReport` says so.
"""

import contextlib
import getpass
import socket

from ..core.errors import InputError
from . import pgsecurity, schema, states
from .database import dumps as _dumps
from .errors import PermissionDeniedError, UnknownUserError, WorkflowError


def clientAccount() -> str:
    """The operating-system account running this client (``getpass.getuser()``), or ``unknown``."""
    with contextlib.suppress(Exception):
        return getpass.getuser()[:64]
    return "unknown"


def clientHost() -> str:
    """This computer's host name (``socket.gethostname()``), or ``unknown``."""
    with contextlib.suppress(OSError):
        return socket.gethostname()[:255] or "unknown"
    return "unknown"


class IdentityMixin:
    """Who acts: the session's identity, logins, deactivation, the identity statement for the acceptance report."""

    @property
    def authenticated(self) -> bool:
        """True when the database authenticated this session as an active workflow user (team mode, PostgreSQL);
        False on SQLite (declared identities) and for the owner's sessions (acting for declared users)."""
        return self.sessionIdentity()["authenticated"]

    def sessionIdentity(self) -> dict:
        """Who this store's connections are.

        :return: ``backend``, ``login`` (the database session user, None on SQLite), ``user_id`` (the workflow user the
            login belongs to, or None), ``active``, ``admin`` (the owner or a superuser, trusted to act for a declared
            user), ``authenticated`` (``user_id`` is set and active), ``os_user``, ``host``.
        """
        identity = {"backend": self.backend, "login": None, "user_id": None, "active": False, "admin": False, "authenticated": False,
                    "os_user": clientAccount(), "host": clientHost()}
        if self.backend == "postgresql":
            session = self._read(pgsecurity.sessionIdentity)
            identity.update(session, authenticated=session["user_id"] is not None and session["active"])
        return identity

    def actingUser(self, declared: str | None = None) -> str:
        """The workflow user this client acts as: the authenticated one in team mode (``declared`` must match it if
        given), the declared one on SQLite or for the database owner.

        :raises InputError: nothing declared where it is needed (SQLite, the owner's session).
        :raises PermissionDeniedError: ``declared`` differs from the login's user, the login belongs to no workflow
            user, or its user is deactivated.
        """
        identity = self.sessionIdentity()
        if identity["backend"] != "postgresql":
            if not declared:
                raise InputError("Single-workstation mode (SQLite) does not authenticate anyone: give your user ID with --user.")
            return declared
        login, userId = identity["login"], identity["user_id"]
        if userId is not None:
            if not identity["active"]:
                raise PermissionDeniedError(f"The database login '{login}' belongs to user '{userId}', who is deactivated.")
            if declared and declared != userId:
                raise PermissionDeniedError(f"You are logged in to the workflow database as '{login}', which is user '{userId}', "
                                            f"not '{declared}'; log in as that person's own database role to act as them.")
            return userId
        if identity["admin"]:
            if not declared:
                raise InputError(f"The database login '{login}' owns the workflow but is no workflow user: give the user you act for "
                                 "with --user (your login is recorded with each action).")
            return declared
        raise PermissionDeniedError(f"The database login '{login}' belongs to no workflow user; a manager gives each person a login "
                                    "with 'ais workflow users --add'.")

    def _createLogin(self, connection, userId: str, login: str | None, password: str | None) -> dict:
        """Create (or attach) ``userId``'s login role inside the caller's transaction (team mode only).

        :return: ``{"login", "created"}``.
        :raises InputError: not PostgreSQL, an invalid login name, a short password.
        """
        if connection.dialect.name != "postgresql":
            raise InputError("Database logins exist in team mode (PostgreSQL) only; on a single workstation identities are declared.")
        login = pgsecurity.validateLogin(login) if login else pgsecurity.defaultLogin(userId)
        created = pgsecurity.createLogin(connection, userId, login, password)
        return {"login": login, "created": created}

    def createLogin(self, actingUser: str, userId: str, login: str | None = None, password: str | None = None) -> dict:
        """Give a registered person their database login (manager only; team mode). A new role gets ``password``
        (sent to the server only as a SCRAM verifier); an existing plain login role is attached as it is.

        :param login: the role name (default: the user ID in lower case).
        :return: ``{"user", "login", "created"}``.
        :raises PermissionDeniedError: not a manager.
        :raises WorkflowError: the person has a login already, or the role belongs to someone else or is privileged.
        """

        def run(connection):
            self._user(connection, actingUser, (states.ROLE_MANAGER,))
            self._user(connection, userId, acting=False)
            result = self._createLogin(connection, userId, login, password)
            self._event(connection, actingUser, states.ACTION_CREATE_LOGIN, note=_dumps({"user": userId, **result}), users=[userId])
            return {"user": userId, **result}

        return self._write(run)

    def logins(self) -> dict[str, str]:
        """Workflow user ID -> database login role (team mode; empty on SQLite)."""
        from sqlalchemy import select

        t = schema.tables()
        return dict(self._read(lambda connection: connection.execute(select(t.logins.c.user_id, t.logins.c.login_role)).all()))

    def deactivateUser(self, actingUser: str, userId: str, reason: str) -> dict:
        """Take a person out of the workflow: inactive, their open claims released (each audited), and in team mode
        their login disabled (NOLOGIN when the workflow made it; out of the workers' group in any case). Manager only.

        :return: ``{"user", "released": ["<case> <kind> <index>", ...], "login"}`` (``login`` None without one).
        :raises PermissionDeniedError: not a manager, no reason, oneself, or the last active manager.
        :raises UnknownUserError: not registered or already inactive.
        """
        if not (reason or "").strip():
            raise PermissionDeniedError("Deactivating a user needs a reason for the audit trail.")
        t = schema.tables()

        def run(connection):
            from sqlalchemy import func, select

            self._user(connection, actingUser, (states.ROLE_MANAGER,))
            if userId == actingUser:
                raise PermissionDeniedError("A manager cannot deactivate themselves; another manager must.")
            user = self._user(connection, userId, acting=False)
            if states.ROLE_MANAGER in user["roles"]:
                managers = connection.execute(
                    select(func.count()).select_from(t.userRoles).join(t.users, t.users.c.user_id == t.userRoles.c.user_id)
                    .where(t.userRoles.c.role == states.ROLE_MANAGER, t.users.c.active.is_(True))).scalar()
                if managers <= 1:
                    raise PermissionDeniedError("The last active manager cannot be deactivated.")
            released = []
            held = connection.execute(select(t.slots.c.case_id).where(t.slots.c.user_id == userId, t.slots.c.status == states.SLOT_CLAIMED)
                                      .distinct().order_by(t.slots.c.case_id)).scalars().all()
            for caseId in held:
                case = self._lockCase(connection, caseId)
                slots = [slot for slot in self._slots(connection, caseId) if slot["user_id"] == userId and slot["status"] == states.SLOT_CLAIMED]
                for slot in slots:
                    self._freeSlot(connection, slot)
                    released.append(f"{caseId} {slot['kind']} {slot['slot_index']}")
                self._event(connection, actingUser, states.ACTION_RELEASE, caseId, case["state"], case["state"], case["revision"],
                            note=_dumps({"slots": [f"{slot['kind']} {slot['slot_index']}" for slot in slots], "user": userId,
                                         "reason": f"{userId} deactivated: {reason}"}))
            connection.execute(t.users.update().where(t.users.c.user_id == userId).values(active=False))
            login = pgsecurity.setLoginEnabled(connection, userId, False) if connection.dialect.name == "postgresql" else None
            self._event(connection, actingUser, states.ACTION_DEACTIVATE, note=_dumps({"user": userId, "reason": reason, "released": released,
                                                                                        "login": login}), users=[userId])
            return {"user": userId, "released": released, "login": login}

        return self._write(run)

    def reactivateUser(self, actingUser: str, userId: str, reason: str) -> dict:
        """Bring a deactivated person back (manager only, with a reason); their login works again.

        :return: ``{"user", "login"}``.
        :raises PermissionDeniedError: not a manager or no reason.
        :raises UnknownUserError: not registered.
        :raises WorkflowError: the person is active.
        """
        if not (reason or "").strip():
            raise PermissionDeniedError("Reactivating a user needs a reason for the audit trail.")
        t = schema.tables()

        def run(connection):
            from sqlalchemy import select

            self._user(connection, actingUser, (states.ROLE_MANAGER,))
            row = connection.execute(select(t.users.c.active).where(t.users.c.user_id == userId)).first()
            if row is None:
                raise UnknownUserError(f"User '{userId}' is not registered in the workflow database.")
            if row.active:
                raise WorkflowError(f"User '{userId}' is active.")
            connection.execute(t.users.update().where(t.users.c.user_id == userId).values(active=True))
            login = pgsecurity.setLoginEnabled(connection, userId, True) if connection.dialect.name == "postgresql" else None
            self._event(connection, actingUser, states.ACTION_REACTIVATE, note=_dumps({"user": userId, "reason": reason, "login": login}),
                        users=[userId])
            return {"user": userId, "login": login}

        return self._write(run)

    def changePassword(self, password: str) -> str:
        """Set the password of this session's own database login (team mode); the server sees only its SCRAM verifier.

        :return: the login whose password changed.
        :raises InputError: SQLite, or a password shorter than 8 characters.
        """
        if self.backend != "postgresql":
            raise InputError("Passwords belong to team mode (PostgreSQL); a single-workstation database has no logins.")
        return self._write(pgsecurity.changeOwnPassword, password)

    def identityReport(self) -> dict:
        """How far the recorded identities can be trusted, for the acceptance report.

        :return: ``backend``, ``team_mode``, ``events``, ``authenticated_events`` (made by a person logged in to the
            database as themselves), ``declared_events`` (typed on a workstation, or by the owner acting for someone),
            ``clients_recorded`` (events with the OS account and host), ``authenticated`` (every event authenticated)
            and ``statement`` (one sentence for the report).
        """
        from sqlalchemy import select

        t = schema.tables()

        def run(connection):
            logins = dict(connection.execute(select(t.logins.c.user_id, t.logins.c.login_role)).all())
            rows = connection.execute(select(t.events.c.user_id, t.events.c.db_login, t.events.c.os_user)).all()
            return logins, rows

        logins, rows = self._read(run)
        total = len(rows)
        authenticated = sum(1 for row in rows if row.db_login is not None and logins.get(row.user_id) == row.db_login)
        team = self.backend == "postgresql"
        if not team:
            statement = ("Identities were declared, not authenticated: the workflow ran in single-workstation mode (SQLite), where each "
                         "action records the user ID given with the computer account and host it came from.")
        elif authenticated == total:
            statement = f"Identities were authenticated: all {total} actions were made by people logged in to the database as themselves."
        else:
            statement = (f"Identities were partly authenticated: {authenticated} of {total} actions were made by people logged in to the "
                         f"database as themselves; {total - authenticated} were declared (by the database owner acting for a user, or "
                         "recorded before team mode).")
        return {"backend": self.backend, "team_mode": team, "events": total, "authenticated_events": authenticated,
                "declared_events": total - authenticated, "clients_recorded": sum(1 for row in rows if row.os_user),
                "authenticated": team and authenticated == total, "statement": statement}
