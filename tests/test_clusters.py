"""cluster_errors: planted clusters of errors, real digits errors, rules checked against
membership, sampling above max_points, stability, the figure data, the feature encoding,
the result object, validation.

UMAP's numba compilation costs ~20 s in a new process, so the inputs are small (a few
hundred rows; digits has 1,797) and the expensive results are module-scoped fixtures.
Hand-built ``ErrorClusters`` test what needs no UMAP at all (pattern overlap, masks).
"""

from __future__ import annotations

import copy
import json
import math
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import loaded_modules

import toolkit as tk
from toolkit._result import Result
from toolkit.analysis._cluster_embed import fit_sample
from toolkit.analysis._cluster_encode import MAX_CATEGORIES, encode_features, standardise
from toolkit.analysis._cluster_rules import feature_condition
from toolkit.analysis._cluster_stats import best_jaccard
from toolkit.analysis._stats import wilson_interval, worse_than_rest_p_values
from toolkit.analysis.clusters import (
    CLUSTER_COLUMNS,
    EMBEDDINGS_ONLY,
    STABLE_JACCARD,
    ErrorClusters,
    cluster_pattern_overlap,
)
from toolkit.analysis.conditions import Condition, Pattern
from toolkit.exceptions import (
    ColumnNotFoundError,
    InvalidValueError,
    LengthMismatchError,
    NotApplicableError,
    ToolkitTypeError,
    ValidationError,
)

DESIGN_COLUMNS = [
    "cluster",
    "n",
    "errors",
    "error_rate",
    "share_of_errors",
    "gain_pp",
    "excess_pp",
    "lift",
    "description",
    "fidelity",
    "examples",
]
FIGURE_COLUMNS = ["id", "x", "y", "class", "predicted", "error", "cluster", "fitted"]


# ---------------------------------------------------------------------- helpers
def _jaccard(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def _best_match(result: ErrorClusters, planted: np.ndarray) -> tuple[int, float]:
    """The cluster with the largest row Jaccard against ``planted``, and that Jaccard."""
    scores = {c: _jaccard(result.labels == c, planted) for c in result.table["cluster"]}
    best = max(scores, key=scores.get)
    return int(best), scores[best]


def _plain_mask(features: pd.DataFrame, condition: dict) -> np.ndarray:
    """One condition's rows, written out with pandas (independent of ``Condition.mask``)."""
    column, op, value = features[condition["column"]], condition["op"], condition["value"]
    present = column.notna().to_numpy()
    if op == "is missing":
        return ~present
    if op == "not missing":
        return present
    if op == "==":
        return (column == value).to_numpy(dtype=bool) & present
    if op == "not in":
        return ~column.isin(value).to_numpy(dtype=bool) & present
    x = column.to_numpy(dtype=float, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        if op == "<=":
            return x <= value
        if op == ">":
            return x > value
        assert op == "in (]", op
        return (x > value[0]) & (x <= value[1])


def _rule_mask(features: pd.DataFrame, conditions) -> np.ndarray:
    """A rule's rows from its JSON form (a Pattern is turned into its dicts first)."""
    if isinstance(conditions, Pattern):
        conditions = conditions.to_dict()
    mask = np.ones(len(features), dtype=bool)
    for condition in conditions:
        mask &= _plain_mask(features, condition)
    return mask


def _bh_by_hand(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg written out: q_(i) = min over j >= i of p_(j) * m / j."""
    m = p.size
    order = np.argsort(p)
    q = np.empty(m)
    running = 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        running = min(running, p[i] * m / rank)
        q[i] = running
    return q


def _check_counts(result: ErrorClusters, p: tk.Predictions) -> None:
    """Every count and rate of the table, recomputed with plain masks."""
    table, labels, errors = result.table, result.labels, p.errors
    assert int(table["n"].sum()) + result.n_noise == p.n
    assert int(table["errors"].sum()) + result.noise_errors == int(errors.sum())
    assert result.n_noise == int((labels == -1).sum())
    assert result.noise_errors == int(errors[labels == -1].sum())
    assert table["cluster"].tolist() == list(range(len(table)))
    overall = errors.mean()
    for row in table.itertuples(index=False):
        member = labels == row.cluster
        assert row.n == member.sum()
        assert row.errors == errors[member].sum()
        assert row.error_rate == pytest.approx(errors[member].mean())
        assert row.share_of_errors == pytest.approx(errors[member].sum() / errors.sum())
        assert row.gain_pp == pytest.approx(errors[member].sum() / p.n * 100)
        assert row.lift == pytest.approx(errors[member].mean() / overall)
        assert row.ci_low <= row.error_rate <= row.ci_high
        # the examples are members, the error examples are errors among them
        ids = pd.Series(np.arange(p.n), index=p.ids)
        assert member[ids[row.examples].to_numpy()].all()
        assert errors[ids[row.error_examples].to_numpy()].all()
        assert member[ids[row.error_examples].to_numpy()].all()
    # excess: the errors beyond the rate of every other row (noise included)
    for row in table.itertuples(index=False):
        member = labels == row.cluster
        rest_rate = errors[~member].mean()
        assert row.excess_pp == pytest.approx(
            (errors[member].sum() - member.sum() * rest_rate) / p.n * 100
        )
    _check_order(table)
    # each cluster is tested against all other rows (noise included), then BH-corrected
    n_c = np.array([(labels == c).sum() for c in table["cluster"]])
    e_c = np.array([errors[labels == c].sum() for c in table["cluster"]])
    expected_p = worse_than_rest_p_values(e_c, n_c, int(errors.sum()), p.n)
    np.testing.assert_allclose(table["p_value"], expected_p)
    np.testing.assert_allclose(table["q_value"], _bh_by_hand(table["p_value"].to_numpy()))


def _check_order(table: pd.DataFrame) -> None:
    """Clusters significantly worse than the rest first; within each group, the Wilson
    lower bound of the error rate (recomputed from the counts) does not increase."""
    significant = table["significant"].astype(bool).to_numpy()
    assert not (~significant[:-1] & significant[1:]).any()
    z = 1.959963984540054
    n, e = table["n"].to_numpy(float), table["errors"].to_numpy(float)
    rate = e / n
    low = (rate + z * z / (2 * n) - z * np.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n))) / (
        1 + z * z / n
    )
    np.testing.assert_allclose(np.clip(low, 0, 1), table["ci_low"], atol=1e-12)
    for group in (significant, ~significant):
        assert (np.diff(low[group]) <= 1e-12).all()


def _check_rules(result: ErrorClusters, features: pd.DataFrame) -> int:
    """Recompute each rule's precision and recall from its conditions; count the rules."""
    labels, shown = result.labels, 0
    for row in result.table.itertuples(index=False):
        assert isinstance(row.conditions, Pattern)
        if row.rule is None:
            assert np.isnan(row.fidelity)
            assert len(row.conditions) == 0
            continue
        shown += 1
        assert row.rule == row.conditions.label
        member = labels == row.cluster
        mask = _rule_mask(features, row.conditions)
        np.testing.assert_array_equal(mask, row.conditions.mask(features))
        precision = (mask & member).sum() / mask.sum()
        recall = (mask & member).sum() / member.sum()
        assert row.rule_precision == pytest.approx(precision)
        assert row.rule_recall == pytest.approx(recall)
        assert row.fidelity == pytest.approx(2 * precision * recall / (precision + recall))
        # no rule is shown without its fidelity
        assert row.description == (f"{row.rule} (precision {precision:.2f}, recall {recall:.2f})")
        assert len(row.conditions) <= 3
    return shown


# ---------------------------------------------------------------------- fixtures
def _planted_data(seed: int = 0):
    """4 background blobs of 130 rows (5% errors at random) and one tight planted group of
    80 rows (85% wrong) in 16-d; features drawn independently of both."""
    rng = np.random.default_rng(seed)
    dims = 16
    centres = rng.normal(0.0, 6.0, size=(5, dims))
    sizes = [130, 130, 130, 130, 80]
    group = np.repeat(np.arange(5), sizes)
    sd = np.where(group == 4, 0.3, 1.0)[:, None]
    emb = centres[group] + sd * rng.normal(size=(group.size, dims))
    planted = group == 4
    n = group.size
    y = rng.integers(0, 3, n)
    wrong = rng.random(n) < np.where(planted, 0.85, 0.05)
    pred = np.where(wrong, (y + 1) % 3, y)
    features = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n),
            "hours": np.round(rng.normal(40, 10, n), 1),
            "plan": rng.choice(["basic", "plus", "pro"], n),
        }
    )
    ids = np.array([f"r{i:03d}" for i in range(n)])
    return emb, y, pred, features, ids, planted


