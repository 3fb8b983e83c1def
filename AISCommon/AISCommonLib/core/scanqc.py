"""Scan-parameter QC (consensus Table 1): does each case's acquisition meet the limits, read from sidecars and headers?

One place for the acquisition limits (:class:`ScanLimits`); ``ais validate`` uses the same numbers for its
warnings, ``ais scan-qc`` and the acceptance report list every check per case, passed or not, as sentences.
Only the JSON sidecars and NIfTI headers are read (no voxel data), so a whole dataset is checked in seconds.

The limits, and why:

- **field strength >= 1.5 T**, **slice thickness <= 5 mm**, **gap <= 20 % of the thickness**: consensus
  section 2.1 (Table 1). Thickness is the sidecar's ``SliceThickness``; without it the header's slice spacing
  stands in (and is said to). The gap is ``SpacingBetweenSlices`` (or the header's spacing) minus the thickness.
- **in-plane resolution** (pixel size along both in-plane axes) and **matrix** (voxels along them): the
  consensus asks for "adequate resolution" without numbers; ours are the coarsest a clinical stroke protocol
  uses. DWI is an EPI sequence acquired at 128-192 matrix over a 220-240 mm field of view (1.2-1.9 mm), often
  reconstructed at 2 mm; below a 96 matrix or above 2.5 mm a lacune (3-15 mm) covers one or two pixels and is
  missed. FLAIR and T1w/T2w are turbo spin echo at 256-320 matrix (0.7-0.9 mm); 1.2 mm and a 192 matrix are
  the coarsest that still show a small cortical infarct's gyral shape. The slice axis is the voxel axis with
  the largest spacing (dcm2niix writes it third); the two others are in-plane.
- **cranio-caudal coverage of the DWI >= 120 mm**: from the foramen magnum to the vertex an adult brain is about
  120-130 mm; a DWI slab shorter than that leaves out the vertex or the posterior fossa, where infarcts (the
  cerebellum, the brainstem) are then missed. Measured along the voxel axis closest to superior (slices x spacing).
- **FLAIR/T1w/T2w cover >= 50 % of the DWI field of view** (the same anatomy; clinical FLAIR often has a
  smaller in-plane field of view).
- **DWI b values: a b0/b1000 pair**: the consensus' DWI is b = 1000 s/mm^2 (+- 25) with its b = 0 image
  (eADC = DWI/b0, and the ADC's fit). The pair is found in a series' ``.bval``, a separate b=0 file, or a
  sidecar list; a trace-only DWI with a scanner ADC is reported as "b0 not shipped" (the ADC shows the pair
  existed, but it cannot be checked).

Each check gives a :class:`ScanFinding` with ``status`` ``pass``, ``fail`` (outside the limit: a site judges
whether to keep the case) or ``unknown`` (the metadata to check it is missing).
"""

import dataclasses
import math

import numpy as np

from .cases import Case
from .diffusion import B0_MAXIMUM, NOMINAL_B, declaredBValues, isNominal
from .errors import InputError
from .image import readHeaderGrid

MIN_FIELD_STRENGTH_T = 1.5
MAX_SLICE_THICKNESS_MM = 5.0
MAX_GAP_FRACTION = 0.2
#: FLAIR/T1w/T2w keep their own grid but must show the same anatomy: this much of the DWI's field
#: of view must lie inside theirs (clinical FLAIR often has a smaller in-plane field of view).
MIN_FIELD_OF_VIEW_OVERLAP = 0.5
MAX_DWI_PIXEL_MM = 2.5
MIN_DWI_MATRIX = 96
MAX_ANATOMICAL_PIXEL_MM = 1.2
MIN_ANATOMICAL_MATRIX = 192
MIN_DWI_COVERAGE_MM = 120.0
#: Sequences whose acquisition is checked (ADC/eADC are computed from the DWI and share its acquisition).
CHECKED_SEQUENCES = ("dwi", "flair", "t1w", "t2w")
STATUSES = ("pass", "fail", "unknown")
#: How each sequence is named in findings.
LABELS = {"dwi": "DWI", "flair": "FLAIR", "t1w": "T1w", "t2w": "T2w"}


