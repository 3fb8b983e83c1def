"""Dataset checks before anyone reads: naming, sequences, geometry, acquisition metadata, de-identification.

Format rules (a file that cannot be read, an ADC off the DWI grid, a missing sequence, an identifier in a
sidecar) are errors: the dataset fails. The consensus' acquisition limits (section 2.1: field strength
>= 1.5 T, slice thickness <= 5 mm, gap <= 20 % of the thickness) are judgements a site makes about its
scanners, so they are warnings with limits set in :class:`ValidationLimits`; a clinical FLAIR of 4 mm
with a 1 mm gap is reported, not refused. With ``choices=True`` every choice the loader made is reported
too (severity ``info``): which file is the DWI and why, which b value and from where, the ADC unit and
how it was decided, how eADC is made, the reference masks found and whether they fit.
"""

import dataclasses
import math
import re
from pathlib import Path

import numpy as np

from .bidsnames import parseName
from .cases import Case, discoverCases, imageRoot
from .derivatives import listReaderMasks
from .errors import AISError, InputError
from .image import readHeaderGrid
from .imagelimits import ImageLimits
from .referencemasks import checkReferenceFit, relativeName
from .scanqc import MAX_GAP_FRACTION, MAX_SLICE_THICKNESS_MM, MIN_FIELD_OF_VIEW_OVERLAP, MIN_FIELD_STRENGTH_T, fieldOfViewOverlap
from .sequences import LOAD_REQUIRED_SEQUENCES, loadCase

# MIN_FIELD_STRENGTH_T, MAX_SLICE_THICKNESS_MM, MAX_GAP_FRACTION, MIN_FIELD_OF_VIEW_OVERLAP: the acquisition limits live in
# one place (core.scanqc, consensus Table 1); validation warns with the same numbers.
#: A NIfTI ``descrip`` holding a time of day or a date (dcm2niix writes ``Time=180654.605``) can help re-identify.
DESCRIP_TIME_PATTERN = re.compile(r"(?i)\b(time|date)\s*=\s*\d")


@dataclasses.dataclass(frozen=True)
class ValidationLimits:
    """The acquisition limits a site judges its data by (consensus section 2.1 by default); breaking one is a warning.

    :param minFieldStrengthT: lowest field strength (T).
    :param maxSliceThicknessMm: thickest slices (mm).
    :param maxGapFraction: largest gap between slices as a fraction of the thickness.
    :param minFieldOfViewOverlap: fraction of the DWI's field of view a FLAIR/T1w/T2w must cover.
    :param imageLimits: per-image size limits when reading (None: defaults or ``AIS_MAX_IMAGE_MIB``).
    """

    minFieldStrengthT: float = MIN_FIELD_STRENGTH_T
    maxSliceThicknessMm: float = MAX_SLICE_THICKNESS_MM
    maxGapFraction: float = MAX_GAP_FRACTION
    minFieldOfViewOverlap: float = MIN_FIELD_OF_VIEW_OVERLAP
    imageLimits: ImageLimits | None = None

    def validated(self) -> "ValidationLimits":
        """:raises InputError: a limit outside its meaningful range."""
        checks = [
            (self.minFieldStrengthT >= 0, "the minimum field strength must not be negative"),
            (self.maxSliceThicknessMm > 0, "the maximum slice thickness must be positive"),
            (self.maxGapFraction >= 0, "the maximum gap fraction must not be negative"),
            (0 <= self.minFieldOfViewOverlap <= 1, "the field-of-view overlap must lie between 0 and 1"),
        ]
        values = (self.minFieldStrengthT, self.maxSliceThicknessMm, self.maxGapFraction, self.minFieldOfViewOverlap)
        for ok, message in checks:
            if not ok or not all(math.isfinite(value) for value in values):
                raise InputError(f"Invalid validation limit: {message if not ok else 'limits must be finite numbers'}.")
        return self
