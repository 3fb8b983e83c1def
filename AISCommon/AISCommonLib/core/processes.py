"""Worker processes that start clean: no file descriptors, threads or locks copied from the caller.

A forked worker inherits every open descriptor of the parent, including the ones a thread is using at that
moment. The acceptance report ran the BIDS validator in a thread while its worker pool forked: a worker forked
while ``subprocess`` waited for the validator's exec kept the end of ``subprocess``'s private error pipe, so the
report waited for ever (seen on a 250-case dataset). Workers started by a fork server (or spawned where there
is none) are copies of a fresh interpreter instead, whatever the caller is doing.
"""

import multiprocessing


def workerContext():
    """The multiprocessing context for worker pools: ``forkserver`` where the platform has it, else ``spawn``."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
