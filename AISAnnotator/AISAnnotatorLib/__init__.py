"""What only the AISAnnotator module uses; everything shared lives in ``AISCommonLib``."""
