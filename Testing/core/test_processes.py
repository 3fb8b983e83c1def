"""Worker pools start clean: no descriptor of the caller reaches a worker, so a subprocess run meanwhile cannot hang.

The regression: the report ran the BIDS validator in a thread while its pool forked workers; a worker forked while
``subprocess`` waited for the child's exec kept ``subprocess``'s error pipe open and the report never finished.
"""

import os
import subprocess
import sys
import threading
import time

from AISCommonLib.core.processes import workerContext
from AISCommonLib.report.casework import WorkerPool


def _holds(descriptorAndInode: tuple) -> bool:
    """Whether this process has the pipe open under that number (the number alone may be reused by the worker)."""
    descriptor, inode = descriptorAndInode
    try:
        return os.fstat(descriptor).st_ino == inode
    except OSError:
        return False


def test_workers_do_not_inherit_the_callers_descriptors():
    assert workerContext().get_start_method() != "fork"
    readEnd, writeEnd = os.pipe()
    try:
        with WorkerPool(2) as pool:
            pipe = (writeEnd, os.fstat(writeEnd).st_ino)
            assert pool.map(_holds, [pipe, pipe]) == [False, False]
    finally:
        os.close(readEnd)
        os.close(writeEnd)


def test_a_subprocess_started_in_a_thread_while_workers_start_finishes(monkeypatch):
    """Deterministic: the parent's ends of the child's pipes stay open for a second, as long as the pool takes to start."""
    realForkExec = subprocess._fork_exec
    forked = threading.Event()

    def slowForkExec(*arguments):
        pid = realForkExec(*arguments)
        forked.set()
        time.sleep(1.0)  # the window in which a forked worker would copy the error pipe and the stdout pipe
        return pid

    monkeypatch.setattr(subprocess, "_fork_exec", slowForkExec)
    outcome = {}

    def runChild():
        # Writes more than a pipe holds, as the validator's JSON does on a large dataset.
        completed = subprocess.run([sys.executable, "-c", "print('x' * 200000)"], capture_output=True, text=True, check=False)
        outcome["length"] = len(completed.stdout)

    thread = threading.Thread(target=runChild)
    thread.start()
    assert forked.wait(timeout=60)
    with WorkerPool(2) as pool:
        assert pool.map(abs, [-1, -2]) == [1, 2]
        # As the report does: wait for the thread's result while the workers are still up.
        thread.join(timeout=60)  # a hang, not a speed limit: with forked workers this thread never ends
        assert not thread.is_alive(), "the subprocess never returned: a worker holds its pipes"
    assert outcome["length"] == 200001
