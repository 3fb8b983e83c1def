"""Lesion attributes: given at a place, tied to the lesion of the submitted mask that holds it, kept in the read."""

import json

import numpy as np
import pytest

from AISCommonLib.core.errors import InputError
from AISCommonLib.core.image import voxelToRas
from AISCommonLib.core.lesionattributes import (
    LesionAttributes,
    describeLesion,
    parseLesionAttributes,
    placeLesionAttributes,
)
from AISCommonLib.core.readrecord import buildReadParameters
from AISCommonLib.synthetic.tinycases import rotationAffine


def twoLesions():
    """A big lesion (27 voxels) and a small one (8 voxels) on an oblique 2 mm grid: ``(mask, ijkToRas)``."""
    mask = np.zeros((20, 24, 24), dtype=bool)
    mask[4:7, 4:7, 4:7] = True
    mask[12:14, 15:17, 15:17] = True
    return mask, rotationAffine((2.0, 2.0, 2.0), (10.0, -8.0, 5.0))


def centre(ijkToRas, kji):
    return tuple(voxelToRas(ijkToRas, np.array([kji], dtype=float))[0])


def test_attributes_are_tied_to_the_lesion_at_their_place():
    mask, affine = twoLesions()
    small = LesionAttributes(centre(affine, (12.5, 15.5, 15.5)), "no", "lacunar", "acute")
    placed = placeLesionAttributes([small], mask, affine)
    assert placed["unattributed_lesions"] == [1]
    record = placed["lesions"][0]
    assert record["lesion"] == 2 and record["territory"] == "lacunar" and record["acuity"] == "acute"
    assert record["hemorrhagic_transformation"] == "no"
    assert record["volume_ml"] == pytest.approx(8 * abs(np.linalg.det(affine[:3, :3])) / 1000.0, rel=1e-3)
    assert np.allclose(record["centroid_ras"], small.ras, atol=0.01)
    big = LesionAttributes(centre(affine, (3.6, 5.0, 5.0)), "uncertain", "mca")  # just outside the lesion: its rim
    both = placeLesionAttributes([small, big], mask, affine)
    assert [record["lesion"] for record in both["lesions"]] == [1, 2] and both["unattributed_lesions"] == []
    parameters = buildReadParameters({"dwi": 4, "adc": 4, "flair": 4}, {}, [], 1.0, lesions=both)
    assert json.loads(json.dumps(parameters))["lesions"][0]["territory"] == "mca"
    assert describeLesion(both["lesions"][0]).startswith("lesion 1 (") and "territory MCA, hemorrhagic transformation uncertain" in describeLesion(both["lesions"][0])


def test_places_outside_every_lesion_or_twice_in_one_are_refused():
    mask, affine = twoLesions()
    with pytest.raises(InputError, match="No lesion of the mask lies at"):
        placeLesionAttributes([LesionAttributes(centre(affine, (18.0, 2.0, 20.0)), territory="pca")], mask, affine)
    inside = [LesionAttributes(centre(affine, kji), territory="mca") for kji in ((4.0, 4.0, 4.0), (6.0, 6.0, 6.0))]
    with pytest.raises(InputError, match="same lesion"):
        placeLesionAttributes(inside, mask, affine)
    with pytest.raises(InputError, match="No lesion"):
        placeLesionAttributes(inside[:1], np.zeros_like(mask), affine)


def test_the_command_line_form_is_read_and_checked():
    parsed = parseLesionAttributes("Territory=MCA, ht=No, age=acute@-32,10.5,41")
    assert parsed == LesionAttributes((-32.0, 10.5, 41.0), "no", "mca", "acute")
    assert parseLesionAttributes("territory=watershed@0,0,0").hemorrhagicTransformation is None
    for bad, message in (("territory=mca", "KEY=VALUE"), ("territory=mca@1,2", "@R,A,S"), ("colour=red@1,2,3", "Unknown lesion attribute"),
                         ("territory=frontal@1,2,3", "not a territory"), ("ht=maybe@1,2,3", "not a hemorrhagic transformation"),
                         ("@1,2,3", "has no attribute"), ("acuity=acute@1,nan,3", "finite")):
        with pytest.raises(InputError, match=message):
            parseLesionAttributes(bad)
