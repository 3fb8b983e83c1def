"""``ais validate``: naming, sequences, grids, acquisition metadata and identifiers of a BIDS dataset, and every
choice made in reading each case, in words."""

from .output import emitJson, formatTable, stderrProgress


def addValidateCommand(subparsers) -> None:
    """Register ``ais validate`` on the ``ais`` parser."""
    from ..core.validate import ValidationLimits

    defaults = ValidationLimits()
    validate = subparsers.add_parser(
        "validate",
        help="check a BIDS dataset: names, sequences, geometry, metadata, identifiers; say how each case is read",
        description="Errors (exit 1) are format problems; acquisition limits are judgements and give warnings.",
    )
    validate.add_argument("bidsRoot", metavar="BIDS_ROOT")
    validate.add_argument("--quick", action="store_true", help="read headers only (skip loading every image)")
    validate.add_argument("--json", action="store_true", help="print the findings (choices included) as JSON")
    validate.add_argument("--no-choices", action="store_true", help="list problems only, not how each case is read")
    validate.add_argument("--min-field-strength", type=float, default=defaults.minFieldStrengthT, metavar="T",
                          help="warn below this field strength (default %(default)g T)")
    validate.add_argument("--max-slice-thickness", type=float, default=defaults.maxSliceThicknessMm, metavar="MM",
                          help="warn above this slice thickness (default %(default)g mm)")
    validate.add_argument("--max-gap-fraction", type=float, default=defaults.maxGapFraction, metavar="F",
                          help="warn when the gap between slices exceeds this fraction of the thickness (default %(default)g)")
    validate.add_argument("--min-fov-overlap", type=float, default=defaults.minFieldOfViewOverlap, metavar="F",
                          help="warn when FLAIR/T1w/T2w covers less of the DWI field of view (default %(default)g)")
    validate.add_argument("--max-image-mib", type=float, metavar="MIB",
                          help="refuse images declaring more voxel data (default 1024 MiB, or AIS_MAX_IMAGE_MIB)")
    validate.set_defaults(handler=runValidate)


def runValidate(args) -> int:
    from ..core.imagelimits import ImageLimits
    from ..core.validate import ValidationLimits, validateDataset

    limits = ValidationLimits(
        minFieldStrengthT=args.min_field_strength, maxSliceThicknessMm=args.max_slice_thickness, maxGapFraction=args.max_gap_fraction,
        minFieldOfViewOverlap=args.min_fov_overlap, imageLimits=ImageLimits.fromMib(args.max_image_mib) if args.max_image_mib is not None else None,
    ).validated()
    findings = validateDataset(args.bidsRoot, deep=not args.quick, progress=stderrProgress, limits=limits, choices=not args.no_choices)
    errors = sum(finding.severity == "error" for finding in findings)
    warnings = sum(finding.severity == "warning" for finding in findings)
    if args.json:
        emitJson({"errors": errors, "warnings": warnings, "findings": [finding.toDict() for finding in findings]})
        return 1 if errors else 0
    choices = [finding for finding in findings if finding.severity == "info"]
    problems = [finding for finding in findings if finding.severity != "info"]
    currentCase = None
    for finding in choices:
        if finding.caseId != currentCase:
            currentCase = finding.caseId
            print(f"{currentCase or 'dataset'}: how it is read")
        topic = finding.code.removeprefix("choice-")
        print(f"  {topic}: {finding.message}")
    if choices:
        print()
    if problems:
        print(formatTable([finding.toDict() for finding in problems], ["severity", "caseId", "code", "message"]))
    print(f"{errors} error(s), {warnings} warning(s) in {args.bidsRoot}.")
    return 1 if errors else 0
