"""The rows of each group and the label-issue flags, aligned with a `Predictions`.

Helpers of :func:`toolkit.analysis.labels.label_issue_share`: a group is a cluster of
an ``ErrorClusters``, a pattern of a patterns table (rebuilt from its conditions), or a
boolean mask.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from toolkit._checks import preview
from toolkit.analysis.conditions import pattern_masks
from toolkit.data import Predictions
from toolkit.exceptions import (
    ColumnNotFoundError,
    DuplicateIdError,
    LengthMismatchError,
    ToolkitTypeError,
    ValidationError,
)

__all__ = ["group_masks", "issue_mask"]


def issue_mask(issues: Any, p: Predictions) -> np.ndarray:
    """The ``is_issue`` flags in the row order of ``p`` (from a table or a mask)."""
    if not isinstance(issues, pd.DataFrame):
        mask = bool_vector(issues, "issues")
        if mask.shape[0] != p.n:
            raise LengthMismatchError(f"issues has {mask.shape[0]} rows but p has {p.n}")
        return mask
    missing = [c for c in ("id", "is_issue") if c not in issues.columns]
    if missing:
        raise ColumnNotFoundError(
            f"issues lacks column(s) {missing} (expected the find_label_issues table); "
            f"it has {preview(issues.columns, 12)}"
        )
    flags = pd.Series(bool_vector(issues["is_issue"], "is_issue"), index=issues["id"].to_numpy())
    if flags.index.has_duplicates:
        raise DuplicateIdError(
            f"issues has repeated ids: {preview(flags.index[flags.index.duplicated()].unique())}"
        )
    known = flags.index.isin(p.ids)
    absent = ~pd.Index(p.ids).isin(flags.index)
    if absent.any() or not known.all():
        raise ValidationError(
            "issues must hold the ids of p exactly: "
            f"{int(absent.sum())} id(s) of p are missing (e.g. {preview(p.ids[absent])}) "
            f"and {int((~known).sum())} are unknown to p"
        )
    return flags.reindex(p.ids).to_numpy(dtype=bool)


def group_masks(groups: Any, p: Predictions) -> list[np.ndarray]:
    """One boolean mask over the rows of ``p`` per group, in the order of ``groups``."""
    if hasattr(groups, "points") and isinstance(getattr(groups, "table", None), pd.DataFrame):
        return _cluster_masks(groups, p)
    if isinstance(groups, pd.DataFrame):
        return _pattern_masks(groups, p)
    if hasattr(groups, "to_frame") and not isinstance(groups, pd.Series | pd.Index):
        return _pattern_masks(groups.to_frame(), p)  # a result whose table holds patterns
    masks = [bool_vector(m, f"groups[{i}]") for i, m in enumerate(groups)]
    for i, mask in enumerate(masks):
        if mask.shape[0] != p.n:
            raise LengthMismatchError(f"groups[{i}] has {mask.shape[0]} rows but p has {p.n}")
    return masks


def _pattern_masks(table: pd.DataFrame, p: Predictions) -> list[np.ndarray]:
    if "conditions" not in table.columns:
        raise ColumnNotFoundError(
            "a groups table needs a 'conditions' column (from find_error_patterns); "
            f"it has {preview(table.columns, 12)}"
        )
    frame = p.features
    if frame is None:
        raise ValidationError("p has no features, so the patterns' rows cannot be rebuilt")
    frame = frame.reset_index(drop=True)
    return pattern_masks(table["conditions"], frame)


def _cluster_masks(clusters: Any, p: Predictions) -> list[np.ndarray]:
    points = clusters.points
    if len(points) != p.n:
        raise LengthMismatchError(f"the clusters hold {len(points)} rows but p has {p.n}")
    by_id = pd.Series(points["cluster"].to_numpy(), index=points["id"].to_numpy())
    if not pd.Index(p.ids).isin(by_id.index).all() or by_id.index.has_duplicates:
        raise ValidationError("the clusters' points must hold the ids of p, once each")
    cluster = by_id.reindex(p.ids).to_numpy()
    return [cluster == c for c in clusters.table["cluster"]]


def bool_vector(values: Any, name: str) -> np.ndarray:
    """A 1-D boolean array from booleans or 0/1 numbers."""
    arr = np.asarray(values.to_numpy() if isinstance(values, pd.Series) else values)
    if arr.ndim != 1:
        raise ValidationError(f"{name} must be 1-D, but has shape {arr.shape}")
    if arr.dtype.kind == "b":
        return arr.astype(bool)
    if arr.dtype.kind in "iuf" and np.isin(arr, (0, 1)).all():
        return arr.astype(bool)
    raise ToolkitTypeError(f"{name} must be booleans (or 0/1), got dtype {arr.dtype}")
