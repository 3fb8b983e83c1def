"""Completeness (consensus section 3.3): every case has two independent reads and a senior review or arbitration.

From the workflow database when there is one (its states, reads and decisions), else from the files: two readers'
reads (masks whose sidecar says they are reads; seeds do not count) and a final mask.
"""

from ..core.derivatives import consensusMaskPath
from .findings import completenessFinding, sentenceFinding
from .model import Section

COLUMNS = ["case", "state", "reads", "review", "arbitration", "concordant", "exclusion_reason", "status", "missing"]


def fromWorkflow(cases, tables: dict) -> tuple[list[dict], list[str]]:
    """One row per case from the workflow's records; :return: rows and sentences about registered cases not found."""
    caseRows = {row["case_id"]: row for row in tables.get("cases", []) if not row.get("training")}
    readCounts, decisions, escalated = {}, {}, set()
    readers = {}
    for read in tables.get("reads", []):
        readers.setdefault(read["case_id"], set()).add(read["user_id"])
    readCounts = {caseId: len(users) for caseId, users in readers.items()}
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
        if row["state"] == "excluded":
            rows.append({**entry, "status": "excluded"})
            continue
        missing = []
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


def fromFiles(root, cases, reads: dict) -> list[dict]:
    """One row per case from the files: the counted reads (see :mod:`readers`) and the final mask."""
    rows = []
    for case in cases:
        count = len(reads.get(case.caseId, []))
        final = consensusMaskPath(root, case).is_file()
        missing = []
        if count < 2:
            missing.append(f"{count} of 2 reads")
        if not final:
            missing.append("no final (reviewed) mask")
        rows.append({"case": case.caseId, "state": "", "reads": count, "review": final, "arbitration": None, "concordant": None,
                     "exclusion_reason": "", "status": "missing" if missing else "complete", "missing": "; ".join(missing)})
    return rows


def completenessSection(root, cases, reads: dict, workflow, workflowNote: str | None) -> dict:
    """The completeness part of the report.

    :param workflow: :class:`~AISCommonLib.report.workflowinfo.WorkflowInfo` or None.
    :return: ``{"section", "rows", "findings", "excluded" (case -> reason), "summary"}``.
    """
    section = Section("Completeness")
    findings = []
    if workflowNote:
        section.notes.append(workflowNote)
    if workflow is not None:
        rows, problems = fromWorkflow(cases, workflow.tables)
        section.problems.extend(problems)
        findings += [sentenceFinding("warning", "completeness", problem, "restore the case's images or exclude it in the workflow",
                                     "case-images-missing", problem.split()[0]) for problem in problems]
    else:
        rows = fromFiles(root, cases, reads)
    excluded = {row["case"]: row["exclusion_reason"] for row in rows if row["status"] == "excluded"}
    missing = [row for row in rows if row["status"] == "missing"]
    findings[:0] = [completenessFinding(row) for row in missing]
    section.passed = bool(cases) and not missing
    summary = {"cases": len(cases), "cases_complete": sum(row["status"] == "complete" for row in rows), "cases_missing": len(missing),
               "cases_excluded": len(excluded)}
    return {"section": section, "rows": rows, "findings": findings, "excluded": excluded, "summary": summary}
