"""Figures of the evaluation sections: reliability curves as the book draws them, calibration
before and after, ROC and PR curves, the learning curve.

Each function takes a result (or its table) and an optional ``ax``, returns the Axes and
never shows anything; :func:`toolkit.report.figures.to_svg` inlines and closes it.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from toolkit.report.figures import _pyplot

__all__ = [
    "calibration_fix_axes",
    "learning_curve_axes",
    "pr_axes",
    "reliability_axes",
    "roc_axes",
]

#: Classes drawn at most (one curve each) on a multiclass reliability diagram.
MAX_CLASSES = 10
#: Points drawn at most of a ROC or PR curve (the SVG stays small).
MAX_POINTS = 400


def _few(curve: pd.DataFrame) -> pd.DataFrame:
    """At most about MAX_POINTS rows of a curve, evenly spaced, both ends kept."""
    if len(curve) <= MAX_POINTS:
        return curve
    step = len(curve) // MAX_POINTS + 1
    return pd.concat([curve.iloc[::step], curve.iloc[[-1]]])


def _axes(ax: Any, size: tuple[float, float] = (4.2, 3.6)) -> Any:
    if ax is None:
        _, ax = _pyplot().subplots(figsize=size)
    return ax


def _diagonal(ax: Any) -> None:
    ax.plot([0, 1], [0, 1], linestyle="--", color="#888", linewidth=1, label="perfect")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)


def reliability_axes(reliability: pd.DataFrame, ax: Any = None, *, style: str = "-") -> Any:
    """Predicted score against the fraction of positives per bin, one curve per class
    (the positive class alone for two classes), the counts per bin as light bars."""
    ax = _axes(ax)
    _diagonal(ax)
    classes = list(dict.fromkeys(reliability["class"].tolist()))[:MAX_CLASSES]
    one = len(classes) == 1
    counts = reliability.groupby("bin", sort=True)["n"].sum() if one else None
    for cls in classes:
        rows = reliability[(reliability["class"] == cls) & (reliability["n"] > 0)]
        ax.plot(
            rows["mean_score"],
            rows["fraction_positive"],
            marker="o",
            markersize=3,
            linewidth=1.4,
            linestyle=style,
            label=f"class {cls}",
            color="#1f5fa8" if one else None,
        )
    if counts is not None:
        bins = reliability.drop_duplicates("bin").set_index("bin")
        share = counts / max(int(counts.sum()), 1)
        ax.bar(
            (bins["bin_low"] + bins["bin_high"]) / 2,
            share,
            width=bins["bin_high"] - bins["bin_low"],
            color="#1f5fa8",
            alpha=0.15,
            label="share of rows per bin",
        )
    ax.set_xlabel("predicted score" + (f" of class {classes[0]}" if one else " (one-vs-rest)"))
    ax.set_ylabel("fraction of positives")
    ax.legend(loc="upper left", fontsize=7, frameon=False)
    return ax


def calibration_fix_axes(check: Any, ax: Any = None) -> Any:
    """The test split's reliability curves before (dashed) and after (solid) calibration."""
    ax = _axes(ax)
    _diagonal(ax)
    for frame, style, when in (
        (check.reliability_before, "--", "before"),
        (check.reliability_after, "-", "after"),
    ):
        classes = list(dict.fromkeys(frame["class"].tolist()))[:MAX_CLASSES]
        for k, cls in enumerate(classes):
            rows = frame[(frame["class"] == cls) & (frame["n"] > 0)]
            ax.plot(
                rows["mean_score"],
                rows["fraction_positive"],
                linestyle=style,
                marker="o",
                markersize=3,
                color=f"C{k}",
                label=f"{when}" if len(classes) == 1 else f"class {cls}, {when}",
            )
    ax.set_xlabel("predicted score")
    ax.set_ylabel("fraction of positives")
    ax.legend(loc="upper left", fontsize=7, frameon=False)
    return ax


def roc_axes(result: Any, ax: Any = None) -> Any:
    """ROC curve with the chosen threshold marked."""
    ax = _axes(ax, (3.2, 2.8))
    ax.plot([0, 1], [0, 1], linestyle="--", color="#888", linewidth=1)
    roc = _few(result.roc)
    ax.plot(roc["fpr"], roc["tpr"], color="#1f5fa8", label=f"AUC {result.roc_auc:.3f}")
    chosen = result.at(result.threshold)
    ax.plot([chosen["fpr"]], [chosen["recall"]], "o", color="#b3261e", label="chosen threshold")
    ax.set_xlabel("false-positive rate")
    ax.set_ylabel("true-positive rate (recall)")
    ax.legend(loc="lower right", fontsize=7, frameon=False)
    ax.grid(alpha=0.3)
    return ax


def pr_axes(result: Any, ax: Any = None) -> Any:
    """Precision-recall curve with the chosen threshold marked."""
    ax = _axes(ax, (3.2, 2.8))
    pr = _few(result.pr)
    ax.plot(
        pr["recall"],
        pr["precision"],
        color="#1f5fa8",
        label=f"average precision {result.average_precision:.3f}",
    )
    chosen = result.at(result.threshold)
    ax.plot([chosen["recall"]], [chosen["precision"]], "o", color="#b3261e", label="chosen")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.legend(loc="lower left", fontsize=7, frameon=False)
    ax.grid(alpha=0.3)
    return ax


def learning_curve_axes(curve: Any, ax: Any = None) -> Any:
    """Held-out and training scores against training rows, ±1 sd over the folds."""
    ax = _axes(ax, (4.8, 3.6))
    t = curve.table
    for mean, std, label, color in (
        ("score_mean", "score_std", "held out", "#1f5fa8"),
        ("train_score_mean", "train_score_std", "training rows", "#888"),
    ):
        ax.plot(t["n_train"], t[mean], marker="o", markersize=3, color=color, label=label)
        ax.fill_between(t["n_train"], t[mean] - t[std], t[mean] + t[std], color=color, alpha=0.15)
    ax.set_xlabel("training rows")
    ax.set_ylabel(f"score ({curve.scoring})")
    ax.legend(loc="lower right", fontsize=7, frameon=False)
    ax.grid(alpha=0.3)
    return ax
