"""Reader agreement on hand-built masks with known answers, and the ``ais compare`` command."""

import json

import nibabel as nib
import numpy as np
import pytest

from AISCommonLib.cli import main as cli
from AISCommonLib.core.agreement import AgreementParameters, compareMasks
from AISCommonLib.core.errors import GeometryError, InputError
from AISCommonLib.core.image import writeNifti
from AISCommonLib.core.lesions import labelComponentsMany, labelReads
from AISCommonLib.core.surface import maskEdges, surfaceMetrics

SHAPE = (8, 10, 12)


def emptyMask(shape=SHAPE) -> np.ndarray:
    return np.zeros(shape, dtype=bool)


def maskWith(*kjiVoxels, shape=SHAPE) -> np.ndarray:
    mask = emptyMask(shape)
    for voxel in kjiVoxels:
        mask[voxel] = True
    return mask


def spacingMatrix(spacingIjk=(1.0, 1.0, 1.0)) -> np.ndarray:
    return np.diag(list(spacingIjk) + [1.0])


def rotationMatrix(axis, angleDegrees) -> np.ndarray:
    """Rodrigues' rotation about ``axis``."""
    axis = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    cross = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    angle = np.radians(angleDegrees)
    return np.eye(3) + np.sin(angle) * cross + (1 - np.cos(angle)) * cross @ cross


def compare(maskA, maskB, matrix=None, **parameters):
    return compareMasks(maskA, maskB, spacingMatrix() if matrix is None else matrix, AgreementParameters(**parameters)).toDict()


def test_both_empty_agree_perfectly_without_distances():
    result = compare(emptyMask(), emptyMask())
    assert result["dice"] == 1.0 and result["jaccard"] == 1.0
    assert result["hd95_mm"] is None and result["assd_mm"] is None
    assert result["lesions_a"] == result["lesions_b"] == 0
    assert result["lesion_f1"] == 1.0 and result["lesion_f1_b_reference"] == 1.0
    assert result["discordant_regions"] == [] and result["concordant"] is True


def test_one_empty_read_is_a_missed_lesion_and_has_no_distance():
    maskA = emptyMask()
    maskA[2:4, 2:4, 2:4] = True
    result = compare(maskA, emptyMask())
    assert result["dice"] == 0.0 and result["hd95_mm"] is None and result["assd_mm"] is None
    assert result["lesion_f1"] == 0.0 and result["lesion_f1_b_reference"] == 0.0
    assert result["abs_lesion_count_diff"] == 1
    assert [(region["kind"], region["type"], region["voxels"]) for region in result["discordant_regions"]] == [
        ("a_only", "missed_lesion", 8)
    ]
    assert result["concordant"] is False


def test_identical_masks():
    mask = emptyMask()
    mask[1:5, 2:7, 3:9] = True
    result = compare(mask, mask.copy(), spacingMatrix((0.9, 0.9, 5.0)))
    assert result["dice"] == 1.0 and result["hd95_mm"] == 0.0 and result["assd_mm"] == 0.0
    assert result["volume_a_ml"] == pytest.approx(4 * 5 * 6 * 0.9 * 0.9 * 5.0 / 1000.0)
    assert result["abs_volume_diff_ml"] == 0.0 and result["discordant_regions"] == []


def test_single_voxels_distance_uses_the_spacing_of_each_axis():
    # Two voxels two columns (i) and one row (j) apart; spacing i=1.5, j=2, k=3 mm.
    result = compare(maskWith((3, 4, 5)), maskWith((3, 5, 7)), spacingMatrix((1.5, 2.0, 3.0)))
    expected = np.hypot(2 * 1.5, 1 * 2.0)
    assert result["hd95_mm"] == pytest.approx(expected, rel=1e-6)
    assert result["assd_mm"] == pytest.approx(expected, rel=1e-6)
    assert result["dice"] == 0.0
    assert [region["type"] for region in result["discordant_regions"]] == ["missed_lesion", "missed_lesion"]
    assert result["lesion_detection"]["a_reference"] == {"tp": 0, "fp": 1, "fn": 1, "f1": 0.0}