@pytest.fixture(scope="module")
def planted():
    emb, y, pred, features, ids, mask = _planted_data()
    p = tk.Predictions(y, pred, features=features, embeddings=emb, ids=ids)
    return p, mask, tk.cluster_errors(p, n_bootstrap=3, random_state=0)


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import cross_val_predict
    from sklearn.naive_bayes import GaussianNB

    X, y = load_digits(return_X_y=True)
    pred = cross_val_predict(GaussianNB(), X, y, cv=5)
    features = pd.DataFrame(X, columns=[f"px{j}" for j in range(64)])
    p = tk.Predictions(y, pred, features=features)
    return p, tk.cluster_errors(p, random_state=0)


# ---------------------------------------------------------------------- planted answers
def test_planted_cluster_of_errors_is_found_and_ranked_first(planted):
    p, mask, result = planted
    best, jac = _best_match(result, mask)
    assert jac >= 0.8
    assert best == 0
    assert result.table["gain_pp"].idxmax() == 0
    top = result.table.iloc[0]
    assert top["significant"] and top["q_value"] < 1e-6
    assert top["lift"] > 3
    # no column names the group: whatever rule the tree finds is a poor description
    assert top["rule"] is None or top["fidelity"] < 0.6
    assert result.params["representation"] == "p.embeddings"
    assert result.params["cluster_space"] == "umap"


def test_planted_table_counts_recomputed_with_masks(planted):
    p, _, result = planted
    _check_counts(result, p)
    assert list(result.table.columns) == CLUSTER_COLUMNS
    assert set(DESIGN_COLUMNS) <= set(result.table.columns)


def test_planted_rules_fidelity_against_membership(planted):
    p, _, result = planted
    _check_rules(result, p.features)


def test_planted_stability_is_a_jaccard_and_the_planted_cluster_is_stable(planted):
    _, _, result = planted
    stability = result.table["stability"].to_numpy()
    assert ((stability >= 0) & (stability <= 1)).all()
    assert result.table.loc[0, "stability"] >= 0.75
    assert result.table["stable"].tolist() == [bool(s >= 0.75) for s in stability]


def test_a_cluster_a_rule_names_gets_that_rule_with_high_fidelity():
    # features only: a dense group of young, short-hours rows among spread-out others
    features, y, pred, group = _rule_group_data()
    p = tk.Predictions(y, pred, classes=[0, 1], features=features)
    result = tk.cluster_errors(p, n_bootstrap=0, random_state=0)
    best, jac = _best_match(result, group)
    assert jac >= 0.8 and best == 0
    assert result.params["representation"] == "features (encoded)"
    assert _check_rules(result, features) >= 1
    top = result.table.iloc[0]
    assert {c.column for c in top["conditions"].conditions} <= {"age", "hours"}
    assert top["rule_precision"] >= 0.9 and top["rule_recall"] >= 0.9
    assert "precision" in top["description"] and "recall" in top["description"]


# ---------------------------------------------------------------------- real data
def test_digits_real_errors_counts_add_up_and_rules_check_out(digits):
    p, result = digits
    assert 0.1 < p.errors.mean() < 0.3  # GaussianNB's out-of-fold errors
    assert len(result.table) >= 3
    _check_counts(result, p)
    assert _check_rules(result, p.features) >= 1
    assert result.params["representation"] == "features (encoded)"
    assert result.params["n_fit"] == p.n == 1797


@pytest.mark.slow
def test_adult_features_only_with_missing_values_and_categories():
    from toolkit.datasets import load_adult

    train, _ = load_adult()
    frame = train.sample(1500, random_state=0).reset_index(drop=True)
    features = frame[["age", "hours_per_week", "workclass", "occupation", "sex"]]
    before = features.copy(deep=True)
    # a rule-of-thumb "model": predicts >50K for the educated, so its errors are real
    pred = np.where(frame["education_num"] >= 13, ">50K", "<=50K")
    p = tk.Predictions(frame["income"], pred, features=features)
    result = tk.cluster_errors(p, n_bootstrap=0, random_state=0)
    _check_counts(result, p)
    _check_rules(result, features)
    pd.testing.assert_frame_equal(features, before)
    json.dumps(result.to_dict(), allow_nan=False)


# ---------------------------------------------------------------------- determinism, JSON
def test_same_seed_same_result_and_json_safe(planted):
    p, _, result = planted
    again = tk.cluster_errors(p, n_bootstrap=3, random_state=0)
    first = result.to_dict(include_points=True)
    assert again.to_dict(include_points=True) == first
    text = json.dumps(first, allow_nan=False)
    assert json.loads(text)["n"] == p.n
    assert len(first["points"]) == p.n
    assert first["table"][0]["examples"] == result.table.loc[0, "examples"]
    assert all(isinstance(v, str) for v in first["table"][0]["examples"])


# ---------------------------------------------------------------------- figure data
def test_figure_data_has_map_class_prediction_error_cluster_per_row(planted):
    p, _, result = planted
    fig = result.figure_data()
    assert list(fig.columns) == FIGURE_COLUMNS
    assert len(fig) == p.n
    np.testing.assert_array_equal(fig["id"], p.ids)
    np.testing.assert_array_equal(fig["class"], p.y_true)
    np.testing.assert_array_equal(fig["predicted"], p.y_pred)
    np.testing.assert_array_equal(fig["error"], p.errors)
    np.testing.assert_array_equal(fig["cluster"], result.labels)
    np.testing.assert_array_equal(fig[["x", "y"]].to_numpy(), result.coords)
    assert result.coords.shape == (p.n, 2) and np.isfinite(result.coords).all()
    assert fig["fitted"].all()
    fig.loc[0, "cluster"] = 99  # a copy: the result is unchanged
    assert result.labels[0] != 99


def test_mask_is_the_membership_and_rejects_unknown_clusters(planted):
    _, _, result = planted
    for c in [-1, *result.table["cluster"]]:
        np.testing.assert_array_equal(result.mask(c), result.labels == c)
    k = len(result.table)
    with pytest.raises(ValidationError, match=rf"cluster {k} does not exist"):
        result.mask(k)
    with pytest.raises(ToolkitTypeError, match=r"mask: cluster must be an int in \[-1, inf\)"):
        result.mask("0")
    with pytest.raises(ToolkitTypeError, match="cluster must be an int"):
        result.mask(True)
    with pytest.raises(InvalidValueError, match="cluster must be an int in .*got -2"):
        result.mask(-2)


