"""check_splits: fit, shift, duplicates, groups and time across a train/test split.

Hand-computed fixtures for every number, planted answers on the Adult census data that
must be found, and the command line's exit codes and files.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import toolkit as tk
from toolkit.analysis.splits import NEAR_DISTANCE, pattern_shares, shift_strength
from toolkit.cli import main
from toolkit.exceptions import ColumnNotFoundError, DuplicateIdError, ValidationError
from toolkit.report.summary import split_sentence

#: Small and fast options for checks whose adversarial part is not under test.
FAST = {"n_splits": 2, "max_rows": 400}


def _wilson(k: int, n: int, z: float = stats.norm.ppf(0.975)) -> tuple[float, float]:
    """An independent Wilson interval (closed form) for the oracles below."""
    p = k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return centre - half, centre + half


def _noise_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {"x": rng.normal(size=n), "z": rng.normal(size=n), "c": rng.choice(list("abc"), n)}
    )


# ---------------------------------------------------------------------------- duplicates
def test_exact_duplicates_by_hand_ints_equal_floats_and_missing_equal_missing():
    train = pd.DataFrame({"x": [1, 2, 3, 4], "c": ["a", "b", "a", None]})
    test = pd.DataFrame({"x": [1.0, 3.0, 2.0, 4.0, 4.0], "c": ["a", "b", "b", None, "b"]})
    check = tk.check_splits(test, train, **FAST)
    # test 0 = train 0 (1 == 1.0), test 2 = train 1, test 3 = train 3 (both c missing);
    # test 1 (3, b) and test 4 (4, b) match no training row
    assert check.exact[["train_id", "test_id"]].values.tolist() == [[0, 0], [1, 2], [3, 3]]
    assert check.leakage_found
    out = check.to_dict()["duplicates"]["exact"]
    assert out == {
        "n": 3,
        "n_test_rows": 3,
        "pairs": [
            {"train_id": 0, "test_id": 0},
            {"train_id": 1, "test_id": 2},
            {"train_id": 3, "test_id": 3},
        ],
    }
    assert check.near.empty  # the exact pairs are not repeated as near ones


def test_near_duplicate_distance_by_hand_and_a_category_keeps_rows_apart():
    train = pd.DataFrame({"x": [0.0, 10.0, 0.0], "c": ["a", "a", "b"]})
    test = pd.DataFrame({"x": [0.1, 5.0, 0.05], "c": ["a", "a", "c"]})
    scale = np.std([0.0, 10.0, 0.0, 0.1, 5.0, 0.05])  # over both sides, ddof 0
    check = tk.check_splits(test, train, near_distance=0.05, **FAST)
    # test 0 is 0.1 / scale from train 0 (about 0.025); test 1 is 5 / scale away; test 2
    # has the same x as train 0 and 2 but a category neither has
    assert check.near[["train_id", "test_id"]].values.tolist() == [[0, 0]]
    assert check.near["distance"].iloc[0] == pytest.approx(0.1 / scale)
    assert not check.leakage_found  # near-duplicates are reported, not an exit 1
    assert check.table.set_index("check").loc["near_duplicates", "status"] == "suspect"


def test_group_overlap_by_hand_lists_the_rows_of_each_side():
    train = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "g": [1, 1, 2, 3]})
    test = pd.DataFrame({"x": [5.0, 6.0, 7.0], "g": [3, 4, 1]})
    check = tk.check_splits(test, train, group="g", **FAST)
    groups = check.groups
    assert groups["group"].tolist() == [1, 3]
    assert groups["n_train"].tolist() == [2, 1] and groups["n_test"].tolist() == [1, 1]
    assert groups["train_ids"].tolist() == [[0, 1], [3]]
    assert groups["test_ids"].tolist() == [[2], [0]]
    assert check.leakage_found and "g" not in check.features  # set aside from the features
    assert check.to_dict()["groups"]["n_test_rows"] == 2


def test_no_shared_rows_or_groups_is_no_leakage():
    train, test = _noise_frame(200, 0), _noise_frame(100, 1)
    test["g"], train["g"] = np.arange(100), np.arange(100, 300)
    check = tk.check_splits(test, train, group="g", **FAST)
    assert check.exact.empty and check.groups.empty and not check.leakage_found


# ----------------------------------------------------------------------------------- fit
def _scored(y_true: list, y_pred: list, x: np.ndarray) -> tk.Predictions:
    return tk.Predictions(y_true, y_pred, features={"x": x})


def test_fit_rates_gap_and_newcombe_interval_by_hand():
    rng = np.random.default_rng(0)
    y_train = ["a"] * 60 + ["b"] * 40
    pred_train = list(y_train)
    for i in range(10):  # 10 errors of 100
        pred_train[i] = "b"
    y_test = ["a"] * 50 + ["b"] * 50
    pred_test = ["b"] * 50 + ["b"] * 50  # 50 errors of 100
    train = _scored(y_train, pred_train, rng.normal(size=100))
    test = _scored(y_test, pred_test, rng.normal(size=100))
    check = tk.check_splits(test, train, **FAST)
    fit = check.fit
    rows = fit["table"].set_index("split")
    assert rows.loc["train", "error_rate"] == 0.10 and rows.loc["test", "error_rate"] == 0.50
    low, high = _wilson(10, 100)
    assert rows.loc["train", "ci_low"] == pytest.approx(low)
    assert rows.loc["train", "ci_high"] == pytest.approx(high)
    # zero rule learnt on training labels: always "a"; wrong on 40 of 100 there
    assert rows.loc["train", "zero_rule_error_rate"] == 0.40
    assert rows.loc["test", "zero_rule_error_rate"] == 0.50
    assert fit["train_share_of_zero_rule"] == pytest.approx(10 / 40)
    (l1, u1), (l2, u2) = _wilson(50, 100), _wilson(10, 100)
    assert fit["gap_pp"] == pytest.approx(40.0)
    assert fit["gap_ci_low_pp"] == pytest.approx(100 * (0.4 - np.hypot(0.5 - l1, u2 - 0.1)))
    assert fit["gap_ci_high_pp"] == pytest.approx(100 * (0.4 + np.hypot(u1 - 0.5, 0.1 - l2)))
    assert fit["verdict"] == "overfitting"
    assert any("too complex" in cause for cause in fit["causes"])


def test_a_model_no_better_than_the_zero_rule_in_training_underfits():
    rng = np.random.default_rng(1)
    y = ["a"] * 60 + ["b"] * 40
    train = _scored(y, ["a"] * 100, rng.normal(size=100))
    test = _scored(y, ["a"] * 100, rng.normal(size=100))
    fit = tk.check_splits(test, train, **FAST).fit
    assert fit["train_share_of_zero_rule"] == 1.0 and fit["verdict"] == "underfitting"
    assert any("too simple" in cause for cause in fit["causes"])


def test_equal_error_on_both_sides_is_neither_and_a_better_test_is_suspect():
    rng = np.random.default_rng(2)
    y = ["a"] * 50 + ["b"] * 50
    pred = ["b"] * 10 + ["a"] * 40 + ["b"] * 50  # 10 errors
    same = tk.check_splits(
        _scored(y, pred, rng.normal(size=100)), _scored(y, pred, rng.normal(size=100)), **FAST
    )
    assert same.fit["gap_pp"] == 0.0 and same.fit["verdict"] == "neither"
    assert same.fit["causes"] == []
    y_big = y * 5
    worse = ["b"] * 100 + y_big[100:]  # 100 of 500 wrong in training, none in test
    better = tk.check_splits(
        _scored(y_big, y_big, rng.normal(size=500)),
        _scored(y_big, worse, rng.normal(size=500)),
        **FAST,
    )
    assert better.fit["verdict"] == "test_better_than_train"


def test_regression_fit_counts_training_errors_at_the_test_tolerance():
    rng = np.random.default_rng(3)
    y = rng.normal(size=100)
    test = tk.Predictions(y, y + 0.5, features={"x": rng.normal(size=100)}, tolerance=0.1)
    train = tk.Predictions(y, y.copy(), features={"x": rng.normal(size=100)})
    rows = tk.check_splits(test, train, **FAST).fit["table"].set_index("split")
    # with its own default tolerance training would be wrong on 10% by construction
    assert rows.loc["train", "errors"] == 0 and rows.loc["test", "errors"] == 100


# ---------------------------------------------------------------------------------- time
def test_error_rate_by_period_and_newest_against_oldest_by_hand():
    t = np.repeat([2021, 2022, 2023], 10)
    errors = np.r_[np.arange(10) < 2, np.arange(10) < 5, np.arange(10) < 8]
    y = np.zeros(30, dtype=int)
    y[:1] = 1  # two classes
    pred = np.where(errors, 1 - y, y)
    test = tk.Predictions(y, pred, features={"x": np.arange(30.0), "t": t})
    train = pd.DataFrame({"x": np.arange(30.0) + 100, "t": t})
    timed = tk.check_splits(test, train, time="t", **FAST).time
    table = timed["table"]
    assert table["errors"].tolist() == [2, 5, 8] and table["n"].tolist() == [10, 10, 10]
    assert table["start"].tolist() == [2021, 2022, 2023]
    assert timed["newest_minus_oldest_pp"] == pytest.approx(60.0)
    # expected cells are all 5: the pooled two-proportion z test, two-sided
    z = (0.8 - 0.2) / np.sqrt(0.5 * 0.5 * (1 / 10 + 1 / 10))
    assert timed["p_value"] == pytest.approx(2 * stats.norm.sf(z))
    assert "t" not in tk.check_splits(test, train, time="t", **FAST).features


def test_time_given_as_dates_in_text_is_parsed_and_text_that_is_not_is_refused():
    dates = ["2024-01-01"] * 5 + ["2024-06-01"] * 5
    y = [0, 1] * 5
    test = tk.Predictions(y, y, features={"x": np.arange(10.0), "d": dates})
    train = pd.DataFrame({"x": np.arange(10.0), "d": dates})
    timed = tk.check_splits(test, train, time="d", **FAST).time
    assert timed["table"]["n"].tolist() == [5, 5] and timed["p_value"] == 1.0
    bad = tk.Predictions(y, y, features={"x": np.arange(10.0), "d": ["soon"] * 10})
    with pytest.raises(ValidationError, match=r"time column must hold numbers or dates.*'soon'"):
        tk.check_splits(bad, train.assign(d=["soon"] * 10), time="d", **FAST)


# ------------------------------------------------------------------------- known answers
@pytest.fixture(scope="module")
def adult():
    from toolkit.datasets import load_adult

    train, test = load_adult()
    return pd.concat([train, test], ignore_index=True)


def test_planted_duplicates_on_adult_are_all_found_and_every_pair_is_real(adult):
    rng = np.random.default_rng(0)
    features = adult.drop(columns="income")
    order = rng.permutation(len(features))
    train = features.iloc[order[:6000]].reset_index(drop=True)
    test = features.iloc[order[6000:8000]].reset_index(drop=True)
    sources = rng.choice(len(train), 40, replace=False)
    exact_planted = {(int(s), int(t)) for s, t in zip(sources[:20], range(20), strict=True)}
    near_planted = {(int(s), int(t)) for s, t in zip(sources[20:], range(20, 40), strict=True)}
    for s, t in exact_planted:
        test.iloc[t] = train.iloc[s]
    for s, t in near_planted:  # a copy with a slightly different census weight
        test.iloc[t] = train.iloc[s]
        test.loc[t, "fnlwgt"] = train.loc[s, "fnlwgt"] + int(rng.integers(50, 500))
    check = tk.check_splits(test, train, random_state=0)

    exact = set(map(tuple, check.exact[["train_id", "test_id"]].to_numpy().tolist()))
    near = set(map(tuple, check.near[["train_id", "test_id"]].to_numpy().tolist()))
    assert exact_planted <= exact and near_planted <= near  # recall 1
    for s, t in exact:  # nothing that is not a true duplicate
        pd.testing.assert_series_equal(train.iloc[s], test.iloc[t], check_names=False)
    categorical = train.select_dtypes(exclude="number").columns
    numeric = train.select_dtypes(include="number").columns
    scale = pd.concat([train, test])[numeric].std(ddof=0)
    for (s, t), distance in zip(
        near, check.near.set_index(["train_id", "test_id"]).loc[list(near), "distance"], strict=True
    ):
        assert train.loc[s, categorical].fillna("-").equals(test.loc[t, categorical].fillna("-"))
        gap = (train.loc[s, numeric] - test.loc[t, numeric]) / scale
        assert distance == pytest.approx(float(np.sqrt((gap**2).sum())))
        assert distance <= NEAR_DISTANCE
    # a random split plus a few copies: no shift the classifier can see
    assert check.shift["ci_low"] <= 0.5 <= check.shift["ci_high"]
    assert check.shift["strength"] == "none"


def test_a_split_shifted_on_age_is_found_and_age_named_first(adult):
    rng = np.random.default_rng(1)
    features = adult.drop(columns="income")
    young = np.flatnonzero(features["age"].between(20, 29))
    rest = np.flatnonzero(~features["age"].between(20, 29))
    rng.shuffle(young)
    rng.shuffle(rest)
    test = features.iloc[np.r_[young[:1600], rest[:400]]]  # 80% in their twenties
    train = features.iloc[np.r_[young[1600:2600], rest[400:5400]]]  # about 17%
    check = tk.check_splits(test, train, random_state=0)
    assert check.shift["ci_low"] > 0.75 and check.shift["strength"] == "strong"
    assert check.shift["importances"]["feature"].iloc[0] == "age"
    # the training rows most like the test rows are mostly in their twenties
    like = check.most_test_like(200)["id"].to_numpy()
    assert train["age"].to_numpy()[like].mean() < 32 < train["age"].mean()


def test_an_overfit_tree_and_a_zero_rule_model_get_their_verdicts(adult):
    from sklearn.dummy import DummyClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    num = ["age", "fnlwgt", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
    rng = np.random.default_rng(2)
    order = rng.permutation(len(adult))
    train, test = adult.iloc[order[:4000]], adult.iloc[order[4000:6000]]
    verdicts = {}
    for name, model in (
        ("deep tree", DecisionTreeClassifier(random_state=0)),
        ("zero rule", DummyClassifier(strategy="most_frequent")),
        ("logistic", make_pipeline(StandardScaler(), LogisticRegression())),
    ):
        model.fit(train[num], train["income"])
        sides = [
            tk.Predictions.from_model(model, df[num], df["income"], features=df[num])
            for df in (train, test)
        ]
        verdicts[name] = tk.check_splits(sides[1], sides[0], **FAST).fit["verdict"]
    assert verdicts == {
        "deep tree": "overfitting",
        "zero rule": "underfitting",
        "logistic": "neither",
    }


# ------------------------------------------------------------------------------ contract
def test_a_reference_without_labels_gets_shift_and_duplicates_and_says_why_fit_is_skipped():
    test = tk.Predictions([0, 1] * 50, [0, 1] * 50, features=_noise_frame(100, 5))
    production = _noise_frame(150, 6)
    check = tk.check_splits(test, production, **FAST)
    assert check.fit is None and "reference is a table of features" in check.skipped["fit"]
    assert check.to_dict()["fit"] is None and 0 <= check.shift["auc"] <= 1
    assert check.table.set_index("check").loc["fit", "status"] == "skipped"


def test_mismatched_columns_are_named_on_each_side():
    a = pd.DataFrame({"x": [1.0, 2.0], "only_test": [1, 2]})
    b = pd.DataFrame({"x": [1.0, 2.0], "only_train": [1, 2]})
    with pytest.raises(
        ValidationError,
        match=r"same feature columns, but only p has \['only_test'\]; only reference has "
        r"\['only_train'\]",
    ):
        tk.check_splits(a, b)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"group": "nope"}, ColumnNotFoundError, r"column 'nope' not found in p"),
        ({"group": "x", "time": "x"}, ValidationError, r"group and time name the same column"),
        ({"id": "x"}, DuplicateIdError, r"p ids in column 'x' must be unique"),
        ({"id": "nope"}, ColumnNotFoundError, r"id column 'nope' not found in p"),
    ],
)
def test_bad_options_are_one_clear_error(kwargs, error, message):
    frame = pd.DataFrame({"x": [1.0, 1.0, 2.0], "y": [1, 2, 3]})
    with pytest.raises(error, match=message):
        tk.check_splits(frame, frame.copy(), **kwargs)


def test_one_row_on_a_side_is_too_few_for_the_shift_and_says_so():
    with pytest.raises(ValidationError, match=r"at least 2 rows on each side; got 1 reference"):
        tk.check_splits(_noise_frame(50, 1), _noise_frame(1, 2))


def test_predictions_without_features_and_a_wrong_type_are_refused():
    with pytest.raises(ValidationError, match="p has no feature columns"):
        tk.check_splits(tk.Predictions([0, 1], [0, 1]), pd.DataFrame({"x": [1, 2]}))
    with pytest.raises(TypeError, match="check_splits: reference must be"):
        tk.check_splits(pd.DataFrame({"x": [1]}), [[1]])


def test_nothing_the_caller_passed_is_changed_and_the_json_repeats():
    train, test = _noise_frame(120, 7), _noise_frame(60, 8)
    test.iloc[0] = train.iloc[0]
    before = (train.copy(), test.copy())
    first = tk.check_splits(test, train, random_state=3, **FAST)
    second = tk.check_splits(test, train, random_state=3, **FAST)
    pd.testing.assert_frame_equal(train, before[0])
    pd.testing.assert_frame_equal(test, before[1])
    text = json.dumps(first.to_dict(), allow_nan=False)
    assert text == json.dumps(second.to_dict(), allow_nan=False)
    payload = json.loads(text)
    assert set(payload["shift"]) >= {"auc", "ci_low", "ci_high", "top_features"}
    assert set(payload["duplicates"]) == {"exact", "near"}


def test_shift_strength_words_follow_the_lower_bound():
    assert [shift_strength(v) for v in (0.4, 0.5, 0.55, 0.65, 0.9)] == [
        "none",
        "none",
        "slight",
        "moderate",
        "strong",
    ]


# ------------------------------------------------------------------- diagnosis and report
def _pattern_case() -> tuple[tk.Predictions, tk.Predictions]:
    rng = np.random.default_rng(9)
    n = 600
    kind = np.where(np.arange(n) < 150, "bad", "good")
    y = rng.integers(0, 2, n)
    wrong = np.where(kind == "bad", rng.random(n) < 0.7, rng.random(n) < 0.05)
    test = tk.Predictions(
        y, np.where(wrong, 1 - y, y), features={"kind": kind, "v": rng.normal(size=n)}
    )
    ref_kind = np.where(np.arange(n) < 30, "bad", "good")  # 5% "bad" in training
    train = tk.Predictions(y, y, features={"kind": ref_kind, "v": rng.normal(size=n)})
    return test, train


def test_diagnose_with_splits_adds_the_section_and_each_patterns_share_by_hand():
    test, train = _pattern_case()
    d = tk.diagnose(
        test,
        splits={"reference": train, "n_splits": 2},
        sections=["error_patterns", "splits"],
        created="2026-01-01T00:00:00+00:00",
    )
    shares = d.split_pattern_shares.set_index("pattern")
    patterns = d.error_patterns
    for i, label in enumerate(patterns.table["pattern"]):
        assert shares.loc[label, "share_test"] == pytest.approx(
            patterns.mask(i, test.features).mean()
        )
        assert shares.loc[label, "share_train"] == pytest.approx(
            patterns.mask(i, train.features).mean()
        )
    assert shares.loc["kind = bad", "share_test"] == 0.25
    assert shares.loc["kind = bad", "share_train"] == 0.05
    assert shares.loc["kind = bad", "ratio"] == pytest.approx(5.0)
    assert set(shares["kind"]) == {"error pattern"}
    out = d.to_dict()["splits"]
    assert out["pattern_shares"][0]["pattern"] == patterns.table["pattern"].iloc[0]
    assert out["fit"]["verdict"] == "overfitting"


def test_a_cluster_is_placed_on_each_side_by_its_rule():
    from types import SimpleNamespace

    from toolkit.analysis._split_section import SPLITS
    from toolkit.analysis.conditions import Pattern
    from toolkit.analysis.sections import Context

    test, train = _pattern_case()
    rule = Pattern.from_dicts([{"column": "kind", "op": "==", "value": "bad"}])
    clusters = SimpleNamespace(
        table=pd.DataFrame({"cluster": [0, 1], "conditions": [rule, None]})  # 1: no rule
    )
    ctx = Context(test, options={"splits": train})
    shares = SPLITS.link({"splits": object(), "clusters": clusters}, ctx)["split_pattern_shares"]
    assert shares[["kind", "pattern"]].values.tolist() == [
        ["cluster rule", "cluster 0: kind = bad"]
    ]
    assert shares["share_test"].tolist() == [0.25] and shares["share_train"].tolist() == [0.05]


def test_diagnose_refuses_a_splits_mapping_with_unknown_keys():
    test, train = _pattern_case()
    with pytest.raises(ValidationError, match=r"splits mapping needs key 'reference'.*'refs'"):
        tk.diagnose(test, splits={"refs": train})


def test_pattern_shares_name_a_column_the_reference_lacks():
    test, _ = _pattern_case()
    table = tk.find_error_patterns(test, max_conditions=1).table
    with pytest.raises(ColumnNotFoundError, match=r"uses column\(s\) \['kind'\]"):
        pattern_shares(table, test.features, pd.DataFrame({"v": [1.0]}))


def test_the_summary_sentence_cites_the_numbers_of_the_check():
    test, train = _pattern_case()
    test_frame = test.features.copy()
    check = tk.check_splits(test, train, **FAST)
    text = split_sentence(check)
    auc, low, high = re.search(r"adversarial AUC (\S+), 95% CI (\S+)–(\S+)\)", text).groups()
    assert float(auc) == round(check.shift["auc"], 2)
    assert float(low) == round(check.shift["ci_low"], 2)
    assert float(high) == round(check.shift["ci_high"], 2)
    rows = check.fit["table"].set_index("split")
    found = re.search(r"test error (\S+)% against (\S+)% in training, (\S+) points", text)
    assert float(found.group(1)) == round(100 * rows.loc["test", "error_rate"], 1)
    assert float(found.group(2)) == round(100 * rows.loc["train", "error_rate"], 1)
    assert float(found.group(3)) == round(check.fit["gap_pp"], 1)
    assert "the model overfits" in text and "no test row repeats a training row" in text
    # one duplicate planted: the sentence counts it
    dup = tk.Predictions(
        test.y_true, test.y_pred, features=test_frame.assign(v=train.features["v"].to_numpy())
    )
    dup_check = tk.check_splits(dup, train, **FAST)
    n = int(dup_check.exact["test_row"].nunique())
    assert n > 0 and f"{n:,} test rows repeat training rows exactly" in split_sentence(dup_check)


def test_the_report_section_leads_with_the_verdict_and_escapes_names():
    rng = np.random.default_rng(11)
    name = "<script>alert(1)</script>"
    y = rng.integers(0, 2, 200)
    test = tk.Predictions(y, y, features={name: rng.normal(size=200), "v": rng.normal(size=200)})
    train = tk.Predictions(y, y, features={name: rng.normal(size=200), "v": rng.normal(size=200)})
    d = tk.diagnose(test, splits={"reference": train, "n_splits": 2}, sections=["splits"])
    html = d.to_html()
    section = html[html.index('<section id="splits">') :]
    section = section[: section.index("</section>")]
    assert name not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in section
    verdict = section.index("No rows or groups shared across the split.")
    assert verdict < section.index("<table")
    assert split_sentence(d.splits) in html.replace("&#39;", "'")
    assert 'href="#splits"' in html


# ---------------------------------------------------------------------------------- CLI
def _write(tmp_path, name: str, frame: pd.DataFrame) -> str:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return str(path)


def _scored_frame(n: int, seed: int) -> pd.DataFrame:
    frame = _noise_frame(n, seed)
    rng = np.random.default_rng(seed + 100)
    frame["y"] = rng.integers(0, 2, n)
    frame["p_1"] = rng.random(n)
    frame["p_0"] = 1 - frame["p_1"]
    frame["rid"] = [f"r{seed}-{i}" for i in range(n)]
    return frame


def test_cli_exit_1_on_a_planted_duplicate_with_its_pair_in_the_json(tmp_path, capsys):
    train, test = _scored_frame(200, 1), _scored_frame(100, 2)
    test.loc[5, ["x", "z", "c"]] = train.loc[7, ["x", "z", "c"]]
    out = tmp_path / "splits.json"
    code = main(
        [
            "check-splits",
            _write(tmp_path, "train.csv", train),
            _write(tmp_path, "test.csv", test),
            *("--target", "y", "--proba", "p_*", "--id", "rid", "--json", str(out)),
        ]
    )
    assert code == 1
    payload = json.loads(out.read_text())
    assert payload["duplicates"]["exact"]["pairs"] == [{"train_id": "r1-7", "test_id": "r2-5"}]
    assert payload["fit"]["verdict"] in {"underfitting", "overfitting", "neither"}
    assert "Leakage" in capsys.readouterr().err


def test_cli_exit_0_without_leakage_and_fit_skipped_for_unlabeled_train(tmp_path, capsys):
    train = _noise_frame(200, 3)  # production rows: no label, no predictions, no ids
    test = _scored_frame(100, 4).drop(columns="rid")
    out = tmp_path / "o.json"
    paths = [_write(tmp_path, "prod.csv", train), _write(tmp_path, "test.csv", test)]
    code = main(["check-splits", *paths, "--target", "y", "--proba", "p_*", "--id", "rid"])
    assert code == 1 and "TRAIN has no id column 'rid'" in capsys.readouterr().err
    code = main(["check-splits", *paths, "--target", "y", "--proba", "p_*", "--json", str(out)])
    payload = json.loads(out.read_text())
    assert code == 0 and payload["fit"] is None
    assert payload["skipped"]["fit"].startswith("TRAIN has no label column 'y'")
    assert "fit               skipped" in capsys.readouterr().out


def test_cli_group_overlap_exits_1(tmp_path):
    train, test = _scored_frame(100, 5), _scored_frame(50, 6)
    train["household"], test["household"] = np.arange(100), np.arange(95, 145)
    paths = [_write(tmp_path, "a.csv", train), _write(tmp_path, "b.csv", test)]
    args = ["--target", "y", "--proba", "p_*", "--id", "rid", "--group", "household"]
    assert main(["check-splits", *paths, *args]) == 1
    payload_args = [*args, "--json", str(tmp_path / "g.json")]
    assert main(["check-splits", *paths, *payload_args]) == 1
    groups = json.loads((tmp_path / "g.json").read_text())["groups"]
    assert groups["n"] == 5 and [g["group"] for g in groups["overlap"]] == [95, 96, 97, 98, 99]


def test_cli_bad_input_is_one_line_and_usage_is_exit_2(tmp_path, capsys):
    train, test = _scored_frame(50, 7), _scored_frame(50, 8)
    paths = [
        _write(tmp_path, "a.csv", train.rename(columns={"z": "zz"})),
        _write(tmp_path, "b.csv", test),
    ]
    assert main(["check-splits", *paths, "--target", "y", "--proba", "p_*", "--id", "rid"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "only p has ['z']; only reference has ['zz']" in err
    assert main(["check-splits", *paths, "--target", "y", "--json", paths[0]]) == 1
    assert "is the input" in capsys.readouterr().err
    assert main(["check-splits", *paths]) == 2  # --target is required


def test_cli_html_has_the_section(tmp_path):
    train, test = _scored_frame(120, 9), _scored_frame(60, 10)
    html = tmp_path / "r.html"
    paths = [_write(tmp_path, "a.csv", train), _write(tmp_path, "b.csv", test)]
    args = ["--target", "y", "--proba", "p_*", "--id", "rid", "--html", str(html)]
    assert main(["check-splits", *paths, *args]) == 0
    text = html.read_text()
    assert '<section id="splits">' in text and "Before blaming the model:" in text


def test_cli_html_needs_predictions_on_test_and_says_which_are_missing(tmp_path, capsys):
    train, test = _scored_frame(60, 11), _scored_frame(40, 12)
    paths = [
        _write(tmp_path, "a.csv", train.drop(columns="rid")),
        _write(tmp_path, "b.csv", test.drop(columns=["rid", "p_0", "p_1"])),
    ]
    html = tmp_path / "r.html"
    args = ["--target", "y", "--proba", "p_*", "--html", str(html)]
    assert main(["check-splits", *paths, *args]) == 1
    err = capsys.readouterr().err
    assert "--html needs the model's predictions on TEST: TEST has no prediction columns" in err
    assert "--proba 'p_*' matched none" in err and not html.exists()
