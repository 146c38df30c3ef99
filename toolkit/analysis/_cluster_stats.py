"""The numbers of :func:`~toolkit.cluster_errors`' table: counts, error rates, the test of
each cluster against the rest, examples, and the bootstrap stability of the clusters.

>>> import numpy as np
>>> best_jaccard(np.array([0, 0, 1, -1]), np.array([3, 3, 3, -1]), 2).tolist()
[0.6666666666666666, 0.3333333333333333]
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from toolkit._json import to_python
from toolkit.analysis._pattern_scores import excess_errors
from toolkit.analysis._stats import benjamini_hochberg, wilson_interval, worse_than_rest_p_values
from toolkit.analysis.conditions import Pattern
from toolkit.data import Predictions

__all__ = [
    "CLUSTER_COLUMNS",
    "STABLE_JACCARD",
    "best_jaccard",
    "cluster_table",
    "severity_order",
    "stability",
]

CLUSTER_COLUMNS = [
    "cluster",
    "n",
    "errors",
    "error_rate",
    "ci_low",
    "ci_high",
    "share_of_errors",
    "gain_pp",
    "excess_pp",
    "lift",
    "p_value",
    "q_value",
    "significant",
    "description",
    "fidelity",
    "rule",
    "conditions",
    "rule_precision",
    "rule_recall",
    "stability",
    "stable",
    "examples",
    "error_examples",
]

#: A cluster whose mean best-match Jaccard over the re-runs reaches this is marked stable
#: (Hennig 2007 reads >= 0.75 as stable and <= 0.5 as dissolved). The tests hold it to
#: planted answers: a real group of rows reaches it, the clusters HDBSCAN cuts out of
#: uniform noise do not.
STABLE_JACCARD = 0.75


def _counts(labels: np.ndarray, errors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    members = labels >= 0
    n_c = np.bincount(labels[members], minlength=k).astype(np.int64)
    e_c = np.bincount(labels[members], weights=errors[members], minlength=k).astype(np.int64)
    return n_c, e_c


def _tests(
    n_c: np.ndarray, e_c: np.ndarray, e_all: int, n_all: int, alpha: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """p-values (one-sided, cluster against all other rows), BH q-values, significance."""
    p_values = worse_than_rest_p_values(e_c, n_c, e_all, n_all)
    q_values = benjamini_hochberg(p_values)
    return p_values, q_values, q_values <= alpha


def severity_order(raw: np.ndarray, errors: np.ndarray, alpha: float) -> np.ndarray:
    """The new number of each cluster of ``raw`` (old -> new): clusters significantly
    worse than the rest first, each group by the severity lens of the error patterns
    (Wilson lower bound of the error rate), then by errors and size, descending.

    >>> severity_order(np.array([0, 0, 0, 0, 1, 1, 1, 1, -1, -1]),
    ...                np.array([1, 0, 0, 0, 1, 1, 1, 0, 0, 0], dtype=bool), 0.5).tolist()
    [1, 0]
    """
    k = int(raw.max(initial=-1)) + 1
    n_c, e_c = _counts(raw, errors, k)
    _, _, significant = _tests(n_c, e_c, int(errors.sum()), errors.size, alpha)
    severity = np.nan_to_num(wilson_interval(e_c, n_c)[0], nan=0.0)
    ranked = np.lexsort((np.arange(k), -n_c, -e_c, -severity, ~significant))
    order = np.empty(k, dtype=np.int64)
    order[ranked] = np.arange(k)
    return order


def cluster_table(
    p: Predictions,
    labels: np.ndarray,
    space: np.ndarray,
    stability: np.ndarray,
    n_examples: int,
    alpha: float,
) -> pd.DataFrame:
    """One row per cluster 0..k-1 with every column of :data:`CLUSTER_COLUMNS`; the rule
    columns are left empty (no rule) for :mod:`toolkit.analysis._cluster_rules`."""
    errors = p.errors
    n_all, e_all = p.n, int(errors.sum())
    k = int(labels.max(initial=-1)) + 1
    n_c, e_c = _counts(labels, errors, k)
    p_values, q_values, significant = _tests(n_c, e_c, e_all, n_all, alpha)
    low, high = wilson_interval(e_c, n_c)
    overall = e_all / n_all
    examples, error_examples = _examples(p, labels, space, k, n_examples)
    with np.errstate(invalid="ignore", divide="ignore"):
        table = pd.DataFrame(
            {
                "cluster": np.arange(k, dtype=np.int64),
                "n": n_c,
                "errors": e_c,
                "error_rate": e_c / np.maximum(n_c, 1),
                "ci_low": low,
                "ci_high": high,
                "share_of_errors": e_c / e_all if e_all else np.full(k, np.nan),
                "gain_pp": e_c / n_all * 100.0,
                "excess_pp": excess_errors(e_c, n_c, e_all, n_all) / n_all * 100.0,
                "lift": (e_c / np.maximum(n_c, 1)) / overall if overall > 0 else np.nan,
                "p_value": p_values,
                "q_value": q_values,
                "significant": significant,
                "description": pd.Series([""] * k, dtype=object),
                "fidelity": np.full(k, np.nan),
                "rule": pd.Series([None] * k, dtype=object),
                "conditions": pd.Series([Pattern(()) for _ in range(k)], dtype=object),
                "rule_precision": np.full(k, np.nan),
                "rule_recall": np.full(k, np.nan),
                "stability": stability,
                "stable": pd.Series(
                    [None if np.isnan(s) else bool(s >= STABLE_JACCARD) for s in stability],
                    dtype=object,
                ),
                "examples": pd.Series(examples, dtype=object),
                "error_examples": pd.Series(error_examples, dtype=object),
            },
            columns=CLUSTER_COLUMNS,
        )
    return table


def _examples(
    p: Predictions, labels: np.ndarray, space: np.ndarray, k: int, n_examples: int
) -> tuple[list[list], list[list]]:
    """Per cluster, the ids nearest its centre in the cluster space, and the errors
    among them."""
    errors = p.errors
    examples, error_examples = [], []
    for c in range(k):
        rows = np.flatnonzero(labels == c)
        centre = space[rows].mean(axis=0)
        dist = np.linalg.norm(space[rows] - centre, axis=1)
        nearest = rows[np.argsort(dist, kind="stable")]
        examples.append([to_python(v) for v in p.ids[nearest[:n_examples]]])
        err_nearest = nearest[errors[nearest]]
        error_examples.append([to_python(v) for v in p.ids[err_nearest[:n_examples]]])
    return examples, error_examples


def stability(
    spaces_of: Callable[[list[tuple[np.ndarray, int | None]]], list[np.ndarray]],
    labels_fit: np.ndarray,
    k: int,
    min_cluster_size: int,
    min_samples: int,
    n_bootstrap: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Mean over re-runs of each cluster's best-match Jaccard (NaN if none).

    A re-run repeats what made the clusters on a bootstrap draw of the fit sample:
    ``spaces_of([(rows, seed), ...])`` rebuilds the space HDBSCAN clusters from those rows alone
    (the UMAP reduction re-fitted with a new seed, when one is used), then HDBSCAN runs
    on it. So the measure covers the map's randomness as well as HDBSCAN's. A draw keeps
    each distinct row once (repeated identical points would distort the k-NN graph and
    HDBSCAN's densities), so HDBSCAN's sizes are scaled to the distinct share. Jaccard is
    computed over the rows of the draw.
    """
    if n_bootstrap == 0 or k == 0:
        return np.full(k, np.nan)
    import hdbscan

    m = labels_fit.shape[0]
    draws = []
    for _ in range(n_bootstrap):  # drawn in order first: the same draws however they run
        rows = np.unique(rng.integers(0, m, m))
        draws.append((rows, int(rng.integers(2**31 - 1))))
    scores = np.zeros((n_bootstrap, k))
    for b, ((rows, _), space) in enumerate(zip(draws, spaces_of(draws))):
        share = rows.size / m
        boot = hdbscan.HDBSCAN(
            min_cluster_size=max(2, round(min_cluster_size * share)),
            min_samples=max(1, round(min_samples * share)),
        ).fit(space)
        scores[b] = best_jaccard(labels_fit[rows], np.asarray(boot.labels_), k)
    return scores.mean(axis=0)


def best_jaccard(original: np.ndarray, other: np.ndarray, k: int) -> np.ndarray:
    """For each original cluster 0..k-1, the largest Jaccard with a cluster of ``other``."""
    k_other = int(other.max(initial=-1)) + 1
    out = np.zeros(k)
    if k_other == 0:
        return out
    both = (original >= 0) & (other >= 0)
    inter = np.zeros((k, k_other))
    np.add.at(inter, (original[both], other[both]), 1.0)
    size_o = np.bincount(original[original >= 0], minlength=k).astype(float)
    size_b = np.bincount(other[other >= 0], minlength=k_other).astype(float)
    union = size_o[:, None] + size_b[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        jac = np.where(union > 0, inter / union, 0.0)
    return jac.max(axis=1)
