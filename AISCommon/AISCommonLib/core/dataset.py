"""Reader agreement over a whole BIDS dataset: every case with two reads, in parallel, one row per pair.

Reads are found with :mod:`AISCommonLib.core.derivatives` (``derivatives/lesions``; the newest
version of each reader, per the sidecars; the consensus mask, which has no ``desc`` entity, is not a
read). A case with more than two readers gives one row per pair of readers.
"""

import concurrent.futures
import dataclasses
import itertools
import logging
import os
from pathlib import Path

from .agreement import AgreementParameters, compareFiles
from .cases import Case, discoverCases
from .derivatives import PIPELINE_NAME, latestReaderMasks
from .errors import AISError, InputError, OperationCancelled
from .processes import workerContext

logger = logging.getLogger(__name__)

#: Columns of the per-pair table (CSV header order).
ROW_COLUMNS = [
    "case", "subject", "session", "reader_a", "version_a", "reader_b", "version_b", "status",
    "dice", "jaccard", "volume_a_ml", "volume_b_ml", "abs_volume_diff_ml", "hd95_mm", "assd_mm",
    "lesions_a", "lesions_b", "abs_lesion_count_diff", "lesion_f1", "lesion_f1_b_reference",
    "missed_lesions", "discordant_regions", "concordant", "error",
]  # fmt: skip


@dataclasses.dataclass
class ReadPair:
    """Two reads of one case to compare."""

    case: Case
    readerA: str
    versionA: int
    pathA: Path
    readerB: str
    versionB: int
    pathB: Path


def findReadPairs(datasetRoot) -> tuple[list[ReadPair], list[dict]]:
    """Every pair of readers' newest masks, per case.

    :param datasetRoot: BIDS root holding ``derivatives/lesions``.
    :return: the pairs (sorted by case, then readers), and the cases with fewer than two reads as rows
        ``{"case", "subject", "session", "status": "incomplete", "error"}``.
    :raises InputError: the folder does not exist or has no lesion derivatives.
    """
    root = Path(datasetRoot)
    lesionsRoot = root / "derivatives" / PIPELINE_NAME
    if not root.is_dir():
        raise InputError(f"The dataset folder '{root}' does not exist.")
    if not lesionsRoot.is_dir():
        raise InputError(f"'{root}' has no derivatives/{PIPELINE_NAME} folder: no reader masks to compare.")
    cases = {case.caseId: case for case in _derivativeCases(lesionsRoot)}
    try:
        for case in discoverCases(root):
            cases.setdefault(case.caseId, case)
    except InputError:
        logger.info("No image folders found under %s; comparing the masks alone.", root)
    pairs, incomplete = [], []
    for caseId in sorted(cases):
        case = cases[caseId]
        latest = latestReaderMasks(root, case)
        if len(latest) < 2:
            incomplete.append(
                {
                    "case": caseId,
                    "subject": case.subject,
                    "session": case.session or "",
                    "status": "incomplete",
                    "error": f"{caseId} has {len(latest)} read(s); two are needed.",
                }
            )
            continue
        for readerA, readerB in itertools.combinations(sorted(latest), 2):
            recordA, recordB = latest[readerA], latest[readerB]
            pairs.append(ReadPair(case, readerA, recordA.version, recordA.path, readerB, recordB.version, recordB.path))
    return pairs, incomplete


def _derivativeCases(lesionsRoot: Path) -> list[Case]:
    cases = []
    for subjectFolder in sorted(path for path in lesionsRoot.glob("sub-*") if path.is_dir()):
        subject = subjectFolder.name.removeprefix("sub-")
        sessionFolders = sorted(path for path in subjectFolder.glob("ses-*") if path.is_dir())
        if not sessionFolders or any(subjectFolder.glob("sub-*.nii*")):
            cases.append(Case(subject, None, subjectFolder))
        cases.extend(Case(subject, folder.name.removeprefix("ses-"), folder) for folder in sessionFolders)
    return cases


def comparePair(pair: ReadPair, parameters: AgreementParameters, label: int | None = None) -> dict:
    """One table row for a pair of reads; a case that cannot be compared gets ``status: error``, not an exception.

    :return: a dict with the keys of :data:`ROW_COLUMNS`.
    """
    return comparePairResult(pair, parameters, label)[0]


def comparePairResult(pair: ReadPair, parameters: AgreementParameters, label: int | None = None) -> tuple[dict, object]:
    """:func:`comparePair` and the :class:`~AISCommonLib.core.agreement.AgreementResult` behind its row (None when the
    pair could not be compared), for callers that also place notes in the discordant regions."""
    row = {
        "case": pair.case.caseId,
        "subject": pair.case.subject,
        "session": pair.case.session or "",
        "reader_a": pair.readerA,
        "version_a": pair.versionA,
        "reader_b": pair.readerB,
        "version_b": pair.versionB,
    }
    try:
        result = compareFiles(pair.pathA, pair.pathB, parameters, label)
    except AISError as error:
        return {**row, "status": "error", "error": str(error)}, None
    summary = result.toDict()
    row.update({column: summary[column] for column in ROW_COLUMNS if column in summary})
    row.update({"status": "compared", "discordant_regions": len(summary["discordant_regions"]), "error": ""})
    return row, result


def _initWorker() -> None:
    import SimpleITK as sitk

    # Parallelism comes from the processes; threads inside each would only compete for the same cores.
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)


def compareDataset(
    datasetRoot, parameters: AgreementParameters | None = None, label: int | None = None, workers: int | None = None, progress=None
) -> list[dict]:
    """Compare the reads of every case of a dataset.

    :param datasetRoot: BIDS root holding ``derivatives/lesions``.
    :param workers: processes to use; default ``os.cpu_count()``; 1 runs in this process.
    :param progress: optional callable ``(fraction, message)``; raising :class:`OperationCancelled` stops the run.
    :return: rows (see :data:`ROW_COLUMNS`): compared pairs, pairs that failed (``status: error``) and
        cases with fewer than two reads (``status: incomplete``), sorted by case.
    :raises InputError: no dataset or no lesion derivatives.
    :raises OperationCancelled: when ``progress`` asks to stop; pending cases are abandoned.
    """
    parameters = parameters or AgreementParameters()
    parameters.validate()
    pairs, incomplete = findReadPairs(datasetRoot)
    workers = max(1, min(workers or os.cpu_count() or 1, len(pairs) or 1))
    rows: list[dict] = []

    def report(done: int, row: dict) -> None:
        if progress:
            progress(done / len(pairs), f"{row['case']} ({row['reader_a']} vs {row['reader_b']}): {row['status']}")

    if workers == 1:
        for index, pair in enumerate(pairs):
            rows.append(comparePair(pair, parameters, label))
            report(index + 1, rows[-1])
    else:
        with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=workerContext(), initializer=_initWorker) as executor:
            futures = [executor.submit(comparePair, pair, parameters, label) for pair in pairs]
            try:
                for done, future in enumerate(concurrent.futures.as_completed(futures), start=1):
                    rows.append(future.result())
                    report(done, rows[-1])
            except OperationCancelled:
                for future in futures:
                    future.cancel()
                raise
    rows.extend(incomplete)
    return sorted(rows, key=lambda row: (row["case"], row.get("reader_a", ""), row.get("reader_b", "")))
