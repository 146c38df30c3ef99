"""`render_html(diagnosis) -> str`: the one-file, offline HTML report.

Rendering is pure: it reads a Diagnosis and returns text. The page is drawn from the
section registry: each section's tables come from its
:class:`~toolkit.analysis.sections.Table` specs, its extra content (figures, bars) from
:data:`toolkit.report.views.VIEWS` and its own template ``sections/<name>.html.j2``
when it has one. Jinja2 runs with autoescape and StrictUndefined, so every string that
comes from the data is shown as text.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit._files import write_text_atomic
from toolkit.analysis.diagnose import SECTIONS
from toolkit.analysis.sections import Section
from toolkit.report.cells import MAX_TABLE_ROWS, fmt, table_view
from toolkit.report.summary import summary_sentences
from toolkit.report.views import VIEWS

if TYPE_CHECKING:  # pragma: no cover
    from toolkit.diagnosis import Diagnosis

__all__ = ["MAX_TABLE_ROWS", "render_html", "render_notebook", "summary_sentences", "write_html"]

#: Meta keys the report's header and "Run" list show in their own way.
_OWN_META = ("skipped", "features", "classes", "environment")


def _environment():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("toolkit.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _section_view(section: Section, d: Diagnosis, templates: set[str]) -> dict[str, Any]:
    """The template context of one section: its tables, skip reason, extra content."""
    result = d.results.get(section.name)
    tables = []
    for spec in section.tables:
        frame = None if result is None else spec.frame(result, d.results)
        columns = spec.columns
        if columns is None and frame is not None:
            columns = [
                (c, c.replace("_", " "), "num" if c in spec.numeric else "text")
                for c in frame.columns
            ]
        view = table_view(
            frame,
            list(columns or []),
            highlight=spec.highlight,
            filterable=spec.filterable,
            features=[str(c) for c in d.meta.get("features") or []],
        )
        tables.append({"id": spec.id, "view": view, "heading": spec.heading, "note": spec.note})
    own = f"sections/{section.name}.html.j2"
    extra = VIEWS[section.name](result, d) if result is not None and section.name in VIEWS else {}
    return {
        "name": section.name,
        "id": section.element_id,
        "title": section.title,
        "note": section.note,
        "ran": result is not None,
        "skipped": d.skipped.get(section.name),
        "tables": tables,
        "by_id": {t["id"]: t for t in tables},
        "extra": extra,
        "template": own if own in templates else "sections/default.html.j2",
    }


def render_html(diagnosis: Diagnosis, *, title: str | None = None) -> str:
    """The report of a :class:`~toolkit.Diagnosis` as one self-contained HTML document."""
    d = diagnosis
    meta = d.meta
    env = _environment()
    templates = set(env.list_templates())
    m = d.results.get("metrics")
    sections = [_section_view(section, d, templates) for section in SECTIONS]
    context = {
        "title": title or "Error analysis report",
        "meta": {
            k: fmt(v, "pct" if k == "error_rate" else "num")
            for k, v in meta.items()
            if k not in _OWN_META
        },
        "classes": [] if not meta.get("classes") else [str(c) for c in meta["classes"]],
        "features": [str(c) for c in meta.get("features") or []],
        "environment": {str(k): str(v) for k, v in (meta.get("environment") or {}).items()},
        "skipped": {str(k): str(v) for k, v in meta.get("skipped", {}).items()},
        "summary": summary_sentences(d),
        "nav": [link for section in SECTIONS for link in section.links],
        "sections": sections,
        # the thumbnails' style only when the page has some (images were given)
        "has_thumbnails": any(
            s["extra"].get("thumbs") or s["extra"].get("cluster_thumbs") for s in sections
        ),
        "overall": []
        if m is None
        else [{"metric": k, "value": fmt(v)} for k, v in m.overall.items()],
        "runtime": {str(k): f"{v:.2f} s" for k, v in d.extras.get("runtime_s", {}).items()},
        "max_rows": MAX_TABLE_ROWS,
    }
    return env.get_template("report.html.j2").render(**context)


def render_notebook(diagnosis: Diagnosis, *, height: int = 720) -> str:
    """The report for a notebook cell: the whole page inside a sandboxed frame, so its CSS
    and script stay in the frame."""
    import markupsafe

    page = markupsafe.escape(render_html(diagnosis))
    return str(
        markupsafe.Markup(
            '<iframe sandbox="allow-scripts" style="width: 100%; height: {}px; border: 1px solid '
            '#d9dee7" srcdoc="{}"></iframe>'
        ).format(int(height), page)
    )


def write_html(diagnosis: Diagnosis, path: str | Path, **kwargs: Any) -> Path:
    """Render and write the report; returns the path."""
    return write_text_atomic(path, render_html(diagnosis, **kwargs))
