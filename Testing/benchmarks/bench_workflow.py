"""Load and latency benchmark of the workflow store: concurrent clients on SQLite and on PostgreSQL, and a store of
10,000 registered cases, in one run.

Usage: ``python Testing/benchmarks/bench_workflow.py [--clients 8] [--cases 40] [--scale-cases 10000] [--scale-reads 25]
[--no-report] [--backends sqlite postgresql]``

What a reader or reviewer feels is the latency of one action, so every call is timed:

- ``next``: :meth:`claimNext` (for reviewers it first settles comparisons left pending);
- ``submit``: :meth:`submitRead`, split into its *bookkeeping* (database transactions, locks, audit event, the
  checks around them) and the *mask files* part (finding the case's images, reading the DWI grid, checking the
  mask, writing the NIfTI mask and its sidecar, hashing them) and the *comparison* of the second read with the
  first (the agreement engine). The split is measured by timing those steps inside each call;
- ``review``: :meth:`review`, split the same way (mask files: the final mask and its sidecar, the published
  copies of the reads, their hashes, the final mask built from the decisions).

Every client process first loads what a process loads once (its first comparison imports scipy: about 0.3 s on an
idle machine, more with eight processes doing it in the same second) and only then waits for the others to start
together; that first comparison is reported as ``cold start``, apart from the steady-state latencies.

Part 1, *load*: ``--cases`` tiny cases, ``--clients`` reader processes claim and submit until no read is left, then
``--clients`` reviewer processes claim and finalise until every case is final. Transitions per second and the
latency percentiles of each action.

Part 2, *scale*: a dataset of ``--scale-cases`` tiny cases (images hard-linked from one generated case; the DWI of
each case differs by one voxel so nothing keyed on file content can be shared between cases). A first batch of
``--clients`` x ``--scale-reads`` cases is registered and read twice (the review queue); then the rest is registered
(timed), ``--clients`` readers take ``--scale-reads`` new cases each while the store holds every case, and
``--clients`` reviewers finalise the review queue. Then the time of opening the store (with its recovery check),
``status`` (:meth:`cases`), ``verify`` (re-hashes every recorded file), ``export``, one reader's ``next`` once every
waiting case has one read taken (slots taken by a direct update at the very end: the second half of a project's
reading, when no case is left that nobody read) and, on SQLite, the acceptance report without pictures
(``--no-report`` skips it).

SQLite runs with its default ``synchronous=FULL`` in WAL mode; the PostgreSQL server is a throwaway local cluster
(``Testing/workflow_fixtures.py``) with fsync on (durable settings), on the loopback interface. Nothing is
written outside a temporary folder, which is removed at the end.
"""

import argparse
import contextlib
import functools
import gzip
import multiprocessing
import os
import shutil
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent)]

import workflow_fixtures as fixtures  # noqa: E402

from AISCommonLib.workflow import decisions as decisionsModule  # noqa: E402
from AISCommonLib.workflow import finalfiles, sealedreads, storebase  # noqa: E402
from AISCommonLib.workflow import reads as readsModule  # noqa: E402
from AISCommonLib.workflow.people import Qualification  # noqa: E402

PERCENTILES = (50, 95, 99)
#: Target of issue 16: 95th percentile of the claim and submit bookkeeping.
TARGET_P95_MS = 100.0


# ---------------------------------------------------------------------------------------------------
# Timing the parts of one call


class Parts:
    """Seconds spent in the mask-file steps and in the comparison during the current call (outermost step only)."""

    files = 0.0
    comparison = 0.0
    depth = 0

    @classmethod
    def reset(cls):
        cls.files = cls.comparison = 0.0


def timed(function, part):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        if Parts.depth:
            return function(*args, **kwargs)
        Parts.depth += 1
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            setattr(Parts, part, getattr(Parts, part) + time.perf_counter() - start)
            Parts.depth -= 1

    return wrapper


