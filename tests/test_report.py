"""The HTML report: self-contained, escaped, every section present, long tables truncated."""

from __future__ import annotations

import re

import markupsafe
import numpy as np
import pytest
from conftest import REPORT_SECTIONS

import toolkit as tk
from toolkit.report.cells import COLLAPSED_ROWS
from toolkit.report.render import MAX_TABLE_ROWS

EVIL = [
    "<script>alert('x')</script>",
    '"><img src=x onerror=alert(1)>',
    "' onmouseover='alert(2)",
    "</table><h1>injected</h1>",
]


def _evil_predictions(n=600, seed=0):
    rng = np.random.default_rng(seed)
    group = rng.choice(EVIL + ["plain"], n)
    y_true = rng.choice(["<b>yes</b>", "no"], n)
    bad = group == EVIL[0]
    proba_yes = np.where(y_true == "<b>yes</b>", 0.8, 0.2)
    proba_yes = np.where(bad, 1 - proba_yes, proba_yes)  # the evil group is always wrong
    proba = np.column_stack([proba_yes, 1 - proba_yes])
    ids = [f"<i>{k}</i>" for k in range(n)]
    return tk.Predictions(
        y_true,
        proba=proba,
        classes=["<b>yes</b>", "no"],
        ids=ids,
        features={"group": group, "x": rng.normal(size=n)},
    )


def test_every_string_from_the_data_is_escaped():
    d = tk.diagnose(_evil_predictions())
    assert d.error_patterns.table["pattern"].iloc[0] == f"group = {EVIL[0]}"  # it is in the report
    html = d.to_html()
    for evil in EVIL:
        assert evil not in html
    assert "group = &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "&lt;b&gt;yes&lt;/b&gt;" in html and "<b>yes</b>" not in html
    assert html.count("<script") == 1  # ours, at the end
    assert "<h1>injected</h1>" not in html and "<img src=x" not in html


def test_report_is_self_contained_and_has_every_section(tmp_path):
    d = tk.diagnose(_evil_predictions())
    path = tmp_path / "r.html"
    html = d.to_html(path)
    assert path.read_text(encoding="utf-8") == html
    for section in REPORT_SECTIONS:
        assert f'<section id="{section}"' in html
    # nothing is fetched: no http(s) or protocol-relative src/href/url()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html)
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", html)
    assert "<svg" in html  # the calibration figure is inline
    assert "Content-Security-Policy" in html
    # skipped sections say why
    assert "Skipped: no chain was given." in html


def test_every_summary_sentence_cites_the_numbers_of_the_tables():
    from toolkit.report import summary_sentences

    p = _evil_predictions()
    d = tk.diagnose(p)
    sentences = summary_sentences(d)
    html = d.to_html()
    assert all(str(markupsafe.escape(s)) in html for s in sentences)
    rate = p.errors.mean()
    accuracy = d.metrics.overall["accuracy"]
    zero_rule = d.metrics.baselines.set_index("metric").loc["accuracy", "zero_rule"]
    assert sentences[0] == (
        f"The model is wrong on {rate:.1%} of {p.n:,} rows; its accuracy {accuracy:.3f} is "
        f"{'better' if accuracy > zero_rule else 'not better'} than always predicting the "
        f"most frequent class ({zero_rule:.3f})."
    )
    table = d.error_patterns.table
    worst = table.loc[table["ci_low"].idxmax()]
    rows = worst["conditions"].mask(p.features)  # recomputed from the rule
    errors, n = int(p.errors[rows].sum()), int(rows.sum())
    assert (errors, n) == (worst["errors"], worst["n"])
    held_out = "confirmed" if worst["confirmed"] else "not confirmed"
    pattern_sentence = next(s for s in sentences if s.startswith("The most severe"))
    assert pattern_sentence.startswith(
        f"The most severe error pattern is {worst['pattern']}: {errors:,} of {n:,} rows "
        f"wrong ({errors / n:.1%}, 95% CI {worst['ci_low']:.1%}–{worst['ci_high']:.1%}, "
        f"against {rate:.1%} overall); {held_out} on held-out rows."
    )
    most = table.loc[table["excess_pp"].idxmax()]
    rows = most["conditions"].mask(p.features)
    rest_rate = p.errors[~rows].mean()
    excess = (p.errors[rows].sum() - rows.sum() * rest_rate) / p.n * 100
    assert most["excess_pp"] == pytest.approx(excess)
    assert pattern_sentence.endswith(f"the error rate would fall by {excess:.1f} points.")
    issues = d.label_issues.table
    assert (
        f"{int(issues['is_issue'].sum()):,} rows ({issues['is_issue'].mean():.1%}) are likely "
        "label errors or ambiguous examples; check them before blaming the model."
    ) in sentences


