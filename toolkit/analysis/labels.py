"""Wrong labels: out-of-sample probabilities, cleanlab label issues, label noise per group.

Label-error detection needs probabilities from a model that did not see the row it
scores. In-sample probabilities agree with the given labels, wrong ones included, and
hide most label errors, so :func:`out_of_sample_proba` produces out-of-fold
probabilities and :func:`find_label_issues` warns when it is told (or can tell) that
its probabilities are in-sample.

cleanlab is imported inside the functions that use it, so ``import toolkit`` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from numbers import Integral
from typing import Any

import numpy as np
import pandas as pd

from toolkit._checks import as_1d, check_labels_present, id_rank
from toolkit._result import Result
from toolkit._validation import (
    ARRAY_LIKE,
    CALLABLE,
    RANDOM_STATE,
    HasMethods,
    Interval,
    Options,
    validate_params,
)
from toolkit._warn import warn_caller
from toolkit.analysis._label_groups import group_masks, issue_mask
from toolkit.data import Predictions
from toolkit.exceptions import (
    InvalidLabelError,
    InvalidValueError,
    LengthMismatchError,
    NotApplicableError,
    ToolkitTypeError,
    ValidationError,
)

__all__ = [
    "ISSUE_COLUMNS",
    "InSampleProbabilityWarning",
    "LabelIssues",
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
PROBA_SOURCES = ("out_of_sample", "in_sample")
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


@dataclass(frozen=True, repr=False, eq=False)  # Result's repr and identity equality
class LabelIssues(Result):
    """Result of :func:`find_label_issues`: one row per example, worst label first.

    Attributes
    ----------
    table : DataFrame
        ``id``, ``given_label``, ``suggested_label`` (the class of highest probability),
        ``label_quality`` in [0, 1] (low = likely wrong), ``is_issue``; sorted by
        ``label_quality`` ascending, then ``id``.
    method : str
        cleanlab's ``filter_by`` rule that set ``is_issue``.
    rank_by : str
        cleanlab's label quality score in ``label_quality``.
    proba_source : str or None
        Where the probabilities came from, as the caller said (None: not said).
    in_sample_reason : str or None
        Why the probabilities looked in-sample, when :class:`InSampleProbabilityWarning`
        was raised; None when it was not.
    n_issues : int
        Rows with ``is_issue``.
    """

    method: str
    rank_by: str
    proba_source: str | None
    in_sample_reason: str | None
    n_issues: int


@validate_params(
    {
        "model": [HasMethods("fit", "predict_proba")],
        "X": [ARRAY_LIKE, HasMethods("tocsr")],
        "y": [ARRAY_LIKE],
        "cv": [Interval(Integral, 2, None), HasMethods("split")],
        "random_state": [RANDOM_STATE, None],
        "n_jobs": [Integral, None],
        "progress": [CALLABLE, None],
    }
)
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
        Number of stratified folds (at least 2), or a splitter with ``split(X, y)`` whose
        test folds partition the rows (e.g. ``KFold(3)``).
    random_state : int or None, default=0
        Seed of the fold shuffling (only when ``cv`` is an int).
    n_jobs : int or None, default=None
        Folds fitted in parallel (None means 1, as in scikit-learn).
    progress : callable or None, default=None
        Called as ``progress(folds_done, n_folds)`` after each fold.

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

    if n_jobs == 0:
        raise InvalidValueError("out_of_sample_proba: n_jobs must not be 0 (None means 1)")
    y_arr = as_1d(y, "y")
    n_x = X.shape[0] if hasattr(X, "shape") else len(X)
    if n_x != y_arr.shape[0]:
        raise LengthMismatchError(f"X has {n_x} rows but y has {y_arr.shape[0]}")
    check_labels_present(y_arr, "y")
    try:
        classes, codes, counts = np.unique(y_arr, return_inverse=True, return_counts=True)
    except TypeError as exc:
        raise ToolkitTypeError("y mixes label types; use one type for all labels") from exc
    if classes.shape[0] < 2:
        raise InvalidLabelError(f"y holds one class only ({classes.tolist()!r})")
    folds = _folds(X, codes, classes, counts, cv, random_state)
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


def _folds(
    X: Any,
    codes: np.ndarray,
    classes: np.ndarray,
    counts: np.ndarray,
    cv: Any,
    random_state: int | None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) row positions of each fold; the test folds hold every row once."""
    from sklearn.model_selection import StratifiedKFold

    if isinstance(cv, Integral):
        small = classes[counts < cv]
        if small.size:
            raise InvalidLabelError(
                f"every class needs at least cv={cv} examples for stratified {cv}-fold "
                f"probabilities, but {small.tolist()!r} have "
                f"{counts[counts < cv].tolist()}; lower cv or drop these classes"
            )
        splitter: Any = StratifiedKFold(n_splits=int(cv), shuffle=True, random_state=random_state)
    else:
        splitter = cv
    n_x = codes.shape[0]
    folds = [(np.asarray(train), np.asarray(test)) for train, test in splitter.split(X, codes)]
    tested = np.concatenate([test for _, test in folds]) if folds else np.array([], int)
    if tested.shape[0] != n_x or np.unique(tested).shape[0] != n_x:
        raise ValidationError(
            f"the test folds of cv={cv!r} must hold every row exactly once, but they hold "
            f"{tested.shape[0]} rows ({np.unique(tested).shape[0]} distinct) of {n_x}"
        )
    return folds


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


