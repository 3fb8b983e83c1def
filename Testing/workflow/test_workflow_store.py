"""Workflow store rules, each on SQLite and on a real PostgreSQL server."""

import json

import numpy as np
import pytest
from workflow_fixtures import (
    ARBITER,
    BACKENDS,
    MANAGER,
    QUALIFIED,
    openStore,
    readBytes,
    readerMasks,
    replaceReadBytes,
    rotationAffine,
    saveNifti,
    staffedStore,
    unchanged,
)

from AISCommonLib.core.errors import GeometryError, InputError
from AISCommonLib.workflow import schema, states
from AISCommonLib.workflow.errors import (
    BlindingError,
    ConflictOfInterestError,
    IllegalTransitionError,
    PermissionDeniedError,
    SchemaVersionError,
    StaleRevisionError,
    UnknownCaseError,
    UnknownUserError,
)
from AISCommonLib.workflow.people import Qualification

CASE = "sub-01_ses-01"


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    """A staffed store (manager, four readers, two reviewers, an arbiter) over a three-case dataset."""
    with staffedStore(request.param, tmp_path, cases=3, participantLabels=["01"]) as workflowStore:  # one case registered: claims are predictable
        yield workflowStore


def readBoth(store, caseId=CASE, concordant=True, readers=("R01", "R02")):
    """Two readers claim ``caseId`` (the only registered case) and submit."""
    for reader, mask in zip(readers, readerMasks(store.root, caseId, concordant)):
        assert store.claimNext(reader, "reader")["case_id"] == caseId
        store.submitRead(reader, caseId, mask)


def test_full_path_discordant_review_keeps_decided_regions(store):
    readBoth(store, concordant=False)
    case = store.case(CASE)
    assert case["state"] == states.REVIEW_ADJUDICATE and case["concordant"] is False
    regions = case["comparison"]["discordant_regions"]
    assert [region["type"] for region in regions] == ["missed_lesion"]
    claim = store.claimNext("V01", "reviewer")
    assert claim["case_id"] == CASE
    with unchanged(store, store.root), pytest.raises(InputError, match="decide regions"):
        store.review("V01", CASE, {})
    result = store.review("V01", CASE, {regions[0]["id"]: "keep"}, note="the extra lesion is real")
    assert result["state"] == states.FINAL
    first, second = readerMasks(store.root, CASE, concordant=False)
    from AISCommonLib.core.image import loadVolume

    final = loadVolume(store.absolutePath(result["final_mask_path"])).array.astype(bool)
    assert np.array_equal(final, first | second)
    actions = [event["action"] for event in store.events(MANAGER, CASE)]
    assert actions == ["register", "claim", "submit", "claim", "submit", "compare", "claim", "review"]
    assert store.verify()["ok"]


def test_concordant_case_goes_to_confirm_queue_and_needs_a_review(store):
    readBoth(store, concordant=True)
    case = store.case(CASE)
    assert case["state"] == states.REVIEW_CONFIRM
    assert case["final_mask_path"] is None  # never final without a senior review
    store.claimNext("V01", "reviewer")
    result = store.review("V01", CASE)
    assert result["state"] == states.FINAL


def test_escalation_and_arbitration_conflicts(store):
    readBoth(store, concordant=False)
    store.claimNext("V01", "reviewer")
    store.escalate("V01", CASE, "unsure whether the extra lesion is old")
    assert store.case(CASE)["state"] == states.ARBITRATION
    # The reviewer cannot arbitrate even with the arbiter role; readers neither.
    store.grantRole(MANAGER, "V01", "arbiter", overrideReason="test")
    assert store.claimNext("V01", "arbiter") is None
    store.grantRole(MANAGER, "R01", "arbiter", overrideReason="test")
    assert store.claimNext("R01", "arbiter") is None
    assert store.claimNext(ARBITER, "arbiter")["case_id"] == CASE
    region = store.case(CASE)["comparison"]["discordant_regions"][0]["id"]
    result = store.arbitrate(ARBITER, CASE, {region: "drop"}, note="old lesion")
    assert result["state"] == states.FINAL
    with pytest.raises(IllegalTransitionError, match="final"):
        store.exclude(MANAGER, CASE, "motion_artifact")


