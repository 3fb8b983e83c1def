"""Crosshair jump, next/previous lesion and the probe at a RAS point."""

import os

import numpy as np
import pytest

if not os.environ.get("AIS_REQUIRE_SLICER_CORE"):
    pytest.importorskip("slicer", reason="slicer-core is not installed")

from AISAnnotatorLib.mrml import probe  # noqa: E402
from AISCommonLib.core.image import voxelToRas  # noqa: E402
from AISCommonLib.mrml import crosshair, layouts, lesionnav  # noqa: E402


def test_jump_centres_every_view_on_the_point(readingLayout):
    app, caseNodes, info = readingLayout
    node = crosshair.showCrosshair(app.scene)
    assert node.GetCrosshairMode() == node.ShowBasic
    point = voxelToRas(info["affine"], np.argwhere(info["truth"]).mean(axis=0))
    crosshair.jumpToRas(app.scene, point)
    np.testing.assert_allclose(crosshair.crosshairRas(app.scene), point, atol=1e-6)
    shown = layouts.readingViews(app.scene, layouts.LAYOUT_4X3_MULTIPLANAR)
    assert len(shown) == 12
    for _, sliceNode in shown:
        np.testing.assert_allclose(crosshair.sliceCenterRas(sliceNode), point, atol=1e-3)


def test_lesion_navigation_cycles_largest_first(readingLayout):
    app, caseNodes, info = readingLayout
    mask = info["truth"].copy()
    mask[2:4, 30:32, 28:30] = True  # a small second lesion (8 voxels)
    navigator = lesionnav.LesionNavigator(mask, info["affine"])
    assert navigator.count == 2 and navigator.current() is None
    first = lesionnav.stepLesion(app.scene, navigator, 1)
    assert first.voxels == int(info["truth"].sum())
    np.testing.assert_allclose(first.centroidRas, voxelToRas(info["affine"], np.argwhere(info["truth"]).mean(axis=0)), atol=1e-2)
    np.testing.assert_allclose(crosshair.crosshairRas(app.scene), first.centroidRas, atol=1e-6)
    for _, sliceNode in layouts.readingViews(app.scene, layouts.LAYOUT_4X3_MULTIPLANAR):
        np.testing.assert_allclose(crosshair.sliceCenterRas(sliceNode), first.centroidRas, atol=1e-3)
    assert navigator.next().voxels == 8
    assert navigator.next().voxels == first.voxels  # wraps around
    assert navigator.previous().voxels == 8
    empty = lesionnav.LesionNavigator(np.zeros_like(mask), info["affine"])
    assert empty.next() is None and not lesionnav.jumpToLesion(app.scene, None)


def test_probe_reads_every_sequence_with_the_adc_unit(simpleCaseNodes):
    _, caseNodes, info = simpleCaseNodes
    kji = tuple(int(value) for value in np.argwhere(info["truth"])[0])
    point = voxelToRas(info["affine"], np.array(kji, dtype=float))
    values = {value.sequence: value for value in probe.probeSequences(caseNodes.volumeNodes, point, caseNodes.adcUnit)}
    assert set(values) == {"dwi", "adc", "eadc", "flair"}
    assert values["adc"].kji == kji
    assert values["adc"].value == pytest.approx(caseNodes.loaded.adc.array[kji])
    assert values["dwi"].value == pytest.approx(caseNodes.loaded.dwi.array[kji])
    assert values["adc"].unit == "x 1e-6 mm^2/s" and values["dwi"].unit == ""
    line = probe.statusLine(caseNodes.volumeNodes, point, caseNodes.adcUnit)
    assert line.startswith("R ") and "ADC " in line and "x 1e-6 mm^2/s" in line and "FLAIR " in line
    outside = probe.probeSequences(caseNodes.volumeNodes, (900.0, 0.0, 0.0), caseNodes.adcUnit)
    assert all(value.value is None for value in outside) and outside[0].text() == "DWI -"
