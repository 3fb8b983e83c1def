"""Region pictures drawn by helper processes beside the main one (``ais review-snapshot --workers``).

A region picture costs the same CPU in any process (reslicing, outlines, software OpenGL, PNG), and one
process keeps about 1.6 CPUs busy (its PNG writer thread and the OpenGL threads run beside it), so with 4 or
more CPUs a second process with its own scene and render window nearly halves the time of a case with many
regions; on 2 CPUs it gains little (``ais review-snapshot`` defaults to half the CPUs). The pictures are the
same: each is drawn from the same reads in a scene of its own, and a fresh render window draws what a reused
one does (``Testing/mrml/test_region_pictures.py``, ``Testing/mrml/test_picture_helpers.py``).

How the work is shared: one counter of region indices lives in shared memory, and every process (the main
one too) takes the next index when it is free to draw, so a helper that starts late (Python, slicer-core, its
scene: 1.5-2 s) or runs on a busier core leaves no work behind. A helper reports each picture once its file
is written. When no index is left the main process waits for the helpers; anything a helper took but did not
report (it failed, or stopped answering for :data:`HELPER_SILENCE_S`) the main process draws itself, so the
run still ends with every picture, only later.

Helpers start as fresh interpreters, from a fork server where the platform has one, else spawned
(:func:`~AISCommonLib.core.processes.workerContext`: a fork of the main process would copy its threads and open
files), and receive the loaded case and both reads, so they read no file. Start them from a script or ``ais``;
inside the Slicer application a new interpreter would be Slicer itself.
"""

import dataclasses
import logging
import os
import queue
import signal
import time

import numpy as np

from ..core.errors import AISError
from ..core.processes import workerContext

logger = logging.getLogger(__name__)

#: Seconds the main process waits for a helper's message before it reports progress again (and may be cancelled).
MESSAGE_POLL_S = 0.5
#: A helper silent this long (seconds) while it holds work is stopped, and the main process draws its regions.
HELPER_SILENCE_S = 120.0
#: Seconds a helper gets to end after it was asked to stop (then it is killed).
STOP_TIMEOUT_S = 5.0


@dataclasses.dataclass
class PictureJob:
    """Everything a helper needs to draw the same pictures as the main process.

    :param loaded: the :class:`~AISCommonLib.core.sequences.LoadedCase`.
    :param maskA: read A, bool ``[k, j, i]`` on the DWI grid.
    :param maskB: read B, same grid.
    :param ijkToRas: the reads' 4x4 IJK-to-RAS matrix (mm).
    :param parameters: the :class:`~AISCommonLib.core.agreement.AgreementParameters` of the comparison.
    :param readerIds: pseudonymous IDs of reader A and reader B (captions).
    :param regionIds: the regions to picture, in the order the shared counter indexes them.
    :param labels: region id -> anatomical label name for the captions, or None.
    :param outDir: folder of the pictures.
    :param tileSize: width and height of each view in pixels.
    """

    loaded: object
    maskA: np.ndarray
    maskB: np.ndarray
    ijkToRas: np.ndarray
    parameters: object
    readerIds: tuple
    regionIds: list
    labels: dict | None
    outDir: str
    tileSize: int


