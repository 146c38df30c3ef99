"""The manual workflow of error analysis: sample errors, tag them by hand, rank the tags.

If 60 of 300 examples are wrong (20% error) and 40 of the 60 are tagged "blurry",
fixing blur is worth at most 40 / 60 × 20 ≈ 13.3 points of error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd

from toolkit._json import to_python
from toolkit._result import Result
from toolkit._validation import ARRAY_LIKE, NON_EMPTY_STR, RANDOM_STATE, Interval, validate_params
from toolkit.analysis._stats import wilson_interval
from toolkit.data import Predictions
from toolkit.exceptions import ColumnNotFoundError, ValidationError

__all__ = [
    "TAG_COLUMNS",
    "ErrorSample",
    "TagRanking",
    "error_sample",
    "rank_error_tags",
    "rank_tag_values",
]

TAG_COLUMNS = ["tag", "errors", "share_of_errors", "gain_pp", "ci_low", "ci_high"]
#: Name of the empty column an annotator fills in.
TAGS_COLUMN = "tags"
#: Where the sample puts the row numbers when the table's own ``id`` column cannot be
#: the ids (it repeats a value or misses one) and keeps that name.
ROW_COLUMN = "row"


@dataclass(frozen=True, repr=False, eq=False)
class ErrorSample(Result):
    """Sampled errors to tag by hand (``table``) and the error counts to extrapolate with.

    Attributes
    ----------
    table : DataFrame
        See :func:`error_sample` for the columns.
    n_errors : int
        Errors of the predictions (the sample is drawn from them).
    error_rate : float
        Error rate of the predictions.
    n : int
        Rows of the predictions.
    """

    n_errors: int
    error_rate: float
    n: int


@dataclass(frozen=True, repr=False, eq=False)
class TagRanking(Result):
    """Tags ranked by the points of error they hold (``table``) and the sample behind them.

    Attributes
    ----------
    table : DataFrame
        ``tag``, ``errors``, ``share_of_errors``, ``gain_pp``, ``ci_low``, ``ci_high``.
    n_reviewed : int
        Reviewed errors (tagged or not).
    n_untagged : int
        Reviewed errors that carry no tag.
    error_rate : float
        Overall error rate the shares are extrapolated with.
    n_errors : int or None
        Errors of the predictions, when known.
    """

    n_reviewed: int
    n_untagged: int
    error_rate: float
    n_errors: int | None = None


@validate_params(
    {
        "p": [Predictions],
        "n": [Interval(Integral, 1, None)],
        "random_state": [RANDOM_STATE, None],
    }
)
def error_sample(p: Predictions, n: int = 300, *, random_state: int | None = 0) -> ErrorSample:
    """A random sample of the errors of ``p``, to tag by hand.

    Parameters
    ----------
    p : Predictions
    n : int, default=300
        Sample size; all errors when there are fewer.
    random_state : int or None, default=0

    Returns
    -------
    ErrorSample
        ``table`` has one row per sampled error, in row order: ``id``, ``y_true``,
        ``y_pred``, the probability of the predicted and of the true class (``p_pred``,
        ``p_true``, when probabilities exist; regression: ``abs_error``), the features,
        and an empty ``tags`` column to fill with tags separated by ``;`` (e.g.
        ``"blurry;night"``). The fields ``n_errors`` and ``error_rate`` are what
        :func:`rank_error_tags` needs to extrapolate. ``id`` holds ``p.ids``; when no
        ids were given and the features hold a column named ``id`` (a table's own, read
        without naming it as the id), its values are the ids if they are unique and
        never missing; otherwise that column keeps its name and the row numbers go
        under ``row``. A feature named like another column is prefixed ``feature_``.

    Examples
    --------
    >>> import toolkit as tk
    >>> p = tk.Predictions(["a", "b", "a", "b"], ["a", "a", "b", "b"])
    >>> sample = error_sample(p, n=5)
    >>> sample.table
       id y_true y_pred tags
    0   1      b      a
    1   2      a      b
    >>> sample.n_errors, sample.error_rate
    (2, 0.5)
    """
    error_rows = np.flatnonzero(p.errors)
    rng = np.random.default_rng(random_state)
    take = error_rows if error_rows.size <= n else rng.choice(error_rows, n, replace=False)
    take = np.sort(take)
    id_column, ids, own_ids = _sample_ids(p)
    frame = pd.DataFrame({id_column: ids[take], "y_true": p.y_true[take], "y_pred": p.y_pred[take]})
    if p.proba is not None:
        frame["p_pred"] = p.proba[take, p.y_pred_codes()[take]]
        frame["p_true"] = p.proba[take, p.y_true_codes()[take]]
    if not p.is_classification:
        frame["abs_error"] = np.abs(p.y_pred[take] - p.y_true[take])
    if p.features is not None:
        feats = p.features.iloc[take].reset_index(drop=True)
        if own_ids:  # the table's own id column is the ids: shown once, as they are
            feats = feats.drop(columns="id")
        feats = feats.rename(columns={c: f"feature_{c}" for c in feats if c in frame.columns})
        frame = pd.concat([frame, feats], axis=1)
    frame[TAGS_COLUMN] = ""
    return ErrorSample(
        frame, n_errors=int(error_rows.size), error_rate=float(p.errors.mean()), n=p.n
    )


def _sample_ids(p: Predictions) -> tuple[str, np.ndarray, bool]:
    """The column :func:`error_sample` names its rows in, their ids, and whether these
    are the values of the table's own ``id`` column.

    ``p.ids``, under ``id``, unless no ids were given and the table has a feature named
    ``id`` (a CSV's own id column read without ``--id``): then its values are the ids
    when they are unique and never missing, still under ``id``; otherwise the user's
    column keeps its name and the row numbers go under ``row``.
    """
    own = None if p.features is None or p.ids_given else p.features.get("id")
    if own is None:
        return "id", p.ids, False
    if own.is_unique and not own.isna().any():
        return "id", own.to_numpy(), True
    return ROW_COLUMN, p.ids, False


def _split_tags(value: Any, sep: str) -> list[str]:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return []
    parts = [t.strip() for t in str(value).split(sep)]
    return sorted({t for t in parts if t})


@validate_params(
    {
        "p": [Predictions],
        "tags": [Mapping, pd.Series, pd.DataFrame],
        "sep": [NON_EMPTY_STR],
        "id_column": [str, None],
        "tags_column": [str],
    }
)
def rank_error_tags(
    p: Predictions,
    tags: Mapping[Any, Any] | pd.Series | pd.DataFrame,
    *,
    sep: str = ";",
    id_column: str | None = None,
    tags_column: str = TAGS_COLUMN,
) -> TagRanking:
    """Rank hand-given tags of sampled errors by the points of error each could remove.

    Every id in ``tags`` is a reviewed error (an empty value means reviewed, no tag);
    a row may carry several tags separated by ``sep``. For a tag found on ``k`` of the
    ``m`` reviewed errors, at an overall error rate ``r``:

    - ``share_of_errors`` = k / m, with a Wilson 95% interval from the sample size;
    - ``gain_pp`` = k / m × r × 100, the points of error that fixing every error with
      this tag would remove (the share extrapolated to all errors); ``ci_low`` and
      ``ci_high`` are the interval of ``gain_pp``.

    Parameters
    ----------
    p : Predictions
        The predictions the errors were sampled from.
    tags : mapping of id to str, Series indexed by id, or DataFrame
        A DataFrame needs ``id_column`` and ``tags_column`` (what
        :func:`error_sample` writes, filled in by an annotator).
    sep : str, default=";"
    id_column : str, default=None
        The id column of a ``tags`` DataFrame; default the one :func:`error_sample`
        writes (``id``, or ``row`` beside a table's own ``id`` column that repeats a
        value).
    tags_column : str, default="tags"
        The tag column of a ``tags`` DataFrame.

    Returns
    -------
    TagRanking
        ``table`` has ``tag``, ``errors`` (tagged errors in the sample),
        ``share_of_errors``, ``gain_pp``, ``ci_low``, ``ci_high``; most frequent tag
        first. The fields are ``n_reviewed``, ``n_untagged``, ``error_rate`` and
        ``n_errors``.

    Examples
    --------
    >>> import toolkit as tk
    >>> p = tk.Predictions([0, 0, 0, 0, 1], [1, 1, 0, 0, 1])  # 2 errors in 5 rows
    >>> ranking = rank_error_tags(p, {0: "blurry;dark", 1: "blurry"})
    >>> ranking.table[["tag", "errors", "share_of_errors", "gain_pp"]]
          tag  errors  share_of_errors  gain_pp
    0  blurry       2              1.0     40.0
    1    dark       1              0.5     20.0
    >>> ranking.n_reviewed, ranking.n_untagged
    (2, 0)
    """
    column, known, _ = _sample_ids(p)
    ids, values = _ids_and_tags(tags, column if id_column is None else id_column, tags_column)
    _check_reviewed_errors(p, known, ids)
    return rank_tag_values(values, float(p.errors.mean()), n_errors=int(p.errors.sum()), sep=sep)


def _ids_and_tags(
    tags: Mapping[Any, Any] | pd.Series | pd.DataFrame, id_column: str, tags_column: str
) -> tuple[list[Any], list[Any]]:
    """The reviewed ids and their tag strings, each id once."""
    if isinstance(tags, pd.DataFrame):
        for col in (id_column, tags_column):
            if col not in tags.columns:
                raise ColumnNotFoundError(
                    f"tags table has no column {col!r}; it has {list(tags.columns)[:20]}"
                )
        ids = tags[id_column].tolist()
        values = tags[tags_column].tolist()
    elif isinstance(tags, pd.Series):
        ids, values = tags.index.tolist(), tags.tolist()
    else:
        ids, values = list(tags.keys()), list(tags.values())
    if not ids:
        raise ValidationError("tags is empty: tag at least one sampled error")
    if len(set(ids)) != len(ids):
        dup = pd.Series(ids)[pd.Series(ids).duplicated()].unique().tolist()[:5]
        raise ValidationError(f"tags repeat id(s) {dup}; give each reviewed error once")
    return ids, values


def _check_reviewed_errors(p: Predictions, known: np.ndarray, ids: list[Any]) -> None:
    """Every reviewed id must be one of the ids ``known`` (those of the rows of ``p``,
    in order) whose row is an error."""
    position = {to_python(v): i for i, v in enumerate(known)}
    as_str = {str(k): i for k, i in position.items()}
    rows = []
    unknown = []
    for i in ids:
        key = to_python(i)
        row = position.get(key, as_str.get(str(key)))  # ids read back from CSV may be text
        if row is None:
            unknown.append(key)
        rows.append(row)
    if unknown:
        raise ValidationError(
            f"{len(unknown)} tagged id(s) are not ids of the predictions, e.g. {unknown[:5]}"
        )
    not_errors = [ids[k] for k, r in enumerate(rows) if not p.errors[r]]
    if not_errors:
        raise ValidationError(
            f"{len(not_errors)} tagged id(s) are not errors of the model, e.g. "
            f"{not_errors[:5]}; tag only sampled errors"
        )


@validate_params(
    {
        "values": [ARRAY_LIKE],
        "error_rate": [Interval(Real, 0, 1)],
        "n_errors": [Interval(Integral, 0, None), None],
        "sep": [NON_EMPTY_STR],
    }
)
def rank_tag_values(
    values: list[Any], error_rate: float, *, n_errors: int | None = None, sep: str = ";"
) -> TagRanking:
    """Rank the tags of ``len(values)`` reviewed errors at an overall ``error_rate``.

    The computation behind :func:`rank_error_tags` once the ids are checked; the
    command line uses it on a filled-in CSV that records the error rate.

    Parameters
    ----------
    values : array-like of shape (n_reviewed,)
        The tags of each reviewed error, separated by ``sep`` (empty: no tag).
    error_rate : float in [0, 1]
        The overall error rate the shares are extrapolated with.
    n_errors : int, default=None
        Errors of the predictions, kept on the result.
    sep : str, default=";"

    Returns
    -------
    TagRanking

    Examples
    --------
    >>> ranking = rank_tag_values(["blurry", "blurry;night", ""], 0.3)
    >>> ranking.table[["tag", "errors", "gain_pp"]]
          tag  errors  gain_pp
    0  blurry       2     20.0
    1   night       1     10.0
    >>> ranking.n_untagged
    1
    """
    m = len(values)
    if m == 0:
        raise ValidationError("no reviewed errors: tag at least one sampled error")
    per_row = [_split_tags(v, sep) for v in values]
    counts = pd.Series([t for row in per_row for t in row], dtype=object).value_counts()
    rate = float(error_rate)
    k = counts.to_numpy(dtype=float)
    low, high = wilson_interval(k, np.full(k.shape, m))
    table = pd.DataFrame(
        {
            "tag": counts.index.astype(str),
            "errors": counts.to_numpy(dtype=np.int64),
            "share_of_errors": k / m,
            "gain_pp": k / m * rate * 100.0,
            "ci_low": low * rate * 100.0,
            "ci_high": high * rate * 100.0,
        }
    )
    table = table.sort_values(["errors", "tag"], ascending=[False, True], kind="stable")
    table = table.reset_index(drop=True)
    return TagRanking(
        table,
        n_reviewed=m,
        n_untagged=sum(1 for row in per_row if not row),
        error_rate=rate,
        n_errors=None if n_errors is None else int(n_errors),
    )
