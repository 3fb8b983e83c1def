"""Discordant regions: where one reader drew lesion and the other did not, split into reviewable pieces.

- ``a_only`` regions are the 26-connected components of (A and not B), ``b_only`` those of (B and not A).
- A region is a ``missed_lesion`` when the whole lesion of its own read that contains it shares no
  voxel with the other read (the other reader did not see that lesion at all); otherwise it is an
  ``extent`` region (both saw the lesion, they drew its boundary differently).
- Ids are stable for given masks: ``a_only`` first, then ``b_only``; inside each kind larger first,
  ties by raster position. Ids are given before any size filter, so changing the filter never
  renames a region.
"""

import dataclasses

import numpy as np

from .image import voxelToRas
from .lesions import Components

KIND_A_ONLY = "a_only"
KIND_B_ONLY = "b_only"
TYPE_MISSED_LESION = "missed_lesion"
TYPE_EXTENT = "extent"
#: A centroid this close (mm, left-right) to the middle of the field of view is reported as midline.
MIDLINE_MM = 3.0


@dataclasses.dataclass
class DiscordantRegion:
    """One connected piece of disagreement.

    :param regionId: stable id (see module docstring).
    :param kind: ``a_only`` or ``b_only``.
    :param regionType: ``missed_lesion`` or ``extent``.
    :param lesionId: id of the lesion of its own read that contains it (as in ``lesions_a`` / ``lesions_b``).
    :param centroidRas: voxel centroid mapped through the image matrix, RAS mm ``(x, y, z)``.
    :param sliceNumber: 1-based number of the slice holding the centroid along the grid axis nearest to
        superior (the axial slice of a usual DWI), as a reader counts slices in the image.
    :param side: ``right``, ``left`` or ``midline`` (within :data:`MIDLINE_MM` of the middle of the field of
        view, which is where the scanner centres the head; not an atlas).
    """

    regionId: int
    kind: str
    regionType: str
    voxels: int
    volumeMl: float
    centroidRas: tuple[float, float, float]
    lesionId: int
    sliceNumber: int = 0
    side: str = ""

    @property
    def drawnBy(self) -> str:
        """Which read holds the region: ``A`` or ``B``."""
        return "A" if self.kind == KIND_A_ONLY else "B"

    def toDict(self) -> dict:
        return {
            "id": self.regionId,
            "kind": self.kind,
            "type": self.regionType,
            "drawn_by": self.drawnBy,
            "voxels": self.voxels,
            "volume_ml": self.volumeMl,
            "centroid_ras": list(self.centroidRas),
            "slice": self.sliceNumber,
            "side": self.side,
            "lesion_id": self.lesionId,
        }


@dataclasses.dataclass
class RegionMap:
    """Where the regions are, for building an adjudicated mask.

    :param gridShape: full grid ``(k, j, i)``.
    :param cropSlices: the box (in the full grid) the arrays below cover.
    :param labels: int32 crop; region id per voxel, 0 elsewhere (a_only and b_only never share a voxel).
    :param agreed: bool crop; voxels both readers marked.
    """

    gridShape: tuple[int, int, int]
    cropSlices: tuple[slice, slice, slice]
    labels: np.ndarray
    agreed: np.ndarray

    def toFullGrid(self, cropArray: np.ndarray) -> np.ndarray:
        """Place a bool crop back into an empty full-grid array."""
        full = np.zeros(self.gridShape, dtype=bool)
        full[self.cropSlices] = cropArray
        return full


