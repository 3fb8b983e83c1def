"""The reader's case on screen (AISAnnotatorLib): nodes, seed, unsaved edits, lesion steps, notes, drafts, and the
reader's connection to the workflow, run at the MRML level like the AISAnnotator module runs them."""

import os

import numpy as np
import pytest

if not os.environ.get("AIS_REQUIRE_SLICER_CORE"):
    pytest.importorskip("slicer", reason="slicer-core is not installed")

from AISAnnotatorLib.mrml import notes, readingcase  # noqa: E402
from AISAnnotatorLib.readerwork import ReaderWork  # noqa: E402
from AISCommonLib.core.errors import AISError  # noqa: E402
from AISCommonLib.core.image import loadVolume  # noqa: E402
from AISCommonLib.core.seeding import SeedParameters  # noqa: E402
from AISCommonLib.synthetic import tinycases  # noqa: E402
from AISCommonLib.workflow import states  # noqa: E402
from AISCommonLib.workflow.database import defaultDatabasePath  # noqa: E402
from AISCommonLib.workflow.store import openStore  # noqa: E402


@pytest.fixture
def reading(simpleDataset, headlessApp, loadFirstCase):
    root, info = simpleDataset
    return headlessApp, readingcase.ReadingCase.addToScene(headlessApp.scene, loadFirstCase(root)), info


def test_case_nodes_and_seed(reading):
    app, case, info = reading
    assert all(app.scene.IsNodePresent(node) for node in case.nodes())
    assert not case.lesionMask().any() and not case.hasUnsavedEdits()
    result = case.seed(SeedParameters(), None)
    mask = case.lesionMask()
    np.testing.assert_array_equal(mask, result.mask)
    assert mask.any() and info["truth"][mask].all() and case.seedSummary["voxels"] == int(mask.sum())
    assert case.hasUnsavedEdits()
    case.markSubmitted(mask)
    assert not case.hasUnsavedEdits()


def test_a_forced_unit_reloads_the_case(reading):
    _, case, _ = reading
    case.seed(SeedParameters(), "1e-6")
    assert case.loaded.adcUnit.overridden and case.loaded.adcUnit.unit.key == "1e-6"


def test_lesion_steps_follow_edits(reading):
    app, case, info = reading
    case.seed(SeedParameters(), None)
    region, count = case.stepLesion(app.scene, 1)
    assert count == 1 and region.voxels == int(case.lesionMask().sum())
    assert "ADC" in case.statusLine(region.centroidRas)


def test_notes_round_trip(reading):
    _, case, _ = reading
    index = notes.addNote(case.notesNode, (1.0, 2.0, 3.0), "boundary unclear")
    found = notes.notesFromMarkups(case.notesNode)
    assert index == 0 and [note.text for note in found] == ["boundary unclear"] and found[0].label == "N1: boundary unclear"
    np.testing.assert_allclose(found[0].ras, (1.0, 2.0, 3.0))
    notes.removeNote(case.notesNode, 5)  # out of range: nothing happens
    notes.removeNote(case.notesNode, 0)
    assert notes.notesFromMarkups(case.notesNode) == [] and notes.notesFromMarkups(None) == []


def test_draft_keeps_the_mask_on_the_dwi_grid(reading, tmp_path):
    _, case, _ = reading
    case.seed(SeedParameters(), None)
    path = case.writeDraft(tmp_path / "drafts", "R01")
    draft = loadVolume(path)
    assert path.name.startswith(case.caseId + "_R01_") and np.array_equal(draft.array != 0, case.lesionMask())


def test_reader_work_claims_submits_and_refuses_what_it_does_not_hold(simpleDataset, tmp_path):
    root, info = simpleDataset
    with openStore(None, root, create=True) as store:
        tinycases.initialiseTeam(store, root)
    work = ReaderWork()
    try:
        database = str(defaultDatabasePath(root))
        claim, case = work.claimNext("R01", database, str(root))
        assert claim["case_id"] == case.caseId and work.claim["reader"] == "R01"
        with pytest.raises(AISError, match="not assigned to you"):
            work.submit("sub-99", info["truth"], {}, {}, [], 1.0, None, [])
        result = work.submit(case.caseId, info["truth"], {"dwi": 4, "adc": 4, "flair": 4}, {"motion": False}, [], 12.0, None, [])
        assert result["state"] == states.AWAITING_READS and work.claim is None
        assert work.claimNext("R01", database, str(root)) == (None, None)  # nobody reads a case twice
    finally:
        work.close()


def test_drop_a_seed_component_and_assist_with_preview(reading):
    from AISCommonLib.core.dwiassist import AssistParameters

    app, case, info = reading
    case.seed(SeedParameters(), None)
    table = case.seedSummary["componentTable"]
    assert table and int(case.seedLabels.max()) == len(table) and (case.seedLabels == 1).sum() == table[0]["voxels"]
    before = case.lesionMask().sum()
    removed = case.dropSeedComponent(1)
    assert removed == table[0]["voxels"] and case.lesionMask().sum() == before - removed
    with pytest.raises(AISError, match="no region 99"):
        case.dropSeedComponent(99)

    case.seed(SeedParameters(), None)
    result = case.assist(AssistParameters(dwiMinRobustZ=0.5))
    assert result.added.any() and not (result.added & case.lesionMask()).any()
    case.showAssistPreview(result)
    segmentationIds = [case.segmentationNode.GetSegmentation().GetNthSegmentID(index)
                       for index in range(case.segmentationNode.GetSegmentation().GetNumberOfSegments())]
    assert readingcase.ASSIST_PREVIEW_SEGMENT_ID in segmentationIds
    assert case.lesionMask().sum() == case.seedSummary["voxels"]  # the preview changes nothing
    elsewhere = case.assist(AssistParameters(dwiMinRobustZ=0.5), atRas=(500.0, 500.0, 500.0))
    assert not elsewhere.added.any()
    case.applyAssist(result)
    assert np.array_equal(case.lesionMask(), result.mask)
    assert case.segmentationNode.GetSegmentation().GetSegment(readingcase.ASSIST_PREVIEW_SEGMENT_ID) is None


def test_a_forced_unit_that_contradicts_the_data_is_refused_unless_forced(reading):
    from AISCommonLib.core.errors import AdcUnitError

    _, case, _ = reading
    assert case.unitConflict(None) == "" and case.unitConflict("1e-6") == ""
    assert "look like" in case.unitConflict("mm2/s")
    with pytest.raises(AdcUnitError, match="Nothing was written"):
        case.seed(SeedParameters(), "mm2/s")
    assert not case.lesionMask().any()
    case.seed(SeedParameters(), "mm2/s", force=True)
