"""Input checks shared by `Predictions`, the labeling pool and the CLI.

Each check takes raw input, returns a fresh validated array or frame, and raises a
:class:`~toolkit.exceptions.ToolkitError` that names the input, what was expected and
what arrived (row positions and values, at most a few of them).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from toolkit._json import to_python
from toolkit.exceptions import (
    ColumnNotFoundError,
    DuplicateIdError,
    InvalidProbabilityError,
    InvalidValueError,
    LengthMismatchError,
    ToolkitTypeError,
    ValidationError,
)

__all__ = [
    "PROBA_RANGE_ATOL",
    "PROBA_SUM_ATOL",
    "as_1d",
    "check_embeddings",
    "check_features",
    "check_ids",
    "check_labels_present",
    "check_probabilities",
    "glob_suffixes",
    "id_rank",
    "missing_mask",
    "numeric_matrix",
    "preview",
    "resolve_columns",
    "to_python",
    "unique_sorted",
    "usable_features",
    "value_problem",
]

#: Largest allowed |row sum - 1| of a probability row (float32 softmax rounding is ~1e-6).
PROBA_SUM_ATOL = 1e-3
#: Probabilities this far outside [0, 1] are clipped silently (rounding); further is an error.
PROBA_RANGE_ATOL = 1e-6


def preview(values: Any, limit: int = 5) -> str:
    values = list(values)
    shown = ", ".join(repr(to_python(v)) for v in values[:limit])
    more = f", ... ({len(values)} in all)" if len(values) > limit else ""
    return f"[{shown}{more}]"


def as_1d(values: Any, name: str, *, check_values: bool = True) -> np.ndarray:
    """Convert list / ndarray / Series / one-column DataFrame to a fresh 1-D array;
    with ``check_values``, a value that is a list or a string that is not Unicode is an
    error (see :func:`value_problem`)."""
    if values is None:
        raise ValidationError(f"{name} is required but None was given")
    if isinstance(values, pd.DataFrame):
        if values.shape[1] != 1:
            raise ValidationError(
                f"{name} must be one column, but a DataFrame with {values.shape[1]} columns "
                f"was given: {preview(values.columns)}"
            )
        values = values.iloc[:, 0]
    if isinstance(values, pd.Series | pd.Index):
        if isinstance(values.dtype, pd.CategoricalDtype):
            values = values.astype(values.cat.categories.dtype)
        arr = values.to_numpy(copy=True)
    elif isinstance(values, np.ndarray):
        arr = np.array(values, copy=True)
    else:
        arr = np.array(values)
        if arr.dtype.kind in "US":
            # numpy turns ["a", 1] into strings; keep the Python values so mixed label
            # types are reported instead of silently becoming text
            as_objects = np.empty(len(values), dtype=object)
            as_objects[:] = list(values)
            if any(not isinstance(v, str | np.str_) for v in as_objects):
                arr = as_objects
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.ravel()
    if arr.ndim != 1:
        raise ValidationError(f"{name} must be 1-D, but has shape {arr.shape}")
    if arr.dtype.kind in "US":  # fixed-width numpy strings: use Python objects like pandas
        arr = arr.astype(object)
    if check_values and arr.dtype.kind == "O":
        reason = value_problem(arr)
        if reason is not None:
            raise InvalidValueError(f"{name} {reason}")
    return arr


#: Values that are not one value: a list, a dict, a set, an array (from Parquet or Python).
_CONTAINERS = (list, tuple, dict, set, frozenset, np.ndarray, pd.Series)


def value_problem(values: Any) -> str | None:
    """Why the values of one column cannot be analysed, or None: a value that is a
    container (a list from Parquet, say) or a string with a lone surrogate (not
    Unicode: it cannot be written to JSON, HTML or a UTF-8 file).

    >>> value_problem(np.array(["a", "b"], dtype=object)) is None
    True
    >>> value_problem(pd.Series([1, [2, 3]]))
    'holds list values (row 1: [2, 3]), not one value per row'
    """
    from toolkit._terminal import printable

    arr = values.to_numpy() if isinstance(values, pd.Series) else np.asarray(values)
    if arr.dtype.kind != "O":
        return None
    kind = pd.api.types.infer_dtype(arr, skipna=True)
    if kind not in ("string", "empty", "integer", "floating", "boolean", "decimal"):
        for i, v in enumerate(arr):
            if isinstance(v, _CONTAINERS):
                shown = printable(repr(v.tolist() if hasattr(v, "tolist") else v))[:60]
                return f"holds {type(v).__name__} values (row {i}: {shown}), not one value per row"
    texts = [v for v in arr if isinstance(v, str)] if kind != "string" else list(arr)
    try:
        "".join(t for t in texts if isinstance(t, str)).encode("utf-8")
    except UnicodeEncodeError:
        for i, v in enumerate(arr):
            if isinstance(v, str) and not _encodes(v):
                return (
                    f"has a lone surrogate, which is not Unicode, in row {i}: '{printable(v)[:60]}'"
                )
    return None


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def missing_mask(arr: np.ndarray) -> np.ndarray:
    if arr.dtype.kind == "f":
        return np.isnan(arr)
    if arr.dtype.kind == "O":
        return pd.isna(arr).astype(bool)
    return np.zeros(arr.shape[0], dtype=bool)


def check_labels_present(arr: np.ndarray, name: str) -> None:
    missing = missing_mask(arr)
    if missing.any():
        rows = np.flatnonzero(missing)
        raise InvalidValueError(
            f"{name} has {rows.size} missing value(s) (NaN/None) at rows {preview(rows)}; "
            "labels must all be present"
        )
    if arr.dtype.kind == "f" and np.isinf(arr).any():
        rows = np.flatnonzero(np.isinf(arr))
        raise InvalidValueError(f"{name} has {rows.size} infinite value(s) at rows {preview(rows)}")


def unique_sorted(arr: np.ndarray, name: str) -> np.ndarray:
    try:
        return np.unique(arr)
    except TypeError as exc:
        kinds = sorted({type(v).__name__ for v in arr})
        raise ToolkitTypeError(
            f"{name} mixes label types {kinds}; use one type for all labels "
            "(e.g. all strings or all integers)"
        ) from exc


def numeric_matrix(values: Any, name: str) -> tuple[np.ndarray, list[str] | None]:
    """2-D float array from ndarray / list / DataFrame; returns column names when known."""
    columns = None
    if isinstance(values, pd.DataFrame):
        columns = [str(c) for c in values.columns]
        bad = [c for c in values.columns if not pd.api.types.is_numeric_dtype(values[c])]
        bad = [c for c in bad if not pd.api.types.is_bool_dtype(values[c])]
        if bad:
            raise ToolkitTypeError(
                f"{name} columns must be numeric, but {preview(map(str, bad))} "
                f"have dtype {preview(str(values[c].dtype) for c in bad)}"
            )
        arr = values.to_numpy(dtype=float, copy=True)
    else:
        try:
            raw = np.array(values, copy=True)
        except ValueError as exc:  # ragged rows
            raise ToolkitTypeError(
                f"{name} must be a rectangular table of numbers ({exc})"
            ) from exc
        if raw.dtype.kind not in "biuf":
            try:
                arr = raw.astype(float)
            except (TypeError, ValueError) as exc:
                raise ToolkitTypeError(
                    f"{name} must be numeric, but has dtype {raw.dtype} ({exc})"
                ) from exc
        else:
            arr = raw.astype(float)
    return arr, columns


def resolve_columns(columns: Sequence[Any], spec: str | Sequence[str], role: str) -> list[str]:
    """Column names from a glob (``"p_*"``) or a list, in table order for a glob."""
    columns = [str(c) for c in columns]
    if isinstance(spec, str):
        cols = [c for c in columns if fnmatch.fnmatchcase(c, spec)]
        if not cols:
            raise ColumnNotFoundError(
                f"no {role} columns match {spec!r}; the table has {preview(columns, 12)}"
            )
        return cols
    cols = [str(c) for c in spec]
    missing = [c for c in cols if c not in columns]
    if missing:
        raise ColumnNotFoundError(
            f"{role} column(s) {preview(missing)} not found; the table has {preview(columns, 12)}"
        )
    if not cols:
        raise ValidationError(f"{role} column list is empty")
    return cols


def glob_suffixes(columns: Sequence[str], spec: str | Sequence[str]) -> list[str]:
    """The class each probability column names: the part after a glob's prefix
    (``"p_*"`` makes ``p_>50K`` the class ``">50K"``); a list of columns names itself.

    >>> glob_suffixes(["p_a", "p_b"], "p_*"), glob_suffixes(["a", "b"], ["a", "b"])
    (['a', 'b'], ['a', 'b'])
    """
    if isinstance(spec, str) and "*" in spec:
        prefix = spec.split("*")[0]
        return [c[len(prefix) :] for c in columns]
    return list(columns)


def check_ids(ids: Any, n: int) -> np.ndarray:
    if ids is None:
        return np.arange(n)
    arr = as_1d(ids, "ids")
    if arr.shape[0] != n:
        raise LengthMismatchError(f"ids has {arr.shape[0]} rows but y_true has {n}")
    missing = missing_mask(arr)
    if missing.any():
        raise InvalidValueError(
            f"ids has {int(missing.sum())} missing value(s) at rows "
            f"{preview(np.flatnonzero(missing))}"
        )
    dup = pd.Series(arr).duplicated(keep=False).to_numpy()
    if dup.any():
        values = pd.unique(arr[dup])
        raise DuplicateIdError(
            f"ids must be unique, but {values.size} value(s) repeat: {preview(values)}"
        )
    return arr


def check_features(features: Any, n: int) -> pd.DataFrame | None:
    if features is None:
        return None
    if isinstance(features, pd.DataFrame | dict | pd.Series):
        names = [features.name] if isinstance(features, pd.Series) else list(features)
        bad_names = [str(c) for c in names if not _encodes(str(c))]
        if bad_names:  # before pandas builds an index of them (pyarrow strings would fail)
            from toolkit._terminal import printable

            raise InvalidValueError(
                "features has a column name with a lone surrogate, which is not Unicode: "
                f"'{printable(bad_names[0])}'"
            )
    if isinstance(features, pd.Series):
        frame = features.to_frame()
    elif isinstance(features, pd.DataFrame):
        frame = features.copy(deep=True)
    elif isinstance(features, dict):
        frame = pd.DataFrame(
            {k: as_1d(v, f"features[{k!r}]", check_values=False) for k, v in features.items()}
        )
    else:
        arr = np.array(features, copy=True)
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2:
            raise ValidationError(f"features must be 2-D, got shape {arr.shape}")
        frame = pd.DataFrame(arr, columns=[f"x{j}" for j in range(arr.shape[1])])
    if len(frame) != n:
        raise LengthMismatchError(f"features has {len(frame)} rows but y_true has {n}")
    frame.columns = [str(c) for c in frame.columns]
    if frame.columns.duplicated().any():
        dup = sorted(set(frame.columns[frame.columns.duplicated()]))
        raise ValidationError(f"features has duplicate column names: {preview(dup)}")
    return frame.reset_index(drop=True)


def usable_features(frame: pd.DataFrame | None) -> tuple[pd.DataFrame | None, dict[str, str]]:
    """``frame`` without the columns no analysis can use (see :func:`value_problem`),
    and the reason for each column dropped."""
    if frame is None:
        return None, {}
    dropped = {}
    for column in frame.columns:
        reason = value_problem(frame[column])
        if reason is not None:
            dropped[column] = reason
    if not dropped:
        return frame, {}
    kept = frame.drop(columns=list(dropped))
    return (kept if kept.shape[1] else None), dropped


def check_embeddings(embeddings: Any, n: int) -> np.ndarray | None:
    if embeddings is None:
        return None
    arr, _ = numeric_matrix(embeddings, "embeddings")
    if arr.ndim != 2:
        raise ValidationError(f"embeddings must be 2-D, got shape {arr.shape}")
    if arr.shape[0] != n:
        raise LengthMismatchError(f"embeddings has {arr.shape[0]} rows but y_true has {n}")
    bad = ~np.isfinite(arr)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise InvalidValueError(
            f"embeddings has NaN or infinite values in {rows.size} row(s): {preview(rows)}"
        )
    return arr


def check_sample_weight(sample_weight: Any, n: int) -> np.ndarray | None:
    """Finite, non-negative weights, one per row, not all zero (float64).

    >>> check_sample_weight([1, 2, 0.5], 3).tolist()
    [1.0, 2.0, 0.5]
    >>> check_sample_weight([1, -2, 0.5], 3)
    Traceback (most recent call last):
    ...
    toolkit.exceptions.InvalidValueError: sample_weight must be >= 0, but 1 row(s) are \
