"""The pruned top-k lattice search behind :func:`toolkit.find_error_patterns`.

Conjunctions of atoms on distinct columns are counted level by level (one condition,
then two, ...), one combination of columns at a time (see ``_pattern_count``). A
conjunction is *eligible* when it has at least ``support`` rows, its Bonferroni-adjusted
p-value against the rest is below ``alpha``, its error rate is at least ``min_lift``
times the overall one and, with more than one condition, it is clearly worse than each
parent (significantly worse than the parent's other rows, Bonferroni-corrected over the
parent's refinements by one condition, and ``min_improvement`` times its rate). The
search keeps the ``k`` best eligible conjunctions by score, in a total order (score,
then errors, then fewer conditions, then columns and atoms).

Pruning: a refinement of a conjunction has at most its errors, so no refinement scores
above :func:`~toolkit.analysis._pattern_scores.refinement_bound` of it. Once ``k``
conjunctions are kept, the score of the k-th is a floor ``theta`` that only rises; a
conjunction whose bound is below ``theta`` is not refined further, a combination of
columns one of whose sub-combinations has nothing left to refine is not counted, and
the eligibility of a conjunction that scores below ``theta`` is not tested. None of
these could enter the top ``k``, so the result equals that of an exhaustive search. Every
parent of a conjunction that scores at least ``theta`` has a bound at least ``theta``, so
it was kept for refinement and its counts are at hand for the parent tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

from toolkit.analysis._pattern_atoms import ColumnAtoms
from toolkit.analysis._pattern_count import CellCounter, Counts
from toolkit.analysis._pattern_scores import pattern_scores, refinement_bound
from toolkit.analysis._stats import worse_than_rest_p_values

__all__ = ["SearchSettings", "TopPatterns", "drop_explained", "search_patterns"]

#: Slack on score comparisons against the floor (only ever keeps more candidates).
_TOL = 1e-12
#: Candidates tested together (fewer calls; the floor is raised between batches).
_BATCH = 20_000


@dataclass(frozen=True)
class SearchSettings:
    """What the search looks for (see the module docstring)."""

    depth: int
    support: int
    k: int | None  # None: keep every eligible conjunction (no pruning)
    rank_by: str
    alpha: float
    n_candidates: int  # the Bonferroni factor
    min_lift: float
    min_improvement: float


@dataclass
class TopPatterns:
    """The best eligible conjunctions of the search rows, best first.

    Row ``i`` has ``levels[i] + 1`` conditions: atom ``atoms[i, j]`` of column
    ``columns[i, j]`` for ``j <= levels[i]`` (the rest is padding, -1).
    """

    columns: np.ndarray
    atoms: np.ndarray
    levels: np.ndarray
    n: np.ndarray
    errors: np.ndarray
    p_values: np.ndarray
    scores: np.ndarray
    n_tested: int = 0

    def __len__(self) -> int:
        return int(self.n.size)

    def items(self, i: int) -> list[tuple[int, int]]:
        """The (column, atom) pairs of pattern ``i``."""
        level = int(self.levels[i])
        return list(zip(self.columns[i, : level + 1].tolist(), self.atoms[i, : level + 1].tolist()))

    def take(self, index: np.ndarray) -> TopPatterns:
        return TopPatterns(
            self.columns[index],
            self.atoms[index],
            self.levels[index],
            self.n[index],
            self.errors[index],
            self.p_values[index],
            self.scores[index],
            self.n_tested,
        )

    def merge(self, other: TopPatterns, k: int | None) -> TopPatterns:
        """Both sets in the total order, cut to the best ``k``."""
        both = TopPatterns.concat([self, other])
        keys = [*both.atoms.T[::-1], *both.columns.T[::-1], both.levels, -both.errors]
        order = np.lexsort([*keys, -both.scores])
        return both.take(order[:k])

    def _arrays(self) -> tuple[np.ndarray, ...]:
        return (
            self.columns,
            self.atoms,
            self.levels,
            self.n,
            self.errors,
            self.p_values,
            self.scores,
        )

    @classmethod
    def concat(cls, parts: list[TopPatterns]) -> TopPatterns:
        return cls(*(np.concatenate(arrays) for arrays in zip(*(p._arrays() for p in parts))))

    @classmethod
    def empty(cls, depth: int) -> TopPatterns:
        pad = np.zeros((0, depth), dtype=np.int64)
        zero = np.zeros(0, dtype=np.int64)
        return cls(pad, pad, zero, zero, zero, np.zeros(0), np.zeros(0))


def search_patterns(
    columns: list[ColumnAtoms], rows: np.ndarray, errors: np.ndarray, settings: SearchSettings
) -> TopPatterns:
    """The ``settings.k`` best eligible conjunctions on ``rows`` (a bool mask) of the
    columns' atoms, ``errors`` being the error indicator of those rows."""
    counter = CellCounter(columns, rows, errors, settings.support)
    totals = (int(errors.sum()), int(errors.shape[0]))
    top = TopPatterns.empty(settings.depth)
    refinable: dict[tuple[int, ...], Counts] = {}
    n_tested = 0
    for level in range(settings.depth):
        counted: dict[tuple[int, ...], Counts] = {}
        pending: list[tuple[tuple[int, ...], Counts, np.ndarray]] = []
        n_pending = 0
        for combo in combinations(range(len(columns)), level + 1):
            if level and not all(sub in refinable for sub in _sub_combos(combo)):
                continue  # every conjunction here refines one that cannot enter the top
            counts = counter.count(combo)
            n_tested += counts.keys.size
            if level + 1 < settings.depth:
                counted[combo] = counts
            scores = pattern_scores(settings.rank_by, counts.errors, counts.n, *totals)
            pick = np.flatnonzero(
                (scores >= _floor(top, settings.k) - _TOL)
                & (counts.errors / counts.n >= settings.min_lift * (totals[0] / totals[1]))
            )
            if pick.size:
                pending.append((combo, counts.take(pick), scores[pick]))
                n_pending += pick.size
            if n_pending >= _BATCH:  # test in batches: one call per batch, not per combination
                top = top.merge(
                    _eligible(counter, pending, refinable, totals, settings), settings.k
                )
                pending, n_pending = [], 0
        top = top.merge(_eligible(counter, pending, refinable, totals, settings), settings.k)
        if level + 1 < settings.depth:
            refinable = _refinable(counted, _floor(top, settings.k), totals, settings)
    top.n_tested = n_tested
    return top


