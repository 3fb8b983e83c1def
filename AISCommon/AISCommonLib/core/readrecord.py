"""What a reader's submission records besides the mask: quality scores, artifact flags, notes, lesion attributes, time.

The AISAnnotator widget collects these while the reader works; :func:`buildReadParameters` turns them
into the JSON-serialisable ``parameters`` of :meth:`AISCommonLib.workflow.store.WorkflowStore.submitRead`
(kept in the mask's sidecar), so every client records a read the same way.

**Quality is scored per sequence and per criterion** (consensus section 2.1: a 5-point Likert score; the
criteria are what makes an image unreadable: noise, motion, artifact, contrast). A reader must score every
criterion of each sequence in :data:`REQUIRED_LIKERT_SEQUENCES` that the case has before submitting (DWI,
ADC and FLAIR carry the reading; eADC is computed from them; T1w/T2w may be scored). A single score for a
sequence (``{"dwi": 4}``, or ``--likert dwi=4``) means the reader judged every criterion at that level.
Records keep ``likert`` per sequence (the weakest criterion, as records made before criteria existed
stored it, so both read the same way) and ``likert_criteria`` per sequence and criterion.
"""

import dataclasses
import json
import math
import time

from .errors import InputError

#: Sequences of the consensus reading, scored on the 5-point Likert scale (consensus section 2.1; the module's score boxes).
LIKERT_SEQUENCES = ("dwi", "adc", "eadc", "flair")
#: Every sequence a reader may score: T1w/T2w too, when the case has them.
SCORED_SEQUENCES = LIKERT_SEQUENCES + ("t1w", "t2w")
#: Sequences whose every criterion must be scored before submitting, when the case has them.
REQUIRED_LIKERT_SEQUENCES = ("dwi", "adc", "flair")
#: What each score judges: noise, motion, artifact (susceptibility, aliasing, inhomogeneity), lesion-tissue contrast.
LIKERT_CRITERIA = ("noise", "motion", "artifact", "contrast")
#: Likert scores below this make a case a candidate for exclusion (consensus: exclude Likert < 3).
MIN_ACCEPTABLE_LIKERT = 3
#: Artifact flags a reader can set while screening (consensus section 3.2).
ARTIFACT_FLAGS = ("motion", "susceptibility", "deformation", "signal_inhomogeneity")
#: How the mask was made: seeded by the ADC threshold then edited, started from an AI prediction, or drawn by hand.
METHOD_SEEDED = "adc-threshold-seed+manual"
METHOD_PREDICTION = "ai-prediction+manual"
METHOD_MANUAL = "manual"
#: The ADC-threshold seed as written by ``ais seed`` (and the demo): a starting point, not a reader's read.
METHOD_SEED = "adc-threshold-seed"


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


def isSeedMethod(method) -> bool:
    """Whether a mask made by ``method`` is a seed (a starting point) rather than a reader's read.

    A method is a chain of steps joined by ``+`` (``adc-threshold-seed+manual``: seeded, then edited by hand);
    the mask is a seed when its last step is one (``adc-threshold-seed``, or any step ending in ``seed``), so a
    seed nobody edited never counts as a read. An empty or missing method is not a seed (see :func:`isReaderRead`).
    """
    steps = str(method or "").strip().lower().split("+")
    return steps[-1].strip().endswith("seed")


def isReaderRead(sidecar: dict) -> bool:
    """Whether a reader mask's sidecar says it is a reader's read: it names a ``Reader`` and a ``Method`` that is
    not a seed (:func:`isSeedMethod`). A sidecar without a method does not say how the mask was made, so it is no
    read either (the acceptance report names such masks).
    """
    method = sidecar.get("Method") if isinstance(sidecar, dict) else None
    return bool(sidecar.get("Reader")) and isinstance(method, str) and bool(method.strip()) and not isSeedMethod(method)


def likertOrNone(score) -> int | None:
    """A Likert score as stored: 1-5, or None for "not scored" (0 or None).

    :raises InputError: not an integer between 0 and 5.
    """
    if score is None or score == 0:
        return None
    if isinstance(score, bool) or not isinstance(score, (int, float)) or score != int(score) or not 1 <= score <= 5:
        raise InputError(f"A Likert score must be an integer from 1 to 5 (0: not scored), not {score!r}.")
    return int(score)


