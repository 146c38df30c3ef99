"""Read runs back: the runs table, stale-run repair, and the comparison of two runs.

Reading never creates a store: every function here first checks that the store exists
(:func:`toolkit.tracking._store.require_existing_store`).

Two runs' predictions are compared on the rows both predicted (same row id, same true
label), so every difference is paired: run B's error rate minus run A's, in points, with
Newcombe's square-and-add 95% interval for paired proportions (Wilson intervals of each
rate combined with their correlation, as recommended by Fagerland, Lydersen and Laake,
2014) and an exact McNemar test on the discordant rows (those one run got right and the
other wrong). Slice p-values are Benjamini–Hochberg corrected across every slice with at
least ``min_slice_rows`` paired rows; smaller slices are not judged.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import socket
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from toolkit._json import to_python
from toolkit._result import Result
from toolkit._validation import BOOLEAN, STR_LIST, Interval, validate_params
from toolkit.data import Predictions
from toolkit.exceptions import ValidationError
from toolkit.tracking import _recovery, _store
from toolkit.tracking.errors import RunNotFoundError

__all__ = [
    "RunComparison",
    "compare_runs",
    "list_runs",
    "load_predictions",
    "mark_stale_runs",
    "resolve_run_id",
]

logger = logging.getLogger(__name__)

RUN_COLUMNS = ["run_id", "experiment", "run_name", "status", "start", "duration_s"]
COMPARE_COLUMNS = (
    "kind name a b delta n_a n_b n_paired fixed broken ci_low ci_high p_value q_value significant"
).split()
#: The ``name`` of the comparison row over every paired row.
ALL_ROWS = "all rows"
#: A heartbeat older than this many intervals (plus a grace period) means the process died.
STALE_AFTER_INTERVALS = 3
STALE_GRACE_S = 60.0
#: Candidates an ambiguous run id prefix lists.
MAX_CANDIDATES = 10
#: MLflow run ids are 32 hex digits; a prefix is checked before it enters a search filter.
_RUN_ID = re.compile(r"[0-9a-fA-F]{1,32}")
#: MLflow draws a tqdm bar on stderr for every artifact download unless this is false.
_PROGRESS_BAR_ENV = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"


def _open_store(tracking_uri: str | None) -> tuple[str, Any]:
    """The store's absolute URI and a client; an error, and no file, when it does not exist."""
    uri = _store.require_existing_store(tracking_uri)
    return uri, _store.get_client(uri)


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


def _resolve(client: Any, uri: str, run_id: str) -> Any:
    """The run whose id is ``run_id`` or, failing that, the one run whose id starts with it."""
    prefix = run_id.strip().lower()
    if not _RUN_ID.fullmatch(prefix):
        raise ValidationError(
            f"run id {run_id!r} is not a run id or a prefix of one: expected up to 32 hex "
            "digits, such as the 8 that `toolkit runs` and the demo print"
        )
    if len(prefix) == 32:
        return _store.get_run(client, prefix)
    found = _search(
        client,
        _experiments(client, None),
        f"attributes.run_id LIKE '{prefix}%'",
        MAX_CANDIDATES + 1,
    )
    if not found:
        raise RunNotFoundError(f"run {run_id!r} not found: no run id starts with it in {uri}")
    if len(found) > 1:
        listed = ", ".join(f"{r.info.run_id} ({r.info.run_name})" for r in found[:MAX_CANDIDATES])
        more = " and more" if len(found) > MAX_CANDIDATES else ""
        raise ValidationError(
            f"run id prefix {run_id!r} is ambiguous: it starts {len(found[:MAX_CANDIDATES])}"
            f"{more} runs: {listed}{more}; give more digits"
        )
    return found[0]


