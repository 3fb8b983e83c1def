"""``ais seed``: the ADC-threshold seed of each case (or an AI prediction of one case), written as a reader's next mask version."""

import dataclasses
import sys

from ..core.errors import AISError
from .output import emitJson, formatTable, stderrLine, stderrProgress


def addSeedCommand(subparsers) -> None:
    """Register ``ais seed`` on the ``ais`` parser."""
    from ..core.prediction import DEFAULT_PROBABILITY_THRESHOLD

    seed = subparsers.add_parser("seed", help="write the ADC-threshold seed mask of each case for a reader")
    seed.add_argument("bidsRoot", metavar="BIDS_ROOT")
    seed.add_argument("--reader", required=True, help="pseudonymous reader ID (letters and digits), e.g. R01")
    seed.add_argument("--participant-label", nargs="+", metavar="LABEL", help="only these subjects")
    seed.add_argument("--session-label", nargs="+", metavar="LABEL", help="only these sessions")
    addSeedParameterArguments(seed)
    seed.add_argument("--force", action="store_true",
                      help="write the seed even when a forced --adc-unit contradicts the data (otherwise nothing is written)")
    seed.add_argument("--from-prediction", metavar="FILE",
                      help="start from an AI prediction (NIfTI on the DWI grid, e.g. from nnU-Net or MONAI Label) instead of the "
                           "ADC seed: labels are binarised as non-zero (or --prediction-label), probabilities at --prediction-threshold; "
                           "one case only (--participant-label)")
    seed.add_argument("--tool", metavar="NAME", help="with --from-prediction: what made the prediction (recorded with the read)")
    seed.add_argument("--prediction-threshold", type=float, default=DEFAULT_PROBABILITY_THRESHOLD, metavar="P",
                      help="with --from-prediction: probability at or above which a voxel is lesion (default %(default)g)")
    seed.add_argument("--prediction-label", type=int, metavar="L", help="with --from-prediction: the lesion label of a multi-label map")
    seed.add_argument("--json", action="store_true", help="print one summary per case as JSON")
    seed.set_defaults(handler=runSeed)


#: ``--skip`` names of the gated seed's switchable steps -> the parameter values that switch them off.
SKIPPABLE_STEPS = {
    "dwi-gate": {"dwiMinRobustZ": 0.0},
    "brain-edge": {"dropBrainEdge": False},
    "small-components": {"minComponentMm3": 0.0},
    "component-contrast": {"componentMinRobustZ": 0.0},
    "csf-border": {"maxCsfBorderFraction": 1.0},
    "skull-base": {"maxEdgeFraction": 1.0},
    "fill-holes": {"fillHoles": False},
}


def addSeedParameterArguments(parser) -> None:
    """The seed parameters as options, defaults from :class:`SeedParameters`."""
    from ..core.seeding import SEED_MODES, SeedParameters

    defaults = SeedParameters()
    parser.add_argument("--mode", choices=SEED_MODES, default=defaults.mode,
                        help="gated: the rule plus clean-up steps (default); plain: ADC below the threshold inside the brain, nothing else")
    parser.add_argument("--threshold", type=float, default=defaults.thresholdMm2PerS, metavar="MM2_PER_S",
                        help="ADC threshold in mm^2/s (default %(default)g = 620e-6; shown in the file's unit too)")
    parser.add_argument("--adc-unit", help="override ADC unit detection: 1e-6 (also um2/s), 1e-3 or mm2/s")
    parser.add_argument("--dwi-z", type=float, default=defaults.dwiMinRobustZ,
                        help="DWI gate: robust SDs above nearby normal tissue (default %(default)g)")
    parser.add_argument("--component-z", type=float, default=defaults.componentMinRobustZ,
                        help="a component's mean DWI contrast must reach this many robust SDs (default %(default)g)")
    parser.add_argument("--min-component-mm3", type=float, default=defaults.minComponentMm3,
                        help="drop seed components smaller than this (default %(default)g mm^3)")
    parser.add_argument("--edge-margin-mm", type=float, default=defaults.edgeMarginMm,
                        help="skull-base rim where artifacts collect (default %(default)g mm)")
    parser.add_argument("--skip", nargs="+", choices=sorted(SKIPPABLE_STEPS), default=[], metavar="STEP",
                        help=f"switch gated steps off: {', '.join(sorted(SKIPPABLE_STEPS))}")


