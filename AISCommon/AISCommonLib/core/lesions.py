"""Lesions of a read (26-connected components), lesion-wise detection scores and the matching table.

The lesion-wise scores follow the ISLES 2022 evaluation code (``compute_lesion_f1_score`` and
``compute_absolute_lesion_difference`` in github.com/ezequieldlrosa/isles22, ``utils/eval_utils.py``),
with ``reference`` in the role of their ground truth:

- TP: reference lesions that share at least one voxel with the other read;
- FN: reference lesions that share none;
- FP: lesions of the other read that share no voxel with the reference;
- F1 = TP / (TP + (FP + FN) / 2), and 1.0 when both reads are empty;
- lesion count difference = | number of lesions of A - number of lesions of B |.
"""

import dataclasses
import functools

import numpy as np

from .readvoxels import BIT_A, BIT_B, ReadVoxels, runsOf

#: 26-connectivity: voxels touching by a face, an edge or a corner belong to one component.
_CONNECTIVITY_26 = np.ones((3, 3, 3), dtype=bool)


@dataclasses.dataclass
class Components:
    """26-connected components of a mask, numbered in a stable order.

    Numbering: larger first, ties by the raster position (k, then j, then i) of the first voxel, so the
    same mask always gives the same ids.

    :param shape: shape ``(k, j, i)`` of the array the components lie on.
    :param voxels: voxel count per id, index 0 unused.
    :param centroidsKji: mean voxel index ``(k, j, i)`` per id, row 0 unused.
    :param firstVoxels: flat (raster) index of the first voxel of each id, index 0 unused.
    :param foreground: flat (raster) indices of all component voxels, ascending.
    :param foregroundLabels: the id at each of those voxels.
    """

    shape: tuple[int, int, int]
    count: int
    voxels: np.ndarray
    centroidsKji: np.ndarray
    firstVoxels: np.ndarray
    foreground: np.ndarray
    foregroundLabels: np.ndarray

    @functools.cached_property
    def labels(self) -> np.ndarray:
        """int32 ``[k, j, i]`` array: 0 outside, the id of its component inside."""
        labels = np.zeros(self.shape, dtype=np.int32)
        labels.ravel()[self.foreground] = self.foregroundLabels
        return labels

    def labelsAt(self, flatIndices: np.ndarray) -> np.ndarray:
        """The component id (0 outside every component) at some flat (raster) indices of the array."""
        flatIndices = np.asarray(flatIndices, dtype=np.int64)
        if self.foreground.size == 0:
            return np.zeros(flatIndices.shape, dtype=np.int32)
        position = np.minimum(np.searchsorted(self.foreground, flatIndices), self.foreground.size - 1)
        return np.where(self.foreground[position] == flatIndices, self.foregroundLabels[position], 0).astype(np.int32)


def labelComponents(mask: np.ndarray) -> Components:
    """Find the 26-connected components of a mask.

    :param mask: bool ``[k, j, i]``.
    :return: the numbered components.
    """
    return labelComponentsMany([mask])[0]


def labelComponentsMany(masks: list[np.ndarray]) -> list[Components]:
    """Find the 26-connected components of several masks in a single SimpleITK call.

    :param masks: bool ``[k, j, i]`` arrays (any shapes).
    :return: the numbered components of each mask, in order.
    """
    return [_numberComponents(labels) if labels.any() else _noComponents(labels.shape) for labels in _labelStacked(masks)]


