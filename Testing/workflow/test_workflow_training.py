"""Reader training: trial cases, scores against reference masks, the bar, qualification; SQLite and PostgreSQL."""

import json
from pathlib import Path

import numpy as np
import pytest
from workflow_fixtures import (
    BACKENDS,
    MANAGER,
    databaseUrl,
    makeDataset,
    openStore,
    rotationAffine,
    saveNifti,
    staff,
    unchanged,
)

from AISCommonLib.core.errors import GeometryError, InputError
from AISCommonLib.workflow import people, schema, states
from AISCommonLib.workflow.errors import (
    BlindingError,
    PermissionDeniedError,
    UnknownUserError,
    WorkflowError,
)

GRID_KJI = (20, 44, 40)  # the simple cases' DWI grid [k, j, i]; voxels 2 x 2 x 4 mm = 16 mm^3
#: Trial cases: reference box (k, j, i slices) and the size class and location it gives (the DWI field of
#: view is centred at voxel (9.5, 21.5, 19.5), which is RAS (-1, -1, -2) mm). sub-05's location is given.
TRIALS = {
    "sub-01_ses-01": ((slice(2, 4), slice(5, 7), slice(5, 7)), "small", "LPI"),  # 8 voxels, 0.128 mL
    "sub-02_ses-01": ((slice(12, 16), slice(30, 35), slice(28, 33)), "medium", "RAS"),  # 100 voxels, 1.6 mL
    "sub-03_ses-01": ((slice(11, 19), slice(24, 36), slice(4, 16)), "large", "LAS"),  # 1152 voxels, 18.4 mL
    "sub-04_ses-01": ((slice(12, 14), slice(8, 10), slice(30, 32)), "small", "RPS"),
    "sub-05_ses-01": ((slice(3, 7), slice(4, 9), slice(4, 9)), "medium", "left_mca"),
    "sub-06_ses-01": ((slice(1, 3), slice(10, 12), slice(10, 12)), "small", "LPI"),
}
REAL_CASE = "sub-07_ses-01"
TRAINEE, OTHER_TRAINEE = "R01", "R02"


def box(slices) -> np.ndarray:
    mask = np.zeros(GRID_KJI, dtype=bool)
    mask[slices] = True
    return mask


def poorRead(slices) -> np.ndarray:
    """An over-drawn read: the reference box grown by 3 voxels each way (one lesion, no miss, low Dice)."""
    grown = tuple(slice(max(part.start - 3, 0), min(part.stop + 3, size)) for part, size in zip(slices, GRID_KJI))
    return box(grown)


def writeMask(mask: np.ndarray, path: Path, affine=None) -> Path:
    return saveNifti(mask.transpose(2, 1, 0), rotationAffine() if affine is None else affine, path, np.uint8)


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    """Training required; six trial cases with reference masks (outside the dataset) and one real case."""
    root = makeDataset(tmp_path / "bids", 7)
    workflowStore = openStore(databaseUrl(request.param, tmp_path), root)
    staff(workflowStore, root, training=True)
    references = {caseId: writeMask(box(slices), tmp_path / "references" / f"{caseId}.nii.gz") for caseId, (slices, _, _) in TRIALS.items()}
    registered = workflowStore.registerCases(MANAGER, training=True, referenceMasks=references, locations={"sub-05_ses-01": "left_mca"})
    assert registered == list(TRIALS)
    workflowStore.registerCases(MANAGER, participantLabels=["07"])
    workflowStore.root, workflowStore.references = root, references
    yield workflowStore
    workflowStore.close()


def readTrial(store, reader, good=True) -> dict:
    """Claim the reader's next trial case and submit the reference (good) or an over-drawn read."""
    claim = store.claimNext(reader, "reader")
    assert claim is not None and claim["kind"] == states.SLOT_TRIAL and claim["training"] is True
    slices = TRIALS[claim["case_id"]][0]
    return store.submitRead(reader, claim["case_id"], box(slices) if good else poorRead(slices))