def seedParametersFromArguments(args):
    """Build :class:`SeedParameters` from parsed options (validated)."""
    from ..core.seeding import SeedParameters

    parameters = dataclasses.replace(
        SeedParameters(), mode=args.mode, thresholdMm2PerS=args.threshold, dwiMinRobustZ=args.dwi_z,
        componentMinRobustZ=args.component_z, minComponentMm3=args.min_component_mm3, edgeMarginMm=args.edge_margin_mm,
    )
    for step in args.skip:
        parameters = dataclasses.replace(parameters, **SKIPPABLE_STEPS[step])
    return parameters.validated()


def runSeed(args) -> int:
    from ..core.adcunits import unitByKey
    from ..core.cases import discoverCases
    from ..core.derivatives import validateReaderId
    from ..core.seedmask import seedAndWriteCase

    validateReaderId(args.reader)
    if args.from_prediction:
        return _runFromPrediction(args)
    if args.tool or args.prediction_label is not None:
        raise AISError("--tool and --prediction-label go with --from-prediction.")
    if args.adc_unit:
        unitByKey(args.adc_unit)  # a typo is one error, not one per case
    parameters = seedParametersFromArguments(args)
    cases = discoverCases(args.bidsRoot, args.participant_label, args.session_label)
    summaries, failures = [], []
    for index, case in enumerate(cases):
        stderrProgress(index / len(cases), f"Seeding {case.caseId}")
        try:
            summary = seedAndWriteCase(args.bidsRoot, case, args.reader, parameters, args.adc_unit, force=args.force)
            for warning in summary["warnings"]:
                stderrLine(f"ais: warning: {case.caseId}: {warning}")
            summaries.append(summary)
        except AISError as error:
            failures.append({"caseId": case.caseId, "error": str(error)})
    stderrProgress(1.0, "Done")
    if args.json:
        emitJson({"seeded": summaries, "failed": failures})
    else:
        rows = [{"case": s["caseId"], "mode": s["mode"], "adc unit": s["adcUnit"]["unitLabel"], "threshold": s["threshold"]["inFileUnit"],
                 "components": s["components"], "volume ml": s["volumeMl"],
                 "largest ml": s["componentVolumesMl"][0] if s["componentVolumesMl"] else 0, "mask": s["mask"]} for s in summaries]
        if rows:
            print(formatTable(rows, ["case", "mode", "adc unit", "threshold", "components", "volume ml", "largest ml", "mask"]))
        for failure in failures:
            print(f"ais: error: {failure['error']}", file=sys.stderr)
        print(f"Seeded {len(summaries)} of {len(cases)} case(s) for reader {args.reader}.")
    return 1 if failures else 0


def _runFromPrediction(args) -> int:
    """``ais seed --from-prediction FILE``: one case's starting mask from an AI prediction."""
    from ..core.cases import discoverCases
    from ..core.prediction import writePredictionStart

    cases = discoverCases(args.bidsRoot, args.participant_label, args.session_label)
    if len(cases) != 1:
        listed = ", ".join(case.caseId for case in cases[:6]) + (" ..." if len(cases) > 6 else "")
        raise AISError(f"A prediction belongs to one case, but {len(cases)} match ({listed}); choose it with --participant-label "
                       "(and --session-label).")
    summary = writePredictionStart(args.bidsRoot, cases[0], args.reader, args.from_prediction, args.tool, args.prediction_threshold,
                                   args.prediction_label)
    if args.json:
        emitJson({"seeded": [summary], "failed": []})
    else:
        tool = f" ({summary['tool']})" if summary["tool"] else ""
        print(f"{summary['caseId']}: started {args.reader}'s read from the prediction {summary['file']}{tool}, {summary['kind']}, "
              f"{summary['rule']}: {summary['components']} component(s), {summary['volume_ml']:.2f} mL; written as {summary['mask']}.")
        if not summary["voxels"]:
            print(f"ais: warning: {summary['caseId']}: the prediction marks no lesion; the read starts empty.", file=sys.stderr)
    return 0
