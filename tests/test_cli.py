"""The command line, in process: happy paths on real data, malformed input exits 1 or 2."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

import toolkit as tk
from toolkit.cli import main


@pytest.fixture(scope="module")
def scored_csv(tmp_path_factory):
    data = load_breast_cancer(as_frame=True)
    X, y = data.data.iloc[:, :5], data.target.map({0: "malignant", 1: "benign"})
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.5, random_state=0)
    model = LogisticRegression(max_iter=200).fit(X_tr, y_tr)
    p = tk.Predictions.from_model(model, X_te, y_te)
    frame = p.to_frame().drop(columns=["error"])
    path = tmp_path_factory.mktemp("cli") / "scored.csv"
    frame.to_csv(path, index=False)
    return path, p


def _one_error_line(capsys):
    return _one_error_line_of(capsys.readouterr().err)


def _one_error_line_of(stderr: str) -> str:
    err = stderr.strip().splitlines()
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    return err[0]


def test_error_sample_then_rank_tags_round_trip(scored_csv, tmp_path, capsys):
    path, p = scored_csv
    out = tmp_path / "errors.csv"
    code = main(
        [
            "error-sample",
            str(path),
            "--target",
            "y_true",
            "--proba",
            "p_*",
            "--id",
            "id",
            "--n",
            "300",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    sample = pd.read_csv(out)
    assert len(sample) == int(p.errors.sum())  # fewer errors than 300: all of them
    assert set(sample["id"]) == set(p.ids[p.errors].tolist())
    sample["tags"] = ["near-boundary" if i % 2 == 0 else "" for i in range(len(sample))]
    sample.to_csv(out, index=False)
    capsys.readouterr()
    assert main(["rank-tags", str(out), "--tags", "tags"]) == 0
    printed = capsys.readouterr().out
    k = (len(sample) + 1) // 2
    expected = k / len(sample) * p.errors.mean() * 100
    assert "near-boundary" in printed and f"{expected:.3f}" in printed
    # a sheet nobody has tagged yet: one line saying what to do, the file untouched
    sample["tags"] = ""
    sample.to_csv(out, index=False)
    before = out.read_bytes()
    assert main(["rank-tags", str(out), "--tags", "tags"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "Empty DataFrame" not in captured.err
    assert _one_error_line_of(captured.err) == (
        f"toolkit rank-tags: error: none of the {len(sample):,} errors in {out} has a tag in "
        "column 'tags' yet: write each error's causes there (separated by ';'), then run "
        "rank-tags again"
    )
    assert out.read_bytes() == before


@pytest.mark.parametrize(
    ("content", "extra", "match"),
    [
        ("", [], "empty"),
        ("y_true,p_a,p_b\n", [], "no rows"),
        ("y_true,p_a,p_b\na,0.5,0.5,9\nb,0.1,0.9\n", [], "line 2 has 4 fields"),
        ("y_true,p_a,p_b\na,0.5,0.5\nb,0.1\n", [], "line 3 has 2 fields"),
        ("label,p_a,p_b\na,0.5,0.5\nb,0.2,0.8\n", [], "target column 'y_true' not found"),
        ("y_true,p_a,p_b\na,0.5,0.4\nb,0.2,0.8\n", [], "sum to 1"),
        ("y_true,p_a,p_b\na,x,0.4\nb,0.2,0.8\n", [], "numeric"),
        ("y_true,p_a,p_b\n,0.5,0.5\nb,0.2,0.8\n", [], "missing value"),
        ("y_true,p_a,p_b\na,inf,0.5\nb,0.2,0.8\n", [], "infinite|outside"),
        ("y_true,p_a,p_b\na,0.5,0.5\na,0.2,0.8\n", [], None),  # one class in y: allowed
        ("y_true,p_a,p_b,id\na,0.5,0.5,1\nb,0.2,0.8,1\n", ["--id", "id"], "unique"),
        ("y_true,p_a,p_b\na,0.5,0.5\nc,0.2,0.8\n", [], "absent from classes|no column for label"),
    ],
)
@pytest.mark.parametrize("command", ["error-sample", "diagnose"])
def test_malformed_input_exits_1_with_one_line(tmp_path, capsys, content, extra, match, command):
    path = tmp_path / "in.csv"
    path.write_text(content)
    out = ["--out", str(tmp_path / "o.csv")] if command == "error-sample" else []
    code = main([command, str(path), "--target", "y_true", "--proba", "p_*", *out, *extra])
    if match is None:
        assert code == 0
        return
    assert code == 1
    line = _one_error_line(capsys)
    assert line.startswith(f"toolkit {command}: error:")
    import re

    assert re.search(match, line), line


def test_single_class_everywhere_is_refused(tmp_path, capsys):
    path = tmp_path / "in.csv"
    path.write_text("y_true,y_pred\na,a\na,a\n")
    assert (
        main(
            [
                "error-sample",
                str(path),
                "--target",
                "y_true",
                "--pred",
                "y_pred",
                "--out",
                str(tmp_path / "o.csv"),
            ]
        )
        == 1
    )
    assert "one class" in _one_error_line(capsys)


def test_missing_file_and_usage_errors(tmp_path, capsys):
    assert (
        main(
            [
                "error-sample",
                str(tmp_path / "nope.csv"),
                "--target",
                "y",
                "--pred",
                "p",
                "--out",
                "x.csv",
            ]
        )
        == 1
    )
    assert "not found" in _one_error_line(capsys)
    assert main(["error-sample"]) == 2
    assert main([]) == 2
    assert main(["no-such-command"]) == 2


def test_help_and_version_exit_0(capsys):
    assert main(["--help"]) == 0
    assert "error-sample" in capsys.readouterr().out
    assert main(["--version"]) == 0
    assert tk.__version__ in capsys.readouterr().out


def test_python_m_toolkit_runs():
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "toolkit", "--version"], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0 and tk.__version__ in out.stdout
    assert np.isfinite(1.0)


def test_diagnose_writes_json_with_every_section(scored_csv, tmp_path, capsys):
    import json

    path, p = scored_csv
    out = tmp_path / "d.json"
    argv = [
        "diagnose",
        str(path),
        "--target",
        "y_true",
        "--proba",
        "p_*",
        "--id",
        "id",
        "--json",
        str(out),
    ]
    assert main(argv) == 0
    data = json.loads(out.read_text())
    assert data["meta"]["n"] == p.n
    assert set(data) >= {
        "meta",
        "metrics",
        "baselines",
        "slices",
        "error_patterns",
        "clusters",
        "label_issues",
        "labeling_queue",
        "chain",
    }
    accuracy = next(r for r in data["baselines"] if r["metric"] == "accuracy")
    assert accuracy["model"] == pytest.approx(1 - p.errors.mean())
    assert data["chain"] is None and "chain" in data["meta"]["skipped"]
    again = tmp_path / "e.json"
    assert main([*argv[:-1], str(again)]) == 0
    first, second = json.loads(out.read_text()), json.loads(again.read_text())
    first["meta"].pop("created"), second["meta"].pop("created")
    assert first == second  # same inputs and seed, same JSON


def test_diagnose_writes_the_report_and_logs_it_to_an_mlflow_run(scored_csv, tmp_path, capsys):
    from mlflow import MlflowClient

    path, p = scored_csv
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with tk.track("cli-diagnose", params={"model": "logistic"}, tracking_uri=uri) as run:
        run.log_metric("train_accuracy", 0.9)
    capsys.readouterr()
    html = tmp_path / "r.html"
    argv = ["diagnose", str(path), "--target", "y_true", "--proba", "p_*", "--id", "id"]
    argv += ["--html", str(html), "--run-id", run.run_id, "--tracking-uri", uri]
    assert main(argv) == 0
    captured = capsys.readouterr()
    # progress, also when not on a terminal: one line per step with the seconds so far,
    # and nothing else on stderr (no MLflow chatter)
    progress = captured.err.splitlines()
    assert progress and all(re.fullmatch(r"\[ *\d+\.\d s\] .+ …", line) for line in progress)
    assert progress[0].endswith("metrics and baselines …")  # after the up-front checks
    assert any("error patterns" in line for line in progress)
    assert progress[-1].endswith(f"logging to MLflow run {run.run_id} …")
    # the findings: the report's summary sentences first, then the tables
    out = captured.out.splitlines()
    summary = out[out.index("Summary:") + 1 :]
    summary = summary[: next(i for i, line in enumerate(summary) if not line.startswith("- "))]
    assert summary[0] == (
        f"- The model is wrong on {p.errors.mean():.1%} of {p.n:,} rows; its accuracy "
        f"{1 - p.errors.mean():.3f} is better than always predicting the most frequent class "
        f"({max(np.mean(p.y_true == c) for c in p.classes):.3f})."
    )
    assert any("likely label errors or ambiguous examples" in line for line in summary)
    assert f"Logged 4 artifacts to run {run.run_id}" in captured.out
    # --quiet: only what was written
    quiet = tmp_path / "q.html"
    argv = ["diagnose", str(path), "--target", "y_true", "--proba", "p_*", "--id", "id"]
    assert main([*argv, "--html", str(quiet), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == f"Wrote {quiet}\n"
    text = html.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and '<section id="label-issues"' in text
    client = MlflowClient(uri)
    stored = client.get_run(run.run_id)
    assert stored.info.status == "FINISHED"  # the run keeps its status
    assert stored.data.metrics["accuracy"] == pytest.approx(1 - p.errors.mean())
    assert stored.data.metrics["train_accuracy"] == 0.9
    files = {
        f.path
        for top in ("diagnosis", "predictions")
        for f in client.list_artifacts(run.run_id, top)
    }
    assert files >= {
        "diagnosis/diagnosis.json",
        "diagnosis/diagnosis.html",
        "predictions/predictions.parquet",
    }


def test_diagnose_with_an_unknown_run_id_names_it(scored_csv, tmp_path, capsys):
    path, _ = scored_csv
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    argv = ["diagnose", str(path), "--target", "y_true", "--proba", "p_*"]
    argv += ["--sections", "metrics", "--run-id", "0123abcd", "--tracking-uri", uri]
    assert main(argv) == 1
    assert "run '0123abcd' not found: there is no store at" in _one_error_line(capsys)
    with tk.track("cli-diagnose", tracking_uri=uri):
        pass
    capsys.readouterr()
    assert main(argv) == 1  # the store exists now, the run still does not
    assert "run '0123abcd' not found" in _one_error_line(capsys)


def test_diagnose_unknown_section_is_named(scored_csv, capsys):
    path, _ = scored_csv
    argv = ["diagnose", str(path), "--target", "y_true", "--proba", "p_*", "--sections", "x"]
    assert main(argv) == 1
    assert "unknown section(s) ['x']; sections are ['metrics'," in _one_error_line(capsys)


@pytest.fixture
def pool_csv(scored_csv, tmp_path):
    path, p = scored_csv
    pool = pd.read_csv(path).drop(columns=["y_true", "y_pred"])
    target = tmp_path / "pool.csv"
    pool.to_csv(target, index=False)
    return target, pool


def test_label_queue_writes_the_annotators_csv(pool_csv, tmp_path, capsys):
    path, pool = pool_csv
    out = tmp_path / "queue.csv"
    argv = ["label-queue", str(path), "--proba", "p_*", "--id", "id", "--budget", "10"]
    assert main([*argv, "--out", str(out)]) == 0
    sheet = pd.read_csv(out, keep_default_na=False)
    proba = pool[[c for c in pool.columns if c.startswith("p_")]].to_numpy()
    # oracle: the 10 smallest margins between the two most likely classes
    top2 = np.sort(proba, axis=1)[:, -2:]
    margin = top2[:, 1] - top2[:, 0]
    expected = pool["id"].to_numpy()[np.argsort(margin, kind="stable")[:10]]
    assert sheet["id"].tolist() == expected.tolist()
    assert sheet["rank"].tolist() == list(range(1, 11))
    assert (sheet["label"] == "").all()
    assert sheet["reason"].str.startswith("margin ").all()
    assert {"mean radius", "p_benign"} <= set(sheet.columns)  # the row, for the annotator
    assert "Wrote 10 rows to label next (margin)" in capsys.readouterr().out


def test_label_queue_bad_input(pool_csv, tmp_path, capsys):
    path, _ = pool_csv
    out = ["--out", str(tmp_path / "q.csv")]
    assert main(["label-queue", str(path), "--proba", "p_*", "--strategy", "magic", *out]) == 2
    capsys.readouterr()
    assert main(["label-queue", str(path), "--proba", "p_*", "--budget", "0", *out]) == 1
    assert "budget must be an int in [1, inf), got 0" in _one_error_line(capsys)
    assert main(["label-queue", str(path), *out]) == 1
    assert "give --proba" in _one_error_line(capsys)
    assert main(["label-queue", str(path), "--proba", "p_*", "--strategy", "hybrid", *out]) == 1
    assert "--strategy hybrid needs --labeled FILE" in _one_error_line(capsys)


def test_label_queue_hybrid_with_labeled_rows(scored_csv, pool_csv, tmp_path, capsys):
    labeled, _ = scored_csv
    path, pool = pool_csv
    out = tmp_path / "q.csv"
    argv = ["label-queue", str(path), "--proba", "p_*", "--id", "id", "--budget", "8"]
    argv += ["--strategy", "hybrid", "--labeled", str(labeled), "--target", "y_true"]
    argv += ["--features", "mean radius,mean texture", "--out", str(out)]
    assert main(argv) == 0, capsys.readouterr().err
    sheet = pd.read_csv(out)
    assert len(sheet) == 8 and sheet["id"].is_unique
    assert sheet["reason"].str.contains("labeled neighbours misclassified").all()
    # oracle: the library called on the same pool and labeled rows, by hand
    from toolkit.analysis.labeling import LabelingPool

    feats = ["mean radius", "mean texture"]
    seen = pd.read_csv(labeled)
    labeled_p = tk.Predictions.from_frame(
        seen, target="y_true", proba="p_*", id="id", features=feats
    )
    direct = tk.labeling_queue(
        LabelingPool.from_frame(pool, proba="p_*", id="id", features=feats),
        budget=8,
        strategy="hybrid",
        labeled=labeled_p,
    )
    assert sheet["id"].tolist() == direct.table["id"].tolist()
    assert sheet["reason"].tolist() == direct.table["reason"].tolist()


def test_label_queue_features_take_globs(scored_csv, pool_csv, tmp_path, capsys):
    labeled, _ = scored_csv
    path, _ = pool_csv
    argv = ["label-queue", str(path), "--proba", "p_*", "--id", "id", "--budget", "8"]
    argv += ["--strategy", "hybrid", "--labeled", str(labeled), "--target", "y_true"]
    sheets = []
    for i, features in enumerate(["mean radius,mean texture", "mean r*,mean tex*", "mean [rt]*"]):
        out = tmp_path / f"q{i}.csv"
        assert main([*argv, "--features", features, "--out", str(out)]) == 0
        sheets.append(pd.read_csv(out))
    # 'mean [rt]*' is mean radius and mean texture: every spelling gives the same queue
    assert sheets[1].equals(sheets[0]) and sheets[2].equals(sheets[0])
    capsys.readouterr()
    out = tmp_path / "none.csv"
    assert main([*argv, "--features", "mean radius,nope_*", "--out", str(out)]) == 1
    line = _one_error_line(capsys)
    assert "no feature columns match 'nope_*'" in line and not out.exists()


def test_label_queue_hybrid_finds_the_numeric_columns_itself(
    scored_csv, pool_csv, tmp_path, capsys
):
    labeled, _ = scored_csv
    path, pool = pool_csv
    argv = ["label-queue", str(path), "--proba", "p_*", "--id", "id", "--budget", "8"]
    argv += ["--strategy", "hybrid", "--labeled", str(labeled), "--target", "y_true"]
    # a text column and a column --labeled lacks are no neighbours' coordinates
    wider = pool.assign(note="x", extra=1.0)
    wide_path = tmp_path / "wide.csv"
    wider.to_csv(wide_path, index=False)
    capsys.readouterr()
    auto = tmp_path / "auto.csv"
    assert main([argv[0], str(wide_path), *argv[2:], "--out", str(auto)]) == 0
    numeric = [c for c in pool.columns if c != "id" and not c.startswith("p_")]
    assert len(numeric) == 5  # the five measurements, not the id or the probabilities
    printed = capsys.readouterr().out
    assert f"Neighbours found on 5 numeric columns: {', '.join(numeric)}" in printed
    # the same queue as naming them with --features
    given = tmp_path / "given.csv"
    assert main([*argv, "--features", ",".join(numeric), "--out", str(given)]) == 0
    by_hand = pd.read_csv(given)
    assert pd.read_csv(auto).drop(columns=["note", "extra"]).equals(by_hand)
    # a pool with nothing numeric to share: one line, nothing written
    bare = tmp_path / "bare.csv"
    pool[["id", "p_benign", "p_malignant"]].to_csv(bare, index=False)
    out = tmp_path / "none.csv"
    capsys.readouterr()
    assert main([argv[0], str(bare), *argv[2:], "--out", str(out)]) == 1
    line = _one_error_line(capsys)
    assert "--strategy hybrid found no numeric column" in line and "--features" in line
    assert not out.exists()


def test_relabel_queue_lists_the_likely_label_errors(scored_csv, tmp_path, capsys):
    from toolkit.analysis.labels import find_label_issues

    scored, p = scored_csv
    # the target is called "label", as in DESIGN's examples: the sheet's blank column
    # must not collide with it
    path = tmp_path / "scored.csv"
    pd.read_csv(scored).rename(columns={"y_true": "label"}).to_csv(path, index=False)
    out = tmp_path / "relabel.csv"
    argv = ["label-queue", str(path), "--relabel", "--target", "label", "--proba", "p_*"]
    assert main([*argv, "--id", "id", "--out", str(out)]) == 0
    sheet = pd.read_csv(out, keep_default_na=False)
    assert (sheet["corrected_label"] == "").all()
    given = pd.read_csv(path).set_index("id")["label"]
    assert sheet["label"].tolist() == given.loc[sheet["id"]].tolist()  # the row, as given
    issues = find_label_issues(p).table
    flagged = issues[issues["is_issue"]]
    assert 0 < len(sheet) == len(flagged)
    assert sheet["id"].tolist() == flagged["id"].tolist()  # worst label quality first
    assert sheet["reason"].str.contains("the model believes").all()
    capsys.readouterr()
    assert main([*argv[:3], "--proba", "p_*", "--out", str(out)]) == 1
    assert "--relabel needs --target" in _one_error_line(capsys)


def test_reading_commands_print_one_line_and_create_no_store(tmp_path):
    import subprocess
    import sys

    env = {k: v for k, v in __import__("os").environ.items() if k != "MLFLOW_LOGGING_LEVEL"}
    uri = f"sqlite:///{tmp_path / 'new.db'}"
    for argv in (["runs"], ["compare", "abc", "def"]):
        done = subprocess.run(
            [sys.executable, "-m", "toolkit", *argv, "--tracking-uri", uri],
            capture_output=True,
            text=True,
            check=False,
            env=env,
        )
        assert done.returncode == 1, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "no MLflow store at" in lines[0], done.stderr
        assert list(tmp_path.iterdir()) == []  # nothing created, nothing migrated


@pytest.mark.parametrize("value", ["-1", "x", str(2**32)])
def test_bad_random_state_is_a_usage_error(scored_csv, value, capsys):
    path, _ = scored_csv
    argv = ["diagnose", str(path), "--target", "y_true", "--proba", "p_*"]
    assert main([*argv, "--random-state", value]) == 2
    assert "--random-state" in capsys.readouterr().err


def test_a_wrong_run_id_fails_before_the_analyses(scored_csv, tmp_path, capsys):
    path, _ = scored_csv
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with tk.track("cli-diagnose", tracking_uri=uri):
        pass
    html = tmp_path / "never.html"
    argv = ["diagnose", str(path), "--target", "y_true", "--proba", "p_*", "--html", str(html)]
    capsys.readouterr()
    assert main([*argv, "--run-id", "feedbeef", "--tracking-uri", uri]) == 1
    assert "run 'feedbeef' not found" in _one_error_line(capsys)
    assert not html.exists()  # nothing was run or written


# ------------------------------------------------------------ outputs never over inputs
def _copy(src, dst):
    dst.write_bytes(src.read_bytes())
    return dst


@pytest.mark.parametrize("through", ["same path", "symlink", "relative spelling"])
@pytest.mark.parametrize(
    "command", ["diagnose-json", "diagnose-html", "label-queue", "error-sample", "rank-tags"]
)
def test_an_output_that_is_the_input_is_refused_and_the_input_kept(
    command, through, scored_csv, tmp_path, capsys, monkeypatch
):
    path = _copy(scored_csv[0], tmp_path / "input.csv")
    before = path.read_bytes()
    out = {
        "same path": str(path),
        "symlink": str(tmp_path / "link.csv"),
        "relative spelling": "sub/../input.csv",
    }[through]
    if through == "symlink":
        (tmp_path / "link.csv").symlink_to(path)
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    data = ["--target", "y_true", "--proba", "p_*"]
    argv = {
        "diagnose-json": ["diagnose", str(path), *data, "--json", out],
        "diagnose-html": ["diagnose", str(path), *data, "--html", out],
        "label-queue": ["label-queue", str(path), "--proba", "p_*", "--out", out],
        "error-sample": ["error-sample", str(path), *data, "--out", out],
        "rank-tags": ["rank-tags", str(path), "--out", out],
    }[command]
    assert main(argv) == 1
    line = _one_error_line(capsys)
    assert "is the input" in line and "choose another path" in line
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["input.csv", "sub"] + (["link.csv"] if through == "symlink" else [])
    )  # nothing half-written beside it


def test_demo_refuses_a_file_as_its_output_folder_before_training(tmp_path, capsys):
    target = tmp_path / "report.html"
    target.write_text("keep me")
    assert main(["demo", "--out", str(target)]) == 1
    assert "is a file; give a folder" in _one_error_line(capsys)
    assert target.read_text() == "keep me"
