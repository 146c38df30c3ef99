"""`toolkit demo`: the whole workflow on the real UCI Adult census data.

Trains a logistic regression and a gradient-boosting model on the official train split
(each an MLflow run with its cross-validation folds as nested runs, its model, data
fingerprints, environment and git state), evaluates both on the test split, diagnoses
the better one (metrics beside baselines and beside the other model as the older system,
slices, error patterns, error clusters, label issues, a labeling queue for rows held out
of training, a calibration fitted on its own held-out split, the learning curve logged
to each model's run), writes the HTML report and JSON, and logs them to the model's run.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from toolkit.analysis.calibration import calibrate
from toolkit.analysis.metrics import compute_metrics
from toolkit.data import Predictions
from toolkit.datasets.adult import ADULT_TARGET, load_adult
from toolkit.diagnosis import diagnose
from toolkit.evaluation import learning_curve

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


#: Rows of the train split held out of training as the "unlabeled pool" the queue ranks.
POOL_ROWS = 2000
#: Rows of the train split held out of training to fit the calibration on.
CALIBRATION_ROWS = 2000
#: Training-set fractions of the learning curve (3 folds each).
CURVE_SIZES = (0.1, 0.3, 1.0)
CV_FOLDS = 3
EXPERIMENT = "toolkit-demo"


def _fit_tracked(
    name: str,
    model: Any,
    data: dict[str, Any],
    *,
    random_state: int,
    tracking_uri: str | None,
    echo: Any,
) -> dict[str, Any]:
    """One run per model: CV folds as nested runs, then the fit on all training rows."""
    from sklearn.base import clone
    from sklearn.metrics import accuracy_score
    from sklearn.model_selection import StratifiedKFold

    from toolkit.tracking import track

    X_train, y_train = data["X_train"], data["y_train"]
    t0 = time.perf_counter()
    with track(
        EXPERIMENT,
        run_name=name,
        params={"model": name, "cv_folds": CV_FOLDS, "pool_rows": POOL_ROWS},
        tags={"toolkit.demo": "adult"},
        seed=random_state,
        tracking_uri=tracking_uri,
    ) as run:
        run.log_dataset("adult_train", X_train, y_train, context="training")
        run.log_dataset("adult_test", data["X_test"], data["y_test"], context="test")
        folds = StratifiedKFold(CV_FOLDS, shuffle=True, random_state=random_state)
        scores = []
        for k, (fit_rows, val_rows) in enumerate(folds.split(X_train, y_train)):
            with track(
                EXPERIMENT,
                run_name=f"{name}-fold{k}",
                params={"fold": k},
                tracking_uri=tracking_uri,
                nested=True,
            ) as fold_run:
                fitted = clone(model).fit(X_train.iloc[fit_rows], y_train.iloc[fit_rows])
                score = accuracy_score(
                    y_train.iloc[val_rows], fitted.predict(X_train.iloc[val_rows])
                )
                fold_run.log_metric("accuracy", score)
                scores.append(score)
        run.log_cv_scores(scores, metric="accuracy")
        # logged to this run: learning_curve.score_mean by training size, and the JSON
        curve = learning_curve(
            clone(model),
            X_train,
            y_train,
            train_sizes=CURVE_SIZES,
            cv=CV_FOLDS,
            random_state=random_state,
        )
        model.fit(X_train, y_train)
        p = Predictions.from_model(model, data["X_test"], data["y_test"], features=data["features"])
        metrics = compute_metrics(p, random_state=random_state)
        run.log_diagnosis(metrics, name="test_metrics")  # overall metrics + JSON artifact
        run.log_model(model)
        run.log_predictions(p)  # what toolkit compare reads for slice error rates
    seconds = time.perf_counter() - t0
    echo(
        f"  {name:<20} accuracy {metrics.overall['accuracy']:.4f}  "
        f"log loss {metrics.overall['log_loss']:.4f}  "
        f"CV {np.mean(scores):.4f} ± {np.std(scores, ddof=1):.4f}  "
        f"run {run.run_id[:8]}  ({seconds:.1f} s)"
    )
    return {
        "model": model,
        "p": p,
        "metrics": metrics,
        "curve": curve,
        "run_id": run.run_id,
        "seconds": seconds,
    }


def _split_adult(random_state: int) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    """Adult's train split minus a held-out unlabeled pool and a calibration split, and the
    test split."""
    train, test = load_adult()
    shuffled = train.sample(frac=1.0, random_state=random_state)
    pool_rows = shuffled.iloc[:POOL_ROWS]
    calibration = shuffled.iloc[POOL_ROWS : POOL_ROWS + CALIBRATION_ROWS]
    train = shuffled.iloc[POOL_ROWS + CALIBRATION_ROWS :].sort_index()
    data = {
        "X_train": train.drop(columns=DROP),
        "y_train": train[ADULT_TARGET],
        "X_test": test.drop(columns=DROP),
        "y_test": test[ADULT_TARGET],
        "features": test.drop(columns=DROP),
        "X_cal": calibration.drop(columns=DROP),
        "y_cal": calibration[ADULT_TARGET],
    }
    return data, train, pool_rows


def run_demo(
    out_dir: str | Path = "reports",
    *,
    random_state: int = 0,
    tracking_uri: str | None = None,
    echo=print,
) -> dict:
    """Train, track, diagnose and report on Adult; returns the diagnosis as a dict.

    Writes ``<out_dir>/demo.html`` and ``<out_dir>/demo.json``; runs go to
    ``tracking_uri`` (default ``MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db``).
    """
    from toolkit.analysis.labeling import LabelingPool
    from toolkit.tracking import resolve_tracking_uri

    started = time.perf_counter()
    uri = resolve_tracking_uri(tracking_uri)
    data, train, pool_rows = _split_adult(random_state)
    echo(
        f"Adult census data: {len(train):,} train rows, {len(data['X_test']):,} test rows, "
        f"{len(pool_rows):,} rows held out as an unlabeled pool, "
        f"{len(data['X_cal']):,} as a calibration split"
    )
    echo(f"Tracking every run in {uri} (experiment {EXPERIMENT!r})")

    results = {}
    for name, model in _models(train, random_state).items():
        results[name] = _fit_tracked(
            name, model, data, random_state=random_state, tracking_uri=uri, echo=echo
        )
    best = max(results, key=lambda k: results[k]["metrics"].overall["accuracy"])
    ids = " ".join(r["run_id"][:8] for r in results.values())
    echo(f"Compare the two models with: toolkit compare {ids}")
    chosen = results[best]
    p, metrics = chosen["p"], chosen["metrics"]
    echo(f"\nBest model: {best}. Metrics on the test split beside baselines:")
    table = metrics.baselines[
        ["metric", "model", "zero_rule", "stratified", "margin_over_zero_rule"]
    ]
    echo(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))

    pool_X = pool_rows.drop(columns=DROP)
    pool = LabelingPool.from_arrays(
        chosen["model"].predict_proba(pool_X),
        classes=p.classes,
        ids=pool_X.index.to_numpy(),
        features=pool_X,
    )
    models = "; ".join(
        f"{k}: accuracy {v['metrics'].overall['accuracy']:.4f}" for k, v in results.items()
    )
    # the other model is the "older system" every metric and slice is compared with
    references = {name: r["p"] for name, r in results.items() if name != best}
    calibration = calibrate(
        Predictions.from_model(
            chosen["model"], data["X_cal"], data["y_cal"], ids=data["X_cal"].index.to_numpy()
        ),
        method="isotonic",
    )
    echo("\nDiagnosing (slices, error patterns, error clusters, label issues, queue) ...")
    diagnosis = diagnose(
        p,
        slices=DEMO_SLICES,
        pool=pool,
        references=references,
        calibration=calibration,
        learning_curve=chosen["curve"],
        random_state=random_state,
        proba_source="out_of_sample",
        run_id=chosen["run_id"],
        meta={
            "data": "UCI Adult census income, official test split (CC BY 4.0)",
            "model": best,
            "models": models,
            "tracking_uri": uri,
            "experiment": EXPERIMENT,
        },
    )
    _print_findings(diagnosis, echo)
    _print_evaluation(diagnosis, echo)

    _write_and_log(diagnosis, out_dir, best, chosen["run_id"], uri, echo)
    echo(f"Done in {time.perf_counter() - started:.1f} s.")
    return diagnosis.to_dict()


def _write_and_log(
    diagnosis: Any, out_dir: str | Path, best: str, run_id: str, uri: str, echo: Any
) -> None:
    """Write the report and JSON, log them to the chosen model's run, print the summary."""
    from toolkit.report import summary_sentences
    from toolkit.tracking import log_to_run

    out = Path(out_dir)
    json_path = out / "demo.json"
    html_path = out / "demo.html"
    diagnosis.to_json(json_path)
    diagnosis.to_html(html_path, title=f"toolkit demo: {best.replace('_', ' ')} on UCI Adult")
    log_to_run(run_id, diagnosis=diagnosis, tracking_uri=uri)
    echo("\nSummary:")
    for sentence in summary_sentences(diagnosis)[:5]:
        echo(f"  {sentence}")
    echo(f"\nWrote {html_path.resolve()}\n      {json_path.resolve()}")
    echo(
        f"Logged the report to run {run_id} in {uri}; "
        f"list the runs with: toolkit runs --experiment {EXPERIMENT}"
    )


