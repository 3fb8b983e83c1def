"""The statements every claim, submission and review runs, built once per process with bound parameters.

Building a SQLAlchemy statement and its cache key costs about 0.1 ms of Python per execution (150 us against 54 us for
the same statement built once, measured on the users lookup); a claim and a submission run about 25 of them, most while
holding SQLite's write turn, where every client waits for them. The statements are exactly those the store built inline
before; only their construction moved here.

Each function returns a cached statement; execute it with the named parameters its docstring lists.
"""

import functools

from . import schema, states


@functools.cache
def userWithRoles():
    """The user row joined with each of its roles (one row per role; ``held_role`` None without any), and the training
    setting's JSON text (``training_setting``, what a claim asks next). Parameter ``user_id``."""
    from sqlalchemy import bindparam, select

    t = schema.tables()
    training = select(t.settings.c.value).where(t.settings.c.key == "training").scalar_subquery()
    return (select(t.users, t.userRoles.c.role.label("held_role"), training.label("training_setting"))
            .select_from(t.users.outerjoin(t.userRoles, t.userRoles.c.user_id == t.users.c.user_id))
            .where(t.users.c.user_id == bindparam("user_id")))


@functools.cache
def lockedCase(skipLocked: bool = False):
    """The case row, locked for the transaction (``FOR UPDATE [SKIP LOCKED]`` on PostgreSQL). Parameter ``case_id``."""
    from sqlalchemy import bindparam, select

    t = schema.tables()
    return select(t.cases).where(t.cases.c.case_id == bindparam("case_id")).with_for_update(skip_locked=skipLocked)


@functools.cache
def caseSlots(byKind: bool):
    """A case's slots by kind and index. Parameters ``case_id`` (and ``kind`` when ``byKind``)."""
    from sqlalchemy import bindparam, select

    t = schema.tables()
    query = select(t.slots).where(t.slots.c.case_id == bindparam("case_id")).order_by(t.slots.c.kind, t.slots.c.slot_index)
    return query.where(t.slots.c.kind == bindparam("kind")) if byKind else query


@functools.cache
def caseReads():
    """A case's reads in slot order. Parameter ``case_id``."""
    from sqlalchemy import bindparam, select

    t = schema.tables()
    return select(t.reads).where(t.reads.c.case_id == bindparam("case_id")).order_by(t.reads.c.slot_id)


@functools.cache
def setting():
    """One setting's JSON text. Parameter ``key``."""
    from sqlalchemy import bindparam, select

    t = schema.tables()
    return select(t.settings.c.value).where(t.settings.c.key == bindparam("key"))


@functools.cache
def lastEvent():
    """``(id, hash)`` of the newest event."""
    from sqlalchemy import select

    t = schema.tables()
    return select(t.events.c.id, t.events.c.hash).order_by(t.events.c.id.desc()).limit(1)


@functools.cache
def insertEvent():
    """The events insert; parameters: every column of the event."""
    return schema.tables().events.insert()


@functools.cache
def heldSlots():
    """``(case_id, slot_index)`` of the slots of one kind a person holds unfinished. Parameters ``user_id``, ``kind``."""
    from sqlalchemy import bindparam, select

    t = schema.tables()
    return select(t.slots.c.case_id, t.slots.c.slot_index).where(
        t.slots.c.user_id == bindparam("user_id"), t.slots.c.kind == bindparam("kind"), t.slots.c.status == states.SLOT_CLAIMED)


@functools.cache
def resumableCase(kind: str, training: bool):
    """The oldest of some (trial, with ``training``) cases in a state taking slots of ``kind``. Parameter ``case_ids`` (a list)."""
    from sqlalchemy import bindparam, select

    t = schema.tables()
    return (select(t.cases.c.case_id, t.cases.c.revision, t.cases.c.state)
            .where(t.cases.c.case_id.in_(bindparam("case_ids", expanding=True)), t.cases.c.state.in_(states.SLOT_STATES[kind]),
                   t.cases.c.training.is_(bool(training)))
            .order_by(t.cases.c.id))


