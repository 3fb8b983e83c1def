"""Objective image quality of a case (SNR, CNR) combined with the readers' Likert scores (consensus section 2.1).

**Noise (sigma).** MR images are magnitudes of complex data with Gaussian noise of standard deviation
sigma in each channel. Where there is no signal (air around the head) the magnitude follows a Rayleigh
distribution, whose mean is ``sigma * sqrt(pi / 2)`` (1.2533 sigma) and whose standard deviation is
``sigma * sqrt(2 - pi / 2)`` (0.6551 sigma). The raw standard deviation of the background therefore
underestimates sigma by a third and its raw mean overestimates it by a quarter; both are corrected here
(Henkelman 1985, Med Phys 12:232; Gudbjartsson & Patz 1995, MRM 34:910; Dietrich et al. 2007, JMRI 26:375).
The reported sigma is the mean-based one: it is unbiased for integer-rounded images (what dcm2niix writes)
and needs no assumption about the mean being zero. The SD-based value is kept too: the ratio of the two is
1 for pure Rayleigh noise and grows with ghosting or any structured background (motion, aliasing), which
is itself a quality warning (:data:`MAX_RAYLEIGH_RATIO`). Limits: multi-channel coils with sum-of-squares
combination give a non-central chi background (sigma is then overestimated by up to sqrt(2n)/1.25 when
n coils contribute), parallel imaging makes noise vary in space, and images masked or zero-filled by the
scanner or converter have no usable background. Exactly-zero voxels are therefore ignored; when fewer than
:data:`MIN_BACKGROUND_VOXELS` remain, sigma is estimated inside the brain instead from the median absolute
response of a 3x3 Laplacian filter per slice (Immerkaer 1996, CVIU 64:300), which is robust to edges but
assumes Gaussian noise (true for tissue at SNR > 3). The record says which method was used.

**SNR** of a sequence = mean signal in normal parenchyma / sigma. Normal parenchyma: brain mask eroded by
:data:`ROI_EROSION_MM`, ADC 400-1200 x 1e-6 mm^2/s (no CSF, no infarct core, no fit failure), and more than
:data:`SHELL_OUTER_MM` from any reader's lesion mask.

**CNR** = ``|mean(lesion) - mean(surrounding)| / sigma``. Lesion: the final (consensus) mask, else the voxels
both readers marked, else the one read, else a lesion mask the dataset ships (on the DWI grid). Surrounding: a shell more than :data:`SHELL_INNER_MM` and at most
:data:`SHELL_OUTER_MM` from the lesion, inside the brain, outside every read, with normal ADC (so CSF and
unmarked ischemic tissue are left out). The shell was chosen over the contralateral mirror region because
it needs no midline estimate (heads are tilted; the mirror of a cortical lesion often falls in a sulcus),
shares the lesion's bias field and coil sensitivity, and measures the contrast the reader sees at the
boundary. The inner 2 mm are skipped: partial volume and boundary disagreement live there.
FLAIR (and T1w/T2w) keep their own grid: ROI, lesion and shell are resampled onto it nearest-neighbour.

**Exclusion.** Only the sequences in :attr:`QualityThresholds.sequences` (DWI by default) can propose an
exclusion: DWI carries the annotation (and a DWI-positive, FLAIR-negative lesion has a *low* FLAIR CNR by
nature: that is the hyperacute mismatch, not bad quality). The case's Likert score is the mean of its
readers' scores (each taken from the ``Parameters`` of the reader's mask sidecar: a reader's score is their
weakest sequence, a sequence's score its weakest criterion, see :mod:`~AISCommonLib.core.readrecord`). A proposal
names a reason of the workflow store (``likert_below_3``, ``low_snr_cnr``) and a note that says which readers'
criteria fell below 3 (``R01 dwi.motion 2``); the manager records the decision with ``WorkflowStore.exclude``.
"""

import dataclasses
import logging
import math
from pathlib import Path

