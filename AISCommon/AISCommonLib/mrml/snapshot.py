"""Pictures of a reading layout: every view rendered offscreen at one RAS point, tiled into one image."""

from pathlib import Path

import numpy as np

from .caseloader import SEQUENCE_NAMES
from .crosshair import jumpToRas, showCrosshair
from .layouts import layoutSequences, layoutViews, readingViews, showSequences
from .offscreen import OffscreenSliceView
from .segmentation import setFillAndOutlineViews

ORIENTATION_ABBREVIATIONS = {"Axial": "ax", "Coronal": "cor", "Sagittal": "sag"}
#: Pixels between tiles (dark grey).
TILE_GAP = 4
GAP_VALUE = 40


def tileLabel(view, caseNodes, multiplanar: bool) -> str:
    """The text in a tile's corner: sequence name, orientation in multiplanar layouts, ADC unit."""
    label = SEQUENCE_NAMES[view.sequence]
    if multiplanar:
        label += f" {ORIENTATION_ABBREVIATIONS[view.orientation]}"  # room for the ADC unit in small tiles
    if view.sequence == "adc":
        label += f" ({caseNodes.adcUnit.label})"
    return label


#: Patient direction letters of the RAS axes, negative then positive.
_AXIS_LETTERS = (("L", "R"), ("P", "A"), ("I", "S"))


def orientationLetters(sliceNode) -> dict:
    """The patient direction at each edge of a slice view, from its slice-to-RAS matrix.

    In Slicer's default axial view the screen's left is the patient's right (``R``), the top anterior (``A``).

    :return: ``{"left", "right", "top", "bottom"}`` -> ``R``/``L``/``A``/``P``/``S``/``I``.
    """
    matrix = sliceNode.GetSliceToRAS()
    rows = np.array([[matrix.GetElement(row, column) for column in range(3)] for row in range(3)])

    def letter(direction) -> str:
        axis = int(np.argmax(np.abs(direction)))
        return _AXIS_LETTERS[axis][int(direction[axis] > 0)]

    right, up = rows[:, 0], rows[:, 1]
    return {"left": letter(-right), "right": letter(right), "top": letter(up), "bottom": letter(-up)}


def assembleTiles(rows: list[list[np.ndarray]], gap: int = TILE_GAP, gapValue: int = GAP_VALUE) -> np.ndarray:
    """Tile RGB pictures (uint8 ``(height, width, 3)``, all the same size) row by row with a gap.

    :return: one uint8 picture.
    """
    height, width, channels = rows[0][0].shape
    columns = max(len(row) for row in rows)
    montage = np.full((len(rows) * height + (len(rows) - 1) * gap, columns * width + (columns - 1) * gap, channels), gapValue, dtype=np.uint8)
    for rowIndex, row in enumerate(rows):
        for columnIndex, tile in enumerate(row):
            top, left = rowIndex * (height + gap), columnIndex * (width + gap)
            montage[top:top + height, left:left + width] = tile
    return montage


