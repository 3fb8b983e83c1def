"""Which of the reader's actions can run now, and why not (Qt layer): prevent rather than report."""

import os

from slicer.i18n import tr as _

from AISCommonLib.core import sequences
from AISCommonLib.workflow import database as workflowdatabase

#: Keys free on the main window while the module is shown (the Segment Editor uses digits, Space, Escape, z, y,
#: q, w, i, comma, period; Slicer uses Ctrl+digits).
NEXT_LESION_KEY = "]"
PREVIOUS_LESION_KEY = "["


def enable(button, reason: str, whatItDoes: str) -> None:
    """Enable ``button`` when ``reason`` is empty; otherwise disable it and show the reason as its tooltip."""
    button.enabled = not reason
    button.toolTip = whatItDoes if not reason else reason


def updateActions(ui, node, logic, selectedCase, caseLoaded: bool) -> None:
    """Enable each action only when it can run, and say why in its tooltip when it cannot.

    :param ui: the widget's child widgets (``slicer.util.childWidgetVariables``).
    :param node: the parameter node (or None).
    :param logic: the module logic (its claim).
    :param selectedCase: the case selected in the case list, or None.
    :param caseLoaded: whether the parameter node's case is the one on screen.
    """
    root = str(node.datasetRoot) if node else ""
    rootChosen = root not in ("", ".") and os.path.isdir(root)
    loaded = caseLoaded
    readerId = node.readerId.strip() if node else ""

    enable(ui.findCasesButton, "" if rootChosen else _("Choose an existing dataset folder first."),
                 _("List the cases of the dataset and the sequences each one is missing."))
    hasDatabase = rootChosen or bool(logic.database.url()) or bool(os.environ.get(workflowdatabase.DATABASE_URL_VARIABLE))
    nextReason = _("Enter your reader ID first.") if not readerId else ("" if hasDatabase else _("Choose the dataset folder or enter the workflow database first."))
    enable(ui.nextCaseButton, nextReason, _("Take your next assigned case from the workflow (or resume the one you hold) and load it."))

    case = selectedCase
    blocking = [key.upper() for key in sequences.LOAD_REQUIRED_SEQUENCES if case and key not in case.files]
    if not case:
        loadReason = _("Select a case in the list.")
    elif blocking:
        loadReason = _("This case cannot be loaded: it has no {sequences} image.").format(sequences=", ".join(blocking))
    else:
        loadReason = ""
    enable(ui.loadCaseButton, loadReason, _("Load DWI, ADC, eADC, FLAIR (and T1w/T2w when present) of the selected case to look at it."))

    caseReason = "" if loaded else _("Load a case first.")
    enable(ui.applySeedButton, caseReason, _("Make or replace the lesion segment with voxels whose ADC is below the threshold and that are DWI-bright (undo in the editor)."))
    for button, text in ((ui.nextLesionButton, _("Centre all views on the next lesion ({key}).").format(key=NEXT_LESION_KEY)),
                         (ui.previousLesionButton, _("Centre all views on the previous lesion ({key}).").format(key=PREVIOUS_LESION_KEY))):
        enable(button, caseReason, text)
    predictionReason = caseReason or ("" if ui.predictionPathLineEdit.currentPath.strip() else _("Choose the prediction file first."))
    enable(ui.startFromPredictionButton, predictionReason,
           _("Make or replace the lesion segment from the AI prediction (labels: non-zero voxels; probabilities: >= 0.5); undo in the editor."))
    enable(ui.checkHintsButton, caseReason, _("List the parts of your mask that look unlike an acute infarct."))
    componentReason = caseReason or ("" if ui.seedComponentsTableWidget.currentRow() >= 0 else _("Select a region of the seed first."))
    enable(ui.dropComponentButton, componentReason, _("Erase the selected seed region from the lesion (Undo in the editor brings it back)."))
    enable(ui.assistPreviewButton, caseReason, _("Show in cyan what the DWI assist would add; nothing changes until Apply."))
    previewReason = caseReason or ("" if logic.assistResult is not None else _("Preview first."))
    enable(ui.assistApplyButton, previewReason, _("Put the previewed change into the lesion (Undo in the editor takes it back)."))
    enable(ui.assistClearButton, previewReason, _("Remove the preview."))

    noteReason = caseReason or ("" if ui.noteTextLineEdit.text.strip() else _("Type the note first."))
    enable(ui.addNoteButton, noteReason, _("Add the note at the crosshair position (Shift+mouse move sets it)."))
    enable(ui.removeNoteButton, caseReason or ("" if ui.notesListWidget.currentRow >= 0 else _("Select a note in the list first.")),
                 _("Remove the selected note."))

    claimReason = _claimReason(node, logic.claim, caseLoaded)
    excludeReason = claimReason
    if not excludeReason and ui.exclusionReasonComboBox.currentData == "other" and not ui.exclusionNoteLineEdit.text.strip():
        excludeReason = _("Excluding for 'other' needs a note saying what it is.")
    enable(ui.excludeButton, excludeReason, _("Take this case out of the workflow with the chosen reason (asks first)."))
    enable(ui.submitButton, claimReason, _("Submit your lesion mask, quality scores, notes and active time as your read of this case."))

    ui.segmentEditorWidget.enabled = loaded


def _claimReason(node, claim, caseLoaded: bool) -> str:
    """Why the loaded case cannot be submitted or excluded ("" when it can)."""
    if not caseLoaded:
        return _("Take a case with Next case first.")
    if not claim or claim["case_id"] != node.caseId:
        return _("This case was opened from the list, not assigned to you: take cases with Next case to submit or exclude them.")
    if claim.get("reader") != node.readerId.strip():
        return _("The case was assigned to reader {claimed}; the reader ID was changed since.").format(claimed=claim.get("reader"))
    return ""