import numpy as np

from .cases import Case
from .derivatives import consensusMaskPath, latestReaderMasks
from .errors import AISError, InputError
from .image import Volume, loadVolume, requireSameGrid, resampleToGrid, toSimpleITK
from .morphology import fillHoles
from .readrecord import MIN_ACCEPTABLE_LIKERT

logger = logging.getLogger(__name__)

RAYLEIGH_MEAN_FACTOR = math.sqrt(math.pi / 2.0)
RAYLEIGH_SD_FACTOR = math.sqrt(2.0 - math.pi / 2.0)
#: Fewer background voxels than this (after dropping exact zeros) and the background is not used.
MIN_BACKGROUND_VOXELS = 2000
#: Background = farther than this from the head (mm): keeps scalp, fat and their blur out of the noise.
BACKGROUND_MARGIN_MM = 10.0
#: Voxels this close to the field-of-view edge are left out of the background (edge slices, wrap).
FIELD_OF_VIEW_BORDER_VOXELS = 2
#: SD-based over mean-based sigma above this: the background is not pure noise (ghosts, aliasing). Pure
#: noise measures 1.00 +- 0.01 on the phantoms; the motion-corrupted phantom 1.23 (DWI) and 1.77 (FLAIR).
MAX_RAYLEIGH_RATIO = 1.15
#: Erosion of the brain mask for the signal ROI (mm): leaves out cortex partial-volumed with CSF and skull.
ROI_EROSION_MM = 4.0
#: ADC range of normal parenchyma, 1e-6 mm^2/s (same rule as the seed's reference tissue).
NORMAL_ADC_MICRO = (400.0, 1200.0)
SHELL_INNER_MM = 2.0
SHELL_OUTER_MM = 6.0
#: Distances are compared with the limits above at a micrometre (far below any voxel size, far above float error).
DISTANCE_DECIMALS = 3
#: A lesion or shell with fewer voxels gives a CNR too noisy to act on: reported, never used to exclude.
MIN_CNR_VOXELS = 5
#: Sequences measured, in report order. ADC and eADC are computed maps without a noise background.
MEASURED_SEQUENCES = ("dwi", "b0", "flair", "t1w", "t2w")
#: Keys of a reader mask sidecar's ``Parameters`` (compared case-insensitively) holding a 1-5 Likert score.
LIKERT_KEYS = ("likert", "likertscore", "likert_score", "imagequality", "image_quality_likert", "qualitylikert")
REASON_LIKERT = "likert_below_3"
REASON_SNR_CNR = "low_snr_cnr"


@dataclasses.dataclass
class QualityThresholds:
    """When a case is proposed for exclusion.

    :param minLikert: lowest acceptable mean Likert score (consensus: exclude Likert < 3).
    :param minSnr: lowest SNR of the sequences in ``sequences``. Default 8: the ADC noise is about
        ``sqrt(1/SNR_b0^2 + 1/SNR_dwi^2) / b``, so at b = 1000 s/mm^2 a DWI SNR of 8 (b0 SNR about twice
        that) gives an ADC noise SD near 140 x 1e-6 mm^2/s; below it, normal white matter (~750) falls under
        the 620 seed threshold in a fifth of its voxels and the seed turns to noise. The demo phantoms
        measure DWI SNR 31-34 at 3 T and 27 at 1.5 T (b0 45, FLAIR 46-67); they would need about 3.5
        times their noise to fall below 8, which is where clinical trace images become unreadable.
    :param minCnr: lowest lesion CNR (DWI). Default 3, the lower end of the Rose criterion (an object is
        reliably seen at a contrast of 3-5 noise SDs; Rose 1948, Burgess 1999). Cases without a lesion,
        or whose lesion or shell has fewer than :data:`MIN_CNR_VOXELS` voxels, are never excluded on CNR.
    :param sequences: the sequences whose SNR/CNR may propose an exclusion; others are reported only.
    """

    minLikert: float = 3.0
    minSnr: float = 8.0
    minCnr: float = 3.0
    sequences: tuple = ("dwi",)

    def validate(self) -> None:
        """:raises InputError: a threshold is outside its range."""
        if not 1.0 <= self.minLikert <= 5.0:
            raise InputError(f"The Likert threshold must lie between 1 and 5, not {self.minLikert}.")
        for name, value in (("SNR", self.minSnr), ("CNR", self.minCnr)):
            if not math.isfinite(value) or value < 0:
                raise InputError(f"The {name} threshold must be a number of 0 or more, not {value}.")
        unknown = [key for key in self.sequences if key not in MEASURED_SEQUENCES]
        if unknown:
            raise InputError(f"Unknown sequence(s) {', '.join(unknown)} in the quality thresholds; use {', '.join(MEASURED_SEQUENCES)}.")


