"""analyze_chain: a hand-made 3-stage chain written out by hand, overlap and compounding,
partial oracles, callable metrics, the error trace and every validation branch."""

from __future__ import annotations

import dataclasses
import functools
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import balanced_accuracy_score, f1_score

from toolkit._json import frame_records, json_safe
from toolkit._result import Result
from toolkit.analysis.chain import (
    CHAIN_COLUMNS,
    TRACE_COLUMNS,
    ChainAnalysis,
    ChainErrorTrace,
    Stage,
    StageError,
    analyze_chain,
    chain_section,
    chain_summary,
    trace_chain_errors,
)
from toolkit.exceptions import (
    EmptyInputError,
    InvalidValueError,
    LengthMismatchError,
    ToolkitError,
    ToolkitTypeError,
    ValidationError,
)


def three_stages(n, a_wrong, b_wrong, c_wrong):
    """A chain x -> a -> b -> c whose stages fail on fixed rows (by x mod 10).

    a should output x, b 10·a, c b + 1. Each stage adds its own error on its rows,
    on top of whatever arrived from upstream, so any error reaches the output.
    Returns (stages, inputs, y_true, oracles).
    """
    x = np.arange(n)
    a_rows = np.isin(x % 10, list(a_wrong))
    b_rows = np.isin(x % 10, list(b_wrong))
    c_rows = np.isin(x % 10, list(c_wrong))
    stages = [
        Stage("a", lambda inputs, up: np.where(a_rows, inputs + 100, inputs)),
        Stage("b", lambda inputs, up: 10 * up["a"] + b_rows),
        Stage("c", lambda inputs, up: up["b"] + 1 + c_rows),
    ]
    return stages, x, 10 * x + 1, {"a": x, "b": 10 * x}


@pytest.fixture
def hand_made():
    # a wrong on rows {0, 1}, b on {1, 2}, c on {3}: the system is wrong on {0, 1, 2, 3}
    return three_stages(10, {0, 1}, {1, 2}, {3})


def test_three_stage_chain_every_subset_written_out_by_hand(hand_made):
    stages, x, y, oracles = hand_made
    # System accuracy with each subset of stages replaced by its oracle (wrong rows):
    #   {}: {0,1,2,3} -> 0.6   {a}: {1,2,3} -> 0.7   {b}: {3} -> 0.9   {c}: {} -> 1.0
    #   {a,b}: {3} -> 0.9      {a,c}, {b,c}, {a,b,c}: {} -> 1.0
    # Shapley (weights 1/3 for |S| = 0 and 2, 1/6 for |S| = 1):
    #   a: 1/3·0.1 + 1/6·(0.9-0.9) + 1/6·(1-1) + 1/3·(1-1)            = 0.0333
    #   b: 1/3·0.3 + 1/6·(0.9-0.7) + 1/6·(1-1) + 1/3·(1-1)            = 0.1333
    #   c: 1/3·0.4 + 1/6·(1-0.7)   + 1/6·(1-0.9) + 1/3·(1-0.9)        = 0.2333
    # Sum 0.4 = 1 - 0.6; shares 1/12, 4/12, 7/12.
    result = analyze_chain(stages, x, y, oracles=oracles, n_boot=200)
    t = result.table
    assert list(t.columns) == CHAIN_COLUMNS
    assert t["stage"].tolist() == ["a", "b", "c"] * 2
    assert t["kind"].tolist() == ["single"] * 3 + ["cumulative"] * 3
    assert t["replaced"].tolist() == ["a", "b", "c", "a", "a + b", "a + b + c"]
    assert t["n"].tolist() == [10] * 6
    np.testing.assert_allclose(t["system_score"], [0.6] * 6)
    single, cumulative = t.iloc[:3], t.iloc[3:]
    np.testing.assert_allclose(single["system_score_with_oracle"], [0.7, 0.9, 1.0])
    np.testing.assert_allclose(single["gain_pp"], [10, 30, 40])
    np.testing.assert_allclose(single["shapley_pp"], [10 / 3, 40 / 3, 70 / 3])
    np.testing.assert_allclose(single["shapley_share"], [1 / 12, 4 / 12, 7 / 12])
    assert single["step_gain_pp"].isna().all()
    # the ceiling table: 60% -> 70% -> 90% -> 100%
    np.testing.assert_allclose(cumulative["system_score_with_oracle"], [0.7, 0.9, 1.0])
    np.testing.assert_allclose(cumulative["gain_pp"], [10, 30, 40])
    np.testing.assert_allclose(cumulative["step_gain_pp"], [10, 20, 10])
    assert cumulative[["shapley_pp", "shapley_share", "errors_started"]].isna().all().all()
    # stage scores given correct inputs: a 8/10, b 8/10 (rows 1, 2), c 9/10 (row 3)
    np.testing.assert_allclose(single["stage_score"], [0.8, 0.8, 0.9])
    # errors start at a on rows 0, 1, at b on row 2, at c on row 3
    assert single["errors_started"].tolist() == [2, 1, 1]
    np.testing.assert_allclose(single["share_of_errors_started"], [0.5, 0.25, 0.25])
    assert result.system_score == pytest.approx(0.6)
    assert result.n_errors_traced == 4 and result.n_complete == 10
    assert result.stages_without_oracle == ()
    # every stage run once per distinct upstream: a 1, b 2 (a or its oracle), c 4
    assert result.stage_calls == 7


