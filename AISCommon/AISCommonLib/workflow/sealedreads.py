"""Reads stay sealed until their case is final, then are published under their BIDS names.

A reader's mask under ``derivatives/lesions/<case>/..._desc-<reader>_...`` would be found by the other reader of
the case (and compared, and its author known) while the case is still being read. The workflow therefore records
each read under a random name in ``derivatives/lesions/.sealed-reads/``, hands it out only through the store's
blinding rules, and publishes a copy under the BIDS name when the case is final, in the same recoverable step as
the final mask (staged, committed, renamed; see :mod:`finalfiles`). Where the sealed bytes live depends on the mode:

- **Single workstation (SQLite)**: in the sealed folder itself (a folder only its owner may list). Every reader
  shares the operating-system account, so it keeps reads out of sight, not out of reach of someone who searches the
  disk for them; the report says so.
- **Team mode (PostgreSQL)**: every person runs the client as their own account on their own computer, so a folder
  on a shared disk would not stop the other reader. The mask and sidecar bytes go into the ``read_files`` table in
  the same transaction as the read's row, and nothing of the read is written under the dataset before the case is
  final. Row-level security (see :mod:`pgsecurity`) hands a row only to its author, a manager who reads no slot of
  the case, whoever holds or held its review or arbitration, and anyone once both reads are in (trial cases: to a
  trainee once they submitted their own). The recorded paths stay the same, so events, the hash chain and
  ``verify`` do not change; the bytes are covered by the read row's ``sha256``/``sidecar_sha256`` (which the chain
  covers), and the database refuses a copy that does not hash to them.

Every load of a read goes through :meth:`SealedReadsMixin.localReadFile`: the sealed file on SQLite, a copy
materialised in a private temporary folder (owner-only, removed by ``close()``) on PostgreSQL.
"""

import contextlib
import dataclasses
import hashlib
import json
import os
import secrets
import shutil
import tempfile
import weakref
from pathlib import Path, PurePosixPath

from ..core.atomicio import atomicWritePath, sha256File, writeJsonAtomic
from ..core.cases import Case
from ..core.derivatives import MASK_SUFFIX, PIPELINE_NAME, lesionDerivativesRoot, nextReaderVersion, readerMaskPath, sidecarPathFor
from ..core.errors import AISError
from . import finalfiles, schema
from .errors import BlindingError, WorkflowError

SEALED_FOLDER = ".sealed-reads"
#: The sealed folder as recorded paths name it (relative to the dataset root), on both backends.
SEALED_RECORDED_FOLDER = f"derivatives/{PIPELINE_NAME}/{SEALED_FOLDER}"


def sealedReadPath(datasetRoot) -> Path:
    """A fresh unguessable name for one read in the sealed folder (created owner-only on first use)."""
    folder = lesionDerivativesRoot(datasetRoot) / SEALED_FOLDER
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
    except OSError as error:
        raise AISError(f"Cannot create the sealed reads folder '{folder}': {error.strerror}.") from None
    return folder / sealedReadName()


def sealedReadName() -> str:
    """A fresh unguessable file name for one read's mask (its sidecar takes the same stem)."""
    return f"{secrets.token_hex(16)}{MASK_SUFFIX}"


def isSealed(recordedPath: str) -> bool:
    """Whether a recorded (dataset-relative) path is a sealed read rather than a published file."""
    return f"/{SEALED_FOLDER}/" in f"/{recordedPath}"


@dataclasses.dataclass
class Publication:
    """Where one sealed read goes when its case is final; ``staging`` is None when it is there already."""

    read: dict
    target: Path
    staging: Path | None


def stagePublication(datasetRoot: Path, case: Case, reads: list[dict], localFile) -> list[Publication]:
    """Copy each sealed read of ``case`` (mask and sidecar) to a staging name beside its BIDS name.

    A read whose BIDS name already holds it (an earlier finalisation) is not copied again; a name taken by another
    file (a standalone mask saved meanwhile) moves the copy to the next free version, and its sidecar says so.

    :param reads: read rows (``user_id``, ``mask_path``, ``sha256``, ``version``, ``sidecar_path``).
    :param localFile: the store's function from a recorded read path to a file on this machine
        (:meth:`SealedReadsMixin.localReadFile`).
    :return: one :class:`Publication` per sealed read; promote the staged ones after the commit.
    """
    publications = []
    try:
        for read in reads:
            if not isSealed(read["mask_path"]):
                continue  # recorded before reads were sealed: it already has its BIDS name
            version = read["version"]
            target = readerMaskPath(datasetRoot, case, read["user_id"], version)
            if target.exists() and sha256File(target) == read["sha256"]:
                publications.append(Publication(read, target, None))
                continue
            if target.exists():
                version = nextReaderVersion(datasetRoot, case, read["user_id"])
                target = readerMaskPath(datasetRoot, case, read["user_id"], version)
            publication = Publication(read, target, finalfiles.stagingPath(target))
            with atomicWritePath(publication.staging, overwrite=False) as temporary:
                temporary.write_bytes(localFile(read["mask_path"]).read_bytes())
            publications.append(publication)
            sidecar = json.loads(localFile(read["sidecar_path"]).read_text(encoding="utf-8"))
            writeJsonAtomic(sidecarPathFor(publication.staging), {**sidecar, "Version": version}, overwrite=False)
    except BaseException:
        discard(publications)
        raise
    return publications


