"""The reader's segmentation: DWI as reference geometry, fill on DWI views, outline elsewhere, masks in and out.

Masks cross this module as boolean ``[k, j, i]`` arrays on the exact DWI grid. Export goes through
Slicer's segmentations logic with the DWI volume as reference, so the result has the DWI's shape and
IJK-to-RAS whatever the segment's internal geometry became while editing.
"""

from pathlib import Path

import numpy as np
import slicer
import vtk

from ..core.errors import InputError
from ..core.image import Volume, loadVolume, requireSameGrid
from .nodes import removeNodes
from .volumes import arrayFromVolumeNode, arrayToMatrix, ijkToRas, imageDataFromArray

LESION_SEGMENT_ID = "lesion"
LESION_SEGMENT_NAME = "Lesion"
LESION_COLOR = (0.95, 0.2, 0.15)
#: Attribute of the second display node, drawn as outline only.
OUTLINE_DISPLAY_ATTRIBUTE = "AIS.OutlineDisplay"


def createReaderSegmentation(scene, dwiNode, name: str = "Lesions"):
    """Add an empty segmentation whose reference geometry is the DWI grid, with the lesion segment.

    :param scene: the MRML scene.
    :param dwiNode: the DWI volume node (reference geometry and source volume for editing).
    :param name: node name.
    :return: the segmentation node (with its default display node).
    """
    segmentationNode = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", name)
    segmentationNode.CreateDefaultDisplayNodes()
    segmentationNode.SetReferenceImageGeometryParameterFromVolumeNode(dwiNode)
    ensureLesionSegment(segmentationNode)
    return segmentationNode


def segmentEditorNode(scene, singletonTag: str):
    """A module's own Segment Editor parameter node (a scene singleton, added when missing).

    Each module keeps its own, so its editor's choices (segmentation, source volume, segment) never change the
    Segment Editor module's.
    """
    node = scene.GetSingletonNode(singletonTag, "vtkMRMLSegmentEditorNode")
    if node is None:
        node = slicer.vtkMRMLSegmentEditorNode()
        node.SetSingletonTag(singletonTag)
        node = scene.AddNode(node)
    return node


def ensureLesionSegment(segmentationNode, segmentId: str = LESION_SEGMENT_ID, name: str = LESION_SEGMENT_NAME, color=LESION_COLOR) -> str:
    """The ID of the lesion segment, added empty when missing.

    :return: ``segmentId``.
    """
    segmentation = segmentationNode.GetSegmentation()
    if segmentation.GetSegment(segmentId) is None:
        # AddEmptySegment(segmentId, segmentName, color): the first argument is the ID, not the name.
        segmentation.AddEmptySegment(segmentId, name, list(color))
    return segmentId


def _viewIds(sliceNodes) -> list[str]:
    return [node.GetID() for node in sliceNodes if node is not None and node.GetID()]


def setFillAndOutlineViews(scene, segmentationNode, fillSliceNodes, outlineSliceNodes, outlineThickness: int = 2) -> tuple:
    """Show the segmentation filled (with outline) in some views and as outline only in others.

    A display node draws in the views listed in its view node IDs (all views when the list is empty),
    so two display nodes split the views: the segmentation's main display node (fill) and a second
    one (outline), created on first use.

    :param scene: the MRML scene.
    :param segmentationNode: the reader's segmentation.
    :param fillSliceNodes: slice nodes showing fill and outline (the DWI views).
    :param outlineSliceNodes: slice nodes showing the outline only (ADC, eADC, FLAIR...).
    :param outlineThickness: outline width in pixels.
    :return: ``(fillDisplayNode, outlineDisplayNode)``.
    """
    fillDisplay = segmentationNode.GetDisplayNode()
    if fillDisplay is None:
        segmentationNode.CreateDefaultDisplayNodes()
        fillDisplay = segmentationNode.GetDisplayNode()
    outlineDisplay = outlineDisplayNode(segmentationNode)
    if outlineDisplay is None:
        outlineDisplay = scene.AddNewNodeByClass("vtkMRMLSegmentationDisplayNode")
        outlineDisplay.SetAttribute(OUTLINE_DISPLAY_ATTRIBUTE, "1")
        segmentationNode.AddAndObserveDisplayNodeID(outlineDisplay.GetID())
    fillIds, outlineIds = _viewIds(fillSliceNodes), _viewIds(outlineSliceNodes)
    for displayNode, viewIds, fill in ((fillDisplay, fillIds, True), (outlineDisplay, outlineIds, False)):
        displayNode.RemoveAllViewNodeIDs()
        for viewId in viewIds:
            displayNode.AddViewNodeID(viewId)
        # An empty list means "every view": hide instead.
        displayNode.SetVisibility(bool(viewIds))
        displayNode.SetVisibility2DFill(fill)
        displayNode.SetVisibility2DOutline(True)
        displayNode.SetSliceIntersectionThickness(outlineThickness)
        displayNode.SetOpacity2DFill(0.4)
        displayNode.SetOpacity2DOutline(1.0)
        displayNode.SetVisibility3D(False)
    return fillDisplay, outlineDisplay


