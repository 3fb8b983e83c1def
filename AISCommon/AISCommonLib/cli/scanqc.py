"""``ais scan-qc``: every scan-parameter check of every case (consensus Table 1), passed or not, in sentences."""

import dataclasses

from .output import emitJson, stderrProgress

#: Option name -> (:class:`ScanLimits` field, metavar, help).
LIMIT_OPTIONS = {
    "--min-field-strength": ("minFieldStrengthT", "T", "lowest field strength"),
    "--max-slice-thickness": ("maxSliceThicknessMm", "MM", "thickest slices"),
    "--max-gap-fraction": ("maxGapFraction", "F", "largest gap between slices as a fraction of the thickness"),
    "--max-dwi-pixel": ("maxDwiPixelMm", "MM", "coarsest DWI in-plane pixel"),
    "--min-dwi-matrix": ("minDwiMatrix", "N", "fewest DWI voxels along an in-plane axis"),
    "--max-anatomical-pixel": ("maxAnatomicalPixelMm", "MM", "coarsest FLAIR/T1w/T2w in-plane pixel"),
    "--min-anatomical-matrix": ("minAnatomicalMatrix", "N", "fewest FLAIR/T1w/T2w voxels along an in-plane axis"),
    "--min-dwi-coverage": ("minDwiCoverageMm", "MM", "shortest cranio-caudal extent of the DWI"),
    "--min-fov-overlap": ("minFieldOfViewOverlap", "F", "fraction of the DWI field of view a FLAIR/T1w/T2w must cover"),
}


def addScanQcCommand(subparsers) -> None:
    """Register ``ais scan-qc`` on the ``ais`` parser."""
    from ..core.scanqc import ScanLimits

    defaults = ScanLimits()
    command = subparsers.add_parser(
        "scan-qc", help="check each case's acquisition against the consensus limits (field strength, slices, resolution, coverage, b values)",
        description="Reads sidecars and headers only. Each check passes, fails (outside a limit: the site decides) or is unknown "
                    "(the metadata is missing). Exit 0, or 1 with --strict when a check fails.")
    command.add_argument("bidsRoot", metavar="BIDS_ROOT")
    command.add_argument("--participant-label", nargs="+", metavar="LABEL", help="only these subjects")
    command.add_argument("--problems-only", action="store_true", help="leave out the checks that pass")
    command.add_argument("--strict", action="store_true", help="exit 1 when any check fails")
    command.add_argument("--json", action="store_true", help="print every finding as JSON")
    for option, (field, metavar, helpText) in LIMIT_OPTIONS.items():
        kind = int if isinstance(getattr(defaults, field), int) else float
        command.add_argument(option, type=kind, default=getattr(defaults, field), metavar=metavar, dest=field,
                             help=f"{helpText} (default %(default)g)")
    command.set_defaults(handler=runScanQc)


def runScanQc(args) -> int:
    from ..core.cases import discoverCases
    from ..core.scanqc import ScanLimits, scanParameterFindings, summarise

    limits = ScanLimits(**{field: getattr(args, field) for field, _, _ in LIMIT_OPTIONS.values()}).validated()
    cases = discoverCases(args.bidsRoot, args.participant_label)
    perCase = {}
    for index, case in enumerate(cases):
        stderrProgress(index / len(cases), f"Checking the scan parameters of {case.caseId}")
        perCase[case.caseId] = scanParameterFindings(case, limits)
    stderrProgress(1.0, "Done")
    failed = sum(summarise(findings)["fail"] for findings in perCase.values())
    if args.json:
        emitJson({"limits": dataclasses.asdict(limits), "failed": failed,
                  "cases": {caseId: {"summary": summarise(findings), "findings": [finding.toDict() for finding in findings]}
                            for caseId, findings in perCase.items()}})
    else:
        marks = {"pass": "ok  ", "fail": "FAIL", "unknown": "?   "}
        for caseId, findings in perCase.items():
            summary = summarise(findings)
            print(f"{caseId}: {summary['pass']} passed, {summary['fail']} failed, {summary['unknown']} unknown")
            for finding in findings:
                if not (args.problems_only and finding.status == "pass"):
                    print(f"  {marks[finding.status]} {finding.message}")
        print(f"{len(perCase)} case(s), {failed} failed check(s).")
    return 1 if args.strict and failed else 0
