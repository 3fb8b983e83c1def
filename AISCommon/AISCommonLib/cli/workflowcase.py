"""``ais workflow`` on one case's record: what a reader hands in besides the mask, and what the deciders read."""

from ..core.errors import InputError
from .workflowio import emit, openWorkflowStore


def addReadRecordArguments(parser) -> None:
    """Quality scores, artifact flags, lesion attributes and notes a reader hands in with ``submit`` (as the module records them)."""
    from ..core.lesionattributes import ACUITY, HEMORRHAGIC_TRANSFORMATION, TERRITORIES
    from ..core.readrecord import ARTIFACT_FLAGS, LIKERT_CRITERIA, REQUIRED_LIKERT_SEQUENCES, SCORED_SEQUENCES

    parser.add_argument("--likert", action="append", default=[], metavar="SEQUENCE[.CRITERION]=SCORE",
                        help=f"image quality 1-5 per sequence ({', '.join(SCORED_SEQUENCES)}, or 'all' for every sequence of the case) "
                             f"and criterion ({', '.join(LIKERT_CRITERIA)}); a sequence alone scores all its criteria, e.g. all=4 "
                             f"--likert dwi.motion=2; required for {', '.join(REQUIRED_LIKERT_SEQUENCES)} when the case has them (repeatable)")
    parser.add_argument("--artifact", action="append", default=[], choices=ARTIFACT_FLAGS, help="an artifact you saw (repeatable)")
    parser.add_argument("--lesion", action="append", default=[], metavar="KEY=VALUE[,KEY=VALUE]@R,A,S",
                        help=f"attributes of the lesion of your mask at a point (RAS mm): territory ({', '.join(TERRITORIES)}), "
                             f"ht = hemorrhagic transformation ({', '.join(HEMORRHAGIC_TRANSFORMATION)}), acuity ({', '.join(ACUITY)}); "
                             "e.g. 'territory=mca,ht=no,acuity=acute@-32,10,41' (repeatable, one per lesion)")
    parser.add_argument("--note", action="append", default=[], metavar="TEXT[@R,A,S]",
                        help="a note for the reviewer, optionally at a place (RAS mm), e.g. 'boundary unclear@-32,10,41' (repeatable)")


def _likertScores(values: list, sequences) -> dict:
    """``--likert`` values as ``{sequence: {criterion: score}}``; ``all`` first, then sequences, then single criteria.

    :raises InputError: a value written wrongly.
    """
    from ..core.readrecord import LIKERT_CRITERIA, SCORED_SEQUENCES

    parsed = []
    for value in values:
        item, separator, score = value.partition("=")
        sequence, _, criterion = item.strip().lower().partition(".")
        if not separator or not score.strip().isdigit() or (criterion and criterion not in LIKERT_CRITERIA):
            raise InputError(f"A quality score is written SEQUENCE=SCORE or SEQUENCE.CRITERION=SCORE (criteria: {', '.join(LIKERT_CRITERIA)}; "
                             f"e.g. dwi=4, dwi.motion=2, all=4), not '{value}'.")
        parsed.append((0 if sequence == "all" else 2 if criterion else 1, sequence, criterion, int(score)))
    likert: dict[str, dict] = {}
    for _, sequence, criterion, score in sorted(parsed, key=lambda entry: entry[0]):
        targets = [key for key in SCORED_SEQUENCES if sequences is None or key in sequences] if sequence == "all" else [sequence]
        for target in targets:
            scores = likert.setdefault(target, {})
            for name in [criterion] if criterion else LIKERT_CRITERIA:
                scores[name] = score
    return likert


def _caseSequences(store, caseId: str):
    """The sequence keys of a registered case's images (None when they cannot be found: the submission says why)."""
    from ..core.cases import discoverCases
    from ..core.errors import AISError

    try:
        row = store.case(caseId)
        found = discoverCases(store.datasetRoot, [row["subject"]], [row["session"]] if row["session"] else None)
    except AISError:
        return None
    matches = [case for case in found if case.caseId == caseId]
    return set(matches[0].files) if len(matches) == 1 else None


def readParameters(args, store=None) -> dict:
    """The read record of ``submit``'s options (the time on task is not measured on the command line).

    :param store: the open workflow store: the case's sequences decide which quality scores are required and what
        ``all`` covers (without it, all of :data:`~AISCommonLib.core.readrecord.REQUIRED_LIKERT_SEQUENCES`).
    :raises InputError: a score, flag, lesion or note written wrongly, a required score missing, or a lesion's
        place outside the mask's lesions.
    """
    from ..core.readrecord import buildReadParameters

    sequences = _caseSequences(store, args.case) if store is not None else None
    likert = _likertScores(args.likert, sequences)
    notes = [_note(index, value) for index, value in enumerate(args.note, start=1)]
    lesions = None
    if args.lesion:
        from ..core.image import loadVolume
        from ..core.lesionattributes import parseLesionAttributes, placeLesionAttributes

        attributes = [parseLesionAttributes(value) for value in args.lesion]
        mask = loadVolume(args.mask)
        lesions = placeLesionAttributes(attributes, mask.array > 0, mask.ijkToRas)
    return buildReadParameters(likert, dict.fromkeys(args.artifact, True), notes, None, lesions=lesions, sequences=sequences)


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
