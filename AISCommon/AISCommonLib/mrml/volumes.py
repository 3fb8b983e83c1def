"""Core volumes to and from MRML volume nodes: voxels ``[k, j, i]`` plus the IJK-to-RAS matrix."""

import numpy as np
import vtk
from vtk.util import numpy_support

from ..core.errors import InputError
from ..core.image import Volume


def matrixToArray(matrix) -> np.ndarray:
    """A ``vtkMatrix4x4`` as a 4x4 float64 array."""
    return np.array([[matrix.GetElement(row, column) for column in range(4)] for row in range(4)])


def arrayToMatrix(array) -> object:
    """A 4x4 array as a ``vtkMatrix4x4``."""
    matrix = vtk.vtkMatrix4x4()
    for row in range(4):
        for column in range(4):
            matrix.SetElement(row, column, float(array[row][column]))
    return matrix


def ijkToRas(volumeNode) -> np.ndarray:
    """IJK-to-RAS matrix (4x4, mm) of a volume node."""
    matrix = vtk.vtkMatrix4x4()
    volumeNode.GetIJKToRASMatrix(matrix)
    return matrixToArray(matrix)


def arrayFromVolumeNode(volumeNode) -> np.ndarray:
    """Voxels of a volume node as a ``[k, j, i]`` numpy view on its image data (no copy).

    :raises InputError: the node has no image data.
    """
    imageData = volumeNode.GetImageData() if volumeNode is not None else None
    if imageData is None:
        raise InputError(f"The volume '{volumeNode.GetName() if volumeNode else None}' has no voxels.")
    scalars = numpy_support.vtk_to_numpy(imageData.GetPointData().GetScalars())
    return scalars.reshape(imageData.GetDimensions()[::-1])


def imageDataFromArray(array: np.ndarray) -> object:
    """A ``vtkImageData`` holding a copy of a ``[k, j, i]`` array (origin 0, spacing 1: geometry lives in the node)."""
    array = np.ascontiguousarray(array)
    if array.dtype == bool:
        array = array.astype(np.uint8)
    imageData = vtk.vtkImageData()
    imageData.SetDimensions(array.shape[2], array.shape[1], array.shape[0])
    scalars = numpy_support.numpy_to_vtk(array.ravel(), deep=True)
    imageData.GetPointData().SetScalars(scalars)
    return imageData


def addVolumeNode(scene, volume: Volume, name: str, className: str = "vtkMRMLScalarVolumeNode"):
    """Add a volume node holding ``volume``'s voxels on its exact grid (oblique grids included).

    :param scene: the MRML scene.
    :param volume: a 3D core volume (``[k, j, i]``, IJK-to-RAS).
    :param name: node name.
    :param className: ``vtkMRMLScalarVolumeNode`` or ``vtkMRMLLabelMapVolumeNode``.
    :return: the new node (without display node).
    :raises InputError: the volume is a 4D series.
    """
    if volume.isSeries:
        raise InputError(f"{volume.label()} is a 4D series; only 3D volumes can be shown.")
    node = scene.AddNewNodeByClass(className, name)
    node.SetIJKToRASMatrix(arrayToMatrix(volume.ijkToRas))
    node.SetAndObserveImageData(imageDataFromArray(volume.array))
    return node


def volumeFromNode(volumeNode) -> Volume:
    """A core volume holding a copy of a node's voxels and its IJK-to-RAS matrix."""
    return Volume(arrayFromVolumeNode(volumeNode).copy(), ijkToRas(volumeNode))
