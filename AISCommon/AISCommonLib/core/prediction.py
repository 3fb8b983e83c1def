"""An AI model's prediction as the reader's starting mask, instead of the ADC-threshold seed.

Sites run MONAI Label, nnU-Net, DeepISLES or their own models; each writes a NIfTI, either a label map (the
argmax of the classes) or a probability map (softmax/sigmoid of the lesion class). Any such file on the DWI
grid can start a read. The reader still owns the result: they edit it as they would edit the seed, and the
read records where the start came from (file name, SHA-256, tool, binarisation rule), so the reviewer and the
acceptance report can tell AI-started reads from others and nobody can pass a model's output off as a reading.

**Binarisation rule** (written once here, recorded with every read that used it):

1. every voxel value a whole number (within 1e-6): a **label map**. With one non-zero value (``0/1``,
   ``0/255``) the lesion is every non-zero voxel; with several (a multi-class nnU-Net output) the lesion
   label must be chosen (``label``), there is no guessing which class is the infarct;
2. otherwise, every value within [0, 1]: a **probability map**; lesion = probability >= ``threshold``
   (default 0.5, the rule MONAI's ``AsDiscrete(threshold=0.5)`` and our STAPLE consensus use);
3. anything else (negative values, values above 1 that are not whole numbers: logits, or an image that is
   not a prediction) is refused: a model's raw output needs its sigmoid/softmax or argmax first.

Refused with one sentence, before anything is written: a 4D file (one channel per class: save the lesion
channel or the argmax as 3D), NaN or infinite voxels, a grid other than the DWI's (predictions made on a
resampled or skull-stripped grid must be brought back to the DWI first; masks are never resampled here).
"""

import dataclasses
from pathlib import Path

import numpy as np

from .atomicio import sha256File
from .errors import GeometryError, InputError
from .image import Volume, loadVolume, requireSameGrid

#: Probability at or above which a voxel is lesion (probability maps).
DEFAULT_PROBABILITY_THRESHOLD = 0.5
#: Values this close to a whole number count as labels (float files that store labels).
LABEL_TOLERANCE = 1e-6
#: The ``source`` tag of a prediction's summary (``readrecord.readMethod`` tells it from the ADC seed by it).
PREDICTION_SOURCE = "prediction"


@dataclasses.dataclass
class PredictionStart:
    """A prediction binarised on the DWI grid, and what the read records about it.

    :param mask: bool ``[k, j, i]`` on the DWI grid.
    :param summary: JSON-serialisable origin: ``source`` (``prediction``), ``file``, ``sha256``, ``tool``,
        ``kind`` (``labels`` or ``probabilities``), ``rule`` (in words), ``threshold``/``label``, ``voxels``,
        ``volume_ml``, ``components``.
    """

    mask: np.ndarray
    summary: dict


def _wholeNumbers(values: np.ndarray) -> bool:
    return bool(np.all(np.abs(values - np.rint(values)) <= LABEL_TOLERANCE))


def binarisePrediction(array: np.ndarray, name: str, threshold: float = DEFAULT_PROBABILITY_THRESHOLD, label: int | None = None) -> tuple[np.ndarray, dict]:
    """Apply the binarisation rule (module docstring) to a prediction's voxels.

    :param array: the prediction ``[k, j, i]``, any numeric dtype, finite.
    :param name: the file name, for messages.
    :param threshold: probability threshold in (0, 1] for probability maps.
    :param label: the lesion label of a multi-label map (also accepted for a binary one).
    :return: ``(bool mask, rule)`` where ``rule`` has ``kind``, ``rule`` (words), ``threshold`` or ``label``.
    :raises InputError: a threshold outside (0, 1], a label the map does not hold, several labels without a choice, or
        values that are neither labels nor probabilities.
    """
    if not 0.0 < threshold <= 1.0:
        raise InputError(f"The probability threshold must lie in (0, 1], not {threshold:g}.")
    values = np.unique(np.asarray(array))
    if _wholeNumbers(values.astype(np.float64)):
        labels = [int(value) for value in np.rint(values) if int(value) != 0]
        if label is not None:
            if int(label) not in labels:
                raise InputError(f"The prediction '{name}' has no voxel of label {label} (its labels: {', '.join(map(str, labels)) or 'none'}).")
            return np.rint(array) == int(label), {"kind": "labels", "rule": f"voxels labelled {int(label)}", "label": int(label)}
        if len(labels) > 1:
            raise InputError(f"The prediction '{name}' holds several labels ({', '.join(map(str, labels[:8]))}); say which one is the "
                             "lesion (--prediction-label), no class is guessed.")
        return np.rint(array) != 0, {"kind": "labels", "rule": "non-zero voxels", "label": labels[0] if labels else None}
    if label is not None:
        raise InputError(f"The prediction '{name}' holds probabilities, not labels: a lesion label does not apply (use the threshold).")
    low, high = float(values.min()), float(values.max())
    if low < 0.0 or high > 1.0:
        raise InputError(f"The prediction '{name}' holds values from {low:.3g} to {high:.3g}: neither labels nor probabilities (raw "
                         "logits?); save the model's sigmoid/softmax probabilities or its argmax labels.")
    return np.asarray(array) >= threshold, {"kind": "probabilities", "rule": f"probability >= {threshold:g}", "threshold": float(threshold)}


