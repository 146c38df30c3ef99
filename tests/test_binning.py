"""Tests of toolkit.analysis.binning: rounded quantile cuts, point masses, exact labels."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.analysis.binning import ColumnBins, bin_column
from toolkit.analysis.conditions import Condition, format_number
from toolkit.exceptions import InvalidValueError, ToolkitTypeError


def mask_from_label(values: pd.Series, column: str, label: str) -> np.ndarray:
    """Rows that satisfy a readable bin label, parsed from its text alone."""
    assert label.startswith(f"{column} "), label
    rule = label[len(column) + 1 :]
    isna = values.isna().to_numpy()
    if rule == "= (missing)":
        return isna
    if rule == "is not missing":
        return ~isna
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    x = values.to_numpy(dtype=float, na_value=np.nan) if numeric else None
    if rule.startswith("= "):
        text = rule[2:]
        if numeric:
            return x == float(text)
        return values.astype(str).to_numpy() == text
    match = re.fullmatch(r"∈ ([\[(])(\S+), (\S+)([\])])", rule)
    if match:
        left, lo, hi, right = match.groups()
        above = x >= float(lo) if left == "[" else x > float(lo)
        below = x <= float(hi) if right == "]" else x < float(hi)
        return above & below
    op, text = rule.split(" ", 1)
    compare = {"<": np.less, "≤": np.less_equal, ">": np.greater, "≥": np.greater_equal}[op]
    return compare(x, float(text))


def assert_labels_and_conditions_describe_codes(values, column: str, bins) -> None:
    """Each row satisfies exactly its own bin's label and condition, and no other bin's."""
    series = pd.Series(values).reset_index(drop=True)
    frame = pd.DataFrame({column: series})
    assert bins.codes.shape == (len(series),)
    assert bins.codes.min() >= 0, "a row fell into no bin"
    assert len(bins.labels) == len(bins.conditions) == bins.n_bins
    for j, (label, condition) in enumerate(zip(bins.labels, bins.conditions)):
        assert label == condition.label
        in_bin = bins.codes == j
        assert in_bin.any(), f"empty bin {label!r}"
        np.testing.assert_array_equal(mask_from_label(series, column, label), in_bin, label)
        np.testing.assert_array_equal(condition.mask(frame), in_bin, label)


# ---------------------------------------------------------------- numeric cuts


def test_integer_quantile_cuts_by_hand():
    # 1..100 in 4 bins: cuts at the 25th, 50th and 75th values -> 25, 50, 75
    values = np.arange(1, 101)
    b = bin_column(values, "x", bins=4)
    assert b.kind == "numeric"
    assert b.labels == ["x < 25", "x ∈ [25, 50)", "x ∈ [50, 75)", "x ≥ 75"]
    assert np.bincount(b.codes).tolist() == [24, 25, 25, 26]
    assert [c.to_dict() for c in b.conditions] == [
        {"column": "x", "op": "<", "value": 25.0},
        {"column": "x", "op": "in [)", "value": [25.0, 50.0]},
        {"column": "x", "op": "in [)", "value": [50.0, 75.0]},
        {"column": "x", "op": ">=", "value": 75.0},
    ]
    assert_labels_and_conditions_describe_codes(values, "x", b)


def test_cut_is_rounded_to_three_significant_digits():
    # values 1000 + 1.2345 i, i = 0..99; the median (50th value, i = 49) is 1060.4905,
    # rounded to 3 significant digits: 1060. Rows below: 1000 + 1.2345 i < 1060 <=> i <= 48.
    values = 1000 + 1.2345 * np.arange(100)
    b = bin_column(values, "x", bins=2)
    assert b.labels == ["x < 1060", "x ≥ 1060"]
    assert np.bincount(b.codes).tolist() == [49, 51]
    assert_labels_and_conditions_describe_codes(values, "x", b)


def test_small_values_round_to_three_significant_digits():
    # 0.001234 k, k = 1..10: 5 bins -> cuts at the 2nd, 4th, 6th, 8th values
    # 0.002468 -> 0.00247, 0.004936 -> 0.00494, 0.007404 -> 0.0074, 0.009872 -> 0.00987.
    # Rounding moves rows: k=2 (0.002468 < 0.00247) stays in the first bin, k=6
    # (0.007404 >= 0.0074) moves up, k=8 (0.009872 >= 0.00987) moves up -> 2, 2, 1, 2, 3.
    values = 0.001234 * np.arange(1, 11)
    b = bin_column(values, "x", bins=5)
    assert b.labels == [
        "x < 0.00247",
        "x ∈ [0.00247, 0.00494)",
        "x ∈ [0.00494, 0.0074)",
        "x ∈ [0.0074, 0.00987)",
        "x ≥ 0.00987",
    ]
    assert np.bincount(b.codes).tolist() == [2, 2, 1, 2, 3]
    assert_labels_and_conditions_describe_codes(values, "x", b)


def _cut_points(b) -> list[float]:
    points = []
    for c in b.conditions:
        if c.op in ("<", "<=", ">", ">=", "=="):
            points.append(c.value)
        elif c.op.startswith("in "):
            points.extend(c.value)
    return sorted(set(points))


@pytest.mark.parametrize("bins", [2, 3, 5, 8])
def test_cuts_are_rounded_inverted_cdf_quantiles(bins):
    # continuous data has no point mass, so the cuts are the inverted-CDF quantiles at
    # j / bins, each rounded to 3 significant digits (written here with "%.3g")
    rng = np.random.default_rng(bins)
    values = rng.lognormal(mean=10, sigma=1.5, size=2000)
    b = bin_column(values, "income", bins=bins)
    expected = sorted(
        {
            float(f"{np.quantile(values, j / bins, method='inverted_cdf'):.3g}")
            for j in range(1, bins)
        }
    )
    assert _cut_points(b) == expected
    assert all(float(f"{v:.3g}") == v for v in _cut_points(b))
    assert b.n_bins == bins
    assert_labels_and_conditions_describe_codes(values, "income", b)


def test_negative_values():
    # -50..49 in 2 bins: the cumulative count reaches 50 at the 50th value, -1
    values = np.arange(-50, 50)
    b = bin_column(values, "x", bins=2)
    assert b.labels == ["x < -1", "x ≥ -1"]
    assert np.bincount(b.codes).tolist() == [49, 51]
    assert_labels_and_conditions_describe_codes(values, "x", b)


# ---------------------------------------------------------------- point masses


def test_point_mass_gets_its_own_bin():
    # 60 zeros and 1..40 (like capital_gain): 0 holds 60% >= 1/5 of rows, a point mass.
    # The other 4 bins split 1..40 at its 10th, 20th, 30th values: 10, 20, 30.
    values = np.array([0] * 60 + list(range(1, 41)))
    b = bin_column(values, "capital_gain", bins=5)
    assert b.labels == [
        "capital_gain = 0",
        "capital_gain ∈ (0, 10)",
        "capital_gain ∈ [10, 20)",
        "capital_gain ∈ [20, 30)",
        "capital_gain ≥ 30",
    ]
    assert np.bincount(b.codes).tolist() == [60, 9, 10, 10, 11]
    assert b.conditions[0] == Condition("capital_gain", "==", 0.0)
    assert b.conditions[1] == Condition("capital_gain", "in ()", (0.0, 10.0))
    assert b.conditions[1].to_dict() == {
        "column": "capital_gain",
        "op": "in ()",
        "value": [0.0, 10.0],
    }
    assert_labels_and_conditions_describe_codes(values, "capital_gain", b)


def test_point_mass_in_the_middle_splits_its_neighbours():
    # 40 is a mass (5 of 9 finite rows >= 9/3); the rest 20, 30, 50, 60 get one cut (30)
    values = np.array([40, 40, 20, 40, 50, 40, 60, 30, 40, np.nan])
    b = bin_column(values, "hours", bins=3)
    assert b.labels == [
        "hours < 30",
        "hours ∈ [30, 40)",
        "hours = 40",
        "hours > 40",
        "hours = (missing)",
    ]
    assert b.codes.tolist() == [2, 2, 0, 2, 3, 2, 3, 1, 2, 4]
    assert_labels_and_conditions_describe_codes(values, "hours", b)


def test_value_just_below_the_mass_threshold_is_not_a_mass():
    # 19 of 100 rows < 100 / 5 = 20: no bin of its own
    values = np.array([7] * 19 + list(range(100, 181)))
    b = bin_column(values, "x", bins=5)
    assert "x = 7" not in b.labels
    values = np.array([7] * 20 + list(range(100, 180)))
    assert "x = 7" in bin_column(values, "x", bins=5).labels


def test_point_mass_label_is_exact_for_a_value_with_many_digits():
    # A point mass at 1/3 must be labelled by a number that selects exactly its rows;
    # "x = 0.333333" does not (0.333333 != 1/3).
    values = np.array([1 / 3] * 5 + [0.1, 0.2, 0.5, 0.6, 0.7])
    b = bin_column(values, "x", bins=5)
    assert_labels_and_conditions_describe_codes(values, "x", b)


@pytest.mark.parametrize(
    "values",
    [
        np.array([-np.inf] + list(range(10)), dtype=float),
        np.array([0.0] * 60 + list(range(1, 26)) + [np.inf] * 15),
    ],
    ids=["minus-inf", "inf-as-cut"],
)
def test_infinite_values_fall_into_a_bin(values):
    b = bin_column(values, "x", bins=5)
    assert_labels_and_conditions_describe_codes(values, "x", b)


# ---------------------------------------------------------------- missing values


def test_missing_numeric_values_form_their_own_bin():
    values = pd.Series([1.0, 2.0, np.nan, 4.0, 5.0, 6.0, 7.0, np.nan])
    b = bin_column(values, "x", bins=2)
    assert b.labels[-1] == "x = (missing)"
    assert b.conditions[-1].to_dict() == {"column": "x", "op": "is missing", "value": None}
    assert b.conditions[-1].label == "x = (missing)"
    assert np.flatnonzero(b.codes == b.n_bins - 1).tolist() == [2, 7]
    assert_labels_and_conditions_describe_codes(values, "x", b)


def test_nullable_integer_column_with_missing():
    values = pd.Series([1, 2, 3, None, 5, 6, 7, 8], dtype="Int64")
    b = bin_column(values, "x", bins=2)
    assert b.labels == ["x < 5", "x ≥ 5", "x = (missing)"]
    assert np.bincount(b.codes).tolist() == [3, 4, 1]
    assert_labels_and_conditions_describe_codes(values, "x", b)


def test_all_missing_column_is_one_bin():
    values = pd.Series([np.nan] * 4)
    b = bin_column(values, "x", bins=3)
    assert b.labels == ["x = (missing)"]
    assert b.codes.tolist() == [0, 0, 0, 0]


# ---------------------------------------------------------------- categorical columns


def test_categorical_values_sorted_with_missing_last():
    values = pd.Series(["b", "a", None, "c", "a"], dtype=object)
    b = bin_column(values, "g")
    assert b.kind == "categorical"
    assert b.labels == ["g = a", "g = b", "g = c", "g = (missing)"]
    assert b.codes.tolist() == [1, 0, 3, 2, 0]
    assert b.conditions[0] == Condition("g", "==", "a")
    assert_labels_and_conditions_describe_codes(values, "g", b)


def test_pandas_categorical_keeps_its_category_order():
    values = pd.Series(pd.Categorical(["lo", "hi", "mid", "lo"], categories=["lo", "mid", "hi"]))
    b = bin_column(values, "level")
    assert b.labels == ["level = lo", "level = mid", "level = hi"]
    assert b.codes.tolist() == [0, 2, 1, 0]


def test_numeric_column_with_few_values_is_categorical():
    values = np.array([1.0, 2.0, 2.0, 3.0, 2.5])
    b = bin_column(values, "x", bins=5)
    assert b.kind == "categorical"
    assert b.labels == ["x = 1", "x = 2", "x = 2.5", "x = 3"]
    assert_labels_and_conditions_describe_codes(values, "x", b)


def test_boolean_column_is_categorical():
    values = pd.Series([True, False, True, True])
    b = bin_column(values, "flag", bins=2)
    assert b.labels == ["flag = False", "flag = True"]
    assert b.codes.tolist() == [1, 0, 1, 1]
    assert_labels_and_conditions_describe_codes(values, "flag", b)


def test_many_categories_are_grouped_as_other():
    # counts a:5 b:4 c:3 d:2 e:1 (+ 2 missing); max_categories=3 keeps the 2 most frequent
    values = pd.Series(list("aaaaabbbbcccdde") + [None, None], dtype=object)
    b = bin_column(values, "g", max_categories=3)
    assert b.labels == ["g = a", "g = b", "g = (other)", "g = (missing)"]
    assert np.bincount(b.codes).tolist() == [5, 4, 6, 2]
    assert b.conditions[2].to_dict() == {"column": "g", "op": "not in", "value": ["a", "b"]}
    assert b.conditions[2].label == "g = (other)"  # the label, not "g ∉ {a, b}"
    frame = pd.DataFrame({"g": values})
    for j, condition in enumerate(b.conditions):
        np.testing.assert_array_equal(condition.mask(frame), b.codes == j)
    # (other) holds exactly the rows whose value is present and not kept
    other = values.notna() & ~values.isin(["a", "b"])
    np.testing.assert_array_equal(b.codes == 2, other.to_numpy())


def test_numeric_categories_grouped_as_other():
    values = pd.Series([1, 1, 1, 2, 2, 3, 4])
    b = bin_column(values, "x", bins=10, max_categories=2)
    assert b.labels == ["x = 1", "x = (other)"]
    assert b.conditions[1].to_dict() == {"column": "x", "op": "not in", "value": [1]}
    frame = pd.DataFrame({"x": values})
    for j, condition in enumerate(b.conditions):
        np.testing.assert_array_equal(condition.mask(frame), b.codes == j)


# ---------------------------------------------------------------- conditions on new data


def test_conditions_apply_to_new_data():
    # conditions learned on one sample select by the same rule on another
    b = bin_column(np.arange(1, 101), "x", bins=4)
    new = pd.DataFrame({"x": [0, 24, 25, 49.5, 50, 74, 75, 1000, np.nan]})
    masks = [c.mask(new).tolist() for c in b.conditions]
    assert masks == [
        [True, True, False, False, False, False, False, False, False],
        [False, False, True, True, False, False, False, False, False],
        [False, False, False, False, True, True, False, False, False],
        [False, False, False, False, False, False, True, True, False],
    ]


def test_labels_follow_the_conditions_when_empty_bins_are_dropped():
    # 5 bins of 0..9 with a mass at 0 (50% of rows): the segment below 0 is empty
    values = np.array([0] * 10 + list(range(1, 11)), dtype=float)
    b = bin_column(values, "x", bins=5)
    assert b.labels == [c.label for c in b.conditions]
    assert b.labels[0] == "x = 0"
    assert b == ColumnBins("x", "numeric", b.codes, b.conditions)


# ---------------------------------------------------------------- parameters


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"bins": 1}, InvalidValueError, r"bin_column: bins must be an int in \[2, inf\), got 1"),
        ({"bins": 0}, InvalidValueError, "bins"),
        ({"bins": 2.5}, ToolkitTypeError, "bins"),
        ({"bins": True}, ToolkitTypeError, "bins"),
        ({"max_categories": 0}, InvalidValueError, "max_categories"),
        ({"max_categories": "5"}, ToolkitTypeError, "max_categories"),
    ],
)
def test_bad_parameters_name_the_problem(kwargs, error, match):
    with pytest.raises(error, match=match):
        bin_column(np.arange(10), "x", **kwargs)


def test_bad_values_and_column_types():
    with pytest.raises(ToolkitTypeError, match="values"):
        bin_column("abc", "x")
    with pytest.raises(ToolkitTypeError, match="column"):
        bin_column([1, 2, 3], 3)


# ---------------------------------------------------------------- format_number


@pytest.mark.parametrize(
    ("value", "text"),
    [(28, "28"), (28.0, "28"), (0.125, "0.125"), (-3.5, "-3.5"), (1.5e6, "1500000"), (0, "0")],
)
def test_format_number(value, text):
    assert format_number(value) == text


# ---------------------------------------------------------------- property


_values = st.lists(
    st.one_of(
        st.integers(-20, 20).map(float),
        st.integers(-2000, 2000).map(lambda v: v / 10),
        st.just(float("nan")),
    ),
    min_size=1,
    max_size=80,
)


@settings(max_examples=150, deadline=None)
@given(values=_values, bins=st.integers(2, 7))
def test_property_every_row_satisfies_exactly_its_label(values, bins):
    array = np.array(values, dtype=float)
    b = bin_column(array, "x", bins=bins)
    assert_labels_and_conditions_describe_codes(array, "x", b)
    finite = array[~np.isnan(array)]
    masses = {v for v, c in zip(*np.unique(finite, return_counts=True)) if c >= finite.size / bins}
    if b.kind == "numeric":
        for v in masses:  # every point mass has a bin of its own
            assert f"x = {format_number(v)}" in b.labels