def test_overlapping_errors_make_the_independence_estimate_too_pessimistic(hand_made):
    # row 1 is wrong at a and at b: product 0.8·0.8·0.9 = 0.576 < measured 0.6
    result = analyze_chain(*hand_made[:3], oracles=hand_made[3], n_boot=0)
    assert result.independence_estimate == pytest.approx(0.576)
    assert result.independence_gap_pp == pytest.approx(2.4)


def test_compounding_errors_make_the_independence_estimate_too_optimistic():
    # errors on different rows: a {0}, b {1, 2}, c {3, 4}; each stage alone 0.9, 0.8, 0.8
    stages, x, y, oracles = three_stages(100, {0}, {1, 2}, {3, 4})
    result = analyze_chain(stages, x, y, oracles=oracles, n_boot=0)
    t = result.table
    np.testing.assert_allclose(t["stage_score"].iloc[:3], [0.9, 0.8, 0.8])
    assert result.system_score == pytest.approx(0.5)  # 1 - (1 + 2 + 2) / 10
    assert result.independence_estimate == pytest.approx(0.9 * 0.8 * 0.8)  # 0.576
    assert result.independence_gap_pp == pytest.approx(-7.6)
    assert t["errors_started"].iloc[:3].tolist() == [10, 20, 20]


def test_a_stage_can_use_any_earlier_output_and_recover_from_upstream_errors():
    x = np.arange(8)
    stages = [
        Stage("coarse", lambda v, up: np.where(v == 0, 98, v)),  # wrong on row 0
        Stage("parity", lambda v, up: up["coarse"] % 2),  # 98 % 2 == 0 % 2: recovers row 0
        Stage("label", lambda v, up: up["parity"] + 10 * (v == 5)),  # wrong on row 5
    ]
    oracles = {"coarse": x, "parity": x % 2}
    trace = trace_chain_errors(stages, x, x % 2, oracles=oracles)
    assert isinstance(trace, ChainErrorTrace)
    assert list(trace.table.columns) == TRACE_COLUMNS
    assert trace.table["errors_started"].tolist() == [0, 0, 1]
    assert trace.table["recovered"].tolist() == [1, 0, 0]  # coarse wrong on row 0, system right
    assert (trace.n, trace.n_errors) == (8, 1)
    assert trace.to_dict() == {"n": 8, "n_errors": 1, "table": frame_records(trace.table)}
    t = analyze_chain(stages, x, x % 2, oracles=oracles, n_boot=0).table
    assert t["gain_pp"].iloc[0] == 0  # a perfect coarse stage would change nothing


