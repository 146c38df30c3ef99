"""Thresholds and costs of a binary classifier: ROC and PR curves, the metrics at any
threshold, and the threshold that minimises a cost matrix or maximises a metric.

A row is predicted positive (``classes[1]``) when its positive-class score is at least
the threshold, as in scikit-learn's curves. The confusion counts at every distinct score
come from :func:`sklearn.metrics.roc_curve` (``drop_intermediate=False``), so a cost or
F1 is minimised or maximised exactly over all thresholds; a user's callable metric is
evaluated on a grid of score quantiles (it may be slow on a full table).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from numbers import Integral
from typing import Any

import numpy as np
import pandas as pd

from toolkit._json import frame_records, json_safe
from toolkit._result import Result
from toolkit._validation import ARRAY_LIKE, CALLABLE, Interval, validate_params
from toolkit.data import Predictions
from toolkit.exceptions import NotApplicableError, ValidationError

__all__ = ["THRESHOLD_COLUMNS", "ThresholdAnalysis", "analyze_thresholds"]

#: Columns of :attr:`ThresholdAnalysis.table` (``cost`` and ``metric`` when given).
THRESHOLD_COLUMNS = [
    "threshold",
    "tp",
    "fp",
    "fn",
    "tn",
    "precision",
    "recall",
    "fpr",
    "f1",
    "accuracy",
]
#: Thresholds the table lists besides the default and the chosen one.
TABLE_GRID = np.round(np.arange(0.05, 1.0, 0.05), 2)
#: Points of each curve kept in the JSON (the result keeps them all).
JSON_CURVE_POINTS = 200


def _rates(
    tp: np.ndarray, fp: np.ndarray, n_pos: float, n_neg: float, counts: bool = True
) -> dict[str, np.ndarray]:
    """Counts and rates at each threshold; ``counts=False`` keeps weighted sums as floats."""
    tp, fp = np.asarray(tp, dtype=float), np.asarray(fp, dtype=float)
    fn, tn = n_pos - tp, n_neg - fp
    kind = np.int64 if counts else float
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), np.nan)
        recall = tp / n_pos if n_pos else np.full(tp.shape, np.nan)
        fpr = fp / n_neg if n_neg else np.full(tp.shape, np.nan)
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
    return {
        "tp": tp.astype(kind),
        "fp": fp.astype(kind),
        "fn": fn.astype(kind),
        "tn": tn.astype(kind),
        "precision": precision,
        "recall": recall,
        "fpr": fpr,
        "f1": f1,
        "accuracy": (tp + tn) / (n_pos + n_neg),
    }


@dataclass(frozen=True, repr=False, eq=False)
class ThresholdAnalysis(Result):
    """The result of :func:`analyze_thresholds`.

    Attributes
    ----------
    table : DataFrame
        Metrics at thresholds 0.05, 0.10, ..., 0.95, at 0.5 and at the chosen one:
        ``threshold``, ``tp``, ``fp``, ``fn``, ``tn``, ``precision``, ``recall``,
        ``fpr``, ``f1``, ``accuracy`` (and ``cost`` or ``metric`` when given),
        ascending; ``chosen`` marks the chosen threshold's row.
    positive_class : object
        ``classes[1]``.
    objective : str
        ``"cost"`` (minimised), the callable's name (maximised) or ``"f1"`` (maximised).
    threshold : float
        The chosen threshold.
    value, value_at_default : float
        The objective there and at the threshold 0.5.
    roc_auc, average_precision : float
        Areas under the ROC and precision-recall curves (scikit-learn's).
    roc, pr : DataFrame
        The curves: ``fpr``, ``tpr``, ``threshold``; ``precision``, ``recall``,
        ``threshold`` (scikit-learn's, without the points that do not change their
        shape; the JSON keeps at most 200 points of each).
    """

    positive_class: Any
    objective: str
    threshold: float
    value: float
    value_at_default: float
    roc_auc: float
    average_precision: float
    roc: pd.DataFrame
    pr: pd.DataFrame
    scores: np.ndarray
    positives: np.ndarray

    @property
    def meta(self) -> dict[str, Any]:
        names = (
            "positive_class",
            "objective",
            "threshold",
            "value",
            "value_at_default",
            "roc_auc",
            "average_precision",
        )
        return {k: json_safe(getattr(self, k)) for k in names}

    def at(self, threshold: float) -> dict[str, float]:
        """The metrics at any threshold (rows with score >= threshold are positive)."""
        if not 0.0 <= float(threshold) <= 1.0:
            raise ValidationError(f"threshold must be in [0, 1], got {threshold!r}")
        predicted = self.scores >= threshold
        tp = np.array([np.sum(predicted & self.positives)])
        fp = np.array([np.sum(predicted & ~self.positives)])
        rates = _rates(tp, fp, int(self.positives.sum()), int((~self.positives).sum()))
        return {"threshold": float(threshold), **{k: json_safe(v[0]) for k, v in rates.items()}}

    def to_dict(self) -> dict[str, Any]:
        return {
            **super().to_dict(),
            "roc": frame_records(_thin(self.roc)),
            "pr": frame_records(_thin(self.pr)),
        }


def _thin(curve: pd.DataFrame, points: int = JSON_CURVE_POINTS) -> pd.DataFrame:
    if len(curve) <= points:
        return curve
    keep = np.unique(np.linspace(0, len(curve) - 1, points).round().astype(int))
    return curve.iloc[keep].reset_index(drop=True)


def _cost_matrix(cost: Any) -> np.ndarray:
    matrix = np.asarray(cost, dtype=float) if not isinstance(cost, pd.DataFrame) else cost
    matrix = np.asarray(matrix, dtype=float)
    if matrix.shape != (2, 2) or not np.isfinite(matrix).all():
        raise ValidationError(
            "cost must be a finite 2 x 2 matrix, rows the true class and columns the "
            f"predicted one, in the order of classes; got shape {matrix.shape}"
        )
    return matrix


@validate_params(
    {
        "p": [Predictions],
        "cost": [ARRAY_LIKE, None],
        "metric": [CALLABLE, None],
        "n_grid": [Interval(Integral, 2, None)],
    }
)
def analyze_thresholds(
    p: Predictions,
    *,
    cost: Any = None,
    metric: Callable[[np.ndarray, np.ndarray], float] | None = None,
    n_grid: int = 200,
) -> ThresholdAnalysis:
    """ROC and PR curves of a binary classifier, the metrics at thresholds, and the best one.

    Parameters
    ----------
    p : Predictions
        A binary task with probabilities. With ``p.sample_weight``, counts (``tp``,
        ``fp``, ...), costs, rates and curves are weighted sums, and ``metric`` gets
        ``sample_weight=`` when it takes that keyword (scikit-learn's metrics do).
    cost : array-like of shape (2, 2), default=None
        ``cost[i][j]``: the cost of predicting class ``j`` for a row of class ``i`` (class
        order of ``p.classes``, as the confusion matrix). The chosen threshold minimises
        the total cost over every distinct score.
    metric : callable, default=None
        ``metric(y_true, y_pred) -> float`` to maximise (labels as in ``p``), evaluated at
        ``n_grid`` score quantiles. Give ``cost`` or ``metric``, not both; with neither,
        F1 of the positive class is maximised.
    n_grid : int, default=200
        Thresholds tried for ``metric``.

    Returns
    -------
    ThresholdAnalysis

    Examples
    --------
    >>> import toolkit as tk
    >>> p = tk.Predictions([0, 0, 1, 1], proba=[0.1, 0.4, 0.35, 0.8])
    >>> result = analyze_thresholds(p, cost=[[0, 1], [5, 0]])
    >>> result.threshold, result.value, result.at(0.5)["recall"]
    (0.35, 1.0, 0.5)
    """
    from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_curve

    if p.task != "binary" or p.proba is None:
        raise NotApplicableError(
            "thresholds need a binary task with probabilities; "
            + (f"this is a {p.task} task" if p.task != "binary" else "only labels were given")
        )
    if cost is not None and metric is not None:
        raise ValidationError("give cost or metric, not both")
    positives = p.y_true_codes() == 1
    w = p.sample_weight  # None: every row counts 1, and the counts are whole numbers
    if w is None:
        n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    else:
        n_pos, n_neg = float(w[positives].sum()), float(w[~positives].sum())
    if n_pos == 0 or n_neg == 0:
        raise NotApplicableError(
            "thresholds need rows of both classes in y_true"
            + ("" if w is None else " with a weight above 0")
        )
    scores = p.proba[:, 1]
    fpr, tpr, thresholds = roc_curve(positives, scores, drop_intermediate=False, sample_weight=w)
    # roc_curve's first threshold is +inf (nothing positive); keep thresholds in [0, 1]
    thresholds = np.minimum(thresholds, 1.0)
    tp, fp = tpr * n_pos, fpr * n_neg
    if w is None:
        tp, fp = np.rint(tp), np.rint(fp)
    all_rates = _rates(tp, fp, n_pos, n_neg, counts=w is None)
    if cost is not None:
        c = _cost_matrix(cost)
        values = (
            c[0, 0] * all_rates["tn"]
            + c[0, 1] * all_rates["fp"]
            + c[1, 0] * all_rates["fn"]
            + c[1, 1] * all_rates["tp"]
        )
        best = int(np.argmin(values))
        objective, value, chosen = "cost", float(values[best]), float(thresholds[best])
    elif metric is not None:
        grid = np.unique(np.concatenate([np.quantile(scores, np.linspace(0, 1, n_grid)), [0.5]]))
        values = np.array([_call(metric, p, scores >= t) for t in grid])
        best = int(np.nanargmax(values))
        objective = getattr(metric, "__name__", "metric")
        value, chosen = float(values[best]), float(grid[best])
    else:
        best = int(np.argmax(all_rates["f1"]))
        objective, value, chosen = "f1", float(all_rates["f1"][best]), float(thresholds[best])

    grid = np.unique(np.concatenate([TABLE_GRID, [0.5, chosen]]))
    predicted = scores[None, :] >= grid[:, None]
    weights = np.ones(p.n, dtype=np.int64) if w is None else w
    table = pd.DataFrame(
        {
            "threshold": grid,
            **_rates(
                (predicted & positives) @ weights,
                (predicted & ~positives) @ weights,
                n_pos,
                n_neg,
                counts=w is None,
            ),
        }
    )[THRESHOLD_COLUMNS]
    if cost is not None:
        c = _cost_matrix(cost)
        table["cost"] = (
            c[0, 0] * table["tn"]
            + c[0, 1] * table["fp"]
            + c[1, 0] * table["fn"]
            + c[1, 1] * table["tp"]
        ).astype(float)
        at_default = float(table.loc[table["threshold"] == 0.5, "cost"].iloc[0])
    elif metric is not None:
        table["metric"] = [_call(metric, p, scores >= t) for t in grid]
        at_default = float(table.loc[table["threshold"] == 0.5, "metric"].iloc[0])
    else:
        at_default = float(table.loc[table["threshold"] == 0.5, "f1"].iloc[0])
    table["chosen"] = table["threshold"] == chosen
    # the curves kept for plotting drop the points that do not change their shape
    precision, recall, pr_thresholds = precision_recall_curve(
        positives, scores, drop_intermediate=True, sample_weight=w
    )
    roc_fpr, roc_tpr, roc_thresholds = roc_curve(positives, scores, sample_weight=w)
    return ThresholdAnalysis(
        table,
        positive_class=p.classes[1],
        objective=objective,
        threshold=chosen,
        value=value,
        value_at_default=at_default,
        roc_auc=float(auc(fpr, tpr)),
        average_precision=float(average_precision_score(positives, scores, sample_weight=w)),
        roc=pd.DataFrame(
            {"fpr": roc_fpr, "tpr": roc_tpr, "threshold": np.minimum(roc_thresholds, 1.0)}
        ),
        pr=pd.DataFrame(
            {"precision": precision, "recall": recall, "threshold": np.append(pr_thresholds, 1.0)}
        ),
        scores=scores,
        positives=positives,
    )


def _takes_sample_weight(metric: Callable) -> bool:
    import inspect

    try:
        params = inspect.signature(metric).parameters
    except (TypeError, ValueError):  # a builtin without a signature
        return False
    return "sample_weight" in params or any(
        q.kind is inspect.Parameter.VAR_KEYWORD for q in params.values()
    )


def _call(metric: Callable, p: Predictions, predicted_positive: np.ndarray) -> float:
    y_pred = np.where(predicted_positive, p.classes[1], p.classes[0])
    weighted = {}
    if p.sample_weight is not None and _takes_sample_weight(metric):
        weighted["sample_weight"] = p.sample_weight
    try:
        value = float(metric(p.y_true, y_pred, **weighted))
    except Exception as exc:  # a user's function: say whose error it is
        raise ValidationError(
            f"metric {getattr(metric, '__name__', metric)!r} failed on (y_true, y_pred): "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    return value
