"""Pure-Python rules: cases, ADC units, geometry, seeding, masks, agreement, quality. No Slicer, VTK, Qt or database."""
