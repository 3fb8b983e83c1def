"""Region pictures of a case (``ais review-snapshot``): one process and two worker processes against the per-region path.

All paths run from this process on the same case and the same two reads, and write the same PNGs:

- ``per-region`` (the peer, the earliest path): the review scene with one segment per region, then for each
  region a fresh offscreen render window with its views set up, one frame, the PNG.
- ``1 process`` (``makeReviewSnapshots(workers=1)``): the scene without per-region segments, one render window
  whose views are set up once, then one frame and one PNG per region (PNGs encoded in a writer thread).
- ``2 workers`` (``makeReviewSnapshots(workers=2)``, what ``ais review-snapshot`` does by default on 2+ cores):
  a helper process with its own scene and window takes regions from the same counter.

Cases: every real case under ``../shared/data/real`` (copied to a temporary folder; read A is the expert mask
when there is one, else the ADC seed; read B is read A with a fraction ``--flip`` of its boundary voxels flipped,
which gives the many small discordant regions a real disagreement has: 0.15 gives ~180 and ~290 regions on the
two real cases) and a phantom case made the same way. Reported per case: regions, seconds and CPU seconds (this
process and its helpers) per path, the ratio per-region / path, and the 1-minute load average before each row
(the machine is shared: read the ratios, not the seconds). ``--stages`` also splits the one-process path into
its stages (loading, scene, set-up, and per frame: slice pipelines, drawing, read-back, PNG).

Run: ``VTK_DEFAULT_OPENGL_WINDOW=vtkEGLRenderWindow .venv/bin/python Testing/benchmarks/bench_snapshots.py [--tile-size N]
[--flip F] [--stages] [--no-peer]``.
"""

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from AISCommonLib.core.cases import discoverCases  # noqa: E402
from AISCommonLib.core.image import writeNifti  # noqa: E402
from AISCommonLib.core.seeding import seedLesion  # noqa: E402
from AISCommonLib.core.sequences import loadCase  # noqa: E402

DEFAULT_REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"


def perturbedRead(mask: np.ndarray, seed: int = 0, flip: float = 0.35) -> np.ndarray:
    """Read A with a fraction of its boundary voxels (inner and outer shell) flipped: many small regions."""
    rng = np.random.default_rng(seed)
    shell = ndimage.binary_dilation(mask) ^ ndimage.binary_erosion(mask)
    flipped = shell & (rng.random(mask.shape) < flip)
    return mask ^ flipped


def perRegionPath(case, outDir, pathA, pathB, tileSize: int) -> int:
    """The earliest path, kept here as it was: a segment per region, a fresh render window per region, VTK's
    default threading."""
    from AISCommonLib.mrml import regionsnapshot
    from AISCommonLib.mrml.headless import createHeadlessApplication
    from AISCommonLib.mrml.layouts import LAYOUT_2X2_AXIAL, setLayout
    from AISCommonLib.mrml.offscreen import writePng
    from AISCommonLib.mrml.reviewscene import loadReviewFiles
    from AISCommonLib.mrml.snapshot import LayoutRenderer

    loaded = loadCase(case)
    app = createHeadlessApplication()
    review = loadReviewFiles(app.scene, loaded, pathA, pathB, readerIds=("R01", "R02"))
    regions = regionsnapshot.picturedRegions(review)
    for region in regions:
        setLayout(app.layoutNode, LAYOUT_2X2_AXIAL)
        app.updateSliceLogics()
        regionsnapshot.showReadsOnly(review)
        description = regionsnapshot.regionDescriptions(review)[region.regionId]
        with LayoutRenderer(app.applicationLogic, review.caseNodes, LAYOUT_2X2_AXIAL, None, (tileSize, tileSize),
                            regionsnapshot.REGION_FIELD_OF_VIEW_MM, regionsnapshot.CAPTION_LINES) as renderer:
            pixels = renderer.render(region.centroidRas, regionsnapshot.regionCaption(review, region, description))
        writePng(pixels, regionsnapshot.picturePath(outDir, case.caseId, region.regionId))
    return len(regions)


def oneProcessPath(case, outDir, pathA, pathB, tileSize: int) -> int:
    from AISCommonLib.mrml.regionsnapshot import makeReviewSnapshots

    return len(makeReviewSnapshots(case, outDir, pathA, pathB, ("R01", "R02"), tileSize=tileSize, workers=1)["regions"])


