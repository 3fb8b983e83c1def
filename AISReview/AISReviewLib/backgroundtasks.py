"""``ais report`` and ``ais validate`` as background processes of the AISReview module.

Both read every image of the dataset and can take minutes; run inside Slicer they froze it. The widget runs
them as a separate Python process (``gui/taskrunner.py``, a ``QProcess``) and stays responsive, with progress
and Cancel. This file holds what needs no Qt: the command line and its environment, and what the process's
output means (progress lines, the JSON result, the one-sentence error, a cancellation). Cancel writes the
task's cancel file; the command stops at its next progress step, writes nothing and exits 130
(:mod:`AISCommonLib.progresslines`).

The database URL, which may carry a password, goes to the process in its environment (``AIS_DB_URL``), never
on its command line (which every user of the computer can list).
"""

import dataclasses
import datetime
import json
import os
import tempfile
import uuid
from pathlib import Path

import AISCommonLib
from AISCommonLib.progresslines import CANCEL_FILE_VARIABLE, PROGRESS_FORMAT_LINES, PROGRESS_FORMAT_VARIABLE, parseProgressLine

TASK_REPORT = "report"
TASK_VALIDATE = "validate"
#: How ``ais`` exits (``AISCommonLib.cli.main``; a test keeps these equal): 1 means "ran, but the dataset has problems".
EXIT_PROBLEMS = 1
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
#: Environment variable ``ais`` reads the workflow database from (``AISCommonLib.workflow.database``).
DATABASE_URL_VARIABLE = "AIS_DB_URL"
#: Module run with ``python -m``: the ``ais`` command itself.
CLI_MODULE = "AISCommonLib.cli.main"
#: Problems of a validation listed in the panel (all of them are in ``ais validate`` output).
LISTED_PROBLEMS = 20


def libraryFolder() -> Path:
    """The folder holding the ``AISCommonLib`` package (the AISCommon module folder inside Slicer)."""
    return Path(AISCommonLib.__file__).resolve().parent.parent


@dataclasses.dataclass
class TaskCommand:
    """One ``ais`` run: what it is, its arguments after ``python -m``, what to add to the environment.

    :param kind: ``report`` or ``validate``.
    :param arguments: the command line after the Python executable.
    :param environment: variables to set in the process's environment (PYTHONPATH, progress format, database).
    :param outputPath: the file the task writes (the report), or None.
    :param cancelFile: the file whose existence stops the task (in the temporary folder, unique per task).
    """

    kind: str
    arguments: list
    environment: dict
    outputPath: Path | None = None
    cancelFile: Path = dataclasses.field(default_factory=lambda: Path(tempfile.gettempdir()) / f"ais-cancel-{uuid.uuid4().hex}")

    def __post_init__(self):
        self.environment = {**self.environment, CANCEL_FILE_VARIABLE: str(self.cancelFile)}

    def requestCancel(self) -> None:
        """Ask the running command to stop at its next progress step."""
        self.cancelFile.touch()

    def cleanUp(self) -> None:
        """Remove the cancel file once the process has ended."""
        self.cancelFile.unlink(missing_ok=True)

    def commandLine(self, python: str) -> list:
        """The full command line for ``python`` (Slicer's ``PythonSlicer``)."""
        return [str(python), *self.arguments]

    def mergedEnvironment(self, base: dict) -> dict:
        """``base`` (e.g. ``os.environ``) with this task's variables; PYTHONPATH is prepended, not replaced."""
        merged = dict(base)
        for key, value in self.environment.items():
            if key == "PYTHONPATH" and merged.get(key):
                value = value + os.pathsep + merged[key]
            merged[key] = value
        return merged


def _environment(databaseUrl: str | None) -> dict:
    environment = {"PYTHONPATH": str(libraryFolder()), PROGRESS_FORMAT_VARIABLE: PROGRESS_FORMAT_LINES, "PYTHONIOENCODING": "utf-8"}
    if databaseUrl:
        environment[DATABASE_URL_VARIABLE] = databaseUrl
    return environment