@dataclasses.dataclass(frozen=True)
class ScanLimits:
    """The acquisition limits (consensus section 2.1 and Table 1 by default; see the module docstring for why).

    :param minFieldStrengthT: lowest field strength (T).
    :param maxSliceThicknessMm: thickest slices (mm).
    :param maxGapFraction: largest gap between slices as a fraction of the thickness.
    :param maxDwiPixelMm: coarsest DWI in-plane pixel (mm). :param minDwiMatrix: fewest DWI voxels along an in-plane axis.
    :param maxAnatomicalPixelMm: coarsest FLAIR/T1w/T2w in-plane pixel (mm). :param minAnatomicalMatrix: fewest of their in-plane voxels.
    :param minDwiCoverageMm: shortest cranio-caudal extent of the DWI (mm).
    :param minFieldOfViewOverlap: fraction of the DWI's field of view a FLAIR/T1w/T2w must cover.
    """

    minFieldStrengthT: float = MIN_FIELD_STRENGTH_T
    maxSliceThicknessMm: float = MAX_SLICE_THICKNESS_MM
    maxGapFraction: float = MAX_GAP_FRACTION
    maxDwiPixelMm: float = MAX_DWI_PIXEL_MM
    minDwiMatrix: int = MIN_DWI_MATRIX
    maxAnatomicalPixelMm: float = MAX_ANATOMICAL_PIXEL_MM
    minAnatomicalMatrix: int = MIN_ANATOMICAL_MATRIX
    minDwiCoverageMm: float = MIN_DWI_COVERAGE_MM
    minFieldOfViewOverlap: float = MIN_FIELD_OF_VIEW_OVERLAP

    def validated(self) -> "ScanLimits":
        """:raises InputError: a limit that is negative, not finite, or an overlap outside 0-1."""
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
                raise InputError(f"The scan limit {field.name} must be a finite number of 0 or more, not {value!r}.")
        if self.minFieldOfViewOverlap > 1:
            raise InputError(f"The field-of-view overlap must lie between 0 and 1, not {self.minFieldOfViewOverlap}.")
        return self


@dataclasses.dataclass(frozen=True)
class ScanFinding:
    """One scan-parameter check of one sequence of a case.

    :param status: ``pass``, ``fail`` or ``unknown`` (the metadata is missing).
    :param parameter: ``field_strength``, ``slice_thickness``, ``slice_gap``, ``in_plane_resolution``, ``matrix``,
        ``coverage``, ``field_of_view``, ``b_value`` or ``b0_pair``.
    :param value: the measured value (a number, text, or None when unknown). :param limit: the limit in words.
    :param source: where the value came from (``sidecar``, ``header``, ``.bval`` ...).
    :param message: the finding as one sentence.
    """

    caseId: str
    sequence: str
    parameter: str
    status: str
    value: object
    limit: str
    source: str
    message: str

    def toDict(self) -> dict:
        return dataclasses.asdict(self)


class _Checks:
    def __init__(self, case: Case, sequence: str):
        self.case, self.sequence, self.findings = case, sequence, []

    def add(self, parameter, status, value, limit, source, message):
        self.findings.append(ScanFinding(self.case.caseId, self.sequence, parameter, status, value, limit, source, message))


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _axes(ijkToRas: np.ndarray, zooms) -> tuple[int, list[int], int]:
    """``(slice axis, in-plane axes, cranio-caudal axis)``: the slice axis has the largest spacing (ties: the third)."""
    spacing = [float(value) for value in zooms[:3]]
    sliceAxis = max(range(3), key=lambda axis: (spacing[axis], axis))
    columns = np.asarray(ijkToRas, dtype=np.float64)[:3, :3]
    superior = max(range(3), key=lambda axis: abs(columns[2, axis]) / max(np.linalg.norm(columns[:, axis]), 1e-12))
    return sliceAxis, [axis for axis in range(3) if axis != sliceAxis], superior


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


