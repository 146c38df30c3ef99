"""Overall metrics beside simple baselines and reference systems, per-class table, confusion
matrix, calibration (top-label and the per-class reliability curves)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from numbers import Integral
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.dummy import DummyClassifier

from toolkit._json import frame_records, json_safe
from toolkit._validation import RANDOM_STATE, Interval, validate_params
from toolkit.analysis._stats import paired_mean_interval
from toolkit.analysis.references import Reference, align_references
from toolkit.data import Predictions
from toolkit.exceptions import ValidationError

__all__ = [
    "REFERENCE_COLUMNS",
    "Calibration",
    "Metrics",
    "compute_metrics",
    "probability_scores",
    "reliability_curves",
]

#: Metrics where a smaller value is better (the rest: larger is better).
LOWER_IS_BETTER = frozenset({"error_rate", "log_loss", "brier", "mae", "rmse", "ece"})
#: Metrics whose gap to a reference gets a paired interval (means of per-row terms), and
#: the per-row term each one uses.
PAIRED_TERM = {
    "accuracy": "error_rate",
    "error_rate": "error_rate",
    "log_loss": "log_loss",
    "brier": "brier",
    "mae": "mae",
}
#: Columns of :attr:`Metrics.references`.
REFERENCE_COLUMNS = [
    "reference",
    "metric",
    "n",
    "model",
    "reference_value",
    "gap",
    "ci_low",
    "ci_high",
    "higher_is_better",
]
#: Columns of :attr:`Metrics.reliability`.
RELIABILITY_COLUMNS = [
    "class",
    "bin",
    "bin_low",
    "bin_high",
    "n",
    "mean_score",
    "fraction_positive",
]


@dataclass(frozen=True, eq=False)
class Calibration:
    """Reliability of the top-label confidence (the probability of the predicted class).

    ``bins`` has one row per confidence bin: ``bin_low``, ``bin_high``, ``n``,
    ``mean_confidence``, ``accuracy``, ``gap`` (confidence minus accuracy). Bins are
    right-closed, ``(bin_low, bin_high]``, the first one also holding 0.
    ``ece`` is the expected calibration error: sum over bins of
    ``n_b / n * |accuracy_b - mean_confidence_b|``; ``mce`` the largest such gap.
    With sample weights, ``n`` still counts rows, and the means, accuracies and the
    bins' shares in the ECE are weighted.
    """

    bins: pd.DataFrame
    ece: float
    mce: float
    n_bins: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "top-label confidence",
            "n_bins": self.n_bins,
            "ece": json_safe(self.ece),
            "mce": json_safe(self.mce),
            "bins": frame_records(self.bins),
        }


@dataclass(frozen=True, eq=False)
class Metrics:
    """Result of :func:`compute_metrics`.

    Attributes
    ----------
    task : str
    n : int
    overall : dict of str to float
        The model's metrics (None where not defined, e.g. ROC AUC with one class).
    baselines : DataFrame
        One row per metric: ``metric``, ``model``, ``zero_rule``,
        ``margin_over_zero_rule``, ``stratified``, ``margin_over_stratified``,
        ``higher_is_better``.
        A margin is positive when the model is better than the baseline, whatever the
        direction of the metric.
    per_class : DataFrame or None
        ``class``, ``precision``, ``recall``, ``f1``, ``support``, ``errors`` (rows of
        the class that were misclassified). None for regression.
    confusion : DataFrame or None
        Counts (sums of the weights with ``sample_weight``); rows are true classes,
        columns predicted classes, both in class order.
    calibration : Calibration or None
        None without probabilities.
    reliability : DataFrame or None
        The reliability diagram as the book draws it (see :func:`reliability_curves`):
        for two classes, the positive-class score against the fraction of positives; for
        more, one one-vs-rest curve per class. None without probabilities.
    references : DataFrame or None
        The model beside each reference system, on the rows the reference covers: one
        row per reference and metric with ``reference``, ``metric``, ``n`` (rows both
        cover), ``model`` and ``reference_value`` (each on those rows), ``gap`` (how far
        the reference is ahead: positive when it does better, in the metric's units),
        ``ci_low``, ``ci_high`` (paired 95% interval of the gap, for metrics that are
        means of per-row terms: accuracy, error rate, log loss, Brier, MAE; empty for the
        others) and ``higher_is_better``. None without references.
    notes : dict of str to str
        How baselines and defaults were defined.
    """

    task: str
    n: int
    overall: dict[str, float | None]
    baselines: pd.DataFrame
    per_class: pd.DataFrame | None = None
    confusion: pd.DataFrame | None = None
    calibration: Calibration | None = None
    notes: dict[str, str] = field(default_factory=dict)
    reliability: pd.DataFrame | None = None
    references: pd.DataFrame | None = None

    @property
    def table(self) -> pd.DataFrame:
        """The model beside its baselines, one row per metric (as every result's
        ``table``)."""
        return self.baselines

    def to_frame(self) -> pd.DataFrame:
        """The model beside its baselines, one row per metric."""
        return self.baselines.copy()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "task": self.task,
            "n": self.n,
            "overall": {k: json_safe(v) for k, v in self.overall.items()},
            "baselines": frame_records(self.baselines),
            "per_class": None if self.per_class is None else frame_records(self.per_class),
            "confusion": None,
            "calibration": None if self.calibration is None else self.calibration.to_dict(),
            "notes": dict(self.notes),
            "reliability": None if self.reliability is None else frame_records(self.reliability),
            "references": None if self.references is None else frame_records(self.references),
        }
        if self.confusion is not None:
            out["confusion"] = {
                "labels": [json_safe(c) for c in self.confusion.index],
                "matrix": self.confusion.to_numpy().tolist(),
            }
        return out

    def _repr_html_(self) -> str:
        return self.baselines.to_html(index=False, float_format=lambda v: f"{v:.4f}")


def _classification_scores(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    proba: np.ndarray | None,
    classes: np.ndarray,
    w: np.ndarray | None = None,
) -> dict[str, float | None]:
    labels = list(classes)
    with warnings.catch_warnings():
        # sklearn warns when a class is missing from y_true or y_pred; the numbers it
        # returns are still the defined ones (or NaN, which we turn into None).
        warnings.simplefilter("ignore")
        scores: dict[str, float | None] = {
            "accuracy": skm.accuracy_score(y_true, y_pred, sample_weight=w),
            "error_rate": 1.0 - skm.accuracy_score(y_true, y_pred, sample_weight=w),
            "balanced_accuracy": skm.balanced_accuracy_score(y_true, y_pred, sample_weight=w),
            "f1_macro": skm.f1_score(
                y_true, y_pred, labels=labels, average="macro", zero_division=0, sample_weight=w
            ),
            "cohen_kappa": skm.cohen_kappa_score(y_true, y_pred, labels=labels, sample_weight=w),
        }
        if proba is not None:
            scores["log_loss"] = skm.log_loss(y_true, proba, labels=labels, sample_weight=w)
            scores["brier"] = skm.brier_score_loss(y_true, proba, labels=labels, sample_weight=w)
            # a class whose rows all weigh 0 is absent (ROC AUC is not defined without it)
            present = set(pd.unique(y_true if w is None else y_true[w > 0]).tolist())
            if len(labels) == 2:
                scores["roc_auc"] = (
                    skm.roc_auc_score(y_true == classes[1], proba[:, 1], sample_weight=w)
                    if len(present) == 2
                    else None
                )
            else:
                scores["roc_auc"] = (
                    skm.roc_auc_score(
                        y_true, proba, multi_class="ovr", labels=labels, sample_weight=w
                    )
                    if len(present) == len(labels)
                    else None
                )
    return {k: (None if v is None or not np.isfinite(v) else float(v)) for k, v in scores.items()}


def _regression_scores(
    y_true: np.ndarray, y_pred: np.ndarray, tolerance: float, w: np.ndarray | None = None
) -> dict[str, float | None]:
    wrong = np.abs(y_pred - y_true) > tolerance
    scores = {
        "mae": skm.mean_absolute_error(y_true, y_pred, sample_weight=w),
        "rmse": skm.root_mean_squared_error(y_true, y_pred, sample_weight=w),
        "r2": skm.r2_score(y_true, y_pred, sample_weight=w)
        if y_true.shape[0] > 1
        else float("nan"),
        "error_rate": float(np.mean(wrong) if w is None else np.average(wrong, weights=w)),
    }
    return {k: (None if not np.isfinite(v) else float(v)) for k, v in scores.items()}


def _calibration(
    y_true: np.ndarray,
    proba: np.ndarray,
    classes: np.ndarray,
    n_bins: int,
    w: np.ndarray | None = None,
) -> Calibration:
    top = np.argmax(proba, axis=1)
    confidence = proba[np.arange(proba.shape[0]), top]
    correct = (classes[top] == y_true).astype(float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # right-closed bins, as sklearn.calibration.calibration_curve
    bin_ids = np.searchsorted(edges[1:-1], confidence)
    n = np.bincount(bin_ids, minlength=n_bins)
    # weighted: the bins' means and shares are of the weights; ``n`` still counts rows
    size = n if w is None else np.bincount(bin_ids, weights=w, minlength=n_bins)
    conf_sum = np.bincount(
        bin_ids, weights=confidence if w is None else w * confidence, minlength=n_bins
    )
    correct_sum = np.bincount(
        bin_ids, weights=correct if w is None else w * correct, minlength=n_bins
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = conf_sum / size
        accuracy = correct_sum / size
    gap = mean_conf - accuracy
    nonempty = size > 0
    ece = float(np.sum(size[nonempty] / size.sum() * np.abs(gap[nonempty])))
    mce = float(np.max(np.abs(gap[nonempty])))
    bins = pd.DataFrame(
        {
            "bin_low": edges[:-1],
            "bin_high": edges[1:],
            "n": n.astype(int),
            "mean_confidence": mean_conf,
            "accuracy": accuracy,
            "gap": gap,
        }
    )
    return Calibration(bins=bins, ece=ece, mce=mce, n_bins=n_bins)


def _baseline_table(model: dict, baselines: dict[str, dict]) -> pd.DataFrame:
    rows = []
    for metric, value in model.items():
        higher = metric not in LOWER_IS_BETTER
        row: dict[str, Any] = {"metric": metric, "model": value}
        for name, scores in baselines.items():
            base = scores.get(metric)
            row[name] = base
            if value is None or base is None:
                row[f"margin_over_{name}"] = None
            else:
                row[f"margin_over_{name}"] = (value - base) if higher else (base - value)
        row["higher_is_better"] = higher
        rows.append(row)
    frame = pd.DataFrame(rows)
    for col in frame.columns:
        if col not in ("metric", "higher_is_better"):
            frame[col] = frame[col].astype(float)
    return frame


@validate_params(
    {
        "p": [Predictions],
        "n_bins": [Interval(Integral, 1, None)],
        "random_state": [RANDOM_STATE, None],
        "references": [Mapping, None],
    }
)
def compute_metrics(
    p: Predictions,
    *,
    references: Mapping[str, Any] | None = None,
    n_bins: int = 10,
    random_state: int | None = 0,
) -> Metrics:
    """Overall metrics of ``p`` beside baselines computed on the same labels.

    Classification: accuracy, error rate, balanced accuracy, macro F1, Cohen's kappa
    and, with probabilities, log loss, Brier score (scikit-learn's definition: the
    mean squared error of the positive-class probability for two classes, of the
    probability vector for more) and ROC AUC (one-vs-rest macro for several classes).
    Regression: MAE, RMSE, R² and the error-indicator rate at ``p.tolerance``.

    With ``p.sample_weight`` every metric is weighted (scikit-learn's ``sample_weight``):
    rates, means, the per-class precision, recall and F1, the calibration bins and the
    confusion matrix (sums of weights), and so are the baselines (the zero rule predicts
    the class of largest total weight). ``n``, ``support`` and ``errors`` still count
    rows. The references' paired intervals use the weighted mean and variance of the
    per-row differences with the Kish effective sample size ``n_eff = (Σw)² / Σw²``.

    Baselines (the model must beat them to be worth anything):

    - ``zero_rule``: always the most frequent class of ``y_true`` with the class
      frequencies as probabilities (regression: always the mean of ``y_true``);
    - ``stratified``: a random class drawn with the class frequencies (regression: the
      labels shuffled), seeded by ``random_state``. Probability metrics are not defined
      for it (its probabilities are 0/1 draws) and are left empty.

    References are other systems measured on the same rows: an older model, a
    competitor, or people doing the task (human-level performance, often known for a
    sample of rows only). Each gets every metric it allows on the rows it covers, beside
    the model's on those rows, with the gap and a paired 95% interval (see
    :attr:`Metrics.references`).

    Parameters
    ----------
    p : Predictions
    references : dict of str to Predictions or array-like, default=None
        Named reference systems. Each is a :class:`Predictions` with the same task and
        classes (matched to ``p`` by ``ids``, its ``y_true`` must agree; it may cover some
        of the rows), an array of labels (values) aligned with ``p`` with NaN or None
        where the reference gave no answer, or an array of probabilities of shape
        (n_samples, n_classes) with NaN rows where it gave none.
    n_bins : int, default=10
        Number of equal-width bins for calibration and the reliability curves.
    random_state : int or None, default=0
        Seed of the stratified baseline.

    Returns
    -------
    Metrics

    Examples
    --------
    >>> import toolkit as tk
    >>> p = tk.Predictions([0, 0, 1, 1], [0, 1, 1, 1])
    >>> m = tk.compute_metrics(p, references={"human": [0, 0, 1, None]})
    >>> row = m.references.set_index("metric").loc["error_rate"]
    >>> int(row["n"]), round(float(row["model"]), 3), float(row["reference_value"])
    (3, 0.333, 0.0)
    """
    refs = align_references(p, references)
    y_true, y_pred, w = p.y_true, p.y_pred, p.sample_weight
    dummy_X = np.zeros((p.n, 1))
    if p.is_classification:
        classes = p.classes
        model = _classification_scores(y_true, y_pred, p.proba, classes, w)
        prior = DummyClassifier(strategy="prior").fit(dummy_X, y_true, sample_weight=w)
        prior_proba = None
        if p.proba is not None:
            if w is None:
                freq = pd.Series(y_true).value_counts(normalize=True)
                prior_vec = np.array([freq.get(c, 0.0) for c in classes])
            else:
                prior_vec = np.bincount(p.y_true_codes(), weights=w, minlength=len(classes))
                prior_vec = prior_vec / prior_vec.sum()
            prior_proba = np.tile(prior_vec, (p.n, 1))
        zero_rule = _classification_scores(y_true, prior.predict(dummy_X), prior_proba, classes, w)
        strat = DummyClassifier(strategy="stratified", random_state=random_state)
        strat_pred = strat.fit(dummy_X, y_true, sample_weight=w).predict(dummy_X)
        stratified = _classification_scores(y_true, strat_pred, None, classes, w)
        per_class = _per_class(y_true, y_pred, classes, w)
        confusion = pd.DataFrame(
            skm.confusion_matrix(y_true, y_pred, labels=list(classes), sample_weight=w),
            index=pd.Index(classes, name="true"),
            columns=pd.Index(classes, name="predicted"),
        )
        calibration = None if p.proba is None else _calibration(y_true, p.proba, classes, n_bins, w)
        reliability = None if p.proba is None else reliability_curves(p, n_bins=n_bins)
        most = "largest total weight" if w is not None else "most frequent class"
        share = "class shares of the weight" if w is not None else "class frequencies"
        notes = {
            "zero_rule": f"always {json_safe(prior.predict(dummy_X[:1])[0])!r}, the "
            + (
                "most frequent class of y_true, with class frequencies as probabilities"
                if w is None
                else f"class of y_true with the {most}, with the {share} as probabilities"
            ),
            "stratified": f"a random class drawn with the {share} of y_true "
            f"(random_state={random_state})",
        }
    else:
        tol = float(p.tolerance)
        model = _regression_scores(y_true, y_pred, tol, w)
        centre = y_true.mean() if w is None else np.average(y_true, weights=w)
        zero_rule = _regression_scores(y_true, np.full(p.n, centre), tol, w)
        rng = np.random.default_rng(random_state)
        stratified = _regression_scores(y_true, rng.permutation(y_true), tol, w)
        per_class = confusion = calibration = reliability = None
        notes = {
            "zero_rule": f"always the {'' if w is None else 'weighted '}mean of y_true "
            f"({centre:.6g})",
            "stratified": f"y_true shuffled (random_state={random_state})",
            "tolerance": f"{tol:.6g} ({p.tolerance_source})",
        }
    if w is not None:
        notes["sample_weight"] = (
            f"every metric weighted by sample_weight (total {w.sum():.6g}); n counts rows; "
            f"intervals use the Kish effective sample size (sum w)^2 / sum w^2 = "
            f"{w.sum() ** 2 / np.sum(w**2):.6g}"
        )
    if calibration is not None:
        model["ece"] = calibration.ece
    table = _baseline_table(model, {"zero_rule": zero_rule, "stratified": stratified})
    return Metrics(
        task=p.task,
        n=p.n,
        overall=model,
        baselines=table,
        per_class=per_class,
        confusion=confusion,
        calibration=calibration,
        notes=notes,
        reliability=reliability,
        references=_reference_table(p, refs) if refs else None,
    )


def _scores(p: Predictions) -> dict[str, float | None]:
    if p.is_classification:
        return _classification_scores(p.y_true, p.y_pred, p.proba, p.classes, p.sample_weight)
    return _regression_scores(p.y_true, p.y_pred, float(p.tolerance), p.sample_weight)


def _reference_table(p: Predictions, refs: list[Reference]) -> pd.DataFrame:
    """The model beside each reference on the rows the reference covers (see
    :attr:`Metrics.references`)."""
    rows = []
    for ref in refs:
        on_rows = _subset_model(p, ref.covered)
        model, other = _scores(on_rows), _scores(ref.p)
        terms = ref.paired_terms(p)
        w = None if p.sample_weight is None else p.sample_weight[ref.covered]
        for metric, value in model.items():
            if metric not in other:
                continue
            base = other[metric]
            higher = metric not in LOWER_IS_BETTER
            gap = None
            if value is not None and base is not None:
                gap = (base - value) if higher else (value - base)
            low = high = None
            term = terms.get(PAIRED_TERM.get(metric, ""))
            if gap is not None and term is not None and w is None:
                mean, lo, hi = paired_mean_interval(
                    np.array([term.size]), np.array([term.sum()]), np.array([(term**2).sum()])
                )
            elif gap is not None and term is not None:
                mean, lo, hi = paired_mean_interval(
                    np.array([w.sum()]),
                    np.array([(w * term).sum()]),
                    np.array([(w * term**2).sum()]),
                    sum_w2=np.array([(w**2).sum()]),
                )
            if gap is not None and term is not None:
                # the interval is centred on the metric's own gap (sklearn's log loss
                # clips like the per-row terms, so the two agree to rounding)
                low, high = gap + (lo[0] - mean[0]), gap + (hi[0] - mean[0])
                if PAIRED_TERM[metric] == "error_rate":  # a difference of rates: in [-1, 1]
                    low, high = max(low, -1.0), min(high, 1.0)
            rows.append(
                {
                    "reference": ref.name,
                    "metric": metric,
                    "n": ref.n,
                    "model": value,
                    "reference_value": base,
                    "gap": gap,
                    "ci_low": low,
                    "ci_high": high,
                    "higher_is_better": higher,
                }
            )
    frame = pd.DataFrame(rows, columns=REFERENCE_COLUMNS)
    for col in ("model", "reference_value", "gap", "ci_low", "ci_high"):
        frame[col] = frame[col].astype(float)
    return frame


def _subset_model(p: Predictions, covered: np.ndarray) -> Predictions:
    """The model's predictions on the rows a reference covers."""
    if covered.all():
        return p
    proba = None if p.proba is None else p.proba[covered]
    w = None if p.sample_weight is None else p.sample_weight[covered]
    if p.is_classification:
        return Predictions(
            p.y_true[covered],
            p.y_pred[covered],
            proba,
            classes=p.classes,
            task=p.task,
            sample_weight=w,
        )
    return Predictions(
        p.y_true[covered], p.y_pred[covered], task=p.task, tolerance=p.tolerance, sample_weight=w
    )


def probability_scores(p: Predictions, *, n_bins: int = 10) -> dict[str, float]:
    """ECE, Brier score and log loss of ``p``'s probabilities, as :func:`compute_metrics`
    defines them (without the rest of its work)."""
    labels, w = list(p.classes), p.sample_weight
    return {
        "ece": _calibration(p.y_true, p.proba, p.classes, n_bins, w).ece,
        "brier": float(skm.brier_score_loss(p.y_true, p.proba, labels=labels, sample_weight=w)),
        "log_loss": float(skm.log_loss(p.y_true, p.proba, labels=labels, sample_weight=w)),
    }


@validate_params({"p": [Predictions], "n_bins": [Interval(Integral, 1, None)]})
def reliability_curves(p: Predictions, *, n_bins: int = 10) -> pd.DataFrame:
    """The reliability diagram as the book draws it: predicted score against the
    fraction of positives, in ``n_bins`` equal-width bins, with the count of each bin.

    Two classes: one curve, the score of ``classes[1]``. More classes: one one-vs-rest
    curve per class (its column of ``proba`` against "is this class"). The fractions and
    mean scores are scikit-learn's ``calibration_curve`` (``strategy="uniform"``, bins
    right-closed, the first holding 0); empty bins are kept with ``n = 0`` and NaN.
    With sample weights the means and fractions are weighted (``n`` counts rows; a bin
    whose rows all weigh 0 gets NaN).

    Returns
    -------
    DataFrame
        ``class``, ``bin`` (0 .. n_bins - 1), ``bin_low``, ``bin_high``, ``n``,
        ``mean_score``, ``fraction_positive``.

    Examples
    --------
    >>> import toolkit as tk
    >>> p = tk.Predictions([0, 1, 1, 1], proba=[0.05, 0.15, 0.95, 0.95])
    >>> reliability_curves(p, n_bins=2)[["bin", "n", "mean_score", "fraction_positive"]]
       bin  n  mean_score  fraction_positive
    0    0  2        0.10                0.5
    1    1  2        0.95                1.0
    """
    from sklearn.calibration import calibration_curve

    if not p.is_classification or p.proba is None:
        raise ValidationError("reliability curves need class probabilities (proba)")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    columns = [1] if len(p.classes) == 2 else range(len(p.classes))
    codes = p.y_true_codes()
    frames = []
    for j in columns:
        score = p.proba[:, j]
        positive = (codes == j).astype(int)
        bin_ids = np.searchsorted(edges[1:-1], score)
        counts = np.bincount(bin_ids, minlength=n_bins)
        if p.sample_weight is None:
            fraction, mean = calibration_curve(positive, score, n_bins=n_bins, strategy="uniform")
            filled = counts > 0
        else:
            w = p.sample_weight
            size = np.bincount(bin_ids, weights=w, minlength=n_bins)
            filled = size > 0
            fraction = np.bincount(bin_ids, weights=w * positive, minlength=n_bins)[filled]
            mean = np.bincount(bin_ids, weights=w * score, minlength=n_bins)[filled]
            fraction, mean = fraction / size[filled], mean / size[filled]
        frame = pd.DataFrame(
            {
                "class": [p.classes[j]] * n_bins,
                "bin": np.arange(n_bins),
                "bin_low": edges[:-1],
                "bin_high": edges[1:],
                "n": counts.astype(np.int64),
                "mean_score": np.nan,
                "fraction_positive": np.nan,
            }
        )
        frame.loc[filled, "mean_score"] = mean
        frame.loc[filled, "fraction_positive"] = fraction
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)[RELIABILITY_COLUMNS]


def _per_class(
    y_true: np.ndarray, y_pred: np.ndarray, classes: np.ndarray, w: np.ndarray | None = None
) -> pd.DataFrame:
    precision, recall, f1, _ = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=list(classes), zero_division=0, sample_weight=w
    )
    wrong = y_true != y_pred
    support = np.array([np.sum(y_true == c) for c in classes])  # rows, weighted or not
    errors = [int(np.sum(wrong & (y_true == c))) for c in classes]
    return pd.DataFrame(
        {
            "class": list(classes),
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": support.astype(int),
            "errors": errors,
        }
    )
