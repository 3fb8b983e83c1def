"""Our metrics against independent implementations on random lesion pairs.

- medpy (``medpy.metric.binary``): ``dc`` and ``assd`` must match; medpy's ``hd95`` pools both directions
  before the percentile, so we check our HD95 (MONAI's: larger of the directed percentiles) against
  medpy's own directed surface distances, and that it is never below medpy's pooled value.
- MONAI (``compute_hausdorff_distance(percentile=95)``, ``compute_average_surface_distance(symmetric=True)``,
  ``compute_dice``): its values for the same pairs are recorded in ``monai_values.json`` by
  ``Testing/benchmarks/make_peer_fixtures.py`` (MONAI pulls torch, too heavy for CI), so the check always runs.
- scipy: ISLES 2022 lesion F1 and lesion-count difference re-derived with ``scipy.ndimage.label``.

Tolerances: Dice and lesion scores exact (1e-12); distances relative 1e-5 (our maps and MONAI are float32).
"""

import json
from pathlib import Path

import numpy as np
import pytest
from lesionpairs import randomPair
from scipy import ndimage

from AISCommonLib.core.agreement import compareMasks

CONNECTIVITY_26 = np.ones((3, 3, 3), dtype=bool)


def islesScores(reference: np.ndarray, prediction: np.ndarray) -> tuple[float, int]:
    """ISLES 2022 lesion F1 and absolute lesion-count difference, written from their definition."""
    referenceLabels, referenceCount = ndimage.label(reference, CONNECTIVITY_26)
    predictionLabels, predictionCount = ndimage.label(prediction, CONNECTIVITY_26)
    truePositives = sum(1 for label in range(1, referenceCount + 1) if prediction[referenceLabels == label].any())
    falseNegatives = referenceCount - truePositives
    falsePositives = sum(1 for label in range(1, predictionCount + 1) if not reference[predictionLabels == label].any())
    if truePositives + falsePositives + falseNegatives == 0:
        return 1.0, 0
    return truePositives / (truePositives + (falsePositives + falseNegatives) / 2), abs(referenceCount - predictionCount)


SEEDS = list(range(12))


@pytest.mark.parametrize("seed", SEEDS)
def test_lesion_scores_match_isles_definition(seed):
    maskA, maskB, spacing = randomPair(seed)
    result = compareMasks(maskA, maskB, np.diag(list(spacing[::-1]) + [1.0])).toDict()
    f1, countDifference = islesScores(maskA, maskB)
    f1BReference, _ = islesScores(maskB, maskA)
    assert result["lesion_f1"] == pytest.approx(f1, abs=1e-12)
    assert result["lesion_f1_b_reference"] == pytest.approx(f1BReference, abs=1e-12)
    assert result["abs_lesion_count_diff"] == countDifference


def test_lesion_scores_with_an_empty_read():
    maskA, _, _ = randomPair(3)
    empty = np.zeros_like(maskA)
    for first, second in ((maskA, empty), (empty, maskA), (empty, empty)):
        result = compareMasks(first, second, np.eye(4)).toDict()
        assert (result["lesion_f1"], result["abs_lesion_count_diff"]) == pytest.approx(islesScores(first, second))


@pytest.mark.parametrize("seed", SEEDS)
def test_distances_and_dice_match_medpy(seed):
    binary = pytest.importorskip("medpy.metric.binary")
    maskA, maskB, spacing = randomPair(seed)
    result = compareMasks(maskA, maskB, np.diag(list(spacing[::-1]) + [1.0])).toDict()
    assert result["dice"] == pytest.approx(binary.dc(maskB, maskA), abs=1e-12)
    assert result["assd_mm"] == pytest.approx(binary.assd(maskB, maskA, voxelspacing=spacing), rel=1e-5)
    directed = getattr(binary, "__surface_distances")
    fromA = directed(maskA, maskB, spacing, 1)
    fromB = directed(maskB, maskA, spacing, 1)
    assert result["hd95_mm"] == pytest.approx(max(np.percentile(fromA, 95), np.percentile(fromB, 95)), rel=1e-5)
    assert result["hd95_mm"] >= binary.hd95(maskB, maskA, voxelspacing=spacing) * (1 - 1e-6)


#: MONAI's values for ``randomPair(seed)``, recorded by ``Testing/benchmarks/make_peer_fixtures.py`` (the only place
#: that needs MONAI and torch); regenerate them after a change of ``randomPair``.
MONAI_VALUES = json.loads((Path(__file__).parent / "monai_values.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("seed", SEEDS)
def test_distances_and_dice_match_monai(seed):
    maskA, maskB, spacing = randomPair(seed)
    recorded = MONAI_VALUES["pairs"][str(seed)]
    assert recorded["voxels"] == [int(maskA.sum()), int(maskB.sum())], "randomPair changed: run make_peer_fixtures.py again"
    result = compareMasks(maskA, maskB, np.diag(list(spacing[::-1]) + [1.0])).toDict()
    assert result["hd95_mm"] == pytest.approx(recorded["hd95_mm"], rel=1e-5)
    assert result["assd_mm"] == pytest.approx(recorded["assd_mm"], rel=1e-5)
    assert result["dice"] == pytest.approx(recorded["dice"], abs=1e-6)
