"""Case routing for the dual-reader consensus: two blind reads, a senior review, arbitration, audit trail.

``store.WorkflowStore`` is the one entry point every client (Slicer modules, ``ais workflow``) goes
through; ``states`` holds the state machine, ``people`` the roles and qualification rules, ``schema``
the versioned database tables. SQLAlchemy is imported lazily, so importing this package is cheap.
"""
