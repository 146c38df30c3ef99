"""Reference systems beside the model: overall and per slice, with paired intervals.

Every number is recomputed here from plain masks and the textbook formula of a paired
normal interval (mean of per-row differences ± z · sd / sqrt(n)), or by scikit-learn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn import metrics as skm

import toolkit as tk
from toolkit.exceptions import LengthMismatchError, ToolkitTypeError, ValidationError

Z = stats.norm.ppf(0.975)

Y = np.array([0, 0, 1, 1, 0, 1, 1, 0])
MODEL = np.array([0, 1, 1, 0, 0, 1, 1, 0])  # wrong on rows 1, 3
HUMAN = [0, 0, 1, 1, None, 0, 1, None]  # no answer on rows 4, 7; wrong on row 5
GROUP = ["a", "a", "a", "a", "b", "b", "b", "b"]


def _paired(d: np.ndarray) -> tuple[float, float, float]:
    mean = d.mean()
    half = Z * d.std(ddof=1) / np.sqrt(d.size)
    return mean, mean - half, mean + half


def _model() -> tk.Predictions:
    return tk.Predictions(Y, MODEL, features={"g": GROUP})


def test_overall_gap_to_a_partial_human_reference_by_hand():
    m = tk.compute_metrics(_model(), references={"human": HUMAN})
    row = m.references.set_index("metric").loc["error_rate"]
    covered = np.array([h is not None for h in HUMAN])
    assert row["n"] == 6
    # the model on the 6 covered rows: wrong on 1 and 3; human: wrong on 5
    assert row["model"] == pytest.approx(2 / 6)
    assert row["reference_value"] == pytest.approx(1 / 6)
    assert row["gap"] == pytest.approx(1 / 6)  # human is ahead by one row in six
    human = np.array([-1 if h is None else h for h in HUMAN])
    d = (MODEL != Y)[covered].astype(float) - (human != Y)[covered].astype(float)
    mean, low, high = _paired(d)
    assert row["gap"] == pytest.approx(mean)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high))
    accuracy = m.references.set_index("metric").loc["accuracy"]
    assert accuracy["gap"] == pytest.approx(row["gap"])  # same rows, same sign convention
    assert accuracy["model"] == pytest.approx(4 / 6)
    # no per-row decomposition: no interval
    kappa = m.references.set_index("metric").loc["cohen_kappa"]
    assert np.isnan(kappa["ci_low"]) and not np.isnan(kappa["gap"])
    assert kappa["gap"] == pytest.approx(
        skm.cohen_kappa_score(Y[covered], human[covered])
        - skm.cohen_kappa_score(Y[covered], MODEL[covered])
    )


@pytest.mark.parametrize("kind", [list, np.array, pd.Series])
def test_the_same_reference_in_any_array_form(kind):
    older = [0, 1, 0, 0, 0, 1, 1, 1]
    expected = tk.compute_metrics(_model(), references={"v1": older}).references
    got = tk.compute_metrics(_model(), references={"v1": kind(older)}).references
    pd.testing.assert_frame_equal(got, expected)


def test_string_labels_and_a_predictions_reference_matched_by_id():
    labels = np.array(["cat", "dog"])
    p = tk.Predictions(labels[Y], labels[MODEL], ids=[f"r{i}" for i in range(8)])
    # the reference covers rows r5, r2, r0 (in another order): wrong on r5
    ref = tk.Predictions(["dog", "dog", "cat"], ["cat", "dog", "cat"], ids=["r5", "r2", "r0"])
    m = tk.compute_metrics(p, references={"v1": ref})
    row = m.references.set_index("metric").loc["error_rate"]
    assert row["n"] == 3 and row["model"] == 0.0 and row["reference_value"] == pytest.approx(1 / 3)
    assert row["gap"] == pytest.approx(-1 / 3)  # the model is ahead
    as_array = [None] * 8
    as_array[0], as_array[2], as_array[5] = "cat", "dog", "cat"
    same = tk.compute_metrics(p, references={"v1": as_array}).references
    pd.testing.assert_frame_equal(m.references, same)


def test_a_probability_reference_gets_log_loss_and_brier_gaps_by_sklearn():
    rng = np.random.default_rng(0)
    n = 400
    y = rng.integers(0, 2, n)
    ours = np.clip(0.5 + 0.35 * (2 * y - 1) + rng.normal(0, 0.2, n), 0.01, 0.99)
    theirs = np.clip(0.5 + 0.15 * (2 * y - 1) + rng.normal(0, 0.2, n), 0.01, 0.99)
    p = tk.Predictions(y, proba=ours)
    ref = np.column_stack([1 - theirs, theirs])
    ref[:100] = np.nan  # the reference has no answer on the first 100 rows
    table = tk.compute_metrics(p, references={"old": ref}).references.set_index("metric")
    rows = slice(100, None)
    ll_ours = skm.log_loss(y[rows], ours[rows])
    ll_theirs = skm.log_loss(y[rows], theirs[rows])
    assert table.loc["log_loss", "n"] == 300
    assert table.loc["log_loss", "model"] == pytest.approx(ll_ours)
    assert table.loc["log_loss", "gap"] == pytest.approx(ll_ours - ll_theirs)
    d = -y[rows] * np.log(ours[rows]) - (1 - y[rows]) * np.log(1 - ours[rows])
    d -= -y[rows] * np.log(theirs[rows]) - (1 - y[rows]) * np.log(1 - theirs[rows])
    _, low, high = _paired(d)
    assert table.loc["log_loss", "ci_high"] - table.loc["log_loss", "ci_low"] == pytest.approx(
        high - low
    )
    assert table.loc["log_loss", "ci_high"] < 0  # ours is clearly better
    brier = skm.brier_score_loss(y[rows], ours[rows]) - skm.brier_score_loss(y[rows], theirs[rows])
    assert table.loc["brier", "gap"] == pytest.approx(brier)
    assert table.loc["roc_auc", "gap"] == pytest.approx(
        skm.roc_auc_score(y[rows], theirs[rows]) - skm.roc_auc_score(y[rows], ours[rows])
    )


def test_regression_reference_mae_gap():
    y = np.array([1.0, 2.0, 3.0, 4.0, 5.5])
    p = tk.Predictions(y, y + np.array([0.5, -0.5, 0.25, 2.0, 0.0]), tolerance=1.0)
    older = y + np.array([1.0, 1.0, np.nan, 0.0, 0.0])
    table = tk.compute_metrics(p, references={"v1": older}).references.set_index("metric")
    # covered rows 0, 1, 3, 4: model |e| = .5, .5, 2, 0; older |e| = 1, 1, 0, 0
    assert table.loc["mae", "n"] == 4
    assert table.loc["mae", "gap"] == pytest.approx(3.0 / 4 - 2.0 / 4)
    assert table.loc["error_rate", "gap"] == pytest.approx(1 / 4)  # row 3 over the tolerance


def test_slices_compare_each_reference_on_the_rows_it_covers():
    result = tk.slice_metrics(_model(), min_size=1, references={"human": HUMAN})
    table = result.table.set_index("slice")
    human = np.array([-1 if h is None else h for h in HUMAN])
    covered = np.array([h is not None for h in HUMAN])
    for value in ("a", "b"):
        rows = (np.array(GROUP) == value) & covered
        d = (MODEL != Y)[rows].astype(float) - (human != Y)[rows].astype(float)
        mean, low, high = _paired(d)
        row = table.loc[f"g = {value}"]
        assert row["human_n"] == rows.sum()
        assert row["human_error_rate"] == pytest.approx((human != Y)[rows].mean())
        assert row["human_gap_pp"] == pytest.approx(100 * mean)
        assert row["human_ci_low"] == pytest.approx(max(100 * low, -100))
        assert row["human_ci_high"] == pytest.approx(min(100 * high, 100))
    gaps = result.reference_gaps()
    assert gaps["gap_pp"].tolist() == sorted(gaps["gap_pp"], reverse=True)
    assert result.references == ("human",)
    assert result.to_dict()["references"] == ["human"]


def test_pairs_of_columns_carry_the_reference_too():
    p = tk.Predictions(Y, MODEL, features={"g": GROUP, "h": ["x", "y"] * 4})
    result = tk.slice_metrics(p, min_size=1, pairs=True, references={"human": HUMAN})
    cell = result.table.set_index("slice").loc["g = a ∧ h = y"]  # rows 1, 3: both covered
    assert cell["human_n"] == 2
    assert cell["human_gap_pp"] == pytest.approx(100.0)  # model wrong on both, human on none


def test_adult_a_weaker_reference_gives_negative_gaps_with_intervals_below_zero():
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.tree import DecisionTreeClassifier

    from toolkit.datasets import load_adult

    train, test = load_adult()
    train, test = train.sample(3000, random_state=0), test.sample(2500, random_state=0)
    numeric = ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
    ours = HistGradientBoostingClassifier(max_iter=60, random_state=0).fit(
        train[numeric], train["income"]
    )
    stump = DecisionTreeClassifier(max_depth=1).fit(train[numeric], train["income"])
    p = tk.Predictions.from_model(ours, test[numeric], test["income"], features=test[["sex"]])
    older = tk.Predictions.from_model(stump, test[numeric], test["income"])
    m = tk.compute_metrics(p, references={"stump": older})
    table = m.references.set_index("metric")
    for metric in ("error_rate", "accuracy", "log_loss", "brier"):
        assert table.loc[metric, "gap"] < 0, metric
        assert table.loc[metric, "ci_high"] < 0, metric
    assert table.loc["error_rate", "model"] == pytest.approx(p.errors.mean())
    assert table.loc["error_rate", "reference_value"] == pytest.approx(older.errors.mean())
    slices = tk.slice_metrics(p, references={"stump": older}).table.set_index("slice")
    for value in ("Male", "Female"):
        rows = test["sex"].to_numpy() == value
        gap = 100 * (p.errors[rows].mean() - older.errors[rows].mean())
        assert slices.loc[f"sex = {value}", "stump_gap_pp"] == pytest.approx(gap)


def test_nothing_the_caller_passed_is_changed():
    human = np.array(HUMAN, dtype=object)
    before = human.copy()
    tk.compute_metrics(_model(), references={"human": human})
    tk.slice_metrics(_model(), references={"human": human})
    assert (human == before).all()


@pytest.mark.parametrize(
    ("ref", "error", "match"),
    [
        ([0, 1], LengthMismatchError, r"reference 'x': has 2 rows but the predictions have 8"),
        ([None] * 8, ValidationError, r"reference 'x': covers no row"),
        ([0, 1, 2, 0, 0, 0, 0, 0], ValidationError, r"reference 'x': has labels \[2\] that are"),
        (np.zeros((8, 3)), LengthMismatchError, r"reference 'x': probabilities have shape"),
        (
            tk.Predictions([1, 1], [1, 0], ids=[0, 1]),
            ValidationError,
            r"reference 'x': has a different y_true on 2 of the 2 rows",
        ),
        (
            tk.Predictions([0], [0], classes=[0, 1], ids=[99]),
            ValidationError,
            r"reference 'x': shares no id with the predictions",
        ),
        (
            tk.Predictions(["a", "b"], ["a", "b"]),
            ValidationError,
            r"reference 'x': has classes \['a', 'b'\] but the predictions have \[0, 1\]",
        ),
    ],
)
def test_bad_references_are_named(ref, error, match):
    with pytest.raises(error, match=match):
        tk.compute_metrics(_model(), references={"x": ref})


def test_references_must_be_a_mapping_with_string_names():
    with pytest.raises(ToolkitTypeError, match="compute_metrics: references must be"):
        tk.compute_metrics(_model(), references=[0, 1])
    with pytest.raises(ToolkitTypeError, match="reference names must be non-empty strings"):
        tk.compute_metrics(_model(), references={3: MODEL})
    with pytest.raises(ToolkitTypeError, match="slice_metrics: references must be"):
        tk.slice_metrics(_model(), references="human")


def test_without_references_nothing_changes():
    m = tk.compute_metrics(_model())
    assert m.references is None and m.to_dict()["references"] is None
    assert tk.slice_metrics(_model(), min_size=1).reference_gaps().empty


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 2), st.integers(0, 2), st.booleans()), min_size=3, max_size=40
    )
)
def test_property_a_perfect_reference_is_ahead_by_the_model_error_rate(rows):
    y = np.array([r[0] for r in rows])
    pred = np.array([r[1] for r in rows])
    covered = np.array([r[2] for r in rows])
    if not covered.any():
        covered[0] = True
    p = tk.Predictions(y, pred, classes=[0, 1, 2])
    perfect = np.where(covered, y, -1).astype(object)
    perfect[~covered] = None
    table = tk.compute_metrics(p, references={"oracle": perfect, "itself": pred}).references
    oracle = table[table["reference"] == "oracle"].set_index("metric")
    assert oracle.loc["error_rate", "gap"] == pytest.approx((y != pred)[covered].mean())
    assert oracle.loc["error_rate", "reference_value"] == 0.0
    itself = table[table["reference"] == "itself"].set_index("metric")
    assert (itself["gap"].fillna(0.0) == 0.0).all()  # a model beside itself: no gap
    ci = itself.loc["error_rate", ["ci_low", "ci_high"]].to_numpy(dtype=float)
    assert (ci == 0.0).all()