def _floor(top: TopPatterns, k: int | None) -> float:
    """Score a conjunction needs to enter the top ``k`` (-inf until there are ``k``)."""
    return float(top.scores[-1]) if k is not None and len(top) >= k else -np.inf


def _sub_combos(combo: tuple[int, ...]) -> list[tuple[int, ...]]:
    return [combo[:j] + combo[j + 1 :] for j in range(len(combo))]


def _refinable(
    counted: dict[tuple[int, ...], Counts],
    theta: float,
    totals: tuple[int, int],
    settings: SearchSettings,
) -> dict[tuple[int, ...], Counts]:
    """The conjunctions of a level some refinement of which could still enter the top."""
    out = {}
    for combo, counts in counted.items():
        bound = refinement_bound(settings.rank_by, counts.errors, settings.support, *totals)
        keep = bound >= theta - _TOL
        if keep.any():
            out[combo] = counts.take(keep)
    return out


def _eligible(
    counter: CellCounter,
    pending: list[tuple[tuple[int, ...], Counts, np.ndarray]],
    refinable: dict[tuple[int, ...], Counts],
    totals: tuple[int, int],
    settings: SearchSettings,
) -> TopPatterns:
    """The eligible conjunctions among ``pending`` (combination, counts, scores; the
    lift is checked): significant against the rest, then clearly worse than each parent."""
    found = [TopPatterns.empty(settings.depth)]
    if not pending:
        return found[0]
    e = np.concatenate([counts.errors for _, counts, _ in pending])
    n = np.concatenate([counts.n for _, counts, _ in pending])
    threshold = settings.alpha / settings.n_candidates  # Bonferroni
    all_p = worse_than_rest_p_values(e, n, *totals, skip_above=threshold)
    start = 0
    for combo, counts, scores in pending:
        p_values = all_p[start : start + scores.size]
        start += scores.size
        idx = np.flatnonzero(p_values < threshold)
        atoms = np.column_stack(np.unravel_index(counts.keys[idx], counter.atom_shape(combo)))
        for drop in range(len(combo) if len(combo) > 1 else 0):
            if idx.size == 0:
                break
            ok = _adds_over_parent(
                np.delete(atoms, drop, axis=1),
                counts.take(idx),
                combo[:drop] + combo[drop + 1 :],
                counter,
                refinable,
                settings,
            )
            idx, atoms = idx[ok], atoms[ok]
        if idx.size:
            pad = np.full((idx.size, settings.depth - len(combo)), -1, dtype=np.int64)
            found.append(
                TopPatterns(
                    np.hstack([np.tile(np.array(combo, dtype=np.int64), (idx.size, 1)), pad]),
                    np.hstack([atoms, pad]),
                    np.full(idx.size, len(combo) - 1, dtype=np.int64),
                    counts.n[idx],
                    counts.errors[idx],
                    p_values[idx],
                    scores[idx],
                )
            )
    return TopPatterns.concat(found)


