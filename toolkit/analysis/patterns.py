"""Error patterns: conjunctions of feature conditions where the model fails, ranked by errors.

The method: find the most frequent error patterns and fix the one that removes the
most error first. A pattern is ``column = value`` / bin membership / "is missing" for
up to ``max_conditions`` distinct columns. The search is exact: every conjunction with
at least ``min_support`` rows is counted (one ``bincount`` per combination of columns),
tested against the rest of the data, and corrected for multiple testing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from toolkit.analysis._stats import benjamini_hochberg, wilson_interval, worse_than_rest_p_values
from toolkit.analysis.binning import ColumnBins, bin_column
from toolkit.data import Predictions
from toolkit.exceptions import ColumnNotFoundError, ToolkitTypeError, ValidationError

__all__ = ["PATTERN_COLUMNS", "find_error_patterns"]

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
#: Combinations of columns whose cell grid is larger than this are counted sparsely.
_DENSE_CELL_LIMIT = 2_000_000


@dataclass
class _Candidates:
    """Every counted conjunction with enough support, stored column-wise."""

    combo: list[np.ndarray]  # per level: (n_patterns, level) column indices
    cells: list[np.ndarray]  # per level: (n_patterns, level) bin indices
    n: list[np.ndarray]
    errors: list[np.ndarray]


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
) -> pd.DataFrame:
    """Find the conjunctions of feature conditions that hold the most errors.

    The search runs on a random part of the rows (``1 - holdout`` of them, stratified
    by error). Every conjunction of up to ``max_conditions`` conditions on distinct
    columns with at least ``min_support`` rows there is counted; its error rate is
    tested against the rest of the rows (one-sided two-proportion z test, or Fisher's
    exact test for small counts) and the p-values of all of them are corrected with
    Benjamini–Hochberg. Among patterns with ``q_value < alpha``:

    - a pattern with k > 1 conditions is kept only when its error rate is significantly
      higher (p < alpha) than that of each of its k parents without it, so "A ∧ B"
      appears only when B adds something over A;
    - a pattern is dropped when one of its kept refinements explains it: once the rows
      of the refinement are removed, the rest of the pattern is no longer significantly
      worse than the data outside the pattern;
    - patterns that select exactly the same rows are shown once.

    The survivors are ranked by their number of errors on all rows (equivalently by
    ``gain_pp``, the points of error fixing them would remove), then the found
    patterns are re-tested on the held-out rows: ``confirmed`` says whether each is
    still significantly worse there (BH across the reported patterns).

    Parameters
    ----------
    p : Predictions
        Must have features. Regression uses the error indicator of ``p`` and adds a
        ``mae`` column.
    columns : list of str, default=None
        Feature columns to build patterns from; default all.
    max_conditions : int, default=3
    min_support : int or float, default=None
        Smallest pattern, in rows of the search part (an int) or as a fraction of them
        (a float in (0, 1)). Default: 1% of the search rows, at least 5.
    bins : int, default=5
        Quantile bins per numeric column (see :mod:`toolkit.analysis.binning`).
    alpha : float, default=0.05
        Significance level: false discovery rate of the search, and level of the
        parent/child tests and of the confirmation.
    top : int, default=20
        Number of patterns returned.
    holdout : float, default=0.5
        Share of rows held out for confirmation; 0 searches all rows and leaves
        ``confirmed`` empty.
    random_state : int or None, default=0
        Seed of the split.
    max_categories : int, default=50
        A categorical column with more values groups the rarest as "(other)".

    Returns
    -------
    DataFrame
        One row per pattern, best first, with columns ``pattern`` (readable
        conjunction), ``conditions`` (list of ``{"column", "op", "value"}``),
        ``n_conditions``, then on all rows ``n``, ``errors``, ``error_rate``, ``ci_low``,
        ``ci_high`` (Wilson 95%), ``lift`` (error rate / overall error rate),
        ``share_of_errors``, ``gain_pp`` (errors / all rows × 100),
        ``cumulative_gain_pp`` (errors of this and the patterns above, each error
        counted once, / all rows × 100); the search part's ``p_value`` and
        ``q_value``; the held-out part's ``holdout_n``, ``holdout_error_rate``,
        ``holdout_q_value`` and ``confirmed``; for regression ``mae``. ``attrs`` holds
        ``n_tested``, ``n_significant``, ``min_support``, ``n_search``,
        ``overall_error_rate``.
    """
    if not isinstance(p, Predictions):
        raise ToolkitTypeError(f"p must be a toolkit.Predictions, got {type(p).__name__}")
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
    if not isinstance(max_conditions, int | np.integer) or max_conditions < 1:
        raise ValidationError(f"max_conditions must be an integer >= 1, got {max_conditions!r}")
    if not 0 < alpha < 1:
        raise ValidationError(f"alpha must be in (0, 1), got {alpha!r}")
    if not 0 <= holdout < 1:
        raise ValidationError(f"holdout must be in [0, 1), got {holdout!r}")
    if not isinstance(top, int | np.integer) or top < 1:
        raise ValidationError(f"top must be an integer >= 1, got {top!r}")
    if not isinstance(bins, int | np.integer) or bins < 2:
        raise ValidationError(f"bins must be an integer >= 2, got {bins!r}")
    if not min_lift >= 1 or not min_improvement >= 1:
        raise ValidationError(
            f"min_lift and min_improvement must be >= 1, got {min_lift!r} and {min_improvement!r}"
        )

    binned = [
        bin_column(p.feature(c), c, bins=bins, max_categories=max_categories) for c in columns
    ]
    errors = p.errors
    search = _split(errors, holdout, random_state)
    n_search = int(search.sum())
    support = _min_support(min_support, n_search)

    codes = np.column_stack([b.codes for b in binned]).astype(np.int64)
    n_bins = np.array([b.n_bins for b in binned], dtype=np.int64)
    cand = _count_lattice(
        codes[search], errors[search], n_bins, min(max_conditions, len(columns)), support
    )
    e_total, n_total = int(errors[search].sum()), n_search

    # significance of every counted pattern against the rest of the search rows
    flat_n = np.concatenate(cand.n)
    flat_e = np.concatenate(cand.errors)
    p_values = worse_than_rest_p_values(flat_e, flat_n, e_total, n_total)
    q_values = benjamini_hochberg(p_values)
    offsets = np.cumsum([0] + [len(x) for x in cand.n])
    overall_search = e_total / n_total if n_total else 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = flat_e / flat_n
    significant = (q_values < alpha) & (rates >= min_lift * overall_search)

    index = _PatternIndex(cand, n_bins)
    kept: list[tuple[int, int]] = []  # (level, position)
    for level in range(len(cand.n)):
        lo = offsets[level]
        for pos in np.flatnonzero(significant[lo : offsets[level + 1]]):
            if level == 0 or _adds_over_parents(cand, index, level, pos, alpha, min_improvement):
                kept.append((level, int(pos)))
    kept = _drop_explained(cand, kept, e_total, n_total, alpha)

    order = sorted(
        kept,
        key=lambda lp: (-int(cand.errors[lp[0]][lp[1]]), lp[0], int(cand.n[lp[0]][lp[1]])),
    )
    table = _describe(
        p, binned, codes, search, order, cand, p_values, q_values, offsets, top, alpha
    )
    table.attrs.update(
        {
            "n_tested": int(flat_n.size),
            "n_significant": int(significant.sum()),
            "n_kept": len(kept),
            "min_support": support,
            "n_search": n_search,
            "n": p.n,
            "overall_error_rate": float(errors.mean()),
            "holdout": holdout,
        }
    )
    return table


def _min_support(min_support: int | float | None, n_search: int) -> int:
    if min_support is None:
        return max(5, math.ceil(0.01 * n_search))
    if isinstance(min_support, float) and 0 < min_support < 1:
        return max(1, math.ceil(min_support * n_search))
    if isinstance(min_support, int | np.integer) and min_support >= 1:
        return int(min_support)
    raise ValidationError(
        f"min_support must be an integer >= 1 or a fraction in (0, 1), got {min_support!r}"
    )


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


def _count_lattice(
    codes: np.ndarray, errors: np.ndarray, n_bins: np.ndarray, depth: int, support: int
) -> _Candidates:
    """Count rows and errors of every conjunction with at least ``support`` rows."""
    m = codes.shape[1]
    err_codes = codes[errors]
    cand = _Candidates([], [], [], [])
    for level in range(1, depth + 1):
        combos, cells, ns, es = [], [], [], []
        for combo in combinations(range(m), level):
            radix = n_bins[list(combo)]
            size = int(np.prod(radix))
            key = _mixed_radix(codes, combo, radix)
            err_key = _mixed_radix(err_codes, combo, radix)
            if size <= _DENSE_CELL_LIMIT:
                n_cell = np.bincount(key, minlength=size)
                frequent = np.flatnonzero(n_cell >= support)
                if frequent.size == 0:
                    continue
                e_cell = np.bincount(err_key, minlength=size)[frequent]
                n_cell = n_cell[frequent]
            else:
                uniq, n_cell = np.unique(key, return_counts=True)
                keep = n_cell >= support
                frequent, n_cell = uniq[keep], n_cell[keep]
                if frequent.size == 0:
                    continue
                e_uniq, e_counts = np.unique(err_key, return_counts=True)
                e_cell = np.zeros(frequent.size, dtype=np.int64)
                pos = np.searchsorted(frequent, e_uniq)
                ok = (pos < frequent.size) & (
                    frequent[np.minimum(pos, frequent.size - 1)] == e_uniq
                )
                e_cell[pos[ok]] = e_counts[ok]
            combos.append(np.tile(np.array(combo), (frequent.size, 1)))
            cells.append(np.column_stack(np.unravel_index(frequent, tuple(radix))))
            ns.append(n_cell.astype(np.int64))
            es.append(e_cell.astype(np.int64))
        if not ns:
            break
        cand.combo.append(np.concatenate(combos))
        cand.cells.append(np.concatenate(cells))
        cand.n.append(np.concatenate(ns))
        cand.errors.append(np.concatenate(es))
    if not cand.n:
        for store in (cand.combo, cand.cells):
            store.append(np.zeros((0, 1), dtype=np.int64))
        cand.n.append(np.zeros(0, dtype=np.int64))
        cand.errors.append(np.zeros(0, dtype=np.int64))
    return cand


def _mixed_radix(codes: np.ndarray, combo: tuple[int, ...], radix: np.ndarray) -> np.ndarray:
    key = codes[:, combo[0]].copy()
    for j, r in zip(combo[1:], radix[1:]):
        key *= r
        key += codes[:, j]
    return key


class _PatternIndex:
    """Find a counted pattern by its (column, bin) pairs (built lazily per level)."""

    def __init__(self, cand: _Candidates, n_bins: np.ndarray) -> None:
        self._cand = cand
        self._levels: dict[int, dict[tuple[int, ...], int]] = {}

    def find(self, combo: np.ndarray, cells: np.ndarray) -> int | None:
        level = len(combo) - 1
        lookup = self._levels.get(level)
        if lookup is None:
            keys = np.hstack([self._cand.combo[level], self._cand.cells[level]]).tolist()
            lookup = {tuple(k): pos for pos, k in enumerate(keys)}
            self._levels[level] = lookup
        return lookup.get(tuple(combo.tolist()) + tuple(cells.tolist()))


def _adds_over_parents(
    cand: _Candidates,
    index: _PatternIndex,
    level: int,
    pos: int,
    alpha: float,
    min_improvement: float,
) -> bool:
    """Is the pattern clearly worse than each parent: significantly worse than the
    parent's other rows, and an error rate at least ``min_improvement`` times the
    parent's?"""
    combo, cells = cand.combo[level][pos], cand.cells[level][pos]
    n_child, e_child = cand.n[level][pos], cand.errors[level][pos]
    for drop in range(level + 1):
        keep = [j for j in range(level + 1) if j != drop]
        parent = index.find(combo[keep], cells[keep])
        if parent is None:  # cannot happen: a parent has at least the child's rows
            return False
        n_par, e_par = cand.n[level - 1][parent], cand.errors[level - 1][parent]
        if e_child * n_par < min_improvement * e_par * n_child:
            return False
        p_value = worse_than_rest_p_values(
            np.array([e_child]), np.array([n_child]), int(e_par), int(n_par)
        )[0]
        if not p_value < alpha:
            return False
    return True


