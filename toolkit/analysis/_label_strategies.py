"""The scores and orders behind the labeling queues (helpers of `toolkit.analysis.labeling`).

A strategy gives each pool row a score in [0, 1] (higher = label first) and a reason in
words. Scores are rounded to :data:`SCORE_DECIMALS` before ranking and ties go to the
smaller id, so the same inputs always give the same queue.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from toolkit._checks import id_rank
from toolkit._json import to_python
from toolkit.data import Predictions
from toolkit.exceptions import ColumnNotFoundError, ToolkitTypeError, ValidationError

__all__ = [
    "QUEUE_COLUMNS",
    "SCORE_DECIMALS",
    "UNCERTAINTY",
    "class_names",
    "hybrid_order",
    "margin",
    "neighbour_errors",
    "queue_frame",
    "representation",
    "threshold_margin",
    "top_k",
]

QUEUE_COLUMNS = ["id", "rank", "score", "reason"]
#: Scores are rounded to this many decimals before ranking, so float noise is not a tie-break.
SCORE_DECIMALS = 12

Scores = tuple[np.ndarray, list[str]]


def class_names(classes: np.ndarray) -> list[str]:
    """Each class as a reason shows it: ``'cat'``, ``3``."""
    return [repr(to_python(c)) for c in classes]


def _top_two(proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(-proba, axis=1, kind="stable")
    return order, np.take_along_axis(proba, order[:, :2], axis=1)


def margin(proba: np.ndarray, names: list[str]) -> Scores:
    """``1 - (p_top - p_second)``: rows near the boundary between two classes first."""
    order, top = _top_two(proba)
    gap = top[:, 0] - top[:, 1]
    reasons = [
        f"margin {m:.2f} between {names[a]} and {names[b]}"
        for m, a, b in zip(gap, order[:, 0], order[:, 1])
    ]
    return 1.0 - gap, reasons


def threshold_margin(proba: np.ndarray, names: list[str], threshold: float) -> Scores:
    """Binary: ``1 - |p_1 - t| / max(t, 1 - t)``, rows whose positive-class (second
    column) probability is nearest the decision threshold ``t`` first. The divisor keeps
    the score in [0, 1]; at ``t = 0.5`` it is the margin's score, ``1 - |p_1 - p_0|``."""
    positive = proba[:, 1]
    distance = np.abs(positive - threshold)
    score = 1.0 - distance / max(threshold, 1.0 - threshold)
    reasons = [
        f"p({names[1]}) = {p:.2f}, {d:.2f} from the threshold {threshold:.4g}"
        for p, d in zip(positive, distance)
    ]
    return score, reasons


def least_confidence(proba: np.ndarray, names: list[str]) -> Scores:
    """``1 - p_top``."""
    order, top = _top_two(proba)
    reasons = [
        f"top class {names[a]} has probability {p:.2f}" for a, p in zip(order[:, 0], top[:, 0])
    ]
    return 1.0 - top[:, 0], reasons


def entropy(proba: np.ndarray, names: list[str]) -> Scores:
    """Entropy over its maximum, ``log(n_classes)`` (``0 log 0 = 0``)."""
    order, top = _top_two(proba)
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.where(proba > 0, proba * np.log(proba), 0.0).sum(axis=1)
    score = ent / np.log(proba.shape[1])
    reasons = [
        f"entropy {s:.2f} of the maximum (top {names[a]} {p:.2f})"
        for s, a, p in zip(score, order[:, 0], top[:, 0])
    ]
    return score, reasons


#: The strategies that need only the pool's probabilities.
UNCERTAINTY: dict[str, Callable[[np.ndarray, list[str]], Scores]] = {
    "margin": margin,
    "least_confidence": least_confidence,
    "entropy": entropy,
}


def queue_frame(ids: np.ndarray, score: np.ndarray, reasons: list[str]) -> pd.DataFrame:
    """The queue table, rows already in rank order."""
    return pd.DataFrame(
        {
            "id": ids,
            "rank": np.arange(1, len(ids) + 1),
            "score": score.astype(float),
            "reason": pd.Series(reasons, dtype=object),
        }
    )


