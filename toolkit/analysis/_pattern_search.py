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
it was kept for refinement and its counts are at hand for the parent tests. A
conjunction whose refinements cannot reach ``min_lift`` (``errors / support`` below it)
is not refined either: no refinement could be eligible.

Sample weights. With weights, ``support`` still counts rows, and the scores, the lift and
the tests use the weighted sums (the tests on Kish effective counts). The bound is then
the weighted one of :func:`~toolkit.analysis._pattern_scores.refinement_bound`, which
needs the smallest weight of a right row of the search (``min_weight``): the argument
above is otherwise unchanged, and the search stays exact.

Budget. Counting a level costs time, and the counts of a level are held while the
next is counted. With ``max_work`` set, the cost of each level from two conditions on
is estimated before it is counted (:func:`combination_cost` per combination of columns:
about a nanosecond per unit on a current core). A level over budget is counted on the
``m`` columns whose refinable conjunctions have the best bounds, ``m`` the largest that
fits, and the result records it in ``limits``; the pool is then the best of the
conjunctions of those columns, not of all. Memory follows: the counts held for the next
level are those of one level, at most ``max_work / 100`` conjunctions of 24 bytes (480 MB
at the default 2e9, in the worst case where every conjunction has ``support`` rows; the
wide tables of ``benchmarks/bench_wide.py`` hold far less).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from toolkit.analysis._pattern_atoms import ColumnAtoms
from toolkit.analysis._pattern_count import CellCounter, Counts
from toolkit.analysis._pattern_scores import (
    min_lift_reachable,
    pattern_scores,
    refinement_bound,
)
from toolkit.analysis._stats import rest_p_values

__all__ = [
    "SearchLimit",
    "SearchSettings",
    "TopPatterns",
    "combination_cost",
    "drop_explained",
    "search_patterns",
]

#: Slack on score comparisons against the floor (only ever keeps more candidates).
_TOL = 1e-12
#: Candidates tested together (fewer calls; the floor is raised between batches).
_BATCH = 20_000
#: Cost units of counting one combination of columns: the call, each search row, each
#: conjunction of atoms (scored and filtered). Measured on dense counts: ~60 µs a call,
#: ~2 ns a row, ~100 ns a conjunction (benchmarks/bench_wide.py).
_CALL_COST, _ROW_COST, _CELL_COST = 60_000, 2, 100


def combination_cost(n_rows: int, n_conjunctions: int | np.ndarray) -> int | np.ndarray:
    """Estimated work of counting one combination of columns with ``n_conjunctions``
    conjunctions of atoms on ``n_rows`` rows (about a nanosecond per unit)."""
    return _CALL_COST + _ROW_COST * n_rows + _CELL_COST * n_conjunctions


@dataclass(frozen=True)
class SearchLimit:
    """A level the budget cut: its conjunctions of ``conditions`` conditions were
    counted on ``columns_searched`` of the ``columns_refinable`` columns that had
    conjunctions left to refine; ``work`` is the estimated work of the whole level."""

    conditions: int
    columns_searched: int
    columns_refinable: int
    work: int


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
    max_work: int | None = None  # None: no budget (exact)


@dataclass(frozen=True)
class Totals:
    """The search rows as the scores and tests see them: ``errors`` and ``n`` are counts
    of rows (``sq`` None) or, with sample weights, sums of weights (``sq`` the sum of
    squared weights, ``min_weight`` the smallest weight of a right row); ``rows`` counts
    the rows either way."""

    errors: float
    n: float
    rows: int
    sq: float | None = None
    min_weight: float = 0.0

    @classmethod
    def of(cls, errors: np.ndarray, weights: np.ndarray | None) -> Totals:
        if weights is None:
            return cls(int(errors.sum()), int(errors.shape[0]), int(errors.shape[0]))
        right = weights[~errors]
        return cls(
            float(weights[errors].sum()),
            float(weights.sum()),
            int(errors.shape[0]),
            float((weights * weights).sum()),
            float(right.min()) if right.size else 0.0,
        )


