"""``ais review-snapshot``: one picture per discordant region of a case, for the review and the acceptance report.

Each picture shows DWI, ADC, eADC and FLAIR centred on the region with both reads outlined in their
colours (reader A blue, reader B amber), and a caption with the region's size, place and author.
slicer-core is imported only when the command runs.
"""

import json
import os
import sys
from pathlib import Path

from ..core.cases import selectCase
from ..core.derivatives import selectReads
from ..core.errors import InputError
from ..mrml.availability import requireSlicerCore
from .output import stderrProgress

#: Most picture processes ``--workers`` accepts (each holds the case and a render window: ~0.5 GB).
MAX_WORKERS = 16


def defaultWorkers() -> int:
    """Half the CPUs, at least 1 and at most 4: one picture process already keeps ~1.6 CPUs busy (its PNG writer thread
    and the software OpenGL's threads run beside it), so on 2 CPUs a second process only adds its start-up."""
    return max(1, min(4, (os.cpu_count() or 1) // 2))


def addReviewSnapshotCommand(subparsers) -> None:
    """Register ``ais review-snapshot`` on the ``ais`` parser."""
    from ..core.agreement import DEFAULT_MIN_EXTENT_MM3

    command = subparsers.add_parser(
        "review-snapshot", help="render each discordant region of a case (4 sequences, both reads outlined) to PNGs (needs slicer-core)",
        description="Compare two reads of one case and render, for each discordant region (the small ones too), the "
                    "DWI/ADC/eADC/FLAIR views centred on the region with reader A outlined in blue and reader B in amber; one PNG "
                    "per region, captioned with the region's size, slice and side (and lobe or territory with --location-labels) "
                    "and which reader drew it.",
    )
    command.add_argument("target", metavar="CASE_OR_BIDS_ROOT", help="a BIDS root, or a sub-<label>[/ses-<label>] folder")
    command.add_argument("--participant-label", metavar="LABEL", help="the subject when the root holds several")
    command.add_argument("--session-label", metavar="LABEL", help="the session when the subject has several")
    command.add_argument("--reader-a", metavar="ID", help="reader A (default: the first of the two readers with masks)")
    command.add_argument("--reader-b", metavar="ID", help="reader B (default: the other one)")
    command.add_argument("--mask-a", metavar="PATH", help="read A as a NIfTI file instead of the derivatives")
    command.add_argument("--mask-b", metavar="PATH", help="read B as a NIfTI file instead of the derivatives")
    command.add_argument("--min-extent-mm3", type=float, default=DEFAULT_MIN_EXTENT_MM3, metavar="V",
                         help="extent regions smaller than V mm^3 are marked small (default %(default)g)")
    command.add_argument("--skip-small", action="store_true", help="picture only the regions at or above the size limit (small ones are still listed)")
    command.add_argument("--location-labels", metavar="PATH",
                         help="a label map on the DWI grid naming lobes or territories (e.g. an atlas the site registered to the case); "
                              "names from the .tsv beside it (BIDS dseg) or --location-names. Without it no atlas is assumed.")
    command.add_argument("--location-names", metavar="TSV", help="the label names (tab-separated columns index and name)")
    command.add_argument("--tile-size", type=int, default=320, metavar="PIXELS", help="width and height of each view (default %(default)s)")
    command.add_argument("--adc-unit", help="override ADC unit detection: 1e-6 (also um2/s), 1e-3 or mm2/s")
    command.add_argument("--workers", type=int, default=defaultWorkers(), metavar="N",
                         help="processes drawing pictures, each with its own render window, for cases with many regions (default "
                              "%(default)s here: half the CPUs, at most 4, since one process keeps about 1.6 CPUs busy)")
    command.add_argument("--out-dir", required=True, metavar="DIR", help="folder for the pictures (created)")
    command.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    command.set_defaults(handler=runReviewSnapshot)


def runReviewSnapshot(args) -> int:
    if args.tile_size < 64 or args.tile_size > 2048:
        raise InputError(f"--tile-size {args.tile_size} is out of range; use 64 to 2048 pixels.")
    if args.workers < 1 or args.workers > MAX_WORKERS:
        raise InputError(f"--workers {args.workers} is out of range; use 1 to {MAX_WORKERS} processes.")
    if args.location_names and not args.location_labels:
        raise InputError("--location-names needs --location-labels (the label map the names belong to).")
    if bool(args.mask_a) != bool(args.mask_b):
        raise InputError("Give both --mask-a and --mask-b, or neither (then the derivatives are used).")
    requireSlicerCore()
    case = selectCase(args.target, args.participant_label, args.session_label)
    if args.mask_a:
        (readerA, pathA), (readerB, pathB) = (args.reader_a or "A", Path(args.mask_a)), (args.reader_b or "B", Path(args.mask_b))
    else:
        root = Path(args.target)
        while root.name.startswith(("sub-", "ses-")):
            root = root.parent
        (readerA, pathA), (readerB, pathB) = selectReads(root, case, args.reader_a, args.reader_b)
    from ..mrml.regionsnapshot import makeReviewSnapshots

    summary = makeReviewSnapshots(case, args.out_dir, pathA, pathB, (readerA, readerB), args.min_extent_mm3, args.tile_size, args.adc_unit,
                                  progress=stderrProgress, includeSmall=not args.skip_small, labelMapPath=args.location_labels,
                                  labelTablePath=args.location_names, workers=args.workers)
    if args.json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
        return 0
    small = sum(1 for region in summary["regions"] if region["small"])
    sys.stdout.write(f"{case.caseId}: reader A {readerA} (blue), reader B {readerB} (amber), Dice {summary['dice']:.3f}, "
                     f"{len(summary['regions'])} discordant region(s) pictured ({small} small).\n")
    names = {"A": f"A ({readerA})", "B": f"B ({readerB})"}
    for region in summary["regions"]:
        place = f"slice {region['slice']}/{region['slice_count']} {region['side']}" + (f", {region['label']}" if region["label"] else "")
        sys.stdout.write(f"  {region['title']}{' (small)' if region['small'] else ''}: {region['voxels']} voxels, {region['volume_ml']:.3f} mL, "
                         f"{place}, drawn by {names[region['drawn_by']]} only: {region['png']}\n")
    return 0
