"""The demo dataset: ten phantom cases that each test one thing a reader or the seed must get right.
"""

import logging
import time
from pathlib import Path

import numpy as np

from ..core.adcunits import MICRO
from ..core.atomicio import writeJsonAtomic, writeTextAtomic
from ..core.bidsvalidator import ensureBidsIgnore
from ..core.errors import InputError
from .anatomy import HEAD_SEMI_AXES_MM
from .phantom import PhantomCase, makePhantom
from .specs import TISSUE_LABELS, TRAP_LABELS, LesionSpec, PhantomSpec
from .writer import writePhantomCase

logger = logging.getLogger(__name__)


def _corticalPoint(rng: np.random.Generator, depthMm: float) -> tuple:
    """A head-frame point about ``depthMm`` below the brain surface, above the skull base."""
    semiX, semiY, semiZ, _ = HEAD_SEMI_AXES_MM
    while True:
        direction = rng.normal(size=3)
        direction[2] = abs(direction[2]) + 0.15
        direction /= np.linalg.norm(direction)
        surface = 1.0 / np.linalg.norm(direction / np.array([semiX, semiY, semiZ]))
        point = direction * (surface - 14.0 - depthMm)
        if abs(point[0]) > 8.0 and point[2] > 0.0:
            return tuple(float(value) for value in point)