@functools.cache
def claimSlot():
    """Take an open slot (0 rows when someone took it first). Parameters ``slot_id``, ``user_id``, ``claimed_at``."""
    from sqlalchemy import bindparam

    t = schema.tables()
    return (t.slots.update().where(t.slots.c.id == bindparam("slot_id"), t.slots.c.status == states.SLOT_OPEN, t.slots.c.user_id.is_(None))
            .values(user_id=bindparam("user_id"), status=states.SLOT_CLAIMED, claimed_at=bindparam("claimed_at")))


@functools.cache
def finishSlot():
    """Mark a slot done. Parameters ``slot_id``, ``done_at``."""
    from sqlalchemy import bindparam

    t = schema.tables()
    return t.slots.update().where(t.slots.c.id == bindparam("slot_id")).values(status=states.SLOT_DONE, done_at=bindparam("done_at"))


@functools.cache
def candidateSlots(kind: str):
    """The claim queue of ``kind``, one statement per load level (see ``ClaimsMixin._candidateSlots``): open slots of
    cases in a state taking them, that the person has no slot of a conflicting kind on, in case order (a case's slots
    in no particular order), at most ``limit`` rows. Parameters ``user_id``, ``limit``.

    A level is read from ``case_load`` (taken slots per case and kind, kept by the database's triggers) through its
    index ``(kind, taken, case_seq)``: the walk visits only the cases at that level, in queue order, and stops at the
    limit; counting each case's taken slots instead walked every case waiting for reads once all of them had one.

    :return: the statements of the levels (no taken slot, one, ...) and last the catch-all in full order.
    """
    from sqlalchemy import and_, bindparam, exists, not_, select

    t = schema.tables()
    load = t.caseLoad
    conflictKinds = {states.SLOT_READ: (states.SLOT_READ,), states.SLOT_REVIEW: (states.SLOT_READ,),
                     states.SLOT_ARBITRATION: (states.SLOT_READ, states.SLOT_REVIEW)}[kind]
    mine = t.slots.alias("mine")
    query = (
        select(t.slots.c.id, t.slots.c.case_id, t.slots.c.slot_index)
        .select_from(load.join(t.slots, and_(t.slots.c.case_id == load.c.case_id, t.slots.c.kind == load.c.kind))
                     .join(t.cases, t.cases.c.case_id == load.c.case_id))
        .where(
            load.c.kind == kind,
            t.slots.c.status == states.SLOT_OPEN,
            t.cases.c.state.in_(states.SLOT_STATES[kind]),
            t.cases.c.training.is_(False),
            not_(exists().where(mine.c.case_id == t.slots.c.case_id, mine.c.user_id == bindparam("user_id"),
                                mine.c.kind.in_(conflictKinds + (kind,)))),
        )
        .limit(bindparam("limit"))
    )
    # Ordered by the index alone (the caller puts a case's slots in slot order): a sort key the index does not give
    # (slot_index) let PostgreSQL, trusting a stale estimate of one row at that level, sort every row of the level
    # before the limit (71 ms at 10,000 cases) instead of walking the index and stopping at it.
    levels = range(states.READS_PER_CASE if kind == states.SLOT_READ else 1)
    ordered = [query.where(load.c.taken == level).order_by(load.c.case_seq) for level in levels]
    # Whatever else may exist (more taken slots than any rule makes today), in the full order.
    return (*ordered, query.where(load.c.taken >= len(levels)).order_by(load.c.taken, load.c.case_seq))


@functools.cache
def insertRead():
    """The reads insert; parameters: its columns (the id is generated)."""
    return schema.tables().reads.insert()


@functools.cache
def setCaseState(columns: tuple[str, ...]):
    """Move a case to its next state and revision when it still has the revision the caller read (0 rows otherwise).
    Parameters ``target_case_id``, ``expected_revision``, ``state``, ``revision``, ``updated_at`` and each of ``columns``."""
    from sqlalchemy import bindparam

    t = schema.tables()
    return (t.cases.update()
            .where(t.cases.c.case_id == bindparam("target_case_id"), t.cases.c.revision == bindparam("expected_revision"))
            .values(state=bindparam("state"), revision=bindparam("revision"), updated_at=bindparam("updated_at"),
                    **{column: bindparam(column) for column in columns}))


@functools.cache
def insertSlot():
    """A new slot; parameters ``case_id``, ``kind``, ``slot_index``, ``status``."""
    return schema.tables().slots.insert()
