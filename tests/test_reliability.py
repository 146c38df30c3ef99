"""Hostile inputs (issue 15): each case asserts the outcome, not only "no exception".

A refused input exits 1 with exactly one line on stderr that names the problem, and the
file is untouched; an input that can be read is read (compressed, piped, long fields)
and gives the same result as its plain twin; a column no analysis can use is dropped
with a reason and the rest of the diagnosis runs; patterns do not depend on the row
order; terminal output shows control characters as escapes; the pattern search of a
wide table stays within its budget and says what it left out.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import json
import lzma
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import toolkit as tk
from toolkit.analysis.binning import bin_column
from toolkit.analysis.section_defs import BUILTIN_SECTIONS
from toolkit.cli import main, read_table
from toolkit.exceptions import InvalidValueError, ToolkitError, UnusableColumnWarning
from toolkit.report.views import VIEWS

SECTIONS = "metrics,slices,error_patterns"


# --------------------------------------------------------------------------- helpers
def _scored(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """A table with a planted pattern (color = red ∧ size = S: 80% errors)."""
    rng = np.random.default_rng(seed)
    color = rng.choice(["red", "blue", "green"], n)
    size = rng.choice(["S", "M", "L"], n)
    label = rng.integers(0, 2, n)
    planted = (color == "red") & (size == "S")
    wrong = np.where(planted, rng.random(n) < 0.8, rng.random(n) < 0.1)
    return pd.DataFrame(
        {
            "id": np.arange(n) * 7 + 3,
            "age": rng.integers(18, 80, n),
            "color": color,
            "size": size,
            "label": label,
            "pred": np.where(wrong, 1 - label, label),
        }
    )


#: A progress line of `toolkit diagnose` on stderr: seconds so far, the step.
PROGRESS = re.compile(r"\[ *\d+\.\d s\] .+ …")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "Traceback" not in err[0] and err[0].startswith("toolkit ")
    return err[0]


def _refused(capsys, path: Path, *args: str) -> str:
    """Run diagnose on ``path``: exit 1, one line, the file untouched; the line."""
    before = _digest(path) if path.is_file() else None
    code = main(["diagnose", str(path), "--target", "label", "--pred", "pred", *args])
    line = _one_error_line(capsys)
    assert code == 1
    if before is not None:
        assert _digest(path) == before
    return line


def _patterns_json(capsys, path: Path, out: Path, *args: str) -> list:
    code = main(
        ["diagnose", str(path), "--target", "label", "--pred", "pred", "--sections", SECTIONS]
        + ["--json", str(out), *args]
    )
    assert code == 0, capsys.readouterr().err
    data = json.loads(out.read_text("utf-8"))
    return data["error_patterns"]


# ------------------------------------------------------------- file reading (CLI, point 5)
def test_duplicate_header_is_refused_before_pandas_renames_it(tmp_path, capsys):
    path = tmp_path / "dup.csv"
    frame = _scored(50)
    text = frame.to_csv(index=False).replace("id,age,", "id,label,", 1)
    path.write_text(text)
    line = _refused(capsys, path)
    assert "duplicate column names: 'label' is column 2 and column 5" in line
    assert "label.1" not in line


def test_duplicate_feature_header_is_refused_too(tmp_path, capsys):
    path = tmp_path / "dup_age.csv"
    path.write_text("age,age,label,pred\n1,2,0,1\n3,4,1,1\n")
    assert "'age' is column 1 and column 2" in _refused(capsys, path)


@pytest.mark.parametrize(
    ("suffix", "compress"),
    [
        (".csv.gz", gzip.compress),
        (".csv.bz2", bz2.compress),
        (".csv.xz", lzma.compress),
    ],
)
def test_compressed_csv_is_read_and_gives_the_plain_result(tmp_path, capsys, suffix, compress):
    frame = _scored()
    plain = tmp_path / "plain.csv"
    frame.to_csv(plain, index=False)
    packed = tmp_path / f"packed{suffix}"
    packed.write_bytes(compress(plain.read_bytes()))
    a = _patterns_json(capsys, plain, tmp_path / "a.json")
    b = _patterns_json(capsys, packed, tmp_path / "b.json")
    assert a == b and a[0]["pattern"] == "color = red ∧ size = S"


def test_zip_with_one_csv_is_read_and_with_two_is_refused(tmp_path, capsys):
    frame = _scored()
    one = tmp_path / "one.zip"
    with zipfile.ZipFile(one, "w") as archive:
        archive.writestr("scored.csv", frame.to_csv(index=False))
    assert read_table(one).equals(pd.read_csv(one))
    two = tmp_path / "two.zip"
    with zipfile.ZipFile(two, "w") as archive:
        archive.writestr("a.csv", "x\n1\n")
        archive.writestr("b.csv", "x\n1\n")
    assert "holds 2 files; give a zip with one CSV" in _refused(capsys, two)


def test_corrupt_gzip_says_so(tmp_path, capsys):
    path = tmp_path / "broken.csv.gz"
    path.write_bytes(gzip.compress(b"label,pred\n1,0\n" * 50)[:-20])
    line = _refused(capsys, path)
    assert "cannot read" in line and "broken.csv.gz as gzip" in line


def test_gzip_without_the_csv_suffix_is_read_by_its_suffix(tmp_path, capsys):
    path = tmp_path / "scored.gz"
    path.write_bytes(gzip.compress(_scored().to_csv(index=False).encode()))
    assert len(read_table(path)) == 400


def test_piped_input_on_dev_stdin_is_read(tmp_path):
    out = tmp_path / "piped.json"
    csv_bytes = _scored().to_csv(index=False).encode()
    done = subprocess.run(
        [_toolkit_exe(), "diagnose", "/dev/stdin", "--target", "label", "--pred", "pred"]
        + ["--sections", SECTIONS, "--json", str(out)],
        input=csv_bytes,
        capture_output=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(out.read_text())["meta"]["n"] == 400
    # an empty pipe is called empty (and only then)
    done = subprocess.run(
        [_toolkit_exe(), "diagnose", "/dev/stdin", "--target", "label", "--pred", "pred"],
        input=b"",
        capture_output=True,
        timeout=300,
    )
    err = done.stderr.decode().strip().splitlines()
    assert done.returncode == 1 and len(err) == 1 and err[0].endswith("/dev/stdin is empty")


def _toolkit_exe() -> str:
    return str(Path(sys.executable).with_name("toolkit"))


def test_dev_zero_is_refused_at_once_as_not_text(capsys):
    line = _refused(capsys, Path("/dev/zero"))
    assert "/dev/zero is not text: byte 0 is NUL" in line


def test_binary_file_named_csv_is_refused_as_not_text(tmp_path, capsys):
    path = tmp_path / "image.csv"
    path.write_bytes(b"label,pred\n1,0\n\x00\x01\x02")
    assert "is not text: byte 15 is NUL" in _refused(capsys, path)


def test_input_over_the_size_limit_is_refused_with_the_limit(tmp_path, capsys, monkeypatch):
    path = tmp_path / "big.csv"
    _scored(2000).to_csv(path, index=False)
    monkeypatch.setenv("TOOLKIT_MAX_INPUT_MB", "0.01")
    line = _refused(capsys, path)
    assert "over the input limit of 0.01 MiB (set TOOLKIT_MAX_INPUT_MB to raise it)" in line
    assert "big.csv is 0.0" in line
    # a small compressed file that decompresses past the limit: refused while reading
    bomb = tmp_path / "bomb.csv.gz"
    bomb.write_bytes(gzip.compress(b"label,pred\n" + b"1,0\n" * 200_000))
    assert bomb.stat().st_size < 0.01 * 2**20
    assert "holds more than 0.01 MiB decompressed (the input limit" in _refused(capsys, bomb)


@pytest.mark.parametrize("value", ["abc", "-5", "0"])
def test_a_bad_size_limit_setting_is_one_line(tmp_path, capsys, monkeypatch, value):
    path = tmp_path / "ok.csv"
    _scored(20).to_csv(path, index=False)
    monkeypatch.setenv("TOOLKIT_MAX_INPUT_MB", value)
    assert "TOOLKIT_MAX_INPUT_MB must be" in _refused(capsys, path)


def test_csv_field_over_131072_characters_is_read(tmp_path, capsys):
    frame = _scored(60)
    frame["note"] = "short"
    frame.loc[3, "note"] = "x" * 140_000
    path = tmp_path / "long.csv"
    frame.to_csv(path, index=False)
    read = read_table(path)
    assert len(read.loc[3, "note"]) == 140_000
    assert _patterns_json(capsys, path, tmp_path / "out.json", "--features", "color,size") == (
        _patterns_json(capsys, path, tmp_path / "out2.json", "--features", "color,size")
    )


def test_bytes_that_are_not_utf8_name_their_line(tmp_path, capsys):
    path = tmp_path / "latin.csv"
    path.write_bytes("label,pred,city\n1,0,Paris\n0,0,K\u00f6ln\n".encode("latin-1"))
    assert "latin.csv line 3 is not UTF-8 (byte 0xf6" in _refused(capsys, path)


def test_lone_surrogate_bytes_in_a_csv_name_their_line(tmp_path, capsys):
    path = tmp_path / "surrogate.csv"
    text = "label,pred,city\n1,0,Paris\n0,0,a\ud800b\n"
    path.write_bytes(text.encode("utf-8", errors="surrogatepass"))
    assert "line 3 is not UTF-8 (byte 0xed" in _refused(capsys, path)


def test_utf8_bom_is_dropped_from_the_first_header(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbflabel,pred\n1,0\n0,0\n")
    assert list(read_table(path).columns) == ["label", "pred"]


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("", "is empty"),
        ("label,pred\n", "has a header but no rows"),
        ("label,pred\n1,0\n1,0,7\n", "line 3 has 3 fields but the header has 2"),
        ('label,pred\n1,"0\n', "cannot read"),
    ],
)
def test_neighbours_still_give_their_reason(tmp_path, capsys, content, match):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    assert match in _refused(capsys, path)


# ------------------------------------------------------- odd values (point 4, API and CLI)
def test_float_labels_with_float_probability_columns(tmp_path, capsys):
    frame = _scored()
    frame["label"] = frame["label"].astype(float)
    frame["p_1.0"] = np.where(frame["pred"] == 1, 0.8, 0.2)
    frame["p_0.0"] = 1 - frame["p_1.0"]
    frame = frame.drop(columns="pred")
    p = tk.Predictions.from_frame(frame, target="label", proba="p_*", id="id")
    assert p.classes.tolist() == [0.0, 1.0] and p.y_pred.dtype.kind == "f"
    expected = float(((frame["p_1.0"] > 0.5).astype(float) == frame["label"]).mean())
    assert tk.compute_metrics(p).overall["accuracy"] == pytest.approx(expected)
    path = tmp_path / "float.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "float.json"
    code = main(
        ["diagnose", str(path), "--target", "label", "--proba", "p_*", "--id", "id"]
        + ["--sections", SECTIONS, "--json", str(out)]
    )
    assert code == 0, capsys.readouterr().err
    data = json.loads(out.read_text())
    assert data["meta"]["classes"] == [0.0, 1.0]
    assert data["metrics"]["overall"]["accuracy"] == pytest.approx(expected)


def test_list_column_in_parquet_is_dropped_with_a_reason_and_the_rest_runs(tmp_path, capsys):
    pytest.importorskip("pyarrow")
    frame = _scored()
    frame["tags"] = [[1, 2]] * len(frame)
    path = tmp_path / "lists.parquet"
    frame.to_parquet(path)
    out = tmp_path / "lists.json"
    code = main(
        ["diagnose", str(path), "--target", "label", "--pred", "pred", "--id", "id"]
        + ["--sections", SECTIONS, "--json", str(out)]
    )
    captured = capsys.readouterr()
    assert code == 0
    # besides the progress lines (one per section), the one warning
    err = [line for line in captured.err.strip().splitlines() if not PROGRESS.fullmatch(line)]
    assert len(err) == 1 and "warning: features column 'tags' holds ndarray values" in err[0]
    data = json.loads(out.read_text())
    assert data["error_patterns"][0]["pattern"] == "color = red ∧ size = S"
    assert all("tags" not in s["column"] for s in data["slices"])


def test_list_column_through_the_api_is_dropped_and_the_caller_frame_kept():
    frame = _scored()
    frame["tags"] = [["a"], ["b", "c"]] * (len(frame) // 2)
    before = frame.copy(deep=True)
    with pytest.warns(UnusableColumnWarning, match=r"'tags' holds list values \(row 0: \['a'\]\)"):
        p = tk.Predictions.from_frame(frame, target="label", pred="pred", id="id")
    assert "tags" not in p.feature_names and "color" in p.feature_names
    pd.testing.assert_frame_equal(frame, before)
    assert tk.find_error_patterns(p).table["pattern"].iloc[0] == "color = red ∧ size = S"


def test_only_list_columns_leave_no_features_and_patterns_are_skipped_with_a_reason():
    with pytest.warns(UnusableColumnWarning):
        p = tk.Predictions([0, 1, 0, 1], [0, 1, 1, 1], features={"v": pd.Series([[1]] * 4)})
    assert p.feature_names == []
    d = tk.diagnose(p, sections=["metrics", "error_patterns"])
    assert d.error_patterns is None and d.skipped["error_patterns"]


@pytest.mark.parametrize("role", ["y_true", "y_pred", "ids"])
def test_list_values_as_labels_or_ids_are_an_error(role):
    args = {"y_true": [0, 1, 0], "y_pred": [0, 1, 1], "ids": None}
    args[role] = pd.Series([[0], [1], [0]])
    with pytest.raises(InvalidValueError, match=rf"{role} holds list values \(row 0: \[0\]\)"):
        tk.Predictions(args["y_true"], args["y_pred"], ids=args["ids"])


def test_lone_surrogate_in_a_feature_value_is_dropped_and_the_json_is_valid(tmp_path):
    frame = _scored()
    city = np.array(["Paris"] * len(frame), dtype=object)
    city[5] = "a\ud800b"  # object values: pandas' own string dtype refuses it already
    frame["city"] = pd.Series(city, dtype=object)
    with pytest.warns(UnusableColumnWarning, match=r"'city' has a lone surrogate.*row 5"):
        p = tk.Predictions.from_frame(frame, target="label", pred="pred", id="id")
    d = tk.diagnose(p, sections=SECTIONS.split(","))
    d.to_json(tmp_path / "d.json")
    d.to_html(tmp_path / "d.html")
    json.loads((tmp_path / "d.json").read_bytes().decode("utf-8"))


def test_lone_surrogate_in_a_label_or_a_column_name_is_an_error():
    with pytest.raises(InvalidValueError, match=r"y_true has a lone surrogate.*row 1"):
        tk.Predictions(["a", "b\udc80", "a"], ["a", "a", "a"])
    with pytest.raises(InvalidValueError, match="column name with a lone surrogate"):
        tk.Predictions([0, 1], [0, 1], features={"x\ud800": [1, 2]})


def test_infinite_values_bin_to_rules_json_can_hold():
    x = np.array([np.inf] * 30 + [-np.inf] * 30 + list(np.linspace(0, 1, 40)) + [np.nan])
    b = bin_column(x, "x", bins=5)
    frame = pd.DataFrame({"x": x})
    for j, condition in enumerate(b.conditions):  # each rule selects exactly its bin
        assert condition.mask(frame).tolist() == (b.codes == j).tolist(), condition.label
        json.dumps(condition.to_dict(), allow_nan=False)
    assert "x = inf" in b.labels and "x = -inf" in b.labels
    assert not any("inf" in str(c.to_dict()["value"]) for c in b.conditions)


def test_an_infinite_pattern_is_found_and_its_rule_selects_its_rows():
    rng = np.random.default_rng(0)
    n = 600
    x = rng.normal(size=n)
    x[:150] = np.inf
    wrong = np.where(np.isposinf(x), rng.random(n) < 0.7, rng.random(n) < 0.1)
    p = tk.Predictions(np.zeros(n, int), wrong.astype(int), classes=[0, 1], features={"x": x})
    result = tk.find_error_patterns(p)
    top = result.table.iloc[0]
    assert top["pattern"] == "x = inf" and top["n"] == 150
    assert result.mask(0, p.features).tolist() == np.isposinf(x).tolist()
    json.dumps(result.to_dict(), allow_nan=False)


# ------------------------------------------------------------------ row order (point 5)
def _shuffled(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    order = np.random.default_rng(seed).permutation(len(frame))
    return frame.iloc[order].reset_index(drop=True)


@pytest.mark.parametrize("with_ids", [True, False])
def test_shuffled_rows_give_the_same_patterns(with_ids):
    frame = _scored(1500, seed=4)
    cols = ["pattern", "n", "errors", "holdout_n", "holdout_error_rate", "confirmed"]

    def patterns(f: pd.DataFrame) -> pd.DataFrame:
        p = tk.Predictions.from_frame(
            f,
            target="label",
            pred="pred",
            id="id" if with_ids else None,
            features=["age", "color", "size"],
        )
        return tk.find_error_patterns(p, random_state=7).table[cols]

    base = patterns(frame)
    assert base["pattern"].iloc[0] == "color = red ∧ size = S"
    for seed in range(3):
        pd.testing.assert_frame_equal(patterns(_shuffled(frame, seed)), base)


def test_shuffled_rows_give_the_same_split_even_with_repeated_rows():
    # few distinct rows: equal rows must still be split at random, not all one side
    frame = _scored(2000, seed=1).drop(columns=["id", "age"])
    p = tk.Predictions.from_frame(frame, target="label", pred="pred")
    result = tk.find_error_patterns(p, random_state=3)
    top = result.table.iloc[0]
    assert top["pattern"] == "color = red ∧ size = S"
    assert abs(top["holdout_n"] - top["n"] / 2) <= 5  # half of the pattern's rows held out
    q = tk.Predictions.from_frame(_shuffled(frame, 9), target="label", pred="pred")
    pd.testing.assert_frame_equal(
        tk.find_error_patterns(q, random_state=3).table.drop(columns="conditions"),
        result.table.drop(columns="conditions"),
    )


def test_the_seed_still_moves_the_split():
    p = tk.Predictions.from_frame(_scored(1000), target="label", pred="pred", id="id")
    a = tk.find_error_patterns(p, random_state=1).table["holdout_n"].tolist()
    b = tk.find_error_patterns(p, random_state=2).table["holdout_n"].tolist()
    assert a != b


def test_cli_gives_the_same_json_for_shuffled_rows(tmp_path, capsys):
    frame = _scored(800)
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    frame.to_csv(a, index=False)
    _shuffled(frame, 5).to_csv(b, index=False)
    args = ("--features", "age,color,size")
    assert _patterns_json(capsys, a, tmp_path / "a.json", *args) == _patterns_json(
        capsys, b, tmp_path / "b.json", *args
    )


# -------------------------------------------------------- terminal output (point 5)
def test_control_characters_in_values_reach_the_terminal_as_escapes(tmp_path, capsys):
    frame = _scored()
    frame["color"] = frame["color"].replace({"red": "red\x1b[2J\x1b]0;pwned\x07"})
    path = tmp_path / "evil.csv"
    frame.to_csv(path, index=False)
    code = main(
        ["diagnose", str(path), "--target", "label", "--pred", "pred", "--id", "id"]
        + ["--sections", SECTIONS]
    )
    out = capsys.readouterr()
    assert code == 0
    assert "\x1b" not in out.out and "\x07" not in out.out and "\x1b" not in out.err
    assert "color = red\\x1b[2J\\x1b]0;pwned\\x07 ∧ size = S" in out.out


def test_control_characters_in_an_error_stay_on_one_escaped_line(tmp_path, capsys):
    path = tmp_path / "ok.csv"
    _scored(20).to_csv(path, index=False)
    code = main(["diagnose", str(path), "--target", "lab\x1b[31mel\nx", "--pred", "pred"])
    line = _one_error_line(capsys)
    assert code == 1 and "\x1b" not in line and "lab\\x1b[31mel\\nx" in line


def test_a_file_name_with_a_newline_is_one_line(tmp_path, capsys):
    path = tmp_path / "two\nlines.csv"
    assert "file not found" in _refused(capsys, path)


# --------------------------------------------------------------- bounded memory (point 3)
def _wide(n: int, columns: int, seed: int = 0) -> tk.Predictions:
    """``columns`` noise columns and a planted pair a ∧ b (x3 = 1 ∧ x7 = 1, 85% errors)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, columns))
    x[:, 3] = rng.integers(0, 2, n)
    x[:, 7] = rng.integers(0, 2, n)
    planted = (x[:, 3] == 1) & (x[:, 7] == 1)
    wrong = np.where(planted, rng.random(n) < 0.85, rng.random(n) < 0.1)
    features = pd.DataFrame(x, columns=[f"x{j}" for j in range(columns)])
    return tk.Predictions(np.zeros(n, int), wrong.astype(int), classes=[0, 1], features=features)


