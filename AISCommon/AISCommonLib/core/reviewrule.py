"""The review rule, written once: what a reviewer (or arbiter) decides and what the final mask is.

- Every discordant region of the comparison gets a decision: ``keep`` (its voxels go into the final
  mask), ``drop`` (they stay out) or ``edited`` (the reviewer redrew it). Regions not listed, small ones
  included, take the default decision; nothing is left out without a decision.
- Without a mask of the reviewer's own, the final mask is the agreed voxels (A and B) plus the regions
  kept. A reviewer who hands in a mask gives the answer itself: any voxel may change, agreed ones too
  (an error both readers made). What the mask changed is derived by :func:`describeOutcome`, region by
  region and for the agreed part, so marking regions by hand is optional.
- On a discordant case every region needs a decision, a default, or the reviewer's mask; on a concordant
  case the default is ``drop`` (agreed voxels only).
"""

import dataclasses
from collections.abc import Mapping

import numpy as np

from .errors import InputError

DECISION_KEEP = "keep"
DECISION_DROP = "drop"
DECISION_EDITED = "edited"
REGION_DECISIONS = (DECISION_KEEP, DECISION_DROP, DECISION_EDITED)
#: Decisions a default may take (an edit is a change the reviewer makes to one region, never a default).
DEFAULT_DECISIONS = (DECISION_KEEP, DECISION_DROP)
#: The group key of a bulk decision on every small region (``small=keep``).
GROUP_SMALL = "small"
#: Share of a region's voxels in the final mask at or above which it counts as kept, at or below
#: ``1 - KEPT_FRACTION`` as dropped; anything between, or voxels added next to it, is an edit.
KEPT_FRACTION = 1.0

#: Where a reviewer's final mask may start (recorded with the decision): the agreed voxels only, one read,
#: their union, intersection, STAPLE consensus, or majority vote (marked by more than half of the reads;
#: with two reads the same voxels as the intersection).
START_AGREED = "agreed"
START_READER_A = "reader_a"
START_READER_B = "reader_b"
START_UNION = "union"
START_INTERSECTION = "intersection"
START_STAPLE = "staple"
START_MAJORITY = "majority"
STARTING_POINTS = (START_AGREED, START_READER_A, START_READER_B, START_UNION, START_INTERSECTION, START_STAPLE, START_MAJORITY)
#: Share of a region's voxels inside the STAPLE consensus from which the STAPLE start keeps the region.
STAPLE_REGION_FRACTION = 0.5

OUTCOME_KEPT = "kept"
OUTCOME_DROPPED = "dropped"
OUTCOME_EDITED = "edited"


def parseDecisions(regionIds, decisions: Mapping | None, smallIds=()) -> dict[int, str]:
    """The decisions as listed, with the bulk decision on the small regions spread over them.

    :param regionIds: ids of every discordant region of the comparison (small ones included).
    :param decisions: region id -> ``keep``, ``drop`` or ``edited`` (keys may be strings); the key
        :data:`GROUP_SMALL` decides every small region not listed by its own id (a bulk decision).
    :param smallIds: ids of the small regions (below the review size limit; see ``AgreementResult.regions``).
    :return: region id -> decision, for the listed regions only.
    :raises InputError: unknown regions or decisions, a bulk ``edited``.
    """
    known = {int(regionId) for regionId in regionIds}
    decisions = dict(decisions or {})
    bulk = decisions.pop(GROUP_SMALL, None)
    if bulk is not None:
        if bulk not in DEFAULT_DECISIONS:
            raise InputError(f"Small regions are decided together as keep or drop, not '{bulk}'; mark an edited one by its id.")
        decisions = {**{int(regionId): bulk for regionId in smallIds}, **decisions}
    try:
        given = {int(key): str(value) for key, value in decisions.items()}
    except (TypeError, ValueError):
        raise InputError("Region decisions are written REGION_ID=keep|drop|edited with a whole-number region id.") from None
    unknown = sorted(set(given) - known)
    if unknown:
        raise InputError(f"There are no discordant regions {unknown} to decide on (regions: {sorted(known) or 'none'}).")
    for value in given.values():
        if value not in REGION_DECISIONS:
            raise InputError(f"A region decision must be one of {', '.join(REGION_DECISIONS)}, not '{value}'.")
    return given


