"""Which masks are reads: the workflow's reads when there is a workflow, else the masks whose sidecar says so.

A mask in ``derivatives/lesions`` is not a read because of its name: ``ais seed`` and the demo write the
ADC-threshold seed under a reader's ID too, and counting it (as a read, or as a third reader) pairs a seed with a
read and drags agreement down (a seed once turned the volume ICC negative). So:

- **with a workflow database** the readers are its ``reads`` table: each person's newest submitted read of each
  case (training cases left out), wherever the workflow keeps the file (sealed until the case is final);
- **without one** a mask counts when its sidecar names a ``Reader`` and a ``Method`` that is not a seed
  (:func:`AISCommonLib.core.readrecord.isReaderRead`); seeds and masks whose sidecar does not say how they were made
  are named in a note and never compared.
"""

import dataclasses
import itertools
import json
import math
from pathlib import Path

from ..core.derivatives import listReaderMasks, sidecarPathFor
from ..core.readrecord import isReaderRead, isSeedMethod


@dataclasses.dataclass(frozen=True)
class Read:
    """One reader's newest read of one case.

    :param path: the mask file on this machine. :param sidecarPath: its JSON sidecar.
    :param method: how it was made (``manual``, ``adc-threshold-seed+manual`` ...).
    :param parameters: the sidecar's ``Parameters`` (Likert scores, active time, notes), {} when unreadable.
    :param durationSeconds: claim to submission as the workflow recorded it (None outside a workflow).
    """

    caseId: str
    reader: str
    version: int
    path: Path
    sidecarPath: Path | None
    method: str
    parameters: dict = dataclasses.field(default_factory=dict, compare=False, hash=False)
    durationSeconds: float | None = None

    @property
    def readingSeconds(self) -> float | None:
        """Time on task: the active time the module measured (``Parameters.active_seconds``), else the workflow's
        claim-to-submission time, else None."""
        active = self.parameters.get("active_seconds") if isinstance(self.parameters, dict) else None
        if isinstance(active, (int, float)) and not isinstance(active, bool) and math.isfinite(active) and active >= 0:
            return float(active)
        return float(self.durationSeconds) if self.durationSeconds is not None else None


def _sidecar(path: Path | None) -> dict:
    try:
        document = json.loads(path.read_text(encoding="utf-8")) if path else {}
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    return document if isinstance(document, dict) else {}


def readsFromWorkflow(caseIds, tables: dict, absolutePath) -> dict[str, list[Read]]:
    """Each person's newest read of each case, from the workflow's ``reads`` table.

    :param caseIds: the cases of the dataset (reads of other cases and of training cases are left out).
    :param absolutePath: recorded path -> path on this machine.
    :return: case ID -> reads sorted by reader.
    """
    training = {row["case_id"] for row in tables.get("cases", []) if row.get("training")}
    wanted = set(caseIds) - training
    newest: dict[tuple[str, str], dict] = {}
    for row in tables.get("reads", []):
        if row["case_id"] not in wanted:
            continue
        key = (row["case_id"], row["user_id"])
        if key not in newest or (row["version"], row["id"]) > (newest[key]["version"], newest[key]["id"]):
            newest[key] = row
    reads: dict[str, list[Read]] = {}
    for (caseId, reader), row in sorted(newest.items()):
        sidecarPath = absolutePath(row["sidecar_path"]) if row.get("sidecar_path") else None
        parameters = _sidecar(sidecarPath).get("Parameters")
        reads.setdefault(caseId, []).append(Read(caseId, reader, int(row["version"]), absolutePath(row["mask_path"]), sidecarPath,
                                                 row.get("method") or "", parameters if isinstance(parameters, dict) else {},
                                                 row.get("duration_seconds")))
    return reads


def readsFromFiles(root: Path, cases) -> tuple[dict[str, list[Read]], list[str]]:
    """Each reader's newest mask of each case whose sidecar says it is a read (seeds never are).

    :return: case ID -> reads sorted by reader, and sentences about the masks that were not counted.
    """
    reads: dict[str, list[Read]] = {}
    seeds, unexplained = [], []
    for case in cases:
        newest: dict[str, Read] = {}
        for record in listReaderMasks(root, case):
            if not isReaderRead(record.sidecar):
                (seeds if isSeedMethod(record.sidecar.get("Method")) else unexplained).append(record.path.name)
                continue
            parameters = record.sidecar.get("Parameters")
            newest[record.reader] = Read(case.caseId, record.reader, record.version, record.path, sidecarPathFor(record.path),
                                         str(record.sidecar["Method"]), parameters if isinstance(parameters, dict) else {})
        if newest:
            reads[case.caseId] = [newest[reader] for reader in sorted(newest)]
    notes = []
    if seeds:
        notes.append(f"{len(seeds)} seed mask(s) (e.g. {seeds[0]}) are starting points made by the ADC-threshold seed, not reads; "
                     "they were not counted or compared.")
    if unexplained:
        notes.append(f"{len(unexplained)} mask(s) (e.g. {unexplained[0]}) have a sidecar that does not say how they were made (no Method), "
                     "so they were not counted as reads; add the Method (e.g. 'manual') to their sidecars if they are reads.")
    return reads, notes


def readPairs(reads: list[Read]) -> list[tuple[Read, Read]]:
    """Every pair of readers of one case (two readers: one pair), readers in alphabetical order."""
    ordered = sorted(reads, key=lambda read: read.reader)
    return list(itertools.combinations(ordered, 2))
