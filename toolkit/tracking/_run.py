"""The :class:`Run` object: checked, buffered logging to one MLflow run, and its end.

Every call names the run's id through an ``MlflowClient`` (MLflow's fluent API keeps the
active run on a global stack). Params, metrics and tags are buffered and sent with
``log_batch``; files are staged in a local folder and uploaded in one call when the run
ends, straight to the run's artifact URI. When a tracking server stops answering
mid-run, the run moves to the local spool with everything it logged
(:mod:`toolkit.tracking.spool`). Once a run has ended, every method that would add to it
raises :class:`~toolkit.tracking.errors.RunEndedError`.
"""

from __future__ import annotations

import json
import logging
import os
import posixpath
import shutil
import tempfile
import threading
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from toolkit._json import dumps
from toolkit._validation import BOOLEAN, Options, validate_params
from toolkit.exceptions import ToolkitTypeError, ValidationError
from toolkit.tracking import _journal, _records, _store, spool
from toolkit.tracking._values import (
    Pending,
    batches,
    check_key,
    clip,
    flatten,
    metric_value,
    non_finite_paths,
    now_ms,
    param_text,
    split_params,
    tag_text,
    while_open,
)
from toolkit.tracking.errors import NonFiniteValueWarning, RunEndedError

if TYPE_CHECKING:  # pragma: no cover
    from mlflow import MlflowClient

__all__ = ["CONFLICTS_TAG", "FLUSH_AT", "Run"]

logger = logging.getLogger(__name__)

#: Buffered metrics are sent when this many are waiting, and at the latest
#: ``TOOLKIT_FLUSH_S`` seconds after they were logged (``_lifecycle.flush_interval``).
FLUSH_AT = 1000
STATUSES = ("FINISHED", "FAILED", "KILLED")
#: Params that MLflow autologging logged first with another value keep toolkit's value here.
CONFLICTS_TAG = "toolkit.param_conflicts"

_Op = Callable[["MlflowClient", str], Any]