def checkDecisions(regionIds, decisions: Mapping | None, defaultDecision: str | None, requireAll: bool, haveMask: bool = False,
                   smallIds=()) -> dict[int, str]:
    """Validate a reviewer's decisions and give one to every region.

    :param regionIds: ids of every discordant region of the comparison (small ones included).
    :param decisions: as :func:`parseDecisions` takes them.
    :param smallIds: ids of the small regions.
    :param defaultDecision: ``keep`` or ``drop`` for every region not listed, or None.
    :param requireAll: the case is discordant: an unlisted region needs the default (or the reviewer's mask).
    :param haveMask: the reviewer hands in a mask of their own (then nothing else is required).
    :return: region id -> decision for every region (unlisted ones: the default, else ``drop``); with the
        reviewer's mask only the regions marked by hand (the rest is derived from the mask).
    :raises InputError: unknown regions or decisions, an ``edited`` region without a mask, or regions left
        without any decision on a discordant case.
    """
    known = {int(regionId) for regionId in regionIds}
    given = parseDecisions(known, decisions, smallIds)
    if defaultDecision is not None and defaultDecision not in DEFAULT_DECISIONS:
        raise InputError(f"The default decision must be keep or drop, not '{defaultDecision}'; mark edited regions one by one.")
    edited = sorted(regionId for regionId, value in given.items() if value == DECISION_EDITED)
    if edited and not haveMask:
        raise InputError(f"Regions {edited} are marked edited: give the edited mask, which becomes the final mask.")
    undecided = sorted(known - set(given))
    if undecided and requireAll and defaultDecision is None and not haveMask:
        raise InputError(f"The case is discordant: decide regions {undecided} (keep, drop or edited), give a default decision "
                         "for every region not listed, or give your own final mask.")
    if haveMask:
        # The mask is the answer: only the hand marks are kept (to be checked against it), never a default.
        return given
    return {**{regionId: defaultDecision or DECISION_DROP for regionId in undecided}, **given}


def finalFromDecisions(result, decisions: Mapping[int, str]) -> np.ndarray:
    """The final mask the decisions give: agreed voxels plus every region decided ``keep``.

    :param result: the :class:`~AISCommonLib.core.agreement.AgreementResult` the decisions refer to.
    :param decisions: region id -> ``keep`` or ``drop`` for every region (see :func:`checkDecisions`).
    :return: bool ``[k, j, i]`` on the full grid.
    :raises InputError: a region without a keep/drop decision.
    """
    missing = sorted(region.regionId for region in result.allRegions if decisions.get(region.regionId) not in DEFAULT_DECISIONS)
    if missing:
        raise InputError(f"Regions {missing} need keep or drop to build the final mask (an edited region needs the edited mask).")
    kept = [region.regionId for region in result.allRegions if decisions[region.regionId] == DECISION_KEEP]
    regionMap = result.regionMap
    return regionMap.toFullGrid(regionMap.agreed | np.isin(regionMap.labels, kept))


@dataclasses.dataclass
class ReviewOutcome:
    """What a final mask did with two reads.

    :param regions: region id -> ``kept``, ``dropped`` or ``edited`` (voxels of the region in the final mask).
    :param agreedRemovedVoxels: voxels both readers marked that the final mask leaves out.
    :param addedVoxels: voxels neither reader marked that the final mask has.
    :param finalVoxels: voxels of the final mask.
    """

    regions: dict[int, str]
    agreedRemovedVoxels: int
    addedVoxels: int
    finalVoxels: int

    @property
    def agreementCorrected(self) -> bool:
        """The reviewer changed voxels the two readers agreed on, or added voxels neither drew."""
        return bool(self.agreedRemovedVoxels or self.addedVoxels)

    def toDict(self) -> dict:
        return {"regions": {str(key): value for key, value in sorted(self.regions.items())}, "agreed_removed_voxels": self.agreedRemovedVoxels,
                "added_voxels": self.addedVoxels, "agreement_corrected": self.agreementCorrected, "final_voxels": self.finalVoxels}