@pytest.mark.parametrize("second", [(2, 3, 4), (2, 4, 4), (3, 4, 4)], ids=["face", "edge", "corner"])
def test_voxels_touching_by_face_edge_or_corner_are_one_lesion(second):
    maskA = maskWith((2, 3, 3), second)
    result = compare(maskA, maskWith((2, 3, 3)), minExtentMm3=0)
    assert result["lesions_a"] == 1
    # With 26-connectivity the extra voxel belongs to a lesion B also drew: an extent difference.
    assert [(region["kind"], region["type"]) for region in result["discordant_regions"]] == [("a_only", "extent")]
    assert result["lesion_f1"] == 1.0


def test_voxels_one_apart_are_two_lesions():
    result = compare(maskWith((2, 3, 3), (2, 3, 5)), maskWith((2, 3, 3)), minExtentMm3=0)
    assert result["lesions_a"] == 2 and result["abs_lesion_count_diff"] == 1
    assert [region["type"] for region in result["discordant_regions"]] == ["missed_lesion"]
    assert result["lesion_detection"]["a_reference"] == {"tp": 1, "fp": 0, "fn": 1, "f1": pytest.approx(2 / 3)}
    assert result["lesion_f1_b_reference"] == pytest.approx(2 / 3)


def test_split_and_merge_are_matched_lesion_to_lesion():
    maskA = emptyMask()
    maskA[3, 4, 1:11] = True
    maskB = maskA.copy()
    maskB[3, 4, 5:7] = False  # B splits A's lesion in two
    result = compare(maskA, maskB, minExtentMm3=0)
    assert (result["lesions_a"], result["lesions_b"], result["abs_lesion_count_diff"]) == (1, 2, 1)
    assert result["lesion_f1"] == 1.0 and result["lesion_f1_b_reference"] == 1.0
    table = result["lesion_matches"]
    assert table["a"][0]["matched"] == [1, 2] and table["a"][0]["dice"] == pytest.approx(2 * 8 / (10 + 8))
    assert [(pair["lesion_a"], pair["lesion_b"], pair["shared_voxels"]) for pair in table["pairs"]] == [(1, 1, 4), (1, 2, 4)]
    assert table["pairs"][0]["dice"] == pytest.approx(2 * 4 / (10 + 4))
    assert [table["b"][index]["matched"] for index in range(2)] == [[1], [1]]
    assert [(region["kind"], region["type"], region["voxels"]) for region in result["discordant_regions"]] == [("a_only", "extent", 2)]


def test_box_shifted_one_slice_on_anisotropic_grid():
    maskA = emptyMask()
    maskA[2:6, 2:8, 3:9] = True
    maskB = np.roll(maskA, 1, axis=0)
    result = compare(maskA, maskB, spacingMatrix((1.0, 1.0, 5.0)))
    # 112 boundary voxels per box: the 36 of the face the other box lacks lie 5 mm from it; of the 16
    # inner voxels of the other end face, which lie inside the other box, 12 are 1 mm and 4 are 2 mm
    # from its side walls; all others are shared boundary (0 mm). Both directions are symmetric.
    assert result["hd95_mm"] == pytest.approx(5.0, rel=1e-6)
    assert result["assd_mm"] == pytest.approx((36 * 5.0 + 12 * 1.0 + 4 * 2.0) / 112, rel=1e-6)
    assert result["dice"] == pytest.approx(2 * 108 / 288)


def test_masks_on_the_image_border_count_the_border_as_boundary():
    maskA = emptyMask()
    maskA[0:4, :, 0:5] = True
    maskB = emptyMask()
    maskB[0:5, :, 0:4] = True
    padded = [np.pad(mask, 2) for mask in (maskA, maskB)]
    onBorder = compare(maskA, maskB, spacingMatrix((1.0, 2.0, 3.0)))
    inside = compare(*padded, spacingMatrix((1.0, 2.0, 3.0)))
    for key in ("dice", "hd95_mm", "assd_mm", "lesions_a", "lesions_b", "lesion_f1"):
        assert onBorder[key] == pytest.approx(inside[key], rel=1e-6), key


