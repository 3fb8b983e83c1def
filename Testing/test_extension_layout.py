"""Static guards on the extension: CMake lists, .ui files, module files and layer imports.

Nothing here imports Slicer or the module files (they import Qt); the module files are read with ``ast``.
These catch what otherwise only shows once the extension is built and run in Slicer: a Lib file missing
from CMake, a ``self.ui`` name or parameter binding that does not exist. Import directions are in ``test_layers.py``.
"""

import ast
import re
import struct
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODULES = ("AISAnnotator", "AISReview")
#: Every scripted module of the extension, the hidden library module included.
ALL_MODULES = ("AISCommon",) + MODULES
#: Packages 3D Slicer ships (scipy: Slicer SuperBuild python-scipy); everything else the library needs goes through ``pip_ensure``.
SLICER_BUNDLED = {"numpy", "scipy", "simpleitk"}
TEMPLATE_LEFTOVERS = (
    "TemplateKey",
    "Edit this",
    "John Doe",
    "AnyWare",
    "Firstname Lastname",
    "thresholdedVolume",
    "invertedVolume",
    "imageThreshold",
    "invertThreshold",
    "registerSampleData",
    "SampleData",
    "example.com",
    "This is an example",
    "was originally developed by",
    "NIH grant",
    "TODO",
)
#: objectName endings by widget class (STYLE section 5); classes not listed only need camelCase.
NAME_SUFFIXES = {
    "QPushButton": ("Button",),
    "ctkCollapsibleButton": ("CollapsibleButton",),
    "QLabel": ("Label",),
    "QDoubleSpinBox": ("SpinBox",),
    "QSpinBox": ("SpinBox",),
    "ctkDoubleSpinBox": ("SpinBox",),
    "ctkSliderWidget": ("SliderWidget", "Slider"),
    "QCheckBox": ("CheckBox",),
    "QComboBox": ("ComboBox", "Selector"),
    "qMRMLNodeComboBox": ("Selector", "ComboBox"),
    "ctkPathLineEdit": ("PathLineEdit",),
    "QLineEdit": ("LineEdit",),
    "QListWidget": ("ListWidget",),
    "QTableWidget": ("TableWidget",),
    "QPlainTextEdit": ("PlainTextEdit", "TextEdit"),
    "QTextEdit": ("TextEdit",),
}
#: Widgets a user edits or clicks: each needs a tooltip.
INPUT_CLASSES = {
    "QPushButton",
    "QDoubleSpinBox",
    "QSpinBox",
    "ctkDoubleSpinBox",
    "ctkSliderWidget",
    "QCheckBox",
    "QComboBox",
    "qMRMLNodeComboBox",
    "ctkPathLineEdit",
    "QLineEdit",
    "QListWidget",
    "QTableWidget",
    "QPlainTextEdit",
    "QTextEdit",
}


def modulePath(module: str) -> Path:
    return ROOT / module / f"{module}.py"


def uiPath(module: str) -> Path:
    return ROOT / module / "Resources" / "UI" / f"{module}.ui"


def libPath(module: str) -> Path:
    return ROOT / module / f"{module}Lib"


def parseModule(module: str) -> ast.Module:
    return ast.parse(modulePath(module).read_text(encoding="utf-8"), filename=str(modulePath(module)))


def uiWidgets(module: str) -> list[ElementTree.Element]:
    return list(ElementTree.parse(uiPath(module)).getroot().iter("widget"))


def widgetProperty(widget: ElementTree.Element, name: str) -> ElementTree.Element | None:
    for child in widget.findall("property"):
        if child.get("name") == name:
            return child
    return None


def parameterNames(module: str) -> list[str]:
    """Values of the ``SlicerParameterName`` dynamic property in the module's .ui."""
    from AISCommonLib.uifile import parameterNamesInUi

    return parameterNamesInUi(uiPath(module))


def parameterNodeFields(tree: ast.Module) -> dict[str, set[str]]:
    """Annotated fields of every class decorated with ``@parameterNodeWrapper``."""
    wrappers = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            decorators = {
                decorator.id if isinstance(decorator, ast.Name) else getattr(decorator, "attr", "") for decorator in node.decorator_list
            }
            if "parameterNodeWrapper" in decorators:
                wrappers[node.name] = {
                    item.target.id for item in node.body if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
                }
    return wrappers


