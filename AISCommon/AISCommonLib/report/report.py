"""The dataset acceptance report (consensus section 3.3): one self-contained HTML file plus CSV files.

:func:`collectReport` gathers the numbers (nothing is written but the measure cache); :func:`writeReport` writes the
HTML (figures embedded as base64 PNG), the CSV behind every table and figure, and optionally a PDF, all at once or
not at all (:mod:`output`). What it says:

- **What to do before signing**: every finding of every section as a sentence (what is wrong, what to do, the
  check's code in brackets); **the rules applied** (the workflow's concordance rule, the quality limits, the training
  bar), the **identity statement** of the workflow (declared or authenticated) and every **manager override**.
1. **Completeness**: every case with two submitted reads and a review or arbitration (workflow database; without
   one, the files: two readers' reads and a final mask).
2. **Format and naming**: ``validateDataset`` (headers only), the official BIDS validator, every mask file.
3. **Metadata**: field strength, slice thickness and spacing, TE, TR per sequence, the DWI b value; the filled
   columns of ``participants.tsv``; the scan-parameter checks of consensus Table 1 per case (:mod:`scanclinical`)
   and each case's clinical values (onset-to-imaging interval, NIHSS, side).
4. **Inter-reader agreement** of the reads (:mod:`readers`: seeds never count), excluded cases left out.
5. **Image quality** (:mod:`AISCommonLib.core.quality`): SNR, CNR, Likert (and the criteria scored below the
   acceptable level); proposed and recorded exclusions; what the readers recorded per read (:mod:`readrecords`:
   scores, artifacts, lesion attributes, notes by discordant region).
6. **Discordant regions** of adjudicated cases, pictured when slicer-core is available.

Each case is measured once per content of its files (:mod:`casework`, :mod:`cache`), in worker processes when asked;
the result does not depend on the cache or on the number of workers. A section that cannot be computed says why in
the report; nothing of it is raised, except a dataset folder that does not exist.
"""

import concurrent.futures
import dataclasses
from pathlib import Path

from .. import __version__
from ..core.atomicio import atomicWritePath, writeTextAtomic
from ..core.cases import discoverCases
from ..core.derivatives import MASK_SUFFIX, PIPELINE_NAME
from ..core.errors import AISError, InputError
from ..core.quality import QualityThresholds
from .agreementsection import agreementSection, emptyAgreement
from .cache import defaultCacheFolder
from .casework import CaseJob, WorkerPool, runCaseJob
from .completeness import completenessSection
from .conformity import formatSection, metadataSection, runValidation
from .findings import sentenceFinding
from .model import Section, now
from .pictures import MAX_SNAPSHOT_REGIONS, findSnapshotRenderer, picturesSection
from .qualitysection import qualitySection
from .readers import readsFromFiles, readsFromWorkflow
from .readrecords import readRecordsSection
from .render import renderHtml
from .rules import rulesSection
from .scanclinical import clinicalSection, scanSection
from .tables import csvTables, figures, pdfLines
from .workflowinfo import concordanceRule, openWorkflow

__all__ = ["REPORT_REQUIREMENTS", "MAX_SNAPSHOT_REGIONS", "collectReport", "findSnapshotRenderer", "writeReport"]

#: What the report needs beyond the base install (the ``report`` extra of pyproject.toml); a Slicer widget
#: offering the report passes it to ``slicer.packaging.pip_ensure`` before writing one.
REPORT_REQUIREMENTS = ["matplotlib>=3.7", "bids-validator-deno"]
#: Shares of the progress bar: finding cases, measuring them, picturing, writing.
PROGRESS_MEASURE = (0.05, 0.85)
PROGRESS_PICTURES = (0.85, 0.95)


def _lesionsFolder(root: Path, case) -> Path:
    return root / "derivatives" / PIPELINE_NAME / case.relativeFolder


def _maskFiles(root: Path, case) -> list[Path]:
    """Every mask of the case in ``derivatives/lesions`` (reads, seeds, the final mask); never creates the folder."""
    folder = _lesionsFolder(root, case)
    if not folder.is_dir():
        return []
    return [path for path in sorted(folder.glob(f"{case.caseId}*{MASK_SUFFIX}"))
            if path.name == f"{case.caseId}{MASK_SUFFIX}" or path.name.startswith(f"{case.caseId}_")]


