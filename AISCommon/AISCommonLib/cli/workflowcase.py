"""``ais workflow`` on one case's record: what a reader hands in besides the mask, and what the deciders read."""

from ..core.errors import InputError
from .workflowio import emit, openWorkflowStore


def addReadRecordArguments(parser) -> None:
    """Quality scores, artifact flags and notes a reader hands in with ``submit`` (as the module records them)."""
    from ..core.readrecord import ARTIFACT_FLAGS, LIKERT_SEQUENCES

    parser.add_argument("--likert", action="append", default=[], metavar="SEQUENCE=SCORE",
                        help=f"image quality 1-5 per sequence ({', '.join(LIKERT_SEQUENCES)}; repeatable)")
    parser.add_argument("--artifact", action="append", default=[], choices=ARTIFACT_FLAGS, help="an artifact you saw (repeatable)")
    parser.add_argument("--note", action="append", default=[], metavar="TEXT[@R,A,S]",
                        help="a note for the reviewer, optionally at a place (RAS mm), e.g. 'boundary unclear@-32,10,41' (repeatable)")


def readParameters(args) -> dict:
    """The read record of ``submit``'s options (the time on task is not measured on the command line).

    :raises InputError: a score, flag or note written wrongly.
    """
    from ..core.readrecord import buildReadParameters

    likert = {}
    for value in args.likert:
        sequence, separator, score = value.partition("=")
        if not separator or not score.strip().isdigit():
            raise InputError(f"A quality score is written SEQUENCE=SCORE (e.g. dwi=4), not '{value}'.")
        likert[sequence.strip().lower()] = int(score)
    notes = [_note(index, value) for index, value in enumerate(args.note, start=1)]
    return buildReadParameters(likert, dict.fromkeys(args.artifact, True), notes, None)


def _note(index: int, value: str):
    from ..core.readrecord import ReadNote

    text, place = value.rsplit("@", 1) if "@" in value else (value, None)
    ras = None
    if place is not None:
        try:
            ras = tuple(float(part) for part in place.split(","))
        except ValueError:
            ras = ()
        if len(ras) != 3:
            raise InputError(f"A note's place is written TEXT@R,A,S in millimetres, not '{value}'.")
    if not text.strip():
        raise InputError("A note needs some text.")
    return ReadNote(f"N{index}", text.strip(), ras)


def addNotesCommand(add, common) -> None:
    """``ais workflow notes CASE``: the readers' records beside the regions (reviewer, arbiter, panel, manager)."""
    notes = add("notes", "what the readers of a case noted: quality scores, artifacts, notes by region, the hints they saw "
                         "(a reader sees their own only)", _runNotes, (common,))
    notes.add_argument("case", metavar="CASE")


def _runNotes(args) -> int:
    from ..workflow.casetexts import readerNotesText

    with openWorkflowStore(args) as store:
        records = store.readRecords(args.user, args.case)
    emit(args, {"case_id": args.case, "reads": records}, text=readerNotesText(records))
    return 0


def addPanelCommand(add, common) -> None:
    """``ais workflow panel CASE``: convene an arbitration panel, give an opinion, or read the discussion."""
    panel = add("panel", "an arbitration panel: the lead arbiter convenes (--convene), members give opinions (--opinion); "
                         "without options, show the escalation, the panel and its opinions", _runPanel, (common,))
    panel.add_argument("case", metavar="CASE")
    panel.add_argument("--convene", action="append", default=[], metavar="ID",
                       help="lead arbiter: add an arbiter (or the reviewer who escalated) to the panel (repeatable)")
    panel.add_argument("--opinion", metavar="TEXT", help="panel member: your opinion on the case")
    panel.add_argument("--propose", action="append", default=[], metavar="ID=DECISION",
                       help="with --opinion: the decision you would make on a region, keep or drop (repeatable; small=keep|drop)")
    panel.add_argument("--note", help="with --convene: what the panel should look at")


def _runPanel(args) -> int:
    from ..workflow.casetexts import panelText
    from .workflowio import parseDecisionArguments

    if args.propose and not args.opinion:
        raise InputError("--propose goes with --opinion: say what you think as well as what you would decide.")
    with openWorkflowStore(args) as store:
        record = None
        if args.convene:
            record = store.convenePanel(args.user, args.case, args.convene, args.note)
        if args.opinion:
            record = store.addOpinion(args.user, args.case, args.opinion, parseDecisionArguments(args.propose))
        if record is None:
            record = store.panel(args.user, args.case)
    emit(args, record, text=panelText(record))
    return 0
