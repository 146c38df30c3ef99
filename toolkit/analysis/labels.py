"""Wrong labels: out-of-sample probabilities, cleanlab label issues, label noise per group.

Label-error detection needs probabilities from a model that did not see the row it
scores. In-sample probabilities agree with the given labels, wrong ones included, and
hide most label errors, so :func:`out_of_sample_proba` produces out-of-fold
probabilities and :func:`find_label_issues` warns when it is told (or can tell) that
its probabilities are in-sample.

cleanlab is imported inside the functions that use it, so ``import toolkit`` stays fast.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from toolkit.analysis.binning import condition_mask
from toolkit.data import Predictions
from toolkit.exceptions import (
    ColumnNotFoundError,
    DuplicateIdError,
    InvalidLabelError,
    LengthMismatchError,
    NotApplicableError,
    ToolkitTypeError,
    ValidationError,
)

__all__ = [
    "ISSUE_COLUMNS",
    "InSampleProbabilityWarning",
    "find_label_issues",
    "label_issue_share",
    "out_of_sample_proba",
]

ISSUE_COLUMNS = ["id", "given_label", "suggested_label", "label_quality", "is_issue"]
METHODS = (
    "prune_by_noise_rate",
    "prune_by_class",
    "both",
    "confident_learning",
    "predicted_neq_given",
    "low_normalized_margin",
    "low_self_confidence",
)
RANK_BY = ("self_confidence", "normalized_margin", "confidence_weighted_entropy")
PROBA_SOURCES = ("out_of_sample", "in_sample", None)
#: With at least this many rows, a model that agrees with nearly every given label is
#: suspicious: forests and boosted trees scoring their own training rows agree with more
#: than 99.9% of them, wrong labels included, while out-of-fold scores of the same models
#: on noisy data agree with 83-97% (digits, breast_cancer, wine; 0 or 10% flips).
IN_SAMPLE_MIN_ROWS = 100
#: ... and "nearly every" means at most this share of rows where the top class is not the
#: given label.
IN_SAMPLE_MAX_DISAGREEMENT = 0.005


class InSampleProbabilityWarning(UserWarning):
    """Label issues were searched with probabilities from a model trained on the same rows."""


def out_of_sample_proba(
    model: Any,
    X: Any,
    y: Any,
    *,
    cv: int | Any = 5,
    random_state: int | None = 0,
    n_jobs: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Out-of-fold class probabilities: each row scored by a model that never saw it.

    The estimator is cloned and refitted on each training fold of a stratified K-fold
    split (shuffled with ``random_state``); the ``model`` passed in is not changed.

    Parameters
    ----------
    model : scikit-learn classifier
        Any estimator with ``fit`` and ``predict_proba`` (fitted or not).
    X : array-like, sparse matrix or DataFrame of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        The given labels (strings or integers).
    cv : int or cross-validation splitter, default=5
        Number of stratified folds, or a splitter with ``split(X, y)`` whose test folds
        partition the rows (e.g. ``KFold(3)``); each row must be in exactly one test fold.
    random_state : int or None, default=0
        Seed of the fold shuffling (only when ``cv`` is an int).
    n_jobs : int or None, default=None
        Folds fitted in parallel (None means 1, as in scikit-learn).
    progress : callable or None, default=None
        Called as ``progress(folds_done, n_folds)`` after each fold, e.g. to draw a
        progress bar in a command line.

    Returns
    -------
    ndarray of shape (n_samples, n_classes)
        Columns in the order of the sorted unique labels, ``np.unique(y)`` (the order
        :class:`~toolkit.Predictions` uses by default). A class absent from a training
        fold gets probability 0 for that fold's rows.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> X, y = load_iris(return_X_y=True)
    >>> proba = out_of_sample_proba(LogisticRegression(max_iter=500), X, y, cv=3)
    >>> proba.shape
    (150, 3)
    """
    from joblib import Parallel, delayed
    from sklearn.model_selection import StratifiedKFold

    for method in ("fit", "predict_proba"):
        if not hasattr(model, method):
            raise ToolkitTypeError(
                f"model must have {method}() to give out-of-sample probabilities; "
                f"got {type(model).__name__}"
            )
    if progress is not None and not callable(progress):
        raise ToolkitTypeError(f"progress must be callable or None, got {progress!r}")
    y_arr = np.asarray(y.to_numpy() if isinstance(y, pd.Series | pd.DataFrame) else y)
    if y_arr.ndim == 2 and 1 in y_arr.shape:
        y_arr = y_arr.ravel()
    if y_arr.ndim != 1:
        raise ValidationError(f"y must be 1-D, but has shape {y_arr.shape}")
    n_x = X.shape[0] if hasattr(X, "shape") else len(X)
    if n_x != y_arr.shape[0]:
        raise LengthMismatchError(f"X has {n_x} rows but y has {y_arr.shape[0]}")
    if pd.isna(y_arr).any():
        rows = np.flatnonzero(pd.isna(y_arr))
        raise ValidationError(
            f"y has missing values in {rows.size} row(s), e.g. rows {rows[:5].tolist()}; "
            "every row needs a label"
        )
    try:
        classes, codes, counts = np.unique(y_arr, return_inverse=True, return_counts=True)
    except TypeError as exc:
        raise ToolkitTypeError("y mixes label types; use one type for all labels") from exc
    if classes.shape[0] < 2:
        raise InvalidLabelError(f"y holds one class only ({classes.tolist()!r})")
    if isinstance(cv, int | np.integer) and not isinstance(cv, bool):
        if cv < 2:
            raise ValidationError(f"cv must be at least 2 folds, got {cv}")
        small = classes[counts < cv]
        if small.size:
            raise InvalidLabelError(
                f"every class needs at least cv={cv} examples for stratified {cv}-fold "
                f"probabilities, but {small.tolist()!r} have "
                f"{counts[counts < cv].tolist()}; lower cv or drop these classes"
            )
        splitter: Any = StratifiedKFold(n_splits=int(cv), shuffle=True, random_state=random_state)
    elif hasattr(cv, "split"):
        splitter = cv
    else:
        raise ToolkitTypeError(f"cv must be an int or a splitter with split(), got {cv!r}")
    folds = [(np.asarray(train), np.asarray(test)) for train, test in splitter.split(X, codes)]
    tested = np.concatenate([test for _, test in folds]) if folds else np.array([], int)
    if tested.shape[0] != n_x or np.unique(tested).shape[0] != n_x:
        raise ValidationError(
            f"the test folds of cv={cv!r} must hold every row exactly once, but they hold "
            f"{tested.shape[0]} rows ({np.unique(tested).shape[0]} distinct) of {n_x}"
        )
    proba = np.zeros((n_x, classes.shape[0]))
    jobs = (
        delayed(_fold_proba)(model, X, codes, train, test, classes.shape[0])
        for train, test in folds
    )
    for done, (test, fold_proba) in enumerate(
        Parallel(n_jobs=n_jobs, return_as="generator")(jobs), start=1
    ):
        proba[test] = fold_proba
        if progress is not None:
            progress(done, len(folds))
    return proba


