"""Tracking against a real local MLflow store (a SQLite file in tmp_path); no mocks."""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import tracking_cli as cli

pytest.importorskip("mlflow")

import mlflow
from mlflow import MlflowClient

from toolkit.data import Predictions
from toolkit.exceptions import (
    InvalidValueError,
    ToolkitError,
    ToolkitTypeError,
    ValidationError,
)
from toolkit.tracking import _capture, _records, _store, spool
from toolkit.tracking._run import CONFLICTS_TAG
from toolkit.tracking.attach import RunEnvironment, check_run, log_to_run, run_environment
from toolkit.tracking.compare import (
    compare_runs,
    list_runs,
    load_predictions,
    mark_stale_runs,
)
from toolkit.tracking.errors import (
    RecordNotFoundError,
    RunEndedError,
    RunNotFoundError,
    StoreNotFoundError,
    TrackingError,
)
from toolkit.tracking.run import Run, RunTerminated, flatten, track, tracked

ROOT = Path(__file__).resolve().parents[1]


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


def test_fresh_store_is_created_in_wal_mode_with_its_lock_outside_the_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    uri = f"sqlite:///{tmp_path / 'new' / 'mlflow.db'}"
    with track("fresh", tracking_uri=uri) as run:
        pass
    assert client_for(uri).get_run(run.run_id).info.status == "FINISHED"
    path = _store.sqlite_path(uri)
    lock = _store.lock_path(path)
    assert lock.exists() and lock.parent == tmp_path / "cache" / "toolkit" / "locks"
    assert sorted(p.name for p in path.parent.iterdir() if p.suffix == ".lock") == []
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
    own = [path for path in artifact_paths(uri, run.run_id) if not path.startswith("git/")]
    assert own == ["logs/output.log"]  # the environment is shared, not copied per run
    env = run_environment(run.run_id, tracking_uri=uri)
    assert env.packages["mlflow"] == mlflow.__version__
    assert env.environment["python"] == tags["toolkit.python"]
    assert env.environment["argv"] == sys.argv and env.environment["pid"] == os.getpid()
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


#: Every public method of a run: each one adds to the run, so each must refuse an ended
#: run (read from the class, so a new method cannot be missed).
RUN_METHODS = sorted(
    name for name, _ in inspect.getmembers(Run, inspect.isfunction) if not name.startswith("_")
)
ENDINGS = {
    "after the block": "FINISHED",
    "after a failure": "FAILED",
    "after a kill": "KILLED",
    "after close()": "FINISHED",
}


def _ended_run(ending: str) -> Run:
    if ending == "after the block":
        with track("ended") as run:
            run.log_metric("m", 1.0)
    elif ending == "after a failure":
        with pytest.raises(ZeroDivisionError):
            with track("ended") as run:
                1 / 0  # noqa: B018
    elif ending == "after a kill":  # what the SIGTERM handler raises in the main thread
        with pytest.raises(RunTerminated):
            with track("ended") as run:
                raise RunTerminated(signal.SIGTERM)
    else:
        with track("ended") as run:
            run.close()
            assert run.closed
    return run


def test_the_run_methods_are_the_logging_methods():
    assert {"log_text", "log_dict", "log_metric", "log_params", "set_tags", "log_artifact"} <= set(
        RUN_METHODS
    )
    assert {"log_model", "log_dataset", "log_predictions", "log_diagnosis"} <= set(RUN_METHODS)
    assert {"staging_path", "flush", "close", "log_cv_scores"} <= set(RUN_METHODS)


@pytest.mark.parametrize("ending", list(ENDINGS))
@pytest.mark.parametrize("method", RUN_METHODS)
def test_every_method_of_an_ended_run_raises_the_same_error(uri, method, ending):
    run = _ended_run(ending)
    assert client_for(uri).get_run(run.run_id).info.status == ENDINGS[ending]
    with pytest.raises(RunEndedError, match=rf"^Run\.{method}: run {run.run_id} has ended"):
        getattr(run, method)()  # refused before its arguments are looked at


@pytest.mark.parametrize("ending", list(ENDINGS))
def test_files_logged_after_the_end_are_refused_not_dropped(uri, ending, tmp_path):
    run = _ended_run(ending)
    before = artifact_paths(uri, run.run_id)
    (tmp_path / "f.txt").write_text("x")
    calls = [
        lambda: run.log_text("late", "late.txt"),
        lambda: run.log_dict({"a": 1}, "late.json"),
        lambda: run.log_artifact(tmp_path / "f.txt"),
        lambda: run.log_metric("late", 1.0),
    ]
    for call in calls:
        with pytest.raises(RunEndedError, match="nothing more can be logged") as info:
            call()
        assert isinstance(info.value, ToolkitError)
    assert artifact_paths(uri, run.run_id) == before


