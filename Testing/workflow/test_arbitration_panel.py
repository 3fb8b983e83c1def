"""Arbitration as the consensus describes it: the lead arbiter convenes a panel (arbiters, optionally the reviewer),
each member may give an opinion, the lead rules; a ruling that overrides the reviewer's proposal says why. Also the
review scenarios of issue 12 at the store level: an error both readers made, a lesion both missed, a 1-voxel
discordance decided in bulk. Each on SQLite and PostgreSQL."""

import json

import numpy as np
import pytest
from workflow_fixtures import (
    ARBITER,
    BACKENDS,
    MANAGER,
    QUALIFIED,
    readerMasks,
    staffedStore,
    unchanged,
)

from AISCommonLib.core.errors import InputError
from AISCommonLib.core.image import loadVolume
from AISCommonLib.workflow import states
from AISCommonLib.workflow.errors import ConflictOfInterestError, IllegalTransitionError, PermissionDeniedError
from AISCommonLib.workflow.people import Qualification

CASE = "sub-01_ses-01"


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    with staffedStore(request.param, tmp_path) as workflowStore:
        workflowStore.addUser(MANAGER, "A02", Qualification(*QUALIFIED["arbiter"]))
        workflowStore.grantRole(MANAGER, "A02", "arbiter")
        yield workflowStore


def readBoth(store, masks):
    for reader, mask in zip(("R01", "R02"), masks):
        store.claimNext(reader, "reader")
        store.submitRead(reader, CASE, mask)


def missedRegion(store) -> int:
    return next(region["id"] for region in store.case(CASE)["comparison"]["discordant_regions"] if region["type"] == "missed_lesion")


def test_a_panel_discusses_and_the_lead_rules_with_a_reason_when_overriding_the_reviewer(store):
    readBoth(store, readerMasks(store.root, CASE, concordant=False))
    store.claimNext("V01", "reviewer")
    missed = missedRegion(store)
    store.escalate("V01", CASE, "is the extra lesion acute?", proposal={missed: "keep"})
    assert store.claimNext(ARBITER, "arbiter")["case_id"] == CASE
    with pytest.raises(ConflictOfInterestError):
        store.convenePanel(ARBITER, CASE, ["R01"])
    with pytest.raises(PermissionDeniedError, match="neither an arbiter nor the reviewer"):
        store.convenePanel(ARBITER, CASE, ["V02"])
    with pytest.raises(PermissionDeniedError):
        store.convenePanel("A02", CASE, [ARBITER])  # only the lead (holding the arbitration) convenes
    record = store.convenePanel(ARBITER, CASE, ["A02", "V01"], note="look at the FLAIR")
    assert [(member["user_id"], member["role"]) for member in record["members"]] == [(ARBITER, "lead"), ("A02", "member"), ("V01", "member")]
    store.addOpinion("A02", CASE, "FLAIR-bright and ADC normal: old, drop it", {missed: "drop"})
    store.addOpinion("V01", CASE, "I still think it is acute")
    with pytest.raises(PermissionDeniedError, match="not on the arbitration panel"):
        store.addOpinion("R03", CASE, "me too")
    with pytest.raises(PermissionDeniedError):
        store.panel("R01", CASE)
    record = store.panel(MANAGER, CASE)
    assert record["escalation"]["proposal"] == {missed: "keep"} and [opinion["user_id"] for opinion in record["opinions"]] == ["A02", "V01"]
    assert {read["reader"] for read in store.readRecords("A02", CASE)} == {"R01", "R02"}  # a member reads what the readers noted
    with unchanged(store, store.root), pytest.raises(InputError, match=rf"differs from the reviewer's proposal on regions \[{missed}\]"):
        store.arbitrate(ARBITER, CASE, {missed: "drop"}, defaultDecision="drop")
    result = store.arbitrate(ARBITER, CASE, {missed: "drop"}, defaultDecision="drop", overrideReason="old infarct on FLAIR, as A02 said")
    assert result["state"] == states.FINAL
    decision = next(row for row in store.snapshot()["decisions"] if row["action"] == "arbitrate")
    assert decision["override_reason"] == "old infarct on FLAIR, as A02 said"
    sidecar = json.loads(store.absolutePath(result["final_mask_path"]).with_name(f"{CASE}_dwi_lesionmask.json").read_text())
    assert sidecar["Arbitration"]["OverridesReviewerOn"] == [missed] and len(sidecar["Arbitration"]["Panel"]) == 3
    actions = [event["action"] for event in store.events(MANAGER, CASE)]
    assert actions[-4:] == ["convene_panel", "opinion", "opinion", "arbitrate"]
    assert store.verify()["ok"]


def test_a_ruling_that_follows_the_proposal_needs_no_reason_and_panels_are_for_arbitration_only(store):
    readBoth(store, readerMasks(store.root, CASE, concordant=False))
    store.claimNext("V01", "reviewer")
    with pytest.raises(IllegalTransitionError):
        store.convenePanel(ARBITER, CASE, ["A02"])  # the case is under review, not in arbitration
    missed = missedRegion(store)
    with pytest.raises(InputError, match="keep or drop"):
        store.escalate("V01", CASE, "unsure", proposal={missed: "edited"})
    store.escalate("V01", CASE, "unsure", proposal={missed: "keep"})
    store.claimNext(ARBITER, "arbiter")
    assert store.arbitrate(ARBITER, CASE, {missed: "keep"}, defaultDecision="keep")["state"] == states.FINAL