def likertCriteria(likert: dict) -> dict:
    """Scores per sequence and criterion from what a client gives.

    :param likert: sequence -> a score (every criterion of that sequence) or ``{criterion: score}``; 0 or None: not scored.
    :return: ``{sequence: {criterion: 1-5 or None}}`` for every sequence of :data:`SCORED_SEQUENCES`.
    :raises InputError: an unknown sequence or criterion, or a score out of range.
    """
    unknown = sorted(set(likert) - set(SCORED_SEQUENCES))
    if unknown:
        raise InputError(f"Unknown quality items {', '.join(unknown)}; use {', '.join(SCORED_SEQUENCES + ARTIFACT_FLAGS)}.")
    scores = {}
    for sequence in SCORED_SEQUENCES:
        given = likert.get(sequence)
        if isinstance(given, dict):
            wrong = sorted(set(given) - set(LIKERT_CRITERIA))
            if wrong:
                raise InputError(f"Unknown quality criteria {', '.join(map(str, wrong))} for {sequence}; use {', '.join(LIKERT_CRITERIA)}.")
            scores[sequence] = {criterion: likertOrNone(given.get(criterion)) for criterion in LIKERT_CRITERIA}
        else:
            score = likertOrNone(given)
            scores[sequence] = dict.fromkeys(LIKERT_CRITERIA, score)
    return scores


def combineLikert(sequenceLevel: dict, criterionLevel: dict) -> dict:
    """One score sheet from a quick score per sequence and optional scores per criterion (the annotator's two panels).

    A criterion scored on its own wins; an unscored criterion takes its sequence's score, so a reader who scores
    DWI 4 and only DWI motion 2 records ``dwi: {noise: 4, motion: 2, artifact: 4, contrast: 4}``.

    :param sequenceLevel: sequence -> 0-5 (0: not scored).
    :param criterionLevel: sequence -> ``{criterion: 0-5}``.
    :return: sequence -> ``{criterion: score or None}`` for every sequence of either input.
    """
    combined = {}
    for sequence in dict.fromkeys([*sequenceLevel, *criterionLevel]):
        overall = likertOrNone(sequenceLevel.get(sequence))
        own = criterionLevel.get(sequence) or {}
        combined[sequence] = {criterion: likertOrNone(own.get(criterion)) or overall for criterion in LIKERT_CRITERIA}
    return combined


def sequenceScores(criteria: dict) -> dict:
    """Each sequence's score: its weakest scored criterion (one unreadable aspect makes the image unreadable), None if unscored."""
    return {sequence: min((score for score in (criteria.get(sequence) or {}).values() if score is not None), default=None)
            for sequence in SCORED_SEQUENCES}


def requiredLikertSequences(available=None) -> list[str]:
    """The sequences a reader must score: :data:`REQUIRED_LIKERT_SEQUENCES` that the case has (all of them when unknown)."""
    return [key for key in REQUIRED_LIKERT_SEQUENCES if available is None or key in available]


def missingLikert(criteria: dict, available=None) -> list[str]:
    """What is still unscored before submitting, as ``sequence.criterion`` (e.g. ``flair.motion``).

    :param criteria: from :func:`likertCriteria`. :param available: the case's sequence keys, or None.
    """
    return [f"{sequence}.{criterion}" for sequence in requiredLikertSequences(available) for criterion in LIKERT_CRITERIA
            if (criteria.get(sequence) or {}).get(criterion) is None]


def lowQualitySequences(likert: dict) -> list[str]:
    """Sequences scored below :data:`MIN_ACCEPTABLE_LIKERT` (unscored ones are not listed), in :data:`SCORED_SEQUENCES` order.

    :param likert: sequence key -> score, or -> ``{criterion: score}`` (0 or None: not scored).
    """
    scores = sequenceScores(likertCriteria(likert))
    return [key for key in SCORED_SEQUENCES if (scores[key] or MIN_ACCEPTABLE_LIKERT) < MIN_ACCEPTABLE_LIKERT]