# ---------------------------------------------------------------------- representations
@pytest.mark.parametrize("width", [1, 3, 40])
def test_precomputed_embeddings_of_any_width(width):
    rng = np.random.default_rng(width)
    n_a, n_b = 160, 60
    emb = np.r_[rng.normal(0, 1, (n_a, width)), rng.normal(10, 0.5, (n_b, width))]
    group = np.r_[np.zeros(n_a, bool), np.ones(n_b, bool)]
    y = np.zeros(group.size, dtype=int)
    pred = np.where(group & (rng.random(group.size) < 0.9), 1, 0)
    p = tk.Predictions(y, pred, classes=[0, 1])
    given = emb.copy()
    result = tk.cluster_errors(p, embeddings=given, n_bootstrap=0, random_state=0)
    np.testing.assert_array_equal(given, emb)  # not mutated
    best, jac = _best_match(result, group)
    assert jac >= 0.8 and best == 0
    assert result.params["n_dims"] == width
    assert result.params["representation"] == "embeddings (given)"
    assert result.params["cluster_space"] == ("representation" if width <= 8 else "umap")
    # only embeddings: say so instead of a rule
    assert (result.table["description"] == EMBEDDINGS_ONLY).all()
    assert result.table["fidelity"].isna().all()
    assert result.table["rule"].isna().all()
    _check_counts(result, p)
    if width <= 8:  # clustered in the given space: examples are the members nearest its mean
        for row in result.table.itertuples(index=False):
            rows = np.flatnonzero(result.labels == row.cluster)
            dist = np.linalg.norm(emb[rows] - emb[rows].mean(axis=0), axis=1)
            nearest = rows[np.argsort(dist, kind="stable")][:5]
            assert row.examples == nearest.tolist()


def test_given_embeddings_override_p_embeddings_as_a_dataframe():
    rng = np.random.default_rng(1)
    emb = np.r_[rng.normal(0, 1, (150, 4)), rng.normal(9, 0.5, (50, 4))]
    y = np.zeros(200, dtype=int)
    pred = np.r_[np.zeros(150, dtype=int), np.ones(50, dtype=int)]
    # p.embeddings is noise; the given DataFrame carries the structure
    p = tk.Predictions(y, pred, embeddings=rng.normal(size=(200, 4)))
    frame = pd.DataFrame(emb, columns=list("abcd"))
    result = tk.cluster_errors(p, embeddings=frame, n_bootstrap=0, random_state=0)
    assert result.params["representation"] == "embeddings (given)"
    _, jac = _best_match(result, pred == 1)
    assert jac >= 0.8


def test_regression_has_no_class_and_counts_errors_by_tolerance():
    rng = np.random.default_rng(2)
    emb = np.r_[rng.normal(0, 1, (150, 3)), rng.normal(8, 0.5, (50, 3))]
    y = rng.normal(size=200)
    pred = y + np.r_[np.zeros(150), np.full(50, 2.0)]
    p = tk.Predictions(y, pred, embeddings=emb, task="regression", tolerance=1.0)
    result = tk.cluster_errors(p, n_bootstrap=0, random_state=0)
    fig = result.figure_data()
    assert fig["class"].isna().all()
    np.testing.assert_array_equal(fig["predicted"], pred)
    assert result.table.loc[0, "errors"] == 50 and result.table.loc[0, "n"] == 50
    _check_counts(result, p)


def test_no_cluster_found_gives_an_empty_table_and_all_noise():
    rng = np.random.default_rng(4)
    emb = rng.normal(size=(120, 3))
    y = np.zeros(120, dtype=int)
    pred = (rng.random(120) < 0.2).astype(int)
    p = tk.Predictions(y, pred, classes=[0, 1], embeddings=emb)
    result = tk.cluster_errors(p, min_cluster_size=500, n_bootstrap=2, random_state=0)
    assert len(result.table) == 0
    assert list(result.table.columns) == CLUSTER_COLUMNS
    assert result.n_noise == 120 and result.noise_errors == int(pred.sum())
    assert (result.labels == -1).all()
    out = result.to_dict()
    assert out["table"] == [] and out["n_noise"] == 120
    json.dumps(out, allow_nan=False)
    assert "0 clusters" in result._repr_html_()


# ---------------------------------------------------------------------- scale path
def test_above_max_points_every_error_is_fitted_and_the_rest_placed():
    emb, y, pred, features, ids, planted_mask = _planted_data(seed=5)
    emb = np.r_[emb, emb + np.random.default_rng(6).normal(0, 0.05, emb.shape)]
    y, pred, planted_mask = np.r_[y, y], np.r_[pred, pred], np.r_[planted_mask, planted_mask]
    features = pd.concat([features, features], ignore_index=True)
    p = tk.Predictions(y, pred, features=features, embeddings=emb)
    assert p.errors.sum() < 200  # all errors fit in half of the sample
    result = tk.cluster_errors(p, max_points=400, n_bootstrap=2, random_state=0)
    params = result.params
    assert params["sampled"] and params["n_fit"] == 400 and params["n"] == p.n
    assert params["errors_in_fit"] == p.errors.sum()
    fitted = result.figure_data()["fitted"].to_numpy()
    assert fitted.sum() == 400
    assert fitted[p.errors].all()  # every error is in the fit sample
    assert np.isfinite(result.coords).all()
    # the placed rows get clusters too: the table counts all rows
    _check_counts(result, p)
    assert (result.labels[~fitted] >= 0).mean() > 0.5
    # each row i has a near-copy i + half; a placed row whose copy was fitted is voted
    # into its copy's cluster by the neighbours they share
    half = p.n // 2
    twin = np.r_[np.arange(half, p.n), np.arange(half)]
    placed = np.flatnonzero(~fitted & fitted[twin])
    assert placed.size > 50
    assert (result.labels[placed] == result.labels[twin[placed]]).mean() >= 0.9
    _, jac = _best_match(result, planted_mask)
    assert jac >= 0.8
    _check_rules(result, features)


def test_fit_sample_keeps_every_error_and_stratifies_the_rest():
    rng = np.random.default_rng(0)
    strata = np.repeat([0, 1], [700, 300])
    errors = np.zeros(1000, bool)
    errors[rng.choice(1000, 50, replace=False)] = True
    idx = fit_sample(errors, strata, 200, np.random.default_rng(0))
    assert idx.size == 200 and np.unique(idx).size == 200
    assert errors[idx].sum() == 50
    ok = idx[~errors[idx]]
    # 150 correct rows, split in proportion to the correct rows of each class
    share = (strata[~errors] == 0).mean()
    assert abs((strata[ok] == 0).sum() - 150 * share) <= 1
    # more errors than half the sample: capped at half, stratified by class
    many = np.zeros(1000, bool)
    many[:500] = True  # class 0 only
    many[700:800] = True  # class 1
    idx = fit_sample(many, strata, 200, np.random.default_rng(0))
    assert many[idx].sum() == 100
    assert (strata[idx][many[idx]] == 0).sum() == 83  # 500 of 600 errors -> 83.3
    # too few correct rows to fill the other half: errors fill it
    mostly = np.ones(1000, bool)
    mostly[:30] = False
    idx = fit_sample(mostly, strata, 200, np.random.default_rng(0))
    assert idx.size == 200 and (~mostly[idx]).sum() == 30


def test_no_resampling_below_max_points():
    errors = np.zeros(50, bool)
    idx = fit_sample(errors, np.zeros(50, int), 100, np.random.default_rng(0))
    np.testing.assert_array_equal(idx, np.arange(50))


# ---------------------------------------------------------------------- stability helper
def test_best_jaccard_by_hand():
    original = np.array([0, 0, 0, 0, 1, 1, -1, -1])
    other = np.array([5, 5, 5, -1, 2, 2, 2, -1])
    # cluster 0 {0,1,2,3} vs {0,1,2}: 3/4; cluster 1 {4,5} vs {4,5,6}: 2/3
    np.testing.assert_allclose(best_jaccard(original, other, 2), [0.75, 2 / 3])
    np.testing.assert_allclose(best_jaccard(original, np.full(8, -1), 2), [0.0, 0.0])


def test_no_bootstrap_leaves_stability_unknown():
    rng = np.random.default_rng(7)
    emb = np.r_[rng.normal(0, 1, (100, 2)), rng.normal(9, 0.5, (40, 2))]
    pred = np.r_[np.zeros(100, int), np.ones(40, int)]
    p = tk.Predictions(np.zeros(140, int), pred, embeddings=emb)
    result = tk.cluster_errors(p, n_bootstrap=0, random_state=0)
    assert result.table["stability"].isna().all()
    assert result.table["stable"].isna().all()
    assert json.loads(json.dumps(result.to_dict(), allow_nan=False))["table"][0]["stable"] is None


