"""Where the Slicer modules keep the workflow database: the URL in the user's settings, the password in the
system keyring, never in the scene.

A parameter node is saved with the scene, and a scene is shared, attached to tickets and kept in backups;
a database password must not travel with it. The modules keep the URL without its password in the user's
``QSettings`` (one value for both modules: they work on the same team database) and hand the password to the
``keyring`` package (Windows Credential Locker, macOS Keychain, Secret Service), an optional dependency.
Without a usable keyring the password lives in memory for this Slicer session only; libpq's own
``~/.pgpass`` and ``PGPASSWORD`` work as they always do.

No Qt here: the settings object is passed in (``qt.QSettings()`` in Slicer, a dict-like object in tests).
"""

import urllib.parse

#: QSettings key of the workflow database URL (without password), shared by AISAnnotator and AISReview.
SETTINGS_KEY = "AISAnnotation/WorkflowDatabaseUrl"
#: Keyring service name under which the passwords are stored (the user name is :func:`secretName`).
KEYRING_SERVICE = "AISAnnotation workflow database"
#: Optional package that reaches the system keyring.
KEYRING_REQUIREMENT = "keyring>=24"

#: Where :meth:`DatabaseSettings.remember` put a password.
PASSWORD_IN_KEYRING = "keyring"
PASSWORD_IN_SESSION = "session"


def _isUrl(text: str) -> bool:
    return "://" in text


def splitPassword(url: str) -> tuple[str, str | None]:
    """The URL without its password, and the password (percent-decoded; None when the URL has none).

    SQLite file paths and URLs without a password come back unchanged.
    """
    url = (url or "").strip()
    if not _isUrl(url):
        return url, None
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url, None
    userInfo, _, hostPort = parts.netloc.rpartition("@")
    user = userInfo.split(":", 1)[0]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}@{hostPort}")), urllib.parse.unquote(parts.password)


def withPassword(url: str, password: str | None) -> str:
    """``url`` with ``password`` put back (percent-encoded); unchanged when there is no password or user."""
    if not password or not _isUrl(url):
        return url
    parts = urllib.parse.urlsplit(url)
    userInfo, at, hostPort = parts.netloc.rpartition("@")
    if not at or not userInfo:
        return url
    user = userInfo.split(":", 1)[0]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:{urllib.parse.quote(password, safe='')}@{hostPort}"))


def secretName(url: str) -> str:
    """The keyring user name of a database URL: ``user@host:port/database`` (no scheme, no password)."""
    parts = urllib.parse.urlsplit(splitPassword(url)[0])
    return f"{parts.netloc}{parts.path}"


def _loadKeyring():
    try:
        import keyring
    except ImportError:
        return None
    return keyring


class DatabaseSettings:
    """The workflow database the user chose, remembered per user and never in the scene.

    :param settings: object with ``value(key, default)`` and ``setValue(key, value)`` (``qt.QSettings()`` in Slicer).
    :param keyringModule: the ``keyring`` module, or None for no keyring; by default it is imported when
        installed. Anything with ``get_password``, ``set_password`` and ``delete_password`` works.
    """

    _DEFAULT = object()

    def __init__(self, settings, keyringModule=_DEFAULT):
        self._settings = settings
        self._keyring = _loadKeyring() if keyringModule is DatabaseSettings._DEFAULT else keyringModule
        self._sessionPasswords = {}
        #: The last thing the keyring refused, in words ("" when it never did): shown to the user by the widget.
        self.keyringProblem = ""

    @property
    def keyringAvailable(self) -> bool:
        """True when passwords can go to the system keyring."""
        return self._keyring is not None

    def useKeyring(self, keyringModule) -> None:
        """Start using a keyring installed after this object was made (e.g. after the user agreed to install it)."""
        self._keyring = keyringModule

    def url(self) -> str:
        """The chosen database without its password ("" when none was chosen: the dataset's own SQLite file)."""
        value = self._settings.value(SETTINGS_KEY, "")
        return str(value or "").strip()

    def remember(self, text: str) -> tuple[str, str | None, str]:
        """Keep the database the user typed: the URL in the settings, a password in the keyring (or this session).

        :param text: SQLite file path or database URL, possibly with a password; empty to forget the choice.
        :return: ``(url without password, where the password went or None, why it is not in the keyring or "")``.
        """
        url, password = splitPassword(text)
        self._settings.setValue(SETTINGS_KEY, url)
        if not password:
            return url, None, ""
        name = secretName(url)
        if self._keyring is not None:
            try:
                self._keyring.set_password(KEYRING_SERVICE, name, password)
            except Exception as error:  # keyring raises its own errors, e.g. no backend on a headless Linux
                self._sessionPasswords[name] = password
                self.keyringProblem = f"The system keyring refused the password ({error})."
                return url, PASSWORD_IN_SESSION, self.keyringProblem
            self._sessionPasswords.pop(name, None)
            return url, PASSWORD_IN_KEYRING, ""
        self._sessionPasswords[name] = password
        return url, PASSWORD_IN_SESSION, "The keyring package is not installed."

    def password(self) -> str | None:
        """The password of the chosen database: this session's, else the keyring's, else None."""
        url = self.url()
        if not _isUrl(url):
            return None
        name = secretName(url)
        if name in self._sessionPasswords:
            return self._sessionPasswords[name]
        if self._keyring is None:
            return None
        try:
            return self._keyring.get_password(KEYRING_SERVICE, name)
        except Exception as error:  # an unusable keyring holds no password; libpq then tries ~/.pgpass
            self.keyringProblem = f"The system keyring could not be read ({error})."
            return None

    def connectionUrl(self) -> str | None:
        """What to open the workflow store with: the URL with its password, or None for the dataset's own database."""
        url = self.url()
        return withPassword(url, self.password()) if url else None

    def forgetPassword(self) -> None:
        """Remove the chosen database's password from this session and from the keyring."""
        url = self.url()
        if not _isUrl(url):
            return
        name = secretName(url)
        self._sessionPasswords.pop(name, None)
        if self._keyring is not None:
            try:
                self._keyring.delete_password(KEYRING_SERVICE, name)
            except Exception as error:  # also raised when nothing was stored, which is fine
                self.keyringProblem = f"The system keyring did not remove a password ({error})."


