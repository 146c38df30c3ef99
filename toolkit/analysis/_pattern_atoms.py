"""The atoms of the error-pattern search: the conditions one column contributes.

The rows of a column fall into *cells* (a partition: the bins of
:func:`~toolkit.analysis.binning.bin_column`, "(missing)" included) and each *atom* is
a condition that selects a union of cells. For most columns the atoms are the cells.
A numeric column with 3 to ``ORDINAL_MAX_VALUES`` distinct values (a count, a rating, a
small integer) is ordered: its cells are its values, and besides ``x = v`` it gets the
one-sided cut points ``x ≤ v`` and ``x ≥ v`` between its smallest and largest values, so
a natural threshold is one condition ("count ≥ 1", not "count = 1" and "count ≥ 2").

>>> a = column_atoms([0, 0, 1, 2, 3, None], "count")
>>> a.labels
['count = 0', 'count = 1', 'count = 2', 'count = 3', 'count = (missing)',
 'count ≤ 1', 'count ≤ 2', 'count ≥ 1', 'count ≥ 2']
>>> a.codes.tolist()  # the cell of each row: its value, or the missing cell
[0, 0, 1, 2, 3, 4]
>>> a.rows(7).tolist()  # count ≥ 1
[False, False, True, True, True, False]
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from toolkit.analysis.binning import bin_column
from toolkit.analysis.conditions import Condition

__all__ = ["ORDINAL_MAX_VALUES", "ColumnAtoms", "column_atoms"]

#: A numeric column with at most this many distinct values gets one-sided cut points.
ORDINAL_MAX_VALUES = 20


@dataclass(frozen=True)
class ColumnAtoms:
    """The cells of one column's rows and the atoms (conditions) built from them.

    ``codes[i]`` is the cell of row ``i``; ``conditions[j]`` is atom ``j``. The first
    ``n_cells`` atoms are the cells themselves; ``members[j]`` (a bool array of
    ``n_cells``) holds the cells of atom ``j`` of an ordered column, and is None for the
    others (whose atoms are their cells).
    """

    column: str
    codes: np.ndarray
    conditions: list[Condition]
    members: np.ndarray | None = None  # (n_atoms, n_cells) bool
    labels: list[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", [c.label for c in self.conditions])

    @property
    def n_cells(self) -> int:
        return self.n_atoms if self.members is None else int(self.members.shape[1])

    @property
    def n_atoms(self) -> int:
        return len(self.conditions)

    @property
    def ordered(self) -> bool:
        """Has atoms beyond the cells (one-sided cut points)."""
        return self.members is not None

    def rows(self, atom: int) -> np.ndarray:
        """Bool mask of the rows that ``atom`` selects."""
        if self.members is None:
            return self.codes == atom
        return self.members[atom][self.codes]


def column_atoms(
    values: pd.Series | np.ndarray | list,
    column: str,
    *,
    bins: int = 5,
    max_categories: int = 50,
    weights: np.ndarray | None = None,
) -> ColumnAtoms:
    """The atoms of one column: its bins, plus one-sided cut points when it is ordered.

    ``bins``, ``max_categories`` and ``weights`` are those of
    :func:`~toolkit.analysis.binning.bin_column`, which bins every column that is not
    ordered.
    """
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    n_values = _ordinal_values(series)
    if n_values:
        # one bin per value (bin_column bins a column with at most ``bins`` values by value)
        cells = bin_column(series, column, bins=n_values, max_categories=n_values + 1)
        return _with_cut_points(cells.column, cells.codes, cells.conditions, n_values)
    cells = bin_column(series, column, bins=bins, max_categories=max_categories, weights=weights)
    return ColumnAtoms(column, cells.codes, list(cells.conditions))


def _ordinal_values(series: pd.Series) -> int:
    """Number of distinct values when the column is ordered (numeric, finite, 3 to
    ``ORDINAL_MAX_VALUES`` values), else 0."""
    if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        return 0
    numeric = series.to_numpy(dtype=float, na_value=np.nan)
    finite = numeric[~np.isnan(numeric)]
    if not np.isfinite(finite).all():
        return 0
    if np.unique(finite[:10_000]).size > ORDINAL_MAX_VALUES:  # a cheap "no" for most columns
        return 0
    n_values = int(np.unique(finite).size)
    return n_values if 3 <= n_values <= ORDINAL_MAX_VALUES else 0


def _with_cut_points(
    column: str, codes: np.ndarray, cells: list[Condition], n_values: int
) -> ColumnAtoms:
    """Value cells (ascending, then "(missing)") plus ``x ≤ v`` and ``x ≥ v`` for every
    value but the smallest and the largest (those would repeat ``x = v``)."""
    values = [c.value for c in cells[:n_values]]
    n_cells = len(cells)
    inner = range(1, n_values - 1)
    below = np.zeros((len(inner), n_cells), dtype=bool)
    above = np.zeros((len(inner), n_cells), dtype=bool)
    for row, j in enumerate(inner):
        below[row, : j + 1] = True
        above[row, j:n_values] = True
    conditions = [
        *cells,
        *(Condition(column, "<=", values[j]) for j in inner),
        *(Condition(column, ">=", values[j]) for j in inner),
    ]
    members = np.vstack([np.eye(n_cells, dtype=bool), below, above])
    return ColumnAtoms(column, codes, conditions, members)
