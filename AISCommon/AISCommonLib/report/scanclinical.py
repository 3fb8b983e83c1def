"""Scan-parameter QC per case (consensus Table 1, :mod:`AISCommonLib.core.scanqc`) and the clinical metadata of each
case (onset-to-imaging interval, NIHSS, stroke side; :mod:`AISCommonLib.core.clinical`).

Both read sidecars, headers and tables only. The scan checks run in the case job (cached with its measures); the
clinical values are read here. Neither blocks acceptance on its own: a scan outside a limit is the site's call
(exclude the case or record why it stays) and a clinical value may be unknown (``n/a``); both are listed as findings
to look at, every check of every case is in the CSV.
"""

from ..core.clinical import CLINICAL_FIELDS, clinicalCompleteness
from ..core.scanqc import STATUSES
from .findings import sentenceFinding
from .model import Section

SCAN_COLUMNS = ["case", "sequence", "parameter", "status", "value", "limit", "source", "message"]
SCAN_CASE_COLUMNS = ["case", "passed", "failed", "unknown", "failed_checks", "unknown_checks"]
CLINICAL_COLUMNS = ["case", *CLINICAL_FIELDS, "missing", "problem"]


def scanChecks(case) -> list[dict]:
    """Every scan-parameter check of one case as JSON-ready rows (run in the case job)."""
    from ..core.scanqc import scanParameterFindings

    rows = []
    for finding in scanParameterFindings(case):
        row = finding.toDict()
        value = row.pop("value")
        rows.append({"case": row.pop("caseId"), **row, "value": value.item() if hasattr(value, "item") else value})
    return rows


def scanSection(caseResults: list[dict]) -> dict:
    """Scan-parameter QC of every case.

    :return: ``{"section", "rows" (every check), "cases" (one row per case), "findings", "summary"}``.
    """
    section = Section("Scan parameters (consensus Table 1)")
    rows, cases, findings = [], [], []
    for result in caseResults:
        checks = result.get("scan") or []
        rows += checks
        counts = {status: sum(check["status"] == status for check in checks) for status in STATUSES}
        failed = [check for check in checks if check["status"] == "fail"]
        unknown = [check for check in checks if check["status"] == "unknown"]
        cases.append({"case": result["case"], "passed": counts["pass"], "failed": counts["fail"], "unknown": counts["unknown"],
                      "failed_checks": ", ".join(f"{check['sequence']}.{check['parameter']}" for check in failed),
                      "unknown_checks": ", ".join(f"{check['sequence']}.{check['parameter']}" for check in unknown)})
        if failed:
            what = " ".join(check["message"] for check in failed).rstrip(".")
            findings.append(sentenceFinding("warning", "scan", f"{result['case']} is outside the acquisition limits ({what})",
                                            f"the site decides: exclude it ('ais workflow exclude {result['case']}') or record why it stays",
                                            "scan-limit", result["case"]))
        if unknown:
            what = " ".join(check["message"] for check in unknown).rstrip(".")
            findings.append(sentenceFinding("warning", "scan", f"{result['case']} could not be checked against every acquisition limit ({what})",
                                            "add the missing fields to its sidecars from the DICOM headers (dcm2niix writes them) and run the "
                                            "report again", "scan-unknown", result["case"]))
    outside = sum(1 for row in cases if row["failed"])
    section.notes.append(f"{len(cases)} case(s) checked: {outside} outside a limit, {sum(1 for row in cases if row['unknown'])} with a check "
                         "that could not be made. A scan outside a limit does not block acceptance: the site decides whether it stays.")
    summary = {"scan_cases_outside_limits": outside, "scan_cases_unchecked": sum(1 for row in cases if row["unknown"])}
    return {"section": section, "rows": rows, "cases": cases, "findings": findings, "summary": summary}


def clinicalSection(root, cases: list) -> dict:
    """Clinical metadata of every case: its values and what is missing, one finding per field that is missing somewhere.

    :return: ``{"section", "rows", "findings", "summary"}``.
    """
    section = Section("Clinical metadata")
    rows = [{"case": row["caseId"], **{field: row[field] for field in CLINICAL_FIELDS}, "missing": ", ".join(row["missing"]),
             "problem": row.get("problem", "")} for row in clinicalCompleteness(root, cases)]
    findings = []
    for field in CLINICAL_FIELDS:
        lacking = [row["case"] for row in rows if field in row["missing"].split(", ")]
        if lacking:
            findings.append(sentenceFinding("warning", "clinical", f"{field} is missing for {len(lacking)} of {len(rows)} case(s) (e.g. {lacking[0]})",
                                            "enter it with 'ais clinical set' or import the site's table with 'ais clinical import' (intervals "
                                            "in hours, never dates); leave n/a where it is truly unknown", "clinical-missing", lacking[0]))
    for row in rows:
        if row["problem"]:
            section.problems.append(f"{row['case']}: {row['problem']}")
    complete = sum(1 for row in rows if not row["missing"])
    section.notes.append(f"{complete} of {len(rows)} case(s) have every clinical value ({', '.join(CLINICAL_FIELDS)}); kept as intervals and "
                         "scores, never dates.")
    return {"section": section, "rows": rows, "findings": findings, "summary": {"clinical_cases_complete": complete}}
