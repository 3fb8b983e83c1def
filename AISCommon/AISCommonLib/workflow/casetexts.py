"""The record of a case in words, the same for the command line and the review module: what the readers noted,
and the arbitration (escalation, panel, opinions)."""

from ..core.lesionattributes import describeLesion


def _criterion(quality: dict, key: str):
    """The score of ``sequence.criterion`` in a read's quality record."""
    sequence, _, criterion = key.partition(".")
    return ((quality.get("likert_criteria") or {}).get(sequence) or {}).get(criterion)


def readerNotesText(records: list[dict]) -> str:
    """The readers' records (:meth:`WorkflowStore.readRecords`): quality, artifacts, lesion attributes, notes by
    region, hints seen."""
    lines = []
    for record in records:
        quality = record["quality"]
        scores = ", ".join(f"{key} {value}" for key, value in (quality.get("likert") or {}).items() if value) or "not scored"
        lines.append(f"Read {record['read_id']} by {record['reader']}: quality {scores}"
                     + (f"; artifacts: {', '.join(quality['artifacts'])}" if quality.get("artifacts") else "")
                     + (f"; below the acceptable score: {', '.join(quality['below_acceptable'])}" if quality.get("below_acceptable") else "") + ".")
        criteria = ", ".join(f"{key} {_criterion(quality, key)}" for key in quality.get("below_acceptable_criteria") or [])
        if criteria:
            lines.append(f"  criteria below the acceptable score: {criteria}")
        for lesion in record.get("lesions") or []:
            where = f" (in region {lesion['region']})" if lesion.get("region") else ""
            lines.append(f"  {describeLesion(lesion)}{where}")
        if record.get("unattributed_lesions"):
            lines.append(f"  lesions without attributes: {', '.join(map(str, record['unattributed_lesions']))}")
        for note in record["notes"]:
            where = f"region {note['region']}" if note.get("region") else "the case"
            lines.append(f"  note {note.get('label', '')} on {where}: {note.get('text', '')}")
        for hint in record["hints"]:
            lines.append(f"  hint shown before submitting: {hint.get('kind')} (region {hint.get('region')}, {hint.get('volume_ml', 0):.3f} mL)")
    return "\n".join(lines) or "No read records you may see."


def panelText(record: dict) -> str:
    """An arbitration record (:meth:`WorkflowStore.panel`): the escalation with its proposal, the panel, the opinions."""
    lines = []
    escalation = record["escalation"]
    if escalation:
        proposal = ", ".join(f"{key} {value}" for key, value in sorted(escalation["proposal"].items())) or "no decisions proposed"
        lines.append(f"Escalated by {escalation['user_id']}: {escalation['reason']} (proposal: {proposal}).")
    lines += [f"Panel: {member['user_id']} ({member['role']})" for member in record["members"]] or ["No panel convened."]
    for opinion in record["opinions"]:
        decided = ", ".join(f"{key} {value}" for key, value in sorted(opinion["decisions"].items()))
        lines.append(f"Opinion of {opinion['user_id']}: {opinion['text']}" + (f" ({decided})" if decided else ""))
    return "\n".join(lines)


def notesByRegion(records: list[dict]) -> dict[int, str]:
    """Region id -> what the readers noted about it (``reader: text; ...``), from :meth:`WorkflowStore.readRecords`."""
    found: dict[int, list] = {}
    for record in records:
        for note in record["notes"]:
            if note.get("region"):
                found.setdefault(note["region"], []).append(f"{record['reader']}: {note.get('text', '')}")
        for lesion in record.get("lesions") or []:
            if lesion.get("region"):
                found.setdefault(lesion["region"], []).append(f"{record['reader']}: {describeLesion(lesion)}")
    return {regionId: "; ".join(texts) for regionId, texts in found.items()}
