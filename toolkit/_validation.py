"""Declarative parameter checks for every public function (after scikit-learn's
``validate_params``).

A function declares, per parameter, the constraints a value may satisfy; the value is
valid when it satisfies any of them. A value whose *type* no constraint accepts raises
:class:`~toolkit.exceptions.ToolkitTypeError` (a ``TypeError``); a value of an accepted
type outside every interval or option set raises
:class:`~toolkit.exceptions.InvalidValueError` (a ``ValueError``). Both name the
parameter, the function, what was expected and what arrived.

>>> from numbers import Integral
>>> @validate_params({"top": [Interval(Integral, 1, None)]})
... def head(top=10):
...     return top
>>> head(top=3)
3
>>> head(top=0)
Traceback (most recent call last):
...
toolkit.exceptions.InvalidValueError: head: top must be an int in [1, inf), got 0
>>> head(top=True)
Traceback (most recent call last):
...
toolkit.exceptions.ToolkitTypeError: head: top must be an int in [1, inf), got True (bool)
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd

from toolkit.exceptions import InvalidValueError, ToolkitTypeError

__all__ = [
    "ARRAY_LIKE",
    "BOOLEAN",
    "CALLABLE",
    "HasMethods",
    "NON_EMPTY_STR",
    "RANDOM_STATE",
    "STR_LIST",
    "Interval",
    "Options",
    "check_param",
    "validate_params",
]

#: Largest seed numpy accepts.
MAX_SEED = 2**32 - 1


class Interval:
    """Numbers of one kind (``Integral`` or ``Real``) in an interval.

    ``closed`` is "both", "left", "right" or "neither"; a bound of None is infinite.
    Booleans are never numbers here (``top=True`` is a type error, not 1).
    """

    def __init__(
        self,
        kind: type,
        left: float | None,
        right: float | None,
        *,
        closed: str = "both",
    ) -> None:
        if kind not in (Integral, Real):
            raise ValueError(f"kind must be Integral or Real, got {kind!r}")
        if closed not in ("both", "left", "right", "neither"):
            raise ValueError(f"closed must be both/left/right/neither, got {closed!r}")
        self.kind, self.left, self.right, self.closed = kind, left, right, closed

    def accepts_type(self, value: Any) -> bool:
        if isinstance(value, bool | np.bool_):
            return False
        return isinstance(value, self.kind)

    def __contains__(self, value: Any) -> bool:
        if self.kind is Real:
            try:
                if not math.isfinite(float(value)):
                    return False
            except OverflowError:  # an int too large for a float is no usable number
                return False
        if self.left is not None:
            low_ok = value >= self.left if self.closed in ("both", "left") else value > self.left
            if not low_ok:
                return False
        if self.right is not None:
            closed_right = self.closed in ("both", "right")
            return bool(value <= self.right if closed_right else value < self.right)
        return True

    def __str__(self) -> str:
        kind = "an int" if self.kind is Integral else "a number"
        left = "-inf" if self.left is None else _bound(self.left)
        right = "inf" if self.right is None else _bound(self.right)
        lb = "[" if self.closed in ("both", "left") and self.left is not None else "("
        rb = "]" if self.closed in ("both", "right") and self.right is not None else ")"
        if self.left is None and self.right is None:
            return kind
        return f"{kind} in {lb}{left}, {right}{rb}"

    def outside(self) -> Any:
        """A value of the right type outside the interval (for contract tests)."""
        step = 1 if self.kind is Integral else 0.5
        if self.left is not None:
            return self.left - step if self.closed in ("both", "left") else self.left
        if self.right is not None:
            return self.right + step if self.closed in ("both", "right") else self.right
        return None


def _bound(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


class Options:
    """One of a fixed set of values (of one type, usually strings)."""

    def __init__(self, values: Iterable[Any]) -> None:
        self.values = tuple(values)
        self.kinds = tuple({type(v) for v in self.values})

    def accepts_type(self, value: Any) -> bool:
        return isinstance(value, self.kinds) and not (
            isinstance(value, bool) and bool not in self.kinds
        )

    def __contains__(self, value: Any) -> bool:
        return value in self.values

    def __str__(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)

    def outside(self) -> Any:
        return "no-such-option" if str in self.kinds else None


class _Kind:
    """A named type test with no range (array-like, boolean, callable, ...)."""

    def __init__(self, name: str, test: Callable[[Any], bool]) -> None:
        self.name, self.test = name, test

    def accepts_type(self, value: Any) -> bool:
        return self.test(value)

    def __contains__(self, value: Any) -> bool:
        return True

    def __str__(self) -> str:
        return self.name

    def outside(self) -> Any:
        return None


class HasMethods:
    """Any object with these methods (a fitted estimator: ``HasMethods("predict")``)."""

    def __init__(self, *methods: str) -> None:
        self.methods = methods

    def accepts_type(self, value: Any) -> bool:
        return all(callable(getattr(value, m, None)) for m in self.methods)

    def __contains__(self, value: Any) -> bool:
        return True

    def __str__(self) -> str:
        return "an object with " + " and ".join(f"a {m} method" for m in self.methods)

    def outside(self) -> Any:
        return None


class _NonEmptyStr:
    """A str with at least one character."""

    def accepts_type(self, value: Any) -> bool:
        return isinstance(value, str)

    def __contains__(self, value: Any) -> bool:
        return len(value) > 0

    def __str__(self) -> str:
        return "a non-empty str"

    def outside(self) -> Any:
        return ""


def _is_array_like(value: Any) -> bool:
    if isinstance(value, str | bytes | Mapping):
        return False
    return isinstance(
        value,
        np.ndarray
        | pd.Series
        | pd.DataFrame
        | pd.Index
        | pd.api.extensions.ExtensionArray
        | Sequence,
    )


def _is_str_list(value: Any) -> bool:
    if isinstance(value, str) or not isinstance(
        value, Sequence | pd.Index | pd.Series | np.ndarray
    ):
        return False
    return all(isinstance(v, str) for v in value)


ARRAY_LIKE = _Kind("array-like", _is_array_like)
BOOLEAN = _Kind("a bool", lambda v: isinstance(v, bool | np.bool_))
CALLABLE = _Kind("a callable", callable)
STR_LIST = _Kind("a list of str", _is_str_list)
NON_EMPTY_STR = _NonEmptyStr()
RANDOM_STATE = Interval(Integral, 0, MAX_SEED)


def _describe(constraint: Any) -> str:
    if constraint is None:
        return "None"
    if isinstance(constraint, type):
        module = constraint.__module__
        prefix = "toolkit." if module.startswith("toolkit") else ""
        return f"a {prefix}{constraint.__name__}"
    if isinstance(constraint, tuple):
        return " or ".join(_describe(c) for c in constraint)
    return str(constraint)


def _accepts_type(constraint: Any, value: Any) -> bool:
    if constraint is None:
        return value is None
    if isinstance(constraint, type | tuple):
        if isinstance(value, bool | np.bool_) and bool not in _flat_types(constraint):
            return False
        return isinstance(value, constraint)
    return constraint.accepts_type(value)


def _flat_types(constraint: type | tuple) -> tuple:
    return constraint if isinstance(constraint, tuple) else (constraint,)


def _show(value: Any) -> str:
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | str):
        text += f" ({type(value).__name__})"
    return text


def check_param(name: str, value: Any, constraints: Sequence[Any], where: str = "") -> None:
    """Raise unless ``value`` satisfies one of ``constraints`` (see the module text)."""
    type_ok = [c for c in constraints if _accepts_type(c, value)]
    if any(c is None or isinstance(c, type | tuple) or value in c for c in type_ok):
        return
    expected = " or ".join(_describe(c) for c in constraints)
    prefix = f"{where}: " if where else ""
    message = f"{prefix}{name} must be {expected}, got {_show(value)}"
    if isinstance(value, str) and any(c is STR_LIST for c in constraints):
        message += f"; e.g. {name}=[{value!r}]"
    if type_ok:
        raise InvalidValueError(message)
    raise ToolkitTypeError(message)


def validate_params(spec: Mapping[str, Sequence[Any]]) -> Callable:
    """Decorate a function so its parameters are checked against ``spec`` on each call.

    The spec stays on the function as ``__toolkit_params__`` (the contract test reads it).
    """

    def decorate(func: Callable) -> Callable:
        signature = inspect.signature(func)
        unknown = sorted(set(spec) - set(signature.parameters))
        if unknown:
            raise ValueError(f"{func.__qualname__} has no parameter(s) {unknown}")
        where = func.__qualname__
        if func.__name__ == "__init__":  # a class's constructor: name the class
            where = where.rsplit(".", 1)[0]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError:
                return func(*args, **kwargs)  # Python's own message for a wrong call
            for name, constraints in spec.items():
                if name in bound.arguments:
                    check_param(name, bound.arguments[name], constraints, where)
            return func(*args, **kwargs)

        wrapper.__toolkit_params__ = dict(spec)  # type: ignore[attr-defined]
        return wrapper

    return decorate
