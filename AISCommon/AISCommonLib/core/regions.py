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


@dataclasses.dataclass
class DiscordantRegion:
    """One connected piece of disagreement.

    :param regionId: stable id (see module docstring).
    :param kind: ``a_only`` or ``b_only``.
    :param regionType: ``missed_lesion`` or ``extent``.
    :param lesionId: id of the lesion of its own read that contains it (as in ``lesions_a`` / ``lesions_b``).
    :param centroidRas: voxel centroid mapped through the image matrix, RAS mm ``(x, y, z)``.
    """

    regionId: int
    kind: str
    regionType: str
    voxels: int
    volumeMl: float
    centroidRas: tuple[float, float, float]
    lesionId: int

    def toDict(self) -> dict:
        return {
            "id": self.regionId,
            "kind": self.kind,
            "type": self.regionType,
            "voxels": self.voxels,
            "volume_ml": self.volumeMl,
            "centroid_ras": list(self.centroidRas),
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
) -> tuple[list[DiscordantRegion], np.ndarray]:
    """Every discordant region of two reads (no size filter).

    :param piecesA: components of (A and not B) on the crop; ``piecesB`` those of (B and not A).
    :param componentsA: lesions of A on the same crop; ``componentsB`` those of B.
    :param detectedA: per A lesion id, whether it shares a voxel with B; ``detectedB`` the reverse.
    :param ijkToRas: 4x4 matrix of the full grid.
    :param offsetKji: index ``(k, j, i)`` of the crop's first voxel in the full grid.
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
        centroidsRas = voxelToRas(ijkToRas, pieces.centroidsKji[1:] + offset)
        lesionIds = ownLesions.labelsAt(pieces.firstVoxels[1:])
        for index in range(pieces.count):
            lesionId = int(lesionIds[index])
            voxels = int(pieces.voxels[index + 1])
            regions.append(
                DiscordantRegion(
                    regionId=firstId + index,
                    kind=kind,
                    regionType=TYPE_EXTENT if detected[lesionId] else TYPE_MISSED_LESION,
                    voxels=voxels,
                    volumeMl=voxels * voxelVolumeMm3 / 1000.0,
                    centroidRas=tuple(float(value) for value in centroidsRas[index]),
                    lesionId=lesionId,
                )
            )
    return regions, regionLabels


def reviewableRegions(regions: list[DiscordantRegion], minExtentMm3: float) -> list[DiscordantRegion]:
    """The regions a reviewer should see: every missed lesion, and extent regions of at least ``minExtentMm3``.

    :param minExtentMm3: smallest extent region kept, mm^3; 0 keeps all.
    """
    # Volumes go through mL and back: allow the rounding so a region of exactly the limit is kept.
    limitMl = minExtentMm3 / 1000.0 * (1.0 - 1e-9)
    return [region for region in regions if region.regionType == TYPE_MISSED_LESION or region.volumeMl >= limitMl]