def test_oblique_grid_volumes_distances_and_centroids():
    rotation = rotationMatrix((1.0, 2.0, 0.5), 37.0)
    spacing = np.array([0.8, 1.1, 4.0])
    matrix = np.eye(4)
    matrix[:3, :3] = rotation * spacing
    matrix[:3, 3] = (-90.0, 12.5, 40.0)
    maskA = emptyMask()
    maskA[2:6, 2:8, 3:9] = True
    maskB = np.roll(maskA, 1, axis=0)
    oblique = compare(maskA, maskB, matrix)
    straight = compare(maskA, maskB, spacingMatrix(spacing))
    assert oblique["volume_a_ml"] == pytest.approx(maskA.sum() * np.prod(spacing) / 1000.0, rel=1e-12)
    assert oblique["hd95_mm"] == pytest.approx(straight["hd95_mm"], rel=1e-6)
    assert oblique["assd_mm"] == pytest.approx(straight["assd_mm"], rel=1e-6)
    region = oblique["discordant_regions"][0]
    # The a_only slab is slice k=2, j 2..7, i 3..8: its centre, through the matrix.
    centreIjk = np.array([5.5, 4.5, 2.0, 1.0])
    assert region["centroid_ras"] == pytest.approx((matrix @ centreIjk)[:3].tolist(), abs=1e-9)


def test_region_filter_ids_and_order():
    maskA = emptyMask((10, 20, 20))
    maskA[2:8, 2:12, 2:12] = True
    maskA[5, 16, 16] = True  # a one-voxel lesion B missed
    maskB = maskA.copy()
    maskB[5, 16, 16] = False
    maskB[2:8, 2:12, 11] = False  # A is one column wider: 60 voxels
    maskB[2, 2, 2] = False  # one voxel of extent
    maskB[2:8, 12:14, 2:12] = True  # B is two rows longer: 120 voxels
    kept = compare(maskA, maskB, minExtentMm3=50)
    everything = compare(maskA, maskB, minExtentMm3=0)
    assert [(region["id"], region["kind"], region["type"], region["voxels"]) for region in everything["discordant_regions"]] == [
        (1, "a_only", "extent", 60),
        (2, "a_only", "extent", 1),
        (3, "a_only", "missed_lesion", 1),
        (4, "b_only", "extent", 120),
    ]
    # The small extent region is listed and marked small (never hidden); the one-voxel missed lesion is never small.
    assert [(region["id"], region["small"]) for region in kept["discordant_regions"]] == [(1, False), (2, True), (3, False), (4, False)]
    assert kept["small_regions"] == {"count": 1, "volume_ml": pytest.approx(0.001), "ids": [2], "below_mm3": 50}
    assert kept["missed_lesions"] == 1 and kept["discordant_regions"][2]["lesion_id"] == 2
    assert [region["drawn_by"] for region in kept["discordant_regions"]] == ["A", "A", "A", "B"]


def test_region_location_slice_and_side():
    """Slice numbers count along the axis nearest to superior (1-based); the side is taken from the field of view's middle."""
    maskA = emptyMask((10, 20, 20))
    maskA[4, 10, 2] = True  # low i: patient's left in an LPS-stored (RAS-flipped) grid
    maskA[6, 10, 17] = True
    flip = np.diag([-1.0, -1.0, 1.0, 1.0])  # i runs towards the patient's left, j towards posterior
    regions = compareMasks(maskA, emptyMask((10, 20, 20)), flip).toDict()["discordant_regions"]
    assert [(region["slice"], region["side"]) for region in regions] == [(5, "right"), (7, "left")]
    transposed = np.array([[1.0, 0, 0, 0], [0, 0, 1.0, 0], [0, 1.0, 0, 0], [0, 0, 0, 1]])  # j is superior: coronal stacks
    regions = compareMasks(maskA, emptyMask((10, 20, 20)), transposed).toDict()["discordant_regions"]
    assert [region["slice"] for region in regions] == [11, 11]


def test_concordance_rule_is_configurable_and_reported():
    maskA = emptyMask()
    maskA[2:6, 2:8, 2:8] = True
    maskB = maskA.copy()
    maskB[2, 2:8, 2:8] = False
    dice = 2 * 108 / (144 + 108)
    assert compare(maskA, maskB)["concordant"] is True
    strict = compare(maskA, maskB, minDice=0.9)
    assert strict["dice"] == pytest.approx(dice) and strict["concordant"] is False
    assert strict["concordance_rule"] == {"min_dice": 0.9, "max_missed_lesions": 0}
    maskA[7, 9, 11] = True
    assert compare(maskA, maskB)["concordant"] is False
    assert compare(maskA, maskB, maxMissedLesions=1)["concordant"] is True


