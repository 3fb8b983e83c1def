"""``ais snapshot``: a picture of the reading layout of one case, rendered offscreen with Slicer's slice logic.

slicer-core (``pip install 'ais-annotation[mrml]'``) is imported only when the command runs, so the
rest of ``ais`` works without it.
"""

import sys

from ..core.cases import selectCase
from ..core.errors import InputError
from ..mrml.availability import requireSlicerCore

LAYOUT_CHOICES = ("2x2", "4x3", "dwi-adc")


def addSnapshotCommand(subparsers) -> None:
    """Register ``ais snapshot`` on the ``ais`` parser."""
    snapshot = subparsers.add_parser(
        "snapshot", help="render the linked reading views of one case to a PNG (offscreen, needs slicer-core)",
        description="Render the linked DWI/ADC/eADC/FLAIR views of one case at a RAS point (default: the centre of the "
                    "largest lesion of the mask, else of the ADC seed) with the mask outlined, into one PNG.",
    )
    snapshot.add_argument("target", metavar="CASE_OR_BIDS_ROOT", help="a BIDS root, or a sub-<label>[/ses-<label>] folder")
    snapshot.add_argument("--participant-label", metavar="LABEL", help="the subject to show when the root holds several")
    snapshot.add_argument("--session-label", metavar="LABEL", help="the session to show when the subject has several")
    snapshot.add_argument("--mask", metavar="PATH", help="binary NIfTI mask on the DWI grid to outline (default: the ADC seed)")
    snapshot.add_argument("--layout", choices=LAYOUT_CHOICES, default="2x2", help="2x2 axial, 4x3 multiplanar or DWI/ADC (default %(default)s)")
    snapshot.add_argument("--ras", nargs=3, type=float, metavar=("R", "A", "S"), help="centre of the views in RAS mm")
    snapshot.add_argument("--tile-size", type=int, default=320, metavar="PIXELS", help="width and height of each view (default %(default)s)")
    snapshot.add_argument("--adc-unit", help="override ADC unit detection: 1e-6 (also um2/s), 1e-3 or mm2/s")
    snapshot.add_argument("--out", required=True, metavar="PNG", help="picture to write")
    snapshot.set_defaults(handler=runSnapshot)


def runSnapshot(args) -> int:
    if args.tile_size < 64 or args.tile_size > 2048:
        raise InputError(f"--tile-size {args.tile_size} is out of range; use 64 to 2048 pixels.")
    requireSlicerCore()
    case = selectCase(args.target, args.participant_label, args.session_label)
    from ..mrml.snapshot import renderCaseSnapshot

    summary = renderCaseSnapshot(case, args.out, args.mask, args.layout, args.ras, args.tile_size, args.adc_unit)
    centre = " ".join(f"{value:g}" for value in summary["centerRas"])
    sys.stdout.write(f"Wrote {summary['out']} ({summary['layout']}, {case.caseId}, centre RAS {centre}, outline: {summary['outlined']}).\n")
    return 0
