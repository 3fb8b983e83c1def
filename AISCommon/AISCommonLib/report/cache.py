"""The report's measure cache: each case's measures computed once and reused while its files stay the same.

An entry is one JSON file named by a key: the SHA-256 of everything the measures depend on (the content hash of
every input file, the concordance rule, the case, and a fingerprint of the code that measures). A changed image,
mask or sidecar, another rule or another version of the code gives another key, so a stale entry is never read; it
is only left behind. Entries are written atomically (temporary file, rename), so a crash or a second report running
at the same time never leaves a half-written one; an unreadable entry is measured again. The folder is safe to
delete at any time.

Where: the user's cache folder, ``$XDG_CACHE_HOME/ais-annotation/report`` (else ``~/.cache/ais-annotation/report``),
or the folder given with ``ais report --cache-dir``. Never inside the dataset: its derivatives are what gets published,
and an entry holds measures of the images (no names, no identifiers, but nothing that belongs in a release either).
Keys cover the files' resolved paths and contents, so one folder serves any number of datasets.
"""

import contextlib
import functools
import hashlib
import json
import os
import tempfile
from pathlib import Path

from ..core.atomicio import writeTextAtomic
from ..core.errors import AISError

#: Bumped when the layout of an entry changes (the code fingerprint covers changes of the measures).
CACHE_FORMAT = 1


def userCacheFolder() -> Path:
    """``$XDG_CACHE_HOME/ais-annotation/report`` (default ``~/.cache``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ais-annotation" / "report"


def _writable(folder: Path) -> bool:
    """True when a file can be created in ``folder`` (created if missing); nothing is left behind."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-"):
            pass
        return True
    except OSError:
        return False


def defaultCacheFolder() -> Path | None:
    """The user's cache folder (:func:`userCacheFolder`) when it can be written, else None (no cache)."""
    folder = userCacheFolder()
    return folder if _writable(folder) else None


@functools.lru_cache(maxsize=1)
def codeFingerprint() -> str:
    """SHA-256 over the source of the code that measures (``core/`` and this package): new code, new keys."""
    digest = hashlib.sha256(f"format {CACHE_FORMAT}".encode())
    library = Path(__file__).resolve().parent.parent
    for path in sorted([*(library / "core").glob("*.py"), *(library / "report").glob("*.py")]):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def cacheKey(document) -> str:
    """The key of a JSON-serialisable description of the inputs."""
    return hashlib.sha256(json.dumps(document, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class MeasureCache:
    """Entries ``<key>.json`` in one folder; ``folder`` None disables the cache (every lookup misses).

    :param folder: where the entries live (created on the first write).
    """

    def __init__(self, folder: Path | None):
        self.folder = Path(folder) if folder else None

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str):
        """The stored value of ``key``, or None (no entry, no cache, or an entry that cannot be read)."""
        if self.folder is None:
            return None
        try:
            document = json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            return None
        if not isinstance(document, dict) or document.get("key") != key or "value" not in document:
            return None
        return document["value"]

    def put(self, key: str, value) -> None:
        """Store ``value`` (JSON-serialisable) under ``key``; a cache that cannot be written is skipped, never raised."""
        if self.folder is None:
            return
        with contextlib.suppress(AISError, OSError):
            writeTextAtomic(self._path(key), json.dumps({"key": key, "value": value}, separators=(",", ":")))
