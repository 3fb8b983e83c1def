"""Issue 14 A8: a saved scene never holds the workflow database's URL or password.

The modules used to keep the URL in their parameter nodes, which are saved with the scene. Now the URL lives in
the user's settings and the password in the keyring (``AISCommonLib.connection``); the store gets the password
only when it connects. These tests run a reader's and a reviewer's session with a password-carrying URL, put
everything the modules put into the scene, save the scene and read the file.
"""

import ast
import os
from pathlib import Path

import pytest
import reviewdata

if not os.environ.get("AIS_REQUIRE_SLICER_CORE"):
    pytest.importorskip("slicer", reason="slicer-core is not installed")

import slicer  # noqa: E402

from AISAnnotatorLib import readerwork  # noqa: E402
from AISAnnotatorLib.mrml import readingcase  # noqa: E402
from AISCommonLib import connection  # noqa: E402
from AISCommonLib.core.sequences import loadCase  # noqa: E402
from AISCommonLib.synthetic import tinycases  # noqa: E402
from AISCommonLib.workflow.store import openStore  # noqa: E402
from AISReviewLib.mrml import reviewsession  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "pa55-Secret-A8"
URL = f"postgresql+psycopg://reviewer7:{PASSWORD}@team-db.invalid:5432/stroke"


def wrapperFields(module: str) -> list[str]:
    """The fields of the module's ``@parameterNodeWrapper`` class: everything the module saves with the scene."""
    tree = ast.parse((ROOT / module / f"{module}.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and any(getattr(decorator, "id", "") == "parameterNodeWrapper" for decorator in node.decorator_list):
            return [item.target.id for item in node.body if isinstance(item, ast.AnnAssign)]
    raise AssertionError(f"{module} has no parameter node wrapper")


def parameterNodeOf(scene, module: str, values: dict):
    """What the module's parameter node holds, written the way the wrapper writes it (one string per field)."""
    node = slicer.vtkMRMLScriptedModuleNode()
    node.SetAttribute("ModuleName", module)
    scene.AddNode(node)
    for field in wrapperFields(module):
        node.SetParameter(field, str(values.get(field, "")))
    return node


def savedScene(scene, path: Path) -> str:
    scene.SetURL(str(path))
    assert scene.Commit()
    return path.read_text(encoding="utf-8", errors="replace")


class SecretOpener:
    """Opens the dataset's own SQLite store, after checking the store was given the URL with its password."""

    def __init__(self):
        self.urls = []

    def __call__(self, database, datasetRoot, create=False):
        self.urls.append(database)
        return openStore(None, datasetRoot, create=create)


@pytest.mark.parametrize("module", ["AISAnnotator", "AISReview"])
def test_no_parameter_node_field_names_a_database(module):
    assert not [field for field in wrapperFields(module) if any(word in field.lower() for word in ("database", "url", "password", "secret"))]


def test_a_saved_scene_holds_no_database_password(tmp_path, headlessApp, monkeypatch):
    root = tmp_path / "bids"
    truth = None
    for subject in ("01", "02", "03"):
        truth = tinycases.writeSimpleCase(root, subject, "01")["truth"]
    with openStore(None, root, create=True) as store:
        tinycases.initialiseTeam(store, root)
        readA, readB = reviewdata.twoReads(truth)
        for reader, read in (("R01", readA), ("R02", readB)):
            for _ in range(2):  # cases 01 and 02 get both reads; 03 is left for the reader below
                claim = store.claimNext(reader, "reader")
                store.submitRead(reader, claim["case_id"], read)
    database = connection.DatabaseSettings(connection.MemorySettings(), connection.MemoryKeyring())
    database.remember(URL)
    scene = headlessApp.scene
    opener = SecretOpener()

    # The reader: claims a case through the store, has it on screen.
    monkeypatch.setattr(readerwork, "openStore", opener)
    reader = readerwork.ReaderWork()
    claim, case = reader.claimNext("R01", database.connectionUrl(), str(root))
    reading = readingcase.ReadingCase.addToScene(scene, loadCase(case))
    parameterNodeOf(scene, "AISAnnotator", {"datasetRoot": root, "readerId": "R01", "caseId": reading.caseId})
    # The reviewer: a case with both reads, regions and the final segment.
    review = reviewsession.ReviewWork(scene, openStore=opener)
    session = review.claimAndLoad(database.connectionUrl(), root, "V01", "reviewer")
    review.decide(session.review.regionIds[0], "keep", "DWI-bright")
    parameterNodeOf(scene, "AISReview", {"datasetRoot": root, "userId": "V01", "role": "reviewer"})

    assert opener.urls and all(PASSWORD in url for url in opener.urls), "the store must still get the password"
    text = savedScene(scene, tmp_path / "scene.mrml")
    assert "ScriptedModule" in text and "lesion" in text.lower(), "the scene was saved with the modules' nodes"
    assert PASSWORD not in text and "team-db.invalid" not in text
    review.close()
    reader.close()


def test_the_check_finds_a_password_in_a_parameter_node(tmp_path, headlessApp):
    """The control: what the modules did before (the URL as a parameter) puts the password into the file."""
    node = parameterNodeOf(headlessApp.scene, "AISReview", {})
    node.SetParameter("databaseUrl", URL)
    assert PASSWORD in savedScene(headlessApp.scene, tmp_path / "old.mrml")
