"""What the readers recorded with their reads, per case: quality scores per sequence and per criterion, artifact flags,
lesion attributes (territory, acuity, hemorrhagic transformation) and notes, each placed beside the discordant region
it is about; and the hints each reader saw before submitting.

A record comes from the read's sidecar (``Parameters``, :mod:`AISCommonLib.core.readrecord`); the case job builds it
(:func:`caseRecords`, cached with the case's measures) and places notes and lesions with the same comparison the
reviewer saw (:func:`AISCommonLib.core.regionnotes.placeNotes`). The words are the review's own
(:func:`AISCommonLib.workflow.casetexts.readerNotesText`), so the report says what the reviewer read.
"""

from ..core.lesionattributes import describeLesion
from ..core.quality import lowCriteriaFromParameters
from ..core.regionnotes import placeNotes
from .model import Section

RECORD_COLUMNS = ["case", "reader", "version", "likert", "criteria_below_acceptable", "artifacts", "lesions_described", "lesions_unattributed",
                  "notes", "hints"]
LESION_COLUMNS = ["case", "reader", "lesion", "volume_ml", "territory", "acuity", "hemorrhagic_transformation", "region", "described"]


def _record(read, version: int) -> dict:
    """One read's record in the shape of :meth:`WorkflowStore.readRecords` (``read_id``: the read's version here)."""
    parameters = read.parameters if isinstance(read.parameters, dict) else {}
    quality = parameters.get("quality") if isinstance(parameters.get("quality"), dict) else {}
    return {"read_id": version, "reader": read.reader, "quality": quality, "notes": list(parameters.get("notes") or []),
            "hints": list(parameters.get("hints") or []), "lesions": list(parameters.get("lesions") or []),
            "unattributed_lesions": parameters.get("unattributed_lesions"), "lowCriteria": lowCriteriaFromParameters(parameters)}


def caseRecords(reads: list, comparison=None, ijkToRas=None) -> list[dict]:
    """The records of one case's reads, notes and lesions placed in the discordant regions of ``comparison``.

    :param reads: the case's counted reads (:class:`~AISCommonLib.report.readers.Read`).
    :param comparison: the :class:`~AISCommonLib.core.agreement.AgreementResult` of the case's two reads, or None
        (fewer or more than two reads, or not comparable): every note is then about the case.
    :param ijkToRas: 4x4 matrix of the grid the reads were compared on (with ``comparison``).
    :return: JSON-ready records, readers in order.
    """
    records = [_record(read, read.version) for read in reads]
    for record in records:
        if comparison is not None and ijkToRas is not None:
            record["notes"] = placeNotes(record["notes"], comparison, ijkToRas)
            record["lesions"] = placeNotes(record["lesions"], comparison, ijkToRas)
        else:
            record["notes"] = [{**note, "region": None} for note in record["notes"]]
    return records


def _likert(quality: dict) -> str:
    return ", ".join(f"{key} {value}" for key, value in (quality.get("likert") or {}).items() if value) or "not scored"


def readRecordsSection(caseResults: list[dict]) -> dict:
    """The readers' records of every case.

    :param caseResults: the case jobs' results (``records``), in case order.
    :return: ``{"section", "rows" (one per read), "lesions" (one per described lesion), "texts" (case -> the review's
        words), "summary"}``.
    """
    from ..workflow.casetexts import readerNotesText

    section = Section("What the readers recorded")
    rows, lesions, texts = [], [], {}
    for result in caseResults:
        records = result.get("records") or []
        if not records:
            continue
        texts[result["case"]] = readerNotesText(records)
        for record in records:
            quality = record["quality"]
            rows.append({"case": result["case"], "reader": record["reader"], "version": record["read_id"], "likert": _likert(quality),
                         "criteria_below_acceptable": "; ".join(record.get("lowCriteria") or []),
                         "artifacts": ", ".join(quality.get("artifacts") or []), "lesions_described": len(record["lesions"]),
                         "lesions_unattributed": "" if record["unattributed_lesions"] is None else ", ".join(map(str, record["unattributed_lesions"])) or "none",
                         "notes": " | ".join(f"{'region ' + str(note['region']) if note.get('region') else 'case'}: {note.get('text', '')}"
                                             for note in record["notes"]),
                         "hints": len(record["hints"])})
            for lesion in record["lesions"]:
                lesions.append({"case": result["case"], "reader": record["reader"], "lesion": lesion.get("lesion"), "volume_ml": lesion.get("volume_ml"),
                                "territory": lesion.get("territory") or "", "acuity": lesion.get("acuity") or "",
                                "hemorrhagic_transformation": lesion.get("hemorrhagic_transformation") or "",
                                "region": lesion.get("region") or "", "described": describeLesion(lesion)})
    withAttributes = sum(1 for row in rows if row["lesions_described"])
    section.notes.append(f"{len(rows)} read(s) with a record; {withAttributes} give lesion attributes, {len(lesions)} lesion(s) described; "
                         f"{sum(1 for row in rows if row['criteria_below_acceptable'])} read(s) score a quality criterion below the acceptable level.")
    summary = {"reads_with_lesion_attributes": withAttributes, "lesions_described": len(lesions),
               "reads_with_low_quality_criteria": sum(1 for row in rows if row["criteria_below_acceptable"])}
    return {"section": section, "rows": rows, "lesions": lesions, "texts": texts, "summary": summary}
