"""The workflow store: every client (Slicer modules, ``ais workflow``) routes cases through this class.

One class, :class:`WorkflowStore`, assembled from one part per responsibility so each rule lives in one
small file: :mod:`storebase` (transactions, locks, rows), :mod:`staff` (people, roles, settings),
:mod:`registration` (cases), :mod:`claims` (work assignment), :mod:`reads` (blind reads and their
comparison), :mod:`decisions` (review, arbitration, exclusion), :mod:`training` (trial cases and
qualification) and :mod:`audit` (event log, verification, export). The state machine is in
:mod:`states`, the role rules in :mod:`people`, the tables in :mod:`schema`.

- **Blinding**: :meth:`WorkflowStore.readsVisibleTo` and :meth:`WorkflowStore.readMaskPath` show a read to
  anyone but its author only once both reads of the case are in.
- **Comparison**: the second read is compared at once with the agreement engine on the workflow's own
  concordance rule; a case left in ``awaiting_comparison`` (a client stopped between the two steps) is
  settled by the next :meth:`WorkflowStore.settleComparisons` (reviewers' ``claimNext`` runs it first).
- **Audit trail**: one append-only ``events`` row per action, in the same transaction as the change.
"""

from pathlib import Path

from ..core.errors import InputError
from .audit import AuditMixin
from .claims import ClaimsMixin
from .database import resolveDatabaseUrl
from .decisions import DecisionsMixin
from .identity import IdentityMixin
from .reads import ReadsMixin
from .registration import RegistrationMixin
from .staff import StaffMixin
from .storebase import StoreBase
from .training import TrainingMixin


class WorkflowStore(StaffMixin, RegistrationMixin, ClaimsMixin, ReadsMixin, DecisionsMixin, TrainingMixin, AuditMixin, IdentityMixin,
                    StoreBase):
    """Cases, people, reads, decisions and the audit trail of one dataset's consensus workflow.

    :param url: SQLAlchemy URL (``sqlite:///...`` or ``postgresql+psycopg://...``); see :func:`resolveDatabaseUrl`.
    :param datasetRoot: the BIDS root as this machine sees it; default: the root recorded at initialisation.
    :raises InputError: an unusable URL.
    :raises SchemaVersionError: a database of a newer release.
    """


def openStore(database=None, datasetRoot=None, create: bool = False) -> WorkflowStore:
    """Open the workflow store chosen by :func:`resolveDatabaseUrl`.

    :param create: make a new SQLite database when the file does not exist (``ais workflow init``);
        otherwise a mistyped path is an error instead of a new, empty workflow.
    :raises InputError: no database can be chosen, or the SQLite file does not exist and ``create`` is False.
    """
    url = resolveDatabaseUrl(database, datasetRoot)
    sqlitePath = Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None
    if sqlitePath is not None and not create and not sqlitePath.is_file():
        raise InputError(f"There is no workflow database at '{sqlitePath}'; create it with 'ais workflow init' or check --db.")
    return WorkflowStore(url, datasetRoot=datasetRoot)
