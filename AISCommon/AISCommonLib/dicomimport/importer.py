"""Import a DICOM study into the BIDS dataset: de-identify, convert with dcm2niix, name, record.

Storage rules (consensus section 2.2): originals are DICOM, converted with dcm2niix to NIfTI + JSON
sidecars that keep field strength, TE, TR and b values; no personal identifier anywhere; BIDS layout.

How one import runs, and why in this order:

1. Scan ``DICOM_DIR`` (pydicom, headers only), group image files by series. Non-DICOM files are skipped.
   Folder and file names are never used again: copies are named by series number and position.
2. **De-identify copies first** (:mod:`.profile`: PS3.15 Basic Profile from ``dicom-anonymizer``'s table,
   Clean Descriptors, dates shifted by the subject's secret offset, UIDs replaced with the dataset's secret
   key, private attributes dropped except a reviewed keep-list). dcm2niix then converts *these copies*, so
   identifiers never reach a sidecar, and the copies are what ``sourcedata/`` keeps: the originals are only
   read. Which sequence a series is (:mod:`.seriesclassify`) is decided from the original descriptors in
   memory; only cleaned descriptors are written.
3. Convert each series with dcm2niix, classify each image, keep the allowed sidecar keys, clear the NIfTI
   text fields (:mod:`.outputs`).
4. A last search of every staged byte (names, sidecars, NIfTI headers, DICOM copies) for the patient's
   names, IDs and addresses and other persons' names that the de-identification removed; one hit stops the
   import with nothing written.
5. Commit (:mod:`.bidswriter`): all files or none; the manifest is written last. A series already in the
   manifest is skipped, so re-importing is idempotent.

Nothing the import prints, raises or logs holds a value from the DICOM headers or a source path: series
are named by number and cleaned description, files by position.
"""

import contextlib
import dataclasses
import logging
import re
import shutil
import tempfile
import warnings
from pathlib import Path

from ..core.atomicio import sha256File
from ..core.errors import AISError, InputError, OperationCancelled, OutputExistsError
from . import dcm2niixrun
from .bidswriter import (
    DEIDENTIFICATION_LOG_NAME,
    MANIFEST_FORMAT_VERSION,
    MANIFEST_NAME,
    ageYears,
    commitImport,
    nameImages,
    readJson,
)
from .deidsecret import SECRET_DIR_ENVIRONMENT_VARIABLE, SecretStore
from .descriptors import cleanDescriptor
from .outputs import clearNiftiText, filterSidecar, findNeedle, findNeedleInDataset, splitNeedles
from .profile import PS315_EDITION, DeidentificationContext, DeidentificationReport, deidentifyDataset
from .seriesclassify import B0_MAXIMUM, classifySeries

logger = logging.getLogger(__name__)

LABEL_PATTERN = re.compile(r"^[A-Za-z0-9]+$")
#: Descriptors read from the originals for classification only (kept in memory, never written).
_CLASSIFYING_DESCRIPTORS = ("SeriesDescription", "ProtocolName")


@dataclasses.dataclass
class DicomSeries:
    """One DICOM series found in the input folder.

    :param seriesKey: keyed hash of the SeriesInstanceUID (:meth:`.DeidentificationKey.seriesKey`):
        identifies the series in the manifest without its UID.
    :param displayName: how output and messages name it: number and cleaned description.
    :param descriptors: original SeriesDescription and ProtocolName, for classification in memory only.
    :param files: original files, sorted (never named in any output).
    """

    seriesKey: str
    seriesNumber: int | None
    displayName: str
    descriptors: dict = dataclasses.field(default_factory=dict, repr=False)
    files: list[Path] = dataclasses.field(default_factory=list, repr=False)

    @property
    def folderName(self) -> str:
        """The folder of its de-identified copies under ``sourcedata``: number and key, nothing from the source."""
        number = f"{self.seriesNumber:03d}" if self.seriesNumber is not None else "x"
        return f"series-{number}-{self.seriesKey[:8]}"


