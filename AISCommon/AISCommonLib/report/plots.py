"""Figures of the acceptance report (matplotlib, Agg backend, imported only when a figure is drawn).

Each function takes the numbers the report already computed and returns a matplotlib ``Figure``; the
report turns it into PNG bytes (:func:`figurePng`) and, for the PDF, keeps it until the PDF is written.
"""

import io
import math

#: Reader A / reader B / threshold colours, the same as the review snapshots use for the two reads.
COLOUR_A = "#1f77b4"
COLOUR_B = "#ff9f1c"
COLOUR_LIMIT = "#c0392b"
FIGURE_DPI = 110


def matplotlibAvailable() -> bool:
    """True when matplotlib can be imported (it is the ``report`` extra, not a base dependency)."""
    import importlib.util

    return importlib.util.find_spec("matplotlib") is not None


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as pyplot

    return pyplot


def figurePng(figure) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=FIGURE_DPI, bbox_inches="tight")
    return buffer.getvalue()


def closeFigure(figure) -> None:
    _pyplot().close(figure)


def diceHistogram(dice: list, f1: list, minDice: float):
    """Histograms of pairwise Dice and lesion-wise detection F1 (bins of 0.1 from 0 to 1)."""
    pyplot = _pyplot()
    figure, axes = pyplot.subplots(1, 2, figsize=(9, 3.4))
    bins = [index / 10 for index in range(11)]
    for axis, values, title in ((axes[0], dice, "Voxel-wise Dice"), (axes[1], f1, "Lesion-wise detection F1")):
        axis.hist([value for value in values if value is not None], bins=bins, color=COLOUR_A, edgecolor="white")
        axis.set_xlim(0, 1)
        axis.set_xlabel(title)
        axis.set_ylabel("pairs of reads")
        axis.yaxis.get_major_locator().set_params(integer=True)
    axes[0].axvline(minDice, color=COLOUR_LIMIT, linestyle="--", label=f"concordance Dice {minDice:g}")
    axes[0].legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    return figure


def blandAltmanPlot(analysis: dict, labels: list):
    """Bland-Altman plot of lesion volumes: difference (A - B) against the mean, bias and 95 % limits."""
    pyplot = _pyplot()
    figure, axis = pyplot.subplots(figsize=(6.5, 4.2))
    axis.scatter(analysis["means"], analysis["differences"], color=COLOUR_A, zorder=3)
    for mean, difference, label in zip(analysis["means"], analysis["differences"], labels):
        axis.annotate(label, (mean, difference), fontsize=6, xytext=(3, 3), textcoords="offset points", color="#555555")
    if analysis["bias"] is not None:
        axis.axhline(analysis["bias"], color="black", label=f"bias {analysis['bias']:+.2f} ml")
    if analysis["lower"] is not None:
        for value, name in ((analysis["upper"], "upper"), (analysis["lower"], "lower")):
            axis.axhline(value, color=COLOUR_LIMIT, linestyle="--", label=f"{name} limit {value:+.2f} ml")
    axis.axhline(0.0, color="#999999", linewidth=0.6)
    axis.set_xlabel("mean lesion volume of the two reads (ml)")
    axis.set_ylabel("reader A - reader B (ml)")
    axis.legend(fontsize=8, loc="best")
    figure.tight_layout()
    return figure


