"""Qt-side helpers of the AISAnnotator widget: status sentences and the progress dialog adapter (need Slicer's GUI)."""
