"""find_error_patterns: hand-built tables with written-out answers, planted slices, the
default support by hand, the pruned search against a brute-force enumeration, properties."""

from __future__ import annotations

from itertools import combinations, product

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import toolkit as tk
from toolkit._json import json_safe
from toolkit.analysis import _pattern_count
from toolkit.analysis._pattern_atoms import column_atoms
from toolkit.analysis._pattern_scores import (
    detectable_support,
    n_conjunctions,
    pattern_scores,
    refinement_bound,
)
from toolkit.analysis._pattern_search import SearchSettings, search_patterns
from toolkit.analysis._stats import rest_p_values, worse_than_rest_p_values
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


def _four_cells():
    # red: 110/200 errors, square: 110/200, red ∧ square: 70/100; 155 errors in 400 rows.
    return _table(
        {
            ("red", "square"): (100, 70),
            ("red", "round"): (100, 40),
            ("blue", "square"): (100, 40),
            ("blue", "round"): (100, 5),
        }
    )


def test_three_lenses_on_two_overlapping_patterns_and_their_interaction_by_hand():
    p = _four_cells()
    by = {
        lens: tk.find_error_patterns(p, holdout=0, min_support=10, rank_by=lens)
        for lens in ("severity", "excess", "errors")
    }
    # severity: Wilson lower bounds 0.6042 (70/100) > 0.4808 (110/200, red before square)
    r = by["severity"].table
    assert r["pattern"].tolist() == [
        "color = red ∧ shape = square",
        "color = red",
        "shape = square",
    ]
    np.testing.assert_allclose(r["ci_low"], [0.6041515, 0.4807562, 0.4807562], atol=1e-7)
    # excess: red 110 - 200 * 45/200 = 65 errors (16.25 points); red ∧ square
    # 70 - 100 * 85/300 = 41.67 (10.42 points); square as red
    np.testing.assert_allclose(r["excess_pp"], [41.6666667 / 4, 16.25, 16.25])
    np.testing.assert_allclose(r["gain_pp"], [17.5, 27.5, 27.5])
    # the union after each row: red ∧ square; red (200 rows, 110 errors, 45 of 200 outside);
    # red ∪ square (300 rows, 150 errors; blue ∧ round outside, 5 of 100): 150 - 15 = 135
    np.testing.assert_allclose(r["cumulative_excess_pp"], [41.6666667 / 4, 16.25, 33.75])
    np.testing.assert_allclose(r["cumulative_gain_pp"], [17.5, 27.5, 37.5])
    for lens in ("excess", "errors"):  # red and square tie, then red ∧ square
        r = by[lens].table
        assert r["pattern"].tolist() == [
            "color = red",
            "shape = square",
            "color = red ∧ shape = square",
        ]
        np.testing.assert_allclose(r["cumulative_gain_pp"], [27.5, 37.5, 37.5])
        np.testing.assert_allclose(r["cumulative_excess_pp"], [16.25, 33.75, 33.75])
        assert by[lens].rank_by == lens
    assert r["n"].tolist() == [200, 200, 100]
    assert r["errors"].tolist() == [110, 110, 70]
    np.testing.assert_allclose(r["error_rate"], [0.55, 0.55, 0.70])
    np.testing.assert_allclose(r["lift"], [0.55 / 0.3875, 0.55 / 0.3875, 0.70 / 0.3875])
    np.testing.assert_allclose(r["share_of_errors"], [110 / 155, 110 / 155, 70 / 155])
    np.testing.assert_allclose(r["gain_pp"], [27.5, 27.5, 17.5])
    assert r["conditions"].tolist()[2] == Pattern(
        (Condition("color", "==", "red"), Condition("shape", "==", "square"))
    )
    assert json_safe(r["conditions"].tolist()[2]) == [
        {"column": "color", "op": "==", "value": "red"},
        {"column": "shape", "op": "==", "value": "square"},
    ]
    assert r["pattern"].tolist() == [c.label for c in r["conditions"]]
    assert r["confirmed"].isna().all()  # no holdout, nothing to confirm
    # Bonferroni over the 8 conjunctions: q = min(1, 8 p)
    np.testing.assert_allclose(r["q_value"], np.minimum(1, 8 * r["p_value"]))
    assert (r["q_value"] < 0.05).all()
    assert by["severity"].rank_by == "severity"


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
    assert result.n_kept == 0 and result.n_candidates == 8 and result.n_tested == 8
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
        ({"rank_by": "gain"}, r"rank_by must be one of 'severity', 'excess', 'errors', got 'gain'"),
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
        {"rank_by": 1},
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
    # default: 40 errors in 400 rows, 8 conjunctions: 4 z² p / (1 - p) = 2.8 -> the floor
    assert tk.find_error_patterns(p, holdout=0).min_support == 10


