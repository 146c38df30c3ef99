"""`track` / `tracked` / `Run`: record a run to MLflow with nothing lost and a truthful status.

MLflow's fluent API keeps the active run on a global stack. Here every call names its run
id explicitly through an ``MlflowClient``; the only global state is this module's own
thread-local stack of open toolkit runs, which ``nested=True`` reads to find the parent.
"""

from __future__ import annotations

import functools
import inspect
import logging
import random
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, TypeVar

import numpy as np

from toolkit._validation import BOOLEAN, CALLABLE, RANDOM_STATE, check_param, validate_params
from toolkit.exceptions import ToolkitTypeError, ValidationError
from toolkit.tracking import _capture, _records, _recovery, _store, spool
from toolkit.tracking._lifecycle import (
    Lifecycle,
    RunTerminated,
    finishing,
    heartbeat_interval,
    raise_held,
    status_of,
)
from toolkit.tracking._run import Run
from toolkit.tracking._values import (
    MAX_PARAM_LENGTH,
    check_key,
    flatten,
    now_ms,
    param_text,
    tag_text,
)
from toolkit.tracking.errors import TrackingError

__all__ = ["Run", "RunTerminated", "current_run", "track", "tracked"]

logger = logging.getLogger(__name__)

_F = TypeVar("_F", bound=Callable[..., Any])
_local = threading.local()

#: The parameters of :class:`track` that can be checked, also for ``tracked(**options)``.
TRACK_PARAMS = {
    "experiment": [str],
    "params": [Mapping, None],
    "tags": [Mapping, None],
    "seed": [RANDOM_STATE, None],
    "run_name": [str, None],
    "tracking_uri": [str, None],
    "nested": [BOOLEAN],
}


def _stack() -> list[Run]:
    if not hasattr(_local, "runs"):
        _local.runs = []
    return _local.runs


def current_run() -> Run | None:
    """The innermost open toolkit run of this thread, or None.

    >>> current_run() is None
    True
    """
    stack = _stack()
    return stack[-1] if stack else None


