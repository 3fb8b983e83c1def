"""How every ``ais`` command prints: JSON documents, fixed-width tables, progress and notices on stderr.

Progress: the library reports through a plain ``progress(fraction, message)`` callable and never imports a
progress library; :func:`stderrProgress` is that callable for every command. It shows a tqdm bar when stderr is
a terminal, one plain line every :data:`LINE_STEP` of the run or :data:`LINE_INTERVAL_S` seconds when stderr is
piped or logged (no carriage returns, so log files stay readable), and nothing after ``ais --quiet``. A program
that runs ``ais`` and reads its progress (the Slicer modules) asks for machine-readable lines instead
(:mod:`AISCommonLib.progresslines`).
``ais`` (:mod:`main`) sets the mode once per run with :func:`configureProgress` and closes an open bar with
:func:`finishProgress` before it prints the outcome.
"""

import io
import json
import os
import sys
import time

from ..core.errors import OperationCancelled
from ..progresslines import PROGRESS_FORMAT_LINES, PROGRESS_FORMAT_VARIABLE, cancelRequested, formatProgressLine

#: How progress is shown: a live bar, plain periodic lines, or not at all.
PROGRESS_BAR, PROGRESS_LINES, PROGRESS_OFF = "bar", "lines", "off"
PROGRESS_MODES = (PROGRESS_BAR, PROGRESS_LINES, PROGRESS_OFF)
#: Plain-line mode: a line whenever the run advanced by this fraction ...
LINE_STEP = 0.05
#: ... or this many seconds passed since the last line (a slow step still shows it is alive).
LINE_INTERVAL_S = 10.0

_settings = {"mode": None, "label": "ais", "verbose": False}
_current = None

