"""A case under review in a scene: the sequences, both reads and the discordant regions as segments.

Three segmentation nodes, all with the DWI as reference geometry (so every segment exports back to the
exact DWI grid):

- ``Reads``: segment ``readerA`` (blue) and ``readerB`` (amber), outlined in every view;
- ``Discordant regions``: one segment per region, ``region_<id>`` named ``Region <id>: A only, missed lesion``
  (A-only cyan, B-only magenta), filled lightly; the small regions (below the review size limit) share one
  segment, ``small_regions`` (yellow), so a case with a hundred specks stays readable and none is hidden;
- ``Final``: the adjudicated mask (green outline), refreshed by :mod:`.decisions` after every decision;
- ``Changes``: while the reviewer edits the whole final, what it adds to (green) and removes from (red) the
  voxels both readers drew.
"""

import dataclasses
from pathlib import Path

import numpy as np

from ..core.adjudication import Adjudication, regionRows, regionTitle
from ..core.agreement import AgreementParameters, AgreementResult, compareMasks
from ..core.errors import InputError
from ..core.image import Volume, requireSameGrid
from .caseloader import CaseNodes, addCaseToScene
from .crosshair import jumpToRas
from .nodes import removeNodes
from .segmentation import ensureLesionSegment, setSegmentFromMask
from .volumes import ijkToRas

READER_A_SEGMENT_ID = "readerA"
READER_B_SEGMENT_ID = "readerB"
FINAL_SEGMENT_ID = "final"
READER_A_COLOR = (0.2, 0.55, 1.0)
READER_B_COLOR = (1.0, 0.7, 0.0)
REGION_COLORS = {"a_only": (0.0, 0.9, 0.9), "b_only": (1.0, 0.25, 0.85)}
SMALL_REGIONS_SEGMENT_ID = "small_regions"
SMALL_REGIONS_COLOR = (1.0, 0.95, 0.2)
FINAL_COLOR = (0.2, 0.95, 0.2)
READS_NODE_NAME = "Reads"
REGIONS_NODE_NAME = "Discordant regions"
FINAL_NODE_NAME = "Final"
#: Node attribute tagging the nodes of a review (value: the case id).
REVIEW_ATTRIBUTE = "AIS.Review"
REGION_FILL_OPACITY = 0.35
OUTLINE_THICKNESS = 2


def regionSegmentId(regionId: int) -> str:
    """Segment ID of a discordant region, ``region_<id>``."""
    return f"region_{int(regionId)}"


@dataclasses.dataclass
class ReviewScene:
    """The nodes and library objects of one case under review.

    :param caseNodes: volume nodes of the case (DWI, ADC, eADC, FLAIR...).
    :param readsNode: segmentation with both reads.
    :param regionsNode: segmentation with one segment per discordant region shown for review.
    :param finalNode: segmentation with the adjudicated mask.
    :param result: the agreement engine's comparison of the two reads.
    :param adjudication: decisions, notes and edits (see :class:`~AISCommonLib.core.adjudication.Adjudication`).
    :param readerIds: ``(reader A, reader B)`` pseudonymous IDs, for names and captions.
    :param changesNode: segmentation with what an edit of the whole final added to and removed from the agreed
        voxels (made on first use, see :func:`AISCommonLib.mrml.decisions.showFinalChanges`).
    """

    caseNodes: CaseNodes
    readsNode: object
    regionsNode: object
    finalNode: object
    result: AgreementResult
    adjudication: Adjudication
    readerIds: tuple[str, str]
    changesNode: object = None

    @property
    def dwiNode(self):
        """The DWI volume node (reference grid)."""
        return self.caseNodes.dwiNode

    @property
    def caseId(self) -> str:
        return self.caseNodes.loaded.case.caseId

    @property
    def regionIds(self) -> list[int]:
        """Ids of every discordant region (small ones included), in order."""
        return [region.regionId for region in self.result.allRegions]

    def region(self, regionId: int):
        """The :class:`~AISCommonLib.core.regions.DiscordantRegion` listed under ``regionId``.

        :raises InputError: no such region.
        """
        for region in self.result.allRegions:
            if region.regionId == int(regionId):
                return region
        raise InputError(f"Case {self.caseId} has no discordant region {regionId} to review.")

    def segmentIdOf(self, regionId: int) -> str:
        """The segment showing a region: its own, or the shared one of the small regions."""
        return SMALL_REGIONS_SEGMENT_ID if self.region(regionId).regionId in self.adjudication.smallIds else regionSegmentId(regionId)

    def nodes(self) -> list:
        """Every node the review added (volumes, display nodes excluded)."""
        every = [*self.caseNodes.volumeNodes.values(), self.readsNode, self.regionsNode, self.finalNode, self.changesNode]
        return [node for node in every if node is not None]