class track:
    """Record everything a block of code does as one MLflow run.

    Parameters
    ----------
    experiment : str
        Experiment name (created when missing).
    params : dict, default=None
        Parameters; nested dicts are flattened to dotted names.
    tags : dict, default=None
    seed : int, default=None
        Logged as param ``seed``; Python's and NumPy's global generators are seeded.
        In [0, 2**32 - 1].
    run_name : str, default=None
    tracking_uri : str, default=None
        Default: ``MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db`` in the working
        directory, resolved to an absolute URI once.
    nested : bool, default=False
        Make the run a child of the innermost open toolkit run of this thread.

    Yields
    ------
    Run

    Notes
    -----
    Recorded without being asked: MLflow's run-context tags (user, source), git commit,
    branch, dirty flag (``git/diff.patch`` and ``git/status.txt`` when dirty; the store's
    own files never count as changes), argv, cwd, Python, platform, hardware, installed
    packages, console output (``logs/output.log``; what Python code writes to
    ``sys.stdout``/``sys.stderr``), and ``duration_s``. The environment and the package
    list are the same for every run of a process: they are stored once per experiment
    and content, and each run points to them (tags ``toolkit.environment.digest`` and
    ``toolkit.environment.uri``); :func:`~toolkit.tracking.run_environment` reads them.

    With MLflow autologging on (``mlflow.autolog()``, ``mlflow.sklearn.autolog()``,
    turned on before the run starts), the run is MLflow's active run while it is open,
    so autologging logs into it rather than into runs of its own. A param autologging
    logged is not sent again; when toolkit's value differs it is kept in tag
    ``toolkit.param_conflicts`` (MLflow params cannot change).

    The status tells the truth: FINISHED when the block ends normally (or with
    ``sys.exit(0)``), FAILED on an exception (type and message as tags, the traceback as
    ``error/traceback.txt``; the exception is re-raised) or ``sys.exit`` with another code,
    KILLED on SIGTERM or Ctrl-C; a second signal while the run finishes waits for the
    finish. A heartbeat tag ``toolkit.heartbeat`` is refreshed every
    ``TOOLKIT_HEARTBEAT_S`` seconds (default 30); ``toolkit runs --mark-stale`` marks runs
    whose process died as FAILED.

    Nothing given is lost: params and tags are sent when logged, metrics within
    ``TOOLKIT_FLUSH_S`` seconds (default 2), and every value is first appended to a
    journal on local disk; after a SIGKILL, ``toolkit runs --mark-stale`` or the next run
    on the same store sends what it holds. When the run's end fails it is marked FAILED
    with the reason (tag ``toolkit.end_reason``); when the store cannot be written at all
    the run goes to the local spool, and the :class:`TrackingError` raised says where.

    When the tracking server cannot be reached the run is written to a local spool
    (``TOOLKIT_SPOOL_DIR``) with a warning; ``toolkit sync`` sends it later. Calls to a
    server use short HTTP timeouts (see ``_store.HTTP_DEFAULTS``) unless
    ``MLFLOW_HTTP_REQUEST_*`` are set, so that takes seconds.

    Examples
    --------
    >>> import shutil, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> store = f"sqlite:///{folder}/mlflow.db"
    >>> with track("adult", params={"model": {"C": 1.0}}, seed=0, tracking_uri=store) as run:
    ...     run.log_metric("accuracy", 0.85)
    >>> run.closed
    True
    >>> shutil.rmtree(folder)
    """

    @validate_params(TRACK_PARAMS)
    def __init__(
        self,
        experiment: str,
        *,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        seed: int | None = None,
        run_name: str | None = None,
        tracking_uri: str | None = None,
        nested: bool = False,
    ) -> None:
        if not experiment.strip():
            raise ValidationError(f"experiment must be a non-empty string, got {experiment!r}")
        self.experiment = experiment
        self.params = dict(params or {})
        self.tags = dict(tags or {})
        self.seed = None if seed is None else int(seed)
        self.run_name = run_name
        self.tracking_uri = tracking_uri
        self.nested = nested
        self.run: Run | None = None
        self._lifecycle: Lifecycle | None = None

    def __enter__(self) -> Run:
        parent = current_run()
        if self.nested and parent is None:
            raise ValidationError("nested=True but no toolkit run is open in this thread")
        # Validate what the caller gave before anything is created.
        params = flatten(self.params)
        if self.seed is not None:
            params.setdefault("seed", self.seed)
        for key, value in params.items():
            check_key(key, "param")
            param_text(key, value)
        user_tags = {check_key(k, "tag"): tag_text(k, v) for k, v in self.tags.items()}

        if self.seed is not None:
            random.seed(self.seed)
            np.random.seed(self.seed)  # noqa: NPY002 (user code draws from the global one)

        start_ms = now_ms()
        self._env = _capture.environment()
        writes_to = parent.tracking_uri if self.nested and parent is not None else None
        writes_to = writes_to or _store.resolve_tracking_uri(self.tracking_uri)
        own_files = [*_store.store_paths(writes_to), spool.spool_dir()]
        self._git = _capture.git_state(self._env["cwd"], tuple(map(str, own_files)))
        tags = _records.start_tags(
            self._env,
            self._git,
            start_ms=start_ms,
            seed=self.seed,
            heartbeat_s=heartbeat_interval(),
        )
        tags.update(user_tags)
        run = Run.start(
            self.experiment,
            tags=tags,
            run_name=self.run_name,
            start_ms=start_ms,
            tracking_uri=self.tracking_uri,
            parent=parent if self.nested else None,
            environment=_records.environment_record(),
        )
        self.run = run
        self._started = time.perf_counter()
        self._lifecycle = Lifecycle(run)
        self._lifecycle.start()
        _stack().append(run)
        try:
            if params:
                run.log_params(params)
            if parent is None or not self.nested:
                _replay_journals(run.tracking_uri)
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return run

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        run, lifecycle = self.run, self._lifecycle
        if run is None or lifecycle is None:
            return False
        self._lifecycle = None
        status, end_tags = status_of(exc)
        with finishing() as held:  # a signal now waits until the run has ended
            try:
                self._finish(run, lifecycle, status, end_tags, exc, tb)
            finally:
                lifecycle.restore(status)
        if not isinstance(exc, RunTerminated | KeyboardInterrupt):  # not a signal already
            raise_held(held)
        return False

    def _finish(
        self,
        run: Run,
        lifecycle: Lifecycle,
        status: str,
        end_tags: dict[str, str],
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        lifecycle.stop()
        stack = _stack()
        if run in stack:
            stack.remove(run)
        try:
            if not run.closed:  # the block may have closed it with run.close(status)
                try:
                    self._record_end(run, status, end_tags, exc, tb)
                finally:
                    run.close(status)
            elif run.status is None:  # closed in the block without a status: the block's
                run._terminate(status)
        except Exception as finish_error:
            message = run._end_failed(status, finish_error)
            if exc is None:
                raise TrackingError(message) from finish_error
            logger.error("%s", message)

    def _record_end(
        self,
        run: Run,
        status: str,
        end_tags: dict[str, str],
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Duration, end tags, environment, git diff and traceback, before the run closes."""
        run.log_metric("duration_s", time.perf_counter() - self._started)
        run._set_tags(end_tags)
        run._record_environment(_records.environment_record())  # a spooled run's own copy
        if self._git.dirty:
            run.log_text(self._git.status, "git/status.txt")
            run.log_text(self._git.diff, "git/diff.patch")
        if exc is not None and status != "FINISHED":
            text = "".join(traceback.format_exception(type(exc), exc, tb))
            run.log_text(text, "error/traceback.txt")


def _replay_journals(tracking_uri: str) -> None:
    """Send what runs of dead processes left in their journals for this store."""
    try:
        _recovery.replay_orphans(tracking_uri)
    except Exception as exc:  # the new run goes on; mark-stale can replay later
        logger.warning("journals of earlier runs could not be replayed: %s", exc)


@validate_params({"experiment": [str, CALLABLE, None]})
def tracked(
    experiment: str | Callable[..., Any] | None = None, **options: Any
) -> Callable[[_F], _F] | Any:
    """Decorate a function so that every call is one run (see :func:`track`).

    Parameters
    ----------
    experiment : str, default=None
        Experiment name; default the function's name. ``@tracked`` works without
        parentheses too.
    **options
        Keyword arguments of :func:`track` (``params``, ``tags``, ``seed``, ``run_name``
        (default the function's name), ``tracking_uri``, ``nested``), checked when the
        function is decorated.

    Notes
    -----
    Arguments with plain values (str, int, float, bool, None) are logged as params
    ``arg.<name>``. A function with a parameter named ``run`` receives the :class:`Run`.

    Examples
    --------
    >>> import shutil, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> @tracked("adult", seed=0, tracking_uri=f"sqlite:///{folder}/mlflow.db")
    ... def train(C=1.0, *, run=None):
    ...     run.log_metric("accuracy", 0.85)
    ...     return run
    >>> train(C=0.5).closed
    True
    >>> shutil.rmtree(folder)
    """
    if callable(experiment):
        return tracked(None)(experiment)
    allowed = set(TRACK_PARAMS) - {"experiment"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ToolkitTypeError(
            f"tracked() got unknown options {unknown}; allowed: {sorted(allowed)}"
        )
    for name, value in options.items():
        check_param(name, value, TRACK_PARAMS[name], "tracked")

    def decorate(fn: _F) -> _F:
        signature = inspect.signature(fn)
        wants_run = "run" in signature.parameters

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind_partial(*args, **kwargs)
            bound.apply_defaults()
            arg_params = {
                f"arg.{k}": v
                for k, v in bound.arguments.items()
                if k != "run"
                and (v is None or isinstance(v, str | bool | int | float))
                and len(str(v)) <= MAX_PARAM_LENGTH
            }
            opts = dict(options)
            opts["params"] = {**arg_params, **dict(opts.get("params") or {})}
            opts.setdefault("run_name", fn.__name__)
            with track(experiment or fn.__name__, **opts) as run:
                if wants_run and kwargs.get("run") is None:
                    kwargs["run"] = run
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
