"""The built-in sections of a diagnosis, in the order of the JSON and the report.

Each is a :class:`~toolkit.analysis.sections.Section`: when it applies, how it runs, its
JSON keys and the tables the report shows. The analyses are imported when a section
runs, so importing this module loads none of umap, hdbscan or cleanlab.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from toolkit._json import frame_records
from toolkit.analysis._evaluation_sections import CALIBRATION_FIX, LEARNING_CURVE, THRESHOLDS
from toolkit.analysis._split_section import SPLITS
from toolkit.analysis.metrics import compute_metrics
from toolkit.analysis.sections import Context, Section, Table
from toolkit.exceptions import InvalidLabelError, NotApplicableError, ValidationError

__all__ = ["BUILTIN_SECTIONS", "LABEL_ISSUE_FEATURE_ROWS", "MIN_CLUSTER_ROWS"]

#: Rows of the label-issue table whose features the report shows (the JSON has every row).
LABEL_ISSUE_FEATURE_ROWS = 200
#: Fewer rows than this are not clustered (UMAP and HDBSCAN need some density).
MIN_CLUSTER_ROWS = 50
NO_FEATURES = "no feature columns were given"
#: The columns every group of rows (an error pattern, a cluster) shows first.
GROUP_COLUMNS = (
    ("n", "n", "num"),
    ("errors", "errors", "num"),
    ("error_rate", "error rate", "pct"),
    ("lift", "lift", "num"),
    ("share_of_errors", "share of errors", "pct"),
    ("gain_pp", "gain (pp)", "pp"),
)


def _needs_features(ctx: Context) -> str | None:
    return None if ctx.p.feature_names else NO_FEATURES


def _table(name: str) -> Any:
    def frame(result: Any, results: Mapping[str, Any]) -> pd.DataFrame | None:
        return None if result is None else result.table

    frame.__name__ = f"{name}_table"
    return frame


# ---------------------------------------------------------------------------- metrics
def _metrics_json(m: Any, results: Mapping[str, Any]) -> dict[str, Any]:
    return {"metrics": m.to_dict(), "baselines": frame_records(m.baselines)}


METRICS = Section(
    name="metrics",
    title="Metrics beside baselines",
    message="metrics and baselines",
    run=lambda ctx: compute_metrics(
        ctx.p, references=ctx.option("references"), random_state=ctx.random_state
    ),
    json_keys=("metrics", "baselines"),
    nav=(("metrics", "Metrics"), ("classes", "Classes"), ("calibration", "Calibration")),
    to_json=_metrics_json,
    tables=(
        Table(
            "t-baselines",
            lambda m, _: m.baselines,
            [
                ("metric", "metric", "text"),
                ("model", "model", "num"),
                ("zero_rule", "zero-rule", "num"),
                ("stratified", "random (stratified)", "num"),
                ("margin_over_zero_rule", "margin vs zero-rule", "num"),
                ("margin_over_stratified", "margin vs random", "num"),
            ],
            filterable=False,
        ),
        Table(
            "t-references",
            lambda m, _: m.references,
            [
                ("reference", "reference", "text"),
                ("metric", "metric", "text"),
                ("n", "rows both cover", "num", "rows both the model and the reference answered"),
                ("model", "model", "num"),
                ("reference_value", "reference", "num"),
                ("gap", "gap (reference ahead)", "num"),
                ("ci_low", "95% CI low", "num"),
                ("ci_high", "95% CI high", "num"),
            ],
            heading="Beside the reference systems",
            note=(
                "On the rows each reference covers. Gap: how far the reference is ahead "
                "(positive: it does better, the room left; negative: the model does better), "
                "with a paired 95% interval for metrics that are means over rows."
            ),
            filterable=False,
        ),
        Table(
            "t-per-class",
            lambda m, _: m.per_class,
            [
                ("class", "class", "text"),
                ("precision", "precision", "num"),
                ("recall", "recall", "num"),
                ("f1", "F1", "num"),
                ("support", "support", "num"),
                ("errors", "errors", "num"),
            ],
        ),
    ),
)


# ---------------------------------------------------------------------------- leakage
def _leakage_reason(ctx: Context) -> str | None:
    if not ctx.p.is_classification:
        return "leakage by a single feature is checked for classification"
    return _needs_features(ctx)


def _run_leakage(ctx: Context) -> Any:
    from toolkit.analysis.leakage import find_leaky_features

    return find_leaky_features(ctx.p)


LEAKAGE = Section(
    name="leakage",
    title="Possible leakage: features that alone predict the label",
    message="leakage check (each feature alone)",
    applies=_leakage_reason,
    run=_run_leakage,
    nav=(("leakage", "Leakage"),),
    note=(
        "Each feature's bins predict their most frequent label; a feature that alone is "
        "right on 99% of rows and removes most errors of always predicting the most "
        "frequent class is flagged: check how it was collected before trusting the rest."
    ),
    tables=(
        Table(
            "t-leakage",
            _table("leakage"),
            [
                ("feature", "feature", "text"),
                ("accuracy_alone", "accuracy alone", "pct"),
                ("zero_rule", "zero-rule accuracy", "pct"),
                ("error_reduction", "zero-rule errors removed", "pct"),
                ("n_bins", "bins", "num"),
                ("flagged", "possible leakage", "text"),
            ],
            highlight="flagged",
        ),
    ),
)


# ----------------------------------------------------------------------------- slices
def _run_slices(ctx: Context) -> Any:
    from toolkit.analysis.slices import slice_metrics

    return slice_metrics(ctx.p, by=ctx.option("slices"), references=ctx.option("references"))


def _slices_shown(result: Any, results: Mapping[str, Any]) -> pd.DataFrame:
    return result.table.sort_values(["flagged", "gap_pp"], ascending=[False, False])


SLICES = Section(
    name="slices",
    title="Sliced metrics",
    nav=(("slices", "Slices"),),
    message="sliced metrics",
    applies=_needs_features,
    run=_run_slices,
    note=(
        "Wilson 95% intervals; q = Benjamini–Hochberg over all slices of a one-sided test "
        "against the rest of the data. Marked rows are significantly worse."
    ),
    tables=(
        Table(
            "t-slices",
            _slices_shown,
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
        Table(
            "t-slice-references",
            lambda r, _: (
                r.reference_gaps(min_size=30).groupby("reference", sort=False).head(5)
                if r.references
                else None
            ),
            [
                ("reference", "reference", "text"),
                ("slice", "slice", "text"),
                ("n", "rows both cover", "num", "rows of the slice the reference answered"),
                ("error_rate", "model error rate", "pct", "the model's error rate on those rows"),
                ("reference_error_rate", "reference error rate", "pct"),
                ("gap_pp", "gap (pp)", "pp"),
                ("ci_low", "95% CI low (pp)", "pp"),
                ("ci_high", "95% CI high (pp)", "pp"),
            ],
            heading="Where the gap to each reference is largest",
            note=(
                "Per reference, the 5 slices (of at least 30 rows it covers) with the largest "
                "gap: the model's error rate minus the reference's on the same rows, with a "
                "paired 95% interval. The JSON has every slice."
            ),
        ),
    ),
)


# --------------------------------------------------------------------- error patterns
def _run_patterns(ctx: Context) -> Any:
    from toolkit.analysis.patterns import find_error_patterns

    return find_error_patterns(ctx.p, random_state=ctx.random_state)


def _patterns_meta(result: Any) -> dict[str, Any]:
    """How the search went: exact, or what it left out to stay within its budget."""
    return {
        "error_patterns_search": {
            "exact": result.exact,
            "limits": list(result.limits),
            "n_candidates": result.n_candidates,
            "n_tested": result.n_tested,
            "min_support": result.min_support,
        }
    }


ERROR_PATTERNS = Section(
    name="error_patterns",
    title="Error patterns, most severe first",
    message="error patterns (lattice search)",
    applies=_needs_features,
    run=_run_patterns,
    meta_json=_patterns_meta,
    anchor="patterns",
    nav=(("patterns", "Error patterns"),),
    note=(
        "Severity is the 95% lower bound of a pattern's error rate: severe and well "
        "supported first. Excess (pp): the points the overall error rate falls if the "
        "pattern did as well as the rest of the data; gain (pp): if every error in it "
        "were fixed (the upper bound). q: Bonferroni over every conjunction the search "
        "could test."
    ),
    tables=(
        Table(
            "t-patterns",
            _table("error_patterns"),
            [
                ("pattern", "pattern", "text"),
                *GROUP_COLUMNS[:3],
                ("ci_low", "95% CI low", "pct"),
                ("ci_high", "95% CI high", "pct"),
                ("lift", "lift", "num"),
                ("excess_pp", "excess (pp)", "pp"),
                ("cumulative_excess_pp", "cumulative excess (pp)", "pp"),
                ("gain_pp", "gain (pp)", "pp"),
                ("share_of_errors", "share of errors", "pct"),
                ("q_value", "q", "p"),
                ("holdout_error_rate", "held-out error rate", "pct"),
                ("confirmed", "confirmed", "text"),
                ("label_issue_share", "label-issue share", "pct"),
                ("mae", "MAE", "num"),
            ],
        ),
    ),
)


# ---------------------------------------------------------------------------- clusters
def _cluster_reason(ctx: Context) -> str | None:
    p = ctx.p
    if ctx.option("embeddings") is None and p.embeddings is None and not p.feature_names:
        return "no embeddings or feature columns to cluster on"
    if p.n < MIN_CLUSTER_ROWS:
        return f"only {p.n} rows; clustering needs at least {MIN_CLUSTER_ROWS}"
    if not p.errors.any():
        return "the model makes no errors"
    return None


def _run_clusters(ctx: Context) -> Any:
    from toolkit.analysis.clusters import cluster_errors

    return cluster_errors(ctx.p, embeddings=ctx.option("embeddings"), random_state=ctx.random_state)


def _worse_clusters(clusters: Any, results: Mapping[str, Any]) -> pd.DataFrame | None:
    """The report's cluster table: the clusters significantly worse than the rest (the
    JSON keeps the others, ``significant`` false)."""
    if clusters is None:
        return None
    table = clusters.table
    return table[table["significant"].astype(bool)]


def _clusters_json(clusters: Any, results: Mapping[str, Any]) -> dict[str, Any]:
    overlap = results.get("overlap")
    out = clusters.to_dict()
    out["pattern_overlap"] = None if overlap is None else frame_records(overlap)
    return {"clusters": out}


def _link_overlap(results: dict[str, Any], ctx: Context) -> dict[str, Any]:
    clusters, patterns = results.get("clusters"), results.get("error_patterns")
    if clusters is None or patterns is None or not len(patterns.table) or not len(clusters.table):
        return {}
    from toolkit.analysis.clusters import cluster_pattern_overlap

    return {"overlap": cluster_pattern_overlap(clusters, patterns.table, ctx.p)}


CLUSTERS = Section(
    name="clusters",
    title="Error map and clusters",
    message="error clusters (UMAP map, HDBSCAN; the first call compiles numba)",
    applies=_cluster_reason,
    run=_run_clusters,
    skip_on=(NotApplicableError,),
    to_json=_clusters_json,
    link=_link_overlap,
    provides=("overlap",),
    nav=(("clusters", "Error map"),),
    tables=(
        Table(
            "t-clusters",
            _worse_clusters,
            [
                ("cluster", "cluster", "text"),
                *GROUP_COLUMNS,
                ("excess_pp", "excess (pp)", "pp"),
                ("q_value", "q", "p"),
                ("description", "rule", "text"),
                ("fidelity", "fidelity", "text"),
                ("stability", "stability", "num"),
                ("label_issue_share", "label-issue share", "pct"),
                ("examples", "examples", "text"),
            ],
            note=(
                "A rule describes a cluster over the original columns; its precision and "
                "recall against cluster membership say how true it is. Only clusters "
                "significantly worse than the rest are listed, most severe first. "
                "Stability: mean best-match Jaccard over re-runs of the map and HDBSCAN "
                "on bootstrap draws (below 0.75: unstable, the cluster changes when the "
                "data or the seed does)."
            ),
            highlight="significant",
        ),
        Table(
            "t-overlap",
            lambda _, results: results.get("overlap"),
            [
                ("cluster", "cluster", "text"),
                ("pattern", "pattern", "text"),
                ("n_cluster", "rows in cluster", "num"),
                ("n_pattern", "rows in pattern", "num"),
                ("n_both", "rows in both", "num"),
                ("errors_both", "errors in both", "num"),
                ("jaccard", "row Jaccard", "num"),
            ],
            heading="Clusters and error patterns seen together",
            note=(
                "Row Jaccard between the top clusters and the top error patterns: a cluster "
                "no pattern covers is a failure that no column names."
            ),
        ),
    ),
)


# ------------------------------------------------------------------------ label issues
def _label_reason(ctx: Context) -> str | None:
    if not ctx.p.is_classification:
        return "label issues need class probabilities; this is a regression task"
    if ctx.p.proba is None:
        return "label issues need class probabilities; only predictions were given"
    return None


def _run_label_issues(ctx: Context) -> Any:
    from toolkit.analysis.labels import find_label_issues

    source = ctx.option("proba_source")
    kwargs = {} if source is None else {"proba_source": source}
    return find_label_issues(ctx.p, **kwargs)


def _link_label_share(results: dict[str, Any], ctx: Context) -> dict[str, Any]:
    """Each error pattern's and cluster's share of errors that look like label errors,
    and the worst label issues with their rows' features (for the report)."""
    issues = results.get("label_issues")
    if issues is None:
        return {}
    from toolkit.analysis.labels import label_issue_share

    out: dict[str, Any] = {"label_issue_features": _issue_features(issues.table, ctx.p)}
    for name in ("error_patterns", "clusters"):
        result = results.get(name)
        if result is not None:
            table = result.table.copy()
            groups = result if name == "clusters" else result.table
            table["label_issue_share"] = label_issue_share(issues, ctx.p, groups)
            out[name] = dataclasses.replace(result, table=table)
    return out


