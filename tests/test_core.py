"""The shared core: conditions as objects, the parameter checks, the JSON encoder and the
result base, each on hand-computed cases."""

from __future__ import annotations

import json
import re
from numbers import Integral, Real

import numpy as np
import pandas as pd
import pytest

import toolkit as tk
from toolkit._json import dumps, frame_records, json_safe, to_python
from toolkit._result import Result
from toolkit._validation import (
    ARRAY_LIKE,
    BOOLEAN,
    STR_LIST,
    HasMethods,
    Interval,
    Options,
    check_param,
    validate_params,
)
from toolkit.exceptions import (
    ColumnNotFoundError,
    InvalidValueError,
    ToolkitTypeError,
    ValidationError,
)

FRAME = pd.DataFrame(
    {
        "age": [17.0, 25.0, 30.0, 45.0, np.nan],
        "sex": ["F", "M", "F", None, "M"],
        "n": [0, 1, 2, 3, 4],
    }
)


# ------------------------------------------------------------------------- conditions
@pytest.mark.parametrize(
    ("column", "op", "value", "rows", "label"),
    [
        ("age", "==", 25, [1], "age = 25"),
        ("sex", "==", "F", [0, 2], "sex = F"),
        ("sex", "not in", ["F"], [1, 4], "sex ≠ F"),
        ("n", "not in", [0, 1], [2, 3, 4], "n ∉ {0, 1}"),
        ("age", "is missing", None, [4], "age is missing"),
        ("sex", "not missing", None, [0, 1, 2, 4], "sex is not missing"),
        ("age", "<", 30, [0, 1], "age < 30"),
        ("age", "<=", 30, [0, 1, 2], "age ≤ 30"),
        ("age", ">", 30, [3], "age > 30"),
        ("age", ">=", 30, [2, 3], "age ≥ 30"),
        ("age", "in [)", [25, 45], [1, 2], "age ∈ [25, 45)"),
        ("age", "in (]", [25, 45], [2, 3], "age ∈ (25, 45]"),
        ("age", "in []", [25, 45], [1, 2, 3], "age ∈ [25, 45]"),
        ("age", "in ()", [25, 45], [2], "age ∈ (25, 45)"),
        ("age", "in [)", [0.125, 1.5e6], [0, 1, 2, 3], "age ∈ [0.125, 1500000)"),
        ("age", "<", 2.5e-7, [], "age < 2.5e-07"),
    ],
)
def test_each_operator_selects_the_rows_by_hand(column, op, value, rows, label):
    c = tk.Condition(column, op, value)
    assert np.flatnonzero(c.mask(FRAME)).tolist() == rows
    assert c.label == str(c) == label
    # the JSON form round-trips, intervals and sets as lists
    d = c.to_dict()
    assert d == {"column": column, "op": op, "value": value}
    assert tk.Condition.from_dict(json.loads(json.dumps(d))) == c


def test_a_condition_keeps_its_own_text_without_changing_its_rows():
    c = tk.Condition("sex", "not in", ["F", "M"], text="sex = (other)")
    assert c.label == "sex = (other)" and c.mask(FRAME).tolist() == [False] * 5
    assert c.to_dict() == {"column": "sex", "op": "not in", "value": ["F", "M"]}


def test_numpy_values_become_python_values():
    c = tk.Condition("age", "in [)", (np.float64(25), np.int64(45)))
    assert c.value == (25.0, 45) and type(c.value[1]) is int
    assert tk.Condition("n", "==", np.int64(2)).to_dict()["value"] == 2


def test_a_pattern_is_the_conjunction():
    p = tk.Pattern((tk.Condition("sex", "==", "F"), {"column": "age", "op": ">=", "value": 20}))
    assert p.label == "sex = F ∧ age ≥ 20" and len(p) == 2
    assert np.flatnonzero(p.mask(FRAME)).tolist() == [2]
    assert p.to_dict() == [
        {"column": "sex", "op": "==", "value": "F"},
        {"column": "age", "op": ">=", "value": 20},
    ]
    assert tk.Pattern.from_dicts(p.to_dict()) == p
    assert tk.Pattern(()).mask(FRAME).all() and tk.Pattern(()).label == ""
    assert json_safe({"rule": p}) == {"rule": p.to_dict()}


