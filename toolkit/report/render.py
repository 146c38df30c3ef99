"""`render_html(diagnosis) -> str`: the one-file, offline HTML report.

Rendering is pure: it reads a Diagnosis and returns text. Jinja2 runs with autoescape
and StrictUndefined, so every string that comes from the data is shown as text.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["MAX_TABLE_ROWS", "render_html", "write_html"]

#: Longer tables are cut to this many rows in the report (the JSON has them all).
MAX_TABLE_ROWS = 200


def _environment():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("toolkit.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def fmt(value: Any, kind: str = "num") -> str:
    """One cell as text: numbers rounded for reading, missing as an en dash."""
    if value is None or value is pd.NA:
        return "–"
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and not math.isfinite(value):
        return "–"
    if kind == "pct" and isinstance(value, int | float):
        return f"{100 * value:.2f}%"
    if kind == "pp" and isinstance(value, int | float):
        return f"{value:.2f}"
    if kind == "p" and isinstance(value, int | float):
        return f"{value:.2g}" if value >= 1e-4 else f"{value:.1e}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e6):
            return f"{value:.3g}"
        return f"{value:.4f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:,.1f}"
    if isinstance(value, list | tuple):
        return ", ".join(fmt(v) for v in value)
    return str(value)


def _sort_key(value: Any) -> str:
    """A value for the `data-sort` attribute (numbers sort numerically in the script)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int | float) and not (isinstance(value, float) and math.isnan(value)):
        return repr(float(value))
    return "" if value is None or value is pd.NA else str(value)


def table(
    frame: pd.DataFrame | None,
    columns: list[tuple[str, str, str]],
    *,
    highlight: str | None = None,
    limit: int = MAX_TABLE_ROWS,
) -> dict[str, Any] | None:
    """A table view: header labels, rows of (text, sort key) cells, truncation count.

    ``columns`` holds (column, label, kind) with kind one of num, pct, pp, p, text.
    ``highlight`` names a boolean column whose true rows are marked.
    """
    if frame is None:
        return None
    present = [(c, label, kind) for c, label, kind in columns if c in frame.columns]
    rows = []
    for record in frame.head(limit).to_dict(orient="records"):
        cells = [
            {"text": fmt(record[c], kind), "sort": _sort_key(record[c]), "kind": kind}
            for c, _, kind in present
        ]
        marked = bool(highlight and record.get(highlight) is True)
        rows.append({"cells": cells, "marked": marked})
    return {
        "header": [{"label": label, "kind": kind} for _, label, kind in present],
        "rows": rows,
        "total": len(frame),
        "shown": min(len(frame), limit),
    }


def _summary(d: Any) -> list[str]:
    sentences = []
    meta = d.meta
    m = d.metrics
    if m is not None:
        table_ = m.baselines.set_index("metric")
        key = "accuracy" if "accuracy" in table_.index else "mae"
        row = table_.loc[key]
        better = "better" if (row["margin_over_zero_rule"] or 0) > 0 else "not better"
        if key == "accuracy":
            sentences.append(
                f"The model is wrong on {meta['error_rate']:.1%} of {meta['n']:,} rows; its "
                f"accuracy {row['model']:.3f} is {better} than always predicting the most "
                f"frequent class ({row['zero_rule']:.3f})."
            )
        else:
            sentences.append(
                f"MAE {row['model']:.4g} against {row['zero_rule']:.4g} for always predicting "
                f"the mean ({better}); {meta['error_rate']:.1%} of rows miss by more than the "
                f"tolerance {meta['tolerance']:.4g}."
            )
    patterns = d.error_patterns
    if patterns is not None and len(patterns):
        top = patterns.iloc[0]
        confirmed = top["confirmed"]
        note = (
            " (confirmed on held-out rows)"
            if confirmed is True
            else " (not confirmed on held-out rows)"
            if confirmed is False
            else ""
        )
        sentences.append(
            f"The top error pattern, {top['pattern']}, holds {int(top['errors']):,} errors "
            f"({top['share_of_errors']:.0%} of all errors, error rate {top['error_rate']:.1%} vs "
            f"{meta['error_rate']:.1%} overall): fixing it is worth up to "
            f"{top['gain_pp']:.1f} points of error{note}; the top {min(len(patterns), 5)} "
            f"patterns together hold {patterns['cumulative_gain_pp'].iloc[:5].iloc[-1]:.1f} "
            "points."
        )
    elif patterns is not None:
        sentences.append("No error pattern is significantly worse than the rest of the data.")
    label_issues = d.label_issues
    if label_issues is not None and "is_issue" in label_issues:
        share = float(label_issues["is_issue"].mean()) if len(label_issues) else 0.0
        sentences.append(
            f"{int(label_issues['is_issue'].sum()):,} labels ({share:.1%}) look wrong; "
            "check them before blaming the model."
        )
    chain = d.chain
    if chain is not None and len(chain) and "gain_pp" in chain:
        single = chain[chain.get("kind", pd.Series("single", index=chain.index)) == "single"]
        if len(single):
            best = single.sort_values("gain_pp", ascending=False).iloc[0]
            sentences.append(
                f"Of the stages, a perfect {best['stage']} would lift the system most: "
                f"{best['gain_pp']:+.1f} points."
            )
    return sentences


