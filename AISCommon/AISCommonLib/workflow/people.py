"""Users, roles and the qualification rules of the consensus (staffing of reads, reviews, arbitration).

Minimums (consensus section 2.6 and 3.1): a reader is a resident or above with at least 5 years of
imaging practice and 2 years of neuroimaging; a reviewer an associate chief physician or above with at
least 5 years of neuroimaging; an arbiter a chief physician with at least 10 years of neuroimaging.
A manager may grant a role below its minimum only with a recorded reason.

Training (consensus section 3.1): when the workflow requires it, a new reader first reads trial cases of
differing lesion size and location, each scored against a reference mask; the reader is qualified for
real cases when the manager-set bar (:data:`DEFAULT_TRAINING`, checked by :func:`evaluateTraining`) is met.
"""

import dataclasses
import math
import re
import statistics

from ..core.errors import InputError
from .states import ROLE_ARBITER, ROLE_MANAGER, ROLE_READER, ROLE_REVIEWER, ROLES

#: Professional titles, lowest first.
TITLES = ("resident", "attending", "associate_chief", "chief")
USER_ID_PATTERN = re.compile(r"^[A-Za-z0-9]{1,32}$")


@dataclasses.dataclass(frozen=True)
class RoleMinimum:
    """Lowest title and experience (years) a role needs."""

    title: str
    yearsImaging: float = 0.0
    yearsNeuroimaging: float = 0.0


ROLE_MINIMUMS = {
    ROLE_READER: RoleMinimum("resident", yearsImaging=5, yearsNeuroimaging=2),
    ROLE_REVIEWER: RoleMinimum("associate_chief", yearsNeuroimaging=5),
    ROLE_ARBITER: RoleMinimum("chief", yearsNeuroimaging=10),
    ROLE_MANAGER: RoleMinimum("resident"),
}


@dataclasses.dataclass(frozen=True)
class Qualification:
    """What the consensus asks to know about a person.

    :param title: one of :data:`TITLES`.
    :param yearsImaging: years of imaging practice.
    :param yearsNeuroimaging: years of neuroimaging practice.
    """

    title: str
    yearsImaging: float
    yearsNeuroimaging: float

    def validate(self) -> None:
        """:raises InputError: unknown title or experience that is negative, not finite or inconsistent."""
        if self.title not in TITLES:
            raise InputError(f"Title '{self.title}' is not known; use one of {', '.join(TITLES)}.")
        for name, value in (("imaging", self.yearsImaging), ("neuroimaging", self.yearsNeuroimaging)):
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0 or value > 80:
                raise InputError(f"Years of {name} practice must be a number between 0 and 80, not {value!r}.")
        if self.yearsNeuroimaging > self.yearsImaging:
            raise InputError("Years of neuroimaging cannot exceed years of imaging practice.")


def validateUserId(userId) -> str:
    """User IDs are pseudonymous letters-and-digits IDs (they may end up in file names).

    :raises InputError: empty, too long, or with other characters.
    """
    if not isinstance(userId, str) or not USER_ID_PATTERN.match(userId):
        raise InputError(f"User ID '{userId}' is not valid: use 1-32 letters and digits (a pseudonymous ID such as R01).")
    return userId


def _requireChoice(value, choices, what: str) -> str:
    """:raises InputError: ``value`` is not one of ``choices`` (named ``what`` in the message)."""
    if value not in choices:
        raise InputError(f"{what} '{value}' is not known; use one of {', '.join(choices)}.")
    return value


def validateRole(role) -> str:
    """:raises InputError: not one of :data:`ROLES`."""
    return _requireChoice(role, ROLES, "Role")


def roleShortfalls(role: str, qualification: Qualification) -> list[str]:
    """What keeps ``qualification`` below the minimum of ``role``.

    :return: one phrase per unmet rule; empty when the person qualifies.
    """
    minimum = ROLE_MINIMUMS[validateRole(role)]
    shortfalls = []
    if TITLES.index(qualification.title) < TITLES.index(minimum.title):
        shortfalls.append(f"title {qualification.title} is below {minimum.title}")
    if qualification.yearsImaging < minimum.yearsImaging:
        shortfalls.append(f"{qualification.yearsImaging:g} years of imaging is below {minimum.yearsImaging:g}")
    if qualification.yearsNeuroimaging < minimum.yearsNeuroimaging:
        shortfalls.append(f"{qualification.yearsNeuroimaging:g} years of neuroimaging is below {minimum.yearsNeuroimaging:g}")
    return shortfalls


# ---------------------------------------------------------------------------------------------------
# Training

