"""``ais validate``: naming, sequences, grids, acquisition metadata and identifiers of a BIDS dataset."""

from .output import emitJson, formatTable, stderrProgress


def addValidateCommand(subparsers) -> None:
    """Register ``ais validate`` on the ``ais`` parser."""
    validate = subparsers.add_parser("validate", help="check a BIDS dataset: names, sequences, geometry, metadata, identifiers")
    validate.add_argument("bidsRoot", metavar="BIDS_ROOT")
    validate.add_argument("--quick", action="store_true", help="read headers only (skip loading every image)")
    validate.add_argument("--json", action="store_true", help="print the findings as JSON")
    validate.set_defaults(handler=runValidate)


def runValidate(args) -> int:
    from ..core.validate import validateDataset

    findings = validateDataset(args.bidsRoot, deep=not args.quick, progress=stderrProgress)
    errors = sum(finding.severity == "error" for finding in findings)
    if args.json:
        emitJson({"errors": errors, "warnings": len(findings) - errors, "findings": [finding.toDict() for finding in findings]})
    else:
        if findings:
            print(formatTable([finding.toDict() for finding in findings], ["severity", "caseId", "code", "message"]))
        print(f"{errors} error(s), {len(findings) - errors} warning(s) in {args.bidsRoot}.")
    return 1 if errors else 0
