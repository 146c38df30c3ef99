"""Error patterns: conjunctions of feature conditions where the model fails, ranked by errors.

The method: find the most frequent error patterns and fix the one that removes the
most error first. A pattern is ``column = value`` / bin membership / "is missing" for
up to ``max_conditions`` distinct columns. The search is exact: every conjunction with
at least ``min_support`` rows is counted (one ``bincount`` per combination of columns),
tested against the rest of the data, and corrected for multiple testing.

The search runs on a random part of the rows (``1 - holdout`` of them, stratified by
error). Each conjunction's error rate is tested against the rest of the search rows
(one-sided two-proportion z test, or Fisher's exact test for small counts) and the
p-values of all of them are corrected with Benjamini–Hochberg. Among patterns with
``q_value < alpha`` (and an error rate at least ``min_lift`` times the overall one):

- a pattern with k > 1 conditions is kept only when its error rate is significantly
  higher (p < alpha) than that of each of its k parents without it, and at least
  ``min_improvement`` times theirs, so "A ∧ B" appears only when B adds something over A;
- a pattern is dropped when one of its kept refinements explains it: once the rows of
  the refinement are removed, the rest of the pattern is no longer significantly worse
  than the data outside the pattern;
- a pattern whose rows overlap those of a pattern ranked above it with a Jaccard index
  of at least 0.8 is the same finding said twice and is not shown.

The survivors are ranked by their number of errors on all rows (equivalently by
``gain_pp``, the points of error fixing them would remove), then re-tested on the
held-out rows: ``confirmed`` says whether each is still significantly worse there
(Benjamini–Hochberg across the reported patterns).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd

from toolkit._result import Result
from toolkit._validation import RANDOM_STATE, STR_LIST, Interval, validate_params
from toolkit.analysis._pattern_search import LatticeSearch, search_lattice
from toolkit.analysis._stats import benjamini_hochberg, wilson_interval, worse_than_rest_p_values
from toolkit.analysis.binning import ColumnBins, bin_column
from toolkit.analysis.conditions import Pattern
from toolkit.data import Predictions
from toolkit.exceptions import ColumnNotFoundError, ValidationError

__all__ = ["PATTERN_COLUMNS", "ErrorPatterns", "find_error_patterns"]

PATTERN_COLUMNS = [
    "pattern",
    "conditions",
    "n_conditions",
    "n",
    "errors",
    "error_rate",
    "ci_low",
    "ci_high",
    "lift",
    "share_of_errors",
    "gain_pp",
    "cumulative_gain_pp",
    "p_value",
    "q_value",
    "holdout_n",
    "holdout_error_rate",
    "holdout_q_value",
    "confirmed",
]

#: A pattern whose rows have at least this Jaccard overlap with a pattern ranked above
#: it is the same finding said twice (e.g. relationship = Husband vs married) and is not shown.
_NEAR_DUPLICATE_JACCARD = 0.8


@dataclass(frozen=True, repr=False)
class ErrorPatterns(Result):
    """The patterns of :func:`find_error_patterns` (``table``, best first) and the search.

    Attributes
    ----------
    table : DataFrame
        One row per pattern, best first: ``pattern`` (readable conjunction),
        ``conditions`` (a :class:`~toolkit.analysis.conditions.Pattern`, whose JSON
        form is the list of ``{"column", "op", "value"}``), ``n_conditions``, then on
        all rows ``n``, ``errors``, ``error_rate``, ``ci_low``, ``ci_high`` (Wilson
        95%), ``lift`` (error rate / overall error rate), ``share_of_errors``,
        ``gain_pp`` (errors / all rows × 100), ``cumulative_gain_pp`` (errors of this
        and the patterns above, each counted once, / all rows × 100); the search
        part's ``p_value`` and ``q_value``; the held-out part's ``holdout_n``,
        ``holdout_error_rate``, ``holdout_q_value`` and ``confirmed``; for regression
        ``mae`` (mean absolute error in the pattern).
    n_tested : int
        Conjunctions counted and tested in the search rows.
    n_significant : int
        Of them, those with ``q_value < alpha`` and the minimum lift.
    n_kept : int
        Of those, the ones left after the parent/child pruning (before ``top`` and the
        near-duplicate filter).
    min_support : int
        Smallest pattern searched, in search rows.
    n_search : int
        Rows of the search part.
    n : int
        All rows.
    overall_error_rate : float
        Error rate of all rows.
    holdout : float
        Share of rows held out for confirmation.

    Examples
    --------
    >>> import toolkit as tk
    >>> color = ["red"] * 100 + ["blue"] * 100 + ["green"] * 100
    >>> wrong = [i % 100 < (60 if i < 100 else 10) for i in range(300)]
    >>> p = tk.Predictions([0] * 300, [int(w) for w in wrong], features={"color": color})
    >>> result = find_error_patterns(p, holdout=0)
    >>> result.table[["pattern", "n", "errors", "gain_pp"]]
           pattern    n  errors  gain_pp
    0  color = red  100      60     20.0
    >>> result.patterns[0].to_dict()
    [{'column': 'color', 'op': '==', 'value': 'red'}]
    >>> int(result.mask(0, p.features).sum()), result.n_tested
    (100, 3)
    """

    n_tested: int
    n_significant: int
    n_kept: int
    min_support: int
    n_search: int
    n: int
    overall_error_rate: float
    holdout: float

    @property
    def patterns(self) -> list[Pattern]:
        """The patterns, best first."""
        return list(self.table["conditions"])

    def mask(self, i: int, frame: pd.DataFrame) -> np.ndarray:
        """The rows of ``frame`` in pattern ``i`` (0 is the best)."""
        return self.table["conditions"].iloc[i].mask(frame)


#: The checks of :func:`find_error_patterns`' parameters.
_PARAMS = {
    "p": [Predictions],
    "columns": [STR_LIST, None],
    "max_conditions": [Interval(Integral, 1, None)],
    "min_support": [
        Interval(Integral, 1, None),
        Interval(Real, 0, 1, closed="neither"),
        None,
    ],
    "bins": [Interval(Integral, 2, None)],
    "alpha": [Interval(Real, 0, 1, closed="neither")],
    "top": [Interval(Integral, 1, None)],
    "holdout": [Interval(Real, 0, 1, closed="left")],
    "random_state": [RANDOM_STATE, None],
    "min_lift": [Interval(Real, 1, None)],
    "min_improvement": [Interval(Real, 1, None)],
    "max_categories": [Interval(Integral, 1, None)],
}


@validate_params(_PARAMS)
def find_error_patterns(
    p: Predictions,
    *,
    columns: Sequence[str] | None = None,
    max_conditions: int = 3,
    min_support: int | float | None = None,
    bins: int = 5,
    alpha: float = 0.05,
    top: int = 20,
    holdout: float = 0.5,
    random_state: int | None = 0,
    min_lift: float = 1.25,
    min_improvement: float = 1.2,
    max_categories: int = 50,
) -> ErrorPatterns:
    """Find the conjunctions of feature conditions that hold the most errors.

    An exact search of every conjunction of up to ``max_conditions`` conditions on a
    search part of the rows, tested and corrected for multiple testing, pruned, then
    confirmed on the held-out rows: the module docstring has the method.

    Parameters
    ----------
    p : Predictions
        Must have features. Regression uses the error indicator of ``p``.
    columns : list of str, default=None
        Feature columns to build patterns from; default all.
    max_conditions : int, default=3
    min_support : int or float, default=None
        Smallest pattern, in search rows (an int) or as a fraction of them (a float in
        (0, 1)). Default: 1% of the search rows, at least 5.
    bins : int, default=5
        Quantile bins per numeric column (see :mod:`toolkit.analysis.binning`).
    alpha : float in (0, 1), default=0.05
        False discovery rate of the search, level of the parent/child tests and of the
        confirmation.
    top : int, default=20
        Number of patterns returned.
    holdout : float in [0, 1), default=0.5
        Share of rows held out for confirmation; 0 searches all rows (no confirmation).
    random_state : int or None, default=0
        Seed of the split.
    min_lift, min_improvement : float >= 1, default=1.25, 1.2
        Smallest error rate of a pattern relative to all search rows, and of a child
        relative to each parent.
    max_categories : int, default=50
        A categorical column with more values groups the rarest as "(other)".

    Returns
    -------
    ErrorPatterns
        The patterns, best first (the table's columns are listed on the class).
    """
    columns = _pattern_columns(p, columns)
    binned = [
        bin_column(p.feature(c), c, bins=bins, max_categories=max_categories) for c in columns
    ]
    search = _split(p.errors, holdout, random_state)
    n_search = int(search.sum())
    support = _min_support(min_support, n_search)
    codes = np.column_stack([b.codes for b in binned]).astype(np.int64)
    found = search_lattice(
        codes[search],
        p.errors[search],
        np.array([b.n_bins for b in binned], dtype=np.int64),
        depth=min(max_conditions, len(columns)),
        support=support,
        alpha=alpha,
        min_lift=min_lift,
        min_improvement=min_improvement,
    )
    return ErrorPatterns(
        _pattern_table(p, binned, codes, search, found, top, alpha),
        n_tested=found.n_tested,
        n_significant=found.n_significant,
        n_kept=len(found.kept),
        min_support=support,
        n_search=n_search,
        n=p.n,
        overall_error_rate=float(p.errors.mean()),
        holdout=holdout,
    )


def _pattern_columns(p: Predictions, columns: Sequence[str] | None) -> list[str]:
    if not p.feature_names:
        raise ValidationError(
            "find_error_patterns needs feature columns: pass features=... to Predictions"
        )
    columns = list(p.feature_names if columns is None else columns)
    unknown = [c for c in columns if c not in p.feature_names]
    if unknown:
        raise ColumnNotFoundError(f"column(s) {unknown} not in features {p.feature_names[:20]}")
    if not columns:
        raise ValidationError("columns is empty: name at least one feature column")
    return columns


def _min_support(min_support: int | float | None, n_search: int) -> int:
    """Rows of the smallest pattern: an int as given, a fraction of the search rows."""
    if min_support is None:
        return max(5, math.ceil(0.01 * n_search))
    if isinstance(min_support, Integral):
        return int(min_support)
    return max(1, math.ceil(min_support * n_search))


def _split(errors: np.ndarray, holdout: float, random_state: int | None) -> np.ndarray:
    """Boolean mask of the search rows, stratified by error."""
    search = np.ones(errors.shape[0], dtype=bool)
    if holdout == 0:
        return search
    rng = np.random.default_rng(random_state)
    for group in (np.flatnonzero(errors), np.flatnonzero(~errors)):
        shuffled = rng.permutation(group)
        n_hold = int(round(holdout * group.size))
        search[shuffled[:n_hold]] = False
    return search


def _pattern_table(
    p: Predictions,
    binned: list[ColumnBins],
    codes: np.ndarray,
    search: np.ndarray,
    found: LatticeSearch,
    top: int,
    alpha: float,
) -> pd.DataFrame:
    """The reported patterns (best first, near-duplicates skipped) and their columns."""
    shown = _shown_patterns(p.errors, codes, found, top)
    rows = [_pattern_row(p.errors, ~search, binned, found, key, mask) for key, mask in shown]
    masks = [mask for _, mask in shown]
    table = pd.DataFrame(rows, columns=[*PATTERN_COLUMNS, "holdout_errors"])
    if not rows:
        table = table.drop(columns="holdout_errors")
        for col in ("n", "errors", "n_conditions", "holdout_n"):
            table[col] = table[col].astype(np.int64)
        if not p.is_classification:
            table["mae"] = pd.Series(dtype=float)
        return table
    _add_rates(table, p.errors, masks)
    _add_confirmation(table, p.errors, ~search, alpha)
    table = table.drop(columns="holdout_errors")
    if not p.is_classification:
        abs_err = np.abs(p.y_pred - p.y_true)
        table["mae"] = [float(abs_err[m].mean()) for m in masks]
    return table


def _shown_patterns(
    errors: np.ndarray, codes: np.ndarray, found: LatticeSearch, top: int
) -> list[tuple[tuple[int, int], np.ndarray]]:
    """Up to ``top`` kept patterns with their row masks, by errors on all rows.

    A pool of the best candidates (by errors in the search part) is re-ranked on all
    rows; a pattern with nearly the same rows as one ranked above it is skipped.
    """
    cand = found.cand
    pool = []
    for level, pos in found.kept[: max(5 * top, 50)]:
        mask = np.ones(codes.shape[0], dtype=bool)
        for j, b in cand.items((level, pos)):
            mask &= codes[:, j] == b
        pool.append((-int(errors[mask].sum()), level, int(mask.sum()), (level, pos), mask))
    pool.sort(key=lambda t: t[:3])
    shown: list[tuple[tuple[int, int], np.ndarray]] = []
    sizes: list[int] = []
    for _, _, n_mask, key, mask in pool:
        if any(
            (mask & other).sum()
            >= _NEAR_DUPLICATE_JACCARD * (n_mask + n_other - (mask & other).sum())
            for (_, other), n_other in zip(shown, sizes)
        ):  # (nearly) the same rows as a pattern ranked above, e.g. education_num = 13
            continue
        shown.append((key, mask))
        sizes.append(n_mask)
        if len(shown) == top:
            break
    return shown


def _pattern_row(
    errors: np.ndarray,
    hold: np.ndarray,
    binned: list[ColumnBins],
    found: LatticeSearch,
    key: tuple[int, int],
    mask: np.ndarray,
) -> dict[str, Any]:
    level, pos = key
    pattern = Pattern(tuple(binned[j].conditions[b] for j, b in found.cand.items(key)))
    flat = found.offsets[level] + pos
    return {
        "pattern": pattern.label,
        "conditions": pattern,
        "n_conditions": level + 1,
        "n": int(mask.sum()),
        "errors": int(errors[mask].sum()),
        "p_value": float(found.p_values[flat]),
        "q_value": float(found.q_values[flat]),
        "holdout_n": int((mask & hold).sum()),
        "holdout_errors": int((mask & hold & errors).sum()),
    }


def _add_rates(table: pd.DataFrame, errors: np.ndarray, masks: list[np.ndarray]) -> None:
    """Error rate, interval, lift and gains of each pattern on all rows (in place)."""
    n_all, e_all = errors.shape[0], int(errors.sum())
    overall = e_all / n_all
    n = table["n"].to_numpy()
    e = table["errors"].to_numpy()
    table["error_rate"] = e / n
    table["ci_low"], table["ci_high"] = wilson_interval(e, n)
    table["lift"] = table["error_rate"] / overall if overall > 0 else np.nan
    table["share_of_errors"] = e / e_all if e_all else np.nan
    table["gain_pp"] = e / n_all * 100.0
    covered = np.zeros(n_all, dtype=bool)
    cumulative = []
    for mask in masks:
        covered |= mask & errors
        cumulative.append(covered.sum() / n_all * 100.0)
    table["cumulative_gain_pp"] = cumulative


def _add_confirmation(
    table: pd.DataFrame, errors: np.ndarray, hold: np.ndarray, alpha: float
) -> None:
    """Each pattern re-tested on the held-out rows, BH across the patterns (in place)."""
    if not hold.any():
        table["holdout_error_rate"] = np.nan
        table["holdout_q_value"] = np.nan
        table["confirmed"] = pd.array([pd.NA] * len(table), dtype="boolean")
        return
    h_n = table["holdout_n"].to_numpy()
    h_e = table["holdout_errors"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        table["holdout_error_rate"] = np.where(h_n > 0, h_e / np.maximum(h_n, 1), np.nan)
    h_p = worse_than_rest_p_values(h_e, h_n, int(errors[hold].sum()), int(hold.sum()))
    h_q = benjamini_hochberg(h_p)
    table["holdout_q_value"] = h_q
    table["confirmed"] = pd.array(h_q < alpha, dtype="boolean")
