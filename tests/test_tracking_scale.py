"""End to end: many processes, a real `mlflow server`, PostgreSQL, the spool and `sync`.

Slow (each starts processes or servers); they still run in CI. The PostgreSQL tests need
TOOLKIT_POSTGRES_URI (``.ci/run`` starts a database and sets it); without it they skip,
unless TOOLKIT_REQUIRE_POSTGRES=1, when they fail.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

import pytest

pytest.importorskip("mlflow")

import mlflow
from mlflow import MlflowClient

from toolkit.tracking import _store, spool
from toolkit.tracking.attach import run_environment
from toolkit.tracking.run import track

pytestmark = pytest.mark.slow

N_PROCESSES, N_RUNS = 8, 20
MLFLOW = str(Path(sys.executable).with_name("mlflow"))

WORKER = textwrap.dedent(
    """
    import sys, time
    from toolkit.tracking import track
    worker, n_runs, start_at = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    time.sleep(max(0.0, start_at - time.time()))  # all workers hit the store together
    for i in range(n_runs):
        with track("concurrency", params={"worker": worker, "i": i}) as run:
            for step in range(5):
                run.log_metric("loss", 1.0 / (step + 1), step=step)
    """
)


def run_workers(cwd: Path, env: dict[str, str]) -> None:
    start_at = time.time() + 8.0  # after every interpreter has imported mlflow
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(w), str(N_RUNS), str(start_at)],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for w in range(N_PROCESSES)
    ]
    outputs = [p.communicate(timeout=540)[0] for p in procs]
    failed = [(p.returncode, out[-3000:]) for p, out in zip(procs, outputs) if p.returncode]
    assert not failed, failed


def count_statuses(uri: str) -> Counter:
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("concurrency")
    runs = client.search_runs([experiment.experiment_id], max_results=5000)
    return Counter(r.info.status for r in runs)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env.update(extra)
    return env


def test_eight_processes_into_a_fresh_default_store(tmp_path):
    """8 x 20 runs into a store that does not exist yet (plain MLflow stores 0 of 160)."""
    run_workers(tmp_path, clean_env(TOOLKIT_SPOOL_DIR=str(tmp_path / "spool")))
    db = tmp_path / "mlflow.db"
    assert db.exists()
    assert count_statuses(f"sqlite:///{db}") == Counter({"FINISHED": N_PROCESSES * N_RUNS})
    # The store opens afterwards, in a new process, with plain MLflow.
    check = (
        "import sys; from mlflow import MlflowClient\n"
        "c = MlflowClient(tracking_uri=sys.argv[1])\n"
        "print(len(c.search_runs([c.get_experiment_by_name('concurrency').experiment_id],"
        " max_results=5000)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", check, f"sqlite:///{db}"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == str(N_PROCESSES * N_RUNS)


# ---------------------------------------------------------------------------- servers
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`mlflow server --workers 1` on 127.0.0.1, started and stopped by the tests."""

    def __init__(self, backend: str, artifacts: Path, port: int | None = None) -> None:
        self.backend, self.artifacts = backend, artifacts
        self.port = port or free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 120.0) -> Server:
        log = open(self.artifacts.parent / f"server-{self.port}.log", "a")
        self.proc = subprocess.Popen(
            [
                MLFLOW,
                "server",
                "--backend-store-uri",
                self.backend,
                "--artifacts-destination",
                str(self.artifacts),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                "1",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=clean_env(),
        )
        log.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited: {self.log()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"mlflow server did not start in {timeout} s: {self.log()[-3000:]}")

    def log(self) -> str:
        return (self.artifacts.parent / f"server-{self.port}.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)


@pytest.fixture
def sqlite_server(tmp_path, monkeypatch):
    monkeypatch.setenv("TOOLKIT_SPOOL_DIR", str(tmp_path / "spool"))
    server = Server(f"sqlite:///{tmp_path / 'server.db'}", tmp_path / "artifacts").start()
    yield server
    server.stop()


def test_run_through_server(sqlite_server, tmp_path):
    with track("served", params={"a": 1}, tracking_uri=sqlite_server.uri) as run:
        run.log_metric("m", 2.0, step=3)
        print("through the server")
    assert not run.spooled
    client = MlflowClient(tracking_uri=sqlite_server.uri)
    data = client.get_run(run.run_id)
    assert data.info.status == "FINISHED" and data.data.params == {"a": "1"}
    assert [(m.step, m.value) for m in client.get_metric_history(run.run_id, "m")] == [(3, 2.0)]
    log = client.download_artifacts(run.run_id, "logs/output.log", str(tmp_path / "dl"))
    assert "through the server" in Path(log).read_text()
    # The environment is stored once, below the experiment's artifact root on the server.
    with track("served", tracking_uri=sqlite_server.uri) as second:
        pass
    first_env = run_environment(run.run_id, tracking_uri=sqlite_server.uri)
    second_env = run_environment(second.run_id, tracking_uri=sqlite_server.uri)
    assert first_env.source == second_env.source
    assert first_env.source.startswith("mlflow-artifacts:")
    assert first_env.packages["mlflow"] == mlflow.__version__
    assert first_env.environment["pid"] == os.getpid()
    shared = list((tmp_path / "artifacts").rglob("toolkit-records/environment/*/packages.txt"))
    assert len(shared) == 1


# ---------------------------------------------------------------------------- spool and sync
def remote_runs(uri: str, experiment: str) -> list:
    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    return [] if found is None else client.search_runs([found.experiment_id])


def test_spool_when_server_down_then_sync_idempotent(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("TOOLKIT_SPOOL_DIR", str(tmp_path / "spool"))
    server = Server(f"sqlite:///{tmp_path / 'server.db'}", tmp_path / "artifacts")
    caplog.set_level(logging.WARNING, logger="toolkit.tracking")
    with track("offline", params={"lr": 0.1}, seed=0, tracking_uri=server.uri) as run:
        with track("offline", run_name="fold-0", nested=True) as child:
            child.log_metric("score", 0.5)
        for step in range(3):
            run.log_metric("loss", 1.0 - step / 10, step=step)
        run.log_text("notes", "notes.txt")
    assert run.spooled and child.spooled
    assert "unreachable" in caplog.text and "toolkit sync" in caplog.text
    assert [r.outcome for r in spool.sync()] == ["skipped", "skipped"]  # still down

    server.start()
    try:
        results = spool.sync()
        assert [r.outcome for r in results] == ["synced", "synced"]
        runs = {r.info.run_name: r for r in remote_runs(server.uri, "offline")}
        assert set(runs) == {run_name(run), "fold-0"}
        parent = runs[run_name(run)]
        assert parent.info.status == "FINISHED"
        assert parent.data.params == {"lr": "0.1", "seed": "0"}
        assert runs["fold-0"].data.tags["mlflow.parentRunId"] == parent.info.run_id
        client = MlflowClient(tracking_uri=server.uri)
        history = client.get_metric_history(parent.info.run_id, "loss")
        assert sorted((m.step, m.value) for m in history) == [(0, 1.0), (1, 0.9), (2, 0.8)]
        paths = {a.path for a in client.list_artifacts(parent.info.run_id)}
        assert {"notes.txt", "environment"} <= paths  # a spooled run keeps its own record
        assert spool.TARGET_TAG not in parent.data.tags
        env = run_environment(parent.info.run_id, tracking_uri=server.uri)
        assert env.source.endswith("/environment") and env.packages["mlflow"]

        assert spool.sync() == []  # replay again: nothing to do
        # Even when the synced marks are lost, replay finds the remote runs again.
        spool_client, _ = spool.spool_client()
        for spooled in (run, child):
            spool_client.delete_tag(spooled.run_id, spool.SYNCED_TAG)
        assert [r.outcome for r in spool.sync()] == ["synced", "synced"]
        assert len(remote_runs(server.uri, "offline")) == 2
        again = client.get_metric_history(parent.info.run_id, "loss")
        assert len(again) == 3
    finally:
        server.stop()


def run_name(run) -> str:
    return MlflowClient(tracking_uri=run.tracking_uri).get_run(run.run_id).info.run_name


def test_server_lost_mid_run_moves_to_spool_and_sync_completes_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TOOLKIT_SPOOL_DIR", str(tmp_path / "spool"))
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    server = Server(f"sqlite:///{tmp_path / 'server.db'}", tmp_path / "artifacts").start()
    try:
        with track("midway", params={"a": 1}, tracking_uri=server.uri) as run:
            remote_id = run.run_id
            run.log_metric("x", 1.0, step=0)
            run.flush()
            server.stop()
            run.log_metric("x", 2.0, step=1)
        assert run.spooled and run.run_id != remote_id
        server.start()
        results = spool.sync()
        assert [(r.outcome, r.remote_run_id) for r in results] == [("synced", remote_id)]
        client = MlflowClient(tracking_uri=server.uri)
        data = client.get_run(remote_id)
        assert data.info.status == "FINISHED"
        history = client.get_metric_history(remote_id, "x")
        assert sorted((m.step, m.value) for m in history) == [(0, 1.0), (1, 2.0)]
        assert len(remote_runs(server.uri, "midway")) == 1
    finally:
        server.stop()


# ---------------------------------------------------------------------------- PostgreSQL
@pytest.fixture
def postgres_uri():
    base = os.environ.get("TOOLKIT_POSTGRES_URI")
    if not base:
        if os.environ.get("TOOLKIT_REQUIRE_POSTGRES") == "1":
            pytest.fail("TOOLKIT_REQUIRE_POSTGRES=1 but TOOLKIT_POSTGRES_URI is not set")
        pytest.skip("no PostgreSQL: set TOOLKIT_POSTGRES_URI (.ci/run does)")
    import psycopg

    name = f"toolkit_{uuid.uuid4().hex[:12]}"
    admin = psycopg.connect(base, autocommit=True)
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    yield base.rsplit("/", 1)[0] + f"/{name}"
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.close()


def test_eight_processes_through_a_server_on_postgresql(postgres_uri, tmp_path):
    server = Server(postgres_uri, tmp_path / "artifacts").start(timeout=180)
    try:
        env = clean_env(MLFLOW_TRACKING_URI=server.uri, TOOLKIT_SPOOL_DIR=str(tmp_path / "sp"))
        run_workers(tmp_path, env)
        assert count_statuses(server.uri) == Counter({"FINISHED": N_PROCESSES * N_RUNS})
        # Nothing went to the spool.
        assert not (tmp_path / "sp" / "spool.db").exists()
    finally:
        server.stop()


def test_postgresql_store_directly(postgres_uri):
    with track("direct", params={"a": 1}, tracking_uri=postgres_uri) as run:
        run.log_metric("m", 1.0)
    assert _store.get_client(postgres_uri).get_run(run.run_id).info.status == "FINISHED"
