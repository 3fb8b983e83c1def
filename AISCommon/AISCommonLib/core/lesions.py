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

import numpy as np

from .masks import limitThreads

#: Above this many lesion sites, labelling whole arrays is cheaper than one box per site.
_MAX_SITE_BOXES = 40


@dataclasses.dataclass
class Components:
    """26-connected components of a mask, numbered in a stable order.

    Numbering: larger first, ties by the raster position (k, then j, then i) of the first voxel, so the
    same mask always gives the same ids.

    :param labels: int32 ``[k, j, i]``, 0 outside, ``1..count`` inside.
    :param voxels: voxel count per id, index 0 unused.
    :param centroidsKji: mean voxel index ``(k, j, i)`` per id, row 0 unused.
    :param firstVoxels: flat (raster) index of the first voxel of each id, index 0 unused.
    :param foreground: flat (raster) indices of all component voxels, ascending.
    :param foregroundLabels: the id at each of those voxels.
    """

    labels: np.ndarray
    count: int
    voxels: np.ndarray
    centroidsKji: np.ndarray
    firstVoxels: np.ndarray
    foreground: np.ndarray
    foregroundLabels: np.ndarray


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
    """Provisional 26-connected labels of several masks, unique across all of them, from one SimpleITK call.

    The masks are stacked along k with an empty slice between them, so no component can join two
    masks; one call instead of several saves SimpleITK's fixed cost per filter run.
    """
    import SimpleITK as sitk

    if not any(mask.any() for mask in masks):
        return [np.zeros(mask.shape, dtype=np.int32) for mask in masks]
    starts = np.concatenate(([0], np.cumsum([mask.shape[0] + 1 for mask in masks])))
    stacked = np.zeros((int(starts[-1]) - 1, max(mask.shape[1] for mask in masks), max(mask.shape[2] for mask in masks)), dtype=np.uint8)
    for start, mask in zip(starts, masks):
        stacked[start : start + mask.shape[0], : mask.shape[1], : mask.shape[2]] = mask
    labelFilter = sitk.ConnectedComponentImageFilter()
    labelFilter.SetFullyConnected(True)
    limitThreads(labelFilter, stacked.size)
    labels = sitk.GetArrayFromImage(labelFilter.Execute(sitk.GetImageFromArray(stacked)))
    return [labels[start : start + mask.shape[0], : mask.shape[1], : mask.shape[2]] for start, mask in zip(starts, masks)]


def labelReads(maskA: np.ndarray, maskB: np.ndarray) -> tuple[Components, Components, Components, Components, Components]:
    """Everything connected-component analysis gives for a pair of reads.

    The lesion sites (components of A or B) are found first; the lesions of A and B and the pieces of
    (A and not B) and (B and not A) are then labelled inside each site's box only, all boxes in one
    SimpleITK call. A lesion, or a piece, never leaves its site, so the result equals labelling whole
    arrays; it just touches far fewer voxels when lesions are scattered over the brain.

    :param maskA: bool ``[k, j, i]``; ``maskB`` the same shape.
    :return: components of A, of B, of (A and not B), of (B and not A), and of (A or B).
    """
    onlyA, onlyB = maskA & ~maskB, maskB & ~maskA
    masks = (maskA, maskB, onlyA, onlyB)
    sites = labelComponentsMany([maskA | maskB])[0]
    if sites.count == 0:
        return (*(_noComponents(maskA.shape) for _ in masks), sites)
    coordinates = np.unravel_index(sites.foreground, maskA.shape)
    low = np.full((sites.count + 1, 3), np.iinfo(np.int64).max)
    high = np.full((sites.count + 1, 3), -1)
    for axis in range(3):
        np.minimum.at(low[:, axis], sites.foregroundLabels, coordinates[axis])
        np.maximum.at(high[:, axis], sites.foregroundLabels, coordinates[axis])
    boxes = [tuple(slice(first, last + 1) for first, last in zip(low[site], high[site])) for site in range(1, sites.count + 1)]
    if sites.count > _MAX_SITE_BOXES or 2 * int(np.prod(high[1:] - low[1:] + 1, axis=1).sum()) > maskA.size:
        return (*labelComponentsMany(list(masks)), sites)
    blocks = []
    for site, box in enumerate(boxes, start=1):
        inSite = sites.labels[box] == site
        blocks.extend(mask[box] & inSite for mask in masks)
    blockLabels = _labelStacked(blocks)
    results = []
    cropStrides = np.array([maskA.shape[1] * maskA.shape[2], maskA.shape[2], 1])
    for index in range(len(masks)):
        # Provisional labels are unique across the stack, so the pieces of all sites can be pooled.
        indices, values = [], []
        for site, box in enumerate(boxes):
            labels = blockLabels[site * len(masks) + index]
            local = np.flatnonzero(labels)
            if local.size:
                kji = np.stack(np.unravel_index(local, labels.shape), axis=1) + [part.start for part in box]
                indices.append(kji @ cropStrides)
                values.append(labels.ravel()[local])
        if indices:
            results.append(_componentsFromVoxels(maskA.shape, np.concatenate(indices), np.concatenate(values)))
        else:
            results.append(_noComponents(maskA.shape))
    return (*results, sites)