def test_default_min_support_from_power_by_hand():
    # 155 errors in 400 rows, p = 0.3875; 2 + 2 single conditions and 2 x 2 pairs: 8
    # conjunctions, z = Φ⁻¹(1 - 0.05 / 8) = 2.497705; 4 z² p / (1 - p)
    # = 4 x 6.238533 x 155 / 245 = 15.79 -> 16 rows
    result = tk.find_error_patterns(_four_cells(), holdout=0)
    assert (result.n_candidates, result.min_support) == (8, 16)
    # half the rows searched: 200 rows, 78 errors (stratified), p = 0.39;
    # 4 x 6.238533 x 78 / 122 = 15.95 -> 16
    half = tk.find_error_patterns(_four_cells(), holdout=0.5)
    assert (half.n_search, half.min_support) == (200, 16)
    # p = 0.1, 100,000 conjunctions: z = 4.891638, 4 x 23.928127 x 0.1 / 0.9 = 10.63 -> 11
    assert detectable_support(10_000, 1_000, 100_000, 0.05) == 11
    # p = 0.6, 100 conjunctions: z = 3.290527, 4 x 10.827566 x 0.6 / 0.4 = 64.97 -> 65
    assert detectable_support(1_000, 600, 100, 0.05) == 65
    # p = 80/300, 3 conjunctions: z = 2.128045, 4 x 4.528577 x 80 / 220 = 6.59 -> floor 10
    assert detectable_support(300, 80, 3, 0.05) == 10
    # no errors, or nothing but errors: nothing to find, the floor
    assert detectable_support(300, 0, 3, 0.05) == detectable_support(300, 300, 3, 0.05) == 10
    # the search space: 3 + 2 single conditions and 3 x 2 pairs; a 0-9 count has
    # 10 values, 8 "≤" and 8 "≥" cut points
    assert n_conjunctions([3, 2], depth=2) == 11
    assert n_conjunctions([3, 2, 4], depth=3) == 9 + (6 + 12 + 8) + 24
    assert column_atoms(np.arange(10).repeat(3), "count").n_atoms == 26


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
    assert result.holdout == 0 and result.n_kept == 3 and result.n_candidates == 8
    assert result.rank_by == "severity"
    assert not result.table.attrs
    assert [pattern.label for pattern in result.patterns] == result.table["pattern"].tolist()
    frame = pd.DataFrame({"color": ["red", "blue", "red"], "shape": ["square"] * 3})
    assert result.mask(0, frame).tolist() == [True, False, True]  # red ∧ square
    data = result.to_dict()
    assert set(data) == {
        "rank_by",
        "n_candidates",
        "n_tested",
        "n_kept",
        "min_support",
        "n_search",
        "n",
        "overall_error_rate",
        "holdout",
        "exact",
        "limits",
        "table",
    }
    assert data["exact"] is True and data["limits"] == []
    assert data["table"][0]["conditions"] == [
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


def _plant(features, y_true, y_pred, planted, seed=0):
    """Predictions wrong on ~85% of the rows of ``planted`` ("a = x ∧ b = y"), and its mask."""
    mask = np.ones(len(features), dtype=bool)
    for cond in planted.split(" ∧ "):
        column, value = cond.split(" = ")
        mask &= (features[column] == value).to_numpy()
    flip = mask & (np.random.default_rng(seed).random(mask.size) < 0.85)
    planted_pred = y_pred.copy()
    planted_pred[flip] = np.where(y_true[flip] == ">50K", "<=50K", ">50K")
    return tk.Predictions(y_true, planted_pred, features=features), mask


def _rank_of(result, features, mask):
    """1-based rank of the first pattern whose rows have Jaccard >= 0.8 with ``mask``."""
    for i, pattern in enumerate(result.table["conditions"]):
        found = pattern.mask(features)
        if (found & mask).sum() >= 0.8 * (found | mask).sum():
            return i + 1
    return None


@pytest.mark.parametrize(
    "planted",
    [
        "occupation = Transport-moving ∧ race = Black",  # 98 rows, 0.6% of 16,281
        "workclass = State-gov ∧ education = Bachelors",  # 161 rows, 1.0%
        "marital_status = Never-married ∧ race = Black ∧ sex = Male",  # 321 rows, 2.0%
        "education = Some-college ∧ marital_status = Divorced ∧ sex = Female",  # 307, 1.9%
    ],
)
def test_small_severe_planted_slice_on_adult_ranks_first_with_defaults(adult_predictions, planted):
    # error rate ~85% in the slice against ~13% elsewhere; before, a 0.75% slice was not
    # even searched (min_support was 1% of the search rows)
    features, y_true, y_pred = adult_predictions
    p, mask = _plant(features, y_true, y_pred, planted)
    result = tk.find_error_patterns(p, random_state=0)
    assert result.min_support < mask.sum() / 4  # the slice is searched
    first = result.table["conditions"].iloc[0]
    assert {c.label for c in first.conditions} == set(planted.split(" ∧ "))
    assert (first.mask(features) == mask).all()
    assert bool(result.table["confirmed"].iloc[0])


@pytest.mark.parametrize(
    "planted",
    [
        "workclass = Private ∧ occupation = Prof-specialty",  # 72 of 1,000 rows
        "education = Bachelors ∧ sex = Male",  # 106 of 1,000 rows
    ],
)
def test_planted_slice_in_a_thousand_rows_ranks_first_by_severity(adult_predictions, planted):
    # the small case: ranked by errors (gain_pp) the planted slice comes lower,
    # below big slices at a modest error rate; by the lower bound it is first
    features, y_true, y_pred = adult_predictions
    rows = np.random.default_rng(0).choice(len(features), 1000, replace=False)
    features = features.iloc[rows].reset_index(drop=True)
    p, mask = _plant(features, y_true[rows], y_pred[rows], planted)
    assert _rank_of(tk.find_error_patterns(p, random_state=0), features, mask) == 1
    by_errors = tk.find_error_patterns(p, random_state=0, rank_by="errors")
    assert _rank_of(by_errors, features, mask) > 1


def test_threshold_on_a_small_integer_column_is_one_condition():
    # errors where count > 0 (35%) against count = 0 (5%): the answer is "count ≥ 1", not
    # "count ∈ [1, 2)" and "count ≥ 2"
    rng = np.random.default_rng(5)
    n = 3000
    count = np.where(rng.random(n) < 0.5, 0, rng.integers(1, 10, n))
    color = rng.choice(["red", "blue", "green"], n)
    wrong = rng.random(n) < np.where(count > 0, 0.35, 0.05)
    p = tk.Predictions(
        np.zeros(n, int), wrong.astype(int), classes=[0, 1], features={"count": count, "c": color}
    )
    result = tk.find_error_patterns(p, random_state=0)
    first = result.table.iloc[0]
    assert first["pattern"] == "count ≥ 1"
    assert first["conditions"].to_dict() == [{"column": "count", "op": ">=", "value": 1}]
    assert first["n"] == (count >= 1).sum() and bool(first["confirmed"])
    assert not any("∈" in label for label in result.table["pattern"])


def test_atoms_of_an_ordered_column_and_of_the_others():
    a = column_atoms(np.array([0, 0, 1, 2, 3, 9, 9, np.nan]), "count")
    assert a.labels == [
        *(f"count = {v}" for v in (0, 1, 2, 3, 9)),
        "count = (missing)",
        "count ≤ 1",
        "count ≤ 2",
        "count ≤ 3",
        "count ≥ 1",
        "count ≥ 2",
        "count ≥ 3",
    ]
    frame = pd.DataFrame({"count": [0, 0, 1, 2, 3, 9, 9, np.nan]})
    for j, condition in enumerate(a.conditions):  # each atom's rows are those of its rule
        np.testing.assert_array_equal(a.rows(j), condition.mask(frame))
    # two values, more than 20, infinite values, booleans and strings: bins only
    for values in (
        [0, 1, 1, 0],
        np.arange(21.0),
        [0.0, 1.0, 2.0, np.inf],
        [True, False, True],
        ["a", "b", "c"],
    ):
        b = column_atoms(values, "x")
        assert not b.ordered and b.n_atoms == b.n_cells
        assert not any(c.op in ("<=", ">=") and c.text is None for c in b.conditions[1:-1])


# ------------------------------------------------------- the pruned search is exact


def _brute_force(frame, errors, atoms, settings, weights=None):
    """The k best eligible conjunctions by enumeration: rows from each rule's mask on the
    frame, the eligibility of the module docstring, the documented total order."""
    if weights is not None:
        return _brute_force_weighted(frame, errors, atoms, settings, weights)
    n_total, e_total = len(frame), int(errors.sum())
    sizes = [a.n_atoms for a in atoms]
    counted = {}
    for level in range(1, settings.depth + 1):
        for combo in combinations(range(len(atoms)), level):
            for picks in product(*(range(sizes[j]) for j in combo)):
                mask = np.ones(n_total, dtype=bool)
                for j, a in zip(combo, picks):
                    mask &= atoms[j].conditions[a].mask(frame)
                if mask.sum() >= settings.support:
                    counted[combo, picks] = (int(mask.sum()), int(errors[mask].sum()))
    ranked = []
    for (combo, picks), (n, e) in counted.items():
        p = worse_than_rest_p_values(np.array([e]), np.array([n]), e_total, n_total)[0]
        ok = p < settings.alpha / settings.n_candidates
        ok &= e / n >= settings.min_lift * (e_total / n_total)
        for drop in range(len(combo)) if len(combo) > 1 else ():
            parent = (combo[:drop] + combo[drop + 1 :], picks[:drop] + picks[drop + 1 :])
            n_p, e_p = counted[parent]
            n_refinements = sum(sizes) - sum(sizes[j] for j in parent[0])
            p_parent = worse_than_rest_p_values(np.array([e]), np.array([n]), e_p, n_p)[0]
            ok &= not e * n_p < settings.min_improvement * e_p * n
            ok &= p_parent * n_refinements < settings.alpha
        if ok:
            score = pattern_scores(settings.rank_by, np.array([e]), np.array([n]), e_total, n_total)
            ranked.append((-score[0], -e, len(combo), combo, picks, n, e))
    ranked.sort()
    return [(combo, picks, n, e) for *_, combo, picks, n, e in ranked[: settings.k]]


def _brute_force_weighted(frame, errors, atoms, settings, w):
    """:func:`_brute_force` with sample weights: support in rows, every rate, score and
    test on the weighted sums of each rule's mask."""

    def sums(mask):
        return w[mask & errors].sum(), w[mask].sum(), (w[mask] ** 2).sum()

    e_total, n_total, sq_total = sums(np.ones(len(frame), dtype=bool))
    sizes = [a.n_atoms for a in atoms]
    counted = {}
    for level in range(1, settings.depth + 1):
        for combo in combinations(range(len(atoms)), level):
            for picks in product(*(range(sizes[j]) for j in combo)):
                mask = np.ones(len(frame), dtype=bool)
                for j, a in zip(combo, picks):
                    mask &= atoms[j].conditions[a].mask(frame)
                if mask.sum() >= settings.support:
                    counted[combo, picks] = (int(mask.sum()), int(errors[mask].sum()), *sums(mask))
    ranked = []
    for (combo, picks), (n, e, we, wn, w2) in counted.items():
        p = rest_p_values(*(np.array([x]) for x in (we, wn, w2)), e_total, n_total, sq_total)[0]
        ok = p < settings.alpha / settings.n_candidates
        ok &= wn > 0 and we / wn >= settings.min_lift * (e_total / n_total)
        for drop in range(len(combo)) if len(combo) > 1 else ():
            parent = (combo[:drop] + combo[drop + 1 :], picks[:drop] + picks[drop + 1 :])
            _, _, we_p, wn_p, w2_p = counted[parent]
            n_refinements = sum(sizes) - sum(sizes[j] for j in parent[0])
            p_parent = rest_p_values(*(np.array([x]) for x in (we, wn, w2)), we_p, wn_p, w2_p)[0]
            ok &= not we * wn_p < settings.min_improvement * we_p * wn
            ok &= p_parent * n_refinements < settings.alpha
        if ok:
            score = pattern_scores(
                settings.rank_by, np.array([we]), np.array([wn]), e_total, n_total, np.array([w2])
            )
            ranked.append((-score[0], -e, len(combo), combo, picks, n, e))
    ranked.sort()
    return [(combo, picks, n, e) for *_, combo, picks, n, e in ranked[: settings.k]]


def _weights(seed, n):
    """Integers 0..3, positive reals, or reals with some zeros (a third of seeds each)."""
    rng = np.random.default_rng(seed + 1)
    kind = seed % 3
    if kind == 0:
        return rng.integers(0, 4, n).astype(float)
    if kind == 1:
        return rng.uniform(0.1, 3.0, n)
    return np.where(rng.random(n) < 0.2, 0.0, rng.exponential(1.0, n))


def _found(top):
    return [
        (tuple(cols[: lv + 1].tolist()), tuple(ats[: lv + 1].tolist()), int(n), int(e))
        for cols, ats, lv, n, e in zip(top.columns, top.atoms, top.levels, top.n, top.errors)
    ]


def _small_frame(seed, n):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "a": rng.choice(["x", "y", "z"], n),
            "b": np.where(rng.random(n) < 0.1, None, rng.choice(["u", "v"], n)),
            "c": rng.integers(0, 5, n),  # ordered: 5 values and 3 + 3 cut points
            "d": rng.normal(size=n),
        }
    )
    risk = 0.1 + 0.5 * ((frame["a"] == "x") & (frame["c"] >= 2)) + 0.2 * (frame["b"] == "u")
    return frame, rng.random(n) < risk


