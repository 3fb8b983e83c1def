"""Pictures of a reading layout: every view rendered offscreen at a RAS point, tiled in one render window."""

from pathlib import Path

import numpy as np

from ..core.errors import InputError
from .caseloader import SEQUENCE_NAMES
from .crosshair import jumpToRas, showCrosshair
from .layouts import layoutSequences, layoutViews, readingViews, showSequences
from .offscreen import TILE_GAP, OffscreenLayout
from .segmentation import setFillAndOutlineViews

ORIENTATION_ABBREVIATIONS = {"Axial": "ax", "Coronal": "cor", "Sagittal": "sag"}


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


class LayoutRenderer:
    """Pictures of a reading layout at any number of RAS points, from one offscreen render window.

    Setting up the views (fitting, labels, orientation letters, displayable managers, the OpenGL context)
    happens once here; :meth:`render` then only moves the linked views and draws one frame, so a case's
    regions are pictured at the cost of a frame each. The layout must be the current one and its views
    must have slice logics (in Slicer the layout manager provides them; headless,
    :meth:`~AISCommonLib.mrml.headless.HeadlessApplication.updateSliceLogics`). The segmentation, if given,
    is filled on DWI views and outlined on the others. Use it as a context manager, or call :meth:`close`.

    :param applicationLogic: the application logic owning the slice logics.
    :param caseNodes: :class:`~AISCommonLib.mrml.caseloader.CaseNodes` of the case.
    :param layoutId: one of the reading layouts.
    :param segmentationNode: the segmentation to draw, or None (e.g. when the caller set up its display itself).
    :param tileSize: ``(width, height)`` of each view in pixels.
    :param fieldOfViewMm: width shown in each view (mm), e.g. to zoom on a small region; None keeps
        the views fitted to the DWI.
    :param captionLines: lines of the caption band under the tiles; 0 puts the caption in the bottom-left
        corner of the first tile instead.
    :raises RenderingError: no OpenGL context.
    """

    def __init__(self, applicationLogic, caseNodes, layoutId: int, segmentationNode=None, tileSize=(320, 320),
                 fieldOfViewMm: float | None = None, captionLines: int = 0):
        scene = applicationLogic.GetMRMLScene()
        self.scene = scene
        tileSize = (int(tileSize[0]), int(tileSize[1]))
        shown = readingViews(scene, layoutId)
        self.shown = shown
        for _, sliceNode in shown:
            applicationLogic.GetSliceLogic(sliceNode).ResizeSliceNode(*tileSize)
        showSequences(applicationLogic, layoutId, caseNodes.volumeNodes)
        showCrosshair(scene)
        if segmentationNode is not None:
            dwiViews = [node for view, node in shown if view.sequence == "dwi"]
            otherViews = [node for view, node in shown if view.sequence != "dwi"]
            setFillAndOutlineViews(scene, segmentationNode, dwiViews, otherViews)
        self.offscreen = None
        self.caption = None
        if not shown:
            return
        multiplanar = len({view.orientation for view, _ in shown}) > 1
        names = {view.layoutName: node for view, node in shown}
        tiles, tileViews = [], []
        for rowIndex, row in enumerate(layoutViews(layoutId, layoutSequences(scene, layoutId))):
            for columnIndex, view in enumerate(row):
                if view.layoutName in names:
                    tiles.append((applicationLogic.GetSliceLogic(names[view.layoutName]), rowIndex, columnIndex))
                    tileViews.append((view, names[view.layoutName]))
        # The caption band's font follows the picture's width so a line of ~70 characters fits.
        width = (max(column for _, _, column in tiles) + 1) * (tileSize[0] + TILE_GAP) - TILE_GAP
        self.captionFontSize = max(9, min(15, width // 46))
        captionHeight = captionLines * (self.captionFontSize + 5) + 8 if captionLines else 0
        self.offscreen = OffscreenLayout(applicationLogic, tiles, tileSize, captionHeight)
        try:
            for index, (view, sliceNode) in enumerate(tileViews):
                self.offscreen.addText(index, tileLabel(view, caseNodes, multiplanar), position=(6, 6), alignTop=True)
                self.offscreen.addEdgeLetters(index, orientationLetters(sliceNode))
            if captionLines:
                self.caption = self.offscreen.addText(None, "", position=(8, 4), fontSize=self.captionFontSize, color=(0.9, 0.9, 0.9),
                                                      alignTop=True)
            else:
                self.caption = self.offscreen.addText(0, "", position=(6, 24), fontSize=12, color=(0.85, 0.85, 0.85))
            if fieldOfViewMm:
                for _, sliceNode in shown:
                    depth = sliceNode.GetFieldOfView()[2]
                    sliceNode.SetFieldOfView(fieldOfViewMm, fieldOfViewMm * tileSize[1] / tileSize[0], depth)
        except BaseException:
            self.close()
            raise

    def render(self, ras, caption: str | None = None) -> np.ndarray:
        """Centre every view on a RAS point and draw the picture.

        :param ras: centre ``(r, a, s)`` in mm.
        :param caption: caption text (lines separated by ``\\n``), or None for none.
        :return: uint8 RGB picture ``(height, width, 3)``, tiles in layout order, the caption band (if any) below.
        """
        if self.offscreen is None:
            raise InputError("The layout has no slice views to picture; set the layout and create its slice logics first.")
        self.caption.SetInput(caption or "")
        # Jump after the views exist: resizing a slice node re-centres it.
        jumpToRas(self.scene, ras, centered=True)
        return self.offscreen.render()

    def close(self) -> None:
        """Release the render window (the views and nodes stay as they are)."""
        if self.offscreen is not None:
            self.offscreen.finalize()
            self.offscreen = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def renderLayout(applicationLogic, caseNodes, layoutId: int, ras, segmentationNode=None, tileSize=(320, 320),
                 caption: str | None = None, fieldOfViewMm: float | None = None) -> np.ndarray:
    """Render every view of a reading layout centred on a RAS point, each on its own sequence (one picture).

    For many pictures of one case build a :class:`LayoutRenderer` once instead.

    :param applicationLogic: the application logic owning the slice logics.
    :param caseNodes: :class:`~AISCommonLib.mrml.caseloader.CaseNodes` of the case.
    :param layoutId: one of the reading layouts (the current one, its views with slice logics).
    :param ras: centre ``(r, a, s)`` in mm.
    :param segmentationNode: the segmentation to draw, or None.
    :param tileSize: ``(width, height)`` of each view in pixels.
    :param caption: text for the bottom-left corner of the first tile (case, point), or None.
    :param fieldOfViewMm: width shown in each view (mm); None keeps the views fitted to the DWI.
    :return: uint8 RGB picture ``(height, width, 3)``, tiles in layout order.
    :raises RenderingError: no OpenGL context.
    """
    with LayoutRenderer(applicationLogic, caseNodes, layoutId, segmentationNode, tileSize, fieldOfViewMm) as renderer:
        return renderer.render(ras, caption)


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
