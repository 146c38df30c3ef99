"""The :class:`Run` object: checked, buffered logging to one MLflow run, and its end.

Every call names the run's id through an ``MlflowClient`` (MLflow's fluent API keeps the
active run on a global stack). Params, metrics and tags are buffered and sent with
``log_batch``; files are staged in a local folder and uploaded in one call when the run
ends. When a tracking server stops answering mid-run, the run moves to the local spool
with everything it logged (:mod:`toolkit.tracking.spool`).
"""

from __future__ import annotations

import os
import posixpath
import shutil
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from toolkit._json import dumps
from toolkit._validation import ARRAY_LIKE, BOOLEAN, STR_LIST, HasMethods, Options, validate_params
from toolkit.data import Predictions
from toolkit.exceptions import ToolkitTypeError, ValidationError
from toolkit.tracking import _records, _store, spool
from toolkit.tracking._values import (
    Pending,
    batches,
    check_key,
    flatten,
    metric_value,
    now_ms,
    param_text,
    tag_text,
)
from toolkit.tracking.errors import TrackingError

if TYPE_CHECKING:  # pragma: no cover
    from mlflow import MlflowClient

__all__ = ["FLUSH_AT", "Run"]

#: Buffered metrics are sent when this many are waiting (and at every heartbeat and the end).
FLUSH_AT = 1000
STATUSES = ("FINISHED", "FAILED", "KILLED")

_Op = Callable[["MlflowClient", str], Any]


