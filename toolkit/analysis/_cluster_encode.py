"""The representation :func:`~toolkit.cluster_errors` clusters: given embeddings, or the
feature columns encoded (one-hot categoricals, median-imputed and standardised numerics,
missing indicators).

The encoding is one scikit-learn ``ColumnTransformer`` (``SimpleImputer``,
``MissingIndicator``, ``OneHotEncoder``). Two steps keep their own code because
scikit-learn's give other numbers, which would move the map and the clusters: which
categories a column keeps, in what order (see :func:`_category_codes`), and the
standardisation (see :func:`standardise`).

>>> import pandas as pd
>>> frame = pd.DataFrame({"age": [20.0, None, 40.0], "plan": ["a", "b", "a"]})
>>> X, meaning = encode_features(frame, for_tree=True)
>>> X.tolist()
[[20.0, 0.0, 1.0, 0.0], [30.0, 1.0, 0.0, 1.0], [40.0, 0.0, 1.0, 0.0]]
>>> [(m.feature, m.kind, m.value) for m in meaning]
[('age', 'numeric', None), ('age', 'missing', None), ('plan', 'category', 'a'), \
('plan', 'category', 'b')]
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from toolkit._checks import check_embeddings, numeric_matrix, preview
from toolkit._json import to_python
from toolkit.data import Predictions
from toolkit.exceptions import InvalidValueError, LengthMismatchError, ValidationError

__all__ = [
    "MAX_CATEGORIES",
    "EncodedColumn",
    "encode_features",
    "infinite_columns",
    "representation",
]

#: Categories kept per categorical column when encoding features (the rest: all zeros).
MAX_CATEGORIES = 30


@dataclass(frozen=True)
class EncodedColumn:
    """What one column of an encoded feature matrix means."""

    feature: str
    kind: str  # "numeric", "missing" (indicator), "category"
    value: Any = None


def infinite_columns(features: pd.DataFrame | None) -> dict[str, int]:
    """The numeric columns holding +-inf, with how many rows do.

    >>> infinite_columns(pd.DataFrame({"a": [1.0, float("inf")], "b": ["x", "y"]}))
    {'a': 1}
    """
    if features is None:
        return {}
    out = {}
    for name in features.columns:
        series = features[name]
        if _is_numeric(series):
            count = int(np.isinf(series.to_numpy(dtype=float, na_value=np.nan)).sum())
            if count:
                out[str(name)] = count
    return out


def representation(
    p: Predictions, embeddings: Any, features: pd.DataFrame | None
) -> tuple[np.ndarray, str]:
    """The matrix to cluster (float32, C order) and a word on where it came from:
    ``embeddings``, else ``p.embeddings``, else ``features`` (``p``'s, perhaps with
    columns left out) encoded."""
    if embeddings is not None:
        return _given_embeddings(embeddings, p.n), "embeddings (given)"
    if p.embeddings is not None:
        return np.ascontiguousarray(p.embeddings, dtype=np.float32), "p.embeddings"
    if features is None or features.shape[1] == 0:
        raise ValidationError(
            "cluster_errors needs a representation of each row, but p has neither "
            "embeddings nor features: pass embeddings=..., or build Predictions with "
            "embeddings= or features="
        )
    encoded, _ = encode_features(features, for_tree=False)
    return np.ascontiguousarray(encoded, dtype=np.float32), "features (encoded)"


def _given_embeddings(embeddings: Any, n: int) -> np.ndarray:
    """``embeddings=`` as float32: numeric, one row per row of ``p``, finite; a 1-D
    array is one column."""
    arr, _ = numeric_matrix(embeddings, "embeddings")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim == 2 and arr.shape[0] != n:
        raise LengthMismatchError(f"embeddings has {arr.shape[0]} rows but p has {n}")
    if arr.ndim == 2 and arr.shape[1] == 0:
        raise ValidationError("embeddings has no columns")
    return np.ascontiguousarray(check_embeddings(arr, n), dtype=np.float32)


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def encode_features(
    frame: pd.DataFrame, *, for_tree: bool
) -> tuple[np.ndarray, list[EncodedColumn]]:
    """Numeric matrix of a feature table and the meaning of each column, in column order.

    Numerics: missing values set to the median (0 when all are missing), then
    standardised unless ``for_tree`` (a tree's thresholds must stay in the column's
    units). Categoricals (and booleans): one column per value among the
    ``MAX_CATEGORIES`` most frequent, most frequent first; other values are all zeros.
    Each column with missing values is followed by its missing indicator.

    Raises
    ------
    InvalidValueError
        A numeric column holds an infinite value.
    """
    from sklearn.compose import ColumnTransformer

    if frame.shape[1] == 0:
        return np.zeros((len(frame), 0)), []
    columns, transformers, kept = [], [], {}
    for j, name in enumerate(frame.columns):
        series = frame[name].reset_index(drop=True)
        if _is_numeric(series):
            columns.append(_finite_values(series, str(name)))
            transformers.append((f"c{j}", _numeric_encoder(for_tree), [j]))
        else:
            kept[j] = list(series.dropna().value_counts(sort=True).index[:MAX_CATEGORIES])
            columns.append(_category_codes(series, kept[j]))
            transformers.append((f"c{j}", _categorical_encoder(len(kept[j])), [j]))
    encoder = ColumnTransformer(transformers, sparse_threshold=0.0)
    with warnings.catch_warnings():
        # codes of values outside the kept categories (and missing values) are meant
        # to be all zeros
        warnings.filterwarnings("ignore", message="Found unknown categories")
        matrix = encoder.fit_transform(np.column_stack(columns))
    return np.asarray(matrix, dtype=np.float64), _meaning(frame, encoder, kept)


def _finite_values(series: pd.Series, name: str) -> np.ndarray:
    values = series.to_numpy(dtype=float, na_value=np.nan)
    infinite = np.isinf(values)
    if infinite.any():
        rows = np.flatnonzero(infinite)
        raise InvalidValueError(
            f"feature {name!r} has infinite values in {rows.size} row(s): {preview(rows)}; "
            "cluster_errors needs finite numbers (or missing values)"
        )
    return values


def _category_codes(series: pd.Series, keep: list[Any]) -> np.ndarray:
    """Each row's position in ``keep`` (-1 for other values, NaN when missing).

    The encoders see these codes rather than the values: ``OneHotEncoder`` orders
    its columns by sorted value (not by frequency) and cannot sort a column that
    mixes types (e.g. 1 and "n/a"), which pandas matches as it counted them.
    """
    codes = pd.Index(keep).get_indexer(series).astype(float)
    codes[series.isna().to_numpy()] = np.nan
    return codes


def _numeric_encoder(for_tree: bool) -> Any:
    from sklearn.impute import MissingIndicator, SimpleImputer
    from sklearn.pipeline import make_pipeline, make_union
    from sklearn.preprocessing import FunctionTransformer

    value = [SimpleImputer(strategy="median", keep_empty_features=True)]
    if not for_tree:
        value.append(FunctionTransformer(standardise))
    return make_union(make_pipeline(*value), MissingIndicator(error_on_new=False))


def _categorical_encoder(n_kept: int) -> Any:
    from sklearn.impute import MissingIndicator
    from sklearn.pipeline import make_union
    from sklearn.preprocessing import OneHotEncoder

    onehot = OneHotEncoder(
        categories=[np.arange(n_kept, dtype=float)],
        handle_unknown="ignore",
        sparse_output=False,
    )
    # no categories to keep when every value is missing
    return make_union(*([onehot] if n_kept else []), MissingIndicator(error_on_new=False))


def _meaning(frame: pd.DataFrame, encoder: Any, kept: dict[int, list[Any]]) -> list[EncodedColumn]:
    """The meaning of each output column, read off the fitted encoders."""
    from sklearn.impute import MissingIndicator
    from sklearn.preprocessing import OneHotEncoder

    meaning: list[EncodedColumn] = []
    for j, name in enumerate(frame.columns):
        for _, part in encoder.named_transformers_[f"c{j}"].transformer_list:
            if isinstance(part, OneHotEncoder):
                meaning.extend(
                    EncodedColumn(str(name), "category", to_python(kept[j][int(code)]))
                    for code in part.categories_[0]
                )
            elif isinstance(part, MissingIndicator):
                if part.features_.size:
                    meaning.append(EncodedColumn(str(name), "missing"))
            else:  # the imputing (and scaling) pipeline of a numeric column
                meaning.append(EncodedColumn(str(name), "numeric"))
    return meaning


def standardise(X: np.ndarray) -> np.ndarray:
    """Each column minus its mean, over its standard deviation (1 where that is 0).

    Not ``StandardScaler``: its variance (a corrected two-pass sum) differs from
    ``np.std`` in the last bits once a column's mean is ~1e8 times its spread, and it
    maps a column that is constant up to rounding to about 0 where this gives about
    +-1; either would change the UMAP map and the clusters of such data.

    >>> standardise(np.array([[1.0, 5.0], [3.0, 5.0]])).tolist()
    [[-1.0, 0.0], [1.0, 0.0]]
    """
    out = np.empty(X.shape)
    for j in range(X.shape[1]):
        values = np.ascontiguousarray(X[:, j], dtype=float)
        sd = float(values.std())
        out[:, j] = (values - values.mean()) / (sd if sd > 0 else 1.0)
    return out
