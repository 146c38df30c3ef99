"""The classes of a classification task: their order, and probability columns matched to it.

Used by :class:`toolkit.Predictions` only; split out to keep each module to one job.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from toolkit._checks import as_1d, numeric_matrix, preview, to_python, unique_sorted
from toolkit.exceptions import InvalidLabelError, InvalidProbabilityError, LengthMismatchError

__all__ = ["label_like", "match_class_names", "proba_matrix", "resolve_classes"]


def label_like(name: str, examples: list[Any]) -> Any:
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


def proba_matrix(proba: Any, n: int) -> tuple[np.ndarray | None, list[str] | None]:
    """``proba`` as an (n, k) float matrix (a 1-D binary column becomes two) and its
    column names when it was a DataFrame."""
    proba_names = None
    proba_arr = None
    if proba is not None:
        proba_arr, proba_names = numeric_matrix(proba, "proba")
        if proba_arr.ndim == 1:
            proba_arr = np.column_stack([1.0 - proba_arr, proba_arr])
        if proba_arr.ndim != 2:
            raise InvalidProbabilityError(
                f"proba must be 2-D (n_samples, n_classes), got shape {proba_arr.shape}"
            )
        if proba_arr.shape[0] != n:
            raise LengthMismatchError(f"proba has {proba_arr.shape[0]} rows but y_true has {n}")

    return proba_arr, proba_names


def resolve_classes(
    y_true: np.ndarray,
    y_pred: np.ndarray | None,
    classes: Any,
    proba_arr: np.ndarray | None,
    proba_names: list[str] | None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """The class order (given, from the probability columns' names, or the sorted
    labels), with the probability columns put in that order."""
    if classes is None:
        pool = y_true if y_pred is None else np.concatenate([y_true, y_pred])
        classes_arr = unique_sorted(pool, "the labels")
        observed = {str(to_python(v)) for v in pd.unique(y_true)}
        if proba_names is not None and proba_arr is not None and observed <= set(proba_names):
            # A DataFrame whose column names are the classes: match by name. Other
            # names (e.g. 0, 1 from pd.DataFrame(predict_proba(X))) mean "by position".
            classes_arr, order = match_class_names(proba_names, y_true, None)
            proba_arr = proba_arr[:, order]
    else:
        classes_arr = as_1d(classes, "classes")
        if len(set(classes_arr.tolist())) != classes_arr.shape[0]:
            raise InvalidLabelError(f"classes has duplicates: {preview(classes_arr)}")
        names_as_classes = [str(to_python(c)) for c in classes_arr]
        if (
            proba_names is not None
            and proba_arr is not None
            and sorted(proba_names) == sorted(names_as_classes)
        ):
            proba_arr = proba_arr[:, [proba_names.index(c) for c in names_as_classes]]
    return classes_arr, proba_arr


def match_class_names(
    names: Sequence[str], y_true: Any, classes: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Map probability column names to class labels; return (classes, column order)."""
    names = [str(x) for x in names]
    if classes is not None:
        classes_arr = as_1d(classes, "classes")
    else:
        observed = pd.unique(as_1d(y_true, "y_true"))
        by_str = {str(to_python(v)): to_python(v) for v in observed if not pd.isna(v)}
        labels = []
        for name in names:
            if name in by_str:
                labels.append(by_str[name])
            else:  # a class the labels never show: keep the type of the labels
                labels.append(label_like(name, list(by_str.values())))
        unmatched = [v for k, v in by_str.items() if k not in names]
        if unmatched:
            raise InvalidProbabilityError(
                f"proba columns {preview(names, 10)} have no column for label(s) "
                f"{preview(unmatched)} of y_true"
            )
        classes_arr = unique_sorted(np.array(labels, dtype=object), "the proba columns")
        if all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in labels):
            classes_arr = classes_arr.astype(np.int64)
        elif all(isinstance(v, bool) for v in labels):
            classes_arr = classes_arr.astype(bool)
    position = {str(to_python(c)): j for j, c in enumerate(names)}
    missing = [str(to_python(c)) for c in classes_arr if str(to_python(c)) not in position]
    if missing or len(names) != classes_arr.shape[0]:
        raise InvalidProbabilityError(
            f"proba columns {preview(names, 10)} do not match classes "
            f"{preview(classes_arr, 10)}" + (f"; no column for {missing}" if missing else "")
        )
    order = np.array([position[str(to_python(c))] for c in classes_arr])
    return classes_arr, order
