"""Every Python block of the README runs, as written, and prints what it says it prints."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import toolkit
import toolkit.datasets

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> dict[str, str]:
    """Each ```python block of the README, keyed by the heading it sits under."""
    text = README.read_text(encoding="utf-8")
    blocks = {}
    for match in re.finditer(r"```python\n(.*?)```", text, flags=re.S):
        heading = re.findall(r"^## (.+)$", text[: match.start()], flags=re.M)[-1]
        assert heading not in blocks, f"two Python blocks under '{heading}'"
        blocks[heading] = match.group(1)
    return blocks


def test_the_readme_has_the_blocks_this_file_runs():
    assert set(python_blocks()) == {"A tour of the Python API", "Adding a section to the diagnosis"}


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """A working folder, store, spool and lock folder of the test's own."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("TOOLKIT_SPOOL_DIR", str(tmp_path / "spool"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


@pytest.mark.slow
def test_the_tour_runs_as_written_and_its_comparison_is_true(sandbox, monkeypatch, capsys):
    # the block as written, on a sample of Adult for time (3,000 + 1,500 rows)
    full = toolkit.datasets.load_adult()
    sample = tuple(part.sample(n, random_state=0) for part, n in zip(full, (3000, 1500)))
    monkeypatch.setattr(toolkit.datasets, "load_adult", lambda: tuple(s.copy() for s in sample))
    namespace: dict = {}
    exec(compile(python_blocks()["A tour of the Python API"], "README.md", "exec"), namespace)

    assert "income" not in namespace["p"].features.columns  # the label is not a feature
    report = json.loads((sandbox / "reports" / "adult.json").read_text(encoding="utf-8"))
    assert report["metrics"]
    assert "<html" in (sandbox / "reports" / "adult.html").read_text(encoding="utf-8")

    # the printed error rates are those of the two models, recomputed here
    train, test = sample
    num = namespace["num"]
    old = LogisticRegression(max_iter=1000).fit(train[num], train["income"]).predict(test[num])
    expected_a = float(np.mean(old != test["income"].to_numpy()))
    expected_b = float(np.mean(namespace["p"].errors))
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[-1] == f"error rate {expected_a:.3f} -> {expected_b:.3f}"
    change = namespace["change"]
    assert change.overall["n_paired"] == len(test)
    assert change.overall["fixed"] - change.overall["broken"] == round(
        (expected_a - expected_b) * len(test)
    )


def test_adding_a_section_runs_and_prints_what_it_says(sandbox, capsys):
    block = python_blocks()["Adding a section to the diagnosis"]
    exec(compile(block, "README.md", "exec"), {})
    printed = capsys.readouterr().out.strip()
    expected = block.split('print(d.to_dict()["errors_by_class"])')[1].split("# ")[1].split("\n")[0]
    assert printed == expected.strip()
    # the block unregisters its section: the registry is as before
    p = toolkit.Predictions([0, 1], [0, 0])
    assert "errors_by_class" not in toolkit.diagnose(p, sections=["metrics"]).to_dict()
