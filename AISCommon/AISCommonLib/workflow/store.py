"""The workflow store: every client (Slicer modules, ``ais workflow``) routes cases through this class.

One class, :class:`WorkflowStore`, assembled from one part per responsibility so each rule lives in one
small file: :mod:`storebase` (transactions, locks, rows), :mod:`staff` (people, roles, settings),
:mod:`registration` (cases), :mod:`claims` (work assignment), :mod:`reads` (blind reads and their
comparison), :mod:`sealedreads` (where sealed reads live and how they are loaded), :mod:`readnotes` (what readers noted, for those who decide), :mod:`panel` (arbitration
panels), :mod:`decisions` (review, arbitration, exclusion), :mod:`training` (trial cases and
qualification) and :mod:`audit` (event log, verification, export). The state machine is in
:mod:`states`, the role rules in :mod:`people`, the tables in :mod:`schema`.

- **Blinding**: :meth:`WorkflowStore.readsVisibleTo` and :meth:`WorkflowStore.readMaskPath` show a read to
  anyone but its author only once both reads of the case are in; reads stay sealed (files on SQLite, database rows
  under row-level security in team mode) until the case is final (:mod:`sealedreads`).
- **Comparison**: the second read is compared at once with the agreement engine on the workflow's own
  concordance rule; a case left in ``awaiting_comparison`` (a client stopped between the two steps) is
  settled by the next :meth:`WorkflowStore.settleComparisons` (reviewers' ``claimNext`` runs it first).
- **Audit trail**: one append-only ``events`` row per action, in the same transaction as the change.
"""

import logging
from pathlib import Path

from ..core.errors import AISError, InputError
from .audit import AuditMixin
from .claims import ClaimsMixin
from .database import resolveDatabaseUrl
from .decisions import DecisionsMixin
from .identity import IdentityMixin
from .panel import PanelMixin
from .readnotes import ReadNotesMixin
from .reads import ReadsMixin
from .registration import RegistrationMixin
from .sealedreads import SealedReadsMixin
from .staff import StaffMixin
from .storebase import StoreBase
from .training import TrainingMixin
from .writequeue import LOCK_SUFFIX

logger = logging.getLogger(__name__)


class WorkflowStore(StaffMixin, RegistrationMixin, ClaimsMixin, ReadsMixin, ReadNotesMixin, DecisionsMixin, PanelMixin, TrainingMixin, AuditMixin, IdentityMixin,
                    SealedReadsMixin, StoreBase):
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
    store = WorkflowStore(url, datasetRoot=datasetRoot)
    if store.settings().get("dataset_root") or datasetRoot is not None:
        try:
            store.recoverFinalFiles()
        except (AISError, OSError) as error:
            logger.warning("Interrupted finalisations could not be checked (%s).", error)
    return store


def createWorkflow(database, datasetRoot, managerId: str, qualification, concordance=None, training=None, login: str | None = None,
                   password: str | None = None) -> tuple["WorkflowStore", bool]:
    """Create (or reopen) the workflow of a dataset and register its first manager, all or nothing.

    Everything that can be checked is checked before a database is touched; a new SQLite file that the
    initialisation then fails in is removed again, so a failed ``init`` never leaves an empty workflow behind.

    :param login: team mode: the manager's database login role to create (see :meth:`WorkflowStore.initialise`).
    :param password: that login's password (only its SCRAM verifier reaches the server).
    :return: ``(store, created now)``; the caller closes the store.
    :raises InputError: a bad manager ID, qualification, dataset root or rule (nothing created).
    """
    from . import people

    people.validateUserId(managerId)
    qualification.validate()
    root = Path(datasetRoot)
    if not root.is_dir():
        raise InputError(f"The dataset root '{root}' is not a folder.")
    url = resolveDatabaseUrl(database, root)
    sqlitePath = Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None
    newFile = sqlitePath is not None and not sqlitePath.exists()
    store = None
    try:
        store = openStore(database, root, create=True)
        created = store.initialise(root, managerId, qualification, concordance=concordance, training=training, login=login, password=password)
        return store, created
    except BaseException:
        if store is not None:
            store.close()
        if newFile:
            for path in (sqlitePath, Path(f"{sqlitePath}-wal"), Path(f"{sqlitePath}-shm"), sqlitePath.with_name(sqlitePath.name + "-journal"),
                         Path(f"{sqlitePath}{LOCK_SUFFIX}")):
                path.unlink(missing_ok=True)
        raise
