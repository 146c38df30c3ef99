"""Reliability of tracking: hostile cases of issue 15, each with a known outcome.

A process killed with SIGKILL, signals that arrive while a run finishes, a tracking
server that is dead or hangs, a store that cannot be written when a run ends, names
and values that MLflow would mangle, run names that carry terminal escapes. Every test
asserts what must be true afterwards: the exit code, one line on stderr, the exact
number of params and metric values in the store, the status and its reason.

Everything runs on loopback and in temporary folders; child processes stand for the
user's training script.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from toolkit.cli import main
from toolkit.exceptions import ValidationError
from toolkit.tracking import _journal, _recovery, _store, spool
from toolkit.tracking.compare import mark_stale_runs
from toolkit.tracking.errors import (
    NonFiniteValueWarning,
    ServerUnreachableError,
    TrackingError,
)
from toolkit.tracking.run import Run, track

HTTP_VARIABLES = (
    "MLFLOW_HTTP_REQUEST_TIMEOUT",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
)


# ---------------------------------------------------------------------------- fixtures


def client_for(uri: str) -> MlflowClient:
    return MlflowClient(tracking_uri=uri)


def history(uri: str, run_id: str, key: str) -> list[tuple[int, float]]:
    """(step, value) of every stored value of metric ``key``, by step."""
    found = client_for(uri).get_metric_history(run_id, key)
    return sorted((m.step, m.value) for m in found)


def journals(kind: str = ".jsonl") -> list[Path]:
    folder = _journal.journal_dir()
    return sorted(folder.glob(f"*{kind}")) if folder.exists() else []


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """``toolkit ARGV`` in this process: exit code, stdout, stderr."""
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@contextlib.contextmanager
def refused_port():
    """A loopback port nobody listens on: connections are refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    yield port


