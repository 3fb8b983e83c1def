"""Clinical metadata without dates: onset-to-imaging interval, NIHSS and stroke side, kept in BIDS tables.

The acceptance report checks "metadata completeness (clinical and imaging parameters)" (consensus section 3.3),
and the clinical facts that matter for annotation are an interval (a DWI-positive / FLAIR-negative lesion means
something only if imaging was within ~4.5 h of onset), a score and a side. None of them needs a date, and dates
re-identify: an onset date and a scan date together pin down a patient's admission. So the values are kept as
**intervals in hours**, never as dates or times of day, and anything date-like is refused with a sentence that
names the row and column but never repeats the value (a log must not carry it either).

Where (BIDS): a case with a session level gets a row in ``sub-<label>/sub-<label>_sessions.tsv`` (the values
belong to that imaging session); a dataset without sessions gets the columns in ``participants.tsv``. Both
tables are written atomically, keep every other column and row as they were (age/sex from the DICOM import,
a site's own columns), and their JSON descriptions (``sessions.json``, ``participants.json`` at the dataset
root) get the units and levels of our columns.

Columns (:data:`CLINICAL_FIELDS`):

- ``onset_to_imaging_h``: hours from symptom onset (or last known well) to the MRI, 0-720, decimals allowed;
- ``nihss``: National Institutes of Health Stroke Scale at admission, a whole number 0-42;
- ``stroke_side``: the hemisphere the clinical deficit points to: ``left``, ``right``, ``bilateral`` (e.g. a
  basilar stroke) or ``none`` (no lateralising deficit).

``n/a`` (BIDS' missing value) is accepted for each, and is what "not known" looks like in the tables.
"""

import csv
import dataclasses
import io
import math
import re
from pathlib import Path

from .atomicio import writeJsonAtomic, writeTextAtomic
from .cases import Case, discoverCases, imageRoot
from .errors import InputError

MISSING = "n/a"
MAX_ONSET_TO_IMAGING_H = 720.0
MAX_NIHSS = 42
STROKE_SIDES = ("left", "right", "bilateral", "none")
CLINICAL_FIELDS = ("onset_to_imaging_h", "nihss", "stroke_side")
#: Column names a site's table may use for our fields (lower case, spaces and dashes as underscores).
COLUMN_ALIASES = {
    "onset_to_imaging_h": "onset_to_imaging_h", "onset_to_imaging_hours": "onset_to_imaging_h", "onset_to_mri_h": "onset_to_imaging_h",
    "onset_to_scan_h": "onset_to_imaging_h", "nihss": "nihss", "nihss_admission": "nihss", "admission_nihss": "nihss",
    "stroke_side": "stroke_side", "side": "stroke_side", "symptom_side": "stroke_side", "lesion_side": "stroke_side",
}
ID_COLUMNS = {"participant_id": "participant_id", "subject": "participant_id", "sub": "participant_id", "session_id": "session_id",
              "session": "session_id", "ses": "session_id"}
#: Descriptions written to ``participants.json`` / ``sessions.json`` (BIDS column descriptions).
COLUMN_DESCRIPTIONS = {
    "onset_to_imaging_h": {"Description": "Time from symptom onset (or last known well) to the MRI; an interval, never a date.",
                           "Units": "h"},
    "nihss": {"Description": "National Institutes of Health Stroke Scale score at admission (0-42)."},
    "stroke_side": {"Description": "Hemisphere the clinical deficit points to.",
                    "Levels": {"left": "left hemisphere", "right": "right hemisphere", "bilateral": "both (e.g. posterior circulation)",
                               "none": "no lateralising deficit"}},
}
#: Values that look like a calendar date, a date-time or a time of day (refused everywhere, never echoed).
DATE_PATTERNS = (
    re.compile(r"\d{4}\s*[-/.]\s*\d{1,2}\s*[-/.]\s*\d{1,2}"),  # 2024-03-01, 2024/3/1
    re.compile(r"\d{1,2}\s*[-/.]\s*\d{1,2}\s*[-/.]\s*\d{2,4}"),  # 01/03/2024, 1.3.24
    re.compile(r"\d{1,2}:\d{2}"),  # 14:30, 2024-03-01T14:30
    re.compile(r"^(19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])(\d{4,6})?$"),  # 20240301, DICOM DA/DT
    re.compile(r"(?i)\b(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s*\d|\d\s*(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)"),
)
#: Column names that announce a date or a clock time (a site table with them is refused as a whole).
DATE_COLUMN_PATTERN = re.compile(r"(?i)(date|time|dob|birth|_at$|datetime|timestamp|admission_day|onset_day)")


def looksLikeDate(value: str) -> bool:
    """True when ``value`` reads as a calendar date, a date-time or a time of day."""
    text = str(value).strip()
    return any(pattern.search(text) for pattern in DATE_PATTERNS)


def _where(where: str, field: str) -> str:
    return f"{where}, {field}" if where else field


