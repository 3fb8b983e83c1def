"""The synthetic AIS phantoms: files, units, signal patterns of lesions and traps, geometry, privacy, reproducibility."""

import json

import nibabel as nib
import numpy as np
import pytest

from AISCommonLib.core.adcunits import unitByKey
from AISCommonLib.core.errors import InputError
from AISCommonLib.core.image import Volume, loadVolume, resampleToGrid
from AISCommonLib.synthetic import anatomy, phantom, scenarios, specs, writer

IDENTIFYING_KEYS = {
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "PatientAge",
    "PatientWeight",
    "AcquisitionDateTime",
    "AcquisitionDate",
    "StudyDate",
    "SeriesDate",
    "InstitutionName",
    "InstitutionAddress",
    "StationName",
    "DeviceSerialNumber",
    "ReferringPhysicianName",
    "AccessionNumber",
    "StudyInstanceUID",
    "SeriesInstanceUID",
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("phantom") / "bids"
    reports = []
    cases = scenarios.makeDemoDataset(root, seed=3, progress=lambda fraction, message: reports.append((fraction, message)))
    return root, {case.subject: case for case in cases}, reports


def _adcMicro(case) -> np.ndarray:
    return loadVolume(case.paths["adc"]).array.astype(np.float64) * unitByKey(case.adcUnit).toMicro


def _labels(case, role="tissue") -> np.ndarray:
    return loadVolume(case.paths[role]).array


def _dwi(case) -> np.ndarray:
    volume = loadVolume(case.paths["dwi"], allowSeries=True)
    return volume.array[-1] if volume.isSeries else volume.array


def _normalParenchyma(case) -> np.ndarray:
    return np.isin(_labels(case), (5, 6))


def _flairOnDwiGrid(case) -> np.ndarray:
    flair = loadVolume(case.paths["flair"])
    reference = Volume(np.zeros(case.truthMask.shape, dtype=np.float32), case.dwiIjkToRas)
    return resampleToGrid(flair.withArray(flair.array.astype(np.float32)), reference).array


def test_demo_writes_every_scenario_and_reports_progress(demo):
    root, cases, reports = demo
    assert len(cases) == 10
    assert reports[0][0] == 0.0 and reports[-1][0] == 1.0
    assert all(later >= earlier for (earlier, _), (later, _) in zip(reports, reports[1:]))
    kinds = {case.adcUnit for case in cases.values()}
    assert kinds == {"1e-6", "1e-3", "mm2/s"}
    assert cases["06"].expectInvalid and not cases["01"].expectInvalid
    assert cases["04"].hyperacute and cases["04"].bValue == 800.0
    assert 0.1 < cases["01"].lesionVolumeMl < 0.6  # lacunar: a few hundred mm^3
    assert cases["02"].lesionVolumeMl > 20.0  # territorial: tens of ml
    assert cases["05"].lesionVolumeMl == 0.0


def test_written_images_load_with_nibabel_and_share_the_dwi_grid(demo):
    root, cases, _ = demo
    for case in cases.values():
        dwi = nib.load(case.paths["dwi"])
        assert np.allclose(dwi.affine, case.dwiIjkToRas, atol=1e-4)
        assert int(dwi.header["sform_code"]) == 1 and int(dwi.header["qform_code"]) == 1
        for role in ("adc", "truth", "tissue", "traps") + (("eadc",) if "eadc" in case.paths else ()):
            image = nib.load(case.paths[role])
            assert image.shape == dwi.shape[:3], (case.subject, role)
            assert np.allclose(image.affine, dwi.affine, atol=1e-4), (case.subject, role)
        truth = np.asarray(nib.load(case.paths["truth"]).dataobj)
        assert set(np.unique(truth)) <= {0, 1}
        assert np.array_equal(truth.transpose(2, 1, 0).astype(bool), case.truthMask)


def test_adc_values_lie_in_the_expected_range_of_each_tissue_in_the_stored_unit(demo):
    _, cases, _ = demo
    for case in cases.values():
        stored = loadVolume(case.paths["adc"]).array
        toMicro = unitByKey(case.adcUnit).toMicro
        tissue = _labels(case)
        whiteMedian = float(np.median(stored[tissue == 6]))
        greyMedian = float(np.median(stored[tissue == 5]))
        csfMedian = float(np.median(stored[tissue == 4]))
        # The stored numbers themselves are in the declared unit: 0.00076, 0.76 or 760 for white matter.
        assert 700 / toMicro < whiteMedian < 850 / toMicro, case.subject
        if case.expectInvalid:
            continue
        assert 800 / toMicro < greyMedian < 950 / toMicro, case.subject
        assert csfMedian > 1800 / toMicro, case.subject
        assert np.all(stored >= 0)
    assert loadVolume(cases["01"].paths["adc"]).array.dtype == np.int16
    assert loadVolume(cases["07"].paths["adc"]).array.dtype == np.float32


def test_truth_lesion_is_dwi_bright_and_adc_dark(demo):
    _, cases, _ = demo
    for subject in ("01", "02", "03", "04", "07", "strokecase0008", "09", "10"):
        case = cases[subject]
        truth = case.truthMask
        adc, dwi = _adcMicro(case), _dwi(case)
        normal = _normalParenchyma(case)
        assert np.median(dwi[truth]) > 1.25 * np.median(dwi[normal]), subject
        assert np.median(adc[truth]) < 700, subject
        assert np.percentile(adc[truth], 10) < 600, subject
        assert np.median(adc[normal]) > 750, subject
    territorial = cases["02"]
    # The large infarct's core is clearly below the consensus threshold.
    assert np.median(_adcMicro(territorial)[territorial.truthMask]) < 560


def test_penumbral_rim_of_the_truth_has_adc_above_the_threshold(demo):
    _, cases, _ = demo
    case = cases["02"]
    adc = _adcMicro(case)
    aboveThreshold = case.truthMask & (adc >= 620)
    # Part of the DWI-drawn lesion is missed by ADC < 620 alone (rim with ADC 600-700, partial volume).
    assert 0.05 < aboveThreshold.sum() / case.truthMask.sum() < 0.4


def test_t2_shine_through_is_dwi_bright_flair_bright_with_adc_above_threshold(demo):
    _, cases, _ = demo
    case = cases["05"]
    region = _labels(case, "traps") == 3
    assert region.sum() > 50
    adc, dwi, flair = _adcMicro(case), _dwi(case), _flairOnDwiGrid(case)
    normal = _normalParenchyma(case) & (_labels(case, "traps") == 0)
    assert np.median(dwi[region]) > 1.2 * np.median(dwi[normal])
    assert np.median(adc[region]) > 900
    assert np.mean(adc[region] < 620) < 0.05
    assert np.median(flair[region]) > 1.5 * np.median(flair[normal])


def test_old_lesion_is_flair_bright_adc_high_and_not_dwi_bright(demo):
    _, cases, _ = demo
    case = cases["05"]
    region = _labels(case, "traps") == 4
    assert region.sum() > 50
    adc, dwi, flair = _adcMicro(case), _dwi(case), _flairOnDwiGrid(case)
    normal = _normalParenchyma(case) & (_labels(case, "traps") == 0)
    assert np.median(adc[region]) > 1200
    assert np.median(dwi[region]) < 1.1 * np.median(dwi[normal])
    assert np.percentile(flair[region], 75) > 1.5 * np.median(flair[normal])


def test_hyperacute_lesion_is_flair_negative_and_older_lesions_flair_positive(demo):
    _, cases, _ = demo

    def flairRatio(case):
        flair = _flairOnDwiGrid(case)
        return np.median(flair[case.truthMask]) / np.median(flair[_normalParenchyma(case) & ~case.truthMask])

    assert flairRatio(cases["04"]) < 1.2
    assert flairRatio(cases["02"]) > 1.35


def test_susceptibility_traps_sit_at_the_skull_base_with_dwi_bright_low_adc(demo):
    _, cases, _ = demo
    for subject in ("01", "05", "07"):
        case = cases[subject]
        traps = _labels(case, "traps")
        region = (traps == 6) & np.isin(_labels(case), (5, 6, 7))
        assert region.sum() > 20, subject
        adc, dwi = _adcMicro(case), _dwi(case)
        assert np.median(dwi[region]) > 1.3 * np.median(dwi[_normalParenchyma(case)]), subject
        assert np.mean(adc[region] < 620) > 0.25, subject
        # Inferior: below the middle of the brain's extent along the slice axis.
        brainSlices = np.flatnonzero(np.isin(_labels(case), (5, 6, 7)).any(axis=(1, 2)))
        assert np.median(np.nonzero(region)[0]) < brainSlices.mean(), subject


def test_noise_makes_isolated_normal_white_matter_voxels_dip_below_the_threshold(demo):
    _, cases, _ = demo
    case = cases["05"]
    white = (_labels(case) == 6) & (_labels(case, "traps") == 0)
    fraction = np.mean(_adcMicro(case)[white] < 620)
    assert 0.0005 < fraction < 0.02


def test_naive_threshold_is_a_weak_seed(demo):
    _, cases, _ = demo
    for subject in ("01", "03", "10"):
        case = cases[subject]
        brain = np.isin(_labels(case), (4, 5, 6, 7, 8, 11, 12, 13, 14))
        naive = brain & (_adcMicro(case) < 620)
        dice = 2 * (naive & case.truthMask).sum() / (naive.sum() + case.truthMask.sum())
        assert dice < 0.5, subject
    healthy = cases["05"]
    brain = np.isin(_labels(healthy), (5, 6, 7, 8, 12, 13))
    falsePositiveMl = (brain & (_adcMicro(healthy) < 620)).sum() * 8.0 / 1000.0
    assert falsePositiveMl > 0.3


def test_flair_has_its_own_grid(demo):
    _, cases, _ = demo
    for case in cases.values():
        flair = nib.load(case.paths["flair"])
        dwi = nib.load(case.paths["dwi"])
        assert flair.shape != dwi.shape[:3]
        assert np.allclose(flair.header.get_zooms()[:3], (0.9, 0.9, 5.0), atol=1e-4)
        assert np.allclose(dwi.header.get_zooms()[:3], (2.0, 2.0, 2.0), atol=1e-4)
    t1w, t2w = (nib.load(cases["02"].paths[key]) for key in ("t1w", "t2w"))
    assert np.allclose(t1w.affine, nib.load(cases["02"].paths["flair"]).affine)
    assert t2w.shape == t1w.shape


def test_oblique_affine_is_an_orthonormal_rotation(demo):
    _, cases, _ = demo
    affine = nib.load(cases["09"].paths["dwi"]).affine
    direction = affine[:3, :3] / np.linalg.norm(affine[:3, :3], axis=0)
    assert np.allclose(direction.T @ direction, np.eye(3), atol=1e-6)
    expected = anatomy.rotationMatrix((15.0, -12.0, 0.0)) @ np.diag([-1.0, 1.0, 1.0])
    assert np.allclose(direction, expected, atol=1e-5)
    angle = np.degrees(np.arccos(np.clip(abs(direction[2, 2]), -1, 1)))
    assert 15.0 < angle < 25.0  # slices really are tilted, not axial
    straight = nib.load(cases["01"].paths["dwi"]).affine
    assert np.allclose(straight[:3, :3], np.diag([-2.0, 2.0, 2.0]))


def test_sidecars_carry_acquisition_parameters_and_no_identifying_information(demo):
    root, cases, _ = demo
    sidecars = list(root.rglob("*.json"))
    assert len(sidecars) > 30
    for path in sidecars:
        data = json.loads(path.read_text(encoding="utf-8"))
        assert not IDENTIFYING_KEYS & set(data), path
    for case in cases.values():
        dwiSidecar = json.loads(case.paths["dwiJson"].read_text(encoding="utf-8"))
        for key in ("MagneticFieldStrength", "SliceThickness", "SpacingBetweenSlices", "EchoTime", "RepetitionTime"):
            assert key in dwiSidecar, (case.subject, key)
        assert dwiSidecar["Manufacturer"] == "Synthetic"
        flairSidecar = json.loads(case.paths["flairJson"].read_text(encoding="utf-8"))
        assert flairSidecar["SliceThickness"] <= 5.0 and "InversionTime" in flairSidecar


def test_layouts_users_bring(demo):
    root, cases, _ = demo
    flat = cases["strokecase0008"]
    folder = root / "sub-strokecase0008" / "ses-0001"
    assert {path.parent for role, path in flat.paths.items() if role in ("dwi", "adc", "flair")} == {folder}
    assert flat.paths["flair"].name == "sub-strokecase0008_ses-0001_flair.nii.gz"
    assert "bval" not in flat.paths
    assert json.loads(flat.paths["dwiJson"].read_text(encoding="utf-8"))["DiffusionBValue"] == 1000.0
    assert cases["03"].paths["adc"].name == "sub-03_ses-01_ADC.nii.gz"
    assert cases["01"].paths["flair"].parent.name == "anat" and cases["01"].paths["dwi"].parent.name == "dwi"
    series = nib.load(cases["10"].paths["dwi"])
    assert series.shape[3] == 2
    assert cases["10"].paths["bval"].read_text().split() == ["0", "1000"]
    assert len(cases["10"].paths["bvec"].read_text().splitlines()) == 3
    b0, weighted = np.asarray(series.dataobj, dtype=np.float32)[..., 0], np.asarray(series.dataobj, dtype=np.float32)[..., 1]
    assert b0.mean() > 1.5 * weighted.mean()
    assert cases["04"].paths["bval"].read_text().split() == ["800"]
    assert "eadc" in cases["02"].paths


def test_dataset_root_and_derivative_files(demo):
    root, cases, _ = demo
    description = json.loads((root / "dataset_description.json").read_text(encoding="utf-8"))
    assert description["DatasetType"] == "raw" and description["BIDSVersion"]
    rows = (root / "participants.tsv").read_text(encoding="utf-8").splitlines()
    assert rows[0].split("\t") == ["participant_id", "age", "sex"]
    assert sorted(row.split("\t")[0] for row in rows[1:]) == sorted(f"sub-{subject}" for subject in cases)
    assert (root / "participants.json").is_file() and (root / "README").is_file()
    derivative = json.loads((root / "derivatives" / "phantom-truth" / "dataset_description.json").read_text(encoding="utf-8"))
    assert derivative["DatasetType"] == "derivative"
    expected = root / "derivatives" / "phantom-truth" / "sub-01" / "ses-01" / "sub-01_ses-01_desc-truth_dwi_lesionmask.nii.gz"
    assert cases["01"].paths["truth"] == expected


def test_no_lesion_case_has_an_empty_truth(demo):
    _, cases, _ = demo
    case = cases["05"]
    assert not case.truthMask.any()
    assert not np.asarray(nib.load(case.paths["truth"]).dataobj).any()
    assert {"t2ShineThrough", "oldLesion", "susceptibility"} <= set(case.traps)


def test_motion_case_ghosts_into_the_background(demo):
    _, cases, _ = demo

    def backgroundRatio(case):
        dwi, tissue = _dwi(case), _labels(case)
        return np.mean(dwi[tissue == 0]) / np.mean(dwi[np.isin(tissue, (5, 6))])

    assert backgroundRatio(cases["06"]) > 2.0 * backgroundRatio(cases["01"])
    assert "motion" in cases["06"].traps


def test_the_library_discovers_and_loads_every_demo_case_with_its_unit(demo):
    from AISCommonLib.core.cases import discoverCases
    from AISCommonLib.core.sequences import loadCase

    root, cases, _ = demo
    found = {case.subject: case for case in discoverCases(root)}
    assert set(found) == set(cases)
    assert all(case.missing == [] for case in found.values())
    # One case per unit, layout and DWI form (3D trace with .bval, sidecar b value, 4D series, b=800).
    for subject in ("01", "03", "04", "07", "strokecase0008", "10"):
        case = found[subject]
        loaded = loadCase(case)
        assert loaded.adcUnit.unit.key == cases[subject].adcUnit, subject
        assert loaded.bValue == cases[subject].bValue, subject


def test_same_seed_same_images_other_seed_other_images():
    spec = specs.PhantomSpec(lesions=(specs.LesionSpec("acute", (((-24.0, -4.0, 30.0), (5.0, 5.0, 5.0)),)),), dwiShape=(24, 108, 92), flairShape=(8, 224, 192))
    first = phantom.makePhantom(spec, np.random.default_rng(7))
    again = phantom.makePhantom(spec, np.random.default_rng(7))
    other = phantom.makePhantom(spec, np.random.default_rng(8))
    for name in ("b0", "dwi", "adcMicro", "flair", "truthMask", "tissueLabels", "trapLabels"):
        assert np.array_equal(getattr(first, name), getattr(again, name)), name
    assert not np.array_equal(first.dwi, other.dwi)
    assert np.array_equal(first.dwiIjkToRas, again.dwiIjkToRas)


def test_bad_inputs_are_refused_with_an_ais_error(tmp_path):
    with pytest.raises(InputError, match="lesion kind"):
        phantom.makePhantom(specs.PhantomSpec(lesions=(specs.LesionSpec("tumor", ()),)), np.random.default_rng(0))
    spec = specs.PhantomSpec(dwiShape=(8, 108, 92), flairShape=(4, 224, 192))
    images = phantom.makePhantom(spec, np.random.default_rng(0))
    with pytest.raises(InputError, match="layout"):
        writer.writePhantomCase(tmp_path, "01", "01", images, layout="nested")
    with pytest.raises(InputError, match="ADC unit"):
        writer.writePhantomCase(tmp_path, "01", "01", images, adcUnit="furlongs")
