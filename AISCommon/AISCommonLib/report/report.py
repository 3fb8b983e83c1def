"""The dataset acceptance report (consensus section 3.3): one self-contained HTML file plus CSV files.

:func:`collectReport` gathers the numbers (no plotting, no writing); :func:`writeReport` writes
``<out>.html`` (figures embedded as base64 PNG), ``<out stem>_data/*.csv`` (the numbers behind every table
and figure) and optionally a PDF. Sections:

1. **Completeness**: every case with two submitted reads and a review or arbitration (from the workflow
   database; without one, from the files: two readers' masks and a final mask), what is missing, by case.
2. **Format and naming**: ``validateDataset`` (headers only) and every mask file: readable, binary, on the
   DWI grid, with a complete JSON sidecar.
3. **Metadata**: field strength, slice thickness and spacing, TE, TR per sequence, the DWI b value;
   filled columns of ``participants.tsv``.
4. **Inter-reader agreement** (cases not excluded): Dice and lesion-wise F1 histograms, Bland-Altman of
   lesion volumes, Pearson / Spearman, ICC(2,1) of volumes, per reader: volume bias against the other
   reader and against the final mask, Dice against the final mask, median reading time; how many cases
   needed adjudication and arbitration.
5. **Image quality** (:mod:`AISCommonLib.core.quality`): SNR, CNR, Likert; proposed exclusions and the
   exclusions recorded in the workflow, by reason.
6. **Discordant regions** of each adjudicated case, pictured by ``mrml.regionsnapshot.makeReviewSnapshots``
   when it and slicer-core are available (optional; the report says when it is not).

A section that cannot be computed (no cases, no reads, a corrupt mask, no database) says why in the
report; nothing of it is raised, except a dataset folder that does not exist.
"""

import base64
import csv
import dataclasses
import datetime
import html
import io
import json
import logging
import math
import tempfile
from pathlib import Path

import numpy as np

from .. import __version__
from ..core.atomicio import atomicWritePath, writeTextAtomic
from ..core.cases import Case, discoverCases
from ..core.derivatives import MASK_SUFFIX, PIPELINE_NAME, consensusMaskPath, latestReaderMasks, sidecarPathFor
from ..core.errors import AISError, InputError
from ..core.quality import MEASURED_SEQUENCES, QualityThresholds, assessDataset
from . import stats as reportstats

logger = logging.getLogger(__name__)

#: What the report needs beyond the base install (the ``report`` extra of pyproject.toml); a Slicer widget
#: offering the report passes it to ``slicer.packaging.pip_ensure`` before writing one.
REPORT_REQUIREMENTS = ["matplotlib>=3.7", "bids-validator-deno"]
#: Sidecar keys a reader mask must have (written by ``derivatives.writeReaderMask``).
READER_SIDECAR_KEYS = ("Reader", "Version", "Created", "Software", "Method", "Parameters", "Voxels", "VolumeMl", "Sources")
#: Sidecar keys a final (consensus) mask must have (written by the workflow store at finalisation).
FINAL_SIDECAR_KEYS = ("Type", "Case", "Created", "Reads")
#: Acquisition fields checked per sequence (BIDS sidecar names).
METADATA_FIELDS = ("MagneticFieldStrength", "SliceThickness", "SpacingBetweenSlices", "EchoTime", "RepetitionTime")
METADATA_SEQUENCES = ("dwi", "flair", "t1w", "t2w")
GRID_TOLERANCE = 1e-4
#: Regions pictured per adjudicated case at most (keeps the HTML small enough to mail).
MAX_SNAPSHOT_REGIONS = 6
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclasses.dataclass
class Section:
    """One part of the report: its rows and numbers, and sentences about what could not be done."""

    title: str
    problems: list = dataclasses.field(default_factory=list)
    notes: list = dataclasses.field(default_factory=list)
    passed: bool | None = None


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def formatValue(value, digits: int = 3) -> str:
    """How a number is shown in the HTML and in ``summary.csv``'s ``shown`` column."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


# ---------------------------------------------------------------------------------------------------
# Data gathering


def _openWorkflowSnapshot(root: Path, database):
    """Every table of the workflow database, or (None, sentence) when there is none; never creates one."""
    import os

    from ..workflow.database import DATABASE_URL_VARIABLE, defaultDatabasePath
    from ..workflow.store import openStore

    database = database or os.environ.get(DATABASE_URL_VARIABLE)
    if database is None:
        path = defaultDatabasePath(root)
        if not path.is_file():
            return None, f"No workflow database ({path} does not exist and no --db was given): completeness is judged from the files alone."
        database = path
    elif "://" not in str(database) and not Path(database).is_file():
        return None, f"The workflow database '{database}' does not exist: completeness is judged from the files alone."
    try:
        store = openStore(database, root)
    except AISError as error:
        return None, f"The workflow database could not be opened ({error}); completeness is judged from the files alone."
    try:
        return store.snapshot(), None
    except AISError as error:
        return None, f"The workflow database could not be read ({error}); completeness is judged from the files alone."
    finally:
        store.close()


def _headerGrid(path: Path):
    """Shape ``(i, j, k)`` and matrix from the header alone (size-checked first, see ``core.image.readHeaderGrid``)."""
    from ..core.image import readHeaderGrid

    grid = readHeaderGrid(path)
    return tuple(grid.shape[:3]), np.asarray(grid.ijkToRas)


def _checkMaskFile(path: Path, dwiGrid, required: tuple) -> list[str]:
    """Problems of one mask file: unreadable, not binary, off the DWI grid, sidecar missing or incomplete."""
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


def _formatSection(root: Path, cases: list[Case]) -> tuple[Section, list[dict], list[dict]]:
    from ..core.validate import validateDataset

    section = Section("Format and naming")
    findings = []
    try:
        findings = [finding.toDict() for finding in validateDataset(root, deep=False)]
    except AISError as error:
        section.problems.append(f"Validation could not run: {error}")
    maskRows = []
    for case in cases:
        dwiGrid = None
        if "dwi" in case.files:
            try:
                dwiGrid = _headerGrid(case.files["dwi"])
            except InputError as error:
                section.problems.append(f"{case.caseId}: the DWI cannot be read, masks are not checked against its grid ({error}).")
        folder = root / "derivatives" / PIPELINE_NAME / case.relativeFolder
        # Reader masks (..._desc-<reader>..._dwi_lesionmask) and the final mask (<case>_dwi_lesionmask).
        for path in sorted(folder.glob(f"{case.caseId}*{MASK_SUFFIX}")) if folder.is_dir() else []:
            final = path.name == f"{case.caseId}{MASK_SUFFIX}"
            if not final and not path.name.startswith(f"{case.caseId}_"):
                continue  # another case whose ID starts with this one's
            problems = _checkMaskFile(path, dwiGrid, FINAL_SIDECAR_KEYS if final else READER_SIDECAR_KEYS)
            maskRows.append({"case": case.caseId, "file": path.name, "kind": "final" if final else "read",
                             "status": "ok" if not problems else "problem", "problems": "; ".join(problems)})
    findings += _officialValidatorFindings(root, section)
    errors = sum(finding["severity"] == "error" for finding in findings)
    badMasks = sum(row["status"] != "ok" for row in maskRows)
    section.passed = not errors and not badMasks and not section.problems
    section.notes.append(f"{errors} validation error(s), {sum(f['severity'] == 'warning' for f in findings)} warning(s); "
                         f"{len(maskRows)} mask file(s) checked, {badMasks} with problems.")
    return section, findings, maskRows


def _officialValidatorFindings(root: Path, section: Section) -> list[dict]:
    """The official BIDS validator's errors as findings (code prefixed ``bids-validator:``), warnings as a note."""
    from ..core.bidsvalidator import runOfficialValidator

    try:
        result = runOfficialValidator(root)
    except AISError as error:
        section.problems.append(str(error))
        return []
    if result is None:
        section.notes.append("The official BIDS validator is not installed (pip install bids-validator-deno); it did not run.")
        return []
    warnings = ", ".join(f"{code} x{count}" for code, count in sorted(result["warnings"].items()))
    section.notes.append(f"Official BIDS validator (schema {result['version']}): {len(result['errors'])} error(s); warnings: {warnings or 'none'}.")
    return [{"severity": "error", "code": f"bids-validator:{issue['code']}", "message": issue["message"] or issue["code"],
             "caseId": "_".join(part for part in issue["location"].strip("/").split("/")[:2] if part.startswith(("sub-", "ses-"))),
             "file": issue["location"]} for issue in result["errors"]]