def normaliseValue(field: str, value, where: str = "") -> str:
    """One clinical value as the tables store it (``n/a`` when missing).

    :param field: one of :data:`CLINICAL_FIELDS`.
    :param value: a number or text (``''``, None, ``n/a``, ``na``, ``unknown``: missing).
    :param where: the row or option, for messages (e.g. ``row 3 of sites.csv``).
    :raises InputError: a date or time of day, or a value outside the field's range (the value is not repeated).
    """
    text = "" if value is None else str(value).strip()
    if text.lower() in ("", "n/a", "na", "nan", "unknown", "none") and not (field == "stroke_side" and text.lower() == "none"):
        return MISSING
    if looksLikeDate(text):
        raise InputError(f"{_where(where, field)} holds a date or a time of day; clinical values are kept as intervals in hours, never as dates "
                         "(give onset_to_imaging_h, the hours from onset to the MRI).")
    if field == "onset_to_imaging_h":
        number = _float(text.removesuffix("h").strip())
        if number is None or not 0.0 <= number <= MAX_ONSET_TO_IMAGING_H:
            raise InputError(f"{_where(where, field)} must be a number of hours from 0 to {MAX_ONSET_TO_IMAGING_H:g} (decimals allowed).")
        return f"{round(number, 2):g}"
    if field == "nihss":
        number = _float(text)
        if number is None or number != int(number) or not 0 <= number <= MAX_NIHSS:
            raise InputError(f"{_where(where, field)} must be a whole number from 0 to {MAX_NIHSS} (the NIHSS).")
        return str(int(number))
    if field == "stroke_side":
        side = text.lower()
        side = {"l": "left", "r": "right", "both": "bilateral"}.get(side, side)
        if side not in STROKE_SIDES:
            raise InputError(f"{_where(where, field)} must be one of {', '.join(STROKE_SIDES)}.")
        return side
    raise InputError(f"Unknown clinical field '{field}'; use {', '.join(CLINICAL_FIELDS)}.")


def _float(text: str) -> float | None:
    try:
        number = float(text.replace(",", ".")) if text.count(",") == 1 and "." not in text else float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


# ---------------------------------------------------------------------------------------------------
# BIDS tables


@dataclasses.dataclass
class _Table:
    """A BIDS TSV: header and rows as lists of strings."""

    path: Path
    header: list
    rows: list

    @classmethod
    def read(cls, path: Path, idColumn: str) -> "_Table":
        if not path.is_file():
            return cls(path, [idColumn], [])
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        header = lines[0].split("\t") if lines else [idColumn]
        if header[0] != idColumn:
            raise InputError(f"'{path}' must start with the column {idColumn} (BIDS), not '{header[0]}'.")
        rows = [line.split("\t") for line in lines[1:]]
        return cls(path, header, [row + [MISSING] * (len(header) - len(row)) for row in rows])

    def row(self, key: str) -> dict | None:
        for row in self.rows:
            if row[0] == key:
                return dict(zip(self.header, row))
        return None

    def update(self, key: str, values: dict) -> None:
        for column in values:
            if column not in self.header:
                self.header.append(column)
                self.rows = [row + [MISSING] for row in self.rows]
        row = next((row for row in self.rows if row[0] == key), None)
        if row is None:
            row = [key] + [MISSING] * (len(self.header) - 1)
            self.rows.append(row)
        for column, value in values.items():
            row[self.header.index(column)] = value

    def write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        writeTextAtomic(self.path, "\n".join("\t".join(row) for row in [self.header, *self.rows]) + "\n")


def _tableFor(root: Path, case: Case) -> tuple[_Table, str, Path]:
    """The table, the row key and the JSON description file that hold a case's clinical values."""
    images = imageRoot(Path(root))
    if case.session:
        path = images / f"sub-{case.subject}" / f"sub-{case.subject}_sessions.tsv"
        return _Table.read(path, "session_id"), f"ses-{case.session}", images / "sessions.json"
    return _Table.read(images / "participants.tsv", "participant_id"), f"sub-{case.subject}", images / "participants.json"


def _describeColumns(path: Path, columns) -> None:
    import json

    descriptions = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    missing = {column: COLUMN_DESCRIPTIONS[column] for column in columns if column in COLUMN_DESCRIPTIONS and column not in descriptions}
    if missing:
        writeJsonAtomic(path, {**descriptions, **missing})


def readClinical(root, case: Case) -> dict:
    """The clinical values of a case: field -> stored text (``n/a`` when absent or not recorded)."""
    table, key, _ = _tableFor(root, case)
    row = table.row(key) or {}
    return {field: row.get(field, MISSING) or MISSING for field in CLINICAL_FIELDS}


def setClinical(root, case: Case, values: dict, where: str = "") -> dict:
    """Check and store clinical values of one case (fields not given keep their stored value).

    :param values: field (:data:`CLINICAL_FIELDS`) -> value.
    :return: the case's values after the change.
    :raises InputError: an unknown field, a date or time of day, a value out of range; nothing is written.
    """
    unknown = sorted(set(values) - set(CLINICAL_FIELDS))
    if unknown:
        raise InputError(f"Unknown clinical field(s) {', '.join(unknown)}; use {', '.join(CLINICAL_FIELDS)}.")
    checked = {field: normaliseValue(field, value, where) for field, value in values.items()}
    _write(root, {case.caseId: (case, checked)})
    return readClinical(root, case)


