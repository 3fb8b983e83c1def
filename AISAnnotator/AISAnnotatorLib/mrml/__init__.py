"""Scene-level helpers only the reader's module uses (slicer-core classes, no Qt)."""