def _demoScenarios(rng: np.random.Generator) -> list[dict]:
    """The demo cases: scenario, spec and how each is written."""

    def acute(ellipsoids, plane=None, core=470.0, rim=680.0, t2=1.2, flair=1.4, irregularity=1.5):
        return LesionSpec("acute", tuple(ellipsoids), plane, core, rim, t2, flair, irregularity)

    def oldLesion(center, radii):
        return LesionSpec("old", ((center, radii),), irregularityMm=2.0)

    def shine(center, radii, adc=1000.0):
        return LesionSpec("shineThrough", ((center, radii),), coreAdcMicro=adc, t2Factor=2.3, flairFactor=2.2, irregularityMm=1.0)

    dots = [((_corticalPoint(rng, rng.uniform(2.0, 9.0))), (r, r, r * 1.2)) for r in rng.uniform(2.5, 4.5, 7)]
    chain = [((-26.0, yCenter, 32.0 + rng.uniform(-2, 2)), (4.0, 5.0, 4.0)) for yCenter in (-30.0, -18.0, -6.0, 6.0, 18.0)]
    return [
        {
            "subject": "01",
            "description": "Small lacunar infarct in the left corona radiata (a few hundred mm^3), FLAIR-positive; "
            "periventricular white-matter hyperintensities and a subacute right lacune with T2 shine-through.",
            "spec": PhantomSpec(
                lesions=(acute([((-24.0, -4.0, 30.0), (4.5, 4.0, 5.5))], irregularity=0.8, core=430.0, rim=660.0), shine((22.0, 6.0, 26.0), (4.0, 4.0, 5.0))),
                whiteMatterHyperintensity=0.6,
                ventricleScale=1.2,
                sulcalHalfWidthMm=0.9,
            ),
            "age": 74,
            "sex": "M",
        },
        {
            "subject": "02",
            "description": "Large left MCA territorial infarct (cortex, insula, lentiform nucleus; tens of ml), FLAIR-positive, "
            "with a petechial hemorrhage (T1-bright, excluded from the truth) and an old right frontal infarct; T1w, T2w and eADC provided.",
            "spec": PhantomSpec(
                lesions=(
                    acute([((-46.0, 6.0, 12.0), (26.0, 38.0, 26.0)), ((-28.0, 2.0, 4.0), (12.0, 16.0, 12.0))], ((1.0, 0.0, 0.0), -12.0), 420.0, 690.0, 1.25, 1.5, 2.5),
                    oldLesion((44.0, 38.0, 30.0), (11.0, 12.0, 10.0)),
                    LesionSpec("hemorrhage", (((-38.0, 10.0, 8.0), (4.0, 5.0, 4.0)),), irregularityMm=0.8),
                ),
                withT1T2=True,
                headRotationDeg=(3.0, 0.0, -4.0),
            ),
            "writeEadc": True,
            "age": 68,
            "sex": "F",
        },
        {
            "subject": "03",
            "description": "Multifocal embolic infarcts: seven small cortical and subcortical dots in several territories; ADC file named *_ADC.",
            "spec": PhantomSpec(lesions=tuple(acute([dot], core=rng.uniform(430, 540), irregularity=0.6) for dot in dots), whiteMatterHyperintensity=0.3),
            "layout": "bidsUpperAdc",
            "age": 61,
            "sex": "M",
        },
        {
            "subject": "04",
            "description": "Hyperacute right MCA cortical infarct, DWI-positive / FLAIR-negative (< 4.5 h); 1.5 T with b=800.",
            "spec": PhantomSpec(
                lesions=(acute([((48.0, 14.0, 26.0), (14.0, 16.0, 13.0))], ((-1.0, 0.0, 0.0), -20.0), 480.0, 690.0, 1.03, 1.0, 2.0),),
                fieldStrengthT=1.5,
                bValue=800.0,
                dwiRadiological=False,
            ),
            "hyperacute": True,
            "age": 57,
            "sex": "F",
        },
        {
            "subject": "05",
            "description": "No acute lesion: white-matter hyperintensities, a subacute T2 shine-through lesion (DWI-bright, ADC ~1050) "
            "and an old left occipital infarct; the truth is empty.",
            "spec": PhantomSpec(
                lesions=(shine((30.0, -30.0, 38.0), (7.0, 8.0, 6.0), 1050.0), oldLesion((-30.0, -62.0, 14.0), (10.0, 12.0, 10.0))),
                whiteMatterHyperintensity=0.8,
                ventricleScale=1.3,
                sulcalHalfWidthMm=1.0,
            ),
            "age": 79,
            "sex": "F",
        },
        {
            "subject": "06",
            "description": "Left PCA occipital infarct with severe motion (ghosting, blur, DWI misregistered to b0): a reader should mark it invalid.",
            "spec": PhantomSpec(lesions=(acute([((-22.0, -64.0, 10.0), (12.0, 14.0, 11.0))], ((1.0, 0.0, 0.0), -3.0)),), motion=True),
            "expectInvalid": True,
            "age": 83,
            "sex": "M",
        },
        {
            "subject": "07",
            "description": "Right cerebellar infarct next to the skull-base artifacts; ADC stored in mm^2/s floats (0.0007).",
            "spec": PhantomSpec(lesions=(acute([((22.0, -58.0, -32.0), (10.0, 10.0, 8.0))], ((-1.0, 0.0, 0.0), -4.0)),), susceptibility=1.2),
            "adcUnit": "mm2/s",
            "age": 66,
            "sex": "M",
        },
        {
            "subject": "strokecase0008",
            "session": "0001",
            "description": "ISLES 2022-like flat session folder (lower-case names, b value only in the sidecar): left frontal "
            "cortical-subcortical infarct; ADC stored in 1e-3 mm^2/s floats (0.7).",
            "spec": PhantomSpec(lesions=(acute([((-40.0, 42.0, 22.0), (14.0, 12.0, 12.0))], ((1.0, 0.0, 0.0), -10.0)),), whiteMatterHyperintensity=0.4),
            "layout": "flat",
            "adcUnit": "1e-3",
            "age": 71,
            "sex": "F",
        },
        {
            "subject": "09",
            "description": "Oblique DWI acquisition (grid rotated 15 deg about R and -12 deg about A, head tilted alike); right "
            "striatocapsular infarct; FLAIR axial (not oblique).",
            "spec": PhantomSpec(
                lesions=(acute([((22.0, 4.0, 8.0), (8.0, 14.0, 9.0))], irregularity=1.2),),
                dwiRotationDeg=(15.0, -12.0, 0.0),
                headRotationDeg=(13.0, -10.0, 2.0),
            ),
            "age": 64,
            "sex": "M",
        },
        {
            "subject": "10",
            "description": "Left internal border-zone infarcts (a chain of small lesions in the centrum semiovale); DWI as a 4D series [b0, b1000] with .bval/.bvec.",
            "spec": PhantomSpec(lesions=(acute(chain, core=500.0, irregularity=1.0),), whiteMatterHyperintensity=0.2),
            "dwiSeries": True,
            "age": 59,
            "sex": "F",
        },
    ]


_README = """# AIS synthetic phantom dataset

Synthetic MRI of acute ischemic stroke for testing and demonstrating the AIS annotation tools.
Every image was generated by `AISCommonLib.synthetic.phantom`; no person was scanned and the
participant table is invented. The scenario of each case is in
`derivatives/phantom-truth/sub-*/ses-*/*_desc-truth_dwi_lesionmask.json`.

- `sub-*/ses-*/dwi`: DWI (b1000 trace, or a [b0, b] series), ADC (unit varies by case on purpose),
  optional eADC; `anat`: FLAIR on its own grid (0.9 x 0.9 x 5 mm), optional T1w/T2w.
- `sub-strokecase0008/ses-0001`: an ISLES 2022-like flat folder with lower-case names.
- `derivatives/phantom-truth`: ground-truth lesion masks on the DWI grid, tissue labels
  (`desc-tissue_dseg`) and the regions that trap a naive ADC threshold (`desc-traps_dseg`).
"""