def test_trial_cases_are_labelled_from_the_reference_or_by_the_manager(store):
    cases = {case["case_id"]: case for case in store.cases()}
    for caseId, (_, sizeClass, location) in TRIALS.items():
        assert (cases[caseId]["lesion_size_class"], cases[caseId]["lesion_location"]) == (sizeClass, location)
        assert cases[caseId]["training"] is True
    assert cases[REAL_CASE]["training"] is False and cases[REAL_CASE]["lesion_size_class"] is None
    assert store.case("sub-03_ses-01")["reference_volume_ml"] == pytest.approx(18.432)
    relabelled = store.setTrialLabels(MANAGER, "sub-06_ses-01", location="brainstem")
    assert relabelled["lesion_location"] == "brainstem" and relabelled["lesion_size_class"] == "small"
    assert store.events(MANAGER, "sub-06_ses-01")[-1]["action"] == states.ACTION_TRIAL_LABELS


def test_trainee_gets_only_trial_cases_new_classes_first(store):
    claim = store.claimNext(TRAINEE, "reader")
    assert claim["case_id"] == "sub-01_ses-01" and claim["kind"] == states.SLOT_TRIAL
    assert store.claimNext(TRAINEE, "reader") == {**claim, "resumed": True}  # the open trial case again
    order = [claim["case_id"]]
    store.submitRead(TRAINEE, claim["case_id"], box(TRIALS[claim["case_id"]][0]))
    for _ in range(3):
        order.append(readTrial(store, TRAINEE)["case_id"])
    # A new size class and a new location first: small LPI, medium RAS, large LAS, then small RPS.
    assert order == ["sub-01_ses-01", "sub-02_ses-01", "sub-03_ses-01", "sub-04_ses-01"]
    assert store.case(REAL_CASE)["slots"][0]["user_id"] is None  # never a real case while in training
    assert store.case("sub-01_ses-01")["state"] == states.AWAITING_READS  # trial cases never move on
    # Another trainee reads the same trial cases (no two-reader limit), least-read first.
    assert store.claimNext(OTHER_TRAINEE, "reader")["case_id"] == "sub-05_ses-01"


def test_submission_is_scored_against_the_reference_with_time_taken(store):
    claim = store.claimNext(TRAINEE, "reader")
    caseId = claim["case_id"]
    slices = TRIALS[caseId][0]
    near = box(slices)
    near[slices[0].start, slices[1].start, slices[2].start] = False  # one voxel less than the reference
    result = store.submitRead(TRAINEE, caseId, near)
    score = result["score"]
    assert result["training"] is True and result["qualified"] is False and result["state"] == states.AWAITING_READS
    assert score["dice"] == pytest.approx(2 * 7 / 15)
    assert score["lesion_f1"] == 1.0 and score["missed_lesions"] == 0 and score["hd95_mm"] is not None
    snapshot = store.snapshot()
    [row] = snapshot["training_scores"]
    slot = next(slot for slot in snapshot["slots"] if slot["kind"] == states.SLOT_TRIAL)
    read = next(read for read in snapshot["reads"] if read["id"] == result["read_id"])
    from AISCommonLib.workflow.database import secondsBetween as _secondsBetween

    assert row["duration_seconds"] == pytest.approx(_secondsBetween(slot["claimed_at"], read["submitted_at"])) and row["duration_seconds"] >= 0
    assert (row["user_id"], row["case_id"], row["read_id"]) == (TRAINEE, caseId, result["read_id"])
    assert row["dice"] == pytest.approx(score["dice"]) and row["hd95_mm"] == pytest.approx(score["hd95_mm"]) and row["lesion_f1"] == 1.0
    event = store.events(MANAGER, caseId)[-1]
    assert event["action"] == states.ACTION_TRAINING_SCORE
    assert set(event["files"]) == {store._relative(store.references[caseId]), result["mask_path"]}
    assert json.loads(event["note"])["dice"] == pytest.approx(score["dice"])
    assert store.verify()["ok"]


