"""Write a staged import into the BIDS dataset: BIDS names, the dataset files, participants, the
de-identification log and the manifest, all or nothing.

Files are written atomically and never replace a different file; the manifest is written last, so once it
names a series every file of that series is in place. Any failure removes what the run wrote and gives the
shared files (participants, log, manifest) their previous content back.
"""

import contextlib
import json
import re
import shutil
from pathlib import Path

from .. import __version__
from ..core.atomicio import atomicWritePath, sha256File, writeJsonAtomic, writeTextAtomic
from ..core.bidsvalidator import ensureBidsIgnore
from ..core.errors import AISError, OutputExistsError
from .seriesclassify import BIDS_TARGETS

MANIFEST_NAME = "ais_import_manifest.json"
MANIFEST_FORMAT_VERSION = 2
DEIDENTIFICATION_LOG_NAME = "deidentification_log.json"
BIDS_VERSION = "1.9.0"
#: BIDS' advice: ages above 89 are reported as 89 so the oldest patients cannot be singled out.
MAX_REPORTED_AGE_YEARS = 89


def readJson(path: Path) -> dict:
    """A JSON file of the dataset. :raises AISError: it is not valid JSON."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise AISError(f"'{path}' is not valid JSON ({error}); fix or remove it before importing.") from None


def nameImages(images, subject, session, caseFolder, recordedKeys, plan, result) -> None:
    """Give each classified image its BIDS name; several images of one kind get ``run-<n>`` in series order."""
    byKey: dict[str, list[dict]] = {}
    for image in images:
        byKey.setdefault(image["key"], []).append(image)
    prefix = f"sub-{subject}" + (f"_ses-{session}" if session else "")
    for key, group in sorted(byKey.items()):
        folder, suffix = BIDS_TARGETS[key]
        if len(group) > 1 or key in recordedKeys:
            result.warnings.append(f"{len(group) + (key in recordedKeys)} {key.upper()} images were found; they are named with run-<n> "
                                   f"and the reading will ask which one to use.")
        for runIndex, image in enumerate(group, start=1 + (key in recordedKeys)):
            runPart = f"_run-{runIndex}" if len(group) > 1 or key in recordedKeys else ""
            stem = f"{prefix}{runPart}_{suffix}"
            target = caseFolder / folder / stem
            staged = image["folder"]
            entries = {f"{target.as_posix()}.nii.gz": staged / f"{image['stem']}.nii.gz"}
            sidecarStaged = staged / f"{image['stem']}.bids.json"
            sidecarStaged.write_text(json.dumps(image["sidecar"], indent=2) + "\n", encoding="utf-8")
            entries[f"{target.as_posix()}.json"] = sidecarStaged
            if key == "dwi" and image["hasBValues"]:
                for extension in (".bval", ".bvec"):
                    if (staged / f"{image['stem']}{extension}").is_file():
                        entries[f"{target.as_posix()}{extension}"] = staged / f"{image['stem']}{extension}"
            plan["files"].update(entries)
            plan["series"][image["series"].seriesKey].setdefault("outputs", []).extend(sorted(entries))
            plan["series"][image["series"].seriesKey].setdefault("keys", []).append(key)
            result.images.append({"key": key, "path": f"{target.as_posix()}.nii.gz", "series": image["series"].displayName,
                                  "reason": image["reason"]})


def _sameContent(path: Path, staged: Path) -> bool:
    return path.is_file() and path.stat().st_size == staged.stat().st_size and sha256File(path) == sha256File(staged)


def commitImport(root, plan, manifest, manifestPath, logEntries, caseFolder, subject, session, ageSex, generators, result,
                 saveKey=None, forgetKey=None) -> None:
    """Write every staged file into the dataset, or nothing.

    :param plan: ``{"files": {relative path: staged file}, "series": {series key: entry}}`` from staging.
    :param generators: ``GeneratedBy`` entries of ``dataset_description.json`` (a new dataset only).
    :param saveKey: called before the first write when the dataset's secret is new (so a dataset never
        exists without its secret); ``forgetKey`` is called when the import then fails.
    :raises OutputExistsError: a target exists with other content (nothing is written).
    """
    targets = dict(plan["files"])
    for entry in plan["series"].values():
        targets.update({target.as_posix(): staged for target, staged in entry["sourceTargets"]})
    for relative, staged in sorted(targets.items()):
        path = root / relative
        if path.exists() and not _sameContent(path, staged):
            raise OutputExistsError(f"'{path}' already exists and did not come from this series; nothing was imported.")
    if not plan["series"]:
        return
    if saveKey is not None:
        saveKey()
    logPath = root / "sourcedata" / caseFolder / DEIDENTIFICATION_LOG_NAME
    sharedFiles = [root / "participants.tsv", root / "participants.json", root / ".bidsignore", logPath, manifestPath]
    previous = {path: path.read_bytes() if path.is_file() else None for path in sharedFiles}
    createdRoot = not root.exists()
    createdFolders, written = [], []
    try:
        for relative, staged in sorted(targets.items()):
            path = root / relative
            if path.exists():
                continue
            createdFolders += [root / parent for parent in reversed(list(Path(relative).parents)[:-1]) if not (root / parent).exists()]
            with atomicWritePath(path, overwrite=False) as temporary:
                shutil.copyfile(staged, temporary)
            written.append(relative)
        _ensureDatasetFiles(root, generators, written)
        _updateParticipants(root, f"sub-{subject}", ageSex, written)
        log = readJson(logPath) if logPath.is_file() else {
            "description": "Which de-identification rules ais import-dicom applied to each series, by DICOM attribute "
                           "keyword, sidecar key or NIfTI field name; never values.",
            "series": {},
        }
        log["series"].update(logEntries)
        writeJsonAtomic(logPath, log)
        written.append(logPath.relative_to(root).as_posix())
        for seriesKey, entry in plan["series"].items():
            manifest["series"][seriesKey] = {
                "participant": subject, "session": session, "seriesNumber": entry["series"].seriesNumber,
                "contentKey": entry["contentKey"], "keys": sorted(set(entry.get("keys", []))),
                "outputs": sorted(entry.get("outputs", [])), "sourceFiles": len(entry["sourceTargets"]),
            }
        # The manifest is written last: once it names a series, every file of that series is in place.
        writeJsonAtomic(manifestPath, manifest)
        written.append(manifestPath.relative_to(root).as_posix())
    except BaseException:
        if forgetKey is not None:
            forgetKey()
        if createdRoot:
            shutil.rmtree(root, ignore_errors=True)
            raise
        for relative in written:
            path = root / relative
            if path in previous and previous[path] is not None:
                with contextlib.suppress(OSError):
                    writeTextAtomic(path, previous[path].decode("utf-8"))
            else:
                path.unlink(missing_ok=True)
        for folder in sorted(set(createdFolders), key=lambda item: len(item.parts), reverse=True):
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    result.written.extend(written)


def ageYears(value) -> int | None:
    """DICOM age string (``065Y``, ``018M``) to whole years, capped at :data:`MAX_REPORTED_AGE_YEARS`."""
    match = re.fullmatch(r"(\d{1,3})([DWMY])", str(value or "").strip().upper())
    if not match:
        return None
    number, unit = int(match[1]), match[2]
    years = {"D": number / 365.25, "W": number / 52.18, "M": number / 12, "Y": number}[unit]
    return min(int(years), MAX_REPORTED_AGE_YEARS)


def _updateParticipants(root: Path, participantId: str, values: dict, written: list[str]) -> None:
    """Add the participant to participants.tsv once (rows of others kept; new columns padded with n/a)."""
    path = root / "participants.tsv"
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    header = lines[0].split("\t") if lines else ["participant_id"]
    rows = [line.split("\t") for line in lines[1:] if line.strip()]
    if any(row and row[0] == participantId for row in rows):
        return
    for column in values:
        if column not in header:
            header.append(column)
            rows = [row + ["n/a"] for row in rows]
    rows.append([participantId if column == "participant_id" else str(values.get(column, "n/a")) for column in header])
    rows = [row + ["n/a"] * (len(header) - len(row)) for row in rows]
    writeTextAtomic(path, "\n".join("\t".join(row) for row in [header, *rows]) + "\n")
    written.append("participants.tsv")
    descriptionPath = root / "participants.json"
    descriptions = json.loads(descriptionPath.read_text(encoding="utf-8")) if descriptionPath.is_file() else {}
    known = {
        "participant_id": {"Description": "Pseudonymous subject label given at DICOM import; no link to the patient is stored here."},
        "age": {"Description": f"Age at the scan from the DICOM header, whole years, ages above {MAX_REPORTED_AGE_YEARS} given as {MAX_REPORTED_AGE_YEARS}.", "Units": "year"},
        "sex": {"Description": "Sex from the DICOM header.", "Levels": {"M": "male", "F": "female", "O": "other"}},
    }
    missing = {column: known[column] for column in header if column in known and column not in descriptions}
    if missing:
        writeJsonAtomic(descriptionPath, {**descriptions, **missing})
        written.append("participants.json")


def _ensureDatasetFiles(root: Path, generators: list[dict], written: list[str]) -> None:
    if ensureBidsIgnore(root):
        written.append(".bidsignore")
    description = root / "dataset_description.json"
    if not description.is_file():
        writeJsonAtomic(description, {
            "Name": "Acute ischemic stroke MRI",
            "BIDSVersion": BIDS_VERSION,
            "DatasetType": "raw",
            "GeneratedBy": [
                {"Name": "ais import-dicom", "Version": __version__,
                 "Description": "De-identification (DICOM PS3.15 Basic Profile, Clean Descriptors, Modified Dates), then dcm2niix conversion."},
                *generators,
            ],
        })
        written.append("dataset_description.json")
    readme = root / "README"
    if not readme.is_file():
        writeTextAtomic(readme, (
            "Acute ischemic stroke MRI, imported from DICOM with `ais import-dicom`.\n\n"
            "Images were converted with dcm2niix from de-identified copies of the DICOM originals (DICOM PS3.15\n"
            "Basic Application Level Confidentiality Profile with the Clean Descriptors and Retain Longitudinal\n"
            "Temporal Information with Modified Dates options): dates are shifted by a secret per-subject offset,\n"
            "UIDs replaced with a secret per-dataset key. Sidecars keep acquisition parameters only (field strength,\n"
            "TE, TR, b values). sourcedata/ holds the de-identified DICOM copies, the import manifest and the\n"
            "de-identification log (rule and attribute names only). Burned-in text in pixel data is not checked:\n"
            "restrict access to sourcedata/.\n"
        ))
        written.append("README")


