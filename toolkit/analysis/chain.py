"""Error analysis by parts: which stage of a chained system is worth improving.

A system built from chained models (a language detector, then a translator, then a
classifier) is scored once with its own outputs, then again with one stage's outputs
replaced by the truth (an *oracle*, e.g. human translations) and every later stage
re-run from them. If a perfect translator lifts the system only from 73% to 74%,
improving translation is not worth it. Replacing stages 1..k in chain order gives
Andrew Ng's ceiling table (72% -> 89% -> 90% -> 100%); the Shapley value over all
subsets of replaced stages gives an order-free share of the gap per stage.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from toolkit.analysis.metrics import json_safe
from toolkit.exceptions import (
    EmptyInputError,
    InvalidValueError,
    LengthMismatchError,
    ToolkitError,
    ToolkitTypeError,
    ValidationError,
)

__all__ = [
    "CHAIN_COLUMNS",
    "CHAIN_METRICS",
    "MAX_SHAPLEY_STAGES",
    "TRACE_COLUMNS",
    "Stage",
    "StageError",
    "analyze_chain",
    "chain_section",
    "chain_summary",
    "trace_chain_errors",
]

#: Columns of :func:`analyze_chain`, in order.
CHAIN_COLUMNS = [
    "stage",
    "kind",
    "replaced",
    "n",
    "stage_score",
    "system_score",
    "system_score_with_oracle",
    "gain_pp",
    "ci_low",
    "ci_high",
    "step_gain_pp",
    "shapley_pp",
    "shapley_share",
    "errors_started",
    "share_of_errors_started",
]
#: Columns of :func:`trace_chain_errors`, in order.
TRACE_COLUMNS = [
    "stage",
    "errors_started",
    "share_of_errors_started",
    "wrong_in_errors",
    "recovered",
]
#: Exact Shapley values need the system scored with every subset of oracle stages
#: (2 ** m runs); above this many oracle stages the Shapley columns are left empty.
MAX_SHAPLEY_STAGES = 8
#: Bootstrap index cells drawn at once (replicates x rows), to bound memory.
_BOOT_CELLS = 2_000_000


class StageError(ToolkitError, RuntimeError):
    """A stage function raised while the chain was run."""


@dataclass(frozen=True)
class Stage:
    """One stage of a chained system.

    Parameters
    ----------
    name : str
        Unique within the chain; the key of the stage's outputs in ``upstream`` and
        in ``oracles``.
    fn : callable
        ``fn(inputs, upstream) -> outputs``, vectorised over rows. ``inputs`` is the
        object given to :func:`analyze_chain`, passed unchanged; ``upstream`` is a dict
        of the outputs of every earlier stage by name (read-only numpy arrays with one
        row per input row). ``outputs`` is array-like with one row per input row
        (shape (n_samples,) or (n_samples, ...)). The last stage's outputs are the
        system's predictions. ``fn`` must not mutate ``inputs``.

    Examples
    --------
    >>> import numpy as np
    >>> double = Stage("double", lambda x, up: 2 * np.asarray(x))
    >>> plus_one = Stage("plus_one", lambda x, up: up["double"] + 1)
    """

    name: str
    fn: Callable[[Any, Mapping[str, np.ndarray]], Any]

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ToolkitTypeError(f"a stage name must be a non-empty str, got {self.name!r}")
        if not callable(self.fn):
            raise ToolkitTypeError(
                f"stage {self.name!r}: fn must be callable as fn(inputs, upstream), "
                f"got {type(self.fn).__name__}"
            )


# ---------------------------------------------------------------------------- metrics


def _as_rows(value: Any) -> np.ndarray:
    """A numpy array with rows first; text becomes object so values are never truncated."""
    if isinstance(value, pd.DataFrame | pd.Series | pd.Index):
        arr = value.to_numpy()
    elif isinstance(value, pd.api.extensions.ExtensionArray):
        arr = value.to_numpy()
    else:
        arr = np.asarray(value)
    if arr.dtype.kind in "US":
        arr = arr.astype(object)
    return arr


def _row_equal(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per row: all entries equal (NaN never equals anything)."""
    eq = np.asarray(a == b, dtype=bool)
    if eq.ndim > 1:
        eq = eq.reshape(eq.shape[0], -1).all(axis=1)
    return eq


