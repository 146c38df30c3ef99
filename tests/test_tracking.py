"""Tracking against a real local MLflow store (a SQLite file in tmp_path); no mocks."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import math
import os
import random
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("mlflow")

from mlflow import MlflowClient

from toolkit.data import Predictions
from toolkit.exceptions import (
    InvalidValueError,
    ToolkitError,
    ToolkitTypeError,
    ValidationError,
)
from toolkit.tracking import _store, spool
from toolkit.tracking.attach import check_run, log_to_run
from toolkit.tracking.commands import register
from toolkit.tracking.compare import (
    RunComparison,
    compare_runs,
    list_runs,
    load_predictions,
    mark_stale_runs,
)
from toolkit.tracking.errors import RunNotFoundError
from toolkit.tracking.run import Run, flatten, track, tracked

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def template_db(tmp_path_factory):
    """A migrated empty store, made once: migrating a new SQLite file takes seconds."""
    path = tmp_path_factory.mktemp("template") / "mlflow.db"
    _store.get_client(f"sqlite:///{path}")
    return path


@pytest.fixture
def uri(tmp_path, monkeypatch, template_db):
    """An empty SQLite store of this test; the spool and the default store point here too."""
    import sqlite3

    monkeypatch.setenv("TOOLKIT_SPOOL_DIR", str(tmp_path / "spool"))
    path = tmp_path / "store" / "mlflow.db"
    path.parent.mkdir()
    with sqlite3.connect(template_db) as src, sqlite3.connect(path) as dst:
        src.backup(dst)
    store = f"sqlite:///{path}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    return store


def client_for(uri: str) -> MlflowClient:
    return MlflowClient(tracking_uri=uri)


def artifact_text(uri: str, run_id: str, path: str, tmp_path: Path) -> str:
    local = client_for(uri).download_artifacts(run_id, path, str(tmp_path / "dl"))
    return Path(local).read_text(encoding="utf-8")


def artifact_paths(uri: str, run_id: str, folder: str = "") -> list[str]:
    client = client_for(uri)
    out = []
    for item in client.list_artifacts(run_id, folder or None):
        if item.is_dir:
            out.extend(artifact_paths(uri, run_id, item.path))
        else:
            out.append(item.path)
    return sorted(out)


def cli(argv: list[str]) -> tuple[int, str]:
    """Run a tracking command the way toolkit/cli.py does (ToolkitError -> exit 1)."""
    parser = argparse.ArgumentParser(prog="toolkit")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    try:
        return args.func(args), ""
    except ToolkitError as exc:
        return 1, str(exc)


# ---------------------------------------------------------------------------- store
def test_resolve_tracking_uri_makes_sqlite_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert _store.resolve_tracking_uri() == f"sqlite:///{tmp_path}/mlflow.db"
    assert _store.resolve_tracking_uri("sqlite:///sub/x.db") == f"sqlite:///{tmp_path}/sub/x.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000/")
    assert _store.resolve_tracking_uri() == "http://127.0.0.1:5000"
    assert _store.resolve_tracking_uri("runs") == (tmp_path / "runs").as_uri()


def test_resolve_tracking_uri_rejects_memory_store():
    with pytest.raises(ValidationError, match="in-memory store cannot be shared"):
        _store.resolve_tracking_uri("sqlite:///:memory:")


def test_fresh_store_is_created_in_wal_mode_with_a_lock_file(tmp_path):
    uri = f"sqlite:///{tmp_path / 'new' / 'mlflow.db'}"
    with track("fresh", tracking_uri=uri) as run:
        pass
    assert client_for(uri).get_run(run.run_id).info.status == "FINISHED"
    path = _store.sqlite_path(uri)
    assert path.with_name("mlflow.db.lock").exists()
    import sqlite3

    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_experiment_creation_is_idempotent(uri):
    client = _store.get_client(uri)
    first = _store.get_or_create_experiment(client, uri, "same")
    _store.forget_client(uri)
    client = _store.get_client(uri)
    assert _store.get_or_create_experiment(client, uri, "same") == first


# ---------------------------------------------------------------------------- what a run records
def test_track_records_params_metrics_and_environment(uri, tmp_path):
    with track(
        "exp", params={"model": {"C": 1.0, "depth": 3}, "name": "lr"}, seed=7, run_name="r1"
    ) as run:
        assert isinstance(run, Run)
        for step in range(5):
            run.log_metric("loss", 1.0 / (step + 1), step=step)
        run.log_metrics({"accuracy": 0.9, "f1": 0.8})
        print("hello from stdout")
        print("hello from stderr", file=sys.stderr)
    data = client_for(uri).get_run(run.run_id)
    assert data.info.status == "FINISHED"
    assert data.info.run_name == "r1"
    assert data.data.params == {"model.C": "1.0", "model.depth": "3", "name": "lr", "seed": "7"}
    history = client_for(uri).get_metric_history(run.run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(s, 1.0 / (s + 1)) for s in range(5)]
    assert data.data.metrics["accuracy"] == 0.9
    assert data.data.metrics["duration_s"] >= 0
    tags = data.data.tags
    # MLflow's own run-context tags
    assert tags["mlflow.source.name"] == sys.argv[0]
    assert tags["mlflow.source.type"] == "LOCAL"
    assert tags["mlflow.user"]
    assert tags["toolkit.python"] == ".".join(map(str, sys.version_info[:3]))
    assert tags["toolkit.cwd"] == os.getcwd()
    assert json.loads(tags["toolkit.argv"]) == sys.argv
    assert "CPUs" in tags["toolkit.hardware"]
    assert tags["toolkit.platform"]
    assert tags["toolkit.seed"] == "7"
    assert tags["toolkit.pid"] == str(os.getpid())
    paths = artifact_paths(uri, run.run_id)
    assert "environment/packages.txt" in paths and "environment/environment.json" in paths
    packages = artifact_text(uri, run.run_id, "environment/packages.txt", tmp_path)
    assert any(line.lower().startswith("mlflow==") for line in packages.splitlines())
    log = artifact_text(uri, run.run_id, "logs/output.log", tmp_path)
    assert "hello from stdout" in log and "hello from stderr" in log


def test_seed_sets_python_and_numpy_generators(uri):
    with track("seed", seed=3):
        a = (random.random(), np.random.rand())  # noqa: NPY002
    with track("seed", seed=3):
        b = (random.random(), np.random.rand())  # noqa: NPY002
    assert a == b


def _git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    out = subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


def test_git_commit_branch_dirty_flag_and_diff(uri, tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "feature")
    (repo / "train.py").write_text("x = 1\n")
    _git(repo, "add", "train.py")
    _git(repo, "commit", "-q", "-m", "first")
    (repo / "train.py").write_text("x = 2\n")
    monkeypatch.chdir(repo)
    with track("git") as run:
        pass
    tags = client_for(uri).get_run(run.run_id).data.tags
    assert tags["mlflow.source.git.commit"] == _git(repo, "rev-parse", "HEAD")
    assert tags["mlflow.source.git.branch"] == "feature"
    assert tags["toolkit.git.dirty"] == "true"
    diff = artifact_text(uri, run.run_id, "git/diff.patch", tmp_path)
    assert "-x = 1" in diff and "+x = 2" in diff


def test_metrics_are_buffered_then_sent_in_batches(uri):
    client = client_for(uri)
    with track("buffer") as run:
        run.log_metric("m", 1.0)
        assert "m" not in client.get_run(run.run_id).data.metrics  # still buffered
        run.flush()
        assert client.get_run(run.run_id).data.metrics["m"] == 1.0
        for step in range(2500):  # past the flush threshold, more than one log_batch
            run.log_metric("many", float(step), step=step)
        assert len(client.get_metric_history(run.run_id, "many")) >= 2000
    assert len(client.get_metric_history(run.run_id, "many")) == 2500


def test_many_params_are_split_into_batches(uri):
    params = {f"p{i}": i for i in range(250)}
    with track("params", params=params) as run:
        pass
    assert len(client_for(uri).get_run(run.run_id).data.params) == 250


def test_flatten_nested_dicts():
    assert flatten({"a": {"b": {"c": 1}}, "d": 2}) == {"a.b.c": 1, "d": 2}


def test_cv_scores_are_logged_per_fold(uri):
    scores = {"test_accuracy": [0.8, 0.9, 0.85], "fit_time": [0.1, 0.2, 0.1]}
    with track("cv") as run:
        summary = run.log_cv_scores(scores)
    history = client_for(uri).get_metric_history(run.run_id, "cv.test_accuracy")
    assert sorted((m.step, m.value) for m in history) == [(0, 0.8), (1, 0.9), (2, 0.85)]
    assert summary["cv.test_accuracy.mean"] == pytest.approx(0.85)
    assert summary["cv.test_accuracy.std"] == pytest.approx(np.std([0.8, 0.9, 0.85], ddof=1))


def test_nested_runs_record_their_parent(uri):
    with track("nest", run_name="parent") as parent:
        for fold in range(2):
            with track("nest", run_name=f"fold-{fold}", nested=True) as child:
                child.log_metric("score", fold)
    children = client_for(uri).search_runs(
        [parent.experiment_id], f"tags.`mlflow.parentRunId` = '{parent.run_id}'"
    )
    assert sorted(r.info.run_name for r in children) == ["fold-0", "fold-1"]


def test_nested_without_parent_is_an_error(uri):
    with pytest.raises(ValidationError, match="no toolkit run is open"):
        with track("nest", nested=True):
            pass


# ----------------------------------------------------------- values MLflow would alter
def test_long_param_is_refused_not_truncated(uri):
    with pytest.raises(InvalidValueError, match="param 'notes' is 6,001 characters long"):
        with track("long", params={"notes": "x" * 6001}):
            pass
    with track("long") as run:
        with pytest.raises(InvalidValueError, match="MLflow keeps 6,000"):
            run.log_param("notes", "y" * 7000)


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, np.float32("nan")])
def test_non_finite_metric_is_refused(uri, value):
    with track("nonfinite") as run:
        with pytest.raises(InvalidValueError, match="metric 'loss' is"):
            run.log_metric("loss", value)


def test_changed_param_is_refused_where_it_is_logged(uri):
    with track("immutable", params={"lr": 0.1}) as run:
        run.log_param("lr", 0.1)  # the same value again is fine
        with pytest.raises(ValidationError, match="param 'lr' was already logged as '0.1'"):
            run.log_param("lr", 0.2)


def test_bad_names_and_types_are_refused(uri):
    with track("names") as run:
        with pytest.raises(ValidationError, match="not allowed by MLflow"):
            run.log_metric("bad|name", 1.0)
        with pytest.raises(ToolkitTypeError, match="must be a number"):
            run.log_metric("acc", "high")
        with pytest.raises(InvalidValueError, match="tag 'big' is 8,001 characters"):
            run.set_tag("big", "z" * 8001)


def test_logging_after_the_run_ended_is_an_error(uri):
    with track("ended") as run:
        pass
    with pytest.raises(ToolkitError, match="has ended"):
        run.log_metric("late", 1.0)


def test_run_closed_inside_the_block_keeps_its_status_and_the_block_still_cleans_up(uri):
    stdout = sys.stdout
    with track("closed-early") as run:
        run.log_metric("m", 1.0)
        run.close("KILLED")
        with pytest.raises(ToolkitError, match="has ended"):
            run.close("FINISHED")
    assert sys.stdout is stdout  # console capture ended with the block
    data = client_for(uri).get_run(run.run_id)
    assert data.info.status == "KILLED" and data.data.metrics["m"] == 1.0


# ---------------------------------------------------------------------------- truthful status
def test_exception_marks_failed_stores_traceback_and_reraises(uri, tmp_path):
    with pytest.raises(ZeroDivisionError):
        with track("fail") as run:
            run.log_metric("before", 1.0)
            1 / 0  # noqa: B018
    data = client_for(uri).get_run(run.run_id)
    assert data.info.status == "FAILED"
    assert data.data.tags["toolkit.error.type"] == "builtins.ZeroDivisionError"
    assert data.data.tags["toolkit.error.message"] == "division by zero"
    assert data.data.metrics["before"] == 1.0  # nothing buffered was lost
    text = artifact_text(uri, run.run_id, "error/traceback.txt", tmp_path)
    assert "Traceback" in text and "ZeroDivisionError: division by zero" in text and "1 / 0" in text


@pytest.mark.parametrize(("code", "status"), [(1, "FAILED"), ("bad", "FAILED"), (0, "FINISHED")])
def test_sys_exit_status(uri, code, status):
    with pytest.raises(SystemExit):
        with track("exit") as run:
            sys.exit(code)
    assert client_for(uri).get_run(run.run_id).info.status == status


def test_keyboard_interrupt_marks_killed(uri):
    with pytest.raises(KeyboardInterrupt):
        with track("ctrl-c") as run:
            raise KeyboardInterrupt
    assert client_for(uri).get_run(run.run_id).info.status == "KILLED"


def test_tracked_decorator_injects_run_logs_args_and_fails_truthfully(uri):
    seen = {}

    @tracked("decorated", seed=1)
    def train(C=1.0, *, penalty="l2", run=None):
        seen["run"] = run
        run.log_metric("acc", 0.5)
        if C < 0:
            raise ValueError("C must be positive")
        return C * 2

    assert train(2.0) == 4.0
    data = client_for(uri).get_run(seen["run"].run_id)
    assert data.info.status == "FINISHED" and data.info.run_name == "train"
    assert data.data.params["arg.C"] == "2.0" and data.data.params["arg.penalty"] == "l2"
    with pytest.raises(ValueError, match="C must be positive"):
        train(-1.0)
    assert client_for(uri).get_run(seen["run"].run_id).info.status == "FAILED"


def test_bare_tracked_decorator(uri):
    @tracked
    def job():
        return 1

    assert job() == 1
    assert client_for(uri).get_experiment_by_name("job") is not None


CHILD = textwrap.dedent(
    """
    import sys, time
    from toolkit.tracking import track
    with track("signals", tracking_uri=sys.argv[1]) as run:
        run.log_metric("started", 1.0)
        run.flush()
        print(run.run_id, flush=True)
        time.sleep(60)
    """
)


def _start_child(uri: str, env: dict | None = None) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, uri],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    run_id = proc.stdout.readline().strip()
    assert run_id, proc.stderr.read()
    return proc, run_id


def test_sigterm_marks_killed(uri):
    proc, run_id = _start_child(uri)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    data = client_for(uri).get_run(run_id)
    assert data.info.status == "KILLED"
    assert data.data.tags["toolkit.end_reason"] == "signal SIGTERM"
    assert data.data.metrics["started"] == 1.0


def test_sigkill_leaves_running_until_marked_stale(uri):
    proc, run_id = _start_child(uri)
    proc.kill()
    proc.wait(timeout=60)
    assert client_for(uri).get_run(run_id).info.status == "RUNNING"
    assert mark_stale_runs("signals", tracking_uri=uri) == [run_id]
    data = client_for(uri).get_run(run_id)
    assert data.info.status == "FAILED"
    assert "no longer exists" in data.data.tags["toolkit.end_reason"]
    assert mark_stale_runs("signals", tracking_uri=uri) == []


def test_stale_by_heartbeat_age(uri):
    with track("beats") as run:
        pass
    client = client_for(uri)
    # A RUNNING run of another host, whose heartbeat stopped 10 minutes ago.
    other = client.create_run(
        run.experiment_id,
        tags={
            "toolkit.host": "elsewhere",
            "toolkit.pid": "1",
            "toolkit.heartbeat": str(int(time.time() * 1000) - 600_000),
            "toolkit.heartbeat_interval_s": "30",
        },
    )
    fresh = client.create_run(
        run.experiment_id,
        tags={
            "toolkit.host": "elsewhere",
            "toolkit.pid": "1",
            "toolkit.heartbeat": str(int(time.time() * 1000)),
        },
    )
    assert mark_stale_runs("beats", tracking_uri=uri) == [other.info.run_id]
    assert client.get_run(fresh.info.run_id).info.status == "RUNNING"


def test_heartbeat_refreshes_tag_and_flushes_buffer(uri, monkeypatch):
    monkeypatch.setenv("TOOLKIT_HEARTBEAT_S", "0.2")
    client = client_for(uri)
    with track("heartbeat") as run:
        first = int(client.get_run(run.run_id).data.tags["toolkit.heartbeat"])
        run.log_metric("progress", 0.5)
        deadline = time.time() + 20
        while time.time() < deadline:
            data = client.get_run(run.run_id).data
            if int(data.tags["toolkit.heartbeat"]) > first and "progress" in data.metrics:
                break
            time.sleep(0.1)
        else:
            pytest.fail("heartbeat did not refresh the tag and send the buffered metric")
        assert data.tags["toolkit.heartbeat_interval_s"] == "0.2"


# ----------------------------------------------------------- datasets, predictions, models
def test_dataset_digest_covers_every_row_schema_and_labels(uri, tmp_path):
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=20_000), "b": rng.integers(0, 5, 20_000)})
    y = np.array(["no", "yes"])[rng.integers(0, 2, 20_000)]
    changed = X.copy()
    changed.loc[19_999, "a"] += 1.0  # a row past the first 10,000
    with track("data") as run:
        first = run.log_dataset("train", X, y)
        again = run.log_dataset("train-again", X.copy(), y.copy())
        other = run.log_dataset("changed", changed, y)
    assert first["digest"] == again["digest"] != other["digest"]
    assert first["schema"] == {"a": "float64", "b": "int64"}
    assert first["n_rows"] == 20_000 and first["n_columns"] == 2
    counts = pd.Series(y).value_counts()
    assert first["label_distribution"] == {"no": counts["no"], "yes": counts["yes"]}
    data = client_for(uri).get_run(run.run_id)
    assert data.data.tags["toolkit.dataset.train.digest"] == first["digest"]
    digests = {d.dataset.name: d.dataset.digest for d in data.inputs.dataset_inputs}
    assert digests["train"] == first["digest"]
    stored = json.loads(artifact_text(uri, run.run_id, "datasets/train.json", tmp_path))
    assert stored["digest"] == first["digest"]


def test_dataset_digest_changes_with_column_order_and_labels(uri):
    X = pd.DataFrame({"a": [1, 2, 3], "b": [4, 5, 6]})
    with track("data2") as run:
        base = run.log_dataset("base", X, [0, 1, 0])["digest"]
        swapped = run.log_dataset("swapped", X[["b", "a"]], [0, 1, 0])["digest"]
        relabelled = run.log_dataset("relabelled", X, [0, 1, 1])["digest"]
    assert len({base, swapped, relabelled}) == 3


def _predictions(error_rate_female: float, seed: int = 0) -> Predictions:
    rng = np.random.default_rng(seed)
    n = 400
    sex = np.where(np.arange(n) % 2 == 0, "Female", "Male")
    y = rng.integers(0, 2, n)
    wrong = np.where(sex == "Female", rng.random(n) < error_rate_female, rng.random(n) < 0.1)
    pred = np.where(wrong, 1 - y, y)
    proba1 = np.where(pred == 1, 0.8, 0.2)
    features = pd.DataFrame({"sex": sex, "age": rng.integers(18, 80, n)})
    return Predictions(y, pred, np.c_[1 - proba1, proba1], features=features)


def test_predictions_round_trip_through_parquet(uri):
    p = _predictions(0.2)
    with track("preds") as run:
        path = run.log_predictions(p)
    assert path == "predictions/predictions.parquet"
    back = load_predictions(run.run_id, tracking_uri=uri)
    np.testing.assert_array_equal(back.errors, p.errors)
    np.testing.assert_allclose(back.proba, p.proba)
    assert back.feature_names == p.feature_names and back.task == p.task


def test_log_diagnosis_json_html_and_metrics(uri, tmp_path):
    class FakeDiagnosis:
        def to_dict(self):
            return {"metrics": {"overall": {"accuracy": 0.8, "roc_auc": None, "brier": 0.1}}}

        def to_html(self, path):
            Path(path).write_text("<html>report</html>", encoding="utf-8")

    with track("diag") as run:
        logged = run.log_diagnosis(FakeDiagnosis())
    assert logged == {"accuracy": 0.8, "brier": 0.1}
    data = client_for(uri).get_run(run.run_id).data
    assert data.metrics["accuracy"] == 0.8
    assert data.tags["toolkit.diagnosis.undefined_metrics"] == "roc_auc"
    assert artifact_text(uri, run.run_id, "diagnosis/diagnosis.html", tmp_path).startswith("<html>")
    stored = json.loads(artifact_text(uri, run.run_id, "diagnosis/diagnosis.json", tmp_path))
    assert stored["metrics"]["overall"]["accuracy"] == 0.8


def test_log_diagnosis_accepts_metrics(uri):
    from toolkit.analysis.metrics import compute_metrics

    metrics = compute_metrics(_predictions(0.2))
    with track("diag-metrics") as run:
        logged = run.log_diagnosis(metrics, name="metrics")
    assert logged["accuracy"] == pytest.approx(metrics.overall["accuracy"])
    with pytest.raises(ToolkitTypeError, match="to_dict"):
        with track("diag-metrics") as run:
            run.log_diagnosis(object())


def test_log_model_with_explicit_requirements_and_params(uri, tmp_path):
    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 3)), rng.integers(0, 2, 60)
    model = LogisticRegression(C=0.5).fit(X, y)
    with track("model") as run:
        model_uri = run.log_model(model)
    assert model_uri == f"runs:/{run.run_id}/model"
    params = client_for(uri).get_run(run.run_id).data.params
    assert params["model.C"] == "0.5" and params["model.class"] == "LogisticRegression"
    reqs = artifact_text(uri, run.run_id, "model/requirements.txt", tmp_path)
    import sklearn

    assert f"scikit-learn=={sklearn.__version__}" in reqs
    local = client_for(uri).download_artifacts(run.run_id, "model", str(tmp_path / "m"))
    loaded = mlflow.sklearn.load_model(local)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert client_for(uri).get_run(run.run_id).data.tags["toolkit.model.model.format"] == "skops"


def test_log_model_falls_back_to_cloudpickle_and_says_so(uri, tmp_path):
    import mlflow.sklearn
    from sklearn.compose import make_column_selector, make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(60, 3)), columns=["a", "b", "c"])
    y = rng.integers(0, 2, 60)
    # skops refuses make_column_selector (an untrusted type): the model must still be saved
    encode = make_column_transformer(
        (StandardScaler(), make_column_selector(dtype_include="number"))
    )
    model = make_pipeline(encode, LogisticRegression()).fit(X, y)
    with track("model") as run:
        run.log_model(model)
    tags = client_for(uri).get_run(run.run_id).data.tags
    assert tags["toolkit.model.model.format"] == "cloudpickle"
    local = client_for(uri).download_artifacts(run.run_id, "model", str(tmp_path / "m"))
    np.testing.assert_array_equal(mlflow.sklearn.load_model(local).predict(X), model.predict(X))


# ---------------------------------------------------------------------------- runs, compare, CLI
def test_list_runs_and_cli(uri, capsys):
    with track("listing", run_name="one") as a:
        a.log_metric("accuracy", 0.7)
    with pytest.raises(RuntimeError):
        with track("listing", run_name="two") as b:
            b.log_metric("accuracy", 0.8)
            raise RuntimeError("boom")
    table = list_runs("listing", tracking_uri=uri)
    assert list(table["run_id"]) == [b.run_id, a.run_id]
    assert list(table["status"]) == ["FAILED", "FINISHED"]
    assert list(table["accuracy"]) == [0.8, 0.7]
    code, _ = cli(["runs", "--experiment", "listing", "--mark-stale"])
    out = capsys.readouterr().out
    assert code == 0 and a.run_id in out and "FAILED" in out and "marked 0 stale" in out
    code, message = cli(["runs", "--experiment", "nope"])
    assert code == 1 and message == "experiment 'nope' does not exist"


def test_compare_runs_params_metrics_and_slices(uri, capsys):
    with track("cmp", params={"C": 1.0, "same": 1}) as a:
        pa = _predictions(0.1, seed=1)
        a.log_metric("accuracy", float(1 - pa.errors.mean()))
        a.log_predictions(pa)
    with track("cmp", params={"C": 0.1, "same": 1}) as b:
        pb = _predictions(0.4, seed=1)  # much worse on Female
        b.log_metric("accuracy", float(1 - pb.errors.mean()))
        b.log_predictions(pb)
    result = compare_runs(a.run_id, b.run_id, tracking_uri=uri, slices=["sex"])
    assert isinstance(result, RunComparison)
    assert (result.run_a, result.run_b) == (a.run_id, b.run_id)
    table = result.table
    assert list(table.columns) == ["kind", "name", "a", "b", "delta", "n_a", "n_b"]
    assert not table.attrs
    params = table[table["kind"] == "param"]
    assert params[["name", "a", "b"]].values.tolist() == [["C", "1.0", "0.1"]]
    female = table[(table["kind"] == "slice") & (table["name"] == "sex = Female")].iloc[0]
    rate_a = pa.errors[pa.feature("sex").to_numpy() == "Female"].mean()
    rate_b = pb.errors[pb.feature("sex").to_numpy() == "Female"].mean()
    assert female["a"] == pytest.approx(rate_a) and female["b"] == pytest.approx(rate_b)
    assert female["delta"] == pytest.approx((rate_b - rate_a) * 100)
    assert female["n_a"] == female["n_b"] == (pa.feature("sex").to_numpy() == "Female").sum()
    acc = table[(table["kind"] == "metric") & (table["name"] == "accuracy")].iloc[0]
    assert acc["delta"] == pytest.approx(acc["b"] - acc["a"])

    gap = female["delta"]
    code, _ = cli(["compare", a.run_id, b.run_id, "--slices", "sex", "--max-regression", "5"])
    assert code == 1 and gap > 5
    assert "sex = Female" in capsys.readouterr().err
    code, _ = cli(["compare", a.run_id, b.run_id, "--max-regression", str(gap + 1)])
    assert code == 0
    code, _ = cli(["compare", b.run_id, a.run_id, "--slices", "sex", "--max-regression", "0"])
    assert code == 1 or code == 0  # Male may move a little either way
    code, message = cli(["compare", a.run_id, "0" * 32])
    assert code == 1 and "not found" in message


def test_compare_gate_skips_slices_too_small_to_judge(uri, capsys):
    rng = np.random.default_rng(5)
    n = 600
    group = np.where(np.arange(n) < 8, "rare", "common")
    y = rng.integers(0, 2, n)
    features = pd.DataFrame({"group": group})
    runs = []
    for wrong_rare in (0, 4):  # run B gets 4 of the 8 rare rows wrong: +50 points
        pred = y.copy()
        pred[:wrong_rare] = 1 - pred[:wrong_rare]
        with track("cmp-small") as run:
            run.log_predictions(Predictions(y, pred, features=features))
        runs.append(run.run_id)
    argv = ["compare", *runs, "--slices", "group", "--max-regression", "5"]
    code, _ = cli(argv)  # default: slices under 30 rows are not gated
    assert code == 0
    assert "1 slice(s) under 30 rows not gated" in capsys.readouterr().out
    code, _ = cli([*argv, "--min-slice-rows", "8"])
    assert code == 1
    assert "group = rare +50.00 pp" in capsys.readouterr().err
    code, message = cli([*argv, "--min-slice-rows", "0"])
    assert code == 1 and "--min-slice-rows must be >= 1, got 0" in message


def test_compare_gate_needs_predictions(uri):
    with track("cmp2") as a:
        pass
    with track("cmp2") as b:
        pass
    code, message = cli(["compare", a.run_id, b.run_id, "--max-regression", "1"])
    assert code == 1 and "needs predictions logged in both runs" in message


def test_importing_the_cli_commands_loads_no_mlflow():
    code = (
        "import sys, argparse\n"
        "from toolkit.tracking.commands import register\n"
        "p = argparse.ArgumentParser(); register(p.add_subparsers())\n"
        "print('mlflow' in sys.modules, 'pandas' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "False False"


def test_compare_runs_result_fields_and_json(uri):
    with track("cmp-json", params={"C": 1.0}) as a:
        a.log_metric("accuracy", 0.75)
    with track("cmp-json", params={"C": 0.5}) as b:
        b.log_metric("accuracy", 0.8)
    result = compare_runs(a.run_id, b.run_id, tracking_uri=uri)
    assert result.meta == {"run_a": a.run_id, "run_b": b.run_id}
    assert len(result) == len(result.table) == 3  # param C, metrics accuracy and duration_s
    data = json.loads(json.dumps(result.to_dict()))
    assert (data["run_a"], data["run_b"]) == (a.run_id, b.run_id)
    accuracy = next(row for row in data["table"] if row["name"] == "accuracy")
    assert accuracy == {
        "kind": "metric",
        "name": "accuracy",
        "a": 0.75,
        "b": 0.8,
        "delta": pytest.approx(0.05),
        "n_a": None,
        "n_b": None,
    }
    assert [row["name"] for row in data["table"] if row["kind"] == "param"] == ["C"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.run_a = "other"


# ---------------------------------------------------------------------------- attach
def test_log_to_run_adds_to_a_finished_run_and_keeps_its_status(uri, tmp_path):
    with track("attach") as run:
        run.log_metric("accuracy", 0.5)
    p = _predictions(0.2)
    written = log_to_run(run.run_id, predictions=p, tracking_uri=uri)
    assert written == ["predictions/predictions.json", "predictions/predictions.parquet"]
    data = client_for(uri).get_run(run.run_id)
    assert data.info.status == "FINISHED"
    assert data.data.tags["toolkit.predictions.predictions"] == "predictions/predictions.parquet"
    np.testing.assert_array_equal(load_predictions(run.run_id, tracking_uri=uri).errors, p.errors)


def test_log_to_run_adds_nothing_when_logging_fails(uri):
    class Broken:
        def to_dict(self):
            raise RuntimeError("cannot serialise")

    with track("attach") as run:
        pass
    before = artifact_paths(uri, run.run_id)
    with pytest.raises(RuntimeError, match="cannot serialise"):
        log_to_run(run.run_id, predictions=_predictions(0.2), diagnosis=Broken(), tracking_uri=uri)
    assert artifact_paths(uri, run.run_id) == before  # the predictions were not uploaded
    assert "toolkit.predictions.predictions" not in client_for(uri).get_run(run.run_id).data.tags


def test_check_run_names_a_missing_run_and_creates_no_store(uri, tmp_path):
    with pytest.raises(RunNotFoundError, match="'0123abcd' not found"):
        check_run("0123abcd", tracking_uri=uri)
    missing = tmp_path / "nowhere" / "mlflow.db"
    with pytest.raises(RunNotFoundError, match="there is no store at"):
        check_run("0123abcd", tracking_uri=f"sqlite:///{missing}")
    assert not missing.exists()


# ---------------------------------------------------------------------------- spool fallback
def test_run_goes_to_the_spool_when_creating_it_on_the_server_fails(
    uri, tmp_path, monkeypatch, caplog
):
    """The server answered /health, then refused the connection: the run is spooled."""
    with socket_closed_port() as port:
        target = f"http://127.0.0.1:{port}"
        monkeypatch.setattr(spool, "server_reachable", lambda uri, timeout=3.0: True)
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        caplog.set_level(logging.WARNING, logger="toolkit.tracking")
        with track("flaky", params={"a": 1}, tracking_uri=target) as run:
            run.log_metric("m", 1.0)
    assert run.spooled and run.tracking_uri == spool.spool_uri()
    assert "unreachable" in caplog.text and "toolkit sync" in caplog.text
    data = client_for(run.tracking_uri).get_run(run.run_id)
    assert data.info.status == "FINISHED"
    assert data.data.tags[spool.TARGET_TAG] == target
    assert data.data.params == {"a": "1"} and data.data.metrics["m"] == 1.0


@contextlib.contextmanager
def socket_closed_port():
    """A local port nobody listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    yield port


