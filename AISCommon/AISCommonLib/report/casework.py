"""Everything the report measures per case, in one job that runs in a worker process and is cached by file content.

One case's job checks every mask file of the case (readable, binary, on the DWI grid, sidecar complete), compares
each pair of its readers' reads (the full agreement contract of ``core.dataset.comparePair``) and places what the
readers noted in its discordant regions, compares each read with the final mask (Dice, volumes) and with the masks
the dataset ships, checks the scan parameters (``core.scanqc``) and measures the image quality (SNR, CNR;
``core.quality``). The result is plain JSON: the same whether it was measured now or read from the cache, in this
process or in a worker, so the report does not depend on either. Quality thresholds, Likert scores and exclusions
are applied afterwards by the report (they change no measure, so changing them never invalidates the cache).

Where the time goes (profiled on 250 synthetic phantom cases, see ``Testing/benchmarks/bench_report.py``): about
nine tenths of an uncached report is the quality measure (loading the case and its brain mask, then per image the
head mask, distance maps and smoothing of the noise estimate), the rest mostly mask reads, comparisons and the
header-only validation; so that is what is cached and spread over processes.
"""

import base64
import concurrent.futures
import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np

from ..core.atomicio import sha256File
from ..core.bidsnames import companionFiles
from ..core.cases import Case
from ..core.errors import AISError, OperationCancelled
from ..core.processes import workerContext
from ..core.readrecord import isReaderRead, isSeedMethod
from .cache import MeasureCache, cacheKey, codeFingerprint
from .model import FINAL_SIDECAR_KEYS, READER_SIDECAR_KEYS
from .readers import Read, readPairs
from .readrecords import caseRecords
from .scanclinical import scanChecks

GRID_TOLERANCE = 1e-4


@dataclasses.dataclass
class CaseJob:
    """What one case's measures depend on (picklable: it travels to a worker process).

    :param maskFiles: every mask file in the case's ``derivatives/lesions`` folder, for the format check.
    :param reads: the reads that count (see :mod:`readers`). :param finalPath: the final mask, or None.
    :param rule: the concordance rule (``AgreementParameters.ruleDict()``).
    :param cacheFolder: the measure cache, or None for none.
    """

    root: Path
    case: Case
    reads: list[Read]
    finalPath: Path | None
    maskFiles: list[Path]
    rule: dict
    cacheFolder: Path | None = None


@dataclasses.dataclass
class PictureJob:
    """The discordant regions of one adjudicated case to picture (the renderer's own process).

    :param maxRegions: regions kept per case (the largest first, as the renderer lists them).
    """

    root: Path
    case: Case
    readA: Read
    readB: Read
    rule: dict
    maxRegions: int
    cacheFolder: Path | None = None


