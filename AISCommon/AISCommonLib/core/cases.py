"""Find the cases of a BIDS dataset, the sequence files of each case, and the lesion masks the dataset ships.

Accepts the layouts users actually bring: standard BIDS (``sub/ses/dwi/*_dwi.nii.gz`` with ``*_adc`` or
``*_ADC`` beside it, ``sub/ses/anat/*_FLAIR.nii.gz``), flat session folders with lower-case suffixes
(ISLES 2022 ``rawdata/``), OpenNeuro naming (``*_rec-TRACE_dwi``, ``*_rec-ADC_dwi``, with or without a
session level), one DWI file per b value (``*_acq-b0_dwi``, ``*_acq-b1000_dwi``), and a dataset whose
images sit under ``rawdata/``. When several files could be the same sequence the choice is deterministic
and recorded in words (:attr:`Case.choices`); files named as masks are never taken for images, and lesion
masks the dataset ships (outside our own ``derivatives/lesions``) are listed as references, never changed.
"""

import dataclasses
import fnmatch
import os
import re
from pathlib import Path

from .bidsnames import NIFTI_PATTERN, BidsName, companionFiles, isMaskName, isTraceName, parseName, readSidecar, sequenceRole
from .diffusion import B0_MAXIMUM, chooseDiffusionB, fileBValue
from .errors import InputError

#: Sequence keys a case can hold (``b0`` only when the dataset ships b=0 as its own file).
SEQUENCE_KEYS = ("dwi", "b0", "adc", "eadc", "flair", "t1w", "t2w")
#: What the consensus reading needs (T1w/T2w and eADC are optional; eADC can be computed).
REQUIRED_SEQUENCES = ("dwi", "adc", "flair")
SEQUENCE_FOLDERS = ("", "dwi", "anat")
LABEL_PATTERN = re.compile(r"^[A-Za-z0-9]+$")
#: Our own pipeline folder under ``derivatives/`` (its masks are reads, not references).
OWN_PIPELINE = "lesions"
#: A label that names exactly one folder (no glob characters, no path separators).
_PLAIN_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclasses.dataclass
class Case:
    """One session of one subject and the files found for it.

    :param files: sequence key (``dwi``, ``b0``, ``adc``, ``eadc``, ``flair``, ``t1w``, ``t2w``) -> NIfTI path.
    :param problems: what discovery could not settle (e.g. two candidate DWI files), in sentences.
    :param choices: sequence key -> one sentence saying which file was taken and why.
    :param referenceMasks: lesion masks the dataset ships for this case (never written to).
    :param root: the folder holding the ``sub-*`` folders (sidecars may be inherited from it).
    """

    subject: str
    session: str | None
    folder: Path
    files: dict[str, Path] = dataclasses.field(default_factory=dict)
    problems: list[str] = dataclasses.field(default_factory=list)
    choices: dict[str, str] = dataclasses.field(default_factory=dict)
    referenceMasks: list[Path] = dataclasses.field(default_factory=list)
    root: Path | None = None

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

    def sidecarPaths(self, key: str) -> list[Path]:
        """Every JSON sidecar that applies to a sequence file (inherited ones first)."""
        return companionFiles(self.files[key], ".json", self.root) if key in self.files else []

    def sidecar(self, key: str) -> dict:
        """The parsed JSON sidecar of a sequence, inherited sidecars merged in ({} when there is none).

        :raises InputError: a sidecar exists but is not valid JSON.
        """
        if key not in self.files:
            return {}
        try:
            return readSidecar(self.files[key], self.root)[0]
        except (OSError, ValueError) as error:
            raise InputError(f"A sidecar of {self.files[key].name} ({self.caseId}) is not valid JSON ({error}).") from None

    def bvalPath(self) -> Path | None:
        """The ``.bval`` file of the DWI, if present (beside it, or inherited)."""
        found = companionFiles(self.files["dwi"], ".bval", self.root) if "dwi" in self.files else []
        return found[-1] if found else None

    def toDict(self) -> dict:
        return {
            "caseId": self.caseId,
            "subject": self.subject,
            "session": self.session,
            "files": {key: str(path) for key, path in sorted(self.files.items())},
            "missing": self.missing,
            "problems": self.problems,
            "choices": dict(self.choices),
            "referenceMasks": [str(path) for path in self.referenceMasks],
        }


def _companion(niftiPath: Path | None, extension: str) -> Path | None:
    if niftiPath is None:
        return None
    candidate = niftiPath.with_name(NIFTI_PATTERN.match(niftiPath.name)["stem"] + extension)
    return candidate if candidate.is_file() else None


def imageRoot(datasetRoot: Path) -> Path:
    """Folder holding the ``sub-*`` folders: the root itself, or its ``rawdata/`` (ISLES 2022)."""
    if (datasetRoot / "rawdata").is_dir() and not any(datasetRoot.glob("sub-*")):  # the cheap test first: globbing lists the folder
        return datasetRoot / "rawdata"
    return datasetRoot


