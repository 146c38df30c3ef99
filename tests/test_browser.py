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

    requests, errors = [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1300, "height": 900})

        def block(route):
            if route.request.url != url and not route.request.url.startswith("data:"):
                requests.append(route.request.url)
                route.abort()
            else:
                route.continue_()

        page.route("**/*", block)
        page.on(
            "request",
            lambda r: (
                r.url not in (url,) and not r.url.startswith("data:") and requests.append(r.url)
            ),
        )
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.on("pageerror", lambda e: errors.append(str(e)))
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
        cells = page.locator("#t-patterns tbody tr td:nth-child(3)").all_inner_texts()
        values = [int(c.replace(",", "")) for c in cells]
        assert values == sorted(values, reverse=True)
        page.screenshot(path=str(REPORTS / "demo.png"), full_page=True)
        browser.close()
    assert requests == []
    assert errors == []
    assert load_s < 5  # generous on a busy CI machine; measured in benchmarks/
