"""Reading layouts: 2x2 axial DWI/ADC/eADC/FLAIR, 4x3 multiplanar, DWI/ADC side by side.

Each slice view shows one sequence as its background. Views of one orientation share a view group
and have ``LinkedControl`` on, so Slicer's slice link logic moves them together when a user scrolls,
zooms or pans (changes made with interaction flags). Backgrounds are set with plain setters, never
inside a composite-node interaction: a linked interactive background change would put the same
volume into every view.
"""

import dataclasses

from ..core.errors import InputError
from .caseloader import SEQUENCE_NAMES

ORIENTATIONS = ("Axial", "Coronal", "Sagittal")
#: Sequences of the reading layouts, in tile order.
LAYOUT_SEQUENCES = ("dwi", "adc", "eadc", "flair")
#: Layout IDs registered on the layout node (above Slicer's built-in and user-view ranges).
LAYOUT_2X2_AXIAL = 5401
LAYOUT_4X3_MULTIPLANAR = 5402
LAYOUT_DWI_ADC = 5403
LAYOUT_IDS = {"2x2": LAYOUT_2X2_AXIAL, "4x3": LAYOUT_4X3_MULTIPLANAR, "dwi-adc": LAYOUT_DWI_ADC}
#: All views of the reading layouts are in this view group; linking acts within a group and orientation.
VIEW_GROUP = 0
VIEW_COLORS = {"dwi": "#F34A33", "adc": "#EDD54C", "eadc": "#6EB04B", "flair": "#8C8CFF", "t1w": "#C0C0C0", "t2w": "#D08CFF"}
#: Slice node attribute naming the sequence a view shows.
VIEW_SEQUENCE_ATTRIBUTE = "AIS.ViewSequence"


@dataclasses.dataclass(frozen=True)
class ViewSpec:
    """One slice view of a reading layout.

    :param sequence: sequence key shown as background.
    :param orientation: ``Axial``, ``Coronal`` or ``Sagittal``.
    """

    sequence: str
    orientation: str

    @property
    def layoutName(self) -> str:
        """Singleton tag and name of the slice node, e.g. ``AISDWIAxial``."""
        return f"AIS{SEQUENCE_NAMES[self.sequence]}{self.orientation}"

    @property
    def label(self) -> str:
        """Text in the view's corner: the sequence, plus the orientation's letter in multiplanar layouts."""
        return SEQUENCE_NAMES[self.sequence]


def layoutViews(layoutId: int) -> list[list[ViewSpec]]:
    """Views of a reading layout as rows of tiles (top row first).

    :raises InputError: not one of the reading layouts.
    """
    axial = [ViewSpec(key, "Axial") for key in LAYOUT_SEQUENCES]
    if layoutId == LAYOUT_2X2_AXIAL:
        return [axial[:2], axial[2:]]
    if layoutId == LAYOUT_4X3_MULTIPLANAR:
        return [[ViewSpec(key, orientation) for orientation in ORIENTATIONS] for key in LAYOUT_SEQUENCES]
    if layoutId == LAYOUT_DWI_ADC:
        return [axial[:2]]
    raise InputError(f"Layout {layoutId} is not one of the reading layouts ({', '.join(map(str, LAYOUT_IDS.values()))}).")


def layoutIdByName(name: str) -> int:
    """Layout ID from its short name (``2x2``, ``4x3``, ``dwi-adc``).

    :raises InputError: unknown name.
    """
    if name not in LAYOUT_IDS:
        raise InputError(f"Unknown layout '{name}'; use one of: {', '.join(LAYOUT_IDS)}.")
    return LAYOUT_IDS[name]


def _viewXml(view: ViewSpec) -> str:
    properties = {
        "orientation": view.orientation,
        "viewlabel": view.label,
        "viewcolor": VIEW_COLORS[view.sequence],
        "viewgroup": str(VIEW_GROUP),
    }
    # "default" applies when the layout creates the node, "relayout" when it already exists: give both.
    text = "".join(
        f'<property name="{name}" action="{action}">{value}</property>' for name, value in properties.items() for action in ("default", "relayout")
    )
    return f'<item><view class="vtkMRMLSliceNode" singletontag="{view.layoutName}">{text}</view></item>'


def layoutXml(layoutId: int) -> str:
    """The layout description XML of a reading layout (rows of slice views)."""
    rows = [f'<item><layout type="horizontal">{"".join(_viewXml(view) for view in row)}</layout></item>' for row in layoutViews(layoutId)]
    return f'<layout type="vertical">{"".join(rows)}</layout>'


