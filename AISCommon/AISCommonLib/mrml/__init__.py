"""Bridge between the core library and MRML: core volumes and masks to and from scene nodes.

Functions here may import ``slicer`` and ``vtk`` for MRML node and logic classes only; they receive the
scene or the nodes as arguments and never touch the application (no ``qt``, ``ctk``, ``slicer.app``,
``slicer.mrmlScene`` or ``slicer.modules``), so they run and are tested with the ``slicer-core`` wheel.
"""
