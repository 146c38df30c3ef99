"""Conditions on one column and patterns (their conjunctions), as frozen objects.

A :class:`Condition` is the atom of a slice, an error pattern and a cluster rule: it
knows its rows (:meth:`Condition.mask`), its readable label and its JSON form
``{"column", "op", "value"}``. A :class:`Pattern` is a conjunction of conditions.

>>> import pandas as pd
>>> frame = pd.DataFrame({"age": [20, 30, 40, None], "sex": ["F", "M", "F", "F"]})
>>> c = Condition("age", "in [)", (25.0, 45.0))
>>> c.label, c.mask(frame).tolist()
('age ∈ [25, 45)', [False, True, True, False])
>>> p = Pattern((c, Condition("sex", "==", "F")))
>>> p.label, p.mask(frame).tolist()
('age ∈ [25, 45) ∧ sex = F', [False, False, True, False])
>>> p.to_dict()[1]
{'column': 'sex', 'op': '==', 'value': 'F'}
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from toolkit._json import to_python
from toolkit.exceptions import ColumnNotFoundError, ToolkitTypeError, ValidationError

__all__ = ["OPS", "Condition", "Pattern", "format_number", "format_value", "pattern_masks"]

#: Interval operators: (left bound closed, right bound closed).
INTERVALS = {
    "in [)": (True, False),
    "in (]": (False, True),
    "in []": (True, True),
    "in ()": (False, False),
}
#: Every operator a condition may carry.
OPS = ("==", "not in", "is missing", "not missing", "<", "<=", ">", ">=", *INTERVALS)
_COMPARE = {"<": "<", "<=": "≤", ">": ">", ">=": "≥"}


def format_number(value: Any) -> str:
    """A short, exact-enough rendering: 28, 0.125, 1.5e+06 (the label is the exact rule).

    >>> format_number(28.0), format_number(0.125), format_number(1/3)
    ('28', '0.125', '0.3333333333333333')
    """
    v = float(value)
    if math.isfinite(v) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    text = f"{v:.6g}"
    return text if float(text) == v else repr(v)


def format_value(value: Any) -> str:
    """A category or a number as a label shows it."""
    if isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    ):
        return format_number(value)
    return str(value)


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


@dataclass(frozen=True)
class Condition:
    """Rows whose ``column`` satisfies ``op`` against ``value``.

    Parameters
    ----------
    column : str
    op : str
        One of :data:`OPS`. Intervals (``"in [)"`` and the like) take ``value=(lo, hi)``;
        ``"not in"`` a tuple of values; ``"is missing"`` and ``"not missing"`` None.
    value : object
    text : str, default=None
        The label to show instead of the derived one (e.g. "workclass = (other)" for
        the values outside the kept categories); it does not change the rows.
    """

    column: str
    op: str
    value: Any = None
    text: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValidationError(f"unknown condition op {self.op!r}; ops are {list(OPS)}")
        value = self.value
        if self.op in INTERVALS or self.op == "not in":
            if isinstance(value, str) or not isinstance(value, Iterable):
                raise ToolkitTypeError(
                    f"condition {self.column!r} {self.op!r} needs a list of values, got {value!r}"
                )
            value = tuple(to_python(v) for v in value)
            if self.op in INTERVALS:
                if len(value) != 2:
                    raise ValidationError(
                        f"condition {self.column!r} {self.op!r} needs (low, high), got {value!r}"
                    )
                for bound in value:
                    self._check_number(bound)
                if value[0] > value[1]:
                    raise ValidationError(
                        f"condition {self.column!r} {self.op!r} has low > high: {value!r}"
                    )
            else:
                for v in value:
                    self._check_scalar(v)
        elif self.op in ("is missing", "not missing"):
            value = None
        else:
            value = to_python(value)
            if self.op in _COMPARE:
                self._check_number(value)
            else:
                self._check_scalar(value)
        object.__setattr__(self, "value", value)

    def _check_number(self, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ToolkitTypeError(
                f"condition {self.column!r} {self.op!r} compares with numbers, got {value!r}"
            )

    def _check_scalar(self, value: Any) -> None:
        if isinstance(value, list | tuple | dict | set) or not isinstance(value, Hashable):
            raise ToolkitTypeError(
                f"condition {self.column!r} {self.op!r} needs single values, got {value!r}"
            )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | Condition) -> Condition:
        """A condition from its JSON form ``{"column", "op", "value"}`` (or itself)."""
        if isinstance(data, Condition):
            return data
        if not isinstance(data, Mapping):
            raise ToolkitTypeError(
                f"a condition must be a dict with column, op and value, got {type(data).__name__}"
            )
        missing = [k for k in ("column", "op") if k not in data]
        if missing:
            raise ValidationError(f"condition {dict(data)!r} lacks {missing}")
        return cls(str(data["column"]), str(data["op"]), data.get("value"))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``{"column", "op", "value"}`` (intervals and sets as lists)."""
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return {"column": self.column, "op": self.op, "value": value}

    @property
    def label(self) -> str:
        """The condition in words: "age ∈ [28, 37)", "sex = Female", "x is missing"."""
        if self.text is not None:
            return self.text
        col, op, value = self.column, self.op, self.value
        if op == "==":
            return f"{col} = {format_value(value)}"
        if op == "not in":
            if len(value) == 1:
                return f"{col} ≠ {format_value(value[0])}"
            return f"{col} ∉ {{{', '.join(format_value(v) for v in value)}}}"
        if op in ("is missing", "not missing"):
            return f"{col} {'is missing' if op == 'is missing' else 'is not missing'}"
        if op in _COMPARE:
            return f"{col} {_COMPARE[op]} {format_number(value)}"
        left, right = INTERVALS[op]
        lo, hi = value
        return (
            f"{col} ∈ {'[' if left else '('}{format_number(lo)}, "
            f"{format_number(hi)}{']' if right else ')'}"
        )

    def __str__(self) -> str:
        return self.label

    def mask(self, frame: pd.DataFrame) -> np.ndarray:
        """Boolean array: the rows of ``frame`` that satisfy the condition.

        A missing value satisfies only ``"is missing"``.
        """
        if self.column not in frame.columns:
            raise ColumnNotFoundError(
                f"condition {self.label!r} needs column {self.column!r}, which the table lacks"
            )
        series = frame[self.column]
        op, value = self.op, self.value
        isna = series.isna().to_numpy()
        if op == "is missing":
            return isna
        if op == "not missing":
            return ~isna
        if op in ("==", "not in") and not _is_numeric(series):
            if op == "==":
                return (series == value).fillna(False).to_numpy(dtype=bool) & ~isna
            return (~series.isin(list(value))).to_numpy(dtype=bool) & ~isna
        numeric = series.to_numpy(dtype=float, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            if op == "==":
                return numeric == float(value)
            if op == "not in":
                return ~np.isin(numeric, np.asarray(value, dtype=float)) & ~isna
            if op in _COMPARE:
                return {
                    "<": np.less,
                    "<=": np.less_equal,
                    ">": np.greater,
                    ">=": np.greater_equal,
                }[op](numeric, value)
            left, right = INTERVALS[op]
            lo, hi = value
            above = numeric >= lo if left else numeric > lo
            below = numeric <= hi if right else numeric < hi
            return above & below


@dataclass(frozen=True)
class Pattern:
    """A conjunction of conditions (no conditions: every row)."""

    conditions: tuple[Condition, ...]

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "conditions", tuple(Condition.from_dict(c) for c in self.conditions)
        )

    @classmethod
    def from_dicts(cls, conditions: Iterable[Mapping[str, Any] | Condition]) -> Pattern:
        """A pattern from its JSON form (a list of condition dicts)."""
        if isinstance(conditions, str | Mapping) or not isinstance(conditions, Iterable):
            raise ToolkitTypeError(
                f"conditions must be a list of condition dicts, got {type(conditions).__name__}"
            )
        return cls(tuple(conditions))

    @property
    def label(self) -> str:
        return " ∧ ".join(c.label for c in self.conditions)

    def __str__(self) -> str:
        return self.label

    def __len__(self) -> int:
        return len(self.conditions)

    def mask(self, frame: pd.DataFrame) -> np.ndarray:
        """Rows of ``frame`` that satisfy every condition."""
        out = np.ones(len(frame), dtype=bool)
        for condition in self.conditions:
            out &= condition.mask(frame)
        return out

    def to_dict(self) -> list[dict[str, Any]]:
        """The JSON form: a list of ``{"column", "op", "value"}``."""
        return [c.to_dict() for c in self.conditions]


def pattern_masks(patterns: Iterable[Any], frame: pd.DataFrame) -> list[np.ndarray]:
    """The rows of each pattern (a :class:`Pattern` or its list of condition dicts), as a
    patterns table's ``conditions`` column holds them.

    A pattern on a column ``frame`` lacks raises :class:`ColumnNotFoundError` naming
    the pattern and the columns.

    >>> frame = pd.DataFrame({"x": [1, 2, 3]})
    >>> [m.tolist() for m in pattern_masks([[{"column": "x", "op": ">", "value": 1}]], frame)]
    [[False, True, True]]
    """
    masks = []
    for item in patterns:
        pattern = item if isinstance(item, Pattern) else Pattern.from_dicts(item)
        unknown = sorted({c.column for c in pattern.conditions} - set(frame.columns))
        if unknown:
            raise ColumnNotFoundError(
                f"pattern {pattern.label!r} uses column(s) {unknown} that the features do "
                f"not have; they have {list(frame.columns)[:10]}"
            )
        masks.append(pattern.mask(frame))
    return masks
