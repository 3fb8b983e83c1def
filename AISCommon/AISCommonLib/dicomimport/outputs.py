"""What the import writes besides DICOM copies, made safe: sidecars by allow-list, NIfTI text fields cleared,
and a last search of every staged file for the identifier values the de-identification removed.

Sidecars keep only :data:`SIDECAR_ALLOWED_KEYS` (acquisition parameters: field strength, timing, encoding,
geometry, the cleaned series description): a key dcm2niix adds in a later release is left out until
someone reviews it, which is the safe way round. NIfTI headers lose ``descrip`` (dcm2niix writes the
acquisition time there), ``aux_file``, ``db_name`` and any header extension.
"""

import gzip
import re
import struct
from pathlib import Path

from ..core.errors import AISError

#: Sidecar keys written (dcm2niix names); everything else is dropped. No dates, times, UIDs, names, device
#: serials, software versions, station or institution.
SIDECAR_ALLOWED_KEYS = frozenset({
    "Modality", "MagneticFieldStrength", "ImagingFrequency", "Manufacturer", "ManufacturersModelName",
    "BodyPartExamined", "PatientPosition", "MRAcquisitionType", "SeriesDescription", "ProtocolName",
    "ScanningSequence", "SequenceVariant", "ScanOptions", "SequenceName", "PulseSequenceName", "PulseSequenceDetails",
    "ImageType", "NonlinearGradientCorrection", "SeriesNumber", "AcquisitionNumber", "SliceThickness",
    "SpacingBetweenSlices", "SAR", "EchoTime", "EchoTime1", "EchoTime2", "RepetitionTime", "InversionTime",
    "FlipAngle", "PartialFourier", "PartialFourierDirection", "BaseResolution", "PhaseResolution", "PercentPhaseFOV",
    "PercentSampling", "EchoTrainLength", "PhaseEncodingSteps", "FrequencyEncodingSteps", "AcquisitionMatrixPE",
    "ReconMatrixPE", "PixelBandwidth", "BandwidthPerPixelPhaseEncode", "EffectiveEchoSpacing",
    "DerivedVendorReportedEchoSpacing", "TotalReadoutTime", "EstimatedEffectiveEchoSpacing",
    "EstimatedTotalReadoutTime", "DwellTime", "PhaseEncodingAxis", "PhaseEncodingDirection", "SliceEncodingDirection",
    "SliceTiming", "MultibandAccelerationFactor", "ParallelReductionFactorInPlane", "ParallelReductionOutOfPlane",
    "ParallelAcquisitionTechnique", "DiffusionScheme", "NumberOfAverages", "ReceiveCoilActiveElements",
    "ReceiveCoilName", "CoilString", "MatrixCoilMode", "SpoilingState", "WaterFatShift", "ImageOrientationPatientDICOM",
    "InPlanePhaseEncodingDirectionDICOM", "ConversionSoftware", "ConversionSoftwareVersion", "RawImage",
    "ShimSetting", "TxRefAmp", "ImageTypeText", "MTState", "SpectrallySelectedSuppression", "FatSuppression",
    "EchoNumber", "DiffusionBValue", "EchoTrainDuration", "InversionRecovery",
})
#: Sidecar string values that are free text from the DICOM header and are cleaned like DICOM descriptors.
SIDECAR_DESCRIPTOR_KEYS = frozenset({"SeriesDescription", "ProtocolName"})
#: Identifier values with a letter and at least this many characters are searched everywhere (as words);
#: shorter ones (2-3 letters) only in free text, where ``LI`` cannot be part of "SLICE" or a coded value.
MIN_SUBSTRING_NEEDLE_LENGTH = 4
MIN_WORD_NEEDLE_LENGTH = 2
#: All-digit identifier values are searched from this many digits (shorter ones are everywhere in numbers).
MIN_NUMERIC_NEEDLE_DIGITS = 6


