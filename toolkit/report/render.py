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

__all__ = ["MAX_TABLE_ROWS", "render_html", "render_notebook", "summary_sentences", "write_html"]

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
    filterable: bool = True,
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
        "filterable": filterable,
    }


def summary_sentences(d: Any) -> list[str]:
    """What is wrong, in a few sentences with numbers: the model against its baseline, the
    top error pattern and its points of error, the label-noise share, the top error
    cluster, and the stage worth improving."""
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
        confirmed = top.get("confirmed")
        note = (
            ""
            if confirmed is None or pd.isna(confirmed)
            else " (confirmed on held-out rows)"
            if bool(confirmed)
            else " (not confirmed on held-out rows)"
        )
        noise = ""
        share = top.get("label_issue_share")
        if share is not None and isinstance(share, float) and math.isfinite(share):
            noise = f" {share:.0%} of its errors look like label errors."
        sentences.append(
            f"The top error pattern, {top['pattern']}, holds {int(top['errors']):,} errors "
            f"({top['share_of_errors']:.0%} of all errors, error rate {top['error_rate']:.1%} vs "
            f"{meta['error_rate']:.1%} overall): fixing it is worth up to "
            f"{top['gain_pp']:.1f} points of error{note}; the top {min(len(patterns), 5)} "
            f"patterns together hold {patterns['cumulative_gain_pp'].iloc[:5].iloc[-1]:.1f} "
            f"points.{noise}"
        )
    elif patterns is not None:
        sentences.append("No error pattern is significantly worse than the rest of the data.")
    clusters = d.clusters
    if clusters is not None and len(clusters.table):
        table_ = clusters.table
        significant = (
            table_[table_["significant"].astype(bool)] if "significant" in table_ else table_
        )
        if len(significant):
            top = significant.iloc[0]
            sentences.append(
                f"The largest error cluster significantly worse than the rest holds "
                f"{int(top['errors']):,} errors in {int(top['n']):,} rows (error rate "
                f"{top['error_rate']:.1%}, {top['gain_pp']:.1f} points); {top['description']}."
            )
        else:
            sentences.append(
                f"None of the {len(table_)} error clusters is significantly worse than the rest."
            )
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
    if clusters is not None and hasattr(clusters, "figure_data"):
        points = clusters.figure_data()
        # regression has no class: colour the map by one group
        classes = (
            points["class"]
            if points["class"].notna().any()
            else pd.Series("rows", index=points.index)
        )
        out["error_map"] = to_png_data_uri(
            error_map_axes(
                points[["x", "y"]].to_numpy(dtype=float),
                classes.astype(str).to_numpy(),
                points["error"].to_numpy(dtype=bool),
                points["cluster"].to_numpy(dtype=np.int64),
            )
        )
    return out


def _shapley_bars(chain: pd.DataFrame | None) -> list[dict[str, Any]]:
    if chain is None or "shapley_pp" not in chain.columns:
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


