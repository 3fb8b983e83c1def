"""Benchmark of the reader agreement engine against MONAI and medpy, in one run, on the same lesion pairs.

Usage: ``python Testing/benchmarks/bench_agreement.py [--repeats N] [--dataset-cases N] [--workers N]``

For each grid (2 mm 112x112x73, 0.9x0.9x5 mm 256x256x32, 1 mm 182x218x182) it builds a realistic pair of
reads (an irregular territorial infarct drawn slightly differently, embolic satellites, one satellite
missed by B, one small lesion only B drew) and times, best of ``--repeats``:

- ours: the full set (``compareMasks``: Dice, Jaccard, volumes, HD95, ASSD, lesions, ISLES F1 both ways,
  matching table, discordant regions);
- MONAI: ``compute_hausdorff_distance(percentile=95)`` + ``compute_average_surface_distance(symmetric=True)``
  + ``compute_dice`` (tensors prepared outside the timing);
- medpy: ``hd95`` + ``assd`` + ``dc``.

Then the same on the real cases in ``../shared/data/real`` (read-only, see its README), every case:
``isles22-0001`` (A = the expert mask, B = the expert mask dilated by one voxel in-plane on every other
slice, the way a second reader draws a slightly wider outline) and ``isles22-challenge-case`` (no expert
mask: A = ADC < 620e-6 mm^2/s inside the brain, B = the same at 660e-6, two readers' thresholds).

A peer that is not installed is skipped with a note. Then it times ``compareDataset`` on a generated
BIDS dataset of ``--dataset-cases`` cases (2 mm grid, two reads each; files written before timing).
"""

import argparse
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from AISCommonLib.core.agreement import compareMasks

GRIDS = [
    ("2 mm 112x112x73", (73, 112, 112), (2.0, 2.0, 2.0)),
    ("0.9x0.9x5 mm 256x256x32", (32, 256, 256), (5.0, 0.9, 0.9)),
    ("1 mm 182x218x182", (182, 218, 182), (1.0, 1.0, 1.0)),
]


def irregularBlob(shape, spacingKji, centreMm, radiiMm, phase: float, roughness: float = 0.12) -> np.ndarray:
    """An ellipsoid (mm) whose radius wobbles with direction, like a drawn lesion outline."""
    axes = [(np.arange(size) * step - centre) / radius for size, step, centre, radius in zip(shape, spacingKji, centreMm, radiiMm)]
    k, j, i = np.meshgrid(*axes, indexing="ij", sparse=True)
    distance = np.sqrt(k * k + j * j + i * i)
    azimuth = np.arctan2(j, i)
    wobble = 1.0 + roughness * np.sin(3 * azimuth + phase) * np.cos(2 * k + phase)
    return distance <= wobble