def _figures(d: Any) -> dict[str, str | None]:
    from toolkit.report.figures import calibration_axes, error_map_axes, to_png_data_uri, to_svg

    out: dict[str, str | None] = {"calibration": None, "error_map": None}
    if d.metrics is not None and d.metrics.calibration is not None:
        out["calibration"] = to_svg(calibration_axes(d.metrics.calibration))
    clusters = d.clusters
    if clusters is not None and getattr(clusters, "coords", None) is not None:
        fig_data = clusters.figure_data() if hasattr(clusters, "figure_data") else None
        if fig_data is not None:
            ax = error_map_axes(
                np.asarray(fig_data["coords"]),
                np.asarray(fig_data["label"]),
                np.asarray(fig_data["error"], dtype=bool),
                np.asarray(fig_data["cluster"]),
            )
            out["error_map"] = to_png_data_uri(ax)
    return out


def _pattern_bars(patterns: pd.DataFrame | None, limit: int = 20) -> list[dict[str, Any]]:
    if patterns is None or not len(patterns):
        return []
    top = patterns.head(limit)
    scale = max(float(top["cumulative_gain_pp"].max()), 1e-9)
    return [
        {
            "pattern": str(row["pattern"]),
            "gain": f"{row['gain_pp']:.2f}",
            "cumulative": f"{row['cumulative_gain_pp']:.2f}",
            "width": round(100 * float(row["gain_pp"]) / scale, 2),
            "cum_width": round(100 * float(row["cumulative_gain_pp"]) / scale, 2),
        }
        for _, row in top.iterrows()
    ]


def _confusion(d: Any) -> dict[str, Any] | None:
    m = d.metrics
    if m is None or m.confusion is None or len(m.confusion) > 30:
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


