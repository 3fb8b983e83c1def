"""Tiny synthetic cases in every layout the library accepts: an ellipsoid brain, a ventricle, one lesion.

Written in milliseconds, so that file-handling tests, the command-line tests and the modules' in-Slicer
self-tests all share one case (seed quality is measured on the realistic phantoms and on real scans).
Written with :func:`AISCommonLib.core.image.writeNifti`, so nibabel is not needed inside Slicer.
"""

import json
from pathlib import Path

import numpy as np

from ..core.image import nibabelToKji, writeNifti

#: Grid of a tiny case, ``(i, j, k)`` voxels.
SHAPE_IJK = (40, 44, 20)
#: Factor from 1e-6 mm^2/s to each storage unit of ADC.
ADC_SCALE = {"1e-6": 1.0, "1e-3": 1e-3, "mm2/s": 1e-6}
#: Acquisition metadata every tiny case's sidecars carry (meets the consensus limits).
ACQUISITION = {"MagneticFieldStrength": 3.0, "SliceThickness": 4.0, "EchoTime": 0.08, "RepetitionTime": 5.0}


def rotationAffine(spacing=(2.0, 2.0, 4.0), anglesDeg=(0.0, 0.0, 0.0), origin=(-40.0, -44.0, -40.0)) -> np.ndarray:
    """An IJK-to-RAS matrix with orthonormal directions: rotation about x, then y, then z (degrees), times spacing (mm)."""
    ax, ay, az = np.deg2rad(anglesDeg)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    affine = np.eye(4)
    affine[:3, :3] = rz @ ry @ rx @ np.diag(spacing)
    affine[:3, 3] = origin
    return affine


def simpleHead(seed: int = 0):
    """The tiny head as arrays ``[i, j, k]`` (nibabel order).

    :return: ``(b0, dwi, adc, lesion)``: b0 and DWI b=1000 (float32), ADC in 1e-6 mm^2/s, the lesion truth (bool).
    """
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


def _write(arrayIjk: np.ndarray, affine: np.ndarray, path: Path, dtype=np.float32) -> Path:
    """Write a nibabel-ordered ``[i, j, k(, t)]`` array; :return: the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writeNifti(np.ascontiguousarray(nibabelToKji(np.asarray(arrayIjk))), affine, path, dtype=dtype)
    return path


def _writeJson(path: Path, data) -> None:
    path.write_text(json.dumps(data), encoding="utf-8")


def writeSimpleCase(root: Path, subject="01", session="01", layout="bids", adcUnit="1e-6", affine=None,
                    bValue=1000.0, series=False, withFlair=True, adcName="adc") -> dict:
    """Write one tiny case into a BIDS root (``dataset_description.json`` made when missing).

    :param layout: ``bids`` (``dwi/`` and ``anat/`` folders) or ``flat`` (files in the session folder, ISLES style).
    :param adcUnit: storage unit of the ADC file (``1e-6``, ``1e-3``, ``mm2/s``).
    :param affine: IJK-to-RAS matrix (default :func:`rotationAffine`).
    :param series: write the DWI as a 4D b0 + b series with a ``.bval`` instead of a 3D image with a sidecar.
    :param adcName: last suffix of the ADC file (e.g. ``ADC``).
    :return: ``{"paths": {"dwi", "adc"[, "flair"]}, "truth": bool [k, j, i], "affine", "adc": 1e-6 mm^2/s [k, j, i]}``.
    """
    root = Path(root)
    affine = rotationAffine() if affine is None else affine
    b0, dwi, adc, lesion = simpleHead()
    prefix = f"sub-{subject}" + (f"_ses-{session}" if session else "")
    folder = root / f"sub-{subject}" / (f"ses-{session}" if session else "")
    dwiFolder = folder / "dwi" if layout == "bids" else folder
    anatFolder = folder / "anat" if layout == "bids" else folder
    paths = {}
    if series:
        paths["dwi"] = _write(np.stack([b0, dwi], axis=-1), affine, dwiFolder / f"{prefix}_dwi.nii.gz")
        (dwiFolder / f"{prefix}_dwi.bval").write_text(f"0 {bValue:g}\n")
    else:
        paths["dwi"] = _write(dwi, affine, dwiFolder / f"{prefix}_dwi.nii.gz")
        _writeJson(dwiFolder / f"{prefix}_dwi.json", {**ACQUISITION, "DiffusionBValue": bValue})
    paths["adc"] = _write(adc * ADC_SCALE[adcUnit], affine, dwiFolder / f"{prefix}_{adcName}.nii.gz", np.int16 if adcUnit == "1e-6" else np.float32)
    if withFlair:
        flairName = "FLAIR" if layout == "bids" else "flair"
        paths["flair"] = _write(b0, affine, anatFolder / f"{prefix}_{flairName}.nii.gz")
        _writeJson(anatFolder / f"{prefix}_{flairName}.json", dict(ACQUISITION))
    root.mkdir(parents=True, exist_ok=True)
    description = root / "dataset_description.json"
    if not description.exists():
        _writeJson(description, {"Name": "test", "BIDSVersion": "1.9.0"})
    return {"paths": paths, "truth": lesion.transpose(2, 1, 0), "affine": affine, "adc": adc.transpose(2, 1, 0)}


def initialiseTeam(store, root, manager: str = "M01", readers=("R01", "R02"), reviewers=("V01",), arbiters=("A01",), concordance=None) -> None:
    """Initialise a workflow store for ``root`` with a team that meets every role's minimum, and register the cases.

    For tests and demonstrations: qualifications are made up (a chief manager and arbiter, attending readers,
    an associate chief reviewer) and training is not required.

    :param concordance: overrides of the default concordance rule.
    """
    from ..workflow.people import Qualification

    store.initialise(root, manager, Qualification("chief", 25.0, 20.0), concordance=concordance, training={"required": False})
    for users, title, role in ((readers, "attending", "reader"), (reviewers, "associate_chief", "reviewer"), (arbiters, "chief", "arbiter")):
        for userId in users:
            store.addUser(manager, userId, Qualification(title, 20.0, 15.0))
            store.grantRole(manager, userId, role)
    store.registerCases(manager)
