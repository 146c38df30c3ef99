"""Adversarial validation: how well a classifier tells reference rows from evaluated rows.

Used by :func:`toolkit.analysis.splits.check_splits` only. A histogram gradient-boosting
classifier is trained out of fold (stratified K-fold) to tell the two sides apart on the
features. Its ROC AUC is 0.5 when the sides come from one distribution; the interval
is the wider of Hanley & McNeil's (1982) and a t interval over the per-fold AUCs (which
also holds the variability of the fold models). Permutation importance on the held-out
rows of the first folds names the features that give the sides away. Every reference
row gets a score, the probability that it is an evaluated row: out of fold for the rows
the classifier saw, from the fold models' average for rows left out of the sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from toolkit.analysis._stats import Z95
from toolkit.exceptions import ValidationError

__all__ = ["Shift", "adversarial_validation", "hanley_mcneil_interval"]

#: Held-out rows per fold on which permutation importance is measured.
IMPORTANCE_ROWS = 4000
#: Rows of a side the classifier's sample keeps at least (all of them when it has fewer).
MIN_ROWS_PER_SIDE = 100
#: Smallest leaf of the adversarial classifier's trees (see its use).
MIN_LEAF = 200
#: Boosting iterations and their learning rate: enough to see a shift, few enough to
#: score 100,000 rows quickly.
MAX_ITER, LEARNING_RATE = 50, 0.2
#: Folds on which permutation importance is measured (the first ones).
IMPORTANCE_FOLDS = 2
#: Permutations per feature and fold.
IMPORTANCE_REPEATS = 2


@dataclass(frozen=True)
class Shift:
    auc: float
    ci_low: float
    ci_high: float
    importances: pd.DataFrame  # feature, importance, importance_std
    scores: np.ndarray  # per reference row: probability of being an evaluated row
    test_scores: np.ndarray  # per evaluated row (out of fold or the fold models' mean)
    n_reference: int  # rows of each side the classifier saw
    n_test: int


def hanley_mcneil_interval(auc: float, n_pos: int, n_neg: int) -> tuple[float, float]:
    """95% interval of a ROC AUC from its standard error (Hanley & McNeil, 1982).

    >>> low, high = hanley_mcneil_interval(0.5, 100, 100)
    >>> round(low, 3), round(high, 3)
    (0.42, 0.58)
    """
    q1 = auc / (2 - auc)
    q2 = 2 * auc**2 / (1 + auc)
    var = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc**2) + (n_neg - 1) * (q2 - auc**2)) / (
        n_pos * n_neg
    )
    half = Z95 * float(np.sqrt(max(var, 0.0)))
    return max(0.0, auc - half), min(1.0, auc + half)


def _sample(n_ref: int, n_test: int, max_rows: int, rng: np.random.Generator) -> tuple:
    """Rows of each side the classifier trains on: all, or the same share of each side."""
    if n_ref + n_test <= max_rows:
        return np.arange(n_ref), np.arange(n_test)
    share = max_rows / (n_ref + n_test)
    # a small side keeps enough rows for every fold to hold some of it
    keep_ref = max(int(round(n_ref * share)), min(n_ref, MIN_ROWS_PER_SIDE))
    keep_test = max(int(round(n_test * share)), min(n_test, MIN_ROWS_PER_SIDE))
    return (
        np.sort(rng.choice(n_ref, keep_ref, replace=False)),
        np.sort(rng.choice(n_test, keep_test, replace=False)),
    )


def adversarial_validation(
    x_ref: np.ndarray,
    x_test: np.ndarray,
    categorical: np.ndarray,
    columns: list[str],
    *,
    n_splits: int,
    max_rows: int,
    random_state: int,
    n_jobs: int,
) -> Shift:
    from threadpoolctl import threadpool_limits

    # OpenMP threads spin while they wait: on a busy machine more threads than free
    # cores make the classifier many times slower, so the caller chooses (default one)
    with threadpool_limits(limits=n_jobs, user_api="openmp"):
        return _adversarial(x_ref, x_test, categorical, columns, n_splits, max_rows, random_state)


def _adversarial(
    x_ref: np.ndarray,
    x_test: np.ndarray,
    categorical: np.ndarray,
    columns: list[str],
    n_splits: int,
    max_rows: int,
    random_state: int,
) -> Shift:
    from sklearn.base import clone
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.inspection import permutation_importance
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    rng = np.random.default_rng(random_state)
    rows_ref, rows_test = _sample(len(x_ref), len(x_test), max_rows, rng)
    X = np.vstack([x_ref[rows_ref], x_test[rows_test]])
    y = np.r_[np.zeros(len(rows_ref), dtype=int), np.ones(len(rows_test), dtype=int)]
    folds = min(n_splits, int(np.bincount(y).min()))
    if folds < 2:
        raise ValidationError(
            f"adversarial validation needs at least 2 rows on each side; got "
            f"{len(rows_ref)} reference and {len(rows_test)} evaluated rows"
        )
    model = HistGradientBoostingClassifier(
        categorical_features=categorical if categorical.any() else None,
        early_stopping=False,
        max_iter=MAX_ITER,
        learning_rate=LEARNING_RATE,
        # large leaves: a held-out row's own absence from training tilts small leaves
        # towards the other side, which biases an out-of-fold AUC below 0.5 when the
        # sides do not differ at all
        min_samples_leaf=MIN_LEAF,
        random_state=random_state,
    )
    oof = np.zeros(len(y))
    importances = np.zeros((min(folds, IMPORTANCE_FOLDS), len(columns)))
    spreads = np.zeros_like(importances)
    fitted = []
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=random_state)
    splits = list(splitter.split(X, y))
    for k, (train, held) in enumerate(splits):
        est = clone(model).fit(X[train], y[train])
        fitted.append(est)
        oof[held] = est.predict_proba(X[held])[:, 1]
        shown = held
        if len(held) > IMPORTANCE_ROWS:
            shown = rng.choice(held, IMPORTANCE_ROWS, replace=False)
        if k < IMPORTANCE_FOLDS and np.unique(y[shown]).size == 2:
            result = permutation_importance(
                est,
                X[shown],
                y[shown],
                scoring="roc_auc",
                n_repeats=IMPORTANCE_REPEATS,
                random_state=random_state,
            )
            importances[k], spreads[k] = result.importances_mean, result.importances_std
    auc = float(roc_auc_score(y, oof))
    low, high = hanley_mcneil_interval(auc, int(y.sum()), int((1 - y).sum()))
    # Hanley-McNeil treats the scores as fixed; each fold's model differs, so the spread
    # of the per-fold AUCs (a t interval over folds) is used when it is wider
    per_fold = np.array([roc_auc_score(y[held], oof[held]) for _, held in splits])
    half = stats.t.ppf(0.975, folds - 1) * per_fold.std(ddof=1) / np.sqrt(folds)
    low, high = min(low, max(0.0, auc - half)), max(high, min(1.0, auc + half))
    table = pd.DataFrame(
        {
            "feature": columns,
            "importance": importances.mean(axis=0),
            "importance_std": spreads.mean(axis=0),
        }
    )
    order = np.lexsort((np.arange(len(columns)), -table["importance"].to_numpy()))
    table = table.iloc[order].reset_index(drop=True)
    scores = _scores(x_ref, rows_ref, oof[: len(rows_ref)], fitted)
    test_scores = _scores(x_test, rows_test, oof[len(rows_ref) :], fitted)
    return Shift(auc, low, high, table, scores, test_scores, len(rows_ref), len(rows_test))


def _scores(x: np.ndarray, seen: np.ndarray, oof: np.ndarray, fitted: list) -> np.ndarray:
    """Out-of-fold scores for the rows the classifier saw, the fold models' mean for the
    others (none of the models trained on them)."""
    scores = np.empty(len(x))
    scores[seen] = oof
    unseen = np.setdiff1d(np.arange(len(x)), seen)
    if len(unseen):
        scores[unseen] = np.mean([m.predict_proba(x[unseen])[:, 1] for m in fitted], axis=0)
    return scores