def test_qualified_after_five_good_cases_of_differing_classes_not_before(store):
    for _ in range(4):
        assert readTrial(store, TRAINEE)["qualified"] is False
    report = store.trainingReport(MANAGER, TRAINEE)
    assert report["in_training"] and not report["qualified"]
    assert report["evaluation"]["shortfalls"] == ["4 of 5 trial cases scored"]
    with pytest.raises(PermissionDeniedError, match="holds no open read"):
        store.submitRead(TRAINEE, REAL_CASE, box(TRIALS["sub-01_ses-01"][0]))
    result = readTrial(store, TRAINEE)
    assert result["qualified"] is True
    report = store.trainingReport(MANAGER, TRAINEE)
    assert report["qualified"] and report["override_reason"] is None and report["qualified_at"]
    assert report["evaluation"]["met"] and report["evaluation"]["size_classes"] == ["small", "medium", "large"]
    assert [score["dice"] for score in report["scores"]] == [1.0] * 5
    assert [event for event in store.events(MANAGER) if event["action"] == states.ACTION_QUALIFY][0]["user_id"] == TRAINEE
    # Qualified: real cases now, no more trial cases.
    claim = store.claimNext(TRAINEE, "reader")
    assert claim["case_id"] == REAL_CASE and claim["kind"] == states.SLOT_READ and claim["training"] is False


def test_poor_mean_dice_stays_in_training_and_never_gets_real_cases(store):
    for _ in range(len(TRIALS)):
        assert readTrial(store, TRAINEE, good=False)["qualified"] is False
    assert store.claimNext(TRAINEE, "reader") is None  # trial cases used up; still no real case
    report = store.trainingReport(MANAGER, TRAINEE)
    evaluation = report["evaluation"]
    assert not report["qualified"] and evaluation["cases"] == 6 and evaluation["missed_lesions"] == 0
    assert evaluation["mean_dice"] < 0.7
    assert len(evaluation["shortfalls"]) == 1 and "mean Dice" in evaluation["shortfalls"][0]
    assert report["trial_cases_left"] == 0


def test_bar_changes_are_checked_and_re_evaluate_trainees(store):
    store.updateSettings(MANAGER, "stricter site bar", training={"min_mean_dice": 0.95, "min_locations": 5, "max_median_minutes": 30})
    for _ in range(4):
        readTrial(store, TRAINEE)
    readTrial(store, TRAINEE, good=False)  # sub-05: poor, the mean Dice falls to about 0.83
    report = store.trainingReport(MANAGER, TRAINEE)
    evaluation = report["evaluation"]
    assert not report["qualified"] and evaluation["shortfalls"] == [f"mean Dice {evaluation['mean_dice']:.3f} is below 0.95"]
    assert evaluation["locations"] == ["LAS", "LPI", "RAS", "RPS", "left_mca"] and evaluation["median_minutes"] < 30
    store.updateSettings(MANAGER, "six cases, six locations", training={"min_mean_dice": 0.7, "min_cases": 6, "min_locations": 6})
    assert not store.trainingReport(MANAGER, TRAINEE)["qualified"]
    store.updateSettings(MANAGER, "five are enough", training={"min_cases": 5, "min_locations": 5})
    report = store.trainingReport(MANAGER, TRAINEE)
    assert report["qualified"] and report["override_reason"] is None  # met now: qualified at the change
    assert json.loads([event for event in store.events(MANAGER) if event["action"] == states.ACTION_QUALIFY][-1]["note"])["how"] == "training_bar"
    store.updateSettings(MANAGER, "readers must be fast", training={"max_median_minutes": 1e-9})
    readTrial(store, OTHER_TRAINEE)
    assert any("minutes per case" in text for text in store.trainingReport(MANAGER, OTHER_TRAINEE)["evaluation"]["shortfalls"])


