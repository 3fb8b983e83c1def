"""Scene-level code only the review module uses (slicer-core classes, no Qt): the reviewer's session."""
