"""Sentences the reader sees in the status line (translatable; Qt layer of the AISAnnotator module)."""

from slicer.i18n import tr as _

from AISCommonLib.core import adcunits


def describeLoadedCase(loaded) -> str:
    """What was loaded: b value and its source, eADC source, the ADC unit and how it was decided, missing sequences."""
    decision = loaded.adcUnit
    how = _("set by you") if decision.overridden else _("detected")
    lines = [
        _("{caseId} loaded (b={bValue:g} s/mm^2, from {bValueSource}; eADC: {eadcSource}).").format(
            caseId=loaded.case.caseId, bValue=loaded.bValue, bValueSource=loaded.bValueSource, eadcSource=loaded.eadcSource
        ),
        _("ADC unit: {unit} ({how}); brain median {median:g}.").format(
            unit=decision.unit.label, how=how, median=decision.statistics.median
        ),
    ]
    if decision.conflictsWithData:
        lines.append(
            _("Warning: the data look like {detected}, not {chosen}; check the ADC unit.").format(
                detected=decision.detected.label, chosen=decision.unit.label
            )
        )
    if loaded.case.missing:
        lines.append(_("Missing: {sequences}.").format(sequences=", ".join(key.upper() for key in loaded.case.missing)))
    return "\n".join(lines)


def describeSeed(summary: dict) -> str:
    """The seed in numbers (volume, regions, threshold in the file's unit, regions dropped) and what to do next."""
    lines = [
        _("Seed: {volumeMl:g} ml, {voxels} voxels, connected regions: {components}.").format(
            volumeMl=summary["volumeMl"], components=summary["components"], voxels=summary["voxels"]
        ),
        _("Threshold {threshold} = {inFileUnit} in the file's unit.").format(
            threshold=summary["threshold"]["micro"], inFileUnit=summary["threshold"]["inFileUnit"]
        ),
        _("Dropped {small} small and {rim} rim regions.").format(
            small=summary["removedSmallComponents"], rim=summary["removedRimComponents"]
        ),
    ]
    unit = summary["adcUnit"]
    if unit["overridden"] and unit["detectedUnit"] not in (None, unit["unit"]):
        lines.append(
            _("Warning: the ADC unit was set to {chosen} but the data look like {detected}.").format(
                chosen=unit["unitLabel"], detected=adcunits.UNITS[unit["detectedUnit"]].label
            )
        )
    if summary["voxels"] == 0:
        lines.append(_("No voxel passed: check the ADC unit and the threshold, or draw the lesion by hand."))
    else:
        lines.append(_("Refine the lesion on DWI in the editor below."))
    return "\n".join(lines)


def describeAssist(summary: dict) -> str:
    """What the DWI assist would change, and how to keep it."""
    return _("DWI assist: +{added:g} ml, -{removed:g} ml (DWI-bright above {z:g} robust SD; normal tissue ADC {adc:.0f} x 1e-6 mm^2/s). "
             "Apply keeps it.").format(added=summary["addedMl"], removed=summary["removedMl"], z=summary["parameters"]["dwiMinRobustZ"],
                                       adc=summary["normalAdcMicro"])
