"""What every part of the acceptance report shares: a section's verdict and sentences, a finding, how a number is shown.

The bottom of the report package: it imports nothing else of it.
"""

import dataclasses
import datetime
import math

#: Sidecar keys a reader mask must have (written by ``derivatives.writeReaderMask``).
READER_SIDECAR_KEYS = ("Reader", "Version", "Created", "Software", "Method", "Parameters", "Voxels", "VolumeMl", "Sources")
#: Sidecar keys a final (consensus) mask must have (written by the workflow store at finalisation).
FINAL_SIDECAR_KEYS = ("Type", "Case", "Created", "Reads")
#: Acquisition fields checked per sequence (BIDS sidecar names).
METADATA_FIELDS = ("MagneticFieldStrength", "SliceThickness", "SpacingBetweenSlices", "EchoTime", "RepetitionTime")
METADATA_SEQUENCES = ("dwi", "flair", "t1w", "t2w")
#: Severities of a finding, the most urgent first.
SEVERITIES = ("error", "warning", "info")


@dataclasses.dataclass
class Section:
    """One part of the report: its verdict and sentences about what could not be done.

    :param passed: True / False for the sections that decide acceptance, None for the others.
    """

    title: str
    problems: list = dataclasses.field(default_factory=list)
    notes: list = dataclasses.field(default_factory=list)
    passed: bool | None = None


@dataclasses.dataclass(frozen=True)
class Finding:
    """Something a data steward must act on (or know), as one sentence: what is wrong and what to do.

    :param severity: ``error`` (blocks acceptance), ``warning`` or ``info``.
    :param section: the report section it belongs to (``format``, ``metadata``, ``completeness``, ...).
    :param sentence: what is wrong and what to do, ending with the code in brackets.
    :param code: the stable code of the check (our own, or ``bids-validator:<CODE>``).
    """

    severity: str
    section: str
    sentence: str
    code: str
    caseId: str = ""
    file: str = ""

    def toRow(self) -> dict:
        return {"severity": self.severity, "section": self.section, "case": self.caseId, "file": self.file, "finding": self.sentence,
                "code": self.code}


def now() -> str:
    """The current UTC time, ISO 8601 to the second."""
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
