"""The two sides of a split check as aligned tables: same feature columns, one encoding.

Used by :func:`toolkit.analysis.splits.check_splits` only. A side is a
:class:`~toolkit.Predictions` (labels, predictions, features, ids) or a DataFrame of
features (rows without labels, e.g. production traffic).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from toolkit._checks import preview
from toolkit.data import Predictions
from toolkit.exceptions import (
    ColumnNotFoundError,
    DuplicateIdError,
    EmptyInputError,
    ValidationError,
)

__all__ = ["Side", "aligned_sides", "encoded_for_trees", "is_numeric", "normalised_for_hash"]


@dataclass(frozen=True)
class Side:
    """One side of the split: its features (a fresh frame), ids and, when it has them,
    its predictions."""

    name: str
    features: pd.DataFrame
    ids: np.ndarray
    predictions: Predictions | None
    embeddings: np.ndarray | None

    @property
    def n(self) -> int:
        return len(self.features)


def _side(value: Any, name: str, id_column: str | None) -> Side:
    if isinstance(value, Predictions):
        if value.features is None:
            raise ValidationError(
                f"{name} has no feature columns; shift and duplicates compare feature values"
            )
        return Side(name, value.features.copy(), value.ids, value, value.embeddings)
    frame = value.rename(columns=str).reset_index(drop=True)
    if len(frame) == 0:
        raise EmptyInputError(f"{name} has no rows")
    if frame.columns.duplicated().any():
        dup = sorted(set(frame.columns[frame.columns.duplicated()]))
        raise ValidationError(f"{name} has duplicate column names: {preview(dup)}")
    ids = np.arange(len(frame))
    if id_column is not None:
        if id_column not in frame.columns:
            raise ColumnNotFoundError(
                f"id column {id_column!r} not found in {name}; it has {preview(frame.columns, 12)}"
            )
        ids = frame[id_column].to_numpy(copy=True)
        repeated = pd.Series(ids).duplicated(keep=False).to_numpy()
        if repeated.any():
            raise DuplicateIdError(
                f"{name} ids in column {id_column!r} must be unique, but "
                f"{preview(pd.unique(ids[repeated]))} repeat"
            )
        frame = frame.drop(columns=[id_column])
    return Side(name, frame, ids, None, None)


def aligned_sides(
    p: Any, reference: Any, *, id_column: str | None, extra: list[str]
) -> tuple[Side, Side, list[str]]:
    """The evaluated side, the reference side and the feature columns they share
    (``extra`` columns, the group and time, are checked but not compared as features).

    Raises one error naming every column that only one side has.
    """
    test = _side(p, "p", id_column)
    ref = _side(reference, "reference", id_column)
    for column in extra:
        for side in (test, ref):
            if column not in side.features.columns:
                raise ColumnNotFoundError(
                    f"column {column!r} not found in {side.name}; it has "
                    f"{preview(side.features.columns, 12)}"
                )
    only_test = [c for c in test.features.columns if c not in ref.features.columns]
    only_ref = [c for c in ref.features.columns if c not in test.features.columns]
    if only_test or only_ref:
        parts = []
        if only_test:
            parts.append(f"only p has {preview(only_test)}")
        if only_ref:
            parts.append(f"only reference has {preview(only_ref)}")
        raise ValidationError(
            "p and reference must have the same feature columns, but " + "; ".join(parts)
        )
    columns = [c for c in test.features.columns if c not in extra]
    if not columns:
        raise ValidationError(
            f"no feature columns are left to compare once {preview(extra)} are set aside"
        )
    return test, ref, columns


def is_numeric(a: pd.Series, b: pd.Series) -> bool:
    """Both sides numbers (or booleans), so the column is compared as a number."""
    return all(
        pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s) for s in (a, b)
    ) and not any(isinstance(s.dtype, pd.CategoricalDtype) for s in (a, b))


def _as_float(series: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(series):
        values = series.astype("int64").to_numpy(dtype=float)
        values[series.isna().to_numpy()] = np.nan
        return values
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)


def _as_text(series: pd.Series) -> pd.Series:
    return (
        series.astype(object)
        .where(series.notna(), None)
        .map(lambda v: None if v is None else str(v))
    )


def normalised_for_hash(
    ref: pd.DataFrame, test: pd.DataFrame, columns: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both sides with one dtype per column (numbers as float, the rest as text), so the
    same value hashes the same on both sides (an int 3 and a float 3.0 are one value)."""
    out_ref, out_test = {}, {}
    for c in columns:
        if is_numeric(ref[c], test[c]) or all(
            pd.api.types.is_datetime64_any_dtype(s) for s in (ref[c], test[c])
        ):
            out_ref[c], out_test[c] = _as_float(ref[c]), _as_float(test[c])
        else:
            out_ref[c], out_test[c] = _as_text(ref[c]), _as_text(test[c])
    return pd.DataFrame(out_ref), pd.DataFrame(out_test)


def encoded_for_trees(
    ref: pd.DataFrame, test: pd.DataFrame, columns: list[str], max_categories: int = 250
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One float matrix per side and a categorical mask for a histogram gradient-boosting
    model: numbers stay numbers (NaN kept), other columns become codes over both sides'
    values (missing stays NaN). A column with more than ``max_categories`` values is
    passed as its codes in sorted order (the model's categorical support stops there)."""
    ref_cols, test_cols, categorical = [], [], []
    for c in columns:
        if is_numeric(ref[c], test[c]) or all(
            pd.api.types.is_datetime64_any_dtype(s) for s in (ref[c], test[c])
        ):
            ref_cols.append(_as_float(ref[c]))
            test_cols.append(_as_float(test[c]))
            categorical.append(False)
            continue
        a, b = _as_text(ref[c]), _as_text(test[c])
        codes, uniques = pd.factorize(pd.concat([a, b], ignore_index=True), sort=True)
        codes = codes.astype(float)
        codes[codes < 0] = np.nan
        ref_cols.append(codes[: len(a)])
        test_cols.append(codes[len(a) :])
        categorical.append(len(uniques) <= max_categories)
    return np.column_stack(ref_cols), np.column_stack(test_cols), np.array(categorical)
