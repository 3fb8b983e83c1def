"""Qt-side helpers of the AISReview widget (need Slicer's GUI): the background task runner."""