def test_partial_oracles_are_scored_on_the_rows_that_have_them():
    stages, x, y, oracles = three_stages(200, {0, 1}, {1, 2}, {3})
    full = analyze_chain(stages, x, y, oracles=oracles, n_boot=500).table
    known = x < 40  # e.g. 40 human translations of 200
    partial_b = np.where(known, oracles["b"], np.nan)
    result = analyze_chain(stages, x, y, oracles={"a": oracles["a"], "b": partial_b}, n_boot=500)
    t = result.table
    assert t["n"].tolist() == [200, 40, 200, 200, 40, 40]
    # on the 40 rows the rates are those of the full data (rows cycle through x mod 10)
    np.testing.assert_allclose(t["gain_pp"], full["gain_pp"])
    np.testing.assert_allclose(t["shapley_pp"].iloc[:3], [10 / 3, 40 / 3, 70 / 3])
    width = (t["ci_high"] - t["ci_low"]).iloc[1]
    full_width = (full["ci_high"] - full["ci_low"]).iloc[1]
    assert width > 1.5 * full_width  # ~sqrt(5) times wider with 5 times fewer rows
    assert result.n_complete == 40 and result.n_errors_traced == 16
    assert "partial_oracles" in result.notes


def test_partial_oracle_as_a_masked_array_or_none_keeps_integer_outputs():
    stages, x, y, oracles = three_stages(20, {0}, {1}, set())
    seen = []

    def record(inputs, up):
        seen.append(up["a"].dtype)
        return 10 * up["a"] + np.isin(inputs % 10, [1])

    stages[1] = Stage("b", record)
    masked = np.ma.masked_array(oracles["a"], mask=x >= 10)
    with_none = [int(v) if v < 10 else None for v in x]
    a = analyze_chain(stages, x, y, oracles={"a": masked}, n_boot=0).table
    b = analyze_chain(stages, x, y, oracles={"a": with_none}, n_boot=0).table
    pd.testing.assert_frame_equal(a, b)
    assert a["n"].tolist() == [10, 20, 10, 10]
    assert all(np.issubdtype(d, np.integer) for d in seen)  # oracle rows plugged as ints


def test_callable_metric_matches_the_named_one_and_its_direction_sets_the_sign(hand_made):
    stages, x, y, oracles = hand_made
    named = analyze_chain(stages, x, y, oracles=oracles, n_boot=100)
    accuracy = analyze_chain(
        stages, x, y, oracles=oracles, n_boot=100, metric=lambda t, p: np.mean(t == p)
    )
    pd.testing.assert_frame_equal(named.table, accuracy.table, check_like=False)
    errors = analyze_chain(
        stages,
        x,
        y,
        oracles=oracles,
        n_boot=100,
        metric=lambda t, p: np.mean(t != p),
        greater_is_better=False,
    )
    e, t = errors.table, named.table
    np.testing.assert_allclose(e["gain_pp"], t["gain_pp"])
    np.testing.assert_allclose(e["ci_low"], t["ci_low"])
    np.testing.assert_allclose(e["shapley_pp"], t["shapley_pp"])
    np.testing.assert_allclose(e["system_score"], 1 - t["system_score"])
    assert errors.greater_is_better is False
    assert named.metric == "accuracy" and accuracy.metric == "<lambda>"


@pytest.mark.parametrize(
    ("name", "sk"),
    [
        ("f1_macro", functools.partial(f1_score, average="macro", zero_division=0)),
        ("balanced_accuracy", balanced_accuracy_score),
    ],
)
def test_vectorised_named_metrics_agree_with_scikit_learn_on_every_replicate(name, sk):
    rng = np.random.default_rng(3)
    x = rng.integers(0, 4, 150)
    labels = np.array(["ant", "bee", "cat", "dog"], dtype=object)
    noisy = np.where(rng.random(150) < 0.3, rng.integers(0, 4, 150), x)
    stages = [
        Stage("code", lambda v, up: noisy),
        Stage("name", lambda v, up: labels[up["code"]]),
    ]
    kwargs = {"oracles": {"code": x}, "n_boot": 20, "random_state": 1}
    ours = analyze_chain(stages, None, labels[x], metric=name, **kwargs)
    theirs = analyze_chain(stages, None, labels[x], metric=sk, **kwargs)
    cols = ["system_score", "system_score_with_oracle", "gain_pp", "ci_low", "ci_high"]
    np.testing.assert_allclose(ours.table[cols], theirs.table[cols], atol=1e-12)
    assert ours.independence_estimate is None  # not an accuracy
    assert "independence_estimate" in ours.notes