def _writeDatasetFiles(root: Path, participants: list[dict]) -> dict:
    from .. import __version__

    paths = {
        "description": root / "dataset_description.json",
        "participants": root / "participants.tsv",
        "participantsJson": root / "participants.json",
        "readme": root / "README",
        "derivativeDescription": root / "derivatives" / "phantom-truth" / "dataset_description.json",
    }
    generatedBy = [{"Name": "AISCommonLib.synthetic.phantom", "Version": __version__}]
    writeJsonAtomic(
        paths["description"],
        {"Name": "AIS synthetic phantom", "BIDSVersion": "1.9.0", "DatasetType": "raw", "License": "CC0", "GeneratedBy": generatedBy},
    )
    rows = ["participant_id\tage\tsex"] + [f"sub-{row['subject']}\t{row['age']}\t{row['sex']}" for row in participants]
    writeTextAtomic(paths["participants"], "\n".join(rows) + "\n")
    writeJsonAtomic(
        paths["participantsJson"],
        {
            "age": {"Description": "Age of the synthetic participant", "Units": "year"},
            "sex": {"Description": "Sex of the synthetic participant", "Levels": {"M": "male", "F": "female"}},
        },
    )
    writeTextAtomic(paths["readme"], _README)
    ensureBidsIgnore(root)
    writeJsonAtomic(
        paths["derivativeDescription"],
        {
            "Name": "AIS phantom ground truth",
            "BIDSVersion": "1.9.0",
            "DatasetType": "derivative",
            "GeneratedBy": generatedBy,
            "TissueLabels": {str(key): value for key, value in TISSUE_LABELS.items()},
            "TrapLabels": {str(key): value for key, value in TRAP_LABELS.items()},
        },
    )
    return paths


def makeDemoDataset(root, seed: int = 0, progress=None) -> list[PhantomCase]:
    """Write the demo BIDS dataset (ten cases, ground truth in ``derivatives/phantom-truth``).

    Each case draws from its own generator seeded by ``(seed, case index)``, so a case does not change
    when another one does. Files are written atomically; an existing dataset at ``root`` is overwritten
    file by file.

    :param root: dataset folder (created if missing).
    :param seed: makes the whole dataset reproducible.
    :param progress: optional ``(fraction, message)`` callable; it may raise OperationCancelled, which
        stops after the current file and propagates (files already written stay complete).
    :return: the cases, in the order written.
    """
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise InputError(f"Cannot create the demo dataset: '{root}' exists and is not a folder.")
    scenarios = _demoScenarios(np.random.default_rng([seed, 1000]))
    cases = []
    started = time.perf_counter()
    for index, scenario in enumerate(scenarios):
        subject, session = scenario["subject"], scenario.get("session", "01")
        if progress:
            progress(index / len(scenarios), f"Generating sub-{subject}_ses-{session}")
        images = makePhantom(scenario["spec"], np.random.default_rng([seed, index]))
        layout, adcUnit = scenario.get("layout", "bids"), scenario.get("adcUnit", MICRO.key)
        paths = writePhantomCase(
            root,
            subject,
            session,
            images,
            layout=layout,
            adcUnit=adcUnit,
            dwiSeries=scenario.get("dwiSeries", False),
            writeEadc=scenario.get("writeEadc", False),
            description=scenario["description"],
        )
        cases.append(
            PhantomCase(
                subject=subject,
                session=session,
                description=scenario["description"],
                truthMask=images.truthMask,
                dwiIjkToRas=images.dwiIjkToRas,
                paths=paths,
                adcUnit=adcUnit,
                bValue=images.spec.bValue,
                layout=layout,
                traps=images.traps,
                expectInvalid=scenario.get("expectInvalid", False),
                hyperacute=scenario.get("hyperacute", False),
                lesionVolumeMl=images.lesionVolumeMl,
            )
        )
    _writeDatasetFiles(root, scenarios)
    logger.info("Wrote %d phantom cases to %s in %.1f s.", len(cases), root, time.perf_counter() - started)
    if progress:
        progress(1.0, "Demo dataset written")
    return cases
