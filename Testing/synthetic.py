"""Tiny synthetic cases written in every layout the library accepts, for tests of every folder.

Importable as ``synthetic`` (pytest puts ``Testing/`` on the path). These cases are deliberately simple (an ellipsoid brain with a ventricle and one lesion) so that
file-handling tests run in milliseconds; seed quality is measured on the realistic phantoms of
``AISCommonLib.synthetic.phantom``.
"""

import json
from pathlib import Path

import numpy as np

SHAPE_IJK = (40, 44, 20)
ADC_SCALE = {"1e-6": 1.0, "1e-3": 1e-3, "mm2/s": 1e-6}


def rotationAffine(spacing=(2.0, 2.0, 4.0), anglesDeg=(0.0, 0.0, 0.0), origin=(-40.0, -44.0, -40.0)) -> np.ndarray:
    """An orthonormal-direction affine: rotation about x, then y, then z (degrees), times spacing."""
    ax, ay, az = np.deg2rad(anglesDeg)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    affine = np.eye(4)
    affine[:3, :3] = rz @ ry @ rx @ np.diag(spacing)
    affine[:3, 3] = origin
    return affine


def simpleHead(seed: int = 0):
    """Arrays ``[i, j, k]`` (nibabel order): b0, DWI b1000, ADC (1e-6 mm^2/s) and the lesion truth."""
    rng = np.random.default_rng(seed)
    i, j, k = np.meshgrid(*[np.arange(n) for n in SHAPE_IJK], indexing="ij")
    radius = ((i - 20) / 16) ** 2 + ((j - 22) / 18) ** 2 + ((k - 10) / 8) ** 2
    brain = radius < 1
    ventricle = ((i - 20) / 3) ** 2 + ((j - 22) / 6) ** 2 + ((k - 10) / 3) ** 2 < 1
    lesion = ((i - 12) / 3) ** 2 + ((j - 18) / 3) ** 2 + ((k - 10) / 2) ** 2 < 1
    adc = np.where(brain, 780.0, 0.0)
    adc[ventricle], adc[lesion] = 3000.0, 450.0
    b0 = np.where(brain, 600.0, 0.0)
    b0[ventricle], b0[lesion] = 1500.0, 700.0
    dwi = b0 * np.exp(-1000.0 * adc * 1e-6)
    dwi = np.abs(dwi + rng.normal(0, 8, dwi.shape)).astype(np.float32)
    adc = np.clip(adc + rng.normal(0, 30, adc.shape) * brain, 0, None)
    return b0.astype(np.float32), dwi, adc, lesion


def saveNifti(array, affine, path: Path, dtype=np.float32) -> Path:
    import nibabel as nib

    path.parent.mkdir(parents=True, exist_ok=True)
    image = nib.Nifti1Image(np.asarray(array).astype(dtype), affine)
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    nib.save(image, str(path))
    return path


def writeJson(path: Path, data) -> None:
    path.write_text(json.dumps(data), encoding="utf-8")


ACQUISITION = {"MagneticFieldStrength": 3.0, "SliceThickness": 4.0, "EchoTime": 0.08, "RepetitionTime": 5.0}


def writeSimpleCase(root: Path, subject="01", session="01", layout="bids", adcUnit="1e-6", affine=None,
                    bValue=1000.0, series=False, withFlair=True, adcName="adc") -> dict:
    """Write one simple case; returns the paths and the truth (``[k, j, i]``)."""
    affine = rotationAffine() if affine is None else affine
    b0, dwi, adc, lesion = simpleHead()
    prefix = f"sub-{subject}" + (f"_ses-{session}" if session else "")
    folder = root / f"sub-{subject}" / (f"ses-{session}" if session else "")
    dwiFolder = folder / "dwi" if layout == "bids" else folder
    anatFolder = folder / "anat" if layout == "bids" else folder
    paths = {}
    if series:
        paths["dwi"] = saveNifti(np.stack([b0, dwi], axis=-1), affine, dwiFolder / f"{prefix}_dwi.nii.gz")
        (dwiFolder / f"{prefix}_dwi.bval").write_text(f"0 {bValue:g}\n")
    else:
        paths["dwi"] = saveNifti(dwi, affine, dwiFolder / f"{prefix}_dwi.nii.gz")
        writeJson(dwiFolder / f"{prefix}_dwi.json", {**ACQUISITION, "DiffusionBValue": bValue})
    adcStored = adc * ADC_SCALE[adcUnit]
    paths["adc"] = saveNifti(adcStored, affine, dwiFolder / f"{prefix}_{adcName}.nii.gz", np.int16 if adcUnit == "1e-6" else np.float32)
    if withFlair:
        flairName = "FLAIR" if layout == "bids" else "flair"
        paths["flair"] = saveNifti(b0, affine, anatFolder / f"{prefix}_{flairName}.nii.gz")
        writeJson(anatFolder / f"{prefix}_{flairName}.json", dict(ACQUISITION))
    root.mkdir(parents=True, exist_ok=True)
    description = root / "dataset_description.json"
    if not description.exists():
        writeJson(description, {"Name": "test", "BIDSVersion": "1.9.0"})
    return {"paths": paths, "truth": lesion.transpose(2, 1, 0), "affine": affine, "adc": adc.transpose(2, 1, 0)}