@dataclasses.dataclass
class NoiseEstimate:
    """Noise sigma of one image and how it was obtained.

    :param sigma: Gaussian noise SD per channel, in image units; None when it cannot be estimated.
    :param method: ``background`` (Rayleigh-corrected air), ``brain-laplacian`` (fallback) or ``unavailable``.
    :param sigmaFromMean: background mean / sqrt(pi/2). :param sigmaFromSd: background SD / sqrt(2 - pi/2).
    :param rayleighRatio: ``sigmaFromSd / sigmaFromMean`` (1 for pure noise; larger with ghosts).
    :param zeroFraction: share of the background that is exactly 0 (masked or zero-filled by the scanner).
    """

    sigma: float | None
    method: str
    backgroundVoxels: int = 0
    sigmaFromMean: float | None = None
    sigmaFromSd: float | None = None
    rayleighRatio: float | None = None
    zeroFraction: float | None = None


@dataclasses.dataclass
class SequenceQuality:
    """SNR and CNR of one sequence of a case (NaN-free: None where not measurable)."""

    sequence: str
    noise: NoiseEstimate
    signalMean: float | None = None
    roiVoxels: int = 0
    snr: float | None = None
    lesionMean: float | None = None
    surroundingMean: float | None = None
    lesionVoxels: int = 0
    surroundingVoxels: int = 0
    cnr: float | None = None
    notes: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class ExclusionProposal:
    """What the quality check proposes; ``WorkflowStore.exclude(user, caseId, reason, note)`` records a decision."""

    reason: str
    note: str


@dataclasses.dataclass
class CaseQuality:
    """The quality record of one case.

    :param sequences: sequence key -> :class:`SequenceQuality`.
    :param likert: reader ID -> Likert score (1-5) found in their newest mask's sidecar.
    :param lowCriteria: reader ID -> ``sequence.criterion score`` phrases below the acceptable score (reads that
        recorded criteria).
    :param lesionSource: ``consensus``, ``intersection``, ``union``, ``single-read``, ``reference`` (a mask the dataset
        ships, when nobody has read the case yet), ``given`` or ``none``.
    :param proposal: the proposed exclusion, or None.
    :param problems: sentences about what could not be measured.
    """

    caseId: str
    sequences: dict = dataclasses.field(default_factory=dict)
    likert: dict = dataclasses.field(default_factory=dict)
    lowCriteria: dict = dataclasses.field(default_factory=dict)
    lesionSource: str = "none"
    proposal: ExclusionProposal | None = None
    problems: list = dataclasses.field(default_factory=list)

    @property
    def likertMean(self) -> float | None:
        return float(np.mean(list(self.likert.values()))) if self.likert else None

    def value(self, sequence: str, name: str):
        """``snr``, ``cnr``, ``sigma`` ... of one sequence, or None when absent."""
        measured = self.sequences.get(sequence)
        if measured is None:
            return None
        if name in ("sigma", "method", "rayleighRatio"):
            return getattr(measured.noise, name)
        return getattr(measured, name)

    def toRow(self) -> dict:
        """One flat row (CSV/JSON): per sequence snr, cnr, sigma and noise method; Likert; proposal."""
        row = {"case": self.caseId, "likert_mean": self.likertMean,
               "likert_scores": ";".join(f"{reader}={score:g}" for reader, score in sorted(self.likert.items())),
               "lesion_source": self.lesionSource}
        for key in MEASURED_SEQUENCES:
            row[f"{key}_snr"] = self.value(key, "snr")
            row[f"{key}_cnr"] = self.value(key, "cnr")
            row[f"{key}_sigma"] = self.value(key, "sigma")
            row[f"{key}_noise_method"] = self.value(key, "method") or ""
        row["proposed_exclusion"] = self.proposal.reason if self.proposal else ""
        row["proposal_note"] = self.proposal.note if self.proposal else ""
        row["problems"] = " ".join(self.problems)
        return row


