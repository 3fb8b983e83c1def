"""The discordant-region list as every command prints it: size, place, who drew it, small ones grouped."""

from .output import formatTable

REGION_COLUMNS = ["id", "drawn_by", "type", "voxels", "volume_ml", "slice", "side", "small"]


def regionTable(regions: list[dict], readers: tuple[str, str] | None = None, extraColumns: tuple[str, ...] = ()) -> str:
    """A fixed-width table of ``regions`` (``discordant_regions`` rows of a comparison) and a line on the small group.

    :param readers: the two readers' names for ``A`` and ``B`` (e.g. their IDs for a reviewer); default ``A``/``B``.
    :param extraColumns: further keys to show (e.g. ``notes``).
    """
    if not regions:
        return "No discordant regions."
    names = dict(zip(("A", "B"), readers or ("A", "B")))
    rows = [{**region, "drawn_by": names.get(region.get("drawn_by"), region.get("drawn_by")), "volume_ml": f"{region['volume_ml']:.3f}",
             "small": "small" if region.get("small") else ""} for region in regions]
    lines = [formatTable(rows, REGION_COLUMNS + list(extraColumns))]
    small = [region for region in regions if region.get("small")]
    if small:
        lines.append(f"{len(small)} small region(s), {sum(region['volume_ml'] for region in small):.3f} mL in total: decide them "
                     "one by one or together (small=keep or small=drop); none is left out.")
    return "\n".join(lines)


def withNotes(regions: list[dict], records: list[dict]) -> list[dict]:
    """``regions`` with a ``notes`` column: what each reader noted about the region (see ``WorkflowStore.readRecords``)."""
    from ..workflow.casetexts import notesByRegion

    notes = notesByRegion(records)
    return [{**region, "notes": notes.get(region["id"], "")} for region in regions]