@validate_params({"run_id": [str], "tracking_uri": [str, None]})
def resolve_run_id(run_id: str, *, tracking_uri: str | None = None) -> str:
    """The full id of the run that ``run_id`` names: the id itself or a unique prefix.

    Raises :class:`RunNotFoundError` when no run id starts with ``run_id``, and
    ``ValidationError`` when it is not hex digits or when several runs start with it
    (the message lists them).
    """
    uri, client = _open_store(tracking_uri)
    return _resolve(client, uri, run_id).info.run_id


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
        Must name an existing store: reading never creates one.
    max_results : int, default=50
    n_metrics : int, default=4
        Metric columns shown: the metrics most runs have (``duration_s`` apart).

    Returns
    -------
    DataFrame
        ``run_id``, ``experiment``, ``run_name``, ``status``, ``start`` (UTC),
        ``duration_s``, then one column per key metric; newest first.
    """
    _, client = _open_store(tracking_uri)
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

    First the journals that dead processes left for runs of this store are replayed:
    what those runs logged and had not sent reaches the store, and each is marked
    FAILED (see :mod:`toolkit.tracking._journal`). Then a run is stale when its process ran
    on this host and no longer exists, or when its heartbeat is older than three heartbeat
    intervals plus a minute. Runs not made by toolkit (no heartbeat tag) are left alone.

    Returns
    -------
    list of str
        The ids of the runs marked FAILED (by a journal's replay too).
    """
    uri, client = _open_store(tracking_uri)
    experiments = _experiments(client, experiment)
    replayed = [
        r.run_id
        for r in _recovery.replay_orphans(uri)
        if r.status == "FAILED" and r.tracking_uri == uri
    ]
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
    return [*replayed, *marked]


@contextlib.contextmanager
def _no_progress_bars() -> Iterator[None]:
    """Keep MLflow's download bars off stderr, unless the user set the variable."""
    if _PROGRESS_BAR_ENV in os.environ:
        yield
        return
    os.environ[_PROGRESS_BAR_ENV] = "false"
    try:
        yield
    finally:
        os.environ.pop(_PROGRESS_BAR_ENV, None)


def _load_predictions(client: Any, run: Any, name: str) -> Predictions | None:
    if f"toolkit.predictions.{name}" not in run.data.tags:
        return None
    run_id = run.info.run_id
    with tempfile.TemporaryDirectory(prefix="toolkit-compare-") as tmp, _no_progress_bars():
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


@validate_params({"run_id": [str], "name": [str], "tracking_uri": [str, None]})
def load_predictions(
    run_id: str, name: str = "predictions", *, tracking_uri: str | None = None
) -> Predictions | None:
    """Rebuild the :class:`toolkit.Predictions` a run stored with ``run.log_predictions``.

    ``run_id`` may be a unique prefix. Returns None when the run has no such predictions.
    """
    uri, client = _open_store(tracking_uri)
    return _load_predictions(client, _resolve(client, uri, run_id), name)


