"""Pictures of the discordant regions: the four sequences centred on each region, both reads outlined in
their colours (reader A blue, reader B amber), one picture per region, for the review and the acceptance report.

All regions of a case share one scene and one offscreen render window
(:class:`~AISCommonLib.mrml.snapshot.LayoutRenderer`): the views are set up once and each region costs one
frame. Every discordant region is pictured, the small ones too (nothing hidden), each with a caption
saying its size (voxels, mL), where it is (slice, side, and a lobe or territory only when the caller
gives a label map) and which reader drew it.

Where the time goes (``Testing/benchmarks/bench_snapshots.py --stages`` and a CPU profile per thread, 320-pixel
tiles, Mesa llvmpipe, 180 regions of a real case): per region about 32 ms of CPU in this thread (the slice
logics' reslicing and colour mapping ~17-20 ms, segmentation outlines and the OpenGL calls, moving the views),
~22 ms in the PNG writer thread (libpng's filters and zlib) and ~15 ms in the software OpenGL's own threads;
loading the case and setting up the views take about a second once. No stage dominates, and one process already
keeps ~1.6 CPUs busy, so helper processes (``workers``, :mod:`~AISCommonLib.mrml.picturehelpers`), each with its
own scene and window, pay off with 4 or more CPUs; the pictures are the same.

Inside Slicer, do not picture a case's regions in the GUI thread: run ``ais review-snapshot ... --json``
as a separate process (e.g. ``qt.QProcess`` with Slicer's ``PythonSlicer``) and show each PNG when it
exists; the region list stays usable meanwhile.
"""

from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from ..core.adjudication import regionTitle
from ..core.errors import InputError
from ..core.regionlocation import RegionDescription, authorText, describeRegions, labelNames, locationText, sizeText
from .layouts import LAYOUT_2X2_AXIAL, readingViews, setLayout
from .offscreen import singleThreadedFilters
from .reviewscene import OUTLINE_THICKNESS
from .snapshot import LayoutRenderer

#: Width shown around a region (mm): its neighbourhood, large enough to see both reads' outlines in context.
REGION_FIELD_OF_VIEW_MM = 90.0
#: Lines of the caption band under each region picture (see :func:`regionCaption`).
CAPTION_LINES = 4
#: Pictures that may wait for the PNG writer thread (about 1.4 MB each at 320-pixel tiles).
PENDING_PICTURES = 4
#: Fewest regions for which :func:`makeReviewSnapshots` starts helper processes: a helper needs 1.5-2 s to start
#: (Python, slicer-core, its own scene and render window), the time this process draws 30-40 regions.
MIN_REGIONS_FOR_HELPERS = 32


def showReadsOnly(review, outlineThickness: int = OUTLINE_THICKNESS) -> None:
    """Show both reads as outlines only in every view; hide the region and final segmentations."""
    readsDisplay = review.readsNode.GetDisplayNode()
    readsDisplay.RemoveAllViewNodeIDs()
    readsDisplay.SetVisibility(True)
    readsDisplay.SetVisibility2DFill(False)
    readsDisplay.SetVisibility2DOutline(True)
    readsDisplay.SetSliceIntersectionThickness(outlineThickness)
    for node in (review.regionsNode, review.finalNode):
        node.GetDisplayNode().SetVisibility(False)


def picturedRegions(review, includeSmall: bool = True) -> list:
    """The regions to picture, in id order: every discordant region, or only those shown for review.

    :param review: the :class:`~AISCommonLib.mrml.reviewscene.ReviewScene`.
    :param includeSmall: also the regions under the review size limit.
    """
    return list(review.result.allRegions if includeSmall else review.result.regions)


def regionDescriptions(review, labels: dict | None = None) -> dict[int, RegionDescription]:
    """Region id -> :class:`~AISCommonLib.core.regionlocation.RegionDescription` for every discordant region.

    :param labels: region id -> anatomical label name (see :func:`locationLabelNames`), or None.
    """
    result = review.result
    descriptions = describeRegions(result.allRegions, review.caseNodes.loaded.dwi.ijkToRas, result.gridShape, result.smallRegionIds, labels)
    return {description.regionId: description for description in descriptions}