def test_reviewer_never_reviews_a_case_they_read(store):
    store.grantRole(MANAGER, "R01", "reviewer", overrideReason="test: a reader who also reviews")
    readBoth(store)
    assert store.claimNext("R01", "reviewer") is None
    assert store.claimNext("V02", "reviewer")["case_id"] == CASE


def test_same_reader_never_gets_both_reads(store):
    store.claimNext("R01", "reader")
    assert store.claimNext("R01", "reader")["resumed"] is True  # the open claim again, not the second slot
    store.submitRead("R01", CASE, readerMasks(store.root, CASE)[0])
    assert store.claimNext("R01", "reader") is None
    store.registerCases(MANAGER, participantLabels=["02"])
    assert store.claimNext("R01", "reader")["case_id"] == "sub-02_ses-01"
    with pytest.raises(ConflictOfInterestError, match="read it already"):
        store._write(lambda connection: store._checkConflicts(connection, store._lockCase(connection, CASE), "R01", states.SLOT_READ))


def test_blinding_until_both_reads_are_in(store):
    caseId = store.claimNext("R01", "reader")["case_id"]
    masks = readerMasks(store.root, caseId)
    result = store.submitRead("R01", caseId, masks[0])
    assert store.claimNext("R02", "reader")["case_id"] == caseId
    assert store.readsVisibleTo("R02", caseId) == []
    with pytest.raises(BlindingError):
        store.readMaskPath("R02", result["read_id"])
    submitEvents = [event for event in store.events("R02", caseId) if event["action"] == "submit"]
    assert submitEvents and all(event["files"] == {} for event in submitEvents)
    assert [read["user_id"] for read in store.readsVisibleTo("R01", caseId)] == ["R01"]
    store.submitRead("R02", caseId, masks[1])
    assert {read["user_id"] for read in store.readsVisibleTo("R02", caseId)} == {"another reader", "R02"}  # never who
    assert store.readMaskPath("R02", result["read_id"]).is_file()


def test_role_minimums_and_manager_override(store):
    store.addUser(MANAGER, "N01", Qualification("attending", 8, 6))
    with unchanged(store, store.root), pytest.raises(PermissionDeniedError, match="associate_chief"):
        store.grantRole(MANAGER, "N01", "reviewer")
    with pytest.raises(PermissionDeniedError, match="chief"):
        store.grantRole(MANAGER, "N01", "arbiter")
    assert store.grantRole(MANAGER, "N01", "reader") == []
    shortfalls = store.grantRole(MANAGER, "N01", "reviewer", overrideReason="only neuroradiologist on site")
    assert shortfalls == ["title attending is below associate_chief"]
    user = next(user for user in store.users() if user["user_id"] == "N01")
    assert {"role": "reviewer", "granted_by": MANAGER, "override_reason": "only neuroradiologist on site"} in user["roles"]
    store.addUser(MANAGER, "N02", Qualification("resident", 3, 1))
    with pytest.raises(PermissionDeniedError, match="years of imaging"):
        store.grantRole(MANAGER, "N02", "reader")
    with pytest.raises(PermissionDeniedError, match="manager"):
        store.grantRole("R01", "N02", "reader", overrideReason="not a manager")
    with pytest.raises(InputError):
        store.addUser(MANAGER, "bad id!", Qualification(*QUALIFIED["reader"]))
    with pytest.raises(InputError, match="neuroimaging cannot exceed"):
        store.addUser(MANAGER, "N03", Qualification("chief", 3, 10))


