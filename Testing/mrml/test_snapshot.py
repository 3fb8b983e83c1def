"""``ais snapshot``: linked views rendered offscreen (EGL) into one PNG with the lesion outlined.

Rendering must work where the tests run (CI installs Mesa EGL): a failure to render fails the test.
"""

import argparse
import os

import numpy as np
import pytest

if not os.environ.get("AIS_REQUIRE_SLICER_CORE"):
    pytest.importorskip("slicer", reason="slicer-core is not installed")

import vtk  # noqa: E402
from vtk.util import numpy_support  # noqa: E402

from AISCommonLib.cli import snapshot as snapshotcli  # noqa: E402
from AISCommonLib.core.cases import selectCase  # noqa: E402
from AISCommonLib.core.errors import AISError, InputError  # noqa: E402
from AISCommonLib.core.image import voxelToRas, writeNifti  # noqa: E402
from AISCommonLib.mrml import availability  # noqa: E402
from AISCommonLib.mrml.snapshot import renderCaseSnapshot  # noqa: E402

TILE = 200
GAP = 4


def readPng(path) -> np.ndarray:
    reader = vtk.vtkPNGReader()
    reader.SetFileName(str(path))
    reader.Update()
    image = reader.GetOutput()
    width, height, _ = image.GetDimensions()
    pixels = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(height, width, -1)
    return pixels[::-1, :, :3]


def tile(pixels, row, column):
    top, left = row * (TILE + GAP), column * (TILE + GAP)
    return pixels[top:top + TILE, left:left + TILE].astype(int)


def outlinePixels(tilePixels):
    """Pixels of the lesion colour (red): outline, or fill blended over grey."""
    red, green, blue = tilePixels[..., 0], tilePixels[..., 1], tilePixels[..., 2]
    return (red > 120) & (red - green > 40) & (red - blue > 40)


def run(argv):
    parser = argparse.ArgumentParser()
    snapshotcli.addSnapshotCommand(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.handler(args)


def test_snapshot_renders_each_sequence_with_the_outline(simpleDataset, tmp_path, capsys):
    root, info = simpleDataset
    maskPath = tmp_path / "mask.nii.gz"
    writeNifti(info["truth"].astype(np.uint8), info["affine"], maskPath)
    lesionCentre = voxelToRas(info["affine"], np.argwhere(info["truth"]).mean(axis=0))
    brainCentre = voxelToRas(info["affine"], np.array([10.0, 22.0, 20.0]))
    out = tmp_path / "pictures" / "snapshot.png"
    ras = [f"{value:.3f}" for value in (brainCentre[0], brainCentre[1], lesionCentre[2])]
    assert run(["snapshot", str(root), "--mask", str(maskPath), "--ras", *ras, "--tile-size", str(TILE), "--out", str(out)]) == 0
    assert "Wrote" in capsys.readouterr().out
    pixels = readPng(out)
    assert pixels.shape == (2 * TILE + GAP, 2 * TILE + GAP, 3)
    tiles = [tile(pixels, row, column) for row in range(2) for column in range(2)]
    for index, tilePixels in enumerate(tiles):
        assert tilePixels.max() > 100 and tilePixels.std() > 10, f"tile {index} is empty"
        lesion = outlinePixels(tilePixels)
        assert lesion.sum() > 20, f"tile {index} has no lesion outline"
        # The lesion is in the patient's left hemisphere (R < 0): on the right half of the screen.
        columns = np.nonzero(lesion)[1]
        assert columns.mean() > TILE / 2 + 10
    # DWI is filled, the others outlined only: more lesion-coloured pixels on DWI.
    assert outlinePixels(tiles[0]).sum() > 1.5 * outlinePixels(tiles[1]).sum()
    # Each tile shows its own sequence: the four pictures differ.
    for first in range(4):
        for second in range(first + 1, 4):
            assert np.abs(tiles[first] - tiles[second]).mean() > 3


def test_snapshot_defaults_to_the_seed_and_multiplanar(simpleDataset, tmp_path):
    root, info = simpleDataset
    case = selectCase(root / "sub-01" / "ses-01")
    summary = renderCaseSnapshot(case, tmp_path / "multi.png", layout="4x3", tileSize=TILE)
    assert summary["outlined"] == "ADC seed" and summary["lesionVoxels"] > 0
    lesionCentre = voxelToRas(info["affine"], np.argwhere(info["truth"]).mean(axis=0))
    np.testing.assert_allclose(summary["centerRas"], lesionCentre, atol=2.0)
    pixels = readPng(tmp_path / "multi.png")
    assert pixels.shape == (4 * TILE + 3 * GAP, 3 * TILE + 2 * GAP, 3)
    for row in range(4):
        for column in range(3):
            assert outlinePixels(tile(pixels, row, column)).sum() > 5, f"tile {row},{column} has no outline"


def letterPixels(tilePixels, edge: str, band: int = 22) -> int:
    """Pixels in the orientation letters' colour (light cyan) near the middle of one edge of a tile."""
    height, width, _ = tilePixels.shape
    region = {"left": tilePixels[height // 2 - 2 * band:height // 2, :band],
              "right": tilePixels[height // 2 - 2 * band:height // 2, width - band:],
              "bottom": tilePixels[height - band:, width // 2:width // 2 + 2 * band]}[edge].astype(int)
    return int(((region[..., 2] > 170) & (region[..., 1] > 150) & (region[..., 0] < 200) & (region[..., 2] > region[..., 0] + 40)).sum())


def test_every_view_has_orientation_letters(simpleDataset, tmp_path):
    from AISCommonLib.mrml import headless, layouts
    from AISCommonLib.mrml.snapshot import orientationLetters

    root, _ = simpleDataset
    summary = renderCaseSnapshot(selectCase(root), tmp_path / "letters.png", layout="4x3", tileSize=TILE)
    pixels = readPng(tmp_path / "letters.png")
    for row in range(4):
        for column in range(3):
            for edge in ("left", "right", "bottom"):
                assert letterPixels(tile(pixels, row, column), edge) > 0, f"tile {row},{column} has no letter at its {edge} edge"
    app = headless.createHeadlessApplication()
    layouts.setLayout(app.layoutNode, layouts.LAYOUT_4X3_MULTIPLANAR)
    expected = {"Axial": {"left": "R", "right": "L", "top": "A", "bottom": "P"},
                "Coronal": {"left": "R", "right": "L", "top": "S", "bottom": "I"},
                "Sagittal": {"left": "A", "right": "P", "top": "S", "bottom": "I"}}
    for view, sliceNode in layouts.readingViews(app.scene, layouts.LAYOUT_4X3_MULTIPLANAR):
        assert orientationLetters(sliceNode) == expected[view.orientation], view.layoutName
    assert summary["outlined"] == "ADC seed"


def test_snapshot_input_errors(simpleDataset, writeCase, tmp_path, monkeypatch):
    root, _ = simpleDataset
    writeCase(root, subject="02")
    with pytest.raises(InputError, match="--participant-label"):
        selectCase(root)
    assert selectCase(root, "02").subject == "02"
    with pytest.raises(InputError, match="tile-size"):
        run(["snapshot", str(root), "--tile-size", "10", "--out", str(tmp_path / "x.png")])
    monkeypatch.setattr(availability.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(AISError, match="slicer-core"):
        run(["snapshot", str(root), "--participant-label", "01", "--out", str(tmp_path / "x.png")])
