"""Statistics of the acceptance report: ICC, Bland-Altman, correlations, summaries (numpy only).

Every function takes plain sequences of numbers and returns plain floats and dicts (None where a value is
undefined, e.g. a correlation of fewer than three pairs or of a constant series), never NaN.
"""

import math

import numpy as np

from ..core.errors import InputError

#: Bland-Altman limits of agreement: bias +- this many standard deviations of the differences (95 %).
LOA_SD_FACTOR = 1.96


def _finite(value) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def _pairs(x, y) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise InputError(f"Paired statistics need two 1D series of the same length, not {x.shape} and {y.shape}.")
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


def describe(values) -> dict:
    """n, mean, sd (n-1), median, quartiles, min and max of the finite values (None when empty)."""
    array = np.asarray([value for value in values if value is not None], dtype=np.float64)
    array = array[np.isfinite(array)]
    if array.size == 0:
        return {"n": 0, "mean": None, "sd": None, "median": None, "q1": None, "q3": None, "min": None, "max": None}
    return {
        "n": int(array.size),
        "mean": float(array.mean()),
        "sd": float(array.std(ddof=1)) if array.size > 1 else None,
        "median": float(np.median(array)),
        "q1": float(np.percentile(array, 25)),
        "q3": float(np.percentile(array, 75)),
        "min": float(array.min()),
        "max": float(array.max()),
    }


def pearson(x, y) -> float | None:
    """Pearson's r of the finite pairs; None with fewer than 3 pairs or a constant series."""
    x, y = _pairs(x, y)
    if x.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return _finite(np.corrcoef(x, y)[0, 1])


def ranks(values) -> np.ndarray:
    """Ranks 1..n with ties given their average rank (as Spearman's rho needs)."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="mergesort")
    result = np.empty(values.size, dtype=np.float64)
    sortedValues = values[order]
    start = 0
    while start < values.size:
        end = start
        while end + 1 < values.size and sortedValues[end + 1] == sortedValues[start]:
            end += 1
        result[order[start:end + 1]] = (start + end) / 2.0 + 1.0
        start = end + 1
    return result


def spearman(x, y) -> float | None:
    """Spearman's rho (Pearson's r of the average ranks); None with fewer than 3 pairs or a constant series."""
    x, y = _pairs(x, y)
    if x.size < 3:
        return None
    return pearson(ranks(x), ranks(y))


def blandAltman(a, b) -> dict:
    """Bland-Altman analysis of paired measurements (Bland & Altman 1986, Lancet i:307).

    :param a: first measurement per subject (e.g. reader A's lesion volume, ml).
    :param b: second measurement, same order.
    :return: ``n``, ``means`` and ``differences`` (a - b) lists, ``bias`` (mean difference), ``sd`` of the
        differences (n-1), ``lower``/``upper`` limits of agreement (bias -+ 1.96 sd); None where undefined.
    """
    a, b = _pairs(a, b)
    differences = a - b
    means = (a + b) / 2.0
    result = {"n": int(a.size), "means": means.tolist(), "differences": differences.tolist(), "bias": None, "sd": None, "lower": None, "upper": None}
    if a.size >= 1:
        result["bias"] = float(differences.mean())
    if a.size >= 2:
        sd = float(differences.std(ddof=1))
        result.update(sd=sd, lower=result["bias"] - LOA_SD_FACTOR * sd, upper=result["bias"] + LOA_SD_FACTOR * sd)
    return result


def _meanSquares(ratings) -> tuple[float, float, float, int, int]:
    data = np.asarray(ratings, dtype=np.float64)
    if data.ndim != 2:
        raise InputError(f"ICC needs a subjects x raters table, not an array of shape {data.shape}.")
    data = data[np.all(np.isfinite(data), axis=1)]
    n, k = data.shape
    if n < 2 or k < 2:
        raise InputError(f"ICC needs at least 2 subjects rated by at least 2 raters (got {n} x {k}).")
    grand = data.mean()
    rowMeans, columnMeans = data.mean(axis=1), data.mean(axis=0)
    ssRows = k * float(((rowMeans - grand) ** 2).sum())
    ssColumns = n * float(((columnMeans - grand) ** 2).sum())
    ssTotal = float(((data - grand) ** 2).sum())
    ssError = ssTotal - ssRows - ssColumns
    return ssRows / (n - 1), ssColumns / (k - 1), ssError / ((n - 1) * (k - 1)), n, k


def icc(ratings, form: str = "2,1") -> float | None:
    """Intraclass correlation of a subjects x raters table (Shrout & Fleiss 1979, Psychol Bull 86:420).

    - ``2,1``: two-way random effects, absolute agreement, single rater:
      ``(MSR - MSE) / (MSR + (k-1) MSE + k (MSC - MSE) / n)``. The report uses it for lesion volumes:
      readers are a sample of possible readers and a systematic volume bias must lower the agreement.
    - ``3,1``: two-way mixed, consistency: ``(MSR - MSE) / (MSR + (k-1) MSE)``.
    - ``1,1``: one-way random: ``(MSR - MSW) / (MSR + (k-1) MSW)`` with MSW the within-subject mean square.

    MSR, MSC, MSE: mean squares of subjects (rows), raters (columns) and residual.

    :param ratings: array ``[subject, rater]``; rows with a non-finite value are dropped.
    :return: the ICC, or None when the denominator is 0 (every value equal).
    :raises InputError: fewer than 2 subjects or raters, unknown form.
    """
    msRows, msColumns, msError, n, k = _meanSquares(ratings)
    if form == "2,1":
        denominator = msRows + (k - 1) * msError + k * (msColumns - msError) / n
    elif form == "3,1":
        denominator = msRows + (k - 1) * msError
    elif form == "1,1":
        msWithin = (msColumns * (k - 1) + msError * (n - 1) * (k - 1)) / (n * (k - 1))
        return _finite((msRows - msWithin) / (msRows + (k - 1) * msWithin)) if msRows + (k - 1) * msWithin else None
    else:
        raise InputError(f"Unknown ICC form '{form}'; use 2,1, 3,1 or 1,1.")
    return _finite((msRows - msError) / denominator) if denominator else None


def histogram(values, edges) -> list[dict]:
    """Counts of ``values`` per bin ``[edges[i], edges[i+1])``, the last bin closed: rows ``{low, high, count}``."""
    array = np.asarray([value for value in values if value is not None], dtype=np.float64)
    counts, edges = np.histogram(array[np.isfinite(array)], bins=np.asarray(edges, dtype=np.float64))
    return [{"low": float(low), "high": float(high), "count": int(count)} for low, high, count in zip(edges[:-1], edges[1:], counts)]
