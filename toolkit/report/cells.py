"""Table cells as the report shows them: rounded numbers, en dashes for missing values,
sort keys for the page's script, and row-limited table views."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from toolkit._json import to_python

__all__ = ["MAX_TABLE_ROWS", "fmt", "table_view"]

#: Longer tables are cut to this many rows in the report (the JSON has them all).
MAX_TABLE_ROWS = 200


def fmt(value: Any, kind: str = "num") -> str:
    """One cell as text: numbers rounded for reading, missing as an en dash."""
    if value is None or value is pd.NA:
        return "–"
    value = to_python(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and not math.isfinite(value):
        return "–"
    if kind == "pct" and isinstance(value, int | float):
        return f"{100 * value:.2f}%"
    if kind == "pp" and isinstance(value, int | float):
        return f"{value:.2f}"
    if kind == "p" and isinstance(value, int | float):
        return f"{value:.2g}" if value >= 1e-4 else f"{value:.1e}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e6):
            return f"{value:.3g}"
        return f"{value:.4f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:,.1f}"
    if isinstance(value, list | tuple):
        return ", ".join(fmt(v) for v in value)
    return str(value)


def _sort_key(value: Any) -> str:
    """A value for the `data-sort` attribute (numbers sort numerically in the script)."""
    value = to_python(value)
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int | float) and not (isinstance(value, float) and math.isnan(value)):
        return repr(float(value))
    return "" if value is None or value is pd.NA else str(value)


def table_view(
    frame: pd.DataFrame | None,
    columns: list[tuple[str, str, str]],
    *,
    highlight: str | None = None,
    limit: int = MAX_TABLE_ROWS,
    filterable: bool = True,
) -> dict[str, Any] | None:
    """A table view: header labels, rows of (text, sort key) cells, truncation count.

    ``columns`` holds (column, label, kind) with kind one of num, pct, pp, p, text.
    ``highlight`` names a boolean column whose true rows are marked.
    """
    if frame is None:
        return None
    present = [(c, label, kind) for c, label, kind in columns if c in frame.columns]
    rows = []
    for record in frame.head(limit).to_dict(orient="records"):
        cells = [
            {"text": fmt(record[c], kind), "sort": _sort_key(record[c]), "kind": kind}
            for c, _, kind in present
        ]
        marked = bool(highlight and record.get(highlight) is True)
        rows.append({"cells": cells, "marked": marked})
    return {
        "header": [{"label": label, "kind": kind} for _, label, kind in present],
        "rows": rows,
        "total": len(frame),
        "shown": min(len(frame), limit),
        "filterable": filterable,
    }
