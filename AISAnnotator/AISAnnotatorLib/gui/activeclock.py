"""The reader's active time on the case, counted while the module is shown and ticking in a label (Qt layer)."""

import qt

from AISCommonLib.core.readrecord import ActiveTimer


class ActiveClock:
    """An :class:`~AISCommonLib.core.readrecord.ActiveTimer` shown as ``m:ss`` in ``label``, refreshed every second.

    :param label: the ``QLabel`` showing the time.
    """

    def __init__(self, label):
        self._label = label
        self._timer = ActiveTimer()
        self._ticker = qt.QTimer()
        self._ticker.setInterval(1000)
        self._ticker.connect("timeout()", self.show)

    @property
    def seconds(self) -> float:
        return self._timer.seconds

    def start(self) -> None:
        self._timer.start()
        self._ticker.start()
        self.show()

    def stop(self) -> None:
        self._timer.stop()
        self._ticker.stop()

    def reset(self, seconds: float = 0.0) -> None:
        self._timer.reset(seconds)
        self.show()

    def show(self) -> None:
        seconds = int(self._timer.seconds)
        self._label.text = f"{seconds // 60}:{seconds % 60:02d}"
