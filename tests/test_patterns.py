"""find_error_patterns: hand-built tables with written-out answers, planted slices, properties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import toolkit as tk
from toolkit._json import json_safe
from toolkit.analysis.conditions import Condition, Pattern
from toolkit.analysis.patterns import ErrorPatterns
from toolkit.exceptions import (
    ColumnNotFoundError,
    InvalidValueError,
    ToolkitTypeError,
    ValidationError,
)


def _table(cells):
    """Rows from {(color, shape): (n, errors)}; errors are the first rows of each cell."""
    color, shape, wrong = [], [], []
    for (c, s), (n, e) in cells.items():
        color += [c] * n
        shape += [s] * n
        wrong += [True] * e + [False] * (n - e)
    y_true = np.zeros(len(wrong), dtype=int)
    y_pred = np.array(wrong, dtype=int)
    return tk.Predictions(y_true, y_pred, classes=[0, 1], features={"color": color, "shape": shape})


def test_two_overlapping_patterns_and_their_interaction_written_out_by_hand():
    # red: 110/200 errors, square: 110/200, red ∧ square: 70/100; 155 errors in 400 rows.
    p = _table(
        {
            ("red", "square"): (100, 70),
            ("red", "round"): (100, 40),
            ("blue", "square"): (100, 40),
            ("blue", "round"): (100, 5),
        }
    )
    r = tk.find_error_patterns(p, holdout=0, min_support=10).table
    assert r["pattern"].tolist() == [
        "color = red",
        "shape = square",
        "color = red ∧ shape = square",
    ]
    assert r["n"].tolist() == [200, 200, 100]
    assert r["errors"].tolist() == [110, 110, 70]
    np.testing.assert_allclose(r["error_rate"], [0.55, 0.55, 0.70])
    np.testing.assert_allclose(r["lift"], [0.55 / 0.3875, 0.55 / 0.3875, 0.70 / 0.3875])
    np.testing.assert_allclose(r["share_of_errors"], [110 / 155, 110 / 155, 70 / 155])
    np.testing.assert_allclose(r["gain_pp"], [27.5, 27.5, 17.5])
    # red: 110 errors; square adds blue ∧ square's 40; red ∧ square adds none: 150/400
    np.testing.assert_allclose(r["cumulative_gain_pp"], [27.5, 37.5, 37.5])
    assert r["conditions"].tolist()[2] == Pattern(
        (Condition("color", "==", "red"), Condition("shape", "==", "square"))
    )
    assert json_safe(r["conditions"].tolist()[2]) == [
        {"column": "color", "op": "==", "value": "red"},
        {"column": "shape", "op": "==", "value": "square"},
    ]
    assert r["pattern"].tolist() == [c.label for c in r["conditions"]]
    assert r["confirmed"].isna().all()  # no holdout, nothing to confirm
    assert (r["q_value"] < 0.05).all()


def test_parent_explained_by_its_refinement_is_replaced_by_it():
    # All excess error sits in red ∧ square; red ∧ round and blue are at the base rate.
    p = _table(
        {
            ("red", "square"): (40, 30),
            ("red", "round"): (60, 3),
            ("blue", "square"): (50, 3),
            ("blue", "round"): (50, 2),
        }
    )
    r = tk.find_error_patterns(p, holdout=0, min_support=10).table
    assert r["pattern"].tolist() == ["color = red ∧ shape = square"]
    assert (r["n"].iloc[0], r["errors"].iloc[0]) == (40, 30)
    np.testing.assert_allclose(r["gain_pp"], [30 / 200 * 100])
    np.testing.assert_allclose(r["share_of_errors"], [30 / 38])


def test_child_that_adds_nothing_over_its_parent_is_dropped():
    # Errors depend on color only: red 50% in both shapes, blue 5%.
    p = _table(
        {
            ("red", "square"): (100, 50),
            ("red", "round"): (100, 50),
            ("blue", "square"): (100, 5),
            ("blue", "round"): (100, 5),
        }
    )
    r = tk.find_error_patterns(p, holdout=0, min_support=10).table
    assert r["pattern"].tolist() == ["color = red"]
    assert r["errors"].tolist() == [100]


def test_nothing_found_when_errors_are_uniform():
    p = _table({(c, s): (100, 10) for c in ("red", "blue") for s in ("square", "round")})
    result = tk.find_error_patterns(p, holdout=0, min_support=10)
    assert len(result) == 0 and result.patterns == []
    assert list(result.table.columns[:3]) == ["pattern", "conditions", "n_conditions"]
    assert result.n_significant == 0 and result.n_kept == 0
    assert result.to_dict()["table"] == []


def test_holdout_confirms_a_strong_pattern_and_is_deterministic():
    rng = np.random.default_rng(1)
    n = 4000
    color = rng.choice(["red", "blue", "green"], n)
    size = rng.choice(["S", "M", "L"], n)
    planted = (color == "red") & (size == "S")
    wrong = np.where(planted, rng.random(n) < 0.8, rng.random(n) < 0.1)
    p = tk.Predictions(
        np.zeros(n, int), wrong.astype(int), classes=[0, 1], features={"color": color, "size": size}
    )
    result = tk.find_error_patterns(p, random_state=3)
    a = result.table
    b = tk.find_error_patterns(p, random_state=3).table
    pd.testing.assert_frame_equal(a, b)
    assert a["pattern"].iloc[0] == "color = red ∧ size = S"
    assert bool(a["confirmed"].iloc[0])
    assert a["holdout_n"].iloc[0] == pytest.approx(planted.sum() / 2, abs=40)
    assert 0.7 < a["holdout_error_rate"].iloc[0] < 0.9
    assert result.n_search == 2000 and result.n == n and result.holdout == 0.5


def test_numeric_bins_and_missing_values_are_pattern_atoms():
    rng = np.random.default_rng(2)
    n = 3000
    age = rng.integers(18, 80, n).astype(float)
    age[:300] = np.nan
    job = rng.choice(["a", "b"], n)
    wrong = rng.random(n) < 0.08
    wrong[:300] = rng.random(300) < 0.7  # errors where age is missing
    p = tk.Predictions(
        np.zeros(n, int), wrong.astype(int), classes=[0, 1], features={"age": age, "job": job}
    )
    r = tk.find_error_patterns(p, holdout=0).table
    assert r["pattern"].iloc[0] == "age = (missing)"
    assert r["conditions"].iloc[0].to_dict() == [
        {"column": "age", "op": "is missing", "value": None}
    ]
    frame = pd.DataFrame({"age": age, "job": job})
    for row in r.itertuples():  # counts are those of the rules as written
        mask = row.conditions.mask(frame)
        assert mask.sum() == row.n and (mask & wrong).sum() == row.errors


def test_regression_uses_the_error_indicator_and_reports_mae():
    rng = np.random.default_rng(3)
    n = 2000
    region = rng.choice(["north", "south"], n)
    y = rng.normal(size=n)
    noise = np.where(region == "south", 3.0, 0.2)
    y_pred = y + rng.normal(size=n) * noise
    p = tk.Predictions(y, y_pred, features={"region": region})
    r = tk.find_error_patterns(p, holdout=0).table
    assert r["pattern"].tolist() == ["region = south"]
    south = region == "south"
    assert r["mae"].iloc[0] == pytest.approx(np.abs(y_pred - y)[south].mean())
    assert r["errors"].iloc[0] == int((p.errors & south).sum())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_conditions": 0}, r"max_conditions must be an int in \[1, inf\), got 0"),
        ({"alpha": 1.5}, r"alpha must be a number in \(0, 1\), got 1.5"),
        ({"alpha": 0}, "alpha"),
        ({"holdout": 1.0}, r"holdout must be a number in \[0, 1\), got 1.0"),
        ({"top": 0}, "top"),
        ({"bins": 1}, "bins"),
        ({"bins": 0}, "bins"),
        ({"min_support": -3}, "min_support"),
        ({"min_support": 0}, "min_support"),
        ({"min_support": 1.5}, "min_support"),
        ({"min_lift": 0.5}, "min_lift"),
        ({"min_improvement": 0.9}, "min_improvement"),
        ({"random_state": -1}, "random_state"),
        ({"max_categories": 0}, "max_categories"),
    ],
)
def test_out_of_range_arguments_are_value_errors_that_name_the_parameter(kwargs, match):
    p = _table({("red", "square"): (10, 5), ("blue", "round"): (10, 1)})
    with pytest.raises(InvalidValueError, match=f"find_error_patterns: .*{match}"):
        tk.find_error_patterns(p, **kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"top": True},
        {"top": 2.0},
        {"max_conditions": "2"},
        {"bins": 5.0},
        {"alpha": "0.05"},
        {"holdout": None},
        {"min_support": "1%"},
        {"min_support": True},
        {"random_state": 1.5},
        {"columns": "color"},
        {"columns": ["color", 1]},
        {"min_lift": None},
    ],
)
def test_wrong_types_are_type_errors_that_name_the_parameter(kwargs):
    p = _table({("red", "square"): (10, 5), ("blue", "round"): (10, 1)})
    (name,) = kwargs
    with pytest.raises(ToolkitTypeError, match=f"find_error_patterns: {name} must be"):
        tk.find_error_patterns(p, **kwargs)


def test_unknown_or_empty_columns_are_named():
    p = _table({("red", "square"): (10, 5), ("blue", "round"): (10, 1)})
    with pytest.raises(ColumnNotFoundError, match="nope"):
        tk.find_error_patterns(p, columns=["nope"])
    with pytest.raises(ValidationError, match="columns is empty"):
        tk.find_error_patterns(p, columns=[])


def test_min_support_as_a_fraction_of_the_search_rows():
    # 400 rows, holdout 0: 0.05 of them is 20 rows; 0.001 rounds up to 1
    p = _table({(c, s): (100, 10) for c in ("red", "blue") for s in ("square", "round")})
    assert tk.find_error_patterns(p, holdout=0, min_support=0.05).min_support == 20
    assert tk.find_error_patterns(p, holdout=0, min_support=0.001).min_support == 1
    assert tk.find_error_patterns(p, holdout=0, min_support=np.int64(7)).min_support == 7
    assert tk.find_error_patterns(p, holdout=0).min_support == 5  # 1% of 400, at least 5


def test_result_fields_patterns_and_json_form():
    # the first hand-built table: 4 cells of 100 rows, 155 errors
    p = _table(
        {
            ("red", "square"): (100, 70),
            ("red", "round"): (100, 40),
            ("blue", "square"): (100, 40),
            ("blue", "round"): (100, 5),
        }
    )
    result = tk.find_error_patterns(p, holdout=0, min_support=10)
    assert isinstance(result, ErrorPatterns) and len(result) == 3
    # 2 columns of 2 values: 4 single conditions and 4 pairs are counted and tested
    assert (result.n_tested, result.n_search, result.n, result.min_support) == (8, 400, 400, 10)
    assert result.overall_error_rate == pytest.approx(155 / 400)
    assert result.holdout == 0 and result.n_kept == 3
    assert not result.table.attrs
    assert [pattern.label for pattern in result.patterns] == result.table["pattern"].tolist()
    frame = pd.DataFrame({"color": ["red", "blue", "red"], "shape": ["square"] * 3})
    assert result.mask(2, frame).tolist() == [True, False, True]
    data = result.to_dict()
    assert set(data) == {
        "n_tested",
        "n_significant",
        "n_kept",
        "min_support",
        "n_search",
        "n",
        "overall_error_rate",
        "holdout",
        "table",
    }
    assert data["table"][2]["conditions"] == [
        {"column": "color", "op": "==", "value": "red"},
        {"column": "shape", "op": "==", "value": "square"},
    ]
    assert data["table"][0]["confirmed"] is None  # no holdout
    back = [Pattern.from_dicts(row["conditions"]) for row in data["table"]]
    assert back == result.patterns


def test_interval_conditions_keep_their_json_form():
    # age 1..300 in 3 bins: cuts at the 100th and 200th values -> < 100, [100, 200), >= 200;
    # every other row of the middle bin is wrong, none elsewhere
    age = np.arange(1, 301, dtype=float)
    wrong = (age >= 100) & (age < 200) & (age % 2 == 0)
    p = tk.Predictions(np.zeros(300, int), wrong.astype(int), classes=[0, 1], features={"age": age})
    result = tk.find_error_patterns(p, holdout=0, bins=3)
    assert result.table["pattern"].tolist() == ["age ∈ [100, 200)"]
    assert (result.table["n"].iloc[0], result.table["errors"].iloc[0]) == (100, 50)
    assert json_safe(result.table["conditions"].tolist()) == [
        [{"column": "age", "op": "in [)", "value": [100.0, 200.0]}]
    ]


def test_needs_features():
    p = tk.Predictions([0, 1, 1], [0, 1, 0])
    with pytest.raises(ValidationError, match="feature"):
        tk.find_error_patterns(p)


@pytest.fixture(scope="module")
def adult_predictions():
    from sklearn.ensemble import HistGradientBoostingClassifier

    from toolkit.datasets import load_adult

    train, test = load_adult()
    drop = ["income", "fnlwgt"]
    cats = [c for c in train.columns if c not in drop and train[c].dtype == object]

    def encode(frame):
        out = frame.drop(columns=drop).copy()
        for c in cats:
            out[c] = pd.Categorical(out[c], categories=sorted(train[c].dropna().unique()))
        return out

    model = HistGradientBoostingClassifier(
        categorical_features="from_dtype", max_iter=60, random_state=0
    ).fit(encode(train), train["income"])
    return test.drop(columns=drop), test["income"].to_numpy(), model.predict(encode(test))


@pytest.mark.parametrize(
    "planted",
    [
        ("education = HS-grad ∧ sex = Female"),
        ("workclass = Private ∧ marital_status = Never-married ∧ sex = Female"),
    ],
)
def test_planted_slice_on_adult_is_recovered_in_the_top_three(adult_predictions, planted):
    features, y_true, y_pred = adult_predictions
    mask = np.ones(len(features), dtype=bool)
    for cond in planted.split(" ∧ "):
        column, value = cond.split(" = ")
        mask &= (features[column] == value).to_numpy()
    rng = np.random.default_rng(0)
    flip = mask & (rng.random(mask.size) < 0.85)
    planted_pred = y_pred.copy()
    planted_pred[flip] = np.where(y_true[flip] == ">50K", "<=50K", ">50K")
    p = tk.Predictions(y_true, planted_pred, features=features)
    r = tk.find_error_patterns(p, random_state=0).table
    jaccards = []
    for pattern in r["conditions"].head(3):
        found = pattern.mask(features)
        jaccards.append((found & mask).sum() / (found | mask).sum())
    assert max(jaccards) >= 0.8, (r["pattern"].head(3).tolist(), jaccards)
    best = r["pattern"].head(3).tolist()[int(np.argmax(jaccards))]
    assert best == planted


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(40, 400),
    min_support=st.integers(1, 30),
    holdout=st.sampled_from([0.0, 0.5]),
)
def test_properties(seed, n, min_support, holdout):
    rng = np.random.default_rng(seed)
    feats = {
        "a": rng.choice(["x", "y", "z"], n),
        "b": rng.choice(["u", "v"], n),
        "c": rng.normal(size=n),
    }
    wrong = rng.random(n) < np.where(feats["a"] == "x", 0.6, 0.15)
    p = tk.Predictions(np.zeros(n, int), wrong.astype(int), classes=[0, 1], features=feats)
    result = tk.find_error_patterns(p, min_support=min_support, holdout=holdout, random_state=seed)
    r = result.table
    frame = pd.DataFrame(feats)
    overall_pp = wrong.mean() * 100
    for i, row in enumerate(r.itertuples()):
        mask = row.conditions.mask(frame)
        np.testing.assert_array_equal(result.mask(i, frame), mask)
        assert mask.sum() == row.n
        assert (mask & wrong).sum() == row.errors
        assert 0 <= row.error_rate <= 1 and row.ci_low <= row.error_rate <= row.ci_high
        search_rows = row.n - row.holdout_n
        assert search_rows >= min_support
    cumulative = r["cumulative_gain_pp"].to_numpy()
    assert np.all(np.diff(cumulative) >= -1e-12)
    assert np.all(cumulative <= overall_pp + 1e-9)
    assert np.all(r["gain_pp"].to_numpy() <= cumulative + 1e-9)