#: Sidecar keys that identify a person or link back to one: never allowed.
IDENTIFYING_KEYS = {
    "PatientName", "PatientID", "PatientBirthDate", "OtherPatientIDs", "OtherPatientNames", "PatientAddress",
    "PatientTelephoneNumbers", "PatientMotherBirthName", "MedicalRecordLocator", "AccessionNumber",
    "ReferringPhysicianName", "PerformingPhysicianName", "OperatorsName", "InstitutionAddress",
}
#: Keys that are quasi-identifiers: allowed with care, reported as warnings.
QUASI_IDENTIFYING_KEYS = {
    "PatientAge", "PatientSex", "PatientWeight", "PatientSize", "AcquisitionDate", "AcquisitionDateTime",
    "StudyDate", "SeriesDate", "ContentDate", "InstitutionName", "InstitutionalDepartmentName", "StationName",
    "DeviceSerialNumber", "StudyInstanceUID", "SeriesInstanceUID",
}
IDENTIFYING_PARTICIPANT_COLUMNS = {"name", "patient_name", "birth_date", "birthdate", "dob", "patient_id", "mrn"}
BIDS_NAME = re.compile(r"^sub-(?P<subject>[A-Za-z0-9]+)(_ses-(?P<session>[A-Za-z0-9]+))?(_[a-z]+-[A-Za-z0-9]+)*_(?P<suffix>[A-Za-z0-9]+)$")
EXPECTED_SUFFIX = {"dwi": "dwi", "b0": "dwi", "adc": "adc", "eadc": "eadc", "flair": "FLAIR", "t1w": "T1w", "t2w": "T2w"}
EXPECTED_FOLDER = {"dwi": "dwi", "b0": "dwi", "adc": "dwi", "eadc": "dwi", "flair": "anat", "t1w": "anat", "t2w": "anat"}


@dataclasses.dataclass(frozen=True)
class Finding:
    """One finding: ``severity`` is ``error``, ``warning`` or ``info`` (a choice made, in words); ``code`` is a stable key for tools."""

    severity: str
    code: str
    message: str
    caseId: str = ""
    file: str = ""

    def toDict(self) -> dict:
        return dataclasses.asdict(self)


class _Collector:
    def __init__(self):
        self.findings: list[Finding] = []

    def add(self, severity, code, message, case: Case | None = None, path: Path | None = None):
        self.findings.append(Finding(severity, code, message, case.caseId if case else "", path.name if path else ""))


def _checkDatasetFiles(root: Path, cases: list[Case], out: _Collector) -> None:
    import json

    if not (root / "dataset_description.json").is_file():
        root = imageRoot(root)  # ISLES 2022: the BIDS dataset is rawdata/, beside derivatives/
    description = root / "dataset_description.json"
    if not description.is_file():
        out.add("error", "dataset-description-missing", f"'{description}' is missing; BIDS needs it (Name, BIDSVersion).")
    else:
        try:
            document = json.loads(description.read_text(encoding="utf-8"))
            missing = [key for key in ("Name", "BIDSVersion") if key not in document]
            if missing:
                out.add("error", "dataset-description-incomplete", f"dataset_description.json lacks {', '.join(missing)}.")
        except (OSError, ValueError) as error:
            out.add("error", "dataset-description-invalid", f"dataset_description.json is not valid JSON ({error}).")
    participants = root / "participants.tsv"
    if not participants.is_file():
        out.add("warning", "participants-missing", "participants.tsv is missing; subjects and their clinical data should be listed there.")
        return
    lines = participants.read_text(encoding="utf-8").splitlines()
    columns = [column.strip().lower() for column in lines[0].split("\t")] if lines else []
    for column in sorted(set(columns) & IDENTIFYING_PARTICIPANT_COLUMNS):
        out.add("error", "identifying-column", f"participants.tsv has the identifying column '{column}'; remove it.")
    listed = {line.split("\t")[0].strip() for line in lines[1:] if line.strip()}
    for subject in sorted({f"sub-{case.subject}" for case in cases} - listed):
        out.add("warning", "participant-not-listed", f"{subject} is not listed in participants.tsv.")


def _checkNaming(case: Case, key: str, path: Path, out: _Collector) -> None:
    name = parseName(path.name)
    if name is None or name.subject != case.subject or name.session != case.session:
        expected = f"sub-{case.subject}{'_ses-' + case.session if case.session else ''}"
        out.add("error", "bad-name", f"'{path.name}' does not start with {expected}, the subject and session of its folder.", case, path)
        return
    if name.bareTokens or not BIDS_NAME.match(name.stem):
        out.add("warning", "non-bids-name", f"'{path.name}' is not a valid BIDS name (parts without a key-value form); it was recognised as {key.upper()}.", case, path)
    # OpenNeuro stores ADC/eADC as _dwi with rec-/desc- (valid BIDS): only a plain suffix is checked for spelling.
    if name.suffix.lower() != "dwi" and name.suffix != EXPECTED_SUFFIX[key]:
        out.add("warning", "suffix-spelling", f"'{path.name}': BIDS spells this suffix '{EXPECTED_SUFFIX[key]}'.", case, path)
    if path.parent == case.folder:
        out.add("warning", "flat-layout", f"'{path.name}' sits directly in the session folder (ISLES-style); BIDS puts it in {EXPECTED_FOLDER[key]}/.", case, path)


