"""Every script in examples/ runs offline to completion."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.py"))


@pytest.mark.slow
@pytest.mark.parametrize("script", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(script, tmp_path):
    out = subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip()
    if script.name == "digits_images.py":  # images given: thumbnails in the page only
        html = (tmp_path / "digits.html").read_text(encoding="utf-8")
        assert html.count('<figure class="thumb">') >= 2 * 12 + 10
        assert "data:image" not in (tmp_path / "digits.json").read_text(encoding="utf-8")