@validate_params(
    {
        "p": [Predictions],
        "method": [Options(METHODS)],
        "rank_by": [Options(RANK_BY)],
        "min_examples_per_class": [Interval(Integral, 0, None)],
        "proba_source": [Options(PROBA_SOURCES), None],
        "n_jobs": [Interval(Integral, 1, None), None],
    }
)
def find_label_issues(
    p: Predictions,
    *,
    method: str = "prune_by_noise_rate",
    rank_by: str = "self_confidence",
    min_examples_per_class: int = 1,
    proba_source: str | None = None,
    n_jobs: int | None = None,
) -> LabelIssues:
    """Rows whose given label is probably wrong (confident learning, via cleanlab).

    A thin wrapper over ``cleanlab.filter.find_label_issues`` (which rows are issues)
    and ``cleanlab.rank.get_label_quality_scores`` (how bad each label looks).

    Parameters
    ----------
    p : Predictions
        A classification with out-of-sample ``proba`` (see :func:`out_of_sample_proba`).
    method : str, default="prune_by_noise_rate"
        cleanlab's ``filter_by`` rule: ``"prune_by_noise_rate"``, ``"prune_by_class"``,
        ``"both"``, ``"confident_learning"``, ``"predicted_neq_given"``,
        ``"low_normalized_margin"`` or ``"low_self_confidence"``.
    rank_by : str, default="self_confidence"
        cleanlab's label quality score: ``"self_confidence"`` (probability of the given
        label), ``"normalized_margin"`` or ``"confidence_weighted_entropy"``.
    min_examples_per_class : int, default=1
        A class with this many rows or fewer cannot be pruned; here it is an error
        (cleanlab would only warn and flag nothing in it).
    proba_source : {"out_of_sample", "in_sample"} or None, default=None
        Where ``p.proba`` came from. ``"in_sample"`` raises
        :class:`InSampleProbabilityWarning`; so does None when at least 100 rows are
        given and the top class is the given label for all but at most 0.5% of them
        (a flexible model scoring its own training rows). ``"out_of_sample"`` silences it.
    n_jobs : int or None, default=None
        cleanlab's processes (None means 1).

    Returns
    -------
    LabelIssues
        ``.table`` has ``id``, ``given_label``, ``suggested_label``, ``label_quality``,
        ``is_issue``, worst first; the other fields say how it was made.

    Raises
    ------
    NotApplicableError
        For regression or when ``p`` has no probabilities.
    InvalidLabelError
        When a class has ``min_examples_per_class`` given labels or fewer.

    Examples
    --------
    >>> import toolkit as tk
    >>> y = ["cat"] * 4 + ["dog"] * 4
    >>> proba = [[0.9, 0.1]] * 3 + [[0.1, 0.9]] + [[0.2, 0.8]] * 4
    >>> issues = find_label_issues(tk.Predictions(y, proba=proba))
    >>> issues
    LabelIssues(8 rows, method='prune_by_noise_rate', rank_by='self_confidence', \
proba_source=None, in_sample_reason=None, n_issues=1)
    >>> issues.table.head(2)
       id given_label suggested_label  label_quality  is_issue
    0   3         cat             dog            0.1      True
    1   4         dog             dog            0.8     False
    """
    labels = _checked_codes(p, min_examples_per_class)
    reason = _warn_if_in_sample(p, labels, proba_source)
    table = _issue_table(
        p,
        labels,
        filter_by=method,
        rank_by=rank_by,
        min_examples_per_class=int(min_examples_per_class),
        n_jobs=1 if n_jobs is None else n_jobs,
    )
    return LabelIssues(
        table,
        method=method,
        rank_by=rank_by,
        proba_source=proba_source,
        in_sample_reason=reason,
        n_issues=int(np.count_nonzero(table["is_issue"])),
    )


