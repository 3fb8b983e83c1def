"""``ais review-snapshot``: one PNG per discordant region from the reads in the BIDS derivatives."""

import argparse

import numpy as np
import pytest
import reviewdata

from AISCommonLib.cli import reviewsnapshot as reviewsnapshotcli
from AISCommonLib.core.cases import discoverCases
from AISCommonLib.core.derivatives import selectReads, writeReaderMask
from AISCommonLib.core.errors import InputError
from AISCommonLib.core.sequences import loadCase


def _parser():
    parser = argparse.ArgumentParser(prog="ais")
    reviewsnapshotcli.addReviewSnapshotCommand(parser.add_subparsers(dest="command", required=True))
    return parser


def _writeTwoReads(simpleDataset):
    root, info = simpleDataset
    case = discoverCases(root)[0]
    loaded = loadCase(case)
    maskA, maskB = reviewdata.twoReads(info["truth"])
    writeReaderMask(root, case, maskA, loaded.dwi, "R01", "manual", {})
    writeReaderMask(root, case, maskB, loaded.dwi, "R02", "manual", {})
    return root, case


def test_review_snapshot_writes_one_picture_per_region(simpleDataset, tmp_path, capsys, converterRules):
    root, case = _writeTwoReads(simpleDataset)
    outDir = tmp_path / "pictures"
    args = _parser().parse_args(["review-snapshot", str(root), "--participant-label", "01", "--out-dir", str(outDir), "--tile-size", "128"])
    assert args.handler(args) == 0
    printed = capsys.readouterr().out
    assert "reader A R01 (blue), reader B R02 (amber)" in printed and "3 discordant region(s)" in printed
    pictures = sorted(outDir.glob("*.png"))
    assert [path.name for path in pictures] == [f"{case.caseId}_region-{index:02d}.png" for index in (1, 2, 3)]
    import vtk
    from vtk.util import numpy_support

    reader = vtk.vtkPNGReader()
    reader.SetFileName(str(pictures[1]))
    reader.Update()
    image = reader.GetOutput()
    pixels = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars())
    # 2x2 tiles and a gap, then the caption band (4 lines) under a gap.
    from AISCommonLib.mrml.regionsnapshot import CAPTION_LINES

    width, height = image.GetDimensions()[:2]
    assert width == 2 * 128 + 4 and height > 2 * 128 + 4 + CAPTION_LINES * 9 and pixels.std() > 10
    assert np.any(np.all(np.abs(pixels[:, :3].astype(int) - [51, 140, 255]) <= 40, axis=1))  # reader A's blue
    assert np.any(np.all(np.abs(pixels[:, :3].astype(int) - [255, 178, 0]) <= 40, axis=1))  # reader B's amber


def test_review_snapshot_needs_two_reads(simpleDataset, tmp_path):
    root, _ = simpleDataset
    case = discoverCases(root)[0]
    with pytest.raises(InputError, match="two are needed"):
        selectReads(root, case)
    args = _parser().parse_args(["review-snapshot", str(root), "--mask-a", "a.nii.gz", "--out-dir", str(tmp_path)])
    with pytest.raises(InputError, match="both --mask-a and --mask-b"):
        args.handler(args)


@pytest.mark.parametrize("quiet", [False, True])
def test_review_snapshot_shows_progress_unless_quiet(simpleDataset, tmp_path, capsys, converterRules, quiet):
    from AISCommonLib.cli.main import main

    root, case = _writeTwoReads(simpleDataset)
    argv = ["review-snapshot", str(root), "--participant-label", "01", "--out-dir", str(tmp_path / "pictures"), "--tile-size", "96"]
    code = main(["--quiet", *argv] if quiet else argv)
    captured = capsys.readouterr()
    assert code == 0 and "3 discordant region(s)" in captured.out
    assert len(list((tmp_path / "pictures").glob("*.png"))) == 3
    if quiet:
        assert captured.err == ""
    else:
        # stderr is not a terminal here: plain lines, the last one at 100 %.
        lines = captured.err.splitlines()
        assert any(line.startswith("ais review-snapshot:  33% ") and f"Picturing region 2 of {case.caseId}" in line for line in lines)
        assert lines[-1].startswith("ais review-snapshot: 100% ") and "\r" not in captured.err


def test_review_snapshot_refuses_workers_out_of_range(simpleDataset, tmp_path):
    root, _ = simpleDataset
    args = _parser().parse_args(["review-snapshot", str(root), "--out-dir", str(tmp_path), "--workers", "0"])
    with pytest.raises(InputError, match="--workers 0 is out of range"):
        args.handler(args)


def test_review_snapshots_picture_only_the_regions_asked_for(simpleDataset, tmp_path, converterRules):
    from AISCommonLib.mrml.regionsnapshot import makeReviewSnapshots

    root, case = _writeTwoReads(simpleDataset)
    (_, pathA), (_, pathB) = selectReads(root, case)
    full = makeReviewSnapshots(case, tmp_path / "all", pathA, pathB, ("R01", "R02"), tileSize=96)
    first = makeReviewSnapshots(case, tmp_path / "first", pathA, pathB, ("R01", "R02"), tileSize=96, maxRegions=2)
    assert full["regionsTotal"] == first["regionsTotal"] == 3
    assert [entry["id"] for entry in first["regions"]] == [1, 2] and len(list((tmp_path / "first").iterdir())) == 2
    assert first["regions"] == [{**entry, "png": entry["png"].replace(str(tmp_path / "all"), str(tmp_path / "first"))}
                                for entry in full["regions"][:2]]
    for entry in first["regions"]:
        twin = entry["png"].replace(str(tmp_path / "first"), str(tmp_path / "all"))
        with open(entry["png"], "rb") as limited, open(twin, "rb") as unlimited:
            assert limited.read() == unlimited.read()
