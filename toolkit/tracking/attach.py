"""Add results to a run that already exists (``toolkit diagnose --run-id``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from toolkit._validation import HasMethods, validate_params
from toolkit.data import Predictions
from toolkit.tracking import _store
from toolkit.tracking._run import Run

if TYPE_CHECKING:  # pragma: no cover
    from mlflow import MlflowClient
    from mlflow.entities import Run as MlflowRun

__all__ = ["check_run", "log_to_run"]


@validate_params({"run_id": [str], "tracking_uri": [str, None]})
def check_run(
    run_id: str, *, tracking_uri: str | None = None
) -> tuple[str, MlflowClient, MlflowRun]:
    """The store's absolute URI, its client and the run, once ``run_id`` is found.

    Raises
    ------
    RunNotFoundError
        When there is no store at a SQLite path, or no such run in the store.
    """
    return _store.find_run(run_id, tracking_uri)


@validate_params(
    {
        "run_id": [str],
        "diagnosis": [HasMethods("to_dict"), None],
        "predictions": [Predictions, None],
        "tracking_uri": [str, None],
    }
)
def log_to_run(
    run_id: str,
    *,
    diagnosis: Any = None,
    predictions: Predictions | None = None,
    tracking_uri: str | None = None,
) -> list[str]:
    """Log a diagnosis (JSON, HTML, overall metrics) and predictions to an existing run.

    The run keeps its status: a finished training run gets its evaluation added to it.
    When logging fails half-way, nothing is added.

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
    run = Run.attach(run_id, tracking_uri=tracking_uri)
    try:
        if predictions is not None:
            run.log_predictions(predictions)
        if diagnosis is not None:
            run.log_diagnosis(diagnosis)
    except BaseException:
        run.close(send=False)
        raise
    return run.close()
