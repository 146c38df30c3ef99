"""`toolkit compare` and `toolkit runs` against a real SQLite store in tmp_path; no mocks.

The runs log hand-built predictions whose paired tables are known row by row, so every
number the comparison prints can be checked by hand: which rows B fixed (A wrong, B
right) and which it broke (A right, B wrong), per slice.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import tracking_cli as cli
from scipy import stats

pytest.importorskip("mlflow")

from mlflow import MlflowClient

from toolkit.data import Predictions
from toolkit.exceptions import InvalidValueError, ToolkitError, ToolkitTypeError, ValidationError
from toolkit.tracking.compare import (
    COMPARE_COLUMNS,
    RunComparison,
    _paired_stats,
    compare_runs,
    list_runs,
    load_predictions,
    resolve_run_id,
)
from toolkit.tracking.errors import RunNotFoundError
from toolkit.tracking.run import track

N = 2000
ROWS = np.arange(N)
#: g1 (1,200 rows), g2 (760 rows), g3 (40 rows: a small slice that is still judged).
GROUP = np.where(ROWS < 1200, "g1", np.where(ROWS < 1960, "g2", "g3"))
SHIFT = np.where(ROWS % 2 == 0, "even", "odd")
Y = (ROWS // 3) % 2
#: A gets every fifth row wrong: 400 errors, 20% in every group.
WRONG_A = ROWS % 5 == 0


def predictions(wrong: np.ndarray, ids=None, rows=ROWS) -> Predictions:
    pred = np.where(wrong[rows], 1 - Y[rows], Y[rows])
    features = pd.DataFrame({"group": GROUP[rows], "shift": SHIFT[rows]})
    return Predictions(Y[rows], pred, features=features, ids=ids)


def log_run(experiment: str, p: Predictions, **track_options) -> str:
    with track(experiment, **track_options) as run:
        run.log_metric("accuracy", float(1 - p.errors.mean()))
        run.log_predictions(p)
    return run.run_id


def wrong_b(fixed: np.ndarray, broken: np.ndarray) -> np.ndarray:
    """A's errors, minus the rows B fixed, plus the rows B broke."""
    assert WRONG_A[fixed].all() and not WRONG_A[broken].any()
    out = WRONG_A.copy()
    out[fixed], out[broken] = False, True
    return out


def rows_where(mask: np.ndarray, count: int) -> np.ndarray:
    return np.flatnonzero(mask)[:count]


@pytest.fixture
def better_model(uri):
    """B fixes 150 of A's errors and breaks 30 rows in g1, and breaks 2 of the 40 rows of
    g3 (8 -> 10 errors, +5 points: not significant, 2 discordant rows)."""
    fixed = rows_where(WRONG_A & (GROUP == "g1"), 150)
    broken = np.r_[
        rows_where(~WRONG_A & (GROUP == "g1"), 30), rows_where(~WRONG_A & (GROUP == "g3"), 2)
    ]
    a = log_run("cmp", predictions(WRONG_A), run_name="old", params={"C": 1.0, "same": 1})
    b = log_run("cmp", predictions(wrong_b(fixed, broken)), run_name="new", params={"C": 0.1})
    return a, b


@pytest.fixture
def big_regression(uri):
    """B is better overall (fixes 100 rows in g2) but breaks 60 of g1's 1,200 rows."""
    fixed = rows_where(WRONG_A & (GROUP == "g2"), 100)
    broken = rows_where(~WRONG_A & (GROUP == "g1"), 60)
    a = log_run("cmp-big", predictions(WRONG_A), run_name="old")
    b = log_run("cmp-big", predictions(wrong_b(fixed, broken)), run_name="new")
    return a, b


def slice_row(result: RunComparison, name: str) -> dict:
    rows = result.rows("slice")
    return rows[rows["name"] == name].iloc[0].to_dict()