def test_bad_arrays_and_parameters_are_refused():
    with pytest.raises(InputError, match="bool"):
        compareMasks(emptyMask().astype(np.uint8), emptyMask(), np.eye(4))
    with pytest.raises(InputError, match="shapes"):
        compareMasks(emptyMask(), emptyMask((8, 10, 11)), np.eye(4))
    with pytest.raises(GeometryError):
        compareMasks(emptyMask(), emptyMask(), np.zeros((4, 4)))
    with pytest.raises(InputError, match="Dice"):
        compareMasks(emptyMask(), emptyMask(), np.eye(4), AgreementParameters(minDice=1.5))


# --- the ais compare command -------------------------------------------------------------------


def writeMask(path, array, matrix=None, dtype=np.uint8):
    writeNifti(array, spacingMatrix((2.0, 2.0, 2.0)) if matrix is None else matrix, path, dtype=dtype)
    return str(path)


@pytest.fixture
def maskPair(tmp_path):
    maskA = emptyMask()
    maskA[2:6, 2:8, 2:8] = True
    maskA[7, 9, 11] = True
    maskB = maskA.copy()
    maskB[2, :, :] = False
    maskB[7, 9, 11] = False
    return writeMask(tmp_path / "a.nii.gz", maskA), writeMask(tmp_path / "b.nii.gz", maskB)


def test_cli_json_has_the_contract_keys(maskPair, capsys):
    assert cli.main(["compare", *maskPair, "--json", "--min-extent-mm3", "0"]) == 0
    result = json.loads(capsys.readouterr().out)
    for key in (
        "dice", "jaccard", "volume_a_ml", "volume_b_ml", "abs_volume_diff_ml", "hd95_mm", "assd_mm", "lesions_a", "lesions_b",
        "abs_lesion_count_diff", "lesion_f1", "lesion_f1_b_reference", "discordant_regions", "concordant", "concordance_rule", "lesion_matches",
    ):  # fmt: skip
        assert key in result, key
    assert set(result["discordant_regions"][0]) >= {"id", "kind", "type", "voxels", "volume_ml", "centroid_ras"}
    assert result["inputs"]["a"]["affine_source"] == "sform"
    assert result["missed_lesions"] == 1 and result["volume_a_ml"] == pytest.approx(145 * 8 / 1000.0)


def test_cli_text_output_lists_regions(maskPair, capsys):
    assert cli.main(["compare", *maskPair]) == 0
    output = capsys.readouterr().out
    assert "dice" in output and "missed_lesion" in output


