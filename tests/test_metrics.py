"""compute_metrics on tiny fixtures where every number is worked out by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import calibration_curve
from sklearn.dummy import DummyClassifier

from toolkit import Predictions, compute_metrics
from toolkit.exceptions import InvalidValueError, ToolkitTypeError

# ---------------------------------------------------------------- binary fixture
#
#   row  y_true  P(b)  y_pred  correct  P(true class)  (P(b) - [y = b])²  top confidence
#    0     a     0.1     a       yes        0.9              0.01             0.9
#    1     a     0.2     a       yes        0.8              0.04             0.8
#    2     a     0.6     b       no         0.4              0.36             0.6
#    3     b     0.7     b       yes        0.7              0.09             0.7
#    4     b     0.4     a       no         0.4              0.36             0.6
#
# confusion (rows true, columns predicted):  a: [2, 1]   b: [1, 1]
BIN_Y = ["a", "a", "a", "b", "b"]
BIN_P_B = [0.1, 0.2, 0.6, 0.7, 0.4]


@pytest.fixture
def binary():
    return Predictions(BIN_Y, proba=BIN_P_B)


def test_binary_overall_by_hand(binary):
    m = compute_metrics(binary, n_bins=5)
    assert m.task == "binary"
    assert m.n == 5
    expected = {
        "accuracy": 3 / 5,
        "error_rate": 2 / 5,
        # recall a = 2/3, recall b = 1/2
        "balanced_accuracy": (2 / 3 + 1 / 2) / 2,
        # precision = recall for both classes here: F1 a = 2/3, F1 b = 1/2
        "f1_macro": (2 / 3 + 1 / 2) / 2,
        # p_o = 3/5; p_e = (3/5)(3/5) + (2/5)(2/5) = 13/25; (p_o - p_e) / (1 - p_e) = 1/6
        "cohen_kappa": 1 / 6,
        "log_loss": -(math.log(0.9) + math.log(0.8) + math.log(0.4) + math.log(0.7) + math.log(0.4))
        / 5,
        # (0.01 + 0.04 + 0.36 + 0.09 + 0.36) / 5
        "brier": 0.86 / 5,
        # positives (b) score 0.7, 0.4; negatives 0.1, 0.2, 0.6: 0.7 beats 3, 0.4 beats 2
        "roc_auc": 5 / 6,
        # see the calibration test
        "ece": 0.36,
    }
    assert set(m.overall) == set(expected)
    for name, value in expected.items():
        assert m.overall[name] == pytest.approx(value, abs=1e-12), name


def test_binary_per_class_and_confusion_by_hand(binary):
    m = compute_metrics(binary)
    expected = pd.DataFrame(
        {
            "class": ["a", "b"],
            # a: predicted a in rows 0, 1, 4 (2 right); b: predicted b in rows 2, 3 (1 right)
            "precision": [2 / 3, 1 / 2],
            "recall": [2 / 3, 1 / 2],
            "f1": [2 / 3, 1 / 2],
            "support": [3, 2],
            "errors": [1, 1],  # row 2 (a) and row 4 (b)
        }
    )
    pd.testing.assert_frame_equal(m.per_class, expected, check_dtype=False)
    assert m.confusion.to_numpy().tolist() == [[2, 1], [1, 1]]
    assert list(m.confusion.index) == ["a", "b"]
    assert list(m.confusion.columns) == ["a", "b"]
    assert m.confusion.index.name == "true" and m.confusion.columns.name == "predicted"


def test_binary_calibration_by_hand(binary):
    # top-label confidences 0.9, 0.8, 0.6, 0.7, 0.6 in 5 right-closed bins (lo, hi]:
    #   (0.4, 0.6]: rows 2, 4 -> conf 0.6,  accuracy 0, gap  0.6
    #   (0.6, 0.8]: rows 1, 3 -> conf 0.75, accuracy 1, gap -0.25   (0.8 is in this bin)
    #   (0.8, 1.0]: row 0     -> conf 0.9,  accuracy 1, gap -0.1
    # ECE = (2 * 0.6 + 2 * 0.25 + 1 * 0.1) / 5 = 0.36; MCE = 0.6
    cal = compute_metrics(binary, n_bins=5).calibration
    assert cal.n_bins == 5
    assert cal.ece == pytest.approx(0.36)
    assert cal.mce == pytest.approx(0.6)
    bins = cal.bins
    assert bins["bin_low"].tolist() == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8])
    assert bins["bin_high"].tolist() == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert bins["n"].tolist() == [0, 0, 2, 2, 1]
    assert bins["mean_confidence"].iloc[2:].tolist() == pytest.approx([0.6, 0.75, 0.9])
    assert bins["accuracy"].iloc[2:].tolist() == pytest.approx([0.0, 1.0, 1.0])
    assert bins["gap"].iloc[2:].tolist() == pytest.approx([0.6, -0.25, -0.1])
    assert bins[["mean_confidence", "accuracy", "gap"]].iloc[:2].isna().all().all()


def test_binary_zero_rule_baseline_by_hand(binary):
    # always "a" (3 of 5) with probabilities P(a) = 0.6, P(b) = 0.4
    m = compute_metrics(binary)
    zero = m.baselines.set_index("metric")["zero_rule"]
    assert zero["accuracy"] == pytest.approx(3 / 5)
    assert zero["error_rate"] == pytest.approx(2 / 5)
    assert zero["balanced_accuracy"] == pytest.approx((1 + 0) / 2)
    # F1 a = 2 (3/5)(1) / (3/5 + 1) = 3/4, F1 b = 0
    assert zero["f1_macro"] == pytest.approx(3 / 8)
    assert zero["cohen_kappa"] == pytest.approx(0.0)
    assert zero["log_loss"] == pytest.approx(-(3 * math.log(0.6) + 2 * math.log(0.4)) / 5)
    # (3 * 0.4² + 2 * 0.6²) / 5
    assert zero["brier"] == pytest.approx(0.24)
    assert zero["roc_auc"] == pytest.approx(0.5)
    assert np.isnan(zero["ece"])
    assert "always 'a'" in m.notes["zero_rule"]


def test_margins_are_positive_when_the_model_is_better(binary):
    table = compute_metrics(binary).baselines.set_index("metric")
    # log loss: lower is better; model 0.5036 < zero rule 0.6730 -> margin = zero - model > 0
    model_ll = -sum(math.log(v) for v in (0.9, 0.8, 0.4, 0.7, 0.4)) / 5
    zero_ll = -(3 * math.log(0.6) + 2 * math.log(0.4)) / 5
    assert table.loc["log_loss", "margin_over_zero_rule"] == pytest.approx(zero_ll - model_ll)
    assert table.loc["log_loss", "margin_over_zero_rule"] > 0
    assert table.loc["brier", "margin_over_zero_rule"] == pytest.approx(0.24 - 0.172)
    # higher is better: model - baseline
    assert table.loc["roc_auc", "margin_over_zero_rule"] == pytest.approx(5 / 6 - 0.5)
    assert table.loc["cohen_kappa", "margin_over_zero_rule"] == pytest.approx(1 / 6)
    assert table.loc["accuracy", "margin_over_zero_rule"] == pytest.approx(0.0)
    assert table.loc["error_rate", "margin_over_zero_rule"] == pytest.approx(0.0)
    lower = {"error_rate", "log_loss", "brier", "ece"}
    for metric, row in table.iterrows():
        assert row["higher_is_better"] == (metric not in lower)
        for base in ("zero_rule", "stratified"):
            if np.isnan(row[base]):
                assert np.isnan(row[f"margin_over_{base}"])
                continue
            sign = 1 if row["higher_is_better"] else -1
            assert row[f"margin_over_{base}"] == pytest.approx(sign * (row["model"] - row[base]))


def test_to_frame_is_the_baseline_table(binary):
    m = compute_metrics(binary)
    frame = m.to_frame()
    pd.testing.assert_frame_equal(frame, m.baselines)
    assert set(frame.columns) == {
        "metric",
        "model",
        "zero_rule",
        "stratified",
        "margin_over_zero_rule",
        "margin_over_stratified",
        "higher_is_better",
    }
    assert frame["model"].tolist() == [m.overall[k] for k in frame["metric"]]


# ---------------------------------------------------------------- stratified baseline


def _larger_binary(n=200, seed=1):
    rng = np.random.default_rng(seed)
    y = np.where(rng.uniform(size=n) < 0.3, "pos", "neg").astype(object)
    p_pos = np.clip(np.where(y == "pos", 0.7, 0.3) + rng.normal(0, 0.2, n), 0, 1)
    return Predictions(y, proba=p_pos, classes=["neg", "pos"])


def test_stratified_baseline_is_seeded_draws_with_class_frequencies():
    p = _larger_binary()
    for seed in (0, 7):
        table = compute_metrics(p, random_state=seed).baselines.set_index("metric")
        draws = (
            DummyClassifier(strategy="stratified", random_state=seed)
            .fit(np.zeros((p.n, 1)), p.y_true)
            .predict(np.zeros((p.n, 1)))
        )
        assert table.loc["accuracy", "stratified"] == pytest.approx(np.mean(draws == p.y_true))
        # probability metrics are not defined for 0/1 draws
        for name in ("log_loss", "brier", "roc_auc", "ece"):
            assert np.isnan(table.loc[name, "stratified"])
            assert np.isnan(table.loc[name, "margin_over_stratified"])
    # the same seed gives the same table; the draws differ with the seed
    a = compute_metrics(p, random_state=3).baselines
    pd.testing.assert_frame_equal(a, compute_metrics(p, random_state=3).baselines)
    accuracies = {
        compute_metrics(p, random_state=s)
        .baselines.set_index("metric")
        .loc["accuracy", "stratified"]
        for s in range(5)
    }
    assert len(accuracies) > 1
    assert "random_state=3" in compute_metrics(p, random_state=3).notes["stratified"]


def test_stratified_accuracy_is_near_its_expectation():
    # E[accuracy] of frequency-matched guessing = sum of squared class frequencies
    rng = np.random.default_rng(0)
    y = rng.choice(["x", "y", "z"], p=[0.6, 0.3, 0.1], size=4000).astype(object)
    p = Predictions(y, y_pred=y)
    freq = pd.Series(y).value_counts(normalize=True)
    expected = float((freq**2).sum())
    acc = compute_metrics(p).baselines.set_index("metric").loc["accuracy", "stratified"]
    assert acc == pytest.approx(expected, abs=0.03)


# ---------------------------------------------------------------- multiclass fixture
#
#   row  y_true  proba (0, 1, 2)   y_pred  correct  P(true)  Brier (sum over classes)
#    0     0     0.7  0.2  0.1       0       yes      0.7     0.09 + 0.04 + 0.01 = 0.14
#    1     0     0.3  0.6  0.1       1       no       0.3     0.49 + 0.36 + 0.01 = 0.86
#    2     1     0.1  0.8  0.1       1       yes      0.8     0.01 + 0.04 + 0.01 = 0.06
#    3     1     0.2  0.5  0.3       1       yes      0.5     0.04 + 0.25 + 0.09 = 0.38
#    4     2     0.1  0.1  0.8       2       yes      0.8     0.01 + 0.01 + 0.04 = 0.06
#    5     2     0.5  0.2  0.3       0       no       0.3     0.25 + 0.04 + 0.49 = 0.78
MC_Y = [0, 0, 1, 1, 2, 2]
MC_P = [
    [0.7, 0.2, 0.1],
    [0.3, 0.6, 0.1],
    [0.1, 0.8, 0.1],
    [0.2, 0.5, 0.3],
    [0.1, 0.1, 0.8],
    [0.5, 0.2, 0.3],
]


@pytest.fixture
def multiclass():
    return Predictions(MC_Y, proba=MC_P)


def test_multiclass_overall_by_hand(multiclass):
    m = compute_metrics(multiclass, n_bins=5)
    assert m.task == "multiclass"
    expected = {
        "accuracy": 4 / 6,
        "error_rate": 2 / 6,
        # recall 1/2, 2/2, 1/2
        "balanced_accuracy": (1 / 2 + 1 + 1 / 2) / 3,
        # precision 1/2, 2/3, 1/1 -> F1 1/2, 4/5, 2/3
        "f1_macro": (1 / 2 + 4 / 5 + 2 / 3) / 3,  # 59/90
        # p_o = 2/3; true marginals 1/3 each, predicted 2/6, 3/6, 1/6 -> p_e = 1/3
        "cohen_kappa": (2 / 3 - 1 / 3) / (1 - 1 / 3),
        "log_loss": -sum(math.log(v) for v in (0.7, 0.3, 0.8, 0.5, 0.8, 0.3)) / 6,
        "brier": (0.14 + 0.86 + 0.06 + 0.38 + 0.06 + 0.78) / 6,  # 0.38
        # one-vs-rest pair counts out of 2 x 4 = 8 pairs:
        #   class 0: (0.7 beats 4) + (0.3 beats 0.1, 0.2, 0.1) = 7
        #   class 1: (0.8 beats 4) + (0.5 beats 0.2, 0.1, 0.2) = 7
        #   class 2: (0.8 beats 4) + (0.3 beats 0.1 x3, ties 0.3) = 7.5
        "roc_auc": (7 / 8 + 7 / 8 + 7.5 / 8) / 3,  # 43/48
        # see the calibration test
        "ece": 0.5 * 0.2 + 0.5 * (1 - 2.3 / 3),
    }
    assert set(m.overall) == set(expected)
    for name, value in expected.items():
        assert m.overall[name] == pytest.approx(value, abs=1e-12), name
    assert m.overall["brier"] == pytest.approx(0.38)
    assert m.overall["roc_auc"] == pytest.approx(43 / 48)


def test_multiclass_per_class_and_confusion_by_hand(multiclass):
    m = compute_metrics(multiclass)
    pc = m.per_class
    assert pc["class"].tolist() == [0, 1, 2]
    assert pc["precision"].tolist() == pytest.approx([1 / 2, 2 / 3, 1])
    assert pc["recall"].tolist() == pytest.approx([1 / 2, 1, 1 / 2])
    assert pc["f1"].tolist() == pytest.approx([1 / 2, 4 / 5, 2 / 3])
    assert pc["support"].tolist() == [2, 2, 2]
    assert pc["errors"].tolist() == [1, 0, 1]
    assert m.confusion.to_numpy().tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    # every error is counted once, in the row of its true class
    assert pc["errors"].sum() == int(multiclass.errors.sum())


def test_multiclass_calibration_by_hand(multiclass):
    # top-label confidence 0.7, 0.6, 0.8, 0.5, 0.8, 0.5; correct 1, 0, 1, 1, 1, 0
    #   (0.4, 0.6]: 0.6, 0.5, 0.5 -> conf 1.6/3, accuracy 1/3, gap 0.2
    #   (0.6, 0.8]: 0.7, 0.8, 0.8 -> conf 2.3/3, accuracy 1,   gap 2.3/3 - 1 = -0.2333
    # ECE = 3/6 * 0.2 + 3/6 * 0.2333 = 0.21667; MCE = 0.2333
    cal = compute_metrics(multiclass, n_bins=5).calibration
    assert cal.bins["n"].tolist() == [0, 0, 3, 3, 0]
    assert cal.bins["mean_confidence"].iloc[2:4].tolist() == pytest.approx([1.6 / 3, 2.3 / 3])
    assert cal.bins["accuracy"].iloc[2:4].tolist() == pytest.approx([1 / 3, 1.0])
    assert cal.ece == pytest.approx(0.5 * 0.2 + 0.5 * (1 - 2.3 / 3))
    assert cal.mce == pytest.approx(1 - 2.3 / 3)


def test_multiclass_zero_rule_probabilities_are_class_frequencies(multiclass):
    # every class has frequency 1/3: log loss ln 3; Brier (2/3)² + (1/3)² + (1/3)² = 2/3
    zero = compute_metrics(multiclass).baselines.set_index("metric")["zero_rule"]
    assert zero["accuracy"] == pytest.approx(1 / 3)
    assert zero["log_loss"] == pytest.approx(math.log(3))
    assert zero["brier"] == pytest.approx(2 / 3)
    assert zero["roc_auc"] == pytest.approx(0.5)


def test_calibration_matches_sklearn_calibration_curve():
    # an independent oracle: calibration_curve on (correct, top-label confidence)
    rng = np.random.default_rng(0)
    proba = rng.dirichlet([1, 1, 1], size=500)
    y = rng.integers(0, 3, size=500)
    cal = compute_metrics(Predictions(y, proba=proba, classes=[0, 1, 2])).calibration
    confidence = proba.max(axis=1)
    correct = (proba.argmax(axis=1) == y).astype(int)
    prob_true, prob_pred = calibration_curve(correct, confidence, n_bins=10, strategy="uniform")
    nonempty = cal.bins[cal.bins["n"] > 0]
    assert nonempty["accuracy"].tolist() == pytest.approx(prob_true.tolist())
    assert nonempty["mean_confidence"].tolist() == pytest.approx(prob_pred.tolist())
    counts = nonempty["n"].to_numpy()
    ece = np.sum(counts / counts.sum() * np.abs(prob_true - prob_pred))
    assert cal.ece == pytest.approx(ece)
    assert cal.mce == pytest.approx(np.max(np.abs(prob_true - prob_pred)))


def test_confidence_on_a_bin_edge_goes_to_the_lower_bin():
    # right-closed bins: 0.8 is in (0.7, 0.8], not (0.8, 0.9]; 0.5 in (0.4, 0.5]
    p = Predictions(["a", "b"], proba=[[0.8, 0.2], [0.5, 0.5]])
    bins = compute_metrics(p, n_bins=10).calibration.bins
    assert bins["n"].tolist() == [0, 0, 0, 0, 1, 0, 0, 1, 0, 0]


def test_without_probabilities_there_is_no_calibration_or_probability_metric():
    p = Predictions(["a", "b", "b", "a"], y_pred=["a", "b", "a", "a"])
    m = compute_metrics(p)
    assert m.calibration is None
    assert set(m.overall) == {
        "accuracy",
        "error_rate",
        "balanced_accuracy",
        "f1_macro",
        "cohen_kappa",
    }
    assert m.overall["accuracy"] == pytest.approx(3 / 4)


def test_roc_auc_is_none_when_y_true_holds_one_class():
    p = Predictions(["a", "a", "a"], proba=[0.2, 0.6, 0.1], classes=["a", "b"])
    m = compute_metrics(p)
    assert m.overall["roc_auc"] is None
    assert m.overall["accuracy"] == pytest.approx(2 / 3)
    json.dumps(m.to_dict(), allow_nan=False)


# ---------------------------------------------------------------- regression fixture
#
#   y_true   1    2    3    4         mean 2.5
#   y_pred   1.5  2    2    6
#   error    0.5  0   -1    2         |e| > 0.75 -> rows 2, 3
#   MAE = 3.5/4 = 0.875; MSE = (0.25 + 0 + 1 + 4)/4 = 1.3125
#   R² = 1 - 5.25 / ((1.5² + 0.5² + 0.5² + 1.5²) = 5) = -0.05
#   zero rule (always 2.5): errors 1.5, 0.5, 0.5, 1.5 -> MAE 1, RMSE sqrt(1.25), R² 0,
#   error rate 2/4


@pytest.fixture
def regression():
    return Predictions(
        [1.0, 2.0, 3.0, 4.0], [1.5, 2.0, 2.0, 6.0], task="regression", tolerance=0.75
    )


def test_regression_by_hand(regression):
    m = compute_metrics(regression)
    assert m.task == "regression"
    assert m.per_class is None and m.confusion is None and m.calibration is None
    assert m.overall == pytest.approx(
        {"mae": 0.875, "rmse": math.sqrt(1.3125), "r2": -0.05, "error_rate": 0.5}
    )
    table = m.baselines.set_index("metric")
    assert table["zero_rule"].to_dict() == pytest.approx(
        {"mae": 1.0, "rmse": math.sqrt(1.25), "r2": 0.0, "error_rate": 0.5}
    )
    # MAE lower is better: 1 - 0.875 > 0; RMSE: the model is worse -> negative margin
    assert table.loc["mae", "margin_over_zero_rule"] == pytest.approx(0.125)
    assert table.loc["rmse", "margin_over_zero_rule"] == pytest.approx(
        math.sqrt(1.25) - math.sqrt(1.3125)
    )
    assert table.loc["rmse", "margin_over_zero_rule"] < 0
    assert table.loc["r2", "margin_over_zero_rule"] == pytest.approx(-0.05)
    assert "2.5" in m.notes["zero_rule"]
    assert "given" in m.notes["tolerance"]


def test_regression_stratified_baseline_is_shuffled_labels(regression):
    m = compute_metrics(regression, random_state=4)
    shuffled = np.random.default_rng(4).permutation([1.0, 2.0, 3.0, 4.0])
    y = np.array([1.0, 2.0, 3.0, 4.0])
    strat = m.baselines.set_index("metric")["stratified"]
    assert strat["mae"] == pytest.approx(np.mean(np.abs(shuffled - y)))
    assert strat["rmse"] == pytest.approx(math.sqrt(np.mean((shuffled - y) ** 2)))
    assert strat["error_rate"] == pytest.approx(np.mean(np.abs(shuffled - y) > 0.75))


def test_regression_default_tolerance_is_the_90th_percentile():
    # |errors| 0.5, 0, 1, 2 sorted 0, 0.5, 1, 2: the 90th percentile (linear) is
    # 1 + 0.7 * (2 - 1) = 1.7, so only the error of 2 counts
    p = Predictions([1.0, 2.0, 3.0, 4.0], [1.5, 2.0, 2.0, 6.0], task="regression")
    m = compute_metrics(p)
    assert p.tolerance == pytest.approx(1.7)
    assert m.overall["error_rate"] == pytest.approx(0.25)


def test_regression_r2_is_none_for_one_row():
    p = Predictions([1.5], [2.0], task="regression", tolerance=1.0)
    m = compute_metrics(p)
    assert m.overall["r2"] is None
    assert m.overall["mae"] == pytest.approx(0.5)
    json.dumps(m.to_dict(), allow_nan=False)


# ---------------------------------------------------------------- to_dict


@pytest.mark.parametrize("name", ["binary", "multiclass", "regression"])
def test_to_dict_is_strict_json(name, request):
    p = request.getfixturevalue(name)
    m = compute_metrics(p, n_bins=5)
    out = json.loads(json.dumps(m.to_dict(), allow_nan=False))
    assert out["task"] == p.task and out["n"] == p.n
    assert out["overall"] == pytest.approx(m.overall)
    assert [row["metric"] for row in out["baselines"]] == m.baselines["metric"].tolist()
    if p.is_classification:
        assert out["confusion"]["labels"] == [
            c.item() if hasattr(c, "item") else c for c in p.classes
        ]
        assert out["confusion"]["matrix"] == m.confusion.to_numpy().tolist()
        assert out["calibration"]["ece"] == pytest.approx(m.calibration.ece)
        assert len(out["calibration"]["bins"]) == 5
        # empty bins and undefined baselines become null, not NaN
        assert out["calibration"]["bins"][0]["mean_confidence"] is None
        row = next(r for r in out["baselines"] if r["metric"] == "log_loss")
        assert row["stratified"] is None
        assert [r["class"] for r in out["per_class"]] == out["confusion"]["labels"]
    else:
        assert out["per_class"] is None and out["confusion"] is None
        assert out["calibration"] is None


def test_repr_html_shows_the_baseline_table(binary):
    html = compute_metrics(binary)._repr_html_()
    assert "<table" in html and "zero_rule" in html and "log_loss" in html


# ---------------------------------------------------------------- input types and labels


def _containers(values, kind):
    if kind == "list":
        return values
    if kind == "ndarray":
        return np.array(values, dtype=object if isinstance(values[0], str) else None)
    if kind == "Series":
        return pd.Series(values)
    return pd.DataFrame({"col": values})


@pytest.mark.parametrize("kind", ["list", "ndarray", "Series", "DataFrame"])
def test_same_result_for_list_ndarray_series_dataframe(kind):
    reference = compute_metrics(Predictions(BIN_Y, proba=BIN_P_B), n_bins=5)
    proba = [[1 - v, v] for v in BIN_P_B]
    proba_in = {
        "list": proba,
        "ndarray": np.array(proba),
        "Series": pd.Series(BIN_P_B),  # 1-D: the probability of classes[1]
        "DataFrame": pd.DataFrame(proba, columns=["a", "b"]),
    }[kind]
    p = Predictions(_containers(BIN_Y, kind), proba=proba_in)
    m = compute_metrics(p, n_bins=5)
    assert m.overall == pytest.approx(reference.overall)
    pd.testing.assert_frame_equal(m.baselines, reference.baselines)
    pd.testing.assert_frame_equal(m.per_class, reference.per_class)
    pd.testing.assert_frame_equal(m.calibration.bins, reference.calibration.bins)
    # y_pred given explicitly, in the same container
    y_pred = ["a", "a", "b", "b", "a"]
    q = Predictions(_containers(BIN_Y, kind), _containers(y_pred, kind), proba_in)
    assert compute_metrics(q, n_bins=5).overall == pytest.approx(reference.overall)


def test_integer_and_string_labels_give_the_same_numbers():
    as_int = {"a": 0, "b": 1}
    s = compute_metrics(Predictions(BIN_Y, proba=BIN_P_B))
    i = compute_metrics(Predictions([as_int[v] for v in BIN_Y], proba=BIN_P_B))
    assert i.overall == pytest.approx(s.overall)
    pd.testing.assert_frame_equal(i.baselines, s.baselines)
    assert i.per_class["class"].tolist() == [0, 1]
    assert i.confusion.to_numpy().tolist() == s.confusion.to_numpy().tolist()
    cols = ["precision", "recall", "f1", "support", "errors"]
    pd.testing.assert_frame_equal(i.per_class[cols], s.per_class[cols])


def test_does_not_mutate_inputs():
    y = np.array(["a", "a", "a", "b", "b"], dtype=object)
    proba = np.array([[1 - v, v] for v in BIN_P_B])
    y_copy, proba_copy = y.copy(), proba.copy()
    compute_metrics(Predictions(y, proba=proba))
    np.testing.assert_array_equal(y, y_copy)
    np.testing.assert_array_equal(proba, proba_copy)


# ---------------------------------------------------------------- bad input


def test_rejects_what_is_not_predictions():
    with pytest.raises(
        ToolkitTypeError, match=r"p must be a toolkit.Predictions, got \[0, 1\] \(list\)"
    ):
        compute_metrics([0, 1])


@pytest.mark.parametrize(
    ("n_bins", "exc"),
    [
        (0, InvalidValueError),
        (-1, InvalidValueError),
        (2.5, ToolkitTypeError),
        ("10", ToolkitTypeError),
    ],
)
def test_rejects_bad_n_bins(binary, n_bins, exc):
    # a wrong type is a TypeError, a wrong value a ValueError
    with pytest.raises(exc, match=r"n_bins must be an int in \[1, inf\)"):
        compute_metrics(binary, n_bins=n_bins)