def cmakeList(text: str, variable: str, moduleName: str) -> list[str]:
    """Entries of ``set(<variable> ...)`` in a CMake file, with ``${MODULE_NAME}`` expanded."""
    match = re.search(r"set\(\s*" + re.escape(variable) + r"\s+(.*?)\)", text, re.DOTALL)
    assert match, f"set({variable} ...) not found"
    body = "\n".join(line.split("#", 1)[0] for line in match.group(1).splitlines())
    return [entry.replace("${MODULE_NAME}", moduleName) for entry in body.split()]


def pythonFiles(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*.py") if "__pycache__" not in path.parts)


# ---------------------------------------------------------------------------------------------------
# .ui files


@pytest.mark.parametrize("module", MODULES)
def test_ui_parses_with_qmrmlwidget_top(module):
    root = ElementTree.parse(uiPath(module)).getroot()
    top = root.find("widget")
    assert root.findtext("class") == module
    assert top.get("class") == "qMRMLWidget"
    assert top.get("name") == module


@pytest.mark.parametrize("module", MODULES)
def test_ui_names_used_by_module_exist(module):
    names = {widget.get("name") for widget in uiWidgets(module)}
    used = {
        node.attr
        for node in ast.walk(parseModule(module))
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "ui"
        and isinstance(node.value.value, ast.Name)
        and node.value.value.id == "self"
    }
    assert used, "the widget uses no self.ui names"
    assert used <= names, f"self.ui names missing from {uiPath(module).name}: {sorted(used - names)}"


@pytest.mark.parametrize("module", MODULES)
def test_ui_parameter_names_are_parameter_node_fields(module):
    wrappers = parameterNodeFields(parseModule(module))
    assert list(wrappers) == [f"{module}ParameterNode"]
    fields = wrappers[f"{module}ParameterNode"]
    names = parameterNames(module)
    assert names, "no SlicerParameterName binding in the .ui"
    assert len(names) == len(set(names)), "a parameter is bound to two widgets"
    assert set(names) <= fields, f"bindings without a parameter node field: {sorted(set(names) - fields)}"


@pytest.mark.parametrize("module", MODULES)
def test_ui_conventions(module):
    """objectNames camelCase with the widget-type suffix, tooltips on inputs, actions start disabled."""
    widgets = uiWidgets(module)[1:]
    for widget in widgets:
        name, widgetClass = widget.get("name"), widget.get("class")
        assert re.fullmatch(r"[a-z][A-Za-z0-9]*", name), f"{name} is not camelCase"
        if widgetClass in NAME_SUFFIXES:
            assert name.endswith(NAME_SUFFIXES[widgetClass]), f"{name} ({widgetClass}) should end with {NAME_SUFFIXES[widgetClass]}"
        if widgetClass in INPUT_CLASSES:
            assert widgetProperty(widget, "toolTip") is not None, f"{name} has no tooltip"
        if widgetClass == "QPushButton":
            enabled = widgetProperty(widget, "enabled")
            assert enabled is not None and enabled.findtext("bool") == "false", f"action button {name} must start disabled"


@pytest.mark.parametrize("module", MODULES)
def test_ui_mrml_widgets_receive_the_scene(module):
    root = ElementTree.parse(uiPath(module)).getroot()
    mrmlWidgets = {widget.get("name") for widget in uiWidgets(module)[1:] if widget.get("class").startswith("qMRML")}
    connected = {
        connection.findtext("receiver")
        for connection in root.iter("connection")
        if connection.findtext("sender") == module
        and connection.findtext("signal") == "mrmlSceneChanged(vtkMRMLScene*)"
        and connection.findtext("slot") == "setMRMLScene(vtkMRMLScene*)"
    }
    assert mrmlWidgets <= connected, f"MRML widgets without the scene: {sorted(mrmlWidgets - connected)}"


# ---------------------------------------------------------------------------------------------------
# CMake


@pytest.mark.parametrize("module", ALL_MODULES)
def test_cmake_lists_every_lib_file(module):
    text = (ROOT / module / "CMakeLists.txt").read_text(encoding="utf-8")
    listed = cmakeList(text, "MODULE_PYTHON_SCRIPTS", module)
    onDisk = [path.relative_to(ROOT / module).as_posix() for path in pythonFiles(libPath(module))]
    assert f"{module}.py" in listed
    assert len(listed) == len(set(listed)), "a script is listed twice"
    assert sorted(set(onDisk) - set(listed)) == [], "Lib files missing from MODULE_PYTHON_SCRIPTS"
    assert [entry for entry in listed if not (ROOT / module / entry).is_file()] == [], "listed scripts that do not exist"


@pytest.mark.parametrize("module", MODULES)
def test_cmake_resources_exist_and_carry_module_name(module):
    text = (ROOT / module / "CMakeLists.txt").read_text(encoding="utf-8")
    resources = cmakeList(text, "MODULE_PYTHON_RESOURCES", module)
    assert f"Resources/Icons/{module}.png" in resources
    assert f"Resources/UI/{module}.ui" in resources
    for resource in resources:
        assert (ROOT / module / resource).is_file(), resource
        assert Path(resource).stem.startswith(module), f"{resource}: resources of all modules install into one folder"
    assert f"set(MODULE_NAME {module})" in text
    assert "WITH_GENERIC_TESTS" in text
    assert re.search(r"if\(BUILD_TESTING\)\s*(#[^\n]*\n\s*)*slicer_add_python_unittest\(SCRIPT \$\{MODULE_NAME\}\.py\)", text)


def test_root_cmake_follows_extension_template():
    text = (ROOT / "CMakeLists.txt").read_text(encoding="utf-8")
    order = [
        "cmake_minimum_required(",
        "project(AISAnnotation)",
        "set(EXTENSION_HOMEPAGE",
        "find_package(Slicer REQUIRED)",
        "include(${Slicer_USE_FILE})",
        "add_subdirectory(AISAnnotator)",
        "add_subdirectory(AISReview)",
        "include(${Slicer_EXTENSION_GENERATE_CONFIG})",
        "include(${Slicer_EXTENSION_CPACK})",
    ]
    positions = [text.find(item) for item in order]
    assert -1 not in positions, [item for item, position in zip(order, positions) if position == -1]
    assert positions == sorted(positions)
    for variable in ("CATEGORY", "CONTRIBUTORS", "DESCRIPTION", "ICONURL", "SCREENSHOTURLS", "DEPENDS"):
        assert f"set(EXTENSION_{variable} " in text
    assert 'set(EXTENSION_CATEGORY "Segmentation")' in text
    iconUrl = re.search(r'set\(EXTENSION_ICONURL "([^"]+)"\)', text).group(1)
    assert (ROOT / iconUrl.split("/main/", 1)[1]).is_file(), "EXTENSION_ICONURL points at a file the repository does not have"


def test_extension_metadata_is_filled_in():
    """Issue 14 A10: every Extensions Index field has a real value; the only placeholders are the project address
    (the repository is not public yet) and the contributors' names, both marked and kept equal to the modules'."""
    import AISCommonLib

    text = (ROOT / "CMakeLists.txt").read_text(encoding="utf-8")

    def value(variable):
        return re.search(r"set\(" + variable + r' "([^"]*)"\)', text).group(1)

    assert value("AIS_PROJECT_URL") == AISCommonLib.PROJECT_URL
    assert value("EXTENSION_CONTRIBUTORS") == ", ".join(AISCommonLib.CONTRIBUTORS)
    assert value("EXTENSION_HOMEPAGE").startswith("${AIS_PROJECT_URL}")
    assert len(value("EXTENSION_DESCRIPTION").split()) > 25
    screenshots = value("EXTENSION_SCREENSHOTURLS").split()
    assert len(screenshots) >= 2
    for url in screenshots:
        path = ROOT / url.split("/main/", 1)[1]
        assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size < 300_000, url
    placeholders = [line for line in text.splitlines() if "PLACEHOLDER" in line and not line.lstrip().startswith("#")]
    assert len(placeholders) == 2, placeholders
    assert value("EXTENSION_DEPENDS") == "NA"


@pytest.mark.parametrize(
    "icon",
    ["AISAnnotator/Resources/Icons/AISAnnotator.png", "AISReview/Resources/Icons/AISReview.png", "Resources/Icons/AISAnnotation.png"],
)
def test_icons_are_small_128_pixel_pngs(icon):
    data = (ROOT / icon).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (128, 128)
    assert len(data) < 50_000


# ---------------------------------------------------------------------------------------------------
# Runtime requirements


def test_runtime_requirements_match_pyproject():
    tree = ast.parse((libPath("AISCommon") / "__init__.py").read_text(encoding="utf-8"))
    values = [
        node.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and any(isinstance(target, ast.Name) and target.id == "RUNTIME_REQUIREMENTS" for target in node.targets)
    ]
    assert len(values) == 1, "RUNTIME_REQUIREMENTS must be assigned once in AISCommonLib/__init__.py"
    assert isinstance(values[0], ast.List), "pip_ensure rejects tuples: RUNTIME_REQUIREMENTS must be a list"
    runtime = ast.literal_eval(values[0])

    tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11+ (the test environment has it)")
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]

    def distribution(requirement: str) -> str:
        return re.match(r"[A-Za-z0-9._-]+", requirement).group(0).lower().replace("_", "-")

    expected = [requirement for requirement in dependencies if distribution(requirement) not in SLICER_BUNDLED]
    assert runtime == expected
    assert "nibabel" in [distribution(requirement) for requirement in runtime]