def _paired_stats(
    n: np.ndarray, both: np.ndarray, fixed: np.ndarray, broken: np.ndarray
) -> dict[str, np.ndarray]:
    """Vectorised over groups: error rates, difference (points), Newcombe interval, McNemar.

    With rows "B wrong / B right" and columns "A wrong / A right" the paired table is
    ``[[both, broken], [fixed, neither]]``; B's error rate is the first row's share, A's
    the first column's. The interval is Newcombe's square-and-add with the correlation
    term of Fagerland, Lydersen & Laake (2014): (ad - bc - n/2) when ad - bc > n/2, 0 when
    it is in [0, n/2], ad - bc when negative, over the square root of the margins'
    product (0 when a margin is empty). Groups with ``n == 0`` get NaN.
    """
    from toolkit.analysis._stats import wilson_interval

    n = np.asarray(n, dtype=float)
    both, fixed, broken = (np.asarray(x, dtype=float) for x in (both, fixed, broken))
    neither = n - both - fixed - broken
    wrong_b, wrong_a = both + broken, both + fixed
    with np.errstate(invalid="ignore", divide="ignore"):
        rate_b, rate_a = wrong_b / n, wrong_a / n
        low_b, high_b = wilson_interval(wrong_b, n)
        low_a, high_a = wilson_interval(wrong_a, n)
        margins = wrong_b * (n - wrong_b) * wrong_a * (n - wrong_a)
        cross = both * neither - broken * fixed
        numerator = np.where(cross > n / 2, cross - n / 2, np.where(cross < 0, cross, 0.0))
        psi = np.where(margins > 0, numerator / np.sqrt(margins), 0.0)
        delta = rate_b - rate_a

        def half(x: np.ndarray, y: np.ndarray) -> np.ndarray:
            return np.sqrt(np.maximum(x**2 + y**2 - 2 * psi * x * y, 0.0))

        lower = delta - half(rate_b - low_b, high_a - rate_a)
        upper = delta + half(rate_a - low_a, high_b - rate_b)
    discordant = fixed + broken
    p_value = np.minimum(1.0, 2.0 * stats.binom.cdf(np.minimum(fixed, broken), discordant, 0.5))
    p_value = np.where(discordant > 0, p_value, 1.0)
    empty = n == 0

    def defined(values: np.ndarray) -> np.ndarray:
        return np.where(empty, np.nan, values)

    return {
        "a": defined(rate_a),
        "b": defined(rate_b),
        "delta": defined(delta * 100.0),
        "ci_low": defined(np.clip(lower, -1.0, 1.0) * 100.0),
        "ci_high": defined(np.clip(upper, -1.0, 1.0) * 100.0),
        "p_value": defined(p_value),
        "n": n.astype(np.int64),
        "fixed": fixed.astype(np.int64),
        "broken": broken.astype(np.int64),
    }


@dataclass(frozen=True, repr=False, eq=False)
class RunComparison(Result):
    """What changed from run A to run B (:func:`compare_runs`).

    Attributes
    ----------
    table : DataFrame
        One row per param, metric, the paired error rate over all rows and per slice;
        the columns are described in :func:`compare_runs`.
    run_a, run_b : str
        The two full run ids.
    run_name_a, run_name_b : str or None
        Their run names.
    alpha : float
        False discovery rate of ``significant`` (slices) and level of the overall test.
    min_slice_rows : int
        Slices with fewer paired rows are not judged (no p-value, never significant).

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame([["metric", "accuracy", 0.8, 0.85, 0.05] + [None] * 10],
    ...                      columns=COMPARE_COLUMNS)
    >>> RunComparison(table, run_a="a1", run_b="b2", run_name_a=None, run_name_b=None,
    ...               alpha=0.05, min_slice_rows=30)  # doctest: +NORMALIZE_WHITESPACE
    RunComparison(1 rows, run_a='a1', run_b='b2', run_name_a=None, run_name_b=None,
                  alpha=0.05, min_slice_rows=30)
    """

    run_a: str
    run_b: str
    run_name_a: str | None
    run_name_b: str | None
    alpha: float
    min_slice_rows: int

    def rows(self, kind: str) -> pd.DataFrame:
        """The table's rows of one ``kind``: "param", "metric", "overall" or "slice"."""
        return self.table[self.table["kind"] == kind]

    @property
    def overall(self) -> dict[str, Any] | None:
        """The paired comparison over every row both runs predicted, or None without it."""
        rows = self.rows("overall")
        return None if rows.empty else {k: to_python(v) for k, v in rows.iloc[0].items()}

    @property
    def n_too_small(self) -> int:
        """Slices with fewer than ``min_slice_rows`` paired rows: too small to judge."""
        slices = self.rows("slice")
        return int((slices["n_paired"].astype(float) < self.min_slice_rows).sum())

    def regressions(self, max_regression: float) -> pd.DataFrame:
        """The slices where B is significantly worse than A by more than ``max_regression``
        percentage points (``significant`` and ``delta > max_regression``), worst first."""
        slices = self.rows("slice")
        worse = slices["significant"].astype(bool) & (
            slices["delta"].astype(float) > max_regression
        )
        return slices[worse].sort_values("delta", ascending=False)


_COMPARE_PARAMS = {
    "run_a": [str],
    "run_b": [str],
    "tracking_uri": [str, None],
    "slices": [STR_LIST, None],
    "all_params": [BOOLEAN],
    "min_slice_rows": [Interval(Integral, 1, None)],
    "alpha": [Interval(Real, 0, 1, closed="neither")],
}