# ---------------------------------------------------------------------- cluster x pattern
def _hand_clusters(labels, errors):
    labels = np.asarray(labels)
    k = int(labels.max()) + 1
    table = pd.DataFrame({"cluster": np.arange(k)})
    points = pd.DataFrame(
        {"id": np.arange(labels.size), "cluster": labels, "error": np.asarray(errors)}
    )
    return ErrorClusters(table=table, points=points, n_noise=0, noise_errors=0)


def test_cluster_pattern_overlap_by_hand():
    # 10 rows; cluster 0 = rows 0-3, cluster 1 = rows 6-9
    labels = [0, 0, 0, 0, -1, -1, 1, 1, 1, 1]
    errors = np.array([1, 1, 0, 1, 1, 0, 0, 0, 1, 0], bool)
    color = ["red", "red", "red", "blue", "red", "red", "blue", "blue", "blue", "blue"]
    size = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    p = tk.Predictions(np.zeros(10, int), errors.astype(int), classes=[0, 1],
                       features={"color": color, "size": size})  # fmt: skip
    patterns = pd.DataFrame(
        {
            "pattern": ["color = red", "size > 8"],
            "conditions": [
                [{"column": "color", "op": "==", "value": "red"}],
                [{"column": "size", "op": ">", "value": 8}],
            ],
        }
    )
    clusters = _hand_clusters(labels, errors)
    before = copy.deepcopy(patterns)
    out = cluster_pattern_overlap(clusters, patterns, p)
    pd.testing.assert_frame_equal(patterns, before)
    assert out.columns.tolist() == [
        "cluster", "pattern", "n_cluster", "n_pattern", "n_both", "errors_both", "jaccard",
    ]  # fmt: skip
    rows = out.to_dict(orient="records")
    # red = rows {0,1,2,4,5}; cluster 0 = {0,1,2,3}: both {0,1,2} (errors 0,1), either 6
    # size > 8 = rows {8,9}; cluster 0: none in both, either 6
    # cluster 1 = {6,7,8,9}: red none, either 9; size > 8: both {8,9} (error 8), either 4
    assert rows == [
        {"cluster": 0, "pattern": "color = red", "n_cluster": 4, "n_pattern": 5,
         "n_both": 3, "errors_both": 2, "jaccard": 3 / 6},
        {"cluster": 0, "pattern": "size > 8", "n_cluster": 4, "n_pattern": 2,
         "n_both": 0, "errors_both": 0, "jaccard": 0.0},
        {"cluster": 1, "pattern": "size > 8", "n_cluster": 4, "n_pattern": 2,
         "n_both": 2, "errors_both": 1, "jaccard": 2 / 4},
        {"cluster": 1, "pattern": "color = red", "n_cluster": 4, "n_pattern": 5,
         "n_both": 0, "errors_both": 0, "jaccard": 0.0},
    ]  # fmt: skip
    kept = cluster_pattern_overlap(clusters, patterns, p, min_jaccard=0.4, top_clusters=1)
    assert kept[["cluster", "pattern"]].values.tolist() == [[0, "color = red"]]
    only = cluster_pattern_overlap(clusters, patterns, p, top_patterns=1)
    assert set(only["pattern"]) == {"color = red"}


def test_cluster_pattern_overlap_on_real_patterns(planted):
    p, _, result = planted
    patterns = tk.find_error_patterns(p)
    out = cluster_pattern_overlap(result, patterns, p, top_clusters=2, top_patterns=5)
    table = patterns.table
    assert len(out) == min(2, len(result.table)) * min(5, len(table))
    for row in out.itertuples(index=False):
        member = result.labels == row.cluster
        conditions = table.loc[table["pattern"] == row.pattern, "conditions"].iloc[0]
        mask = _rule_mask(p.features, conditions)
        assert row.n_both == (member & mask).sum()
        assert row.jaccard == pytest.approx(_jaccard(member, mask))
    # the table alone, and its conditions as JSON dicts, give the same overlap
    pd.testing.assert_frame_equal(
        cluster_pattern_overlap(result, table, p, top_clusters=2, top_patterns=5), out
    )
    as_dicts = table.assign(conditions=[c.to_dict() for c in table["conditions"]])
    pd.testing.assert_frame_equal(
        cluster_pattern_overlap(result, as_dicts, p, top_clusters=2, top_patterns=5), out
    )


def test_cluster_pattern_overlap_rejects_bad_inputs():
    clusters = _hand_clusters([0, 0, 1, 1], [True, False, True, False])
    p = tk.Predictions([0, 0, 0, 0], [1, 0, 1, 0], classes=[0, 1], features={"a": list("xyxy")})
    patterns = pd.DataFrame(
        {"pattern": ["a = x"], "conditions": [[{"column": "a", "op": "==", "value": "x"}]]}
    )
    with pytest.raises(ToolkitTypeError, match="clusters must be a toolkit.ErrorClusters, got"):
        cluster_pattern_overlap(patterns, patterns, p)
    with pytest.raises(ToolkitTypeError, match="p must be a toolkit.Predictions, got None"):
        cluster_pattern_overlap(clusters, patterns, None)
    expected = "patterns must be a toolkit.ErrorPatterns or a DataFrame or None"
    with pytest.raises(ToolkitTypeError, match=expected):
        cluster_pattern_overlap(clusters, [], p)
    with pytest.raises(LengthMismatchError, match="clusters cover 4 rows but p has 5"):
        cluster_pattern_overlap(
            clusters, patterns, tk.Predictions([0] * 5, [0] * 5, classes=[0, 1])
        )
    with pytest.raises(ColumnNotFoundError, match=r"no column\(s\) \['conditions'\]"):
        cluster_pattern_overlap(clusters, patterns[["pattern"]], p)
    other = pd.DataFrame(
        {"pattern": ["b = 1"], "conditions": [[{"column": "b", "op": "==", "value": 1}]]}
    )
    with pytest.raises(ColumnNotFoundError, match=r"uses column\(s\) \['b'\]"):
        cluster_pattern_overlap(clusters, other, p)
    with pytest.raises(ValidationError, match="p has no features"):
        cluster_pattern_overlap(
            clusters, patterns, tk.Predictions([0] * 4, [1, 0, 1, 0], classes=[0, 1])
        )
    bad_conditions = pd.DataFrame({"pattern": ["a = x"], "conditions": ["a = x"]})
    with pytest.raises(ToolkitTypeError, match="conditions must be a list of condition dicts"):
        cluster_pattern_overlap(clusters, bad_conditions, p)
    with pytest.raises(
        InvalidValueError,
        match=r"cluster_pattern_overlap: top_clusters must be an int in \[1, inf\), got 0",
    ):
        cluster_pattern_overlap(clusters, patterns, p, top_clusters=0)
    with pytest.raises(ToolkitTypeError, match="top_patterns must be an int in .*got 1.5"):
        cluster_pattern_overlap(clusters, patterns, p, top_patterns=1.5)
    with pytest.raises(ToolkitTypeError, match="top_clusters must be an int in .*got True"):
        cluster_pattern_overlap(clusters, patterns, p, top_clusters=True)
    with pytest.raises(InvalidValueError, match=r"min_jaccard must be a number in \[0, 1\]"):
        cluster_pattern_overlap(clusters, patterns, p, min_jaccard=2)
    empty = cluster_pattern_overlap(clusters, patterns.iloc[:0], p)
    assert len(empty) == 0 and "jaccard" in empty.columns
    assert len(cluster_pattern_overlap(clusters, None, p)) == 0