def _labelStacked(masks: list[np.ndarray]) -> list[np.ndarray]:
    """Provisional 26-connected labels of several masks, unique across all of them, from one labelling call.

    The masks are stacked along k with an empty slice between them, so no component can join two
    masks; one call instead of several saves the fixed cost of each call (``scipy.ndimage.label``).
    """
    from scipy import ndimage

    if not any(mask.any() for mask in masks):
        return [np.zeros(mask.shape, dtype=np.int32) for mask in masks]
    if len(masks) == 1:
        return [ndimage.label(masks[0], _CONNECTIVITY_26, output=np.int32)[0]]
    starts = np.concatenate(([0], np.cumsum([mask.shape[0] + 1 for mask in masks])))
    stacked = np.zeros((int(starts[-1]) - 1, max(mask.shape[1] for mask in masks), max(mask.shape[2] for mask in masks)), dtype=bool)
    for start, mask in zip(starts, masks):
        stacked[start : start + mask.shape[0], : mask.shape[1], : mask.shape[2]] = mask
    labels = ndimage.label(stacked, _CONNECTIVITY_26, output=np.int32)[0]
    return [labels[start : start + mask.shape[0], : mask.shape[1], : mask.shape[2]] for start, mask in zip(starts, masks)]


def labelReads(maskA: np.ndarray, maskB: np.ndarray) -> tuple[Components, Components, Components, Components]:
    """Everything connected-component analysis gives for a pair of reads (see :func:`labelReadVoxels`).

    :param maskA: bool ``[k, j, i]``; ``maskB`` the same shape.
    :return: components of A, of B, of (A and not B) and of (B and not A).
    """
    return labelReadVoxels(ReadVoxels.fromMasks(maskA, maskB))