def _metadataSection(root: Path, cases: list[Case]) -> tuple[Section, list[dict], list[dict]]:
    section = Section("Metadata completeness")
    rows = []
    for case in cases:
        for key in METADATA_SEQUENCES:
            if key not in case.files:
                continue
            try:
                sidecar = case.sidecar(key)
                sidecarProblem = "" if case.sidecarPath(key) else "no JSON sidecar"
            except InputError as error:
                sidecar, sidecarProblem = {}, str(error)
            row = {"case": case.caseId, "sequence": key}
            for field in METADATA_FIELDS:
                row[field] = sidecar.get(field)
            if key == "dwi":
                bValue = sidecar.get("DiffusionBValue")
                if bValue is None and case.bvalPath():
                    try:
                        bValue = max(float(value) for value in case.bvalPath().read_text(encoding="utf-8").split())
                    except (OSError, ValueError):
                        bValue = None
                row["BValue"] = bValue
            required = [*METADATA_FIELDS[:2], *METADATA_FIELDS[3:]] + (["BValue"] if key == "dwi" else [])
            row["missing"] = ", ".join(field for field in required if row.get(field) is None)
            row["sidecar_problem"] = sidecarProblem
            rows.append(row)
    participants = []
    path = root / "participants.tsv"
    if path.is_file():
        lines = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        if lines:
            header, body = lines[0], lines[1:]
            for index, column in enumerate(header[1:], start=1):
                filled = sum(1 for line in body if len(line) > index and line[index].strip() not in ("", "n/a"))
                participants.append({"column": column, "filled": filled, "participants": len(body)})
    else:
        section.problems.append("participants.tsv is missing: no clinical data is listed.")
    incomplete = sum(1 for row in rows if row["missing"] or row["sidecar_problem"])
    section.passed = incomplete == 0 and not section.problems
    section.notes.append(f"{len(rows)} sequence(s) checked; {incomplete} with missing acquisition parameters "
                         f"(SpacingBetweenSlices is optional: the voxel spacing stands in for it).")
    return section, rows, participants


def _completenessFromWorkflow(cases: list[Case], tables: dict) -> tuple[list[dict], list[str]]:
    caseRows = {row["case_id"]: row for row in tables.get("cases", []) if not row.get("training")}
    readCounts, decisions, escalated = {}, {}, set()
    for read in tables.get("reads", []):
        readCounts[read["case_id"]] = readCounts.get(read["case_id"], 0) + 1
    for decision in tables.get("decisions", []):
        decisions.setdefault(decision["case_id"], set()).add(decision["action"])
    for event in tables.get("events", []):
        if event["action"] == "escalate":
            escalated.add(event["case_id"])
    rows, problems = [], []
    discovered = {case.caseId for case in cases}
    for case in cases:
        row = caseRows.get(case.caseId)
        entry = {"case": case.caseId, "state": "", "reads": 0, "review": False, "arbitration": False, "concordant": None,
                 "exclusion_reason": "", "status": "", "missing": ""}
        if row is None:
            rows.append({**entry, "status": "missing", "missing": "not registered in the workflow"})
            continue
        actions = decisions.get(case.caseId, set())
        entry.update(state=row["state"], reads=readCounts.get(case.caseId, 0), review="review" in actions,
                     arbitration="arbitrate" in actions or case.caseId in escalated or row["state"] == "arbitration",
                     concordant=row["concordant"], exclusion_reason=row["exclusion_reason"] or "")
        missing = []
        if row["state"] == "excluded":
            entry["status"] = "excluded"
            rows.append(entry)
            continue
        if entry["reads"] < 2:
            missing.append(f"{entry['reads']} of 2 reads submitted")
        if not actions & {"review", "arbitrate"}:
            missing.append({"arbitration": "awaiting arbitration", "review_confirm": "awaiting review",
                            "review_adjudicate": "awaiting review (adjudication)"}.get(row["state"], "no review or arbitration"))
        if row["state"] == "final" and not row["final_mask_path"]:
            missing.append("no final mask recorded")
        entry.update(status="missing" if missing else "complete", missing="; ".join(missing))
        rows.append(entry)
    for caseId in sorted(set(caseRows) - discovered):
        problems.append(f"{caseId} is registered in the workflow but its images were not found in the dataset.")
    return rows, problems


