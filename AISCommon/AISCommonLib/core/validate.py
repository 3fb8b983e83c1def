"""Dataset checks before anyone reads: naming, sequences, geometry, acquisition metadata, de-identification.

Quality rules come from the consensus (section 2.1): field strength >= 1.5 T, slice thickness <= 5 mm,
gap <= 20 % of the thickness; TE, TR and b value recorded. Storage rules (section 2.2): no personal
identifier anywhere. Each problem becomes a :class:`Finding`; errors make the dataset fail.
"""

import dataclasses
import re
from pathlib import Path

import numpy as np

from .cases import NIFTI_PATTERN, Case, discoverCases
from .derivatives import listReaderMasks
from .errors import AISError, InputError
from .sequences import loadCase

MIN_FIELD_STRENGTH_T = 1.5
#: FLAIR/T1w/T2w keep their own grid but must show the same anatomy: this much of the DWI's field
#: of view must lie inside theirs (clinical FLAIR often has a smaller in-plane field of view).
MIN_FIELD_OF_VIEW_OVERLAP = 0.5
MAX_SLICE_THICKNESS_MM = 5.0
MAX_GAP_FRACTION = 0.2
PLAUSIBLE_B_VALUES = (500.0, 3000.0)
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
EXPECTED_SUFFIX = {"dwi": "dwi", "adc": "adc", "eadc": "eadc", "flair": "FLAIR", "t1w": "T1w", "t2w": "T2w"}
EXPECTED_FOLDER = {"dwi": "dwi", "adc": "dwi", "eadc": "dwi", "flair": "anat", "t1w": "anat", "t2w": "anat"}


@dataclasses.dataclass(frozen=True)
class Finding:
    """One problem: ``severity`` is ``error`` or ``warning``; ``code`` is a stable key for tools."""

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
    stem = NIFTI_PATTERN.match(path.name)["stem"]
    match = BIDS_NAME.match(stem)
    if not match or match["subject"] != case.subject or (match["session"] or None) != case.session:
        out.add("error", "bad-name", f"'{path.name}' does not follow sub-{case.subject}{'_ses-' + case.session if case.session else ''}_<suffix>.nii.gz.", case, path)
        return
    if match["suffix"] != EXPECTED_SUFFIX[key]:
        out.add("warning", "suffix-spelling", f"'{path.name}': BIDS spells this suffix '{EXPECTED_SUFFIX[key]}'.", case, path)
    if path.parent == case.folder:
        out.add("warning", "flat-layout", f"'{path.name}' sits directly in the session folder (ISLES-style); BIDS puts it in {EXPECTED_FOLDER[key]}/.", case, path)


def _checkAcquisition(case: Case, key: str, sidecar: dict, sliceSpacingMm: float, out: _Collector) -> None:
    path = case.files[key]
    field = sidecar.get("MagneticFieldStrength")
    if field is None:
        out.add("warning", "field-strength-missing", f"{key.upper()} sidecar has no MagneticFieldStrength.", case, path)
    elif float(field) < MIN_FIELD_STRENGTH_T:
        out.add("error", "field-strength-low", f"{key.upper()} was acquired at {field} T; at least {MIN_FIELD_STRENGTH_T} T is required.", case, path)
    thickness = sidecar.get("SliceThickness")
    if thickness is None:
        out.add("warning", "slice-thickness-missing", f"{key.upper()} sidecar has no SliceThickness.", case, path)
    else:
        thickness = float(thickness)
        if thickness > MAX_SLICE_THICKNESS_MM:
            out.add("error", "slice-too-thick", f"{key.upper()} slices are {thickness:g} mm thick; at most {MAX_SLICE_THICKNESS_MM:g} mm is allowed.", case, path)
        spacing = float(sidecar.get("SpacingBetweenSlices", sliceSpacingMm))
        gap = spacing - thickness
        if gap > MAX_GAP_FRACTION * thickness + 1e-6:
            out.add("error", "slice-gap", f"{key.upper()} has a {gap:.2g} mm gap between {thickness:g} mm slices; at most {MAX_GAP_FRACTION:.0%} of the thickness is allowed.", case, path)
    for field_name in ("EchoTime", "RepetitionTime"):
        if field_name not in sidecar:
            out.add("warning", "timing-missing", f"{key.upper()} sidecar has no {field_name}.", case, path)


def _checkIdentifiers(case: Case, key: str, sidecar: dict, out: _Collector) -> None:
    path = case.sidecarPath(key)
    for name in sorted(set(sidecar) & IDENTIFYING_KEYS):
        out.add("error", "identifying-field", f"Sidecar field {name} identifies a person; remove it (de-identification).", case, path)
    for name in sorted(set(sidecar) & QUASI_IDENTIFYING_KEYS):
        out.add("warning", "quasi-identifying-field", f"Sidecar field {name} can help re-identify a person; keep it only if needed.", case, path)