# ---------------------------------------------------------------------------- the summary
def test_a_better_model_is_summarised_first_with_a_paired_interval(better_model, capsys):
    a, b = better_model
    code, _ = cli(["compare", a[:8], b[:8], "--max-regression", "2"])
    out = capsys.readouterr().out
    assert code == 0
    result = compare_runs(a, b)
    overall = result.overall
    # by hand: 400 errors in A; B fixed 150 and broke 32, so 282 errors
    assert (overall["n_paired"], overall["fixed"], overall["broken"]) == (2000, 150, 32)
    assert overall["a"] == 0.2 and overall["b"] == pytest.approx(282 / 2000)
    assert overall["delta"] == pytest.approx(-5.9)
    assert overall["ci_high"] < 0 < overall["p_value"] < 1e-12 and overall["significant"]
    first, second = out.splitlines()[:2]
    assert first == (
        f"B {b[:8]} (new) is better than A {a[:8]} (old): error rate 20.00% -> 14.10%, "
        f"-5.90 pp (95% CI {overall['ci_low']:+.2f} to {overall['ci_high']:+.2f}) "
        "on the 2,000 rows both runs predicted."
    )
    assert second == (
        "B fixed 150 rows A got wrong and broke 32 that A got right (exact McNemar p < 0.0001)."
    )
    assert "Downloading artifacts" not in out


