"""Boundary distances between two reads: HD95 and ASSD with MONAI's definitions.

Definitions (MONAI ``compute_hausdorff_distance(percentile=95)`` and
``compute_average_surface_distance(symmetric=True)``, Euclidean metric, voxel spacing honoured):

- the boundary of a mask is the mask minus its binary erosion by the 6-connected cross, voxels
  outside the image counting as background (so mask voxels on the image border are boundary);
- a directed surface distance is, for every boundary voxel of one mask, the exact Euclidean distance
  (mm, between voxel centres, each array axis scaled by its spacing) to the nearest boundary voxel of
  the other mask;
- HD95 is the larger of the two directed 95th percentiles (linear interpolation, as ``np.percentile``
  and ``torch.quantile``); ASSD is the mean of both directed distance sets pooled together.

How the exact distances are found quickly: each connected component of (A or B) is a lesion site, and
each boundary voxel first looks for its nearest target inside its site's box (by direct comparison when
few voxels are involved, else with SimpleITK's exact Maurer distance map of the box). A distance found
there is kept only when it is shorter than every way out of the box: the voxel's distance to the
box's outside, or, if larger, the distance from the box to the nearest target outside it; nothing
outside can then be nearer. The few voxels left (a lesion the other reader missed, a far boundary)
are measured against every target directly, or with one map of the whole crop when that is cheaper.
Every value is therefore the true nearest distance, not an approximation.
"""

import dataclasses

import numpy as np

from .lesions import Components
from .masks import limitThreads

#: Percentile MONAI's ``percentile=95`` uses.
HAUSDORFF_PERCENTILE = 95.0
#: Measured costs of a distance map in units of one direct voxel-pair comparison (SimpleITK 2.5,
#: numpy 2): a fixed cost per SimpleITK call, and a cost per voxel of the map.
_MAP_FIXED_COST_PAIRS = 60_000
_MAP_COST_PER_PAIR = 5.0
_PAIRS_PER_CHUNK = 1_000_000


@dataclasses.dataclass
class SurfaceMetrics:
    """Boundary distances between two non-empty masks, in mm."""

    hausdorffMm: float
    averageSurfaceMm: float
    percentile: float = HAUSDORFF_PERCENTILE


def maskEdges(mask: np.ndarray) -> np.ndarray:
    """Boundary voxels: the mask minus its erosion by the 6-connected cross (outside the array is background).

    :param mask: bool ``[k, j, i]``.
    :return: bool array of the same shape.
    """
    eroded = mask.copy()
    for axis in range(mask.ndim):
        lower = [slice(None)] * mask.ndim
        upper = [slice(None)] * mask.ndim
        lower[axis] = slice(None, -1)
        upper[axis] = slice(1, None)
        eroded[tuple(upper)] &= mask[tuple(lower)]
        eroded[tuple(lower)] &= mask[tuple(upper)]
        ends = [slice(None)] * mask.ndim
        ends[axis] = [0, -1]
        eroded[tuple(ends)] = False
    return mask & ~eroded


def squaredDistanceMap(targets: np.ndarray, spacingKjiMm) -> np.ndarray:
    """Exact squared Euclidean distance (mm^2) from every voxel to the nearest ``targets`` voxel.

    :param targets: bool ``[k, j, i]``, not empty.
    :return: float32 array of the same shape (0 on the targets).
    """
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(np.ascontiguousarray(targets).view(np.uint8))
    image.SetSpacing(tuple(float(value) for value in np.asarray(spacingKjiMm)[::-1]))
    distanceFilter = sitk.SignedMaurerDistanceMapImageFilter()
    distanceFilter.SetInsideIsPositive(False)
    distanceFilter.SetSquaredDistance(True)
    distanceFilter.SetUseImageSpacing(True)
    limitThreads(distanceFilter, targets.size)
    # Targets sit at or inside the map's zero level and come out as 0 or negative: clamp them.
    return np.maximum(sitk.GetArrayFromImage(distanceFilter.Execute(image)), 0.0)


