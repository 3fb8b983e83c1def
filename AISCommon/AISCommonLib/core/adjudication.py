"""A reviewer's work on one discordant case: region statistics, per-region decisions, whole-case actions,
the adjudicated (final) mask and the numbers of the metrics panel.

Everything here is plain numpy on the DWI grid (``[k, j, i]``); the MRML layer shows it and the workflow
store records it. Decisions per region:

- ``keep``: the region's voxels go into the final mask;
- ``drop``: they stay out;
- ``edit``: the reviewer redrew the region; its edited mask replaces the region's voxels (it may reach
  outside the region, e.g. to extend a boundary; agreed voxels are never removed by an edit).

The final mask is the agreed voxels (A and B) plus the regions kept plus the edited masks. Regions hidden
from review (extent regions below the size limit) follow the default decision (``drop`` unless set).
"""

import dataclasses
from collections.abc import Mapping

import numpy as np

from .agreement import AgreementResult
from .consensus import DECISION_DROP, DECISION_KEEP, adjudicatedMask, intersectionMask, stapleMask, unionMask
from .errors import InputError
from .seeding import dwiReference

DECISION_EDIT = "edit"
REGION_DECISIONS = (DECISION_KEEP, DECISION_DROP, DECISION_EDIT)
#: The workflow store's word for an edited region.
STORE_DECISION_EDITED = "edited"

ACTION_ACCEPT_A = "accept_a"
ACTION_ACCEPT_B = "accept_b"
ACTION_UNION = "union"
ACTION_INTERSECTION = "intersection"
ACTION_STAPLE = "staple"
WHOLE_CASE_ACTIONS = (ACTION_ACCEPT_A, ACTION_ACCEPT_B, ACTION_UNION, ACTION_INTERSECTION, ACTION_STAPLE)
#: Share of a region's voxels inside the STAPLE consensus from which the STAPLE action keeps the region.
STAPLE_REGION_FRACTION = 0.5

KIND_LABELS = {"a_only": "A only", "b_only": "B only"}
TYPE_LABELS = {"missed_lesion": "missed lesion", "extent": "extent"}


def regionTitle(region) -> str:
    """The name a region is shown under, e.g. ``Region 3: A only, missed lesion``."""
    return f"Region {region.regionId}: {KIND_LABELS.get(region.kind, region.kind)}, {TYPE_LABELS.get(region.regionType, region.regionType)}"


@dataclasses.dataclass
class RegionRow:
    """One row of the region table.

    :param regionId: the agreement engine's region id.
    :param kind: ``a_only`` or ``b_only``.
    :param regionType: ``missed_lesion`` or ``extent``.
    :param voxels: voxel count.
    :param volumeMl: volume in mL.
    :param meanAdc: mean ADC over the region in the ADC file's own unit (see ``adcUnitLabel``); None without ADC.
    :param adcUnitLabel: how that unit is written, e.g. ``x 1e-6 mm^2/s``.
    :param dwiRatio: mean DWI of the region over the median DWI of normal-looking parenchyma (1 = no contrast).
    :param dwiZScore: (mean DWI - parenchyma median) / parenchyma robust SD; None when the SD is 0.
    :param centroidRas: voxel centroid, RAS mm.
    """

    regionId: int
    kind: str
    regionType: str
    voxels: int
    volumeMl: float
    meanAdc: float | None
    adcUnitLabel: str
    dwiRatio: float | None
    dwiZScore: float | None
    centroidRas: tuple[float, float, float]

    @property
    def title(self) -> str:
        """``Region <id>: <kind>, <type>``."""
        return regionTitle(self)

    def toDict(self) -> dict:
        """JSON-ready row (camelCase keys, like the attributes)."""
        return {**dataclasses.asdict(self), "centroidRas": list(self.centroidRas), "title": self.title}


def regionMask(result: AgreementResult, regionId: int) -> np.ndarray:
    """The voxels of one discordant region as bool ``[k, j, i]`` on the full grid.

    :raises InputError: the comparison has no such region.
    """
    if regionId not in {region.regionId for region in result.allRegions}:
        raise InputError(f"The comparison has no discordant region {regionId}.")
    regionMap = result.regionMap
    return regionMap.toFullGrid(regionMap.labels == regionId)


