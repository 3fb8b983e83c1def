"""Team mode keeps sealed reads in the database: the other reader of a case cannot take the first read's bytes out,
not even from a hand-written SQL session under their own login, until both reads are in; nothing of a read is a file
under the dataset before its case is final; the whole path, verification and export work from the database copies,
and a changed database copy is caught."""

import hashlib
import stat

import numpy as np
import psycopg
import pytest
from test_team_mode import Team, readBoth, refused
from workflow_fixtures import (
    ARBITER,
    MANAGER,
    PASSWORD,
    databaseUrl,
    makeDataset,
    openStore,
    postgresServer,
    readerMasks,
    replaceReadBytes,
    rotationAffine,
    saveNifti,
    schemaOf,
    teamDatabase,
)

from AISCommonLib.core.atomicio import sha256File
from AISCommonLib.core.image import loadVolume
from AISCommonLib.workflow.errors import BlindingError, WorkflowError
from AISCommonLib.workflow.sealedreads import EXPORT_FOLDER, SEALED_FOLDER, SEALED_RECORDED_FOLDER

CASE = "sub-01_ses-01"
CONTENT = "SELECT content FROM read_files WHERE path = %s"


@pytest.fixture
def team(tmp_path):
    root = makeDataset(tmp_path / "bids", 1)
    team = Team(root, databaseUrl("postgresql", tmp_path))
    yield team
    team.close()


def submit(team, reader, mask, case=CASE):
    store = team.store(reader)
    assert store.claimNext(reader, "reader")["case_id"] == case
    return store.submitRead(reader, case, mask)


def sidecarHash(team, readId) -> str:
    return team.sql(MANAGER).execute("SELECT sidecar_sha256 FROM reads WHERE id = %s", (readId,)).fetchone()[0]


def filesHashed(root) -> set[str]:
    return {sha256File(path) for path in root.rglob("*") if path.is_file()}


def test_the_partner_cannot_take_the_first_read_out_of_the_database_before_both_are_in(team):
    masks = readerMasks(team.root, CASE, concordant=False)
    first = submit(team, "R01", masks[0])
    assert first["mask_path"].startswith(SEALED_RECORDED_FOLDER + "/")
    partner = team.store("R02")
    assert partner.claimNext("R02", "reader")["case_id"] == CASE

    # Nothing of the read is a file under the dataset: no sealed folder, no file with the read's bytes.
    assert not (team.root / "derivatives" / "lesions" / SEALED_FOLDER).exists()
    assert not {first["sha256"], sidecarHash(team, first["read_id"])} & filesHashed(team.root)

    # The partner, logged in as themselves with psql: no row, whatever they ask.
    sql = team.sql("R02")
    assert sql.execute(CONTENT, (first["mask_path"],)).fetchall() == []
    assert sql.execute("SELECT count(*) FROM read_files").fetchone() == (0,)
    # Nor may they forge, change or remove a copy.
    row = (first["mask_path"] + "x", CASE, "R02", hashlib.sha256(b"forged").hexdigest(), b"forged", "2026-01-01T00:00:00+00:00")
    assert "row-level security" in refused(sql, "INSERT INTO read_files VALUES (%s, %s, %s, %s, %s, %s)", row)
    for statement in ("UPDATE read_files SET content = 'x'", "DELETE FROM read_files", "TRUNCATE read_files"):
        assert "permission denied" in refused(sql, statement)
    # The store refuses first; the database refuses even when the store's own check is skipped.
    with pytest.raises(BlindingError):
        partner.readMaskPath("R02", first["read_id"])
    with pytest.raises(BlindingError, match="may not see it yet"):
        partner.localReadFile(first["mask_path"])
    # Neither does a reviewer before the case reaches them, nor a manager who reads the case.
    assert team.sql("V01").execute(CONTENT, (first["mask_path"],)).fetchall() == []
    manager = team.store(MANAGER)
    manager.grantRole(MANAGER, "R02", "manager", overrideReason="test: a reading manager")
    assert sql.execute(CONTENT, (first["mask_path"],)).fetchall() == []
    # Its author and a manager who reads nothing of the case do see it.
    own = team.sql("R01").execute(CONTENT, (first["mask_path"],)).fetchone()[0]
    assert hashlib.sha256(own).hexdigest() == first["sha256"]
    assert team.sql(MANAGER).execute(CONTENT, (first["mask_path"],)).fetchone()[0] == own

    # Both reads in: the partner may now take the first read out, and it is the read that was recorded.
    path = saveNifti(masks[1].transpose(2, 1, 0), rotationAffine(), team.root.parent / "R02.nii.gz", np.uint8)
    partner.submitRead("R02", CASE, path)
    content = sql.execute(CONTENT, (first["mask_path"],)).fetchone()[0]
    assert hashlib.sha256(content).hexdigest() == first["sha256"]
    assert np.array_equal(loadVolume(partner.readMaskPath("R02", first["read_id"])).array.astype(bool), masks[0])
    assert manager.verify(userId=MANAGER)["ok"]


