"""The reader's notes as markup points: text at a place, shown in every view, recorded with the read."""

import vtk

from AISCommonLib.core.readrecord import ReadNote


def notesFromMarkups(node) -> list[ReadNote]:
    """The notes of a ``vtkMRMLMarkupsFiducialNode`` (label, text, RAS mm), in point order; [] without a node."""
    if not node:
        return []
    found = []
    for index in range(node.GetNumberOfControlPoints()):
        position = [0.0, 0.0, 0.0]
        node.GetNthControlPointPositionWorld(index, position)
        found.append(ReadNote(node.GetNthControlPointLabel(index), node.GetNthControlPointDescription(index), tuple(position)))
    return found


def addNote(node, ras, text: str) -> int:
    """Add a note at ``ras`` (mm); the point's label ``N<n>: text`` shows in the views.

    :return: the new point's index.
    """
    label = f"N{node.GetNumberOfControlPoints() + 1}: {text}"
    index = node.AddControlPoint(vtk.vtkVector3d(*ras), label)
    node.SetNthControlPointDescription(index, text)
    return index


def removeNote(node, index: int) -> None:
    """Remove note ``index`` (nothing happens for an index out of range)."""
    if node and 0 <= index < node.GetNumberOfControlPoints():
        node.RemoveNthControlPoint(index)