def maskKind(path: Path, caseId: str) -> str:
    """``final`` for the consensus name, else what the mask's sidecar says it is (``read``, ``seed``, ``unexplained``)."""
    import json

    from ..core.derivatives import MASK_SUFFIX, sidecarPathFor

    if path.name == f"{caseId}{MASK_SUFFIX}":
        return "final"
    try:
        sidecar = json.loads(sidecarPathFor(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return "unexplained"
    if not isinstance(sidecar, dict):
        return "unexplained"
    if isReaderRead(sidecar):
        return "read"
    return "seed" if isSeedMethod(sidecar.get("Method")) else "unexplained"


# ---------------------------------------------------------------------------------------------------
# Cache keys


def _digest(path: Path | None) -> str:
    if path is None:
        return "none"
    try:
        return sha256File(path)
    except (OSError, AISError):
        return "missing"


def _imageFiles(case: Case) -> list[tuple[str, Path]]:
    """Every file a case's images are read from: images, their sidecars (inherited too), the DWI's b values and vectors."""
    files = []
    for key, path in sorted(case.files.items()):
        files.append((key, path))
        files.extend((f"{key}-sidecar", sidecar) for sidecar in case.sidecarPaths(key))
        if key == "dwi":
            for extension in (".bval", ".bvec"):
                files.extend((f"dwi{extension}", companion) for companion in companionFiles(path, extension, case.root))
    return files


def _describeFiles(files) -> list[list[str]]:
    return [[role, str(Path(path).resolve()), _digest(path)] for role, path in files]


def _caseJobKey(job: CaseJob) -> str:
    from ..core.derivatives import sidecarPathFor

    files = list(_imageFiles(job.case))
    for path in job.maskFiles:
        files += [("mask", path), ("mask-sidecar", sidecarPathFor(path))]
    for read in job.reads:
        files += [(f"read-{read.reader}", read.path), (f"read-{read.reader}-sidecar", read.sidecarPath)]
    if job.finalPath is not None:
        files += [("final", job.finalPath), ("final-sidecar", sidecarPathFor(job.finalPath))]
    files += [("reference", path) for path in job.case.referenceMasks]
    return cacheKey({"measures": codeFingerprint(), "case": job.case.caseId, "rule": job.rule, "files": _describeFiles(files),
                     "reads": [[read.reader, read.version, read.method] for read in job.reads]})


# ---------------------------------------------------------------------------------------------------
# One case


def _checkMaskFile(path: Path, dwiGrid, required: tuple) -> list[str]:
    """Problems of one mask file: unreadable, not binary, off the DWI grid, sidecar missing or incomplete."""
    import json

    from ..core.derivatives import sidecarPathFor
    from ..core.image import loadVolume

    problems = []
    try:
        volume = loadVolume(path)
        values = np.unique(volume.array)
        if not np.isin(values, (0, 1)).all():
            problems.append(f"not binary (values {', '.join(f'{value:g}' for value in values[:6])}{' ...' if values.size > 6 else ''})")
        if dwiGrid is not None:
            shape, affine = dwiGrid
            if volume.gridShape != shape[::-1] or np.abs(volume.ijkToRas - affine).max() > GRID_TOLERANCE:
                problems.append("not on the DWI voxel grid")
    except AISError as error:
        problems.append(f"unreadable: {error}")
    sidecar = sidecarPathFor(path)
    if not sidecar.is_file():
        problems.append("no JSON sidecar")
    else:
        try:
            document = json.loads(sidecar.read_text(encoding="utf-8"))
            missing = [key for key in required if key not in document]
            if missing:
                problems.append(f"sidecar lacks {', '.join(missing)}")
        except (OSError, UnicodeDecodeError, ValueError):
            problems.append("sidecar is not valid JSON")
    return problems


def _maskRows(job: CaseJob) -> tuple[list[dict], list[str]]:
    from ..core.image import readHeaderGrid

    dwiGrid, problems = None, []
    if "dwi" in job.case.files:
        try:
            grid = readHeaderGrid(job.case.files["dwi"])
            dwiGrid = (tuple(grid.shape[:3]), np.asarray(grid.ijkToRas))
        except AISError as error:
            problems.append(f"{job.case.caseId}: the DWI cannot be read, masks are not checked against its grid ({error}).")
    rows = []
    for path in job.maskFiles:
        kind = maskKind(path, job.case.caseId)
        found = _checkMaskFile(path, dwiGrid, FINAL_SIDECAR_KEYS if kind == "final" else READER_SIDECAR_KEYS)
        rows.append({"case": job.case.caseId, "file": path.name, "kind": kind, "status": "ok" if not found else "problem", "problems": "; ".join(found)})
    return rows, problems


def _pairRows(job: CaseJob, parameters) -> tuple[list[dict], list[dict]]:
    """The comparison of each pair of reads, and the readers' records with their notes placed in the regions of the
    case's comparison (one pair: the two reads the reviewer saw)."""
    from ..core.dataset import ReadPair, comparePairResult
    from ..core.image import readHeaderGrid

    rows, results = [], []
    for first, second in readPairs(job.reads):
        row, result = comparePairResult(ReadPair(job.case, first.reader, first.version, first.path, second.reader, second.version, second.path),
                                         parameters)
        rows.append(row)
        results.append(result)
    comparison, ijkToRas = (results[0], None) if len(results) == 1 else (None, None)
    if comparison is not None:
        try:
            ijkToRas = readHeaderGrid(job.reads[0].path).ijkToRas
        except AISError:
            comparison = None
    return rows, caseRecords(job.reads, comparison, ijkToRas)


def _versusFinal(job: CaseJob) -> dict:
    """Reader -> Dice and volumes of their read against the final mask (same formulas as the agreement engine)."""
    from ..core.masks import loadMaskPair, voxelVolumeMm3

    if job.finalPath is None or not job.finalPath.is_file():
        return {}
    found = {}
    for read in job.reads:
        try:
            pair = loadMaskPair(job.finalPath, read.path)
        except AISError as error:
            found[read.reader] = {"error": f"{job.case.caseId}: {read.reader}'s read could not be compared with the final mask: {error}"}
            continue
        voxelsFinal, voxelsRead = int(pair.maskA.sum()), int(pair.maskB.sum())
        shared = int(np.count_nonzero(pair.maskA & pair.maskB))
        voxelVolume = voxelVolumeMm3(pair.ijkToRas)
        total = voxelsFinal + voxelsRead
        found[read.reader] = {"dice": 1.0 if total == 0 else 2.0 * shared / total, "volume_final_ml": voxelsFinal * voxelVolume / 1000.0,
                              "volume_read_ml": voxelsRead * voxelVolume / 1000.0}
    return found


def _referenceRows(job: CaseJob, parameters) -> list[dict]:
    """Each read against each mask the dataset ships (rows as ``core.referencemasks.compareCaseWithReferences``)."""
    from ..core.errors import GeometryError
    from ..core.referencemasks import compareReadWithReference, relativeName

    rows = []
    for referencePath in job.case.referenceMasks:
        shown = relativeName(referencePath, job.root)
        base = {"case": job.case.caseId, "reference": shown}
        if not job.reads:
            rows.append({**base, "reader": "", "version": "", "status": "no-reads", "error": f"{job.case.caseId} has no read to compare with {shown} yet."})
            continue
        for read in job.reads:
            row = {**base, "reader": read.reader, "version": read.version}
            try:
                row.update(compareReadWithReference(read.path, referencePath, parameters))
                row.update({"status": "compared", "error": ""})
            except GeometryError as error:
                row.update({"status": "grid-mismatch", "error": f"The reference mask {shown} is not on the grid of {read.path.name}, so it is not compared ({error})"})
            except AISError as error:
                row.update({"status": "error", "error": f"{shown}: {error}"})
            rows.append(row)
    return rows


def _loadMask(path: Path, dwi) -> np.ndarray:
    from ..core.image import loadVolume, requireSameGrid

    volume = loadVolume(path)
    requireSameGrid(dwi, volume)
    return volume.array > 0


def _quality(job: CaseJob) -> dict:
    """The quality record of the case as a dict (no Likert, no proposal: the report adds those).

    The lesion for the CNR: the final mask, else the voxels both readers marked (their union when that is empty),
    else the one read. Every read is kept out of the signal ROI and the surrounding shell.
    """
    from ..core.quality import QualityThresholds, measureCaseQuality
    from ..core.sequences import loadCase

    loaded = loadCase(job.case)
    problems, masks = [], []
    for read in job.reads:
        try:
            masks.append(_loadMask(read.path, loaded.dwi))
        except AISError as error:
            problems.append(f"Read of {read.reader} left out of the quality measures: {error}")
    lesion, source = None, "none"
    if job.finalPath is not None and job.finalPath.is_file():
        try:
            lesion, source = _loadMask(job.finalPath, loaded.dwi), "consensus"
        except AISError as error:
            problems.append(f"Final mask left out of the quality measures: {error}")
    if lesion is None and len(masks) >= 2:
        lesion, source = np.logical_and.reduce(masks), "intersection"
        if not lesion.any():
            lesion, source = np.logical_or.reduce(masks), "union"
    elif lesion is None and masks:
        lesion, source = masks[0], "single-read"
    record = measureCaseQuality(loaded, lesion, masks, None, QualityThresholds(), source)
    record.problems[:0] = problems
    record.proposal = None
    return dataclasses.asdict(record)


def measureCase(job: CaseJob) -> dict:
    """Every measure of one case (nothing raised: what failed is a sentence in the result).

    :return: ``{"case", "masks", "problems", "pairs", "records" (what the readers recorded, :mod:`readrecords`),
        "versusFinal", "references", "scan" (scan-parameter checks), "quality" (dict or None), "qualityError"}``, JSON-ready.
    """
    from ..core.agreement import AgreementParameters

    parameters = AgreementParameters.fromRule(job.rule)
    masks, problems = _maskRows(job)
    pairs, records = _pairRows(job, parameters)
    result = {"case": job.case.caseId, "masks": masks, "problems": problems, "pairs": pairs, "records": records, "versusFinal": _versusFinal(job),
              "references": _referenceRows(job, parameters), "scan": scanChecks(job.case), "quality": None, "qualityError": None}
    try:
        result["quality"] = _quality(job)
    except AISError as error:
        result["qualityError"] = str(error)
    return result


def _roundTrip(value):
    """The value as the cache would give it back (lists for tuples, JSON floats), so fresh and cached results are equal."""
    import json

    return json.loads(json.dumps(value))


def runCaseJob(job: CaseJob) -> dict:
    """:func:`measureCase`, or its cached result when no input file changed; adds ``cached`` and ``seconds``."""
    started = time.perf_counter()
    cache = MeasureCache(job.cacheFolder)
    key = _caseJobKey(job) if job.cacheFolder else None
    found = cache.get(key) if key else None
    if found is None:
        found = _roundTrip(measureCase(job))
        if key:
            cache.put(key, found)
        cached = False
    else:
        cached = True
    return {**found, "cached": cached, "seconds": time.perf_counter() - started}


# ---------------------------------------------------------------------------------------------------
# Pictures of discordant regions


def _pictureKey(job: PictureJob) -> str:
    library = Path(__file__).resolve().parent.parent
    import hashlib

    renderer = hashlib.sha256(b"".join(path.read_bytes() for path in sorted((library / "mrml").glob("*.py")))).hexdigest()
    files = [*_imageFiles(job.case), ("read-a", job.readA.path), ("read-b", job.readB.path)]
    return cacheKey({"pictures": codeFingerprint(), "renderer": renderer, "case": job.case.caseId, "rule": job.rule, "max": job.maxRegions,
                     "readers": [job.readA.reader, job.readB.reader], "files": _describeFiles(files)})


def renderPictures(job: PictureJob, renderer) -> dict:
    """Picture the discordant regions of one case with ``renderer`` (``mrml.regionsnapshot.makeReviewSnapshots``'s signature).

    :return: ``{"case", "readers", "pictures": [{"title", "png" (base64)}], "more" (regions not pictured), "error"}``.
    """
    readers = f"{job.readA.reader} (blue) / {job.readB.reader} (amber)"
    result = {"case": job.case.caseId, "readers": readers, "pictures": [], "more": 0, "error": None}
    import inspect

    try:
        # The workflow's size limit of extent regions, and how many regions the report shows (the renderer then draws
        # only those), when the renderer takes them (a test double may not).
        accepted = inspect.signature(renderer).parameters
        extra = {key: value for key, value in (("minExtentMm3", job.rule.get("min_extent_mm3")), ("maxRegions", job.maxRegions)) if key in accepted}
    except (TypeError, ValueError):
        extra = {}
    with tempfile.TemporaryDirectory(prefix="ais-report-") as folder:
        try:
            summary = renderer(job.case, Path(folder) / job.case.caseId, job.readA.path, job.readB.path, (job.readA.reader, job.readB.reader), **extra)
        except (AISError, RuntimeError, OSError) as error:
            result["error"] = f"{job.case.caseId}: the discordant regions could not be pictured ({error})."
            return result
        for region in summary["regions"][: job.maxRegions]:
            result["pictures"].append({"title": region.get("title", f"region {region['id']}"),
                                       "png": base64.b64encode(Path(region["png"]).read_bytes()).decode("ascii")})
        result["more"] = max(0, summary.get("regionsTotal", len(summary["regions"])) - job.maxRegions)
    return result


def runPictureJob(job: PictureJob) -> dict:
    """Pictures of one case with the real renderer (slicer-core), from the cache when nothing changed."""
    from ..mrml.regionsnapshot import makeReviewSnapshots

    cache = MeasureCache(job.cacheFolder)
    key = _pictureKey(job) if job.cacheFolder else None
    found = cache.get(key) if key else None
    if found is not None:
        return {**found, "cached": True}
    found = renderPictures(job, makeReviewSnapshots)
    if key and found["error"] is None:
        cache.put(key, found)
    return {**found, "cached": False}


# ---------------------------------------------------------------------------------------------------
# Running jobs


def _initWorker() -> None:
    import SimpleITK as sitk

    # Parallelism comes from the processes; threads inside each would only compete for the same cores.
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)


class _Done:
    """A finished call, shaped like a ``concurrent.futures.Future`` (the serial pool's)."""

    def __init__(self, function, *arguments):
        try:
            self._value, self._error = function(*arguments), None
        except Exception as error:  # kept and raised again by result(), as a Future would
            self._value, self._error = None, error

    def result(self):
        if self._error is not None:
            raise self._error
        return self._value


class WorkerPool:
    """Worker processes for the report's jobs, or this process alone (``workers`` 1).

    Results come back in the order the jobs were given, whatever order the workers finish in, so the report is
    the same for any number of workers. A progress callable that raises :class:`OperationCancelled` stops the run:
    pending jobs are cancelled and the exception propagates.

    :param workers: processes (1: run in this process, nothing is started).
    """

    def __init__(self, workers: int):
        self.workers = max(1, int(workers))
        self._executor = None

    def __enter__(self):
        if self.workers > 1:
            self._executor = concurrent.futures.ProcessPoolExecutor(max_workers=self.workers, mp_context=workerContext(), initializer=_initWorker)
        return self

    def __exit__(self, kind, error, trace):
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=error is not None)
            self._executor = None
        return False

    def submit(self, function, *arguments):
        """Start one call (a ``Future``); in this process it runs at once."""
        if self._executor is None:
            return _Done(function, *arguments)
        return self._executor.submit(function, *arguments)

    def map(self, function, jobs: list, progress=None, describe=None) -> list:
        """``[function(job) for job in jobs]``, spread over the workers.

        :param progress: optional ``(fraction, message)`` callable, called as jobs finish.
        :param describe: ``(job, result) -> message`` for the progress line.
        :raises OperationCancelled: when ``progress`` asks to stop.
        """
        results = [None] * len(jobs)

        def report(done, index):
            if progress:
                progress(done / max(len(jobs), 1), describe(jobs[index], results[index]) if describe else f"{done} of {len(jobs)} done")

        if self._executor is None:
            for index, job in enumerate(jobs):
                results[index] = function(job)
                report(index + 1, index)
            return results
        futures = {self._executor.submit(function, job): index for index, job in enumerate(jobs)}
        try:
            for done, future in enumerate(concurrent.futures.as_completed(futures), start=1):
                index = futures[future]
                results[index] = future.result()
                report(done, index)
        except (OperationCancelled, KeyboardInterrupt):
            for future in futures:
                future.cancel()
            raise
        return results