def _drop_explained(
    cand: _Candidates, kept: list[tuple[int, int]], e_total: int, n_total: int, alpha: float
) -> list[tuple[int, int]]:
    """Drop a pattern whose excess errors a kept refinement of it already holds."""
    items = {
        lp: frozenset(zip(cand.combo[lp[0]][lp[1]].tolist(), cand.cells[lp[0]][lp[1]].tolist()))
        for lp in kept
    }
    by_item: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for lp, its in items.items():
        for it in its:
            by_item.setdefault(it, []).append(lp)
    result = []
    for lp in kept:
        its = items[lp]
        pools = sorted((by_item[it] for it in its), key=len)
        refinements = [d for d in pools[0] if d[0] > lp[0] and its <= items[d]]
        n_p, e_p = int(cand.n[lp[0]][lp[1]]), int(cand.errors[lp[0]][lp[1]])
        explained = False
        for d in refinements:
            n_rest = n_p - int(cand.n[d[0]][d[1]])
            e_rest = e_p - int(cand.errors[d[0]][d[1]])
            if n_rest <= 0:
                explained = True
                break
            # the pattern without its refinement, against the rows outside the pattern
            p_value = worse_than_rest_p_values(
                np.array([e_rest]),
                np.array([n_rest]),
                e_rest + (e_total - e_p),
                n_rest + (n_total - n_p),
            )[0]
            if not p_value < alpha:
                explained = True
                break
        if not explained:
            result.append(lp)
    return result


