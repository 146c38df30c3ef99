"""What MLflow accepts: names, param/metric/tag values, and ``log_batch`` sizes; and
what a run accepts: nothing, once it has ended (:func:`while_open`).

MLflow truncates long params, stores NaN metrics with only a warning and rejects some
names late, on the server. Here each value is checked when it is logged, so the error
names the value and the line that logged it.
"""

from __future__ import annotations

import functools
import math
import posixpath
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from toolkit.exceptions import InvalidValueError, ToolkitTypeError, ValidationError

__all__ = [
    "Pending",
    "batches",
    "check_key",
    "clip",
    "flatten",
    "metric_value",
    "non_finite_paths",
    "now_ms",
    "param_text",
    "split_params",
    "tag_text",
    "while_open",
]

#: MLflow keeps this many characters of a param value and silently drops the rest.
MAX_PARAM_LENGTH = 6000
#: MLflow's limit on a tag value.
MAX_TAG_LENGTH = 8000
MAX_KEY_LENGTH = 250
#: MLflow's ``log_batch`` limits.
MAX_BATCH_PARAMS_TAGS = 100
MAX_BATCH_METRICS = 1000
MAX_BATCH_ENTITIES = 1000
_NAME_RE = re.compile(r"^[/\w.\- :]*$")
_F = TypeVar("_F", bound=Callable[..., Any])


def while_open(method: _F) -> _F:
    """Make a method of a run refuse to run once the run has ended.

    It calls the run's ``_check_open(name)`` first, which raises one error for every
    method (``RunEndedError``). Applied outside ``validate_params``, so an ended run is
    reported before the arguments are looked at.
    """

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        self._check_open(method.__name__)
        return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def check_key(key: Any, what: str) -> str:
    """``key`` when MLflow accepts it as the name of a ``what``; else an error that says why."""
    if not isinstance(key, str):
        raise ToolkitTypeError(f"{what} name must be a string, got {type(key).__name__}: {key!r}")
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValidationError(
            f"{what} name must have 1 to {MAX_KEY_LENGTH} characters, got {len(key)}: {key[:60]!r}"
        )
    # fullmatch: "$" alone would let a trailing newline through
    if not _NAME_RE.fullmatch(key) or posixpath.normpath(key) != key or key.startswith("/"):
        raise ValidationError(
            f"{what} name {key!r} is not allowed by MLflow: use letters, digits, '_', '-', "
            "'.', ' ', ':' and '/' (no leading '/', no '..' or '//')"
        )
    return key


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one level with dotted keys: ``{"a": {"b": 1}} -> {"a.b": 1}``.

    Examples
    --------
    >>> flatten({"model": {"depth": 3, "lr": 0.1}, "seed": 0})
    {'model.depth': 3, 'model.lr': 0.1, 'seed': 0}
    """
    out: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, prefix=f"{name}."))
        else:
            out[name] = value
    return out


def param_text(key: str, value: Any) -> str:
    """A param value as the text MLflow stores, refused when MLflow would cut it."""
    if isinstance(value, float | np.floating) and not math.isfinite(value):
        return str(float(value))  # a param is text: "nan" and "inf" are kept as written
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_PARAM_LENGTH:
        raise InvalidValueError(
            f"param {key!r} is {len(text):,} characters long; MLflow keeps {MAX_PARAM_LENGTH:,} "
            "and silently drops the rest. Log long values as a file with run.log_text(...) or "
            "run.log_dict(...)"
        )
    return text


def split_params(
    params: list[tuple[str, str]], stored: Mapping[str, str]
) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """The params not ``stored`` yet, and those stored with another value.

    >>> split_params([("C", "1"), ("tol", "0.1"), ("seed", "0")], {"C": "1.0", "tol": "0.1"})
    ([('seed', '0')], {'C': '1'})
    """
    keep = [(k, v) for k, v in params if k not in stored]
    conflicts = {k: v for k, v in params if k in stored and stored[k] != v}
    return keep, conflicts


def metric_value(key: str, value: Any) -> float:
    """A metric value as a float, refused when it is not a finite number."""
    if isinstance(value, bool | np.bool_):
        return float(value)
    if not isinstance(value, int | float | np.integer | np.floating):
        raise ToolkitTypeError(
            f"metric {key!r} must be a number, got {type(value).__name__}: {value!r}"
        )
    number = float(value)
    if not math.isfinite(number):
        raise InvalidValueError(
            f"metric {key!r} is {number}; MLflow would store it as "
            f"{'NaN' if math.isnan(number) else '±1.8e308'} with only a warning. "
            "Log finite values (skip undefined metrics, or log them as a tag)"
        )
    return number


def non_finite_paths(obj: Any, limit: int = 6) -> list[str]:
    """Where ``obj`` (nested dicts, lists, arrays, objects with ``to_dict()``) holds NaN or
    infinity, as paths like ``a.b[2]``; at most ``limit``.

    >>> non_finite_paths({"a": [1.0, float("nan")], "b": {"c": np.inf}, "d": "nan"})
    ['a[1]', 'b.c']
    """
    found: list[str] = []

    def walk(value: Any, path: str) -> None:
        if len(found) >= limit:
            return
        if isinstance(value, float | np.floating):
            if not math.isfinite(value):
                found.append(path or "(the value)")
        elif isinstance(value, Mapping):
            for key, item in value.items():
                walk(item, f"{path}.{key}" if path else str(key))
        elif isinstance(value, list | tuple):
            for i, item in enumerate(value):
                walk(item, f"{path}[{i}]")
        elif isinstance(value, np.ndarray):
            if value.dtype.kind in "fc":
                for index in np.argwhere(~np.isfinite(value))[: limit - len(found)]:
                    found.append(f"{path}[{', '.join(map(str, index))}]")
            elif value.dtype.kind == "O":
                walk(value.tolist(), path)
        elif not isinstance(value, str | bytes) and callable(getattr(value, "to_dict", None)):
            walk(value.to_dict(), path)

    walk(obj, "")
    return found


def tag_text(key: str, value: Any) -> str:
    """A tag value as text, refused when it is longer than MLflow allows."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_TAG_LENGTH:
        raise InvalidValueError(
            f"tag {key!r} is {len(text):,} characters long; MLflow allows {MAX_TAG_LENGTH:,}. "
            "Log long values as a file with run.log_text(...)"
        )
    return text


