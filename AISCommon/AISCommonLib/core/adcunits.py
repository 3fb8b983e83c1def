"""ADC units: detect how a file stores ADC, convert to 1e-6 mm^2/s, and show thresholds in the file's unit.

Scanners and tools store ADC as 1e-6 mm^2/s integers (700), 1e-3 mm^2/s floats (0.7) or mm^2/s floats
(0.0007); um^2/s is the same number as 1e-6 mm^2/s. The units are 1000x apart, so the median of brain
ADC (about 700-1000e-6 mm^2/s for parenchyma, more with CSF) fits exactly one of them. Guessing wrong
would silently ruin a seed, so a value that fits none is an error, never a guess.
"""

import dataclasses

import numpy as np

from .errors import AdcUnitError


@dataclasses.dataclass(frozen=True)
class AdcUnit:
    """One way of storing ADC.

    :param key: short name used on the command line and in sidecars.
    :param label: how the unit is written for people.
    :param toMicro: factor that converts a stored value to 1e-6 mm^2/s.
    """

    key: str
    label: str
    toMicro: float

    def fromMm2PerS(self, valueMm2PerS: float) -> float:
        """Express a value given in mm^2/s in this unit."""
        return valueMm2PerS * 1e6 / self.toMicro

    def format(self, valueMm2PerS: float) -> str:
        """A threshold as a user should read it: in this unit, with the unit."""
        return f"{self.fromMm2PerS(valueMm2PerS):.6g} {self.label}"


MICRO = AdcUnit("1e-6", "x 1e-6 mm^2/s", 1.0)
MILLI = AdcUnit("1e-3", "x 1e-3 mm^2/s", 1e3)
SI = AdcUnit("mm2/s", "mm^2/s", 1e6)
UNITS = {unit.key: unit for unit in (MICRO, MILLI, SI)}
#: Names people type for the same units.
ALIASES = {"um2/s": "1e-6", "um^2/s": "1e-6", "micro": "1e-6", "10^-6": "1e-6", "10^-3": "1e-3", "mm^2/s": "mm2/s"}

#: Range of the median brain ADC (1e-6 mm^2/s) that real data falls in: parenchyma 650-1000, ventricles
#: and sulci pull it up, infarcts and noise floors pull it down. Wide on purpose: it only has to
#: separate units that are 1000x apart.
PLAUSIBLE_MEDIAN_MICRO = (250.0, 2500.0)


def unitByKey(key: str) -> AdcUnit:
    """Look up a unit by its key or a common alias.

    :raises AdcUnitError: unknown name, listing the accepted ones.
    """
    normalized = ALIASES.get(key.strip().lower(), key.strip().lower())
    if normalized not in UNITS:
        raise AdcUnitError(f"Unknown ADC unit '{key}'; use one of: {', '.join(UNITS)}.")
    return UNITS[normalized]


@dataclasses.dataclass(frozen=True)
class AdcStatistics:
    """Robust statistics of stored ADC values inside the brain, in the file's own numbers."""

    median: float
    percentile5: float
    percentile95: float
    voxels: int

    def describe(self) -> str:
        return f"median {self.median:.4g}, 5th percentile {self.percentile5:.4g}, 95th percentile {self.percentile95:.4g} over {self.voxels} brain voxels"