def outlineDisplayNode(segmentationNode):
    """The outline-only display node added by :func:`setFillAndOutlineViews`, or None."""
    for index in range(segmentationNode.GetNumberOfDisplayNodes()):
        displayNode = segmentationNode.GetNthDisplayNode(index)
        if displayNode is not None and displayNode.GetAttribute(OUTLINE_DISPLAY_ATTRIBUTE):
            return displayNode
    return None


def _orientedImage(mask: np.ndarray, dwiNode):
    array = np.asarray(mask)
    dwiShape = tuple(reversed(dwiNode.GetImageData().GetDimensions()))
    if array.shape != dwiShape:
        raise InputError(f"The mask has shape {array.shape[::-1]} but the DWI grid is {dwiShape[::-1]} (i x j x k).")
    image = slicer.vtkOrientedImageData()
    image.ShallowCopy(imageDataFromArray((array != 0).astype(np.uint8)))
    image.SetImageToWorldMatrix(arrayToMatrix(ijkToRas(dwiNode)))
    return image


def setSegmentFromMask(segmentationNode, mask: np.ndarray, dwiNode, segmentId: str = LESION_SEGMENT_ID) -> str:
    """Replace a segment's voxels with a mask on the DWI grid (the segment is added when missing).

    :param segmentationNode: the reader's segmentation.
    :param mask: boolean or 0/1 array ``[k, j, i]`` on the DWI grid.
    :param dwiNode: the DWI volume node.
    :param segmentId: segment to replace.
    :return: the segment ID.
    :raises InputError: the mask is not the DWI's shape, or Slicer refuses the labelmap.
    """
    image = _orientedImage(mask, dwiNode)
    ensureLesionSegment(segmentationNode, segmentId, LESION_SEGMENT_NAME if segmentId == LESION_SEGMENT_ID else segmentId)
    logic = slicer.vtkSlicerSegmentationsModuleLogic
    if not logic.SetBinaryLabelmapToSegment(image, segmentationNode, segmentId, logic.MODE_REPLACE):
        raise InputError(f"The mask could not be put into segment '{segmentId}' of '{segmentationNode.GetName()}'.")
    return segmentId


def seedSegment(segmentationNode, seedResult, dwiNode, segmentId: str = LESION_SEGMENT_ID) -> str:
    """Make (or replace) the lesion segment from the ADC-threshold seed.

    :param seedResult: :class:`~AISCommonLib.core.seeding.SeedResult` of the case.
    :return: the segment ID.
    """
    return setSegmentFromMask(segmentationNode, seedResult.mask, dwiNode, segmentId)