#: Lesion size classes of trial cases, smallest first, by total reference volume.
SIZE_CLASSES = ("small", "medium", "large")
#: Upper volume limits (mL, exclusive) of the small and medium classes; larger lesions are large.
SMALL_LESION_MAX_ML = 1.5
MEDIUM_LESION_MAX_ML = 15.0
#: The consensus asks for at least this many trial cases; the bar can raise it, never lower it.
MIN_TRIAL_CASES = 5
#: Location labels a manager gives (e.g. ``left_mca``, ``brainstem``) or derived octants (``LPS``).
LOCATION_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
#: The consensus asks for trial cases of *different* lesion size and location: the bar never asks for fewer
#: than this many size classes, nor fewer locations.
MIN_DIFFERENT_SIZES_AND_LOCATIONS = 2
#: The training bar: whether trial cases are required (on by default: a new reader reads trial cases first
#: unless a manager switches training off with a recorded reason, or qualifies the reader with one), how many
#: (>= 5), mean Dice against the references, total lesions missed or added over all trial reads (None: no
#: limit), median minutes per case (None: no limit), and how many different size classes and locations the
#: scored trial cases must cover (>= 2 each).
DEFAULT_TRAINING = {
    "required": True,
    "min_cases": MIN_TRIAL_CASES,
    "min_mean_dice": 0.7,
    "max_missed_lesions": 0,
    "max_median_minutes": None,
    "min_size_classes": 2,
    "min_locations": 2,
}