@dataclasses.dataclass(frozen=True)
class AdcUnitDecision:
    """The unit used for a case, how it was chosen, and the evidence."""

    unit: AdcUnit
    detected: AdcUnit | None
    overridden: bool
    statistics: AdcStatistics

    @property
    def plausibleInChosenUnit(self) -> bool:
        """The brain median, read in the unit used, lies in the range real brains have."""
        low, high = PLAUSIBLE_MEDIAN_MICRO
        return self.statistics.voxels > 0 and low <= self.statistics.median * self.unit.toMicro <= high

    @property
    def conflictsWithData(self) -> bool:
        """True when a user override disagrees with what the data says.

        Either detection found another unit, or (when no unit fits) the brain median read in the forced unit
        is not a brain's: then a seed would be empty, or the whole brain.
        """
        if not self.overridden:
            return False
        if self.detected is not None:
            return self.detected != self.unit
        return not self.plausibleInChosenUnit

    def describe(self) -> str:
        """One sentence: the unit used and how it was decided, with the evidence."""
        micro = self.statistics.median * self.unit.toMicro
        if not self.overridden:
            return (f"ADC unit {self.unit.label}, detected: the brain median {self.statistics.median:.4g} is {micro:.0f} x 1e-6 mm^2/s "
                    f"in this unit, the only one where it is plausible ({self.statistics.describe()}).")
        if self.conflictsWithData:
            return f"ADC unit {self.unit.label}, forced by the user, against the data: {self.conflictSentence()}"
        return f"ADC unit {self.unit.label}, forced by the user; the data agree ({self.statistics.describe()})."

    def conflictSentence(self) -> str:
        """Why a forced unit contradicts the data (empty when it does not)."""
        if not self.conflictsWithData:
            return ""
        low, high = PLAUSIBLE_MEDIAN_MICRO
        micro = self.statistics.median * self.unit.toMicro
        looks = f"the values look like {self.detected.label}" if self.detected else "the values fit no known unit"
        return (f"ADC unit {self.unit.label} was forced, but {looks} ({self.statistics.describe()}): read in {self.unit.label} the brain "
                f"median would be {micro:.4g} x 1e-6 mm^2/s, outside the {low:g}-{high:g} of real brains, so a seed would be empty or "
                "cover the whole brain.")

    def requireConsistent(self, caseId: str, force: bool = False) -> None:
        """Refuse a forced unit that contradicts the data unless ``force`` (what ``ais seed`` calls before writing).

        :raises AdcUnitError: the unit contradicts the data and ``force`` is False.
        """
        if self.conflictsWithData and not force:
            raise AdcUnitError(f"{caseId}: {self.conflictSentence()} Nothing was written; check the unit, or pass --force to use it anyway.")

    def toDict(self) -> dict:
        return {
            "unit": self.unit.key,
            "unitLabel": self.unit.label,
            "detectedUnit": self.detected.key if self.detected else None,
            "overridden": self.overridden,
            "brainMedianStored": self.statistics.median,
            "brainPercentile5Stored": self.statistics.percentile5,
            "brainPercentile95Stored": self.statistics.percentile95,
        }


def brainAdcStatistics(adcArray: np.ndarray, brainMask: np.ndarray) -> AdcStatistics:
    """Robust statistics of positive ADC values inside ``brainMask`` (zeros are fit failures/background)."""
    values = adcArray[brainMask]
    values = values[values > 0]
    if values.size == 0:
        return AdcStatistics(0.0, 0.0, 0.0, 0)
    percentile5, median, percentile95 = np.percentile(values, [5, 50, 95])
    return AdcStatistics(float(median), float(percentile5), float(percentile95), int(values.size))


def detectAdcUnit(statistics: AdcStatistics, fileLabel: str = "the ADC map") -> AdcUnit:
    """The only unit in which the brain median is plausible.

    :raises AdcUnitError: no unit fits; the message shows the statistics so the user can pick one.
    """
    low, high = PLAUSIBLE_MEDIAN_MICRO
    fitting = [unit for unit in UNITS.values() if low <= statistics.median * unit.toMicro <= high]
    if statistics.voxels == 0 or len(fitting) != 1:
        raise AdcUnitError(
            f"Cannot tell the unit of {fileLabel}: {statistics.describe()} fits none of "
            f"{', '.join(unit.label for unit in UNITS.values())} (expected a brain median of {low:g}-{high:g} x 1e-6 mm^2/s). "
            "Check that it is an ADC map, or give the unit explicitly."
        )
    return fitting[0]


def decideAdcUnit(adcArray: np.ndarray, brainMask: np.ndarray, override: str | AdcUnit | None = None, fileLabel: str = "the ADC map") -> AdcUnitDecision:
    """Detect the unit, or take the user's override (kept even when detection fails or disagrees).

    :param adcArray: stored ADC values, any axis order matching ``brainMask``.
    :param override: unit key/alias or :class:`AdcUnit`; None to detect.
    :raises AdcUnitError: nothing was overridden and no unit fits.
    """
    statistics = brainAdcStatistics(adcArray, brainMask)
    if override is None:
        detected = detectAdcUnit(statistics, fileLabel)
        return AdcUnitDecision(detected, detected, False, statistics)
    unit = override if isinstance(override, AdcUnit) else unitByKey(override)
    try:
        detected = detectAdcUnit(statistics, fileLabel)
    except AdcUnitError:
        detected = None
    return AdcUnitDecision(unit, detected, True, statistics)

