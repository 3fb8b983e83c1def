"""Reading layouts: 2x2 axial DWI/ADC/eADC/FLAIR, 4x3 multiplanar, DWI/ADC side by side; T1w/T2w join when a case has them.

Each slice view shows one sequence as its background. Views of one orientation share a view group
and have ``LinkedControl`` on, so Slicer's slice link logic moves them together when a user scrolls,
zooms or pans (changes made with interaction flags). Backgrounds are set with plain setters, never
inside a composite-node interaction: a linked interactive background change would put the same
volume into every view.

T1w and T2w are optional, but a case that has them is read with them (T2 shine-through is judged against T2w,
hemorrhage is T1-bright and T2-dark): the 2x2 becomes 2 x 3 (DWI, ADC, eADC over FLAIR, T1w, T2w) and the
multiplanar layout gets a row per extra sequence. The layout descriptions registered on the layout node say
which sequences the current case has (:func:`layoutSequences` reads them back), so every function that lists
the views sees the same tiles.
"""

import dataclasses
import re

from ..core.errors import InputError
from .caseloader import SEQUENCE_NAMES

ORIENTATIONS = ("Axial", "Coronal", "Sagittal")
#: Sequences of the reading layouts, in tile order.
LAYOUT_SEQUENCES = ("dwi", "adc", "eadc", "flair")
#: Optional sequences that join the reading layouts when the case has them, in tile order.
OPTIONAL_LAYOUT_SEQUENCES = ("t1w", "t2w")
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


def readingSequences(available=LAYOUT_SEQUENCES) -> tuple:
    """The sequences a case is read with: DWI, ADC, eADC, FLAIR, plus T1w/T2w when ``available`` has them.

    :param available: the case's sequence keys (e.g. ``CaseNodes.volumeNodes``); the four core sequences always have
        a tile (a missing one shows nothing).
    """
    return LAYOUT_SEQUENCES + tuple(key for key in OPTIONAL_LAYOUT_SEQUENCES if key in available)


def layoutViews(layoutId: int, sequences=LAYOUT_SEQUENCES) -> list[list[ViewSpec]]:
    """Views of a reading layout as rows of tiles (top row first).

    :param sequences: the case's sequences (see :func:`readingSequences`); with T1w/T2w the 2x2 becomes 2 x 3 and the
        multiplanar layout gets their rows.
    :raises InputError: not one of the reading layouts.
    """
    keys = readingSequences(sequences)
    axial = [ViewSpec(key, "Axial") for key in keys]
    if layoutId == LAYOUT_2X2_AXIAL:
        return [axial[:2], axial[2:]] if len(axial) == 4 else [axial[:3], axial[3:]]
    if layoutId == LAYOUT_4X3_MULTIPLANAR:
        return [[ViewSpec(key, orientation) for orientation in ORIENTATIONS] for key in keys]
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


def layoutXml(layoutId: int, sequences=LAYOUT_SEQUENCES) -> str:
    """The layout description XML of a reading layout (rows of slice views) for a case's sequences."""
    rows = [f'<item><layout type="horizontal">{"".join(_viewXml(view) for view in row)}</layout></item>' for row in layoutViews(layoutId, sequences)]
    return f'<layout type="vertical">{"".join(rows)}</layout>'


def registerLayouts(layoutNode, sequences=LAYOUT_SEQUENCES) -> list[int]:
    """Add (or update) the reading layouts on the scene's layout node.

    :param layoutNode: the ``vtkMRMLLayoutNode`` (in Slicer: the layout manager's).
    :param sequences: the case's sequences (T1w/T2w get tiles when present).
    :return: the registered layout IDs.
    """
    for layoutId in LAYOUT_IDS.values():
        if layoutNode.IsLayoutDescription(layoutId):
            layoutNode.SetLayoutDescription(layoutId, layoutXml(layoutId, sequences))
        else:
            layoutNode.AddLayoutDescription(layoutId, layoutXml(layoutId, sequences))
    return list(LAYOUT_IDS.values())


_SEQUENCE_BY_NAME = {name: key for key, name in SEQUENCE_NAMES.items()}
_VIEW_TAG = re.compile(r'singletontag="AIS(\w+?)(?:Axial|Coronal|Sagittal)"')


def layoutSequences(scene, layoutId: int) -> tuple:
    """The sequences the registered description of ``layoutId`` shows (the four core ones when it is not registered)."""
    layoutNode = scene.GetFirstNodeByClass("vtkMRMLLayoutNode") if scene is not None else None
    if layoutNode is None or not layoutNode.IsLayoutDescription(layoutId):
        return LAYOUT_SEQUENCES
    shown = {_SEQUENCE_BY_NAME.get(name) for name in _VIEW_TAG.findall(layoutNode.GetLayoutDescription(layoutId))}
    return readingSequences(shown)


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
    for row in layoutViews(layoutId, layoutSequences(scene, layoutId)):
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


def setLayout(layoutNode, layoutId: int, sequences=None) -> None:
    """Register the reading layouts if needed and switch the layout node to ``layoutId``.

    In Slicer the layout manager then creates the view widgets; headless, call
    :meth:`~AISCommonLib.mrml.headless.HeadlessApplication.updateSliceLogics` afterwards.

    :param sequences: the case's sequence keys (e.g. ``caseNodes.volumeNodes``): the layouts are registered again
        for them, so T1w/T2w get tiles when the case has them and lose them when the next case has not; None keeps
        the layouts as registered.
    """
    layoutViews(layoutId)
    if sequences is not None:
        if layoutSequences(layoutNode.GetScene(), layoutId) != readingSequences(sequences) or not layoutNode.IsLayoutDescription(layoutId):
            registerLayouts(layoutNode, readingSequences(sequences))
    elif not layoutNode.IsLayoutDescription(layoutId):
        registerLayouts(layoutNode)
    layoutNode.SetViewArrangement(layoutId)
