"""Sample weights in compute_metrics, slice_metrics and find_error_patterns: unit weights
change nothing, integer weights are repeated rows, a zero weight removes a row,
scikit-learn's weighted metrics agree, hand-computed fixtures, and a planted case on the
real Adult data where the weights change the answer."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

import toolkit as tk
from toolkit.analysis._stats import (
    effective_counts,
    paired_mean_interval,
    rest_p_values,
    worse_than_rest_p_values,
)

Z = 1.959963984540054  # norm.ppf(0.975)


def _wilson_low(k: float, n: float) -> float:
    """The Wilson 95% lower bound, written out."""
    p = k / n
    centre = p + Z**2 / (2 * n)
    half = Z * math.sqrt(p * (1 - p) / n + Z**2 / (4 * n**2))
    return (centre - half) / (1 + Z**2 / n)


def _classification(seed: int = 0, n: int = 400, k: int = 3):
    """Labels, probabilities, two categorical features and integer weights 0..3."""
    rng = np.random.default_rng(seed)
    classes = ["a", "b", "c"][:k]
    y = rng.choice(classes, n)
    proba = rng.dirichlet(np.ones(k), n)
    # make the model better than chance, so the metrics are not all near a baseline
    codes = pd.Index(classes).get_indexer(y)
    proba[np.arange(n), codes] += rng.random(n)
    proba /= proba.sum(axis=1, keepdims=True)
    feats = {"g": rng.choice(["u", "v", "x"], n), "h": rng.choice(["p", "q"], n)}
    w = rng.integers(0, 4, n).astype(float)
    return y, proba, classes, feats, w


def _regression(seed: int = 0, n: int = 400):
    rng = np.random.default_rng(seed)
    g = rng.choice(["u", "v"], n)
    y = rng.normal(size=n)
    pred = y + rng.normal(size=n) * np.where(g == "u", 2.0, 0.5)
    return y, pred, {"g": g}, rng.integers(0, 4, n).astype(float)


# ------------------------------------------------------------- unit weights: no change


def test_all_ones_weights_give_exactly_the_unweighted_results():
    y, proba, classes, feats, _ = _classification(1)
    plain = tk.Predictions(y, proba=proba, classes=classes, features=feats)
    ones = tk.Predictions(
        y, proba=proba, classes=classes, features=feats, sample_weight=np.ones(y.size)
    )
    ref = np.where(np.arange(y.size) % 3 == 0, None, y)
    a, b = (
        tk.compute_metrics(plain, references={"r": ref}),
        tk.compute_metrics(ones, references={"r": ref}),
    )
    assert a.overall == b.overall
    pd.testing.assert_frame_equal(a.baselines, b.baselines)
    pd.testing.assert_frame_equal(a.per_class, b.per_class)
    pd.testing.assert_frame_equal(a.calibration.bins, b.calibration.bins)
    pd.testing.assert_frame_equal(a.reliability, b.reliability)
    pd.testing.assert_frame_equal(a.references, b.references)
    np.testing.assert_array_equal(a.confusion.to_numpy(), b.confusion.to_numpy())
    assert "sample_weight" in b.notes and "sample_weight" not in a.notes
    s_a = tk.slice_metrics(plain, pairs=True, min_size=1, references={"r": ref}).table
    s_b = tk.slice_metrics(ones, pairs=True, min_size=1, references={"r": ref}).table
    pd.testing.assert_frame_equal(s_a, s_b)
    for rank_by in ("severity", "excess", "errors"):
        p_a = tk.find_error_patterns(plain, rank_by=rank_by, holdout=0.3)
        p_b = tk.find_error_patterns(ones, rank_by=rank_by, holdout=0.3)
        assert p_a.to_dict() == p_b.to_dict()
    y, pred, feats, _ = _regression()
    plain = tk.Predictions(y, pred, features=feats)
    ones = tk.Predictions(y, pred, features=feats, sample_weight=np.ones(y.size))
    assert tk.compute_metrics(plain).overall == tk.compute_metrics(ones).overall
    pd.testing.assert_frame_equal(tk.slice_metrics(plain).table, tk.slice_metrics(ones).table)
    assert (
        tk.find_error_patterns(plain, holdout=0).to_dict()
        == tk.find_error_patterns(ones, holdout=0).to_dict()
    )


# ------------------------------------------------ integer weights are repeated rows


def test_integer_weights_give_the_point_estimates_of_repeated_rows():
    y, proba, classes, feats, w = _classification(2)
    rep = np.repeat(np.arange(y.size), w.astype(int))  # the oracle: each row w times
    weighted = tk.Predictions(y, proba=proba, classes=classes, features=feats, sample_weight=w)
    repeated = tk.Predictions(
        y[rep], proba=proba[rep], classes=classes, features={k: v[rep] for k, v in feats.items()}
    )
    a, b = tk.compute_metrics(weighted), tk.compute_metrics(repeated)
    for metric, value in b.overall.items():
        assert a.overall[metric] == pytest.approx(value, rel=1e-9, abs=1e-12), metric
    zero_a = a.baselines.set_index("metric")["zero_rule"]
    zero_b = b.baselines.set_index("metric")["zero_rule"]
    pd.testing.assert_series_equal(zero_a, zero_b, rtol=1e-9)
    cols = ["precision", "recall", "f1"]
    pd.testing.assert_frame_equal(a.per_class[cols], b.per_class[cols], rtol=1e-12)
    np.testing.assert_allclose(a.confusion.to_numpy(), b.confusion.to_numpy())
    np.testing.assert_allclose(
        a.calibration.bins[["mean_confidence", "accuracy"]].to_numpy(),
        b.calibration.bins[["mean_confidence", "accuracy"]].to_numpy(),
        rtol=1e-9,
    )
    rel = ["mean_score", "fraction_positive"]
    np.testing.assert_allclose(a.reliability[rel].to_numpy(), b.reliability[rel].to_numpy())
    # slices (categorical columns: the same cells either way)
    s_a = tk.slice_metrics(weighted, pairs=True).table.set_index("slice")
    s_b = tk.slice_metrics(repeated, pairs=True).table.set_index("slice").loc[s_a.index]
    for col in ("error_rate", "gap_pp", "accuracy", "log_loss", "brier"):
        np.testing.assert_allclose(s_a[col], s_b[col], rtol=1e-9, atol=1e-12, err_msg=col)
    # slice counts are rows (the rows given, not the repeats)
    assert s_a.loc["g = u", "n"] == int((feats["g"] == "u").sum())


def test_integer_weights_in_regression_are_repeated_rows():
    y, pred, feats, w = _regression(3)
    rep = np.repeat(np.arange(y.size), w.astype(int))
    tol = 1.0
    a = tk.compute_metrics(tk.Predictions(y, pred, tolerance=tol, sample_weight=w))
    b = tk.compute_metrics(tk.Predictions(y[rep], pred[rep], tolerance=tol))
    for metric in ("mae", "rmse", "r2", "error_rate"):
        assert a.overall[metric] == pytest.approx(b.overall[metric], rel=1e-9)
    assert a.baselines.set_index("metric").loc["mae", "zero_rule"] == pytest.approx(
        b.baselines.set_index("metric").loc["mae", "zero_rule"], rel=1e-9
    )
    s_a = tk.slice_metrics(tk.Predictions(y, pred, tolerance=tol, features=feats, sample_weight=w))
    s_b = tk.slice_metrics(
        tk.Predictions(y[rep], pred[rep], tolerance=tol, features={"g": feats["g"][rep]})
    )
    cols = ["error_rate", "mae", "rmse", "mean_error"]
    np.testing.assert_allclose(s_a.table[cols].to_numpy(), s_b.table[cols].to_numpy(), rtol=1e-9)


def test_pattern_numbers_are_those_of_repeated_rows():
    # every reported pattern, recounted on the repeated rows with a plain mask
    rng = np.random.default_rng(4)
    n = 2000
    frame = pd.DataFrame({"a": rng.choice(["x", "y", "z"], n), "b": rng.choice(["u", "v"], n)})
    wrong = rng.random(n) < np.where((frame["a"] == "x") & (frame["b"] == "u"), 0.5, 0.1)
    w = rng.integers(0, 4, n).astype(float)
    p = tk.Predictions(
        np.zeros(n, int), wrong.astype(int), classes=[0, 1], features=frame, sample_weight=w
    )
    result = tk.find_error_patterns(p, holdout=0)
    assert len(result.table) > 0
    rep = np.repeat(np.arange(n), w.astype(int))
    big, big_wrong = frame.iloc[rep].reset_index(drop=True), wrong[rep]
    assert result.overall_error_rate == pytest.approx(big_wrong.mean())
    for row in result.table.itertuples():
        mask = row.conditions.mask(big)
        e, m = big_wrong[mask].sum(), mask.sum()
        assert row.n == row.conditions.mask(frame).sum()  # rows given
        assert row.error_rate == pytest.approx(e / m)
        assert row.gain_pp == pytest.approx(e / rep.size * 100)
        rest = (big_wrong.sum() - e) / (rep.size - m)
        assert row.excess_pp == pytest.approx((e - m * rest) / rep.size * 100)
        assert row.lift == pytest.approx(e / m / big_wrong.mean())
        assert row.share_of_errors == pytest.approx(e / big_wrong.sum())


# ---------------------------------------------------- a zero weight removes the row


def test_zero_weight_is_the_row_removed():
    y, proba, classes, feats, w = _classification(5)
    keep = w > 0
    weighted = tk.Predictions(y, proba=proba, classes=classes, features=feats, sample_weight=w)
    subset = tk.Predictions(
        y[keep],
        proba=proba[keep],
        classes=classes,
        features={k: v[keep] for k, v in feats.items()},
        sample_weight=w[keep],
    )
    a, b = tk.compute_metrics(weighted), tk.compute_metrics(subset)
    for metric, value in b.overall.items():
        assert a.overall[metric] == pytest.approx(value, rel=1e-12, abs=1e-15), metric
    np.testing.assert_allclose(a.confusion.to_numpy(), b.confusion.to_numpy())
    s_a = tk.slice_metrics(weighted).table
    s_b = tk.slice_metrics(subset).table
    cols = ["error_rate", "ci_low", "ci_high", "gap_pp", "p_value", "log_loss"]
    np.testing.assert_allclose(s_a[cols].to_numpy(), s_b[cols].to_numpy(), rtol=1e-9)
    assert (s_a["n"] >= s_b["n"]).all() and s_a["n"].sum() > s_b["n"].sum()


# --------------------------------------------------------- scikit-learn as the oracle


@pytest.mark.parametrize("k", [2, 3])
def test_classification_metrics_agree_with_scikit_learn_sample_weight(k):
    y, proba, classes, _, w = _classification(6, k=k)
    w = w + np.random.default_rng(0).random(w.size)  # not integers
    m = tk.compute_metrics(tk.Predictions(y, proba=proba, classes=classes, sample_weight=w))
    pred = np.array(classes)[proba.argmax(axis=1)]
    o = m.overall
    assert o["accuracy"] == pytest.approx(skm.accuracy_score(y, pred, sample_weight=w))
    assert o["balanced_accuracy"] == pytest.approx(
        skm.balanced_accuracy_score(y, pred, sample_weight=w)
    )
    assert o["f1_macro"] == pytest.approx(skm.f1_score(y, pred, average="macro", sample_weight=w))
    assert o["cohen_kappa"] == pytest.approx(skm.cohen_kappa_score(y, pred, sample_weight=w))
    assert o["log_loss"] == pytest.approx(skm.log_loss(y, proba, labels=classes, sample_weight=w))
    if k == 2:
        auc = skm.roc_auc_score(y == classes[1], proba[:, 1], sample_weight=w)
        brier = skm.brier_score_loss(y == classes[1], proba[:, 1], sample_weight=w)
    else:
        auc = skm.roc_auc_score(y, proba, multi_class="ovr", sample_weight=w)
        brier = np.average(((proba - (y[:, None] == np.array(classes))) ** 2).sum(1), weights=w)
    assert o["roc_auc"] == pytest.approx(auc)
    assert o["brier"] == pytest.approx(brier)
    precision, recall, f1, _ = skm.precision_recall_fscore_support(y, pred, sample_weight=w)
    np.testing.assert_allclose(m.per_class["precision"], precision)
    np.testing.assert_allclose(m.per_class["recall"], recall)
    np.testing.assert_allclose(m.per_class["f1"], f1)
    assert m.per_class["support"].tolist() == [int((y == c).sum()) for c in classes]  # rows
    np.testing.assert_allclose(
        m.confusion.to_numpy(), skm.confusion_matrix(y, pred, labels=classes, sample_weight=w)
    )
    # the zero rule predicts the class of largest weight, not the most frequent one
    heavy = classes[int(np.argmax([w[y == c].sum() for c in classes]))]
    assert repr(heavy) in m.notes["zero_rule"]
    assert m.baselines.set_index("metric").loc["accuracy", "zero_rule"] == pytest.approx(
        w[y == heavy].sum() / w.sum()
    )


def test_regression_metrics_agree_with_scikit_learn_sample_weight():
    y, pred, _, w = _regression(7)
    w = w + 0.5
    m = tk.compute_metrics(tk.Predictions(y, pred, tolerance=1.0, sample_weight=w))
    assert m.overall["mae"] == pytest.approx(skm.mean_absolute_error(y, pred, sample_weight=w))
    assert m.overall["rmse"] == pytest.approx(skm.root_mean_squared_error(y, pred, sample_weight=w))
    assert m.overall["r2"] == pytest.approx(skm.r2_score(y, pred, sample_weight=w))
    assert m.overall["error_rate"] == pytest.approx(np.average(np.abs(pred - y) > 1, weights=w))
    assert "weighted mean" in m.notes["zero_rule"]


def test_reference_gap_interval_uses_the_kish_effective_size():
    y = np.array([0, 0, 1, 1, 0, 1, 1, 0])
    pred = np.array([0, 1, 1, 0, 0, 1, 0, 0])  # wrong on rows 1, 3, 6
    ref = np.array([0, 0, 1, 1, 0, 0, 1, 0])  # wrong on row 5
    w = np.array([1.0, 3.0, 1.0, 2.0, 1.0, 1.0, 0.5, 2.0])
    m = tk.compute_metrics(tk.Predictions(y, pred, sample_weight=w), references={"r": ref})
    row = m.references.set_index("metric").loc["error_rate"]
    d = (pred != y).astype(float) - (ref != y)
    big_w, mean = w.sum(), np.average(d, weights=w)
    n_eff = big_w**2 / (w**2).sum()
    var = (w * (d - mean) ** 2).sum() / (big_w - (w**2).sum() / big_w)
    half = Z * math.sqrt(var / n_eff)
    assert row["gap"] == pytest.approx(mean)
    assert row["ci_low"] == pytest.approx(mean - half)
    assert row["ci_high"] == pytest.approx(min(mean + half, 1.0))
    assert row["n"] == 8  # rows
    # unit weights: the unweighted paired interval
    n = np.array([8.0])
    plain = paired_mean_interval(n, np.array([d.sum()]), np.array([(d**2).sum()]))
    unit = paired_mean_interval(n, np.array([d.sum()]), np.array([(d**2).sum()]), sum_w2=n)
    np.testing.assert_array_equal(np.array(plain), np.array(unit))


def test_weighted_test_against_the_rest_on_effective_counts():
    rng = np.random.default_rng(8)
    e = rng.integers(0, 30, 50).astype(float)
    n = e + rng.integers(1, 60, 50)
    # unit weights (Σw² = n): the unweighted test, exactly, z and exact branches alike
    np.testing.assert_array_equal(
        rest_p_values(e, n, n, 400.0, 2000.0, 2000.0),
        worse_than_rest_p_values(e, n, 400, 2000),
    )
    # every weight 3: the same effective counts, the same p-values
    np.testing.assert_allclose(
        rest_p_values(3 * e, 3 * n, 9 * n, 1200.0, 6000.0, 18000.0),
        worse_than_rest_p_values(e, n, 400, 2000),
        rtol=1e-9,
    )
    k, m = effective_counts(np.array([0.0]), np.array([0.0]), np.array([0.0]))
    assert (k[0], m[0]) == (0.0, 0.0)  # no weight: nothing


# ------------------------------------------------------------------ by hand, 6 rows


def test_six_rows_by_hand_slice():
    # F: weights 1, 2, 3, error on the 2 -> 2 / 6; M: weights 1, 1, 4, error on a 1 -> 1 / 6
    sex = ["F", "F", "F", "M", "M", "M"]
    y = [0, 0, 0, 0, 0, 0]
    pred = [0, 1, 0, 1, 0, 0]
    w = [1, 2, 3, 1, 1, 4]
    p = tk.Predictions(y, pred, classes=[0, 1], features={"sex": sex}, sample_weight=w)
    result = tk.slice_metrics(p, min_size=1)
    t = result.table.set_index("slice")
    assert result.overall_error_rate == pytest.approx(3 / 12)
    assert t.loc["sex = F", ["n", "errors"]].tolist() == [3, 1]  # rows
    assert t.loc["sex = F", "error_rate"] == pytest.approx(2 / 6)
    assert t.loc["sex = M", "error_rate"] == pytest.approx(1 / 6)
    assert t.loc["sex = F", "gap_pp"] == pytest.approx((2 / 6 - 3 / 12) * 100)
    assert t.loc["sex = F", "accuracy"] == pytest.approx(4 / 6)
    # Wilson on the effective size: F has n_eff = 6² / 14, errors_eff = 2 * 6 / 14
    assert t.loc["sex = F", "ci_low"] == pytest.approx(_wilson_low(12 / 14, 36 / 14))
    assert t.loc["sex = M", "ci_low"] == pytest.approx(_wilson_low(6 / 18, 36 / 18))


def test_six_rows_by_hand_pattern():
    # red: errors on rows of weight 1, 1, 2 (E = W = 4, Σw² = 6, n_eff = 16 / 6);
    # blue: 3 right rows of weight 1. The one pattern is "color = r".
    color = ["r", "r", "r", "b", "b", "b"]
    p = tk.Predictions(
        [0] * 6,
        [1, 1, 1, 0, 0, 0],
        classes=[0, 1],
        features={"color": color},
        sample_weight=[1, 1, 2, 1, 1, 1],
    )
    result = tk.find_error_patterns(p, holdout=0, min_support=1, alpha=0.5, min_lift=1.0)
    row = result.table.iloc[0]
    assert row["pattern"] == "color = r" and len(result.table) == 1
    assert (row["n"], row["errors"]) == (3, 3)  # rows
    assert result.overall_error_rate == pytest.approx(4 / 7)
    assert row["error_rate"] == 1.0
    n_eff = 16 / 6
    assert row["ci_low"] == pytest.approx(n_eff / (n_eff + Z**2))  # all errors: n / (n + z²)
    assert row["ci_low"] == pytest.approx(_wilson_low(n_eff, n_eff))
    assert row["gain_pp"] == pytest.approx(4 / 7 * 100)
    assert row["excess_pp"] == pytest.approx((4 - 4 * 0 / 3) / 7 * 100)
    assert row["lift"] == pytest.approx(1 / (4 / 7))
    # Fisher's exact test on the rounded effective counts: 3 of 3 errors in 3 of 6 rows
    assert row["p_value"] == pytest.approx(1 / 20)


# ------------------------------------------------------------ real data: Adult


@pytest.fixture(scope="module")
def adult():
    from toolkit.datasets.adult import load_adult

    _, test = load_adult()
    cols = ["workclass", "education", "relationship", "race", "sex"]
    return test[cols].reset_index(drop=True), test["income"].to_numpy()


def test_up_weighting_an_under_sampled_group_makes_its_pattern_first_by_excess(adult):
    # Two planted slices at 60% errors (10% elsewhere): Bachelors (2,670 rows) and
    # Self-emp-inc (579 rows). Unweighted, Bachelors has the larger excess (8.0 points
    # against 1.5). If the Self-emp-inc rows were sampled at 1 in 8 (weight 8), they are
    # the larger excess (9.3 points against 7.4).
    frame, y = adult
    rng = np.random.default_rng(0)
    big = (frame["education"] == "Bachelors").to_numpy()
    small = (frame["workclass"] == "Self-emp-inc").to_numpy()
    wrong = rng.random(y.size) < np.where(big | small, 0.6, 0.1)
    pred = np.where(wrong, np.where(y == ">50K", "<=50K", ">50K"), y)
    w = np.where(small, 8.0, 1.0)
    kw = dict(rank_by="excess", random_state=0)
    plain = tk.find_error_patterns(tk.Predictions(y, pred, features=frame), **kw)
    weighted = tk.find_error_patterns(
        tk.Predictions(y, pred, features=frame, sample_weight=w), **kw
    )
    assert plain.table["pattern"].iloc[0] == "education = Bachelors"
    assert round(plain.table["excess_pp"].iloc[0], 1) == 8.0
    first = weighted.table.iloc[0]
    rows = first["conditions"].mask(frame)
    assert first["pattern"] == "workclass = Self-emp-inc"
    assert (rows == small).all()
    assert round(first["excess_pp"], 1) == 9.3
    # the numbers, from plain masks
    e_w, n_w = (w * wrong)[rows].sum(), w[rows].sum()
    total_e, total_w = (w * wrong).sum(), w.sum()
    assert first["n"] == rows.sum() and first["errors"] == wrong[rows].sum()
    assert first["error_rate"] == pytest.approx(e_w / n_w)
    assert first["gain_pp"] == pytest.approx(e_w / total_w * 100)
    rest = (total_e - e_w) / (total_w - n_w)
    assert first["excess_pp"] == pytest.approx((e_w - n_w * rest) / total_w * 100)
    assert weighted.overall_error_rate == pytest.approx(total_e / total_w)
    # a uniform weight within the slice leaves its rate and severity as they were
    same = plain.table.set_index("pattern").loc[first["pattern"]]
    assert first["error_rate"] == pytest.approx(same["error_rate"])
    assert first["ci_low"] == pytest.approx(same["ci_low"])
    # and the slice of the same rows has the same weighted rate
    s = tk.slice_metrics(
        tk.Predictions(y, pred, features=frame, sample_weight=w), by="workclass"
    ).table.set_index("slice")
    assert s.loc["workclass = Self-emp-inc", "error_rate"] == pytest.approx(wrong[small].mean())


# ---------------------------------------------------------------------- what the reader sees
def test_the_summary_says_rates_are_by_weight_and_cites_the_weighted_numbers():
    """Counts stay rows, rates are shares of the weight: the sentences say which is which
    and their numbers are the weighted ones, computed here by hand."""
    from toolkit.report.summary import summary_sentences

    rng = np.random.default_rng(7)
    n = 400
    group = rng.choice(["a", "b"], n)
    y = rng.integers(0, 2, n)
    wrong = rng.random(n) < np.where(group == "a", 0.5, 0.1)
    pred = np.where(wrong, 1 - y, y)
    w = np.where(group == "a", 1.0, 2.5)
    p = tk.Predictions(y, pred, features=pd.DataFrame({"group": group}), sample_weight=w)
    d = tk.diagnose(p, sections=["metrics", "error_patterns"])
    rate = float(np.sum(w * wrong) / np.sum(w))
    assert d.meta["weighted"] is True and d.meta["error_rate"] == pytest.approx(rate)
    first = summary_sentences(d)[0]
    assert first.startswith(f"The model is wrong on {rate:.1%} by weight of {n:,} rows")
    worst = d.error_patterns.table.iloc[0]
    assert worst["pattern"] == "group = a"
    rows = group == "a"
    own_rate = float(np.sum(w[rows] * wrong[rows]) / np.sum(w[rows]))
    sentence = next(s for s in summary_sentences(d) if s.startswith("The most severe"))
    assert f"{int(wrong[rows].sum()):,} of {int(rows.sum()):,} rows wrong" in sentence
    assert f"({own_rate:.1%} by weight, 95% CI" in sentence
    assert f"against {rate:.1%} overall" in sentence
    unweighted = tk.diagnose(tk.Predictions(y, pred), sections=["metrics"])
    assert unweighted.meta["weighted"] is False
    assert "by weight" not in summary_sentences(unweighted)[0]


# ---------------------------------------------------------------------- numeric cut points
def test_numeric_cuts_are_quantiles_of_the_weight_by_hand():
    from toolkit.analysis.binning import bin_column

    values = np.arange(1, 9, dtype=float)
    # unweighted, the cut is the value where half of the rows are reached (4 of 8)
    assert bin_column(values, "x", bins=2).labels == ["x < 4", "x ≥ 4"]
    # weight 9 on x = 8: it holds 9 of 16, more than 1/bins, so it is a bin of its own
    w = np.array([1, 1, 1, 1, 1, 1, 1, 9], dtype=float)
    assert bin_column(values, "x", bins=2, weights=w).labels == ["x < 8", "x = 8"]
    # the oracle: the same column written out row by row
    assert bin_column(np.repeat(values, w.astype(int)), "x", bins=2).labels == ["x < 8", "x = 8"]
    # weight 0 is the row left out
    zero = np.array([0, 0, 0, 0, 1, 1, 1, 1], dtype=float)
    assert (
        bin_column(values, "x", bins=2, weights=zero).labels
        == bin_column(values[4:], "x", bins=2).labels
    )


def test_slices_and_patterns_on_a_numeric_column_are_those_of_repeated_rows():
    rng = np.random.default_rng(11)
    n = 600
    income = np.round(rng.lognormal(10, 0.6, n), -2)
    y = rng.integers(0, 2, n)
    wrong = rng.random(n) < np.where(income > np.quantile(income, 0.8), 0.45, 0.08)
    pred = np.where(wrong, 1 - y, y)
    w = rng.integers(1, 5, n)
    rep = np.repeat(np.arange(n), w)
    weighted = tk.Predictions(y, pred, features={"income": income}, sample_weight=w)
    repeated = tk.Predictions(y[rep], pred[rep], features={"income": income[rep]})
    s_a = tk.slice_metrics(weighted).table.set_index("slice")
    s_b = tk.slice_metrics(repeated).table.set_index("slice")
    assert list(s_a.index) == list(s_b.index)  # the same cut points
    np.testing.assert_allclose(s_a["error_rate"], s_b["error_rate"], rtol=1e-12)
    a = tk.find_error_patterns(weighted, holdout=0)
    b = tk.find_error_patterns(repeated, holdout=0, min_support=a.min_support)
    assert a.table["pattern"].iloc[0] == b.table["pattern"].iloc[0]
    assert a.table["pattern"].iloc[0].startswith("income ≥")
    assert a.table["error_rate"].iloc[0] == pytest.approx(b.table["error_rate"].iloc[0])
