"""Library shared by the AISAnnotator and AISReview modules, and the ``ais`` command line.

Layers, imports pointing down only: ``core`` (cases, units, seeding, masks, agreement, quality; no Slicer,
no database), then ``workflow``, ``report``, ``dicomimport`` and ``synthetic`` on top of core, ``mrml``
(scene-level code on the slicer-core classes), and ``cli`` (the ``ais`` entry point) at the top.
"""

__version__ = "0.1.0"

#: Who made the extension, as the modules' help and the Extensions Index show it (kept equal to CMake's
#: EXTENSION_CONTRIBUTORS by a test). PLACEHOLDER until the first public release: names and affiliations.
CONTRIBUTORS = ["AIS Annotation maintainers (PLACEHOLDER: names and affiliations before the first public release)"]
#: The project's home page. PLACEHOLDER: the repository is not public yet; replace it (and CMake's
#: AIS_PROJECT_URL) with the real address when it is.
PROJECT_URL = "https://github.com/PLACEHOLDER-OWNER/SlicerAISAnnotation"

#: Packages the library needs that 3D Slicer does not ship; the module widgets install them, after asking,
#: right before the first action that needs them (:mod:`AISCommonLib.dependencies`, which splits them by
#: feature). Kept equal to the non-bundled part of pyproject.toml's dependencies by a test.
RUNTIME_REQUIREMENTS = ["nibabel", "SQLAlchemy>=2.0", "psycopg[binary]>=3.1", "tqdm>=4.66"]
