"""What a reader says about each lesion of their mask: hemorrhagic transformation, arterial territory, acute or chronic.

The consensus compares two reads on anatomy, boundary *and attributes* (section 2.6), so attributes belong to a
lesion, not to the case: a case with an acute left MCA infarct and an old right PCA infarct has two answers.
Lesion numbers change whenever the mask is edited (they are the 26-connected components, largest first), so an
attribute is given at a place (RAS mm) and tied to the lesion of the *submitted* mask that holds that place when
the read is recorded; both the lesion number and the place are kept, so the record still finds its lesion after
the reviewer edits the mask (see :func:`placeLesionAttributes` and the notes flow in
:mod:`AISCommonLib.workflow.readnotes`).

Vocabularies (controlled, so two readers' answers can be compared and counted in the report):

- **hemorrhagic transformation**: ``yes``, ``no``, ``uncertain``. Hemorrhage itself is left out of the mask
  (T1 bright, T2 dark); this records that the infarct has bled, which changes its management and its signal.
- **territory** (:data:`TERRITORIES`): the arterial territories of the vascular territory atlases used for
  infarct classification (Tatu et al., Neurology 1998; Liu et al., Sci Data 2023: ACA, MCA, PCA and the
  vertebrobasilar system of brainstem and cerebellum), plus the two patterns those atlases leave between
  territories and which stroke registries classify separately: ``watershed`` (border-zone infarcts between
  two territories, a haemodynamic mechanism) and ``lacunar`` (a small deep infarct of a single perforating
  artery, < 15 mm axially, a small-vessel mechanism per TOAST and Bamford's OCSP). ``other`` covers
  territories too small for a class of their own (anterior choroidal, venous infarcts), ``uncertain`` an
  honest "cannot tell". Side is not part of the territory: it follows from the lesion's position.
- **acuity**: ``acute`` (DWI bright, ADC low: what the mask is for), ``chronic`` (an old lesion the reader
  marked or wants to point out: FLAIR bright, ADC not low), ``uncertain``.
"""

import dataclasses
import math

import numpy as np

from .errors import InputError
from .image import rasToVoxel, voxelToRas

HEMORRHAGIC_TRANSFORMATION = ("yes", "no", "uncertain")
TERRITORIES = ("aca", "mca", "pca", "vertebrobasilar", "watershed", "lacunar", "other", "uncertain")
ACUITY = ("acute", "chronic", "uncertain")
#: Attribute key -> allowed values (the names used in records, the command line and the report).
ATTRIBUTE_VALUES = {"hemorrhagic_transformation": HEMORRHAGIC_TRANSFORMATION, "territory": TERRITORIES, "acuity": ACUITY}
#: Short names the command line accepts for the attribute keys.
ATTRIBUTE_ALIASES = {"ht": "hemorrhagic_transformation", "hemorrhage": "hemorrhagic_transformation",
                     "haemorrhagic_transformation": "hemorrhagic_transformation", "age": "acuity"}
#: A place this close (mm) to a lesion but outside it still names that lesion (a click on its rim).
NEAREST_LESION_MM = 3.0


@dataclasses.dataclass(frozen=True)
class LesionAttributes:
    """A reader's attributes of the lesion at a place.

    :param ras: a point in (or on the rim of) the lesion, ``(r, a, s)`` mm.
    :param hemorrhagicTransformation: one of :data:`HEMORRHAGIC_TRANSFORMATION`, or None (not said).
    :param territory: one of :data:`TERRITORIES`, or None.
    :param acuity: one of :data:`ACUITY`, or None.
    """

    ras: tuple
    hemorrhagicTransformation: str | None = None
    territory: str | None = None
    acuity: str | None = None

    def values(self) -> dict:
        """Attribute key -> value (None when not given)."""
        return {"hemorrhagic_transformation": self.hemorrhagicTransformation, "territory": self.territory, "acuity": self.acuity}

    def validated(self) -> "LesionAttributes":
        """:raises InputError: a value outside its vocabulary, no attribute at all, or a place that is not three finite numbers."""
        if len(self.ras) != 3 or not all(isinstance(value, (int, float)) and math.isfinite(value) for value in self.ras):
            raise InputError(f"A lesion's place must be three finite numbers R, A, S in millimetres, not {self.ras!r}.")
        for key, value in self.values().items():
            if value is not None and value not in ATTRIBUTE_VALUES[key]:
                raise InputError(f"'{value}' is not a {key.replace('_', ' ')}; use one of {', '.join(ATTRIBUTE_VALUES[key])}.")
        if all(value is None for value in self.values().values()):
            raise InputError(f"The lesion at {_place(self.ras)} has no attribute; give at least one of {', '.join(ATTRIBUTE_VALUES)}.")
        return self


def _place(ras) -> str:
    """``R -32.0, A 10.0, S 41.0``."""
    return ", ".join(f"{axis} {float(value):.1f}" for axis, value in zip("RAS", ras))


