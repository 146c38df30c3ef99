"""What a run stores about its inputs and its process, as plain dicts and files.

The tags a run starts with, the environment record it ends with, a dataset's digest and
profile, a model saved as an MLflow model, the description of stored predictions and
the overall metrics of a diagnosis. :class:`~toolkit.tracking.run.Run` logs them; these
functions only build them.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from toolkit._json import to_python
from toolkit.tracking import _capture
from toolkit.tracking._values import clip

if TYPE_CHECKING:  # pragma: no cover
    from toolkit.data import Predictions

__all__ = [
    "dataset_inputs",
    "dataset_profile",
    "default_requirements",
    "environment_record",
    "model_params",
    "overall_metrics",
    "predictions_meta",
    "save_model",
    "start_tags",
]

logger = logging.getLogger(__name__)


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
    if seed is not None:
        tags["toolkit.seed"] = str(seed)
    return tags


def environment_record(env: dict[str, Any], git: _capture.GitState) -> dict[str, Any]:
    """``environment/environment.json``: the process's environment and its git state."""
    return {
        **env,
        "git": {
            "commit": git.commit,
            "branch": git.branch,
            "dirty": git.dirty,
            "root": git.root,
            "notes": git.notes,
        },
    }


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
