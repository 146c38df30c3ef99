"""`track` / `tracked` / `Run`: record a run to MLflow with nothing lost and a truthful status.

MLflow's fluent API keeps the active run on a global stack. Here every call names its run
id explicitly through an ``MlflowClient``; the only global state is this module's own
thread-local stack of open toolkit runs, which ``nested=True`` reads to find the parent.
"""

from __future__ import annotations

import functools
import getpass
import inspect
import json
import logging
import math
import os
import posixpath
import random
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd

from toolkit.exceptions import InvalidValueError, ToolkitTypeError, ValidationError
from toolkit.tracking import _capture, _store, spool
from toolkit.tracking.errors import TrackingError

if TYPE_CHECKING:  # pragma: no cover
    from mlflow import MlflowClient

    from toolkit.data import Predictions

__all__ = ["Run", "current_run", "track", "tracked"]

logger = logging.getLogger(__name__)

#: MLflow keeps this many characters of a param value and silently drops the rest.
MAX_PARAM_LENGTH = 6000
#: MLflow's limit on a tag value.
MAX_TAG_LENGTH = 8000
MAX_KEY_LENGTH = 250
#: MLflow's ``log_batch`` limits.
MAX_BATCH_PARAMS_TAGS = 100
MAX_BATCH_METRICS = 1000
MAX_BATCH_ENTITIES = 1000
#: Buffered metrics are sent when this many are waiting (and at every heartbeat and the end).
FLUSH_AT = 1000
#: Seconds between heartbeats; a RUNNING run whose heartbeat is much older is stale.
DEFAULT_HEARTBEAT_S = 30.0
_NAME_RE = re.compile(r"^[/\w.\- :]*$")

_F = TypeVar("_F", bound=Callable[..., Any])
_local = threading.local()


class RunTerminated(SystemExit):
    """Raised in the main thread when the process receives SIGTERM during a run."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum


def _stack() -> list[Run]:
    if not hasattr(_local, "runs"):
        _local.runs = []
    return _local.runs


def current_run() -> Run | None:
    """The innermost open toolkit run of this thread, or None."""
    stack = _stack()
    return stack[-1] if stack else None


# ---------------------------------------------------------------------------- validation
def _check_key(key: Any, what: str) -> str:
    if not isinstance(key, str):
        raise ToolkitTypeError(f"{what} name must be a string, got {type(key).__name__}: {key!r}")
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValidationError(
            f"{what} name must have 1 to {MAX_KEY_LENGTH} characters, got {len(key)}: {key[:60]!r}"
        )
    if not _NAME_RE.match(key) or posixpath.normpath(key) != key or key.startswith("/"):
        raise ValidationError(
            f"{what} name {key!r} is not allowed by MLflow: use letters, digits, '_', '-', "
            "'.', ' ', ':' and '/' (no leading '/', no '..' or '//')"
        )
    return key


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one level with dotted keys: ``{"a": {"b": 1}} -> {"a.b": 1}``.

    Examples
    --------
    >>> flatten({"model": {"depth": 3, "lr": 0.1}, "seed": 0})
    {'model.depth': 3, 'model.lr': 0.1, 'seed': 0}
    """
    out: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, prefix=f"{name}."))
        else:
            out[name] = value
    return out


def _param_text(key: str, value: Any) -> str:
    if isinstance(value, float | np.floating) and not math.isfinite(value):
        return str(float(value))  # a param is text: "nan" and "inf" are kept as written
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_PARAM_LENGTH:
        raise InvalidValueError(
            f"param {key!r} is {len(text):,} characters long; MLflow keeps {MAX_PARAM_LENGTH:,} "
            "and silently drops the rest. Log long values as a file with run.log_text(...) or "
            "run.log_dict(...)"
        )
    return text


def _metric_value(key: str, value: Any) -> float:
    if isinstance(value, bool | np.bool_):
        return float(value)
    if not isinstance(value, int | float | np.integer | np.floating):
        raise ToolkitTypeError(
            f"metric {key!r} must be a number, got {type(value).__name__}: {value!r}"
        )
    number = float(value)
    if not math.isfinite(number):
        raise InvalidValueError(
            f"metric {key!r} is {number}; MLflow would store it as "
            f"{'NaN' if math.isnan(number) else '±1.8e308'} with only a warning. "
            "Log finite values (skip undefined metrics, or log them as a tag)"
        )
    return number


