"""Rows the two sides share: exact duplicates, near-duplicates and overlapping groups.

Used by :func:`toolkit.analysis.splits.check_splits` only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from toolkit.analysis._split_align import Side, is_numeric, normalised_for_hash

__all__ = ["CATEGORY_GAP", "exact_duplicates", "group_overlap", "near_duplicates"]

#: Distance between two different categories (or a missing and a present value) in the
#: near-duplicate space: far above any near-duplicate distance, so rows that differ in a
#: category are never near-duplicates.
CATEGORY_GAP = 1e3
#: Ids of each side listed per overlapping group (the counts are complete).
GROUP_IDS_SHOWN = 20


def exact_duplicates(ref: Side, test: Side, columns: list[str]) -> tuple[pd.DataFrame, int]:
    """Pairs (reference row, evaluated row) with equal values in every column.

    Returns the pairs (``train_id``, ``test_id``, ``train_row``, ``test_row``) and
    their number. Rows are hashed, then the pairs whose hashes match are compared
    value by value, so a hash collision is never reported.
    """
    a, b = normalised_for_hash(ref.features, test.features, columns)
    ha = pd.util.hash_pandas_object(a, index=False).to_numpy()
    hb = pd.util.hash_pandas_object(b, index=False).to_numpy()
    left = pd.DataFrame({"h": ha, "train_row": np.arange(len(ha))})
    right = pd.DataFrame({"h": hb, "test_row": np.arange(len(hb))})
    right = right[right["h"].isin(set(left["h"]))]
    pairs = left[left["h"].isin(set(right["h"]))].merge(right, on="h")
    if len(pairs):
        same = np.ones(len(pairs), dtype=bool)
        for c in columns:
            x = a[c].to_numpy()[pairs["train_row"].to_numpy()]
            y = b[c].to_numpy()[pairs["test_row"].to_numpy()]
            both_missing = pd.isna(x) & pd.isna(y)
            same &= both_missing | (x == y)
        pairs = pairs[same]
    pairs = pairs.sort_values(["test_row", "train_row"], kind="stable").reset_index(drop=True)
    return _with_ids(pairs, ref, test), len(pairs)


def _with_ids(pairs: pd.DataFrame, ref: Side, test: Side) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "train_id": ref.ids[pairs["train_row"].to_numpy()],
            "test_id": test.ids[pairs["test_row"].to_numpy()],
            "train_row": pairs["train_row"].to_numpy(dtype=np.int64),
            "test_row": pairs["test_row"].to_numpy(dtype=np.int64),
        }
    )


def _near_space(ref: Side, test: Side, columns: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Numbers scaled to unit standard deviation over both sides (missing: the median,
    plus an indicator column); categories as codes :data:`CATEGORY_GAP` apart."""
    a, b = normalised_for_hash(ref.features, test.features, columns)
    ref_cols, test_cols = [], []
    for c in columns:
        x, y = a[c], b[c]
        if is_numeric(ref.features[c], test.features[c]) or x.dtype.kind == "f":
            both = np.concatenate([x.to_numpy(dtype=float), y.to_numpy(dtype=float)])
            missing = np.isnan(both)
            centre = float(np.nanmedian(both)) if (~missing).any() else 0.0
            scale = float(np.nanstd(both)) if (~missing).any() else 1.0
            scale = scale if scale > 0 else 1.0
            values = np.where(missing, 0.0, (both - centre) / scale)
            ref_cols.append(values[: len(x)])
            test_cols.append(values[len(x) :])
            if missing.any():
                ref_cols.append(missing[: len(x)] * CATEGORY_GAP)
                test_cols.append(missing[len(x) :] * CATEGORY_GAP)
        else:
            codes, _ = pd.factorize(pd.concat([x, y], ignore_index=True), use_na_sentinel=False)
            values = codes.astype(float) * CATEGORY_GAP
            ref_cols.append(values[: len(x)])
            test_cols.append(values[len(x) :])
    return np.column_stack(ref_cols), np.column_stack(test_cols)


def _embedding_space(ref: Side, test: Side) -> tuple[np.ndarray, np.ndarray]:
    both = np.vstack([ref.embeddings, test.embeddings])
    scale = both.std(axis=0)
    scale[scale == 0] = 1.0
    both = (both - both.mean(axis=0)) / scale
    return both[: ref.n], both[ref.n :]


def near_duplicates(
    ref: Side,
    test: Side,
    columns: list[str],
    *,
    max_distance: float,
    skip_test_rows: np.ndarray,
    use_embeddings: bool,
) -> pd.DataFrame:
    """For each evaluated row (but those in ``skip_test_rows``, the exact duplicates),
    its nearest reference row when it lies within ``max_distance``.

    Returns ``train_id``, ``test_id``, ``distance``, ``train_row``, ``test_row``, closest
    first.
    """
    from sklearn.neighbors import NearestNeighbors

    if use_embeddings:
        space_ref, space_test = _embedding_space(ref, test)
    else:
        space_ref, space_test = _near_space(ref, test, columns)
    query = np.setdiff1d(np.arange(test.n), skip_test_rows)
    empty = pd.DataFrame(
        {"train_id": [], "test_id": [], "distance": [], "train_row": [], "test_row": []}
    )
    if not len(query):
        return empty
    nn = NearestNeighbors(n_neighbors=1).fit(space_ref)
    distance, index = nn.kneighbors(space_test[query])
    distance, index = distance[:, 0], index[:, 0]
    close = distance <= max_distance
    pairs = pd.DataFrame({"train_row": index[close], "test_row": query[close]})
    found = _with_ids(pairs, ref, test)
    found.insert(2, "distance", distance[close])
    return found.sort_values(["distance", "test_row"], kind="stable").reset_index(drop=True)


def group_overlap(ref: Side, test: Side, column: str) -> pd.DataFrame:
    """Groups with rows on both sides: ``group``, ``n_train``, ``n_test`` and the ids of
    each side (at most :data:`GROUP_IDS_SHOWN`), most evaluated rows first."""
    numeric = all(
        pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
        for s in (ref.features[column], test.features[column])
    )
    rows_a = _group_rows(ref.features[column], numeric)
    rows_b = _group_rows(test.features[column], numeric)
    shared = [g for g in rows_a if g in rows_b]
    table = pd.DataFrame(
        {
            "group": shared,
            "n_train": [len(rows_a[g]) for g in shared],
            "n_test": [len(rows_b[g]) for g in shared],
            "train_ids": [ref.ids[rows_a[g][:GROUP_IDS_SHOWN]].tolist() for g in shared],
            "test_ids": [test.ids[rows_b[g][:GROUP_IDS_SHOWN]].tolist() for g in shared],
        },
        columns=["group", "n_train", "n_test", "train_ids", "test_ids"],
    )
    order = np.lexsort((np.arange(len(table)), -table["n_test"].to_numpy(dtype=np.int64)))
    return table.iloc[order].reset_index(drop=True)


def _group_rows(series: pd.Series, numeric: bool) -> dict[Any, np.ndarray]:
    """Row positions of each group value (numbers compared as numbers when both sides
    hold numbers, otherwise as text); missing values form no group."""
    if numeric:
        keys = series.astype(float).reset_index(drop=True)
    else:
        keys = series.astype(object).where(series.notna(), None)
        keys = keys.map(lambda v: None if v is None else str(v)).reset_index(drop=True)
    present = np.flatnonzero(keys.notna().to_numpy())
    groups = keys.iloc[present].groupby(keys.iloc[present].to_numpy(), sort=True).indices
    return {k: present[v] for k, v in groups.items()}
