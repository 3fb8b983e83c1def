"""Import a DICOM study into the BIDS dataset: de-identify, convert with dcm2niix, name, record.

Storage rules (consensus section 2.2): originals are DICOM, converted with dcm2niix to NIfTI + JSON
sidecars that keep field strength, TE, TR and b values; no personal identifier anywhere; BIDS layout.

How one import runs, and why in this order:

1. Scan ``DICOM_DIR`` (pydicom, headers only), group image files by series. Non-DICOM files are skipped.
2. **De-identify copies first** (:func:`deidentifyDataset`): every file is rewritten into a private
   staging folder without patient, physician, institution and device identifiers, dates, free-text
   comments and unknown private blocks; UIDs are replaced by deterministic ``2.25.`` hashes. dcm2niix
   then converts *these copies*, so the identifiers never reach a sidecar, and the copies are what
   ``sourcedata/`` keeps: the originals themselves are only read, never moved or changed.
3. Convert each series with dcm2niix (``-ba y``, output names without ``%n``/``%i``), classify each image
   (:mod:`.seriesclassify`), strip what the sidecar still has of :data:`SIDECAR_REMOVED_KEYS`.
4. A last check scans every staged byte (file names, sidecars, DICOM copies) for the original
   identifier values; one hit stops the import with nothing written.
5. Commit: files are written atomically into ``BIDS_ROOT`` (never replacing a different file); the
   manifest ``sourcedata/ais_import_manifest.json`` is written last. Any failure removes what this
   import wrote. A series already in the manifest is skipped, so re-importing is idempotent.
"""

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from .. import __version__
from ..core.atomicio import atomicWritePath, sha256File, writeJsonAtomic, writeTextAtomic
from ..core.bidsvalidator import ensureBidsIgnore
from ..core.errors import AISError, InputError, OperationCancelled, OutputExistsError
from ..core.validate import IDENTIFYING_KEYS, QUASI_IDENTIFYING_KEYS
from .seriesclassify import B0_MAXIMUM, BIDS_TARGETS, classifySeries

logger = logging.getLogger(__name__)

MANIFEST_NAME = "ais_import_manifest.json"
DEIDENTIFICATION_LOG_NAME = "deidentification_log.json"
BIDS_VERSION = "1.9.0"
DCM2NIIX_TIMEOUT_S = 600
#: Environment variable naming a dcm2niix executable to use instead of the one the PyPI package ships.
DCM2NIIX_ENVIRONMENT_VARIABLE = "AIS_DCM2NIIX"
LABEL_PATTERN = re.compile(r"^[A-Za-z0-9]+$")
#: Identifier values shorter than this are not searched for as substrings (a PatientID "7" is everywhere).
MIN_SEARCHED_VALUE_LENGTH = 4
#: BIDS' advice: ages above 89 are reported as 89 so the oldest patients cannot be singled out.
MAX_REPORTED_AGE_YEARS = 89

#: DICOM attributes removed from the copies (besides every person name, date and date-time, which
#: are removed or blanked by value representation, see :func:`deidentifyDataset`).
DICOM_REMOVED_KEYWORDS = frozenset({
    "PatientBirthTime", "OtherPatientIDs", "OtherPatientIDsSequence", "OtherPatientNames", "PatientAddress",
    "PatientTelephoneNumbers", "PatientMotherBirthName", "MedicalRecordLocator", "AccessionNumber",
    "IssuerOfPatientID", "IssuerOfPatientIDQualifiersSequence", "PatientAge", "PatientSex", "PatientWeight",
    "PatientSize", "EthnicGroup", "Occupation", "AdditionalPatientHistory", "PatientComments", "PatientReligiousPreference",
    "MilitaryRank", "BranchOfService", "CountryOfResidence", "RegionOfResidence", "MedicalAlerts", "Allergies",
    "PregnancyStatus", "SmokingStatus", "PatientState", "PatientInsurancePlanCodeSequence", "AdmissionID",
    "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName", "InstitutionCodeSequence",
    "StationName", "DeviceSerialNumber", "DeviceUID", "ImageComments", "StudyComments", "StudyID",
    "RequestAttributesSequence", "ReferencedPatientSequence", "ReferencedStudySequence",
    "ReferencedPerformedProcedureStepSequence", "PerformedProcedureStepID", "ScheduledProcedureStepID",
    "RequestedProcedureID", "ReasonForStudy", "RequestingService", "CurrentPatientLocation",
    "PatientInstitutionResidence", "OrderPlacerIdentifierSequence", "OrderFillerIdentifierSequence",
    "ConfidentialityConstraintOnPatientDataDescription", "DerivationDescription", "TextComments",
    "PerformedLocation", "IdentifyingComments", "PatientTransportArrangements", "ResponsibleOrganization",
    "ResponsiblePerson", "PatientBreedDescription", "InstanceCreatorUID", "IrradiationEventUID",
})
#: UIDs that name a standard (SOP class, transfer syntax), not an instance: kept as they are.
_STANDARD_UID_PREFIX = "1.2.840.10008."
#: Private blocks that carry acquisition parameters dcm2niix needs (b values, gradient directions,
#: slice timing); every other private block is removed.
SAFE_PRIVATE_CREATORS = frozenset({
    "SIEMENS CSA HEADER", "SIEMENS MR HEADER", "SIEMENS MEDCOM HEADER2", "SIEMENS CSA NON-IMAGE",
    "GEMS_PARM_01", "GEMS_ACQU_01", "GEMS_RELA_01", "GEMS_SERS_01", "GEMS_IMAG_01",
    "PHILIPS IMAGING DD 001", "PHILIPS MR IMAGING DD 001", "PHILIPS MR IMAGING DD 005",
    "TOSHIBA_MEC_MR3", "CANON_MEC_MR3", "UIH_MR",
})
#: Sidecar keys removed from every JSON the import writes (identifiers, quasi-identifiers, free text).
SIDECAR_REMOVED_KEYS = frozenset(IDENTIFYING_KEYS | QUASI_IDENTIFYING_KEYS | {
    "PatientBirthTime", "InstitutionAddress", "ImageComments", "StudyID", "StudyDescription",
    "ProcedureStepDescription", "FrameOfReferenceUID", "StudyTime", "SeriesTime", "DeidentificationMethod",
    "PatientWeight", "ReferringPhysicianName", "PerformingPhysicianName", "OperatorsName", "BidsGuess",
})
_SIDECAR_REMOVED_PATTERN = re.compile(r"(^Patient(?!Position)|Date(Time)?$|UID$|Physician|Operator|Institution|Address|Telephone)")


