"""Finishing a case as one recoverable step: the final mask (and the published copies of its reads) are written
under staging names, the database commits, then the staging files take their final names.

A crash before the commit leaves only staging files, which the next command removes once they are old enough
to be nobody's work in progress; a crash after the commit leaves a final case whose mask still carries the
staging name, which the next command renames (the recorded events say which hash it must have). The final name is
never taken by an unrecorded file, so a case is never stuck behind "Refusing to overwrite".
"""

import logging
import os
import secrets
import time
from pathlib import Path

from ..core.atomicio import sha256File
from ..core.derivatives import lesionDerivativesRoot, sidecarPathFor
from ..core.errors import AISError

logger = logging.getLogger(__name__)

STAGING_MARK = ".staging-"
#: Staging files of uncommitted finalisations older than this (seconds) belong to no running client.
STALE_AFTER_S = 600.0


def stagingPath(target: Path) -> Path:
    """A fresh hidden staging name beside the final mask ``target``."""
    stem = target.name.removesuffix(".nii.gz")
    return target.with_name(f".{stem}{STAGING_MARK}{secrets.token_hex(4)}.nii.gz")


def finalPathOf(staging: Path) -> Path:
    """The final mask name a staging file stands for."""
    stem = staging.name.removesuffix(".nii.gz").lstrip(".")
    return staging.with_name(stem.split(STAGING_MARK)[0] + ".nii.gz")


def promote(staging: Path, target: Path) -> None:
    """Give the staging mask and its sidecar their final names (never over an existing file).

    Another client's recovery (:func:`recover`) may promote the same files at the same moment; whichever comes
    second finds the work done and succeeds too.

    :raises AISError: the final name is taken by another file or the rename fails.
    """
    for source, destination in ((sidecarPathFor(staging), sidecarPathFor(target)), (staging, target)):
        try:
            os.link(source, destination)
        except FileExistsError:
            if not _sameFile(source, destination):
                raise AISError(f"Cannot give the final mask its name: '{destination}' exists already.") from None
        except FileNotFoundError:
            if destination.exists():
                continue  # promoted meanwhile by another client
            raise AISError(f"Cannot give the final mask its name '{destination}': its staging file '{source.name}' is gone.") from None
        except OSError as error:
            raise AISError(f"Cannot give the final mask its name '{destination}': {error.strerror}.") from None
        try:
            os.unlink(source)
        except FileNotFoundError:
            pass  # removed meanwhile by another client promoting it


def _sameFile(first: Path, second: Path) -> bool:
    """Both names are links to one file (a promotion another client made meanwhile); False if one vanished."""
    try:
        return os.path.samefile(first, second)
    except FileNotFoundError:
        return second.exists() and not first.exists()


def recover(datasetRoot: Path, recordedHashes, relative, caseFolder: Path | None = None) -> list[str]:
    """Finish interrupted finalisations and clear abandoned staging files.

    :param recordedHashes: callable giving dataset-relative path -> the SHA-256s recorded for it (called only
        when a staging file is found: most commands find none).
    :param relative: the store's function from an absolute path to its recorded (dataset-relative) form.
    :param caseFolder: only this case's folder under the derivatives (``sub-01/ses-01``), where its final mask and
        published reads are staged: finishing one case then costs the same at 40 cases as at 10,000 (the whole tree
        holds every case's masks and every sealed read). Default: the whole derivatives tree.
    :return: one sentence per file renamed or removed (also logged).
    """
    folder = lesionDerivativesRoot(datasetRoot)
    if caseFolder is not None:
        folder = folder / caseFolder
    if not folder.is_dir():
        return []
    done = []
    recorded = None
    for staging in sorted(folder.rglob(f".*{STAGING_MARK}*.nii.gz")):
        target = finalPathOf(staging)
        recorded = recorded if recorded is not None else recordedHashes()
        try:
            if not target.exists() and sha256File(staging) in recorded.get(relative(target), ()):
                promote(staging, target)
                done.append(f"Finished the interrupted finalisation of '{target.name}'.")
            elif time.time() - staging.stat().st_mtime > STALE_AFTER_S:
                for path in (staging, sidecarPathFor(staging)):
                    path.unlink(missing_ok=True)
                done.append(f"Removed '{staging.name}', left by a finalisation that never committed.")
        except FileNotFoundError:
            continue  # the client finalising it promoted or discarded it meanwhile
    for message in done:
        logger.warning(message)
    return done
