"""Shared pieces of the workflow-store tests: a throwaway PostgreSQL server, datasets, staffed stores.

The PostgreSQL server is Debian's ``postgresql`` package, initialised in a temporary folder and listening
on a free loopback port; the ``postgres`` superuser logs in without a password (trust), every other login
with its password (SCRAM), as at a site. One server per test process (started on first use, stopped and
removed at exit); each store gets its own schema. When the server cannot start, tests skip with the reason,
unless ``AIS_REQUIRE_POSTGRES`` is set (CI): then they fail.

Team mode (:func:`teamDatabase`): the superuser creates the workflow and the manager's login, the manager
logs in as that login and creates the others'; each person then connects with their own login and password.
"""

import atexit
import contextlib
import glob
import os
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import numpy as np
import pytest
from testfiles import saveNifti

from AISCommonLib.synthetic.tinycases import rotationAffine, simpleHead, writeSimpleCase

__all__ = ["rotationAffine", "saveNifti", "writeSimpleCase"]  # re-exported: Testing/mrml has a conftest too

BACKENDS = ("sqlite", "postgresql")
MANAGER = "M01"
READERS = ("R01", "R02", "R03", "R04")
REVIEWERS = ("V01", "V02")
ARBITER = "A01"
#: (title, years of imaging, years of neuroimaging) that meet each role's minimum.
QUALIFIED = {"reader": ("resident", 6, 3), "reviewer": ("associate_chief", 15, 8), "arbiter": ("chief", 25, 15), "manager": ("chief", 20, 12)}