class Run(_records.RecordsMixin):
    """An open MLflow run. Get one from :func:`~toolkit.tracking.run.track`; every call
    names this run's id.

    Params, metrics and tags are validated when logged. Params and tags are sent at once;
    metrics are buffered and sent with ``log_batch`` when 1000 are waiting, within
    ``TOOLKIT_FLUSH_S`` seconds (default 2) and when the run ends. Everything logged is
    first appended to a journal on local disk (:mod:`toolkit.tracking._journal`), so a
    process killed with SIGKILL loses nothing: ``toolkit runs --mark-stale``, or the
    next run on the same store, sends what the journal holds. Files written with
    ``log_text``/``log_dict`` (or into :meth:`staging_path`) are uploaded when the run
    ends. After the end (of the ``with`` block, by an exception
    or a signal, or :meth:`close`) every method that adds to the run raises
    :class:`~toolkit.tracking.errors.RunEndedError`.

    Attributes
    ----------
    run_id : str
    experiment_id : str
    experiment : str
    tracking_uri : str
        Where the run is stored: the requested store, or the local spool when the
        tracking server could not be reached (then ``spooled`` is True).
    spooled : bool
    autologged : bool
        True while MLflow autologging logs into this run too (``track`` made it MLflow's
        active run): params are then held until the run ends, and a param autologging
        already logged is not sent again; toolkit's value, when it differs, is kept in
        tag ``toolkit.param_conflicts`` (MLflow params cannot change).
    """

    def __init__(
        self,
        client: MlflowClient,
        tracking_uri: str,
        run_id: str,
        experiment_id: str,
        experiment: str,
        *,
        artifact_dir: Path | None = None,
        spooled: bool = False,
        target_uri: str | None = None,
        creation_tags: Mapping[str, str] | None = None,
        artifact_uri: str | None = None,
        journal: bool = False,
    ) -> None:
        self._client = client
        self.tracking_uri = tracking_uri
        self.run_id = run_id
        self.experiment_id = experiment_id
        self.experiment = experiment
        self.spooled = spooled
        self._target_uri = target_uri or tracking_uri
        self._artifacts = artifact_dir  # made when a file is first staged
        self._lock = threading.RLock()
        self._send_lock = threading.RLock()
        self._params: dict[str, str] = {}
        self._pending = Pending()
        # Everything logged, kept only for a server run so it can move to the spool.
        self._journal: Pending | None = (
            Pending() if _store.is_remote(tracking_uri) and not spooled else None
        )
        self._creation_tags = dict(creation_tags or {})
        self._artifact_uri = artifact_uri
        self._closed = False
        self._status: str | None = None
        self.autologged = False
        self._conflicts: dict[str, str] = {}
        self._send_failed = False
        #: True: everything waits for close() (log_to_run adds all or nothing).
        self._hold = False
        self._journal_file = _journal.Journal.open(self._location()) if journal else None

    def _location(self) -> dict[str, str]:
        """Where the run is, as its journal records it."""
        return {
            "uri": self.tracking_uri,
            "run_id": self.run_id,
            "experiment_id": self.experiment_id,
            "experiment": self.experiment,
            "target": self._target_uri,
        }

    @property
    def journal_path(self) -> Path | None:
        """The run's journal on local disk while it is open (None when it has none)."""
        return None if self._journal_file is None else self._journal_file.path

    # ------------------------------------------------------------------ opening
    @classmethod
    def start(
        cls,
        experiment: str,
        *,
        tags: dict[str, str],
        run_name: str | None,
        start_ms: int,
        tracking_uri: str | None = None,
        parent: Run | None = None,
        environment: _records.EnvironmentRecord | None = None,
    ) -> Run:
        """Create a RUNNING run (a child of ``parent`` when given) for ``track``.

        When the tracking server does not answer, the run is created in the local spool.
        ``environment`` is stored once per experiment, and the run is created with the
        tags that point to it (a spooled run gets its own copy when it ends, see
        :meth:`_record_environment`).
        """
        if parent is not None:
            target, uri, client = parent._target_uri, parent.tracking_uri, parent._client
            tags = {**tags, "mlflow.parentRunId": parent.run_id}
            if parent.spooled:
                tags.update(spool.spool_tags(target))
        else:
            target = uri = _store.resolve_tracking_uri(tracking_uri)
            client = None
        shared: dict[str, str] = {}  # the pointer to the environment, once made
        pointer = None
        if environment is not None:
            record = environment

            def pointer(client: MlflowClient, uri: str, experiment_id: str) -> dict[str, str]:
                shared.update(_records.environment_tags(record, client, uri, experiment_id))
                return shared

        client, uri, info = spool.create_run(
            target,
            uri,
            client,
            experiment,
            check_server=parent is None,
            start_ms=start_ms,
            tags=tags,
            run_name=run_name,
            more_tags=pointer,
        )
        if uri == target:  # not spooled: created with the pointer
            tags = {**tags, **shared}
        if info.run_name:  # the spool keeps the name should the run move there
            tags = {**tags, "mlflow.runName": info.run_name}
        return cls(
            client,
            uri,
            info.run_id,
            info.experiment_id,
            experiment,
            spooled=uri != target,
            target_uri=target,
            creation_tags=tags,
            artifact_uri=info.artifact_uri,
            journal=True,
        )

    @classmethod
    @validate_params({"run_id": [str], "tracking_uri": [str, None]})
    def attach(cls, run_id: str, *, tracking_uri: str | None = None) -> Run:
        """Open a run that already exists, to add to it; :meth:`close` keeps its status.

        Parameters
        ----------
        run_id : str
        tracking_uri : str, default=None
            The store (default ``MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db``).

        Raises
        ------
        RunNotFoundError
            When ``run_id`` names no run in the store.
        """
        uri, client, found = _store.find_run(run_id, tracking_uri)
        info = found.info
        experiment = _store.call_with_retry(client.get_experiment, info.experiment_id).name
        return cls(
            client,
            uri,
            run_id,
            info.experiment_id,
            experiment,
            artifact_uri=info.artifact_uri,
            journal=True,
        )

    def __repr__(self) -> str:
        where = "spool" if self.spooled else self.tracking_uri
        return f"Run(run_id={self.run_id!r}, experiment={self.experiment!r}, store={where!r})"

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called: nothing more can be logged."""
        return self._closed

    @property
    def status(self) -> str | None:
        """The status the run was ended with; None while it is open (or when :meth:`close`
        left the status as it was)."""
        return self._status

    # ------------------------------------------------------------------ logging
    @while_open
    def log_param(self, key: str, value: Any) -> None:
        """Record one parameter (text, at most 6000 characters; logging it again must agree)."""
        self.log_params({key: value})

    @while_open
    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record parameters; nested dicts are flattened to dotted names.

        Raises
        ------
        InvalidValueError
            A value is longer than MLflow keeps (6000 characters).
        ValidationError
            A name was already logged with a different value (MLflow params are immutable).
        """
        # Checked inline, not with validate_params: logging calls are the hot path.
        if not isinstance(params, Mapping):
            raise ToolkitTypeError(f"params must be a dict, got {type(params).__name__}")
        items = [(check_key(k, "param"), param_text(k, v)) for k, v in flatten(params).items()]
        with self._lock:
            self._check_open("log_params")
            new = {}
            for key, text in items:
                old = self._params.get(key, new.get(key))
                if old is not None:
                    if old != text:  # refused whole: nothing of the call is kept
                        raise ValidationError(
                            f"param {key!r} was already logged as {old[:100]!r}; MLflow params "
                            f"cannot change, so {text[:100]!r} cannot be logged. Use a metric or "
                            "a new name"
                        )
                    continue
                new[key] = text
            self._params.update(new)
            self._buffer(params=list(new.items()))
        if new:
            self._flush_soon()

    @while_open
    def log_metric(
        self, key: str, value: float, step: int | None = None, *, timestamp: int | None = None
    ) -> None:
        """Record one value of a metric at ``step`` (default 0). Must be a finite number."""
        self.log_metrics({key: value}, step=step, timestamp=timestamp)

    @while_open
    def log_metrics(
        self, metrics: Mapping[str, float], step: int | None = None, *, timestamp: int | None = None
    ) -> None:
        """Record several metrics at one step.

        Raises
        ------
        InvalidValueError
            A value is NaN or infinite (MLflow would store NaN or ±1.8e308 silently).
        """
        if not isinstance(metrics, Mapping):
            raise ToolkitTypeError(f"metrics must be a dict, got {type(metrics).__name__}")
        if step is not None and not isinstance(step, int | np.integer):
            raise ToolkitTypeError(f"step must be an integer, got {type(step).__name__}")
        ts = now_ms() if timestamp is None else int(timestamp)
        step = 0 if step is None else int(step)
        rows = [
            (check_key(k, "metric"), metric_value(k, v), ts, step)
            for k, v in flatten(metrics).items()
        ]
        with self._lock:
            self._check_open("log_metrics")
            self._buffer(metrics=rows)
            full = len(self._pending.metrics) >= FLUSH_AT
        if full:
            self._flush_soon()

    @while_open
    def set_tag(self, key: str, value: Any) -> None:
        """Set a tag (text, at most 8000 characters); a later value replaces an earlier one."""
        self.set_tags({key: value})

    @while_open
    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set several tags (sent at once)."""
        self._set_tags(tags)
        self._flush_soon()

    def _set_tags(self, tags: Mapping[str, Any]) -> None:
        """Check and buffer tags: what the end of a run adds, sent with its last batch."""
        if not isinstance(tags, Mapping):
            raise ToolkitTypeError(f"tags must be a dict, got {type(tags).__name__}")
        items = [(check_key(k, "tag"), tag_text(k, v)) for k, v in tags.items()]
        with self._lock:
            self._check_open("set_tags")
            self._buffer(tags=items)

    def _buffer(
        self,
        *,
        params: list[tuple[str, str]] | None = None,
        metrics: list[tuple[str, float, int, int]] | None = None,
        tags: list[tuple[str, str]] | None = None,
    ) -> None:
        """Journal, then buffer, checked values (under the run's lock: one order for both)."""
        for kind, rows, attr in (
            ("p", params, "params"),
            ("m", metrics, "metrics"),
            ("t", tags, "tags"),
        ):
            if not rows:
                continue
            if self._journal_file is not None:
                self._journal_file.values(kind, rows)
            getattr(self._pending, attr).extend(rows)
            if self._journal is not None:
                getattr(self._journal, attr).extend(rows)

    def _has_pending(self) -> bool:
        """True when values wait to be sent."""
        return bool(self._pending)

    # ------------------------------------------------------------------ artifacts
    @while_open
    @validate_params({"artifact_file": [str]})
    def staging_path(self, artifact_file: str) -> Path:
        """A local path for the artifact file ``artifact_file`` (folders are made).

        What is written there is uploaded when the run ends.
        """
        folder, name = posixpath.split(artifact_file)
        if self._artifacts is None:
            self._artifacts = Path(tempfile.mkdtemp(prefix="toolkit-run-"))
            if self._journal_file is not None:  # a kill leaves them to the replay
                self._journal_file.staging(self._artifacts)
        path = self._artifacts / folder
        path.mkdir(parents=True, exist_ok=True)
        return path / name

    @while_open
    @validate_params({"local_path": [str, os.PathLike], "artifact_path": [str, None]})
    def log_artifact(self, local_path: str | os.PathLike, artifact_path: str | None = None) -> None:
        """Upload a file, or a folder's content, now (under ``artifact_path``)."""
        source = Path(local_path)
        if not source.exists():
            raise ValidationError(f"artifact {str(source)!r} does not exist")
        self._upload(self._put(source, artifact_path))

    @while_open
    @validate_params({"text": [str], "artifact_file": [str]})
    def log_text(self, text: str, artifact_file: str) -> None:
        """Write ``text`` to the artifact file ``artifact_file`` (uploaded when the run ends)."""
        with self._lock:  # close() waits, then uploads the file
            self._check_open("log_text")
            self.staging_path(artifact_file).write_text(text, encoding="utf-8")

    @while_open
    @validate_params({"artifact_file": [str]})
    def log_dict(self, obj: Any, artifact_file: str) -> None:
        """Write an object as strict JSON to an artifact file (uploaded when the run ends).

        numpy scalars become plain numbers, other objects their ``to_dict()`` or their
        text. JSON has no NaN or infinity: such values are written as ``null``, with a
        :class:`~toolkit.tracking.errors.NonFiniteValueWarning` that names where they were.
        """
        found = non_finite_paths(obj)
        if found:
            shown = ", ".join(found[:5]) + (" ..." if len(found) > 5 else "")
            warnings.warn(
                f"log_dict({artifact_file!r}): {len(found)}{'+' if len(found) > 5 else ''} "
                f"NaN or infinite value(s) written as null (JSON has neither): {shown}",
                NonFiniteValueWarning,
                stacklevel=4,  # past while_open and validate_params: the caller's line
            )
        self._log_json(obj, artifact_file)

    def _log_json(self, obj: Any, artifact_file: str) -> None:
        """``obj`` as strict JSON (NaN and infinity ``null``: the documented records)."""
        self.log_text(dumps(obj), artifact_file)

    # ------------------------------------------------------------------ the environment
    def _record_environment(self, record: _records.EnvironmentRecord) -> None:
        """Give a run that does not point to its environment record its own copy.

        A run created in the spool has no pointer (see :meth:`start`): ``toolkit sync``
        copies a run's artifacts, not the folders of its experiment.
        """
        if _records.LOCATION_TAG in self._creation_tags:
            return
        folder = _records.RUN_FOLDER
        self.log_text(record.environment, f"{folder}/{_records.ENVIRONMENT_FILE}")
        self.log_text(record.packages, f"{folder}/{_records.PACKAGES_FILE}")
        self._set_tags({_records.DIGEST_TAG: record.digest})

    # ------------------------------------------------------------------ sending
    def _check_open(self, method: str) -> None:
        if self._closed:
            status = f" ({self._status})" if self._status else ""
            raise RunEndedError(
                f"Run.{method}: run {self.run_id} has ended{status}; nothing more can be "
                "logged to it. Start a new run, or reopen this one with Run.attach(run_id)"
            )

    @while_open
    def flush(self) -> None:
        """Send buffered params, metrics and tags now (``log_batch``, in chunks).

        While MLflow autologging logs into the run (``autologged``), params wait for the
        end of the run.
        """
        self._flush()

    def _flush_soon(self) -> None:
        """Send now, from a logging call: a store that refuses keeps the values buffered
        (and journaled) for the next send, with a warning; the run's end reports it."""
        if self._hold:
            return
        try:
            self._flush()
        except Exception as exc:
            if not self._send_failed:
                logger.warning(
                    "run %s: sending to %s failed (%s); the values stay buffered and in the "
                    "journal %s until a send succeeds",
                    self.run_id,
                    self.tracking_uri,
                    exc,
                    self.journal_path,
                )
            self._send_failed = True

    def _flush(self, *, final: bool = False) -> None:
        with self._send_lock:
            with self._lock:
                pending, self._pending = self._pending, Pending()
                if self.autologged and not final:  # autologging may still log its params
                    self._pending.params, pending.params = pending.params, []
                mark = None if self._journal_file is None else self._journal_file.lines
            try:
                if self.autologged and pending.params:
                    pending.params = self._unlogged_params(pending.params, pending.tags)
                self._send_pending(pending)
            except BaseException:
                with self._lock:  # back in front of what was logged meanwhile
                    later, self._pending = self._pending, pending
                    for attr in ("params", "metrics", "tags"):
                        getattr(pending, attr).extend(getattr(later, attr))
                raise
            self._send_failed = False
            if mark is not None and self._journal_file is not None:
                self._journal_file.sent(mark)

    def _unlogged_params(
        self, params: list[tuple[str, str]], tags: list[tuple[str, str]]
    ) -> list[tuple[str, str]]:
        """``params`` less those autologging logged: the same value is not sent twice, and
        a different one (MLflow would refuse the whole batch) goes to ``CONFLICTS_TAG``."""
        stored = _store.get_run(self._client, self.run_id).data.params
        keep, conflicts = split_params(params, stored)
        if conflicts:
            logger.warning(
                "run %s: MLflow autologging logged %s first; toolkit's values %s are kept in "
                "tag %s (MLflow params cannot change)",
                self.run_id,
                {k: stored[k] for k in conflicts},
                conflicts,
                CONFLICTS_TAG,
            )
            self._conflicts.update(conflicts)
            tags.append((CONFLICTS_TAG, clip(json.dumps(self._conflicts, sort_keys=True))))
        return keep

    def _send_pending(self, pending: Pending) -> None:
        """The one place values are sent: ``log_batch`` calls within MLflow's limits."""
        for params, metrics, tags in batches(*pending.entities()):
            if self._call(_log_batch(params, metrics, tags), journaled=True):
                return  # the run moved to the spool, which got the whole journal

    def _upload(self, op: _Op, *, final: bool = False) -> None:
        """Send what is buffered, then ``op`` (an upload), so the store sees them in order."""
        with self._send_lock:
            self._flush(final=final)
            self._call(op)

    def _put(self, source: Path, artifact_path: str | None) -> _Op:
        """An upload of a file, or of a folder's content, to the run's artifact URI.

        Straight through MLflow's artifact repository: ``MlflowClient.log_artifacts``
        would first read the whole run to learn its artifact URI, which the run knows.
        """

        def op(client: MlflowClient, run_id: str) -> None:
            if self._artifact_uri is None:  # a run made by hand: let MLflow look it up
                put = client.log_artifacts if source.is_dir() else client.log_artifact
                put(run_id, str(source), artifact_path)
            else:
                repo = _store.artifact_repository(self._artifact_uri, self.tracking_uri)
                put = repo.log_artifacts if source.is_dir() else repo.log_artifact
                put(str(source), artifact_path)

        return op

    def _call(self, op: _Op, *, journaled: bool = False) -> bool:
        """Call ``op(client, run_id)``; when the server is unreachable, move to the spool.

        Returns True when the run moved. ``op`` is then repeated on the spool, unless
        ``journaled`` (the values it sends are in the journal the spool got).
        """
        with self._send_lock:
            try:
                _store.call_with_retry(op, self._client, self.run_id)
                return False
            except Exception as exc:
                if self._journal is None or not spool.is_unreachable(exc):
                    raise
                self._move_to_spool(exc)
            if not journaled:
                _store.call_with_retry(op, self._client, self.run_id)
            return True

    def _move_to_spool(self, reason: BaseException) -> None:
        """The server went away mid-run: continue in the local spool, keeping everything."""
        tags = self._creation_tags
        self._client, self.tracking_uri, info = spool.start_spooled_run(
            self._target_uri,
            self.experiment,
            reason,
            start_ms=int(tags.get("toolkit.start_ms", now_ms())),
            tags=tags,
            run_name=tags.get("mlflow.runName"),
            remote_run_id=self.run_id,
        )
        self.run_id, self.experiment_id, self.spooled = info.run_id, info.experiment_id, True
        self._artifact_uri = info.artifact_uri
        with self._lock:
            journal, self._journal = self._journal or Pending(), None
            self._pending = Pending()  # all of it is in the journal
            mark = None if self._journal_file is None else self._journal_file.lines
        if self._journal_file is not None:
            self._journal_file.where(self._location())
        self._send_pending(journal)
        if mark is not None and self._journal_file is not None:
            self._journal_file.sent(mark)

    # ------------------------------------------------------------------ the end
    @validate_params({"status": [Options(STATUSES), None], "send": [BOOLEAN]})
    def close(self, status: str | None = None, *, send: bool = True) -> list[str]:
        """Send what is buffered, upload the staged artifact files, and end the run.

        Parameters
        ----------
        status : {"FINISHED", "FAILED", "KILLED"}, default=None
            The run's final status; None leaves it as it is (a run opened with
            :meth:`attach` keeps the status it had).
        send : bool, default=True
            False drops what is buffered and staged instead (additions that failed
            half-way are not stored).

        Returns
        -------
        list of str
            The artifact files uploaded, relative to the run's artifact root.
        """
        with self._lock:
            self._check_open("close")
            self._closed = True
            self._status = status
        staging = self._artifacts
        ended = False
        try:
            if not send:
                ended = True
                return []
            files = sorted(
                path.relative_to(staging).as_posix()
                for path in (staging.rglob("*") if staging is not None else ())
                if path.is_file()
            )
            if staging is not None and files:
                self._upload(self._put(staging, None), final=True)
            else:
                self._flush(final=True)
            if status is not None:
                self._terminate(status)
            ended = True
            return files
        finally:
            # A failed end keeps the journal and the staged files, for the replay.
            if staging is not None and ended:
                shutil.rmtree(staging, ignore_errors=True)
            if self._journal_file is not None:
                self._journal_file.close(remove=ended)

    def _end_failed(self, status: str, error: BaseException) -> str:
        """After :meth:`close` failed: end the run FAILED with the reason in its store or,
        when the store cannot be written at all, save it in the local spool. Returns the
        sentence that says where the run and its values are.
        """
        reason = clip(f"{type(error).__name__}: {error}".splitlines()[0], 1000)
        head = f"run {self.run_id} could not be completed in {self.tracking_uri} ({reason})"
        journal = self.journal_path
        try:
            self._call(_log_batch([], [], [_tag("toolkit.end_reason", f"finish failed: {reason}")]))
            self._terminate("FAILED")
        except Exception as store_error:
            logger.debug("run %s cannot be marked FAILED: %s", self.run_id, store_error)
        else:
            if journal is not None and journal.exists() and not self._pending:
                if self._artifacts is None or not any(self._artifacts.rglob("*")):
                    journal.unlink()
            if journal is not None and journal.exists():
                return (
                    f"{head}; it is marked FAILED, and what it could not send is kept in "
                    f"{journal} (toolkit runs --mark-stale sends it)"
                )
            return f"{head}; it is marked FAILED"
        if journal is None or not journal.exists():
            return f"{head}; the store cannot be written and the run has no journal"
        try:
            everything = _journal.read(journal, everything=True)
            self._journal = everything.unsent
            self._move_to_spool(error)
            if self._artifacts is not None and any(self._artifacts.rglob("*")):
                self._call(self._put(self._artifacts, None))
            self._terminate(status)
        except Exception as spool_error:
            return (
                f"{head}; neither it nor the local spool can be written ({spool_error}): what "
                f"it logged is kept in {journal} (toolkit runs --mark-stale sends it)"
            )
        journal.unlink(missing_ok=True)
        if self._artifacts is not None:
            shutil.rmtree(self._artifacts, ignore_errors=True)
        return (
            f"{head}; the store cannot be written, so the run is in the local spool "
            f"{self.tracking_uri} as run {self.run_id} (toolkit sync sends it)"
        )

    def _terminate(self, status: str) -> None:
        """Set the final status (also for a run closed without one, when its block ends)."""
        end = now_ms()
        self._call(lambda c, rid: c.set_terminated(rid, status=status, end_time=end))
        self._status = status


def _tag(key: str, value: str) -> Any:
    from mlflow.entities import RunTag

    return RunTag(key, value)


def _log_batch(params: list, metrics: list, tags: list) -> _Op:
    return lambda client, rid: client.log_batch(rid, metrics=metrics, params=params, tags=tags)
