"""Shared fixtures; tiny cases come from ``AISCommonLib.synthetic.tinycases``, file writers from ``testfiles.py``."""

import os

import pytest

from AISCommonLib.synthetic.tinycases import writeSimpleCase


@pytest.fixture(scope="session", autouse=True)
def _privateUserCache(tmp_path_factory):
    """The report's measure cache (and any other user cache) goes to a temporary folder, never the tester's home."""
    previous = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("usercache"))
    yield
    if previous is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = previous


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
