"""Where a discordant region is and who drew it, in the words a reviewer uses to find it again.

A region is described by its size (voxels, mL), its slice and side (from the agreement engine, see
:func:`AISCommonLib.core.regions.regionLocations`), which reader drew its voxels and whether the other
reader drew the lesion at all, and, only when the caller has one, an anatomical label (lobe, vascular
territory) from a label map on the DWI grid.

No atlas ships with the project and none is guessed: a label is named only from a label map the site
supplies (e.g. a territory atlas registered to the case) with its names, as a BIDS ``dseg`` image and its
``.tsv`` table (columns ``index`` and ``name``). Pure numpy and the standard library.
"""

import csv
import dataclasses
from pathlib import Path

import numpy as np

from .errors import InputError
from .regions import superiorAxisKji

#: Which reads drew the lesion a region belongs to: an extent region's lesion was drawn by both readers.
LESION_BY_BOTH = "both"


@dataclasses.dataclass(frozen=True)
class RegionDescription:
    """The facts a region picture's caption and the region list show.

    :param regionId: the agreement engine's region id.
    :param voxels: voxel count.
    :param volumeMl: volume in mL.
    :param sliceNumber: 1-based slice holding the centroid along the axis nearest to superior.
    :param sliceCount: number of slices along that axis.
    :param side: ``right``, ``left`` or ``midline``.
    :param drawnBy: the reader who drew the region's voxels: ``A`` or ``B`` (the other did not).
    :param lesionDrawnBy: who drew the lesion the region belongs to: ``both`` (an extent region: the
        readers drew its boundary differently) or the same reader as ``drawnBy`` (the other missed the lesion).
    :param label: name of the anatomical label covering most of the region, or ``""`` when no label map
        was given or the region lies outside every label.
    :param small: the region is under the review size limit (listed and decided in the small group).
    """

    regionId: int
    voxels: int
    volumeMl: float
    sliceNumber: int
    sliceCount: int
    side: str
    drawnBy: str
    lesionDrawnBy: str
    label: str = ""
    small: bool = False

    def toDict(self) -> dict:
        """JSON-ready form (snake_case keys, as ``ais compare --json`` regions)."""
        return {"id": self.regionId, "voxels": self.voxels, "volume_ml": self.volumeMl, "slice": self.sliceNumber,
                "slice_count": self.sliceCount, "side": self.side, "drawn_by": self.drawnBy, "lesion_drawn_by": self.lesionDrawnBy,
                "label": self.label, "small": self.small}


def describeRegions(regions, ijkToRas: np.ndarray, gridShape, smallIds=(), labels: dict | None = None) -> list[RegionDescription]:
    """Describe discordant regions for captions and lists.

    :param regions: :class:`~AISCommonLib.core.regions.DiscordantRegion` objects (slice and side filled in).
    :param ijkToRas: 4x4 matrix of the grid the regions were found on.
    :param gridShape: that grid ``(k, j, i)``.
    :param smallIds: ids of the regions under the review size limit.
    :param labels: region id -> anatomical label name (see :func:`majorityLabels`), or None.
    :return: one description per region, in the given order.
    """
    sliceCount = int(tuple(gridShape)[superiorAxisKji(ijkToRas)])
    small = {int(regionId) for regionId in smallIds}
    labels = labels or {}
    return [
        RegionDescription(regionId=int(region.regionId), voxels=int(region.voxels), volumeMl=float(region.volumeMl),
                          sliceNumber=int(region.sliceNumber), sliceCount=sliceCount, side=str(region.side), drawnBy=region.drawnBy,
                          lesionDrawnBy=LESION_BY_BOTH if region.regionType == "extent" else region.drawnBy,
                          label=str(labels.get(int(region.regionId), "")), small=int(region.regionId) in small)
        for region in regions
    ]


def sizeText(description: RegionDescription) -> str:
    """``12 voxels, 0.096 mL`` (three decimals: one voxel of a 2 mm grid is 0.008 mL)."""
    noun = "voxel" if description.voxels == 1 else "voxels"
    return f"{description.voxels} {noun}, {description.volumeMl:.3f} mL"


def locationText(description: RegionDescription) -> str:
    """``slice 34 of 73, left`` plus ``, <label>`` when a label map named the place."""
    side = "midline" if description.side == "midline" else f"{description.side} side"
    text = f"slice {description.sliceNumber} of {description.sliceCount}, {side}"
    return f"{text}, {description.label}" if description.label else text


def authorText(description: RegionDescription, readerIds=("A", "B")) -> str:
    """Who drew the region, e.g. ``drawn by reader A (R01) only; both drew this lesion``.

    :param readerIds: pseudonymous IDs of reader A and reader B; the bare letters when they are ``A``/``B``.
    """
    names = {}
    for letter, readerId in zip(("A", "B"), readerIds):
        names[letter] = f"reader {letter}" if str(readerId) == letter else f"reader {letter} ({readerId})"
    other = "B" if description.drawnBy == "A" else "A"
    lesion = "both drew this lesion" if description.lesionDrawnBy == LESION_BY_BOTH else f"{names[other]} missed this lesion"
    return f"drawn by {names[description.drawnBy]} only; {lesion}"


