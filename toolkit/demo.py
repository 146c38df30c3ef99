"""`toolkit demo`: train on the real Adult census data, evaluate, slice, write JSON.

Later work extends the same demo (tracking every run, error patterns, the HTML report).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from toolkit.analysis.diagnose import diagnose
from toolkit.analysis.metrics import compute_metrics
from toolkit.data import Predictions
from toolkit.datasets.adult import ADULT_TARGET, load_adult

__all__ = ["run_demo"]

DEMO_SLICES = ["sex", "race", "age", "education"]
DROP = ["fnlwgt", ADULT_TARGET]


def _models(train: pd.DataFrame, random_state: int) -> dict[str, Any]:
    from sklearn.compose import ColumnTransformer, make_column_selector
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    numeric = make_column_selector(dtype_include="number")
    categorical = make_column_selector(dtype_exclude="number")
    logistic = make_pipeline(
        ColumnTransformer(
            [
                ("num", make_pipeline(SimpleImputer(), StandardScaler()), numeric),
                (
                    "cat",
                    make_pipeline(
                        SimpleImputer(strategy="constant", fill_value="(missing)"),
                        OneHotEncoder(handle_unknown="ignore"),
                    ),
                    categorical,
                ),
            ]
        ),
        LogisticRegression(max_iter=1000),
    )
    boosting = make_pipeline(
        ColumnTransformer(
            [
                ("num", "passthrough", numeric),
                (
                    "cat",
                    OrdinalEncoder(
                        handle_unknown="use_encoded_value",
                        unknown_value=np.nan,
                        encoded_missing_value=np.nan,
                    ),
                    categorical,
                ),
            ],
            verbose_feature_names_out=False,
        ).set_output(transform="pandas"),
        HistGradientBoostingClassifier(
            categorical_features=[
                c for c in train.columns if c not in DROP and train[c].dtype == object
            ],
            random_state=random_state,
        ),
    )
    return {"logistic_regression": logistic, "gradient_boosting": boosting}


def run_demo(out_dir: str | Path = "reports", *, random_state: int = 0, echo=print) -> dict:
    """Train two models on Adult's train split, evaluate the better one on the test split.

    Writes ``<out_dir>/demo.json`` and returns the same dict.
    """
    started = time.perf_counter()
    train, test = load_adult()
    X_train, y_train = train.drop(columns=DROP), train[ADULT_TARGET]
    X_test, y_test = test.drop(columns=DROP), test[ADULT_TARGET]
    echo(f"Adult census data: {len(train):,} train rows, {len(test):,} test rows")

    results = {}
    for name, model in _models(train, random_state).items():
        t0 = time.perf_counter()
        model.fit(X_train, y_train)
        p = Predictions.from_model(model, X_test, y_test, features=test.drop(columns=DROP))
        metrics = compute_metrics(p, random_state=random_state)
        results[name] = (p, metrics, time.perf_counter() - t0)
        echo(
            f"  {name:<20} accuracy {metrics.overall['accuracy']:.4f}  "
            f"log loss {metrics.overall['log_loss']:.4f}  ({results[name][2]:.1f} s)"
        )
    best = max(results, key=lambda k: results[k][1].overall["accuracy"])
    p, metrics, _ = results[best]
    echo(f"\nBest model: {best}. Metrics on the test split beside baselines:")
    table = metrics.baselines[
        ["metric", "model", "zero_rule", "stratified", "margin_over_zero_rule"]
    ]
    echo(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))

    models = "; ".join(f"{k}: accuracy {v[1].overall['accuracy']:.4f}" for k, v in results.items())
    diagnosis = diagnose(
        p,
        slices=DEMO_SLICES,
        random_state=random_state,
        meta={
            "data": "UCI Adult census income, official test split (CC BY 4.0)",
            "model": best,
            "models": models,
        },
    )
    slices = diagnosis.slices
    flagged = slices[slices["flagged"]].sort_values("gap_pp", ascending=False)
    overall = slices.attrs["overall_error_rate"]
    echo(
        f"\nError rate {overall:.2%}. Slices significantly worse than the rest "
        f"(BH q < 0.05), of {len(slices)} tested:"
    )
    for row in flagged.itertuples():
        echo(
            f"  {row.slice:<32} n={row.n:>6,}  error {row.error_rate:6.2%} "
            f"[{row.ci_low:.2%}, {row.ci_high:.2%}]  {row.gap_pp:+.1f} pp"
        )

    patterns = diagnosis.error_patterns
    echo(
        f"\nTop error patterns ({patterns.attrs['n_tested']:,} conjunctions tested; "
        "ranked by the points of error fixing them could remove):"
    )
    for row in patterns.head(10).itertuples():
        mark = "confirmed" if row.confirmed else "not confirmed"
        echo(
            f"  {row.gain_pp:5.2f} pp (cum. {row.cumulative_gain_pp:5.2f})  "
            f"{row.errors:>5,} of {row.n:>6,} wrong ({row.error_rate:6.2%}, "
            f"lift {row.lift:.2f}, {mark})  {row.pattern}"
        )
    out = Path(out_dir)
    json_path = out / "demo.json"
    html_path = out / "demo.html"
    diagnosis.to_json(json_path)
    diagnosis.to_html(html_path, title="toolkit demo: gradient boosting on UCI Adult")
    echo(f"\nWrote {html_path.resolve()}\n      {json_path.resolve()}")
    echo(f"Done in {time.perf_counter() - started:.1f} s.")
    report = diagnosis.to_dict()
    return report
