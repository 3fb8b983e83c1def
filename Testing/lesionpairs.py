"""Random lesion pairs shared by the cross-check tests and the script that records the peers' values for them."""

import numpy as np
from scipy import ndimage


def randomPair(seed: int):
    """Blob lesions, B a perturbed copy of A with a lesion missed and one added; random spacing."""
    rng = np.random.default_rng(seed)
    shape = tuple(int(size) for size in rng.integers(10, 36, 3))
    spacing = tuple(float(value) for value in rng.uniform(0.6, 5.0, 3))
    seeds = rng.random(shape) < rng.uniform(0.001, 0.006)
    maskA = ndimage.binary_dilation(seeds, iterations=int(rng.integers(1, 3)))
    maskB = ndimage.binary_dilation(maskA) if seed % 2 else ndimage.binary_erosion(maskA)
    maskB ^= ndimage.binary_dilation(rng.random(shape) < 0.001)
    if seed % 5 == 0:
        maskA[0, :3, :3] = True  # on the image border
    return maskA, maskB, spacing
