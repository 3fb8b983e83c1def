"""`ais demo`: runs every step on the phantoms and reports numbers that the files on disk confirm."""

import json

import numpy as np
import pytest

from AISCommonLib.cli.main import main
from AISCommonLib.core.errors import InputError
from AISCommonLib.core.image import loadVolume
from AISCommonLib.synthetic.demo import DEMO_MARKER, prepareOutputFolder


def maskDice(path, truth):
    mask = loadVolume(path).array > 0
    total = mask.sum() + truth.sum()
    return 1.0 if total == 0 else 2 * (mask & truth).sum() / total


def test_demo_runs_every_step_and_its_numbers_match_the_files(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Seed vs truth: mean Dice" in printed and "Final vs truth" in printed and str(out / "bids") in printed
    summary = json.loads((out / "demo-summary.json").read_text())
    assert len(summary["cases"]) == 10 and summary["validation"]["errors"] == 0
    assert summary["verifyProblems"] == [] and summary["verifiedFiles"] > 40
    assert {row["route"] for row in summary["cases"]} == {"confirm", "adjudicate", "arbitration", "excluded"}
    lesions = out / "bids" / "derivatives" / "lesions"
    truths = out / "bids" / "derivatives" / "phantom-truth"
    for row in summary["cases"]:
        subject, session = row["caseId"].split("_")
        folder = lesions / subject / session
        truth = loadVolume(truths / subject / session / f"{row['caseId']}_desc-truth_dwi_lesionmask.nii.gz").array > 0
        if row["route"] == "excluded":
            assert not folder.exists() or not list(folder.glob("*_lesionmask.nii.gz"))
            continue
        assert row["seedDice"] == pytest.approx(maskDice(folder / f"{row['caseId']}_desc-R01_dwi_lesionmask.nii.gz", truth), abs=1e-3)
        assert row["finalDice"] == pytest.approx(maskDice(folder / f"{row['caseId']}_dwi_lesionmask.nii.gz", truth), abs=1e-3)
        for name in ("desc-R01v2", "desc-R02", "desc-R02v2"):
            assert (folder / f"{row['caseId']}_{name}_dwi_lesionmask.nii.gz").is_file()
    seeded = [row["seedDice"] for row in summary["cases"] if row["truthMl"] > 0 and row["seedDice"] is not None]
    assert summary["meanSeedDice"] == pytest.approx(np.mean(seeded), abs=1e-3)
    assert summary["meanFinalDice"] > summary["meanSeedDice"]  # review recovers what the seed leaves to the readers
    assert (out / "workflow-export" / "workflow.json").is_file()
    report = (out / "report.html").read_text()
    assert "Bland-Altman" in report and "data:image/png;base64," in report
    # The one ISLES-style flat case is not valid BIDS: the official validator blocks acceptance on it alone.
    assert not summary["report"]["accepted"] and summary["report"]["failedSections"] == ["Format and naming"]
    assert "bids-validator:NOT_INCLUDED" in report and "sub-strokecase0008_ses-0001_flair.nii.gz" in report


def test_output_folder_is_replaced_only_when_the_demo_made_it(tmp_path):
    mine = prepareOutputFolder(tmp_path / "demo")
    (mine / "old-result.txt").write_text("x")
    prepareOutputFolder(mine)
    assert sorted(path.name for path in mine.iterdir()) == [DEMO_MARKER]
    foreign = tmp_path / "thesis"
    foreign.mkdir()
    (foreign / "chapter1.tex").write_text("precious")
    with pytest.raises(InputError, match="not made by 'ais demo'"):
        prepareOutputFolder(foreign)
    assert (foreign / "chapter1.tex").read_text() == "precious"