def test_cli_reports_qform_when_there_is_no_sform(tmp_path, maskPair, capsys):
    image = nib.load(maskPair[1])
    image.set_sform(None, code=0)
    nib.save(image, str(tmp_path / "qform.nii.gz"))
    assert cli.main(["compare", maskPair[0], str(tmp_path / "qform.nii.gz"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["inputs"]["b"]["affine_source"] == "qform"


def test_cli_label_selects_one_value(tmp_path, capsys):
    labels = np.zeros(SHAPE, dtype=np.uint8)
    labels[1:3, 1:3, 1:3] = 1
    labels[5:7, 5:7, 5:7] = 2
    multi = writeMask(tmp_path / "multi.nii.gz", labels)
    assert cli.main(["compare", multi, multi, "--label", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["voxels_a"] == 8


def badInputs(tmp_path, maskPair):
    moved = spacingMatrix((2.0, 2.0, 2.0))
    moved[0, 3] = 1.0
    labels = np.zeros(SHAPE, dtype=np.uint8)
    labels[1, 1, 1], labels[2, 2, 2] = 1, 2
    withNan = np.zeros(SHAPE, dtype=np.float32)
    withNan[1, 1, 1] = np.nan
    corrupt = tmp_path / "corrupt.nii.gz"
    content = open(maskPair[0], "rb").read()
    corrupt.write_bytes(content[: len(content) // 2])
    series = nib.Nifti1Image(np.zeros(SHAPE[::-1] + (3,), dtype=np.uint8), spacingMatrix())
    nib.save(series, str(tmp_path / "series.nii.gz"))
    return {
        "grid shape": (writeMask(tmp_path / "shape.nii.gz", emptyMask((8, 10, 13))), "same voxel grid"),
        "grid affine": (writeMask(tmp_path / "moved.nii.gz", emptyMask(), moved), "same voxel grid"),
        "non-binary": (writeMask(tmp_path / "labels.nii.gz", labels), "not binary"),
        "nan": (writeMask(tmp_path / "nan.nii.gz", withNan, dtype=np.float32), "NaN"),
        "4D": (str(tmp_path / "series.nii.gz"), "4D"),
        "corrupt": (str(corrupt), "corrupt"),
        "missing": (str(tmp_path / "missing.nii.gz"), "does not exist"),
    }


@pytest.mark.parametrize("case", ["grid shape", "grid affine", "non-binary", "nan", "4D", "corrupt", "missing"])
def test_cli_bad_input_is_one_line_without_traceback(tmp_path, maskPair, capsys, case):
    path, expected = badInputs(tmp_path, maskPair)[case]
    status = cli.main(["compare", maskPair[0], path, "--json"])
    captured = capsys.readouterr()
    assert status != 0
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ais: error:") and expected in lines[0]
    assert "Traceback" not in captured.err and captured.out == ""


def test_cli_wrong_number_of_inputs(maskPair, capsys):
    assert cli.main(["compare", maskPair[0]]) != 0
    assert "two mask files" in capsys.readouterr().err


@pytest.mark.parametrize("seed", range(6))
def test_labelling_by_site_equals_labelling_whole_arrays(seed):
    rng = np.random.default_rng(seed)
    maskA = rng.random((12, 30, 30)) < 0.08
    maskB = maskA ^ (rng.random((12, 30, 30)) < 0.05)
    bySite = labelReads(maskA, maskB)
    whole = labelComponentsMany([maskA, maskB, maskA & ~maskB, maskB & ~maskA])
    for siteResult, wholeResult in zip(bySite, whole):
        assert np.array_equal(siteResult.labels, wholeResult.labels)
        assert np.array_equal(siteResult.voxels, wholeResult.voxels)


def test_distances_equal_brute_force_over_every_boundary_pair():
    rng = np.random.default_rng(7)
    maskA = np.zeros((20, 40, 40), dtype=bool)
    maskA[3:9, 5:15, 5:15] = True
    maskA[12:15, 30:34, 30:36] = True  # a lesion B misses: its distances reach across the box
    maskB = np.roll(maskA, 3, axis=2) & (rng.random(maskA.shape) < 0.9)
    maskB[15:18, 2:5, 30:33] = True
    spacing = np.array([3.0, 0.8, 1.1])
    pointsA, pointsB = (np.argwhere(maskEdges(mask)) * spacing for mask in (maskA, maskB))
    pairwise = np.sqrt(((pointsA[:, None, :] - pointsB[None, :, :]) ** 2).sum(axis=2))
    fromA, fromB = pairwise.min(axis=1), pairwise.min(axis=0)
    result = surfaceMetrics(maskA, maskB, spacing, 95)
    assert result.hausdorffMm == pytest.approx(max(np.percentile(fromA, 95), np.percentile(fromB, 95)), rel=1e-12)
    assert result.averageSurfaceMm == pytest.approx((fromA.sum() + fromB.sum()) / (fromA.size + fromB.size), rel=1e-12)
    compared = compareMasks(maskA, maskB, np.diag(list(spacing[::-1]) + [1.0]))
    assert (compared.hausdorffMm, compared.assdMm) == (result.hausdorffMm, result.averageSurfaceMm)


@pytest.mark.parametrize("seed", range(12))
def test_the_engines_distances_equal_the_masks_distances_to_the_last_bit(seed):
    """The engine's voxel list (crop, shared boundary voxels skipped) against the masks' own boundaries, on grids where
    many voxels are equally far (isotropic, 0.9 x 0.9 x 5 mm, thick slices): equal bit for bit."""
    rng = np.random.default_rng(seed)
    spacing = np.array(rng.choice([0.86, 0.9, 1.0, 1.8, 2.0, 4.8, 5.0], 3))
    maskA = rng.random((12, 28, 28)) < 0.1
    maskA |= np.roll(maskA, 1, axis=2)
    maskB = maskA ^ (rng.random(maskA.shape) < 0.06)
    result = surfaceMetrics(maskA, maskB, spacing, 95)
    compared = compareMasks(maskA, maskB, np.diag(list(spacing[::-1]) + [1.0]))
    assert (compared.hausdorffMm, compared.assdMm) == (result.hausdorffMm, result.averageSurfaceMm)
