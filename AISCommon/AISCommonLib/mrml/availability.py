"""Whether this Python has slicer-core, asked without importing it (the rest of ``ais`` works without it)."""

import importlib.util

from ..core.errors import AISError


def requireSlicerCore() -> None:
    """:raises AISError: slicer-core is not installed in this Python."""
    if importlib.util.find_spec("slicer") is None or importlib.util.find_spec("vtk") is None:
        raise AISError("Pictures of the views need the slicer-core package, which is not installed in this Python; "
                       "install it with: pip install 'ais-annotation[mrml]'.")
