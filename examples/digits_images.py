"""Error analysis of an image classifier: scikit-learn's 8x8 digits, with embeddings.

Images have no columns to slice, so the errors are found as clusters in an embedding
space, drawn on a 2-D UMAP map, and checked for wrong labels. Three labels are
deliberately flipped to show that the label-issue search finds them. The last 297 images
play an unlabeled pool: the labeling queue says which to label next. The images go in
with ``images=``, so the report shows them as thumbnails beside the label issues, the
clusters' errors and the queue.

Run: .venv/bin/python examples/digits_images.py [OUT_DIR]
Writes OUT_DIR/digits.html and OUT_DIR/digits.json (default: reports/).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import toolkit as tk

FLIPPED = [11, 222, 1333]  # rows whose label is replaced by (digit + 3) mod 10
POOL_START = 1500  # rows from here on are the unlabeled pool


def main(out_dir: str = "reports") -> None:
    X, y = load_digits(return_X_y=True)
    y = y.copy()
    for row in FLIPPED:
        wrong = (y[row] + 3) % 10
        print(f"row {row}: true digit {y[row]}, label written in: {wrong}")
        y[row] = wrong
    X_pool, y_pool = X[POOL_START:], y[POOL_START:]  # unlabeled in spirit (see below)
    X, y = X[:POOL_START], y[:POOL_START]
    # a small model on purpose (12 principal components of the pixels): its errors
    # gather where digits look alike, which the clusters then show
    model = make_pipeline(
        StandardScaler(), PCA(12, random_state=0), LogisticRegression(max_iter=2000)
    )
    # out-of-fold probabilities: each image scored by a model that never saw it
    proba = tk.out_of_sample_proba(model, X, y, cv=5, random_state=0)
    # the embedding: 16 principal components of the pixels (a stand-in for a CNN's)
    embeddings = PCA(16, random_state=0).fit_transform(X)
    features = pd.DataFrame(
        {"ink": X.mean(axis=1).round(2), "strokes": (X > 8).sum(axis=1)}
    )  # two readable columns, so cluster rules have something to say
    # images=: the 8x8 pixels, shown as thumbnails in the report (not in the JSON)
    p = tk.Predictions(
        y, proba=proba, features=features, embeddings=embeddings, images=X.reshape(-1, 8, 8)
    )
    print(f"{p.n:,} images, error rate {p.errors.mean():.2%}")
    # the pool, scored by the model fitted on the labeled rows; the queue reads only its
    # probabilities (the labels a Predictions needs are not used)
    pool = tk.Predictions(
        y_pool,
        proba=model.fit(X, y).predict_proba(X_pool),
        ids=[f"pool-{i}" for i in range(len(y_pool))],
        images=X_pool.reshape(-1, 8, 8),
    )

    d = tk.diagnose(
        p, pool={"pool": pool, "budget": 20}, proba_source="out_of_sample", random_state=0
    )
    table = d.clusters.table
    print(f"\n{len(table)} clusters; the top 3 by points of error:")
    for row in table.head(3).itertuples():
        print(
            f"  cluster {row.cluster}: {row.errors} of {row.n} wrong ({row.error_rate:.1%}, "
            f"{row.gain_pp:.2f} pp, stability {row.stability:.2f}); {row.description}"
        )
    issues = d.label_issues.table
    issues = issues[issues["is_issue"]]
    found = [row for row in FLIPPED if row in set(issues["id"])]
    print(f"\n{len(issues)} label issues; flipped rows found: {found} of {FLIPPED}")
    print(issues.head(5).to_string(index=False))
    queue = d.labeling_queue.table
    print(f"\nlabel next: {', '.join(queue['id'].head(5))} …")
    out = Path(out_dir)
    d.to_html(out / "digits.html", title="toolkit example: digits with embeddings")
    d.to_json(out / "digits.json")
    print(f"\nWrote {out / 'digits.html'} and {out / 'digits.json'}")


if __name__ == "__main__":
    main(*sys.argv[1:2])