# ---------------------------------------------------------------------------------------------------
# Noise


def _distanceOutsideMm(mask: np.ndarray, volume: Volume, withinMm: float) -> np.ndarray:
    """Distance (mm) from each voxel outside ``mask`` to the nearest mask voxel; 0 inside; inf if mask is empty.

    Only distances up to ``withinMm`` are asked for, so the map is computed on the mask's bounding box grown by
    that much (plus a voxel) and is inf beyond it: the same values where they matter, on a fraction of the grid
    for a lesion. Distances are rounded to :data:`DISTANCE_DECIMALS` decimals (mm): on a grid of 1.99999998 x 2.00000007 mm
    the voxel three steps away lies at 6 mm give or take float rounding, and which side of a 6 mm limit it falls
    on must not depend on the box or on the order the distance transform visits equidistant voxels.
    """
    import SimpleITK as sitk

    distance = np.full(mask.shape, np.inf, dtype=np.float32)
    if not mask.any():
        return distance
    margins = [int(math.ceil(withinMm / spacing)) + 1 for spacing in volume.spacingMm[::-1]]
    box = tuple(slice(max(0, int(indices.min()) - margin), int(indices.max()) + margin + 1)
                for indices, margin in zip(np.nonzero(mask), margins))
    image = toSimpleITK(Volume(mask[box].astype(np.uint8), volume.ijkToRas))
    inside = sitk.SignedMaurerDistanceMap(image, insideIsPositive=False, squaredDistance=False, useImageSpacing=True)
    distance[box] = np.round(np.clip(sitk.GetArrayViewFromImage(inside), 0.0, None), DISTANCE_DECIMALS)
    return distance


def headMask(volume: Volume) -> np.ndarray:
    """Everything that is not air: smoothed image above a quarter of its Otsu threshold, holes filled.

    Generous on purpose (a quarter of Otsu takes in dark scalp and skull): it only decides what is *not*
    background. :return: bool ``[k, j, i]``.
    """
    import SimpleITK as sitk

    array = np.asarray(volume.array, dtype=np.float32)
    if not np.any(array > 0) or float(array.max()) == float(array.min()):
        return np.zeros(volume.gridShape, dtype=bool)
    smoothed = sitk.SmoothingRecursiveGaussian(toSimpleITK(volume.withArray(array)), 2.0)
    otsu = sitk.OtsuThresholdImageFilter()
    otsu.SetInsideValue(0)
    otsu.SetOutsideValue(1)
    otsu.Execute(smoothed)
    head = sitk.BinaryThreshold(smoothed, 0.25 * otsu.GetThreshold(), 1e30, 1, 0)
    return fillHoles(sitk.GetArrayViewFromImage(head).astype(bool))


