"""Training against held-out error (under- or overfitting) and error rate by period.

Used by :func:`toolkit.analysis.splits.check_splits` only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from toolkit.analysis._stats import wilson_interval, worse_than_rest_p_values
from toolkit.analysis.metrics import compute_metrics
from toolkit.data import Predictions
from toolkit.exceptions import ValidationError

__all__ = ["CAUSES", "UNDERFIT_SHARE", "fit_check", "newcombe_interval", "period_errors"]

#: The model underfits when, on its own training rows, it still makes this share of the
#: errors of always predicting the most frequent class (regression: the mean).
UNDERFIT_SHARE = 0.8

#: The usual causes of each verdict and what to try (Burkov, Machine Learning
#: Engineering, §6.3 and §6.6.1).
CAUSES = {
    "underfitting": [
        "the model is too simple for the data (try a more expressive model)",
        "the features do not carry enough information about the label (engineer or "
        "collect more informative features)",
        "regularization is too strong (relax it)",
        "training stopped too early (train longer)",
    ],
    "overfitting": [
        "the model is too complex for the amount of data (try a simpler model)",
        "too many features for the number of examples (select or reduce features)",
        "too little regularization (add or strengthen it: L1/L2, dropout, early stopping)",
        "too few training examples (get more data, or augment)",
        "the training rows are not representative of the held-out rows (check the shift below)",
    ],
    "test_better_than_train": [
        "information about the test labels reached training or features (leakage: check "
        "duplicates, groups and time below)",
        "the test rows are easier than the training rows (a shifted or too small split)",
        "the training metric was taken with regularization or augmentation on",
    ],
    "neither": [],
}


def newcombe_interval(
    errors_a: int, n_a: int, errors_b: int, n_b: int
) -> tuple[float, float, float]:
    """Difference of two independent proportions ``a - b`` with Newcombe's hybrid score
    95% interval (from the two Wilson intervals).

    >>> d, low, high = newcombe_interval(20, 100, 10, 100)
    >>> round(d, 2), round(low, 3), round(high, 3)
    (0.1, 0.0, 0.199)
    """
    (la, lb), (ua, ub) = wilson_interval(np.array([errors_a, errors_b]), np.array([n_a, n_b]))
    pa, pb = errors_a / n_a, errors_b / n_b
    d = pa - pb
    low = d - np.sqrt((pa - la) ** 2 + (ub - pb) ** 2)
    high = d + np.sqrt((ua - pa) ** 2 + (pb - lb) ** 2)
    return float(d), float(low), float(high)


def _errors(p: Predictions, tolerance: float | None) -> np.ndarray:
    if p.is_classification:
        return p.errors
    return np.abs(p.y_pred - p.y_true) > tolerance


def _zero_rule_errors(y_fit: np.ndarray, y: np.ndarray, classification: bool, tol: Any) -> int:
    """Errors on ``y`` of the zero rule learnt on ``y_fit`` (its most frequent class, or
    its mean)."""
    if classification:
        values, counts = np.unique(y_fit, return_counts=True)
        return int(np.sum(y != values[np.argmax(counts)]))
    return int(np.sum(np.abs(y - float(np.mean(y_fit))) > tol))


def fit_check(
    train: Predictions, test: Predictions, *, max_gap_pp: float, random_state: int
) -> dict[str, Any]:
    """Training and held-out error side by side, the zero rule beside them, and a verdict.

    Returns ``table`` (one row per split: ``split``, ``n``, ``errors``, ``error_rate``,
    ``ci_low``, ``ci_high``, ``zero_rule_error_rate`` and the task's metrics),
    ``verdict``, ``gap_pp`` (held-out minus training error rate, in points) with its
    Newcombe interval, ``train_share_of_zero_rule`` and the ``causes`` in words.
    """
    if train.task != test.task:
        raise ValidationError(
            f"reference is a {train.task} task but p is {test.task}; fit compares one task"
        )
    classification = test.is_classification
    tol = None if classification else test.tolerance
    rows = []
    counts = {}
    for name, p in (("train", train), ("test", test)):
        errors = _errors(p, tol)
        zero = _zero_rule_errors(train.y_true, p.y_true, classification, tol)
        low, high = wilson_interval(np.array([errors.sum()]), np.array([p.n]))
        overall = compute_metrics(p, random_state=random_state).overall
        overall.pop("error_rate", None)
        rows.append(
            {
                "split": name,
                "n": p.n,
                "errors": int(errors.sum()),
                "error_rate": float(errors.mean()),
                "ci_low": float(low[0]),
                "ci_high": float(high[0]),
                "zero_rule_errors": zero,
                "zero_rule_error_rate": zero / p.n,
                **overall,
            }
        )
        counts[name] = (int(errors.sum()), p.n, zero)
    (e_tr, n_tr, z_tr), (e_te, n_te, _) = counts["train"], counts["test"]
    gap, gap_low, gap_high = newcombe_interval(e_te, n_te, e_tr, n_tr)
    share = e_tr / z_tr if z_tr else (0.0 if e_tr == 0 else float("inf"))
    if share >= UNDERFIT_SHARE:
        verdict = "underfitting"
    elif 100 * gap_low > max_gap_pp:
        verdict = "overfitting"
    elif 100 * gap_high < -max_gap_pp:
        verdict = "test_better_than_train"
    else:
        verdict = "neither"
    return {
        "table": pd.DataFrame(rows),
        "verdict": verdict,
        "gap_pp": 100 * gap,
        "gap_ci_low_pp": 100 * gap_low,
        "gap_ci_high_pp": 100 * gap_high,
        "train_share_of_zero_rule": float(share),
        "max_gap_pp": float(max_gap_pp),
        "causes": list(CAUSES[verdict]),
    }


def _periods(values: pd.Series, n_periods: int) -> tuple[pd.Series, str]:
    """Each row's period (ordered), and how periods were made."""
    if not (
        pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values)
    ) or pd.api.types.is_bool_dtype(values):
        parsed = pd.to_datetime(values, errors="coerce", format="mixed")
        bad = parsed.isna() & values.notna()
        if bad.any():
            raise ValidationError(
                f"time column must hold numbers or dates, but {int(bad.sum())} value(s) are "
                f"neither, e.g. {values[bad].iloc[0]!r}"
            )
        values = parsed
    distinct = values.dropna().unique()
    if len(distinct) <= n_periods:
        return values, "one period per value"
    return pd.qcut(values, n_periods, duplicates="drop"), f"{n_periods} periods of equal size"


