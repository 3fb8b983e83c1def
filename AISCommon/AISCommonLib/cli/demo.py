"""``ais demo``: a synthetic dataset run through every step, with a summary of the results."""

from pathlib import Path

from ..synthetic.demo import READER_CONSERVATIVE, READER_GENEROUS, runDemo
from .output import emitJson, formatTable, stderrProgress


def addDemoCommand(subparsers) -> None:
    """Register ``ais demo``."""
    parser = subparsers.add_parser("demo", help="build a synthetic dataset and run every step on it")
    parser.add_argument("--out", default="ais-demo", help="output folder (default: ./ais-demo; replaced if an earlier demo made it)")
    parser.add_argument("--region-pictures", action="store_true",
                        help="put a picture of every discordant region in the report (needs slicer-core; about 15 s more)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.set_defaults(handler=runDemoCommand)


def _verdict(report: dict) -> str:
    if report["accepted"]:
        return "dataset accepted"
    return f"dataset not accepted yet: {', '.join(report['failedSections'])}; the report says why"


def runDemoCommand(args) -> int:
    summary = runDemo(Path(args.out), progress=stderrProgress, regionPictures=args.region_pictures)
    if args.json:
        emitJson(summary)
        return 0
    columns = ["caseId", "scenario", "adcUnit", "truthMl", "seedMl", "seedDice", "readerDice", "discordantRegions", "route", "finalDice"]
    print(formatTable(summary["cases"], columns))
    validation = summary["validation"]
    print(
        f"\nDataset:      {summary['dataset']} (validated: {validation['errors']} errors, {validation['warnings']} warnings; run 'ais validate' for details)"
        f"\nReader masks: {summary['derivatives']} (seed = version 1, simulated refinement = version 2, readers {READER_GENEROUS} and {READER_CONSERVATIVE})"
        f"\nSeed vs truth: mean Dice {summary['meanSeedDice']} over the cases with a lesion (ADC < 620e-6 mm^2/s, DWI-gated, cleaned)."
        f"\nFinal vs truth: mean Dice {summary['meanFinalDice']} after two blind reads, review and arbitration."
        f"\nWorkflow:     {summary['workflowDatabase']} (audit trail: {summary['verifiedFiles']} files re-hashed, {len(summary['verifyProblems'])} missing or changed; export in {Path(args.out) / 'workflow-export'})"
        f"\nReport:       {summary['report']['html']} ({_verdict(summary['report'])})"
        f"\nSummary:      {Path(args.out) / 'demo-summary.json'}  ({summary['seconds']} s)"
    )
    return 0
