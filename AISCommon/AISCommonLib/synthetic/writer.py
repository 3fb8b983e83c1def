"""A phantom case on disk: NIfTI images, sidecars, bval/bvec and ground truth in BIDS (or the ISLES-style flat layout).
"""

import os
from pathlib import Path

import numpy as np

from ..core.adcunits import MICRO, AdcUnit, unitByKey
from ..core.atomicio import atomicWritePath, writeJsonAtomic, writeTextAtomic
from ..core.errors import InputError
from ..core.image import writeNifti
from .phantom import PhantomImages
from .specs import PhantomSpec

LAYOUTS = ("bids", "bidsUpperAdc", "flat")


_MANUFACTURER = {"Manufacturer": "Synthetic", "ManufacturersModelName": "AISPhantom", "ConversionSoftware": "AISCommonLib.synthetic.phantom"}


def _toInt16(array) -> np.ndarray:
    return np.rint(np.clip(array, 0, 32767)).astype(np.int16)


def _writeSeries(frames: np.ndarray, ijkToRas: np.ndarray, path: Path, repetitionTimeS: float) -> None:
    """Write a ``[t, k, j, i]`` series as 4D NIfTI (qform = sform), atomically."""
    import nibabel as nib

    image = nib.Nifti1Image(np.ascontiguousarray(frames.transpose(3, 2, 1, 0)), ijkToRas)
    image.set_qform(ijkToRas, code=1)
    image.set_sform(ijkToRas, code=1)
    image.header.set_xyzt_units(xyz="mm", t="sec")
    zooms = list(image.header.get_zooms())
    image.header.set_zooms((*zooms[:3], repetitionTimeS))
    with atomicWritePath(path) as temporaryPath:
        nib.save(image, os.fspath(temporaryPath))


def _dwiSidecar(spec: PhantomSpec, imageType: list, inSidecarB: bool) -> dict:
    threeTesla = spec.fieldStrengthT >= 2.0
    sidecar = {
        "Modality": "MR",
        "MagneticFieldStrength": spec.fieldStrengthT,
        **_MANUFACTURER,
        "SeriesDescription": "ep2d_diff_trace",
        "ProtocolName": "DWI_axial",
        "ImageType": imageType,
        "ScanningSequence": "EP",
        "SequenceVariant": "SK_SP",
        "SliceThickness": float(spec.dwiSpacingMm[2]),
        "SpacingBetweenSlices": float(spec.dwiSpacingMm[2]),
        "EchoTime": 0.072 if threeTesla else 0.089,
        "RepetitionTime": 5.2 if threeTesla else 4.6,
        "FlipAngle": 90,
        "PhaseEncodingDirection": "j-",
        "EffectiveEchoSpacing": 0.00032,
    }
    if inSidecarB:
        sidecar["DiffusionBValue"] = spec.bValue
    return sidecar


def _flairSidecar(spec: PhantomSpec, contrast: str) -> dict:
    timing = {"flair": (0.09, 9.0, 2.5), "t1w": (0.011, 2.0, 0.8), "t2w": (0.095, 5.0, None)}[contrast]
    sidecar = {
        "Modality": "MR",
        "MagneticFieldStrength": spec.fieldStrengthT,
        **_MANUFACTURER,
        "SeriesDescription": {"flair": "t2_tirm_tra_dark-fluid", "t1w": "t1_flair_tra", "t2w": "t2_tse_tra"}[contrast],
        "ScanningSequence": "SE\\IR" if timing[2] else "SE",
        "SliceThickness": float(spec.flairSpacingMm[2]) - 0.5,
        "SpacingBetweenSlices": float(spec.flairSpacingMm[2]),
        "EchoTime": timing[0],
        "RepetitionTime": timing[1],
        "PhaseEncodingDirection": "i",
    }
    if timing[2]:
        sidecar["InversionTime"] = timing[2]
    return sidecar


