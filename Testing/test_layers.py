"""Import directions between the layers (STYLE section 1), read from the source with ``ast``.

``core`` imports nothing above it; ``workflow`` and ``dicomimport`` import core only; ``mrml`` imports core;
``report`` and ``synthetic`` sit on those; ``cli`` and the module files are on top. A module's own Lib never
imports the other module's Lib, and the shared library never imports either.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COMMON = ROOT / "AISCommon" / "AISCommonLib"
MODULE_LIBS = {"AISAnnotatorLib": ROOT / "AISAnnotator" / "AISAnnotatorLib", "AISReviewLib": ROOT / "AISReview" / "AISReviewLib"}
#: Packages of AISCommonLib each package may import (itself included); the root holds only the version.
ALLOWED = {
    "core": {"core"},
    "workflow": {"core", "workflow"},
    "dicomimport": {"core", "dicomimport"},
    "mrml": {"core", "mrml"},
    "report": {"core", "workflow", "mrml", "report"},
    "synthetic": {"core", "workflow", "report", "synthetic"},
    "cli": {"core", "workflow", "dicomimport", "mrml", "report", "synthetic", "cli"},
}
#: Top-level files of AISCommonLib that are not a layer: Slicer-side helpers for the module files.
ROOT_FILES = {"__init__.py", "connection.py", "dependencies.py", "progresslines.py", "reloading.py", "uifile.py"}
#: Application-level names of ``slicer`` that do not exist in ``slicer-core`` (STYLE section 1).
MRML_FORBIDDEN_SLICER_NAMES = {"app", "mrmlScene", "modules", "ScriptedLoadableModule", "parameterNodeWrapper", "i18n", "packaging"}
SLICER_AND_QT = {"slicer", "vtk", "vtkmodules", "qt", "ctk", "PythonQt", "sitkUtils"}
QT_ONLY = {"qt", "ctk", "PythonQt"}
HEAVY = {"numpy", "SimpleITK", "nibabel", "slicer", "vtk", "qt", "ctk", "scipy", "sqlalchemy"}


def pythonFiles(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*.py") if "__pycache__" not in path.parts)


def packageOf(path: Path) -> str:
    """Dotted package a file belongs to, from the folder that holds its top-level package."""
    for top in [COMMON, *MODULE_LIBS.values()]:
        if top in path.parents or path.parent == top:
            return ".".join((top.name, *path.parent.relative_to(top).parts))
    raise ValueError(path)


def importedModules(path: Path) -> list[tuple[int, str]]:
    """``(line, absolute module name)`` of every import in a file, relative imports resolved."""
    package = packageOf(path)
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module
            found.append((node.lineno, name))
            found.extend((node.lineno, f"{name}.{alias.name}") for alias in node.names)
    return found


def slicerAttributes(path: Path) -> list[tuple[int, str]]:
    """``(line, name)`` of every ``slicer.<name>`` attribute used in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [
        (node.lineno, node.attr)
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "slicer"
    ]


def layerOf(path: Path) -> str | None:
    """The AISCommonLib package (or a module Lib's ``core``/``mrml``) a file belongs to; None for root helpers."""
    for top in [COMMON, *MODULE_LIBS.values()]:
        if top in path.parents:
            parts = path.relative_to(top).parts
            return parts[0] if len(parts) > 1 else None
    return None


def commonLayerImported(name: str) -> str | None:
    """The AISCommonLib package an imported name points into, '' for the root package, None outside."""
    parts = name.split(".")
    if parts[0] != "AISCommonLib":
        return None
    return parts[1] if len(parts) > 1 and parts[1] in ALLOWED else ""


def allLibFiles() -> list[Path]:
    return pythonFiles(COMMON) + [path for folder in MODULE_LIBS.values() for path in pythonFiles(folder)]


