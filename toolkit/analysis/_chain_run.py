"""Stages, oracles and running a chain with any subset of stages replaced by its oracle.

Also the error trace (the first wrong stage of every system error), which needs only
the chain run as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from toolkit._validation import CALLABLE, NON_EMPTY_STR, validate_params
from toolkit.analysis._chain_metrics import as_rows, row_equal
from toolkit.exceptions import (
    EmptyInputError,
    InvalidValueError,
    LengthMismatchError,
    ToolkitError,
    ToolkitTypeError,
    ValidationError,
)

__all__ = [
    "STAGE_LIST",
    "TRACE_COLUMNS",
    "ChainSetup",
    "Stage",
    "StageError",
    "rows_with",
    "setup_chain",
    "trace",
]

#: Columns of ``trace_chain_errors``, in order.
TRACE_COLUMNS = [
    "stage",
    "errors_started",
    "share_of_errors_started",
    "wrong_in_errors",
    "recovered",
]


class StageError(ToolkitError, RuntimeError):
    """A stage function raised while the chain was run."""


@dataclass(frozen=True, init=False)
class Stage:
    """One stage of a chained system.

    Parameters
    ----------
    name : str
        Unique within the chain; the key of the stage's outputs in ``upstream`` and
        in ``oracles``.
    fn : callable
        ``fn(inputs, upstream) -> outputs``, vectorised over rows. ``inputs`` is the
        object given to ``analyze_chain``, passed unchanged; ``upstream`` is a dict
        of the outputs of every earlier stage by name (read-only numpy arrays with one
        row per input row). ``outputs`` is array-like with one row per input row
        (shape (n_samples,) or (n_samples, ...)). The last stage's outputs are the
        system's predictions. ``fn`` must not mutate ``inputs``.

    Examples
    --------
    >>> import numpy as np
    >>> double = Stage("double", lambda x, up: 2 * np.asarray(x))
    >>> plus_one = Stage("plus_one", lambda x, up: up["double"] + 1)
    >>> plus_one.name
    'plus_one'
    """

    name: str
    fn: Callable[[Any, Mapping[str, np.ndarray]], Any]

    @validate_params({"name": [NON_EMPTY_STR], "fn": [CALLABLE]})
    def __init__(self, name: str, fn: Callable[[Any, Mapping[str, np.ndarray]], Any]) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "fn", fn)


class _StageList:
    """Parameter constraint (see ``toolkit._validation``): a list or tuple of Stage."""

    def accepts_type(self, value: Any) -> bool:
        return (
            isinstance(value, Sequence)
            and not isinstance(value, str)
            and all(isinstance(stage, Stage) for stage in value)
        )

    def __contains__(self, value: Any) -> bool:
        return True

    def __str__(self) -> str:
        return "a list of toolkit.Stage"

    def outside(self) -> Any:
        return None


#: The constraint of a ``stages`` parameter.
STAGE_LIST = _StageList()


@dataclass(frozen=True)
class _Oracle:
    values: np.ndarray
    avail: np.ndarray  # bool, rows that have an oracle value

    @property
    def full(self) -> bool:
        return bool(self.avail.all())


def _oracle(name: str, value: Any, n: int) -> _Oracle:
    if isinstance(value, np.ma.MaskedArray):
        values = as_rows(value.data)
        missing = np.ma.getmaskarray(value)
    else:
        values = as_rows(value)
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
            fits = bool(row_equal(cast, take).all())
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
        out = as_rows(result)
        if out.ndim == 0 or out.shape[0] != self.n:
            got = f"a {type(result).__name__} scalar" if out.ndim == 0 else f"{out.shape[0]} rows"
            raise LengthMismatchError(
                f"stage {stage.name!r} returned {got} for {self.n} input rows; a stage must "
                "return one output per row"
            )
        return out


@dataclass
class ChainSetup:
    """A checked chain: its stages, the truth, the runner and the parsed oracles."""

    stages: list[Stage]
    y: np.ndarray
    n: int
    chain: _Chain
    oracle_stages: list[int]  # chain order; always ends with the last stage (oracle y_true)
    oracles: dict[int, _Oracle]


def _truth(y_true: Any, inputs: Any) -> np.ndarray:
    y = as_rows(y_true)
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
    return y


def setup_chain(
    stages: Sequence[Stage], inputs: Any, y_true: Any, oracles: Mapping[str, Any]
) -> ChainSetup:
    """Check the chain against the truth and its oracles, and run it once as it is.

    The types are checked by the public functions' ``validate_params``; this checks
    what depends on the data (names, lengths, shapes, missing values).
    """
    stages = list(stages)
    if not stages:
        raise EmptyInputError("stages is empty: give at least one toolkit.Stage")
    names = [s.name for s in stages]
    dup = sorted({x for x in names if names.count(x) > 1})
    if dup:
        raise ValidationError(f"stage names must be unique; repeated: {dup}")
    y = _truth(y_true, inputs)
    n = y.shape[0]
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
    return ChainSetup(stages, y, n, chain, order, parsed)


def rows_with(setup: ChainSetup, members: Sequence[int]) -> np.ndarray:
    """Rows where every stage in ``members`` has an oracle value."""
    mask = np.ones(setup.n, dtype=bool)
    for j in members:
        mask &= setup.oracles[j].avail
    return mask


def trace(setup: ChainSetup) -> tuple[pd.DataFrame, int, int]:
    """First wrong stage of every system error, on rows where every oracle is known.

    Returns the table (:data:`TRACE_COLUMNS`), the rows traced and the system errors.
    """
    rows = rows_with(setup, setup.oracle_stages)
    plain = setup.chain.outputs(frozenset())
    wrong = np.stack(
        [~row_equal(plain[j][rows], setup.oracles[j].values[rows]) for j in setup.oracle_stages]
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
