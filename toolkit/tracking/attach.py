"""Runs that already exist: add results to one (``toolkit diagnose --run-id``), read back
the environment it ran in."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from toolkit._result import Result
from toolkit._validation import HasMethods, validate_params
from toolkit.data import Predictions
from toolkit.tracking import _records, _store
from toolkit.tracking._run import Run
from toolkit.tracking.errors import RecordNotFoundError, TrackingError

if TYPE_CHECKING:  # pragma: no cover
    from mlflow import MlflowClient
    from mlflow.entities import Run as MlflowRun

__all__ = ["RunEnvironment", "check_run", "log_to_run", "run_environment"]


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
    run._hold = True  # all or nothing: sent when every part was logged
    try:
        if predictions is not None:
            run.log_predictions(predictions)
        if diagnosis is not None:
            run.log_diagnosis(diagnosis)
    except BaseException:
        run.close(send=False)
        raise
    return run.close()


@dataclass(frozen=True, repr=False, eq=False)
class RunEnvironment(Result):
    """Where a run ran: its environment record and its installed packages
    (:func:`run_environment`).

    Attributes
    ----------
    table : DataFrame
        The installed distributions, columns ``name`` and ``version``.
    run_id : str
    digest : str or None
        The record's digest (tag ``toolkit.environment.digest``); None for a run
        recorded before records had digests.
    environment : dict
        ``python``, ``platform``, ``hardware``, ``executable``, ``hostname`` ... (shared by
        every run of the environment), and this run's ``argv``, ``cwd``, ``pid`` and
        ``git`` (``commit``, ``branch``, ``dirty``, ``root``, ``notes``).
    source : str
        The artifact URI of the folder the record was read from.
    """

    run_id: str
    digest: str | None
    environment: dict
    source: str

    @property
    def packages(self) -> dict[str, str]:
        """Installed distribution name -> version."""
        return dict(zip(self.table["name"], self.table["version"], strict=True))


@validate_params({"run_id": [str], "tracking_uri": [str, None]})
def run_environment(run_id: str, *, tracking_uri: str | None = None) -> RunEnvironment:
    """The environment and installed packages a run recorded (a run of ``track``).

    Parameters
    ----------
    run_id : str
    tracking_uri : str, default=None
        The store (default ``MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db``).

    Returns
    -------
    RunEnvironment

    Raises
    ------
    RunNotFoundError
        When there is no such run (or no store).
    RecordNotFoundError
        When the run has no environment record (it was not recorded by ``track``, or
        the record was deleted).

    Examples
    --------
    >>> import os, shutil, tempfile
    >>> from toolkit.tracking import track
    >>> folder = tempfile.mkdtemp()
    >>> store = f"sqlite:///{folder}/mlflow.db"
    >>> with track("adult", tracking_uri=store) as run:
    ...     pass
    >>> env = run_environment(run.run_id, tracking_uri=store)
    >>> "mlflow" in env.packages, env.environment["pid"] == os.getpid()
    (True, True)
    >>> shutil.rmtree(folder)
    """
    from mlflow.exceptions import MlflowException
    from mlflow.utils.uri import append_to_uri_path

    uri, _, found = _store.find_run(run_id, tracking_uri)
    tags = found.data.tags
    source = tags.get(_records.LOCATION_TAG) or append_to_uri_path(
        found.info.artifact_uri, _records.RUN_FOLDER
    )
    repo = _store.artifact_repository(source, uri)
    try:
        with tempfile.TemporaryDirectory(prefix="toolkit-record-") as tmp:
            texts = [
                Path(repo.download_artifacts(name, tmp)).read_text(encoding="utf-8")
                for name in (_records.ENVIRONMENT_FILE, _records.PACKAGES_FILE)
            ]
    except (OSError, MlflowException) as exc:
        raise RecordNotFoundError(
            f"run {run_id} has no environment record at {source} (was it recorded with "
            f"toolkit's track?): {exc}"
        ) from exc
    digest = tags.get(_records.DIGEST_TAG)
    if digest is not None and _records.record_digest(*texts) != digest:
        raise TrackingError(
            f"the environment record at {source} does not match run {run_id}'s digest {digest}"
        )
    environment = {**json.loads(texts[0]), **_per_run_environment(tags)}
    rows = [line.split("==", 1) for line in texts[1].splitlines() if "==" in line]
    table = pd.DataFrame(rows, columns=["name", "version"])
    return RunEnvironment(
        table, run_id=run_id, digest=digest, environment=environment, source=source
    )


def _per_run_environment(tags: Mapping[str, str]) -> dict[str, Any]:
    """argv, cwd, pid and git state of one run, from its tags (what they hold)."""
    out: dict[str, Any] = {}
    if "toolkit.argv" in tags:
        try:
            out["argv"] = json.loads(tags["toolkit.argv"])
        except ValueError:  # cut to the tag limit
            out["argv"] = tags["toolkit.argv"]
    if "toolkit.cwd" in tags:
        out["cwd"] = tags["toolkit.cwd"]
    if tags.get("toolkit.pid", "").isdigit():
        out["pid"] = int(tags["toolkit.pid"])
    if "toolkit.git.dirty" in tags:
        notes = tags.get("toolkit.git.notes")
        out["git"] = {
            "commit": tags.get("mlflow.source.git.commit"),
            "branch": tags.get("mlflow.source.git.branch"),
            "dirty": tags["toolkit.git.dirty"] == "true",
            "root": tags.get("mlflow.source.git.repoURL"),
            "notes": notes.split("; ") if notes else [],
        }
    return out
