"""What to label next: labeling_queue (a LabelingQueue), LabelingPool, relabel_queue and
annotation_frame.

Every expected order and score is computed by hand (or by an independent formula) from
probabilities small enough to read.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import toolkit as tk
from toolkit._json import frame_records
from toolkit.analysis.labeling import (
    QUEUE_COLUMNS,
    STRATEGIES,
    LabelingPool,
    LabelingQueue,
    annotation_frame,
    labeling_queue,
    relabel_queue,
)
from toolkit.exceptions import (
    ColumnNotFoundError,
    DuplicateIdError,
    EmptyInputError,
    InvalidProbabilityError,
    InvalidValueError,
    LengthMismatchError,
    NotApplicableError,
    ToolkitTypeError,
    ValidationError,
)

PROBA = np.array(
    [
        [0.9, 0.1],  # margin 0.80
        [0.55, 0.45],  # margin 0.10
        [0.3, 0.7],  # margin 0.40
        [0.5, 0.5],  # margin 0.00
        [0.62, 0.38],  # margin 0.24
    ]
)


# ---------------------------------------------------------------- uncertainty strategies
def test_margin_picks_the_rows_closest_to_the_threshold_by_hand():
    q = labeling_queue(PROBA, budget=3, classes=["<=50K", ">50K"]).table
    assert list(q.columns) == QUEUE_COLUMNS
    assert q["id"].tolist() == [3, 1, 4]
    assert q["rank"].tolist() == [1, 2, 3]
    np.testing.assert_allclose(q["score"], [1.0, 0.9, 0.76])
    assert q["reason"].tolist() == [
        "margin 0.00 between '<=50K' and '>50K'",
        "margin 0.10 between '<=50K' and '>50K'",
        "margin 0.24 between '<=50K' and '>50K'",
    ]
    # the reason names the more likely class first
    q2 = labeling_queue(PROBA[[2]], budget=1, classes=["<=50K", ">50K"]).table
    assert q2["reason"][0] == "margin 0.40 between '>50K' and '<=50K'"


#: Positive-class probabilities of a binary pool, ids 0-4 (issue 18).
NEAR = np.array([0.1, 0.28, 0.31, 0.5, 0.9])


def binary_pool(positive=NEAR):
    return np.column_stack([1 - positive, positive])


def test_margin_measures_the_distance_to_a_given_threshold_by_hand():
    # |p - 0.3| = 0.2, 0.02, 0.01, 0.2, 0.6: rows 2 and 1 first, then the tie 0, 3 by id
    q = labeling_queue(binary_pool(), budget=5, classes=["no", "yes"], threshold=0.3)
    assert q.table["id"].tolist() == [2, 1, 0, 3, 4]
    # score 1 - |p - t| / max(t, 1 - t), here / 0.7
    np.testing.assert_allclose(
        q.table["score"],
        [1 - 0.01 / 0.7, 1 - 0.02 / 0.7, 1 - 0.2 / 0.7, 1 - 0.2 / 0.7, 1 - 0.6 / 0.7],
    )
    assert q.table["reason"].tolist()[:2] == [
        "p('yes') = 0.31, 0.01 from the threshold 0.3",
        "p('yes') = 0.28, 0.02 from the threshold 0.3",
    ]
    assert q.threshold == 0.3 and q.meta["threshold"] == 0.3
    # the default (None) is today's margin, unchanged: row 3 (0.5) first
    default = labeling_queue(binary_pool(), budget=5, classes=["no", "yes"])
    assert default.table["id"].tolist() == [3, 2, 1, 0, 4]
    assert default.table["reason"][0] == "margin 0.00 between 'no' and 'yes'"
    assert default.threshold is None
    # 0.5 ranks and scores as the margin does (only the reasons differ)
    half = labeling_queue(binary_pool(), budget=5, threshold=0.5).table
    assert half["id"].tolist() == default.table["id"].tolist()
    np.testing.assert_allclose(half["score"], default.table["score"])


def test_hybrid_measures_its_margin_to_the_threshold_by_hand():
    proba, pool_x, labeled = two_blobs()  # p(1): blob A 0.50 .. 0.45, blob B 0.35 .. 0.30
    kwargs = {"embeddings": pool_x, "labeled": labeled, "n_neighbors": 3, "n_clusters": 2}
    q = labeling_queue(proba, budget=4, strategy="hybrid", threshold=0.3, **kwargs)
    # score (1 - |p - 0.3| / 0.7) / 2 + share of neighbours wrong / 2 (A: 2 of 3, B: 1 of 3);
    # the rows of each blob nearest 0.3 now lead it: 5 and 4 in A, 11 and 10 in B
    assert q.table["id"].tolist() == [5, 11, 4, 10]
    np.testing.assert_allclose(
        q.table["score"],
        [
            (1 - 0.15 / 0.7) / 2 + 1 / 3,
            1 / 2 + 1 / 6,
            (1 - 0.16 / 0.7) / 2 + 1 / 3,
            (1 - 0.01 / 0.7) / 2 + 1 / 6,
        ],
    )
    assert q.table["reason"][1].startswith("p(1) = 0.30, 0.00 from the threshold 0.3; 1 of 3")
    assert q.threshold == 0.3


def test_a_threshold_is_refused_where_it_means_nothing():
    with pytest.raises(
        ValidationError,
        match=r"threshold applies to the strategies \['margin', "
        r"'hybrid'\].*'entropy' does not use it",
    ):
        labeling_queue(binary_pool(), strategy="entropy", threshold=0.3)
    three = np.array([[0.2, 0.3, 0.5], [0.1, 0.1, 0.8]])
    with pytest.raises(ValidationError, match="threshold needs a binary pool .* 3 classes"):
        labeling_queue(three, threshold=0.3)
    with pytest.raises(InvalidValueError, match=r"threshold must be a number in \[0, 1\] or None"):
        labeling_queue(binary_pool(), threshold=1.5)
    with pytest.raises(ToolkitTypeError, match="threshold must be a number"):
        labeling_queue(binary_pool(), threshold="0.3")


# ------------------------------------------------ diagnose: the threshold of the costs
def _scored_binary() -> tk.Predictions:
    # scores .1 .2 .3 .4 .6 | .35 .45 .7 .8 .9 (labels 0 | 1): with FP cost 1 and FN cost 5
    # the least cost is at 0.35 (2 false positives, no false negative: cost 2)
    proba = [0.1, 0.2, 0.3, 0.4, 0.6, 0.35, 0.45, 0.7, 0.8, 0.9]
    return tk.Predictions([0] * 5 + [1] * 5, proba=proba)


def test_diagnose_ranks_the_queue_by_the_threshold_the_costs_chose():
    p = _scored_binary()
    sections = ["thresholds", "labeling_queue"]
    pool = {"pool": binary_pool(), "budget": 5}
    d = tk.diagnose(p, pool=pool, cost=[[0, 1], [5, 0]], sections=sections)
    assert d.thresholds.threshold == 0.35
    # |p - 0.35| = 0.25, 0.07, 0.04, 0.15, 0.55
    assert d.labeling_queue.table["id"].tolist() == [2, 1, 3, 0, 4]
    assert d.labeling_queue.threshold == 0.35
    assert d.labeling_queue.table["reason"][0] == "p(1) = 0.31, 0.04 from the threshold 0.35"
    data = json.loads(d.to_json())
    assert data["meta"]["labeling_queue_threshold"] == 0.35
    assert data["labeling_queue"][0]["reason"].endswith("from the threshold 0.35")
    # no cost or metric: the thresholds section maximises F1, the queue keeps the margin
    plain = tk.diagnose(p, pool=pool, sections=sections)
    assert plain.labeling_queue.table["id"].tolist() == [3, 2, 1, 0, 4]
    assert json.loads(plain.to_json())["meta"]["labeling_queue_threshold"] is None

    # a business metric's threshold is used the same way
    def recall_first(y_true, y_pred):
        return float(np.mean(y_pred[np.asarray(y_true) == 1] == 1)) - 0.01 * np.mean(y_pred == 1)

    d2 = tk.diagnose(p, pool=pool, business_metric=recall_first, sections=sections)
    assert d2.labeling_queue.threshold == d2.thresholds.threshold
    # without the thresholds section, or with a strategy that ignores it, nothing changes
    alone = tk.diagnose(p, pool=pool, cost=[[0, 1], [5, 0]], sections=["labeling_queue"])
    assert alone.labeling_queue.threshold is None
    entropy = tk.diagnose(
        p, pool={**pool, "strategy": "entropy"}, cost=[[0, 1], [5, 0]], sections=sections
    )
    assert entropy.labeling_queue.threshold is None
    # a threshold given with the pool wins over the chosen one
    given = tk.diagnose(
        p, pool={**pool, "threshold": 0.3}, cost=[[0, 1], [5, 0]], sections=sections
    )
    assert given.labeling_queue.threshold == 0.3
    assert given.labeling_queue.table["id"].tolist()[:2] == [2, 1]


def test_least_confidence_and_entropy_by_hand():
    proba = np.array([[0.6, 0.3, 0.1], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0.0], [1.0, 0.0, 0.0]])
    lc = labeling_queue(proba, budget=4, strategy="least_confidence", classes=["a", "b", "c"]).table
    assert lc["id"].tolist() == [1, 2, 0, 3]
    np.testing.assert_allclose(lc["score"], [2 / 3, 0.5, 0.4, 0.0])
    assert lc["reason"][2] == "top class 'a' has probability 0.60"
    ent = labeling_queue(proba, budget=4, strategy="entropy", classes=["a", "b", "c"]).table
    h = -(0.6 * np.log(0.6) + 0.3 * np.log(0.3) + 0.1 * np.log(0.1)) / np.log(3)
    expected = {1: 1.0, 0: h, 2: np.log(2) / np.log(3), 3: 0.0}  # 0 log 0 = 0
    assert ent["id"].tolist() == sorted(expected, key=lambda i: -expected[i])
    np.testing.assert_allclose(ent["score"], sorted(expected.values(), reverse=True))
    assert ent["reason"][0] == "entropy 1.00 of the maximum (top 'a' 0.33)"


def test_ties_are_broken_by_id_whatever_the_row_order():
    proba = np.array([[0.5, 0.5]] * 3 + [[0.7, 0.3]] * 2)
    ids = np.array(["d", "b", "e", "a", "c"])
    q = labeling_queue(proba, budget=5, ids=ids).table
    assert q["id"].tolist() == ["b", "d", "e", "a", "c"]
    perm = np.array([4, 2, 0, 3, 1])
    q_perm = labeling_queue(proba[perm], budget=5, ids=ids[perm]).table
    pd.testing.assert_frame_equal(q, q_perm)
    # float noise in the last bits is not a tie-break: 0.1 + 0.2 vs 0.3
    close = np.array([[0.7, 0.1 + 0.2], [0.7, 0.3]])
    assert labeling_queue(close, budget=2, ids=[9, 1]).table["id"].tolist() == [1, 9]


def test_budget_larger_than_the_pool_returns_every_row_once():
    q = labeling_queue(PROBA, budget=100).table
    assert sorted(q["id"]) == [0, 1, 2, 3, 4]
    assert q["rank"].tolist() == [1, 2, 3, 4, 5]


def test_same_queue_for_list_ndarray_dataframe_and_predictions_inputs():
    expected = labeling_queue(PROBA, budget=4, classes=["no", "yes"], ids=[5, 6, 7, 8, 9]).table
    as_list = labeling_queue(
        PROBA.tolist(), budget=4, classes=["no", "yes"], ids=[5, 6, 7, 8, 9]
    ).table
    frame = pd.DataFrame(PROBA, columns=["no", "yes"])
    as_frame = labeling_queue(frame, budget=4, ids=pd.Series([5, 6, 7, 8, 9])).table
    # a Predictions is used without its labels: any labels give the same queue
    p = tk.Predictions(["no"] * 5, proba=PROBA, classes=["no", "yes"], ids=[5, 6, 7, 8, 9])
    p2 = tk.Predictions(["yes"] * 5, proba=PROBA, classes=["no", "yes"], ids=[5, 6, 7, 8, 9])
    for other in (
        as_list,
        as_frame,
        labeling_queue(p, budget=4).table,
        labeling_queue(p2, budget=4).table,
    ):
        pd.testing.assert_frame_equal(other, expected)


def test_inputs_are_not_mutated():
    proba = PROBA.copy()
    frame = pd.DataFrame(PROBA, columns=["a", "b"])
    emb = np.arange(10.0).reshape(5, 2)
    features = pd.DataFrame({"x": [1.0, 2, 3, 4, 5]})
    labeled = tk.Predictions([0, 1, 0, 1], [0, 0, 0, 1], embeddings=np.arange(8.0).reshape(4, 2))
    labeled_emb = labeled.embeddings.copy()
    copies = proba.copy(), frame.copy(), emb.copy(), features.copy()
    labeling_queue(frame, budget=3)
    for strategy in STRATEGIES:
        labeling_queue(
            proba,
            budget=3,
            strategy=strategy,
            embeddings=emb,
            features=features,
            labeled=labeled,
            n_neighbors=2,
        )
    np.testing.assert_array_equal(proba, copies[0])
    pd.testing.assert_frame_equal(frame, copies[1])
    np.testing.assert_array_equal(emb, copies[2])
    pd.testing.assert_frame_equal(features, copies[3])
    np.testing.assert_array_equal(labeled.embeddings, labeled_emb)


def test_queue_result_records_how_it_was_made_and_has_a_json_form():
    q = labeling_queue(PROBA, budget=3, classes=["<=50K", ">50K"])
    assert isinstance(q, LabelingQueue) and len(q) == 3
    assert q.meta == {
        "strategy": "margin",
        "budget": 3,
        "pool_size": 5,
        "n_neighbors": None,
        "n_clusters": None,
        "threshold": None,
    }
    as_dict = q.to_dict()
    assert as_dict["table"][0] == {
        "id": 3,
        "rank": 1,
        "score": 1.0,
        "reason": "margin 0.00 between '<=50K' and '>50K'",
    }
    assert as_dict["table"] == frame_records(q.table)
    assert json.loads(json.dumps(as_dict)) == as_dict
    assert repr(q) == (
        "LabelingQueue(3 rows, strategy='margin', budget=3, pool_size=5, n_neighbors=None, "
        "n_clusters=None, threshold=None)"
    )
    assert "<b>LabelingQueue</b>" in q._repr_html_()
    with pytest.raises(dataclasses.FrozenInstanceError):
        q.budget = 4
    # identity equality (comparing tables has no single truth value) and hashable
    assert q == q and q != labeling_queue(PROBA, budget=3, classes=["<=50K", ">50K"])
    assert len({q, q}) == 1
    # budget above the pool: the budget asked for is kept, the table has the pool
    big = labeling_queue(PROBA, budget=100, strategy="entropy")
    assert (big.strategy, big.budget, big.pool_size, len(big)) == ("entropy", 100, 5, 5)


# ---------------------------------------------------------------- error neighbourhood
def line_labeled() -> tk.Predictions:
    # six labeled points on a line; the model is wrong at x = 0, 1 and 12
    x = np.array([[0.0], [1.0], [2.0], [10.0], [11.0], [12.0]])
    y_true = ["a", "a", "b", "b", "a", "b"]
    y_pred = ["b", "b", "b", "b", "a", "a"]
    return tk.Predictions(y_true, y_pred, embeddings=x)


def test_error_neighbourhood_by_hand():
    pool_x = np.array([[1.1], [11.1], [6.4]])
    proba = np.array([[0.9, 0.1], [0.5, 0.5], [0.8, 0.2]])
    q = labeling_queue(
        proba,
        budget=3,
        strategy="error_neighbourhood",
        embeddings=pool_x,
        labeled=line_labeled(),
        n_neighbors=3,
        classes=["a", "b"],
    ).table
    # 1.1: neighbours x = 0, 1, 2 -> 2 wrong; 11.1: 10, 11, 12 -> 1 wrong;
    # 6.4: 10 (3.6 away), 2 (4.4), 11 (4.6) -> none wrong
    assert q["id"].tolist() == [0, 1, 2]
    np.testing.assert_allclose(q["score"], [2 / 3, 1 / 3, 0.0])
    assert q["reason"].tolist() == [
        "2 of 3 labeled neighbours misclassified",
        "1 of 3 labeled neighbours misclassified",
        "0 of 3 labeled neighbours misclassified",
    ]
    # more neighbours than labeled rows: all six are used
    q6 = labeling_queue(
        proba, budget=1, strategy="error_neighbourhood", embeddings=pool_x, labeled=line_labeled()
    )
    assert q6.table["reason"][0] == "3 of 6 labeled neighbours misclassified"
    assert (q6.strategy, q6.n_neighbors, q6.n_clusters, q6.pool_size) == (
        "error_neighbourhood",
        6,
        None,
        3,
    )


def test_features_are_standardised_with_the_labeled_rows():
    rng = np.random.default_rng(0)
    lab_feats = pd.DataFrame({"small": rng.normal(size=40), "big": 1000 * rng.normal(size=40)})
    pool_feats = pd.DataFrame({"small": rng.normal(size=15), "big": 1000 * rng.normal(size=15)})
    y = rng.integers(0, 2, 40)
    labeled = tk.Predictions(y, np.where(rng.random(40) < 0.3, 1 - y, y), features=lab_feats)
    proba = rng.dirichlet([1, 1], 15)
    by_features = labeling_queue(
        proba, budget=15, strategy="error_neighbourhood", features=pool_feats, labeled=labeled
    ).table
    mean, std = lab_feats.mean().to_numpy(), lab_feats.std(ddof=0).to_numpy()
    labeled_z = tk.Predictions(
        labeled.y_true, labeled.y_pred, embeddings=(lab_feats.to_numpy() - mean) / std
    )
    by_embeddings = labeling_queue(
        proba,
        budget=15,
        strategy="error_neighbourhood",
        embeddings=(pool_feats.to_numpy() - mean) / std,
        labeled=labeled_z,
    ).table
    pd.testing.assert_frame_equal(by_features, by_embeddings)


def two_blobs():
    """Pool: blob A (ids 0-5) near x=0 is uncertain and near errors; blob B (ids 6-11) less."""
    pool_x = np.r_[np.linspace(0, 0.5, 6), np.linspace(100, 100.5, 6)].reshape(-1, 1)
    margin_a = np.array([0.0, 0.02, 0.04, 0.06, 0.08, 0.10])
    margin_b = np.array([0.30, 0.32, 0.34, 0.36, 0.38, 0.40])
    top = (1 + np.r_[margin_a, margin_b]) / 2
    proba = np.column_stack([top, 1 - top])
    lab_x = np.array([[0.1], [0.2], [0.3], [100.1], [100.2], [100.3]])
    labeled = tk.Predictions([0, 0, 0, 1, 1, 1], [1, 1, 0, 1, 1, 0], embeddings=lab_x)
    return proba, pool_x, labeled


def test_hybrid_spreads_the_batch_across_clusters():
    proba, pool_x, labeled = two_blobs()
    margin = labeling_queue(proba, budget=4).table
    assert set(margin["id"]) <= set(range(6))  # margin alone: all from blob A
    q = labeling_queue(
        proba,
        budget=4,
        strategy="hybrid",
        embeddings=pool_x,
        labeled=labeled,
        n_neighbors=3,
        n_clusters=2,
    ).table
    # score = (1 - margin) / 2 + (share of 3 neighbours wrong) / 2: 2 of 3 in blob A, 1 of 3
    # in blob B; round-robin: best of A, best of B, second of A, second of B
    assert q["id"].tolist() == [0, 6, 1, 7]
    np.testing.assert_allclose(q["score"], [0.5 + 1 / 3, 0.35 + 1 / 6, 0.49 + 1 / 3, 0.34 + 1 / 6])
    assert q["reason"][1].startswith(
        "margin 0.30 between 0 and 1; 1 of 3 labeled neighbours misclassified; cluster "
    )
    clusters = q["reason"].str.extract(r"cluster (\d) of 2$")[0]
    assert clusters[0] == clusters[2] != clusters[1] == clusters[3]
    # same inputs and random_state: same queue
    result = labeling_queue(
        proba, budget=4, strategy="hybrid", embeddings=pool_x, labeled=labeled, n_neighbors=3
    )
    # default clusters: min(budget, max(2, 2 * n_classes)) = 4
    assert (result.strategy, result.n_neighbors, result.n_clusters) == ("hybrid", 3, 4)
    again = labeling_queue(
        proba,
        budget=4,
        strategy="hybrid",
        embeddings=pool_x,
        labeled=labeled,
        n_neighbors=3,
        n_clusters=2,
    ).table
    pd.testing.assert_frame_equal(q, again)


def test_embeddings_next_to_a_pool_object_replace_its_own():
    proba, pool_x, labeled = two_blobs()
    pool = LabelingPool.from_arrays(proba, embeddings=np.zeros_like(pool_x))
    kwargs = {"budget": 12, "strategy": "error_neighbourhood", "labeled": labeled}
    replaced = labeling_queue(pool, embeddings=pool_x, n_neighbors=3, **kwargs).table
    direct = labeling_queue(proba, embeddings=pool_x, n_neighbors=3, **kwargs).table
    pd.testing.assert_frame_equal(replaced, direct)


# ---------------------------------------------------------------- validation
def test_queue_options_are_validated():
    with pytest.raises(InvalidValueError, match="strategy must be one of 'margin', .*got 'random'"):
        labeling_queue(PROBA, strategy="random")
    with pytest.raises(InvalidValueError, match=r"budget must be an int in \[1, inf\), got 0"):
        labeling_queue(PROBA, budget=0)
    for bad in (True, 2.5, "5"):
        with pytest.raises(ToolkitTypeError, match=r"labeling_queue: budget must be an int in"):
            labeling_queue(PROBA, budget=bad)
    with pytest.raises(InvalidValueError, match=r"n_neighbors must be an int in \[1, inf\), got 0"):
        labeling_queue(PROBA, n_neighbors=0)
    with pytest.raises(ToolkitTypeError, match="n_neighbors must be an int .*got True"):
        labeling_queue(PROBA, n_neighbors=True)
    with pytest.raises(ToolkitTypeError, match="random_state must be an int .*got 0.5"):
        labeling_queue(PROBA, random_state=0.5)
    with pytest.raises(ToolkitTypeError, match="pool must be .*got 'p_\\*'"):
        labeling_queue("p_*")
    proba, pool_x, labeled = two_blobs()
    with pytest.raises(InvalidValueError, match=r"n_clusters must be an int in \[1, inf\) or None"):
        labeling_queue(proba, strategy="hybrid", embeddings=pool_x, labeled=labeled, n_clusters=0)
    for strategy in ("error_neighbourhood", "hybrid"):
        with pytest.raises(ValidationError, match=f"strategy '{strategy}' needs labeled="):
            labeling_queue(proba, strategy=strategy, embeddings=pool_x)


def test_representations_must_match():
    proba, pool_x, labeled = two_blobs()
    en = {"strategy": "error_neighbourhood"}
    with pytest.raises(ToolkitTypeError, match=r"labeled must be a toolkit.Predictions or None"):
        labeling_queue(proba, embeddings=pool_x, labeled=np.zeros(3), **en)
    bare = tk.Predictions([0, 1], [0, 0])
    with pytest.raises(ValidationError, match="the pool has embeddings but labeled has none"):
        labeling_queue(proba, embeddings=pool_x, labeled=bare, **en)
    wide = tk.Predictions([0, 1], [0, 0], embeddings=np.zeros((2, 3)))
    with pytest.raises(ValidationError, match="embeddings have 1 dimensions but labeled's have 3"):
        labeling_queue(proba, embeddings=pool_x, labeled=wide, **en)
    with pytest.raises(ValidationError, match="need embeddings or numeric features on the pool"):
        labeling_queue(proba, labeled=labeled, **en)
    feats = pd.DataFrame({"x": np.arange(12.0), "c": ["u"] * 12})
    with pytest.raises(ValidationError, match="the pool has features but labeled has none"):
        labeling_queue(proba, features=feats, labeled=labeled, **en)
    lab_x = tk.Predictions([0, 1], [0, 0], features=pd.DataFrame({"x": [0.0, 1.0]}))
    with pytest.raises(ColumnNotFoundError, match=r"labeled has no feature column\(s\) \['c'\]"):
        labeling_queue(proba, features=feats, labeled=lab_x, **en)
    lab_xc = tk.Predictions([0, 1], [0, 0], features=pd.DataFrame({"x": [0.0, 1], "c": ["u", "w"]}))
    with pytest.raises(ToolkitTypeError, match=r"\['c'\] are not numeric"):
        labeling_queue(proba, features=feats, labeled=lab_xc, **en)
    gap = pd.DataFrame({"x": [np.nan] + list(np.arange(11.0))})
    with pytest.raises(ValidationError, match="features have missing values"):
        labeling_queue(proba, features=gap, labeled=lab_x, **en)


def test_pool_validation_messages():
    ok = [[0.5, 0.5], [0.2, 0.8]]
    cases = [
        ([["a", "b"]], {}, ToolkitTypeError, "proba must be numeric"),
        ([0.5, 0.5], {}, InvalidProbabilityError, r"must be 2-D .* got shape \(2,\)"),
        (np.zeros((0, 2)), {}, EmptyInputError, "the pool is empty"),
        ([[1.0], [1.0]], {}, InvalidProbabilityError, "at least 2 columns, got 1"),
        ([[np.nan, 1.0], [0.5, 0.5]], {}, InvalidValueError, r"NaN .* in 1 row\(s\): \[0\]"),
        ([[1.5, -0.5], [0.5, 0.5]], {}, InvalidProbabilityError, r"outside \[0, 1\] in 1 row"),
        ([[0.5, 0.4], [0.5, 0.5]], {}, InvalidProbabilityError, r"rows \[0\] sum to \[0.9\]"),
        (ok, {"classes": ["a", "b", "c"]}, InvalidProbabilityError, "2 columns but 3 classes"),
        (ok, {"ids": [1]}, LengthMismatchError, "ids has 1 rows but proba has 2"),
        (ok, {"ids": [1, None]}, InvalidValueError, r"ids has 1 missing value\(s\) at rows \[1\]"),
        (ok, {"ids": ["x", "x"]}, DuplicateIdError, r"1 value\(s\) repeat: \['x'\]"),
        (ok, {"embeddings": [["a"], ["b"]]}, ToolkitTypeError, "embeddings must be numeric"),
        (
            ok,
            {"embeddings": [1.0, 2.0]},
            ValidationError,
            r"embeddings must be 2-D, got shape \(2,\)",
        ),
        (ok, {"embeddings": [[1.0]]}, LengthMismatchError, "embeddings has 1 rows but proba has 2"),
        (ok, {"embeddings": [[np.inf], [0]]}, InvalidValueError, "embeddings has NaN or infinite"),
        (ok, {"features": [[1.0]]}, LengthMismatchError, "features has 1 rows but proba has 2"),
        (ok, {"features": {"a": [1, 2]}}, ToolkitTypeError, "features must be array-like or None"),
        (ok, {"classes": "ab"}, ToolkitTypeError, "classes must be array-like or None, got 'ab'"),
    ]
    for proba, kwargs, error, message in cases:
        with pytest.raises(error, match=message):
            LabelingPool.from_arrays(proba, **kwargs)
        with pytest.raises(error, match=message):
            labeling_queue(proba, **kwargs)


def test_pool_objects_refuse_extra_arrays_and_regression():
    pool = LabelingPool.from_arrays(PROBA)
    with pytest.raises(ValidationError, match=r"\['classes', 'ids'\] can only be given with"):
        labeling_queue(pool, classes=["a", "b"], ids=[1, 2, 3, 4, 5])
    reg = tk.Predictions([1.5, 2.5], [1.0, 2.0])
    with pytest.raises(NotApplicableError, match="a labeling queue needs class probabilities"):
        labeling_queue(reg)


def test_pool_arrays_are_read_only_copies():
    proba = PROBA.copy()
    pool = LabelingPool.from_arrays(proba, ids=np.arange(5) + 10)
    proba[0] = [0.0, 1.0]
    assert pool.proba[0].tolist() == [0.9, 0.1]
    with pytest.raises(ValueError, match="read-only"):
        pool.proba[0, 0] = 0.5


# ---------------------------------------------------------------- from_frame, annotation
def adult_like() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "row": ["r1", "r2", "r3", "r4"],
            "age": [25, 38, 52, 41],
            "p_<=50K": [0.9, 0.515, 0.3, 0.6],
            "p_>50K": [0.1, 0.485, 0.7, 0.4],
            "e_0": [0.0, 1.0, 2.0, 3.0],
            "e_1": [1.0, 1.0, 0.0, 0.0],
        }
    )


def test_from_frame_reads_classes_from_the_glob_and_ids_from_a_column():
    df = adult_like()
    before = df.copy()
    pool = LabelingPool.from_frame(df, id="row", embeddings="e_*", features=["age"])
    assert pool.classes.tolist() == ["<=50K", ">50K"]
    assert pool.ids.tolist() == ["r1", "r2", "r3", "r4"]
    np.testing.assert_array_equal(pool.embeddings, df[["e_0", "e_1"]].to_numpy())
    assert pool.features.columns.tolist() == ["age"]
    q = labeling_queue(pool, budget=2).table
    assert q["id"].tolist() == ["r2", "r4"]
    assert q["reason"][0] == "margin 0.03 between '<=50K' and '>50K'"
    listed = LabelingPool.from_frame(df, proba=["p_>50K", "p_<=50K"])
    assert listed.classes.tolist() == ["p_>50K", "p_<=50K"]
    assert listed.ids.tolist() == [0, 1, 2, 3]
    assert LabelingPool.from_frame(df, features=[]).features is None
    pd.testing.assert_frame_equal(df, before)


def test_from_frame_validation():
    df = adult_like()
    with pytest.raises(ToolkitTypeError, match="from_frame: df must be a DataFrame, got"):
        LabelingPool.from_frame({"p_a": [1.0]})
    with pytest.raises(ToolkitTypeError, match="features must be a list of str or None, got 'age'"):
        LabelingPool.from_frame(df, features="age")
    with pytest.raises(ToolkitTypeError, match="from_predictions: p must be a toolkit.Predictions"):
        LabelingPool.from_predictions(PROBA)
    with pytest.raises(ColumnNotFoundError, match="no proba columns match 'q_\\*'"):
        LabelingPool.from_frame(df, proba="q_*")
    with pytest.raises(ColumnNotFoundError, match="id column 'key' not found"):
        LabelingPool.from_frame(df, id="key")
    with pytest.raises(ColumnNotFoundError, match=r"features column\(s\) \['height'\] not found"):
        LabelingPool.from_frame(df, features=["height"])
    with pytest.raises(ColumnNotFoundError, match="no embeddings columns match 'z_\\*'"):
        LabelingPool.from_frame(df, embeddings="z_*")
    with pytest.raises(ToolkitTypeError, match=r"proba columns must be numeric, but \['p_x'\]"):
        LabelingPool.from_frame(df.assign(p_x="no"))


def test_annotation_frame_is_the_queue_with_each_rows_data_and_a_blank_label():
    df = adult_like()
    pool = LabelingPool.from_frame(df, id="row")
    q = labeling_queue(pool, budget=3).table
    sheet = annotation_frame(q.iloc[::-1], df, id="row", columns=["age", "row"])
    assert sheet.columns.tolist() == ["rank", "id", "score", "reason", "age", "label"]
    assert sheet["id"].tolist() == ["r2", "r4", "r3"]
    assert sheet["age"].tolist() == [38, 41, 52]
    assert (sheet["label"] == "").all()
    # without an id column the ids are row positions; clashing names get a prefix
    by_position = df.rename(columns={"age": "score"})
    sheet2 = annotation_frame(
        labeling_queue(LabelingPool.from_frame(by_position), budget=2).table, by_position
    )
    assert sheet2["id"].tolist() == [1, 3]
    assert sheet2["row_score"].tolist() == [38, 41]
    assert sheet2["row"].tolist() == ["r2", "r4"]
    # a LabelingQueue is taken as it is; columns=[] shows none of the rows' columns
    sheet3 = annotation_frame(labeling_queue(pool, budget=3), df, id="row", columns=[])
    assert sheet3.columns.tolist() == ["rank", "id", "score", "reason", "label"]
    assert sheet3["id"].tolist() == ["r2", "r4", "r3"]


def test_annotation_frame_validation():
    df = adult_like()
    q = labeling_queue(LabelingPool.from_frame(df), budget=2).table
    with pytest.raises(ToolkitTypeError, match="annotation_frame: rows must be a DataFrame, got"):
        annotation_frame(q, df.to_numpy())
    with pytest.raises(ToolkitTypeError, match="queue must be a toolkit.LabelingQueue or a Data"):
        annotation_frame(q.to_dict(), df)
    with pytest.raises(ToolkitTypeError, match="label_column must be a str, got 1"):
        annotation_frame(q, df, label_column=1)
    with pytest.raises(ColumnNotFoundError, match=r"queue lacks column\(s\) \['reason'\]"):
        annotation_frame(q.drop(columns="reason"), df)
    with pytest.raises(ValidationError, match="rows already has a column 'age'"):
        annotation_frame(q, df, label_column="age")
    with pytest.raises(ColumnNotFoundError, match="id column 'key' not found"):
        annotation_frame(q, df, id="key")
    with pytest.raises(DuplicateIdError, match="rows has repeated ids in 'age'"):
        annotation_frame(q, df.assign(age=1), id="age")
    with pytest.raises(ValidationError, match=r"queue ids \[1, 3\] are not in rows"):
        annotation_frame(q, df, id="row")
    with pytest.raises(ColumnNotFoundError, match=r"shown column\(s\) \['zz'\] not found"):
        annotation_frame(q, df, columns=["zz"])


# ---------------------------------------------------------------- relabel queue
def issues_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [4, 2, 7, 1, 9],
            "given_label": ["cat", "dog", "cat", "dog", "cat"],
            "suggested_label": ["dog", "cat", "cat", "dog", "cat"],
            "label_quality": [0.05, 0.05, 0.2, 0.6, 0.9],
            "is_issue": [True, True, True, False, False],
        }
    )


def test_relabel_queue_ranks_flagged_issues_worst_first_by_hand():
    table = issues_table()
    before = table.copy()
    q = relabel_queue(table.sample(frac=1.0, random_state=1), budget=10).table
    assert list(q.columns) == QUEUE_COLUMNS
    assert q["id"].tolist() == [2, 4, 7]  # quality 0.05 tie broken by id, then 0.2
    np.testing.assert_allclose(q["score"], [0.95, 0.95, 0.8])
    assert q["reason"].tolist() == [
        "given 'dog' but the model believes 'cat' (label quality 0.05)",
        "given 'cat' but the model believes 'dog' (label quality 0.05)",
        "given 'cat', which the model doubts (label quality 0.20)",
    ]
    short = relabel_queue(table, budget=2)
    assert short.table["id"].tolist() == [2, 4]
    assert short.meta == {
        "strategy": "relabel",
        "budget": 2,
        "pool_size": 3,  # the flagged issues
        "n_neighbors": None,
        "n_clusters": None,
        "threshold": None,
    }
    pd.testing.assert_frame_equal(table, before)


def test_relabel_queue_from_find_label_issues_and_when_nothing_is_flagged():
    y = ["a"] * 6 + ["b"] * 6
    proba = np.array([[0.9, 0.1]] * 5 + [[0.1, 0.9]] + [[0.2, 0.8]] * 6)
    issues = tk.find_label_issues(tk.Predictions(y, proba=proba)).table
    q = relabel_queue(issues).table
    assert q["id"].tolist() == issues.loc[issues["is_issue"], "id"].tolist() == [5]
    assert q["reason"][0] == "given 'a' but the model believes 'b' (label quality 0.10)"
    empty = relabel_queue(issues.assign(is_issue=False)).table
    # the LabelIssues result itself is accepted too
    result = tk.find_label_issues(tk.Predictions(y, proba=proba))
    pd.testing.assert_frame_equal(relabel_queue(result).table, q)
    assert list(empty.columns) == QUEUE_COLUMNS and len(empty) == 0


def test_relabel_queue_validation():
    with pytest.raises(
        ToolkitTypeError, match="issues must be a toolkit.LabelIssues or a DataFrame"
    ):
        relabel_queue([1, 2])
    with pytest.raises(ColumnNotFoundError, match=r"issues lacks column\(s\) \['is_issue'\]"):
        relabel_queue(issues_table().drop(columns="is_issue"))
    with pytest.raises(
        InvalidValueError, match=r"relabel_queue: budget must be an int in \[1, inf"
    ):
        relabel_queue(issues_table(), budget=0)
    for bad in (True, "5"):
        with pytest.raises(ToolkitTypeError, match="budget must be an int"):
            relabel_queue(issues_table(), budget=bad)


# ---------------------------------------------------------------- properties
probas = st.integers(1, 40).flatmap(
    lambda n: st.integers(2, 5).flatmap(
        lambda k: hnp.arrays(np.float64, (n, k), elements=st.floats(0.0, 1.0, width=32))
    )
)


def normalise(raw: np.ndarray) -> np.ndarray:
    raw = raw + 1e-3  # no all-zero row
    return raw / raw.sum(axis=1, keepdims=True)


def independent_score(proba: np.ndarray, strategy: str) -> np.ndarray:
    top2 = np.sort(proba, axis=1)[:, ::-1][:, :2]
    if strategy == "margin":
        return 1 - (top2[:, 0] - top2[:, 1])
    if strategy == "least_confidence":
        return 1 - top2[:, 0]
    logs = np.log(proba, where=proba > 0, out=np.zeros_like(proba))
    return -(proba * logs).sum(axis=1) / np.log(proba.shape[1])


@settings(max_examples=60, deadline=None)
@given(probas, st.integers(1, 50), st.sampled_from(["margin", "least_confidence", "entropy"]))
def test_uncertainty_queues_are_the_top_k_by_an_independent_score(raw, budget, strategy):
    proba = normalise(raw)
    q = labeling_queue(proba, budget=budget, strategy=strategy).table
    k = min(budget, len(proba))
    assert len(q) == k and q["id"].is_unique
    assert q["rank"].tolist() == list(range(1, k + 1))
    assert q["score"].between(0.0, 1.0).all()
    score = np.round(independent_score(proba, strategy), 12)
    expected = sorted(range(len(proba)), key=lambda i: (-score[i], i))[:k]
    assert q["id"].tolist() == expected
    pd.testing.assert_frame_equal(q, labeling_queue(proba, budget=budget, strategy=strategy).table)


@settings(max_examples=25, deadline=None)
@given(
    probas,
    st.integers(1, 30),
    st.sampled_from(["error_neighbourhood", "hybrid"]),
    st.integers(1, 8),
    st.integers(0, 2**16),
)
def test_neighbour_queues_respect_budget_with_unique_ids(raw, budget, strategy, m, seed):
    proba = normalise(raw)
    rng = np.random.default_rng(seed)
    pool_x = rng.normal(size=(len(proba), 2))
    y = rng.integers(0, 2, m + 1)
    labeled = tk.Predictions(
        y, rng.integers(0, 2, m + 1), classes=[0, 1], embeddings=rng.normal(size=(m + 1, 2))
    )
    q = labeling_queue(
        proba,
        budget=budget,
        strategy=strategy,
        embeddings=pool_x,
        labeled=labeled,
        random_state=seed,
    ).table
    k = min(budget, len(proba))
    assert len(q) == k and q["id"].is_unique and set(q["id"]) <= set(range(len(proba)))
    assert q["score"].between(0.0, 1.0).all()
    assert q["rank"].tolist() == list(range(1, k + 1))
