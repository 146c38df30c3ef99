"""`diagnose`: every analysis the inputs allow, as one :class:`Diagnosis`.

This module sits above ``toolkit.analysis`` (which computes) and ``toolkit.report``
(which renders): a diagnosis is computed by the section registry of
:mod:`toolkit.analysis.diagnose` and drawn by :func:`toolkit.report.render_html`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from toolkit._files import write_text_atomic
from toolkit._json import dumps, json_safe
from toolkit._validation import CALLABLE, RANDOM_STATE, STR_LIST, Options, validate_params
from toolkit.analysis._evaluation_sections import check_evaluation_options
from toolkit.analysis._split_section import check_splits_option
from toolkit.analysis.diagnose import SECTIONS, run_sections
from toolkit.analysis.section_defs import check_pool
from toolkit.analysis.sections import Context
from toolkit.data import Predictions
from toolkit.exceptions import ValidationError

__all__ = ["RESERVED_META", "Diagnosis", "diagnose"]

#: Keys of ``meta`` that diagnose fills itself.
RESERVED_META = (
    "toolkit_version",
    "created",
    "n",
    "task",
    "classes",
    "error_rate",
    "weighted",
    "tolerance",
    "random_state",
    "run_id",
    "features",
    "skipped",
    "chain_summary",
)


@dataclass(frozen=True, eq=False)
class Diagnosis:
    """Result of :func:`diagnose`.

    Each section's result is an attribute named after it (``d.metrics``,
    ``d.slices``, ``d.error_patterns``, ``d.clusters``, ``d.label_issues``,
    ``d.labeling_queue``, ``d.chain``): None when the section did not run, with the
    reason in ``d.skipped``. ``d.overlap`` is the row overlap of the top clusters and
    error patterns; ``error_patterns`` and ``clusters`` carry ``label_issue_share``
    when label issues were found (the share of each group's errors that are likely
    label errors: "the labels are bad here" rather than "the model is weak here").

    Attributes
    ----------
    meta : dict
        toolkit version, creation time, n, task, classes, random_state, run id and
        ``skipped`` (section -> reason).
    results : dict
        The section results by name, and what their link steps added (``overlap``,
        ``label_issue_features``).
    extras : dict
        Not serialised: ``runtime_s`` per section; ``images``, the Predictions whose
        images the report shows as thumbnails (``"rows"``: ``p``; ``"pool"``: a pool
        given as Predictions), when they hold images.
    """

    meta: dict[str, Any]
    results: Mapping[str, Any] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in SECTIONS or name in SECTIONS.provided or name in self.results:
            return self.results.get(name)
        raise AttributeError(f"{type(self).__name__} has no section or attribute {name!r}")

    @property
    def skipped(self) -> dict[str, str]:
        return dict(self.meta.get("skipped", {}))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict: ``meta``, then each section's keys in the registry's order."""
        out: dict[str, Any] = {"meta": json_safe(self.meta)}
        for section in SECTIONS:
            result = self.results.get(section.name)
            out.update(json_safe(section.json(result, self.results)))
            if result is not None and section.meta_json is not None:
                out["meta"].update(json_safe(section.meta_json(result)))
        return out

    def to_json(self, path: str | Path | None = None, *, indent: int | None = 2) -> str:
        """The JSON text; also written to ``path`` when given."""
        text = dumps(self.to_dict(), indent=indent)
        if path is not None:
            write_text_atomic(path, text + "\n")
        return text

    def to_html(self, path: str | Path | None = None, *, title: str | None = None) -> str:
        """The self-contained offline HTML report; also written to ``path`` when given."""
        from toolkit.report import render_html

        html = render_html(self, title=title)
        if path is not None:
            write_text_atomic(path, html)
        return html

    def _repr_html_(self) -> str:
        # the report is a whole page with its own CSS: shown in a frame, it cannot
        # restyle the notebook around it
        from toolkit.report import render_notebook

        return render_notebook(self)

    def __repr__(self) -> str:
        ran = [s.name for s in SECTIONS if self.results.get(s.name) is not None]
        return (
            f"Diagnosis(n={self.meta.get('n')}, task={self.meta.get('task')!r}, "
            f"sections={ran}, skipped={sorted(self.skipped)})"
        )

    def __str__(self) -> str:
        """What ``print(d)`` shows: what ran, what was skipped and why, and the summary
        sentences of the report (a few lines, not the tables)."""
        from toolkit.report.summary import summary_sentences

        ran = [s.name for s in SECTIONS if self.results.get(s.name) is not None]
        n, task = self.meta.get("n"), self.meta.get("task")
        lines = [f"Diagnosis of {n:,} rows ({task}): ran {', '.join(ran) or 'nothing'}"]
        lines += [
            f"  skipped {name}: {why}"
            for name, why in self.skipped.items()
            if why != "not requested"
        ]
        lines += [f"- {sentence}" for sentence in summary_sentences(self)]
        return "\n".join(lines)


