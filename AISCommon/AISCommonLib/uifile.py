"""Facts read from a Qt Designer ``.ui`` file without Qt, for the modules' self-tests and the guard tests."""

import xml.etree.ElementTree as ElementTree


def parameterNamesInUi(uiPath) -> list[str]:
    """Every ``SlicerParameterName`` dynamic property of the file: the parameter-node fields it binds."""
    return [
        element.findtext("string")
        for element in ElementTree.parse(str(uiPath)).iter("property")
        if element.get("name") == "SlicerParameterName"
    ]
