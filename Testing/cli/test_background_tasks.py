"""Issue 14 A7: `ais report` and `ais validate` as the background processes AISReview runs: command lines,
progress lines, results, errors and Cancel, without Qt (the widget's QProcess feeds the same ``TaskOutput``)."""

import datetime
import os
import subprocess
import sys
from pathlib import Path

from AISCommonLib.cli import main as climain
from AISCommonLib.cli import report as clireport
from AISCommonLib.progresslines import formatProgressLine, parseProgressLine
from AISCommonLib.synthetic.tinycases import writeSimpleCase
from AISCommonLib.workflow.database import DATABASE_URL_VARIABLE
from AISReviewLib import backgroundtasks

SECRET_URL = "postgresql+psycopg://manager:pa55word@db.example.org/stroke"


def start(task, cwd):
    """Start a task the way the widget does, with this Python as ``PythonSlicer``."""
    return subprocess.Popen(task.commandLine(sys.executable), env=task.mergedEnvironment(os.environ), cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_exit_codes_and_variables_match_the_command():
    assert backgroundtasks.EXIT_ERROR == climain.EXIT_ERROR
    assert backgroundtasks.EXIT_INTERRUPTED == climain.EXIT_INTERRUPTED
    assert backgroundtasks.EXIT_PROBLEMS == clireport.EXIT_NOT_ACCEPTED
    assert backgroundtasks.DATABASE_URL_VARIABLE == DATABASE_URL_VARIABLE


def test_progress_lines_round_trip():
    line = formatProgressLine(1.7, "Reading\nsub-01 DWI")
    assert line == "ais-progress 1.0000 Reading sub-01 DWI\n"
    assert parseProgressLine(line.strip()) == (1.0, "Reading sub-01 DWI")
    assert parseProgressLine("ais: error: no such folder") is None
    assert parseProgressLine("ais-progress soon") is None


def test_the_password_travels_in_the_environment_only(tmp_path):
    task = backgroundtasks.reportTask(tmp_path, SECRET_URL, now=datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc))
    assert not any("pa55word" in argument for argument in task.commandLine("PythonSlicer"))
    assert task.outputPath == tmp_path / "derivatives" / "lesions" / "reports" / "acceptance-20260102T030405Z.html"
    environment = task.mergedEnvironment({"PYTHONPATH": "/elsewhere", "HOME": "/home/reader"})
    assert environment[DATABASE_URL_VARIABLE] == SECRET_URL
    assert environment["PYTHONPATH"].split(os.pathsep) == [str(backgroundtasks.libraryFolder()), "/elsewhere"]
    assert environment["HOME"] == "/home/reader"
    assert DATABASE_URL_VARIABLE not in backgroundtasks.validateTask(tmp_path).environment


def test_output_in_arbitrary_chunks():
    output = backgroundtasks.TaskOutput(backgroundtasks.TASK_VALIDATE)
    text = formatProgressLine(0.25, "Checking sub-01") + "WARNING: odd header\n" + formatProgressLine(0.5, "Checking sub-02")
    steps = [step for index in range(0, len(text), 7) for step in output.feedStderr(text[index:index + 7])]
    assert steps == [(0.25, "Checking sub-01"), (0.5, "Checking sub-02")]
    assert output.errorLines == ["WARNING: odd header"]
    output.feedStdout('{"errors": 1, "warnings": 0, "findings": [{"severity": "error", "caseId": "sub-01", "message": "no DWI"}]}')
    result = output.finish(1)
    assert result.finished and not result.cancelled
    assert result.message == "Validation: 1 error(s), 0 warning(s)." and result.details == "error: sub-01: no DWI"


def test_errors_and_cancellation_are_one_sentence():
    output = backgroundtasks.TaskOutput(backgroundtasks.TASK_REPORT)
    output.feedStderr("ais: error: The dataset folder /x does not exist.\n")
    assert output.finish(2).message == "The report failed: The dataset folder /x does not exist."
    assert backgroundtasks.TaskOutput(backgroundtasks.TASK_REPORT).finish(None, cancelled=True).cancelled
    assert backgroundtasks.TaskOutput(backgroundtasks.TASK_REPORT).finish(130).message == "The report was cancelled; nothing was written."
    assert "no output" in backgroundtasks.TaskOutput(backgroundtasks.TASK_REPORT).finish(-11).message


def runToEnd(task, cwd):
    process = start(task, cwd)
    stdout, stderr = process.communicate(timeout=600)
    output = backgroundtasks.TaskOutput(task.kind)
    steps = output.feedStderr(stderr)
    output.feedStdout(stdout)
    return output.finish(process.returncode), steps


def test_validate_runs_in_the_background_with_progress(tmp_path):
    root = tmp_path / "bids"
    writeSimpleCase(root, "01")
    writeSimpleCase(root, "02")
    (root / "sub-02" / "ses-01" / "dwi" / "sub-02_ses-01_dwi.json").unlink()
    result, steps = runToEnd(backgroundtasks.validateTask(root), tmp_path)
    assert result.finished, result.message
    assert result.message.startswith("Validation: ")
    assert "sub-02" in result.details
    fractions = [fraction for fraction, _ in steps]
    assert len(fractions) >= 2 and fractions == sorted(fractions) and 0.0 <= fractions[0] < fractions[-1] <= 1.0


def test_report_runs_in_the_background_and_says_where_it_is(tmp_path):
    root = tmp_path / "bids"
    writeSimpleCase(root, "01")
    task = backgroundtasks.reportTask(root)
    result, steps = runToEnd(task, tmp_path)
    assert result.finished, result.message
    assert result.path == task.outputPath and result.path.is_file()
    assert "does not pass acceptance yet" in result.message
    assert steps and steps[-1][0] == 1.0


def test_cancel_stops_the_report_and_writes_nothing(demoDataset, tmp_path):
    root, _ = demoDataset
    task = backgroundtasks.reportTask(root)
    task.outputPath = tmp_path / "cancelled.html"
    task.arguments[task.arguments.index("--out") + 1] = str(task.outputPath)
    process = start(task, tmp_path)
    output = backgroundtasks.TaskOutput(task.kind)
    while not output.feedStderr(process.stderr.readline()):
        assert process.poll() is None, "the report ended before it reported progress"
    task.requestCancel()  # what the Cancel button does
    stdout, stderr = process.communicate(timeout=600)
    task.cleanUp()
    output.feedStderr(stderr)
    output.feedStdout(stdout)
    result = output.finish(process.returncode)
    assert process.returncode == backgroundtasks.EXIT_INTERRUPTED, stderr
    assert result.cancelled and not result.finished
    assert not task.outputPath.exists() and not Path(str(task.outputPath.with_suffix("")) + "_data").exists()
    assert stdout.strip() == "", "no result is printed for a cancelled report"
    assert not task.cancelFile.exists()
