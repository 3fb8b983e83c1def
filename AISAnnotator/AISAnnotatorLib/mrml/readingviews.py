"""The reader's views: which reading layout is on screen, and when the views may be re-fitted.

Two rules keep the reader's zoom and pan:

- the layout follows the parameter node, *after* it changed (:class:`LayoutFollower`). Listening to the layout
  combo box instead ran before the parameter node's own GUI connector had stored the choice (the previous
  layout was shown), and ran again whenever the connector rebuilt the box (each time the module was entered);
- a view is fitted to the DWI the first time it shows a case, never again for that case
  (:meth:`ReadingViews.showLayout`): re-entering the module or coming back to a layout keeps what the reader set
  (the layouts share views: the 4x3 layout's axial row is the 2x2 layout's views).
"""

from AISCommonLib.mrml import crosshair, layouts, segmentation


class LayoutFollower:
    """Remembers the layout shown; :meth:`changed` says whether a parameter-node value is a new choice."""

    def __init__(self):
        self.shownName = None

    def changed(self, layoutName: str) -> bool:
        """True (and remembered) when ``layoutName`` differs from the layout on screen."""
        if layoutName == self.shownName:
            return False
        self.shownName = layoutName
        return True

    def shown(self, layoutName: str | None) -> None:
        """Record the layout put on screen by other means (a case load), or None when nothing is shown."""
        self.shownName = layoutName


class ReadingViews:
    """The views that show the case on screen already (and keep the reader's zoom and pan)."""

    def __init__(self):
        self._reading = None
        self._fitted: set[str] = set()

    def startCase(self, reading) -> None:
        """A newly loaded case (a new :class:`ReadingCase`, even of the same case ID) is fitted again, once per view."""
        self._reading = reading
        self._fitted = set()

    def showLayout(self, applicationLogic, layoutNode, layoutName: str, reading, afterLayoutChange=None) -> bool:
        """Show a reading layout: one sequence per view, the mask filled on DWI and outlined elsewhere, the crosshair.

        :param applicationLogic: the application logic (``slicer.app.applicationLogic()``).
        :param layoutNode: the scene's layout node.
        :param layoutName: ``2x2``, ``4x3`` or ``dwi-adc``.
        :param reading: the :class:`~AISAnnotatorLib.mrml.readingcase.ReadingCase` on screen.
        :param afterLayoutChange: called after the layout node changed, before the views are used (in Slicer it lets
            the layout manager create the views; headless it creates their slice logics).
        :return: True when some view was fitted to the DWI (it showed this case for the first time).
        """
        if reading is not self._reading:
            self.startCase(reading)
        layoutId = layouts.layoutIdByName(layoutName)
        layouts.setLayout(layoutNode, layoutId, reading.caseNodes.volumeNodes)  # T1w/T2w get tiles when the case has them
        if afterLayoutChange is not None:
            afterLayoutChange()
        scene = applicationLogic.GetMRMLScene()
        views = layouts.readingViews(scene, layoutId)
        names = {view.layoutName for view, _ in views}
        fit = bool(names - self._fitted)
        layouts.showSequences(applicationLogic, layoutId, reading.caseNodes.volumeNodes, keepViews=frozenset(self._fitted))
        self._fitted |= names
        segmentation.setFillAndOutlineViews(scene, reading.segmentationNode, [node for view, node in views if view.sequence == "dwi"],
                                            [node for view, node in views if view.sequence != "dwi"])
        crosshair.showCrosshair(scene)
        return fit