def labelReadVoxels(voxels: ReadVoxels) -> tuple[Components, Components, Components, Components]:
    """The 26-connected components of A, B, (A and not B) and (B and not A), from one graph.

    Each set is split into runs along i (consecutive voxels of one row, connected by definition); two
    runs of a set are joined when they touch in a neighbouring row. The runs of all four sets are the
    nodes of one graph whose connected components (``scipy.sparse.csgraph.connected_components``) are
    exactly the components of each set: the result equals labelling each whole array with the 3x3x3
    structure (``scipy.ndimage.label``), at a cost set by the number of runs, not of voxels.

    :return: components of A, of B, of (A and not B) and of (B and not A), on ``voxels.shape``.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    codes = voxels.codes
    members = (codes & BIT_A > 0, codes & BIT_B > 0, codes == BIT_A, codes == BIT_B)
    # All four sets in one pass: each set's voxels shifted by its own multiple of the padded grid's size, so
    # runs of different sets can never be consecutive or touch (a neighbouring row never leaves the padded grid).
    paddedSize = voxels.paddedCodes.size
    shifted = np.concatenate([voxels.paddedFlat[member] + index * paddedSize for index, member in enumerate(members)])
    if shifted.size == 0:
        return tuple(_noComponents(voxels.shape) for _ in members)
    starts, ends = runsOf(shifted)
    first, second = voxels.touchingRuns(starts, ends)
    graph = coo_matrix((np.ones(first.size, dtype=np.int8), (first, second)), shape=(starts.size, starts.size)).tocsr()
    provisional = np.repeat(connected_components(graph, directed=False)[1] + 1, ends - starts + 1)
    results = []
    used = 0
    for member in members:
        size = int(np.count_nonzero(member))
        if size:
            results.append(_componentsFromVoxels(voxels.shape, voxels.flat[member], provisional[used : used + size], voxels.kji[member]))
        else:
            results.append(_noComponents(voxels.shape))
        used += size
    return tuple(results)


def _noComponents(shape) -> Components:
    empty = np.zeros(1, dtype=np.int64)
    return Components(tuple(shape), 0, empty, np.zeros((1, 3)), empty.copy(), np.zeros(0, np.int64), np.zeros(0, np.int32))


def _numberComponents(provisional: np.ndarray) -> Components:
    """Renumber a provisional label array into the stable order (larger first, then raster position)."""
    foreground = np.flatnonzero(provisional)
    return _componentsFromVoxels(provisional.shape, foreground, provisional.ravel()[foreground])


def _componentsFromVoxels(shape, foreground: np.ndarray, provisionalLabels: np.ndarray, kji: np.ndarray | None = None) -> Components:
    """Components from their voxels (flat indices, ascending) and arbitrary positive provisional labels.

    :param kji: ``(n, 3)`` index of each voxel when the caller has it (else computed from ``foreground``).
    """
    present = np.zeros(int(provisionalLabels.max()) + 1, dtype=bool)
    present[provisionalLabels] = True
    consecutive = np.cumsum(present)
    labelOfVoxel = consecutive[provisionalLabels]
    count = int(consecutive[-1])
    voxels = np.bincount(labelOfVoxel, minlength=count + 1)
    firstVoxels = np.full(count + 1, np.iinfo(np.int64).max)
    np.minimum.at(firstVoxels, labelOfVoxel, foreground)
    firstVoxels[0] = 0
    coordinates = np.unravel_index(foreground, shape) if kji is None else kji.T
    centroids = np.zeros((count + 1, 3))
    for axis in range(3):
        centroids[1:, axis] = np.bincount(labelOfVoxel, weights=coordinates[axis], minlength=count + 1)[1:] / voxels[1:]
    ranking = np.lexsort((firstVoxels[1:], -voxels[1:])) + 1
    newLabel = np.zeros(count + 1, dtype=np.int32)
    newLabel[ranking] = np.arange(1, count + 1, dtype=np.int32)
    permutation = np.concatenate(([0], ranking))
    return Components(
        tuple(shape), count, voxels[permutation], centroids[permutation], firstVoxels[permutation], foreground, newLabel[labelOfVoxel]
    )


@dataclasses.dataclass
class LesionOverlap:
    """How the lesions of two reads overlap.

    :param pairs: rows ``(lesion id in A, lesion id in B, shared voxels)`` for every overlapping pair.
    :param detectedA: bool per A lesion id (index 0 unused): shares a voxel with B.
    :param detectedB: bool per B lesion id (index 0 unused): shares a voxel with A.
    """

    pairs: np.ndarray
    detectedA: np.ndarray
    detectedB: np.ndarray


def lesionOverlap(componentsA: Components, componentsB: Components) -> LesionOverlap:
    """Overlapping lesion pairs of two reads on the same grid (or the same crop)."""
    labelsBOnA = componentsB.labelsAt(componentsA.foreground)
    shared = labelsBOnA > 0
    labelsA = componentsA.foregroundLabels[shared].astype(np.int64)
    labelsB = labelsBOnA[shared].astype(np.int64)
    codes, counts = np.unique(labelsA * (componentsB.count + 1) + labelsB, return_counts=True)
    pairs = (
        np.stack([codes // (componentsB.count + 1), codes % (componentsB.count + 1), counts], axis=1)
        if codes.size
        else np.zeros((0, 3), np.int64)
    )
    detectedA = np.zeros(componentsA.count + 1, dtype=bool)
    detectedB = np.zeros(componentsB.count + 1, dtype=bool)
    detectedA[pairs[:, 0]] = True
    detectedB[pairs[:, 1]] = True
    detectedA[0] = detectedB[0] = False
    return LesionOverlap(pairs, detectedA, detectedB)


@dataclasses.dataclass
class LesionDetection:
    """ISLES 2022 lesion-wise counts and F1 with one read as reference."""

    truePositives: int
    falsePositives: int
    falseNegatives: int

    @property
    def f1(self) -> float:
        """TP / (TP + (FP + FN) / 2); 1.0 when there is no lesion at all."""
        total = self.truePositives + self.falsePositives + self.falseNegatives
        if total == 0:
            return 1.0
        return self.truePositives / (self.truePositives + (self.falsePositives + self.falseNegatives) / 2)

    def toDict(self) -> dict:
        return {"tp": self.truePositives, "fp": self.falsePositives, "fn": self.falseNegatives, "f1": self.f1}


def lesionDetection(detectedReference: np.ndarray, detectedOther: np.ndarray) -> LesionDetection:
    """Lesion-wise TP/FP/FN with one read as reference.

    :param detectedReference: per reference lesion id (index 0 unused), whether it overlaps the other read.
    :param detectedOther: per lesion id of the other read (index 0 unused), whether it overlaps the reference.
    """
    truePositives = int(detectedReference[1:].sum())
    return LesionDetection(
        truePositives=truePositives,
        falsePositives=int((~detectedOther[1:]).sum()),
        falseNegatives=int(detectedReference[1:].size - truePositives),
    )


def matchingTable(componentsA: Components, componentsB: Components, overlap: LesionOverlap, voxelVolumeMm3: float, centroidsRas) -> dict:
    """Which lesion of A overlaps which lesion of B, with volumes and Dice.

    ``pairs`` has one row per overlapping pair with the pair's Dice, 2|a and b| / (|a| + |b|). Each lesion
    row lists the lesions of the other read it touches and its lesion Dice against their union,
    2|l and (union of touched)| / (|l| + |union of touched|) (0 for a lesion touching nothing), which
    stays meaningful when one reader split what the other drew as one lesion.

    :param centroidsRas: ``(rows for A, rows for B)``: RAS centroid (mm) per lesion id, row 0 unused.
    :return: ``{"pairs": [...], "a": [...], "b": [...]}``, JSON-ready.
    """
    pairs = overlap.pairs
    toMl = voxelVolumeMm3 / 1000.0
    # Plain Python numbers once, not a numpy scalar per field: a threshold-drawn read has hundreds of pairs.
    voxelsA, voxelsB = componentsA.voxels.tolist(), componentsB.voxels.tolist()
    pairRows = [
        {
            "lesion_a": lesionA,
            "lesion_b": lesionB,
            "shared_voxels": shared,
            "volume_a_ml": voxelsA[lesionA] * toMl,
            "volume_b_ml": voxelsB[lesionB] * toMl,
            "dice": 2 * shared / (voxelsA[lesionA] + voxelsB[lesionB]),
        }
        for lesionA, lesionB, shared in pairs.tolist()
    ]
    return {
        "pairs": pairRows,
        "a": _lesionRows(componentsA, componentsB, pairs[:, 0], pairs[:, 1], pairs[:, 2], toMl, centroidsRas[0]),
        "b": _lesionRows(componentsB, componentsA, pairs[:, 1], pairs[:, 0], pairs[:, 2], toMl, centroidsRas[1]),
    }


def _lesionRows(own: Components, other: Components, ownIds, otherIds, sharedVoxels, toMl: float, centroidsRas) -> list[dict]:
    # One pass over the overlapping pairs (grouped by own lesion) instead of one scan of them per lesion:
    # a threshold-drawn read can have hundreds of lesions. Integer sums, so every value is unchanged.
    count = own.count + 1
    ownIds, otherIds = np.asarray(ownIds, dtype=np.int64), np.asarray(otherIds, dtype=np.int64)
    order = np.lexsort((otherIds, ownIds))
    ends = np.cumsum(np.bincount(ownIds, minlength=count)).tolist()
    sortedOther = otherIds[order].tolist()
    matchedLists = [sortedOther[start:end] for start, end in zip([0, *ends[:-1]], ends)]
    shared = np.zeros(count, dtype=np.int64)
    np.add.at(shared, ownIds, np.asarray(sharedVoxels, dtype=np.int64))
    union = np.zeros(count, dtype=np.int64)
    np.add.at(union, ownIds, other.voxels[otherIds].astype(np.int64))
    voxels = own.voxels.astype(np.int64)
    volumes = (own.voxels * toMl).tolist()
    with np.errstate(invalid="ignore", divide="ignore"):  # row 0 (background) is never reported
        dice = (2 * shared / (voxels + union)).tolist()
    centroids = np.asarray(centroidsRas, dtype=np.float64).tolist()
    voxelList = voxels.tolist()
    return [
        {
            "id": lesionId,
            "voxels": voxelList[lesionId],
            "volume_ml": volumes[lesionId],
            "centroid_ras": centroids[lesionId],
            "matched": matchedLists[lesionId],
            "dice": dice[lesionId],
        }
        for lesionId in range(1, count)
    ]
