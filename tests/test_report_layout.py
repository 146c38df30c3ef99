"""The report reads top-down: long tables collapsed with a count, every column explained,
ids shown as ids. (Widths, heights and the controls in a real browser: test_browser.py.)"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

import toolkit as tk
from toolkit.report.cells import COLLAPSED_ROWS, fmt, table_view
from toolkit.report.glossary import FEATURE_HELP, GLOSSARY


class _Headers(HTMLParser):
    """Every table header cell of a page: (table id, label, title or None)."""

    def __init__(self):
        super().__init__()
        self.table, self.cell, self.found = None, None, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.table = attrs.get("id")
        elif tag == "th":
            self.cell = [self.table, "", attrs.get("title")]

    def handle_data(self, data):
        if self.cell is not None:
            self.cell[1] += data

    def handle_endtag(self, tag):
        if tag == "th" and self.cell is not None:
            self.found.append(tuple(self.cell))
            self.cell = None


@pytest.fixture(scope="module")
def report():
    rng = np.random.default_rng(3)
    n = 900
    y = rng.integers(0, 3, n)
    proba = rng.dirichlet(np.ones(3), n)
    proba[np.arange(n), y] += rng.uniform(0, 1.5, n)
    proba /= proba.sum(axis=1, keepdims=True)
    flipped = rng.choice(n, 40, replace=False)  # confident rows given another label
    proba[flipped] = [0.96, 0.02, 0.02]
    y[flipped] = 1
    features = pd.DataFrame(
        {
            "colour": rng.choice(["red", "green", "blue"], n),
            "size": rng.normal(size=n),
            "count": rng.integers(0, 5, n),
        }
    )
    ids = 10_000 + np.arange(n) * 7  # five-digit ids: no thousands separators in the page
    p = tk.Predictions(y, proba=proba, features=features, ids=ids)
    d = tk.diagnose(p, pool={"pool": proba[:200], "budget": 30}, random_state=0)
    return p, d, d.to_html()


def test_every_column_of_every_table_says_what_it_means(report):
    p, d, html = report
    parser = _Headers()
    parser.feed(html)
    assert len(parser.found) > 40
    # the tables drawn from section specs (the confusion matrix's headers are classes)
    unexplained = [(t, label) for t, label, title in parser.found if t and not title]
    assert unexplained == []
    assert "the true class; columns: the predicted class" in html
    features = {str(c) for c in p.features.columns}
    titles = {title for t, _, title in parser.found if t}
    assert FEATURE_HELP in titles and titles - {FEATURE_HELP} <= set(GLOSSARY.values())
    shown = {label for t, label, title in parser.found if t == "t-label-issues"}
    assert features <= shown  # the label-issue table shows the rows' features


def test_ids_are_shown_as_ids_and_counts_with_separators(report):
    p, d, html = report
    first = str(d.label_issues.table["id"].iloc[0])
    assert len(first) == 5 and f">{first}</td>" in html
    assert f">{first[:2]},{first[2:]}</td>" not in html
    assert fmt([10397, 2291, 15184], "text") == "10397, 2291, 15184"
    assert fmt(10397, "num") == "10,397" and fmt(0.5, "pct") == "50.00%"


def test_a_long_table_shows_its_first_rows_and_says_how_many_of_how_many():
    frame = pd.DataFrame({"errors": np.arange(25), "slice": [f"s{i}" for i in range(25)]})
    view = table_view(frame, [("slice", "slice", "text"), ("errors", "errors", "num")], limit=20)
    assert [row["more"] for row in view["rows"]] == [False] * COLLAPSED_ROWS + [True] * (
        20 - COLLAPSED_ROWS
    )
    # a text column with a long value gets room; short text and numbers do not
    long = frame.assign(slice=["a = b ∧ " * 8] + list(frame["slice"][1:]))
    kinds = [
        c["kind"]
        for c in table_view(long, [("slice", "s", "text"), ("errors", "e", "num")])["rows"][3][
            "cells"
        ]
    ]
    assert kinds == ["text wide", "num"]
    assert view["rows"][0]["cells"][0]["kind"] == "text"
    assert (view["collapsed"], view["shown"], view["total"]) == (COLLAPSED_ROWS, 20, 25)
    assert [h["help"] for h in view["header"]] == [GLOSSARY["slice"], GLOSSARY["errors"]]
    own = table_view(frame, [("errors", "errors", "num", "my own words")])
    assert own["header"][0]["help"] == "my own words"
    short = table_view(frame.head(4), [("errors", "errors", "num")])
    assert not any(row["more"] for row in short["rows"]) and short["collapsed"] == 4


def test_a_short_table_has_no_show_all_control(report):
    _, d, html = report
    # every long table has exactly one control, and every control belongs to a long table
    controls = re.findall(r'<input type="checkbox" class="show-all" id="all-([\w-]+)"', html)
    collapsed = re.findall(
        rf'<table id="([\w-]+)" class="sortable" data-collapsed="{COLLAPSED_ROWS}"', html
    )
    assert controls == collapsed and controls
