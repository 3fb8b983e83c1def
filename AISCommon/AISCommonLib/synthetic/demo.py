"""``ais demo``: every step the project has, on a synthetic dataset, with what it measured.

Builds the phantom BIDS dataset, validates it, seeds every case (the seed becomes version 1 of both
simulated readers' masks), lets two simulated readers refine it the way people differ (one generous at
the boundary, one conservative who overlooks the smallest lesion), compares the two reads, and prints
where every result is. The phantom's ground truth makes the seed's quality measurable.
"""

import dataclasses
import json
import logging
import shutil
import time
from pathlib import Path

import numpy as np

from ..core.atomicio import writeJsonAtomic
from ..core.cases import discoverCases
from ..core.derivatives import writeReaderMask
from ..core.errors import InputError
from ..core.seeding import SeedParameters, seedLesion
from ..core.sequences import loadCase
from ..core.validate import validateDataset
from ..report.report import writeReport
from .scenarios import makeDemoDataset

logger = logging.getLogger(__name__)

#: A folder holding this file was made by the demo and may be replaced by the next demo run.
DEMO_MARKER = ".ais-demo"
READER_GENEROUS = "R01"
READER_CONSERVATIVE = "R02"


def prepareOutputFolder(outDir: Path) -> Path:
    """Create ``outDir``, or empty it when an earlier demo made it; never touch anyone else's folder.

    :raises InputError: ``outDir`` exists, is not empty and was not made by the demo.
    """
    if outDir.exists():
        if not outDir.is_dir() or (any(outDir.iterdir()) and not (outDir / DEMO_MARKER).exists()):
            raise InputError(f"'{outDir}' exists and was not made by 'ais demo'; choose another --out folder.")
        shutil.rmtree(outDir)
    outDir.mkdir(parents=True)
    (outDir / DEMO_MARKER).write_text("Made by 'ais demo'; the next demo run replaces this folder.\n", encoding="utf-8")
    return outDir


def dice(first: np.ndarray, second: np.ndarray) -> float:
    """Dice of two boolean masks; 1.0 when both are empty."""
    total = int(first.sum()) + int(second.sum())
    return 1.0 if total == 0 else 2.0 * int((first & second).sum()) / total


def _inPlaneShell(mask: np.ndarray, outward: bool) -> np.ndarray:
    """Voxels one step outside (or the outermost layer inside) ``mask`` within each slice (4-neighbourhood)."""
    neighbours = np.zeros_like(mask)
    for axis in (1, 2):
        for shift in (1, -1):
            neighbours |= np.roll(mask, shift, axis=axis)
    if outward:
        return neighbours & ~mask
    inside = np.ones_like(mask)
    for axis in (1, 2):
        for shift in (1, -1):
            inside &= np.roll(mask, shift, axis=axis)
    return mask & ~inside


def simulateReader(truth: np.ndarray, generous: bool, rng: np.random.Generator) -> np.ndarray:
    """A refined read: the reader starts from the seed and fixes the boundary on DWI, with a habit.

    The generous reader adds about half of the voxels just outside the lesion (slice by slice) and
    erases the seed's false fragments; the conservative one leaves out about a third of the lesion's outer layer and
    overlooks the smallest lesion when there are several. Realistic inter-reader Dice results (0.6-0.9).
    """
    import SimpleITK as sitk

    if generous:
        return truth | (_inPlaneShell(truth, True) & (rng.random(truth.shape) < 0.5))
    read = truth & ~(_inPlaneShell(truth, False) & (rng.random(truth.shape) < 0.35))
    labels = sitk.GetArrayFromImage(sitk.ConnectedComponent(sitk.GetImageFromArray(read.astype(np.uint8)), True))
    sizes = np.bincount(labels.ravel())[1:]
    if len(sizes) > 1:
        read[labels == int(np.argmin(sizes)) + 1] = False
    return read


def _shortScenario(description: str, width: int = 44) -> str:
    first = description.split(":")[0].split(";")[0].split(" (")[0]
    return first if len(first) <= width else first[: width - 3] + "..."


MANAGER, REVIEWER, ARBITER = "M01", "V01", "A01"
EXTENT_KEEP_FRACTION = 0.5
MISSED_LESION_KEEP_FRACTION = 0.2
#: Demo staff with the experience the consensus asks of each role (title, years imaging, years neuro).
STAFF = {
    MANAGER: ("chief", 25.0, 20.0, ()),
    READER_GENEROUS: ("attending", 8.0, 4.0, ("reader",)),
    READER_CONSERVATIVE: ("attending", 6.0, 3.0, ("reader",)),
    REVIEWER: ("associate_chief", 15.0, 10.0, ("reviewer",)),
    ARBITER: ("chief", 26.0, 18.0, ("arbiter",)),
}


