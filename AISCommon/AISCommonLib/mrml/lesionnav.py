"""Next / previous lesion: step through the 26-connected components of the reader's mask, larger first."""

import numpy as np

from ..core.hints import MaskRegion, labelRegions
from .crosshair import jumpToRas


class LesionNavigator:
    """Cycles through the lesions (26-connected components) of a mask on the DWI grid.

    :param mask: boolean ``[k, j, i]`` mask.
    :param ijkToRas: 4x4 IJK-to-RAS matrix of the mask's grid.
    """

    def __init__(self, mask: np.ndarray, ijkToRas: np.ndarray):
        _, self.regions = labelRegions(mask, ijkToRas)
        self.index = -1

    @property
    def count(self) -> int:
        """Number of lesions."""
        return len(self.regions)

    def current(self) -> MaskRegion | None:
        """The lesion last stepped to, or None before the first step."""
        return self.regions[self.index] if 0 <= self.index < self.count else None

    def step(self, direction: int = 1) -> MaskRegion | None:
        """Go to the next (``+1``) or previous (``-1``) lesion, wrapping around.

        :return: the lesion (its centroid is in RAS mm), or None when the mask is empty.
        """
        if not self.regions:
            return None
        if self.index < 0:
            self.index = 0 if direction >= 0 else self.count - 1
        else:
            self.index = (self.index + (1 if direction >= 0 else -1)) % self.count
        return self.regions[self.index]

    def next(self) -> MaskRegion | None:
        """The next lesion (the largest one first)."""
        return self.step(1)

    def previous(self) -> MaskRegion | None:
        """The previous lesion."""
        return self.step(-1)


def jumpToLesion(scene, region: MaskRegion | None, viewGroup: int = -1) -> bool:
    """Centre every slice view (of ``viewGroup``) on a lesion's centroid and move the crosshair there.

    :return: False when there is no lesion to jump to.
    """
    if region is None:
        return False
    jumpToRas(scene, region.centroidRas, centered=True, viewGroup=viewGroup)
    return True


def stepLesion(scene, navigator: LesionNavigator, direction: int = 1) -> MaskRegion | None:
    """Step the navigator and jump all views to the lesion it lands on.

    :return: the lesion, or None when the mask is empty.
    """
    region = navigator.step(direction)
    jumpToLesion(scene, region)
    return region
