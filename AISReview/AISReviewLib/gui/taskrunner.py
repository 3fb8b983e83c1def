"""Runs an ``ais`` background task (:mod:`AISReviewLib.backgroundtasks`) in a ``QProcess`` and reports its progress.

Output is read on the main thread as it arrives (Qt signals); nothing touches the scene. Cancel writes the
task's cancel file, so the command stops at its next step and writes nothing; a command that does not stop
within :data:`KILL_AFTER_MS` is killed.
"""

import shutil

import qt

from ..backgroundtasks import TaskOutput

#: How long a cancelled command may take to reach its next progress step before it is killed.
KILL_AFTER_MS = 15000


def pythonSlicer() -> str:
    """Slicer's ``PythonSlicer`` executable (Slicer puts it on the PATH), which runs ``ais`` with Slicer's packages.

    :raises RuntimeError: it is not found (not running inside Slicer).
    """
    path = shutil.which("PythonSlicer")
    if not path:
        raise RuntimeError("PythonSlicer was not found on the PATH; background tasks run only inside 3D Slicer.")
    return path


class TaskRunner:
    """One background task at a time.

    :param onProgress: ``onProgress(fraction, message)`` for each progress step.
    :param onFinished: ``onFinished(TaskResult)`` once the process has ended (also after a cancel or a crash).
    """

    def __init__(self, onProgress, onFinished):
        self._onProgress = onProgress
        self._onFinished = onFinished
        self.process = None
        self.task = None
        self.output = None
        self.cancelled = False
        # The ended process is kept until the next one starts: it must not be deleted inside its own signal.
        self._endedProcess = None

    @property
    def running(self) -> bool:
        return self.process is not None

    def start(self, task, python: str | None = None) -> None:
        """Start ``task`` (a :class:`~AISReviewLib.backgroundtasks.TaskCommand`) with ``python`` (PythonSlicer by default).

        :raises RuntimeError: a task is running already, or the process cannot start.
        """
        if self.running:
            raise RuntimeError(f"A {self.task.kind} is running; wait for it or cancel it first.")
        command = task.commandLine(python or pythonSlicer())
        environment = qt.QProcessEnvironment.systemEnvironment()
        inherited = {"PYTHONPATH": environment.value("PYTHONPATH")} if environment.contains("PYTHONPATH") else {}
        for key, value in task.mergedEnvironment(inherited).items():
            environment.insert(key, value)
        process = qt.QProcess()
        process.setProcessEnvironment(environment)
        process.connect("readyReadStandardError()", self._readStandardError)
        process.connect("readyReadStandardOutput()", self._readStandardOutput)
        process.connect("finished(int,QProcess::ExitStatus)", self._processFinished)
        self.process, self.task, self.output, self.cancelled = process, task, TaskOutput(task.kind), False
        process.start(command[0], command[1:])
        if not process.waitForStarted():
            self.process = None
            task.cleanUp()
            raise RuntimeError(f"Could not start {command[0]}: {process.errorString()}")

    def cancel(self) -> None:
        """Ask the running task to stop; it is killed if it has not stopped after :data:`KILL_AFTER_MS`."""
        if not self.running or self.cancelled:
            return
        self.cancelled = True
        self.task.requestCancel()
        qt.QTimer.singleShot(KILL_AFTER_MS, self._killIfStillRunning)

    def _killIfStillRunning(self) -> None:
        if self.process is not None and self.cancelled:
            self.process.kill()

    def _readStandardError(self) -> None:
        text = bytes(self.process.readAllStandardError().data()).decode("utf-8", errors="replace")
        for fraction, message in self.output.feedStderr(text):
            self._onProgress(fraction, message)

    def _readStandardOutput(self) -> None:
        self.output.feedStdout(bytes(self.process.readAllStandardOutput().data()).decode("utf-8", errors="replace"))

    def _processFinished(self, exitCode, exitStatus) -> None:
        self._readStandardError()
        self._readStandardOutput()
        crashed = exitStatus != qt.QProcess.NormalExit
        result = self.output.finish(None if crashed else exitCode, cancelled=self.cancelled)
        self.task.cleanUp()
        self._endedProcess, self.process = self.process, None
        self._onFinished(result)
