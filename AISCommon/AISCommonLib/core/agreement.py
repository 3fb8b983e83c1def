"""Agreement between two independent reads of one case: overlap, volumes, distances, lesions, discordant regions.

Entry points: :func:`compareMasks` (arrays) and :func:`compareFiles` (NIfTI masks). Every step runs on
the box the two reads occupy (plus one voxel), so a case costs milliseconds whatever the image size.
Definitions of each number are in the docstrings of :class:`AgreementResult`, ``surface``, ``lesions``
and ``regions``.
"""

import dataclasses

import numpy as np

from .errors import GeometryError, InputError
from .image import voxelToRas
from .lesions import LesionDetection, labelReadVoxels, lesionDetection, lesionOverlap, matchingTable
from .masks import boundingBox, loadMaskPair, spacingKjiMm, voxelVolumeMm3
from .readvoxels import BIT_A, BIT_B, ReadVoxels
from .regions import TYPE_MISSED_LESION, DiscordantRegion, RegionMap, findDiscordantRegions, reviewableRegions
from .surface import HAUSDORFF_PERCENTILE, surfaceMetricsFromBoundaries

#: Extent regions smaller than this (mm^3) are grouped as small for review (listed, decided in bulk): about a 4.6 mm sphere, i.e. 2-3
#: voxels of a typical 1.8 x 1.8 x 5 mm DWI, the size of boundary disagreements readers make on any case.
DEFAULT_MIN_EXTENT_MM3 = 50.0
#: Dice at or above which two reads count as agreeing (Zijdenbos et al. 1994: DSC > 0.7 is excellent agreement).
DEFAULT_MIN_DICE = 0.7
#: Lesions one reader drew and the other missed entirely that a concordant case may still have.
DEFAULT_MAX_MISSED_LESIONS = 0


@dataclasses.dataclass
class AgreementParameters:
    """Settings of a comparison.

    :param minExtentMm3: extent regions below this volume (mm^3) are grouped as small: listed and decided like
        any other, in bulk if the reviewer wishes; 0 groups none. Missed lesions are never small.
    :param minDice: concordance rule: Dice must be at least this.
    :param maxMissedLesions: concordance rule: at most this many ``missed_lesion`` regions (both reads).
    :param hausdorffPercentile: percentile of the Hausdorff distance (95 gives HD95).
    """

    minExtentMm3: float = DEFAULT_MIN_EXTENT_MM3
    minDice: float = DEFAULT_MIN_DICE
    maxMissedLesions: int = DEFAULT_MAX_MISSED_LESIONS
    hausdorffPercentile: float = HAUSDORFF_PERCENTILE

    def toDict(self) -> dict:
        """The settings under the snake_case names the JSON output uses."""
        return {
            "min_extent_mm3": self.minExtentMm3,
            "min_dice": self.minDice,
            "max_missed_lesions": self.maxMissedLesions,
            "hausdorff_percentile": self.hausdorffPercentile,
        }

    def ruleDict(self) -> dict:
        """The concordance rule and review size limit as a workflow stores them (``min_dice``, ``max_missed_lesions``,
        ``min_extent_mm3``); ``AgreementParameters().ruleDict()`` is the one default rule."""
        return {"min_dice": self.minDice, "max_missed_lesions": self.maxMissedLesions, "min_extent_mm3": self.minExtentMm3}

    @classmethod
    def fromRule(cls, rule) -> "AgreementParameters":
        """Parameters from a stored rule (:meth:`ruleDict` keys; missing keys take the defaults), validated.

        :raises InputError: unknown keys or values out of range.
        """
        defaults = cls().ruleDict()
        unknown = sorted(set(rule) - set(defaults))
        if unknown:
            raise InputError(f"Unknown concordance settings: {', '.join(unknown)} (known: {', '.join(defaults)}).")
        merged = {**defaults, **rule}
        try:
            parameters = cls(minExtentMm3=float(merged["min_extent_mm3"]), minDice=float(merged["min_dice"]),
                             maxMissedLesions=int(merged["max_missed_lesions"]))
        except (TypeError, ValueError):
            raise InputError(f"The concordance settings {merged} are not numbers.") from None
        parameters.validate()
        return parameters

    def validate(self) -> None:
        """:raises InputError: a value is outside its range."""
        if not np.isfinite(self.minExtentMm3) or self.minExtentMm3 < 0:
            raise InputError(f"The smallest extent region must be 0 mm^3 or more, not {self.minExtentMm3}.")
        if not 0.0 <= self.minDice <= 1.0:
            raise InputError(f"The concordance Dice threshold must lie between 0 and 1, not {self.minDice}.")
        if self.maxMissedLesions < 0:
            raise InputError(f"The number of missed lesions allowed must be 0 or more, not {self.maxMissedLesions}.")
        if not 0.0 <= self.hausdorffPercentile <= 100.0:
            raise InputError(f"The Hausdorff percentile must lie between 0 and 100, not {self.hausdorffPercentile}.")


