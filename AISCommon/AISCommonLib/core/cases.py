"""Find the cases of a BIDS dataset and the sequence files of each case.

Accepts the layouts users actually bring: standard BIDS (``sub/ses/dwi/*_dwi.nii.gz`` with ``*_adc`` or
``*_ADC`` beside it, ``sub/ses/anat/*_FLAIR.nii.gz``), flat session folders with lower-case suffixes
(ISLES 2022 ``rawdata/``), sessions or none, and a dataset whose images sit under ``rawdata/``.
"""

import dataclasses
import json
import re
from pathlib import Path

from .errors import InputError

#: Sequence key -> file-name suffix (compared case-insensitively, after the last underscore).
SEQUENCE_SUFFIXES = {"dwi": "dwi", "adc": "adc", "eadc": "eadc", "flair": "flair", "t1w": "t1w", "t2w": "t2w"}
#: What the consensus reading needs (T1w/T2w and eADC are optional; eADC can be computed).
REQUIRED_SEQUENCES = ("dwi", "adc", "flair")
SEQUENCE_FOLDERS = ("", "dwi", "anat")
NIFTI_PATTERN = re.compile(r"^(?P<stem>.+)\.nii(\.gz)?$")
LABEL_PATTERN = re.compile(r"^[A-Za-z0-9]+$")


@dataclasses.dataclass
class Case:
    """One session of one subject and the files found for it.

    :param files: sequence key (``dwi``, ``adc``, ``eadc``, ``flair``, ``t1w``, ``t2w``) -> NIfTI path.
    :param problems: what discovery could not settle (e.g. two candidate DWI files), in sentences.
    """

    subject: str
    session: str | None
    folder: Path
    files: dict[str, Path] = dataclasses.field(default_factory=dict)
    problems: list[str] = dataclasses.field(default_factory=list)

    @property
    def caseId(self) -> str:
        """BIDS-style prefix of the case's file names: ``sub-01_ses-01`` or ``sub-01``."""
        return f"sub-{self.subject}" + (f"_ses-{self.session}" if self.session else "")

    @property
    def relativeFolder(self) -> Path:
        """``sub-01/ses-01`` (or ``sub-01``): where the case's derivatives go."""
        return Path(f"sub-{self.subject}") / (f"ses-{self.session}" if self.session else "")

    @property
    def missing(self) -> list[str]:
        """Required sequences that were not found."""
        return [key for key in REQUIRED_SEQUENCES if key not in self.files]

    def sidecarPath(self, key: str) -> Path | None:
        """The JSON sidecar next to a sequence file, if it exists."""
        return _companion(self.files.get(key), ".json")

    def sidecar(self, key: str) -> dict:
        """The parsed JSON sidecar of a sequence ({} when absent).

        :raises InputError: the sidecar exists but is not valid JSON.
        """
        path = self.sidecarPath(key)
        if path is None:
            return {}
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise InputError(f"The sidecar '{path}' is not valid JSON ({error}).") from None

    def bvalPath(self) -> Path | None:
        """The ``.bval`` file of the DWI, if present."""
        return _companion(self.files.get("dwi"), ".bval")

    def toDict(self) -> dict:
        return {
            "caseId": self.caseId,
            "subject": self.subject,
            "session": self.session,
            "files": {key: str(path) for key, path in sorted(self.files.items())},
            "missing": self.missing,
            "problems": self.problems,
        }


def _companion(niftiPath: Path | None, extension: str) -> Path | None:
    if niftiPath is None:
        return None
    candidate = niftiPath.with_name(NIFTI_PATTERN.match(niftiPath.name)["stem"] + extension)
    return candidate if candidate.is_file() else None


def imageRoot(datasetRoot: Path) -> Path:
    """Folder holding the ``sub-*`` folders: the root itself, or its ``rawdata/`` (ISLES 2022)."""
    if not any(datasetRoot.glob("sub-*")) and (datasetRoot / "rawdata").is_dir():
        return datasetRoot / "rawdata"
    return datasetRoot