# ---------------------------------------------------------------------------------------------------
# Module files


@pytest.mark.parametrize("module", MODULES)
def test_module_file_compiles(module):
    source = modulePath(module).read_text(encoding="utf-8")
    assert compile(source, str(modulePath(module)), "exec") is not None


@pytest.mark.parametrize("module", MODULES)
def test_no_template_leftovers(module):
    for path in (modulePath(module), uiPath(module), ROOT / module / "CMakeLists.txt", ROOT / "CMakeLists.txt"):
        text = path.read_text(encoding="utf-8")
        found = [leftover for leftover in TEMPLATE_LEFTOVERS if leftover in text]
        assert found == [], f"{path.relative_to(ROOT)} still has template text {found}"


@pytest.mark.parametrize("module", MODULES)
def test_module_file_sections_in_order(module):
    """Module class, parameter node wrapper, Widget, Logic, Test, each after its banner comment."""
    expected = [module, f"{module}ParameterNode", f"{module}Widget", f"{module}Logic", f"{module}Test"]
    tree = parseModule(module)
    classes = [node.name for node in tree.body if isinstance(node, ast.ClassDef) and node.name in expected]
    assert classes == expected
    lines = modulePath(module).read_text(encoding="utf-8").splitlines()
    for name in expected:
        banner = ["#", f"# {name}", "#"]
        assert any(lines[index : index + 3] == banner for index in range(len(lines) - 2)), f"no banner comment for {name}"