class PictureHelpers:
    """Helper processes drawing a case's region pictures beside this one; use as a context manager.

    Start them early: each imports slicer-core and builds its headless application while this process still loads
    the case, then waits for :meth:`assign`. :meth:`claim` is this process's claim function for
    :func:`~AISCommonLib.mrml.regionsnapshot.drawClaimedPictures`: the next free index, then (when none is left)
    the indices of pictures a helper took but did not finish, then None. It reports progress for all processes.

    :param count: helper processes to start (besides this one).
    :param caseId: the case, for messages.
    :param progress: optional ``(fraction, message)`` callable; it may raise ``OperationCancelled``, which stops
        the helpers when the ``with`` block is left.
    """

    def __init__(self, count: int, caseId: str, progress=None):
        context = workerContext()
        self.job = None
        self.total = 0
        self.caseId = caseId
        self.progress = progress
        #: Indices the main process drew or is drawing.
        self.mine = set()
        #: Indices whose pictures a helper wrote.
        self.helperDone = set()
        #: Helper number -> indices it took (as far as its messages arrived).
        self.taken = {}
        #: CPU seconds the helpers that finished used, as they reported them (for benchmarks).
        self.helperCpuSeconds = 0.0
        self._nextIndex = context.Value("i", 0)
        self._messages = context.Queue()
        self._jobs = context.Queue()
        self._takeOver = None
        self._lastHeard = time.monotonic()
        self._processes = {}
        self._stopping = set()
        try:
            for number in range(1, int(count) + 1):
                process = context.Process(target=helperMain, args=(number, self._nextIndex, self._messages, self._jobs), daemon=True,
                                          name=f"ais-pictures-{number}")
                try:
                    process.start()
                except OSError as error:
                    # No process to be had (limits, memory): this process draws the rest, as it would after a failed helper.
                    logger.warning("Could not start a picture helper process for %s (%s); fewer processes draw the pictures.", self.caseId, error)
                    break
                self.taken[number] = set()
                self._processes[number] = process
        except BaseException:
            self.close()
            raise

    def assign(self, job: PictureJob) -> None:
        """Give every helper the job; from now on they take regions from the shared counter."""
        self.job = job
        self.total = len(job.regionIds)
        self._lastHeard = time.monotonic()
        for _ in self._processes:
            self._jobs.put(job)

    def claim(self) -> int | None:
        """The next index for the main process to draw, or None when every picture is drawn or being written."""
        self.poll()
        index = takeNextIndex(self._nextIndex, self.total)
        if index is None:
            if self._takeOver is None:
                self._waitForHelpers()
                self._takeOver = sorted(set(range(self.total)) - self.mine - self.helperDone)
                if self._takeOver:
                    logger.info("This process draws %d region(s) of %s that a helper took but did not finish.", len(self._takeOver),
                                self.caseId)
            if not self._takeOver:
                return None
            index = self._takeOver.pop(0)
        self._report(f"Picturing region {self.job.regionIds[index]} of {self.caseId}")
        self.mine.add(index)
        return index

    def _report(self, message: str) -> None:
        if self.progress:
            done = len(self.mine) + len(self.helperDone)
            self.progress(done / max(self.total, 1), f"{message} ({min(done + 1, self.total)}/{self.total}, {len(self._processes) + 1} processes)")

    def running(self) -> bool:
        """True while any helper process is still running."""
        return any(process.is_alive() for process in self._processes.values())

    def poll(self, timeout: float | None = None) -> bool:
        """Take the helpers' messages; wait up to ``timeout`` seconds for the first. :return: a message came."""
        heard = False
        while True:
            try:
                kind, number, value = self._messages.get(timeout=timeout) if timeout and not heard else self._messages.get_nowait()
            except queue.Empty:
                return heard
            heard = True
            self._lastHeard = time.monotonic()
            if kind == "took":
                self.taken[number].add(int(value))
            elif kind == "done":
                self.helperDone.add(int(value))
            elif kind == "finished":
                self.helperCpuSeconds += float(value)
            elif kind == "error":
                logger.warning("Picture helper process %d of %s failed (this process draws its regions): %s", number, self.caseId, value)

    def _waitForHelpers(self) -> None:
        """Wait for the helpers still holding work; stop the others (still starting, or done) and any silent too long."""
        while True:
            self.poll()
            alive = [number for number, process in self._processes.items() if process.is_alive()]
            busy = [number for number in alive if self.taken[number] - self.helperDone]
            for number in set(alive) - set(busy) - self._stopping:
                # Nothing left to take and nothing of its own unfinished: a helper still starting would only find that out.
                self._processes[number].terminate()
                self._stopping.add(number)
            if not busy:
                break
            if not self.poll(MESSAGE_POLL_S) and time.monotonic() - self._lastHeard > HELPER_SILENCE_S:
                logger.warning("A picture helper process of %s sent nothing for %.0f s; it is stopped and this process draws its regions.",
                               self.caseId, HELPER_SILENCE_S)
                self._stop()
            if self.progress:
                done = len(self.mine) + len(self.helperDone)
                self.progress(done / max(self.total, 1), f"Waiting for the helper processes: {done}/{self.total} pictures of {self.caseId}")
        self._stop()
        self.poll()

    def _stop(self) -> None:
        """Ask every helper still running to stop (it finishes the file it is writing), then wait; kill one that hangs."""
        for process in self._processes.values():
            if process.is_alive():
                process.terminate()
        for process in self._processes.values():
            process.join(STOP_TIMEOUT_S)
            if process.is_alive():
                process.kill()
                process.join()

    def close(self) -> None:
        """Stop the helpers still running (after an error, a cancellation, or when none is needed) and release the queues."""
        self._stop()
        # A job a stopped helper never read would keep the queue's feeder thread (and this process's exit) waiting.
        self._jobs.cancel_join_thread()
        for channel in (self._jobs, self._messages):
            channel.close()
            channel.join_thread()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def takeNextIndex(nextIndex, total: int) -> int | None:
    """Take the next free index from the shared counter (``multiprocessing.Value``), or None when all are taken."""
    with nextIndex.get_lock():
        index = nextIndex.value
        if index >= total:
            return None
        nextIndex.value = index + 1
    return index