def parseLesionAttributes(text: str) -> LesionAttributes:
    """Read ``KEY=VALUE[,KEY=VALUE...]@R,A,S`` (the command line's ``--lesion``), e.g. ``territory=mca,ht=no,acuity=acute@-32,10,41``.

    Keys: ``hemorrhagic_transformation`` (``ht``), ``territory``, ``acuity`` (``age``); values are case-insensitive.

    :raises InputError: no place, a place that is not three numbers, an unknown key or value.
    """
    described, separator, place = text.rpartition("@")
    if not separator:
        raise InputError(f"A lesion is written KEY=VALUE[,KEY=VALUE]@R,A,S (a point of the lesion in mm), not '{text}'.")
    try:
        ras = tuple(float(part) for part in place.split(","))
    except ValueError:
        ras = ()
    if len(ras) != 3:
        raise InputError(f"A lesion's place is written @R,A,S in millimetres, not '{text}'.")
    values = {}
    for item in filter(None, (part.strip() for part in described.split(","))):
        key, equals, value = item.partition("=")
        key = ATTRIBUTE_ALIASES.get(key.strip().lower(), key.strip().lower())
        if not equals or key not in ATTRIBUTE_VALUES:
            raise InputError(f"Unknown lesion attribute '{item}' in '{text}'; use {', '.join(ATTRIBUTE_VALUES)} (KEY=VALUE).")
        values[key] = value.strip().lower()
    return LesionAttributes(ras, values.get("hemorrhagic_transformation"), values.get("territory"), values.get("acuity")).validated()


def placeLesionAttributes(attributes: list, mask: np.ndarray, ijkToRas: np.ndarray) -> dict:
    """Tie each reader's attributes to the lesion of their mask that holds its place.

    :param attributes: :class:`LesionAttributes` list.
    :param mask: the reader's mask, bool ``[k, j, i]`` on the DWI grid.
    :param ijkToRas: 4x4 matrix of that grid.
    :return: ``{"lesions": [...], "unattributed_lesions": [...]}``: one record per attribute set (``lesion``: the
        lesion number in the mask, 26-connected, largest first; ``ras`` as given; ``centroid_ras`` and
        ``volume_ml`` of that lesion; the three attributes), and the numbers of the lesions nobody described.
    :raises InputError: a place that lies in no lesion (nor within :data:`NEAREST_LESION_MM` of one), or two
        attribute sets for one lesion.
    """
    from .lesions import labelComponents

    mask = np.asarray(mask, dtype=bool)
    components = labelComponents(mask)
    ijkToRas = np.asarray(ijkToRas, dtype=np.float64)
    voxelMm3 = abs(float(np.linalg.det(ijkToRas[:3, :3])))
    records, taken = [], {}
    for item in attributes:
        item = item.validated()
        lesion = _lesionAt(components, ijkToRas, item.ras)
        if lesion is None:
            raise InputError(f"No lesion of the mask lies at {_place(item.ras)} (nor within {NEAREST_LESION_MM:g} mm); "
                             "give the attributes at a point inside the lesion they describe.")
        if lesion in taken:
            raise InputError(f"The places {_place(taken[lesion])} and {_place(item.ras)} are in the same lesion ({lesion}); "
                             "give each lesion's attributes once.")
        taken[lesion] = item.ras
        centroid = voxelToRas(ijkToRas, components.centroidsKji[lesion])
        records.append({"lesion": lesion, "ras": [round(float(value), 3) for value in item.ras],
                        "centroid_ras": [round(float(value), 2) for value in centroid],
                        "volume_ml": round(int(components.voxels[lesion]) * voxelMm3 / 1000.0, 4), **item.values()})
    records.sort(key=lambda record: record["lesion"])
    return {"lesions": records, "unattributed_lesions": [lesion for lesion in range(1, components.count + 1) if lesion not in taken]}


def _lesionAt(components, ijkToRas: np.ndarray, ras) -> int | None:
    """The lesion holding a RAS point, else the nearest lesion voxel within :data:`NEAREST_LESION_MM`, else None."""
    if components.count == 0:
        return None
    index = np.rint(rasToVoxel(ijkToRas, ras)).astype(int)
    labels = components.labels
    if np.all(index >= 0) and np.all(index < labels.shape) and labels[tuple(index)]:
        return int(labels[tuple(index)])
    voxels = np.unravel_index(components.foreground, labels.shape)
    kji = np.stack(voxels, axis=1).astype(np.float64)
    points = voxelToRas(ijkToRas, kji)
    distances = np.linalg.norm(points - np.asarray(ras, dtype=np.float64), axis=1)
    nearest = int(np.argmin(distances))
    return int(components.foregroundLabels[nearest]) if distances[nearest] <= NEAREST_LESION_MM else None


def describeLesion(record: dict) -> str:
    """One line for the reviewer: ``lesion 2 (1.20 mL at R -32, A 10, S 41): territory MCA, acute, hemorrhagic transformation no``."""
    said = []
    if record.get("territory"):
        said.append(f"territory {record['territory'].upper() if len(record['territory']) == 3 else record['territory']}")
    if record.get("acuity"):
        said.append(record["acuity"])
    if record.get("hemorrhagic_transformation"):
        said.append(f"hemorrhagic transformation {record['hemorrhagic_transformation']}")
    where = _place(record.get("centroid_ras") or record.get("ras") or (0.0, 0.0, 0.0))
    volume = f"{record['volume_ml']:.2f} mL at " if record.get("volume_ml") is not None else "at "
    return f"lesion {record.get('lesion', '?')} ({volume}{where}): " + ", ".join(said)
