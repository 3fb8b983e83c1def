"""Pictures of the discordant regions: the four sequences centred on each region, both reads outlined in
their colours (reader A blue, reader B amber), one picture per region, for the acceptance report."""

from pathlib import Path

import numpy as np

from ..core.adjudication import regionTitle
from .layouts import LAYOUT_2X2_AXIAL, readingViews, setLayout
from .reviewscene import OUTLINE_THICKNESS, ReviewScene
from .snapshot import renderLayout

#: Width shown around a region (mm): its neighbourhood, large enough to see both reads' outlines in context.
REGION_FIELD_OF_VIEW_MM = 90.0


def showReadsOnly(review: ReviewScene, outlineThickness: int = OUTLINE_THICKNESS) -> None:
    """Show both reads as outlines only in every view; hide the region and final segmentations."""
    readsDisplay = review.readsNode.GetDisplayNode()
    readsDisplay.RemoveAllViewNodeIDs()
    readsDisplay.SetVisibility(True)
    readsDisplay.SetVisibility2DFill(False)
    readsDisplay.SetVisibility2DOutline(True)
    readsDisplay.SetSliceIntersectionThickness(outlineThickness)
    for node in (review.regionsNode, review.finalNode):
        node.GetDisplayNode().SetVisibility(False)


def regionCaption(review: ReviewScene, region) -> str:
    """Caption of a region picture: case, region, volume, readers' colours."""
    readerA, readerB = review.readerIds
    # Two short lines: a 320-pixel tile fits about 45 characters.
    return f"{regionTitle(region)}, {region.volumeMl:.2f} ml\n{review.caseId}  A={readerA} blue  B={readerB} amber"


def renderRegion(applicationLogic, review: ReviewScene, regionId: int, layoutId: int = LAYOUT_2X2_AXIAL, tileSize=(320, 320)) -> np.ndarray:
    """Render one region: every view of the layout centred on the region's centroid, both reads outlined.

    The layout must be the current one and its views must have slice logics (headless:
    :meth:`~AISCommonLib.mrml.headless.HeadlessApplication.updateSliceLogics`).

    :param applicationLogic: the application logic owning the slice logics.
    :param review: the review scene.
    :param regionId: a region shown for review.
    :param layoutId: a reading layout (2x2 axial DWI/ADC/eADC/FLAIR by default).
    :param tileSize: ``(width, height)`` of each view in pixels.
    :return: uint8 RGB picture ``(height, width, 3)``.
    :raises InputError: no such region.
    :raises RenderingError: no OpenGL context.
    """
    region = review.region(regionId)
    showReadsOnly(review)
    return renderLayout(applicationLogic, review.caseNodes, layoutId, region.centroidRas, None, tileSize, regionCaption(review, region),
                        fieldOfViewMm=REGION_FIELD_OF_VIEW_MM)


def renderRegions(app, review: ReviewScene, layoutId: int = LAYOUT_2X2_AXIAL, tileSize=(320, 320), progress=None) -> dict[int, np.ndarray]:
    """Render every region shown for review (see :func:`renderRegion`), switching the layout first.

    :param app: the :class:`~AISCommonLib.mrml.headless.HeadlessApplication` (headless use only: it
        creates the slice logics itself).
    :param progress: optional ``(fraction, message)`` callable; it may raise ``OperationCancelled``.
    :return: region id -> picture.
    """
    setLayout(app.layoutNode, layoutId)
    app.updateSliceLogics()
    if not readingViews(app.scene, layoutId):
        return {}
    pictures = {}
    for index, regionId in enumerate(review.regionIds):
        if progress:
            progress(index / max(len(review.regionIds), 1), f"Rendering region {regionId} of {review.caseId}")
        pictures[regionId] = renderRegion(app.applicationLogic, review, regionId, layoutId, tileSize)
    return pictures


def makeReviewSnapshots(case, outDir, pathA, pathB, readerIds=("A", "B"), minExtentMm3=None, tileSize: int = 320, adcUnit=None,
                        progress=None) -> dict:
    """Load a case and two reads into a headless scene and write one PNG per discordant region.

    :param case: the :class:`~AISCommonLib.core.cases.Case`.
    :param outDir: folder for ``<case>_region-<id>.png`` (created).
    :param pathA: read A (binary NIfTI on the DWI grid).
    :param pathB: read B.
    :param readerIds: pseudonymous IDs for captions.
    :param minExtentMm3: size limit of extent regions (None: the engine's default).
    :return: summary ``{"caseId", "readers", "dice", "regions": [{"id", "title", "png", ...}], "outDir"}``.
    :raises AISError: slicer-core missing, unreadable inputs, masks off the DWI grid, no OpenGL.
    """
    from ..core.agreement import AgreementParameters
    from ..core.sequences import loadCase
    from .headless import createHeadlessApplication
    from .offscreen import writePng
    from .reviewscene import loadReviewFiles

    parameters = AgreementParameters() if minExtentMm3 is None else AgreementParameters(minExtentMm3=float(minExtentMm3))
    parameters.validate()
    loaded = loadCase(case, adcUnit)
    app = createHeadlessApplication()
    review = loadReviewFiles(app.scene, loaded, pathA, pathB, parameters, readerIds)
    pictures = renderRegions(app, review, tileSize=(tileSize, tileSize), progress=progress)
    outDir = Path(outDir)
    outDir.mkdir(parents=True, exist_ok=True)
    regions = []
    for regionId, pixels in pictures.items():
        region = review.region(regionId)
        path = outDir / f"{case.caseId}_region-{regionId:02d}.png"
        writePng(pixels, path)
        regions.append({"id": regionId, "title": regionTitle(region), "kind": region.kind, "type": region.regionType,
                        "volume_ml": region.volumeMl, "centroid_ras": [round(float(value), 2) for value in region.centroidRas],
                        "png": str(path)})
    return {"caseId": case.caseId, "readers": list(review.readerIds), "dice": review.result.dice,
            "concordant": review.result.concordant, "regions": regions, "outDir": str(outDir)}
