"""Exceptions the library raises; every message is one English sentence a user can act on."""


class AISError(Exception):
    """Base of every error the AIS library reports to a user (bad input, broken state, refused action)."""


class InputError(AISError):
    """An input file or value is missing, unreadable or outside what the rules accept."""


class GeometryError(InputError):
    """Two images that must share a voxel grid do not."""


class AdcUnitError(InputError):
    """ADC values fit no known unit, or an explicit unit contradicts the data."""


class OutputExistsError(AISError):
    """A write would replace a file that must never be overwritten."""


class OperationCancelled(AISError):
    """Raised by a progress callback to stop a long operation; the operation cleans up and re-raises."""
