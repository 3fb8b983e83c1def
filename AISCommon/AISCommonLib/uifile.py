"""Facts read from a Qt Designer ``.ui`` file without Qt (for the guard tests), and the in-Slicer check of its bindings."""

import xml.etree.ElementTree as ElementTree


def parameterNamesInUi(uiPath) -> list[str]:
    """Every ``SlicerParameterName`` dynamic property of the file: the parameter-node fields it binds."""
    return [
        element.findtext("string")
        for element in ElementTree.parse(str(uiPath)).iter("property")
        if element.get("name") == "SlicerParameterName"
    ]


def checkParameterBindings(testCase, uiPath, parameterNode, values: dict) -> None:
    """In-Slicer self-test: every ``SlicerParameterName`` names a field of ``parameterNode``, and setting the
    fields in ``values`` (field -> (widget objectName, value)) shows in those widgets.

    :param testCase: the running ``ScriptedLoadableModuleTest`` (its assertions are used).
    """
    import slicer

    names = parameterNamesInUi(uiPath)
    testCase.assertTrue(names)
    for name in names:
        testCase.assertIn(name, type(parameterNode).allParameters)
    uiWidget = slicer.util.loadUI(str(uiPath))
    tag = parameterNode.connectGui(slicer.util.childWidgetVariables(uiWidget))
    try:
        for field, (widgetName, value) in values.items():
            setattr(parameterNode, field, value)
            widget = slicer.util.findChild(uiWidget, widgetName)
            testCase.assertEqual(widget.text if isinstance(value, str) else widget.value, value)
    finally:
        parameterNode.disconnectGui(tag)


def checkSceneHoldsNoPassword(testCase, widget, secretUrl: str, secret: str) -> None:
    """In-Slicer self-test (issue 14 A8): a database URL with a password typed in ``widget``'s panel leaves the field,
    the password reaches the settings' keyring or session, and a saved scene holds neither the password nor the host.

    :param widget: a module widget with ``ui.databaseUrlLineEdit``, ``onDatabaseEdited`` and ``logic.database``.
    """
    import tempfile
    import urllib.parse
    from pathlib import Path

    import slicer

    widget.ui.databaseUrlLineEdit.text = secretUrl
    widget.onDatabaseEdited()
    testCase.assertNotIn(secret, widget.ui.databaseUrlLineEdit.text)
    testCase.assertEqual(widget.logic.database.password(), secret)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "scene.mrml"
        testCase.assertTrue(slicer.util.saveScene(str(path)))
        text = path.read_text(encoding="utf-8", errors="replace")
    testCase.assertNotIn(secret, text)
    testCase.assertNotIn(urllib.parse.urlsplit(secretUrl).hostname, text)
