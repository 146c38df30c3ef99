"""Metrics of a chain's outputs, split for a fast paired bootstrap.

A metric is split in ``prepare(y, p) -> state``, run once per prediction vector, and
``boot(state, idx) -> values``, run on a block of bootstrap replicates (``idx`` has one
row of resampled row positions per replicate), so that nothing per row is redone per
replicate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from toolkit.exceptions import (
    InvalidValueError,
    ToolkitError,
    ToolkitTypeError,
    ValidationError,
)

__all__ = [
    "CHAIN_METRICS",
    "Metric",
    "as_rows",
    "bootstrap",
    "percentile_interval",
    "resolve_metric",
    "row_equal",
]

#: Bootstrap index cells drawn at once (replicates x rows), to bound memory.
_BOOT_CELLS = 2_000_000


def as_rows(value: Any) -> np.ndarray:
    """A numpy array with rows first; text becomes object so values are never truncated."""
    if isinstance(value, pd.DataFrame | pd.Series | pd.Index):
        arr = value.to_numpy()
    elif isinstance(value, pd.api.extensions.ExtensionArray):
        arr = value.to_numpy()
    else:
        arr = np.asarray(value)
    if arr.dtype.kind in "US":
        arr = arr.astype(object)
    return arr


def row_equal(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per row: all entries equal (NaN never equals anything)."""
    eq = np.asarray(a == b, dtype=bool)
    if eq.ndim > 1:
        eq = eq.reshape(eq.shape[0], -1).all(axis=1)
    return eq


def _row_mean(values: np.ndarray) -> np.ndarray:
    return values.reshape(values.shape[0], -1).mean(axis=1) if values.ndim > 1 else values


_Boot = Callable[[Any, np.ndarray], np.ndarray]