def _check_meta(meta: Mapping[str, Any] | None) -> None:
    if meta is not None:
        taken = sorted(set(meta) & set(RESERVED_META))
        if taken:
            raise ValidationError(
                f"meta key(s) {taken} are filled by diagnose itself; use other names"
            )


@validate_params(
    {
        "p": [Predictions],
        "slices": [STR_LIST, None],
        "random_state": [RANDOM_STATE],
        "sections": [STR_LIST, None],
        "proba_source": [Options(["out_of_sample", "in_sample"]), None],
        "run_id": [str, None],
        "created": [str, None],
        "meta": [Mapping, None],
        "progress": [CALLABLE, None],
        "references": [Mapping, None],
        "business_metric": [CALLABLE, None],
    }
)
def diagnose(
    p: Predictions,
    *,
    slices: Sequence[str] | None = None,
    chain: Any = None,
    pool: Any = None,
    splits: Any = None,
    embeddings: Any = None,
    references: Mapping[str, Any] | None = None,
    calibration: Any = None,
    learning_curve: Any = None,
    cost: Any = None,
    business_metric: Callable[[Any, Any], float] | None = None,
    random_state: int = 0,
    sections: Sequence[str] | None = None,
    proba_source: str | None = None,
    run_id: str | None = None,
    created: str | None = None,
    meta: dict[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Diagnosis:
    """Run every analysis that ``p`` (and ``chain``, ``pool``) allow.

    Parameters
    ----------
    p : Predictions
    slices : list of str, default=None
        Columns for sliced metrics; default all feature columns.
    chain : ChainAnalysis or mapping, default=None
        A result of :func:`toolkit.analyze_chain`, or a mapping with its arguments
        (``stages``, ``inputs``, ``oracles`` and optionally ``metric``, ``n_boot``;
        ``y_true`` defaults to ``p.y_true``).
    pool : default=None
        Unlabeled rows to rank for labeling: anything :func:`toolkit.labeling_queue`
        takes (a Predictions, a LabelingPool, probabilities), or a mapping
        ``{"pool": ..., "budget": ..., "strategy": ...}``. Strategies that need labeled
        neighbours use ``p`` as the labeled set.
    splits : Predictions, DataFrame or mapping, default=None
        The training rows (Predictions with the model's predictions on them) or
        production rows (a DataFrame of features) to check ``p`` against: duplicates,
        shift, fit (:func:`toolkit.check_splits`); or a mapping
        ``{"reference": ..., "group": ..., "time": ...}`` with its options.
    embeddings : array-like of shape (n_samples, n_dims), default=None
        Representation for the error clusters (default ``p.embeddings``, else the
        encoded features).
    references : dict of str to Predictions or array-like, default=None
        Reference systems (an older model, human labels for some rows): every metric and
        slice shows the model beside each, with the gap and a paired 95% interval (see
        :func:`toolkit.compute_metrics`).
    calibration : Calibrator or Predictions, default=None
        A calibration fitted by :func:`toolkit.calibrate`, or the calibration split to fit
        one on (isotonic); the report shows ECE, Brier and log loss of ``p`` before and
        after. ``p`` must not share rows with the calibration split.
    learning_curve : LearningCurve, default=None
        A result of :func:`toolkit.learning_curve`, shown with whether it still rises.
    cost : array-like of shape (2, 2), default=None
        Binary tasks: the cost of predicting class j for a row of class i; the thresholds
        section chooses the threshold of least cost (default: of the best F1).
    business_metric : callable, default=None
        Binary tasks: ``metric(y_true, y_pred)`` to maximise over thresholds instead.
    random_state : int, default=0
        Passed to every random step; same inputs and seed give the same JSON apart
        from ``meta.created``.
    sections : list of str, default=None
        Restrict to these sections (names in :data:`toolkit.analysis.diagnose.SECTIONS`).
    proba_source : {"out_of_sample", "in_sample", None}, default=None
        Where ``p.proba`` came from, when known (label issues need out-of-sample ones).
    run_id : str, default=None
        MLflow run the diagnosis belongs to, recorded in ``meta``.
    created : str, default=None
        ISO timestamp for ``meta.created`` (default: now, UTC).
    meta : dict, default=None
        Extra entries for ``meta`` (e.g. the data set and model), shown in the report.
    progress : callable, default=None
        Called with a short message as each section starts (the CLI shows them on a
        terminal); nothing is printed otherwise.

    Returns
    -------
    Diagnosis
        A section that could not run is None, and ``meta["skipped"]`` says why.

    Examples
    --------
    >>> import toolkit as tk
    >>> p = tk.Predictions(["a", "b", "b", "a"], ["a", "b", "a", "a"])
    >>> d = tk.diagnose(p, created="2026-01-01T00:00:00+00:00")
    >>> d.metrics.overall["accuracy"], d.slices is None, d.skipped["slices"]
    (0.75, True, 'no feature columns were given')
    """
    from toolkit import __version__

    wanted = list(SECTIONS.names if sections is None else sections)
    unknown = [s for s in wanted if s not in SECTIONS]
    if unknown:
        raise ValidationError(f"unknown section(s) {unknown}; sections are {list(SECTIONS.names)}")
    _check_meta(meta)
    check_pool(pool)
    check_splits_option(splits)
    check_evaluation_options(calibration, learning_curve)
    options = {
        "slices": slices,
        "chain": chain,
        "pool": pool,
        "splits": splits,
        "embeddings": embeddings,
        "proba_source": proba_source,
        "references": references,
        "calibration": calibration,
        "learning_curve": learning_curve,
        "cost": cost,
        "business_metric": business_metric,
    }
    ctx = Context(p, random_state=random_state, options=options)
    results, skipped, runtime = run_sections(ctx, wanted, progress)
    info = {
        "toolkit_version": __version__,
        "created": created or pd.Timestamp.now(tz="UTC").isoformat(),
        "n": p.n,
        "task": p.task,
        "classes": None if p.classes is None else json_safe(list(p.classes)),
        # with sample weights, the share of the total weight on wrong rows
        "error_rate": float(np.average(p.errors, weights=p.weights)),
        "weighted": p.sample_weight is not None,
        "tolerance": p.tolerance,
        "random_state": random_state,
        "run_id": run_id,
        "features": p.feature_names,
        "skipped": skipped,
        **(meta or {}),
    }
    # timings vary from run to run, so they stay out of the JSON (same inputs, same JSON)
    extras: dict[str, Any] = {"runtime_s": runtime}
    images = _with_images(p, pool)
    if images:
        extras["images"] = images
    return Diagnosis(meta=info, results=results, extras=extras)


def _with_images(p: Predictions, pool: Any) -> dict[str, Predictions]:
    """The Predictions whose images the report shows as thumbnails: ``"rows"`` (``p``)
    and ``"pool"`` (a pool given as Predictions), each only when it holds images. Held
    by reference in ``extras``: never in the JSON."""
    found = {"rows": p, "pool": pool.get("pool") if isinstance(pool, Mapping) else pool}
    return {
        name: rows
        for name, rows in found.items()
        if isinstance(rows, Predictions) and rows.images is not None
    }