@contextlib.contextmanager
def silent_server():
    """A loopback port that accepts connections and never answers (a hung server)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield s.getsockname()[1]


# ---------------------------------------------------------------------------- child processes
CHILD = textwrap.dedent(
    """
    import os, signal, sys, time
    from toolkit.tracking import track
    from toolkit.tracking._run import Run

    uri, mode = sys.argv[1], sys.argv[2]
    if mode == "slow-finish":  # the finish takes a while: signals arrive during it
        real_close = Run.close

        def slow_close(self, *args, **kwargs):
            print("finishing", flush=True)
            time.sleep(1.0)
            return real_close(self, *args, **kwargs)

        Run.close = slow_close
    try:
        with track("reliability", params={"lr": 0.1, "depth": 3, "name": "m"},
                   tracking_uri=uri) as run:
            if mode == "artifact":
                run.log_text("hello", "notes/hello.txt")
            if mode == "partly-sent":
                for step in range(30):
                    run.log_metric("loss", 1.0 / (step + 1), step=step)
                run.flush()
                for step in range(30, 70):
                    run.log_metric("loss", 1.0 / (step + 1), step=step)
            else:
                for step in range(70):
                    run.log_metric("loss", 1.0 / (step + 1), step=step)
            print(run.run_id, flush=True)
            if mode in ("slow-finish", "finish-signal"):
                sys.stdin.readline()  # the parent says when the block ends
            else:
                time.sleep(120)
    except KeyboardInterrupt:
        sys.exit(130)
    """
)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_child(uri: str, mode: str = "sleep", **env: str) -> tuple[subprocess.Popen, str]:
    environment = {**os.environ, "TOOLKIT_FLUSH_S": "600", **env}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, uri, mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
        # Ctrl-C as a terminal delivers it: a shell that started the suite in the
        # background leaves SIGINT ignored, and a child would inherit that and hang
        preexec_fn=_default_sigint,
    )
    run_id = proc.stdout.readline().strip()
    assert run_id, proc.stderr.read()
    return proc, run_id


def expected_loss() -> list[tuple[int, float]]:
    return [(step, 1.0 / (step + 1)) for step in range(70)]


# ---------------------------------------------------------------------------- kill -9
def test_sigkill_loses_nothing_mark_stale_replays_the_journal(uri, capsys):
    proc, run_id = start_child(uri)
    proc.kill()
    assert proc.wait(timeout=30) == -signal.SIGKILL
    stored = client_for(uri).get_run(run_id)
    # params reached the store when they were given; the 70 buffered metrics did not
    assert stored.data.params == {"lr": "0.1", "depth": "3", "name": "m"}
    assert history(uri, run_id, "loss") == []
    assert len(journals()) == 1

    code, out, err = run_cli(["runs", "--mark-stale", "--tracking-uri", uri], capsys)
    assert code == 0, err
    assert f"marked 1 stale run(s) FAILED: {run_id}" in out
    stored = client_for(uri).get_run(run_id)
    assert stored.info.status == "FAILED"
    assert history(uri, run_id, "loss") == expected_loss()
    assert stored.data.params == {"lr": "0.1", "depth": "3", "name": "m"}
    reason = stored.data.tags["toolkit.end_reason"]
    assert f"process {proc.pid}" in reason and "no longer exists" in reason
    assert "70 value(s) recovered" in reason
    assert journals() == []
    # a second pass finds nothing to do and sends nothing twice
    assert mark_stale_runs(tracking_uri=uri) == []
    assert len(history(uri, run_id, "loss")) == 70


def test_sigkill_the_next_run_on_the_store_replays_the_journal(uri):
    proc, run_id = start_child(uri)
    proc.kill()
    proc.wait(timeout=30)
    with track("next") as run:
        run.log_metric("x", 1.0)
    assert history(uri, run_id, "loss") == expected_loss()
    assert client_for(uri).get_run(run_id).info.status == "FAILED"
    assert client_for(uri).get_run(run.run_id).info.status == "FINISHED"
    assert journals() == []


def test_sigkill_after_a_flush_sends_each_value_once(uri):
    proc, run_id = start_child(uri, "partly-sent")
    assert len(history(uri, run_id, "loss")) == 30  # the explicit flush
    proc.kill()
    proc.wait(timeout=30)
    mark_stale_runs(tracking_uri=uri)
    assert history(uri, run_id, "loss") == expected_loss()  # 70, none twice


def test_sigkill_staged_files_are_uploaded_by_the_replay(uri, tmp_path):
    proc, run_id = start_child(uri, "artifact")
    proc.kill()
    proc.wait(timeout=30)
    mark_stale_runs(tracking_uri=uri)
    local = client_for(uri).download_artifacts(run_id, "notes/hello.txt", str(tmp_path))
    assert Path(local).read_text() == "hello"


def test_metrics_reach_the_store_by_time_without_a_flush(uri):
    proc, run_id = start_child(uri, TOOLKIT_FLUSH_S="0.3")
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and len(history(uri, run_id, "loss")) < 70:
            time.sleep(0.1)
        assert history(uri, run_id, "loss") == expected_loss()
    finally:
        proc.kill()
        proc.wait(timeout=30)


def test_the_journal_of_a_live_process_is_left_alone(uri):
    proc, run_id = start_child(uri)
    try:
        assert mark_stale_runs(tracking_uri=uri) == []
        assert client_for(uri).get_run(run_id).info.status == "RUNNING"
        assert len(journals()) == 1
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert mark_stale_runs(tracking_uri=uri) == [run_id]


def test_a_journal_cut_mid_line_is_replayed_up_to_the_cut(uri):
    proc, run_id = start_child(uri)
    proc.kill()
    proc.wait(timeout=30)
    (path,) = journals()
    with open(path, "a", encoding="utf-8") as handle:
        handle.write('["m",[["loss",9.9,1,999]')  # the kill came mid-write
    assert mark_stale_runs(tracking_uri=uri) == [run_id]
    assert history(uri, run_id, "loss") == expected_loss()


def test_a_journal_whose_run_was_deleted_is_kept_aside(uri, capsys):
    proc, run_id = start_child(uri)
    proc.kill()
    proc.wait(timeout=30)
    client = client_for(uri)
    client.delete_run(run_id)
    with sqlite3.connect(_store.sqlite_path(uri)) as con:  # gone for good
        con.execute("DELETE FROM tags WHERE run_uuid = ?", (run_id,))
        con.execute("DELETE FROM params WHERE run_uuid = ?", (run_id,))
        con.execute("DELETE FROM runs WHERE run_uuid = ?", (run_id,))
    code, _, err = run_cli(["runs", "--mark-stale", "--tracking-uri", uri], capsys)
    assert code == 0 and "Traceback" not in err
    assert journals() == []
    assert len(journals(_journal.UNREPLAYABLE)) == 1  # nothing deleted


def test_replay_does_not_touch_a_run_that_ended(uri):
    with track("ended") as run:
        run.log_metric("m", 1.0)
    journal = _journal.Journal.open(
        {"uri": uri, "run_id": run.run_id, "experiment_id": run.experiment_id}
    )
    journal.values("m", [("m", 1.0, 1, 0), ("m", 2.0, 2, 1)])
    journal.close(remove=False)
    (done,) = _recovery.replay_orphans(uri)
    assert done.status is None and done.n_sent == 2
    stored = client_for(uri).get_run(run.run_id)
    assert stored.info.status == "FINISHED"
    assert len(history(uri, run.run_id, "m")) == 3


# ---------------------------------------------------------------------------- signals
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_second_signal_during_the_finish_cannot_skip_it(uri, signum):
    proc, run_id = start_child(uri, "slow-finish")
    proc.send_signal(signum)
    assert proc.stdout.readline().strip() == "finishing"
    proc.send_signal(signum)  # while the run ends
    proc.send_signal(signum)
    code = proc.wait(timeout=60)
    assert code == (128 + signal.SIGTERM if signum == signal.SIGTERM else 130)
    assert "Traceback" not in proc.stderr.read()
    stored = client_for(uri).get_run(run_id)
    assert stored.info.status == "KILLED"
    assert history(uri, run_id, "loss") == expected_loss()
    assert "duration_s" in stored.data.metrics
    assert journals() == []


@pytest.mark.parametrize("gap_s", [0.005, 0.05])
def test_two_sigterms_in_quick_succession_end_the_run_killed_with_everything(uri, gap_s):
    """The case reported: a second SIGTERM within ~50 ms of the first (no slowed finish)."""
    proc, run_id = start_child(uri)
    proc.send_signal(signal.SIGTERM)
    time.sleep(gap_s)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    assert "Traceback" not in proc.stderr.read()
    stored = client_for(uri).get_run(run_id)
    assert stored.info.status == "KILLED"
    assert stored.data.tags["toolkit.end_reason"] == "signal SIGTERM"
    assert history(uri, run_id, "loss") == expected_loss()
    assert journals() == []


def test_a_signal_during_the_finish_of_a_block_that_ended_is_delivered_after(uri):
    proc, run_id = start_child(uri, "slow-finish")
    proc.stdin.write("\n")
    proc.stdin.flush()
    assert proc.stdout.readline().strip() == "finishing"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    stored = client_for(uri).get_run(run_id)
    assert stored.info.status == "FINISHED"  # the block had ended; its run is complete
    assert history(uri, run_id, "loss") == expected_loss()


def test_signal_handlers_are_put_back_after_the_run(uri):
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with track("handlers"), track("handlers", nested=True):
        assert signal.getsignal(signal.SIGTERM) is not before[0]
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


# ---------------------------------------------------------------------------- dead servers
@pytest.fixture
def mlflow_http_defaults(monkeypatch):
    """MLflow's HTTP settings as a user who set none has them."""
    for name in HTTP_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("server", [refused_port, silent_server], ids=["refused", "hung"])