def test_the_reviewer_removes_an_error_both_readers_made(store):
    first, second = readerMasks(store.root, CASE, concordant=False)
    readBoth(store, (first, second))
    store.claimNext("V01", "reviewer")
    edited = first & second
    falsePositive = tuple(np.argwhere(edited)[0])
    edited[falsePositive] = False  # a voxel both readers drew that is not lesion
    result = store.review("V01", CASE, editedMask=edited)
    assert result["outcome"]["agreement_corrected"] and result["outcome"]["agreed_removed_voxels"] == 1
    assert not loadVolume(store.absolutePath(result["final_mask_path"])).array[falsePositive]


def test_the_arbiter_adds_a_lesion_both_readers_missed(store):
    first, second = readerMasks(store.root, CASE)
    readBoth(store, (first, second))
    store.claimNext("V01", "reviewer")
    store.escalate("V01", CASE, "a second lesion nobody drew?")
    store.claimNext(ARBITER, "arbiter")
    final = first & second
    final[1:3, 10:12, 10:12] = True  # a lesion neither reader drew
    result = store.arbitrate(ARBITER, CASE, editedMask=final)
    assert result["outcome"]["added_voxels"] == 8 and result["outcome"]["agreement_corrected"]


def test_a_one_voxel_discordance_is_decided_in_bulk(store):
    store.updateSettings(MANAGER, "the usual review size limit", concordance={"min_extent_mm3": 50.0})
    first, second = readerMasks(store.root, CASE)  # concordant: B lacks one voxel of A
    readBoth(store, (first, second))
    store.claimNext("V01", "reviewer")
    regions = store.case(CASE)["comparison"]["discordant_regions"]
    assert [(region["voxels"], region["small"]) for region in regions] == [(1, True)]  # listed, marked small, not hidden
    result = store.review("V01", CASE, {"small": "keep"})
    assert loadVolume(store.absolutePath(result["final_mask_path"])).array.sum() == first.sum()


def test_the_panel_from_the_command_line(store, capsys):
    from AISCommonLib.cli.workflow import main

    readBoth(store, readerMasks(store.root, CASE, concordant=False))
    database = ["--db", store.url, "--root", str(store.root)]
    main(["workflow", "next", "--user", "V01", *database, "--role", "reviewer"])
    missed = missedRegion(store)
    assert main(["workflow", "escalate", "--user", "V01", *database, CASE, "--reason", "acute?", "--propose", f"{missed}=keep"]) == 0
    main(["workflow", "next", "--user", ARBITER, *database, "--role", "arbiter"])
    assert main(["workflow", "panel", "--user", ARBITER, *database, CASE, "--convene", "A02", "--note", "FLAIR"]) == 0
    assert main(["workflow", "panel", "--user", "A02", *database, CASE, "--opinion", "old lesion", "--propose", f"{missed}=drop"]) == 0
    capsys.readouterr()
    assert main(["workflow", "panel", "--user", "A02", *database, CASE]) == 0
    shown = capsys.readouterr().out
    assert f"proposal: {missed} keep" in shown and "A02 (member)" in shown and f"Opinion of A02: old lesion ({missed} drop)" in shown
    assert main(["workflow", "arbitrate", "--user", ARBITER, *database, CASE, "--default", "drop"]) == 2
    assert "--override-reason" in capsys.readouterr().err
    assert main(["workflow", "arbitrate", "--user", ARBITER, *database, CASE, "--default", "drop", "--override-reason", "old on FLAIR"]) == 0
    assert store.case(CASE)["state"] == states.FINAL


def test_a_bad_final_mask_is_refused_and_nothing_changes(store, tmp_path):
    from workflow_fixtures import rotationAffine, saveNifti

    from AISCommonLib.core.errors import GeometryError
    from AISCommonLib.workflow.errors import StaleRevisionError

    first, second = readerMasks(store.root, CASE, concordant=False)
    readBoth(store, (first, second))
    store.claimNext("V01", "reviewer")
    elsewhere = saveNifti((first | second).transpose(2, 1, 0), rotationAffine(origin=(-38.0, -44.0, -40.0)), tmp_path / "off.nii.gz", np.uint8)
    with unchanged(store, store.root):
        with pytest.raises(GeometryError, match="voxel grid"):
            store.review("V01", CASE, editedMask=elsewhere)
        with pytest.raises(InputError, match="binary"):
            store.review("V01", CASE, editedMask=(first | second).astype(np.uint8) * 2)
        with pytest.raises(InputError, match="empty although both readers marked"):
            store.review("V01", CASE, editedMask=np.zeros_like(first))
        with pytest.raises(StaleRevisionError):
            store.review("V01", CASE, editedMask=first | second, expectedRevision=1)
    assert store.review("V01", CASE, editedMask=np.zeros_like(first), allowEmpty=True)["outcome"]["final_voxels"] == 0
