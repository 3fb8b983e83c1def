"""Library shared by the AISAnnotator and AISReview modules, and the ``ais`` command line.

Layers, imports pointing down only: ``core`` (cases, units, seeding, masks, agreement, quality; no Slicer,
no database), then ``workflow``, ``report``, ``dicomimport`` and ``synthetic`` on top of core, ``mrml``
(scene-level code on the slicer-core classes), and ``cli`` (the ``ais`` entry point) at the top.
"""

__version__ = "0.1.0"

#: Packages the library needs that 3D Slicer does not ship; the module widgets install them with
#: ``slicer.packaging.pip_ensure`` right before the action that needs them. Kept equal to the
#: non-bundled part of pyproject.toml's dependencies by a test.
RUNTIME_REQUIREMENTS = ["nibabel", "SQLAlchemy>=2.0", "psycopg[binary]>=3.1", "tqdm>=4.66"]
