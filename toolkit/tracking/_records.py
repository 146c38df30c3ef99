"""What a run stores about its inputs and its process, as plain dicts and files.

The tags a run starts with, the environment record it points to, a dataset's digest and
profile, a model saved as an MLflow model, the description of stored predictions and
the overall metrics of a diagnosis: the functions build them, and the methods of
:class:`RecordsMixin` (part of :class:`~toolkit.tracking.run.Run`) log them.
``toolkit.tracking.attach.run_environment`` reads a run's environment back.

The environment record (Python, platform, hardware and the installed packages) is the
same for every run of a process, and for every process of the same environment. It is
built once per process and stored once per experiment and distinct content, in
``toolkit-records/environment/<digest>/`` below the experiment's artifact root; each run
carries the digest and the folder's URI as tags (``toolkit.environment.digest``,
``toolkit.environment.uri``). What differs between runs (argv, working directory, pid,
git state) is in the run's own tags, and a dirty tree's diff in its own artifacts.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import shutil
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from toolkit._json import dumps, to_python
from toolkit._validation import ARRAY_LIKE, BOOLEAN, STR_LIST, HasMethods, validate_params
from toolkit.data import Predictions
from toolkit.exceptions import ToolkitTypeError, ValidationError
from toolkit.tracking import _capture, _store
from toolkit.tracking._values import check_key, clip, while_open

if TYPE_CHECKING:  # pragma: no cover
    from mlflow import MlflowClient

__all__ = [
    "DIGEST_TAG",
    "LOCATION_TAG",
    "EnvironmentRecord",
    "RecordsMixin",
    "dataset_inputs",
    "dataset_profile",
    "default_requirements",
    "environment_record",
    "environment_tags",
    "model_params",
    "overall_metrics",
    "predictions_meta",
    "record_digest",
    "save_model",
    "share_environment",
    "start_tags",
]

logger = logging.getLogger(__name__)

#: The tags that point a run at its environment record.
DIGEST_TAG = "toolkit.environment.digest"
LOCATION_TAG = "toolkit.environment.uri"
#: Below an experiment's artifact root: one folder per distinct record, named by digest.
SHARED_FOLDER = "toolkit-records/environment"
#: In a run's own artifacts (a spooled run, or a run recorded before records were shared).
RUN_FOLDER = "environment"
ENVIRONMENT_FILE = "environment.json"
PACKAGES_FILE = "packages.txt"

_shared: dict[tuple[str, str, str], str] = {}
_shared_lock = threading.Lock()


# ---------------------------------------------------------------------------- the process
def start_tags(
    env: dict[str, Any],
    git: _capture.GitState,
    *,
    start_ms: int,
    seed: int | None,
    heartbeat_s: float,
) -> dict[str, str]:
    """The tags a run is created with: MLflow's run context, then what MLflow does not record.

    ``mlflow.user`` and ``mlflow.source.*`` come from MLflow's run-context providers;
    the git tags (MLflow's names) and the ``toolkit.*`` tags from the working directory
    and the process.
    """
    from toolkit import __version__

    tags = {k: clip(v) for k, v in _capture.run_context_tags().items()}
    tags.update(
        {
            "toolkit.version": __version__,
            "toolkit.argv": clip(json.dumps(env["argv"])),
            "toolkit.cwd": clip(env["cwd"]),
            "toolkit.python": env["python"],
            "toolkit.platform": env["platform"],
            "toolkit.hardware": env["hardware"],
            "toolkit.host": env["hostname"],
            "toolkit.pid": str(env["pid"]),
            "toolkit.start_ms": str(start_ms),
            "toolkit.heartbeat": str(start_ms),
            "toolkit.heartbeat_interval_s": f"{heartbeat_s:g}",
        }
    )
    if git.commit:
        tags["mlflow.source.git.commit"] = git.commit
    if git.branch:
        tags["mlflow.source.git.branch"] = git.branch
    if git.root:
        tags["toolkit.git.dirty"] = "true" if git.dirty else "false"
        tags["mlflow.source.git.repoURL"] = git.root
    if git.notes:
        tags["toolkit.git.notes"] = clip("; ".join(git.notes))
    if seed is not None:
        tags["toolkit.seed"] = str(seed)
    return tags


@dataclass(frozen=True)
class EnvironmentRecord:
    """This process's environment record: the same for every run it starts.

    Attributes
    ----------
    digest : str
        32 hex characters, SHA-256 of both texts.
    environment : str
        JSON: Python, platform, hardware, executable, host name.
    packages : str
        ``name==version`` of every installed distribution, one a line.
    """

    digest: str
    environment: str
    packages: str


def record_digest(environment: str, packages: str) -> str:
    """The digest of an environment record: 32 hex characters of SHA-256."""
    return hashlib.sha256(f"{environment}\0{packages}".encode()).hexdigest()[:32]


@functools.lru_cache(maxsize=1)
def environment_record() -> EnvironmentRecord:
    """The environment record of this process, built once."""
    environment = dumps(_capture.static_environment())
    packages = _capture.package_versions()
    return EnvironmentRecord(record_digest(environment, packages), environment, packages)


def share_environment(
    record: EnvironmentRecord, client: MlflowClient, tracking_uri: str, experiment_id: str
) -> str:
    """The URI of the folder that holds ``record`` for an experiment, stored there if new.

    The folder is ``toolkit-records/environment/<digest>`` below the experiment's
    artifact root; the store is asked at most once per process and experiment whether it
    has it (a listing), and it is uploaded once per distinct content.
    """
    from mlflow.utils.uri import append_to_uri_path

    key = (tracking_uri, experiment_id, record.digest)
    with _shared_lock:
        location = _shared.get(key)
        if location is not None:
            return location
        root = _store.experiment_artifact_location(client, tracking_uri, experiment_id)
        location = append_to_uri_path(root, SHARED_FOLDER, record.digest)
        repo = _store.artifact_repository(location, tracking_uri)
        present = {item.path.rsplit("/", 1)[-1] for item in repo.list_artifacts()}
        if not {ENVIRONMENT_FILE, PACKAGES_FILE} <= present:
            with tempfile.TemporaryDirectory(prefix="toolkit-record-") as tmp:
                Path(tmp, ENVIRONMENT_FILE).write_text(record.environment, encoding="utf-8")
                Path(tmp, PACKAGES_FILE).write_text(record.packages, encoding="utf-8")
                repo.log_artifacts(tmp)
        _shared[key] = location
        return location


def environment_tags(
    record: EnvironmentRecord, client: MlflowClient, tracking_uri: str, experiment_id: str
) -> dict[str, str]:
    """The tags that point a run of the experiment to ``record`` (stored there if new)."""
    location = share_environment(record, client, tracking_uri, experiment_id)
    return {DIGEST_TAG: record.digest, LOCATION_TAG: location}


# ---------------------------------------------------------------------------- datasets
def dataset_profile(frame: pd.DataFrame, labels: pd.Series | None) -> dict[str, Any]:
    """Digest over every row, column name and dtype (and the labels), schema, label counts.

    >>> profile = dataset_profile(pd.DataFrame({"a": [1, 2]}), pd.Series(["x", "y"]))
    >>> profile["schema"], profile["n_rows"], profile["label_distribution"]
    ({'a': 'int64'}, 2, {'x': 1, 'y': 1})
    >>> len(profile["digest"])
    32
    """
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
            summary = labels.describe().drop("count")
            label_distribution = {str(k): float(v) for k, v in summary.items()}
        else:
            counts = labels.value_counts(dropna=False).sort_index()
            label_distribution = {str(k): to_python(v) for k, v in counts.items()}
    return {
        "digest": h.hexdigest()[:32],
        "n_rows": len(frame),
        "n_columns": frame.shape[1],
        "schema": schema,
        "label_distribution": label_distribution,
    }


def dataset_inputs(name: str, profile: dict[str, Any], n_elements: int, context: str) -> list:
    """MLflow's dataset input for a profiled dataset (shown in the run's "Datasets")."""
    from mlflow.entities import Dataset, DatasetInput, InputTag

    dataset = Dataset(
        name=name,
        digest=profile["digest"],
        source_type="code",
        source=json.dumps({"tags": {"toolkit.source": "in-memory"}}),
        schema=json.dumps({"columns": profile["schema"]}),
        profile=json.dumps({"num_rows": profile["n_rows"], "num_elements": n_elements}),
    )
    return [DatasetInput(dataset, tags=[InputTag("mlflow.data.context", context)])]


# ---------------------------------------------------------------------------- models
def _pin(name: str) -> str:
    from importlib import metadata

    try:
        return f"{name}=={metadata.version(name)}"
    except metadata.PackageNotFoundError:
        return name


@functools.lru_cache(maxsize=1)
def default_requirements() -> list[str]:
    """The installed versions of mlflow, scikit-learn, numpy, scipy, pandas and skops."""
    return [_pin(n) for n in ("mlflow", "scikit-learn", "numpy", "scipy", "pandas", "skops")]


def model_params(model: Any, name: str) -> dict[str, Any]:
    """``model.get_params()`` values that are scalars, as params ``<name>.<param>``.

    >>> from sklearn.linear_model import LogisticRegression
    >>> params = model_params(LogisticRegression(C=0.5), "model")
    >>> params["model.C"], params["model.class"]
    (0.5, 'LogisticRegression')
    """
    scalars = (str, bool, int, float, np.integer, np.floating)
    params = {
        f"{name}.{k}": v
        for k, v in model.get_params(deep=True).items()
        if v is None or isinstance(v, scalars)
    }
    params[f"{name}.class"] = type(model).__name__
    return params


def save_model(model: Any, path: Path, requirements: list[str]) -> str:
    """Save a scikit-learn model as an MLflow model at ``path``; returns the format used.

    skops first (it loads without unpickling arbitrary code); cloudpickle when skops
    cannot serialise an object of the model.
    """
    import mlflow.sklearn

    try:
        mlflow.sklearn.save_model(
            model, str(path), pip_requirements=requirements, serialization_format="skops"
        )
        return "skops"
    except Exception as exc:  # skops cannot serialise every object: fall back
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc)
        logger.info("skops could not save %s (%s); using cloudpickle", path.name, first)
        shutil.rmtree(path, ignore_errors=True)
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
    return "cloudpickle"


# ---------------------------------------------------------------------------- results
def predictions_meta(p: Predictions) -> dict[str, Any]:
    """What ``predictions/<name>.json`` holds beside the Parquet file, to rebuild ``p``."""
    return {
        "task": p.task,
        "classes": None if p.classes is None else [to_python(c) for c in p.classes],
        "tolerance": p.tolerance,
        "features": p.feature_names,
        "n": p.n,
    }


def overall_metrics(content: Mapping[str, Any]) -> tuple[dict[str, float], list[str]]:
    """The overall metrics of a diagnosis's ``to_dict()`` (or of a Metrics's) that are
    finite numbers, and the names of the others.

    >>> overall_metrics({"metrics": {"overall": {"accuracy": 0.8, "roc_auc": None}}})
    ({'accuracy': 0.8}, ['roc_auc'])
    """
    overall = None
    if isinstance(content.get("metrics"), Mapping):
        overall = content["metrics"].get("overall")
    elif isinstance(content.get("overall"), Mapping):
        overall = content["overall"]
    defined: dict[str, float] = {}
    undefined = []
    for key, value in (overall or {}).items():
        if isinstance(value, int | float) and math.isfinite(value):
            defined[key] = float(value)
        else:
            undefined.append(key)
    return defined, undefined


# ---------------------------------------------------------------------------- the methods
class RecordsMixin:
    """The methods of :class:`~toolkit.tracking.run.Run` that record models, datasets,
    predictions, diagnoses and cross-validation scores.

    They log through the run's own methods (``log_params``, ``log_metrics``,
    ``set_tags``, ``_log_json``, ``staging_path``) and its upload (``_upload``), so they
    are buffered, ordered and refused after the end like everything else.
    """

    run_id: str

    @while_open
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
            self.log_params(model_params(model, name))
        requirements = pip_requirements or default_requirements()
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            fmt = save_model(model, path, requirements)
            self._upload(self._put(path, name))
        self.set_tags(
            {f"toolkit.model.{name}": type(model).__name__, f"toolkit.model.{name}.format": fmt}
        )
        return f"runs:/{self.run_id}/{name}"

    @while_open
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
        profile = dataset_profile(frame, labels)
        self._log_json(profile, f"datasets/{name}.json")
        self.set_tags(
            {
                f"toolkit.dataset.{name}.digest": profile["digest"],
                f"toolkit.dataset.{name}.rows": profile["n_rows"],
            }
        )
        inputs = dataset_inputs(name, profile, frame.size, context)
        self._upload(lambda c, rid: c.log_inputs(rid, datasets=inputs))
        return profile

    @while_open
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
        self._log_json(predictions_meta(p), f"predictions/{name}.json")
        self.set_tag(f"toolkit.predictions.{name}", f"predictions/{name}.parquet")
        return f"predictions/{name}.parquet"

    @while_open
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
        self._log_json(content, f"{name}/{name}.json")  # undefined metrics are null
        if hasattr(diagnosis, "to_html"):
            html_path = self.staging_path(f"{name}/{name}.html")
            html = diagnosis.to_html(str(html_path))
            if isinstance(html, str) and not html_path.exists():
                html_path.write_text(html, encoding="utf-8")
        logged, undefined = overall_metrics(content)
        if logged:
            self.log_metrics(logged)
        if undefined:
            self.set_tag(f"toolkit.{name}.undefined_metrics", ",".join(undefined))
        return logged

    @while_open
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