def filterSidecar(sidecar: dict) -> tuple[dict, list[str]]:
    """Keep the allowed keys of a dcm2niix sidecar, descriptors cleaned.

    :return: ``(filtered copy, dropped key names sorted)``.
    """
    from .descriptors import cleanDescriptor

    kept, dropped = {}, []
    for key, value in sidecar.items():
        if key not in SIDECAR_ALLOWED_KEYS:
            dropped.append(key)
        elif key in SIDECAR_DESCRIPTOR_KEYS:
            cleaned = cleanDescriptor(str(value))
            if cleaned:
                kept[key] = cleaned
            else:
                dropped.append(key)
        else:
            kept[key] = value
    return kept, sorted(dropped)


# NIfTI-1 and NIfTI-2 byte offsets and lengths of the text fields cleared.
_NIFTI_TEXT_FIELDS = {348: {"db_name": (14, 18), "descrip": (148, 80), "aux_file": (228, 24)},
                      540: {"descrip": (240, 80), "aux_file": (320, 24)}}
_NIFTI_VOX_OFFSET = {348: (108, "f"), 540: (168, "q")}


def clearNiftiText(path: Path) -> list[str]:
    """Blank ``descrip``, ``aux_file`` and ``db_name`` of a ``.nii.gz`` in place and drop its header extensions.

    Voxel bytes are copied unchanged; the file is recompressed with a fixed gzip time stamp so a re-import
    writes the same bytes.

    :return: names of the fields that held text and were cleared (``extensions`` when there were some).
    :raises AISError: the file is not a NIfTI-1 or NIfTI-2 image.
    """
    data = gzip.decompress(path.read_bytes())
    endian = None
    for candidate in ("<", ">"):
        if len(data) >= 4 and struct.unpack(f"{candidate}i", data[:4])[0] in _NIFTI_TEXT_FIELDS:
            endian = candidate
            break
    if endian is None:
        raise AISError(f"dcm2niix wrote '{path.name}', which is not a NIfTI image; nothing was imported.")
    headerSize = struct.unpack(f"{endian}i", data[:4])[0]
    offsetPosition, offsetFormat = _NIFTI_VOX_OFFSET[headerSize]
    voxelOffset = int(struct.unpack(f"{endian}{offsetFormat}", data[offsetPosition:offsetPosition + struct.calcsize(offsetFormat)])[0])
    header = bytearray(data[:headerSize])
    cleared = []
    for name, (start, length) in _NIFTI_TEXT_FIELDS[headerSize].items():
        if any(header[start:start + length]):
            cleared.append(name)
        header[start:start + length] = bytes(length)
    if voxelOffset > headerSize + 4:
        cleared.append("extensions")
    newOffset = headerSize + 4
    header[offsetPosition:offsetPosition + struct.calcsize(offsetFormat)] = struct.pack(f"{endian}{offsetFormat}", newOffset)
    body = bytes(header) + bytes(4) + data[max(voxelOffset, newOffset):]
    path.write_bytes(gzip.compress(body, compresslevel=6, mtime=0))
    return cleared


# ----------------------------------------------------------------------------------------------
# The last search


def splitNeedles(values) -> tuple[re.Pattern | None, set[str]]:
    """The identifier values to search for, as a word pattern and a set of short words.

    Values of 4 or more characters with a letter, and all-digit values of 6 or more digits (record numbers),
    are searched as whole words (not inside a longer word or number: a patient called "Gina" must not stop
    an image typed ``ORIGINAL``, a study ID ``4711`` must not match inside a replaced UID); names also as
    their parts joined by ``_``, ``-``, space or nothing. Letter values of 2-3 characters are returned as
    short words, searched only in free text (see :func:`findNeedle`).

    :param values: original text values the de-identification removed or replaced (names also by part).
    :return: ``(compiled pattern or None, short words upper case)``.
    """
    words, short = set(), set()
    for value in values:
        text = str(value).strip().upper()
        candidates = {text}
        parts = [part for part in re.split(r"[\^= ,]+", text) if part]
        if len(parts) > 1:
            candidates.update({" ".join(parts), "_".join(parts), "".join(parts), "-".join(parts)})
        for candidate in candidates:
            hasLetter = any(character.isalpha() for character in candidate)
            if hasLetter and len(candidate) >= MIN_SUBSTRING_NEEDLE_LENGTH:
                words.add(candidate)
            elif not hasLetter and sum(character.isdigit() for character in candidate) >= MIN_NUMERIC_NEEDLE_DIGITS:
                words.add(candidate)
            elif hasLetter and len(candidate) >= MIN_WORD_NEEDLE_LENGTH and candidate.isalpha():
                short.add(candidate)
    if not words:
        return None, short
    alternatives = "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True))
    return re.compile(f"(?<![A-Z0-9])(?:{alternatives})(?![A-Z0-9])"), short