def _issue_features(issues: pd.DataFrame, p: Any) -> pd.DataFrame | None:
    if p.features is None:
        return None
    worst = issues[issues["is_issue"].astype(bool)].head(LABEL_ISSUE_FEATURE_ROWS)
    position = pd.Series(np.arange(p.n), index=pd.Index(p.ids.tolist()))
    rows = position.loc[worst["id"].tolist()].to_numpy()
    feats = p.features.iloc[rows].reset_index(drop=True)
    feats = feats.loc[:, [c for c in feats.columns if c not in worst.columns]]
    return pd.concat([worst.reset_index(drop=True), feats], axis=1)


def _issues_shown(result: Any, results: Mapping[str, Any]) -> pd.DataFrame:
    shown = results.get("label_issue_features")
    return result.table if shown is None else shown


LABEL_ISSUES = Section(
    name="label_issues",
    title="Label issues",
    message="label issues (cleanlab)",
    applies=_label_reason,
    run=_run_label_issues,
    skip_on=(NotApplicableError, InvalidLabelError),
    link=_link_label_share,
    provides=("label_issue_features",),
    tables=(
        Table(
            "t-label-issues", _issues_shown, None, highlight="is_issue", numeric=("label_quality",)
        ),
    ),
)


# ---------------------------------------------------------------------- labeling queue
QUEUE_KEYS = ("pool", "budget", "strategy", "n_neighbors", "threshold")


