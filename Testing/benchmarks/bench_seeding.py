"""Seeding time and peak memory on clinical grid sizes, as ratios against peers run in the same process.

Grids: a 256 x 256 x 40 DWI (0.9 x 0.9 x 4 mm, a typical high-resolution clinical DWI) and the 1 mm
182 x 218 x 182 MNI-sized grid. Peers, timed on the same loaded images:

- ``bare rule (scipy)``: ADC < 620e-6 mm^2/s inside the brain mask, 26-connected labelling and the
  size filter with scipy.ndimage; what a short script would do. Our seed adds the DWI gate, the
  skull-base rim rule and the summary, so a ratio near 1 means those cost little.
- ``loadCase``: reading and checking the case from disk (NIfTI decompression, brain mask, unit
  detection), the cost a user pays anyway before seeding.

Peak memory is the peak of Python and numpy allocations during one call (tracemalloc; numpy reports
its buffers to it). SimpleITK's internal buffers are not counted, but every array it returns is.

Run: ``.venv/bin/python Testing/benchmarks/bench_seeding.py [--repeats N]``.
"""

import argparse
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from AISCommonLib.core.cases import discoverCases
from AISCommonLib.core.seeding import SeedParameters, seedLesion
from AISCommonLib.core.sequences import loadCase
from AISCommonLib.synthetic.phantom import makePhantom
from AISCommonLib.synthetic.specs import LesionSpec, PhantomSpec
from AISCommonLib.synthetic.writer import writePhantomCase

GRIDS = {
    "256x256x40 (0.9x0.9x4 mm)": dict(dwiShape=(40, 256, 256), dwiSpacingMm=(0.9, 0.9, 4.0)),
    "182x218x182 (1 mm)": dict(dwiShape=(182, 218, 182), dwiSpacingMm=(1.0, 1.0, 1.0)),
}
LESION = LesionSpec("acute", (((-40.0, 10.0, 20.0), (16.0, 20.0, 14.0)),))


def measure(function, repeats: int):
    """Median seconds over ``repeats`` calls, then the allocation peak (bytes) of one traced call."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    tracemalloc.start()
    function()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return statistics.median(times), peak


def bareRule(loaded, parameters: SeedParameters) -> np.ndarray:
    """The consensus rule alone, the way a short scipy script writes it."""
    from scipy import ndimage

    candidate = loaded.brainMask & (loaded.adcMicro() < parameters.thresholdMm2PerS * 1e6)
    labels, count = ndimage.label(candidate, structure=np.ones((3, 3, 3)))
    sizes = np.bincount(labels.ravel(), minlength=count + 1) * loaded.dwi.voxelVolumeMm3
    keep = sizes >= parameters.minComponentMm3
    keep[0] = False
    return keep[labels]


def benchmarkGrid(name: str, gridOptions: dict, repeats: int, workFolder: Path) -> dict:
    spec = PhantomSpec(lesions=(LESION,), **gridOptions)
    writePhantomCase(workFolder, "bench", "01", makePhantom(spec, np.random.default_rng(0)))
    (case,) = discoverCases(workFolder, ["bench"])
    loaded = loadCase(case)
    parameters = SeedParameters()
    results = {"grid": name, "voxels": int(np.prod(loaded.dwi.gridShape))}
    for label, function in (
        ("seedLesion", lambda: seedLesion(loaded, parameters)),
        ("bare rule (scipy)", lambda: bareRule(loaded, parameters)),
        ("loadCase", lambda: loadCase(case)),
    ):
        seconds, peakBytes = measure(function, repeats)
        results[label] = {"seconds": seconds, "peakMiB": peakBytes / 2**20}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for name, options in GRIDS.items():
            result = benchmarkGrid(name, options, args.repeats, Path(folder) / name.split()[0])
            seed = result["seedLesion"]
            print(f"\n{result['grid']}: {result['voxels']:,} voxels, median of {args.repeats}")
            for label in ("seedLesion", "bare rule (scipy)", "loadCase"):
                entry = result[label]
                print(f"  {label:<18} {entry['seconds'] * 1000:8.1f} ms  peak {entry['peakMiB']:7.1f} MiB  "
                      f"seed time / this = {seed['seconds'] / entry['seconds']:.2f}")


if __name__ == "__main__":
    main()