# ---------------------------------------------------------------------- result object
def test_error_clusters_is_a_result_with_its_fields_as_metadata(planted):
    p, _, result = planted
    assert isinstance(result, Result)
    assert len(result) == len(result.table) >= 1
    assert set(result.meta) == {"n_noise", "noise_errors", "params"}
    assert result.meta["n_noise"] == result.n_noise
    json.dumps(result.meta, allow_nan=False)
    frame = result.to_frame()
    pd.testing.assert_frame_equal(frame, result.table)
    frame.loc[0, "n"] = -1  # a copy
    assert result.table.loc[0, "n"] != -1
    assert repr(result).startswith(f"ErrorClusters({len(result.table)} rows, n_noise=")
    html = result._repr_html_()
    assert f"{len(result.table)} clusters; noise: {result.n_noise} rows" in html
    assert "description" in html and "examples" not in html


def test_to_dict_keeps_its_json_form_and_conditions_round_trip(planted):
    p, _, result = planted
    out = result.to_dict()
    assert list(out) == ["params", "n", "n_noise", "noise_errors", "table"]
    assert out["n"] == p.n and out["params"]["n"] == p.n
    assert list(out["table"][0]) == CLUSTER_COLUMNS
    for record, pattern in zip(out["table"], result.table["conditions"]):
        assert isinstance(record["conditions"], list)
        assert all(set(c) == {"column", "op", "value"} for c in record["conditions"])
        again = Pattern.from_dicts(record["conditions"])
        assert again == pattern
        assert (record["rule"] or "") == again.label
    with pytest.raises(ToolkitTypeError, match="to_dict: include_points must be a bool"):
        result.to_dict(include_points="yes")


def test_a_result_with_a_new_table_keeps_its_fields(planted):
    import dataclasses

    _, _, result = planted
    table = result.table.assign(extra=1.0)
    other = dataclasses.replace(result, table=table)
    assert other.n_noise == result.n_noise and other.params == result.params
    np.testing.assert_array_equal(other.labels, result.labels)
    assert "extra" in other.to_dict()["table"][0]


# ---------------------------------------------------------------------- rule conditions
@pytest.mark.parametrize(
    ("state", "label", "op", "value"),
    [
        ({"hi": 3.0}, "x ≤ 3", "<=", 3.0),
        ({"lo": 3.0}, "x > 3", ">", 3.0),
        ({"lo": 1.0, "hi": 3.5}, "x ∈ (1, 3.5]", "in (]", [1.0, 3.5]),
        ({"eq": ["v"]}, "x = v", "==", "v"),
        ({"eq": [2.0]}, "x = 2", "==", 2.0),
        ({"ne": ["v"]}, "x ≠ v", "not in", ["v"]),
        ({"ne": ["a", "b", "a"]}, "x ∉ {a, b}", "not in", ["a", "b"]),
        ({"missing": True, "hi": 3.0}, "x is missing", "is missing", None),
        ({"missing": False}, "x is not missing", "not missing", None),
        ({"missing": False, "lo": 0.5}, "x > 0.5", ">", 0.5),
    ],
)
def test_a_tree_path_on_one_feature_becomes_one_condition(state, label, op, value):
    st = {"lo": -math.inf, "hi": math.inf, "missing": None, "eq": [], "ne": [], **state}
    condition = feature_condition("x", st)
    assert isinstance(condition, Condition)
    assert condition.label == label
    assert condition.to_dict() == {"column": "x", "op": op, "value": value}


def test_a_path_with_no_bound_gives_no_condition():
    st = {"lo": -math.inf, "hi": math.inf, "missing": None, "eq": [], "ne": []}
    assert feature_condition("x", st) is None


# ---------------------------------------------------------------------- encoding
def test_features_are_encoded_by_hand():
    frame = pd.DataFrame(
        {
            "age": [20.0, None, 40.0, 30.0],
            "plan": ["b", "a", "b", None],
            "flag": [True, False, True, True],
            "mixed": pd.Series([1, "n/a", 1, 1], dtype=object),
            "empty": [np.nan] * 4,
        }
    )
    before = frame.copy(deep=True)
    X, meaning = encode_features(frame, for_tree=True)
    assert [(m.feature, m.kind, m.value) for m in meaning] == [
        ("age", "numeric", None), ("age", "missing", None),
        ("plan", "category", "b"), ("plan", "category", "a"), ("plan", "missing", None),
        ("flag", "category", True), ("flag", "category", False),
        ("mixed", "category", 1), ("mixed", "category", "n/a"),
        ("empty", "numeric", None), ("empty", "missing", None),
    ]  # fmt: skip
    # age: the missing value gets the median of 20, 40, 30; categories most frequent first
    np.testing.assert_array_equal(
        X,
        [
            [20, 0, 1, 0, 0, 1, 0, 1, 0, 0, 1],
            [30, 1, 0, 1, 0, 0, 1, 0, 1, 0, 1],
            [40, 0, 1, 0, 0, 1, 0, 1, 0, 0, 1],
            [30, 0, 0, 0, 1, 1, 0, 1, 0, 0, 1],
        ],
    )
    scaled, same = encode_features(frame, for_tree=False)
    assert same == meaning
    # standardised: (20, 30, 40, 30) has mean 30 and standard deviation sqrt(50)
    np.testing.assert_allclose(scaled[:, 0], np.array([-10, 0, 10, 0]) / math.sqrt(50))
    np.testing.assert_array_equal(scaled[:, 1:], X[:, 1:])
    pd.testing.assert_frame_equal(frame, before)


def test_only_the_most_frequent_categories_get_a_column():
    values = [f"v{i:02d}" for i in range(MAX_CATEGORIES + 5) for _ in range(40 - i)]
    frame = pd.DataFrame({"c": values})
    X, meaning = encode_features(frame, for_tree=True)
    assert [m.value for m in meaning] == [f"v{i:02d}" for i in range(MAX_CATEGORIES)]
    kept = frame["c"].isin([m.value for m in meaning]).to_numpy()
    np.testing.assert_array_equal(X.sum(axis=1), kept.astype(float))
    assert encode_features(frame.iloc[:, :0], for_tree=False)[0].shape == (len(frame), 0)


def test_standardise_matches_the_formula_and_leaves_constant_columns_at_zero():
    X = np.array([[1.0, 5.0], [2.0, 5.0], [6.0, 5.0]])
    expected = (X[:, 0] - 3.0) / math.sqrt(((1 - 3) ** 2 + (2 - 3) ** 2 + (6 - 3) ** 2) / 3)
    out = standardise(X)
    np.testing.assert_allclose(out[:, 0], expected)
    np.testing.assert_array_equal(out[:, 1], 0.0)


def test_the_encoder_rejects_infinite_values_it_is_given():
    frame = pd.DataFrame({"x": np.r_[np.inf, np.arange(39.0)]})
    with pytest.raises(
        InvalidValueError, match=r"feature 'x' has infinite values in 1 row\(s\): \[0\]"
    ):
        encode_features(frame, for_tree=False)


def _rule_group_data(seed: int = 3):
    """A dense group of young, short-hours rows (80% wrong) among spread-out others."""
    rng = np.random.default_rng(seed)
    n_bg, n_g = 300, 80
    age = np.r_[rng.uniform(35, 80, n_bg), rng.normal(21, 1.0, n_g)]
    hours = np.r_[rng.uniform(35, 60, n_bg), rng.normal(20, 1.0, n_g)]
    group = np.r_[np.zeros(n_bg, bool), np.ones(n_g, bool)]
    y = np.zeros(group.size, dtype=int)
    pred = np.where(group & (rng.random(group.size) < 0.8), 1, 0)
    return pd.DataFrame({"age": age, "hours": hours}), y, pred, group