def test_run_closed_inside_the_block_keeps_its_status_and_the_block_still_cleans_up(uri):
    stdout = sys.stdout
    with track("closed-early") as run:
        run.log_metric("m", 1.0)
        run.close("KILLED")
        with pytest.raises(RunEndedError, match=r"^Run\.close: run \w+ has ended \(KILLED\)"):
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
    # the run was created pointing to its environment: a killed process keeps it
    assert run_environment(run_id, tracking_uri=uri).packages["mlflow"] == mlflow.__version__
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
    with track("heartbeat") as outer, track("heartbeat", nested=True) as run:
        beating = [t for t in threading.enumerate() if t.name == "toolkit-heartbeat"]
        assert len(beating) == 1  # one thread beats for every open run
        first = int(client.get_run(run.run_id).data.tags["toolkit.heartbeat"])
        first_outer = int(client.get_run(outer.run_id).data.tags["toolkit.heartbeat"])
        run.log_metric("progress", 0.5)
        deadline = time.time() + 20
        while time.time() < deadline:
            data = client.get_run(run.run_id).data
            beat_outer = int(client.get_run(outer.run_id).data.tags["toolkit.heartbeat"])
            if (
                int(data.tags["toolkit.heartbeat"]) > first
                and beat_outer > first_outer
                and "progress" in data.metrics
            ):
                break
            time.sleep(0.1)
        else:
            pytest.fail("heartbeat did not refresh the tags and send the buffered metric")
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
# (what compare reports and how it gates: tests/test_compare.py)
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
    # a spooled run carries its own environment record: sync copies it with the run
    assert _records.LOCATION_TAG not in data.data.tags
    env = run_environment(run.run_id, tracking_uri=run.tracking_uri)
    assert env.source.endswith("/environment") and env.digest == data.data.tags[_records.DIGEST_TAG]


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


# ---------------------------------------------------------------------------- the store's files
def _repo_with_gitignore(path: Path) -> Path:
    path.mkdir()
    _git(path, "init", "-q", "-b", "main")
    shutil.copy(ROOT / ".gitignore", path / ".gitignore")
    (path / "train.py").write_text("x = 1\n")
    _git(path, "add", ".gitignore", "train.py")
    _git(path, "commit", "-q", "-m", "first")
    return path


def test_store_inside_a_fresh_repository_is_no_change_and_leaves_no_litter(tmp_path, monkeypatch):
    repo = _repo_with_gitignore(tmp_path / "repo")
    monkeypatch.chdir(repo)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # the default: ./mlflow.db
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("TOOLKIT_SPOOL_DIR", str(tmp_path / "spool"))
    runs = []
    for _ in range(2):
        _capture.git_state.cache_clear()  # as a new process would: the store exists now
        with track("litter") as run:
            print("some output")
        runs.append(run)
        # the clients are still open: the WAL and shared-memory files exist
        assert _git(repo, "status", "--porcelain", "--untracked-files=all") == ""
    assert (repo / "mlflow.db").exists() and (repo / "mlruns").is_dir()
    assert not list(repo.glob("*.lock"))
    client = client_for(runs[0].tracking_uri)
    for run in runs:
        assert client.get_run(run.run_id).data.tags["toolkit.git.dirty"] == "false"
        assert not [p for p in artifact_paths(run.tracking_uri, run.run_id) if "git/" in p]
    _store.forget_client(runs[0].tracking_uri)


def test_git_state_leaves_out_store_files_anywhere_and_the_named_ones(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "a.py").write_text("a\n")
    _git(repo, "add", "a.py")
    _git(repo, "commit", "-q", "-m", "first")
    for name in ["sub/mlflow.db", "sub/mlflow.db-wal", "sub/mlflow.db-shm", "mlflow.db.lock"]:
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text("")
    for name in ["mlruns/1/a/artifacts/x", "deep/mlartifacts/y", "spool/spool.db", "runs.db"]:
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text("")
    (repo / "runs.db-wal").write_text("")
    store = f"sqlite:///{repo / 'runs.db'}"
    exclude = tuple(map(str, [*_store.store_paths(store), repo / "spool"]))
    state = _capture.git_state(str(repo / "sub"), exclude)
    assert state.dirty is False and state.status == "" and state.diff == ""
    (repo / "a.py").write_text("b\n")  # a real change still counts, and only it
    (repo / "new.py").write_text("c\n")
    state = _capture.git_state(str(repo), exclude + ("",))  # a new cache key
    assert state.dirty is True
    assert sorted(state.status.splitlines()) == [" M a.py", "?? new.py"]
    assert "+b" in state.diff and "runs.db" not in state.diff