def _headerGrid(path: Path):
    """Shape, affine and zooms from the header alone (fast: no voxel data is read)."""
    import nibabel as nib

    try:
        image = nib.load(str(path))
    except (OSError, EOFError, ValueError, nib.filebasedimages.ImageFileError) as error:
        raise InputError(f"'{path.name}' cannot be read ({error}).") from None
    return image.shape, np.asarray(image.affine), image.header.get_zooms()


def fieldOfViewOverlap(referenceGrid, otherGrid, samplesPerAxis: int = 12) -> float:
    """Fraction of the reference grid's field of view that the other grid covers.

    Samples the reference grid evenly (oblique grids are exact, unlike bounding boxes) and counts the
    points that fall inside the other grid. Grids are ``(shape, affine)`` as read from headers.
    """
    shape = np.asarray(referenceGrid[0][:3])
    axes = [np.linspace(0, size - 1, samplesPerAxis) for size in shape]
    points = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    ras = points @ np.asarray(referenceGrid[1])[:3, :3].T + np.asarray(referenceGrid[1])[:3, 3]
    inOther = (ras - np.asarray(otherGrid[1])[:3, 3]) @ np.linalg.inv(np.asarray(otherGrid[1])[:3, :3]).T
    inside = np.all((inOther >= -0.5) & (inOther <= np.asarray(otherGrid[0][:3]) - 0.5), axis=1)
    return float(inside.mean())


def _checkCase(root: Path, case: Case, deep: bool, out: _Collector) -> None:
    for problem in case.problems:
        out.add("warning", "ambiguous-file", problem, case)
    for key in case.missing:
        out.add("error", "sequence-missing", f"{case.caseId} has no {key.upper()} image; the consensus reading needs DWI, ADC and FLAIR.", case)
    grids = {}
    for key, path in sorted(case.files.items()):
        _checkNaming(case, key, path, out)
        try:
            grids[key] = _headerGrid(path)
            sidecar = case.sidecar(key)
        except InputError as error:
            out.add("error", "unreadable", str(error), case, path)
            continue
        _checkIdentifiers(case, key, sidecar, out)
        if key in ("dwi", "flair", "t1w", "t2w"):
            _checkAcquisition(case, key, sidecar, float(grids[key][2][2]), out)
    if "dwi" in grids:
        dwiShape, dwiAffine = grids["dwi"][0][:3], grids["dwi"][1]
        for key in ("adc", "eadc"):
            if key in grids and (grids[key][0][:3] != dwiShape or not np.allclose(grids[key][1], dwiAffine, atol=1e-4)):
                out.add("error", "grid-mismatch", f"{key.upper()} is not on the DWI voxel grid; it must share it exactly.", case, case.files[key])
        for key in ("flair", "t1w", "t2w"):
            if key in grids and (overlap := fieldOfViewOverlap(grids["dwi"], grids[key])) < MIN_FIELD_OF_VIEW_OVERLAP:
                out.add("warning", "field-of-view", f"{key.upper()} covers only {overlap:.0%} of the DWI field of view; check it is the same study.", case, case.files[key])
        for record in listReaderMasks(root, case):
            try:
                shape, affine, _ = _headerGrid(record.path)
            except InputError as error:
                out.add("error", "unreadable", str(error), case, record.path)
                continue
            if shape[:3] != dwiShape or not np.allclose(affine, dwiAffine, atol=1e-4):
                out.add("error", "mask-grid-mismatch", f"Mask '{record.path.name}' is not on the DWI voxel grid.", case, record.path)
    if deep and not case.missing:
        try:
            loaded = loadCase(case)
            if loaded.bValueSource == "assumed":
                out.add("warning", "b-value-missing", f"No b value in sidecar or .bval; b=1000 s/mm^2 was assumed for {case.caseId}.", case)
            elif not PLAUSIBLE_B_VALUES[0] <= loaded.bValue <= PLAUSIBLE_B_VALUES[1]:
                out.add("warning", "b-value-unusual", f"The DWI b value is {loaded.bValue:g} s/mm^2, outside the usual {PLAUSIBLE_B_VALUES[0]:g}-{PLAUSIBLE_B_VALUES[1]:g}.", case)
        except AISError as error:
            out.add("error", "load-failed", str(error), case)


def validateDataset(datasetRoot, deep: bool = True, progress=None) -> list[Finding]:
    """Check a whole dataset.

    :param deep: also read every image (finds truncated files, NaNs, ADC units, b values); slower.
    :param progress: optional ``(fraction, message)`` callable.
    :return: findings, errors first.
    :raises InputError: the folder does not exist or holds no case.
    """
    root = Path(datasetRoot)
    cases = discoverCases(root)
    out = _Collector()
    _checkDatasetFiles(root, cases, out)
    for index, case in enumerate(cases):
        if progress:
            progress(index / len(cases), f"Validating {case.caseId}")
        _checkCase(root, case, deep, out)
    return sorted(out.findings, key=lambda finding: (finding.severity != "error", finding.caseId, finding.code))
