"""``ais review-snapshot``: one picture per discordant region of a case, for the acceptance report.

Each picture shows DWI, ADC, eADC and FLAIR centred on the region with both reads outlined in their
colours (reader A blue, reader B amber). slicer-core is imported only when the command runs.
"""

import json
import os
import sys
from pathlib import Path

from ..core.errors import InputError
from .snapshot import requireSlicerCore, selectCase


def addReviewSnapshotCommand(subparsers) -> None:
    """Register ``ais review-snapshot`` on the ``ais`` parser."""
    from ..core.agreement import DEFAULT_MIN_EXTENT_MM3

    command = subparsers.add_parser(
        "review-snapshot", help="render each discordant region of a case (4 sequences, both reads outlined) to PNGs (needs slicer-core)",
        description="Compare two reads of one case and render, for each discordant region, the DWI/ADC/eADC/FLAIR views "
                    "centred on the region with reader A outlined in blue and reader B in amber; one PNG per region.",
    )
    command.add_argument("target", metavar="CASE_OR_BIDS_ROOT", help="a BIDS root, or a sub-<label>[/ses-<label>] folder")
    command.add_argument("--participant-label", metavar="LABEL", help="the subject when the root holds several")
    command.add_argument("--session-label", metavar="LABEL", help="the session when the subject has several")
    command.add_argument("--reader-a", metavar="ID", help="reader A (default: the first of the two readers with masks)")
    command.add_argument("--reader-b", metavar="ID", help="reader B (default: the other one)")
    command.add_argument("--mask-a", metavar="PATH", help="read A as a NIfTI file instead of the derivatives")
    command.add_argument("--mask-b", metavar="PATH", help="read B as a NIfTI file instead of the derivatives")
    command.add_argument("--min-extent-mm3", type=float, default=DEFAULT_MIN_EXTENT_MM3, metavar="V",
                         help="hide extent regions smaller than V mm^3 (default %(default)g)")
    command.add_argument("--tile-size", type=int, default=320, metavar="PIXELS", help="width and height of each view (default %(default)s)")
    command.add_argument("--adc-unit", help="override ADC unit detection: 1e-6 (also um2/s), 1e-3 or mm2/s")
    command.add_argument("--out-dir", required=True, metavar="DIR", help="folder for the pictures (created)")
    command.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    command.set_defaults(handler=runReviewSnapshot)


def selectReads(datasetRoot, case, readerA=None, readerB=None) -> tuple[tuple[str, Path], tuple[str, Path]]:
    """The newest masks of the two readers to compare in the dataset's derivatives.

    :return: ``((readerA, pathA), (readerB, pathB))``.
    :raises InputError: fewer than two readers, an unknown reader, or more than two without a choice.
    """
    from ..core.derivatives import latestReaderMasks

    latest = latestReaderMasks(datasetRoot, case)
    if len(latest) < 2:
        raise InputError(f"{case.caseId} has {len(latest)} read(s) in derivatives/lesions; two are needed.")
    for reader in (readerA, readerB):
        if reader is not None and reader not in latest:
            raise InputError(f"Reader '{reader}' has no mask of {case.caseId} (readers: {', '.join(sorted(latest))}).")
    chosen = [reader for reader in (readerA, readerB) if reader]
    others = [reader for reader in sorted(latest) if reader not in chosen]
    if len(chosen) + len(others) > 2 and len(chosen) < 2:
        raise InputError(f"{case.caseId} has masks of {len(latest)} readers ({', '.join(sorted(latest))}); choose --reader-a and --reader-b.")
    readers = (chosen + others)[:2]
    return tuple((reader, Path(latest[reader].path)) for reader in readers)


def makeReviewSnapshots(case, outDir, pathA, pathB, readerIds=("A", "B"), minExtentMm3=None, tileSize: int = 320, adcUnit=None,
                        progress=None) -> dict:
    """Load a case and two reads into a headless scene and write one PNG per discordant region.

    :param case: the :class:`~AISCommonLib.core.cases.Case`.
    :param outDir: folder for ``<case>_region-<id>.png`` (created).
    :param pathA: read A (binary NIfTI on the DWI grid).
    :param pathB: read B.
    :param readerIds: pseudonymous IDs for captions.
    :param minExtentMm3: size limit of extent regions (None: the engine's default).
    :return: summary ``{"caseId", "readers", "dice", "regions": [{"id", "title", "png", ...}], "outDir"}``.
    :raises AISError: slicer-core missing, unreadable inputs, masks off the DWI grid, no OpenGL.
    """
    requireSlicerCore()
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    from ..core.adjudication import regionTitle
    from ..core.agreement import AgreementParameters
    from ..core.sequences import loadCase
    from ..mrml.headless import createHeadlessApplication
    from ..mrml.offscreen import writePng
    from ..mrml.regionsnapshot import renderRegions
    from ..mrml.reviewscene import loadReviewFiles

    parameters = AgreementParameters() if minExtentMm3 is None else AgreementParameters(minExtentMm3=float(minExtentMm3))
    parameters.validate()
    loaded = loadCase(case, adcUnit)
    app = createHeadlessApplication()
    review = loadReviewFiles(app.scene, loaded, pathA, pathB, parameters, readerIds)
    pictures = renderRegions(app, review, tileSize=(tileSize, tileSize), progress=progress)
    outDir = Path(outDir)
    outDir.mkdir(parents=True, exist_ok=True)
    regions = []
    for regionId, pixels in pictures.items():
        region = review.region(regionId)
        path = outDir / f"{case.caseId}_region-{regionId:02d}.png"
        writePng(pixels, path)
        regions.append({"id": regionId, "title": regionTitle(region), "kind": region.kind, "type": region.regionType,
                        "volume_ml": region.volumeMl, "centroid_ras": [round(float(value), 2) for value in region.centroidRas],
                        "png": str(path)})
    return {"caseId": case.caseId, "readers": list(review.readerIds), "dice": review.result.dice,
            "concordant": review.result.concordant, "regions": regions, "outDir": str(outDir)}


def runReviewSnapshot(args) -> int:
    if args.tile_size < 64 or args.tile_size > 2048:
        raise InputError(f"--tile-size {args.tile_size} is out of range; use 64 to 2048 pixels.")
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
    summary = makeReviewSnapshots(case, args.out_dir, pathA, pathB, (readerA, readerB), args.min_extent_mm3, args.tile_size, args.adc_unit)
    if args.json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
        return 0
    sys.stdout.write(f"{case.caseId}: reader A {readerA} (blue), reader B {readerB} (amber), Dice {summary['dice']:.3f}, "
                     f"{len(summary['regions'])} discordant region(s).\n")
    for region in summary["regions"]:
        sys.stdout.write(f"  {region['title']} ({region['volume_ml']:.2f} ml): {region['png']}\n")
    return 0