def twoWorkersPath(case, outDir, pathA, pathB, tileSize: int) -> int:
    from AISCommonLib.mrml.regionsnapshot import makeReviewSnapshots

    summary = makeReviewSnapshots(case, outDir, pathA, pathB, ("R01", "R02"), tileSize=tileSize, workers=2)
    HELPER_PICTURES.append(summary["helperPictures"])
    HELPER_CPU_SECONDS.append(summary["helperCpuSeconds"])
    return len(summary["regions"])


#: Pictures the helper drew, and the CPU seconds it used, in each ``2 workers`` run (helpers are children of the
#: fork server, so this process's ``RUSAGE_CHILDREN`` does not count them).
HELPER_PICTURES = []
HELPER_CPU_SECONDS = []
PATHS = {"per-region": perRegionPath, "1 process": oneProcessPath, "2 workers": twoWorkersPath}


def cpuSeconds() -> float:
    """User + system CPU seconds of this process and of its ended children."""
    return sum(value for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
               for value in (resource.getrusage(who).ru_utime, resource.getrusage(who).ru_stime))


def stageTimes(case, pathA, pathB, tileSize: int, work: Path) -> dict:
    """Seconds per stage of the one-process path; each stage of a frame is run on its own, in this order."""
    from vtk.util import numpy_support

    from AISCommonLib.core.agreement import AgreementParameters
    from AISCommonLib.mrml import regionsnapshot
    from AISCommonLib.mrml.crosshair import jumpToRas
    from AISCommonLib.mrml.headless import createHeadlessApplication
    from AISCommonLib.mrml.layouts import LAYOUT_2X2_AXIAL, setLayout
    from AISCommonLib.mrml.offscreen import singleThreadedFilters, writePng
    from AISCommonLib.mrml.reviewscene import loadReviewFiles
    from AISCommonLib.mrml.snapshot import LayoutRenderer

    times = {}

    def timed(name, function, *args):
        start = time.perf_counter()
        result = function(*args)
        times[name] = times.get(name, 0.0) + time.perf_counter() - start
        return result

    loaded = timed("load the case (brain mask included)", loadCase, case)
    app = timed("scene, reads and comparison", createHeadlessApplication)
    review = timed("scene, reads and comparison", loadReviewFiles, app.scene, loaded, pathA, pathB, AgreementParameters(), ("R01", "R02"),
                   None, False)
    regions = regionsnapshot.picturedRegions(review)

    def setUp():
        setLayout(app.layoutNode, LAYOUT_2X2_AXIAL)
        app.updateSliceLogics()
        regionsnapshot.showReadsOnly(review)
        return regionsnapshot.regionDescriptions(review), LayoutRenderer(app.applicationLogic, review.caseNodes, LAYOUT_2X2_AXIAL, None,
                                                                          (tileSize, tileSize), regionsnapshot.REGION_FIELD_OF_VIEW_MM,
                                                                          regionsnapshot.CAPTION_LINES)

    descriptions, renderer = timed("views, render window", setUp)
    offscreen = renderer.offscreen
    width, height = offscreen.size

    def slicePipelines():
        for view in offscreen.views:
            view.imageMapper.SetInputConnection(view.sliceLogic.GetImageDataConnection())
            if view.sliceLogic.GetImageDataConnection() is not None:
                view.sliceLogic.GetImageDataConnection().GetProducer().Update()

    def readBack():
        offscreen.renderWindow.GetPixelData(0, 0, width - 1, height - 1, 1, offscreen.pixels, 0)
        return np.ascontiguousarray(numpy_support.vtk_to_numpy(offscreen.pixels).reshape(height, width, 3)[::-1])

    pictures = []
    with singleThreadedFilters(), renderer:
        for region in regions:
            renderer.caption.SetInput(timed("frame: caption", regionsnapshot.regionCaption, review, region, descriptions[region.regionId]))
            timed("frame: move the views", jumpToRas, app.scene, region.centroidRas, True)
            timed("frame: slice pipelines (reslice, window/level, colours)", slicePipelines)
            timed("frame: draw (segmentation outlines, OpenGL)", offscreen.renderWindow.Render)
            pixels = timed("frame: read back", readBack)
            if len(pictures) < 8:
                pictures.append(pixels)
    start = time.perf_counter()
    for index in range(len(regions)):
        writePng(pictures[index % len(pictures)], work / f"stage-{index % len(pictures)}.png")
    times["PNG encode and write (the writer thread's share)"] = time.perf_counter() - start
    return times, len(regions)


