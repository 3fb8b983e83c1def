"""Values of every sequence at a RAS point, for the reader's status line."""

import dataclasses

import numpy as np

from AISCommonLib.core.image import rasToVoxel
from AISCommonLib.mrml.caseloader import SEQUENCE_NAMES, SEQUENCE_ORDER
from AISCommonLib.mrml.volumes import arrayFromVolumeNode, ijkToRas


@dataclasses.dataclass(frozen=True)
class ProbeValue:
    """One sequence's voxel at the probed point.

    :param sequence: sequence key.
    :param value: stored voxel value (nearest voxel), None outside the volume.
    :param unit: unit label (ADC: the detected unit), empty when unitless or arbitrary.
    :param kji: voxel index ``(k, j, i)``, None outside.
    """

    sequence: str
    value: float | None
    unit: str
    kji: tuple | None

    def text(self) -> str:
        """``ADC 452 x 1e-6 mm^2/s``, or ``FLAIR -`` outside the volume."""
        name = SEQUENCE_NAMES.get(self.sequence, self.sequence)
        if self.value is None:
            return f"{name} -"
        unit = f" {self.unit}" if self.unit else ""
        return f"{name} {self.value:.4g}{unit}"


def probeVolume(volumeNode, ras) -> tuple[float | None, tuple | None]:
    """Stored value of the voxel nearest to a RAS point.

    :param volumeNode: a scalar volume node.
    :param ras: ``(r, a, s)`` in mm.
    :return: ``(value, (k, j, i))``, or ``(None, None)`` outside the volume.
    """
    array = arrayFromVolumeNode(volumeNode)
    kji = np.rint(rasToVoxel(ijkToRas(volumeNode), ras)).astype(int)
    if np.any(kji < 0) or np.any(kji >= np.array(array.shape)):
        return None, None
    index = tuple(int(value) for value in kji)
    return float(array[index]), index


def probeSequences(volumeNodes: dict, ras, adcUnit=None) -> list[ProbeValue]:
    """Value of every sequence at a RAS point, in display order.

    :param volumeNodes: sequence key -> volume node (as in :class:`~AISCommonLib.mrml.caseloader.CaseNodes`).
    :param ras: ``(r, a, s)`` in mm.
    :param adcUnit: the ADC's :class:`~AISCommonLib.core.adcunits.AdcUnit` (labels the ADC value).
    :return: one :class:`ProbeValue` per sequence.
    """
    values = []
    for key in SEQUENCE_ORDER:
        if key not in volumeNodes:
            continue
        value, kji = probeVolume(volumeNodes[key], ras)
        unit = adcUnit.label if key == "adc" and adcUnit is not None else ""
        values.append(ProbeValue(key, value, unit, kji))
    return values


def statusLine(volumeNodes: dict, ras, adcUnit=None) -> str:
    """One line for the status bar: ``R 12.0 A -3.5 S 20.0 | DWI 312 | ADC 452 x 1e-6 mm^2/s | ...``."""
    r, a, s = (float(value) for value in ras)
    parts = [f"R {r:.1f} A {a:.1f} S {s:.1f}"] + [value.text() for value in probeSequences(volumeNodes, ras, adcUnit)]
    return " | ".join(parts)
