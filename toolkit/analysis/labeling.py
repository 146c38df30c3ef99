"""What to label next (a queue over an unlabeled pool) and which labels to check again.

Every queue has the columns ``id``, ``rank`` (1 = first), ``score`` (higher = label
first, in [0, 1]) and ``reason`` (why the row was picked, in words). Ties in ``score``
are broken by ``id``, so the same inputs always give the same queue.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from toolkit.analysis.labels import _id_rank
from toolkit.data import PROBA_SUM_ATOL, Predictions
from toolkit.exceptions import (
    ColumnNotFoundError,
    DuplicateIdError,
    EmptyInputError,
    InvalidProbabilityError,
    LengthMismatchError,
    NotApplicableError,
    ToolkitTypeError,
    ValidationError,
)

__all__ = [
    "QUEUE_COLUMNS",
    "STRATEGIES",
    "LabelingPool",
    "annotation_frame",
    "labeling_queue",
    "relabel_queue",
]

QUEUE_COLUMNS = ["id", "rank", "score", "reason"]
STRATEGIES = ("margin", "least_confidence", "entropy", "error_neighbourhood", "hybrid")
#: Scores are rounded to this many decimals before ranking, so float noise is not a tie-break.
SCORE_DECIMALS = 12


@dataclass(frozen=True)
class LabelingPool:
    """A validated unlabeled pool: probabilities, optional ids, embeddings, features.

    Build it with :meth:`from_arrays` or :meth:`from_frame`; :func:`labeling_queue`
    does so itself when given arrays.

    Attributes
    ----------
    proba : ndarray of shape (n_samples, n_classes)
    classes : ndarray of shape (n_classes,)
    ids : ndarray of shape (n_samples,)
    embeddings : ndarray of shape (n_samples, n_dims) or None
    features : DataFrame of shape (n_samples, n_features) or None
    """

    proba: np.ndarray
    classes: np.ndarray
    ids: np.ndarray
    embeddings: np.ndarray | None = None
    features: pd.DataFrame | None = None

    @property
    def n(self) -> int:
        return int(self.proba.shape[0])

    @classmethod
    def from_arrays(
        cls,
        proba: Any,
        *,
        classes: Any = None,
        ids: Any = None,
        embeddings: Any = None,
        features: Any = None,
    ) -> LabelingPool:
        """Validate a pool given as arrays.

        Parameters
        ----------
        proba : array-like or DataFrame of shape (n_samples, n_classes)
            Class probabilities; each row sums to 1. A DataFrame's column names are
            the classes unless ``classes`` is given.
        classes : array-like of shape (n_classes,), default=None
            Names of the probability columns (used in ``reason``). Default: the
            DataFrame's columns, else ``0 .. n_classes - 1``.
        ids : array-like of shape (n_samples,), default=None
            Unique row ids. Default: ``0 .. n_samples - 1``.
        embeddings : array-like of shape (n_samples, n_dims), default=None
        features : DataFrame or array-like of shape (n_samples, n_features), default=None
        """
        if isinstance(proba, pd.DataFrame):
            if classes is None:
                classes = list(proba.columns)
            proba = proba.to_numpy()
        try:
            arr = np.array(proba, dtype=float)
        except (TypeError, ValueError) as exc:
            raise ToolkitTypeError(f"proba must be numeric ({exc})") from exc
        if arr.ndim != 2:
            raise InvalidProbabilityError(
                f"proba must be 2-D (n_samples, n_classes), got shape {arr.shape}"
            )
        if arr.shape[0] == 0:
            raise EmptyInputError("the pool is empty: proba has no rows")
        if arr.shape[1] < 2:
            raise InvalidProbabilityError(f"proba needs at least 2 columns, got {arr.shape[1]}")
        if not np.isfinite(arr).all():
            rows = np.flatnonzero(~np.isfinite(arr).all(axis=1))
            raise InvalidProbabilityError(
                f"proba has NaN or infinite values in {rows.size} row(s), e.g. rows "
                f"{rows[:5].tolist()}"
            )
        if (arr < -1e-6).any() or (arr > 1 + 1e-6).any():
            rows = np.flatnonzero(((arr < -1e-6) | (arr > 1 + 1e-6)).any(axis=1))
            raise InvalidProbabilityError(
                f"proba has values outside [0, 1] in {rows.size} row(s), e.g. rows "
                f"{rows[:5].tolist()}"
            )
        arr = np.clip(arr, 0.0, 1.0)
        sums = arr.sum(axis=1)
        off = np.flatnonzero(np.abs(sums - 1.0) > PROBA_SUM_ATOL)
        if off.size:
            raise InvalidProbabilityError(
                f"proba rows must sum to 1 (tolerance {PROBA_SUM_ATOL:g}), but {off.size} "
                f"row(s) do not: rows {off[:5].tolist()} sum to "
                f"{np.round(sums[off[:5]], 6).tolist()}"
            )
        n, k = arr.shape
        classes_arr = np.arange(k) if classes is None else np.asarray(list(classes), dtype=object)
        if classes_arr.shape[0] != k:
            raise InvalidProbabilityError(
                f"proba has {k} columns but {classes_arr.shape[0]} classes were given: "
                f"{list(classes_arr)[:10]}"
            )
        if ids is None:
            ids_arr = np.arange(n)
        else:
            ids_arr = np.asarray(ids.to_numpy() if isinstance(ids, pd.Series) else ids)
            if ids_arr.ndim != 1 or ids_arr.shape[0] != n:
                raise LengthMismatchError(f"ids has shape {ids_arr.shape} but proba has {n} rows")
            if ids_arr.dtype.kind in "US":
                ids_arr = ids_arr.astype(object)
            if pd.isna(ids_arr).any():
                raise ValidationError("ids has missing values")
            dup = pd.Series(ids_arr).duplicated(keep=False).to_numpy()
            if dup.any():
                shown = pd.unique(ids_arr[dup])[:5].tolist()
                raise DuplicateIdError(f"ids must be unique, but these repeat: {shown}")
        emb = None
        if embeddings is not None:
            try:
                emb = np.array(embeddings, dtype=float)
            except (TypeError, ValueError) as exc:
                raise ToolkitTypeError(f"embeddings must be numeric ({exc})") from exc
            if emb.ndim != 2 or emb.shape[0] != n:
                raise LengthMismatchError(
                    f"embeddings must have shape ({n}, n_dims), got {emb.shape}"
                )
            if not np.isfinite(emb).all():
                raise ValidationError("embeddings has NaN or infinite values")
        feats = None
        if features is not None:
            feats = (
                features.reset_index(drop=True).copy()
                if isinstance(features, pd.DataFrame)
                else pd.DataFrame(np.asarray(features)).rename(columns=lambda j: f"x{j}")
            )
            if len(feats) != n:
                raise LengthMismatchError(f"features has {len(feats)} rows but proba has {n}")
            feats.columns = [str(c) for c in feats.columns]
        for a in (arr, classes_arr, ids_arr, emb):
            if a is not None:
                a.setflags(write=False)
        return cls(arr, classes_arr, ids_arr, emb, feats)

    @classmethod
    def from_predictions(cls, p: Predictions) -> LabelingPool:
        """The pool of a :class:`~toolkit.Predictions` (its labels are ignored)."""
        if not p.is_classification or p.proba is None:
            raise NotApplicableError("a labeling queue needs class probabilities")
        return cls.from_arrays(
            p.proba, classes=p.classes, ids=p.ids, embeddings=p.embeddings, features=p.features
        )

    @classmethod
    def from_frame(
        cls,
        df: pd.DataFrame,
        *,
        proba: str | Sequence[str] = "p_*",
        id: str | None = None,
        embeddings: str | Sequence[str] | None = None,
        features: Sequence[str] | None = None,
    ) -> LabelingPool:
        """A pool from one table (e.g. the CSV behind ``toolkit label-queue``).

        ``proba`` is a glob (the class is the column name after the prefix before
        ``*``, so ``p_>50K`` holds the probability of ``">50K"``) or a list of columns.
        ``embeddings`` is a glob or a list; ``features`` a list of columns.
        """
        if not isinstance(df, pd.DataFrame):
            raise ToolkitTypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
        columns = [str(c) for c in df.columns]
        df = df.rename(columns=str)
        proba_cols = _columns(columns, proba, "proba")
        if isinstance(proba, str) and "*" in proba:
            prefix = proba.split("*")[0]
            classes = [c[len(prefix) :] for c in proba_cols]
        else:
            classes = proba_cols
        ids = None
        if id is not None:
            if id not in columns:
                raise ColumnNotFoundError(f"id column {id!r} not found; the table has {columns}")
            ids = df[id]
        emb = None if embeddings is None else df[_columns(columns, embeddings, "embeddings")]
        feats = None if features is None else df[_columns(columns, list(features), "features")]
        return cls.from_arrays(
            df[proba_cols].to_numpy(dtype=float),
            classes=classes,
            ids=ids,
            embeddings=None if emb is None else emb.to_numpy(dtype=float),
            features=feats,
        )


def _columns(columns: list[str], spec: str | Sequence[str], role: str) -> list[str]:
    if isinstance(spec, str):
        found = [c for c in columns if fnmatch.fnmatchcase(c, spec)]
        if not found:
            raise ColumnNotFoundError(f"no {role} columns match {spec!r}; the table has {columns}")
        return found
    missing = [c for c in spec if c not in columns]
    if missing:
        raise ColumnNotFoundError(f"{role} column(s) {missing} not found; the table has {columns}")
    return list(spec)


def _as_pool(pool: Any, *, embeddings: Any = None, **arrays: Any) -> LabelingPool:
    given = {k: v for k, v in arrays.items() if v is not None}
    if isinstance(pool, LabelingPool | Predictions):
        if given:
            raise ValidationError(
                f"{sorted(given)} can only be given with a probability array as pool; "
                f"the {type(pool).__name__} already holds them"
            )
        data = pool if isinstance(pool, LabelingPool) else LabelingPool.from_predictions(pool)
        if embeddings is None:
            return data
        # embeddings given next to a pool replace the pool's own (or add them)
        return LabelingPool.from_arrays(
            data.proba,
            classes=data.classes,
            ids=data.ids,
            embeddings=embeddings,
            features=data.features,
        )
    return LabelingPool.from_arrays(pool, embeddings=embeddings, **arrays)


def labeling_queue(
    pool: Any,
    *,
    budget: int = 100,
    strategy: str = "margin",
    labeled: Predictions | None = None,
    classes: Any = None,
    ids: Any = None,
    embeddings: Any = None,
    features: Any = None,
    n_neighbors: int = 10,
    n_clusters: int | None = None,
    random_state: int | None = 0,
) -> pd.DataFrame:
    """Rank an unlabeled pool: which ``budget`` examples to label next.

    Parameters
    ----------
    pool : Predictions, LabelingPool, or array-like / DataFrame of shape (n_samples, n_classes)
        The unlabeled rows. A :class:`~toolkit.Predictions` is used without its labels.
        Probabilities given as an array come with the optional ``classes``, ``ids``,
        ``embeddings`` and ``features`` below (see :meth:`LabelingPool.from_arrays`).
    budget : int, default=100
        How many rows to return (fewer when the pool is smaller).
    strategy : str, default="margin"
        - ``"margin"``: smallest gap between the two most likely classes first
          (score ``1 - margin``).
        - ``"least_confidence"``: lowest top probability first (score ``1 - p_max``).
        - ``"entropy"``: highest entropy first (score ``entropy / log(n_classes)``).
        - ``"error_neighbourhood"``: share of the ``n_neighbors`` nearest labeled rows
          that the model got wrong (needs ``labeled``).
        - ``"hybrid"``: score = mean of the margin and error-neighbourhood scores; the
          batch is taken round-robin across ``n_clusters`` KMeans clusters of the pool
          (the best row of every cluster, clusters in order of their best row, then
          the second best, ...) so it is not one confusion repeated (needs
          ``labeled``). Its ``rank`` is this round-robin order, not ``score`` order.
    labeled : Predictions, default=None
        Labeled rows with the model's predictions, in the same representation as the
        pool: ``embeddings`` when the pool has embeddings, else the same numeric
        ``features`` columns (standardised with the labeled rows' mean and spread).
    classes, ids, features : default=None
        Only with an array ``pool``; see :meth:`LabelingPool.from_arrays`.
    embeddings : array-like of shape (n_samples, n_dims), default=None
        The pool's representation for neighbours and clusters; given next to a
        Predictions or LabelingPool it replaces (or adds) the pool's embeddings.
    n_neighbors : int, default=10
        Labeled neighbours looked at per pool row.
    n_clusters : int, default=None
        Hybrid only. Default: ``min(budget, max(2, 2 * n_classes))``.
    random_state : int or None, default=0
        Seed of the KMeans clustering (hybrid).

    Returns
    -------
    DataFrame
        ``id``, ``rank`` (1 = label first), ``score`` in [0, 1], ``reason``;
        ``min(budget, n_samples)`` rows with unique ids.

    Examples
    --------
    >>> q = labeling_queue([[0.9, 0.1], [0.55, 0.45], [0.3, 0.7]], budget=2,
    ...                    classes=["cat", "dog"])
    >>> q["id"].tolist()
    [1, 2]
    >>> q["reason"][0]
    "margin 0.10 between 'cat' and 'dog'"
    """
    if strategy not in STRATEGIES:
        raise ValidationError(f"strategy must be one of {list(STRATEGIES)}, got {strategy!r}")
    if not isinstance(budget, int | np.integer) or isinstance(budget, bool) or budget < 1:
        raise ValidationError(f"budget must be an integer >= 1, got {budget!r}")
    if (
        not isinstance(n_neighbors, int | np.integer)
        or isinstance(n_neighbors, bool)
        or n_neighbors < 1
    ):
        raise ValidationError(f"n_neighbors must be an integer >= 1, got {n_neighbors!r}")
    data = _as_pool(pool, classes=classes, ids=ids, embeddings=embeddings, features=features)
    k = min(int(budget), data.n)
    proba = data.proba
    order_cls = np.argsort(-proba, axis=1, kind="stable")
    top = np.take_along_axis(proba, order_cls[:, :2], axis=1)
    margin = top[:, 0] - top[:, 1]
    names = [repr(_plain(c)) for c in data.classes]
    margin_text = [
        f"margin {m:.2f} between {names[a]} and {names[b]}"
        for m, a, b in zip(margin, order_cls[:, 0], order_cls[:, 1])
    ]

    if strategy == "margin":
        return _finish(data.ids, 1.0 - margin, margin_text, k)
    if strategy == "least_confidence":
        reasons = [
            f"top class {names[a]} has probability {p:.2f}"
            for a, p in zip(order_cls[:, 0], top[:, 0])
        ]
        return _finish(data.ids, 1.0 - top[:, 0], reasons, k)
    if strategy == "entropy":
        with np.errstate(divide="ignore", invalid="ignore"):
            ent = -np.where(proba > 0, proba * np.log(proba), 0.0).sum(axis=1)
        score = ent / np.log(proba.shape[1])
        reasons = [
            f"entropy {s:.2f} of the maximum (top {names[a]} {p:.2f})"
            for s, a, p in zip(score, order_cls[:, 0], top[:, 0])
        ]
        return _finish(data.ids, score, reasons, k)

    if labeled is None:
        raise ValidationError(
            f"strategy {strategy!r} needs labeled=Predictions(...) with the model's predictions "
            "on labeled rows, in the same representation (embeddings or features) as the pool"
        )
    pool_x, labeled_x = _representation(data, labeled)
    wrong, m = _neighbour_errors(pool_x, labeled_x, labeled.errors, n_neighbors)
    neighbour_share = wrong / m
    neighbour_text = [f"{w} of {m} labeled neighbours misclassified" for w in wrong]
    if strategy == "error_neighbourhood":
        return _finish(data.ids, neighbour_share, neighbour_text, k)

    score = 0.5 * (1.0 - margin) + 0.5 * neighbour_share
    n_clust = n_clusters if n_clusters is not None else min(k, max(2, 2 * len(data.classes)))
    if not isinstance(n_clust, int | np.integer) or isinstance(n_clust, bool) or n_clust < 1:
        raise ValidationError(f"n_clusters must be an integer >= 1, got {n_clusters!r}")
    n_clust = min(int(n_clust), data.n)
    from sklearn.cluster import KMeans

    cluster = KMeans(n_clusters=n_clust, n_init=3, random_state=random_state).fit_predict(pool_x)
    reasons = [
        f"{a}; {b}; cluster {c + 1} of {n_clust}"
        for a, b, c in zip(margin_text, neighbour_text, cluster)
    ]
    score = np.round(np.clip(score, 0.0, 1.0), SCORE_DECIMALS)
    ranked = np.lexsort((_id_rank(data.ids), -score))
    # round-robin: the best row of each cluster, clusters ordered by their best row, and again
    position_in_cluster = np.empty(data.n, dtype=np.int64)
    for c in range(n_clust):
        members = ranked[cluster[ranked] == c]
        position_in_cluster[members] = np.arange(members.size)
    # ranked order breaks ties within a round; rows of a round come before the next round
    ranked_position = np.empty(data.n, dtype=np.int64)
    ranked_position[ranked] = np.arange(data.n)
    picked = np.lexsort((ranked_position, position_in_cluster))[:k]
    return _frame(data.ids[picked], score[picked], [reasons[i] for i in picked])


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _finish(ids: np.ndarray, score: np.ndarray, reasons: list[str], k: int) -> pd.DataFrame:
    score = np.round(np.clip(score, 0.0, 1.0), SCORE_DECIMALS)
    picked = np.lexsort((_id_rank(ids), -score))[:k]
    return _frame(ids[picked], score[picked], [reasons[i] for i in picked])


def _frame(ids: np.ndarray, score: np.ndarray, reasons: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ids,
            "rank": np.arange(1, len(ids) + 1),
            "score": score.astype(float),
            "reason": pd.Series(reasons, dtype=object),
        }
    )


def _representation(pool: LabelingPool, labeled: Predictions) -> tuple[np.ndarray, np.ndarray]:
    """The pool and labeled rows as two numeric matrices with the same columns."""
    if not isinstance(labeled, Predictions):
        raise ToolkitTypeError(f"labeled must be a Predictions, got {type(labeled).__name__}")
    if pool.embeddings is not None:
        if labeled.embeddings is None:
            raise ValidationError(
                "the pool has embeddings but labeled has none; give both the same embeddings"
            )
        if labeled.embeddings.shape[1] != pool.embeddings.shape[1]:
            raise ValidationError(
                f"the pool's embeddings have {pool.embeddings.shape[1]} dimensions but "
                f"labeled's have {labeled.embeddings.shape[1]}"
            )
        return pool.embeddings, labeled.embeddings
    if pool.features is None:
        raise ValidationError(
            "error-neighbourhood strategies need embeddings or numeric features on the pool "
            "(and the same on labeled)"
        )
    lab = labeled.features
    if lab is None:
        raise ValidationError("the pool has features but labeled has none")
    missing = [c for c in pool.features.columns if c not in lab.columns]
    if missing:
        raise ColumnNotFoundError(f"labeled has no feature column(s) {missing}")
    cols = list(pool.features.columns)
    non_numeric = [
        c
        for c in cols
        if not pd.api.types.is_numeric_dtype(pool.features[c])
        or not pd.api.types.is_numeric_dtype(lab[c])
    ]
    if non_numeric:
        raise ToolkitTypeError(
            f"neighbours are found on numeric features; {non_numeric} are not numeric "
            "(give embeddings instead)"
        )
    a = pool.features[cols].to_numpy(dtype=float, na_value=np.nan)
    b = lab[cols].to_numpy(dtype=float, na_value=np.nan)
    if np.isnan(a).any() or np.isnan(b).any():
        raise ValidationError("features have missing values; neighbours need complete rows")
    mean, std = b.mean(axis=0), b.std(axis=0)
    std[std == 0] = 1.0
    return (a - mean) / std, (b - mean) / std


def _neighbour_errors(
    pool_x: np.ndarray, labeled_x: np.ndarray, errors: np.ndarray, n_neighbors: int
) -> tuple[np.ndarray, int]:
    from sklearn.neighbors import NearestNeighbors

    m = min(int(n_neighbors), labeled_x.shape[0])
    nn = NearestNeighbors(n_neighbors=m).fit(labeled_x)
    _, idx = nn.kneighbors(pool_x)
    return errors[idx].sum(axis=1).astype(np.int64), m


def relabel_queue(issues: pd.DataFrame, *, budget: int = 100) -> pd.DataFrame:
    """Flagged label issues, worst first, for a second look (same columns as the queue).

    Parameters
    ----------
    issues : DataFrame
        The table of :func:`~toolkit.find_label_issues` (``id``, ``given_label``,
        ``suggested_label``, ``label_quality``, ``is_issue``).
    budget : int, default=100
        At most this many rows; only rows with ``is_issue`` are queued.

    Returns
    -------
    DataFrame
        ``id``, ``rank``, ``score`` (``1 - label_quality``), ``reason``.
    """
    if not isinstance(issues, pd.DataFrame):
        raise ToolkitTypeError(f"issues must be a DataFrame, got {type(issues).__name__}")
    needed = ["id", "given_label", "suggested_label", "label_quality", "is_issue"]
    missing = [c for c in needed if c not in issues.columns]
    if missing:
        raise ColumnNotFoundError(
            f"issues lacks column(s) {missing} (expected the find_label_issues table)"
        )
    if not isinstance(budget, int | np.integer) or isinstance(budget, bool) or budget < 1:
        raise ValidationError(f"budget must be an integer >= 1, got {budget!r}")
    flagged = issues[issues["is_issue"].astype(bool).to_numpy()]
    ids = flagged["id"].to_numpy()
    quality = flagged["label_quality"].to_numpy(dtype=float)
    reasons = [
        f"given {_plain(g)!r} but the model believes {_plain(s)!r} (label quality {q:.2f})"
        if _plain(g) != _plain(s)
        else f"given {_plain(g)!r}, which the model doubts (label quality {q:.2f})"
        for g, s, q in zip(flagged["given_label"], flagged["suggested_label"], quality)
    ]
    return _finish(ids, 1.0 - quality, reasons, min(int(budget), len(flagged)))


def annotation_frame(
    queue: pd.DataFrame,
    rows: pd.DataFrame,
    *,
    id: str | None = None,
    columns: Sequence[str] | None = None,
    label_column: str = "label",
) -> pd.DataFrame:
    """The table an annotator opens: the queue in rank order, each row's data, a blank label.

    Parameters
    ----------
    queue : DataFrame
        A :func:`labeling_queue` or :func:`relabel_queue` result (``id``, ``rank``,
        ``score``, ``reason``).
    rows : DataFrame
        The table the pool was built from (e.g. by :meth:`LabelingPool.from_frame`).
    id : str or None, default=None
        The id column of ``rows``; None means the queue's ids are row positions
        (the default ids of :meth:`LabelingPool.from_frame`).
    columns : sequence of str or None, default=None
        Columns of ``rows`` to show; default all of them. A column named like a queue
        column is shown as ``row_<name>``.
    label_column : str, default="label"
        Name of the empty column the annotator fills in.

    Returns
    -------
    DataFrame
        ``rank``, ``id``, ``score``, ``reason``, the chosen columns of ``rows``, and
        ``label_column`` (empty strings), one row per queue row in rank order.
    """
    if not isinstance(queue, pd.DataFrame) or not isinstance(rows, pd.DataFrame):
        raise ToolkitTypeError(
            f"queue and rows must be DataFrames, got {type(queue).__name__} and "
            f"{type(rows).__name__}"
        )
    missing = [c for c in QUEUE_COLUMNS if c not in queue.columns]
    if missing:
        raise ColumnNotFoundError(
            f"queue lacks column(s) {missing} (expected a labeling_queue table)"
        )
    names = [str(c) for c in rows.columns]
    rows = rows.rename(columns=str).reset_index(drop=True)
    shown = names if columns is None else _columns(names, list(columns), "shown")
    if label_column in names:
        raise ValidationError(
            f"rows already has a column {label_column!r}; pick another label_column"
        )
    if id is None:
        key = pd.Index(np.arange(len(rows)))
    else:
        if id not in names:
            raise ColumnNotFoundError(f"id column {id!r} not found; the table has {names}")
        key = pd.Index(rows[id].to_numpy())
        if key.has_duplicates:
            raise DuplicateIdError(
                f"rows has repeated ids in {id!r}: {key[key.duplicated()][:5].tolist()}"
            )
        shown = [c for c in shown if c != id]
    queue = queue.sort_values("rank", kind="stable").reset_index(drop=True)
    position = key.get_indexer(queue["id"].to_numpy())
    if (position < 0).any():
        absent = queue["id"].to_numpy()[position < 0][:5].tolist()
        raise ValidationError(f"queue ids {absent} are not in rows")
    picked = rows.iloc[position][shown].reset_index(drop=True)
    picked = picked.rename(columns={c: f"row_{c}" for c in shown if c in QUEUE_COLUMNS})
    out = pd.concat([queue[["rank", "id", "score", "reason"]], picked], axis=1)
    out[label_column] = ""
    return out
