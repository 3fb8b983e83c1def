"""Lesion attributes from the command line: recorded with the read per lesion, shown to the reviewer beside the region."""

import json

import numpy as np
from workflow_fixtures import readerMasks, rotationAffine, saveNifti, staffedStore

from AISCommonLib.cli.workflow import main
from AISCommonLib.core.image import voxelToRas

CASE = "sub-01_ses-01"


def place(kji) -> str:
    return ",".join(f"{value:.2f}" for value in voxelToRas(rotationAffine(), np.array([kji], dtype=float))[0])


def test_lesion_attributes_reach_the_reviewer_and_a_wrong_place_submits_nothing(tmp_path, capsys):
    with staffedStore("sqlite", tmp_path) as store:
        database = ["--db", store.url, "--root", str(store.root)]
        first, second = readerMasks(store.root, CASE, concordant=False)
        lesionCentre = place(np.argwhere(first).mean(axis=0))
        extraCentre = place((2.5, 31.0, 29.0))  # the lesion only R02 drew
        paths = {}
        for reader, mask in (("R01", first), ("R02", second)):
            assert main(["workflow", "next", "--user", reader, *database, "--role", "reader"]) == 0
            paths[reader] = saveNifti(mask.transpose(2, 1, 0), rotationAffine(), tmp_path / f"{reader}.nii.gz", np.uint8)
        capsys.readouterr()
        refused = main(["workflow", "submit", "--user", "R01", *database, CASE, str(paths["R01"]), "--likert", "all=4",
                        "--lesion", f"territory=pca@{extraCentre}"])
        assert refused == 2 and "No lesion of the mask lies at" in capsys.readouterr().err
        assert store.readsVisibleTo("M01", CASE) == []
        assert main(["workflow", "submit", "--user", "R01", *database, CASE, str(paths["R01"]), "--likert", "all=4",
                     "--lesion", f"territory=mca,ht=no,acuity=acute@{lesionCentre}"]) == 0
        assert main(["workflow", "submit", "--user", "R02", *database, CASE, str(paths["R02"]), "--likert", "all=4",
                     "--lesion", f"territory=mca,ht=uncertain@{lesionCentre}", "--lesion", f"territory=lacunar,acuity=chronic@{extraCentre}"]) == 0
        assert main(["workflow", "next", "--user", "V01", *database, "--role", "reviewer"]) == 0
        capsys.readouterr()
        assert main(["workflow", "notes", "--user", "V01", *database, CASE]) == 0
        seen = capsys.readouterr().out
        assert "territory MCA, acute, hemorrhagic transformation no" in seen
        assert "territory lacunar, chronic" in seen and "(in region" in seen
        assert main(["workflow", "notes", "--user", "V01", *database, CASE, "--json"]) == 0
        records = {record["reader"]: record for record in json.loads(capsys.readouterr().out)["reads"]}
        assert [lesion["lesion"] for lesion in records["R02"]["lesions"]] == [1, 2]
        assert records["R01"]["unattributed_lesions"] == [] and records["R01"]["lesions"][0]["region"] is None
        missed = [region["id"] for region in store.case(CASE)["comparison"]["discordant_regions"] if region["type"] == "missed_lesion"]
        assert records["R02"]["lesions"][1]["region"] == missed[0]
