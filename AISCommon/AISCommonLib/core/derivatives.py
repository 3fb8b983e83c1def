"""Lesion masks in BIDS derivatives: names, versions, sidecars with provenance.

Layout (``<root>/derivatives/lesions/``):

- reader masks ``sub-<s>[_ses-<t>]_desc-<reader>_dwi_lesionmask.nii.gz`` (version 1) and
  ``..._desc-<reader>v<N>_dwi_lesionmask.nii.gz`` (version N >= 2). A mask file is never overwritten:
  a new read is a new version. The sidecar, not the file name, is the authority on reader and version.
- the final mask keeps the consensus name ``sub-<s>[_ses-<t>]_dwi_lesionmask.nii.gz``.

Every mask is binary uint8 on exactly the DWI grid (shape and affine, qform = sform) and has a JSON
sidecar: who, when, software version, method and parameters, SHA-256 of the source images.
"""

import dataclasses
import datetime
import json
import re
from pathlib import Path

import numpy as np

from .. import __version__
from .atomicio import sha256File, writeJsonAtomic
from .cases import LABEL_PATTERN, Case
from .errors import InputError, OutputExistsError
from .image import Volume, writeNifti

PIPELINE_NAME = "lesions"
MASK_SUFFIX = "_dwi_lesionmask.nii.gz"
BIDS_VERSION = "1.9.0"
_DESCRIPTION_PATTERN = re.compile(r"_desc-(?P<label>[A-Za-z0-9]+)" + re.escape(MASK_SUFFIX) + "$")


def lesionDerivativesRoot(datasetRoot) -> Path:
    """``<root>/derivatives/lesions``, created with its ``dataset_description.json`` on first use."""
    folder = Path(datasetRoot) / "derivatives" / PIPELINE_NAME
    description = folder / "dataset_description.json"
    if not description.exists():
        document = {
            "Name": "Acute ischemic stroke lesion masks",
            "BIDSVersion": BIDS_VERSION,
            "DatasetType": "derivative",
            "GeneratedBy": [{"Name": "AISAnnotator", "Version": __version__, "Description": "Dual-reader lesion annotation"}],
        }
        try:
            writeJsonAtomic(description, document, overwrite=False)
        except OutputExistsError:
            pass  # another process created it between the check and the write: same content
    return folder


def validateReaderId(reader: str) -> str:
    """Reader IDs go into file names: letters and digits only, never a person's name.

    :raises InputError: empty or with other characters.
    """
    if not reader or not LABEL_PATTERN.match(reader):
        raise InputError(f"Reader ID '{reader}' is not valid: use letters and digits only (a pseudonymous ID such as R01).")
    return reader


def readerMaskPath(datasetRoot, case: Case, reader: str, version: int) -> Path:
    """Where version ``version`` of ``reader``'s mask for ``case`` lives."""
    label = validateReaderId(reader) + (f"v{version}" if version > 1 else "")
    return lesionDerivativesRoot(datasetRoot) / case.relativeFolder / f"{case.caseId}_desc-{label}{MASK_SUFFIX}"


def consensusMaskPath(datasetRoot, case: Case) -> Path:
    """Where the final (consensus) mask of ``case`` lives."""
    return lesionDerivativesRoot(datasetRoot) / case.relativeFolder / f"{case.caseId}{MASK_SUFFIX}"


def sidecarPathFor(maskPath: Path) -> Path:
    """``x_dwi_lesionmask.json`` beside ``x_dwi_lesionmask.nii.gz``."""
    return maskPath.with_name(maskPath.name.removesuffix(".nii.gz") + ".json")


@dataclasses.dataclass(frozen=True)
class MaskRecord:
    """One reader mask file and what its sidecar says about it."""

    reader: str
    version: int
    path: Path
    sidecar: dict


def listReaderMasks(datasetRoot, case: Case) -> list[MaskRecord]:
    """Every reader mask of ``case`` with a readable sidecar, sorted by reader then version."""
    folder = Path(datasetRoot) / "derivatives" / PIPELINE_NAME / case.relativeFolder
    records = []
    for path in sorted(folder.glob(f"{case.caseId}_desc-*{MASK_SUFFIX}")) if folder.is_dir() else []:
        if not _DESCRIPTION_PATTERN.search(path.name):
            continue
        try:
            sidecar = json.loads(sidecarPathFor(path).read_text(encoding="utf-8"))
            records.append(MaskRecord(str(sidecar["Reader"]), int(sidecar["Version"]), path, sidecar))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a mask without a valid sidecar is not a read; `ais validate` reports it
    return sorted(records, key=lambda record: (record.reader, record.version))


def latestReaderMasks(datasetRoot, case: Case) -> dict[str, MaskRecord]:
    """Reader -> their newest mask of ``case``."""
    latest: dict[str, MaskRecord] = {}
    for record in listReaderMasks(datasetRoot, case):
        latest[record.reader] = record
    return latest


