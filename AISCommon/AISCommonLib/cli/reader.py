"""The reader-side ``ais`` commands (validate, seed) and the output helpers every command shares.

The ``ais`` entry point itself lives in ``AISCommonLib.cli.main``, which may import both libraries.
"""

import dataclasses
import json
import sys

from ..core.errors import AISError


def emitJson(data) -> None:
    """Print machine-readable output: one JSON document on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, allow_nan=False) + "\n")


def formatTable(rows: list[dict], columns: list[str]) -> str:
    """Plain fixed-width table for terminals; ``columns`` picks and orders the keys."""
    cells = [[str(row.get(column, "")) for column in columns] for row in rows]
    widths = [max([len(column)] + [len(line[index]) for line in cells]) for index, column in enumerate(columns)]
    lines = ["  ".join(column.ljust(width) for column, width in zip(columns, widths))]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)) for line in cells]
    return "\n".join(line.rstrip() for line in lines)


def stderrProgress(fraction: float, message: str) -> None:
    """Progress callback for terminals: one overwritten line on stderr (silent when not a terminal)."""
    if sys.stderr.isatty():
        sys.stderr.write(f"\r[{fraction:4.0%}] {message[:70]:<70}")
        sys.stderr.flush()
        if fraction >= 1.0:
            sys.stderr.write("\n")


def addCommands(subparsers) -> None:
    """Register the reader-side commands on the ``ais`` parser."""
    validate = subparsers.add_parser("validate", help="check a BIDS dataset: names, sequences, geometry, metadata, identifiers")
    validate.add_argument("bidsRoot", metavar="BIDS_ROOT")
    validate.add_argument("--quick", action="store_true", help="read headers only (skip loading every image)")
    validate.add_argument("--json", action="store_true", help="print the findings as JSON")
    validate.set_defaults(handler=runValidate)

    seed = subparsers.add_parser("seed", help="write the ADC-threshold seed mask of each case for a reader")
    seed.add_argument("bidsRoot", metavar="BIDS_ROOT")
    seed.add_argument("--reader", required=True, help="pseudonymous reader ID (letters and digits), e.g. R01")
    seed.add_argument("--participant-label", nargs="+", metavar="LABEL", help="only these subjects")
    seed.add_argument("--session-label", nargs="+", metavar="LABEL", help="only these sessions")
    addSeedParameterArguments(seed)
    seed.add_argument("--json", action="store_true", help="print one summary per case as JSON")
    seed.set_defaults(handler=runSeed)


def addSeedParameterArguments(parser) -> None:
    """The seed parameters as options, defaults from :class:`SeedParameters`."""
    from ..core.seeding import SeedParameters

    defaults = SeedParameters()
    parser.add_argument("--threshold", type=float, default=defaults.thresholdMm2PerS, metavar="MM2_PER_S",
                        help="ADC threshold in mm^2/s (default %(default)g = 620e-6; shown in the file's unit too)")
    parser.add_argument("--adc-unit", help="override ADC unit detection: 1e-6 (also um2/s), 1e-3 or mm2/s")
    parser.add_argument("--dwi-z", type=float, default=defaults.dwiMinRobustZ,
                        help="DWI gate: robust SDs above normal parenchyma (default %(default)g; 0 = off)")
    parser.add_argument("--min-component-mm3", type=float, default=defaults.minComponentMm3,
                        help="drop seed components smaller than this (default %(default)g mm^3)")
    parser.add_argument("--edge-margin-mm", type=float, default=defaults.edgeMarginMm,
                        help="brain rim where artifacts collect (default %(default)g mm)")


def seedParametersFromArguments(args):
    """Build :class:`SeedParameters` from parsed options (validated)."""
    from ..core.seeding import SeedParameters

    return dataclasses.replace(
        SeedParameters(), thresholdMm2PerS=args.threshold, dwiMinRobustZ=args.dwi_z,
        minComponentMm3=args.min_component_mm3, edgeMarginMm=args.edge_margin_mm,
    ).validated()


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


def seedCase(bidsRoot, case, reader: str, parameters, adcUnit=None, progress=None) -> dict:
    """Seed one case and write it as the reader's next mask version; returns the summary with the path."""
    from ..core.derivatives import writeReaderMask
    from ..core.seeding import seedLesion
    from ..core.sequences import loadCase

    loaded = loadCase(case, adcUnit)
    if loaded.adcUnit.conflictsWithData:
        print(f"ais: warning: {case.caseId}: ADC unit {loaded.adcUnit.unit.label} was forced, but the values look like "
              f"{loaded.adcUnit.detected.label} ({loaded.adcUnit.statistics.describe()}).", file=sys.stderr)
    result = seedLesion(loaded, parameters, progress)
    record = writeReaderMask(bidsRoot, case, result.mask, loaded.dwi, reader, "adc-threshold-seed", result.summary)
    return {**result.summary, "reader": reader, "version": record.version, "mask": str(record.path)}


def runSeed(args) -> int:
    from ..core.adcunits import unitByKey
    from ..core.cases import discoverCases
    from ..core.derivatives import validateReaderId

    validateReaderId(args.reader)
    if args.adc_unit:
        unitByKey(args.adc_unit)  # a typo is one error, not one per case
    parameters = seedParametersFromArguments(args)
    cases = discoverCases(args.bidsRoot, args.participant_label, args.session_label)
    summaries, failures = [], []
    for index, case in enumerate(cases):
        stderrProgress(index / len(cases), f"Seeding {case.caseId}")
        try:
            summaries.append(seedCase(args.bidsRoot, case, args.reader, parameters, args.adc_unit))
        except AISError as error:
            failures.append({"caseId": case.caseId, "error": str(error)})
    stderrProgress(1.0, "Done")
    if args.json:
        emitJson({"seeded": summaries, "failed": failures})
    else:
        rows = [{"case": s["caseId"], "adc unit": s["adcUnit"]["unitLabel"], "threshold": s["threshold"]["inFileUnit"],
                 "components": s["components"], "volume ml": s["volumeMl"], "mask": s["mask"]} for s in summaries]
        if rows:
            print(formatTable(rows, ["case", "adc unit", "threshold", "components", "volume ml", "mask"]))
        for failure in failures:
            print(f"ais: error: {failure['error']}", file=sys.stderr)
        print(f"Seeded {len(summaries)} of {len(cases)} case(s) for reader {args.reader}.")
    return 1 if failures else 0