def _queue_reason(ctx: Context) -> str | None:
    return "no unlabeled pool was given" if ctx.option("pool") is None else None


def check_pool(pool: Any) -> None:
    """Refuse a pool mapping with unknown keys (before any section runs)."""
    if isinstance(pool, Mapping):
        extra = sorted(set(pool) - set(QUEUE_KEYS))
        if "pool" not in pool or extra:
            raise ValidationError(
                f"pool mapping needs key 'pool' and takes only {sorted(QUEUE_KEYS)}; "
                f"got keys {sorted(pool)}"
            )


def _queue_args(ctx: Context) -> tuple[Any, dict[str, Any]]:
    """The pool and the options of :func:`toolkit.labeling_queue` from ``pool=``."""
    pool = ctx.option("pool")
    options: dict[str, Any] = {}
    if isinstance(pool, Mapping):
        options = {k: v for k, v in pool.items() if k != "pool"}
        pool = pool["pool"]
    if options.get("strategy") in ("error_neighbourhood", "hybrid"):
        options["labeled"] = ctx.p
    return pool, options


def _run_queue(ctx: Context) -> Any:
    from toolkit.analysis.labeling import labeling_queue

    pool, options = _queue_args(ctx)
    return labeling_queue(pool, random_state=ctx.random_state, **options)


