"""slice_metrics: hand-computed fixtures, the real Adult data against plain masks, properties."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn.metrics import log_loss

from toolkit import Predictions, compute_metrics, slice_metrics
from toolkit.analysis.binning import bin_column
from toolkit.analysis.slices import SliceMetrics
from toolkit.exceptions import (
    ColumnNotFoundError,
    InvalidValueError,
    ToolkitTypeError,
    ValidationError,
)

Z = 1.959963984540054  # norm.ppf(0.975)
SLICE_COLUMNS = [
    "slice",
    "column",
    "n",
    "errors",
    "error_rate",
    "ci_low",
    "ci_high",
    "gap_pp",
    "p_value",
    "q_value",
    "flagged",
]


def wilson(k: int, n: int) -> tuple[float, float]:
    """Wilson 95% interval, (k + z²/2 ± z sqrt(k(n-k)/n + z²/4)) / (n + z²)."""
    centre = k + Z * Z / 2
    half = Z * math.sqrt(k * (n - k) / n + Z * Z / 4)
    return max(0.0, (centre - half) / (n + Z * Z)), min(1.0, (centre + half) / (n + Z * Z))


def bh(p: list[float]) -> list[float]:
    """Benjamini–Hochberg step-up by hand."""
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    q, running = [0.0] * m, 1.0
    for rank in range(m, 0, -1):
        running = min(running, p[order[rank - 1]] * m / rank)
        q[order[rank - 1]] = running
    return q


def assert_rows(table: pd.DataFrame, expected: list[dict]) -> None:
    assert len(table) == len(expected)
    for (_, row), exp in zip(table.iterrows(), expected):
        for key, value in exp.items():
            if isinstance(value, float):
                assert row[key] == pytest.approx(value, abs=1e-9), (row["slice"], key)
            else:
                assert row[key] == value, (row["slice"], key)


# ---------------------------------------------------------------- hand-computed fixture
#
#   row  y_true  P(yes)  y_pred  error  P(true)  Brier  color      hours
#    0    yes     0.4     no       1      0.4     0.36   red        40
#    1    no      0.7     yes      1      0.3     0.49   red        40
#    2    no      0.6     yes      1      0.4     0.36   red        20
#    3    yes     0.9     yes      0      0.9     0.01   red        40
#    4    no      0.2     no       0      0.8     0.04   blue       50
#    5    yes     0.8     yes      0      0.8     0.04   blue       40
#    6    no      0.1     no       0      0.9     0.01   blue       60
#    7    yes     0.3     no       1      0.3     0.49   blue       30
#    8    no      0.4     no       0      0.6     0.16   (missing)  40
#    9    yes     0.6     yes      0      0.6     0.16   (missing)  (missing)
#
# 4 errors in 10 rows: overall error rate 0.4. Every slice is small (expected error count
# n * 0.4 < 5), so p-values come from Fisher's exact test, i.e. the hypergeometric tail
# P(X >= k), X ~ Hypergeometric(N=10, K=4 errors, n draws), denominator C(10, n).
Y = ["yes", "no", "no", "yes", "no", "yes", "no", "yes", "no", "yes"]
P_YES = [0.4, 0.7, 0.6, 0.9, 0.2, 0.8, 0.1, 0.3, 0.4, 0.6]
COLOR = ["red", "red", "red", "red", "blue", "blue", "blue", "blue", None, None]
HOURS = [40, 40, 20, 40, 50, 40, 60, 30, 40, np.nan]


def fixture_predictions(y=Y, proba=P_YES, color=COLOR, hours=HOURS, **kwargs):
    features = pd.DataFrame({"color": pd.Series(color, dtype=object), "hours": hours})
    return Predictions(y, proba=proba, features=features, **kwargs)


def ln(*values: float) -> float:
    return -sum(math.log(v) for v in values) / len(values)


COLOR_ROWS = [
    # blue: rows 4-7, 1 error. P(X >= 1) = 1 - C(6,4)/C(10,4) = 1 - 15/210 = 13/14
    {
        "slice": "color = blue",
        "column": "color",
        "n": 4,
        "errors": 1,
        "error_rate": 0.25,
        "gap_pp": -15.0,
        "p_value": 13 / 14,
        "accuracy": 0.75,
        "log_loss": ln(0.8, 0.8, 0.9, 0.3),
        "brier": (0.04 + 0.04 + 0.01 + 0.49) / 4,
    },
    # red: rows 0-3, 3 errors. P(X >= 3) = (C(4,3)C(6,1) + C(4,4)) / 210 = 25/210 = 5/42
    {
        "slice": "color = red",
        "column": "color",
        "n": 4,
        "errors": 3,
        "error_rate": 0.75,
        "gap_pp": 35.0,
        "p_value": 5 / 42,
        "accuracy": 0.25,
        "log_loss": ln(0.4, 0.3, 0.4, 0.9),
        "brier": (0.36 + 0.49 + 0.36 + 0.01) / 4,
    },
    # missing: rows 8, 9, no error: P(X >= 0) = 1
    {
        "slice": "color = (missing)",
        "column": "color",
        "n": 2,
        "errors": 0,
        "error_rate": 0.0,
        "gap_pp": -40.0,
        "p_value": 1.0,
        "accuracy": 1.0,
        "log_loss": ln(0.6, 0.6),
        "brier": 0.16,
    },
]

# hours with bins=3: 40 holds 5 of 9 present rows (>= 9/3) and is a point mass; the other
# values 20, 30, 50, 60 get 3 - 1 = 2 bins, cut at their 2nd value (30).
HOURS_ROWS = [
    # row 2: P(X >= 1) with one draw = 4/10
    {"slice": "hours < 30", "n": 1, "errors": 1, "p_value": 0.4, "accuracy": 0.0},
    # row 7
    {"slice": "hours ∈ [30, 40)", "n": 1, "errors": 1, "p_value": 0.4, "accuracy": 0.0},
    # rows 0, 1, 3, 5, 8: 2 errors. P(X >= 2) = 1 - (C(6,5) + 4 C(6,4)) / C(10,5)
    #   = 1 - (6 + 60) / 252 = 31/42
    {"slice": "hours = 40", "n": 5, "errors": 2, "p_value": 31 / 42, "accuracy": 0.6},
    # rows 4, 6
    {"slice": "hours > 40", "n": 2, "errors": 0, "p_value": 1.0, "accuracy": 1.0},
    # row 9
    {"slice": "hours = (missing)", "n": 1, "errors": 0, "p_value": 1.0, "accuracy": 1.0},
]
HOURS_LOSSES = [
    (ln(0.4), 0.36),
    (ln(0.3), 0.49),
    (ln(0.4, 0.3, 0.9, 0.8, 0.6), (0.36 + 0.49 + 0.01 + 0.04 + 0.16) / 5),
    (ln(0.8, 0.9), (0.04 + 0.01) / 2),
    (ln(0.6), 0.16),
]


def test_categorical_column_by_hand():
    result = slice_metrics(fixture_predictions(), by="color")
    table = result.table
    assert list(table.columns) == SLICE_COLUMNS + ["accuracy", "log_loss", "brier"]
    assert_rows(table, COLOR_ROWS)
    # Wilson bounds of 1/4, 3/4 and 0/2
    for (_, row), (k, n) in zip(table.iterrows(), [(1, 4), (3, 4), (0, 2)]):
        assert (row["ci_low"], row["ci_high"]) == pytest.approx(wilson(k, n), abs=1e-12)
    assert table["ci_low"].tolist() == pytest.approx([0.0455873, 0.3006418, 0.0], abs=1e-7)
    # 0/2: high = z² / (2 + z²) = 0.6576
    assert table["ci_high"].iloc[2] == pytest.approx(Z**2 / (2 + Z**2))
    # BH over 3 slices: sorted 5/42, 13/14, 1 -> 15/42, min(39/28, 1), 1 -> 5/14, 1, 1
    assert table["q_value"].tolist() == pytest.approx([1.0, 5 / 14, 1.0])
    assert table["flagged"].tolist() == [False, False, False]
    assert result.overall_error_rate == pytest.approx(0.4)
    assert (result.n, result.task) == (10, "binary")
    assert table["n"].dtype.kind == "i" and table["errors"].dtype.kind == "i"
    assert table["flagged"].dtype == bool


def test_flagged_needs_q_below_alpha_and_min_size():
    p = fixture_predictions()
    # red has q = 5/14 = 0.357 and n = 4
    flagged = slice_metrics(p, by="color", alpha=0.4, min_size=4).table["flagged"].tolist()
    assert flagged == [False, True, False]
    assert (
        slice_metrics(p, by="color", alpha=0.4, min_size=5).table["flagged"].tolist() == [False] * 3
    )
    assert (
        slice_metrics(p, by="color", alpha=0.35, min_size=1).table["flagged"].tolist()
        == [False] * 3
    )


def test_numeric_column_with_point_mass_and_missing_by_hand():
    table = slice_metrics(fixture_predictions(), by="hours", bins=3).table
    assert table["column"].tolist() == ["hours"] * 5
    assert_rows(table, HOURS_ROWS)
    for (_, row), exp, (ll, brier) in zip(table.iterrows(), HOURS_ROWS, HOURS_LOSSES):
        k, n = exp["errors"], exp["n"]
        assert row["error_rate"] == pytest.approx(k / n)
        assert row["gap_pp"] == pytest.approx((k / n - 0.4) * 100)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx(wilson(k, n), abs=1e-12)
        assert row["log_loss"] == pytest.approx(ll)
        assert row["brier"] == pytest.approx(brier)
    # BH over 5: sorted 0.4, 0.4, 31/42, 1, 1; p * 5 / rank = 2, 1, 1.23, 1.25, 1;
    # the running minimum from the top is 1 everywhere
    assert table["q_value"].tolist() == pytest.approx([1.0] * 5)
    assert table["q_value"].tolist() == pytest.approx(bh([0.4, 0.4, 31 / 42, 1.0, 1.0]))


def test_two_columns_share_one_correction():
    table = slice_metrics(fixture_predictions(), by=["color", "hours"], bins=3).table
    assert table["column"].tolist() == ["color"] * 3 + ["hours"] * 5
    p_values = [13 / 14, 5 / 42, 1.0, 0.4, 0.4, 31 / 42, 1.0, 1.0]
    assert table["p_value"].tolist() == pytest.approx(p_values)
    # sorted: 5/42 * 8 = 0.952 is the only value below 1 after the running minimum
    assert table["q_value"].tolist() == pytest.approx(bh(p_values))
    assert table["q_value"].iloc[1] == pytest.approx(5 / 42 * 8)


def test_pairs_by_hand():
    table = slice_metrics(fixture_predictions(), by=["color", "hours"], bins=3, pairs=True).table
    pair = table[table["column"] == "color × hours"].reset_index(drop=True)
    # non-empty cells only, in the order color-major, hours-minor
    expected = [
        # (slice, rows, errors, hypergeometric p-value, log loss, brier)
        ("color = blue ∧ hours ∈ [30, 40)", [7], 1, 0.4),
        ("color = blue ∧ hours = 40", [5], 0, 1.0),
        ("color = blue ∧ hours > 40", [4, 6], 0, 1.0),
        ("color = red ∧ hours < 30", [2], 1, 0.4),
        # P(X >= 2), 3 draws: (C(4,2)C(6,1) + C(4,3)) / C(10,3) = (36 + 4) / 120 = 1/3
        ("color = red ∧ hours = 40", [0, 1, 3], 2, 1 / 3),
        ("color = (missing) ∧ hours = 40", [8], 0, 1.0),
        ("color = (missing) ∧ hours = (missing)", [9], 0, 1.0),
    ]
    p_true = [0.4, 0.3, 0.4, 0.9, 0.8, 0.8, 0.9, 0.3, 0.6, 0.6]
    brier = [0.36, 0.49, 0.36, 0.01, 0.04, 0.04, 0.01, 0.49, 0.16, 0.16]
    assert pair["slice"].tolist() == [e[0] for e in expected]
    assert pair["n"].sum() == 10
    for (_, row), (label, rows, k, p) in zip(pair.iterrows(), expected):
        n = len(rows)
        assert (row["n"], row["errors"]) == (n, k)
        assert row["error_rate"] == pytest.approx(k / n)
        assert row["gap_pp"] == pytest.approx((k / n - 0.4) * 100)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx(wilson(k, n), abs=1e-12)
        assert row["p_value"] == pytest.approx(p), label
        assert row["accuracy"] == pytest.approx(1 - k / n)
        assert row["log_loss"] == pytest.approx(ln(*[p_true[i] for i in rows]))
        assert row["brier"] == pytest.approx(np.mean([brier[i] for i in rows]))
    # one BH correction over all 3 + 5 + 7 slices
    assert table["q_value"].tolist() == pytest.approx(bh(table["p_value"].tolist()))
    assert len(table) == 15


def test_single_column_of_one_value_is_the_whole_data():
    p = fixture_predictions(color=["x"] * 10)
    row = slice_metrics(p, by="color").table.iloc[0]
    assert (row["slice"], row["n"], row["errors"]) == ("color = x", 10, 4)
    assert row["p_value"] == 1.0  # no rest to compare with
    assert row["gap_pp"] == pytest.approx(0.0)
    assert row["log_loss"] == pytest.approx(compute_metrics(p).overall["log_loss"])
    assert row["brier"] == pytest.approx(compute_metrics(p).overall["brier"])


def test_slices_without_probabilities_have_accuracy_only():
    y_pred = ["no", "yes", "yes", "yes", "no", "yes", "no", "no", "no", "yes"]
    features = pd.DataFrame({"color": pd.Series(COLOR, dtype=object)})
    table = slice_metrics(Predictions(Y, y_pred, features=features)).table
    assert list(table.columns) == SLICE_COLUMNS + ["accuracy"]
    assert_rows(
        table, [{k: r[k] for k in ("slice", "n", "errors", "accuracy")} for r in COLOR_ROWS]
    )


def test_regression_by_hand():
    #   y_true  1    2    3    4    5    6
    #   y_pred  1.5  2    2    6    5    4.5
    #   error   0.5  0   -1    2    0   -1.5      |e| > 0.75 -> rows 2, 3, 5 (overall 1/2)
    #   group   a    a    a    b    b    b
    # a: MAE 1.5/3 = 0.5, RMSE sqrt(1.25/3), mean error -0.5/3; 1 error of 3
    # b: MAE 3.5/3, RMSE sqrt(6.25/3), mean error 0.5/3; 2 errors of 3
    # Fisher (N=6, K=3, 3 draws, C(6,3) = 20): a P(X>=1) = 1 - 1/20 = 19/20;
    #   b P(X>=2) = (C(3,2)C(3,1) + 1) / 20 = 1/2. BH: sorted 1/2, 19/20 -> 1, 19/20 -> 19/20
    p = Predictions(
        [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        [1.5, 2.0, 2.0, 6.0, 5.0, 4.5],
        task="regression",
        tolerance=0.75,
        features={"group": ["a", "a", "a", "b", "b", "b"]},
    )
    table = slice_metrics(p).table
    assert list(table.columns) == SLICE_COLUMNS + ["mae", "rmse", "mean_error"]
    assert_rows(
        table,
        [
            {
                "slice": "group = a",
                "n": 3,
                "errors": 1,
                "error_rate": 1 / 3,
                "gap_pp": (1 / 3 - 1 / 2) * 100,
                "p_value": 19 / 20,
                "q_value": 19 / 20,
                "mae": 0.5,
                "rmse": math.sqrt(1.25 / 3),
                "mean_error": -0.5 / 3,
            },
            {
                "slice": "group = b",
                "n": 3,
                "errors": 2,
                "error_rate": 2 / 3,
                "gap_pp": (2 / 3 - 1 / 2) * 100,
                "p_value": 1 / 2,
                "q_value": 19 / 20,
                "mae": 3.5 / 3,
                "rmse": math.sqrt(6.25 / 3),
                "mean_error": 0.5 / 3,
            },
        ],
    )
    assert table["ci_low"].tolist() == pytest.approx([wilson(1, 3)[0], wilson(2, 3)[0]])
    assert table["ci_high"].tolist() == pytest.approx([wilson(1, 3)[1], wilson(2, 3)[1]])


def test_multiclass_slice_metrics_match_compute_metrics_on_each_slice():
    y = [0, 0, 1, 1, 2, 2]
    proba = np.array(
        [
            [0.7, 0.2, 0.1],
            [0.3, 0.6, 0.1],
            [0.1, 0.8, 0.1],
            [0.2, 0.5, 0.3],
            [0.1, 0.1, 0.8],
            [0.5, 0.2, 0.3],
        ]
    )
    group = np.array(["u", "v", "u", "v", "u", "v"], dtype=object)
    table = slice_metrics(Predictions(y, proba=proba, features={"g": group})).table
    # u: rows 0, 2, 4 (all right); Brier (sum over classes) 0.14, 0.06, 0.06
    # v: rows 1, 3, 5; Brier 0.86, 0.38, 0.78
    assert table["brier"].tolist() == pytest.approx([0.26 / 3, 2.02 / 3])
    assert table["log_loss"].tolist() == pytest.approx([ln(0.7, 0.8, 0.8), ln(0.3, 0.5, 0.3)])
    for value, (_, row) in zip(["u", "v"], table.iterrows()):
        mask = group == value
        sub = Predictions(np.array(y)[mask], proba=proba[mask], classes=[0, 1, 2])
        overall = compute_metrics(sub).overall
        for name in ("accuracy", "log_loss", "brier"):
            assert row[name] == pytest.approx(overall[name]), (value, name)


# ---------------------------------------------------------------- inputs


def _as(kind, values):
    if kind == "list":
        return list(values)
    if kind == "ndarray":
        return np.array(values, dtype=object if isinstance(values[0], str) else float)
    if kind == "Series":
        return pd.Series(values)
    return pd.DataFrame({"v": values})


@pytest.mark.parametrize("kind", ["list", "ndarray", "Series", "DataFrame"])
def test_same_table_for_list_ndarray_series_dataframe(kind):
    reference = slice_metrics(fixture_predictions(), bins=3, pairs=True).table
    proba = {
        "list": [[1 - v, v] for v in P_YES],
        "ndarray": np.array([[1 - v, v] for v in P_YES]),
        "Series": pd.Series(P_YES),
        "DataFrame": pd.DataFrame({"no": [1 - v for v in P_YES], "yes": P_YES}),
    }[kind]
    features = {
        "list": {"color": COLOR, "hours": HOURS},
        "ndarray": {"color": np.array(COLOR, dtype=object), "hours": np.array(HOURS)},
        "Series": {"color": pd.Series(COLOR, dtype=object), "hours": pd.Series(HOURS)},
        "DataFrame": pd.DataFrame({"color": pd.Series(COLOR, dtype=object), "hours": HOURS}),
    }[kind]
    p = Predictions(_as(kind, Y), proba=proba, features=features)
    table = slice_metrics(p, bins=3, pairs=True).table
    pd.testing.assert_frame_equal(table, reference)
    assert compute_metrics(p).overall == pytest.approx(
        compute_metrics(fixture_predictions()).overall
    )


def test_ndarray_features_are_named_by_position():
    x = np.column_stack([np.arange(10) % 3, np.array(HOURS)])
    table = slice_metrics(Predictions(Y, proba=P_YES, features=x), bins=3).table
    frame = pd.DataFrame({"x0": np.arange(10) % 3, "x1": HOURS}).astype(float)
    reference = slice_metrics(Predictions(Y, proba=P_YES, features=frame), bins=3).table
    pd.testing.assert_frame_equal(table, reference)
    assert table["column"].unique().tolist() == ["x0", "x1"]


def test_integer_and_string_labels_give_the_same_table():
    as_int = [1 if v == "yes" else 0 for v in Y]
    strings = slice_metrics(fixture_predictions(), bins=3).table
    integers = slice_metrics(fixture_predictions(y=as_int), bins=3).table
    pd.testing.assert_frame_equal(integers, strings)


def test_features_are_not_mutated():
    frame = pd.DataFrame({"color": pd.Series(COLOR, dtype=object), "hours": HOURS})
    copy = frame.copy()
    slice_metrics(Predictions(Y, proba=P_YES, features=frame), bins=3, pairs=True)
    pd.testing.assert_frame_equal(frame, copy)


def test_max_categories_groups_the_rest_as_other():
    color = ["red", "red", "red", "blue", "blue", "green", "pink", "teal", None, None]
    table = slice_metrics(fixture_predictions(color=color), by="color", max_categories=3).table
    # keeps the 2 most frequent (red 3, blue 2); green, pink, teal -> (other)
    assert table["slice"].tolist() == [
        "color = blue",
        "color = red",
        "color = (other)",
        "color = (missing)",
    ]
    assert table["n"].tolist() == [2, 3, 3, 2]
    # errors: rows 0, 1, 2, 7 -> red 3, (other) 1 (teal, row 7)
    assert table["errors"].tolist() == [0, 3, 1, 0]


def test_infinite_feature_values_do_not_crash():
    # 60 zeros, 1..25 and 15 x inf: the last quantile cut lands on inf
    x = np.array([0.0] * 60 + list(range(1, 26)) + [np.inf] * 15)
    y = np.arange(100) % 2
    p = Predictions(y, y_pred=np.zeros(100, dtype=int), features={"x": x})
    table = slice_metrics(p, bins=5).table
    assert table["n"].sum() == 100


# ---------------------------------------------------------------- bad input


def test_needs_features():
    p = Predictions(Y, proba=P_YES)
    with pytest.raises(ValidationError, match="slice_metrics needs feature columns"):
        slice_metrics(p)


def test_unknown_column_is_named():
    with pytest.raises(ColumnNotFoundError, match=r"\['colour'\] not in features"):
        slice_metrics(fixture_predictions(), by=["colour"])
    with pytest.raises(ColumnNotFoundError, match="'nope'"):
        slice_metrics(fixture_predictions(), by="nope")


@pytest.mark.parametrize("bins", [1, 0, -3])
def test_rejects_bins_below_two(bins):
    with pytest.raises(
        InvalidValueError,
        match=re.escape(f"slice_metrics: bins must be an int in [2, inf), got {bins!r}"),
    ):
        slice_metrics(fixture_predictions(), bins=bins)


@pytest.mark.parametrize("bins", [2.5, "5", True, None])
def test_rejects_bins_of_the_wrong_type(bins):
    with pytest.raises(ToolkitTypeError, match=r"slice_metrics: bins must be an int in \[2, inf\)"):
        slice_metrics(fixture_predictions(), bins=bins)


@pytest.mark.parametrize("alpha", [0, 1, -0.1, 1.5, float("nan"), float("inf")])
def test_rejects_alpha_out_of_range(alpha):
    with pytest.raises(
        InvalidValueError, match=r"slice_metrics: alpha must be a number in \(0, 1\)"
    ):
        slice_metrics(fixture_predictions(), alpha=alpha)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"alpha": "0.05"}, ToolkitTypeError),
        ({"pairs": 1}, ToolkitTypeError),
        ({"pairs": "yes"}, ToolkitTypeError),
        ({"min_size": -1}, InvalidValueError),
        ({"min_size": 2.0}, ToolkitTypeError),
        ({"max_categories": 0}, InvalidValueError),
        ({"max_categories": True}, ToolkitTypeError),
        ({"by": 3}, ToolkitTypeError),
        ({"by": ["color", 3]}, ToolkitTypeError),
    ],
)
def test_rejects_bad_parameters_by_name(kwargs, error):
    (name,) = kwargs
    with pytest.raises(error, match=f"slice_metrics: {name} must be"):
        slice_metrics(fixture_predictions(), **kwargs)


def test_rejects_empty_and_repeated_by():
    with pytest.raises(ValidationError, match="by is empty"):
        slice_metrics(fixture_predictions(), by=[])
    with pytest.raises(ValidationError, match="by names a column twice"):
        slice_metrics(fixture_predictions(), by=["color", "color"])


def test_rejects_what_is_not_predictions():
    with pytest.raises(
        ToolkitTypeError, match=r"(?s)slice_metrics: p must be a .*Predictions, got .*DataFrame"
    ):
        slice_metrics(pd.DataFrame({"a": [1]}))


# ---------------------------------------------------------------- result object


def test_result_fields_and_json_form():
    result = slice_metrics(fixture_predictions(), by="color")
    assert isinstance(result, SliceMetrics) and len(result) == 3
    assert result.meta == {
        "overall_error_rate": 0.4,
        "n": 10,
        "task": "binary",
        "references": [],
    }
    assert not result.table.attrs
    data = result.to_dict()
    assert data["n"] == 10 and data["task"] == "binary"
    assert [row["slice"] for row in data["table"]] == [r["slice"] for r in COLOR_ROWS]
    assert data["table"][0]["n"] == int(result.table["n"].iloc[0])
    assert pd.DataFrame(data["table"])["errors"].tolist() == result.table["errors"].tolist()
    pd.testing.assert_frame_equal(result.to_frame(), result.table)
    with pytest.raises(AttributeError):
        result.n = 3  # frozen


def test_regression_result_task():
    rng = np.random.default_rng(0)
    y = rng.normal(size=50)
    p = Predictions(y, y + rng.normal(size=50), features={"g": ["a", "b"] * 25})
    result = slice_metrics(p)
    assert result.task == "regression"
    assert result.overall_error_rate == pytest.approx(p.errors.mean())


# ---------------------------------------------------------------- real data: Adult

NUMERIC = ["age", "fnlwgt", "education_num", "capital_gain", "capital_loss", "hours_per_week"]


@pytest.fixture(scope="module")
def adult():
    from sklearn.ensemble import HistGradientBoostingClassifier

    from toolkit.datasets import load_adult

    train, test = load_adult()
    train = train.sample(n=10_000, random_state=0)
    model = HistGradientBoostingClassifier(max_iter=50, random_state=0)
    model.fit(train[NUMERIC], train["income"])
    features = test.drop(columns="income")
    proba = model.predict_proba(test[NUMERIC])
    y_pred = model.predict(test[NUMERIC])
    p = Predictions(test["income"], y_pred, proba, classes=model.classes_, features=features)
    return p, features, test["income"].to_numpy(), y_pred, proba, model.classes_


def mask_from_label(values: pd.Series, column: str, label: str) -> np.ndarray:
    """Rows that satisfy a readable slice label, parsed from its text alone."""
    assert label.startswith(f"{column} "), label
    rule = label[len(column) + 1 :]
    isna = values.isna().to_numpy()
    if rule == "= (missing)":
        return isna
    numeric = pd.api.types.is_numeric_dtype(values)
    x = values.to_numpy(dtype=float, na_value=np.nan) if numeric else None
    if rule.startswith("= "):
        text = rule[2:]
        if numeric:
            return x == float(text)
        return (values == text).to_numpy(dtype=bool) & ~isna
    match = re.fullmatch(r"∈ ([\[(])(\S+), (\S+)([\])])", rule)
    if match:
        left, lo, hi, right = match.groups()
        above = x >= float(lo) if left == "[" else x > float(lo)
        below = x <= float(hi) if right == "]" else x < float(hi)
        return above & below
    op, text = rule.split(" ", 1)
    compare = {"<": np.less, "≤": np.less_equal, ">": np.greater, "≥": np.greater_equal}[op]
    return compare(x, float(text))


def test_adult_slices_match_plain_mask_recomputation(adult):
    p, features, y_true, y_pred, proba, classes = adult
    result = slice_metrics(p)
    table = result.table
    n = len(y_true)
    wrong = y_pred != y_true
    assert result.n == n
    assert result.overall_error_rate == pytest.approx(wrong.mean())
    assert table["column"].unique().tolist() == list(features.columns)
    p_values = []
    for column, block in table.groupby("column", sort=False):
        assert block["n"].sum() == n, column
        assert block["errors"].sum() == wrong.sum(), column
        bins = bin_column(features[column], column, bins=5)
        assert bins.labels == block["slice"].tolist()
        covered = np.zeros(n, dtype=int)
        for (_, row), condition in zip(block.iterrows(), bins.conditions):
            mask = condition.mask(features)
            parsed = mask_from_label(features[column], column, row["slice"])
            np.testing.assert_array_equal(parsed, mask, row["slice"])
            if pd.api.types.is_object_dtype(features[column]) and "(missing)" not in row["slice"]:
                value = row["slice"][len(column) + 3 :]
                np.testing.assert_array_equal((features[column] == value).to_numpy(), mask)
            covered += mask
            k, m = int(wrong[mask].sum()), int(mask.sum())
            assert (row["n"], row["errors"]) == (m, k), row["slice"]
            assert row["error_rate"] == pytest.approx(k / m)
            assert row["accuracy"] == pytest.approx(np.mean(y_pred[mask] == y_true[mask]))
            expected_ll = log_loss(y_true[mask], proba[mask], labels=classes)
            assert row["log_loss"] == pytest.approx(expected_ll, rel=1e-9), row["slice"]
            positive = (y_true[mask] == classes[1]).astype(float)
            assert row["brier"] == pytest.approx(np.mean((proba[mask, 1] - positive) ** 2))
            assert (row["ci_low"], row["ci_high"]) == pytest.approx(wilson(k, m), abs=1e-12)
            assert row["gap_pp"] == pytest.approx((k / m - wrong.mean()) * 100)
            p_values.append(_worse_than_rest(k, m, int(wrong.sum()), n))
        np.testing.assert_array_equal(covered, 1, column)  # each row in exactly one slice
    assert table["p_value"].to_numpy() == pytest.approx(p_values, rel=1e-9, abs=1e-300)
    assert table["q_value"].to_numpy() == pytest.approx(bh(p_values), rel=1e-9, abs=1e-300)
    assert (table["flagged"] == ((table["q_value"] < 0.05) & (table["n"] >= 30))).all()
    # the point mass of capital_gain has its own slice
    zero = table.set_index("slice").loc["capital_gain = 0"]
    assert zero["n"] == int((features["capital_gain"] == 0).sum())


def _worse_than_rest(k1: int, n1: int, k: int, n: int) -> float:
    """One-sided test written out: pooled z when every expected cell >= 5, else Fisher."""
    k2, n2 = k - k1, n - n1
    if n2 == 0:
        return 1.0
    pooled = k / n
    expected = min(n1 * pooled, n1 * (1 - pooled), n2 * pooled, n2 * (1 - pooled))
    if expected >= 5:
        se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        return float(stats.norm.sf((k1 / n1 - k2 / n2) / se))
    return float(stats.fisher_exact([[k1, n1 - k1], [k2, n2 - k2]], "greater").pvalue)


def test_adult_pairs_are_intersections_of_single_slices(adult):
    p, features, y_true, y_pred, proba, classes = adult
    table = slice_metrics(p, by=["sex", "age", "workclass"], pairs=True).table
    wrong = y_pred != y_true
    columns = table["column"].unique().tolist()
    assert columns == ["sex", "age", "workclass", "sex × age", "sex × workclass", "age × workclass"]
    for column in columns:
        assert table.loc[table["column"] == column, "n"].sum() == len(y_true), column
    pairs = table[table["column"].str.contains("×")]
    for _, row in pairs.iterrows():
        (a, b) = row["column"].split(" × ")
        la, lb = row["slice"].split(" ∧ ")
        mask = mask_from_label(features[a], a, la) & mask_from_label(features[b], b, lb)
        assert (row["n"], row["errors"]) == (mask.sum(), wrong[mask].sum()), row["slice"]
        assert row["log_loss"] == pytest.approx(
            log_loss(y_true[mask], proba[mask], labels=classes), rel=1e-9
        )


# ---------------------------------------------------------------- property


@st.composite
def random_predictions(draw):
    n = draw(st.integers(1, 60))
    labels = st.sampled_from(["a", "b", "c"])
    y_true = draw(st.lists(labels, min_size=n, max_size=n))
    with_proba = draw(st.booleans())
    color = draw(st.lists(st.sampled_from(["u", "v", "w", None]), min_size=n, max_size=n))
    number = draw(
        st.lists(
            st.one_of(st.none(), st.integers(-3, 3), st.floats(-100, 100, allow_nan=False)),
            min_size=n,
            max_size=n,
        )
    )
    features = {
        "color": pd.Series(color, dtype=object),
        "number": pd.Series([np.nan if v is None else float(v) for v in number]),
    }
    if with_proba:
        seed = draw(st.integers(0, 2**16))
        proba = np.random.default_rng(seed).dirichlet([1, 1, 1], size=n)
        return Predictions(y_true, proba=proba, classes=["a", "b", "c"], features=features)
    y_pred = draw(st.lists(labels, min_size=n, max_size=n))
    return Predictions(y_true, y_pred, classes=["a", "b", "c"], features=features)


@settings(max_examples=60, deadline=None)
@given(
    p=random_predictions(),
    bins=st.integers(2, 6),
    pairs=st.booleans(),
    min_size=st.integers(1, 20),
    alpha=st.floats(0.01, 0.99),
)
def test_property_slice_invariants(p, bins, pairs, min_size, alpha):
    table = slice_metrics(p, bins=bins, pairs=pairs, min_size=min_size, alpha=alpha).table
    assert table["error_rate"].between(0, 1).all()
    assert (table["ci_low"] >= 0).all() and (table["ci_high"] <= 1).all()
    assert (table["ci_low"] <= table["error_rate"] + 1e-12).all()
    assert (table["error_rate"] <= table["ci_high"] + 1e-12).all()
    assert (table["n"] > 0).all()
    for _, block in table.groupby("column"):
        assert block["n"].sum() == p.n
        assert block["errors"].sum() == int(p.errors.sum())
    assert (table["q_value"] >= table["p_value"] - 1e-12).all()
    assert table["p_value"].between(0, 1).all() and table["q_value"].between(0, 1).all()
    flagged = table[table["flagged"]]
    assert (flagged["q_value"] < alpha).all() and (flagged["n"] >= min_size).all()
    assert (
        table["flagged"].tolist()
        == ((table["q_value"] < alpha) & (table["n"] >= min_size)).tolist()
    )
    assert table["accuracy"].to_numpy() == pytest.approx(1 - table["error_rate"].to_numpy())
