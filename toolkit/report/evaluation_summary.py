"""First-screen sentences of the evaluation sections: the gap to each reference and where it
is largest, the chosen threshold, the calibration fix, the learning curve."""

from __future__ import annotations

import math
from typing import Any

__all__ = [
    "MIN_SLICE_ROWS",
    "calibration_fix_sentence",
    "learning_curve_sentence",
    "reference_sentences",
    "thresholds_sentence",
]

#: A slice needs this many rows a reference covers to be named as its largest gap.
MIN_SLICE_ROWS = 30


def _interval(low: float, high: float) -> str:
    return f"95% CI {low:+.1f} to {high:+.1f}"


def reference_sentences(d: Any) -> list[str]:
    """Per reference: the error-rate gap on the rows it covers, and the slice where the
    model is furthest behind it."""
    m = d.metrics
    if m is None or m.references is None:
        return []
    out = []
    gaps = None
    if d.slices is not None and d.slices.references:
        gaps = d.slices.reference_gaps(min_size=MIN_SLICE_ROWS)
    rows = m.references[m.references["metric"] == "error_rate"]
    for row in rows.itertuples():
        low, high = 100 * row.ci_low, 100 * row.ci_high
        if low > 0:
            verdict = f"{row.reference} is ahead"
        elif high < 0:
            verdict = "the model is ahead"
        else:
            verdict = "no clear difference"
        text = (
            f"Against {row.reference} ({row.n:,} rows both cover): error rate "
            f"{row.model:.1%} for the model, {row.reference_value:.1%} for {row.reference}; "
            f"gap {100 * row.gap:+.1f} points ({_interval(low, high)}): {verdict}."
        )
        if gaps is not None:
            mine = gaps[gaps["reference"] == row.reference]
            if len(mine):
                top = mine.iloc[0]
                text += (
                    f" The gap is largest in {top['slice']}: {top['gap_pp']:+.1f} points "
                    f"({_interval(top['ci_low'], top['ci_high'])}, {int(top['n']):,} rows), "
                    f"where {row.reference} is furthest ahead."
                )
        out.append(text)
    return out


def thresholds_sentence(d: Any) -> str | None:
    t = d.results.get("thresholds")
    if t is None:
        return None
    goal = {"cost": "the least cost", "f1": "the best F1"}.get(
        t.objective, f"the best {t.objective}"
    )
    return (
        f"The threshold of {goal} is {t.threshold:.3f}: {t.objective} {t.value:.4g} there "
        f"against {t.value_at_default:.4g} at 0.5 (ROC AUC {t.roc_auc:.3f}, average "
        f"precision {t.average_precision:.3f})."
    )


def calibration_fix_sentence(d: Any) -> str | None:
    check = d.results.get("calibration_fix")
    if check is None:
        return None
    table = check.table.set_index("metric")
    ece = table.loc["ece"]
    others = (
        f"Brier {table.loc['brier', 'before']:.4f} to {table.loc['brier', 'after']:.4f}, "
        f"log loss {table.loc['log_loss', 'before']:.4f} to {table.loc['log_loss', 'after']:.4f}"
    )
    head = f"Calibration ({check.method}), fitted on {check.n_calibration:,} other rows,"
    if ece["after"] < ece["before"]:
        return (
            f"{head} lowers the ECE on these {check.n_test:,} rows from {ece['before']:.3f} "
            f"to {ece['after']:.3f} ({others})."
        )
    return (
        f"{head} does not lower the ECE on these {check.n_test:,} rows ({ece['before']:.3f} "
        f"before, {ece['after']:.3f} after; {others}): keep the probabilities as they are."
    )


def learning_curve_sentence(d: Any) -> str | None:
    curve = d.results.get("learning_curve")
    if curve is None or len(curve.table) < 2 or math.isnan(curve.last_gain_ci_low):
        return None
    last = curve.table.iloc[-1]
    step = (
        f"the last step to {int(last['n_train']):,} training rows changed the held-out "
        f"score by {curve.last_gain:+.4f} (95% CI {curve.last_gain_ci_low:+.4f} to "
        f"{curve.last_gain_ci_high:+.4f} over {curve.cv} folds)"
    )
    if curve.still_rising:
        return f"The learning curve is still rising: {step}; more data of this kind should help."
    return (
        f"The learning curve has flattened: {step}; more data of this kind is unlikely to "
        "help much."
    )