def test_bad_input_changes_nothing(store):
    claim = store.claimNext("R01", "reader")
    caseId = claim["case_id"]
    good = readerMasks(store.root, caseId)[0]
    with unchanged(store, store.root):
        with pytest.raises(UnknownUserError):
            store.claimNext("X99", "reader")
        with pytest.raises(UnknownUserError):
            store.submitRead("X99", caseId, good)
        with pytest.raises(PermissionDeniedError, match="role reader"):
            store.claimNext("V01", "reader")
        with pytest.raises(PermissionDeniedError, match="holds no open read"):
            store.submitRead("R02", caseId, good)
        with pytest.raises(UnknownCaseError):
            store.submitRead("R01", "sub-99", good)
        with pytest.raises(IllegalTransitionError, match="awaiting_reads"):
            store.escalate("V01", caseId, "no reason")
        with pytest.raises(IllegalTransitionError, match="awaiting_reads"):
            store.reopen(MANAGER, caseId, "not excluded")
        with pytest.raises(InputError, match="shape"):
            store.submitRead("R01", caseId, good[:, :, :-1])
        with pytest.raises(InputError, match="binary"):
            store.submitRead("R01", caseId, good.astype(np.uint8) * 3)
        with pytest.raises(StaleRevisionError):
            store.submitRead("R01", caseId, good, expectedRevision=7)
        with pytest.raises(InputError, match="Exclusion reason"):
            store.exclude("R01", caseId, "boring")
        with pytest.raises(InputError, match="note"):
            store.exclude("R01", caseId, "other")
        with pytest.raises(PermissionDeniedError, match="only while assigned"):
            store.exclude("R02", caseId, "motion_artifact")
        with pytest.raises(PermissionDeniedError, match="reopen|arbiter or manager|role"):
            store.reopen("R01", caseId, "no")


def test_mask_file_on_another_grid_is_refused(store, tmp_path):

    claim = store.claimNext("R01", "reader")
    mask = readerMasks(store.root, claim["case_id"])[0]
    shifted = rotationAffine(origin=(-38.0, -44.0, -40.0))
    path = saveNifti(mask.transpose(2, 1, 0), shifted, tmp_path / "elsewhere.nii.gz", np.uint8)
    with unchanged(store, store.root), pytest.raises(GeometryError, match="voxel grid"):
        store.submitRead("R01", claim["case_id"], path)
    assert store.submitRead("R01", claim["case_id"], saveNifti(mask.transpose(2, 1, 0), rotationAffine(), tmp_path / "good.nii.gz", np.uint8))


def test_stale_client_is_refused(store):
    readBoth(store, concordant=False)
    store.claimNext("V01", "reviewer")
    seen = store.case(CASE)["revision"]
    store.exclude(MANAGER, CASE, "hemorrhage", note="found on T1")
    store.reopen(ARBITER, CASE, "hemorrhage was a flow artifact")
    assert store.case(CASE)["state"] == states.REVIEW_ADJUDICATE
    region = store.case(CASE)["comparison"]["discordant_regions"][0]["id"]
    store.claimNext("V01", "reviewer")
    with unchanged(store, store.root), pytest.raises(StaleRevisionError, match="reload"):
        store.review("V01", CASE, {region: "keep"}, expectedRevision=seen)
    assert store.review("V01", CASE, {region: "keep"}, expectedRevision=seen + 2)["state"] == states.FINAL


def test_exclusion_releases_claims_and_reopen_restores_state(store):
    store.registerCases(MANAGER, participantLabels=["02"])
    claim = store.claimNext("R01", "reader")
    excluded = store.exclude("R01", claim["case_id"], "motion_artifact", note="severe ghosting")
    assert excluded["state"] == states.EXCLUDED
    case = store.case(claim["case_id"])
    assert case["exclusion_reason"] == "motion_artifact" and case["previous_state"] == states.AWAITING_READS
    assert all(slot["user_id"] is None for slot in case["slots"])
    assert store.claimNext("R01", "reader")["case_id"] != claim["case_id"]
    with pytest.raises(PermissionDeniedError):
        store.reopen("V01", claim["case_id"], "looks fine")
    reopened = store.reopen(MANAGER, claim["case_id"], "second look: motion is mild")
    assert reopened["state"] == states.AWAITING_READS and reopened["revision"] == excluded["revision"] + 1
    event = store.events(MANAGER, claim["case_id"])[-1]
    assert event["action"] == "reopen" and json.loads(event["note"])["was_excluded_for"] == "motion_artifact"


def test_second_read_is_compared_at_once(store):
    caseId = CASE
    for reader in ("R01", "R02"):
        assert store.claimNext(reader, "reader")["case_id"] == caseId
    masks = readerMasks(store.root, caseId)
    assert store.submitRead("R01", caseId, masks[0])["state"] == states.AWAITING_READS
    result = store.submitRead("R02", caseId, masks[1])
    assert result["state"] == states.REVIEW_CONFIRM and "comparison_error" not in result
    assert store.case(caseId)["comparison"]["concordant"] is True