negative: rows [1] hold [-2.0]
    """
    if sample_weight is None:
        return None
    arr = as_1d(sample_weight, "sample_weight", check_values=False)
    if arr.dtype.kind == "b" or (
        arr.dtype.kind == "O" and any(isinstance(v, bool | np.bool_) for v in arr)
    ):
        raise ToolkitTypeError("sample_weight must hold numbers, not booleans")
    try:
        values = arr.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ToolkitTypeError(
            f"sample_weight must be numeric, got dtype {arr.dtype} ({preview(arr)})"
        ) from exc
    if values.shape[0] != n:
        raise LengthMismatchError(f"sample_weight has {values.shape[0]} rows but y_true has {n}")
    bad = ~np.isfinite(values)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise InvalidValueError(
            f"sample_weight has NaN or infinite values in {rows.size} row(s): {preview(rows)}"
        )
    negative = values < 0
    if negative.any():
        rows = np.flatnonzero(negative)
        raise InvalidValueError(
            f"sample_weight must be >= 0, but {rows.size} row(s) are negative: rows "
            f"{preview(rows)} hold {preview(values[rows])}"
        )
    if not values.any():
        raise InvalidValueError("sample_weight is 0 on every row: nothing would be counted")
    return values


#: Image arrays: (n, height, width) grey levels or (n, height, width, 1|3|4) channels.
IMAGE_CHANNELS = (1, 3, 4)


def check_images(images: Any, n: int) -> np.ndarray | None:
    """One image per row: a numeric array ``(n, h, w)`` or ``(n, h, w, 1|3|4)``, or a
    1-D sequence of paths to image files (each must exist).

    >>> check_images(np.zeros((2, 8, 8)), 2).shape
    (2, 8, 8)
    >>> check_images(np.zeros((2, 8)), 2)
    Traceback (most recent call last):
    ...
    toolkit.exceptions.ValidationError: images must be an array (n, height, width) or \