def _fold_proba(
    model: Any, X: Any, codes: np.ndarray, train: np.ndarray, test: np.ndarray, n_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.base import clone

    # fitted on class codes 0..k-1 (as cross_val_predict does), so classes_ are columns
    est = clone(model).fit(_rows(X, train), codes[train])
    got = np.asarray(est.predict_proba(_rows(X, test)), dtype=float)
    seen = np.asarray(getattr(est, "classes_", np.arange(got.shape[1])), dtype=np.int64)
    out = np.zeros((test.shape[0], n_classes))
    out[:, seen] = got
    return test, out


def _rows(X: Any, idx: np.ndarray) -> Any:
    if hasattr(X, "iloc"):
        return X.iloc[idx]
    if hasattr(X, "tocsr"):
        return X.tocsr()[idx]
    return np.asarray(X)[idx] if isinstance(X, list | tuple) else X[idx]


def find_label_issues(
    p: Predictions,
    *,
    method: str = "prune_by_noise_rate",
    rank_by: str = "self_confidence",
    min_examples_per_class: int = 1,
    proba_source: str | None = None,
    n_jobs: int | None = None,
) -> pd.DataFrame:
    """Rows whose given label is probably wrong (confident learning, via cleanlab).

    Thin wrapper over ``cleanlab.filter.find_label_issues`` (which rows are issues)
    and ``cleanlab.rank.get_label_quality_scores`` (how bad each label looks), on
    ``p.proba`` and the codes of ``p.y_true``.

    Parameters
    ----------
    p : Predictions
        A classification with ``proba`` of shape (n_samples, n_classes). The
        probabilities must be out-of-sample (see :func:`out_of_sample_proba`).
    method : str, default="prune_by_noise_rate"
        cleanlab's ``filter_by`` rule, default as in cleanlab: one of
        ``"prune_by_noise_rate"``, ``"prune_by_class"``, ``"both"``,
        ``"confident_learning"`` (the off-diagonals of the confident joint),
        ``"predicted_neq_given"``, ``"low_normalized_margin"``, ``"low_self_confidence"``.
    rank_by : str, default="self_confidence"
        cleanlab's label quality score: ``"self_confidence"`` (probability of the given
        label), ``"normalized_margin"`` or ``"confidence_weighted_entropy"``.
    min_examples_per_class : int, default=1
        As in cleanlab: a class with this many rows or fewer cannot be pruned. Here it
        is an error (cleanlab would only warn and silently flag nothing in it).
    proba_source : {"out_of_sample", "in_sample", None}, default=None
        Where ``p.proba`` came from, when known. ``"in_sample"`` (e.g.
        ``Predictions.from_model`` on the training rows) raises
        :class:`InSampleProbabilityWarning`. With None, the warning is raised when at
        least 100 rows are given and the top class is the given label for all but at
        most 0.5% of them, the usual sign of a flexible model (a forest, boosted trees)
        scoring its own training data. ``"out_of_sample"`` silences it.
    n_jobs : int or None, default=None
        Passed to cleanlab (None means 1).

    Returns
    -------
    DataFrame
        One row per example, worst first (``label_quality`` ascending, then ``id``):
        ``id``, ``given_label``, ``suggested_label`` (the class of highest
        probability), ``label_quality`` in [0, 1] (low = likely wrong), ``is_issue``.

    Raises
    ------
    NotApplicableError
        For regression or when ``p`` has no probabilities.
    InvalidLabelError
        When a class has ``min_examples_per_class`` given labels or fewer.
    """
    from cleanlab.filter import find_label_issues as cl_find_label_issues
    from cleanlab.rank import get_label_quality_scores

    if not isinstance(p, Predictions):
        raise ToolkitTypeError(f"p must be a Predictions, got {type(p).__name__}")
    if not p.is_classification or p.proba is None:
        what = "a regression task" if not p.is_classification else "Predictions without proba"
        raise NotApplicableError(f"label issues need class probabilities, but got {what}")
    if method not in METHODS:
        raise ValidationError(f"method must be one of {list(METHODS)}, got {method!r}")
    if rank_by not in RANK_BY:
        raise ValidationError(f"rank_by must be one of {list(RANK_BY)}, got {rank_by!r}")
    if proba_source not in PROBA_SOURCES:
        raise ValidationError(
            f"proba_source must be one of {list(PROBA_SOURCES)}, got {proba_source!r}"
        )
    if (
        not isinstance(min_examples_per_class, int | np.integer)
        or isinstance(min_examples_per_class, bool)
        or min_examples_per_class < 0
    ):
        raise ValidationError(
            f"min_examples_per_class must be an integer >= 0, got {min_examples_per_class!r}"
        )
    labels = p.y_true_codes()
    counts = np.bincount(labels, minlength=len(p.classes))
    few = np.flatnonzero(counts <= min_examples_per_class)
    if few.size:
        shown = ", ".join(f"{p.classes[j]!r}: {counts[j]}" for j in few[:10])
        raise InvalidLabelError(
            f"label issues need more than min_examples_per_class={min_examples_per_class} "
            f"given labels in every class, but these classes have too few ({shown}); "
            "drop or merge them, or lower min_examples_per_class"
        )
    _warn_if_in_sample(p, labels, proba_source)

    pred_probs = np.asarray(p.proba, dtype=float)
    is_issue = cl_find_label_issues(
        labels,
        pred_probs,
        filter_by=method,
        min_examples_per_class=int(min_examples_per_class),
        n_jobs=1 if n_jobs is None else n_jobs,
    )
    quality = get_label_quality_scores(labels, pred_probs, method=rank_by)
    table = pd.DataFrame(
        {
            "id": p.ids,
            "given_label": p.y_true,
            "suggested_label": p.classes[np.argmax(pred_probs, axis=1)],
            "label_quality": np.clip(np.asarray(quality, dtype=float), 0.0, 1.0),
            "is_issue": np.asarray(is_issue, dtype=bool),
        }
    )
    order = np.lexsort((_id_rank(p.ids), table["label_quality"].to_numpy()))
    return table.iloc[order].reset_index(drop=True)


def _warn_if_in_sample(p: Predictions, labels: np.ndarray, proba_source: str | None) -> None:
    if proba_source == "in_sample":
        reason = "proba_source='in_sample' was given"
    elif proba_source is None and p.n >= IN_SAMPLE_MIN_ROWS:
        agree = int(np.count_nonzero(np.argmax(p.proba, axis=1) == labels))
        if p.n - agree > IN_SAMPLE_MAX_DISAGREEMENT * p.n:
            return
        reason = (
            f"the model predicts the given label for {agree} of {p.n} rows "
            f"({100 * agree / p.n:.1f}%)"
        )
    else:
        return
    warnings.warn(
        f"find_label_issues got probabilities that look in-sample ({reason}): a model "
        "scoring its own training rows agrees with their wrong labels and hides them. "
        "Use toolkit.out_of_sample_proba(model, X, y) and pass proba_source='out_of_sample'.",
        InSampleProbabilityWarning,
        stacklevel=3,
    )


def _id_rank(ids: np.ndarray) -> np.ndarray:
    """Position of each id in sorted order (str order for ids of mixed types)."""
    try:
        order = np.argsort(ids, kind="stable")
    except TypeError:
        order = np.argsort(np.array([str(v) for v in ids], dtype=object), kind="stable")
    rank = np.empty(len(ids), dtype=np.int64)
    rank[order] = np.arange(len(ids))
    return rank


def label_issue_share(issues: Any, p: Predictions, groups: Any) -> np.ndarray:
    """Per group, the share of the model's errors that are likely label errors.

    A high share says "the labels are bad here", a low one "the model is weak here".
    Fill the ``label_issue_share`` column of a patterns or clusters table with it.

    Parameters
    ----------
    issues : DataFrame or array-like of bool of shape (n_samples,)
        The table of :func:`find_label_issues` (matched to ``p`` by ``id``; it may be
        in any row order), or a mask of the rows flagged as label issues in the row
        order of ``p``.
    p : Predictions
        The rows the groups are made of; its ``errors`` are the model's errors.
    groups : DataFrame, ErrorClusters, or sequence of boolean masks of shape (n_samples,)
        - a :func:`~toolkit.find_error_patterns` table: each pattern's rows are
          rebuilt from its ``conditions`` on ``p.features``;
        - an :class:`~toolkit.ErrorClusters`: each row of its ``table`` is a cluster,
          its rows are those of ``points`` with that ``cluster``;
        - boolean masks, one per group (e.g. the rows of each slice).

    Returns
    -------
    ndarray of float, shape (n_groups,)
        In the order of ``groups``: errors in the group flagged as label issues /
        errors in the group; NaN for a group without errors.

    Examples
    --------
    >>> import toolkit as tk
    >>> p = tk.Predictions(["a", "a", "b", "b"], ["b", "b", "a", "b"])
    >>> label_issue_share([True, False, False, False], p, [[1, 1, 0, 0], [0, 0, 1, 1]])
    array([0.5, 0. ])
    """
    if not isinstance(p, Predictions):
        raise ToolkitTypeError(f"p must be a Predictions, got {type(p).__name__}")
    issue = _issue_mask(issues, p)
    err = p.errors
    if isinstance(groups, pd.DataFrame):
        masks = _pattern_masks(groups, p)
    elif hasattr(groups, "points") and hasattr(groups, "table"):
        masks = _cluster_masks(groups, p)
    elif isinstance(groups, str) or not isinstance(groups, Sequence | np.ndarray):
        raise ToolkitTypeError(
            "groups must be a find_error_patterns table, an ErrorClusters or a list of "
            f"boolean masks, got {type(groups).__name__}"
        )
    else:
        masks = [_bool_vector(m, f"groups[{i}]") for i, m in enumerate(groups)]
        for i, mask in enumerate(masks):
            if mask.shape[0] != p.n:
                raise LengthMismatchError(f"groups[{i}] has {mask.shape[0]} rows but p has {p.n}")
    share = np.full(len(masks), np.nan)
    for i, mask in enumerate(masks):
        n_errors = int(np.count_nonzero(err & mask))
        if n_errors:
            share[i] = np.count_nonzero(err & mask & issue) / n_errors
    return share


def _issue_mask(issues: Any, p: Predictions) -> np.ndarray:
    """The ``is_issue`` flags in the row order of ``p``."""
    if not isinstance(issues, pd.DataFrame):
        mask = _bool_vector(issues, "issues")
        if mask.shape[0] != p.n:
            raise LengthMismatchError(f"issues has {mask.shape[0]} rows but p has {p.n}")
        return mask
    missing = [c for c in ("id", "is_issue") if c not in issues.columns]
    if missing:
        raise ColumnNotFoundError(
            f"issues lacks column(s) {missing} (expected the find_label_issues table); "
            f"it has {list(issues.columns)}"
        )
    flags = pd.Series(_bool_vector(issues["is_issue"], "is_issue"), index=issues["id"].to_numpy())
    if flags.index.has_duplicates:
        shown = flags.index[flags.index.duplicated()].unique()[:5].tolist()
        raise DuplicateIdError(f"issues has repeated ids: {shown}")
    known = flags.index.isin(p.ids)
    absent = ~pd.Index(p.ids).isin(flags.index)
    if absent.any() or not known.all():
        raise ValidationError(
            "issues must hold the ids of p exactly: "
            f"{int(absent.sum())} id(s) of p are missing (e.g. {p.ids[absent][:5].tolist()}) "
            f"and {int((~known).sum())} are unknown to p"
        )
    return flags.reindex(p.ids).to_numpy(dtype=bool)


def _pattern_masks(table: pd.DataFrame, p: Predictions) -> list[np.ndarray]:
    if "conditions" not in table.columns:
        raise ColumnNotFoundError(
            "a groups table needs a 'conditions' column (from find_error_patterns); "
            f"it has {list(table.columns)}"
        )
    frame = p.features
    if frame is None:
        raise ValidationError("p has no features, so the patterns' rows cannot be rebuilt")
    frame = frame.reset_index(drop=True)
    masks = []
    for i, conditions in enumerate(table["conditions"]):
        mask = np.ones(p.n, dtype=bool)
        for condition in conditions:
            if condition["column"] not in frame.columns:
                raise ColumnNotFoundError(
                    f"pattern {i} has a condition on {condition['column']!r}, which is not "
                    f"among p's features {list(frame.columns)[:10]}"
                )
            mask &= condition_mask(frame, condition)
        masks.append(mask)
    return masks


def _cluster_masks(clusters: Any, p: Predictions) -> list[np.ndarray]:
    points = clusters.points
    if len(points) != p.n:
        raise LengthMismatchError(f"the clusters hold {len(points)} rows but p has {p.n}")
    by_id = pd.Series(points["cluster"].to_numpy(), index=points["id"].to_numpy())
    if not pd.Index(p.ids).isin(by_id.index).all() or by_id.index.has_duplicates:
        raise ValidationError("the clusters' points must hold the ids of p, once each")
    cluster = by_id.reindex(p.ids).to_numpy()
    return [cluster == c for c in clusters.table["cluster"]]


def _bool_vector(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values.to_numpy() if isinstance(values, pd.Series) else values)
    if arr.ndim != 1:
        raise ValidationError(f"{name} must be 1-D, but has shape {arr.shape}")
    if arr.dtype.kind == "b":
        return arr.astype(bool)
    if arr.dtype.kind in "iuf" and np.isin(arr, (0, 1)).all():
        return arr.astype(bool)
    raise ToolkitTypeError(f"{name} must be booleans (or 0/1), got dtype {arr.dtype}")
