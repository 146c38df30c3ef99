"""The fit sample, the UMAP map and the HDBSCAN clusters of :func:`~toolkit.cluster_errors`.

Above ``max_points`` rows, UMAP and HDBSCAN are fitted on a sample that keeps the
errors; one exact k-nearest-neighbour graph of that sample serves both UMAP fits (the
2-D map and the space HDBSCAN clusters) and places the other rows afterwards.

umap and hdbscan are imported inside the functions that use them, so ``import
toolkit`` stays fast. umap is imported through :func:`import_umap`, which keeps
umap-learn's compiled code on disk across processes and silences tqdm's notebook
warning.

>>> import numpy as np
>>> idx = fit_sample(np.array([True, False] * 100), np.zeros(200, int), 100,
...                  np.random.default_rng(0))
>>> idx.size, int(np.array([True, False] * 100)[idx].sum())
(100, 50)
"""

from __future__ import annotations

import functools
import logging
import sys
import time
import types
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from toolkit.analysis._cluster_stats import severity_order
from toolkit.data import Predictions

__all__ = [
    "Embedding",
    "apply_order",
    "cluster_space_of",
    "embed_and_cluster",
    "fit_sample",
    "import_umap",
    "neighbour_vote",
    "phase",
    "relabel",
    "strata",
]

