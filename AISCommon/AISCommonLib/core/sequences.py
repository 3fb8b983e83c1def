"""Load one case: DWI (b~1000 and b0), ADC with its unit, eADC, FLAIR and optional T1w/T2w.

DWI is the reference grid. ADC and eADC must lie on it; FLAIR and T1w/T2w keep their own grid and
are resampled only where a computation needs it. Every choice made on the way (which volume is the
DWI and why, the b value and where it came from, the ADC unit and how it was decided, how eADC was
made) is kept in words in :attr:`LoadedCase.choices`; what deserves a reader's attention (b other than
1000, an assumed b value, a b0 on another grid) in :attr:`LoadedCase.warnings`.
"""

import dataclasses
import logging

import numpy as np

from .adcunits import AdcUnitDecision, decideAdcUnit
from .brainmask import computeBrainMask
from .cases import Case
from .diffusion import (
    B0_MAXIMUM,
    NOMINAL_B,
    NOMINAL_B_TOLERANCE,
    BValues,
    declaredBValues,
    isNominal,
    pickFromSeries,
    readBvecs,
)
from .errors import InputError
from .image import Volume, gridDifference, kjiShapeAsIjk, loadVolume, readHeaderGrid, requireSameGrid
from .imagelimits import ImageLimits

logger = logging.getLogger(__name__)

#: Sequences without which a case cannot be loaded (FLAIR and the rest are optional for loading).
LOAD_REQUIRED_SEQUENCES = ("dwi", "adc")
#: Used, and reported as assumed, when nothing gives the b value of a 3D DWI.
DEFAULT_B_VALUE = NOMINAL_B


