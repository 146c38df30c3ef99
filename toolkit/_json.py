"""One JSON encoder: numpy scalars to Python, NaN/inf/NA to null, frames to row records.

Every JSON the toolkit writes (the diagnosis, result ``to_dict()``, run records) goes
through :func:`json_safe` and :func:`dumps`.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["dumps", "frame_records", "json_safe", "to_python"]


def to_python(value: Any) -> Any:
    """A numpy scalar as the plain Python value; anything else unchanged.

    >>> import numpy as np
    >>> to_python(np.int64(3)), type(to_python(np.float32(0.5))).__name__
    (3, 'float')
    """
    return value.item() if isinstance(value, np.generic) else value


def json_safe(value: Any) -> Any:
    """A JSON-safe copy of nested dicts/lists/arrays of scalars.

    NaN, inf, ``pd.NA`` and ``NaT`` become None; keys become strings; objects that
    know how (``to_dict()``) are converted; anything else unknown becomes its ``str``.

    >>> import numpy as np
    >>> json_safe({"a": np.float64("nan"), 1: (np.int64(2), "x")})
    {'a': None, '1': [2, 'x']}
    """
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return [json_safe(v) for v in value.tolist()]
    if isinstance(value, pd.DataFrame):
        return frame_records(value)
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    value = to_python(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str | int | float | bool):
        return value
    if hasattr(value, "to_dict") and callable(value.to_dict):
        return json_safe(value.to_dict())
    return str(value)


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """DataFrame rows as JSON-safe dicts (numpy scalars unwrapped, NaN -> None).

    >>> import pandas as pd
    >>> frame_records(pd.DataFrame({"n": [1, 2], "rate": [0.5, float("nan")]}))
    [{'n': 1, 'rate': 0.5}, {'n': 2, 'rate': None}]
    """
    return [
        {str(k): json_safe(v) for k, v in row.items()} for row in frame.to_dict(orient="records")
    ]


def dumps(value: Any, *, indent: int | None = 2) -> str:
    """JSON text of ``value`` after :func:`json_safe` (strict: no NaN, UTF-8 kept)."""
    return json.dumps(json_safe(value), indent=indent, allow_nan=False, ensure_ascii=False)