def _sequenceKey(fileName: str) -> str | None:
    match = NIFTI_PATTERN.match(fileName)
    if not match or not fileName.startswith("sub-"):
        return None
    suffix = match["stem"].rsplit("_", 1)[-1].lower()
    for key, expected in SEQUENCE_SUFFIXES.items():
        if suffix == expected:
            return key
    return None


def _scanSessionFolder(case: Case) -> None:
    candidates: dict[str, list[Path]] = {}
    for folderName in SEQUENCE_FOLDERS:
        folder = case.folder / folderName
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            key = _sequenceKey(path.name)
            if key and path.is_file():
                candidates.setdefault(key, []).append(path)
    for key, paths in candidates.items():
        # Prefer the plain acquisition; entities such as acq-/run-/desc- mark alternatives.
        plain = [path for path in paths if NIFTI_PATTERN.match(path.name)["stem"].count("_") <= (2 if case.session else 1)]
        chosen = plain if len(plain) == 1 else paths
        case.files[key] = chosen[0]
        if len(chosen) > 1:
            case.problems.append(
                f"{case.caseId}: {len(chosen)} candidate {key.upper()} files ({', '.join(p.name for p in chosen)}); using {chosen[0].name}."
            )


def discoverCases(datasetRoot, participantLabels=None, sessionLabels=None) -> list[Case]:
    """All cases of a dataset, sorted by subject then session.

    :param datasetRoot: BIDS root (or a folder whose ``rawdata/`` is one).
    :param participantLabels: keep only these subjects (with or without the ``sub-`` prefix).
    :param sessionLabels: keep only these sessions (with or without ``ses-``).
    :raises InputError: the root does not exist or holds no case.
    """
    datasetRoot = Path(datasetRoot)
    if not datasetRoot.is_dir():
        raise InputError(f"The dataset folder '{datasetRoot}' does not exist.")
    wantedSubjects = {label.removeprefix("sub-") for label in participantLabels} if participantLabels else None
    wantedSessions = {label.removeprefix("ses-") for label in sessionLabels} if sessionLabels else None
    cases = []
    for subjectFolder in sorted(imageRoot(datasetRoot).glob("sub-*")):
        subject = subjectFolder.name.removeprefix("sub-")
        if not subjectFolder.is_dir() or (wantedSubjects is not None and subject not in wantedSubjects):
            continue
        sessionFolders = sorted(path for path in subjectFolder.glob("ses-*") if path.is_dir())
        for folder in sessionFolders or [subjectFolder]:
            session = folder.name.removeprefix("ses-") if sessionFolders else None
            if wantedSessions is not None and session not in wantedSessions:
                continue
            case = Case(subject, session, folder)
            _scanSessionFolder(case)
            if case.files:
                cases.append(case)
    if not cases:
        what = f" matching {sorted(wantedSubjects)}" if wantedSubjects else ""
        raise InputError(f"No cases{what} found in '{datasetRoot}': expected sub-<label>/[ses-<label>/] folders with NIfTI images.")
    return cases


def selectCase(target, participantLabel=None, sessionLabel=None) -> "Case":
    """The one case a command works on: from a BIDS root (with labels when it holds several) or a case folder.

    :raises InputError: no case, or several without a label to choose.
    """
    path = Path(target)
    if path.name.startswith("ses-") and path.parent.name.startswith("sub-"):
        root, participantLabel, sessionLabel = path.parent.parent, path.parent.name, path.name
    elif path.name.startswith("sub-"):
        root, participantLabel = path.parent, path.name
    else:
        root = path
    cases = discoverCases(root, [participantLabel] if participantLabel else None, [sessionLabel] if sessionLabel else None)
    if len(cases) > 1:
        listed = ", ".join(case.caseId for case in cases[:8]) + (" ..." if len(cases) > 8 else "")
        raise InputError(f"'{target}' holds {len(cases)} cases ({listed}); choose one with --participant-label (and --session-label).")
    return cases[0]