@dataclasses.dataclass
class _Candidate:
    path: Path
    name: BidsName

    @property
    def extraCount(self) -> int:
        return len(self.name.extraEntities) + len(self.name.bareTokens)

    def sortKey(self):
        return (self.extraCount, self.path.name)


def _listed(candidates) -> str:
    return ", ".join(candidate.path.name for candidate in candidates)


def _preferPlain(case: Case, key: str, candidates: list[_Candidate], why: str = "") -> _Candidate:
    """The candidate with the fewest extra entities (name order breaks ties); a tie is reported as a problem."""
    ordered = sorted(candidates, key=_Candidate.sortKey)
    chosen = ordered[0]
    others = ordered[1:]
    if not others:
        case.choices[key] = f"{chosen.path.name}{why}: the only {key.upper()} file."
        return chosen
    tied = [other for other in others if other.extraCount == chosen.extraCount]
    if tied:
        case.problems.append(
            f"{case.caseId}: {len(tied) + 1} candidate {key.upper()} files ({_listed([chosen, *tied])}); using {chosen.path.name}."
        )
        reason = "first in name order among files that the name does not tell apart"
    else:
        reason = "it has the fewest extra entities (acq-, rec-, run- ...), so it is the plain acquisition"
    case.choices[key] = f"{chosen.path.name}{why}: {reason}; not used: {_listed(others)}."
    return chosen


def _chooseDwi(case: Case, candidates: list[_Candidate]) -> None:
    """Pick the DWI (and a separate b0 file): per-b files, then trace-named, then the plain acquisition."""
    known = []
    for candidate in candidates:
        try:
            found = fileBValue(candidate.path, case.root)
        except InputError as error:
            case.problems.append(f"{case.caseId}: {error}")
            found = None
        if found is not None:
            known.append((candidate, *found))
    weighted = [entry for entry in known if entry[1] > B0_MAXIMUM]
    zeros = [entry for entry in known if entry[1] <= B0_MAXIMUM]
    if weighted and (zeros or len({entry[1] for entry in weighted}) > 1):
        chosenB = chooseDiffusionB([entry[1] for entry in weighted])
        atB = [entry for entry in weighted if entry[1] == chosenB]
        traced = [entry for entry in atB if isTraceName(entry[0].name)] or atB
        chosen = min(traced, key=lambda entry: entry[0].sortKey())
        others = [candidate for candidate in candidates if candidate is not chosen[0]]
        case.files["dwi"] = chosen[0].path
        allB = ", ".join(f"b={entry[1]:g}" for entry in sorted(known, key=lambda entry: entry[1]))
        case.choices["dwi"] = (
            f"{chosen[0].path.name}: the dataset has one DWI file per b value ({allB}); b={chosenB:g} from {chosen[2]} is the "
            f"highest b near 1000" + (f"; not used as DWI: {_listed(others)}" if others else "") + "."
        )
        if zeros:
            b0 = min(zeros, key=lambda entry: entry[0].sortKey())
            case.files["b0"] = b0[0].path
            case.choices["b0"] = f"{b0[0].path.name}: b={b0[1]:g} from {b0[2]}, the b=0 image of the same acquisition (used for eADC = DWI/b0)."
        return
    zeroPaths = {entry[0].path for entry in zeros}
    pool = [candidate for candidate in candidates if candidate.path not in zeroPaths] or candidates
    traced = [candidate for candidate in pool if isTraceName(candidate.name)]
    if traced and len(traced) < len(pool):
        marker = traced[0].name.describedBy({"trace", "tracew", "traceweighted", "isodwi"}) or "trace"
        chosen = _preferPlain(case, "dwi", traced, f": its name marks the trace image ({marker})")
        others = [candidate for candidate in candidates if candidate not in traced]
        case.choices["dwi"] = case.choices["dwi"].rstrip(".") + f"; preferred over {_listed(others)}."
    else:
        chosen = _preferPlain(case, "dwi", pool)
        if len(pool) < len(candidates):
            case.choices["dwi"] = case.choices["dwi"].rstrip(".") + f"; {_listed(c for c in candidates if c not in pool)} is b=0."
    case.files["dwi"] = chosen.path
    if chosen.path in zeroPaths:
        case.problems.append(f"{case.caseId}: every DWI file is b=0 ({_listed(entry[0] for entry in zeros)}); a b~1000 image is needed.")
    elif zeros:
        b0 = min(zeros, key=lambda entry: entry[0].sortKey())
        case.files["b0"] = b0[0].path
        case.choices["b0"] = f"{b0[0].path.name}: b={b0[1]:g} from {b0[2]} (used for eADC = DWI/b0 unless the DWI series has its own b=0 volumes)."