def test_regression_metric_lower_is_better_gives_positive_gains():
    x = np.linspace(0.0, 1.0, 50)
    stages = [
        Stage("scale", lambda v, up: 2 * v + 0.1),  # should be 2 v
        Stage("shift", lambda v, up: up["scale"] + 1),
    ]
    result = analyze_chain(stages, x, 2 * x + 1, oracles={"scale": 2 * x}, metric="mae", n_boot=50)
    t = result.table
    assert t["system_score"].iloc[0] == pytest.approx(0.1)
    assert t["system_score_with_oracle"].iloc[0] == pytest.approx(0.0)
    assert t["gain_pp"].iloc[0] == pytest.approx(10.0)  # 100 x 0.1 of MAE removed
    assert result.greater_is_better is False


def test_same_seed_same_table_other_seed_other_intervals(hand_made):
    stages, x, y, oracles = three_stages(60, {0, 1}, {1, 2}, {3})
    a = analyze_chain(stages, x, y, oracles=oracles, random_state=7)
    b = analyze_chain(stages, x, y, oracles=oracles, random_state=7)
    c = analyze_chain(stages, x, y, oracles=oracles, random_state=8)
    pd.testing.assert_frame_equal(a.table, b.table)
    assert a.summary() == b.summary() and a.random_state == 7 and c.random_state == 8
    a, c = a.table, c.table
    assert not np.allclose(a["ci_low"], c["ci_low"]) or not np.allclose(a["ci_high"], c["ci_high"])
    np.testing.assert_allclose(a["gain_pp"], c["gain_pp"])


def test_bootstrap_interval_contains_the_point_estimate():
    rng = np.random.default_rng(0)
    n = 300
    x = np.arange(n)
    wrong_a, wrong_b = rng.random(n) < 0.15, rng.random(n) < 0.1
    stages = [
        Stage("a", lambda v, up: np.where(wrong_a, -1, v)),
        Stage("b", lambda v, up: np.where(wrong_b, -2, up["a"])),
    ]
    t = analyze_chain(stages, x, x, oracles={"a": x}, n_boot=1000).table
    assert ((t["ci_low"] <= t["gain_pp"]) & (t["gain_pp"] <= t["ci_high"])).all()
    assert (t["ci_low"] > 0).all()  # both stages clearly worth something
    no_ci = analyze_chain(stages, x, x, oracles={"a": x}, n_boot=0).table
    assert no_ci[["ci_low", "ci_high"]].isna().all().all()
    np.testing.assert_allclose(no_ci["gain_pp"], t["gain_pp"])


def test_inputs_and_outputs_are_not_mutated_and_upstream_is_read_only():
    x = np.arange(6)
    before = x.copy()

    def sneaky(inputs, up):
        up["a"][0] = 42  # must fail: cached outputs are shared between runs
        return up["a"]

    stages = [Stage("a", lambda v, up: v * 1), Stage("b", sneaky)]
    with pytest.raises(StageError, match=r"stage 'b' raised ValueError: .*read-only"):
        analyze_chain(stages, x, x, oracles={"a": x}, n_boot=0)
    np.testing.assert_array_equal(x, before)


def test_text_and_two_column_outputs():
    words = np.array(["un", "deux", "trois", "quatre"], dtype=object)
    lang = ["fr"] * 4
    stages = [
        Stage("lang", lambda v, up: np.array(["fr", "fr", "en", "fr"])),
        Stage("pair", lambda v, up: np.column_stack([up["lang"], v])),  # 2 columns per row
        Stage("keep", lambda v, up: np.where(up["pair"][:, 0] == "fr", up["pair"][:, 1], "?")),
    ]
    oracles = {"lang": lang, "pair": np.column_stack([lang, words])}
    t = analyze_chain(stages, words, words, oracles=oracles, n_boot=0).table
    np.testing.assert_allclose(t["gain_pp"].iloc[:3], [25, 25, 25])
    np.testing.assert_allclose(t["stage_score"].iloc[:3], [0.75, 1.0, 1.0])
    assert t["errors_started"].iloc[:3].tolist() == [1, 0, 0]


def test_stages_without_oracle_run_as_they_are_and_get_no_row(hand_made):
    stages, x, y, oracles = hand_made
    result = analyze_chain(stages, x, y, oracles={"b": oracles["b"]}, n_boot=0)
    t = result.table
    assert t["stage"].tolist() == ["b", "c", "b", "c"]
    np.testing.assert_allclose(t["system_score_with_oracle"], [0.9, 1.0, 0.9, 1.0])
    assert result.stages_without_oracle == ("a",)
    assert result.summary()["stages_without_oracle"] == ["a"]
    assert t["errors_started"].iloc[:2].tolist() == [3, 1]  # a's errors show up at b


