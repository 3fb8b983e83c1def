"""Keyboard shortcuts on Slicer's main window, active only while the module is shown (Qt layer)."""

import qt
import slicer


class Shortcuts:
    """Shortcuts made once, enabled on entering the module and disabled on leaving it.

    :param bindings: ``(key sequence, callback)`` pairs, e.g. ``("Alt+1", showLayout)``.
    """

    def __init__(self, bindings):
        self._shortcuts = []
        mainWindow = slicer.util.mainWindow()
        if mainWindow is None:
            return
        for key, callback in bindings:
            shortcut = qt.QShortcut(qt.QKeySequence(key), mainWindow)
            shortcut.setEnabled(False)
            shortcut.connect("activated()", callback)
            self._shortcuts.append(shortcut)

    def setEnabled(self, enabled: bool) -> None:
        for shortcut in self._shortcuts:
            shortcut.setEnabled(enabled)

    def remove(self) -> None:
        """Take the shortcuts off the main window (module cleanup)."""
        for shortcut in self._shortcuts:
            shortcut.setEnabled(False)
            shortcut.setParent(None)
        self._shortcuts = []