def test_checker_resolves_relative_imports():
    """The guards below are only as good as this resolution."""
    names = {name for _, name in importedModules(COMMON / "core" / "image.py")}
    assert {"AISCommonLib.core.errors", "AISCommonLib.core.errors.InputError", "numpy"} <= names
    names = {name for _, name in importedModules(COMMON / "core" / "derivatives.py")}
    assert "AISCommonLib" in names  # "from .. import __version__"
    assert layerOf(COMMON / "workflow" / "store.py") == "workflow"
    assert layerOf(COMMON / "uifile.py") is None


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_common_layers_import_only_downwards(layer):
    files = pythonFiles(COMMON / layer)
    assert files, f"AISCommonLib/{layer} is empty"
    offenders = []
    for path in files:
        for line, name in importedModules(path):
            target = commonLayerImported(name)
            if target and target not in ALLOWED[layer]:
                offenders.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
            if name.split(".")[0] in MODULE_LIBS or name.split(".")[0] in {"AISAnnotator", "AISReview"}:
                offenders.append(f"{path.relative_to(ROOT)}:{line} imports a module's own library ({name})")
    assert offenders == []


def test_root_helpers_import_no_layer():
    for name in ROOT_FILES:
        assert [module for _, module in importedModules(COMMON / name) if commonLayerImported(module)] == [], name


def test_core_imports_no_slicer_vtk_qt_or_database():
    files = [path for path in allLibFiles() if layerOf(path) == "core"]
    assert len(files) > 10
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in files
        for line, name in importedModules(path)
        if name.split(".")[0] in SLICER_AND_QT | {"sqlalchemy", "psycopg"}
    ]
    assert offenders == []


def test_only_mrml_and_cli_reach_slicer_and_vtk():
    """workflow, report, dicomimport and synthetic stay importable without slicer-core (the report loads mrml lazily)."""
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in allLibFiles()
        if layerOf(path) in {"workflow", "dicomimport", "report", "synthetic"}
        for line, name in importedModules(path)
        if name.split(".")[0] in SLICER_AND_QT
    ]
    assert offenders == []


def test_mrml_uses_no_application_layer():
    files = [path for path in allLibFiles() if layerOf(path) == "mrml"]
    assert len(files) > 5
    offenders = []
    for path in files:
        for line, name in importedModules(path):
            parts = name.split(".")
            if parts[0] in QT_ONLY or (parts[0] == "slicer" and len(parts) > 1 and parts[1] in MRML_FORBIDDEN_SLICER_NAMES):
                offenders.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
        offenders.extend(
            f"{path.relative_to(ROOT)}:{line} uses slicer.{name}" for line, name in slicerAttributes(path) if name in MRML_FORBIDDEN_SLICER_NAMES
        )
    assert offenders == []


@pytest.mark.parametrize("own, other", [("AISAnnotatorLib", "AISReviewLib"), ("AISReviewLib", "AISAnnotatorLib")])
def test_module_libs_never_import_each_other(own, other):
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in pythonFiles(MODULE_LIBS[own])
        for line, name in importedModules(path)
        if name.split(".")[0] == other
    ]
    assert offenders == []


def test_only_gui_packages_of_module_libs_use_qt():
    """A module's own Lib keeps Qt (and Slicer's translation) in its ``gui`` package; the rest runs on slicer-core."""
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for folder in MODULE_LIBS.values()
        for path in pythonFiles(folder)
        if layerOf(path) != "gui"
        for line, name in importedModules(path)
        if name.split(".")[0] in QT_ONLY or name.startswith(("slicer.i18n", "slicer.util", "slicer.ScriptedLoadableModule"))
    ]
    assert offenders == []


def test_module_libs_use_no_command_line_code():
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for folder in MODULE_LIBS.values()
        for path in pythonFiles(folder)
        for line, name in importedModules(path)
        if commonLayerImported(name) == "cli"
    ]
    assert offenders == []


def test_package_inits_import_nothing_heavy():
    for path in allLibFiles():
        if path.name == "__init__.py":
            names = {name.split(".")[0] for _, name in importedModules(path)}
            assert not names & HEAVY, f"{path.relative_to(ROOT)} imports {sorted(names & HEAVY)}"


def test_no_library_file_over_a_thousand_lines():
    files = allLibFiles() + [ROOT / module / f"{module}.py" for module in ("AISCommon", "AISAnnotator", "AISReview")]
    long = {str(path.relative_to(ROOT)): count for path in files if (count := len(path.read_text(encoding="utf-8").splitlines())) > 1000}
    assert long == {}