def reviewSegmentationNode(scene, name: str, dwiNode, caseId: str):
    """A segmentation of the review: the DWI as reference geometry, outlines in the slice views, no 3D."""
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", name)
    node.CreateDefaultDisplayNodes()
    node.SetReferenceImageGeometryParameterFromVolumeNode(dwiNode)
    node.SetAttribute(REVIEW_ATTRIBUTE, caseId)
    displayNode = node.GetDisplayNode()
    displayNode.SetVisibility3D(False)
    displayNode.SetSliceIntersectionThickness(OUTLINE_THICKNESS)
    displayNode.SetOpacity2DOutline(1.0)
    return node


def _checkReadGrid(mask: np.ndarray, dwiNode, name: str) -> np.ndarray:
    array = np.asarray(mask)
    dwiShape = tuple(reversed(dwiNode.GetImageData().GetDimensions()))
    if array.shape != dwiShape:
        raise InputError(f"Read {name} has shape {array.shape[::-1]} but the DWI grid is {dwiShape[::-1]} (i x j x k).")
    return array != 0


def loadReview(scene, loaded, maskA: np.ndarray, maskB: np.ndarray, parameters: AgreementParameters | None = None,
               readerIds=("A", "B"), caseNodes: CaseNodes | None = None, ijkToRasMatrix=None, regionSegments: bool = True) -> ReviewScene:
    """Put a case and its two reads into the scene, compare them and show the discordant regions as segments.

    :param scene: the MRML scene (default colour tables present, as in Slicer).
    :param loaded: the case (:func:`AISCommonLib.core.sequences.loadCase`).
    :param maskA: read A, bool or 0/1 ``[k, j, i]`` on the DWI grid.
    :param maskB: read B, same grid.
    :param parameters: agreement settings (size limit of extent regions, concordance rule); defaults when None.
    :param readerIds: pseudonymous IDs of reader A and reader B (segment names).
    :param caseNodes: the case's volume nodes when already in the scene; None adds them.
    :param ijkToRasMatrix: the reads' IJK-to-RAS matrix when they came from files; checked against the DWI's.
    :param regionSegments: fill the regions and final segmentations (False leaves both empty, for pictures of the
        reads only: a segment per region is most of the loading time of a case with many regions).
    :return: the review scene; the final segment starts as the agreed voxels.
    :raises InputError: a read off the DWI grid.
    :raises GeometryError: the reads' matrix differs from the DWI's.
    """
    caseNodes = caseNodes or addCaseToScene(scene, loaded)
    dwiNode = caseNodes.dwiNode
    dwiMatrix = ijkToRas(dwiNode)
    readA, readB = _checkReadGrid(maskA, dwiNode, "A"), _checkReadGrid(maskB, dwiNode, "B")
    if ijkToRasMatrix is not None:
        requireSameGrid(Volume(np.zeros(readA.shape, np.uint8), dwiMatrix, Path("DWI")),
                        Volume(np.zeros(readA.shape, np.uint8), np.asarray(ijkToRasMatrix, dtype=np.float64), Path("reads")))
    result = compareMasks(readA, readB, dwiMatrix, parameters)
    caseId = loaded.case.caseId
    readerA, readerB = (str(value) for value in readerIds)

    readsNode = reviewSegmentationNode(scene, READS_NODE_NAME, dwiNode, caseId)
    for segmentId, name, color, mask in ((READER_A_SEGMENT_ID, f"Reader A ({readerA})", READER_A_COLOR, readA),
                                         (READER_B_SEGMENT_ID, f"Reader B ({readerB})", READER_B_COLOR, readB)):
        ensureLesionSegment(readsNode, segmentId, name, color)
        setSegmentFromMask(readsNode, mask, dwiNode, segmentId)
    readsNode.GetDisplayNode().SetVisibility2DFill(False)

    regionsNode = reviewSegmentationNode(scene, REGIONS_NODE_NAME, dwiNode, caseId)
    regionMap = result.regionMap
    for region in result.regions if regionSegments else []:
        segmentId = regionSegmentId(region.regionId)
        ensureLesionSegment(regionsNode, segmentId, regionTitle(region), REGION_COLORS.get(region.kind, (1.0, 1.0, 1.0)))
        setSegmentFromMask(regionsNode, regionMap.toFullGrid(regionMap.labels == region.regionId), dwiNode, segmentId)
    small = result.smallRegionIds
    if small:
        name = f"Small regions ({len(small)}, each below {result.parameters.minExtentMm3:g} mm3)"
        ensureLesionSegment(regionsNode, SMALL_REGIONS_SEGMENT_ID, name, SMALL_REGIONS_COLOR)
        setSegmentFromMask(regionsNode, regionMap.toFullGrid(np.isin(regionMap.labels, small)), dwiNode, SMALL_REGIONS_SEGMENT_ID)
    regionsDisplay = regionsNode.GetDisplayNode()
    regionsDisplay.SetVisibility2DFill(True)
    regionsDisplay.SetOpacity2DFill(REGION_FILL_OPACITY)
    regionsDisplay.SetVisibility2DOutline(False)

    finalNode = reviewSegmentationNode(scene, FINAL_NODE_NAME, dwiNode, caseId)
    ensureLesionSegment(finalNode, FINAL_SEGMENT_ID, "Final", FINAL_COLOR)
    finalNode.GetDisplayNode().SetVisibility2DFill(False)

    review = ReviewScene(caseNodes, readsNode, regionsNode, finalNode, result, Adjudication(result, readA, readB), (readerA, readerB))
    if regionSegments:
        from .decisions import updateFinalSegment

        updateFinalSegment(review)
    return review


