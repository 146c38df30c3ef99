"""Active-learning simulation: test accuracy against labels spent, per queue strategy.

Each seed starts from a small stratified labeled set; every round a LogisticRegression is
fitted on the labeled rows, the rest of the pool is scored, ``toolkit.labeling_queue``
picks the next batch and its true labels are revealed. ``error_neighbourhood`` and
``hybrid`` use the model's out-of-fold predictions on the labeled rows (in-sample ones
would be nearly all right). Writes the "Label issues and labeling queue" section of
RESULTS.md and ``benchmarks/labeling_curves.png``.

Run: ``.venv/bin/python benchmarks/bench_labeling.py`` (``--quick``: 2 seeds, digits only).
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _common import update_results  # benchmarks/_common.py
from threadpoolctl import threadpool_limits

from toolkit import Predictions
from toolkit.analysis.labeling import labeling_queue

HERE = Path(__file__).parent
STRATEGIES = ("random", "margin", "error_neighbourhood", "hybrid")
SECTION = "bench_labeling"


def _model():
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=500)


def _oof_pred(X: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    folds = int(min(5, np.bincount(pd.factorize(y)[0]).min()))
    if folds < 2:
        return _model().fit(X, y).predict(X)
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    return cross_val_predict(_model(), X, y, cv=cv)


def simulate(X_pool, y_pool, X_test, y_test, *, strategy, seed, start, batch, stop):
    """Accuracy on the test set after each round; returns {labels spent: accuracy}."""
    rng = np.random.default_rng(seed)
    classes = np.unique(y_pool)
    per_class = max(1, start // classes.size)
    labeled = np.concatenate(
        [rng.choice(np.flatnonzero(y_pool == c), per_class, replace=False) for c in classes]
    )
    curve = {}
    while True:
        model = _model().fit(X_pool[labeled], y_pool[labeled])
        curve[labeled.size] = float((model.predict(X_test) == y_test).mean())
        if labeled.size >= stop:
            return curve
        rest = np.setdiff1d(np.arange(len(y_pool)), labeled)
        if strategy == "random":
            new = rng.choice(rest, batch, replace=False)
        else:
            lab = None
            if strategy in ("error_neighbourhood", "hybrid"):
                y_l = y_pool[labeled]
                lab = Predictions(
                    y_l, _oof_pred(X_pool[labeled], y_l, seed), embeddings=X_pool[labeled]
                )
            q = labeling_queue(
                model.predict_proba(X_pool[rest]),
                budget=batch,
                strategy=strategy,
                ids=rest,
                embeddings=X_pool[rest],
                labeled=lab,
                random_state=seed,
            )
            new = q.table["id"].to_numpy(dtype=np.int64)
        labeled = np.concatenate([labeled, new])


def digits_data(seed: int):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=0.25, random_state=seed, stratify=y)


def adult_data(seed: int, pool_size: int = 8000, test_size: int = 5000):
    from sklearn.compose import make_column_transformer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from toolkit.datasets import load_adult

    train, test = load_adult()
    train = train.sample(pool_size, random_state=seed).reset_index(drop=True)
    test = test.sample(test_size, random_state=seed).reset_index(drop=True)
    cat = [c for c in train.columns if train[c].dtype == object and c != "income"]
    num = [c for c in train.columns if c not in cat and c not in ("income", "fnlwgt")]
    ct = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore", min_frequency=20, sparse_output=False), cat),
        (StandardScaler(), num),
    )
    X_pool = ct.fit_transform(train.fillna({c: "(missing)" for c in cat}))
    X_test = ct.transform(test.fillna({c: "(missing)" for c in cat}))
    return X_pool, X_test, train["income"].to_numpy(object), test["income"].to_numpy(object)


def run(name, loader, seeds, start, batch, stop):
    rows = []
    full = []
    for seed in seeds:
        X_pool, X_test, y_pool, y_test = loader(seed)
        full.append(float((_model().fit(X_pool, y_pool).predict(X_test) == y_test).mean()))
        for strategy in STRATEGIES:
            t0 = time.perf_counter()
            curve = simulate(
                X_pool,
                y_pool,
                X_test,
                y_test,
                strategy=strategy,
                seed=seed,
                start=start,
                batch=batch,
                stop=stop,
            )
            secs = time.perf_counter() - t0
            for spent, acc in curve.items():
                rows.append((name, seed, strategy, spent, acc, full[-1], secs))
            print(f"{name} seed {seed} {strategy}: {secs:.1f} s", flush=True)
    return pd.DataFrame(
        rows, columns=["data", "seed", "strategy", "labels", "accuracy", "full", "seconds"]
    )


def labels_to_reach(frame: pd.DataFrame, fraction: float = 0.99) -> pd.DataFrame:
    """Per data set, strategy and seed: labels spent when accuracy first reaches fraction x full."""
    out = []
    for (data, strategy, seed), g in frame.groupby(["data", "strategy", "seed"]):
        g = g.sort_values("labels")
        hit = g[g["accuracy"] >= fraction * g["full"]]
        out.append((data, strategy, seed, hit["labels"].iloc[0] if len(hit) else np.nan))
    return pd.DataFrame(out, columns=["data", "strategy", "seed", "labels_needed"])


def markdown(frame: pd.DataFrame, command: str, seconds: float, seeds, load_start) -> str:
    uname = platform.uname()
    lines = [
        "<!-- bench_labeling:start -->",
        "## Labeling queue: active learning (benchmarks/bench_labeling.py)",
        "",
        f"- date: {time.strftime('%Y-%m-%d %H:%M %Z')}",
        f"- machine: `{uname.system} {uname.release} {uname.machine}`; {os.cpu_count()} "
        "cores shared with other jobs; BLAS limited to 1 thread; load average "
        f"{', '.join(f'{x:.2f}' for x in load_start)} at the start, "
        f"{', '.join(f'{x:.2f}' for x in os.getloadavg())} at the end",
        f"- software: Python {platform.python_version()}, numpy {np.__version__}, "
        f"pandas {pd.__version__}",
        f"- command: `{command}` ({seconds:.0f} s wall)",
        f"- seeds: {list(seeds)} (each seed: its own train/test split or sample and its own "
        "start set; all strategies of a seed share them); model: LogisticRegression "
        "(scikit-learn defaults, max_iter=500) refitted every round; representation for "
        "neighbours and clusters: the model's input features",
        "- digits: pool = 75% of the 1,797 images (pixels / 16), test = the other 25%; start "
        "with 3 labels per class (30), batches of 20, up to 410 labels",
        "- Adult: pool = 8,000 rows of the official train split, test = 5,000 rows of the "
        "official test split (one-hot + standardised, `fnlwgt` dropped); start with 50 "
        "labels (25 per class), batches of 50, up to 1,000 labels",
        "- `error_neighbourhood` and `hybrid`: neighbours are the 10 nearest labeled rows, "
        "errors are the model's out-of-fold errors on the labeled rows; `hybrid` = "
        "mean of (1 - margin) and the neighbour error share, batch spread round-robin over "
        "KMeans clusters (2 x classes, capped at the batch size)",
        "- 'labels to 99%': the first round whose test accuracy reaches 99% of the full-pool "
        "accuracy of the same seed; '–' = not within the rounds run (counted as more than the "
        "last round for the median); 'mean over the curve' = mean accuracy over all rounds",
        "- 'seconds per run': wall time of one seed's whole simulation, mean of the seeds; the "
        "machine was shared, so these vary several-fold from run to run (accuracies do not: "
        "every step is seeded)",
        "",
    ]
    need = labels_to_reach(frame)
    verdict, beats = [], {}
    for data, g in frame.groupby("data", sort=False):
        spent = sorted(g["labels"].unique())
        show = [s for s in spent if s in _checkpoints(spent)]
        full = g.groupby("seed")["full"].first().mean()
        lines.append(
            f"### {data}: mean test accuracy over {g['seed'].nunique()} seeds against labels "
            f"spent; full pool (every pool label): {full:.4f}"
        )
        lines.append("")
        lines.append(
            "| strategy | "
            + " | ".join(str(s) for s in show)
            + " | mean over the curve | labels to 99% of full pool: median (per seed) "
            "| seconds per run |"
        )
        lines.append("| --- | " + " | ".join("---:" for _ in show) + " | ---: | --- | ---: |")
        area, median = {}, {}
        for strategy in STRATEGIES:
            s = g[g["strategy"] == strategy]
            mean = s.groupby("labels")["accuracy"].mean()
            area[strategy] = float(mean.mean())
            n = need[(need["data"] == data) & (need["strategy"] == strategy)]
            per_seed = ", ".join("–" if np.isnan(v) else str(int(v)) for v in n["labels_needed"])
            # a seed that never gets there counts as "more than the last round"
            filled = n["labels_needed"].fillna(np.inf)
            median[strategy] = float(np.median(filled))
            med_s = f"> {max(spent)}" if np.isinf(median[strategy]) else f"{median[strategy]:g}"
            secs = s.groupby("seed")["seconds"].first().mean()
            lines.append(
                f"| {strategy} | "
                + " | ".join(f"{mean[x]:.4f}" for x in show)
                + f" | {area[strategy]:.4f} | {med_s} ({per_seed}) | {secs:.1f} |"
            )
        lines.append("")
        for a, b in (("margin", "random"), ("hybrid", "margin"), ("error_neighbourhood", "random")):
            better_area = area[a] > area[b]
            fewer = median[a] < median[b]
            word = (
                "beats"
                if better_area and (fewer or median[a] == median[b])
                else ("does not beat" if not better_area and not fewer else "is mixed against")
            )
            beats[(data, a, b)] = word == "beats"
            verdict.append(
                f"- {data}: `{a}` {word} `{b}` (mean accuracy over the curve "
                f"{area[a]:.4f} vs {area[b]:.4f}; median labels to 99% "
                f"{_fmt(median[a], spent)} vs {_fmt(median[b], spent)})"
            )
    lines.append("### Verdict (computed from the tables above)")
    lines.append("")
    lines.extend(verdict)
    datas = list(frame["data"].unique())
    won = [d for d in datas if beats[(d, "margin", "random")]]
    lines.append(
        f"- the default strategy, `margin`, beats `random` on {len(won)} of {len(datas)} data "
        f"sets ({', '.join(won) or 'none'})"
    )
    hybrid_won = [d for d in datas if beats[(d, "hybrid", "margin")]]
    if len(hybrid_won) == len(datas):
        lines.append("- `hybrid` beats `margin` on every data set here")
    else:
        lines.append(
            f"- `hybrid` does not beat `margin` on {len(datas) - len(hybrid_won)} of "
            f"{len(datas)} data sets, so `margin` stays the default"
        )
    lines.append("")
    lines.append("![accuracy against labels spent](labeling_curves.png)")
    lines.append("")
    lines.append("<!-- bench_labeling:end -->")
    return "\n".join(lines)


def _fmt(value: float, spent) -> str:
    return f"> {max(spent)}" if np.isinf(value) else f"{value:g}"


def _checkpoints(spent):
    lo = spent[0]
    wanted = [lo] + [
        s
        for s in spent
        if s in (50, 70, 110, 150, 210, 250, 310, 410, 100, 200, 300, 500, 700, 1000)
    ]
    return sorted(set(wanted + [spent[-1]]))


def plot(frame: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datas = list(frame["data"].unique())
    fig, axes = plt.subplots(1, len(datas), figsize=(5.5 * len(datas), 4), squeeze=False)
    for ax, data in zip(axes[0], datas):
        g = frame[frame["data"] == data]
        for strategy in STRATEGIES:
            mean = g[g["strategy"] == strategy].groupby("labels")["accuracy"].mean()
            ax.plot(mean.index, mean.values, label=strategy, marker=".")
        ax.axhline(
            g.groupby("seed")["full"].first().mean(), color="grey", ls="--", label="full pool"
        )
        ax.set_title(data)
        ax.set_xlabel("labels spent")
        ax.set_ylabel("test accuracy (mean of seeds)")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv: list[str]) -> None:
    quick = "--quick" in argv
    seeds = range(int(os.environ.get("BENCH_SEEDS", 2))) if quick else range(5)
    t0 = time.perf_counter()
    load_start = os.getloadavg()
    with threadpool_limits(1):
        frames = [run("digits", digits_data, seeds, start=30, batch=20, stop=410)]
        if not quick:
            frames.append(run("Adult", adult_data, seeds, start=50, batch=50, stop=1000))
    frame = pd.concat(frames, ignore_index=True)
    plot(frame, HERE / "labeling_curves.png")
    command = "flock /tmp/toolkit-bench.lock .venv/bin/python benchmarks/bench_labeling.py" + (
        " --quick" if quick else ""
    )
    text = markdown(frame, command, time.perf_counter() - t0, seeds, load_start)
    print(text)
    if not quick:
        update_results(SECTION, text)


if __name__ == "__main__":
    main(sys.argv[1:])
