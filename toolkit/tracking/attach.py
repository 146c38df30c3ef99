"""Add results to a run that already exists (``toolkit diagnose --run-id``)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from toolkit.tracking import _store
from toolkit.tracking.compare import _get_run
from toolkit.tracking.errors import RunNotFoundError

__all__ = ["check_run", "log_to_run"]


def check_run(run_id: str, *, tracking_uri: str | None = None) -> tuple[str, Any, Any]:
    """The store's absolute URI, its client and the run, once ``run_id`` is found.

    Raises
    ------
    RunNotFoundError
        When there is no store at a SQLite path, or no such run in the store.
    """
    uri = _store.resolve_tracking_uri(tracking_uri)
    path = _store.sqlite_path(uri)
    if path is not None and not path.exists():  # do not create a store to find no run
        raise RunNotFoundError(f"run {run_id!r} not found: there is no store at {path}")
    client = _store.get_client(uri)
    return uri, client, _get_run(client, run_id)


def log_to_run(
    run_id: str,
    *,
    diagnosis: Any = None,
    predictions: Any = None,
    tracking_uri: str | None = None,
) -> list[str]:
    """Log a diagnosis (JSON, HTML, overall metrics) and predictions to an existing run.

    The run keeps its status: a finished training run gets its evaluation added to it.

    Parameters
    ----------
    run_id : str
        The MLflow run.
    diagnosis : Diagnosis, default=None
        Stored as ``diagnosis/diagnosis.json`` and ``diagnosis/diagnosis.html``; its
        overall metrics are logged as metrics.
    predictions : Predictions, default=None
        Stored as ``predictions/predictions.parquet`` (so the report can be rebuilt).
    tracking_uri : str, default=None
        The store (default ``MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db``).

    Returns
    -------
    list of str
        The artifact files written, relative to the run's artifact root.

    Raises
    ------
    RunNotFoundError
        When ``run_id`` names no run in the store.
    """
    from toolkit.tracking.run import Run

    uri, client, found = check_run(run_id, tracking_uri=tracking_uri)
    info = found.info
    experiment = _store.call_with_retry(client.get_experiment, info.experiment_id).name
    with tempfile.TemporaryDirectory(prefix="toolkit-attach-") as tmp:
        staging = Path(tmp)
        run = Run(client, uri, run_id, info.experiment_id, experiment, artifact_dir=staging)
        if predictions is not None:
            run.log_predictions(predictions)
        if diagnosis is not None:
            run.log_diagnosis(diagnosis)
        written = sorted(
            path.relative_to(staging).as_posix() for path in staging.rglob("*") if path.is_file()
        )
        run._upload(lambda c, rid: c.log_artifacts(rid, str(staging)))
        run._closed = True
    return written
