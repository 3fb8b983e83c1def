"""Consensus masks: intersection, union, STAPLE, and writing them."""

import numpy as np
import pytest
from readpair import MATRIX, SHAPE

from AISCommonLib.core.consensus import intersectionMask, stapleMask, unionMask, writeConsensusMask
from AISCommonLib.core.errors import InputError
from AISCommonLib.core.image import loadVolume


def test_intersection_and_union(reads):
    maskA, maskB = reads
    assert np.array_equal(intersectionMask(reads), maskA & maskB)
    assert np.array_equal(unionMask(reads), maskA | maskB)
    assert intersectionMask([maskA, maskB, maskA]).sum() == (maskA & maskB).sum()


def test_staple_keeps_agreement_and_reports_reader_estimates(reads):
    maskA, maskB = reads
    mask, estimates = stapleMask(reads)
    assert mask.dtype == bool and mask.shape == SHAPE
    assert mask[maskA & maskB].all() and not mask[~(maskA | maskB)].any()
    assert len(estimates["sensitivity"]) == 2 and all(0.0 <= value <= 1.0 for value in estimates["specificity"])
    identical, _ = stapleMask([maskA, maskA.copy()])
    assert np.array_equal(identical, maskA)


def test_staple_of_empty_reads_is_empty():
    mask, estimates = stapleMask([np.zeros(SHAPE, bool), np.zeros(SHAPE, bool)])
    assert not mask.any() and estimates["iterations"] == 0


def test_bad_reads_are_refused(reads):
    with pytest.raises(InputError, match="at least two"):
        unionMask([reads[0]])
    with pytest.raises(InputError, match="shape"):
        intersectionMask([reads[0], np.zeros((10, 20, 21), bool)])
    with pytest.raises(InputError, match="bool"):
        stapleMask([reads[0], reads[1].astype(np.uint8)])


def test_written_consensus_is_binary_uint8_on_the_same_grid(reads, tmp_path):
    oblique = MATRIX.copy()
    oblique[:3, 3] = (-80.0, 20.0, 10.0)
    path = tmp_path / "sub-001_dwi_lesionmask.nii.gz"
    writeConsensusMask(unionMask(reads), oblique, path)
    volume = loadVolume(path)
    assert volume.array.dtype == np.uint8 and set(np.unique(volume.array)) == {0, 1}
    assert np.array_equal(volume.array.astype(bool), unionMask(reads))
    assert np.allclose(volume.ijkToRas, oblique)
