"""Image quality (consensus section 2.1): SNR, CNR and Likert per case, the exclusions they call for, those recorded.

The measures come from the case jobs (see :mod:`casework`, cached); the readers' Likert scores and the criteria they
scored below the acceptable level (noise, motion, artefact, contrast per sequence; from their reads' sidecars) and the
exclusion thresholds are applied here, so changing a threshold never measures a case again.
"""

from ..core.quality import (
    MEASURED_SEQUENCES,
    CaseQuality,
    NoiseEstimate,
    SequenceQuality,
    likertFromParameters,
    lowCriteriaFromParameters,
    proposeExclusion,
)
from . import stats as reportstats
from .findings import proposalFinding, sentenceFinding
from .model import Section


def recordFromDict(measured: dict) -> CaseQuality:
    """A :class:`CaseQuality` back from the dict a case job returned (``dataclasses.asdict`` of one)."""
    sequences = {}
    for key, value in measured["sequences"].items():
        sequences[key] = SequenceQuality(**{**value, "noise": NoiseEstimate(**value["noise"])})
    return CaseQuality(measured["caseId"], sequences, likert=dict(measured.get("likert") or {}), lowCriteria=dict(measured.get("lowCriteria") or {}),
                       lesionSource=measured["lesionSource"], proposal=None, problems=list(measured["problems"]))


def qualitySection(caseResults: list[dict], reads: dict, excluded: dict, thresholds) -> dict:
    """The quality part of the report.

    :param caseResults: the case jobs' results (``quality`` or ``qualityError``), in case order.
    :param reads: case ID -> counted reads (their sidecars hold the Likert scores).
    :param excluded: case ID -> exclusion reason recorded in the workflow.
    :param thresholds: :class:`~AISCommonLib.core.quality.QualityThresholds`.
    :return: ``{"section", "rows", "records", "proposals", "byReason", "likert", "values", "summary", "findings"}``.
    """
    section = Section("Image quality")
    findings, records = [], []
    for result in caseResults:
        if result["quality"] is None:
            section.problems.append(f"{result['case']}: image quality not measured: {result['qualityError']}")
            findings.append(sentenceFinding("error", "quality", f"The image quality of {result['case']} could not be measured ({result['qualityError']})",
                                            "check the case with 'ais validate' and replace the images it names", "quality-not-measured", result["case"]))
            continue
        record = recordFromDict(result["quality"])
        for read in reads.get(result["case"], []):
            score = likertFromParameters(read.parameters)
            if score is not None:
                record.likert[read.reader] = score
            low = lowCriteriaFromParameters(read.parameters)
            if low:
                record.lowCriteria[read.reader] = low
        record.proposal = proposeExclusion(record, thresholds)
        records.append(record)
    rows = [{**record.toRow(), "criteria_below_acceptable": "; ".join(f"{reader}: {', '.join(phrases)}" for reader, phrases in sorted(record.lowCriteria.items()))}
            for record in records]
    proposals = [{"case": record.caseId, "reason": record.proposal.reason, "note": record.proposal.note, "already_excluded": record.caseId in excluded}
                 for record in records if record.proposal]
    pending = [row for row in proposals if not row["already_excluded"]]
    findings += [proposalFinding(row) for row in pending]
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
    section.passed = not pending and len(records) == len(caseResults)
    return {"section": section, "rows": rows, "records": records, "proposals": proposals, "byReason": byReason, "likert": likert,
            "values": values, "summary": summary, "findings": findings}
