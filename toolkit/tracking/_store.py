"""Where runs are stored: one absolute URI, and a store that many processes can open at once.

Plain MLflow resolves a relative ``sqlite:///mlflow.db`` against whatever the working
directory is at each call, and lets every process that finds an empty database run the
schema migrations at the same time: 8 processes starting together on a fresh store leave
a half-migrated file. Here the URI is made absolute once, and the first open of a SQLite
store happens under an exclusive lock on a sibling ``.lock`` file (``filelock``, which works
on every platform), so exactly one process creates and migrates it while the others wait
and then find it ready.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from toolkit._validation import validate_params
from toolkit.exceptions import ValidationError
from toolkit.tracking.errors import RunNotFoundError, StoreError

if TYPE_CHECKING:  # pragma: no cover
    from mlflow import MlflowClient
    from mlflow.entities import Run as MlflowRun
    from mlflow.entities import RunInfo

__all__ = [
    "DEFAULT_TRACKING_URI",
    "call_with_retry",
    "create_run",
    "find_run",
    "get_client",
    "get_or_create_experiment",
    "get_run",
    "is_remote",
    "resolve_tracking_uri",
    "sqlite_path",
]

logger = logging.getLogger(__name__)

#: MLflow's own default store, relative to the working directory.
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
#: How long a call waits in total for a busy SQLite database before giving up.
BUSY_RETRY_SECONDS = 120.0

_T = TypeVar("_T")
_clients: dict[str, MlflowClient] = {}
_experiments: dict[tuple[str, str], str] = {}
_lock = threading.Lock()

_SQL_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")


@validate_params({"tracking_uri": [str, None]})
def resolve_tracking_uri(tracking_uri: str | None = None) -> str:
    """The absolute tracking URI: the argument, else ``MLFLOW_TRACKING_URI``, else the default.

    Parameters
    ----------
    tracking_uri : str, default=None
        A tracking URI or a plain folder path (a file store).

    Returns
    -------
    str
        ``sqlite:////abs/path.db`` for SQLite, ``file:///abs`` for a folder; server and
        database URIs are returned unchanged.

    Examples
    --------
    >>> resolve_tracking_uri("sqlite:////tmp/x/mlflow.db")
    'sqlite:////tmp/x/mlflow.db'
    >>> resolve_tracking_uri("http://127.0.0.1:5000/")
    'http://127.0.0.1:5000'
    """
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    uri = uri.strip()
    if uri.startswith("sqlite:"):
        if not uri.startswith("sqlite:///") or uri in ("sqlite:///", "sqlite:///:memory:"):
            raise ValidationError(
                f"tracking URI {uri!r} is not a SQLite file; use sqlite:///path/to/mlflow.db "
                "(an in-memory store cannot be shared between runs)"
            )
        rest = uri[len("sqlite:///") :]
        path, sep, query = rest.partition("?")
        absolute = Path(path).expanduser().resolve() if not path.startswith("/") else Path(path)
        return f"sqlite:///{absolute.as_posix()}" + (sep + query if sep else "")
    if uri.startswith(("http://", "https://")):
        return uri.rstrip("/")
    if uri.startswith("file:"):
        return uri
    if "://" in uri or uri.startswith(("databricks", "uc:")):
        return uri
    return Path(uri).expanduser().resolve().as_uri()


def is_remote(uri: str) -> bool:
    """True for a tracking server (``http``/``https``)."""
    return uri.startswith(("http://", "https://"))


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI, else None."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri[len("sqlite:///") :].partition("?")[0])


def default_artifact_location(uri: str, experiment: str) -> str | None:
    """Artifacts of a local SQLite store live beside the database, not in the caller's cwd."""
    path = sqlite_path(uri)
    if path is None:
        return None
    slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in experiment)[:60]
    digest = hashlib.sha1(experiment.encode("utf-8")).hexdigest()[:8]
    return (path.parent / "mlruns" / f"{slug}-{digest}").as_uri()


