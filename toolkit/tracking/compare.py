"""Read runs back: the runs table, stale-run repair, and the comparison of two runs."""

from __future__ import annotations

import json
import logging
import os
import socket
import tempfile
import time
from dataclasses import dataclass
from numbers import Integral
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from toolkit._json import to_python
from toolkit._result import Result
from toolkit._validation import STR_LIST, Interval, validate_params
from toolkit.data import Predictions
from toolkit.exceptions import ValidationError
from toolkit.tracking import _store

__all__ = ["RunComparison", "compare_runs", "list_runs", "load_predictions", "mark_stale_runs"]

logger = logging.getLogger(__name__)

RUN_COLUMNS = ["run_id", "experiment", "run_name", "status", "start", "duration_s"]
COMPARE_COLUMNS = ["kind", "name", "a", "b", "delta", "n_a", "n_b"]
#: A heartbeat older than this many intervals (plus a grace period) means the process died.
STALE_AFTER_INTERVALS = 3
STALE_GRACE_S = 60.0


def _experiments(client: Any, experiment: str | None) -> dict[str, str]:
    if experiment is not None:
        found = _store.call_with_retry(client.get_experiment_by_name, experiment)
        if found is None:
            raise ValidationError(f"experiment {experiment!r} does not exist")
        return {found.experiment_id: found.name}
    return {e.experiment_id: e.name for e in _store.call_with_retry(client.search_experiments)}


def _search(client: Any, experiments: dict[str, str], filter_string: str, limit: int) -> list:
    if not experiments:
        return []
    return _store.call_with_retry(
        client.search_runs,
        list(experiments),
        filter_string=filter_string,
        max_results=limit,
        order_by=["attributes.start_time DESC"],
    )


@validate_params(
    {
        "experiment": [str, None],
        "tracking_uri": [str, None],
        "max_results": [Interval(Integral, 1, None)],
        "n_metrics": [Interval(Integral, 0, None)],
    }
)
def list_runs(
    experiment: str | None = None,
    *,
    tracking_uri: str | None = None,
    max_results: int = 50,
    n_metrics: int = 4,
) -> pd.DataFrame:
    """The latest runs as a table: run, status, duration and key metrics.

    Parameters
    ----------
    experiment : str, default=None
        Experiment name; default every experiment.
    tracking_uri : str, default=None
    max_results : int, default=50
    n_metrics : int, default=4
        Metric columns shown: the metrics most runs have (``duration_s`` apart).

    Returns
    -------
    DataFrame
        ``run_id``, ``experiment``, ``run_name``, ``status``, ``start`` (UTC),
        ``duration_s``, then one column per key metric; newest first.
    """
    uri = _store.resolve_tracking_uri(tracking_uri)
    client = _store.get_client(uri)
    experiments = _experiments(client, experiment)
    runs = _search(client, experiments, "", max_results)
    counts: dict[str, int] = {}
    for run in runs:
        for key in run.data.metrics:
            if key != "duration_s":
                counts[key] = counts.get(key, 0) + 1
    keys = sorted(counts, key=lambda k: (-counts[k], k))[:n_metrics]
    rows = []
    for run in runs:
        info = run.info
        end = info.end_time or int(time.time() * 1000)
        row = {
            "run_id": info.run_id,
            "experiment": experiments.get(info.experiment_id, info.experiment_id),
            "run_name": info.run_name,
            "status": info.status,
            "start": pd.Timestamp(info.start_time, unit="ms", tz="UTC").floor("s"),
            "duration_s": run.data.metrics.get("duration_s", (end - info.start_time) / 1000),
        }
        for key in keys:
            row[key] = run.data.metrics.get(key, np.nan)
        rows.append(row)
    return pd.DataFrame(rows, columns=RUN_COLUMNS + keys)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@validate_params(
    {
        "experiment": [str, None],
        "tracking_uri": [str, None],
        "now_ms": [Interval(Integral, 0, None), None],
    }
)
def mark_stale_runs(
    experiment: str | None = None, *, tracking_uri: str | None = None, now_ms: int | None = None
) -> list[str]:
    """Mark RUNNING toolkit runs whose process died as FAILED.

    A run is stale when its process ran on this host and no longer exists, or when its
    heartbeat is older than three heartbeat intervals plus a minute. Runs not made by
    toolkit (no heartbeat tag) are left alone.

    Returns
    -------
    list of str
        The ids of the runs marked FAILED.
    """
    uri = _store.resolve_tracking_uri(tracking_uri)
    client = _store.get_client(uri)
    experiments = _experiments(client, experiment)
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    host = socket.gethostname()
    marked = []
    for run in _search(client, experiments, "attributes.status = 'RUNNING'", 10_000):
        tags = run.data.tags
        if "toolkit.heartbeat" not in tags:
            continue
        reason = None
        pid = int(tags.get("toolkit.pid", "0") or 0)
        if tags.get("toolkit.host") == host and pid and not _pid_alive(pid):
            reason = f"process {pid} on {host} no longer exists"
        else:
            interval = float(tags.get("toolkit.heartbeat_interval_s", "30"))
            age_s = (now_ms - int(tags["toolkit.heartbeat"])) / 1000
            if age_s > STALE_AFTER_INTERVALS * interval + STALE_GRACE_S:
                reason = f"no heartbeat for {age_s:.0f} s"
        if reason is None:
            continue
        _store.call_with_retry(
            client.set_tag, run.info.run_id, "toolkit.end_reason", f"stale: {reason}"
        )
        _store.call_with_retry(
            client.set_terminated,
            run.info.run_id,
            status="FAILED",
            end_time=int(tags["toolkit.heartbeat"]),
        )
        marked.append(run.info.run_id)
    return marked


