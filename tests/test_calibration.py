"""Reliability curves as the book draws them, and calibration as a fix judged on its own split.

Oracles: scikit-learn's ``calibration_curve``, ``IsotonicRegression`` and
``CalibratedClassifierCV`` on a real fitted model; counts by plain masks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import CalibratedClassifierCV, calibration_curve
from sklearn.frozen import FrozenEstimator
from sklearn.isotonic import IsotonicRegression

import toolkit as tk
from toolkit.analysis.metrics import reliability_curves
from toolkit.exceptions import InvalidValueError, NotApplicableError, ValidationError


def test_ten_bin_reliability_diagram_on_hand_made_scores():
    # 10 rows in each of bins 0.0-0.1, 0.3-0.4 and 0.8-0.9: 1, 4 and 8 positives
    scores = np.repeat([0.05, 0.35, 0.85], 10)
    y = np.zeros(30, dtype=int)
    y[[0]] = 1
    y[10:14] = 1
    y[20:28] = 1
    curve = reliability_curves(tk.Predictions(y, proba=scores), n_bins=10)
    assert curve["n"].tolist() == [10, 0, 0, 10, 0, 0, 0, 0, 10, 0]
    filled = curve[curve["n"] > 0]
    assert filled["fraction_positive"].tolist() == pytest.approx([0.1, 0.4, 0.8])
    assert filled["mean_score"].tolist() == pytest.approx([0.05, 0.35, 0.85])
    assert curve["bin_low"].tolist() == pytest.approx(np.arange(10) / 10)
    assert curve.loc[curve["n"] == 0, "fraction_positive"].isna().all()
    assert set(curve["class"]) == {1}  # two classes: the positive class's score


def test_reliability_matches_sklearn_calibration_curve_including_bin_edges():
    rng = np.random.default_rng(1)
    scores = np.round(rng.random(500), 1)  # many scores exactly on a bin edge
    y = (rng.random(500) < scores).astype(int)
    curve = reliability_curves(tk.Predictions(y, proba=scores), n_bins=10)
    truth, mean = calibration_curve(y, scores, n_bins=10)
    filled = curve[curve["n"] > 0]
    assert filled["fraction_positive"].to_numpy() == pytest.approx(truth)
    assert filled["mean_score"].to_numpy() == pytest.approx(mean)
    edges = np.linspace(0, 1, 11)
    # right-closed bins, the first holding 0: count by plain masks
    by_hand = [
        ((scores > lo) | ((lo == 0) & (scores == 0))) & (scores <= hi)
        for lo, hi in zip(edges[:-1], edges[1:], strict=True)
    ]
    assert curve["n"].tolist() == [int(m.sum()) for m in by_hand]


def test_multiclass_has_one_one_vs_rest_curve_per_class():
    rng = np.random.default_rng(2)
    proba = rng.dirichlet([1, 1, 1], 300)
    y = np.array([rng.choice(3, p=row) for row in proba])
    labels = np.array(["a", "b", "c"])
    curve = reliability_curves(tk.Predictions(labels[y], proba=proba), n_bins=5)
    assert curve["class"].unique().tolist() == ["a", "b", "c"]
    for j, c in enumerate(labels):
        rows = curve[(curve["class"] == c) & (curve["n"] > 0)]
        truth, mean = calibration_curve(y == j, proba[:, j], n_bins=5)
        assert rows["fraction_positive"].to_numpy() == pytest.approx(truth)
        assert rows["mean_score"].to_numpy() == pytest.approx(mean)
    m = tk.compute_metrics(tk.Predictions(labels[y], proba=proba), n_bins=5)
    pd.testing.assert_frame_equal(m.reliability, curve)
    assert len(m.to_dict()["reliability"]) == 15


def _binary(n: int, seed: int, ids_from: int = 0) -> tk.Predictions:
    """Over-confident scores: the true probability is s, the model says s**0.3-ish."""
    rng = np.random.default_rng(seed)
    truth = rng.random(n)
    y = (rng.random(n) < truth).astype(int)
    said = truth**2 / (truth**2 + (1 - truth) ** 2)
    return tk.Predictions(y, proba=said, ids=np.arange(ids_from, ids_from + n))


def test_isotonic_is_sklearns_isotonic_regression_on_the_positive_score():
    p_cal, p_test = _binary(500, 0), _binary(300, 1, ids_from=10_000)
    cal = tk.calibrate(p_cal, method="isotonic")
    iso = IsotonicRegression(out_of_bounds="clip").fit(p_cal.proba[:, 1], p_cal.y_true)
    expected = iso.predict(p_test.proba[:, 1])
    got = cal.apply(p_test)
    assert got.proba[:, 1] == pytest.approx(expected)
    assert got.proba.sum(axis=1) == pytest.approx(1.0)
    assert (got.y_pred == np.where(got.proba[:, 1] > 0.5, 1, 0)).all()


def test_sigmoid_agrees_with_sklearn_calibrating_the_real_model():
    from sklearn.datasets import make_classification
    from sklearn.naive_bayes import GaussianNB

    X, y = make_classification(1500, n_features=8, random_state=0)
    model = GaussianNB().fit(X[:500], y[:500])
    oracle = CalibratedClassifierCV(FrozenEstimator(model), method="sigmoid")
    oracle.fit(X[500:1000], y[500:1000])
    p_cal = tk.Predictions.from_model(model, X[500:1000], y[500:1000])
    p_test = tk.Predictions.from_model(model, X[1000:], y[1000:], ids=np.arange(1000, 1500))
    got = tk.calibrate(p_cal, method="sigmoid").apply(p_test)
    assert got.proba == pytest.approx(oracle.predict_proba(X[1000:]), abs=1e-6)


def test_evaluate_reports_metrics_before_and_after_on_the_test_split():
    p_cal, p_test = _binary(2000, 0), _binary(2000, 1, ids_from=10_000)
    cal = tk.calibrate(p_cal)
    check = cal.evaluate(p_test)
    after = cal.apply(p_test)
    table = check.table.set_index("metric")
    for metric in ("ece", "brier", "log_loss"):
        before_m = tk.compute_metrics(p_test).overall[metric]
        after_m = tk.compute_metrics(after).overall[metric]
        assert table.loc[metric, "before"] == pytest.approx(before_m)
        assert table.loc[metric, "after"] == pytest.approx(after_m)
        assert table.loc[metric, "change"] == pytest.approx(after_m - before_m)
    assert table.loc["ece", "after"] < table.loc["ece", "before"]
    assert (check.n_calibration, check.n_test, check.method) == (2000, 2000, "isotonic")
    data = check.to_dict()
    assert data["method"] == "isotonic" and len(data["table"]) == 3
    assert len(data["reliability_after"]) == 10


def test_scoring_on_the_calibration_rows_is_refused():
    p_cal = _binary(200, 0)
    cal = tk.calibrate(p_cal)
    with pytest.raises(ValidationError, match=r"200 of the 200 rows .* are rows the calibration"):
        cal.evaluate(p_cal)
    with pytest.raises(ValidationError, match="pass rows held out from the calibration split"):
        cal.apply(p_cal)
    # a test split that shares 10 rows with the calibration split
    mixed = tk.Predictions(
        np.concatenate([p_cal.y_true[:10], _binary(50, 3).y_true]),
        proba=np.vstack([p_cal.proba[:10], _binary(50, 3).proba]),
        ids=np.concatenate([np.arange(10), np.arange(10_000, 10_050)]),
    )
    with pytest.raises(ValidationError, match=r"^10 of the 60 rows \(ids \[0, 1, 2, 3, 4,"):
        cal.apply(mixed)
    with pytest.raises(ValidationError, match="rows the calibration was fitted on"):
        tk.diagnose(p_cal, calibration=p_cal, sections=["calibration_fix"])


def test_same_ids_but_other_rows_are_not_the_calibration_rows():
    # two splits that both number their rows 0..n-1 are still different rows
    p_cal, p_test = _binary(300, 0), _binary(300, 1)
    assert (p_cal.ids == p_test.ids).all()
    assert tk.calibrate(p_cal).apply(p_test).n == 300


def test_apply_keeps_the_rows_and_changes_nothing_passed():
    p_cal = _binary(300, 0)
    rng = np.random.default_rng(5)
    test = _binary(100, 1, ids_from=500)
    features = pd.DataFrame({"g": rng.choice(["a", "b"], 100)})
    p_test = tk.Predictions(test.y_true, proba=test.proba, ids=test.ids, features=features)
    proba_before = p_test.proba.copy()
    out = tk.calibrate(p_cal).apply(p_test)
    assert (out.ids == p_test.ids).all() and (out.y_true == p_test.y_true).all()
    pd.testing.assert_frame_equal(out.features, features)
    assert (p_test.proba == proba_before).all()


def test_bad_calibration_inputs_are_named():
    with pytest.raises(InvalidValueError, match="calibrate: method must be one of"):
        tk.calibrate(_binary(50, 0), method="platt")
    with pytest.raises(NotApplicableError, match="calibrate needs class probabilities"):
        tk.calibrate(tk.Predictions([0, 1, 1], [0, 1, 0]))
    with pytest.raises(NotApplicableError, match="this is a regression task"):
        tk.calibrate(tk.Predictions([0.5, 1.5, 2.25], [0.5, 1.0, 2.0]))
    one_class = tk.Predictions([0, 0, 0], proba=[0.1, 0.2, 0.3], classes=[0, 1])
    with pytest.raises(ValidationError, match=r"no row of class\(es\) \[1\]"):
        tk.calibrate(one_class)
    cal = tk.calibrate(_binary(50, 0))
    other = tk.Predictions(["a", "b"], proba=[0.2, 0.9])
    with pytest.raises(ValidationError, match=r"fitted on classes \[0, 1\] but these"):
        cal.apply(other)


def _calibration_on_real_data(X: np.ndarray, y: np.ndarray, model) -> pd.DataFrame:
    """Train, calibration and test splits; isotonic fitted on the calibration split."""
    from sklearn.model_selection import train_test_split

    X_fit, X_rest, y_fit, y_rest = train_test_split(X, y, test_size=0.6, random_state=0)
    X_cal, X_test, y_cal, y_test = train_test_split(X_rest, y_rest, test_size=0.5, random_state=0)
    model.fit(X_fit, y_fit)
    p_cal = tk.Predictions.from_model(model, X_cal, y_cal)
    p_test = tk.Predictions.from_model(model, X_test, y_test, ids=np.arange(len(y_test)) + 10**6)
    return tk.calibrate(p_cal, method="isotonic").evaluate(p_test).table.set_index("metric")


def test_digits_isotonic_on_a_separate_split_improves_ece_on_the_test_split():
    from sklearn.datasets import load_digits
    from sklearn.naive_bayes import GaussianNB

    X, y = load_digits(return_X_y=True)
    table = _calibration_on_real_data(X, y, GaussianNB())
    assert table.loc["ece", "after"] < table.loc["ece", "before"] - 0.05
    assert table.loc["log_loss", "after"] < table.loc["log_loss", "before"]


def test_adult_isotonic_on_a_separate_split_improves_ece_on_the_test_split():
    from sklearn.naive_bayes import GaussianNB

    from toolkit.datasets import load_adult

    train, _ = load_adult()
    sample = train.sample(8000, random_state=0)
    numeric = ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
    table = _calibration_on_real_data(
        sample[numeric].to_numpy(float), sample["income"].to_numpy(), GaussianNB()
    )
    assert table.loc["ece", "after"] < table.loc["ece", "before"]
    assert table.loc["brier", "after"] < table.loc["brier", "before"]
