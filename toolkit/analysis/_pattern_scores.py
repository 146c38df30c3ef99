"""The lenses that rank error patterns, the bound the pruned search prunes with, and
the smallest pattern the search can detect.

With ``e`` errors in ``n`` rows, out of ``E`` errors in ``N`` rows:

- *severity*: the Wilson 95% lower bound of ``e / n`` (severe and well supported first);
- *excess*: ``e - n (E - e) / (N - n)``, the errors above what the rows would have at the
  error rate of the rows outside the pattern (0 for a pattern of every row);
- *errors*: ``e``, every error of the pattern (the upper bound of what fixing it gives).

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

from toolkit.analysis._stats import wilson_interval

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


def excess_errors(errors: np.ndarray, n: np.ndarray, errors_total: int, n_total: int) -> np.ndarray:
    """Errors above the error rate of the rows outside the pattern (0 with no rows outside)."""
    e = np.asarray(errors, dtype=float)
    n = np.asarray(n, dtype=float)
    outside = n_total - n
    with np.errstate(invalid="ignore", divide="ignore"):
        rest_rate = np.where(outside > 0, (errors_total - e) / outside, 0.0)
    return np.where(outside > 0, e - n * rest_rate, 0.0)


def pattern_scores(
    rank_by: str, errors: np.ndarray, n: np.ndarray, errors_total: int, n_total: int
) -> np.ndarray:
    """The score of each pattern under ``rank_by`` (higher ranks first)."""
    if rank_by == "severity":
        return wilson_interval(errors, n)[0]
    if rank_by == "excess":
        return excess_errors(errors, n, errors_total, n_total)
    return np.asarray(errors, dtype=float)


def refinement_bound(
    rank_by: str, errors: np.ndarray, support: int, errors_total: int, n_total: int
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
    """
    e = np.asarray(errors, dtype=np.int64)
    if rank_by == "errors":
        return e.astype(float)
    n_best = np.maximum(support, e)
    if rank_by == "excess":
        # excess <= e' <= e, which also covers a refinement that is every row
        return np.where(n_best < n_total, excess_errors(e, n_best, errors_total, n_total), e)
    return wilson_interval(e, n_best)[0]


def n_conjunctions(n_atoms: Sequence[int], depth: int) -> int:
    """Conjunctions of up to ``depth`` atoms on distinct columns: the sum over every
    combination of columns of the product of their numbers of atoms."""
    by_level = [1] + [0] * depth  # elementary symmetric sums of n_atoms
    for a in n_atoms:
        for level in range(depth, 0, -1):
            by_level[level] += by_level[level - 1] * int(a)
    return sum(by_level[1:])


def detectable_support(
    n_search: int,
    errors_search: int,
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
