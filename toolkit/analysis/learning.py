"""Learning curve: would more labelled data help? Score against training-set size.

The curve is scikit-learn's :func:`~sklearn.model_selection.learning_curve` (each size
fitted on every cross-validation fold, scored on the fold held out); this module keeps it
as a result and says whether it is still rising: the last step's gain, paired by fold,
with its 95% interval (Student's t over the folds; see
:func:`toolkit.analysis._stats.paired_mean_interval`). A gain whose interval is above 0
means more rows of the same kind still help.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from numbers import Integral
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from toolkit._result import Result
from toolkit._validation import (
    ARRAY_LIKE,
    CALLABLE,
    RANDOM_STATE,
    HasMethods,
    Interval,
    validate_params,
)
from toolkit.analysis._stats import paired_mean_interval
from toolkit.exceptions import ValidationError

__all__ = ["LEARNING_CURVE_PARAMS", "LearningCurve", "learning_curve"]

#: Columns of :attr:`LearningCurve.table`.
CURVE_COLUMNS = ["n_train", "score_mean", "score_std", "train_score_mean", "train_score_std"]
DEFAULT_SIZES = (0.1, 0.325, 0.55, 0.775, 1.0)


@dataclass(frozen=True, repr=False, eq=False)
class LearningCurve(Result):
    """The result of :func:`learning_curve`.

    Attributes
    ----------
    table : DataFrame
        One row per training-set size: ``n_train``, ``score_mean`` and ``score_std``
        (over the folds, on the held-out fold; ddof=0 as scikit-learn's examples),
        ``train_score_mean``, ``train_score_std`` (on the rows fitted).
    scoring : str
        The score (scikit-learn's name; without one, the estimator's own ``score``:
        "accuracy" for classifiers, "r2" for regressors).
    cv : int
        Folds.
    last_gain : float
        Score at the largest size minus the score at the one before, mean over folds.
    last_gain_ci_low, last_gain_ci_high : float
        Its 95% interval, paired by fold.
    still_rising : bool
        ``last_gain_ci_low > 0``: the last step still raised the score.
    """

    scoring: str
    cv: int
    last_gain: float
    last_gain_ci_low: float
    last_gain_ci_high: float
    still_rising: bool


#: The checks of :func:`learning_curve`'s parameters (shared with the public wrapper).
LEARNING_CURVE_PARAMS = {
    "estimator": [HasMethods("fit")],
    "X": [ARRAY_LIKE],
    "y": [ARRAY_LIKE],
    "train_sizes": [ARRAY_LIKE],
    "cv": [Interval(Integral, 2, None)],
    "scoring": [str, CALLABLE, None],
    "random_state": [RANDOM_STATE],
    "n_jobs": [Integral, None],
}


@validate_params(LEARNING_CURVE_PARAMS)
def learning_curve(
    estimator: Any,
    X: Any,
    y: Any,
    *,
    train_sizes: Sequence[float] = DEFAULT_SIZES,
    cv: int = 5,
    scoring: str | Callable | None = None,
    random_state: int = 0,
    n_jobs: int | None = None,
) -> LearningCurve:
    """Cross-validated score against training-set size (scikit-learn's learning curve).

    Parameters
    ----------
    estimator : scikit-learn estimator
        Not fitted in place (scikit-learn clones it).
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    train_sizes : array-like, default=(0.1, 0.325, 0.55, 0.775, 1.0)
        Fractions of the training folds (floats in (0, 1]) or row counts (ints).
    cv : int, default=5
        Folds: stratified for classifiers, shuffled with ``random_state``.
    scoring : str or callable, default=None
        A scikit-learn scorer; default the estimator's ``score`` (accuracy, R²).
    random_state : int, default=0
        Seeds the fold split and the order of the training rows.
    n_jobs : int, default=None

    Returns
    -------
    LearningCurve

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.naive_bayes import GaussianNB
    >>> X, y = load_digits(return_X_y=True)
    >>> curve = learning_curve(GaussianNB(), X, y, train_sizes=[50, 200, 800], cv=3)
    >>> curve.table["n_train"].tolist()
    [50, 200, 800]
    """
    from sklearn.base import is_classifier
    from sklearn.model_selection import KFold, StratifiedKFold
    from sklearn.model_selection import learning_curve as sk_learning_curve

    splitter = StratifiedKFold if is_classifier(estimator) else KFold
    folds = splitter(n_splits=cv, shuffle=True, random_state=random_state)
    try:
        sizes, train_scores, test_scores = sk_learning_curve(
            estimator,
            X,
            y,
            train_sizes=np.asarray(train_sizes),
            cv=folds,
            scoring=scoring,
            shuffle=True,
            random_state=random_state,
            n_jobs=n_jobs,
            error_score="raise",
        )
    except ValueError as exc:
        raise ValidationError(f"learning_curve: scikit-learn refused the inputs: {exc}") from exc
    table = pd.DataFrame(
        {
            "n_train": sizes.astype(np.int64),
            "score_mean": test_scores.mean(axis=1),
            "score_std": test_scores.std(axis=1),
            "train_score_mean": train_scores.mean(axis=1),
            "train_score_std": train_scores.std(axis=1),
        }
    )[CURVE_COLUMNS]
    if len(sizes) >= 2:
        step = test_scores[-1] - test_scores[-2]
        # few folds: Student's t rather than the normal quantile
        gain, low, high = paired_mean_interval(
            np.array([step.size]),
            np.array([step.sum()]),
            np.array([(step**2).sum()]),
            z=float(stats.t.ppf(0.975, step.size - 1)),
        )
        gain_v, low_v, high_v = float(gain[0]), float(low[0]), float(high[0])
    else:
        gain_v = low_v = high_v = float("nan")
    return LearningCurve(
        table,
        scoring=_scoring_name(scoring, is_classifier(estimator)),
        cv=int(cv),
        last_gain=gain_v,
        last_gain_ci_low=low_v,
        last_gain_ci_high=high_v,
        still_rising=bool(low_v > 0),
    )


def _scoring_name(scoring: str | Callable | None, classifier: bool) -> str:
    if scoring is None:  # the estimator's own score
        return "accuracy" if classifier else "r2"
    if isinstance(scoring, str):
        return scoring
    return getattr(scoring, "__name__", None) or str(scoring)