@dataclasses.dataclass
class DicomSeries:
    """One DICOM series found in the input folder.

    :param seriesKey: ``sha256(SeriesInstanceUID)`` shortened: identifies the series in the manifest
        without storing its UID.
    :param files: original files, sorted.
    :param relativePaths: each file's path relative to the input folder.
    """

    seriesKey: str
    seriesNumber: int | None
    description: str
    files: list[Path] = dataclasses.field(default_factory=list)
    relativePaths: list[Path] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class ImportResult:
    """What one import did.

    :param written: BIDS paths (relative to the root, POSIX) this run wrote, sorted.
    :param images: one entry per recognised image: key, BIDS path, series number and description, reason.
    :param skipped: series or images not written to BIDS, with the reason (their de-identified DICOM
        is still kept in ``sourcedata/``).
    :param alreadyImported: series found in the manifest and left alone.
    :param warnings: sentences about what the user should check (duplicates, missing ADC or FLAIR).
    """

    caseId: str
    written: list[str] = dataclasses.field(default_factory=list)
    images: list[dict] = dataclasses.field(default_factory=list)
    skipped: list[dict] = dataclasses.field(default_factory=list)
    alreadyImported: list[str] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)

    def toDict(self) -> dict:
        return dataclasses.asdict(self)


# ----------------------------------------------------------------------------------------------
# dcm2niix


def findDcm2niix() -> str:
    """Path of the dcm2niix executable: ``$AIS_DCM2NIIX``, else the binary of the PyPI ``dcm2niix``
    package (not its Python wrapper script), else ``dcm2niix`` on the PATH.

    :raises AISError: none is found.
    """
    override = os.environ.get(DCM2NIIX_ENVIRONMENT_VARIABLE)
    if override:
        if not Path(override).is_file():
            raise AISError(f"{DCM2NIIX_ENVIRONMENT_VARIABLE} names '{override}', which does not exist.")
        return override
    try:
        import dcm2niix

        if Path(dcm2niix.bin).is_file():
            return str(dcm2niix.bin)
    except ImportError:
        pass
    found = shutil.which("dcm2niix")
    if found:
        return found
    raise AISError("DICOM import needs dcm2niix, which is not installed; install it with: pip install 'ais-annotation[import]'.")


