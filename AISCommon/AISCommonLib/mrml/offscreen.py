"""Offscreen slice views: the real slice logic and 2D displayable managers drawn into a VTK render window.

Slicer's Qt slice widget draws the slice image with CTK's lightbox manager, which ``slicer-core`` lacks;
here a 2D image actor fed by the slice logic's image-data connection takes its place. Everything else
(segmentation outlines and fills, crosshair) is drawn by Slicer's own displayable managers. Rendering
needs an OpenGL context: set ``VTK_DEFAULT_OPENGL_WINDOW=vtkEGLRenderWindow`` (Mesa EGL, no X server)
before the first render window is created.
"""

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


class OffscreenSliceView:
    """One slice view rendered offscreen.

    :param sliceLogic: the view's ``vtkMRMLSliceLogic`` (its slice node sets what is shown).
    :param applicationLogic: the application logic the displayable managers observe.
    :param size: ``(width, height)`` in pixels.
    """

    def __init__(self, sliceLogic, applicationLogic, size=(320, 320)):
        self.sliceLogic = sliceLogic
        self.size = (int(size[0]), int(size[1]))
        self.renderWindow = vtk.vtkRenderWindow()
        self.renderWindow.SetOffScreenRendering(1)
        self.renderWindow.SetSize(*self.size)
        self.renderer = vtk.vtkRenderer()
        self.renderer.SetBackground(0.0, 0.0, 0.0)
        self.renderer.GetActiveCamera().ParallelProjectionOn()
        self.renderWindow.AddRenderer(self.renderer)
        # Displayable managers expect an interactor, even when nobody interacts.
        self.interactor = vtk.vtkRenderWindowInteractor()
        self.interactor.SetRenderWindow(self.renderWindow)
        # The slice logic's output is already windowed RGBA: show it 1:1.
        self.imageMapper = vtk.vtkImageMapper()
        self.imageMapper.SetColorWindow(255.0)
        self.imageMapper.SetColorLevel(127.5)
        self.imageActor = vtk.vtkActor2D()
        self.imageActor.SetMapper(self.imageMapper)
        self.renderer.AddViewProp(self.imageActor)
        factory = slicer.vtkMRMLSliceViewDisplayableManagerFactory.GetInstance()
        factory.SetMRMLApplicationLogic(applicationLogic)
        for name in DISPLAYABLE_MANAGERS:
            if not factory.IsDisplayableManagerRegistered(name):
                factory.RegisterDisplayableManager(name)
        self.displayableManagers = slicer.vtkMRMLDisplayableManagerGroup()
        self.displayableManagers.Initialize(factory, self.renderer)
        self.displayableManagers.SetMRMLDisplayableNode(sliceLogic.GetSliceNode())
        sliceLogic.ResizeSliceNode(*self.size)
        self.textActors = []

    def addText(self, text: str, position=(6, 6), fontSize: int = 16, color=(1.0, 1.0, 0.4), alignTop: bool = False) -> None:
        """Draw text in the view (pixels from the bottom-left corner, or from the top-left with ``alignTop``)."""
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
            y = self.size[1] - y
        actor.SetDisplayPosition(int(x), int(y))
        self.renderer.AddViewProp(actor)
        self.textActors.append(actor)

    def addEdgeLetters(self, letters: dict, fontSize: int = 15, color=(0.55, 0.9, 1.0)) -> None:
        """Write a letter at the middle of each edge of the view: ``{"left": "R", "right": "L", "top": "A", "bottom": "P"}``."""
        width, height = self.size
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
            actor.SetDisplayPosition(int(x), int(y))
            self.renderer.AddViewProp(actor)
            self.textActors.append(actor)

    def render(self) -> np.ndarray:
        """Render the view.

        :return: RGB pixels, uint8 array ``(height, width, 3)``, first row at the top of the picture.
        :raises RenderingError: no OpenGL context could be made.
        """
        if not self.renderWindow.SupportsOpenGL():
            raise RenderingError(f"No OpenGL context for offscreen rendering ({self.renderWindow.GetClassName()}); install Mesa EGL "
                                 "(libegl1, libegl-mesa0, libgl1-mesa-dri) and set VTK_DEFAULT_OPENGL_WINDOW=vtkEGLRenderWindow.")
        self.sliceLogic.Modified()
        self.imageMapper.SetInputConnection(self.sliceLogic.GetImageDataConnection())
        self.renderWindow.Render()
        # The second render picks up what displayable managers requested during the first.
        self.renderWindow.Render()
        capture = vtk.vtkWindowToImageFilter()
        capture.SetInput(self.renderWindow)
        capture.SetInputBufferTypeToRGB()
        capture.ReadFrontBufferOff()
        capture.Update()
        image = capture.GetOutput()
        width, height, _ = image.GetDimensions()
        pixels = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(height, width, -1)
        return np.ascontiguousarray(pixels[::-1, :, :3])

    def finalize(self) -> None:
        """Release the render window's OpenGL resources."""
        self.displayableManagers.SetMRMLDisplayableNode(None)
        self.renderWindow.Finalize()


def writePng(pixels: np.ndarray, path) -> None:
    """Write RGB pixels (uint8 ``(height, width, 3)``, top row first) as a PNG file.

    :raises AISError: the file could not be written.
    """
    pixels = np.ascontiguousarray(np.asarray(pixels, dtype=np.uint8)[::-1])
    height, width, channels = pixels.shape
    image = vtk.vtkImageData()
    image.SetDimensions(width, height, 1)
    image.GetPointData().SetScalars(numpy_support.numpy_to_vtk(pixels.reshape(-1, channels), deep=True))
    writer = vtk.vtkPNGWriter()
    writer.SetFileName(str(path))
    writer.SetInputData(image)
    writer.Write()
    if writer.GetErrorCode():
        raise AISError(f"Could not write the picture '{path}' (VTK error code {writer.GetErrorCode()}).")
