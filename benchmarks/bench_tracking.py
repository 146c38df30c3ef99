"""Overhead of `toolkit.track` over MLflow's own fluent API on a local SQLite store.

Two workloads, each logged three ways, side by side in one run:

- (a) one cold run: the first run of a fresh process (10 params, 20 metrics, 3 tags);
- (b) 100 small runs in one process (3 params, 2 metrics, 1 tag each: a sweep).

Paths:

- ``fluent``: MLflow's fluent calls, the reference of the targets:
  ``mlflow.set_tracking_uri`` and ``mlflow.set_experiment`` once, then per run
  ``with mlflow.start_run():`` ``log_params``, one batched ``log_metrics``, ``set_tags``
  (the ``with`` calls ``end_run``);
- ``log_batch``: plain ``MlflowClient``: ``create_run``, one ``log_batch`` with every
  value, ``set_terminated``: the fewest calls MLflow allows (shown for scale);
- ``track``: ``with toolkit.track(experiment, params=..., tags=...) as run:
  run.log_metrics(...)``, defaults: it also records MLflow's run-context tags, git state,
  the environment record (shared, see ``toolkit.tracking.run_environment``), console
  output and a heartbeat, sends the params when given (one ``log_batch``) and the
  metrics at the end, appends every value to its journal on local disk (what a
  ``kill -9`` would leave for replay; removed at the end), replays journals of dead
  processes (none here), and ends the run with a truthful status.

Every measurement is a fresh subprocess with mlflow and toolkit already imported (not
timed) whose working directory is a fresh git repository with one commit (a clean tree)
holding its own copy of one already-migrated SQLite store (``mlflow.db``, WAL journal;
the copy is not timed), so no path pays the schema migration. The timed span starts
before the client (or the fluent tracking URI) is set and ends when the last run has
ended. Each cell is repeated in several fresh processes, paths interleaved.

After timing, every run of every path is read back and checked (not timed): status,
params, metrics and tags as logged; for ``track`` also the environment and package list
through ``run_environment`` and ``toolkit.git.dirty = false``. A cProfile of ``track``
on (b) splits its time into its parts.

Run ``flock /tmp/toolkit-bench.lock .venv/bin/python benchmarks/bench_tracking.py``
(``make bench`` runs it too); the full run updates its section of
``benchmarks/RESULTS.md``. ``--quick`` (two processes per cell) prints the tables only.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import machine, machine_line, update_results  # benchmarks/_common.py

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).with_name("RESULTS.md")

REPEATS = 11
QUICK_REPEATS = 2
N_SMALL_RUNS = 100
#: Targets: track within this many times the fluent path (median of the processes).
TARGETS = {"cold": 1.2, "many": 1.3}

PATHS = [
    ("fluent", "MLflow fluent (`start_run`, `log_params`, `log_metrics`, `set_tags`, `end_run`)"),
    ("log_batch", "MLflow client, one `log_batch` per run"),
    ("track", "`toolkit.track` (defaults)"),
]
WORKLOADS = [
    ("cold", "(a) 1 cold run: 10 params, 20 metrics, 3 tags"),
    ("many", f"(b) {N_SMALL_RUNS} runs: 3 params, 2 metrics, 1 tag each"),
]
GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}


# --------------------------------------------------------------------------- workloads
def workload_runs(workload: str) -> list[dict[str, Any]]:
    """What each run of a workload logs: params, metrics and tags."""
    if workload == "cold":
        values: list[Any] = [0.1, 3, "gbdt", True, 1e-4, 500, "log_loss", 0.8, 42, None]
        return [
            {
                "params": {f"param_{i}": v for i, v in enumerate(values)},
                "metrics": {f"metric_{i}": 1.0 / (i + 1) for i in range(20)},
                "tags": {"team": "bench", "stage": "cold", "dataset": "adult"},
            }
        ]
    return [
        {
            "params": {"C": 10.0 ** (i % 7 - 3), "penalty": "l2" if i % 2 else "l1", "fold": i % 5},
            "metrics": {"score": 0.5 + (i % 17) / 40.0, "fit_time": 0.01 * (i % 11)},
            "tags": {"sweep": f"s{i // 10}"},
        }
        for i in range(N_SMALL_RUNS)
    ]


# --------------------------------------------------------------------------- the paths
def run_fluent(uri: str, experiment: str, runs: list[dict[str, Any]]) -> list[str]:
    import mlflow

    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(experiment)
    ids = []
    for r in runs:
        with mlflow.start_run() as active:
            mlflow.log_params(r["params"])
            mlflow.log_metrics(r["metrics"])
            mlflow.set_tags(r["tags"])
        ids.append(active.info.run_id)
    return ids


def run_log_batch(uri: str, experiment: str, runs: list[dict[str, Any]]) -> list[str]:
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(experiment)
    ids = []
    for r in runs:
        run_id = client.create_run(experiment_id).info.run_id
        now = int(time.time() * 1000)
        client.log_batch(
            run_id,
            metrics=[Metric(k, v, now, 0) for k, v in r["metrics"].items()],
            params=[Param(k, str(v)) for k, v in r["params"].items()],
            tags=[RunTag(k, v) for k, v in r["tags"].items()],
        )
        client.set_terminated(run_id)
        ids.append(run_id)
    return ids


def run_track(uri: str, experiment: str, runs: list[dict[str, Any]]) -> list[str]:
    from toolkit.tracking import track

    ids = []
    for r in runs:
        with track(experiment, params=r["params"], tags=r["tags"], tracking_uri=uri) as run:
            run.log_metrics(r["metrics"])
        ids.append(run.run_id)
    return ids


RUNNERS = {"fluent": run_fluent, "log_batch": run_log_batch, "track": run_track}


def check_records(path: str, uri: str, ids: list[str], runs: list[dict[str, Any]]) -> dict:
    """Read every run back: what was logged must be there (and, for track, its records)."""
    from mlflow import MlflowClient

    from toolkit.tracking import run_environment

    client = MlflowClient(tracking_uri=uri)
    problems: list[str] = []
    digests = set()
    for run_id, expected in zip(ids, runs, strict=True):
        data = client.get_run(run_id)
        if data.info.status != "FINISHED":
            problems.append(f"{run_id}: status {data.info.status}")
        if data.data.params != {k: str(v) for k, v in expected["params"].items()}:
            problems.append(f"{run_id}: params {data.data.params}")
        metrics = {k: v for k, v in data.data.metrics.items() if k != "duration_s"}
        if metrics != expected["metrics"]:
            problems.append(f"{run_id}: metrics {metrics}")
        if any(data.data.tags.get(k) != v for k, v in expected["tags"].items()):
            problems.append(f"{run_id}: tags {data.data.tags}")
        if path == "track":
            tags = data.data.tags
            if tags.get("toolkit.git.dirty") != "false":
                problems.append(f"{run_id}: toolkit.git.dirty={tags.get('toolkit.git.dirty')}")
            env = run_environment(run_id, tracking_uri=uri)
            if "mlflow" not in env.packages or env.environment.get("python") is None:
                problems.append(f"{run_id}: environment record incomplete")
            if "duration_s" not in data.data.metrics:
                problems.append(f"{run_id}: no duration_s")
            digests.add(env.digest)
    return {
        "runs": len(ids),
        "ok": len(ids) - len({p.split(":")[0] for p in problems}),
        "problems": problems[:5],
        "tags_per_run": len(client.get_run(ids[-1]).data.tags),
        "environment_digests": len(digests),
    }


# --------------------------------------------------------------------------- worker
def fresh_repo(folder: Path) -> Path:
    repo = folder / "repo"
    repo.mkdir()
    env = {**os.environ, **GIT_ENV}
    for args in (["init", "-q"], ["commit", "-q", "--allow-empty", "-m", "empty"]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)
    return repo


def warm_imports() -> None:
    """Import what every path needs, outside the timed span."""
    import mlflow
    import mlflow.entities
    import mlflow.store.tracking.sqlalchemy_store  # noqa: F401
    from mlflow import MlflowClient  # noqa: F401

    import toolkit.tracking.attach
    import toolkit.tracking.run  # noqa: F401


def quiet() -> None:
    import logging
    import warnings

    warnings.simplefilter("ignore")
    for name in ("mlflow", "alembic", "toolkit"):
        logging.getLogger(name).setLevel(logging.ERROR)


def worker(path: str, workload: str, template: Path, profile: bool) -> dict[str, Any]:
    import gc
    import sqlite3

    quiet()
    warm_imports()
    tmp = Path(tempfile.mkdtemp(prefix="toolkit-bench-tracking-"))
    try:
        repo = fresh_repo(tmp)
        os.chdir(repo)
        db = repo / "mlflow.db"  # inside the clean tree: it must not make it dirty
        with sqlite3.connect(template) as src, sqlite3.connect(db) as dst:
            src.backup(dst)
        uri = f"sqlite:///{db}"
        runs = workload_runs(workload)
        gc.collect()  # every path starts from a collected heap (see the GC count)
        full_gcs = [0]

        def count(phase: str, info: dict[str, Any]) -> None:
            if phase == "start" and info["generation"] == 2:
                full_gcs[0] += 1

        gc.callbacks.append(count)
        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        start = time.perf_counter()
        ids = RUNNERS[path](uri, f"bench-{workload}", runs)
        seconds = time.perf_counter() - start
        if profiler is not None:
            import pstats

            profiler.disable()
        gc.callbacks.remove(count)
        out = {"seconds": seconds, "full_gc": full_gcs[0]}
        if profiler is not None:
            out["breakdown"] = breakdown(pstats.Stats(profiler))
        out["checked"] = check_records(path, uri, ids, runs)
        out["git_status"] = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=all"],
            cwd=repo,
            capture_output=True,
            text=True,
        ).stdout.splitlines()
    finally:
        os.chdir(ROOT)
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def make_template(target: Path) -> dict[str, Any]:
    """An empty migrated store (toolkit's way: WAL), and how long migrating takes."""
    quiet()
    warm_imports()
    from toolkit.tracking import _store

    start = time.perf_counter()
    _store.get_client(f"sqlite:///{target}", create=True)
    return {"migrate_s": time.perf_counter() - start}


#: (label, file suffix, function name, inside) of the parts the profile splits out;
#: cumulative times overlap (a row includes the rows inside it).
PROFILE_ROWS = [
    ("`track.__enter__`", "toolkit/tracking/run.py", "__enter__", ""),
    ("git state (cached per process)", "toolkit/tracking/_capture.py", "git_state", "__enter__"),
    ("run-context and auto tags", "toolkit/tracking/_records.py", "start_tags", "__enter__"),
    ("environment record (built once per process)", "_records.py", "environment_record", ""),
    ("its pointer tags (stored once per experiment)", "_records.py", "environment_tags", ""),
    ("`create_run`", "mlflow/tracking/client.py", "create_run", "__enter__"),
    ("console capture on", "toolkit/tracking/_lifecycle.py", "_start_console_capture", ""),
    ("heartbeat on (one thread for all runs)", "toolkit/tracking/_lifecycle.py", "add", ""),
    ("journal opened (a file, locked)", "toolkit/tracking/_journal.py", "open", "__enter__"),
    ("journals of dead processes looked for", "_recovery.py", "replay_orphans", "__enter__"),
    ("`track.__exit__`", "toolkit/tracking/run.py", "__exit__", ""),
    ("heartbeat and capture off", "toolkit/tracking/_lifecycle.py", "stop", "__exit__"),
    (
        "`log_batch` (params when given, the rest at the end)",
        "mlflow/tracking/client.py",
        "log_batch",
        "",
    ),
    ("`set_terminated`", "mlflow/tracking/client.py", "set_terminated", "__exit__"),
    ("MLflow `get_run` (none expected)", "mlflow/tracking/client.py", "get_run", ""),
]


def breakdown(stats: Any) -> dict[str, Any]:
    found: dict[str, list[float]] = {label: [0.0, 0] for label, *_ in PROFILE_ROWS}
    for (filename, _, func), (_, ncalls, _, cumulative, _) in stats.stats.items():
        for label, suffix, name, _ in PROFILE_ROWS:
            if func == name and filename.replace(os.sep, "/").endswith(suffix):
                found[label][0] += cumulative
                found[label][1] += ncalls
    return {"rows": found, "total": stats.total_tt}


# --------------------------------------------------------------------------- orchestration
def run_worker(args: list[str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if done.returncode != 0:
        raise RuntimeError(f"worker {args} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def seconds_of(results: dict[tuple[str, str], list[dict]], path: str, workload: str) -> list:
    return [r["seconds"] for r in results[(path, workload)]]


def ratio(values: list[float], base: list[float]) -> float:
    return statistics.median(values) / statistics.median(base)


def paired_ratio(values: list[float], base: list[float]) -> float:
    """Median over repetitions of the ratio of two processes run one after the other:
    both saw about the same load, which a ratio of medians does not ensure."""
    return statistics.median(v / b for v, b in zip(values, base, strict=True))


def timing_table(results: dict[tuple[str, str], list[dict]]) -> tuple[str, list[str]]:
    lines = [
        "| workload | path | seconds, median / min | ratio to fluent: paired median "
        "/ of medians / of mins | ratio to `log_batch`, paired median "
        "| full GCs in the timed spans |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    verdicts = []
    for workload, wlabel in WORKLOADS:
        fluent = seconds_of(results, "fluent", workload)
        batch = seconds_of(results, "log_batch", workload)
        for path, plabel in PATHS:
            values = seconds_of(results, path, workload)
            gcs = sum(r["full_gc"] for r in results[(path, workload)])
            lines.append(
                f"| {wlabel} | {plabel} | {statistics.median(values):.3f} / {min(values):.3f} "
                f"| {paired_ratio(values, fluent):.2f}× / {ratio(values, fluent):.2f}× / "
                f"{min(values) / min(fluent):.2f}× | {paired_ratio(values, batch):.2f}× | {gcs} |"
            )
        track = seconds_of(results, "track", workload)
        r = paired_ratio(track, fluent)
        worst = max(r, ratio(track, fluent))  # met only when both estimates are within
        target = TARGETS[workload]
        verdict = "met" if worst <= target else f"**not met**, by {worst / target - 1:.0%}"
        verdicts.append(
            f"- {wlabel}: `track` is {r:.2f}× the fluent path (paired median; ratio of "
            f"medians {ratio(track, fluent):.2f}×); target ≤ {target}×: {verdict}"
        )
    return "\n".join(lines), verdicts


def is_store_file(status_line: str) -> bool:
    """A ``git status`` line of the store itself (database, WAL, shared memory, artifacts)."""
    path = status_line[3:]
    return path in {"mlflow.db", "mlflow.db-wal", "mlflow.db-shm"} or path.startswith("mlruns/")


def checks_table(results: dict[tuple[str, str], list[dict]]) -> str:
    lines = [
        "| workload | path | runs read back and complete (all processes) | tags per run "
        "| distinct environment records | files left in the tree besides the store |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    for workload, wlabel in WORKLOADS:
        for path, plabel in PATHS:
            rs = results[(path, workload)]
            ok, total = sum(r["checked"]["ok"] for r in rs), sum(r["checked"]["runs"] for r in rs)
            digests = rs[0]["checked"]["environment_digests"] if path == "track" else "–"
            left = {line for r in rs for line in r["git_status"] if not is_store_file(line)}
            shown = ", ".join(f"`{s}`" for s in sorted(left)) or "none"
            lines.append(
                f"| {wlabel} | {plabel} | {ok} / {total} | {rs[0]['checked']['tags_per_run']} "
                f"| {digests} | {shown} |"
            )
    return "\n".join(lines)


def profile_table(profile: dict[str, Any]) -> str:
    lines = [
        "| part of `track` (cProfile, cumulative) | inside | seconds (calls) |",
        "| --- | --- | ---: |",
    ]
    for label, _, _, inside in PROFILE_ROWS:
        sec, calls = profile["rows"][label]
        lines.append(f"| {label} | {inside or '–'} | {sec:.3f} ({calls:,}) |")
    lines.append(f"| everything profiled (incl. the profiler) | – | {profile['total']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few processes; no RESULTS.md")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--workload", help=argparse.SUPPRESS)
    parser.add_argument("--template", help=argparse.SUPPRESS)
    parser.add_argument("--profile", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker == "template":
        print(json.dumps(make_template(Path(args.template))))
        return
    if args.worker:
        print(json.dumps(worker(args.worker, args.workload, Path(args.template), args.profile)))
        return

    host = machine()
    started = time.perf_counter()
    repeats = QUICK_REPEATS if args.quick else REPEATS
    tmp = Path(tempfile.mkdtemp(prefix="toolkit-bench-tracking-template-"))
    try:
        template = tmp / "template.db"
        migrate = run_worker(["--worker", "template", "--template", str(template)])
        results: dict[tuple[str, str], list[dict]] = {}
        for rep in range(repeats):  # interleaved: a change in load hits every path alike
            for workload, _ in WORKLOADS:
                for path, _ in PATHS:
                    r = run_worker(
                        ["--worker", path, "--workload", workload, "--template", str(template)]
                    )
                    results.setdefault((path, workload), []).append(r)
                    checked = r["checked"]
                    print(
                        f"  [{rep + 1}/{repeats}] {workload:5} {path:9} {r['seconds']:.3f} s, "
                        f"{checked['ok']}/{checked['runs']} runs complete {checked['problems']}",
                        flush=True,
                    )
        profile = run_worker(
            ["--worker", "track", "--workload", "many", "--template", str(template), "--profile"]
        )["breakdown"]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    import mlflow
    import sqlalchemy

    timing_md, verdicts = timing_table(results)
    wall = time.perf_counter() - started
    section = "\n".join(
        [
            "## Tracking overhead (benchmarks/bench_tracking.py)",
            "",
            f"- date: {datetime.date.today().isoformat()}",
            f"- machine: {machine_line(host)}; load average {host['load']} when the run started",
            f"- software: Python {platform.python_version()}, mlflow {mlflow.__version__}, "
            f"SQLAlchemy {sqlalchemy.__version__}",
            "- command: `flock /tmp/toolkit-bench.lock .venv/bin/python "
            f"benchmarks/bench_tracking.py` ({wall:.0f} s wall; also run by `make bench`)",
            "- each process: mlflow and toolkit imported before timing; its working directory "
            "a fresh git repository with one commit (a clean tree) holding a copy of one "
            f"migrated SQLite store (WAL; migrating a new store takes "
            f"{migrate['migrate_s']:.2f} s, paid by no path); the timed span starts before "
            "the client or the fluent tracking URI is set, so (a) includes making the client "
            "and the experiment",
            f"- each cell: {repeats} fresh processes, paths interleaved; `gc.collect()` just "
            "before the timed span",
            "- after timing every run of every path was read back: status, params, metrics "
            "and tags as logged; for `track` also the environment and package list "
            "(`toolkit.tracking.run_environment`) and `toolkit.git.dirty = false` (the store "
            "is inside the tree, its files do not count as changes)",
            "",
            "### Seconds, and ratios",
            "",
            timing_md,
            "",
            *verdicts,
            "",
            "### Every record read back",
            "",
            checks_table(results),
            "",
            f"### Where the time of `track` goes ((b), {N_SMALL_RUNS} runs, one profiled process)",
            "",
            "cProfile slows Python code more than SQLite and file work: read the shares.",
            "",
            profile_table(profile),
        ]
    )
    print()
    print(section)
    if not args.quick:
        update_results("bench_tracking", section)
        print(f"\nupdated {RESULTS}")


if __name__ == "__main__":
    main()
