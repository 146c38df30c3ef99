"""Table cells as the report shows them: rounded numbers, en dashes for missing values,
sort keys for the page's script, and row-limited table views."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from toolkit._json import to_python
from toolkit.report.glossary import FEATURE_HELP, GLOSSARY

__all__ = ["COLLAPSED_ROWS", "MAX_TABLE_ROWS", "fmt", "table_view"]

#: Longer tables are cut to this many rows in the report (the JSON has them all).
MAX_TABLE_ROWS = 200
#: Rows a long table shows before its "show all" control is used.
COLLAPSED_ROWS = 5
#: A text column with a value longer than this gets room to keep it on a few lines.
WIDE_TEXT = 40


def fmt(value: Any, kind: str = "num") -> str:
    """One cell as text: numbers rounded for reading, missing as an en dash; in a
    ``text`` column numbers are names or ids, shown as they are (``10397``, not
    ``10,397``), and a list is joined with commas.

    >>> fmt([10397, 2291], "text"), fmt(10397), fmt(0.1234, "pct"), fmt(0.89378757, "text")
    ('10397, 2291', '10,397', '12.34%', '0.8938')
    """
    if value is None or value is pd.NA:
        return "–"
    value = to_python(value)
    if kind == "text":
        if isinstance(value, list | tuple):
            return ", ".join(fmt(v, "text") for v in value)
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
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
    columns: list[tuple[str, ...]],
    *,
    highlight: str | None = None,
    limit: int = MAX_TABLE_ROWS,
    filterable: bool = True,
    features: Any = (),
) -> dict[str, Any] | None:
    """A table view: header labels with their hover text, rows of (text, sort key)
    cells, and the counts the page states ("5 of 918 rows shown").

    ``columns`` holds (column, label, kind) or (column, label, kind, help) with kind one
    of num, pct, pp, p, text; without ``help`` the column's line in
    :data:`~toolkit.report.glossary.GLOSSARY` is used, or, for a column named in
    ``features``, :data:`~toolkit.report.glossary.FEATURE_HELP`. ``highlight`` names a
    boolean column whose true rows are marked. Rows after the first
    :data:`COLLAPSED_ROWS` are marked ``more``: the page hides them until asked.
    """
    if frame is None:
        return None
    features = set(features)
    present = []
    for column, label, kind, *own in columns:
        if column in frame.columns:
            default = FEATURE_HELP if column in features else ""
            text = own[0] if own else GLOSSARY.get(column, default)
            present.append((column, label, kind, text))
    records = frame.head(limit).to_dict(orient="records")
    texts = [[fmt(record[c], kind) for c, _, kind, _ in present] for record in records]
    kinds = [
        f"{kind} wide" if kind == "text" and any(len(row[j]) > WIDE_TEXT for row in texts) else kind
        for j, (_, _, kind, _) in enumerate(present)
    ]
    rows = []
    for i, (record, row) in enumerate(zip(records, texts, strict=True)):
        cells = [
            {"text": text, "sort": _sort_key(record[c]), "kind": kinds[j]}
            for j, ((c, _, _, _), text) in enumerate(zip(present, row, strict=True))
        ]
        marked = bool(highlight and record.get(highlight) is True)
        rows.append({"cells": cells, "marked": marked, "more": i >= COLLAPSED_ROWS})
    shown = min(len(frame), limit)
    return {
        "header": [{"label": lab, "kind": kind, "help": text} for _, lab, kind, text in present],
        "rows": rows,
        "total": len(frame),
        "shown": shown,
        "collapsed": min(shown, COLLAPSED_ROWS),
        "filterable": filterable,
    }