def _openWorkflow(root: Path):
    """The demo's workflow database (SQLite in the derivatives), staffed and with every case registered."""
    from ..workflow.people import Qualification
    from ..workflow.store import openStore

    store = openStore(None, root, create=True)
    title, imaging, neuro, _ = STAFF[MANAGER]
    # The simulated readers are experienced: the demo runs without reader training (a site's choice, recorded).
    store.initialise(root, MANAGER, Qualification(title, imaging, neuro), training={"required": False})
    for userId, (title, imaging, neuro, roles) in STAFF.items():
        if userId != MANAGER:
            store.addUser(MANAGER, userId, Qualification(title, imaging, neuro))
        for role in roles:
            store.grantRole(MANAGER, userId, role)
    store.registerCases(MANAGER)
    return store


def _read(store, root: Path, phantoms: dict, parameters: SeedParameters, progress) -> dict:
    """Both simulated readers take their cases from the store, seed, refine and submit (or exclude)."""
    cases = {case.caseId: case for case in discoverCases(root)}
    seeds = {}
    claimed = 0
    for readerIndex, (reader, generous) in enumerate(((READER_GENEROUS, True), (READER_CONSERVATIVE, False))):
        while (claim := store.claimNext(reader, "reader")) is not None:
            caseId = claim["case_id"]
            if progress:
                progress(claimed / (2 * len(cases)), f"{reader} reads {caseId}")
            claimed += 1
            phantom = phantoms[caseId]
            if phantom.expectInvalid:  # the screening step of the consensus: severe motion takes it out
                store.exclude(reader, caseId, "motion_artifact", "Ghosting and blur on DWI; DWI misregistered to b0.")
                continue
            if caseId not in seeds:
                loaded = loadCase(cases[caseId])
                seeds[caseId] = (loaded, seedLesion(loaded, parameters))
            loaded, seed = seeds[caseId]
            writeReaderMask(root, cases[caseId], seed.mask, loaded.dwi, reader, "adc-threshold-seed", seed.summary)
            rng = np.random.default_rng([readerIndex, len(seeds)])
            refined = simulateReader(phantom.truthMask, generous, rng)
            store.submitRead(reader, caseId, refined, method="simulated-reader", parameters=_simulatedReadParameters(seed, generous, rng, set(cases[caseId].files)))
    return seeds


def _simulatedReadParameters(seed, generous: bool, rng: np.random.Generator, sequences: set) -> dict:
    """What the module would store with a read: Likert per sequence and criterion (the phantoms are good: 4-5), time, seed."""
    from ..core.readrecord import LIKERT_CRITERIA, SCORED_SEQUENCES, buildReadParameters

    likert = {key: {criterion: int(rng.integers(4, 6)) for criterion in LIKERT_CRITERIA} for key in SCORED_SEQUENCES if key in sequences}
    parameters = buildReadParameters(likert, {}, [], float(rng.uniform(180.0, 900.0)), seed.summary, sequences=sequences)
    return {**parameters, "habit": "generous" if generous else "conservative"}


def _truthDecisions(store, userId: str, caseId: str, truth: np.ndarray) -> dict:
    """What a careful senior decides: keep a boundary region when most of it is lesion, and a lesion one
    reader missed when a fair part of it is lesion (a generous outline of a small embolus is mostly rim)."""
    from ..core.agreement import AgreementParameters, compareFiles

    reads = store.readsVisibleTo(userId, caseId)
    # Every region, the small ones below the list's size limit too (region ids do not depend on that limit).
    every = compareFiles(*(store.readMaskPath(userId, read["read_id"]) for read in reads), AgreementParameters(minExtentMm3=0.0))
    labels = every.regionMap.labels
    cropTruth = truth[every.regionMap.cropSlices]
    decisions = {}
    for region in every.allRegions:
        lesionFraction = cropTruth[labels == region.regionId].mean()
        needed = MISSED_LESION_KEEP_FRACTION if region.regionType == "missed_lesion" else EXTENT_KEEP_FRACTION
        decisions[region.regionId] = "keep" if lesionFraction >= needed else "drop"
    return decisions


def _reviewAndArbitrate(store, phantoms: dict) -> None:
    """The reviewer settles every case; the first multifocal disagreement goes to the arbiter."""
    while (claim := store.claimNext(REVIEWER, "reviewer")) is not None:
        caseId = claim["case_id"]
        decisions = _truthDecisions(store, REVIEWER, caseId, phantoms[caseId].truthMask)
        comparison = store.case(caseId)["comparison"]
        if comparison["missed_lesions"] >= 1 and not any(case["state"] == "arbitration" for case in store.cases()):
            store.escalate(REVIEWER, caseId, "Several small lesions drawn by one reader only; ask for a ruling.")
            continue
        store.review(REVIEWER, caseId, decisions, note="Decided region by region on DWI with ADC and FLAIR.")
    while (claim := store.claimNext(ARBITER, "arbiter")) is not None:
        caseId = claim["case_id"]
        store.arbitrate(ARBITER, caseId, _truthDecisions(store, ARBITER, caseId, phantoms[caseId].truthMask),
                        note="Ruling: every region that is DWI-bright and ADC-dark is lesion.")