class MemoryKeyring:
    """A keyring kept in memory (self-tests must never write into the user's system keyring)."""

    def __init__(self):
        self.passwords = {}

    def set_password(self, service, name, password) -> None:
        self.passwords[(service, name)] = password

    def get_password(self, service, name):
        return self.passwords.get((service, name))

    def delete_password(self, service, name) -> None:
        self.passwords.pop((service, name), None)


def memoryDatabaseSettings(url: str = "") -> DatabaseSettings:
    """Database settings that touch neither the user's Slicer settings nor their keyring (self-tests)."""
    database = DatabaseSettings(MemorySettings(), MemoryKeyring())
    if url:
        database.remember(url)
    return database


class MemorySettings:
    """A ``QSettings`` stand-in kept in memory (tests, and self-tests that must not change the user's settings)."""

    def __init__(self, values=None):
        self.values = dict(values or {})

    def value(self, key, default=None):
        return self.values.get(key, default)

    def setValue(self, key, value) -> None:
        self.values[key] = value


def rememberDatabase(database: DatabaseSettings, text: str, installer=None) -> str:
    """Keep the database the user typed (see :meth:`DatabaseSettings.remember`), first offering to install the
    keyring package when the URL carries a password and no keyring is there.

    :param installer: a :class:`~AISCommonLib.dependencies.DependencyInstaller` (None: do not offer).
    :return: one sentence saying what was kept where, for the status line.
    """
    if installer is not None and splitPassword(text)[1] and not database.keyringAvailable:
        if installer.ensure([KEYRING_REQUIREMENT], "Keeping the database password in the system keyring", optional=True):
            database.useKeyring(_loadKeyring())
    url, where, why = database.remember(text)
    if where == PASSWORD_IN_KEYRING:
        return f"Database {url} remembered in your settings; its password is in the system keyring."
    if where == PASSWORD_IN_SESSION:
        return f"Database {url} remembered in your settings; its password is kept for this Slicer session only. {why}"
    return f"Database {url} remembered in your settings." if url else "The dataset's own workflow database is used."


class WorkflowConnectionMixin:
    """What both module logics do with the database choice: keep it, and ask for the packages it needs at first use.

    The logic provides ``database`` (:class:`DatabaseSettings`) and ``installer``
    (:class:`~AISCommonLib.dependencies.DependencyInstaller`).
    """

    def rememberDatabase(self, text: str) -> str:
        """Keep the database choice (URL in the settings, password in the keyring); :return: a sentence saying where."""
        return rememberDatabase(self.database, text, self.installer)

    def ensureWorkflowPackages(self) -> None:
        """SQLAlchemy (and psycopg for PostgreSQL) asked for and installed at first use; nibabel offered once."""
        from . import dependencies

        self.installer.ensure(dependencies.workflowRequirements(self.database.url()), "The workflow database")
        self.ensureNiftiPackages()

    def ensureNiftiPackages(self) -> None:
        """nibabel, the reference NIfTI reader (optional: SimpleITK reads NIfTI without it), offered once."""
        from . import dependencies

        self.installer.ensure(dependencies.NIFTI_REQUIREMENTS, "Reading NIfTI files", optional=True)
