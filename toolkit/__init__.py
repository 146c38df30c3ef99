"""toolkit: experiment tracking and error analysis for machine-learning models.

Public names are imported lazily, so ``import toolkit`` stays fast and loads none of
mlflow, umap, hdbscan, cleanlab or matplotlib.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from toolkit.exceptions import ToolkitError

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "Predictions": "toolkit.data",
    "Metrics": "toolkit.analysis.metrics",
    "compute_metrics": "toolkit.analysis.metrics",
    "slice_metrics": "toolkit.analysis.slices",
}

__all__ = [
    "Metrics",
    "Predictions",
    "ToolkitError",
    "__version__",
    "compute_metrics",
    "slice_metrics",
]

if TYPE_CHECKING:  # pragma: no cover
    from toolkit.analysis.metrics import Metrics, compute_metrics
    from toolkit.analysis.slices import slice_metrics
    from toolkit.data import Predictions


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'toolkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
