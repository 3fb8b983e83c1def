"""`ais clinical import|set|show`: clinical values per case as intervals, dates refused in one sentence, nothing half-written."""

import json

from AISCommonLib.cli.main import main
from AISCommonLib.synthetic.tinycases import writeSimpleCase


def run(capsys, *argv):
    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_clinical_values_from_the_command_line(tmp_path, capsys):
    root = tmp_path / "bids"
    writeSimpleCase(root, "01")
    writeSimpleCase(root, "02")
    code, out, err = run(capsys, "clinical", "set", root, "--participant-label", "01", "--onset-to-imaging-h", "3.25", "--nihss", "11", "--side", "R")
    assert code == 0 and out.strip() == "sub-01_ses-01: onset_to_imaging_h 3.25, nihss 11, stroke_side right.", err
    code, _, err = run(capsys, "clinical", "set", root, "--participant-label", "02", "--onset-to-imaging-h", "2024-05-01 08:00")
    assert code == 2 and "The option, onset_to_imaging_h holds a date or a time of day" in err and "2024" not in err and "Traceback" not in err
    site = tmp_path / "site.csv"
    site.write_text("participant_id,session_id,onset_to_imaging_h,nihss,stroke_side\nsub-02,ses-01,6,3,bilateral\n")
    code, out, _ = run(capsys, "clinical", "import", root, site)
    assert code == 0 and "Imported the clinical values of 1 case(s): sub-02_ses-01." in out
    code, out, _ = run(capsys, "clinical", "show", root)
    assert code == 0 and "2 of 2 case(s) have every clinical value." in out and "bilateral" in out
    code, out, _ = run(capsys, "clinical", "show", root, "--json")
    assert [row["nihss"] for row in json.loads(out)["cases"]] == ["11", "3"]
    code, _, err = run(capsys, "clinical", "set", root, "--participant-label", "01")
    assert code == 2 and "Give at least one" in err
