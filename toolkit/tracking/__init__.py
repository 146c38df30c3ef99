"""Experiment tracking on MLflow: the only package of toolkit that imports mlflow.

Names are loaded lazily so that importing ``toolkit.tracking.commands`` (the CLI) does not
import mlflow until a command runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from toolkit._lazy import attach

_LAZY = {
    "Run": "toolkit.tracking.run",
    "RunComparison": "toolkit.tracking.compare",
    "RunEnvironment": "toolkit.tracking.attach",
    "RunTerminated": "toolkit.tracking.run",
    "track": "toolkit.tracking.run",
    "tracked": "toolkit.tracking.run",
    "current_run": "toolkit.tracking.run",
    "compare_runs": "toolkit.tracking.compare",
    "list_runs": "toolkit.tracking.compare",
    "mark_stale_runs": "toolkit.tracking.compare",
    "sync": "toolkit.tracking.spool",
    "log_to_run": "toolkit.tracking.attach",
    "run_environment": "toolkit.tracking.attach",
    "resolve_tracking_uri": "toolkit.tracking._store",
}

__all__ = [
    "Run",
    "RunComparison",
    "RunEnvironment",
    "RunTerminated",
    "compare_runs",
    "current_run",
    "list_runs",
    "log_to_run",
    "mark_stale_runs",
    "resolve_tracking_uri",
    "run_environment",
    "sync",
    "track",
    "tracked",
]

if TYPE_CHECKING:  # pragma: no cover
    from toolkit.tracking._store import resolve_tracking_uri
    from toolkit.tracking.attach import RunEnvironment, log_to_run, run_environment
    from toolkit.tracking.compare import RunComparison, compare_runs, list_runs, mark_stale_runs
    from toolkit.tracking.run import Run, RunTerminated, current_run, track, tracked
    from toolkit.tracking.spool import sync


__getattr__, __dir__ = attach(__name__, _LAZY)
