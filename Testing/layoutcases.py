"""Tiny cases in the layouts public datasets ship (importable as ``layoutcases``; pytest puts ``Testing/`` on the path).

Built from :func:`AISCommonLib.synthetic.tinycases.simpleHead`: an OpenNeuro (SOOP-style) case with
``rec-TRACE``/``rec-ADC`` DWI files and a shipped lesion mask, a case with one DWI file per b value, and a
4D diffusion series with directional volumes.
"""

import json
from pathlib import Path

import numpy as np
from testfiles import saveNifti

from AISCommonLib.synthetic.tinycases import ACQUISITION, rotationAffine, simpleHead


def _prefix(subject: str, session: str | None) -> tuple[str, Path]:
    return f"sub-{subject}" + (f"_ses-{session}" if session else ""), Path(f"sub-{subject}") / (f"ses-{session}" if session else "")


def _description(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    if not (root / "dataset_description.json").exists():
        (root / "dataset_description.json").write_text(json.dumps({"Name": "layout test", "BIDSVersion": "1.9.0"}))


def signalAt(bValue: float):
    """The tiny head's signal at ``bValue`` (nibabel order ``[i, j, k]``), noise-free."""
    b0, _, adc, _ = simpleHead()
    return (b0 * np.exp(-bValue * adc * 1e-6)).astype(np.float32)


def writeOpenNeuroCase(root, subject="1", session=None, maskAffine=None, withRawSeries=False, inheritedSidecar=True) -> dict:
    """A SOOP-style case: ``dwi/sub-1_rec-TRACE_dwi`` (4D, one volume), ``dwi/sub-1_rec-ADC_dwi``, ``anat/`` FLAIR
    and T1w, and ``derivatives/lesion_masks/.../sub-1_space-TRACE_desc-lesion_mask`` (plus a brain mask that is not a
    lesion reference).

    :param maskAffine: write the shipped lesion mask on another grid.
    :param withRawSeries: also ship the raw 4D series ``sub-1_dwi`` (b0 + three directions, ``.bval``/``.bvec``).
    :param inheritedSidecar: the DWI's b value and acquisition fields come from a dataset-level ``rec-TRACE_dwi.json``.
    :return: ``{"paths": {...}, "truth": bool [i, j, k], "affine"}``.
    """
    root = Path(root)
    _description(root)
    affine = rotationAffine()
    b0, dwi, adc, lesion = simpleHead()
    prefix, folder = _prefix(subject, session)
    paths = {
        "dwi": saveNifti(dwi[..., np.newaxis], affine, root / folder / "dwi" / f"{prefix}_rec-TRACE_dwi.nii.gz"),
        "adc": saveNifti(adc, affine, root / folder / "dwi" / f"{prefix}_rec-ADC_dwi.nii.gz", dtype=np.int16),
        "flair": saveNifti(b0, affine, root / folder / "anat" / f"{prefix}_FLAIR.nii.gz"),
        "t1w": saveNifti(b0, affine, root / folder / "anat" / f"{prefix}_T1w.nii.gz"),
    }
    sidecar = {**ACQUISITION, "DiffusionBValue": 1000}
    if inheritedSidecar:
        (root / "rec-TRACE_dwi.json").write_text(json.dumps(sidecar))
    else:
        paths["dwi"].with_name(f"{prefix}_rec-TRACE_dwi.json").write_text(json.dumps(sidecar))
    for key in ("flair", "t1w"):
        paths[key].with_name(paths[key].name.replace(".nii.gz", ".json")).write_text(json.dumps(ACQUISITION))
    if withRawSeries:
        series = np.stack([b0, signalAt(1000), signalAt(1000), signalAt(1000)], axis=-1)
        paths["series"] = saveNifti(series, affine, root / folder / "dwi" / f"{prefix}_dwi.nii.gz")
        paths["series"].with_name(f"{prefix}_dwi.bval").write_text("0 1000 1000 1000\n")
    masks = root / "derivatives" / "lesion_masks" / folder / "dwi"
    paths["reference"] = saveNifti(lesion.astype(np.uint8), affine if maskAffine is None else maskAffine,
                                   masks / f"{prefix}_space-TRACE_desc-lesion_mask.nii.gz", dtype=np.uint8)
    paths["brainmask"] = saveNifti((adc > 0).astype(np.uint8), affine, masks / f"{prefix}_space-TRACE_desc-brain_mask.nii.gz", dtype=np.uint8)
    return {"paths": paths, "truth": lesion, "affine": affine}


def writeSplitBCase(root, bValues=(0, 1000), subject="01", session="01", entity="acq", withSidecarB=False) -> dict:
    """One DWI file per b value (``sub-01_ses-01_acq-b0_dwi``, ``..._acq-b1000_dwi``), ADC and FLAIR.

    :param entity: the entity that carries b (``acq``, ``desc``, ``rec``).
    :param withSidecarB: write the b value in each file's sidecar as well.
    :return: ``{"paths": {"b<value>": path, "adc", "flair"}, "affine"}``.
    """
    root = Path(root)
    _description(root)
    affine = rotationAffine()
    b0, _, adc, _ = simpleHead()
    prefix, folder = _prefix(subject, session)
    paths = {}
    for bValue in bValues:
        path = saveNifti(signalAt(bValue), affine, root / folder / "dwi" / f"{prefix}_{entity}-b{bValue:g}_dwi.nii.gz")
        paths[f"b{bValue:g}"] = path
        if withSidecarB:
            path.with_name(path.name.replace(".nii.gz", ".json")).write_text(json.dumps({**ACQUISITION, "DiffusionBValue": bValue}))
    paths["adc"] = saveNifti(adc, affine, root / folder / "dwi" / f"{prefix}_adc.nii.gz", dtype=np.int16)
    paths["flair"] = saveNifti(b0, affine, root / folder / "anat" / f"{prefix}_FLAIR.nii.gz")
    return {"paths": paths, "affine": affine}


def writeSeriesCase(root, bValues, bvecs=None, sidecarB=None, withBval=True, anisotropy=0.0) -> dict:
    """A 4D DWI series ``sub-01_ses-01_dwi`` with the given b value per volume, ADC and FLAIR.

    :param bvecs: ``[volumes, 3]`` gradient directions written to ``.bvec`` (None: no file).
    :param sidecarB: value written as the sidecar's DiffusionBValue (a number or a list).
    :param anisotropy: directional volumes are scaled by ``1 +- anisotropy`` (alternating) around the trace.
    :return: ``{"paths": {"dwi", "adc", "flair"}, "affine", "volumes": [i, j, k, t]}``.
    """
    root = Path(root)
    _description(root)
    affine = rotationAffine()
    b0, _, adc, _ = simpleHead()
    volumes = []
    for index, bValue in enumerate(bValues):
        scale = 1.0 + (anisotropy if index % 2 else -anisotropy) if bValue > 50 else 1.0
        volumes.append(signalAt(bValue) * scale)
    series = np.stack(volumes, axis=-1)
    folder = root / "sub-01" / "ses-01" / "dwi"
    paths = {"dwi": saveNifti(series, affine, folder / "sub-01_ses-01_dwi.nii.gz")}
    if withBval:
        (folder / "sub-01_ses-01_dwi.bval").write_text(" ".join(f"{b:g}" for b in bValues) + "\n")
    if bvecs is not None:
        (folder / "sub-01_ses-01_dwi.bvec").write_text("\n".join(" ".join(f"{v:g}" for v in row) for row in np.asarray(bvecs).T) + "\n")
    if sidecarB is not None:
        (folder / "sub-01_ses-01_dwi.json").write_text(json.dumps({**ACQUISITION, "DiffusionBValue": sidecarB}))
    paths["adc"] = saveNifti(adc, affine, folder / "sub-01_ses-01_adc.nii.gz", dtype=np.int16)
    paths["flair"] = saveNifti(b0, affine, root / "sub-01" / "ses-01" / "anat" / "sub-01_ses-01_FLAIR.nii.gz")
    return {"paths": paths, "affine": affine, "volumes": series}
