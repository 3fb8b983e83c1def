"""The case a reader has on screen: its volume nodes, the lesion segmentation and notes, the seed, and what was
last submitted. Scene-level (slicer-core), so the reading flow is tested without the application.
"""

import dataclasses
import hashlib
import time
from pathlib import Path

import numpy as np

from AISCommonLib.core import dwiassist, dwicontrast, hints, lesionattributes, prediction, seeding, sequences
from AISCommonLib.core.errors import InputError
from AISCommonLib.core.image import rasToVoxel
from AISCommonLib.mrml import caseloader, lesionnav, nodes, segmentation

from . import probe

#: The segment that previews what the DWI assist would add (never exported: only the lesion segment is).
ASSIST_PREVIEW_SEGMENT_ID = "assistPreview"
ASSIST_PREVIEW_COLOR = (0.2, 0.85, 1.0)
#: The segment showing a trial case's reference after the trainee submitted (never exported either).
TRAINING_REFERENCE_SEGMENT_ID = "trainingReference"
TRAINING_REFERENCE_COLOR = (1.0, 0.75, 0.1)


def maskDigest(mask: np.ndarray) -> str:
    """A short fingerprint of a bool mask, to notice edits without keeping a copy."""
    return hashlib.sha1(np.packbits(np.asarray(mask, dtype=bool)).tobytes()).hexdigest()


