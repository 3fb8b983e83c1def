"""Decisions in the scene: region keep/drop/edited with notes, starting finals, edits read back from the
region segments, the reviewer's own edit of the whole ``Final`` segment with its live difference from the agreed
voxels, and the live ``Final`` segment.

The rules (what the final mask is) live in :class:`AISCommonLib.core.adjudication.Adjudication`; this module
keeps the segments in step with it.
"""

import numpy as np

from ..core import reviewrule
from ..core.adjudication import metricsPanel
from ..core.errors import InputError
from ..core.image import Volume
from .reviewscene import (
    FINAL_SEGMENT_ID,
    REGION_FILL_OPACITY,
    SMALL_REGIONS_SEGMENT_ID,
    ReviewScene,
    regionSegmentId,
    reviewSegmentationNode,
)
from .segmentation import ensureLesionSegment, segmentMask, setSegmentFromMask
from .volumes import ijkToRas

#: Fill opacity of a dropped region (still visible, clearly set aside).
DROPPED_FILL_OPACITY = 0.08
CHANGES_NODE_NAME = "Changes"
ADDED_SEGMENT_ID = "final_added"
REMOVED_SEGMENT_ID = "final_removed"
ADDED_COLOR = (0.1, 0.85, 0.1)
REMOVED_COLOR = (0.95, 0.15, 0.15)


def updateFinalSegment(review: ReviewScene) -> np.ndarray:
    """Recompute the adjudicated mask and put it into the ``Final`` segment.

    :return: the final mask, bool ``[k, j, i]`` on the DWI grid.
    """
    final = review.adjudication.finalMask()
    setSegmentFromMask(review.finalNode, final, review.dwiNode, FINAL_SEGMENT_ID)
    _styleRegions(review)
    return final


def _styleRegions(review: ReviewScene) -> None:
    displayNode = review.regionsNode.GetDisplayNode()
    adjudication = review.adjudication
    for regionId in review.regionIds:
        if regionId in adjudication.smallIds:
            continue
        dropped = adjudication.decisions.get(regionId) == reviewrule.DECISION_DROP
        displayNode.SetSegmentOpacity2DFill(regionSegmentId(regionId), DROPPED_FILL_OPACITY if dropped else REGION_FILL_OPACITY)
    if adjudication.smallIds:
        dropped = (adjudication.smallDecision or adjudication.defaultDecision) == reviewrule.DECISION_DROP
        displayNode.SetSegmentOpacity2DFill(SMALL_REGIONS_SEGMENT_ID, DROPPED_FILL_OPACITY if dropped else REGION_FILL_OPACITY)


def setSmallRegionsDecision(review: ReviewScene, decision: str | None) -> np.ndarray:
    """Decide every small region without a decision of its own at once (``keep``, ``drop`` or None); refresh ``Final``.

    :return: the final mask.
    :raises InputError: not keep or drop.
    """
    review.adjudication.setSmallDecision(decision)
    return updateFinalSegment(review)


def setRegionDecision(review: ReviewScene, regionId: int, decision: str | None, note: str | None = None) -> np.ndarray:
    """Decide a region (``keep``, ``drop``, ``edited``, or None to clear) with an optional note; refresh ``Final``.

    Choosing ``edited`` takes the region segment as it is now as the edited mask; after changing the segment
    (Segment Editor in Slicer) call :func:`commitRegionEdit`.

    :return: the final mask.
    :raises InputError: unknown region or decision.
    """
    if decision == reviewrule.DECISION_EDITED:
        _ownSegment(review, regionId)  # refuse before anything changes
    review.adjudication.setDecision(regionId, decision, note)
    if decision == reviewrule.DECISION_EDITED:
        return commitRegionEdit(review, regionId)
    return updateFinalSegment(review)


def commitRegionEdit(review: ReviewScene, regionId: int) -> np.ndarray:
    """Read a region's segment back from the scene as its edited mask (decision ``edited``); refresh ``Final``.

    :return: the final mask.
    :raises InputError: the region or its segment does not exist.
    """
    edited = segmentMask(review.regionsNode, review.dwiNode, _ownSegment(review, regionId))
    review.adjudication.setEditedMask(regionId, edited)
    return updateFinalSegment(review)


def setRegionSegmentMask(review: ReviewScene, regionId: int, mask: np.ndarray) -> None:
    """Replace the voxels of a region's segment (what an edit in the Segment Editor does); no decision is made.

    :param mask: bool ``[k, j, i]`` on the DWI grid.
    """
    setSegmentFromMask(review.regionsNode, mask, review.dwiNode, _ownSegment(review, regionId))