class PostgresServer:
    """A throwaway PostgreSQL cluster; ``url(schema)`` gives a SQLAlchemy URL whose search_path is ``schema``."""

    def __init__(self, durable: bool = False):
        self.durable = durable
        self.folder = None
        self.port = None
        self.error = None
        self._asPostgres = []

    def binDir(self) -> Path:
        candidates = []
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            candidates.append(subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True).stdout.strip())
        candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
        for candidate in candidates:
            if candidate and (Path(candidate) / "initdb").is_file() and (Path(candidate) / "pg_ctl").is_file():
                return Path(candidate)
        raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) were not found; install Debian's postgresql package.")

    def start(self) -> None:
        binDir = self.binDir()
        self.folder = Path(tempfile.mkdtemp(prefix="ais-pg-"))
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root: the cluster belongs to the postgres system user.
            import pwd

            account = pwd.getpwnam("postgres")
            os.chown(self.folder, account.pw_uid, account.pw_gid)
            self._asPostgres = ["runuser", "-u", "postgres", "--"]
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        data = self.folder / "data"
        self._run([str(binDir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
        # The superuser (the tests' owner) needs no password; the people's logins do, as at a site.
        (data / "pg_hba.conf").write_text("local all all trust\nhost all postgres 127.0.0.1/32 trust\n"
                                          "host all all 127.0.0.1/32 scram-sha-256\n")
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} -c max_connections=200"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run([str(binDir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(self.folder / "server.log"), "-w", "-t", "60", "start"])
        self._binDir = binDir

    def _run(self, command) -> None:
        result = subprocess.run(self._asPostgres + command, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{Path(command[0]).name} failed: {(result.stderr or result.stdout).strip()[-500:]}")

    def stop(self) -> None:
        if self.folder is None:
            return
        with contextlib.suppress(Exception):
            self._run([str(self._binDir / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None

    def baseUrl(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, schemaName: str) -> str:
        """A URL for a fresh schema of the cluster's ``postgres`` database."""
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True) as connection:
            connection.execute(f'CREATE SCHEMA "{schemaName}"')
        return f"{self.baseUrl()}?options=-csearch_path%3D{schemaName}"


_server: PostgresServer | None = None


def postgresServer() -> PostgresServer:
    """The process's PostgreSQL server, started on first use; skips (or fails in CI) when it cannot start."""
    global _server
    if _server is None:
        _server = PostgresServer()
        try:
            _server.start()
        except Exception as error:  # noqa: BLE001 - any failure to start is reported the same way
            _server.error = str(error)
            _server.stop()
        atexit.register(_server.stop)
    if _server.error:
        if os.environ.get("AIS_REQUIRE_POSTGRES"):
            pytest.fail(f"AIS_REQUIRE_POSTGRES is set but the PostgreSQL test server could not start: {_server.error}")
        pytest.skip(f"PostgreSQL test server unavailable: {_server.error}")
    return _server


def databaseUrl(backend: str, folder: Path) -> str:
    """A fresh, empty database of ``backend`` for one test."""
    if backend == "sqlite":
        return "sqlite:///" + str(folder / "workflow.sqlite")
    return postgresServer().url("t" + uuid.uuid4().hex[:12])


_TEMPLATES: dict[int, Path] = {}


def makeDataset(root: Path, count: int) -> Path:
    """A BIDS dataset of ``count`` simple cases (sub-01 ... ), copied from a per-process template."""
    if count not in _TEMPLATES:
        template = Path(tempfile.mkdtemp(prefix="ais-wf-template-")) / "bids"
        for index in range(1, count + 1):
            writeSimpleCase(template, f"{index:02d}", "01")
        atexit.register(shutil.rmtree, template.parent, True)
        _TEMPLATES[count] = template
    shutil.copytree(_TEMPLATES[count], root)
    return root


def openStore(url: str, root: Path | None = None):
    """A store on ``url`` for the dataset at ``root``."""
    from AISCommonLib.workflow.store import WorkflowStore

    return WorkflowStore(url, datasetRoot=root)


@contextlib.contextmanager
def staffedStore(backend: str, folder: Path, cases: int = 1, register: bool = True, participantLabels=None):
    """An open store on a fresh ``backend`` database over a dataset of ``cases`` simple cases, staffed (see
    :func:`staff`) and, with ``register``, its cases registered; ``store.root`` and ``store.url`` are set."""
    root = makeDataset(folder / "bids", cases)
    url = databaseUrl(backend, folder)
    store = openStore(url, root)
    try:
        staff(store, root)
        if register:
            store.registerCases(MANAGER, participantLabels=participantLabels)
        store.root = root
        yield store
    finally:
        store.close()


def staff(store, root: Path, training: bool = False) -> None:
    """Initialise the store for ``root`` and register the standard team (all qualified)."""
    from AISCommonLib.workflow.people import Qualification

    store.initialise(root, MANAGER, Qualification(*QUALIFIED["manager"]), concordance={"min_extent_mm3": 0.0}, training={"required": training})
    for users, role in ((READERS, "reader"), (REVIEWERS, "reviewer"), ((ARBITER,), "arbiter")):
        for userId in users:
            store.addUser(MANAGER, userId, Qualification(*QUALIFIED[role]))
            store.grantRole(MANAGER, userId, role)


#: Password of every test login (team mode).
PASSWORD = "not-a-real-secret-9"
#: The people of :func:`teamDatabase` and their roles.
TEAM = {MANAGER: "manager", "R01": "reader", "R02": "reader", "V01": "reviewer", ARBITER: "arbiter"}


def schemaOf(url: str) -> str:
    """The schema of a :meth:`PostgresServer.url`."""
    return url.rsplit("%3D", 1)[1]


def loginUrl(url: str, login: str, password: str | None = PASSWORD) -> str:
    """``url`` (the superuser's) with another login, and its password unless None (then libpq finds it: .pgpass, PGPASSWORD)."""
    credentials = login if password is None else f"{login}:{password}"
    return re.sub(r"://[^@/]*@", f"://{credentials}@", url, count=1)


def teamDatabase(root: Path, url: str, training: bool = False) -> dict:
    """Team mode on ``url``: the superuser initialises the workflow with the manager's login; the manager, logged in
    as themselves, adds R01, R02, V01 and A01 with their own logins (``<schema>_<id>``) and grants their roles.

    :return: ``{"logins": {userId: login}, "urls": {userId: url with password}, "admin": url}``.
    """
    from AISCommonLib.workflow.people import Qualification

    logins = {userId: f"{schemaOf(url)}_{userId.lower()}" for userId in TEAM}
    urls = {userId: loginUrl(url, login) for userId, login in logins.items()}
    with openStore(url, root) as admin:
        admin.initialise(root, MANAGER, Qualification(*QUALIFIED["manager"]), concordance={"min_extent_mm3": 0.0},
                         training={"required": training}, login=logins[MANAGER], password=PASSWORD)
    with openStore(urls[MANAGER], root) as manager:
        for userId, role in TEAM.items():
            if userId != MANAGER:
                manager.addUser(MANAGER, userId, Qualification(*QUALIFIED[role]), login=logins[userId], password=PASSWORD)
                manager.grantRole(MANAGER, userId, role)
    return {"logins": logins, "urls": urls, "admin": url}


def replaceReadBytes(store, recorded: str, content: bytes) -> None:
    """Replace the bytes of a recorded read file where they live, as someone with the disk or a superuser login could:
    the sealed file on SQLite, the ``read_files`` row in team mode (PostgreSQL; ``store`` connects as the owner)."""
    if store.backend == "sqlite":
        store.absolutePath(recorded).write_bytes(content)
        return
    with store._engine.begin() as connection:
        changed = connection.exec_driver_sql("UPDATE read_files SET content = %(content)s WHERE path = %(path)s",
                                             {"content": content, "path": recorded}).rowcount
    assert changed == 1, f"no database copy of {recorded}"


def readBytes(store, recorded: str) -> bytes:
    """The bytes of a recorded read file (the owner's view: the file on SQLite, the database copy in team mode)."""
    return store.localReadFile(recorded).read_bytes()


def truthMask(root: Path, caseId: str) -> tuple[np.ndarray, np.ndarray]:
    """The simple case's lesion truth ``[k, j, i]`` and affine (every case of :func:`makeDataset` is the same head)."""
    lesion = simpleHead()[3].transpose(2, 1, 0)
    return lesion.copy(), rotationAffine()


def readerMasks(root: Path, caseId: str, concordant: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Two reads of a simple case: nearly identical (concordant) or one with an extra lesion the other missed."""
    lesion, _ = truthMask(root, caseId)
    first = lesion.copy()
    second = lesion.copy()
    if concordant:
        second[tuple(np.argwhere(lesion)[0])] = False  # one voxel less: still concordant
    else:
        second[2:4, 30:33, 28:31] = True  # a lesion only reader B drew: missed by A -> discordant
    return first, second


def fileState(root: Path) -> dict[str, int]:
    """Every file under ``root`` with its size: to assert that a refused action wrote nothing."""
    return {str(path.relative_to(root)): path.stat().st_size for path in sorted(root.rglob("*")) if path.is_file() and "workflow.sqlite" not in path.name}


@contextlib.contextmanager
def unchanged(store, root: Path):
    """Assert that the block changes neither the database nor the dataset's files."""
    before, files = store.snapshot(), fileState(root)
    yield
    assert store.snapshot() == before
    assert fileState(root) == files


def concurrentWorker(url: str, root: str, userId: str, role: str, barrier, results, deadline: float) -> None:
    """One client process: claim and finish work as ``role`` until none is left (reviewers wait for reads).

    Puts ``(userId, [(action, caseId), ...], error or None)`` on ``results``.
    """
    import time

    from AISCommonLib.workflow.errors import WorkflowError

    done = []
    store = None
    try:
        store = openStore(url, Path(root))
        barrier.wait(timeout=60)
        while time.monotonic() < deadline:
            claim = store.claimNext(userId, role)
            if claim is None:
                if role == "reader" or all(case["state"] in ("final", "excluded") for case in store.cases()):
                    break
                time.sleep(0.02)
                continue
            caseId = claim["case_id"]
            if not claim["resumed"]:
                done.append(("claim", caseId))
            try:
                if role == "reader":
                    concordant = int(caseId[4:6]) % 2 == 0
                    masks = readerMasks(Path(root), caseId, concordant)
                    store.submitRead(userId, caseId, masks[claim["slot_index"] - 1])
                    done.append(("submit", caseId))
                else:
                    regions = store.case(caseId)["comparison"]["discordant_regions"]
                    store.review(userId, caseId, {region["id"]: "keep" for region in regions})
                    done.append(("review", caseId))
            except WorkflowError:
                # The same person finished this claim from another client first: refused, nothing written.
                done.append(("refused", caseId))
        results.put((userId, done, None))
    except Exception as error:  # noqa: BLE001 - reported to the parent, which fails the test
        results.put((userId, done, f"{type(error).__name__}: {error}"))
    finally:
        if store is not None:
            store.close()