class ReadingCase:
    """One loaded case and the reader's work on it.

    :param caseNodes: the volumes in the scene (:class:`~AISCommonLib.mrml.caseloader.CaseNodes`).
    :param segmentationNode: the reader's lesion segmentation (DWI reference geometry).
    :param notesNode: the reader's notes (``vtkMRMLMarkupsFiducialNode``).
    """

    def __init__(self, caseNodes, segmentationNode, notesNode):
        self.caseNodes = caseNodes
        self.segmentationNode = segmentationNode
        self.notesNode = notesNode
        self.seedSummary = None
        self.seedLabels = None
        self._contrast = None
        self._contrastDigest = None
        self._navigator = None
        self._navigatorDigest = None
        self._submittedDigest = None

    @classmethod
    def addToScene(cls, scene, loaded) -> "ReadingCase":
        """Put a loaded case into the scene with an empty lesion segmentation and an empty notes list.

        Nothing is left in the scene when a step fails.
        """
        caseNodes = caseloader.addCaseToScene(scene, loaded)
        caseId = loaded.case.caseId
        try:
            segmentationNode = segmentation.createReaderSegmentation(scene, caseNodes.dwiNode, f"{caseId} lesion")
            notesNode = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", f"{caseId} notes")
        except Exception:
            nodes.removeNodes(scene, caseNodes.volumeNodes.values())
            raise
        return cls(caseNodes, segmentationNode, notesNode)

    @property
    def loaded(self):
        """The library's ``LoadedCase`` (arrays, ADC unit decision, brain mask)."""
        return self.caseNodes.loaded

    @property
    def caseId(self) -> str:
        return self.caseNodes.loaded.case.caseId

    @property
    def dwiNode(self):
        return self.caseNodes.dwiNode

    def nodes(self) -> list:
        """Every node this case put into the scene."""
        return [*self.caseNodes.volumeNodes.values(), self.segmentationNode, self.notesNode]

    def removeFromScene(self, scene) -> int:
        """Remove every node of the case with its display and storage nodes; :return: nodes removed."""
        return nodes.removeNodes(scene, self.nodes())

    def lesionMask(self) -> np.ndarray:
        """The lesion segment as bool ``[k, j, i]`` on the DWI grid."""
        return segmentation.segmentMask(self.segmentationNode, self.dwiNode)

    def hasUnsavedEdits(self) -> bool:
        """True when the lesion mask differs from what was last submitted (an empty mask counts as saved)."""
        mask = self.lesionMask()
        if self._submittedDigest is None:
            return bool(mask.any())
        return maskDigest(mask) != self._submittedDigest

    def markSubmitted(self, mask: np.ndarray) -> None:
        """Remember the mask that was just submitted (edits after it count as unsaved)."""
        self._submittedDigest = maskDigest(mask)

    def unitConflict(self, adcUnitKey: str | None) -> str:
        """Why the ADC unit the reader chose contradicts the data ("" when it does not, or none is forced)."""
        if adcUnitKey is None:
            return ""
        return sequences.loadCase(self.loaded.case, adcUnitKey).adcUnit.conflictSentence()

    def seed(self, parameters: seeding.SeedParameters, adcUnitKey: str | None, progress=None, force: bool = False) -> seeding.SeedResult:
        """Seed the case and make (or replace) the lesion segment with the seed.

        :param adcUnitKey: the ADC unit the reader chose, or None to detect it; a choice that differs from the
            one used at loading re-reads the case so the library decides again from the files.
        :param progress: optional ``(fraction, message)`` callable; it may raise ``OperationCancelled``.
        :param force: seed with a forced unit even when it contradicts the data.
        :raises AdcUnitError: the forced unit contradicts the data and ``force`` is False (nothing changes).
        """
        loaded = self.loaded
        usedKey = loaded.adcUnit.unit.key if loaded.adcUnit.overridden else None
        if adcUnitKey != usedKey:
            loaded = sequences.loadCase(loaded.case, adcUnitKey)
            self.caseNodes = dataclasses.replace(self.caseNodes, loaded=loaded)
        loaded.adcUnit.requireConsistent(loaded.case.caseId, force)
        result = seeding.seedLesion(loaded, parameters, progress)
        segmentation.seedSegment(self.segmentationNode, result, self.dwiNode)
        self.seedSummary = result.summary
        self.seedLabels = seeding.componentLabels(result.mask)
        return result

    def startFromPrediction(self, path, tool: str | None = None, threshold: float = prediction.DEFAULT_PROBABILITY_THRESHOLD,
                            label: int | None = None) -> prediction.PredictionStart:
        """Make (or replace) the lesion segment from an AI prediction instead of the ADC seed.

        The prediction's origin (file, SHA-256, tool, binarisation rule) becomes :attr:`seedSummary`, so the
        submitted read records it (``Parameters.seed``, method ``ai-prediction+manual``); its components can be
        dropped one by one like the seed's.

        :param path: the prediction NIfTI (labels or probabilities) on the DWI grid.
        :raises InputError: 4D, NaN, neither labels nor probabilities, several labels without ``label``; nothing changes.
        :raises GeometryError: off the DWI grid; nothing changes.
        """
        start = prediction.loadPrediction(path, self.loaded.dwi, tool, threshold, label)
        segmentation.setSegmentFromMask(self.segmentationNode, start.mask, self.dwiNode)
        self.seedSummary = start.summary
        self.seedLabels = seeding.componentLabels(start.mask)
        return start

    def dropSeedComponent(self, componentId: int) -> int:
        """Erase one component of the last seed (``componentTable`` id, 1 = largest) from the lesion segment.

        Edits made since the seed stay; only that component's voxels go.

        :return: voxels removed.
        :raises InputError: no seed, or no such component.
        """
        if self.seedLabels is None or not 1 <= int(componentId) <= int(self.seedLabels.max()):
            raise InputError(f"The seed has no region {componentId}.")
        mask = self.lesionMask()
        drop = self.seedLabels == int(componentId)
        removed = int((mask & drop).sum())
        segmentation.setSegmentFromMask(self.segmentationNode, mask & ~drop, self.dwiNode)
        return removed

    def assist(self, parameters: dwiassist.AssistParameters, atRas=None) -> dwiassist.AssistResult:
        """What the DWI assist would do to the current mask (nothing changes until :meth:`applyAssist`).

        The DWI contrast is measured once per mask and kept while a slider moves.

        :param atRas: work on the lesion at this RAS point only (mm), or None for the whole mask.
        """
        mask = self.lesionMask()
        digest = maskDigest(mask)
        if self._contrast is None or digest != self._contrastDigest:
            loaded = self.loaded
            self._contrast = dwicontrast.measureDwiContrast(loaded.dwi, loaded.adcMicro(), loaded.brainMask, parameters.referenceSigmaMm,
                                                            exclude=mask)
            self._contrastDigest = digest
        region = None
        if atRas is not None:
            # The lesion under the point, or touching the voxels right around it.
            region = np.zeros_like(mask)
            centre = np.round(rasToVoxel(self.loaded.dwi.ijkToRas, atRas)).astype(int)
            low, high = np.maximum(centre - 1, 0), np.minimum(centre + 2, mask.shape)
            if (low < high).all():
                region[low[0]:high[0], low[1]:high[1], low[2]:high[2]] = True
        return dwiassist.assistOnDwi(self.loaded, mask, parameters, region, self._contrast)

    def showAssistPreview(self, result: dwiassist.AssistResult) -> None:
        """Show what the assist would add in its own segment (the lesion segment is unchanged)."""
        segmentation.ensureLesionSegment(self.segmentationNode, ASSIST_PREVIEW_SEGMENT_ID, "DWI assist preview", ASSIST_PREVIEW_COLOR)
        segmentation.setSegmentFromMask(self.segmentationNode, result.added, self.dwiNode, ASSIST_PREVIEW_SEGMENT_ID)

    def clearAssistPreview(self) -> None:
        """Remove the preview segment."""
        if self.segmentationNode.GetSegmentation().GetSegment(ASSIST_PREVIEW_SEGMENT_ID) is not None:
            self.segmentationNode.GetSegmentation().RemoveSegment(ASSIST_PREVIEW_SEGMENT_ID)

    def applyAssist(self, result: dwiassist.AssistResult) -> None:
        """Put the assisted mask into the lesion segment and remove the preview."""
        segmentation.setSegmentFromMask(self.segmentationNode, result.mask, self.dwiNode)
        self.clearAssistPreview()

    def hints(self) -> list:
        """Hints on the current mask (:func:`AISCommonLib.core.hints.computeHints`)."""
        return hints.computeHints(self.loaded, self.lesionMask())

    def lesionAttributeRecords(self, attributes: list) -> dict | None:
        """The reader's lesion attributes tied to the lesions of the current mask (what ``ReaderWork.submit`` records).

        :param attributes: :class:`~AISCommonLib.core.lesionattributes.LesionAttributes` given at places (RAS mm).
        :return: ``{"lesions", "unattributed_lesions"}``, or None when no attribute was given.
        :raises InputError: a place outside every lesion, or two descriptions of one lesion.
        """
        if not attributes:
            return None
        return lesionattributes.placeLesionAttributes(attributes, self.lesionMask(), self.loaded.dwi.ijkToRas)

    def stepLesion(self, scene, direction: int):
        """Centre all views on the next (+1) or previous (-1) lesion, largest first.

        :return: ``(region or None, lesion count)``.
        """
        mask = self.lesionMask()
        digest = maskDigest(mask)
        if self._navigator is None or digest != self._navigatorDigest:
            # The mask was edited: number its lesions again.
            self._navigator = lesionnav.LesionNavigator(mask, self.loaded.dwi.ijkToRas)
            self._navigatorDigest = digest
        region = lesionnav.stepLesion(scene, self._navigator, direction)
        return region, self._navigator.count

    def statusLine(self, ras) -> str:
        """Values of every sequence at a RAS point (ADC with its unit)."""
        return probe.statusLine(self.caseNodes.volumeNodes, ras, self.caseNodes.adcUnit)

    def writeDraft(self, folder, readerId: str) -> Path:
        """Keep the current mask as a NIfTI draft in ``folder`` (created); :return: its path."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.caseId}_{readerId or 'unknown'}_{time.strftime('%Y%m%dT%H%M%S')}_lesionmask.nii.gz"
        segmentation.writeSegmentMask(self.segmentationNode, self.dwiNode, path)
        return path

    def showTrainingReference(self, path) -> int:
        """Show a trial case's reference mask in its own segment over the reader's read (training feedback).

        Only the lesion segment is ever exported, so the reference never becomes part of a read.

        :param path: the reference mask (binary NIfTI on the DWI grid), from the store once the trainee has submitted.
        :return: the reference's voxel count.
        :raises InputError: unreadable or not binary. :raises GeometryError: not on the DWI grid.
        """
        segmentation.ensureLesionSegment(self.segmentationNode, TRAINING_REFERENCE_SEGMENT_ID, "Reference (training)", TRAINING_REFERENCE_COLOR)
        segmentation.importMask(self.segmentationNode, path, self.dwiNode, TRAINING_REFERENCE_SEGMENT_ID)
        return int(segmentation.segmentMask(self.segmentationNode, self.dwiNode, TRAINING_REFERENCE_SEGMENT_ID).sum())

    def hideTrainingReference(self) -> None:
        """Remove the reference segment (the next case starts without it)."""
        if self.segmentationNode.GetSegmentation().GetSegment(TRAINING_REFERENCE_SEGMENT_ID) is not None:
            self.segmentationNode.GetSegmentation().RemoveSegment(TRAINING_REFERENCE_SEGMENT_ID)
