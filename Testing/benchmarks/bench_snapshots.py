"""Region pictures of a case (``ais review-snapshot``): the reused render window against the per-region path.

Both paths run in this process on the same case and the same two reads, and write the same PNGs:

- ``per-region`` (the peer, the earlier path): the review scene with one segment per region, then for each
  region a fresh offscreen render window with its views set up, one frame, the PNG.
- ``reused window`` (``makeReviewSnapshots``): the scene without per-region segments, one render window
  whose views are set up once, then one frame and one PNG per region.

Cases: every real case under ``../shared/data/real`` (copied to a temporary folder; read A is the expert mask
when there is one, else the ADC seed; read B is read A with its boundary perturbed voxel by voxel, which
gives the many small discordant regions a real disagreement has) and a phantom case made the same way.
Reported: regions, seconds per path, and the ratio per-region / reused.

Run: ``VTK_DEFAULT_OPENGL_WINDOW=vtkEGLRenderWindow .venv/bin/python Testing/benchmarks/bench_snapshots.py [--tile-size N]``.
"""

import argparse
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
    """The earlier path: a segment per region, a fresh render window per region."""
    from AISCommonLib.mrml import regionsnapshot
    from AISCommonLib.mrml.headless import createHeadlessApplication
    from AISCommonLib.mrml.offscreen import writePng
    from AISCommonLib.mrml.reviewscene import loadReviewFiles

    loaded = loadCase(case)
    app = createHeadlessApplication()
    review = loadReviewFiles(app.scene, loaded, pathA, pathB, readerIds=("R01", "R02"))
    regions = regionsnapshot.picturedRegions(review)
    for region in regions:
        pixels = regionsnapshot.renderRegion(app, review, region.regionId, tileSize=(tileSize, tileSize))
        writePng(pixels, Path(outDir) / f"{case.caseId}_region-{region.regionId:02d}.png")
    return len(regions)


def reusedPath(case, outDir, pathA, pathB, tileSize: int) -> int:
    from AISCommonLib.mrml.regionsnapshot import makeReviewSnapshots

    return len(makeReviewSnapshots(case, outDir, pathA, pathB, ("R01", "R02"), tileSize=tileSize)["regions"])


def prepareReads(case, work: Path) -> tuple[Path, Path]:
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
    writeNifti(perturbedRead(maskA).astype(np.uint8), loaded.dwi.ijkToRas, pathB)
    return pathA, pathB


def benchCase(label: str, case, work: Path, tileSize: int) -> dict:
    pathA, pathB = prepareReads(case, work)
    timings = {}
    for name, path in (("reused window", reusedPath), ("per-region", perRegionPath)):
        out = work / f"pictures-{name.replace(' ', '-')}"
        out.mkdir()
        start = time.perf_counter()
        regions = path(case, out, pathA, pathB, tileSize)
        timings[name] = time.perf_counter() - start
        timings["regions"] = regions
    print(f"{label:<34} {timings['regions']:>7} {timings['per-region']:>12.1f} {timings['reused window']:>14.1f} "
          f"{timings['per-region'] / timings['reused window']:>7.1f}x", flush=True)
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--real", default=str(DEFAULT_REAL), help="folder of real cases (default: ../shared/data/real)")
    parser.add_argument("--tile-size", type=int, default=320)
    args = parser.parse_args()
    print(f"{'case':<34} {'regions':>7} {'per-region s':>12} {'reused win. s':>14} {'ratio':>8}")
    with tempfile.TemporaryDirectory() as temporary:
        temporary = Path(temporary)
        real = Path(args.real)
        for folder in sorted(path for path in real.iterdir() if path.is_dir()) if real.is_dir() else []:
            work = temporary / folder.name
            shutil.copytree(folder, work)
            root = work / "rawdata" if (work / "rawdata").is_dir() else work
            for case in discoverCases(root):
                benchCase(f"{folder.name} {case.caseId}", case, work, args.tile_size)
        from AISCommonLib.synthetic.scenarios import makeDemoDataset

        phantomRoot = temporary / "phantom" / "bids"
        cases = makeDemoDataset(phantomRoot)
        case = discoverCases(phantomRoot)[0]
        del cases
        benchCase(f"phantom {case.caseId}", case, temporary / "phantom", args.tile_size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