def _completenessFromFiles(root: Path, cases: list[Case]) -> list[dict]:
    rows = []
    for case in cases:
        reads = len(latestReaderMasks(root, case))
        final = consensusMaskPath(root, case).is_file()
        missing = []
        if reads < 2:
            missing.append(f"{reads} of 2 reads")
        if not final:
            missing.append("no final (reviewed) mask")
        rows.append({"case": case.caseId, "state": "", "reads": reads, "review": final, "arbitration": None, "concordant": None,
                     "exclusion_reason": "", "status": "missing" if missing else "complete", "missing": "; ".join(missing)})
    return rows


def _readingSeconds(root: Path, read: dict) -> float | None:
    """Time on task of a read: the active time the module measured (kept in the mask sidecar's
    ``Parameters.active_seconds``), else the time from claim to submission recorded by the store."""
    sidecarPath = root / read["sidecar_path"] if read.get("sidecar_path") else None
    try:
        active = json.loads(sidecarPath.read_text(encoding="utf-8")).get("Parameters", {}).get("active_seconds") if sidecarPath else None
    except (OSError, ValueError, AttributeError):
        active = None
    if isinstance(active, (int, float)) and not isinstance(active, bool) and math.isfinite(active) and active >= 0:
        return float(active)
    return float(read["duration_seconds"]) if read.get("duration_seconds") is not None else None


def _concordanceRule(tables: dict | None):
    """The workflow's concordance rule when the dataset has a workflow, else the default one."""
    from ..core.agreement import AgreementParameters

    stored = {row["key"]: row["value"] for row in (tables or {}).get("settings", [])}
    return AgreementParameters.fromRule(json.loads(stored["concordance"])) if "concordance" in stored else AgreementParameters()


def _referenceRows(root: Path, parameters, excluded: set) -> list[dict]:
    """Every read against the lesion masks the dataset ships (e.g. ISLES expert masks), when they fit its grid."""
    from ..core.referencemasks import compareWithReferences

    try:
        return [row for row in compareWithReferences(root, parameters) if row["case"] not in excluded]
    except AISError as error:
        logger.warning("The reads could not be compared with the dataset's own masks (%s).", error)
        return []


def _agreementSection(root: Path, excluded: set, tables: dict | None, completeness: list[dict], workers: int) -> tuple[Section, dict]:
    from ..core.agreement import compareFiles
    from ..core.dataset import compareDataset

    section = Section("Inter-reader agreement")
    parameters = _concordanceRule(tables)
    data = {"pairs": [], "failed": [], "summary": {}, "readers": [], "times": {}, "blandAltman": None, "rule": parameters.ruleDict()}
    data["references"] = _referenceRows(root, parameters, excluded)
    try:
        rows = compareDataset(root, parameters, workers=workers)
    except AISError as error:
        section.problems.append(f"No agreement could be computed: {error}")
        return section, data
    pairs = [row for row in rows if row["status"] == "compared" and row["case"] not in excluded]
    data["failed"] = [row for row in rows if row["status"] == "error"]
    for row in data["failed"]:
        section.problems.append(f"{row['case']}: the reads could not be compared: {row['error']}")
    data["pairs"] = pairs
    summary = data["summary"]
    summary["pairs_compared"] = len(pairs)
    if not pairs:
        section.problems.append("No case has two comparable reads yet: no agreement statistics.")
        return section, data
    dice = [row["dice"] for row in pairs]
    f1 = [row["lesion_f1"] for row in pairs]
    volumesA, volumesB = [row["volume_a_ml"] for row in pairs], [row["volume_b_ml"] for row in pairs]
    for name, values in (("dice", dice), ("lesion_f1", f1), ("hd95_mm", [row["hd95_mm"] for row in pairs])):
        described = reportstats.describe(values)
        summary[f"{name}_mean"], summary[f"{name}_median"] = described["mean"], described["median"]
        summary[f"{name}_min"] = described["min"]
    summary["missed_lesions_total"] = int(sum(row["missed_lesions"] for row in pairs))
    summary["pairs_concordant"] = int(sum(bool(row["concordant"]) for row in pairs))
    analysis = reportstats.blandAltman(volumesA, volumesB)
    data["blandAltman"] = analysis
    summary.update(volume_bias_ml=analysis["bias"], volume_loa_lower_ml=analysis["lower"], volume_loa_upper_ml=analysis["upper"],
                   volume_pearson_r=reportstats.pearson(volumesA, volumesB), volume_spearman_rho=reportstats.spearman(volumesA, volumesB))
    try:
        summary["volume_icc_2_1"] = reportstats.icc(np.column_stack([volumesA, volumesB]), "2,1")
    except InputError as error:
        summary["volume_icc_2_1"] = None
        section.notes.append(f"ICC(2,1) not computed: {error}")
    if len(pairs) < 3:
        section.notes.append("Correlations need at least 3 pairs of reads.")
    # Per reader: the other reader, the final mask, reading time.
    finals = {row["case"]: consensusMaskPath(root, Case(row["subject"], row["session"] or None, root)) for row in pairs}
    perReader: dict[str, dict] = {}
    for row in pairs:
        for side, other in (("a", "b"), ("b", "a")):
            reader = row[f"reader_{side}"]
            entry = perReader.setdefault(reader, {"reads": 0, "volumes": [], "versusOther": [], "versusFinal": [], "diceFinal": []})
            entry["reads"] += 1
            entry["volumes"].append(row[f"volume_{side}_ml"])
            entry["versusOther"].append(row[f"volume_{side}_ml"] - row[f"volume_{other}_ml"])
            finalPath = finals[row["case"]]
            if finalPath.is_file():
                readPath = latestReaderMasks(root, Case(row["subject"], row["session"] or None, root)).get(reader)
                try:
                    result = compareFiles(finalPath, readPath.path) if readPath else None
                except AISError as error:
                    section.problems.append(f"{row['case']}: {reader}'s read could not be compared with the final mask: {error}")
                    result = None
                if result is not None:
                    entry["versusFinal"].append(result.volumeBMl - result.volumeAMl)
                    entry["diceFinal"].append(result.dice)
    times: dict[str, list] = {}
    for read in (tables or {}).get("reads", []):
        seconds = _readingSeconds(root, read)
        if seconds is not None and read["case_id"] not in excluded:
            times.setdefault(read["user_id"], []).append(seconds)
    data["times"] = times
    for reader in sorted(set(perReader) | set(times)):
        entry = perReader.get(reader, {"reads": 0, "volumes": [], "versusOther": [], "versusFinal": [], "diceFinal": []})
        data["readers"].append({
            "reader": reader, "reads_compared": entry["reads"],
            "mean_volume_ml": reportstats.describe(entry["volumes"])["mean"],
            "volume_bias_vs_other_ml": reportstats.describe(entry["versusOther"])["mean"],
            "volume_bias_vs_final_ml": reportstats.describe(entry["versusFinal"])["mean"],
            "mean_dice_vs_final": reportstats.describe(entry["diceFinal"])["mean"],
            "timed_reads": len(times.get(reader, [])),
            "median_time_min": (reportstats.describe(times.get(reader, []))["median"] or 0.0) / 60.0 if times.get(reader) else None,
        })
    if tables is None:
        section.notes.append("Reading times come from the workflow database, which was not available.")
    active = [row for row in completeness if row["status"] != "excluded" and row["state"]]
    summary["cases_adjudicated"] = sum(1 for row in active if row["concordant"] is False)
    summary["cases_arbitrated"] = sum(1 for row in active if row["arbitration"])
    summary["cases_confirmed"] = sum(1 for row in active if row["concordant"] is True)
    if tables is None:
        summary["cases_adjudicated"] = sum(1 for row in pairs if not row["concordant"])
        summary["cases_arbitrated"] = None
        summary["cases_confirmed"] = sum(1 for row in pairs if row["concordant"])
        section.notes.append("Adjudication counts are those the concordance rule calls for; who arbitrated is only in the workflow database.")
    return section, data