def _ownSegment(review: ReviewScene, regionId: int) -> str:
    """A region's own segment; a small region has none (it shares one), so it is decided, or fixed in the final mask.

    :raises InputError: a small region, or no such region.
    """
    segmentId = review.segmentIdOf(regionId)
    if segmentId == SMALL_REGIONS_SEGMENT_ID:
        raise InputError(f"Region {regionId} is one of the small regions shown together: keep or drop it, or correct the final mask itself.")
    return segmentId


def applyStartingPoint(review: ReviewScene, startingPoint: str) -> np.ndarray:
    """Start the final from the agreed voxels, a read, union, intersection, STAPLE or majority; refresh ``Final``.

    Edited region segments are reset to the region's original voxels (edits are discarded).

    :return: the final mask.
    :raises InputError: unknown starting point.
    """
    editedIds = list(review.adjudication.editedMasks)
    review.adjudication.applyStartingPoint(startingPoint)
    regionMap = review.result.regionMap
    for regionId in editedIds:  # only regions with their own segment can have been edited
        setRegionSegmentMask(review, regionId, regionMap.toFullGrid(regionMap.labels == regionId))
    return updateFinalSegment(review)


def finalMask(review: ReviewScene, fromSegment: bool = False) -> np.ndarray:
    """The adjudicated mask on the DWI grid.

    :param fromSegment: export the ``Final`` segment from the scene instead of asking the library (they agree
        unless someone edited ``Final`` by hand).
    :return: bool ``[k, j, i]``.
    """
    if fromSegment:
        return segmentMask(review.finalNode, review.dwiNode, FINAL_SEGMENT_ID)
    return review.adjudication.finalMask()


def finalVolume(review: ReviewScene) -> Volume:
    """The final mask as a uint8 core volume on the DWI grid (for ``writeNifti`` or the workflow store)."""
    return Volume(finalMask(review).astype(np.uint8), ijkToRas(review.dwiNode))


def metrics(review: ReviewScene) -> dict:
    """Data of the metrics panel (Dice, HD95, ASSD, volumes, lesion counts, lesion F1, per-lesion table, final volume).

    :return: see :func:`AISCommonLib.core.adjudication.metricsPanel`.
    """
    return metricsPanel(review.result, review.adjudication.finalMask())


def commitFinalEdit(review: ReviewScene) -> np.ndarray:
    """Take the ``Final`` segment as the reviewer drew it (Segment Editor) as their own final mask: the answer.

    :return: the final mask.
    """
    review.adjudication.setFinalMask(segmentMask(review.finalNode, review.dwiNode, FINAL_SEGMENT_ID))
    return updateFinalSegment(review)


def finalChanges(review: ReviewScene, final: np.ndarray | None = None) -> dict:
    """How a final mask differs from the voxels both readers marked (A and B): what the reviewer added and removed.

    :param final: bool ``[k, j, i]``; default: the ``Final`` segment as it is in the scene now (mid-edit).
    :return: ``{"added": mask, "removed": mask, "addedVoxels", "removedVoxels"}``.
    """
    final = segmentMask(review.finalNode, review.dwiNode, FINAL_SEGMENT_ID) if final is None else final
    agreed = review.adjudication.maskA & review.adjudication.maskB
    added, removed = final & ~agreed, agreed & ~final
    return {"added": added, "removed": removed, "addedVoxels": int(added.sum()), "removedVoxels": int(removed.sum())}


def showFinalChanges(review: ReviewScene) -> dict:
    """Show the live difference of the ``Final`` segment from the agreed voxels in the ``Changes`` segmentation
    (added: green, removed from A and B: red), for the reviewer to watch while editing. A separate node, so that
    observing ``Final`` for edits does not see these updates.

    :return: :func:`finalChanges` of the segment as it is now.
    """
    changes = finalChanges(review)
    if review.changesNode is None:
        review.changesNode = reviewSegmentationNode(review.finalNode.GetScene(), CHANGES_NODE_NAME, review.dwiNode, review.caseId)
        review.changesNode.GetDisplayNode().SetVisibility2DFill(True)
    for segmentId, name, color, mask in ((ADDED_SEGMENT_ID, "Added to the agreed voxels", ADDED_COLOR, changes["added"]),
                                         (REMOVED_SEGMENT_ID, "Removed from the agreed voxels", REMOVED_COLOR, changes["removed"])):
        ensureLesionSegment(review.changesNode, segmentId, name, color)
        setSegmentFromMask(review.changesNode, mask, review.dwiNode, segmentId)
    return changes
