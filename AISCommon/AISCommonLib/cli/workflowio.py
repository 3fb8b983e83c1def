"""What every ``ais workflow`` command shares: the store it opens and how it prints."""

import sys

from .output import emitJson, formatTable


def openWorkflowStore(args):
    """The store, with ``args.user`` set to who acts (authenticated in team mode, declared on SQLite)."""
    from ..workflow.store import openStore

    store = openStore(args.db, args.root)
    try:
        if not getattr(args, "identityOnly", False):
            args.user = store.actingUser(args.user)
    except BaseException:
        store.close()
        raise
    return store


def emit(args, data, rows=None, columns=None, text=None) -> None:
    """Print ``data`` as JSON (``--json``), else the table of ``rows`` and the ``text``."""
    if args.json:
        emitJson(data)
        return
    if rows is not None:
        sys.stdout.write(formatTable(rows, columns) + "\n")
    if text:
        sys.stdout.write(text + "\n")


def formatNumber(value, unit: str = "") -> str:
    """A number rounded for people, or ``n/a``."""
    return "n/a" if value is None else f"{value:.3g}{unit}"


def parseDecisionArguments(values) -> dict:
    """``ID=DECISION`` options (``small=DECISION`` for every small region) as a decisions dict.

    :raises InputError: an option written otherwise.
    """
    from ..core import reviewrule
    from ..core.errors import InputError

    decisions = {}
    for value in values:
        regionId, separator, decision = value.partition("=")
        regionId = regionId.strip()
        if not separator or not (regionId.isdigit() or regionId == reviewrule.GROUP_SMALL):
            raise InputError(f"A decision is written REGION_ID=keep|drop|edited (or small=keep|drop for every small region), not '{value}'.")
        decisions[int(regionId) if regionId.isdigit() else regionId] = decision.strip()
    return decisions