def _finalPath(root: Path, case, workflow) -> Path | None:
    """The final mask: the one the workflow recorded, else the consensus name in the derivatives (None if absent)."""
    if workflow is not None:
        row = next((row for row in workflow.tables.get("cases", []) if row["case_id"] == case.caseId), None)
        if row is not None and row.get("final_mask_path"):
            return workflow.absolutePath(row["final_mask_path"])
    path = _lesionsFolder(root, case) / f"{case.caseId}{MASK_SUFFIX}"
    return path if path.is_file() else None


def _cacheFolder(cache) -> Path | None:
    if cache is True:
        return defaultCacheFolder()
    return Path(cache) if cache else None


def _outcome(future):
    """A future's result, or the :class:`AISError` it raised (None for no future)."""
    if future is None:
        return None
    try:
        return future.result()
    except AISError as error:
        return error


def _officialValidator(root: Path):
    from ..core.bidsvalidator import runOfficialValidator

    return runOfficialValidator(root)


def collectReport(datasetRoot, database=None, thresholds: QualityThresholds | None = None, snapshots: bool | object = True,
                  workers: int = 1, progress=None, cache=True) -> dict:
    """Every number of the acceptance report (only the measure cache is written).

    :param datasetRoot: BIDS root.
    :param database: workflow database (URL or SQLite file); default ``$AIS_DB_URL`` or the dataset's
        ``derivatives/lesions/workflow.sqlite`` if it exists (never created).
    :param thresholds: quality exclusion rule.
    :param snapshots: True to picture adjudicated cases when possible, False to skip, or a callable with
        the signature of ``mrml.regionsnapshot.makeReviewSnapshots`` (run in this process, not cached).
    :param workers: processes measuring the cases (1: this process only).
    :param progress: optional ``(fraction, message)`` callable; raising ``OperationCancelled`` stops the run.
    :param cache: True for the default measure cache (:func:`cache.defaultCacheFolder`), a folder, or False for none.
    :return: a dict of sections, findings, the summary and the verdict (see :func:`writeReport`).
    :raises InputError: the dataset folder does not exist, or a threshold is out of range.
    :raises OperationCancelled: when ``progress`` asks to stop (nothing is written).
    """
    root = Path(datasetRoot)
    if not root.is_dir():
        raise InputError(f"The dataset folder '{root}' does not exist.")
    thresholds = thresholds or QualityThresholds()
    thresholds.validate()
    report = {"root": str(root.resolve()), "created": now(), "version": __version__, "thresholds": dataclasses.asdict(thresholds),
              "banner": [], "readerNotes": [], "sections": {}}

    def step(fraction, message, span=None):
        if progress:
            progress(span[0] + (span[1] - span[0]) * fraction if span else fraction, message)

    step(0.0, "Finding cases")
    try:
        cases = discoverCases(root)
    except InputError as error:
        cases = []
        report["banner"].append(f"No cases: {error}")
    report["cases"] = [case.caseId for case in cases]
    workflow, workflowNote = openWorkflow(root, database) if cases else (None, None)
    report["workflow"] = workflow is not None
    tables = workflow.tables if workflow is not None else None
    try:
        rule = concordanceRule(tables).ruleDict()
    except InputError as error:
        rule = concordanceRule(None).ruleDict()
        report["banner"].append(f"The workflow's concordance rule cannot be used ({error}); the default rule was applied.")
    if workflow is not None:
        reads = readsFromWorkflow(report["cases"], tables, workflow.absolutePath)
        readers = sorted({read.reader for caseReads in reads.values() for read in caseReads})
        report["readerNotes"].append(f"Readers are the workflow's: {sum(map(len, reads.values()))} read(s) by {len(readers)} reader(s) "
                                     f"({', '.join(readers) or 'none'}); masks in derivatives/lesions that the workflow did not record "
                                     "(seeds, copies) are not counted.")
    else:
        reads, notes = readsFromFiles(root, cases)
        report["readerNotes"] += notes
    sections = report["sections"]
    completeness = completenessSection(root, cases, reads, workflow, workflowNote)
    sections["completeness"] = completeness
    excluded = completeness["excluded"]
    sections["rules"] = rulesSection(rule, thresholds, workflow)
    cacheFolder = _cacheFolder(cache)
    report["cacheFolder"] = str(cacheFolder) if cacheFolder else None
    jobs = [CaseJob(root, case, reads.get(case.caseId, []), _finalPath(root, case, workflow), _maskFiles(root, case), rule, cacheFolder)
            for case in cases]
    step(0.0, f"Measuring {len(jobs)} case(s)", PROGRESS_MEASURE)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as threads, WorkerPool(min(workers, max(len(jobs), 1))) as pool:
        # The official validator is another program: it runs while the cases are measured.
        official = threads.submit(_officialValidator, root) if cases else None
        validation = pool.submit(runValidation, root) if cases else None
        caseResults = pool.map(runCaseJob, jobs, lambda fraction, message: step(fraction, message, PROGRESS_MEASURE),
                               lambda job, result: f"Measured {job.case.caseId}" + (" (cached)" if result["cached"] else ""))
        step(0.0, "Picturing discordant regions", PROGRESS_PICTURES)
        if workflow is not None:
            adjudicated = [row["case"] for row in completeness["rows"] if row["status"] != "excluded" and row["concordant"] is False]
        else:
            adjudicated = sorted({row["case"] for result in caseResults for row in result["pairs"]
                                  if row["status"] == "compared" and not row["concordant"] and row["case"] not in excluded})
        sections["snapshots"] = picturesSection(root, {case.caseId: case for case in cases}, adjudicated, reads, rule, snapshots, pool, cacheFolder,
                                                lambda fraction, message: step(fraction, message, PROGRESS_PICTURES))
        validationFindings, officialResult = _outcome(validation), _outcome(official)
    report["run"] = {"cases": len(caseResults), "cached": sum(result["cached"] for result in caseResults), "workers": max(1, workers),
                     "seconds": round(sum(result["seconds"] for result in caseResults), 2)}
    if cases:
        sections["format"] = formatSection(validationFindings, officialResult, caseResults)
        sections["metadata"] = metadataSection(root, cases)
        sections["agreement"] = agreementSection(caseResults, reads, set(excluded), completeness["rows"], rule, workflow is not None)
    else:
        sections["format"] = {"section": Section("Format and naming", ["No cases to check."]), "findings": [], "masks": [], "errors": 0, "warnings": 0}
        sections["metadata"] = {"section": Section("Metadata completeness", ["No cases to check."]), "rows": [], "participants": [], "findings": []}
        sections["agreement"] = emptyAgreement(rule, "No cases.")
    sections["quality"] = qualitySection(caseResults, reads, excluded, thresholds)
    sections["scan"] = scanSection(caseResults)
    sections["clinical"] = clinicalSection(root, cases)
    sections["records"] = readRecordsSection(caseResults)
    if not cases:
        sections["quality"]["section"].problems.append("No cases.")
        sections["quality"]["section"].passed = False
    report["findings"] = [*completeness["findings"], *sections["format"]["findings"], *sections["metadata"]["findings"],
                          *sections["agreement"]["findings"], *sections["quality"]["findings"], *sections["scan"]["findings"],
                          *sections["clinical"]["findings"]]
    if not cases:
        report["findings"].insert(0, sentenceFinding("error", "completeness", report["banner"][0] if report["banner"] else "The dataset has no cases",
                                                     "point the report at the BIDS root (the folder holding the sub-* folders)", "no-cases"))
    formatFindings = [finding for finding in sections["format"]["findings"] if finding.code != "mask-file"]
    summary = {**completeness["summary"], **sections["agreement"]["summary"], **sections["quality"]["summary"], **sections["scan"]["summary"],
               **sections["clinical"]["summary"], **sections["records"]["summary"]}
    summary["validation_errors"] = sum(finding.severity == "error" for finding in formatFindings)
    summary["validation_warnings"] = sum(finding.severity == "warning" for finding in formatFindings)
    summary["mask_files_with_problems"] = sum(row["status"] != "ok" for row in sections["format"]["masks"])
    summary["sequences_missing_metadata"] = sum(1 for row in sections["metadata"]["rows"] if row["missing"] or row["sidecar_problem"])
    summary["findings_to_fix"] = sum(finding.severity == "error" for finding in report["findings"])
    summary["manager_overrides"] = len(sections["rules"]["overrides"])
    report["summary"] = summary
    gates = ("completeness", "format", "metadata", "quality")
    report["accepted"] = bool(cases) and all(sections[key]["section"].passed for key in gates)
    summary["failed_sections"] = [sections[key]["section"].title for key in gates if not sections[key]["section"].passed]
    step(PROGRESS_PICTURES[1], "Report data collected")
    return report