def volumeScatter(volumesA: list, volumesB: list, pearsonR, spearmanRho):
    """Reader A against reader B lesion volume, symmetric-log axes (lacunes and territorial infarcts together)."""
    pyplot = _pyplot()
    figure, axis = pyplot.subplots(figsize=(4.8, 4.5))
    axis.scatter(volumesA, volumesB, color=COLOUR_A, zorder=3)
    top = max([*volumesA, *volumesB, 1.0]) * 1.5
    axis.plot([0, top], [0, top], color="#999999", linewidth=0.8, label="identity")
    axis.set_xscale("symlog", linthresh=0.1)
    axis.set_yscale("symlog", linthresh=0.1)
    axis.set_xlim(0, top)
    axis.set_ylim(0, top)
    axis.set_xlabel("reader A volume (ml)")
    axis.set_ylabel("reader B volume (ml)")
    text = ", ".join(f"{name} {value:.3f}" for name, value in (("Pearson r", pearsonR), ("Spearman rho", spearmanRho)) if value is not None)
    axis.set_title(text or "too few pairs for a correlation", fontsize=9)
    axis.legend(fontsize=8, loc="upper left")
    figure.tight_layout()
    return figure


def readingTimes(timesByReader: dict):
    """Box plot of reading time per case (minutes), one box per reader."""
    pyplot = _pyplot()
    readers = sorted(timesByReader)
    figure, axis = pyplot.subplots(figsize=(max(3.5, 1.2 * len(readers) + 2), 3.4))
    axis.boxplot([[seconds / 60.0 for seconds in timesByReader[reader]] for reader in readers], tick_labels=readers)
    axis.set_ylabel("time on task (min): active time, else claim to submission")
    figure.tight_layout()
    return figure


def qualityPlot(values: dict, minSnr: float, minCnr: float, thresholdSequences: tuple):
    """SNR and CNR per sequence (one dot per case), the exclusion thresholds on the sequences they apply to.

    :param values: ``{"snr": {sequence: [values]}, "cnr": {...}}``.
    """
    pyplot = _pyplot()
    figure, axes = pyplot.subplots(1, 2, figsize=(9, 3.6))
    for axis, metric, limit in ((axes[0], "snr", minSnr), (axes[1], "cnr", minCnr)):
        sequences = [key for key, series in values[metric].items() if series]
        for position, key in enumerate(sequences, start=1):
            series = values[metric][key]
            jitter = [position + 0.12 * math.sin(index * 2.4) for index in range(len(series))]
            axis.scatter(jitter, series, color=COLOUR_A if key in thresholdSequences else "#7f7f7f", zorder=3, s=18)
            if key in thresholdSequences:
                axis.hlines(limit, position - 0.35, position + 0.35, color=COLOUR_LIMIT, linestyle="--")
        axis.set_xticks(range(1, len(sequences) + 1), [key.upper() for key in sequences])
        axis.set_ylabel(metric.upper())
        axis.set_ylim(bottom=0)
        if not sequences:
            axis.text(0.5, 0.5, "not measured", ha="center", transform=axis.transAxes)
    axes[0].set_title("SNR: parenchyma signal / noise sigma", fontsize=9)
    axes[1].set_title("CNR: |lesion - surrounding| / noise sigma", fontsize=9)
    figure.tight_layout()
    return figure


def likertHistogram(scores: list, minLikert: float):
    """Histogram of the readers' Likert scores (1-5) with the exclusion threshold."""
    pyplot = _pyplot()
    figure, axis = pyplot.subplots(figsize=(4.5, 3.2))
    counts = [sum(1 for score in scores if round(score) == value) for value in range(1, 6)]
    axis.bar(range(1, 6), counts, color=COLOUR_A)
    axis.axvline(minLikert - 0.5, color=COLOUR_LIMIT, linestyle="--", label=f"exclude below {minLikert:g}")
    axis.set_xticks(range(1, 6))
    axis.set_xlabel("Likert score (per read)")
    axis.set_ylabel("reads")
    axis.legend(fontsize=8)
    figure.tight_layout()
    return figure


def textPage(title: str, lines: list):
    """A portrait page of text (the PDF's summary page)."""
    pyplot = _pyplot()
    figure = pyplot.figure(figsize=(8.27, 11.69))
    figure.text(0.07, 0.95, title, fontsize=15, weight="bold", va="top")
    figure.text(0.07, 0.91, "\n".join(lines[:70]), fontsize=8.5, va="top", family="monospace")
    return figure
