"""Load benchmark of the workflow store: 8 concurrent clients on SQLite and on PostgreSQL, in one run.

Usage: ``python Testing/benchmarks/bench_workflow.py [--clients 8] [--cases 40]``

For each backend it builds the same dataset (``--cases`` simple cases), staffs ``--clients`` readers and
reviewers, then runs two phases with ``--clients`` processes at once:

1. reading: each client claims (``next``) and submits reads until no read slot is left (each submission
   writes a versioned NIfTI mask and its sidecar, hashes them, and the second read of a case is compared);
2. review: each client claims and finalises reviews until every case is final (writes the final mask).

It reports transitions per second (audit events of claims, submissions, comparisons and reviews over the
phase's wall time) and the claim latency (median and 95th percentile of ``claimNext``), then the ratio
PostgreSQL / SQLite. SQLite runs with its default ``synchronous=FULL`` in WAL mode; the PostgreSQL server
is a throwaway local cluster with fsync on (durable settings), on the loopback interface.
"""

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent)]

import workflow_fixtures as fixtures  # noqa: E402

from AISCommonLib.workflow.people import Qualification  # noqa: E402


def client(url, root, userId, role, barrier, results):
    store = fixtures.openStore(url, Path(root))
    latencies, actions = [], 0
    barrier.wait()
    while True:
        start = time.perf_counter()
        claim = store.claimNext(userId, role)
        latencies.append(time.perf_counter() - start)
        if claim is None:
            break
        caseId = claim["case_id"]
        if role == "reader":
            masks = fixtures.readerMasks(Path(root), caseId, int(caseId[4:7]) % 2 == 0)
            store.submitRead(userId, caseId, masks[claim["slot_index"] - 1])
        else:
            regions = store.case(caseId)["comparison"]["discordant_regions"]
            store.review(userId, caseId, {region["id"]: "keep" for region in regions})
        actions += 1
    store.close()
    results.put((latencies, actions))


def runPhase(url, root, users, role):
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(len(users) + 1), context.Queue()
    processes = [context.Process(target=client, args=(url, str(root), userId, role, barrier, results)) for userId in users]
    for process in processes:
        process.start()
    barrier.wait()
    start = time.perf_counter()
    outcomes = [results.get(timeout=600) for _ in processes]
    elapsed = time.perf_counter() - start
    for process in processes:
        process.join()
    return elapsed, [latency for latencies, _ in outcomes for latency in latencies]


def benchmark(backend, url, root, clients, cases):
    store = fixtures.openStore(url, root)
    store.initialise(root, "M01", Qualification(*fixtures.QUALIFIED["manager"]), concordance={"min_extent_mm3": 0.0}, training={"required": False})
    readers = [f"R{index:02d}" for index in range(1, clients + 1)]
    reviewers = [f"V{index:02d}" for index in range(1, clients + 1)]
    for users, role in ((readers, "reader"), (reviewers, "reviewer")):
        for userId in users:
            store.addUser("M01", userId, Qualification(*fixtures.QUALIFIED[role]))
            store.grantRole("M01", userId, role)
    store.registerCases("M01")
    rows = []
    for phase, users, role, actions in (("reading", readers, "reader", ("claim", "submit", "compare")), ("review", reviewers, "reviewer", ("claim", "review"))):
        before = len(store.events("M01"))
        elapsed, latencies = runPhase(url, root, users, role)
        events = store.events("M01")[before:]
        transitions = sum(event["action"] in actions for event in events)
        latencies.sort()
        rows.append({
            "backend": backend, "phase": phase, "transitions": transitions, "seconds": elapsed,
            "per_second": transitions / elapsed, "claim_median_ms": 1000 * statistics.median(latencies),
            "claim_p95_ms": 1000 * latencies[int(0.95 * (len(latencies) - 1))],
        })
    states = {case["state"] for case in store.cases()}
    store.close()
    if states != {"final"}:
        raise SystemExit(f"{backend}: cases left in {states}; the benchmark did not complete.")
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--cases", type=int, default=40)
    args = parser.parse_args(argv)
    if args.cases > 999:
        parser.error("at most 999 cases")
    server = fixtures.PostgresServer(durable=True)
    server.start()
    try:
        with tempfile.TemporaryDirectory(prefix="ais-bench-wf-") as folder:
            template = Path(folder) / "template"
            for index in range(1, args.cases + 1):
                fixtures.writeSimpleCase(template, f"{index:03d}", "01")
            rows = []
            for backend in ("sqlite", "postgresql"):
                root = Path(folder) / backend / "bids"
                import shutil

                shutil.copytree(template, root)
                url = "sqlite:///" + str(Path(folder) / backend / "workflow.sqlite") if backend == "sqlite" else server.url("bench")
                rows += benchmark(backend, url, root, args.clients, args.cases)
    finally:
        server.stop()
    print(f"{args.clients} concurrent clients, {args.cases} cases (2 reads + 1 review each)")
    print(f"{'backend':<11}{'phase':<9}{'transitions':>12}{'seconds':>9}{'per s':>8}{'claim median ms':>17}{'claim p95 ms':>14}")
    for row in rows:
        print(f"{row['backend']:<11}{row['phase']:<9}{row['transitions']:>12}{row['seconds']:>9.2f}{row['per_second']:>8.1f}"
              f"{row['claim_median_ms']:>17.1f}{row['claim_p95_ms']:>14.1f}")
    for phase in ("reading", "review"):
        sqlite, postgres = (next(row for row in rows if row["backend"] == backend and row["phase"] == phase) for backend in ("sqlite", "postgresql"))
        print(f"{phase}: PostgreSQL / SQLite = {postgres['per_second'] / sqlite['per_second']:.2f}x transitions per second, "
              f"{postgres['claim_median_ms'] / sqlite['claim_median_ms']:.2f}x claim median, {postgres['claim_p95_ms'] / sqlite['claim_p95_ms']:.2f}x claim p95")
    return 0


if __name__ == "__main__":
    sys.exit(main())