@validate_params(_COMPARE_PARAMS)
def compare_runs(
    run_a: str,
    run_b: str,
    *,
    tracking_uri: str | None = None,
    slices: list[str] | None = None,
    all_params: bool = False,
    min_slice_rows: int = 30,
    alpha: float = 0.05,
) -> RunComparison:
    """What changed from run A to run B: params, metrics, and paired error rates.

    When both runs logged predictions (``run.log_predictions``), their rows are matched
    by id; rows with the same id and the same true label are *paired*, and every error
    rate below is measured on the paired rows, overall and per slice (see the module
    docstring for the interval and the test).

    Parameters
    ----------
    run_a, run_b : str
        Run ids or unique prefixes of them (see :func:`resolve_run_id`).
    tracking_uri : str, default=None
        Must name an existing store: comparing never creates one.
    slices : list of str, default=None
        Feature columns to slice by; default every feature column both runs have.
        Numeric columns are cut at quantiles as in :func:`toolkit.slice_metrics`.
    all_params : bool, default=False
        Also list params with the same value in both runs.
    min_slice_rows : int, default=30
        Slices with fewer paired rows are not judged: no p-value, never significant.
    alpha : float in (0, 1), default=0.05
        False discovery rate across judged slices (and level of the overall test).

    Returns
    -------
    RunComparison
        ``table`` columns: ``kind`` ("param", "metric", "overall" or "slice"),
        ``name``, ``a``, ``b``, ``delta``, ``n_a``, ``n_b``, ``n_paired``, ``fixed``,
        ``broken``, ``ci_low``, ``ci_high``, ``p_value``, ``q_value``, ``significant``.
        Params: those that differ (a missing one is None; all with ``all_params``),
        ``delta`` and later columns None. Metrics: every metric of either run (last
        value), ``delta = b - a``. "overall" (name ``"all rows"``) and slices: ``a``
        and ``b`` are the error rates on the ``n_paired`` rows both runs predicted,
        ``delta`` = (b - a) in percentage points (positive: B is worse), ``n_a`` and
        ``n_b`` the rows each run predicted, ``fixed`` / ``broken`` the rows A got
        wrong and B right / A right and B wrong, ``ci_low`` and ``ci_high`` the 95%
        interval of ``delta``, ``p_value`` the exact McNemar test; for slices
        ``q_value`` is Benjamini–Hochberg across the judged slices and ``significant``
        is ``q_value < alpha``; overall ``significant`` is ``p_value < alpha``.
    """
    uri, client = _open_store(tracking_uri)
    a, b = _resolve(client, uri, run_a), _resolve(client, uri, run_b)
    rows = _run_rows(a.data, b.data, all_params)
    pa, pb = (
        _load_predictions(client, a, "predictions"),
        _load_predictions(client, b, "predictions"),
    )
    if pa is not None and pb is not None:
        rows.extend(_paired_rows(pa, pb, slices, min_slice_rows, alpha))
    table = pd.DataFrame(rows, columns=COMPARE_COLUMNS, dtype=object)
    return RunComparison(
        table.where(table.notna(), None),
        run_a=a.info.run_id,
        run_b=b.info.run_id,
        run_name_a=a.info.run_name,
        run_name_b=b.info.run_name,
        alpha=float(alpha),
        min_slice_rows=int(min_slice_rows),
    )


def _run_rows(a: Any, b: Any, all_params: bool) -> list[dict[str, Any]]:
    """Params that differ (all with ``all_params``), then every metric of either run."""
    rows = []
    for key in sorted(set(a.params) | set(b.params)):
        va, vb = a.params.get(key), b.params.get(key)
        if va != vb or all_params:
            rows.append({"kind": "param", "name": key, "a": va, "b": vb})
    for key in sorted(set(a.metrics) | set(b.metrics)):
        va, vb = a.metrics.get(key), b.metrics.get(key)
        delta = None if va is None or vb is None else vb - va
        rows.append({"kind": "metric", "name": key, "a": va, "b": vb, "delta": delta})
    return rows