def instrument() -> None:
    """Time the mask-file steps and the comparison of submit and review (in this client process only)."""
    for name in ("_findCase", "_referenceGrid", "_maskOnGrid"):
        setattr(storebase.StoreBase, name, timed(getattr(storebase.StoreBase, name), "files"))
    storebase.StoreBase._compare = timed(storebase.StoreBase._compare, "comparison")
    for module, names in ((readsModule, ("writeReaderMask", "sha256File")),
                          (decisionsModule, ("writeMaskWithSidecar", "sha256File", "loadVolume")),
                          (sealedreads, ("stagePublication", "promoteAll")),
                          (finalfiles, ("promote",))):
        for name in names:
            setattr(module, name, timed(getattr(module, name), "files"))
    for name in ("finalFromDecisions", "describeOutcome"):
        setattr(decisionsModule.reviewrule, name, timed(getattr(decisionsModule.reviewrule, name), "files"))


def measure(records, action, call, *args, **kwargs):
    Parts.reset()
    start = time.perf_counter()
    result = call(*args, **kwargs)
    total = time.perf_counter() - start
    records.append({"action": action, "total": total, "files": Parts.files, "comparison": Parts.comparison,
                    "bookkeeping": total - Parts.files - Parts.comparison})
    return result


# ---------------------------------------------------------------------------------------------------
# Clients


def warmUp() -> float:
    """Load what a client loads once per process (the agreement engine imports scipy on its first comparison) and
    return the seconds that took: steady-state latencies are measured after it, the cold start is reported apart.
    Eight clients started in the same second all paying it at once would otherwise fill the first seconds of the run."""
    import numpy as np

    from AISCommonLib.core.agreement import AgreementParameters, compareMasks

    first, second = np.zeros((8, 8, 8), bool), np.zeros((8, 8, 8), bool)
    first[2:5, 2:5, 2:5], second[3:6, 2:5, 2:5] = True, True
    start = time.perf_counter()
    compareMasks(first, second, np.eye(4), AgreementParameters())
    return time.perf_counter() - start


def client(url, root, userId, role, barrier, results, limit):
    instrument()
    coldStart = warmUp()
    store = fixtures.openStore(url, Path(root))
    records, actions = [{"action": "cold start", "total": coldStart}], 0
    barrier.wait()
    try:
        while limit is None or actions < limit:
            claim = measure(records, "next", store.claimNext, userId, role)
            if claim is None:
                break
            caseId = claim["case_id"]
            if role == "reader":
                masks = fixtures.readerMasks(Path(root), caseId, int(caseId.split("-")[1][:5]) % 2 == 0)
                measure(records, "submit", store.submitRead, userId, caseId, masks[claim["slot_index"] - 1])
            else:
                regions = store.case(caseId)["comparison"]["discordant_regions"]
                measure(records, "review", store.review, userId, caseId, {region["id"]: "keep" for region in regions})
            actions += 1
    finally:
        store.close()
        results.put((records, actions))


def runPhase(url, root, users, role, limit=None):
    """Run one client process per user at once; :return: ``(wall seconds, records of every call)``."""
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(len(users) + 1), context.Queue()
    processes = [context.Process(target=client, args=(url, str(root), userId, role, barrier, results, limit)) for userId in users]
    for process in processes:
        process.start()
    barrier.wait()
    start = time.perf_counter()
    outcomes = [results.get(timeout=3600) for _ in processes]
    elapsed = time.perf_counter() - start
    for process in processes:
        process.join()
    return elapsed, [record for records, _ in outcomes for record in records]


def machineState() -> str:
    """UTC time, load average and processors, for the lines printed beside the numbers."""
    import datetime

    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, load average {load} (1, 5, 15 min), {os.cpu_count()} CPUs"


def percentiles(values) -> dict:
    if not values:
        return {p: float("nan") for p in PERCENTILES}
    if len(values) == 1:
        return {p: values[0] for p in PERCENTILES}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {p: cuts[p - 1] for p in PERCENTILES}


