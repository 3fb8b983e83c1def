"""Fixtures for the MRML tests (slicer-core wheel, no Slicer application).

Each test gets its own scene. Segmentation converter rules are process-global and registered once.
The test files skip when slicer-core is missing, unless ``AIS_REQUIRE_SLICER_CORE`` is set (CI),
where a missing slicer-core is an error.
"""

import importlib.util
import os

import pytest

from AISCommonLib.synthetic import tinycases

SLICER_CORE_MISSING = importlib.util.find_spec("slicer") is None or importlib.util.find_spec("vtk") is None
if SLICER_CORE_MISSING and not os.environ.get("AIS_REQUIRE_SLICER_CORE"):
    # Not collected at all: the test modules import slicer at top level.
    collect_ignore_glob = ["test_*.py"]


def pytest_report_header(config):
    if SLICER_CORE_MISSING and not os.environ.get("AIS_REQUIRE_SLICER_CORE"):
        return "Testing/mrml skipped: slicer-core is not installed (pip install -e '.[mrml]')."
    return None


@pytest.fixture
def writeCase():
    """``tinycases.writeSimpleCase``."""
    return tinycases.writeSimpleCase


@pytest.fixture
def makeAffine():
    """``tinycases.rotationAffine``."""
    return tinycases.rotationAffine


@pytest.fixture(scope="session")
def converterRules():
    """Register the segmentation converter rules once, only if the process has none."""
    from AISCommonLib.mrml.headless import registerSegmentationConverterRules

    registerSegmentationConverterRules()
    return True


@pytest.fixture
def headlessApp(converterRules):
    """A fresh scene with the logics Slicer's application would provide."""
    from AISCommonLib.mrml.headless import createHeadlessApplication

    return createHeadlessApplication()


def loadSimpleCase(root):
    from AISCommonLib.core.cases import discoverCases
    from AISCommonLib.core.sequences import loadCase

    return loadCase(discoverCases(root)[0])


@pytest.fixture
def loadFirstCase():
    """A function loading the first case of a BIDS root (``LoadedCase``)."""
    return loadSimpleCase


@pytest.fixture
def simpleCaseNodes(simpleDataset, headlessApp):
    """``(app, caseNodes, caseInfo)`` for the simple synthetic case loaded into a fresh scene."""
    from AISCommonLib.mrml.caseloader import addCaseToScene

    root, info = simpleDataset
    return headlessApp, addCaseToScene(headlessApp.scene, loadSimpleCase(root)), info


@pytest.fixture
def readingLayout(simpleCaseNodes):
    """The 4x3 multiplanar layout with every sequence shown: ``(app, caseNodes, caseInfo)``."""
    from AISCommonLib.mrml import layouts

    app, caseNodes, info = simpleCaseNodes
    layouts.setLayout(app.layoutNode, layouts.LAYOUT_4X3_MULTIPLANAR)
    app.updateSliceLogics()
    layouts.showSequences(app.applicationLogic, layouts.LAYOUT_4X3_MULTIPLANAR, caseNodes.volumeNodes)
    return app, caseNodes, info
