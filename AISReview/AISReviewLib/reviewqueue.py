"""What the review module shows around the workflow store: queues by role, the reviewer's escalation notes
for the arbiter, the dataset summary for the manager, and the rules on notes.

The store enforces who may see and do what (blinding, conflicts of interest, roles); these functions only
read from it and shape the answers for display.
"""

import collections
import statistics

from AISCommonLib.core.errors import InputError
from AISCommonLib.workflow import states

#: Store states listed in each role's queues.
ROLE_QUEUES = {
    states.ROLE_REVIEWER: (states.REVIEW_CONFIRM, states.REVIEW_ADJUDICATE),
    states.ROLE_ARBITER: (states.ARBITRATION,),
}


def queueCounts(store, role: str) -> dict[str, int]:
    """Cases waiting in each queue of a role (``review_confirm``/``review_adjudicate`` or ``arbitration``).

    Counts include cases the user may be in conflict with; :meth:`claimNext` never hands those out.

    :raises InputError: a role without queues.
    """
    if role not in ROLE_QUEUES:
        raise InputError(f"The {role} role has no review queue; use reviewer or arbiter.")
    counts = collections.Counter(case["state"] for case in store.cases() if not case["training"])
    return {state: counts.get(state, 0) for state in ROLE_QUEUES[role]}


def escalationNotes(store, userId: str, caseId: str) -> list[dict]:
    """The review history an arbiter reads: every escalate (and earlier review) event of the case.

    :return: ``{"user", "action", "time", "note"}`` rows, oldest first.
    """
    wanted = {states.ACTION_ESCALATE, states.ACTION_REVIEW, states.ACTION_EXCLUDE, states.ACTION_REOPEN}
    return [{"user": event["user_id"], "action": event["action"], "time": event.get("at"), "note": event["note"] or ""}
            for event in store.events(userId, caseId) if event["action"] in wanted]


def requireNote(note: str, what: str) -> str:
    """The note, stripped.

    :param what: what the note is for, e.g. ``the ruling``.
    :raises InputError: the note is empty.
    """
    if not (note or "").strip():
        raise InputError(f"Write a note for {what} first; it goes into the audit trail.")
    return note.strip()


def datasetSummary(store, userId: str) -> dict:
    """Status counts and per-reader agreement for the dataset manager.

    :param userId: the manager (sees every read; reads of cases they read themselves stay hidden).
    :return: ``{"states": {state: count}, "cases": n, "readers": {reader: {"cases", "meanDice", "minDice",
        "discordant"}}, "meanDice": ...}``; readers' Dice over the compared cases they read.
    """
    cases = [case for case in store.cases() if not case["training"]]
    counts = collections.Counter(case["state"] for case in cases)
    perReader: dict[str, list[tuple[float, bool]]] = collections.defaultdict(list)
    allDice = []
    for case in cases:
        if case["concordant"] is None:
            continue
        comparison = store.case(case["case_id"])["comparison"] or {}
        if "dice" not in comparison:
            continue
        dice = float(comparison["dice"])
        allDice.append(dice)
        for read in store.readsVisibleTo(userId, case["case_id"]):
            perReader[read["user_id"]].append((dice, bool(case["concordant"])))
    readers = {
        reader: {"cases": len(values), "meanDice": statistics.fmean(value for value, _ in values),
                 "minDice": min(value for value, _ in values), "discordant": sum(1 for _, concordant in values if not concordant)}
        for reader, values in sorted(perReader.items())
    }
    return {"states": {state: counts.get(state, 0) for state in states.STATES}, "cases": len(cases), "readers": readers,
            "meanDice": statistics.fmean(allDice) if allDice else None}
