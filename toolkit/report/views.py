"""What a section shows beyond its tables: figures, bars, notes (the report layer's part).

:data:`VIEWS` maps a section name to a function of (result, diagnosis) that returns the
extra template context of that section's own template (``sections/<name>.html.j2``).
A section with tables only needs neither.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from toolkit.report.cells import fmt
from toolkit.report.evaluation_views import (
    calibration_fix_view,
    learning_curve_view,
    reliability_view,
    thresholds_view,
)
from toolkit.report.thumbnails import (
    CLUSTERS_WITH_THUMBNAILS,
    PER_CLUSTER,
    PER_PLACE,
    ImageRows,
)

__all__ = ["VIEWS"]


def _metrics(m: Any, d: Any) -> dict[str, Any]:
    from toolkit.report.figures import calibration_axes, to_svg

    calibration = None if m.calibration is None else to_svg(calibration_axes(m.calibration))
    return {
        "confusion": _confusion(m),
        "calibration": calibration,
        "reliability": reliability_view(m),
        "notes": {str(k): str(v) for k, v in m.notes.items()},
    }


def _confusion(m: Any) -> dict[str, Any] | None:
    if m.confusion is None or len(m.confusion) > 30:
        return None
    matrix = m.confusion.to_numpy()
    peak = max(int(matrix.max()), 1)
    return {
        "labels": [str(c) for c in m.confusion.index],
        "rows": [
            [
                {"count": f"{int(v):,}", "alpha": round(0.85 * int(v) / peak, 3), "diag": i == j}
                for j, v in enumerate(row)
            ]
            for i, row in enumerate(matrix)
        ],
    }


def _patterns(result: Any, d: Any, limit: int = 20) -> dict[str, Any]:
    """Bars in rank order: the excess points (dark) within the gain (light, the upper
    bound if every error in the pattern were fixed)."""
    patterns = result.table
    limits = [str(text) for text in getattr(result, "limits", ())]
    if not len(patterns) or "excess_pp" not in patterns:
        return {"bars": [], "limits": limits}
    top = patterns.head(limit)
    scale = max(float(top["gain_pp"].max()), 1e-9)
    bars = [
        {
            "pattern": str(row["pattern"]),
            "excess": f"{row['excess_pp']:.2f}",
            "gain": f"{row['gain_pp']:.2f}",
            "width": round(100 * max(float(row["excess_pp"]), 0.0) / scale, 2),
            "gain_width": round(100 * float(row["gain_pp"]) / scale, 2),
        }
        for _, row in top.iterrows()
    ]
    return {"bars": bars, "limits": limits}


#: Clusters outlined and numbered on the error map (the first significant ones).
MAX_OUTLINED = 10


def _clusters(clusters: Any, d: Any) -> dict[str, Any]:
    from toolkit.report.figures import error_map_axes, to_png_data_uri

    points = clusters.figure_data()
    # regression has no class: colour the map by one group
    classes = (
        points["class"] if points["class"].notna().any() else pd.Series("rows", index=points.index)
    )
    table = clusters.table
    worse = table.loc[table["significant"].astype(bool), "cluster"].head(MAX_OUTLINED)
    figure = to_png_data_uri(
        error_map_axes(
            points[["x", "y"]].to_numpy(dtype=float),
            classes.astype(str).to_numpy(),
            points["error"].to_numpy(dtype=bool),
            points["cluster"].to_numpy(dtype=np.int64),
            outlined=[int(c) for c in worse],
        )
    )
    dropped = clusters.params.get("dropped_features") or {}
    extra = _cluster_thumbnails(table[table["significant"].astype(bool)], d)
    return {
        **extra,
        "error_map": figure,
        "outlined": len(worse),
        "not_worse": int((~table["significant"].astype(bool)).sum()),
        "dropped": [f"{name}: {reason}" for name, reason in dropped.items()],
        "noise": f"{clusters.n_noise:,} rows in no cluster ({clusters.noise_errors:,} errors)",
        "representation": str(clusters.params.get("representation", "")),
    }


def _label_issues(issues: Any, d: Any) -> dict[str, Any]:
    flagged = issues.table[issues.table["is_issue"].astype(bool)]
    out: dict[str, Any] = {"n_issues": len(flagged)}
    found = _image_rows(d, "rows")
    if found is not None:
        items = (
            (id, f"given {fmt(given, 'text')}, suggested {fmt(suggested, 'text')}")
            for id, given, suggested in zip(
                flagged["id"], flagged["given_label"], flagged["suggested_label"], strict=True
            )
        )
        out["thumbs"] = found[1].thumbnails(items, PER_PLACE)
    return out


# ------------------------------------------------------------------------- thumbnails
def _image_rows(d: Any, name: str) -> tuple[Any, ImageRows] | None:
    """The Predictions ``name`` ("rows" or "pool") whose images the report shows, and
    its images by id; None when it has none (the page then has no thumbnails)."""
    extras = getattr(d, "extras", None) or {}  # a view may be drawn without a Diagnosis
    p = extras.get("images", {}).get(name)
    return None if p is None else (p, ImageRows(p.ids, p.images))


def _cluster_thumbnails(listed: pd.DataFrame, d: Any) -> dict[str, Any]:
    """Per listed cluster (the first ones), its errors nearest the centre."""
    found = _image_rows(d, "rows")
    if found is None or not len(listed):
        return {}
    p, rows = found
    column = "error_examples" if "error_examples" in listed.columns else "examples"

    def caption(id: Any) -> str:
        row = rows.row(id)
        if row is None:
            return ""
        return f"label {fmt(p.y_true[row], 'text')}, predicted {fmt(p.y_pred[row], 'text')}"

    groups = []
    for cluster, ids in zip(
        listed["cluster"].head(CLUSTERS_WITH_THUMBNAILS),
        listed[column].head(CLUSTERS_WITH_THUMBNAILS),
        strict=True,
    ):
        ids = list(ids) if isinstance(ids, list | tuple | np.ndarray) else []
        thumbs = rows.thumbnails(((id, caption(id)) for id in ids), PER_CLUSTER)
        if thumbs:
            groups.append({"cluster": fmt(cluster, "text"), "thumbs": thumbs})
    return {"cluster_thumbs": groups} if groups else {}


def _labeling_queue(queue: Any, d: Any) -> dict[str, Any]:
    """The first rows of the queue as images, when the pool was given with images."""
    found = _image_rows(d, "pool")
    if found is None:
        return {}
    pool, rows = found

    def caption(id: Any, rank: Any) -> str:
        row = rows.row(id)
        guess = "" if row is None else f", predicted {fmt(pool.y_pred[row], 'text')}"
        return f"rank {fmt(rank, 'text')}{guess}"

    table = queue.table
    items = ((id, caption(id, rank)) for id, rank in zip(table["id"], table["rank"], strict=True))
    return {"thumbs": rows.thumbnails(items, PER_PLACE)}


def _chain(chain: Any, d: Any) -> dict[str, Any]:
    return {"note": _chain_note(chain.summary()), "shapley": _shapley_bars(chain.table)}


def _shapley_bars(chain: pd.DataFrame) -> list[dict[str, Any]]:
    if "shapley_pp" not in chain.columns:
        return []
    single = chain[chain["kind"] == "single"].dropna(subset=["shapley_pp"])
    if not len(single):
        return []
    scale = max(float(single["shapley_pp"].abs().max()), 1e-9)
    return [
        {
            "stage": str(row["stage"]),
            "value": f"{row['shapley_pp']:+.2f}",
            "share": fmt(row.get("shapley_share"), "pct"),
            "width": round(100 * abs(float(row["shapley_pp"])) / scale, 2),
        }
        for _, row in single.iterrows()
    ]


def _chain_note(summary: dict[str, Any]) -> str | None:
    measured, independent = summary.get("system_score"), summary.get("independence_estimate")
    if measured is None:
        return None
    text = f"Measured system {summary.get('metric', 'score')}: {fmt(measured)}"
    if independent is not None and not (isinstance(independent, float) and math.isnan(independent)):
        gap = float(measured) - float(independent)
        how = "errors overlap" if gap > 0 else "errors compound" if gap < 0 else "as if independent"
        text += (
            f"; if stage errors were independent: {fmt(independent)} "
            f"(product of stage scores; {100 * gap:+.1f} points: {how})"
        )
    return text + "."


def _splits(check: Any, d: Any) -> dict[str, Any]:
    """The verdict first: the summary's sentence, the fit verdict's usual causes, and the
    training rows most like the test rows (a validation set that resembles them)."""
    from toolkit.report.summary import split_sentence

    fit = check.fit
    return {
        "headline": split_sentence(check),
        "leakage": bool(check.leakage_found),
        "verdict": None if fit is None else str(fit["verdict"]).replace("_", " "),
        "causes": [] if fit is None else [str(c) for c in fit["causes"]],
        "near_space": str(check.near_space),
        "most_test_like": [str(v) for v in check.most_test_like(10)["id"]],
    }


VIEWS: dict[str, Callable[[Any, Any], dict[str, Any]]] = {
    "metrics": _metrics,
    "splits": _splits,
    "error_patterns": _patterns,
    "clusters": _clusters,
    "label_issues": _label_issues,
    "labeling_queue": _labeling_queue,
    "chain": _chain,
    "thresholds": thresholds_view,
    "calibration_fix": calibration_fix_view,
    "learning_curve": learning_curve_view,
}