def _laplacianSigma(array: np.ndarray, roi: np.ndarray) -> tuple[float | None, int]:
    """Immerkaer's estimator per slice: robust SD of the 3x3 Laplacian response / 6, inside ``roi``."""
    kernel = np.array([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]])
    data = array.astype(np.float64)
    rows, columns = data.shape[1], data.shape[2]
    if rows < 3 or columns < 3:
        return None, 0
    response = np.zeros((data.shape[0], rows - 2, columns - 2))
    inside = np.ones_like(response, dtype=bool)
    for dj in range(3):
        for di in range(3):
            response += kernel[dj, di] * data[:, dj:dj + rows - 2, di:di + columns - 2]
            inside &= roi[:, dj:dj + rows - 2, di:di + columns - 2]
    values = response[inside]
    if values.size < 100:
        return None, int(values.size)
    # The kernel's squared weights sum to 36: white noise of SD sigma gives a response of SD 6 sigma.
    return float(np.median(np.abs(values)) / 0.6745 / 6.0), int(values.size)


def estimateNoise(volume: Volume, head: np.ndarray | None = None, fallbackRoi: np.ndarray | None = None) -> NoiseEstimate:
    """Noise sigma of a magnitude image from its air background (Rayleigh-corrected), else from ``fallbackRoi``.

    :param volume: a 3D magnitude image (DWI, b0, FLAIR ...), any dtype.
    :param head: bool ``[k, j, i]`` of what is not air; computed with :func:`headMask` when None.
    :param fallbackRoi: bool ``[k, j, i]`` tissue region for the Laplacian estimator when the background is
        unusable (fewer than :data:`MIN_BACKGROUND_VOXELS` non-zero voxels).
    :return: the estimate; ``sigma`` None and ``method`` ``unavailable`` when neither works.
    """
    array = np.asarray(volume.array, dtype=np.float64)
    head = headMask(volume) if head is None else head
    far = _distanceOutsideMm(head, volume, BACKGROUND_MARGIN_MM) > BACKGROUND_MARGIN_MM
    border = FIELD_OF_VIEW_BORDER_VOXELS
    interior = np.zeros(volume.gridShape, dtype=bool)
    interior[tuple(slice(border, max(border, size - border)) if size > 2 * border + 2 else slice(None) for size in volume.gridShape)] = True
    candidates = array[far & interior]
    nonZero = candidates[candidates != 0]
    zeroFraction = float(1.0 - nonZero.size / candidates.size) if candidates.size else None
    if nonZero.size >= MIN_BACKGROUND_VOXELS and np.all(nonZero > 0):
        fromMean = float(nonZero.mean() / RAYLEIGH_MEAN_FACTOR)
        fromSd = float(nonZero.std() / RAYLEIGH_SD_FACTOR)
        return NoiseEstimate(fromMean, "background", int(nonZero.size), fromMean, fromSd, fromSd / fromMean if fromMean > 0 else None, zeroFraction)
    if fallbackRoi is not None:
        sigma, count = _laplacianSigma(array, fallbackRoi)
        if sigma is not None and sigma > 0:
            return NoiseEstimate(sigma, "brain-laplacian", count, zeroFraction=zeroFraction)
    return NoiseEstimate(None, "unavailable", int(nonZero.size), zeroFraction=zeroFraction)


# ---------------------------------------------------------------------------------------------------
# Regions


def parenchymaRoi(brainMask: np.ndarray, adcMicro: np.ndarray, dwi: Volume, lesionUnion: np.ndarray | None = None) -> np.ndarray:
    """Normal parenchyma for the signal: eroded brain, normal ADC, away from every read.

    :param brainMask: bool ``[k, j, i]`` on the DWI grid. :param adcMicro: ADC in 1e-6 mm^2/s, same grid.
    :param lesionUnion: bool union of the reads (or None).
    :return: bool ``[k, j, i]``.
    """
    from .brainmask import distanceInsideMm

    roi = (distanceInsideMm(brainMask, dwi) > ROI_EROSION_MM) & (adcMicro >= NORMAL_ADC_MICRO[0]) & (adcMicro <= NORMAL_ADC_MICRO[1])
    if lesionUnion is not None and lesionUnion.any():
        roi &= _distanceOutsideMm(lesionUnion, dwi, SHELL_OUTER_MM) > SHELL_OUTER_MM
    return roi


