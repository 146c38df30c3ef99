"""Features that alone predict the label almost perfectly: possible leakage.

A feature that gives away the answer (the target under another name, an ID assigned
after the outcome, a field filled in later) makes the model look good on a test set
drawn like its training data, and makes every error pattern a statement about that
feature. For each feature the rows are binned (:func:`~toolkit.analysis.binning.bin_column`)
and each bin predicts its most frequent label; ``accuracy_alone`` is the share of rows
that rule gets right. A feature is flagged when ``accuracy_alone`` reaches
:data:`LEAKAGE_ACCURACY` and removes most of the errors of always predicting the most
frequent class.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import pandas as pd

from toolkit._result import Result
from toolkit._validation import Interval, validate_params
from toolkit.analysis.binning import bin_column
from toolkit.data import Predictions
from toolkit.exceptions import NotApplicableError

__all__ = ["LEAKAGE_ACCURACY", "LeakageCheck", "find_leaky_features"]

#: A feature alone this accurate is flagged (when it also beats the zero rule, below).
LEAKAGE_ACCURACY = 0.99
#: ... and removes at least this share of the zero rule's errors.
MIN_ERROR_REDUCTION = 0.5


@dataclass(frozen=True, repr=False, eq=False)
class LeakageCheck(Result):
    """Result of :func:`find_leaky_features`.

    ``table`` has one row per feature, most predictive first: ``feature``,
    ``accuracy_alone``, ``zero_rule`` (accuracy of always predicting the most frequent
    class), ``error_reduction`` (share of the zero rule's errors the feature alone
    removes), ``n_bins`` and ``flagged``.
    """

    threshold: float
    n: int

    @property
    def flagged(self) -> list[str]:
        """The flagged features, most predictive first."""
        return self.table.loc[self.table["flagged"], "feature"].tolist()


@validate_params(
    {
        "p": [Predictions],
        "threshold": [Interval(Real, 0, 1, closed="right")],
        "bins": [Interval(Integral, 2, None)],
    }
)
def find_leaky_features(
    p: Predictions, *, threshold: float = LEAKAGE_ACCURACY, bins: int = 20
) -> LeakageCheck:
    """How well each feature alone predicts the label, and which look like leakage.

    Parameters
    ----------
    p : Predictions
        A classification task with features.
    threshold : float, default=0.99
        ``accuracy_alone`` at or above which a feature is flagged (when it also removes
        at least half of the zero rule's errors).
    bins : int, default=20
        Quantile bins of a numeric feature (categorical features keep their values).

    Returns
    -------
    LeakageCheck

    Examples
    --------
    >>> import toolkit as tk
    >>> y = ["a", "b"] * 50
    >>> p = tk.Predictions(y, ["a"] * 100, features={"code": [f"c{v}" for v in y],
    ...                                              "x": list(range(100))})
    >>> find_leaky_features(p).flagged
    ['code']
    """
    if not p.is_classification:
        raise NotApplicableError("leakage by a single feature is checked for classification")
    if not p.feature_names:
        raise NotApplicableError("no feature columns were given")
    labels = p.y_true_codes()
    zero_rule = np.bincount(labels).max() / p.n
    rows = []
    for name in p.feature_names:
        binned = bin_column(p.features[name], name, bins=bins)
        codes = binned.codes.copy()
        codes[codes < 0] = binned.n_bins  # rows in no bin form one more group
        counts = pd.crosstab(codes, labels).to_numpy()
        accuracy = counts.max(axis=1).sum() / p.n
        reduction = (accuracy - zero_rule) / (1 - zero_rule) if zero_rule < 1 else 0.0
        rows.append(
            {
                "feature": name,
                "accuracy_alone": float(accuracy),
                "zero_rule": float(zero_rule),
                "error_reduction": float(reduction),
                "n_bins": int(counts.shape[0]),
                "flagged": bool(accuracy >= threshold and reduction >= MIN_ERROR_REDUCTION),
            }
        )
    table = pd.DataFrame(rows).sort_values(
        ["accuracy_alone", "feature"], ascending=[False, True], kind="stable"
    )
    return LeakageCheck(table.reset_index(drop=True), threshold=float(threshold), n=p.n)
