"""The label never sits among the features, and a feature that gives it away is flagged."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import toolkit as tk
from toolkit.exceptions import NotApplicableError, TargetInFeaturesWarning


# ------------------------------------------------------------------ target in features
def test_the_readme_tour_case_drops_income_with_a_warning_naming_it():
    from sklearn.ensemble import HistGradientBoostingClassifier

    from toolkit.datasets.adult import load_adult

    train, test = load_adult()
    num = ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
    model = HistGradientBoostingClassifier(random_state=0).fit(train[num], train["income"])
    with pytest.warns(TargetInFeaturesWarning, match=r"label column 'income'; it was dropped"):
        p = tk.Predictions.from_model(model, test[num], test["income"], features=test)
    assert "income" not in p.feature_names and len(p.feature_names) == test.shape[1] - 1
    patterns = tk.find_error_patterns(p, max_conditions=2)
    assert not any("income" in label for label in patterns.table["pattern"])


def test_a_renamed_copy_of_the_label_is_dropped_too():
    y = pd.Series(["a", "b", "a", "b", "b"], name="y")
    features = pd.DataFrame({"copy": y.to_numpy(), "x": [1, 2, 3, 4, 5]})
    with pytest.warns(TargetInFeaturesWarning, match=r"label column 'copy'") as record:
        p = tk.Predictions(y, ["a", "a", "a", "b", "b"], features=features)
    assert p.feature_names == ["x"] and list(features.columns) == ["copy", "x"]  # not mutated
    assert record[0].filename == __file__  # points at the caller's line


def test_from_frame_drops_a_target_listed_among_the_features():
    df = pd.DataFrame({"y": [0, 1, 1, 0], "pred": [0, 1, 0, 0], "x": [1.0, 2.0, 3.0, 4.0]})
    with pytest.warns(TargetInFeaturesWarning, match="'y'"):
        p = tk.Predictions.from_frame(df, target="y", pred="pred", features=["y", "x"])
    assert p.feature_names == ["x"]


def test_features_that_only_resemble_the_label_stay():
    y = np.array([0, 1, 1, 0, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = tk.Predictions(y, y, features={"almost": [0, 1, 1, 0, 0], "as_float": y * 1.0})
    assert p.feature_names == ["almost", "as_float"]  # another dtype is another column


# --------------------------------------------------------------------- leaky features
def test_accuracy_alone_by_hand():
    # code: a -> labels [x, x, y] (2 right), b -> [y, y] (2), c -> [x] (1): 5 of 6
    y = ["x", "x", "y", "y", "y", "x"]
    p = tk.Predictions(y, ["x"] * 6, features={"code": ["a", "a", "a", "b", "b", "c"]})
    table = tk.find_leaky_features(p).table
    row = table.iloc[0]
    assert row["accuracy_alone"] == pytest.approx(5 / 6)
    assert row["zero_rule"] == pytest.approx(3 / 6)
    assert row["error_reduction"] == pytest.approx((5 / 6 - 1 / 2) / (1 / 2))
    assert row["n_bins"] == 3 and not row["flagged"]


def test_a_planted_leak_on_real_data_is_the_only_flag():
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    data = load_breast_cancer(as_frame=True)
    X, y = data.data, data.target
    rng = np.random.default_rng(0)
    noisy = y.to_numpy().copy()
    flip = rng.choice(len(y), 3, replace=False)  # 3 of 569 rows disagree: 99.5%
    noisy[flip] = 1 - noisy[flip]
    features = X.assign(review_code=np.where(noisy == 1, "B-ok", "M-refer"))
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
    p = tk.Predictions.from_model(model, X, y, features=features)
    check = tk.find_leaky_features(p)
    assert check.flagged == ["review_code"]
    top = check.table.iloc[0]
    assert top["feature"] == "review_code"
    assert top["accuracy_alone"] == pytest.approx(1 - 3 / 569)
    assert top["zero_rule"] == pytest.approx(357 / 569)
    # the best real measurement alone is far from perfect
    assert check.table.iloc[1]["accuracy_alone"] < 0.95

    d = tk.diagnose(p, sections=["metrics", "leakage"])
    from toolkit.report import summary_sentences

    sentence = next(s for s in summary_sentences(d) if s.startswith("Possible"))
    assert sentence == (
        f"Possible leakage: review_code alone predicts the label for {1 - 3 / 569:.1%} of "
        f"rows, against {357 / 569:.1%} for always predicting the most frequent class; check "
        "how it was collected before trusting the other numbers."
    )
    assert d.to_dict()["leakage"][0]["feature"] == "review_code"
    html = d.to_html()
    assert '<section id="leakage">' in html and sentence in html


def test_leakage_needs_classification_and_features():
    rng = np.random.default_rng(1)
    reg = tk.Predictions(rng.normal(size=50), rng.normal(size=50), features={"x": range(50)})
    with pytest.raises(NotApplicableError, match="classification"):
        tk.find_leaky_features(reg)
    assert tk.diagnose(reg, sections=["leakage"]).skipped["leakage"] == (
        "leakage by a single feature is checked for classification"
    )
    with pytest.raises(NotApplicableError, match="no feature columns"):
        tk.find_leaky_features(tk.Predictions([0, 1], [0, 0]))
