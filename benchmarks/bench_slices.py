"""Speed and memory of `toolkit.slice_metrics` on 1,000,000 rows x 10 slicing columns.

Measures, each in a fresh subprocess:

(a) building ``toolkit.Predictions`` from labels, probabilities and features;
(b) ``slice_metrics(p, by=<all 10 columns>)``;
(c) ``slice_metrics(p, by=<4 of the columns>, pairs=True)``: the 4 columns and their 6 pairs;
and, for comparison, a plain pandas groupby (n, errors, mean error per column, numeric
columns cut with ``pd.qcut``) over the 10 columns, and over the 4 columns and their pairs.

Wall time is the best of 3 calls (``time.perf_counter``). Peak memory is read two ways:
the worker's peak RSS from ``resource.getrusage(RUSAGE_CHILDREN)`` in a small probe
process that starts only that worker (so the reading is never the max over several
workers), shown absolute and as the increase over a baseline worker that only imports
and builds the input data; and the ``tracemalloc`` peak of one call, in a separate
worker so tracing does not inflate the RSS reading. tracemalloc sees allocations by
Python and numpy but not by pyarrow, which holds pandas' string columns.

Building the input data briefly needs more memory than holding it, and that transient
peak would hide a smaller call's peak. So on Linux each worker resets its peak RSS
(``/proc/self/clear_refs``) once its input is built: the peak then reported is the data
held plus what the measured calls add.

Run ``make bench`` or ``.venv/bin/python benchmarks/bench_slices.py``; the full-size run
prints a markdown table and updates its section of ``benchmarks/RESULTS.md``.
``--rows N`` is a quick smoke run that prints the table and leaves RESULTS.md alone.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

from _common import machine, update_results  # benchmarks/_common.py

DEFAULT_ROWS = 1_000_000
REPEATS = 3
SEED = 0
TIME_TARGET_S = 5.0
MEMORY_TARGET_MIB = 2048.0
RESULTS = Path(__file__).with_name("RESULTS.md")
START_MARK = "<!-- bench_slices:start -->"
END_MARK = "<!-- bench_slices:end -->"

#: The 10 slicing columns, and the 4 sliced with ``pairs=True`` (alone and in 6 pairs).
COLUMNS = [
    "plan",  # string, 2 values
    "device",  # string, 5 values, ~1% missing
    "region",  # string, 12 values, ~3% missing
    "product",  # string, 50 values (skewed), ~5% missing
    "merchant",  # string, ~500 values (skewed): top 49 kept, the rest "(other)"
    "income",  # float, lognormal
    "balance",  # float, ~40% exactly 0 (a point mass), ~2% NaN
    "score",  # float, normal, ~1% NaN
    "age",  # int, 18..90
    "n_children",  # int, 0..4 (few values: sliced like a category)
]
PAIR_COLUMNS = ["device", "product", "balance", "age"]

#: (key, label) of each measurement, in table order.
MEASUREMENTS = [
    ("baseline", "baseline: imports + input data"),
    ("baseline_p", "baseline + Predictions kept"),
    ("predictions", "(a) build `Predictions`"),
    ("slices", "(b) `slice_metrics`, 10 columns"),
    ("slices_pairs", "(c) `slice_metrics`, 4 columns, `pairs=True`"),
    ("groupby", "pandas groupby, 10 columns"),
    ("groupby_pairs", "pandas groupby, 4 columns + their 6 pairs"),
]
TIMED = {"predictions", "slices", "slices_pairs", "groupby", "groupby_pairs"}
TARGETED = {"slices", "slices_pairs"}


# --------------------------------------------------------------------------- input data
def make_data(rows: int, seed: int = SEED) -> tuple[Any, Any, Any]:
    """Binary labels, (rows, 2) probabilities and a 10-column feature table."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)

    def skewed(k: int, s: float) -> np.ndarray:
        weights = 1.0 / np.arange(1, k + 1) ** s
        return weights / weights.sum()

    def strings(values: list[str], probs: np.ndarray, missing_rate: float) -> np.ndarray:
        out = np.asarray(values, dtype=object)[rng.choice(len(values), size=rows, p=probs)]
        out[rng.random(rows) < missing_rate] = None
        return out

    devices = ["desktop", "phone", "tablet", "tv", "watch"]
    regions = [f"region_{j:02d}" for j in range(12)]
    products = [f"product_{j:02d}" for j in range(50)]
    merchants = [f"merchant_{j:03d}" for j in range(500)]
    plan = strings(["free", "paid"], np.array([0.7, 0.3]), 0.0)
    device = strings(devices, np.array([0.45, 0.35, 0.12, 0.05, 0.03]), 0.01)
    region = strings(regions, skewed(12, 0.5), 0.03)
    product = strings(products, skewed(50, 1.0), 0.05)
    merchant = strings(merchants, skewed(500, 1.1), 0.0)

    income = rng.lognormal(10.5, 0.6, rows)
    balance = np.where(rng.random(rows) < 0.4, 0.0, rng.lognormal(7.0, 1.5, rows))
    balance[rng.random(rows) < 0.02] = np.nan
    score = rng.normal(600.0, 80.0, rows)
    score[rng.random(rows) < 0.01] = np.nan
    age = rng.integers(18, 91, rows)
    n_children = rng.choice(5, size=rows, p=[0.4, 0.25, 0.2, 0.1, 0.05])

    features = pd.DataFrame(
        {
            "plan": plan,
            "device": device,
            "region": region,
            "product": product,
            "merchant": merchant,
            "income": income,
            "balance": balance,
            "score": score,
            "age": age,
            "n_children": n_children,
        }
    )

    # Truth depends on a few columns; the model is noisier on some slices, so error
    # rates differ between slices as they would for a real model.
    z_score = np.nan_to_num((score - 600.0) / 80.0)
    logit = -0.8 + 0.9 * (plan == "paid") + 0.03 * (age - 50) + 0.7 * z_score
    y_true = (rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    noise = 0.8 + 1.5 * (device == "tablet") + 1.0 * np.isnan(balance)
    noise = noise + 0.8 * np.isin(product, products[30:])
    p1 = 1.0 / (1.0 + np.exp(-(logit + rng.normal(0.0, 1.0, rows) * noise)))
    proba = np.column_stack([1.0 - p1, p1])
    return y_true, proba, features


# --------------------------------------------------------------------------- the naive way
def naive_groupby(frame: Any, columns: list[str], pair_columns: list[str] | None) -> list[Any]:
    """n, errors and error rate per value (numeric columns in 5 quantile bins) with pandas."""
    import pandas as pd

    keys = {}
    for c in columns:
        col = frame[c]
        if pd.api.types.is_numeric_dtype(col) and col.nunique() > 5:
            col = pd.qcut(col, 5, duplicates="drop")
        keys[c] = col
    error = frame["error"]
    out = [
        error.groupby(keys[c], dropna=False, observed=True).agg(["size", "sum", "mean"])
        for c in columns
    ]
    if pair_columns:
        for i, a in enumerate(pair_columns):
            for b in pair_columns[i + 1 :]:
                grouped = error.groupby([keys[a], keys[b]], dropna=False, observed=True)
                out.append(grouped.agg(["size", "sum", "mean"]))
    return out


# --------------------------------------------------------------------------- worker
def _reset_peak_rss() -> bool:
    """Return free heap to the OS, then forget this process's peak RSS so far (Linux).

    Without the first step, memory freed while building the input stays resident in the
    allocators (glibc malloc, pyarrow's pool) and later allocations reuse it unseen.
    Returns False where the peak cannot be reset.
    """
    import ctypes
    import gc

    import pyarrow as pa

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass
    pa.default_memory_pool().release_unused()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def worker(mode: str, rows: int, trace: bool) -> dict[str, Any]:
    """Run one measurement in this process; return timings and facts as a dict."""
    import gc
    import time
    import tracemalloc

    import numpy as np
    import pandas as pd

    import toolkit

    Predictions, slice_metrics = toolkit.Predictions, toolkit.slice_metrics
    y_true, proba, features = make_data(rows)
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "string_dtype": str(features["plan"].dtype),
    }
    p = None
    if mode in ("baseline_p", "slices", "slices_pairs"):
        p = Predictions(y_true, proba=proba, features=features)
    frame = None
    if mode.startswith("groupby"):
        frame = features.assign(error=np.argmax(proba, axis=1) != y_true)

    info["setup_peak_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    info["peak_reset"] = _reset_peak_rss()
    if mode.startswith("baseline"):
        return info

    def call() -> Any:
        if mode == "predictions":
            return Predictions(y_true, proba=proba, features=features)
        if mode == "slices":
            return slice_metrics(p, by=COLUMNS)
        if mode == "slices_pairs":
            return slice_metrics(p, by=PAIR_COLUMNS, pairs=True)
        if mode == "groupby_pairs":
            return naive_groupby(frame, PAIR_COLUMNS, PAIR_COLUMNS)
        return naive_groupby(frame, COLUMNS, None)

    if trace:
        tracemalloc.start()
        call()
        info["tracemalloc_peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return info

    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
        if mode.startswith("slices"):
            info["slices"] = len(result.table)  # a SliceMetrics
        elif mode.startswith("groupby"):
            info["slices"] = sum(len(g) for g in result)
        del result
        gc.collect()
    info["times"] = times
    return info


# --------------------------------------------------------------------------- orchestration
def _python_cmd(*args: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), *args]


def probe(worker_args: list[str]) -> dict[str, Any]:
    """Start one worker, wait, and add its peak RSS (this process has no other children)."""
    done = subprocess.run(_python_cmd(*worker_args), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"worker {worker_args} failed:\n{done.stderr}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    # ru_maxrss of RUSAGE_CHILDREN is the largest peak among waited-for children (KiB on Linux)
    out["maxrss_kib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return out


def measure(mode: str, rows: int, trace: bool) -> dict[str, Any]:
    args = ["--probe", "--worker", mode, "--rows", str(rows)] + (["--trace"] if trace else [])
    done = subprocess.run(_python_cmd(*args), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"probe for {mode!r} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _mib(kib: float) -> str:
    return f"{kib / 1024:,.0f}"


def table(results: dict[str, dict[str, Any]]) -> tuple[str, list[str]]:
    """The markdown table and one verdict line per targeted measurement."""
    base = results["baseline"]["maxrss_kib"]
    lines = [
        "| measurement | best of 3 (s) | runs (s) | slices | peak RSS (MiB) "
        "| Δ RSS vs baseline (MiB) | tracemalloc peak (MiB) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    verdicts = []
    for key, label in MEASUREMENTS:
        r = results[key]
        peak = r["maxrss_kib"]
        best = runs = slices = traced = "–"
        if key in TIMED:
            best = f"{min(r['times']):.2f}"
            runs = ", ".join(f"{t:.2f}" for t in r["times"])
            slices = f"{r['slices']:,}" if "slices" in r else "–"
            traced = f"{r['tracemalloc_peak'] / 1024**2:,.0f}"
        delta = "–" if key == "baseline" else _mib(peak - base)
        lines.append(
            f"| {label} | {best} | {runs} | {slices} | {_mib(peak)} | {delta} | {traced} |"
        )
        if key in TARGETED:
            t, m = min(r["times"]), peak / 1024
            ok_t, ok_m = t < TIME_TARGET_S, m < MEMORY_TARGET_MIB
            verdicts.append(
                f"- {label}: time {t:.2f} s {'<' if ok_t else '≥'} {TIME_TARGET_S:g} s "
                f"({'met' if ok_t else 'MISSED'}); absolute peak RSS {m:,.0f} MiB "
                f"{'<' if ok_m else '≥'} {MEMORY_TARGET_MIB:,.0f} MiB "
                f"({'met' if ok_m else 'MISSED'})"
            )
    return "\n".join(lines), verdicts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="rows of input data")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.probe:
        rest = ["--worker", args.worker, "--rows", str(args.rows)]
        print(json.dumps(probe(rest + (["--trace"] if args.trace else []))))
        return
    if args.worker:
        print(json.dumps(worker(args.worker, args.rows, args.trace)))
        return

    host = machine()
    results: dict[str, dict[str, Any]] = {}
    for key, label in MEASUREMENTS:
        print(f"  {label} ...", flush=True)
        results[key] = measure(key, args.rows, trace=False)
        if key in TIMED:
            traced = measure(key, args.rows, trace=True)
            results[key]["tracemalloc_peak"] = traced["tracemalloc_peak"]

    md, verdicts = table(results)
    info = results["baseline"]
    if all(r["peak_reset"] for r in results.values()):
        reset_note = (
            "once its input is built, each worker returns free heap to the OS "
            "(`malloc_trim`, pyarrow `release_unused`) and resets its peak RSS "
            "(`/proc/self/clear_refs`), so a peak is the data held plus what the measured "
            f"calls add; building the data alone peaks at {_mib(info['setup_peak_kib'])} MiB "
            "and leaves freed memory resident, which would otherwise hide the calls' peaks"
        )
    else:
        reset_note = (
            "peak RSS could not be reset after building the input, so every peak includes "
            "the transient peak of building the data and the Δ column understates the calls"
        )
    full = args.rows == DEFAULT_ROWS
    section = "\n".join(
        [
            "## `slice_metrics` (benchmarks/bench_slices.py)",
            "",
            f"- date: {datetime.date.today().isoformat()}",
            f"- machine: `{host['uname']}`; CPU {host['cpu']}, {host['cores']} cores, "
            f"{host['ram']} RAM; load average {host['load']} when the run started",
            f"- software: Python {info['python']}, numpy {info['numpy']}, "
            f"pandas {info['pandas']} (string columns are `{info['string_dtype']}`)",
            "- command: `make bench` or `.venv/bin/python benchmarks/bench_slices.py`",
            f"- input: {args.rows:,} rows, binary labels with probabilities (so `log_loss` and "
            f"`brier` are computed), 10 slicing columns: {', '.join(COLUMNS)} "
            "(4 categorical strings with 2-50 values and some missing, 1 string column with "
            "~500 values, 3 floats - `balance` has ~40% zeros and ~2% NaN - and 2 integers); "
            f"(c) slices by {', '.join(PAIR_COLUMNS)} and their 6 pairs",
            "- each row is a fresh subprocess; time is the best of 3 calls; peak RSS comes "
            "from `getrusage(RUSAGE_CHILDREN)` and includes the input data held (and, for (b), "
            "(c), the `Predictions` built before the calls); the baseline only imports and "
            "builds the data; tracemalloc peak is one call in its own subprocess and does not "
            "see memory held by pyarrow (pandas' string columns)",
            f"- {reset_note}",
            "",
            md,
            "",
            f"Targets (`slice_metrics` under {TIME_TARGET_S:g} s and under 2 GB):",
            "",
            *verdicts,
        ]
    )
    print()
    print(section)
    if full:
        update_results("bench_slices", section)
        print(f"\nupdated {RESULTS}")
    else:
        print(f"\n(--rows {args.rows:,} is a smoke run: {RESULTS.name} left unchanged)")


if __name__ == "__main__":
    main()
