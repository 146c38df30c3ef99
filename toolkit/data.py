"""`Predictions`: the one validated input of every analysis.

Validation happens here, once, at the boundary. Inner code trusts a `Predictions`.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real
from typing import Any

import numpy as np
import pandas as pd

from toolkit._checks import (
    as_1d,
    check_embeddings,
    check_features,
    check_ids,
    check_images,
    check_labels_present,
    check_probabilities,
    check_sample_weight,
    glob_suffixes,
    numeric_matrix,
    preview,
    resolve_columns,
    to_python,
    usable_features,
)
from toolkit._classes import match_class_names, proba_matrix, resolve_classes
from toolkit._validation import STR_LIST, HasMethods, Interval, Options, validate_params
from toolkit._warn import warn_caller
from toolkit.exceptions import (
    ColumnNotFoundError,
    EmptyInputError,
    InvalidLabelError,
    InvalidProbabilityError,
    InvalidValueError,
    LengthMismatchError,
    TargetInFeaturesWarning,
    ToolkitTypeError,
    UnusableColumnWarning,
    ValidationError,
)

__all__ = ["Predictions"]

TASKS = ("binary", "multiclass", "regression")
#: Default regression tolerance: this percentile of |y_pred - y_true|.
DEFAULT_TOLERANCE_PERCENTILE = 90.0


def _is_regressor(model: Any) -> bool:
    from sklearn.base import is_regressor

    try:
        return bool(is_regressor(model))
    except (AttributeError, TypeError):  # not a scikit-learn estimator
        return False


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


def _plain_numbers(classes: np.ndarray) -> np.ndarray:
    """Classes held as Python numbers in an object array (float labels matched to
    ``p_0.0``/``p_1.0`` columns, say) as a numeric array, so predictions taken from them
    are numbers like the labels, not objects scikit-learn cannot type."""
    if classes.dtype.kind != "O" or not _is_numeric_labels(classes):
        return classes
    if all(isinstance(v, int | np.integer) for v in classes):
        return classes.astype(np.int64)
    return classes.astype(float)


def _without_target(
    features: pd.DataFrame | None, given: Any, y_true: np.ndarray
) -> pd.DataFrame | None:
    """``features`` without the label column: the one named like ``y_true`` (a Series or
    one-column frame) or holding exactly its values. Each dropped column is named in a
    :class:`TargetInFeaturesWarning`."""
    if features is None:
        return None
    name = getattr(given, "name", None)
    if isinstance(given, pd.DataFrame) and given.shape[1] == 1:
        name = given.columns[0]
    dropped = []
    for column in features.columns:
        values = features[column].to_numpy()
        same = column == str(name) or (
            values.dtype == y_true.dtype and bool(np.all(values == y_true))
        )
        if same:
            dropped.append(column)
    if not dropped:
        return features
    warn_caller(
        f"features include the label column {dropped[0]!r}"
        + (f" (and {dropped[1:]})" if len(dropped) > 1 else "")
        + "; it was dropped: the answer would explain every error pattern and cluster",
        TargetInFeaturesWarning,
    )
    kept = features.drop(columns=dropped)
    return kept if kept.shape[1] else None


_COMMON = {
    "task": [Options(TASKS), None],
    "tolerance": [Interval(Real, 0, None), None],
}


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
    sample_weight : array-like of shape (n_samples,), default=None
        How much each row counts (finite, >= 0, not all 0): metrics, slice and pattern
        counts are weighted sums. Default: every row counts 1.
    images : array-like, default=None
        The rows as images, for thumbnails in the report: an array ``(n_samples, height,
        width)`` of grey levels or ``(n_samples, height, width, 1 | 3 | 4)``, or one path
        to an image file per row (each must exist).

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
        "_ids_given",
        "_images",
        "_proba",
        "_sample_weight",
        "_task",
        "_tolerance",
        "_tolerance_source",
        "_y_pred",
        "_y_true",
    )

    @validate_params(_COMMON)
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
        sample_weight: Any = None,
        images: Any = None,
    ) -> None:
        y_true_arr = as_1d(y_true, "y_true")
        n = y_true_arr.shape[0]
        if n == 0:
            raise EmptyInputError("y_true is empty: at least one row is needed")
        y_pred_arr = None if y_pred is None else as_1d(y_pred, "y_pred")
        if y_pred_arr is not None and y_pred_arr.shape[0] != n:
            raise LengthMismatchError(f"y_pred has {y_pred_arr.shape[0]} rows but y_true has {n}")
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

        self._ids = check_ids(ids, n)
        self._ids_given = ids is not None
        features_arr, dropped = usable_features(check_features(features, n))
        for column, reason in dropped.items():
            warn_caller(
                f"features column {column!r} {reason}; it was dropped: slices, patterns and "
                "clusters need one value per row",
                UnusableColumnWarning,
            )
        self._features = _without_target(features_arr, y_true, self._y_true)
        self._embeddings = check_embeddings(embeddings, n)
        self._sample_weight = check_sample_weight(sample_weight, n)
        self._images = check_images(images, n)
        for arr in (
            self._y_true,
            self._y_pred,
            self._proba,
            self._errors,
            self._ids,
            self._embeddings,
            self._classes,
            self._sample_weight,
            self._images,
        ):
            if arr is not None:
                arr.setflags(write=False)

    # ------------------------------------------------------------------ constructors
    @classmethod
    @validate_params(
        {
            "df": [pd.DataFrame],
            "target": [str],
            "pred": [str, None],
            "proba": [str, STR_LIST, None],
            "features": [STR_LIST, None],
            "id": [str, None],
            "embeddings": [str, STR_LIST, None],
            "sample_weight": [str, None],
            "images": [str, None],
            **_COMMON,
        }
    )
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
        sample_weight: str | None = None,
        images: str | None = None,
    ) -> Predictions:
        """Build from one table.

        ``proba`` is a glob such as ``"p_*"`` (each column's name after the prefix is
        a class, so ``p_>50K`` holds the probability of ``">50K"``) or a list of
        columns in the order of ``classes``. ``features`` defaults to every column not
        used otherwise; pass ``[]`` for none. ``embeddings`` is a glob or a list.
        ``sample_weight`` names the column of row weights and ``images`` the column of
        image file paths; neither is a feature.
        """
        if len(df) == 0:
            raise EmptyInputError("the table has no rows")
        columns = [str(c) for c in df.columns]
        if len(set(columns)) != len(columns):
            dup = sorted({c for c in columns if columns.count(c) > 1})
            raise ValidationError(f"the table has duplicate column names: {preview(dup)}")
        df = df.rename(columns=str)  # a new frame: the caller's is untouched

        def need(col: str, role: str) -> str:
            if col not in df.columns:
                raise ColumnNotFoundError(
                    f"{role} column {col!r} not found; the table has {preview(columns, 12)}"
                )
            return col

        used = {need(target, "target")}

        def optional(col: str | None, role: str) -> pd.Series | None:
            if col is None:
                return None
            used.add(need(col, role))
            return df[col]

        y_pred = optional(pred, "pred")
        proba_frame = None
        if proba is not None:
            proba_cols = [c for c in resolve_columns(df.columns, proba, "proba") if c not in used]
            if not proba_cols:
                raise ColumnNotFoundError(
                    f"no proba columns match {proba!r} apart from the target/pred columns"
                )
            used.update(proba_cols)
            proba_frame = df[proba_cols]
            if isinstance(proba, str):
                names = glob_suffixes(proba_cols, proba)
                classes, order = match_class_names(names, df[target], classes)
                proba_frame = proba_frame.iloc[:, order]
        emb = None
        if embeddings is not None:
            emb_cols = resolve_columns(df.columns, embeddings, "embeddings")
            used.update(emb_cols)
            emb = df[emb_cols]
        ids = optional(id, "id")
        weights = optional(sample_weight, "sample_weight")
        image_paths = optional(images, "images")
        if features is None:
            feature_cols = [c for c in df.columns if c not in used]
        else:
            feature_cols = [need(str(c), "feature") for c in features]
        feats = df[feature_cols] if feature_cols else None
        proba_arr = None
        if proba_frame is not None:
            proba_arr, _ = numeric_matrix(proba_frame, "proba")
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
            sample_weight=weights,
            images=image_paths,
        )

    @classmethod
    @validate_params({"model": [HasMethods("predict")], **_COMMON})
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
    def ids_given(self) -> bool:
        """Whether ids were given (else they are the row numbers ``0 .. n - 1``)."""
        return self._ids_given

    @property
    def sample_weight(self) -> np.ndarray | None:
        """The row weights given, or None when every row counts 1."""
        return self._sample_weight

    @property
    def weights(self) -> np.ndarray:
        """The row weights, ones when none were given (what weighted sums use)."""
        if self._sample_weight is None:
            return np.ones(self.n)
        return self._sample_weight

    @property
    def images(self) -> np.ndarray | None:
        """The images given (an array, or an object array of file paths), or None."""
        return self._images

    def row_hashes(self) -> np.ndarray:
        """A 64-bit hash of each row that does not depend on where the row stands.

        The hash of its id when ids were given, else of its label, prediction and
        features (rows equal in all of them hash alike, and are interchangeable). A
        random split drawn from these hashes picks the same rows whatever the order.

        Returns
        -------
        ndarray of uint64, shape (n_samples,)
        """
        if self._ids_given:
            parts = {"id": self._ids}
        else:
            parts = {"y_true": self._y_true, "y_pred": self._y_pred}
        frame = pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in parts.items()})
        if not self._ids_given and self._features is not None:
            frame = pd.concat([frame, self._features.reset_index(drop=True)], axis=1)
        return pd.util.hash_pandas_object(frame, index=False).to_numpy(dtype=np.uint64)

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
            parts.append(f"classes={preview(self._classes)}")
        parts.append(f"error_rate={self._errors.mean():.4f}")
        if self._proba is not None:
            parts.append("proba")
        if self._features is not None:
            parts.append(f"features={self._features.shape[1]}")
        if self._embeddings is not None:
            parts.append(f"embeddings={self._embeddings.shape[1]}")
        if self._sample_weight is not None:
            parts.append("sample_weight")
        if self._images is not None:
            parts.append("images")
        return f"Predictions({', '.join(parts)})"

    def feature(self, name: str) -> pd.Series:
        """One feature column (a copy); a clear error when it does not exist."""
        if self._features is None or name not in self._features.columns:
            raise ColumnNotFoundError(
                f"feature column {name!r} not found; features are {preview(self.feature_names, 12)}"
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
            shape = numeric_matrix(proba, "proba")[0].shape
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
                f"{name} has {rows.size} NaN or infinite value(s) at rows {preview(rows)}"
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
        check_labels_present(y_true, "y_true")
        if y_pred is not None:
            check_labels_present(y_pred, "y_pred")

        proba_arr, proba_names = proba_matrix(proba, n)
        classes_arr, proba_arr = resolve_classes(y_true, y_pred, classes, proba_arr, proba_names)
        classes_arr = _plain_numbers(classes_arr)
        if classes_arr.shape[0] < 2:
            raise InvalidLabelError(
                f"only one class was found ({preview(classes_arr)}); classification needs "
                "at least two (pass classes=[...] if the data holds only one of them)"
            )
        class_set = set(classes_arr.tolist())
        for name, arr in (("y_true", y_true), ("y_pred", y_pred)):
            if arr is None:
                continue
            absent = [v for v in pd.unique(arr) if to_python(v) not in class_set]
            if absent:
                raise InvalidLabelError(
                    f"{name} has label(s) {preview(absent)} absent from classes "
                    f"{preview(classes_arr, 10)}"
                )

        if proba_arr is not None:
            k = classes_arr.shape[0]
            if proba_arr.shape[1] != k:
                raise InvalidProbabilityError(
                    f"proba has {proba_arr.shape[1]} columns but there are {k} classes: "
                    f"{preview(classes_arr, 10)}"
                )
            proba_arr = check_probabilities(proba_arr)
            if y_pred is None:
                y_pred = classes_arr[np.argmax(proba_arr, axis=1)]
        if classes_arr.dtype.kind in "US":
            classes_arr = classes_arr.astype(object)
        if task == "binary" and classes_arr.shape[0] > 2:
            raise InvalidLabelError(
                f"task is 'binary' but there are {classes_arr.shape[0]} classes: "
                f"{preview(classes_arr, 10)}"
            )
        # the number of classes decides (a given `classes` may name unseen ones)
        self._task = "binary" if classes_arr.shape[0] == 2 else "multiclass"
        self._classes = np.array(classes_arr, copy=True)
        self._y_true = y_true
        self._y_pred = np.asarray(y_pred)
        self._proba = proba_arr
        self._errors = np.asarray(self._y_pred != self._y_true, dtype=bool)