@dataclasses.dataclass
class ImportResult:
    """What one import did.

    :param written: BIDS paths (relative to the root, POSIX) this run wrote, sorted.
    :param images: one entry per recognised image: key, BIDS path, series (number and cleaned description), reason.
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
# Scanning


def _requirePydicom():
    try:
        import pydicom
    except ImportError:
        raise AISError("DICOM import needs pydicom, which is not installed; install it with: pip install 'ais-annotation[import]'.") from None
    return pydicom


@contextlib.contextmanager
def quietPydicom():
    """Silence pydicom while the import runs: its warnings and log lines quote header values (an invalid
    date, a name with a bad character) and would print identifiers on the console."""
    pydicomLogger = logging.getLogger("pydicom")
    previousLevel, previousPropagate = pydicomLogger.level, pydicomLogger.propagate
    pydicomLogger.setLevel(logging.CRITICAL + 1)
    pydicomLogger.propagate = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        pydicomLogger.setLevel(previousLevel)
        pydicomLogger.propagate = previousPropagate


def _displayName(number, description: str) -> str:
    text = f"series {number}" if number is not None else "a series"
    return f"{text} '{description}'" if description else text


def scanDicomFolder(dicomDir, key, progress=None) -> tuple[list[DicomSeries], int]:
    """Group the DICOM image files under a folder by series (headers only, pixel data not read).

    :param dicomDir: folder searched recursively; hidden files and ``DICOMDIR`` are ignored.
    :param key: the dataset's :class:`.DeidentificationKey` (series keys).
    :param progress: optional ``(fraction, message)`` callable.
    :return: ``(series sorted by series number, number of files that are not DICOM images)``.
    :raises InputError: the folder is missing or holds no DICOM image (the message does not repeat the
        folder's name: it may identify the patient).
    """
    pydicom = _requirePydicom()
    folder = Path(dicomDir)
    if not folder.is_dir():
        raise InputError("The DICOM folder given does not exist or is not a folder (its name is not repeated: it may identify the patient).")
    paths = sorted(path for path in folder.rglob("*") if path.is_file() and not any(part.startswith(".") for part in path.relative_to(folder).parts))
    if not paths:
        raise InputError("The DICOM folder given is empty.")
    bySeries: dict[str, DicomSeries] = {}
    skipped = 0
    for index, path in enumerate(paths):
        if progress and index % 50 == 0:
            progress(index / len(paths), f"Reading DICOM headers ({index}/{len(paths)})")
        try:
            dataset = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception:  # noqa: BLE001 - pydicom raises many types on foreign files; any of them means "not DICOM"
            skipped += 1
            continue
        seriesUid = str(dataset.get("SeriesInstanceUID", "") or "")
        if path.name.upper() == "DICOMDIR" or not seriesUid or "Rows" not in dataset or "Columns" not in dataset:
            skipped += 1
            continue
        seriesKey = key.seriesKey(seriesUid)
        if seriesKey not in bySeries:
            number = dataset.get("SeriesNumber")
            try:
                number = int(number) if number not in (None, "") else None
            except (TypeError, ValueError):
                number = None
            descriptors = {name: str(dataset.get(name, "") or "") for name in _CLASSIFYING_DESCRIPTORS}
            bySeries[seriesKey] = DicomSeries(seriesKey, number, _displayName(number, cleanDescriptor(descriptors["SeriesDescription"])),
                                              descriptors)
        bySeries[seriesKey].files.append(path)
    if not bySeries:
        raise InputError(f"The DICOM folder given holds no DICOM image ({skipped} file(s) that are not DICOM images).")
    return sorted(bySeries.values(), key=lambda series: (series.seriesNumber is None, series.seriesNumber or 0, series.seriesKey)), skipped


# ----------------------------------------------------------------------------------------------
# Import


def _readBValues(path: Path) -> list[float] | None:
    if not path.is_file():
        return None
    try:
        return [float(value) for value in path.read_text(encoding="ascii").split()]
    except (OSError, ValueError):
        return None


def _label(value: str, prefix: str, what: str) -> str:
    label = str(value or "").strip()
    if label.startswith(f"{prefix}-"):
        label = label[len(prefix) + 1:]
    if not LABEL_PATTERN.match(label):
        raise InputError(f"The {what} label '{value}' must be letters and digits only (BIDS), e.g. 01 or P001.")
    return label


def _openKey(store: SecretStore, root: Path, manifest: dict, manifestPath: Path):
    """The dataset's key: from the store when the manifest names one, else a new one (stored at commit).

    :return: ``(key, isNew)``.
    """
    secretId = manifest.get("secretId")
    if manifest.get("series") and (manifest.get("formatVersion") or 1) < MANIFEST_FORMAT_VERSION:
        raise InputError(f"'{manifestPath}' was written by an older ais import-dicom that hashed UIDs without a secret; "
                         "import the DICOM again into a new dataset.")
    if not secretId:
        return store.create(), True
    key = store.load(str(secretId))
    if key is None:
        raise AISError(f"The de-identification secret of '{root}' (id {secretId}) is not in {store.description}; restore it "
                       f"(or point {SECRET_DIR_ENVIRONMENT_VARIABLE} at the folder holding it) before importing, or the new series "
                       "would get other UIDs and dates.")
    return key, False


def importDicom(dicomDir, bidsRoot, participantLabel: str, sessionLabel: str | None = None,
                includeAgeSex: bool = False, progress=None, secretStore: SecretStore | None = None) -> ImportResult:
    """Import one subject's DICOM study (one session) into a BIDS dataset.

    :param dicomDir: folder with the DICOM files (searched recursively; read only; its name and the names
        of its files are never written or printed).
    :param bidsRoot: BIDS dataset root; created when missing.
    :param participantLabel: subject label, letters and digits (``01`` or ``sub-01``); a pseudonym,
        never the patient's name or ID.
    :param sessionLabel: session label, letters and digits, or None for no session level.
    :param includeAgeSex: write the DICOM PatientAge (whole years, capped at 89) and PatientSex to
        ``participants.tsv`` (quasi-identifiers: off unless the study protocol needs them).
    :param progress: optional ``(fraction, message)`` callable; raising :class:`OperationCancelled`
        from it stops the import with nothing written. Messages name series by number and cleaned description.
    :param secretStore: where the dataset's de-identification secret is kept (default :class:`.SecretStore`:
        keyring, or ``$AIS_DEID_SECRET_DIR``, or the per-user config folder); never inside the dataset.
    :return: :class:`ImportResult`.
    :raises InputError: bad labels, no DICOM image, no DWI among the series.
    :raises OutputExistsError: a BIDS file already exists and did not come from the same series.
    :raises AISError: dcm2niix, pydicom or dicom-anonymizer missing or failing, an identifier would survive,
        the dataset's secret is missing, disk errors.
    """
    pydicom = _requirePydicom()
    subject = _label(participantLabel, "sub", "participant")
    session = _label(sessionLabel, "ses", "session") if sessionLabel else None
    root, source = Path(bidsRoot), Path(dicomDir)
    caseId = f"sub-{subject}" + (f"_ses-{session}" if session else "")
    caseFolder = Path(f"sub-{subject}") / (f"ses-{session}" if session else "")
    if source.is_dir() and root.resolve().is_relative_to(source.resolve()):
        raise InputError(f"The BIDS root '{root}' lies inside the DICOM folder; choose a folder outside it.")
    if root.exists() and not root.is_dir():
        raise InputError(f"The BIDS root '{root}' exists and is not a folder.")
    store = secretStore or SecretStore()
    store.checkOutside(root)
    executable = dcm2niixrun.findDcm2niix()
    manifestPath = root / "sourcedata" / MANIFEST_NAME
    manifest = readJson(manifestPath) if manifestPath.is_file() else {"formatVersion": MANIFEST_FORMAT_VERSION, "series": {}}
    key, keyIsNew = _openKey(store, root, manifest, manifestPath)
    manifest["formatVersion"] = MANIFEST_FORMAT_VERSION
    manifest["secretId"] = key.secretId
    recorded = manifest.setdefault("series", {})

    def report(fraction, message):
        if progress:
            progress(fraction, message)

    with quietPydicom():
        allSeries, skippedFiles = scanDicomFolder(source, key, lambda fraction, message: report(0.15 * fraction, message))
        result = ImportResult(caseId)
        if skippedFiles:
            result.warnings.append(f"{skippedFiles} file(s) in the DICOM folder are not DICOM images and were ignored.")
        pending = []
        for series in allSeries:
            entry = recorded.get(series.seriesKey)
            if entry is None:
                pending.append(series)
                continue
            if (entry.get("participant"), entry.get("session")) != (subject, session):
                raise OutputExistsError(f"{series.displayName} was already imported as another participant or session "
                                        f"(see '{manifestPath}'); nothing was imported.")
            if entry.get("contentKey") != _contentKey(series, key):
                raise OutputExistsError(f"{series.displayName} was imported before with different files; remove its outputs "
                                        f"and its entry in '{manifestPath}' to import it again.")
            missing = [path for path in entry.get("outputs", []) if not (root / path).is_file()]
            if missing:
                raise OutputExistsError(f"{series.displayName} was imported before but '{missing[0]}' is gone; remove its "
                                        f"entry in '{manifestPath}' to import it again.")
            result.alreadyImported.append(series.displayName)

        recordedKeys = {sequenceKey for entry in recorded.values() if (entry.get("participant"), entry.get("session")) == (subject, session)
                        for sequenceKey in entry.get("keys", [])}
        context = DeidentificationContext(key, f"sub-{subject}", key.dateShiftSeconds(subject))
        staging = Path(tempfile.mkdtemp(prefix="ais-import-"))
        try:
            plan, logEntries, ageSex = _stage(pydicom, executable, pending, staging, context, caseFolder, subject, session, result,
                                              recordedKeys, lambda fraction, message: report(0.15 + 0.7 * fraction, message))
            if "dwi" not in recordedKeys and not any(image["key"] == "dwi" for image in result.images):
                described = ", ".join(series.displayName for series in allSeries[:6]) + (" ..." if len(allSeries) > 6 else "")
                raise InputError(f"No DWI series was recognised in the DICOM folder ({described}); nothing was imported.")
            for sequenceKey in ("adc", "flair"):
                if sequenceKey not in recordedKeys and not any(image["key"] == sequenceKey for image in result.images):
                    result.warnings.append(f"No {sequenceKey.upper()} series was recognised; the consensus reading needs DWI, ADC and FLAIR.")
            report(0.85, "Writing the BIDS dataset")
            commitImport(root, plan, manifest, manifestPath, logEntries, caseFolder, subject, session,
                         ageSex if includeAgeSex else {}, _generators(executable), result,
                         saveKey=(lambda: store.save(key)) if keyIsNew else None,
                         forgetKey=(lambda: store.delete(key)) if keyIsNew else None)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    if keyIsNew and result.written:
        result.warnings.append(f"A new de-identification secret (id {key.secretId}) was stored in {store.description}; back it up "
                               "and keep it out of the dataset: later imports into this dataset need it to give the same UIDs and date shifts.")
    report(1.0, f"Imported {caseId}")
    result.written.sort()
    return result


def _generators(executable: str) -> list[dict]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        anonymizerVersion = version("dicom-anonymizer")
    except PackageNotFoundError:
        anonymizerVersion = "unknown"
    return [
        {"Name": "dicom-anonymizer", "Version": anonymizerVersion, "Description": f"PS3.15 Table E.1-1, edition {PS315_EDITION}."},
        {"Name": "dcm2niix", "Version": dcm2niixrun.dcm2niixVersion(executable)},
    ]


def _contentKey(series: DicomSeries, key) -> str:
    """Keyed fingerprint of a series' original files (an unkeyed hash would let anyone holding the
    originals confirm that they are in the dataset)."""
    return key.contentKey(sha256File(path) for path in series.files)


def _stage(pydicom, executable, pending, staging, context, caseFolder, subject, session, result, recordedKeys, report):
    """De-identify, convert and classify the new series inside ``staging``; nothing outside is touched.

    :return: ``(plan, log entries, age/sex values)``; the plan maps BIDS-relative target paths to staged
        files, plus the manifest entries to add.
    """
    plan = {"files": {}, "series": {}}
    logEntries = {}
    ageSex = {}
    images = []
    allNeedles = set()
    for seriesIndex, series in enumerate(pending):
        report(seriesIndex / max(len(pending), 1), f"De-identifying {series.displayName} ({seriesIndex + 1}/{len(pending)})")
        copyFolder = staging / "copies" / series.seriesKey
        copyFolder.mkdir(parents=True)
        seriesReport = DeidentificationReport()
        sourceTargets = []
        for index, path in enumerate(series.files, start=1):
            try:
                dataset = pydicom.dcmread(path)
            except Exception as error:  # noqa: BLE001 - a file that read as DICOM a moment ago now fails: report it
                raise InputError(f"File {index} of {series.displayName} cannot be read ({type(error).__name__}); nothing was imported.") from None
            if not ageSex:
                age, sex = ageYears(dataset.get("PatientAge")), str(dataset.get("PatientSex", "") or "").strip().upper()
                ageSex = {**({"age": age} if age is not None else {}), **({"sex": sex} if sex in ("M", "F", "O") else {})}
            fileReport = deidentifyDataset(dataset, context)
            seriesReport.merge(fileReport)
            pattern, short = splitNeedles(fileReport.needles)
            attribute = findNeedleInDataset(dataset, pattern, short)
            if attribute is not None:
                raise AISError(f"After de-identification, {attribute} of file {index} of {series.displayName} still holds a word of "
                               "the patient's name or ID (an attribute PS3.15 keeps); nothing was imported.")
            staged = copyFolder / f"{index:05d}.dcm"
            try:
                dataset.save_as(staged, enforce_file_format=False)
            except Exception as error:  # noqa: BLE001 - pydicom reports encoding problems with various types
                raise AISError(f"The de-identified copy of file {index} of {series.displayName} could not be written "
                               f"({type(error).__name__}).") from None
            sourceTargets.append((Path("sourcedata") / caseFolder / "dicom" / series.folderName / staged.name, staged))
        allNeedles |= seriesReport.needles
        report((seriesIndex + 0.5) / max(len(pending), 1), f"Converting {series.displayName} ({seriesIndex + 1}/{len(pending)})")
        outputFolder = staging / "converted" / series.seriesKey
        dcm2niixrun.runDcm2niix(executable, copyFolder, outputFolder, series.displayName)
        sidecarKeysDropped, niftiFieldsCleared = set(), set()
        for niftiPath in sorted(outputFolder.glob("*.nii.gz")):
            stem = niftiPath.name[: -len(".nii.gz")]
            sidecarPath = outputFolder / f"{stem}.json"
            sidecar = readJson(sidecarPath) if sidecarPath.is_file() else {}
            bValues = _readBValues(outputFolder / f"{stem}.bval")
            # The original descriptors classify (in memory); the copy's cleaned ones are what is written.
            sequenceKey, reason = classifySeries({**sidecar, **{name: value for name, value in series.descriptors.items() if value}}, bValues, stem)
            if sequenceKey is None:
                result.skipped.append({"series": series.displayName, "reason": reason})
                continue
            if sequenceKey == "dwi" and bValues is not None and max(bValues) <= B0_MAXIMUM and sidecar.get("DiffusionBValue") is None:
                result.skipped.append({"series": series.displayName, "reason": "b=0 only; a b~1000 DWI is needed"})
                continue
            filtered, dropped = filterSidecar(sidecar)
            sidecarKeysDropped.update(dropped)
            niftiFieldsCleared.update(clearNiftiText(niftiPath))
            images.append({"key": sequenceKey, "series": series, "stem": stem, "folder": outputFolder, "sidecar": filtered,
                           "reason": reason, "hasBValues": bValues is not None})
        plan["series"][series.seriesKey] = {"series": series, "sourceTargets": sourceTargets, "contentKey": _contentKey(series, context.key)}
        logEntries[series.seriesKey] = {
            "seriesNumber": series.seriesNumber,
            "profile": f"DICOM PS3.15 Basic Application Level Confidentiality Profile (Table E.1-1 {PS315_EDITION}, dicom-anonymizer)",
            "options": ["Clean Descriptors", "Retain Longitudinal Temporal Information with Modified Dates (secret per-subject shift)"],
            **seriesReport.toLog(),
            "sourceNames": "not carried: copies are named by series number and position",
            "sidecarKeysDropped (not on the allow-list)": sorted(sidecarKeysDropped),
            "niftiFieldsCleared": sorted(niftiFieldsCleared),
        }
    nameImages(images, subject, session, caseFolder, recordedKeys, plan, result)
    pattern, short = splitNeedles(allNeedles)
    staged = dict(plan["files"])
    for entry in plan["series"].values():
        staged.update({target.as_posix(): path for target, path in entry["sourceTargets"]})
    found = findNeedle(list(staged.values()), list(staged), pattern, short)
    if found is not None:
        raise AISError(f"An identifier survived in the file that would be '{found}'; nothing was imported.")
    return plan, logEntries, ageSex


__all__ = [
    "DEIDENTIFICATION_LOG_NAME", "MANIFEST_NAME", "DicomSeries", "ImportResult", "OperationCancelled", "classifySeries",
    "importDicom", "scanDicomFolder",
]