def _acquisition(checks: _Checks, sidecar: dict, header, limits: ScanLimits) -> None:
    label = LABELS[checks.sequence]
    field = _number(sidecar.get("MagneticFieldStrength"))
    minimum = f">= {limits.minFieldStrengthT:g} T"
    if field is None:
        checks.add("field_strength", "unknown", None, minimum, "", f"{label}: field strength unknown (no MagneticFieldStrength in a sidecar).")
    else:
        ok = field >= limits.minFieldStrengthT
        checks.add("field_strength", "pass" if ok else "fail", field, minimum, "sidecar",
                   f"{label}: acquired at {field:g} T" + ("." if ok else f", below the {limits.minFieldStrengthT:g} T limit."))
    sliceAxis, inPlane, _ = _axes(header.ijkToRas, header.zoomsMm)
    spacing = float(header.zoomsMm[sliceAxis])
    thickness, source, said = _number(sidecar.get("SliceThickness")), "sidecar", "sidecar"
    if thickness is None:
        thickness, source, said = spacing, "header", "the header's slice spacing: no SliceThickness in a sidecar"
    ok = thickness <= limits.maxSliceThicknessMm + 1e-6
    checks.add("slice_thickness", "pass" if ok else "fail", round(thickness, 3), f"<= {limits.maxSliceThicknessMm:g} mm", source,
               f"{label}: slices {thickness:.3g} mm thick ({said})" + ("." if ok else f", more than the {limits.maxSliceThicknessMm:g} mm limit."))
    between = _number(sidecar.get("SpacingBetweenSlices"))
    between, gapSource = (spacing, "header") if between is None else (between, "sidecar")
    if source != "sidecar":
        checks.add("slice_gap", "unknown", None, f"<= {limits.maxGapFraction:.0%} of the thickness", "",
                   f"{label}: slice gap unknown (the thickness is not recorded, only the slice spacing of {spacing:.3g} mm).")
    else:
        gap = max(0.0, between - thickness)
        ok = gap <= limits.maxGapFraction * thickness + 1e-6
        checks.add("slice_gap", "pass" if ok else "fail", round(gap, 3), f"<= {limits.maxGapFraction:.0%} of the thickness", gapSource,
                   f"{label}: {gap:.2g} mm gap between {thickness:g} mm slices ({gap / thickness:.0%})"
                   + ("." if ok else f", more than the {limits.maxGapFraction:.0%} limit."))
    anatomical = checks.sequence != "dwi"
    maxPixel = limits.maxAnatomicalPixelMm if anatomical else limits.maxDwiPixelMm
    minMatrix = limits.minAnatomicalMatrix if anatomical else limits.minDwiMatrix
    pixels = [float(header.zoomsMm[axis]) for axis in inPlane]
    matrix = [int(header.shape[axis]) for axis in inPlane]
    ok = max(pixels) <= maxPixel + 1e-6
    checks.add("in_plane_resolution", "pass" if ok else "fail", [round(value, 3) for value in pixels], f"<= {maxPixel:g} mm", "header",
               f"{label}: in-plane pixels {pixels[0]:.3g} x {pixels[1]:.3g} mm" + ("." if ok else f", coarser than the {maxPixel:g} mm limit."))
    ok = min(matrix) >= minMatrix
    checks.add("matrix", "pass" if ok else "fail", matrix, f">= {minMatrix} x {minMatrix}", "header",
               f"{label}: in-plane matrix {matrix[0]} x {matrix[1]}" + ("." if ok else f", fewer than {minMatrix} voxels along an axis."))


def _coverage(checks: _Checks, header, limits: ScanLimits) -> None:
    _, _, superior = _axes(header.ijkToRas, header.zoomsMm)
    extent = int(header.shape[superior]) * float(header.zoomsMm[superior])
    ok = extent >= limits.minDwiCoverageMm - 1e-6
    checks.add("coverage", "pass" if ok else "fail", round(extent, 1), f">= {limits.minDwiCoverageMm:g} mm", "header",
               f"DWI: covers {extent:.0f} mm from bottom to top ({header.shape[superior]} slices of {header.zoomsMm[superior]:.3g} mm)"
               + ("." if ok else f", less than the {limits.minDwiCoverageMm:g} mm a whole brain needs (vertex or posterior fossa left out?)."))


