"""Error patterns: conjunctions of feature conditions where the model fails, most severe first.

A pattern is a conjunction of up to ``max_conditions`` conditions on distinct columns.
Each column contributes its *atoms*: ``column = value`` for a categorical column, a
quantile bin for a continuous one ("age ∈ [28, 37)"), "is missing", and for a numeric
column with at most 20 distinct values (a count, a rating) its values plus one-sided cut
points (``count ≥ 1``, ``count ≤ 3``), so a natural threshold is one condition.

**Search.** The search runs on a random part of the rows (``1 - holdout`` of them,
stratified by error). The part is drawn from a hash of each row (its id, or its values
when no ids were given, mixed with ``random_state``), not from its position, so the same
table in another row order gives the same patterns. Of the ``n_candidates`` conjunctions
of atoms it could count, a pattern is *eligible* when it has at least ``min_support``
rows; its error rate is significantly higher than that of the rest of the search rows
(one-sided two-proportion z test, or Fisher's exact test for small counts,
Bonferroni-corrected over ``n_candidates``: ``q_value = min(1, n_candidates × p_value) <
alpha``); it is at least ``min_lift`` times the overall error rate; and, with k > 1
conditions, it is clearly worse than each of its k parents without one condition
(significantly worse than the parent's other rows, Bonferroni-corrected over the
parent's refinements by one more condition, and at least ``min_improvement`` times the
parent's error rate), so "A ∧ B" appears only when B adds something over A. The search
keeps the best eligible patterns by ``rank_by`` (a pool of ``max(5 × top, 50)``),
pruning every branch that cannot enter them: a refinement of a pattern holds at most its
errors, which bounds the score of every refinement (``toolkit.analysis._pattern_search``
has the argument). The pool is the one an exhaustive search finds, unless the search had
to limit itself.

**Budget.** Wide tables have more combinations of columns than can be counted: 300
columns make 4.5 million combinations of three. ``max_work`` caps the estimated work of
each level of the search (about a nanosecond per unit: the default is a few seconds per
level, and the counts held stay within a few hundred MB). A level over budget is counted
on the columns whose conjunctions have the best bounds, as many as fit; the result's
``limits`` says which levels were cut and to how many columns, and ``exact`` is False.
The Bonferroni factor stays that of every conjunction of every column (conservative).

**Lenses.** With ``e`` errors in ``n`` rows, ``E`` errors in all ``N`` rows:

- *severity* (``ci_low``): the Wilson 95% lower bound of the pattern's error rate, high
  for a pattern that is both severe and well supported;
- *excess* (``excess_pp``): ``(e - n × error rate of the rows outside the pattern) / N ×
  100``, the points the overall error rate falls if the pattern did as well as the rest;
- *errors* (``gain_pp``): ``e / N × 100``, the points it falls if every error of the
  pattern were fixed (an upper bound of what fixing the pattern gives).

**Sample weights.** With ``Predictions(..., sample_weight=...)``, ``e``, ``n``, ``E`` and
``N`` above are sums of weights (the errors' and the rows'), so every rate, lens, lift,
share and gain is weighted; the Wilson interval and the tests use Kish effective counts
(``(Σw)² / Σw²`` rows at the weighted error rate). The ``n``, ``errors`` and
``holdout_n`` columns still count rows, and so do ``min_support`` (a pattern needs that
many rows, whatever they weigh) and the split. The search stays exact (see
``toolkit.analysis._pattern_search``).

**Default support.** With ``p`` the error rate of the search rows (weighted), "well above the
rest" is half-way to 100%, ``p + δ`` with ``δ = (1 - p) / 2`` (a pattern that gets
wrong half of what the rest gets right). ``min_support`` is the smallest pattern in
which that rate reaches the search's significance (normal approximation of the test
against a rest at ``p``): ``max(10, ⌈z² p (1 - p) / δ²⌉) = max(10, ⌈4 z² p / (1 - p)⌉)``
with ``z = Φ⁻¹(1 - alpha / n_candidates)``.

**Report.** Among the pool, a pattern is dropped when one of its refinements explains
it (once the refinement's rows are removed, the rest of the pattern is no longer
significantly worse than the rows outside the pattern). The others are ranked by
``rank_by`` on all rows, and a pattern whose rows overlap those of a pattern ranked
above it with a Jaccard index of at least 0.8 is the same finding said twice and is not
shown. ``confirmed`` says whether each is still significantly worse on the held-out rows
(Benjamini–Hochberg across the reported patterns).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import pandas as pd

from toolkit._result import Result
from toolkit._validation import RANDOM_STATE, STR_LIST, Interval, Options, validate_params
from toolkit.analysis._pattern_atoms import ColumnAtoms, column_atoms
from toolkit.analysis._pattern_scores import (
    RANK_BY,
    detectable_support,
    excess_errors,
    n_conjunctions,
    pattern_scores,
)
from toolkit.analysis._pattern_search import (
    SearchLimit,
    SearchSettings,
    TopPatterns,
    drop_explained,
    search_patterns,
)
from toolkit.analysis._stats import (
    benjamini_hochberg,
    effective_counts,
    rest_p_values,
    wilson_interval,
    worse_than_rest_p_values,
)
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
    "excess_pp",
    "gain_pp",
    "cumulative_excess_pp",
    "cumulative_gain_pp",
    "p_value",
    "q_value",
    "holdout_n",
    "holdout_error_rate",
    "holdout_q_value",
    "confirmed",
]

#: Default ``max_work``: the estimated work of one level of the search (~ns).
DEFAULT_MAX_WORK = 2_000_000_000

#: A pattern whose rows have at least this Jaccard overlap with a pattern ranked above
#: it is the same finding said twice (e.g. relationship = Husband vs married) and is not shown.
_NEAR_DUPLICATE_JACCARD = 0.8


@dataclass(frozen=True, repr=False, eq=False)
class ErrorPatterns(Result):
    """The patterns of :func:`find_error_patterns` (``table``, best first) and the search.

    Attributes
    ----------
    table : DataFrame
        One row per pattern, best first by ``rank_by`` on all rows: ``pattern``
        (readable conjunction), ``conditions`` (a
        :class:`~toolkit.analysis.conditions.Pattern`, whose JSON form is the list of
        ``{"column", "op", "value"}``), ``n_conditions``, then on all rows ``n``,
        ``errors``, ``error_rate``, ``ci_low``, ``ci_high`` (Wilson 95%; ``ci_low`` is the
        severity), ``lift`` (error rate / overall error rate), ``share_of_errors``,
        ``excess_pp`` ((errors − n × error rate of the rows outside the pattern) / all
        rows × 100), ``gain_pp`` (errors / all rows × 100; with sample weights ``n`` and
        ``errors`` count rows and these are sums of weights, see the module docstring),
        ``cumulative_excess_pp`` and
        ``cumulative_gain_pp`` (the same for the rows of this pattern and those above it
        together, each error counted once; the excess of the union can fall when a
        pattern adds rows at a lower error rate); the search part's ``p_value`` and
        ``q_value`` (Bonferroni over ``n_candidates``); the held-out part's
        ``holdout_n``, ``holdout_error_rate``, ``holdout_q_value`` and ``confirmed``;
        for regression ``mae`` (mean absolute error in the pattern).
    rank_by : str
        The order of the table: ``"severity"``, ``"excess"`` or ``"errors"``.
    n_candidates : int
        Conjunctions of atoms the search could count (the Bonferroni factor).
    n_tested : int
        Conjunctions counted with at least ``min_support`` rows (the pruned search skips
        branches that cannot enter the pool).
    n_kept : int
        Eligible patterns of the pool left after dropping those a refinement explains
        (before ``top`` and the near-duplicate filter).
    min_support : int
        Smallest pattern searched, in search rows (derived from power by default).
    n_search : int
        Rows of the search part.
    n : int
        All rows.
    overall_error_rate : float
        Error rate of all rows (weighted with sample weights).
    holdout : float
        Share of rows held out for confirmation.
    exact : bool
        True when the search counted every combination of columns it could refine (the
        pool is that of an exhaustive search); False when ``max_work`` cut a level.
    limits : tuple of str
        What the search left out to stay within ``max_work``, one sentence per level cut.

    Examples
    --------
    >>> import toolkit as tk
    >>> color = ["red"] * 100 + ["blue"] * 100 + ["green"] * 100
    >>> wrong = [i % 100 < (60 if i < 100 else 10) for i in range(300)]
    >>> p = tk.Predictions([0] * 300, [int(w) for w in wrong], features={"color": color})
    >>> result = find_error_patterns(p, holdout=0)
    >>> result.table[["pattern", "n", "errors", "ci_low", "excess_pp", "gain_pp"]].round(3)
           pattern    n  errors  ci_low  excess_pp  gain_pp
    0  color = red  100      60   0.502     16.667     20.0
    >>> result.patterns[0].to_dict()
    [{'column': 'color', 'op': '==', 'value': 'red'}]
    >>> int(result.mask(0, p.features).sum()), result.n_tested, result.min_support
    (100, 3, 10)
    """

    rank_by: str
    n_candidates: int
    n_tested: int
    n_kept: int
    min_support: int
    n_search: int
    n: int
    overall_error_rate: float
    holdout: float
    exact: bool = True
    limits: tuple[str, ...] = ()

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
    "rank_by": [Options(RANK_BY)],
    "bins": [Interval(Integral, 2, None)],
    "alpha": [Interval(Real, 0, 1, closed="neither")],
    "top": [Interval(Integral, 1, None)],
    "holdout": [Interval(Real, 0, 1, closed="left")],
    "random_state": [RANDOM_STATE, None],
    "min_lift": [Interval(Real, 1, None)],
    "min_improvement": [Interval(Real, 1, None)],
    "max_categories": [Interval(Integral, 1, None)],
    "max_work": [Interval(Integral, 1, None), None],
}


@validate_params(_PARAMS)
def find_error_patterns(
    p: Predictions,
    *,
    columns: Sequence[str] | None = None,
    max_conditions: int = 3,
    min_support: int | float | None = None,
    rank_by: str = "severity",
    bins: int = 5,
    alpha: float = 0.05,
    top: int = 20,
    holdout: float = 0.5,
    random_state: int | None = 0,
    min_lift: float = 1.25,
    min_improvement: float = 1.2,
    max_categories: int = 50,
    max_work: int | None = DEFAULT_MAX_WORK,
) -> ErrorPatterns:
    """Find the conjunctions of feature conditions where the model fails most.

    A pruned search for the best conjunctions of up to ``max_conditions`` conditions
    on a search part of the rows, tested and corrected for multiple testing, then
    confirmed on the held-out rows: the module docstring has the method and the
    formulas.

    Parameters
    ----------
    p : Predictions
        Must have features. Regression uses the error indicator of ``p``.
    columns : list of str, default=None
        Feature columns to build patterns from; default all.
    max_conditions : int, default=3
    min_support : int or float, default=None
        Smallest pattern, in search rows (an int) or as a fraction of them (a float in
        (0, 1)). Default: the smallest pattern in which an error rate half-way from the
        overall one ``p`` to 100% could reach the search's significance,
        ``max(10, ⌈4 z² p / (1 - p)⌉)`` with ``z = Φ⁻¹(1 - alpha / n_candidates)`` (see
        the module docstring).
    rank_by : {"severity", "excess", "errors"}, default="severity"
        The order of the patterns: the Wilson lower bound of the error rate
        (``ci_low``), the errors above the rest's rate (``excess_pp``) or all the errors
        (``gain_pp``). The cumulative columns follow it.
    bins : int, default=5
        Quantile bins per numeric column with more than 20 distinct values (see
        :mod:`toolkit.analysis.binning`).
    alpha : float in (0, 1), default=0.05
        Level of the search (Bonferroni), of the parent/child tests and of the
        confirmation (false discovery rate).
    top : int, default=20
        Number of patterns returned.
    holdout : float in [0, 1), default=0.5
        Share of rows held out for confirmation; 0 searches all rows (no confirmation).
    random_state : int or None, default=0
        Seed of the split (a hash of each row mixed with the seed: the row order does
        not matter).
    min_lift, min_improvement : float >= 1, default=1.25, 1.2
        Smallest error rate of a pattern relative to all search rows, and of a child
        relative to each parent.
    max_categories : int, default=50
        A categorical column with more values groups the rarest as "(other)".
    max_work : int or None, default=2_000_000_000
        Estimated work per level of the search (about a nanosecond per unit); a level
        over it is counted on the most promising columns only, and ``limits`` says so.
        None: no limit (exact; time and memory grow with the number of columns cubed).

    Returns
    -------
    ErrorPatterns
        The patterns, best first (the table's columns are listed on the class).
    """
    columns = _pattern_columns(p, columns)
    atoms = [
        column_atoms(
            p.feature(c), c, bins=bins, max_categories=max_categories, weights=p.sample_weight
        )
        for c in columns
    ]
    search = _split(p.errors, p.row_hashes(), holdout, random_state)
    n_search, e_search = int(search.sum()), int(p.errors[search].sum())
    w = p.sample_weight
    w_search = None if w is None else w[search]
    depth = min(max_conditions, len(columns))
    n_candidates = n_conjunctions([a.n_atoms for a in atoms], depth)
    # the default support counts rows, at the (weighted) error rate of the search rows
    rate = (e_search, n_search) if w is None else (w_search[p.errors[search]].sum(), w_search.sum())
    settings = SearchSettings(
        depth=depth,
        support=_min_support(min_support, n_search, rate, n_candidates, alpha),
        k=max(5 * top, 50),
        rank_by=rank_by,
        alpha=alpha,
        n_candidates=n_candidates,
        min_lift=min_lift,
        min_improvement=min_improvement,
        max_work=max_work,
    )
    found = search_patterns(atoms, search, p.errors[search], settings, w_search)
    if w is None:
        kept = drop_explained(found, (e_search, n_search), alpha)
    else:
        kept = drop_explained(found, rate, alpha, float((w_search * w_search).sum()))
    found_kept = found.take(kept)
    return ErrorPatterns(
        _pattern_table(p, atoms, search, found_kept, settings, top),
        rank_by=rank_by,
        n_candidates=n_candidates,
        n_tested=found.n_tested,
        n_kept=len(found_kept),
        min_support=settings.support,
        n_search=n_search,
        n=p.n,
        overall_error_rate=float(p.errors.mean() if w is None else np.average(p.errors, weights=w)),
        holdout=holdout,
        exact=not found.limits,
        limits=tuple(_limit_text(x, len(columns), max_work) for x in found.limits),
    )


def _limit_text(limit: SearchLimit, n_columns: int, max_work: int | None) -> str:
    return (
        f"{limit.conditions}-condition patterns were searched on {limit.columns_searched} "
        f"of the {limit.columns_refinable} columns left to refine ({n_columns} in all), "
        f"those with the best bounds: all would take about {limit.work:.2g} units of work, "
        f"over max_work={max_work:.2g}"
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


def _min_support(
    min_support: int | float | None,
    n_search: int,
    rate: tuple[float, float],
    n_candidates: int,
    alpha: float,
) -> int:
    """Rows of the smallest pattern: from power by default (at the error rate
    ``rate[0] / rate[1]``), an int as given, a fraction of the search rows."""
    if min_support is None:
        return detectable_support(rate[1], rate[0], n_candidates, alpha)
    if isinstance(min_support, Integral):
        return int(min_support)
    return max(1, math.ceil(min_support * n_search))


def _split(
    errors: np.ndarray, hashes: np.ndarray, holdout: float, random_state: int | None
) -> np.ndarray:
    """Boolean mask of the search rows, stratified by error: in each stratum the
    ``holdout`` share of rows with the smallest keys is held out. A row's key mixes its
    hash, the seed and its occurrence among equal rows (equal rows hash alike; the k-th
    of them gets the same key wherever it stands, and equal rows are interchangeable),
    so the held-out rows are the same, as a multiset, in any row order."""
    search = np.ones(errors.shape[0], dtype=bool)
    if holdout == 0:
        return search
    if random_state is None:
        random_state = int(np.random.default_rng().integers(2**32))
    occurrence = pd.Series(hashes).groupby(hashes, sort=False).cumcount().to_numpy()
    seed = _mix64(np.array([random_state], dtype=np.uint64))[0]
    keys = _mix64(hashes ^ _mix64(occurrence.astype(np.uint64) ^ seed))
    for group in (np.flatnonzero(errors), np.flatnonzero(~errors)):
        ranked = group[np.argsort(keys[group], kind="stable")]
        search[ranked[: int(round(holdout * group.size))]] = False
    return search


def _mix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser: every bit of the input moves every bit of the output."""
    x = np.asarray(x, dtype=np.uint64).copy()
    with np.errstate(over="ignore"):
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return x


def _rows(atoms: list[ColumnAtoms], items: list[tuple[int, int]]) -> np.ndarray:
    """The rows (of all rows) in the conjunction of ``items`` (column, atom)."""
    mask = atoms[items[0][0]].rows(items[0][1])
    for j, a in items[1:]:
        mask = mask & atoms[j].rows(a)
    return mask


def _pattern_table(
    p: Predictions,
    atoms: list[ColumnAtoms],
    search: np.ndarray,
    found: TopPatterns,
    settings: SearchSettings,
    top: int,
) -> pd.DataFrame:
    """The reported patterns (best first, near-duplicates skipped) and their columns."""
    w = p.sample_weight
    shown = _shown_patterns(p.errors, atoms, found, settings.rank_by, top, w)
    hold = ~search
    rows = []
    for i, mask in shown:
        pattern = Pattern(tuple(atoms[j].conditions[a] for j, a in found.items(i)))
        rows.append(
            {
                "pattern": pattern.label,
                "conditions": pattern,
                "n_conditions": len(pattern),
                "n": int(mask.sum()),
                "errors": int(p.errors[mask].sum()),
                "p_value": float(found.p_values[i]),
                "q_value": min(1.0, float(found.p_values[i]) * settings.n_candidates),
                "holdout_n": int((mask & hold).sum()),
                "holdout_errors": int((mask & hold & p.errors).sum()),
            }
        )
    table = pd.DataFrame(rows, columns=[*PATTERN_COLUMNS, "holdout_errors"])
    if not rows:
        table = table.drop(columns="holdout_errors")
        for col in ("n", "errors", "n_conditions", "holdout_n"):
            table[col] = table[col].astype(np.int64)
        if not p.is_classification:
            table["mae"] = pd.Series(dtype=float)
        return table
    masks = [mask for _, mask in shown]
    _add_rates(table, p.errors, masks, w)
    _add_confirmation(table, p.errors, hold, settings.alpha, masks, w)
    table = table.drop(columns="holdout_errors")
    if not p.is_classification:
        abs_err = np.abs(p.y_pred - p.y_true)
        if w is None:
            table["mae"] = [float(abs_err[m].mean()) for m in masks]
        else:
            with np.errstate(invalid="ignore", divide="ignore"):
                table["mae"] = [float((w * abs_err)[m].sum() / w[m].sum()) for m in masks]
    return table


def _weighted_sums(
    mask: np.ndarray, errors: np.ndarray, w: np.ndarray
) -> tuple[float, float, float]:
    """Weighted errors, weight and squared weight of the rows of ``mask``."""
    wm = w[mask]
    return float(wm[errors[mask]].sum()), float(wm.sum()), float((wm * wm).sum())


def _shown_patterns(
    errors: np.ndarray,
    atoms: list[ColumnAtoms],
    found: TopPatterns,
    rank_by: str,
    top: int,
    w: np.ndarray | None = None,
) -> list[tuple[int, np.ndarray]]:
    """Up to ``top`` patterns of ``found`` with their row masks, by ``rank_by`` on all rows
    (ties in the search's order); a pattern with nearly the same rows as one ranked above
    it is skipped. Masks are rebuilt rather than held, so memory stays at ``top`` masks.
    """
    if w is None:
        n = np.zeros(len(found), dtype=np.int64)
        e = np.zeros(len(found), dtype=np.int64)
        for i in range(len(found)):
            mask = _rows(atoms, found.items(i))
            n[i], e[i] = int(mask.sum()), int(errors[mask].sum())
        scores = pattern_scores(rank_by, e, n, int(errors.sum()), errors.shape[0])
    else:
        sums = np.array(
            [_weighted_sums(_rows(atoms, found.items(i)), errors, w) for i in range(len(found))]
        ).reshape(-1, 3)
        totals = _weighted_sums(np.ones(errors.shape[0], dtype=bool), errors, w)
        scores = pattern_scores(rank_by, sums[:, 0], sums[:, 1], *totals[:2], sums[:, 2])
    shown: list[tuple[int, np.ndarray]] = []
    for i in np.lexsort((np.arange(len(found)), -scores)):
        mask = _rows(atoms, found.items(int(i)))
        if any(
            (mask & other).sum() >= _NEAR_DUPLICATE_JACCARD * (mask | other).sum()
            for _, other in shown
        ):  # (nearly) the same rows as a pattern ranked above, e.g. education_num = 13
            continue
        shown.append((int(i), mask))
        if len(shown) == top:
            break
    return shown


def _add_rates(
    table: pd.DataFrame, errors: np.ndarray, masks: list[np.ndarray], w: np.ndarray | None = None
) -> None:
    """Error rate, interval, lift, excess and gains of each pattern on all rows (in place),
    weighted with ``w``."""
    if w is None:
        n_all, e_all = errors.shape[0], int(errors.sum())
        n = table["n"].to_numpy()
        e = table["errors"].to_numpy()
        table["ci_low"], table["ci_high"] = wilson_interval(e, n)
    else:
        e_all, n_all, _ = _weighted_sums(np.ones(errors.shape[0], dtype=bool), errors, w)
        e, n, sq = np.array([_weighted_sums(m, errors, w) for m in masks]).T
        table["ci_low"], table["ci_high"] = wilson_interval(*effective_counts(e, n, sq))
    overall = e_all / n_all
    with np.errstate(invalid="ignore", divide="ignore"):  # weighted: a weight of 0
        table["error_rate"] = e / n
    table["lift"] = table["error_rate"] / overall if overall > 0 else np.nan
    table["share_of_errors"] = e / e_all if e_all else np.nan
    table["excess_pp"] = excess_errors(e, n, e_all, n_all) / n_all * 100.0
    table["gain_pp"] = e / n_all * 100.0
    covered = np.zeros(errors.shape[0], dtype=bool)
    cum_n, cum_e = [], []
    for mask in masks:
        covered |= mask
        if w is None:
            cum_n.append(int(covered.sum()))
            cum_e.append(int(errors[covered].sum()))
        else:
            cum_e_w, cum_n_w, _ = _weighted_sums(covered, errors, w)
            cum_n.append(cum_n_w)
            cum_e.append(cum_e_w)
    cum_excess = excess_errors(np.array(cum_e), np.array(cum_n), e_all, n_all)
    table["cumulative_excess_pp"] = cum_excess / n_all * 100.0
    table["cumulative_gain_pp"] = np.array(cum_e) / n_all * 100.0


def _add_confirmation(
    table: pd.DataFrame,
    errors: np.ndarray,
    hold: np.ndarray,
    alpha: float,
    masks: list[np.ndarray],
    w: np.ndarray | None = None,
) -> None:
    """Each pattern re-tested on the held-out rows, BH across the patterns (in place),
    weighted with ``w``."""
    if not hold.any():
        table["holdout_error_rate"] = np.nan
        table["holdout_q_value"] = np.nan
        table["confirmed"] = pd.array([pd.NA] * len(table), dtype="boolean")
        return
    if w is None:
        h_n = table["holdout_n"].to_numpy()
        h_e = table["holdout_errors"].to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            table["holdout_error_rate"] = np.where(h_n > 0, h_e / np.maximum(h_n, 1), np.nan)
        h_p = worse_than_rest_p_values(h_e, h_n, int(errors[hold].sum()), int(hold.sum()))
    else:
        h_e, h_n, h_sq = np.array([_weighted_sums(m & hold, errors, w) for m in masks]).T
        with np.errstate(invalid="ignore", divide="ignore"):
            table["holdout_error_rate"] = np.where(h_n > 0, h_e / h_n, np.nan)
        total = _weighted_sums(hold, errors, w)
        h_p = rest_p_values(h_e, h_n, h_sq, *total)
    h_q = benjamini_hochberg(h_p)
    table["holdout_q_value"] = h_q
    table["confirmed"] = pd.array(h_q < alpha, dtype="boolean")
