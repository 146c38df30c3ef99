"""`diagnose`: run every analysis the inputs allow and keep why the others were skipped."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from toolkit.analysis.metrics import Metrics, compute_metrics, frame_records, json_safe
from toolkit.data import Predictions
from toolkit.exceptions import ToolkitTypeError, ValidationError

__all__ = ["SECTIONS", "Diagnosis", "diagnose"]

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
    clusters : object with ``to_dict()`` or None
    extras : dict
        Not serialised: ``runtime_s`` per section.
    """

    meta: dict[str, Any]
    metrics: Metrics | None = None
    slices: pd.DataFrame | None = None
    error_patterns: pd.DataFrame | None = None
    clusters: Any = None
    label_issues: pd.DataFrame | None = None
    labeling_queue: pd.DataFrame | None = None
    chain: pd.DataFrame | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def skipped(self) -> dict[str, str]:
        return dict(self.meta.get("skipped", {}))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict with the top-level keys of DESIGN.md."""
        out: dict[str, Any] = {"meta": json_safe(self.meta)}
        if self.metrics is None:
            out["metrics"] = None
            out["baselines"] = None
        else:
            out["metrics"] = self.metrics.to_dict()
            out["baselines"] = frame_records(self.metrics.baselines)
        for name in ("slices", "error_patterns", "label_issues", "labeling_queue", "chain"):
            value = getattr(self, name)
            out[name] = None if value is None else frame_records(value)
        out["clusters"] = None if self.clusters is None else self.clusters.to_dict()
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
        return self.to_html()


def diagnose(
    p: Predictions,
    *,
    slices: Sequence[str] | None = None,
    chain: Any = None,
    pool: Any = None,
    random_state: int = 0,
    sections: Sequence[str] | None = None,
    run_id: str | None = None,
    created: str | None = None,
    meta: dict[str, Any] | None = None,
) -> Diagnosis:
    """Run every analysis that ``p`` (and ``chain``, ``pool``) allow.

    Parameters
    ----------
    p : Predictions
    slices : list of str, default=None
        Columns for sliced metrics; default all feature columns.
    chain : default=None
        Not yet analysed by this version (recorded as skipped).
    pool : default=None
        Not yet analysed by this version (recorded as skipped).
    random_state : int, default=0
        Passed to every random step; same inputs and seed give the same JSON apart
        from ``meta.created``.
    sections : list of str, default=None
        Restrict to these sections (names of :data:`SECTIONS`).
    run_id : str, default=None
        MLflow run the diagnosis belongs to, recorded in ``meta``.
    created : str, default=None
        ISO timestamp for ``meta.created`` (default: now, UTC).
    meta : dict, default=None
        Extra entries for ``meta`` (e.g. the data set and model), shown in the report.

    Returns
    -------
    Diagnosis
    """
    from toolkit import __version__

    if not isinstance(p, Predictions):
        raise ToolkitTypeError(f"p must be a toolkit.Predictions, got {type(p).__name__}")
    wanted = list(SECTIONS if sections is None else sections)
    unknown = [s for s in wanted if s not in SECTIONS]
    if unknown:
        raise ValidationError(f"unknown section(s) {unknown}; sections are {list(SECTIONS)}")

    skipped: dict[str, str] = {}
    runtime: dict[str, float] = {}
    results: dict[str, Any] = {}

    def run(name: str, reason: str | None, fn: Callable[[], Any]) -> None:
        if name not in wanted:
            skipped[name] = "not requested"
            return
        if reason is not None:
            skipped[name] = reason
            return
        started = time.perf_counter()
        results[name] = fn()
        runtime[name] = round(time.perf_counter() - started, 3)

    no_features = "no feature columns were given" if not p.feature_names else None
    run("metrics", None, lambda: compute_metrics(p, random_state=random_state))
    run("slices", no_features, lambda: _slices(p, slices))
    run("error_patterns", no_features, lambda: _patterns(p, random_state))
    run("clusters", "error clusters are not available in this version", lambda: None)
    run("label_issues", "label issues are not available in this version", lambda: None)
    run(
        "labeling_queue",
        "no unlabeled pool was given" if pool is None else "not available in this version",
        lambda: None,
    )
    run(
        "chain",
        "no chain was given" if chain is None else "not available in this version",
        lambda: None,
    )

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
    return Diagnosis(meta=info, extras={"runtime_s": runtime}, **results)


def _slices(p: Predictions, columns: Sequence[str] | None) -> pd.DataFrame:
    from toolkit.analysis.slices import slice_metrics

    return slice_metrics(p, by=columns)


def _patterns(p: Predictions, random_state: int) -> pd.DataFrame:
    from toolkit.analysis.patterns import find_error_patterns

    return find_error_patterns(p, random_state=random_state)
