"""Case routing for the dual-reader consensus: two blind reads, a senior review, arbitration, audit trail.

``store.WorkflowStore`` is the one entry point every client (Slicer modules, ``ais workflow``) goes
through. It is assembled from one file per responsibility: ``storebase`` (transactions, locks),
``staff`` (people, roles, settings), ``registration``, ``claims``, ``reads``, ``decisions``, ``training``
and ``audit``; ``states`` holds the state machine, ``people`` the role and qualification rules,
``schema`` the versioned tables, ``database`` the backends. SQLAlchemy is imported lazily, so importing
this package is cheap.
"""
