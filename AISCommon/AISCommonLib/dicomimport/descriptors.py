"""PS3.15 Clean Descriptors Option: keep what a series description says about the acquisition, nothing else.

The Basic Profile removes descriptions and protocol names; the Clean Descriptors Option keeps them once
they are *cleaned* of identifying information. Free text cannot be proven clean by looking for what is
bad (a site writes names, dates, initials, room numbers in any form), so cleaning here keeps only what is
known good: every word of the descriptor must be in :data:`TECHNICAL_WORDS` or have the shape of a
technical token (a b value ``b1000``, a number of at most three digits, a dimension ``3d``, a factor
``p2``); every other word is dropped, and a descriptor left with no word is removed.
``ep2d_diff_trace_b1000 Dr Smith 12.03.`` becomes ``ep2d_diff_trace_b1000``.

Which sequence a series is (:mod:`.seriesclassify`) is decided on the original descriptors in memory
before cleaning, so a site's unusual wording still classifies; only the cleaned text is ever written.
"""

import re

#: Keywords of the DICOM attributes cleaned instead of removed (a subset of the attributes marked "C" in
#: PS3.15 Table E.1-1's Clean Descriptors column: the ones that describe the acquisition of an MR series).
CLEANED_DESCRIPTORS = frozenset({
    "SeriesDescription", "ProtocolName", "StudyDescription", "PerformedProcedureStepDescription",
    "RequestedProcedureDescription", "ScheduledProcedureStepDescription", "DerivationDescription",
    "AcquisitionProtocolDescription", "AcquisitionDeviceProcessingDescription", "ContrastBolusAgent",
})

#: Words of MR series descriptions and protocol names (lower case): sequences, weightings, orientations,
#: vendor product names of sequences, diffusion and reconstruction terms.
TECHNICAL_WORDS = frozenset("""
mr mri brain head neuro stroke routine protocol series study exam
dwi dw diff diffusion trace tracew isotropic iso isodwi adc eadc exp expadc exponential apparent coefficient
ep2d ep3d epi ep se ge gre spgr fspgr bravo mprage mp rage tfe tfl tse fse ffe ir stir flair tirm dark fluid flr
t1 t1w t2 t2w pd pdw t2star swi swan perf perfusion dsc dce asl pcasl tof angio mra mip minip mpr
resolve readout segmented rs ms ss zoomed zoom focus reduced fov rfov msh multishot singleshot
blade propeller multivane cube space vista sampling 3d 2d tra trans transverse axial ax cor coronal sag sagittal
obl oblique map maps fa colfa tensor dti dki nd norm dis2d dis3d filt fil filtered mosaic moco pace nav
grappa sense asset ipat arc cs caipi sms mb hyperband fat sat fs water wfi dixon spair spir nfs
pre post gd gad contrast localizer localiser scout survey aahscout calibration cal phase mag magnitude
high low res resolution fast quick long short te tr ti b bval bvalue bvalues avg average mean
new repeat rep run thin thick slice slices head first hfs ffs supine prone
""".split())

_WORD = re.compile(r"[A-Za-z0-9]+")
#: Shapes of technical words: b values (``b1000``), numbers with a unit or dimension (``3mm``, ``3t``, ``2d``,
#: ``30dir``), acceleration factors (``p2``, ``x4``), weighting variants (``t2star``). Bare numbers are not
#: kept: ``12.03`` may be a date.
_TECHNICAL_SHAPES = re.compile(r"^(b\d{1,4}[a-z]?|\d{1,3}(mm|ms|t|d|dir|ch)|[prx]\d{1,2}|t[12][a-z]{1,4})$")
#: Separators kept between two kept words; anything else between them becomes one space.
_SEPARATORS = re.compile(r"[ _\-/+.,:;*()\[\]]+")


def isTechnicalWord(word: str) -> bool:
    """Whether one alphanumeric word of a descriptor may be kept."""
    lowered = word.lower()
    return lowered in TECHNICAL_WORDS or bool(_TECHNICAL_SHAPES.match(lowered))


def cleanDescriptor(text: str) -> str:
    """The descriptor with every word that is not technical removed.

    :param text: a DICOM descriptor value (``SeriesDescription``, ``ProtocolName``, ...).
    :return: the kept words, each joined to the previous kept one by the separator that stood right before
        it when that is plain punctuation (``_``, ``-``, space, ...), else by a space; ``""`` when no word is left.
    """
    text = str(text or "")
    pieces = []
    position = 0
    for match in _WORD.finditer(text):
        separator = text[position:match.start()]
        position = match.end()
        if not isTechnicalWord(match.group(0)):
            continue
        if pieces:
            pieces.append(separator if _SEPARATORS.fullmatch(separator) else " ")
        pieces.append(match.group(0))
    return "".join(pieces)
