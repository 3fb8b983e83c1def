"""What a reader's submission records besides the mask: quality scores, artifact flags, notes, active time.

The AISAnnotator widget collects these while the reader works; :func:`buildReadParameters` turns them
into the JSON-serialisable ``parameters`` of :meth:`AISCommonLib.workflow.store.WorkflowStore.submitRead`
(kept in the mask's sidecar), so every client records a read the same way.
"""

import dataclasses
import json
import math
import time

from .errors import InputError

#: Sequences the reader scores on the 5-point Likert scale (consensus section 2.1).
LIKERT_SEQUENCES = ("dwi", "adc", "eadc", "flair")
#: Likert scores below this make a case a candidate for exclusion (consensus: exclude Likert < 3).
MIN_ACCEPTABLE_LIKERT = 3
#: Artifact flags a reader can set while screening (consensus section 3.2).
ARTIFACT_FLAGS = ("motion", "susceptibility", "deformation", "signal_inhomogeneity")
#: How the mask was made: seeded by the ADC threshold then edited, or drawn by hand.
METHOD_SEEDED = "adc-threshold-seed+manual"
METHOD_MANUAL = "manual"


@dataclasses.dataclass(frozen=True)
class ReadNote:
    """A reader's note on an ambiguous region.

    :param label: short label shown in the views (e.g. ``N1``).
    :param text: the note.
    :param ras: position ``(r, a, s)`` in mm (RAS), or None for a note about the whole case.
    """

    label: str
    text: str
    ras: tuple | None

    def toDict(self) -> dict:
        return {"label": self.label, "text": self.text, "ras": None if self.ras is None else [round(float(value), 3) for value in self.ras]}


def likertOrNone(score) -> int | None:
    """A Likert score as stored: 1-5, or None for "not scored" (0 or None).

    :raises InputError: not an integer between 0 and 5.
    """
    if score is None or score == 0:
        return None
    if isinstance(score, bool) or not isinstance(score, (int, float)) or score != int(score) or not 1 <= score <= 5:
        raise InputError(f"A Likert score must be an integer from 1 to 5 (0: not scored), not {score!r}.")
    return int(score)


def lowQualitySequences(likert: dict) -> list[str]:
    """Sequences scored below :data:`MIN_ACCEPTABLE_LIKERT` (unscored ones are not listed), in :data:`LIKERT_SEQUENCES` order.

    :param likert: sequence key -> score (0 or None: not scored).
    """
    return [key for key in LIKERT_SEQUENCES if (likertOrNone(likert.get(key)) or MIN_ACCEPTABLE_LIKERT) < MIN_ACCEPTABLE_LIKERT]


def buildReadParameters(likert: dict, artifacts: dict, notes: list, activeSeconds: float | None, seedSummary: dict | None = None,
                        hints: list | None = None) -> dict:
    """The ``parameters`` dict of a read: quality, notes, active time, seed settings and the hints shown.

    :param likert: sequence key (:data:`LIKERT_SEQUENCES`) -> score 1-5, 0 or None when not scored.
    :param artifacts: flag (:data:`ARTIFACT_FLAGS`) -> bool.
    :param notes: :class:`ReadNote` list.
    :param activeSeconds: time the reader actively spent on the case (s); None when nobody measured it (the command
        line), so the time from claim to submission stands in for it.
    :param seedSummary: the seed's summary (``SeedResult.summary``) when the mask started from a seed.
    :param hints: the :class:`~AISCommonLib.core.hints.Hint` list shown before submitting (kept as warnings).
    :return: a JSON-serialisable dict.
    :raises InputError: unknown sequence or flag, a score out of range, a negative or non-finite time.
    """
    unknown = sorted(set(likert) - set(LIKERT_SEQUENCES)) + sorted(set(artifacts) - set(ARTIFACT_FLAGS))
    if unknown:
        raise InputError(f"Unknown quality items {', '.join(unknown)}; use {', '.join(LIKERT_SEQUENCES + ARTIFACT_FLAGS)}.")
    if activeSeconds is not None and (not isinstance(activeSeconds, (int, float)) or not math.isfinite(activeSeconds) or activeSeconds < 0):
        raise InputError(f"The active time must be a non-negative number of seconds, not {activeSeconds!r}.")
    scores = {key: likertOrNone(likert.get(key)) for key in LIKERT_SEQUENCES}
    parameters = {
        "quality": {
            "likert": scores,
            "below_acceptable": lowQualitySequences(scores),
            "artifacts": [flag for flag in ARTIFACT_FLAGS if artifacts.get(flag)],
        },
        "notes": [note.toDict() for note in notes],
        "active_seconds": None if activeSeconds is None else round(float(activeSeconds), 1),
        "seed": seedSummary,
        "hints": [{"kind": hint.kind, "region": hint.region.regionId, "volume_ml": hint.region.volumeMl, "measured": hint.measured}
                  for hint in hints or []],
    }
    try:
        json.dumps(parameters, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise InputError(f"The read parameters cannot be stored as JSON ({error}).") from None
    return parameters


class ActiveTimer:
    """Time on task: seconds accumulated over the periods between :meth:`start` and :meth:`stop`.

    :param seconds: time already accumulated (e.g. restored from a saved scene).
    :param clock: monotonic clock in seconds (default ``time.monotonic``).
    """

    def __init__(self, seconds: float = 0.0, clock=time.monotonic):
        self._clock = clock
        self._accumulated = float(seconds)
        self._since = None

    @property
    def running(self) -> bool:
        return self._since is not None

    def start(self) -> None:
        """Start counting (no effect when already counting)."""
        if self._since is None:
            self._since = self._clock()

    def stop(self) -> float:
        """Stop counting; :return: the accumulated seconds."""
        if self._since is not None:
            self._accumulated += max(0.0, self._clock() - self._since)
            self._since = None
        return self._accumulated

    def reset(self, seconds: float = 0.0) -> None:
        """Stop and set the accumulated time."""
        self._since = None
        self._accumulated = float(seconds)

    @property
    def seconds(self) -> float:
        """Accumulated seconds, the running period included."""
        running = max(0.0, self._clock() - self._since) if self._since is not None else 0.0
        return self._accumulated + running