def period_errors(p: Predictions, column: str, n_periods: int) -> dict[str, Any]:
    """Error rate by period of ``column`` with Wilson intervals, and the newest period
    against the oldest: difference (points), Newcombe interval, two-sided p-value."""
    values = p.features[column]
    periods, how = _periods(values, n_periods)
    frame = pd.DataFrame({"period": periods, "time": values, "error": p.errors.astype(int)}).dropna(
        subset=["period"]
    )
    grouped = frame.groupby("period", observed=True, sort=True)
    table = pd.DataFrame(
        {
            "start": grouped["time"].min(),
            "end": grouped["time"].max(),
            "n": grouped["error"].size(),
            "errors": grouped["error"].sum(),
        }
    ).reset_index()
    table["period"] = table["period"].astype(str)
    table["error_rate"] = table["errors"] / table["n"]
    low, high = wilson_interval(table["errors"].to_numpy(), table["n"].to_numpy())
    table["ci_low"], table["ci_high"] = low, high
    out: dict[str, Any] = {"column": column, "periods": how, "table": table}
    if len(table) < 2:
        out.update(newest_minus_oldest_pp=None, ci_low_pp=None, ci_high_pp=None, p_value=None)
        return out
    old, new = table.iloc[0], table.iloc[-1]
    e_new, n_new, e_old, n_old = (int(v) for v in (new.errors, new.n, old.errors, old.n))
    diff, d_low, d_high = newcombe_interval(e_new, n_new, e_old, n_old)
    total_e, total_n = e_new + e_old, n_new + n_old
    # two-sided: twice the smaller one-sided p-value (z test, or Fisher's when small)
    greater = worse_than_rest_p_values(np.array([e_new]), np.array([n_new]), total_e, total_n)
    less = worse_than_rest_p_values(np.array([e_old]), np.array([n_old]), total_e, total_n)
    out.update(
        newest_minus_oldest_pp=100 * diff,
        ci_low_pp=100 * d_low,
        ci_high_pp=100 * d_high,
        p_value=float(min(1.0, 2 * min(greater[0], less[0]))),
    )
    return out
