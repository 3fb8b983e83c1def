"""``ais workflow``: the whole path from the command line, tables and JSON, clean errors."""

import json

import numpy as np
import pytest
from workflow_fixtures import BACKENDS, databaseUrl, makeDataset, readerMasks, rotationAffine, saveNifti

from AISCommonLib.cli.workflow import main


def run(capsys, *arguments):
    code = main(["workflow", *arguments])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("backend", BACKENDS)
def test_workflow_from_the_command_line(backend, tmp_path, capsys, monkeypatch):
    root = makeDataset(tmp_path / "bids", 1)
    if backend == "sqlite":
        monkeypatch.delenv("AIS_DB_URL", raising=False)
        database = ["--root", str(root)]
    else:
        database = ["--db", databaseUrl(backend, tmp_path)]
    code, out, _ = run(capsys, "init", "--user", "M01", "--root", str(root), "--title", "chief", "--years-imaging", "20",
                       "--years-neuroimaging", "12", "--no-training", *database[-2:] if backend != "sqlite" else [])
    assert code == 0 and "Initialised" in out
    for userId, title, role in (("R01", "resident", "reader"), ("R02", "attending", "reader"), ("V01", "chief", "reviewer")):
        assert run(capsys, "users", "--user", "M01", *database, "--add", userId, "--title", title, "--years-imaging", "12",
                   "--years-neuroimaging", "6", "--grant", userId, role)[0] == 0
    code, out, err = run(capsys, "users", "--user", "M01", *database, "--add", "R03", "--title", "resident", "--years-imaging", "2",
                         "--years-neuroimaging", "1", "--grant", "R03", "reader")
    assert code == 2 and "does not meet the reader minimum" in err
    assert run(capsys, "register", "--user", "M01", *database)[1].startswith("Registered 1 case(s)")
    masks = readerMasks(root, "sub-01_ses-01", concordant=False)
    for reader, mask in zip(("R01", "R02"), masks):
        code, out, _ = run(capsys, "next", "--user", reader, *database, "--role", "reader", "--json")
        assert json.loads(out)["case_id"] == "sub-01_ses-01"
        path = saveNifti(mask.transpose(2, 1, 0), rotationAffine(), tmp_path / f"{reader}.nii.gz", np.uint8)
        assert run(capsys, "submit", "--user", reader, *database, "sub-01_ses-01", str(path), "--likert", "all=4")[0] == 0
    code, out, _ = run(capsys, "status", "--user", "M01", *database, "--json")
    assert json.loads(out)["cases"][0]["state"] == "review_adjudicate"
    assert run(capsys, "next", "--user", "V01", *database, "--role", "reviewer")[0] == 0
    code, out, err = run(capsys, "review", "--user", "V01", *database, "sub-01_ses-01")
    assert code == 2 and "decide regions [1]" in err
    code, out, _ = run(capsys, "review", "--user", "V01", *database, "sub-01_ses-01", "--decision", "1=keep", "--note", "real lesion")
    assert code == 0 and "final" in out
    code, out, _ = run(capsys, "log", "--user", "M01", *database, "--case", "sub-01_ses-01")
    assert "review" in out and "compare" in out
    assert run(capsys, "verify", "--user", "M01", *database)[0] == 0
    code, out, _ = run(capsys, "export", "--user", "M01", *database, "--out", str(tmp_path / "export"))
    assert code == 0 and (tmp_path / "export" / "events.csv").is_file()
    code, _, err = run(capsys, "exclude", "--user", "X1", *database, "sub-01_ses-01", "--reason", "tumor")
    assert code == 2 and "not registered" in err and "Traceback" not in err


def test_a_mistyped_sqlite_path_is_an_error_not_a_new_empty_workflow(tmp_path, capsys):
    missing = tmp_path / "typo.sqlite"
    code, _, err = run(capsys, "status", "--db", str(missing), "--user", "M01")
    assert code == 2 and "There is no workflow database" in err and "ais workflow init" in err
    assert not missing.exists()