def majorityLabels(regionLabels: np.ndarray, labelMap: np.ndarray) -> dict[int, int]:
    """For each region, the non-zero label value covering most of its voxels.

    Ties go to the smaller label value. A region outside every label (all its voxels 0 in the map) is left out.

    :param regionLabels: int ``[k, j, i]``, region id per voxel, 0 elsewhere (e.g. ``RegionMap.labels``).
    :param labelMap: int ``[k, j, i]`` of the same shape (cut to the same box), label value per voxel, 0 unlabelled.
    :return: region id -> label value.
    :raises InputError: the arrays differ in shape or the label map has negative values.
    """
    regionLabels = np.asarray(regionLabels)
    labelMap = np.asarray(labelMap)
    if regionLabels.shape != labelMap.shape:
        raise InputError(f"The label map has shape {labelMap.shape} but the regions were found on {regionLabels.shape} ([k, j, i]).")
    inside = (regionLabels > 0) & (labelMap != 0)
    if not inside.any():
        return {}
    values = labelMap[inside].astype(np.int64)
    if values.min() < 0:
        raise InputError("The label map has negative label values; labels must be 0 (none) or positive integers.")
    regionIds = regionLabels[inside].astype(np.int64)
    pairs, counts = np.unique(np.stack([regionIds, values]), axis=1, return_counts=True)
    # Sort by region, then by count descending, then label ascending: the first row per region wins.
    order = np.lexsort((pairs[1], -counts, pairs[0]))
    pairs = pairs[:, order]
    first = np.ones(pairs.shape[1], dtype=bool)
    first[1:] = pairs[0, 1:] != pairs[0, :-1]
    return {int(regionId): int(value) for regionId, value in zip(pairs[0, first], pairs[1, first])}


def readLabelTable(path) -> dict[int, str]:
    """Read the names of a label map from a BIDS ``dseg.tsv`` table (tab-separated, columns ``index`` and ``name``).

    :param path: the ``.tsv`` file.
    :return: label value -> name.
    :raises InputError: the file is missing or unreadable, lacks the columns, or has a bad or repeated index.
    """
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as stream:
            rows = list(csv.DictReader(stream, delimiter="\t"))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise InputError(f"The label table '{path}' could not be read ({error}).") from error
    if not rows or not {"index", "name"} <= set(rows[0]):
        raise InputError(f"The label table '{path}' needs the tab-separated columns 'index' and 'name' (BIDS dseg.tsv).")
    names: dict[int, str] = {}
    for line, row in enumerate(rows, start=2):
        try:
            index = int(str(row["index"]).strip())
        except ValueError:
            raise InputError(f"Line {line} of the label table '{path}' has the index '{row['index']}', which is not an integer.") from None
        if index in names:
            raise InputError(f"The label table '{path}' lists the index {index} twice (line {line}).")
        names[index] = str(row["name"] or "").strip()
    return names


def labelNames(regionLabels: np.ndarray, labelMap: np.ndarray, names: dict[int, str]) -> dict[int, str]:
    """Region id -> name of its majority label (see :func:`majorityLabels`); unnamed values read ``label <value>``."""
    return {regionId: names.get(value) or f"label {value}" for regionId, value in majorityLabels(regionLabels, labelMap).items()}


def loadLocationLabels(mapPath, reference, tablePath=None) -> tuple[np.ndarray, dict[int, str]]:
    """Load a label map (lobes, vascular territories...) that the site registered to the case's DWI grid.

    :param mapPath: NIfTI label map on exactly the DWI grid (never resampled here).
    :param reference: the DWI :class:`~AISCommonLib.core.image.Volume`.
    :param tablePath: the names (BIDS ``dseg.tsv``, see :func:`readLabelTable`); default: beside the map with
        ``.tsv`` in place of ``.nii.gz``/``.nii``, or none (labels then read ``label <value>``).
    :return: int64 ``[k, j, i]`` label values and label value -> name.
    :raises InputError: unreadable map or table, a map off the DWI grid, or non-integer label values.
    """
    from .image import loadVolume, requireSameGrid

    mapPath = Path(mapPath)
    volume = loadVolume(mapPath)
    requireSameGrid(reference, volume)
    values = np.asarray(volume.array)
    if not np.all(np.isfinite(values)) or not np.array_equal(values, np.rint(values)):
        raise InputError(f"The label map '{mapPath}' holds non-integer values; give a label image (one integer per region).")
    if tablePath is None:
        stem = mapPath.name[:-len(".nii.gz")] if mapPath.name.endswith(".nii.gz") else mapPath.stem
        sibling = mapPath.with_name(stem + ".tsv")
        names = readLabelTable(sibling) if sibling.is_file() else {}
    else:
        names = readLabelTable(tablePath)
    return values.astype(np.int64), names