def test_manual_override_needs_a_reason_and_is_recorded(store):
    readTrial(store, TRAINEE)
    held = store.claimNext(TRAINEE, "reader")
    with unchanged(store, store.root):
        for reason in ("", "   ", None):
            with pytest.raises(PermissionDeniedError, match="needs a reason"):
                store.qualifyReader(MANAGER, TRAINEE, reason)
        with pytest.raises(PermissionDeniedError, match="manager"):
            store.qualifyReader("V01", TRAINEE, "a reviewer cannot")
        with pytest.raises(WorkflowError, match="not a reader"):
            store.qualifyReader(MANAGER, "V01", "reviewers do not train")
    result = store.qualifyReader(MANAGER, TRAINEE, "read 200 cases in the previous study")
    assert result["qualified"] and result["shortfalls"][0] == "1 of 5 trial cases scored"
    user = next(user for user in store.users() if user["user_id"] == TRAINEE)
    assert user["reader_qualified"] and user["qualified_by"] == MANAGER
    assert user["qualified_override_reason"] == "read 200 cases in the previous study"
    event = [event for event in store.events(MANAGER) if event["action"] == states.ACTION_QUALIFY][-1]
    note = json.loads(event["note"])
    assert (event["user_id"], note["how"], note["override_reason"]) == (MANAGER, "override", "read 200 cases in the previous study")
    assert note["released_trial_cases"] == [held["case_id"]]
    assert all(slot["user_id"] != TRAINEE for slot in store.case(held["case_id"])["slots"])
    with pytest.raises(WorkflowError, match="already qualified"):
        store.qualifyReader(MANAGER, TRAINEE, "again")
    assert store.claimNext(TRAINEE, "reader")["case_id"] == REAL_CASE
    store.grantRole(MANAGER, MANAGER, "reader", overrideReason="the manager reads too")
    with pytest.raises(PermissionDeniedError, match="own training"):
        store.qualifyReader(MANAGER, MANAGER, "I know what I am doing")


def test_trainees_cannot_see_references_or_other_reads_before_submitting(store):
    caseId = store.claimNext(TRAINEE, "reader")["case_id"]
    case = store.case(caseId)
    assert case["has_reference"] is True and "reference_mask_path" not in case
    with pytest.raises(BlindingError, match="before submitting"):
        store.referenceMaskPath(TRAINEE, caseId)
    referencePath = store._relative(store.references[caseId])
    assert all(referencePath not in event["files"] for event in store.events(TRAINEE, caseId))
    result = store.submitRead(TRAINEE, caseId, box(TRIALS[caseId][0]))
    assert store.referenceMaskPath(TRAINEE, caseId) == store.references[caseId].resolve()
    assert store.referenceMaskPath(MANAGER, caseId) == store.references[caseId].resolve()
    # Another trainee who has not read this trial case sees neither the reference nor the read nor the score.
    with pytest.raises(BlindingError):
        store.referenceMaskPath(OTHER_TRAINEE, caseId)
    assert store.readsVisibleTo(OTHER_TRAINEE, caseId) == []
    with pytest.raises(BlindingError):
        store.readMaskPath(OTHER_TRAINEE, result["read_id"])
    for event in store.events(OTHER_TRAINEE, caseId):
        assert referencePath not in event["files"] and result["mask_path"] not in event["files"]
        if event["action"] == states.ACTION_TRAINING_SCORE:
            assert "dice" not in event["note"]
    with pytest.raises(PermissionDeniedError, match="own training report"):
        store.trainingReport(OTHER_TRAINEE, TRAINEE)
    assert store.trainingReport(TRAINEE, TRAINEE)["scores"][0]["dice"] == 1.0  # feedback on their own reads
    with pytest.raises(WorkflowError, match="not a trial case"):
        store.referenceMaskPath(MANAGER, REAL_CASE)


def test_release_and_training_not_required(store):
    claim = store.claimNext(TRAINEE, "reader")
    store.releaseClaim(TRAINEE, claim["case_id"], "wrong monitor")
    assert store.case(claim["case_id"])["slots"] == []  # a trial slot is removed, not left open
    assert store.claimNext(TRAINEE, "reader")["case_id"] == claim["case_id"]
    store.updateSettings(MANAGER, "pilot without training", training={"required": False})
    assert store.claimNext(OTHER_TRAINEE, "reader")["case_id"] == REAL_CASE  # unqualified but not required


