"""De-identify one DICOM dataset: PS3.15 Basic Application Level Confidentiality Profile and options.

Which attribute gets which action comes from PS3.15 Table E.1-1 as the ``dicom-anonymizer`` package
(KitwareMedical, BSD) ships it for a named edition of the standard (:data:`PS315_EDITION`); nothing of
that table is written here. This module applies the table to every level of the dataset (nested sequences
included) and implements what the table's Basic Profile column leaves to the options we use:

- **Basic Profile**: ``X`` remove, ``Z`` empty, ``D`` dummy value (the library's VR-consistent dummies),
  ``U`` UID replaced; where the standard leaves a choice (``X/Z``, ``X/D``, ``X/Z/D``, ``X/Z/U*``) the
  attribute is removed, ``Z/D`` is emptied, and a sequence marked ``Z`` or ``D`` is emptied. Every UID
  that is not a standard one (``1.2.840.10008.*``) is replaced, listed in the table or not:
  :meth:`.DeidentificationKey.uid` (keyed, per dataset).
- **Retain Longitudinal Temporal Information with Modified Dates Option**: every date, time and date-time
  is shifted by the subject's secret offset (a date and the time of the same name, ``StudyDate`` and
  ``StudyTime``, are shifted together as one instant), so intervals survive; the patient's birth date and
  time are removed instead (an age would survive the shift).
- **Clean Descriptors Option**: the descriptors of :data:`.descriptors.CLEANED_DESCRIPTORS` are cleaned
  (:func:`.descriptors.cleanDescriptor`) instead of removed.
- **Private attributes**: removed, except the reviewed :data:`PRIVATE_KEEP_LIST` of vendor diffusion
  attributes (b value, gradient direction, mosaic size) that dcm2niix reads; no free text, no blob.
- Patient name and ID become the pseudonym (``sub-<label>``); ``PatientIdentityRemoved`` is ``YES`` and the
  de-identification method is recorded with its PS3.16 codes (CID 7050).

:func:`deidentifyDataset` reports which rule touched which attribute *keyword*, never a value; the
original text values it removed are returned separately (in memory only) so the importer can check that
none of them reached an output.
"""

import dataclasses
import datetime
import functools
import re

from .deidsecret import DeidentificationKey
from .descriptors import CLEANED_DESCRIPTORS, cleanDescriptor

#: The edition of PS3.15 Table E.1-1 used (a module of ``dicom-anonymizer``'s databases).
PS315_EDITION = "dicomfields_2026c"
#: UIDs that name a standard (SOP class, transfer syntax, coding scheme), not an instance: kept.
STANDARD_UID_PREFIX = "1.2.840.10008."
#: Attributes removed even though they are dates: shifting keeps the age they give.
BIRTH_KEYWORDS = frozenset({"PatientBirthDate", "PatientBirthTime", "PatientBirthDateInAlternativeCalendar"})
PSEUDONYM_KEYWORDS = ("PatientName", "PatientID")
#: Private attributes kept: ``(private creator (upper case), group, element byte)``; everything else private is
#: removed. Reviewed: each carries a number or a short code of the diffusion encoding, no text a person types.
PRIVATE_KEEP_LIST = frozenset({
    ("SIEMENS MR HEADER", 0x0019, 0x0A),  # NumberOfImagesInMosaic
    ("SIEMENS MR HEADER", 0x0019, 0x0C),  # B_value
    ("SIEMENS MR HEADER", 0x0019, 0x0D),  # DiffusionDirectionality
    ("SIEMENS MR HEADER", 0x0019, 0x0E),  # DiffusionGradientDirection
    ("SIEMENS MR HEADER", 0x0019, 0x27),  # B_matrix
    ("GEMS_PARM_01", 0x0043, 0x39),  # Slop_int_6... slop_int_9 (b value first)
    ("GEMS_ACQU_01", 0x0019, 0xBB),  # User data 20 (diffusion direction x)
    ("GEMS_ACQU_01", 0x0019, 0xBC),  # User data 21 (diffusion direction y)
    ("GEMS_ACQU_01", 0x0019, 0xBD),  # User data 22 (diffusion direction z)
    ("PHILIPS IMAGING DD 001", 0x2001, 0x03),  # Diffusion B-Factor
    ("PHILIPS IMAGING DD 001", 0x2001, 0x04),  # Diffusion Direction
    ("PHILIPS MR IMAGING DD 001", 0x2005, 0xB0),  # Diffusion Direction RL
    ("PHILIPS MR IMAGING DD 001", 0x2005, 0xB1),  # Diffusion Direction AP
    ("PHILIPS MR IMAGING DD 001", 0x2005, 0xB2),  # Diffusion Direction FH
})
#: File meta attributes removed: application entity titles of the sender and private information.
_META_REMOVED = (0x00020016, 0x00020017, 0x00020018, 0x00020100, 0x00020102)
#: PS3.16 CID 7050 codes of what was applied.
METHOD_CODES = (
    ("113100", "Basic Application Confidentiality Profile"),
    ("113105", "Clean Descriptors Option"),
    ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
)
#: The patient's names: their parts are searched in the outputs too (a surname alone identifies).
PATIENT_NAME_KEYWORDS = frozenset({"PatientName", "OtherPatientNames", "PatientBirthName", "PatientMotherBirthName"})
#: Attributes besides person names whose original values are searched in the outputs (whole values).
NEEDLE_KEYWORDS = frozenset({
    "PatientID", "OtherPatientIDs", "AccessionNumber", "MedicalRecordLocator", "PatientAddress", "PatientTelephoneNumbers",
    "PatientTelecomInformation", "AdmissionID", "ServiceEpisodeID", "ReferringPhysicianAddress", "ReferringPhysicianTelephoneNumbers", "PersonAddress", "PersonTelephoneNumbers",
})
_CATEGORY_ACTIONS = {
    "X_TAGS": "X", "Z_TAGS": "Z", "D_TAGS": "D", "U_TAGS": "U", "Z_D_TAGS": "Z/D", "X_Z_TAGS": "X/Z",
    "X_D_TAGS": "X/D", "X_Z_D_TAGS": "X/Z/D", "X_Z_U_STAR_TAGS": "X/Z/U*",
}


