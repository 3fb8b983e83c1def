"""DWI assist: grow (or shrink) a reader's mask into the connected DWI-bright tissue around it.

The ADC rule finds only the core of many real infarcts: parts of an acute lesion sit above 620e-6 mm^2/s
while still DWI-bright and darker on ADC than normal tissue. The consensus asks the reader to fix the
boundary on DWI; this does the tedious part under the reader's control:

- **grow**: add voxels that are DWI-bright (robust SDs above nearby normal tissue, :mod:`dwicontrast`),
  whose ADC is plausible for ischemia (not above normal tissue's: that would be T2 shine-through or CSF),
  connected to the mask and no farther than a distance from it, so it never floods a whole hemisphere;
- **shrink**: remove mask voxels that are neither DWI-bright nor ADC-dark (what the hints call "not
  DWI-bright").

It works on the whole mask or on the lesions a reader picks, and returns what it added and removed so the
module can preview it and undo it. Nothing here changes the mask in place.
"""

import dataclasses

import numpy as np

from .brainmask import distanceInsideMm
from .dwicontrast import DEFAULT_REFERENCE_SIGMA_MM, DwiContrast, measureDwiContrast
from .errors import InputError
from .seeding import CSF_ADC_FACTOR, borderFraction, skullBaseZone
from .sequences import LoadedCase

#: Lowest fraction of the brain's height that counts as the skull base (as in the seed).
SKULL_BASE_FRACTION = 0.5

MODE_GROW = "grow"
MODE_SHRINK = "shrink"
MODE_BOTH = "both"
ASSIST_MODES = (MODE_GROW, MODE_SHRINK, MODE_BOTH)


