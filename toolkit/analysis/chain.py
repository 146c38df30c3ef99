"""Error analysis by parts: which stage of a chained system is worth improving.

A system built from chained models (a language detector, then a translator, then a
classifier) is scored once with its own outputs, then again with one stage's outputs
replaced by the truth (an *oracle*, e.g. human translations) and every later stage
re-run from them. If a perfect translator lifts the system only from 73% to 74%,
improving translation is not worth it. Replacing stages 1..k in chain order gives
Andrew Ng's ceiling table (72% -> 89% -> 90% -> 100%); the Shapley value over all
subsets of replaced stages gives an order-free share of the gap per stage.

The work is split in private modules: ``_chain_metrics`` (metrics and the paired
bootstrap), ``_chain_run`` (stages, oracles, running the chain, the error trace) and
``_chain_gains`` (the oracle table).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral
from typing import Any

import pandas as pd

from toolkit._result import Result
from toolkit._validation import (
    ARRAY_LIKE,
    BOOLEAN,
    CALLABLE,
    RANDOM_STATE,
    Interval,
    Options,
    validate_params,
)
from toolkit.analysis._chain_gains import CHAIN_COLUMNS, MAX_SHAPLEY_STAGES, oracle_table
from toolkit.analysis._chain_metrics import CHAIN_METRICS, resolve_metric
from toolkit.analysis._chain_run import (
    STAGE_LIST,
    TRACE_COLUMNS,
    Stage,
    StageError,
    setup_chain,
    trace,
)
from toolkit.exceptions import ValidationError

__all__ = [
    "CHAIN_COLUMNS",
    "CHAIN_METRICS",
    "MAX_SHAPLEY_STAGES",
    "TRACE_COLUMNS",
    "ChainAnalysis",
    "ChainErrorTrace",
    "Stage",
    "StageError",
    "analyze_chain",
    "chain_section",
    "chain_summary",
    "trace_chain_errors",
]

_Y_TRUE = [ARRAY_LIKE, pd.api.extensions.ExtensionArray]
#: Keys of the mapping form of ``diagnose(p, chain=...)``.
_SECTION_KEYS = {"stages", "inputs", "oracles", "y_true", "metric", "greater_is_better"}
_SECTION_KEYS |= {"stage_metrics", "n_boot"}


@dataclass(frozen=True, repr=False, eq=False)  # Result's repr and identity equality
class ChainAnalysis(Result):
    """What :func:`analyze_chain` returns: the oracle table and how it was made.

    ``table`` has one ``kind="single"`` row per stage with an oracle (chain order;
    stage k alone replaced), then one ``kind="cumulative"`` row per such stage (stages
    1..k replaced: the ceiling table). Its columns (:data:`CHAIN_COLUMNS`):

    - ``stage``; ``kind``; ``replaced`` (the replaced stages, joined by " + ");
    - ``n``: rows scored (rows where every replaced stage has an oracle value);
    - ``stage_score``: the stage against its oracle, with every earlier stage that
      has an oracle replaced by it (its quality given correct inputs), on the rows
      where those oracles and its own are known;
    - ``system_score``: the chain as it is, on the row's ``n`` rows;
    - ``system_score_with_oracle``: the chain with the ``replaced`` stages given
      their oracles, on the same rows;
    - ``gain_pp``: 100 × (with oracle − without), signed so that positive is better
      (percentage points for proportions such as accuracy; for MAE and other
      unbounded metrics, 100 × the metric's units);
    - ``ci_low``, ``ci_high``: 95% paired-bootstrap percentile interval of
      ``gain_pp``;
    - ``step_gain_pp`` (cumulative rows): the gain over the previous cumulative row,
      the ceiling table's "what replacing this stage adds";
    - ``shapley_pp`` and ``shapley_share`` (single rows): the exact Shapley value of
      the gain over all subsets of oracle stages, an order-free split of the gap
      between the system and the perfect system (shares sum to 1), scored on rows
      where every oracle is known; empty above :data:`MAX_SHAPLEY_STAGES` stages;
    - ``errors_started``, ``share_of_errors_started`` (single rows): system errors
      whose first wrong stage is this one (see :func:`trace_chain_errors`).

    Attributes
    ----------
    metric : str
        Name of the system metric (a callable's ``__name__``).
    greater_is_better : bool
        Direction of ``metric``; gains are signed so that positive is better.
    n : int
        Rows of ``y_true``.
    system_score : float
        The chain as it is, on all rows.
    independence_estimate : float or None
        The product of the stage scores: the system accuracy if stage errors were
        independent; only when every score is an accuracy.
    independence_gap_pp : float or None
        100 × (measured − estimate): positive when errors overlap on the same rows,
        so the product is too pessimistic; negative when they compound.
    n_complete : int
        Rows where every oracle is known (Shapley values and the error trace).
    n_errors_traced : int
        System errors on those rows.
    n_boot : int
    random_state : int or None
    stages_without_oracle : tuple of str
    stage_calls : int
        Stage functions called (each stage once per distinct upstream).
    notes : dict of str to str
        Why a column is empty or how it was scored (keys ``shapley``,
        ``independence_estimate``, ``partial_oracles``).
    """

    metric: str
    greater_is_better: bool
    n: int
    system_score: float
    independence_estimate: float | None
    independence_gap_pp: float | None
    n_complete: int
    n_errors_traced: int
    n_boot: int
    random_state: int | None
    stages_without_oracle: tuple[str, ...]
    stage_calls: int
    notes: dict[str, str]

    def summary(self) -> dict[str, Any]:
        """Every field but the table, JSON-safe (NaN becomes None), in field order.

        This is ``meta.chain_summary`` of the diagnosis JSON.
        """
        return self.meta


@dataclass(frozen=True, repr=False, eq=False)  # Result's repr and identity equality
class ChainErrorTrace(Result):
    """What :func:`trace_chain_errors` returns: where each system error starts.

    ``table`` has the columns of :data:`TRACE_COLUMNS`.

    Attributes
    ----------
    n : int
        Rows traced (rows where every oracle is known).
    n_errors : int
        System errors among them.
    """

    n: int
    n_errors: int


@validate_params({"stages": [STAGE_LIST], "y_true": _Y_TRUE, "oracles": [Mapping]})
def trace_chain_errors(
    stages: Sequence[Stage],
    inputs: Any,
    y_true: Any,
    *,
    oracles: Mapping[str, Any],
) -> ChainErrorTrace:
    """Where each system error starts: the first stage whose output was already wrong.

    The chain is run once as it is. A row is a system error when the last stage's
    output differs from ``y_true``; a stage is wrong on a row when its output differs
    from its oracle (exact comparison; a row of several outputs is wrong when any
    differs). Every system error is charged to the first wrong stage in chain order:
    "62% of system errors start at stage 1". Only rows where every oracle is known are
    traced. Stages without an oracle are not traced.

    Parameters
    ----------
    stages : list of Stage
    inputs : object
        Passed unchanged to every stage function.
    y_true : array-like of shape (n_samples,)
        The truth of the system's output (the last stage's oracle).
    oracles : mapping of str to array-like of shape (n_samples, ...)
        True outputs of earlier stages by name; NaN/None or masked entries (a numpy
        masked array) where unknown.

    Returns
    -------
    ChainErrorTrace
        ``table``: one row per stage with an oracle, then the last stage, in chain
        order: ``stage``, ``errors_started`` (system errors whose first wrong stage is
        this one), ``share_of_errors_started`` (of all traced system errors; the column
        sums to 1), ``wrong_in_errors`` (system errors where this stage was wrong, first
        or not), ``recovered`` (rows where this stage was wrong yet the system was
        right). Fields ``n`` (rows traced) and ``n_errors``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(10)
    >>> detect = Stage("detect", lambda x, up: np.where(x < 2, -1, x))  # wrong on 0, 1
    >>> label = Stage("label", lambda x, up: np.where(x == 9, 5, up["detect"] % 3))
    >>> result = trace_chain_errors([detect, label], x, x % 3, oracles={"detect": x})
    >>> result.n, result.n_errors
    (10, 3)
    >>> result.table[["stage", "errors_started", "wrong_in_errors", "recovered"]]
        stage  errors_started  wrong_in_errors  recovered
    0  detect               2                2          0
    1   label               1                3          0
    """
    table, n_rows, n_errors = trace(setup_chain(stages, inputs, y_true, oracles))
    return ChainErrorTrace(table, n=n_rows, n_errors=n_errors)


@validate_params(
    {
        "stages": [STAGE_LIST],
        "y_true": _Y_TRUE,
        "oracles": [Mapping],
        "metric": [Options(sorted(CHAIN_METRICS)), CALLABLE],
        "greater_is_better": [BOOLEAN, None],
        "stage_metrics": [Mapping, None],
        "n_boot": [Interval(Integral, 0, None)],
        "random_state": [RANDOM_STATE, None],
    }
)
def analyze_chain(
    stages: Sequence[Stage],
    inputs: Any,
    y_true: Any,
    *,
    oracles: Mapping[str, Any],
    metric: str | Callable[[Any, Any], float] = "accuracy",
    greater_is_better: bool | None = None,
    stage_metrics: Mapping[str, str | Callable[[Any, Any], float]] | None = None,
    n_boot: int = 1000,
    random_state: int | None = 0,
) -> ChainAnalysis:
    """Which stage of a chained system is worth improving: oracle and ceiling analysis.

    The chain is scored as it is, then with stages replaced by their oracles (true
    outputs): the oracle's values are plugged in as that stage's outputs and every
    later stage is re-run from them. The last stage's oracle is ``y_true`` itself, so
    it is always analysed (replacing it gives the perfect system).

    Parameters
    ----------
    stages : list of Stage
        In chain order; the last stage's outputs are the system's predictions.
    inputs : object
        Passed unchanged to every stage function (e.g. a DataFrame of features).
    y_true : array-like of shape (n_samples,)
        The truth of the system's output.
    oracles : mapping of str to array-like of shape (n_samples, ...)
        True outputs of earlier stages by stage name. Partial oracles: NaN/None (or a
        masked entry of a numpy masked array) where the truth is unknown; rows involving
        that stage are then scored on the rows that have it, with ``n`` reported.
        Stages without an oracle run as they are and get no row.
    metric : str or callable, default="accuracy"
        System metric: one of :data:`CHAIN_METRICS` (``"accuracy"``, ``"error_rate"``,
        ``"balanced_accuracy"``, ``"f1_macro"``, ``"mae"``, ``"mse"``, ``"rmse"``,
        ``"r2"``) or any ``metric(y_true, y_pred) -> float``, such as a scikit-learn
        metric.
    greater_is_better : bool, default=None
        Direction of a callable ``metric`` (default True); gains are signed so that
        positive means better. For a named metric the direction is known, and a
        contradicting value raises.
    stage_metrics : mapping of str to str or callable, default=None
        Metric of each non-final stage's ``stage_score`` against its oracle (default
        ``"accuracy"``, higher is better); the last stage uses ``metric``.
    n_boot : int, default=1000
        Paired bootstrap replicates (rows resampled with replacement, the same rows for
        the system with and without the oracle); 0 skips the intervals.
    random_state : int or None, default=0
        Seed of the bootstrap.

    Returns
    -------
    ChainAnalysis
        ``table``: one ``kind="single"`` row per stage with an oracle (chain order;
        stage k alone replaced), then one ``kind="cumulative"`` row per such stage
        (stages 1..k replaced: the ceiling table), with the gain of each replacement,
        its paired-bootstrap interval, Shapley values and where errors start; fields
        summarise the system. :class:`ChainAnalysis` lists the columns and fields.

    Raises
    ------
    ToolkitTypeError
        A parameter of the wrong type (e.g. ``stages`` not a list of :class:`Stage`).
    InvalidValueError
        A parameter out of range: an unknown metric name, ``n_boot < 0``, a
        ``greater_is_better`` that contradicts a named metric.
    ValidationError
        Unknown stage names in ``oracles`` or ``stage_metrics``, an oracle for the last
        stage, an oracle with no known value.
    LengthMismatchError
        An oracle or a stage's outputs without one row per row of ``y_true``.
    StageError
        A stage function raised; the original exception is chained.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(10)
    >>> detect = Stage("detect", lambda x, up: np.where(x < 2, -1, x))  # wrong on 0, 1
    >>> label = Stage("label", lambda x, up: up["detect"] % 3)
    >>> result = analyze_chain([detect, label], x, x % 3, oracles={"detect": x}, n_boot=0)
    >>> result.table[["stage", "kind", "system_score", "system_score_with_oracle", "gain_pp"]]
        stage        kind  system_score  system_score_with_oracle  gain_pp
    0  detect      single           0.8                       1.0     20.0
    1   label      single           0.8                       1.0     20.0
    2  detect  cumulative           0.8                       1.0     20.0
    3   label  cumulative           0.8                       1.0     20.0
    >>> result.system_score, result.independence_estimate, result.n_errors_traced
    (0.8, 0.8, 2)
    """
    setup = setup_chain(stages, inputs, y_true, oracles)
    system_metric = resolve_metric(metric, greater_is_better, "metric")
    names = [s.name for s in setup.stages]
    stage_metrics = dict(stage_metrics or {})
    unknown = [k for k in stage_metrics if k not in names]
    if unknown:
        raise ValidationError(
            f"stage_metrics name unknown stage(s) {unknown}; the stages are {names}"
        )
    last = len(setup.stages) - 1
    per_stage = {
        j: system_metric
        if j == last
        else resolve_metric(stage_metrics.get(names[j], "accuracy"), None, "stage metric")
        for j in setup.oracle_stages
    }
    table, meta = oracle_table(setup, system_metric, per_stage, n_boot, random_state)
    return ChainAnalysis(table, **meta)


@validate_params({"result": [ChainAnalysis]})
def chain_summary(result: ChainAnalysis) -> dict[str, Any]:
    """The JSON-safe summary of a result of :func:`analyze_chain`: ``result.summary()``.

    Parameters
    ----------
    result : ChainAnalysis

    Returns
    -------
    dict
        ``metric``, ``greater_is_better``, ``n``, ``system_score``,
        ``independence_estimate``, ``independence_gap_pp``, ``n_complete``,
        ``n_errors_traced``, ``n_boot``, ``random_state``, ``stages_without_oracle``,
        ``stage_calls``, ``notes`` (NaN becomes None).
    """
    return result.summary()


@validate_params(
    {"chain": [ChainAnalysis, Mapping], "y_true": _Y_TRUE, "random_state": [RANDOM_STATE, None]}
)
def chain_section(
    chain: ChainAnalysis | Mapping[str, Any], y_true: Any, *, random_state: int | None = 0
) -> ChainAnalysis:
    """What ``diagnose(p, chain=...)`` runs: a finished analysis, or the arguments of one.

    Parameters
    ----------
    chain : ChainAnalysis or mapping
        A result of :func:`analyze_chain` (returned unchanged), or a mapping with the
        keys ``stages``, ``inputs``, ``oracles`` and optionally ``y_true`` (default:
        the ``y_true`` given here), ``metric``, ``greater_is_better``,
        ``stage_metrics``, ``n_boot``.
    y_true : array-like of shape (n_samples,)
        Truth of the system's output (``p.y_true`` in ``diagnose``).
    random_state : int or None, default=0

    Returns
    -------
    ChainAnalysis
        ``.table`` is the diagnosis's ``chain`` section, ``.summary()`` its
        ``meta.chain_summary``.
    """
    if isinstance(chain, ChainAnalysis):
        return chain
    missing = [k for k in ("stages", "inputs", "oracles") if k not in chain]
    extra = sorted(set(chain) - _SECTION_KEYS)
    if missing or extra:
        raise ValidationError(
            f"chain mapping: missing key(s) {missing}, unknown key(s) {extra}; "
            f"allowed keys are {sorted(_SECTION_KEYS)}"
        )
    options = {k: chain[k] for k in chain if k not in ("stages", "inputs", "y_true")}
    return analyze_chain(
        chain["stages"],
        chain["inputs"],
        chain.get("y_true", y_true),
        random_state=random_state,
        **options,
    )
