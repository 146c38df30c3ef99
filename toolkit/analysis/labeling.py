"""What to label next (a queue over an unlabeled pool) and which labels to check again.

Every queue is a :class:`LabelingQueue` whose table has the columns ``id``, ``rank``
(1 = first), ``score`` (higher = label first, in [0, 1]) and ``reason`` (why the row was
picked, in words). Ties in ``score`` are broken by ``id``, so the same inputs always
give the same queue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd

from toolkit._checks import (
    check_embeddings,
    check_features,
    check_ids,
    check_probabilities,
    glob_suffixes,
    numeric_matrix,
    preview,
    resolve_columns,
)
from toolkit._json import to_python
from toolkit._result import Result
from toolkit._validation import (
    ARRAY_LIKE,
    RANDOM_STATE,
    STR_LIST,
    Interval,
    Options,
    validate_params,
)
from toolkit.analysis._label_strategies import (
    QUEUE_COLUMNS,
    UNCERTAINTY,
    class_names,
    hybrid_order,
    neighbour_errors,
    representation,
    threshold_margin,
    top_k,
)
from toolkit.analysis.labels import ISSUE_COLUMNS, LabelIssues
from toolkit.data import Predictions
from toolkit.exceptions import (
    ColumnNotFoundError,
    DuplicateIdError,
    EmptyInputError,
    InvalidProbabilityError,
    LengthMismatchError,
    NotApplicableError,
    ValidationError,
)

__all__ = [
    "QUEUE_COLUMNS",
    "STRATEGIES",
    "THRESHOLD_STRATEGIES",
    "LabelingPool",
    "LabelingQueue",
    "annotation_frame",
    "labeling_queue",
    "relabel_queue",
]

STRATEGIES = ("margin", "least_confidence", "entropy", "error_neighbourhood", "hybrid")
#: The strategies that rank by the distance to the decision boundary (``threshold=``).
THRESHOLD_STRATEGIES = ("margin", "hybrid")
_POSITIVE = Interval(Integral, 1, None)


@dataclass(frozen=True, repr=False, eq=False)  # Result's repr and identity equality
class LabelingQueue(Result):
    """Result of :func:`labeling_queue` and :func:`relabel_queue`: rows in labeling order.

    Attributes
    ----------
    table : DataFrame
        ``id``, ``rank`` (1 = label first), ``score`` in [0, 1], ``reason``.
    strategy : str
        How the rows were scored (``"relabel"`` for :func:`relabel_queue`).
    budget : int
        The number of rows asked for; the table has fewer when the pool is smaller.
    pool_size : int
        Rows the queue was chosen from (for ``"relabel"``: the flagged label issues).
    n_neighbors : int or None
        Labeled neighbours looked at per pool row (error-neighbourhood strategies).
    n_clusters : int or None
        KMeans clusters the batch was spread over (``"hybrid"``).
    threshold : float or None
        The decision threshold on the positive-class probability that the margin was
        measured to (None: the two most likely classes, i.e. 0.5 for a binary pool).
    """

    strategy: str
    budget: int
    pool_size: int
    n_neighbors: int | None = None
    n_clusters: int | None = None
    threshold: float | None = None


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
    @validate_params(
        {
            "proba": [ARRAY_LIKE],
            "classes": [ARRAY_LIKE, None],
            "ids": [ARRAY_LIKE, None],
            "embeddings": [ARRAY_LIKE, None],
            "features": [ARRAY_LIKE, None],
        }
    )
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

        Examples
        --------
        >>> pool = LabelingPool.from_arrays([[0.9, 0.1], [0.4, 0.6]], ids=["a", "b"])
        >>> pool.n, pool.classes.tolist()
        (2, [0, 1])
        """
        if isinstance(proba, pd.DataFrame) and classes is None:
            classes = list(proba.columns)
        arr, _ = numeric_matrix(proba, "proba")
        if arr.ndim != 2:
            raise InvalidProbabilityError(
                f"proba must be 2-D (n_samples, n_classes), got shape {arr.shape}"
            )
        n, k = arr.shape
        if n == 0:
            raise EmptyInputError("the pool is empty: proba has no rows")
        if k < 2:
            raise InvalidProbabilityError(f"proba needs at least 2 columns, got {k}")
        arr = check_probabilities(arr, "proba")
        classes_arr = np.arange(k) if classes is None else np.asarray(list(classes), dtype=object)
        if classes_arr.shape[0] != k:
            raise InvalidProbabilityError(
                f"proba has {k} columns but {classes_arr.shape[0]} classes were given: "
                f"{preview(classes_arr, 10)}"
            )
        for name, values in (("ids", ids), ("embeddings", embeddings), ("features", features)):
            if values is not None and getattr(values, "ndim", 1) > 0 and len(values) != n:
                raise LengthMismatchError(f"{name} has {len(values)} rows but proba has {n}")
        ids_arr = check_ids(ids, n)
        emb = check_embeddings(embeddings, n)
        feats = check_features(features, n)
        for a in (arr, classes_arr, ids_arr, emb):
            if a is not None:
                a.setflags(write=False)
        return cls(arr, classes_arr, ids_arr, emb, feats)

    @classmethod
    @validate_params({"p": [Predictions]})
    def from_predictions(cls, p: Predictions) -> LabelingPool:
        """The pool of a :class:`~toolkit.Predictions` (its labels are ignored)."""
        if not p.is_classification or p.proba is None:
            raise NotApplicableError("a labeling queue needs class probabilities")
        return cls.from_arrays(
            p.proba, classes=p.classes, ids=p.ids, embeddings=p.embeddings, features=p.features
        )

    @classmethod
    @validate_params(
        {
            "df": [pd.DataFrame],
            "proba": [str, STR_LIST],
            "id": [str, None],
            "embeddings": [str, STR_LIST, None],
            "features": [STR_LIST, None],
        }
    )
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
        ``embeddings`` is a glob or a list; ``features`` a list of columns (None or
        ``[]`` for none).

        Examples
        --------
        >>> import pandas as pd
        >>> df = pd.DataFrame({"key": ["u", "v"], "p_no": [0.8, 0.3], "p_yes": [0.2, 0.7]})
        >>> pool = LabelingPool.from_frame(df, id="key")
        >>> pool.classes.tolist(), pool.ids.tolist()
        (['no', 'yes'], ['u', 'v'])
        """
        df = df.rename(columns=str)
        proba_cols = resolve_columns(df.columns, proba, "proba")
        classes = glob_suffixes(proba_cols, proba)
        if id is not None and id not in df.columns:
            raise ColumnNotFoundError(
                f"id column {id!r} not found; the table has {preview(df.columns, 12)}"
            )
        emb_cols = (
            None if embeddings is None else resolve_columns(df.columns, embeddings, "embeddings")
        )
        feat_cols = resolve_columns(df.columns, features, "features") if features else None
        return cls.from_arrays(
            df[proba_cols],
            classes=classes,
            ids=None if id is None else df[id],
            embeddings=None if emb_cols is None else df[emb_cols],
            features=None if feat_cols is None else df[feat_cols],
        )


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


@validate_params(
    {
        "pool": [Predictions, LabelingPool, ARRAY_LIKE],
        "budget": [_POSITIVE],
        "strategy": [Options(STRATEGIES)],
        "labeled": [Predictions, None],
        "classes": [ARRAY_LIKE, None],
        "ids": [ARRAY_LIKE, None],
        "embeddings": [ARRAY_LIKE, None],
        "features": [ARRAY_LIKE, None],
        "n_neighbors": [_POSITIVE],
        "n_clusters": [_POSITIVE, None],
        "threshold": [Interval(Real, 0, 1), None],
        "random_state": [RANDOM_STATE, None],
    }
)
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
    threshold: float | None = None,
    random_state: int | None = 0,
) -> LabelingQueue:
    """Rank an unlabeled pool: which ``budget`` examples to label next.

    Parameters
    ----------
    pool : Predictions, LabelingPool, or array-like / DataFrame of shape (n_samples, n_classes)
        The unlabeled rows (a Predictions is used without its labels). Probabilities
        given as an array come with the optional ``classes``, ``ids``, ``embeddings``
        and ``features`` (see :meth:`LabelingPool.from_arrays`).
    budget : int, default=100
        How many rows to return (fewer when the pool is smaller).
    strategy : str, default="margin"
        - ``"margin"``: smallest gap between the two most likely classes first
          (score ``1 - margin``); ``"least_confidence"``: score ``1 - p_max``;
          ``"entropy"``: score ``entropy / log(n_classes)``.
        - ``"error_neighbourhood"``: share of the ``n_neighbors`` nearest labeled rows
          that the model got wrong (needs ``labeled``).
        - ``"hybrid"``: mean of the margin and error-neighbourhood scores, the batch
          taken round-robin across ``n_clusters`` KMeans clusters of the pool (the best
          row of every cluster, then the second best, ...) so it is not one confusion
          repeated (needs ``labeled``); ``rank`` is this order, not ``score`` order.
    labeled : Predictions, default=None
        Labeled rows with the model's predictions, in the pool's representation:
        ``embeddings`` when the pool has them, else the same numeric ``features``
        columns (standardised with the labeled rows' mean and spread).
    classes, ids, features : default=None
        Only with an array ``pool``; see :meth:`LabelingPool.from_arrays`.
    embeddings : array-like of shape (n_samples, n_dims), default=None
        The pool's representation for neighbours and clusters; next to a Predictions
        or LabelingPool it replaces (or adds) the pool's embeddings.
    n_neighbors : int, default=10
        Labeled neighbours looked at per pool row.
    n_clusters : int, default=None
        Hybrid only. Default: ``min(budget, max(2, 2 * n_classes))``.
    threshold : float in [0, 1], default=None
        Binary pools, ``"margin"`` and ``"hybrid"``: the decision threshold on the
        positive-class probability (the second column); rows nearest it come first,
        score ``1 - |p - threshold| / max(threshold, 1 - threshold)``. None ranks by
        the margin between the two most likely classes (the same order as 0.5).
    random_state : int or None, default=0
        Seed of the KMeans clustering (hybrid).

    Returns
    -------
    LabelingQueue
        ``.table`` has ``id``, ``rank`` (1 = label first), ``score`` in [0, 1] and
        ``reason``, ``min(budget, n_samples)`` rows with unique ids.

    Examples
    --------
    >>> q = labeling_queue([[0.9, 0.1], [0.55, 0.45], [0.3, 0.7]], budget=2,
    ...                    classes=["cat", "dog"])
    >>> q
    LabelingQueue(2 rows, strategy='margin', budget=2, pool_size=3, n_neighbors=None, \
n_clusters=None, threshold=None)
    >>> q.table["id"].tolist()
    [1, 2]
    >>> q.table["reason"][0]
    "margin 0.10 between 'cat' and 'dog'"

    With the decision threshold at 0.3, the row whose 'dog' probability is 0.31 is
    nearest it:

    >>> labeling_queue([[0.9, 0.1], [0.5, 0.5], [0.69, 0.31]], budget=1,
    ...                classes=["cat", "dog"], threshold=0.3).table["reason"][0]
    "p('dog') = 0.31, 0.01 from the threshold 0.3"
    """
    data = _as_pool(pool, classes=classes, ids=ids, embeddings=embeddings, features=features)
    _check_threshold(threshold, strategy, data)
    k = min(int(budget), data.n)
    made = {"strategy": strategy, "budget": int(budget), "pool_size": data.n}
    if threshold is not None:
        made["threshold"] = float(threshold)
    if strategy in UNCERTAINTY:
        score, reasons = _uncertainty(strategy, data, threshold)
        return LabelingQueue(top_k(data.ids, score, reasons, k), **made)
    if labeled is None:
        raise ValidationError(
            f"strategy {strategy!r} needs labeled=Predictions(...) with the model's predictions "
            "on labeled rows, in the same representation (embeddings or features) as the pool"
        )
    return _neighbour_queue(
        data, labeled, k, n_neighbors, n_clusters, random_state, made, threshold
    )


def _check_threshold(threshold: float | None, strategy: str, data: LabelingPool) -> None:
    if threshold is None:
        return
    if strategy not in THRESHOLD_STRATEGIES:
        raise ValidationError(
            f"threshold applies to the strategies {list(THRESHOLD_STRATEGIES)} (nearest the "
            f"decision threshold first); strategy {strategy!r} does not use it"
        )
    if len(data.classes) != 2:
        raise ValidationError(
            f"threshold needs a binary pool (2 probability columns); this one has "
            f"{len(data.classes)} classes {preview(data.classes, 10)}"
        )


def _uncertainty(strategy: str, data: LabelingPool, threshold: float | None) -> Any:
    names = class_names(data.classes)
    if threshold is not None:  # only margin and hybrid take one (checked above)
        return threshold_margin(data.proba, names, float(threshold))
    return UNCERTAINTY[strategy](data.proba, names)


def _neighbour_queue(
    data: LabelingPool,
    labeled: Predictions,
    k: int,
    n_neighbors: int,
    n_clusters: int | None,
    random_state: int | None,
    made: dict[str, Any],
    threshold: float | None = None,
) -> LabelingQueue:
    """The ``error_neighbourhood`` and ``hybrid`` queues (``made["strategy"]``)."""
    pool_x, labeled_x = representation(data.embeddings, data.features, labeled)
    wrong, m = neighbour_errors(pool_x, labeled_x, labeled.errors, n_neighbors)
    share = wrong / m
    neighbour_text = [f"{w} of {m} labeled neighbours misclassified" for w in wrong]
    if made["strategy"] == "error_neighbourhood":
        return LabelingQueue(top_k(data.ids, share, neighbour_text, k), **made, n_neighbors=m)
    margin_score, margin_text = _uncertainty("margin", data, threshold)
    n_clust = n_clusters if n_clusters is not None else min(k, max(2, 2 * len(data.classes)))
    n_clust = min(int(n_clust), data.n)
    table = hybrid_order(
        data.ids,
        pool_x,
        0.5 * margin_score + 0.5 * share,
        [f"{a}; {b}" for a, b in zip(margin_text, neighbour_text)],
        n_clusters=n_clust,
        k=k,
        random_state=random_state,
    )
    return LabelingQueue(table, **made, n_neighbors=m, n_clusters=n_clust)


@validate_params({"issues": [LabelIssues, pd.DataFrame], "budget": [_POSITIVE]})
def relabel_queue(issues: LabelIssues | pd.DataFrame, *, budget: int = 100) -> LabelingQueue:
    """Flagged label issues, worst first, for a second look (same columns as the queue).

    Parameters
    ----------
    issues : LabelIssues or DataFrame
        The result of :func:`~toolkit.find_label_issues`, or its table (``id``,
        ``given_label``, ``suggested_label``, ``label_quality``, ``is_issue``).
    budget : int, default=100
        At most this many rows; only rows with ``is_issue`` are queued.

    Returns
    -------
    LabelingQueue
        ``strategy="relabel"``; ``.table`` has ``id``, ``rank``, ``score``
        (``1 - label_quality``) and ``reason``.

    Examples
    --------
    >>> import pandas as pd
    >>> issues = pd.DataFrame({"id": [7, 3], "given_label": ["cat", "dog"],
    ...     "suggested_label": ["dog", "dog"], "label_quality": [0.1, 0.8],
    ...     "is_issue": [True, False]})
    >>> relabel_queue(issues).table["reason"].tolist()
    ["given 'cat' but the model believes 'dog' (label quality 0.10)"]
    """
    table = issues.table if isinstance(issues, LabelIssues) else issues
    missing = [c for c in ISSUE_COLUMNS if c not in table.columns]
    if missing:
        raise ColumnNotFoundError(
            f"issues lacks column(s) {missing} (expected the find_label_issues table)"
        )
    flagged = table[table["is_issue"].astype(bool).to_numpy()]
    quality = flagged["label_quality"].to_numpy(dtype=float)
    reasons = []
    for given, suggested, q in zip(flagged["given_label"], flagged["suggested_label"], quality):
        given, suggested = to_python(given), to_python(suggested)
        if given != suggested:
            reasons.append(
                f"given {given!r} but the model believes {suggested!r} (label quality {q:.2f})"
            )
        else:
            reasons.append(f"given {given!r}, which the model doubts (label quality {q:.2f})")
    k = min(int(budget), len(flagged))
    return LabelingQueue(
        top_k(flagged["id"].to_numpy(), 1.0 - quality, reasons, k),
        strategy="relabel",
        budget=int(budget),
        pool_size=len(flagged),
    )


@validate_params(
    {
        "queue": [LabelingQueue, pd.DataFrame],
        "rows": [pd.DataFrame],
        "id": [str, None],
        "columns": [STR_LIST, None],
        "label_column": [str],
    }
)
def annotation_frame(
    queue: LabelingQueue | pd.DataFrame,
    rows: pd.DataFrame,
    *,
    id: str | None = None,
    columns: Sequence[str] | None = None,
    label_column: str = "label",
) -> pd.DataFrame:
    """The table an annotator opens: the queue in rank order, each row's data, a blank label.

    Parameters
    ----------
    queue : LabelingQueue or DataFrame
        A :func:`labeling_queue` or :func:`relabel_queue` result, or its table
        (``id``, ``rank``, ``score``, ``reason``).
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

    Examples
    --------
    >>> import pandas as pd
    >>> rows = pd.DataFrame({"text": ["good", "meh", "bad"]})
    >>> q = labeling_queue([[0.9, 0.1], [0.5, 0.5], [0.2, 0.8]], budget=1)
    >>> annotation_frame(q, rows).to_dict("records")
    [{'rank': 1, 'id': 1, 'score': 1.0, 'reason': 'margin 0.00 between 0 and 1', \
'text': 'meh', 'label': ''}]
    """
    queue = queue.table if isinstance(queue, LabelingQueue) else queue
    missing = [c for c in QUEUE_COLUMNS if c not in queue.columns]
    if missing:
        raise ColumnNotFoundError(
            f"queue lacks column(s) {missing} (expected a labeling_queue table)"
        )
    names = [str(c) for c in rows.columns]
    rows = rows.rename(columns=str).reset_index(drop=True)
    if columns is None:
        shown = names
    else:  # an empty list shows no columns of rows
        shown = resolve_columns(names, columns, "shown") if len(columns) else []
    if label_column in names:
        raise ValidationError(
            f"rows already has a column {label_column!r}; pick another label_column"
        )
    if id is not None:
        shown = [c for c in shown if c != id]
    queue = queue.sort_values("rank", kind="stable").reset_index(drop=True)
    position = _row_positions(rows, id, queue["id"].to_numpy())
    picked = rows.iloc[position][shown].reset_index(drop=True)
    picked = picked.rename(columns={c: f"row_{c}" for c in shown if c in QUEUE_COLUMNS})
    out = pd.concat([queue[["rank", "id", "score", "reason"]], picked], axis=1)
    out[label_column] = ""
    return out


def _row_positions(rows: pd.DataFrame, id: str | None, ids: np.ndarray) -> np.ndarray:
    """Where each queue id is in ``rows`` (by the ``id`` column, or row position)."""
    if id is None:
        key = pd.Index(np.arange(len(rows)))
    else:
        if id not in rows.columns:
            raise ColumnNotFoundError(
                f"id column {id!r} not found; the table has {preview(rows.columns, 12)}"
            )
        key = pd.Index(rows[id].to_numpy())
        if key.has_duplicates:
            raise DuplicateIdError(
                f"rows has repeated ids in {id!r}: {preview(key[key.duplicated()])}"
            )
    position = key.get_indexer(ids)
    if (position < 0).any():
        raise ValidationError(f"queue ids {preview(ids[position < 0])} are not in rows")
    return position
