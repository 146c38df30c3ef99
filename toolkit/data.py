"""`Predictions`: the one validated input of every analysis.

Validation happens here, once, at the boundary. Inner code trusts a `Predictions`.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from toolkit.exceptions import (
    ColumnNotFoundError,
    DuplicateIdError,
    EmptyInputError,
    InvalidLabelError,
    InvalidProbabilityError,
    InvalidValueError,
    LengthMismatchError,
    ToolkitTypeError,
    ValidationError,
)

__all__ = ["Predictions"]

TASKS = ("binary", "multiclass", "regression")
#: Largest allowed |row sum - 1| of a probability row (float32 softmax rounding is ~1e-6).
PROBA_SUM_ATOL = 1e-3
#: Probabilities this far outside [0, 1] are clipped silently (rounding); further is an error.
PROBA_RANGE_ATOL = 1e-6
#: Default regression tolerance: this percentile of |y_pred - y_true|.
DEFAULT_TOLERANCE_PERCENTILE = 90.0


def _preview(values: Any, limit: int = 5) -> str:
    values = list(values)
    shown = ", ".join(repr(_py(v)) for v in values[:limit])
    more = f", ... ({len(values)} in all)" if len(values) > limit else ""
    return f"[{shown}{more}]"


def _py(value: Any) -> Any:
    """A numpy scalar as the plain Python value (for messages and JSON)."""
    return value.item() if isinstance(value, np.generic) else value


def _as_1d(values: Any, name: str) -> np.ndarray:
    """Convert list / ndarray / Series / one-column DataFrame to a fresh 1-D array."""
    if values is None:
        raise ValidationError(f"{name} is required but None was given")
    if isinstance(values, pd.DataFrame):
        if values.shape[1] != 1:
            raise ValidationError(
                f"{name} must be one column, but a DataFrame with {values.shape[1]} columns "
                f"was given: {_preview(values.columns)}"
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
    return arr


def _label_like(name: str, examples: list[Any]) -> Any:
    """A class named only by a probability column, typed like the observed labels."""
    if not examples or isinstance(examples[0], str):
        return name
    if isinstance(examples[0], bool):
        if name in ("True", "False"):
            return name == "True"
        return name
    try:
        return type(examples[0])(name)
    except (TypeError, ValueError):
        return name


def _is_regressor(model: Any) -> bool:
    from sklearn.base import is_regressor

    try:
        return bool(is_regressor(model))
    except (AttributeError, TypeError):  # not a scikit-learn estimator
        return False


def _missing_mask(arr: np.ndarray) -> np.ndarray:
    if arr.dtype.kind == "f":
        return np.isnan(arr)
    if arr.dtype.kind == "O":
        return pd.isna(arr).astype(bool)
    return np.zeros(arr.shape[0], dtype=bool)


def _check_labels_present(arr: np.ndarray, name: str) -> None:
    missing = _missing_mask(arr)
    if missing.any():
        rows = np.flatnonzero(missing)
        raise InvalidValueError(
            f"{name} has {rows.size} missing value(s) (NaN/None) at rows {_preview(rows)}; "
            "labels must all be present"
        )
    if arr.dtype.kind == "f" and np.isinf(arr).any():
        rows = np.flatnonzero(np.isinf(arr))
        raise InvalidValueError(
            f"{name} has {rows.size} infinite value(s) at rows {_preview(rows)}"
        )


def _is_numeric_labels(arr: np.ndarray) -> bool:
    """True for numbers (not bools, not strings), NaN included."""
    if arr.dtype.kind in "iuf":
        return True
    if arr.dtype.kind != "O":
        return False
    return all(
        isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool | np.bool_)
        for v in arr
    )


def _unique_sorted(arr: np.ndarray, name: str) -> np.ndarray:
    try:
        return np.unique(arr)
    except TypeError as exc:
        kinds = sorted({type(v).__name__ for v in arr})
        raise ToolkitTypeError(
            f"{name} mixes label types {kinds}; use one type for all labels "
            "(e.g. all strings or all integers)"
        ) from exc


def _numeric_matrix(values: Any, name: str) -> tuple[np.ndarray, list[str] | None]:
    """2-D float array from ndarray / list / DataFrame; returns column names when known."""
    columns = None
    if isinstance(values, pd.DataFrame):
        columns = [str(c) for c in values.columns]
        bad = [c for c in values.columns if not pd.api.types.is_numeric_dtype(values[c])]
        bad = [c for c in bad if not pd.api.types.is_bool_dtype(values[c])]
        if bad:
            raise ToolkitTypeError(
                f"{name} columns must be numeric, but {_preview(map(str, bad))} "
                f"have dtype {_preview(str(values[c].dtype) for c in bad)}"
            )
        arr = values.to_numpy(dtype=float, copy=True)
    else:
        raw = np.array(values, copy=True)
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


class Predictions:
    """A validated evaluation table: labels, predictions, probabilities, features.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels (strings or integers) or, for regression, true values.
    y_pred : array-like of shape (n_samples,), default=None
        Predicted labels or values. For classification it defaults to the class of
        highest probability in ``proba``.
    proba : array-like of shape (n_samples, n_classes) or (n_samples,), default=None
        Class probabilities, columns in the order of ``classes``. A 1-D array of a
        binary task is the probability of ``classes[1]``. A DataFrame whose column
        names are the classes is matched by name.
    classes : array-like, default=None
        The class order used everywhere (probability columns, per-class tables,
        confusion matrix). Default: the sorted labels of ``y_true`` and ``y_pred``.
    features : DataFrame or array-like of shape (n_samples, n_features), default=None
        Columns to slice and describe errors by. Missing values are allowed.
    embeddings : array-like of shape (n_samples, n_dims), default=None
        A numeric representation of each row (for clustering).
    ids : array-like of shape (n_samples,), default=None
        Unique row ids. Default: ``0 .. n_samples - 1``.
    task : {"binary", "multiclass", "regression"}, default=None
        Detected when not given: probabilities, or labels that are not all numbers, or
        whole numbers, mean classification; fractional numbers mean regression.
    tolerance : float, default=None
        Regression only: a row is an error when ``|y_pred - y_true| > tolerance``.
        Default: the 90th percentile of the absolute error (see ``tolerance_source``).

    Attributes
    ----------
    errors : ndarray of bool, shape (n_samples,)
    n : int
    classes : ndarray or None
        None for regression.

    Examples
    --------
    >>> import toolkit as tk
    >>> p = tk.Predictions(["a", "b", "b", "a"], proba=[[0.9, 0.1], [0.2, 0.8],
    ...                                                 [0.6, 0.4], [0.3, 0.7]])
    >>> p.task, list(p.classes), p.errors.tolist()
    ('binary', ['a', 'b'], [False, False, True, True])
    """

    __slots__ = (
        "_classes",
        "_embeddings",
        "_errors",
        "_features",
        "_ids",
        "_proba",
        "_task",
        "_tolerance",
        "_tolerance_source",
        "_y_pred",
        "_y_true",
    )

    def __init__(
        self,
        y_true: Any,
        y_pred: Any = None,
        proba: Any = None,
        *,
        classes: Any = None,
        features: Any = None,
        embeddings: Any = None,
        ids: Any = None,
        task: str | None = None,
        tolerance: float | None = None,
    ) -> None:
        y_true_arr = _as_1d(y_true, "y_true")
        n = y_true_arr.shape[0]
        if n == 0:
            raise EmptyInputError("y_true is empty: at least one row is needed")
        y_pred_arr = None if y_pred is None else _as_1d(y_pred, "y_pred")
        if y_pred_arr is not None and y_pred_arr.shape[0] != n:
            raise LengthMismatchError(f"y_pred has {y_pred_arr.shape[0]} rows but y_true has {n}")
        if task is not None and task not in TASKS:
            raise ValidationError(f"task must be one of {list(TASKS)}, got {task!r}")
        if y_pred_arr is None and proba is None:
            raise ValidationError("give y_pred, proba, or both")

        given_task = task
        if task is None:
            task = self._detect_task(y_true_arr, y_pred_arr, proba)

        self._tolerance = None
        self._tolerance_source = None
        if task == "regression":
            if proba is not None:
                raise ValidationError("proba was given but task is 'regression'")
            if classes is not None:
                raise ValidationError("classes was given but task is 'regression'")
            if tolerance is not None and (not np.isfinite(tolerance) or tolerance < 0):
                raise ValidationError(f"tolerance must be a finite number >= 0, got {tolerance}")
            if y_pred_arr is None:
                raise ValidationError("regression needs y_pred")
            self._task = "regression"
            self._y_true = self._regression_values(y_true_arr, "y_true")
            self._y_pred = self._regression_values(y_pred_arr, "y_pred")
            self._classes = None
            self._proba = None
            abs_err = np.abs(self._y_pred - self._y_true)
            if tolerance is None:
                tolerance = float(np.percentile(abs_err, DEFAULT_TOLERANCE_PERCENTILE))
                self._tolerance_source = (
                    f"default: the {DEFAULT_TOLERANCE_PERCENTILE:g}th percentile of "
                    "|y_pred - y_true|"
                )
            else:
                self._tolerance_source = "given"
            self._tolerance = float(tolerance)
            self._errors = abs_err > self._tolerance
        else:
            if tolerance is not None:
                raise ValidationError("tolerance applies to regression only")
            self._init_classification(y_true_arr, y_pred_arr, proba, classes, given_task)

        self._ids = self._validate_ids(ids, n)
        self._features = self._validate_features(features, n)
        self._embeddings = self._validate_embeddings(embeddings, n)
        for arr in (
            self._y_true,
            self._y_pred,
            self._proba,
            self._errors,
            self._ids,
            self._embeddings,
            self._classes,
        ):
            if arr is not None:
                arr.setflags(write=False)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_frame(
        cls,
        df: pd.DataFrame,
        target: str,
        pred: str | None = None,
        proba: str | Sequence[str] | None = None,
        features: Sequence[str] | None = None,
        id: str | None = None,
        embeddings: str | Sequence[str] | None = None,
        *,
        classes: Any = None,
        task: str | None = None,
        tolerance: float | None = None,
    ) -> Predictions:
        """Build from one table.

        ``proba`` is a glob such as ``"p_*"`` (each column's name after the prefix is
        a class, so ``p_>50K`` holds the probability of ``">50K"``) or a list of
        columns in the order of ``classes``. ``features`` defaults to every column not
        used otherwise; pass ``[]`` for none. ``embeddings`` is a glob or a list.
        """
        if not isinstance(df, pd.DataFrame):
            raise ToolkitTypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
        if len(df) == 0:
            raise EmptyInputError("the table has no rows")
        columns = [str(c) for c in df.columns]
        if len(set(columns)) != len(columns):
            dup = sorted({c for c in columns if columns.count(c) > 1})
            raise ValidationError(f"the table has duplicate column names: {_preview(dup)}")
        df = df.rename(columns=str)  # a new frame: the caller's is untouched

        def need(col: str, role: str) -> str:
            if col not in df.columns:
                raise ColumnNotFoundError(
                    f"{role} column {col!r} not found; the table has {_preview(columns, 12)}"
                )
            return col

        used = {need(target, "target")}
        y_pred = None
        if pred is not None:
            used.add(need(pred, "pred"))
            y_pred = df[pred]
        proba_frame = None
        if proba is not None:
            proba_cols = [c for c in cls._resolve_columns(df, proba, "proba") if c not in used]
            if not proba_cols:
                raise ColumnNotFoundError(
                    f"no proba columns match {proba!r} apart from the target/pred columns"
                )
            used.update(proba_cols)
            proba_frame = df[proba_cols]
            if isinstance(proba, str):
                prefix = proba.split("*")[0] if "*" in proba else ""
                names = [c[len(prefix) :] for c in proba_cols]
                classes, order = cls._match_class_names(names, df[target], classes)
                proba_frame = proba_frame.iloc[:, order]
        emb = None
        if embeddings is not None:
            emb_cols = cls._resolve_columns(df, embeddings, "embeddings")
            used.update(emb_cols)
            emb = df[emb_cols]
        ids = None
        if id is not None:
            used.add(need(id, "id"))
            ids = df[id]
        if features is None:
            feature_cols = [c for c in df.columns if c not in used]
        else:
            feature_cols = [need(str(c), "feature") for c in features]
        feats = df[feature_cols] if feature_cols else None
        proba_arr = None
        if proba_frame is not None:
            proba_arr, _ = _numeric_matrix(proba_frame, "proba")
            if proba_arr.shape[1] == 1:  # one column: the probability of classes[1]
                proba_arr = proba_arr[:, 0]
        return cls(
            df[target],
            y_pred,
            proba_arr,
            classes=classes,
            features=feats,
            embeddings=emb,
            ids=ids,
            task=task,
            tolerance=tolerance,
        )

    @classmethod
    def from_model(
        cls,
        model: Any,
        X: Any,
        y: Any,
        *,
        features: Any = None,
        ids: Any = None,
        task: str | None = None,
        tolerance: float | None = None,
    ) -> Predictions:
        """Predict with a fitted scikit-learn-style estimator and validate the result.

        Classifiers with ``predict_proba`` give probabilities in the order of
        ``model.classes_``. ``features`` defaults to ``X`` when it is a DataFrame.
        """
        if not hasattr(model, "predict"):
            raise ToolkitTypeError(f"model must have a predict method; got {type(model).__name__}")
        if features is None and isinstance(X, pd.DataFrame):
            features = X
        if task != "regression" and not _is_regressor(model) and hasattr(model, "predict_proba"):
            proba = np.asarray(model.predict_proba(X))
            classes = getattr(model, "classes_", None)
            y_pred = model.predict(X)
            return cls(
                y,
                y_pred,
                proba,
                classes=classes,
                features=features,
                ids=ids,
                task=task,
                tolerance=tolerance,
            )
        y_pred = model.predict(X)
        return cls(y, y_pred, features=features, ids=ids, task=task, tolerance=tolerance)

    # ------------------------------------------------------------------ properties
    @property
    def y_true(self) -> np.ndarray:
        return self._y_true

    @property
    def y_pred(self) -> np.ndarray:
        return self._y_pred

    @property
    def proba(self) -> np.ndarray | None:
        return self._proba

    @property
    def classes(self) -> np.ndarray | None:
        return self._classes

    @property
    def features(self) -> pd.DataFrame | None:
        """A copy of the feature table (the stored one cannot be changed through it)."""
        return None if self._features is None else self._features.copy()

    @property
    def embeddings(self) -> np.ndarray | None:
        return self._embeddings

    @property
    def ids(self) -> np.ndarray:
        return self._ids

    @property
    def task(self) -> str:
        return self._task

    @property
    def tolerance(self) -> float | None:
        return self._tolerance

    @property
    def tolerance_source(self) -> str | None:
        return self._tolerance_source

    @property
    def errors(self) -> np.ndarray:
        return self._errors

    @property
    def n(self) -> int:
        return int(self._y_true.shape[0])

    @property
    def is_classification(self) -> bool:
        return self._task != "regression"

    @property
    def feature_names(self) -> list[str]:
        return [] if self._features is None else list(self._features.columns)

    def __len__(self) -> int:
        return self.n

    def __repr__(self) -> str:
        parts = [f"n={self.n}", f"task={self._task!r}"]
        if self._classes is not None:
            parts.append(f"classes={_preview(self._classes)}")
        parts.append(f"error_rate={self._errors.mean():.4f}")
        if self._proba is not None:
            parts.append("proba")
        if self._features is not None:
            parts.append(f"features={self._features.shape[1]}")
        if self._embeddings is not None:
            parts.append(f"embeddings={self._embeddings.shape[1]}")
        return f"Predictions({', '.join(parts)})"

    def feature(self, name: str) -> pd.Series:
        """One feature column (a copy); a clear error when it does not exist."""
        if self._features is None or name not in self._features.columns:
            raise ColumnNotFoundError(
                f"feature column {name!r} not found; "
                f"features are {_preview(self.feature_names, 12)}"
            )
        return self._features[name].copy()

    def y_true_codes(self) -> np.ndarray:
        """``y_true`` as positions in ``classes``."""
        return self._codes(self._y_true)

    def y_pred_codes(self) -> np.ndarray:
        """``y_pred`` as positions in ``classes``."""
        return self._codes(self._y_pred)

    def _codes(self, labels: np.ndarray) -> np.ndarray:
        order = np.argsort(self._classes, kind="stable")
        sorted_classes = self._classes[order]
        return order[np.searchsorted(sorted_classes, labels)]

    def to_frame(self) -> pd.DataFrame:
        """One row per example: id, y_true, y_pred, error, proba columns, features."""
        out = {
            "id": self._ids,
            "y_true": self._y_true,
            "y_pred": self._y_pred,
            "error": self._errors,
        }
        frame = pd.DataFrame(out)
        if self._proba is not None:
            for j, c in enumerate(self._classes):
                frame[f"p_{c}"] = self._proba[:, j]
        if self._features is not None:
            feats = self._features.reset_index(drop=True)
            clash = [c for c in feats.columns if c in frame.columns]
            feats = feats.rename(columns={c: f"feature_{c}" for c in clash})
            frame = pd.concat([frame, feats], axis=1)
        return frame

    # ------------------------------------------------------------------ validation
    @staticmethod
    def _detect_task(y_true: np.ndarray, y_pred: np.ndarray | None, proba: Any) -> str:
        if proba is not None:
            shape = np.shape(proba)
            return "binary" if len(shape) == 1 or shape[1] <= 2 else "multiclass"
        labels = [y_true] if y_pred is None else [y_true, y_pred]
        if all(_is_numeric_labels(a) for a in labels):
            values = np.concatenate([a.astype(float) for a in labels])
            finite = values[np.isfinite(values)]
            if np.any(finite != np.round(finite)):
                return "regression"
        n_labels = len(pd.unique(np.concatenate(labels)))
        return "binary" if n_labels <= 2 else "multiclass"

    @staticmethod
    def _regression_values(arr: np.ndarray, name: str) -> np.ndarray:
        try:
            values = arr.astype(float)
        except (TypeError, ValueError) as exc:
            raise ToolkitTypeError(
                f"{name} must be numeric for regression, got dtype {arr.dtype}"
            ) from exc
        bad = ~np.isfinite(values)
        if bad.any():
            rows = np.flatnonzero(bad)
            raise InvalidValueError(
                f"{name} has {rows.size} NaN or infinite value(s) at rows {_preview(rows)}"
            )
        return values

    def _init_classification(
        self,
        y_true: np.ndarray,
        y_pred: np.ndarray | None,
        proba: Any,
        classes: Any,
        task: str | None,
    ) -> None:
        n = y_true.shape[0]
        _check_labels_present(y_true, "y_true")
        if y_pred is not None:
            _check_labels_present(y_pred, "y_pred")

        proba_names = None
        proba_arr = None
        if proba is not None:
            proba_arr, proba_names = _numeric_matrix(proba, "proba")
            if proba_arr.ndim == 1:
                proba_arr = np.column_stack([1.0 - proba_arr, proba_arr])
            if proba_arr.ndim != 2:
                raise InvalidProbabilityError(
                    f"proba must be 2-D (n_samples, n_classes), got shape {proba_arr.shape}"
                )
            if proba_arr.shape[0] != n:
                raise LengthMismatchError(f"proba has {proba_arr.shape[0]} rows but y_true has {n}")

        if classes is None:
            pool = y_true if y_pred is None else np.concatenate([y_true, y_pred])
            classes_arr = _unique_sorted(pool, "the labels")
            observed = {str(_py(v)) for v in pd.unique(y_true)}
            if proba_names is not None and proba_arr is not None and observed <= set(proba_names):
                # A DataFrame whose column names are the classes: match by name. Other
                # names (e.g. 0, 1 from pd.DataFrame(predict_proba(X))) mean "by position".
                classes_arr, order = Predictions._match_class_names(proba_names, y_true, None)
                proba_arr = proba_arr[:, order]
        else:
            classes_arr = _as_1d(classes, "classes")
            if len(set(classes_arr.tolist())) != classes_arr.shape[0]:
                raise InvalidLabelError(f"classes has duplicates: {_preview(classes_arr)}")
            names_as_classes = [str(_py(c)) for c in classes_arr]
            if (
                proba_names is not None
                and proba_arr is not None
                and sorted(proba_names) == sorted(names_as_classes)
            ):
                proba_arr = proba_arr[:, [proba_names.index(c) for c in names_as_classes]]
        if classes_arr.shape[0] < 2:
            raise InvalidLabelError(
                f"only one class was found ({_preview(classes_arr)}); classification needs "
                "at least two (pass classes=[...] if the data holds only one of them)"
            )
        class_set = set(classes_arr.tolist())
        for name, arr in (("y_true", y_true), ("y_pred", y_pred)):
            if arr is None:
                continue
            absent = [v for v in pd.unique(arr) if _py(v) not in class_set]
            if absent:
                raise InvalidLabelError(
                    f"{name} has label(s) {_preview(absent)} absent from classes "
                    f"{_preview(classes_arr, 10)}"
                )

        if proba_arr is not None:
            k = classes_arr.shape[0]
            if proba_arr.shape[1] != k:
                raise InvalidProbabilityError(
                    f"proba has {proba_arr.shape[1]} columns but there are {k} classes: "
                    f"{_preview(classes_arr, 10)}"
                )
            bad = ~np.isfinite(proba_arr)
            if bad.any():
                rows = np.flatnonzero(bad.any(axis=1))
                raise InvalidValueError(
                    f"proba has NaN or infinite values in {rows.size} row(s): {_preview(rows)}"
                )
            out = (proba_arr < -PROBA_RANGE_ATOL) | (proba_arr > 1 + PROBA_RANGE_ATOL)
            if out.any():
                rows = np.flatnonzero(out.any(axis=1))
                worst = proba_arr[out][0]
                raise InvalidProbabilityError(
                    f"proba has values outside [0, 1] in {rows.size} row(s) {_preview(rows)}, "
                    f"e.g. {worst:g}"
                )
            proba_arr = np.clip(proba_arr, 0.0, 1.0)
            sums = proba_arr.sum(axis=1)
            off = np.abs(sums - 1.0) > PROBA_SUM_ATOL
            if off.any():
                rows = np.flatnonzero(off)
                raise InvalidProbabilityError(
                    f"proba rows must sum to 1 (tolerance {PROBA_SUM_ATOL:g}), but "
                    f"{rows.size} row(s) do not: rows {_preview(rows)} sum to "
                    f"{_preview(np.round(sums[rows[:5]], 6))}"
                )
            if y_pred is None:
                y_pred = classes_arr[np.argmax(proba_arr, axis=1)]
        if classes_arr.dtype.kind in "US":
            classes_arr = classes_arr.astype(object)
        if task == "binary" and classes_arr.shape[0] > 2:
            raise InvalidLabelError(
                f"task is 'binary' but there are {classes_arr.shape[0]} classes: "
                f"{_preview(classes_arr, 10)}"
            )
        # the number of classes decides (a given `classes` may name unseen ones)
        self._task = "binary" if classes_arr.shape[0] == 2 else "multiclass"
        self._classes = np.array(classes_arr, copy=True)
        self._y_true = y_true
        self._y_pred = np.asarray(y_pred)
        self._proba = proba_arr
        self._errors = np.asarray(self._y_pred != self._y_true, dtype=bool)

    @staticmethod
    def _match_class_names(
        names: Sequence[str], y_true: Any, classes: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        """Map probability column names to class labels; return (classes, column order)."""
        names = [str(x) for x in names]
        if classes is not None:
            classes_arr = _as_1d(classes, "classes")
        else:
            observed = pd.unique(_as_1d(y_true, "y_true"))
            by_str = {str(_py(v)): _py(v) for v in observed if not pd.isna(v)}
            labels = []
            for name in names:
                if name in by_str:
                    labels.append(by_str[name])
                else:  # a class the labels never show: keep the type of the labels
                    labels.append(_label_like(name, list(by_str.values())))
            unmatched = [v for k, v in by_str.items() if k not in names]
            if unmatched:
                raise InvalidProbabilityError(
                    f"proba columns {_preview(names, 10)} have no column for label(s) "
                    f"{_preview(unmatched)} of y_true"
                )
            classes_arr = _unique_sorted(np.array(labels, dtype=object), "the proba columns")
            if all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in labels):
                classes_arr = classes_arr.astype(np.int64)
            elif all(isinstance(v, bool) for v in labels):
                classes_arr = classes_arr.astype(bool)
        position = {str(_py(c)): j for j, c in enumerate(names)}
        missing = [str(_py(c)) for c in classes_arr if str(_py(c)) not in position]
        if missing or len(names) != classes_arr.shape[0]:
            raise InvalidProbabilityError(
                f"proba columns {_preview(names, 10)} do not match classes "
                f"{_preview(classes_arr, 10)}" + (f"; no column for {missing}" if missing else "")
            )
        order = np.array([position[str(_py(c))] for c in classes_arr])
        return classes_arr, order

    @staticmethod
    def _resolve_columns(df: pd.DataFrame, spec: str | Sequence[str], role: str) -> list[str]:
        if isinstance(spec, str):
            cols = [c for c in df.columns if fnmatch.fnmatchcase(c, spec)]
            if not cols:
                raise ColumnNotFoundError(
                    f"no {role} columns match {spec!r}; the table has "
                    f"{_preview(list(df.columns), 12)}"
                )
            return cols
        cols = [str(c) for c in spec]
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise ColumnNotFoundError(
                f"{role} column(s) {_preview(missing)} not found; the table has "
                f"{_preview(list(df.columns), 12)}"
            )
        if not cols:
            raise ValidationError(f"{role} column list is empty")
        return cols

    @staticmethod
    def _validate_ids(ids: Any, n: int) -> np.ndarray:
        if ids is None:
            return np.arange(n)
        arr = _as_1d(ids, "ids")
        if arr.shape[0] != n:
            raise LengthMismatchError(f"ids has {arr.shape[0]} rows but y_true has {n}")
        missing = _missing_mask(arr)
        if missing.any():
            raise InvalidValueError(
                f"ids has {int(missing.sum())} missing value(s) at rows "
                f"{_preview(np.flatnonzero(missing))}"
            )
        dup = pd.Series(arr).duplicated(keep=False).to_numpy()
        if dup.any():
            values = pd.unique(arr[dup])
            raise DuplicateIdError(
                f"ids must be unique, but {values.size} value(s) repeat: {_preview(values)}"
            )
        return arr

    @staticmethod
    def _validate_features(features: Any, n: int) -> pd.DataFrame | None:
        if features is None:
            return None
        if isinstance(features, pd.Series):
            frame = features.to_frame()
        elif isinstance(features, pd.DataFrame):
            frame = features.copy(deep=True)
        elif isinstance(features, dict):
            frame = pd.DataFrame({k: _as_1d(v, f"features[{k!r}]") for k, v in features.items()})
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
            raise ValidationError(f"features has duplicate column names: {_preview(dup)}")
        return frame.reset_index(drop=True)

    @staticmethod
    def _validate_embeddings(embeddings: Any, n: int) -> np.ndarray | None:
        if embeddings is None:
            return None
        arr, _ = _numeric_matrix(embeddings, "embeddings")
        if arr.ndim != 2:
            raise ValidationError(f"embeddings must be 2-D, got shape {arr.shape}")
        if arr.shape[0] != n:
            raise LengthMismatchError(f"embeddings has {arr.shape[0]} rows but y_true has {n}")
        bad = ~np.isfinite(arr)
        if bad.any():
            rows = np.flatnonzero(bad.any(axis=1))
            raise InvalidValueError(
                f"embeddings has NaN or infinite values in {rows.size} row(s): {_preview(rows)}"
            )
        return arr
