"""The grid of the two small reads that the consensus and review-rule tests share (fixture ``reads`` in conftest)."""

import numpy as np

SHAPE = (10, 20, 20)
MATRIX = np.diag([1.0, 1.0, 2.0, 1.0])