def _print_evaluation(diagnosis: Any, echo: Any) -> None:
    """The other model as a reference, the calibration fix and the learning curve."""
    from toolkit.report.evaluation_summary import (
        calibration_fix_sentence,
        learning_curve_sentence,
        reference_sentences,
    )

    for sentence in reference_sentences(diagnosis):
        echo(f"\n{sentence}")
    for step in (calibration_fix_sentence, learning_curve_sentence):
        sentence = step(diagnosis)
        if sentence is not None:
            echo(f"\n{sentence}")


def _print_findings(diagnosis: Any, echo: Any) -> None:
    slices = diagnosis.slices.table
    flagged = slices[slices["flagged"]].sort_values("gap_pp", ascending=False)
    overall = diagnosis.slices.overall_error_rate
    echo(
        f"\nError rate {overall:.2%}. Slices significantly worse than the rest "
        f"(BH q < 0.05), of {len(slices)} tested:"
    )
    for row in flagged.itertuples():
        echo(
            f"  {row.slice:<32} n={row.n:>6,}  error {row.error_rate:6.2%} "
            f"[{row.ci_low:.2%}, {row.ci_high:.2%}]  {row.gap_pp:+.1f} pp"
        )
    patterns = diagnosis.error_patterns.table
    echo(
        f"\nTop error patterns ({diagnosis.error_patterns.n_tested:,} conjunctions tested; "
        "most severe first: error rate [95% CI]; excess = points regained if the pattern "
        "did as well as the rest, gain = if every error in it were fixed):"
    )
    for row in patterns.head(10).itertuples():
        mark = "confirmed" if row.confirmed else "not confirmed"
        echo(
            f"  {row.error_rate:6.2%} [{row.ci_low:.1%}, {row.ci_high:.1%}]  "
            f"{row.errors:>5,} of {row.n:>6,} wrong, excess {row.excess_pp:5.2f} pp, "
            f"gain {row.gain_pp:5.2f} pp ({mark})  {row.pattern}"
        )
    clusters = diagnosis.clusters
    if clusters is not None:
        echo(f"\nError clusters ({len(clusters.table)} found; top 3 by points of error):")
        for row in clusters.table.head(3).itertuples():
            echo(
                f"  cluster {row.cluster}: {row.gain_pp:5.2f} pp, {row.errors:,} of {row.n:,} "
                f"wrong ({row.error_rate:.1%}); {row.description}"
            )
    for name, reason in diagnosis.skipped.items():
        echo(f"Skipped {name}: {reason}")