def reportTask(datasetRoot, databaseUrl: str | None = None, now: datetime.datetime | None = None) -> TaskCommand:
    """``ais report`` writing a new, timestamped report into ``derivatives/lesions/reports/`` (never overwriting one).

    Region pictures are left out (``--no-snapshots``): they need an offscreen render window of their own.

    :param databaseUrl: the workflow database (with its password), or None for ``$AIS_DB_URL`` / the dataset's own.
    """
    stamp = (now or datetime.datetime.now(datetime.timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    out = Path(datasetRoot) / "derivatives" / "lesions" / "reports" / f"acceptance-{stamp}.html"
    arguments = ["-m", CLI_MODULE, "report", str(datasetRoot), "--out", str(out), "--no-snapshots", "--json"]
    return TaskCommand(TASK_REPORT, arguments, _environment(databaseUrl), out)


def validateTask(datasetRoot) -> TaskCommand:
    """``ais validate`` of the whole dataset (every image read), as JSON."""
    arguments = ["-m", CLI_MODULE, "validate", str(datasetRoot), "--json", "--no-choices"]
    return TaskCommand(TASK_VALIDATE, arguments, _environment(None))


@dataclasses.dataclass
class TaskResult:
    """How a task ended.

    :param finished: the command ran to its end (the dataset may still have problems).
    :param cancelled: the user stopped it.
    :param message: one sentence for the status line.
    :param details: longer text for the panel ("" when there is none).
    :param path: the report written, or None.
    """

    kind: str
    exitCode: int | None
    finished: bool
    cancelled: bool
    message: str
    details: str = ""
    path: Path | None = None


class TaskOutput:
    """What a running task has said so far; feed it the process's output in any chunks.

    :param kind: ``report`` or ``validate``.
    """

    def __init__(self, kind: str):
        self.kind = kind
        self.fraction = 0.0
        self.progressMessage = ""
        self.errorLines: list[str] = []
        self._stdout: list[str] = []
        self._stderrTail = ""

    def feedStderr(self, text: str) -> list[tuple[float, str]]:
        """Take a chunk of stderr; :return: the progress steps it completed (a line split over chunks waits)."""
        lines = (self._stderrTail + text).split("\n")
        self._stderrTail = lines.pop()
        steps = []
        for line in lines:
            line = line.rstrip("\r")
            progress = parseProgressLine(line)
            if progress is not None:
                self.fraction, self.progressMessage = progress
                steps.append(progress)
            elif line.strip():
                self.errorLines.append(line)
        return steps

    def feedStdout(self, text: str) -> None:
        """Take a chunk of stdout (the command's JSON result)."""
        self._stdout.append(text)

    def finish(self, exitCode: int | None, cancelled: bool = False) -> TaskResult:
        """What the ended process means; ``exitCode`` None when it crashed or was killed."""
        if self._stderrTail:
            self.feedStderr("\n")
        if cancelled or exitCode == EXIT_INTERRUPTED:
            return TaskResult(self.kind, exitCode, False, True, f"The {self.kind} was cancelled; nothing was written.")
        data = self._json() if exitCode in (0, EXIT_PROBLEMS) else None
        if data is None:
            errors = [line for line in self.errorLines if line.startswith("ais: error:")]
            reason = errors[-1].removeprefix("ais: error:").strip() if errors else "\n".join(self.errorLines[-5:]) or "no output"
            return TaskResult(self.kind, exitCode, False, False, f"The {self.kind} failed: {reason}")
        if self.kind == TASK_REPORT:
            verdict = "passes acceptance" if data.get("accepted") else "does not pass acceptance yet"
            notes = "\n".join(f"note: {note}" for note in data.get("notes") or [])
            return TaskResult(self.kind, exitCode, True, False, f"Acceptance report written: the dataset {verdict}.",
                              notes, Path(data["html"]) if data.get("html") else None)
        problems = [finding for finding in data.get("findings", []) if finding.get("severity") != "info"]
        lines = [f"{finding.get('severity')}: {finding.get('caseId') or 'dataset'}: {finding.get('message')}" for finding in problems]
        if len(lines) > LISTED_PROBLEMS:
            lines = lines[:LISTED_PROBLEMS] + [f"... and {len(lines) - LISTED_PROBLEMS} more (ais validate lists them all)."]
        return TaskResult(self.kind, exitCode, True, False,
                          f"Validation: {data.get('errors', 0)} error(s), {data.get('warnings', 0)} warning(s).", "\n".join(lines))

    def _json(self):
        text = "".join(self._stdout).strip()
        if not text:
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return None
