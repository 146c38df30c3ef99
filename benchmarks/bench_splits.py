"""Train/test split checks side by side: `toolkit.check_splits`, Deepchecks' train-test
validation suite and Evidently's data-drift report, in one run, on the same planted cases.

Peers (not project dependencies), each in its own virtual environment and its own
processes, so time and peak memory are per tool:

- Deepchecks: ``deepchecks==0.19.1`` (``$TMPDIR/toolkit-bench-envs/deepchecks``, made by
  bench_patterns.py). ``train_test_validation().run(train_dataset=Dataset(train,
  label="y", cat_features=...), test_dataset=..., with_display=False)``: no model. Read
  from it: "Train Test Samples Mix" (test rows equal to a training row, label included;
  its row indices), "Multivariate Drift" (domain-classifier AUC and its feature
  importance) and "Feature Drift" (the feature with the largest drift score).
- Evidently: the newest ``evidently`` from pip (``$TMPDIR/toolkit-bench-envs/evidently``,
  ``python3 -m venv`` + ``pip install evidently``). ``Report([DataDriftPreset()])`` run
  with the training rows as reference and the test rows as current, features only: the
  columns it calls drifted and the one with the smallest p-value (largest distance).
- ours: ``check_splits(test, train)`` with both sides as ``Predictions`` (labels and the
  probabilities of a model), and ``group=`` / ``time=`` where the case has them.

Cases (written by this script in the project's environment to
``$TMPDIR/toolkit-bench-splits``; every tool reads the same CSV files, reading is not
timed):

- ``adult-dups``: Adult's own train file (32,561 rows) against its test file (16,281)
  with 100 exact copies of training rows and 100 near copies (the same row, census weight
  ``fnlwgt`` moved by 50-500, i.e. < 0.005 standard deviations) planted into the test
  rows. Expected: every planted pair found, no shift (the files are a random split).
  Probabilities: HistGradientBoostingClassifier(random_state=0) trained on the train file.
- ``adult-age``: Adult rows split so that 80% of the test rows (10,000) are aged 20-29
  against 15% of the training rows (24,000). Expected: a shift, with ``age`` named first.
- ``synthetic``: 100,000 training rows × 20 features (12 numeric, 8 categorical) against
  20,000 test rows, with 200 exact and 200 near copies (one numeric value moved by 0.001
  standard deviations), ``num_03`` shifted by +0.25 standard deviations in the test rows,
  a group column with 100 groups on both sides and a time column. The speed case: all
  checks, target < 30 s and < 2 GB peak RSS on 2 cores.

Each (case, tool) is a fresh worker process: imports and data loading first (not timed),
then the call timed with ``time.perf_counter``; peak RSS is ``ru_maxrss`` of the worker
(data included). Run under the shared lock:
``flock /tmp/toolkit-bench.lock .venv/bin/python benchmarks/bench_splits.py`` (updates the
bench_splits section of RESULTS.md); ``--quick`` is a smoke run on smaller data that
leaves RESULTS.md alone; ``--no-peers`` runs ours only.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TMP = Path(os.environ.get("TMPDIR", "/tmp"))
DATA = TMP / "toolkit-bench-splits"
ENVS = TMP / "toolkit-bench-envs"
PYTHONS = {
    "toolkit": ROOT / ".venv" / "bin" / "python",
    "deepchecks": ENVS / "deepchecks" / "bin" / "python",
    "evidently": ENVS / "evidently" / "bin" / "python",
}
TIMEOUT_S = 1200
TOOLS = ("toolkit", "deepchecks", "evidently")


# ------------------------------------------------------------------------ the cases
def _adult() -> tuple[Any, Any]:
    from toolkit.datasets import load_adult

    return load_adult()


def _with_proba(train: Any, test: Any, features: list[str], categorical: list[str]) -> None:
    """Add p_<class> columns from a model trained on ``train`` (in place, our own frames)."""
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingClassifier

    def encoded(df: Any) -> Any:
        out = df[features].copy()
        for c in categorical:
            out[c] = pd.Categorical(out[c], categories=sorted(train[c].dropna().unique()))
        return out

    model = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=0)
    model.fit(encoded(train), train["y"])
    for df in (train, test):
        proba = model.predict_proba(encoded(df))
        for k, label in enumerate(model.classes_):
            df[f"p_{label}"] = proba[:, k]


def _write_case(name: str, train: Any, test: Any, meta: dict[str, Any]) -> None:
    folder = DATA / name
    folder.mkdir(parents=True, exist_ok=True)
    train.to_csv(folder / "train.csv", index=False)
    test.to_csv(folder / "test.csv", index=False)
    (folder / "meta.json").write_text(json.dumps(meta, indent=1))


def prepare(quick: bool) -> dict[str, dict[str, Any]]:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    train_file, test_file = _adult()
    train_file = train_file.rename(columns={"income": "y"})
    test_file = test_file.rename(columns={"income": "y"})
    features = [c for c in train_file.columns if c != "y"]
    categorical = [c for c in features if train_file[c].dtype == object]
    n_plant = 20 if quick else 100
    if quick:
        train_file, test_file = train_file.iloc[:6000].copy(), test_file.iloc[:3000].copy()
    train_file = train_file.reset_index(drop=True)
    test_file = test_file.reset_index(drop=True)

    # adult-dups: exact and near copies of training rows in the test file
    sources = rng.choice(len(train_file), 2 * n_plant, replace=False)
    targets = rng.choice(len(test_file), 2 * n_plant, replace=False)
    exact = [[int(s), int(t)] for s, t in zip(sources[:n_plant], targets[:n_plant], strict=True)]
    near = [[int(s), int(t)] for s, t in zip(sources[n_plant:], targets[n_plant:], strict=True)]
    test = test_file.copy()
    for s, t in exact + near:
        test.iloc[t] = train_file.iloc[s]
    for s, t in near:
        test.loc[t, "fnlwgt"] = train_file.loc[s, "fnlwgt"] + int(rng.integers(50, 500))
    train = train_file.copy()
    _with_proba(train, test, features, categorical)
    cases = {
        "adult-dups": {
            "target": "y",
            "categorical": categorical,
            "features": features,
            "exact": exact,
            "near": near,
            "shifted": None,
        }
    }
    _write_case("adult-dups", train, test, cases["adult-dups"])

    # adult-age: 80% of the test rows in their twenties
    both = pd.concat([train_file, test_file], ignore_index=True)
    twenties = both["age"].between(20, 29).to_numpy()
    young, rest = np.flatnonzero(twenties), np.flatnonzero(~twenties)
    rng.shuffle(young)
    rng.shuffle(rest)
    n_test = 2000 if quick else 10_000
    n_young = int(0.8 * n_test)
    n_train = 4000 if quick else 24_000
    train_young = int(0.15 * n_train)
    test_rows = np.r_[young[:n_young], rest[: n_test - n_young]]
    train_rows = np.r_[
        young[n_young : n_young + train_young],
        rest[n_test - n_young : n_test - n_young + n_train - train_young],
    ]
    train, test = both.iloc[train_rows].copy(), both.iloc[test_rows].copy()
    _with_proba(train, test, features, categorical)
    cases["adult-age"] = {
        "target": "y",
        "categorical": categorical,
        "features": features,
        "exact": [],
        "near": [],
        "shifted": "age",
    }
    _write_case("adult-age", train, test, cases["adult-age"])

    cases["synthetic"] = _synthetic(rng, quick)
    return cases


def _synthetic(rng: Any, quick: bool) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    n_train, n_test = (10_000, 2_000) if quick else (100_000, 20_000)
    n_plant = 20 if quick else 200

    def frame(n: int) -> Any:
        cols: dict[str, Any] = {}
        for j in range(12):
            cols[f"num_{j:02d}"] = rng.normal(size=n)
        for j in range(8):
            levels = 4 + 2 * j
            cols[f"cat_{j}"] = rng.choice([f"v{k}" for k in range(levels)], n)
        return pd.DataFrame(cols)

    train, test = frame(n_train), frame(n_test)
    test["num_03"] += 0.25
    for df in (train, test):
        score = df["num_00"] - 0.5 * df["num_01"] + (df["cat_0"] == "v1") + rng.normal(size=len(df))
        df["y"] = (score > 0.3).astype(int)
        noisy = 1 / (1 + np.exp(-(score + rng.normal(scale=0.8, size=len(df)))))
        df["p_1"], df["p_0"] = noisy, 1 - noisy
    sources = rng.choice(n_train, 2 * n_plant, replace=False)
    targets = rng.choice(n_test, 2 * n_plant, replace=False)
    exact = [[int(s), int(t)] for s, t in zip(sources[:n_plant], targets[:n_plant], strict=True)]
    near = [[int(s), int(t)] for s, t in zip(sources[n_plant:], targets[n_plant:], strict=True)]
    for s, t in exact + near:
        test.iloc[t] = train.iloc[s]
    for _, t in near:
        test.loc[t, "num_05"] += 0.001
    train["household"] = rng.integers(0, 50_000, n_train)
    test["household"] = rng.integers(50_000, 60_000, n_test)
    test.loc[:99, "household"] = train["household"].to_numpy()[:100]  # 100 shared groups
    start = np.datetime64("2024-01-01")
    train["day"] = (start + rng.integers(0, 300, n_train).astype("timedelta64[D]")).astype(str)
    test["day"] = (start + rng.integers(300, 360, n_test).astype("timedelta64[D]")).astype(str)
    features = [c for c in train.columns if c.startswith(("num_", "cat_"))]
    meta = {
        "target": "y",
        "categorical": [c for c in features if c.startswith("cat_")],
        "features": features,
        "exact": exact,
        "near": near,
        "shifted": "num_03",
        "group": "household",
        "time": "day",
    }
    _write_case("synthetic", train, test, meta)
    return meta


# --------------------------------------------------------------------------- workers
def _scores(pairs: list[list[int]], planted: list[list[int]]) -> dict[str, int]:
    found = {tuple(p) for p in pairs}
    want = {tuple(p) for p in planted}
    return {"planted": len(want), "found": len(want & found), "other": len(found - want)}


def _run_toolkit(train: Any, test: Any, meta: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    import toolkit as tk

    extra = [c for c in (meta.get("group"), meta.get("time")) if c]
    columns = meta["features"] + extra
    started = time.perf_counter()
    sides = [
        tk.Predictions.from_frame(df, target="y", proba="p_*", features=columns)
        for df in (train, test)
    ]
    check = tk.check_splits(
        sides[1], sides[0], group=meta.get("group"), time=meta.get("time"), random_state=0
    )
    seconds = time.perf_counter() - started
    exact = check.exact[["train_row", "test_row"]].to_numpy().tolist()
    near = check.near[["train_row", "test_row"]].to_numpy().tolist()
    shift = check.shift
    found = {
        "exact": _scores(exact, meta["exact"]),
        "near": _scores(near, meta["near"]),
        "shift": f"AUC {shift['auc']:.3f} [{shift['ci_low']:.3f}, {shift['ci_high']:.3f}], "
        f"{shift['strength']}",
        "first_feature": str(shift["importances"]["feature"].iloc[0]),
        "fit": None if check.fit is None else check.fit["verdict"],
        "groups": None if check.groups is None else len(check.groups),
        "time": None
        if check.time is None
        else f"newest - oldest {check.time['newest_minus_oldest_pp']:+.2f} pp "
        f"(p = {check.time['p_value']:.2g})",
        "exit_code": 1 if check.leakage_found else 0,
    }
    return seconds, found


def _run_deepchecks(train: Any, test: Any, meta: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    from deepchecks.tabular import Dataset
    from deepchecks.tabular.suites import train_test_validation

    columns = meta["features"] + ["y"]
    started = time.perf_counter()
    datasets = [
        Dataset(df[columns], label="y", cat_features=meta["categorical"]) for df in (train, test)
    ]
    result = train_test_validation().run(
        train_dataset=datasets[0], test_dataset=datasets[1], with_display=False
    )
    seconds = time.perf_counter() - started
    values = {r.check.name(): getattr(r, "value", None) for r in result.results}
    mix = values.get("Train Test Samples Mix") or {}
    pairs = []
    data = mix.get("data")
    if data is not None:
        for label in data.index:  # "Train indices: 3, 9\nTest indices: 4"
            parts = dict(line.split(": ", 1) for line in str(label).splitlines())
            for t in parts.get("Test indices", "").split(","):
                for s in parts.get("Train indices", "").split(","):
                    if t.strip() and s.strip():
                        pairs.append([int(s), int(t)])
    drift = values.get("Multivariate Drift") or {}
    importance = drift.get("domain_classifier_feature_importance") or {}
    per_feature = values.get("Feature Drift") or {}
    top_drift = max(per_feature, key=lambda c: per_feature[c]["Drift score"], default=None)
    found = {
        "exact": _scores(pairs, meta["exact"]),
        "exact_ratio": mix.get("ratio"),
        "near": None,
        "shift": None
        if "domain_classifier_auc" not in drift
        else f"domain classifier AUC {drift['domain_classifier_auc']:.3f}",
        "first_feature": max(importance, key=importance.get) if importance else None,
        "most_drifted_feature": top_drift,
        "failed_checks": sorted(
            r.check.name() for r in result.results if type(r).__name__ == "CheckFailure"
        ),
    }
    return seconds, found


def _run_evidently(train: Any, test: Any, meta: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    columns = meta["features"]
    started = time.perf_counter()
    try:  # evidently >= 0.7
        from evidently import Report
        from evidently.presets import DataDriftPreset

        snapshot = Report([DataDriftPreset()]).run(
            current_data=test[columns], reference_data=train[columns]
        )
        seconds = time.perf_counter() - started
        drifted = {}
        for metric in snapshot.dict()["metrics"]:
            config = metric.get("config", {})
            if config.get("type", "").endswith("ValueDrift"):
                value, threshold = float(metric["value"]), float(config["threshold"])
                by_distance = "distance" in config["method"].lower()
                # a distance drifts above its threshold, a p-value below it
                if (value >= threshold) if by_distance else (value < threshold):
                    strength = value / threshold if by_distance else threshold / max(value, 1e-300)
                    drifted[config["column"]] = strength
        drifted = dict(sorted(drifted.items(), key=lambda kv: -kv[1]))
        method = "ValueDrift per column; strength = distance / threshold (p-value: threshold / p)"
    except ImportError:  # evidently < 0.7
        from evidently.metric_preset import DataDriftPreset
        from evidently.report import Report

        report = Report(metrics=[DataDriftPreset()])
        report.run(reference_data=train[columns], current_data=test[columns])
        seconds = time.perf_counter() - started
        drifted = {}
        for metric in report.as_dict()["metrics"]:
            by_column = metric.get("result", {}).get("drift_by_columns")
            if by_column:
                drifted = {c: v["drift_score"] for c, v in by_column.items() if v["drift_detected"]}
        method = "drift_by_columns"
    found = {
        "exact": None,
        "near": None,
        "drift_values": drifted,
        "method": method,
    }
    return seconds, found


def worker(tool: str, case: str) -> None:
    """One (tool, case) in this interpreter: prints one JSON line."""
    warnings.filterwarnings("ignore")
    import pandas as pd

    folder = DATA / case
    meta = json.loads((folder / "meta.json").read_text())
    train = pd.read_csv(folder / "train.csv")
    test = pd.read_csv(folder / "test.csv")
    run = {"toolkit": _run_toolkit, "deepchecks": _run_deepchecks, "evidently": _run_evidently}
    versions = {}
    for module in (tool, "pandas", "numpy", "sklearn"):
        try:
            versions[module] = __import__(module).__version__
        except (ImportError, AttributeError):  # a version we cannot read is left out
            pass
    seconds, found = run[tool](train, test, meta)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps({"seconds": seconds, "peak_rss_mib": peak, "found": found, "versions": versions})
    )


def run_worker(tool: str, case: str) -> dict[str, Any]:
    python = PYTHONS[tool]
    if not python.exists():
        return {"error": f"no environment: {python} is missing"}
    cmd = [str(python), str(Path(__file__).resolve()), "--worker", tool, case]
    env = {**os.environ, "PYTHONPATH": str(ROOT) if tool == "toolkit" else ""}
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {TIMEOUT_S} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit {done.returncode}: {tail[:300]}"}
    return json.loads(lines[-1])


# --------------------------------------------------------------------------- report
def _found_text(tool: str, record: dict[str, Any], meta: dict[str, Any]) -> list[str]:
    if "error" in record:
        return [f"failed: {record['error']}"] + [""] * 3
    found = record["found"]

    def recall(key: str) -> str:
        score = found.get(key)
        if score is None:
            return "not checked"
        if not score["planted"]:
            return f"{score['other']:,} pairs (none planted)"
        return f"{score['found']}/{score['planted']} planted, {score['other']:,} other pairs"

    if tool == "evidently":
        drifted = found["drift_values"]
        shift = f"{len(drifted)} of {len(meta['features'])} columns drifted"
        first = "–"
        if drifted:
            first = ", ".join(f"{c} ({v:.3g}× threshold)" for c, v in list(drifted.items())[:3])
        return ["not checked", "not checked", shift, first]
    first = found.get("first_feature") or "–"
    if tool == "deepchecks" and found.get("most_drifted_feature"):
        first += f" (Feature Drift: {found['most_drifted_feature']})"
    extra = ""
    if tool == "toolkit":
        extra = f"; fit: {found['fit']}, exit {found['exit_code']}"
        if found.get("groups") is not None:
            extra += f"; {found['groups']} shared groups; time: {found['time']}"
    return [recall("exact"), recall("near"), (found.get("shift") or "–") + extra, first]


def markdown(results: dict[str, dict[str, Any]], cases: dict[str, Any], started: str,
             load: str, took: float) -> str:  # fmt: skip
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from _common import machine_line

    lines = [
        "## Train/test split checks, side by side (benchmarks/bench_splits.py)",
        "",
        f"- date: {started} (run took {took / 60:.1f} min)",
        f"- machine: {machine_line()}; load average {load} when the run started (2 cores "
        "shared with other work: timings are noisy)",
        "- command: `flock /tmp/toolkit-bench.lock .venv/bin/python benchmarks/bench_splits.py`",
    ]
    for tool in TOOLS:
        versions = next(
            (r["versions"] for r in results.get(tool, {}).values() if "versions" in r), None
        )
        lines.append(f"- {tool}: {versions or 'did not run'}")
    lines += [
        "- cases and how each tool is called: the module docstring of bench_splits.py. "
        "Peak RSS is the worker's `ru_maxrss` (data loaded included); time is the call only.",
        "",
        "| case | rows train / test | tool | time (s) | peak RSS (MiB) | exact duplicates | "
        "near-duplicates | shift | first feature |",
        "| --- | --- | --- | ---: | ---: | --- | --- | --- | --- |",
    ]
    for case, meta in cases.items():
        for tool in TOOLS:
            record = results.get(tool, {}).get(case)
            if record is None:
                continue
            seconds = "–" if "error" in record else f"{record['seconds']:.1f}"
            peak = "–" if "error" in record else f"{record['peak_rss_mib']:,.0f}"
            cells = [_cell(c) for c in _found_text(tool, record, meta)]
            lines.append(
                f"| {case} | {meta['rows']} | {tool} | {seconds} | {peak} | "
                + " | ".join(cells)
                + " |"
            )
    return "\n".join(lines)


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=2, metavar=("TOOL", "CASE"))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-peers", action="store_true")
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    started_at = time.perf_counter()
    started = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    cases = prepare(args.quick)
    for name in cases:
        folder = DATA / name
        n_train = sum(1 for _ in (folder / "train.csv").open()) - 1
        n_test = sum(1 for _ in (folder / "test.csv").open()) - 1
        cases[name]["rows"] = f"{n_train:,} / {n_test:,}"
    tools = ("toolkit",) if args.no_peers else TOOLS
    results: dict[str, dict[str, Any]] = {}
    for case in cases:
        for tool in tools:
            record = run_worker(tool, case)
            results.setdefault(tool, {})[case] = record
            print(case, tool, json.dumps(record)[:400], flush=True)
    text = markdown(results, cases, started, load, time.perf_counter() - started_at)
    print(text)
    if not args.quick:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from _common import update_results

        update_results("bench_splits", text)


if __name__ == "__main__":
    main()
