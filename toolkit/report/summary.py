"""The report's first lines: what is wrong, in a few sentences with numbers."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from toolkit.analysis._cluster_stats import STABLE_JACCARD
from toolkit.report.evaluation_summary import (
    calibration_fix_sentence,
    learning_curve_sentence,
    reference_sentences,
    thresholds_sentence,
)

__all__ = ["summary_sentences"]


def summary_sentences(d: Any) -> list[str]:
    """What is wrong, in a few sentences with numbers: the model against its baseline, the
    top error pattern and its points of error, the top error cluster, the label-noise
    share, and the stage worth improving."""
    steps = (
        _metrics,
        _references,
        _leakage,
        _splits,
        _patterns,
        _clusters,
        _label_issues,
        _chain,
        thresholds_sentence,
        calibration_fix_sentence,
        learning_curve_sentence,
    )
    return [sentence for step in steps if (sentence := step(d)) is not None]


def _weighted(meta: dict[str, Any]) -> str:
    """Said after an error rate when rows carry sample weights (rates are then shares of
    the weight, counts are still rows)."""
    return " by weight" if meta.get("weighted") else ""


def _metrics(d: Any) -> str | None:
    m, meta = d.metrics, d.meta
    if m is None:
        return None
    table = m.baselines.set_index("metric")
    key = "accuracy" if "accuracy" in table.index else "mae"
    row = table.loc[key]
    better = "better" if (row["margin_over_zero_rule"] or 0) > 0 else "not better"
    if key == "accuracy":
        return (
            f"The model is wrong on {meta['error_rate']:.1%}{_weighted(meta)} of "
            f"{meta['n']:,} rows; its "
            f"accuracy {row['model']:.3f} is {better} than always predicting the most "
            f"frequent class ({row['zero_rule']:.3f})."
        )
    return (
        f"MAE {row['model']:.4g} against {row['zero_rule']:.4g} for always predicting "
        f"the mean ({better}); {meta['error_rate']:.1%} of rows miss by more than the "
        f"tolerance {meta['tolerance']:.4g}."
    )


def _references(d: Any) -> str | None:
    return " ".join(reference_sentences(d)) or None


def _leakage(d: Any) -> str | None:
    if d.leakage is None or not d.leakage.flagged:
        return None
    table = d.leakage.table
    top = table[table["flagged"]].iloc[0]
    others = len(d.leakage.flagged) - 1
    also = f" (and {others} more feature{'s' if others > 1 else ''})" if others else ""
    return (
        f"Possible leakage: {top['feature']} alone predicts the label for "
        f"{top['accuracy_alone']:.1%} of rows{also}, against {top['zero_rule']:.1%} for "
        "always predicting the most frequent class; check how it was collected before "
        "trusting the other numbers."
    )


def _splits(d: Any) -> str | None:
    return None if d.splits is None else split_sentence(d.splits)


def split_sentence(check: Any) -> str:
    """Before blaming the model: rows shared across the split, the shift, the fit verdict
    (a :class:`~toolkit.SplitCheck` in one sentence, every number from it)."""
    clauses = []
    n_exact = int(check.exact["test_row"].nunique())
    if n_exact:
        rows = (
            "test row repeats a training row" if n_exact == 1 else "test rows repeat training rows"
        )
        clauses.append(f"{n_exact:,} {rows} exactly")
    if check.groups is not None and len(check.groups):
        clauses.append(
            f"{len(check.groups):,} groups of {check.group} have rows on both sides "
            f"({int(check.groups['n_test'].sum()):,} test rows)"
        )
    if not clauses:
        clauses.append(
            "no test row repeats a training row"
            + (" and no group sits on both sides" if check.groups is not None else "")
        )
    shift = check.shift
    interval = (
        f"adversarial AUC {shift['auc']:.2f}, 95% CI {shift['ci_low']:.2f}–{shift['ci_high']:.2f}"
    )
    if shift["strength"] == "none":
        clauses.append(f"the test rows look like the training rows ({interval})")
    else:
        top = shift["importances"]["feature"].iloc[0]
        clauses.append(
            f"the test rows differ from the training rows ({shift['strength']} shift, "
            f"{interval}), most in {top}"
        )
    fit = check.fit
    if fit is not None:
        train, test = fit["table"].iloc[0], fit["table"].iloc[1]
        rates = (
            f"test error {test['error_rate']:.1%} against {train['error_rate']:.1%} in "
            f"training, {fit['gap_pp']:+.1f} points, 95% CI {fit['gap_ci_low_pp']:+.1f} to "
            f"{fit['gap_ci_high_pp']:+.1f}"
        )
        words = {
            "underfitting": f"the model underfits (in training it still makes "
            f"{fit['train_share_of_zero_rule']:.0%} of the zero rule's errors; {rates})",
            "overfitting": f"the model overfits ({rates})",
            "test_better_than_train": f"the test rows are easier than the training rows, a "
            f"sign of leakage or shift ({rates})",
            "neither": f"the model neither underfits nor overfits ({rates})",
        }
        clauses.append(words[fit["verdict"]])
    return "Before blaming the model: " + "; ".join(clauses) + "."


def _patterns(d: Any) -> str | None:
    """The most severe error pattern (error rate with its interval, size, held-out
    check) and the one whose excess errors are worth the most points."""
    if d.error_patterns is None:
        return None
    patterns, meta = d.error_patterns.table, d.meta
    if not len(patterns):
        return "No error pattern is significantly worse than the rest of the data."
    worst = patterns.loc[patterns["ci_low"].idxmax()]
    text = (
        f"The most severe error pattern is {worst['pattern']}: {int(worst['errors']):,} of "
        f"{int(worst['n']):,} rows wrong ({worst['error_rate']:.1%}{_weighted(meta)}, 95% CI "
        f"{worst['ci_low']:.1%}–{worst['ci_high']:.1%}, against {meta['error_rate']:.1%} "
        f"overall){_held_out(worst)}.{_noise(worst)}"
    )
    if "excess_pp" not in patterns or not (patterns["excess_pp"] > 0).any():
        return text
    most = patterns.loc[patterns["excess_pp"].idxmax()]
    subject = "It" if most["pattern"] == worst["pattern"] else most["pattern"]
    return text + (
        f" {subject} holds the most errors beyond the rest's rate: were it as good as the "
        f"rest of the data, the error rate would fall by {most['excess_pp']:.1f} points."
    )


def _held_out(row: Any) -> str:
    confirmed = row.get("confirmed")
    if confirmed is None or pd.isna(confirmed):
        return ""
    return "; confirmed on held-out rows" if bool(confirmed) else "; not confirmed on held-out rows"


def _noise(row: Any) -> str:
    share = row.get("label_issue_share")
    if share is not None and isinstance(share, float) and math.isfinite(share):
        return f" {share:.0%} of its errors are likely label errors or ambiguous examples."
    return ""


def _clusters(d: Any) -> str | None:
    """The most severe cluster significantly worse than the rest, its stability always
    said (and, when it is unstable, the most severe stable one)."""
    if d.clusters is None or not len(d.clusters.table):
        return None
    table = d.clusters.table
    worse = table[table["significant"].astype(bool)]
    if not len(worse):
        return f"None of the {len(table)} error clusters is significantly worse than the rest."
    top = worse.iloc[0]
    text = (
        f"The most severe error cluster, cluster {int(top['cluster'])}, holds "
        f"{int(top['errors']):,} errors in {int(top['n']):,} rows (error rate "
        f"{top['error_rate']:.1%}, 95% CI {top['ci_low']:.1%}–{top['ci_high']:.1%}, against "
        f"{d.meta['error_rate']:.1%} overall; {top['excess_pp']:.1f} points beyond the "
        f"rest's rate); {top['description']}."
    )
    stable = top["stable"]
    if stable is None or pd.isna(stable):
        return text + " Its stability was not checked."
    if bool(stable):
        return text + f" It is stable (stability {top['stability']:.2f} over re-runs)."
    text += (
        f" It is unstable (stability {top['stability']:.2f}, below {STABLE_JACCARD}: it "
        "changes when"
        " the data or the seed does), so read it as a hint."
    )
    steady = worse[worse["stable"].map(lambda v: v is True)]
    if len(steady):
        other = steady.iloc[0]
        text += (
            f" The most severe stable one, cluster {int(other['cluster'])}, holds "
            f"{int(other['errors']):,} errors in {int(other['n']):,} rows (error rate "
            f"{other['error_rate']:.1%}, stability {other['stability']:.2f})."
        )
    return text


def _label_issues(d: Any) -> str | None:
    if d.label_issues is None or "is_issue" not in d.label_issues.table:
        return None
    flags = d.label_issues.table["is_issue"]
    share = float(flags.mean()) if len(flags) else 0.0
    return (
        f"{int(flags.sum()):,} rows ({share:.1%}) are likely label errors or ambiguous "
        "examples; check them before blaming the model."
    )


def _chain(d: Any) -> str | None:
    if d.chain is None:
        return None
    chain = d.chain.table
    if not len(chain) or "gain_pp" not in chain:
        return None
    single = chain[chain.get("kind", pd.Series("single", index=chain.index)) == "single"]
    if not len(single):
        return None
    best = single.sort_values("gain_pp", ascending=False).iloc[0]
    return (
        f"Of the stages, a perfect {best['stage']} would lift the system most: "
        f"{best['gain_pp']:+.1f} points."
    )