def writePhantomCase(
    root,
    subject: str,
    session: str,
    images: PhantomImages,
    layout: str = "bids",
    adcUnit: str = "1e-6",
    dwiSeries: bool = False,
    writeEadc: bool = False,
    description: str = "",
) -> dict:
    """Write one case's images, sidecars and ground truth under a BIDS root.

    Layouts: ``bids`` (``sub/ses/dwi/*_dwi``, ``*_adc``; ``sub/ses/anat/*_FLAIR``), ``bidsUpperAdc``
    (the same with ``*_ADC``) and ``flat`` (ISLES 2022 style: every file in ``sub/ses/`` with lower-case
    suffixes, the b value only in the DWI sidecar). Truth, tissue and trap maps go to
    ``derivatives/phantom-truth/sub/ses/``.

    :param subject: label without ``sub-``. :param session: label without ``ses-``.
    :param adcUnit: :mod:`adcunits` key: ``1e-6`` (int16), ``1e-3`` or ``mm2/s`` (float32).
    :param dwiSeries: write the DWI as a 4D series ``[b0, b]`` with ``.bval``/``.bvec``; otherwise the
        3D trace (with a one-value ``.bval`` in the BIDS layouts).
    :param writeEadc: also write the eADC map (``*_eADC``).
    :return: role -> path of every file written.
    :raises InputError: unknown layout or ADC unit.
    """
    if layout not in LAYOUTS:
        raise InputError(f"Unknown phantom layout '{layout}'; use one of {', '.join(LAYOUTS)}.")
    unit: AdcUnit = unitByKey(adcUnit)
    root = Path(root)
    spec = images.spec
    prefix = f"sub-{subject}_ses-{session}"
    sessionFolder = root / f"sub-{subject}" / f"ses-{session}"
    flat = layout == "flat"
    dwiFolder = sessionFolder if flat else sessionFolder / "dwi"
    anatFolder = sessionFolder if flat else sessionFolder / "anat"
    adcSuffix = "ADC" if layout == "bidsUpperAdc" else "adc"
    paths = {}

    def nifti(role, folder, name, array, ijkToRas, dtype=None):
        path = folder / f"{prefix}_{name}.nii.gz"
        writeNifti(array, ijkToRas, path, dtype)
        paths[role] = path
        return path

    def sidecar(role, niftiPath, data):
        path = niftiPath.with_name(niftiPath.name.replace(".nii.gz", ".json"))
        writeJsonAtomic(path, data)
        paths[role + "Json"] = path

    dwiAffine = images.dwiIjkToRas
    if dwiSeries:
        path = dwiFolder / f"{prefix}_dwi.nii.gz"
        _writeSeries(np.stack([_toInt16(images.b0), _toInt16(images.dwi)]), dwiAffine, path, 5.2)
        paths["dwi"] = path
        bValues, vectors = [0.0, spec.bValue], [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]
        imageType = ["ORIGINAL", "PRIMARY", "DIFFUSION", "NONE"]
    else:
        path = nifti("dwi", dwiFolder, "dwi", _toInt16(images.dwi), dwiAffine)
        bValues, vectors = [spec.bValue], [[0.0, 0.0, 0.0]]
        imageType = ["DERIVED", "PRIMARY", "DIFFUSION", "TRACEW"]
    sidecar("dwi", path, _dwiSidecar(spec, imageType, inSidecarB=flat))
    if not flat:
        bval = path.with_name(path.name.replace(".nii.gz", ".bval"))
        bvec = path.with_name(path.name.replace(".nii.gz", ".bvec"))
        writeTextAtomic(bval, " ".join(f"{value:g}" for value in bValues) + "\n")
        writeTextAtomic(bvec, "\n".join(" ".join(f"{vector[axis]:g}" for vector in vectors) for axis in range(3)) + "\n")
        paths["bval"], paths["bvec"] = bval, bvec

    # Scanners store 1e-6 mm^2/s as integers; the other units only make sense as floats.
    stored = images.adcMicro / np.float32(unit.toMicro)
    stored = _toInt16(stored) if unit == MICRO else stored.astype(np.float32)
    path = nifti("adc", dwiFolder, adcSuffix, stored, dwiAffine)
    sidecar("adc", path, {**_dwiSidecar(spec, ["DERIVED", "PRIMARY", "DIFFUSION", "ADC"], False), "Units": unit.label})
    if writeEadc:
        path = nifti("eadc", dwiFolder, "eADC", images.eadc, dwiAffine, np.float32)
        sidecar("eadc", path, _dwiSidecar(spec, ["DERIVED", "PRIMARY", "DIFFUSION", "EXP"], False))

    for contrast, suffix in (("flair", "flair" if flat else "FLAIR"), ("t1w", "T1w"), ("t2w", "T2w")):
        array = getattr(images, contrast)
        if array is not None:
            path = nifti(contrast, anatFolder, suffix, _toInt16(array), images.flairIjkToRas)
            sidecar(contrast, path, _flairSidecar(spec, contrast))

    truthFolder = root / "derivatives" / "phantom-truth" / f"sub-{subject}" / f"ses-{session}"
    path = truthFolder / f"{prefix}_desc-truth_dwi_lesionmask.nii.gz"
    writeNifti(images.truthMask.astype(np.uint8), dwiAffine, path)
    paths["truth"] = path
    writeJsonAtomic(
        path.with_name(path.name.replace(".nii.gz", ".json")),
        {
            "Description": description or "Ground-truth acute ischemic lesion of a synthetic phantom.",
            "Sources": [str(paths["dwi"].relative_to(root))],
            "LesionVolumeMl": round(images.lesionVolumeMl, 4),
            "AdcUnit": unit.key,
            "BValue": spec.bValue,
            "Traps": list(images.traps),
        },
    )
    paths["tissue"] = truthFolder / f"{prefix}_desc-tissue_dseg.nii.gz"
    writeNifti(images.tissueLabels, dwiAffine, paths["tissue"])
    paths["traps"] = truthFolder / f"{prefix}_desc-traps_dseg.nii.gz"
    writeNifti(images.trapLabels, dwiAffine, paths["traps"])
    return paths