# one logger for the whole analysis, named after its public module (the benchmark
# reads the step timings from it)
logger = logging.getLogger("toolkit.analysis.clusters")


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Log how long a step took (DEBUG), so a slow run can be read without a profiler."""
    started = time.perf_counter()
    yield
    logger.debug("cluster_errors: %s took %.2f s", name, time.perf_counter() - started)


#: Optimisation epochs of every UMAP fit. umap-learn uses 200 above 10,000 rows and 500
#: below; the fits here are on at most ``max_points`` rows and the optimisation is nearly
#: all of their cost. On Adult (48,842 rows), 100 epochs found the same clusters as 200
#: (row Jaccard 0.95-0.98 for the five most severe, 30 vs 27 significantly worse) in 60%
#: of the time; the planted cases of the tests and of benchmarks/bench_clusters.py come out
#: the same (benchmarks/RESULTS.md, "Which levers paid").
N_EPOCHS = 100


# ---------------------------------------------------------------------- umap
#: Set by :func:`import_umap`: whether umap's fits release the GIL (so run side by side).
_UMAP_STATE = {"releases_gil": False}


@functools.cache
def import_umap() -> Any:
    """``umap``, imported once, quietly, with its compiled code kept on disk.

    umap-learn compiles its numba functions on first use in every new process (5-7 s
    on a quiet 2-core machine, about a whole warm ``cluster_errors`` on Adult): only
    ``rdist`` is declared with ``cache=True``. numba's public ``enable_caching`` turns on
    its on-disk cache for the others before their first call, so only the first process
    after installing pays (numba keys the cache on the source file and the CPU, and
    falls back to ``NUMBA_CACHE_DIR`` or the user's cache folder when site-packages is
    read-only; with no writable folder at all it compiles in memory as before). In a
    notebook, tqdm warns at ``import umap`` that ipywidgets is missing, and umap that
    TensorFlow is; toolkit uses neither, so neither warning is shown.
    """
    with warnings.catch_warnings():
        try:
            from tqdm.std import TqdmWarning

            warnings.simplefilter("ignore", TqdmWarning)
        except ImportError:  # pragma: no cover - tqdm is a dependency of umap-learn
            pass
        # umap's ParametricUMAP needs TensorFlow; toolkit does not use it
        warnings.filterwarnings("ignore", message="Tensorflow not installed")
        import umap
    _cache_compiled("umap")
    _UMAP_STATE["releases_gil"] = _release_gil(umap)
    return umap


def _release_gil(umap: Any) -> bool:
    """Compile umap-learn's optimisation step (nearly all of a fit's time) so that it
    releases the GIL, as numba does for ``nogil=True``; the same Python function, the
    same code otherwise (``fastmath``, not parallel, so a seeded fit stays exact). umap
    looks the step up in its module on every fit, so replacing it there is enough.
    False, and fits run one after the other, if umap-learn has changed."""
    import numba

    layouts = getattr(umap, "layouts", None)
    step = getattr(layouts, "_optimize_layout_euclidean_single_epoch", None)
    if step is None or not hasattr(layouts, "_nb_optimize_layout_euclidean_single_epoch"):
        return False
    # a copy under its own name: numba keys its disk cache on the function's name and
    # not on ``nogil``, so under umap's name it would load the GIL-holding build
    copy = types.FunctionType(
        step.__code__, step.__globals__, "toolkit_nogil_epoch", step.__defaults__, step.__closure__
    )
    copy.__qualname__ = "toolkit_nogil_epoch"
    try:
        step_nogil = numba.njit(copy, fastmath=True, parallel=False, nogil=True, cache=True)
    except RuntimeError:  # no folder numba may write its cache to: compile in memory
        step_nogil = numba.njit(copy, fastmath=True, parallel=False, nogil=True)
    layouts._nb_optimize_layout_euclidean_single_epoch = step_nogil
    return True


def _cache_compiled(package: str) -> int:
    """Turn on numba's on-disk cache for every not-yet-compiled function of ``package``
    (and its submodules); return how many."""
    try:
        from numba.core.dispatcher import Dispatcher
    except ImportError:  # pragma: no cover - numba is a dependency of umap-learn
        return 0
    modules = [
        m
        for name, m in list(sys.modules.items())
        if m is not None and (name == package or name.startswith(package + "."))
    ]
    enabled = 0
    for module in modules:
        for fn in list(vars(module).values()):
            if isinstance(fn, Dispatcher) and not fn.overloads:
                try:
                    fn.enable_caching()
                except RuntimeError:  # no folder numba may write to: compile as before
                    return enabled
                enabled += 1
    return enabled


# ---------------------------------------------------------------------- sampling
def strata(p: Predictions) -> np.ndarray:
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


def fit_sample(
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
@dataclass(frozen=True)
class Embedding:
    """Every row's place on the map and in the cluster space, and its HDBSCAN cluster.

    ``coords`` (n, 2), ``space`` (n, d) and ``labels`` (n,) cover all rows; ``fitted``
    marks the fit sample, whose ``space_fit`` and ``labels_fit`` the bootstrap re-uses.
    """

    coords: np.ndarray
    space: np.ndarray
    labels: np.ndarray
    fitted: np.ndarray
    space_fit: np.ndarray
    labels_fit: np.ndarray


def _knn(X: np.ndarray, k: int) -> tuple[Any, tuple[np.ndarray, np.ndarray]]:
    """scikit-learn's exact k-NN index of ``X`` and the graph of ``X`` itself (each row
    its own first neighbour, as UMAP expects)."""
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=k).fit(X)
    return nn, nn.kneighbors(X)


def cluster_space_of(
    X_fit: np.ndarray, n_neighbors: int, cluster_dims: int
) -> Callable[[list[tuple[np.ndarray, int | None]]], list[np.ndarray]]:
    """``spaces_of([(rows, seed), ...])``: for each draw, the space HDBSCAN clusters,
    built from ``X_fit[rows]`` alone as :func:`embed_and_cluster` builds it from all of
    ``X_fit`` (the stability re-runs rebuild it on each draw, with a new seed). The UMAP
    fits run side by side (see :func:`side_by_side`)."""

    def space_of(rows: np.ndarray, seed: int | None) -> np.ndarray:
        X_rows = X_fit[rows]
        if X_fit.shape[1] <= cluster_dims:
            return X_rows.astype(np.float64)
        _, knn = _knn(X_rows, min(n_neighbors, rows.size - 1))
        return _fit_umap(X_rows, knn, cluster_dims, 0.0, seed)

    def spaces_of(draws: list[tuple[np.ndarray, int | None]]) -> list[np.ndarray]:
        return side_by_side([functools.partial(space_of, rows, seed) for rows, seed in draws])

    return spaces_of


def side_by_side(jobs: list[Callable[[], np.ndarray]]) -> list[np.ndarray]:
    """Run UMAP fits in threads, two at a time, and return their results in order.

    Each fit is single-threaded (a seeded UMAP is) and, with :func:`import_umap`, its
    optimisation releases the GIL, so two fits take about the time of one on two cores.
    Every fit has its own seed and state: the results do not depend on the threads.
    umap's warnings are filtered here, once, in the calling thread (the filters are
    process-wide; ``catch_warnings`` inside threads would race).
    """
    from concurrent.futures import ThreadPoolExecutor

    with _quiet_umap():
        import_umap()
        if len(jobs) < 2 or not _UMAP_STATE["releases_gil"]:
            return [job() for job in jobs]
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="toolkit-umap") as pool:
            futures = [pool.submit(job) for job in jobs]
            return [f.result() for f in futures]


@contextmanager
def _quiet_umap() -> Iterator[None]:
    with warnings.catch_warnings():
        # the graph is given without a search index: fine, we never call transform
        warnings.filterwarnings("ignore", message="precomputed_knn")
        # a graph with several components: UMAP falls back to another init itself
        warnings.filterwarnings("ignore", message="Graph is not fully connected")
        yield


def embed_and_cluster(
    X: np.ndarray,
    fit_idx: np.ndarray,
    n_neighbors: int,
    cluster_dims: int,
    min_cluster_size: int,
    min_samples: int,
    seed: int | None,
) -> Embedding:
    """2-D map and cluster space of every row, HDBSCAN labels, and the fit-sample parts."""
    with phase("import umap, hdbscan"):
        import hdbscan

        import_umap()

    n = X.shape[0]
    X_fit = X[fit_idx]
    rest = np.setdiff1d(np.arange(n), fit_idx, assume_unique=True)
    # One exact k-NN graph shared by both UMAP fits and reused to place the rows
    # outside the sample.
    with phase("k-NN graph"):
        nn, knn = _knn(X_fit, min(n_neighbors, fit_idx.size - 1))
    jobs = [functools.partial(_fit_umap, X_fit, knn, 2, 0.1, seed)]
    if X.shape[1] > cluster_dims:
        # min_dist=0 packs clusters tightly, the setting umap-learn advises for clustering
        jobs.append(functools.partial(_fit_umap, X_fit, knn, cluster_dims, 0.0, seed))
    with phase("UMAP maps, side by side"):
        fitted_maps = side_by_side(jobs)
    coords_fit = fitted_maps[0]
    space_fit = fitted_maps[1] if len(fitted_maps) > 1 else X_fit.astype(np.float64)

    with phase("HDBSCAN"):
        clusterer = hdbscan.HDBSCAN(
            min_cluster_size=min_cluster_size,
            min_samples=min_samples,
        ).fit(space_fit)
    labels_fit = np.asarray(clusterer.labels_, dtype=np.int64)

    coords = np.empty((n, 2))
    space = np.empty((n, space_fit.shape[1]))
    labels = np.full(n, -1, dtype=np.int64)
    coords[fit_idx], space[fit_idx], labels[fit_idx] = coords_fit, space_fit, labels_fit
    fitted = np.zeros(n, dtype=bool)
    fitted[fit_idx] = True
    if rest.size:
        with phase("placement"):
            dists, idx = nn.kneighbors(X[rest])
            weights = _membership_weights(dists)
            coords[rest] = np.einsum("ij,ijk->ik", weights, coords_fit[idx])
            if X.shape[1] <= cluster_dims:
                space[rest] = X[rest]
            else:
                space[rest] = np.einsum("ij,ijk->ik", weights, space_fit[idx])
            labels[rest] = neighbour_vote(labels_fit[idx], weights)
    return Embedding(coords, space, labels, fitted, space_fit, labels_fit)


def _fit_umap(
    X_fit: np.ndarray,
    knn: tuple[np.ndarray, np.ndarray],
    n_components: int,
    min_dist: float,
    seed: int | None,
) -> np.ndarray:
    """UMAP of the fit sample from its precomputed k-NN graph ``(distances, indices)``.

    An int ``seed`` makes UMAP single-threaded (umap-learn's rule for reproducible
    results); None lets it use every core.
    """
    umap = import_umap()
    knn_dists, knn_idx = knn
    model = umap.UMAP(
        n_neighbors=knn_idx.shape[1],
        n_components=n_components,
        min_dist=min_dist,
        n_epochs=N_EPOCHS,
        random_state=seed,
        n_jobs=1 if seed is not None else -1,
        precomputed_knn=(knn_idx, knn_dists.astype(np.float32)),
    )
    with phase(f"UMAP to {n_components}-D"):
        return np.asarray(model.fit_transform(X_fit), dtype=np.float64)


def neighbour_vote(neighbour_labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Each row's label (-1, noise, included) with the largest summed weight among its
    neighbours; ties go to the smaller label. Used for the rows outside the fit sample:
    as cheap as the placement it shares neighbours with (``hdbscan.approximate_predict``
    took longer than placing the rows and clustering the sample together).

    >>> neighbour_vote(np.array([[0, 0, 1], [-1, 1, 1], [2, -1, -1]]),
    ...                np.array([[0.5, 0.2, 0.3], [0.4, 0.3, 0.3], [0.6, 0.2, 0.2]])).tolist()
    [0, 1, 2]
    """
    n, k = neighbour_labels.shape
    scores = np.zeros((n, int(neighbour_labels.max(initial=-1)) + 2))
    np.add.at(scores, (np.repeat(np.arange(n), k), neighbour_labels.ravel() + 1), weights.ravel())
    return np.argmax(scores, axis=1).astype(np.int64) - 1


