"""Registering a dataset's cases (real and trial) and reading case records.

A part of :class:`~AISCommonLib.workflow.store.WorkflowStore`; it relies on the plumbing of
:class:`~AISCommonLib.workflow.storebase.StoreBase`.
"""

import json
import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..core.atomicio import sha256File
from ..core.cases import Case, discoverCases
from ..core.errors import InputError
from ..core.image import voxelToRas
from . import people, queries, schema, states
from .database import dumps as _dumps
from .errors import (
    UnknownCaseError,
    WorkflowError,
)

logger = logging.getLogger(__name__)


#: A registration of at least this many cases refreshes PostgreSQL's planner statistics (see ``_refreshStatistics``).
ANALYZE_AFTER_CASES = 200


def _checkLabels(cases) -> None:
    """Refuse, before any database write, case folders whose labels the workflow's tables cannot hold.

    :raises InputError: naming every such folder and the limit it breaks.
    """
    t = schema.tables()
    limits = {"subject": t.cases.c.subject.type.length, "session": t.cases.c.session.type.length,
              "case": t.cases.c.case_id.type.length, "folder": t.cases.c.relative_folder.type.length}
    problems = []
    for case in cases:
        values = {"subject": case.subject, "session": case.session or "", "case": case.caseId, "folder": case.relativeFolder.as_posix()}
        for name, value in values.items():
            if len(value) > limits[name]:
                problems.append(f"{case.relativeFolder.as_posix()[:60]}...: the {name} label is {len(value)} characters, too long (at most {limits[name]})")
    if problems:
        raise InputError("Nothing was registered; rename these folders first: " + "; ".join(problems) + ".")


