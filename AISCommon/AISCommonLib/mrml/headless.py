"""An application-less MRML set-up: what 3D Slicer's application provides, built from ``slicer-core`` classes.

Inside Slicer the application owns the scene, the application logic, the module logics and one slice
logic per slice widget; never call this there. Outside Slicer (tests, ``ais snapshot``, batch jobs) this
module builds the same objects so the rest of the ``mrml`` package runs unchanged.

Known limitation (slicer-core 5.12.4): ``scene.Clear(1)`` on a scene watched by a ``vtkMRMLLayoutLogic``
crashes the process; build a new application for a new case instead of clearing the scene.
"""

import dataclasses
import os

import slicer
import vtk


@dataclasses.dataclass
class HeadlessApplication:
    """The objects Slicer's application would own.

    :param scene: the MRML scene.
    :param applicationLogic: ``vtkSlicerApplicationLogic`` holding the slice logics and the slice link logic.
    :param layoutLogic: ``vtkMRMLLayoutLogic`` that creates view nodes for the layout node's arrangement.
    :param volumesLogic: ``vtkSlicerVolumesLogic``.
    :param segmentationsLogic: ``vtkSlicerSegmentationsModuleLogic``.
    """

    scene: object
    applicationLogic: object
    layoutLogic: object
    volumesLogic: object
    segmentationsLogic: object

    @property
    def layoutNode(self):
        """The scene's singleton ``vtkMRMLLayoutNode``."""
        return self.layoutLogic.GetLayoutNode()

    def updateSliceLogics(self) -> list:
        """Give every slice node of the current layout a slice logic, as Slicer's layout manager does for its widgets.

        Slice nodes of the current arrangement are marked mapped in the layout; the others are unmapped.

        :return: the slice logics of the views shown by the current layout.
        """
        return updateSliceLogics(self.applicationLogic, self.layoutLogic)


def registerSegmentationConverterRules() -> bool:
    """Register Slicer's segmentation converter rules once per process.

    The rules live in a process-global factory and every segmentations logic given a scene adds them
    again, so this does it only when the factory has none (inside Slicer they always exist).

    :return: True when rules were registered now.
    """
    factory = slicer.vtkSegmentationConverterFactory.GetInstance()
    if factory.GetConverterRules():
        return False
    slicer.vtkSlicerSegmentationsModuleLogic().SetMRMLScene(slicer.vtkMRMLScene())
    return True


def createHeadlessApplication(scene=None) -> HeadlessApplication:
    """Build a scene with the logics Slicer's application would provide (no Qt, no rendering).

    Segmentation converter rules are registered if the process has none yet.

    :param scene: an existing ``vtkMRMLScene``, or None to create one.
    :return: the scene and its logics; colour tables are added to the scene.
    """
    # EGL renders offscreen without an X server; the user's choice (OSMesa, X) wins when set.
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    scene = scene or slicer.vtkMRMLScene()
    if scene.GetFirstNodeByClass("vtkMRMLCrosshairNode") is None:
        crosshair = slicer.vtkMRMLCrosshairNode()
        crosshair.SetCrosshairName("default")
        scene.AddNode(crosshair)
    applicationLogic = slicer.vtkSlicerApplicationLogic()
    applicationLogic.SetMRMLScene(scene)
    colorLogic = applicationLogic.GetColorLogic()
    colorLogic.SetMRMLScene(scene)
    colorLogic.AddDefaultColorNodes()
    applicationLogic.SetSliceLogics(vtk.vtkCollection())
    applicationLogic.SetViewLogics(vtk.vtkCollection())
    slicer.vtkMRMLSliceViewDisplayableManagerFactory.GetInstance().SetMRMLApplicationLogic(applicationLogic)
    volumesLogic = slicer.vtkSlicerVolumesLogic()
    subjectHierarchyLogic = slicer.vtkSlicerSubjectHierarchyModuleLogic()
    segmentationsLogic = slicer.vtkSlicerSegmentationsModuleLogic()
    for name, logic in [("Colors", colorLogic), ("Volumes", volumesLogic), ("SubjectHierarchy", subjectHierarchyLogic)]:
        logic.SetMRMLScene(scene)
        logic.SetMRMLApplicationLogic(applicationLogic)
        applicationLogic.SetModuleLogic(name, logic)
    registerSegmentationConverterRules()
    # Not given the scene: that would register the converter rules a second time.
    segmentationsLogic.SetMRMLApplicationLogic(applicationLogic)
    applicationLogic.SetModuleLogic("Segmentations", segmentationsLogic)
    layoutLogic = slicer.vtkMRMLLayoutLogic()
    layoutLogic.SetMRMLScene(scene)
    return HeadlessApplication(scene, applicationLogic, layoutLogic, volumesLogic, segmentationsLogic)


def updateSliceLogics(applicationLogic, layoutLogic) -> list:
    """Create the slice logics of the current layout's slice nodes (see :meth:`HeadlessApplication.updateSliceLogics`).

    :param applicationLogic: the application logic whose slice-logic collection receives new logics.
    :param layoutLogic: the layout logic of the scene.
    :return: slice logics of the views in the current layout, in layout order.
    """
    scene = applicationLogic.GetMRMLScene()
    shownIds = set()
    viewNodes = layoutLogic.GetViewNodes()
    shown = []
    for index in range(viewNodes.GetNumberOfItems()):
        node = viewNodes.GetItemAsObject(index)
        if node.IsA("vtkMRMLSliceNode"):
            shownIds.add(node.GetID())
            shown.append(node)
    for sliceNode in _sliceNodes(scene):
        sliceNode.SetMappedInLayout(sliceNode.GetID() in shownIds)
    logics = []
    for sliceNode in shown:
        logic = applicationLogic.GetSliceLogic(sliceNode)
        if logic is None:
            logic = slicer.vtkMRMLSliceLogic()
            logic.SetMRMLApplicationLogic(applicationLogic)
            logic.SetMRMLScene(scene)
            # SetSliceNode, not AddSliceNode: the layout logic already created the node, and
            # AddSliceNode(tag) would return a new node that is not in the scene.
            logic.SetSliceNode(sliceNode)
            logic.ResizeSliceNode(256, 256)
            applicationLogic.GetSliceLogics().AddItem(logic)
        logics.append(logic)
    return logics


def _sliceNodes(scene) -> list:
    nodes = scene.GetNodesByClass("vtkMRMLSliceNode")
    return [nodes.GetItemAsObject(index) for index in range(nodes.GetNumberOfItems())]
