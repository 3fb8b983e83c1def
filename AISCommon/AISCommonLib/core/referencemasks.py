"""Lesion masks a dataset already ships (ISLES 2022 ``derivatives/.../*_msk``, SOOP ``*_desc-lesion_mask``):
read-only references to compare the readers' masks with.

Discovery (:func:`AISCommonLib.core.cases.discoverCases`) lists them per case in ``case.referenceMasks``;
nothing here writes next to them or changes them. A reference is compared only when it lies on the read's
voxel grid (the DWI grid): it is never resampled, and one that does not fit is reported in a sentence.
"""

import dataclasses
import logging
from pathlib import Path

from .agreement import AgreementParameters, compareMasks
from .cases import Case, discoverCases
from .derivatives import latestReaderMasks
from .errors import AISError, GeometryError, InputError
from .image import GRID_TOLERANCE, HeaderGrid, loadVolume, readHeaderGrid, requireSameGrid
from .masks import binarizeMask

logger = logging.getLogger(__name__)

#: Columns of a read-versus-reference row (CSV header order). The reference is the truth of the lesion-wise counts.
REFERENCE_COLUMNS = [
    "case", "reader", "version", "reference", "status", "dice", "jaccard", "volume_read_ml", "volume_reference_ml",
    "abs_volume_diff_ml", "hd95_mm", "assd_mm", "lesions_read", "lesions_reference", "lesion_f1",
    "missed_reference_lesions", "extra_read_lesions", "error",
]  # fmt: skip


@dataclasses.dataclass(frozen=True)
class ReferenceFit:
    """Whether a shipped mask lies on a case's DWI grid.

    :param path: the mask file.
    :param fits: same shape and matrix (within the grid tolerance) as the DWI.
    :param sentence: what was found, in words (for ``ais validate`` and ``ais compare``).
    """

    path: Path
    fits: bool
    sentence: str


def relativeName(path: Path, root: Path | None) -> str:
    """``derivatives/sub-01/...`` when ``path`` is under ``root``, else the file name."""
    if root is not None:
        try:
            return str(Path(path).relative_to(root))
        except ValueError:
            pass
    return Path(path).name


def checkReferenceFit(case: Case, path: Path, dwiGrid: HeaderGrid | None = None, datasetRoot: Path | None = None) -> ReferenceFit:
    """Check from the headers alone whether a shipped mask lies on the case's DWI grid.

    :param dwiGrid: the DWI's header grid when already read.
    :raises InputError: the DWI cannot be read (the mask's own problems are returned as ``fits=False``).
    """
    shown = relativeName(path, datasetRoot)
    if dwiGrid is None:
        dwiGrid = readHeaderGrid(case.files["dwi"])
    try:
        grid = readHeaderGrid(path)
    except InputError as error:
        return ReferenceFit(path, False, f"The reference mask {shown} cannot be read and is not used ({error})")
    if grid.volumes != 1:
        return ReferenceFit(path, False, f"The reference mask {shown} has {grid.volumes} volumes; a 3D mask is needed, so it is not used.")
    if grid.gridShape != dwiGrid.gridShape:
        return ReferenceFit(
            path, False,
            f"The reference mask {shown} has grid {' x '.join(map(str, grid.gridShape))} but the DWI has "
            f"{' x '.join(map(str, dwiGrid.gridShape))}; it is on another grid and is not compared (masks are never resampled).",
        )
    if not grid.sameGrid(dwiGrid):
        difference = float(abs(grid.ijkToRas - dwiGrid.ijkToRas).max())
        return ReferenceFit(
            path, False,
            f"The reference mask {shown} has the DWI's shape but its matrix differs by up to {difference:.3g} mm "
            f"(tolerance {GRID_TOLERANCE:g}); it is on another grid and is not compared (masks are never resampled).",
        )
    return ReferenceFit(path, True, f"The reference mask {shown} lies on the DWI grid; reads are compared with it.")