def test_a_dead_server_sends_the_run_to_the_spool_within_seconds(uri, mlflow_http_defaults, server):
    with server() as port:
        started = time.monotonic()
        with track("dead", params={"a": 1}, tracking_uri=f"http://127.0.0.1:{port}") as run:
            run.log_metrics({"m": 1.0, "n": 2.0})
        elapsed = time.monotonic() - started
    assert elapsed < 15
    assert run.spooled
    stored = client_for(run.tracking_uri).get_run(run.run_id)
    assert stored.info.status == "FINISHED"
    assert stored.data.params == {"a": "1"}
    assert stored.data.metrics == {
        "m": 1.0,
        "n": 2.0,
        "duration_s": stored.data.metrics["duration_s"],
    }


SERVER = textwrap.dedent(
    """
    import os, sys
    from mlflow.server import constants

    os.environ[constants.BACKEND_STORE_URI_ENV_VAR] = sys.argv[2]
    os.environ[constants.ARTIFACT_ROOT_ENV_VAR] = sys.argv[3]
    from mlflow.server import app
    from werkzeug.serving import make_server

    make_server("127.0.0.1", int(sys.argv[1]), app, threaded=True).serve_forever()
    """
)


class LocalServer:
    """MLflow's own tracking server (its Flask app) in a child process on loopback."""

    def __init__(self, folder: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.db = f"sqlite:///{folder / 'server.db'}"
        self.artifacts = str(folder / "server-artifacts")
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(self.port), self.db, self.artifacts],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while not spool.server_reachable(self.url, timeout=1):
            assert self.proc.poll() is None, "the server did not start"
            assert time.monotonic() < deadline, "the server did not answer in 120 s"
            time.sleep(0.2)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