def latencyRows(label, backend, records) -> list[dict]:
    """One row per action and part: count and p50/p95/p99 in ms (``cold start``: a fresh client process's first
    comparison, imports included, timed before the clients start together)."""
    rows = []
    for action, parts in (("next", ("total",)), ("submit", ("total", "bookkeeping", "files", "comparison")),
                          ("review", ("total", "bookkeeping", "files", "comparison")), ("cold start", ("total",))):
        chosen = [record for record in records if record["action"] == action]
        if not chosen:
            continue
        for part in parts:
            values = [1000.0 * record[part] for record in chosen]
            if part == "comparison" and not any(values):
                continue
            rows.append({"set": label, "backend": backend, "action": action, "part": part, "count": len(values), **percentiles(values)})
    return rows


# ---------------------------------------------------------------------------------------------------
# Stores and datasets


def staffedStore(url, root, clients):
    store = fixtures.openStore(url, root)
    store.initialise(root, "M01", Qualification(*fixtures.QUALIFIED["manager"]), concordance={"min_extent_mm3": 0.0}, training={"required": False})
    readers = [f"R{index:02d}" for index in range(1, clients + 1)]
    reviewers = [f"V{index:02d}" for index in range(1, clients + 1)]
    for users, role in ((readers, "reader"), (reviewers, "reviewer")):
        for userId in users:
            store.addUser("M01", userId, Qualification(*fixtures.QUALIFIED[role]))
            store.grantRole("M01", userId, role)
    return store, readers, reviewers


def makeDataset(root: Path, count: int) -> Path:
    """``count`` tiny cases ``sub-00001 ... /ses-01``: every file hard-linked from one generated case, except the DWI,
    written per case with one background voxel changed (so each case's DWI has its own content and hash)."""
    template = root.parent / "template-case"
    fixtures.writeSimpleCase(template, "00000", "01")
    case = template / "sub-00000" / "ses-01"
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(template / "dataset_description.json", root / "dataset_description.json")
    dwiName = "sub-00000_ses-01_dwi.nii.gz"
    raw = bytearray(gzip.decompress((case / "dwi" / dwiName).read_bytes()))
    dataOffset = int(struct.unpack_from("<f", raw, 108)[0])
    files = [path for path in case.rglob("*") if path.is_file() and path.name != dwiName]
    for index in range(1, count + 1):
        label = f"{index:05d}"
        folder = root / f"sub-{label}" / "ses-01"
        for path in files:
            target = folder / path.relative_to(case).parent / path.name.replace("sub-00000", f"sub-{label}")
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(path, target)
        struct.pack_into("<f", raw, dataOffset, float(index) * 1e-3)  # first voxel: a corner of the background
        (folder / "dwi" / dwiName.replace("sub-00000", f"sub-{label}")).write_bytes(gzip.compress(bytes(raw), compresslevel=1))
    return root


def copyDataset(source: Path, target: Path) -> Path:
    """A copy of a fresh dataset for another backend: hard links (the workflow never changes a file in place)."""
    shutil.copytree(source, target, copy_function=os.link)
    return target