def compareReadWithReference(readPath, referencePath, parameters: AgreementParameters | None = None, label: int | None = None) -> dict:
    """Agreement of one read with a shipped reference mask (the reference is the truth of the lesion-wise counts).

    :param readPath: a reader's mask (binary, on the DWI grid).
    :param referencePath: the dataset's mask; ``label`` picks its lesion label when it holds several values.
    :return: the metric columns of :data:`REFERENCE_COLUMNS` (without case, reader, version, reference, status).
    :raises GeometryError: the two masks are on different grids (never resampled).
    :raises InputError: unreadable, 4D, NaN or (without ``label``) multi-valued masks.
    """
    read = loadVolume(readPath)
    reference = loadVolume(referencePath)
    requireSameGrid(read, reference)
    result = compareMasks(binarizeMask(reference, label), binarizeMask(read), read.ijkToRas, parameters)
    detection = result.detectionAReference
    return {
        "dice": result.dice,
        "jaccard": result.jaccard,
        "volume_read_ml": result.volumeBMl,
        "volume_reference_ml": result.volumeAMl,
        "abs_volume_diff_ml": abs(result.volumeAMl - result.volumeBMl),
        "hd95_mm": result.hausdorffMm,
        "assd_mm": result.assdMm,
        "lesions_read": result.lesionsB,
        "lesions_reference": result.lesionsA,
        "lesion_f1": detection.f1,
        "missed_reference_lesions": detection.falseNegatives,
        "extra_read_lesions": detection.falsePositives,
    }


def compareCaseWithReferences(datasetRoot, case: Case, parameters: AgreementParameters | None = None, label: int | None = None) -> list[dict]:
    """One row per (newest read of each reader) x (reference mask of the case); see :data:`REFERENCE_COLUMNS`.

    Rows never raise: ``status`` is ``compared``, ``grid-mismatch`` (the reference is on another grid),
    ``no-reads`` (the case has references but no read yet) or ``error`` (a sentence in ``error``).
    """
    root = Path(datasetRoot)
    rows = []
    latest = latestReaderMasks(root, case)
    for referencePath in case.referenceMasks:
        shown = relativeName(referencePath, root)
        base = {"case": case.caseId, "reference": shown}
        if not latest:
            rows.append({**base, "reader": "", "version": "", "status": "no-reads", "error": f"{case.caseId} has no read to compare with {shown} yet."})
            continue
        for reader, record in sorted(latest.items()):
            row = {**base, "reader": reader, "version": record.version}
            try:
                row.update(compareReadWithReference(record.path, referencePath, parameters, label))
                row.update({"status": "compared", "error": ""})
            except GeometryError as error:
                row.update({"status": "grid-mismatch",
                            "error": f"The reference mask {shown} is not on the grid of {record.path.name}, so it is not compared ({error})"})
            except AISError as error:
                row.update({"status": "error", "error": f"{shown}: {error}"})
            rows.append(row)
    return rows


def compareWithReferences(datasetRoot, parameters: AgreementParameters | None = None, label: int | None = None, cases=None) -> list[dict]:
    """Every read of a dataset against the reference masks the dataset ships (what ``ais compare BIDS_ROOT`` adds,
    and what the acceptance report can show).

    :param cases: the cases (default: :func:`discoverCases` of ``datasetRoot``).
    :return: rows (see :func:`compareCaseWithReferences`), sorted by case, reader and reference; empty when the
        dataset ships no reference mask.
    :raises InputError: the folder does not exist or holds no case (only when ``cases`` is None).
    """
    parameters = parameters or AgreementParameters()
    parameters.validate()
    cases = discoverCases(datasetRoot) if cases is None else cases
    rows = []
    for case in cases:
        rows.extend(compareCaseWithReferences(datasetRoot, case, parameters, label))
    return sorted(rows, key=lambda row: (row["case"], str(row.get("reader", "")), row["reference"]))