def lesionPair(shape, spacingKji, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Reads A and B of one case, positions in mm so every grid holds the same anatomy."""
    rng = np.random.default_rng(seed)
    extentMm = np.array(shape) * np.array(spacingKji)
    centre = extentMm * np.array([0.55, 0.45, 0.35]) + rng.uniform(-5, 5, 3)
    radii = np.array([22.0, 28.0, 18.0]) * rng.uniform(0.7, 1.2)
    maskA = irregularBlob(shape, spacingKji, centre, radii, phase=0.0)
    maskB = irregularBlob(shape, spacingKji, centre + rng.uniform(-2, 2, 3), radii * rng.uniform(0.9, 1.05, 3), phase=0.7)
    satellites = [extentMm * fraction for fraction in ([0.4, 0.3, 0.7], [0.65, 0.7, 0.3], [0.5, 0.75, 0.6], [0.3, 0.6, 0.45])]
    for index, position in enumerate(satellites):
        radius = rng.uniform(3.0, 6.0, 3)
        maskA |= irregularBlob(shape, spacingKji, position, radius, phase=index)
        if index != 2:  # B missed this one
            maskB |= irregularBlob(shape, spacingKji, position + rng.uniform(-1, 1, 3), radius * rng.uniform(0.85, 1.1, 3), phase=index + 1)
    maskB |= irregularBlob(shape, spacingKji, extentMm * np.array([0.45, 0.25, 0.5]), np.array([3.0, 3.0, 3.0]), phase=2.0)
    return maskA, maskB


#: A call slower than this (seg-metrics takes 10-60 s per pair) is timed once more instead of ``repeats`` times.
SLOW_CALL_S = 2.0


def bestSeconds(function, repeats: int) -> float:
    start = time.perf_counter()
    function()
    times = [time.perf_counter() - start]
    for _ in range(repeats if times[0] < SLOW_CALL_S else 1):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def monaiRunner(maskA, maskB, spacingKji):
    try:
        import torch
        from monai.metrics import compute_average_surface_distance, compute_dice, compute_hausdorff_distance
    except ImportError:
        return None
    tensorA, tensorB = (torch.from_numpy(mask[None, None]) for mask in (maskA, maskB))
    spacing = [float(value) for value in spacingKji]

    def run():
        compute_hausdorff_distance(tensorB, tensorA, include_background=True, percentile=95, spacing=spacing)
        compute_average_surface_distance(tensorB, tensorA, include_background=True, symmetric=True, spacing=spacing)
        compute_dice(tensorB, tensorA, include_background=True)

    return run


def medpyRunner(maskA, maskB, spacingKji):
    try:
        from medpy.metric import binary
    except ImportError:
        return None

    def run():
        binary.hd95(maskB, maskA, voxelspacing=spacingKji)
        binary.assd(maskB, maskA, voxelspacing=spacingKji)
        binary.dc(maskB, maskA)

    return run


def surfaceDistanceRunner(maskA, maskB, spacingKji):
    try:
        import surface_distance
    except ImportError:
        return None
    spacing = [float(value) for value in spacingKji]

    def run():
        distances = surface_distance.compute_surface_distances(maskA, maskB, spacing)
        surface_distance.compute_robust_hausdorff(distances, 95)
        surface_distance.compute_average_surface_distance(distances)
        surface_distance.compute_dice_coefficient(maskA, maskB)

    return run


def segMetricsRunner(maskA, maskB, spacingKji):
    try:
        from seg_metrics import seg_metrics
    except ImportError:
        return None
    arrayA, arrayB = (mask.astype(np.uint8) for mask in (maskA, maskB))
    spacing = [float(value) for value in spacingKji]

    def run():
        seg_metrics.write_metrics(labels=[1], gdth_img=arrayA, pred_img=arrayB, spacing=spacing, metrics=["dice", "hd95", "msd"])

    return run


def versions() -> str:
    import SimpleITK

    parts = [f"Python {platform.python_version()}", f"numpy {np.__version__}", f"SimpleITK {SimpleITK.Version.VersionString()}"]
    for name in ("monai", "torch", "surface_distance", "seg_metrics", "medpy", "scipy"):
        try:
            module = __import__(name)
            parts.append(f"{name} {getattr(module, '__version__', '?')}")
        except ImportError:
            parts.append(f"{name} not installed")
    return ", ".join(parts)


PEERS = (
    ("MONAI (hd95+assd+dice)", monaiRunner),
    ("surface-distance (hd95+asd+dice)", surfaceDistanceRunner),
    ("seg-metrics (hd95+msd+dice)", segMetricsRunner),
    ("medpy (hd95+assd+dc)", medpyRunner),
)


REAL_ROOT = Path(__file__).resolve().parents[3] / "shared" / "data" / "real"


def realPairs() -> list:
    """``(title, maskA, maskB, spacingKji)`` of every real case found (none when the folder is absent)."""
    import nibabel
    from scipy import ndimage

    def load(path):
        image = nibabel.load(str(path))
        return np.asarray(image.dataobj).transpose(2, 1, 0), tuple(float(value) for value in image.header.get_zooms()[:3][::-1])

    pairs = []
    expert = sorted(REAL_ROOT.glob("isles22-0001/derivatives/*/*/*_msk.nii.gz"))
    if expert:
        mask, spacing = load(expert[0])
        maskA = mask > 0
        maskB = maskA.copy()
        inPlane = np.zeros((1, 3, 3), dtype=bool)
        inPlane[0, 1, :] = inPlane[0, :, 1] = True
        maskB[::2] = ndimage.binary_dilation(maskA, inPlane)[::2]
        pairs.append((f"real isles22-0001 {'x'.join(str(size) for size in maskA.shape[::-1])}", maskA, maskB, spacing))
    adcPaths = sorted(REAL_ROOT.glob("isles22-challenge-case/*/*/dwi/*_adc.nii.gz"))
    if adcPaths:
        adc, spacing = load(adcPaths[0])
        brain = ndimage.binary_erosion(adc > 200, iterations=2)
        maskA, maskB = (brain & (adc < threshold) & (adc > 200) for threshold in (620, 660))
        pairs.append((f"real isles22-challenge-case {'x'.join(str(size) for size in maskA.shape[::-1])}", maskA, maskB, spacing))
    return pairs


def benchmarkGrids(repeats: int) -> None:
    cases = [(title, *lesionPair(shape, spacingKji), spacingKji) for title, shape, spacingKji in GRIDS] + realPairs()
    for title, maskA, maskB, spacingKji in cases:
        matrix = np.diag(list(spacingKji[::-1]) + [1.0])
        summary = compareMasks(maskA, maskB, matrix).toDict()
        timings = {"ours (full set)": bestSeconds(lambda a=maskA, b=maskB, m=matrix: compareMasks(a, b, m), repeats)}
        notes = []
        for name, factory in PEERS:
            runner = factory(maskA, maskB, spacingKji)
            if runner is None:
                notes.append(f"{name.split()[0]} skipped: not installed")
                continue
            timings[name] = bestSeconds(runner, repeats)
        print(f"\n{title}: A {maskA.sum()} voxels, B {maskB.sum()} voxels, lesions {summary['lesions_a']}/{summary['lesions_b']}, "
              f"Dice {summary['dice']:.3f}, HD95 {summary['hd95_mm']:.2f} mm, missed lesions {summary['missed_lesions']}")  # fmt: skip
        peers = {name: seconds for name, seconds in timings.items() if not name.startswith("ours")}
        fastestPeer = min(peers.values()) if peers else None
        for name, seconds in timings.items():
            ratio = f"  x{fastestPeer / seconds:6.1f} faster than the fastest peer" if fastestPeer and name.startswith("ours") else ""
            relative = f"  ({seconds / fastestPeer:5.2f} x fastest peer)" if fastestPeer else ""
            print(f"  {name:24s} {seconds * 1000:9.1f} ms{relative}{ratio}")
        for note in notes:
            print(f"  {note}")


def benchmarkDataset(caseCount: int, workers: int | None) -> None:
    from AISCommonLib.core.cases import Case
    from AISCommonLib.core.dataset import compareDataset
    from AISCommonLib.core.derivatives import writeReaderMask
    from AISCommonLib.core.image import Volume

    title, shape, spacingKji = GRIDS[0]
    dwi = Volume(np.zeros(shape, dtype=np.float32), np.diag(list(spacingKji[::-1]) + [1.0]))
    with tempfile.TemporaryDirectory(prefix="ais-bench-") as root:
        start = time.perf_counter()
        for index in range(caseCount):
            case = Case(f"{index:04d}", None, None)
            maskA, maskB = lesionPair(shape, spacingKji, seed=index)
            writeReaderMask(root, case, maskA, dwi, "R1", "benchmark", {})
            writeReaderMask(root, case, maskB, dwi, "R2", "benchmark", {})
        print(f"\nDataset: {caseCount} cases on the {title} grid written in {time.perf_counter() - start:.1f} s")
        start = time.perf_counter()
        rows = compareDataset(root, workers=workers)
        seconds = time.perf_counter() - start
        compared = sum(1 for row in rows if row["status"] == "compared")
        print(
            f"  compareDataset, {workers or 'all'} workers: {compared} pairs in {seconds:.2f} s ({seconds / max(compared, 1) * 1000:.1f} ms per case, files read included)"
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per method (best is kept)")
    parser.add_argument("--dataset-cases", type=int, default=250, help="cases of the dataset benchmark (0 skips it)")
    parser.add_argument("--workers", type=int, default=None, help="processes for the dataset benchmark (default: all CPUs)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")  # MONAI deprecation notes would drown the table
    import os

    print(f"{versions()}; {os.cpu_count()} CPUs; best of {args.repeats} runs")
    benchmarkGrids(args.repeats)
    if args.dataset_cases:
        benchmarkDataset(args.dataset_cases, args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
