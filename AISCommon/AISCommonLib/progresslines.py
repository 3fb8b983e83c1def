"""Progress of an ``ais`` command as lines another program can read, and a way to cancel it (the Slicer modules
run ``ais report`` and ``ais validate`` as background processes and show this progress with a Cancel button).

With ``AIS_PROGRESS_FORMAT=lines`` in its environment, an ``ais`` command writes each progress step on stderr
as one line ``ais-progress <fraction 0..1> <message>``; otherwise progress is for terminals only. With
``AIS_CANCEL_FILE=<path>``, the command stops at its next progress step once that file exists, the way the
library cancels (``OperationCancelled``: clean up, write nothing, exit 130). A file works on every platform and
through Slicer's ``PythonSlicer`` launcher, where a signal would reach the launcher only.
Writing and reading both live here, together, so the two sides cannot drift apart.
"""

import os

#: Environment variable that asks ``ais`` for machine-readable progress lines.
PROGRESS_FORMAT_VARIABLE = "AIS_PROGRESS_FORMAT"
PROGRESS_FORMAT_LINES = "lines"
PROGRESS_PREFIX = "ais-progress "
#: Environment variable naming the file whose existence asks the command to stop.
CANCEL_FILE_VARIABLE = "AIS_CANCEL_FILE"


def formatProgressLine(fraction: float, message: str) -> str:
    """One progress line (with its newline); the fraction is clamped to 0..1 and the message kept on one line."""
    fraction = min(max(float(fraction), 0.0), 1.0)
    text = " ".join(str(message).split())
    return f"{PROGRESS_PREFIX}{fraction:.4f} {text}\n"


def parseProgressLine(line: str) -> tuple[float, str] | None:
    """``(fraction, message)`` of a progress line, or None for any other line (output, warnings, errors)."""
    if not line.startswith(PROGRESS_PREFIX):
        return None
    number, _, message = line[len(PROGRESS_PREFIX):].strip().partition(" ")
    try:
        fraction = float(number)
    except ValueError:
        return None
    return min(max(fraction, 0.0), 1.0), message


def cancelRequested(environment=None) -> bool:
    """True when the cancel file named in ``AIS_CANCEL_FILE`` (of ``environment``, default ``os.environ``) exists."""
    path = (os.environ if environment is None else environment).get(CANCEL_FILE_VARIABLE)
    return bool(path) and os.path.exists(path)
