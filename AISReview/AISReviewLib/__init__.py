"""What only the AISReview module uses; everything shared lives in ``AISCommonLib``."""