@settings(max_examples=70, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(40, 250),
    depth=st.integers(1, 3),
    support=st.integers(1, 25),
    k=st.integers(1, 8),
    rank_by=st.sampled_from(["severity", "excess", "errors"]),
    alpha=st.sampled_from([0.05, 0.5, 0.95]),
    min_lift=st.sampled_from([1.0, 1.25]),
    min_improvement=st.sampled_from([1.0, 1.2]),
    weighted=st.booleans(),
)
def test_pruned_search_equals_brute_force_enumeration(
    seed, n, depth, support, k, rank_by, alpha, min_lift, min_improvement, weighted
):
    # with weights, the weighted bound keeps the search exact (support in rows, scores
    # by weight)
    frame, wrong = _small_frame(seed, n)
    w = _weights(seed, n) if weighted else None
    if weighted and not w.any():
        w[0] = 1.0
    atoms = [column_atoms(frame[c], c, bins=3) for c in frame.columns]
    settings = SearchSettings(
        depth=depth,
        support=support,
        k=k,
        rank_by=rank_by,
        alpha=alpha,
        n_candidates=n_conjunctions([a.n_atoms for a in atoms], depth),
        min_lift=min_lift,
        min_improvement=min_improvement,
    )
    rows = np.ones(n, dtype=bool)
    pruned = search_patterns(atoms, rows, wrong, settings, w)
    assert _found(pruned) == _brute_force(frame, wrong, atoms, settings, w)
    exhaustive = search_patterns(
        atoms, rows, wrong, SearchSettings(**{**vars(settings), "k": None}), w
    )
    assert _found(pruned) == _found(exhaustive)[:k]
    if not weighted:
        assert pruned.n_tested <= exhaustive.n_tested


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    size=st.integers(1, 60),
    support=st.integers(1, 40),
    rank_by=st.sampled_from(["severity", "excess", "errors"]),
)
def test_weighted_refinement_bound_is_above_every_refinement(seed, size, support, rank_by):
    # a pattern of ``size`` weighted rows inside 400; any subset of at least ``support``
    # of its rows scores at most the pattern's weighted bound
    rng = np.random.default_rng(seed)
    w_all = _weights(seed, 400) + (seed % 2) * 0.05
    wrong_all = rng.random(400) < rng.uniform(0.05, 0.9)
    if not w_all.any() or not (w_all * wrong_all).any():
        return
    rows = rng.choice(400, size, replace=False)
    w, wrong = w_all[rows], wrong_all[rows]
    right = w_all[~wrong_all]
    min_weight = float(right.min()) if right.size else 0.0
    totals = ((w_all * wrong_all).sum(), w_all.sum())
    bound = refinement_bound(
        rank_by,
        np.array([wrong.sum()]),
        support,
        *totals,
        error_weight=np.array([w[wrong].sum()]),
        min_weight=min_weight,
    )[0]
    for _ in range(30):
        sub = rng.random(size) < rng.uniform(0.2, 1.0)
        if sub.sum() < support or w[sub].sum() == 0:
            continue
        score = pattern_scores(
            rank_by,
            np.array([w[sub & wrong].sum()]),
            np.array([w[sub].sum()]),
            *totals,
            np.array([(w[sub] ** 2).sum()]),
        )[0]
        assert score <= bound + 1e-9