def test_a_feature_with_infinite_values_is_left_out_with_a_warning():
    features, y, pred, group = _rule_group_data()
    ratio = np.linspace(0.0, 1.0, len(y))
    ratio[[5, 300]] = [np.inf, -np.inf]
    features["ratio"] = ratio
    before = features.copy(deep=True)
    p = tk.Predictions(y, pred, classes=[0, 1], features=features)
    with pytest.warns(
        UserWarning, match=r"left out feature\(s\) with infinite values: 'ratio' \(2"
    ):
        result = tk.cluster_errors(p, n_bootstrap=0, random_state=0)
    assert result.params["dropped_features"] == {"ratio": "infinite values in 2 row(s)"}
    best, jac = _best_match(result, group)
    assert jac >= 0.8 and best == 0  # the other columns still find the planted group
    for pattern in result.table["conditions"]:
        assert "ratio" not in {c.column for c in pattern.conditions}
    pd.testing.assert_frame_equal(features, before)  # the caller's inf is still there
    # with every column infinite there is nothing to place the rows with
    only_inf = tk.Predictions(y, pred, classes=[0, 1], features={"ratio": ratio})
    with pytest.warns(UserWarning, match="'ratio'"):
        with pytest.raises(
            NotApplicableError, match=r"every feature column holds infinite values \('ratio': 2 row"
        ):
            tk.cluster_errors(only_inf, n_bootstrap=0)


def test_diagnose_survives_an_infinite_feature_and_says_why_it_was_left_out():
    features, y, pred, _ = _rule_group_data()
    features["ratio<script>"] = np.r_[np.inf, np.zeros(len(y) - 1)]
    p = tk.Predictions(y, pred, classes=[0, 1], features=features)
    with pytest.warns(UserWarning, match="ratio<script>"):
        d = tk.diagnose(p, sections=["metrics", "clusters"])
    out = json.loads(d.to_json())
    assert out["clusters"]["params"]["dropped_features"] == {
        "ratio<script>": "infinite values in 1 row(s)"
    }
    html = d.to_html()
    assert "ratio&lt;script&gt;: infinite values in 1 row(s)" in html
    assert "ratio<script>" not in html
    only_inf = tk.Predictions(
        y, pred, classes=[0, 1], features={"ratio": features["ratio<script>"]}
    )
    with pytest.warns(UserWarning, match="'ratio'"):
        d = tk.diagnose(only_inf, sections=["metrics", "clusters"])
    assert d.clusters is None
    assert d.skipped["clusters"].startswith("every feature column holds infinite values")


# ---------------------------------------------------------------------- imports
def test_importing_the_module_loads_neither_umap_nor_hdbscan():
    code = (
        "import toolkit as tk\ntk.cluster_errors, tk.ErrorClusters\n"
        "import toolkit.analysis.clusters"
    )
    assert loaded_modules(code, {"umap", "hdbscan", "numba"}) == set()


# ---------------------------------------------------------------------- validation
@pytest.fixture(scope="module")
def small_p():
    rng = np.random.default_rng(0)
    return tk.Predictions(rng.integers(0, 2, 40), rng.integers(0, 2, 40), classes=[0, 1])


@pytest.mark.parametrize(
    ("embeddings", "error", "message"),
    [
        (np.zeros((40, 2, 2)), ValidationError, r"embeddings must be 2-D, got shape \(40, 2, 2\)"),
        (np.zeros((39, 3)), LengthMismatchError, "embeddings has 39 rows but p has 40"),
        (np.zeros((40, 0)), ValidationError, "embeddings has no columns"),
        (
            np.r_[np.full((1, 3), np.nan), np.zeros((38, 3)), np.full((1, 3), np.inf)],
            InvalidValueError,
            r"NaN or infinite values in 2 row\(s\): \[0, 39\]",
        ),
        ([["a", "b"]] * 40, ToolkitTypeError, "embeddings must be numeric"),
        (
            pd.DataFrame({"e0": np.zeros(40), "name": ["x"] * 40}),
            ToolkitTypeError,
            r"embeddings columns must be numeric, but \['name'\] have dtype",
        ),
    ],
)
def test_bad_embeddings_are_rejected(small_p, embeddings, error, message):
    with pytest.raises(error, match=message):
        tk.cluster_errors(small_p, embeddings=embeddings)


@pytest.mark.parametrize(
    ("option", "value", "error", "message"),
    [
        ("n_neighbors", 1, InvalidValueError, r"n_neighbors must be an int in \[2, inf\), got 1"),
        ("n_neighbors", 2.5, ToolkitTypeError, r"n_neighbors must be an int in .*got 2.5"),
        ("min_cluster_size", 1, InvalidValueError, r"min_cluster_size must be .*\[2, inf\)"),
        ("min_samples", 0, InvalidValueError, r"min_samples must be an int in \[1, inf\)"),
        ("max_points", 99, InvalidValueError, r"max_points must be an int in \[100, inf\), got 99"),
        ("cluster_dims", 1, InvalidValueError, r"cluster_dims must be an int in \[2, inf\), got 1"),
        ("n_bootstrap", -1, InvalidValueError, r"n_bootstrap must be an int in \[0, inf\), got -1"),
        ("n_bootstrap", True, ToolkitTypeError, r"n_bootstrap must be an int .*got True \(bool\)"),
        ("max_depth", 0, InvalidValueError, r"max_depth must be an int in \[1, inf\), got 0"),
        ("n_examples", -1, InvalidValueError, r"n_examples must be an int in \[0, inf\)"),
        ("alpha", 1.0, InvalidValueError, r"alpha must be a number in \(0, 1\), got 1.0"),
        ("alpha", "0.05", ToolkitTypeError, r"alpha must be a number in \(0, 1\), got '0.05'"),
        ("random_state", -1, InvalidValueError, r"random_state must be an int in \[0, 4.*got -1"),
        ("random_state", 2**32, InvalidValueError, r"random_state must be an int in \[0, 4"),
        ("random_state", 1.5, ToolkitTypeError, r"random_state must be an int in .* or None"),
    ],
)
def test_bad_options_are_rejected(small_p, option, value, error, message):
    with pytest.raises(error, match="cluster_errors: " + message):
        tk.cluster_errors(small_p, embeddings=np.zeros((40, 2)), **{option: value})


def test_every_option_is_declared_for_validation():
    declared = set(tk.cluster_errors.__toolkit_params__)
    assert declared == {
        "p", "n_neighbors", "min_cluster_size", "min_samples", "max_points", "cluster_dims",
        "n_bootstrap", "max_depth", "n_examples", "alpha", "random_state",
    }  # fmt: skip
    assert set(cluster_pattern_overlap.__toolkit_params__) == {
        "clusters", "patterns", "p", "top_clusters", "top_patterns", "min_jaccard",
    }  # fmt: skip


def test_not_predictions_too_few_rows_and_no_representation(small_p):
    with pytest.raises(ToolkitTypeError, match="cluster_errors: p must be a toolkit.Predictions"):
        tk.cluster_errors(np.zeros(40))
    with pytest.raises(ValidationError, match="neither embeddings nor features"):
        tk.cluster_errors(small_p)
    tiny = tk.Predictions([0, 1] * 9, [0, 1] * 9, embeddings=np.zeros((18, 2)))
    with pytest.raises(ValidationError, match=r"at least 20 rows \(n_neighbors=15\), but p has 18"):
        tk.cluster_errors(tiny)
    with pytest.raises(ValidationError, match=r"at least 31 rows \(n_neighbors=30\), but p has 18"):
        tk.cluster_errors(tiny, n_neighbors=30)


def test_inputs_are_not_mutated():
    emb, y, pred, features, ids, _ = _planted_data(seed=8)
    emb, y, pred, features, ids = emb[:200], y[:200], pred[:200], features[:200], ids[:200]
    features = features.copy()
    features.loc[::7, "hours"] = np.nan  # missing values are encoded, not filled in place
    p = tk.Predictions(y, pred, features=features, ids=ids)
    saved = (emb.copy(), features.copy(deep=True), p.features, p.y_true.copy())
    result = tk.cluster_errors(p, embeddings=emb, n_bootstrap=0, random_state=0)
    np.testing.assert_array_equal(emb, saved[0])
    pd.testing.assert_frame_equal(features, saved[1])
    pd.testing.assert_frame_equal(p.features, saved[2])
    np.testing.assert_array_equal(p.y_true, saved[3])
    _check_rules(result, features)


