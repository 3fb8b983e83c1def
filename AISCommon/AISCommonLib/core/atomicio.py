"""Atomic file writes: a reader either sees the old file, the complete new file, or nothing.

Every output of the library goes through here (temporary file in the target folder, fsync, rename),
so a crash or a full disk never leaves a half-written mask or sidecar behind.
"""

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path

from .errors import AISError, OutputExistsError


def _fullSuffix(path: Path) -> str:
    """``.nii.gz`` for ``x.nii.gz``: writers such as nibabel pick the format from the whole suffix."""
    return "".join(path.suffixes[-2:]) if path.name.endswith(".nii.gz") else path.suffix


@contextlib.contextmanager
def atomicWritePath(path: Path, overwrite: bool = True, mode: int | None = None):
    """Yield a temporary path beside ``path``; on success it is renamed over ``path``.

    :param overwrite: when False, refuse if ``path`` exists (checked again at the rename, which uses
        a hard link so a concurrent writer cannot be overwritten either).
    :param mode: file permissions (e.g. ``0o600`` for a private key); default: what a plain open() gives.
    :raises OutputExistsError: ``overwrite`` is False and the target exists.
    :raises AISError: the folder cannot be written, or the disk filled up or failed while writing (nothing is
        left behind: the temporary file is removed).
    """
    path = Path(path)
    if not overwrite and path.exists():
        raise OutputExistsError(f"Refusing to overwrite '{path}': it already exists.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporaryName = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + _fullSuffix(path), dir=path.parent)
        os.close(handle)
    except OSError as error:
        raise AISError(f"Cannot write into '{path.parent}': {error.strerror}.") from None
    temporaryPath = Path(temporaryName)
    try:
        # mkstemp creates 0600; a shared dataset needs the permissions a plain open() would give.
        os.chmod(temporaryPath, mode if mode is not None else 0o666 & ~_currentUmask())
        yield temporaryPath
        with open(temporaryPath, "rb") as written:
            os.fsync(written.fileno())
        if overwrite:
            os.replace(temporaryPath, path)
        else:
            try:
                os.link(temporaryPath, path)
            except FileExistsError:
                raise OutputExistsError(f"Refusing to overwrite '{path}': it was created while writing.") from None
            temporaryPath.unlink()
    except OSError as error:
        temporaryPath.unlink(missing_ok=True)
        # A full disk (ENOSPC), a quota or an I/O error: one sentence, nothing half-written left.
        raise AISError(f"Cannot write '{path}': {error.strerror or error}. Nothing was written.") from None
    except BaseException:
        temporaryPath.unlink(missing_ok=True)
        raise


def _currentUmask() -> int:
    """The process umask, read without changing it where Linux allows (other threads may be creating files)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask


def writeTextAtomic(path, text: str, overwrite: bool = True, mode: int | None = None) -> None:
    """Write UTF-8 text atomically (``mode``: see :func:`atomicWritePath`)."""
    with atomicWritePath(Path(path), overwrite, mode) as temporaryPath:
        temporaryPath.write_text(text, encoding="utf-8")


def writeJsonAtomic(path, data, overwrite: bool = True) -> None:
    """Write JSON (indented, keys in insertion order, trailing newline) atomically."""
    writeTextAtomic(path, json.dumps(data, indent=2, allow_nan=False) + "\n", overwrite)


def sha256File(path) -> str:
    """SHA-256 of a file's bytes, hex; read in chunks so large series do not fill memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