def _write(root, updates: dict) -> None:
    """Apply ``caseId -> (case, values)`` updates, one table write per table."""
    tables, descriptions = {}, {}
    for case, values in updates.values():
        table, key, description = _tableFor(root, case)
        table = tables.setdefault(table.path, table)
        table.update(key, values)
        descriptions.setdefault(description, set()).update(values)
    for table in tables.values():
        table.write()
    for path, columns in descriptions.items():
        _describeColumns(path, columns)


def importClinicalTable(root, tablePath) -> list[dict]:
    """Import a site's table (CSV, semicolon- or tab-separated) of clinical values into the dataset's BIDS tables.

    Columns: ``participant_id`` (``sub-`` optional), ``session_id`` when the dataset has sessions (optional for a
    subject with one), and any of :data:`CLINICAL_FIELDS` (or the names in :data:`COLUMN_ALIASES`). Every row is
    checked before anything is written: all or nothing.

    :return: one ``{"caseId", **values}`` per imported row.
    :raises InputError: a date-like column or value (never repeated in the message), an unknown column, a subject or
        session the dataset does not have, a row given twice, a value out of range; nothing is written.
    """
    tablePath = Path(tablePath)
    try:
        text = tablePath.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"The clinical table '{tablePath}' cannot be read ({error}).") from None
    try:
        dialect = csv.Sniffer().sniff(text.splitlines()[0] if text.strip() else ",", delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows = list(csv.reader(io.StringIO(text), dialect))
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if len(rows) < 2:
        raise InputError(f"The clinical table '{tablePath.name}' has no data rows (a header row and one row per case are expected).")
    header = [re.sub(r"[\s-]+", "_", cell.strip().lower()) for cell in rows[0]]
    columns = {}
    for index, name in enumerate(header):
        if name in ID_COLUMNS:
            columns[index] = ID_COLUMNS[name]
        elif name in COLUMN_ALIASES:
            columns[index] = COLUMN_ALIASES[name]
        elif DATE_COLUMN_PATTERN.search(name):
            raise InputError(f"Column '{rows[0][index].strip()}' of '{tablePath.name}' holds dates or times; import intervals in hours "
                             "(onset_to_imaging_h) instead, and remove the column.")
        else:
            raise InputError(f"Column '{rows[0][index].strip()}' of '{tablePath.name}' is not a clinical field this import keeps; use "
                             f"participant_id, session_id, {', '.join(CLINICAL_FIELDS)} and remove the others.")
    if "participant_id" not in columns.values():
        raise InputError(f"The clinical table '{tablePath.name}' has no participant_id column.")
    if len(set(columns.values())) != len(columns):
        raise InputError(f"The clinical table '{tablePath.name}' names one field in two columns.")
    cases = discoverCases(root)
    updates = {}
    for number, row in enumerate(rows[1:], start=2):
        where = f"Row {number} of {tablePath.name}"
        cells = {columns[index]: (row[index] if index < len(row) else "") for index in columns}
        for field, cell in cells.items():
            if field in ID_COLUMNS.values() and looksLikeDate(cell):
                raise InputError(f"{where}, {field} holds a date; subjects and sessions are pseudonymous labels.")
        case = _findCase(cases, cells["participant_id"], cells.get("session_id", ""), where)
        if case.caseId in updates:
            raise InputError(f"{where} repeats {case.caseId}; give each case once.")
        values = {field: normaliseValue(field, cell, where) for field, cell in cells.items() if field in CLINICAL_FIELDS}
        updates[case.caseId] = (case, values)
    _write(root, updates)
    return [{"caseId": caseId, **values} for caseId, (_, values) in updates.items()]


def _findCase(cases: list, participant: str, session: str, where: str) -> Case:
    subject = participant.strip().removeprefix("sub-")
    session = session.strip().removeprefix("ses-")
    matches = [case for case in cases if case.subject == subject and (not session or case.session == session)]
    if not matches:
        raise InputError(f"{where} names sub-{subject}{f' ses-{session}' if session else ''}, which the dataset does not have.")
    if len(matches) > 1:
        raise InputError(f"{where} names sub-{subject}, which has {len(matches)} sessions; give the session_id.")
    return matches[0]


def clinicalCompleteness(root, cases: list) -> list[dict]:
    """Per case, its clinical values and the fields still missing (for the acceptance report's metadata completeness).

    :return: ``[{"caseId", "onset_to_imaging_h", "nihss", "stroke_side", "missing": [fields]}]``; a table that cannot
        be read gives every field missing and ``problem``.
    """
    result = []
    for case in cases:
        try:
            values = readClinical(root, case)
            problem = ""
        except InputError as error:
            values, problem = dict.fromkeys(CLINICAL_FIELDS, MISSING), str(error)
        result.append({"caseId": case.caseId, **values, "missing": [field for field in CLINICAL_FIELDS if values[field] == MISSING],
                       **({"problem": problem} if problem else {})})
    return result