def _membership_weights(dists: np.ndarray) -> np.ndarray:
    """Row-normalised weights of each row's neighbours, shaped like UMAP's memberships:
    1 for the nearest, decaying with the distance beyond it."""
    rho = dists[:, :1]
    excess = dists - rho
    scale = excess.mean(axis=1, keepdims=True)
    scale = np.where(scale > 0, scale, 1.0)
    w = np.exp(-excess / scale)
    return w / w.sum(axis=1, keepdims=True)


def relabel(raw: np.ndarray, errors: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Number clusters in the order of the table (see
    :func:`~toolkit.analysis._cluster_stats.severity_order`); return labels and the
    old->new map.

    >>> labels, order = relabel(np.array([0, 0, 1, 1, 1, -1]),
    ...                         np.array([False, False, True, True, False, True]), 0.05)
    >>> labels.tolist(), order.tolist()
    ([1, 1, 0, 0, 0, -1], [1, 0])
    """
    if int(raw.max(initial=-1)) < 0:
        return raw.copy(), np.zeros(0, dtype=np.int64)
    order = severity_order(raw, errors, alpha)
    return apply_order(raw, order), order


def apply_order(raw: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Map cluster numbers through ``order`` (old -> new), keeping -1 (noise)."""
    out = np.full(raw.shape, -1, dtype=np.int64)
    members = raw >= 0
    out[members] = order[raw[members]]
    return out
