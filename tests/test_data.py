"""Tests of `toolkit.Predictions`: validation, task detection, class order, immutability.

Every fixture is small enough to check by eye; expected values are computed by hand or with
an independent oracle (a plain numpy expression), never with toolkit itself.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import toolkit as tk
from toolkit import Predictions
from toolkit.exceptions import (
    ColumnNotFoundError,
    DuplicateIdError,
    EmptyInputError,
    InvalidLabelError,
    InvalidProbabilityError,
    InvalidValueError,
    LengthMismatchError,
    ToolkitError,
    ToolkitTypeError,
    ValidationError,
)

# Binary fixture, checkable by eye: argmax gives a, b, a, b, so rows 2 and 3 are errors.
Y4 = ["a", "b", "b", "a"]
PROBA4 = [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]]
PRED4 = ["a", "b", "a", "b"]
ERRORS4 = [False, False, True, True]

# Regression fixture: |error| = [0.5, 0, 2, 1, 0.5]; sorted [0, .5, .5, 1, 2]; the 90th
# percentile (linear interpolation) sits at position 0.9 * 4 = 3.6: 1 + 0.6 * (2 - 1) = 1.6.
REG_TRUE = [1.0, 2.0, 3.0, 4.0, 5.5]
REG_PRED = [1.5, 2.0, 5.0, 3.0, 5.0]
REG_TOL90 = 1.6


def _table() -> pd.DataFrame:
    """A from_frame table with integer labels and proba columns out of class order."""
    return pd.DataFrame(
        {
            "y": [0, 1, 1, 0],
            "p_1": [0.2, 0.9, 0.4, 0.3],
            "p_0": [0.8, 0.1, 0.6, 0.7],
            "x": [1.0, 2.0, 3.0, 4.0],
            "id": [10, 11, 12, 13],
        }
    )


# --------------------------------------------------------------------------- validation
# (build, exact exception class, builtin base it must also be, message pattern)
INVALID = [
    # length mismatches
    pytest.param(
        lambda: Predictions(Y4, ["a", "b", "a"]),
        LengthMismatchError,
        ValueError,
        r"y_pred has 3 rows but y_true has 4",
        id="length-y_pred",
    ),
    pytest.param(
        lambda: Predictions(Y4, proba=PROBA4[:3]),
        LengthMismatchError,
        ValueError,
        r"proba has 3 rows but y_true has 4",
        id="length-proba",
    ),
    pytest.param(
        lambda: Predictions(Y4, PRED4, ids=[1, 2, 3]),
        LengthMismatchError,
        ValueError,
        r"ids has 3 rows but y_true has 4",
        id="length-ids",
    ),
    pytest.param(
        lambda: Predictions(Y4, PRED4, features=pd.DataFrame({"x": [1, 2, 3]})),
        LengthMismatchError,
        ValueError,
        r"features has 3 rows but y_true has 4",
        id="length-features",
    ),
    pytest.param(
        lambda: Predictions(Y4, PRED4, embeddings=np.zeros((5, 2))),
        LengthMismatchError,
        ValueError,
        r"embeddings has 5 rows but y_true has 4",
        id="length-embeddings",
    ),
    # missing labels
    pytest.param(
        lambda: Predictions([0.0, np.nan, 1.0, 1.0], [0, 1, 1, 0]),
        InvalidValueError,
        ValueError,
        r"y_true has 1 missing value\(s\) \(NaN/None\) at rows \[1\]",
        id="nan-y_true",
    ),
    pytest.param(
        lambda: Predictions(["a", "b", None, "a"], PRED4),
        InvalidValueError,
        ValueError,
        r"y_true has 1 missing value\(s\) \(NaN/None\) at rows \[2\]",
        id="none-y_true",
    ),
    pytest.param(
        lambda: Predictions(pd.Series(["a", pd.NA, "b", "a"], dtype="string"), PRED4),
        InvalidValueError,
        ValueError,
        r"y_true has 1 missing value\(s\) \(NaN/None\) at rows \[1\]",
        id="pd-NA-y_true",
    ),
    pytest.param(
        lambda: Predictions([0, 1, 1, 0], [0, 1, np.nan, np.nan]),
        InvalidValueError,
        ValueError,
        r"y_pred has 2 missing value\(s\) \(NaN/None\) at rows \[2, 3\]",
        id="nan-y_pred",
    ),
    pytest.param(
        lambda: Predictions(Y4, [None, "b", "a", "b"]),
        InvalidValueError,
        ValueError,
        r"y_pred has 1 missing value\(s\) \(NaN/None\) at rows \[0\]",
        id="none-y_pred",
    ),
    # probabilities
    pytest.param(
        lambda: Predictions(Y4, proba=[[0.9, 0.1], [np.nan, 0.8], [0.6, 0.4], [0.3, 0.7]]),
        InvalidValueError,
        ValueError,
        r"proba has NaN or infinite values in 1 row\(s\): \[1\]",
        id="nan-proba",
    ),
    pytest.param(
        lambda: Predictions(Y4, proba=[[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [np.inf, 0.7]]),
        InvalidValueError,
        ValueError,
        r"proba has NaN or infinite values in 1 row\(s\): \[3\]",
        id="inf-proba",
    ),
    pytest.param(
        lambda: Predictions(Y4, proba=[[0.6, 0.6], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]]),
        InvalidProbabilityError,
        ValueError,
        r"proba rows must sum to 1 \(tolerance 0\.001\).*rows \[0\] sum to \[1\.2\]",
        id="sum-above-1",
    ),
    pytest.param(
        lambda: Predictions(Y4, proba=[[0.9, 0.1], [0.2, 0.8], [0.4, 0.4], [0.3, 0.7]]),
        InvalidProbabilityError,
        ValueError,
        r"proba rows must sum to 1 .*rows \[2\] sum to \[0\.8\]",
        id="sum-below-1",
    ),
    pytest.param(
        lambda: Predictions(Y4, proba=[[0.9, 0.1], [0.2, 0.8], [0.5, 0.5011], [0.3, 0.7]]),
        InvalidProbabilityError,
        ValueError,
        r"proba rows must sum to 1 .*rows \[2\] sum to \[1\.0011\]",
        id="sum-just-beyond-tolerance",
    ),
    pytest.param(
        lambda: Predictions(Y4, proba=[[0.9, 0.1], [0.2, 0.8], [1.5, -0.5], [0.3, 0.7]]),
        InvalidProbabilityError,
        ValueError,
        r"proba has values outside \[0, 1\] in 1 row\(s\) \[2\], e\.g\. 1\.5",
        id="proba-above-1",
    ),
    pytest.param(
        lambda: Predictions(Y4, proba=[[-0.05, 1.0], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]]),
        InvalidProbabilityError,
        ValueError,
        r"proba has values outside \[0, 1\] in 1 row\(s\) \[0\], e\.g\. -0\.05",
        id="proba-below-0",
    ),
    pytest.param(
        lambda: Predictions(Y4, proba=np.full((4, 3), 1 / 3)),
        InvalidProbabilityError,
        ValueError,
        r"proba has 3 columns but there are 2 classes: \['a', 'b'\]",
        id="proba-too-many-columns",
    ),
    pytest.param(
        lambda: Predictions(Y4, proba=np.full((4, 2, 2), 0.5)),
        InvalidProbabilityError,
        ValueError,
        r"proba must be 2-D \(n_samples, n_classes\), got shape \(4, 2, 2\)",
        id="proba-3d",
    ),
    pytest.param(
        lambda: Predictions(Y4, proba=[["x", "y"]] * 4),
        ToolkitTypeError,
        TypeError,
        r"proba must be numeric, but has dtype <U1",
        id="proba-text-array",
    ),
    pytest.param(
        lambda: Predictions(Y4, proba=pd.DataFrame({"a": [0.5] * 4, "b": ["x"] * 4})),
        ToolkitTypeError,
        TypeError,
        r"proba columns must be numeric, but \['b'\] have dtype",
        id="proba-text-column",
    ),
    # labels and classes
    pytest.param(
        lambda: Predictions(["a", "b", "z", "a"], PRED4, classes=["a", "b"]),
        InvalidLabelError,
        ValueError,
        r"y_true has label\(s\) \['z'\] absent from classes \['a', 'b'\]",
        id="absent-y_true",
    ),
    pytest.param(
        lambda: Predictions(Y4, ["a", "b", "z", "z"], classes=["a", "b"]),
        InvalidLabelError,
        ValueError,
        r"y_pred has label\(s\) \['z'\] absent from classes \['a', 'b'\]",
        id="absent-y_pred",
    ),
    pytest.param(
        lambda: Predictions(["a", "a", "a"], ["a", "a", "a"]),
        InvalidLabelError,
        ValueError,
        r"only one class was found \(\['a'\]\); classification needs at least two",
        id="single-class",
    ),
    pytest.param(
        lambda: Predictions(Y4, PRED4, classes=["a", "b", "a"]),
        InvalidLabelError,
        ValueError,
        r"classes has duplicates: \['a', 'b', 'a'\]",
        id="duplicate-classes",
    ),
    pytest.param(
        lambda: Predictions(np.array(["a", "b", "a"], dtype=object), [1, 2, 1]),
        ToolkitTypeError,
        TypeError,
        r"mixes label types \['int', 'str'\]",
        id="mixed-types-across-y_true-y_pred",
    ),
    pytest.param(
        lambda: Predictions(["a", 1, "b", "a"], PRED4),
        ToolkitTypeError,
        TypeError,
        r"mixes label types \['int', 'str'\]",
        id="mixed-types-within-a-list",
    ),
    pytest.param(
        lambda: Predictions(["a", "b", "c"], ["a", "b", "c"], task="binary"),
        InvalidLabelError,
        ValueError,
        r"task is 'binary' but there are 3 classes: \['a', 'b', 'c'\]",
        id="binary-with-3-classes",
    ),
    # ids
    pytest.param(
        lambda: Predictions(Y4, PRED4, ids=[7, 8, 7, 9]),
        DuplicateIdError,
        ValueError,
        r"ids must be unique, but 1 value\(s\) repeat: \[7\]",
        id="duplicate-ids",
    ),
    pytest.param(
        lambda: Predictions(Y4, PRED4, ids=["r1", None, "r3", "r4"]),
        InvalidValueError,
        ValueError,
        r"ids has 1 missing value\(s\) at rows \[1\]",
        id="missing-ids",
    ),
    # regression
    pytest.param(
        lambda: Predictions([0.5, np.nan, 1.5], [0.5, 1.0, 1.5], task="regression"),
        InvalidValueError,
        ValueError,
        r"y_true has 1 NaN or infinite value\(s\) at rows \[1\]",
        id="regression-nan-y_true",
    ),
    pytest.param(
        lambda: Predictions([0.5, 1.5, 2.5], [0.5, 1.0, np.inf]),
        InvalidValueError,
        ValueError,
        r"y_pred has 1 NaN or infinite value\(s\) at rows \[2\]",
        id="regression-inf-y_pred",
    ),
    pytest.param(
        lambda: Predictions(["a", "b"], [0.5, 1.5], task="regression"),
        ToolkitTypeError,
        TypeError,
        r"y_true must be numeric for regression, got dtype object",
        id="regression-text",
    ),
    pytest.param(
        lambda: Predictions(REG_TRUE, REG_PRED, tolerance=-1.0),
        InvalidValueError,
        ValueError,
        r"Predictions: tolerance must be a number in \[0, inf\) or None, got -1",
        id="negative-tolerance",
    ),
    pytest.param(
        lambda: Predictions(REG_TRUE, REG_PRED, proba=[[0.5, 0.5]] * 5, task="regression"),
        ValidationError,
        ValueError,
        r"proba was given but task is 'regression'",
        id="regression-with-proba",
    ),
    pytest.param(
        lambda: Predictions(REG_TRUE, REG_PRED, classes=[1, 2]),
        ValidationError,
        ValueError,
        r"classes was given but task is 'regression'",
        id="regression-with-classes",
    ),
    pytest.param(
        lambda: Predictions(Y4, PRED4, tolerance=0.5),
        ValidationError,
        ValueError,
        r"tolerance applies to regression only",
        id="tolerance-on-classification",
    ),
    # shape of the call
    pytest.param(
        lambda: Predictions(Y4),
        ValidationError,
        ValueError,
        r"give y_pred, proba, or both",
        id="neither-y_pred-nor-proba",
    ),
    pytest.param(
        lambda: Predictions(Y4, PRED4, task="ranking"),
        InvalidValueError,
        ValueError,
        r"task must be one of 'binary', 'multiclass', 'regression' or None, got 'ranking'",
        id="bad-task",
    ),
    pytest.param(
        lambda: Predictions(None, PRED4),
        ValidationError,
        ValueError,
        r"y_true is required but None was given",
        id="y_true-None",
    ),
    pytest.param(
        lambda: Predictions(np.zeros((3, 2)), [0, 1, 0]),
        ValidationError,
        ValueError,
        r"y_true must be 1-D, but has shape \(3, 2\)",
        id="2d-y_true",
    ),
    pytest.param(
        lambda: Predictions([0, 1, 0], np.zeros((3, 2))),
        ValidationError,
        ValueError,
        r"y_pred must be 1-D, but has shape \(3, 2\)",
        id="2d-y_pred",
    ),
    pytest.param(
        lambda: Predictions(pd.DataFrame({"y": [0, 1], "z": [1, 0]}), [0, 1]),
        ValidationError,
        ValueError,
        r"y_true must be one column, but a DataFrame with 2 columns was given: \['y', 'z'\]",
        id="2-column-frame-y_true",
    ),
    pytest.param(
        lambda: Predictions([], []),
        EmptyInputError,
        ValueError,
        r"y_true is empty: at least one row is needed",
        id="empty",
    ),
    # features and embeddings
    pytest.param(
        lambda: Predictions(Y4, PRED4, features=pd.DataFrame(np.zeros((4, 2)), columns=["a"] * 2)),
        ValidationError,
        ValueError,
        r"features has duplicate column names: \['a'\]",
        id="duplicate-feature-names",
    ),
    pytest.param(
        lambda: Predictions(Y4, PRED4, embeddings=[[0.0], [1.0], [np.nan], [2.0]]),
        InvalidValueError,
        ValueError,
        r"embeddings has NaN or infinite values in 1 row\(s\): \[2\]",
        id="nan-embeddings",
    ),
    pytest.param(
        lambda: Predictions(Y4, PRED4, embeddings=[["a"], ["b"], ["c"], ["d"]]),
        ToolkitTypeError,
        TypeError,
        r"embeddings must be numeric",
        id="text-embeddings",
    ),
    # from_frame
    pytest.param(
        lambda: Predictions.from_frame(pd.DataFrame({"y": [], "p": []}), target="y", pred="p"),
        EmptyInputError,
        ValueError,
        r"the table has no rows",
        id="from_frame-empty",
    ),
    pytest.param(
        lambda: Predictions.from_frame({"y": [0, 1]}, target="y"),
        ToolkitTypeError,
        TypeError,
        r"from_frame: df must be a DataFrame, got .* \(dict\)",
        id="from_frame-not-a-frame",
    ),
    pytest.param(
        lambda: Predictions.from_frame(
            pd.DataFrame([[0, 1, 1]], columns=["y", "p", "p"]), target="y", pred="p"
        ),
        ValidationError,
        ValueError,
        r"the table has duplicate column names: \['p'\]",
        id="from_frame-duplicate-columns",
    ),
    pytest.param(
        lambda: Predictions.from_frame(_table(), target="label", proba="p_*"),
        ColumnNotFoundError,
        KeyError,
        r"target column 'label' not found; the table has \['y', 'p_1', 'p_0', 'x', 'id'\]",
        id="from_frame-no-target",
    ),
    pytest.param(
        lambda: Predictions.from_frame(_table(), target="y", pred="pred"),
        ColumnNotFoundError,
        KeyError,
        r"pred column 'pred' not found; the table has \['y', 'p_1'",
        id="from_frame-no-pred",
    ),
    pytest.param(
        lambda: Predictions.from_frame(_table(), target="y", proba="prob_*"),
        ColumnNotFoundError,
        KeyError,
        r"no proba columns match 'prob_\*'; the table has \['y', 'p_1'",
        id="from_frame-glob-matches-nothing",
    ),
    pytest.param(
        lambda: Predictions.from_frame(_table(), target="y", proba=["p_0", "p_2"]),
        ColumnNotFoundError,
        KeyError,
        r"proba column\(s\) \['p_2'\] not found; the table has \['y', 'p_1'",
        id="from_frame-proba-list-missing",
    ),
    pytest.param(
        lambda: Predictions.from_frame(_table(), target="y", proba="p_*", id="row_id"),
        ColumnNotFoundError,
        KeyError,
        r"id column 'row_id' not found",
        id="from_frame-no-id",
    ),
    pytest.param(
        lambda: Predictions.from_frame(_table(), target="y", proba="p_*", features=["x", "age"]),
        ColumnNotFoundError,
        KeyError,
        r"feature column 'age' not found",
        id="from_frame-no-feature",
    ),
    pytest.param(
        lambda: Predictions.from_frame(_table(), target="y", proba="p_*", classes=[0, 1, 2]),
        InvalidProbabilityError,
        ValueError,
        r"proba columns \['1', '0'\] do not match classes \[0, 1, 2\]; no column for \['2'\]",
        id="from_frame-proba-columns-vs-given-classes",
    ),
    pytest.param(
        # p_2 instead of p_1: the label 1 has no probability column.
        lambda: Predictions.from_frame(
            _table().rename(columns={"p_1": "p_2"}), target="y", proba="p_*"
        ),
        InvalidProbabilityError,
        ValueError,
        r"proba column",
        id="from_frame-proba-columns-vs-labels",
    ),
    pytest.param(
        lambda: Predictions.from_frame(_table().assign(p_1=list("abcd")), target="y", proba="p_*"),
        ToolkitTypeError,
        TypeError,
        r"proba columns must be numeric, but \['p_1'\] have dtype",
        id="from_frame-text-proba-column",
    ),
]


@pytest.mark.parametrize(("build", "exc", "builtin", "match"), INVALID)
def test_invalid_input_raises_a_toolkit_error_that_names_the_problem(build, exc, builtin, match):
    with pytest.raises(ToolkitError, match=match) as info:
        build()
    assert type(info.value) is exc
    assert isinstance(info.value, builtin)


def test_exception_tree_is_value_and_type_error():
    assert issubclass(ValidationError, ValueError)
    assert issubclass(ToolkitTypeError, TypeError)
    for cls in (
        EmptyInputError,
        LengthMismatchError,
        InvalidValueError,
        InvalidProbabilityError,
        InvalidLabelError,
        DuplicateIdError,
        ColumnNotFoundError,
    ):
        assert issubclass(cls, ValidationError)
        assert issubclass(cls, ToolkitError)
    # KeyError would repr() the message; the str must be the plain message
    assert str(ColumnNotFoundError("target column 'x' not found")) == "target column 'x' not found"


@pytest.mark.parametrize(
    "proba",
    [
        [[0.5, 0.5009], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]],  # sum 1.0009
        [[0.5, 0.4991], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]],  # sum 0.9991
        np.array(PROBA4, dtype=np.float32),  # float32 rounding
    ],
    ids=["sum-1.0009", "sum-0.9991", "float32"],
)
def test_probability_rows_within_tolerance_are_accepted_as_given(proba):
    p = Predictions(Y4, proba=proba)
    np.testing.assert_allclose(p.proba, np.asarray(proba, dtype=float))
    assert p.proba.dtype == np.float64


def test_probabilities_rounded_just_outside_unit_interval_are_clipped():
    p = Predictions(["a", "b"], proba=[[-1e-7, 1 + 1e-7], [0.5, 0.5]])
    assert p.proba.min() == 0.0
    assert p.proba.max() == 1.0
    np.testing.assert_array_equal(p.proba, [[0.0, 1.0], [0.5, 0.5]])


# --------------------------------------------------------------------------- task detection
@pytest.mark.parametrize(
    ("y_true", "y_pred", "task", "classes"),
    [
        (["no", "yes", "yes"], ["no", "no", "yes"], "binary", ["no", "yes"]),
        (["b", "c", "a", "b"], ["a", "c", "a", "b"], "multiclass", ["a", "b", "c"]),
        ([1, 0, 1], [1, 1, 0], "binary", [0, 1]),
        ([2, 0, 1, 7], [2, 1, 1, 7], "multiclass", [0, 1, 2, 7]),
        ([True, False, True], [True, True, False], "binary", [False, True]),
        ([0.0, 1.0, 2.0, 1.0], [0.0, 1.0, 1.0, 1.0], "multiclass", [0.0, 1.0, 2.0]),
        ([1.0, 0.0, 0.0], [1.0, 1.0, 0.0], "binary", [0.0, 1.0]),
    ],
    ids=["str-binary", "str-multi", "int-binary", "int-multi", "bool", "float-multi", "float-bin"],
)
def test_task_and_classes_are_detected_from_labels(y_true, y_pred, task, classes):
    p = Predictions(y_true, y_pred)
    assert p.task == task
    assert p.is_classification
    assert p.classes.tolist() == classes
    assert p.errors.tolist() == [a != b for a, b in zip(y_pred, y_true)]


def test_only_one_label_observed_is_binary_when_both_classes_are_named():
    p = Predictions(["a", "a"], ["a", "a"], classes=["a", "b"])
    assert p.task == "binary"
    assert p.classes.tolist() == ["a", "b"]


def test_given_classes_beyond_the_observed_labels_make_a_multiclass_task():
    # Two labels observed, three classes named: the task is multiclass, not an error.
    p = Predictions(["a", "b", "a"], ["a", "b", "b"], classes=["a", "b", "c"])
    assert p.task == "multiclass"
    assert p.classes.tolist() == ["a", "b", "c"]


def test_fractional_floats_are_regression():
    p = Predictions(REG_TRUE, REG_PRED)
    assert p.task == "regression"
    assert not p.is_classification
    assert p.classes is None
    assert p.proba is None


def test_whole_number_values_need_task_regression_to_be_regression():
    p = Predictions([1.0, 2.0, 3.0], [1.0, 2.0, 4.0], task="regression")
    assert p.task == "regression"
    assert p.y_true.dtype == np.float64
    assert Predictions([1, 2, 3], [1, 2, 5], task="regression", tolerance=1.0).errors.tolist() == [
        False,
        False,
        True,
    ]


def test_one_dimensional_proba_is_the_probability_of_the_second_class():
    p = Predictions(["neg", "pos", "pos"], proba=[0.2, 0.7, 0.4])
    assert p.task == "binary"
    np.testing.assert_allclose(p.proba, [[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    assert p.y_pred.tolist() == ["neg", "pos", "neg"]
    assert p.errors.tolist() == [False, False, True]


def test_bool_labels_with_probabilities():
    p = Predictions([True, False, True], proba=[0.9, 0.2, 0.3])
    assert p.classes.tolist() == [False, True]
    assert p.y_pred.tolist() == [True, False, False]
    assert p.errors.tolist() == [False, False, True]


def test_proba_with_more_than_two_columns_is_multiclass():
    p = Predictions([0, 1, 2], proba=np.eye(3))
    assert p.task == "multiclass"
    assert p.errors.tolist() == [False, False, False]


# --------------------------------------------------------------------------- class order
def test_classes_are_sorted_by_default():
    p = Predictions(["b", "c", "a", "b"], ["a", "b", "c", "b"])
    assert p.classes.tolist() == ["a", "b", "c"]


def test_classes_include_labels_seen_only_in_y_pred():
    p = Predictions(["a", "b", "a"], ["a", "b", "c"])
    assert p.classes.tolist() == ["a", "b", "c"]
    assert p.task == "multiclass"


def test_given_classes_fix_the_column_order_of_an_array_proba():
    proba = [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]]  # columns: c, a, b
    p = Predictions(["c", "a", "a"], proba=proba, classes=["c", "a", "b"])
    assert p.classes.tolist() == ["c", "a", "b"]
    np.testing.assert_array_equal(p.proba, proba)
    assert p.y_pred.tolist() == ["c", "a", "b"]
    assert p.errors.tolist() == [False, False, True]
    assert p.y_true_codes().tolist() == [0, 1, 1]
    assert p.y_pred_codes().tolist() == [0, 1, 2]


def test_proba_frame_named_by_class_is_reordered_to_sorted_classes():
    proba = pd.DataFrame({"c": [0.1, 0.2, 0.7], "a": [0.8, 0.1, 0.1], "b": [0.1, 0.7, 0.2]})
    p = Predictions(["a", "b", "b"], proba=proba)
    assert p.classes.tolist() == ["a", "b", "c"]
    np.testing.assert_array_equal(p.proba, proba[["a", "b", "c"]].to_numpy())
    assert p.y_pred.tolist() == ["a", "b", "c"]
    assert p.errors.tolist() == [False, False, True]


def test_proba_frame_named_by_integer_class_is_reordered():
    proba = pd.DataFrame({2: [0.1, 0.2, 0.7], 0: [0.8, 0.1, 0.1], 1: [0.1, 0.7, 0.2]})
    p = Predictions([0, 1, 1], proba=proba)
    assert p.classes.tolist() == [0, 1, 2]
    np.testing.assert_array_equal(p.proba, proba[[0, 1, 2]].to_numpy())
    assert p.y_pred.tolist() == [0, 1, 2]


def test_proba_frame_named_by_class_follows_given_classes():
    proba = pd.DataFrame({"c": [0.1, 0.2, 0.7], "a": [0.8, 0.1, 0.1], "b": [0.1, 0.7, 0.2]})
    p = Predictions(["a", "b", "b"], proba=proba, classes=["b", "a", "c"])
    assert p.classes.tolist() == ["b", "a", "c"]
    np.testing.assert_array_equal(p.proba, proba[["b", "a", "c"]].to_numpy())
    assert p.y_pred.tolist() == ["a", "b", "c"]


@pytest.mark.parametrize("labels", [["a", "b", "b", "a"], [1, 2, 2, 1]], ids=["str", "int"])
def test_proba_frame_with_default_column_names_is_positional_like_an_array(labels):
    # pd.DataFrame(model.predict_proba(X)) has columns 0, 1 that are not class names.
    expected = Predictions(labels, proba=np.array(PROBA4))
    p = Predictions(labels, proba=pd.DataFrame(PROBA4))
    assert p.classes.tolist() == expected.classes.tolist()
    np.testing.assert_array_equal(p.proba, expected.proba)
    assert p.errors.tolist() == ERRORS4


def test_y_pred_is_the_argmax_of_proba_when_not_given():
    p = Predictions(Y4, proba=PROBA4)
    assert p.y_pred.tolist() == PRED4
    assert p.errors.tolist() == ERRORS4


def test_given_y_pred_is_kept_even_when_it_disagrees_with_proba():
    p = Predictions(Y4, ["b", "b", "b", "b"], proba=PROBA4)
    assert p.y_pred.tolist() == ["b", "b", "b", "b"]
    assert p.errors.tolist() == [True, False, False, True]
    np.testing.assert_array_equal(p.proba, PROBA4)


def test_errors_equal_y_pred_not_equal_to_y_true_computed_by_hand():
    y_true = ["cat", "dog", "bird", "dog", "cat", "bird"]
    y_pred = ["cat", "cat", "bird", "dog", "bird", "dog"]
    p = Predictions(y_true, y_pred)
    assert p.errors.dtype == bool
    assert p.errors.tolist() == [False, True, False, False, True, True]
    assert p.n == len(p) == 6


def test_from_frame_matches_integer_proba_columns_in_any_order():
    p = Predictions.from_frame(_table(), target="y", proba="p_*", id="id")
    assert p.classes.tolist() == [0, 1]
    assert p.classes.dtype.kind == "i"
    np.testing.assert_array_equal(p.proba, [[0.8, 0.2], [0.1, 0.9], [0.6, 0.4], [0.7, 0.3]])
    assert p.y_pred.tolist() == [0, 1, 0, 0]
    assert p.errors.tolist() == [False, False, True, False]
    assert p.ids.tolist() == [10, 11, 12, 13]
    assert p.feature_names == ["x"]  # every column not otherwise used


def test_from_frame_matches_string_class_names_with_symbols():
    df = pd.DataFrame(
        {
            "income": ["<=50K", ">50K", ">50K"],
            "p_>50K": [0.2, 0.9, 0.4],
            "p_<=50K": [0.8, 0.1, 0.6],
        }
    )
    p = Predictions.from_frame(df, target="income", proba="p_*", features=[])
    assert p.classes.tolist() == ["<=50K", ">50K"]
    np.testing.assert_array_equal(p.proba, [[0.8, 0.2], [0.1, 0.9], [0.6, 0.4]])
    assert p.y_pred.tolist() == ["<=50K", ">50K", "<=50K"]
    assert p.errors.tolist() == [False, False, True]
    assert p.features is None


def test_from_frame_glob_respects_given_classes():
    df = pd.DataFrame({"y": ["a", "b", "c"], "p_c": [0.1, 0.2, 0.7]})
    df = df.assign(p_a=[0.8, 0.1, 0.1], p_b=[0.1, 0.7, 0.2])
    p = Predictions.from_frame(df, target="y", proba="p_*", classes=["b", "c", "a"])
    assert p.classes.tolist() == ["b", "c", "a"]
    np.testing.assert_array_equal(p.proba, df[["p_b", "p_c", "p_a"]].to_numpy())
    assert p.errors.tolist() == [False, False, False]


def test_from_frame_proba_glob_keeps_a_class_the_labels_never_show():
    p = Predictions.from_frame(_table().assign(p_2=0.0), target="y", proba="p_*")
    assert p.task == "multiclass"
    assert p.classes.tolist() == [0, 1, 2]
    np.testing.assert_array_equal(p.proba[:, 2], [0.0] * 4)


def test_from_frame_proba_list_is_in_class_order():
    p = Predictions.from_frame(_table(), target="y", proba=["p_0", "p_1"], features=["x"])
    np.testing.assert_array_equal(p.proba, [[0.8, 0.2], [0.1, 0.9], [0.6, 0.4], [0.7, 0.3]])
    assert p.ids.tolist() == [0, 1, 2, 3]


def test_from_frame_proba_glob_ignores_the_target_column():
    df = pd.DataFrame({"p_label": [0, 1], "p_0": [0.6, 0.3], "p_1": [0.4, 0.7]})
    p = Predictions.from_frame(df, target="p_label", proba="p_*")
    assert p.classes.tolist() == [0, 1]
    np.testing.assert_array_equal(p.proba, [[0.6, 0.4], [0.3, 0.7]])


def test_from_frame_with_pred_column_and_no_proba():
    df = pd.DataFrame({"y": ["a", "b", "a"], "pred": ["a", "a", "a"], "x": [1, 2, 3]})
    p = Predictions.from_frame(df, target="y", pred="pred")
    assert p.proba is None
    assert p.errors.tolist() == [False, True, False]
    assert p.feature_names == ["x"]


# --------------------------------------------------------------------------- regression
def test_regression_default_tolerance_is_the_90th_percentile_of_absolute_error():
    p = Predictions(REG_TRUE, REG_PRED)
    abs_err = np.abs(np.array(REG_PRED) - np.array(REG_TRUE))
    assert p.tolerance == pytest.approx(REG_TOL90)
    assert p.tolerance == pytest.approx(np.percentile(abs_err, 90))
    assert "90th percentile" in p.tolerance_source
    assert p.tolerance_source.startswith("default")
    assert p.errors.tolist() == [False, False, True, False, False]
    assert p.errors.tolist() == (abs_err > REG_TOL90).tolist()


def test_regression_given_tolerance_is_used_with_strict_inequality():
    p = Predictions(REG_TRUE, REG_PRED, tolerance=0.5)
    assert p.tolerance == 0.5
    assert p.tolerance_source == "given"
    # |error| = [0.5, 0, 2, 1, 0.5]: exactly 0.5 is not an error
    assert p.errors.tolist() == [False, False, True, True, False]


def test_regression_zero_tolerance_flags_every_inexact_prediction():
    p = Predictions(REG_TRUE, REG_PRED, tolerance=0)
    assert p.errors.tolist() == [True, False, True, True, True]


def test_regression_from_frame_passes_tolerance():
    df = pd.DataFrame({"y": REG_TRUE, "yhat": REG_PRED})
    p = Predictions.from_frame(df, target="y", pred="yhat", tolerance=1.0)
    assert p.task == "regression"
    assert p.errors.tolist() == [False, False, True, False, False]


# --------------------------------------------------------------------------- input types
def _as_list(v):
    return list(v)


def _as_array(v):
    return np.asarray(v)


def _as_series(v):
    # A non-default index: rows are taken by position, never aligned by label.
    return pd.Series(list(v), index=range(100, 100 + len(v)))


def _as_frame(v):
    return pd.DataFrame({"col": list(v)}, index=range(50, 50 + len(v)))


def _as_categorical(v):
    return pd.Series(list(v), dtype="category")


CONVERTERS = [
    pytest.param(_as_list, id="list"),
    pytest.param(_as_array, id="ndarray"),
    pytest.param(_as_series, id="Series"),
    pytest.param(_as_frame, id="DataFrame"),
]
LABELS = [
    pytest.param(["b", "a", "c", "a", "b"], ["b", "c", "c", "a", "a"], id="str"),
    pytest.param([2, 0, 5, 0, 2], [2, 5, 5, 0, 0], id="int"),
]


@pytest.mark.parametrize("convert", [*CONVERTERS, pytest.param(_as_categorical, id="category")])
@pytest.mark.parametrize(("y_true", "y_pred"), LABELS)
def test_same_result_for_every_label_container(convert, y_true, y_pred):
    p = Predictions(convert(y_true), convert(y_pred), ids=convert([f"r{i}" for i in range(5)]))
    assert isinstance(p.y_true, np.ndarray)
    assert isinstance(p.y_pred, np.ndarray)
    assert p.task == "multiclass"
    assert p.classes.tolist() == sorted(set(y_true))
    assert p.y_true.tolist() == y_true
    assert p.y_pred.tolist() == y_pred
    assert p.errors.tolist() == [False, True, False, False, True]
    assert p.ids.tolist() == ["r0", "r1", "r2", "r3", "r4"]


@pytest.mark.parametrize("convert", CONVERTERS)
def test_same_regression_result_for_every_container(convert):
    p = Predictions(convert(REG_TRUE), convert(REG_PRED))
    assert p.task == "regression"
    assert p.y_true.tolist() == REG_TRUE
    assert p.tolerance == pytest.approx(REG_TOL90)
    assert p.errors.tolist() == [False, False, True, False, False]


@pytest.mark.parametrize(
    "proba",
    [
        pytest.param(PROBA4, id="list"),
        pytest.param(np.array(PROBA4), id="ndarray"),
        pytest.param(pd.DataFrame(PROBA4, columns=["a", "b"]), id="DataFrame"),
        pytest.param(pd.Series([0.1, 0.8, 0.4, 0.7]), id="Series-1d"),
    ],
)
@pytest.mark.parametrize("convert", CONVERTERS)
def test_same_result_for_every_proba_container(proba, convert):
    p = Predictions(convert(Y4), proba=proba)
    np.testing.assert_allclose(p.proba, PROBA4)
    assert p.y_pred.tolist() == PRED4
    assert p.errors.tolist() == ERRORS4


@pytest.mark.parametrize(
    "features",
    [
        pytest.param(pd.DataFrame({"x0": [1.0, 2.0, 3.0, 4.0]}), id="DataFrame"),
        pytest.param(pd.Series([1.0, 2.0, 3.0, 4.0], name="x0"), id="Series"),
        pytest.param(np.array([[1.0], [2.0], [3.0], [4.0]]), id="ndarray"),
        pytest.param([1.0, 2.0, 3.0, 4.0], id="list"),
        pytest.param({"x0": [1.0, 2.0, 3.0, 4.0]}, id="dict"),
    ],
)
def test_features_accept_frames_arrays_and_dicts(features):
    p = Predictions(Y4, PRED4, features=features)
    assert p.feature_names == ["x0"]
    assert p.feature("x0").tolist() == [1.0, 2.0, 3.0, 4.0]
    assert list(p.features.index) == [0, 1, 2, 3]


# --------------------------------------------------------------------------- immutability
def _rich_inputs() -> dict:
    """40 rows with every optional input, proba columns named by class out of order."""
    rng = np.random.default_rng(0)
    y_true = np.array(["b", "a", "c", "a"] * 10, dtype=object)
    raw = rng.random((40, 3))
    proba = pd.DataFrame(raw / raw.sum(axis=1, keepdims=True), columns=["c", "a", "b"])
    features = pd.DataFrame(
        {
            "sex": ["F", "M", None, "M"] * 10,
            "age": [21.0, np.nan, 45.0, 63.0] * 10,
        },
        index=range(100, 140),
    )
    return {
        "y_true": y_true,
        "proba": proba,
        "features": features,
        "ids": np.arange(1000, 1040),
        "embeddings": rng.normal(size=(40, 2)),
    }


def _assert_same(original: dict, now: dict) -> None:
    for key, value in original.items():
        if isinstance(value, pd.DataFrame):
            pd.testing.assert_frame_equal(now[key], value)
        else:
            np.testing.assert_array_equal(now[key], value)
            assert now[key].dtype == value.dtype


def test_inputs_are_not_mutated_by_construction_or_analysis():
    inputs = _rich_inputs()
    original = {k: v.copy() for k, v in inputs.items()}
    p = Predictions(**inputs)
    _assert_same(original, inputs)
    tk.compute_metrics(p)
    tk.slice_metrics(p, by=["sex", "age"])
    _assert_same(original, inputs)


def test_from_frame_does_not_mutate_the_table():
    df = _table().assign(sex=["F", None, "M", "F"])
    df.columns = pd.Index(["y", "p_1", "p_0", "x", "id", "sex"])
    original = df.copy(deep=True)
    p = Predictions.from_frame(df, target="y", proba="p_*", id="id")
    tk.compute_metrics(p)
    tk.slice_metrics(p, by=["sex", "x"])
    pd.testing.assert_frame_equal(df, original)


def test_list_inputs_are_not_mutated():
    y_true, proba = list(Y4), [list(row) for row in PROBA4]
    Predictions(y_true, proba=proba, classes=["a", "b"])
    assert y_true == Y4
    assert proba == PROBA4


def test_later_changes_to_the_inputs_do_not_reach_the_predictions():
    inputs = _rich_inputs()
    p = Predictions(**inputs)
    before = p.to_frame()
    inputs["y_true"][:] = "a"
    inputs["proba"].iloc[:, :] = 0.0
    inputs["features"].iloc[:, 0] = "Z"
    inputs["features"].iloc[:, 1] = -1.0
    inputs["ids"][:] = 0
    inputs["embeddings"][:] = 0.0
    pd.testing.assert_frame_equal(p.to_frame(), before)
    assert np.all(p.embeddings != 0.0)


def test_stored_arrays_are_read_only():
    p = Predictions(**_rich_inputs())
    for name in ("y_true", "y_pred", "proba", "errors", "ids", "embeddings", "classes"):
        arr = getattr(p, name)
        assert not arr.flags.writeable, name
        with pytest.raises(ValueError, match="read-only"):
            arr[0] = arr[1]


def test_regression_arrays_are_read_only():
    p = Predictions(REG_TRUE, REG_PRED)
    for arr in (p.y_true, p.y_pred, p.errors, p.ids):
        assert not arr.flags.writeable


def test_features_property_returns_a_copy():
    p = Predictions(**_rich_inputs())
    f = p.features
    f.iloc[0, 0] = "changed"
    f["extra"] = 1
    assert p.features.iloc[0, 0] == "F"
    assert p.feature_names == ["sex", "age"]
    s = p.feature("age")
    s.iloc[0] = -1.0
    assert p.feature("age").iloc[0] == 21.0


# --------------------------------------------------------------------------- missing features
def test_missing_values_in_features_are_kept():
    inputs = _rich_inputs()
    p = Predictions(**inputs)
    f = p.features
    assert f["sex"].isna().sum() == 10
    assert f["age"].isna().sum() == 10
    assert list(f.index) == list(range(40))  # row-aligned by position
    slices = tk.slice_metrics(p, by=["sex", "age"])
    assert {"sex = (missing)", "age = (missing)"} <= set(slices.table["slice"])


def test_from_frame_accepts_missing_feature_values():
    df = pd.DataFrame(
        {
            "y": ["a", "b", "a", "b"],
            "pred": ["a", "a", "a", "b"],
            "city": ["x", None, pd.NA, "y"],
            "income": [1.0, np.nan, 3.0, None],
        }
    )
    p = Predictions.from_frame(df, target="y", pred="pred")
    assert p.feature_names == ["city", "income"]
    assert p.features["city"].isna().tolist() == [False, True, True, False]
    assert p.features["income"].isna().tolist() == [False, True, False, True]


# --------------------------------------------------------------------------- from_model
@pytest.fixture(scope="module")
def wine():
    from sklearn.datasets import load_wine
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_wine(return_X_y=True, as_frame=True)
    names = np.array(["barolo", "grignolino", "barbera"], dtype=object)
    y = pd.Series(names[y.to_numpy()], name="cultivar")
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    return model, X, y


def test_from_model_classifier_uses_model_classes_and_predictions(wine):
    model, X, y = wine
    p = Predictions.from_model(model, X, y)
    assert p.task == "multiclass"
    assert p.classes.tolist() == model.classes_.tolist()
    np.testing.assert_allclose(p.proba, model.predict_proba(X))
    assert p.y_pred.tolist() == model.predict(X).tolist()
    assert p.errors.tolist() == (model.predict(X) != y.to_numpy()).tolist()
    assert p.feature_names == list(X.columns)  # X is a DataFrame: it is the features


def test_from_model_binary_classifier_on_breast_cancer():
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    ids = [f"patient-{i}" for i in range(len(y))]
    p = Predictions.from_model(model, X, y, ids=ids)
    assert p.task == "binary"
    assert p.classes.tolist() == [0, 1]
    np.testing.assert_allclose(p.proba, model.predict_proba(X))
    assert p.y_pred.tolist() == model.predict(X).tolist()
    assert p.features is None  # X is an ndarray and no features were given
    assert p.ids[0] == "patient-0"


def test_from_model_follows_an_unsorted_classes_attribute():
    class Fixed:
        """A fitted classifier whose classes_ are not in sorted order."""

        classes_ = np.array(["yes", "no"], dtype=object)

        def predict(self, X):
            return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

        def predict_proba(self, X):
            return np.column_stack([np.asarray(X, dtype=float), 1 - np.asarray(X, dtype=float)])

    p = Predictions.from_model(Fixed(), [0.9, 0.2, 0.6], ["yes", "no", "no"])
    assert p.classes.tolist() == ["yes", "no"]
    np.testing.assert_allclose(p.proba, [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    assert p.y_pred.tolist() == ["yes", "no", "yes"]
    assert p.errors.tolist() == [False, False, True]


def test_from_model_regressor_gives_a_regression_task():
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import LinearRegression

    X, y = load_diabetes(return_X_y=True, as_frame=True)
    model = LinearRegression().fit(X, y)
    p = Predictions.from_model(model, X, y)
    assert p.task == "regression"
    assert p.proba is None
    np.testing.assert_allclose(p.y_pred, model.predict(X))
    abs_err = np.abs(model.predict(X) - y.to_numpy())
    assert p.tolerance == pytest.approx(np.percentile(abs_err, 90))
    assert p.errors.sum() == (abs_err > np.percentile(abs_err, 90)).sum()

    given = Predictions.from_model(model, X, y, tolerance=50.0)
    assert given.tolerance_source == "given"
    assert given.errors.tolist() == (abs_err > 50.0).tolist()


def test_from_model_does_not_mutate_X_or_y(wine):
    model, X, y = wine
    X_before, y_before = X.copy(deep=True), y.copy(deep=True)
    p = Predictions.from_model(model, X, y)
    tk.compute_metrics(p)
    pd.testing.assert_frame_equal(X, X_before)
    pd.testing.assert_series_equal(y, y_before)


@pytest.mark.parametrize("model", [object(), "a model", {"predict": None}], ids=repr)
def test_from_model_rejects_an_object_without_predict(model):
    expected = r"from_model: model must be an object with a predict method, got"
    with pytest.raises(ToolkitTypeError, match=expected) as info:
        Predictions.from_model(model, [[0.0], [1.0]], [0, 1])
    assert isinstance(info.value, TypeError)


def test_from_model_rejects_tolerance_for_a_classifier(wine):
    model, X, y = wine
    with pytest.raises(ValidationError, match=r"tolerance applies to regression only"):
        Predictions.from_model(model, X, y, tolerance=0.5)


# --------------------------------------------------------------------------- to_frame
ROUND_TRIPS = [
    pytest.param(
        ["a", "c", "b", "a"],
        [[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.3, 0.3, 0.4], [0.2, 0.5, 0.3]],
        ["r1", "r2", "r3", "r4"],
        id="str",
    ),
    pytest.param(
        [0, 2, 1, 0],
        [[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.3, 0.3, 0.4], [0.2, 0.5, 0.3]],
        [101, 102, 103, 104],
        id="int",
    ),
    pytest.param([True, False, True, True], PROBA4, [1, 2, 3, 4], id="bool"),
    pytest.param(["<=50K", ">50K", ">50K", "<=50K"], PROBA4, ["a", "b", "c", "d"], id="symbols"),
]


@pytest.mark.parametrize(("y_true", "proba", "ids"), ROUND_TRIPS)
def test_to_frame_round_trips_through_from_frame(y_true, proba, ids):
    features = pd.DataFrame({"x": [1.0, None, 3.0, 4.0], "s": ["u", "v", None, "u"]})
    p = Predictions(y_true, proba=proba, ids=ids, features=features)
    frame = p.to_frame()
    assert frame["error"].tolist() == p.errors.tolist()
    q = Predictions.from_frame(
        frame, target="y_true", pred="y_pred", proba="p_*", id="id", features=["x", "s"]
    )
    assert q.y_true.tolist() == p.y_true.tolist() == list(y_true)
    assert q.y_pred.tolist() == p.y_pred.tolist()
    assert q.classes.tolist() == p.classes.tolist()
    np.testing.assert_array_equal(q.proba, p.proba)
    assert q.ids.tolist() == list(ids)
    assert q.errors.tolist() == p.errors.tolist()
    pd.testing.assert_frame_equal(q.features, p.features)


def test_to_frame_columns():
    p = Predictions(Y4, proba=PROBA4, features={"x": [1, 2, 3, 4], "error": [0, 0, 1, 1]})
    frame = p.to_frame()
    assert list(frame.columns) == ["id", "y_true", "y_pred", "error", "p_a", "p_b", "x"] + [
        "feature_error"
    ]
    assert frame["error"].tolist() == ERRORS4
    assert frame["feature_error"].tolist() == [0, 0, 1, 1]


# --------------------------------------------------------------------------- properties
@st.composite
def labelled_probabilities(draw):
    k = draw(st.integers(min_value=2, max_value=5))
    n = draw(st.integers(min_value=k, max_value=25))
    if draw(st.booleans()):
        pool = draw(st.lists(st.integers(-100, 100), min_size=k, max_size=k, unique=True))
    else:
        text = st.text(alphabet="abcXYZ<>=_ 01", min_size=1, max_size=4)
        pool = draw(st.lists(text, min_size=k, max_size=k, unique=True))
    # every class appears at least once, in an unsorted order
    extra = draw(st.lists(st.integers(0, k - 1), min_size=n - k, max_size=n - k))
    codes = draw(st.permutations(list(range(k)) + extra))
    weights = draw(
        st.lists(
            st.lists(st.floats(0, 1, allow_subnormal=False), min_size=k, max_size=k),
            min_size=n,
            max_size=n,
        )
    )
    w = np.array(weights)
    w[w.sum(axis=1) == 0] = 1.0
    proba = w / w.sum(axis=1, keepdims=True)  # columns in the order of sorted(pool)
    y_true = [pool[c] for c in codes]
    return y_true, proba


@settings(max_examples=60, deadline=None)
@given(labelled_probabilities())
def test_property_errors_are_argmax_mismatches(case):
    y_true, proba = case
    p = Predictions(y_true, proba=proba)
    classes = sorted(set(y_true))
    assert p.classes.tolist() == classes
    assert all(a < b for a, b in zip(classes, classes[1:]))  # sorted, unique
    np.testing.assert_allclose(p.proba.sum(axis=1), 1.0, atol=1e-9)
    expected_pred = [classes[j] for j in np.argmax(proba, axis=1)]
    assert p.y_pred.tolist() == expected_pred
    assert p.errors.tolist() == [pred != true for pred, true in zip(expected_pred, y_true)]
    assert p.task == ("binary" if len(classes) == 2 else "multiclass")


def test_ragged_probability_rows_are_a_type_error_naming_proba():
    with pytest.raises(ToolkitTypeError, match=r"proba must be a rectangular table of numbers"):
        Predictions([0, 1], proba=[[0.5, 0.5], [1.0]])


def test_row_hashes_follow_the_rows_not_their_positions():
    y, pred = [0, 1, 1, 0], [0, 1, 0, 0]
    features = pd.DataFrame({"a": ["x", "y", "y", "x"], "b": [1.0, 2.0, 3.0, 1.0]})
    h = Predictions(y, pred, features=features).row_hashes()
    assert h.dtype == np.uint64 and h[0] == h[3] and len(set(h[:3].tolist())) == 3
    order = [2, 0, 3, 1]
    moved = Predictions(
        [y[i] for i in order], [pred[i] for i in order], features=features.iloc[order]
    ).row_hashes()
    assert moved.tolist() == h[order].tolist()
    # with ids, the id alone: equal rows with other ids hash apart, other values alike
    by_id = Predictions(y, pred, features=features, ids=["a", "b", "c", "d"]).row_hashes()
    other = Predictions(y, [1, 1, 1, 1], ids=["a", "b", "c", "d"]).row_hashes()
    assert by_id[0] != by_id[3] and by_id.tolist() == other.tolist()


# ---------------------------------------------------------------------- weights and images
@pytest.mark.parametrize(
    ("weights", "error", "says"),
    [
        ([1, 2], "LengthMismatchError", "sample_weight has 2 rows but y_true has 3"),
        ([1, -1, 2], "InvalidValueError", "rows [1] hold [-1.0]"),
        ([0, 0, 0], "InvalidValueError", "sample_weight is 0 on every row"),
        ([True, False, True], "ToolkitTypeError", "not booleans"),
        ([1, float("nan"), 1], "InvalidValueError", "NaN or infinite values in 1 row(s): [1]"),
        (["a", "b", "c"], "ToolkitTypeError", "sample_weight must be numeric"),
    ],
)
def test_bad_sample_weights_are_refused_naming_the_problem(weights, error, says):
    with pytest.raises(Exception) as caught:
        tk.Predictions([0, 1, 1], [0, 1, 0], sample_weight=weights)
    assert type(caught.value).__name__ == error
    assert says in str(caught.value)


def test_sample_weight_is_kept_read_only_and_the_callers_array_untouched():
    given = np.array([1, 2, 3])
    p = tk.Predictions([0, 1, 1], [0, 1, 0], sample_weight=given)
    assert p.sample_weight.tolist() == [1.0, 2.0, 3.0] and p.sample_weight.dtype == np.float64
    with pytest.raises(ValueError):
        p.sample_weight[0] = 5.0
    given[0] = 7
    assert p.sample_weight[0] == 1.0 and given.tolist() == [7, 2, 3]
    unweighted = tk.Predictions([0, 1, 1], [0, 1, 0])
    assert unweighted.sample_weight is None and unweighted.weights.tolist() == [1.0, 1.0, 1.0]


def test_from_frame_takes_weight_and_image_columns_and_keeps_them_out_of_features(tmp_path):
    paths = []
    for i in range(3):
        path = tmp_path / f"img{i}.png"
        path.write_bytes(b"not checked here")
        paths.append(str(path))
    df = pd.DataFrame({"y": [0, 1, 1], "pred": [0, 1, 0], "w": [1.0, 0.5, 2.0], "img": paths})
    df["age"] = [30, 40, 50]
    before = df.copy()
    p = tk.Predictions.from_frame(df, "y", "pred", sample_weight="w", images="img")
    assert p.feature_names == ["age"]
    assert p.sample_weight.tolist() == [1.0, 0.5, 2.0]
    assert p.images.tolist() == paths
    pd.testing.assert_frame_equal(df, before)


@pytest.mark.parametrize(
    ("images", "says"),
    [
        (np.zeros((3, 8)), "got shape (3, 8)"),
        (np.zeros((3, 8, 8, 2)), "got shape (3, 8, 8, 2)"),
        (np.zeros((2, 8, 8)), "images has 2 rows but y_true has 3"),
        (np.full((3, 2, 2), np.nan), "NaN or infinite values in 3 image(s)"),
        (["a.png", "b.png", "c.png"], "3 of 3 file(s) do not exist, first 'a.png' (row 0)"),
    ],
)
def test_bad_images_are_refused_naming_the_problem(images, says):
    with pytest.raises(ToolkitError) as e:
        tk.Predictions([0, 1, 1], [0, 1, 0], images=images)
    assert says in str(e.value)


def test_image_arrays_are_copied_and_read_only():
    given = np.arange(3 * 2 * 2, dtype=np.uint8).reshape(3, 2, 2)
    p = tk.Predictions([0, 1, 1], [0, 1, 0], images=given)
    given[0, 0, 0] = 99
    assert p.images[0, 0, 0] == 0 and p.images.shape == (3, 2, 2)
    with pytest.raises(ValueError):
        p.images[0, 0, 0] = 1
