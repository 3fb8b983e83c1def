"""b values and the b~1000 image: where a b value comes from, and which volume(s) of a series are the DWI.

Datasets ship diffusion data three ways: a 3D b1000 (trace) image, a 4D series (b0 and directional
volumes, b values in a ``.bval`` or a sidecar list), or one file per b value (``acq-b0_dwi``,
``acq-b1000_dwi``). The consensus reads b = 1000 s/mm^2: any other b is used but named in a warning,
never chosen silently; a series whose volumes cannot be told apart is an error, not a guess.
"""

import dataclasses
import re
from pathlib import Path

import numpy as np

from .bidsnames import companionFiles, parseName, readSidecar
from .errors import InputError

#: b values (s/mm^2) up to this count as b0.
B0_MAXIMUM = 50.0
#: The b value the consensus reads, s/mm^2.
NOMINAL_B = 1000.0
#: |b - 1000| up to this counts as b = 1000 (scanners and dcm2niix write 995, 1005 for a nominal 1000).
NOMINAL_B_TOLERANCE = 25.0
#: "Near 1000": among several diffusion weightings, the highest inside this range is the DWI.
NEAR_B_RANGE = (500.0, 1500.0)
#: Volumes whose b values differ by less than this (s/mm^2), or 5 %, belong to one shell.
SHELL_TOLERANCE = 50.0
#: Sidecar keys that hold a b value or a list of them (dcm2niix writes none; other converters do).
SIDECAR_B_KEYS = ("DiffusionBValue", "DiffusionBValues", "BValue", "BValues", "bval", "bvals", "bvalue", "bvalues")
#: ``b=1000``, ``b-value: 1000``, ``bval=1000`` in a NIfTI ``descrip`` field.
HEADER_B_PATTERN = re.compile(r"\bb(?:[-_ ]?val(?:ue)?)?\s*[=:]\s*(\d+(?:\.\d+)?)", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class BValues:
    """b values declared for one file and where they were read.

    :param values: one per volume (a list source), or one value for the whole file (a scalar source).
    :param source: where, for messages: ``the .bval file 'x.bval'``, ``DiffusionBValue in 'x.json'`` ...
    :param perVolume: the source lists one value per volume (``.bval``, a sidecar list).
    """

    values: tuple
    source: str
    perVolume: bool

    @property
    def single(self) -> float | None:
        """The file's one b value, when the source gives exactly one."""
        return float(self.values[0]) if len(self.values) == 1 else None


def isNominal(bValue: float) -> bool:
    """b counts as the consensus b = 1000 s/mm^2."""
    return abs(bValue - NOMINAL_B) <= NOMINAL_B_TOLERANCE


def _numbers(value) -> list[float] | None:
    values = value if isinstance(value, (list, tuple)) else [value]
    try:
        numbers = [float(item) for item in values]
    except (TypeError, ValueError):
        return None
    return numbers if numbers and all(np.isfinite(numbers)) else None


def declaredBValues(niftiPath: Path, root: Path | None = None, headerDescrip: str = "") -> list[BValues]:
    """Every source of b values for a DWI file, most authoritative first: ``.bval``, sidecar, header, file name.

    :param root: image root, for sidecars and ``.bval`` files inherited from parent folders.
    :param headerDescrip: the NIfTI ``descrip`` text, when already read.
    :raises InputError: a ``.bval`` file or sidecar that cannot be read or holds something other than numbers.
    """
    niftiPath = Path(niftiPath)
    found = []
    bvalFiles = companionFiles(niftiPath, ".bval", root)
    if bvalFiles:
        path = bvalFiles[-1]
        try:
            values = [float(value) for value in path.read_text(encoding="utf-8").split()]
        except (OSError, UnicodeDecodeError, ValueError) as error:
            raise InputError(f"The b-value file '{path}' cannot be read as numbers ({error}).") from None
        if values:
            found.append(BValues(tuple(values), f"the .bval file '{path.name}'", True))
    try:
        sidecar, sources = readSidecar(niftiPath, root)
    except (OSError, ValueError) as error:
        raise InputError(f"A sidecar of '{niftiPath.name}' is not valid JSON ({error}).") from None
    for key in SIDECAR_B_KEYS:
        if key in sidecar:
            values = _numbers(sidecar[key])
            if values is None:
                raise InputError(f"The sidecar of '{niftiPath.name}' has a {key} that is not a number or a list of numbers: {sidecar[key]!r}.")
            where = sources[-1].name if sources else "its sidecar"
            found.append(BValues(tuple(values), f"{key} in '{where}'", isinstance(sidecar[key], (list, tuple))))
            break
    if headerDescrip and (match := HEADER_B_PATTERN.search(headerDescrip)):
        found.append(BValues((float(match[1]),), f"the header description ('{match[0]}')", False))
    name = parseName(niftiPath.name)
    if name is not None and (named := name.bValue()) is not None:
        found.append(BValues((named[0],), f"the file name ({named[1]})", False))
    return found


def fileBValue(niftiPath: Path, root: Path | None = None) -> tuple[float, str] | None:
    """The single b value of a file per its metadata or name (None for series and files without one)."""
    for bValues in declaredBValues(niftiPath, root):
        if bValues.single is not None:
            return bValues.single, bValues.source
        return None  # a per-volume list: a series, not one b value
    return None


def groupShells(values) -> list[tuple[float, np.ndarray]]:
    """Volumes grouped by b value: ``[(shell b, volume indices), ...]`` in increasing b.

    The shell's b is the median of its volumes' b values (995, 1000, 1005 -> 1000).
    """
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    shells: list[list[int]] = []
    for index in order:
        if shells and values[index] - values[shells[-1][0]] <= max(SHELL_TOLERANCE, 0.05 * values[shells[-1][0]]):
            shells[-1].append(int(index))
        else:
            shells.append([int(index)])
    return [(float(np.median(values[group])), np.asarray(sorted(group))) for group in shells]


def chooseDiffusionB(bValues) -> float:
    """The b value to read among several diffusion weightings (b > 50): the highest near 1000, else the closest to 1000.

    :raises InputError: no b value above :data:`B0_MAXIMUM` (the caller names the file).
    """
    weighted = [b for b in bValues if b > B0_MAXIMUM]
    if not weighted:
        raise InputError("only b=0")
    near = [b for b in weighted if NEAR_B_RANGE[0] <= b <= NEAR_B_RANGE[1]]
    return max(near) if near else min(weighted, key=lambda b: (abs(b - NOMINAL_B), -b))


def traceImage(frames: np.ndarray) -> np.ndarray:
    """The trace (isotropic) DWI from directional volumes at one b: their geometric mean, as scanners compute it.

    For volumes S_i = S0 exp(-b D_i) the geometric mean is S0 exp(-b mean(D_i)), the mean diffusivity's
    image; an arithmetic mean would be brighter where diffusion is anisotropic (white matter tracts).
    Voxels where any volume is 0 (background) stay 0.

    :param frames: ``[n, k, j, i]``.
    :return: float32 ``[k, j, i]``.
    """
    frames = np.asarray(frames, dtype=np.float32)
    if frames.shape[0] == 1:
        return frames[0].copy()
    positive = np.all(frames > 0, axis=0)
    logs = np.log(np.where(frames > 0, frames, 1.0))
    return np.where(positive, np.exp(logs.mean(axis=0)), 0.0).astype(np.float32)


def readBvecs(niftiPath: Path, root: Path | None, volumes: int) -> np.ndarray | None:
    """Gradient directions ``[volumes, 3]`` from the ``.bvec`` file, or None (absent or unreadable as 3 x N)."""
    files = companionFiles(niftiPath, ".bvec", root)
    if not files:
        return None
    try:
        rows = [[float(value) for value in line.split()] for line in files[-1].read_text(encoding="utf-8").splitlines() if line.strip()]
        vectors = np.asarray(rows, dtype=np.float64)
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if vectors.shape == (3, volumes):
        return vectors.T
    if vectors.shape == (volumes, 3):
        return vectors
    return None


@dataclasses.dataclass
class SeriesChoice:
    """What was taken from a 4D diffusion series.

    :param dwi: float32 ``[k, j, i]`` at ``bValue``.
    :param b0: float32 ``[k, j, i]`` mean of the b0 volumes, or None.
    :param description: one sentence saying which volumes, and how they were combined.
    """

    dwi: np.ndarray
    bValue: float
    b0: np.ndarray | None
    description: str


def pickFromSeries(series: np.ndarray, bValues: BValues, bvecs: np.ndarray | None, label: str) -> SeriesChoice:
    """The b~1000 image (and b0) of a 4D diffusion series.

    Volumes at the chosen b: a volume whose gradient direction is zero (the scanner's trace, kept by some
    converters) is used as it is; otherwise the directional volumes' geometric mean (:func:`traceImage`).

    :param series: ``[volumes, k, j, i]``.
    :param bValues: one value per volume.
    :raises InputError: the count of b values does not match the volumes, or there is no b > 50.
    """
    volumes = series.shape[0]
    if not bValues.perVolume or len(bValues.values) != volumes:
        count = len(bValues.values)
        raise InputError(
            f"{label} is a 4D series of {volumes} volumes but {bValues.source} lists {count} b value{'s' if count != 1 else ''}, "
            "not one per volume; the b values do not belong to this series, so the b~1000 volume cannot be told."
        )
    values = np.asarray(bValues.values, dtype=np.float64)
    shells = groupShells(values)
    try:
        chosenB = chooseDiffusionB([b for b, _ in shells])
    except InputError:
        raise InputError(
            f"{label} holds only b=0 volumes ({volumes} volumes, b values from {bValues.source}); a diffusion-weighted b~1000 image is needed."
        ) from None
    indices = next(group for b, group in shells if b == chosenB)
    how = f"its {len(indices)} volume{'s' if len(indices) > 1 else ''} at b={chosenB:g} (volume{'s' if len(indices) > 1 else ''} {', '.join(str(i + 1) for i in indices)})"
    if bvecs is not None:
        isotropic = [int(i) for i in indices if np.linalg.norm(bvecs[i]) < 1e-6]
        if isotropic and len(isotropic) < len(indices):
            indices = np.asarray(isotropic)
            how = f"its trace volume{'s' if len(indices) > 1 else ''} at b={chosenB:g} (zero gradient direction in the .bvec: volume {', '.join(str(i + 1) for i in indices)})"
    frames = series[indices]
    if len(indices) > 1:
        how += ", combined as their geometric mean (the trace image)"
    b0Indices = np.flatnonzero(values <= B0_MAXIMUM)
    b0 = series[b0Indices].astype(np.float32).mean(axis=0) if b0Indices.size else None
    b0Text = f"; b0 is the mean of its {b0Indices.size} b=0 volume{'s' if b0Indices.size > 1 else ''}" if b0Indices.size else "; it has no b=0 volume"
    return SeriesChoice(traceImage(frames), chosenB, b0, f"{label} is a 4D series of {volumes} volumes (b values from {bValues.source}); used {how}{b0Text}.")