@validate_params({"run_id": [str], "name": [str], "tracking_uri": [str, None]})
def load_predictions(
    run_id: str, name: str = "predictions", *, tracking_uri: str | None = None
) -> Predictions | None:
    """Rebuild the :class:`toolkit.Predictions` a run stored with ``run.log_predictions``.

    Returns None when the run has no such predictions.
    """
    uri = _store.resolve_tracking_uri(tracking_uri)
    client = _store.get_client(uri)
    run = _store.get_run(client, run_id)
    if f"toolkit.predictions.{name}" not in run.data.tags:
        return None
    with tempfile.TemporaryDirectory(prefix="toolkit-compare-") as tmp:
        folder = Path(client.download_artifacts(run_id, "predictions", tmp))
        frame = pd.read_parquet(folder / f"{name}.parquet")
        meta = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
    features = [c for c in frame.columns if c not in ("id", "y_true", "y_pred", "error")]
    features = [c for c in features if not c.startswith("p_")] if meta["classes"] else features
    proba = [f"p_{c}" for c in meta["classes"]] if meta["classes"] else None
    if proba and not all(c in frame.columns for c in proba):
        proba = None
    return Predictions.from_frame(
        frame,
        target="y_true",
        pred="y_pred",
        proba=proba,
        id="id",
        features=features,
        classes=meta["classes"],
        task=meta["task"],
        tolerance=meta["tolerance"],
    )


@dataclass(frozen=True, repr=False)
class RunComparison(Result):
    """What changed from run A to run B (:func:`compare_runs`).

    Attributes
    ----------
    table : DataFrame
        Columns ``kind`` ("param", "metric" or "slice"), ``name``, ``a``, ``b``,
        ``delta``, ``n_a``, ``n_b``; see :func:`compare_runs`.
    run_a, run_b : str
        The two run ids.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame([["metric", "accuracy", 0.8, 0.85, 0.05, None, None]],
    ...                      columns=COMPARE_COLUMNS)
    >>> RunComparison(table, run_a="a1", run_b="b2")
    RunComparison(1 rows, run_a='a1', run_b='b2')
    """

    run_a: str
    run_b: str


