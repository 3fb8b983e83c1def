"""Pictures of the discordant regions: the four sequences centred on each region, both reads outlined in
their colours (reader A blue, reader B amber), one picture per region, for the review and the acceptance report.

All regions of a case share one scene and one offscreen render window
(:class:`~AISCommonLib.mrml.snapshot.LayoutRenderer`): the views are set up once and each region costs one
frame. Every discordant region is pictured, the small ones too (nothing hidden), each with a caption
saying its size (voxels, mL), where it is (slice, side, and a lobe or territory only when the caller
gives a label map) and which reader drew it.

Inside Slicer, do not picture a case's regions in the GUI thread: run ``ais review-snapshot ... --json``
as a separate process (e.g. ``qt.QProcess`` with Slicer's ``PythonSlicer``) and show each PNG when it
exists; the region list stays usable meanwhile.
"""

from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..core.adjudication import regionTitle
from ..core.errors import InputError
from ..core.regionlocation import RegionDescription, authorText, describeRegions, labelNames, locationText, sizeText
from .layouts import LAYOUT_2X2_AXIAL, readingViews, setLayout
from .reviewscene import OUTLINE_THICKNESS
from .snapshot import LayoutRenderer

#: Width shown around a region (mm): its neighbourhood, large enough to see both reads' outlines in context.
REGION_FIELD_OF_VIEW_MM = 90.0
#: Lines of the caption band under each region picture (see :func:`regionCaption`).
CAPTION_LINES = 4
#: Pictures that may wait for the PNG writer thread (about 1 MB each at 320-pixel tiles).
PENDING_PICTURES = 4


def showReadsOnly(review, outlineThickness: int = OUTLINE_THICKNESS) -> None:
    """Show both reads as outlines only in every view; hide the region and final segmentations."""
    readsDisplay = review.readsNode.GetDisplayNode()
    readsDisplay.RemoveAllViewNodeIDs()
    readsDisplay.SetVisibility(True)
    readsDisplay.SetVisibility2DFill(False)
    readsDisplay.SetVisibility2DOutline(True)
    readsDisplay.SetSliceIntersectionThickness(outlineThickness)
    for node in (review.regionsNode, review.finalNode):
        node.GetDisplayNode().SetVisibility(False)


def picturedRegions(review, includeSmall: bool = True) -> list:
    """The regions to picture, in id order: every discordant region, or only those shown for review.

    :param review: the :class:`~AISCommonLib.mrml.reviewscene.ReviewScene`.
    :param includeSmall: also the regions under the review size limit.
    """
    return list(review.result.allRegions if includeSmall else review.result.regions)


def regionDescriptions(review, labels: dict | None = None) -> dict[int, RegionDescription]:
    """Region id -> :class:`~AISCommonLib.core.regionlocation.RegionDescription` for every discordant region.

    :param labels: region id -> anatomical label name (see :func:`locationLabelNames`), or None.
    """
    result = review.result
    descriptions = describeRegions(result.allRegions, review.caseNodes.loaded.dwi.ijkToRas, result.gridShape, result.smallRegionIds, labels)
    return {description.regionId: description for description in descriptions}


def locationLabelNames(review, labelMap: np.ndarray, names: dict[int, str]) -> dict[int, str]:
    """Region id -> name of the label covering most of the region.

    :param labelMap: int ``[k, j, i]`` on the DWI grid (e.g. a vascular-territory atlas registered to the case).
    :param names: label value -> name.
    """
    regionMap = review.result.regionMap
    return labelNames(regionMap.labels, np.asarray(labelMap)[regionMap.cropSlices], names)