def _tag_text(key: str, value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_TAG_LENGTH:
        raise InvalidValueError(
            f"tag {key!r} is {len(text):,} characters long; MLflow allows {MAX_TAG_LENGTH:,}. "
            "Log long values as a file with run.log_text(...)"
        )
    return text


def _clip(text: str, limit: int = MAX_TAG_LENGTH) -> str:
    return text if len(text) <= limit else text[: limit - 20] + " ...[cut, see artifact]"


def _now_ms() -> int:
    return int(time.time() * 1000)


# ---------------------------------------------------------------------------- the run
class Run:
    """An open MLflow run. Get one from :func:`track`; every call names this run's id.

    Params, metrics and tags are validated when logged and buffered; they are sent
    with ``log_batch`` when 1000 are waiting, at every heartbeat and when the run ends.

    Attributes
    ----------
    run_id : str
    experiment_id : str
    tracking_uri : str
        Where the run is stored: the requested store, or the local spool when the
        tracking server could not be reached (then ``spooled`` is True).
    """

    def __init__(
        self,
        client: MlflowClient,
        tracking_uri: str,
        run_id: str,
        experiment_id: str,
        experiment: str,
        *,
        artifact_dir: Path,
        spooled: bool = False,
        target_uri: str | None = None,
    ) -> None:
        self._client = client
        self.tracking_uri = tracking_uri
        self.run_id = run_id
        self.experiment_id = experiment_id
        self.experiment = experiment
        self.spooled = spooled
        self._target_uri = target_uri or tracking_uri
        self._artifacts = artifact_dir
        self._lock = threading.RLock()
        self._send_lock = threading.RLock()
        self._params: dict[str, str] = {}
        self._pending_params: list[tuple[str, str]] = []
        self._pending_metrics: list[tuple[str, float, int, int]] = []
        self._pending_tags: list[tuple[str, str]] = []
        # Everything logged, kept only for a server run so it can move to the spool.
        self._journal: list[tuple[str, tuple]] | None = (
            [] if _store.is_remote(tracking_uri) else None
        )
        self._creation_tags: dict[str, str] = {}
        self._closed = False

    def __repr__(self) -> str:
        where = "spool" if self.spooled else self.tracking_uri
        return f"Run(run_id={self.run_id!r}, experiment={self.experiment!r}, store={where!r})"

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
        if not isinstance(params, Mapping):
            raise ToolkitTypeError(f"params must be a dict, got {type(params).__name__}")
        items = [(_check_key(k, "param"), _param_text(k, v)) for k, v in flatten(params).items()]
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
                self._pending_params.append((key, text))
                self._note("param", (key, text))

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
        ts = _now_ms() if timestamp is None else int(timestamp)
        step = 0 if step is None else int(step)
        rows = [
            (_check_key(k, "metric"), _metric_value(k, v), ts, step)
            for k, v in flatten(metrics).items()
        ]
        with self._lock:
            self._check_open()
            self._pending_metrics.extend(rows)
            for row in rows:
                self._note("metric", row)
            full = len(self._pending_metrics) >= FLUSH_AT
        if full:
            self.flush()

    def set_tag(self, key: str, value: Any) -> None:
        """Set a tag (text, at most 8000 characters); a later value replaces an earlier one."""
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set several tags."""
        items = [(_check_key(k, "tag"), _tag_text(k, v)) for k, v in dict(tags).items()]
        with self._lock:
            self._check_open()
            self._pending_tags.extend(items)
            for item in items:
                self._note("tag", item)

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
    def _staging(self, artifact_path: str | None) -> Path:
        path = self._artifacts / (artifact_path or "")
        path.mkdir(parents=True, exist_ok=True)
        return path

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

    def log_text(self, text: str, artifact_file: str) -> None:
        """Write ``text`` to the artifact file ``artifact_file`` (uploaded when the run ends)."""
        target = self._staging(posixpath.dirname(artifact_file)) / posixpath.basename(artifact_file)
        target.write_text(text, encoding="utf-8")

    def log_dict(self, obj: Any, artifact_file: str) -> None:
        """Write a JSON-serialisable object as an artifact file (uploaded when the run ends)."""
        self.log_text(json.dumps(obj, indent=2, default=str, allow_nan=True), artifact_file)

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
        if not hasattr(model, "predict"):
            raise ToolkitTypeError(
                f"log_model expects a fitted scikit-learn estimator, got {type(model).__name__}"
            )
        _check_key(name, "model artifact")
        if log_params and hasattr(model, "get_params"):
            params = {
                f"{name}.{k}": v
                for k, v in model.get_params(deep=True).items()
                if v is None or isinstance(v, str | bool | int | float | np.integer | np.floating)
            }
            params[f"{name}.class"] = type(model).__name__
            self.log_params(params)
        import mlflow.sklearn

        requirements = pip_requirements or _default_requirements()
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            fmt = "skops"
            try:
                mlflow.sklearn.save_model(
                    model, str(path), pip_requirements=requirements, serialization_format="skops"
                )
            except Exception as exc:  # skops cannot serialise every object: fall back
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc)
                logger.info("skops could not save %s (%s); using cloudpickle", name, first)
                shutil.rmtree(path, ignore_errors=True)
                fmt = "cloudpickle"
                # MLflow warns about pickles on every save; the format is kept as a tag
                sklearn_logger = logging.getLogger("mlflow.sklearn")
                level = sklearn_logger.level
                sklearn_logger.setLevel(logging.ERROR)
                try:
                    mlflow.sklearn.save_model(
                        model,
                        str(path),
                        pip_requirements=[*requirements, _pin("cloudpickle")],
                        serialization_format="cloudpickle",
                    )
                finally:
                    sklearn_logger.setLevel(level)
            self._upload(lambda c, rid: c.log_artifacts(rid, str(path), name))
        self.set_tag(f"toolkit.model.{name}", type(model).__name__)
        self.set_tag(f"toolkit.model.{name}.format", fmt)
        return f"runs:/{self.run_id}/{name}"

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
        _check_key(name, "dataset")
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X))
        frame = frame.rename(columns=str)
        labels = None if y is None else pd.Series(np.asarray(y).ravel(), name="__y__")
        if labels is not None and len(labels) != len(frame):
            raise ValidationError(f"y has {len(labels)} rows but X has {len(frame)}")
        profile = _dataset_profile(frame, labels)
        self.log_dict(profile, f"datasets/{name}.json")
        self.set_tags(
            {
                f"toolkit.dataset.{name}.digest": profile["digest"],
                f"toolkit.dataset.{name}.rows": profile["n_rows"],
            }
        )
        from mlflow.entities import Dataset, DatasetInput, InputTag

        dataset = Dataset(
            name=name,
            digest=profile["digest"],
            source_type="code",
            source=json.dumps({"tags": {"toolkit.source": "in-memory"}}),
            schema=json.dumps({"columns": profile["schema"]}),
            profile=json.dumps({"num_rows": profile["n_rows"], "num_elements": frame.size}),
        )
        inputs = [DatasetInput(dataset, tags=[InputTag("mlflow.data.context", context)])]
        self._upload(lambda c, rid: c.log_inputs(rid, datasets=inputs))
        return profile

    def log_predictions(self, p: Predictions, name: str = "predictions") -> str:
        """Store ``p.to_frame()`` as ``predictions/<name>.parquet``, to rebuild analyses later.

        Returns
        -------
        str
            The artifact path.
        """
        from toolkit.data import Predictions

        if not isinstance(p, Predictions):
            raise ToolkitTypeError(f"p must be a toolkit.Predictions, got {type(p).__name__}")
        _check_key(name, "predictions")
        frame = p.to_frame()
        target = self._staging("predictions") / f"{name}.parquet"
        try:
            frame.to_parquet(target, index=False)
        except (ValueError, TypeError, ImportError) as exc:
            raise ToolkitTypeError(
                f"predictions {name!r} could not be written as Parquet: {exc}"
            ) from exc
        meta = {
            "task": p.task,
            "classes": None if p.classes is None else [_py(c) for c in p.classes],
            "tolerance": p.tolerance,
            "features": p.feature_names,
            "n": p.n,
        }
        self.log_dict(meta, f"predictions/{name}.json")
        self.set_tag(f"toolkit.predictions.{name}", f"predictions/{name}.parquet")
        return f"predictions/{name}.parquet"

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
        if not hasattr(diagnosis, "to_dict"):
            raise ToolkitTypeError(
                f"log_diagnosis expects an object with to_dict(), got {type(diagnosis).__name__}"
            )
        _check_key(name, "diagnosis")
        content = diagnosis.to_dict()
        self.log_dict(content, f"{name}/{name}.json")
        if hasattr(diagnosis, "to_html"):
            html_path = self._staging(name) / f"{name}.html"
            html = diagnosis.to_html(str(html_path))
            if isinstance(html, str) and not html_path.exists():
                html_path.write_text(html, encoding="utf-8")
        overall = None
        if isinstance(content.get("metrics"), Mapping):
            overall = content["metrics"].get("overall")
        elif isinstance(content.get("overall"), Mapping):
            overall = content["overall"]
        logged: dict[str, float] = {}
        undefined = []
        for key, value in (overall or {}).items():
            if isinstance(value, int | float) and math.isfinite(value):
                logged[key] = float(value)
            else:
                undefined.append(key)
        if logged:
            self.log_metrics(logged)
        if undefined:
            self.set_tag(f"toolkit.{name}.undefined_metrics", ",".join(undefined))
        return logged

    # ------------------------------------------------------------------ sending
    def _note(self, kind: str, item: tuple) -> None:
        if self._journal is not None:
            self._journal.append((kind, item))

    def _check_open(self) -> None:
        if self._closed:
            raise TrackingError(f"run {self.run_id} has ended; nothing more can be logged")

    def flush(self) -> None:
        """Send buffered params, metrics and tags now (``log_batch``, in chunks)."""
        from mlflow.entities import Metric, Param, RunTag

        with self._send_lock:
            with self._lock:
                params, self._pending_params = self._pending_params, []
                metrics, self._pending_metrics = self._pending_metrics, []
                tags, self._pending_tags = self._pending_tags, []
            if not (params or metrics or tags):
                return
            batches = _batches(
                [Param(k, v) for k, v in params],
                [Metric(k, v, ts, step) for k, v, ts, step in metrics],
                [RunTag(k, v) for k, v in tags],
            )
            for p, m, t in batches:
                self._send(
                    lambda c, rid, p=p, m=m, t=t: c.log_batch(rid, metrics=m, params=p, tags=t)
                )

    def _send(self, op: Callable[[MlflowClient, str], Any]) -> None:
        try:
            _store.call_with_retry(op, self._client, self.run_id)
        except Exception as exc:
            if self.spooled or not spool.is_unreachable(exc):
                raise
            self._move_to_spool(exc)

    def _upload(self, op: Callable[[MlflowClient, str], Any]) -> None:
        with self._send_lock:
            self.flush()
            self._send(op)

    def _move_to_spool(self, exc: BaseException) -> None:
        """The server went away mid-run: continue in the local spool, keeping everything."""
        logger.warning(
            "tracking server %s unreachable (%s); run %s continues in the local spool %s. "
            "Run 'toolkit sync' when the server is back.",
            self.tracking_uri,
            exc,
            self.run_id,
            spool.spool_uri(),
        )
        remote_id = self.run_id
        client, uri = spool.spool_client()
        experiment_id = _store.get_or_create_experiment(client, uri, self.experiment)
        tags = dict(self._creation_tags)
        tags.update(spool.spool_tags(self._target_uri, remote_run_id=remote_id))
        run = _store.call_with_retry(
            client.create_run,
            experiment_id,
            start_time=int(tags.get("toolkit.start_ms", _now_ms())),
            tags=tags,
            run_name=tags.get("mlflow.runName"),
        )
        self._client, self.tracking_uri = client, uri
        self.run_id, self.experiment_id, self.spooled = run.info.run_id, experiment_id, True
        journal, self._journal = self._journal or [], None
        with self._lock:
            self._pending_params, self._pending_metrics, self._pending_tags = [], [], []
            for kind, item in journal:
                {
                    "param": self._pending_params,
                    "metric": self._pending_metrics,
                    "tag": self._pending_tags,
                }[kind].append(item)
        # The caller holds the send lock; send the whole journal here.
        from mlflow.entities import Metric, Param, RunTag

        with self._lock:
            params, self._pending_params = self._pending_params, []
            metrics, self._pending_metrics = self._pending_metrics, []
            tags_, self._pending_tags = self._pending_tags, []
        for p, m, t in _batches(
            [Param(k, v) for k, v in params],
            [Metric(k, v, ts, step) for k, v, ts, step in metrics],
            [RunTag(k, v) for k, v in tags_],
        ):
            _store.call_with_retry(client.log_batch, self.run_id, metrics=m, params=p, tags=t)


def _batches(params: list, metrics: list, tags: list) -> Iterable[tuple[list, list, list]]:
    """Split into ``log_batch`` calls within MLflow's limits (100 params/tags, 1000 in all)."""
    while params or metrics or tags:
        p, params = params[:MAX_BATCH_PARAMS_TAGS], params[MAX_BATCH_PARAMS_TAGS:]
        t, tags = tags[:MAX_BATCH_PARAMS_TAGS], tags[MAX_BATCH_PARAMS_TAGS:]
        room = min(MAX_BATCH_METRICS, MAX_BATCH_ENTITIES - len(p) - len(t))
        m, metrics = metrics[:room], metrics[room:]
        yield p, m, t


def _py(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _pin(name: str) -> str:
    from importlib import metadata

    try:
        return f"{name}=={metadata.version(name)}"
    except metadata.PackageNotFoundError:
        return name


@functools.lru_cache(maxsize=1)
def _default_requirements() -> list[str]:
    return [_pin(n) for n in ("mlflow", "scikit-learn", "numpy", "scipy", "pandas", "skops")]


def _dataset_profile(frame: pd.DataFrame, labels: pd.Series | None) -> dict[str, Any]:
    import hashlib

    h = hashlib.sha256()
    schema = {str(c): str(t) for c, t in frame.dtypes.items()}
    h.update(json.dumps(schema, sort_keys=False).encode())
    # hash_pandas_object hashes every row; per-column hashes keep column order significant.
    for column in frame.columns:
        h.update(pd.util.hash_pandas_object(frame[column], index=False).to_numpy().tobytes())
    label_distribution = None
    if labels is not None:
        h.update(b"y")
        h.update(pd.util.hash_pandas_object(labels, index=False).to_numpy().tobytes())
        if labels.dtype.kind == "f" and labels.nunique() > 20:
            label_distribution = {k: float(v) for k, v in labels.describe().items() if k != "count"}
        else:
            counts = labels.value_counts(dropna=False).sort_index()
            label_distribution = {str(k): int(v) for k, v in counts.items()}
    return {
        "digest": h.hexdigest()[:32],
        "n_rows": int(len(frame)),
        "n_columns": int(frame.shape[1]),
        "schema": schema,
        "label_distribution": label_distribution,
    }


# ---------------------------------------------------------------------------- track
def _heartbeat_interval() -> float:
    raw = os.environ.get("TOOLKIT_HEARTBEAT_S")
    try:
        return float(raw) if raw else DEFAULT_HEARTBEAT_S
    except ValueError:
        return DEFAULT_HEARTBEAT_S


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
    Recorded without being asked: git commit, branch, dirty flag (``git/diff.patch`` and
    ``git/status.txt`` when dirty), argv, cwd, Python, platform, hardware, installed
    packages (``environment/packages.txt``), console output (``logs/output.log``; what
    Python code writes to ``sys.stdout``/``sys.stderr``), and ``duration_s``.

    The status tells the truth: FINISHED when the block ends normally (or with
    ``sys.exit(0)``), FAILED on an exception (type and message as tags, the traceback as
    ``error/traceback.txt``; the exception is re-raised) or ``sys.exit`` with another code,
    KILLED on SIGTERM or Ctrl-C. A heartbeat tag ``toolkit.heartbeat`` is refreshed every
    ``TOOLKIT_HEARTBEAT_S`` seconds (default 30); ``toolkit runs --mark-stale`` marks runs
    whose process died as FAILED.

    When the tracking server cannot be reached the run is written to a local spool
    (``TOOLKIT_SPOOL_DIR``) with a warning; ``toolkit sync`` sends it later.

    Examples
    --------
    >>> import toolkit as tk                                         # doctest: +SKIP
    >>> with tk.track("adult", params={"model": {"C": 1.0}}, seed=0) as run:
    ...     run.log_metric("accuracy", 0.85)
    """

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
        if not isinstance(experiment, str) or not experiment.strip():
            raise ValidationError(f"experiment must be a non-empty string, got {experiment!r}")
        if seed is not None and not isinstance(seed, int | np.integer):
            raise ToolkitTypeError(f"seed must be an integer, got {type(seed).__name__}")
        self.experiment = experiment
        self.params = dict(params or {})
        self.tags = dict(tags or {})
        self.seed = None if seed is None else int(seed)
        self.run_name = run_name
        self.tracking_uri = tracking_uri
        self.nested = nested
        self.run: Run | None = None

    # --------------------------------------------------------------- enter
    def __enter__(self) -> Run:
        parent = current_run()
        if self.nested and parent is None:
            raise ValidationError("nested=True but no toolkit run is open in this thread")
        # Validate what the caller gave before anything is created.
        params = flatten(self.params)
        if self.seed is not None:
            params.setdefault("seed", self.seed)
        for key, value in params.items():
            _check_key(key, "param")
            _param_text(key, value)
        user_tags = {_check_key(k, "tag"): _tag_text(k, v) for k, v in self.tags.items()}

        if self.nested and parent is not None:
            uri, client = parent.tracking_uri, parent._client
            target_uri, spooled = parent._target_uri, parent.spooled
        else:
            target_uri = _store.resolve_tracking_uri(self.tracking_uri)
            uri, client, spooled = target_uri, None, False
            if _store.is_remote(uri) and not spool.server_reachable(uri):
                logger.warning(
                    "tracking server %s unreachable; the run is written to the local spool %s. "
                    "Run 'toolkit sync' when the server is back.",
                    uri,
                    spool.spool_uri(),
                )
                client, uri = spool.spool_client()
                spooled = True
            else:
                client = _store.get_client(uri)

        if self.seed is not None:
            random.seed(self.seed)
            np.random.seed(self.seed)  # noqa: NPY002 (user code draws from the global one)

        start_ms = _now_ms()
        tags = self._auto_tags(start_ms)
        if self.nested and parent is not None:
            tags["mlflow.parentRunId"] = parent.run_id
        if spooled:
            tags.update(spool.spool_tags(target_uri))
        tags.update(user_tags)

        def create(client: MlflowClient, uri: str) -> tuple[str, str]:
            experiment_id = _store.get_or_create_experiment(client, uri, self.experiment)
            created = _store.call_with_retry(
                client.create_run,
                experiment_id,
                start_time=start_ms,
                tags=tags,
                run_name=self.run_name,
            )
            return experiment_id, created.info.run_id

        try:
            experiment_id, run_id = create(client, uri)
        except Exception as exc:
            if not (_store.is_remote(uri) and spool.is_unreachable(exc)):
                raise
            logger.warning(
                "tracking server %s unreachable (%s); the run is written to the local spool %s",
                uri,
                exc,
                spool.spool_uri(),
            )
            client, uri = spool.spool_client()
            spooled = True
            tags.update(spool.spool_tags(target_uri))
            experiment_id, run_id = create(client, uri)

        artifact_dir = Path(tempfile.mkdtemp(prefix="toolkit-run-"))
        run = Run(
            client,
            uri,
            run_id,
            experiment_id,
            self.experiment,
            artifact_dir=artifact_dir,
            spooled=spooled,
            target_uri=target_uri,
        )
        run._creation_tags = dict(tags)
        run._creation_tags.setdefault("mlflow.runName", self.run_name or "")
        if not run._creation_tags["mlflow.runName"]:
            del run._creation_tags["mlflow.runName"]
        self.run = run
        self._started = time.perf_counter()
        self._start_console_capture(artifact_dir)
        self._install_signal_handler()
        self._start_heartbeat()
        _stack().append(run)
        try:
            if params:
                run.log_params(params)
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return run

    def _auto_tags(self, start_ms: int) -> dict[str, str]:
        from toolkit import __version__

        env = _capture.environment()
        git = _capture.git_state(env["cwd"])
        tags = {
            "mlflow.source.name": _clip(sys.argv[0] if sys.argv and sys.argv[0] else "<python>"),
            "mlflow.source.type": "LOCAL",
            "mlflow.user": _safe_user(),
            "toolkit.version": __version__,
            "toolkit.argv": _clip(json.dumps(env["argv"])),
            "toolkit.cwd": _clip(env["cwd"]),
            "toolkit.python": env["python"],
            "toolkit.platform": env["platform"],
            "toolkit.hardware": env["hardware"],
            "toolkit.host": env["hostname"],
            "toolkit.pid": str(env["pid"]),
            "toolkit.start_ms": str(start_ms),
            "toolkit.heartbeat": str(start_ms),
            "toolkit.heartbeat_interval_s": f"{_heartbeat_interval():g}",
        }
        if git.commit:
            tags["mlflow.source.git.commit"] = git.commit
        if git.branch:
            tags["mlflow.source.git.branch"] = git.branch
        if git.root:
            tags["toolkit.git.dirty"] = "true" if git.dirty else "false"
            tags["mlflow.source.git.repoURL"] = git.root
        if self.seed is not None:
            tags["toolkit.seed"] = str(self.seed)
        self._env, self._git = env, git
        return tags

    def _start_console_capture(self, artifact_dir: Path) -> None:
        log_dir = artifact_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        self._log_file = open(log_dir / "output.log", "w", encoding="utf-8")
        lock = threading.Lock()
        self._tees = (
            _capture.Tee(sys.stdout, self._log_file, lock),
            _capture.Tee(sys.stderr, self._log_file, lock),
        )
        sys.stdout, sys.stderr = self._tees  # type: ignore[assignment]

    def _stop_console_capture(self) -> None:
        out, err = self._tees
        if sys.stdout is out:
            sys.stdout = out.stream
        if sys.stderr is err:
            sys.stderr = err.stream
        self._log_file.close()

    def _install_signal_handler(self) -> None:
        self._old_handler = None
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return  # someone else handles it (an outer run, or the application)

        def on_sigterm(signum: int, frame: Any) -> None:
            raise RunTerminated(signum)

        self._old_handler = signal.signal(signal.SIGTERM, on_sigterm)

    def _restore_signal_handler(self) -> None:
        if self._old_handler is not None:
            signal.signal(signal.SIGTERM, self._old_handler)

    def _start_heartbeat(self) -> None:
        interval = _heartbeat_interval()
        self._stop = threading.Event()
        run = self.run

        def beat() -> None:
            while not self._stop.wait(interval):
                try:
                    run.set_tag("toolkit.heartbeat", str(_now_ms()))
                    run.flush()
                except Exception as exc:  # keep beating; the run's end reports errors
                    logger.warning("heartbeat of run %s failed: %s", run.run_id, exc)

        self._beat = threading.Thread(target=beat, name=f"toolkit-heartbeat-{run.run_id[:8]}")
        self._beat.daemon = True
        self._beat.start()

    # --------------------------------------------------------------- exit
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        run = self.run
        if run is None or run._closed:
            return False
        status, extra_tags = _status_of(exc)
        self._stop.set()
        self._beat.join(timeout=5.0)
        self._stop_console_capture()
        stack = _stack()
        if run in stack:
            stack.remove(run)
        try:
            self._finish(run, status, extra_tags, exc, tb)
        except Exception as finish_error:
            if exc is None:
                raise TrackingError(
                    f"run {run.run_id} could not be completed in {run.tracking_uri}: {finish_error}"
                ) from finish_error
            logger.error("run %s could not be completed: %s", run.run_id, finish_error)
        finally:
            self._restore_signal_handler()
            shutil.rmtree(run._artifacts, ignore_errors=True)
        return False

    def _finish(
        self,
        run: Run,
        status: str,
        extra_tags: dict[str, str],
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        duration = time.perf_counter() - self._started
        run.log_metric("duration_s", duration)
        run.set_tags(extra_tags)
        artifacts = run._artifacts
        env_dir = artifacts / "environment"
        env_dir.mkdir(exist_ok=True)
        git = self._git
        (env_dir / "environment.json").write_text(
            json.dumps(
                {
                    **self._env,
                    "git": {
                        "commit": git.commit,
                        "branch": git.branch,
                        "dirty": git.dirty,
                        "root": git.root,
                        "notes": git.notes,
                    },
                },
                indent=2,
            ),
            encoding="utf-8",
        )
        (env_dir / "packages.txt").write_text(_capture.package_versions(), encoding="utf-8")
        if git.dirty:
            (artifacts / "git").mkdir(exist_ok=True)
            (artifacts / "git" / "status.txt").write_text(git.status, encoding="utf-8")
            (artifacts / "git" / "diff.patch").write_text(git.diff, encoding="utf-8")
        log_file = artifacts / "logs" / "output.log"
        if log_file.exists() and log_file.stat().st_size == 0:
            log_file.unlink()
        if exc is not None and status != "FINISHED":
            (artifacts / "error").mkdir(exist_ok=True)
            text = "".join(traceback.format_exception(type(exc), exc, tb))
            (artifacts / "error" / "traceback.txt").write_text(text, encoding="utf-8")
        run._upload(lambda c, rid: c.log_artifacts(rid, str(artifacts)))
        run._closed = True
        run._send(lambda c, rid: c.set_terminated(rid, status=status, end_time=_now_ms()))
        if status != "FINISHED":
            logger.info("run %s ended %s", run.run_id, status)


def _status_of(exc: BaseException | None) -> tuple[str, dict[str, str]]:
    if exc is None:
        return "FINISHED", {}
    if isinstance(exc, RunTerminated):
        name = signal.Signals(exc.signum).name
        return "KILLED", {"toolkit.end_reason": f"signal {name}"}
    if isinstance(exc, KeyboardInterrupt):
        return "KILLED", {"toolkit.end_reason": "KeyboardInterrupt (SIGINT)"}
    if isinstance(exc, SystemExit):
        code = exc.code
        if code is None or code == 0:
            return "FINISHED", {"toolkit.exit_code": "0"}
        return "FAILED", {
            "toolkit.end_reason": f"sys.exit({code!r})",
            "toolkit.exit_code": _clip(str(code), 1000),
        }
    return "FAILED", {
        "toolkit.end_reason": "exception",
        "toolkit.error.type": f"{type(exc).__module__}.{type(exc).__qualname__}",
        "toolkit.error.message": _clip(str(exc), 5000),
    }


def _safe_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in some containers
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


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
        (default the function's name), ``tracking_uri``, ``nested``).

    Notes
    -----
    Arguments with plain values (str, int, float, bool, None) are logged as params
    ``arg.<name>``. A function with a parameter named ``run`` receives the :class:`Run`.

    Examples
    --------
    >>> @tracked("adult", seed=0)                                    # doctest: +SKIP
    ... def train(C=1.0, *, run=None):
    ...     run.log_metric("accuracy", 0.85)
    """
    if callable(experiment):
        return tracked(None)(experiment)
    allowed = {"params", "tags", "seed", "run_name", "tracking_uri", "nested"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ToolkitTypeError(
            f"tracked() got unknown options {unknown}; allowed: {sorted(allowed)}"
        )

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
