"""A local spool for runs whose tracking server is unreachable, and ``toolkit sync``.

The spool is an ordinary MLflow store (SQLite plus an artifact folder) in
``TOOLKIT_SPOOL_DIR`` (default ``~/.cache/toolkit/spool``). A spooled run carries the tag
``toolkit.spool.target`` (the server it was meant for). :func:`sync` replays each finished
spooled run to its server -- params, metrics with steps and timestamps, tags, artifacts,
status -- and marks it ``toolkit.spool.synced_to``. Replay is idempotent: the remote run
carries ``toolkit.spool.source_run_id``, is found again after an interrupted sync, and only
the values it lacks are sent.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Real
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit._validation import Interval, validate_params
from toolkit.tracking import _store
from toolkit.tracking._store import is_unreachable
from toolkit.tracking._values import batches

if TYPE_CHECKING:  # pragma: no cover
    from mlflow import MlflowClient
    from mlflow.entities import RunInfo

__all__ = [
    "SyncResult",
    "create_run",
    "is_unreachable",
    "server_reachable",
    "spool_client",
    "spool_dir",
    "spool_uri",
    "start_spooled_run",
    "sync",
]

logger = logging.getLogger(__name__)

TARGET_TAG = "toolkit.spool.target"
REMOTE_RUN_TAG = "toolkit.spool.remote_run_id"
SOURCE_TAG = "toolkit.spool.source_run_id"
SYNCED_TAG = "toolkit.spool.synced_to"
_INTERNAL_TAGS = {TARGET_TAG, REMOTE_RUN_TAG, SYNCED_TAG}


def spool_dir() -> Path:
    """``TOOLKIT_SPOOL_DIR``, else ``$XDG_CACHE_HOME/toolkit/spool`` (``~/.cache/...``)."""
    explicit = os.environ.get("TOOLKIT_SPOOL_DIR")
    if explicit:
        return Path(explicit).expanduser().resolve()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser().resolve() / "toolkit" / "spool"


def spool_uri() -> str:
    """The SQLite URI of the spool store."""
    return f"sqlite:///{(spool_dir() / 'spool.db').as_posix()}"


def spool_client() -> tuple[MlflowClient, str]:
    """A client for the spool store (created safely on first use) and its URI."""
    uri = spool_uri()
    return _store.get_client(uri, create=True), uri


def spool_tags(target_uri: str, *, remote_run_id: str | None = None) -> dict[str, str]:
    """Tags that mark a run as spooled for ``target_uri``."""
    tags = {TARGET_TAG: target_uri}
    if remote_run_id:
        tags[REMOTE_RUN_TAG] = remote_run_id
    return tags


def start_spooled_run(
    target_uri: str,
    experiment: str,
    reason: BaseException | str,
    *,
    start_ms: int,
    tags: dict[str, str],
    run_name: str | None,
    remote_run_id: str | None = None,
) -> tuple[MlflowClient, str, RunInfo]:
    """Create a run in the spool because the server ``target_uri`` cannot be reached.

    Every fallback to the spool goes through here: when the server does not answer as a
    run starts, when creating the run fails, and when the server goes away mid-run (then
    ``remote_run_id`` is the run already on the server, which ``sync`` completes).

    Returns
    -------
    tuple
        The spool's client, its URI and the new run's ``RunInfo``.
    """
    client, uri = spool_client()
    remote = _store.is_remote(target_uri)
    logger.warning(
        "%s %s %s (%s); %s is written to the local spool %s. Run 'toolkit sync' when %s.",
        "tracking server" if remote else "store",
        target_uri,
        "unreachable" if remote else "cannot be written",
        reason,
        f"run {remote_run_id}" if remote_run_id else "the run",
        uri,
        "the server is back" if remote else "it can be written again",
    )
    info = _store.create_run(
        client,
        uri,
        experiment,
        start_ms=start_ms,
        tags={**tags, **spool_tags(target_uri, remote_run_id=remote_run_id)},
        run_name=run_name,
    )
    return client, uri, info


def create_run(
    target_uri: str,
    uri: str,
    client: MlflowClient | None,
    experiment: str,
    *,
    check_server: bool,
    start_ms: int,
    tags: dict[str, str],
    run_name: str | None,
    more_tags: Callable[[MlflowClient, str, str], dict[str, str]] | None = None,
) -> tuple[MlflowClient, str, RunInfo]:
    """Create a RUNNING run in the store ``uri`` (created when missing), or in the spool
    when the server ``target_uri`` does not answer (its ``/health`` endpoint, checked
    first when ``check_server``, or the calls that create the run). ``more_tags`` is
    as in ``_store.create_run``; a spooled run does without them.

    Returns
    -------
    tuple
        The client, the URI of the store that holds the run, and its ``RunInfo``.
    """
    options = {"start_ms": start_ms, "tags": tags, "run_name": run_name}
    reason: BaseException | str
    if check_server and _store.is_remote(uri) and not server_reachable(uri):
        reason = "no answer from its /health endpoint"
    else:
        client = client or _store.get_client(uri, create=True)
        try:
            extra = more_tags if uri == target_uri else None  # not for a spooled parent's child
            info = _store.create_run(client, uri, experiment, **options, more_tags=extra)
            return client, uri, info
        except Exception as exc:
            if not (_store.is_remote(uri) and is_unreachable(exc)):
                raise
            reason = exc
    return start_spooled_run(target_uri, experiment, reason, **options)


@validate_params({"uri": [str], "timeout": [Interval(Real, 0, None, closed="neither")]})
def server_reachable(uri: str, timeout: float = 3.0) -> bool:
    """True when the tracking server at ``uri`` answers its ``/health`` endpoint."""
    return _store.health_problem(uri, timeout) is None


@dataclass(frozen=True)
class SyncResult:
    """What happened to one spooled run: ``synced``, ``skipped`` or ``failed``."""

    spool_run_id: str
    target_uri: str
    remote_run_id: str | None
    outcome: str
    detail: str = ""


def _search_all(client: MlflowClient, filter_string: str = "") -> list[Any]:
    from mlflow.entities import ViewType

    experiments = [
        e.experiment_id
        for e in _store.call_with_retry(client.search_experiments, view_type=ViewType.ALL)
    ]
    if not experiments:
        return []
    runs: list[Any] = []
    token = None
    while True:
        page = _store.call_with_retry(
            client.search_runs,
            experiments,
            filter_string=filter_string,
            run_view_type=ViewType.ACTIVE_ONLY,
            max_results=1000,
            order_by=["attributes.start_time ASC"],
            page_token=token,
        )
        runs.extend(page)
        token = page.token
        if not token:
            return runs


@validate_params({"target_uri": [str, None]})
def sync(*, target_uri: str | None = None) -> list[SyncResult]:
    """Replay finished spooled runs to their tracking server.

    Parameters
    ----------
    target_uri : str, default=None
        Send only the runs meant for this server (default: every spooled run, each to
        the server it names).

    Returns
    -------
    list of SyncResult
        One per spooled run that was not synced before. Runs still RUNNING are skipped
        (their process may still be writing); runs whose server is unreachable too.
    """
    client, _ = spool_client()
    pending = [
        r
        for r in _search_all(client)
        if TARGET_TAG in r.data.tags
        and (target_uri is None or r.data.tags[TARGET_TAG] == target_uri.rstrip("/"))
    ]
    mapping = {
        r.info.run_id: r.data.tags[SYNCED_TAG].rpartition("#")[2]
        for r in pending
        if SYNCED_TAG in r.data.tags
    }
    results: list[SyncResult] = []
    reachable: dict[str, bool] = {}
    for run in pending:
        if SYNCED_TAG in run.data.tags:
            continue
        target = run.data.tags[TARGET_TAG]
        if run.info.status == "RUNNING":
            results.append(SyncResult(run.info.run_id, target, None, "skipped", "still RUNNING"))
            continue
        if target not in reachable:  # a local store whose disk was full comes back too
            reachable[target] = (
                server_reachable(target)
                if _store.is_remote(target)
                else not _store.require_missing(target)
            )
        if not reachable[target]:
            results.append(
                SyncResult(run.info.run_id, target, None, "skipped", "server unreachable")
            )
            continue
        try:
            remote_id = _replay(client, run, target, mapping)
        except Exception as exc:
            logger.warning("sync of spooled run %s failed: %s", run.info.run_id, exc)
            results.append(SyncResult(run.info.run_id, target, None, "failed", str(exc)))
            continue
        mapping[run.info.run_id] = remote_id
        _store.call_with_retry(client.set_tag, run.info.run_id, SYNCED_TAG, f"{target}#{remote_id}")
        results.append(SyncResult(run.info.run_id, target, remote_id, "synced"))
    return results


def _replay(client: MlflowClient, run: Any, target: str, mapping: dict[str, str]) -> str:
    from mlflow.entities import Metric, Param, RunTag

    remote = _store.get_client(target)
    spool_id = run.info.run_id
    experiment = _store.call_with_retry(client.get_experiment, run.info.experiment_id)
    experiment_id = _store.get_or_create_experiment(remote, target, experiment.name)
    tags = {k: v for k, v in run.data.tags.items() if k not in _INTERNAL_TAGS}
    parent = tags.get("mlflow.parentRunId")
    if parent in mapping:
        tags["mlflow.parentRunId"] = mapping[parent]
    tags[SOURCE_TAG] = spool_id

    remote_id = run.data.tags.get(REMOTE_RUN_TAG)
    if remote_id is None:
        found = remote.search_runs(
            [experiment_id],
            filter_string=f"tags.`{SOURCE_TAG}` = '{spool_id}'",
            max_results=1,
        )
        remote_id = found[0].info.run_id if found else None
    if remote_id is None:
        created = remote.create_run(
            experiment_id,
            start_time=run.info.start_time,
            tags={k: v for k, v in tags.items() if k != "mlflow.runName"},
            run_name=run.info.run_name,
        )
        remote_id = created.info.run_id
        have_params: dict[str, str] = {}
        have_metrics: set[tuple] = set()
    else:
        existing = remote.get_run(remote_id)
        have_params = dict(existing.data.params)
        have_metrics = set()
        for key in existing.data.metrics:
            for m in remote.get_metric_history(remote_id, key):
                have_metrics.add((m.key, m.value, m.timestamp, m.step))

    params = []
    for key, value in run.data.params.items():
        if key in have_params:
            if have_params[key] != value:
                raise ValueError(
                    f"param {key!r} is {have_params[key]!r} on the server but {value!r} in the "
                    "spool"
                )
            continue
        params.append(Param(key, value))
    metrics = []
    for key in run.data.metrics:
        for m in _store.call_with_retry(client.get_metric_history, spool_id, key):
            if (m.key, m.value, m.timestamp, m.step) not in have_metrics:
                metrics.append(Metric(m.key, m.value, m.timestamp, m.step))
    run_tags = [RunTag(k, v) for k, v in tags.items() if k != "mlflow.runName"]
    for p, m, t in batches(params, metrics, run_tags):
        remote.log_batch(remote_id, metrics=m, params=p, tags=t)

    with tempfile.TemporaryDirectory(prefix="toolkit-sync-") as tmp:
        if _store.call_with_retry(client.list_artifacts, spool_id):
            local = client.download_artifacts(spool_id, "", tmp)
            remote.log_artifacts(remote_id, local)
    remote.set_terminated(remote_id, status=run.info.status, end_time=run.info.end_time)
    return remote_id