def loadPrediction(path, dwi: Volume, tool: str | None = None, threshold: float = DEFAULT_PROBABILITY_THRESHOLD,
                   label: int | None = None, limits=None) -> PredictionStart:
    """Read a prediction NIfTI, check it lies on the DWI grid and binarise it.

    :param path: the prediction file (``.nii``/``.nii.gz``).
    :param dwi: the case's DWI (the reference grid); only its grid is used.
    :param tool: what made it (e.g. ``nnU-Net v2 Dataset201``, ``MONAI Label deepedit``), recorded as given.
    :param threshold: probability threshold (probability maps).
    :param label: the lesion label (multi-label maps).
    :param limits: image size limits (:class:`~AISCommonLib.core.imagelimits.ImageLimits`), None for the defaults.
    :return: the mask and its origin.
    :raises InputError: unreadable, 4D, NaN/inf, neither labels nor probabilities, several labels without a choice.
    :raises GeometryError: not on the DWI grid.
    """
    path = Path(path)
    try:
        volume = loadVolume(path, limits=limits)
    except InputError as error:
        raise type(error)(f"The AI prediction cannot start the read: {error}") from None
    try:
        requireSameGrid(dwi, volume)
    except GeometryError as error:
        raise GeometryError(f"The AI prediction cannot start the read: {str(error).rstrip('.')}. Bring it back to the DWI grid first "
                            "(resample with the DWI as reference, nearest neighbour for labels); it is never resampled here.") from None
    mask, rule = binarisePrediction(volume.array, path.name, threshold, label)
    from .lesions import labelComponents

    voxels = int(mask.sum())
    summary = {
        "source": PREDICTION_SOURCE,
        "file": path.name,
        "sha256": sha256File(path),
        "tool": (tool or "").strip() or None,
        **rule,
        "voxels": voxels,
        "volume_ml": round(voxels * dwi.voxelVolumeMm3 / 1000.0, 4),
        "components": labelComponents(mask).count,
    }
    return PredictionStart(mask, summary)


#: ``Method`` of a reader mask written straight from a prediction (``ais seed --from-prediction``).
METHOD_PREDICTION = "ai-prediction"


def dwiGrid(case, limits=None) -> Volume:
    """The case's DWI grid (the first volume of a series: every volume shares the grid)."""
    dwi = loadVolume(case.files["dwi"], allowSeries=True, limits=limits)
    return dwi.withArray(dwi.array[0]) if dwi.isSeries else dwi


def writePredictionStart(bidsRoot, case, reader: str, path, tool: str | None = None, threshold: float = DEFAULT_PROBABILITY_THRESHOLD,
                         label: int | None = None, limits=None) -> dict:
    """Write a prediction as ``reader``'s next mask version of ``case`` (what ``ais seed --from-prediction`` does).

    :return: the prediction's summary with ``reader``, ``version`` and ``mask`` (the path written).
    :raises InputError: the case has no DWI, or the prediction is refused (see :func:`loadPrediction`); nothing is written.
    :raises GeometryError: the prediction is off the DWI grid; nothing is written.
    """
    from .derivatives import writeReaderMask

    if "dwi" not in case.files:
        raise InputError(f"{case.caseId} has no DWI image; a prediction can only start a read on the DWI grid.")
    grid = dwiGrid(case, limits)
    start = loadPrediction(path, grid, tool, threshold, label, limits)
    record = writeReaderMask(bidsRoot, case, start.mask, grid, reader, METHOD_PREDICTION, start.summary)
    return {**start.summary, "caseId": case.caseId, "reader": reader, "version": record.version, "mask": str(record.path)}