def locationLabelNames(review, labelMap: np.ndarray, names: dict[int, str]) -> dict[int, str]:
    """Region id -> name of the label covering most of the region.

    :param labelMap: int ``[k, j, i]`` on the DWI grid (e.g. a vascular-territory atlas registered to the case).
    :param names: label value -> name.
    """
    regionMap = review.result.regionMap
    return labelNames(regionMap.labels, np.asarray(labelMap)[regionMap.cropSlices], names)


def regionCaption(review, region, description: RegionDescription | None = None) -> str:
    """Caption of a region picture: what, how big, where, who drew it, and the readers' colours.

    Four lines of at most ~70 characters, e.g.::

        Region 3: A only, missed lesion: 12 voxels, 0.096 mL
        Slice 34 of 73, left side
        Drawn by reader A (R01) only; reader B (R02) missed this lesion
        sub-01_ses-01    reader A blue, reader B amber

    :param description: the region's description (computed when None).
    """
    if description is None:
        description = regionDescriptions(review)[region.regionId]
    small = " (small)" if description.small else ""
    location = locationText(description)
    author = authorText(description, review.readerIds)
    return "\n".join([f"{regionTitle(region)}{small}: {sizeText(description)}", location[:1].upper() + location[1:],
                      author[:1].upper() + author[1:], f"{review.caseId}    reader A blue, reader B amber"])


def iterRegionPictures(app, review, regions=None, layoutId: int = LAYOUT_2X2_AXIAL, tileSize=(320, 320), progress=None,
                       labels: dict | None = None):
    """Picture regions one after the other with one render window; yield each picture as soon as it is drawn.

    The layout is switched first and its slice logics created (headless use: ``app`` is the
    :class:`~AISCommonLib.mrml.headless.HeadlessApplication`).

    :param app: the headless application holding the review's scene.
    :param review: the :class:`~AISCommonLib.mrml.reviewscene.ReviewScene`.
    :param regions: the regions to picture (default :func:`picturedRegions`).
    :param layoutId: a reading layout (2x2 axial DWI/ADC/eADC/FLAIR by default).
    :param tileSize: ``(width, height)`` of each view in pixels.
    :param progress: optional ``(fraction, message)`` callable, called before each region and at the end; it may
        raise ``OperationCancelled``, which stops the pictures and releases the render window.
    :param labels: region id -> anatomical label name for the captions, or None.
    :return: a generator of ``(region, description, pixels)``, pixels uint8 RGB ``(height, width, 3)``.
    :raises RenderingError: no OpenGL context.
    """
    regions = picturedRegions(review) if regions is None else list(regions)
    indices = iter(range(len(regions)))

    def nextIndex():
        index = next(indices, None)
        if index is not None:
            _report(progress, index / len(regions), f"Picturing region {regions[index].regionId} of {review.caseId} ({index + 1}/{len(regions)})")
        return index

    pictured = 0
    for _, region, description, pixels in drawClaimedPictures(app, review, regions, nextIndex, layoutId, tileSize, labels):
        pictured += 1
        yield region, description, pixels
    _report(progress, 1.0, f"Pictured {pictured} region(s) of {review.caseId}" if pictured else f"No region of {review.caseId} to picture")