def emitJson(data) -> None:
    """Print machine-readable output: one JSON document on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, allow_nan=False) + "\n")


def formatTable(rows: list[dict], columns: list[str]) -> str:
    """Plain fixed-width table for terminals; ``columns`` picks and orders the keys."""
    cells = [[str(row.get(column, "")) for column in columns] for row in rows]
    widths = [max([len(column)] + [len(line[index]) for line in cells]) for index, column in enumerate(columns)]
    lines = ["  ".join(column.ljust(width) for column, width in zip(columns, widths))]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)) for line in cells]
    return "\n".join(line.rstrip() for line in lines)


def configureProgress(quiet: bool = False, label: str = "ais", verbose: bool = False, mode: str | None = None) -> None:
    """Choose how :func:`stderrProgress` shows the progress of this run.

    :param quiet: show nothing (``ais --quiet``); wins over everything else.
    :param label: what each bar or line starts with, e.g. ``ais seed``.
    :param verbose: plain-line mode prints every update instead of every step.
    :param mode: one of :data:`PROGRESS_MODES`; default: a bar when stderr is a terminal, plain lines when not.
    :raises ValueError: an unknown mode (a programming error).
    """
    if mode is not None and mode not in PROGRESS_MODES:
        raise ValueError(f"Unknown progress mode '{mode}'; use one of {', '.join(PROGRESS_MODES)}.")
    finishProgress()
    _settings.update(mode=PROGRESS_OFF if quiet else mode, label=label, verbose=verbose)


def progressMode(stream=None) -> str:
    """The mode :func:`stderrProgress` uses now on ``stream`` (default: stderr)."""
    if _settings["mode"] is not None:
        return _settings["mode"]
    stream = stream if stream is not None else sys.stderr
    try:
        return PROGRESS_BAR if stream.isatty() else PROGRESS_LINES
    except (AttributeError, ValueError):  # a replaced or closed stream is no terminal
        return PROGRESS_LINES


def isQuiet() -> bool:
    """True after ``--quiet``: informational notices are left out too (warnings and errors never are)."""
    return _settings["mode"] == PROGRESS_OFF


class ProgressDisplay:
    """One run's progress on a stream: a tqdm bar, plain periodic lines, or nothing.

    Call it as the library's ``progress(fraction, message)``; fractions may go back (a new phase restarts at 0).

    :param label: prefix of the bar or of each line, e.g. ``ais seed``.
    :param mode: one of :data:`PROGRESS_MODES`.
    :param stream: where to write (default: stderr at the time of each write).
    :param verbose: plain lines for every update, not every :data:`LINE_STEP`.
    :param clock: seconds, monotonic (replaceable in tests).
    """

    def __init__(self, label: str, mode: str, stream=None, verbose: bool = False, clock=time.monotonic):
        self.label, self.mode, self.verbose, self._clock = label, mode, verbose, clock
        self._stream = stream
        self._bar = None
        self._lastStep = None
        self._lastLineAt = None

    @property
    def stream(self):
        return self._stream if self._stream is not None else sys.stderr

    def __call__(self, fraction: float, message: str) -> None:
        fraction = min(max(float(fraction), 0.0), 1.0)
        if self.mode == PROGRESS_BAR:
            self._showBar(fraction, message)
        elif self.mode == PROGRESS_LINES:
            self._showLine(fraction, message)

    def _showBar(self, fraction: float, message: str) -> None:
        if self._bar is None:
            try:
                from tqdm import tqdm
            except ImportError:  # a Python without tqdm (e.g. Slicer's, running ``ais`` in a terminal): plain lines
                self.mode = PROGRESS_LINES
                self._showLine(fraction, message)
                return

            # miniters=0: a new message refreshes the bar even when the fraction did not move. A terminal that reports
            # no size (a bare pseudo-terminal, some CI runners) would get no bar at all from tqdm: give it 100 x 24.
            sized = _terminalSized(self.stream)
            self._bar = tqdm(total=1.0, desc=self.label, file=self.stream, miniters=0, dynamic_ncols=sized, ncols=None if sized else 100,
                             nrows=None if sized else 24, leave=True,
                             bar_format="{desc} {percentage:3.0f}%|{bar}| {elapsed}<{remaining}{postfix}")
        self._bar.set_postfix_str(message[:60], refresh=False)
        self._bar.update(fraction - self._bar.n)

    def _showLine(self, fraction: float, message: str) -> None:
        step = int(fraction / LINE_STEP + 1e-9)
        now = self._clock()
        due = (self.verbose or self._lastStep is None or step != self._lastStep or fraction >= 1.0
               or now - self._lastLineAt >= LINE_INTERVAL_S)
        if not due:
            return
        self._lastStep, self._lastLineAt = step, now
        self.stream.write(f"{self.label}: {fraction:4.0%} {message}\n")
        self.stream.flush()

    def write(self, text: str) -> None:
        """Print one line on the stream without breaking a live bar."""
        if self._bar is not None:
            self._bar.write(text, file=self.stream)
        else:
            self.stream.write(text + "\n")
            self.stream.flush()

    def close(self) -> None:
        """End the display (a bar stays on screen at its last value)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _terminalSized(stream) -> bool:
    """True when the terminal behind ``stream`` reports its width and height."""
    try:
        size = os.get_terminal_size(stream.fileno())
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return False
    return size.columns > 0 and size.lines > 0


def stderrProgress(fraction: float, message: str) -> None:
    """The library's ``progress(fraction, message)`` callable for every ``ais`` command (see the module text).

    A fraction of 1.0 ends the display; the next call starts a new one (a command with several phases).
    With ``AIS_PROGRESS_FORMAT=lines`` in the environment (the Slicer modules run ``ais`` in the background and read
    them) every step is one machine-readable line instead, whatever the mode; the file named by ``AIS_CANCEL_FILE``
    stops the command (:mod:`AISCommonLib.progresslines`).

    :raises OperationCancelled: the cancel file exists.
    """
    global _current
    if cancelRequested():
        raise OperationCancelled("The command was cancelled.")
    if os.environ.get(PROGRESS_FORMAT_VARIABLE) == PROGRESS_FORMAT_LINES:
        sys.stderr.write(formatProgressLine(fraction, message))
        sys.stderr.flush()
        return
    if _current is None:
        _current = ProgressDisplay(_settings["label"], progressMode(), verbose=_settings["verbose"])
    _current(fraction, message)
    if fraction >= 1.0:
        finishProgress()


def finishProgress() -> None:
    """Close the display of the run, if one is open (before the command prints its outcome or an error)."""
    global _current
    if _current is not None:
        _current.close()
        _current = None


def stderrLine(text: str) -> None:
    """Print a warning or error line on stderr without breaking a live progress bar."""
    if _current is not None:
        _current.write(text)
    else:
        print(text, file=sys.stderr)


def notice(text: str) -> None:
    """Print an informational line on stderr (a summary of what was done); left out after ``--quiet``."""
    if not isQuiet():
        stderrLine(text)