def _checkAcquisition(case: Case, key: str, sidecar: dict, sliceSpacingMm: float, limits: ValidationLimits, out: _Collector) -> None:
    path = case.files[key]
    label = key.upper()
    if not case.sidecarPaths(key):
        out.add("warning", "sidecar-missing", f"{label} has no JSON sidecar: field strength, slice thickness, TE and TR are unknown.", case, path)
        if sliceSpacingMm > limits.maxSliceThicknessMm + 1e-6:
            out.add("warning", "slice-spacing", f"{label} slices are {sliceSpacingMm:.3g} mm apart (header), more than the "
                    f"{limits.maxSliceThicknessMm:g} mm limit.", case, path)
        return
    field = _number(sidecar.get("MagneticFieldStrength"))
    if field is None:
        out.add("warning", "field-strength-missing", f"{label} sidecar has no MagneticFieldStrength.", case, path)
    elif field < limits.minFieldStrengthT:
        out.add("warning", "field-strength-low", f"{label} was acquired at {field:g} T, below the {limits.minFieldStrengthT:g} T limit.", case, path)
    thickness = _number(sidecar.get("SliceThickness"))
    if thickness is None:
        if sliceSpacingMm > limits.maxSliceThicknessMm + 1e-6:
            out.add("warning", "slice-spacing", f"{label} has no SliceThickness in its sidecar and its slices are {sliceSpacingMm:.3g} mm apart "
                    f"(header), more than the {limits.maxSliceThicknessMm:g} mm limit.", case, path)
        else:
            out.add("warning", "slice-thickness-missing", f"{label} sidecar has no SliceThickness (slices {sliceSpacingMm:.3g} mm apart per the header).", case, path)
    else:
        if thickness > limits.maxSliceThicknessMm:
            out.add("warning", "slice-too-thick", f"{label} slices are {thickness:g} mm thick, more than the {limits.maxSliceThicknessMm:g} mm limit.", case, path)
        spacing = _number(sidecar.get("SpacingBetweenSlices"))
        spacing = sliceSpacingMm if spacing is None else spacing
        gap = spacing - thickness
        if gap > limits.maxGapFraction * thickness + 1e-6:
            out.add("warning", "slice-gap", f"{label} has a {gap:.2g} mm gap between {thickness:g} mm slices ({gap / thickness:.0%}), more than the "
                    f"{limits.maxGapFraction:.0%} limit.", case, path)
    for fieldName in ("EchoTime", "RepetitionTime"):
        if fieldName not in sidecar:
            out.add("warning", "timing-missing", f"{label} sidecar has no {fieldName}.", case, path)


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _checkIdentifiers(case: Case, key: str, sidecar: dict, descrip: str, out: _Collector) -> None:
    path = (case.sidecarPaths(key) or [case.files[key]])[-1]
    for name in sorted(set(sidecar) & IDENTIFYING_KEYS):
        out.add("error", "identifying-field", f"Sidecar field {name} identifies a person; remove it (de-identification).", case, path)
    for name in sorted(set(sidecar) & QUASI_IDENTIFYING_KEYS):
        out.add("warning", "quasi-identifying-field", f"Sidecar field {name} can help re-identify a person; keep it only if needed.", case, path)
    if DESCRIP_TIME_PATTERN.search(descrip):
        out.add("warning", "header-description", f"The NIfTI header description of {case.files[key].name} holds an acquisition time or date "
                "('descrip'); clear it if the dataset leaves the hospital.", case, case.files[key])


def _headerGrid(path: Path, limits: ValidationLimits | None = None):
    """Shape, affine and zooms from the header alone (fast: no voxel data is read; oversized headers are refused)."""
    grid = readHeaderGrid(path, limits.imageLimits if limits else None)
    return grid.shape, grid.ijkToRas, grid.zoomsMm


def _checkFiles(case: Case, limits: ValidationLimits, out: _Collector) -> dict:
    grids = {}
    for key, path in sorted(case.files.items()):
        _checkNaming(case, key, path, out)
        try:
            header = readHeaderGrid(path, limits.imageLimits)
            grids[key] = (header.shape, header.ijkToRas, header.zoomsMm, header)
            sidecar = case.sidecar(key)
        except InputError as error:
            out.add("error", "unreadable", str(error), case, path)
            continue
        _checkIdentifiers(case, key, sidecar, header.descrip, out)
        if key in ("dwi", "flair", "t1w", "t2w"):
            _checkAcquisition(case, key, sidecar, float(header.zoomsMm[2]), limits, out)
    return grids


