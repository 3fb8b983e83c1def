"""The voxels of a pair of reads as one list, with their neighbours: what labelling and boundaries share.

The agreement engine works on the box both reads occupy, but the lesions fill only a few per cent of
it. Listing the voxels of (A or B) once, in raster order, and looking their neighbours up in a padded
index grid makes every later step (connected components of A, B, A-B and B-A; the boundary
voxels of A and B) cost in proportion to the lesion voxels instead of the box, with no per-call
overhead of an image filter. Nothing here approximates: the neighbours are exactly the 26 (or, for
boundaries, the 6 face) neighbours, and voxels outside the array count as background.
"""

import dataclasses

import numpy as np

#: Bits of :attr:`ReadVoxels.codes`: the voxel is in read A, in read B.
BIT_A = 1
BIT_B = 2


def runsOf(paddedFlat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split voxels into runs: maximal stretches of consecutive voxels along i.

    :param paddedFlat: ascending flat indices of the voxels in a padded grid (see :class:`ReadVoxels`).
    :return: per run, its first and its last voxel (ascending).
    """
    if paddedFlat.size == 0:
        return paddedFlat, paddedFlat
    breaks = np.flatnonzero(np.diff(paddedFlat) != 1) + 1
    return paddedFlat[np.concatenate(([0], breaks))], paddedFlat[np.concatenate((breaks - 1, [paddedFlat.size - 1]))]


@dataclasses.dataclass
class ReadVoxels:
    """The voxels of (A or B) on one array, in raster order.

    :param shape: shape ``(k, j, i)`` of the array the reads came on (usually the crop around them).
    :param flat: flat (raster) index of each voxel in that array, ascending, int64.
    :param kji: ``(n, 3)`` int64 index ``(k, j, i)`` of each voxel.
    :param codes: uint8 per voxel: :data:`BIT_A` set when in A, :data:`BIT_B` set when in B.
    :param paddedCodes: uint8 array of ``shape`` plus one voxel on every side, the codes on the voxels
        and 0 elsewhere (the padding is the outside of the array: background).
    :param paddedFlat: flat index of each voxel in ``paddedCodes``.
    """

    shape: tuple[int, int, int]
    flat: np.ndarray
    kji: np.ndarray
    codes: np.ndarray
    paddedCodes: np.ndarray
    paddedFlat: np.ndarray

    @classmethod
    def fromMasks(cls, maskA: np.ndarray, maskB: np.ndarray) -> "ReadVoxels":
        """List the voxels of two reads.

        :param maskA: bool ``[k, j, i]`` (a view such as a crop is fine); ``maskB`` the same shape.
        """
        shape = tuple(int(size) for size in maskA.shape)
        paddedCodes = np.zeros(tuple(size + 2 for size in shape), dtype=np.uint8)
        inner = paddedCodes[1:-1, 1:-1, 1:-1]
        inner[...] = maskA
        inner |= maskB.view(np.uint8) << 1
        paddedFlat = np.flatnonzero(paddedCodes)
        codes = paddedCodes.ravel()[paddedFlat]
        kji = np.stack(np.unravel_index(paddedFlat, paddedCodes.shape), axis=1) - 1
        flat = kji @ np.array([shape[1] * shape[2], shape[2], 1], dtype=np.int64)
        return cls(shape, flat, kji, codes, paddedCodes, paddedFlat)

    @property
    def count(self) -> int:
        return int(self.flat.size)

    def _paddedStrides(self) -> np.ndarray:
        paddedShape = self.paddedCodes.shape
        return np.array([paddedShape[1] * paddedShape[2], paddedShape[2], 1], dtype=np.int64)

    def touchingRuns(self, runStarts: np.ndarray, runEnds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every pair of runs (of one set, from :func:`runsOf`) that touch by a face, an edge or a corner, once.

        A run from ``s`` to ``e`` touches, in each neighbouring row, the voxels ``s - 1`` to ``e + 1``: the
        runs of that row that reach into this range. The padding keeps every such range inside its row.

        :return: two int64 arrays of run positions (``first[e]`` touches ``second[e]``).
        """
        strideK, strideJ, _ = self._paddedStrides()
        firsts, seconds = [], []
        for rowOffset in (strideJ, strideK - strideJ, strideK, strideK + strideJ):
            low = np.searchsorted(runEnds, runStarts + rowOffset - 1, side="left")
            high = np.searchsorted(runStarts, runEnds + rowOffset + 1, side="right")
            counts = np.maximum(high - low, 0)
            total = int(counts.sum())
            if total == 0:
                continue
            first = np.repeat(np.arange(runStarts.size), counts)
            startOfGroup = np.repeat(np.cumsum(counts) - counts, counts)
            firsts.append(first)
            seconds.append(low[first] + np.arange(total) - startOfGroup)
        if not firsts:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(firsts), np.concatenate(seconds)

    def boundary(self, bit: int) -> np.ndarray:
        """Which voxels of one read are on its boundary: in the read, with a face neighbour that is not.

        Equal to the read minus its erosion by the 6-connected cross, voxels outside the array
        counting as background (MONAI's and medpy's boundary).

        :param bit: :data:`BIT_A` or :data:`BIT_B`.
        :return: bool per voxel of this list.
        """
        inRead = (self.codes & bit) > 0
        interior = inRead.copy()
        flatCodes = self.paddedCodes.ravel()
        for stride in self._paddedStrides():
            for step in (stride, -stride):
                interior &= (flatCodes[self.paddedFlat + step] & bit) > 0
        return inRead & ~interior
