"""`ais validate`, `ais seed` and `ais compare` on datasets as shipped; bad input is one sentence and writes nothing."""

import gzip
import json

import nibabel as nib
import numpy as np
import pytest
from layoutcases import writeOpenNeuroCase, writeSeriesCase, writeSplitBCase

from AISCommonLib.cli.main import main
from AISCommonLib.synthetic.tinycases import rotationAffine, writeSimpleCase


def run(capsys, *argv):
    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def writtenFiles(root):
    lesions = root / "derivatives" / "lesions"
    return sorted(path for path in lesions.rglob("*") if path.is_file()) if lesions.exists() else []


def errorLines(err):
    return [line for line in err.splitlines() if line.startswith("ais: error:")]


def test_validate_prints_how_an_openneuro_dataset_is_read(tmp_path, capsys):
    writeOpenNeuroCase(tmp_path)
    code, out, err = run(capsys, "validate", tmp_path)
    assert code == 0, out + err
    assert "sub-1: how it is read" in out
    assert "dwi: sub-1_rec-TRACE_dwi.nii.gz" in out and "bValue: b=1000 s/mm^2 from DiffusionBValue" in out
    assert "adcUnit: ADC unit x 1e-6 mm^2/s, detected" in out and "eadc: eADC computed as exp(-b x ADC)" in out
    assert "reference: The reference mask derivatives/lesion_masks/sub-1/dwi/sub-1_space-TRACE_desc-lesion_mask.nii.gz lies on the DWI grid" in out
    code, out, _ = run(capsys, "validate", tmp_path, "--json")
    infos = [finding for finding in json.loads(out)["findings"] if finding["severity"] == "info"]
    assert {"choice-dwi", "choice-reference"} <= {finding["code"] for finding in infos}


def test_validate_limits_are_options_and_judgements_are_warnings(tmp_path, capsys):
    info = writeSimpleCase(tmp_path)
    sidecar = info["paths"]["flair"].with_name("sub-01_ses-01_FLAIR.json")
    sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), "SliceThickness": 4.0, "SpacingBetweenSlices": 5.0, "MagneticFieldStrength": 1.0}))
    code, out, _ = run(capsys, "validate", tmp_path, "--no-choices")
    assert code == 0 and "slice-gap" in out and "field-strength-low" in out and "how it is read" not in out
    code, out, _ = run(capsys, "validate", tmp_path, "--max-gap-fraction", "0.25", "--min-field-strength", "1.0")
    assert code == 0 and "slice-gap" not in out and "field-strength-low" not in out
    code, _, err = run(capsys, "validate", tmp_path, "--min-fov-overlap", "3")
    assert code == 2 and errorLines(err) == ["ais: error: Invalid validation limit: the field-of-view overlap must lie between 0 and 1."]


def test_seed_on_a_split_b_value_case_uses_b1000_and_its_b0(tmp_path, capsys):
    writeSplitBCase(tmp_path)
    code, out, err = run(capsys, "seed", tmp_path, "--reader", "R01", "--json")
    assert code == 0, err
    (seeded,) = json.loads(out)["seeded"]
    assert seeded["bValue"] == 1000.0 and seeded["bValueSource"] == "file name"
    assert "one DWI file per b value" in seeded["choices"]["dwi"] and "DWI / b0" in seeded["choices"]["eadc"]
    assert len([path for path in writtenFiles(tmp_path) if path.name.endswith(".nii.gz")]) == 1


def test_compare_adds_reads_against_the_shipped_reference(tmp_path, capsys):
    info = writeOpenNeuroCase(tmp_path)
    before = info["paths"]["reference"].read_bytes()
    code, out, err = run(capsys, "compare", tmp_path)
    assert code == 0 and "no-reads" in out and "no derivatives/lesions folder yet" in err
    assert run(capsys, "seed", tmp_path, "--reader", "R01")[0] == 0
    code, out, err = run(capsys, "compare", tmp_path, "--json")
    assert code == 0
    (row,) = json.loads(out)["references"]
    assert row["reader"] == "R01" and row["status"] == "compared" and 0 < row["dice"] <= 1
    assert info["paths"]["reference"].read_bytes() == before


def breakReferenceGrid(root):
    writeOpenNeuroCase(root, maskAffine=rotationAffine(origin=(-37.0, -44.0, -40.0)))
    assert main(["seed", str(root), "--reader", "R01"]) == 0


def test_compare_says_when_a_reference_is_on_another_grid(tmp_path, capsys):
    breakReferenceGrid(tmp_path)
    capsys.readouterr()
    before = writtenFiles(tmp_path)
    code, out, err = run(capsys, "compare", tmp_path)
    warnings = [line for line in err.splitlines() if line.startswith("ais: warning:")]
    assert code == 0 and "grid-mismatch" in out and "Traceback" not in err
    assert len(warnings) == 1 and "is not on the grid of" in warnings[0]
    assert writtenFiles(tmp_path) == before


def onlyB0(root):
    writeSplitBCase(root, bValues=(0,))


def ambiguousSeries(root):
    writeSeriesCase(root, (1000, 1000, 1000), withBval=False, sidecarB=1000)


def corruptAdc(root):
    info = writeSimpleCase(root)
    info["paths"]["adc"].write_bytes(gzip.compress(b"not an image at all"))


def headerBomb(root):
    info = writeSimpleCase(root)
    header = nib.Nifti1Header()
    header.set_data_shape((2000, 2000, 2000))
    header.set_data_dtype(np.float32)
    info["paths"]["dwi"].write_bytes(gzip.compress(header.binaryblock + b"\0" * 4))


def gzipBomb(root):
    info = writeSimpleCase(root)
    header = nib.Nifti1Header()
    header.set_data_shape((40, 44, 20))
    header.set_data_dtype(np.float32)
    header.set_sform(info["affine"], code=1)
    with gzip.open(info["paths"]["adc"], "wb") as stream:  # a zero ADC map followed by 64 MiB of zeros
        stream.write(header.binaryblock + b"\0" * 4)
        for _ in range(4):
            stream.write(b"\0" * (16 * 1024 * 1024))


BAD_INPUTS = {
    "only b=0": (onlyB0, "only a b=0 image was found"),
    "ambiguous 4D series": (ambiguousSeries, "nothing lists one b value per volume"),
    "corrupt ADC": (corruptAdc, "corrupt, truncated or not NIfTI"),
    "header bomb": (headerBomb, "declares 2000 x 2000 x 2000 voxels"),
    "gzip bomb": (gzipBomb, "Cannot tell the unit"),  # read only as far as declared: an all-zero ADC, refused
}


@pytest.mark.parametrize("name", BAD_INPUTS)
def test_bad_input_is_one_sentence_and_writes_nothing(tmp_path, capsys, name):
    breakIt, expected = BAD_INPUTS[name]
    breakIt(tmp_path)
    code, _, err = run(capsys, "seed", tmp_path, "--reader", "R01")
    assert code != 0 and "Traceback" not in err
    lines = errorLines(err)
    assert len(lines) == 1 and expected in lines[0], err
    assert writtenFiles(tmp_path) == []
    code, out, _ = run(capsys, "validate", tmp_path)
    assert code == 1 and "Traceback" not in out