def test_library_module_is_hidden():
    tree = parseModule("AISCommon")
    hidden = [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and any(isinstance(target, ast.Attribute) and target.attr == "hidden" for target in node.targets)
    ]
    assert [ast.literal_eval(value) for value in hidden] == [True]


def _returnedText(module: str, libModule: str, function: str) -> ast.expr:
    """What a text function of the module's ``gui`` package returns (the help may live there, e.g. ``messages.helpText()``)."""
    path = modulePath(module).parent / f"{module}Lib" / "gui" / f"{libModule}.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    definition = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == function)
    return next(node.value for node in ast.walk(definition) if isinstance(node, ast.Return))


@pytest.mark.parametrize("module, dependencies", [
    ("AISCommon", ["Volumes", "Segmentations", "Markups"]),
    ("AISAnnotator", ["AISCommon", "Segmentations", "SegmentEditor", "Markups"]),
    ("AISReview", ["AISCommon", "Segmentations", "SegmentEditor"]),
])
def test_module_metadata(module, dependencies):
    tree = parseModule(module)
    assigned = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Attribute) and target.value.attr == "parent":
                assigned[target.attr] = node.value
    assert ast.literal_eval(assigned["dependencies"]) == dependencies
    category = assigned["categories"].elts[0]
    assert isinstance(category, ast.Call) and category.func.id == "translate"
    assert [ast.literal_eval(argument) for argument in category.args] == ["qSlicerAbstractCoreModule", "Segmentation"]
    for text in ("helpText", "acknowledgementText"):
        call = assigned[text]
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute):
            call = _returnedText(module, call.func.value.id, call.func.attr)
        assert isinstance(call, ast.Call) and call.func.id == "_", f"{text} must be translatable"
        assert len(ast.literal_eval(call.args[0]).split()) > 20, f"{text} is too short to be real"


@pytest.mark.parametrize("module", MODULES)
def test_slots_report_errors(module):
    """Every slot connected to a button runs its work inside tryWithErrorDisplay."""
    tree = parseModule(module)
    widget = next(node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == f"{module}Widget")
    methods = {node.name: node for node in widget.body if isinstance(node, ast.FunctionDef)}
    slots = {
        call.args[1].attr
        for call in ast.walk(widget)
        if isinstance(call, ast.Call)
        and getattr(call.func, "attr", "") == "connect"
        and len(call.args) == 2
        and isinstance(call.args[0], ast.Constant)
        and call.args[0].value.startswith("clicked")
        and isinstance(call.args[1], ast.Attribute)
    }
    assert slots
    for slot in slots:
        source = ast.unparse(methods[slot])
        if "self._action(_(" in source:
            # The widget's _action wraps tryWithErrorDisplay (and refreshes the actions afterwards).
            source = ast.unparse(methods["_action"])
        assert "slicer.util.tryWithErrorDisplay(" in source and "waitCursor=True" in source, f"{slot} does not use tryWithErrorDisplay"
