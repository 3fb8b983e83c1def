"""The per-dataset de-identification secret: where it lives (never inside the dataset) and what it keys.

Why a secret at all: a UID or a series key derived by an *unsalted* hash can be reversed by anyone who can
guess the input (scanner UIDs embed dates and times; a study date was recovered from one in under 2 s), and
a date shift derived from public data can be undone. Every value the import derives from an original
identifier therefore goes through HMAC-SHA256 keyed with 32 random bytes that belong to one dataset:

- UIDs: ``2.25.<128 bits of HMAC(secret, "uid:" + uid)>``: the same original UID always maps to the same
  replacement inside one dataset (series stay grouped, re-imports give the same files), and a dataset with
  another secret gets other UIDs.
- Series keys in the manifest: ``HMAC(secret, "series:" + SeriesInstanceUID)``.
- The date offset of a subject: ``HMAC(secret, "date-shift:" + subject label)`` mapped to a shift into the
  past of 1 to 10 years (seconds resolution), the same for every import of that subject, so intervals
  (onset to imaging, between series and sessions) survive.

The dataset only records a random *secret id* (in ``sourcedata/ais_import_manifest.json``). The secret
itself is kept by :class:`SecretStore`: in the operating system's keyring when one is usable (``keyring``
package), else in a file ``<id>.key`` with permissions 0600 in a per-user folder
(``$XDG_CONFIG_HOME/ais-annotation/deid-secrets``, ``~/.config/...``, ``%APPDATA%`` on Windows). The
environment variable ``AIS_DEID_SECRET_DIR`` names another folder and then the file store is used alone
(tests, or a protected folder the dataset managers of a site share). Losing the secret does not endanger
the data; it only means later imports into the same dataset cannot reproduce the same UIDs and dates.
"""

import hashlib
import hmac
import os
import secrets
import stat
import sys
import uuid
from pathlib import Path

from ..core.errors import AISError

#: Environment variable naming the folder of the file store (the keyring is then not used).
SECRET_DIR_ENVIRONMENT_VARIABLE = "AIS_DEID_SECRET_DIR"
KEYRING_SERVICE = "ais-annotation-deid"
SECRET_BYTES = 32
#: The date shift of a subject lies between these many days into the past (seconds resolution).
DATE_SHIFT_MIN_DAYS = 366
DATE_SHIFT_MAX_DAYS = 3653
_SECRET_ID_LENGTH = 32


class DeidentificationKey:
    """The keyed derivations of one dataset's secret (see the module docstring).

    :param secretId: the id recorded in the dataset (hex); never the secret.
    :param secret: 32 random bytes.
    """

    def __init__(self, secretId: str, secret: bytes):
        if len(secret) != SECRET_BYTES:
            raise AISError(f"The de-identification secret {secretId} has {len(secret)} bytes instead of {SECRET_BYTES}.")
        self.secretId = secretId
        self._secret = secret

    def __repr__(self) -> str:  # never print the secret
        return f"DeidentificationKey({self.secretId!r})"

    def digest(self, purpose: str, value: str) -> bytes:
        """HMAC-SHA256 of ``purpose:value``; the purpose keeps derivations for different uses apart."""
        return hmac.new(self._secret, f"{purpose}:{value}".encode(), hashlib.sha256).digest()

    def uid(self, uid: str) -> str:
        """The replacement of an original UID: ``2.25.`` and the decimal of 128 keyed bits (at most 44 characters)."""
        return "2.25." + str(int.from_bytes(self.digest("uid", uid)[:16], "big"))

    def seriesKey(self, seriesInstanceUid: str) -> str:
        """The manifest's key of a series: 20 hex digits, keyed, so the original UID cannot be recovered from it."""
        return self.digest("series", seriesInstanceUid).hex()[:20]

    def contentKey(self, fileDigests) -> str:
        """A keyed fingerprint of a series' original files (their SHA-256 digests, in any order)."""
        return hmac.new(self._secret, "".join(sorted(fileDigests)).encode(), hashlib.sha256).hexdigest()

    def dateShiftSeconds(self, subject: str) -> int:
        """The subject's date shift in seconds, negative (into the past), between 366 and 3653 days.

        :param subject: the BIDS subject label (without ``sub-``): every session of a subject gets the same shift.
        """
        span = (DATE_SHIFT_MAX_DAYS - DATE_SHIFT_MIN_DAYS) * 86400
        value = int.from_bytes(self.digest("date-shift", subject)[:8], "big")
        return -(DATE_SHIFT_MIN_DAYS * 86400 + value % span)