def test_bad_conditions_are_named():
    with pytest.raises(ValidationError, match=r"unknown condition op '~'"):
        tk.Condition("x", "~", 1)
    with pytest.raises(ToolkitTypeError, match=r"condition 'x' 'in \[\)' needs a list"):
        tk.Condition("x", "in [)", 3)
    with pytest.raises(ValidationError, match=r"needs \(low, high\), got \(1, 2, 3\)"):
        tk.Condition("x", "in [)", [1, 2, 3])
    with pytest.raises(ValidationError, match=r"lacks \['op'\]"):
        tk.Condition.from_dict({"column": "x"})
    with pytest.raises(ToolkitTypeError, match="must be a dict"):
        tk.Condition.from_dict("x == 1")
    with pytest.raises(ToolkitTypeError, match="conditions must be a list"):
        tk.Pattern.from_dicts("x == 1")
    with pytest.raises(ColumnNotFoundError, match=r"needs column 'height'"):
        tk.Condition("height", ">", 1).mask(FRAME)


# ---------------------------------------------------------------------- parameter checks
@pytest.mark.parametrize(
    ("interval", "inside", "outside", "text"),
    [
        (Interval(Integral, 1, None), [1, 7, np.int64(3)], [0, -2], "an int in [1, inf)"),
        (Interval(Real, 0, 1, closed="neither"), [0.5, 1e-9], [0, 1, 1.5], "a number in (0, 1)"),
        (Interval(Real, 0, 1, closed="left"), [0, 0.99], [1, -0.1], "a number in [0, 1)"),
        (Interval(Real, None, 0, closed="right"), [-5.0, 0], [0.1], "a number in (-inf, 0]"),
        (Interval(Real, None, None), [-1e9, 3], [float("nan"), float("inf")], "a number"),
    ],
)
def test_intervals_by_hand(interval, inside, outside, text):
    assert str(interval) == text
    for v in inside:
        check_param("x", v, [interval])
    for v in outside:
        with pytest.raises(InvalidValueError, match=re.escape(f"x must be {text}, got")):
            check_param("x", v, [interval])
    assert interval.outside() is None or interval.outside() not in interval


def test_types_options_and_bools():
    with pytest.raises(
        ToolkitTypeError, match=r"x must be an int in \[1, inf\), got True \(bool\)"
    ):
        check_param("x", True, [Interval(Integral, 1, None)])
    with pytest.raises(ToolkitTypeError, match="got 1.5"):
        check_param("x", 1.5, [Interval(Integral, 1, None)])
    check_param("flag", np.bool_(True), [BOOLEAN])
    with pytest.raises(ToolkitTypeError, match="flag must be a bool, got 1"):
        check_param("flag", 1, [BOOLEAN])
    with pytest.raises(InvalidValueError, match=r"how must be one of 'a', 'b' or None, got 'c'"):
        check_param("how", "c", [Options(["a", "b"]), None])
    with pytest.raises(ToolkitTypeError, match=r"how must be one of 'a', 'b', got 3"):
        check_param("how", 3, [Options(["a", "b"])])
    check_param("cols", ("a", "b"), [STR_LIST])
    with pytest.raises(ToolkitTypeError, match=r"e.g. cols=\['a'\]"):
        check_param("cols", "a", [STR_LIST])
    check_param("rows", pd.Series([1]), [ARRAY_LIKE])
    with pytest.raises(ToolkitTypeError, match="rows must be array-like"):
        check_param("rows", "abc", [ARRAY_LIKE])
    with pytest.raises(ToolkitTypeError, match="model must be an object with a predict method"):
        check_param("model", object(), [HasMethods("predict")])


def test_the_decorator_checks_bound_arguments_and_keeps_the_signature():
    calls = []

    @validate_params({"k": [Interval(Integral, 1, None)], "how": [Options(["x"])]})
    def pick(data, k=1, *, how="x"):
        """Pick k."""
        calls.append((data, k, how))
        return k

    assert pick([1], 2) == 2 and pick.__doc__ == "Pick k." and pick.__name__ == "pick"
    with pytest.raises(InvalidValueError, match="pick: k must be"):
        pick([1], 0)
    with pytest.raises(InvalidValueError, match="pick: how must be"):
        pick([1], how="y")
    assert calls == [([1], 2, "x")]  # a refused call does no work
    with pytest.raises(TypeError, match="unexpected keyword"):
        pick([1], nope=1)  # Python's own message for a wrong call
    with pytest.raises(ValueError, match=r"has no parameter\(s\) \['z'\]"):
        validate_params({"z": [None]})(lambda a: a)