# ---------------------------------------------------------------------- order and stability
def test_a_small_severe_group_comes_before_a_big_average_one():
    """Ordered by errors, the big blob (more errors, at about the overall rate) would be
    cluster 0; the severity order lists the planted group first and the blob after every
    cluster significantly worse than the rest."""
    rng = np.random.default_rng(11)
    dims = 12
    centres = rng.normal(0.0, 8.0, size=(4, dims))
    sizes = [900, 50, 150, 150]
    group = np.repeat(np.arange(4), sizes)
    emb = centres[group] + np.where(group == 1, 0.3, 1.0)[:, None] * rng.normal(
        size=(group.size, dims)
    )
    rate = np.array([0.12, 0.8, 0.03, 0.03])[group]
    y = rng.integers(0, 2, group.size)
    pred = np.where(rng.random(group.size) < rate, 1 - y, y)
    p = tk.Predictions(y, pred, classes=[0, 1], embeddings=emb)
    result = tk.cluster_errors(p, n_bootstrap=0, random_state=0)
    table = result.table
    _check_counts(result, p)
    planted, jac = _best_match(result, group == 1)
    assert planted == 0 and jac >= 0.8
    big = table.loc[table["errors"].idxmax()]
    assert big["errors"] > table.loc[0, "errors"]  # so the order is not by errors
    assert not big["significant"]
    assert big["cluster"] > table.loc[table["significant"], "cluster"].max()
    # the big blob did no worse than the rest: no excess worth a point
    assert big["excess_pp"] < 1.0 < table.loc[0, "excess_pp"]
    assert table.loc[0, "excess_pp"] < table.loc[0, "gain_pp"]


def test_clusters_cut_out_of_uniform_noise_are_not_stable():
    """The stability threshold against planted answers: HDBSCAN finds clusters in uniform
    noise (the map clumps it), and none of them reaches STABLE_JACCARD once the re-runs
    re-draw the rows and re-fit the map; the planted group of ``planted`` does."""
    rng = np.random.default_rng(5)
    n = 600
    emb = rng.uniform(size=(n, 16))
    y = rng.integers(0, 2, n)
    pred = np.where(rng.random(n) < 0.1, 1 - y, y)
    p = tk.Predictions(y, pred, classes=[0, 1], embeddings=emb)
    result = tk.cluster_errors(p, n_bootstrap=5, random_state=0)
    assert len(result.table) >= 2  # the noise was split
    assert (result.table["stability"] < STABLE_JACCARD).all()
    assert not result.table["stable"].any()
    assert "new seed" in result.params["notes"]["stability"]


# ---------------------------------------------------------------------- the map's content
def _map_data(seed: int = 2):
    rng = np.random.default_rng(seed)
    coords = np.vstack([rng.normal((5 * k, 0), 0.5, (40, 2)) for k in range(4)])
    clusters = np.repeat(np.arange(4), 40)
    classes = np.resize(np.array(["<50K", ">50K", "$x"]), len(coords))
    errors = rng.random(len(coords)) < 0.3
    return coords, classes, errors, clusters


def _collections(ax) -> dict[str, object]:
    return {c.get_gid(): c for c in ax.collections if c.get_gid()}


def test_error_map_draws_every_row_once_with_hollow_squares_over_the_circles():
    from matplotlib.legend import Legend

    from toolkit.report.figures import (
        CLASS_LEGEND_TITLE,
        CORRECT_LABEL,
        ERROR_LABEL,
        error_map_axes,
        to_png_data_uri,
    )

    coords, classes, errors, clusters = _map_data()
    ax = error_map_axes(coords, classes, errors, clusters, outlined=[2, 0])
    drawn = _collections(ax)
    assert set(drawn) == {f"{kind}:{c}" for kind in ("correct", "error") for c in set(classes)}
    for c in set(classes):
        ok, bad = drawn[f"correct:{c}"], drawn[f"error:{c}"]
        assert len(ok.get_offsets()) == ((classes == c) & ~errors).sum()
        assert len(bad.get_offsets()) == ((classes == c) & errors).sum()
        np.testing.assert_allclose(bad.get_offsets(), coords[(classes == c) & errors])
        # hollow squares drawn after (over) every circle, so the circles stay visible
        assert len(bad.get_facecolors()) == 0 or (bad.get_facecolors()[:, 3] == 0).all()
        assert ax.collections.index(bad) > max(
            ax.collections.index(drawn[f"correct:{k}"]) for k in set(classes)
        )
        # one colour per true class, the same for both markers
        np.testing.assert_allclose(ok.get_facecolors()[0, :3], bad.get_edgecolors()[0, :3])
    colours = ax.get_legend()
    assert colours.get_title().get_text() == CLASS_LEGEND_TITLE == "colour: true class"
    # "$" escaped, so matplotlib shows it rather than starting math text
    assert [t.get_text() for t in colours.get_texts()] == [r"\$x", "<50K", ">50K"]
    markers = [a for a in ax.artists if isinstance(a, Legend)]
    assert len(markers) == 1
    assert [t.get_text() for t in markers[0].get_texts()] == [CORRECT_LABEL, ERROR_LABEL]
    # exactly the listed clusters are numbered and outlined, above every marker
    assert sorted(t.get_text() for t in ax.texts) == ["0", "2"]
    assert len(ax.lines) == 2
    top_marker = max(c.get_zorder() for c in ax.collections)
    assert all(line.get_zorder() > top_marker for line in ax.lines)
    assert all(t.get_zorder() > top_marker for t in ax.texts)
    two = next(t for t in ax.texts if t.get_text() == "2")
    assert np.linalg.norm(np.asarray(two.xy) - coords[clusters == 2].mean(axis=0)) < 1.5
    assert to_png_data_uri(ax).startswith("data:image/png;base64,")


def test_error_map_above_max_points_keeps_every_error():
    from toolkit.report.figures import error_map_axes, to_png_data_uri

    coords, classes, errors, clusters = _map_data()
    ax = error_map_axes(coords, classes, errors, clusters, max_points=100, outlined=[])
    drawn = _collections(ax)
    n_err = sum(len(c.get_offsets()) for g, c in drawn.items() if g.startswith("error:"))
    n_ok = sum(len(c.get_offsets()) for g, c in drawn.items() if g.startswith("correct:"))
    assert n_err == errors.sum() and n_ok == 100 - errors.sum()
    assert len(ax.texts) == 0 and len(ax.lines) == 0
    to_png_data_uri(ax)


def test_the_report_outlines_the_significant_clusters_and_says_what_colour_means(planted):
    from toolkit.report.views import VIEWS

    p, _, result = planted
    table = result.table
    fake = ErrorClusters(
        table.assign(significant=table["cluster"].isin([0, 2])), result.points, 0, 0
    )
    extra = VIEWS["clusters"](fake, None)
    assert extra["outlined"] == 2
    assert extra["not_worse"] == len(table) - 2
    d = tk.diagnose(p, sections=["metrics", "clusters"])
    html = d.to_html()
    worse = d.clusters.table[d.clusters.table["significant"]]
    assert "the colour is the <strong>true</strong> class" in html
    assert f"The {len(worse)} cluster" in html
    assert f"{len(d.clusters.table) - len(worse):,} other cluster" in html
    # the summary headlines the first listed cluster, with its numbers and its stability
    top = worse.iloc[0]
    assert (
        f"The most severe error cluster, cluster {top['cluster']}, holds {top['errors']} "
        f"errors in {top['n']} rows (error rate {top['error_rate']:.1%}"
    ) in html
    said = "It is stable (stability" if top["stable"] else "It is unstable (stability"
    assert f"{said} {top['stability']:.2f}" in html


