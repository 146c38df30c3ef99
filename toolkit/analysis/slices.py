"""Metrics per slice of the data, with confidence intervals and a test against the rest.

Each slice's error rate gets a Wilson 95% interval and a one-sided test that it is
higher than the error rate of the rest of the data (pooled two-proportion z test, or
Fisher's exact test when an expected count is below 5). ``q_value`` applies the
Benjamini–Hochberg correction across every slice in the result. A slice is ``flagged``
when ``q_value < alpha`` and it has at least ``min_size`` rows.

With sample weights (``Predictions(..., sample_weight=...)``) ``n`` and ``errors`` still
count rows, and everything else is weighted: the error rate is the slice's weighted
errors over its weight, the metrics are weighted means, and the interval and the test
use the Kish effective sizes ``(Σw)² / Σw²`` of the slice and of the rest
(:func:`~toolkit.analysis._stats.effective_counts`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd

from toolkit._result import Result
from toolkit._validation import BOOLEAN, STR_LIST, Interval, validate_params
from toolkit.analysis._losses import row_losses
from toolkit.analysis._stats import (
    benjamini_hochberg,
    effective_counts,
    paired_mean_interval,
    rest_p_values,
    wilson_interval,
    worse_than_rest_p_values,
)
from toolkit.analysis.binning import ColumnBins, bin_column
from toolkit.analysis.references import Reference, align_references
from toolkit.data import Predictions
from toolkit.exceptions import ColumnNotFoundError, ValidationError

__all__ = ["REFERENCE_GAP_COLUMNS", "SliceMetrics", "row_losses", "slice_metrics"]

SLICE_COLUMNS = [
    "slice",
    "column",
    "n",
    "errors",
    "error_rate",
    "ci_low",
    "ci_high",
    "gap_pp",
    "p_value",
    "q_value",
    "flagged",
]
#: Per reference ``name``, the columns added to the slice table (``{name}_n`` ...).
REFERENCE_SUFFIXES = ("n", "error_rate", "gap_pp", "ci_low", "ci_high")
#: Columns of :meth:`SliceMetrics.reference_gaps`.
REFERENCE_GAP_COLUMNS = [
    "reference",
    "slice",
    "column",
    "n",
    "error_rate",
    "reference_error_rate",
    "gap_pp",
    "ci_low",
    "ci_high",
]


@dataclass(frozen=True, repr=False, eq=False)
class SliceMetrics(Result):
    """The table of :func:`slice_metrics` (one row per slice) and what it was measured on.

    Attributes
    ----------
    table : DataFrame
        Columns ``slice``, ``column``, ``n``, ``errors``, ``error_rate``, ``ci_low``,
        ``ci_high`` (Wilson 95%), ``gap_pp`` (slice error rate minus overall, in
        points), ``p_value``, ``q_value``, ``flagged``, then the task's metrics:
        ``accuracy`` and, with probabilities, ``log_loss`` and ``brier``; for
        regression ``mae``, ``rmse`` and ``mean_error``. Per reference ``name``:
        ``{name}_n`` (rows of the slice the reference covers), ``{name}_error_rate``
        (the reference's on them), ``{name}_gap_pp`` (the model's error rate minus the
        reference's on those rows, in points: positive when the reference does better)
        and ``{name}_ci_low``, ``{name}_ci_high`` (its paired 95% interval).
        With sample weights ``n``, ``errors`` and ``{name}_n`` count rows and every
        rate, metric, interval and test is weighted (see the module docstring).
    overall_error_rate : float
        Error rate of all rows (the reference of ``gap_pp``; weighted with weights).
    n : int
        Rows of the predictions.
    task : str
        ``"binary"``, ``"multiclass"`` or ``"regression"``.
    references : tuple of str
        Names of the reference systems compared on every slice.
    """

    overall_error_rate: float
    n: int
    task: str
    references: tuple[str, ...] = ()

    def reference_gaps(self, min_size: int = 1) -> pd.DataFrame:
        """Every slice and reference in one long table, largest gap first: the slices
        where the model is furthest behind each reference (e.g. human level).

        Columns ``reference``, ``slice``, ``column``, ``n`` (rows both cover),
        ``error_rate`` (the model's on them), ``reference_error_rate``, ``gap_pp``,
        ``ci_low``, ``ci_high``; slices with fewer than ``min_size`` covered rows are
        left out.
        """
        frames = []
        for name in self.references:
            t = self.table
            n = t[f"{name}_n"]
            ref_rate = t[f"{name}_error_rate"]
            frame = pd.DataFrame(
                {
                    "reference": name,
                    "slice": t["slice"],
                    "column": t["column"],
                    "n": n,
                    "error_rate": ref_rate + t[f"{name}_gap_pp"] / 100.0,
                    "reference_error_rate": ref_rate,
                    "gap_pp": t[f"{name}_gap_pp"],
                    "ci_low": t[f"{name}_ci_low"],
                    "ci_high": t[f"{name}_ci_high"],
                }
            )
            frames.append(frame[frame["n"] >= max(min_size, 1)])
        if not frames:
            return pd.DataFrame(columns=REFERENCE_GAP_COLUMNS)
        out = pd.concat(frames, ignore_index=True)
        return out.sort_values(["reference", "gap_pp"], ascending=[True, False], kind="stable")[
            REFERENCE_GAP_COLUMNS
        ].reset_index(drop=True)


#: The checks of :func:`slice_metrics`' parameters.
_PARAMS = {
    "p": [Predictions],
    "by": [str, STR_LIST, None],
    "bins": [Interval(Integral, 2, None)],
    "pairs": [BOOLEAN],
    "min_size": [Interval(Integral, 0, None)],
    "alpha": [Interval(Real, 0, 1, closed="neither")],
    "max_categories": [Interval(Integral, 1, None)],
    "references": [Mapping, None],
}


@validate_params(_PARAMS)
def slice_metrics(
    p: Predictions,
    by: Sequence[str] | str | None = None,
    *,
    bins: int = 5,
    pairs: bool = False,
    min_size: int = 30,
    alpha: float = 0.05,
    max_categories: int = 50,
    references: Mapping[str, Any] | None = None,
) -> SliceMetrics:
    """Error rate and the task's metrics for every slice of the named feature columns.

    Categorical columns are sliced by value; numeric columns with more than ``bins``
    distinct values are cut at rounded quantiles (see :mod:`toolkit.analysis.binning`);
    missing values form a ``"(missing)"`` slice. With ``pairs=True`` every pair of
    columns is crossed as well ("sex = Female ∧ age < 28"). Each slice is tested
    against the rest of the data (see the module docstring).

    Parameters
    ----------
    p : Predictions
        Must have features.
    by : str or list of str, default=None
        Feature columns to slice by; default all of them.
    bins : int, default=5
        Quantile bins per numeric column.
    pairs : bool, default=False
        Also slice by every pair of the columns.
    min_size : int, default=30
        Smallest slice that can be flagged.
    alpha : float in (0, 1), default=0.05
        False discovery rate for ``flagged``.
    max_categories : int, default=50
        A categorical column with more values keeps the most frequent
        ``max_categories - 1`` and groups the rest as ``"(other)"``.
    references : dict of str to Predictions or array-like, default=None
        Reference systems (another model, human labels for some rows), as in
        :func:`toolkit.compute_metrics`; each slice gets the reference's error rate on
        the rows it covers and the gap with a paired 95% interval.

    Returns
    -------
    SliceMetrics
        One row per non-empty slice, columns in the order of ``by`` (the table's
        columns are listed on :class:`SliceMetrics`).

    Examples
    --------
    >>> import toolkit as tk
    >>> p = tk.Predictions([0, 0, 1, 1, 0, 1], [0, 1, 1, 0, 0, 1],
    ...                    features={"sex": ["F", "F", "F", "M", "M", "M"]})
    >>> result = slice_metrics(p, min_size=1)
    >>> result.table[["slice", "n", "errors", "error_rate"]]
         slice  n  errors  error_rate
    0  sex = F  3       1    0.333333
    1  sex = M  3       1    0.333333
    >>> result.overall_error_rate, result.task
    (0.3333333333333333, 'binary')
    """
    columns = _slice_columns(p, by)
    refs = align_references(p, references)
    binned = {
        c: bin_column(
            p.feature(c), c, bins=bins, max_categories=max_categories, weights=p.sample_weight
        )
        for c in columns
    }
    w = p.sample_weight
    errors = p.errors.astype(float)
    losses = row_losses(p)
    if w is not None:  # weighted sums; the weighted means divide them by the weight
        losses = {name: w * values for name, values in losses.items()}
        losses |= {_W: w, _W_ERRORS: w * errors, _W_SQ: w * w}
    losses |= _reference_terms(p, refs)
    blocks = [
        _block(binned[c].codes, binned[c].n_bins, binned[c].labels, c, errors, losses)
        for c in columns
    ]
    if pairs:
        for a, b in combinations(columns, 2):
            blocks.append(_pair_block(binned[a], binned[b], errors, losses))
    table = pd.concat(blocks, ignore_index=True)
    overall = _add_tests(table, p.errors, alpha, min_size, w)
    ref_cols = _finish_references(table, refs)
    metric_cols = _finish_metrics(table, p)
    table = table[SLICE_COLUMNS + metric_cols + ref_cols]
    return SliceMetrics(
        table,
        overall_error_rate=overall,
        n=p.n,
        task=p.task,
        references=tuple(r.name for r in refs),
    )


def _reference_terms(p: Predictions, refs: list[Reference]) -> dict[str, np.ndarray]:
    """Per row, what the slices sum for each reference (0 on rows it does not cover):
    covered, its errors, and the paired error difference and its square; with sample
    weights the last three are weighted and the weight and its square are added."""
    out = {}
    w = np.ones(p.n) if p.sample_weight is None else p.sample_weight
    for i, ref in enumerate(refs):
        covered = ref.covered.astype(float)
        ref_errors = np.zeros(p.n)
        ref_errors[ref.covered] = ref.p.errors
        diff = np.zeros(p.n)
        diff[ref.covered] = ref.paired_terms(p)["error_rate"]
        parts = [("n", covered), ("err", ref_errors), ("d", diff), ("d2", diff**2)]
        if p.sample_weight is not None:
            parts = [("n", covered), *((k, w * v) for k, v in parts[1:])]
            parts += [("w", w * covered), ("w2", w * w * covered)]
        for part, values in parts:
            out[f"{_REF}{i}:{part}"] = values
    return out


#: Prefix of the per-reference sums in the working table.
_REF = "ref#"
#: The weighted sums of a slice (with sample weights): weight, weighted errors, Σw².
_W, _W_ERRORS, _W_SQ = "#w", "#w_errors", "#w_sq"


def _finish_references(table: pd.DataFrame, refs: list[Reference]) -> list[str]:
    """Turn each reference's sums into its columns (in place); returns their names."""
    names = []
    for i, ref in enumerate(refs):
        weighted = f"_sum_{_REF}{i}:w" in table
        parts = REFERENCE_PARTS + (("w", "w2") if weighted else ())
        sums = {part: table.pop(f"_sum_{_REF}{i}:{part}").to_numpy() for part in parts}
        n = np.rint(sums["n"]).astype(np.int64)
        if weighted:
            gap, low, high = paired_mean_interval(
                sums["w"], sums["d"], sums["d2"], sum_w2=sums["w2"]
            )
        else:
            gap, low, high = paired_mean_interval(n, sums["d"], sums["d2"])
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = sums["err"] / (sums["w"] if weighted else n)
        # a difference of two error rates lies in [-1, 1]; the normal interval may not
        low, high = np.clip(low, -1.0, 1.0), np.clip(high, -1.0, 1.0)
        values = {"n": n, "error_rate": rate, "gap_pp": gap * 100, "ci_low": low * 100}
        values["ci_high"] = high * 100
        for suffix in REFERENCE_SUFFIXES:
            table[f"{ref.name}_{suffix}"] = values[suffix]
            names.append(f"{ref.name}_{suffix}")
    return names


REFERENCE_PARTS = ("n", "err", "d", "d2")


def _slice_columns(p: Predictions, by: Sequence[str] | str | None) -> list[str]:
    """The columns to slice by, checked against the features of ``p``."""
    if not p.feature_names:
        raise ValidationError(
            "slice_metrics needs feature columns: pass features=... to Predictions"
        )
    columns = list(p.feature_names if by is None else [by] if isinstance(by, str) else by)
    missing = [c for c in columns if c not in p.feature_names]
    if missing:
        raise ColumnNotFoundError(
            f"slice column(s) {missing} not in features {p.feature_names[:20]}"
        )
    if not columns:
        raise ValidationError("by is empty: name at least one feature column")
    if len(set(columns)) != len(columns):
        raise ValidationError(f"by names a column twice: {columns}")
    return columns


def _add_tests(
    table: pd.DataFrame,
    errors: np.ndarray,
    alpha: float,
    min_size: int,
    w: np.ndarray | None = None,
) -> float:
    """Error rate, interval, gap, test against the rest and flag of each slice (in
    place); returns the overall error rate (weighted with ``w``)."""
    if w is None:
        n_total, errors_total = errors.shape[0], int(errors.sum())
        overall = errors_total / n_total
        table["error_rate"] = table["errors"] / table["n"]
        table["ci_low"], table["ci_high"] = wilson_interval(table["errors"], table["n"])
        p_values = worse_than_rest_p_values(
            table["errors"].to_numpy(), table["n"].to_numpy(), errors_total, n_total
        )
    else:
        total, errors_total, sq_total = w.sum(), w[errors].sum(), (w * w).sum()
        overall = float(errors_total / total)
        weight, wrong, sq = (
            table[c].to_numpy() for c in (f"_sum_{_W}", f"_sum_{_W_ERRORS}", f"_sum_{_W_SQ}")
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            table["error_rate"] = np.where(weight > 0, wrong / weight, np.nan)
        table["ci_low"], table["ci_high"] = wilson_interval(*effective_counts(wrong, weight, sq))
        p_values = rest_p_values(wrong, weight, sq, errors_total, total, sq_total)
    table["gap_pp"] = (table["error_rate"] - overall) * 100.0
    table["p_value"] = p_values
    table["q_value"] = benjamini_hochberg(table["p_value"].to_numpy())
    table["flagged"] = (table["q_value"] < alpha) & (table["n"] >= min_size)
    return overall


def _sums(
    codes: np.ndarray, n_bins: int, errors: np.ndarray, losses: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    out = {
        "n": np.bincount(codes, minlength=n_bins),
        "errors": np.bincount(codes, weights=errors, minlength=n_bins),
    }
    for name, values in losses.items():
        out[f"_sum_{name}"] = np.bincount(codes, weights=values, minlength=n_bins)
    return out


def _block(
    codes: np.ndarray,
    n_bins: int,
    labels: list[str],
    column: str,
    errors: np.ndarray,
    losses: dict[str, np.ndarray],
) -> pd.DataFrame:
    sums = _sums(codes, n_bins, errors, losses)
    frame = pd.DataFrame({"slice": labels, "column": column, **sums})
    frame["n"] = frame["n"].astype(np.int64)
    frame["errors"] = frame["errors"].round().astype(np.int64)
    return frame


def _pair_block(
    a: ColumnBins, b: ColumnBins, errors: np.ndarray, losses: dict[str, np.ndarray]
) -> pd.DataFrame:
    codes = a.codes * b.n_bins + b.codes
    n_cells = a.n_bins * b.n_bins
    labels = [f"{la} ∧ {lb}" for la in a.labels for lb in b.labels]
    frame = _block(codes, n_cells, labels, f"{a.column} × {b.column}", errors, losses)
    return frame[frame["n"] > 0].reset_index(drop=True)


def _finish_metrics(table: pd.DataFrame, p: Predictions) -> list[str]:
    n = table["n"].to_numpy(dtype=float)
    if p.sample_weight is not None:
        n = table.pop(f"_sum_{_W}").to_numpy()
        table.pop(f"_sum_{_W_ERRORS}"), table.pop(f"_sum_{_W_SQ}")
    names: list[str] = []
    sums: dict[str, Any] = {
        c[5:]: table.pop(c).to_numpy()
        for c in list(table.columns)
        if c.startswith("_sum_") and not c.startswith(f"_sum_{_REF}")
    }
    for name, total in sums.items():
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = total / n
        if name == "mse":
            table["rmse"] = np.sqrt(mean)
            names.append("rmse")
        else:
            table[name] = mean
            names.append(name)
    order = ["accuracy", "log_loss", "brier", "mae", "rmse", "mean_error"]
    return [c for c in order if c in names]