def _describe(
    p: Predictions,
    binned: list[ColumnBins],
    codes: np.ndarray,
    search: np.ndarray,
    order: list[tuple[int, int]],
    cand: _Candidates,
    p_values: np.ndarray,
    q_values: np.ndarray,
    offsets: np.ndarray,
    top: int,
    alpha: float,
) -> pd.DataFrame:
    errors = p.errors
    n_all, e_all = p.n, int(errors.sum())
    hold = ~search
    # Row masks of a pool of the best candidates (by errors in the search part), then
    # the final order by errors on all rows; near-duplicates of a pattern above are skipped.
    pool = []
    for level, pos in order[: max(5 * top, 50)]:
        combo, cells = cand.combo[level][pos], cand.cells[level][pos]
        mask = np.ones(n_all, dtype=bool)
        for j, b in zip(combo, cells):
            mask &= codes[:, j] == b
        pool.append((-int(errors[mask].sum()), level, int(mask.sum()), level, pos, mask))
    pool.sort(key=lambda t: t[:3])
    rows: list[dict[str, Any]] = []
    masks: list[np.ndarray] = []
    shown_n: list[int] = []
    for _, _, n_mask, level, pos, mask in pool:
        if any(
            (mask & shown).sum()
            >= _NEAR_DUPLICATE_JACCARD * (n_mask + n_shown - (mask & shown).sum())
            for shown, n_shown in zip(masks, shown_n)
        ):  # (nearly) the same rows as a pattern ranked above, e.g. education_num = 13
            continue
        shown_n.append(n_mask)
        combo, cells = cand.combo[level][pos], cand.cells[level][pos]
        flat = offsets[level] + pos
        labels = [binned[j].labels[b] for j, b in zip(combo, cells)]
        rows.append(
            {
                "pattern": " ∧ ".join(labels),
                "conditions": [dict(binned[j].conditions[b]) for j, b in zip(combo, cells)],
                "n_conditions": level + 1,
                "n": n_mask,
                "errors": int(errors[mask].sum()),
                "p_value": float(p_values[flat]),
                "q_value": float(q_values[flat]),
                "holdout_n": int((mask & hold).sum()),
                "holdout_errors": int((mask & hold & errors).sum()),
            }
        )
        masks.append(mask)
        if len(rows) == top:
            break
    table = pd.DataFrame(rows, columns=[*PATTERN_COLUMNS, "holdout_errors"])
    if not rows:
        table = table.drop(columns="holdout_errors")
        for col in ("n", "errors", "n_conditions", "holdout_n"):
            table[col] = table[col].astype(np.int64)
        if not p.is_classification:
            table["mae"] = pd.Series(dtype=float)
        return table
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
    if hold.any():
        h_n = table["holdout_n"].to_numpy()
        h_e = table["holdout_errors"].to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            table["holdout_error_rate"] = np.where(h_n > 0, h_e / np.maximum(h_n, 1), np.nan)
        h_p = worse_than_rest_p_values(h_e, h_n, int(errors[hold].sum()), int(hold.sum()))
        h_q = benjamini_hochberg(h_p)
        table["holdout_q_value"] = h_q
        table["confirmed"] = pd.array(h_q < alpha, dtype="boolean")
    else:
        table["holdout_error_rate"] = np.nan
        table["holdout_q_value"] = np.nan
        table["confirmed"] = pd.array([pd.NA] * len(table), dtype="boolean")
    table = table.drop(columns="holdout_errors")
    if not p.is_classification:
        abs_err = np.abs(p.y_pred - p.y_true)
        table["mae"] = [float(abs_err[m].mean()) for m in masks]
    return table