def regionCaption(review, region, description: RegionDescription | None = None) -> str:
    """Caption of a region picture: what, how big, where, who drew it, and the readers' colours.

    Four lines of at most ~70 characters, e.g.::

        Region 3: A only, missed lesion: 12 voxels, 0.096 mL
        Slice 34 of 73, left side
        Drawn by reader A (R01) only; reader B (R02) missed this lesion
        sub-01_ses-01    reader A blue, reader B amber

    :param description: the region's description (computed when None).
    """
    if description is None:
        description = regionDescriptions(review)[region.regionId]
    small = " (small)" if description.small else ""
    location = locationText(description)
    author = authorText(description, review.readerIds)
    return "\n".join([f"{regionTitle(region)}{small}: {sizeText(description)}", location[:1].upper() + location[1:],
                      author[:1].upper() + author[1:], f"{review.caseId}    reader A blue, reader B amber"])


def iterRegionPictures(app, review, regions=None, layoutId: int = LAYOUT_2X2_AXIAL, tileSize=(320, 320), progress=None,
                       labels: dict | None = None):
    """Picture regions one after the other with one render window; yield each picture as soon as it is drawn.

    The layout is switched first and its slice logics created (headless use: ``app`` is the
    :class:`~AISCommonLib.mrml.headless.HeadlessApplication`).

    :param app: the headless application holding the review's scene.
    :param review: the :class:`~AISCommonLib.mrml.reviewscene.ReviewScene`.
    :param regions: the regions to picture (default :func:`picturedRegions`).
    :param layoutId: a reading layout (2x2 axial DWI/ADC/eADC/FLAIR by default).
    :param tileSize: ``(width, height)`` of each view in pixels.
    :param progress: optional ``(fraction, message)`` callable, called before each region and at the end; it may
        raise ``OperationCancelled``, which stops the pictures and releases the render window.
    :param labels: region id -> anatomical label name for the captions, or None.
    :return: a generator of ``(region, description, pixels)``, pixels uint8 RGB ``(height, width, 3)``.
    :raises RenderingError: no OpenGL context.
    """
    regions = picturedRegions(review) if regions is None else list(regions)
    setLayout(app.layoutNode, layoutId)
    app.updateSliceLogics()
    if not readingViews(app.scene, layoutId) or not regions:
        _report(progress, 1.0, f"No region of {review.caseId} to picture")
        return
    showReadsOnly(review)
    descriptions = regionDescriptions(review, labels)
    with LayoutRenderer(app.applicationLogic, review.caseNodes, layoutId, None, tileSize, REGION_FIELD_OF_VIEW_MM, CAPTION_LINES) as renderer:
        for index, region in enumerate(regions):
            _report(progress, index / len(regions), f"Picturing region {region.regionId} of {review.caseId} ({index + 1}/{len(regions)})")
            description = descriptions[region.regionId]
            yield region, description, renderer.render(region.centroidRas, regionCaption(review, region, description))
    _report(progress, 1.0, f"Pictured {len(regions)} region(s) of {review.caseId}")


def _report(progress, fraction: float, message: str) -> None:
    if progress:
        progress(fraction, message)


def renderRegion(app, review, regionId: int, layoutId: int = LAYOUT_2X2_AXIAL, tileSize=(320, 320)) -> np.ndarray:
    """Render one region (see :func:`iterRegionPictures`; for many regions use that, it sets the views up once).

    :raises InputError: no such region.
    """
    regions = [region for region in review.result.allRegions if region.regionId == int(regionId)]
    if not regions:
        raise InputError(f"Case {review.caseId} has no discordant region {regionId}.")
    pictures = list(iterRegionPictures(app, review, regions, layoutId, tileSize))
    if not pictures:
        raise InputError(f"Layout {layoutId} has no slice views to picture region {regionId} of case {review.caseId}.")
    return pictures[0][2]


def renderRegions(app, review, layoutId: int = LAYOUT_2X2_AXIAL, tileSize=(320, 320), progress=None, includeSmall: bool = True) -> dict[int, np.ndarray]:
    """Render every discordant region (see :func:`iterRegionPictures`) into memory.

    A picture of 320-pixel tiles takes about 1.4 MB: for many regions prefer :func:`iterRegionPictures` and
    write each picture as it comes (as :func:`makeReviewSnapshots` does).

    :return: region id -> picture.
    """
    regions = picturedRegions(review, includeSmall)
    return {region.regionId: pixels for region, _, pixels in iterRegionPictures(app, review, regions, layoutId, tileSize, progress)}