def regionRows(result: AgreementResult, dwiArray: np.ndarray, adcArray: np.ndarray | None, adcToMicro: float = 1.0,
               adcUnitLabel: str = "x 1e-6 mm^2/s", brainMask: np.ndarray | None = None) -> list[RegionRow]:
    """The region table of the regions shown for review, in id order.

    DWI contrast is measured against normal-looking parenchyma (brain voxels with ADC 400-1200 x 1e-6 mm^2/s,
    :func:`AISCommonLib.core.seeding.dwiReference`).

    :param result: the comparison.
    :param dwiArray: DWI ``[k, j, i]`` on the reads' grid.
    :param adcArray: ADC ``[k, j, i]`` as stored (file unit), or None.
    :param adcToMicro: factor from the stored ADC unit to 1e-6 mm^2/s.
    :param adcUnitLabel: the stored unit as written for people.
    :param brainMask: bool ``[k, j, i]`` brain mask; None uses the voxels with DWI > 0.
    :return: one row per shown region.
    :raises InputError: an image is not on the reads' grid.
    """
    shape = tuple(result.gridShape)
    for name, array in (("DWI", dwiArray), ("ADC", adcArray), ("brain mask", brainMask)):
        if array is not None and tuple(array.shape) != shape:
            raise InputError(f"The {name} has shape {tuple(array.shape)[::-1]} but the reads are on {shape[::-1]} (i x j x k).")
    brain = brainMask if brainMask is not None else dwiArray > 0
    adcMicro = adcArray.astype(np.float64) * adcToMicro if adcArray is not None else np.full(shape, 800.0)
    median, robustSd = dwiReference(dwiArray, adcMicro, brain)
    regionMap = result.regionMap
    cropDwi = dwiArray[regionMap.cropSlices]
    cropAdc = adcArray[regionMap.cropSlices] if adcArray is not None else None
    rows = []
    for region in result.regions:
        inside = regionMap.labels == region.regionId
        meanDwi = float(cropDwi[inside].mean()) if inside.any() else 0.0
        rows.append(RegionRow(
            regionId=region.regionId,
            kind=region.kind,
            regionType=region.regionType,
            voxels=region.voxels,
            volumeMl=region.volumeMl,
            meanAdc=float(cropAdc[inside].mean()) if cropAdc is not None and inside.any() else None,
            adcUnitLabel=adcUnitLabel,
            dwiRatio=meanDwi / median if median > 0 else None,
            dwiZScore=(meanDwi - median) / robustSd if robustSd > 0 else None,
            centroidRas=tuple(float(value) for value in region.centroidRas),
        ))
    return rows


def _dice(first: np.ndarray, second: np.ndarray) -> float:
    total = int(first.sum()) + int(second.sum())
    return 1.0 if total == 0 else 2.0 * int(np.count_nonzero(first & second)) / total


