"""Reads stay sealed until their case is final, then are published under their BIDS names.

A reader's mask under ``derivatives/lesions/<case>/..._desc-<reader>_...`` would be found by the other reader of
the case (and compared, and its author known) while the case is still being read. The workflow therefore writes
each read under a random name in ``derivatives/lesions/.sealed-reads/`` (a folder only its owner may list), hands
it out only through the store's blinding rules, and publishes a copy under the BIDS name when the case is final,
in the same recoverable step as the final mask (staged, committed, renamed; see :mod:`finalfiles`).

On a single workstation (SQLite) every reader shares the operating-system account, so the sealed folder keeps
reads out of sight, not out of reach of someone who searches the disk for them; the report says so.
"""

import contextlib
import dataclasses
import json
import os
import secrets
from pathlib import Path

from ..core.atomicio import atomicWritePath, sha256File, writeJsonAtomic
from ..core.cases import Case
from ..core.derivatives import MASK_SUFFIX, lesionDerivativesRoot, nextReaderVersion, readerMaskPath, sidecarPathFor
from ..core.errors import AISError
from . import finalfiles

SEALED_FOLDER = ".sealed-reads"


def sealedReadPath(datasetRoot) -> Path:
    """A fresh unguessable name for one read in the sealed folder (created owner-only on first use)."""
    folder = lesionDerivativesRoot(datasetRoot) / SEALED_FOLDER
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
    except OSError as error:
        raise AISError(f"Cannot create the sealed reads folder '{folder}': {error.strerror}.") from None
    return folder / f"{secrets.token_hex(16)}{MASK_SUFFIX}"


def isSealed(recordedPath: str) -> bool:
    """Whether a recorded (dataset-relative) path is a sealed read rather than a published file."""
    return f"/{SEALED_FOLDER}/" in f"/{recordedPath}"


@dataclasses.dataclass
class Publication:
    """Where one sealed read goes when its case is final; ``staging`` is None when it is there already."""

    read: dict
    target: Path
    staging: Path | None


def stagePublication(datasetRoot: Path, case: Case, reads: list[dict], absolutePath) -> list[Publication]:
    """Copy each sealed read of ``case`` (mask and sidecar) to a staging name beside its BIDS name.

    A read whose BIDS name already holds it (an earlier finalisation) is not copied again; a name taken by another
    file (a standalone mask saved meanwhile) moves the copy to the next free version, and its sidecar says so.

    :param reads: read rows (``user_id``, ``mask_path``, ``sha256``, ``version``, ``sidecar_path``).
    :param absolutePath: the store's function from a recorded path to a path on this machine.
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
                temporary.write_bytes(absolutePath(read["mask_path"]).read_bytes())
            publications.append(publication)
            sidecar = json.loads(absolutePath(read["sidecar_path"]).read_text(encoding="utf-8"))
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