def renderLayout(applicationLogic, caseNodes, layoutId: int, ras, segmentationNode=None, tileSize=(320, 320),
                 caption: str | None = None, fieldOfViewMm: float | None = None) -> np.ndarray:
    """Render every view of a reading layout centred on a RAS point, each on its own sequence.

    The layout must be the current one and its views must have slice logics (in Slicer the layout
    manager provides them; headless, :meth:`~AISCommonLib.mrml.headless.HeadlessApplication.updateSliceLogics`).
    The segmentation, if given, is filled on DWI views and outlined on the others.

    :param applicationLogic: the application logic owning the slice logics.
    :param caseNodes: :class:`~AISCommonLib.mrml.caseloader.CaseNodes` of the case.
    :param layoutId: one of the reading layouts.
    :param ras: centre ``(r, a, s)`` in mm.
    :param segmentationNode: the segmentation to draw, or None.
    :param tileSize: ``(width, height)`` of each view in pixels.
    :param caption: text for the bottom-left corner of the first tile (case, point), or None.
    :param fieldOfViewMm: width shown in each view (mm), e.g. to zoom on a small region; None keeps
        the views fitted to the DWI.
    :return: uint8 RGB picture ``(height, width, 3)``, tiles in layout order.
    :raises RenderingError: no OpenGL context.
    """
    scene = applicationLogic.GetMRMLScene()
    shown = readingViews(scene, layoutId)
    for _, sliceNode in shown:
        applicationLogic.GetSliceLogic(sliceNode).ResizeSliceNode(*tileSize)
    showSequences(applicationLogic, layoutId, caseNodes.volumeNodes)
    showCrosshair(scene)
    if segmentationNode is not None:
        dwiViews = [node for view, node in shown if view.sequence == "dwi"]
        otherViews = [node for view, node in shown if view.sequence != "dwi"]
        setFillAndOutlineViews(scene, segmentationNode, dwiViews, otherViews)
    multiplanar = len({view.orientation for view, _ in shown}) > 1
    offscreenViews = {}
    try:
        for view, sliceNode in shown:
            offscreen = OffscreenSliceView(applicationLogic.GetSliceLogic(sliceNode), applicationLogic, tileSize)
            offscreen.addText(tileLabel(view, caseNodes, multiplanar), position=(6, 6), alignTop=True)
            offscreen.addEdgeLetters(orientationLetters(sliceNode))
            offscreenViews[view.layoutName] = offscreen
        if caption and shown:
            offscreenViews[shown[0][0].layoutName].addText(caption, position=(6, 24), fontSize=12, color=(0.85, 0.85, 0.85))
        if fieldOfViewMm:
            for _, sliceNode in shown:
                depth = sliceNode.GetFieldOfView()[2]
                sliceNode.SetFieldOfView(fieldOfViewMm, fieldOfViewMm * tileSize[1] / tileSize[0], depth)
        # Jump after the views exist: resizing a slice node re-centres it.
        jumpToRas(scene, ras, centered=True)
        tiles = {name: view.render() for name, view in offscreenViews.items()}
    finally:
        for offscreen in offscreenViews.values():
            offscreen.finalize()
    rows = [[tiles[view.layoutName] for view in row if view.layoutName in tiles] for row in layoutViews(layoutId, layoutSequences(scene, layoutId))]
    return assembleTiles([row for row in rows if row])


def renderCaseSnapshot(case, out, maskPath=None, layout: str = "2x2", ras=None, tileSize: int = 320, adcUnit=None) -> dict:
    """Load a case into a headless scene, render its reading layout and write the PNG.

    :param case: the :class:`~AISCommonLib.core.cases.Case`.
    :param out: PNG path.
    :param maskPath: mask to outline (on the DWI grid); None outlines the ADC seed.
    :param layout: ``2x2``, ``4x3`` or ``dwi-adc``.
    :param ras: centre ``(r, a, s)`` in mm; None for the largest lesion (mask, else seed), else the brain's centre.
    :return: summary (case, centre, outlined mask, picture size).
    :raises AISError: slicer-core missing, unreadable inputs, mask off the DWI grid, no OpenGL.
    """
    from ..core.image import voxelToRas
    from ..core.seeding import seedLesion
    from ..core.sequences import loadCase
    from . import caseloader, layouts, lesionnav, offscreen, segmentation
    from .headless import createHeadlessApplication

    loaded = loadCase(case, adcUnit)
    app = createHeadlessApplication()
    caseNodes = caseloader.addCaseToScene(app.scene, loaded)
    segmentationNode = segmentation.createReaderSegmentation(app.scene, caseNodes.dwiNode)
    if maskPath:
        segmentation.importMask(segmentationNode, maskPath, caseNodes.dwiNode)
        outlined = str(maskPath)
    else:
        segmentation.seedSegment(segmentationNode, seedLesion(loaded), caseNodes.dwiNode)
        outlined = "ADC seed"
    mask = segmentation.segmentMask(segmentationNode, caseNodes.dwiNode)
    if ras is None:
        largest = lesionnav.LesionNavigator(mask, loaded.dwi.ijkToRas).next()
        if largest is not None:
            ras = largest.centroidRas
        else:
            ras = voxelToRas(loaded.dwi.ijkToRas, np.argwhere(loaded.brainMask).mean(axis=0) if loaded.brainMask.any()
                             else (np.array(loaded.dwi.gridShape) - 1) / 2.0)
    ras = tuple(round(float(value), 2) for value in ras)
    layoutId = layouts.layoutIdByName(layout)
    layouts.setLayout(app.layoutNode, layoutId, caseNodes.volumeNodes)  # T1w/T2w get tiles when the case has them
    app.updateSliceLogics()
    caption = f"{case.caseId}  R {ras[0]:.0f} A {ras[1]:.0f} S {ras[2]:.0f}"
    pixels = renderLayout(app.applicationLogic, caseNodes, layoutId, ras, segmentationNode, (tileSize, tileSize), caption)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    offscreen.writePng(pixels, out)
    return {"caseId": case.caseId, "out": str(out), "layout": layout, "centerRas": list(ras), "outlined": outlined,
            "lesionVoxels": int(mask.sum()), "size": [int(pixels.shape[1]), int(pixels.shape[0])]}