class Adjudication:
    """Decisions on the discordant regions of one comparison, and the final mask they give.

    :param result: the comparison of read A and read B (its region ids are the ones decided on).
    :param maskA: bool ``[k, j, i]`` read A, on the result's grid (used by whole-case actions).
    :param maskB: bool ``[k, j, i]`` read B.
    :raises InputError: reads that are not bool or not on the result's grid.
    """

    def __init__(self, result: AgreementResult, maskA: np.ndarray, maskB: np.ndarray):
        for name, mask in (("A", maskA), ("B", maskB)):
            if not isinstance(mask, np.ndarray) or mask.dtype != bool or tuple(mask.shape) != tuple(result.gridShape):
                raise InputError(f"Read {name} must be a bool [k, j, i] array of shape {tuple(result.gridShape)}.")
        self.result = result
        self.maskA = maskA
        self.maskB = maskB
        self.decisions: dict[int, str] = {}
        self.notes: dict[int, str] = {}
        self.editedMasks: dict[int, np.ndarray] = {}
        self.defaultDecision: str | None = None
        self.wholeCaseAction: str | None = None
        self._shown = [region.regionId for region in result.regions]

    @property
    def shownRegionIds(self) -> list[int]:
        """Ids of the regions shown for review, in order."""
        return list(self._shown)

    def _requireShown(self, regionId: int) -> int:
        regionId = int(regionId)
        if regionId not in self._shown:
            raise InputError(f"Region {regionId} is not one of the regions to review ({self._shown or 'none'}).")
        return regionId

    def setDecision(self, regionId: int, decision: str | None, note: str | None = None) -> None:
        """Decide one region (``keep``, ``drop`` or ``edit``; None clears it), optionally with a note.

        Deciding a region by hand ends any whole-case action. An ``edit`` needs its edited mask
        (:meth:`setEditedMask`) before the final mask counts it; until then the region counts as dropped.

        :raises InputError: unknown region or decision.
        """
        regionId = self._requireShown(regionId)
        if decision is not None and decision not in REGION_DECISIONS:
            raise InputError(f"A region decision must be one of {', '.join(REGION_DECISIONS)}, not '{decision}'.")
        if decision is None:
            self.decisions.pop(regionId, None)
        else:
            self.decisions[regionId] = decision
        if decision != DECISION_EDIT:
            self.editedMasks.pop(regionId, None)
        if note is not None:
            self.setNote(regionId, note)
        self.wholeCaseAction = None

    def setNote(self, regionId: int, note: str) -> None:
        """Attach a note to a region (an empty note removes it)."""
        regionId = self._requireShown(regionId)
        if (note or "").strip():
            self.notes[regionId] = note.strip()
        else:
            self.notes.pop(regionId, None)

    def setEditedMask(self, regionId: int, mask: np.ndarray) -> None:
        """The reviewer's redrawn version of a region; marks the region ``edit``.

        :param mask: bool ``[k, j, i]`` on the grid: the voxels the region should have (may be empty).
        :raises InputError: unknown region, or a mask off the grid.
        """
        regionId = self._requireShown(regionId)
        mask = np.asarray(mask)
        if tuple(mask.shape) != tuple(self.result.gridShape):
            raise InputError(f"The edited mask of region {regionId} has shape {tuple(mask.shape)}, not the grid's {tuple(self.result.gridShape)}.")
        self.decisions[regionId] = DECISION_EDIT
        self.editedMasks[regionId] = mask.astype(bool)
        self.wholeCaseAction = None

    def applyWholeCaseAction(self, action: str) -> dict[int, str]:
        """Decide every shown region at once.

        - ``accept_a``: keep the A-only regions, drop the B-only ones; ``accept_b`` the reverse;
        - ``union``: keep all; ``intersection``: drop all;
        - ``staple``: keep a region when at least half of its voxels are in the STAPLE consensus of A and B.

        Hidden regions (extent regions below the size limit) follow the default decision, which ``union``
        sets to keep and every other action to drop, so accept A/B can differ from read A/B by those
        small boundary regions only. Edits and their masks are discarded; notes stay.

        :return: region id -> decision.
        :raises InputError: unknown action.
        """
        if action not in WHOLE_CASE_ACTIONS:
            raise InputError(f"Unknown whole-case action '{action}'; use one of {', '.join(WHOLE_CASE_ACTIONS)}.")
        regions = self.result.regions
        if action == ACTION_STAPLE:
            staple, _ = stapleMask([self.maskA, self.maskB])
            cropStaple = staple[self.result.regionMap.cropSlices]
            labels = self.result.regionMap.labels
            decisions = {
                region.regionId: DECISION_KEEP if cropStaple[labels == region.regionId].mean() >= STAPLE_REGION_FRACTION else DECISION_DROP
                for region in regions
            }
        else:
            keepKinds = {ACTION_ACCEPT_A: {"a_only"}, ACTION_ACCEPT_B: {"b_only"}, ACTION_UNION: {"a_only", "b_only"},
                         ACTION_INTERSECTION: set()}[action]
            decisions = {region.regionId: DECISION_KEEP if region.kind in keepKinds else DECISION_DROP for region in regions}
        self.decisions = decisions
        self.editedMasks = {}
        self.defaultDecision = DECISION_KEEP if action == ACTION_UNION else DECISION_DROP
        self.wholeCaseAction = action
        return dict(decisions)

    def undecided(self) -> list[int]:
        """Shown regions without a decision (an ``edit`` without its mask counts as undecided)."""
        return [regionId for regionId in self._shown
                if regionId not in self.decisions or (self.decisions[regionId] == DECISION_EDIT and regionId not in self.editedMasks)]

    def finalMask(self) -> np.ndarray:
        """The adjudicated mask: agreed voxels + regions kept + edited masks (undecided regions left out).

        :return: bool ``[k, j, i]`` on the reads' grid.
        """
        keepDrop = {regionId: decision for regionId, decision in self.decisions.items() if decision in (DECISION_KEEP, DECISION_DROP)}
        default = self.defaultDecision or DECISION_DROP
        # Undecided shown regions and edited ones are dropped here; edits add their own voxels below.
        for regionId in self._shown:
            keepDrop.setdefault(regionId, DECISION_DROP)
        final = adjudicatedMask(self.result, keepDrop, default)
        for mask in self.editedMasks.values():
            final |= mask
        return final

    def wholeCaseMask(self, action: str) -> np.ndarray:
        """The exact voxelwise consensus a whole-case action stands for (A, B, union, intersection, STAPLE).

        :return: bool ``[k, j, i]``; compare with :meth:`finalMask` after :meth:`applyWholeCaseAction`.
        """
        if action == ACTION_ACCEPT_A:
            return self.maskA.copy()
        if action == ACTION_ACCEPT_B:
            return self.maskB.copy()
        if action == ACTION_UNION:
            return unionMask([self.maskA, self.maskB])
        if action == ACTION_INTERSECTION:
            return intersectionMask([self.maskA, self.maskB])
        if action == ACTION_STAPLE:
            return stapleMask([self.maskA, self.maskB])[0]
        raise InputError(f"Unknown whole-case action '{action}'; use one of {', '.join(WHOLE_CASE_ACTIONS)}.")

    def storeDecisions(self, requireAll: bool = True) -> tuple[dict[int, str], str | None, np.ndarray | None]:
        """The decisions as the workflow store takes them (``review`` / ``arbitrate``).

        :param requireAll: refuse when a shown region is undecided (the store's rule for discordant cases).
        :return: ``(decisions, defaultDecision, editedMask)``: ``edit`` becomes ``edited`` and the final mask is
            then passed as the edited mask (the store writes it as given); otherwise ``editedMask`` is None
            and the store rebuilds the same mask from the reads.
        :raises InputError: undecided regions while ``requireAll``.
        """
        undecided = self.undecided()
        if requireAll and undecided:
            raise InputError(f"Regions {undecided} have no decision yet (an edit needs its edited mask).")
        decisions = {regionId: (STORE_DECISION_EDITED if decision == DECISION_EDIT else decision)
                     for regionId, decision in self.decisions.items() if regionId not in undecided}
        edited = STORE_DECISION_EDITED in decisions.values()
        return decisions, self.defaultDecision, (self.finalMask() if edited else None)

    def notesText(self, caseNote: str = "") -> str:
        """One note for the audit trail: the case note, the whole-case action, then each region's decision and note."""
        lines = [caseNote.strip()] if (caseNote or "").strip() else []
        if self.wholeCaseAction:
            lines.append(f"Whole-case action: {self.wholeCaseAction}.")
        regions = {region.regionId: region for region in self.result.regions}
        for regionId in self._shown:
            decision = self.decisions.get(regionId)
            note = self.notes.get(regionId)
            if decision is None and note is None:
                continue
            text = f"{regionTitle(regions[regionId])}: {decision or 'undecided'}"
            lines.append(text + (f" ({note})" if note else ""))
        return "\n".join(lines)

    def toDict(self) -> dict:
        """JSON-ready state: decisions, notes, default, whole-case action, undecided regions, final voxel count."""
        return {
            "decisions": {str(key): value for key, value in sorted(self.decisions.items())},
            "notes": {str(key): value for key, value in sorted(self.notes.items())},
            "default_decision": self.defaultDecision,
            "whole_case_action": self.wholeCaseAction,
            "edited_regions": sorted(self.editedMasks),
            "undecided": self.undecided(),
            "final_voxels": int(np.count_nonzero(self.finalMask())),
        }


