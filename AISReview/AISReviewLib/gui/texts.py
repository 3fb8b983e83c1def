"""What the review panels say: agreement of two files, the metrics panel, the dataset summary (Qt layer)."""

from slicer.i18n import tr as _


def describeAgreement(result) -> str:
    """The agreement of two reads (``AgreementResult``) in words: verdict, overlap, volumes, distances, lesions, regions."""

    def distance(valueMm):
        return _("n/a (a read is empty)") if valueMm is None else f"{valueMm:.2f} mm"

    verdict = _("CONCORDANT: the reads agree.") if result.concordant else _("DISCORDANT: send the case to a reviewer.")
    lines = [
        verdict,
        _("Dice {dice:.3f} (concordant from {minimumDice:.2f}), Jaccard {jaccard:.3f}").format(
            dice=result.dice, minimumDice=result.parameters.minDice, jaccard=result.jaccard),
        _("Volume A {volumeA:.2f} ml, B {volumeB:.2f} ml").format(volumeA=result.volumeAMl, volumeB=result.volumeBMl),
        _("HD95 {hausdorff}, average surface distance {assd}").format(hausdorff=distance(result.hausdorffMm), assd=distance(result.assdMm)),
        _("Lesions A {lesionsA}, B {lesionsB}; lesion F1 {f1:.2f}; missed lesions {missed}").format(
            lesionsA=result.lesionsA, lesionsB=result.lesionsB, f1=result.detectionAReference.f1, missed=result.missedLesions),
        "",
        _("Discordant regions to review: {count}").format(count=len(result.allRegions)),
    ]
    small = set(result.smallRegionIds)
    for region in result.allRegions:
        if region.regionId in small:
            continue
        lines.append(_("  #{regionId} drawn by {reader}, {regionType}: {volumeMl:.3f} ml, slice {slice}, {side}").format(
            regionId=region.regionId, reader=region.drawnBy, regionType=region.regionType, volumeMl=region.volumeMl,
            slice=region.sliceNumber, side=region.side))
    if small:
        lines.append(_("  + {count} small regions (each below {limit:g} mm^3, {volume:.3f} ml together): listed in the region table, "
                       "decided one by one or all at once").format(count=len(small), limit=result.parameters.minExtentMm3,
                                                                  volume=sum(region.volumeMl for region in result.allRegions if region.regionId in small)))
    return "\n".join(lines)


def metricsText(panel: dict) -> str:
    """The metrics panel (``AISCommonLib.core.adjudication.metricsPanel``) as text."""

    def number(value, suffix=""):
        return "n/a" if value is None else f"{value:.3f}{suffix}"

    lines = [
        f"Dice {panel['dice']:.3f}  HD95 {number(panel['hd95Mm'], ' mm')}  ASSD {number(panel['assdMm'], ' mm')}",
        f"Volume A {panel['volumeAMl']:.2f} ml, B {panel['volumeBMl']:.2f} ml, final {panel['finalVolumeMl']:.2f} ml",
        f"Lesions A {panel['lesionsA']}, B {panel['lesionsB']}; lesion F1 {panel['lesionF1']:.2f}; missed {panel['missedLesions']}",
        f"Final vs A Dice {panel['finalDiceA']:.3f}, vs B {panel['finalDiceB']:.3f}",
    ]
    for side in ("a", "b"):
        for row in panel["lesionTable"][side]:
            lines.append(f"  {side.upper()}{row['id']}: {row['volume_ml']:.2f} ml, Dice {row['dice']:.2f}, matches {row['matched'] or '-'}")
    return "\n".join(lines)


def datasetText(summary: dict) -> str:
    """Status counts and per-reader agreement (``AISReviewLib.reviewqueue.datasetSummary``) as text."""
    lines = [f"{summary['cases']} cases"] + [f"  {state}: {count}" for state, count in summary["states"].items() if count]
    if summary["meanDice"] is not None:
        lines.append(f"Mean inter-reader Dice {summary['meanDice']:.3f}")
    for reader, row in summary["readers"].items():
        lines.append(f"  {reader}: {row['cases']} compared, mean Dice {row['meanDice']:.3f} (min {row['minDice']:.3f}), "
                     f"{row['discordant']} discordant")
    return "\n".join(lines)


def endedSessionText(ended) -> str:
    """What Close Scene left of the case on screen ("" when nothing was lost)."""
    if ended is None or not ended.unrecordedDecisions:
        return ""
    where = _(" They are kept in {path}.").format(path=ended.draftPath) if ended.draftPath else ""
    return _("The scene was closed with {count} decision(s) on {caseId} not recorded; the case is still assigned to you "
             "(Next case resumes it).").format(count=ended.unrecordedDecisions, caseId=ended.caseId) + where
