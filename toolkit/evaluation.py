"""`learning_curve` as users call it: the analysis, logged to the open toolkit run if any.

The analysis itself (:mod:`toolkit.analysis.learning`) is pure; this thin front is the
one place that looks for the run of an enclosing ``with tk.track(...)`` block, so that a
learning curve computed while training is recorded with the rest of the run.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

from toolkit._validation import validate_params
from toolkit.analysis.learning import (
    DEFAULT_SIZES,
    LEARNING_CURVE_PARAMS,
    LearningCurve,
)
from toolkit.analysis.learning import learning_curve as _learning_curve

__all__ = ["learning_curve"]

#: Metric name prefix and artifact of a logged learning curve.
LOGGED_METRIC = "learning_curve"
LOGGED_FILE = "learning_curve.json"


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
    """Cross-validated score against training-set size, logged to the open run.

    The curve of :func:`toolkit.analysis.learning.learning_curve` (same parameters; its
    ``.table`` has ``n_train``, ``score_mean``, ``score_std``). Inside
    ``with tk.track(...)`` the curve is also logged to that run: metrics
    ``learning_curve.score_mean`` and ``learning_curve.score_std`` with the training size
    as the step, and the whole result as the artifact ``learning_curve.json``. Outside a
    run nothing is logged.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.naive_bayes import GaussianNB
    >>> import toolkit as tk
    >>> X, y = load_digits(return_X_y=True)
    >>> curve = tk.learning_curve(GaussianNB(), X, y, train_sizes=[50, 800], cv=3)
    >>> curve.table.columns[:3].tolist()
    ['n_train', 'score_mean', 'score_std']
    """
    curve = _learning_curve(
        estimator,
        X,
        y,
        train_sizes=train_sizes,
        cv=cv,
        scoring=scoring,
        random_state=random_state,
        n_jobs=n_jobs,
    )
    # no run can be open if the tracking module was never imported (and importing it
    # here would load MLflow for nothing)
    tracking = sys.modules.get("toolkit.tracking.run")
    run = None if tracking is None else tracking.current_run()
    if run is not None:
        for row in curve.table.itertuples():
            run.log_metrics(
                {
                    f"{LOGGED_METRIC}.score_mean": float(row.score_mean),
                    f"{LOGGED_METRIC}.score_std": float(row.score_std),
                },
                step=int(row.n_train),
            )
        run.log_dict(curve.to_dict(), LOGGED_FILE)
    return curve
