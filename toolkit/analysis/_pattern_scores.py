"""The lenses that rank error patterns, the bound the pruned search prunes with, and
the smallest pattern the search can detect.

With ``e`` errors in ``n`` rows, out of ``E`` errors in ``N`` rows:

- *severity*: the Wilson 95% lower bound of ``e / n`` (severe and well supported first);
- *excess*: ``e - n (E - e) / (N - n)``, the errors above what the rows would have at the
  error rate of the rows outside the pattern (0 for a pattern of every row);
- *errors*: ``e``, every error of the pattern (the upper bound of what fixing it gives).

With sample weights ``e``, ``n``, ``E`` and ``N`` are sums of weights (the errors'
and the rows'), and the severity is the Wilson bound on the Kish effective counts
(:func:`~toolkit.analysis._stats.effective_counts`, from the sums of squared weights).

>>> excess_errors(np.array([30]), np.array([40]), 38, 200).tolist()  # 30 - 40 * 8 / 160
[28.0]
>>> n_conjunctions([3, 2], depth=2)  # 3 + 2 single conditions, 3 * 2 pairs
11
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

from toolkit.analysis._stats import effective_counts, wilson_interval

__all__ = [
    "RANK_BY",
    "SUPPORT_FLOOR",
    "detectable_support",
    "excess_errors",
    "n_conjunctions",
    "pattern_scores",
    "refinement_bound",
]

#: The lenses a pattern can be ranked by.
RANK_BY = ("severity", "excess", "errors")
#: The default ``min_support`` is never below this many rows.
SUPPORT_FLOOR = 10


def excess_errors(
    errors: np.ndarray, n: np.ndarray, errors_total: float, n_total: float
) -> np.ndarray:
    """Errors above the error rate of the rows outside the pattern (0 with no rows outside)."""
    e = np.asarray(errors, dtype=float)
    n = np.asarray(n, dtype=float)
    outside = n_total - n
    with np.errstate(invalid="ignore", divide="ignore"):
        rest_rate = np.where(outside > 0, (errors_total - e) / outside, 0.0)
    return np.where(outside > 0, e - n * rest_rate, 0.0)


def pattern_scores(
    rank_by: str,
    errors: np.ndarray,
    n: np.ndarray,
    errors_total: float,
    n_total: float,
    sq: np.ndarray | None = None,
) -> np.ndarray:
    """The score of each pattern under ``rank_by`` (higher ranks first). Weighted:
    ``errors``, ``n`` and the totals are sums of weights and ``sq`` the patterns' sums
    of squared weights (None: counts of rows)."""
    if rank_by == "severity":
        if sq is not None:
            return wilson_interval(*effective_counts(errors, n, sq))[0]
        return wilson_interval(errors, n)[0]
    if rank_by == "excess":
        return excess_errors(errors, n, errors_total, n_total)
    return np.asarray(errors, dtype=float)


def refinement_bound(
    rank_by: str,
    errors: np.ndarray,
    support: int,
    errors_total: float,
    n_total: float,
    error_weight: np.ndarray | None = None,
    min_weight: float = 0.0,
) -> np.ndarray:
    """The best score any pattern with at most ``errors`` errors and at least ``support``
    rows can have: a bound on the score of every refinement of a pattern.

    Proof. A refinement of a pattern with ``e`` errors has ``e' <= e`` errors and ``n'``
    rows with ``max(support, e') <= n'``. Each score increases with ``e'`` at fixed
    ``n'`` and does not increase with ``n'`` at fixed ``e'``:

    - errors: ``e'`` does not depend on ``n'``; the best is ``e``.
    - excess ``e' - n' (E - e') / (N - n')``: its derivative in ``e'`` is
      ``1 + n' / (N - n') > 0`` and in ``n'`` is ``-(E - e') N / (N - n')^2 <= 0``.
    - Wilson lower bound: it is the root ``p < e'/n'`` of
      ``f(p) = (e' - n' p) / sqrt(n' p (1 - p)) = z``. ``f`` falls in ``p`` on
      ``(0, e'/n')`` (its derivative has the sign of ``-(n' p (1-p) + (e' - n' p)(1 - 2p)/2)``,
      and the bracket is positive: both terms are when ``p <= 1/2``, and it is at least
      ``n' (1 - p) / 2`` when ``p > 1/2`` since ``e' <= n'``). ``f`` rises with ``e'`` and
      falls with ``n'`` at fixed ``p``, so the root rises with ``e'`` and falls with ``n'``.

    So the best refinement with ``e'`` errors has ``n' = max(support, e')`` rows, and
    ``g(e') = score(e', max(support, e'))`` rises with ``e'``: below ``support`` as
    ``score(e', support)`` does, above it as ``score(e', e')`` does (the Wilson lower
    bound of ``e'`` errors in ``e'`` rows is ``e' / (e' + z^2)``; the excess is
    ``e' (N - E) / (N - e')``), and the two pieces meet at ``e' = support``. The best
    is ``score(e, max(support, e))``, which this returns.

    Weighted (``error_weight`` given): ``errors`` counts the pattern's error rows, ``a``
    of them, ``error_weight`` is their weight ``E``, the totals are weights, and every
    right row weighs at least ``min_weight`` (``w0``). A refinement keeps ``a' <= a``
    error rows of weight ``E' <= E`` and at least ``b = max(0, support - a)`` right rows,
    of weight ``W_b >= b w0`` and squared weight ``S_b >= b w0²``; its error rows have
    ``Σw² >= E'² / a'`` (Cauchy–Schwarz). Its severity is the largest ``p`` with
    ``E' - p (E' + W_b) > z sqrt(p (1 - p) (Σw²))``, and every such ``p`` also has
    ``F(E', a') = E' (1 - p) - p b w0 - z sqrt(p (1 - p) (E'² / a' + b w0²)) > 0``. ``F``
    rises with ``a'`` and, for the ``p < a' / (a' + z²)`` where it can be positive, with
    ``E'``: so the severity is at most the root of ``F(E, a)``, the Wilson bound of
    weight ``W = E + b w0`` and squared weight ``E² / a + b w0²``, which this returns.
    The excess rises with ``E'`` and falls with the refinement's weight ``W' >= E' + b
    w0``, and ``x -> excess(x, x + c)`` rises (its derivative is ``(R - r)(R + x + c) /
    R²`` with ``r <= R`` the error weight and the weight outside): the bound is
    ``excess(E, E + b w0)``. With unit weights (``w0 = 1``, ``E = a``) both are the
    unweighted bounds.
    """
    if error_weight is not None:
        return _weighted_bound(
            rank_by, errors, support, errors_total, n_total, error_weight, min_weight
        )
    e = np.asarray(errors, dtype=np.int64)
    if rank_by == "errors":
        return e.astype(float)
    n_best = np.maximum(support, e)
    if rank_by == "excess":
        # excess <= e' <= e, which also covers a refinement that is every row
        return np.where(n_best < n_total, excess_errors(e, n_best, errors_total, n_total), e)
    return wilson_interval(e, n_best)[0]


def _weighted_bound(
    rank_by: str,
    errors: np.ndarray,
    support: int,
    errors_total: float,
    n_total: float,
    error_weight: np.ndarray,
    min_weight: float,
) -> np.ndarray:
    """:func:`refinement_bound` with sample weights (its docstring has the argument)."""
    big_e = np.asarray(error_weight, dtype=float)
    if rank_by == "errors":
        return big_e.copy()
    a = np.asarray(errors, dtype=float)
    b = np.maximum(support - a, 0.0)
    w_best = big_e + b * min_weight
    if rank_by == "excess":
        return np.where(
            w_best < n_total, excess_errors(big_e, w_best, errors_total, n_total), big_e
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        sq_best = np.where(a > 0, big_e * big_e / a, 0.0) + b * min_weight**2
    low = wilson_interval(*effective_counts(big_e, w_best, sq_best))[0]
    return np.where(big_e > 0, np.nan_to_num(low, nan=0.0), 0.0)


def min_lift_reachable(
    errors: np.ndarray,
    support: int,
    min_rate: float,
    error_weight: np.ndarray | None = None,
    min_weight: float = 0.0,
) -> np.ndarray:
    """Can a refinement of each pattern reach the error rate ``min_rate``? Unweighted,
    its rate is at most ``e / support`` below ``support`` errors; weighted, at most
    ``E / (E + b w0)`` (the notation of :func:`refinement_bound`)."""
    e = np.asarray(errors)
    if error_weight is None:
        return e >= min_rate * support - 1e-12
    big_e = np.asarray(error_weight, dtype=float)
    w_best = big_e + np.maximum(support - e, 0) * min_weight
    return (big_e > 0) & (big_e >= min_rate * w_best - 1e-12)


def n_conjunctions(n_atoms: Sequence[int], depth: int) -> int:
    """Conjunctions of up to ``depth`` atoms on distinct columns: the sum over every
    combination of columns of the product of their numbers of atoms."""
    by_level = [1] + [0] * depth  # elementary symmetric sums of n_atoms
    for a in n_atoms:
        for level in range(depth, 0, -1):
            by_level[level] += by_level[level - 1] * int(a)
    return sum(by_level[1:])


def detectable_support(
    n_search: float,
    errors_search: float,
    n_candidates: int,
    alpha: float,
    floor: int = SUPPORT_FLOOR,
) -> int:
    """The smallest pattern in which an error rate well above the rest can be detected.

    "Well above": half-way from the overall error rate ``p = errors_search / n_search``
    to 100%, ``p + delta`` with ``delta = (1 - p) / 2`` (the pattern gets wrong half of
    what the rest gets right). A pattern of ``s`` rows at that rate reaches Bonferroni
    significance over the ``n_candidates`` conjunctions of the search (one-sided z
    statistic against the rest, normal approximation with the rest's rate ``p``) when
    ``delta / sqrt(p (1 - p) / s) >= z``, ``z = Phi^-1(1 - alpha / n_candidates)``, that
    is when ``s >= z^2 p (1 - p) / delta^2 = 4 z^2 p / (1 - p)``. Returns
    ``max(floor, ceil(that))``; ``floor`` when there are no errors or nothing but errors
    (nothing to find either way).
    """
    if errors_search <= 0 or errors_search >= n_search:
        return floor
    p = errors_search / n_search
    z = float(stats.norm.isf(alpha / max(n_candidates, 1)))
    return max(floor, math.ceil(4 * z * z * p / (1 - p)))
