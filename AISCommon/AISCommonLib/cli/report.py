"""``ais report``: the dataset acceptance report (HTML with embedded plots, CSV files, optional PDF).

Exit status 0 when the dataset passes acceptance, 1 when the report was written but the dataset does not
pass yet (incomplete, format or metadata problems, undecided quality proposals), 2 on an error.
"""

import json
import sys
from pathlib import Path

EXIT_NOT_ACCEPTED = 1


def addReportCommand(subparsers) -> None:
    """Register ``ais report`` on the ``ais`` parser."""
    from ..core.quality import QualityThresholds

    defaults = QualityThresholds()
    command = subparsers.add_parser(
        "report", help="dataset acceptance report: completeness, format, metadata, reader agreement, image quality (HTML + CSV)",
        description="Write one self-contained HTML acceptance report of a BIDS dataset and its lesion derivatives, with the "
                    "numbers behind every table and plot as CSV files in <out stem>_data/. Plots need matplotlib "
                    "(pip install 'ais-annotation[report]'); pictures of discordant regions need slicer-core.",
    )
    command.add_argument("root", metavar="BIDS_ROOT", help="the BIDS dataset")
    command.add_argument("--out", required=True, metavar="HTML", help="the report file to write (e.g. report.html)")
    command.add_argument("--db", help="workflow database: SQLite file or postgresql+psycopg:// URL (default: $AIS_DB_URL, else the dataset's "
                                      "derivatives/lesions/workflow.sqlite if it exists)")
    command.add_argument("--pdf", action="store_true", help="also write <out stem>.pdf (summary page and every plot)")
    command.add_argument("--no-snapshots", action="store_true", help="do not picture the discordant regions of adjudicated cases")
    command.add_argument("--min-likert", type=float, default=defaults.minLikert, help="propose exclusion below this mean Likert score (default %(default)g)")
    command.add_argument("--min-snr", type=float, default=defaults.minSnr, help="propose exclusion below this DWI SNR (default %(default)g)")
    command.add_argument("--min-cnr", type=float, default=defaults.minCnr, help="propose exclusion below this DWI lesion CNR (default %(default)g)")
    command.add_argument("--workers", type=int, default=1, help="processes for the reader comparison (default %(default)s)")
    command.add_argument("--json", action="store_true", help="print the summary as one JSON document")
    command.set_defaults(handler=runReport)


def runReport(args) -> int:
    from ..core.quality import QualityThresholds
    from ..report.report import writeReport
    from .output import stderrProgress

    thresholds = QualityThresholds(minLikert=args.min_likert, minSnr=args.min_snr, minCnr=args.min_cnr)
    result = writeReport(Path(args.root), Path(args.out), args.db, args.pdf, thresholds, not args.no_snapshots, args.workers,
                         progress=stderrProgress)
    if args.json:
        sys.stdout.write(json.dumps(result, indent=2, default=str) + "\n")
    else:
        verdict = "passes acceptance" if result["accepted"] else "does not pass acceptance yet"
        sys.stdout.write(f"Report: {result['html']} ({verdict}); data: {Path(result['csv'][0]).parent if result['csv'] else '-'}"
                         + (f"; PDF: {result['pdf']}" if result["pdf"] else "") + "\n")
        for note in result["notes"]:
            sys.stdout.write(f"  note: {note}\n")
    return 0 if result["accepted"] else EXIT_NOT_ACCEPTED