def _isInteger(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _isNumber(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def validateTrainingBar(bar: dict) -> dict:
    """Check a complete training bar (defaults merged in).

    :param bar: the keys of :data:`DEFAULT_TRAINING`.
    :return: ``bar`` with defaults for missing keys.
    :raises InputError: an unknown key or a value out of range, e.g. fewer than 5 trial cases.
    """
    unknown = sorted(set(bar) - set(DEFAULT_TRAINING))
    if unknown:
        raise InputError(f"Unknown training settings: {', '.join(unknown)}.")
    bar = {**DEFAULT_TRAINING, **bar}
    if not isinstance(bar["required"], bool):
        raise InputError(f"The training setting 'required' must be true or false, not {bar['required']!r}.")
    if not _isInteger(bar["min_cases"]) or not MIN_TRIAL_CASES <= bar["min_cases"] <= 1000:
        raise InputError(f"The training bar needs a whole number of at least {MIN_TRIAL_CASES} trial cases, not {bar['min_cases']!r}.")
    if not _isNumber(bar["min_mean_dice"]) or not 0.0 <= bar["min_mean_dice"] <= 1.0:
        raise InputError(f"The training bar's mean Dice must lie between 0 and 1, not {bar['min_mean_dice']!r}.")
    if bar["max_missed_lesions"] is not None and (not _isInteger(bar["max_missed_lesions"]) or bar["max_missed_lesions"] < 0):
        raise InputError(f"The training bar's missed lesions must be a whole number of 0 or more (or none), not {bar['max_missed_lesions']!r}.")
    if bar["max_median_minutes"] is not None and (not _isNumber(bar["max_median_minutes"]) or bar["max_median_minutes"] <= 0):
        raise InputError(f"The training bar's median minutes per case must be a positive number (or none), not {bar['max_median_minutes']!r}.")
    least = MIN_DIFFERENT_SIZES_AND_LOCATIONS
    if not _isInteger(bar["min_size_classes"]) or not least <= bar["min_size_classes"] <= len(SIZE_CLASSES):
        raise InputError(f"The training bar's size classes must be a whole number from {least} to {len(SIZE_CLASSES)} (the consensus asks "
                         f"for trial cases of different lesion sizes), not {bar['min_size_classes']!r}.")
    if not _isInteger(bar["min_locations"]) or not least <= bar["min_locations"] <= bar["min_cases"]:
        raise InputError(f"The training bar's locations must be a whole number from {least} to its {bar['min_cases']} trial cases (the "
                         f"consensus asks for trial cases of different lesion locations), not {bar['min_locations']!r}.")
    return bar


def validateSizeClass(sizeClass) -> str:
    """:raises InputError: not one of :data:`SIZE_CLASSES`."""
    return _requireChoice(sizeClass, SIZE_CLASSES, "Lesion size class")


def validateLocation(location) -> str:
    """:raises InputError: empty, longer than 32 characters, or with characters other than letters, digits, _ and -."""
    if not isinstance(location, str) or not LOCATION_PATTERN.match(location):
        raise InputError(f"Lesion location '{location}' is not valid: use 1-32 letters, digits, _ or - (e.g. left_mca).")
    return location


def sizeClassForVolume(volumeMl: float) -> str:
    """The size class of a lesion load: small below 1.5 mL, medium below 15 mL, else large.

    :param volumeMl: total lesion volume of the reference mask (mL).
    """
    if volumeMl < SMALL_LESION_MAX_ML:
        return "small"
    return "medium" if volumeMl < MEDIUM_LESION_MAX_ML else "large"


def octantLabel(offsetRas) -> str:
    """The RAS octant of a point relative to a centre, as three letters (``R``/``L``, ``A``/``P``, ``S``/``I``).

    A location label free of hemisphere and lobe anatomy: it needs no atlas or registration.

    :param offsetRas: the point minus the centre (mm, RAS); zero counts as the positive side.
    """
    return "".join(positive if value >= 0 else negative for value, positive, negative in zip(offsetRas, "RAS", "LPI"))


def rankTrialCases(candidates: list[dict], coveredSizes: set, coveredLocations: set) -> list[dict]:
    """Order the trial cases a trainee may take next: first those adding a size class and a location not
    covered yet, then those adding one of them, then the rest; fewer trainees so far, then oldest, first.

    :param candidates: dicts with ``id``, ``lesion_size_class``, ``lesion_location`` (None: unknown, adds
        nothing) and ``taken`` (trial reads of the case so far).
    :return: the candidates in that order.
    """

    def key(case):
        repeats = (case["lesion_size_class"] is None or case["lesion_size_class"] in coveredSizes) + (
            case["lesion_location"] is None or case["lesion_location"] in coveredLocations)
        return repeats, case["taken"], case["id"]

    return sorted(candidates, key=key)


def evaluateTraining(scores: list[dict], bar: dict) -> dict:
    """Check a trainee's scored trial reads against the training bar.

    Accuracy is the mean Dice against the references (with HD95 and lesion F1 reported), consistency the
    spread of Dice, efficiency the median minutes per case (claim to submission).

    :param scores: one dict per scored trial read: ``dice``, ``hd95_mm`` (None when a mask is empty),
        ``lesion_f1``, ``missed_lesions``, ``duration_seconds`` (None if unknown), ``lesion_size_class``,
        ``lesion_location``.
    :param bar: a complete training bar (see :func:`validateTrainingBar`).
    :return: ``met``, ``shortfalls`` (one phrase each), ``cases``, ``mean_dice``, ``min_dice``, ``dice_sd``,
        ``mean_hd95_mm``, ``mean_lesion_f1``, ``missed_lesions``, ``median_minutes``, ``size_classes``, ``locations``.
    """

    def mean(values):
        values = [value for value in values if value is not None]
        return statistics.fmean(values) if values else None

    dices = [float(score["dice"]) for score in scores]
    minutes = [score["duration_seconds"] / 60.0 for score in scores if score["duration_seconds"] is not None]
    sizes = sorted({score["lesion_size_class"] for score in scores if score["lesion_size_class"]}, key=SIZE_CLASSES.index)
    locations = sorted({score["lesion_location"] for score in scores if score["lesion_location"]})
    missed = sum(int(score["missed_lesions"]) for score in scores)
    result = {
        "cases": len(scores),
        "mean_dice": mean(dices),
        "min_dice": min(dices) if dices else None,
        "dice_sd": statistics.pstdev(dices) if len(dices) > 1 else None,
        "mean_hd95_mm": mean(score["hd95_mm"] for score in scores),
        "mean_lesion_f1": mean(score["lesion_f1"] for score in scores),
        "missed_lesions": missed,
        "median_minutes": statistics.median(minutes) if minutes else None,
        "size_classes": sizes,
        "locations": locations,
    }
    shortfalls = []
    if len(scores) < bar["min_cases"]:
        shortfalls.append(f"{len(scores)} of {bar['min_cases']} trial cases scored")
    if result["mean_dice"] is None or result["mean_dice"] < bar["min_mean_dice"]:
        shortfalls.append("no trial case scored yet" if result["mean_dice"] is None
                          else f"mean Dice {result['mean_dice']:.3f} is below {bar['min_mean_dice']:g}")
    if bar["max_missed_lesions"] is not None and missed > bar["max_missed_lesions"]:
        shortfalls.append(f"{missed} lesions missed or added in total, more than {bar['max_missed_lesions']}")
    if bar["max_median_minutes"] is not None and result["median_minutes"] is not None and result["median_minutes"] > bar["max_median_minutes"]:
        shortfalls.append(f"median {result['median_minutes']:.1f} minutes per case, more than {bar['max_median_minutes']:g}")
    if len(sizes) < bar["min_size_classes"]:
        shortfalls.append(f"{len(sizes)} lesion size class(es) covered ({', '.join(sizes) or 'none'}), {bar['min_size_classes']} needed")
    if len(locations) < bar["min_locations"]:
        shortfalls.append(f"{len(locations)} lesion location(s) covered ({', '.join(locations) or 'none'}), {bar['min_locations']} needed")
    result.update(met=not shortfalls, shortfalls=shortfalls)
    return result