def top_k(ids: np.ndarray, score: np.ndarray, reasons: list[str], k: int) -> pd.DataFrame:
    """The ``k`` rows of highest score (ties: smaller id first)."""
    score = np.round(np.clip(score, 0.0, 1.0), SCORE_DECIMALS)
    picked = np.lexsort((id_rank(ids), -score))[:k]
    return queue_frame(ids[picked], score[picked], [reasons[i] for i in picked])


def hybrid_order(
    ids: np.ndarray,
    pool_x: np.ndarray,
    score: np.ndarray,
    reasons: list[str],
    *,
    n_clusters: int,
    k: int,
    random_state: Any,
) -> pd.DataFrame:
    """``k`` rows taken round-robin over KMeans clusters of ``pool_x``.

    The best row of every cluster (clusters in the order of their best row), then the
    second best of each, and so on; within a round, rows keep their score order.
    """
    from sklearn.cluster import KMeans

    cluster = KMeans(n_clusters=n_clusters, n_init=3, random_state=random_state).fit_predict(pool_x)
    reasons = [f"{r}; cluster {c + 1} of {n_clusters}" for r, c in zip(reasons, cluster)]
    score = np.round(np.clip(score, 0.0, 1.0), SCORE_DECIMALS)
    ranked = np.lexsort((id_rank(ids), -score))
    n = ids.shape[0]
    position_in_cluster = np.empty(n, dtype=np.int64)
    for c in range(n_clusters):
        members = ranked[cluster[ranked] == c]
        position_in_cluster[members] = np.arange(members.size)
    ranked_position = np.empty(n, dtype=np.int64)
    ranked_position[ranked] = np.arange(n)
    picked = np.lexsort((ranked_position, position_in_cluster))[:k]
    return queue_frame(ids[picked], score[picked], [reasons[i] for i in picked])


def representation(
    embeddings: np.ndarray | None, features: pd.DataFrame | None, labeled: Predictions
) -> tuple[np.ndarray, np.ndarray]:
    """The pool and labeled rows as two numeric matrices with the same columns.

    Embeddings when the pool has them; else the pool's numeric feature columns,
    standardised with the labeled rows' mean and spread.
    """
    if embeddings is not None:
        if labeled.embeddings is None:
            raise ValidationError(
                "the pool has embeddings but labeled has none; give both the same embeddings"
            )
        if labeled.embeddings.shape[1] != embeddings.shape[1]:
            raise ValidationError(
                f"the pool's embeddings have {embeddings.shape[1]} dimensions but "
                f"labeled's have {labeled.embeddings.shape[1]}"
            )
        return embeddings, labeled.embeddings
    if features is None:
        raise ValidationError(
            "error-neighbourhood strategies need embeddings or numeric features on the pool "
            "(and the same on labeled)"
        )
    lab = labeled.features
    if lab is None:
        raise ValidationError("the pool has features but labeled has none")
    missing = [c for c in features.columns if c not in lab.columns]
    if missing:
        raise ColumnNotFoundError(f"labeled has no feature column(s) {missing}")
    cols = list(features.columns)
    non_numeric = [
        c
        for c in cols
        if not pd.api.types.is_numeric_dtype(features[c])
        or not pd.api.types.is_numeric_dtype(lab[c])
    ]
    if non_numeric:
        raise ToolkitTypeError(
            f"neighbours are found on numeric features; {non_numeric} are not numeric "
            "(give embeddings instead)"
        )
    a = features[cols].to_numpy(dtype=float, na_value=np.nan)
    b = lab[cols].to_numpy(dtype=float, na_value=np.nan)
    if np.isnan(a).any() or np.isnan(b).any():
        raise ValidationError("features have missing values; neighbours need complete rows")
    mean, std = b.mean(axis=0), b.std(axis=0)
    std[std == 0] = 1.0
    return (a - mean) / std, (b - mean) / std


def neighbour_errors(
    pool_x: np.ndarray, labeled_x: np.ndarray, errors: np.ndarray, n_neighbors: int
) -> tuple[np.ndarray, int]:
    """Per pool row, how many of its ``m`` nearest labeled rows the model got wrong; ``m``."""
    from sklearn.neighbors import NearestNeighbors

    m = min(int(n_neighbors), labeled_x.shape[0])
    nn = NearestNeighbors(n_neighbors=m).fit(labeled_x)
    _, idx = nn.kneighbors(pool_x)
    return errors[idx].sum(axis=1).astype(np.int64), m
