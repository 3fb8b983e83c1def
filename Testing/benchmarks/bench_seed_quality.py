"""How good a starting point the seed is, on real scans and on the phantoms: plain rule, default seed, seed + DWI assist.

For every real case under ``../shared/data/real`` (and any other folder given) and every phantom case of the
demo dataset (generator seeds 0, 1, 2), against the expert (or phantom) mask:

- Dice, recall, precision, lesion-wise F1 (ISLES 2022 definition, the reference as read A);
- components of the seed and of the reference, seed volume over reference volume;
- **reader effort**: voxels the reader must add plus voxels they must erase to reach the reference, as a fraction
  of the reference volume (0 = nothing to do, 1 = as much work as drawing it from scratch).

Real cases without a reference are listed with what can be said without one (volume, components).

    .venv/bin/python Testing/benchmarks/bench_seed_quality.py [--real DIR ...] [--phantom-seeds 0 1 2] [--json OUT]
"""

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from AISCommonLib.core.agreement import compareMasks
from AISCommonLib.core.cases import discoverCases
from AISCommonLib.core.dwiassist import AssistParameters, assistOnDwi
from AISCommonLib.core.image import loadVolume
from AISCommonLib.core.seeding import MODE_PLAIN, SeedParameters, seedLesion
from AISCommonLib.core.sequences import loadCase

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_REAL = ROOT.parent / "shared" / "data" / "real"
METHODS = ("plain rule", "seed", "seed + DWI assist", "seed + generous DWI assist")
#: The "generous" assist: the slider moved down to 1 robust SD, as a reader would on faint lesions.
GENEROUS_ASSIST = AssistParameters(dwiMinRobustZ=1.0)


def referenceMask(datasetRoot: Path, case):
    """The expert mask a dataset ships for a case (ISLES layout: ``derivatives/sub-*/[ses-*/]*_msk.nii.gz``), or None."""
    for path in sorted(datasetRoot.parent.glob(f"derivatives/sub-{case.subject}/**/*msk.nii.gz")) + sorted(
            datasetRoot.glob(f"derivatives/phantom-truth/sub-{case.subject}/**/*truth_dwi_lesionmask.nii.gz")):
        return loadVolume(path).array != 0
    return None


def realDatasets(folders) -> list[Path]:
    """BIDS roots (or their rawdata) holding cases, one per folder of the real-data collection."""
    roots = []
    for folder in folders:
        for candidate in sorted(Path(folder).iterdir()):
            if not candidate.is_dir():
                continue
            roots.append(candidate / "rawdata" if (candidate / "rawdata").is_dir() else candidate)
    return roots


def components(mask: np.ndarray) -> int:
    import SimpleITK as sitk

    return int(sitk.GetArrayFromImage(sitk.ConnectedComponent(sitk.GetImageFromArray(mask.astype(np.uint8)), True)).max())


def score(mask: np.ndarray, reference: np.ndarray | None, ijkToRas) -> dict:
    row = {"voxels": int(mask.sum()), "components": components(mask)}
    if reference is None:
        return row
    if not reference.any():
        # A case without a lesion: everything marked is to be erased; effort relative to nothing is undefined.
        row["falsePositiveMl"] = float(mask.sum()) * abs(float(np.linalg.det(ijkToRas[:3, :3]))) / 1000.0
        return row
    shared = int((mask & reference).sum())
    result = compareMasks(reference, mask, ijkToRas)
    row.update({
        "dice": 2 * shared / max(int(mask.sum()) + int(reference.sum()), 1),
        "recall": shared / max(int(reference.sum()), 1),
        "precision": shared / int(mask.sum()) if mask.any() else None,
        "lesionF1": result.detectionAReference.f1,
        "volumeRatio": float(mask.sum()) / max(int(reference.sum()), 1),
        "effort": (int(reference.sum()) - shared + int(mask.sum()) - shared) / max(int(reference.sum()), 1),
    })
    return row


