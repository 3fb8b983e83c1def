"""Record MONAI's distance metrics and Dice for the cross-check pairs (``Testing/lesionpairs.randomPair``).

Usage (in an environment with MONAI and torch, e.g. ``pip install torch monai`` in a separate venv)::

    python Testing/benchmarks/make_peer_fixtures.py

It writes ``Testing/core/monai_values.json``, which ``Testing/core/test_agreement_crosscheck.py`` compares our
results against on every CI run. This script is the only place that needs MONAI: torch is too heavy for CI.
"""

import json
import sys
from pathlib import Path

import numpy as np

TESTING = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(TESTING)]

from lesionpairs import randomPair  # noqa: E402

SEEDS = range(12)
OUTPUT = TESTING / "core" / "monai_values.json"


def monaiValues(seed: int) -> dict:
    """MONAI's HD95 (larger of the directed 95th percentiles), symmetric ASSD and Dice of one pair, B against A."""
    import torch
    from monai import metrics

    maskA, maskB, spacing = randomPair(seed)
    tensorA, tensorB = (torch.from_numpy(mask[None, None].astype(np.float32)) for mask in (maskA, maskB))
    hausdorff = metrics.compute_hausdorff_distance(tensorB, tensorA, include_background=True, percentile=95, spacing=list(spacing))
    average = metrics.compute_average_surface_distance(tensorB, tensorA, include_background=True, symmetric=True, spacing=list(spacing))
    dice = metrics.compute_dice(tensorB, tensorA, include_background=True)
    return {"voxels": [int(maskA.sum()), int(maskB.sum())], "hd95_mm": float(hausdorff), "assd_mm": float(average), "dice": float(dice)}


def main() -> int:
    import monai
    import torch

    values = {"peer": f"MONAI {monai.__version__} (torch {torch.__version__})", "pairs": {str(seed): monaiValues(seed) for seed in SEEDS}}
    OUTPUT.write_text(json.dumps(values, indent=1) + "\n", encoding="utf-8")
    print(f"{len(values['pairs'])} pairs written to {OUTPUT} ({values['peer']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
