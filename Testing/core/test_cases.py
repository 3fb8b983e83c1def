"""Case discovery across the layouts users bring, and loading with b values, units and eADC."""

import numpy as np
import pytest
from testfiles import saveNifti, writeJson

from AISCommonLib.core.cases import discoverCases
from AISCommonLib.core.errors import GeometryError, InputError
from AISCommonLib.core.sequences import loadCase
from AISCommonLib.synthetic.tinycases import rotationAffine, writeSimpleCase


def test_standard_bids_layout(tmp_path):
    writeSimpleCase(tmp_path, "01", "01")
    writeSimpleCase(tmp_path, "02", "01")
    cases = discoverCases(tmp_path)
    assert [case.caseId for case in cases] == ["sub-01_ses-01", "sub-02_ses-01"]
    assert set(cases[0].files) == {"dwi", "adc", "flair"}
    assert cases[0].files["flair"].parent.name == "anat" and cases[0].missing == []


def test_flat_isles_layout_under_rawdata_with_upper_case_adc(tmp_path):
    writeSimpleCase(tmp_path / "rawdata", "strokecase0001", "0001", layout="flat", adcName="ADC")
    (case,) = discoverCases(tmp_path)
    assert case.caseId == "sub-strokecase0001_ses-0001"
    assert case.files["adc"].name.endswith("_ADC.nii.gz") and case.files["flair"].name.endswith("_flair.nii.gz")


def test_subject_without_session_and_filters(tmp_path):
    writeSimpleCase(tmp_path, "01", None)
    writeSimpleCase(tmp_path, "02", "a")
    writeSimpleCase(tmp_path, "02", "b")
    assert [case.caseId for case in discoverCases(tmp_path)] == ["sub-01", "sub-02_ses-a", "sub-02_ses-b"]
    assert [case.caseId for case in discoverCases(tmp_path, ["sub-02"], ["b"])] == ["sub-02_ses-b"]


def test_missing_sequence_and_ambiguous_files_are_reported(tmp_path):
    info = writeSimpleCase(tmp_path, withFlair=False)
    saveNifti(np.zeros((2, 2, 2)), np.eye(4), info["paths"]["dwi"].with_name("sub-01_ses-01_acq-b_dwi.nii.gz"))
    saveNifti(np.zeros((2, 2, 2)), np.eye(4), info["paths"]["adc"].with_name("sub-01_ses-01_acq-x_adc.nii.gz"))
    saveNifti(np.zeros((2, 2, 2)), np.eye(4), info["paths"]["adc"].with_name("sub-01_ses-01_acq-y_adc.nii.gz"))
    info["paths"]["adc"].unlink()  # only the two alternatives remain: no plain one to prefer
    (case,) = discoverCases(tmp_path)
    assert case.missing == ["flair"]
    assert case.files["dwi"].name == "sub-01_ses-01_dwi.nii.gz"  # the plain acquisition wins
    assert any("candidate ADC" in problem for problem in case.problems)


def test_empty_or_absent_roots_are_clear_errors(tmp_path):
    with pytest.raises(InputError, match="No cases"):
        discoverCases(tmp_path)
    with pytest.raises(InputError, match="does not exist"):
        discoverCases(tmp_path / "nowhere")


@pytest.mark.parametrize("unit", ["1e-6", "1e-3", "mm2/s"])
def test_every_adc_unit_loads_to_the_same_micro_values(tmp_path, unit):
    info = writeSimpleCase(tmp_path, adcUnit=unit)
    loaded = loadCase(discoverCases(tmp_path)[0])
    assert loaded.adcUnit.unit.key == unit
    np.testing.assert_allclose(loaded.adcMicro(), info["adc"], rtol=1e-4, atol=1.0)  # int16 storage truncates


def test_b_value_from_sidecar_and_computed_eadc(tmp_path):
    writeSimpleCase(tmp_path, bValue=800.0)
    loaded = loadCase(discoverCases(tmp_path)[0])
    assert (loaded.bValue, loaded.bValueSource, loaded.eadcSource) == (800.0, "sidecar", "exp(-b*adc)")
    adc = loaded.adcMicro()
    expected = np.where(adc > 0, np.exp(-800.0 * np.clip(adc, 0, None) * 1e-6), 0.0)
    assert expected.min() == 0.0  # background stays dark
    np.testing.assert_allclose(loaded.eadc.array, expected, rtol=1e-5)