def loadReviewFiles(scene, loaded, pathA, pathB, parameters: AgreementParameters | None = None, readerIds=("A", "B"),
                    caseNodes: CaseNodes | None = None, regionSegments: bool = True) -> ReviewScene:
    """:func:`loadReview` from two binary NIfTI masks on the DWI grid (never resampled).

    :raises InputError: unreadable or non-binary masks, or masks off the DWI grid.
    """
    from ..core.masks import loadMaskPair

    pair = loadMaskPair(pathA, pathB)
    return loadReview(scene, loaded, pair.maskA, pair.maskB, parameters, readerIds, caseNodes, pair.ijkToRas, regionSegments)


def regionTable(review: ReviewScene) -> list[dict]:
    """Rows of the region table: id, title, kind, type, volume (mL), mean ADC (file unit), DWI contrast,
    RAS centroid, plus the current decision and note.

    :return: one dict per region, small ones included and marked (keys as
        :class:`~AISCommonLib.core.adjudication.RegionRow` plus ``decision`` and ``note``; a small region without a
        decision of its own shows the bulk one).
    """
    loaded = review.caseNodes.loaded
    unit = loaded.adcUnit.unit
    rows = regionRows(review.result, loaded.dwi.array, loaded.adc.array if loaded.adc is not None else None, unit.toMicro, unit.label,
                      loaded.brainMask)
    adjudication = review.adjudication
    bulk = adjudication.smallDecision or adjudication.defaultDecision
    return [{**row.toDict(), "decision": adjudication.decisions.get(row.regionId, bulk if row.small else None),
             "note": adjudication.notes.get(row.regionId, "")} for row in rows]


def showOnlyRegion(review: ReviewScene, regionId: int | None) -> None:
    """Show one region's segment (a small region: the small regions' shared one; None: all of them)."""
    displayNode = review.regionsNode.GetDisplayNode()
    wanted = None if regionId is None else review.segmentIdOf(regionId)
    for segmentId in dict.fromkeys(review.segmentIdOf(shownId) for shownId in review.regionIds):
        displayNode.SetSegmentVisibility(segmentId, wanted is None or segmentId == wanted)


def jumpToRegion(scene, review: ReviewScene, regionId: int, viewGroup: int = -1):
    """Centre every slice view (of ``viewGroup``) on a region's centroid and put the crosshair there.

    :return: the region.
    :raises InputError: no such region shown.
    """
    region = review.region(regionId)
    jumpToRas(scene, region.centroidRas, centered=True, viewGroup=viewGroup)
    return region


class RegionNavigator:
    """Next / previous discordant region, wrapping around, in id order.

    :param review: the review scene.
    """

    def __init__(self, review: ReviewScene):
        self.regionIds = review.regionIds
        self.index = -1

    @property
    def currentId(self) -> int | None:
        """The region last stepped or jumped to, or None."""
        return self.regionIds[self.index] if 0 <= self.index < len(self.regionIds) else None

    def select(self, regionId: int) -> None:
        """Make ``regionId`` the current region (e.g. after a click in the table).

        :raises InputError: not a region of the review.
        """
        if int(regionId) not in self.regionIds:
            raise InputError(f"Region {regionId} is not one of the regions to review.")
        self.index = self.regionIds.index(int(regionId))

    def step(self, direction: int = 1) -> int | None:
        """Go to the next (``+1``) or previous (``-1``) region id; None when there are none."""
        if not self.regionIds:
            return None
        if self.index < 0:
            self.index = 0 if direction >= 0 else len(self.regionIds) - 1
        else:
            self.index = (self.index + (1 if direction >= 0 else -1)) % len(self.regionIds)
        return self.regionIds[self.index]


def stepRegion(scene, review: ReviewScene, navigator: RegionNavigator, direction: int = 1):
    """Step to the next or previous region and centre all views on it.

    :return: the region, or None when the case has no region to review.
    """
    regionId = navigator.step(direction)
    return None if regionId is None else jumpToRegion(scene, review, regionId)


def removeReview(scene, review: ReviewScene) -> None:
    """Remove the review's nodes from the scene (volumes, segmentations and their display/storage nodes)."""
    removeNodes(scene, review.nodes())
