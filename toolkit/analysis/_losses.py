"""Per-row terms whose means are the task's metrics (for slices and paired comparisons)."""

from __future__ import annotations

import numpy as np

from toolkit._validation import validate_params
from toolkit.data import Predictions

__all__ = ["row_losses"]


@validate_params({"p": [Predictions]})
def row_losses(p: Predictions) -> dict[str, np.ndarray]:
    """Per-row terms whose slice means are the task's metrics.

    Classification: ``accuracy`` (1 when correct) and, with probabilities, ``log_loss``
    (-log of the true class's probability, clipped like scikit-learn) and ``brier``
    (scikit-learn's definition). Regression: ``mae`` (|error|), ``mse`` (squared error)
    and ``mean_error`` (y_pred - y_true, the bias).
    """
    if p.is_classification:
        out = {"accuracy": (~p.errors).astype(float)}
        if p.proba is not None:
            true_idx = p.y_true_codes()
            p_true = p.proba[np.arange(p.n), true_idx]
            eps = np.finfo(p.proba.dtype).eps
            out["log_loss"] = -np.log(np.clip(p_true, eps, 1 - eps))
            if p.proba.shape[1] == 2:
                positive = (true_idx == 1).astype(float)
                out["brier"] = (p.proba[:, 1] - positive) ** 2
            else:
                onehot = np.zeros_like(p.proba)
                onehot[np.arange(p.n), true_idx] = 1.0
                out["brier"] = ((p.proba - onehot) ** 2).sum(axis=1)
        return out
    diff = p.y_pred - p.y_true
    return {"mae": np.abs(diff), "mse": diff**2, "mean_error": diff}
