"""``ais compare``: reader agreement of two masks, or of the newest reads of every case of a dataset."""

import sys
from pathlib import Path

from ..core.errors import AISError
from .output import emitJson, finishProgress, formatTable, notice, stderrProgress
from .regiontable import regionTable


def addCompareCommand(subparsers) -> None:
    """Register ``ais compare`` on the ``ais`` parser."""
    from ..core.agreement import DEFAULT_MAX_MISSED_LESIONS, DEFAULT_MIN_DICE, DEFAULT_MIN_EXTENT_MM3

    compare = subparsers.add_parser(
        "compare",
        help="reader agreement: two masks, or every case of a BIDS dataset",
        description="Compare two reader masks (MASK_A MASK_B) or the newest reads of every case of a BIDS dataset (BIDS_ROOT).",
    )
    compare.add_argument("inputs", nargs="+", metavar="INPUT", help="MASK_A MASK_B (NIfTI, same grid), or BIDS_ROOT")
    compare.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    compare.add_argument("--csv", metavar="OUT", help="dataset mode: write one row per pair of reads to this CSV file")
    compare.add_argument(
        "--min-extent-mm3",
        type=float,
        default=DEFAULT_MIN_EXTENT_MM3,
        metavar="V",
        help=f"hide extent regions smaller than V mm^3 (default {DEFAULT_MIN_EXTENT_MM3:g}; 0 keeps all; missed lesions are always kept)",
    )
    compare.add_argument("--label", type=int, help="lesion label value in multi-label masks")
    compare.add_argument(
        "--min-dice", type=float, default=DEFAULT_MIN_DICE, help=f"concordance: lowest Dice (default {DEFAULT_MIN_DICE:g})"
    )
    compare.add_argument(
        "--max-missed-lesions",
        type=int,
        default=DEFAULT_MAX_MISSED_LESIONS,
        help=f"concordance: most lesions one reader missed entirely (default {DEFAULT_MAX_MISSED_LESIONS})",
    )
    compare.add_argument("--workers", type=int, help="dataset mode: parallel processes (default: number of CPUs)")
    compare.set_defaults(handler=_runCompare)


def _runCompare(args) -> int:
    from ..core.agreement import AgreementParameters

    parameters = AgreementParameters(args.min_extent_mm3, args.min_dice, args.max_missed_lesions)
    parameters.validate()
    if len(args.inputs) == 1 and Path(args.inputs[0]).is_dir():
        return _compareDatasetCommand(args, parameters)
    if len(args.inputs) != 2:
        raise AISError("compare takes two mask files (MASK_A MASK_B) or one BIDS dataset folder.")
    if args.csv:
        raise AISError("--csv applies to a dataset folder; for two masks use --json.")
    return _comparePairCommand(args, parameters)


def _comparePairCommand(args, parameters) -> int:
    from ..core.agreement import compareFiles

    result = compareFiles(args.inputs[0], args.inputs[1], parameters, args.label)
    summary = result.toDict()
    if args.json:
        emitJson(summary)
        return 0
    metrics = [
        "dice",
        "jaccard",
        "volume_a_ml",
        "volume_b_ml",
        "abs_volume_diff_ml",
        "hd95_mm",
        "assd_mm",
        "lesions_a",
        "lesions_b",
        "lesion_f1",
        "missed_lesions",
    ]
    rows = [{"metric": key, "value": _formatValue(summary[key])} for key in metrics]
    rows.append(
        {
            "metric": "concordant",
            "value": f"{summary['concordant']} (Dice >= {parameters.minDice:g}, missed lesions <= {parameters.maxMissedLesions})",
        }
    )
    lines = [formatTable(rows, ["metric", "value"])]
    lines += ["", regionTable(summary["discordant_regions"])]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def _formatValue(value) -> str:
    if value is None:
        return "n/a (a mask is empty)"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _compareDatasetCommand(args, parameters) -> int:
    import csv
    import io

    from ..core.atomicio import writeTextAtomic
    from ..core.dataset import ROW_COLUMNS, compareDataset
    from ..core.derivatives import PIPELINE_NAME
    from ..core.errors import InputError
    from ..core.referencemasks import compareWithReferences

    root = Path(args.inputs[0])
    try:
        references = compareWithReferences(root, parameters, args.label)
    except InputError:
        references = []  # a folder of masks without images: no case, so no shipped reference either
    if references and not (root / "derivatives" / PIPELINE_NAME).is_dir():
        rows = []
        notice(f"ais: compare: '{root}' has no derivatives/{PIPELINE_NAME} folder yet: no reads to compare with each other.")
    else:
        rows = compareDataset(root, parameters, args.label, args.workers, stderrProgress)
        finishProgress()
    if args.csv:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=ROW_COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        writeTextAtomic(args.csv, buffer.getvalue())
    if args.json:
        emitJson({"dataset": str(args.inputs[0]), "parameters": parameters.toDict(), "pairs": rows, "references": references})
    elif not args.csv:
        columns = ["case", "reader_a", "reader_b", "status", "dice", "hd95_mm", "lesion_f1", "missed_lesions", "concordant"]
        shown = [{column: _formatValue(row[column]) if column in row else "" for column in columns} for row in rows]
        if rows:
            sys.stdout.write(formatTable(shown, columns) + "\n")
        _printReferences(references)
    failed = [row for row in rows if row["status"] == "error"]
    compared = sum(1 for row in rows if row["status"] == "compared")
    incomplete = sum(1 for row in rows if row["status"] == "incomplete")
    notice(f"ais: compare: {compared} pairs compared, {incomplete} cases with fewer than two reads, {len(failed)} failed.")
    if references:
        againstReference = sum(1 for row in references if row["status"] == "compared")
        notice(f"ais: compare: {againstReference} read(s) compared with the dataset's reference masks.")
    for row in references:
        if row["status"] in ("grid-mismatch", "error"):
            print(f"ais: warning: {row['error']}", file=sys.stderr)
    for row in failed:
        print(f"ais: error: {row['error']}", file=sys.stderr)
    return 1 if failed else 0


def _printReferences(references) -> None:
    """The reads against the masks the dataset ships (reference = the truth of the lesion-wise counts)."""
    if not references:
        return
    columns = ["case", "reader", "reference", "status", "dice", "hd95_mm", "lesion_f1", "volume_read_ml", "volume_reference_ml"]
    shown = [{column: _formatValue(row[column]) if column in row else "" for column in columns} for row in references]
    sys.stdout.write("\nReads against the reference masks the dataset ships (never changed):\n" + formatTable(shown, columns) + "\n")
