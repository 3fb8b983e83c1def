"""Small file writers for tests: arbitrary arrays as NIfTI (nibabel order) and JSON sidecars.

Importable as ``testfiles`` (pytest puts ``Testing/`` on the path). The tiny synthetic cases themselves are
``AISCommonLib.synthetic.tinycases``, shared with the modules' in-Slicer self-tests.
"""

import json
from pathlib import Path

import numpy as np


def saveNifti(array, affine, path: Path, dtype=np.float32) -> Path:
    """Write ``array`` (nibabel order ``[i, j, k]``) with qform and sform both set to ``affine`` (code 1)."""
    import nibabel as nib

    path.parent.mkdir(parents=True, exist_ok=True)
    image = nib.Nifti1Image(np.asarray(array).astype(dtype), affine)
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    nib.save(image, str(path))
    return path


def writeJson(path: Path, data) -> None:
    path.write_text(json.dumps(data), encoding="utf-8")