def test_single_stage_system_is_its_own_oracle_analysis():
    y = np.array([0, 1, 1, 0])
    t = analyze_chain([Stage("m", lambda v, up: np.array([0, 1, 0, 0]))], None, y, oracles={}).table
    assert t["kind"].tolist() == ["single", "cumulative"]
    np.testing.assert_allclose(t["gain_pp"], [25, 25])
    np.testing.assert_allclose(t["shapley_share"].iloc[0], 1.0)


def test_more_oracle_stages_than_exact_shapley_allows_leaves_it_empty():
    x = np.arange(20)
    stages = [Stage(f"s{i}", lambda v, up: v) for i in range(10)]
    oracles = {f"s{i}": x for i in range(9)}
    result = analyze_chain(stages, x, x, oracles=oracles, n_boot=0)
    assert result.table["shapley_pp"].isna().all() and "shapley" in result.notes
    np.testing.assert_allclose(result.table["gain_pp"], 0.0)


def test_result_fields_and_the_json_form_of_the_diagnosis(hand_made):
    stages, x, y, oracles = hand_made
    result = analyze_chain(stages, x, y, oracles=oracles, n_boot=10)
    assert isinstance(result, ChainAnalysis) and isinstance(result, Result)
    assert len(result) == 6 and result.n == 10 and result.n_boot == 10
    assert result.metric == "accuracy" and result.greater_is_better is True
    assert result.random_state == 0 and result.notes == {}
    # meta.chain_summary of the diagnosis: every field, in this order, JSON-safe
    summary = result.summary()
    assert list(summary) == [
        "metric",
        "greater_is_better",
        "n",
        "system_score",
        "independence_estimate",
        "independence_gap_pp",
        "n_complete",
        "n_errors_traced",
        "n_boot",
        "random_state",
        "stages_without_oracle",
        "stage_calls",
        "notes",
    ]
    assert summary["system_score"] == pytest.approx(0.6)
    assert summary["independence_estimate"] == pytest.approx(0.576)
    assert summary["stages_without_oracle"] == [] and summary["stage_calls"] == 7
    assert chain_summary(result) == summary == json_safe(summary)
    assert json.loads(json.dumps(summary, allow_nan=False)) == summary
    # to_dict: the summary and the table's rows (NaN -> None: step_gain_pp of single rows)
    as_dict = result.to_dict()
    assert as_dict == {**summary, "table": frame_records(result.table)}
    assert as_dict["table"][0]["step_gain_pp"] is None
    assert as_dict["table"][3]["errors_started"] is None
    np.testing.assert_allclose(pd.DataFrame(as_dict["table"])["gain_pp"], [10, 30, 40] * 2)
    html = result._repr_html_()
    assert "ChainAnalysis" in html and "system_score" in html and "gain_pp" in html
    assert repr(result).startswith("ChainAnalysis(6 rows, metric='accuracy'")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.n_boot = 5  # type: ignore[misc]
    pd.testing.assert_frame_equal(result.to_frame(), result.table)


def test_diagnose_section_runs_the_mapping_or_returns_the_result(hand_made):
    stages, x, y, oracles = hand_made
    result = analyze_chain(stages, x, y, oracles=oracles, n_boot=10)
    spec = {"stages": stages, "inputs": x, "oracles": oracles, "n_boot": 10}
    again = chain_section(spec, y, random_state=0)
    pd.testing.assert_frame_equal(again.table, result.table)
    assert again.summary() == result.summary()
    assert chain_section(result, y) is result
    with pytest.raises(ValidationError, match=r"missing key\(s\) \['oracles'\]"):
        chain_section({"stages": stages, "inputs": x}, y)
    with pytest.raises(ValidationError, match=r"unknown key\(s\) \['metrics'\]"):
        chain_section({**spec, "metrics": "f1_macro"}, y)
    # a bare table has lost the summary: only a result or a mapping will do
    with pytest.raises(
        ToolkitTypeError, match="chain_section: chain must be a toolkit.ChainAnalysis or a Mapping"
    ):
        chain_section(result.table, y)
    with pytest.raises(InvalidValueError, match="chain_section: random_state must be"):
        chain_section(spec, y, random_state=-1)
    with pytest.raises(
        ToolkitTypeError, match="chain_summary: result must be a toolkit.ChainAnalysis"
    ):
        chain_summary(result.table)


