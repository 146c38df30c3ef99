"""The report layer: the only place that imports matplotlib and Jinja2."""

from toolkit.report.render import render_html, render_notebook, write_html
from toolkit.report.summary import summary_sentences

__all__ = ["render_html", "render_notebook", "summary_sentences", "write_html"]