def _qualitySection(root: Path, cases: list[Case], excluded: dict, thresholds: QualityThresholds, progress) -> tuple[Section, dict]:
    section = Section("Image quality")
    records, failures = assessDataset(root, cases, thresholds, progress)
    for caseId, error in failures.items():
        section.problems.append(f"{caseId}: image quality not measured: {error}")
    rows = [record.toRow() for record in records]
    proposals = [{"case": record.caseId, "reason": record.proposal.reason, "note": record.proposal.note,
                  "already_excluded": record.caseId in excluded} for record in records if record.proposal]
    pending = [row for row in proposals if not row["already_excluded"]]
    byReason: dict[str, int] = {}
    for reason in excluded.values():
        byReason[reason or "unknown"] = byReason.get(reason or "unknown", 0) + 1
    likert = [score for record in records for score in record.likert.values()]
    values = {"snr": {key: [] for key in MEASURED_SEQUENCES}, "cnr": {key: [] for key in MEASURED_SEQUENCES}}
    for record in records:
        for key in MEASURED_SEQUENCES:
            for metric in ("snr", "cnr"):
                value = record.value(key, metric)
                if value is not None:
                    values[metric][key].append(value)
    summary = {"quality_cases_measured": len(records), "quality_proposed_exclusions": len(proposals),
               "quality_pending_proposals": len(pending), "likert_reads": len(likert),
               "likert_mean": reportstats.describe(likert)["mean"],
               "dwi_snr_median": reportstats.describe(values["snr"]["dwi"])["median"],
               "dwi_cnr_median": reportstats.describe(values["cnr"]["dwi"])["median"],
               "cases_excluded": len(excluded)}
    if not likert:
        section.notes.append("No reader recorded a Likert score (expected as 'likert' in the Parameters of the mask sidecar).")
    section.passed = not pending and not failures
    return section, {"rows": rows, "records": records, "proposals": proposals, "byReason": byReason, "likert": likert,
                     "values": values, "summary": summary}


def findSnapshotRenderer():
    """The region-picture function if slicer-core is installed.

    :return: ``(callable, None)`` or ``(None, sentence saying why not)``.
    """
    from ..mrml.availability import requireSlicerCore

    try:
        requireSlicerCore()
    except AISError as error:
        return None, f"Region pictures are not available: {error}"
    from ..mrml.regionsnapshot import makeReviewSnapshots

    return makeReviewSnapshots, None


def _snapshots(root: Path, cases: dict, adjudicated: list[str], renderer) -> tuple[list[dict], list[str]]:
    from ..core.derivatives import selectReads

    pictures, problems = [], []
    with tempfile.TemporaryDirectory(prefix="ais-report-") as folder:
        for caseId in adjudicated:
            case = cases.get(caseId)
            if case is None:
                continue
            try:
                (readerA, pathA), (readerB, pathB) = selectReads(root, case)
                summary = renderer(case, Path(folder) / caseId, pathA, pathB, (readerA, readerB))
            except (AISError, RuntimeError, OSError) as error:
                problems.append(f"{caseId}: the discordant regions could not be pictured ({error}).")
                continue
            for region in summary["regions"][:MAX_SNAPSHOT_REGIONS]:
                pictures.append({"case": caseId, "title": region.get("title", f"region {region['id']}"),
                                 "png": Path(region["png"]).read_bytes(), "readers": f"{readerA} (blue) / {readerB} (amber)"})
            if len(summary["regions"]) > MAX_SNAPSHOT_REGIONS:
                problems.append(f"{caseId}: {len(summary['regions']) - MAX_SNAPSHOT_REGIONS} more region(s) not pictured; use 'ais review-snapshot'.")
    return pictures, problems


