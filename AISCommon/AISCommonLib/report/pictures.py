"""Pictures of the discordant regions of adjudicated cases (``mrml.regionsnapshot.makeReviewSnapshots``, optional).

With the real renderer (slicer-core installed) each case is pictured in a worker process and the pictures are
cached with the case's measures; a renderer passed in by the caller (a test double) runs in this process, uncached.
"""

import base64

from ..core.errors import AISError
from .casework import PictureJob, renderPictures, runPictureJob
from .model import Section

#: Regions pictured per adjudicated case at most (keeps the HTML small enough to mail).
MAX_SNAPSHOT_REGIONS = 6


def findSnapshotRenderer():
    """The region-picture function if slicer-core is installed.

    :return: ``(callable, None)`` or ``(None, sentence saying why not)``.
    """
    from ..mrml.availability import requireSlicerCore

    try:
        requireSlicerCore()
    except AISError as error:
        return None, f"Region pictures are not available: {error}"
    from ..mrml.regionsnapshot import makeReviewSnapshots

    return makeReviewSnapshots, None


def picturesSection(root, cases: dict, adjudicated: list[str], reads: dict, rule: dict, snapshots, pool, cacheFolder, progress=None) -> dict:
    """Picture the discordant regions of each adjudicated case.

    :param snapshots: True (the real renderer when available), False (none), or a callable renderer.
    :param pool: the :class:`~AISCommonLib.report.casework.WorkerPool` for the real renderer.
    :return: ``{"section", "pictures": [{"case", "title", "png" (bytes), "readers"}], "cases"}``.
    """
    section = Section("Discordant regions of adjudicated cases")
    pictures = []
    jobs = []
    for caseId in adjudicated:
        caseReads = sorted(reads.get(caseId, []), key=lambda read: read.reader)
        if caseId in cases and len(caseReads) >= 2:
            jobs.append(PictureJob(root, cases[caseId], caseReads[0], caseReads[1], rule, MAX_SNAPSHOT_REGIONS, cacheFolder))
    if not adjudicated:
        section.notes.append("No case needed adjudication.")
    elif snapshots is False:
        section.notes.append("Region pictures were not requested (--no-snapshots).")
    elif callable(snapshots):
        results = [renderPictures(job, snapshots) for job in jobs]
        pictures = _collect(results, section)
    else:
        renderer, why = findSnapshotRenderer()
        if renderer is None:
            section.notes.append(why)
        else:
            results = pool.map(runPictureJob, jobs, progress, lambda job, result: f"Pictured {job.case.caseId}")
            pictures = _collect(results, section)
    return {"section": section, "pictures": pictures, "cases": adjudicated}


def _collect(results: list[dict], section: Section) -> list[dict]:
    pictures = []
    for result in results:
        if result["error"]:
            section.problems.append(result["error"])
            continue
        for picture in result["pictures"]:
            pictures.append({"case": result["case"], "title": picture["title"], "png": base64.b64decode(picture["png"]), "readers": result["readers"]})
        if result["more"]:
            section.problems.append(f"{result['case']}: {result['more']} more region(s) not pictured; use 'ais review-snapshot'.")
    return pictures
