"""Which examples to label next: a labeling queue on the UCI Adult census data.

A model is trained on 1,000 labeled rows; 8,000 more rows are an unlabeled pool. The
queue picks the 200 rows to send to an annotator (margin: closest to the decision
threshold first, and hybrid: also where labeled neighbours were misclassified, spread
across clusters). Then the labels are "revealed" (Adult has them) and the model is
retrained on the 200 picked rows, against 200 random ones, to show what the queue buys.

Run: .venv/bin/python examples/labeling_queue.py [OUT_DIR]
Writes OUT_DIR/label_queue.csv (the annotator's sheet; default reports/).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import toolkit as tk
from toolkit.analysis.labeling import LabelingPool, annotation_frame
from toolkit.datasets import load_adult

NUMERIC = ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
CATEGORICAL = ["workclass", "marital_status", "occupation", "relationship", "sex"]
BUDGET = 200


def _model():
    encode = make_column_transformer(
        (StandardScaler(), NUMERIC),
        (OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
    )
    return make_pipeline(encode, LogisticRegression(max_iter=2000))


def main(out_dir: str = "reports") -> None:
    train, test = load_adult()
    train = train.dropna(subset=CATEGORICAL).sample(9000, random_state=0)
    labeled, pool_rows = train.iloc[:1000], train.iloc[1000:]
    X_test, y_test = test[NUMERIC + CATEGORICAL].fillna("(missing)"), test["income"]

    model = _model().fit(labeled[NUMERIC + CATEGORICAL], labeled["income"])
    start = model.score(X_test, y_test)
    print(f"1,000 labeled rows: test accuracy {start:.4f}")

    pool = LabelingPool.from_arrays(
        model.predict_proba(pool_rows[NUMERIC + CATEGORICAL]),
        classes=model.classes_,
        ids=pool_rows.index.to_numpy(),
        features=pool_rows[NUMERIC],
    )
    # the model's out-of-fold predictions on the labeled rows, for error_neighbourhood
    oof = tk.out_of_sample_proba(_model(), labeled[NUMERIC + CATEGORICAL], labeled["income"])
    seen = tk.Predictions(
        labeled["income"].to_numpy(),
        proba=oof,
        classes=model.classes_,
        ids=labeled.index.to_numpy(),
        features=labeled[NUMERIC],
    )
    rng = np.random.default_rng(0)
    picks = {"random": rng.choice(pool_rows.index.to_numpy(), BUDGET, replace=False)}
    for strategy in ("margin", "hybrid"):
        queue = tk.labeling_queue(pool, budget=BUDGET, strategy=strategy, labeled=seen)
        picks[strategy] = queue.table["id"].to_numpy()
        if strategy == "margin":
            sheet = annotation_frame(queue, pool_rows.reset_index(names="row"), id="row")
            path = Path(out_dir) / "label_queue.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            sheet.to_csv(path, index=False)
            print(f"Wrote the annotator's sheet: {path}")
            print(sheet[["rank", "id", "reason"]].head(3).to_string(index=False))

    print(f"\nTest accuracy after labeling {BUDGET} more rows (labels revealed):")
    for name, ids in picks.items():
        grown = pd.concat([labeled, pool_rows.loc[ids]])
        accuracy = _model().fit(grown[NUMERIC + CATEGORICAL], grown["income"]).score(X_test, y_test)
        print(f"  {name:<7} {accuracy:.4f} ({100 * (accuracy - start):+.2f} points)")


if __name__ == "__main__":
    main(*sys.argv[1:2])