def makeReviewSnapshots(case, outDir, pathA, pathB, readerIds=("A", "B"), minExtentMm3=None, tileSize: int = 320, adcUnit=None,
                        progress=None, includeSmall: bool = True, labelMapPath=None, labelTablePath=None) -> dict:
    """Load a case and two reads into a headless scene and write one PNG per discordant region.

    :param case: the :class:`~AISCommonLib.core.cases.Case`.
    :param outDir: folder for ``<case>_region-<id>.png`` (created); each file is written atomically.
    :param pathA: read A (binary NIfTI on the DWI grid).
    :param pathB: read B.
    :param readerIds: pseudonymous IDs for captions.
    :param minExtentMm3: size limit of extent regions (None: the engine's default); smaller ones are marked small.
    :param tileSize: width and height of each view in pixels.
    :param adcUnit: ADC unit override (see :func:`AISCommonLib.core.sequences.loadCase`).
    :param progress: optional ``(fraction, message)`` callable; it may raise ``OperationCancelled`` (pictures
        already written stay, complete).
    :param includeSmall: also picture the regions under the size limit (default: every region).
    :param labelMapPath: optional label map on the DWI grid naming lobes or territories (e.g. a BIDS ``dseg``
        registered to the case); no atlas is assumed when None.
    :param labelTablePath: names of its labels (BIDS ``dseg.tsv``); default: the map's name with ``.tsv``, if present.
    :return: summary ``{"caseId", "readers", "dice", "concordant", "regions": [{"id", "title", "caption", "png", ...}],
        "outDir"}``.
    :raises AISError: slicer-core missing, unreadable inputs, masks or label map off the DWI grid, no OpenGL.
    """
    from ..core.agreement import AgreementParameters
    from ..core.regionlocation import loadLocationLabels
    from ..core.sequences import loadCase
    from .headless import createHeadlessApplication
    from .offscreen import writePng
    from .reviewscene import loadReviewFiles

    parameters = AgreementParameters() if minExtentMm3 is None else AgreementParameters(minExtentMm3=float(minExtentMm3))
    parameters.validate()
    _report(progress, 0.0, f"Loading {case.caseId}")
    loaded = loadCase(case, adcUnit)
    locationMap = loadLocationLabels(labelMapPath, loaded.dwi, labelTablePath) if labelMapPath else None
    app = createHeadlessApplication()
    # The pictures show the reads only: no segment per region (most of the loading time on a case with many regions).
    review = loadReviewFiles(app.scene, loaded, pathA, pathB, parameters, readerIds, regionSegments=False)
    labels = locationLabelNames(review, *locationMap) if locationMap else None
    outDir = Path(outDir)
    outDir.mkdir(parents=True, exist_ok=True)
    regions = []
    pictures = iterRegionPictures(app, review, picturedRegions(review, includeSmall), tileSize=(tileSize, tileSize), progress=progress,
                                  labels=labels)
    # PNG encoding runs in one writer thread while the next region renders (VTK releases the GIL in both); a few
    # pictures at most wait in memory, and a failed write stops the run with its own error.
    pending = deque()
    with ThreadPoolExecutor(max_workers=1) as writer:
        for region, description, pixels in pictures:
            path = outDir / f"{case.caseId}_region-{region.regionId:02d}.png"
            pending.append(writer.submit(writePng, pixels, path))
            while len(pending) > PENDING_PICTURES:
                pending.popleft().result()
            regions.append({**description.toDict(), "title": regionTitle(region), "kind": region.kind, "type": region.regionType,
                            "centroid_ras": [round(float(value), 2) for value in region.centroidRas],
                            "caption": regionCaption(review, region, description), "png": str(path)})
        while pending:
            pending.popleft().result()
    return {"caseId": case.caseId, "readers": list(review.readerIds), "dice": review.result.dice,
            "concordant": review.result.concordant, "regions": regions, "outDir": str(outDir)}
