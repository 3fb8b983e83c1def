"""Load one case: DWI (b~1000 and b0), ADC with its unit, eADC, FLAIR and optional T1w/T2w.

DWI is the reference grid. ADC and eADC must lie on it; FLAIR and T1w/T2w keep their own grid and
are resampled only where a computation needs it.
"""

import dataclasses
import logging

import numpy as np

from .adcunits import AdcUnitDecision, decideAdcUnit
from .brainmask import computeBrainMask
from .cases import Case
from .errors import InputError
from .image import Volume, loadVolume, requireSameGrid

logger = logging.getLogger(__name__)

#: b values (s/mm^2) up to this count as b0 frames.
B0_MAXIMUM = 50.0
#: Sequences without which a case cannot be loaded (FLAIR and the rest are optional for loading).
LOAD_REQUIRED_SEQUENCES = ("dwi", "adc")
#: Used, and reported as assumed, when neither sidecar nor .bval gives the b value of a 3D DWI.
DEFAULT_B_VALUE = 1000.0


@dataclasses.dataclass
class LoadedCase:
    """The images of one case, ready for seeding and display.

    :param dwi: the high-b (diffusion-weighted) 3D image; the reference grid.
    :param b0: the b=0 image on the DWI grid, when the DWI came as a series.
    :param adc: ADC as stored (see ``adcUnit`` for its unit), on the DWI grid.
    :param eadc: exponential ADC, unitless, on the DWI grid (provided or computed; see ``eadcSource``).
    :param bValue: b value of ``dwi`` in s/mm^2; ``bValueSource`` says where it came from.
    :param brainMask: boolean ``[k, j, i]`` brain mask on the DWI grid.
    """

    case: Case
    dwi: Volume
    adc: Volume
    adcUnit: AdcUnitDecision
    eadc: Volume
    eadcSource: str
    bValue: float
    bValueSource: str
    brainMask: np.ndarray
    b0: Volume | None = None
    flair: Volume | None = None
    t1w: Volume | None = None
    t2w: Volume | None = None

    def adcMicro(self) -> np.ndarray:
        """ADC in 1e-6 mm^2/s (float32, ``[k, j, i]``), whatever unit the file used."""
        return self.adc.array.astype(np.float32) * np.float32(self.adcUnit.unit.toMicro)


def _readBValues(case: Case) -> list[float] | None:
    path = case.bvalPath()
    if path is None:
        return None
    try:
        return [float(value) for value in path.read_text(encoding="utf-8").split()]
    except (OSError, ValueError) as error:
        raise InputError(f"The b-value file '{path}' cannot be read as numbers ({error}).") from None


def _sidecarBValue(case: Case) -> float | None:
    value = case.sidecar("dwi").get("DiffusionBValue")
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InputError(f"The DWI sidecar of {case.caseId} has a DiffusionBValue that is not a number: {value!r}.") from None


def _splitSeries(case: Case, series: Volume) -> tuple[Volume, Volume, float]:
    """Highest-b image (mean of its frames) and b0 (mean of b<=50 frames) from a 4D DWI."""
    bValues = _readBValues(case)
    frameCount = series.array.shape[0]
    if bValues is None:
        raise InputError(f"The DWI of {case.caseId} is a 4D series with {frameCount} frames but has no .bval file to tell the b values.")
    if len(bValues) != frameCount:
        raise InputError(f"The .bval file of {case.caseId} lists {len(bValues)} b values for a DWI series of {frameCount} frames.")
    bArray = np.asarray(bValues)
    highest = float(bArray.max())
    if highest <= B0_MAXIMUM:
        raise InputError(f"The DWI series of {case.caseId} has no diffusion-weighted frame (all b values <= {B0_MAXIMUM:g}).")
    b0Frames = bArray <= B0_MAXIMUM
    if not b0Frames.any():
        raise InputError(f"The DWI series of {case.caseId} has no b0 frame (b <= {B0_MAXIMUM:g}).")
    # Several high-b frames are diffusion directions: their mean approximates the trace image.
    dwi = series.withArray(series.array[np.isclose(bArray, highest)].astype(np.float32).mean(axis=0))
    b0 = series.withArray(series.array[b0Frames].astype(np.float32).mean(axis=0))
    dwi.path = b0.path = series.path
    return dwi, b0, highest


