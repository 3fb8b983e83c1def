"""Issue 14 A8: the workflow database URL lives in the user's settings and its password in the keyring."""

import pytest

from AISCommonLib import connection


class FakeKeyring:
    """The three functions of the ``keyring`` package the modules use, in memory."""

    def __init__(self, fail: bool = False):
        self.passwords = {}
        self.fail = fail

    def set_password(self, service, name, password):
        if self.fail:
            raise RuntimeError("No recommended backend was available")
        self.passwords[(service, name)] = password

    def get_password(self, service, name):
        return self.passwords.get((service, name))

    def delete_password(self, service, name):
        del self.passwords[(service, name)]


URL = "postgresql+psycopg://reader7:s3cr%40t:pw@db.example.org:5433/stroke?sslmode=require"
PASSWORD = "s3cr@t:pw"


def test_split_and_join_keep_everything_but_the_password():
    bare, password = connection.splitPassword(URL)
    assert bare == "postgresql+psycopg://reader7@db.example.org:5433/stroke?sslmode=require"
    assert password == PASSWORD
    assert connection.splitPassword(connection.withPassword(bare, password)) == (bare, PASSWORD)
    assert connection.secretName(URL) == "reader7@db.example.org:5433/stroke"
    for text in ("/data/derivatives/lesions/workflow.sqlite", "postgresql+psycopg://reader7@db/stroke", ""):
        assert connection.splitPassword(text) == (text, None)
    assert connection.withPassword("postgresql+psycopg://db/stroke", "x") == "postgresql+psycopg://db/stroke", "no user, no password"


def test_password_goes_to_the_keyring_and_back():
    settings, keyring = connection.MemorySettings(), FakeKeyring()
    database = connection.DatabaseSettings(settings, keyring)
    url, where, why = database.remember(URL)
    assert (where, why) == (connection.PASSWORD_IN_KEYRING, "")
    assert PASSWORD not in str(settings.values) and "s3cr" not in str(settings.values)
    assert settings.values[connection.SETTINGS_KEY] == url
    assert keyring.passwords == {(connection.KEYRING_SERVICE, "reader7@db.example.org:5433/stroke"): PASSWORD}
    # A new Slicer session: same settings and keyring, nothing in memory.
    again = connection.DatabaseSettings(settings, keyring)
    assert again.url() == url and again.connectionUrl() == connection.withPassword(url, PASSWORD)
    again.forgetPassword()
    assert keyring.passwords == {} and again.connectionUrl() == url


@pytest.mark.parametrize("keyring", [None, FakeKeyring(fail=True)], ids=["not installed", "no backend"])
def test_without_a_keyring_the_password_lasts_one_session(keyring):
    settings = connection.MemorySettings()
    database = connection.DatabaseSettings(settings, keyring)
    url, where, why = database.remember(URL)
    assert where == connection.PASSWORD_IN_SESSION and why
    assert database.connectionUrl() == connection.withPassword(url, PASSWORD)
    assert PASSWORD not in str(settings.values)
    assert connection.DatabaseSettings(settings, keyring).connectionUrl() == url, "a new session has no password"


def test_a_sqlite_file_or_nothing():
    database = connection.DatabaseSettings(connection.MemorySettings(), FakeKeyring())
    assert database.connectionUrl() is None, "nothing chosen: the dataset's own SQLite file"
    assert database.remember(" /data/workflow.sqlite ") == ("/data/workflow.sqlite", None, "")
    assert database.connectionUrl() == "/data/workflow.sqlite"
    database.remember("")
    assert database.connectionUrl() is None


def test_remember_offers_the_keyring_once_for_a_password():
    from AISCommonLib.dependencies import DependencyInstaller

    questions = []
    installer = DependencyInstaller("AISReview", lambda text, details: questions.append(text) or False, lambda requirements: None,
                                    satisfied=lambda requirement: False)
    database = connection.DatabaseSettings(connection.MemorySettings(), None)
    sentence = connection.rememberDatabase(database, URL, installer)
    assert "this Slicer session only" in sentence and PASSWORD not in sentence
    assert len(questions) == 1 and "keyring" in questions[0]
    connection.rememberDatabase(database, URL, installer)
    assert len(questions) == 1, "a declined optional package is not asked for again"
    assert connection.rememberDatabase(database, "/data/workflow.sqlite", installer) == "Database /data/workflow.sqlite remembered in your settings."
    assert len(questions) == 1


def test_the_keyring_extra_is_what_the_modules_install():
    tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11+ (the test environment has it)")
    from pathlib import Path

    project = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["optional-dependencies"]["keyring"] == [connection.KEYRING_REQUIREMENT]
