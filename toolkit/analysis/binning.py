"""Turn a feature column into readable bins (the atoms of slices and error patterns).

Categorical columns keep their values. Numeric columns are cut at quantiles rounded to
three significant digits, so the label of a bin is exactly the rule that selects its
rows ("age ∈ [28, 37)"). A value that holds at least 1/bins of the rows (a point mass,
like ``capital_gain = 0``) becomes its own bin instead of swallowing its neighbours.
Missing values always form their own bin, "(missing)".

Each bin carries a :class:`~toolkit.analysis.conditions.Condition` that selects its
rows in new data too, e.g. the held-out half when confirming an error pattern.

>>> b = bin_column([1, 2, 3, 4, 5, 6, 7, 8, None], "x", bins=2)
>>> b.labels  # the cut is the value where half of the rows are reached
['x < 4', 'x ≥ 4', 'x = (missing)']
>>> b.codes.tolist()
[0, 0, 0, 1, 1, 1, 1, 1, 2]
>>> b.conditions[0].to_dict()
{'column': 'x', 'op': '<', 'value': 4.0}
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from numbers import Integral

import numpy as np
import pandas as pd

from toolkit._json import to_python
from toolkit._validation import ARRAY_LIKE, Interval, validate_params
from toolkit.analysis.conditions import Condition, format_number

__all__ = ["ColumnBins", "bin_column"]

MISSING_LABEL = "(missing)"
#: The largest finite float: ``x > _FLOAT_MAX`` is ``x = inf`` in a rule JSON can hold.
_FLOAT_MAX = float(np.finfo(np.float64).max)
OTHER_LABEL = "(other)"


def _nice(value: float, integer_data: bool) -> float:
    """Round a cut point to three significant digits (whole numbers for integer data)."""
    if value == 0 or not math.isfinite(value):
        return float(value)
    digits = 3 - int(math.floor(math.log10(abs(value)))) - 1
    rounded = round(value, digits)
    if integer_data:
        rounded = round(rounded)
    return float(rounded)


@dataclass(frozen=True)
class ColumnBins:
    """Bins of one column.

    ``codes[i]`` is the bin of row ``i``; ``conditions[j]`` the rule of bin ``j`` and
    ``labels[j]`` (always ``conditions[j].label``) the same rule in words.
    """

    column: str
    kind: str  # "categorical" or "numeric"
    codes: np.ndarray
    conditions: list[Condition]
    labels: list[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", [c.label for c in self.conditions])

    @property
    def n_bins(self) -> int:
        return len(self.conditions)


@validate_params(
    {
        "values": [ARRAY_LIKE],
        "column": [str],
        "bins": [Interval(Integral, 2, None)],
        "max_categories": [Interval(Integral, 1, None)],
        "weights": [ARRAY_LIKE, None],
    }
)
def bin_column(
    values: pd.Series | np.ndarray,
    column: str,
    *,
    bins: int = 5,
    max_categories: int = 50,
    weights: np.ndarray | None = None,
) -> ColumnBins:
    """Bin one column; see the module docstring for the rules.

    Parameters
    ----------
    values : array-like of shape (n_samples,)
    column : str
        The column name the conditions and labels use.
    bins : int, default=5
        Quantile bins of a numeric column; a numeric column with at most ``bins``
        distinct values is binned by value.
    max_categories : int, default=50
        A categorical column with more values keeps the most frequent
        ``max_categories - 1`` and groups the rest as ``"(other)"``.
    weights : array-like of shape (n_samples,), default=None
        Row weights (``Predictions.sample_weight``): a numeric column's cuts and point
        masses are then quantiles of the weight, so a row of weight 3 counts as three
        rows and a row of weight 0 as none (categorical columns keep their row counts).

    Returns
    -------
    ColumnBins
    """
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    series = series.reset_index(drop=True)
    if _is_numeric(series):
        numeric = series.to_numpy(dtype=float, na_value=np.nan)
        w = None if weights is None else np.asarray(weights, dtype=float)
        counted = ~np.isnan(numeric) if w is None else ~np.isnan(numeric) & (w > 0)
        if np.unique(numeric[counted]).size > bins:
            return _bin_numeric(numeric, column, bins, w)
    return _bin_categorical(series, column, max_categories)


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _missing(column: str) -> Condition:
    return Condition(column, "is missing", text=f"{column} = {MISSING_LABEL}")


def _category_order(series: pd.Series, uniques: list) -> list[int]:
    if isinstance(series.dtype, pd.CategoricalDtype):
        order = list(series.cat.categories)
        return sorted(range(len(uniques)), key=lambda j: order.index(uniques[j]))
    try:
        return sorted(range(len(uniques)), key=lambda j: uniques[j])
    except TypeError:  # mixed types: order of first appearance
        return list(range(len(uniques)))


def _bin_categorical(series: pd.Series, column: str, max_categories: int) -> ColumnBins:
    codes, uniques = pd.factorize(series, use_na_sentinel=True, sort=False)
    uniques = list(uniques)
    keep = _category_order(series, uniques)
    counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
    other: list[int] = []
    if len(uniques) > max_categories:
        top = set(np.argsort(-counts, kind="stable")[: max_categories - 1].tolist())
        other = [j for j in keep if j not in top]
        keep = [j for j in keep if j in top]
    remap = np.full(len(uniques) + 1, -1, dtype=np.int64)
    conditions: list[Condition] = []
    for new, j in enumerate(keep):
        remap[j] = new
        conditions.append(Condition(column, "==", to_python(uniques[j])))
    if other:
        remap[other] = len(keep)
        kept_values = tuple(to_python(uniques[j]) for j in keep)
        conditions.append(
            Condition(column, "not in", kept_values, text=f"{column} = {OTHER_LABEL}")
        )
    new_codes = remap[codes]  # code -1 (missing) maps through remap[-1] == -1
    if (codes < 0).any():
        new_codes[codes < 0] = len(conditions)
        conditions.append(_missing(column))
    return _drop_empty(ColumnBins(column, "categorical", new_codes, conditions))


def _cut_points(
    finite: np.ndarray, bins: int, weights: np.ndarray | None = None
) -> list[tuple[float, str]]:
    """Sorted ``(value, "cut" | "mass")``: rounded quantile cuts and point masses (of
    the weight, when ``weights`` are given: rows of weight 0 do not count)."""
    if weights is not None:
        finite, weights = finite[weights > 0], weights[weights > 0]
    uniq, inverse, counts = np.unique(finite, return_inverse=True, return_counts=True)
    if weights is not None:
        counts = np.bincount(inverse, weights=weights, minlength=uniq.size)
    integer_data = bool(np.all(uniq == np.round(uniq)))
    is_mass = counts >= counts.sum() / bins
    masses = uniq[is_mass].tolist()
    k = bins - len(masses)
    cuts: list[float] = []
    rest = ~is_mass & np.isfinite(uniq)  # cuts come from finite values only
    if k >= 2 and rest.any():
        rest_vals, rest_counts = uniq[rest], counts[rest]
        cum = np.cumsum(rest_counts)
        total = cum[-1]
        for j in range(1, k):
            idx = int(np.searchsorted(cum, j / k * total, side="left"))
            cuts.append(_nice(float(rest_vals[min(idx, rest_vals.size - 1)]), integer_data))
    cuts = sorted(set(cuts) - set(masses))
    return sorted([(c, "cut") for c in cuts] + [(v, "mass") for v in masses])


def _segment_condition(
    column: str, lo: float, lo_closed: bool, hi: float, hi_closed: bool
) -> Condition | None:
    """The rule of the rows between two points (infinite ends are one-sided); None when
    no value can lie there (a half-open segment between equal points).

    An infinite value of the data (a point mass at ±inf) is written with the largest
    finite float, ``x > 1.8e308`` for ``x = inf``, so that the rule's JSON holds a number
    (JSON has no infinity) and selects exactly those rows; a segment next to it excludes
    it the same way.
    """
    if lo == hi:
        if not (lo_closed and hi_closed):
            return None
        if math.isinf(lo):
            op, bound = (">", _FLOAT_MAX) if lo > 0 else ("<", -_FLOAT_MAX)
            return Condition(column, op, bound, text=f"{column} = {format_number(lo)}")
        return Condition(column, "==", lo)
    if lo == -math.inf and not lo_closed:  # next to a mass at -inf: finite values only
        return _finite_side(column, ">", hi, hi_closed)
    if hi == math.inf and not hi_closed:  # next to a mass at +inf
        return _finite_side(column, "<", lo, lo_closed)
    if math.isinf(lo) and math.isinf(hi):
        return Condition(column, "not missing")
    if math.isinf(lo):
        return Condition(column, "<=" if hi_closed else "<", hi)
    if math.isinf(hi):
        return Condition(column, ">=" if lo_closed else ">", lo)
    op = ("in [" if lo_closed else "in (") + ("]" if hi_closed else ")")
    return Condition(column, op, (lo, hi))


def _finite_side(column: str, infinite: str, end: float, closed: bool) -> Condition:
    """The finite values up to ``end`` (``infinite`` "<": from ``end`` up, short of +inf;
    ">": up to ``end``, above -inf); labelled as the one-sided rule plus "finite"."""
    if infinite == "<":
        value = (end, _FLOAT_MAX)
        op = ("in [" if closed else "in (") + "]"
        label = f"{column} {'≥' if closed else '>'} {format_number(end)}, finite"
    else:
        value = (-_FLOAT_MAX, end)
        op = "in [" + ("]" if closed else ")")
        label = f"{column} {'≤' if closed else '<'} {format_number(end)}, finite"
    if math.isinf(end):  # both ends at a mass: every finite value
        value, op = (-_FLOAT_MAX, _FLOAT_MAX), "in []"
        label = f"{column} finite"
    return Condition(column, op, value, text=label)


def _bin_numeric(
    values: np.ndarray, column: str, bins: int, weights: np.ndarray | None = None
) -> ColumnBins:
    missing = np.isnan(values)
    segments = []
    lo, lo_closed = -math.inf, True  # the outer bins hold -inf and +inf
    kept = None if weights is None else weights[~missing]
    for value, kind in _cut_points(values[~missing], bins, kept):
        segments.append(_segment_condition(column, lo, lo_closed, value, False))
        if kind == "mass":
            segments.append(_segment_condition(column, value, True, value, True))
        lo, lo_closed = value, kind == "cut"
    segments.append(_segment_condition(column, lo, lo_closed, math.inf, True))
    conditions = [c for c in segments if c is not None]

    frame = pd.DataFrame({column: values}, copy=False)
    codes = np.full(values.shape[0], -1, dtype=np.int64)
    for j, condition in enumerate(conditions):
        codes[condition.mask(frame)] = j
    if missing.any():
        codes[missing] = len(conditions)
        conditions.append(_missing(column))
    return _drop_empty(ColumnBins(column, "numeric", codes, conditions))


def _drop_empty(b: ColumnBins) -> ColumnBins:
    counts = np.bincount(b.codes[b.codes >= 0], minlength=b.n_bins)
    keep = np.flatnonzero(counts > 0)
    if keep.size == b.n_bins:
        return b
    remap = np.full(b.n_bins, -1, dtype=np.int64)
    remap[keep] = np.arange(keep.size)
    return ColumnBins(b.column, b.kind, remap[b.codes], [b.conditions[j] for j in keep])
