"""``ais quality``: SNR and CNR of each case, the readers' Likert scores per criterion, and the exclusions they call for."""

import shlex

from .output import emitJson, formatTable, stderrProgress


def addQualityCommand(subparsers) -> None:
    """Register ``ais quality`` on the ``ais`` parser."""
    from ..core.quality import QualityThresholds

    defaults = QualityThresholds()
    command = subparsers.add_parser(
        "quality", help="image quality per case: SNR, CNR, readers' Likert scores; proposes exclusions with the reason",
        description="Measures each case (noise from the air background, SNR in normal parenchyma, lesion CNR against a 2-6 mm "
                    "shell) and reads the Likert scores the readers recorded. A case below a limit is proposed for exclusion "
                    "with its reason; a manager records the decision with 'ais workflow exclude'. Nothing is changed here.")
    command.add_argument("bidsRoot", metavar="BIDS_ROOT")
    command.add_argument("--participant-label", nargs="+", metavar="LABEL", help="only these subjects")
    command.add_argument("--min-likert", type=float, default=defaults.minLikert, help="lowest mean Likert score (default %(default)g)")
    command.add_argument("--min-snr", type=float, default=defaults.minSnr, help="lowest DWI SNR (default %(default)g)")
    command.add_argument("--min-cnr", type=float, default=defaults.minCnr, help="lowest DWI lesion CNR (default %(default)g)")
    command.add_argument("--json", action="store_true", help="print one record per case as JSON")
    command.set_defaults(handler=runQuality)


def _round(value, digits: int = 1):
    return "-" if value is None else round(float(value), digits)


def runQuality(args) -> int:
    from ..core.cases import discoverCases
    from ..core.quality import QualityThresholds, assessDataset

    thresholds = QualityThresholds(minLikert=args.min_likert, minSnr=args.min_snr, minCnr=args.min_cnr)
    thresholds.validate()
    cases = discoverCases(args.bidsRoot, args.participant_label)
    records, failures = assessDataset(args.bidsRoot, cases, thresholds, progress=stderrProgress)
    stderrProgress(1.0, "Done")
    if args.json:
        emitJson({"cases": [{**record.toRow(), "low_criteria": record.lowCriteria} for record in records], "failed": failures})
        return 1 if failures else 0
    rows = [{"case": record.caseId, "dwi snr": _round(record.value("dwi", "snr")), "dwi cnr": _round(record.value("dwi", "cnr")),
             "flair snr": _round(record.value("flair", "snr")), "likert": _round(record.likertMean),
             "proposed": record.proposal.reason if record.proposal else ""} for record in records]
    if rows:
        print(formatTable(rows, ["case", "dwi snr", "dwi cnr", "flair snr", "likert", "proposed"]))
    for record in records:
        for problem in record.problems:
            print(f"{record.caseId}: {problem}")
        if record.proposal:
            print(f"{record.caseId}: proposed for exclusion ({record.proposal.reason}): {record.proposal.note} To record it: "
                  f"ais workflow exclude {record.caseId} --reason {record.proposal.reason} --note {shlex.quote(record.proposal.note)}")
    for caseId, error in failures.items():
        print(f"ais: error: {caseId}: {error}")
    proposed = sum(record.proposal is not None for record in records)
    print(f"{len(records)} case(s) measured, {proposed} proposed for exclusion, {len(failures)} could not be loaded.")
    return 1 if failures else 0