def _is_busy(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "database is locked" in text or "database table is locked" in text


def call_with_retry(fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """Call ``fn``, retrying while SQLite reports the database busy.

    SQLite serialises writers; with several processes a transaction that read before
    writing can fail at once with "database is locked" instead of waiting. Every MLflow
    write is one transaction that is rolled back on that error, so calling it again is
    safe.
    """
    deadline = time.monotonic() + BUSY_RETRY_SECONDS
    delay = 0.005
    while True:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if not _is_busy(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.1)


def _open_sqlite(uri: str) -> MlflowClient:
    """Open a SQLite store, creating and migrating it under an exclusive file lock.

    ``MlflowClient(uri)`` itself opens the store and runs the migrations when the tables
    are missing, so the client is made while the lock is held.
    """
    from filelock import FileLock  # imported here: only a SQLite store's first open needs it
    from mlflow import MlflowClient

    path = sqlite_path(uri)
    if path is None:
        raise StoreError(f"{uri} is not a SQLite URI")
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(path.with_name(path.name + ".lock")):
        try:
            if not path.exists() or path.stat().st_size == 0:
                # WAL lets readers run beside the one writer; the mode is stored in the file.
                with sqlite3.connect(path) as con:
                    con.execute("PRAGMA journal_mode=WAL")
                logger.info("creating MLflow store %s", path)
            client = call_with_retry(MlflowClient, tracking_uri=uri)
            call_with_retry(client.search_experiments, max_results=1)
        except Exception as exc:
            raise StoreError(f"could not open the MLflow store {uri}: {exc}") from exc
    return client


def get_client(uri: str) -> MlflowClient:
    """A client for an absolute URI; a SQLite store is created safely on first use.

    Parameters
    ----------
    uri : str
        An absolute URI from :func:`resolve_tracking_uri`.
    """
    client = _clients.get(uri)
    if client is not None:
        return client
    with _lock:
        client = _clients.get(uri)
        if client is None:
            if uri.startswith("sqlite:///"):
                client = _open_sqlite(uri)
            else:
                from mlflow import MlflowClient

                client = MlflowClient(tracking_uri=uri)
            _clients[uri] = client
    return client


def forget_client(uri: str) -> None:
    """Drop the cached client of ``uri`` (tests that delete a store)."""
    with _lock:
        _clients.pop(uri, None)
        for key in [k for k in _experiments if k[0] == uri]:
            del _experiments[key]


def _already_exists(exc: BaseException) -> bool:
    code = getattr(exc, "error_code", "")
    text = str(exc).lower()
    return (
        code == "RESOURCE_ALREADY_EXISTS"
        or "already exists" in text
        or "unique constraint" in text
        or "integrityerror" in text
        or "duplicate key" in text
    )


def get_or_create_experiment(client: MlflowClient, uri: str, name: str) -> str:
    """The id of experiment ``name``, created when missing; safe when processes race.

    Two processes can both find no experiment and both create it: the loser gets an
    integrity error, and then finds the winner's experiment.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(f"experiment must be a non-empty string, got {name!r}")
    key = (uri, name)
    cached = _experiments.get(key)
    if cached is not None:
        return cached
    from mlflow.exceptions import MlflowException

    for attempt in range(20):
        experiment = call_with_retry(client.get_experiment_by_name, name)
        if experiment is not None:
            if experiment.lifecycle_stage == "deleted":
                raise ValidationError(
                    f"experiment {name!r} is deleted in {uri}; restore it or use another name"
                )
            _experiments[key] = experiment.experiment_id
            return experiment.experiment_id
        try:
            experiment_id = call_with_retry(
                client.create_experiment,
                name,
                artifact_location=default_artifact_location(uri, name),
            )
        except MlflowException as exc:
            if not _already_exists(exc):
                raise
            time.sleep(0.05 * (attempt + 1) * random.random())
            continue
        _experiments[key] = experiment_id
        return experiment_id
    raise StoreError(f"could not create or find experiment {name!r} in {uri}")


def create_run(
    client: MlflowClient,
    uri: str,
    experiment: str,
    *,
    start_ms: int,
    tags: dict[str, str],
    run_name: str | None,
) -> RunInfo:
    """Create a RUNNING run in experiment ``experiment`` (created when missing)."""
    experiment_id = get_or_create_experiment(client, uri, experiment)
    created = call_with_retry(
        client.create_run, experiment_id, start_time=start_ms, tags=tags, run_name=run_name
    )
    return created.info


def get_run(client: MlflowClient, run_id: str) -> MlflowRun:
    """The run ``run_id`` of the client's store.

    Raises
    ------
    RunNotFoundError
        When the store has no such run.
    """
    from mlflow.exceptions import MlflowException

    try:
        return call_with_retry(client.get_run, run_id)
    except MlflowException as exc:
        raise RunNotFoundError(f"run {run_id!r} not found: {exc.message}") from exc


def find_run(run_id: str, tracking_uri: str | None = None) -> tuple[str, MlflowClient, MlflowRun]:
    """The store's absolute URI, its client and the run, once ``run_id`` is found.

    Unlike :func:`get_client`, a SQLite path with no database is not created: there can
    be no run in it.

    Raises
    ------
    RunNotFoundError
        When there is no store at a SQLite path, or no such run in the store.
    """
    uri = resolve_tracking_uri(tracking_uri)
    path = sqlite_path(uri)
    if path is not None and not path.exists():
        raise RunNotFoundError(f"run {run_id!r} not found: there is no store at {path}")
    client = get_client(uri)
    return uri, client, get_run(client, run_id)
