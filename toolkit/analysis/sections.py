"""What a diagnosis section is: its name, when it applies, how it runs, what it shows.

A :class:`Section` is plain data and functions of model outputs (no I/O, no rendering).
:func:`toolkit.diagnose` runs the registered sections in order, the JSON writes each
one's keys, and the report draws each one's tables from its :class:`Table` specs, so a
new section is one module (its analysis and its ``Section``) plus one registration.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from toolkit._json import frame_records
from toolkit.data import Predictions
from toolkit.exceptions import ValidationError

__all__ = ["RESERVED_NAMES", "Column", "Context", "Registry", "Section", "Table"]

#: Names a section may not take: the diagnosis's own JSON key and attributes.
RESERVED_NAMES = frozenset(
    {"meta", "results", "extras", "skipped", "to_dict", "to_json", "to_html", "sections"}
)

#: A report column: (result column, heading, kind); kind is one of num, pct, pp, p, text.
Column = tuple[str, str, str]


@dataclass(frozen=True)
class Context:
    """The inputs of one :func:`toolkit.diagnose` call, as every section sees them."""

    p: Predictions
    random_state: int = 0
    options: Mapping[str, Any] = field(default_factory=dict)

    def option(self, name: str, default: Any = None) -> Any:
        return self.options.get(name, default)


@dataclass(frozen=True)
class Table:
    """One table a section shows in the report.

    ``frame(result, results)`` returns the rows (or None for no table); ``results`` holds
    every section's result and what the sections' ``link`` steps added. ``columns`` the columns
    shown, in order (absent ones are left out; None: every column of the frame);
    ``highlight`` names a boolean column whose true rows are marked.
    """

    id: str
    frame: Callable[[Any, Mapping[str, Any]], pd.DataFrame | None]
    columns: Sequence[Column] | None
    heading: str | None = None
    note: str | None = None
    highlight: str | None = None
    filterable: bool = True
    numeric: Sequence[str] = ()


def _records(name: str) -> Callable[[Any, Mapping[str, Any]], dict[str, Any]]:
    def to_json(result: Any, results: Mapping[str, Any]) -> dict[str, Any]:
        return {name: frame_records(result.table)}

    return to_json


@dataclass(frozen=True)
class Section:
    """One part of a diagnosis.

    Parameters
    ----------
    name : str
        Key of the result in :class:`~toolkit.Diagnosis` and of the JSON.
    title : str
        Heading in the report.
    run : callable
        ``run(ctx) -> result``; the result is kept under ``name``.
    applies : callable, default=None
        ``applies(ctx) -> reason or None``: why the section cannot run on these inputs
        (recorded in ``meta.skipped``), None when it can.
    skip_on : tuple of exception types, default=()
        Errors that mean "does not apply here" (recorded as skipped, not raised).
    message : str, default=None
        What ``progress`` is told when the section starts.
    json_keys : tuple of str, default=None
        Top-level JSON keys the section writes (default ``(name,)``); all None when the
        section did not run.
    to_json : callable, default=None
        ``to_json(result, results) -> {key: value}``; default: the result table's rows.
    meta_json : callable, default=None
        ``meta_json(result) -> dict`` merged into the JSON ``meta``.
    link : callable, default=None
        ``link(results, ctx) -> {name: result}``: run after every section, to combine
        results (e.g. the label-issue share of each error pattern).
    provides : tuple of str, default=()
        Names the ``link`` step adds to the results besides section names (None on the
        diagnosis when absent).
    tables : tuple of Table, default=()
        What the report shows; a section with a template of its own may add more.
    note : str, default=None
        A line under the title in the report.
    anchor : str, default=None
        The report's element id (default: ``name`` with dashes).
    nav : tuple of (element id, label), default=()
        The report's navigation links (default: one link to ``anchor`` named ``title``).
    """

    name: str
    title: str
    run: Callable[[Context], Any]
    applies: Callable[[Context], str | None] | None = None
    skip_on: tuple[type[BaseException], ...] = ()
    message: str | None = None
    json_keys: tuple[str, ...] | None = None
    to_json: Callable[[Any, Mapping[str, Any]], dict[str, Any]] | None = None
    meta_json: Callable[[Any], dict[str, Any]] | None = None
    link: Callable[[dict[str, Any], Context], dict[str, Any]] | None = None
    provides: tuple[str, ...] = ()
    tables: tuple[Table, ...] = ()
    note: str | None = None
    anchor: str | None = None
    nav: tuple[tuple[str, str], ...] = ()

    @property
    def links(self) -> tuple[tuple[str, str], ...]:
        return self.nav or ((self.element_id, self.title),)

    @property
    def keys(self) -> tuple[str, ...]:
        return self.json_keys or (self.name,)

    @property
    def element_id(self) -> str:
        return self.anchor or self.name.replace("_", "-")

    def reason(self, ctx: Context) -> str | None:
        return None if self.applies is None else self.applies(ctx)

    def json(self, result: Any, results: Mapping[str, Any]) -> dict[str, Any]:
        if result is None:
            return dict.fromkeys(self.keys)
        encode = self.to_json or _records(self.name)
        return encode(result, results)


class Registry:
    """The ordered sections of a diagnosis (the order of the JSON and the report)."""

    def __init__(self, sections: Sequence[Section] = ()) -> None:
        self._sections: dict[str, Section] = {}
        for section in sections:
            self.register(section)

    def register(self, section: Section, *, after: str | None = None) -> Section:
        """Add a section (at the end, or right after ``after``); returns it."""
        if not isinstance(section, Section):
            raise ValidationError(f"a section must be a Section, got {type(section).__name__}")
        taken = {
            key: other.name
            for other in self._sections.values()
            for key in (other.name, *other.keys, *other.provides)
        }
        for key in (section.name, *section.keys, *section.provides):
            if key in RESERVED_NAMES:
                raise ValidationError(
                    f"section {section.name!r} may not use the name {key!r}: the diagnosis "
                    f"uses it ({sorted(RESERVED_NAMES)})"
                )
            if key in taken:
                raise ValidationError(
                    f"section {section.name!r} uses the name {key!r}, which section "
                    f"{taken[key]!r} already uses"
                )
        items = list(self._sections.items())
        position = len(items)
        if after is not None:
            names = [n for n, _ in items]
            if after not in names:
                raise ValidationError(f"no section {after!r} to add after; sections are {names}")
            position = names.index(after) + 1
        items.insert(position, (section.name, section))
        self._sections = dict(items)
        return section

    def unregister(self, name: str) -> None:
        """Remove a section (a plugin's, or in a test)."""
        if name not in self._sections:
            raise ValidationError(f"no section {name!r}; sections are {list(self._sections)}")
        del self._sections[name]

    @property
    def provided(self) -> frozenset[str]:
        """Every name a section's link step may add to the results."""
        return frozenset(key for s in self._sections.values() for key in s.provides)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._sections)

    def __getitem__(self, name: str) -> Section:
        return self._sections[name]

    def __contains__(self, name: object) -> bool:
        return name in self._sections

    def __iter__(self) -> Iterator[Section]:
        return iter(tuple(self._sections.values()))

    def __len__(self) -> int:
        return len(self._sections)