def test_the_whole_path_runs_on_the_database_copies_and_publishes_at_final(team):
    readBoth(team)
    reviewer = team.store("V01")
    assert reviewer.claimNext("V01", "reviewer")["case_id"] == CASE
    reviewer.escalate("V01", CASE, "hard case")
    arbiter = team.store(ARBITER)
    arbiter.claimNext(ARBITER, "arbiter")
    private = arbiter._privateFolder()
    notes = arbiter.readRecords(ARBITER, CASE)  # the sidecars, from the database
    assert len(notes) == 2 and stat.S_IMODE(private.stat().st_mode) == 0o700
    assert arbiter.arbitrate(ARBITER, CASE, {}, defaultDecision="keep")["state"] == "final"
    assert any(private.iterdir())
    arbiter.close()
    assert not private.exists()  # the private copies go with the store

    manager = team.store(MANAGER)
    reads = manager.readsVisibleTo(MANAGER, CASE)
    folder = team.root / "derivatives" / "lesions" / "sub-01" / "ses-01"
    published = {path.name.split("_desc-")[1].split("_")[0]: sha256File(path) for path in folder.glob("*_desc-*_lesionmask.nii.gz")}
    assert published == {read["user_id"]: read["sha256"] for read in reads}
    assert not (team.root / "derivatives" / "lesions" / SEALED_FOLDER).exists()
    report = manager.verify(userId=MANAGER)
    assert report["ok"]
    sealed = [row for row in report["files"] if row["path"].startswith(SEALED_RECORDED_FOLDER)]
    assert len(sealed) == 4 and all(row["status"] == "ok" for row in sealed)

    written = manager.export(MANAGER, team.root.parent / "export")
    exported = {path.name: sha256File(path) for path in written if path.parent.name == EXPORT_FOLDER}
    assert {name for name in exported if name.endswith(".nii.gz")} == {read["mask_path"].rsplit("/", 1)[1] for read in reads}
    assert set(exported.values()) >= {read["sha256"] for read in reads}


def test_a_changed_database_copy_is_caught(team):
    readBoth(team)
    with openStore(team.url, team.root) as owner:  # the owner (a superuser here) could change anything
        read = owner.readsVisibleTo(MANAGER, CASE)[0]
        replaceReadBytes(owner, read["mask_path"], b"not the read")
    manager = team.store(MANAGER)
    report = manager.verify(userId=MANAGER)
    assert not report["ok"]
    assert [row["path"] for row in report["files"] if row["status"] != "ok"] == [read["mask_path"]]
    changed = next(row for row in report["files"] if row["path"] == read["mask_path"])
    assert changed["actual"] == hashlib.sha256(b"not the read").hexdigest() and changed["expected"] == [read["sha256"]]
    with pytest.raises(WorkflowError, match="changed outside the workflow"):
        manager.readMaskPath(MANAGER, read["read_id"])


def test_a_manager_who_reads_the_case_still_verifies_every_copy(team):
    """The database hashes the copies this login may not read (never handing out their bytes)."""
    manager = team.store(MANAGER)
    manager.grantRole(MANAGER, "R02", "manager", overrideReason="test: a reading manager")
    masks = readerMasks(team.root, CASE, concordant=False)
    first = submit(team, "R01", masks[0])
    reading = team.store("R02")
    reading.claimNext("R02", "reader")
    report = reading.verify(userId="R02")
    assert report["ok"] and {row["path"]: row["actual"] for row in report["files"]}[first["mask_path"]] == first["sha256"]
    with pytest.raises(BlindingError):
        reading.localReadFile(first["mask_path"])
    assert reading.export("R02", team.root.parent / "export") and not (team.root.parent / "export" / EXPORT_FOLDER).exists()


def test_a_read_sealed_on_disk_before_the_database_kept_them_still_loads(team):
    """Reads sealed as files before schema version 7: no database copy, the file is used and verified."""
    readBoth(team)
    with openStore(team.url, team.root) as owner:
        read = owner.readsVisibleTo(MANAGER, CASE)[0]
        content = owner.localReadFile(read["mask_path"]).read_bytes()
        with owner._engine.begin() as connection:
            connection.exec_driver_sql("DELETE FROM read_files WHERE path = %(path)s", {"path": read["mask_path"]})
        legacy = owner.absolutePath(read["mask_path"])
        legacy.parent.mkdir(mode=0o700, parents=True)
        legacy.write_bytes(content)
    manager = team.store(MANAGER)
    assert manager.readMaskPath(MANAGER, read["read_id"]) == legacy
    assert manager.verify(userId=MANAGER)["ok"]


def test_a_trainee_sees_another_trainees_trial_read_only_after_their_own(tmp_path):
    root = makeDataset(tmp_path / "bids", 1)
    url = databaseUrl("postgresql", tmp_path)
    team = teamDatabase(root, url, training=True)
    reference = saveNifti(readerMasks(root, CASE)[0].transpose(2, 1, 0), rotationAffine(), tmp_path / "reference.nii.gz", np.uint8)
    with openStore(team["urls"][MANAGER], root) as manager:
        manager.registerCases(MANAGER, training=True, referenceMasks={CASE: reference})
    reads = {}
    for trainee in ("R01", "R02"):
        with openStore(team["urls"][trainee], root) as store:
            assert store.claimNext(trainee, "reader")["case_id"] == CASE
            if trainee == "R02":  # before submitting, R02 gets nothing of R01's trial read
                with psycopg.connect(host="127.0.0.1", port=postgresServer().port, dbname="postgres", user=team["logins"][trainee],
                                     password=PASSWORD, options=f"-csearch_path={schemaOf(url)}", autocommit=True) as sql:
                    assert sql.execute(CONTENT, (reads["R01"],)).fetchall() == []
                with pytest.raises(BlindingError):
                    store.localReadFile(reads["R01"])
            reads[trainee] = store.submitRead(trainee, CASE, readerMasks(root, CASE)[1])["mask_path"]
    with openStore(team["urls"]["R02"], root) as store:
        assert store.localReadFile(reads["R01"]).is_file()
    with openStore(team["urls"][MANAGER], root) as manager:
        assert manager.verify(userId=MANAGER)["ok"]
