"""Offscreen slice views: the real slice logic and 2D displayable managers drawn into a VTK render window.

Slicer's Qt slice widget draws the slice image with CTK's lightbox manager, which ``slicer-core`` lacks;
here a 2D image actor fed by the slice logic's image-data connection takes its place. Everything else
(segmentation outlines and fills, crosshair) is drawn by Slicer's own displayable managers. Rendering
needs an OpenGL context: set ``VTK_DEFAULT_OPENGL_WINDOW=vtkEGLRenderWindow`` (Mesa EGL, no X server)
before the first render window is created.
"""

import contextlib
from pathlib import Path

import numpy as np
import slicer
import vtk
from vtk.util import numpy_support

from ..core.errors import AISError

#: Displayable managers of the offscreen views (Slicer registers more in its Qt views).
DISPLAYABLE_MANAGERS = (
    "vtkMRMLSegmentationsDisplayableManager2D",
    "vtkMRMLCrosshairDisplayableManager",
)


class RenderingError(AISError):
    """Offscreen rendering is not possible on this machine (no OpenGL context)."""


#: zlib level of the PNG pictures: 1 writes a slice picture several times faster than VTK's default 5 for a
#: slightly larger file (measured in Testing/benchmarks/bench_review_snapshot.py).
PNG_COMPRESSION_LEVEL = 1
#: Pixels between tiles of a multi-view picture, and their grey level.
TILE_GAP = 4
GAP_VALUE = 40


