"""Two small reads shared by the consensus and review-rule tests."""

import numpy as np
import pytest
from readpair import SHAPE


@pytest.fixture
def reads():
    """A has a box and a one-voxel lesion B missed; B is two rows longer and one column narrower."""
    maskA = np.zeros(SHAPE, dtype=bool)
    maskA[2:8, 2:12, 2:12] = True
    maskA[5, 16, 16] = True
    maskB = maskA.copy()
    maskB[5, 16, 16] = False
    maskB[2:8, 2:12, 11] = False
    maskB[2:8, 12:14, 2:12] = True
    return maskA, maskB
