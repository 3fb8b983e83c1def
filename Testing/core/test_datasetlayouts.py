"""Datasets as they are shipped: OpenNeuro names, one file per b value, 4D series; every choice said in words."""

import json

import numpy as np
import pytest
from layoutcases import signalAt, writeOpenNeuroCase, writeSeriesCase, writeSplitBCase
from testfiles import saveNifti

from AISCommonLib.core.bidsnames import isMaskName, parseName, sequenceRole
from AISCommonLib.core.cases import discoverCases
from AISCommonLib.core.diffusion import chooseDiffusionB, groupShells, traceImage
from AISCommonLib.core.errors import InputError
from AISCommonLib.core.image import nibabelToKji
from AISCommonLib.core.sequences import loadCase
from AISCommonLib.synthetic.tinycases import rotationAffine


@pytest.mark.parametrize(
    ("fileName", "role"),
    [
        ("sub-1_rec-TRACE_dwi.nii.gz", "dwi"),
        ("sub-1_rec-ADC_dwi.nii.gz", "adc"),
        ("sub-1_ses-2_desc-eADC_dwi.nii.gz", "eadc"),
        ("sub-1_acq-ADC_dwi.nii", "adc"),
        ("sub-1_trace_dwi.nii.gz", "dwi"),
        ("sub-1_acq-b1000_dwi.nii.gz", "dwi"),
        ("sub-1_acq-headcoil_dwi.nii.gz", "dwi"),  # 'adc' inside a word is not ADC
        ("sub-1_ses-1_ADC.nii.gz", "adc"),
        ("sub-1_FLAIR.nii.gz", "flair"),
        ("sub-1_space-TRACE_desc-lesion_mask.nii.gz", None),
        ("sub-1_ses-1_msk.nii.gz", None),
        ("sub-1_label-L_desc-T1lesion_mask.nii.gz", None),
        ("sub-1_desc-lesion_dwi.nii.gz", None),
    ],
)
def test_names_say_which_sequence_a_file_holds(fileName, role):
    assert sequenceRole(parseName(fileName)) == role


def test_mask_names_and_b_values_in_names():
    assert isMaskName(parseName("sub-1_ses-0001_msk.nii.gz"))
    assert not isMaskName(parseName("sub-1_space-TRACE_desc-brain_mask.nii.gz"))
    assert parseName("sub-1_acq-b1000_dwi.nii.gz").bValue() == (1000.0, "acq-b1000")
    assert parseName("sub-1_desc-b0_dwi.nii.gz").bValue() == (0.0, "desc-b0")
    assert parseName("sub-1_acq-ep2d_dwi.nii.gz").bValue() is None
    assert parseName("sub-1_b1000_dwi.nii.gz").bValue() == (1000.0, "b1000")


@pytest.mark.parametrize("session", [None, "1"])
def test_an_openneuro_named_dataset_loads_without_renaming(tmp_path, session):
    info = writeOpenNeuroCase(tmp_path, session=session)
    (case,) = discoverCases(tmp_path)
    assert case.caseId == ("sub-1_ses-1" if session else "sub-1")
    assert case.files["dwi"] == info["paths"]["dwi"] and case.files["adc"] == info["paths"]["adc"]
    assert set(case.files) == {"dwi", "adc", "flair", "t1w"} and case.missing == []
    assert "rec-ADC names the ADC map" in case.choices["adc"]
    assert case.referenceMasks == [info["paths"]["reference"]]  # the brain mask is not a lesion reference
    loaded = loadCase(case)
    assert loaded.dwi.array.ndim == 3  # the 4D file with one volume
    assert (loaded.bValue, loaded.bValueSource) == (1000.0, "sidecar")  # inherited from the dataset-level rec-TRACE_dwi.json
    assert "rec-TRACE_dwi.json" in loaded.choices["bValue"]
    assert loaded.adcUnit.unit.key == "1e-6" and "detected" in loaded.choices["adcUnit"]
    assert loaded.warnings == []


def test_the_trace_image_is_preferred_over_the_raw_series_and_the_choice_is_said(tmp_path):
    info = writeOpenNeuroCase(tmp_path, withRawSeries=True)
    (case,) = discoverCases(tmp_path)
    assert case.files["dwi"] == info["paths"]["dwi"]
    assert "marks the trace image (rec-TRACE)" in case.choices["dwi"] and "preferred over sub-1_dwi.nii.gz" in case.choices["dwi"]
    assert discoverCases(tmp_path)[0].choices == case.choices  # deterministic


@pytest.mark.parametrize("entity", ["acq", "desc", "rec"])
def test_a_split_b_value_case_loads_b1000_with_its_b0(tmp_path, entity):
    info = writeSplitBCase(tmp_path, entity=entity)
    (case,) = discoverCases(tmp_path)
    assert case.files["dwi"] == info["paths"]["b1000"] and case.files["b0"] == info["paths"]["b0"]
    assert "one DWI file per b value (b=0, b=1000)" in case.choices["dwi"]
    loaded = loadCase(case)
    assert (loaded.bValue, loaded.bValueSource, loaded.eadcSource) == (1000.0, "file name", "dwi/b0")
    np.testing.assert_allclose(loaded.b0.array, nibabelToKji(signalAt(0)), rtol=1e-5)
    assert loaded.warnings == []


def test_the_highest_b_near_1000_is_taken_among_several(tmp_path):
    writeSplitBCase(tmp_path, bValues=(0, 500, 1000, 2000), withSidecarB=True)
    loaded = loadCase(discoverCases(tmp_path)[0])
    assert loaded.bValue == 1000.0 and loaded.bValueSource == "sidecar"
    assert "not used as DWI" in loaded.choices["dwi"] and "b=2000" in loaded.choices["dwi"]
    assert chooseDiffusionB([800, 1200, 3000]) == 1200 and chooseDiffusionB([2000, 3000]) == 2000


