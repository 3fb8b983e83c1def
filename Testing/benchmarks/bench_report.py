"""Acceptance report at dataset scale: the report as shipped (cached, parallel) against its uncached serial self.

Usage: ``python Testing/benchmarks/bench_report.py [--cases 250] [--workers 2] [--dataset DIR] [--pictures]``

Builds (or reuses, with ``--dataset``) a synthetic dataset of ``--cases`` phantom cases: blocks of the ten demo
phantoms, each block drawn from its own generator seed (so no two cases share an image and no cache entry is
shared by accident), with two readers' masks (a generous and a conservative simulated read, ``manual``), the
seed each reader started from (``adc-threshold-seed``, which the report must not count as a read), a final mask
and the phantom's ground truth as the mask the dataset ships. Then, in one process and on the same files:

1. **peer**: the uncached serial report (``--workers 1``, no cache), what ``ais report`` did before;
2. **cold**: the shipped report with an empty cache and ``--workers`` processes (fills the cache);
3. **warm**: the same again (every case's quality measures come from the cache).

It prints seconds, seconds per case and the ratio to the peer, and checks that the three reports' CSV files are
identical (the numbers do not depend on the cache or on the worker count). Nothing is written outside a temporary
folder unless ``--dataset`` names one to keep.
"""

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path[:0] = [str(Path(__file__).resolve().parent.parent)]

DEMO_CASES_PER_BLOCK = 10
READERS = (("R01", True), ("R02", False))


def _renamed(relative: Path, subject: str, block: int) -> Path:
    """``sub-<subject>...`` with ``sub-<subject>b<block>`` in every folder and file name."""
    return Path(*[part.replace(f"sub-{subject}", f"sub-{subject}b{block:02d}") for part in relative.parts])


def makeReportDataset(root: Path, caseCount: int, progress=print) -> dict:
    """Write the benchmark dataset at ``root`` (created); :return: ``{"cases", "seconds"}``."""
    from AISCommonLib.core.atomicio import writeJsonAtomic, writeTextAtomic
    from AISCommonLib.core.cases import discoverCases
    from AISCommonLib.core.derivatives import consensusMaskPath, writeMaskWithSidecar, writeReaderMask
    from AISCommonLib.core.image import Volume, readHeaderGrid
    from AISCommonLib.core.readrecord import LIKERT_SEQUENCES, buildReadParameters
    from AISCommonLib.synthetic.demo import simulateReader
    from AISCommonLib.synthetic.scenarios import makeDemoDataset

    started = time.perf_counter()
    root.mkdir(parents=True)
    truths, participants = {}, []
    blocks = -(-caseCount // DEMO_CASES_PER_BLOCK)
    with tempfile.TemporaryDirectory(prefix="ais-bench-report-") as scratch:
        for block in range(blocks):
            progress(f"  generating block {block + 1} of {blocks}")
            blockRoot = Path(scratch) / f"block{block}"
            phantoms = makeDemoDataset(blockRoot, seed=block)[: caseCount - block * DEMO_CASES_PER_BLOCK]
            for phantom in phantoms:
                for path in sorted(blockRoot.rglob(f"*sub-{phantom.subject}*")):
                    if path.is_file():
                        target = root / _renamed(path.relative_to(blockRoot), phantom.subject, block)
                        target.parent.mkdir(parents=True, exist_ok=True)
                        shutil.move(path, target)
                truths[f"sub-{phantom.subject}b{block:02d}_ses-{phantom.session}"] = phantom.truthMask
                participants.append(f"sub-{phantom.subject}b{block:02d}\t{60 + len(participants) % 30}\t{'MF'[len(participants) % 2]}")
            if block == 0:
                for name in ("dataset_description.json", "participants.json", "README", ".bidsignore"):
                    shutil.copy(blockRoot / name, root / name)
                (root / "derivatives" / "phantom-truth").mkdir(parents=True, exist_ok=True)
                shutil.copy(blockRoot / "derivatives" / "phantom-truth" / "dataset_description.json",
                            root / "derivatives" / "phantom-truth" / "dataset_description.json")
            shutil.rmtree(blockRoot)
    writeTextAtomic(root / "participants.tsv", "participant_id\tage\tsex\n" + "\n".join(participants) + "\n", overwrite=True)
    progress("  writing the reads and final masks")
    for index, case in enumerate(discoverCases(root)):
        truth = truths[case.caseId]
        grid = readHeaderGrid(case.files["dwi"])  # a [b0, b1000] series is 4D; masks take its spatial grid
        dwi = Volume(np.zeros(grid.gridShape[::-1], dtype=np.uint8), grid.ijkToRas)
        rng = np.random.default_rng([index, 7])
        reads = []
        for reader, generous in READERS:
            # The seed the reader started from (version 1), then the read (version 2).
            writeReaderMask(root, case, truth | np.roll(truth, 2, axis=2), dwi, reader, "adc-threshold-seed", {})
            mask = simulateReader(truth, generous, rng)
            likert = {key: int(rng.integers(3, 6)) for key in LIKERT_SEQUENCES}
            writeReaderMask(root, case, mask, dwi, reader, "manual", buildReadParameters(likert, {}, [], float(rng.uniform(180, 900))))
            reads.append(mask)
        final = reads[0] & reads[1] if (reads[0] & reads[1]).any() else reads[0]
        writeMaskWithSidecar(consensusMaskPath(root, case), final, dwi,
                             {"Type": "consensus", "Case": case.caseId, "Created": "2025-01-01T00:00:00+00:00", "Reads": []})
    writeJsonAtomic(root / ".ais-bench-report", {"cases": caseCount}, overwrite=True)
    return {"cases": caseCount, "seconds": time.perf_counter() - started}


def versions() -> str:
    import SimpleITK

    return f"Python {platform.python_version()}, numpy {np.__version__}, SimpleITK {SimpleITK.Version.VersionString()}; {os.cpu_count()} CPUs"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=250, help="cases of the synthetic dataset (default %(default)s)")
    parser.add_argument("--workers", type=int, default=2, help="processes of the shipped report (default %(default)s)")
    parser.add_argument("--dataset", type=Path, help="build the dataset here and keep it, or reuse it when it exists")
    parser.add_argument("--pictures", action="store_true", help="picture the discordant regions too (needs slicer-core)")
    parser.add_argument("--profile", action="store_true", help="print where the time of the uncached serial report goes (cProfile)")
    args = parser.parse_args(argv)
    print(versions())
    with tempfile.TemporaryDirectory(prefix="ais-bench-report-") as scratch:
        root = args.dataset or Path(scratch) / "bids"
        if not (root / ".ais-bench-report").is_file():
            built = makeReportDataset(root, args.cases)
            print(f"Dataset: {built['cases']} cases written in {built['seconds']:.0f} s at {root}")
        runs(root, Path(scratch) / "reports", args)
    return 0