# ---------------------------------------------------------------------- bad inputs


def test_oracle_length_mismatch(hand_made):
    stages, x, y, oracles = hand_made
    with pytest.raises(LengthMismatchError, match="oracle of stage 'b' has 9 rows but y_true"):
        analyze_chain(stages, x, y, oracles={"b": oracles["b"][:9]})


def test_unknown_stage_name(hand_made):
    stages, x, y, _ = hand_made
    with pytest.raises(ValidationError, match=r"unknown stage\(s\) \['z'\]; the stages are"):
        analyze_chain(stages, x, y, oracles={"z": x})
    with pytest.raises(ValidationError, match=r"stage_metrics name unknown stage\(s\)"):
        analyze_chain(stages, x, y, oracles={}, stage_metrics={"q": "accuracy"})


def test_stage_returning_the_wrong_number_of_rows(hand_made):
    _, x, y, oracles = hand_made
    stages = [Stage("a", lambda v, up: v), Stage("b", lambda v, up: up["a"][:-1])]
    with pytest.raises(LengthMismatchError, match="stage 'b' returned 9 rows for 10 input rows"):
        analyze_chain(stages, x, y, oracles={"a": x})
    scalar = [Stage("a", lambda v, up: 3)]
    with pytest.raises(LengthMismatchError, match="stage 'a' returned a int scalar"):
        analyze_chain(scalar, x, y, oracles={})


def test_stage_raising_names_the_stage_and_the_plugged_oracles(hand_made):
    _, x, y, _ = hand_made

    def picky(inputs, up):
        if (up["a"] == inputs).all():
            raise KeyError("never saw a clean input")
        return up["a"]

    stages = [Stage("a", lambda v, up: v + 1), Stage("b", picky)]
    with pytest.raises(StageError, match=r"stage 'b' raised KeyError: .*\['a'\] plugged in") as e:
        analyze_chain(stages, x, y, oracles={"a": x})
    assert isinstance(e.value, ToolkitError) and isinstance(e.value.__cause__, KeyError)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"stages": []}, EmptyInputError, "stages is empty"),
        ({"stages": "ab"}, ToolkitTypeError, "stages must be a list of toolkit.Stage, got 'ab'"),
        ({"stages": [lambda v, up: v]}, ToolkitTypeError, "stages must be a list of toolkit"),
        ({"stages": Stage("a", lambda v, up: v)}, ToolkitTypeError, "stages must be a list"),
        ({"y_true": []}, EmptyInputError, "y_true is empty"),
        ({"y_true": 5}, ToolkitTypeError, "analyze_chain: y_true must be array-like"),
        ({"y_true": [1, None, 3]}, InvalidValueError, "1 missing value"),
        ({"inputs": np.arange(4)}, LengthMismatchError, "inputs has 4 rows but y_true has 3"),
        ({"oracles": [1, 2, 3]}, ToolkitTypeError, "oracles must be a Mapping, got"),
        ({"oracles": {"b": [1, 2, 3]}}, ValidationError, "last stage 'b' needs no oracle"),
        ({"oracles": {"a": [None] * 3}}, ValidationError, "all 3 rows missing"),
        ({"oracles": {"a": np.zeros((3, 2))}}, ValidationError, r"rows of shape \(2,\)"),
        ({"metric": "auc"}, InvalidValueError, "metric must be one of 'accuracy', .*got 'auc'"),
        ({"metric": 3}, ToolkitTypeError, "metric must be one of .* or a callable, got 3"),
        ({"greater_is_better": False}, InvalidValueError, "contradicts"),
        ({"greater_is_better": "yes"}, ToolkitTypeError, "greater_is_better must be a bool"),
        ({"stage_metrics": ["a"]}, ToolkitTypeError, "stage_metrics must be a Mapping or None"),
        ({"stage_metrics": {"a": "auc"}}, InvalidValueError, "unknown stage metric 'auc'"),
        ({"stage_metrics": {"a": 3}}, ToolkitTypeError, "stage metric must be a metric name"),
        ({"n_boot": -1}, InvalidValueError, r"analyze_chain: n_boot must be an int in \[0, inf\)"),
        ({"n_boot": 1.5}, ToolkitTypeError, "n_boot must be an int"),
        ({"n_boot": True}, ToolkitTypeError, "n_boot must be an int"),
        ({"random_state": -1}, InvalidValueError, "random_state must be an int in"),
        ({"random_state": "0"}, ToolkitTypeError, "random_state must be an int"),
        ({"metric": lambda t, p: 1 / 0}, ValidationError, "raised ZeroDivisionError"),
    ],
)
def test_validation_messages(kwargs, error, match):
    args = {
        "stages": [Stage("a", lambda v, up: np.asarray(v)), Stage("b", lambda v, up: up["a"])],
        "inputs": np.arange(3),
        "y_true": [0, 1, 2],
        "oracles": {"a": [0, 1, 2]},
        **kwargs,
    }
    with pytest.raises(error, match=match):
        analyze_chain(args.pop("stages"), args.pop("inputs"), args.pop("y_true"), **args)