def _adds_over_parent(
    parent_atoms: np.ndarray,
    counts: Counts,
    sub: tuple[int, ...],
    counter: CellCounter,
    refinable: dict[tuple[int, ...], Counts],
    settings: SearchSettings,
) -> np.ndarray:
    """Is each conjunction clearly worse than its parent (atoms ``parent_atoms`` of the
    columns ``sub``): significantly worse than the parent's other rows (Bonferroni over
    the parent's refinements by one condition: among many, some look worse by chance),
    and an error rate at least ``min_improvement`` times the parent's?"""
    parents = refinable[sub]
    keys = np.ravel_multi_index(tuple(parent_atoms.T), counter.atom_shape(sub))
    pos = np.minimum(np.searchsorted(parents.keys, keys), max(parents.keys.size - 1, 0))
    if parents.keys.size == 0:  # cannot happen: see the module docstring
        return np.zeros(keys.shape, dtype=bool)
    found = parents.keys[pos] == keys
    n_c, e_c = counts.n, counts.errors
    n_p, e_p = parents.n[pos], parents.errors[pos]
    better = ~(e_c * n_p < settings.min_improvement * e_p * n_c)
    p_values = worse_than_rest_p_values(e_c, n_c, np.where(found, e_p, 0), np.where(found, n_p, 0))
    # the parent's refinements by one condition: every atom of every other column
    n_refinements = int(counter.atom_dims.sum() - counter.atom_dims[list(sub)].sum())
    return found & better & (p_values * n_refinements < settings.alpha)


def drop_explained(top: TopPatterns, totals: tuple[int, int], alpha: float) -> np.ndarray:
    """Positions of the patterns of ``top`` that no refinement among them explains.

    Pattern P is explained by a refinement D (D's conditions include P's) when P without
    D's rows is no longer significantly worse than the rows outside P.
    """
    e_total, n_total = totals
    items = [frozenset(top.items(i)) for i in range(len(top))]
    kept = []
    for i, its in enumerate(items):
        n_p, e_p = int(top.n[i]), int(top.errors[i])
        explained = False
        for j, other in enumerate(items):
            if len(other) <= len(its) or not its <= other:
                continue
            n_rest, e_rest = n_p - int(top.n[j]), e_p - int(top.errors[j])
            if n_rest <= 0:
                explained = True
                break
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
            kept.append(i)
    return np.array(kept, dtype=np.int64)
