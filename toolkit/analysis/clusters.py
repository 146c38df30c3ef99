"""Error clusters: a UMAP map of the rows, HDBSCAN clusters, and rules that say how true they are.

Slices and error patterns need a column that names the failure; clusters find groups of
errors that no single column names (images, text, embeddings, interactions of features).
The method: cluster the evaluation rows, test the model on each cluster against the rest,
draw the rows on a 2-D UMAP map (circles for correct predictions, squares for errors, a
colour per class) and describe each cluster by a short rule over the feature columns,
shown with its precision and recall against the cluster membership.

Pipeline (every random step takes ``random_state``):

1. Representation: the given ``embeddings``, else ``p.embeddings``, else the feature
   columns encoded (one-hot categoricals, standardised numerics, missing indicators).
2. Above ``max_points`` rows, a fit sample that keeps every error (up to half of
   ``max_points``, more when correct rows are too few to fill the other half) and fills
   the rest with correct rows, stratified by class.
3. One exact k-nearest-neighbour graph of the fit sample, shared by two UMAP fits: a
   moderate-dimension one (``cluster_dims``) that HDBSCAN clusters, and the 2-D map.
   Clustering on 2-D alone loses structure; on 64+ raw dimensions HDBSCAN is slow.
4. Rows outside the fit sample are placed from their k nearest fitted rows (the
   membership-weighted mean UMAP's own ``transform`` starts from; its search index and
   extra optimisation epochs are skipped to keep 100k rows within a minute) and get a
   cluster from ``hdbscan.approximate_predict``. The table counts all rows.
5. Per cluster: counts, error rate with a Wilson interval, lift, gain, a one-sided test
   against the rest with Benjamini-Hochberg correction, the ids nearest the centre, a
   depth-limited decision-tree rule, and the bootstrap stability of the cluster.

umap and hdbscan are imported inside the functions that use them, so ``import toolkit``
stays fast.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from toolkit.analysis._stats import benjamini_hochberg, wilson_interval, worse_than_rest_p_values
from toolkit.analysis.binning import condition_mask, format_number
from toolkit.analysis.metrics import frame_records, json_safe
from toolkit.data import Predictions
from toolkit.exceptions import (
    ColumnNotFoundError,
    InvalidValueError,
    LengthMismatchError,
    ToolkitTypeError,
    ValidationError,
)

__all__ = [
    "CLUSTER_COLUMNS",
    "ErrorClusters",
    "cluster_errors",
    "cluster_pattern_overlap",
]

logger = logging.getLogger(__name__)


@contextmanager
def _phase(name: str) -> Iterator[None]:
    """Log how long a step took (DEBUG), so a slow run can be read without a profiler."""
    started = time.perf_counter()
    yield
    logger.debug("cluster_errors: %s took %.2f s", name, time.perf_counter() - started)


CLUSTER_COLUMNS = [
    "cluster",
    "n",
    "errors",
    "error_rate",
    "ci_low",
    "ci_high",
    "share_of_errors",
    "gain_pp",
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

#: Shown instead of a rule when there are no feature columns to describe a cluster with.
EMBEDDINGS_ONLY = "embeddings only — no feature columns to describe it"
#: Shown when the tree finds no split that separates the cluster from the rest.
NO_RULE = "no rule over the feature columns separates it"
#: A cluster whose mean best-match bootstrap Jaccard reaches this is marked stable
#: (Hennig 2007 reads >= 0.75 as stable and <= 0.5 as dissolved).
STABLE_JACCARD = 0.75
#: Categories kept per categorical column when encoding features (the rest: all zeros).
MAX_CATEGORIES = 30
#: Rows used to fit each describing tree (a seeded subsample of the fit sample).
MAX_TREE_ROWS = 20_000
#: The fewest rows the method accepts.
MIN_ROWS = 20


@dataclass(frozen=True, eq=False)
class ErrorClusters:
    """Result of :func:`cluster_errors`.

    Attributes
    ----------
    table : DataFrame
        One row per cluster, ordered by ``errors`` (so by ``gain_pp``), cluster 0 first.
        Columns: ``cluster``; on all rows ``n``, ``errors``, ``error_rate``, ``ci_low``,
        ``ci_high`` (Wilson 95%), ``share_of_errors``, ``gain_pp`` (errors in the
        cluster / all rows x 100: the points the overall error rate falls if they were
        fixed), ``lift`` (error rate / overall error rate), ``p_value`` (one-sided, the
        cluster's error rate against the rest's), ``q_value`` (Benjamini-Hochberg over
        the clusters), ``significant`` (``q_value <= alpha``); ``description`` (the rule
        with its precision and recall, or why there is none), ``fidelity`` (F1 of the
        rule against cluster membership; NaN without a rule), ``rule`` (the bare
        conjunction), ``conditions`` (the rule as ``{"column", "op", "value"}`` dicts,
        which :func:`toolkit.analysis.binning.condition_mask` applies),
        ``rule_precision`` and ``rule_recall`` (on all rows), ``stability`` (mean
        best-match Jaccard over bootstrap re-runs; NaN when ``n_bootstrap=0``),
        ``stable`` (``stability >= 0.75``; None when ``n_bootstrap=0``), ``examples``
        (ids nearest the cluster's centre) and ``error_examples`` (the errors nearest it).
    points : DataFrame
        The figure data, one row per input row in input order; see :meth:`figure_data`.
    n_noise, noise_errors : int
        Rows (and errors) in no cluster; ``table.n.sum() + n_noise == len(points)``.
    params : dict
        How the result was made: representation, sizes, parameters, notes.

    ``labels`` (and ``mask(c)``) give the rows of each cluster in input order, so other
    analyses can aggregate over clusters with plain boolean masks.
    """

    table: pd.DataFrame
    points: pd.DataFrame
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

    def mask(self, cluster: int) -> np.ndarray:
        """Rows in ``cluster`` (-1: the noise), a bool array of shape (n_samples,)."""
        known = [-1, *self.table["cluster"].tolist()]
        if isinstance(cluster, bool) or not isinstance(cluster, int | np.integer):
            raise ToolkitTypeError(f"cluster must be an integer, got {cluster!r}")
        if int(cluster) not in known:
            raise ValidationError(
                f"cluster {cluster!r} does not exist: clusters are -1 (noise) "
                f"and 0..{len(self.table) - 1}"
            )
        return self.labels == int(cluster)

    def to_frame(self) -> pd.DataFrame:
        """The cluster table (a copy)."""
        return self.table.copy()

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

    def to_dict(self, *, include_points: bool = False) -> dict[str, Any]:
        """JSON-safe dict: ``params``, ``n_noise``, ``noise_errors``, ``table`` and, when
        ``include_points``, the per-row figure data as ``points``."""
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
        shown = self.table[
            [
                "cluster",
                "n",
                "errors",
                "error_rate",
                "gain_pp",
                "lift",
                "q_value",
                "stability",
                "description",
            ]
        ]
        head = (
            f"<p>{len(self.table)} clusters; noise: {self.n_noise} rows, "
            f"{self.noise_errors} errors</p>"
        )
        return head + shown.to_html(index=False, float_format=lambda v: f"{v:.4g}")


def cluster_errors(
    p: Predictions,
    *,
    embeddings: Any = None,
    n_neighbors: int = 15,
    min_cluster_size: int | None = None,
    min_samples: int | None = None,
    max_points: int = 20_000,
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
    max_points : int, default=20000
        Above this many rows, UMAP and HDBSCAN are fitted on a sample of this size that
        keeps every error (up to ``max_points // 2``, or more when fewer correct rows
        than that exist; stratified by class beyond the cap) and fills the rest with
        correct rows stratified by class; the other rows are placed afterwards.
    cluster_dims : int, default=8
        Dimension of the UMAP reduction that HDBSCAN clusters. A representation with
        at most this many columns is clustered as it is.
    n_bootstrap : int, default=3
        HDBSCAN re-runs on bootstrap resamples of the fit sample, for ``stability``.
        The UMAP reduction is held fixed (re-fitting it would multiply the run time);
        0 skips the check.
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
    ValidationError
        No representation (no embeddings and no features), too few rows, or an
        option out of range.
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
    _check_options(
        p,
        n_neighbors=n_neighbors,
        min_cluster_size=min_cluster_size,
        min_samples=min_samples,
        max_points=max_points,
        cluster_dims=cluster_dims,
        n_bootstrap=n_bootstrap,
        max_depth=max_depth,
        n_examples=n_examples,
        alpha=alpha,
        random_state=random_state,
    )
    X, representation = _representation(p, embeddings)
    n = X.shape[0]
    if n < max(MIN_ROWS, n_neighbors + 1):
        raise ValidationError(
            f"cluster_errors needs at least {max(MIN_ROWS, n_neighbors + 1)} rows "
            f"(n_neighbors={n_neighbors}), but p has {n}"
        )
    rng = np.random.default_rng(random_state)
    errors = p.errors
    strata = _strata(p)
    fit_idx = _fit_sample(errors, strata, max_points, rng)
    n_fit = fit_idx.size
    mcs = max(10, n_fit // 200) if min_cluster_size is None else int(min_cluster_size)
    ms = min(10, mcs) if min_samples is None else int(min_samples)
    seed = None if random_state is None else int(rng.integers(2**31 - 1))

    coords, space, raw_labels, fitted, fit_space, fit_labels = _embed_and_cluster(
        X, fit_idx, n_neighbors, cluster_dims, mcs, ms, seed
    )
    labels, order = _relabel(raw_labels, errors)
    fit_labels_new = _apply_order(fit_labels, order)

    with _phase("stability"):
        stability = _stability(fit_space, fit_labels_new, len(order), mcs, ms, n_bootstrap, rng)
    table = _cluster_table(p, labels, space, stability, n_examples, alpha)
    features = p.features
    if features is None or features.shape[1] == 0:
        _fill_embeddings_only(table)
    else:
        with _phase("rules"):
            _describe_all(table, features, labels, fit_idx, max_depth, rng)

    noise = labels < 0
    points = pd.DataFrame(
        {
            "id": p.ids,
            "x": coords[:, 0],
            "y": coords[:, 1],
            "class": p.y_true if p.is_classification else None,
            "predicted": p.y_pred,
            "error": errors,
            "cluster": labels,
            "fitted": fitted,
        }
    )
    params = {
        "representation": representation,
        "n_dims": int(X.shape[1]),
        "n": int(n),
        "n_fit": int(n_fit),
        "sampled": bool(n_fit < n),
        "errors_in_fit": int(errors[fit_idx].sum()),
        "n_neighbors": int(n_neighbors),
        "min_cluster_size": int(mcs),
        "min_samples": int(ms),
        "cluster_dims": int(min(cluster_dims, X.shape[1])),
        "cluster_space": "representation" if X.shape[1] <= cluster_dims else "umap",
        "n_bootstrap": int(n_bootstrap),
        "max_depth": int(max_depth),
        "alpha": float(alpha),
        "random_state": random_state,
        "notes": {
            "placement": "rows outside the fit sample: position = membership-weighted mean "
            "of their k nearest fitted rows; cluster = hdbscan.approximate_predict",
            "stability": "HDBSCAN re-run on bootstrap resamples of the fitted reduction "
            "(UMAP held fixed); best-match Jaccard per cluster, averaged",
            "fidelity": "F1 of the rule against cluster membership, on all rows",
        },
    }
    return ErrorClusters(
        table=table,
        points=points,
        n_noise=int(noise.sum()),
        noise_errors=int(errors[noise].sum()),
        params=params,
    )


# ---------------------------------------------------------------------- validation
def _check_options(p: Any, **opts: Any) -> None:
    if not isinstance(p, Predictions):
        raise ToolkitTypeError(f"p must be a toolkit.Predictions, got {type(p).__name__}")

    def whole(name: str, low: int, allow_none: bool = False) -> None:
        value = opts[name]
        if value is None and allow_none:
            return
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
            raise ValidationError(f"{name} must be an integer >= {low}, got {value!r}")

    whole("n_neighbors", 2)
    whole("min_cluster_size", 2, allow_none=True)
    whole("min_samples", 1, allow_none=True)
    whole("max_points", 100)
    whole("cluster_dims", 2)
    whole("n_bootstrap", 0)
    whole("max_depth", 1)
    whole("n_examples", 0)
    alpha = opts["alpha"]
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 1:
        raise ValidationError(f"alpha must be a number in (0, 1), got {alpha!r}")
    seed = opts["random_state"]
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0
    ):
        raise ValidationError(f"random_state must be None or an integer >= 0, got {seed!r}")


def _representation(p: Predictions, embeddings: Any) -> tuple[np.ndarray, str]:
    """The matrix to cluster (float32, C order) and a word on where it came from."""
    if embeddings is not None:
        return _check_embeddings(embeddings, p.n), "embeddings (given)"
    if p.embeddings is not None:
        return np.ascontiguousarray(p.embeddings, dtype=np.float32), "p.embeddings"
    features = p.features
    if features is None or features.shape[1] == 0:
        raise ValidationError(
            "cluster_errors needs a representation of each row, but p has neither "
            "embeddings nor features: pass embeddings=..., or build Predictions with "
            "embeddings= or features="
        )
    encoded, _ = _encode_features(features, for_tree=False)
    return np.ascontiguousarray(encoded, dtype=np.float32), "features (encoded)"


def _check_embeddings(embeddings: Any, n: int) -> np.ndarray:
    if isinstance(embeddings, pd.DataFrame):
        bad = [c for c in embeddings.columns if not pd.api.types.is_numeric_dtype(embeddings[c])]
        if bad:
            raise ToolkitTypeError(
                f"embeddings must be numeric, but column(s) {[str(c) for c in bad[:5]]} are not"
            )
        arr = embeddings.to_numpy(dtype=float)
    else:
        try:
            arr = np.array(embeddings, dtype=float)
        except (TypeError, ValueError) as exc:
            raise ToolkitTypeError(f"embeddings must be numeric ({exc})") from exc
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValidationError(f"embeddings must be 2-D (n_samples, n_dims), got shape {arr.shape}")
    if arr.shape[0] != n:
        raise LengthMismatchError(f"embeddings has {arr.shape[0]} rows but p has {n}")
    if arr.shape[1] == 0:
        raise ValidationError("embeddings has no columns")
    bad_rows = ~np.isfinite(arr).all(axis=1)
    if bad_rows.any():
        rows = np.flatnonzero(bad_rows)
        raise InvalidValueError(
            f"embeddings has NaN or infinite values in {rows.size} row(s): {rows[:5].tolist()}"
        )
    return np.ascontiguousarray(arr, dtype=np.float32)


# ---------------------------------------------------------------------- encoding
@dataclass(frozen=True)
class _Column:
    """What one column of an encoded feature matrix means."""

    feature: str
    kind: str  # "numeric", "missing" (indicator), "category"
    value: Any = None


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _encode_features(frame: pd.DataFrame, *, for_tree: bool) -> tuple[np.ndarray, list[_Column]]:
    """Numeric matrix of a feature table and the meaning of each column.

    Numerics: missing values set to the median, plus an indicator when any are missing;
    standardised unless ``for_tree`` (a tree's thresholds must stay in the column's units).
    Categoricals (and booleans): one column per value among the ``MAX_CATEGORIES`` most
    frequent, plus an indicator for missing.
    """
    blocks: list[np.ndarray] = []
    meaning: list[_Column] = []
    for name in frame.columns:
        series = frame[name].reset_index(drop=True)
        missing = series.isna().to_numpy()
        if _is_numeric(series):
            values = series.to_numpy(dtype=float, na_value=np.nan)
            finite = values[~missing]
            fill = float(np.median(finite)) if finite.size else 0.0
            values = np.where(missing, fill, values)
            if not for_tree:
                sd = float(values.std())
                values = (values - values.mean()) / (sd if sd > 0 else 1.0)
            blocks.append(values[:, None])
            meaning.append(_Column(str(name), "numeric"))
        else:
            counts = series[~missing].value_counts(sort=True)
            keep = list(counts.index[:MAX_CATEGORIES])
            if keep:
                # values beyond the kept ones get code -1 (pandas 4 will not allow them
                # in a Categorical, so look them up in the index instead)
                codes = pd.Index(keep).get_indexer(series)
                onehot = np.zeros((len(series), len(keep)))
                rows = np.flatnonzero(codes >= 0)
                onehot[rows, codes[rows]] = 1.0
                blocks.append(onehot)
                meaning.extend(_Column(str(name), "category", _plain(v)) for v in keep)
        if missing.any():
            blocks.append(missing.astype(float)[:, None])
            meaning.append(_Column(str(name), "missing"))
    if not blocks:
        return np.zeros((len(frame), 0)), []
    return np.hstack(blocks), meaning


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


# ---------------------------------------------------------------------- sampling
def _strata(p: Predictions) -> np.ndarray:
    """Class codes for stratified sampling (one stratum for regression)."""
    if p.is_classification:
        return p.y_true_codes()
    return np.zeros(p.n, dtype=np.int64)


def _allocate(strata: np.ndarray, rows: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` of ``rows``, stratified by ``strata`` with largest-remainder allocation."""
    if k >= rows.size:
        return rows
    groups, inverse = np.unique(strata[rows], return_inverse=True)
    sizes = np.bincount(inverse, minlength=groups.size)
    quota = sizes * k / rows.size
    take = np.floor(quota).astype(np.int64)
    short = k - int(take.sum())
    if short > 0:
        take[np.argsort(-(quota - take), kind="stable")[:short]] += 1
    chosen = [
        rng.choice(rows[inverse == g], size=int(take[g]), replace=False)
        for g in range(groups.size)
        if take[g] > 0
    ]
    return np.concatenate(chosen) if chosen else rows[:0]


def _fit_sample(
    errors: np.ndarray, strata: np.ndarray, max_points: int, rng: np.random.Generator
) -> np.ndarray:
    """Row indices to fit on: all rows, or every error (up to a cap) plus correct rows."""
    n = errors.shape[0]
    if n <= max_points:
        return np.arange(n)
    err_rows = np.flatnonzero(errors)
    ok_rows = np.flatnonzero(~errors)
    # errors get half the sample, or more when there are too few correct rows to fill it
    err_quota = max(max_points // 2, max_points - ok_rows.size)
    chosen_err = _allocate(strata, err_rows, err_quota, rng)
    chosen_ok = _allocate(strata, ok_rows, max_points - chosen_err.size, rng)
    return np.sort(np.concatenate([chosen_err, chosen_ok]))


# ---------------------------------------------------------------------- embedding
def _embed_and_cluster(
    X: np.ndarray,
    fit_idx: np.ndarray,
    n_neighbors: int,
    cluster_dims: int,
    min_cluster_size: int,
    min_samples: int,
    seed: int | None,
) -> tuple[np.ndarray, ...]:
    """2-D map and cluster space of every row, HDBSCAN labels, and the fit-sample parts."""
    with _phase("import umap, hdbscan"):
        import hdbscan
        import umap
    from sklearn.neighbors import NearestNeighbors

    n = X.shape[0]
    X_fit = X[fit_idx]
    rest = np.setdiff1d(np.arange(n), fit_idx, assume_unique=True)
    k = min(n_neighbors, fit_idx.size - 1)
    # One exact k-NN graph (self included, as UMAP expects) shared by both UMAP fits
    # and reused to place the rows outside the sample.
    nn = NearestNeighbors(n_neighbors=k).fit(X_fit)
    with _phase("k-NN graph"):
        knn_dists, knn_idx = nn.kneighbors(X_fit)
    n_jobs = 1 if seed is not None else -1

    def fit_umap(n_components: int, min_dist: float) -> np.ndarray:
        model = umap.UMAP(
            n_neighbors=k,
            n_components=n_components,
            min_dist=min_dist,
            random_state=seed,
            n_jobs=n_jobs,
            precomputed_knn=(knn_idx, knn_dists.astype(np.float32)),
        )
        with warnings.catch_warnings():
            # the graph is given without a search index: fine, we never call transform
            warnings.filterwarnings("ignore", message="precomputed_knn")
            # a graph with several components: UMAP falls back to another init itself
            warnings.filterwarnings("ignore", message="Graph is not fully connected")
            with _phase(f"UMAP to {n_components}-D"):
                return np.asarray(model.fit_transform(X_fit), dtype=np.float64)

    coords_fit = fit_umap(2, 0.1)
    if X.shape[1] <= cluster_dims:
        space_fit = X_fit.astype(np.float64)
    else:
        # min_dist=0 packs clusters tightly, the setting umap-learn advises for clustering
        space_fit = fit_umap(cluster_dims, 0.0)

    with _phase("HDBSCAN"):
        clusterer = hdbscan.HDBSCAN(
            min_cluster_size=min_cluster_size,
            min_samples=min_samples,
            prediction_data=rest.size > 0,
        ).fit(space_fit)
    fit_labels = np.asarray(clusterer.labels_, dtype=np.int64)

    coords = np.empty((n, 2))
    space = np.empty((n, space_fit.shape[1]))
    labels = np.full(n, -1, dtype=np.int64)
    coords[fit_idx], space[fit_idx], labels[fit_idx] = coords_fit, space_fit, fit_labels
    fitted = np.zeros(n, dtype=bool)
    fitted[fit_idx] = True
    if rest.size:
        with _phase("placement"):
            _place(
                X,
                rest,
                nn,
                coords,
                space,
                labels,
                coords_fit,
                space_fit,
                fit_labels,
                clusterer,
                cluster_dims,
            )
    return coords, space, labels, fitted, space_fit, fit_labels


def _place(
    X: np.ndarray,
    rest: np.ndarray,
    nn: Any,
    coords: np.ndarray,
    space: np.ndarray,
    labels: np.ndarray,
    coords_fit: np.ndarray,
    space_fit: np.ndarray,
    fit_labels: np.ndarray,
    clusterer: Any,
    cluster_dims: int,
) -> None:
    """Fill ``coords``, ``space`` and ``labels`` of the rows outside the fit sample."""
    import hdbscan

    dists, idx = nn.kneighbors(X[rest])
    weights = _membership_weights(dists)
    coords[rest] = np.einsum("ij,ijk->ik", weights, coords_fit[idx])
    if X.shape[1] <= cluster_dims:
        space[rest] = X[rest]
    else:
        space[rest] = np.einsum("ij,ijk->ik", weights, space_fit[idx])
    if fit_labels.max(initial=-1) >= 0:
        rest_labels, _ = hdbscan.approximate_predict(clusterer, space[rest])
        labels[rest] = np.asarray(rest_labels, dtype=np.int64)


def _membership_weights(dists: np.ndarray) -> np.ndarray:
    """Row-normalised weights of each row's neighbours, shaped like UMAP's memberships:
    1 for the nearest, decaying with the distance beyond it."""
    rho = dists[:, :1]
    excess = dists - rho
    scale = excess.mean(axis=1, keepdims=True)
    scale = np.where(scale > 0, scale, 1.0)
    w = np.exp(-excess / scale)
    return w / w.sum(axis=1, keepdims=True)


def _relabel(raw: np.ndarray, errors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Number clusters by errors (then size) descending; return labels and old->new map."""
    k = int(raw.max(initial=-1)) + 1
    if k == 0:
        return raw.copy(), np.zeros(0, dtype=np.int64)
    members = raw >= 0
    n_c = np.bincount(raw[members], minlength=k)
    e_c = np.bincount(raw[members], weights=errors[members].astype(float), minlength=k)
    ranked = np.lexsort((np.arange(k), -n_c, -e_c))
    order = np.empty(k, dtype=np.int64)
    order[ranked] = np.arange(k)
    return _apply_order(raw, order), order


def _apply_order(raw: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Map cluster numbers through ``order`` (old -> new), keeping -1 (noise)."""
    out = np.full(raw.shape, -1, dtype=np.int64)
    members = raw >= 0
    out[members] = order[raw[members]]
    return out


# ---------------------------------------------------------------------- stability
def _stability(
    space_fit: np.ndarray,
    labels_fit: np.ndarray,
    k: int,
    min_cluster_size: int,
    min_samples: int,
    n_bootstrap: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Mean over bootstrap re-runs of each cluster's best-match Jaccard (NaN if none).

    A bootstrap draw keeps each distinct row once (repeated identical points would
    distort HDBSCAN's densities), so HDBSCAN's sizes are scaled to the distinct share.
    Jaccard is computed over the rows of the draw.
    """
    if n_bootstrap == 0 or k == 0:
        return np.full(k, np.nan)
    import hdbscan

    m = space_fit.shape[0]
    scores = np.zeros((n_bootstrap, k))
    for b in range(n_bootstrap):
        rows = np.unique(rng.integers(0, m, m))
        share = rows.size / m
        boot = hdbscan.HDBSCAN(
            min_cluster_size=max(2, round(min_cluster_size * share)),
            min_samples=max(1, round(min_samples * share)),
        ).fit(space_fit[rows])
        scores[b] = _best_jaccard(labels_fit[rows], np.asarray(boot.labels_), k)
    return scores.mean(axis=0)


def _best_jaccard(original: np.ndarray, other: np.ndarray, k: int) -> np.ndarray:
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


# ---------------------------------------------------------------------- table
def _cluster_table(
    p: Predictions,
    labels: np.ndarray,
    space: np.ndarray,
    stability: np.ndarray,
    n_examples: int,
    alpha: float,
) -> pd.DataFrame:
    errors = p.errors
    n_all, e_all = p.n, int(errors.sum())
    k = int(labels.max(initial=-1)) + 1
    members = labels >= 0
    n_c = np.bincount(labels[members], minlength=k).astype(np.int64)
    e_c = np.bincount(labels[members], weights=errors[members], minlength=k).astype(np.int64)
    p_values = worse_than_rest_p_values(e_c, n_c, e_all, n_all)
    q_values = benjamini_hochberg(p_values)
    low, high = wilson_interval(e_c, n_c)
    overall = e_all / n_all
    examples, error_examples = [], []
    for c in range(k):
        rows = np.flatnonzero(labels == c)
        centre = space[rows].mean(axis=0)
        dist = np.linalg.norm(space[rows] - centre, axis=1)
        nearest = rows[np.argsort(dist, kind="stable")]
        examples.append([_plain(v) for v in p.ids[nearest[:n_examples]]])
        err_nearest = nearest[errors[nearest]]
        error_examples.append([_plain(v) for v in p.ids[err_nearest[:n_examples]]])
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
                "lift": (e_c / np.maximum(n_c, 1)) / overall if overall > 0 else np.nan,
                "p_value": p_values,
                "q_value": q_values,
                "significant": q_values <= alpha,
                "description": pd.Series([""] * k, dtype=object),
                "fidelity": np.full(k, np.nan),
                "rule": pd.Series([None] * k, dtype=object),
                "conditions": pd.Series([[] for _ in range(k)], dtype=object),
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


def _fill_embeddings_only(table: pd.DataFrame) -> None:
    table["description"] = EMBEDDINGS_ONLY


# ---------------------------------------------------------------------- rules
def _describe_all(
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
    design, meaning = _encode_features(features.iloc[train], for_tree=True)
    for c in table["cluster"].tolist():
        member = labels == c
        if design.shape[1] == 0:
            rule, conditions = None, []
        else:
            y = member[train]
            tree = DecisionTreeClassifier(
                max_depth=max_depth,
                class_weight="balanced",
                min_samples_leaf=max(5, int(0.01 * y.sum())),
                random_state=int(rng.integers(2**31 - 1)),
            ).fit(design, y)
            rule, conditions = _best_leaf_rule(tree, meaning, features, member)
        if rule is None:
            table.at[c, "description"] = NO_RULE
            continue
        mask = _rule_mask(features, conditions)
        hit = int((mask & member).sum())
        precision = hit / mask.sum() if mask.any() else 0.0
        recall = hit / member.sum() if member.any() else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
        table.at[c, "rule"] = rule
        table.at[c, "conditions"] = conditions
        table.at[c, "rule_precision"] = precision
        table.at[c, "rule_recall"] = recall
        table.at[c, "fidelity"] = f1
        table.at[c, "description"] = f"{rule} (precision {precision:.2f}, recall {recall:.2f})"


def _rule_mask(features: pd.DataFrame, conditions: Sequence[dict[str, Any]]) -> np.ndarray:
    mask = np.ones(len(features), dtype=bool)
    for condition in conditions:
        mask &= condition_mask(features, condition)
    return mask


def _best_leaf_rule(
    tree: Any, meaning: list[_Column], features: pd.DataFrame, member: np.ndarray
) -> tuple[str | None, list[dict[str, Any]]]:
    """The leaf path (conjunction) with the best F1 against ``member`` on all rows."""
    t = tree.tree_
    if t.node_count <= 1 or 1 not in tree.classes_:
        return None, []
    pos = int(np.flatnonzero(tree.classes_ == 1)[0])
    best: tuple[float, str | None, list[dict[str, Any]]] = (-1.0, None, [])
    n_member = int(member.sum())
    stack: list[tuple[int, list[tuple[int, bool, float]]]] = [(0, [])]
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
        rule, conditions = _path_rule(path, meaning)
        if not conditions:
            continue
        mask = _rule_mask(features, conditions)
        hit = int((mask & member).sum())
        if hit == 0:
            continue
        f1 = 2 * hit / (int(mask.sum()) + n_member)
        if f1 > best[0]:
            best = (f1, rule, conditions)
    return best[1], best[2]


def _round(value: float) -> float:
    """A threshold as displayed (6 significant digits), so the rule shown is the rule used."""
    return float(f"{value:.6g}")


def _path_rule(
    path: list[tuple[int, bool, float]], meaning: list[_Column]
) -> tuple[str, list[dict[str, Any]]]:
    """Merge a tree path into at most one condition per feature, as text and data."""
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
    labels: list[str] = []
    conditions: list[dict[str, Any]] = []
    for feature, st in per_feature.items():
        label, condition = _feature_condition(feature, st)
        if condition is not None:
            labels.append(label)
            conditions.append(condition)
    return " ∧ ".join(labels), conditions


def _feature_condition(feature: str, st: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    if st["missing"] is True:  # bounds on the imputed median add nothing for these rows
        return f"{feature} is missing", {"column": feature, "op": "is missing", "value": None}
    if st["eq"]:
        value = st["eq"][0]
        return (
            f"{feature} = {_show(value)}",
            {"column": feature, "op": "==", "value": value},
        )
    if st["ne"]:
        values = list(dict.fromkeys(st["ne"]))
        shown = (
            f"{feature} ≠ {_show(values[0])}"
            if len(values) == 1
            else f"{feature} ∉ {{{', '.join(_show(v) for v in values)}}}"
        )
        return shown, {"column": feature, "op": "not in", "value": values}
    lo, hi = st["lo"], st["hi"]
    if math.isinf(lo) and math.isinf(hi):
        if st["missing"] is False:
            return f"{feature} is not missing", {
                "column": feature,
                "op": "not missing",
                "value": None,
            }
        return "", None
    if math.isinf(lo):
        return f"{feature} ≤ {format_number(hi)}", {"column": feature, "op": "<=", "value": hi}
    if math.isinf(hi):
        return f"{feature} > {format_number(lo)}", {"column": feature, "op": ">", "value": lo}
    return (
        f"{feature} ∈ ({format_number(lo)}, {format_number(hi)}]",
        {"column": feature, "op": "in (]", "value": [lo, hi]},
    )


def _show(value: Any) -> str:
    if isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool):
        return format_number(value)
    return str(value)


# ---------------------------------------------------------------------- cross-link
def cluster_pattern_overlap(
    clusters: ErrorClusters,
    patterns: pd.DataFrame,
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
    patterns : DataFrame
        From :func:`toolkit.find_error_patterns` on ``p`` (uses ``pattern`` and
        ``conditions``).
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
        ``clusters``, ``patterns`` or ``p`` of the wrong type.
    LengthMismatchError
        ``clusters`` was computed on a different number of rows than ``p`` has.
    ColumnNotFoundError
        ``patterns`` lacks ``pattern`` or ``conditions``, or a condition names a column
        that ``p.features`` does not have.
    ValidationError
        ``p`` has no features, or an option is out of range.

    """
    columns = [
        "cluster",
        "pattern",
        "n_cluster",
        "n_pattern",
        "n_both",
        "errors_both",
        "jaccard",
    ]
    if not isinstance(clusters, ErrorClusters):
        raise ToolkitTypeError(f"clusters must be an ErrorClusters, got {type(clusters).__name__}")
    if not isinstance(p, Predictions):
        raise ToolkitTypeError(f"p must be a toolkit.Predictions, got {type(p).__name__}")
    for name, value in (("top_clusters", top_clusters), ("top_patterns", top_patterns)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValidationError(f"{name} must be an integer >= 1, got {value!r}")
    if (
        isinstance(min_jaccard, bool)
        or not isinstance(min_jaccard, int | float)
        or not 0 <= min_jaccard <= 1
    ):
        raise ValidationError(f"min_jaccard must be a number in [0, 1], got {min_jaccard!r}")
    labels = clusters.labels
    if labels.shape[0] != p.n:
        raise LengthMismatchError(
            f"clusters cover {labels.shape[0]} rows but p has {p.n}: use the same Predictions"
        )
    if patterns is None or len(patterns) == 0:
        return pd.DataFrame(columns=columns)
    if not isinstance(patterns, pd.DataFrame):
        raise ToolkitTypeError(
            f"patterns must be the DataFrame of find_error_patterns, got {type(patterns).__name__}"
        )
    missing = [c for c in ("pattern", "conditions") if c not in patterns.columns]
    if missing:
        raise ColumnNotFoundError(
            f"patterns has no column(s) {missing}: pass the table of find_error_patterns"
        )
    features = p.features
    if features is None:
        raise ValidationError(
            "p has no features, so the rows of the patterns cannot be rebuilt: "
            "pass the Predictions the patterns were found on"
        )
    errors = p.errors
    pattern_masks = []
    for name, conditions in zip(
        patterns["pattern"].head(top_patterns), patterns["conditions"].head(top_patterns)
    ):
        unknown = sorted({c["column"] for c in conditions} - set(features.columns))
        if unknown:
            raise ColumnNotFoundError(
                f"pattern {name!r} uses column(s) {unknown} that p's features do not have"
            )
        pattern_masks.append((name, _rule_mask(features, conditions)))
    rows = []
    for c in clusters.table["cluster"].head(top_clusters).tolist():
        member = labels == c
        for name, mask in pattern_masks:
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
    out = pd.DataFrame(rows, columns=columns)
    if len(out):
        out = out.sort_values(["cluster", "jaccard"], ascending=[True, False], kind="stable")
    return out.reset_index(drop=True)