def drawClaimedPictures(app, review, regions, claim, layoutId: int = LAYOUT_2X2_AXIAL, tileSize=(320, 320), labels: dict | None = None):
    """Picture the regions ``claim`` hands out, one render window for all of them.

    The views are set up once (layout, reads shown as outlines, captions' descriptions, the render window), then
    ``claim()`` is asked for the next index into ``regions`` until it returns None: a plain counter in one process,
    or a counter shared with helper processes (:mod:`~AISCommonLib.mrml.picturehelpers`), which may also wait for the
    helpers before it answers None. VTK's image filters run in this thread meanwhile
    (:func:`~AISCommonLib.mrml.offscreen.singleThreadedFilters`).

    :param regions: every region that may be claimed (e.g. :func:`picturedRegions`).
    :param claim: callable returning the next index into ``regions`` to draw, or None when nothing is left.
    :return: a generator of ``(index, region, description, pixels)``.
    :raises RenderingError: no OpenGL context.
    """
    regions = list(regions)
    setLayout(app.layoutNode, layoutId)
    app.updateSliceLogics()
    if not readingViews(app.scene, layoutId) or not regions:
        return
    showReadsOnly(review)
    descriptions = regionDescriptions(review, labels)
    with singleThreadedFilters(), LayoutRenderer(app.applicationLogic, review.caseNodes, layoutId, None, tileSize, REGION_FIELD_OF_VIEW_MM,
                                                 CAPTION_LINES) as renderer:
        while (index := claim()) is not None:
            region = regions[index]
            description = descriptions[region.regionId]
            yield index, region, description, renderer.render(region.centroidRas, regionCaption(review, region, description))


def _report(progress, fraction: float, message: str) -> None:
    if progress:
        progress(fraction, message)


def renderRegion(app, review, regionId: int, layoutId: int = LAYOUT_2X2_AXIAL, tileSize=(320, 320)) -> np.ndarray:
    """Render one region (see :func:`iterRegionPictures`; for many regions use that, it sets the views up once).

    :raises InputError: no such region.
    """
    regions = [region for region in review.result.allRegions if region.regionId == int(regionId)]
    if not regions:
        raise InputError(f"Case {review.caseId} has no discordant region {regionId}.")
    pictures = list(iterRegionPictures(app, review, regions, layoutId, tileSize))
    if not pictures:
        raise InputError(f"Layout {layoutId} has no slice views to picture region {regionId} of case {review.caseId}.")
    return pictures[0][2]


def renderRegions(app, review, layoutId: int = LAYOUT_2X2_AXIAL, tileSize=(320, 320), progress=None, includeSmall: bool = True) -> dict[int, np.ndarray]:
    """Render every discordant region (see :func:`iterRegionPictures`) into memory.

    A picture of 320-pixel tiles takes about 1.4 MB: for many regions prefer :func:`iterRegionPictures` and
    write each picture as it comes (as :func:`makeReviewSnapshots` does).

    :return: region id -> picture.
    """
    regions = picturedRegions(review, includeSmall)
    return {region.regionId: pixels for region, _, pixels in iterRegionPictures(app, review, regions, layoutId, tileSize, progress)}


def picturePath(outDir, caseId: str, regionId: int) -> Path:
    """Where :func:`makeReviewSnapshots` writes a region's picture: ``<outDir>/<case>_region-<id>.png``."""
    return Path(outDir) / f"{caseId}_region-{int(regionId):02d}.png"


class PictureWriter:
    """PNG files written in one thread while the next picture renders (VTK releases the GIL in both).

    At most :data:`PENDING_PICTURES` pictures wait in memory; a failed write raises its own error from the next
    :meth:`submit` or from :meth:`finish`. Leaving the ``with`` block waits for the writes under way, so every file
    that exists is complete (each is written atomically).
    """

    def __init__(self):
        self._executor = ThreadPoolExecutor(max_workers=1)
        self._pending = deque()

    def submit(self, pixels: np.ndarray, path, key=None) -> list:
        """Queue a picture (uint8 RGB ``(height, width, 3)``) for ``path``.

        :param key: what to hand back once the file is written (e.g. the region's index).
        :return: the keys of the pictures whose files were written since the last call.
        :raises AISError: an earlier write failed.
        """
        from .offscreen import writePng

        self._pending.append((key, self._executor.submit(writePng, pixels, path)))
        return self._collect(PENDING_PICTURES)

    def finish(self) -> list:
        """Wait for every queued picture; :return: the keys written since the last call."""
        return self._collect(0)

    def _collect(self, keep: int) -> list:
        written = []
        while len(self._pending) > keep:
            key, future = self._pending.popleft()
            future.result()
            written.append(key)
        return written

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._executor.shutdown(wait=True)
        return False