def lesionShell(lesion: np.ndarray, brainMask: np.ndarray, adcMicro: np.ndarray, dwi: Volume, lesionUnion: np.ndarray | None = None) -> np.ndarray:
    """Surrounding normal tissue: (2, 6] mm from ``lesion``, inside the brain, outside every read, normal ADC."""
    distance = _distanceOutsideMm(lesion, dwi, SHELL_OUTER_MM)
    shell = (distance > SHELL_INNER_MM) & (distance <= SHELL_OUTER_MM) & brainMask
    shell &= (adcMicro >= NORMAL_ADC_MICRO[0]) & (adcMicro <= NORMAL_ADC_MICRO[1])
    if lesionUnion is not None:
        shell &= ~lesionUnion
    return shell


def _onGrid(mask: np.ndarray, dwi: Volume, target: Volume) -> np.ndarray:
    return resampleToGrid(dwi.withArray(mask.astype(np.uint8)), target, "nearest").array > 0


def measureSequence(key: str, image: Volume, dwi: Volume, roi: np.ndarray, lesion: np.ndarray | None, shell: np.ndarray | None) -> SequenceQuality:
    """SNR and CNR of one image; masks are on the DWI grid and are resampled when ``image`` has its own grid.

    :param key: sequence key for the record. :param image: 3D magnitude image.
    :param roi: normal-parenchyma ROI (DWI grid). :param lesion: lesion mask or None. :param shell: surrounding or None.
    """
    sameGrid = image.gridShape == dwi.gridShape and np.abs(image.ijkToRas - dwi.ijkToRas).max() <= 1e-4
    move = (lambda mask: mask) if sameGrid else (lambda mask: _onGrid(mask, dwi, image))
    roiHere = move(roi)
    noise = estimateNoise(image, fallbackRoi=roiHere)
    array = np.asarray(image.array, dtype=np.float64)
    result = SequenceQuality(key, noise, roiVoxels=int(roiHere.sum()))
    if result.roiVoxels:
        result.signalMean = float(array[roiHere].mean())
    else:
        result.notes.append(f"{key.upper()}: no normal parenchyma found for the signal ROI.")
    if noise.sigma and result.signalMean is not None:
        result.snr = result.signalMean / noise.sigma
    if noise.rayleighRatio is not None and noise.rayleighRatio > MAX_RAYLEIGH_RATIO:
        result.notes.append(f"{key.upper()}: the background is not pure noise (SD/mean ratio {noise.rayleighRatio:.2f} of the Rayleigh value): ghosting or aliasing.")
    if lesion is not None and lesion.any() and shell is not None:
        lesionHere, shellHere = move(lesion), move(shell)
        result.lesionVoxels, result.surroundingVoxels = int(lesionHere.sum()), int(shellHere.sum())
        if result.lesionVoxels and result.surroundingVoxels:
            result.lesionMean = float(array[lesionHere].mean())
            result.surroundingMean = float(array[shellHere].mean())
            if noise.sigma:
                result.cnr = abs(result.lesionMean - result.surroundingMean) / noise.sigma
    return result


# ---------------------------------------------------------------------------------------------------
# Cases


def likertFromParameters(parameters) -> float | None:
    """The Likert score (1-5) a reader recorded in their mask's ``Parameters``, or None.

    Looks at :data:`LIKERT_KEYS` at the top level and one level down (e.g. ``{"quality": {"likert": 4}}``).
    A score per sequence (``{"quality": {"likert": {"dwi": 4, "flair": 2}}}``, as the AISAnnotator module
    stores it) counts as its weakest scored sequence: one unreadable sequence makes the case unreadable.
    """
    if not isinstance(parameters, dict):
        return None
    nested = [value for value in parameters.values() if isinstance(value, dict)]
    for candidate in [parameters, *nested]:
        for key, value in candidate.items():
            if str(key).lower() not in LIKERT_KEYS:
                continue
            scores = [score for score in (value.values() if isinstance(value, dict) else [value]) if _isLikert(score)]
            if scores:
                return float(min(scores))
    return None