def test_an_interrupted_comparison_keeps_the_read_and_is_settled_later(store, monkeypatch):
    from AISCommonLib.core.errors import InputError

    caseId = CASE
    for reader in ("R01", "R02"):
        store.claimNext(reader, "reader")
    masks = readerMasks(store.root, caseId)
    store.submitRead("R01", caseId, masks[0])
    compare = store._compare
    monkeypatch.setattr(store, "_compare", lambda *paths: (_ for _ in ()).throw(InputError("the mask file is being replaced")))
    result = store.submitRead("R02", caseId, masks[1])
    assert result["state"] == states.AWAITING_COMPARISON and "being replaced" in result["comparison_error"]
    assert len(store.readsVisibleTo(MANAGER, caseId)) == 2
    monkeypatch.setattr(store, "_compare", compare)
    claim = store.claimNext("V01", "reviewer")
    assert claim["case_id"] == caseId and claim["state"] == states.REVIEW_CONFIRM


def test_event_log_is_append_only(store):
    from sqlalchemy.exc import DBAPIError

    t = schema.tables()
    for statement in (t.events.update().values(note="rewritten"), t.events.delete()):
        with pytest.raises(DBAPIError, match="append-only"):
            with store._engine.begin() as connection:
                connection.execute(statement)
    assert store.events(MANAGER)[0]["action"] == "initialise"


def test_verify_reports_missing_and_changed_files(store):
    readBoth(store)
    read = store.readsVisibleTo(MANAGER, CASE)[0]
    replaceReadBytes(store, read["mask_path"], readBytes(store, read["mask_path"]) + b"x")  # the database copy in team mode
    flair = store.root / "sub-01" / "ses-01" / "anat" / "sub-01_ses-01_FLAIR.nii.gz"
    flair.unlink()
    problems = {row["path"]: row["status"] for row in store.verify()["files"] if row["status"] != "ok"}
    assert problems == {read["mask_path"]: "changed", "sub-01/ses-01/anat/sub-01_ses-01_FLAIR.nii.gz": "missing"}


def test_export_writes_json_and_csv(store, tmp_path):
    readBoth(store)
    written = store.export("M01", tmp_path / "export")
    names = sorted(path.name for path in written)
    assert {"workflow.json", "cases.csv", "reads.csv", "decisions.csv", "events.csv"} <= set(names)
    document = json.loads((tmp_path / "export" / "workflow.json").read_text())
    assert document["schema_version"] == schema.SCHEMA_VERSION
    assert len(document["tables"]["reads"]) == 2
    assert (tmp_path / "export" / "events.csv").read_text().count("\n") == len(document["tables"]["events"]) + 1


def test_schema_version_recorded_and_newer_refused(store):
    from sqlalchemy import insert

    with store._engine.begin() as connection:
        assert schema.storedVersion(connection) == schema.SCHEMA_VERSION
        assert schema.upgradeSchema(connection) == schema.SCHEMA_VERSION  # idempotent
        connection.execute(insert(schema.tables().schemaVersion).values(version=schema.SCHEMA_VERSION + 1, applied_at=schema.utcNow()))
    with pytest.raises(SchemaVersionError, match="newer"):
        openStore(store.url, store.root)


def test_initialise_again_is_a_no_op_and_another_root_is_refused(store, tmp_path):
    assert store.initialise(store.root, MANAGER, Qualification(*QUALIFIED["manager"])) is False
    other = tmp_path / "other"
    other.mkdir()
    from AISCommonLib.workflow.errors import WorkflowError

    with pytest.raises(WorkflowError, match="initialised for"):
        store.initialise(other, MANAGER, Qualification(*QUALIFIED["manager"]))


def test_edited_region_needs_and_uses_the_edited_mask(store):
    readBoth(store, concordant=False)
    store.claimNext("V01", "reviewer")
    region = store.case(CASE)["comparison"]["discordant_regions"][0]["id"]
    with pytest.raises(InputError, match="edited mask"):
        store.review("V01", CASE, {region: "edited"})
    edited = readerMasks(store.root, CASE, concordant=False)[1]
    edited[2, 30, 28] = False
    result = store.review("V01", CASE, {region: "edited"}, editedMask=edited)
    from AISCommonLib.core.image import loadVolume

    assert np.array_equal(loadVolume(store.absolutePath(result["final_mask_path"])).array.astype(bool), edited)
