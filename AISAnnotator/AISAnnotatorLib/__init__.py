"""Library behind the AISAnnotator module: case loading, ADC units, seeding, masks (no Slicer needed)."""

__version__ = "0.1.0"

#: Packages the library needs that 3D Slicer does not ship; the module widget installs them with
#: ``slicer.packaging.pip_ensure`` right before the action that needs them. Kept equal to the
#: non-bundled part of pyproject.toml's dependencies by a test.
RUNTIME_REQUIREMENTS = ["nibabel", "SQLAlchemy>=2.0", "psycopg[binary]>=3.1"]
