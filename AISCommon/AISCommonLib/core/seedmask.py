"""Seed one case and record the seed as a reader's next mask version (what ``ais seed`` does per case)."""

from .derivatives import writeReaderMask
from .seeding import seedLesion
from .sequences import loadCase


def seedAndWriteCase(bidsRoot, case, reader: str, parameters, adcUnit=None, progress=None) -> dict:
    """Load a case, seed it and write the seed as ``reader``'s next mask version (never overwriting).

    :param bidsRoot: the dataset root (derivatives go under it).
    :param case: the :class:`~AISCommonLib.core.cases.Case`.
    :param reader: pseudonymous reader ID.
    :param parameters: :class:`~AISCommonLib.core.seeding.SeedParameters`.
    :param adcUnit: forced ADC unit key, or None to detect it.
    :return: the seed summary with ``reader``, ``version``, ``mask`` (path) and ``warnings`` (sentences).
    :raises AISError: the case cannot be loaded or the mask cannot be written.
    """
    loaded = loadCase(case, adcUnit)
    warnings = []
    if loaded.adcUnit.conflictsWithData:
        warnings.append(f"ADC unit {loaded.adcUnit.unit.label} was forced, but the values look like "
                        f"{loaded.adcUnit.detected.label} ({loaded.adcUnit.statistics.describe()}).")
    result = seedLesion(loaded, parameters, progress)
    record = writeReaderMask(bidsRoot, case, result.mask, loaded.dwi, reader, "adc-threshold-seed", result.summary)
    return {**result.summary, "reader": reader, "version": record.version, "mask": str(record.path), "warnings": warnings}