def timedCall(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - start, result


# ---------------------------------------------------------------------------------------------------
# Part 1: load


def loadBenchmark(backend, url, root, clients):
    store, readers, reviewers = staffedStore(url, root, clients)
    store.registerCases("M01")
    rows, latencies = [], []
    for phase, users, role, actions in (("reading", readers, "reader", ("claim", "submit", "compare")),
                                        ("review", reviewers, "reviewer", ("claim", "review"))):
        before = len(store.events("M01"))
        elapsed, records = runPhase(url, root, users, role)
        transitions = sum(event["action"] in actions for event in store.events("M01")[before:])
        rows.append({"backend": backend, "phase": phase, "transitions": transitions, "seconds": elapsed, "per_second": transitions / elapsed})
        latencies += records
    states = {case["state"] for case in store.cases()}
    store.close()
    if states != {"final"}:
        raise SystemExit(f"{backend}: cases left in {states}; the load benchmark did not complete.")
    return rows, latencyRows("load", backend, latencies)


# ---------------------------------------------------------------------------------------------------
# Part 2: scale


def scaleBenchmark(backend, url, root, clients, total, readsEach, report):
    from AISCommonLib.workflow.store import openStore

    store, readers, reviewers = staffedStore(url, root, clients)
    queue = min(clients * readsEach, total)
    labels = [f"{index:05d}" for index in range(1, total + 1)]
    store.registerCases("M01", participantLabels=labels[:queue])
    runPhase(url, root, readers, "reader")  # the review queue: both reads of the first batch (not timed)
    seconds = {}
    seconds["register"], registered = timedCall(store.registerCases, "M01")
    if len(registered) != total - queue:
        raise SystemExit(f"{backend}: registered {len(registered)} cases, expected {total - queue}.")
    records = []
    for users, role in ((readers, "reader"), (reviewers, "reviewer")):
        elapsed, phaseRecords = runPhase(url, root, users, role, limit=readsEach)
        records += phaseRecords
        seconds[f"{role} phase"] = elapsed
    seconds["open store"] = min(timedCall(lambda: openStore(url, root).close())[0] for _ in range(3))
    seconds["status"], cases = timedCall(store.cases)
    seconds["verify"], verified = timedCall(store.verify)
    if not verified["ok"]:
        raise SystemExit(f"{backend}: the audit trail of the scale run does not verify.")
    with tempfile.TemporaryDirectory(prefix="ais-bench-export-") as exportFolder:
        seconds["export"], _ = timedCall(store.export, "M01", exportFolder)
    seconds["next, all half-read"] = halfReadClaim(store, readers)
    store.close()
    if report:
        from AISCommonLib.report.report import writeReport

        with tempfile.TemporaryDirectory(prefix="ais-bench-report-") as reportFolder:
            seconds["report (no pictures)"], _ = timedCall(writeReport, root, Path(reportFolder) / "report.html", database=url, snapshots=False)
    counts = {}
    for case in cases:
        counts[case["state"]] = counts.get(case["state"], 0) + 1
    return latencyRows(f"{total} cases", backend, records), {"backend": backend, "cases": len(cases), "counts": counts, "seconds": seconds}


def halfReadClaim(store, readers, repeats: int = 20) -> float:
    """Median seconds of one reader's ``next`` once every waiting case has one read slot taken (the second half of a
    project's reading, when a claim finds no case nobody has read yet), one client. The slots are taken by a direct
    update of this throwaway database after everything else was measured (the audit trail no longer verifies after it);
    each claim is given back so that the next one searches the same queue.
    """
    from sqlalchemy import and_, exists, select

    from AISCommonLib.workflow import schema

    t = schema.tables()
    other = t.slots.alias("other")
    with store._engine.begin() as connection:
        connection.execute(t.slots.update().where(
            t.slots.c.kind == "read", t.slots.c.slot_index == 1, t.slots.c.status == "open",
            t.slots.c.case_id.in_(select(t.cases.c.case_id).where(t.cases.c.state == "awaiting_reads")),
            ~exists().where(and_(other.c.case_id == t.slots.c.case_id, other.c.kind == "read", other.c.status != "open"))
        ).values(user_id=readers[0], status="claimed", claimed_at=schema.utcNow()))
    times = []
    for _ in range(repeats):
        elapsed, claim = timedCall(store.claimNext, readers[-1], "reader")
        times.append(elapsed)
        store.releaseClaim(readers[-1], claim["case_id"], "benchmark")
    return statistics.median(times)


# ---------------------------------------------------------------------------------------------------
# Output


def printLatencies(rows) -> None:
    print(f"{'set':<13}{'backend':<11}{'action':<11}{'part':<13}{'calls':>6}" + "".join(f"{f'p{p} ms':>10}" for p in PERCENTILES))
    for row in rows:
        print(f"{row['set']:<13}{row['backend']:<11}{row['action']:<11}{row['part']:<13}{row['count']:>6}"
              + "".join(f"{row[p]:>10.1f}" for p in PERCENTILES))


def verdict(rows) -> list[str]:
    lines = []
    for row in rows:
        if (row["action"], row["part"]) in (("next", "total"), ("submit", "bookkeeping")):
            met = "meets" if row[95] < TARGET_P95_MS else "MISSES"
            lines.append(f"{row['set']}, {row['backend']}: {row['action']} {row['part']} p95 {row[95]:.1f} ms {met} the {TARGET_P95_MS:.0f} ms target")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--cases", type=int, default=40, help="cases of the load part (default 40)")
    parser.add_argument("--scale-cases", type=int, default=10000, help="cases of the scale part (default 10000; 0 skips it)")
    parser.add_argument("--scale-reads", type=int, default=25, help="scale part: reads (and reviews) per client (default 25)")
    parser.add_argument("--no-report", action="store_true", help="scale part: skip the acceptance report")
    parser.add_argument("--backends", nargs="+", choices=fixtures.BACKENDS, default=list(fixtures.BACKENDS))
    args = parser.parse_args(argv)
    if args.cases > 99999 or args.scale_cases > 99999:
        parser.error("at most 99999 cases")
    startedState = machineState()
    server = None
    if "postgresql" in args.backends:
        server = fixtures.PostgresServer(durable=True)
        server.start()
    load, latencies, scale = [], [], []
    try:
        with tempfile.TemporaryDirectory(prefix="ais-bench-wf-") as folder:
            folder = Path(folder)

            def url(backend, name):
                return "sqlite:///" + str(folder / name / "workflow.sqlite") if backend == "sqlite" else server.url(name.replace("-", "_"))

            template = makeDataset(folder / "load-template" / "bids", args.cases)
            for backend in args.backends:
                root = copyDataset(template, folder / f"load-{backend}" / "bids")
                rows, latencyRowsOfLoad = loadBenchmark(backend, url(backend, f"load-{backend}"), root, args.clients)
                load += rows
                latencies += latencyRowsOfLoad
            if args.scale_cases:
                started = time.perf_counter()
                template = makeDataset(folder / "scale-template" / "bids", args.scale_cases)
                print(f"(generated {args.scale_cases} tiny cases in {time.perf_counter() - started:.0f} s)", file=sys.stderr)
                for backend in args.backends:
                    root = copyDataset(template, folder / f"scale-{backend}" / "bids")
                    rows, summary = scaleBenchmark(backend, url(backend, f"scale-{backend}"), root, args.clients, args.scale_cases,
                                                   args.scale_reads, report=backend == "sqlite" and not args.no_report)
                    latencies += rows
                    scale.append(summary)
                    with contextlib.suppress(OSError):
                        shutil.rmtree(root.parent)
    finally:
        if server is not None:
            server.stop()
    print(f"started {startedState}\nended   {machineState()}")
    print(f"{args.clients} concurrent clients; load: {args.cases} cases (2 reads + 1 review each); durable settings")
    print(f"{'backend':<11}{'phase':<9}{'transitions':>12}{'seconds':>9}{'per s':>8}")
    for row in load:
        print(f"{row['backend']:<11}{row['phase']:<9}{row['transitions']:>12}{row['seconds']:>9.2f}{row['per_second']:>8.1f}")
    print()
    printLatencies(latencies)
    for summary in scale:
        print(f"\n{summary['backend']}, {summary['cases']} cases ({', '.join(f'{state} {count}' for state, count in sorted(summary['counts'].items()))}):")
        for name, value in summary["seconds"].items():
            print(f"  {name:<22}{value:>10.3f} s")
    print()
    print("\n".join(verdict(latencies)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