def _n_pool_classes(pool: Any) -> int | None:
    from toolkit.analysis.labeling import LabelingPool
    from toolkit.data import Predictions

    if isinstance(pool, Predictions | LabelingPool):
        return None if pool.classes is None else len(pool.classes)
    return int(np.shape(pool)[1]) if np.ndim(pool) == 2 else None


def _link_queue_threshold(results: dict[str, Any], ctx: Context) -> dict[str, Any]:
    """The queue ranked by the distance to the threshold the thresholds section chose
    from ``cost=`` or ``business_metric=`` (not its default, the best F1), unless the
    pool mapping gave a threshold itself. Sections run before they see each other's
    results, so a queue the chosen threshold changes is ranked again here."""
    from toolkit.analysis.labeling import THRESHOLD_STRATEGIES, labeling_queue

    queue, thresholds = results.get("labeling_queue"), results.get("thresholds")
    if queue is None or thresholds is None or queue.threshold is not None:
        return {}
    if ctx.option("cost") is None and ctx.option("business_metric") is None:
        return {}
    pool, options = _queue_args(ctx)
    if queue.strategy not in THRESHOLD_STRATEGIES or _n_pool_classes(pool) != 2:
        return {}
    chosen = float(thresholds.threshold)
    return {
        "labeling_queue": labeling_queue(
            pool, random_state=ctx.random_state, threshold=chosen, **options
        )
    }


