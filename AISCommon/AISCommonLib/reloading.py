"""Developer reload of a library package, for the modules' Reload button.

Slicer's Reload re-runs only the module file; without this, edits to the library would not be seen
until Slicer restarts.
"""

import importlib
import sys


def reloadPackage(packageName: str) -> None:
    """Reload every loaded submodule of ``packageName``, deepest first.

    A second pass refreshes names that a sibling imported before it was itself reloaded.
    """
    names = sorted(
        (name for name in sys.modules if name == packageName or name.startswith(packageName + ".")),
        key=lambda name: name.count("."),
        reverse=True,
    )
    for _pass in range(2):
        for name in names:
            importlib.reload(sys.modules[name])
