"""Error clusters: a UMAP map of the rows, HDBSCAN clusters, and rules that say how true they are.

Slices and error patterns need a column that names the failure; clusters find groups of
errors that no single column names (images, text, embeddings, interactions of features).
The method: cluster the evaluation rows, test the model on each cluster against the rest,
draw the rows on a 2-D UMAP map (circles for correct predictions, squares for errors, a
colour per class) and describe each cluster by a short rule over the feature columns,
shown with its precision and recall against the cluster membership.

Pipeline (every random step takes ``random_state``):

1. Representation: the given ``embeddings``, else ``p.embeddings``, else the feature
   columns encoded (one-hot categoricals, standardised numerics, missing indicators;
   :mod:`toolkit.analysis._cluster_encode`).
2. Above ``max_points`` rows, a fit sample that keeps every error (up to half of
   ``max_points``, more when correct rows are too few to fill the other half) and fills
   the rest with correct rows, stratified by class.
3. One exact k-nearest-neighbour graph of the fit sample, shared by two UMAP fits: a
   moderate-dimension one (``cluster_dims``) that HDBSCAN clusters, and the 2-D map.
   Clustering on 2-D alone loses structure; on 64+ raw dimensions HDBSCAN is slow.
4. Rows outside the fit sample are placed from their k nearest fitted rows (the
   membership-weighted mean UMAP's own ``transform`` starts from; its search index and
   extra optimisation epochs are skipped to keep 100k rows within a minute) and get a
   cluster by a vote of the same neighbours, weighted alike
   (:mod:`toolkit.analysis._cluster_embed`).
5. Per cluster: counts, error rate with a Wilson interval, lift, gain, excess, a
   one-sided test against the rest with Benjamini-Hochberg correction, the ids nearest
   the centre, the stability of the cluster over re-runs of the reduction and HDBSCAN on
   bootstrap draws (:mod:`toolkit.analysis._cluster_stats`), and a depth-limited
   decision-tree rule (:mod:`toolkit.analysis._cluster_rules`).
6. The clusters are numbered in the order of the error patterns' severity lens: those
   significantly worse than the rest first, each group by the Wilson lower bound of its
   error rate. The others stay in the table, after them, with ``significant`` False.

umap and hdbscan are imported inside the functions that use them, so ``import toolkit``
stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd

from toolkit._json import frame_records, json_safe
from toolkit._result import Result
from toolkit._validation import BOOLEAN, RANDOM_STATE, Interval, validate_params
from toolkit._warn import warn_caller
from toolkit.analysis._cluster_embed import (
    apply_order,
    cluster_space_of,
    embed_and_cluster,
    fit_sample,
    phase,
    relabel,
    strata,
)
from toolkit.analysis._cluster_encode import infinite_columns, representation
from toolkit.analysis._cluster_rules import EMBEDDINGS_ONLY, NO_RULE, describe_clusters
from toolkit.analysis._cluster_stats import (
    CLUSTER_COLUMNS,
    STABLE_JACCARD,
    cluster_table,
    stability,
)
from toolkit.analysis.conditions import pattern_masks
from toolkit.analysis.patterns import ErrorPatterns
from toolkit.data import Predictions
from toolkit.exceptions import (
    ColumnNotFoundError,
    LengthMismatchError,
    NotApplicableError,
    ValidationError,
)

__all__ = [
    "CLUSTER_COLUMNS",
    "EMBEDDINGS_ONLY",
    "NO_RULE",
    "OVERLAP_COLUMNS",
    "STABLE_JACCARD",
    "ErrorClusters",
    "cluster_errors",
    "cluster_pattern_overlap",
]

#: The fewest rows the method accepts.
MIN_ROWS = 20
#: Columns of :func:`cluster_pattern_overlap`.
OVERLAP_COLUMNS = [
    "cluster",
    "pattern",
    "n_cluster",
    "n_pattern",
    "n_both",
    "errors_both",
    "jaccard",
]
#: Columns a notebook shows of the cluster table.
_HTML_COLUMNS = [
    "cluster",
    "n",
    "errors",
    "error_rate",
    "gain_pp",
    "excess_pp",
    "lift",
    "q_value",
    "stability",
    "description",
]


@dataclass(frozen=True, eq=False, repr=False)
class ErrorClusters(Result):
    """Result of :func:`cluster_errors`.

    Attributes
    ----------
    table : DataFrame
        One row per cluster, cluster 0 first: the clusters significantly worse than the
        rest first, each group by severity (``ci_low``, the Wilson lower bound of the
        error rate, descending; then errors, then size). Columns: ``cluster``; on all
        rows ``n``, ``errors``, ``error_rate``, ``ci_low``, ``ci_high`` (Wilson 95%),
        ``share_of_errors``, ``gain_pp`` (errors in the cluster / all rows x 100: the
        points the overall error rate falls if they were fixed), ``excess_pp`` (errors
        beyond the rest's error rate / all rows x 100: the points it falls if the
        cluster did as well as the rest), ``lift`` (error rate / overall error rate),
        ``p_value`` (one-sided, the
        cluster's error rate against the rest's), ``q_value`` (Benjamini-Hochberg over
        the clusters), ``significant`` (``q_value <= alpha``); ``description`` (the rule
        with its precision and recall, or why there is none), ``fidelity`` (F1 of the
        rule against cluster membership; NaN without a rule), ``rule`` (the bare
        conjunction, the pattern's label; None without a rule), ``conditions`` (the rule
        as a :class:`~toolkit.analysis.conditions.Pattern`, empty without a rule; in the
        JSON a list of ``{"column", "op", "value"}``), ``rule_precision`` and
        ``rule_recall`` (on all rows), ``stability`` (mean best-match Jaccard over
        re-runs of the UMAP reduction, with a new seed, and HDBSCAN on bootstrap draws
        of the fit sample; NaN when ``n_bootstrap=0``), ``stable`` (``stability >=
        0.75``; None when ``n_bootstrap=0``), ``examples`` (ids nearest the cluster's
        centre) and ``error_examples`` (the errors nearest it).
    points : DataFrame
        The figure data, one row per input row in input order; see :meth:`figure_data`.
    n_noise, noise_errors : int
        Rows (and errors) in no cluster; ``table.n.sum() + n_noise == len(points)``.
    params : dict
        How the result was made: representation, sizes, parameters, notes, and
        ``dropped_features`` (feature columns left out, with the reason: a numeric
        column holding +-inf).

    ``len(result)`` is the number of clusters. ``labels`` (and ``mask(c)``) give the
    rows of each cluster in input order, so other analyses can aggregate over clusters
    with plain boolean masks.
    """

    points: pd.DataFrame = field(repr=False)
    n_noise: int
    noise_errors: int
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def coords(self) -> np.ndarray:
        """The 2-D UMAP map, shape (n_samples, 2)."""
        return self.points[["x", "y"]].to_numpy(dtype=float)

    @property
    def labels(self) -> np.ndarray:
        """Cluster of each row, shape (n_samples,), in input order; -1 is noise."""
        return self.points["cluster"].to_numpy(dtype=np.int64)

    @validate_params({"cluster": [Interval(Integral, -1, None)]})
    def mask(self, cluster: int) -> np.ndarray:
        """Rows in ``cluster`` (-1: the noise), a bool array of shape (n_samples,)."""
        if int(cluster) not in [-1, *self.table["cluster"].tolist()]:
            raise ValidationError(
                f"cluster {cluster!r} does not exist: clusters are -1 (noise) "
                f"and 0..{len(self.table) - 1}"
            )
        return self.labels == int(cluster)

    def figure_data(self) -> pd.DataFrame:
        """The data of the error map: one row per input row, in input order (a copy).

        Columns
        -------
        id
            The row's id (``p.ids``).
        x, y : float
            Its position on the 2-D UMAP map.
        class
            True label (``p.y_true``); None for regression.
        predicted
            Predicted label or value (``p.y_pred``).
        error : bool
            ``p.errors``: True for an error (draw a square), False for a correct
            prediction (a circle).
        cluster : int
            Cluster of the row (-1 = noise), the ``cluster`` of :attr:`table`.
        fitted : bool
            False for rows placed on the map after the fit (above ``max_points``).
        """
        return self.points.copy()

    @validate_params({"include_points": [BOOLEAN]})
    def to_dict(self, *, include_points: bool = False) -> dict[str, Any]:
        """JSON-safe dict: ``params``, ``n`` (rows), ``n_noise``, ``noise_errors``,
        ``table`` and, when ``include_points``, the per-row figure data as ``points``."""
        out: dict[str, Any] = {
            "params": json_safe(self.params),
            "n": len(self.points),
            "n_noise": self.n_noise,
            "noise_errors": self.noise_errors,
            "table": frame_records(self.table),
        }
        if include_points:
            out["points"] = frame_records(self.points)
        return out

    def _repr_html_(self) -> str:
        head = (
            f"<p>{len(self.table)} clusters; noise: {self.n_noise} rows, "
            f"{self.noise_errors} errors</p>"
        )
        shown = self.table[_HTML_COLUMNS].to_html(index=False, float_format=lambda v: f"{v:.4g}")
        return f"<div>{head}{shown}</div>"


@validate_params(
    {
        "p": [Predictions],
        "n_neighbors": [Interval(Integral, 2, None)],
        "min_cluster_size": [Interval(Integral, 2, None), None],
        "min_samples": [Interval(Integral, 1, None), None],
        "max_points": [Interval(Integral, 100, None)],
        "cluster_dims": [Interval(Integral, 2, None)],
        "n_bootstrap": [Interval(Integral, 0, None)],
        "max_depth": [Interval(Integral, 1, None)],
        "n_examples": [Interval(Integral, 0, None)],
        "alpha": [Interval(Real, 0, 1, closed="neither")],
        "random_state": [RANDOM_STATE, None],
    }
)
def cluster_errors(
    p: Predictions,
    *,
    embeddings: Any = None,
    n_neighbors: int = 15,
    min_cluster_size: int | None = None,
    min_samples: int | None = None,
    max_points: int = 5_000,
    cluster_dims: int = 8,
    n_bootstrap: int = 3,
    max_depth: int = 3,
    n_examples: int = 5,
    alpha: float = 0.05,
    random_state: int | None = 0,
) -> ErrorClusters:
    """Cluster the rows, map them to 2-D, and describe where the errors concentrate.

    Parameters
    ----------
    p : Predictions
    embeddings : array-like of shape (n_samples, n_dims), default=None
        The representation to cluster; any width. Default: ``p.embeddings``, else
        ``p.features`` encoded (one-hot categoricals, standardised numerics with
        missing values set to the median, one missing indicator per column with any).
    n_neighbors : int, default=15
        Neighbours of the k-NN graph behind both UMAP fits and the placement of rows
        outside the fit sample.
    min_cluster_size : int, default=None
        HDBSCAN's smallest cluster, counted in the fit sample. Default:
        ``max(10, n_fit // 200)``.
    min_samples : int, default=None
        HDBSCAN's density smoothing. Default: ``min(10, min_cluster_size)``.
    max_points : int, default=5000
        Above this many rows, UMAP and HDBSCAN are fitted on a sample of this size that
        keeps every error (up to ``max_points // 2``, or more when fewer correct rows
        than that exist; stratified by class beyond the cap) and fills the rest with
        correct rows stratified by class; the other rows are placed afterwards.
    cluster_dims : int, default=8
        Dimension of the UMAP reduction that HDBSCAN clusters. A representation with
        at most this many columns is clustered as it is.
    n_bootstrap : int, default=3
        Re-runs for ``stability``: each draws a bootstrap sample of the fit sample,
        re-fits the UMAP reduction HDBSCAN clusters on it with a new seed (when one is
        used) and re-runs HDBSCAN. 0 skips the check (and the time it takes).
    max_depth : int, default=3
        Depth of the decision tree that describes each cluster: a rule has at most
        this many conditions.
    n_examples : int, default=5
        Ids listed per cluster in ``examples`` and in ``error_examples``.
    alpha : float, default=0.05
        Level of the Benjamini-Hochberg corrected test (``significant``).
    random_state : int or None, default=0
        Seeds the sample, UMAP, the bootstrap and the trees. An int makes UMAP run
        single-threaded (umap-learn's rule for reproducible results); None lets it use
        every core and gives a different map on each run.

    Returns
    -------
    ErrorClusters

    Raises
    ------
    ToolkitTypeError
        ``p`` is not a Predictions, an option has the wrong type, or ``embeddings``
        is not numeric.
    InvalidValueError
        An option out of range, or non-finite ``embeddings``.
    NotApplicableError
        No embeddings, and every feature column holds +-inf.
    ValidationError
        No representation (no embeddings and no features), or too few rows.

    Warns
    -----
    UserWarning
        A numeric feature holds +-inf: the column is left out (and named in
        ``params["dropped_features"]``); the other columns are used.
    LengthMismatchError
        ``embeddings`` has a different number of rows than ``p``.

    Examples
    --------
    >>> import numpy as np, toolkit as tk
    >>> rng = np.random.default_rng(0)
    >>> emb = np.vstack([rng.normal(0, 1, (150, 5)), rng.normal(8, 1, (50, 5))])
    >>> y = np.zeros(200, dtype=int)
    >>> pred = np.r_[np.zeros(150, dtype=int), np.ones(50, dtype=int)]
    >>> result = tk.cluster_errors(tk.Predictions(y, pred, embeddings=emb), n_bootstrap=0)
    >>> int(result.table.loc[0, "errors"]), int(result.table.loc[0, "n"])
    (50, 50)
    """
    features, dropped = _finite_features(p, embeddings)
    X, source = representation(p, embeddings, features)
    n = X.shape[0]
    if n < max(MIN_ROWS, n_neighbors + 1):
        raise ValidationError(
            f"cluster_errors needs at least {max(MIN_ROWS, n_neighbors + 1)} rows "
            f"(n_neighbors={n_neighbors}), but p has {n}"
        )
    rng = np.random.default_rng(random_state)
    errors = p.errors
    fit_idx = fit_sample(errors, strata(p), max_points, rng)
    mcs = max(10, fit_idx.size // 200) if min_cluster_size is None else int(min_cluster_size)
    ms = min(10, mcs) if min_samples is None else int(min_samples)
    seed = None if random_state is None else int(rng.integers(2**31 - 1))

    emb = embed_and_cluster(X, fit_idx, n_neighbors, cluster_dims, mcs, ms, seed)
    labels, order = relabel(emb.labels, errors, alpha)
    with phase("stability"):
        labels_fit = apply_order(emb.labels_fit, order)
        spaces_of = cluster_space_of(X[fit_idx], n_neighbors, cluster_dims)
        jaccard = stability(spaces_of, labels_fit, len(order), mcs, ms, n_bootstrap, rng)
    table = cluster_table(p, labels, emb.space, jaccard, n_examples, alpha)
    if features is None or features.shape[1] == 0:
        table["description"] = EMBEDDINGS_ONLY
    else:
        with phase("rules"):
            describe_clusters(table, features, labels, fit_idx, max_depth, rng)

    noise = labels < 0
    params = _params(
        source,
        X,
        fit_idx,
        errors,
        n_neighbors=n_neighbors,
        min_cluster_size=mcs,
        min_samples=ms,
        cluster_dims=cluster_dims,
        n_bootstrap=n_bootstrap,
        max_depth=max_depth,
        alpha=alpha,
        random_state=random_state,
    )
    params["dropped_features"] = dropped
    return ErrorClusters(
        table=table,
        points=_points(p, emb.coords, labels, emb.fitted),
        n_noise=int(noise.sum()),
        noise_errors=int(errors[noise].sum()),
        params=params,
    )


def _finite_features(p: Predictions, embeddings: Any) -> tuple[pd.DataFrame | None, dict]:
    """``p.features`` without the numeric columns that hold +-inf (a distance, a standard
    deviation or a tree threshold means nothing there), each named in a warning and in
    the returned reasons. :class:`NotApplicableError` when nothing is left to cluster."""
    features = p.features
    infinite = infinite_columns(features)
    if not infinite:
        return features, {}
    reasons = {name: f"infinite values in {count} row(s)" for name, count in infinite.items()}
    warn_caller(
        "cluster_errors left out feature(s) with infinite values: "
        + ", ".join(f"{name!r} ({count} row(s))" for name, count in infinite.items())
        + "; replace them (e.g. by missing values) to use these columns",
        UserWarning,
    )
    kept = features.drop(columns=[c for c in features.columns if str(c) in infinite])
    if kept.shape[1] == 0 and embeddings is None and p.embeddings is None:
        raise NotApplicableError(
            "every feature column holds infinite values ("
            + ", ".join(f"{name!r}: {count} row(s)" for name, count in infinite.items())
            + "), so no row can be placed: replace them by finite or missing values, "
            "or pass embeddings="
        )
    return kept, reasons


def _points(
    p: Predictions, coords: np.ndarray, labels: np.ndarray, fitted: np.ndarray
) -> pd.DataFrame:
    """The figure data (see :meth:`ErrorClusters.figure_data`)."""
    return pd.DataFrame(
        {
            "id": p.ids,
            "x": coords[:, 0],
            "y": coords[:, 1],
            "class": p.y_true if p.is_classification else None,
            "predicted": p.y_pred,
            "error": p.errors,
            "cluster": labels,
            "fitted": fitted,
        }
    )


def _params(
    source: str,
    X: np.ndarray,
    fit_idx: np.ndarray,
    errors: np.ndarray,
    *,
    n_neighbors: int,
    min_cluster_size: int,
    min_samples: int,
    cluster_dims: int,
    n_bootstrap: int,
    max_depth: int,
    alpha: float,
    random_state: int | None,
) -> dict[str, Any]:
    """How the result was made (``ErrorClusters.params``)."""
    n, n_dims = X.shape
    return {
        "representation": source,
        "n_dims": int(n_dims),
        "n": int(n),
        "n_fit": int(fit_idx.size),
        "sampled": bool(fit_idx.size < n),
        "errors_in_fit": int(errors[fit_idx].sum()),
        "n_neighbors": int(n_neighbors),
        "min_cluster_size": int(min_cluster_size),
        "min_samples": int(min_samples),
        "cluster_dims": int(min(cluster_dims, n_dims)),
        "cluster_space": "representation" if n_dims <= cluster_dims else "umap",
        "n_bootstrap": int(n_bootstrap),
        "max_depth": int(max_depth),
        "alpha": float(alpha),
        "random_state": random_state,
        "notes": dict(_NOTES),
    }


#: How the parts of the method that a reader may not guess were done (``params["notes"]``).
_NOTES = {
    "placement": "rows outside the fit sample: position = membership-weighted mean "
    "of their k nearest fitted rows; cluster = the label (noise included) with the "
    "largest summed weight among those rows",
    "stability": "re-runs on bootstrap draws of the fit sample: the UMAP reduction "
    "re-fitted with a new seed, then HDBSCAN; best-match Jaccard per cluster, averaged",
    "order": "clusters significantly worse than the rest first, each group by the "
    "Wilson lower bound of the error rate",
    "fidelity": "F1 of the rule against cluster membership, on all rows",
}


# ---------------------------------------------------------------------- cross-link
@validate_params(
    {
        "clusters": [ErrorClusters],
        "patterns": [ErrorPatterns, pd.DataFrame, None],
        "p": [Predictions],
        "top_clusters": [Interval(Integral, 1, None)],
        "top_patterns": [Interval(Integral, 1, None)],
        "min_jaccard": [Interval(Real, 0, 1)],
    }
)
def cluster_pattern_overlap(
    clusters: ErrorClusters,
    patterns: ErrorPatterns | pd.DataFrame | None,
    p: Predictions,
    *,
    top_clusters: int = 5,
    top_patterns: int = 10,
    min_jaccard: float = 0.0,
) -> pd.DataFrame:
    """Row overlap between the top error clusters and the top error patterns.

    Both explain errors: a cluster that a pattern covers is the same finding seen
    twice; a cluster no pattern covers is a failure no column names.

    Parameters
    ----------
    clusters : ErrorClusters
        From :func:`cluster_errors` on ``p``.
    patterns : ErrorPatterns or DataFrame
        From :func:`toolkit.find_error_patterns` on ``p``, or its table: the columns
        ``pattern`` (the name shown) and ``conditions`` (a
        :class:`~toolkit.analysis.conditions.Pattern` or a list of
        ``{"column", "op", "value"}`` per row) are used.
    p : Predictions
        The rows both were computed on (their features rebuild the pattern rows).
    top_clusters, top_patterns : int
        How many of each, from the top of their tables.
    min_jaccard : float, default=0.0
        Pairs below this row Jaccard are left out.

    Returns
    -------
    DataFrame
        One row per (cluster, pattern) pair: ``cluster``, ``pattern``, ``n_cluster``,
        ``n_pattern``, ``n_both``, ``errors_both``, ``jaccard`` (rows in both / rows in
        either); sorted by cluster, then Jaccard descending. Empty (with these columns)
        when there are no patterns.

    Raises
    ------
    ToolkitTypeError
        An argument of the wrong type.
    InvalidValueError
        An option out of range.
    LengthMismatchError
        ``clusters`` was computed on a different number of rows than ``p`` has.
    ColumnNotFoundError
        ``patterns`` lacks ``pattern`` or ``conditions``, or a condition names a column
        that ``p.features`` does not have.
    ValidationError
        ``p`` has no features.

    Examples
    --------
    >>> import numpy as np, pandas as pd, toolkit as tk
    >>> p = tk.Predictions([0] * 6, [1, 1, 0, 1, 0, 0], classes=[0, 1],
    ...                    features={"color": ["red", "red", "red", "blue", "blue", "blue"]})
    >>> clusters = ErrorClusters(pd.DataFrame({"cluster": [0]}),
    ...                          pd.DataFrame({"cluster": [0, 0, -1, -1, -1, -1]}), 4, 1)
    >>> patterns = pd.DataFrame({"pattern": ["color = red"], "conditions": [
    ...     [{"column": "color", "op": "==", "value": "red"}]]})
    >>> cluster_pattern_overlap(clusters, patterns, p).to_dict(orient="records")
    [{'cluster': 0, 'pattern': 'color = red', 'n_cluster': 2, 'n_pattern': 3, 'n_both': 2, \
'errors_both': 2, 'jaccard': 0.6666666666666666}]
    """
    labels = clusters.labels
    if labels.shape[0] != p.n:
        raise LengthMismatchError(
            f"clusters cover {labels.shape[0]} rows but p has {p.n}: use the same Predictions"
        )
    table = patterns.table if isinstance(patterns, ErrorPatterns) else patterns
    if table is None or len(table) == 0:
        return pd.DataFrame(columns=OVERLAP_COLUMNS)
    missing = [c for c in ("pattern", "conditions") if c not in table.columns]
    if missing:
        raise ColumnNotFoundError(
            f"patterns has no column(s) {missing}: pass the table of find_error_patterns"
        )
    if p.features is None:
        raise ValidationError(
            "p has no features, so the rows of the patterns cannot be rebuilt: "
            "pass the Predictions the patterns were found on"
        )
    masks = _pattern_masks(table.head(top_patterns), p.features)
    clusters_shown = clusters.table["cluster"].head(top_clusters).tolist()
    out = pd.DataFrame(
        _overlap_rows(labels, clusters_shown, masks, p.errors, min_jaccard),
        columns=OVERLAP_COLUMNS,
    )
    if len(out):
        out = out.sort_values(["cluster", "jaccard"], ascending=[True, False], kind="stable")
    return out.reset_index(drop=True)


def _overlap_rows(
    labels: np.ndarray,
    clusters: list[int],
    masks: list[tuple[Any, np.ndarray]],
    errors: np.ndarray,
    min_jaccard: float,
) -> list[dict[str, Any]]:
    rows = []
    for c in clusters:
        member = labels == c
        for name, mask in masks:
            both = int((member & mask).sum())
            either = int((member | mask).sum())
            jac = both / either if either else 0.0
            if jac < min_jaccard or (both == 0 and min_jaccard > 0):
                continue
            rows.append(
                {
                    "cluster": int(c),
                    "pattern": name,
                    "n_cluster": int(member.sum()),
                    "n_pattern": int(mask.sum()),
                    "n_both": both,
                    "errors_both": int((member & mask & errors).sum()),
                    "jaccard": jac,
                }
            )
    return rows


def _pattern_masks(table: pd.DataFrame, features: pd.DataFrame) -> list[tuple[Any, np.ndarray]]:
    """Each pattern's name and rows; its conditions may be a Pattern or their dicts."""
    return list(zip(table["pattern"], pattern_masks(table["conditions"], features)))
