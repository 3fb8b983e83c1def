"""Writers of one SQLite workflow database take turns in the operating system's lock queue instead of SQLite's sleeps.

SQLite lets one write transaction run at a time. A writer that finds the database busy is left to SQLite's busy
handler, which sleeps and tries again with growing pauses (1, 2, 5, 10 ... 100 ms): with several clients writing at
once the write lock often sits free while every waiter sleeps, and a waiter can lose to newcomers again and again. The
8-client benchmark measured 170 ms of waiting per write transaction that way, with seconds at the tail.

Every write transaction of the store therefore first takes an exclusive ``flock`` on a file beside the database
(``workflow.sqlite-lock``). A blocked ``flock`` costs no processor time and the kernel wakes the waiters the moment the
holder lets go, so the database's own lock is then free. The queue only orders our own writers: anything else that
writes the database (an older release, the ``sqlite3`` shell) still meets SQLite's lock and busy timeout, which stay
in force behind the queue. Where ``fcntl`` does not exist (Windows) the store goes straight to SQLite's lock, as before.
"""

import contextlib
import os
import threading
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: SQLite's own busy handler alone
    fcntl = None

#: Appended to the database file's name (like SQLite's own ``-wal`` and ``-shm``).
LOCK_SUFFIX = "-lock"


class WriteQueueTimeout(Exception):
    """Another client of the store held its turn longer than the wait allowed."""


class WriteQueue:
    """The turn of one SQLite database's writers (see the module docstring).

    :param databasePath: the SQLite file; the lock file is ``<databasePath>-lock`` beside it.
    """

    def __init__(self, databasePath):
        self.path = Path(f"{databasePath}{LOCK_SUFFIX}")

    @property
    def available(self) -> bool:
        """Whether this platform has the lock (POSIX ``flock``)."""
        return fcntl is not None

    @contextlib.contextmanager
    def turn(self, timeoutS: float):
        """Hold the writers' turn for the body (a whole write transaction, commit included).

        Each turn opens its own descriptor, so two threads of one process take turns too (``flock`` belongs to the open
        file, not to the process). A lock file that cannot be opened or locked (a read-only folder, a file system
        without locks) leaves the writers to SQLite's own lock, as on Windows.

        :param timeoutS: how long to wait for the turn, in seconds.
        :raises WriteQueueTimeout: the turn did not come within ``timeoutS``.
        """
        try:
            descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600) if fcntl is not None else None
        except OSError:
            descriptor = None
        if descriptor is None:
            yield
            return
        outcome = _acquire(descriptor, timeoutS)
        if outcome == _TIMEOUT:  # the waiting thread owns the descriptor now and closes it
            raise WriteQueueTimeout(f"The write turn of '{self.path}' did not come within {timeoutS:.0f} s.")
        try:
            yield
        finally:
            if outcome == _HELD:
                fcntl.flock(descriptor, fcntl.LOCK_UN)
            os.close(descriptor)


_HELD, _TIMEOUT, _UNAVAILABLE = "held", "timeout", "unavailable"


def _acquire(descriptor: int, timeoutS: float) -> str:
    """Take the exclusive lock at once when free, else wait for it in a helper thread (a blocked ``flock`` cannot time
    out by itself); a turn that comes after ``timeoutS`` is given back by that thread, which then closes the descriptor.

    :return: ``held``; ``timeout`` after ``timeoutS`` (the descriptor then belongs to the helper thread); ``unavailable``
        when the file system refuses the lock.
    """
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return _HELD
    except BlockingIOError:
        pass
    except OSError:
        return _UNAVAILABLE
    granted, state, guard = threading.Event(), {"outcome": None, "abandoned": False}, threading.Lock()

    def wait():
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            outcome = _HELD
        except OSError:
            outcome = _UNAVAILABLE
        with guard:
            if state["abandoned"]:
                if outcome == _HELD:
                    fcntl.flock(descriptor, fcntl.LOCK_UN)
                os.close(descriptor)
            else:
                state["outcome"] = outcome
        granted.set()

    threading.Thread(target=wait, name="ais-sqlite-write-turn", daemon=True).start()
    granted.wait(timeoutS)
    with guard:
        if state["outcome"] is not None:
            return state["outcome"]
        state["abandoned"] = True
    return _TIMEOUT
