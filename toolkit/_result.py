"""The base of every analysis result: a frozen object with a table and metadata fields.

Metadata never ride on the table (pandas' per-frame metadata dict is experimental and
lost by most frame operations): the table is a plain DataFrame, the metadata are typed
fields.
"""

from __future__ import annotations

import dataclasses
import html
from dataclasses import dataclass
from typing import Any

import pandas as pd

from toolkit._json import frame_records, json_safe

__all__ = ["Result"]

#: Rows a notebook shows of a result's table.
REPR_ROWS = 20


@dataclass(frozen=True, repr=False, eq=False)
class Result:
    """A table (``.table``, a DataFrame) and the metadata of how it was made.

    Subclasses add metadata as dataclass fields, declared with
    ``@dataclass(frozen=True, repr=False, eq=False)`` so they keep this class's short
    ``repr`` and identity equality (comparing DataFrames has no single truth value).
    ``len(result)`` is the number of rows, ``to_frame()`` a copy of the table,
    ``to_dict()`` a JSON-safe dict with the fields and the table as a list of row
    objects.

    >>> import pandas as pd
    >>> r = Result(pd.DataFrame({"n": [3, 1]}))
    >>> len(r), r.to_dict()
    (2, {'table': [{'n': 3}, {'n': 1}]})
    """

    table: pd.DataFrame

    def __len__(self) -> int:
        return len(self.table)

    @property
    def meta(self) -> dict[str, Any]:
        """The metadata fields (every field but ``table``), JSON-safe."""
        return {
            f.name: json_safe(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if f.name != "table" and f.repr
        }

    def to_frame(self) -> pd.DataFrame:
        """A copy of the table."""
        return self.table.copy()

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: the metadata fields and ``table`` as one object per row."""
        return {**self.meta, "table": frame_records(self.table)}

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.meta.items())
        sep = ", " if fields else ""
        return f"{type(self).__name__}({len(self.table)} rows{sep}{fields})"

    def _repr_html_(self) -> str:
        meta = "".join(
            f"<li><b>{html.escape(str(k))}</b>: {html.escape(str(v))}</li>"
            for k, v in self.meta.items()
        )
        shown = self.table.head(REPR_ROWS)
        more = (
            f"<p>{REPR_ROWS} of {len(self.table):,} rows shown; <code>.table</code> has all.</p>"
            if len(self.table) > REPR_ROWS
            else ""
        )
        return (
            f"<div><p><b>{html.escape(type(self).__name__)}</b></p>"
            f"<ul>{meta}</ul>{shown.to_html(escape=True)}{more}</div>"
        )