def metricsPanel(result: AgreementResult, finalMask: np.ndarray | None = None) -> dict:
    """The numbers of the review module's metrics panel, as a plain dict.

    :param result: the comparison of read A and read B.
    :param finalMask: the current adjudicated mask, to add its volume and its Dice against each read.
    :return: ``dice``, ``jaccard``, ``hd95Mm``, ``assdMm`` (None when a read is empty), ``volumeAMl``,
        ``volumeBMl``, ``lesionsA``, ``lesionsB``, ``lesionF1`` (A as reference), ``lesionF1BReference``,
        ``missedLesions``, ``concordant``, ``regionsShown``, ``regionsHidden``, ``lesionTable`` (the engine's
        per-lesion matching: ``pairs``, ``a``, ``b``) and, with ``finalMask``, ``finalVolumeMl``,
        ``finalDiceA``, ``finalDiceB``.
    """
    panel = {
        "dice": result.dice,
        "jaccard": result.jaccard,
        "hd95Mm": result.hausdorffMm,
        "assdMm": result.assdMm,
        "volumeAMl": result.volumeAMl,
        "volumeBMl": result.volumeBMl,
        "lesionsA": result.lesionsA,
        "lesionsB": result.lesionsB,
        "lesionF1": result.detectionAReference.f1,
        "lesionF1BReference": result.detectionBReference.f1,
        "missedLesions": result.missedLesions,
        "concordant": result.concordant,
        "regionsShown": len(result.regions),
        "regionsHidden": len(result.allRegions) - len(result.regions),
        "lesionTable": result.lesionTable,
    }
    if finalMask is not None:
        regionMap = result.regionMap
        cropA = regionMap.agreed | np.isin(regionMap.labels, [r.regionId for r in result.allRegions if r.kind == "a_only"])
        cropB = regionMap.agreed | np.isin(regionMap.labels, [r.regionId for r in result.allRegions if r.kind == "b_only"])
        maskA, maskB = regionMap.toFullGrid(cropA), regionMap.toFullGrid(cropB)
        panel["finalVolumeMl"] = int(np.count_nonzero(finalMask)) * result.voxelVolumeMm3 / 1000.0
        panel["finalDiceA"] = _dice(finalMask, maskA)
        panel["finalDiceB"] = _dice(finalMask, maskB)
    return panel


def decisionsFromStore(regionDecisions: Mapping) -> dict[int, str]:
    """Region decisions recorded by the store (``keep``/``drop``/``edited``, string keys) in this module's words."""
    return {int(key): (DECISION_EDIT if value == STORE_DECISION_EDITED else str(value)) for key, value in (regionDecisions or {}).items()}