def findDiscordantRegions(
    piecesA: Components,
    piecesB: Components,
    componentsA: Components,
    componentsB: Components,
    detectedA: np.ndarray,
    detectedB: np.ndarray,
    ijkToRas: np.ndarray,
    offsetKji,
    voxelVolumeMm3: float,
    gridShape: tuple[int, int, int] | None = None,
) -> tuple[list[DiscordantRegion], np.ndarray]:
    """Every discordant region of two reads (no size filter).

    :param piecesA: components of (A and not B) on the crop; ``piecesB`` those of (B and not A).
    :param componentsA: lesions of A on the same crop; ``componentsB`` those of B.
    :param detectedA: per A lesion id, whether it shares a voxel with B; ``detectedB`` the reverse.
    :param ijkToRas: 4x4 matrix of the full grid.
    :param offsetKji: index ``(k, j, i)`` of the crop's first voxel in the full grid.
    :param gridShape: the full grid ``(k, j, i)``, for the side (default: the crop's end).
    :return: the regions in id order, and an int32 crop holding each region's id on its voxels.
    """
    regionLabels = np.zeros(piecesA.shape, dtype=np.int32)
    regions: list[DiscordantRegion] = []
    offset = np.asarray(offsetKji, dtype=np.float64)
    for kind, pieces, ownLesions, detected in (
        (KIND_A_ONLY, piecesA, componentsA, detectedA),
        (KIND_B_ONLY, piecesB, componentsB, detectedB),
    ):
        if pieces.count == 0:
            continue
        firstId = len(regions) + 1
        regionLabels.ravel()[pieces.foreground] = pieces.foregroundLabels + (firstId - 1)
        centroidsKji = pieces.centroidsKji[1:] + offset
        centroidsRas = voxelToRas(ijkToRas, centroidsKji)
        slices, sides = regionLocations(ijkToRas, centroidsKji, centroidsRas, gridShape or tuple(offset + piecesA.shape))
        # Plain Python values once, not numpy scalars per region: a threshold-drawn pair has hundreds of regions.
        lesionIds = ownLesions.labelsAt(pieces.firstVoxels[1:]).tolist()
        voxelCounts, detectedList = pieces.voxels[1:].tolist(), detected.tolist()
        for index, (lesionId, voxels, centroid, sliceNumber, side) in enumerate(
            zip(lesionIds, voxelCounts, centroidsRas.tolist(), slices.tolist(), sides.tolist())
        ):
            regions.append(
                DiscordantRegion(
                    regionId=firstId + index,
                    kind=kind,
                    regionType=TYPE_EXTENT if detectedList[lesionId] else TYPE_MISSED_LESION,
                    voxels=voxels,
                    volumeMl=voxels * voxelVolumeMm3 / 1000.0,
                    centroidRas=tuple(centroid),
                    lesionId=lesionId,
                    sliceNumber=sliceNumber,
                    side=side,
                )
            )
    return regions, regionLabels


def superiorAxisKji(ijkToRas: np.ndarray) -> int:
    """Index, in ``[k, j, i]`` order, of the grid axis nearest to superior (the axial slice axis of a usual DWI).

    :param ijkToRas: 4x4 IJK-to-RAS matrix (mm).
    :return: 0, 1 or 2.
    """
    matrix = np.asarray(ijkToRas, dtype=np.float64)
    superiorIjk = int(np.argmax(np.abs(matrix[2, :3]) / np.linalg.norm(matrix[:3, :3], axis=0)))
    return 2 - superiorIjk


def regionLocations(ijkToRas: np.ndarray, centroidsKji: np.ndarray, centroidsRas: np.ndarray, gridShape) -> tuple[np.ndarray, np.ndarray]:
    """Slice number and side of each centroid, as a reader finds a region again without an atlas.

    :param centroidsKji: ``(n, 3)`` centroids in full-grid voxel indices ``(k, j, i)``.
    :param centroidsRas: the same centroids in RAS mm.
    :param gridShape: the full grid ``(k, j, i)``.
    :return: 1-based slice numbers along the axis nearest to superior, and ``right``/``left``/``midline``.
    """
    matrix = np.asarray(ijkToRas, dtype=np.float64)
    slices = np.rint(np.asarray(centroidsKji, dtype=np.float64).reshape(-1, 3)[:, superiorAxisKji(matrix)]).astype(int) + 1
    middleKji = (np.asarray(gridShape, dtype=np.float64) - 1.0) / 2.0
    middleX = float(voxelToRas(matrix, middleKji[None, :])[0, 0])
    offsets = np.asarray(centroidsRas, dtype=np.float64).reshape(-1, 3)[:, 0] - middleX
    sides = np.where(offsets > MIDLINE_MM, "right", np.where(offsets < -MIDLINE_MM, "left", "midline"))
    return slices, sides


def reviewableRegions(regions: list[DiscordantRegion], minExtentMm3: float) -> list[DiscordantRegion]:
    """The regions a reviewer should see: every missed lesion, and extent regions of at least ``minExtentMm3``.

    :param minExtentMm3: smallest extent region kept, mm^3; 0 keeps all.
    """
    # Volumes go through mL and back: allow the rounding so a region of exactly the limit is kept.
    limitMl = minExtentMm3 / 1000.0 * (1.0 - 1e-9)
    return [region for region in regions if region.regionType == TYPE_MISSED_LESION or region.volumeMl >= limitMl]
