"""Figures of the report: functions of a result that return an Axes (and inline helpers).

matplotlib is imported here and in nowhere else but the report package.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "CLASS_LEGEND_TITLE",
    "CORRECT_LABEL",
    "ERROR_LABEL",
    "calibration_axes",
    "error_map_axes",
    "to_png_data_uri",
    "to_svg",
]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def calibration_axes(calibration: Any, ax: Any = None) -> Any:
    """Reliability diagram: accuracy against mean confidence per bin, bar width = bin."""
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 3.6))
    bins = calibration.bins
    filled = bins[bins["n"] > 0]
    ax.plot([0, 1], [0, 1], linestyle="--", color="#888", linewidth=1, label="perfect")
    ax.plot(
        filled["mean_confidence"],
        filled["accuracy"],
        marker="o",
        color="#1f5fa8",
        linewidth=1.5,
        label=f"model (ECE {calibration.ece:.3f})",
    )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("confidence of the predicted class")
    ax.set_ylabel("accuracy")
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    ax.grid(alpha=0.3)
    return ax


#: Legend title of the colours of the error map: the class is the true one.
CLASS_LEGEND_TITLE = "colour: true class"
#: Legend entries of the error map's markers.
CORRECT_LABEL = "circle: correct prediction"
ERROR_LABEL = "hollow square: error"


def error_map_axes(
    coords: np.ndarray,
    classes: np.ndarray,
    errors: np.ndarray,
    clusters: np.ndarray | None = None,
    ax: Any = None,
    max_points: int = 20000,
    random_state: int = 0,
    max_outlined: int = 10,
    outlined: Sequence[int] | None = None,
) -> Any:
    """The 2-D error map: filled circles for correct predictions, hollow squares (drawn
    over them, so the circles stay visible) for errors, one colour per true class; the
    clusters in ``outlined`` (default: the first ``max_outlined`` cluster numbers) are
    outlined around their core and numbered at their medoid, above every marker.

    Each marker set is a PathCollection whose gid is ``"correct:<class>"`` or
    ``"error:<class>"``. Two legends: the colours (title :data:`CLASS_LEGEND_TITLE`,
    ``ax.get_legend()``) and the markers (:data:`CORRECT_LABEL`, :data:`ERROR_LABEL`).
    Above ``max_points`` rows every error is drawn and the correct rows are sampled."""
    from matplotlib import patheffects
    from matplotlib.lines import Line2D

    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(8.0, 6.4))
    n = coords.shape[0]
    keep = np.arange(n)
    if n > max_points:  # keep every error, sample the correct rows
        rng = np.random.default_rng(random_state)
        correct = np.flatnonzero(~errors)
        take = min(max(max_points - int(errors.sum()), 0), correct.size)
        keep = np.sort(
            np.concatenate([np.flatnonzero(errors), rng.choice(correct, take, replace=False)])
        )
    labels = np.asarray(classes)[keep].astype(str)
    uniq = sorted(set(labels.tolist()))
    cmap = plt.get_cmap("tab10" if len(uniq) <= 10 else "tab20")
    colours = {label: cmap(k % cmap.N) for k, label in enumerate(uniq)}
    for label in uniq:  # every circle first, then every square over them
        rows = keep[labels == label]
        ok = rows[~errors[rows]]
        ax.scatter(
            *coords[ok].T, s=7, marker="o", color=colours[label], alpha=0.5, linewidths=0
        ).set_gid(f"correct:{label}")
    for label in uniq:
        rows = keep[labels == label]
        bad = rows[errors[rows]]
        ax.scatter(
            *coords[bad].T,
            s=16,
            marker="s",
            facecolors="none",
            edgecolors=[colours[label]],
            alpha=0.9,
            linewidths=0.7,
        ).set_gid(f"error:{label}")
    if clusters is not None:
        present = set(clusters.tolist()) - {-1}
        chosen = sorted(present)[:max_outlined] if outlined is None else list(outlined)
        halo = [patheffects.withStroke(linewidth=3.2, foreground="white")]
        for c in [c for c in chosen if c in present]:
            centre = _outline(ax, coords[clusters == c], halo)
            ax.annotate(
                str(c),
                centre,
                fontsize=9,
                weight="bold",
                ha="center",
                va="center",
                zorder=6,
                bbox={"boxstyle": "circle", "fc": "white", "ec": "black", "lw": 0.8},
            )
    ax.set_xticks([])
    ax.set_yticks([])
    grey = "#555555"
    markers = ax.legend(
        handles=[
            Line2D([], [], marker="o", linestyle="", color=grey, markersize=4),
            Line2D([], [], marker="s", linestyle="", markerfacecolor="none", color=grey),
        ],
        labels=[CORRECT_LABEL, ERROR_LABEL],
        fontsize=7,
        loc="lower left",
        frameon=True,
        framealpha=0.8,
    )
    ax.add_artist(markers)
    ax.legend(
        handles=[
            Line2D([], [], marker="o", linestyle="", color=colours[label], markersize=5)
            for label in uniq
        ],
        labels=[label.replace("$", r"\$") for label in uniq],  # "$" starts math text
        title=CLASS_LEGEND_TITLE,
        fontsize=7,
        title_fontsize=8,
        loc="upper left",
        frameon=True,
        framealpha=0.8,
    )
    return ax


def _outline(ax: Any, points: np.ndarray, effects: list[Any]) -> np.ndarray:
    """Outline a cluster's core and return its medoid (where its number goes).

    A cluster found in the higher-dimensional reduction can fall apart on the 2-D map,
    so the hull is drawn around the 80% of its points nearest its medoid (a real point,
    unlike a mean that may sit between two parts), not around all of them.
    """
    from scipy.spatial import ConvexHull, QhullError

    sample = points if len(points) <= 500 else points[:: len(points) // 500 + 1]
    total = np.linalg.norm(sample[:, None, :] - sample[None, :, :], axis=2).sum(axis=1)
    medoid = sample[int(np.argmin(total))]
    dist = np.linalg.norm(points - medoid, axis=1)
    core = points[dist <= np.quantile(dist, 0.8)] if len(points) >= 10 else points
    if len(core) >= 3:
        try:
            hull = ConvexHull(core)
        except QhullError:  # collinear points: no area to outline
            return medoid
        ring = core[np.append(hull.vertices, hull.vertices[0])]
        ax.plot(
            ring[:, 0], ring[:, 1], color="black", linewidth=1.4, zorder=5, path_effects=effects
        )
    return medoid


def to_svg(ax: Any) -> str:
    """The figure of ``ax`` as inline SVG text (text kept as text, so it stays small);
    the figure is closed."""
    plt = _pyplot()
    fig = ax.figure
    buffer = io.StringIO()
    with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": "toolkit"}):
        fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def to_png_data_uri(ax: Any, dpi: int = 110) -> str:
    """The figure of ``ax`` as a base64 PNG data URI; the figure is closed."""
    plt = _pyplot()
    fig = ax.figure
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