def test_bad_input_is_refused_and_changes_nothing(store, tmp_path):
    claim = store.claimNext(TRAINEE, "reader")
    caseId = claim["case_id"]
    good = box(TRIALS[caseId][0])
    emptyReference = writeMask(np.zeros(GRID_KJI, bool), tmp_path / "empty.nii.gz")
    shifted = writeMask(box(TRIALS[caseId][0]), tmp_path / "shifted.nii.gz", rotationAffine(origin=(-30.0, -44.0, -40.0)))
    other = writeMask(good, tmp_path / "other.nii.gz")
    with unchanged(store, store.root):
        for bar, message in (({"min_cases": 4}, "at least 5"), ({"min_cases": 5.5}, "at least 5"), ({"min_mean_dice": 1.5}, "between 0 and 1"),
                             ({"max_median_minutes": -1}, "positive"), ({"required": "yes"}, "true or false"),
                             ({"min_size_classes": 4}, "size classes"), ({"min_locations": 0}, "locations"), ({"speed": 1}, "Unknown training"),
                             ({"min_size_classes": 1}, "different lesion sizes"), ({"min_locations": 1}, "different lesion locations")):
            with pytest.raises(InputError, match=message):
                store.updateSettings(MANAGER, "bad bar", training=bar)
        with pytest.raises(PermissionDeniedError, match="manager"):
            store.updateSettings(TRAINEE, "lower my bar", training={"min_mean_dice": 0.0})
        with pytest.raises(InputError, match="need reference masks"):
            store.registerCases(MANAGER, training=True)
        with pytest.raises(InputError, match="sub-99"):
            store.registerCases(MANAGER, training=True, referenceMasks={"sub-99_ses-01": other})
        with pytest.raises(WorkflowError, match="already registered as a real case"):
            store.registerCases(MANAGER, training=True, referenceMasks={REAL_CASE: other})
        with pytest.raises(InputError, match="size class 'huge'"):
            store.registerCases(MANAGER, training=True, referenceMasks={caseId: other}, sizeClasses={caseId: "huge"})
        with pytest.raises(InputError, match="location"):
            store.registerCases(MANAGER, training=True, referenceMasks={caseId: other}, locations={caseId: "left mca!"})
        with pytest.raises(InputError, match="trial cases only"):
            store.registerCases(MANAGER, participantLabels=["07"], sizeClasses={REAL_CASE: "small"})
        with pytest.raises(InputError, match="empty"):
            store.registerCases(MANAGER, training=True, referenceMasks={"sub-07_ses-01": emptyReference}, participantLabels=["07"])
        with pytest.raises(GeometryError, match="grid"):
            store.registerCases(MANAGER, training=True, referenceMasks={"sub-07_ses-01": shifted}, participantLabels=["07"])
        with pytest.raises(WorkflowError, match="not a trial case"):
            store.setTrialLabels(MANAGER, REAL_CASE)
        with pytest.raises(UnknownUserError):
            store.trainingReport(MANAGER, "X99")
        with pytest.raises(UnknownUserError):
            store.qualifyReader(MANAGER, "X99", "no such person")
        with pytest.raises(PermissionDeniedError, match="holds no open trial"):
            store.submitRead(OTHER_TRAINEE, caseId, good)
        with pytest.raises(InputError, match="shape"):
            store.submitRead(TRAINEE, caseId, good[:, :, :-1])
        with pytest.raises(UnknownUserError):
            store.claimNext("X99", "reader")
    # A reference changed after registration: the trial read is refused before anything is written.
    writeMask(poorRead(TRIALS[caseId][0]), store.references[caseId])
    with unchanged(store, store.root), pytest.raises(WorkflowError, match="changed since registration"):
        store.submitRead(TRAINEE, caseId, good)


