"""`diagnose`: run every analysis the inputs allow and keep why the others were skipped."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from toolkit.analysis.metrics import Metrics, compute_metrics, frame_records, json_safe
from toolkit.data import Predictions
from toolkit.exceptions import (
    InvalidLabelError,
    NotApplicableError,
    ToolkitTypeError,
    ValidationError,
)

__all__ = ["SECTIONS", "Diagnosis", "diagnose"]

logger = logging.getLogger(__name__)

#: Rows of the label-issue table whose features the report shows (the JSON has every row).
LABEL_ISSUE_FEATURE_ROWS = 200
#: What ``progress`` is told as each section starts.
STEP_MESSAGES = {
    "metrics": "metrics and baselines",
    "slices": "sliced metrics",
    "error_patterns": "error patterns (lattice search)",
    "clusters": "error clusters (UMAP map, HDBSCAN; the first call compiles numba)",
    "label_issues": "label issues (cleanlab)",
    "labeling_queue": "labeling queue",
    "chain": "chain analysis (oracles, bootstrap)",
}
#: Fewer rows than this are not clustered (UMAP and HDBSCAN need some density).
MIN_CLUSTER_ROWS = 50

#: Every section of a diagnosis, in the order of the JSON and the report.
SECTIONS = (
    "metrics",
    "slices",
    "error_patterns",
    "clusters",
    "label_issues",
    "labeling_queue",
    "chain",
)


@dataclass(frozen=True)
class Diagnosis:
    """Result of :func:`diagnose`. A section that did not run is None, with the reason
    in ``skipped``.

    Attributes
    ----------
    meta : dict
        toolkit version, creation time, n, task, classes, random_state, run id and
        ``skipped`` (section -> reason).
    metrics : Metrics or None
    slices, error_patterns, label_issues, labeling_queue, chain : DataFrame or None
        ``error_patterns`` (and ``clusters.table``) carry ``label_issue_share`` when
        label issues were found: the share of each group's errors that are likely label
        errors ("the labels are bad here" rather than "the model is weak here").
    clusters : ErrorClusters or None
    overlap : DataFrame or None
        Row Jaccard between the top clusters and the top error patterns
        (:func:`toolkit.analysis.clusters.cluster_pattern_overlap`); in the JSON as
        ``clusters.pattern_overlap``.
    extras : dict
        Not serialised: ``runtime_s`` per section, ``label_issue_features`` (features of
        the worst label issues, for the report).
    """

    meta: dict[str, Any]
    metrics: Metrics | None = None
    slices: pd.DataFrame | None = None
    error_patterns: pd.DataFrame | None = None
    clusters: Any = None
    label_issues: pd.DataFrame | None = None
    labeling_queue: pd.DataFrame | None = None
    chain: pd.DataFrame | None = None
    overlap: pd.DataFrame | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def skipped(self) -> dict[str, str]:
        return dict(self.meta.get("skipped", {}))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict with the top-level keys of DESIGN.md."""
        out: dict[str, Any] = {"meta": json_safe(self.meta)}
        if self.chain is not None:
            out["meta"]["chain_summary"] = json_safe(dict(self.chain.attrs))
        for name in SECTIONS:  # the order of the JSON
            value = getattr(self, name)
            if name == "metrics":
                out["metrics"] = None if value is None else value.to_dict()
                out["baselines"] = None if value is None else frame_records(value.baselines)
            elif name == "clusters":
                out["clusters"] = None if value is None else value.to_dict()
                if value is not None:
                    out["clusters"]["pattern_overlap"] = (
                        None if self.overlap is None else frame_records(self.overlap)
                    )
            else:
                out[name] = None if value is None else frame_records(value)
        return out

    def to_json(self, path: str | Path | None = None, *, indent: int | None = 2) -> str:
        """The JSON text; also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=indent, allow_nan=False, ensure_ascii=False)
        if path is not None:
            target = Path(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text + "\n", encoding="utf-8")
        return text

    def to_html(self, path: str | Path | None = None, *, title: str | None = None) -> str:
        """The self-contained offline HTML report; also written to ``path`` when given."""
        # The one place analysis reaches into the report layer, imported on use only
        # (like scikit-learn's Display objects importing matplotlib inside plot()).
        from toolkit.report import render_html

        html = render_html(self, title=title)
        if path is not None:
            target = Path(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(html, encoding="utf-8")
        return html

    def _repr_html_(self) -> str:
        # the report is a whole page with its own CSS: shown in a frame, it cannot
        # restyle the notebook around it
        from toolkit.report import render_notebook

        return render_notebook(self)


def diagnose(
    p: Predictions,
    *,
    slices: Sequence[str] | None = None,
    chain: Any = None,
    pool: Any = None,
    embeddings: Any = None,
    random_state: int = 0,
    sections: Sequence[str] | None = None,
    proba_source: str | None = None,
    run_id: str | None = None,
    created: str | None = None,
    meta: dict[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Diagnosis:
    """Run every analysis that ``p`` (and ``chain``, ``pool``) allow.

    Parameters
    ----------
    p : Predictions
    slices : list of str, default=None
        Columns for sliced metrics; default all feature columns.
    chain : DataFrame or mapping, default=None
        A result of :func:`toolkit.analyze_chain`, or a mapping with its arguments
        (``stages``, ``inputs``, ``oracles`` and optionally ``metric``, ``n_boot``;
        ``y_true`` defaults to ``p.y_true``).
    pool : default=None
        Unlabeled rows to rank for labeling: anything :func:`toolkit.labeling_queue`
        takes (a Predictions, a LabelingPool, probabilities), or a mapping
        ``{"pool": ..., "budget": ..., "strategy": ...}``. Strategies that need labeled
        neighbours use ``p`` as the labeled set.
    embeddings : array-like of shape (n_samples, n_dims), default=None
        Representation for the error clusters (default ``p.embeddings``, else the
        encoded features).
    random_state : int, default=0
        Passed to every random step; same inputs and seed give the same JSON apart
        from ``meta.created``.
    sections : list of str, default=None
        Restrict to these sections (names of :data:`SECTIONS`).
    proba_source : {"out_of_sample", "in_sample", None}, default=None
        Where ``p.proba`` came from, when known (label issues need out-of-sample ones).
    run_id : str, default=None
        MLflow run the diagnosis belongs to, recorded in ``meta``.
    created : str, default=None
        ISO timestamp for ``meta.created`` (default: now, UTC).
    meta : dict, default=None
        Extra entries for ``meta`` (e.g. the data set and model), shown in the report.
    progress : callable, default=None
        Called with a short message as each section starts (the CLI shows them on a
        terminal); nothing is printed otherwise.

    Returns
    -------
    Diagnosis
        A section that could not run is None, and ``meta["skipped"]`` says why.
    """
    from toolkit import __version__

    if not isinstance(p, Predictions):
        raise ToolkitTypeError(f"p must be a toolkit.Predictions, got {type(p).__name__}")
    _check_options(random_state, sections, proba_source, meta)
    wanted = list(SECTIONS if sections is None else sections)
    unknown = [s for s in wanted if s not in SECTIONS]
    if unknown:
        raise ValidationError(f"unknown section(s) {unknown}; sections are {list(SECTIONS)}")

    skipped: dict[str, str] = {}
    runtime: dict[str, float] = {}
    results: dict[str, Any] = {}

    def run(name: str, reason: str | None, fn: Callable[[], Any], *, optional=()) -> None:
        """Run one section; ``optional`` errors mean "cannot run here", recorded as skipped."""
        if name not in wanted:
            skipped[name] = "not requested"
            return
        if reason is not None:
            skipped[name] = reason
            return
        if progress is not None:
            progress(STEP_MESSAGES.get(name, name))
        started = time.perf_counter()
        try:
            results[name] = fn()
        except optional as exc:
            skipped[name] = str(exc)
        finally:
            runtime[name] = round(time.perf_counter() - started, 3)

    no_features = "no feature columns were given" if not p.feature_names else None
    run("metrics", None, lambda: compute_metrics(p, random_state=random_state))
    run("slices", no_features, lambda: _slices(p, slices))
    run("error_patterns", no_features, lambda: _patterns(p, random_state))
    run(
        "clusters",
        _cluster_reason(p, embeddings),
        lambda: _clusters(p, embeddings, random_state),
        optional=(NotApplicableError,),
    )
    run(
        "label_issues",
        _label_reason(p),
        lambda: _label_issues(p, proba_source),
        optional=(NotApplicableError, InvalidLabelError),
    )
    run(
        "labeling_queue",
        "no unlabeled pool was given" if pool is None else None,
        lambda: _queue(pool, p, random_state),
    )
    run(
        "chain",
        "no chain was given" if chain is None else None,
        lambda: _chain(chain, p, random_state),
    )

    overlap = None
    clusters = results.get("clusters")
    patterns = results.get("error_patterns")
    issues = results.get("label_issues")
    extras: dict[str, Any] = {"runtime_s": runtime}
    if clusters is not None and patterns is not None and len(patterns) and len(clusters.table):
        from toolkit.analysis.clusters import cluster_pattern_overlap

        overlap = cluster_pattern_overlap(clusters, patterns, p)
    if issues is not None:
        import dataclasses

        if patterns is not None:
            results["error_patterns"] = _with_share(patterns, issues, p, patterns)
        if clusters is not None:
            table = _with_share(clusters.table, issues, p, clusters)
            results["clusters"] = dataclasses.replace(clusters, table=table)
        extras["label_issue_features"] = _issue_features(issues, p)

    info = {
        "toolkit_version": __version__,
        "created": created or pd.Timestamp.now(tz="UTC").isoformat(),
        "n": p.n,
        "task": p.task,
        "classes": None if p.classes is None else json_safe(list(p.classes)),
        "error_rate": float(p.errors.mean()),
        "tolerance": p.tolerance,
        "random_state": random_state,
        "run_id": run_id,
        "features": p.feature_names,
        "skipped": skipped,
        **(meta or {}),
    }
    # timings vary from run to run, so they stay out of the JSON (same inputs, same JSON)
    return Diagnosis(meta=info, overlap=overlap, extras=extras, **results)


#: Keys of ``meta`` that diagnose fills itself.
RESERVED_META = (
    "toolkit_version",
    "created",
    "n",
    "task",
    "classes",
    "error_rate",
    "tolerance",
    "random_state",
    "run_id",
    "features",
    "skipped",
    "chain_summary",
)


def _check_options(random_state: Any, sections: Any, proba_source: Any, meta: Any) -> None:
    valid_seed = isinstance(random_state, int | np.integer) and not isinstance(random_state, bool)
    if not valid_seed or not 0 <= int(random_state) < 2**32:
        raise ValidationError(
            f"random_state must be an integer in [0, 2**32 - 1], got {random_state!r}"
        )
    if isinstance(sections, str):
        raise ToolkitTypeError(
            f"sections must be a list of section names, got the string {sections!r}; "
            f"e.g. sections=[{sections!r}]"
        )
    if proba_source not in (None, "out_of_sample", "in_sample"):
        raise ValidationError(
            f"proba_source must be None, 'out_of_sample' or 'in_sample', got {proba_source!r}"
        )
    if meta is not None:
        if not isinstance(meta, Mapping):
            raise ToolkitTypeError(f"meta must be a dict, got {type(meta).__name__}")
        taken = sorted(set(meta) & set(RESERVED_META))
        if taken:
            raise ValidationError(
                f"meta key(s) {taken} are filled by diagnose itself; use other names"
            )


def _cluster_reason(p: Predictions, embeddings: Any) -> str | None:
    if embeddings is None and p.embeddings is None and not p.feature_names:
        return "no embeddings or feature columns to cluster on"
    if p.n < MIN_CLUSTER_ROWS:
        return f"only {p.n} rows; clustering needs at least {MIN_CLUSTER_ROWS}"
    if not p.errors.any():
        return "the model makes no errors"
    return None


def _clusters(p: Predictions, embeddings: Any, random_state: int) -> Any:
    from toolkit.analysis.clusters import cluster_errors

    return cluster_errors(p, embeddings=embeddings, random_state=random_state)


def _label_reason(p: Predictions) -> str | None:
    if not p.is_classification:
        return "label issues need class probabilities; this is a regression task"
    if p.proba is None:
        return "label issues need class probabilities; only predictions were given"
    return None


def _label_issues(p: Predictions, proba_source: str | None) -> pd.DataFrame:
    from toolkit.analysis.labels import find_label_issues

    kwargs = {} if proba_source is None else {"proba_source": proba_source}
    return find_label_issues(p, **kwargs)


def _with_share(table: pd.DataFrame, issues: pd.DataFrame, p: Predictions, groups: Any):
    from toolkit.analysis.labels import label_issue_share

    out = table.copy()
    out["label_issue_share"] = label_issue_share(issues, p, groups)
    out.attrs = dict(table.attrs)
    return out


def _issue_features(issues: pd.DataFrame, p: Predictions) -> pd.DataFrame | None:
    """The worst label issues with their rows' features, for the report."""
    if p.features is None:
        return None
    worst = issues[issues["is_issue"].astype(bool)].head(LABEL_ISSUE_FEATURE_ROWS)
    position = pd.Series(np.arange(p.n), index=pd.Index(p.ids.tolist()))
    rows = position.loc[worst["id"].tolist()].to_numpy()
    feats = p.features.iloc[rows].reset_index(drop=True)
    feats = feats.loc[:, [c for c in feats.columns if c not in worst.columns]]
    return pd.concat([worst.reset_index(drop=True), feats], axis=1)