def lowQualityCriteria(criteria: dict) -> list[str]:
    """``sequence.criterion`` scored below :data:`MIN_ACCEPTABLE_LIKERT`, e.g. ``dwi.motion``."""
    return [f"{sequence}.{criterion}" for sequence in SCORED_SEQUENCES for criterion in LIKERT_CRITERIA
            if ((criteria.get(sequence) or {}).get(criterion) or MIN_ACCEPTABLE_LIKERT) < MIN_ACCEPTABLE_LIKERT]


def readMethod(seedSummary: dict | None) -> str:
    """How a submitted mask was made, from what it started from: an AI prediction, the ADC seed, or nothing."""
    if not seedSummary:
        return METHOD_MANUAL
    return METHOD_PREDICTION if seedSummary.get("source") == "prediction" else METHOD_SEEDED


def buildReadParameters(likert: dict, artifacts: dict, notes: list, activeSeconds: float | None, seedSummary: dict | None = None,
                        hints: list | None = None, lesions: dict | None = None, sequences=None) -> dict:
    """The ``parameters`` dict of a read: quality, notes, lesion attributes, active time, seed settings and the hints shown.

    :param likert: sequence key (:data:`SCORED_SEQUENCES`) -> a score 1-5 for every criterion, or ``{criterion: score}``
        (:data:`LIKERT_CRITERIA`); 0 or None when not scored.
    :param artifacts: flag (:data:`ARTIFACT_FLAGS`) -> bool.
    :param notes: :class:`ReadNote` list.
    :param activeSeconds: time the reader actively spent on the case (s); None when nobody measured it (the command
        line), so the time from claim to submission stands in for it.
    :param seedSummary: the seed's summary (``SeedResult.summary``) when the mask started from a seed, or the origin of
        an AI prediction (``source: prediction``) when it started from one.
    :param hints: the :class:`~AISCommonLib.core.hints.Hint` list shown before submitting (kept as warnings).
    :param lesions: per-lesion attributes tied to the mask, from
        :func:`~AISCommonLib.core.lesionattributes.placeLesionAttributes`, or None.
    :param sequences: the case's sequence keys (what the reader had on screen); every criterion of the
        :data:`REQUIRED_LIKERT_SEQUENCES` among them must be scored. None: all of them.
    :return: a JSON-serialisable dict.
    :raises InputError: unknown sequence, criterion or flag, a score out of range, an unscored required criterion,
        a negative or non-finite time.
    """
    unknownFlags = sorted(set(artifacts) - set(ARTIFACT_FLAGS))
    if unknownFlags:
        raise InputError(f"Unknown quality items {', '.join(unknownFlags)}; use {', '.join(SCORED_SEQUENCES + ARTIFACT_FLAGS)}.")
    criteria = likertCriteria(likert)
    missing = missingLikert(criteria, sequences)
    if missing:
        raise InputError(f"Score the image quality before submitting: {', '.join(missing)} not scored (1-5 per sequence and "
                         f"criterion: {', '.join(LIKERT_CRITERIA)}; one score per sequence covers all its criteria).")
    if activeSeconds is not None and (not isinstance(activeSeconds, (int, float)) or not math.isfinite(activeSeconds) or activeSeconds < 0):
        raise InputError(f"The active time must be a non-negative number of seconds, not {activeSeconds!r}.")
    scores = sequenceScores(criteria)
    parameters = {
        "quality": {
            "likert": scores,
            "likert_criteria": {sequence: values for sequence, values in criteria.items() if any(value is not None for value in values.values())},
            "below_acceptable": [key for key in SCORED_SEQUENCES if (scores[key] or MIN_ACCEPTABLE_LIKERT) < MIN_ACCEPTABLE_LIKERT],
            "below_acceptable_criteria": lowQualityCriteria(criteria),
            "artifacts": [flag for flag in ARTIFACT_FLAGS if artifacts.get(flag)],
        },
        "notes": [note.toDict() for note in notes],
        "lesions": list((lesions or {}).get("lesions") or []),
        # None: nobody tied attributes to the mask's lesions (not "every lesion described").
        "unattributed_lesions": None if lesions is None else list(lesions.get("unattributed_lesions") or []),
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
