"""The exact lattice search behind :func:`toolkit.find_error_patterns`.

Every conjunction of bins on distinct columns with enough rows is counted (one
``bincount`` per combination of columns), tested against the rest of the rows and
corrected for multiple testing; the significant ones are then pruned: a child must add
over each parent, and a parent that a kept refinement explains is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

from toolkit.analysis._stats import benjamini_hochberg, worse_than_rest_p_values

__all__ = ["Candidates", "LatticeSearch", "search_lattice"]

#: Combinations of columns whose cell grid is larger than this are counted sparsely.
_DENSE_CELL_LIMIT = 2_000_000

#: A counted pattern: (level, position in that level); level 0 has one condition.
Key = tuple[int, int]


@dataclass
class Candidates:
    """Every counted conjunction with enough support, stored column-wise per level."""

    combo: list[np.ndarray]  # per level: (n_patterns, level + 1) column indices
    cells: list[np.ndarray]  # per level: (n_patterns, level + 1) bin indices
    n: list[np.ndarray]
    errors: list[np.ndarray]

    def items(self, key: Key) -> list[tuple[int, int]]:
        """The (column, bin) pairs of one pattern."""
        level, pos = key
        return list(zip(self.combo[level][pos].tolist(), self.cells[level][pos].tolist()))


@dataclass
class LatticeSearch:
    """What the search found: the counted candidates, their tests and the kept ones."""

    cand: Candidates
    p_values: np.ndarray  # flat over levels, see ``offsets``
    q_values: np.ndarray
    offsets: np.ndarray  # flat index of (level, pos) is offsets[level] + pos
    n_significant: int
    kept: list[Key]  # best first: most errors in the search rows, then fewer conditions

    @property
    def n_tested(self) -> int:
        return int(self.offsets[-1])


def search_lattice(
    codes: np.ndarray,
    errors: np.ndarray,
    n_bins: np.ndarray,
    *,
    depth: int,
    support: int,
    alpha: float,
    min_lift: float,
    min_improvement: float,
) -> LatticeSearch:
    """Count, test and prune every conjunction of up to ``depth`` bins of ``codes``.

    ``codes`` is (n_rows, n_columns) bin codes of the search rows, ``errors`` their
    error indicator.
    """
    cand = _count_lattice(codes, errors, n_bins, depth, support)
    e_total, n_total = int(errors.sum()), int(errors.shape[0])
    flat_n = np.concatenate(cand.n)
    flat_e = np.concatenate(cand.errors)
    p_values = worse_than_rest_p_values(flat_e, flat_n, e_total, n_total)
    q_values = benjamini_hochberg(p_values)
    offsets = np.cumsum([0] + [len(x) for x in cand.n])
    overall = e_total / n_total if n_total else 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = flat_e / flat_n
    significant = (q_values < alpha) & (rates >= min_lift * overall)

    index = _PatternIndex(cand)
    kept: list[Key] = []
    for level in range(len(cand.n)):
        lo = offsets[level]
        for pos in np.flatnonzero(significant[lo : offsets[level + 1]]):
            if level == 0 or _adds_over_parents(cand, index, level, pos, alpha, min_improvement):
                kept.append((level, int(pos)))
    kept = _drop_explained(cand, kept, e_total, n_total, alpha)
    kept.sort(key=lambda lp: (-int(cand.errors[lp[0]][lp[1]]), lp[0], int(cand.n[lp[0]][lp[1]])))
    return LatticeSearch(cand, p_values, q_values, offsets, int(significant.sum()), kept)


def _count_lattice(
    codes: np.ndarray, errors: np.ndarray, n_bins: np.ndarray, depth: int, support: int
) -> Candidates:
    """Count rows and errors of every conjunction with at least ``support`` rows."""
    err_codes = codes[errors]
    cand = Candidates([], [], [], [])
    for level in range(1, depth + 1):
        combos, cells, ns, es = [], [], [], []
        for combo in combinations(range(codes.shape[1]), level):
            counted = _count_cells(codes, err_codes, combo, n_bins[list(combo)], support)
            if counted is None:
                continue
            frequent, n_cell, e_cell = counted
            radix = n_bins[list(combo)]
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


def _count_cells(
    codes: np.ndarray,
    err_codes: np.ndarray,
    combo: tuple[int, ...],
    radix: np.ndarray,
    support: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Cells of one combination of columns with at least ``support`` rows: their flat
    index, rows and errors (None when there is none)."""
    size = int(np.prod(radix))
    key = _mixed_radix(codes, combo, radix)
    err_key = _mixed_radix(err_codes, combo, radix)
    if size <= _DENSE_CELL_LIMIT:
        n_cell = np.bincount(key, minlength=size)
        frequent = np.flatnonzero(n_cell >= support)
        if frequent.size == 0:
            return None
        return frequent, n_cell[frequent], np.bincount(err_key, minlength=size)[frequent]
    uniq, n_cell = np.unique(key, return_counts=True)
    keep = n_cell >= support
    frequent, n_cell = uniq[keep], n_cell[keep]
    if frequent.size == 0:
        return None
    e_uniq, e_counts = np.unique(err_key, return_counts=True)
    e_cell = np.zeros(frequent.size, dtype=np.int64)
    pos = np.searchsorted(frequent, e_uniq)
    ok = (pos < frequent.size) & (frequent[np.minimum(pos, frequent.size - 1)] == e_uniq)
    e_cell[pos[ok]] = e_counts[ok]
    return frequent, n_cell, e_cell


def _mixed_radix(codes: np.ndarray, combo: tuple[int, ...], radix: np.ndarray) -> np.ndarray:
    key = codes[:, combo[0]].copy()
    for j, r in zip(combo[1:], radix[1:]):
        key *= r
        key += codes[:, j]
    return key


class _PatternIndex:
    """Find a counted pattern by its (column, bin) pairs (built lazily per level)."""

    def __init__(self, cand: Candidates) -> None:
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
    cand: Candidates,
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
    cand: Candidates, kept: list[Key], e_total: int, n_total: int, alpha: float
) -> list[Key]:
    """Drop a pattern whose excess errors a kept refinement of it already holds."""
    items = {lp: frozenset(cand.items(lp)) for lp in kept}
    by_item: dict[tuple[int, int], list[Key]] = {}
    for lp, its in items.items():
        for it in its:
            by_item.setdefault(it, []).append(lp)
    result = []
    for lp in kept:
        its = items[lp]
        pools = sorted((by_item[it] for it in its), key=len)
        refinements = [d for d in pools[0] if d[0] > lp[0] and its <= items[d]]
        if not any(_explains(cand, lp, d, e_total, n_total, alpha) for d in refinements):
            result.append(lp)
    return result


def _explains(cand: Candidates, lp: Key, d: Key, e_total: int, n_total: int, alpha: float) -> bool:
    """Is pattern ``lp`` without the rows of its refinement ``d`` no longer significantly
    worse than the rows outside ``lp``?"""
    n_p, e_p = int(cand.n[lp[0]][lp[1]]), int(cand.errors[lp[0]][lp[1]])
    n_rest = n_p - int(cand.n[d[0]][d[1]])
    e_rest = e_p - int(cand.errors[d[0]][d[1]])
    if n_rest <= 0:
        return True
    p_value = worse_than_rest_p_values(
        np.array([e_rest]),
        np.array([n_rest]),
        e_rest + (e_total - e_p),
        n_rest + (n_total - n_p),
    )[0]
    return not p_value < alpha