def test_the_small_slice_that_got_slightly_worse_does_not_fail_the_gate(better_model, capsys):
    a, b = better_model
    result = compare_runs(a, b)
    g3 = slice_row(result, "group = g3")
    assert (g3["n_paired"], g3["fixed"], g3["broken"]) == (40, 0, 2)
    assert g3["delta"] == pytest.approx(5.0)  # 8 -> 10 errors of 40
    assert g3["p_value"] == pytest.approx(0.5)  # exact McNemar: 2 * (1/2)^2
    assert not g3["significant"] and result.regressions(2).empty
    code, _ = cli(["compare", a, b, "--max-regression", "2"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.splitlines()[-1] == (
        "Gate passed: no slice is significantly worse (BH q < 0.05) by more than 2 pp; "
        "5 slice(s) judged, 0 too small to judge (< 30 rows both runs predicted)."
    )


def test_a_significant_regression_on_a_big_slice_fails_and_is_the_only_one_listed(
    big_regression, capsys
):
    a, b = big_regression
    result = compare_runs(a, b)
    assert result.overall["delta"] == pytest.approx(-2.0)  # better overall: 100 fixed, 60 broken
    g1 = slice_row(result, "group = g1")
    assert (g1["fixed"], g1["broken"], g1["delta"]) == (0, 60, pytest.approx(5.0))
    assert g1["p_value"] == pytest.approx(2 * 0.5**60)
    assert list(result.regressions(2)["name"]) == ["group = g1"]
    code, _ = cli(["compare", a, b, "--max-regression", "2"])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.out.splitlines()[0].startswith(
        f"B {b[:8]} (new) is better than A {a[:8]} (old)"
    )
    failed = captured.err.splitlines()
    assert failed[0] == (
        "Gate failed: 1 slice(s) significantly worse (BH q < 0.05) by more than 2 pp; "
        "5 slice(s) judged, 0 too small to judge (< 30 rows both runs predicted):"
    )
    assert len(failed) == 2 and failed[1].startswith("  group = g1: 20.00% -> 25.00%, +5.00 pp")
    # above significance but not above the points asked: passes
    code, _ = cli(["compare", a, b, "--max-regression", "6"])
    assert code == 0
    # the other way round, the old run is the better one
    capsys.readouterr()
    cli(["compare", b, a])
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith(f"A {b[:8]} (new) is better than B {a[:8]} (old): error rate 18.00%")


def test_no_clear_difference_is_said_so(uri, capsys):
    fixed, broken = rows_where(WRONG_A, 5), rows_where(~WRONG_A, 5)
    a = log_run("same", predictions(WRONG_A), run_name="old")
    b = log_run("same", predictions(wrong_b(fixed, broken)), run_name="new")
    cli(["compare", a, b])
    first = capsys.readouterr().out.splitlines()[0]
    overall = compare_runs(a, b).overall
    assert overall["p_value"] == 1 and not overall["significant"]
    assert first == (
        f"No clear difference between A {a[:8]} (old) and B {b[:8]} (new): error rate "
        f"20.00% -> 20.00%, +0.00 pp (95% CI {overall['ci_low']:+.2f} to "
        f"{overall['ci_high']:+.2f}) on the 2,000 rows both runs predicted."
    )


def test_slices_too_small_to_judge_are_counted_not_gated(big_regression, capsys):
    a, b = big_regression
    code, _ = cli(["compare", a, b, "--max-regression", "2", "--min-slice-rows", "1000"])
    captured = capsys.readouterr()
    assert code == 1  # g1 (1,200 rows) and the two shift halves (1,000 each) are judged
    assert "3 slice(s) judged, 2 too small to judge (< 1000 rows" in captured.err
    code, _ = cli(["compare", a, b, "--max-regression", "2", "--min-slice-rows", "1300"])
    captured = capsys.readouterr()
    assert code == 0
    assert "0 slice(s) judged, 5 too small to judge (< 1300 rows" in captured.out
    small = compare_runs(a, b, min_slice_rows=1300)
    assert small.n_too_small == 5
    assert small.rows("slice").set_index("name").loc["group = g1", "q_value"] is None


def test_slices_that_changed_most_come_after_the_summary(big_regression, capsys):
    a, b = big_regression
    cli(["compare", a, b, "--top", "2"])
    lines = capsys.readouterr().out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Slices that changed"))
    assert start == 3  # two summary lines and a blank one
    assert lines[start] == (
        "Slices that changed most (2 of 5 with 30+ paired rows; * = significant, BH q < 0.05):"
    )
    # |delta|: g2 improved 100 of 760 rows (-13.16 pp), g1 regressed +5.00 pp
    assert lines[start + 1].split()[:3] == ["group", "=", "g2"]
    assert "-13.16 pp" in lines[start + 1] and lines[start + 1].endswith("*")
    assert lines[start + 2].split()[:3] == ["group", "=", "g1"] and "+5.00 pp" in lines[start + 2]
    assert lines[start + 3] == ""


# ---------------------------------------------------------------------------- pairing
def test_rows_are_paired_by_id_whatever_their_order_and_coverage(uri):
    ids = np.array([f"r{i}" for i in ROWS])
    wrong = wrong_b(rows_where(WRONG_A, 40), rows_where(~WRONG_A, 90))
    a = log_run("pairs", predictions(WRONG_A, ids=ids))
    rng = np.random.default_rng(0)
    order = rng.permutation(N)[:1500]  # B predicted 1,500 of the rows, shuffled
    b = log_run("pairs", predictions(wrong, ids=ids[order], rows=order))
    result = compare_runs(a, b)
    overall = result.overall
    assert (overall["n_a"], overall["n_b"], overall["n_paired"]) == (2000, 1500, 1500)
    assert overall["a"] == pytest.approx(WRONG_A[order].mean())  # oracle: plain masks
    assert overall["b"] == pytest.approx(wrong[order].mean())
    g2 = slice_row(result, "group = g2")
    in_g2 = order[GROUP[order] == "g2"]
    assert (g2["n_a"], g2["n_b"], g2["n_paired"]) == (760, in_g2.size, in_g2.size)
    assert g2["fixed"] == (WRONG_A[in_g2] & ~wrong[in_g2]).sum()
    assert g2["broken"] == (~WRONG_A[in_g2] & wrong[in_g2]).sum()


def test_rows_with_the_same_id_but_another_label_are_not_paired(uri, capsys):
    a = log_run("labels", predictions(WRONG_A))
    other = Predictions(
        1 - Y[:100], 1 - Y[:100], features={"group": GROUP[:100], "shift": SHIFT[:100]}
    )
    b = log_run("labels", other)
    assert compare_runs(a, b).overall is None
    code, message = cli(["compare", a, b, "--max-regression", "1"])
    assert code == 1 and "needs predictions logged in both runs" in message
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith(f"No paired comparison of A {a[:8]} (")
    assert first.endswith("rows matched by id and true label); params and metrics only.")


# ---------------------------------------------------------------------------- run id prefixes
def test_run_ids_by_exact_id_unique_prefix_ambiguous_and_unknown(uri, capsys):
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("prefixes")
    ids = [client.create_run(experiment).info.run_id for _ in range(17)]  # 17 > 16 hex digits
    first = pd.Series(ids).str[0]
    shared = first[first.duplicated()].iloc[0]
    candidates = sorted(i for i in ids if i.startswith(shared))
    unique = next(
        i[:k] for i in ids for k in range(1, 33) if sum(j.startswith(i[:k]) for j in ids) == 1
    )
    assert resolve_run_id(ids[0]) == ids[0]
    assert resolve_run_id(ids[0].upper()) == ids[0]
    assert resolve_run_id(unique) == next(i for i in ids if i.startswith(unique))
    with pytest.raises(ValidationError, match=f"prefix '{shared}' is ambiguous") as info:
        resolve_run_id(shared)
    assert all(c in str(info.value) for c in candidates)
    unknown = next(f"{d:x}" * 8 for d in range(16) if not any(i[0] == f"{d:x}" for i in ids))
    with pytest.raises(RunNotFoundError, match=f"run '{unknown}' not found"):
        resolve_run_id(unknown)
    with pytest.raises(RunNotFoundError, match="not found"):
        resolve_run_id("0" * 32 if not any(i == "0" * 32 for i in ids) else "f" * 32)
    with pytest.raises(ValidationError, match="'49bf-aa' is not a run id or a prefix"):
        resolve_run_id("49bf-aa")
    code, message = cli(["compare", shared, ids[0]])
    assert code == 1 and "is ambiguous" in message


def test_compare_and_load_predictions_take_the_8_digit_ids_the_demo_prints(better_model):
    a, b = better_model
    assert (compare_runs(a[:8], b[:8]).run_a, compare_runs(a[:8], b[:8]).run_b) == (a, b)
    assert load_predictions(b[:8]).n == N


# ---------------------------------------------------------------------------- params, noise
def test_unchanged_params_are_hidden_unless_asked(better_model, capsys):
    a, b = better_model
    cli(["compare", a, b])
    out = capsys.readouterr().out
    assert "Params: 1 changed, 1 only in A (all with --all-params)" in out
    assert "  C  1.0 -> 0.1" in out and "same" not in out
    cli(["compare", a, b, "--all-params"])
    out = capsys.readouterr().out
    assert "  same  1 -> (absent)" in out
    params = compare_runs(a, b, all_params=True).rows("param")
    assert list(params["name"]) == ["C", "same"]


def test_no_progress_bar_reaches_the_terminal(better_model, capfd, monkeypatch):
    monkeypatch.delenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", raising=False)
    a, b = better_model
    capfd.readouterr()
    cli(["compare", a, b])
    out, err = capfd.readouterr()
    assert "Downloading artifacts" not in out + err and "it/s" not in err
    assert "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR" not in os.environ  # put back as it was


def test_the_whole_output_is_short(better_model, capsys):
    a, b = better_model
    cli(["compare", a, b, "--max-regression", "2"])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) < 30, "\n".join(lines)
    assert not any("NaN" in line or "nan" in line.split() for line in lines)


# ---------------------------------------------------------------------------- no store
def _tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize(
    "argv", [["runs"], ["runs", "--mark-stale"], ["compare", "49bfaa8c", "3e0c7ad5"]]
)
def test_read_only_commands_in_an_empty_folder_create_no_store(tmp_path, monkeypatch, capsys, argv):
    from toolkit.cli import main

    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLFLOW_LOGGING_LEVEL", "WARNING")
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.splitlines()) == 1
    assert f"no MLflow store at {empty / 'mlflow.db'}" in captured.err
    assert _tree(empty) == []