@dataclass
class TopPatterns:
    """The best eligible conjunctions of the search rows, best first.

    Row ``i`` has ``levels[i] + 1`` conditions: atom ``atoms[i, j]`` of column
    ``columns[i, j]`` for ``j <= levels[i]`` (the rest is padding, -1). ``w``, ``we``
    and ``w2`` are the weighted sums (rows, error rows and rows again without weights).
    """

    columns: np.ndarray
    atoms: np.ndarray
    levels: np.ndarray
    n: np.ndarray
    errors: np.ndarray
    p_values: np.ndarray
    scores: np.ndarray
    w: np.ndarray
    we: np.ndarray
    w2: np.ndarray
    n_tested: int = 0
    limits: tuple[SearchLimit, ...] = ()

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
            self.w[index],
            self.we[index],
            self.w2[index],
            self.n_tested,
            self.limits,
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
            self.w,
            self.we,
            self.w2,
        )

    @classmethod
    def concat(cls, parts: list[TopPatterns]) -> TopPatterns:
        return cls(*(np.concatenate(arrays) for arrays in zip(*(p._arrays() for p in parts))))

    @classmethod
    def empty(cls, depth: int) -> TopPatterns:
        pad = np.zeros((0, depth), dtype=np.int64)
        zero = np.zeros(0, dtype=np.int64)
        return cls(pad, pad, zero, zero, zero, *(np.zeros(0) for _ in range(5)))


def search_patterns(
    columns: list[ColumnAtoms],
    rows: np.ndarray,
    errors: np.ndarray,
    settings: SearchSettings,
    weights: np.ndarray | None = None,
) -> TopPatterns:
    """The ``settings.k`` best eligible conjunctions on ``rows`` (a bool mask) of the
    columns' atoms, ``errors`` being the error indicator of those rows and ``weights``
    their sample weights (None: every row counts 1)."""
    counter = CellCounter(columns, rows, errors, settings.support, weights)
    totals = Totals.of(errors, weights)
    top = TopPatterns.empty(settings.depth)
    refinable: dict[tuple[int, ...], Counts] = {}
    column_bound = np.full(len(columns), -np.inf)
    limits: list[SearchLimit] = []
    n_tested = 0
    for level in range(settings.depth):
        counted: dict[tuple[int, ...], Counts] = {}
        if level == 0:
            combos: Iterator[tuple[int, ...]] = ((j,) for j in range(len(columns)))
        else:
            allowed, limit = _budget_columns(counter, refinable, column_bound, totals, settings)
            if limit is not None:
                limits.append(limit)
            combos = _extensions(refinable, allowed)
        batch: list[tuple[tuple[int, ...], Counts]] = []
        n_batch = 0
        for combo in combos:
            counts = counter.count(combo)
            n_tested += counts.keys.size
            if level + 1 < settings.depth:
                counted[combo] = counts
            if counts.keys.size:
                batch.append((combo, counts))
                n_batch += counts.keys.size
            if n_batch >= _BATCH:  # score and test in batches: one call per batch
                pending = _candidates(batch, _floor(top, settings.k), totals, settings)
                found = _eligible(counter, pending, refinable, totals, settings)
                top = top.merge(found, settings.k)
                batch, n_batch = [], 0
        pending = _candidates(batch, _floor(top, settings.k), totals, settings)
        top = top.merge(_eligible(counter, pending, refinable, totals, settings), settings.k)
        if level + 1 < settings.depth:
            refinable, column_bound = _refinable(
                counted, _floor(top, settings.k), totals, settings, len(columns)
            )
    top.n_tested = n_tested
    top.limits = tuple(limits)
    return top


def _extensions(
    refinable: dict[tuple[int, ...], Counts], allowed: np.ndarray
) -> Iterator[tuple[int, ...]]:
    """The combinations one column longer, of allowed columns, all of whose
    sub-combinations have conjunctions left to refine, in ``itertools.combinations``
    order (consecutive combinations share their prefix: the counter reuses its key)."""
    allowed_columns = np.flatnonzero(allowed).tolist()
    for combo in sorted(refinable):
        if not allowed[list(combo)].all():
            continue
        for j in allowed_columns:
            if j <= combo[-1]:
                continue
            longer = (*combo, j)
            if all(sub in refinable for sub in _sub_combos(longer)[:-1]):
                yield longer


def _budget_columns(
    counter: CellCounter,
    refinable: dict[tuple[int, ...], Counts],
    column_bound: np.ndarray,
    totals: Totals,
    settings: SearchSettings,
) -> tuple[np.ndarray, SearchLimit | None]:
    """The columns the next level is counted on: every column with conjunctions left
    to refine, or, when their work is over ``settings.max_work``, the most promising
    of them (best bound of a refinable conjunction; ties: the first column) that fit."""
    n_columns = counter.atom_dims.size
    present = np.zeros(n_columns, dtype=bool)
    for combo in refinable:
        present[list(combo)] = True
    if settings.max_work is None or not refinable:
        return present, None
    combos = np.array(sorted(refinable), dtype=np.int64)
    cells = np.prod(counter.atom_dims[combos], axis=1)
    work = _level_work(combos, cells, present, counter.atom_dims, totals.rows)
    if work <= settings.max_work:
        return present, None
    order = [j for j in np.lexsort((np.arange(n_columns), -column_bound)) if present[j]]
    lo, hi = 0, len(order)  # the largest m whose work fits: work rises with m
    while lo < hi:
        m = (lo + hi + 1) // 2
        allowed = np.zeros(n_columns, dtype=bool)
        allowed[order[:m]] = True
        if _level_work(combos, cells, allowed, counter.atom_dims, totals.rows) <= settings.max_work:
            lo = m
        else:
            hi = m - 1
    allowed = np.zeros(n_columns, dtype=bool)
    allowed[order[:lo]] = True
    return allowed, SearchLimit(combos.shape[1] + 1, lo, len(order), int(work))