def render_html(diagnosis: Any, *, title: str | None = None) -> str:
    """The report of a :class:`~toolkit.Diagnosis` as one self-contained HTML document."""
    d = diagnosis
    meta = d.meta
    m = d.metrics
    slices = d.slices
    if slices is not None:
        slices = slices.sort_values(["flagged", "gap_pp"], ascending=[False, False])
    tables = {
        "baselines": table(
            None if m is None else m.baselines,
            [
                ("metric", "metric", "text"),
                ("model", "model", "num"),
                ("zero_rule", "zero-rule", "num"),
                ("stratified", "random (stratified)", "num"),
                ("margin_over_zero_rule", "margin vs zero-rule", "num"),
                ("margin_over_stratified", "margin vs random", "num"),
            ],
        ),
        "per_class": table(
            None if m is None else m.per_class,
            [
                ("class", "class", "text"),
                ("precision", "precision", "num"),
                ("recall", "recall", "num"),
                ("f1", "F1", "num"),
                ("support", "support", "num"),
                ("errors", "errors", "num"),
            ],
        ),
        "slices": table(
            slices,
            [
                ("slice", "slice", "text"),
                ("n", "n", "num"),
                ("errors", "errors", "num"),
                ("error_rate", "error rate", "pct"),
                ("ci_low", "95% CI low", "pct"),
                ("ci_high", "95% CI high", "pct"),
                ("gap_pp", "gap (pp)", "pp"),
                ("q_value", "q", "p"),
                ("flagged", "flagged", "text"),
                ("accuracy", "accuracy", "num"),
                ("log_loss", "log loss", "num"),
                ("mae", "MAE", "num"),
            ],
            highlight="flagged",
        ),
        "patterns": table(
            d.error_patterns,
            [
                ("pattern", "pattern", "text"),
                ("n", "n", "num"),
                ("errors", "errors", "num"),
                ("error_rate", "error rate", "pct"),
                ("lift", "lift", "num"),
                ("share_of_errors", "share of errors", "pct"),
                ("gain_pp", "gain (pp)", "pp"),
                ("cumulative_gain_pp", "cumulative (pp)", "pp"),
                ("q_value", "q", "p"),
                ("holdout_error_rate", "held-out error rate", "pct"),
                ("confirmed", "confirmed", "text"),
                ("label_issue_share", "label-issue share", "pct"),
                ("mae", "MAE", "num"),
            ],
        ),
        "clusters": table(
            None if d.clusters is None else getattr(d.clusters, "table", None),
            [
                ("cluster", "cluster", "text"),
                ("n", "n", "num"),
                ("errors", "errors", "num"),
                ("error_rate", "error rate", "pct"),
                ("lift", "lift", "num"),
                ("share_of_errors", "share of errors", "pct"),
                ("gain_pp", "gain (pp)", "pp"),
                ("description", "rule", "text"),
                ("fidelity", "fidelity", "text"),
                ("stability", "stability", "num"),
                ("label_issue_share", "label-issue share", "pct"),
                ("examples", "examples", "text"),
            ],
        ),
        "label_issues": table(
            d.label_issues,
            [
                (
                    c,
                    c.replace("_", " "),
                    "text" if c in ("id", "given_label", "suggested_label") else "num",
                )
                for c in ([] if d.label_issues is None else d.label_issues.columns)
            ],
            highlight="is_issue",
        ),
        "labeling_queue": table(
            d.labeling_queue,
            [
                ("rank", "rank", "num"),
                ("id", "id", "text"),
                ("score", "score", "num"),
                ("reason", "why", "text"),
            ],
        ),
        "chain": table(
            d.chain,
            [
                (c, c.replace("_", " "), "text" if c in ("stage", "kind") else "num")
                for c in ([] if d.chain is None else d.chain.columns)
            ],
        ),
    }
    overall = [] if m is None else [{"metric": k, "value": fmt(v)} for k, v in m.overall.items()]
    context = {
        "title": title or "Error analysis report",
        "meta": {
            k: fmt(v, "pct" if k == "error_rate" else "num")
            for k, v in meta.items()
            if k not in ("skipped", "features", "classes", "environment")
        },
        "classes": [] if not meta.get("classes") else [str(c) for c in meta["classes"]],
        "features": [str(c) for c in meta.get("features") or []],
        "environment": {str(k): str(v) for k, v in (meta.get("environment") or {}).items()},
        "skipped": {str(k): str(v) for k, v in meta.get("skipped", {}).items()},
        "summary": _summary(d),
        "overall": overall,
        "tables": tables,
        "confusion": _confusion(d),
        "figures": _figures(d),
        "pattern_bars": _pattern_bars(d.error_patterns),
        "notes": {} if m is None else {str(k): str(v) for k, v in m.notes.items()},
        "max_rows": MAX_TABLE_ROWS,
    }
    return _environment().get_template("report.html.j2").render(**context)


def write_html(diagnosis: Any, path: str | Path, **kwargs: Any) -> Path:
    """Render and write the report; returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_html(diagnosis, **kwargs), encoding="utf-8")
    return target
