"""Hints before submit find planted mistakes and stay quiet on a good mask."""

import dataclasses

import numpy as np
import pytest

from AISCommonLib.core.cases import discoverCases
from AISCommonLib.core.errors import GeometryError, InputError
from AISCommonLib.core.hints import (
    ADC_NOT_LOW,
    FLAIR_NOT_DWI,
    NOT_DWI_BRIGHT,
    OUTSIDE_BRAIN,
    computeHints,
    hintsForVolume,
    labelRegions,
)
from AISCommonLib.core.image import Volume, voxelToRas
from AISCommonLib.core.sequences import loadCase


def ball(shape, centerKji, radius):
    k, j, i = np.indices(shape)
    return (k - centerKji[0]) ** 2 + (j - centerKji[1]) ** 2 + (i - centerKji[2]) ** 2 <= radius**2


@pytest.fixture
def loaded(simpleDataset):
    root, info = simpleDataset
    return loadCase(discoverCases(root)[0]), info


def kindsByRegion(hints):
    found = {}
    for hint in hints:
        found.setdefault(hint.region.regionId, set()).add(hint.kind)
    return found


def test_true_lesion_gives_no_hint(loaded):
    case, info = loaded
    assert computeHints(case, info["truth"]) == []
    assert computeHints(case, np.zeros_like(info["truth"])) == []


def test_planted_mistakes_are_found(loaded):
    case, info = loaded
    shape = case.dwi.gridShape
    normal = ball(shape, (10, 30, 28), 2)  # normal parenchyma: ADC 780, DWI not bright
    outside = ball(shape, (10, 2, 2), 1)  # corner of the image: no brain
    mask = info["truth"] | normal | outside
    hints = computeHints(case, mask)
    regions = {region.voxels: region for region in labelRegions(mask, case.dwi.ijkToRas)[1]}
    byRegion = kindsByRegion(hints)
    lesionId = regions[int(info["truth"].sum())].regionId
    normalId = regions[int(normal.sum())].regionId
    outsideId = regions[int(outside.sum())].regionId
    assert lesionId not in byRegion
    assert byRegion[normalId] == {ADC_NOT_LOW, NOT_DWI_BRIGHT}
    assert OUTSIDE_BRAIN in byRegion[outsideId]
    normalHint = next(hint for hint in hints if hint.region.regionId == normalId and hint.kind == ADC_NOT_LOW)
    assert 700 < normalHint.measured < 900
    assert "x 1e-6 mm^2/s" in normalHint.message
    expectedCentroid = voxelToRas(case.dwi.ijkToRas, np.argwhere(normal).mean(axis=0))
    np.testing.assert_allclose(normalHint.region.centroidRas, expectedCentroid, atol=1e-2)
    assert normalHint.region.volumeMl == pytest.approx(normal.sum() * case.dwi.voxelVolumeMm3 / 1000, abs=1e-4)


def test_shine_through_and_old_lesion(loaded):
    case, info = loaded
    shape = case.dwi.gridShape
    shine = ball(shape, (10, 30, 28), 2)
    old = ball(shape, (10, 14, 27), 2.5)
    dwi = case.dwi.array.copy()
    dwi[shine] *= 3.0  # DWI-bright with normal ADC: T2 shine-through
    flair = case.flair.array.astype(np.float32).copy()
    flair[old] *= 3.0  # FLAIR-bright, DWI normal: old lesion
    # FLAIR on its own, finer grid: hints resample it onto the DWI grid.
    fineMatrix = case.dwi.ijkToRas.copy()
    fineMatrix[:3, :3] = case.dwi.ijkToRas[:3, :3] / 2.0
    fineMatrix[:3, 3] = voxelToRas(case.dwi.ijkToRas, np.array([-0.25, -0.25, -0.25]))
    fineFlair = np.repeat(np.repeat(np.repeat(flair, 2, axis=0), 2, axis=1), 2, axis=2)
    planted = dataclasses.replace(case, dwi=case.dwi.withArray(dwi), flair=Volume(fineFlair, fineMatrix))
    mask = info["truth"] | shine | old
    hints = computeHints(planted, mask)
    regions = {region.voxels: region.regionId for region in labelRegions(mask, case.dwi.ijkToRas)[1]}
    byRegion = kindsByRegion(hints)
    assert len(regions) == 3
    assert byRegion[regions[int(shine.sum())]] == {ADC_NOT_LOW}
    shineId = regions[int(shine.sum())]
    assert "T2 shine-through" in next(hint.message for hint in hints if hint.region.regionId == shineId)
    assert byRegion[regions[int(old.sum())]] == {ADC_NOT_LOW, NOT_DWI_BRIGHT, FLAIR_NOT_DWI}
    assert regions[int(info["truth"].sum())] not in byRegion


def test_regions_are_26_connected_and_ordered(loaded):
    case, _ = loaded
    mask = np.zeros(case.dwi.gridShape, dtype=bool)
    mask[2, 2, 2] = mask[3, 3, 3] = True  # diagonal neighbours: one region
    mask[10, 10, 10:14] = True
    labels, regions = labelRegions(mask, case.dwi.ijkToRas)
    assert [region.voxels for region in regions] == [4, 2]
    assert labels[10, 10, 10] == 1 and labels[2, 2, 2] == labels[3, 3, 3] == 2


def test_mask_off_grid_is_refused(loaded):
    case, _ = loaded
    with pytest.raises(InputError):
        computeHints(case, np.zeros((3, 3, 3), dtype=bool))
    shifted = case.dwi.ijkToRas.copy()
    shifted[0, 3] += 5
    with pytest.raises(GeometryError):
        hintsForVolume(case, Volume(np.zeros(case.dwi.gridShape, dtype=np.uint8), shifted))