def prepareReads(case, work: Path, flip: float) -> tuple[Path, Path]:
    """Read A (the expert mask beside the case, else the ADC seed) and read B (read A perturbed), as NIfTI files."""
    from AISCommonLib.core.image import loadVolume
    from AISCommonLib.core.masks import binarizeMask

    loaded = loadCase(case)
    maskA = None
    for candidate in sorted(work.rglob(f"sub-{case.subject}*_msk.nii.gz")):
        volume = loadVolume(candidate)
        if tuple(volume.gridShape) == tuple(loaded.dwi.gridShape):
            maskA = binarizeMask(volume)
    if maskA is None:
        maskA = seedLesion(loaded).mask
    pathA, pathB = work / f"{case.caseId}_readA.nii.gz", work / f"{case.caseId}_readB.nii.gz"
    writeNifti(maskA.astype(np.uint8), loaded.dwi.ijkToRas, pathA)
    writeNifti(perturbedRead(maskA, flip=flip).astype(np.uint8), loaded.dwi.ijkToRas, pathB)
    return pathA, pathB


def benchCase(label: str, case, work: Path, args) -> dict:
    pathA, pathB = prepareReads(case, work, args.flip)
    timings = {}
    names = [name for name in PATHS if name != "per-region" or not args.no_peer]
    load = os.getloadavg()[0]
    for name in names:
        out = work / f"pictures-{name.replace(' ', '-')}"
        out.mkdir()
        startCpu, start, helpers = cpuSeconds(), time.perf_counter(), len(HELPER_CPU_SECONDS)
        timings["regions"] = PATHS[name](case, out, pathA, pathB, args.tile_size)
        timings[name] = (time.perf_counter() - start, cpuSeconds() - startCpu + sum(HELPER_CPU_SECONDS[helpers:]))
    cells = []
    for name in PATHS:
        if name in timings:
            seconds, cpu = timings[name]
            ratio = f"{timings['per-region'][0] / seconds:.1f}x" if "per-region" in timings else "-"
            cells.append(f"{seconds:>7.1f} {cpu:>6.1f} {ratio:>6}")
        else:
            cells.append(f"{'-':>7} {'-':>6} {'-':>6}")
    print(f"{label:<40} {timings['regions']:>7} {load:>5.1f} " + " ".join(cells) + f" {HELPER_PICTURES[-1] if HELPER_PICTURES else 0:>7}",
          flush=True)
    if args.stages:
        times, frames = stageTimes(case, pathA, pathB, args.tile_size, work)
        for stage, seconds in times.items():
            perFrame = f"{1000 * seconds / frames:6.1f} ms/frame" if stage.startswith(("frame", "PNG")) else ""
            print(f"    {stage:<58} {seconds:6.2f} s {perFrame}", flush=True)
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--real", default=str(DEFAULT_REAL), help="folder of real cases (default: ../shared/data/real)")
    parser.add_argument("--tile-size", type=int, default=320)
    parser.add_argument("--flip", type=float, default=0.15, help="fraction of read A's boundary voxels flipped in read B (default 0.15)")
    parser.add_argument("--stages", action="store_true", help="also time the stages of the one-process path")
    parser.add_argument("--no-peer", action="store_true", help="leave out the slow per-region path")
    args = parser.parse_args()
    print(f"{date()}, {os.cpu_count()} CPUs, tiles {args.tile_size} px, flip {args.flip}; seconds (s), CPU seconds incl. helpers (cpu), "
          "ratio = per-region s / path s; load = 1-minute load average before the row")
    print(f"{'case':<40} {'regions':>7} {'load':>5} " + " ".join(f"{name:>21}" for name in PATHS) + f" {'helper':>7}")
    print(f"{'':<40} {'':>7} {'':>5} " + " ".join(f"{'s':>7} {'cpu':>6} {'ratio':>6}" for _ in PATHS) + f" {'drew':>7}")
    with tempfile.TemporaryDirectory() as temporary:
        temporary = Path(temporary)
        real = Path(args.real)
        for folder in sorted(path for path in real.iterdir() if path.is_dir()) if real.is_dir() else []:
            work = temporary / folder.name
            shutil.copytree(folder, work)
            root = work / "rawdata" if (work / "rawdata").is_dir() else work
            for case in discoverCases(root):
                benchCase(f"{folder.name} {case.caseId}", case, work, args)
        from AISCommonLib.synthetic.scenarios import makeDemoDataset

        phantomRoot = temporary / "phantom" / "bids"
        cases = makeDemoDataset(phantomRoot)
        case = discoverCases(phantomRoot)[0]
        del cases
        benchCase(f"phantom {case.caseId}", case, temporary / "phantom", args)
    return 0


def date() -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime())


if __name__ == "__main__":
    sys.exit(main())