def dcm2niixVersion(executable: str) -> str:
    """The version string dcm2niix reports (``v1.0.20240202``), or ``unknown``."""
    try:
        completed = subprocess.run([executable, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    match = re.search(r"v\d+\.\d+\.\d+\w*", completed.stdout + completed.stderr)
    return match.group(0) if match else "unknown"


def _runDcm2niix(executable: str, inputFolder: Path, outputFolder: Path, series: DicomSeries) -> None:
    outputFolder.mkdir(parents=True, exist_ok=True)
    # -g i: ignore the user's ~/.dcm2nii.ini so every machine converts the same way; -i n: keep derived
    # images (ADC, eADC are derived); -ba y: anonymised sidecars (a second guard after our own stripping);
    # -f without %n/%i/%j: no identifier can reach a file name.
    command = [executable, "-g", "i", "-b", "y", "-ba", "y", "-i", "n", "-z", "y", "-w", "1", "-d", "0", "-v", "0",
               "-f", "image", "-o", str(outputFolder), str(inputFolder)]
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=DCM2NIIX_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise AISError(f"dcm2niix took longer than {DCM2NIIX_TIMEOUT_S} s on {_seriesName(series)}; nothing was imported.") from None
    except OSError as error:
        raise AISError(f"dcm2niix could not be started ('{executable}': {error.strerror}).") from None
    if completed.returncode != 0 or not list(outputFolder.glob("*.nii*")):
        lines = [line for line in (completed.stderr + completed.stdout).splitlines() if line.strip()]
        detail = lines[-1].strip() if lines else f"exit status {completed.returncode}"
        raise AISError(f"dcm2niix could not convert {_seriesName(series)} ({detail}); nothing was imported.")


def _seriesName(series: DicomSeries) -> str:
    number = f"series {series.seriesNumber}" if series.seriesNumber is not None else "a series"
    return f"{number} '{series.description}'" if series.description else number


# ----------------------------------------------------------------------------------------------
# Scanning


def _requirePydicom():
    try:
        import pydicom
    except ImportError:
        raise AISError("DICOM import needs pydicom, which is not installed; install it with: pip install 'ais-annotation[import]'.") from None
    return pydicom


def scanDicomFolder(dicomDir, progress=None) -> tuple[list[DicomSeries], list[str]]:
    """Group the DICOM image files under a folder by series (headers only, pixel data not read).

    :param dicomDir: folder searched recursively; hidden files and ``DICOMDIR`` are ignored.
    :param progress: optional ``(fraction, message)`` callable.
    :return: ``(series sorted by series number, relative paths of the files that are not DICOM images)``.
    :raises InputError: the folder is missing or holds no DICOM image.
    """
    pydicom = _requirePydicom()
    folder = Path(dicomDir)
    if not folder.is_dir():
        raise InputError(f"The DICOM folder '{folder}' does not exist or is not a folder.")
    paths = sorted(path for path in folder.rglob("*") if path.is_file() and not any(part.startswith(".") for part in path.relative_to(folder).parts))
    if not paths:
        raise InputError(f"The DICOM folder '{folder}' is empty.")
    bySeries: dict[str, DicomSeries] = {}
    skipped = []
    for index, path in enumerate(paths):
        if progress and index % 50 == 0:
            progress(index / len(paths), f"Reading DICOM headers ({index}/{len(paths)})")
        try:
            dataset = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception:  # pydicom raises many types on foreign files; any of them means "not DICOM"
            skipped.append(str(path.relative_to(folder)))
            continue
        seriesUid = str(dataset.get("SeriesInstanceUID", "") or "")
        if path.name.upper() == "DICOMDIR" or not seriesUid or "Rows" not in dataset or "Columns" not in dataset:
            skipped.append(str(path.relative_to(folder)))
            continue
        key = hashlib.sha256(f"ais-series:{seriesUid}".encode()).hexdigest()[:20]
        if key not in bySeries:
            number = dataset.get("SeriesNumber")
            bySeries[key] = DicomSeries(key, int(number) if number not in (None, "") else None, str(dataset.get("SeriesDescription", "") or ""))
        bySeries[key].files.append(path)
        bySeries[key].relativePaths.append(path.relative_to(folder))
    if not bySeries:
        raise InputError(f"The folder '{folder}' holds no DICOM image ({len(skipped)} file(s) that are not DICOM images).")
    return sorted(bySeries.values(), key=lambda series: (series.seriesNumber is None, series.seriesNumber or 0, series.seriesKey)), skipped


# ----------------------------------------------------------------------------------------------
# De-identification


def _identifierNeedles(dataset) -> set[str]:
    """Identifier values of one DICOM dataset to hunt for everywhere, upper case (names also per part)."""
    needles = set()
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "AccessionNumber", "OtherPatientIDs", "OtherPatientNames",
                    "PatientMotherBirthName", "MedicalRecordLocator", "PatientAddress", "PatientTelephoneNumbers",
                    "ReferringPhysicianName", "PerformingPhysicianName", "OperatorsName", "InstitutionName", "InstitutionAddress"):
        value = dataset.get(keyword)
        if value in (None, ""):
            continue
        values = value if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue" else [value]
        for item in values:
            text = str(item).strip().upper()
            if not text:
                continue
            needles.add(text)
            parts = [part for part in re.split(r"[\^ ,=]+", text) if part]
            if keyword.endswith(("Name", "Names")) and not keyword.startswith("Institution"):
                needles.update(parts)  # a surname alone identifies; "HOSPITAL" alone does not
            if len(parts) > 1:
                needles.update({" ".join(parts), "_".join(parts), "".join(parts), "-".join(parts)})
            if keyword == "PatientBirthDate" and re.fullmatch(r"\d{8}", text):
                needles.update({f"{text[:4]}-{text[4:6]}-{text[6:]}", f"{text[6:]}.{text[4:6]}.{text[:4]}", f"{text[4:6]}/{text[6:]}/{text[:4]}"})
    return {needle for needle in needles if len(needle) >= MIN_SEARCHED_VALUE_LENGTH}


def remapUid(uid: str) -> str:
    """A deterministic replacement for an instance UID: ``2.25.<decimal of 128 bits of sha256>``.

    The same original always maps to the same replacement, so series stay grouped, frames of
    reference stay shared and a re-import gives the same files; standard UIDs (``1.2.840.10008.*``)
    are kept.
    """
    uid = str(uid).strip()
    if not uid or uid.startswith(_STANDARD_UID_PREFIX):
        return uid
    return "2.25." + str(int(hashlib.sha256(f"ais-uid:{uid}".encode()).hexdigest()[:32], 16))


_BULK_VRS = ("OB", "OW", "OF", "OD", "OL", "OV", "UN")


def _containsNeedle(value, needles) -> bool:
    if isinstance(value, bytes):
        text = value.decode("latin-1", errors="ignore").upper()
    elif isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return any(_containsNeedle(item, needles) for item in value)
    else:
        text = str(value).upper()
    return any(needle in text for needle in needles)


def deidentifyDataset(dataset, pseudonym: str, needles=frozenset()) -> dict:
    """De-identify one pydicom dataset in place (nested sequences and file meta included).

    Rules, from DICOM PS3.15's basic profile with the "retain safe private" and "retain device
    identity" options left out: PatientName and PatientID become ``pseudonym``; PatientBirthDate and
    every other date (DA) and date-time (DT) are blanked; every other person name (PN) and the
    attributes in :data:`DICOM_REMOVED_KEYWORDS` are removed; instance UIDs are replaced by
    :func:`remapUid`; private blocks outside :data:`SAFE_PRIVATE_CREATORS` are removed; finally any
    text or byte value that still contains one of ``needles`` is removed.

    :param pseudonym: the BIDS subject (``sub-01``); no identifier.
    :param needles: identifier values (upper case) of the original.
    :return: ``{"removed": [...], "blanked": [...], "remapped": [...], "privateBlocksRemoved": n}``,
        attribute keywords (or tags) only, never values.
    """
    report = {"removed": set(), "blanked": set(), "remapped": set(), "privateBlocksRemoved": 0}

    def name(element) -> str:
        return element.keyword or f"({element.tag.group:04X},{element.tag.element:04X})"

    def cleanPrivate(current, element, creators, unsafeBlocks) -> bool:
        """Handle one private element; True when it was removed."""
        tag = element.tag
        block = (tag.group, tag.element) if tag.is_private_creator else (tag.group, tag.element >> 8)
        # A private element whose creator is missing cannot be judged safe either.
        if block in unsafeBlocks or block not in creators:
            del current[tag]
            return True
        return False

    def clean(current) -> None:
        creators = {(element.tag.group, element.tag.element): str(element.value or "").strip().upper()
                    for element in current if element.tag.is_private and element.tag.is_private_creator}
        unsafeBlocks = {block for block, creator in creators.items() if creator not in SAFE_PRIVATE_CREATORS}
        report["privateBlocksRemoved"] += len(unsafeBlocks)
        for element in list(current):
            tag, keyword = element.tag, element.keyword
            if tag.is_private and cleanPrivate(current, element, creators, unsafeBlocks):
                continue
            if keyword in ("PatientName", "PatientID"):
                element.value = pseudonym
                report["blanked"].add(keyword)
            elif keyword in DICOM_REMOVED_KEYWORDS or element.VR == "PN":
                del current[tag]
                report["removed"].add(name(element))
            elif element.VR in ("DA", "DT"):
                if element.value not in (None, ""):
                    element.value = ""
                    report["blanked"].add(name(element))
            elif element.VR == "UI" and element.value:
                values = [element.value] if isinstance(element.value, str) else list(element.value)
                mapped = [remapUid(value) for value in values]
                if mapped != [str(value) for value in values]:
                    element.value = mapped if len(mapped) > 1 else mapped[0]
                    report["remapped"].add(name(element))
            elif element.VR == "SQ":
                for item in element.value:
                    clean(item)
            elif needles and (element.VR not in _BULK_VRS or tag.is_private) and _containsNeedle(element.value, needles):
                del current[tag]
                report["removed"].add(name(element))

    clean(dataset)
    meta = getattr(dataset, "file_meta", None)
    if meta is not None and "MediaStorageSOPInstanceUID" in meta:
        meta.MediaStorageSOPInstanceUID = remapUid(meta.MediaStorageSOPInstanceUID)
    # PS3.15 asks to record that, and how, the dataset was de-identified.
    dataset.PatientIdentityRemoved = "YES"
    dataset.DeidentificationMethod = f"ais import-dicom {__version__}: PS3.15 basic, UIDs hashed, no dates"[:64]
    return {key: sorted(value) if isinstance(value, set) else value for key, value in report.items()}


def _safePathPart(part: str, needles) -> tuple[str, bool]:
    """A path component with identifiers replaced, and whether it changed."""
    upper = part.upper()
    if any(needle in upper or needle.replace(" ", "_") in upper for needle in needles):
        return "redacted-" + hashlib.sha256(f"ais-path:{part}".encode()).hexdigest()[:8], True
    return part, False


def _encodedNeedles(needles) -> set[bytes]:
    """Identifier values as they may appear in bytes: ASCII/UTF-8 in three cases, and UTF-16."""
    encoded = set()
    for needle in needles:
        for variant in (needle, needle.lower(), needle.title()):
            encoded.update({variant.encode("utf-8"), variant.encode("utf-16-le")})
    return encoded


def _fileHasNeedle(path: Path, encoded) -> bool:
    """Whether a file contains one of the encoded identifier values.

    NIfTI files are searched in their header and extensions only: voxel bytes are numbers, and random
    numbers spell any four letters often enough across a large dataset to stop imports for nothing.
    """
    if path.name.endswith(".gz"):
        import gzip

        data = gzip.decompress(path.read_bytes())
    else:
        data = path.read_bytes()
    if path.name.endswith((".nii", ".nii.gz")) and len(data) >= 352:
        import struct

        voxelOffset = struct.unpack("<f", data[108:112])[0]
        if not 352 <= voxelOffset <= len(data):
            voxelOffset = struct.unpack(">f", data[108:112])[0]
        data = data[: int(voxelOffset)] if 352 <= voxelOffset <= len(data) else data
    return any(needle in data for needle in encoded)


def _datasetHasNeedle(dataset, encoded) -> bool:
    """Whether the encoded dataset, pixel data left out (numbers, see :func:`_fileHasNeedle`), holds an identifier."""
    import io

    bulk = {tag: dataset.pop(tag) for tag in (0x7FE00010, 0x7FE00008, 0x7FE00009) if tag in dataset}
    buffer = io.BytesIO()
    try:
        dataset.save_as(buffer, enforce_file_format=False)
    finally:
        for tag, element in bulk.items():
            dataset[tag] = element
    return any(needle in buffer.getvalue() for needle in encoded)


# ----------------------------------------------------------------------------------------------
# Sidecars and participants


def cleanSidecar(sidecar: dict, needles=frozenset()) -> tuple[dict, list[str]]:
    """Remove identifying and quasi-identifying keys (and any value still holding an identifier).

    :return: ``(cleaned copy, removed key names sorted)``.
    """
    cleaned, removed = {}, []
    for key, value in sidecar.items():
        if key in SIDECAR_REMOVED_KEYS or _SIDECAR_REMOVED_PATTERN.search(key) or (needles and _containsNeedle(json.dumps(value), needles)):
            removed.append(key)
        else:
            cleaned[key] = value
    return cleaned, sorted(removed)


def _ageYears(value) -> int | None:
    """DICOM age string (``065Y``, ``018M``) to whole years, capped at :data:`MAX_REPORTED_AGE_YEARS`."""
    match = re.fullmatch(r"(\d{1,3})([DWMY])", str(value or "").strip().upper())
    if not match:
        return None
    number, unit = int(match[1]), match[2]
    years = {"D": number / 365.25, "W": number / 52.18, "M": number / 12, "Y": number}[unit]
    return min(int(years), MAX_REPORTED_AGE_YEARS)


def _updateParticipants(root: Path, participantId: str, values: dict, written: list[str]) -> None:
    """Add the participant to participants.tsv once (rows of others kept; new columns padded with n/a)."""
    path = root / "participants.tsv"
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    header = lines[0].split("\t") if lines else ["participant_id"]
    rows = [line.split("\t") for line in lines[1:] if line.strip()]
    if any(row and row[0] == participantId for row in rows):
        return
    for column in values:
        if column not in header:
            header.append(column)
            rows = [row + ["n/a"] for row in rows]
    rows.append([participantId if column == "participant_id" else str(values.get(column, "n/a")) for column in header])
    rows = [row + ["n/a"] * (len(header) - len(row)) for row in rows]
    writeTextAtomic(path, "\n".join("\t".join(row) for row in [header, *rows]) + "\n")
    written.append("participants.tsv")
    descriptionPath = root / "participants.json"
    descriptions = json.loads(descriptionPath.read_text(encoding="utf-8")) if descriptionPath.is_file() else {}
    known = {
        "participant_id": {"Description": "Pseudonymous subject label given at DICOM import; no link to the patient is stored here."},
        "age": {"Description": f"Age at the scan from the DICOM header, whole years, ages above {MAX_REPORTED_AGE_YEARS} given as {MAX_REPORTED_AGE_YEARS}.", "Units": "year"},
        "sex": {"Description": "Sex from the DICOM header.", "Levels": {"M": "male", "F": "female", "O": "other"}},
    }
    missing = {column: known[column] for column in header if column in known and column not in descriptions}
    if missing:
        writeJsonAtomic(descriptionPath, {**descriptions, **missing})
        written.append("participants.json")


def _ensureDatasetFiles(root: Path, dcm2niixVersionText: str, written: list[str]) -> None:
    if ensureBidsIgnore(root):
        written.append(".bidsignore")
    description = root / "dataset_description.json"
    if not description.is_file():
        writeJsonAtomic(description, {
            "Name": "Acute ischemic stroke MRI",
            "BIDSVersion": BIDS_VERSION,
            "DatasetType": "raw",
            "GeneratedBy": [
                {"Name": "ais import-dicom", "Version": __version__, "Description": "De-identification, then dcm2niix conversion."},
                {"Name": "dcm2niix", "Version": dcm2niixVersionText},
            ],
        })
        written.append("dataset_description.json")
    readme = root / "README"
    if not readme.is_file():
        writeTextAtomic(readme, (
            "Acute ischemic stroke MRI, imported from DICOM with `ais import-dicom`.\n\n"
            "Images were converted with dcm2niix from de-identified copies of the DICOM originals; sidecars keep\n"
            "acquisition parameters (field strength, TE, TR, b values) and no personal identifier.\n"
            "sourcedata/ holds the de-identified DICOM copies, the import manifest and the de-identification log\n"
            "(attribute names only). Burned-in text in pixel data is not checked: restrict access to sourcedata/.\n"
        ))
        written.append("README")


# ----------------------------------------------------------------------------------------------
# Import


def _readJson(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise AISError(f"'{path}' is not valid JSON ({error}); fix or remove it before importing.") from None


def _readBValues(path: Path) -> list[float] | None:
    if not path.is_file():
        return None
    try:
        return [float(value) for value in path.read_text(encoding="ascii").split()]
    except (OSError, ValueError):
        return None


def _contentHash(series: DicomSeries) -> str:
    digest = hashlib.sha256()
    for fileDigest in sorted(sha256File(path) for path in series.files):
        digest.update(fileDigest.encode())
    return digest.hexdigest()


def importDicom(dicomDir, bidsRoot, participantLabel: str, sessionLabel: str | None = None,
                includeAgeSex: bool = False, progress=None) -> ImportResult:
    """Import one subject's DICOM study (one session) into a BIDS dataset.

    :param dicomDir: folder with the DICOM files (searched recursively; read only).
    :param bidsRoot: BIDS dataset root; created when missing.
    :param participantLabel: subject label, letters and digits (``01`` or ``sub-01``); a pseudonym,
        never the patient's name or ID.
    :param sessionLabel: session label, letters and digits, or None for no session level.
    :param includeAgeSex: write the DICOM PatientAge (whole years, capped at 89) and PatientSex to
        ``participants.tsv`` (quasi-identifiers: off unless the study protocol needs them).
    :param progress: optional ``(fraction, message)`` callable; raising :class:`OperationCancelled`
        from it stops the import with nothing written.
    :return: :class:`ImportResult`.
    :raises InputError: bad labels, no DICOM image, no DWI among the series.
    :raises OutputExistsError: a BIDS file already exists and did not come from the same series.
    :raises AISError: dcm2niix or pydicom missing or failing, an identifier would survive, disk errors.
    """
    pydicom = _requirePydicom()
    subject = _label(participantLabel, "sub", "participant")
    session = _label(sessionLabel, "ses", "session") if sessionLabel else None
    root, source = Path(bidsRoot), Path(dicomDir)
    caseId = f"sub-{subject}" + (f"_ses-{session}" if session else "")
    caseFolder = Path(f"sub-{subject}") / (f"ses-{session}" if session else "")
    if source.is_dir() and root.resolve().is_relative_to(source.resolve()):
        raise InputError(f"The BIDS root '{root}' lies inside the DICOM folder '{source}'; choose a folder outside it.")
    if root.exists() and not root.is_dir():
        raise InputError(f"The BIDS root '{root}' exists and is not a folder.")
    executable = findDcm2niix()

    def report(fraction, message):
        if progress:
            progress(fraction, message)

    allSeries, skippedFiles = scanDicomFolder(source, lambda fraction, message: report(0.15 * fraction, message))
    result = ImportResult(caseId)
    if skippedFiles:
        result.warnings.append(f"{len(skippedFiles)} file(s) in '{source}' are not DICOM images and were ignored.")
    manifestPath = root / "sourcedata" / MANIFEST_NAME
    manifest = _readJson(manifestPath) if manifestPath.is_file() else {"formatVersion": 1, "series": {}}
    recorded = manifest.setdefault("series", {})

    pending = []
    for series in allSeries:
        entry = recorded.get(series.seriesKey)
        if entry is None:
            pending.append(series)
            continue
        if (entry.get("participant"), entry.get("session")) != (subject, session):
            raise OutputExistsError(f"{_seriesName(series)} was already imported as another participant or session "
                                    f"(see '{manifestPath}'); nothing was imported.")
        if entry.get("contentSha256") != _contentHash(series):
            raise OutputExistsError(f"{_seriesName(series)} was imported before with different files; remove its outputs "
                                    f"and its entry in '{manifestPath}' to import it again.")
        missing = [path for path in entry.get("outputs", []) if not (root / path).is_file()]
        if missing:
            raise OutputExistsError(f"{_seriesName(series)} was imported before but '{missing[0]}' is gone; remove its "
                                    f"entry in '{manifestPath}' to import it again.")
        result.alreadyImported.append(_seriesName(series))

    recordedKeys = {key for entry in recorded.values() if (entry.get("participant"), entry.get("session")) == (subject, session)
                    for key in entry.get("keys", [])}
    staging = Path(tempfile.mkdtemp(prefix="ais-import-"))
    try:
        plan, logEntries, ageSex = _stage(pydicom, executable, pending, staging, subject, session, caseFolder, result,
                                          recordedKeys, lambda fraction, message: report(0.15 + 0.7 * fraction, message))
        if "dwi" not in recordedKeys and not any(image["key"] == "dwi" for image in result.images):
            described = ", ".join(_seriesName(series) for series in allSeries[:6]) + (" ..." if len(allSeries) > 6 else "")
            raise InputError(f"No DWI series was recognised in '{source}' ({described}); nothing was imported.")
        for key in ("adc", "flair"):
            if key not in recordedKeys and not any(image["key"] == key for image in result.images):
                result.warnings.append(f"No {key.upper()} series was recognised; the consensus reading needs DWI, ADC and FLAIR.")
        report(0.85, "Writing the BIDS dataset")
        _commit(root, plan, manifest, manifestPath, logEntries, caseFolder, subject, session,
                ageSex if includeAgeSex else {}, dcm2niixVersion(executable), result)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    report(1.0, f"Imported {caseId}")
    result.written.sort()
    return result


def _label(value: str, prefix: str, what: str) -> str:
    label = str(value or "").strip()
    if label.startswith(f"{prefix}-"):
        label = label[len(prefix) + 1:]
    if not LABEL_PATTERN.match(label):
        raise InputError(f"The {what} label '{value}' must be letters and digits only (BIDS), e.g. 01 or P001.")
    return label


def _stage(pydicom, executable, pending, staging, subject, session, caseFolder, result, recordedKeys, report):
    """De-identify, convert and classify the new series inside ``staging``; nothing outside is touched.

    :return: ``(plan, log entries, age/sex values)``; the plan maps BIDS-relative target paths to staged
        files, plus the manifest entries to add.
    """
    pseudonym = f"sub-{subject}"
    plan = {"files": {}, "series": {}}
    logEntries = {}
    ageSex = {}
    images = []
    for seriesIndex, series in enumerate(pending):
        report(seriesIndex / max(len(pending), 1), f"De-identifying {_seriesName(series)}")
        copyFolder = staging / "copies" / series.seriesKey
        copyFolder.mkdir(parents=True)
        removed, blanked, remapped, privateBlocks, renamedParts = set(), set(), set(), 0, 0
        seriesNeedles = set()
        sourceTargets = []
        for index, (path, relative) in enumerate(zip(series.files, series.relativePaths)):
            try:
                dataset = pydicom.dcmread(path)
            except Exception as error:  # noqa: BLE001 - a file that read as DICOM a moment ago now fails: report it
                raise InputError(f"The DICOM file '{path}' cannot be read ({type(error).__name__}).") from None
            needles = _identifierNeedles(dataset)
            seriesNeedles |= needles
            if not ageSex:
                age, sex = _ageYears(dataset.get("PatientAge")), str(dataset.get("PatientSex", "") or "").strip().upper()
                ageSex = {**({"age": age} if age is not None else {}), **({"sex": sex} if sex in ("M", "F", "O") else {})}
            changes = deidentifyDataset(dataset, pseudonym, needles)
            if _datasetHasNeedle(dataset, _encodedNeedles(needles)):
                raise AISError(f"An identifier survived de-identification in the copy of '{path.name}' of {_seriesName(series)}; "
                               "nothing was imported.")
            removed.update(changes["removed"])
            blanked.update(changes["blanked"])
            remapped.update(changes["remapped"])
            privateBlocks += changes["privateBlocksRemoved"]
            staged = copyFolder / f"{index:05d}.dcm"
            try:
                dataset.save_as(staged, enforce_file_format=False)
            except Exception as error:  # noqa: BLE001 - pydicom reports encoding problems with various types
                raise AISError(f"The de-identified copy of '{path}' could not be written ({type(error).__name__}: {error}).") from None
            safeParts = []
            for part in relative.parts:
                safe, changed = _safePathPart(part, needles)
                safeParts.append(safe)
                renamedParts += changed
            sourceTargets.append((Path("sourcedata") / caseFolder / Path(*safeParts), staged))
        report((seriesIndex + 0.5) / max(len(pending), 1), f"Converting {_seriesName(series)}")
        outputFolder = staging / "converted" / series.seriesKey
        _runDcm2niix(executable, copyFolder, outputFolder, series)
        sidecarKeysRemoved = set()
        for niftiPath in sorted(outputFolder.glob("*.nii.gz")):
            stem = niftiPath.name[: -len(".nii.gz")]
            sidecarPath = outputFolder / f"{stem}.json"
            sidecar = _readJson(sidecarPath) if sidecarPath.is_file() else {}
            bValues = _readBValues(outputFolder / f"{stem}.bval")
            key, reason = classifySeries(sidecar, bValues, stem)
            if key is None:
                result.skipped.append({"series": _seriesName(series), "reason": reason})
                continue
            if key == "dwi" and bValues is not None and max(bValues) <= B0_MAXIMUM and sidecar.get("DiffusionBValue") is None:
                result.skipped.append({"series": _seriesName(series), "reason": "b=0 only; a b~1000 DWI is needed"})
                continue
            cleaned, removedKeys = cleanSidecar(sidecar, seriesNeedles)
            sidecarKeysRemoved.update(removedKeys)
            images.append({"key": key, "series": series, "stem": stem, "folder": outputFolder, "sidecar": cleaned,
                           "reason": reason, "hasBValues": bValues is not None})
        plan["series"][series.seriesKey] = {"series": series, "sourceTargets": sourceTargets, "contentSha256": _contentHash(series),
                                            "needles": seriesNeedles}
        logEntries[series.seriesKey] = {
            "seriesNumber": series.seriesNumber,
            "dicomAttributesRemoved": sorted(removed),
            "dicomAttributesBlankedOrPseudonymised": sorted(blanked),
            "dicomUidsReplaced": sorted(remapped),
            "privateBlocksRemoved": privateBlocks,
            "pathComponentsRenamed": renamedParts,
            "sidecarKeysRemoved": sorted(sidecarKeysRemoved),
        }
    _nameImages(images, subject, session, caseFolder, recordedKeys, plan, result)
    allNeedles = set().union(*(entry["needles"] for entry in plan["series"].values())) if plan["series"] else set()
    encoded = _encodedNeedles(allNeedles)
    for relativePath, staged in plan["files"].items():
        if any(needle in relativePath.upper() for needle in allNeedles):
            raise AISError(f"The output name '{relativePath}' would hold an identifier; nothing was imported.")
        if _fileHasNeedle(staged, encoded):
            raise AISError(f"An identifier survived in the converted file for '{relativePath}'; nothing was imported.")
    return plan, logEntries, ageSex


def _nameImages(images, subject, session, caseFolder, recordedKeys, plan, result) -> None:
    """Give each classified image its BIDS name; several images of one kind get ``run-<n>`` in series order."""
    byKey: dict[str, list[dict]] = {}
    for image in images:
        byKey.setdefault(image["key"], []).append(image)
    prefix = f"sub-{subject}" + (f"_ses-{session}" if session else "")
    for key, group in sorted(byKey.items()):
        folder, suffix = BIDS_TARGETS[key]
        if len(group) > 1 or key in recordedKeys:
            result.warnings.append(f"{len(group) + (key in recordedKeys)} {key.upper()} images were found; they are named with run-<n> "
                                   f"and the reading will ask which one to use.")
        for runIndex, image in enumerate(group, start=1 + (key in recordedKeys)):
            runPart = f"_run-{runIndex}" if len(group) > 1 or key in recordedKeys else ""
            stem = f"{prefix}{runPart}_{suffix}"
            target = caseFolder / folder / stem
            staged = image["folder"]
            entries = {f"{target.as_posix()}.nii.gz": staged / f"{image['stem']}.nii.gz"}
            sidecarStaged = staged / f"{image['stem']}.bids.json"
            sidecarStaged.write_text(json.dumps(image["sidecar"], indent=2) + "\n", encoding="utf-8")
            entries[f"{target.as_posix()}.json"] = sidecarStaged
            if key == "dwi" and image["hasBValues"]:
                for extension in (".bval", ".bvec"):
                    if (staged / f"{image['stem']}{extension}").is_file():
                        entries[f"{target.as_posix()}{extension}"] = staged / f"{image['stem']}{extension}"
            plan["files"].update(entries)
            plan["series"][image["series"].seriesKey].setdefault("outputs", []).extend(sorted(entries))
            plan["series"][image["series"].seriesKey].setdefault("keys", []).append(key)
            result.images.append({"key": key, "path": f"{target.as_posix()}.nii.gz", "series": _seriesName(image["series"]),
                                  "reason": image["reason"]})


def _sameContent(path: Path, staged: Path) -> bool:
    return path.is_file() and path.stat().st_size == staged.stat().st_size and sha256File(path) == sha256File(staged)


def _commit(root, plan, manifest, manifestPath, logEntries, caseFolder, subject, session, ageSex, converterVersion, result) -> None:
    """Write every staged file into the dataset, or nothing: on any failure what this run wrote is removed
    and the shared files it changed (participants, log, manifest) get their previous content back."""
    targets = dict(plan["files"])
    for entry in plan["series"].values():
        targets.update({target.as_posix(): staged for target, staged in entry["sourceTargets"]})
    for relative, staged in sorted(targets.items()):
        path = root / relative
        if path.exists() and not _sameContent(path, staged):
            raise OutputExistsError(f"'{path}' already exists and did not come from this series; nothing was imported.")
    if not plan["series"]:
        return
    logPath = root / "sourcedata" / caseFolder / DEIDENTIFICATION_LOG_NAME
    sharedFiles = [root / "participants.tsv", root / "participants.json", root / ".bidsignore", logPath, manifestPath]
    previous = {path: path.read_bytes() if path.is_file() else None for path in sharedFiles}
    createdRoot = not root.exists()
    createdFolders, written = [], []
    try:
        for relative, staged in sorted(targets.items()):
            path = root / relative
            if path.exists():
                continue
            createdFolders += [root / parent for parent in reversed(list(Path(relative).parents)[:-1]) if not (root / parent).exists()]
            with atomicWritePath(path, overwrite=False) as temporary:
                shutil.copyfile(staged, temporary)
            written.append(relative)
        _ensureDatasetFiles(root, converterVersion, written)
        _updateParticipants(root, f"sub-{subject}", ageSex, written)
        log = _readJson(logPath) if logPath.is_file() else {
            "description": "What ais import-dicom removed or replaced, by DICOM attribute or sidecar key name; never values.",
            "series": {},
        }
        log["series"].update(logEntries)
        writeJsonAtomic(logPath, log)
        written.append(logPath.relative_to(root).as_posix())
        for seriesKey, entry in plan["series"].items():
            manifest["series"][seriesKey] = {
                "participant": subject, "session": session, "seriesNumber": entry["series"].seriesNumber,
                "contentSha256": entry["contentSha256"], "keys": sorted(set(entry.get("keys", []))),
                "outputs": sorted(entry.get("outputs", [])), "sourceFiles": len(entry["sourceTargets"]),
            }
        # The manifest is written last: once it names a series, every file of that series is in place.
        writeJsonAtomic(manifestPath, manifest)
        written.append(manifestPath.relative_to(root).as_posix())
    except BaseException:
        if createdRoot:
            shutil.rmtree(root, ignore_errors=True)
            raise
        for relative in written:
            path = root / relative
            if path in previous and previous[path] is not None:
                with contextlib.suppress(OSError):
                    writeTextAtomic(path, previous[path].decode("utf-8"))
            else:
                path.unlink(missing_ok=True)
        for folder in sorted(set(createdFolders), key=lambda item: len(item.parts), reverse=True):
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    result.written.extend(written)


__all__ = [
    "DicomSeries", "ImportResult", "OperationCancelled", "cleanSidecar", "classifySeries", "deidentifyDataset",
    "findDcm2niix", "importDicom", "remapUid", "scanDicomFolder",
]
