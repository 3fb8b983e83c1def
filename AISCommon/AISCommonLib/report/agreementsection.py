"""Inter-reader agreement: the statistics over the pairs of reads the case jobs compared.

Dice and lesion-wise F1, Bland-Altman and ICC(2,1) of lesion volumes, Pearson / Spearman, per reader the volume
bias against the other reader and against the final mask, Dice against the final mask, reading times; how many
cases needed adjudication and arbitration. Excluded cases are left out. Only reads count (see :mod:`readers`).
"""

import numpy as np

from ..core.errors import InputError
from . import stats as reportstats
from .findings import sentenceFinding
from .model import Section

PER_READER_COLUMNS = ["reader", "reads_compared", "mean_volume_ml", "volume_bias_vs_other_ml", "volume_bias_vs_final_ml", "mean_dice_vs_final",
                      "timed_reads", "median_time_min"]


def emptyAgreement(rule: dict, problem: str) -> dict:
    """The agreement part when nothing could be compared."""
    return {"section": Section("Inter-reader agreement", [problem]), "pairs": [], "failed": [], "summary": {}, "readers": [], "times": {},
            "blandAltman": None, "rule": rule, "references": [], "findings": []}


def _perReader(pairs: list[dict], versusFinal: dict, times: dict) -> list[dict]:
    perReader: dict[str, dict] = {}
    for row in pairs:
        for side, other in (("a", "b"), ("b", "a")):
            reader = row[f"reader_{side}"]
            entry = perReader.setdefault(reader, {"reads": 0, "volumes": [], "versusOther": [], "versusFinal": [], "diceFinal": []})
            entry["reads"] += 1
            entry["volumes"].append(row[f"volume_{side}_ml"])
            entry["versusOther"].append(row[f"volume_{side}_ml"] - row[f"volume_{other}_ml"])
            found = versusFinal.get(row["case"], {}).get(reader)
            if found and "dice" in found:
                entry["versusFinal"].append(found["volume_read_ml"] - found["volume_final_ml"])
                entry["diceFinal"].append(found["dice"])
    rows = []
    for reader in sorted(set(perReader) | set(times)):
        entry = perReader.get(reader, {"reads": 0, "volumes": [], "versusOther": [], "versusFinal": [], "diceFinal": []})
        readerTimes = times.get(reader, [])
        rows.append({
            "reader": reader, "reads_compared": entry["reads"],
            "mean_volume_ml": reportstats.describe(entry["volumes"])["mean"],
            "volume_bias_vs_other_ml": reportstats.describe(entry["versusOther"])["mean"],
            "volume_bias_vs_final_ml": reportstats.describe(entry["versusFinal"])["mean"],
            "mean_dice_vs_final": reportstats.describe(entry["diceFinal"])["mean"],
            "timed_reads": len(readerTimes),
            "median_time_min": (reportstats.describe(readerTimes)["median"] or 0.0) / 60.0 if readerTimes else None,
        })
    return rows


def agreementSection(caseResults: list[dict], reads: dict, excluded: set, completeness: list[dict], rule: dict, workflow: bool) -> dict:
    """The agreement part of the report.

    :param caseResults: the case jobs' results (``pairs``, ``versusFinal``, ``references``), in case order.
    :param reads: case ID -> counted reads (for the reading times).
    :param excluded: excluded case IDs (left out).
    :param completeness: the completeness rows (states, concordance and arbitration from the workflow).
    :param rule: the concordance rule applied.
    :param workflow: whether a workflow database was read.
    :return: ``{"section", "pairs", "failed", "summary", "readers", "times", "blandAltman", "rule", "references", "findings"}``.
    """
    section = Section("Inter-reader agreement")
    data = {"section": section, "pairs": [], "failed": [], "summary": {}, "readers": [], "times": {}, "blandAltman": None, "rule": rule,
            "references": [row for result in caseResults if result["case"] not in excluded for row in result["references"]], "findings": []}
    rows = [row for result in caseResults if result["case"] not in excluded for row in result["pairs"]]
    pairs = [row for row in rows if row["status"] == "compared"]
    data["failed"] = [row for row in rows if row["status"] == "error"]
    for row in data["failed"]:
        section.problems.append(f"{row['case']}: the reads could not be compared: {row['error']}")
        data["findings"].append(sentenceFinding("warning", "agreement", f"The reads of {row['case']} ({row['reader_a']}, {row['reader_b']}) could not be "
                                                f"compared ({row['error']})", "repair or resubmit the read named in the message", "reads-not-compared",
                                                row["case"]))
    versusFinal = {result["case"]: result["versusFinal"] for result in caseResults if result["case"] not in excluded}
    for found in versusFinal.values():
        for entry in found.values():
            if "error" in entry:
                section.problems.append(entry["error"])
    times: dict[str, list] = {}
    for caseId, caseReads in sorted(reads.items()):
        if caseId in excluded:
            continue
        for read in caseReads:
            if read.readingSeconds is not None:
                times.setdefault(read.reader, []).append(read.readingSeconds)
    data["times"] = times
    data["pairs"] = pairs
    summary = data["summary"]
    summary["pairs_compared"] = len(pairs)
    if not pairs:
        section.problems.append("No case has two comparable reads yet: no agreement statistics.")
        data["readers"] = _perReader([], versusFinal, times)
        return data
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
    data["readers"] = _perReader(pairs, versusFinal, times)
    if not times:
        section.notes.append("No read records its reading time (the module's active time, or the workflow's claim-to-submission time).")
    active = [row for row in completeness if row["status"] != "excluded" and row["state"]]
    if workflow:
        summary["cases_adjudicated"] = sum(1 for row in active if row["concordant"] is False)
        summary["cases_arbitrated"] = sum(1 for row in active if row["arbitration"])
        summary["cases_confirmed"] = sum(1 for row in active if row["concordant"] is True)
    else:
        summary["cases_adjudicated"] = sum(1 for row in pairs if not row["concordant"])
        summary["cases_arbitrated"] = None
        summary["cases_confirmed"] = sum(1 for row in pairs if row["concordant"])
        section.notes.append("Adjudication counts are those the concordance rule calls for; who arbitrated is only in the workflow database.")
    return data