def lowCriteriaFromParameters(parameters) -> list[str]:
    """``sequence.criterion score`` phrases a reader scored below the acceptable level (empty for older records)."""
    quality = parameters.get("quality") if isinstance(parameters, dict) else None
    if not isinstance(quality, dict):
        return []
    criteria = quality.get("likert_criteria") if isinstance(quality.get("likert_criteria"), dict) else {}
    phrases = []
    for sequence, scores in criteria.items():
        for criterion, score in (scores.items() if isinstance(scores, dict) else []):
            if _isLikert(score) and score < MIN_ACCEPTABLE_LIKERT:
                phrases.append(f"{sequence}.{criterion} {score:g}")
    return phrases


def _isLikert(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 1 <= value <= 5


def proposeExclusion(record: CaseQuality, thresholds: QualityThresholds) -> ExclusionProposal | None:
    """The exclusion the numbers call for (Likert first, then SNR/CNR of ``thresholds.sequences``), or None."""
    likert = record.likertMean
    if likert is not None and likert < thresholds.minLikert:
        scores = ", ".join(f"{reader} {score:g}" for reader, score in sorted(record.likert.items()))
        low = "; ".join(f"{reader} {', '.join(phrases)}" for reader, phrases in sorted(record.lowCriteria.items()) if phrases)
        return ExclusionProposal(REASON_LIKERT, f"Mean Likert score {likert:.1f} < {thresholds.minLikert:g} ({scores})"
                                 + (f"; below {MIN_ACCEPTABLE_LIKERT}: {low}" if low else "") + ".")
    reasons = []
    for key in thresholds.sequences:
        measured = record.sequences.get(key)
        if measured is None:
            continue
        if measured.snr is not None and measured.snr < thresholds.minSnr:
            reasons.append(f"{key.upper()} SNR {measured.snr:.1f} < {thresholds.minSnr:g}")
        usable = measured.lesionVoxels >= MIN_CNR_VOXELS and measured.surroundingVoxels >= MIN_CNR_VOXELS
        if measured.cnr is not None and usable and measured.cnr < thresholds.minCnr:
            reasons.append(f"{key.upper()} lesion CNR {measured.cnr:.1f} < {thresholds.minCnr:g}")
    if reasons:
        return ExclusionProposal(REASON_SNR_CNR, "; ".join(reasons) + ".")
    return None


def measureCaseQuality(loaded, lesion: np.ndarray | None = None, reads=(), likert=None, thresholds: QualityThresholds | None = None,
                       lesionSource: str = "given", lowCriteria=None) -> CaseQuality:
    """Quality record of a loaded case.

    :param loaded: a :class:`~AISCommonLib.core.sequences.LoadedCase`.
    :param lesion: bool ``[k, j, i]`` lesion on the DWI grid for the CNR, or None (no CNR).
    :param reads: bool ``[k, j, i]`` masks of every read (kept out of the ROI and the shell).
    :param likert: reader ID -> Likert score.
    :param thresholds: exclusion rule (defaults when None).
    :param lowCriteria: reader ID -> criteria scored below 3 (named in a Likert proposal).
    :return: the record with its proposal.
    """
    thresholds = thresholds or QualityThresholds()
    thresholds.validate()
    dwi = loaded.dwi
    adcMicro = loaded.adcMicro()
    union = np.zeros(dwi.gridShape, dtype=bool)
    for read in reads:
        union |= read
    if lesion is not None:
        union |= lesion
    roi = parenchymaRoi(loaded.brainMask, adcMicro, dwi, union)
    hasLesion = lesion is not None and bool(lesion.any())
    shell = lesionShell(lesion, loaded.brainMask, adcMicro, dwi, union) if hasLesion else None
    record = CaseQuality(loaded.case.caseId, likert=dict(likert or {}), lowCriteria=dict(lowCriteria or {}),
                         lesionSource=lesionSource if hasLesion else "none")
    images = {"dwi": dwi, "b0": loaded.b0, "flair": loaded.flair, "t1w": loaded.t1w, "t2w": loaded.t2w}
    for key in MEASURED_SEQUENCES:
        if images[key] is None:
            continue
        measured = measureSequence(key, images[key], dwi, roi, lesion if hasLesion else None, shell)
        record.sequences[key] = measured
        record.problems.extend(measured.notes)
    record.proposal = proposeExclusion(record, thresholds)
    return record


def _loadMask(path: Path, dwi: Volume) -> np.ndarray:
    volume = loadVolume(path)
    requireSameGrid(dwi, volume)
    return volume.array > 0


def assessCase(datasetRoot, case: Case, thresholds: QualityThresholds | None = None, adcUnit=None) -> CaseQuality:
    """Load a case and its reads from the dataset's derivatives and measure its quality.

    Unreadable or off-grid masks are left out and named in ``problems``.

    :raises AISError: the case itself cannot be loaded.
    """
    from .sequences import loadCase

    loaded = loadCase(case, adcUnit)
    problems, reads, likert, lowCriteria = [], {}, {}, {}
    for reader, record in sorted(latestReaderMasks(datasetRoot, case).items()):
        score = likertFromParameters(record.sidecar.get("Parameters"))
        if score is not None:
            likert[reader] = score
            lowCriteria[reader] = lowCriteriaFromParameters(record.sidecar.get("Parameters"))
        try:
            reads[reader] = _loadMask(record.path, loaded.dwi)
        except AISError as error:
            problems.append(f"Read of {reader} left out of the quality measures: {error}")
    lesion, source = None, "none"
    final = consensusMaskPath(datasetRoot, case)
    if final.is_file():
        try:
            lesion, source = _loadMask(final, loaded.dwi), "consensus"
        except AISError as error:
            problems.append(f"Final mask left out of the quality measures: {error}")
    if lesion is None and len(reads) >= 2:
        masks = list(reads.values())
        lesion, source = np.logical_and.reduce(masks), "intersection"
        if not lesion.any():
            lesion, source = np.logical_or.reduce(masks), "union"
    elif lesion is None and reads:
        lesion, source = next(iter(reads.values())), "single-read"
    for reference in case.referenceMasks if lesion is None else []:
        # No read yet: a lesion mask the dataset ships (ISLES 2022 derivatives) still gives the CNR.
        try:
            lesion, source = _loadMask(reference, loaded.dwi), "reference"
            break
        except AISError as error:
            problems.append(f"Reference mask {reference.name} left out of the quality measures: {error}")
    record = measureCaseQuality(loaded, lesion, list(reads.values()), likert, thresholds, source, lowCriteria)
    record.problems[:0] = problems
    return record


def assessDataset(datasetRoot, cases, thresholds: QualityThresholds | None = None, progress=None) -> tuple[list[CaseQuality], dict]:
    """Quality of every case; a case that cannot be loaded is reported, not raised.

    :param cases: the :class:`Case` objects to measure.
    :param progress: optional ``(fraction, message)`` callable.
    :return: the records, and case ID -> error sentence for the cases that could not be loaded.
    """
    records, failures = [], {}
    for index, case in enumerate(cases):
        if progress:
            progress(index / max(len(cases), 1), f"Measuring the image quality of {case.caseId}")
        try:
            records.append(assessCase(datasetRoot, case, thresholds))
        except AISError as error:
            failures[case.caseId] = str(error)
    return records, failures
