"""Notes flow: what each reader recorded (quality, artifacts, notes, hints) reaches the reviewer, the arbiter and the
managers beside the region it is about, and the export; never the other reader of the case."""

import csv
import json

import numpy as np
import pytest
from workflow_fixtures import (
    BACKENDS,
    MANAGER,
    readerMasks,
    rotationAffine,
    saveNifti,
    staffedStore,
)

from AISCommonLib.cli.workflow import main
from AISCommonLib.core.image import voxelToRas
from AISCommonLib.core.readrecord import ReadNote, buildReadParameters

CASE = "sub-01_ses-01"
#: The centre of the lesion only R02 drew (see readerMasks), in RAS mm.
EXTRA_LESION_RAS = tuple(voxelToRas(rotationAffine(), np.array([[2.5, 31.0, 29.0]]))[0])


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    with staffedStore(request.param, tmp_path) as workflowStore:
        yield workflowStore


def submitBoth(store, second=True):
    first, other = readerMasks(store.root, CASE, concordant=False)
    store.claimNext("R01", "reader")
    store.submitRead("R01", CASE, first, parameters=buildReadParameters(
        {"dwi": 4, "adc": 4, "flair": 2}, {"motion": True}, [ReadNote("N1", "old infarct in the left occipital lobe?", None)], 310.0))
    store.claimNext("R02", "reader")
    if second:
        store.submitRead("R02", CASE, other, parameters=buildReadParameters(
            {"dwi": 5, "adc": 5, "flair": 5}, {}, [ReadNote("N1", "small cortical lesion, faint on DWI", EXTRA_LESION_RAS)], 200.0))


def test_a_reader_sees_only_their_own_record_and_deciders_see_both_after_both_reads(store):
    submitBoth(store, second=False)
    assert store.readRecords("V01", CASE) == []  # no review yet, and the reads are not both in
    _, other = readerMasks(store.root, CASE, concordant=False)
    store.submitRead("R02", CASE, other, parameters=buildReadParameters({"dwi": 4, "adc": 4, "flair": 4}, {},
                                                                                   [ReadNote("N1", "faint", EXTRA_LESION_RAS)], 12.0))
    for reader in ("R01", "R02"):
        assert [record["reader"] for record in store.readRecords(reader, CASE)] == [reader]  # never the partner's notes
    assert store.readRecords("V02", CASE) == []  # a reviewer who does not review this case
    store.claimNext("V01", "reviewer")
    records = {record["reader"]: record for record in store.readRecords("V01", CASE)}
    assert set(records) == {"R01", "R02"}
    assert records["R01"]["quality"]["likert"]["flair"] == 2 and records["R01"]["quality"]["below_acceptable"] == ["flair"]
    assert records["R01"]["quality"]["artifacts"] == ["motion"] and records["R01"]["notes"][0]["region"] is None
    missed = [region["id"] for region in store.case(CASE)["comparison"]["discordant_regions"] if region["type"] == "missed_lesion"]
    assert [note["region"] for note in records["R02"]["notes"]] == missed  # the note sits in the lesion only R02 drew
    assert {record["reader"] for record in store.readRecords(MANAGER, CASE)} == {"R01", "R02"}


def test_notes_from_the_command_line_reach_the_reviewer_and_the_export(store, capsys, tmp_path):
    masks = readerMasks(store.root, CASE, concordant=False)
    database = ["--db", store.url, "--root", str(store.root)]
    place = ",".join(f"{value:.2f}" for value in EXTRA_LESION_RAS)
    for reader, mask, extra in (("R01", masks[0], ["--likert", "all=5", "--likert", "dwi=4", "--artifact", "motion", "--note", "chronic gliosis?"]),
                                ("R02", masks[1], ["--likert", "dwi=3", "--likert", "all=5", "--note", f"faint cortical lesion@{place}"])):
        main(["workflow", "next", "--user", reader, *database, "--role", "reader"])
        path = saveNifti(mask.transpose(2, 1, 0), rotationAffine(), tmp_path / f"{reader}.nii.gz", np.uint8)
        assert main(["workflow", "submit", "--user", reader, *database, CASE, str(path), *extra]) == 0
    capsys.readouterr()
    assert main(["workflow", "notes", "--user", "R01", *database, CASE]) == 0
    mine = capsys.readouterr().out
    assert "chronic gliosis?" in mine and "faint cortical lesion" not in mine and "R02" not in mine
    main(["workflow", "next", "--user", "V01", *database, "--role", "reviewer"])
    capsys.readouterr()
    assert main(["workflow", "notes", "--user", "V01", *database, CASE]) == 0
    seen = capsys.readouterr().out
    assert "faint cortical lesion" in seen and "on region" in seen and "chronic gliosis?" in seen and "artifacts: motion" in seen
    assert main(["workflow", "status", "--user", "V01", *database, "--case", CASE]) == 0
    regionLines = [line for line in capsys.readouterr().out.splitlines() if "missed_lesion" in line]
    assert len(regionLines) == 1 and "R02: faint cortical lesion" in regionLines[0] and "R02" in regionLines[0].split()[1]
    store.export(MANAGER, tmp_path / "export")
    notes = list(csv.DictReader((tmp_path / "export" / "read_notes.csv").open()))
    assert sorted(row["text"] for row in notes) == ["chronic gliosis?", "faint cortical lesion"]
    records = json.loads((tmp_path / "export" / "read_records.json").read_text())
    assert {record["reader"]: record["quality"]["likert"]["dwi"] for record in records} == {"R01": 4, "R02": 3}


def test_bad_read_record_options_are_refused_and_nothing_is_submitted(store, capsys, tmp_path):
    database = ["--db", store.url, "--root", str(store.root)]
    main(["workflow", "next", "--user", "R01", *database, "--role", "reader"])
    path = saveNifti(readerMasks(store.root, CASE)[0].transpose(2, 1, 0), rotationAffine(), tmp_path / "R01.nii.gz", np.uint8)
    for bad, message in ((["--likert", "dwi=7"], "from 1 to 5"), (["--likert", "t2=3"], "Unknown quality items"),
                         (["--note", "here@1,2"], "TEXT@R,A,S"), (["--note", "@1,2,3"], "needs some text")):
        assert main(["workflow", "submit", "--user", "R01", *database, CASE, str(path), *bad]) == 2
        assert message in capsys.readouterr().err
    assert store.case(CASE)["state"] == "awaiting_reads" and store.readsVisibleTo(MANAGER, CASE) == []
