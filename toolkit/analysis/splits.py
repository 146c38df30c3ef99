"""Before blaming the model: is the test set a fair, separate sample of the training data?

:func:`check_splits` compares the evaluated rows (``p``) with a reference table (the
training rows, or production rows without labels) in four ways:

1. **Fit**: training and held-out error rates side by side with Wilson intervals, the
   zero rule beside them, and a verdict (underfitting, overfitting, neither) with the
   gap in points and its Newcombe interval; needs predictions on both sides.
2. **Shift** by adversarial validation: an out-of-fold classifier that tells reference
   rows from evaluated rows; its ROC AUC (0.5: no shift) with an interval, the features
   that give the sides away (permutation importance) and, for every reference row, how
   much it looks like the evaluated rows (pick a validation set from it).
3. **Leakage**: exact duplicate rows across the sides (equal feature values),
   near-duplicates (nearest neighbours, the distance stated) and groups with rows on
   both sides.
4. **Newer against older**: with a time column, the error rate by period and the newest
   period against the oldest.

Single features that alone predict the label are found by
:func:`~toolkit.analysis.leakage.find_leaky_features` (the diagnosis's leakage
section); this module looks at rows shared across the split instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd

from toolkit._json import frame_records, json_safe
from toolkit._result import Result
from toolkit._validation import NON_EMPTY_STR, RANDOM_STATE, Interval, validate_params
from toolkit.analysis._split_align import aligned_sides, encoded_for_trees
from toolkit.analysis._split_dups import exact_duplicates, group_overlap, near_duplicates
from toolkit.analysis._split_fit import fit_check, period_errors
from toolkit.analysis._split_shift import adversarial_validation
from toolkit.data import Predictions
from toolkit.exceptions import ValidationError

__all__ = [
    "NEAR_DISTANCE",
    "SHIFT_WORDS",
    "SplitCheck",
    "check_splits",
    "pattern_shares",
    "shift_strength",
]

#: Default largest distance of a near-duplicate: numbers in units of their standard
#: deviation, so 0.05 is one twentieth of a standard deviation in a single column.
NEAR_DISTANCE = 0.05
#: Rows of each finding that the JSON lists (the counts are always complete).
MAX_PAIRS_LISTED = 10_000
#: Reference rows most like the evaluated rows that the JSON lists.
MOST_TEST_LIKE_LISTED = 20
#: Words for the strength of a shift, by the lower bound of the adversarial AUC.
SHIFT_WORDS = ((0.75, "strong"), (0.6, "moderate"), (0.5, "slight"))


def shift_strength(ci_low: float) -> str:
    """The strength of a shift from the AUC interval's lower bound: "strong", "moderate",
    "slight" or "none".

    >>> shift_strength(0.49), shift_strength(0.52), shift_strength(0.8)
    ('none', 'slight', 'strong')
    """
    for bound, word in SHIFT_WORDS:
        if ci_low > bound:
            return word
    return "none"


@dataclass(frozen=True, repr=False, eq=False)
class SplitCheck(Result):
    """Result of :func:`check_splits`.

    ``table`` has one row per check: ``check`` (``exact_duplicates``,
    ``near_duplicates``, ``group_overlap``, ``shift``, ``fit``, ``time``), ``status``
    (``leakage``, ``ok``, a shift strength, a fit verdict, ``skipped``), ``value`` (the
    number the status rests on) and ``detail`` (one sentence).

    Attributes
    ----------
    exact : DataFrame
        Exact duplicate pairs: ``train_id``, ``test_id``, ``train_row``, ``test_row``.
    near : DataFrame
        Near-duplicate pairs (exact ones excluded): ``train_id``, ``test_id``,
        ``distance``, ``train_row``, ``test_row``, closest first.
    groups : DataFrame or None
        Groups with rows on both sides: ``group``, ``n_train``, ``n_test``,
        ``train_ids``, ``test_ids`` (the first ids of each side).
    shift : dict
        ``auc``, ``ci_low``, ``ci_high``, ``strength``, ``importances`` (DataFrame:
        ``feature``, ``importance``, ``importance_std``), ``n_train``, ``n_test`` (rows
        the classifier saw).
    reference_scores : DataFrame
        ``id`` and ``test_likeness`` of every reference row (the probability the
        adversarial classifier gives it of being an evaluated row), in reference order.
    fit : dict or None
        ``table``, ``verdict``, ``gap_pp``, ``gap_ci_low_pp``, ``gap_ci_high_pp``,
        ``train_share_of_zero_rule``, ``max_gap_pp``, ``causes``.
    time : dict or None
        ``column``, ``periods``, ``table`` (``period``, ``start``, ``end``, ``n``,
        ``errors``, ``error_rate``, ``ci_low``, ``ci_high``), ``newest_minus_oldest_pp``,
        ``ci_low_pp``, ``ci_high_pp``, ``p_value``.
    skipped : dict
        Check name to the reason it did not run.
    """

    n_train: int
    n_test: int
    features: list[str]
    near_distance: float
    near_space: str
    group: str | None
    random_state: int
    exact: pd.DataFrame = field(repr=False)
    near: pd.DataFrame = field(repr=False)
    groups: pd.DataFrame | None = field(repr=False)
    shift: dict[str, Any] = field(repr=False)
    reference_scores: pd.DataFrame = field(repr=False)
    fit: dict[str, Any] | None = field(repr=False)
    time: dict[str, Any] | None = field(repr=False)
    skipped: dict[str, str] = field(repr=False)

    @property
    def leakage_found(self) -> bool:
        """True when rows are exactly duplicated across the sides or groups overlap."""
        overlap = self.groups is not None and len(self.groups) > 0
        return bool(len(self.exact) > 0 or overlap)

    def most_test_like(self, k: int = 100) -> pd.DataFrame:
        """The ``k`` reference rows the adversarial classifier finds most like the
        evaluated rows (a validation set that resembles them), most alike first."""
        scores = self.reference_scores
        order = np.lexsort((np.arange(len(scores)), -scores["test_likeness"].to_numpy()))
        return scores.iloc[order[:k]].reset_index(drop=True)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: ``duplicates`` (``exact``, ``near``), ``groups``, ``shift``,
        ``fit``, ``time``, ``skipped``, ``leakage_found`` and the overview ``table``."""
        shift = self.shift
        out: dict[str, Any] = {
            **self.meta,
            "leakage_found": self.leakage_found,
            "duplicates": {
                "exact": {
                    "n": len(self.exact),
                    "n_test_rows": int(self.exact["test_row"].nunique()),
                    "pairs": _pairs(self.exact, ["train_id", "test_id"]),
                },
                "near": {
                    "n": len(self.near),
                    "max_distance": self.near_distance,
                    "distance": self.near_space,
                    "pairs": _pairs(self.near, ["train_id", "test_id", "distance"]),
                },
            },
            "groups": None,
            "shift": {
                "auc": shift["auc"],
                "ci_low": shift["ci_low"],
                "ci_high": shift["ci_high"],
                "strength": shift["strength"],
                "n_train": shift["n_train"],
                "n_test": shift["n_test"],
                "method": shift["method"],
                "top_features": frame_records(shift["importances"]),
                "most_test_like": frame_records(self.most_test_like(MOST_TEST_LIKE_LISTED)),
            },
            "fit": None,
            "time": None,
            "skipped": dict(self.skipped),
            "table": frame_records(self.table),
        }
        if self.groups is not None:
            out["groups"] = {
                "column": self.group,
                "n": len(self.groups),
                "n_train_rows": int(self.groups["n_train"].sum()),
                "n_test_rows": int(self.groups["n_test"].sum()),
                "overlap": frame_records(self.groups.head(MAX_PAIRS_LISTED)),
            }
        if self.fit is not None:
            out["fit"] = {**json_safe({k: v for k, v in self.fit.items() if k != "table"})}
            out["fit"]["table"] = frame_records(self.fit["table"])
        if self.time is not None:
            out["time"] = {**json_safe({k: v for k, v in self.time.items() if k != "table"})}
            out["time"]["table"] = frame_records(self.time["table"])
        return json_safe(out)