def _binaryOnGrid(mask: np.ndarray, dwi: Volume) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.shape != dwi.gridShape:
        raise InputError(f"The mask has shape {mask.shape[::-1]} but the DWI grid is {dwi.gridShape[::-1]} (i x j x k); masks must be on the DWI grid.")
    if mask.dtype != bool and not np.isin(np.unique(mask), (0, 1)).all():
        raise InputError("The mask is not binary (values other than 0 and 1); give a label value or binarise it first.")
    return mask.astype(np.uint8)


def _sourceHashes(datasetRoot, case: Case) -> list[dict]:
    root = Path(datasetRoot)
    sources = []
    for key, path in sorted(case.files.items()):
        try:
            relative = str(path.relative_to(root))
        except ValueError:
            relative = path.name
        sources.append({"Sequence": key, "Path": relative, "SHA256": sha256File(path)})
    return sources


def writeMaskWithSidecar(path: Path, mask: np.ndarray, dwi: Volume, sidecar: dict) -> Path:
    """Write a binary mask on the DWI grid and its sidecar; refuses to overwrite either.

    The mask is written first; when the sidecar cannot be written (a full disk) the mask is removed again, so
    there is never a mask without its sidecar. A crash between the two writes may still leave one, which no
    listing counts as a read and ``ais validate`` reports.
    """
    data = _binaryOnGrid(mask, dwi)
    if path.exists() or sidecarPathFor(path).exists():
        raise OutputExistsError(f"Refusing to overwrite '{path}': masks are versioned, never replaced.")
    writeNifti(data, dwi.ijkToRas, path, overwrite=False)
    try:
        writeJsonAtomic(sidecarPathFor(path), sidecar, overwrite=False)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def nextReaderVersion(datasetRoot, case: Case, reader: str) -> int:
    """The version ``reader``'s next mask of ``case`` takes: one more than the newest, on a free name."""
    existing = [record.version for record in listReaderMasks(datasetRoot, case) if record.reader == reader]
    version = max(existing, default=0) + 1
    while readerMaskPath(datasetRoot, case, reader, version).exists():  # taken by a reader whose ID ends in v<digits>
        version += 1
    return version


def writeReaderMask(datasetRoot, case: Case, mask: np.ndarray, dwi: Volume, reader: str, method: str, parameters: dict,
                    into: Path | None = None) -> MaskRecord:
    """Write ``reader``'s mask of ``case`` as a new version (the first, or one more than the newest).

    :param mask: boolean or 0/1 array ``[k, j, i]`` on the DWI grid.
    :param method: how the mask was made, e.g. ``adc-threshold-seed`` or ``manual``.
    :param parameters: method parameters to keep in the sidecar (JSON-serialisable).
    :param into: write here instead of under the BIDS name (the workflow keeps a read sealed until the case is final).
    :return: the record of the written mask.
    :raises InputError: mask off the DWI grid or not binary; invalid reader ID.
    """
    validateReaderId(reader)
    version = nextReaderVersion(datasetRoot, case, reader)
    path = into or readerMaskPath(datasetRoot, case, reader, version)
    voxels = int(np.count_nonzero(mask))
    sidecar = {
        "Reader": reader,
        "Version": version,
        "Created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "Software": {"Name": "AISAnnotator", "Version": __version__},
        "Method": method,
        "Parameters": parameters,
        "Voxels": voxels,
        "VolumeMl": round(voxels * dwi.voxelVolumeMm3 / 1000.0, 4),
        "Sources": _sourceHashes(datasetRoot, case),
    }
    writeMaskWithSidecar(path, mask, dwi, sidecar)
    return MaskRecord(reader, version, path, sidecar)


def selectReads(datasetRoot, case, readerA=None, readerB=None) -> tuple[tuple[str, Path], tuple[str, Path]]:
    """The newest masks of the two readers to compare in the dataset's derivatives.

    :return: ``((readerA, pathA), (readerB, pathB))``.
    :raises InputError: fewer than two readers, an unknown reader, or more than two without a choice.
    """
    latest = latestReaderMasks(datasetRoot, case)
    if len(latest) < 2:
        raise InputError(f"{case.caseId} has {len(latest)} read(s) in derivatives/lesions; two are needed.")
    for reader in (readerA, readerB):
        if reader is not None and reader not in latest:
            raise InputError(f"Reader '{reader}' has no mask of {case.caseId} (readers: {', '.join(sorted(latest))}).")
    chosen = [reader for reader in (readerA, readerB) if reader]
    others = [reader for reader in sorted(latest) if reader not in chosen]
    if len(chosen) + len(others) > 2 and len(chosen) < 2:
        raise InputError(f"{case.caseId} has masks of {len(latest)} readers ({', '.join(sorted(latest))}); choose --reader-a and --reader-b.")
    readers = (chosen + others)[:2]
    return tuple((reader, Path(latest[reader].path)) for reader in readers)
