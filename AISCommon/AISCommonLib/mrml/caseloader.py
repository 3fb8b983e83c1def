"""Put a loaded case into a scene: one scalar volume node per sequence, with a window/level per sequence."""

import dataclasses

import numpy as np

from ..core.image import GRID_TOLERANCE, Volume, gridDifference
from ..core.sequences import LoadedCase
from .volumes import addVolumeNode

#: Sequence key -> name shown to the reader (node name, view label).
SEQUENCE_NAMES = {"dwi": "DWI", "adc": "ADC", "eadc": "eADC", "flair": "FLAIR", "t1w": "T1w", "t2w": "T2w"}
#: Order in which sequences are listed and tiled.
SEQUENCE_ORDER = ("dwi", "adc", "eadc", "flair", "t1w", "t2w")
#: ADC window, mm^2/s: from 0 (dark infarct) to 1600e-6 (above parenchyma, below CSF).
ADC_DISPLAY_RANGE_MM2_PER_S = (0.0, 1600e-6)
#: Intensity percentiles (inside the brain on the DWI grid, else of non-zero voxels) that set the
#: window of DWI, eADC, FLAIR and T1w/T2w: bright lesions stay below white saturation.
DISPLAY_PERCENTILES = (1.0, 99.7)
#: Node attributes that tag the nodes this package created.
SEQUENCE_ATTRIBUTE = "AIS.Sequence"
CASE_ATTRIBUTE = "AIS.CaseId"
GREY_COLOR_NODE_ID = "vtkMRMLColorTableNodeGrey"


@dataclasses.dataclass
class CaseNodes:
    """The volume nodes of one case in a scene.

    :param loaded: the core case the nodes were made from.
    :param volumeNodes: sequence key (``dwi``, ``adc``, ``eadc``, ``flair``, ``t1w``, ``t2w``) -> scalar volume node;
        only sequences the case has.
    :param windowLevel: sequence key -> ``(window, level)`` in the sequence's stored unit.
    """

    loaded: LoadedCase
    volumeNodes: dict
    windowLevel: dict

    @property
    def dwiNode(self):
        """The reference volume node (DWI grid)."""
        return self.volumeNodes["dwi"]

    @property
    def adcUnit(self):
        """The :class:`AdcUnit` of the ADC volume as stored."""
        return self.loaded.adcUnit.unit

    def sequenceKeys(self) -> list:
        """Keys of the loaded sequences in display order."""
        return [key for key in SEQUENCE_ORDER if key in self.volumeNodes]


def _percentileWindow(array: np.ndarray, mask: np.ndarray | None) -> tuple[float, float]:
    values = array[mask] if mask is not None and mask.any() else array[array != 0]
    if values.size == 0:
        values = array.ravel()
    low, high = (float(value) for value in np.percentile(values, DISPLAY_PERCENTILES))
    if high <= low:
        high = low + 1.0
    return high - low, (high + low) / 2.0


def displayWindowLevel(key: str, volume: Volume, loaded: LoadedCase) -> tuple[float, float]:
    """Window and level (stored units) to show one sequence.

    ADC gets a fixed window (0 to 1600e-6 mm^2/s expressed in the file's unit, so an infarct is dark
    and the same on every case); the others a percentile window over the brain.

    :param key: sequence key.
    :param volume: the sequence's volume.
    :param loaded: the case (ADC unit, brain mask on the DWI grid).
    :return: ``(window, level)``.
    """
    if key == "adc":
        unit = loaded.adcUnit.unit
        low, high = (unit.fromMm2PerS(value) for value in ADC_DISPLAY_RANGE_MM2_PER_S)
        return high - low, (high + low) / 2.0
    onDwiGrid = gridDifference(volume, loaded.dwi) <= GRID_TOLERANCE
    return _percentileWindow(volume.array, loaded.brainMask if onDwiGrid else None)


def caseVolumes(loaded: LoadedCase) -> dict:
    """Sequence key -> 3D core volume for every sequence the case has, in display order."""
    volumes = {"dwi": loaded.dwi, "adc": loaded.adc, "eadc": loaded.eadc, "flair": loaded.flair, "t1w": loaded.t1w, "t2w": loaded.t2w}
    return {key: volumes[key] for key in SEQUENCE_ORDER if volumes[key] is not None}


def addCaseToScene(scene, loaded: LoadedCase) -> CaseNodes:
    """Add one scalar volume node per sequence of ``loaded``, each on its own NIfTI grid.

    Nodes are named by sequence (``DWI``, ``ADC``, ``eADC``, ``FLAIR``, ``T1w``, ``T2w``) and tagged with
    the attributes ``AIS.Sequence`` and ``AIS.CaseId``; each gets a grey display node with a fixed
    window/level (see :func:`displayWindowLevel`). A 4D DWI series is shown as the case's b~1000 image.

    :param scene: the MRML scene; grey colour table ``vtkMRMLColorTableNodeGrey`` should exist (Slicer's
        default colour nodes).
    :param loaded: the case from :func:`AISCommonLib.core.sequences.loadCase`.
    :return: the nodes and the windows used.
    """
    volumeNodes, windowLevel = {}, {}
    for key, volume in caseVolumes(loaded).items():
        node = addVolumeNode(scene, volume, SEQUENCE_NAMES[key])
        node.SetAttribute(SEQUENCE_ATTRIBUTE, key)
        node.SetAttribute(CASE_ATTRIBUTE, loaded.case.caseId)
        displayNode = scene.AddNewNodeByClass("vtkMRMLScalarVolumeDisplayNode")
        if scene.GetNodeByID(GREY_COLOR_NODE_ID) is not None:
            displayNode.SetAndObserveColorNodeID(GREY_COLOR_NODE_ID)
        window, level = displayWindowLevel(key, volume, loaded)
        displayNode.SetAutoWindowLevel(False)
        displayNode.SetWindowLevel(window, level)
        displayNode.SetInterpolate(True)
        node.SetAndObserveDisplayNodeID(displayNode.GetID())
        volumeNodes[key], windowLevel[key] = node, (window, level)
    return CaseNodes(loaded, volumeNodes, windowLevel)


def findCaseVolumeNodes(scene) -> dict:
    """Sequence key -> volume node for the nodes :func:`addCaseToScene` created (the last one of each key wins)."""
    found = {}
    nodes = scene.GetNodesByClass("vtkMRMLScalarVolumeNode")
    for index in range(nodes.GetNumberOfItems()):
        node = nodes.GetItemAsObject(index)
        key = node.GetAttribute(SEQUENCE_ATTRIBUTE)
        if key:
            found[key] = node
    return {key: found[key] for key in SEQUENCE_ORDER if key in found}