def _level_work(
    combos: np.ndarray, cells: np.ndarray, allowed: np.ndarray, atom_dims: np.ndarray, n_rows: int
) -> int:
    """Work of extending each refinable combination of allowed columns by one allowed
    column after its last (an upper bound: some extensions are skipped)."""
    keep = allowed[combos].all(axis=1)
    last = combos[keep, -1]
    after_count = np.cumsum(allowed[::-1])[::-1] - allowed  # allowed columns after j
    after_atoms = np.cumsum((atom_dims * allowed)[::-1])[::-1] - atom_dims * allowed
    calls = after_count[last]
    work = calls * combination_cost(n_rows, 0) + _CELL_COST * cells[keep] * after_atoms[last]
    return int(work.sum())


def _candidates(
    batch: list[tuple[tuple[int, ...], Counts]],
    theta: float,
    totals: Totals,
    settings: SearchSettings,
) -> list[tuple[tuple[int, ...], Counts, np.ndarray]]:
    """The conjunctions of ``batch`` that score at least ``theta`` and reach ``min_lift``,
    with their scores, by combination."""
    if not batch:
        return []
    e, n, sq = _concat_sums([counts for _, counts in batch])
    scores = pattern_scores(settings.rank_by, e, n, totals.errors, totals.n, sq)
    with np.errstate(invalid="ignore", divide="ignore"):  # weighted: a weight of 0
        lift_ok = e / n >= settings.min_lift * (totals.errors / totals.n)
    keep = (scores >= theta - _TOL) & lift_ok
    out = []
    start = 0
    for combo, counts in batch:
        stop = start + counts.keys.size
        pick = np.flatnonzero(keep[start:stop])
        if pick.size:
            out.append((combo, counts.take(pick), scores[start:stop][pick]))
        start = stop
    return out


