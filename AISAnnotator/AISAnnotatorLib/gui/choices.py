"""The reader's choices with their translatable labels, as enums for the parameter node (Qt layer)."""

import enum

from slicer.i18n import tr as _

from AISCommonLib.core import adcunits, dwiassist, seeding


class AdcUnitChoice(enum.Enum):
    """How the ADC file stores its values: detected, or one of the library's units (values are its keys)."""

    AUTO = "auto"
    MICRO = adcunits.MICRO.key
    MILLI = adcunits.MILLI.key
    SI = adcunits.SI.key

    def label(self) -> str:
        """Text of the choice in the unit combo box."""
        labels = {
            AdcUnitChoice.AUTO: _("Auto (detect)"),
            AdcUnitChoice.MICRO: _("1e-6 mm^2/s (white matter ~750)"),
            AdcUnitChoice.MILLI: _("1e-3 mm^2/s (white matter ~0.75)"),
            AdcUnitChoice.SI: _("mm^2/s (white matter ~0.00075)"),
        }
        return labels[self]

    @property
    def unitKey(self) -> str | None:
        """Unit key for ``sequences.loadCase``; None asks the library to detect the unit."""
        return None if self is AdcUnitChoice.AUTO else self.value


class ReadingLayout(enum.Enum):
    """The reading layouts; values are the library's layout names (``layouts.layoutIdByName``)."""

    AXIAL_2X2 = "2x2"
    MULTIPLANAR_4X3 = "4x3"
    DWI_ADC = "dwi-adc"

    def label(self) -> str:
        labels = {
            ReadingLayout.AXIAL_2X2: _("2x2 axial: DWI, ADC, eADC, FLAIR"),
            ReadingLayout.MULTIPLANAR_4X3: _("4x3: each sequence in 3 planes"),
            ReadingLayout.DWI_ADC: _("DWI / ADC side by side"),
        }
        return labels[self]


class SeedModeChoice(enum.Enum):
    """The seed's modes; values are the library's (``seeding.SEED_MODES``)."""

    GATED = seeding.MODE_GATED
    PLAIN = seeding.MODE_PLAIN

    def label(self) -> str:
        labels = {
            SeedModeChoice.GATED: _("Gated: threshold, DWI-bright, cleaned up"),
            SeedModeChoice.PLAIN: _("Plain: ADC below the threshold, nothing else"),
        }
        return labels[self]


class AssistModeChoice(enum.Enum):
    """What the DWI assist does; values are the library's (``dwiassist.ASSIST_MODES``)."""

    GROW = dwiassist.MODE_GROW
    SHRINK = dwiassist.MODE_SHRINK
    BOTH = dwiassist.MODE_BOTH

    def label(self) -> str:
        labels = {
            AssistModeChoice.GROW: _("Grow into DWI-bright tissue"),
            AssistModeChoice.SHRINK: _("Shrink where not DWI-bright"),
            AssistModeChoice.BOTH: _("Grow and shrink"),
        }
        return labels[self]
