"""Turn a feature column into readable bins (the atoms of slices and error patterns).

Categorical columns keep their values. Numeric columns are cut at quantiles rounded to
three significant digits, so the label of a bin is exactly the rule that selects its
rows ("age ∈ [28, 37)"). A value that holds at least 1/bins of the rows (a point mass,
like ``capital_gain = 0``) becomes its own bin instead of swallowing its neighbours.
Missing values always form their own bin, "(missing)".

Each bin carries a condition ``{"column", "op", "value"}`` that :func:`condition_mask`
can apply to new data, e.g. the held-out half when confirming an error pattern.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["ColumnBins", "bin_column", "condition_mask", "format_number"]

MISSING_LABEL = "(missing)"
OTHER_LABEL = "(other)"


def format_number(value: Any) -> str:
    """A short, exact-enough rendering: 28, 0.125, 1.5e+06."""
    v = float(value)
    if math.isfinite(v) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    text = f"{v:.6g}"
    return text if float(text) == v else repr(v)  # the label must be the exact rule


def _nice(value: float, integer_data: bool) -> float:
    """Round a cut point to three significant digits (whole numbers for integer data)."""
    if value == 0 or not math.isfinite(value):
        return float(value)
    digits = 3 - int(math.floor(math.log10(abs(value)))) - 1
    rounded = round(value, digits)
    if integer_data:
        rounded = round(rounded)
    return float(rounded)


def _value_repr(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    return value


@dataclass(frozen=True)
class ColumnBins:
    """Bins of one column.

    ``codes[i]`` is the bin of row ``i``; ``labels[j]`` the readable rule of bin ``j``
    and ``conditions[j]`` the same rule as data.
    """

    column: str
    kind: str  # "categorical" or "numeric"
    codes: np.ndarray
    labels: list[str]
    conditions: list[dict[str, Any]]

    @property
    def n_bins(self) -> int:
        return len(self.labels)


def bin_column(
    values: pd.Series | np.ndarray,
    column: str,
    *,
    bins: int = 5,
    max_categories: int = 50,
) -> ColumnBins:
    """Bin one column; see the module docstring for the rules."""
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    series = series.reset_index(drop=True)
    if _is_numeric(series):
        numeric = series.to_numpy(dtype=float, na_value=np.nan)
        finite = numeric[~np.isnan(numeric)]
        if np.unique(finite).size > bins:
            return _bin_numeric(numeric, column, bins)
    return _bin_categorical(series, column, max_categories)


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _bin_categorical(series: pd.Series, column: str, max_categories: int) -> ColumnBins:
    codes, uniques = pd.factorize(series, use_na_sentinel=True, sort=False)
    uniques = list(uniques)
    if isinstance(series.dtype, pd.CategoricalDtype):
        order = list(series.cat.categories)
        uniques_order = sorted(range(len(uniques)), key=lambda j: order.index(uniques[j]))
    else:
        try:
            uniques_order = sorted(range(len(uniques)), key=lambda j: uniques[j])
        except TypeError:  # mixed types: order of first appearance
            uniques_order = list(range(len(uniques)))
    counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
    keep = uniques_order
    other: list[int] = []
    if len(uniques) > max_categories:
        top = set(np.argsort(-counts, kind="stable")[: max_categories - 1].tolist())
        keep = [j for j in uniques_order if j in top]
        other = [j for j in uniques_order if j not in top]
    remap = np.full(len(uniques) + 1, -1, dtype=np.int64)
    labels: list[str] = []
    conditions: list[dict[str, Any]] = []
    for new, j in enumerate(keep):
        remap[j] = new
        value = _value_repr(uniques[j])
        shown = (
            format_number(value)
            if isinstance(value, int | float) and not isinstance(value, bool)
            else str(value)
        )
        labels.append(f"{column} = {shown}")
        conditions.append({"column": column, "op": "==", "value": value})
    if other:
        kept_values = [_value_repr(uniques[j]) for j in keep]
        for j in other:
            remap[j] = len(keep)
        labels.append(f"{column} = {OTHER_LABEL}")
        conditions.append({"column": column, "op": "not in", "value": kept_values})
    new_codes = remap[codes]  # code -1 (missing) maps through remap[-1] == -1
    if (codes < 0).any():
        new_codes[codes < 0] = len(labels)
        labels.append(f"{column} = {MISSING_LABEL}")
        conditions.append({"column": column, "op": "is missing", "value": None})
    return _drop_empty(ColumnBins(column, "categorical", new_codes, labels, conditions))


def _bin_numeric(values: np.ndarray, column: str, bins: int) -> ColumnBins:
    missing = np.isnan(values)
    finite = values[~missing]
    uniq, counts = np.unique(finite, return_counts=True)
    m = finite.size
    integer_data = bool(np.all(uniq == np.round(uniq)))
    is_mass = counts >= m / bins
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
            cut = _nice(float(rest_vals[min(idx, rest_vals.size - 1)]), integer_data)
            cuts.append(cut)
    cuts = sorted(set(cuts) - set(masses))
    points = sorted([(c, "cut") for c in cuts] + [(v, "mass") for v in masses])

    segments: list[tuple[float, bool, float, bool]] = []  # lo, lo_closed, hi, hi_closed
    lo, lo_closed = -math.inf, True  # the outer bins hold -inf and +inf
    for value, kind in points:
        segments.append((lo, lo_closed, value, False))
        if kind == "mass":
            segments.append((value, True, value, True))
            lo, lo_closed = value, False
        else:
            lo, lo_closed = value, True
    segments.append((lo, lo_closed, math.inf, True))

    codes = np.full(values.shape[0], -1, dtype=np.int64)
    labels: list[str] = []
    conditions: list[dict[str, Any]] = []
    for lo, lo_closed, hi, hi_closed in segments:
        condition = _interval_condition(column, lo, lo_closed, hi, hi_closed)
        mask = _interval_mask(values, lo, lo_closed, hi, hi_closed)
        codes[mask] = len(labels)
        labels.append(_interval_label(column, lo, lo_closed, hi, hi_closed))
        conditions.append(condition)
    if missing.any():
        codes[missing] = len(labels)
        labels.append(f"{column} = {MISSING_LABEL}")
        conditions.append({"column": column, "op": "is missing", "value": None})
    return _drop_empty(ColumnBins(column, "numeric", codes, labels, conditions))


def _interval_condition(
    column: str, lo: float, lo_closed: bool, hi: float, hi_closed: bool
) -> dict[str, Any]:
    if lo == hi:
        return {"column": column, "op": "==", "value": lo}
    if math.isinf(lo) and math.isinf(hi):
        return {"column": column, "op": "not missing", "value": None}
    if math.isinf(lo):
        return {"column": column, "op": "<=" if hi_closed else "<", "value": hi}
    if math.isinf(hi):
        return {"column": column, "op": ">=" if lo_closed else ">", "value": lo}
    op = ("in [" if lo_closed else "in (") + ("]" if hi_closed else ")")
    return {"column": column, "op": op, "value": [lo, hi]}


def _interval_label(column: str, lo: float, lo_closed: bool, hi: float, hi_closed: bool) -> str:
    if lo == hi:
        return f"{column} = {format_number(lo)}"
    if math.isinf(lo) and math.isinf(hi):
        return f"{column} is not missing"
    if math.isinf(lo):
        return f"{column} {'≤' if hi_closed else '<'} {format_number(hi)}"
    if math.isinf(hi):
        return f"{column} {'≥' if lo_closed else '>'} {format_number(lo)}"
    left = "[" if lo_closed else "("
    right = "]" if hi_closed else ")"
    return f"{column} ∈ {left}{format_number(lo)}, {format_number(hi)}{right}"


def _interval_mask(
    values: np.ndarray, lo: float, lo_closed: bool, hi: float, hi_closed: bool
) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        above = values >= lo if lo_closed else values > lo
        below = values <= hi if hi_closed else values < hi
    return above & below


def _drop_empty(b: ColumnBins) -> ColumnBins:
    counts = np.bincount(b.codes[b.codes >= 0], minlength=b.n_bins)
    keep = np.flatnonzero(counts > 0)
    if keep.size == b.n_bins:
        return b
    remap = np.full(b.n_bins, -1, dtype=np.int64)
    remap[keep] = np.arange(keep.size)
    return ColumnBins(
        b.column,
        b.kind,
        remap[b.codes],
        [b.labels[j] for j in keep],
        [b.conditions[j] for j in keep],
    )


def condition_mask(frame: pd.DataFrame, condition: dict[str, Any]) -> np.ndarray:
    """Rows of ``frame`` that satisfy one condition made by :func:`bin_column`."""
    series = frame[condition["column"]]
    op, value = condition["op"], condition["value"]
    isna = series.isna().to_numpy()
    if op == "is missing":
        return isna
    if op == "not missing":
        return ~isna
    if op in ("==", "not in") and not _is_numeric(series):
        if op == "==":
            return (series == value).fillna(False).to_numpy(dtype=bool) & ~isna
        return (~series.isin(value)).to_numpy(dtype=bool) & ~isna
    numeric = series.to_numpy(dtype=float, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        if op == "==":
            return numeric == float(value)
        if op == "not in":
            return ~np.isin(numeric, np.asarray(value, dtype=float)) & ~isna
        if op == "<":
            return numeric < value
        if op == "<=":
            return numeric <= value
        if op == ">":
            return numeric > value
        if op == ">=":
            return numeric >= value
    if op.startswith("in "):
        lo, hi = value
        return _interval_mask(numeric, lo, op[3] == "[", hi, op[4] == "]")
    raise ValueError(f"unknown condition op {op!r}")
