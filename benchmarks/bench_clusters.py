"""Speed and memory of `toolkit.cluster_errors` on 10k, 50k and 100k rows x 64 dims.

Input: 64-d embeddings drawn from 40 Gaussian blobs of different sizes, 10 classes, a
model that errs on ~8% of rows at random plus ~70% of the rows of 3 blobs (planted error
clusters), and 4 feature columns (2 numeric, 1 categorical, 1 with missing values) for
the rules. Default options (``max_points=5000``, ``n_bootstrap=3``, ``random_state=0``).

Each size runs in a fresh subprocess that builds the data, then calls ``cluster_errors``
twice: the first call ("cold process") pays for importing umap/hdbscan and numba's
compilation (with numba's on-disk cache as the earlier runs left it, the normal case);
the second ("warm") is the steady state. One more subprocess, at the largest size, points
``NUMBA_CACHE_DIR`` at an empty folder: the one-off cost of the very first run after
installing. Peak memory is the worker's peak RSS (``getrusage``), data included.
Whether the planted clusters were found (best row Jaccard of each) is printed too.

The machine may be shared: the load average before and after each worker is recorded.

Run ``make bench`` or ``.venv/bin/python benchmarks/bench_clusters.py``; the full run
prints a markdown table and replaces its section of ``benchmarks/RESULTS.md``.
``--sizes 5000`` is a quick run that leaves RESULTS.md alone.

``--adult`` times the whole ``tk.diagnose`` (every section) on all 48,842 rows of Adult
(train and test, the 19 columns of ``bench_patterns``, out-of-fold predictions of a
HistGradientBoostingClassifier), side by side with Microsoft's erroranalysis 0.5.5 (error
tree, importances and a heatmap, the tool's own analysis of the same table) in its own
virtual environment (``bench_patterns.ensure_env``). Each tool runs in a new process:
toolkit's first ``diagnose`` there includes ``import toolkit`` and numba's compilation,
its second call is the warm one. It replaces its own section of RESULTS.md. Wrap timing
runs in ``flock /tmp/toolkit-bench.lock`` on a shared machine.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import machine_line, update_results  # benchmarks/_common.py

from toolkit.analysis._cluster_embed import N_EPOCHS

SIZES = [10_000, 50_000, 100_000]
DIMS = 64
SEED = 0
TIME_TARGET_S = 60.0
MEMORY_TARGET_MIB = 4096.0
RESULTS = Path(__file__).with_name("RESULTS.md")
START_MARK = "<!-- bench_clusters:start -->"
END_MARK = "<!-- bench_clusters:end -->"


def make_data(n: int, seed: int = SEED) -> tuple[Any, Any]:
    """Predictions with 64-d embeddings and three planted error blobs; the planted masks."""
    import numpy as np
    import pandas as pd

    import toolkit as tk

    rng = np.random.default_rng(seed)
    n_blobs = 40
    weights = rng.dirichlet(np.full(n_blobs, 2.0))
    blob = rng.choice(n_blobs, size=n, p=weights)
    centres = rng.normal(0.0, 4.0, size=(n_blobs, DIMS))
    emb = centres[blob] + rng.normal(0.0, 1.0, size=(n, DIMS))
    y = blob % 10
    planted_blobs = [int(b) for b in np.argsort(-weights)[[5, 10, 15]]]
    planted = np.isin(blob, planted_blobs)
    wrong = rng.random(n) < np.where(planted, 0.7, 0.08)
    pred = np.where(wrong, (y + 1 + rng.integers(0, 9, n)) % 10, y)
    features = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n),
            "hours": np.round(rng.normal(40, 10, n), 1),
            "plan": rng.choice(["basic", "plus", "pro"], n),
            "score": np.where(rng.random(n) < 0.05, np.nan, rng.normal(0, 1, n)),
        }
    )
    p = tk.Predictions(y, pred, features=features, embeddings=emb.astype(np.float32))
    return p, [blob == b for b in planted_blobs]


def collect_phases() -> list[list[str]]:
    """The DEBUG lines of ``cluster_errors`` (how long each step took), one list per
    call: append an empty list before each call."""
    phases: list[list[str]] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            phases[-1].append(record.getMessage().removeprefix("cluster_errors: "))

    log = logging.getLogger("toolkit.analysis.clusters")
    log.setLevel(logging.DEBUG)
    log.addHandler(Collect())
    return phases


def worker(n: int) -> dict[str, Any]:
    started = time.perf_counter()
    from toolkit.analysis.clusters import cluster_errors

    phases = collect_phases()

    p, planted = make_data(n)
    built = time.perf_counter()
    times = []
    result = None
    for _ in range(2):
        phases.append([])
        t = time.perf_counter()
        result = cluster_errors(p, random_state=SEED)
        times.append(time.perf_counter() - t)
    labels = result.labels
    found = []
    for mask in planted:
        best = 0.0
        for c in range(int(labels.max()) + 1):
            member = labels == c
            best = max(best, (member & mask).sum() / (member | mask).sum())
        found.append(round(float(best), 3))
    return {
        "n": n,
        "build_s": built - started,
        "cold_s": times[0],
        "cold_total_s": times[0] + (built - started),
        "warm_s": times[1],
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "clusters": len(result.table),
        "noise": result.n_noise,
        "n_fit": result.params["n_fit"],
        "planted_jaccard": found,
        "top3_gain_pp": [round(float(v), 2) for v in result.table["gain_pp"].head(3)],
        "all_rows_counted": int(result.table["n"].sum() + result.n_noise) == n,
        "numba_cache": os.environ.get("NUMBA_CACHE_DIR", "default"),
        "phases_cold": phases[0],
        "phases_warm": phases[1],
    }


def run_worker(n: int, env: dict[str, str] | None = None) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    out = subprocess.run(
        [sys.executable, __file__, "--worker", str(n)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    record = json.loads(out.stdout.strip().splitlines()[-1])
    record["load_before"] = load_before
    record["load_after"] = os.getloadavg()[0]
    return record


# --------------------------------------------------------------------------- Adult, diagnose
def write_adult(path: Path) -> dict[str, Any]:
    """Adult train + test, 19 columns and out-of-fold predictions, as one .npz file."""
    import numpy as np
    import pandas as pd
    from bench_patterns import adult_oof_predictions, adult_table

    features, y, inputs = adult_table()
    pred, fit_s = adult_oof_predictions(features, y, inputs)
    arrays: dict[str, Any] = {"y_true": y, "y_pred": pred}
    kinds = []
    for j, c in enumerate(features.columns):
        col = features[c]
        if pd.api.types.is_numeric_dtype(col):
            kinds.append("num")
            arrays[f"c{j}"] = col.to_numpy(dtype=np.float64)
        else:
            kinds.append("cat")
            arrays[f"c{j}"] = np.asarray(col.astype(object).fillna("(missing)"), dtype=str)
    arrays["columns"] = np.asarray(list(features.columns), dtype=str)
    arrays["kinds"] = np.asarray(kinds, dtype=str)
    np.savez(path, **arrays)
    return {"n": len(y), "columns": len(kinds), "error_rate": float((pred != y).mean())}


def read_adult(path: str) -> tuple[Any, Any, Any]:
    import numpy as np
    import pandas as pd

    data = np.load(path, allow_pickle=False)
    frame = pd.DataFrame(
        {
            str(c): data[f"c{j}"].astype(object) if k == "cat" else data[f"c{j}"]
            for j, (c, k) in enumerate(zip(data["columns"], data["kinds"]))
        }
    )
    return frame, data["y_true"], data["y_pred"]


def adult_worker(path: str) -> dict[str, Any]:
    """toolkit in a new process: import, then ``diagnose`` twice."""
    started = time.perf_counter()
    import toolkit as tk

    imported = time.perf_counter()
    phases = collect_phases()
    frame, y, pred = read_adult(path)
    p = tk.Predictions(y, pred, classes=[0, 1], features=frame)
    times, sections = [], []
    d = None
    for _ in range(2):
        phases.append([])
        t = time.perf_counter()
        d = tk.diagnose(p, random_state=SEED)
        times.append(time.perf_counter() - t)
        sections.append({k: round(v, 2) for k, v in d.extras.get("runtime_s", {}).items()})
    table = d.clusters.table
    worse = table[table["significant"]]
    return {
        "import_s": imported - started,
        "first_s": times[0],
        "first_with_import_s": times[0] + (imported - started),
        "warm_s": times[1],
        "sections_first": sections[0],
        "sections_warm": sections[1],
        "clusters": len(table),
        "worse": len(worse),
        "worse_stable": int(worse["stable"].map(lambda v: v is True).sum()),
        "skipped": d.skipped,
        "phases_first": phases[0],
        "phases_warm": phases[1],
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


#: erroranalysis in its own environment: the error tree, the importances and a heatmap.
EA_SCRIPT = """
import json, sys, time
started = time.perf_counter()
import numpy as np, pandas as pd
from erroranalysis.analyzer import PredictionsAnalyzer
imported = time.perf_counter()
data = np.load(sys.argv[1], allow_pickle=False)
cols = [str(c) for c in data["columns"]]
kinds = [str(k) for k in data["kinds"]]
frame = pd.DataFrame({c: data[f"c{j}"] for j, c in enumerate(cols)})
cats = [c for c, k in zip(cols, kinds) if k == "cat"]
t = time.perf_counter()
analyzer = PredictionsAnalyzer(data["y_pred"], frame, data["y_true"], cols, cats,
                               model_task="classification")