def _pairs(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    return frame_records(frame.loc[:, columns].head(MAX_PAIRS_LISTED))


@validate_params(
    {
        "p": [Predictions, pd.DataFrame],
        "reference": [Predictions, pd.DataFrame],
        "group": [NON_EMPTY_STR, None],
        "time": [NON_EMPTY_STR, None],
        "id": [NON_EMPTY_STR, None],
        "near_distance": [Interval(Real, 0, None)],
        "max_gap_pp": [Interval(Real, 0, 100)],
        "n_splits": [Interval(Integral, 2, 20)],
        "max_rows": [Interval(Integral, 100, None)],
        "n_periods": [Interval(Integral, 2, None)],
        "random_state": [RANDOM_STATE],
        "n_jobs": [Interval(Integral, 1, None)],
    }
)
def check_splits(
    p: Predictions | pd.DataFrame,
    reference: Predictions | pd.DataFrame,
    *,
    group: str | None = None,
    time: str | None = None,
    id: str | None = None,
    near_distance: float = NEAR_DISTANCE,
    max_gap_pp: float = 2.0,
    n_splits: int = 5,
    max_rows: int = 20_000,
    n_periods: int = 4,
    random_state: int = 0,
    n_jobs: int = 1,
) -> SplitCheck:
    """Compare the evaluated rows with the training (or production) rows: fit, shift,
    duplicates, group overlap and error by period.

    Parameters
    ----------
    p : Predictions or DataFrame
        The evaluated (test) rows, with features; a DataFrame of features when there
        are no predictions (then fit and time are skipped).
    reference : Predictions or DataFrame
        The training rows (Predictions with the model's predictions on them, for the
        fit check), or a DataFrame of features (rows without labels, e.g. production:
        shift and duplicates only). Must have the same feature columns as ``p``.
    group : str, default=None
        A feature column naming groups (a patient, a user) whose rows must all sit on
        one side; set aside from the compared features.
    time : str, default=None
        A feature column of numbers or dates; the error rate of ``p`` by period, and
        set aside from the compared features.
    id : str, default=None
        Column of a DataFrame input holding its row ids (default: row positions);
        Predictions carry their own ids.
    near_distance : float, default=0.05
        Largest distance of a near-duplicate pair: Euclidean over the numeric columns
        scaled to unit standard deviation (over both sides), rows that differ in any
        category, or in which values are missing, never near; over the embeddings,
        each dimension scaled the same way, when both sides have embeddings.
    max_gap_pp : float, default=2.0
        Overfitting when the held-out error rate exceeds the training one by more than
        this many points (the lower bound of the gap's 95% interval).
    n_splits : int, default=5
        Folds of the adversarial classifier.
    max_rows : int, default=20000
        Rows the adversarial classifier trains on (the same share of each side);
        the per-row scores cover every reference row.
    n_periods : int, default=4
        Periods of equal size of the time column (one per value when it has fewer).
    random_state : int, default=0
        Seed of the folds, the sample, the classifier and the permutations.
    n_jobs : int, default=1
        Threads of the adversarial classifier (more only help on idle cores).

    Returns
    -------
    SplitCheck

    Examples
    --------
    >>> import pandas as pd
    >>> train = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0] * 10, "c": list("abab") * 10})
    >>> test = pd.DataFrame({"x": [1.0, 9.5], "c": ["a", "b"]})
    >>> check = check_splits(test, train)
    >>> check.leakage_found, len(check.exact), sorted(set(check.exact["test_id"]))
    (True, 10, [0])
    """
    extra = [c for c in (group, time) if c is not None]
    if group is not None and group == time:
        raise ValidationError(f"group and time name the same column {group!r}")
    test_side, ref_side, columns = aligned_sides(p, reference, id_column=id, extra=extra)
    skipped: dict[str, str] = {}

    exact, n_exact = exact_duplicates(ref_side, test_side, columns)
    use_embeddings = (
        ref_side.embeddings is not None
        and test_side.embeddings is not None
        and ref_side.embeddings.shape[1] == test_side.embeddings.shape[1]
    )
    near = near_duplicates(
        ref_side,
        test_side,
        columns,
        max_distance=float(near_distance),
        skip_test_rows=exact["test_row"].to_numpy(),
        use_embeddings=use_embeddings,
    )
    near_space = (
        "Euclidean over the embeddings, each dimension scaled to unit standard deviation"
        if use_embeddings
        else "Euclidean over the numeric features scaled to unit standard deviation; "
        "rows that differ in a category or in which values are missing are never near"
    )

    groups = None
    if group is None:
        skipped["group_overlap"] = "no group column was named"
    else:
        groups = group_overlap(ref_side, test_side, group)

    x_ref, x_test, categorical = encoded_for_trees(ref_side.features, test_side.features, columns)
    found = adversarial_validation(
        x_ref,
        x_test,
        categorical,
        columns,
        n_splits=n_splits,
        max_rows=max_rows,
        random_state=random_state,
        n_jobs=n_jobs,
    )
    shift = {
        "auc": found.auc,
        "ci_low": found.ci_low,
        "ci_high": found.ci_high,
        "strength": shift_strength(found.ci_low),
        "importances": found.importances,
        "n_train": found.n_reference,
        "n_test": found.n_test,
        "method": f"histogram gradient boosting, {n_splits}-fold out-of-fold ROC AUC on "
        f"{found.n_reference + found.n_test:,} rows (95% interval: the wider of "
        "Hanley-McNeil's and a t interval over folds); permutation importance on held-out "
        "rows",
    }
    scores = pd.DataFrame({"id": ref_side.ids, "test_likeness": found.scores})

    fit = None
    if ref_side.predictions is None or test_side.predictions is None:
        which = [
            name
            for name, side in (("reference", ref_side), ("p", test_side))
            if side.predictions is None
        ]
        skipped["fit"] = (
            f"{' and '.join(which)} {'is' if len(which) == 1 else 'are'} a table of features "
            "without labels and predictions; fit compares the model's errors on both sides"
        )
    else:
        fit = fit_check(
            ref_side.predictions,
            test_side.predictions,
            max_gap_pp=max_gap_pp,
            random_state=random_state,
        )

    timed = None
    if time is None:
        skipped["time"] = "no time column was named"
    elif test_side.predictions is None:
        skipped["time"] = "p has no predictions; error by period needs the model's errors"
    else:
        timed = period_errors(test_side.predictions, time, n_periods)

    table = _overview(n_exact, exact, near, groups, shift, fit, timed, skipped, near_distance)
    return SplitCheck(
        table,
        n_train=ref_side.n,
        n_test=test_side.n,
        features=columns,
        near_distance=float(near_distance),
        near_space=near_space,
        group=group,
        random_state=random_state,
        exact=exact,
        near=near,
        groups=groups,
        shift=shift,
        reference_scores=scores,
        fit=fit,
        time=timed,
        skipped=skipped,
    )


def _overview(
    n_exact: int,
    exact: pd.DataFrame,
    near: pd.DataFrame,
    groups: pd.DataFrame | None,
    shift: dict[str, Any],
    fit: dict[str, Any] | None,
    timed: dict[str, Any] | None,
    skipped: dict[str, str],
    near_distance: float,
) -> pd.DataFrame:
    rows = [
        {
            "check": "exact_duplicates",
            "status": "leakage" if n_exact else "ok",
            "value": float(n_exact),
            "detail": f"{n_exact:,} pair(s) of rows with equal feature values across the "
            f"split ({exact['test_row'].nunique():,} evaluated rows)",
        },
        {
            "check": "near_duplicates",
            "status": "suspect" if len(near) else "ok",
            "value": float(len(near)),
            "detail": f"{len(near):,} evaluated row(s) within distance {near_distance:g} of "
            "a training row",
        },
    ]
    if groups is None:
        rows.append(_skipped_row("group_overlap", skipped))
    else:
        rows.append(
            {
                "check": "group_overlap",
                "status": "leakage" if len(groups) else "ok",
                "value": float(len(groups)),
                "detail": f"{len(groups):,} group(s) with rows on both sides "
                f"({int(groups['n_test'].sum()):,} evaluated rows)",
            }
        )
    rows.append(
        {
            "check": "shift",
            "status": shift["strength"],
            "value": shift["auc"],
            "detail": f"adversarial ROC AUC {shift['auc']:.3f} (95% CI {shift['ci_low']:.3f}–"
            f"{shift['ci_high']:.3f}); 0.5 means the sides look alike",
        }
    )
    if fit is None:
        rows.append(_skipped_row("fit", skipped))
    else:
        rows.append(
            {
                "check": "fit",
                "status": fit["verdict"],
                "value": fit["gap_pp"],
                "detail": f"held-out minus training error rate {fit['gap_pp']:+.2f} points "
                f"(95% CI {fit['gap_ci_low_pp']:+.2f} to {fit['gap_ci_high_pp']:+.2f})",
            }
        )
    if timed is None:
        rows.append(_skipped_row("time", skipped))
    elif timed["p_value"] is None:
        rows.append(
            {
                "check": "time",
                "status": "ok",
                "value": None,
                "detail": "one period only; nothing to compare",
            }
        )
    else:
        differs = timed["p_value"] < 0.05
        rows.append(
            {
                "check": "time",
                "status": "differs" if differs else "ok",
                "value": timed["newest_minus_oldest_pp"],
                "detail": f"newest minus oldest period error rate "
                f"{timed['newest_minus_oldest_pp']:+.2f} points (p = {timed['p_value']:.2g})",
            }
        )
    return pd.DataFrame(rows, columns=["check", "status", "value", "detail"])


def _skipped_row(name: str, skipped: dict[str, str]) -> dict[str, Any]:
    return {"check": name, "status": "skipped", "value": None, "detail": skipped[name]}


def pattern_shares(
    patterns: pd.DataFrame, test_features: pd.DataFrame, reference_features: pd.DataFrame
) -> pd.DataFrame:
    """Each error pattern's share of the evaluated rows and of the reference rows:
    ``pattern``, ``share_test``, ``share_train``, ``ratio`` (test over train; a pattern
    rare in training but frequent in the evaluated rows is one the model saw little of).
    """
    from toolkit.analysis.conditions import pattern_masks

    test_masks = pattern_masks(patterns["conditions"], test_features)
    ref_masks = pattern_masks(patterns["conditions"], reference_features)
    share_test = np.array([m.mean() for m in test_masks], dtype=float)
    share_ref = np.array([m.mean() for m in ref_masks], dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(share_ref > 0, share_test / share_ref, np.inf)
    return pd.DataFrame(
        {
            "pattern": patterns["pattern"].to_numpy(),
            "share_test": share_test,
            "share_train": share_ref,
            "ratio": ratio,
        }
    )