def describeOutcome(result, finalMask: np.ndarray) -> ReviewOutcome:
    """Derive, per discordant region and for the agreed part, what the final mask changed.

    :param result: the comparison of read A and read B.
    :param finalMask: bool ``[k, j, i]`` on the reads' grid.
    :raises InputError: a mask off the reads' grid.
    """
    finalMask = np.asarray(finalMask, dtype=bool)
    if tuple(finalMask.shape) != tuple(result.gridShape):
        raise InputError(f"The final mask has shape {tuple(finalMask.shape)[::-1]} but the reads are on {tuple(result.gridShape)[::-1]} (i x j x k).")
    regionMap = result.regionMap
    crop = finalMask[regionMap.cropSlices]
    outcomes = {}
    for region in result.allRegions:
        inside = regionMap.labels == region.regionId
        share = np.count_nonzero(crop & inside) / max(region.voxels, 1)
        outcomes[region.regionId] = OUTCOME_KEPT if share >= KEPT_FRACTION else OUTCOME_DROPPED if share <= 1.0 - KEPT_FRACTION else OUTCOME_EDITED
    drawn = regionMap.agreed | (regionMap.labels > 0)
    outsideCrop = int(np.count_nonzero(finalMask)) - int(np.count_nonzero(crop))
    return ReviewOutcome(
        regions=outcomes,
        agreedRemovedVoxels=int(np.count_nonzero(regionMap.agreed & ~crop)),
        addedVoxels=int(np.count_nonzero(crop & ~drawn)) + outsideCrop,
        finalVoxels=int(np.count_nonzero(finalMask)),
    )


def checkAgainstOutcome(decisions: Mapping[int, str], outcome: ReviewOutcome) -> None:
    """A reviewer's hand marks must say what their mask does.

    :raises InputError: a region marked ``keep`` that the mask does not keep whole, or ``drop`` that it keeps.
    """
    wrong = [f"region {regionId} is marked {decision} but the mask {outcome.regions[regionId]} it"
             for regionId, decision in sorted(decisions.items())
             if (decision == DECISION_KEEP and outcome.regions[regionId] != OUTCOME_KEPT)
             or (decision == DECISION_DROP and outcome.regions[regionId] != OUTCOME_DROPPED)]
    if wrong:
        raise InputError("Your marks and your mask disagree: " + "; ".join(wrong) + ". Fix the marks or leave them out.")


def startingDecisions(result, maskA: np.ndarray, maskB: np.ndarray, startingPoint: str) -> tuple[dict[int, str], str]:
    """The region decisions a starting final stands for, the reviewer's first draft before any change.

    ``reader_a`` keeps the A-only regions and drops the B-only ones (``reader_b`` the reverse), ``union``
    keeps all, ``agreed``, ``intersection`` and ``majority`` drop all, ``staple`` keeps a region when at
    least :data:`STAPLE_REGION_FRACTION` of its voxels are in the STAPLE consensus of the two reads.

    :param maskA: bool ``[k, j, i]`` read A (used by STAPLE); ``maskB`` read B.
    :return: ``(decisions for every region, default decision)``.
    :raises InputError: an unknown starting point.
    """
    from .consensus import stapleMask

    if startingPoint not in STARTING_POINTS:
        raise InputError(f"The starting final must be one of {', '.join(STARTING_POINTS)}, not '{startingPoint}'.")
    regions = result.allRegions
    if startingPoint == START_STAPLE:
        cropStaple = stapleMask([maskA, maskB])[0][result.regionMap.cropSlices]
        labels = result.regionMap.labels
        decisions = {region.regionId: DECISION_KEEP if cropStaple[labels == region.regionId].mean() >= STAPLE_REGION_FRACTION else DECISION_DROP
                     for region in regions}
    else:
        keepKinds = {START_READER_A: {"a_only"}, START_READER_B: {"b_only"}, START_UNION: {"a_only", "b_only"}}.get(startingPoint, set())
        decisions = {region.regionId: DECISION_KEEP if region.kind in keepKinds else DECISION_DROP for region in regions}
    return decisions, DECISION_KEEP if startingPoint == START_UNION else DECISION_DROP