@validate_params(
    {
        "run_a": [str],
        "run_b": [str],
        "tracking_uri": [str, None],
        "slices": [STR_LIST, None],
    }
)
def compare_runs(
    run_a: str,
    run_b: str,
    *,
    tracking_uri: str | None = None,
    slices: list[str] | None = None,
) -> RunComparison:
    """What changed from run A to run B: params, metrics and slice error rates.

    Parameters
    ----------
    run_a, run_b : str
        Run ids.
    tracking_uri : str, default=None
    slices : list of str, default=None
        Columns to slice by when both runs logged predictions; default the feature
        columns both have.

    Returns
    -------
    RunComparison
        ``table`` has columns ``kind`` ("param", "metric" or "slice"), ``name``, ``a``,
        ``b``, ``delta``, ``n_a``, ``n_b`` (rows of a slice in each run; None for params
        and metrics). Params: only those that differ (missing is None), ``delta`` None.
        Metrics: every metric of either run (last value), ``delta = b - a``. Slices
        (when both runs logged predictions): the error rate of each slice of
        :func:`toolkit.slice_metrics` in both runs, ``delta`` = (b - a) in percentage
        points (positive: B is worse). The fields ``run_a`` and ``run_b`` are the ids.
    """
    uri = _store.resolve_tracking_uri(tracking_uri)
    client = _store.get_client(uri)
    a, b = _store.get_run(client, run_a), _store.get_run(client, run_b)
    rows: list[dict[str, Any]] = []
    for key in sorted(set(a.data.params) | set(b.data.params)):
        va, vb = a.data.params.get(key), b.data.params.get(key)
        if va != vb:
            rows.append(
                {
                    "kind": "param",
                    "name": key,
                    "a": va,
                    "b": vb,
                    "delta": None,
                    "n_a": None,
                    "n_b": None,
                }
            )
    for key in sorted(set(a.data.metrics) | set(b.data.metrics)):
        va, vb = a.data.metrics.get(key), b.data.metrics.get(key)
        delta = None if va is None or vb is None else vb - va
        rows.append(
            {
                "kind": "metric",
                "name": key,
                "a": va,
                "b": vb,
                "delta": delta,
                "n_a": None,
                "n_b": None,
            }
        )
    rows.extend(_slice_rows(run_a, run_b, uri, slices))
    return RunComparison(pd.DataFrame(rows, columns=COMPARE_COLUMNS), run_a=run_a, run_b=run_b)


def _slice_rows(run_a: str, run_b: str, uri: str, slices: list[str] | None) -> list[dict]:
    from toolkit.analysis.slices import slice_metrics

    pa = load_predictions(run_a, tracking_uri=uri)
    pb = load_predictions(run_b, tracking_uri=uri)
    if pa is None or pb is None:
        return []
    common = [c for c in pa.feature_names if c in pb.feature_names]
    columns = common if slices is None else list(slices)
    missing = [c for c in columns if c not in common]
    if missing:
        raise ValidationError(
            f"slice columns {missing} are not in the predictions of both runs; both have {common}"
        )
    if not columns:
        return []
    ta = slice_metrics(pa, by=columns).table.set_index("slice")
    tb = slice_metrics(pb, by=columns).table.set_index("slice")
    rows = []
    for label in ta.index.union(tb.index, sort=False):
        va = to_python(ta.at[label, "error_rate"]) if label in ta.index else None
        vb = to_python(tb.at[label, "error_rate"]) if label in tb.index else None
        delta = None if va is None or vb is None else (vb - va) * 100.0
        na = to_python(ta.at[label, "n"]) if label in ta.index else None
        nb = to_python(tb.at[label, "n"]) if label in tb.index else None
        rows.append(
            {"kind": "slice", "name": label, "a": va, "b": vb, "delta": delta, "n_a": na, "n_b": nb}
        )
    return rows