@dataclasses.dataclass
class DeidentificationContext:
    """What a dataset is de-identified with.

    :param key: the dataset's keyed derivations (UIDs).
    :param pseudonym: the value of PatientName and PatientID (``sub-01``).
    :param dateShiftSeconds: the subject's shift, seconds, negative.
    """

    key: DeidentificationKey
    pseudonym: str
    dateShiftSeconds: int


@dataclasses.dataclass
class DeidentificationReport:
    """What :func:`deidentifyDataset` did, by rule: attribute keywords (or tags) only, never values.

    ``needles`` holds the original text values it removed or replaced; it stays in memory (never logged).
    """

    rules: dict = dataclasses.field(default_factory=dict)
    privateRemoved: int = 0
    needles: set = dataclasses.field(default_factory=set)

    def add(self, rule: str, name: str) -> None:
        self.rules.setdefault(rule, set()).add(name)

    def merge(self, other: "DeidentificationReport") -> None:
        for rule, names in other.rules.items():
            self.rules.setdefault(rule, set()).update(names)
        self.privateRemoved += other.privateRemoved
        self.needles |= other.needles

    def toLog(self) -> dict:
        """The log entry: rule -> sorted attribute keywords, and the count of private attributes removed."""
        return {"rules": {rule: sorted(names) for rule, names in sorted(self.rules.items())},
                "privateAttributesRemoved": self.privateRemoved}


@functools.lru_cache(maxsize=1)
def basicProfileActions() -> tuple[dict, list]:
    """PS3.15 Table E.1-1, Basic Profile column, from ``dicom-anonymizer``.

    :return: ``({tag (int): action code}, [(group, element, groupMask, elementMask, action), ...])``;
        action codes as in the standard (``X``, ``Z``, ``D``, ``U``, ``X/Z``, ...).
    :raises AISError: the package is not installed.
    """
    from ..core.errors import AISError

    try:
        from dicomanonymizer.dicomfields_selector import dicom_anonymization_database_selector
    except ImportError:
        raise AISError("DICOM import needs dicom-anonymizer, which is not installed; install it with: "
                       "pip install 'ais-annotation[import]'.") from None
    tables = dicom_anonymization_database_selector(PS315_EDITION)
    single, repeating = {}, []
    # Categories applied from the least to the most specific so a tag listed twice keeps the stricter action.
    for category, action in _CATEGORY_ACTIONS.items():
        for entry in tables[category]:
            if len(entry) == 2:
                single[(entry[0] << 16) | entry[1]] = action
            else:
                repeating.append((*entry, action))
    return single, repeating


