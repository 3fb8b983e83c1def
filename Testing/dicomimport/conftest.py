"""Every DICOM import test keeps its de-identification secrets in its own temporary folder, never in the
user's config folder or keyring."""

import pytest


@pytest.fixture(autouse=True)
def secretFolder(tmp_path, monkeypatch):
    """The folder of the file secret store for this test (outside every dataset the test writes)."""
    folder = tmp_path / "secrets"
    monkeypatch.setenv("AIS_DEID_SECRET_DIR", str(folder))
    return folder


@pytest.fixture(scope="session")
def phantom():
    """Phantom volumes for the synthetic DICOM studies: 32x32x8 voxels of 6.5 x 6.5 x 5 mm cover a head;
    the DWI grid is oblique so geometry is tested exactly."""
    import numpy as np

    from AISCommonLib.synthetic.phantom import makePhantom
    from AISCommonLib.synthetic.specs import PhantomSpec

    spec = PhantomSpec(dwiShape=(8, 32, 32), dwiSpacingMm=(6.5, 6.5, 5.0), dwiRotationDeg=(12.0, 0.0, 5.0),
                       flairShape=(8, 32, 32), flairSpacingMm=(6.5, 6.5, 5.0), withT1T2=True)
    return makePhantom(spec, np.random.default_rng(0))
