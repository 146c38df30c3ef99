"""Rows and errors of every conjunction of atoms on one combination of columns.

One ``bincount`` over the grid of cells of the columns counts rows and errors together;
then each ordered column's axis is mapped from cells to atoms (an atom is a sum of
cells, e.g. a prefix of the values for ``x ≤ v``). A grid too large to hold is counted
group by group: the rows are grouped by their cells on the columns whose atoms are
their cells, and the ordered columns are counted densely within each chunk of groups.

With sample weights, the same grids also sum each conjunction's weight, weighted errors
and squared weights (rows and error rows are still counted: support is in rows).

A conjunction is identified by its *key*: the flat index of its atoms in the grid of
atoms of its columns (``np.ravel_multi_index``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from toolkit.analysis._pattern_atoms import ColumnAtoms

__all__ = ["DENSE_CELL_LIMIT", "CellCounter", "Counts"]

#: A combination whose grid of cells (or of atoms) is larger is counted group by group.
DENSE_CELL_LIMIT = 2_000_000


@dataclass
class Counts:
    """The conjunctions of one combination of columns with enough rows, by key: rows
    and error rows, and with sample weights the weight ``w``, the weighted errors ``we``
    and the sum of squared weights ``w2`` (None without weights)."""

    keys: np.ndarray  # sorted flat indices in the grid of atoms
    n: np.ndarray
    errors: np.ndarray
    w: np.ndarray | None = None
    we: np.ndarray | None = None
    w2: np.ndarray | None = None

    def take(self, keep: np.ndarray) -> Counts:
        if self.w is None:
            return Counts(self.keys[keep], self.n[keep], self.errors[keep])
        return Counts(
            self.keys[keep],
            self.n[keep],
            self.errors[keep],
            self.w[keep],
            self.we[keep],
            self.w2[keep],
        )

    def sums(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """What the scores and tests use: (errors, n, None) in rows, or the weighted
        (we, w, w2)."""
        if self.w is None:
            return self.errors, self.n, None
        return self.we, self.w, self.w2

    @staticmethod
    def concat(parts: list[Counts]) -> Counts:
        fields = ("keys", "n", "errors", "w", "we", "w2")
        if parts[0].w is None:
            fields = fields[:3]
        return Counts(*(np.concatenate([getattr(c, f) for c in parts]) for f in fields))


class CellCounter:
    """Counts conjunctions on the rows given (codes of each column's cells and errors).

    Combinations visited in ``itertools.combinations`` order share the key of their
    first columns, which is computed once.
    """

    def __init__(
        self,
        columns: list[ColumnAtoms],
        rows: np.ndarray,
        errors: np.ndarray,
        support: int,
        weights: np.ndarray | None = None,
    ) -> None:
        # one contiguous column per feature: the counts read whole columns
        self.codes = np.empty((int(rows.sum()), len(columns)), dtype=np.int32, order="F")
        for j, c in enumerate(columns):
            self.codes[:, j] = c.codes[rows]
        self.errors = errors.astype(np.int64)
        # per row: weight, weighted error, squared weight (None: unweighted)
        self.weights = (
            None
            if weights is None
            else [weights, np.where(errors, weights, 0.0), weights * weights]
        )
        self.cell_dims = np.array([c.n_cells for c in columns], dtype=np.int64)
        self.atom_dims = np.array([c.n_atoms for c in columns], dtype=np.int64)
        # the map from cells to atoms of an ordered column (None: its atoms are its cells)
        self.members = [None if c.members is None else c.members.astype(np.int64) for c in columns]
        self.support = support
        self._prefix: tuple[int, ...] = ()
        self._prefix_key = np.zeros(0, dtype=np.int64)

    def atom_shape(self, combo: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(int(d) for d in self.atom_dims[list(combo)])

    def count(self, combo: tuple[int, ...]) -> Counts:
        """Rows and errors of every conjunction on ``combo`` with at least ``support`` rows."""
        cells = math.prod(int(d) for d in self.cell_dims[list(combo)])
        atoms = math.prod(self.atom_shape(combo))
        if 2 * cells <= DENSE_CELL_LIMIT and atoms <= DENSE_CELL_LIMIT:
            return self._count_dense(combo)
        return self._count_grouped(combo)

    def _key(self, combo: tuple[int, ...]) -> np.ndarray:
        """Mixed-radix cell index of every row on ``combo``."""
        if len(combo) == 1:
            return self.codes[:, combo[0]].astype(np.int64)
        if combo[:-1] != self._prefix:
            prefix_key = self._key(combo[:-1])
            self._prefix, self._prefix_key = combo[:-1], prefix_key
        key = self._prefix_key * self.cell_dims[combo[-1]]
        key += self.codes[:, combo[-1]]
        return key

    def _to_atoms(self, grid: np.ndarray, combo: tuple[int, ...], offset: int) -> np.ndarray:
        """Map each ordered column's axis (at ``offset + position``) from cells to atoms."""
        for axis, j in enumerate(combo):
            members = self.members[j]
            if members is not None:
                moved = np.tensordot(members, grid, axes=([1], [offset + axis]))
                grid = np.moveaxis(moved, 0, offset + axis)
        return grid

    def _weighted(
        self,
        cells: np.ndarray,
        size: int,
        shape: tuple[int, ...],
        combo: tuple[int, ...],
        offset: int,
        rows: np.ndarray | None = None,
    ) -> list[np.ndarray]:
        """The weighted sums of every conjunction (flat), from each row's cell."""
        out = []
        for values in self.weights or ():
            grid = np.bincount(
                cells, weights=values if rows is None else values[rows], minlength=size
            )
            out.append(self._to_atoms(grid.reshape(shape), combo, offset).ravel())
        return out

    def _count_dense(self, combo: tuple[int, ...]) -> Counts:
        dims = tuple(int(d) for d in self.cell_dims[list(combo)])
        key = self._key(combo)
        sums = self._weighted(key, math.prod(dims), dims, combo, 0)
        key <<= 1
        key |= self.errors
        grid = np.bincount(key, minlength=2 * math.prod(dims)).reshape(*dims, 2)
        grid = self._to_atoms(grid, combo, 0)
        errors = grid[..., 1].ravel()
        n = grid[..., 0].ravel() + errors
        keys = np.flatnonzero(n >= self.support)
        return Counts(keys, n[keys], errors[keys], *(x[keys] for x in sums))

    def _count_grouped(self, combo: tuple[int, ...]) -> Counts:
        """Group rows by their cells on the unordered columns, count chunks of groups."""
        plain = [a for a, j in enumerate(combo) if self.members[j] is None]
        ordered = [a for a, j in enumerate(combo) if self.members[j] is not None]
        plain_dims = [int(self.cell_dims[combo[a]]) for a in plain]
        ord_dims = [int(self.cell_dims[combo[a]]) for a in ordered]
        group_key = _mixed_radix(self.codes, [combo[a] for a in plain], plain_dims)
        groups, inverse, sizes = np.unique(group_key, return_inverse=True, return_counts=True)
        big = sizes >= self.support  # a conjunction's rows lie in one group
        groups = groups[big]
        renumber = np.cumsum(big) - 1
        rows = np.flatnonzero(big[inverse])
        group = renumber[inverse[rows]]
        order = np.argsort(group, kind="stable")
        rows, group = rows[order], group[order]
        ord_key = _mixed_radix(self.codes, [combo[a] for a in ordered], ord_dims, rows)
        ord_size = math.prod(ord_dims)
        per_chunk = max(1, DENSE_CELL_LIMIT // (2 * ord_size))
        ord_atoms = [int(self.atom_dims[combo[a]]) for a in ordered]
        shape = self.atom_shape(combo)
        parts: list[Counts] = []
        for first in range(0, groups.size, per_chunk):
            lo, hi = np.searchsorted(group, [first, first + per_chunk])
            size = min(per_chunk, groups.size - first)
            cells = (group[lo:hi] - first) * ord_size + ord_key[lo:hi]
            ord_combo = tuple(combo[a] for a in ordered)
            sums = self._weighted(
                cells, size * ord_size, (size, *ord_dims), ord_combo, 1, rows[lo:hi]
            )
            local = cells << 1
            local |= self.errors[rows[lo:hi]]
            grid = np.bincount(local, minlength=2 * size * ord_size)
            grid = grid.reshape(size, *ord_dims, 2)
            grid = self._to_atoms(grid, ord_combo, 1)
            errors = grid[..., 1].ravel()
            n = grid[..., 0].ravel() + errors
            flat = np.flatnonzero(n >= self.support)
            where = np.unravel_index(flat, (size, *ord_atoms))
            index: list[np.ndarray] = [np.empty(0, dtype=np.int64)] * len(combo)
            plain_cells = np.unravel_index(groups[first + where[0]], plain_dims)
            for a, cells in zip(plain, plain_cells):
                index[a] = cells
            for a, atoms in zip(ordered, where[1:]):
                index[a] = atoms
            keys = np.ravel_multi_index(tuple(index), shape)
            parts.append(Counts(keys, n[flat], errors[flat], *(x[flat] for x in sums)))
        if not parts:
            empty = [np.zeros(0, dtype=np.int64) for _ in range(3)]
            return Counts(*empty, *(np.zeros(0) for _ in self.weights or ()))
        found = Counts.concat(parts)
        return found.take(np.argsort(found.keys, kind="stable"))


def _mixed_radix(
    codes: np.ndarray, columns: list[int], dims: list[int], rows: np.ndarray | None = None
) -> np.ndarray:
    key = np.zeros(codes.shape[0] if rows is None else rows.size, dtype=np.int64)
    for j, d in zip(columns, dims):
        key *= d
        key += codes[:, j] if rows is None else codes[rows, j]
    return key
