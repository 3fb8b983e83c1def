"""Pure-Python rules: cases, ADC units, seeding, geometry, file formats. Imports no Slicer, VTK or Qt."""