def test_gitignore_covers_the_store_files():
    patterns = (ROOT / ".gitignore").read_text().splitlines()
    for name in ["mlflow.db", "mlflow.db-wal", "mlflow.db-shm", "mlflow.db-journal"]:
        assert name in patterns or f"*{name[name.index('.db') :]}" in patterns, name
    assert "mlruns/" in patterns and "mlartifacts/" in patterns


# ---------------------------------------------------------------------------- reading, no store
def test_require_existing_store_creates_nothing(tmp_path):
    missing = tmp_path / "empty" / "mlflow.db"
    message = f"no MLflow store at {missing}; run toolkit demo or a tracked run first"
    with pytest.raises(StoreNotFoundError, match=f"^{message}$") as info:
        _store.require_existing_store(f"sqlite:///{missing}")
    assert isinstance(info.value, ToolkitError)
    assert not missing.parent.exists()
    empty = tmp_path / "zero.db"
    empty.touch()
    with pytest.raises(StoreNotFoundError, match="no MLflow store at"):
        _store.require_existing_store(f"sqlite:///{empty}")
    assert empty.stat().st_size == 0 and sorted(tmp_path.iterdir()) == [empty]
    with pytest.raises(StoreNotFoundError, match="no MLflow store at"):
        _store.require_existing_store((tmp_path / "no-folder").as_uri())
    assert _store.require_existing_store("http://127.0.0.1:1/") == "http://127.0.0.1:1"
    with pytest.raises(ToolkitTypeError, match="require_existing_store: tracking_uri must be"):
        _store.require_existing_store(3)


def test_reading_a_missing_store_creates_no_file(tmp_path, monkeypatch, uri):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    missing = tmp_path / "mlflow.db"
    calls = [
        lambda: _store.get_client(f"sqlite:///{missing}"),
        lambda: list_runs(),
        lambda: list_runs(tracking_uri=f"sqlite:///{missing}"),
        lambda: load_predictions("0123abcd"),
        lambda: compare_runs("0123abcd", "4567efab"),
        lambda: mark_stale_runs(),
        lambda: _store.find_run("0123abcd"),
        lambda: Run.attach("0123abcd"),
        lambda: log_to_run("0123abcd", predictions=_predictions(0.1)),
        lambda: run_environment("0123abcd"),
    ]
    for call in calls:
        with pytest.raises(ToolkitError, match="no (MLflow )?store at"):
            call()
        assert not missing.exists()
    code, message = cli(["runs"])
    assert code == 1 and "no MLflow store at" in message
    assert sorted(tmp_path.iterdir()) == sorted(
        p for p in tmp_path.iterdir() if p.name in {"store", "spool", "cache"}
    )


# ---------------------------------------------------------------------------- lighter records
def test_environment_is_stored_once_per_experiment_and_read_back_per_run(uri, tmp_path):
    client = client_for(uri)
    runs = []
    for experiment in ["env-a", "env-a", "env-b"]:
        with track(experiment) as run:
            pass
        runs.append(run)
    record = _records.environment_record()
    tags = [client.get_run(r.run_id).data.tags for r in runs]
    assert {t[_records.DIGEST_TAG] for t in tags} == {record.digest}
    locations = [t[_records.LOCATION_TAG] for t in tags]
    assert locations[0] == locations[1] != locations[2]
    for run, location in zip(runs, locations):
        assert location.endswith(f"/toolkit-records/environment/{record.digest}")
        folder = Path(location.removeprefix("file://"))
        assert sorted(p.name for p in folder.iterdir()) == ["environment.json", "packages.txt"]
        assert not [p for p in artifact_paths(uri, run.run_id) if p.startswith("environment/")]
        env = run_environment(run.run_id, tracking_uri=uri)
        assert isinstance(env, RunEnvironment) and env.digest == record.digest
        assert env.source == location and env.run_id == run.run_id
        assert env.environment["python"] == ".".join(map(str, sys.version_info[:3]))
        assert env.environment["cwd"] == os.getcwd() and env.environment["argv"] == sys.argv
        assert env.packages["mlflow"] == mlflow.__version__
        assert list(env.to_frame().columns) == ["name", "version"]
        assert env.to_dict()["digest"] == record.digest


def test_environment_already_stored_is_not_uploaded_again(uri, monkeypatch):
    with track("env-once") as first:
        pass
    location = client_for(uri).get_run(first.run_id).data.tags[_records.LOCATION_TAG]
    files = sorted(Path(location.removeprefix("file://")).iterdir())
    stamps = [f.stat().st_mtime_ns for f in files]
    monkeypatch.setattr(_records, "_shared", {})  # a new process: asks the store once
    with track("env-once") as second:
        pass
    assert client_for(uri).get_run(second.run_id).data.tags[_records.LOCATION_TAG] == location
    assert [f.stat().st_mtime_ns for f in files] == stamps