def segmentMask(segmentationNode, dwiNode, segmentId: str = LESION_SEGMENT_ID) -> np.ndarray:
    """A segment as a boolean ``[k, j, i]`` array on the exact DWI grid.

    :raises InputError: the segment does not exist or cannot be exported.
    """
    if segmentationNode.GetSegmentation().GetSegment(segmentId) is None:
        raise InputError(f"The segmentation '{segmentationNode.GetName()}' has no segment '{segmentId}'.")
    scene = segmentationNode.GetScene()
    labelmapNode = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "AIS export")
    try:
        segmentIds = vtk.vtkStringArray()
        segmentIds.InsertNextValue(segmentId)
        logic = slicer.vtkSlicerSegmentationsModuleLogic
        exported = logic.ExportSegmentsToLabelmapNode(
            segmentationNode, segmentIds, labelmapNode, dwiNode, slicer.vtkSegmentation.EXTENT_REFERENCE_GEOMETRY
        )
        if not exported:
            raise InputError(f"Segment '{segmentId}' of '{segmentationNode.GetName()}' could not be exported on the DWI grid.")
        if np.abs(ijkToRas(labelmapNode) - ijkToRas(dwiNode)).max() > 1e-4:
            raise InputError(f"Segment '{segmentId}' was exported off the DWI grid.")
        return arrayFromVolumeNode(labelmapNode) != 0
    finally:
        # The export gave the labelmap a display node and a colour table of its own: remove all three, or the
        # scene grows by two nodes every time a mask is read (each check, step, hint and save reads one).
        displayNode = labelmapNode.GetDisplayNode()
        removeNodes(scene, [labelmapNode], [displayNode.GetColorNode() if displayNode is not None else None])


def segmentVolume(segmentationNode, dwiNode, segmentId: str = LESION_SEGMENT_ID) -> Volume:
    """A segment as a uint8 core volume on the DWI grid (ready for :func:`~AISCommonLib.core.image.writeNifti`)."""
    return Volume(segmentMask(segmentationNode, dwiNode, segmentId).astype(np.uint8), ijkToRas(dwiNode))


def writeSegmentMask(segmentationNode, dwiNode, path, segmentId: str = LESION_SEGMENT_ID, overwrite: bool = False):
    """Write a segment as a binary uint8 NIfTI mask on the DWI grid (qform = sform).

    For a reader's submission use :func:`submitReaderMask`, which versions the file and writes the sidecar.

    :raises OutputExistsError: ``path`` exists and ``overwrite`` is False.
    """
    from ..core.image import writeNifti

    volume = segmentVolume(segmentationNode, dwiNode, segmentId)
    writeNifti(volume.array, volume.ijkToRas, path, dtype=np.uint8, overwrite=overwrite)
    return path


def submitReaderMask(datasetRoot, caseNodes, segmentationNode, reader: str, method: str = "manual", parameters=None,
                     segmentId: str = LESION_SEGMENT_ID):
    """Write the reader's lesion segment as a new versioned mask with sidecar in the BIDS derivatives.

    :param caseNodes: :class:`~AISCommonLib.mrml.caseloader.CaseNodes` of the case.
    :param reader: pseudonymous reader ID.
    :param method: how the mask was made (``manual``, ``adc-threshold-seed``...).
    :param parameters: JSON-serialisable parameters to keep in the sidecar.
    :return: the :class:`~AISCommonLib.core.derivatives.MaskRecord` written.
    """
    from ..core.derivatives import writeReaderMask

    loaded = caseNodes.loaded
    mask = segmentMask(segmentationNode, caseNodes.dwiNode, segmentId)
    return writeReaderMask(datasetRoot, loaded.case, mask, loaded.dwi, reader, method, parameters or {})


def importMask(segmentationNode, path, dwiNode, segmentId: str = LESION_SEGMENT_ID) -> str:
    """Load a binary NIfTI mask on the DWI grid into a segment (replacing its voxels).

    :raises InputError: unreadable file, not binary.
    :raises GeometryError: the mask is not on the DWI grid.
    """
    volume = loadVolume(path)
    dwiShape = tuple(reversed(dwiNode.GetImageData().GetDimensions()))
    requireSameGrid(Volume(np.zeros(dwiShape, np.uint8), ijkToRas(dwiNode), Path(dwiNode.GetName())), volume)
    values = np.unique(volume.array)
    if not np.isin(values, (0, 1)).all() and len(values[values != 0]) > 1:
        raise InputError(f"The mask '{path}' has several labels ({', '.join(f'{value:g}' for value in values[:6])}); it must be binary.")
    return setSegmentFromMask(segmentationNode, volume.array != 0, dwiNode, segmentId)