@pytest.fixture
def server(tmp_path):
    local = LocalServer(tmp_path)
    local.start()
    yield local
    local.kill()


def test_a_server_that_dies_mid_run_moves_it_to_the_spool_fast_and_sync_completes_it(
    uri, server, mlflow_http_defaults, capsys
):
    with track("dies", params={"p": 1}, tracking_uri=server.url) as run:
        remote_id = run.run_id
        for step in range(20):
            run.log_metric("loss", float(step), step=step)
        run.flush()
        server.kill()
        started = time.monotonic()
        for step in range(20, 50):
            run.log_metric("loss", float(step), step=step)
        run.flush()  # refused: the run moves to the spool with everything it logged
        moved_after = time.monotonic() - started
    assert moved_after < 15
    assert run.spooled and run.tracking_uri == spool.spool_uri()
    spooled = client_for(run.tracking_uri).get_run(run.run_id)
    assert spooled.data.tags[spool.REMOTE_RUN_TAG] == remote_id
    assert spooled.data.params == {"p": "1"}
    assert history(run.tracking_uri, run.run_id, "loss") == [(s, float(s)) for s in range(50)]
    assert journals() == []

    code, _, err = run_cli(["sync"], capsys)  # the server is still down
    assert code == 1 and "Traceback" not in err
    server.start()
    code, out, err = run_cli(["sync"], capsys)
    assert code == 0, err
    assert f"-> {remote_id}" in out
    remote = client_for(server.url).get_run(remote_id)
    assert remote.info.status == "FINISHED" and remote.data.params == {"p": "1"}
    assert history(server.url, remote_id, "loss") == [(s, float(s)) for s in range(50)]


@pytest.mark.parametrize("server", [refused_port, silent_server], ids=["refused", "hung"])
def test_diagnose_run_id_against_a_dead_server_fails_fast(
    uri, tmp_path, capsys, mlflow_http_defaults, server
):
    data = tmp_path / "preds.csv"
    pd.DataFrame({"y": [0, 1, 0, 1] * 10, "p": [0, 1, 1, 1] * 10}).to_csv(data, index=False)
    with server() as port:
        started = time.monotonic()
        code, _, err = run_cli(
            [
                "diagnose",
                str(data),
                "--target",
                "y",
                "--pred",
                "p",
                "--run-id",
                "0" * 32,
                "--tracking-uri",
                f"http://127.0.0.1:{port}",
            ],
            capsys,
        )
    assert time.monotonic() - started < 15
    assert code == 1
    line = one_line(err)
    assert "cannot be reached" in line and f"127.0.0.1:{port}" in line
    assert "not found" not in line


