"""Progress of an ``ais`` command as lines another program can read (the Slicer modules run ``ais report`` and
``ais validate`` as background processes and show this progress with a Cancel button).

With ``AIS_PROGRESS_FORMAT=lines`` in its environment, an ``ais`` command writes each progress step on stderr
as one line ``ais-progress <fraction 0..1> <message>``; otherwise progress is for terminals only.
Writing and reading the line live here, together, so the two sides cannot drift apart.
"""

#: Environment variable that asks ``ais`` for machine-readable progress lines.
PROGRESS_FORMAT_VARIABLE = "AIS_PROGRESS_FORMAT"
PROGRESS_FORMAT_LINES = "lines"
PROGRESS_PREFIX = "ais-progress "


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
