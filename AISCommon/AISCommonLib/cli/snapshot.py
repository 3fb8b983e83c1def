"""``ais snapshot``: a picture of the reading layout of one case, rendered offscreen with Slicer's slice logic.

slicer-core (``pip install 'ais-annotation[mrml]'``) is imported only when the command runs, so the
rest of ``ais`` works without it.
"""

import importlib.util
import os
import sys
from pathlib import Path

from ..core.errors import AISError, InputError

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


def selectCase(target, participantLabel=None, sessionLabel=None):
    """The one case a snapshot shows: from a BIDS root (with labels when it holds several) or a case folder.

    :raises InputError: no case, or several without a label to choose.
    """
    from ..core.cases import discoverCases

    path = Path(target)
    if path.name.startswith("ses-") and path.parent.name.startswith("sub-"):
        root, participantLabel, sessionLabel = path.parent.parent, path.parent.name, path.name
    elif path.name.startswith("sub-"):
        root, participantLabel = path.parent, path.name
    else:
        root = path
    cases = discoverCases(root, [participantLabel] if participantLabel else None, [sessionLabel] if sessionLabel else None)
    if len(cases) > 1:
        listed = ", ".join(case.caseId for case in cases[:8]) + (" ..." if len(cases) > 8 else "")
        raise InputError(f"'{target}' holds {len(cases)} cases ({listed}); choose one with --participant-label (and --session-label).")
    return cases[0]


def requireSlicerCore() -> None:
    """:raises AISError: slicer-core is not installed in this Python."""
    if importlib.util.find_spec("slicer") is None or importlib.util.find_spec("vtk") is None:
        raise AISError("ais snapshot needs the slicer-core package, which is not installed in this Python; "
                       "install it with: pip install 'ais-annotation[mrml]'.")


def makeSnapshot(case, out, maskPath=None, layout: str = "2x2", ras=None, tileSize: int = 320, adcUnit=None) -> dict:
    """Load a case into a headless scene, render its reading layout and write the PNG.

    :param case: the :class:`~AISCommonLib.core.cases.Case`.
    :param out: PNG path.
    :param maskPath: mask to outline (on the DWI grid); None outlines the ADC seed.
    :param layout: ``2x2``, ``4x3`` or ``dwi-adc``.
    :param ras: centre ``(r, a, s)`` in mm; None for the largest lesion (mask, else seed), else the brain's centre.
    :return: summary (case, centre, outlined mask, picture size).
    :raises AISError: slicer-core missing, unreadable inputs, mask off the DWI grid, no OpenGL.
    """
    requireSlicerCore()
    # EGL renders without an X server; the user's choice (OSMesa, X) wins when set.
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    import numpy as np

    from ..core.image import voxelToRas
    from ..core.seeding import seedLesion
    from ..core.sequences import loadCase
    from ..mrml import caseloader, layouts, lesionnav, offscreen, segmentation, snapshot
    from ..mrml.headless import createHeadlessApplication

    loaded = loadCase(case, adcUnit)
    app = createHeadlessApplication()
    caseNodes = caseloader.addCaseToScene(app.scene, loaded)
    segmentationNode = segmentation.createReaderSegmentation(app.scene, caseNodes.dwiNode)
    if maskPath:
        segmentation.importMask(segmentationNode, maskPath, caseNodes.dwiNode)
        outlined = str(maskPath)
    else:
        segmentation.seedSegment(segmentationNode, seedLesion(loaded), caseNodes.dwiNode)
        outlined = "ADC seed"
    mask = segmentation.segmentMask(segmentationNode, caseNodes.dwiNode)
    if ras is None:
        largest = lesionnav.LesionNavigator(mask, loaded.dwi.ijkToRas).next()
        if largest is not None:
            ras = largest.centroidRas
        else:
            ras = voxelToRas(loaded.dwi.ijkToRas, np.argwhere(loaded.brainMask).mean(axis=0) if loaded.brainMask.any()
                             else (np.array(loaded.dwi.gridShape) - 1) / 2.0)
    ras = tuple(round(float(value), 2) for value in ras)
    layoutId = layouts.layoutIdByName(layout)
    layouts.setLayout(app.layoutNode, layoutId)
    app.updateSliceLogics()
    caption = f"{case.caseId}  R {ras[0]:.0f} A {ras[1]:.0f} S {ras[2]:.0f}"
    pixels = snapshot.renderLayout(app.applicationLogic, caseNodes, layoutId, ras, segmentationNode, (tileSize, tileSize), caption)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    offscreen.writePng(pixels, out)
    return {"caseId": case.caseId, "out": str(out), "layout": layout, "centerRas": list(ras), "outlined": outlined,
            "lesionVoxels": int(mask.sum()), "size": [int(pixels.shape[1]), int(pixels.shape[0])]}


def runSnapshot(args) -> int:
    if args.tile_size < 64 or args.tile_size > 2048:
        raise InputError(f"--tile-size {args.tile_size} is out of range; use 64 to 2048 pixels.")
    requireSlicerCore()
    case = selectCase(args.target, args.participant_label, args.session_label)
    summary = makeSnapshot(case, args.out, args.mask, args.layout, args.ras, args.tile_size, args.adc_unit)
    centre = " ".join(f"{value:g}" for value in summary["centerRas"])
    sys.stdout.write(f"Wrote {summary['out']} ({summary['layout']}, {case.caseId}, centre RAS {centre}, outline: {summary['outlined']}).\n")
    return 0