def _queue(pool: Any, p: Predictions, random_state: int) -> pd.DataFrame:
    from toolkit.analysis.labeling import labeling_queue

    options: dict[str, Any] = {}
    if isinstance(pool, Mapping):
        allowed = {"pool", "budget", "strategy", "n_neighbors"}
        extra = sorted(set(pool) - allowed)
        if "pool" not in pool or extra:
            raise ValidationError(
                f"pool mapping needs key 'pool' and takes only {sorted(allowed)}; "
                f"got keys {sorted(pool)}"
            )
        options = {k: v for k, v in pool.items() if k != "pool"}
        pool = pool["pool"]
    if options.get("strategy") in ("error_neighbourhood", "hybrid"):
        options["labeled"] = p
    return labeling_queue(pool, random_state=random_state, **options)


def _chain(chain: Any, p: Predictions, random_state: int) -> pd.DataFrame:
    from toolkit.analysis.chain import chain_section

    return chain_section(chain, p.y_true, random_state=random_state)


def _slices(p: Predictions, columns: Sequence[str] | None) -> pd.DataFrame:
    from toolkit.analysis.slices import slice_metrics

    return slice_metrics(p, by=columns)


def _patterns(p: Predictions, random_state: int) -> pd.DataFrame:
    from toolkit.analysis.patterns import find_error_patterns

    return find_error_patterns(p, random_state=random_state)
