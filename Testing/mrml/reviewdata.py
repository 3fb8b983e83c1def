"""Two synthetic reads of the simple case for the review tests: each reader misses a lesion the other drew,
and reader B draws the shared lesion larger (an extent region)."""

import numpy as np


def twoReads(truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(maskA, maskB)``, bool ``[k, j, i]`` on the simple case's grid (20 x 44 x 40)."""
    maskA = truth.copy()
    maskA[8:11, 30:34, 26:30] = True  # a lesion only A drew
    maskB = truth.copy()
    maskB[9:12, 15:22, 15:18] = True  # B extends the shared lesion
    maskB[4:6, 10:13, 28:31] = True  # a lesion only B drew
    return maskA, maskB
