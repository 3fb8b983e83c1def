"""How every ``ais`` command prints: JSON documents, fixed-width tables, progress on stderr."""

import json
import os
import sys

from ..core.errors import OperationCancelled
from ..progresslines import PROGRESS_FORMAT_LINES, PROGRESS_FORMAT_VARIABLE, cancelRequested, formatProgressLine


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


def stderrProgress(fraction: float, message: str) -> None:
    """Progress callback for terminals: one overwritten line on stderr (silent when not a terminal).

    With ``AIS_PROGRESS_FORMAT=lines`` (set by the Slicer modules, which run ``ais`` in the background) every step is
    one machine-readable line instead, and the file named by ``AIS_CANCEL_FILE`` stops the command
    (:mod:`AISCommonLib.progresslines`).

    :raises OperationCancelled: the cancel file exists.
    """
    if cancelRequested():
        raise OperationCancelled("The command was cancelled.")
    if os.environ.get(PROGRESS_FORMAT_VARIABLE) == PROGRESS_FORMAT_LINES:
        sys.stderr.write(formatProgressLine(fraction, message))
        sys.stderr.flush()
    elif sys.stderr.isatty():
        sys.stderr.write(f"\r[{fraction:4.0%}] {message[:70]:<70}")
        sys.stderr.flush()
        if fraction >= 1.0:
            sys.stderr.write("\n")
