"""Seed one case and record the seed as a reader's next mask version (what ``ais seed`` does per case)."""

from .derivatives import writeReaderMask
from .seeding import seedLesion
from .sequences import loadCase


def seedAndWriteCase(bidsRoot, case, reader: str, parameters, adcUnit=None, progress=None, force: bool = False, limits=None) -> dict:
    """Load a case, seed it and write the seed as ``reader``'s next mask version (never overwriting).

    A forced ADC unit that contradicts the data (the brain's values say another unit, so the seed would be
    empty or cover the brain) stops here, before anything is written, unless ``force``.

    :param bidsRoot: the dataset root (derivatives go under it).
    :param case: the :class:`~AISCommonLib.core.cases.Case`.
    :param reader: pseudonymous reader ID.
    :param parameters: :class:`~AISCommonLib.core.seeding.SeedParameters`.
    :param adcUnit: forced ADC unit key, or None to detect it.
    :param force: write even when the forced unit contradicts the data (the warning stays in the summary).
    :param limits: per-image size limits (:class:`~AISCommonLib.core.imagelimits.ImageLimits`), None for the defaults.
    :return: the seed summary with ``reader``, ``version``, ``mask`` (path), ``warnings`` (sentences) and
        ``choices`` (how the case was read, in words).
    :raises AdcUnitError: the forced unit contradicts the data and ``force`` is False; nothing is written.
    :raises AISError: the case cannot be loaded or the mask cannot be written.
    """
    loaded = loadCase(case, adcUnit, limits)
    loaded.adcUnit.requireConsistent(case.caseId, force)
    result = seedLesion(loaded, parameters, progress)
    record = writeReaderMask(bidsRoot, case, result.mask, loaded.dwi, reader, "adc-threshold-seed", result.summary)
    return {**result.summary, "reader": reader, "version": record.version, "mask": str(record.path),
            "warnings": list(loaded.warnings), "choices": dict(loaded.choices)}
