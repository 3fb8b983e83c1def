"""Shared fixtures; tiny cases come from ``AISCommonLib.synthetic.tinycases``, file writers from ``testfiles.py``."""

import pytest

from AISCommonLib.synthetic.tinycases import writeSimpleCase


@pytest.fixture
def simpleDataset(tmp_path):
    """A one-case standard-BIDS dataset; returns ``(root, caseInfo)``."""
    root = tmp_path / "bids"
    return root, writeSimpleCase(root)


@pytest.fixture(scope="session")
def demoDataset(tmp_path_factory):
    """The phantom demo dataset, generated once per test session: ``(root, {caseId: PhantomCase})``."""
    from AISCommonLib.synthetic.scenarios import makeDemoDataset

    root = tmp_path_factory.mktemp("demo") / "bids"
    return root, {case.caseId: case for case in makeDemoDataset(root)}
