"""The reader's lists: cases of a dataset with what they lack, hints on the mask, the seed's regions (Qt layer)."""

import qt
from slicer.i18n import tr as _


def fillCaseList(listWidget, cases: list) -> None:
    """One row per case, marking the sequences it lacks (problems as the tooltip); selects the first."""
    for row, case in enumerate(cases):
        text = case.caseId
        if case.missing:
            text += "  " + _("(missing: {sequences})").format(sequences=", ".join(key.upper() for key in case.missing))
        listWidget.addItem(text)
        if case.problems:
            listWidget.item(row).setToolTip("\n".join(case.problems))
    if cases:
        listWidget.setCurrentRow(0)


def fillHintsTable(table, hints: list) -> None:
    """One row per hint: region number, volume (mL), kind, message (also the tooltip)."""
    table.setRowCount(len(hints))
    for row, hint in enumerate(hints):
        for column, text in enumerate((str(hint.region.regionId), f"{hint.region.volumeMl:.2f}", hint.kind.replace("-", " "), hint.message)):
            item = qt.QTableWidgetItem(text)
            item.setToolTip(hint.message)
            table.setItem(row, column, item)


def fillSeedComponentsTable(table, components: list) -> None:
    """One row per seed region (the library's ``componentTable``): number, mL, side, slice, mean ADC (1e-6 mm^2/s)."""
    table.setRowCount(len(components))
    for row, component in enumerate(components):
        texts = (str(component["id"]), f"{component['volumeMl']:.3f}", component["side"], str(component["slice"] + 1), f"{component['meanAdcMicro']:.0f}")
        for column, text in enumerate(texts):
            table.setItem(row, column, qt.QTableWidgetItem(text))