@dataclasses.dataclass
class AgreementResult:
    """Everything known about the agreement of reads A and B.

    Dice = 2|A and B| / (|A| + |B|), Jaccard = |A and B| / |A or B|, both 1.0 when both reads are empty.
    Volumes are voxel counts times ``|det|`` of the matrix (mL). Distances (mm) are None when either read
    is empty. ``concordant``: Dice >= ``minDice`` and missed lesions <= ``maxMissedLesions``.

    :param regions: discordant regions kept for review (see ``regions``), in id order.
    :param allRegions: every discordant region, including extent regions below the size limit.
    :param lesionTable: per-lesion matching table (see :func:`lesions.matchingTable`).
    :param regionMap: region ids and agreed voxels, for :func:`consensus.adjudicatedMask`.
    :param inputs: file paths and header details when the masks came from files.
    """

    parameters: AgreementParameters
    gridShape: tuple[int, int, int]
    spacingMm: tuple[float, float, float]
    voxelVolumeMm3: float
    voxelsA: int
    voxelsB: int
    sharedVoxels: int
    hausdorffMm: float | None
    assdMm: float | None
    lesionsA: int
    lesionsB: int
    detectionAReference: LesionDetection
    detectionBReference: LesionDetection
    lesionTable: dict
    allRegions: list[DiscordantRegion]
    regions: list[DiscordantRegion]
    regionMap: RegionMap
    inputs: dict = dataclasses.field(default_factory=dict)

    @property
    def dice(self) -> float:
        total = self.voxelsA + self.voxelsB
        return 1.0 if total == 0 else 2.0 * self.sharedVoxels / total

    @property
    def jaccard(self) -> float:
        union = self.voxelsA + self.voxelsB - self.sharedVoxels
        return 1.0 if union == 0 else self.sharedVoxels / union

    @property
    def volumeAMl(self) -> float:
        return self.voxelsA * self.voxelVolumeMm3 / 1000.0

    @property
    def volumeBMl(self) -> float:
        return self.voxelsB * self.voxelVolumeMm3 / 1000.0

    @property
    def smallRegionIds(self) -> list[int]:
        """Ids of the regions under the review size limit: listed and decided like any other, in bulk if wished."""
        shown = {region.regionId for region in self.regions}
        return [region.regionId for region in self.allRegions if region.regionId not in shown]

    @property
    def missedLesions(self) -> int:
        """Lesions of either read that share no voxel with the other read."""
        return sum(1 for region in self.allRegions if region.regionType == TYPE_MISSED_LESION)

    @property
    def concordant(self) -> bool:
        return self.dice >= self.parameters.minDice and self.missedLesions <= self.parameters.maxMissedLesions

    def toDict(self) -> dict:
        """JSON-ready summary (snake_case keys, the ``ais compare --json`` output)."""
        smallIds = set(self.smallRegionIds)
        small = [region for region in self.allRegions if region.regionId in smallIds]
        result = {
            "dice": self.dice,
            "jaccard": self.jaccard,
            "volume_a_ml": self.volumeAMl,
            "volume_b_ml": self.volumeBMl,
            "abs_volume_diff_ml": abs(self.volumeAMl - self.volumeBMl),
            "hd95_mm": self.hausdorffMm,
            "assd_mm": self.assdMm,
            "lesions_a": self.lesionsA,
            "lesions_b": self.lesionsB,
            "abs_lesion_count_diff": abs(self.lesionsA - self.lesionsB),
            "lesion_f1": self.detectionAReference.f1,
            "lesion_f1_b_reference": self.detectionBReference.f1,
            "lesion_detection": {"a_reference": self.detectionAReference.toDict(), "b_reference": self.detectionBReference.toDict()},
            "missed_lesions": self.missedLesions,
            # Every region is listed (nothing is hidden); those under the size limit are marked small and
            # grouped, so a reviewer may decide them in bulk.
            "discordant_regions": [{**region.toDict(), "small": region.regionId in smallIds} for region in self.allRegions],
            "small_regions": {"count": len(small), "volume_ml": sum(region.volumeMl for region in small),
                              "ids": [region.regionId for region in small], "below_mm3": self.parameters.minExtentMm3},
            "concordant": self.concordant,
            "concordance_rule": {"min_dice": self.parameters.minDice, "max_missed_lesions": self.parameters.maxMissedLesions},
            "parameters": {
                "min_extent_mm3": self.parameters.minExtentMm3,
                "hausdorff_percentile": self.parameters.hausdorffPercentile,
                "connectivity": 26,
            },
            "voxels_a": self.voxelsA,
            "voxels_b": self.voxelsB,
            "shared_voxels": self.sharedVoxels,
            "lesion_matches": self.lesionTable,
            "grid": {
                "shape_ijk": list(self.gridShape[::-1]),
                "spacing_mm": list(self.spacingMm),
                "voxel_volume_mm3": self.voxelVolumeMm3,
            },
        }
        if self.inputs:
            result["inputs"] = self.inputs
        return result