def test_grouped_counting_with_weights_equals_the_dense_grid(monkeypatch):
    frame, wrong = _small_frame(3, 400)
    w = _weights(2, 400)
    atoms = [column_atoms(frame[c], c, bins=3) for c in frame.columns]
    settings = SearchSettings(3, 5, None, "severity", 0.95, 10**6, 1.0, 1.0)
    dense = search_patterns(atoms, np.ones(400, dtype=bool), wrong, settings, w)
    monkeypatch.setattr(_pattern_count, "DENSE_CELL_LIMIT", 16)
    grouped = search_patterns(atoms, np.ones(400, dtype=bool), wrong, settings, w)
    assert _found(grouped) == _found(dense) and len(dense) > 0
    np.testing.assert_allclose(grouped.we, dense.we)
    np.testing.assert_allclose(grouped.w2, dense.w2)


def test_grouped_counting_equals_the_dense_grid(monkeypatch):
    # a tiny grid limit sends every combination down the group-by-group path, in chunks
    frame, wrong = _small_frame(3, 400)
    atoms = [column_atoms(frame[c], c, bins=3) for c in frame.columns]
    settings = SearchSettings(3, 5, None, "severity", 0.95, 10**6, 1.0, 1.0)
    dense = search_patterns(atoms, np.ones(400, dtype=bool), wrong, settings)
    monkeypatch.setattr(_pattern_count, "DENSE_CELL_LIMIT", 16)
    grouped = search_patterns(atoms, np.ones(400, dtype=bool), wrong, settings)
    assert _found(grouped) == _found(dense) and len(dense) > 0
    assert grouped.n_tested == dense.n_tested


