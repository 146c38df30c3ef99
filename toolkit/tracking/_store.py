"""Where runs are stored: one absolute URI, and a store that many processes can open at once.

Plain MLflow resolves a relative ``sqlite:///mlflow.db`` against whatever the working
directory is at each call, and lets every process that finds an empty database run the
schema migrations at the same time: 8 processes starting together on a fresh store leave
a half-migrated file. Here the URI is made absolute once, and the first open of a SQLite
store happens under an exclusive lock (``filelock``, which works on every platform), so
exactly one process creates and migrates it while the others wait and then find it ready.
The lock file lives in the user's cache, not beside the database, so it never shows up in
a working tree.

Only starting a run creates a store (``get_client(uri, create=True)``); reading one that
does not exist raises :class:`~toolkit.tracking.errors.StoreNotFoundError` instead of
leaving an empty, migrated ``mlflow.db`` behind.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import random
import sqlite3
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from toolkit._validation import validate_params
from toolkit.exceptions import ValidationError
from toolkit.tracking.errors import (
    RunNotFoundError,
    ServerUnreachableError,
    StoreError,
    StoreNotFoundError,
)

if TYPE_CHECKING:  # pragma: no cover
    from mlflow import MlflowClient
    from mlflow.entities import Run as MlflowRun
    from mlflow.entities import RunInfo
    from mlflow.store.artifact.artifact_repo import ArtifactRepository

__all__ = [
    "DEFAULT_TRACKING_URI",
    "artifact_repository",
    "call_with_retry",
    "create_run",
    "experiment_artifact_location",
    "find_run",
    "get_client",
    "get_or_create_experiment",
    "get_run",
    "is_remote",
    "is_unreachable",
    "lock_path",
    "require_existing_store",
    "resolve_tracking_uri",
    "sqlite_path",
    "store_paths",
]

logger = logging.getLogger(__name__)

#: MLflow's own default store, relative to the working directory.
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
#: How long a call waits in total for a busy SQLite database before giving up.
BUSY_RETRY_SECONDS = 120.0
#: How many lock files serialise the creation of SQLite stores (see ``lock_path``).
LOCK_FILES = 64

_T = TypeVar("_T")
_clients: dict[str, MlflowClient] = {}
_experiments: dict[tuple[str, str], str] = {}
_locations: dict[tuple[str, str], str] = {}
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
        _check_scheme(uri)
        return uri
    return Path(uri).expanduser().resolve().as_uri()


#: The schemes MLflow stores runs in without plugins (a database URI may add "+driver").
_STORE_SCHEMES = frozenset(
    {"file", "sqlite", "postgresql", "mysql", "mssql", "http", "https"}
    | {"databricks", "databricks-uc", "uc"}
)


def _check_scheme(uri: str) -> None:
    """Refuse a URI whose scheme no MLflow tracking store (built in or plugin) handles."""
    scheme = uri.partition(":")[0].partition("+")[0].lower()
    if scheme in _STORE_SCHEMES:
        return
    from importlib.metadata import entry_points

    if scheme in {ep.name for ep in entry_points(group="mlflow.tracking_store")}:
        return
    raise ValidationError(
        f"tracking URI {uri!r} has scheme {scheme!r}, which MLflow cannot store runs in; use "
        "sqlite:///path/to/mlflow.db, a folder, http(s)://server or a database URI "
        "(postgresql://, mysql://, mssql://)"
    )


#: MLflow's HTTP defaults (7 retries with backoff factor 2, 120 s timeout) hold a call to a
#: dead server for about 4 minutes. Toolkit's: a refused connection fails in about 3 s and
#: a hung one in 3 x 10 s, so a run reaches the spool, or a command its error, in seconds.
#: A value the user set in the environment is kept.
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
}


def _short_http_timeouts() -> None:
    """Set toolkit's HTTP defaults (:data:`HTTP_DEFAULTS`) where the user set none.

    MLflow reads them from the environment at every request; it offers no setting per
    client.
    """
    for name, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(name, value)


def server_unreachable_error(uri: str, reason: BaseException | str) -> StoreError:
    """The one error for a tracking server that does not answer."""
    text = str(reason).strip().splitlines()[0] if str(reason).strip() else type(reason).__name__
    return ServerUnreachableError(
        f"the tracking server {uri} cannot be reached ({text[:300]}); check that it is "
        "running, or set MLFLOW_TRACKING_URI / --tracking-uri"
    )


def is_remote(uri: str) -> bool:
    """True for a tracking server (``http``/``https``)."""
    return uri.startswith(("http://", "https://"))


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI, else None."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri[len("sqlite:///") :].partition("?")[0])


def _file_store_path(uri: str) -> Path | None:
    if not uri.startswith("file:"):
        return None
    return Path(urllib.request.url2pathname(urllib.parse.urlparse(uri).path))


def store_paths(uri: str) -> list[Path]:
    """The local files and folders the store at ``uri`` writes (none for a server).

    A SQLite file with its WAL, shared-memory and journal files and the artifact folder
    beside it (``mlruns``, where toolkit puts the artifacts of a SQLite store), or a file
    store's folder. Git state leaves them out: they are records, not code.

    >>> [p.name for p in store_paths("sqlite:////work/mlflow.db")]
    ['mlflow.db', 'mlflow.db-wal', 'mlflow.db-shm', 'mlflow.db-journal', 'mlruns']
    >>> store_paths("http://127.0.0.1:5000")
    []
    """
    path = sqlite_path(uri)
    if path is not None:
        side = [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal")]
        return [path, *side, path.parent / "mlruns"]
    folder = _file_store_path(uri)
    return [] if folder is None else [folder]


def lock_path(database: Path) -> Path:
    """The lock file that serialises creating and migrating the SQLite file ``database``.

    It is kept in the user's cache (``$XDG_CACHE_HOME/toolkit/locks``, default
    ``~/.cache/toolkit/locks``; the temporary folder when that cannot be written). Beside
    the database it would stay behind in the user's working tree, and deleting a lock
    file after use is not safe: a process waiting on the old file and one creating a new
    file would both hold "the" lock. A host-local lock is enough because SQLite's WAL
    mode works only on one host. The database's real path picks one of
    ``LOCK_FILES`` files, so the folder stays small; two stores that share one only
    wait for each other's creation.
    """
    real = os.path.realpath(database)
    slot = int(hashlib.sha256(real.encode("utf-8")).hexdigest(), 16) % LOCK_FILES
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    folder = Path(cache).expanduser() / "toolkit" / "locks"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        user = os.getuid() if hasattr(os, "getuid") else "user"
        folder = Path(tempfile.gettempdir()) / f"toolkit-locks-{user}"
        folder.mkdir(parents=True, exist_ok=True)
    return folder / f"store-{slot:02d}.lock"


@validate_params({"tracking_uri": [str, None]})
def require_existing_store(tracking_uri: str | None = None) -> str:
    """The resolved tracking URI, once a store exists there; nothing is created or migrated.

    What read-only commands (``toolkit runs``, ``toolkit compare``) call first: MLflow
    creates and migrates a SQLite store when a client first opens it, so reading an empty
    folder would leave a 1 MB ``mlflow.db`` behind.

    Parameters
    ----------
    tracking_uri : str, default=None
        As for :func:`resolve_tracking_uri`.

    Returns
    -------
    str
        The absolute URI. Servers and databases are returned unchecked (reading them
        creates nothing).

    Raises
    ------
    StoreNotFoundError
        When the SQLite file does not exist or is empty, or a file store's folder does
        not exist.

    Examples
    --------
    >>> require_existing_store("http://127.0.0.1:5000/")
    'http://127.0.0.1:5000'
    >>> require_existing_store("sqlite:////nowhere/mlflow.db")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    toolkit.tracking.errors.StoreNotFoundError: no MLflow store at /nowhere/mlflow.db; run ...
    """
    uri = resolve_tracking_uri(tracking_uri)
    missing = _missing_store(uri)
    if missing is not None:
        raise StoreNotFoundError(
            f"no MLflow store at {missing}; run toolkit demo or a tracked run first"
        )
    return uri


def require_missing(uri: str) -> bool:
    """True when there is no store at the local ``uri`` (a server or database: False)."""
    return _missing_store(uri) is not None


def _missing_store(uri: str) -> Path | None:
    """The local path of the store at ``uri`` when there is none there, else None."""
    path = sqlite_path(uri)
    if path is not None:
        return path if not path.is_file() or path.stat().st_size == 0 else None
    folder = _file_store_path(uri)
    return folder if folder is not None and not folder.is_dir() else None


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
    are missing, so the client is made while the lock (:func:`lock_path`) is held.
    """
    from filelock import FileLock  # imported here: only a SQLite store's first open needs it

    path = sqlite_path(uri)
    if path is None:
        raise StoreError(f"{uri} is not a SQLite URI")
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(lock_path(path)):
        created = not path.exists() or path.stat().st_size == 0
        try:
            if created:
                # WAL lets readers run beside the one writer; the mode is stored in the file.
                with sqlite3.connect(path) as con:
                    con.execute("PRAGMA journal_mode=WAL")
                logger.info("creating MLflow store %s", path)
            return _migrated_client(uri, path)
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if created:
                # a first migration that failed (a full disk) leaves a file no migration
                # can finish; it holds nothing, so it goes and the next run starts afresh
                for side in ("", "-wal", "-shm", "-journal"):
                    Path(f"{path}{side}").unlink(missing_ok=True)
                raise StoreError(
                    f"could not create the MLflow store {uri}: {first}; the half-made file "
                    "was removed (it held nothing), so the next run creates it afresh"
                ) from exc
            raise StoreError(f"could not open the MLflow store {uri}: {first}") from exc