def collectReport(datasetRoot, database=None, thresholds: QualityThresholds | None = None, snapshots: bool | object = True,
                  workers: int = 1, progress=None) -> dict:
    """Every number of the acceptance report (nothing is written).

    :param datasetRoot: BIDS root.
    :param database: workflow database (URL or SQLite file); default ``$AIS_DB_URL`` or the dataset's
        ``derivatives/lesions/workflow.sqlite`` if it exists (never created).
    :param thresholds: quality exclusion rule.
    :param snapshots: True to picture adjudicated cases when possible, False to skip, or a callable with
        the signature of ``mrml.regionsnapshot.makeReviewSnapshots``.
    :param workers: processes for the agreement computation.
    :param progress: optional ``(fraction, message)`` callable.
    :return: a dict of sections (see :func:`writeReport`).
    :raises InputError: the dataset folder does not exist.
    """
    root = Path(datasetRoot)
    if not root.is_dir():
        raise InputError(f"The dataset folder '{root}' does not exist.")
    thresholds = thresholds or QualityThresholds()
    thresholds.validate()
    report = {"root": str(root.resolve()), "created": _now(), "version": __version__, "thresholds": dataclasses.asdict(thresholds),
              "banner": [], "sections": {}}

    def step(fraction, message):
        if progress:
            progress(fraction, message)

    step(0.0, "Finding cases")
    try:
        cases = discoverCases(root)
    except InputError as error:
        cases = []
        report["banner"].append(f"No cases: {error}")
    report["cases"] = [case.caseId for case in cases]
    tables, workflowNote = _openWorkflowSnapshot(root, database) if cases else (None, None)
    report["workflow"] = tables is not None
    completeness = Section("Completeness")
    if workflowNote:
        completeness.notes.append(workflowNote)
    if tables is not None:
        completenessRows, problems = _completenessFromWorkflow(cases, tables)
        completeness.problems.extend(problems)
    else:
        completenessRows = _completenessFromFiles(root, cases)
    excluded = {row["case"]: row["exclusion_reason"] for row in completenessRows if row["status"] == "excluded"}
    missing = [row for row in completenessRows if row["status"] == "missing"]
    completeness.passed = bool(cases) and not missing
    report["sections"]["completeness"] = {"section": completeness, "rows": completenessRows,
                                          "summary": {"cases": len(cases), "cases_complete": sum(row["status"] == "complete" for row in completenessRows),
                                                      "cases_missing": len(missing), "cases_excluded": len(excluded)}}
    step(0.1, "Checking formats and names")
    if cases:
        formatSection, findings, maskRows = _formatSection(root, cases)
        metadataSection, metadataRows, participants = _metadataSection(root, cases)
    else:
        formatSection, findings, maskRows = Section("Format and naming", ["No cases to check."]), [], []
        metadataSection, metadataRows, participants = Section("Metadata completeness", ["No cases to check."]), [], []
    report["sections"]["format"] = {"section": formatSection, "findings": findings, "masks": maskRows}
    report["sections"]["metadata"] = {"section": metadataSection, "rows": metadataRows, "participants": participants}
    step(0.2, "Comparing the reads")
    if cases:
        agreementSection, agreement = _agreementSection(root, set(excluded), tables, completenessRows, workers)
    else:
        agreementSection, agreement = Section("Inter-reader agreement", ["No cases."]), {"pairs": [], "failed": [], "summary": {}, "readers": [],
                                                                                           "times": {}, "blandAltman": None,
                                                                                           "rule": _concordanceRule(tables).ruleDict(), "references": []}
    report["sections"]["agreement"] = {"section": agreementSection, **agreement}

    def qualityProgress(fraction, message):
        step(0.3 + 0.6 * fraction, message)

    if cases:
        qualitySection, quality = _qualitySection(root, cases, excluded, thresholds, qualityProgress)
    else:
        qualitySection, quality = Section("Image quality", ["No cases."]), {"rows": [], "records": [], "proposals": [], "byReason": {},
                                                                            "likert": [], "values": None, "summary": {}}
    report["sections"]["quality"] = {"section": qualitySection, **quality}
    step(0.9, "Picturing discordant regions")
    snapshotSection = Section("Discordant regions of adjudicated cases")
    adjudicated = [row["case"] for row in completenessRows if row["status"] != "excluded" and row["concordant"] is False]
    if tables is None:
        adjudicated = sorted({row["case"] for row in agreement["pairs"] if not row["concordant"]})
    pictures = []
    if not adjudicated:
        snapshotSection.notes.append("No case needed adjudication.")
    elif snapshots is False:
        snapshotSection.notes.append("Region pictures were not requested (--no-snapshots).")
    else:
        renderer, why = (snapshots, None) if callable(snapshots) else findSnapshotRenderer()
        if renderer is None:
            snapshotSection.notes.append(why)
        else:
            pictures, problems = _snapshots(root, {case.caseId: case for case in cases}, adjudicated, renderer)
            snapshotSection.problems.extend(problems)
    report["sections"]["snapshots"] = {"section": snapshotSection, "pictures": pictures, "cases": adjudicated}
    summary = {**report["sections"]["completeness"]["summary"], **agreement["summary"], **quality["summary"]}
    summary["validation_errors"] = sum(finding["severity"] == "error" for finding in findings)
    summary["validation_warnings"] = sum(finding["severity"] == "warning" for finding in findings)
    summary["mask_files_with_problems"] = sum(row["status"] != "ok" for row in maskRows)
    summary["sequences_missing_metadata"] = sum(1 for row in metadataRows if row["missing"] or row["sidecar_problem"])
    report["summary"] = summary
    gates = ("completeness", "format", "metadata", "quality")
    report["accepted"] = bool(cases) and all(report["sections"][key]["section"].passed for key in gates)
    summary["failed_sections"] = [report["sections"][key]["section"].title for key in gates if not report["sections"][key]["section"].passed]
    step(1.0, "Report data collected")
    return report


# ---------------------------------------------------------------------------------------------------
# Figures and CSV


