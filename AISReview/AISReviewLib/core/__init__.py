"""Pure-Python review rules: reader agreement, discordant regions, consensus. Imports no Slicer, VTK or Qt."""
