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
    "find_error_patterns": "toolkit.analysis.patterns",
    "error_sample": "toolkit.analysis.tags",
    "rank_error_tags": "toolkit.analysis.tags",
    "Diagnosis": "toolkit.analysis.diagnose",
    "diagnose": "toolkit.analysis.diagnose",
}

__all__ = [
    "Diagnosis",
    "Metrics",
    "Predictions",
    "ToolkitError",
    "__version__",
    "compute_metrics",
    "diagnose",
    "error_sample",
    "find_error_patterns",
    "rank_error_tags",
    "slice_metrics",
]

if TYPE_CHECKING:  # pragma: no cover
    from toolkit.analysis.diagnose import Diagnosis, diagnose
    from toolkit.analysis.metrics import Metrics, compute_metrics
    from toolkit.analysis.patterns import find_error_patterns
    from toolkit.analysis.slices import slice_metrics
    from toolkit.analysis.tags import error_sample, rank_error_tags
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