def _concat_sums(parts: list[Counts]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The errors, n and squared weights of ``parts`` together (see ``Counts.sums``)."""
    sums = [c.sums() for c in parts]
    e = np.concatenate([x[0] for x in sums])
    n = np.concatenate([x[1] for x in sums])
    sq = None if sums[0][2] is None else np.concatenate([x[2] for x in sums])
    return e, n, sq


def _floor(top: TopPatterns, k: int | None) -> float:
    """Score a conjunction needs to enter the top ``k`` (-inf until there are ``k``)."""
    return float(top.scores[-1]) if k is not None and len(top) >= k else -np.inf


def _sub_combos(combo: tuple[int, ...]) -> list[tuple[int, ...]]:
    return [combo[:j] + combo[j + 1 :] for j in range(len(combo))]


def _refinable(
    counted: dict[tuple[int, ...], Counts],
    theta: float,
    totals: Totals,
    settings: SearchSettings,
    n_columns: int,
) -> tuple[dict[tuple[int, ...], Counts], np.ndarray]:
    """The conjunctions of a level some refinement of which could still enter the top
    (bound at least ``theta``, and ``errors / support`` at least ``min_lift`` times the
    overall rate), and each column's best bound among them (-inf: none)."""
    out: dict[tuple[int, ...], Counts] = {}
    column_bound = np.full(n_columns, -np.inf)
    min_rate = settings.min_lift * totals.errors / totals.n
    chunk: list[tuple[tuple[int, ...], Counts]] = []
    n_chunk = 0
    combos = list(counted)
    for i, combo in enumerate(combos):
        counts = counted.pop(combo)  # freed as it goes: the kept part is a copy
        chunk.append((combo, counts))
        n_chunk += counts.keys.size
        if n_chunk < _BATCH * 16 and i + 1 < len(combos):
            continue
        errors = np.concatenate([c.errors for _, c in chunk])
        weighted = None if totals.sq is None else np.concatenate([c.we for _, c in chunk])
        bound = refinement_bound(
            settings.rank_by,
            errors,
            settings.support,
            totals.errors,
            totals.n,
            weighted,
            totals.min_weight,
        )
        reachable = min_lift_reachable(
            errors, settings.support, min_rate, weighted, totals.min_weight
        )
        keep = (bound >= theta - _TOL) & reachable
        start = 0
        for combo_c, counts_c in chunk:
            stop = start + counts_c.keys.size
            kept = keep[start:stop]
            if kept.any():
                out[combo_c] = counts_c.take(kept)
                best = float(bound[start:stop][kept].max())
                for j in combo_c:
                    column_bound[j] = max(column_bound[j], best)
            start = stop
        chunk, n_chunk = [], 0
    return out, column_bound


def _eligible(
    counter: CellCounter,
    pending: list[tuple[tuple[int, ...], Counts, np.ndarray]],
    refinable: dict[tuple[int, ...], Counts],
    totals: Totals,
    settings: SearchSettings,
) -> TopPatterns:
    """The eligible conjunctions among ``pending`` (combination, counts, scores; the
    lift is checked): significant against the rest, then clearly worse than each parent."""
    found = [TopPatterns.empty(settings.depth)]
    if not pending:
        return found[0]
    e, n, sq = _concat_sums([counts for _, counts, _ in pending])
    threshold = settings.alpha / settings.n_candidates  # Bonferroni
    all_p = rest_p_values(e, n, sq, totals.errors, totals.n, totals.sq, skip_above=threshold)
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
            chosen = counts.take(idx)
            c_e, c_n, c_sq = chosen.sums()
            found.append(
                TopPatterns(
                    np.hstack([np.tile(np.array(combo, dtype=np.int64), (idx.size, 1)), pad]),
                    np.hstack([atoms, pad]),
                    np.full(idx.size, len(combo) - 1, dtype=np.int64),
                    chosen.n,
                    chosen.errors,
                    p_values[idx],
                    scores[idx],
                    c_n,
                    c_e,
                    c_n if c_sq is None else c_sq,
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
    e_c, n_c, sq_c = counts.sums()
    e_p, n_p, sq_p = (x if x is None else x[pos] for x in parents.sums())
    better = ~(e_c * n_p < settings.min_improvement * e_p * n_c)
    p_values = rest_p_values(
        e_c,
        n_c,
        sq_c,
        np.where(found, e_p, 0),
        np.where(found, n_p, 0),
        None if sq_p is None else np.where(found, sq_p, 0.0),
    )
    # the parent's refinements by one condition: every atom of every other column
    n_refinements = int(counter.atom_dims.sum() - counter.atom_dims[list(sub)].sum())
    return found & better & (p_values * n_refinements < settings.alpha)


def drop_explained(
    top: TopPatterns, totals: tuple[float, float], alpha: float, sq_total: float | None = None
) -> np.ndarray:
    """Positions of the patterns of ``top`` that no refinement among them explains.

    Pattern P is explained by a refinement D (D's conditions include P's) when P without
    D's rows is no longer significantly worse than the rows outside P. ``totals`` are
    the errors and rows of the search, or with ``sq_total`` (weighted) the weighted
    errors and the weight, and the sum of squared weights.
    """
    e_total, n_total = totals
    weighted = sq_total is not None
    items = [frozenset(top.items(i)) for i in range(len(top))]
    kept = []
    for i, its in enumerate(items):
        n_p, e_p = int(top.n[i]), int(top.errors[i])
        if weighted:
            w_p, we_p, w2_p = float(top.w[i]), float(top.we[i]), float(top.w2[i])
        explained = False
        for j, other in enumerate(items):
            if len(other) <= len(its) or not its <= other:
                continue
            n_rest, e_rest = n_p - int(top.n[j]), e_p - int(top.errors[j])
            if n_rest <= 0:
                explained = True
                break
            if weighted:  # P's rows outside D against the rows outside P, by weight
                w_rest, we_rest = w_p - float(top.w[j]), we_p - float(top.we[j])
                w2_rest = w2_p - float(top.w2[j])
                p_value = rest_p_values(
                    np.array([we_rest]),
                    np.array([w_rest]),
                    np.array([w2_rest]),
                    we_rest + (e_total - we_p),
                    w_rest + (n_total - w_p),
                    w2_rest + (sq_total - w2_p),
                )[0]
            else:
                p_value = rest_p_values(
                    np.array([e_rest]),
                    np.array([n_rest]),
                    None,
                    e_rest + (e_total - e_p),
                    n_rest + (n_total - n_p),
                    None,
                )[0]
            if not p_value < alpha:
                explained = True
                break
        if not explained:
            kept.append(i)
    return np.array(kept, dtype=np.int64)