def _loadOptional(case: Case, key: str) -> Volume | None:
    return loadVolume(case.files[key]) if key in case.files else None


def _eadc(case: Case, dwi: Volume, b0: Volume | None, adcMicro: np.ndarray, bValue: float) -> tuple[Volume, str]:
    if "eadc" in case.files:
        eadc = loadVolume(case.files["eadc"])
        requireSameGrid(dwi, eadc)
        return eadc, "provided"
    # Where ADC is 0 the scanner fitted nothing (background): eADC stays dark there, instead of the
    # noise ratio of two background signals or exp(0) = 1.
    tissue = adcMicro > 0
    if b0 is not None:
        ratio = np.divide(dwi.array, b0.array, out=np.zeros(dwi.gridShape, dtype=np.float32), where=tissue & (b0.array > 0))
        return dwi.withArray(np.clip(ratio, 0.0, 1.0).astype(np.float32)), "dwi/b0"
    # b [s/mm^2] * ADC [1e-6 mm^2/s] * 1e-6 is dimensionless.
    eadc = np.where(tissue, np.exp(-bValue * np.clip(adcMicro, 0.0, None) * 1e-6), 0.0)
    return dwi.withArray(eadc.astype(np.float32)), "exp(-b*adc)"


def loadCase(case: Case, adcUnit=None) -> LoadedCase:
    """Read and check every image of a case.

    :param adcUnit: unit key (``1e-6``, ``1e-3``, ``mm2/s``) to override detection, or None to detect.
    :raises InputError: a required sequence is missing or unreadable, ADC/eADC is off the DWI grid,
        b values are inconsistent, or the ADC unit cannot be told.
    """
    for key in LOAD_REQUIRED_SEQUENCES:
        if key not in case.files:
            raise InputError(f"{case.caseId} has no {key.upper()} image in '{case.folder}'; it cannot be seeded or read.")
    dwiFile = loadVolume(case.files["dwi"], allowSeries=True)
    b0 = None
    if dwiFile.isSeries:
        dwi, b0, bValue = _splitSeries(case, dwiFile)
        bSource = "bval"
    else:
        dwi = dwiFile
        sidecarB, fileB = _sidecarBValue(case), _readBValues(case)
        if sidecarB is not None:
            bValue, bSource = sidecarB, "sidecar"
        elif fileB:
            bValue, bSource = max(fileB), "bval"
        else:
            bValue, bSource = DEFAULT_B_VALUE, "assumed"
            logger.warning("%s: no b value in sidecar or .bval; assuming b=%g s/mm^2.", case.caseId, DEFAULT_B_VALUE)
        if bValue <= B0_MAXIMUM:
            raise InputError(f"The DWI of {case.caseId} has b={bValue:g} s/mm^2; a diffusion-weighted (b~1000) image is needed.")
    adc = loadVolume(case.files["adc"])
    requireSameGrid(dwi, adc)
    # The b1000 image, not b0: on the phantoms a b0 mask took in a shell of skull (54 ml) where the
    # DWI mask took 0.8 ml, while missing 1.5 ml of parenchyma instead of 0.3 ml.
    brainMask = computeBrainMask(dwi)
    unit = decideAdcUnit(adc.array, brainMask & (adc.array > 0), adcUnit, adc.label())
    loaded = LoadedCase(case, dwi, adc, unit, dwi, "", bValue, bSource, brainMask, b0)
    loaded.eadc, loaded.eadcSource = _eadc(case, dwi, b0, loaded.adcMicro(), bValue)
    loaded.flair, loaded.t1w, loaded.t2w = (_loadOptional(case, key) for key in ("flair", "t1w", "t2w"))
    return loaded
