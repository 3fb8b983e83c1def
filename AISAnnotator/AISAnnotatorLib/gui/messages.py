"""Sentences the reader sees in the status line (translatable; Qt layer of the AISAnnotator module)."""

from slicer.i18n import tr as _

from AISCommonLib.core import adcunits


def helpText() -> str:
    """The module's help (Slicer shows it in the module panel's Help section)."""
    return _("""
Annotate acute ischemic stroke lesions on MRI, one reader at a time, following the expert consensus workflow.
<ol>
<li><b>Case</b>: enter your reader ID and press <i>Next case</i> to take your next assignment from the team's
workflow database (the dataset's <i>derivatives/lesions/workflow.sqlite</i>, or the database you enter: it is kept in
your Slicer settings, never in the scene, and a password in its URL goes to the system keyring). You can
also list the cases of a BIDS folder with <i>Find cases</i> and load one to look at it, but only a case taken with
<i>Next case</i> can be submitted. Screen the images first: exclude cases with severe artifacts or non-ischemic
lesions in <i>Quality and exclusion</i>.</li>
<li><b>Views</b>: DWI, ADC, eADC and FLAIR are shown in linked views (2x2 axial, 4x3 multiplanar, or DWI/ADC side
by side; Alt+1, Alt+2, Alt+3). Shift+mouse move puts the crosshair on the same point in every view; the values of
all sequences at the cursor are shown at the bottom of the panel. ] and [ jump to the next and previous lesion.</li>
<li><b>Seed</b>: <i>Apply seed</i> marks voxels with ADC below 620 x 10^-6 mm^2/s that are also DWI-bright. The ADC
file unit is detected and shown; set it when detection fails or is wrong. The seed can be undone in the editor.
An AI prediction on the DWI grid (nnU-Net, MONAI Label) can be the starting mask instead; its origin is recorded.</li>
<li><b>Refine on DWI</b> slice by slice with Paint, Draw, Erase, Scissors, Islands and Smoothing. Acute ischemia is
DWI-bright and ADC-dark; DWI-bright with normal ADC is T2 shine-through. Do not grow the mask blindly where the
boundary is unclear: add a note there instead.</li>
<li><b>Hints</b> list regions that look unlike an acute infarct; they warn and never block. Score the image quality
of DWI, ADC and FLAIR (per sequence, or per criterion: noise, motion, artifact, contrast), describe each lesion
(hemorrhagic transformation, territory, acuity) at the crosshair if you wish, then <i>Submit read</i>: the mask, your
scores, lesion attributes, notes and active time are recorded under your reader ID.</li>
<li><b>Training</b>: while you are in training you get trial cases; after each one the <i>Training</i> section shows your
score against the reference and what qualification still needs, and can show the reference over your read.</li>
</ol>
The lesion mask is always on the voxel grid of the DWI. You never see the other reader's mask.
""")


def acknowledgementText() -> str:
    """The module's acknowledgement."""
    return _("""
Built for dual-reader annotation of acute ischemic stroke datasets following the national expert consensus on
acute ischemic stroke MRI annotation. It relies on 3D Slicer, its Segment Editor, SimpleITK, NumPy, NiBabel and
SQLAlchemy; keyring keeps the database password when it is installed.
""")

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


def describePrediction(summary: dict) -> str:
    """The starting mask taken from an AI prediction, in numbers, and what the read will record about it."""
    return _("Started from the prediction {file}: {volumeMl:g} ml, {voxels} voxels, connected regions: {components} ({rule}). "
             "Its origin is recorded with your read; refine it on DWI as you would a seed.").format(
        file=summary["file"], volumeMl=summary["volume_ml"], voxels=summary["voxels"], components=summary["components"], rule=summary["rule"])


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