@settings(max_examples=200, deadline=None)
@given(
    n_total=st.integers(50, 5000),
    data=st.data(),
    rank_by=st.sampled_from(["severity", "excess", "errors"]),
)
def test_refinement_bound_is_above_every_refinement(n_total, data, rank_by):
    # the proof in refinement_bound, checked: no refinement (e' <= e errors, n' rows with
    # max(support, e') <= n' <= n) scores above the bound of its parent (e errors, n rows)
    e_total = data.draw(st.integers(1, n_total - 1))
    n = data.draw(st.integers(1, n_total))
    e = data.draw(st.integers(max(0, e_total - (n_total - n)), min(n, e_total)))
    support = data.draw(st.integers(1, n))
    e2 = data.draw(st.integers(0, e))
    n2 = data.draw(st.integers(max(support, e2), n))
    bound = refinement_bound(rank_by, np.array([e]), support, e_total, n_total)[0]
    score = pattern_scores(rank_by, np.array([e2]), np.array([n2]), e_total, n_total)[0]
    assert score <= bound + 1e-12


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(40, 400),
    min_support=st.integers(1, 30),
    holdout=st.sampled_from([0.0, 0.5]),
    rank_by=st.sampled_from(["severity", "excess", "errors"]),
)
def test_properties(seed, n, min_support, holdout, rank_by):
    rng = np.random.default_rng(seed)
    feats = {
        "a": rng.choice(["x", "y", "z"], n),
        "b": rng.choice(["u", "v"], n),
        "c": rng.normal(size=n),
        "k": rng.integers(0, 6, n),
    }
    wrong = rng.random(n) < np.where(feats["a"] == "x", 0.6, 0.15)
    p = tk.Predictions(np.zeros(n, int), wrong.astype(int), classes=[0, 1], features=feats)
    result = tk.find_error_patterns(
        p, min_support=min_support, holdout=holdout, random_state=seed, rank_by=rank_by
    )
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
        assert row.excess_pp <= row.gain_pp + 1e-12 and row.q_value < 0.05
        assert row.q_value == pytest.approx(min(1.0, row.p_value * result.n_candidates))
    lens = {"severity": "ci_low", "excess": "excess_pp", "errors": "gain_pp"}[rank_by]
    assert np.all(np.diff(r[lens].to_numpy()) <= 1e-12)  # best first by the chosen lens
    cumulative = r["cumulative_gain_pp"].to_numpy()
    assert np.all(np.diff(cumulative) >= -1e-12)
    assert np.all(cumulative <= overall_pp + 1e-9)
    assert np.all(r["gain_pp"].to_numpy() <= cumulative + 1e-9)
    assert np.all(r["cumulative_excess_pp"].to_numpy() <= cumulative + 1e-9)
    assert len(set(r["pattern"])) == len(r) <= 20
