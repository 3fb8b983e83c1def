"""Tell which sequence an image converted by dcm2niix is, from its JSON sidecar and b values.

The consensus reading needs DWI (b~1000 trace), ADC, eADC (exponential ADC), FLAIR and optionally
T1w / T2w. Scanners name these series freely (``ep2d_diff_trace``, ``DWI_b1000``, ``t2_tirm_tra_dark-fluid``),
so the image type (``["DERIVED", "PRIMARY", "DIFFUSION", "ADC"]``, ``TRACEW``, ``EADC`` / ``EXP``) is
trusted first, then the series description and protocol name, then b values, then the timing
(TR / TE / TI) as a last resort. Everything here is pure: a sidecar dict in, a key and a reason out.
"""

import re

#: Sequence key -> (BIDS folder, BIDS suffix) of the files the import writes.
BIDS_TARGETS = {
    "dwi": ("dwi", "dwi"),
    "adc": ("dwi", "adc"),
    "eadc": ("dwi", "eadc"),
    "flair": ("anat", "FLAIR"),
    "t1w": ("anat", "T1w"),
    "t2w": ("anat", "T2w"),
}
#: Highest b value (s/mm^2) still counted as b=0.
B0_MAXIMUM = 50.0

_SKIP_TYPES = {"LOCALIZER", "SCOUT", "PHASE", "P", "FA", "TENSOR", "COLFA", "SCREEN SAVE", "MIP", "MPR", "PROJECTION IMAGE"}
_SKIP_WORDS = re.compile(r"\b(LOCALI[SZ]ER|SCOUT|SURVEY|AAHSCOUT|CALIBRATION|FA|TENSOR|COLFA|TRACEW?_?MIP|MIP|PHASE|SWI|SWAN|T2STAR|T2\*|PERF|ASL|TOF|ANGIO)\b")
_EADC_WORDS = re.compile(r"\b(EADC|E_ADC|EXP(ONENTIAL)?[ _-]*ADC|EXP|EXPADC)\b")
_ADC_WORDS = re.compile(r"\b(ADC|APPARENT[ _-]*DIFFUSION)\b")
_DWI_WORDS = re.compile(r"\b(DWI|DIFF(USION)?|TRACEW?|EP2D[ _-]*DIFF|RESOLVE|B[ _-]?1000|B[ _-]?800|ISOTROPIC|ISO[ _-]?DWI)\b|DIFF")
_FLAIR_WORDS = re.compile(r"FLAIR|DARK[ _-]*FLUID|TIRM|\bFLR\b")
_T1_WORDS = re.compile(r"\bT1|MPRAGE|MP[ _-]?RAGE|SPGR|\bTFE\b|\bTFL\b|\bFSPGR\b|\bBRAVO\b|T1W")
_T2_WORDS = re.compile(r"\bT2(?![ _-]*(STAR|\*))|T2W|\bTSE\b|\bFSE\b")


def _words(sidecar: dict) -> str:
    """Series description, protocol and sequence names, upper case, ``_`` kept as a word break."""
    parts = [str(sidecar.get(key, "")) for key in ("SeriesDescription", "ProtocolName", "SequenceName")]
    return " ".join(parts).upper().replace("_", " ")


def imageTypeTokens(sidecar: dict) -> set[str]:
    """The upper-case values of the sidecar's ``ImageType`` (a list, or one backslash-separated string)."""
    value = sidecar.get("ImageType", [])
    if isinstance(value, str):
        value = value.split("\\")
    return {str(token).strip().upper() for token in value}


def classifySeries(sidecar: dict, bValues=None, fileName: str = "") -> tuple[str | None, str]:
    """The sequence key of one converted image.

    :param sidecar: the dcm2niix JSON sidecar (before de-identification removes anything).
    :param bValues: the image's ``.bval`` values in s/mm^2, or None when dcm2niix wrote none.
    :param fileName: the dcm2niix output name; its postfix (``_ADC``) is a hint.
    :return: ``(key, reason)``: key is one of :data:`BIDS_TARGETS` or None when the image is not one
        the reading uses (localizer, phase, FA map, unknown); reason is a short English phrase.
    """
    tokens = imageTypeTokens(sidecar)
    words = _words(sidecar)
    bValues = [float(value) for value in (bValues or [])]
    if sidecar.get("DiffusionBValue") is not None and not bValues:
        bValues = [float(sidecar["DiffusionBValue"])]
    if tokens & _SKIP_TYPES or _SKIP_WORDS.search(words) and not (tokens & {"ADC", "TRACEW", "EADC"}):
        return None, "localizer, phase, tensor or other image the reading does not use"
    if tokens & {"EADC", "EXP"} or _EADC_WORDS.search(words):
        return "eadc", "exponential ADC (image type or description)"
    if "ADC" in tokens or _ADC_WORDS.search(words) or fileName.upper().endswith("_ADC"):
        return "adc", "ADC map (image type or description)"
    if "TRACEW" in tokens or "DIFFUSION" in tokens:
        return "dwi", "diffusion image type"
    if bValues and max(bValues) > B0_MAXIMUM:
        return "dwi", f"b values up to {max(bValues):g} s/mm^2"
    if _DWI_WORDS.search(words):
        return "dwi", "diffusion series description"
    flairWords = _FLAIR_WORDS.search(words)
    if flairWords and _T1_WORDS.search(words):
        return "t1w", "T1-weighted FLAIR description"
    if flairWords:
        return "flair", "FLAIR series description"
    if _T1_WORDS.search(words):
        return "t1w", "T1-weighted series description"
    if _T2_WORDS.search(words):
        return "t2w", "T2-weighted series description"
    return _classifyByTiming(sidecar)


def _classifyByTiming(sidecar: dict) -> tuple[str | None, str]:
    """Last resort: inversion time and TR / TE (seconds, as dcm2niix writes them)."""
    try:
        echo = float(sidecar["EchoTime"])
        repetition = float(sidecar["RepetitionTime"])
    except (KeyError, TypeError, ValueError):
        return None, "no recognisable description and no TE/TR"
    inversion = sidecar.get("InversionTime")
    if inversion is not None and float(inversion) >= 1.5 and echo >= 0.06:
        return "flair", "long inversion time and long TE (FLAIR timing)"
    if inversion is None and repetition >= 2.0 and echo >= 0.06:
        return "t2w", "long TR and long TE (T2 timing)"
    if repetition <= 1.0 and echo <= 0.03:
        return "t1w", "short TR and short TE (T1 timing)"
    return None, "no recognisable description or timing"