def _actionOf(tag: int, single: dict, repeating: list) -> str | None:
    action = single.get(tag)
    if action is not None:
        return action
    group, element = tag >> 16, tag & 0xFFFF
    for groupValue, elementValue, groupMask, elementMask, repeatingAction in repeating:
        if group & groupMask == groupValue & groupMask and element & elementMask == elementValue & elementMask:
            return repeatingAction
    return None


def _name(element) -> str:
    return element.keyword or f"({element.tag.group:04X},{element.tag.element:04X})"


def _values(value) -> list:
    """The values of an element as a list (one value, or the items of a multi-valued element)."""
    from pydicom.multival import MultiValue

    if value is None or value == "":
        return []
    if isinstance(value, (MultiValue, list, tuple)):
        return list(value)
    return [value]


def _setValues(element, values: list) -> None:
    element.value = values[0] if len(values) == 1 else values


# ----------------------------------------------------------------------------------------------
# Dates and times


_TIME = re.compile(r"^(\d{2})(\d{2})?(\d{2})?(\.\d{1,6})?$")
_DATETIME = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\.\d{1,6})?([+-]\d{4})?$")


def _parseDate(text: str) -> datetime.date | None:
    text = str(text).strip().replace(".", "")
    try:
        return datetime.datetime.strptime(text, "%Y%m%d").date() if re.fullmatch(r"\d{8}", text) else None
    except ValueError:
        return None


def _parseTime(text: str):
    """``(seconds since midnight, number of digits before the fraction, fraction text)`` or None."""
    match = _TIME.match(str(text).strip().replace(":", ""))
    if not match:
        return None
    hours, minutes, seconds = int(match[1]), int(match[2] or 0), int(match[3] or 0)
    if hours > 23 or minutes > 59 or seconds > 60:
        return None
    digits = 2 + (2 if match[2] else 0) + (2 if match[3] else 0)
    return hours * 3600 + minutes * 60 + min(seconds, 59), digits, match[4] or ""


def _formatTime(secondsOfDay: int, digits: int, fraction: str) -> str:
    text = f"{secondsOfDay // 3600:02d}{secondsOfDay // 60 % 60:02d}{secondsOfDay % 60:02d}"[:digits]
    return text + (fraction if digits == 6 else "")


