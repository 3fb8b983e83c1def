"""What a file name says: BIDS entities, the sequence it holds, the b value it carries, whether it is a mask.

Public datasets name the same images differently: ISLES 2022 ``sub-X_ses-Y_adc``, OpenNeuro (e.g. SOOP,
ds004889) ``sub-X_rec-TRACE_dwi`` and ``sub-X_rec-ADC_dwi``, converters ``_acq-b1000_dwi`` or ``_trace_dwi``,
and lesion masks ``_msk``, ``_desc-lesion_mask``, ``_label-L_desc-T1lesion_mask``. This module reads names only;
:mod:`cases` decides which file plays which part, and says why.
"""

import dataclasses
import json
import os
import re
import time
from pathlib import Path

NIFTI_PATTERN = re.compile(r"^(?P<stem>.+)\.nii(\.gz)?$", re.IGNORECASE)
ENTITY_PATTERN = re.compile(r"^(?P<key>[A-Za-z0-9]+)-(?P<value>[A-Za-z0-9.+]*)$")
#: Entities whose values describe an image's contents (reconstruction, acquisition, description).
DESCRIBING_ENTITIES = ("acq", "rec", "desc")
#: Words (case-insensitive, whole alphabetic runs of an entity value or a bare token) that name an image.
EADC_WORDS = {"eadc", "expadc", "exponentialadc"}
ADC_WORDS = {"adc", "adcmap"}
TRACE_WORDS = {"trace", "tracew", "traceweighted", "isodwi"}
#: A b value in a name: ``b1000``, ``b0``, ``bval1000``, ``bvalue800`` (not preceded by a letter).
B_VALUE_PATTERN = re.compile(r"(?:^|(?<=[^a-z]))b(?:val(?:ue)?)?(?P<b>\d{1,5})(?!\d)")
#: Last suffixes of the sequences the reading uses (lower case) -> sequence key.
SEQUENCE_SUFFIXES = {"dwi": "dwi", "trace": "dwi", "tracew": "dwi", "adc": "adc", "eadc": "eadc",
                     "flair": "flair", "t1w": "t1w", "t2w": "t2w"}
#: Last suffixes of mask files.
MASK_SUFFIXES = {"mask", "msk", "lesionmask"}
#: Words marking a mask of something other than a lesion (brain extraction, tissue classes).
NON_LESION_MASK_WORDS = ("brain", "skull", "head", "tissue", "csf", "wm", "gm")


@dataclasses.dataclass(frozen=True)
class BidsName:
    """A parsed file name ``sub-<s>[_ses-<t>][_<key>-<value>...][_<token>...]_<suffix>.nii[.gz]``.

    :param entities: entity key (lower case) -> value, as written.
    :param bareTokens: parts between entities and suffix without a dash (``trace`` in ``sub-1_trace_dwi``).
    :param suffix: the last part, as written.
    """

    stem: str
    entities: dict
    bareTokens: tuple
    suffix: str

    @property
    def subject(self) -> str | None:
        return self.entities.get("sub")

    @property
    def session(self) -> str | None:
        return self.entities.get("ses")

    @property
    def extraEntities(self) -> dict:
        """Entities other than subject and session (the ones that mark an alternative image)."""
        return {key: value for key, value in self.entities.items() if key not in ("sub", "ses")}

    @property
    def descriptors(self) -> list[str]:
        """Lower-case values of acq-/rec-/desc- and the bare tokens: what the name says about the contents."""
        return [self.entities[key].lower() for key in DESCRIBING_ENTITIES if key in self.entities] + [
            token.lower() for token in self.bareTokens
        ]

    def words(self) -> set[str]:
        """Alphabetic runs of the descriptors (``b1000trace`` -> ``b``, ``trace``)."""
        return {word for descriptor in self.descriptors for word in re.findall(r"[a-z]+", descriptor)}

    def describedBy(self, vocabulary: set[str]) -> str | None:
        """The first descriptor (as ``key-value`` or token) containing a word of ``vocabulary``, for messages."""
        for key in DESCRIBING_ENTITIES:
            if key in self.entities and set(re.findall(r"[a-z]+", self.entities[key].lower())) & vocabulary:
                return f"{key}-{self.entities[key]}"
        for token in self.bareTokens:
            if set(re.findall(r"[a-z]+", token.lower())) & vocabulary:
                return token
        if self.suffix.lower() in vocabulary:
            return f"suffix _{self.suffix}"
        return None

    def bValue(self) -> tuple[float, str] | None:
        """A b value the name carries (``acq-b1000``, ``desc-b0``, ``_b1000_dwi``), with the part that said it."""
        for key in (*DESCRIBING_ENTITIES, *[k for k in self.entities if k not in DESCRIBING_ENTITIES and k not in ("sub", "ses")]):
            if key in self.entities and (match := B_VALUE_PATTERN.search(self.entities[key].lower())):
                return float(match["b"]), f"{key}-{self.entities[key]}"
        for token in self.bareTokens:
            if match := B_VALUE_PATTERN.search(token.lower()):
                return float(match["b"]), token
        return None