class RegistrationMixin:
    """Registering a dataset's cases (real and trial) and reading case records."""

    def registerCases(self, userId: str, participantLabels=None, training: bool = False, referenceMasks: Mapping[str, object] | None = None,
                      sizeClasses: Mapping[str, str] | None = None, locations: Mapping[str, str] | None = None, progress=None) -> list[str]:
        """Register the dataset's cases (those not yet registered); each real case gets two open read slots.

        Trial cases (``training=True``) are exactly the cases given a reference mask. Each gets a lesion
        size class and a location label, given by the manager or derived from the reference mask: total
        volume small < 1.5 mL <= medium < 15 mL <= large, and the RAS octant (e.g. ``LPS``) of the lesion
        centroid relative to the centre of the DWI field of view. Trainees read them before real cases.

        :param participantLabels: only these subjects.
        :param training: register trial cases for reader training.
        :param referenceMasks: caseId -> reference mask path (NIfTI, binary, on the case's DWI grid, not
            empty); required for trial cases.
        :param sizeClasses: caseId -> ``small``, ``medium`` or ``large`` for trial cases (default: derived).
        :param locations: caseId -> a location label such as ``left_mca`` for trial cases (default: derived).
        :param progress: optional ``(fraction, message)`` callable (hashing every image takes most of the time).
        :return: the case IDs registered now.
        :raises PermissionDeniedError: not a manager.
        :raises InputError: a missing, empty or off-grid reference mask, a reference or label for a case
            that does not exist or is not a trial case, an unknown size class or an invalid location label.
        :raises WorkflowError: a case given as a trial case is already registered as a real case.
        """
        cases = discoverCases(self.datasetRoot, participantLabels=participantLabels)
        _checkLabels(cases)
        references = {str(key): Path(value) for key, value in (referenceMasks or {}).items()}
        sizeClasses = {str(key): people.validateSizeClass(value) for key, value in (sizeClasses or {}).items()}
        locations = {str(key): people.validateLocation(str(value).strip()) for key, value in (locations or {}).items()}
        labels: dict[str, dict] = {}
        if training:
            if not references:
                raise InputError("Trial cases need reference masks: give one per trial case.")
            found = {case.caseId for case in cases}
            unknown = sorted(set(references) - found)
            if unknown:
                raise InputError(f"No case {', '.join(unknown)} in the dataset{' for the participants given' if participantLabels else ''}; each reference mask must name a case of the dataset.")
            cases = [case for case in cases if case.caseId in references]
        elif sizeClasses or locations:
            raise InputError("Lesion size classes and locations are given for trial cases only (register with training).")
        stray = sorted((set(sizeClasses) | set(locations)) - set(references))
        if stray:
            raise InputError(f"Size classes or locations were given for {', '.join(stray)}, which have no reference mask.")
        hashes = {}
        for index, case in enumerate(cases):
            if progress:
                progress(0.9 * index / len(cases), f"Hashing the images of {case.caseId}")
            hashes[case.caseId] = {self._relative(path): sha256File(path) for path in sorted(case.files.values())}
            if case.caseId in references:
                reference = references[case.caseId]
                if not reference.is_file():
                    raise InputError(f"The reference mask '{reference}' of {case.caseId} does not exist.")
                hashes[case.caseId][self._relative(reference)] = sha256File(reference)
                if training:
                    labels[case.caseId] = self._describeReference(case, reference, sizeClasses.get(case.caseId), locations.get(case.caseId))
        t = schema.tables()

        def run(connection):
            from sqlalchemy import select

            self._user(connection, userId, (states.ROLE_MANAGER,))
            known = dict(connection.execute(select(t.cases.c.case_id, t.cases.c.training)).all())
            if training:
                real = sorted(caseId for caseId in references if caseId in known and not known[caseId])
                if real:
                    raise WorkflowError(f"Case {', '.join(real)} is already registered as a real case and cannot become a trial case.")
            registered = []
            for case in cases:
                if case.caseId in known:
                    continue
                now = schema.utcNow()
                reference = references.get(case.caseId)
                label = labels.get(case.caseId, {})
                # Statements built once, rows as parameters (building one statement per row cost half a millisecond each).
                connection.execute(t.cases.insert(), {
                    "case_id": case.caseId, "subject": case.subject, "session": case.session, "relative_folder": case.relativeFolder.as_posix(),
                    "state": states.AWAITING_READS, "revision": 1, "training": bool(training),
                    "reference_mask_path": self._relative(reference) if reference else None,
                    "reference_sha256": hashes[case.caseId][self._relative(reference)] if reference else None,
                    "lesion_size_class": label.get("lesion_size_class"), "lesion_location": label.get("lesion_location"),
                    "reference_volume_ml": label.get("reference_volume_ml"),
                    "registered_at": now, "updated_at": now,
                })
                if not training:
                    connection.execute(queries.insertSlot(), [{"case_id": case.caseId, "kind": states.SLOT_READ, "slot_index": index, "status": states.SLOT_OPEN}
                                                              for index in range(1, states.READS_PER_CASE + 1)])
                self._event(connection, userId, states.ACTION_REGISTER, case.caseId, None, states.AWAITING_READS, 1,
                            note=_dumps({"trial_case": True, **label}) if training else None, files=hashes[case.caseId])
                registered.append(case.caseId)
            return registered

        if progress:
            progress(0.9, f"Recording {len(cases)} case(s)")
        registered = self._write(run)
        if len(registered) >= ANALYZE_AFTER_CASES and self.backend == "postgresql":
            self._refreshStatistics()
        if progress:
            progress(1.0, f"Registered {len(registered)} case(s)")
        return registered

    def _refreshStatistics(self) -> None:
        """PostgreSQL: have the planner count the new cases now (``ANALYZE``) rather than at autovacuum's next round.

        Until then it believes the tables hold a row or two, and a plan built on that can visit every new case where an
        index walk would stop at the first (the claim query was such a plan, 98 ms a claim at 10,000 cases, before it was
        written to need no statistics). Only the tables' owner may analyse them; for anyone else the server skips it
        with a warning, and autovacuum catches up within a minute or so.
        """
        try:
            self._write(lambda connection: connection.exec_driver_sql("ANALYZE cases, slots, case_load"))
        except WorkflowError as error:  # statistics are an optimisation: never fail a registration for them
            logger.info("The planner statistics were not refreshed after the registration (%s).", error)

    def _describeReference(self, case: Case, reference: Path, sizeClass: str | None = None, location: str | None = None) -> dict:
        """Size class, location and volume of a trial case's reference mask (given labels win over derived ones).

        :raises InputError: the reference is empty, not binary or off the DWI grid.
        :raises GeometryError: the reference file lies on another grid.
        """
        grid = self._referenceGrid(case)
        try:
            mask = self._maskOnGrid(reference, grid)
        except InputError as error:
            raise type(error)(f"The reference mask of trial case {case.caseId} is unusable ({str(error).rstrip('.')}).") from None
        voxels = np.argwhere(mask)
        if not len(voxels):
            raise InputError(f"The reference mask of trial case {case.caseId} is empty; a trial case needs at least one lesion.")
        volumeMl = len(voxels) * grid.voxelVolumeMm3 / 1000.0
        centroid = voxelToRas(grid.ijkToRas, voxels.mean(axis=0))
        centre = voxelToRas(grid.ijkToRas, (np.array(grid.gridShape, dtype=float) - 1.0) / 2.0)
        return {
            "lesion_size_class": sizeClass or people.sizeClassForVolume(volumeMl),
            "lesion_location": location or people.octantLabel(np.asarray(centroid) - np.asarray(centre)),
            "reference_volume_ml": round(float(volumeMl), 4),
        }

    def setTrialLabels(self, userId: str, caseId: str, sizeClass: str | None = None, location: str | None = None) -> dict:
        """Set or correct the lesion size class and location of a trial case (manager only, recorded).

        Labels not given are derived from the reference mask again (e.g. for trial cases registered
        before schema version 2, which have none).

        :return: ``{"case_id", "lesion_size_class", "lesion_location", "reference_volume_ml"}``.
        :raises PermissionDeniedError: not a manager.
        :raises UnknownCaseError: not registered.
        :raises WorkflowError: not a trial case, or its reference mask is missing or changed.
        :raises InputError: an unknown size class or invalid location.
        """
        if sizeClass is not None:
            people.validateSizeClass(sizeClass)
        if location is not None:
            location = people.validateLocation(str(location).strip())

        def check(connection):
            self._user(connection, userId, (states.ROLE_MANAGER,))
            case = self._lockCase(connection, caseId)
            if not case["training"]:
                raise WorkflowError(f"Case {caseId} is not a trial case; only trial cases have lesion labels.")
            return case

        row = self._read(check)
        case = self._findCase(row["subject"], row["session"])
        label = self._describeReference(case, self._checkReference(row), sizeClass, location)
        t = schema.tables()

        def run(connection):
            self._user(connection, userId, (states.ROLE_MANAGER,))
            current = self._lockCase(connection, caseId)
            connection.execute(t.cases.update().where(t.cases.c.case_id == caseId).values(updated_at=schema.utcNow(), **label))
            self._event(connection, userId, states.ACTION_TRIAL_LABELS, caseId, current["state"], current["state"], current["revision"],
                        note=_dumps({**label, "was": {"lesion_size_class": current["lesion_size_class"], "lesion_location": current["lesion_location"]}}))
            return {"case_id": caseId, **label}

        return self._write(run)

    def case(self, caseId: str, viewer: str | None = None) -> dict:
        """One case: state, revision, slots (who holds what), comparison summary; for a trial case its lesion
        size class and location and ``has_reference`` (the path only through :meth:`referenceMaskPath`).

        :param viewer: who will see it; unless a manager or the case's reviewer or arbiter, they see every other
            reader of the case as ``another reader`` (readers never learn who the other reader is).
        :raises UnknownCaseError: not registered.
        """
        from sqlalchemy import select

        t = schema.tables()

        def run(connection):
            row = connection.execute(select(t.cases).where(t.cases.c.case_id == caseId)).mappings().first()
            if row is None:
                raise UnknownCaseError(f"Case '{caseId}' is not registered in the workflow.")
            result = dict(row)
            result["comparison"] = json.loads(row["comparison"]) if row["comparison"] else None
            result["slots"] = self._slots(connection, caseId)
            if viewer is not None and self._readersHiddenFrom(connection, viewer, result["slots"]):
                result["slots"] = [{**slot, "user_id": "another reader"} if slot["kind"] in (states.SLOT_READ, states.SLOT_TRIAL)
                                   and slot["user_id"] not in (None, viewer) else slot for slot in result["slots"]]
            # The reference of a trial case is handed out only by referenceMaskPath (blinding of trainees).
            result["has_reference"] = result.pop("reference_mask_path") is not None
            result.pop("reference_sha256")
            return result

        return self._read(run)

    def _readersHiddenFrom(self, connection, viewer: str, slots: list[dict]) -> bool:
        """Whether ``viewer`` must not learn who reads a case: anyone but a manager or its reviewer or arbiter."""
        judges = {slot["user_id"] for slot in slots if slot["kind"] in (states.SLOT_REVIEW, states.SLOT_ARBITRATION)}
        return viewer not in judges and states.ROLE_MANAGER not in self._user(connection, viewer)["roles"]

    def cases(self) -> list[dict]:
        """Every case with its state, revision, and counts of claimed and submitted reads (no reader IDs: blinding)."""
        from sqlalchemy import select

        t = schema.tables()

        def run(connection):
            slotsByCase: dict[str, list] = {}
            for row in connection.execute(select(t.slots)).mappings():
                slotsByCase.setdefault(row["case_id"], []).append(row)
            result = []
            for row in connection.execute(select(t.cases).order_by(t.cases.c.id)).mappings():
                slots = slotsByCase.get(row["case_id"], [])
                reads = [slot for slot in slots if slot["kind"] in (states.SLOT_READ, states.SLOT_TRIAL)]
                result.append({
                    "case_id": row["case_id"], "state": row["state"], "revision": row["revision"], "training": bool(row["training"]),
                    "lesion_size_class": row["lesion_size_class"], "lesion_location": row["lesion_location"],
                    "reads_claimed": sum(slot["status"] == states.SLOT_CLAIMED for slot in reads),
                    "reads_submitted": sum(slot["status"] == states.SLOT_DONE for slot in reads),
                    "concordant": row["concordant"], "exclusion_reason": row["exclusion_reason"],
                    "final_mask_path": row["final_mask_path"], "updated_at": row["updated_at"],
                })
            return result

        return self._read(run)
