"""Issue 14 A4: optional packages are installed the Slicer way (asked, once, at first use), and the modules'
library imports without them."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from AISCommonLib import RUNTIME_REQUIREMENTS, dependencies

ROOT = Path(__file__).resolve().parent.parent
MODULE_FILES = [ROOT / module / f"{module}.py" for module in ("AISCommon", "AISAnnotator", "AISReview")]
#: Packages Slicer does not ship; none may be needed to import the modules.
OPTIONAL = ["sqlalchemy", "psycopg", "psycopg_binary", "nibabel", "keyring", "cryptography", "matplotlib", "scipy", "pydicom",
            "bids_validator_deno", "dcm2niix", "medpy"]


class Recorder:
    """A user who answers ``answers`` in turn, and a pip that makes what it installs importable."""

    def __init__(self, answers, installed=(), pipWorks=True):
        self.answers = list(answers)
        self.installed = set(installed)
        self.pipWorks = pipWorks
        self.questions, self.installs = [], []

    def confirm(self, text, details):
        self.questions.append((text, details))
        return self.answers.pop(0)

    def install(self, requirements):
        self.installs.append(list(requirements))
        if self.pipWorks:
            self.installed.update(requirements)

    def satisfied(self, requirement):
        return requirement in self.installed

    def installer(self):
        return dependencies.DependencyInstaller("AISReview", self.confirm, self.install, self.satisfied)


def test_nothing_missing_asks_nothing():
    user = Recorder([], installed=["SQLAlchemy>=2.0"])
    assert user.installer().ensure(["SQLAlchemy>=2.0"], "The workflow database")
    assert user.questions == [] and user.installs == []


def test_installs_once_after_asking():
    user = Recorder([True])
    installer = user.installer()
    assert installer.ensure(dependencies.workflowRequirements("postgresql+psycopg://reader@db/stroke"), "The workflow database")
    assert user.installs == [["SQLAlchemy>=2.0", "psycopg[binary]>=3.1"]]
    assert "SQLAlchemy, psycopg" in user.questions[0][0] and "cannot run without it" in user.questions[0][0]
    assert installer.ensure(["SQLAlchemy>=2.0"], "The workflow database")
    assert len(user.questions) == 1 and len(user.installs) == 1


def test_a_declined_requirement_stops_the_action_and_is_asked_again():
    user = Recorder([False, True])
    installer = user.installer()
    with pytest.raises(dependencies.DependencyError, match="slicer.util.pip_install"):
        installer.ensure(["SQLAlchemy>=2.0"], "The workflow database")
    assert user.installs == []
    assert installer.ensure(["SQLAlchemy>=2.0"], "The workflow database"), "the user pressed the button again: ask again"


def test_a_declined_optional_package_is_not_asked_again():
    user = Recorder([False])
    installer = user.installer()
    assert installer.ensure(["keyring>=24"], "Keeping the password in the system keyring", optional=True) is False
    assert installer.ensure(["keyring>=24"], "Keeping the password in the system keyring", optional=True) is False
    assert len(user.questions) == 1 and "works without it" in user.questions[0][0]


def test_pip_that_installs_nothing_is_an_error():
    user = Recorder([True], pipWorks=False)
    with pytest.raises(dependencies.DependencyError, match="restart Slicer"):
        user.installer().ensure(["nibabel"], "Reading NIfTI")


def test_installed_versions_are_checked():
    assert dependencies.isSatisfied("numpy") and dependencies.isSatisfied("NumPy>=1.0")
    assert not dependencies.isSatisfied("numpy>=999")
    assert not dependencies.isSatisfied("surely-not-an-installed-package-14")
    assert dependencies.requirementName("psycopg[binary]>=3.1") == "psycopg"


def test_requirement_lists_cover_the_runtime_requirements():
    lists = (dependencies.WORKFLOW_REQUIREMENTS + dependencies.POSTGRESQL_REQUIREMENTS + dependencies.NIFTI_REQUIREMENTS
             + dependencies.COMMAND_LINE_REQUIREMENTS)
    assert sorted(lists) == sorted(RUNTIME_REQUIREMENTS)
    assert dependencies.workflowRequirements("/data/workflow.sqlite") == ["SQLAlchemy>=2.0"]


def test_modules_never_use_pip_ensure():
    """``pip_ensure`` installs nothing under ``--testing``: the modules ask through the installer instead."""
    for path in MODULE_FILES + sorted((ROOT / "AISAnnotator").rglob("*.py")) + sorted((ROOT / "AISReview").rglob("*.py")):
        assert "pip_ensure" not in path.read_text(encoding="utf-8"), path
    for module in ("AISAnnotator", "AISReview"):
        assert "dependencies.slicerInstaller(" in (ROOT / module / f"{module}.py").read_text(encoding="utf-8")


def libraryImportsOfModuleFiles() -> list[str]:
    """Every ``AISCommonLib``/``AISAnnotatorLib``/``AISReviewLib`` module the module files and their Libs import at load time,
    and every Lib module that does not need Slicer's GUI (the ``gui`` packages import Slicer's translation)."""
    files = MODULE_FILES + [path for module in ("AISAnnotator", "AISReview") for path in (ROOT / module).glob(f"{module}Lib/**/*.py")]
    names = set()
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in {"AISCommonLib", "AISAnnotatorLib", "AISReviewLib"}:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
        if "gui" not in path.relative_to(ROOT).parts[1:-1] and path not in MODULE_FILES:
            relative = path.relative_to(ROOT / path.relative_to(ROOT).parts[0]).with_suffix("")
            names.add(".".join(part for part in relative.parts if part != "__init__"))
    return sorted(name for name in names if ".gui" not in name)


def test_the_modules_library_imports_without_optional_packages():
    names = libraryImportsOfModuleFiles()
    assert "AISCommonLib.dependencies" in names and "AISReviewLib.reviewqueue" in names
    script = f"""
import importlib, importlib.abc, sys
sys.path[:0] = {[str(ROOT / folder) for folder in ("AISCommon", "AISAnnotator", "AISReview")]!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in {OPTIONAL!r}:
            raise ImportError("blocked: " + name)
sys.meta_path.insert(0, Block())
for name in {names!r}:
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name == name:   # a class or function imported by name, not a module
            continue
        raise
print("imported", len({names!r}))
"""
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert completed.returncode == 0, completed.stderr
    assert "imported" in completed.stdout