def writeReport(datasetRoot, out, database=None, pdf: bool = False, thresholds: QualityThresholds | None = None, snapshots=True,
                workers: int = 1, progress=None, cache=True) -> dict:
    """Write the acceptance report: HTML, the CSV files behind it and optionally a PDF, all at once or not at all.

    ``out`` ending in ``.html``: ``out``, ``<out stem>_data/*.csv`` and ``<out stem>.pdf`` beside it. Any other path is
    a folder (created when missing) that receives ``report.html``, ``report_data/`` and ``report.pdf``. Everything is
    written into a temporary folder beside the target first and moved into place at the end; on any error (or a
    cancel) nothing new remains and earlier files of the same names are kept. Without matplotlib the report has no
    plots and no PDF, and says so. Parameters as :func:`collectReport`.

    :param pdf: also write a PDF (summary page and every figure).
    :return: ``{"html", "csv": [paths], "pdf" (or None), "accepted", "summary", "notes", "findings" (sentences to fix),
        "run" (cases, cached, workers), "cacheFolder"}``.
    :raises InputError: the dataset folder does not exist.
    :raises AISError: the output folder cannot be written (nothing is left behind).
    :raises OperationCancelled: when ``progress`` asks to stop (nothing is written).
    """
    from . import plots as reportplots
    from .output import StagedReport, resolveOutput

    paths = resolveOutput(out)
    report = collectReport(datasetRoot, database, thresholds, snapshots, workers, progress, cache)
    if progress:
        progress(0.96, "Writing the report")
    drawn, notes = figures(report)
    written, pdfPath = [], None
    try:
        with StagedReport(paths) as staging:
            staged = staging.staged
            images = {name: reportplots.figurePng(figure) for name, figure in drawn.items()}
            for name, text in csvTables(report).items():
                writeTextAtomic(staged.dataFolder / f"{name}.csv", text)
                written.append(paths.dataFolder / f"{name}.csv")
            items = [staged.html, staged.dataFolder]
            if pdf and not reportplots.matplotlibAvailable():
                notes.append("No PDF: matplotlib is not installed.")
            elif pdf:
                from matplotlib.backends.backend_pdf import PdfPages

                page = reportplots.textPage("AIS dataset acceptance report", pdfLines(report))
                try:
                    with atomicWritePath(staged.pdf) as temporaryPath, PdfPages(temporaryPath) as document:
                        document.savefig(page)
                        for figure in drawn.values():
                            document.savefig(figure)
                finally:
                    reportplots.closeFigure(page)
                items.append(staged.pdf)
                pdfPath = paths.pdf
            writeTextAtomic(staged.html, renderHtml(report, images, paths.dataFolder.name, notes))
            staging.commit(items)
    finally:
        for figure in drawn.values():
            reportplots.closeFigure(figure)
    if progress:
        progress(1.0, "Report written")
    return {"html": str(paths.html), "csv": [str(path) for path in written], "pdf": str(pdfPath) if pdfPath else None,
            "accepted": report["accepted"], "summary": report["summary"], "notes": [*report["readerNotes"], *notes],
            "findings": [finding.sentence for finding in report["findings"] if finding.severity == "error"],
            "run": report["run"], "cacheFolder": report["cacheFolder"]}