# ---------------------------------------------------------------------------- checked parameters
def test_track_and_tracked_check_their_parameters(uri):
    with pytest.raises(InvalidValueError, match=r"track\S*: seed must be an int in \[0, "):
        track("checks", seed=-1)
    with pytest.raises(ToolkitTypeError, match="seed must be"):
        track("checks", seed="7")
    with pytest.raises(ToolkitTypeError, match="nested must be a bool"):
        track("checks", nested=1)
    with pytest.raises(ToolkitTypeError, match="experiment must be a str"):
        track(None)
    with pytest.raises(ValidationError, match="non-empty"):
        track("  ")
    with pytest.raises(ToolkitTypeError, match="tracked: seed must be"):
        tracked("checks", seed=True)  # refused when decorating, not at the first call
    with pytest.raises(ToolkitTypeError, match=r"unknown options \['sead'\]"):
        tracked("checks", sead=1)


def test_reading_functions_check_their_parameters(uri):
    with pytest.raises(InvalidValueError, match="list_runs: max_results must be an int in"):
        list_runs(max_results=0)
    with pytest.raises(ToolkitTypeError, match="compare_runs: slices must be"):
        compare_runs("a", "b", slices="sex")
    with pytest.raises(ToolkitTypeError, match="log_to_run: predictions must be"):
        log_to_run("a", predictions=[0, 1])
    with track("checks") as run:
        with pytest.raises(ToolkitTypeError, match="log_model: model must be"):
            run.log_model(object())
        with pytest.raises(ToolkitTypeError, match="log_predictions: p must be"):
            run.log_predictions([0, 1])


def test_tracking_imports_without_fcntl():
    """fcntl exists only on POSIX: importing the tracking layer must not need it."""
    code = (
        "import sys\n"
        "sys.modules['fcntl'] = None  # import fcntl now raises ImportError\n"
        "import toolkit.tracking\n"
        "from toolkit.tracking import _store, attach, commands, compare, run, spool\n"
        "from toolkit.tracking import track, compare_runs\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "ok"