def _checked_codes(p: Predictions, min_examples_per_class: int) -> np.ndarray:
    """The class codes of ``p.y_true``, once ``p`` is known to suit cleanlab."""
    if not p.is_classification or p.proba is None:
        what = "a regression task" if not p.is_classification else "Predictions without proba"
        raise NotApplicableError(f"label issues need class probabilities, but got {what}")
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
    return labels


def _issue_table(
    p: Predictions, labels: np.ndarray, *, filter_by: str, rank_by: str, **options: Any
) -> pd.DataFrame:
    """cleanlab's flags and scores as the issues table, worst label first
    (``label_quality`` ascending, then ``id``)."""
    from cleanlab.filter import find_label_issues as cl_find_label_issues
    from cleanlab.rank import get_label_quality_scores

    pred_probs = np.asarray(p.proba, dtype=float)
    is_issue = cl_find_label_issues(labels, pred_probs, filter_by=filter_by, **options)
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
    order = np.lexsort((id_rank(p.ids), table["label_quality"].to_numpy()))
    return table.iloc[order].reset_index(drop=True)


def _warn_if_in_sample(p: Predictions, labels: np.ndarray, proba_source: str | None) -> str | None:
    """Warn when the probabilities look in-sample; returns why (None: they do not)."""
    reason = _in_sample_reason(p, labels, proba_source)
    if reason is not None:
        warn_caller(
            f"find_label_issues got probabilities that look in-sample ({reason}): a model "
            "scoring its own training rows agrees with their wrong labels and hides them. "
            "Use toolkit.out_of_sample_proba(model, X, y) and pass "
            "proba_source='out_of_sample'.",
            InSampleProbabilityWarning,
        )
    return reason


def _in_sample_reason(p: Predictions, labels: np.ndarray, proba_source: str | None) -> str | None:
    """Why the probabilities look in-sample, or None when they do not."""
    if proba_source == "in_sample":
        return "proba_source='in_sample' was given"
    if proba_source is not None or p.n < IN_SAMPLE_MIN_ROWS:
        return None
    agree = int(np.count_nonzero(np.argmax(p.proba, axis=1) == labels))
    if p.n - agree > IN_SAMPLE_MAX_DISAGREEMENT * p.n:
        return None
    return (
        f"the model predicts the given label for {agree} of {p.n} rows ({100 * agree / p.n:.1f}%)"
    )


@validate_params(
    {
        "issues": [LabelIssues, ARRAY_LIKE],
        "p": [Predictions],
        "groups": [ARRAY_LIKE, HasMethods("to_frame")],
    }
)
def label_issue_share(issues: Any, p: Predictions, groups: Any) -> np.ndarray:
    """Per group, the share of the model's errors that are likely label errors.

    A high share says "the labels are bad here", a low one "the model is weak here".
    Fill the ``label_issue_share`` column of a patterns or clusters table with it.

    Parameters
    ----------
    issues : LabelIssues, DataFrame or array-like of bool of shape (n_samples,)
        The result of :func:`find_label_issues` or its table (matched to ``p`` by
        ``id``, in any row order), or a mask of the rows flagged as label issues in the
        row order of ``p``.
    p : Predictions
        The rows the groups are made of; its ``errors`` are the model's errors.
    groups : result, DataFrame, or sequence of boolean masks of shape (n_samples,)
        - an :class:`~toolkit.ErrorClusters`: a group per row of its ``table``, the
          rows of ``points`` with that ``cluster``;
        - a patterns table (or a result whose ``table`` is one, such as
          :func:`~toolkit.find_error_patterns`'s): each pattern's rows are rebuilt from
          its ``conditions`` (a :class:`~toolkit.analysis.conditions.Pattern` or a list
          of condition dicts) on ``p.features``;
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
    issue = issue_mask(issues.table if isinstance(issues, LabelIssues) else issues, p)
    err = p.errors
    masks = group_masks(groups, p)
    share = np.full(len(masks), np.nan)
    for i, mask in enumerate(masks):
        n_errors = int(np.count_nonzero(err & mask))
        if n_errors:
            share[i] = np.count_nonzero(err & mask & issue) / n_errors
    return share