@pytest.mark.parametrize("backend", BACKENDS)
def test_upgrade_from_a_version_1_database(backend, tmp_path):
    from sqlalchemy import inspect, select

    from AISCommonLib.core.atomicio import sha256File
    from AISCommonLib.workflow.database import createEngine as _createEngine

    root = makeDataset(tmp_path / "bids", 7)
    url = databaseUrl(backend, tmp_path)
    slices = TRIALS["sub-01_ses-01"][0]
    reference = writeMask(box(slices), tmp_path / "reference.nii.gz")
    v1 = schema.tables(1)
    now = schema.utcNow()
    engine = _createEngine(url)
    with engine.begin() as connection:  # a database as release 1 wrote it, with a trainee and a trial case
        schema._createVersion1(connection)
        connection.execute(v1.schemaVersion.insert().values(version=1, applied_at=now))
        for key, value in (("dataset_root", str(root.resolve())), ("concordance", {"min_dice": 0.7, "max_missed_lesions": 0, "min_extent_mm3": 0.0}),
                           ("training", {"required": True, "min_cases": 5, "min_mean_dice": 0.7, "max_missed_lesions": 0})):
            connection.execute(v1.settings.insert().values(key=key, value=json.dumps(value)))
        for userId, role in ((MANAGER, "manager"), (TRAINEE, "reader")):
            connection.execute(v1.users.insert().values(user_id=userId, title="chief", years_imaging=20, years_neuroimaging=12, active=True,
                                                        reader_qualified=False, created_at=now, created_by=MANAGER))
            connection.execute(v1.userRoles.insert().values(user_id=userId, role=role, granted_by=MANAGER, granted_at=now))
        connection.execute(v1.cases.insert().values(
            case_id="sub-01_ses-01", subject="01", session="01", relative_folder="sub-01/ses-01", state=states.AWAITING_READS, revision=1,
            training=True, reference_mask_path=str(reference.resolve()), reference_sha256=sha256File(reference), registered_at=now, updated_at=now))
        assert schema.storedVersion(connection) == 1
    engine.dispose()
    store = openStore(url, root)
    try:
        with store._engine.begin() as connection:
            assert schema.storedVersion(connection) == schema.SCHEMA_VERSION
            inspector = inspect(connection)
            for table in schema.tables().metadata.sorted_tables:
                assert {column["name"] for column in inspector.get_columns(table.name)} == set(table.columns.keys())
            assert connection.execute(select(schema.tables().cases.c.lesion_size_class)).scalar() is None
        report = store.trainingReport(MANAGER, TRAINEE)
        assert report["unlabelled_trial_cases"] == ["sub-01_ses-01"] and report["bar"]["min_size_classes"] == 2
        assert store.setTrialLabels(MANAGER, "sub-01_ses-01")["lesion_size_class"] == "small"
        claim = store.claimNext(TRAINEE, "reader")
        assert claim["case_id"] == "sub-01_ses-01" and claim["kind"] == states.SLOT_TRIAL
        assert store.submitRead(TRAINEE, "sub-01_ses-01", box(slices))["score"]["dice"] == 1.0
    finally:
        store.close()


def test_command_line_training(store, capsys, tmp_path):
    from AISCommonLib.cli.workflow import main

    def run(*arguments):
        code = main(["workflow", *arguments, "--db", store.url])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    code, out, _ = run("next", "--user", TRAINEE, "--role", "reader", "--json")
    claim = json.loads(out)
    assert code == 0 and claim["kind"] == "trial" and claim["training"] is True
    mask = writeMask(box(TRIALS[claim["case_id"]][0]), tmp_path / "read.nii.gz")
    code, out, _ = run("submit", "--user", TRAINEE, claim["case_id"], str(mask), "--likert", "all=4")
    assert code == 0 and "Trial score: Dice 1" in out
    code, out, _ = run("training", "report", "--user", MANAGER, "--trainee", TRAINEE, "--json")
    report = json.loads(out)
    assert code == 0 and report["scores"][0]["case_id"] == claim["case_id"] and report["evaluation"]["cases"] == 1
    code, out, _ = run("training", "report", "--user", MANAGER, "--trainee", TRAINEE)
    assert code == 0 and "in training" in out and "1 of 5 trial cases scored" in out
    code, _, err = run("training", "report", "--user", OTHER_TRAINEE, "--trainee", TRAINEE)
    assert code == 2 and "own training report" in err and "Traceback" not in err
    code, out, _ = run("training", "reference", "--user", TRAINEE, "--case", claim["case_id"])
    assert code == 0 and out.strip() == str(store.references[claim["case_id"]].resolve())
    code, _, err = run("training", "bar", "--user", MANAGER, "--min-cases", "3", "--reason", "fewer")
    assert code == 2 and "at least 5" in err
    code, out, _ = run("training", "bar", "--user", MANAGER, "--min-cases", "6", "--max-median-minutes", "20", "--reason", "site rule", "--json")
    assert code == 0 and json.loads(out)["min_cases"] == 6 and json.loads(out)["max_median_minutes"] == 20
    code, _, err = run("training", "qualify", "--user", MANAGER, "--trainee", TRAINEE, "--reason", " ")
    assert code == 2 and "needs a reason" in err
    code, out, _ = run("training", "qualify", "--user", MANAGER, "--trainee", TRAINEE, "--reason", "experienced elsewhere")
    assert code == 0 and "qualified for real cases" in out
    code, out, _ = run("next", "--user", TRAINEE, "--role", "reader", "--json")
    assert json.loads(out)["case_id"] == REAL_CASE
    code, out, _ = run("training", "label", "--user", MANAGER, "--case", "sub-02_ses-01", "--location", "right_mca", "--json")
    assert code == 0 and json.loads(out)["lesion_location"] == "right_mca"


