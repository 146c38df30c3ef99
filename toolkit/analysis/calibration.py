"""Calibration as a fix: isotonic regression or Platt's sigmoid fitted on a calibration split.

The fitting is scikit-learn's :class:`~sklearn.calibration.CalibratedClassifierCV` with a
frozen estimator whose "features" are the model's probabilities (one binary calibrator
for two classes, one per class and a normalisation for more). What this module adds is
the bookkeeping the book asks for: the calibrator is fitted on its own split, judged on
another, and refuses to be judged on the rows it was fitted on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

from toolkit._checks import preview
from toolkit._result import Result
from toolkit._validation import Options, validate_params
from toolkit.analysis.metrics import probability_scores, reliability_curves
from toolkit.data import Predictions
from toolkit.exceptions import NotApplicableError, ValidationError

__all__ = ["CalibrationCheck", "Calibrator", "calibrate"]

#: The metrics a calibration check reports, all lower-is-better.
CHECK_METRICS = ("ece", "brier", "log_loss")


class _ScoresAsProba(ClassifierMixin, BaseEstimator):
    """An already-"fitted" classifier whose probabilities are its input: lets scikit-learn's
    calibration run on probabilities alone (no model, no features)."""

    def __init__(self, n_classes: int = 2) -> None:
        self.n_classes = n_classes

    def fit(self, X: Any, y: Any) -> _ScoresAsProba:
        self.classes_ = np.arange(self.n_classes)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=float)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.argmax(np.asarray(X), axis=1)


def _fingerprints(p: Predictions) -> np.ndarray:
    """One 64-bit hash per row of (id, true label, probabilities): the same row twice has
    the same fingerprint, two different rows almost surely not."""
    frame = pd.DataFrame(p.proba, columns=[f"p{j}" for j in range(p.proba.shape[1])])
    frame.insert(0, "y", pd.Series(p.y_true).astype(str).to_numpy())
    frame.insert(0, "id", pd.Series(p.ids).astype(str).to_numpy())
    return pd.util.hash_pandas_object(frame, index=False).to_numpy()


def _need_proba(p: Predictions, name: str) -> None:
    if not p.is_classification or p.proba is None:
        raise NotApplicableError(
            f"{name} needs class probabilities (proba); "
            + ("this is a regression task" if not p.is_classification else "only labels were given")
        )


@dataclass(frozen=True, repr=False, eq=False)
class CalibrationCheck(Result):
    """ECE, Brier score and log loss of a test split before and after calibration.

    Attributes
    ----------
    table : DataFrame
        One row per metric (``ece``, ``brier``, ``log_loss``): ``metric``, ``before``,
        ``after``, ``change`` (after minus before: negative is better).
    method : str
    n_calibration, n_test : int
        Rows the calibrator was fitted on and rows it is judged on (disjoint).
    reliability_before, reliability_after : DataFrame
        The test split's reliability curves (:func:`toolkit.analysis.metrics.reliability_curves`).
    """

    method: str
    n_calibration: int
    n_test: int
    reliability_before: pd.DataFrame
    reliability_after: pd.DataFrame

    @property
    def meta(self) -> dict[str, Any]:
        return {"method": self.method, "n_calibration": self.n_calibration, "n_test": self.n_test}

    def to_dict(self) -> dict[str, Any]:
        from toolkit._json import frame_records

        return {
            **super().to_dict(),
            "reliability_before": frame_records(self.reliability_before),
            "reliability_after": frame_records(self.reliability_after),
        }


@dataclass(frozen=True, repr=False, eq=False)
class Calibrator:
    """A calibration map fitted by :func:`calibrate`; :meth:`apply` it to other rows."""

    method: str
    classes: np.ndarray
    n_calibration: int
    _model: Any
    _rows: np.ndarray

    def __repr__(self) -> str:
        return (
            f"Calibrator(method={self.method!r}, classes={preview(self.classes)}, "
            f"n_calibration={self.n_calibration})"
        )

    def _check_rows(self, p: Predictions) -> None:
        _need_proba(p, "applying a calibration")
        if p.classes.tolist() != self.classes.tolist():
            raise ValidationError(
                f"the calibration was fitted on classes {preview(self.classes)} but these "
                f"predictions have {preview(p.classes)}"
            )
        shared = np.isin(_fingerprints(p), self._rows)
        if shared.any():
            raise ValidationError(
                f"{int(shared.sum()):,} of the {p.n:,} rows (ids {preview(p.ids[shared])}) are "
                "rows the calibration was fitted on (same id, label and probabilities); "
                "scoring a calibration on its own rows overstates the fix: pass rows held "
                "out from the calibration split"
            )

    def apply(self, p: Predictions) -> Predictions:
        """``p`` with calibrated probabilities (and ``y_pred`` their most likely class);
        labels, ids, features and embeddings are kept. ``p`` is not changed.

        Raises ValidationError when ``p`` shares rows with the calibration split."""
        self._check_rows(p)
        proba = self._model.predict_proba(p.proba)
        return Predictions(
            p.y_true,
            proba=proba,
            classes=p.classes,
            features=p.features,
            embeddings=p.embeddings,
            ids=p.ids,
            task=p.task,
        )

    def evaluate(self, p_test: Predictions, *, n_bins: int = 10) -> CalibrationCheck:
        """ECE, Brier score and log loss of ``p_test`` before and after calibration, and its
        reliability curves both ways (``p_test`` must not share rows with the
        calibration split)."""
        after = self.apply(p_test)
        before_scores = probability_scores(p_test, n_bins=n_bins)
        after_scores = probability_scores(after, n_bins=n_bins)
        rows = [
            {
                "metric": name,
                "before": before_scores[name],
                "after": after_scores[name],
                "change": after_scores[name] - before_scores[name],
            }
            for name in CHECK_METRICS
        ]
        return CalibrationCheck(
            pd.DataFrame(rows),
            method=self.method,
            n_calibration=self.n_calibration,
            n_test=p_test.n,
            reliability_before=reliability_curves(p_test, n_bins=n_bins),
            reliability_after=reliability_curves(after, n_bins=n_bins),
        )


@validate_params({"p": [Predictions], "method": [Options(["isotonic", "sigmoid"])]})
def calibrate(p: Predictions, *, method: str = "isotonic") -> Calibrator:
    """Fit a calibration of ``p``'s probabilities on ``p`` (a calibration split).

    Isotonic regression (monotone, non-parametric; wants a few hundred rows or more) or
    Platt's sigmoid (two parameters; for small splits), as scikit-learn's
    ``CalibratedClassifierCV`` fits them: for two classes one map of the positive-class
    score, for more one per class (one-vs-rest) followed by a normalisation.

    Parameters
    ----------
    p : Predictions
        The calibration split: rows the model was not trained on, with probabilities,
        every class present.
    method : {"isotonic", "sigmoid"}, default="isotonic"

    Returns
    -------
    Calibrator
        ``cal.apply(p_test)`` returns calibrated :class:`~toolkit.Predictions`;
        ``cal.evaluate(p_test)`` the metrics before and after. Both refuse rows of the
        calibration split.

    Examples
    --------
    >>> import toolkit as tk
    >>> p_cal = tk.Predictions([0, 0, 1, 1], proba=[0.6, 0.7, 0.8, 0.9])
    >>> cal = tk.calibrate(p_cal, method="isotonic")
    >>> p_test = tk.Predictions([0, 1], proba=[0.65, 0.85], ids=[10, 11])
    >>> cal.apply(p_test).proba[:, 1].round(2).tolist()
    [0.0, 1.0]
    """
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator

    _need_proba(p, "calibrate")
    codes = p.y_true_codes()
    absent = [c for j, c in enumerate(p.classes) if not (codes == j).any()]
    if absent:
        raise ValidationError(
            f"the calibration split has no row of class(es) {preview(absent)}; every class "
            "needs rows to be calibrated"
        )
    identity = _ScoresAsProba(len(p.classes)).fit(p.proba, codes)
    # The estimator is frozen, so scikit-learn's folds would only re-read the same
    # probabilities: one "split" holding every row (test = all rows, as cross_val_predict
    # needs) spares small calibration splits its rule of 5 rows per class and fold.
    every_row = np.arange(p.n)
    model = CalibratedClassifierCV(
        FrozenEstimator(identity), method=method, cv=[(every_row, every_row)]
    )
    model.fit(p.proba, codes)
    return Calibrator(
        method=method,
        classes=p.classes.copy(),
        n_calibration=p.n,
        _model=model,
        _rows=np.unique(_fingerprints(p)),
    )
