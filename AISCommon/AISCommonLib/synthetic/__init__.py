"""Realistic synthetic acute ischemic stroke MRI, written as a BIDS dataset with ground-truth masks, and the demo.

The phantom is a continuous head model (scalp with fat, skull, skull base with sinuses and orbits,
cortex folded by sulci, white matter, deep grey nuclei, ventricles with choroid plexus) defined in a
head frame and sampled on each acquisition grid directly, so DWI (2 mm), FLAIR (0.9 x 0.9 x 5 mm) and
oblique grids all see the same anatomy without resampling. Tissues mix in signal space at their
boundaries (partial volume), DWI is ``b0 * exp(-b * ADC)`` with Rician noise and a bias field, and ADC
is computed from the noisy b0 and DWI the way scanners do it (zero where b0 is background).

It reproduces the traps that make the bare ``ADC < 620e-6 mm^2/s`` rule weak on real scans:
susceptibility pile-up and drop-out at the skull base (DWI-bright, erratic low ADC at the brain
edge), T2 shine-through (DWI-bright, ADC normal or high, FLAIR-bright), old infarcts (FLAIR-bright,
ADC high, DWI not bright), noise dipping single white-matter voxels under the threshold, choroid plexus
with borderline ADC, partial-volume CSF edges, scalp fat with low ADC, and a penumbral rim of the
infarct whose ADC (600-700) sits above the threshold although the rim is DWI-bright and part of the
lesion.

Head frame: millimetres, x to the subject's right, y anterior, z superior, origin at the centre of
the head ellipsoid; it is placed in scanner RAS by a rigid pose. Arrays are ``[k, j, i]``; ADC
values inside this module are in 1e-6 mm^2/s.

Files: ``specs`` (what a case is made of), ``anatomy`` (the head model), ``phantom`` (images on each grid, with
noise and artefacts), ``writer`` (BIDS files and truth), ``scenarios`` (the demo dataset), ``demo`` (the whole
workflow run on it with simulated staff).
"""