def test_trace_checks_its_parameters_like_analyze_chain():
    stages = [Stage("a", lambda v, up: np.asarray(v)), Stage("b", lambda v, up: up["a"])]
    x = np.arange(3)
    with pytest.raises(ToolkitTypeError, match="trace_chain_errors: stages must be a list"):
        trace_chain_errors("ab", x, x, oracles={})
    with pytest.raises(ToolkitTypeError, match="trace_chain_errors: oracles must be a Mapping"):
        trace_chain_errors(stages, x, x, oracles=[x])
    with pytest.raises(ValidationError, match=r"unknown stage\(s\) \['z'\]"):
        trace_chain_errors(stages, x, x, oracles={"z": x})


def test_y_true_as_a_pandas_extension_array_or_series_gives_the_same_table(hand_made):
    stages, x, y, oracles = hand_made
    plain = analyze_chain(stages, x, y, oracles=oracles, n_boot=20).table
    for truth in (pd.array(y, dtype="Int64"), pd.Series(y), list(y)):
        other = analyze_chain(stages, x, truth, oracles=oracles, n_boot=20).table
        pd.testing.assert_frame_equal(other, plain)


def test_stage_and_duplicate_names_are_checked():
    with pytest.raises(InvalidValueError, match="Stage: name must be a non-empty str"):
        Stage("", lambda v, up: v)
    with pytest.raises(ToolkitTypeError, match="Stage: name must be a non-empty str, got 3"):
        Stage(3, lambda v, up: v)
    with pytest.raises(ToolkitTypeError, match="Stage: fn must be a callable"):
        Stage("a", "not a function")
    stage = Stage(name="a", fn=np.asarray)
    assert stage == Stage("a", np.asarray) and stage.name == "a" and stage.fn is np.asarray
    with pytest.raises(dataclasses.FrozenInstanceError):
        stage.name = "b"  # type: ignore[misc]
    twice = [Stage("a", lambda v, up: v), Stage("a", lambda v, up: v)]
    with pytest.raises(ValidationError, match=r"unique; repeated: \['a'\]"):
        analyze_chain(twice, None, [1], oracles={})


# ---------------------------------------------------------------------- properties


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.sets(st.integers(0, 9), max_size=5), min_size=3, max_size=3),
    st.integers(10, 40),
)
def test_shapley_splits_the_whole_gap_and_every_error_starts_somewhere(wrong, n):
    stages, x, y, oracles = three_stages(n, *wrong)
    result = analyze_chain(stages, x, y, oracles=oracles, n_boot=0)
    t = result.table
    single, cumulative = t.iloc[:3], t.iloc[3:]
    gap = 100 * (1 - result.system_score)
    assert single["shapley_pp"].sum() == pytest.approx(gap, abs=1e-9)
    assert cumulative["gain_pp"].iloc[-1] == pytest.approx(gap, abs=1e-9)
    assert cumulative["step_gain_pp"].sum() == pytest.approx(gap, abs=1e-9)
    assert (single["shapley_pp"] >= -1e-9).all()  # in this chain no oracle ever hurts
    assert single["errors_started"].sum() == result.n_errors_traced
    assert result.n_errors_traced == round((1 - result.system_score) * n)
    assert ((t["system_score_with_oracle"] >= 0) & (t["system_score_with_oracle"] <= 1)).all()