def test_a_wide_search_over_budget_limits_itself_says_so_and_still_finds_the_plant():
    p = _wide(1000, 40)
    result = tk.find_error_patterns(p, max_work=20_000_000)
    assert not result.exact and len(result.limits) >= 1
    assert result.limits[-1].startswith("3-condition patterns were searched on ")
    assert "of the 40 columns" in result.limits[0] or "(40 in all)" in result.limits[0]
    assert result.table["pattern"].iloc[0] == "x3 = 1 ∧ x7 = 1"
    data = result.to_dict()
    assert data["exact"] is False and data["limits"] == list(result.limits)


def test_within_budget_the_search_is_exact_and_equal_to_no_budget():
    p = _wide(600, 12)
    limited = tk.find_error_patterns(p)
    unlimited = tk.find_error_patterns(p, max_work=None)
    assert limited.exact and limited.limits == ()
    pd.testing.assert_frame_equal(limited.table, unlimited.table)
    assert limited.n_tested == unlimited.n_tested


def test_the_budget_bounds_the_combinations_counted():
    # small patterns, no holdout: little to prune, so the budget decides what is counted
    p = _wide(400, 60)
    kw = {"min_support": 5, "holdout": 0}
    small = tk.find_error_patterns(p, max_work=5_000_000, **kw)
    larger = tk.find_error_patterns(p, max_work=50_000_000, **kw)
    every = tk.find_error_patterns(p, max_work=None, **kw)
    assert small.n_tested < larger.n_tested < every.n_tested / 10
    assert not small.exact and not larger.exact and every.exact
    # a level costs at least 60,000 units a combination: 5e6 allows < 84 a level, each
    # with at most 125 conjunctions (5 bins cubed), after 60 single columns
    assert small.n_tested <= 60 * 5 + 2 * 84 * 125
    for r in (small, larger, every):
        assert r.table["pattern"].iloc[0] == "x3 = 1 ∧ x7 = 1"


