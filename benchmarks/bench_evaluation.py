"""What the evaluation of issue 18 adds to `toolkit.diagnose` on 100,000 rows.

Two tasks, each 100,000 evaluated rows with 4 slicing columns:

- binary: probabilities, two references (an older system's labels on every row, and
  "human" labels on 20% of the rows), a calibration split of another 100,000 rows
  (isotonic, fitted inside ``diagnose``), a cost matrix for the thresholds section and a
  precomputed learning curve;
- multiclass (5 classes): the same without thresholds (binary only);
- binary with sample weights (lognormal, one per row) on top of every option above, timed
  against the unweighted baseline (so the weighted counting is part of what is added).

For each, ``diagnose(p, sections=["metrics", "slices"])`` without the new options is the
baseline; the same sections plus ``thresholds``, ``calibration_fix`` and
``learning_curve`` with every new option is the full run. Both are timed for the
computation (``diagnose``) and for the report (``to_html``), best of 3 calls after one
warm-up call (``time.perf_counter``), in this one process.

Run ``flock /tmp/toolkit-bench.lock .venv/bin/python benchmarks/bench_evaluation.py``;
the full-size run prints a markdown table and updates its section of
``benchmarks/RESULTS.md``; ``--rows N`` is a quick smoke run that leaves RESULTS.md alone.
"""

from __future__ import annotations

import argparse
import datetime
import time
from typing import Any

import numpy as np
import pandas as pd
from _common import machine, machine_line, update_results  # benchmarks/_common.py

import toolkit as tk
from toolkit.analysis.learning import LearningCurve

DEFAULT_ROWS = 100_000
REPEATS = 3
SEED = 0
TARGET_S = 10.0
BASE = ["metrics", "slices", "error_patterns"]
FULL = ["metrics", "thresholds", "calibration_fix", "slices", "error_patterns", "learning_curve"]


def _case(n: int, n_classes: int, seed: int, weighted: bool = False) -> dict[str, Any]:
    """Over-confident probabilities of ``n_classes`` classes, evaluation and calibration rows."""
    rng = np.random.default_rng(seed)
    total = 2 * n
    y = rng.integers(0, n_classes, total)
    logits = rng.normal(size=(total, n_classes))
    logits[np.arange(total), y] += 1.2
    sharp = np.exp(2.5 * logits)
    proba = sharp / sharp.sum(axis=1, keepdims=True)
    features = pd.DataFrame(
        {
            "region": rng.choice([f"r{k}" for k in range(12)], total),
            "device": rng.choice(["ios", "android", "web", "tv", None], total),
            "age": rng.integers(18, 90, total),
            "income": rng.lognormal(10, 1, total),
        }
    )
    p = tk.Predictions(y[:n], proba=proba[:n], features=features.iloc[:n])
    p_base = p
    if weighted:
        w = rng.lognormal(0.0, 0.5, n)
        p = tk.Predictions(y[:n], proba=proba[:n], features=features.iloc[:n], sample_weight=w)
    p_cal = tk.Predictions(y[n:], proba=proba[n:], ids=np.arange(n, total))
    older = np.where(rng.random(n) < 0.4, rng.integers(0, n_classes, n), y[:n])
    human = np.where(rng.random(n) < 0.2, y[:n], -1).astype(object)
    human[human == -1] = None
    curve = LearningCurve(
        pd.DataFrame(
            {
                "n_train": [1000, 5000, 20000],
                "score_mean": [0.7, 0.75, 0.76],
                "score_std": [0.01, 0.01, 0.01],
                "train_score_mean": [0.9, 0.8, 0.78],
                "train_score_std": [0.01, 0.01, 0.01],
            }
        ),
        scoring="accuracy",
        cv=5,
        last_gain=0.01,
        last_gain_ci_low=0.0,
        last_gain_ci_high=0.02,
        still_rising=False,
    )
    options = {
        "references": {"older": older, "human": human},
        "calibration": p_cal,
        "learning_curve": curve,
    }
    if n_classes == 2:
        options["cost"] = [[0, 1], [5, 0]]
    return {"p": p, "p_base": p_base, "options": options}


def _best(fn: Any) -> tuple[float, Any]:
    out = fn()  # warm-up: imports, numba, caches
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - started)
    return min(times), out


def measure(n: int) -> list[dict[str, Any]]:
    rows = []
    for name, k, weighted in (
        ("binary", 2, False),
        ("multiclass (5)", 5, False),
        ("binary, sample weights", 2, True),
    ):
        case = _case(n, k, SEED, weighted)
        p, p_base, options = case["p"], case["p_base"], case["options"]
        base_s, base = _best(lambda p=p_base: tk.diagnose(p, sections=BASE, created="x"))
        full_s, full = _best(lambda p=p, o=options: tk.diagnose(p, sections=FULL, created="x", **o))
        base_html, _ = _best(base.to_html)
        full_html, _ = _best(full.to_html)
        added = (full_s - base_s) + (full_html - base_html)
        rows.append(
            {
                "task": name,
                "rows": n,
                "diagnose base (s)": base_s,
                "diagnose full (s)": full_s,
                "to_html base (s)": base_html,
                "to_html full (s)": full_html,
                "added (s)": added,
                "section times (s)": ", ".join(
                    f"{k} {v:.2f}" for k, v in full.extras["runtime_s"].items()
                ),
            }
        )
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [
            f"{v:.2f}" if isinstance(v, float) else f"{v:,}" if isinstance(v, int) else v
            for v in row.values()
        ]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS)
    args = parser.parse_args()
    host = machine()
    started = time.perf_counter()
    rows = measure(args.rows)
    wall = time.perf_counter() - started
    text = table(rows)
    print(text)
    worst = max(r["added (s)"] for r in rows)
    verdict = "met" if worst < TARGET_S else "NOT met"
    print(f"\nlargest addition {worst:.2f} s; target < {TARGET_S:.0f} s: {verdict}")
    if args.rows != DEFAULT_ROWS:
        return
    section = "\n".join(
        [
            "## Evaluation: references, thresholds, calibration fix, learning curve "
            "(benchmarks/bench_evaluation.py)",
            "",
            f"- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
            f"- machine: {machine_line(host)}; load average at start {host['load']}",
            "- command: `flock /tmp/toolkit-bench.lock .venv/bin/python "
            f"benchmarks/bench_evaluation.py` ({wall:.0f} s wall)",
            "- what: `diagnose` of 100,000 rows with two references (labels on every row; "
            "human labels on 20%), a 100,000-row calibration split (isotonic fitted inside "
            "diagnose), a cost matrix (binary) and a learning curve (and, in the last row, "
            "sample weights), against the same `metrics` + `slices` + `error_patterns` "
            "sections without them (unweighted); best of 3 after a warm-up",
            f"- target: under {TARGET_S:.0f} s added (computation + report): {verdict} "
            f"(largest {worst:.2f} s)",
            "",
            text,
        ]
    )
    update_results("bench_evaluation", section)


if __name__ == "__main__":
    main()
