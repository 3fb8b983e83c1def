"""Which discordant region a reader's note is about, so the reviewer reads it beside that region.

A reader leaves a note at a place (RAS mm) while drawing: "boundary unclear here", "old infarct?". The
reviewer sees the discordant regions, not the places, so each note is put with the region it sits in, or the
nearest region whose centre lies within :data:`NOTE_REGION_MM`; any other note is about the case as a whole.
"""

import numpy as np

from .image import rasToVoxel

#: A note this close (mm) to a region's centre, but not inside it, is still taken to be about that region.
NOTE_REGION_MM = 10.0


def placeNotes(notes: list[dict], result, ijkToRas: np.ndarray) -> list[dict]:
    """Each note with the region it is about.

    :param notes: note dicts with ``ras`` ``[r, a, s]`` mm (as kept in a read's parameters).
    :param result: the :class:`~AISCommonLib.core.agreement.AgreementResult` of the two reads.
    :param ijkToRas: 4x4 matrix of the grid the reads were compared on.
    :return: copies of the notes with ``region``: the region id, or None for a note about the whole case.
    """
    regionMap = result.regionMap
    regions = result.allRegions
    centres = np.array([region.centroidRas for region in regions], dtype=np.float64).reshape(-1, 3)
    placed = []
    for note in notes:
        region = None
        ras = note.get("ras")
        if ras is not None and len(ras) == 3 and regions:
            index = np.rint(rasToVoxel(np.asarray(ijkToRas, dtype=np.float64), ras)).astype(int)
            local = index - np.array([part.start for part in regionMap.cropSlices])
            if np.all(local >= 0) and np.all(local < regionMap.labels.shape):
                label = int(regionMap.labels[tuple(local)])
                region = label or None
            if region is None:
                distances = np.linalg.norm(centres - np.asarray(ras, dtype=np.float64), axis=1)
                nearest = int(np.argmin(distances))
                region = regions[nearest].regionId if distances[nearest] <= NOTE_REGION_MM else None
        placed.append({**note, "region": region})
    return placed