@pytest.mark.parametrize(
    "argv",
    [["runs"], ["runs", "--mark-stale"], ["compare", "0" * 32, "1" * 32]],
    ids=["runs", "mark-stale", "compare"],
)
def test_read_commands_against_a_dead_server_fail_fast_in_one_line(
    uri, capsys, mlflow_http_defaults, argv
):
    with refused_port() as port:
        started = time.monotonic()
        code, _, err = run_cli([*argv, "--tracking-uri", f"http://127.0.0.1:{port}"], capsys)
    assert time.monotonic() - started < 15
    assert code == 1
    assert "cannot be reached" in one_line(err)


def test_check_run_raises_server_unreachable_in_the_api(uri, mlflow_http_defaults):
    from toolkit.tracking.attach import check_run

    with refused_port() as port, pytest.raises(ServerUnreachableError, match="cannot be reached"):
        check_run("0" * 32, tracking_uri=f"http://127.0.0.1:{port}")


def test_toolkit_http_defaults_are_short_and_a_users_own_are_kept(uri, monkeypatch):
    for name in HTTP_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "77")
    with refused_port() as port:
        with pytest.raises(ServerUnreachableError):
            _store.get_client(f"http://127.0.0.1:{port}")
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "77"
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "2"
    assert os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] == "1"


# ---------------------------------------------------------------------------- failed finishes
def _refuse_writes(client, error: Exception) -> None:
    def refuse(*args, **kwargs):
        raise error

    for name in ("log_batch", "set_terminated", "set_tag"):
        setattr(client, name, refuse)


def test_a_store_that_cannot_be_written_at_the_end_sends_the_run_to_the_spool(uri):
    client = _store.get_client(uri)
    with pytest.raises(TrackingError) as caught:
        with track("full", params={"a": 1}) as run:
            run.log_metrics({"m": 1.0})
            run.log_metric("loss", 0.5, step=1)
            real = {n: getattr(client, n) for n in ("log_batch", "set_terminated", "set_tag")}
            _refuse_writes(client, sqlite3.OperationalError("database or disk is full"))
    for name, method in real.items():
        setattr(client, name, method)
    message = str(caught.value)
    assert "\n" not in message
    original = message.split()[1]
    assert "database or disk is full" in message
    assert f"local spool {spool.spool_uri()} as run {run.run_id}" in message
    assert "toolkit sync" in message
    spooled = client_for(spool.spool_uri()).get_run(run.run_id)
    assert spooled.info.status == "FINISHED"
    assert spooled.data.params == {"a": "1"}
    assert {k: spooled.data.metrics[k] for k in ("m", "loss")} == {"m": 1.0, "loss": 0.5}
    assert spooled.data.tags[spool.REMOTE_RUN_TAG] == original
    assert journals() == []
    # once the store can be written, sync completes the original run
    (result,) = spool.sync()
    assert result.outcome == "synced" and result.remote_run_id == original
    stored = client_for(uri).get_run(original)
    assert stored.info.status == "FINISHED"
    assert stored.data.metrics["loss"] == 0.5 and stored.data.params == {"a": "1"}


def test_a_finish_that_fails_marks_the_run_failed_with_the_reason(uri):
    with pytest.raises(TrackingError, match="marked FAILED") as caught:
        with track("upload") as run:
            run.log_metric("m", 1.0)
            run.log_text("x", "notes/x.txt")
            # the artifact folder cannot be created: a file stands where it goes
            artifacts = Path(run._artifact_uri.removeprefix("file://"))
            artifacts.parent.mkdir(parents=True, exist_ok=True)
            artifacts.write_text("in the way")
    stored = client_for(uri).get_run(run.run_id)
    assert stored.info.status == "FAILED"
    assert stored.data.tags["toolkit.end_reason"].startswith("finish failed: ")
    assert stored.data.metrics["m"] == 1.0
    assert "\n" not in str(caught.value)