def parseName(fileName: str) -> BidsName | None:
    """Parse a NIfTI file name; None when it is not NIfTI or does not start with ``sub-``."""
    match = NIFTI_PATTERN.match(fileName)
    if not match or not fileName.startswith("sub-"):
        return None
    parts = match["stem"].split("_")
    if len(parts) < 2:
        return None
    entities, tokens = {}, []
    for part in parts[:-1]:
        entity = ENTITY_PATTERN.match(part)
        if entity:
            entities.setdefault(entity["key"].lower(), entity["value"])
        else:
            tokens.append(part)
    return BidsName(match["stem"], entities, tuple(tokens), parts[-1])


def isMaskName(name: BidsName) -> bool:
    """A lesion mask by its name: suffix ``_mask``/``_msk``/``_lesionmask`` or ``lesion`` anywhere, not a brain mask."""
    lowered = name.stem.lower()
    if "lesion" in lowered:
        return True
    if name.suffix.lower() not in MASK_SUFFIXES:
        return False
    return not any(word in descriptor for descriptor in name.descriptors for word in NON_LESION_MASK_WORDS)


def sequenceRole(name: BidsName) -> str | None:
    """Which sequence a file holds: ``dwi``, ``adc``, ``eadc``, ``flair``, ``t1w``, ``t2w``, or None.

    ``_dwi`` files are ADC or eADC maps when an acq-/rec-/desc- value or a bare token names them
    (``rec-ADC``, ``desc-eADC``), the diffusion-weighted image otherwise.
    """
    if isMaskName(name):
        return None
    key = SEQUENCE_SUFFIXES.get(name.suffix.lower())
    if key != "dwi":
        return key
    words = name.words()
    if words & EADC_WORDS:
        return "eadc"
    if words & ADC_WORDS:
        return "adc"
    return "dwi"


def isTraceName(name: BidsName) -> bool:
    """The name says the image is the trace (isotropic) DWI."""
    return bool(name.words() & TRACE_WORDS) or name.suffix.lower() in TRACE_WORDS


def _inheritanceApplies(candidate: Path, target: BidsName) -> bool:
    """BIDS inheritance: a sidecar applies when its entities are a subset of the file's and the suffix matches."""
    stem = candidate.name[: -len(candidate.suffix)]
    parts = stem.split("_")
    if parts[-1].lower() != target.suffix.lower():
        return False
    for part in parts[:-1]:
        entity = ENTITY_PATTERN.match(part)
        if entity is None:
            if part.lower() not in (token.lower() for token in target.bareTokens):
                return False
        elif target.entities.get(entity["key"].lower()) != entity["value"]:
            return False
    return True


def companionFiles(niftiPath: Path, extension: str, root: Path | None) -> list[Path]:
    """Files that describe ``niftiPath`` (``.json``, ``.bval``, ``.bvec``), the most general first.

    The file beside it with the same stem comes last (it wins); with ``root``, sidecars in the parent
    folders up to ``root`` apply too under the BIDS inheritance principle (e.g. a dataset-level
    ``rec-TRACE_dwi.json``).
    """
    niftiPath = Path(niftiPath)
    match = NIFTI_PATTERN.match(niftiPath.name)
    if match is None:
        return []
    found = []
    exact = niftiPath.with_name(match["stem"] + extension)
    name = parseName(niftiPath.name)
    if name is not None and root is not None:
        root = Path(root)
        folder = niftiPath.parent
        levels = []
        while True:
            levels.append(folder)
            if folder == root or root not in folder.parents:
                break
            folder = folder.parent
        for level in reversed(levels):
            for candidate in _filesEndingWith(level, extension):
                if candidate != exact and candidate.is_file() and _inheritanceApplies(candidate, name):
                    found.append(candidate)
    if exact.is_file():
        found.append(exact)
    return found


#: (folder, extension) -> (modification time in ns, sorted names with that ending) of large folders: a dataset root
#: with thousands of ``sub-*`` folders is otherwise listed for every image's sidecars (quadratic in the cases).
_LISTINGS: dict[tuple[str, str], tuple[int, list[str]]] = {}
_CACHED_LISTING_MIN_ENTRIES = 500
#: A folder changed this recently may change again within the same timestamp tick: its listing is not kept.
_SETTLED_NS = 2_000_000_000


def _filesEndingWith(folder: Path, extension: str) -> list[Path]:
    """The entries of ``folder`` whose names end with ``extension``, sorted (what ``sorted(folder.glob("*" + extension))`` gives).

    The listing of a large folder is kept while the folder's modification time stays the same.
    """
    try:
        stamp = os.stat(folder).st_mtime_ns
    except OSError:
        return []
    key = (str(folder), extension)
    cached = _LISTINGS.get(key)
    if cached is not None and cached[0] == stamp:
        return [folder / name for name in cached[1]]
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    matching = sorted(name for name in names if name.endswith(extension))
    if len(names) >= _CACHED_LISTING_MIN_ENTRIES and time.time_ns() - stamp > _SETTLED_NS:
        _LISTINGS[key] = (stamp, matching)
    return [folder / name for name in matching]


def readSidecar(niftiPath: Path, root: Path | None = None) -> tuple[dict, list[Path]]:
    """The merged JSON sidecar of a file (inherited ones first, the closest wins) and the files it came from.

    :raises ValueError: a sidecar is not valid JSON (the caller names the case).
    """
    merged, sources = {}, []
    for path in companionFiles(niftiPath, ".json", root):
        document = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(document, dict):
            merged.update(document)
            sources.append(path)
    return merged, sources
