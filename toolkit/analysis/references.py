"""Reference systems beside the model: another model, an older system, people (human level).

A reference is aligned with the model's rows once, here, and every comparison (overall
metrics, slices) is made on the rows both cover, as paired differences: each row's term
of the model (an error, a log loss) minus the reference's, whose mean is the gap and whose
spread gives the interval (:func:`toolkit.analysis._stats.paired_mean_interval`).

A gap is signed as "how far the reference is ahead": positive when the reference does
better (the room left, e.g. to human level), negative when the model does better.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from toolkit._checks import as_1d, missing_mask, preview
from toolkit.analysis._losses import row_losses
from toolkit.data import Predictions
from toolkit.exceptions import LengthMismatchError, ToolkitError, ToolkitTypeError, ValidationError

__all__ = ["Reference", "align_references"]


@dataclass(frozen=True, eq=False)
class Reference:
    """One reference aligned with the model's predictions ``p``.

    ``covered`` marks the rows of ``p`` the reference predicted; ``p`` is the reference's
    own :class:`~toolkit.Predictions` on those rows (same labels and classes as the model).
    """

    name: str
    covered: np.ndarray
    p: Predictions

    @property
    def n(self) -> int:
        return int(self.covered.sum())

    def paired_terms(self, model: Predictions) -> dict[str, np.ndarray]:
        """Per covered row: the model's term minus the reference's for every metric both
        have, oriented so that the mean is the gap (positive: the reference is better)."""
        rows = np.flatnonzero(self.covered)
        model_terms = row_losses(model)
        ref_terms = row_losses(self.p)
        out = {"error_rate": model.errors[rows].astype(float) - self.p.errors.astype(float)}
        for name in ("log_loss", "brier", "mae"):
            if name in model_terms and name in ref_terms:
                out[name] = model_terms[name][rows] - ref_terms[name]
        return out


def align_references(p: Predictions, references: Mapping[str, Any] | None) -> list[Reference]:
    """Check and align every reference with ``p`` (see :func:`toolkit.compute_metrics`)."""
    if references is None:
        return []
    if not isinstance(references, Mapping):
        raise ToolkitTypeError(
            "references must be a dict of name to Predictions or array, got "
            f"{type(references).__name__}"
        )
    out = []
    for name, ref in references.items():
        if not isinstance(name, str) or not name:
            raise ToolkitTypeError(f"reference names must be non-empty strings, got {name!r}")
        try:
            out.append(_align(p, name, ref))
        except ToolkitError as exc:
            raise type(exc)(f"reference {name!r}: {exc}") from exc
    return out


def _align(p: Predictions, name: str, ref: Any) -> Reference:
    if isinstance(ref, Predictions):
        return _align_predictions(p, name, ref)
    if (
        isinstance(ref, pd.DataFrame)
        and ref.shape[1] > 1
        or np.ndim(ref) == 2
        and (np.shape(ref)[1] > 1)
    ):
        return _align_proba(p, name, ref)
    values = as_1d(ref, "the reference")
    if values.shape[0] != p.n:
        raise LengthMismatchError(
            f"has {values.shape[0]} rows but the predictions have {p.n}; pass an array "
            "aligned with them (NaN or None where the reference has no answer) or a "
            "Predictions with the rows' ids"
        )
    covered = ~missing_mask(values)
    if not covered.any():
        raise ValidationError("covers no row: every value is missing")
    kept = values[covered]
    if p.is_classification:
        position = pd.Index(p.classes).get_indexer(pd.Index(kept))
        unknown = position < 0
        if unknown.any():
            raise ValidationError(
                f"has labels {preview(pd.unique(kept[unknown]))} that are not classes of "
                f"the predictions {preview(p.classes)}"
            )
        kept = p.classes[position]
    ref_p = _subset(p, covered, y_pred=kept, proba=None)
    return Reference(name, covered, ref_p)


def _align_proba(p: Predictions, name: str, ref: Any) -> Reference:
    if not p.is_classification:
        raise ValidationError("is a matrix, but a regression reference is one value per row")
    if isinstance(ref, pd.DataFrame):
        missing = [c for c in p.classes if c not in ref.columns]
        matrix = ref.to_numpy(dtype=float) if missing else ref[list(p.classes)].to_numpy(float)
    else:
        matrix = np.array(ref, dtype=float)
    if matrix.shape != (p.n, len(p.classes)):
        raise LengthMismatchError(
            f"probabilities have shape {matrix.shape} but the predictions need "
            f"({p.n}, {len(p.classes)}): one row per row, one column per class"
        )
    covered = ~np.isnan(matrix).all(axis=1)
    if not covered.any():
        raise ValidationError("covers no row: every probability row is NaN")
    return Reference(name, covered, _subset(p, covered, y_pred=None, proba=matrix[covered]))


def _align_predictions(p: Predictions, name: str, ref: Predictions) -> Reference:
    if ref.task != p.task:
        raise ValidationError(f"is a {ref.task} task but the predictions are {p.task}")
    if p.is_classification and set(ref.classes.tolist()) != set(p.classes.tolist()):
        raise ValidationError(
            f"has classes {preview(ref.classes)} but the predictions have {preview(p.classes)}"
        )
    position = pd.Index(ref.ids).get_indexer(pd.Index(p.ids))
    covered = position >= 0
    if not covered.any():
        raise ValidationError(
            f"shares no id with the predictions (reference ids {preview(ref.ids)}, "
            f"predictions' ids {preview(p.ids)})"
        )
    rows = position[covered]
    differ = ref.y_true[rows] != p.y_true[covered]
    if differ.any():
        raise ValidationError(
            f"has a different y_true on {int(differ.sum())} of the {rows.size} rows it shares "
            f"with the predictions (ids {preview(p.ids[covered][differ])})"
        )
    proba = None
    if ref.proba is not None:
        order = pd.Index(ref.classes).get_indexer(pd.Index(p.classes))
        proba = ref.proba[rows][:, order]
    return Reference(name, covered, _subset(p, covered, y_pred=ref.y_pred[rows], proba=proba))


def _subset(
    p: Predictions, covered: np.ndarray, *, y_pred: Any, proba: np.ndarray | None
) -> Predictions:
    """The reference's predictions on the covered rows, with the model's labels and
    classes (and tolerance, for regression: the same definition of an error), and the
    model's sample weights: a comparison weighs each row as the model's metrics do."""
    w = None if p.sample_weight is None else p.sample_weight[covered]
    if p.is_classification:
        return Predictions(
            p.y_true[covered],
            y_pred,
            proba,
            classes=p.classes,
            ids=p.ids[covered],
            task=p.task,
            sample_weight=w,
        )
    return Predictions(
        p.y_true[covered],
        y_pred,
        ids=p.ids[covered],
        task=p.task,
        tolerance=p.tolerance,
        sample_weight=w,
    )
