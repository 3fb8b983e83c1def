"""What readers noted reaches those who decide: quality scores, artifact flags, notes, the hints each reader saw.

A part of :class:`~AISCommonLib.workflow.store.WorkflowStore`. The record of a read is kept in its sidecar
(``Parameters``, see :mod:`AISCommonLib.core.readrecord`). The reviewer and the arbiter of a case, the members of
its arbitration panel and the managers see both records once both reads are in, with each note placed beside the
discordant region it is about; a reader sees their own record only, never the other reader's.
"""

import json

from ..core.errors import AISError
from ..core.image import loadVolume
from ..core.regionnotes import placeNotes
from . import states


class ReadNotesMixin:
    """Reader records (quality, notes, hints) for the people who decide a case."""

    def readRecords(self, userId: str, caseId: str) -> list[dict]:
        """The records of the reads of ``caseId`` that ``userId`` may see.

        :return: one dict per read: ``read_id``, ``reader`` (``another reader`` never appears: a reader gets only
            their own), ``submitted_at``, ``method``, ``quality`` (Likert per sequence and per criterion, scores below
            the acceptable level, artifact flags), ``notes`` (each with ``region``: the discordant region it is about,
            or None), ``lesions`` (the reader's attributes per lesion of their mask: territory, acuity, hemorrhagic
            transformation, with its place and, like notes, the discordant ``region`` it lies in), ``unattributed_lesions``
            (lesion numbers the reader described not at all; None for reads recorded without attributes), ``hints``
            (what the reader was warned about before submitting) and ``active_seconds``.
        :raises UnknownUserError: unknown user.
        :raises UnknownCaseError: unknown case.
        """

        def run(connection):
            user = self._user(connection, userId)
            self._lockCase(connection, caseId)
            visible = self._visibleReads(connection, user, caseId)
            if self._readsCase(connection, userId, caseId):
                return [read for read in visible if read["user_id"] == userId], False
            if not self._decidesCase(connection, user, caseId):
                return [], False
            return visible, len(visible) == len(self._readRows(connection, caseId)) == states.READS_PER_CASE

        reads, placeable = self._read(run)
        rows = {row["id"]: row for row in self._read(lambda connection: self._readRows(connection, caseId))}
        records = [self._readRecord(rows[read["read_id"]]) for read in reads]
        if placeable:
            self._placeNotes(records, [rows[read["read_id"]] for read in reads])
        return records

    def _readsCase(self, connection, userId: str, caseId: str) -> bool:
        """Whether ``userId`` holds or held a read (or trial) slot of the case."""
        return any(slot["user_id"] == userId and slot["kind"] in (states.SLOT_READ, states.SLOT_TRIAL) for slot in self._slots(connection, caseId))

    def _decidesCase(self, connection, user: dict, caseId: str) -> bool:
        """Managers, whoever holds or held the case's review or arbitration, and its arbitration panel."""
        if states.ROLE_MANAGER in user["roles"]:
            return True
        judges = (states.SLOT_REVIEW, states.SLOT_ARBITRATION)
        if any(slot["user_id"] == user["user_id"] and slot["kind"] in judges for slot in self._slots(connection, caseId)):
            return True
        return user["user_id"] in {row["user_id"] for row in self._panelRows(connection, caseId)}

    def _readRecord(self, read: dict) -> dict:
        try:
            sidecar = json.loads(self.localReadFile(read["sidecar_path"]).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise AISError(f"The record of read {read['id']} ({read['sidecar_path']}) cannot be read: {error}.") from None
        parameters = sidecar.get("Parameters") or {}
        return {
            "read_id": read["id"], "reader": read["user_id"], "submitted_at": read["submitted_at"], "method": read["method"],
            "quality": parameters.get("quality") or {}, "notes": parameters.get("notes") or [], "hints": parameters.get("hints") or [],
            "lesions": parameters.get("lesions") or [], "unattributed_lesions": parameters.get("unattributed_lesions"),
            "active_seconds": parameters.get("active_seconds"),
        }

    def _placeNotes(self, records: list[dict], reads: list[dict]) -> None:
        """Put each note beside the discordant region it is about (the same comparison the reviewer sees)."""
        paths = [self.localReadFile(read["mask_path"]) for read in reads]
        result = self._compare(*paths)
        ijkToRas = loadVolume(paths[0]).ijkToRas
        for record in records:
            record["notes"] = placeNotes(record["notes"], result, ijkToRas)
            record["lesions"] = placeNotes(record["lesions"], result, ijkToRas)

