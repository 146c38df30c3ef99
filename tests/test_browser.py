"""The demo report in a real browser (Debian's chromium, driven by Playwright).

Every network request is blocked and recorded; the report must make none, log no
console error, and show every section. A screenshot is saved under reports/.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from conftest import REPORT_SECTIONS

from toolkit.report.cells import COLLAPSED_ROWS

REPORTS = Path(__file__).resolve().parents[1] / "reports"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _watch(page, url: str) -> tuple[list[str], list[str]]:
    """Block and record every request but the page's own and data: URIs; record console
    errors and page errors. Returns the two lists, filled as the page runs."""
    requests: list[str] = []
    errors: list[str] = []

    def block(route):
        if route.request.url != url and not route.request.url.startswith("data:"):
            requests.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    page.route("**/*", block)
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(str(e)))
    return requests, errors


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        message = "Debian's chromium is not installed (make test installs it)"
        if os.environ.get("TOOLKIT_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.mark.slow
def test_demo_report_opens_offline_with_no_request_and_no_console_error(tmp_path):
    from playwright.sync_api import sync_playwright

    from toolkit.demo import run_demo

    executable = _chromium()
    run_demo(REPORTS, tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", echo=lambda *a, **k: None)
    html = REPORTS / "demo.html"
    assert html.stat().st_size < 2_000_000
    url = html.resolve().as_uri()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1300, "height": 900})

        requests, errors = _watch(page, url)
        started = time.perf_counter()
        page.goto(url, wait_until="load")
        load_s = time.perf_counter() - started
        for section in REPORT_SECTIONS:
            assert page.locator(f"section#{section}").count() == 1, section
        assert page.locator("section#summary p").count() >= 2
        # the demo runs every analysis but the chain: each section shows its content
        for table_id in ("t-slices", "t-patterns", "t-clusters", "t-label-issues"):
            assert page.locator(f"#{table_id} tbody tr").count() > 0, table_id
        assert page.locator("#t-labeling-queue tbody tr").count() == 100
        assert page.locator("section#clusters img").count() == 1
        # the sortable tables work: clicking "errors" sorts the patterns by errors
        header = page.locator("#t-patterns th", has_text="errors").first
        header.click()
        header.click()
        cells = page.locator("#t-patterns tbody tr td:nth-child(3)").all_text_contents()
        values = [int(c.replace(",", "")) for c in cells]
        assert values == sorted(values, reverse=True)
        # after sorting, the rows shown collapsed are the first ones of the new order
        seen = page.eval_on_selector_all(
            "#t-patterns tbody tr",
            "trs => trs.filter(r => getComputedStyle(r).display !== 'none')"
            ".map(r => r.cells[2].textContent)",
        )
        assert [int(c.replace(",", "")) for c in seen] == values[: min(COLLAPSED_ROWS, len(values))]
        # long tables show their first rows; "show all" shows the rest and says so
        visible = "tr => tr.filter(r => getComputedStyle(r).display !== 'none').length"
        rows = "#t-label-issues tbody tr"
        assert page.eval_on_selector_all(rows, visible) == COLLAPSED_ROWS
        count = page.locator('p.count[data-table="t-label-issues"]')
        assert count.inner_text().startswith(f"{COLLAPSED_ROWS} of ")
        page.locator('label[for="all-t-label-issues"]').click()
        shown = page.locator(rows).count()
        assert page.eval_on_selector_all(rows, visible) == shown > 10
        assert count.inner_text().startswith(f"{shown:,} of ")
        # every column of the section tables says what it means on hover
        untitled = page.eval_on_selector_all(
            "table[id] th", "ths => ths.filter(th => !th.title).map(th => th.textContent)"
        )
        assert untitled == []
        # every nav link scrolls its section to the top of the window, just under the nav bar
        nav_height = page.locator("nav").bounding_box()["height"]
        for link in page.locator("nav a").all():
            target = link.get_attribute("href")[1:]
            link.click()
            page.wait_for_timeout(50)
            top = page.evaluate(f"document.getElementById('{target}').getBoundingClientRect().top")
            at_end = page.evaluate(
                "window.scrollY + window.innerHeight >= document.documentElement.scrollHeight - 2"
            )
            assert nav_height - 1 <= top <= nav_height + 20 or at_end, (target, top)
        page.locator('label[for="all-t-label-issues"]').click()  # collapsed again
        page.screenshot(path=str(REPORTS / "demo.png"), full_page=True)
        # never wider than the window, at 1400 and 800 px; height at 1400 px, collapsed
        sizes = {}
        for width in (1400, 800):
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(url, wait_until="load")
            sizes[width] = page.evaluate(
                "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
            )
            assert sizes[width][0] == width, sizes
        page.set_viewport_size({"width": 1400, "height": 900})
        page.goto(url, wait_until="load")
        page.screenshot(path=str(REPORTS / "first-screen.png"))
        print(f"demo report at 1400 px: {sizes[1400][1]:,} px tall; at 800 px: {sizes[800][1]:,}")
        assert sizes[1400][1] < 8000, sizes
        browser.close()
    assert requests == []
    assert errors == []
    assert load_s < 5  # generous on a busy CI machine; measured in benchmarks/


@pytest.mark.filterwarnings("ignore:IPython3 lexer unavailable")  # no IPython: plain Python
def test_report_links_work_inside_a_notebook_frame_as_an_export_embeds_it(tmp_path):
    # a notebook whose cell shows a Diagnosis, exported by nbconvert's HTMLExporter: the
    # cell's text/html output (the report in a sandboxed frame) is written into the page,
    # and the frame's "#id" links must scroll the frame, not leave it
    import nbformat
    import numpy as np
    from nbconvert import HTMLExporter
    from playwright.sync_api import sync_playwright

    import toolkit as tk

    executable = _chromium()
    rng = np.random.default_rng(0)
    p = tk.Predictions(rng.integers(0, 2, 300), proba=rng.dirichlet([1, 1], 300))
    d = tk.diagnose(p, sections=["metrics", "label_issues"])
    cell = nbformat.v4.new_code_cell("d = tk.diagnose(p)\nd", execution_count=1)
    cell.outputs = [
        nbformat.v4.new_output(
            "execute_result",
            data={"text/html": d._repr_html_(), "text/plain": repr(d)},
            execution_count=1,
        )
    ]
    notebook = nbformat.v4.new_notebook(cells=[cell])
    nbformat.validate(notebook)
    body, _ = HTMLExporter().from_notebook_node(notebook)
    page_path = tmp_path / "exported.html"
    page_path.write_text(body, encoding="utf-8")
    url = page_path.as_uri()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        requests, errors = _watch(page, url)
        page.goto(url, wait_until="load")
        frame = page.frames[1]
        assert frame.evaluate("window.scrollY") == 0
        frame.locator('nav a[href="#label-issues"]').click()
        page.wait_for_timeout(100)
        top = frame.evaluate("document.getElementById('label-issues').getBoundingClientRect().top")
        assert frame.evaluate("window.scrollY") > 0 and 0 <= top <= 80
        assert page.url == url and len(page.frames) == 2  # nothing navigated away
        browser.close()
    # nbconvert's own template asks a CDN for require.js and MathJax (blocked here, as
    # offline); the report in the cell asks for nothing and raises nothing
    assert all(r.startswith("https://cdnjs.cloudflare.com/") for r in requests), requests
    assert [e for e in errors if "Failed to load resource" not in e] == []


@pytest.mark.slow
def test_digits_report_thumbnails_load_offline_and_fit_the_window(tmp_path):
    # examples/digits_images.py passes images=: label issues, clusters and the queue
    # show the digits; every thumbnail must decode, and the page stay within 1400 px
    import runpy

    from playwright.sync_api import sync_playwright

    executable = _chromium()
    example = Path(__file__).resolve().parents[1] / "examples" / "digits_images.py"
    runpy.run_path(str(example), run_name="digits_example")["main"](str(tmp_path))
    html = tmp_path / "digits.html"
    print(f"digits report: {html.stat().st_size:,} bytes")
    assert html.stat().st_size < 2_000_000
    url = html.resolve().as_uri()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        requests, errors = _watch(page, url)
        page.goto(url, wait_until="load")
        counts = {
            section: page.locator(f"section#{section} figure.thumb img").count()
            for section in ("label-issues", "clusters", "labeling-queue")
        }
        assert counts["label-issues"] == counts["labeling-queue"] == 12, counts
        assert counts["clusters"] >= 10, counts  # at least two listed clusters, five each
        widths = page.eval_on_selector_all(
            "figure.thumb img", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)"
        )
        assert len(widths) == sum(counts.values()) and all(w == 48 for w in widths), widths
        assert page.evaluate("document.documentElement.scrollWidth") == 1400
        page.locator("section#clusters").screenshot(path=str(REPORTS / "digits-clusters.png"))
        browser.close()
    assert requests == []
    assert errors == []
