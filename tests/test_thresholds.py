"""Thresholds and costs: every number against a brute force over thresholds with
scikit-learn's confusion matrix and metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

import toolkit as tk
from toolkit.analysis.thresholds import analyze_thresholds
from toolkit.exceptions import NotApplicableError, ToolkitTypeError, ValidationError


def test_hand_computed_costs_on_four_rows():
    # scores 0.1 (neg), 0.35 (pos), 0.4 (neg), 0.8 (pos); a missed positive costs 5
    p = tk.Predictions([0, 1, 0, 1], proba=[0.1, 0.35, 0.4, 0.8])
    result = analyze_thresholds(p, cost=[[0, 1], [5, 0]])
    # threshold 0.8: 1 FN -> 5; 0.4: 1 FN + 0 FP -> 5... by hand:
    #   t <= 0.1: FP 2 -> 2;  t in (0.1, 0.35]: FP 1 -> 1;  (0.35, 0.4]: FP 1, FN 1 -> 6
    #   (0.4, 0.8]: FN 1 -> 5;  above 0.8: FN 2 -> 10
    assert result.objective == "cost"
    assert result.threshold == 0.35 and result.value == 1.0
    assert result.value_at_default == 5.0  # at 0.5: FN 1
    at = result.at(0.35)
    assert (at["tp"], at["fp"], at["fn"], at["tn"]) == (2, 1, 0, 1)
    assert at["precision"] == pytest.approx(2 / 3) and at["recall"] == 1.0
    chosen = result.table[result.table["chosen"]]
    assert chosen["threshold"].tolist() == [0.35] and chosen["cost"].tolist() == [1.0]


def _scores(n: int = 600, seed: int = 0) -> tk.Predictions:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    s = np.clip(rng.normal(0.4 + 0.25 * y, 0.2), 0, 1).round(2)  # ties on purpose
    return tk.Predictions(np.array(["no", "yes"])[y], proba=s)


def _brute(p: tk.Predictions, value) -> tuple[float, float]:
    s, y = p.proba[:, 1], p.y_true
    best_t, best_v = None, None
    for t in np.unique(s):
        pred = np.where(s >= t, "yes", "no")
        v = value(y, pred)
        if best_v is None or v < best_v:
            best_t, best_v = t, v
    return best_t, best_v


def test_least_cost_threshold_is_the_brute_force_one():
    p = _scores()
    cost = np.array([[0.0, 2.0], [7.0, -1.0]])  # a true positive earns 1

    def total(y, pred):
        cm = skm.confusion_matrix(y, pred, labels=["no", "yes"])
        return float((cm * cost).sum())

    t, v = _brute(p, total)
    result = analyze_thresholds(p, cost=cost)
    assert result.value == pytest.approx(v)
    assert total(p.y_true, np.where(p.proba[:, 1] >= result.threshold, "yes", "no")) == v
    assert result.threshold == pytest.approx(t)
    for row in result.table.itertuples():
        pred = np.where(p.proba[:, 1] >= row.threshold, "yes", "no")
        assert row.cost == pytest.approx(total(p.y_true, pred))


def test_default_objective_is_the_best_f1_by_brute_force():
    p = _scores(seed=1)
    t, v = _brute(p, lambda y, pred: -skm.f1_score(y, pred, pos_label="yes"))
    result = analyze_thresholds(p)
    assert result.objective == "f1" and result.value == pytest.approx(-v)
    pred = np.where(p.proba[:, 1] >= result.threshold, "yes", "no")
    assert skm.f1_score(p.y_true, pred, pos_label="yes") == pytest.approx(-v)


def test_metrics_at_any_threshold_and_the_areas_are_sklearns():
    p = _scores(seed=2)
    result = analyze_thresholds(p)
    y = p.y_true == "yes"
    for t in (0.0, 0.27, 0.5, 0.731, 1.0):
        pred = p.proba[:, 1] >= t
        at = result.at(t)
        assert at["recall"] == pytest.approx(skm.recall_score(y, pred))
        assert at["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
        assert at["f1"] == pytest.approx(skm.f1_score(y, pred, zero_division=0))
        assert at["fpr"] == pytest.approx((pred & ~y).sum() / (~y).sum())
        if pred.any():
            assert at["precision"] == pytest.approx(skm.precision_score(y, pred))
    assert result.roc_auc == pytest.approx(skm.roc_auc_score(y, p.proba[:, 1]))
    assert result.average_precision == pytest.approx(skm.average_precision_score(y, p.proba[:, 1]))
    for row in result.table.itertuples():
        assert row.f1 == pytest.approx(result.at(row.threshold)["f1"])
    assert result.positive_class == "yes"


def test_a_callable_business_metric_is_maximised_on_the_grid():
    p = _scores(seed=3)

    def recall_at_precision(y_true, y_pred):  # a made-up business rule
        precision = skm.precision_score(y_true, y_pred, pos_label="yes", zero_division=0)
        return skm.recall_score(y_true, y_pred, pos_label="yes") if precision >= 0.7 else 0.0

    result = analyze_thresholds(p, metric=recall_at_precision, n_grid=50)
    assert result.objective == "recall_at_precision"
    pred = np.where(p.proba[:, 1] >= result.threshold, "yes", "no")
    assert recall_at_precision(p.y_true, pred) == pytest.approx(result.value)
    assert result.value >= result.value_at_default
    assert result.table["metric"].max() <= result.value + 1e-12


def test_json_keeps_a_thinned_curve_and_the_fields():
    result = analyze_thresholds(_scores(n=3000, seed=4))
    data = result.to_dict()
    assert len(data["roc"]) <= 200 and len(data["pr"]) <= 200
    assert data["roc"][0]["fpr"] == 0.0 and data["roc"][-1]["tpr"] == 1.0
    assert data["threshold"] == pytest.approx(result.threshold)


@pytest.mark.parametrize(
    ("p", "kwargs", "error", "match"),
    [
        (tk.Predictions([0, 1, 2], proba=np.eye(3)), {}, NotApplicableError, "multiclass task"),
        (tk.Predictions([0, 1, 1], [0, 1, 0]), {}, NotApplicableError, "only labels were given"),
        (_scores(), {"cost": [1, 2, 3]}, ValidationError, r"finite 2 x 2 matrix.*shape \(3,\)"),
        (
            _scores(),
            {"cost": [[0, 1], [1, 0]], "metric": skm.f1_score},
            ValidationError,
            "give cost or metric, not both",
        ),
        (_scores(), {"metric": 3}, ToolkitTypeError, "analyze_thresholds: metric must be"),
        (
            tk.Predictions([0, 0], proba=[0.2, 0.7], classes=[0, 1]),
            {},
            NotApplicableError,
            "rows of both classes",
        ),
    ],
)
def test_bad_inputs_are_named(p, kwargs, error, match):
    with pytest.raises(error, match=match):
        analyze_thresholds(p, **kwargs)


def test_a_failing_metric_is_named():
    def broken(y_true, y_pred):
        raise KeyError("oops")

    with pytest.raises(ValidationError, match=r"metric 'broken' failed .*KeyError"):
        analyze_thresholds(_scores(), metric=broken)
    with pytest.raises(ValidationError, match=r"threshold must be in \[0, 1\]"):
        analyze_thresholds(_scores()).at(1.5)


def test_diagnose_chooses_the_threshold_of_the_given_cost():
    p = _scores(seed=5)
    d = tk.diagnose(p, cost=[[0, 1], [5, 0]], sections=["thresholds"])
    assert d.thresholds.objective == "cost"
    assert d.thresholds.threshold == analyze_thresholds(p, cost=[[0, 1], [5, 0]]).threshold
    multi = tk.Predictions([0, 1, 2] * 10, proba=np.tile(np.eye(3), (10, 1)))
    assert tk.diagnose(multi, sections=["thresholds"]).skipped["thresholds"] == (
        "thresholds apply to binary tasks; this is a multiclass task"
    )


# ---------------------------------------------------------------------- sample weights
def test_integer_weights_give_what_repeating_the_rows_gives():
    """An independent oracle: weight 3 on a row is the row written three times."""
    rng = np.random.default_rng(3)
    n = 60
    y = rng.integers(0, 2, n)
    scores = np.round(np.clip(0.3 * y + 0.7 * rng.random(n), 0, 1), 3)
    w = rng.integers(1, 4, n)
    weighted = tk.Predictions(y, proba=scores, sample_weight=w)
    repeated = tk.Predictions(np.repeat(y, w), proba=np.repeat(scores, w))
    for options in ({}, {"cost": [[0, 1], [5, 0]]}):
        a = tk.analyze_thresholds(weighted, **options)
        b = tk.analyze_thresholds(repeated, **options)
        assert a.threshold == b.threshold
        assert a.value == pytest.approx(b.value)
        assert a.roc_auc == pytest.approx(b.roc_auc)
        assert a.average_precision == pytest.approx(b.average_precision)
        pd.testing.assert_frame_equal(a.table, b.table, check_dtype=False)


def test_a_business_metric_that_takes_weights_gets_them():
    seen = []

    def weighted_accuracy(y_true, y_pred, sample_weight=None):
        seen.append(sample_weight)
        return float(np.average(y_true == y_pred, weights=sample_weight))

    p = tk.Predictions([0, 0, 1, 1], proba=[0.1, 0.4, 0.35, 0.8], sample_weight=[1, 1, 4, 1])
    result = tk.analyze_thresholds(p, metric=weighted_accuracy)
    assert all(s is not None and s.tolist() == [1, 1, 4, 1] for s in seen)
    # by hand: at 0.35 every positive is caught and one negative (weight 1) is wrong: 6/7
    assert result.value == pytest.approx(6 / 7)
    assert result.threshold <= 0.35