def _row_mean(values: np.ndarray) -> np.ndarray:
    return values.reshape(values.shape[0], -1).mean(axis=1) if values.ndim > 1 else values


# A metric is split in ``prepare(y, p) -> state``, run once per prediction vector, and
# ``boot(state, idx) -> values``, run on a block of bootstrap replicates (``idx`` has
# one row of resampled row positions per replicate), so that nothing per row is redone
# per replicate.
_Boot = Callable[[Any, np.ndarray], np.ndarray]


def _mean_of(rows: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return rows[idx].mean(axis=1)


def _numeric(y: np.ndarray, p: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        return np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ToolkitTypeError(f"metric {name!r} needs numbers: {exc}") from None


def _abs_error(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    yf, pf = _numeric(y, p, "mae")
    return _row_mean(np.abs(yf - pf))


def _sq_error(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    yf, pf = _numeric(y, p, "mse")
    return _row_mean((yf - pf) ** 2)


def _r2_prepare(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    yf, pf = _numeric(y, p, "r2")
    if yf.ndim > 1:
        raise ValidationError(f"metric 'r2' needs one output per row, got shape {yf.shape}")
    return yf, (yf - pf) ** 2


def _r2_boot(state: tuple[np.ndarray, np.ndarray], idx: np.ndarray) -> np.ndarray:
    yf, sq = state
    yy = yf[idx]
    res = sq[idx].sum(axis=1)
    tot = ((yy - yy.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tot > 0, 1.0 - res / tot, np.nan)


def _label_codes(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    if y.ndim > 1 or p.ndim > 1:
        raise ValidationError(f"this metric needs one label per row, got shape {p.shape}")
    n = y.shape[0]
    codes, uniques = pd.factorize(
        np.concatenate([y.astype(object), p.astype(object)]), use_na_sentinel=False
    )
    return codes[:n], codes[n:], len(uniques)


def _class_counts(
    state: tuple[np.ndarray, np.ndarray, int], idx: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per replicate and class: true positives, true count, predicted count.

    Three bincounts of (replicates x classes) cells, never a classes x classes matrix,
    so many classes cost no more memory than a few.
    """
    t, q, k = state
    c = idx.shape[0]
    offsets = (np.arange(c) * k)[:, None]
    tt = (t[idx] + offsets).ravel()
    hit = (t == q)[idx].ravel().astype(float)
    tp = np.bincount(tt, weights=hit, minlength=c * k).reshape(c, k)
    true_n = np.bincount(tt, minlength=c * k).reshape(c, k).astype(float)
    pred_n = np.bincount((q[idx] + offsets).ravel(), minlength=c * k).reshape(c, k)
    return tp, true_n, pred_n.astype(float)


def _f1_macro_boot(state: tuple[np.ndarray, np.ndarray, int], idx: np.ndarray) -> np.ndarray:
    tp, true_n, pred_n = _class_counts(state, idx)
    # scikit-learn's default labels: every class seen in y_true or y_pred
    present = (true_n + pred_n) > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(present, 2 * tp / (true_n + pred_n), 0.0)
    return f1.sum(axis=1) / present.sum(axis=1)


def _balanced_accuracy_boot(
    state: tuple[np.ndarray, np.ndarray, int], idx: np.ndarray
) -> np.ndarray:
    tp, true_n, _ = _class_counts(state, idx)
    present = true_n > 0  # scikit-learn: mean recall over the classes of y_true
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(present, tp / true_n, 0.0)
    return recall.sum(axis=1) / present.sum(axis=1)


@dataclass(frozen=True)
class _Metric:
    name: str
    greater_is_better: bool
    prepare: Callable[[np.ndarray, np.ndarray], Any]
    boot: _Boot

    def values(self, state: Any, idx: np.ndarray) -> np.ndarray:
        """The metric on every bootstrap replicate (one row of ``idx`` each)."""
        return self.boot(state, idx)

    def score(self, y: np.ndarray, p: np.ndarray) -> float:
        if y.shape[0] == 0:
            return float("nan")
        return float(self.boot(self.prepare(y, p), np.arange(y.shape[0])[None, :])[0])


def _rows(rowfn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Callable[..., np.ndarray]:
    return lambda y, p: np.asarray(rowfn(y, p), dtype=float)


def _rmse_boot(rows: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return np.sqrt(_mean_of(rows, idx))


#: Metrics known by name and whether larger is better.
CHAIN_METRICS: dict[str, _Metric] = {
    "accuracy": _Metric("accuracy", True, _rows(_row_equal), _mean_of),
    "error_rate": _Metric("error_rate", False, _rows(lambda y, p: ~_row_equal(y, p)), _mean_of),
    "balanced_accuracy": _Metric("balanced_accuracy", True, _label_codes, _balanced_accuracy_boot),
    "f1_macro": _Metric("f1_macro", True, _label_codes, _f1_macro_boot),
    "mae": _Metric("mae", False, _abs_error, _mean_of),
    "mse": _Metric("mse", False, _sq_error, _mean_of),
    "rmse": _Metric("rmse", False, _sq_error, _rmse_boot),
    "r2": _Metric("r2", True, _r2_prepare, _r2_boot),
}


def _callable_metric(fn: Callable[[Any, Any], float], greater_is_better: bool) -> _Metric:
    label = getattr(fn, "__name__", None) or type(fn).__name__

    def boot(state: tuple[np.ndarray, np.ndarray], idx: np.ndarray) -> np.ndarray:
        y, p = state
        out = np.empty(idx.shape[0])
        for b, rows in enumerate(idx):
            try:
                out[b] = float(fn(y[rows], p[rows]))
            except ToolkitError:
                raise
            except Exception as exc:
                raise ValidationError(
                    f"metric {label!r} raised {type(exc).__name__}: {exc}"
                ) from exc
        return out

    return _Metric(label, greater_is_better, lambda y, p: (y, p), boot)


def _resolve_metric(metric: Any, greater_is_better: bool | None, what: str) -> _Metric:
    if isinstance(metric, str):
        known = CHAIN_METRICS.get(metric)
        if known is None:
            raise ValidationError(
                f"unknown {what} {metric!r}; use a callable metric(y_true, y_pred) or one of "
                f"{sorted(CHAIN_METRICS)}"
            )
        if greater_is_better is not None and greater_is_better != known.greater_is_better:
            raise ValidationError(
                f"{what} {metric!r} is {'higher' if known.greater_is_better else 'lower'}"
                f"-is-better; greater_is_better={greater_is_better} contradicts it"
            )
        return known
    if callable(metric):
        return _callable_metric(metric, True if greater_is_better is None else greater_is_better)
    raise ToolkitTypeError(
        f"{what} must be a metric name or a callable metric(y_true, y_pred), "
        f"got {type(metric).__name__}"
    )


# ------------------------------------------------------------------------- the chain


@dataclass(frozen=True)
class _Oracle:
    values: np.ndarray
    avail: np.ndarray  # bool, rows that have an oracle value

    @property
    def full(self) -> bool:
        return bool(self.avail.all())


def _oracle(name: str, value: Any, n: int) -> _Oracle:
    if isinstance(value, np.ma.MaskedArray):
        values = _as_rows(value.data)
        missing = np.ma.getmaskarray(value)
    else:
        values = _as_rows(value)
        missing = np.asarray(pd.isna(values), dtype=bool) if values.ndim else np.zeros(0, bool)
    if values.ndim == 0 or values.shape[0] != n:
        got = "a scalar" if values.ndim == 0 else f"{values.shape[0]} rows"
        raise LengthMismatchError(
            f"the oracle of stage {name!r} has {got} but y_true has {n} rows; an oracle needs "
            "one value per row (NaN/None, or a masked entry, where the truth is unknown)"
        )
    if missing.ndim > 1:
        missing = missing.reshape(n, -1).any(axis=1)
    avail = ~missing
    if not avail.any():
        raise ValidationError(f"the oracle of stage {name!r} has no value: all {n} rows missing")
    return _Oracle(values, avail)


def _plug(name: str, own: np.ndarray, oracle: _Oracle) -> np.ndarray:
    """``own`` with the rows that have an oracle value replaced by it."""
    take = oracle.values[oracle.avail]
    if own.shape[1:] != take.shape[1:]:
        raise ValidationError(
            f"stage {name!r} outputs rows of shape {own.shape[1:]} but its oracle has rows of "
            f"shape {take.shape[1:]}"
        )
    dtype: Any = own.dtype
    if take.dtype != own.dtype:
        # keep the stage's own dtype when the oracle values fit it exactly (an oracle
        # with missing rows arrives as float or object even when the labels are ints)
        try:
            cast = take.astype(own.dtype)
            fits = bool(_row_equal(cast, take).all())
        except (TypeError, ValueError):
            fits = False
        if fits:
            take = cast
        elif own.dtype.kind in "biuf" and take.dtype.kind in "biuf":
            dtype = np.result_type(own.dtype, take.dtype)
        else:
            dtype = object
    out = own.astype(dtype, copy=True)
    out[oracle.avail] = take
    return out


class _Chain:
    """Runs the stages with any subset of them replaced by their oracles (memoised)."""

    def __init__(
        self, stages: Sequence[Stage], inputs: Any, n: int, oracles: Mapping[int, _Oracle]
    ) -> None:
        self.stages = stages
        self.inputs = inputs
        self.n = n
        self.oracles = oracles
        self._cache: dict[tuple[int, frozenset[int], bool], np.ndarray] = {}
        self.calls = 0

    def outputs(self, replaced: frozenset[int]) -> list[np.ndarray]:
        """Every stage's outputs with the stages in ``replaced`` given their oracle."""
        outs: list[np.ndarray] = []
        for j, stage in enumerate(self.stages):
            before = frozenset(i for i in replaced if i < j)
            key = (j, before, j in replaced)
            if key not in self._cache:
                oracle = self.oracles.get(j) if j in replaced else None
                if oracle is not None and oracle.full:
                    out = oracle.values
                else:
                    own_key = (j, before, False)
                    if own_key not in self._cache:
                        self._cache[own_key] = self._call(j, outs, before)
                    out = self._cache[own_key]
                    if oracle is not None:
                        out = _plug(stage.name, out, oracle)
                out = out.view()
                out.flags.writeable = False  # cached and shared by later runs
                self._cache[key] = out
            outs.append(self._cache[key])
        return outs

    def _call(self, j: int, outs: list[np.ndarray], before: frozenset[int]) -> np.ndarray:
        stage = self.stages[j]
        upstream = {self.stages[i].name: outs[i] for i in range(j)}
        self.calls += 1
        try:
            result = stage.fn(self.inputs, upstream)
        except ToolkitError:
            raise
        except Exception as exc:
            where = ""
            if before:
                names = [self.stages[i].name for i in sorted(before)]
                where = f" (with the oracle outputs of {names} plugged in upstream)"
            raise StageError(
                f"stage {stage.name!r} raised {type(exc).__name__}: {exc}{where}"
            ) from exc
        out = _as_rows(result)
        if out.ndim == 0 or out.shape[0] != self.n:
            got = f"a {type(result).__name__} scalar" if out.ndim == 0 else f"{out.shape[0]} rows"
            raise LengthMismatchError(
                f"stage {stage.name!r} returned {got} for {self.n} input rows; a stage must "
                "return one output per row"
            )
        return out


@dataclass
class _Setup:
    stages: list[Stage]
    y: np.ndarray
    n: int
    chain: _Chain
    oracle_stages: list[int]  # chain order; always ends with the last stage (oracle y_true)
    oracles: dict[int, _Oracle]


def _setup(stages: Any, inputs: Any, y_true: Any, oracles: Any) -> _Setup:
    if isinstance(stages, Stage | str) or not isinstance(stages, Sequence):
        raise ToolkitTypeError(
            f"stages must be a list of toolkit.Stage, got {type(stages).__name__}"
        )
    stages = list(stages)
    if not stages:
        raise EmptyInputError("stages is empty: give at least one toolkit.Stage")
    for i, stage in enumerate(stages):
        if not isinstance(stage, Stage):
            raise ToolkitTypeError(
                f"stages[{i}] must be a toolkit.Stage(name, fn), got {type(stage).__name__}"
            )
    names = [s.name for s in stages]
    dup = sorted({x for x in names if names.count(x) > 1})
    if dup:
        raise ValidationError(f"stage names must be unique; repeated: {dup}")

    y = _as_rows(y_true)
    if y.ndim == 0:
        raise ToolkitTypeError(f"y_true must be array-like, got {type(y_true).__name__}")
    n = y.shape[0]
    if n == 0:
        raise EmptyInputError("y_true is empty")
    missing = np.asarray(pd.isna(y), dtype=bool)
    if missing.any():
        raise InvalidValueError(
            f"y_true has {int(missing.reshape(n, -1).any(axis=1).sum())} missing value(s), "
            f"e.g. at row {int(np.flatnonzero(missing.reshape(n, -1).any(axis=1))[0])}; "
            "score the system on rows with a known truth"
        )
    if isinstance(inputs, np.ndarray | pd.DataFrame | pd.Series) and len(inputs) != n:
        raise LengthMismatchError(f"inputs has {len(inputs)} rows but y_true has {n}")

    if not isinstance(oracles, Mapping):
        raise ToolkitTypeError(
            f"oracles must be a mapping of stage name to true outputs, got {type(oracles).__name__}"
        )
    unknown = [k for k in oracles if k not in names]
    if unknown:
        raise ValidationError(f"oracles name unknown stage(s) {unknown}; the stages are {names}")
    last = len(stages) - 1
    if names[last] in oracles:
        raise ValidationError(
            f"the last stage {names[last]!r} needs no oracle: its truth is y_true; leave it "
            "out of oracles"
        )
    parsed = {names.index(k): _oracle(k, v, n) for k, v in oracles.items()}
    parsed[last] = _Oracle(y, np.ones(n, dtype=bool))
    order = sorted(parsed)
    chain = _Chain(stages, inputs, n, parsed)
    plain = chain.outputs(frozenset())
    for j in order:
        if plain[j].shape[1:] != parsed[j].values.shape[1:]:
            truth = "y_true" if j == last else "its oracle"
            raise ValidationError(
                f"stage {names[j]!r} outputs rows of shape {plain[j].shape[1:]} but {truth} "
                f"has rows of shape {parsed[j].values.shape[1:]}"
            )
    return _Setup(stages, y, n, chain, order, parsed)


def _rows_with(setup: _Setup, members: Sequence[int]) -> np.ndarray:
    mask = np.ones(setup.n, dtype=bool)
    for j in members:
        mask &= setup.oracles[j].avail
    return mask


def _trace(setup: _Setup) -> tuple[pd.DataFrame, int, int]:
    """First wrong stage of every system error, on rows where every oracle is known."""
    rows = _rows_with(setup, setup.oracle_stages)
    plain = setup.chain.outputs(frozenset())
    wrong = np.stack(
        [~_row_equal(plain[j][rows], setup.oracles[j].values[rows]) for j in setup.oracle_stages]
    )  # (oracle stages, rows)
    system_error = wrong[-1]
    n_errors = int(system_error.sum())
    first = np.argmax(wrong[:, system_error], axis=0)  # the last stage is wrong on each error
    started = np.bincount(first, minlength=len(setup.oracle_stages))
    with np.errstate(invalid="ignore", divide="ignore"):
        share = started / n_errors if n_errors else np.full(started.shape, np.nan)
    table = pd.DataFrame(
        {
            "stage": [setup.stages[j].name for j in setup.oracle_stages],
            "errors_started": started.astype(int),
            "share_of_errors_started": share.astype(float),
            "wrong_in_errors": wrong[:, system_error].sum(axis=1).astype(int),
            "recovered": wrong[:, ~system_error].sum(axis=1).astype(int),
        },
        columns=TRACE_COLUMNS,
    )
    return table, int(rows.sum()), n_errors


# -------------------------------------------------------------------------- public API


def trace_chain_errors(
    stages: Sequence[Stage],
    inputs: Any,
    y_true: Any,
    *,
    oracles: Mapping[str, Any],
) -> pd.DataFrame:
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
    DataFrame
        One row per stage with an oracle, then the last stage, in chain order:
        ``stage``, ``errors_started`` (system errors whose first wrong stage is this
        one), ``share_of_errors_started`` (of all traced system errors; the column sums
        to 1), ``wrong_in_errors`` (system errors where this stage was wrong, first or
        not), ``recovered`` (rows where this stage was wrong yet the system was right).
        ``attrs`` holds ``n`` (rows traced) and ``n_errors``.
    """
    setup = _setup(stages, inputs, y_true, oracles)
    table, n_rows, n_errors = _trace(setup)
    table.attrs.update({"n": n_rows, "n_errors": n_errors})
    return table


def _shapley_weights(m: int) -> tuple[list[frozenset[int]], np.ndarray]:
    """All subsets of range(m) and the matrix W with phi = v @ W (v: one score per subset)."""
    subsets = [frozenset(c) for size in range(m + 1) for c in combinations(range(m), size)]
    position = {s: i for i, s in enumerate(subsets)}
    weights = np.zeros((len(subsets), m))
    for s in subsets:
        if len(s) == m:
            continue
        w = math.factorial(len(s)) * math.factorial(m - len(s) - 1) / math.factorial(m)
        for i in range(m):
            if i not in s:
                weights[position[s | {i}], i] += w
                weights[position[s], i] -= w
    return subsets, weights


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
) -> pd.DataFrame:
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
    DataFrame
        One ``kind="single"`` row per stage with an oracle (chain order; stage k alone
        replaced), then one ``kind="cumulative"`` row per such stage (stages 1..k
        replaced: the ceiling table). Columns:

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

        ``attrs`` holds ``metric``, ``greater_is_better``, ``n``, ``system_score``
        (all rows), ``independence_estimate`` (the product of the stage scores: the
        system accuracy if stage errors were independent; only when every score is an
        accuracy, else None), ``independence_gap_pp`` (100 × (measured − estimate):
        positive when errors overlap on the same rows, so the product is too
        pessimistic; negative when they compound), ``n_complete`` (rows with every
        oracle), ``n_errors_traced``, ``n_boot``, ``random_state``,
        ``stages_without_oracle``, ``stage_calls`` and ``notes``. See
        :func:`chain_summary`.

    Raises
    ------
    ValidationError
        Unknown stage names in ``oracles``, an oracle for the last stage, an unknown
        metric, an oracle with no known value.
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
    >>> table = analyze_chain([detect, label], x, x % 3, oracles={"detect": x}, n_boot=0)
    >>> table[["stage", "kind", "system_score", "system_score_with_oracle", "gain_pp"]]
        stage        kind  system_score  system_score_with_oracle  gain_pp
    0  detect      single           0.8                       1.0     20.0
    1   label      single           0.8                       1.0     20.0
    2  detect  cumulative           0.8                       1.0     20.0
    3   label  cumulative           0.8                       1.0     20.0
    """
    setup = _setup(stages, inputs, y_true, oracles)
    system_metric = _resolve_metric(metric, greater_is_better, "metric")
    if not isinstance(n_boot, int | np.integer) or isinstance(n_boot, bool) or n_boot < 0:
        raise ValidationError(f"n_boot must be a non-negative integer, got {n_boot!r}")
    names = [s.name for s in setup.stages]
    stage_metrics = dict(stage_metrics or {})
    unknown = [k for k in stage_metrics if k not in names]
    if unknown:
        raise ValidationError(
            f"stage_metrics name unknown stage(s) {unknown}; the stages are {names}"
        )
    last = len(setup.stages) - 1
    order = setup.oracle_stages
    m = len(order)
    per_stage = {
        j: system_metric
        if j == last
        else _resolve_metric(stage_metrics.get(names[j], "accuracy"), None, "stage metric")
        for j in order
    }
    chain = setup.chain
    y = setup.y
    sign = 1.0 if system_metric.greater_is_better else -1.0

    def system_pred(replaced: frozenset[int]) -> np.ndarray:
        return chain.outputs(replaced)[last]

    # Each table row compares the system under a few replacement sets on one set of
    # rows; rows that share a row set share bootstrap draws (paired resampling).
    groups: dict[bytes, dict[str, Any]] = {}

    def request(mask: np.ndarray, replaced: frozenset[int]) -> tuple[bytes, int]:
        key = mask.tobytes()
        group = groups.setdefault(key, {"mask": mask, "sets": []})
        if replaced not in group["sets"]:
            group["sets"].append(replaced)
        return key, group["sets"].index(replaced)

    rows: list[dict[str, Any]] = []
    plan: list[tuple[tuple[bytes, int], tuple[bytes, int], tuple[bytes, int] | None]] = []
    stage_scores: dict[int, float] = {}
    for pos, j in enumerate(order):
        mask = _rows_with(setup, order[: pos + 1])
        upstream = chain.outputs(frozenset(order[:pos]))
        oracle = setup.oracles[j]
        stage_scores[j] = per_stage[j].score(oracle.values[mask], upstream[j][mask])
    for kind in ("single", "cumulative"):
        for pos, j in enumerate(order):
            members = [j] if kind == "single" else order[: pos + 1]
            mask = _rows_with(setup, members)
            base = request(mask, frozenset())
            target = request(mask, frozenset(members))
            previous = request(mask, frozenset(order[:pos])) if kind == "cumulative" else None
            plan.append((base, target, previous))
            rows.append(
                {
                    "stage": names[j],
                    "kind": kind,
                    "replaced": " + ".join(names[i] for i in members),
                    "n": int(mask.sum()),
                    "stage_score": stage_scores[j],
                }
            )

    rng = np.random.default_rng(random_state)
    for group in groups.values():
        mask = group["mask"]
        y_rows = y[mask]
        preds = [system_pred(s)[mask] for s in group["sets"]]
        group["point"] = np.array([system_metric.score(y_rows, p) for p in preds])
        group["boot"] = _bootstrap(system_metric, y_rows, preds, n_boot, rng)

    for row, (base, target, previous) in zip(rows, plan):
        point = groups[base[0]]["point"]
        boot = groups[base[0]]["boot"]
        row["system_score"] = float(point[base[1]])
        row["system_score_with_oracle"] = float(point[target[1]])
        row["gain_pp"] = 100.0 * sign * float(point[target[1]] - point[base[1]])
        gains = 100.0 * sign * (boot[:, target[1]] - boot[:, base[1]])
        row["ci_low"], row["ci_high"] = _percentile_interval(gains)
        row["step_gain_pp"] = (
            np.nan
            if previous is None
            else 100.0 * sign * float(point[target[1]] - point[previous[1]])
        )

    notes: dict[str, str] = {}
    complete = _rows_with(setup, order)
    n_complete = int(complete.sum())
    shapley = np.full(m, np.nan)
    if m > MAX_SHAPLEY_STAGES:
        notes["shapley"] = (
            f"{m} oracle stages: exact Shapley values need 2**{m} runs of the chain; "
            f"left empty above {MAX_SHAPLEY_STAGES}"
        )
    elif n_complete == 0:
        notes["shapley"] = "no row has every oracle, so Shapley values are left empty"
    else:
        subsets, weights = _shapley_weights(m)
        values = np.array(
            [
                system_metric.score(
                    y[complete], system_pred(frozenset(order[i] for i in s))[complete]
                )
                for s in subsets
            ]
        )
        shapley = 100.0 * sign * (values @ weights)
    total = np.nansum(shapley) if np.isfinite(shapley).all() else np.nan
    trace, n_traced, n_errors = _trace(setup) if n_complete else (None, 0, 0)
    for pos, row in enumerate(rows[:m]):
        row["shapley_pp"] = float(shapley[pos])
        row["shapley_share"] = float(shapley[pos] / total) if total else np.nan
        if trace is not None:
            row["errors_started"] = int(trace["errors_started"].iloc[pos])
            row["share_of_errors_started"] = float(trace["share_of_errors_started"].iloc[pos])

    table = pd.DataFrame(rows).reindex(columns=CHAIN_COLUMNS)
    table["errors_started"] = table["errors_started"].astype("Int64")
    float_cols = [c for c in CHAIN_COLUMNS if c not in ("stage", "kind", "replaced", "n")]
    float_cols.remove("errors_started")
    table[float_cols] = table[float_cols].astype(float)

    measured = system_metric.score(y, system_pred(frozenset()))
    independent = None
    if all(per_stage[j].name == "accuracy" for j in order):
        independent = float(np.prod([stage_scores[j] for j in order]))
    else:
        notes["independence_estimate"] = (
            "the product of stage scores is the independence estimate of accuracy only; "
            "some stage or the system is scored with another metric"
        )
    if any(not setup.oracles[j].full for j in order):
        notes["partial_oracles"] = (
            "some oracles are partial: each row is scored on the rows where its replaced "
            "stages have an oracle value (column n), Shapley values and the error trace "
            "on rows where every oracle is known"
        )
    table.attrs.update(
        {
            "metric": system_metric.name,
            "greater_is_better": system_metric.greater_is_better,
            "n": setup.n,
            "system_score": measured,
            "independence_estimate": independent,
            "independence_gap_pp": None
            if independent is None
            else 100.0 * (measured - independent),
            "n_complete": n_complete,
            "n_errors_traced": n_errors,
            "n_boot": int(n_boot),
            "random_state": random_state,
            "stages_without_oracle": [names[j] for j in range(len(names)) if j not in order],
            "stage_calls": chain.calls,
            "notes": notes,
        }
    )
    return table


def _bootstrap(
    metric: _Metric,
    y: np.ndarray,
    preds: list[np.ndarray],
    n_boot: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Metric of every prediction vector on ``n_boot`` shared resamples of the rows."""
    n = y.shape[0]
    out = np.full((n_boot, len(preds)), np.nan)
    if n == 0 or n_boot == 0:
        return out
    states = [metric.prepare(y, pred) for pred in preds]
    chunk = max(1, min(n_boot, _BOOT_CELLS // n))
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        idx = rng.integers(0, n, size=(stop - start, n))
        for k, state in enumerate(states):
            out[start:stop, k] = metric.values(state, idx)
    return out


def _percentile_interval(values: np.ndarray) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return float("nan"), float("nan")
    low, high = np.percentile(finite, [2.5, 97.5])
    return float(low), float(high)


def chain_summary(table: pd.DataFrame) -> dict[str, Any]:
    """The JSON-safe summary that :func:`analyze_chain` keeps in ``table.attrs``.

    Parameters
    ----------
    table : DataFrame
        A result of :func:`analyze_chain`.

    Returns
    -------
    dict
        ``metric``, ``greater_is_better``, ``n``, ``system_score``,
        ``independence_estimate``, ``independence_gap_pp``, ``n_complete``,
        ``n_errors_traced``, ``n_boot``, ``random_state``, ``stages_without_oracle``,
        ``stage_calls``, ``notes`` (NaN becomes None).
    """
    if not isinstance(table, pd.DataFrame):
        raise ToolkitTypeError(f"table must be a DataFrame, got {type(table).__name__}")
    return json_safe(dict(table.attrs))


def chain_section(
    chain: pd.DataFrame | Mapping[str, Any], y_true: Any, *, random_state: int | None = 0
) -> pd.DataFrame:
    """What ``diagnose(p, chain=...)`` runs: a finished table, or the arguments of one.

    Parameters
    ----------
    chain : DataFrame or mapping
        A result of :func:`analyze_chain` (returned unchanged), or a mapping with the
        keys ``stages``, ``inputs``, ``oracles`` and optionally ``y_true`` (default:
        the ``y_true`` given here), ``metric``, ``greater_is_better``,
        ``stage_metrics``, ``n_boot``.
    y_true : array-like of shape (n_samples,)
        Truth of the system's output (``p.y_true`` in ``diagnose``).
    random_state : int or None, default=0

    Returns
    -------
    DataFrame
        The table of :func:`analyze_chain`; :func:`chain_summary` gives its summary.
    """
    if isinstance(chain, pd.DataFrame):
        missing = [c for c in ("stage", "kind", "gain_pp") if c not in chain.columns]
        if missing:
            raise ValidationError(
                f"chain table lacks column(s) {missing}; pass a result of analyze_chain"
            )
        return chain
    if not isinstance(chain, Mapping):
        raise ToolkitTypeError(
            "chain must be a result of analyze_chain or a mapping with keys 'stages', "
            f"'inputs', 'oracles'; got {type(chain).__name__}"
        )
    allowed = {"stages", "inputs", "oracles", "y_true", "metric", "greater_is_better"}
    allowed |= {"stage_metrics", "n_boot"}
    missing = [k for k in ("stages", "inputs", "oracles") if k not in chain]
    extra = sorted(set(chain) - allowed)
    if missing or extra:
        raise ValidationError(
            f"chain mapping: missing key(s) {missing}, unknown key(s) {extra}; "
            f"allowed keys are {sorted(allowed)}"
        )
    options = {k: chain[k] for k in chain if k not in ("stages", "inputs", "y_true")}
    return analyze_chain(
        chain["stages"],
        chain["inputs"],
        chain.get("y_true", y_true),
        random_state=random_state,
        **options,
    )