def _phase(progress, start: float, end: float):
    """``progress`` for one step of the demo: the step's 0..1 mapped onto ``start..end`` of the whole run (None stays None)."""
    if progress is None:
        return None
    return lambda fraction, message: progress(start + (end - start) * min(max(fraction, 0.0), 1.0), message)


def runDemo(outDir, seedParameters: SeedParameters | None = None, progress=None, regionPictures: bool = False) -> dict:
    """Run the whole demo into ``outDir``; returns the summary it also writes as ``demo-summary.json``.

    Ends with the acceptance report (``report.html``).

    :param progress: optional ``(fraction, message)`` callable.
    :param regionPictures: put pictures of every discordant region in the report (needs slicer-core and
        OpenGL; adds about 15 s).
    :raises InputError: ``outDir`` belongs to someone else.
    """
    started = time.perf_counter()
    outDir = prepareOutputFolder(Path(outDir))
    root = outDir / "bids"
    phantoms = {phantom.caseId: phantom for phantom in makeDemoDataset(root, progress=_phase(progress, 0.0, 0.25))}
    findings = validateDataset(root, progress=_phase(progress, 0.25, 0.3))
    parameters = seedParameters or SeedParameters()
    store = _openWorkflow(root)
    try:
        seeds = _read(store, root, phantoms, parameters, _phase(progress, 0.3, 0.75))
        if progress:
            progress(0.75, "Review and arbitration")
        _reviewAndArbitrate(store, phantoms)
        verified = store.verify(userId=MANAGER, progress=_phase(progress, 0.8, 0.85))
        problems = [row for row in verified["files"] if row["status"] != "ok"] + verified["chain"]
        exported = store.export(MANAGER, outDir / "workflow-export")
        rows = [_caseRow(store, store.case(case["case_id"]), phantoms[case["case_id"]], seeds.get(case["case_id"])) for case in store.cases()]
        databaseUrl = store.url
    finally:
        store.close()
    lesionDice = [row["seedDice"] for row in rows if row["truthMl"] and row["seedDice"] is not None]
    finalDice = [row["finalDice"] for row in rows if row["truthMl"] and row["finalDice"] is not None]
    summary = {
        "dataset": str(root),
        "derivatives": str(root / "derivatives" / "lesions"),
        "workflowDatabase": databaseUrl,
        "workflowExport": [str(path) for path in exported],
        "verifiedFiles": len(verified["files"]),
        "verifyProblems": problems,
        "validation": {"errors": sum(f.severity == "error" for f in findings), "warnings": sum(f.severity == "warning" for f in findings)},
        "seedParameters": dataclasses.asdict(parameters),
        "meanSeedDice": round(float(np.mean(lesionDice)), 3) if lesionDice else None,
        "meanFinalDice": round(float(np.mean(finalDice)), 3) if finalDice else None,
        "cases": rows,
    }
    report = writeReport(root, outDir / "report.html", snapshots=regionPictures, progress=_phase(progress, 0.85, 1.0))
    summary["report"] = {"html": str(report["html"]), "accepted": report["accepted"], "notes": report["notes"],
                         "failedSections": report["summary"]["failed_sections"]}
    summary["seconds"] = round(time.perf_counter() - started, 1)
    writeJsonAtomic(outDir / "demo-summary.json", json.loads(json.dumps(summary, default=str)))
    return summary


def _caseRow(store, case: dict, phantom, seeded) -> dict:
    """One line of the demo table: seed quality, reader agreement, route through review, final quality."""
    from ..core.image import loadVolume

    comparison = case["comparison"] or {}
    finalPath = case.get("final_mask_path")
    final = loadVolume(store.absolutePath(finalPath)).array > 0 if finalPath else None
    seed = seeded[1] if seeded else None
    return {
        "caseId": case["case_id"],
        "scenario": _shortScenario(phantom.description),
        "adcUnit": seed.summary["adcUnit"]["unitLabel"] if seed else "",
        "truthMl": round(phantom.lesionVolumeMl, 2),
        "seedMl": seed.summary["volumeMl"] if seed else None,
        "seedDice": round(dice(seed.mask, phantom.truthMask), 3) if seed else None,
        "readerDice": round(comparison["dice"], 3) if comparison else None,
        "discordantRegions": len(comparison.get("discordant_regions", [])),
        "route": _route(store, case),
        "finalDice": round(dice(final, phantom.truthMask), 3) if final is not None else None,
    }


def _route(store, case: dict) -> str:
    if case["state"] == "excluded":
        return "excluded"
    arbitrated = any(event["action"] == "arbitrate" for event in store.events(MANAGER, case["case_id"]))
    return "arbitration" if arbitrated else ("confirm" if case["concordant"] else "adjudicate")