def test_training_rules_without_a_database():
    assert [people.sizeClassForVolume(volume) for volume in (0.01, 1.49, 1.5, 14.9, 15.0, 200.0)] == ["small", "small", "medium", "medium", "large", "large"]
    assert people.octantLabel((-3.0, 2.0, 0.0)) == "LAS" and people.octantLabel((1.0, -1.0, -1.0)) == "RPI"
    bar = people.validateTrainingBar({"required": True})
    assert bar["min_cases"] == 5 and bar["min_mean_dice"] == 0.7 and bar["max_median_minutes"] is None
    with pytest.raises(InputError, match="at least 5"):
        people.validateTrainingBar({"min_cases": 4})
    score = {"dice": 0.9, "hd95_mm": 2.0, "lesion_f1": 1.0, "missed_lesions": 0, "duration_seconds": 600.0, "lesion_location": "LPI"}
    sameClass = [{**score, "lesion_size_class": "small", "lesion_location": f"L{index}"} for index in range(5)]
    evaluation = people.evaluateTraining(sameClass, bar)
    assert not evaluation["met"] and evaluation["shortfalls"] == ["1 lesion size class(es) covered (small), 2 needed"]
    mixed = [{**entry, "lesion_size_class": size} for entry, size in zip(sameClass, ("small", "large", "small", "medium", "small"))]
    evaluation = people.evaluateTraining(mixed, bar)
    assert evaluation["met"] and evaluation["size_classes"] == ["small", "medium", "large"] and evaluation["median_minutes"] == 10.0
    assert not people.evaluateTraining(mixed, {**bar, "max_median_minutes": 5})["met"]
    ranked = people.rankTrialCases([
        {"id": 1, "lesion_size_class": "small", "lesion_location": "LPI", "taken": 0},
        {"id": 2, "lesion_size_class": None, "lesion_location": None, "taken": 0},
        {"id": 3, "lesion_size_class": "large", "lesion_location": "LPI", "taken": 0},
        {"id": 4, "lesion_size_class": "large", "lesion_location": "RAS", "taken": 5},
    ], {"small"}, {"LPI"})
    assert [case["id"] for case in ranked] == [4, 3, 1, 2]


def test_training_is_on_for_new_readers_unless_switched_off(tmp_path):
    """A workflow made without a training setting puts a new reader on trial cases, never on real ones."""
    from AISCommonLib.workflow.people import DEFAULT_TRAINING, Qualification

    assert DEFAULT_TRAINING["required"] is True
    root = makeDataset(tmp_path / "bids", 1)
    with openStore(databaseUrl("sqlite", tmp_path), root) as store:
        store.initialise(root, MANAGER, Qualification("chief", 20, 12))
        store.addUser(MANAGER, TRAINEE, Qualification("resident", 6, 3))
        store.grantRole(MANAGER, TRAINEE, "reader")
        store.registerCases(MANAGER)
        assert store.trainingReport(TRAINEE, TRAINEE)["in_training"] is True
        assert store.claimNext(TRAINEE, "reader") is None  # the real case is not for a trainee