def _figures(report: dict) -> tuple[dict, list[str]]:
    """name -> matplotlib figure, and sentences about figures that could not be drawn."""
    from . import plots as reportplots

    if not reportplots.matplotlibAvailable():
        return {}, ["matplotlib is not installed (pip install 'ais-annotation[report]'): the report has tables and CSV files but no plots."]
    figures, notes = {}, []
    agreement = report["sections"]["agreement"]
    pairs = agreement["pairs"]
    minDice = agreement["rule"]["min_dice"]
    if pairs:
        figures["dice_histogram"] = reportplots.diceHistogram([row["dice"] for row in pairs], [row["lesion_f1"] for row in pairs], minDice)
        figures["bland_altman"] = reportplots.blandAltmanPlot(agreement["blandAltman"], [row["case"].split("_")[0] for row in pairs])
        figures["volume_correlation"] = reportplots.volumeScatter([row["volume_a_ml"] for row in pairs], [row["volume_b_ml"] for row in pairs],
                                                                  agreement["summary"].get("volume_pearson_r"), agreement["summary"].get("volume_spearman_rho"))
    if agreement["times"]:
        figures["reading_times"] = reportplots.readingTimes(agreement["times"])
    quality = report["sections"]["quality"]
    thresholds = report["thresholds"]
    if quality["records"]:
        figures["quality_snr_cnr"] = reportplots.qualityPlot(quality["values"], thresholds["minSnr"], thresholds["minCnr"], tuple(thresholds["sequences"]))
    if quality["likert"]:
        figures["likert"] = reportplots.likertHistogram(quality["likert"], thresholds["minLikert"])
    return figures, notes


def _csvText(rows: list[dict], columns: list[str] | None = None) -> str:
    columns = columns or (list(rows[0]) if rows else ["empty"])
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: ("" if value is None else value) for key, value in row.items()})
    return buffer.getvalue()


def _csvTables(report: dict) -> dict[str, str]:
    from ..core.dataset import ROW_COLUMNS
    from ..core.referencemasks import REFERENCE_COLUMNS

    sections = report["sections"]
    agreement = sections["agreement"]
    summaryRows = [{"metric": key, "value": "" if value is None else value, "shown": formatValue(value)} for key, value in report["summary"].items()]
    summaryRows.append({"metric": "accepted", "value": report["accepted"], "shown": formatValue(report["accepted"])})
    tables = {
        "summary": _csvText(summaryRows, ["metric", "value", "shown"]),
        "completeness": _csvText(sections["completeness"]["rows"], ["case", "state", "reads", "review", "arbitration", "concordant",
                                                                     "exclusion_reason", "status", "missing"]),
        "findings": _csvText(sections["format"]["findings"], ["severity", "code", "message", "caseId", "file"]),
        "masks": _csvText(sections["format"]["masks"], ["case", "file", "kind", "status", "problems"]),
        "metadata": _csvText(sections["metadata"]["rows"], ["case", "sequence", *METADATA_FIELDS, "BValue", "missing", "sidecar_problem"]),
        "participants_columns": _csvText(sections["metadata"]["participants"], ["column", "filled", "participants"]),
        "agreement_pairs": _csvText(agreement["pairs"] + agreement["failed"], ROW_COLUMNS),
        "reads_vs_reference": _csvText(agreement.get("references", []), REFERENCE_COLUMNS),
        "dice_histogram": _csvText(reportstats.histogram([row["dice"] for row in agreement["pairs"]], [index / 10 for index in range(11)]),
                                   ["low", "high", "count"]),
        "per_reader": _csvText(agreement["readers"], ["reader", "reads_compared", "mean_volume_ml", "volume_bias_vs_other_ml", "volume_bias_vs_final_ml",
                                                      "mean_dice_vs_final", "timed_reads", "median_time_min"]),
        "reading_times": _csvText([{"reader": reader, "seconds": seconds} for reader, values in sorted(agreement["times"].items()) for seconds in values],
                                  ["reader", "seconds"]),
        "quality": _csvText(sections["quality"]["rows"], list(sections["quality"]["rows"][0]) if sections["quality"]["rows"] else ["case"]),
        "quality_proposals": _csvText(sections["quality"]["proposals"], ["case", "reason", "note", "already_excluded"]),
        "exclusions": _csvText([{"case": row["case"], "reason": row["exclusion_reason"]} for row in sections["completeness"]["rows"]
                                if row["status"] == "excluded"], ["case", "reason"]),
    }
    analysis = agreement["blandAltman"]
    if analysis:
        tables["bland_altman"] = _csvText([{"case": row["case"], "reader_a": row["reader_a"], "reader_b": row["reader_b"], "volume_a_ml": row["volume_a_ml"],
                                            "volume_b_ml": row["volume_b_ml"], "mean_ml": mean, "difference_ml": difference}
                                           for row, mean, difference in zip(agreement["pairs"], analysis["means"], analysis["differences"])])
    return tables