def _checkGrids(root: Path, case: Case, grids: dict, limits: ValidationLimits, out: _Collector) -> list[Finding]:
    """Grid checks; :return: the reference masks that fit, as ``info`` findings."""
    dwiShape, dwiAffine = grids["dwi"][0][:3], grids["dwi"][1]
    for key in ("b0", "adc", "eadc"):
        if key in grids and (grids[key][0][:3] != dwiShape or not np.allclose(grids[key][1], dwiAffine, atol=1e-4)):
            severity = "warning" if key == "b0" else "error"
            out.add(severity, "grid-mismatch", f"{key.upper()} is not on the DWI voxel grid; it must share it exactly.", case, case.files[key])
    for key in ("flair", "t1w", "t2w"):
        if key in grids and (overlap := fieldOfViewOverlap(grids["dwi"], grids[key])) < limits.minFieldOfViewOverlap:
            out.add("warning", "field-of-view", f"{key.upper()} covers only {overlap:.0%} of the DWI field of view; check it is the same study.", case, case.files[key])
    for record in listReaderMasks(root, case):
        try:
            shape, affine, _ = _headerGrid(record.path, limits)
        except InputError as error:
            out.add("error", "unreadable", str(error), case, record.path)
            continue
        if shape[:3] != dwiShape or not np.allclose(affine, dwiAffine, atol=1e-4):
            out.add("error", "mask-grid-mismatch", f"Mask '{record.path.name}' is not on the DWI voxel grid.", case, record.path)
    references = []
    for path in case.referenceMasks:
        fit = checkReferenceFit(case, path, grids["dwi"][3], root)
        if fit.fits:
            references.append(Finding("info", "choice-reference", fit.sentence, case.caseId, path.name))
        else:
            out.add("warning", "reference-mask-grid", fit.sentence, case, path)
    return references


def _checkCase(root: Path, case: Case, deep: bool, limits: ValidationLimits, choices: bool, out: _Collector) -> None:
    for problem in case.problems:
        out.add("warning", "ambiguous-file", problem, case)
    for key in case.missing:
        out.add("error", "sequence-missing", f"{case.caseId} has no {key.upper()} image; the consensus reading needs DWI, ADC and FLAIR.", case)
    grids = _checkFiles(case, limits, out)
    references = []
    if "dwi" in grids:
        references = _checkGrids(root, case, grids, limits, out)
    elif case.referenceMasks:
        shown = ", ".join(relativeName(path, root) for path in case.referenceMasks)
        out.add("warning", "reference-mask-grid", f"The reference mask(s) {shown} cannot be checked: the case has no readable DWI.", case)
    loaded = None
    if deep and all(key in grids for key in LOAD_REQUIRED_SEQUENCES):
        try:
            loaded = loadCase(case, limits=limits.imageLimits)
        except AISError as error:
            out.add("error", "load-failed", str(error), case)
    for warning in loaded.warnings if loaded else []:
        out.add("warning", _warningCode(warning), warning, case)
    if choices:
        described = loaded.choices if loaded else case.choices
        for topic, sentence in described.items():
            out.add("info", f"choice-{topic}", sentence, case, case.files.get(topic))
        if not case.referenceMasks:
            out.add("info", "choice-reference", "No lesion mask shipped with the dataset for this case (none to compare reads with).", case)
        out.findings.extend(references)


def _warningCode(sentence: str) -> str:
    """A stable code for a loader warning (the sentences name values; tools need keys)."""
    if "was assumed" in sentence:
        return "b-value-missing"
    if "not 1000" in sentence:
        return "b-value-not-1000"
    if " says b=" in sentence:
        return "b-value-conflict"
    if "ADC unit" in sentence:
        return "adc-unit-conflict"
    return "load-warning"


def validateDataset(datasetRoot, deep: bool = True, progress=None, limits: ValidationLimits | None = None, choices: bool = False) -> list[Finding]:
    """Check a whole dataset.

    :param deep: also read every image (finds truncated files, NaNs, ADC units, b values); slower.
    :param progress: optional ``(fraction, message)`` callable.
    :param limits: acquisition and image-size limits (default :class:`ValidationLimits`).
    :param choices: also report, as ``info`` findings, every choice made in reading each case.
    :return: findings, errors first, then warnings, then choices (each group by case).
    :raises InputError: the folder does not exist or holds no case, or a limit is out of range.
    """
    limits = (limits or ValidationLimits()).validated()
    root = Path(datasetRoot)
    cases = discoverCases(root)
    out = _Collector()
    _checkDatasetFiles(root, cases, out)
    for index, case in enumerate(cases):
        if progress:
            progress(index / len(cases), f"Validating {case.caseId}")
        _checkCase(root, case, deep, limits, choices, out)
    rank = {"error": 0, "warning": 1, "info": 2}
    return sorted(out.findings, key=lambda finding: (rank[finding.severity], finding.caseId, finding.code if finding.severity != "info" else ""))