def test_reading_functions_create_no_store(tmp_path):
    missing = tmp_path / "nowhere" / "mlflow.db"
    store = f"sqlite:///{missing}"
    for call in (
        lambda: list_runs(tracking_uri=store),
        lambda: compare_runs("49bfaa8c", "3e0c7ad5", tracking_uri=store),
        lambda: load_predictions("49bfaa8c", tracking_uri=store),
        lambda: resolve_run_id("49bfaa8c", tracking_uri=store),
    ):
        with pytest.raises(ToolkitError, match="no MLflow store at"):
            call()
    assert not missing.exists() and not missing.parent.exists()


# ---------------------------------------------------------------------------- the statistics
def test_paired_stats_by_hand():
    # 8 rows: A wrong on 3 that B gets right, both right on 5
    out = _paired_stats(np.array([8]), np.array([0]), np.array([3]), np.array([0]))
    assert out["a"][0] == 3 / 8 and out["b"][0] == 0 and out["delta"][0] == -37.5
    assert out["p_value"][0] == pytest.approx(0.25)  # 2 * (1/2)^3
    # no discordant row: no difference, p = 1; an empty group is undefined
    out = _paired_stats(np.array([10, 0]), np.array([4, 0]), np.array([0, 0]), np.array([0, 0]))
    assert out["delta"][0] == 0 and out["p_value"][0] == 1
    assert out["ci_low"][0] < 0 < out["ci_high"][0]
    assert all(math.isnan(out[k][1]) for k in ("a", "b", "delta", "ci_low", "ci_high"))