def _chain_note(chain: pd.DataFrame | None) -> str | None:
    if chain is None:
        return None
    attrs = chain.attrs
    measured, independent = attrs.get("system_score"), attrs.get("independence_estimate")
    if measured is None:
        return None
    text = f"Measured system {attrs.get('metric', 'score')}: {fmt(measured)}"
    if independent is not None and not (isinstance(independent, float) and math.isnan(independent)):
        gap = float(measured) - float(independent)
        how = "errors overlap" if gap > 0 else "errors compound" if gap < 0 else "as if independent"
        text += (
            f"; if stage errors were independent: {fmt(independent)} "
            f"(product of stage scores; {100 * gap:+.1f} points: {how})"
        )
    return text + "."


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
    issues = d.label_issues
    issue_view = d.extras.get("label_issue_features")
    if issue_view is None and issues is not None:
        issue_view = issues
    chain_columns = [
        ("stage", "stage", "text"),
        ("n", "n", "num"),
        ("stage_score", "stage score", "num"),
        ("system_score", "system", "num"),
        ("system_score_with_oracle", "system with this oracle", "num"),
        ("gain_pp", "gain (pp)", "pp"),
        ("ci_low", "CI low (pp)", "pp"),
        ("ci_high", "CI high (pp)", "pp"),
        ("shapley_pp", "Shapley (pp)", "pp"),
        ("shapley_share", "Shapley share", "pct"),
        ("errors_started", "errors started here", "num"),
        ("share_of_errors_started", "share of errors started", "pct"),
    ]
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
                ("q_value", "q", "p"),
                ("significant", "significant", "text"),
                ("description", "rule", "text"),
                ("fidelity", "fidelity", "text"),
                ("stability", "stability", "num"),
                ("label_issue_share", "label-issue share", "pct"),
                ("examples", "examples", "text"),
            ],
            highlight="significant",
        ),
        "overlap": table(
            d.overlap,
            [
                ("cluster", "cluster", "text"),
                ("pattern", "pattern", "text"),
                ("n_cluster", "rows in cluster", "num"),
                ("n_pattern", "rows in pattern", "num"),
                ("n_both", "rows in both", "num"),
                ("errors_both", "errors in both", "num"),
                ("jaccard", "row Jaccard", "num"),
            ],
        ),
        "label_issues": table(
            issue_view,
            [
                (
                    c,
                    c.replace("_", " "),
                    "num" if c in ("label_quality",) else "text",
                )
                for c in ([] if issue_view is None else issue_view.columns)
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
            None if d.chain is None else d.chain[d.chain["kind"] == "single"],
            chain_columns,
        ),
        "ceiling": table(
            None if d.chain is None else d.chain[d.chain["kind"] == "cumulative"],
            [
                ("replaced", "stages replaced by oracles", "text"),
                ("n", "n", "num"),
                ("system_score", "system", "num"),
                ("system_score_with_oracle", "with oracles", "num"),
                ("gain_pp", "gain (pp)", "pp"),
                ("step_gain_pp", "step gain (pp)", "pp"),
                ("ci_low", "CI low (pp)", "pp"),
                ("ci_high", "CI high (pp)", "pp"),
            ],
            filterable=False,
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
        "summary": summary_sentences(d),
        "overall": overall,
        "tables": tables,
        "confusion": _confusion(d),
        "figures": _figures(d),
        "pattern_bars": _pattern_bars(d.error_patterns),
        "shapley_bars": _shapley_bars(d.chain),
        "chain_note": _chain_note(d.chain),
        "n_issues": None if issues is None else int(issues["is_issue"].astype(bool).sum()),
        "cluster_params": {}
        if d.clusters is None
        else {
            "noise": f"{d.clusters.n_noise:,} rows in no cluster "
            f"({d.clusters.noise_errors:,} errors)",
            "representation": str(d.clusters.params.get("representation", "")),
        },
        "runtime": {str(k): f"{v:.2f} s" for k, v in d.extras.get("runtime_s", {}).items()},
        "notes": {} if m is None else {str(k): str(v) for k, v in m.notes.items()},
        "max_rows": MAX_TABLE_ROWS,
    }
    return _environment().get_template("report.html.j2").render(**context)


def render_notebook(diagnosis: Any, *, height: int = 720) -> str:
    """The report for a notebook cell: the whole page inside a sandboxed frame, so its CSS
    and script stay in the frame."""
    import markupsafe

    page = markupsafe.escape(render_html(diagnosis))
    return str(
        markupsafe.Markup(
            '<iframe sandbox="allow-scripts" style="width: 100%; height: {}px; border: 1px solid '
            '#d9dee7" srcdoc="{}"></iframe>'
        ).format(int(height), page)
    )


def write_html(diagnosis: Any, path: str | Path, **kwargs: Any) -> Path:
    """Render and write the report; returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_html(diagnosis, **kwargs), encoding="utf-8")
    return target
