"""Wrong labels: out_of_sample_proba, find_label_issues (LabelIssues), label_issue_share.

Oracles: planted label flips at known ids, cleanlab called directly on the same
probabilities, scikit-learn's cross_val_predict, and tables small enough to check by eye.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, ShuffleSplit, StratifiedKFold, cross_val_predict

import toolkit as tk
from toolkit._json import frame_records
from toolkit._result import Result
from toolkit.analysis.conditions import Condition, Pattern
from toolkit.analysis.labels import (
    ISSUE_COLUMNS,
    METHODS,
    RANK_BY,
    InSampleProbabilityWarning,
    LabelIssues,
    find_label_issues,
    label_issue_share,
    out_of_sample_proba,
)
from toolkit.exceptions import (
    ColumnNotFoundError,
    DuplicateIdError,
    InvalidLabelError,
    InvalidProbabilityError,
    InvalidValueError,
    LengthMismatchError,
    NotApplicableError,
    ToolkitTypeError,
    ValidationError,
)

LOADERS = {"digits": load_digits, "breast_cancer": load_breast_cancer}


# ---------------------------------------------------------------- planted label flips
def f1(flagged: np.ndarray, truth: np.ndarray) -> float:
    tp = np.count_nonzero(flagged & truth)
    return 2 * tp / (np.count_nonzero(flagged) + np.count_nonzero(truth))


def _forest(seed: int) -> RandomForestClassifier:
    return RandomForestClassifier(n_estimators=50, random_state=seed, n_jobs=1)


@functools.cache
def planted(name: str, seed: int, noise: str = "symmetric"):
    """Data with label flips at known rows, and out-of-fold forest probabilities.

    symmetric: 10% of rows get another class chosen uniformly; pair: 35% of the
    rows of the two largest classes swap to the other one (class-pair noise).
    """
    X, y = LOADERS[name](return_X_y=True)
    rng = np.random.default_rng(seed)
    k = np.unique(y).size
    y_noisy = y.copy()
    if noise == "symmetric":
        flip = rng.choice(y.size, y.size // 10, replace=False)
        y_noisy[flip] = (y[flip] + rng.integers(1, k, flip.size)) % k
    else:
        a, b = np.argsort(-np.bincount(y), kind="stable")[:2]
        rows = np.flatnonzero(np.isin(y, [a, b]))
        flip = rng.choice(rows, int(0.35 * rows.size) // 2, replace=False)
        y_noisy[flip] = np.where(y[flip] == a, b, a)
    truth = y_noisy != y
    proba = out_of_sample_proba(_forest(seed), X, y_noisy, cv=5, random_state=seed)
    return X, y_noisy, truth, proba


CASES = [
    ("digits", 0, "symmetric"),
    ("digits", 1, "symmetric"),
    ("digits", 2, "symmetric"),
    ("digits", 0, "pair"),
    ("breast_cancer", 0, "symmetric"),
    ("breast_cancer", 1, "symmetric"),
    ("breast_cancer", 2, "symmetric"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "seed", "noise"), CASES)
def test_planted_flips_recovered_as_well_as_cleanlab_and_better_than_in_sample(name, seed, noise):
    from cleanlab.filter import find_label_issues as cleanlab_find

    X, y_noisy, truth, proba = planted(name, seed, noise)
    ids = np.arange(y_noisy.size) * 3 + 7  # ids are not row positions
    p = tk.Predictions(y_noisy, proba=proba, ids=ids)
    issues = find_label_issues(p, proba_source="out_of_sample").table

    flagged = np.zeros(y_noisy.size, dtype=bool)
    flagged[(issues.loc[issues["is_issue"], "id"].to_numpy() - 7) // 3] = True
    direct = cleanlab_find(y_noisy, proba)  # the oracle: cleanlab on the same probabilities
    forest = _forest(seed).fit(X, y_noisy)
    in_sample_rule = forest.predict(X) != y_noisy  # the naive textbook rule

    ours, theirs, naive = f1(flagged, truth), f1(direct, truth), f1(in_sample_rule, truth)
    print(
        f"{name} seed={seed} {noise}: ours {ours:.3f} cleanlab {theirs:.3f} in-sample {naive:.3f}"
    )
    assert ours >= theirs
    assert ours > naive
    np.testing.assert_array_equal(flagged, direct)

    # the same forest's in-sample probabilities: a warning, and the flips stay hidden
    p_in = tk.Predictions.from_model(forest, X, y_noisy, ids=ids)
    with pytest.warns(InSampleProbabilityWarning, match=r"predicts the given label for \d+ of"):
        in_sample = find_label_issues(p_in).table
    in_flagged = np.zeros(y_noisy.size, dtype=bool)
    in_flagged[(in_sample.loc[in_sample["is_issue"], "id"].to_numpy() - 7) // 3] = True
    assert f1(in_flagged, truth) < ours


@pytest.mark.slow
def test_suggested_label_recovers_the_true_class_of_planted_flips():
    X, y_noisy, truth, proba = planted("digits", 0)
    y_clean = load_digits().target
    p = tk.Predictions(y_noisy, proba=proba)
    issues = find_label_issues(p, proba_source="out_of_sample").table
    hit = issues[issues["is_issue"] & truth[issues["id"].to_numpy()]]
    # the suggestion is the model's belief, which for a caught flip is mostly the truth
    expected = np.asarray(load_digits().target_names)[np.argmax(proba[hit["id"]], axis=1)]
    np.testing.assert_array_equal(hit["suggested_label"].to_numpy(), expected)
    assert (hit["suggested_label"].to_numpy() == y_clean[hit["id"]]).mean() > 0.5


# ---------------------------------------------------------------- find_label_issues by hand
def small() -> tk.Predictions:
    # 12 rows, classes "cat" < "dog" < "emu"; rows 3 and 8 look mislabeled
    y = ["cat", "cat", "cat", "cat", "dog", "dog", "dog", "dog", "emu", "emu", "emu", "emu"]
    proba = [
        [0.8, 0.1, 0.1],
        [0.7, 0.2, 0.1],
        [0.9, 0.05, 0.05],
        [0.05, 0.9, 0.05],  # labelled cat, looks like dog
        [0.1, 0.8, 0.1],
        [0.2, 0.7, 0.1],
        [0.1, 0.6, 0.3],
        [0.1, 0.85, 0.05],
        [0.9, 0.05, 0.05],  # labelled emu, looks like cat
        [0.1, 0.1, 0.8],
        [0.05, 0.15, 0.8],
        [0.2, 0.1, 0.7],
    ]
    return tk.Predictions(y, proba=proba, ids=[f"r{i:02d}" for i in range(12)])


def test_columns_order_quality_and_suggestion_by_hand():
    p = small()
    issues = find_label_issues(p).table
    assert list(issues.columns) == ISSUE_COLUMNS
    # self_confidence = probability of the given label; ascending, ties broken by id
    quality = {f"r{i:02d}": p.proba[i, p.y_true_codes()[i]] for i in range(12)}
    expected_order = sorted(quality, key=lambda i: (quality[i], i))
    assert issues["id"].tolist() == expected_order
    np.testing.assert_allclose(issues["label_quality"], [quality[i] for i in expected_order])
    row = issues.set_index("id")
    assert row.loc["r03", "given_label"] == "cat"
    assert row.loc["r03", "suggested_label"] == "dog"
    assert row.loc["r08", "suggested_label"] == "cat"
    assert row.loc["r06", "suggested_label"] == "dog"
    assert set(issues.loc[issues["is_issue"], "id"]) == {"r03", "r08"}


@pytest.mark.parametrize("method", METHODS)
def test_every_method_flags_what_cleanlab_flags(method):
    from cleanlab.filter import find_label_issues as cleanlab_find

    X, y = load_breast_cancer(return_X_y=True)
    rng = np.random.default_rng(3)
    y = y.copy()
    y[rng.choice(y.size, 40, replace=False)] ^= 1
    proba = rng.dirichlet([1, 1], y.size) * 0.3 + 0.7 * np.eye(2)[y]  # fixed, model-free
    p = tk.Predictions(y, proba=proba)
    result = find_label_issues(p, method=method, proba_source="out_of_sample")
    expected = cleanlab_find(y, proba, filter_by=method)
    issues = result.table.sort_values("id")
    np.testing.assert_array_equal(issues["is_issue"].to_numpy(), expected)
    assert result.method == method and result.n_issues == np.count_nonzero(expected)


@pytest.mark.parametrize("rank_by", RANK_BY)
def test_label_quality_is_cleanlabs_score(rank_by):
    from cleanlab.rank import get_label_quality_scores

    p = small()
    result = find_label_issues(p, rank_by=rank_by)
    assert result.rank_by == rank_by
    issues = result.table.set_index("id").loc[p.ids]
    expected = get_label_quality_scores(p.y_true_codes(), p.proba, method=rank_by)
    np.testing.assert_allclose(issues["label_quality"], expected)
    assert issues["label_quality"].between(0, 1).all()


def test_integer_labels_and_same_input_same_output():
    y = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    proba = np.full((9, 3), 0.1)
    proba[np.arange(9), [0, 0, 1, 1, 1, 1, 2, 2, 0]] = 0.8
    p = tk.Predictions(y, proba=proba)
    before = p.proba.copy()
    first, second = find_label_issues(p).table, find_label_issues(p).table
    pd.testing.assert_frame_equal(first, second)
    np.testing.assert_array_equal(p.proba, before)
    row = first.set_index("id")
    assert row.loc[2, "suggested_label"] == 1 and row.loc[8, "suggested_label"] == 0
    assert first["id"].iloc[0] in (2, 8)


def test_regression_and_missing_proba_are_refused():
    reg = tk.Predictions([1.5, 2.5, 3.5], [1.0, 2.0, 4.0])
    with pytest.raises(NotApplicableError, match="label issues need class probabilities.*regr"):
        find_label_issues(reg)
    no_proba = tk.Predictions(["a", "b", "a"], ["a", "b", "b"])
    with pytest.raises(NotApplicableError, match="need class probabilities.*without proba"):
        find_label_issues(no_proba)
    with pytest.raises(
        ToolkitTypeError, match=r"find_label_issues: p must be a toolkit.Predictions, got"
    ):
        find_label_issues(np.zeros((3, 2)))


def test_options_are_validated():
    p = small()
    with pytest.raises(InvalidValueError, match="method must be one of .*got 'nope'"):
        find_label_issues(p, method="nope")
    with pytest.raises(InvalidValueError, match="rank_by must be one of .*got 'nope'"):
        find_label_issues(p, rank_by="nope")
    with pytest.raises(InvalidValueError, match="proba_source must be one of .*got 'train'"):
        find_label_issues(p, proba_source="train")
    with pytest.raises(ToolkitTypeError, match="proba_source must be one of .*got 1"):
        find_label_issues(p, proba_source=1)
    with pytest.raises(
        InvalidValueError, match=r"min_examples_per_class must be an int in \[0, inf\), got -1"
    ):
        find_label_issues(p, min_examples_per_class=-1)
    for bad in (True, 1.5):
        with pytest.raises(ToolkitTypeError, match="min_examples_per_class must be an int"):
            find_label_issues(p, min_examples_per_class=bad)
    with pytest.raises(
        InvalidValueError, match=r"n_jobs must be an int in \[1, inf\) or None, got 0"
    ):
        find_label_issues(p, n_jobs=0)


def test_classes_with_too_few_examples_are_named():
    y = ["a"] * 5 + ["b"] * 5 + ["c"]
    proba = np.full((11, 3), 0.1)
    proba[np.arange(11), [0] * 5 + [1] * 5 + [2]] = 0.8
    with pytest.raises(InvalidLabelError, match=r"min_examples_per_class=1 .*'c': 1"):
        find_label_issues(tk.Predictions(y, proba=proba))
    # a class with a probability column but no label at all
    proba2 = np.full((10, 3), 0.1)
    proba2[np.arange(10), [0] * 5 + [1] * 5] = 0.8
    p2 = tk.Predictions(y[:10], proba=proba2, classes=["a", "b", "c"])
    with pytest.raises(InvalidLabelError, match="'c': 0"):
        find_label_issues(p2)
    with pytest.raises(InvalidLabelError, match=r"min_examples_per_class=5 .*'a': 5, 'b': 5"):
        find_label_issues(p2, min_examples_per_class=5)


def test_label_issues_result_fields_and_json_form():
    result = find_label_issues(small(), method="both", proba_source="out_of_sample")
    assert isinstance(result, LabelIssues)
    assert (result.method, result.rank_by, result.proba_source) == (
        "both",
        "self_confidence",
        "out_of_sample",
    )
    assert result.in_sample_reason is None
    assert result.n_issues == 2 and len(result) == 12
    assert result.meta == {
        "method": "both",
        "rank_by": "self_confidence",
        "proba_source": "out_of_sample",
        "in_sample_reason": None,
        "n_issues": 2,
    }
    as_dict = result.to_dict()
    assert as_dict["table"] == frame_records(result.table)
    assert as_dict["table"][0] == {
        "id": "r03",
        "given_label": "cat",
        "suggested_label": "dog",
        "label_quality": 0.05,
        "is_issue": True,
    }
    assert json.loads(json.dumps(as_dict)) == as_dict  # plain JSON types only
    pd.testing.assert_frame_equal(result.to_frame(), result.table)
    assert result.to_frame() is not result.table
    assert repr(result).startswith("LabelIssues(12 rows, method='both'")
    assert "<b>LabelIssues</b>" in result._repr_html_()
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.n_issues = 3


def test_probabilities_that_do_not_match_classes_fail_where_they_enter():
    with pytest.raises(InvalidProbabilityError, match="proba has 2 columns but there are 3"):
        tk.Predictions(["a", "b", "c"], proba=[[0.5, 0.5]] * 3)


# ---------------------------------------------------------------- in-sample warning
def _agreeing(n: int, disagree: int = 0) -> tk.Predictions:
    y = np.arange(n) % 2
    proba = np.column_stack([np.where(y == 0, 0.9, 0.1), np.where(y == 0, 0.1, 0.9)])
    proba[:disagree] = proba[:disagree, ::-1]  # the top class is not the given label
    return tk.Predictions(y, proba=proba)


def test_in_sample_warning_when_told_or_when_nearly_every_label_is_predicted():
    with pytest.warns(
        InSampleProbabilityWarning, match="proba_source='in_sample' was given"
    ) as rec:
        told = find_label_issues(small(), proba_source="in_sample")
    assert rec[0].filename == __file__  # the warning points at the caller's line
    assert told.proba_source == "in_sample"
    assert told.in_sample_reason == "proba_source='in_sample' was given"
    with pytest.warns(InSampleProbabilityWarning, match=r"for 100 of 100 rows \(100.0%\)"):
        seen = find_label_issues(_agreeing(100))
    assert (
        seen.in_sample_reason == "the model predicts the given label for 100 of 100 rows (100.0%)"
    )
    # 2 of 400 rows disagree: 0.5%, still "nearly every"
    with pytest.warns(InSampleProbabilityWarning, match=r"for 398 of 400 rows \(99.5%\)"):
        find_label_issues(_agreeing(400, disagree=2))


def test_no_in_sample_warning_below_100_rows_above_half_a_percent_or_when_told():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        results = [
            find_label_issues(_agreeing(99)),
            find_label_issues(_agreeing(400, disagree=3)),
            find_label_issues(_agreeing(100), proba_source="out_of_sample"),
        ]
    assert [r.in_sample_reason for r in results] == [None, None, None]


# ---------------------------------------------------------------- out_of_sample_proba
def test_out_of_sample_proba_is_cross_val_predict_with_the_same_folds():
    X, y = load_breast_cancer(return_X_y=True)
    X, y = X[:200, :5], np.where(y[:200] == 1, "benign", "malignant")
    model = LogisticRegression(max_iter=2000)
    got = out_of_sample_proba(model, X, y, cv=4, random_state=11)
    folds = StratifiedKFold(4, shuffle=True, random_state=11)
    expected = cross_val_predict(model, X, y, cv=folds, method="predict_proba")
    np.testing.assert_allclose(got, expected)
    assert not hasattr(model, "coef_")  # the estimator passed in is not fitted


def test_out_of_sample_proba_by_hand_with_a_class_missing_from_a_training_fold():
    # KFold(2) without shuffling: fold 1 tests rows 0-3 on a model of rows 4-7 (no "a")
    X = np.zeros((8, 1))
    y = np.array(["a", "a", "a", "b", "b", "b", "c", "c"])
    calls = []
    got = out_of_sample_proba(
        DummyClassifier(strategy="prior"),
        X,
        y,
        cv=KFold(2),
        progress=lambda done, total: calls.append((done, total)),
    )
    expected = [[0, 0.5, 0.5]] * 4 + [[0.75, 0.25, 0]] * 4  # class priors of the other half
    np.testing.assert_allclose(got, expected)
    assert calls == [(1, 2), (2, 2)]


def test_out_of_sample_proba_inputs_deterministic_unmutated_and_parallel_same():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X, y = X.iloc[:150, :4], y.iloc[:150].map({0: "m", 1: "b"})
    X_before, y_before = X.copy(), y.copy()
    model = RandomForestClassifier(n_estimators=10, random_state=0)
    a = out_of_sample_proba(model, X, y, cv=3, random_state=5)
    b = out_of_sample_proba(model, X.to_numpy(), y.to_list(), cv=3, random_state=5)
    c = out_of_sample_proba(model, X, y, cv=3, random_state=5, n_jobs=2)
    d = out_of_sample_proba(model, X, y, cv=3, random_state=6)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(a, d)  # another seed, other folds
    np.testing.assert_allclose(a.sum(axis=1), 1.0)
    pd.testing.assert_frame_equal(X, X_before)
    pd.testing.assert_series_equal(y, y_before)
    assert not hasattr(model, "estimators_")


def test_out_of_sample_proba_validation():
    from sklearn.linear_model import Ridge

    X, y = np.zeros((10, 2)), np.array([0, 1] * 5)
    expected = "model must be an object with a fit method and a predict_proba method"
    with pytest.raises(ToolkitTypeError, match=f"out_of_sample_proba: {expected}, got Ridge"):
        out_of_sample_proba(Ridge(), X, y)
    with pytest.raises(ToolkitTypeError, match=f"{expected}, got <object"):
        out_of_sample_proba(object(), X, y)
    model = DummyClassifier()
    with pytest.raises(ValidationError, match=r"y must be 1-D, but has shape \(5, 2\)"):
        out_of_sample_proba(model, X, y.reshape(5, 2))
    with pytest.raises(LengthMismatchError, match="X has 10 rows but y has 9"):
        out_of_sample_proba(model, X, y[:9])
    with pytest.raises(InvalidValueError, match=r"y has 1 missing value\(s\).*rows \[3\]"):
        out_of_sample_proba(model, X, [0, 1, 0, np.nan, 1, 0, 1, 0, 1, 0])
    with pytest.raises(InvalidValueError, match="y has 1 missing value"):
        out_of_sample_proba(model, X, ["a", "b", None, "a", "b", "a", "b", "a", "b", "a"])
    with pytest.raises(ToolkitTypeError, match="y mixes label types"):
        out_of_sample_proba(model, X, np.array(["a", 1] * 5, dtype=object))
    with pytest.raises(InvalidLabelError, match=r"y holds one class only \(\[0\]\)"):
        out_of_sample_proba(model, X, np.zeros(10, dtype=int))
    with pytest.raises(InvalidValueError, match=r"cv must be an int in \[2, inf\) or .*got 1"):
        out_of_sample_proba(model, X, y, cv=1)
    with pytest.raises(
        ToolkitTypeError, match="cv must be an int .* with a split method, got True"
    ):
        out_of_sample_proba(model, X, y, cv=True)
    with pytest.raises(InvalidLabelError, match=r"at least cv=3 examples.*\[.c.\] have \[2\]"):
        out_of_sample_proba(model, X, ["a"] * 4 + ["b"] * 4 + ["c"] * 2, cv=3)
    with pytest.raises(ValidationError, match="hold every row exactly once.*30 rows"):
        out_of_sample_proba(model, X, y, cv=ShuffleSplit(10, test_size=3, random_state=0))
    with pytest.raises(ToolkitTypeError, match="progress must be a callable or None, got 'bar'"):
        out_of_sample_proba(model, X, y, progress="bar")
    with pytest.raises(ToolkitTypeError, match="random_state must be an int .* or None, got 1.5"):
        out_of_sample_proba(model, X, y, random_state=1.5)
    with pytest.raises(InvalidValueError, match="n_jobs must not be 0"):
        out_of_sample_proba(model, X, y, n_jobs=0)
    with pytest.raises(ToolkitTypeError, match="y must be array-like, got 'ab'"):
        out_of_sample_proba(model, X, "ab")


# ---------------------------------------------------------------- label_issue_share
def share_fixture():
    # 8 rows; the model is wrong on rows 0, 1, 2, 4, 5; rows 0, 1, 4 are flagged issues
    features = pd.DataFrame(
        {"g": ["x", "x", "x", "x", "y", "y", "y", "y"], "v": [1, 2, 3, 4, 5, 6, 7, 8]}
    )
    y_true = ["a", "a", "a", "a", "b", "b", "b", "b"]
    y_pred = ["b", "b", "b", "a", "a", "a", "b", "b"]
    p = tk.Predictions(y_true, y_pred, features=features, ids=[10, 11, 12, 13, 14, 15, 16, 17])
    is_issue = np.array([1, 1, 0, 0, 1, 0, 0, 0], dtype=bool)
    return p, is_issue


def test_label_issue_share_on_a_patterns_table_by_hand():
    p, is_issue = share_fixture()
    patterns = pd.DataFrame(
        {
            "pattern": ["g = x", "g = y", "v > 6", "g = x ∧ v ≤ 2"],
            "conditions": [
                [{"column": "g", "op": "==", "value": "x"}],
                [{"column": "g", "op": "==", "value": "y"}],
                [{"column": "v", "op": ">", "value": 6}],
                [
                    {"column": "g", "op": "==", "value": "x"},
                    {"column": "v", "op": "<=", "value": 2},
                ],
            ],
        }
    )
    before = patterns.copy(deep=True)
    share = label_issue_share(is_issue, p, patterns)
    # g = x: errors 0, 1, 2, issues among them 0, 1 -> 2/3; g = y: errors 4, 5, issue 4 -> 1/2;
    # v > 6: rows 6, 7 have no errors -> NaN; g = x and v <= 2: rows 0, 1, both issues -> 1
    np.testing.assert_allclose(share, [2 / 3, 1 / 2, np.nan, 1.0])
    pd.testing.assert_frame_equal(patterns, before)


def test_label_issue_share_takes_pattern_objects_and_results_with_a_table():
    p, is_issue = share_fixture()
    patterns = pd.DataFrame(
        {
            "conditions": [
                Pattern((Condition("g", "==", "x"),)),
                Pattern((Condition("v", "in (]", (1, 5)), Condition("g", "==", "y"))),
                Pattern(()),
            ]
        }
    )
    # g = x: 2/3 as above; v in (1, 5] and g = y: row 4 (an error and an issue) -> 1;
    # no condition: every row, errors 0, 1, 2, 4, 5 of which 0, 1, 4 are issues -> 3/5
    expected = [2 / 3, 1.0, 3 / 5]
    np.testing.assert_allclose(label_issue_share(is_issue, p, patterns), expected)
    np.testing.assert_allclose(label_issue_share(is_issue, p, Result(patterns)), expected)


def test_label_issue_share_takes_a_label_issues_result():
    p = small()
    p = tk.Predictions(p.y_true, proba=p.proba, ids=p.ids)
    result = find_label_issues(p)
    # flagged r03 and r08 are both errors of the model; the errors are rows 3 and 8 only
    assert p.errors.nonzero()[0].tolist() == [3, 8]
    np.testing.assert_allclose(label_issue_share(result, p, [np.ones(12, dtype=bool)]), [1.0])
    np.testing.assert_array_equal(
        label_issue_share(result, p, [p.errors]), label_issue_share(result.table, p, [p.errors])
    )


def test_label_issue_share_takes_the_issues_table_in_any_order():
    p, is_issue = share_fixture()
    table = pd.DataFrame(
        {"id": p.ids, "is_issue": is_issue, "label_quality": np.linspace(0, 1, 8)}
    ).sample(frac=1.0, random_state=0)
    masks = [np.array([1, 1, 1, 1, 0, 0, 0, 0]), np.ones(8, dtype=bool)]
    np.testing.assert_allclose(label_issue_share(table, p, masks), [2 / 3, 3 / 5])
    np.testing.assert_allclose(label_issue_share(is_issue.astype(int), p, masks), [2 / 3, 3 / 5])


def test_label_issue_share_on_error_clusters_uses_membership():
    from toolkit.analysis.clusters import ErrorClusters

    p, is_issue = share_fixture()
    clusters = ErrorClusters(
        table=pd.DataFrame({"cluster": [1, 0], "conditions": [[], []]}),
        points=pd.DataFrame({"id": p.ids[::-1], "cluster": [0, 0, -1, 1, 1, 1, 1, 0]}),
        n_noise=1,
        noise_errors=0,
    )
    # by id: cluster 1 = ids 11, 12, 13, 14 (errors 11, 12, 14; issues 11, 14) -> 2/3;
    # cluster 0 = ids 10, 16, 17 (error 10, an issue) -> 1
    np.testing.assert_allclose(label_issue_share(is_issue, p, clusters), [2 / 3, 1.0])


def test_label_issue_share_on_real_error_patterns_rebuilds_their_rows():
    rng = np.random.default_rng(0)
    n = 600
    features = pd.DataFrame({"c": rng.choice(["u", "w", "z"], n), "x": rng.normal(size=n)})
    y = rng.integers(0, 2, n)
    wrong = (features["c"] == "u").to_numpy() & (rng.random(n) < 0.6) | (rng.random(n) < 0.05)
    p = tk.Predictions(y, np.where(wrong, 1 - y, y), features=features)
    patterns = tk.find_error_patterns(p, max_conditions=2)
    assert len(patterns)
    np.testing.assert_allclose(label_issue_share(p.errors, p, patterns), 1.0)
    # with a random half of the errors flagged, share x the table's error count is a whole
    # number only if the rebuilt rows hold exactly the pattern's errors
    half = p.errors & (rng.random(n) < 0.5)
    errors = patterns.table["errors"].to_numpy()
    counts = label_issue_share(half, p, patterns) * errors
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-9)
    assert ((counts > 0) & (counts < errors)).any()
    # the result and its table give the same shares
    np.testing.assert_array_equal(
        label_issue_share(half, p, patterns), label_issue_share(half, p, patterns.table)
    )


def test_label_issue_share_validation():
    p, is_issue = share_fixture()
    masks = [np.ones(8, dtype=bool)]
    with pytest.raises(ToolkitTypeError, match="p must be a toolkit.Predictions, got .p."):
        label_issue_share(is_issue, "p", masks)
    with pytest.raises(LengthMismatchError, match="issues has 7 rows but p has 8"):
        label_issue_share(is_issue[:7], p, masks)
    with pytest.raises(ToolkitTypeError, match="issues must be booleans"):
        label_issue_share(["yes"] * 8, p, masks)
    with pytest.raises(ValidationError, match=r"issues must be 1-D, but has shape \(2, 4\)"):
        label_issue_share(is_issue.reshape(2, 4), p, masks)
    with pytest.raises(ColumnNotFoundError, match=r"issues lacks column\(s\) \['is_issue'\]"):
        label_issue_share(pd.DataFrame({"id": p.ids}), p, masks)
    dup = pd.DataFrame({"id": [10] * 8, "is_issue": is_issue})
    with pytest.raises(DuplicateIdError, match=r"issues has repeated ids: \[10\]"):
        label_issue_share(dup, p, masks)
    other = pd.DataFrame({"id": np.arange(8), "is_issue": is_issue})
    with pytest.raises(ValidationError, match="issues must hold the ids of p exactly: 8 id"):
        label_issue_share(other, p, masks)
    with pytest.raises(LengthMismatchError, match="groups\\[0\\] has 3 rows but p has 8"):
        label_issue_share(is_issue, p, [[1, 0, 1]])
    with pytest.raises(ToolkitTypeError, match="groups must be array-like or an object with"):
        label_issue_share(is_issue, p, "g = x")
    with pytest.raises(
        ToolkitTypeError, match="issues must be a toolkit.LabelIssues or array-like"
    ):
        label_issue_share(3, p, masks)
    with pytest.raises(ColumnNotFoundError, match="needs a 'conditions' column"):
        label_issue_share(is_issue, p, pd.DataFrame({"pattern": ["g = x"]}))
    bad_column = pd.DataFrame({"conditions": [[{"column": "zz", "op": "==", "value": 1}]]})
    with pytest.raises(ColumnNotFoundError, match=r"uses column\(s\) \['zz'\]"):
        label_issue_share(is_issue, p, bad_column)
    bare = tk.Predictions(p.y_true, p.y_pred)
    with pytest.raises(ValidationError, match="p has no features"):
        label_issue_share(is_issue, bare, bad_column)
    from toolkit.analysis.clusters import ErrorClusters

    short = ErrorClusters(
        pd.DataFrame({"cluster": [0]}), pd.DataFrame({"id": [10], "cluster": [0]}), 0, 0
    )
    with pytest.raises(LengthMismatchError, match="the clusters hold 1 rows but p has 8"):
        label_issue_share(is_issue, p, short)
    wrong_ids = ErrorClusters(
        pd.DataFrame({"cluster": [0]}), pd.DataFrame({"id": np.arange(8), "cluster": 0}), 0, 0
    )
    with pytest.raises(ValidationError, match="must hold the ids of p"):
        label_issue_share(is_issue, p, wrong_ids)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans(), st.booleans()), min_size=2, max_size=30))
def test_label_issue_share_is_a_share_of_errors(rows):
    wrong, issue, member = (np.array(c, dtype=bool) for c in zip(*rows))
    y = np.array([0, 1] * len(rows))[: len(rows)]
    p = tk.Predictions(y, np.where(wrong, 1 - y, y), classes=[0, 1])
    (share,) = label_issue_share(issue, p, [member])
    n_err = np.count_nonzero(wrong & member)
    if n_err == 0:
        assert np.isnan(share)
    else:
        assert 0.0 <= share <= 1.0
        assert share == np.count_nonzero(wrong & member & issue) / n_err


# ---------------------------------------------------------------- properties and imports
@settings(max_examples=30, deadline=None)
@given(st.integers(12, 60), st.integers(2, 4), st.integers(0, 2**16))
def test_issues_table_is_a_sorted_permutation_of_the_rows(n, k, seed):
    rng = np.random.default_rng(seed)
    y = np.concatenate([np.arange(k), np.arange(k), rng.integers(0, k, n - 2 * k)])
    proba = rng.dirichlet(np.ones(k), n)
    result = find_label_issues(tk.Predictions(y, proba=proba, classes=np.arange(k)))
    issues = result.table
    assert result.n_issues == issues["is_issue"].sum() and len(result) == n
    assert sorted(issues["id"]) == list(range(n))
    q = issues["label_quality"].to_numpy()
    assert ((q >= 0) & (q <= 1)).all() and (np.diff(q) >= 0).all()
    assert issues["is_issue"].dtype == bool


def test_importing_the_modules_loads_no_cleanlab():
    code = (
        "import sys, toolkit, toolkit.analysis.labels, toolkit.analysis.labeling\n"
        "print('cleanlab' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