def test_a_b_value_other_than_1000_is_used_with_a_warning_naming_it(tmp_path):
    writeSplitBCase(tmp_path, bValues=(0, 800))
    loaded = loadCase(discoverCases(tmp_path)[0])
    assert loaded.bValue == 800.0
    assert any("b=800 s/mm^2, not 1000" in warning for warning in loaded.warnings)


def test_b0_alone_is_a_clear_error(tmp_path):
    writeSplitBCase(tmp_path, bValues=(0,))
    (case,) = discoverCases(tmp_path)
    assert any("every DWI file is b=0" in problem for problem in case.problems)
    with pytest.raises(InputError, match="only a b=0 image was found"):
        loadCase(case)
    writeSeriesCase(tmp_path / "series", (0, 0, 0))
    with pytest.raises(InputError, match="holds only b=0 volumes"):
        loadCase(discoverCases(tmp_path / "series")[0])


def test_a_series_takes_the_geometric_mean_of_its_directional_b1000_volumes(tmp_path):
    info = writeSeriesCase(tmp_path, (0, 1000, 1000, 1000), anisotropy=0.2)
    loaded = loadCase(discoverCases(tmp_path)[0])
    volumes = nibabelToKji(info["volumes"]).astype(np.float32)  # [t, k, j, i]
    expected = traceImage(volumes[1:])
    np.testing.assert_allclose(loaded.dwi.array, expected, rtol=1e-5)
    assert loaded.bValue == 1000.0 and loaded.bValueSource == "bval" and loaded.eadcSource == "dwi/b0"
    assert "3 volumes at b=1000 (volumes 2, 3, 4), combined as their geometric mean" in loaded.choices["bValue"]


def test_a_trace_volume_marked_by_a_zero_direction_is_used_as_it_is(tmp_path):
    bvecs = [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 0]]
    info = writeSeriesCase(tmp_path, (0, 1000, 1000, 1000), bvecs=bvecs, anisotropy=0.2)
    loaded = loadCase(discoverCases(tmp_path)[0])
    np.testing.assert_allclose(loaded.dwi.array, nibabelToKji(info["volumes"])[3], rtol=1e-6)
    assert "trace volume" in loaded.choices["bValue"]


def test_per_volume_b_values_from_a_sidecar_list(tmp_path):
    writeSeriesCase(tmp_path, (0, 995, 1005), withBval=False, sidecarB=[0, 995, 1005])
    loaded = loadCase(discoverCases(tmp_path)[0])
    assert loaded.bValue == 1000.0 and loaded.bValueSource == "sidecar" and loaded.warnings == []
    assert [b for b, _ in groupShells([0, 995, 1005, 2000])] == [0.0, 1000.0, 2000.0]


def test_a_series_of_several_b1000_like_volumes_without_bval_is_a_clear_error(tmp_path):
    writeSeriesCase(tmp_path, (1000, 1000, 1000), withBval=False, sidecarB=1000)
    with pytest.raises(InputError, match="4D series of 3 volumes and nothing lists one b value per volume.*gives b=1000 for the whole file"):
        loadCase(discoverCases(tmp_path)[0])


def test_b_value_from_the_header_description_and_conflicts_are_warned(tmp_path):
    import nibabel as nib

    info = writeSplitBCase(tmp_path, bValues=(1000,))
    image = nib.load(info["paths"]["b1000"])
    image = nib.Nifti1Image(np.asanyarray(image.dataobj), image.affine, image.header)
    image.header["descrip"] = b"b=800"
    renamed = info["paths"]["b1000"].with_name("sub-01_ses-01_dwi.nii.gz")
    nib.save(image, renamed)
    info["paths"]["b1000"].unlink()
    loaded = loadCase(discoverCases(tmp_path)[0])
    assert (loaded.bValue, loaded.bValueSource) == (800.0, "header")
    renamed.with_name("sub-01_ses-01_dwi.json").write_text(json.dumps({"DiffusionBValue": 1000}))
    loaded = loadCase(discoverCases(tmp_path)[0])
    assert loaded.bValue == 1000.0
    assert any("header description ('b=800') says b=800" in warning for warning in loaded.warnings)


def test_a_b0_file_on_another_grid_is_not_used_and_says_so(tmp_path):
    info = writeSplitBCase(tmp_path)
    saveNifti(signalAt(0), rotationAffine(origin=(5.0, 0.0, 0.0)), info["paths"]["b0"])
    loaded = loadCase(discoverCases(tmp_path)[0])
    assert loaded.b0 is None and loaded.eadcSource == "exp(-b*adc)"
    assert any("is not on the DWI grid" in warning for warning in loaded.warnings)


def test_masks_beside_the_images_are_references_not_images(tmp_path):
    info = writeSplitBCase(tmp_path)
    beside = saveNifti(np.zeros((40, 44, 20)), info["affine"], info["paths"]["flair"].with_name("sub-01_ses-01_label-L_desc-lesion_mask.nii.gz"))
    (case,) = discoverCases(tmp_path)
    assert beside not in case.files.values() and case.referenceMasks == [beside]
    ours = tmp_path / "derivatives" / "lesions" / "sub-01" / "ses-01" / "sub-01_ses-01_desc-R01_dwi_lesionmask.nii.gz"
    saveNifti(np.zeros((40, 44, 20)), info["affine"], ours)
    assert discoverCases(tmp_path)[0].referenceMasks == [beside]  # our own reads are never references
