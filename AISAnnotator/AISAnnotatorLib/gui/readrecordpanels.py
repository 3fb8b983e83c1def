"""Two parts of the reader's record in the Qt layer: quality scores per sequence and criterion, and lesion attributes.

The rules are the library's (:mod:`AISCommonLib.core.readrecord`: which scores are required;
:mod:`AISCommonLib.core.lesionattributes`: vocabularies, tying an attribute to the lesion at its place); these
classes only build the widgets and hand their values over. The module widget creates each once and passes
``scores()`` and ``attributes()`` to the logic's submit.
"""

import qt
import slicer
from slicer.i18n import tr as _

from AISCommonLib.core import lesionattributes, readrecord

#: Row labels of the score grid.
SEQUENCE_LABELS = {"dwi": "DWI", "adc": "ADC", "eadc": "eADC", "flair": "FLAIR", "t1w": "T1w", "t2w": "T2w"}


class QualityScoreGrid:
    """A grid of 0-5 spin boxes, one row per sequence the case has and one column per criterion (0: not scored).

    The first column scores the whole sequence at once (it sets every criterion of the row).

    :param parentLayout: the layout the grid is appended to (the Quality section).
    """

    def __init__(self, parentLayout):
        self.widget = qt.QWidget()
        grid = qt.QGridLayout(self.widget)
        grid.addWidget(qt.QLabel(_("all")), 0, 1)
        for column, criterion in enumerate(readrecord.LIKERT_CRITERIA, start=2):
            grid.addWidget(qt.QLabel(criterion), 0, column)
        self._rows = {}
        for row, sequence in enumerate(readrecord.SCORED_SEQUENCES, start=1):
            label = qt.QLabel(SEQUENCE_LABELS[sequence])
            grid.addWidget(label, row, 0)
            boxes = {}
            for column, criterion in enumerate(("all", *readrecord.LIKERT_CRITERIA), start=1):
                box = qt.QSpinBox()
                box.minimum, box.maximum = 0, 5
                box.specialValueText = "-"
                box.toolTip = _("Image quality 1-5 (1: unreadable, 3: acceptable, 5: excellent); '-': not scored.")
                grid.addWidget(box, row, column)
                boxes[criterion] = box
            boxes["all"].connect("valueChanged(int)", lambda value, sequence=sequence: self._setRow(sequence, value))
            self._rows[sequence] = (label, boxes)
        self._available = None
        parentLayout.addWidget(self.widget)

    def _setRow(self, sequence: str, value: int) -> None:
        if value:
            for criterion in readrecord.LIKERT_CRITERIA:
                self._rows[sequence][1][criterion].value = value

    def setSequences(self, available) -> None:
        """Show the rows of the sequences a case has (``available``: its sequence keys) and clear every score."""
        self._available = set(available)
        for sequence, (label, boxes) in self._rows.items():
            shown = sequence in self._available or (sequence == "eadc" and "dwi" in self._available)
            label.visible = shown
            for box in boxes.values():
                box.visible = shown
                box.value = 0

    def scores(self) -> dict:
        """``{sequence: {criterion: 0-5}}`` of the shown rows (for ``buildReadParameters``)."""
        return {sequence: {criterion: boxes[criterion].value for criterion in readrecord.LIKERT_CRITERIA}
                for sequence, (label, boxes) in self._rows.items() if label.visible}

    def missing(self) -> list:
        """``sequence.criterion`` still unscored that submitting needs (empty when ready)."""
        return readrecord.missingLikert(readrecord.likertCriteria(self.scores()), self._available)


class LesionAttributePanel:
    """Attributes of the lesion at the crosshair (territory, acuity, hemorrhagic transformation), one row per lesion.

    :param parentLayout: the layout the panel is appended to.
    :param crosshairRas: a callable returning the crosshair's ``(r, a, s)`` in mm.
    """

    def __init__(self, parentLayout, crosshairRas):
        self.widget = qt.QWidget()
        form = qt.QFormLayout(self.widget)
        self._combos = {}
        for key, values in lesionattributes.ATTRIBUTE_VALUES.items():
            combo = qt.QComboBox()
            combo.addItem(_("(not said)"), "")
            for value in values:
                combo.addItem(value, value)
            combo.toolTip = _("Leave '(not said)' when you do not describe it.")
            form.addRow(key.replace("_", " ").capitalize() + ":", combo)
            self._combos[key] = combo
        self.addButton = qt.QPushButton(_("Describe the lesion at the crosshair"))
        self.addButton.toolTip = _("Put the crosshair inside a lesion of your mask, choose its attributes, then press here.")
        form.addRow(self.addButton)
        self.listWidget = qt.QListWidget()
        self.listWidget.toolTip = _("One line per described lesion; tied to the lesion of your mask at its place when you submit.")
        form.addRow(self.listWidget)
        self.removeButton = qt.QPushButton(_("Remove the selected description"))
        form.addRow(self.removeButton)
        self._attributes = []
        self._crosshairRas = crosshairRas
        self.addButton.connect("clicked(bool)", self._add)
        self.removeButton.connect("clicked(bool)", self._remove)
        parentLayout.addWidget(self.widget)

    def _add(self, unused=False) -> None:
        with slicer.util.tryWithErrorDisplay(_("Could not describe the lesion."), waitCursor=True):
            values = {key: combo.currentData or None for key, combo in self._combos.items()}
            item = lesionattributes.LesionAttributes(tuple(float(value) for value in self._crosshairRas()), values["hemorrhagic_transformation"],
                                                      values["territory"], values["acuity"]).validated()
            self._attributes.append(item)
            self._show()

    def _remove(self, unused=False) -> None:
        row = self.listWidget.currentRow
        if 0 <= row < len(self._attributes):
            del self._attributes[row]
            self._show()

    def _show(self) -> None:
        self.listWidget.clear()
        for item in self._attributes:
            said = ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in item.values().items() if value)
            self.listWidget.addItem(f"R {item.ras[0]:.0f}, A {item.ras[1]:.0f}, S {item.ras[2]:.0f}: {said}")

    def attributes(self) -> list:
        """The :class:`~AISCommonLib.core.lesionattributes.LesionAttributes` given (for ``placeLesionAttributes``)."""
        return list(self._attributes)

    def clear(self) -> None:
        """Forget every description (a new case)."""
        self._attributes = []
        self._show()