def _bruteForceSquared(queriesMm: np.ndarray, targetsMm: np.ndarray) -> np.ndarray:
    """Squared distance from each query point to its nearest target point (both ``(n, 3)`` in mm)."""
    result = np.empty(len(queriesMm))
    step = max(1, _PAIRS_PER_CHUNK // len(targetsMm))
    for start in range(0, len(queriesMm), step):
        chunk = queriesMm[start : start + step]
        squared = np.zeros((len(chunk), len(targetsMm)))
        for axis in range(3):
            difference = chunk[:, axis, None] - targetsMm[None, :, axis]
            squared += difference * difference
        result[start : start + step] = squared.min(axis=1)
    return result


def _mapCostInPairs(voxels: int) -> float:
    return _MAP_FIXED_COST_PAIRS + _MAP_COST_PER_PAIR * voxels


@dataclasses.dataclass
class _Direction:
    """Queries of one direction (boundary of one mask) and what is known of their nearest target."""

    queryKji: np.ndarray
    targets: np.ndarray
    targetKji: np.ndarray
    squared: np.ndarray
    unresolved: np.ndarray

    @classmethod
    def pair(cls, edgesA: np.ndarray, edgesB: np.ndarray) -> tuple["_Direction", "_Direction"]:
        """A's boundary towards B's, and B's towards A's."""
        kjiA, kjiB = (np.stack(np.unravel_index(np.flatnonzero(edges), edges.shape), axis=1) for edges in (edgesA, edgesB))
        return tuple(
            cls(queryKji, targets, targetKji, np.full(len(queryKji), np.inf), np.ones(len(queryKji), dtype=bool))
            for queryKji, targets, targetKji in ((kjiA, edgesB, kjiB), (kjiB, edgesA, kjiA))
        )

    def searchBox(self, selection: np.ndarray, low: np.ndarray, high: np.ndarray, spacing: np.ndarray) -> None:
        """Look for the nearest targets of the selected queries inside the box ``[low, high)``.

        A distance found inside the box is the true nearest one when it is shorter than any way out of
        the box: the distance from the query to the box's outside, or, whichever is larger, the distance
        from the box to the nearest target outside it.
        """
        box = tuple(slice(first, last) for first, last in zip(low, high))
        boxTargets = self.targets[box]
        inside = np.all((self.targetKji >= low) & (self.targetKji < high), axis=1)
        if not inside.any():
            return
        if selection.size * int(inside.sum()) < _mapCostInPairs(boxTargets.size):
            found = _bruteForceSquared(self.queryKji[selection] * spacing, self.targetKji[inside] * spacing)
        else:
            found = squaredDistanceMap(boxTargets, spacing)[tuple((self.queryKji[selection] - low).T)]
        outsideGap = np.maximum(np.maximum(low - self.targetKji[~inside], self.targetKji[~inside] - (high - 1)), 0) * spacing
        boxToOutsideSquared = float((outsideGap * outsideGap).sum(axis=1).min(initial=np.inf))
        kji = self.queryKji[selection]
        belowMm = np.where(low > 0, (kji - low + 1) * spacing, np.inf)
        aboveMm = np.where(high < np.array(self.targets.shape), (high - kji) * spacing, np.inf)
        wayOut = np.minimum(belowMm, aboveMm).min(axis=1)
        bound = np.maximum(wayOut * wayOut, boxToOutsideSquared)
        # Distances come from a float32 map: keep a margin so a rounded-down value is never trusted wrongly.
        trusted = found < bound * (1.0 - 1e-4)
        self.squared[selection[trusted]] = found[trusted]
        self.unresolved[selection[trusted]] = False

    def finish(self, spacing) -> np.ndarray:
        """Measure what the boxes could not settle against every target; return the distances (mm)."""
        remaining = np.flatnonzero(self.unresolved)
        if remaining.size:
            if remaining.size * len(self.targetKji) < _mapCostInPairs(self.targets.size):
                self.squared[remaining] = _bruteForceSquared(self.queryKji[remaining] * spacing, self.targetKji * spacing)
            else:
                self.squared[remaining] = squaredDistanceMap(self.targets, spacing)[tuple(self.queryKji[remaining].T)]
        return np.sqrt(self.squared)


def _searchSites(directions: tuple[_Direction, _Direction], sites: Components, spacing: np.ndarray) -> None:
    """Settle as many queries as possible inside the box of their own lesion site."""
    # A site's box is the box of its boundary voxels: the extreme voxels of a lesion are always boundary.
    siteOfQueries = [sites.labels[tuple(direction.queryKji.T)].astype(np.int64) - 1 for direction in directions]
    low = np.full((sites.count, 3), np.iinfo(np.int64).max)
    high = np.full((sites.count, 3), -1)
    for direction, siteOfQuery in zip(directions, siteOfQueries):
        for axis in range(3):
            np.minimum.at(low[:, axis], siteOfQuery, direction.queryKji[:, axis])
            np.maximum.at(high[:, axis], siteOfQuery, direction.queryKji[:, axis])
    high += 1
    for direction, siteOfQuery in zip(directions, siteOfQueries):
        order = np.argsort(siteOfQuery, kind="stable")
        bounds = np.searchsorted(siteOfQuery[order], np.arange(sites.count + 1))
        for site in range(sites.count):
            selection = order[bounds[site] : bounds[site + 1]]
            if selection.size:
                direction.searchBox(selection, low[site], high[site], spacing)


def surfaceMetrics(
    maskA: np.ndarray, maskB: np.ndarray, spacingKjiMm, percentile: float = HAUSDORFF_PERCENTILE, sites: Components | None = None
) -> SurfaceMetrics | None:
    """HD (at ``percentile``) and ASSD between two masks, as MONAI defines them.

    Callers should pass the masks cropped to the box of their union plus one voxel (the result does
    not change, the time does).

    :param maskA: bool ``[k, j, i]``.
    :param maskB: bool ``[k, j, i]`` on the same grid.
    :param spacingKjiMm: voxel size along ``(k, j, i)`` in mm.
    :param percentile: 0-100; 95 gives HD95, 100 the classic Hausdorff distance.
    :param sites: optional components of (A or B) on the same array (from :func:`lesions.labelReads`);
        when given, distances are searched site by site first. The result is the same with or without
        them, only the time changes.
    :return: the metrics, or None when either mask is empty (the distances are undefined).
    """
    spacing = np.asarray(spacingKjiMm, dtype=np.float64)
    edgesA = maskEdges(maskA)
    edgesB = maskEdges(maskB)
    if not edgesA.any() or not edgesB.any():
        return None
    directions = _Direction.pair(edgesA, edgesB)
    if sites is not None:
        _searchSites(directions, sites, spacing)
    fromA, fromB = (direction.finish(spacing) for direction in directions)
    hausdorff = max(float(np.percentile(fromA, percentile)), float(np.percentile(fromB, percentile)))
    average = float((fromA.sum() + fromB.sum()) / (fromA.size + fromB.size))
    return SurfaceMetrics(hausdorff, average, percentile)