class OffscreenLayout:
    """Several slice views drawn into one offscreen render window that is reused for every picture.

    Each tile is a renderer in its own viewport of the window, holding the slice image and the slice
    view's displayable managers; an optional caption band runs under the tiles. Creating the window,
    its OpenGL context and the displayable managers is the costly part, so build one layout and call
    :meth:`render` once per picture after moving the slice nodes. Multisampling is off (as in Slicer's
    slice views): on a software OpenGL it costs more than everything else in the frame.

    :param applicationLogic: the application logic the displayable managers observe.
    :param tiles: ``(slice logic, row, column)`` per view; rows count from the top.
    :param tileSize: ``(width, height)`` of each view in pixels.
    :param captionHeight: height of the caption band under the tiles in pixels (0: none).
    :raises RenderingError: no OpenGL context could be made.
    """

    def __init__(self, applicationLogic, tiles, tileSize=(320, 320), captionHeight: int = 0, gap: int = TILE_GAP, gapValue: int = GAP_VALUE):
        self.tileSize = (int(tileSize[0]), int(tileSize[1]))
        self.gap = int(gap)
        self.captionHeight = int(captionHeight)
        rows = max(row for _, row, _ in tiles) + 1
        columns = max(column for _, _, column in tiles) + 1
        width = columns * self.tileSize[0] + (columns - 1) * self.gap
        tilesHeight = rows * self.tileSize[1] + (rows - 1) * self.gap
        height = tilesHeight + (self.captionHeight + self.gap if self.captionHeight else 0)
        self.size = (width, height)
        self.renderWindow = vtk.vtkRenderWindow()
        self.renderWindow.SetOffScreenRendering(1)
        self.renderWindow.SetMultiSamples(0)
        self.renderWindow.SetSize(width, height)
        if not self.renderWindow.SupportsOpenGL():
            raise RenderingError(f"No OpenGL context for offscreen rendering ({self.renderWindow.GetClassName()}); install Mesa EGL "
                                 "(libegl1, libegl-mesa0, libgl1-mesa-dri) and set VTK_DEFAULT_OPENGL_WINDOW=vtkEGLRenderWindow.")
        # The first renderer covers the whole window: the gaps between tiles show its grey.
        self.background = vtk.vtkRenderer()
        self.background.SetBackground(*(gapValue / 255.0,) * 3)
        self.renderWindow.AddRenderer(self.background)
        # Displayable managers expect an interactor, even when nobody interacts.
        self.interactor = vtk.vtkRenderWindowInteractor()
        self.interactor.SetRenderWindow(self.renderWindow)
        factory = slicer.vtkMRMLSliceViewDisplayableManagerFactory.GetInstance()
        factory.SetMRMLApplicationLogic(applicationLogic)
        for name in DISPLAYABLE_MANAGERS:
            if not factory.IsDisplayableManagerRegistered(name):
                factory.RegisterDisplayableManager(name)
        self.views = []
        for sliceLogic, row, column in tiles:
            left = column * (self.tileSize[0] + self.gap)
            bottom = height - (row + 1) * self.tileSize[1] - row * self.gap
            renderer = self._addRenderer(left, bottom, self.tileSize[0], self.tileSize[1], (0.0, 0.0, 0.0))
            renderer.GetActiveCamera().ParallelProjectionOn()
            # The slice logic's output is already windowed RGBA: show it 1:1.
            imageMapper = vtk.vtkImageMapper()
            imageMapper.SetColorWindow(255.0)
            imageMapper.SetColorLevel(127.5)
            imageActor = vtk.vtkActor2D()
            imageActor.SetMapper(imageMapper)
            renderer.AddViewProp(imageActor)
            displayableManagers = slicer.vtkMRMLDisplayableManagerGroup()
            displayableManagers.Initialize(factory, renderer)
            displayableManagers.SetMRMLDisplayableNode(sliceLogic.GetSliceNode())
            sliceLogic.ResizeSliceNode(*self.tileSize)
            self.views.append(_TileView(sliceLogic, renderer, imageMapper, displayableManagers))
        self.captionRenderer = None
        if self.captionHeight:
            self.captionRenderer = self._addRenderer(0, 0, width, self.captionHeight, (0.08, 0.08, 0.08))
        self.textActors = []
        self.pixels = vtk.vtkUnsignedCharArray()

    def _addRenderer(self, left: int, bottom: int, width: int, height: int, color):
        windowWidth, windowHeight = self.size
        renderer = vtk.vtkRenderer()
        renderer.SetViewport(left / windowWidth, bottom / windowHeight, (left + width) / windowWidth, (bottom + height) / windowHeight)
        renderer.SetBackground(*color)
        self.renderWindow.AddRenderer(renderer)
        return renderer

    def _rendererAndSize(self, tile: int | None):
        if tile is None:
            if self.captionRenderer is None:
                raise ValueError("This layout has no caption band.")
            return self.captionRenderer, (self.size[0], self.captionHeight)
        return self.views[tile].renderer, self.tileSize

    def addText(self, tile: int | None, text: str, position=(6, 6), fontSize: int = 16, color=(1.0, 1.0, 0.4), alignTop: bool = False):
        """Draw text in a tile (or, with ``tile=None``, in the caption band); change it later with ``SetInput``.

        :param tile: index of the tile (in the order given), or None for the caption band.
        :param position: pixels from the bottom-left corner, or from the top-left with ``alignTop``.
        :return: the ``vtkTextActor``.
        """
        renderer, (_, height) = self._rendererAndSize(tile)
        actor = vtk.vtkTextActor()
        actor.SetInput(text)
        prop = actor.GetTextProperty()
        prop.SetFontSize(fontSize)
        prop.SetColor(*color)
        prop.SetShadow(True)
        prop.BoldOn()
        x, y = position
        if alignTop:
            prop.SetVerticalJustificationToTop()
            y = height - y
        _placeInViewport(actor, x, y)
        renderer.AddViewProp(actor)
        self.textActors.append(actor)
        return actor

    def addEdgeLetters(self, tile: int, letters: dict, fontSize: int = 15, color=(0.55, 0.9, 1.0)) -> None:
        """Write a letter at the middle of each edge of a tile: ``{"left": "R", "right": "L", "top": "A", "bottom": "P"}``."""
        renderer = self.views[tile].renderer
        width, height = self.tileSize
        # Beside the middle of each edge, not on it: the crosshair runs through the middle of a centred view. The
        # top letter sits under the sequence label's line.
        aside = 14
        places = {"left": (4, height // 2 + aside, "left", "center"), "right": (width - 4, height // 2 + aside, "right", "center"),
                  "top": (width // 2 + aside, height - 26, "center", "top"), "bottom": (width // 2 + aside, 4, "center", "bottom")}
        for edge, letter in letters.items():
            x, y, horizontal, vertical = places[edge]
            actor = vtk.vtkTextActor()
            actor.SetInput(letter)
            prop = actor.GetTextProperty()
            prop.SetFontSize(fontSize)
            prop.SetColor(*color)
            prop.SetShadow(True)
            prop.BoldOn()
            {"left": prop.SetJustificationToLeft, "right": prop.SetJustificationToRight, "center": prop.SetJustificationToCentered}[horizontal]()
            {"top": prop.SetVerticalJustificationToTop, "bottom": prop.SetVerticalJustificationToBottom,
             "center": prop.SetVerticalJustificationToCentered}[vertical]()
            _placeInViewport(actor, x, y)
            renderer.AddViewProp(actor)
            self.textActors.append(actor)

    def render(self) -> np.ndarray:
        """Render every tile as the slice nodes are now, in one frame.

        :return: RGB pixels, uint8 array ``(height, width, 3)``, first row at the top of the picture (a new array).
        """
        for view in self.views:
            # The connection changes when a layer's volume changes; setting it is cheap.
            view.imageMapper.SetInputConnection(view.sliceLogic.GetImageDataConnection())
        self.renderWindow.Render()
        width, height = self.size
        # Read the frame just drawn (front buffer after the swap): a window-to-image filter would render it a second time.
        self.renderWindow.GetPixelData(0, 0, width - 1, height - 1, 1, self.pixels, 0)
        pixels = numpy_support.vtk_to_numpy(self.pixels).reshape(height, width, 3)
        return np.ascontiguousarray(pixels[::-1])

    def finalize(self) -> None:
        """Detach the displayable managers and release the render window's OpenGL resources."""
        for view in self.views:
            view.displayableManagers.SetMRMLDisplayableNode(None)
        self.views = []
        self.renderWindow.Finalize()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.finalize()
        return False


def _placeInViewport(actor, x, y) -> None:
    """Place a 2D actor in pixels from its renderer's bottom-left corner (display coordinates would be the window's)."""
    coordinate = actor.GetPositionCoordinate()
    coordinate.SetCoordinateSystemToViewport()
    coordinate.SetValue(int(x), int(y))


class _TileView:
    """The objects of one tile of an :class:`OffscreenLayout`."""

    def __init__(self, sliceLogic, renderer, imageMapper, displayableManagers):
        self.sliceLogic = sliceLogic
        self.renderer = renderer
        self.imageMapper = imageMapper
        self.displayableManagers = displayableManagers


@contextlib.contextmanager
def singleThreadedFilters():
    """Run VTK's threaded image filters in the calling thread inside the block; the process-wide limit is restored after.

    A slice view's filters (reslicing, window/level, colour mapping, segmentation outlines) work on one
    320 x 320 slice per frame: ``vtkMultiThreader`` starts and joins threads for every filter of every frame,
    which costs more than it saves, most of all on a busy machine or with a second picture process. Measured on
    180 region pictures of a real case (2 vCPUs, load ~2.7 from other jobs): 6.6 s instead of 8.6-9.2 s, and
    8 % less CPU. The pixels are the same (each output pixel is computed alone either way).
    """
    previous = vtk.vtkMultiThreader.GetGlobalMaximumNumberOfThreads()
    vtk.vtkMultiThreader.SetGlobalMaximumNumberOfThreads(1)
    try:
        yield
    finally:
        vtk.vtkMultiThreader.SetGlobalMaximumNumberOfThreads(previous)


def writePng(pixels: np.ndarray, path, compressionLevel: int = PNG_COMPRESSION_LEVEL) -> None:
    """Write RGB pixels (uint8 ``(height, width, 3)``, top row first) as a PNG file, atomically.

    :param compressionLevel: zlib level 0-9 (see :data:`PNG_COMPRESSION_LEVEL`).
    :raises AISError: the file could not be written (nothing is left behind).
    """
    from ..core.atomicio import atomicWritePath

    pixels = np.ascontiguousarray(np.asarray(pixels, dtype=np.uint8)[::-1])
    height, width, channels = pixels.shape
    image = vtk.vtkImageData()
    image.SetDimensions(width, height, 1)
    image.GetPointData().SetScalars(numpy_support.numpy_to_vtk(pixels.reshape(-1, channels), deep=False))
    writer = vtk.vtkPNGWriter()
    writer.SetCompressionLevel(int(compressionLevel))
    writer.SetInputData(image)
    with atomicWritePath(Path(path)) as temporaryPath:
        writer.SetFileName(str(temporaryPath))
        writer.Write()
        if writer.GetErrorCode():
            raise AISError(f"Could not write the picture '{path}' (VTK error code {writer.GetErrorCode()}).")