@dataclasses.dataclass(frozen=True)
class AssistParameters:
    """How far the DWI assist goes.

    :param mode: ``grow``, ``shrink`` or ``both``.
    :param dwiMinRobustZ: DWI-bright means this many robust SDs above nearby normal tissue (the slider: lower
        takes in more, higher less); the seed's own gate uses 2.
    :param adcMaxRatio: grown voxels need ADC at most this times normal tissue's median ADC.
    :param maxDistanceMm: grown voxels lie at most this far from the mask.
    :param referenceSigmaMm: width (mm) of "nearby" normal tissue.
    :param skullBaseRimMm: growth never enters the brain's rim this deep in the lower half of the brain.
    :param maxCsfBorderFraction: growth into a lesion whose border is more than this fraction CSF is taken back.
    """

    mode: str = MODE_GROW
    dwiMinRobustZ: float = 2.0
    adcMaxRatio: float = 1.0
    maxDistanceMm: float = 10.0
    referenceSigmaMm: float = DEFAULT_REFERENCE_SIGMA_MM
    skullBaseRimMm: float = 12.0
    maxCsfBorderFraction: float = 0.5

    def validated(self) -> "AssistParameters":
        """:raises InputError: a parameter outside its range."""
        checks = [
            (self.mode in ASSIST_MODES, f"the mode must be one of {', '.join(ASSIST_MODES)}, not '{self.mode}'"),
            (0 <= self.dwiMinRobustZ <= 20, "the DWI brightness must lie between 0 and 20 robust SDs"),
            (0 < self.adcMaxRatio <= 3, "the ADC limit must lie between 0 and 3 times normal tissue's ADC"),
            (0 < self.maxDistanceMm <= 50, "the growth distance must lie between 0 and 50 mm"),
            (self.referenceSigmaMm > 0, "the reference width must be positive"),
            (self.skullBaseRimMm >= 0, "the skull-base rim must not be negative"),
            (0 <= self.maxCsfBorderFraction <= 1, "the CSF border fraction must lie between 0 and 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise InputError(f"Invalid DWI assist parameter: {message}.")
        return self


@dataclasses.dataclass
class AssistResult:
    """The assisted mask and the change, all bool ``[k, j, i]`` on the DWI grid.

    :param mask: the mask after the assist.
    :param added: voxels the assist added; ``removed`` those it removed.
    :param summary: JSON-ready numbers (voxels and mL added and removed, parameters).
    """

    mask: np.ndarray
    added: np.ndarray
    removed: np.ndarray
    summary: dict


def _components(mask: np.ndarray) -> np.ndarray:
    import SimpleITK as sitk

    return sitk.GetArrayFromImage(sitk.ConnectedComponent(sitk.GetImageFromArray(mask.astype(np.uint8)), True))


def assistOnDwi(loaded: LoadedCase, mask: np.ndarray, parameters: AssistParameters | None = None, region: np.ndarray | None = None,
                contrast: DwiContrast | None = None) -> AssistResult:
    """Grow and/or shrink ``mask`` on DWI contrast.

    :param loaded: the case.
    :param mask: bool ``[k, j, i]`` on the DWI grid (the reader's current mask).
    :param parameters: see :class:`AssistParameters`; defaults when None.
    :param region: bool ``[k, j, i]``: work only on the lesions of ``mask`` that touch it (e.g. one lesion the
        reader picked); None works on the whole mask.
    :param contrast: a :class:`DwiContrast` measured before (the module keeps it while a slider moves).
    :return: the new mask with what was added and removed.
    :raises InputError: a mask off the DWI grid, or invalid parameters.
    """
    parameters = (parameters or AssistParameters()).validated()
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != loaded.dwi.gridShape:
        raise InputError(f"The mask has shape {mask.shape[::-1]} but the DWI grid is {loaded.dwi.gridShape[::-1]} (i x j x k).")
    adcMicro = loaded.adcMicro()
    brain = loaded.brainMask
    if contrast is None:
        contrast = measureDwiContrast(loaded.dwi, adcMicro, brain, parameters.referenceSigmaMm, exclude=mask)
    target = mask
    if region is not None:
        labels = _components(mask)
        picked = np.unique(labels[np.asarray(region, dtype=bool) & mask])
        target = np.isin(labels, picked[picked > 0])
    bright = contrast.ratio > contrast.brightness(parameters.dwiMinRobustZ)
    plausibleAdc = (adcMicro > 0) & (adcMicro <= parameters.adcMaxRatio * contrast.normalAdcMicro)
    result = mask.copy()
    added = np.zeros_like(mask)
    removed = np.zeros_like(mask)
    if parameters.mode in (MODE_SHRINK, MODE_BOTH) and target.any():
        darkAdc = (adcMicro > 0) & (adcMicro < contrast.normalAdcMicro)
        removed = target & ~bright & ~darkAdc
        result &= ~removed
        target = target & ~removed
    if parameters.mode in (MODE_GROW, MODE_BOTH) and target.any():
        near = distanceInsideMm(~target, loaded.dwi) <= parameters.maxDistanceMm
        # Never into the skull-base rim, where susceptibility artifacts are DWI-bright (the seed's step 7 zone).
        rim = (distanceInsideMm(brain, loaded.dwi) <= parameters.skullBaseRimMm) & skullBaseZone(loaded, SKULL_BASE_FRACTION)
        candidate = brain & bright & plausibleAdc & near & ~result & ~rim
        labels = _components(candidate | target)
        touching = np.unique(labels[target])
        added = np.isin(labels, touching[touching > 0]) & candidate
        # A grown lesion bordered mostly by CSF is choroid plexus or CSF partial volume: take back what was added to it.
        grownLabels = _components(result | added)
        count = int(grownLabels.max())
        csf = adcMicro > CSF_ADC_FACTOR * contrast.normalAdcMicro
        inCsf = borderFraction(grownLabels, count, csf) > parameters.maxCsfBorderFraction
        added &= ~inCsf[grownLabels]
        result |= added
    voxelMl = loaded.dwi.voxelVolumeMm3 / 1000.0
    summary = {
        "addedVoxels": int(added.sum()), "addedMl": round(float(added.sum()) * voxelMl, 4),
        "removedVoxels": int(removed.sum()), "removedMl": round(float(removed.sum()) * voxelMl, 4),
        "voxels": int(result.sum()), "volumeMl": round(float(result.sum()) * voxelMl, 4),
        "normalRobustSd": round(contrast.normalSd, 4), "normalAdcMicro": round(contrast.normalAdcMicro, 1),
        "parameters": dataclasses.asdict(parameters),
    }
    return AssistResult(result, added, removed, summary)