def test_long_tables_are_truncated_with_a_count():
    rng = np.random.default_rng(1)
    n = 5000
    p = tk.Predictions(
        rng.integers(0, 2, n),
        rng.integers(0, 2, n),
        features={f"c{j}": [f"v{k}" for k in rng.integers(0, 40, n)] for j in range(6)},
    )
    d = tk.diagnose(p, sections=["metrics", "slices"])
    assert len(d.slices) == 240 > MAX_TABLE_ROWS
    html = d.to_html()
    # collapsed to the first rows, 200 in the page, all in the JSON: the page says so
    count = html.split('<p class="count" data-table="t-slices">', 1)[1].split("</p>", 1)[0]
    assert count == (
        f'<span class="when-collapsed">{COLLAPSED_ROWS}</span>'
        '<span class="when-expanded">200</span>'
        f" of {len(d.slices):,} rows shown; the JSON has all of them."
        " Hover a column's name for what it means."
    )
    body = html.split('<table id="t-slices"', 1)[1].split("</tbody>", 1)[0]
    assert body.count("<tr") == MAX_TABLE_ROWS + 1  # the header row too
    assert body.count('class="more"') == MAX_TABLE_ROWS - COLLAPSED_ROWS


def test_regression_report_renders_without_class_sections():
    rng = np.random.default_rng(2)
    y = rng.normal(size=400)
    p = tk.Predictions(
        y, y + rng.normal(size=400) * 0.3, features={"g": rng.choice(["a", "b"], 400)}
    )
    html = tk.diagnose(p).to_html()
    assert "Not a classification task." in html and "No probabilities were given." in html
    assert "MAE" in html


def test_notebook_repr_is_the_report():
    d = tk.diagnose(_evil_predictions(), sections=["metrics"])
    assert d._repr_html_().startswith("<iframe")  # the report, framed for a notebook
    assert d.error_patterns is None and d.skipped["error_patterns"] == "not requested"


@pytest.mark.parametrize("section", ["patterns", "slices"])
def test_sortable_tables_carry_numeric_sort_keys(section):
    html = tk.diagnose(_evil_predictions()).to_html()
    table = html[html.index(f'<section id="{section}"') :]
    table = table[: table.index("</section>")]
    assert 'data-sort="' in table and "sortable" in table


def test_error_map_draws_class_names_with_dollar_signs_as_text():
    from toolkit.report.figures import error_map_axes, to_png_data_uri

    rng = np.random.default_rng(0)
    coords = rng.normal(size=(60, 2))
    classes = np.array(["$\\frac$", "$10k-$20k"] * 30)
    ax = error_map_axes(coords, classes, rng.random(60) < 0.3, np.repeat([0, 1, -1], 20))
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert sorted(legend) == sorted(["\\$\\frac\\$", "\\$10k-\\$20k"])  # escaped: no math text
    assert to_png_data_uri(ax).startswith("data:image/png;base64,")


def test_error_map_outlines_the_core_of_the_top_clusters_only():
    from toolkit.report.figures import error_map_axes

    rng = np.random.default_rng(4)
    # cluster 0 fell apart on the map: 100 rows near (0, 0), 20 near (10, 10)
    main, stray = rng.normal(0, 0.5, (100, 2)), rng.normal(10, 0.5, (20, 2))
    others = [rng.normal((20 + 3 * k, -20), 0.3, (15, 2)) for k in range(11)]
    coords = np.vstack([main, stray, *others])
    clusters = np.concatenate([np.zeros(120, int), np.repeat(np.arange(1, 12), 15)])
    classes = np.resize(np.array(["a", "b"]), len(coords))
    ax = error_map_axes(coords, classes, rng.random(len(coords)) < 0.3, clusters)
    numbers = sorted(int(t.get_text()) for t in ax.texts)
    assert numbers == list(range(10))  # clusters 0..9: the ten with the most errors
    first_ring = ax.lines[0].get_xydata()
    assert np.abs(first_ring).max() < 3  # around the 100-row core, not out to (10, 10)
    zero = next(t for t in ax.texts if t.get_text() == "0")
    assert np.abs(np.asarray(zero.xy)).max() < 1.5  # numbered at a real point of the core
