"""The report's first lines: what is wrong, in a few sentences with numbers."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

__all__ = ["summary_sentences"]


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
    patterns = None if d.error_patterns is None else d.error_patterns.table
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
    label_issues = None if d.label_issues is None else d.label_issues.table
    if label_issues is not None and "is_issue" in label_issues:
        share = float(label_issues["is_issue"].mean()) if len(label_issues) else 0.0
        sentences.append(
            f"{int(label_issues['is_issue'].sum()):,} labels ({share:.1%}) look wrong; "
            "check them before blaming the model."
        )
    chain = None if d.chain is None else d.chain.table
    if chain is not None and len(chain) and "gain_pp" in chain:
        single = chain[chain.get("kind", pd.Series("single", index=chain.index)) == "single"]
        if len(single):
            best = single.sort_values("gain_pp", ascending=False).iloc[0]
            sentences.append(
                f"Of the stages, a perfect {best['stage']} would lift the system most: "
                f"{best['gain_pp']:+.1f} points."
            )
    return sentences