@dataclasses.dataclass
class LoadedCase:
    """The images of one case, ready for seeding and display.

    :param dwi: the high-b (diffusion-weighted) 3D image; the reference grid.
    :param b0: the b=0 image on the DWI grid, when the DWI came as a series or with a b0 file.
    :param adc: ADC as stored (see ``adcUnit`` for its unit), on the DWI grid.
    :param eadc: exponential ADC, unitless, on the DWI grid (provided or computed; see ``eadcSource``).
    :param bValue: b value of ``dwi`` in s/mm^2; ``bValueSource`` says where it came from
        (``bval``, ``sidecar``, ``header``, ``file name`` or ``assumed``).
    :param brainMask: boolean ``[k, j, i]`` brain mask on the DWI grid.
    :param choices: topic (``dwi``, ``bValue``, ``b0``, ``adc``, ``adcUnit``, ``eadc``, ``flair`` ...) -> one sentence.
    :param warnings: sentences a reader or manager should see (b other than 1000, an assumed b value ...).
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
    choices: dict = dataclasses.field(default_factory=dict)
    warnings: list = dataclasses.field(default_factory=list)

    def adcMicro(self) -> np.ndarray:
        """ADC in 1e-6 mm^2/s (float32, ``[k, j, i]``), whatever unit the file used."""
        return self.adc.array.astype(np.float32) * np.float32(self.adcUnit.unit.toMicro)


def _sourceKind(source: str) -> str:
    """Short tag of a :class:`BValues` source for ``bValueSource``."""
    for prefix, kind in (("the .bval", "bval"), ("the header", "header"), ("the file name", "file name")):
        if source.startswith(prefix):
            return kind
    return "sidecar"


def _singleB(case: Case, sources: list[BValues]) -> tuple[float, BValues] | None:
    """The b value of a 3D DWI: the first source giving one value (a list of equal values counts)."""
    for bValues in sources:
        values = set(bValues.values)
        if len(values) == 1:
            return float(bValues.values[0]), bValues
        raise InputError(
            f"The DWI of {case.caseId} is a single 3D image but {bValues.source} lists {len(bValues.values)} different b values "
            f"({', '.join(f'{value:g}' for value in bValues.values[:6])}); the file and its b values do not belong together."
        )
    return None


def _conflicts(bValue: float, chosen: BValues, sources: list[BValues]) -> list[str]:
    """Sentences for sources that name another single b value than the one used."""
    sentences = []
    for other in sources:
        if other is chosen or len(set(other.values)) != 1:
            continue
        if abs(float(other.values[0]) - bValue) > NOMINAL_B_TOLERANCE:
            sentences.append(f"{other.source} says b={other.values[0]:g} but {chosen.source} says b={bValue:g}; b={bValue:g} was used.")
    return sentences


def _loadDiffusion(case: Case, limits: ImageLimits | None) -> tuple[Volume, Volume | None, float, str, dict, list]:
    """The b~1000 DWI, b0 (or None), b value, its source tag, choice sentences and warnings."""
    path = case.files["dwi"]
    choices, warnings = {}, []
    if "dwi" in case.choices:
        choices["dwi"] = case.choices["dwi"]
    dwiFile = loadVolume(path, allowSeries=True, limits=limits)
    sources = declaredBValues(path, case.root, readHeaderGrid(path, limits).descrip)
    b0 = None
    if dwiFile.isSeries:
        listed = next((bValues for bValues in sources if bValues.perVolume), None)
        if listed is None:
            said = f" ({sources[0].source} gives b={sources[0].values[0]:g} for the whole file)" if sources else ""
            raise InputError(
                f"The DWI of {case.caseId} ('{path.name}') is a 4D series of {dwiFile.array.shape[0]} volumes and nothing lists "
                f"one b value per volume{said}: no .bval file and no b-value list in the sidecar, so which volume is the "
                "b~1000 image cannot be told; add the .bval file the converter wrote."
            )
        picked = pickFromSeries(dwiFile.array, listed, readBvecs(path, case.root, dwiFile.array.shape[0]), f"The DWI '{path.name}'")
        dwi = dwiFile.withArray(picked.dwi)
        if picked.b0 is not None:
            b0 = dwiFile.withArray(picked.b0)
        bValue, chosenSource = picked.bValue, listed
        choices["bValue"] = picked.description
    else:
        dwi = dwiFile
        found = _singleB(case, sources)
        if found is None:
            bValue, chosenSource = DEFAULT_B_VALUE, None
            warnings.append(f"No b value for the DWI of {case.caseId} (no .bval, sidecar DiffusionBValue, header or file-name b value); b={DEFAULT_B_VALUE:g} s/mm^2 was assumed.")
            choices["bValue"] = f"b={DEFAULT_B_VALUE:g} s/mm^2 assumed: nothing in the .bval, sidecar, header or file name gives it."
        else:
            bValue, chosenSource = found
            choices["bValue"] = f"b={bValue:g} s/mm^2 from {chosenSource.source}."
        if bValue <= B0_MAXIMUM:
            raise InputError(
                f"The DWI of {case.caseId} ('{path.name}') has b={bValue:g} s/mm^2 ({chosenSource.source}): only a b=0 image was found, "
                "and a diffusion-weighted (b~1000) image is needed."
            )
    if chosenSource is not None:
        warnings.extend(_conflicts(bValue, chosenSource, sources))
    if not isNominal(bValue):
        warnings.append(
            f"The DWI of {case.caseId} has b={bValue:g} s/mm^2, not 1000: lesion contrast and the eADC differ from the consensus "
            "protocol; read it knowing that."
        )
    dwi.path = dwiFile.path
    if b0 is not None:
        b0.path = dwiFile.path
        if "b0" in case.files:
            choices["b0"] = f"b0 from the DWI series' own b=0 volumes; the separate file {case.files['b0'].name} was not needed."
    elif "b0" in case.files:
        b0 = _loadSeparateB0(case, dwi, limits, choices, warnings)
    return dwi, b0, bValue, _sourceKind(chosenSource.source) if chosenSource else "assumed", choices, warnings


def _loadSeparateB0(case: Case, dwi: Volume, limits, choices: dict, warnings: list) -> Volume | None:
    path = case.files["b0"]
    volume = loadVolume(path, allowSeries=True, limits=limits)
    if volume.isSeries:
        volume = volume.withArray(volume.array.astype(np.float32).mean(axis=0))
        volume.path = path
    if gridDifference(dwi, volume) > 1e-4:
        warnings.append(
            f"The b=0 file {path.name} of {case.caseId} ({kjiShapeAsIjk(volume.gridShape)}) is not on the DWI grid "
            f"({kjiShapeAsIjk(dwi.gridShape)}); it was not used, and eADC is computed from ADC instead."
        )
        choices["b0"] = f"{path.name} not used: it is not on the DWI grid."
        return None
    choices["b0"] = case.choices.get("b0", f"{path.name}: the b=0 image.")
    return volume


def _loadOptional(case: Case, key: str, limits) -> Volume | None:
    return loadVolume(case.files[key], limits=limits) if key in case.files else None


def _eadc(case: Case, dwi: Volume, b0: Volume | None, adcMicro: np.ndarray, bValue: float, limits) -> tuple[Volume, str]:
    if "eadc" in case.files:
        eadc = loadVolume(case.files["eadc"], limits=limits)
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


EADC_SENTENCES = {
    "provided": "the dataset's own eADC file {name}",
    "dwi/b0": "computed as DWI / b0 (the measured signal ratio)",
    "exp(-b*adc)": "computed as exp(-b x ADC) with b={b:g} s/mm^2 (no b0 image)",
}


def loadCase(case: Case, adcUnit=None, limits: ImageLimits | None = None) -> LoadedCase:
    """Read and check every image of a case.

    :param adcUnit: unit key (``1e-6``, ``1e-3``, ``mm2/s``) to override detection, or None to detect.
    :param limits: per-image size limits (None: the defaults, or ``AIS_MAX_IMAGE_MIB``).
    :raises InputError: a required sequence is missing or unreadable, ADC/eADC is off the DWI grid,
        only b=0 was found, a 4D series has no per-volume b values, or the ADC unit cannot be told.
    """
    for key in LOAD_REQUIRED_SEQUENCES:
        if key not in case.files:
            raise InputError(f"{case.caseId} has no {key.upper()} image in '{case.folder}'; it cannot be seeded or read.")
    dwi, b0, bValue, bSource, choices, warnings = _loadDiffusion(case, limits)
    adc = loadVolume(case.files["adc"], limits=limits)
    requireSameGrid(dwi, adc)
    choices["adc"] = case.choices.get("adc", f"{case.files['adc'].name}.").rstrip(".") + "; on the DWI grid."
    # The b1000 image, not b0: on the phantoms a b0 mask took in a shell of skull (54 ml) where the
    # DWI mask took 0.8 ml, while missing 1.5 ml of parenchyma instead of 0.3 ml.
    brainMask = computeBrainMask(dwi)
    unit = decideAdcUnit(adc.array, brainMask & (adc.array > 0), adcUnit, adc.label())
    choices["adcUnit"] = unit.describe()
    if unit.conflictsWithData:
        warnings.append(unit.conflictSentence())
    loaded = LoadedCase(case, dwi, adc, unit, dwi, "", bValue, bSource, brainMask, b0, choices=choices, warnings=warnings)
    loaded.eadc, loaded.eadcSource = _eadc(case, dwi, b0, loaded.adcMicro(), bValue, limits)
    choices["eadc"] = "eADC " + EADC_SENTENCES[loaded.eadcSource].format(name=case.files.get("eadc", dwi.path).name, b=bValue) + "."
    loaded.flair, loaded.t1w, loaded.t2w = (_loadOptional(case, key, limits) for key in ("flair", "t1w", "t2w"))
    for key in ("flair", "t1w", "t2w"):
        volume = getattr(loaded, key)
        if volume is not None:
            spacing = " x ".join(f"{value:.3g}" for value in volume.spacingMm)
            where = "on the DWI grid" if gridDifference(dwi, volume) <= 1e-4 else "on its own grid (shown as it is; resampled only for hints)"
            choices[key] = case.choices.get(key, volume.label()).rstrip(".") + f"; {kjiShapeAsIjk(volume.gridShape)} voxels of {spacing} mm, {where}."
    for warning in warnings:
        logger.info("%s", warning)  # callers show the warnings (ais validate, ais seed, the module)
    return loaded
