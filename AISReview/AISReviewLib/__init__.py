"""Library behind the AISReview module: reader agreement, review workflow, reports (no Slicer needed)."""

from AISAnnotatorLib import __version__  # noqa: F401  one version for the whole extension
