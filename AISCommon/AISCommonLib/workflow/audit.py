"""The audit trail, re-hashing of recorded files, and export.

A part of :class:`~AISCommonLib.workflow.store.WorkflowStore`; it relies on the plumbing of
:class:`~AISCommonLib.workflow.storebase.StoreBase`.
"""

import csv
import io
import json
from pathlib import Path

from ..core.atomicio import sha256File, writeTextAtomic
from . import chain, pgsecurity, schema, states
from .errors import WorkflowError


class AuditMixin:
    """The audit trail, re-hashing of recorded files, and export."""

    def events(self, userId: str, caseId: str | None = None) -> list[dict]:
        """The audit trail, oldest first: a manager's is whole; anyone else sees the events of cases they hold or held a
        slot of and the events about themselves, with the files of other readers' submissions hidden while blinded and
        the other reader of their case never named.

        Trial cases: the reference mask (register and score events) is hidden from a trainee until they
        submitted their read; training scores and qualifications are shown to managers and the reader concerned.

        :raises UnknownUserError: unknown user.
        """
        from sqlalchemy import select

        t = schema.tables()

        def run(connection):
            user = self._user(connection, userId)
            query = select(t.events).order_by(t.events.c.id)
            if caseId is not None:
                query = query.where(t.events.c.case_id == caseId)
            rows = [dict(row) for row in connection.execute(query).mappings()]
            visible: dict[str, set] = {}
            references: dict[str, bool] = {}
            trialCases = dict(connection.execute(select(t.cases.c.case_id, t.cases.c.reference_mask_path).where(t.cases.c.training.is_(True))).all())
            manager = states.ROLE_MANAGER in user["roles"]
            partners = self._otherReaders(connection, userId) if not manager else {}
            mine = None if manager else set(connection.execute(select(t.slots.c.case_id).where(t.slots.c.user_id == userId)).scalars())
            result = []
            for row in rows:
                if mine is not None and not _concerns(row, userId, mine):
                    continue  # need to know: the staff list and other cases would name the other reader
                # The payload (every record's rows) is for verify; it would show a blinded read's path and hash.
                row.pop("payload", None)
                row["files"] = json.loads(row["files"])
                others = partners.get(row["case_id"], set())
                if others:  # a reader never learns who the other reader of their case is
                    for other in others:
                        row["note"] = (row["note"] or "").replace(other, "another reader") or None
                    if row["user_id"] in others:
                        row["user_id"] = "another reader"
                if row["action"] in (states.ACTION_TRAINING_SCORE, states.ACTION_QUALIFY) and not manager:
                    if json.loads(row["note"] or "{}").get("user") != userId:
                        row["files"], row["note"] = {}, "another reader's training: managers only"
                        result.append(row)
                        continue
                if row["case_id"] in trialCases and row["action"] in (states.ACTION_REGISTER, states.ACTION_TRAINING_SCORE):
                    if row["case_id"] not in references:
                        references[row["case_id"]] = self._maySeeReference(connection, user, {"case_id": row["case_id"]})
                    if not references[row["case_id"]]:
                        # The reference mask stays hidden until the trainee submitted; the source images do not.
                        row["files"] = {path: digest for path, digest in row["files"].items() if path != trialCases[row["case_id"]]}
                if row["action"] == states.ACTION_SUBMIT and row["user_id"] != userId:
                    if row["case_id"] not in visible:
                        visible[row["case_id"]] = {read["mask_path"] for read in self._visibleReads(connection, user, row["case_id"])}
                    if not set(row["files"]) & visible[row["case_id"]]:
                        row["files"] = {}
                        row["note"] = ("hidden until you submit your own read of this trial case" if row["case_id"] in trialCases
                                       else "blinded until both reads are in")
                result.append(row)
            return result

        return self._read(run)

    def _otherReaders(self, connection, userId: str) -> dict[str, set]:
        """Per case that ``userId`` reads (or read), the IDs of the other readers of it (never shown to them)."""
        from sqlalchemy import select

        t = schema.tables()
        readKinds = (states.SLOT_READ, states.SLOT_TRIAL)
        mine = set(connection.execute(select(t.slots.c.case_id).where(t.slots.c.user_id == userId, t.slots.c.kind.in_(readKinds))).scalars())
        others: dict[str, set] = {}
        if mine:
            query = select(t.slots.c.case_id, t.slots.c.user_id).where(t.slots.c.case_id.in_(mine), t.slots.c.kind.in_(readKinds),
                                                                      t.slots.c.user_id.is_not(None), t.slots.c.user_id != userId)
            for caseId, other in connection.execute(query).all():
                others.setdefault(caseId, set()).add(other)
        return others

    def recordedFiles(self, caseId: str | None = None) -> dict[str, set]:
        """Every file path the store recorded, with every SHA-256 recorded for it.

        :param caseId: only what the events, reads and row of this case record (an index lookup instead of reading the
            whole event log).
        """
        from sqlalchemy import select

        t = schema.tables()

        def run(connection):
            recorded: dict[str, set] = {}
            events, reads, cases = select(t.events.c.files), select(t.reads), select(
                t.cases.c.final_mask_path, t.cases.c.final_sha256, t.cases.c.reference_mask_path, t.cases.c.reference_sha256)
            if caseId is not None:
                events, reads, cases = (events.where(t.events.c.case_id == caseId), reads.where(t.reads.c.case_id == caseId),
                                        cases.where(t.cases.c.case_id == caseId))
            for files in connection.execute(events).scalars():
                for path, digest in json.loads(files).items():
                    recorded.setdefault(path, set()).add(digest)
            for row in connection.execute(reads).mappings():
                recorded.setdefault(row["mask_path"], set()).add(row["sha256"])
                recorded.setdefault(row["sidecar_path"], set()).add(row["sidecar_sha256"])
            for row in connection.execute(cases):
                for path, digest in ((row[0], row[1]), (row[2], row[3])):
                    if path:
                        recorded.setdefault(path, set()).add(digest)
            return recorded

        return self._read(run)

    def signChainHead(self, userId: str, privateKeyPath) -> dict:
        """Sign the verified chain head with a manager's private key and keep the signature in the anchor file.

        :return: the anchor entry (event, hash, key id, signature).
        :raises PermissionDeniedError: not a manager.
        :raises WorkflowError: the trail does not verify (a broken trail is never signed).
        """
        from .signing import signHead

        self._read(lambda connection: self._user(connection, userId, (states.ROLE_MANAGER,)))
        report = self.verify()
        if report["chain"]:
            raise WorkflowError(f"The audit trail does not verify ({report['chain'][0]['message']}); it is not signed.")
        return signHead(self.datasetRoot, report["head"], privateKeyPath)

    def verify(self, progress=None, publicKeyPath=None, userId: str | None = None) -> dict:
        """Check the whole audit trail: the hash chain and the records it covers, the anchor kept outside the
        database, the log's append-only guards, and every recorded file re-hashed (in team mode the sealed reads'
        database copies too, see :meth:`_databaseCopyDigests`).

        :param progress: optional ``(fraction, message)`` callable.
        :param publicKeyPath: also check the manager's signatures in the anchor file with this public key.
        :param userId: who asks; when given, only a manager may (the report lists every read's file).
        :return: ``{"ok", "chain": [problem dicts], "head": {"event", "hash", "events"}, "files": [rows]}``; a file row
            has ``path``, ``status`` (``ok``, ``missing``, ``changed``), ``expected``, ``actual``.
        """
        if userId is not None:  # the command line asks as a person: the audit is a manager's (it lists every read)
            self._read(lambda connection: self._user(connection, userId, (states.ROLE_MANAGER,)))
        anchors = chain.readAnchors(self.datasetRoot)

        def check(connection):
            problems, head = chain.verifyChain(connection, anchors)
            problems += chain.guardProblems(connection)
            if connection.dialect.name == "postgresql":  # team mode's roles, row-level security and rule triggers
                problems += [chain.ChainProblem(None, "guard-missing", sentence) for sentence in pgsecurity.guardProblems(connection)]
            return problems, head

        if progress:
            progress(0.0, "Checking the audit trail's hash chain")
        problems, head = self._read(check)
        if publicKeyPath is not None:
            from .signing import checkSignatures

            problems.extend(checkSignatures(anchors, publicKeyPath))
        if anchors is None and head["events"]:
            problems.append(chain.ChainProblem(None, "no-anchor", f"The anchor file {chain.anchorPath(self.datasetRoot)} is missing: a rewrite "
                                               "of the whole log could not be told from the original."))
        rows = []
        recorded = sorted(self.recordedFiles().items())
        # Team mode: sealed reads are database rows, re-hashed like files (a read sealed on disk before schema 7 is a file).
        copies = self._databaseCopyDigests()
        for index, (path, digests) in enumerate(recorded):
            if progress:
                progress(index / max(len(recorded), 1), f"Hashing {path}")
            absolute = self.absolutePath(path)
            if path in copies:
                actual = copies[path]
            elif not absolute.is_file():
                rows.append({"path": path, "status": "missing", "expected": sorted(digests), "actual": None})
                continue
            else:
                actual = sha256File(absolute)
            rows.append({"path": path, "status": "ok" if actual in digests and len(digests) == 1 else "changed",
                         "expected": sorted(digests), "actual": actual})
        if progress:
            progress(1.0, "Verified")
        chainProblems = [problem.toDict() for problem in problems]
        return {"ok": not chainProblems and all(row["status"] == "ok" for row in rows), "chain": chainProblems, "head": head, "files": rows}

    def snapshot(self) -> dict[str, list[dict]]:
        """Every row of every table (JSON-ready), by table name in dependency order."""
        from sqlalchemy import select

        t = schema.tables()
        byName = {table.name: table for table in t.metadata.sorted_tables}

        def run(connection):
            result = {}
            for name in schema.TABLE_NAMES:
                table = byName[name]
                result[name] = [dict(row) for row in connection.execute(select(table).order_by(*table.primary_key.columns)).mappings()]
            return result

        return self._read(run)

    def export(self, userId: str, outDir, progress=None) -> list[Path]:
        """Write the whole state as ``workflow.json`` and one CSV per table into ``outDir`` (atomic writes), and the
        sealed reads (mask and sidecar) under their recorded file names in ``outDir/sealed-reads/``. Managers only.

        A manager who is also a reader of a case still waiting for its reads gets that case without the other
        read and without the event payloads that would show it (blinding holds for everyone who reads).

        :param progress: optional ``(fraction, message)`` callable.
        :return: the files written.
        :raises PermissionDeniedError: not a manager.
        """

        def step(fraction, message):
            if progress:
                progress(fraction, message)

        self._read(lambda connection: self._user(connection, userId, (states.ROLE_MANAGER,)))
        step(0.0, "Reading every table")
        data = self.snapshot()
        step(0.4, "Applying the blinding of reads in progress")
        blinded = self._read(lambda connection: {caseId for caseId in self._otherReaders(connection, userId)
                                                 if len(self._visibleReads(connection, self._user(connection, userId), caseId))
                                                 < len(self._readRows(connection, caseId))})
        data["reads"] = [row for row in data["reads"] if row["case_id"] not in blinded or row["user_id"] == userId]
        for row in data["events"]:
            if row["case_id"] in blinded:
                row["payload"] = None
                if row["action"] == states.ACTION_SUBMIT and row["user_id"] != userId:
                    row["files"], row["note"] = "{}", "blinded until both reads are in"
        outDir = Path(outDir)
        headId, headHash = self._read(chain.lastEvent)
        # The chain head travels with the export: a later rewrite of the database no longer matches it.
        document = {"schema_version": schema.SCHEMA_VERSION, "exported_at": schema.utcNow(), "backend": self.backend,
                    "chain_head": {"event": headId, "hash": headHash}, "tables": data}
        written = [outDir / "workflow.json"]
        step(0.6, "Writing workflow.json")
        writeTextAtomic(written[0], json.dumps(document, indent=2, default=str) + "\n")
        for name, rows in data.items():
            step(0.8, f"Writing {name}.csv")
            columns = [column.name for column in next(table for table in schema.tables().metadata.sorted_tables if table.name == name).columns]
            written.append(_writeCsv(outDir / f"{name}.csv", rows, columns))
        step(0.85, "Writing the readers' records")
        written += self._exportReadRecords(userId, data["reads"], outDir)
        step(0.9, "Writing the sealed reads")
        written += self._exportSealedReads(data["reads"], outDir)
        step(1.0, f"Exported {len(written)} files")
        return written

    def _exportReadRecords(self, userId: str, reads: list[dict], outDir: Path) -> list[Path]:
        """The readers' records (quality, notes, hints) beside the tables; of a case the manager read, only their own."""
        from ..core.readrecord import LIKERT_SEQUENCES

        ownCases = self._read(lambda connection: {caseId for caseId in {read["case_id"] for read in reads} if self._readsCase(connection, userId, caseId)})
        records = [{"case_id": read["case_id"], **self._readRecord(read)} for read in reads
                   if read["case_id"] not in ownCases or read["user_id"] == userId]
        quality = [{"case_id": record["case_id"], "read_id": record["read_id"], "reader": record["reader"],
                    **{f"likert_{key}": (record["quality"].get("likert") or {}).get(key) for key in LIKERT_SEQUENCES},
                    "artifacts": " ".join(record["quality"].get("artifacts") or []), "hints": len(record["hints"]),
                    "active_seconds": record["active_seconds"]} for record in records]
        notes = [{"case_id": record["case_id"], "read_id": record["read_id"], "reader": record["reader"], "label": note.get("label"),
                  "text": note.get("text"), **dict(zip(("r_mm", "a_mm", "s_mm"), note.get("ras") or (None,) * 3))}
                 for record in records for note in record["notes"]]
        written = [outDir / "read_records.json", outDir / "read_quality.csv", outDir / "read_notes.csv"]
        writeTextAtomic(written[0], json.dumps(records, indent=2, default=str) + "\n")
        qualityColumns = ["case_id", "read_id", "reader", *(f"likert_{key}" for key in LIKERT_SEQUENCES), "artifacts", "hints", "active_seconds"]
        _writeCsv(written[1], quality, qualityColumns)
        _writeCsv(written[2], notes, ["case_id", "read_id", "reader", "label", "text", "r_mm", "a_mm", "s_mm"])
        return written


def _writeCsv(path: Path, rows: list[dict], columns: list[str]) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    writeTextAtomic(path, buffer.getvalue())
    return path


def _concerns(event: dict, userId: str, cases: set) -> bool:
    """Whether a non-manager may see ``event``: theirs, about them, or of a case they hold or held a slot of."""
    if event["user_id"] == userId or event["case_id"] in cases:
        return True
    try:
        subject = json.loads(event["note"] or "{}")
    except ValueError:
        return False
    return isinstance(subject, dict) and subject.get("user") == userId