def test_artifacts_are_written_without_reading_the_run_again(uri, monkeypatch, tmp_path):
    from mlflow.tracking._tracking_service.client import TrackingServiceClient

    reads = []
    original = TrackingServiceClient.get_run
    monkeypatch.setattr(
        TrackingServiceClient, "get_run", lambda self, rid: reads.append(rid) or original(self, rid)
    )
    (tmp_path / "now.txt").write_text("now")
    with track("no-get-run") as run:
        run.log_text("hello", "notes/hello.txt")
        run.log_artifact(tmp_path / "now.txt", "uploaded")
        print("output")
    assert reads == []
    paths = artifact_paths(uri, run.run_id)
    assert {"notes/hello.txt", "uploaded/now.txt", "logs/output.log"} <= set(paths)


def test_environment_record_errors(uri, tmp_path):
    plain = client_for(uri)
    experiment_id = plain.create_experiment("plain")
    bare = plain.create_run(experiment_id).info.run_id
    with pytest.raises(RecordNotFoundError, match=f"run {bare} has no environment record"):
        run_environment(bare, tracking_uri=uri)
    with track("tampered") as run:
        pass
    location = plain.get_run(run.run_id).data.tags[_records.LOCATION_TAG]
    shared = Path(location.removeprefix("file://"))
    copy = tmp_path / "copy"
    shutil.copytree(shared, copy)
    try:
        (shared / "packages.txt").write_text("changed==1\n")
        with pytest.raises(TrackingError, match="does not match run"):
            run_environment(run.run_id, tracking_uri=uri)
    finally:
        shutil.rmtree(shared)
        shutil.copytree(copy, shared)
    with pytest.raises(RunNotFoundError):
        run_environment("0123abcd", tracking_uri=uri)


# ---------------------------------------------------------------------------- MLflow autologging
@pytest.fixture(params=["mlflow.autolog", "mlflow.sklearn.autolog"])
def autologging(request):
    import mlflow.sklearn

    turn = mlflow.autolog if request.param == "mlflow.autolog" else mlflow.sklearn.autolog
    turn(log_models=False, silent=True)
    yield request.param
    turn(disable=True, silent=True)


@pytest.mark.parametrize("global_uri", ["the run's store", "another store"])
def test_autologging_logs_into_the_toolkit_run(
    uri, autologging, global_uri, tmp_path, monkeypatch, caplog
):
    from sklearn.linear_model import LogisticRegression

    if global_uri == "another store":
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'other.db'}")
    before = mlflow.get_tracking_uri()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = (X[:, 0] > 0).astype(int)
    caplog.set_level(logging.WARNING)
    with track("auto", params={"C": 1.0, "note": "mine"}, tracking_uri=uri) as run:
        assert mlflow.active_run().info.run_id == run.run_id and run.autologged
        model = LogisticRegression(C=1.0, max_iter=50).fit(X, y)
        run.log_params({"max_iter": 100, "solver": "lbfgs"})  # 100 conflicts, lbfgs agrees
        run.log_metric("accuracy", float(model.score(X, y)))
    assert mlflow.active_run() is None
    assert mlflow.get_tracking_uri() == before
    assert os.environ["MLFLOW_TRACKING_URI"] == before
    client = client_for(uri)
    experiment = client.get_experiment_by_name("auto")
    assert [r.info.run_id for r in client.search_runs([experiment.experiment_id])] == [run.run_id]
    data = client.get_run(run.run_id)
    assert data.info.status == "FINISHED"
    params = data.data.params
    assert params["C"] == "1.0" and params["max_iter"] == "50" and params["solver"] == "lbfgs"
    assert params["note"] == "mine"
    assert json.loads(data.data.tags[CONFLICTS_TAG]) == {"max_iter": "100"}
    assert data.data.tags["estimator_name"] == "LogisticRegression"
    assert {"training_score", "accuracy", "duration_s"} <= set(data.data.metrics)
    for key in data.data.metrics:
        assert len(client.get_metric_history(run.run_id, key)) == 1, key
    assert "toolkit.param_conflicts" in caplog.text
    assert "Changing param values is not allowed" not in caplog.text
    if global_uri == "another store":
        assert not (tmp_path / "other.db").exists()


def test_without_autologging_mlflow_has_no_active_run(uri):
    with track("no-auto") as run:
        assert mlflow.active_run() is None and not run.autologged


def test_a_run_that_logs_no_file_stages_and_uploads_nothing(uri, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not a git tree: no diff to store
    made = []
    mkdtemp = tempfile.mkdtemp

    def recording(*args, **kwargs):
        made.append(mkdtemp(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(tempfile, "mkdtemp", recording)
    with track("quiet", params={"a": 1}) as run:
        run.log_metric("m", 1.0)
    assert [m for m in made if "toolkit-run-" in m] == []  # no staging folder
    assert artifact_paths(uri, run.run_id) == []
