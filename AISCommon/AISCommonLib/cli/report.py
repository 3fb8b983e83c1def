"""``ais report``: the dataset acceptance report (HTML with embedded plots, CSV files, optional PDF).

Exit status 0 when the dataset passes acceptance, 1 when the report was written but the dataset does not
pass yet (incomplete, format or metadata problems, undecided quality proposals), 2 on an error.
"""

import json
import os
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
                    "numbers behind every table and plot as CSV files. --out x.html writes x.html and x_data/ beside it; --out DIR "
                    "writes DIR/report.html and DIR/report_data/. Nothing is left half-written: the files appear together at the end. "
                    "Each case's measures are cached by the content of its files (in the user's cache folder, ~/.cache/ais-annotation/report, "
                    "never in the dataset; safe to delete), so a second run measures only what changed. Plots need matplotlib (pip install 'ais-annotation[report]'); pictures of "
                    "discordant regions need slicer-core.",
    )
    command.add_argument("root", metavar="BIDS_ROOT", help="the BIDS dataset")
    command.add_argument("--out", required=True, metavar="HTML_OR_DIR",
                         help="the report file (e.g. report.html) or a folder to put report.html, report_data/ and report.pdf in")
    command.add_argument("--db", help="workflow database: SQLite file or postgresql+psycopg:// URL (default: $AIS_DB_URL, else the dataset's "
                                      "derivatives/lesions/workflow.sqlite if it exists)")
    command.add_argument("--pdf", action="store_true", help="also write the PDF (summary page and every plot)")
    command.add_argument("--no-snapshots", action="store_true", help="do not picture the discordant regions of adjudicated cases")
    command.add_argument("--min-likert", type=float, default=defaults.minLikert, help="propose exclusion below this mean Likert score (default %(default)g)")
    command.add_argument("--min-snr", type=float, default=defaults.minSnr, help="propose exclusion below this DWI SNR (default %(default)g)")
    command.add_argument("--min-cnr", type=float, default=defaults.minCnr, help="propose exclusion below this DWI lesion CNR (default %(default)g)")
    command.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                         help="processes measuring the cases (default: the number of CPUs, %(default)s here; 1 runs in this process)")
    cache = command.add_mutually_exclusive_group()
    cache.add_argument("--cache-dir", metavar="DIR", help="keep the measure cache here (default: $XDG_CACHE_HOME/ais-annotation/report, "
                                                          "else ~/.cache/ais-annotation/report; never put it inside the dataset)")
    cache.add_argument("--no-cache", action="store_true", help="measure every case again and keep nothing")
    command.add_argument("--json", action="store_true", help="print the summary as one JSON document")
    command.set_defaults(handler=runReport)


def runReport(args) -> int:
    from ..core.errors import InputError
    from ..core.quality import QualityThresholds
    from ..report.report import writeReport
    from .output import stderrProgress

    if args.workers < 1:
        raise InputError(f"--workers must be 1 or more, not {args.workers}.")
    thresholds = QualityThresholds(minLikert=args.min_likert, minSnr=args.min_snr, minCnr=args.min_cnr)
    cache = False if args.no_cache else (Path(args.cache_dir) if args.cache_dir else True)
    result = writeReport(Path(args.root), Path(args.out), args.db, args.pdf, thresholds, not args.no_snapshots, args.workers,
                         progress=stderrProgress, cache=cache)
    if args.json:
        sys.stdout.write(json.dumps(result, indent=2, default=str) + "\n")
    else:
        verdict = "passes acceptance" if result["accepted"] else "does not pass acceptance yet"
        sys.stdout.write(f"Report: {result['html']} ({verdict}); data: {Path(result['csv'][0]).parent if result['csv'] else '-'}"
                         + (f"; PDF: {result['pdf']}" if result["pdf"] else "") + "\n")
        run = result["run"]
        sys.stdout.write(f"  {run['cases']} case(s), {run['cached']} from the cache ({result['cacheFolder'] or 'no cache'}), {run['workers']} worker(s)\n")
        if result["findings"]:
            sys.stdout.write(f"  {len(result['findings'])} finding(s) to fix before signing; the report lists them, e.g.:\n")
            for sentence in result["findings"][:3]:
                sys.stdout.write(f"    {sentence}\n")
        for note in result["notes"]:
            sys.stdout.write(f"  note: {note}\n")
    return 0 if result["accepted"] else EXIT_NOT_ACCEPTED
