"""The training panel of AISAnnotator: a trainee's score against the reference after each trial case (Qt layer).

What to show is decided in :mod:`AISAnnotatorLib.trainingfeedback` (plain Python, tested without Qt); this
class only builds the section and fills it. The widget creates it once in ``setup`` and calls
:meth:`TrainingPanel.showFeedback` after a trial read is submitted.
"""

import ctk
import qt
from slicer.i18n import tr as _

from ..trainingfeedback import TrialFeedback, feedbackText

#: Table colours of a measure that meets the bar, does not yet, or has no limit.
MET_COLORS = {True: "#2E7D32", False: "#C62828", None: "#000000"}


class TrainingPanel:
    """A collapsible "Training" section: headline, score table, what is missing, and a button to show the reference.

    :param parentLayout: the module panel's layout (the section is appended to it, hidden until a trainee reads).
    :param onShowReference: called with the trial case ID when the reader asks to see its reference.
    """

    def __init__(self, parentLayout, onShowReference):
        self.section = ctk.ctkCollapsibleButton()
        self.section.text = _("Training")
        self.section.toolTip = _("Your score against the reference after each trial case, and what qualification still needs.")
        layout = qt.QVBoxLayout(self.section)
        self.headlineLabel = qt.QLabel()
        self.headlineLabel.wordWrap = True
        layout.addWidget(self.headlineLabel)
        self.scoreTable = qt.QTableWidget(0, 3)
        self.scoreTable.setHorizontalHeaderLabels([_("Measure"), _("You"), _("Bar")])
        self.scoreTable.horizontalHeader().setStretchLastSection(True)
        self.scoreTable.setEditTriggers(qt.QAbstractItemView.NoEditTriggers)
        layout.addWidget(self.scoreTable)
        self.shortfallLabel = qt.QLabel()
        self.shortfallLabel.wordWrap = True
        layout.addWidget(self.shortfallLabel)
        self.referenceButton = qt.QPushButton(_("Show the reference"))
        self.referenceButton.toolTip = _("Show the trial case's reference mask over your read (available after you submit).")
        self.referenceButton.enabled = False
        layout.addWidget(self.referenceButton)
        self._caseId = None
        self._onShowReference = onShowReference
        self.referenceButton.connect("clicked(bool)", self._showReference)
        parentLayout.addWidget(self.section)
        self.section.visible = False

    def _showReference(self, unused=False) -> None:
        if self._caseId:
            self._onShowReference(self._caseId)

    def setInTraining(self, inTraining: bool, text: str = "") -> None:
        """Show the section (with ``text`` as the headline) while the reader is in training; hide it otherwise."""
        self.section.visible = inTraining
        if text:
            self.headlineLabel.text = text

    def showFeedback(self, feedback: TrialFeedback) -> None:
        """Fill the section with the feedback of the trial read just submitted."""
        self.section.visible = True
        self.section.collapsed = False
        self.headlineLabel.text = feedback.headline
        self.scoreTable.setRowCount(len(feedback.rows))
        for row, entry in enumerate(feedback.rows):
            for column, text in enumerate((entry.measure, entry.value, entry.bar)):
                item = qt.QTableWidgetItem(text)
                item.setForeground(qt.QBrush(qt.QColor(MET_COLORS[entry.met])))
                self.scoreTable.setItem(row, column, item)
        self.shortfallLabel.text = _("To qualify: {missing}.").format(missing="; ".join(feedback.shortfalls)) if feedback.shortfalls else ""
        self.section.toolTip = feedbackText(feedback)
        self._caseId = feedback.caseId
        self.referenceButton.enabled = bool(feedback.caseId)
