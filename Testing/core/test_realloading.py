"""The real ISLES 2022 cases (CC BY 4.0) load, validate and compare as shipped, with every choice said in words.

Copies of the cases in a temporary folder; the shipped expert mask must come out byte-identical.
"""

import pytest
from realdata import copyRealCase

from AISCommonLib.core.atomicio import sha256File
from AISCommonLib.core.cases import discoverCases
from AISCommonLib.core.errors import AdcUnitError
from AISCommonLib.core.image import loadVolume
from AISCommonLib.core.referencemasks import checkReferenceFit, compareWithReferences
from AISCommonLib.core.seeding import SeedParameters
from AISCommonLib.core.seedmask import seedAndWriteCase
from AISCommonLib.core.sequences import loadCase
from AISCommonLib.core.validate import validateDataset


@pytest.fixture
def isles(tmp_path):
    """The ISLES 2022 sample case: ``(outer root, rawdata root)``."""
    rawdata = copyRealCase("isles22-0001", tmp_path)
    return rawdata.parent, rawdata


def test_the_isles_sample_ships_an_expert_mask_that_is_offered_as_reference(isles):
    outer, rawdata = isles
    for root in (outer, rawdata):  # the study folder or its rawdata/: both find derivatives/ beside rawdata/
        (case,) = discoverCases(root)
        assert [path.name for path in case.referenceMasks] == ["sub-strokecase0001_ses-0001_msk.nii.gz"]
    fit = checkReferenceFit(case, case.referenceMasks[0], datasetRoot=outer)
    assert fit.fits and "lies on the DWI grid" in fit.sentence
    assert int((loadVolume(case.referenceMasks[0]).array != 0).sum()) == 835


def test_the_real_cases_load_with_every_choice_in_words(isles, tmp_path):
    (case,) = discoverCases(isles[0])
    loaded = loadCase(case)
    assert (loaded.bValue, loaded.bValueSource) == (1000.0, "assumed")
    assert any("b=1000 s/mm^2 was assumed" in warning for warning in loaded.warnings)
    assert loaded.adcUnit.unit.key == "1e-3" and "detected" in loaded.choices["adcUnit"]
    assert loaded.choices["dwi"] == "sub-strokecase0001_ses-0001_dwi.nii.gz: the only DWI file."
    challenge = loadCase(discoverCases(copyRealCase("isles22-challenge-case", tmp_path / "c"))[0])
    assert challenge.adcUnit.unit.key == "1e-6" and challenge.eadcSource == "exp(-b*adc)"
    assert "on its own grid" in challenge.choices["flair"] and "0.859 x 0.859 x 6 mm" in challenge.choices["flair"]


def test_validation_of_the_real_cases_reports_choices_and_judgements(isles, tmp_path):
    findings = validateDataset(isles[0], choices=True)
    errors = [f.code for f in findings if f.severity == "error"]
    assert errors == ["sequence-missing"]  # the sample case ships no FLAIR; nothing else is a format error
    infos = {f.code for f in findings if f.severity == "info"}
    assert {"choice-dwi", "choice-bValue", "choice-adc", "choice-adcUnit", "choice-eadc", "choice-reference"} <= infos
    challenge = validateDataset(copyRealCase("isles22-challenge-case", tmp_path / "c"), choices=True)
    assert [f for f in challenge if f.severity == "error"] == []
    warnings = {f.code for f in challenge if f.severity == "warning"}
    assert {"slice-spacing", "header-description", "b-value-missing"} <= warnings  # 6 mm FLAIR; descrip holds a time


def test_a_seed_is_compared_with_the_expert_mask_which_stays_untouched(isles):
    outer, _ = isles
    (case,) = discoverCases(outer)
    reference = case.referenceMasks[0]
    before = sha256File(reference)
    with pytest.raises(AdcUnitError, match="was forced, but the values look like x 1e-3 mm\\^2/s"):
        seedAndWriteCase(outer, case, "R01", SeedParameters(), adcUnit="1e-6")
    assert not (outer / "derivatives" / "lesions").exists() or not list((outer / "derivatives" / "lesions").rglob("*.nii.gz"))
    summary = seedAndWriteCase(outer, case, "R01", SeedParameters())
    assert loadVolume(summary["mask"]).gridShape == (73, 112, 112)
    (row,) = compareWithReferences(outer)
    assert row["status"] == "compared" and row["reader"] == "R01" and 0.0 <= row["dice"] <= 1.0
    assert abs(row["volume_reference_ml"] - 6.68) < 0.01
    assert sha256File(reference) == before