# ---------------------------------------------------------------------------------------------------
# HTML

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:72em;color:#222;line-height:1.4}
h1{font-size:1.6em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.88em}th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3}.pass{color:#1e7e34;font-weight:bold}.fail{color:#b02a37;font-weight:bold}.info{color:#555}
.problem{background:#fdecea;border-left:4px solid #b02a37;padding:.4em .7em;margin:.4em 0}
.note{background:#f4f6f8;border-left:4px solid #8a9ba8;padding:.4em .7em;margin:.4em 0}
img{max-width:100%;border:1px solid #eee;margin:.4em 0}figure{margin:1em 0}figcaption{font-size:.85em;color:#555}
"""


def _escape(value) -> str:
    return html.escape(formatValue(value) if not isinstance(value, str) else value)


def _table(rows: list[dict], columns: list[str], caseAttribute: str | None = None) -> str:
    if not rows:
        return '<p class="info">None.</p>'
    head = "".join(f"<th>{html.escape(column)}</th>" for column in columns)
    body = []
    for row in rows:
        attribute = f' data-{caseAttribute}="{html.escape(str(row.get("case", "")))}"' if caseAttribute else ""
        body.append(f"<tr{attribute}>" + "".join(f"<td>{_escape(row.get(column))}</td>" for column in columns) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _metrics(summary: dict, keys: list[tuple[str, str]]) -> str:
    rows = "".join(f'<tr><th>{html.escape(label)}</th><td data-metric="{key}">{_escape(summary.get(key))}</td></tr>' for key, label in keys)
    return f"<table>{rows}</table>"


def _messages(section: Section) -> str:
    parts = [f'<div class="problem">{html.escape(text)}</div>' for text in section.problems]
    parts += [f'<div class="note">{html.escape(text)}</div>' for text in section.notes]
    return "".join(parts)


def _verdict(section: Section) -> str:
    if section.passed is None:
        return ""
    return f' <span class="{"pass" if section.passed else "fail"}" data-section-passed="{str(section.passed).lower()}">{"passes" if section.passed else "does not pass"}</span>'


def _image(name: str, png: bytes, caption: str) -> str:
    encoded = base64.b64encode(png).decode("ascii")
    return (f'<figure><img alt="{html.escape(caption)}" data-figure="{html.escape(name)}" src="data:image/png;base64,{encoded}">'
            f"<figcaption>{html.escape(caption)} (numbers: report_data/{html.escape(name)}.csv)</figcaption></figure>")


def renderHtml(report: dict, images: dict[str, bytes], dataFolderName: str, figureNotes: list[str]) -> str:
    """The report as one HTML document (figures embedded as base64 PNG)."""
    sections = report["sections"]
    summary = report["summary"]

    def figure(name, caption):
        return _image(name, images[name], caption).replace("report_data/", f"{dataFolderName}/") if name in images else ""

    verdict = "passes acceptance" if report["accepted"] else "does not pass acceptance yet"
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>AIS dataset acceptance report</title><style>{_STYLE}</style></head><body>",
             "<h1>AIS lesion dataset: acceptance report</h1>",
             f"<p>Dataset <code>{html.escape(report['root'])}</code>; written {html.escape(report['created'])} by AIS {html.escape(report['version'])}. "
             f"Workflow database: {'read' if report['workflow'] else 'not available'}. The numbers behind every table and figure are in "
             f"<code>{html.escape(dataFolderName)}/</code>.</p>",
             f'<p>Verdict: <span class="{"pass" if report["accepted"] else "fail"}" data-metric="accepted">{html.escape(verdict)}</span></p>']
    parts += [f'<div class="problem" data-banner="true">{html.escape(text)}</div>' for text in report["banner"]]
    parts += [f'<div class="note">{html.escape(text)}</div>' for text in figureNotes]

    completeness = sections["completeness"]
    missingRows = [row for row in completeness["rows"] if row["status"] == "missing"]
    parts.append(f"<h2>1. Completeness{_verdict(completeness['section'])}</h2>")
    parts.append("<p>Every case needs two independent reads and a senior review or arbitration (consensus section 2.6); excluded cases are settled.</p>")
    parts.append(_metrics(summary, [("cases", "cases"), ("cases_complete", "complete"), ("cases_missing", "incomplete"), ("cases_excluded", "excluded")]))
    parts.append(_messages(completeness["section"]))
    if missingRows:
        parts.append("<p>Missing, by case:</p><ul>" + "".join(
            f'<li data-missing-case="{html.escape(row["case"])}"><b>{html.escape(row["case"])}</b>: {html.escape(row["missing"])}</li>' for row in missingRows) + "</ul>")
    parts.append(_table(completeness["rows"], ["case", "state", "reads", "review", "arbitration", "concordant", "exclusion_reason", "status", "missing"], "case"))

    formatData = sections["format"]
    parts.append(f"<h2>2. Format and naming{_verdict(formatData['section'])}</h2>")
    parts.append(_metrics(summary, [("validation_errors", "validation errors"), ("validation_warnings", "validation warnings"),
                                    ("mask_files_with_problems", "mask files with problems")]))
    parts.append(_messages(formatData["section"]))
    parts.append("<h3>Validation findings</h3>" + _table(formatData["findings"], ["severity", "code", "caseId", "file", "message"]))
    parts.append("<h3>Mask files (binary, on the DWI grid, complete sidecar)</h3>")
    parts.append(_table(formatData["masks"], ["case", "file", "kind", "status", "problems"], "mask-case"))

    metadata = sections["metadata"]
    parts.append(f"<h2>3. Metadata completeness{_verdict(metadata['section'])}</h2>")
    parts.append(_metrics(summary, [("sequences_missing_metadata", "sequences with missing acquisition parameters")]))
    parts.append(_messages(metadata["section"]))
    parts.append(_table(metadata["rows"], ["case", "sequence", *METADATA_FIELDS, "BValue", "missing", "sidecar_problem"]))
    parts.append("<h3>participants.tsv (clinical data)</h3>" + _table(metadata["participants"], ["column", "filled", "participants"]))

    agreement = sections["agreement"]
    parts.append("<h2>4. Inter-reader agreement</h2>")
    parts.append("<p>Newest read of each reader per case, excluded cases left out. Bland-Altman and ICC(2,1) (two-way random, absolute agreement) "
                 "are on lesion volumes in ml; lesion-wise F1 takes reader A as the reference.</p>")
    rule = agreement["rule"]
    parts.append(_metrics(summary, [
        ("pairs_compared", "pairs of reads compared"),
        ("pairs_concordant", f"concordant pairs (Dice >= {rule['min_dice']:g}, at most {rule['max_missed_lesions']} missed lesion(s))"),
        ("dice_mean", "Dice, mean"), ("dice_median", "Dice, median"), ("dice_min", "Dice, lowest"),
        ("lesion_f1_mean", "lesion-wise F1, mean"), ("missed_lesions_total", "lesions missed by one reader"), ("hd95_mm_median", "HD95 (mm), median"),
        ("volume_bias_ml", "volume bias A - B (ml)"), ("volume_loa_lower_ml", "lower limit of agreement (ml)"),
        ("volume_loa_upper_ml", "upper limit of agreement (ml)"), ("volume_pearson_r", "Pearson r of volumes"),
        ("volume_spearman_rho", "Spearman rho of volumes"), ("volume_icc_2_1", "ICC(2,1) of volumes"),
        ("cases_confirmed", "cases confirmed (concordant)"), ("cases_adjudicated", "cases that needed adjudication"),
        ("cases_arbitrated", "cases that went to arbitration")]))
    parts.append(_messages(agreement["section"]))
    parts.append(figure("dice_histogram", "Dice and lesion-wise F1 of every pair of reads"))
    parts.append(figure("bland_altman", "Bland-Altman plot of lesion volumes"))
    parts.append(figure("volume_correlation", "Lesion volume, reader A against reader B"))
    parts.append("<h3>Per reader</h3>" + _table(agreement["readers"], ["reader", "reads_compared", "mean_volume_ml", "volume_bias_vs_other_ml",
                                                                      "volume_bias_vs_final_ml", "mean_dice_vs_final", "timed_reads", "median_time_min"]))
    parts.append(figure("reading_times", "Reading time per case and reader"))
    parts.append("<h3>Pairs</h3>" + _table(agreement["pairs"], ["case", "reader_a", "reader_b", "dice", "volume_a_ml", "volume_b_ml", "hd95_mm",
                                                               "lesion_f1", "missed_lesions", "concordant"], "pair-case"))
    if agreement.get("references"):
        parts.append("<h3>Reads against the masks the dataset ships</h3><p>Reference masks found in the dataset's own derivatives (never changed), "
                     "compared with each reader's newest read when they lie on its grid; lesion-wise counts take the reference as the truth.</p>"
                     + _table(agreement["references"], ["case", "reader", "reference", "status", "dice", "volume_read_ml", "volume_reference_ml",
                                                        "hd95_mm", "lesion_f1", "missed_reference_lesions", "extra_read_lesions", "error"]))

    quality = sections["quality"]
    thresholds = report["thresholds"]
    parts.append(f"<h2>5. Image quality{_verdict(quality['section'])}</h2>")
    parts.append(f"<p>SNR = mean signal of normal parenchyma / noise sigma (air background, Rayleigh-corrected); CNR = |lesion - surrounding 2-6 mm shell| / sigma. "
                 f"Exclusion proposed for mean Likert &lt; {thresholds['minLikert']:g}, or SNR &lt; {thresholds['minSnr']:g} or lesion CNR &lt; "
                 f"{thresholds['minCnr']:g} on {', '.join(key.upper() for key in thresholds['sequences'])}. The manager records decisions in the workflow.</p>")
    parts.append(_metrics(summary, [("quality_cases_measured", "cases measured"), ("dwi_snr_median", "DWI SNR, median"), ("dwi_cnr_median", "DWI CNR, median"),
                                    ("likert_reads", "reads with a Likert score"), ("likert_mean", "Likert, mean"),
                                    ("quality_proposed_exclusions", "exclusions proposed"), ("quality_pending_proposals", "proposals not yet decided"),
                                    ("cases_excluded", "cases excluded in the workflow")]))
    parts.append(_messages(quality["section"]))
    parts.append(figure("quality_snr_cnr", "SNR and CNR per sequence (dashed: exclusion thresholds)"))
    parts.append(figure("likert", "Likert scores of the reads"))
    if quality["proposals"]:
        parts.append("<h3>Proposed exclusions</h3>" + _table(quality["proposals"], ["case", "reason", "note", "already_excluded"], "proposal-case"))
    parts.append("<h3>Exclusions recorded, by reason</h3>" + _table([{"reason": reason, "cases": count} for reason, count in sorted(quality["byReason"].items())],
                                                                    ["reason", "cases"]))
    columns = ["case", "likert_mean", "dwi_snr", "dwi_cnr", "b0_snr", "flair_snr", "flair_cnr", "dwi_noise_method", "lesion_source", "proposed_exclusion", "problems"]
    parts.append("<h3>Per case</h3>" + _table(quality["rows"], columns, "quality-case"))

    snapshots = sections["snapshots"]
    parts.append("<h2>6. Discordant regions of adjudicated cases</h2>")
    parts.append(_messages(snapshots["section"]))
    for index, picture in enumerate(snapshots["pictures"]):
        parts.append(_image(f"snapshot_{index}", picture["png"], f"{picture['case']}: {picture['title']}; {picture['readers']}").replace(
            f" (numbers: report_data/snapshot_{index}.csv)", ""))
    parts.append("</body></html>")
    return "\n".join(parts)


def _pdfLines(report: dict) -> list[str]:
    lines = [f"Dataset: {report['root']}", f"Written: {report['created']} (AIS {report['version']})",
             f"Verdict: {'passes acceptance' if report['accepted'] else 'does not pass acceptance yet'}", ""]
    lines += [f"{key:<36} {formatValue(value)}" for key, value in report["summary"].items()]
    missing = [row for row in report["sections"]["completeness"]["rows"] if row["status"] == "missing"]
    if missing:
        lines += ["", "Missing, by case:"] + [f"  {row['case']}: {row['missing']}" for row in missing]
    return lines


def writeReport(datasetRoot, out, database=None, pdf: bool = False, thresholds: QualityThresholds | None = None, snapshots=True,
                workers: int = 1, progress=None) -> dict:
    """Write the acceptance report: ``out`` (HTML), ``<out stem>_data/*.csv`` and optionally ``<out stem>.pdf``.

    Every file is written atomically. Without matplotlib the report has no plots and no PDF, and says so.

    :param out: path of the HTML file.
    :param pdf: also write a PDF (summary page and every figure) beside it.
    :return: ``{"html", "csv": [paths], "pdf" (or None), "accepted", "summary", "notes"}``.
    :raises InputError: the dataset folder does not exist.
    :raises AISError: the output folder cannot be written.
    """
    from . import plots as reportplots

    out = Path(out)
    report = collectReport(datasetRoot, database, thresholds, snapshots, workers, progress)
    figures, notes = _figures(report)
    try:
        images = {name: reportplots.figurePng(figure) for name, figure in figures.items()}
        dataFolder = out.with_name(out.stem + "_data")
        written = []
        for name, text in _csvTables(report).items():
            path = dataFolder / f"{name}.csv"
            writeTextAtomic(path, text)
            written.append(path)
        pdfPath = None
        if pdf and not reportplots.matplotlibAvailable():
            notes.append("No PDF: matplotlib is not installed.")
        elif pdf:
            from matplotlib.backends.backend_pdf import PdfPages

            pdfPath = out.with_suffix(".pdf")
            page = reportplots.textPage("AIS dataset acceptance report", _pdfLines(report))
            with atomicWritePath(pdfPath) as temporaryPath, PdfPages(temporaryPath) as document:
                document.savefig(page)
                for figure in figures.values():
                    document.savefig(figure)
            reportplots.closeFigure(page)
        writeTextAtomic(out, renderHtml(report, images, dataFolder.name, notes))
    finally:
        for figure in figures.values():
            reportplots.closeFigure(figure)
    return {"html": str(out), "csv": [str(path) for path in written], "pdf": str(pdfPath) if pdfPath else None,
            "accepted": report["accepted"], "summary": report["summary"], "notes": notes}