def _bValues(checks: _Checks, case: Case, header) -> None:
    path = case.files["dwi"]
    try:
        sources = declaredBValues(path, case.root, header.descrip)
    except InputError as error:
        checks.add("b_value", "unknown", None, f"b = {NOMINAL_B:g} s/mm^2", "", f"DWI: b values unreadable ({error}).")
        return
    values = sorted({float(value) for source in sources[:1] for value in source.values})
    weighted = [value for value in values if value > B0_MAXIMUM]
    if not sources:
        checks.add("b_value", "unknown", None, f"b = {NOMINAL_B:g} s/mm^2", "",
                   "DWI: no b value recorded (no .bval, sidecar, header or file-name b value).")
    elif not weighted:
        checks.add("b_value", "fail", 0.0, f"b = {NOMINAL_B:g} s/mm^2", sources[0].source, f"DWI: only b = 0 in {sources[0].source}.")
    else:
        highest = max(weighted)
        ok = isNominal(highest)
        checks.add("b_value", "pass" if ok else "fail", highest, f"b = {NOMINAL_B:g} s/mm^2", sources[0].source,
                   f"DWI: b = {highest:g} s/mm^2 ({sources[0].source})" + ("." if ok else f", not the consensus b = {NOMINAL_B:g}."))
    zeros = [value for value in values if value <= B0_MAXIMUM]
    if zeros and weighted:
        checks.add("b0_pair", "pass", "b0 in the series", "b = 0 with the DWI", sources[0].source,
                   f"DWI: b0/b{max(weighted):g} pair in the series ({sources[0].source}).")
    elif "b0" in case.files:
        checks.add("b0_pair", "pass", case.files["b0"].name, "b = 0 with the DWI", "file",
                   f"DWI: b0 shipped as its own file ({case.files['b0'].name}).")
    elif "adc" in case.files:
        checks.add("b0_pair", "unknown", None, "b = 0 with the DWI", "",
                   "DWI: no b=0 image shipped (trace only); the scanner's ADC implies a b0/b1000 pair but it cannot be checked.")
    else:
        checks.add("b0_pair", "fail", None, "b = 0 with the DWI", "", "DWI: no b=0 image and no ADC: the b0/b1000 pair is missing.")


def scanParameterFindings(case: Case, limits: ScanLimits | None = None) -> list[ScanFinding]:
    """Every scan-parameter check of one case, passed or not, from its sidecars and headers.

    :param case: a discovered :class:`~AISCommonLib.core.cases.Case`.
    :param limits: the limits (default :class:`ScanLimits`).
    :return: findings in sequence order (DWI, FLAIR, T1w, T2w), each parameter once; a file whose header or sidecar
        cannot be read gives one ``unknown`` finding saying why.
    :raises InputError: a limit out of range.
    """
    limits = (limits or ScanLimits()).validated()
    findings, headers = [], {}
    for sequence in CHECKED_SEQUENCES:
        if sequence not in case.files:
            continue
        checks = _Checks(case, sequence)
        try:
            header = readHeaderGrid(case.files[sequence])
            sidecar = case.sidecar(sequence)
        except InputError as error:
            checks.add("readable", "unknown", None, "", "", f"{LABELS[sequence]}: not checked ({str(error).rstrip('.')}).")
            findings.extend(checks.findings)
            continue
        headers[sequence] = header
        _acquisition(checks, sidecar, header, limits)
        if sequence == "dwi":
            _coverage(checks, header, limits)
            _bValues(checks, case, header)
        elif "dwi" in headers:
            dwi = headers["dwi"]
            overlap = fieldOfViewOverlap((dwi.shape, dwi.ijkToRas), (header.shape, header.ijkToRas))
            ok = overlap >= limits.minFieldOfViewOverlap
            checks.add("field_of_view", "pass" if ok else "fail", round(overlap, 3), f">= {limits.minFieldOfViewOverlap:.0%} of the DWI's",
                       "header", f"{LABELS[sequence]}: covers {overlap:.0%} of the DWI field of view"
                       + ("." if ok else "; check it is the same study."))
        findings.extend(checks.findings)
    if "dwi" not in case.files:
        findings.insert(0, ScanFinding(case.caseId, "dwi", "readable", "unknown", None, "", "", "DWI: missing, nothing to check."))
    return findings


def summarise(findings: list[ScanFinding]) -> dict:
    """Counts per status and the failing parameters (``sequence.parameter``), e.g. for a report row."""
    counts = {status: sum(finding.status == status for finding in findings) for status in STATUSES}
    return {**counts, "failed": [f"{finding.sequence}.{finding.parameter}" for finding in findings if finding.status == "fail"],
            "unknown_parameters": [f"{finding.sequence}.{finding.parameter}" for finding in findings if finding.status == "unknown"]}
