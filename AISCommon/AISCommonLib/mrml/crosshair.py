"""The crosshair shown in every slice view, and jumping all views to one RAS point."""

import numpy as np
import slicer


def crosshairNode(scene):
    """The scene's crosshair node (Slicer's application creates the ``default`` one), or None."""
    return scene.GetFirstNodeByClass("vtkMRMLCrosshairNode")


def showCrosshair(scene, thickness: str = "Fine") -> object:
    """Show the crosshair in every view; Shift+mouse-move then moves all views to the pointed location.

    :param scene: the MRML scene; it must hold a crosshair node (Slicer's application adds it).
    :param thickness: ``Fine``, ``Medium`` or ``Thick``.
    :return: the crosshair node, or None when the scene has none.
    """
    node = crosshairNode(scene)
    if node is None:
        return None
    node.SetCrosshairMode(slicer.vtkMRMLCrosshairNode.ShowBasic)
    node.SetCrosshairBehavior(slicer.vtkMRMLCrosshairNode.OffsetJumpSlice)
    node.SetCrosshairThickness({"Fine": node.Fine, "Medium": node.Medium, "Thick": node.Thick}[thickness])
    return node


def jumpToRas(scene, ras, centered: bool = True, viewGroup: int = -1) -> None:
    """Move every slice view (of ``viewGroup``, or all) to a RAS point and put the crosshair there.

    :param scene: the MRML scene.
    :param ras: point ``(r, a, s)`` in mm (RAS).
    :param centered: also pan each view so the point is at its centre; otherwise only the slice
        offsets change.
    :param viewGroup: view group to move, -1 for every view.
    """
    r, a, s = (float(value) for value in ras)
    mode = slicer.vtkMRMLSliceNode.CenteredJumpSlice if centered else slicer.vtkMRMLSliceNode.OffsetJumpSlice
    slicer.vtkMRMLSliceNode.JumpAllSlices(scene, r, a, s, mode, viewGroup)
    node = crosshairNode(scene)
    if node is not None:
        node.SetCrosshairRAS(r, a, s)


def crosshairRas(scene) -> np.ndarray | None:
    """The crosshair position (RAS, mm), or None when the scene has no crosshair."""
    node = crosshairNode(scene)
    if node is None:
        return None
    return np.array(node.GetCrosshairRAS(), dtype=np.float64)


def sliceCenterRas(sliceNode) -> np.ndarray:
    """RAS point (mm) at the centre of a slice view."""
    dimensions = sliceNode.GetDimensions()
    xyToRas = sliceNode.GetXYToRAS()
    center = [dimensions[0] / 2.0, dimensions[1] / 2.0, 0.0, 1.0]
    return np.array(xyToRas.MultiplyPoint(center)[:3])
