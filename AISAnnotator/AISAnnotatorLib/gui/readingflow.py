"""The reader's whole flow through the module's Logic, as the in-Slicer self-test runs it (needs Slicer's GUI)."""

import json

import numpy as np
import slicer
import vtk

from AISCommonLib.core import adcunits, hints, lesionattributes, readrecord
from AISCommonLib.workflow import states

from .choices import ReadingLayout, SeedModeChoice


def readAndSubmit(testCase, logic, parameterNode, lesion) -> None:
    """Claim, load, lay out, seed, assist, re-seed, step through lesions, hints, note, quality, submit; check the sidecar
    and that the other reader sees nothing. Runs inside Slicer (``AISAnnotatorTest``): ``testCase`` gives the assertions."""
    claim, case = logic.claimNextCase(parameterNode)
    testCase.assertIsNotNone(claim)
    testCase.assertEqual(case.caseId, "sub-01_ses-01")
    loaded = logic.loadCase(case, parameterNode)
    testCase.delayDisplay("Case loaded")
    for key in ("dwi", "adc", "eadc", "flair"):
        testCase.assertIsNotNone(getattr(parameterNode, f"{key}Volume"), key)
    testCase.assertEqual(loaded.adcUnit.unit.key, adcunits.MICRO.key)
    testCase.assertIn("1e-6", logic.thresholdInFileUnit(parameterNode))
    matrix = vtk.vtkMatrix4x4()
    parameterNode.dwiVolume.GetIJKToRASMatrix(matrix)
    np.testing.assert_allclose(slicer.util.arrayFromVTKMatrix(matrix), loaded.dwi.ijkToRas, atol=1e-4)
    testCase.assertFalse(logic.hasUnsavedEdits(parameterNode))

    for layout in ReadingLayout:
        parameterNode.readingLayout = layout
        logic.showLayout(parameterNode)
    parameterNode.readingLayout = ReadingLayout.AXIAL_2X2
    logic.showLayout(parameterNode)

    result = logic.seed(parameterNode)
    testCase.delayDisplay("Seed computed")
    testCase.assertGreater(result.summary["voxels"], 0)
    testCase.assertTrue(lesion[result.mask].all(), "seed voxels outside the synthetic lesion")
    mask = logic.lesionMask(parameterNode)
    testCase.assertEqual(mask.shape, slicer.util.arrayFromVolume(parameterNode.dwiVolume).shape)
    np.testing.assert_array_equal(mask, result.mask)
    testCase.assertTrue(logic.hasUnsavedEdits(parameterNode))

    parameterNode.assistRobustZ = 1.0
    preview = logic.assistPreview(parameterNode)
    testCase.assertTrue(np.array_equal(logic.lesionMask(parameterNode), result.mask), "the preview must not change the mask")
    logic.applyAssist(parameterNode)
    testCase.assertTrue(np.array_equal(logic.lesionMask(parameterNode), preview.mask))
    parameterNode.seedMode = SeedModeChoice.PLAIN
    plain = logic.seed(parameterNode)
    testCase.assertEqual(plain.summary["mode"], "plain")
    parameterNode.seedMode = SeedModeChoice.GATED
    result = logic.seed(parameterNode)
    mask = logic.lesionMask(parameterNode)

    region, count = logic.stepLesion(parameterNode, 1)
    testCase.assertEqual(count, 1)
    testCase.assertIn("ADC", logic.statusLine(region.centroidRas))

    found = logic.hints(parameterNode)
    testCase.assertTrue(all(hint.kind in hints.HINT_KINDS for hint in found))
    logic.jumpTo(region.centroidRas)
    logic.addNote(parameterNode, "boundary unclear")
    notes = logic.notes(parameterNode)
    testCase.assertEqual([note.text for note in notes], ["boundary unclear"])
    np.testing.assert_allclose(notes[0].ras, region.centroidRas, atol=1e-3)
    parameterNode.dwiLikert = 5
    parameterNode.adcLikert = 4
    parameterNode.flairLikert = 4  # every criterion of DWI, ADC and FLAIR must be scored before submitting
    parameterNode.motionArtifact = True

    # The criterion grid refines one criterion; the lesion is described at its centre (issue 14 B).
    described = lesionattributes.LesionAttributes(tuple(region.centroidRas), "no", "mca", "acute")
    submitted = logic.submit(parameterNode, 42.0, found, {"dwi": {"motion": 3}}, [described])
    testCase.delayDisplay("Read submitted")
    testCase.assertEqual(submitted["case_id"], case.caseId)
    testCase.assertEqual(submitted["state"], states.AWAITING_READS)
    testCase.assertFalse(logic.hasUnsavedEdits(parameterNode))
    testCase.assertIsNone(logic.claim)

    workflow = logic.openStore(parameterNode)
    sidecarPath = workflow.absolutePath(submitted["mask_path"].replace(".nii.gz", ".json"))
    sidecar = json.loads(sidecarPath.read_text(encoding="utf-8"))
    testCase.assertEqual(sidecar["Reader"], "reader1")
    testCase.assertEqual(sidecar["Parameters"]["quality"]["likert"]["dwi"], 3)  # its weakest criterion
    testCase.assertEqual(sidecar["Parameters"]["quality"]["likert_criteria"]["dwi"], {"noise": 5, "motion": 3, "artifact": 5, "contrast": 5})
    testCase.assertEqual([lesion["territory"] for lesion in sidecar["Parameters"]["lesions"]], ["mca"])
    testCase.assertEqual(sidecar["Parameters"]["unattributed_lesions"], [])
    testCase.assertEqual(sidecar["Parameters"]["quality"]["artifacts"], ["motion"])
    testCase.assertEqual(sidecar["Parameters"]["active_seconds"], 42.0)
    testCase.assertEqual(sidecar["Parameters"]["notes"][0]["text"], "boundary unclear")
    testCase.assertEqual(sidecar["Method"], readrecord.METHOD_SEEDED)
    testCase.assertEqual(len(workflow.readsVisibleTo("reader1", case.caseId)), 1)
    # Blinding: the second reader sees no read of the case before submitting their own.
    testCase.assertEqual(workflow.readsVisibleTo("reader2", case.caseId), [])