def clip(text: str, limit: int = MAX_TAG_LENGTH) -> str:
    """``text`` cut to ``limit`` characters, saying so (for tags made from free text).

    >>> clip("abcdefghijklmnopqrstuvwxyz", 25)
    'abcde ...[cut, see artifact]'
    """
    return text if len(text) <= limit else text[: limit - 20] + " ...[cut, see artifact]"


def now_ms() -> int:
    """The time now, in milliseconds since the epoch (MLflow's timestamps)."""
    return int(time.time() * 1000)


@dataclass
class Pending:
    """Params, metrics and tags logged to a run and not sent yet (or kept for the spool)."""

    params: list[tuple[str, str]] = field(default_factory=list)
    metrics: list[tuple[str, float, int, int]] = field(default_factory=list)
    tags: list[tuple[str, str]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.params or self.metrics or self.tags)

    def entities(self) -> tuple[list[Any], list[Any], list[Any]]:
        """MLflow's ``Param``, ``Metric`` and ``RunTag`` objects of what is pending."""
        from mlflow.entities import Metric, Param, RunTag

        return (
            [Param(k, v) for k, v in self.params],
            [Metric(k, v, ts, step) for k, v, ts, step in self.metrics],
            [RunTag(k, v) for k, v in self.tags],
        )


def batches(params: list, metrics: list, tags: list) -> Iterator[tuple[list, list, list]]:
    """Split into ``log_batch`` calls within MLflow's limits (100 params/tags, 1000 in all).

    >>> [tuple(map(len, b)) for b in batches(list(range(150)), list(range(1900)), [])]
    [(100, 900, 0), (50, 950, 0), (0, 50, 0)]
    """
    while params or metrics or tags:
        p, params = params[:MAX_BATCH_PARAMS_TAGS], params[MAX_BATCH_PARAMS_TAGS:]
        t, tags = tags[:MAX_BATCH_PARAMS_TAGS], tags[MAX_BATCH_PARAMS_TAGS:]
        room = min(MAX_BATCH_METRICS, MAX_BATCH_ENTITIES - len(p) - len(t))
        m, metrics = metrics[:room], metrics[room:]
        yield p, m, t