class Run:
    """An open MLflow run. Get one from :func:`~toolkit.tracking.run.track`; every call
    names this run's id.

    Params, metrics and tags are validated when logged and buffered; they are sent
    with ``log_batch`` when 1000 are waiting, at every heartbeat and when the run ends.
    Files written with ``log_text``/``log_dict`` (or into :meth:`staging_path`) are
    uploaded when the run ends.

    Attributes
    ----------
    run_id : str
    experiment_id : str
    experiment : str
    tracking_uri : str
        Where the run is stored: the requested store, or the local spool when the
        tracking server could not be reached (then ``spooled`` is True).
    spooled : bool
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
    ) -> None:
        self._client = client
        self.tracking_uri = tracking_uri
        self.run_id = run_id
        self.experiment_id = experiment_id
        self.experiment = experiment
        self.spooled = spooled
        self._target_uri = target_uri or tracking_uri
        self._artifacts = artifact_dir or Path(tempfile.mkdtemp(prefix="toolkit-run-"))
        self._lock = threading.RLock()
        self._send_lock = threading.RLock()
        self._params: dict[str, str] = {}
        self._pending = Pending()
        # Everything logged, kept only for a server run so it can move to the spool.
        self._journal: Pending | None = (
            Pending() if _store.is_remote(tracking_uri) and not spooled else None
        )
        self._creation_tags = dict(creation_tags or {})
        self._closed = False

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
    ) -> Run:
        """Create a RUNNING run (a child of ``parent`` when given) for ``track``.

        When the tracking server does not answer, the run is created in the local spool.
        """
        if parent is not None:
            target, uri, client = parent._target_uri, parent.tracking_uri, parent._client
            tags = {**tags, "mlflow.parentRunId": parent.run_id}
            if parent.spooled:
                tags.update(spool.spool_tags(target))
        else:
            target = uri = _store.resolve_tracking_uri(tracking_uri)
            client = None
        options = {"start_ms": start_ms, "tags": tags, "run_name": run_name}
        reason: BaseException | str | None = None
        if parent is None and _store.is_remote(uri) and not spool.server_reachable(uri):
            reason = "no answer from its /health endpoint"
        else:
            client = client or _store.get_client(uri)
            try:
                info = _store.create_run(client, uri, experiment, **options)
            except Exception as exc:
                if not (_store.is_remote(uri) and spool.is_unreachable(exc)):
                    raise
                reason = exc
        if reason is not None:
            client, uri, info = spool.start_spooled_run(target, experiment, reason, **options)
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
        return cls(client, uri, run_id, info.experiment_id, experiment)

    def __repr__(self) -> str:
        where = "spool" if self.spooled else self.tracking_uri
        return f"Run(run_id={self.run_id!r}, experiment={self.experiment!r}, store={where!r})"

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called: nothing more can be logged."""
        return self._closed

    # ------------------------------------------------------------------ logging
    def log_param(self, key: str, value: Any) -> None:
        """Record one parameter (text, at most 6000 characters; logging it again must agree)."""
        self.log_params({key: value})

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
            self._check_open()
            for key, text in items:
                old = self._params.get(key)
                if old is not None:
                    if old != text:
                        raise ValidationError(
                            f"param {key!r} was already logged as {old[:100]!r}; MLflow params "
                            f"cannot change, so {text[:100]!r} cannot be logged. Use a metric or "
                            "a new name"
                        )
                    continue
                self._params[key] = text
                self._pending.params.append((key, text))
                if self._journal is not None:
                    self._journal.params.append((key, text))

    def log_metric(
        self, key: str, value: float, step: int | None = None, *, timestamp: int | None = None
    ) -> None:
        """Record one value of a metric at ``step`` (default 0). Must be a finite number."""
        self.log_metrics({key: value}, step=step, timestamp=timestamp)

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
            self._check_open()
            self._pending.metrics.extend(rows)
            if self._journal is not None:
                self._journal.metrics.extend(rows)
            full = len(self._pending.metrics) >= FLUSH_AT
        if full:
            self.flush()

    def set_tag(self, key: str, value: Any) -> None:
        """Set a tag (text, at most 8000 characters); a later value replaces an earlier one."""
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set several tags."""
        if not isinstance(tags, Mapping):
            raise ToolkitTypeError(f"tags must be a dict, got {type(tags).__name__}")
        items = [(check_key(k, "tag"), tag_text(k, v)) for k, v in tags.items()]
        with self._lock:
            self._check_open()
            self._pending.tags.extend(items)
            if self._journal is not None:
                self._journal.tags.extend(items)

    @validate_params({"scores": [ARRAY_LIKE, Mapping], "metric": [str]})
    def log_cv_scores(self, scores: Any, *, metric: str = "score") -> dict[str, float]:
        """Per-fold cross-validation scores as metric ``cv.<name>`` at step = fold.

        Parameters
        ----------
        scores : array-like of shape (n_folds,) or dict of str to array-like
            One score per fold, or the dict that ``sklearn.model_selection.cross_validate``
            returns (keys ``test_<name>``/``train_<name>``; times are logged too).
        metric : str, default="score"
            Name used when ``scores`` is a plain array.

        Returns
        -------
        dict of str to float
            The mean and standard deviation logged for each metric
            (``cv.<name>.mean``, ``cv.<name>.std``).
        """
        table = dict(scores) if isinstance(scores, Mapping) else {metric: scores}
        summary: dict[str, float] = {}
        for name, values in table.items():
            arr = np.asarray(values, dtype=float).ravel()
            if arr.size == 0:
                raise ValidationError(f"cv scores {name!r} are empty")
            for fold, value in enumerate(arr):
                self.log_metric(f"cv.{name}", value, step=fold)
            summary[f"cv.{name}.mean"] = float(arr.mean())
            summary[f"cv.{name}.std"] = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
        self.log_metrics(summary)
        return summary

    # ------------------------------------------------------------------ artifacts
    @validate_params({"artifact_file": [str]})
    def staging_path(self, artifact_file: str) -> Path:
        """A local path for the artifact file ``artifact_file`` (folders are made).

        What is written there is uploaded when the run ends.
        """
        folder, name = posixpath.split(artifact_file)
        path = self._artifacts / folder
        path.mkdir(parents=True, exist_ok=True)
        return path / name

    @validate_params({"local_path": [str, os.PathLike], "artifact_path": [str, None]})
    def log_artifact(self, local_path: str | os.PathLike, artifact_path: str | None = None) -> None:
        """Upload a file or folder now (under ``artifact_path``)."""
        source = Path(local_path)
        if not source.exists():
            raise ValidationError(f"artifact {str(source)!r} does not exist")
        self._check_open()
        if source.is_dir():
            self._upload(lambda c, rid: c.log_artifacts(rid, str(source), artifact_path))
        else:
            self._upload(lambda c, rid: c.log_artifact(rid, str(source), artifact_path))

    @validate_params({"text": [str], "artifact_file": [str]})
    def log_text(self, text: str, artifact_file: str) -> None:
        """Write ``text`` to the artifact file ``artifact_file`` (uploaded when the run ends)."""
        self.staging_path(artifact_file).write_text(text, encoding="utf-8")

    @validate_params({"artifact_file": [str]})
    def log_dict(self, obj: Any, artifact_file: str) -> None:
        """Write an object as JSON to an artifact file (uploaded when the run ends).

        numpy scalars become plain numbers, NaN and infinity ``null``, other objects
        their ``to_dict()`` or their text.
        """
        self.log_text(dumps(obj), artifact_file)

    @validate_params(
        {
            "model": [HasMethods("predict")],
            "name": [str],
            "pip_requirements": [STR_LIST, None],
            "log_params": [BOOLEAN],
        }
    )
    def log_model(
        self,
        model: Any,
        name: str = "model",
        *,
        pip_requirements: list[str] | None = None,
        log_params: bool = True,
    ) -> str:
        """Save a scikit-learn estimator as an MLflow model under artifact ``name``.

        Requirements are given explicitly (the installed versions of scikit-learn, its
        dependencies and the serialiser) so MLflow does not spend seconds inferring them.

        Parameters
        ----------
        model : scikit-learn estimator
        name : str, default="model"
        pip_requirements : list of str, default=None
            Defaults to the pinned versions of mlflow, scikit-learn, numpy, scipy,
            pandas and skops installed here.
        log_params : bool, default=True
            Also log ``model.get_params()`` (scalar values) as params ``model.<name>``.

        Returns
        -------
        str
            The model URI, ``runs:/<run_id>/<name>`` (load with
            ``mlflow.sklearn.load_model``).
        """
        check_key(name, "model artifact")
        if log_params and hasattr(model, "get_params"):
            self.log_params(_records.model_params(model, name))
        requirements = pip_requirements or _records.default_requirements()
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            fmt = _records.save_model(model, path, requirements)
            self._upload(lambda c, rid: c.log_artifacts(rid, str(path), name))
        self.set_tags(
            {f"toolkit.model.{name}": type(model).__name__, f"toolkit.model.{name}.format": fmt}
        )
        return f"runs:/{self.run_id}/{name}"

    @validate_params({"name": [str], "X": [ARRAY_LIKE], "y": [ARRAY_LIKE, None], "context": [str]})
    def log_dataset(
        self, name: str, X: Any, y: Any = None, *, context: str = "training"
    ) -> dict[str, Any]:
        """Record a dataset: digest over all rows and columns, schema, label distribution.

        Parameters
        ----------
        name : str
        X : DataFrame or array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), default=None
        context : str, default="training"
            MLflow's dataset context tag ("training", "validation", "test", ...).

        Returns
        -------
        dict
            ``digest`` (32 hex characters, SHA-256 of every row, column name and dtype),
            ``n_rows``, ``n_columns``, ``schema`` and ``label_distribution``. The same dict
            is stored as ``datasets/<name>.json``; MLflow's dataset inputs show it too.
        """
        check_key(name, "dataset")
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X))
        frame = frame.rename(columns=str)
        labels = None if y is None else pd.Series(np.asarray(y).ravel(), name="__y__")
        if labels is not None and len(labels) != len(frame):
            raise ValidationError(f"y has {len(labels)} rows but X has {len(frame)}")
        profile = _records.dataset_profile(frame, labels)
        self.log_dict(profile, f"datasets/{name}.json")
        self.set_tags(
            {
                f"toolkit.dataset.{name}.digest": profile["digest"],
                f"toolkit.dataset.{name}.rows": profile["n_rows"],
            }
        )
        inputs = _records.dataset_inputs(name, profile, frame.size, context)
        self._upload(lambda c, rid: c.log_inputs(rid, datasets=inputs))
        return profile

    @validate_params({"p": [Predictions], "name": [str]})
    def log_predictions(self, p: Predictions, name: str = "predictions") -> str:
        """Store ``p.to_frame()`` as ``predictions/<name>.parquet``, to rebuild analyses later.

        Returns
        -------
        str
            The artifact path.
        """
        check_key(name, "predictions")
        target = self.staging_path(f"predictions/{name}.parquet")
        try:
            p.to_frame().to_parquet(target, index=False)
        except (ValueError, TypeError, ImportError) as exc:
            raise ToolkitTypeError(
                f"predictions {name!r} could not be written as Parquet: {exc}"
            ) from exc
        self.log_dict(_records.predictions_meta(p), f"predictions/{name}.json")
        self.set_tag(f"toolkit.predictions.{name}", f"predictions/{name}.parquet")
        return f"predictions/{name}.parquet"

    @validate_params({"diagnosis": [HasMethods("to_dict")], "name": [str]})
    def log_diagnosis(self, diagnosis: Any, name: str = "diagnosis") -> dict[str, float]:
        """Store a diagnosis: its JSON, its HTML when it has ``to_html``, its overall metrics.

        Parameters
        ----------
        diagnosis : object with ``to_dict()`` and optionally ``to_html(path)``
            A :class:`toolkit.Diagnosis`, or :class:`toolkit.Metrics`.
        name : str, default="diagnosis"

        Returns
        -------
        dict of str to float
            The metrics logged (from ``to_dict()["metrics"]["overall"]``, or
            ``to_dict()["overall"]``). Undefined values (None, NaN) are not logged;
            their names are kept in tag ``toolkit.<name>.undefined_metrics``.
        """
        check_key(name, "diagnosis")
        content = diagnosis.to_dict()
        self.log_dict(content, f"{name}/{name}.json")
        if hasattr(diagnosis, "to_html"):
            html_path = self.staging_path(f"{name}/{name}.html")
            html = diagnosis.to_html(str(html_path))
            if isinstance(html, str) and not html_path.exists():
                html_path.write_text(html, encoding="utf-8")
        logged, undefined = _records.overall_metrics(content)
        if logged:
            self.log_metrics(logged)
        if undefined:
            self.set_tag(f"toolkit.{name}.undefined_metrics", ",".join(undefined))
        return logged

    # ------------------------------------------------------------------ sending
    def _check_open(self) -> None:
        if self._closed:
            raise TrackingError(f"run {self.run_id} has ended; nothing more can be logged")

    def flush(self) -> None:
        """Send buffered params, metrics and tags now (``log_batch``, in chunks)."""
        with self._send_lock:
            with self._lock:
                pending, self._pending = self._pending, Pending()
            self._send_pending(pending)

    def _send_pending(self, pending: Pending) -> None:
        """The one place values are sent: ``log_batch`` calls within MLflow's limits."""
        for params, metrics, tags in batches(*pending.entities()):
            if self._call(_log_batch(params, metrics, tags), journaled=True):
                return  # the run moved to the spool, which got the whole journal

    def _upload(self, op: _Op) -> None:
        """Send what is buffered, then ``op`` (an upload), so the store sees them in order."""
        with self._send_lock:
            self.flush()
            self._call(op)

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
        with self._lock:
            journal, self._journal = self._journal or Pending(), None
            self._pending = Pending()  # all of it is in the journal
        self._send_pending(journal)

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
            self._check_open()
            self._closed = True
        staging = self._artifacts
        try:
            if not send:
                return []
            files = sorted(
                path.relative_to(staging).as_posix()
                for path in staging.rglob("*")
                if path.is_file()
            )
            if files:
                self._upload(lambda c, rid: c.log_artifacts(rid, str(staging)))
            else:
                self.flush()
            if status is not None:
                end = now_ms()
                self._call(lambda c, rid: c.set_terminated(rid, status=status, end_time=end))
            return files
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _log_batch(params: list, metrics: list, tags: list) -> _Op:
    return lambda client, rid: client.log_batch(rid, metrics=metrics, params=params, tags=tags)