LABELING_QUEUE = Section(
    name="labeling_queue",
    title="Labeling queue",
    message="labeling queue",
    applies=_queue_reason,
    run=_run_queue,
    link=_link_queue_threshold,
    meta_json=lambda queue: {"labeling_queue_threshold": queue.threshold},
    note=(
        "Margin and hybrid queues of a binary pool rank the rows nearest the decision "
        "threshold first: the threshold the thresholds section chose when a cost or a "
        "business metric was given (each reason names it, as does "
        "meta.labeling_queue_threshold in the JSON), else the margin between the two most "
        "likely classes (0.5 for two)."
    ),
    tables=(
        Table(
            "t-labeling-queue",
            _table("labeling_queue"),
            [
                ("rank", "rank", "num"),
                ("id", "id", "text"),
                ("score", "score", "num"),
                ("reason", "why", "text"),
            ],
        ),
    ),
)


# ------------------------------------------------------------------------------- chain
def _run_chain(ctx: Context) -> Any:
    from toolkit.analysis.chain import chain_section

    return chain_section(ctx.option("chain"), ctx.p.y_true, random_state=ctx.random_state)


def _chain_rows(kind: str) -> Any:
    def frame(result: Any, results: Mapping[str, Any]) -> pd.DataFrame:
        return result.table[result.table["kind"] == kind]

    return frame


CHAIN = Section(
    name="chain",
    title="Chain analysis",
    nav=(("chain", "Chain"),),
    message="chain analysis (oracles, bootstrap)",
    applies=lambda ctx: "no chain was given" if ctx.option("chain") is None else None,
    run=_run_chain,
    meta_json=lambda chain: {"chain_summary": chain.summary()},
    tables=(
        Table(
            "t-chain",
            _chain_rows("single"),
            [
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
            ],
            heading="One stage replaced by its oracle",
            note=(
                "Later stages are re-run from the oracle's outputs; gain with a paired "
                "bootstrap 95% interval."
            ),
        ),
        Table(
            "t-ceiling",
            _chain_rows("cumulative"),
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
            heading="Ceiling table: stages 1..k replaced",
            filterable=False,
        ),
    ),
)

BUILTIN_SECTIONS = (
    METRICS,
    THRESHOLDS,
    CALIBRATION_FIX,
    LEAKAGE,
    SPLITS,
    SLICES,
    ERROR_PATTERNS,
    CLUSTERS,
    LABEL_ISSUES,
    LABELING_QUEUE,
    CHAIN,
    LEARNING_CURVE,
)
