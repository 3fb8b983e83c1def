"""The reader's side of the workflow store for the module: the open store, the current claim, submission.

Kept out of the module file so the rules (one claim at a time, submit only what you claimed, the read's
record) are plain Python, tested without Slicer.
"""

from AISCommonLib.core import cases, readrecord
from AISCommonLib.core.errors import InputError
from AISCommonLib.workflow import states
from AISCommonLib.workflow.errors import PermissionDeniedError
from AISCommonLib.workflow.store import openStore

from . import trainingfeedback


class ReaderWork:
    """One reader's connection to the workflow: the store (reopened when the choice changes) and the claim in hand."""

    def __init__(self) -> None:
        self._store = None
        self._storeKey = None
        self.claim = None
        #: The claimed case's files (:class:`~AISCommonLib.core.cases.Case`): which quality scores the read needs.
        self.case = None

    def open(self, database: str | None, datasetRoot: str | None):
        """The workflow store of ``database`` (or the dataset's own), reopened only when the choice changed."""
        if self._store is None or self._storeKey != (database, datasetRoot):
            self.close()
            self._store = openStore(database, datasetRoot)
            self._storeKey = (database, datasetRoot)
        return self._store

    def close(self) -> None:
        """Release the database connections."""
        if self._store is not None:
            self._store.close()
        self._store, self._storeKey = None, None

    def claimNext(self, readerId: str, database: str | None, datasetRoot: str | None):
        """Claim (or resume) the reader's next read slot.

        :return: ``(claim, Case)``, or ``(None, None)`` when nothing is open.
        :raises InputError: the claimed case's images are not found under the dataset root.
        """
        store = self.open(database, datasetRoot)
        claim = store.claimNext(readerId, states.ROLE_READER)
        if claim is None:
            return None, None
        found = [case for case in cases.discoverCases(store.datasetRoot) if case.caseId == claim["case_id"]]
        if len(found) != 1:
            raise InputError(f"The images of case {claim['case_id']} are not found under {store.datasetRoot}.")
        self.claim = dict(claim, reader=readerId)
        self.case = found[0]
        return self.claim, found[0]

    def requireClaim(self, caseId: str) -> dict:
        """:raises PermissionDeniedError: ``caseId`` is not the case this reader holds."""
        if not self.claim or self.claim["case_id"] != caseId or self._store is None:
            raise PermissionDeniedError(f"Case {caseId} is not assigned to you; take cases with Next case.")
        return self.claim

    def exclude(self, caseId: str, reason: str, note: str) -> dict:
        """Exclude the claimed case with a structured reason (``states.EXCLUSION_REASONS``)."""
        claim = self.requireClaim(caseId)
        result = self._store.exclude(claim["reader"], claim["case_id"], reason, note, expectedRevision=claim["revision"])
        self.claim = None
        return result

    def submit(self, caseId: str, mask, likert: dict, artifacts: dict, notes: list, activeSeconds: float, seedSummary, shownHints,
               lesions: dict | None = None) -> dict:
        """Submit the claimed case's mask (DWI grid) with the read record (quality, notes, lesion attributes, time, seed, hints seen).

        :param likert: sequence -> score, or -> ``{criterion: score}``; every criterion of the case's DWI, ADC and FLAIR
            must be scored (:func:`~AISCommonLib.core.readrecord.buildReadParameters`).
        :param seedSummary: what the mask started from: the seed's summary, an AI prediction's origin, or None.
        :param lesions: per-lesion attributes from :func:`~AISCommonLib.core.lesionattributes.placeLesionAttributes`, or None.
        :return: the store's submission record (``case_id``, ``read_id``, ``mask_path``, ``state`` ...; a trial read adds ``score``).
        :raises InputError: a required quality score is missing.
        """
        claim = self.requireClaim(caseId)
        sequences = set(self.case.files) if self.case is not None and self.case.caseId == caseId else None
        parameters = readrecord.buildReadParameters(likert, artifacts, notes, activeSeconds, seedSummary, shownHints, lesions, sequences)
        result = self._store.submitRead(claim["reader"], claim["case_id"], mask, expectedRevision=claim["revision"],
                                        method=readrecord.readMethod(seedSummary), parameters=parameters)
        self.claim = None
        return result

    def trainingReport(self, readerId: str, database: str | None, datasetRoot: str | None) -> dict:
        """The reader's own training report (bar, scores, what is missing), for the training panel.

        :raises UnknownUserError: unknown reader.
        """
        return self.open(database, datasetRoot).trainingReport(readerId, readerId)

    def trialFeedback(self, readerId: str, submission: dict, database: str | None, datasetRoot: str | None):
        """What the training panel shows after a trial read: ``submission`` against the reader's own training report."""
        return trainingfeedback.trialFeedback(submission, self.trainingReport(readerId, database, datasetRoot))

    def trialReference(self, readerId: str, caseId: str, database: str | None, datasetRoot: str | None):
        """The reference mask of a trial case the reader has submitted (to show over their read).

        :raises BlindingError: the reader has not submitted their read of the case yet.
        """
        return self.open(database, datasetRoot).referenceMaskPath(readerId, caseId)
