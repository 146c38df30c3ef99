"""Diagnosis sections of the evaluation the method asks for: thresholds and costs (binary),
calibration as a fix, the learning curve. Registered in
:mod:`toolkit.analysis.section_defs`; references are options of the metrics and slices
sections (see there)."""

from __future__ import annotations

from typing import Any

from toolkit.analysis.sections import Context, Section, Table
from toolkit.exceptions import NotApplicableError, ToolkitTypeError

__all__ = ["CALIBRATION_FIX", "LEARNING_CURVE", "THRESHOLDS", "check_evaluation_options"]


def check_evaluation_options(calibration: Any, learning_curve: Any) -> None:
    """Refuse options of the wrong kind before any section runs."""
    from toolkit.analysis.calibration import Calibrator
    from toolkit.analysis.learning import LearningCurve
    from toolkit.data import Predictions

    if calibration is not None and not isinstance(calibration, Calibrator | Predictions):
        raise ToolkitTypeError(
            "diagnose: calibration must be a Calibrator (tk.calibrate) or the calibration "
            f"split's Predictions, got {type(calibration).__name__}"
        )
    if learning_curve is not None and not isinstance(learning_curve, LearningCurve):
        raise ToolkitTypeError(
            "diagnose: learning_curve must be the result of tk.learning_curve, got "
            f"{type(learning_curve).__name__}"
        )


def _whole(name: str) -> Any:
    """The JSON of a section: its result's ``to_dict()`` (fields, table, curves)."""

    def to_json(result: Any, results: Any) -> dict[str, Any]:
        return {name: result.to_dict()}

    return to_json


# -------------------------------------------------------------------------- thresholds
def _threshold_reason(ctx: Context) -> str | None:
    if ctx.p.task != "binary":
        return f"thresholds apply to binary tasks; this is a {ctx.p.task} task"
    if ctx.p.proba is None:
        return "thresholds need probabilities; only predictions were given"
    return None


def _run_thresholds(ctx: Context) -> Any:
    from toolkit.analysis.thresholds import analyze_thresholds

    return analyze_thresholds(ctx.p, cost=ctx.option("cost"), metric=ctx.option("business_metric"))


THRESHOLDS = Section(
    name="thresholds",
    to_json=_whole("thresholds"),
    title="Thresholds and costs",
    message="thresholds (ROC and PR curves)",
    applies=_threshold_reason,
    run=_run_thresholds,
    skip_on=(NotApplicableError,),
    nav=(("thresholds", "Thresholds"),),
    tables=(
        Table(
            "t-thresholds",
            lambda r, _: r.table,
            [
                ("threshold", "threshold", "num"),
                ("precision", "precision", "num"),
                ("recall", "recall", "num"),
                ("fpr", "false-positive rate", "num"),
                ("f1", "F1", "num"),
                ("accuracy", "accuracy", "num"),
                ("cost", "cost", "num"),
                ("metric", "business metric", "num", "the given metric at this threshold"),
            ],
            note=(
                "A row is predicted positive when its score is at least the threshold. "
                "The marked row is the chosen threshold; the JSON has the confusion counts."
            ),
            highlight="chosen",
            filterable=False,
        ),
    ),
)


# --------------------------------------------------------------------- calibration fix
def _run_calibration_fix(ctx: Context) -> Any:
    from toolkit.analysis.calibration import calibrate

    cal = ctx.option("calibration")
    if not hasattr(cal, "evaluate"):
        cal = calibrate(cal, method=ctx.option("calibration_method") or "isotonic")
    return cal.evaluate(ctx.p)


CALIBRATION_FIX = Section(
    name="calibration_fix",
    to_json=_whole("calibration_fix"),
    title="Calibration as a fix",
    message="calibration fitted on its own split, judged on these rows",
    applies=lambda ctx: None if ctx.option("calibration") is not None else "no calibration split",
    run=_run_calibration_fix,
    nav=(("calibration-fix", "Calibration fix"),),
    tables=(
        Table(
            "t-calibration-fix",
            lambda r, _: r.table,
            [
                ("metric", "metric", "text"),
                ("before", "before", "num"),
                ("after", "after", "num"),
                ("change", "change", "num"),
            ],
            filterable=False,
        ),
    ),
)


# ---------------------------------------------------------------------- learning curve
LEARNING_CURVE = Section(
    name="learning_curve",
    to_json=_whole("learning_curve"),
    title="Learning curve",
    message="learning curve",
    applies=lambda ctx: (
        None if ctx.option("learning_curve") is not None else "no learning curve was given"
    ),
    run=lambda ctx: ctx.option("learning_curve"),
    nav=(("learning-curve", "Learning curve"),),
    tables=(
        Table(
            "t-learning-curve",
            lambda r, _: r.table,
            [
                ("n_train", "training rows", "num"),
                ("score_mean", "score (held out)", "num"),
                ("score_std", "spread (sd over folds)", "num"),
                ("train_score_mean", "score (training rows)", "num"),
                ("train_score_std", "spread (training)", "num"),
            ],
            filterable=False,
        ),
    ),
)