def _noComponents(shape) -> Components:
    empty = np.zeros(1, dtype=np.int64)
    return Components(
        np.zeros(shape, dtype=np.int32), 0, empty, np.zeros((1, 3)), empty.copy(), np.zeros(0, np.int64), np.zeros(0, np.int32)
    )


def _numberComponents(provisional: np.ndarray) -> Components:
    """Renumber a provisional label array into the stable order (larger first, then raster position)."""
    foreground = np.flatnonzero(provisional)
    return _componentsFromVoxels(provisional.shape, foreground, provisional.ravel()[foreground])


def _componentsFromVoxels(shape, foreground: np.ndarray, provisionalLabels: np.ndarray) -> Components:
    """Components from their voxels (flat indices, any order) and arbitrary positive provisional labels."""
    present = np.zeros(int(provisionalLabels.max()) + 1, dtype=bool)
    present[provisionalLabels] = True
    consecutive = np.cumsum(present)
    labelOfVoxel = consecutive[provisionalLabels]
    count = int(consecutive[-1])
    voxels = np.bincount(labelOfVoxel, minlength=count + 1)
    firstVoxels = np.full(count + 1, np.iinfo(np.int64).max)
    np.minimum.at(firstVoxels, labelOfVoxel, foreground)
    firstVoxels[0] = 0
    coordinates = np.unravel_index(foreground, shape)
    centroids = np.zeros((count + 1, 3))
    for axis in range(3):
        centroids[1:, axis] = np.bincount(labelOfVoxel, weights=coordinates[axis], minlength=count + 1)[1:] / voxels[1:]
    ranking = np.lexsort((firstVoxels[1:], -voxels[1:])) + 1
    newLabel = np.zeros(count + 1, dtype=np.int32)
    newLabel[ranking] = np.arange(1, count + 1, dtype=np.int32)
    labels = np.zeros(shape, dtype=np.int32)
    foregroundLabels = newLabel[labelOfVoxel]
    labels.ravel()[foreground] = foregroundLabels
    permutation = np.concatenate(([0], ranking))
    return Components(labels, count, voxels[permutation], centroids[permutation], firstVoxels[permutation], foreground, foregroundLabels)


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
    labelsBOnA = componentsB.labels.ravel()[componentsA.foreground]
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
    pairRows = [
        {
            "lesion_a": int(lesionA),
            "lesion_b": int(lesionB),
            "shared_voxels": int(shared),
            "volume_a_ml": float(componentsA.voxels[lesionA] * toMl),
            "volume_b_ml": float(componentsB.voxels[lesionB] * toMl),
            "dice": float(2 * shared / (componentsA.voxels[lesionA] + componentsB.voxels[lesionB])),
        }
        for lesionA, lesionB, shared in pairs
    ]
    return {
        "pairs": pairRows,
        "a": _lesionRows(componentsA, componentsB, pairs[:, 0], pairs[:, 1], pairs[:, 2], toMl, centroidsRas[0]),
        "b": _lesionRows(componentsB, componentsA, pairs[:, 1], pairs[:, 0], pairs[:, 2], toMl, centroidsRas[1]),
    }


def _lesionRows(own: Components, other: Components, ownIds, otherIds, sharedVoxels, toMl: float, centroidsRas) -> list[dict]:
    rows = []
    for lesionId in range(1, own.count + 1):
        selected = ownIds == lesionId
        touched = otherIds[selected]
        shared = int(sharedVoxels[selected].sum())
        union = int(other.voxels[touched].sum())
        rows.append(
            {
                "id": lesionId,
                "voxels": int(own.voxels[lesionId]),
                "volume_ml": float(own.voxels[lesionId] * toMl),
                "centroid_ras": [float(value) for value in centroidsRas[lesionId]],
                "matched": [int(value) for value in sorted(touched)],
                "dice": float(2 * shared / (own.voxels[lesionId] + union)),
            }
        )
    return rows