def _mean_of(rows: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return rows[idx].mean(axis=1)


def _numeric(y: np.ndarray, p: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        return np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ToolkitTypeError(f"metric {name!r} needs numbers: {exc}") from None


def _abs_error(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    yf, pf = _numeric(y, p, "mae")
    return _row_mean(np.abs(yf - pf))


def _sq_error(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    yf, pf = _numeric(y, p, "mse")
    return _row_mean((yf - pf) ** 2)


def _r2_prepare(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    yf, pf = _numeric(y, p, "r2")
    if yf.ndim > 1:
        raise ValidationError(f"metric 'r2' needs one output per row, got shape {yf.shape}")
    return yf, (yf - pf) ** 2


def _r2_boot(state: tuple[np.ndarray, np.ndarray], idx: np.ndarray) -> np.ndarray:
    yf, sq = state
    yy = yf[idx]
    res = sq[idx].sum(axis=1)
    tot = ((yy - yy.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tot > 0, 1.0 - res / tot, np.nan)


def _label_codes(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    if y.ndim > 1 or p.ndim > 1:
        raise ValidationError(f"this metric needs one label per row, got shape {p.shape}")
    n = y.shape[0]
    codes, uniques = pd.factorize(
        np.concatenate([y.astype(object), p.astype(object)]), use_na_sentinel=False
    )
    return codes[:n], codes[n:], len(uniques)


def _class_counts(
    state: tuple[np.ndarray, np.ndarray, int], idx: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per replicate and class: true positives, true count, predicted count.

    Three bincounts of (replicates x classes) cells, never a classes x classes matrix,
    so many classes cost no more memory than a few.
    """
    t, q, k = state
    c = idx.shape[0]
    offsets = (np.arange(c) * k)[:, None]
    tt = (t[idx] + offsets).ravel()
    hit = (t == q)[idx].ravel().astype(float)
    tp = np.bincount(tt, weights=hit, minlength=c * k).reshape(c, k)
    true_n = np.bincount(tt, minlength=c * k).reshape(c, k).astype(float)
    pred_n = np.bincount((q[idx] + offsets).ravel(), minlength=c * k).reshape(c, k)
    return tp, true_n, pred_n.astype(float)


def _f1_macro_boot(state: tuple[np.ndarray, np.ndarray, int], idx: np.ndarray) -> np.ndarray:
    tp, true_n, pred_n = _class_counts(state, idx)
    # scikit-learn's default labels: every class seen in y_true or y_pred
    present = (true_n + pred_n) > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(present, 2 * tp / (true_n + pred_n), 0.0)
    return f1.sum(axis=1) / present.sum(axis=1)


def _balanced_accuracy_boot(
    state: tuple[np.ndarray, np.ndarray, int], idx: np.ndarray
) -> np.ndarray:
    tp, true_n, _ = _class_counts(state, idx)
    present = true_n > 0  # scikit-learn: mean recall over the classes of y_true
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(present, tp / true_n, 0.0)
    return recall.sum(axis=1) / present.sum(axis=1)


@dataclass(frozen=True)
class Metric:
    """A named metric, its direction and its prepare/boot halves."""

    name: str
    greater_is_better: bool
    prepare: Callable[[np.ndarray, np.ndarray], Any]
    boot: _Boot

    def values(self, state: Any, idx: np.ndarray) -> np.ndarray:
        """The metric on every bootstrap replicate (one row of ``idx`` each)."""
        return self.boot(state, idx)

    def score(self, y: np.ndarray, p: np.ndarray) -> float:
        if y.shape[0] == 0:
            return float("nan")
        return float(self.boot(self.prepare(y, p), np.arange(y.shape[0])[None, :])[0])


def _rows(rowfn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Callable[..., np.ndarray]:
    return lambda y, p: np.asarray(rowfn(y, p), dtype=float)


def _rmse_boot(rows: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return np.sqrt(_mean_of(rows, idx))


#: Metrics known by name and whether larger is better.
CHAIN_METRICS: dict[str, Metric] = {
    "accuracy": Metric("accuracy", True, _rows(row_equal), _mean_of),
    "error_rate": Metric("error_rate", False, _rows(lambda y, p: ~row_equal(y, p)), _mean_of),
    "balanced_accuracy": Metric("balanced_accuracy", True, _label_codes, _balanced_accuracy_boot),
    "f1_macro": Metric("f1_macro", True, _label_codes, _f1_macro_boot),
    "mae": Metric("mae", False, _abs_error, _mean_of),
    "mse": Metric("mse", False, _sq_error, _mean_of),
    "rmse": Metric("rmse", False, _sq_error, _rmse_boot),
    "r2": Metric("r2", True, _r2_prepare, _r2_boot),
}


def _callable_metric(fn: Callable[[Any, Any], float], greater_is_better: bool) -> Metric:
    label = getattr(fn, "__name__", None) or type(fn).__name__

    def boot(state: tuple[np.ndarray, np.ndarray], idx: np.ndarray) -> np.ndarray:
        y, p = state
        out = np.empty(idx.shape[0])
        for b, rows in enumerate(idx):
            try:
                out[b] = float(fn(y[rows], p[rows]))
            except ToolkitError:
                raise
            except Exception as exc:
                raise ValidationError(
                    f"metric {label!r} raised {type(exc).__name__}: {exc}"
                ) from exc
        return out

    return Metric(label, greater_is_better, lambda y, p: (y, p), boot)


def resolve_metric(metric: Any, greater_is_better: bool | None, what: str) -> Metric:
    """The :class:`Metric` of a name in :data:`CHAIN_METRICS` or of a callable."""
    if isinstance(metric, str):
        known = CHAIN_METRICS.get(metric)
        if known is None:
            raise InvalidValueError(
                f"unknown {what} {metric!r}; use a callable metric(y_true, y_pred) or one of "
                f"{sorted(CHAIN_METRICS)}"
            )
        if greater_is_better is not None and greater_is_better != known.greater_is_better:
            raise InvalidValueError(
                f"{what} {metric!r} is {'higher' if known.greater_is_better else 'lower'}"
                f"-is-better; greater_is_better={greater_is_better} contradicts it"
            )
        return known
    if callable(metric):
        return _callable_metric(metric, True if greater_is_better is None else greater_is_better)
    raise ToolkitTypeError(
        f"{what} must be a metric name or a callable metric(y_true, y_pred), "
        f"got {type(metric).__name__}"
    )


def bootstrap(
    metric: Metric,
    y: np.ndarray,
    preds: list[np.ndarray],
    n_boot: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Metric of every prediction vector on ``n_boot`` shared resamples of the rows."""
    n = y.shape[0]
    out = np.full((n_boot, len(preds)), np.nan)
    if n == 0 or n_boot == 0:
        return out
    states = [metric.prepare(y, pred) for pred in preds]
    chunk = max(1, min(n_boot, _BOOT_CELLS // n))
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        idx = rng.integers(0, n, size=(stop - start, n))
        for k, state in enumerate(states):
            out[start:stop, k] = metric.values(state, idx)
    return out


def percentile_interval(values: np.ndarray) -> tuple[float, float]:
    """The 95% percentile interval of the finite values (NaN, NaN when there are none)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return float("nan"), float("nan")
    low, high = np.percentile(finite, [2.5, 97.5])
    return float(low), float(high)