def _timed(label: str, function, profile: bool = False):
    start = time.perf_counter()
    if profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        result = profiler.runcall(function)
        print(f"\nWhere the time of '{label}' goes (cumulative, top 25):")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    else:
        result = function()
    return result, time.perf_counter() - start


def _csvFiles(html: str) -> dict[str, bytes]:
    folder = Path(html).parent / (Path(html).stem + "_data")
    return {path.name: path.read_bytes() for path in sorted(folder.glob("*.csv"))}


def runs(root: Path, outRoot: Path, args) -> None:
    """The peer and the shipped report, timed on the same dataset; their CSV files must be identical."""
    from AISCommonLib.report.report import writeReport

    cacheFolder = outRoot / "cache"
    peer, peerSeconds = _timed("peer", lambda: writeReport(root, outRoot / "peer" / "report.html", snapshots=args.pictures, workers=1, cache=False),
                               args.profile)
    cold, coldSeconds = _timed("cold", lambda: writeReport(root, outRoot / "cold" / "report.html", snapshots=args.pictures, workers=args.workers,
                                                           cache=cacheFolder))
    warm, warmSeconds = _timed("warm", lambda: writeReport(root, outRoot / "warm" / "report.html", snapshots=args.pictures, workers=args.workers,
                                                           cache=cacheFolder))
    cases = peer["run"]["cases"]
    identical = _csvFiles(peer["html"]) == _csvFiles(cold["html"]) == _csvFiles(warm["html"])
    print(f"\nAcceptance report of {cases} cases{' with pictures' if args.pictures else ''} (same files, same process):")
    print(f"  {'run':52s} {'seconds':>8s} {'per case':>9s} {'vs peer':>8s}")
    for label, seconds in (("peer: uncached, 1 process (as before)", peerSeconds),
                           (f"cold cache, {args.workers} workers (first run)", coldSeconds),
                           (f"warm cache, {args.workers} workers (files unchanged)", warmSeconds)):
        print(f"  {label:52s} {seconds:8.1f} {seconds / max(cases, 1) * 1000:7.0f} ms {peerSeconds / seconds:7.1f}x")
    print(f"  cases from the cache: cold {cold['run']['cached']}, warm {warm['run']['cached']}; CSV files identical in all three runs: {identical}")
    if not identical:
        raise SystemExit("The reports differ: the cache or the workers changed a number.")


if __name__ == "__main__":
    sys.exit(main())