def shiftDate(text: str, shiftSeconds: int) -> str | None:
    """A DA value moved by whole days (``floor(shift / 1 day)``), or None when it is not a date."""
    date = _parseDate(text)
    if date is None:
        return None
    return (date + datetime.timedelta(days=shiftSeconds // 86400)).strftime("%Y%m%d")


def shiftTime(text: str, shiftSeconds: int) -> str | None:
    """A TM value without its date moved by the shift modulo one day, same precision; None when not a time."""
    parsed = _parseTime(text)
    if parsed is None:
        return None
    seconds, digits, fraction = parsed
    return _formatTime((seconds + shiftSeconds) % 86400, digits, fraction)


def shiftDateAndTime(dateText: str, timeText: str, shiftSeconds: int) -> tuple[str, str] | None:
    """A DA and its TM moved together as one instant (the date changes when the time crosses midnight)."""
    date, parsed = _parseDate(dateText), _parseTime(timeText)
    if date is None or parsed is None:
        return None
    seconds, digits, fraction = parsed
    instant = datetime.datetime.combine(date, datetime.time()) + datetime.timedelta(seconds=seconds + shiftSeconds)
    return instant.strftime("%Y%m%d"), _formatTime(instant.hour * 3600 + instant.minute * 60 + instant.second, digits, fraction)


def shiftDateTime(text: str, shiftSeconds: int) -> str | None:
    """A DT value moved by the shift, same precision, fraction and UTC offset kept; None when not a date-time."""
    match = _DATETIME.match(str(text).strip())
    if not match:
        return None
    year, month, day, hours, minutes, seconds = (int(part) if part else default
                                                 for part, default in zip(match.groups()[:6], (0, 1, 1, 0, 0, 0)))
    try:
        instant = datetime.datetime(year, month, day, hours, minutes, min(seconds, 59))
    except ValueError:
        return None
    length = sum(len(part) for part in match.groups()[:6] if part)
    shifted = instant + datetime.timedelta(seconds=shiftSeconds)
    return shifted.strftime("%Y%m%d%H%M%S")[:length] + (match[7] or "" if length == 14 else "") + (match[8] or "")


def _shiftElement(element, shiftSeconds: int) -> bool:
    """Shift a lone DA, TM or DT element in place; False when a value does not parse."""
    function = {"DA": shiftDate, "TM": shiftTime, "DT": shiftDateTime}[element.VR]
    shifted = [function(str(value), shiftSeconds) for value in _values(element.value)]
    if any(value is None for value in shifted):
        return False
    if shifted:
        _setValues(element, shifted)
    return True


# ----------------------------------------------------------------------------------------------
# The walk


def _collectNeedles(element, report: DeidentificationReport) -> None:
    """Remember the original value of an identifying attribute that is removed or replaced, for the last
    search of the outputs (:func:`.outputs.splitNeedles`).

    Only values that identify a person are remembered: the patient's names (also by part), IDs, addresses
    and phone numbers, every other person's full name. Generic values the table also removes (a station or
    institution called "TOSHIBA", a comment) would stop imports for nothing when the same word is
    legitimately kept elsewhere (``Manufacturer`` "TOSHIBA_MEC"); the table removes them all the same.
    """
    keyword = element.keyword
    if element.VR != "PN" and keyword not in NEEDLE_KEYWORDS:
        return
    for value in _values(element.value):
        text = value.decode("latin-1", errors="ignore") if isinstance(value, bytes) else str(value)
        text = text.strip()
        if not text:
            continue
        report.needles.add(text)
        if keyword in PATIENT_NAME_KEYWORDS:
            report.needles.update(part for part in re.split(r"[\^= ,]+", text) if part)


def _applyBasicAction(dataset, element, action: str, report: DeidentificationReport) -> None:
    from dicomanonymizer.simpledicomanonymizer import empty_element, replace_element

    name = _name(element)
    _collectNeedles(element, report)
    if action.startswith("X"):
        del dataset[element.tag]
        report.add("removed (X)", name)
        return
    try:
        if element.VR == "SQ":
            # An empty sequence for Z and D alike: the library's dummy items would carry random UIDs, and a
            # re-import must give the same bytes.
            element.value = []
            action = "Z"
        elif action in ("Z", "Z/D"):
            empty_element(element)
        else:
            replace_element(element)
    except NotImplementedError:
        del dataset[element.tag]
        report.add("removed (X)", name)
        return
    report.add("emptied (Z)" if action in ("Z", "Z/D") else "dummy value (D)", name)


def _cleanPrivate(dataset, report: DeidentificationReport) -> None:
    """Remove every private attribute of one dataset level except :data:`PRIVATE_KEEP_LIST`."""
    creators = {}
    for element in dataset:
        if element.tag.is_private and element.tag.is_private_creator:
            value = element.value.decode("latin-1", errors="ignore") if isinstance(element.value, bytes) else str(element.value or "")
            creators[(element.tag.group, element.tag.element)] = value.strip().upper()
    keptBlocks = set()
    for element in list(dataset):
        tag = element.tag
        if not tag.is_private or tag.is_private_creator:
            continue
        block = (tag.group, tag.element >> 8)
        creator = creators.get(block)
        if creator is not None and tag.element >= 0x1000 and (creator, tag.group, tag.element & 0xFF) in PRIVATE_KEEP_LIST:
            keptBlocks.add(block)
            report.add("private kept (reviewed keep-list)", f"{creator} ({tag.group:04X},xx{tag.element & 0xFF:02X})")
            continue
        del dataset[tag]
        report.privateRemoved += 1
    for block in creators:
        if block not in keptBlocks:
            del dataset[(block[0] << 16) | block[1]]
            report.privateRemoved += 1


def _cleanLevel(dataset, context: DeidentificationContext, report: DeidentificationReport, single, repeating) -> None:
    """Apply the profile to one dataset level, then to the items of the sequences it keeps."""
    _cleanPrivate(dataset, report)
    pairedTimes = set()
    for element in list(dataset):
        tag = element.tag
        if tag.is_private or tag not in dataset or tag.element == 0x0000:
            continue
        keyword, name = element.keyword, _name(element)
        if keyword in PSEUDONYM_KEYWORDS:
            _collectNeedles(element, report)
            element.value = context.pseudonym
            report.add("pseudonym", name)
        elif keyword in BIRTH_KEYWORDS:
            _collectNeedles(element, report)
            del dataset[tag]
            report.add("removed (X)", name)
        elif element.VR in ("DA", "DT", "TM"):
            if tag in pairedTimes:
                continue
            timeKeyword = keyword[:-4] + "Time" if element.VR == "DA" and keyword.endswith("Date") else ""
            timeElement = dataset[timeKeyword] if timeKeyword and timeKeyword in dataset else None
            shifted = False
            if timeElement is not None and timeElement.VR == "TM" and len(_values(timeElement.value)) == len(_values(element.value)) > 0:
                pairs = [shiftDateAndTime(str(date), str(time), context.dateShiftSeconds)
                         for date, time in zip(_values(element.value), _values(timeElement.value))]
                if all(pair is not None for pair in pairs):
                    _setValues(element, [pair[0] for pair in pairs])
                    _setValues(timeElement, [pair[1] for pair in pairs])
                    pairedTimes.add(timeElement.tag)
                    report.add("date shifted", name)
                    report.add("date shifted", _name(timeElement))
                    shifted = True
            if not shifted:
                if _shiftElement(element, context.dateShiftSeconds):
                    if _values(element.value):
                        report.add("date shifted", name)
                else:
                    del dataset[tag]
                    report.add("removed (date that does not parse)", name)
        elif element.VR == "UI":
            values = [str(value) for value in _values(element.value)]
            if any(value and not value.startswith(STANDARD_UID_PREFIX) for value in values):
                _setValues(element, [value if not value or value.startswith(STANDARD_UID_PREFIX) else context.key.uid(value)
                                     for value in values])
                report.add("UID replaced (U, keyed)", name)
        elif keyword in CLEANED_DESCRIPTORS:
            cleaned = [cleanDescriptor(str(value)) for value in _values(element.value)]
            if any(cleaned):
                _setValues(element, cleaned)
                report.add("descriptor cleaned (C)", name)
            else:
                del dataset[tag]
                report.add("removed (X)", name)
        else:
            action = _actionOf(int(tag), single, repeating)
            if action is not None and action != "U":
                _applyBasicAction(dataset, element, action, report)
            elif element.VR == "PN":
                # A person name the table does not list (a retired or newer attribute) is removed all the same.
                _applyBasicAction(dataset, element, "X", report)
            elif element.VR == "SQ":
                for item in element.value:
                    _cleanLevel(item, context, report, single, repeating)


def deidentifyDataset(dataset, context: DeidentificationContext) -> DeidentificationReport:
    """De-identify one pydicom dataset in place (file meta, nested sequences and private blocks included).

    :param dataset: a dataset read with pixel data; its pixel data is not changed.
    :param context: the dataset's key, the pseudonym, the subject's date shift.
    :return: the rules applied, by attribute keyword, and (in memory) the original values removed.
    :raises AISError: ``dicom-anonymizer`` is not installed.
    """
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    single, repeating = basicProfileActions()
    report = DeidentificationReport()
    _cleanLevel(dataset, context, report, single, repeating)
    meta = getattr(dataset, "file_meta", None)
    if meta is not None:
        if "MediaStorageSOPInstanceUID" in meta:
            original = str(meta.MediaStorageSOPInstanceUID)
            if not original.startswith(STANDARD_UID_PREFIX):
                meta.MediaStorageSOPInstanceUID = context.key.uid(original)
                report.add("UID replaced (U, keyed)", "MediaStorageSOPInstanceUID")
        for tag in _META_REMOVED:
            if tag in meta:
                report.add("removed (X)", _name(meta[tag]))
                del meta[tag]
    dataset.PatientIdentityRemoved = "YES"
    dataset.LongitudinalTemporalInformationModified = "MODIFIED"
    dataset.DeidentificationMethod = "PS3.15 Basic Profile; Clean Descriptors; Modified Dates"
    codes = []
    for value, meaning in METHOD_CODES:
        code = Dataset()
        code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = value, "DCM", meaning
        codes.append(code)
    dataset.DeidentificationMethodCodeSequence = Sequence(codes)
    return report
