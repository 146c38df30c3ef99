"""The diagnosis engine: run the registered sections and keep why the others were skipped.

:data:`SECTIONS` is the one registry; :func:`toolkit.diagnose` runs it and
:class:`toolkit.Diagnosis` holds the outcome. A new section is a
:class:`~toolkit.analysis.sections.Section` added with :func:`register_section`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from toolkit.analysis.section_defs import BUILTIN_SECTIONS
from toolkit.analysis.sections import Context, Registry, Section

__all__ = ["SECTIONS", "register_section", "run_sections"]

logger = logging.getLogger(__name__)

#: Every section of a diagnosis, in the order of the JSON and the report.
SECTIONS = Registry(BUILTIN_SECTIONS)


def register_section(section: Section, *, after: str | None = None) -> Section:
    """Add a section to every later diagnosis (its JSON keys, its report tables)."""
    return SECTIONS.register(section, after=after)


def run_sections(
    ctx: Context,
    wanted: Sequence[str],
    progress: Callable[[str], None] | None = None,
) -> tuple[dict[str, Any], dict[str, str], dict[str, float]]:
    """Run every registered section in ``wanted``, then each section's ``link`` step.

    Returns the results by name (plus what the links added), the skipped sections with
    their reasons, and the seconds each section took.
    """
    results: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    runtime: dict[str, float] = {}
    for section in SECTIONS:
        if section.name not in wanted:
            skipped[section.name] = "not requested"
            continue
        reason = section.reason(ctx)
        if reason is not None:
            skipped[section.name] = reason
            continue
        if progress is not None:
            progress(section.message or section.name)
        started = time.perf_counter()
        try:
            results[section.name] = section.run(ctx)
        except section.skip_on as exc:
            skipped[section.name] = str(exc)
        finally:
            runtime[section.name] = round(time.perf_counter() - started, 3)
            logger.debug("section %s: %.3f s", section.name, runtime[section.name])
    for section in SECTIONS:
        if section.link is not None:
            results.update(section.link(results, ctx))
    return results, skipped, runtime