def likelyRegionCount(maskA: np.ndarray, maskB: np.ndarray) -> int:
    """About how many discordant regions two reads have, without comparing them: the 26-connected components of the
    voxels only A drew plus those of the voxels only B drew (the agreement engine may split or class them further).

    Cheap (one labelling), so :func:`makeReviewSnapshots` can start helper processes before it loads the case.

    :param maskA: bool ``[k, j, i]``.
    :param maskB: bool ``[k, j, i]``, same grid.
    """
    from ..core.lesions import labelComponentsMany

    return sum(components.count for components in labelComponentsMany([maskA & ~maskB, maskB & ~maskA]))


def makeReviewSnapshots(case, outDir, pathA, pathB, readerIds=("A", "B"), minExtentMm3=None, tileSize: int = 320, adcUnit=None,
                        progress=None, includeSmall: bool = True, labelMapPath=None, labelTablePath=None, workers: int = 1,
                        maxRegions: int | None = None) -> dict:
    """Load a case and two reads into a headless scene and write one PNG per discordant region.

    :param case: the :class:`~AISCommonLib.core.cases.Case`.
    :param outDir: folder for ``<case>_region-<id>.png`` (created); each file is written atomically.
    :param pathA: read A (binary NIfTI on the DWI grid).
    :param pathB: read B.
    :param readerIds: pseudonymous IDs for captions.
    :param minExtentMm3: size limit of extent regions (None: the engine's default); smaller ones are marked small.
    :param tileSize: width and height of each view in pixels.
    :param adcUnit: ADC unit override (see :func:`AISCommonLib.core.sequences.loadCase`).
    :param progress: optional ``(fraction, message)`` callable; it may raise ``OperationCancelled`` (pictures
        already written stay, complete; helper processes are stopped).
    :param includeSmall: also picture the regions under the size limit (default: every region).
    :param labelMapPath: optional label map on the DWI grid naming lobes or territories (e.g. a BIDS ``dseg``
        registered to the case); no atlas is assumed when None.
    :param labelTablePath: names of its labels (BIDS ``dseg.tsv``); default: the map's name with ``.tsv``, if present.
    :param workers: processes drawing pictures (this one included). Above 1, and with at least
        :data:`MIN_REGIONS_FOR_HELPERS` regions, helper processes with their own scene and render window draw beside
        this one (:mod:`~AISCommonLib.mrml.picturehelpers`); the pictures are the same. They start as fresh
        interpreters: call this from a script or ``ais``, not from inside the Slicer application.
    :param maxRegions: picture only the first this many regions (in id order), e.g. the ones a report shows; None
        pictures all.
    :return: summary ``{"caseId", "readers", "dice", "concordant", "regions": [{"id", "title", "caption", "png", ...}],
        "outDir", "regionsTotal", "workers", "helperPictures", "helperCpuSeconds"}`` (``regions``: the pictured ones;
        ``regionsTotal``: every region that would be pictured without ``maxRegions``; ``workers``: processes started,
        this one included; ``helperPictures``: pictures the helpers drew; ``helperCpuSeconds``: the CPU they used).
    :raises AISError: slicer-core missing, unreadable inputs, masks or label map off the DWI grid, no OpenGL.
    """
    from ..core.agreement import AgreementParameters
    from ..core.masks import loadMaskPair
    from ..core.regionlocation import loadLocationLabels
    from ..core.sequences import loadCase
    from .headless import createHeadlessApplication
    from .reviewscene import loadReview

    parameters = AgreementParameters() if minExtentMm3 is None else AgreementParameters(minExtentMm3=float(minExtentMm3))
    parameters.validate()
    if int(workers) < 1:
        raise InputError(f"Cannot picture the regions of {case.caseId} with {workers} worker processes; use 1 or more.")
    if maxRegions is not None and int(maxRegions) < 0:
        raise InputError(f"Cannot picture {maxRegions} regions of {case.caseId}; give 0 or more, or no limit.")
    _report(progress, 0.0, f"Loading {case.caseId}")
    reads = loadMaskPair(pathA, pathB)
    pictured, helperPictures, helperCpuSeconds = set(), 0, 0.0
    with ExitStack() as stack:
        helpers = None
        likely = likelyRegionCount(reads.maskA, reads.maskB) if int(workers) > 1 else 0
        if min(likely, likely if maxRegions is None else int(maxRegions)) >= MIN_REGIONS_FOR_HELPERS:
            from .picturehelpers import PictureHelpers, PictureJob

            # Started now, they import slicer-core and build their scenes while this process loads the case.
            helpers = stack.enter_context(PictureHelpers(int(workers) - 1, case.caseId, progress))
        loaded = loadCase(case, adcUnit)
        locationMap = loadLocationLabels(labelMapPath, loaded.dwi, labelTablePath) if labelMapPath else None
        app = createHeadlessApplication()
        # The pictures show the reads only: no segment per region (most of the loading time on a case with many regions).
        review = loadReview(app.scene, loaded, reads.maskA, reads.maskB, parameters, readerIds, None, reads.ijkToRas, regionSegments=False)
        labels = locationLabelNames(review, *locationMap) if locationMap else None
        outDir = Path(outDir)
        outDir.mkdir(parents=True, exist_ok=True)
        allRegions = picturedRegions(review, includeSmall)
        regions = allRegions if maxRegions is None else allRegions[:int(maxRegions)]
        if helpers is not None and len(regions) < MIN_REGIONS_FOR_HELPERS:
            helpers.close()
            helpers = None
        if helpers is not None:
            helpers.assign(PictureJob(loaded, reads.maskA, reads.maskB, reads.ijkToRas, parameters, tuple(review.readerIds),
                                      [region.regionId for region in regions], labels, str(outDir), int(tileSize)))
            pictures = ((region, description, pixels) for _, region, description, pixels in
                        drawClaimedPictures(app, review, regions, helpers.claim, tileSize=(tileSize, tileSize), labels=labels))
        else:
            pictures = iterRegionPictures(app, review, regions, tileSize=(tileSize, tileSize), progress=progress, labels=labels)
        writer = stack.enter_context(PictureWriter())
        for region, _, pixels in pictures:
            writer.submit(pixels, picturePath(outDir, case.caseId, region.regionId))
            pictured.add(region.regionId)
        writer.finish()
        if helpers is not None:
            helperPictures, helperCpuSeconds = len(helpers.helperDone), helpers.helperCpuSeconds
            pictured.update(regions[index].regionId for index in helpers.helperDone)
            _report(progress, 1.0, f"Pictured {len(pictured)} region(s) of {case.caseId} with {len(helpers.taken) + 1} processes")
    descriptions = regionDescriptions(review, labels)
    entries = [{**descriptions[region.regionId].toDict(), "title": regionTitle(region), "kind": region.kind, "type": region.regionType,
                "centroid_ras": [round(float(value), 2) for value in region.centroidRas],
                "caption": regionCaption(review, region, descriptions[region.regionId]),
                "png": str(picturePath(outDir, case.caseId, region.regionId))} for region in regions if region.regionId in pictured]
    return {"caseId": case.caseId, "readers": list(review.readerIds), "dice": review.result.dice,
            "concordant": review.result.concordant, "regions": entries, "outDir": str(outDir), "regionsTotal": len(allRegions),
            "workers": 1 + (len(helpers.taken) if helpers is not None else 0), "helperPictures": helperPictures,
            "helperCpuSeconds": round(helperCpuSeconds, 2)}
