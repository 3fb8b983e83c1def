"""Image quality: noise sigma under Rician noise of known level, SNR, CNR, Likert, exclusion proposals."""

import math

import numpy as np
import pytest

from AISCommonLib.core.cases import discoverCases
from AISCommonLib.core.derivatives import writeReaderMask
from AISCommonLib.core.errors import InputError
from AISCommonLib.core.image import Volume
from AISCommonLib.core.quality import (
    REASON_LIKERT,
    REASON_SNR_CNR,
    CaseQuality,
    QualityThresholds,
    SequenceQuality,
    assessCase,
    estimateNoise,
    likertFromParameters,
    measureSequence,
    proposeExclusion,
)
from AISCommonLib.synthetic.tinycases import writeSimpleCase


def _grid(shape=(40, 64, 64), spacing=(2.0, 2.0, 3.0)) -> np.ndarray:
    affine = np.diag([*spacing, 1.0])
    affine[:3, 3] = -np.array(spacing) * np.array(shape[::-1]) / 2
    return affine


def _head(shape=(40, 64, 64)) -> np.ndarray:
    k, j, i = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    return ((k - 20) / 12) ** 2 + ((j - 32) / 18) ** 2 + ((i - 32) / 16) ** 2 < 1


def _rician(signal: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.hypot(signal + rng.normal(0, sigma, signal.shape), rng.normal(0, sigma, signal.shape)).astype(np.float32)


@pytest.mark.parametrize("sigma", [3.0, 10.0, 25.0])
@pytest.mark.parametrize("quantised", [False, True])
def test_background_sigma_recovered_within_5_percent(sigma, quantised):
    head = _head()
    image = _rician(np.where(head, 300.0, 0.0), sigma)
    if quantised:  # what dcm2niix writes: rounded integers
        image = np.rint(image).astype(np.int16)
    estimate = estimateNoise(Volume(image, _grid()))
    assert estimate.method == "background"
    assert estimate.sigma == pytest.approx(sigma, rel=0.05)
    assert estimate.sigmaFromSd == pytest.approx(sigma, rel=0.05)
    assert estimate.rayleighRatio == pytest.approx(1.0, abs=0.05)


def test_uncorrected_background_statistics_would_be_wrong():
    """The Rayleigh correction matters: raw mean and raw SD of air are 25 % high and 35 % low."""
    image = _rician(np.where(_head(), 300.0, 0.0), 10.0)
    estimate = estimateNoise(Volume(image, _grid()))
    assert estimate.sigmaFromMean * math.sqrt(math.pi / 2) == pytest.approx(12.53, rel=0.03)
    assert estimate.sigmaFromSd * math.sqrt(2 - math.pi / 2) == pytest.approx(6.55, rel=0.03)


def test_ghosting_raises_the_rayleigh_ratio():
    head = _head()
    signal = np.where(head, 300.0, 0.0)
    signal = signal + 0.1 * np.roll(signal, 30, axis=1)  # a phase-encoding ghost, partly in the air
    estimate = estimateNoise(Volume(_rician(signal, 8.0), _grid()))
    assert estimate.rayleighRatio > 1.15


def test_zero_filled_background_falls_back_to_brain_estimate():
    head = _head()
    image = _rician(np.where(head, 300.0, 0.0), 10.0)
    image[~head] = 0.0  # masked by the scanner
    roi = head.copy()
    estimate = estimateNoise(Volume(image, _grid()), fallbackRoi=roi)
    assert estimate.method == "brain-laplacian"
    assert estimate.zeroFraction == pytest.approx(1.0)
    assert estimate.sigma == pytest.approx(10.0, rel=0.1)
    assert estimateNoise(Volume(image, _grid())).method == "unavailable"


def test_snr_and_cnr_of_known_contrast():
    head = _head()
    lesion = np.zeros_like(head)
    lesion[18:23, 28:34, 20:26] = True
    signal = np.where(head, 200.0, 0.0)
    signal[lesion] = 320.0
    image = Volume(_rician(signal, 10.0), _grid())
    roi = head & ~lesion
    shell = np.zeros_like(head)
    shell[16:25, 25:37, 17:29] = True
    shell &= head & ~lesion
    measured = measureSequence("dwi", image, image, roi, lesion, shell)
    # At SNR 20 the Rician bias on the tissue mean is sigma^2 / (2 A): 0.25 of 200, negligible.
    assert measured.snr == pytest.approx(20.0, rel=0.05)
    assert measured.cnr == pytest.approx(12.0, rel=0.05)


def test_likert_from_parameters():
    assert likertFromParameters({"likert": 4}) == 4.0
    assert likertFromParameters({"Likert": 2.5}) == 2.5
    assert likertFromParameters({"quality": {"likertScore": 3}}) == 3.0
    assert likertFromParameters({"likert": 7}) is None
    assert likertFromParameters({"likert": True}) is None
    assert likertFromParameters(None) is None


def _record(likert=None, snr=30.0, cnr=10.0, lesionVoxels=50):
    sequence = SequenceQuality("dwi", noise=None, snr=snr, cnr=cnr, lesionVoxels=lesionVoxels, surroundingVoxels=200)
    return CaseQuality("sub-01", sequences={"dwi": sequence}, likert=likert or {})


def test_proposals_follow_thresholds():
    thresholds = QualityThresholds()
    assert proposeExclusion(_record({"R01": 4, "R02": 3}), thresholds) is None
    assert proposeExclusion(_record({"R01": 2, "R02": 3}), thresholds).reason == REASON_LIKERT
    low = proposeExclusion(_record(snr=5.0), thresholds)
    assert low.reason == REASON_SNR_CNR and "SNR 5.0" in low.note
    assert proposeExclusion(_record(cnr=1.0), thresholds).reason == REASON_SNR_CNR
    assert proposeExclusion(_record(cnr=1.0, lesionVoxels=2), thresholds) is None  # too small to judge
    assert proposeExclusion(_record(snr=5.0), QualityThresholds(minSnr=4.0)) is None
    with pytest.raises(InputError):
        QualityThresholds(minLikert=0).validate()
    with pytest.raises(InputError):
        QualityThresholds(sequences=("adc",)).validate()


def test_assess_case_uses_reads_and_likert(tmp_path):
    root = tmp_path / "bids"
    info = writeSimpleCase(root)
    case = discoverCases(root)[0]
    from AISCommonLib.core.sequences import loadCase

    dwi = loadCase(case).dwi
    writeReaderMask(root, case, info["truth"], dwi, "R01", "manual", {"likert": 2})
    writeReaderMask(root, case, info["truth"], dwi, "R02", "manual", {"likert": 3})
    record = assessCase(root, case)
    assert record.likert == {"R01": 2.0, "R02": 3.0}
    assert record.lesionSource == "intersection"
    assert record.proposal.reason == REASON_LIKERT
    dwiQuality = record.sequences["dwi"]
    # The simple head's air is |N(0, 8)| (half-normal, not Rayleigh): its mean 8 sqrt(2/pi) read as
    # Rayleigh gives 8 * 2 / pi; real magnitude images are Rician, where the phantom tests are exact.
    assert dwiQuality.noise.sigma == pytest.approx(8.0 * 2 / math.pi, rel=0.05)
    assert dwiQuality.lesionVoxels == int(info["truth"].sum())
    assert dwiQuality.cnr > 3


def test_likert_per_sequence_as_the_module_stores_it_counts_its_weakest_sequence():
    from AISCommonLib.core.quality import likertFromParameters
    from AISCommonLib.core.readrecord import buildReadParameters

    parameters = buildReadParameters({"dwi": 4, "adc": 5, "eadc": 0, "flair": 2}, {}, [], 300.0)
    assert likertFromParameters(parameters) == 2.0
    assert likertFromParameters(buildReadParameters({"dwi": 0}, {}, [], 1.0, sequences=())) is None
    assert likertFromParameters({"likert": 4}) == 4.0


def test_likert_per_criterion_counts_its_weakest_criterion_and_the_proposal_names_it(tmp_path):
    from AISCommonLib.core.quality import likertFromParameters, lowCriteriaFromParameters
    from AISCommonLib.core.readrecord import buildReadParameters

    scored = {"dwi": {"noise": 4, "motion": 2, "artifact": 4, "contrast": 5}, "adc": 4, "flair": 4}
    parameters = buildReadParameters(scored, {}, [], 300.0)
    assert likertFromParameters(parameters) == 2.0
    assert lowCriteriaFromParameters(parameters) == ["dwi.motion 2"]
    assert lowCriteriaFromParameters({"quality": {"likert": {"dwi": 2}}}) == []  # a record made before criteria existed
    root = tmp_path / "bids"
    info = writeSimpleCase(root)
    case = discoverCases(root)[0]
    from AISCommonLib.core.sequences import loadCase

    dwi = loadCase(case).dwi
    writeReaderMask(root, case, info["truth"], dwi, "R01", "manual", parameters)
    writeReaderMask(root, case, info["truth"], dwi, "R02", "manual", buildReadParameters({"dwi": 3, "adc": 3, "flair": 2}, {}, [], 1.0))
    record = assessCase(root, case)
    assert record.proposal.reason == REASON_LIKERT
    assert "R01 dwi.motion 2" in record.proposal.note and "R02 flair.noise 2" in record.proposal.note
