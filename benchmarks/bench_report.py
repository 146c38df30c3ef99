"""`diagnose` + the HTML report at 10,000 and 100,000 rows: time by section, peak memory,
file sizes, and the time a browser takes to open the report.

Data: UCI Adult rows drawn with replacement from train + test (48,842 rows) to the wanted
size, numeric columns jittered by a little noise so rows are not exact copies, scored by a
HistGradientBoostingClassifier trained on the official train split (13 feature columns,
probabilities for the two classes). Each size runs in a fresh process (so numba's
compilation for UMAP is inside the first call, as for a user); ``diagnose`` runs every
section the data allows: metrics, slices (4 columns), error patterns, error clusters
(UMAP + HDBSCAN, on a 20,000-row fit sample above that size), label issues and a labeling
queue over a 2,000-row pool. The report is rendered after the analyses; the browser time
is Chromium (Debian's, headless, driven by Playwright) opening the file: the
navigation's ``loadEventEnd``, best of 3.

Run: ``.venv/bin/python benchmarks/bench_report.py`` (``--sizes 2000`` for a quick run
that leaves RESULTS.md alone). Writes its section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from _common import machine_line, update_results  # benchmarks/_common.py

RESULTS = Path(__file__).with_name("RESULTS.md")
START_MARK = "<!-- bench_report:start -->"
END_MARK = "<!-- bench_report:end -->"
SIZES = [10_000, 100_000]
POOL_ROWS = 2000
SIZE_TARGET_MB = 2.0
RENDER_TARGET_S = 10.0
OPEN_TARGET_S = 1.0
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _worker(rows: int, out_dir: Path) -> dict:
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingClassifier

    import toolkit as tk
    from toolkit.analysis.labeling import LabelingPool
    from toolkit.datasets import load_adult

    train, test = load_adult()
    features = [c for c in train.columns if c not in ("income", "fnlwgt")]
    categorical = [c for c in features if train[c].dtype == object]
    categories = {c: sorted(train[c].dropna().unique()) for c in categorical}

    def encode(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame[features].copy()
        for c in categorical:
            out[c] = pd.Categorical(out[c], categories=categories[c])
        return out

    model = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=0)
    model.fit(encode(train), train["income"])
    rng = np.random.default_rng(0)
    both = pd.concat([train, test], ignore_index=True)
    sample = both.iloc[rng.integers(0, len(both), rows + POOL_ROWS)].reset_index(drop=True)
    for c in ("age", "hours_per_week", "education_num"):
        sample[c] = sample[c] + rng.normal(0, 0.3, len(sample)).round(1)
    data, pool_rows = sample.iloc[:rows], sample.iloc[rows:]
    p = tk.Predictions(
        data["income"].to_numpy(),
        proba=model.predict_proba(encode(data)),
        classes=model.classes_,
        features=data[features],
    )
    pool = LabelingPool.from_arrays(model.predict_proba(encode(pool_rows)), classes=model.classes_)

    started = time.perf_counter()
    d = tk.diagnose(
        p,
        slices=["sex", "race", "age", "education"],
        pool=pool,
        proba_source="out_of_sample",
        random_state=0,
    )
    diagnose_s = time.perf_counter() - started
    started = time.perf_counter()
    html = d.to_html(out_dir / f"report_{rows}.html")
    render_s = time.perf_counter() - started
    started = time.perf_counter()
    text = d.to_json(out_dir / f"report_{rows}.json")
    json_s = time.perf_counter() - started
    return {
        "rows": rows,
        "sections": d.extras["runtime_s"],
        "skipped": d.skipped,
        "diagnose_s": diagnose_s,
        "render_s": render_s,
        "json_s": json_s,
        "html_bytes": len(html.encode("utf-8")),
        "json_bytes": len(text.encode("utf-8")),
        "clusters": len(d.clusters.table) if d.clusters is not None else None,
        "patterns": len(d.error_patterns),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _open_time(path: Path) -> float | None:
    executable = shutil.which("chromium")
    if executable is None:
        return None
    from playwright.sync_api import sync_playwright

    best = None
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=FLAGS, headless=True)
        for _ in range(3):
            page = browser.new_page()
            page.goto(path.resolve().as_uri(), wait_until="load")
            ms = page.evaluate("() => performance.getEntriesByType('navigation')[0].loadEventEnd")
            page.close()
            best = ms if best is None else min(best, ms)
        browser.close()
    return best / 1000


def _table(records: list[dict], load: tuple[float, float, float]) -> str:
    section_names = ["metrics", "slices", "error_patterns", "clusters", "label_issues"]
    section_names.append("labeling_queue")
    lines = [
        START_MARK,
        "## `diagnose` and the HTML report (benchmarks/bench_report.py)",
        "",
        f"- date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- machine: {machine_line()}; load average {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f} "
        "when the run started",
        "- command: `make bench` or `.venv/bin/python benchmarks/bench_report.py`",
        "- input: Adult rows drawn with replacement to the size, numeric columns jittered, "
        "scored by HistGradientBoosting trained on the train split; every section runs "
        f"(slices on 4 columns; clusters fit on <= 20,000 rows; a {POOL_ROWS:,}-row pool); "
        "each size in a fresh process, so the first UMAP call includes numba compilation",
        "- peak RSS is the worker's `ru_maxrss` (model, data and all results held); "
        "browser open time: headless Chromium, `loadEventEnd` of the file URL, best of 3",
        "",
        "| rows | "
        + " | ".join(f"{s} (s)" for s in section_names)
        + " | diagnose total (s) | render HTML (s) | write JSON (s) | HTML size (MB) "
        "| JSON size (MB) | browser open (s) | peak RSS (MiB) |",
        "| ---: | " + " | ".join("---:" for _ in section_names) + " | ---: " * 7 + "|",
    ]
    for r in records:
        cells = [f"{r['sections'].get(s, float('nan')):.2f}" for s in section_names]
        opened = "–" if r["open_s"] is None else f"{r['open_s']:.3f}"
        lines.append(
            f"| {r['rows']:,} | "
            + " | ".join(cells)
            + f" | {r['diagnose_s']:.1f} | {r['render_s']:.2f} | {r['json_s']:.2f} "
            f"| {r['html_bytes'] / 1e6:.2f} | {r['json_bytes'] / 1e6:.1f} | {opened} "
            f"| {r['peak_rss_mib']:,.0f} |"
        )
    big = max(records, key=lambda r: r["rows"])
    lines += ["", f"Targets at {big['rows']:,} rows:", ""]
    size_mb = big["html_bytes"] / 1e6
    verdict = "met" if size_mb < SIZE_TARGET_MB else "NOT met"
    lines.append(f"- report under {SIZE_TARGET_MB:g} MB: {size_mb:.2f} MB ({verdict})")
    verdict = "met" if big["render_s"] < RENDER_TARGET_S else "NOT met"
    lines.append(
        f"- rendered in under {RENDER_TARGET_S:g} s after the analyses: "
        f"{big['render_s']:.2f} s ({verdict})"
    )
    if big["open_s"] is None:
        lines.append("- opens in a browser in under 1 s: not measured (no chromium)")
    else:
        verdict = "met" if big["open_s"] < OPEN_TARGET_S else "NOT met"
        lines.append(
            f"- opens in a browser in under {OPEN_TARGET_S:g} s: {big['open_s']:.3f} s ({verdict})"
        )
    lines += ["", END_MARK]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=None)
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(args.worker, Path(args.out))))
        return
    sizes = args.sizes or SIZES
    load = os.getloadavg()
    records = []
    with tempfile.TemporaryDirectory(prefix="toolkit-bench-report-") as tmp:
        for rows in sizes:
            cmd = [sys.executable, __file__, "--worker", str(rows), "--out", tmp]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise SystemExit(f"worker for {rows} rows failed:\n{done.stderr[-3000:]}")
            record = json.loads(done.stdout.strip().splitlines()[-1])
            record["open_s"] = _open_time(Path(tmp) / f"report_{rows}.html")
            records.append(record)
            print(
                f"{rows:>7,} rows: diagnose {record['diagnose_s']:.1f} s "
                f"{ {k: round(v, 2) for k, v in record['sections'].items()} }, render "
                f"{record['render_s']:.2f} s, HTML {record['html_bytes'] / 1e6:.2f} MB, "
                f"JSON {record['json_bytes'] / 1e6:.1f} MB, open {record['open_s']} s, "
                f"peak {record['peak_rss_mib']:,.0f} MiB",
                flush=True,
            )
    section = _table(records, load)
    print(section)
    if args.sizes is None:
        update_results("bench_report", section)
        print(f"\nupdated {RESULTS}")


if __name__ == "__main__":
    main(sys.argv[1:])