(n, height, width, channels) with 1, 3 or 4 channels, or a column of image file paths; \
got shape (2, 8)
    """
    if images is None:
        return None
    if isinstance(images, pd.DataFrame):
        if images.shape[1] != 1:
            raise ValidationError(
                f"images as a table must have one column of file paths, got {images.shape[1]}"
            )
        images = images.iloc[:, 0]
    arr = np.asarray(images.to_numpy() if isinstance(images, pd.Series) else images)
    if arr.ndim == 1 and arr.dtype.kind in "OUS":
        return _check_image_paths(arr, n)
    shape_ok = arr.ndim == 3 or (arr.ndim == 4 and arr.shape[3] in IMAGE_CHANNELS)
    if not shape_ok or arr.dtype.kind not in "biuf" or min(arr.shape[1:3] or (0,)) == 0:
        raise ValidationError(
            "images must be an array (n, height, width) or (n, height, width, channels) "
            "with 1, 3 or 4 channels, or a column of image file paths; got "
            + (f"shape {arr.shape}" if arr.dtype.kind in "biuf" else f"dtype {arr.dtype}")
        )
    if arr.shape[0] != n:
        raise LengthMismatchError(f"images has {arr.shape[0]} rows but y_true has {n}")
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr.reshape(n, -1)).all(axis=1)
        if bad.any():
            rows = np.flatnonzero(bad)
            raise InvalidValueError(
                f"images has NaN or infinite values in {rows.size} image(s): rows {preview(rows)}"
            )
    return np.array(arr, copy=True)


def _check_image_paths(arr: np.ndarray, n: int) -> np.ndarray:
    import os

    if arr.shape[0] != n:
        raise LengthMismatchError(f"images has {arr.shape[0]} rows but y_true has {n}")
    not_text = [i for i, v in enumerate(arr) if not isinstance(v, str | os.PathLike)]
    if not_text:
        raise ToolkitTypeError(
            f"images paths must be strings; {len(not_text)} row(s) are not: rows "
            f"{preview(not_text)} hold {preview([arr[i] for i in not_text])}"
        )
    paths = np.array([str(os.fspath(v)) for v in arr], dtype=object)
    missing = [i for i, v in enumerate(paths) if not os.path.isfile(v)]
    if missing:
        raise InvalidValueError(
            f"images: {len(missing)} of {n} file(s) do not exist, first {paths[missing[0]]!r} "
            f"(row {missing[0]})"
        )
    return paths


def check_probabilities(arr: np.ndarray, name: str = "proba") -> np.ndarray:
    """A finite (n, k) probability matrix clipped to [0, 1] whose rows sum to 1.

    Values within :data:`PROBA_RANGE_ATOL` outside [0, 1] are rounding and are clipped;
    rows may be off 1 by :data:`PROBA_SUM_ATOL`.

    >>> check_probabilities(np.array([[0.2, 0.8], [1.0000001, 0.0]])).tolist()
    [[0.2, 0.8], [1.0, 0.0]]
    >>> check_probabilities(np.array([[0.5, 0.6]]))
    Traceback (most recent call last):
    ...
    toolkit.exceptions.InvalidProbabilityError: proba rows must sum to 1 (tolerance 0.001), \
