"""Errors of the workflow store; each message is one English sentence naming the user or case."""

from ..core.errors import AISError


class WorkflowError(AISError):
    """A workflow action was refused; nothing was changed."""


class UnknownUserError(WorkflowError):
    """The acting or named user is not registered (or is deactivated)."""


class UnknownCaseError(WorkflowError):
    """The case is not registered in the workflow."""


class PermissionDeniedError(WorkflowError):
    """The user lacks the role, the qualification or the assignment the action needs."""


class BlindingError(PermissionDeniedError):
    """A reader asked for another reader's mask before both reads of the case were submitted."""


class ConflictOfInterestError(PermissionDeniedError):
    """The same person would read a case twice, or review or arbitrate a case they read or reviewed."""


class IllegalTransitionError(WorkflowError):
    """The action is not allowed in the case's current state."""


class StaleRevisionError(WorkflowError):
    """The client acted on an older revision of the case than the stored one (optimistic concurrency)."""


class SchemaVersionError(WorkflowError):
    """The database schema is newer than this software, or is not a workflow database."""


class DatabaseError(WorkflowError):
    """The database cannot be reached or refused the operation."""
