"""What a phantom case is made of: tissue and trap labels, lesion and case specifications.
"""

import dataclasses

#: Labels of the tissue map written to ``desc-tissue_dseg`` (argmax of the voxel's tissue fractions;
#: pathology labels override where the pathology fills at least half of the voxel).
TISSUE_LABELS = {
    0: "background",
    1: "scalp",
    2: "bone",
    3: "sinusAir",
    4: "csf",
    5: "greyMatter",
    6: "whiteMatter",
    7: "deepGreyMatter",
    8: "choroidPlexus",
    9: "eye",
    10: "softTissue",
    11: "acuteLesion",
    12: "t2ShineThrough",
    13: "oldLesion",
    14: "hemorrhage",
}


#: Labels of the trap map written to ``desc-traps_dseg``: where a naive seed is expected to go wrong.
TRAP_LABELS = {
    1: "csfPartialVolume",
    2: "choroidPlexus",
    3: "t2ShineThrough",
    4: "oldLesion",
    5: "hemorrhage",
    6: "susceptibility",
}


PATHOLOGY_KINDS = ("acute", "shineThrough", "old", "hemorrhage")


@dataclasses.dataclass(frozen=True)
class LesionSpec:
    """One pathological region of the phantom, as a union of ellipsoids in the head frame.

    :param kind: ``acute`` (the truth: DWI-bright, ADC core 350-600 with a rim of 600-700),
        ``shineThrough`` (T2 shine-through: DWI-bright, ADC normal to high, FLAIR-bright),
        ``old`` (chronic infarct: gliotic rim FLAIR-bright with high ADC around a CSF-like cavity)
        or ``hemorrhage`` (T1-bright, T2- and b0-dark; excluded from the truth).
    :param ellipsoids: ``((center xyz mm), (semi-axes xyz mm))`` pairs in the head frame.
    :param keepBelowPlane: optional ``((normal xyz), offsetMm)``: only points with ``normal . p <= offset``
        belong to the region (cuts a territory at the midline or at the internal capsule).
    :param coreAdcMicro: ADC of the core (acute), of the region (shineThrough) or of the gliotic rim (old).
    :param rimAdcMicro: acute only: ADC at the lesion edge, relaxing to the core over ``rimWidthMm``.
    :param t2Factor: multiplies the b0 (T2-weighted EPI) signal of the underlying tissue.
    :param flairFactor: multiplies FLAIR; 1.0 for a hyperacute (FLAIR-negative) lesion.
    :param irregularityMm: amplitude of the random displacement of the border.
    :param rimWidthMm: acute only: depth over which the ADC relaxes from the rim to the core value.
    """

    kind: str
    ellipsoids: tuple
    keepBelowPlane: tuple | None = None
    coreAdcMicro: float = 470.0
    rimAdcMicro: float = 680.0
    t2Factor: float = 1.2
    flairFactor: float = 1.4
    irregularityMm: float = 1.5
    rimWidthMm: float = 1.5


@dataclasses.dataclass
class PhantomSpec:
    """Everything that defines one synthetic case; the defaults give a healthy 3 T head.

    Shapes are ``(k, j, i)``, spacings ``(i, j, k)`` in mm, rotations ``(about R, about A, about S)`` in
    degrees applied in that order.

    :param lesions: pathological regions (see :class:`LesionSpec`).
    :param bValue: diffusion weighting of the DWI, s/mm^2.
    :param fieldStrengthT: written to sidecars; 1.5 T also lowers the SNR.
    :param dwiRotationDeg: rotation of the DWI acquisition grid in scanner RAS (oblique slices).
    :param dwiRadiological: the DWI's i axis runs right to left (LAS, as dcm2niix writes); else RAS.
    :param headRotationDeg: pose of the head in the scanner.
    :param headCenterRas: where the head frame's origin lies in scanner RAS, mm.
    :param fovCenterHeadMm: head-frame point at the centre of every grid.
    :param noiseScale: multiplies the noise of every image.
    :param ventricleScale: enlarges ventricles (atrophy with age).
    :param sulcalHalfWidthMm: half-width of the sulcal CSF clefts.
    :param whiteMatterHyperintensity: 0-1 severity of periventricular and deep white-matter
        hyperintensities (T2 shine-through with ADC ~1000).
    :param susceptibility: 0-1 strength of the skull-base EPI artifacts.
    :param motion: ghosting along the phase-encoding axis and blur, with the DWI misregistered to b0.
    :param withT1T2: also make T1w and T2w images (on the FLAIR grid).
    """

    lesions: tuple = ()
    bValue: float = 1000.0
    fieldStrengthT: float = 3.0
    dwiShape: tuple = (56, 108, 92)
    dwiSpacingMm: tuple = (2.0, 2.0, 2.0)
    dwiRotationDeg: tuple = (0.0, 0.0, 0.0)
    dwiRadiological: bool = True
    flairShape: tuple = (24, 224, 192)
    flairSpacingMm: tuple = (0.9, 0.9, 5.0)
    flairRotationDeg: tuple = (0.0, 0.0, 0.0)
    headRotationDeg: tuple = (0.0, 0.0, 0.0)
    headCenterRas: tuple = (0.0, -18.0, 12.0)
    fovCenterHeadMm: tuple = (0.0, -2.0, 6.0)
    noiseScale: float = 1.0
    ventricleScale: float = 1.0
    sulcalHalfWidthMm: float = 0.6
    whiteMatterHyperintensity: float = 0.0
    susceptibility: float = 1.0
    motion: bool = False
    withT1T2: bool = False
