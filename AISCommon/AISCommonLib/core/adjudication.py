"""A reviewer's work on one discordant case in the review module: region statistics, per-region decisions,
starting finals, the live final mask and the numbers of the metrics panel.

Everything here is plain numpy on the DWI grid (``[k, j, i]``); the MRML layer shows it and the workflow
store records it. The rule itself (decisions, defaults, what the final mask is) lives in
:mod:`AISCommonLib.core.reviewrule`; this class keeps a reviewer's choices while they work:

- ``keep`` / ``drop`` per region; every region is listed, the small ones (extent regions below the size limit)
  too: they may be decided one by one or all at once (:meth:`Adjudication.setSmallDecision`), so nothing
  is dropped without a decision;
- ``edited``: the reviewer redrew the region; its edited mask replaces the region's voxels (it may reach
  outside the region, e.g. to extend a boundary);
- a starting final (agreed voxels, a read, union, intersection, STAPLE, majority) decides every region at once;
- the reviewer's own final mask (:meth:`Adjudication.setFinalMask`, drawn over the whole case): it is the answer,
  any voxel may change, agreed ones too; the store derives what it changed.
"""

import dataclasses

import numpy as np

from . import reviewrule
from .agreement import AgreementResult
from .consensus import intersectionMask, stapleMask, unionMask
from .errors import InputError
from .seeding import dwiReference

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
    :param drawnBy: ``A`` or ``B``: whose read holds the region.
    :param sliceNumber: slice (1-based) along the axis nearest to superior; ``side``: right, left or midline.
    :param small: below the review size limit (may be decided in bulk).
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
    drawnBy: str = ""
    sliceNumber: int = 0
    side: str = ""
    small: bool = False

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
    """The region table of every discordant region (small ones marked), in id order.

    DWI contrast is measured against normal-looking parenchyma (brain voxels with ADC 400-1200 x 1e-6 mm^2/s,
    :func:`AISCommonLib.core.seeding.dwiReference`).

    :param result: the comparison.
    :param dwiArray: DWI ``[k, j, i]`` on the reads' grid.
    :param adcArray: ADC ``[k, j, i]`` as stored (file unit), or None.
    :param adcToMicro: factor from the stored ADC unit to 1e-6 mm^2/s.
    :param adcUnitLabel: the stored unit as written for people.
    :param brainMask: bool ``[k, j, i]`` brain mask; None uses the voxels with DWI > 0.
    :return: one row per region.
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
    small = set(result.smallRegionIds)
    for region in result.allRegions:
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
            drawnBy=region.drawnBy,
            sliceNumber=region.sliceNumber,
            side=region.side,
            small=region.regionId in small,
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
        self.smallDecision: str | None = None
        self.startingPoint: str | None = None
        self.ownFinal: np.ndarray | None = None
        self._regionIds = [region.regionId for region in result.allRegions]
        self.smallIds = set(result.smallRegionIds)

    @property
    def regionIds(self) -> list[int]:
        """Ids of every discordant region (small ones included), in order."""
        return list(self._regionIds)

    def _requireRegion(self, regionId: int) -> int:
        regionId = int(regionId)
        if regionId not in self._regionIds:
            raise InputError(f"Region {regionId} is not one of the regions to review ({self._regionIds or 'none'}).")
        return regionId

    def setDecision(self, regionId: int, decision: str | None, note: str | None = None) -> None:
        """Decide one region (``keep``, ``drop`` or ``edited``; None clears it), optionally with a note.

        An ``edited`` region needs its edited mask (:meth:`setEditedMask`) before the final mask counts it;
        until then the region counts as dropped.

        :raises InputError: unknown region or decision.
        """
        regionId = self._requireRegion(regionId)
        if decision is not None and decision not in reviewrule.REGION_DECISIONS:
            raise InputError(f"A region decision must be one of {', '.join(reviewrule.REGION_DECISIONS)}, not '{decision}'.")
        if decision is None:
            self.decisions.pop(regionId, None)
        else:
            self.decisions[regionId] = decision
        if decision != reviewrule.DECISION_EDITED:
            self.editedMasks.pop(regionId, None)
        if note is not None:
            self.setNote(regionId, note)

    def setNote(self, regionId: int, note: str) -> None:
        """Attach a note to a region (an empty note removes it)."""
        regionId = self._requireRegion(regionId)
        if (note or "").strip():
            self.notes[regionId] = note.strip()
        else:
            self.notes.pop(regionId, None)

    def setEditedMask(self, regionId: int, mask: np.ndarray) -> None:
        """The reviewer's redrawn version of a region; marks the region ``edited``.

        :param mask: bool ``[k, j, i]`` on the grid: the voxels the region should have (may be empty).
        :raises InputError: unknown region, or a mask off the grid.
        """
        regionId = self._requireRegion(regionId)
        mask = np.asarray(mask)
        if tuple(mask.shape) != tuple(self.result.gridShape):
            raise InputError(f"The edited mask of region {regionId} has shape {tuple(mask.shape)}, not the grid's {tuple(self.result.gridShape)}.")
        self.decisions[regionId] = reviewrule.DECISION_EDITED
        self.editedMasks[regionId] = mask.astype(bool)

    def setSmallDecision(self, decision: str | None) -> None:
        """Decide every small region without a decision of its own at once (``keep``, ``drop``, or None to undo).

        :raises InputError: not keep or drop.
        """
        if decision is not None and decision not in reviewrule.DEFAULT_DECISIONS:
            raise InputError(f"Small regions are decided together as keep or drop, not '{decision}'.")
        self.smallDecision = decision

    def setDefaultDecision(self, decision: str | None) -> None:
        """Decide every region without a decision of its own, the small ones included (``keep``, ``drop`` or None).

        :raises InputError: not keep or drop.
        """
        if decision is not None and decision not in reviewrule.DEFAULT_DECISIONS:
            raise InputError(f"The default decision must be keep or drop, not '{decision}'.")
        self.defaultDecision = decision

    def applyStartingPoint(self, startingPoint: str) -> dict[int, str]:
        """Decide every region at once as a starting final stands for (:func:`reviewrule.startingDecisions`).

        Edits and their masks are discarded; notes stay; small regions are decided one by one like the others.

        :return: region id -> decision of every region.
        :raises InputError: unknown starting point.
        """
        decisions, default = reviewrule.startingDecisions(self.result, self.maskA, self.maskB, startingPoint)
        self.decisions = {regionId: decisions[regionId] for regionId in self._regionIds}
        self.editedMasks = {}
        self.defaultDecision = default
        self.smallDecision = None
        self.ownFinal = None
        self.startingPoint = startingPoint
        return dict(self.decisions)

    def setFinalMask(self, mask: np.ndarray | None) -> None:
        """The reviewer's own final mask over the whole case (None: back to the decisions). It is the answer: what it
        changed, region by region and for the agreed voxels, is derived when it is recorded.

        :raises InputError: a mask off the grid.
        """
        if mask is not None:
            mask = np.asarray(mask)
            if tuple(mask.shape) != tuple(self.result.gridShape):
                raise InputError(f"The final mask has shape {tuple(mask.shape)}, not the grid's {tuple(self.result.gridShape)}.")
            mask = mask.astype(bool)
        self.ownFinal = mask

    def undecided(self) -> list[int]:
        """Regions without a decision: no decision of their own and, for a small one, no bulk or default decision
        either (an ``edited`` region without its mask counts as undecided); none once the reviewer's own final
        mask is the answer."""
        if self.ownFinal is not None:
            return []
        bulk = self.smallDecision or self.defaultDecision
        return [regionId for regionId in self._regionIds
                if (regionId not in self.decisions and not (regionId in self.smallIds and bulk))
                or (self.decisions.get(regionId) == reviewrule.DECISION_EDITED and regionId not in self.editedMasks)]

    def _bulkDecisions(self) -> dict[int, str]:
        """The decisions the bulk choice gives the small regions without one of their own."""
        bulk = self.smallDecision or self.defaultDecision
        return {regionId: bulk for regionId in self.smallIds if regionId not in self.decisions} if bulk else {}

    def _keepDropDecisions(self) -> dict[int, str]:
        """A keep or drop for every region: its own, else the bulk one (small regions), else drop (undecided and edited)."""
        decisions = {regionId: reviewrule.DECISION_DROP for regionId in self._regionIds}
        decisions.update(self._bulkDecisions())
        decisions.update({regionId: decision for regionId, decision in self.decisions.items() if decision in reviewrule.DEFAULT_DECISIONS})
        return decisions

    def finalMask(self) -> np.ndarray:
        """The final mask: agreed voxels + regions kept + edited masks (undecided regions left out).

        :return: bool ``[k, j, i]`` on the reads' grid (the reviewer's own final mask when there is one).
        """
        if self.ownFinal is not None:
            return self.ownFinal.copy()
        final = reviewrule.finalFromDecisions(self.result, self._keepDropDecisions())
        for mask in self.editedMasks.values():
            final |= mask
        return final

    def startingMask(self, startingPoint: str) -> np.ndarray:
        """The exact voxelwise consensus a starting final stands for (read A or B, union, intersection, STAPLE).

        :return: bool ``[k, j, i]``; compare with :meth:`finalMask` after :meth:`applyStartingPoint`.
        """
        masks = [self.maskA, self.maskB]
        if startingPoint == reviewrule.START_READER_A:
            return self.maskA.copy()
        if startingPoint == reviewrule.START_READER_B:
            return self.maskB.copy()
        if startingPoint == reviewrule.START_UNION:
            return unionMask(masks)
        if startingPoint in (reviewrule.START_INTERSECTION, reviewrule.START_AGREED, reviewrule.START_MAJORITY):
            return intersectionMask(masks)
        if startingPoint == reviewrule.START_STAPLE:
            return stapleMask(masks)[0]
        raise InputError(f"Unknown starting final '{startingPoint}'; use one of {', '.join(reviewrule.STARTING_POINTS)}.")

    def storeDecisions(self, requireAll: bool = True) -> tuple[dict[int, str], str | None, np.ndarray | None]:
        """The decisions as the workflow store takes them (``review`` / ``arbitrate``).

        :param requireAll: refuse when a region is undecided (the store's rule for discordant cases).
        :return: ``(decisions, defaultDecision, editedMask)``: with an edit the final mask is passed as the
            reviewer's own mask (the store derives what it changed); otherwise ``editedMask`` is None and the
            store rebuilds the same mask from the reads.
        :raises InputError: undecided regions while ``requireAll``.
        """
        if self.ownFinal is not None:
            return {}, None, self.ownFinal.copy()
        undecided = self.undecided()
        if requireAll and undecided:
            raise InputError(f"Regions {undecided} have no decision yet (an edit needs its edited mask).")
        decisions = {**self._bulkDecisions(), **{regionId: decision for regionId, decision in self.decisions.items() if regionId not in undecided}}
        edited = reviewrule.DECISION_EDITED in decisions.values()
        return decisions, self.defaultDecision, (self.finalMask() if edited else None)

    def proposal(self) -> dict[int, str]:
        """The keep/drop decisions so far (a small region's bulk decision included): what a reviewer proposes when
        escalating the case."""
        return {**self._bulkDecisions(), **{regionId: decision for regionId, decision in self.decisions.items()
                                            if decision in reviewrule.DEFAULT_DECISIONS}}

    def notesText(self, caseNote: str = "") -> str:
        """One note for the audit trail: the case note, the whole-case action, then each region's decision and note."""
        lines = [caseNote.strip()] if (caseNote or "").strip() else []
        if self.startingPoint:
            lines.append(f"Starting final: {self.startingPoint.replace('_', ' ')}.")
        bulk = self._bulkDecisions()
        if bulk:
            lines.append(f"{len(bulk)} small region(s) below the size limit decided together: {next(iter(bulk.values()))}.")
        regions = {region.regionId: region for region in self.result.allRegions}
        for regionId in self._regionIds:
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
            "small_decision": self.smallDecision,
            "starting_point": self.startingPoint,
            "edited_regions": sorted(self.editedMasks),
            "own_final": self.ownFinal is not None,
            "undecided": self.undecided(),
            "final_voxels": int(np.count_nonzero(self.finalMask())),
        }


def metricsPanel(result: AgreementResult, finalMask: np.ndarray | None = None) -> dict:
    """The numbers of the review module's metrics panel, as a plain dict.

    :param result: the comparison of read A and read B.
    :param finalMask: the current adjudicated mask, to add its volume and its Dice against each read.
    :return: ``dice``, ``jaccard``, ``hd95Mm``, ``assdMm`` (None when a read is empty), ``volumeAMl``,
        ``volumeBMl``, ``lesionsA``, ``lesionsB``, ``lesionF1`` (A as reference), ``lesionF1BReference``,
        ``missedLesions``, ``concordant``, ``regions`` (all listed), ``regionsSmall`` (of them, below the size limit), ``lesionTable`` (the engine's
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
        "regions": len(result.allRegions),
        "regionsSmall": len(result.smallRegionIds),
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