@pytest.mark.parametrize(("fixed", "broken"), [(120, 60), (10, 12), (0, 30)])
def test_paired_stats_against_scipy_and_a_paired_bootstrap(fixed, broken):
    n, both = 3000, 200
    out = _paired_stats(np.array([n]), np.array([both]), np.array([fixed]), np.array([broken]))
    exact = stats.binomtest(min(fixed, broken), fixed + broken, 0.5).pvalue
    assert out["p_value"][0] == pytest.approx(exact)
    # oracle: the percentile interval of a paired bootstrap of the rows
    diff = np.r_[np.zeros(n - fixed - broken), -np.ones(fixed), np.ones(broken)]
    rng = np.random.default_rng(0)
    means = rng.choice(diff, size=(4000, n)).mean(axis=1) * 100
    low, high = np.percentile(means, [2.5, 97.5])
    assert out["delta"][0] == pytest.approx(diff.mean() * 100)
    assert out["ci_low"][0] == pytest.approx(low, abs=0.15)
    assert out["ci_high"][0] == pytest.approx(high, abs=0.15)


def test_paired_stats_vectorised_equals_one_at_a_time():
    n, both, fixed, broken = (
        np.array(v) for v in ([50, 400, 31], [5, 30, 0], [7, 2, 0], [1, 9, 4])
    )
    together = _paired_stats(n, both, fixed, broken)
    for i in range(3):
        alone = _paired_stats(n[i : i + 1], both[i : i + 1], fixed[i : i + 1], broken[i : i + 1])
        for key in together:
            assert together[key][i] == pytest.approx(alone[key][0])


# ---------------------------------------------------------------------------- the result
def test_result_fields_columns_and_json(better_model):
    a, b = better_model
    result = compare_runs(a, b, slices=["group"])
    assert list(result.table.columns) == COMPARE_COLUMNS
    assert result.meta == {
        "run_a": a,
        "run_b": b,
        "run_name_a": "old",
        "run_name_b": "new",
        "alpha": 0.05,
        "min_slice_rows": 30,
    }
    assert list(result.table["kind"].unique()) == ["param", "metric", "overall", "slice"]
    assert list(result.rows("slice")["name"]) == ["group = g1", "group = g2", "group = g3"]
    data = json.loads(json.dumps(result.to_dict()))
    accuracy = next(row for row in data["table"] if row["name"] == "accuracy")
    assert accuracy == {
        **dict.fromkeys(COMPARE_COLUMNS),
        "kind": "metric",
        "name": "accuracy",
        "a": 0.8,
        "b": pytest.approx(1 - 282 / 2000),
        "delta": pytest.approx(0.059),
    }
    overall = next(row for row in data["table"] if row["kind"] == "overall")
    assert overall["name"] == "all rows" and overall["n_paired"] == 2000
    assert isinstance(overall["n_paired"], int) and overall["significant"] is True
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.run_a = "other"


def test_compare_checks_its_parameters_and_options(better_model):
    a, b = better_model
    with pytest.raises(ToolkitTypeError, match="compare_runs: all_params must be a bool"):
        compare_runs(a, b, all_params="yes")
    with pytest.raises(InvalidValueError, match=r"compare_runs: min_slice_rows must be an int"):
        compare_runs(a, b, min_slice_rows=0)
    with pytest.raises(
        InvalidValueError, match=r"compare_runs: alpha must be a number in \(0, 1\), got 1.0"
    ):
        compare_runs(a, b, alpha=1.0)
    with pytest.raises(ValidationError, match=r"slice columns \['age'\] are not in"):
        compare_runs(a, b, slices=["age"])
    for option, value, message in [
        ("--max-regression", "-1", "--max-regression must be >= 0, got -1.0"),
        ("--min-slice-rows", "0", "--min-slice-rows must be >= 1, got 0"),
        ("--alpha", "1", "--alpha must be in (0, 1), got 1.0"),
        ("--top", "-1", "--top must be >= 0, got -1"),
    ]:
        assert cli(["compare", a, b, option, value]) == (1, message)


def test_gate_needs_slices(uri):
    p = Predictions(Y, Y)  # no features
    a, b = log_run("no-features", p), log_run("no-features", p)
    code, message = cli(["compare", a, b, "--max-regression", "1"])
    assert code == 1 and "--max-regression needs slices" in message