def test_4d_series_gives_highest_b_and_b0_and_ratio_eadc(tmp_path):
    writeSimpleCase(tmp_path, series=True, bValue=1000.0)
    loaded = loadCase(discoverCases(tmp_path)[0])
    assert loaded.bValue == 1000.0 and loaded.bValueSource == "bval" and loaded.b0 is not None
    assert loaded.dwi.array.ndim == 3 and loaded.eadcSource == "dwi/b0"
    inside = (loaded.b0.array > 100) & (loaded.adcMicro() > 0)
    assert (loaded.eadc.array[loaded.adcMicro() == 0] == 0).all()  # no noise ratio in the background
    np.testing.assert_allclose(loaded.eadc.array[inside], np.clip(loaded.dwi.array[inside] / loaded.b0.array[inside], 0, 1), rtol=1e-5)


def test_series_without_bval_or_with_wrong_count_is_refused(tmp_path):
    info = writeSimpleCase(tmp_path, series=True)
    bval = info["paths"]["dwi"].with_name("sub-01_ses-01_dwi.bval")
    bval.write_text("0 1000 1000\n")
    with pytest.raises(InputError, match="series of 2 volumes but the .bval file .* lists 3 b values"):
        loadCase(discoverCases(tmp_path)[0])
    bval.unlink()
    with pytest.raises(InputError, match="no .bval"):
        loadCase(discoverCases(tmp_path)[0])


def test_adc_on_another_grid_and_missing_adc_are_refused(tmp_path):
    info = writeSimpleCase(tmp_path)
    saveNifti(np.full((40, 44, 20), 800.0), rotationAffine(origin=(0.0, 0.0, 0.0)), info["paths"]["adc"])
    with pytest.raises(GeometryError, match="not on the voxel grid"):
        loadCase(discoverCases(tmp_path)[0])
    info["paths"]["adc"].unlink()
    with pytest.raises(InputError, match="has no ADC image"):
        loadCase(discoverCases(tmp_path)[0])


def test_unknown_adc_unit_is_an_error_unless_overridden(tmp_path):
    info = writeSimpleCase(tmp_path)
    saveNifti(info["adc"].transpose(2, 1, 0) * 0.01, info["affine"], info["paths"]["adc"])
    case = discoverCases(tmp_path)[0]
    with pytest.raises(InputError, match="Cannot tell the unit"):
        loadCase(case)
    assert loadCase(case, adcUnit="1e-3").adcUnit.overridden


def test_malformed_sidecar_b_value_is_a_clear_error(tmp_path):
    info = writeSimpleCase(tmp_path)
    writeJson(info["paths"]["dwi"].with_name("sub-01_ses-01_dwi.json"), {"DiffusionBValue": "high"})
    with pytest.raises(InputError, match="not a number"):
        loadCase(discoverCases(tmp_path)[0])


def test_asking_for_subjects_finds_exactly_what_the_full_scan_finds(tmp_path):
    writeSimpleCase(tmp_path, "01", None)
    writeSimpleCase(tmp_path, "02", "a")
    writeSimpleCase(tmp_path, "02", "b")
    writeSimpleCase(tmp_path, "10", "a")
    everything = {case.caseId: case for case in discoverCases(tmp_path)}
    for labels in (["02"], ["sub-10", "01"], ["02", "99"]):
        asked = discoverCases(tmp_path, labels)
        assert [(case.caseId, case.files) for case in asked] == [
            (case.caseId, case.files) for case in everything.values() if case.subject in {label.removeprefix("sub-") for label in labels}]
    for pattern in (["0*"], ["../02"], ["99"]):  # labels are names, never patterns or paths
        with pytest.raises(InputError, match="No cases"):
            discoverCases(tmp_path, pattern)


def test_a_dataset_level_sidecar_added_later_is_seen_in_a_large_dataset(tmp_path):
    import os
    import time

    from AISCommonLib.core.bidsnames import companionFiles

    writeSimpleCase(tmp_path, "01", None)
    for index in range(600):  # a root with many entries: its listing is kept while it does not change
        (tmp_path / f"sub-x{index:03d}").mkdir()
    dwi = next((tmp_path / "sub-01" / "dwi").glob("*_dwi.nii.gz"))
    settled = time.time() - 60
    os.utime(tmp_path, (settled, settled))
    before = companionFiles(dwi, ".json", tmp_path)
    assert before == companionFiles(dwi, ".json", tmp_path) and tmp_path / "dwi.json" not in before
    writeJson(tmp_path / "dwi.json", {"MagneticFieldStrength": 3})
    assert companionFiles(dwi, ".json", tmp_path) == [tmp_path / "dwi.json", *before]