# ----------------------------------------------------------------------------- JSON
def test_json_safe_by_hand():
    value = {
        1: np.float64(np.nan),
        "arr": np.array([np.int64(1), 2]),
        "tuple": (np.bool_(True), pd.NA, pd.NaT, float("inf")),
        "frame": pd.DataFrame({"a": [1.5, np.nan]}),
        "obj": object,
    }
    assert json_safe(value) == {
        "1": None,
        "arr": [1, 2],
        "tuple": [True, None, None, None],
        "frame": [{"a": 1.5}, {"a": None}],
        "obj": "<class 'object'>",
    }
    assert type(to_python(np.int32(4))) is int
    assert frame_records(pd.DataFrame({"x": [np.int64(2)]})) == [{"x": 2}]
    assert json.loads(dumps({"é": np.float32(0.5)}, indent=None)) == {"é": 0.5}
    assert "é" in dumps({"é": 1})  # UTF-8 kept, not escaped


# --------------------------------------------------------------------------- results
def test_every_analysis_result_is_a_frozen_result_with_a_table():
    from dataclasses import FrozenInstanceError, dataclass

    @dataclass(frozen=True, repr=False, eq=False)
    class Counted(Result):
        n_rows: int

    r = Counted(pd.DataFrame({"a": [1, 2, 3]}), n_rows=np.int64(3))
    assert len(r) == 3 and r.meta == {"n_rows": 3}
    assert r.to_dict() == {"n_rows": 3, "table": [{"a": 1}, {"a": 2}, {"a": 3}]}
    assert repr(r) == "Counted(3 rows, n_rows=3)"
    copy = r.to_frame()
    copy.loc[0, "a"] = 99
    assert r.table.loc[0, "a"] == 1  # to_frame is a copy
    with pytest.raises(FrozenInstanceError):
        r.n_rows = 4  # type: ignore[misc]
    assert r != Counted(r.table, n_rows=3)  # identity, not a DataFrame comparison
    html = Counted(pd.DataFrame({"<b>": ["<i>x</i>"] * 25}), n_rows=25)._repr_html_()
    assert "<i>x</i>" not in html and "&lt;i&gt;x&lt;/i&gt;" in html
    assert "20 of 25 rows shown" in html


def test_condition_values_must_fit_their_operator():
    with pytest.raises(ToolkitTypeError, match=r"'age' '<' compares with numbers, got '25'"):
        tk.Condition("age", "<", "25")
    with pytest.raises(ToolkitTypeError, match="compares with numbers, got None"):
        tk.Condition("age", "in [)", (None, 25))
    with pytest.raises(ValidationError, match=r"low > high: \(5, 1\)"):
        tk.Condition("age", "in [)", (5, 1))
    with pytest.raises(ToolkitTypeError, match=r"needs single values, got \['a'\]"):
        tk.Condition("s", "==", ["a"])
    with pytest.raises(ToolkitTypeError, match=r"needs single values, got \['a'\]"):
        tk.Condition("s", "not in", [["a"]])
    assert tk.Condition("age", "is missing", 3).value is None
    # the shown text is not part of what a condition is
    shown = tk.Condition("s", "not in", ["a"], text="s = (other)")
    assert shown == tk.Condition.from_dict(shown.to_dict()) and hash(shown)


def test_pandas_extension_arrays_and_series_pass_the_checks():
    check_param("y", pd.array([1, None], dtype="Int64"), [ARRAY_LIKE])
    check_param("y", pd.Categorical(["a", "b"]), [ARRAY_LIKE])
    check_param("by", pd.Series(["a", "b"]), [STR_LIST])
    with pytest.raises(InvalidValueError, match="got 1000000000000"):
        check_param("x", 10**400, [Interval(Real, 0, 1)])


def test_no_result_compares_by_its_tables():
    # every result type: identity equality and a hash, never "the truth value of a
    # DataFrame is ambiguous"
    import toolkit.analysis.chain
    import toolkit.analysis.clusters
    import toolkit.analysis.labeling
    import toolkit.analysis.labels
    import toolkit.analysis.leakage
    import toolkit.analysis.patterns
    import toolkit.analysis.slices
    import toolkit.analysis.tags
    import toolkit.tracking.compare  # noqa: F401

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    kinds = list(subclasses(Result)) + [tk.Metrics, tk.Diagnosis]
    assert len(kinds) >= 12
    for kind in kinds:
        assert kind.__eq__ is object.__eq__, f"{kind.__name__} compares by value"
        assert kind.__hash__ is object.__hash__, f"{kind.__name__} is not hashable"


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    from toolkit._files import write_atomic, write_text_atomic

    target = write_text_atomic(tmp_path / "out" / "r.json", "old")
    assert target.read_text() == "old"

    def half_then_fail(tmp):
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, half_then_fail)
    assert target.read_text() == "old"
    assert [p.name for p in target.parent.iterdir()] == ["r.json"]