#: This helper's state, for its SIGTERM handler.
_helperState = {"drawing": False, "stopRequested": False}


def _onTerminate(signalNumber, frame) -> None:
    """SIGTERM from the main process: before drawing, end at once (nothing is being written); while drawing, take
    no further region (the picture being drawn is written whole, then the helper ends)."""
    if not _helperState["drawing"]:
        os._exit(0)
    _helperState["stopRequested"] = True


def helperMain(number: int, nextIndex, messages, jobs) -> None:
    """A helper process: build a headless application, wait for the job, draw the regions it takes, report each file.

    Messages on ``messages``, each ``(kind, number, value)``: ``took`` with the index before drawing it, ``done``
    with the index once its file is written, ``finished`` with its CPU seconds at the end, ``error`` with a sentence
    before it ends with an error. SIGTERM (the main process stopping it) ends it without leaving a partial file.

    :param number: this helper's number (1, 2, ...), in every message.
    :param jobs: queue holding the :class:`PictureJob` (one per helper).
    :raises AISError: the job's regions are not the ones this scene finds (never expected: same reads, same rules).
    """
    signal.signal(signal.SIGTERM, _onTerminate)
    try:
        from .headless import createHeadlessApplication
        from .regionsnapshot import PictureWriter, drawClaimedPictures, picturePath
        from .reviewscene import loadReview

        app = createHeadlessApplication()
        job = jobs.get()
        review = loadReview(app.scene, job.loaded, job.maskA, job.maskB, job.parameters, job.readerIds, None, job.ijkToRas,
                            regionSegments=False)
        byId = {region.regionId: region for region in review.result.allRegions}
        missing = [regionId for regionId in job.regionIds if regionId not in byId]
        if missing:
            raise AISError(f"The picture helper found no region {missing[0]} in case {job.loaded.case.caseId}.")
        regions = [byId[regionId] for regionId in job.regionIds]

        def claim():
            if _helperState["stopRequested"]:
                return None
            index = takeNextIndex(nextIndex, len(regions))
            if index is not None:
                messages.put(("took", number, index))
            return index

        _helperState["drawing"] = True
        with PictureWriter() as writer:
            for index, region, _, pixels in drawClaimedPictures(app, review, regions, claim, tileSize=(job.tileSize,) * 2, labels=job.labels):
                for written in writer.submit(pixels, picturePath(job.outDir, job.loaded.case.caseId, region.regionId), index):
                    messages.put(("done", number, written))
            for written in writer.finish():
                messages.put(("done", number, written))
        messages.put(("finished", number, time.process_time()))
    except BaseException as error:
        messages.put(("error", number, f"{type(error).__name__}: {error}"))
        raise