def _scanSessionFolder(case: Case) -> None:
    candidates: dict[str, list[_Candidate]] = {}
    for folderName in SEQUENCE_FOLDERS:
        folder = case.folder / folderName
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            name = parseName(path.name)
            key = sequenceRole(name) if name else None
            if key and path.is_file():
                candidates.setdefault(key, []).append(_Candidate(path, name))
    for key in SEQUENCE_KEYS:
        if key not in candidates:
            continue
        if key == "dwi":
            _chooseDwi(case, candidates[key])
        else:
            chosen = _preferPlain(case, key, candidates[key], _roleReason(key, candidates[key]))
            case.files[key] = chosen.path


def _roleReason(key: str, candidates: list[_Candidate]) -> str:
    """Why a ``_dwi`` file counts as ADC/eADC (its rec-/desc- value names it); empty for plain suffixes."""
    if key not in ("adc", "eadc"):
        return ""
    first = sorted(candidates, key=_Candidate.sortKey)[0]
    if first.name.suffix.lower() == "dwi":
        vocabulary = {"adc", "adcmap"} if key == "adc" else {"eadc", "expadc", "exponentialadc"}
        return f" (a _dwi file whose {first.name.describedBy(vocabulary)} names the {key.upper()} map)"
    return ""


def _referenceMaskFiles(datasetRoot: Path, images: Path) -> list[Path]:
    """Lesion masks anywhere under the dataset's ``derivatives/`` or image folders, except our own pipeline's."""
    found = set()
    derivativeFolders = {datasetRoot / "derivatives", images / "derivatives"}
    if images.name == "rawdata":  # the dataset root was given as its rawdata/ folder
        derivativeFolders.add(images.parent / "derivatives")
    for folder in sorted(derivativeFolders):
        if not folder.is_dir():
            continue
        # Our own pipeline's folder is left out without being walked: it grows by several files per read.
        for directory, subfolders, files in os.walk(folder):
            if Path(directory) == folder:
                subfolders[:] = [name for name in subfolders if name != OWN_PIPELINE]
            for fileName in fnmatch.filter(files, "sub-*.nii*"):
                name = parseName(fileName)
                if name is not None and isMaskName(name):
                    found.add(Path(directory) / fileName)
    return sorted(found)


def _assignReferenceMasks(cases: list["Case"], maskFiles: list[Path]) -> None:
    bySubject: dict[str, list[Case]] = {}
    for case in cases:
        bySubject.setdefault(case.subject, []).append(case)
    for path in maskFiles:
        name = parseName(path.name)
        for case in bySubject.get(name.subject or "", []):
            if name.session == case.session or (name.session is None and len(bySubject[case.subject]) == 1):
                case.referenceMasks.append(path)


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
    images = imageRoot(datasetRoot)
    if wantedSubjects is not None and all(_PLAIN_LABEL.fullmatch(label) for label in wantedSubjects):
        # Straight to the wanted folders: listing and sorting every subject costs ~0.5 s on a 10,000-case dataset.
        subjectFolders = sorted(images / f"sub-{label}" for label in wantedSubjects)
    else:
        subjectFolders = sorted(images.glob("sub-*"))
    for subjectFolder in subjectFolders:
        subject = subjectFolder.name.removeprefix("sub-")
        if not subjectFolder.is_dir() or (wantedSubjects is not None and subject not in wantedSubjects):
            continue
        sessionFolders = sorted(path for path in subjectFolder.glob("ses-*") if path.is_dir())
        for folder in sessionFolders or [subjectFolder]:
            session = folder.name.removeprefix("ses-") if sessionFolders else None
            if wantedSessions is not None and session not in wantedSessions:
                continue
            case = Case(subject, session, folder, root=images)
            _scanSessionFolder(case)
            if case.files:
                cases.append(case)
    if not cases:
        what = f" matching {sorted(wantedSubjects)}" if wantedSubjects else ""
        raise InputError(f"No cases{what} found in '{datasetRoot}': expected sub-<label>/[ses-<label>/] folders with NIfTI images.")
    _assignReferenceMasks(cases, [*_referenceMaskFiles(datasetRoot, images), *_sessionMaskFiles(cases)])
    return cases


def _sessionMaskFiles(cases: list["Case"]) -> list[Path]:
    """Lesion masks shipped beside the images (e.g. ATLAS ``anat/*_label-L_desc-T1lesion_mask``)."""
    found = []
    for case in cases:
        for folderName in SEQUENCE_FOLDERS:
            folder = case.folder / folderName
            for path in sorted(folder.glob("sub-*.nii*")) if folder.is_dir() else []:
                name = parseName(path.name)
                if name is not None and isMaskName(name) and path.is_file():
                    found.append(path)
    return found


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