def _userConfigFolder() -> Path:
    if sys.platform.startswith("win"):
        base = os.environ.get("APPDATA") or str(Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = str(Path.home() / "Library" / "Application Support")
    else:
        base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "ais-annotation" / "deid-secrets"


def _usableKeyring():
    """The keyring backend when the ``keyring`` package is installed and has a real backend, else None.

    Headless Linux machines usually have none (``keyring`` then offers its "fail" backend, priority 0).
    """
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        return None
    try:
        backend = keyring.get_keyring()
    except Exception:  # noqa: BLE001 - a broken keyring configuration means "no keyring", the file store is used
        return None
    if isinstance(backend, fail.Keyring) or getattr(backend, "priority", 0) <= 0:
        return None
    return backend


class SecretStore:
    """Where de-identification secrets are kept, outside every dataset.

    :param folder: folder of the file store; default ``$AIS_DEID_SECRET_DIR``, else the per-user config folder.
    :param useKeyring: try the OS keyring first (default: only when no folder was chosen by argument or
        environment variable).
    """

    def __init__(self, folder=None, useKeyring: bool | None = None):
        override = folder or os.environ.get(SECRET_DIR_ENVIRONMENT_VARIABLE)
        self.folder = Path(override).expanduser() if override else _userConfigFolder()
        self._keyring = _usableKeyring() if (useKeyring if useKeyring is not None else not override) else None

    @property
    def description(self) -> str:
        """Where secrets are kept, for messages (a folder path or the keyring's name, no secret)."""
        if self._keyring is not None:
            return f"the system keyring ({type(self._keyring).__name__}, service '{KEYRING_SERVICE}') or '{self.folder}'"
        return f"'{self.folder}'"

    def checkOutside(self, datasetRoot) -> None:
        """:raises AISError: the file store lies inside the dataset, where the secret would travel with the data."""
        root = Path(datasetRoot).resolve()
        folder = self.folder.resolve()
        if folder == root or folder.is_relative_to(root):
            raise AISError(f"The de-identification secret folder '{self.folder}' lies inside the dataset '{datasetRoot}'; "
                           f"set {SECRET_DIR_ENVIRONMENT_VARIABLE} to a folder outside it.")

    def _path(self, secretId: str) -> Path:
        if len(secretId) != _SECRET_ID_LENGTH or any(character not in "0123456789abcdef" for character in secretId):
            raise AISError(f"The de-identification secret id '{secretId}' recorded in the dataset is malformed.")
        return self.folder / f"{secretId}.key"

    def load(self, secretId: str) -> DeidentificationKey | None:
        """The key of ``secretId``, or None when no store holds it.

        :raises AISError: the secret file is readable by other users, or is damaged, or the keyring fails.
        """
        if self._keyring is not None:
            try:
                stored = self._keyring.get_password(KEYRING_SERVICE, secretId)
            except Exception as error:  # noqa: BLE001 - keyring backends raise their own types
                raise AISError(f"The system keyring could not be read ({type(error).__name__}); unlock it or set "
                               f"{SECRET_DIR_ENVIRONMENT_VARIABLE} to a folder for the secret files.") from None
            if stored:
                return DeidentificationKey(secretId, _fromHex(stored, "the system keyring", secretId))
        path = self._path(secretId)
        if not path.is_file():
            return None
        mode = stat.S_IMODE(path.stat().st_mode)
        if os.name == "posix" and mode & 0o077:
            raise AISError(f"The de-identification secret '{path}' can be read by other users (mode {mode:o}); "
                           "run chmod 600 on it before importing.")
        return DeidentificationKey(secretId, _fromHex(path.read_text(encoding="ascii"), f"'{path}'", secretId))

    def create(self) -> DeidentificationKey:
        """A new random key, not stored yet (see :meth:`save`): a failed first import then leaves nothing."""
        return DeidentificationKey(uuid.uuid4().hex, secrets.token_bytes(SECRET_BYTES))

    def save(self, key: DeidentificationKey) -> None:
        """Store a new key: in the keyring when usable, else as a 0600 file in a 0700 folder.

        :raises AISError: the secret cannot be stored.
        """
        text = key._secret.hex()
        if self._keyring is not None:
            try:
                self._keyring.set_password(KEYRING_SERVICE, key.secretId, text)
                return
            except Exception as error:  # noqa: BLE001 - keyring backends raise their own types
                raise AISError(f"The system keyring refused the new de-identification secret ({type(error).__name__}); "
                               f"unlock it or set {SECRET_DIR_ENVIRONMENT_VARIABLE} to a folder for the secret files.") from None
        path = self._path(key.secretId)
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w", encoding="ascii") as handle:
                handle.write(text + "\n")
        except OSError as error:
            raise AISError(f"The de-identification secret could not be written to '{self.folder}' ({error.strerror}).") from None

    def delete(self, key: DeidentificationKey) -> None:
        """Forget a key that :meth:`save` stored for an import that then failed."""
        if self._keyring is not None:
            try:
                self._keyring.delete_password(KEYRING_SERVICE, key.secretId)
            except Exception:  # noqa: BLE001 - nothing stored, nothing to forget
                pass
            return
        self._path(key.secretId).unlink(missing_ok=True)


def _fromHex(text: str, where: str, secretId: str) -> bytes:
    try:
        secret = bytes.fromhex(text.strip())
    except ValueError:
        secret = b""
    if len(secret) != SECRET_BYTES:
        raise AISError(f"The de-identification secret {secretId} in {where} is damaged.")
    return secret