def _searchedBytes(path: Path) -> bytes:
    """A staged file's bytes as searched: decompressed; NIfTI header only (voxels are numbers that spell
    any short string often enough across a dataset); DICOM without pixel data."""
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        data = gzip.decompress(data)
    if path.name.endswith((".nii", ".nii.gz")):
        return data[:352]
    if path.suffix == ".dcm":
        marker = data.rfind(b"\xe0\x7f\x10\x00")
        return data[:marker] if marker > 0 else data
    return data


def _shortHit(words, short: set[str]) -> bool:
    """Whether one of the words (alphanumeric runs: a coil element ``HE1`` is not the surname He) is a short
    identifier that is not a technical word."""
    from .descriptors import TECHNICAL_WORDS

    return any(word.upper() in short and word.lower() not in TECHNICAL_WORDS for word in words)


def _jsonStrings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _jsonStrings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _jsonStrings(item)


def _searchText(data: bytes) -> str:
    return data.decode("latin-1").upper()


def findNeedle(paths, relativeNames, pattern, short: set[str]) -> str | None:
    """The first output name or staged file that still holds an identifier value, or None.

    The word pattern is searched in names and in every staged byte (NIfTI headers, sidecars, DICOM copies
    without pixel data, text files); short words in the sidecars' text values (a technical word such as
    ``SE`` is not a hit: descriptor cleaning keeps it on purpose).

    :param paths: staged files (sidecars, NIfTI, bval/bvec, DICOM copies).
    :param relativeNames: the dataset-relative names the files will get.
    :param pattern: from :func:`splitNeedles`.
    :return: the relative name of the offending file (never the value found).
    """
    import json

    for path, relative in zip(paths, relativeNames):
        data = _searchedBytes(path)
        if pattern is not None and (pattern.search(relative.upper()) or pattern.search(_searchText(data))):
            return relative
        if short and path.suffix == ".json":
            strings = _jsonStrings(json.loads(data.decode("utf-8")))
            if _shortHit((word for text in strings for word in re.findall(r"[A-Za-z0-9]+", text)), short):
                return relative
    return None


def findNeedleInDataset(dataset, pattern, short: set[str]) -> str | None:
    """The keyword (or tag) of the first attribute of a de-identified dataset that still holds an identifier
    value, or None: the word pattern in every value (bytes included, pixel data left out, file meta and
    nested sequences included), short words in text values (coded strings left out).

    :return: an attribute name, never the value.
    """
    found = []

    def check(_, element):
        if found or element.tag in (0x7FE00010, 0x7FE00008, 0x7FE00009) or element.VR == "SQ":
            return
        value = element.value
        values = list(value) if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue" else [value]
        texts = [item.decode("latin-1") if isinstance(item, bytes) else str(item) for item in values if item is not None]
        name = element.keyword or f"({element.tag.group:04X},{element.tag.element:04X})"
        if pattern is not None and any(pattern.search(text.upper()) for text in texts):
            found.append(name)
        elif short and element.VR in ("AE", "LO", "LT", "PN", "SH", "ST", "UC", "UT") and \
                _shortHit((word for text in texts for word in re.findall(r"[A-Za-z0-9]+", text)), short):
            found.append(name)

    if getattr(dataset, "file_meta", None) is not None:
        dataset.file_meta.walk(check)
    dataset.walk(check)
    return found[0] if found else None