def _slice_columns(pa: Predictions, pb: Predictions, slices: list[str] | None) -> list[str]:
    common = [c for c in pa.feature_names if c in pb.feature_names]
    columns = common if slices is None else list(slices)
    missing = [c for c in columns if c not in common]
    if missing:
        raise ValidationError(
            f"slice columns {missing} are not in the predictions of both runs; both have {common}"
        )
    return columns


def _paired_rows(
    pa: Predictions, pb: Predictions, slices: list[str] | None, min_rows: int, alpha: float
) -> list[dict[str, Any]]:
    """The "overall" row and one row per slice, on the rows both runs predicted."""
    from toolkit.analysis._stats import benjamini_hochberg
    from toolkit.analysis.binning import bin_column

    columns = _slice_columns(pa, pb, slices)
    in_a = pd.Index(pa.ids).get_indexer(pb.ids)  # each row of B: its row in A, or -1
    matched = in_a >= 0
    same_label = np.zeros(pb.n, dtype=bool)
    same_label[matched] = pa.y_true[in_a[matched]] == pb.y_true[matched]
    pair_b = np.flatnonzero(same_label)
    pair_a = in_a[pair_b]
    if pair_b.size == 0:
        logger.warning("the two runs' predictions share no row (same id and true label)")
        return []
    only_b = np.flatnonzero(~matched)
    err_a, err_b = pa.errors[pair_a], pb.errors[pair_b]
    cells = [err_a & err_b, err_a & ~err_b, ~err_a & err_b]  # both, fixed, broken
    overall = _paired_stats(np.array([pair_b.size]), *[np.array([c.sum()]) for c in cells])
    rows = _stat_rows("overall", [ALL_ROWS], overall, np.array([pa.n]), np.array([pb.n]))
    rows[0]["significant"] = bool(overall["p_value"][0] < alpha)
    slice_rows: list[dict[str, Any]] = []
    for column in columns:
        # every row of either run gets a slice; a row both predicted takes A's value
        values = pd.concat([pa.feature(column), pb.feature(column).iloc[only_b]], ignore_index=True)
        bins = bin_column(values, column)
        codes_a = bins.codes[: pa.n]
        codes_b = np.empty(pb.n, dtype=np.int64)
        codes_b[matched] = codes_a[in_a[matched]]
        codes_b[only_b] = bins.codes[pa.n :]
        k, paired = bins.n_bins, codes_a[pair_a]
        counts = [np.bincount(paired, weights=c, minlength=k) for c in cells]
        table = _paired_stats(np.bincount(paired, minlength=k), *counts)
        n_a, n_b = np.bincount(codes_a, minlength=k), np.bincount(codes_b, minlength=k)
        slice_rows.extend(_stat_rows("slice", bins.labels, table, n_a, n_b))
    judged = [r for r in slice_rows if r["n_paired"] >= min_rows]
    q_values = benjamini_hochberg(np.array([r["p_value"] for r in judged], dtype=float))
    for row in slice_rows:
        row["significant"] = False
        if row["n_paired"] < min_rows:
            row["p_value"] = None  # not judged
    for row, q in zip(judged, q_values, strict=True):
        row.update(q_value=float(q), significant=bool(q < alpha))
    return rows + slice_rows


def _stat_rows(
    kind: str, names: list[str], cells: dict[str, np.ndarray], n_a: np.ndarray, n_b: np.ndarray
) -> list[dict[str, Any]]:
    out = []
    for i, name in enumerate(names):
        row = {"kind": kind, "name": name, "n_a": int(n_a[i]), "n_b": int(n_b[i])}
        row["n_paired"] = int(cells["n"][i])
        for key in ("a", "b", "delta", "ci_low", "ci_high", "p_value"):
            value = float(cells[key][i])
            row[key] = None if np.isnan(value) else value
        row["fixed"], row["broken"] = int(cells["fixed"][i]), int(cells["broken"][i])
        out.append(row)
    return out