def compareMasks(
    maskA: np.ndarray, maskB: np.ndarray, ijkToRas: np.ndarray, parameters: AgreementParameters | None = None
) -> AgreementResult:
    """Compare two binary reads on one voxel grid.

    :param maskA: bool ``[k, j, i]``, reader A (the reference of ``lesion_f1``).
    :param maskB: bool ``[k, j, i]``, reader B, same shape.
    :param ijkToRas: 4x4 IJK-to-RAS matrix (mm) of the grid; spacing = column norms, voxel volume = ``|det|``.
    :param parameters: settings; defaults when None.
    :return: the full agreement result.
    :raises InputError: masks that are not bool, not 3D, of different shapes, or parameters out of range.
    :raises GeometryError: a matrix that is not a finite, invertible 4x4.
    """
    parameters = parameters or AgreementParameters()
    parameters.validate()
    _checkInputs(maskA, maskB, ijkToRas)
    ijkToRas = np.asarray(ijkToRas, dtype=np.float64)
    spacing = spacingKjiMm(ijkToRas)
    voxelVolume = voxelVolumeMm3(ijkToRas)
    box = boundingBox((maskA, maskB), margin=1)
    if box is None:
        box = (slice(0, 0),) * 3
    cropA, cropB = maskA[box], maskB[box]
    offset = np.array([part.start for part in box])

    voxels = ReadVoxels.fromMasks(cropA, cropB)
    componentsA, componentsB, piecesA, piecesB = labelReadVoxels(voxels)
    overlap = lesionOverlap(componentsA, componentsB)
    distances = None
    if componentsA.count and componentsB.count:
        boundaryA, boundaryB = voxels.boundary(BIT_A), voxels.boundary(BIT_B)
        distances = surfaceMetricsFromBoundaries(voxels.kji, boundaryA, boundaryB, spacing, parameters.hausdorffPercentile)
    allRegions, regionLabels = findDiscordantRegions(
        piecesA, piecesB, componentsA, componentsB, overlap.detectedA, overlap.detectedB, ijkToRas, offset, voxelVolume, maskA.shape
    )
    centroidsRas = tuple(voxelToRas(ijkToRas, components.centroidsKji + offset) for components in (componentsA, componentsB))
    return AgreementResult(
        parameters=parameters,
        gridShape=tuple(int(size) for size in maskA.shape),
        spacingMm=tuple(float(value) for value in spacing[::-1]),
        voxelVolumeMm3=voxelVolume,
        voxelsA=int(componentsA.voxels.sum()),
        voxelsB=int(componentsB.voxels.sum()),
        sharedVoxels=int(np.count_nonzero(voxels.codes == (BIT_A | BIT_B))),
        hausdorffMm=distances.hausdorffMm if distances else None,
        assdMm=distances.averageSurfaceMm if distances else None,
        lesionsA=componentsA.count,
        lesionsB=componentsB.count,
        detectionAReference=lesionDetection(overlap.detectedA, overlap.detectedB),
        detectionBReference=lesionDetection(overlap.detectedB, overlap.detectedA),
        lesionTable=matchingTable(componentsA, componentsB, overlap, voxelVolume, centroidsRas),
        allRegions=allRegions,
        regions=reviewableRegions(allRegions, parameters.minExtentMm3),
        regionMap=RegionMap(tuple(maskA.shape), box, regionLabels, cropA & cropB),
    )


def compareFiles(pathA, pathB, parameters: AgreementParameters | None = None, label: int | None = None) -> AgreementResult:
    """Compare two NIfTI reader masks (see :func:`compareMasks`); never resamples.

    :param label: lesion label value for multi-label masks.
    :return: the result, with ``inputs`` naming the files and which header field (sform/qform) gave each matrix.
    :raises InputError: unreadable, 4D, NaN or non-binary masks.
    :raises GeometryError: the masks are on different grids.
    """
    pair = loadMaskPair(pathA, pathB, label)
    result = compareMasks(pair.maskA, pair.maskB, pair.ijkToRas, parameters)
    result.inputs = pair.sources
    return result


def _checkInputs(maskA, maskB, ijkToRas) -> None:
    for name, mask in (("A", maskA), ("B", maskB)):
        if not isinstance(mask, np.ndarray) or mask.dtype != bool or mask.ndim != 3:
            raise InputError(f"Mask {name} must be a 3D bool array [k, j, i]; binarize label maps first.")
    if maskA.shape != maskB.shape:
        raise InputError(f"The masks have different shapes {maskA.shape} and {maskB.shape}; they must share one voxel grid.")
    matrix = np.asarray(ijkToRas, dtype=np.float64)
    if matrix.shape != (4, 4) or not np.isfinite(matrix).all() or abs(np.linalg.det(matrix[:3, :3])) < 1e-12:
        raise GeometryError("The IJK-to-RAS matrix must be a finite, invertible 4x4 matrix.")
