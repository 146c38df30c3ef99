"""toolkit: experiment tracking and error analysis for machine-learning models.

Public names are imported lazily, so ``import toolkit`` stays fast and loads none of
mlflow, umap, hdbscan, cleanlab or matplotlib.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from toolkit._lazy import attach
from toolkit.exceptions import ToolkitError

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "Predictions": "toolkit.data",
    "Metrics": "toolkit.analysis.metrics",
    "compute_metrics": "toolkit.analysis.metrics",
    "calibrate": "toolkit.analysis.calibration",
    "analyze_thresholds": "toolkit.analysis.thresholds",
    "learning_curve": "toolkit.evaluation",
    "slice_metrics": "toolkit.analysis.slices",
    "find_leaky_features": "toolkit.analysis.leakage",
    "LeakageCheck": "toolkit.analysis.leakage",
    "check_splits": "toolkit.analysis.splits",
    "SplitCheck": "toolkit.analysis.splits",
    "find_error_patterns": "toolkit.analysis.patterns",
    "error_sample": "toolkit.analysis.tags",
    "rank_error_tags": "toolkit.analysis.tags",
    "Diagnosis": "toolkit.diagnosis",
    "diagnose": "toolkit.diagnosis",
    "ErrorClusters": "toolkit.analysis.clusters",
    "cluster_errors": "toolkit.analysis.clusters",
    "out_of_sample_proba": "toolkit.analysis.labels",
    "find_label_issues": "toolkit.analysis.labels",
    "labeling_queue": "toolkit.analysis.labeling",
    "Stage": "toolkit.analysis.chain",
    "analyze_chain": "toolkit.analysis.chain",
    "Run": "toolkit.tracking.run",
    "Condition": "toolkit.analysis.conditions",
    "Pattern": "toolkit.analysis.conditions",
    "SliceMetrics": "toolkit.analysis.slices",
    "ErrorPatterns": "toolkit.analysis.patterns",
    "ErrorSample": "toolkit.analysis.tags",
    "TagRanking": "toolkit.analysis.tags",
    "LabelIssues": "toolkit.analysis.labels",
    "LabelingQueue": "toolkit.analysis.labeling",
    "ChainAnalysis": "toolkit.analysis.chain",
    "track": "toolkit.tracking.run",
    "tracked": "toolkit.tracking.run",
    "compare_runs": "toolkit.tracking.compare",
    "RunComparison": "toolkit.tracking.compare",
}

__all__ = [
    "ChainAnalysis",
    "Condition",
    "Diagnosis",
    "ErrorClusters",
    "ErrorPatterns",
    "ErrorSample",
    "LabelIssues",
    "LeakageCheck",
    "LabelingQueue",
    "Metrics",
    "Pattern",
    "Predictions",
    "Run",
    "RunComparison",
    "SliceMetrics",
    "SplitCheck",
    "Stage",
    "TagRanking",
    "ToolkitError",
    "__version__",
    "analyze_chain",
    "analyze_thresholds",
    "calibrate",
    "check_splits",
    "cluster_errors",
    "compare_runs",
    "compute_metrics",
    "diagnose",
    "error_sample",
    "find_error_patterns",
    "find_label_issues",
    "find_leaky_features",
    "labeling_queue",
    "learning_curve",
    "out_of_sample_proba",
    "rank_error_tags",
    "slice_metrics",
    "track",
    "tracked",
]

if TYPE_CHECKING:  # pragma: no cover
    from toolkit.analysis.calibration import calibrate
    from toolkit.analysis.chain import ChainAnalysis, Stage, analyze_chain
    from toolkit.analysis.clusters import ErrorClusters, cluster_errors
    from toolkit.analysis.conditions import Condition, Pattern
    from toolkit.analysis.labeling import LabelingQueue, labeling_queue
    from toolkit.analysis.labels import LabelIssues, find_label_issues, out_of_sample_proba
    from toolkit.analysis.leakage import LeakageCheck, find_leaky_features
    from toolkit.analysis.metrics import Metrics, compute_metrics
    from toolkit.analysis.patterns import ErrorPatterns, find_error_patterns
    from toolkit.analysis.slices import SliceMetrics, slice_metrics
    from toolkit.analysis.splits import SplitCheck, check_splits
    from toolkit.analysis.tags import ErrorSample, TagRanking, error_sample, rank_error_tags
    from toolkit.analysis.thresholds import analyze_thresholds
    from toolkit.data import Predictions
    from toolkit.diagnosis import Diagnosis, diagnose
    from toolkit.evaluation import learning_curve
    from toolkit.tracking.compare import RunComparison, compare_runs
    from toolkit.tracking.run import Run, track, tracked


__getattr__, __dir__ = attach(__name__, _LAZY)
