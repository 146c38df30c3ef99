"""Rules that describe the clusters of :func:`~toolkit.cluster_errors` over the feature
columns: a depth-limited decision tree per cluster (the cluster against the rest), its
best leaf read as a :class:`~toolkit.analysis.conditions.Pattern`, and that pattern's
precision and recall against the cluster on all rows.

>>> from toolkit.analysis._cluster_encode import EncodedColumn
>>> meaning = [EncodedColumn("age", "numeric"), EncodedColumn("plan", "category", "pro")]
>>> path_pattern([(0, False, 30.0), (1, True, 0.5), (0, True, 50.04)], meaning).label
'age ∈ (30, 50.04] ∧ plan ≠ pro'
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from toolkit.analysis._cluster_encode import EncodedColumn, encode_features
from toolkit.analysis.conditions import Condition, Pattern

__all__ = ["EMBEDDINGS_ONLY", "MAX_TREE_ROWS", "NO_RULE", "describe_clusters", "path_pattern"]

#: Shown instead of a rule when there are no feature columns to describe a cluster with.
EMBEDDINGS_ONLY = "embeddings only — no feature columns to describe it"
#: Shown when the tree finds no split that separates the cluster from the rest.
NO_RULE = "no rule over the feature columns separates it"
#: Rows used to fit each describing tree (a seeded subsample of the fit sample).
MAX_TREE_ROWS = 20_000

#: One step of a tree path: (encoded column, goes left i.e. ``x <= threshold``, threshold).
Step = tuple[int, bool, float]


def describe_clusters(
    table: pd.DataFrame,
    features: pd.DataFrame,
    labels: np.ndarray,
    fit_idx: np.ndarray,
    max_depth: int,
    rng: np.random.Generator,
) -> None:
    """Fill the rule columns: one depth-limited tree per cluster (cluster vs the rest),
    fitted on (a subsample of) the fit sample; its best leaf, read as a conjunction,
    is evaluated as displayed on all rows."""
    from sklearn.tree import DecisionTreeClassifier

    features = features.reset_index(drop=True)
    train = fit_idx
    if train.size > MAX_TREE_ROWS:
        train = np.sort(rng.choice(train, size=MAX_TREE_ROWS, replace=False))
    design, meaning = encode_features(features.iloc[train], for_tree=True)
    for c in table["cluster"].tolist():
        member = labels == c
        pattern = None
        if design.shape[1]:
            y = member[train]
            tree = DecisionTreeClassifier(
                max_depth=max_depth,
                class_weight="balanced",
                min_samples_leaf=max(5, int(0.01 * y.sum())),
                random_state=int(rng.integers(2**31 - 1)),
            ).fit(design, y)
            pattern = best_leaf_pattern(tree, meaning, features, member)
        if pattern is None:
            table.at[c, "description"] = NO_RULE
            continue
        mask = pattern.mask(features)
        hit = int((mask & member).sum())
        precision = hit / mask.sum() if mask.any() else 0.0
        recall = hit / member.sum() if member.any() else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
        rule = pattern.label
        table.at[c, "rule"] = rule
        table.at[c, "conditions"] = pattern
        table.at[c, "rule_precision"] = precision
        table.at[c, "rule_recall"] = recall
        table.at[c, "fidelity"] = f1
        table.at[c, "description"] = f"{rule} (precision {precision:.2f}, recall {recall:.2f})"


def best_leaf_pattern(
    tree: Any, meaning: list[EncodedColumn], features: pd.DataFrame, member: np.ndarray
) -> Pattern | None:
    """The leaf path (conjunction) with the best F1 against ``member`` on all rows."""
    t = tree.tree_
    if t.node_count <= 1 or 1 not in tree.classes_:
        return None
    pos = int(np.flatnonzero(tree.classes_ == 1)[0])
    best: tuple[float, Pattern | None] = (-1.0, None)
    n_member = int(member.sum())
    stack: list[tuple[int, list[Step]]] = [(0, [])]
    while stack:
        node, path = stack.pop()
        left, right = t.children_left[node], t.children_right[node]
        if left != right:  # a split: x[feature] <= threshold goes left
            f, thr = int(t.feature[node]), float(t.threshold[node])
            stack.append((right, [*path, (f, False, thr)]))
            stack.append((left, [*path, (f, True, thr)]))
            continue
        values = t.value[node][0]
        if not path or values[pos] <= values.sum() - values[pos]:
            continue  # a leaf that (weighted) favours the rest
        pattern = path_pattern(path, meaning)
        if not len(pattern):
            continue
        mask = pattern.mask(features)
        hit = int((mask & member).sum())
        if hit == 0:
            continue
        f1 = 2 * hit / (int(mask.sum()) + n_member)
        if f1 > best[0]:
            best = (f1, pattern)
    return best[1]


def _round(value: float) -> float:
    """A threshold as displayed (6 significant digits), so the rule shown is the rule used."""
    return float(f"{value:.6g}")


def path_pattern(path: list[Step], meaning: list[EncodedColumn]) -> Pattern:
    """Merge a tree path into at most one condition per feature, in order of first use."""
    per_feature: dict[str, dict[str, Any]] = {}
    for f, goes_left, thr in path:
        col = meaning[f]
        st = per_feature.setdefault(
            col.feature, {"lo": -math.inf, "hi": math.inf, "missing": None, "eq": [], "ne": []}
        )
        if col.kind == "numeric":
            if goes_left:
                st["hi"] = min(st["hi"], _round(thr))
            else:
                st["lo"] = max(st["lo"], _round(thr))
        elif col.kind == "missing":
            st["missing"] = not goes_left  # indicator > 0.5 means missing
        else:  # one-hot of a category
            (st["ne"] if goes_left else st["eq"]).append(col.value)
    conditions = (feature_condition(feature, st) for feature, st in per_feature.items())
    return Pattern(tuple(c for c in conditions if c is not None))


def feature_condition(feature: str, st: dict[str, Any]) -> Condition | None:
    """The condition a path puts on one feature (None when it puts none).

    >>> st = {"lo": 2.0, "hi": math.inf, "missing": False, "eq": [], "ne": []}
    >>> feature_condition("x", st).label
    'x > 2'
    >>> feature_condition("x", {**st, "lo": -math.inf}).label
    'x is not missing'
    """
    if st["missing"] is True:  # bounds on the imputed median add nothing for these rows
        return Condition(feature, "is missing")
    if st["eq"]:
        return Condition(feature, "==", st["eq"][0])
    if st["ne"]:
        return Condition(feature, "not in", tuple(dict.fromkeys(st["ne"])))
    lo, hi = st["lo"], st["hi"]
    if math.isinf(lo) and math.isinf(hi):
        return Condition(feature, "not missing") if st["missing"] is False else None
    if math.isinf(lo):
        return Condition(feature, "<=", hi)
    if math.isinf(hi):
        return Condition(feature, ">", lo)
    return Condition(feature, "in (]", (lo, hi))