def evaluateCase(datasetLabel: str, root: Path, case, reference) -> list[dict]:
    loaded = loadCase(case)
    started = time.perf_counter()
    plain = seedLesion(loaded, SeedParameters(mode=MODE_PLAIN)).mask
    seed = seedLesion(loaded).mask
    assisted = assistOnDwi(loaded, seed).mask
    generous = assistOnDwi(loaded, seed, GENEROUS_ASSIST).mask
    seconds = time.perf_counter() - started
    base = {"dataset": datasetLabel, "case": case.caseId, "referenceVoxels": None if reference is None else int(reference.sum()),
            "referenceComponents": None if reference is None else components(reference), "seconds": round(seconds, 2)}
    return [{**base, "method": method, **score(mask, reference, loaded.dwi.ijkToRas)} for method, mask in zip(METHODS, (plain, seed, assisted, generous))]


def phantomDatasets(seeds, folder: Path) -> list[tuple[str, Path]]:
    from AISCommonLib.synthetic.scenarios import makeDemoDataset

    roots = []
    for generatorSeed in seeds:
        root = folder / f"phantoms-{generatorSeed}"
        makeDemoDataset(root, seed=generatorSeed)
        roots.append((f"phantoms seed {generatorSeed}" + (" (tuning)" if generatorSeed == 0 else ""), root))
    return roots


def formatRow(row: dict) -> str:
    def number(key, digits=2):
        value = row.get(key)
        return "-" if value is None else f"{value:.{digits}f}"

    return (f"| {row['dataset']} | {row['case']} | {row['method']} | {number('dice')} | {number('recall')} | {number('precision')} | "
            f"{number('lesionF1')} | {row['components']} / {row['referenceComponents'] if row['referenceComponents'] is not None else '-'} | "
            f"{number('volumeRatio')} | {number('effort')} |" + (f" false positives {row['falsePositiveMl']:.2f} ml (no lesion) |" if "falsePositiveMl" in row else ""))


def summarise(rows: list[dict]) -> list[str]:
    lines = ["| set | method | cases with a lesion | mean Dice | mean recall | mean precision | mean lesion F1 | mean effort | "
             "effort below the plain rule's | false positives in lesion-free cases (ml) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for dataset in dict.fromkeys(row["dataset"] for row in rows):
        scored = [row for row in rows if row["dataset"] == dataset and row.get("effort") is not None]
        for method in METHODS:
            chosen = [row for row in scored if row["method"] == method]
            if not chosen:
                continue
            mean = {key: np.mean([row[key] for row in chosen if row[key] is not None]) for key in ("dice", "recall", "precision", "lesionF1", "effort")}
            plainEffort = {row["case"]: row["effort"] for row in scored if row["method"] == METHODS[0]}
            better = f"{sum(row['effort'] < plainEffort[row['case']] for row in chosen)} of {len(chosen)}" if method != METHODS[0] else "-"
            free = [row["falsePositiveMl"] for row in rows if row["dataset"] == dataset and row["method"] == method and "falsePositiveMl" in row]
            lines.append(f"| {dataset} | {method} | {len(chosen)} | {mean['dice']:.2f} | {mean['recall']:.2f} | {mean['precision']:.2f} | "
                         f"{mean['lesionF1']:.2f} | {mean['effort']:.2f} | {better} | {', '.join(f'{value:.2f}' for value in free) or '-'} |")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--real", nargs="*", default=[str(DEFAULT_REAL)], help="folders of real cases (default: ../shared/data/real)")
    parser.add_argument("--phantom-seeds", nargs="*", type=int, default=[0, 1, 2], help="demo-dataset generator seeds (default 0 1 2)")
    parser.add_argument("--json", help="also write every row as JSON")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="ais-seed-bench-") as folder:
        datasets = [(root.parent.name if root.name == "rawdata" else root.name, root) for root in realDatasets(args.real)]
        datasets += phantomDatasets(args.phantom_seeds, Path(folder))
        for label, root in datasets:
            for case in discoverCases(root):
                reference = referenceMask(root, case)
                rows.extend(evaluateCase(label, root, case, reference))
                print(f"{label} {case.caseId} done", file=sys.stderr)
    print(f"Seed quality, {time.strftime('%Y-%m-%d')}, {platform.machine()} {platform.processor() or ''}, Python {platform.python_version()}")
    print("\n| set | case | method | Dice | recall | precision | lesion F1 | components (seed / reference) | volume ratio | reader effort |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(formatRow(row))
    print()
    print("\n".join(summarise(rows)))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, default=float), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