# ---------------------------------------------------------------------- the summary
def _summary_of(table: pd.DataFrame, error_rate: float = 0.1) -> list[str]:
    """The summary's cluster sentence for a diagnosis whose only result is ``table``
    (the step itself: the other steps read sections other engineers keep adding)."""
    from types import SimpleNamespace

    from toolkit.report import summary

    points = pd.DataFrame({"cluster": np.zeros(int(table["n"].sum()), dtype=int)})
    d = SimpleNamespace(
        clusters=ErrorClusters(table, points, 0, 0), meta={"error_rate": error_rate}
    )
    return [summary._clusters(d)]


def _hand_table(stable: list, stability: list, significant: list) -> pd.DataFrame:
    n = np.array([200, 300, 400])
    e = np.array([120, 90, 40])
    low, high = wilson_interval(e, n)
    return pd.DataFrame(
        {
            "cluster": [0, 1, 2],
            "n": n,
            "errors": e,
            "error_rate": e / n,
            "ci_low": low,
            "ci_high": high,
            "excess_pp": [9.87, 4.56, 0.12],
            "description": ["age ≤ 25 (precision 0.90, recall 0.80)", "no rule", "no rule"],
            "significant": significant,
            "stability": stability,
            "stable": pd.Series(stable, dtype=object),
        }
    )


def test_the_summary_never_headlines_an_unstable_cluster_without_saying_so():
    table = _hand_table([False, True, True], [0.24, 0.91, 0.8], [True, True, False])
    (sentence,) = _summary_of(table, error_rate=0.125)
    top, other = table.iloc[0], table.iloc[1]
    assert sentence.startswith(
        f"The most severe error cluster, cluster 0, holds {top['errors']} errors in "
        f"{top['n']} rows (error rate {top['error_rate']:.1%}, 95% CI "
        f"{top['ci_low']:.1%}–{top['ci_high']:.1%}, against 12.5% overall; 9.9 points "
        "beyond the rest's rate); age ≤ 25 (precision 0.90, recall 0.80)."
    )
    assert "It is unstable (stability 0.24, below 0.75" in sentence
    assert (
        f"The most severe stable one, cluster 1, holds {other['errors']} errors in "
        f"{other['n']} rows (error rate {other['error_rate']:.1%}, stability 0.91)."
    ) in sentence
    # stable: said so, and nothing about another cluster
    table = _hand_table([True, True, True], [0.93, 0.91, 0.8], [True, True, False])
    (sentence,) = _summary_of(table)
    assert sentence.endswith("It is stable (stability 0.93 over re-runs).")
    assert "cluster 1" not in sentence
    # not checked: said so
    table = _hand_table([None] * 3, [np.nan] * 3, [True, False, False])
    (sentence,) = _summary_of(table)
    assert sentence.endswith("Its stability was not checked.")
    # no cluster worse than the rest: nothing is headlined
    table = _hand_table([True] * 3, [0.9] * 3, [False] * 3)
    assert _summary_of(table) == [
        "None of the 3 error clusters is significantly worse than the rest."
    ]


# ---------------------------------------------------------------------- umap's compiled code
def test_umap_compiled_code_is_kept_on_disk_for_the_next_process():
    """umap-learn declares only ``rdist`` with numba's on-disk cache; ``import_umap`` turns
    it on for the rest, so a new process loads the optimisation instead of compiling it."""
    from toolkit.analysis._cluster_embed import _fit_umap, _knn, import_umap

    umap = import_umap()
    X = np.random.default_rng(0).normal(size=(60, 4))
    _fit_umap(X, _knn(X, 8)[1], 2, 0.1, 0)
    # the optimisation step (toolkit's nogil build of it) and one of umap's own functions
    for fn in (umap.layouts._nb_optimize_layout_euclidean_single_epoch, umap.umap_.smooth_knn_dist):
        stats = fn.stats
        assert stats.cache_path is not None  # None: numba's NullCache, nothing kept
        # compiled here and written (a miss) or read from an earlier process (a hit)
        assert sum(stats.cache_hits.values()) + sum(stats.cache_misses.values()) >= 1
        name = fn.py_func.__qualname__
        kept = [f for f in os.listdir(stats.cache_path) if f".{name}-" in f]
        assert any(f.endswith(".nbi") for f in kept) and any(f.endswith(".nbc") for f in kept)


NOTEBOOK_IMPORT = """
import sys, types, warnings
# what tqdm.autonotebook sees inside a Jupyter kernel without ipywidgets
shell = type("ZMQInteractiveShell", (), {})()
sys.modules["ipykernel"] = types.ModuleType("ipykernel")
sys.modules["ipykernel.zmqshell"] = types.ModuleType("ipykernel.zmqshell")
ipython = types.ModuleType("IPython")
ipython.get_ipython = lambda: shell
sys.modules["IPython"] = ipython
from tqdm.std import TqdmWarning
with warnings.catch_warnings(record=True) as ours:
    warnings.simplefilter("always")
    from toolkit.analysis._cluster_embed import import_umap
    import_umap()
for name in [m for m in sys.modules if m.startswith("tqdm.auto")]:
    del sys.modules[name]
with warnings.catch_warnings(record=True) as plain:
    warnings.simplefilter("always")
    import tqdm.auto
print(sum(issubclass(w.category, TqdmWarning) for w in ours),
      sum(issubclass(w.category, TqdmWarning) for w in plain))
"""


def test_no_tqdm_warning_under_a_notebook_cell():
    """In a Jupyter kernel without ipywidgets, ``import umap`` makes tqdm warn; the cell
    that runs ``diagnose`` must not show it (the same import outside toolkit does)."""
    done = subprocess.run(
        [sys.executable, "-c", NOTEBOOK_IMPORT], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "1"]


def test_fits_side_by_side_give_what_fits_one_after_the_other_give(planted, monkeypatch):
    """The UMAP fits run two at a time in threads when umap's step releases the GIL; the
    seeded result must not depend on it (map, clusters, stability)."""
    from toolkit.analysis import _cluster_embed

    _cluster_embed.import_umap()
    assert _cluster_embed._UMAP_STATE["releases_gil"]  # umap-learn as pinned: the step exists
    p, _, together = planted  # fitted with n_bootstrap=3, random_state=0, side by side
    monkeypatch.setitem(_cluster_embed._UMAP_STATE, "releases_gil", False)
    apart = tk.cluster_errors(p, n_bootstrap=3, random_state=0)
    assert np.array_equal(together.labels, apart.labels)
    assert np.array_equal(together.figure_data()["x"], apart.figure_data()["x"])
    pd.testing.assert_series_equal(together.table["stability"], apart.table["stability"])


def test_without_a_folder_numba_may_write_to_umap_still_runs(monkeypatch):
    """numba raises when no cache folder is writable; toolkit then compiles in memory."""
    import types

    import numba
    from numba.core.dispatcher import Dispatcher

    from toolkit.analysis import _cluster_embed
    from toolkit.analysis._cluster_embed import _cache_compiled, _fit_umap, _knn, _release_gil

    umap = _cluster_embed.import_umap()
    # put toolkit's cached build back after the test
    monkeypatch.setattr(
        umap.layouts,
        "_nb_optimize_layout_euclidean_single_epoch",
        umap.layouts._nb_optimize_layout_euclidean_single_epoch,
    )
    package = types.ModuleType("toolkit_test_jitted")
    package.double = numba.njit(lambda x: 2 * x)
    monkeypatch.setitem(sys.modules, "toolkit_test_jitted", package)

    def refuse(self):
        raise RuntimeError("cannot cache function 'f': no locator available for file 'f.py'")

    monkeypatch.setattr(Dispatcher, "enable_caching", refuse)
    assert _cache_compiled("toolkit_test_jitted") == 0
    assert package.double(3) == 6
    assert _release_gil(umap) is True
    step = umap.layouts._nb_optimize_layout_euclidean_single_epoch
    assert step.stats.cache_path is None and step.targetoptions["nogil"] is True
    X = np.random.default_rng(0).normal(size=(60, 4))
    assert _fit_umap(X, _knn(X, 8)[1], 2, 0.1, 0).shape == (60, 2)