def test_a_send_that_fails_mid_run_is_retried_and_nothing_is_lost(uri, caplog):
    with track("flaky") as run:
        real = run._client.log_batch
        calls = []

        def once(*args, **kwargs):
            if not calls:
                calls.append(1)
                raise sqlite3.OperationalError("disk I/O error")
            return real(*args, **kwargs)

        run._client.log_batch = once
        run.log_params({"a": 1})  # refused once: stays buffered, with a warning
        run.log_metric("m", 1.0)
        run._client.log_batch = real
    assert "sending to" in caplog.text and "failed" in caplog.text
    stored = client_for(uri).get_run(run.run_id)
    assert stored.data.params == {"a": "1"} and stored.data.metrics["m"] == 1.0
    assert stored.info.status == "FINISHED"


DISK_FULL_CHILD = textwrap.dedent(
    """
    import resource, signal, sys
    from toolkit.tracking import track

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails instead
    with track("disk", params={"a": 1}, tracking_uri=sys.argv[1]) as run:
        for step in range(30):
            run.log_metric("loss", float(step), step=step)
        print(run.run_id, flush=True)
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))  # disk full
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="needs RLIMIT_FSIZE")
def test_a_full_disk_at_the_end_keeps_the_values_in_the_journal(uri, capsys):
    proc = subprocess.run(
        [sys.executable, "-c", DISK_FULL_CHILD, uri],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TOOLKIT_FLUSH_S": "600"},
    )
    run_id = proc.stdout.strip()
    assert proc.returncode == 1
    assert "TrackingError" in proc.stderr and "could not be completed" in proc.stderr
    assert "toolkit runs --mark-stale" in proc.stderr
    assert client_for(uri).get_run(run_id).info.status == "RUNNING"
    code, out, err = run_cli(["runs", "--mark-stale", "--tracking-uri", uri], capsys)
    assert code == 0, err
    assert history(uri, run_id, "loss") == [(s, float(s)) for s in range(30)]
    assert client_for(uri).get_run(run_id).info.status == "FAILED"


FIRST_MIGRATION_CHILD = textwrap.dedent(
    """
    import resource, signal, sys
    from toolkit import track
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    limit = int(sys.argv[2])  # bytes any file may grow to: the disk fills during the migration
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    with track("first", tracking_uri=sys.argv[1]) as run:
        run.log_metric("a", 1.0)
    """
)


def _first_migration_on_a_full_disk(store: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", FIRST_MIGRATION_CHILD, f"sqlite:///{store}", "300000"],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="needs RLIMIT_FSIZE")
def test_a_first_migration_on_a_full_disk_leaves_no_broken_store(tmp_path, monkeypatch):
    monkeypatch.setenv("TOOLKIT_SPOOL_DIR", str(tmp_path / "spool"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    store = tmp_path / "new" / "mlflow.db"
    proc = _first_migration_on_a_full_disk(store)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert f"could not create the MLflow store sqlite:///{store}" in last
    assert "the half-made file was removed" in last
    assert sorted(p.name for p in store.parent.iterdir()) == []  # no file no migration can finish
    with track("first", tracking_uri=f"sqlite:///{store}") as run:  # space again: it just works
        run.log_metric("a", 1.0)
    assert history(f"sqlite:///{store}", run.run_id, "a") == [(0, 1.0)]
    _store.forget_client(f"sqlite:///{store}")


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="needs RLIMIT_FSIZE")
def test_a_store_an_earlier_migration_left_half_done_is_repaired_when_opened(tmp_path, monkeypatch):
    # a store file that existed before its first migration (so it is not removed) and whose
    # migration stopped midway, as a full disk or an older version left it: today's
    # 'mlflow db upgrade' fails on it with "table _alembic_tmp_runs already exists"
    monkeypatch.setenv("TOOLKIT_SPOOL_DIR", str(tmp_path / "spool"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    store = tmp_path / "old" / "mlflow.db"
    store.parent.mkdir()
    with sqlite3.connect(store) as con:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("CREATE TABLE notes (x)")  # not empty: not one this run created
    assert _first_migration_on_a_full_disk(store).returncode == 1
    with sqlite3.connect(store) as con:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"runs", "_alembic_tmp_runs"} <= tables  # the broken state, reproduced
    with track("again", tracking_uri=f"sqlite:///{store}") as run:
        run.log_metric("a", 2.0)
    assert history(f"sqlite:///{store}", run.run_id, "a") == [(0, 2.0)]
    with sqlite3.connect(store) as con:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "_alembic_tmp_runs" not in tables and "notes" in tables
    _store.forget_client(f"sqlite:///{store}")


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("name", ["loss\n", "loss\r\n", "\n", "a\tb", "a\x00b", "a\x1b[2J"])
@pytest.mark.parametrize("kind", ["metric", "param", "tag"])
def test_names_are_validated_whole(uri, name, kind):
    with track("names") as run:
        with pytest.raises(ValidationError, match=f"{kind} name .* is not allowed"):
            if kind == "metric":
                run.log_metric(name, 1.0)
            elif kind == "param":
                run.log_param(name, 1)
            else:
                run.set_tag(name, "x")
    stored = client_for(uri).get_run(run.run_id)
    assert set(stored.data.metrics) == {"duration_s"} and stored.data.params == {}


def test_a_refused_param_keeps_nothing_of_its_call(uri):
    with track("params") as run:
        run.log_params({"a": 1})
        with pytest.raises(ValidationError, match="'a' was already logged"):
            run.log_params({"b": 2, "a": 3})
        run.log_params({"b": 5})  # b was not taken by the refused call
    assert client_for(uri).get_run(run.run_id).data.params == {"a": "1", "b": "5"}


def test_log_dict_writes_strict_json_and_names_the_non_finite_values(uri, tmp_path):
    payload = {"a": {"b": float("nan")}, "c": [1.0, float("inf")], "d": np.array([0.5, -np.inf])}
    original = {"a": {"b": payload["a"]["b"]}, "c": list(payload["c"])}
    with track("json") as run:
        with pytest.warns(NonFiniteValueWarning, match=r"3 NaN or infinite .*a\.b, c\[1\], d\[1\]"):
            run.log_dict(payload, "out.json")
    local = client_for(uri).download_artifacts(run.run_id, "out.json", str(tmp_path))

    def refuse(constant):
        raise AssertionError(f"bare {constant} in the JSON")

    content = json.loads(Path(local).read_text(), parse_constant=refuse)
    assert content == {"a": {"b": None}, "c": [1.0, None], "d": [0.5, None]}
    assert math.isnan(payload["a"]["b"]) and payload["c"] == original["c"]  # not mutated


def test_log_dict_of_finite_values_warns_nothing(uri):
    with track("json") as run, warnings.catch_warnings():
        warnings.simplefilter("error")
        run.log_dict({"a": 1.0, "b": [np.float32(2.0)], "c": "nan"}, "ok.json")


@pytest.mark.parametrize("value", ["-1", "0"])
def test_runs_max_results_below_one_is_one_line(uri, capsys, value):
    code, _, err = run_cli(["runs", "--max-results", value], capsys)
    assert code == 1
    assert one_line(err) == f"toolkit runs: error: --max-results must be >= 1, got {value}"


@pytest.mark.parametrize("bad", ["ftp://host/store", "gopher://x", "s3://bucket/runs"])
def test_a_tracking_uri_mlflow_cannot_store_in_is_refused(uri, capsys, bad):
    code, _, err = run_cli(["runs", "--tracking-uri", bad], capsys)
    assert code == 1
    line = one_line(err)
    assert repr(bad) in line and "cannot store runs in" in line
    with pytest.raises(ValidationError, match="cannot store runs in"):
        with track("ftp", tracking_uri=bad):
            pass


def test_database_uris_with_a_driver_are_accepted():
    uri = "postgresql+psycopg2://user@localhost/db"
    assert _store.resolve_tracking_uri(uri) == uri


# ---------------------------------------------------------------------------- terminal
EVIL = "\x1b[2J\x1b[31mevil\x07\u202e"


def test_runs_escapes_what_is_stored_before_it_reaches_the_terminal(uri, capsys):
    with track(f"exp{EVIL}", run_name=f"name{EVIL}") as run:
        run.log_metric("m", 1.0)
    code, out, err = run_cli(["runs"], capsys)
    assert code == 0, err
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert "name\\x1b[2J\\x1b[31mevil\\x07\\u202e" in out
    assert "exp\\x1b[2J" in out


def test_compare_escapes_stored_names(uri, capsys):
    with track("cmp", run_name=f"a{EVIL}", params={"p": f"v{EVIL}"}) as a:
        a.log_metric("m", 1.0)
    with track("cmp", run_name="b", params={"p": "w"}) as b:
        b.log_metric("m", 2.0)
    code, out, err = run_cli(["compare", a.run_id, b.run_id], capsys)
    assert code == 0, err
    assert "\x1b" not in out and "\u202e" not in out
    assert "a\\x1b[2J" in out and "v\\x1b[2J" in out


# ---------------------------------------------------------------------------- sent when given
def test_params_and_tags_reach_the_store_when_given(uri):
    client = client_for(uri)
    with track("given", params={"a": 1}) as run:
        assert client.get_run(run.run_id).data.params == {"a": "1"}
        run.log_params({"b": 2})
        run.set_tag("phase", "train")
        stored = client.get_run(run.run_id).data
        assert stored.params == {"a": "1", "b": "2"} and stored.tags["phase"] == "train"


def test_a_metric_waits_at_most_the_flush_interval(uri, monkeypatch):
    monkeypatch.setenv("TOOLKIT_FLUSH_S", "0.2")
    client = client_for(uri)
    with track("timed") as run:
        run.log_metric("m", 3.0)
        deadline = time.monotonic() + 10
        while "m" not in client.get_run(run.run_id).data.metrics:
            assert time.monotonic() < deadline, "the metric was not sent by time"
            time.sleep(0.05)
        assert run.journal_path is not None and run.journal_path.exists()
    assert not run.journal_path.exists()


def test_each_open_run_holds_its_journal_and_removes_it_at_the_end(uri):
    with track("journal") as outer, track("journal", nested=True) as inner:
        paths = {outer.journal_path, inner.journal_path}
        assert len(paths) == 2 and all(p.exists() for p in paths)
        assert _recovery.replay_orphans(uri) == []  # both alive: left alone
    assert not any(p.exists() for p in paths)


def test_a_journal_that_cannot_be_written_warns_and_the_run_goes_on(
    uri, tmp_path, monkeypatch, caplog
):
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the spool folder would be")
    monkeypatch.setenv("TOOLKIT_SPOOL_DIR", str(blocked))
    with track("nojournal") as run:
        run.log_metric("m", 1.0)
    assert run.journal_path is None and "no journal" in caplog.text
    assert client_for(uri).get_run(run.run_id).data.metrics["m"] == 1.0


def test_logging_from_threads_while_the_time_flush_runs_loses_nothing(uri, monkeypatch):
    monkeypatch.setenv("TOOLKIT_FLUSH_S", "0.05")
    with track("threads") as run:

        def work(offset: int) -> None:
            for step in range(200):
                run.log_metric("v", float(offset + step), step=offset + step)

        threads = [threading.Thread(target=work, args=(k * 1000,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    values = history(uri, run.run_id, "v")
    assert len(values) == 800 and len(set(values)) == 800


def test_run_attach_journals_and_close_removes_it(uri):
    with track("attach") as run:
        pass
    attached = Run.attach(run.run_id, tracking_uri=uri)
    attached.log_metric("later", 1.0)
    path = attached.journal_path
    assert path.exists()
    attached.close()
    assert not path.exists()
    assert client_for(uri).get_run(run.run_id).data.metrics["later"] == 1.0