def _migrated_client(uri: str, path: Path) -> MlflowClient:
    """``MlflowClient(uri)``, which migrates the store; a copy table left by a migration
    that failed midway (``_alembic_tmp_runs`` beside ``runs``) is dropped and the
    migration run again: the original table is intact, the copy only blocks the retry."""
    from mlflow import MlflowClient

    for _ in range(2):
        try:
            client = call_with_retry(MlflowClient, tracking_uri=uri)
            call_with_retry(client.search_experiments, max_results=1)
            return client
        except Exception as exc:
            leftover = _leftover_copy_table(path, str(exc))
            if leftover is None:
                raise
            with sqlite3.connect(path) as con:
                con.execute(f'DROP TABLE "{leftover}"')
            logger.warning(
                "%s: dropped %s, left by an earlier migration that failed; migrating again",
                path,
                leftover,
            )
    raise StoreError(f"could not migrate the MLflow store {uri}")


def _leftover_copy_table(path: Path, message: str) -> str | None:
    """The name of a migration's leftover copy table named in ``message``, when the table
    it copies still exists (so dropping the copy loses nothing); else None."""
    import re

    match = re.search(r"table (_alembic_tmp_(\w+)) already exists", message)
    if match is None:
        return None
    with sqlite3.connect(path) as con:
        names = {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    return match.group(1) if match.group(2) in names and match.group(1) in names else None


def get_client(uri: str, *, create: bool = False) -> MlflowClient:
    """A client for an absolute URI.

    Parameters
    ----------
    uri : str
        An absolute URI from :func:`resolve_tracking_uri`.
    create : bool, default=False
        Create a local store that does not exist yet (safely, when processes race):
        what starting a run does. Without it a missing store is an error, so reading
        never leaves an empty store behind.

    Raises
    ------
    StoreNotFoundError
        When ``create`` is False and there is no store (see :func:`require_existing_store`).
    """
    client = _clients.get(uri)
    if client is not None:
        return client
    if not create:
        require_existing_store(uri)
    with _lock:
        client = _clients.get(uri)
        if client is None:
            if uri.startswith("sqlite:///"):
                client = _open_sqlite(uri)  # creates the store when missing
            else:
                client = _open_other(uri, create=create)
            _clients[uri] = client
    return client


def _open_other(uri: str, *, create: bool) -> MlflowClient:
    """A client for a server, a database or a folder.

    A server is asked first whether it answers (``/health``) when only reading
    (``create=False``): a dead server is then an error within seconds rather than "run
    not found" after MLflow's retries. Starting a run checks it itself and moves to the
    spool.
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    if is_remote(uri):
        _short_http_timeouts()
        if not create:
            reason = health_problem(uri)
            if reason is not None:
                raise server_unreachable_error(uri, reason)
    try:
        return MlflowClient(tracking_uri=uri)
    except MlflowException as exc:  # e.g. a scheme a plugin was removed for
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StoreError(f"could not open the MLflow store {uri}: {first[:300]}") from exc


def health_problem(uri: str, timeout: float = 3.0) -> str | None:
    """None when the tracking server at ``uri`` answers its ``/health`` endpoint, else why not.

    Any answer below 500 counts: the server is there, even if it refuses the request.
    """
    import urllib.error

    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout) as response:
            return None if response.status < 500 else f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return None if exc.code < 500 else f"HTTP {exc.code} from /health"
    except urllib.error.URLError as exc:
        return str(exc.reason)
    except (OSError, ValueError) as exc:
        return str(exc) or type(exc).__name__


def forget_client(uri: str) -> None:
    """Drop the cached client of ``uri`` (tests that delete a store)."""
    with _lock:
        _clients.pop(uri, None)
        for cache in (_experiments, _locations):
            for key in [k for k in cache if k[0] == uri]:
                del cache[key]


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
            _locations[(uri, experiment.experiment_id)] = experiment.artifact_location
            return experiment.experiment_id
        location = default_artifact_location(uri, name)
        try:
            experiment_id = call_with_retry(
                client.create_experiment, name, artifact_location=location
            )
        except MlflowException as exc:
            if not _already_exists(exc):
                raise
            time.sleep(0.05 * (attempt + 1) * random.random())
            continue
        _experiments[key] = experiment_id
        if location is not None:
            _locations[(uri, experiment_id)] = location
        return experiment_id
    raise StoreError(f"could not create or find experiment {name!r} in {uri}")


def experiment_artifact_location(client: MlflowClient, uri: str, experiment_id: str) -> str:
    """The artifact root of an experiment (read once per process)."""
    key = (uri, experiment_id)
    location = _locations.get(key)
    if location is None:
        location = call_with_retry(client.get_experiment, experiment_id).artifact_location
        _locations[key] = location
    return location


@functools.lru_cache(maxsize=64)
def artifact_repository(artifact_uri: str, tracking_uri: str) -> ArtifactRepository:
    """MLflow's artifact repository for a folder: a run's artifact URI, or any folder below
    an experiment's artifact root.

    ``MlflowClient.log_artifacts(run_id, ...)`` first reads the whole run (``get_run``) to
    learn where its artifacts go; a run that knows its artifact URI writes directly.
    """
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
    from mlflow.utils.uri import add_databricks_profile_info_to_artifact_uri

    located = add_databricks_profile_info_to_artifact_uri(artifact_uri, tracking_uri)
    return get_artifact_repository(located, tracking_uri=tracking_uri)


def create_run(
    client: MlflowClient,
    uri: str,
    experiment: str,
    *,
    start_ms: int,
    tags: dict[str, str],
    run_name: str | None,
    more_tags: Callable[[MlflowClient, str, str], dict[str, str]] | None = None,
) -> RunInfo:
    """Create a RUNNING run in experiment ``experiment`` (created when missing).

    ``more_tags(client, uri, experiment_id)`` adds tags that need the experiment.
    """
    experiment_id = get_or_create_experiment(client, uri, experiment)
    if more_tags is not None:
        tags = {**tags, **more_tags(client, uri, experiment_id)}
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
        uri = client.tracking_uri
        if is_remote(uri) and is_unreachable(exc):
            raise server_unreachable_error(uri, exc) from exc
        raise RunNotFoundError(f"run {run_id!r} not found: {exc.message}") from exc


def find_run(run_id: str, tracking_uri: str | None = None) -> tuple[str, MlflowClient, MlflowRun]:
    """The store's absolute URI, its client and the run, once ``run_id`` is found.

    A SQLite path with no database is not created: there can be no run in it.

    Raises
    ------
    RunNotFoundError
        When there is no store at the URI, or no such run in the store.
    """
    uri = resolve_tracking_uri(tracking_uri)
    missing = _missing_store(uri)
    if missing is not None:
        raise RunNotFoundError(f"run {run_id!r} not found: there is no store at {missing}")
    client = get_client(uri)
    return uri, client, get_run(client, run_id)


_UNREACHABLE_TEXT = (
    "connection refused",
    "max retries exceeded",
    "failed to establish a new connection",
    "connectionerror",
    "connection aborted",
    "remote end closed connection",
    "read timed out",
    "connecttimeout",
    "name or service not known",
)


def is_unreachable(exc: BaseException) -> bool:
    """True when ``exc`` (or its cause) says the server could not be reached."""
    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 10:
        if isinstance(current, ConnectionError | TimeoutError):
            return True
        name = type(current).__name__.lower()
        if "connectionerror" in name or "timeout" in name:
            return True
        text = str(current).lower()
        if any(fragment in text for fragment in _UNREACHABLE_TEXT):
            return True
        current = current.__cause__ or current.__context__
        seen += 1
    return False
