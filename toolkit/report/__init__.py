"""The report layer: the only place that imports matplotlib and Jinja2."""

from toolkit.report.render import render_html, render_notebook, write_html

__all__ = ["render_html", "render_notebook", "write_html"]