def discard(publications: list[Publication]) -> None:
    """Remove the staging copies of a finalisation that did not commit."""
    for publication in publications:
        if publication.staging is not None:
            for path in (publication.staging, sidecarPathFor(publication.staging)):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)


def promoteAll(publications: list[Publication]) -> None:
    """Give the staged copies their BIDS names, after the commit that recorded them."""
    for publication in publications:
        if publication.staging is not None:
            finalfiles.promote(publication.staging, publication.target)


#: Where an export puts the sealed reads a manager may see (under their recorded file names).
EXPORT_FOLDER = "sealed-reads"


class SealedReadsMixin:
    """Where sealed reads are kept and how they are loaded: files on SQLite, ``read_files`` rows in team mode.

    A part of :class:`~AISCommonLib.workflow.store.WorkflowStore`; it relies on the plumbing of
    :class:`~AISCommonLib.workflow.storebase.StoreBase`.
    """

    _privateFolderPath: Path | None = None
    _privateFolderCleanup = None
    #: recorded path -> SHA-256 of the copy of that read file in the private folder (see ``_keptCopy``).
    _localCopies: dict | None = None

    def _newSealedRead(self) -> tuple[Path, str]:
        """Where a new read is written on this machine, and the (dataset-relative) path it is recorded under.

        On SQLite a fresh name in the sealed folder; in team mode a fresh name in this client's private folder, whose
        bytes :meth:`_keepReadFiles` puts into the database with the read (nothing goes under the dataset).
        """
        if self.backend != "postgresql":
            path = sealedReadPath(self.datasetRoot)
            return path, self._relative(path)
        name = sealedReadName()
        return self._privateFolder() / name, f"{SEALED_RECORDED_FOLDER}/{name}"

    @staticmethod
    def _keepReadFiles(connection, caseId: str, userId: str, files: dict[str, Path]) -> None:
        """Team mode: store the bytes of a new read's files in the caller's transaction (the one inserting the read).

        :param files: recorded path -> the file written on this machine. Nothing happens on SQLite.
        """
        if connection.dialect.name != "postgresql":
            return
        t = schema.tables()
        now = schema.utcNow()
        rows = []
        for recorded, local in files.items():
            content = Path(local).read_bytes()
            rows.append({"path": recorded, "case_id": caseId, "user_id": userId, "sha256": hashlib.sha256(content).hexdigest(), "content": content,
                         "created_at": now})
        connection.execute(t.readFiles.insert(), rows)  # one round trip for both files (psycopg pipelines an executemany)

    def localReadFile(self, recorded: str) -> Path:
        """A read's file (mask or sidecar, by its recorded path) as a file on this machine, for loading.

        On SQLite, and for reads published before they were sealed, the file under the dataset. In team mode a copy of
        the database's bytes in this client's private folder (owner-only, removed by :meth:`close`); a read sealed on
        disk before schema version 7 is found there. The callers apply the store's blinding rules first; the
        database applies them again.

        :param recorded: the path as the read records it (``mask_path`` or ``sidecar_path``).
        :return: the local file.
        :raises BlindingError: team mode: the database does not hand this login the file (or does not hold it).
        :raises WorkflowError: team mode: the database copy no longer hashes to what its read recorded.
        """
        if self.backend != "postgresql" or not isSealed(recorded):
            return self.absolutePath(recorded)
        kept = self._keptCopy(recorded)
        if kept is not None:
            return kept
        copy = self._read(lambda connection: _databaseCopy(connection, recorded))
        if copy is None:
            legacy = self.absolutePath(recorded)
            if legacy.is_file():
                return legacy
            raise BlindingError(f"The sealed read file '{recorded}' is not in the workflow database, or this login may not see it yet "
                                "(another reader's read opens once both reads of its case are in).")
        content, expected = copy
        if hashlib.sha256(content).hexdigest() != expected:
            raise WorkflowError(f"The database copy of the read file '{recorded}' no longer has the hash its read recorded: it was changed "
                                "outside the workflow ('ais workflow verify' reports it).")
        target = self._privateFolder() / PurePosixPath(recorded).name
        with atomicWritePath(target, mode=0o600) as temporary:
            temporary.write_bytes(content)
        self._keepCopy(recorded, expected)
        return target

    def _keepCopy(self, recorded: str, digest: str) -> None:
        """Remember that this client's private folder holds the bytes of a read file that hash to ``digest``: the read it
        wrote itself, or one the database handed out and that hashed to what its read records."""
        if self._localCopies is None:
            self._localCopies = {}
        self._localCopies[recorded] = digest

    def _keptCopy(self, recorded: str) -> Path | None:
        """The private copy of a read file this client already holds, while it still hashes to what the read records.

        Read rows never change (workers have no UPDATE on them), so neither does the hash a recorded path must have: a
        review that compares the two reads and then publishes them takes each file out of the database once, not twice,
        and the reader who submitted the second read compares it without taking their own bytes back.
        """
        digest = (self._localCopies or {}).get(recorded)
        if digest is None or self._privateFolderPath is None:
            return None
        path = self._privateFolderPath / PurePosixPath(recorded).name
        try:
            return path if sha256File(path) == digest else None
        except OSError:
            return None

    def _databaseCopyDigests(self) -> dict[str, str]:
        """Team mode, for ``verify``: recorded path -> SHA-256 of each database copy; empty on SQLite.

        Every copy this login may read is re-hashed here; the rest (another reader's read, for a manager who reads the
        case) are hashed by the database (``ais_read_file_digests``), which never hands out their bytes.
        """
        if self.backend != "postgresql":
            return {}
        from sqlalchemy import select

        t = schema.tables()

        def run(connection):
            digests = dict(connection.exec_driver_sql("SELECT path, digest FROM ais_read_file_digests()").all())
            rows = connection.execution_options(stream_results=True, yield_per=16).execute(select(t.readFiles.c.path, t.readFiles.c.content))
            for path, content in rows:
                digests[path] = hashlib.sha256(content).hexdigest()
            return digests

        return self._read(run)

    def _exportSealedReads(self, reads: list[dict], outDir: Path) -> list[Path]:
        """Copy the sealed reads among ``reads`` (mask and sidecar) into ``outDir/sealed-reads/``, under their recorded names.

        :param reads: read rows the exporting manager may see.
        :return: the files written.
        :raises BlindingError: team mode: a read's bytes are not in the database.
        :raises WorkflowError: team mode: a database copy was changed.
        """
        written = []
        for read in reads:
            for key in ("mask_path", "sidecar_path"):
                if not isSealed(read[key]):
                    continue
                target = Path(outDir) / EXPORT_FOLDER / PurePosixPath(read[key]).name
                content = self.localReadFile(read[key]).read_bytes()
                with atomicWritePath(target) as temporary:
                    temporary.write_bytes(content)
                written.append(target)
        return written

    def _privateFolder(self) -> Path:
        """This client's owner-only temporary folder for reads taken out of the database (made on first use)."""
        if self._privateFolderPath is None or not self._privateFolderPath.is_dir():
            folder = tempfile.mkdtemp(prefix="ais-sealed-reads-")  # mode 0700
            # Removed by close(), or when the store is collected or the process exits without closing it.
            self._privateFolderCleanup = weakref.finalize(self, shutil.rmtree, folder, True)
            self._privateFolderPath = Path(folder)
        return self._privateFolderPath

    def close(self) -> None:
        """Remove the private folder of reads taken out of the database, and release the database connections."""
        if self._privateFolderCleanup is not None:
            self._privateFolderCleanup()
        self._privateFolderPath = self._privateFolderCleanup = self._localCopies = None
        super().close()


def _databaseCopy(connection, recorded: str) -> tuple[bytes, str | None] | None:
    """The bytes the database holds for a recorded read path, with the hash the read row records for it; None when the
    login may not see them (or there are none)."""
    from sqlalchemy import or_, select

    t = schema.tables()
    files, reads = t.readFiles, t.reads
    row = connection.execute(
        select(files.c.content, reads.c.mask_path, reads.c.sha256, reads.c.sidecar_sha256)
        .select_from(files.outerjoin(reads, or_(reads.c.mask_path == files.c.path, reads.c.sidecar_path == files.c.path)))
        .where(files.c.path == recorded)).first()
    if row is None:
        return None
    return bytes(row.content), row.sha256 if row.mask_path == recorded else row.sidecar_sha256
