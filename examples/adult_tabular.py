"""Error analysis of a gradient-boosting model on the UCI Adult census data.

Run: .venv/bin/python examples/adult_tabular.py [OUT_DIR]
Writes OUT_DIR/adult.html and OUT_DIR/adult.json (default: reports/).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier

import toolkit as tk
from toolkit.datasets import load_adult


def main(out_dir: str = "reports") -> None:
    train, test = load_adult()
    features = [c for c in train.columns if c not in ("income", "fnlwgt")]
    categorical = [c for c in features if train[c].dtype == object]

    def encode(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame[features].copy()
        for c in categorical:
            out[c] = pd.Categorical(out[c], categories=sorted(train[c].dropna().unique()))
        return out

    model = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=0)
    model.fit(encode(train), train["income"])
    p = tk.Predictions.from_model(model, encode(test), test["income"], features=test[features])

    m = tk.compute_metrics(p)
    print(m.to_frame()[["metric", "model", "zero_rule", "margin_over_zero_rule"]].round(4))

    patterns = tk.find_error_patterns(p)
    print("\nTop error patterns by points of error:")
    print(
        patterns.table[
            ["pattern", "errors", "error_rate", "gain_pp", "cumulative_gain_pp", "confirmed"]
        ]
        .head(8)
        .round(3)
        .to_string(index=False)
    )

    d = tk.diagnose(p, slices=["sex", "race", "age", "education"])
    out = Path(out_dir)
    d.to_html(out / "adult.html", title="UCI Adult: gradient boosting")
    d.to_json(out / "adult.json")
    print(f"\nWrote {out / 'adult.html'} and {out / 'adult.json'}")


if __name__ == "__main__":
    main(*sys.argv[1:])