but 1 row(s) do not: rows [0] sum to [1.1]
    """
    bad = ~np.isfinite(arr)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise InvalidValueError(
            f"{name} has NaN or infinite values in {rows.size} row(s): {preview(rows)}"
        )
    out = (arr < -PROBA_RANGE_ATOL) | (arr > 1 + PROBA_RANGE_ATOL)
    if out.any():
        rows = np.flatnonzero(out.any(axis=1))
        worst = arr[out][0]
        raise InvalidProbabilityError(
            f"{name} has values outside [0, 1] in {rows.size} row(s) {preview(rows)}, "
            f"e.g. {worst:g}"
        )
    arr = np.clip(arr, 0.0, 1.0)
    sums = arr.sum(axis=1)
    off = np.abs(sums - 1.0) > PROBA_SUM_ATOL
    if off.any():
        rows = np.flatnonzero(off)
        raise InvalidProbabilityError(
            f"{name} rows must sum to 1 (tolerance {PROBA_SUM_ATOL:g}), but "
            f"{rows.size} row(s) do not: rows {preview(rows)} sum to "
            f"{preview(np.round(sums[rows[:5]], 6))}"
        )
    return arr


def id_rank(ids: np.ndarray) -> np.ndarray:
    """Position of each id in sorted order (str order for ids of mixed types).

    >>> id_rank(np.array([30, 10, 20])).tolist()
    [2, 0, 1]
    """
    try:
        order = np.argsort(ids, kind="stable")
    except TypeError:
        order = np.argsort(np.array([str(v) for v in ids], dtype=object), kind="stable")
    rank = np.empty(len(ids), dtype=np.int64)
    rank[order] = np.arange(len(ids))
    return rank