def test_the_command_line_tells_a_trainee_without_trial_cases_what_to_do(tmp_path, capsys):
    from AISCommonLib.cli.workflow import main

    root = makeDataset(tmp_path / "bids", 1)
    database = ["--db", databaseUrl("sqlite", tmp_path), "--root", str(root)]
    assert main(["workflow", "init", "--user", MANAGER, *database, "--title", "chief", "--years-imaging", "20", "--years-neuroimaging", "12"]) == 0
    assert main(["workflow", "users", "--user", MANAGER, *database, "--add", TRAINEE, "--title", "resident", "--years-imaging", "6",
                 "--years-neuroimaging", "3", "--grant", TRAINEE, "reader"]) == 0
    capsys.readouterr()
    assert main(["workflow", "next", "--user", TRAINEE, *database, "--role", "reader"]) == 0
    assert "in reader training and no trial case is open" in capsys.readouterr().out


def test_a_reader_with_no_trials_is_qualified_only_by_a_recorded_override(store):
    with unchanged(store, store.root), pytest.raises(PermissionDeniedError, match="needs a reason"):
        store.qualifyReader(MANAGER, OTHER_TRAINEE, "")
    assert store.claimNext(OTHER_TRAINEE, "reader")["kind"] == states.SLOT_TRIAL
    result = store.qualifyReader(MANAGER, OTHER_TRAINEE, "board-certified neuroradiologist, 12 years")
    assert result["shortfalls"][:2] == ["0 of 5 trial cases scored", "no trial case scored yet"]
    report = store.trainingReport(MANAGER, OTHER_TRAINEE)
    assert report["qualified"] and report["override_reason"] == "board-certified neuroradiologist, 12 years"
    assert report["evaluation"]["cases"] == 0 and report["qualified_by"] == MANAGER


def test_the_training_panel_shows_each_trial_score_against_the_reference(store):
    """The module's reader connection submits trial reads; the panel's feedback compares each with the bar."""
    from AISAnnotatorLib.readerwork import ReaderWork
    from AISAnnotatorLib.trainingfeedback import feedbackText, trialFeedback

    work = ReaderWork()
    try:
        headlines, feedback = [], None
        for good in (True, False, True, True, True):
            claim, case = work.claimNext(TRAINEE, store.url, str(store.root))
            slices = TRIALS[claim["case_id"]][0]
            with pytest.raises(InputError, match="not scored"):
                work.submit(claim["case_id"], box(slices), {"dwi": 4}, {}, [], 60.0, None, [])
            result = work.submit(claim["case_id"], box(slices) if good else poorRead(slices), {"dwi": 4, "adc": 4, "flair": 3}, {}, [], 60.0, None, [])
            feedback = work.trialFeedback(TRAINEE, result, store.url, str(store.root))
            headlines.append(feedback.headline)
            assert feedback.caseId == claim["case_id"] and work.trialReference(TRAINEE, claim["case_id"], store.url, str(store.root)).is_file()
        assert headlines[0].startswith(f"Trial case sub-01_ses-01: Dice 1.000 against the reference. Still in training ({len(TRIALS) - 1} trial cases")
        first = trialFeedback({"case_id": "sub-02_ses-01", "score": None}, store.trainingReport(TRAINEE, TRAINEE))
        assert "scored when a client with the agreement engine runs" in first.headline
        rows = {row.measure: row for row in feedback.rows}
        assert rows["trial cases scored"].value == "5" and rows["trial cases scored"].met is True
        assert rows["lesion sizes covered"].value == "small, medium, large" and rows["lesion sizes covered"].met is True
        assert rows["Dice (this case)"].met is True and rows["mean Dice"].met is True
        assert feedback.qualified and "You are qualified for real cases now." in feedback.headline and feedback.shortfalls == []
        text = feedbackText(feedback)
        assert "mean Dice" in text and "(met)" in text
        poor = trialFeedback({"case_id": "x", "score": {"dice": 0.3, "hd95_mm": 4.0, "lesion_f1": 1.0, "missed_lesions": 0, "duration_seconds": 90.0}},
                             {**store.trainingReport(MANAGER, OTHER_TRAINEE), "in_training": True})
        assert {row.measure: row.met for row in poor.rows}["Dice (this case)"] is False and "To qualify" in feedbackText(poor)
    finally:
        work.close()