def registerLayouts(layoutNode) -> list[int]:
    """Add (or update) the reading layouts on the scene's layout node.

    :param layoutNode: the ``vtkMRMLLayoutNode`` (in Slicer: the layout manager's).
    :return: the registered layout IDs.
    """
    for layoutId in LAYOUT_IDS.values():
        if layoutNode.IsLayoutDescription(layoutId):
            layoutNode.SetLayoutDescription(layoutId, layoutXml(layoutId))
        else:
            layoutNode.AddLayoutDescription(layoutId, layoutXml(layoutId))
    return list(LAYOUT_IDS.values())


def sliceNodeByLayoutName(scene, layoutName: str):
    """The slice node of a view (None when the layout has not created it yet)."""
    return scene.GetSingletonNode(layoutName, "vtkMRMLSliceNode")


def sliceCompositeNode(scene, sliceNode):
    """The composite node (background/foreground/label layers) of a slice node, or None."""
    nodes = scene.GetNodesByClass("vtkMRMLSliceCompositeNode")
    for index in range(nodes.GetNumberOfItems()):
        node = nodes.GetItemAsObject(index)
        if node.GetLayoutName() == sliceNode.GetLayoutName():
            return node
    return None


def readingViews(scene, layoutId: int) -> list[tuple[ViewSpec, object]]:
    """``(view, slice node)`` of a layout's views that exist in the scene, in tile order."""
    found = []
    for row in layoutViews(layoutId):
        for view in row:
            sliceNode = sliceNodeByLayoutName(scene, view.layoutName)
            if sliceNode is not None:
                found.append((view, sliceNode))
    return found


def showSequences(applicationLogic, layoutId: int, volumeNodes: dict, referenceKey: str = "dwi", alignToReference: bool = True,
                  keepViews=()) -> list:
    """Put each sequence in its views, link the views and fit them all to the reference volume.

    Backgrounds are set with plain setters (no interaction), so linked views keep different volumes.
    Every view of one orientation gets the same field of view and slice-to-RAS (fitted to the reference),
    which is what linked views share. With ``alignToReference`` the views are rotated to the reference's
    voxel axes, so an oblique DWI is read and painted along its own planes.

    :param applicationLogic: the application logic (in Slicer ``slicer.app.applicationLogic()``) whose
        slice logics draw the views; views without a slice logic are configured but not fitted.
    :param layoutId: one of the reading layouts (views must exist: set the layout first).
    :param volumeNodes: sequence key -> volume node; views whose sequence is missing show nothing.
    :param referenceKey: sequence whose volume sets the field of view (the DWI).
    :param alignToReference: rotate views to the reference volume's axes.
    :param keepViews: layout names (``ViewSpec.layoutName``) of views showing this case already: only their
        sequence is set again, their orientation, zoom, pan and slice stay as the reader left them.
    :return: the slice nodes configured.
    :raises InputError: the reference volume is missing.
    """
    scene = applicationLogic.GetMRMLScene()
    reference = volumeNodes.get(referenceKey)
    if reference is None:
        raise InputError(f"No {SEQUENCE_NAMES.get(referenceKey, referenceKey)} volume to fit the views to.")
    configured = []
    for view, sliceNode in readingViews(scene, layoutId):
        fit = view.layoutName not in keepViews
        sliceNode.SetAttribute(VIEW_SEQUENCE_ATTRIBUTE, view.sequence)
        if fit:
            sliceNode.SetOrientation(view.orientation)
        sliceNode.SetViewGroup(VIEW_GROUP)
        compositeNode = sliceCompositeNode(scene, sliceNode)
        if compositeNode is not None:
            volume = volumeNodes.get(view.sequence)
            compositeNode.SetBackgroundVolumeID(volume.GetID() if volume is not None else None)
            compositeNode.SetForegroundVolumeID(None)
            compositeNode.SetLabelVolumeID(None)
            compositeNode.SetLinkedControl(True)
        if fit and alignToReference:
            sliceNode.RotateToVolumePlane(reference)
        logic = applicationLogic.GetSliceLogic(sliceNode) if fit else None
        if logic is not None:
            dimensions = sliceNode.GetDimensions()
            logic.FitSliceToVolume(reference, dimensions[0], dimensions[1])
            logic.SnapSliceOffsetToIJK()
        configured.append(sliceNode)
    return configured


def setLayout(layoutNode, layoutId: int) -> None:
    """Register the reading layouts if needed and switch the layout node to ``layoutId``.

    In Slicer the layout manager then creates the view widgets; headless, call
    :meth:`~AISCommonLib.mrml.headless.HeadlessApplication.updateSliceLogics` afterwards.
    """
    layoutViews(layoutId)
    if not layoutNode.IsLayoutDescription(layoutId):
        registerLayouts(layoutNode)
    layoutNode.SetViewArrangement(layoutId)
