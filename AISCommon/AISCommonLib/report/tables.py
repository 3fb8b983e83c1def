"""The numbers behind the report: one CSV per table and figure, the figures themselves, the PDF's summary page."""

import csv
import io

from . import stats as reportstats
from .agreementsection import PER_READER_COLUMNS
from .completeness import COLUMNS as COMPLETENESS_COLUMNS
from .conformity import FINDING_COLUMNS, MASK_COLUMNS
from .model import METADATA_FIELDS, formatValue
from .readrecords import LESION_COLUMNS, RECORD_COLUMNS
from .rules import OVERRIDE_COLUMNS, RULE_COLUMNS
from .scanclinical import CLINICAL_COLUMNS, SCAN_CASE_COLUMNS, SCAN_COLUMNS


def figures(report: dict) -> tuple[dict, list[str]]:
    """name -> matplotlib figure, and sentences about figures that could not be drawn."""
    from . import plots as reportplots

    if not reportplots.matplotlibAvailable():
        return {}, ["matplotlib is not installed (pip install 'ais-annotation[report]'): the report has tables and CSV files but no plots."]
    drawn, notes = {}, []
    agreement = report["sections"]["agreement"]
    pairs = agreement["pairs"]
    minDice = agreement["rule"]["min_dice"]
    if pairs:
        drawn["dice_histogram"] = reportplots.diceHistogram([row["dice"] for row in pairs], [row["lesion_f1"] for row in pairs], minDice)
        drawn["bland_altman"] = reportplots.blandAltmanPlot(agreement["blandAltman"], [row["case"].split("_")[0] for row in pairs])
        drawn["volume_correlation"] = reportplots.volumeScatter([row["volume_a_ml"] for row in pairs], [row["volume_b_ml"] for row in pairs],
                                                                agreement["summary"].get("volume_pearson_r"), agreement["summary"].get("volume_spearman_rho"))
    if agreement["times"]:
        drawn["reading_times"] = reportplots.readingTimes(agreement["times"])
    quality = report["sections"]["quality"]
    thresholds = report["thresholds"]
    if quality["records"]:
        drawn["quality_snr_cnr"] = reportplots.qualityPlot(quality["values"], thresholds["minSnr"], thresholds["minCnr"], tuple(thresholds["sequences"]))
    if quality["likert"]:
        drawn["likert"] = reportplots.likertHistogram(quality["likert"], thresholds["minLikert"])
    return drawn, notes


def csvText(rows: list[dict], columns: list[str] | None = None) -> str:
    """Rows as CSV text (``columns`` picks and orders; None: the first row's keys)."""
    columns = columns or (list(rows[0]) if rows else ["empty"])
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: ("" if value is None else value) for key, value in row.items()})
    return buffer.getvalue()


def csvTables(report: dict) -> dict[str, str]:
    """File stem -> CSV text, for every table and figure of the report."""
    from ..core.dataset import ROW_COLUMNS
    from ..core.referencemasks import REFERENCE_COLUMNS

    sections = report["sections"]
    agreement = sections["agreement"]
    rules = sections["rules"]
    summaryRows = [{"metric": key, "value": "" if value is None else value, "shown": formatValue(value)} for key, value in report["summary"].items()]
    summaryRows.append({"metric": "accepted", "value": report["accepted"], "shown": formatValue(report["accepted"])})
    quality = sections["quality"]
    tables = {
        "summary": csvText(summaryRows, ["metric", "value", "shown"]),
        "findings": csvText([finding.toRow() for finding in report["findings"]], FINDING_COLUMNS),
        "rules": csvText(rules["rules"], [*RULE_COLUMNS, "meaning"]),
        "overrides": csvText(rules["overrides"], OVERRIDE_COLUMNS),
        "completeness": csvText(sections["completeness"]["rows"], COMPLETENESS_COLUMNS),
        "masks": csvText(sections["format"]["masks"], MASK_COLUMNS),
        "metadata": csvText(sections["metadata"]["rows"], ["case", "sequence", *METADATA_FIELDS, "BValue", "missing", "sidecar_problem"]),
        "participants_columns": csvText(sections["metadata"]["participants"], ["column", "filled", "participants"]),
        "agreement_pairs": csvText(agreement["pairs"] + agreement["failed"], ROW_COLUMNS),
        "reads_vs_reference": csvText(agreement.get("references", []), REFERENCE_COLUMNS),
        "dice_histogram": csvText(reportstats.histogram([row["dice"] for row in agreement["pairs"]], [index / 10 for index in range(11)]),
                                  ["low", "high", "count"]),
        "per_reader": csvText(agreement["readers"], PER_READER_COLUMNS),
        "reading_times": csvText([{"reader": reader, "seconds": seconds} for reader, values in sorted(agreement["times"].items()) for seconds in values],
                                 ["reader", "seconds"]),
        "quality": csvText(quality["rows"], list(quality["rows"][0]) if quality["rows"] else ["case"]),
        "quality_proposals": csvText(quality["proposals"], ["case", "reason", "note", "already_excluded"]),
        "scan_checks": csvText(sections["scan"]["rows"], SCAN_COLUMNS),
        "scan_cases": csvText(sections["scan"]["cases"], SCAN_CASE_COLUMNS),
        "clinical": csvText(sections["clinical"]["rows"], CLINICAL_COLUMNS),
        "read_records": csvText(sections["records"]["rows"], RECORD_COLUMNS),
        "lesion_attributes": csvText(sections["records"]["lesions"], LESION_COLUMNS),
        "exclusions": csvText([{"case": row["case"], "reason": row["exclusion_reason"]} for row in sections["completeness"]["rows"]
                               if row["status"] == "excluded"], ["case", "reason"]),
    }
    analysis = agreement["blandAltman"]
    if analysis:
        tables["bland_altman"] = csvText([{"case": row["case"], "reader_a": row["reader_a"], "reader_b": row["reader_b"], "volume_a_ml": row["volume_a_ml"],
                                           "volume_b_ml": row["volume_b_ml"], "mean_ml": mean, "difference_ml": difference}
                                          for row, mean, difference in zip(agreement["pairs"], analysis["means"], analysis["differences"])])
    return tables


def pdfLines(report: dict) -> list[str]:
    """The PDF's summary page: dataset, verdict, identity statement, every summary number, what is missing."""
    lines = [f"Dataset: {report['root']}", f"Written: {report['created']} (AIS {report['version']})",
             f"Verdict: {'passes acceptance' if report['accepted'] else 'does not pass acceptance yet'}"]
    statement = report["sections"]["rules"]["statement"]
    if statement:
        lines.append(f"Identities: {statement}")
    lines.append("")
    lines += [f"{key:<36} {formatValue(value)}" for key, value in report["summary"].items()]
    missing = [row for row in report["sections"]["completeness"]["rows"] if row["status"] == "missing"]
    if missing:
        lines += ["", "Missing, by case:"] + [f"  {row['case']}: {row['missing']}" for row in missing]
    return lines