def test_limits_reach_the_json_meta_the_report_and_the_command_line(tmp_path, capsys, monkeypatch):
    p = _wide(600, 30)
    result = tk.find_error_patterns(p, max_work=10_000_000)
    section = next(s for s in BUILTIN_SECTIONS if s.name == "error_patterns")
    meta = section.meta_json(result)["error_patterns_search"]
    assert meta["exact"] is False and meta["limits"] == list(result.limits)
    assert VIEWS["error_patterns"](result, None)["limits"] == list(result.limits)
    monkeypatch.setitem(tk.find_error_patterns.__wrapped__.__kwdefaults__, "max_work", 10**7)
    frame = p.to_frame().rename(columns={"y_true": "label", "y_pred": "pred"})
    path = tmp_path / "wide.csv"
    frame.drop(columns=["error"], errors="ignore").to_csv(path, index=False)
    out, html = tmp_path / "wide.json", tmp_path / "wide.html"
    code = main(
        ["diagnose", str(path), "--target", "label", "--pred", "pred", "--id", "id"]
        + ["--sections", "error_patterns", "--json", str(out), "--html", str(html)]
    )
    printed = capsys.readouterr().out
    assert code == 0
    assert "Error patterns: the search limited itself: 2-condition patterns" in printed
    assert json.loads(out.read_text())["meta"]["error_patterns_search"]["exact"] is False
    assert "The search limited itself" in html.read_text()


def test_refusals_are_toolkit_errors_for_api_callers(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("a,a\n1,2\n")
    with pytest.raises(ToolkitError, match="duplicate column names"):
        read_table(path)
