"""Synthetic stroke phantoms with ground truth, and the demo that runs the whole workflow on them."""