tree = analyzer.compute_error_tree(cols, [], [], max_depth=3)
importances = analyzer.compute_importances()
heatmap = analyzer.compute_matrix(["age", "education"], [], [])
done = time.perf_counter()
print(json.dumps({"import_s": imported - started, "analysis_s": done - t,
                  "total_s": done - started, "tree_nodes": len(tree)}))
"""


def ea_worker(path: str) -> dict[str, Any] | None:
    try:
        from bench_patterns import ensure_env

        env = ensure_env("erroranalysis")
    except Exception as exc:  # the peer is optional: say why it is missing
        return {"error": f"{type(exc).__name__}: {exc}"}
    python = env.get("python") if isinstance(env, dict) else None
    if not python:
        return {"error": f"no erroranalysis environment: {env}"}
    done = subprocess.run(
        [str(python), "-c", EA_SCRIPT, path], capture_output=True, text=True, timeout=600
    )
    if done.returncode:
        return {"error": done.stderr.strip().splitlines()[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_adult() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "adult.npz"
        info = write_adult(path)
        load = [os.getloadavg()[0]]
        out = subprocess.run(
            [sys.executable, __file__, "--adult-worker", str(path)],
            capture_output=True,
            text=True,
            check=True,
        )
        tk_rec = json.loads(out.stdout.strip().splitlines()[-1])
        load.append(os.getloadavg()[0])
        ea = ea_worker(str(path))
        load.append(os.getloadavg()[0])
    print(json.dumps({"toolkit": tk_rec, "erroranalysis": ea, "load": load}), flush=True)
    ea_cell = (
        f"{ea['total_s']:.1f} (import {ea['import_s']:.1f}, analysis {ea['analysis_s']:.1f})"
        if ea and "total_s" in ea
        else f"not run: {ea.get('error') if ea else 'unknown'}"
    )
    rows = [
        "| tool, what runs | new process (s) | warm (s) | load avg before / between / after |",
        "| --- | ---: | ---: | --- |",
        f"| toolkit `diagnose` (every section) | {tk_rec['first_with_import_s']:.1f} "
        f"(import {tk_rec['import_s']:.1f}) | {tk_rec['warm_s']:.1f} "
        f"| {' / '.join(f'{x:.1f}' for x in load)} |",
        f"| erroranalysis tree (depth 3) + importances + heatmap | {ea_cell} | — | |",
    ]
    first, warm = tk_rec["sections_first"], tk_rec["sections_warm"]
    section = "\n".join(
        [
            "<!-- bench_clusters_adult:start -->",
            "## A whole `diagnose` on Adult, beside erroranalysis (bench_clusters.py --adult)",
            "",
            f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
            f"- machine: {machine_line()}; shared with other engineers' jobs: the load "
            "average is in the table (2 cores: above 2 means waiting for a core)",
            "- command: `flock /tmp/toolkit-bench.lock .venv/bin/python "
            "benchmarks/bench_clusters.py --adult`",
            f"- input: {info['n']:,} rows x {info['columns']} columns (Adult train + test), "
            f"out-of-fold HistGradientBoosting predictions, error rate {info['error_rate']:.1%}",
            "",
            *rows,
            "",
            f"- toolkit sections, first call (s): {first}",
            f"- toolkit sections, warm call (s): {warm}",
            f"- steps of `cluster_errors`, first call: {'; '.join(tk_rec['phases_first'])}",
            f"- steps of `cluster_errors`, warm call: {'; '.join(tk_rec['phases_warm'])}",
            f"- clusters: {tk_rec['clusters']}, of which {tk_rec['worse']} significantly worse "
            f"than the rest ({tk_rec['worse_stable']} of them stable); peak RSS "
            f"{tk_rec['peak_rss_mib']:.0f} MiB",
            "- targets of issue 14: under 15 s in a new process, under 8 s warm: "
            f"{'met' if tk_rec['first_with_import_s'] < 15 else 'NOT met'} / "
            f"{'met' if tk_rec['warm_s'] < 8 else 'NOT met'} at this load",
            "<!-- bench_clusters_adult:end -->",
        ]
    )
    print(section)
    update_results("bench_clusters_adult", section)


def versions() -> str:
    from importlib.metadata import version

    names = ["numpy", "scikit-learn", "umap-learn", "hdbscan", "pynndescent", "numba"]
    return ", ".join(f"{n} {version(n)}" for n in names)


def table(records: list[dict[str, Any]]) -> str:
    lines = [
        "| rows | run | numba cache | first call (s) | second call, warm (s) "
        "| peak RSS (MiB) | clusters | noise rows | planted found (Jaccard) "
        "| load avg before/after |",
        "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for r in records:
        cache = (
            "empty (first run ever)" if r["numba_cache"] != "default" else "as left by earlier runs"
        )
        lines.append(
            f"| {r['n']:,} | new process | {cache} | {r['cold_s']:.1f} | {r['warm_s']:.1f} "
            f"| {r['peak_rss_mib']:.0f} | {r['clusters']} | {r['noise']:,} "
            f"| {', '.join(f'{j:.2f}' for j in r['planted_jaccard'])} "
            f"| {r['load_before']:.1f} / {r['load_after']:.1f} |"
        )
    return "\n".join(lines)


def verdict(records: list[dict[str, Any]]) -> str:
    lines = []
    for r in records:
        if r["n"] != max(x["n"] for x in records):
            continue
        ok_t = "met" if r["cold_s"] < TIME_TARGET_S else "NOT met"
        ok_m = "met" if r["peak_rss_mib"] < MEMORY_TARGET_MIB else "NOT met"
        lines.append(
            f"- {r['n']:,} rows, numba cache {r['numba_cache']}: first call in a new process "
            f"{r['cold_s']:.1f} s vs {TIME_TARGET_S:.0f} s ({ok_t}); peak RSS "
            f"{r['peak_rss_mib']:.0f} MiB vs {MEMORY_TARGET_MIB:.0f} MiB ({ok_m})"
        )
    return "\n".join(lines)


def phase_lines(records: list[dict[str, Any]]) -> str:
    """Where the time of the largest size goes, per call (from cluster_errors' DEBUG log)."""
    lines = []
    for r in records:
        if r["n"] != max(x["n"] for x in records):
            continue
        cache = "empty numba cache" if r["numba_cache"] != "default" else "numba cache as left"
        lines.append(f"- {r['n']:,} rows, {cache}, first call: {'; '.join(r['phases_cold'])}")
        lines.append(f"- {r['n']:,} rows, {cache}, second call: {'; '.join(r['phases_warm'])}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--sizes", type=int, nargs="+", default=None)
    parser.add_argument("--no-empty-cache", action="store_true")
    parser.add_argument(
        "--adult", action="store_true", help="diagnose on Adult, beside erroranalysis"
    )
    parser.add_argument("--adult-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker)))
        return
    if args.adult_worker:
        print(json.dumps(adult_worker(args.adult_worker)))
        return
    if args.adult:
        run_adult()
        return
    sizes = args.sizes or SIZES
    load_at_start = os.getloadavg()[0]
    records = []
    for n in sizes:
        records.append(run_worker(n))
        print(json.dumps(records[-1]), flush=True)
    if not args.no_empty_cache:
        with tempfile.TemporaryDirectory() as cache:
            env = dict(os.environ, NUMBA_CACHE_DIR=cache)
            records.append(run_worker(max(sizes), env=env))
            records[-1]["numba_cache"] = "empty"
            print(json.dumps(records[-1]), flush=True)
    body = table(records)
    print(body)
    print(phase_lines(records))
    if args.sizes is not None:
        return
    section = "\n".join(
        [
            START_MARK,
            "## Error clusters (benchmarks/bench_clusters.py)",
            "",
            f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
            f"- machine: {machine_line()}; shared with other jobs (load average in the table)",
            f"- software: Python {platform.python_version()}, {versions()}",
            "- command: `make bench` or `.venv/bin/python benchmarks/bench_clusters.py`",
            f"- input: {DIMS}-d embeddings from 40 Gaussian blobs, 10 classes, ~8% random "
            "errors plus 3 planted blobs with 70% errors, 4 feature columns; "
            "`cluster_errors(p, random_state=0)` with defaults (`max_points=5000`, "
            "`cluster_dims=8`, `n_bootstrap=3`: each stability re-run re-fits the 8-D UMAP "
            "on a bootstrap draw of the fit sample with a new seed)",
            "- each size runs in a new process: the first call pays imports and numba "
            "compilation (numba's on-disk cache as earlier runs left it); the second call is "
            "the steady state; the last row empties numba's cache first (first run after "
            "installing); peak RSS is the worker's, input data included",
            f"- every UMAP fit runs {N_EPOCHS} epochs, two fits at a time in threads (the "
            "map and the clustering space; the stability re-fits); above 5,000 rows the fit "
            "sample keeps every "
            "error up to half of it, the other rows are placed from their nearest fitted rows "
            "(position: weighted mean; cluster: weighted vote)",
            f"- load average right before the run: {load_at_start:.2f} (2 cores)",
            "",
            body,
            "",
            "Where the time goes (steps of `cluster_errors`, from its DEBUG log):",
            "",
            phase_lines(records),
            "",
            f"Targets (under {TIME_TARGET_S:.0f} s including numba compilation, under "
            f"{MEMORY_TARGET_MIB / 1024:.0f} GB):",
            "",
            verdict(records),
            END_MARK,
        ]
    )
    update_results("bench_clusters", section)


if __name__ == "__main__":
    main()
