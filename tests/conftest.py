"""Helpers shared by the test modules."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

#: The report's section ids, in page order: the summary, each registered section's
#: links, then the run facts.
REPORT_SECTIONS = [
    "summary",
    "metrics",
    "classes",
    "calibration",
    "thresholds",
    "calibration-fix",
    "leakage",
    "splits",
    "slices",
    "patterns",
    "clusters",
    "label-issues",
    "labeling-queue",
    "chain",
    "learning-curve",
    "run",
]


def loaded_modules(code: str, watch: set[str]) -> set[str]:
    """Run ``code`` in a fresh interpreter; the top-level packages of ``watch`` it loaded."""
    loaded = "{m.split('.')[0] for m in sys.modules}"
    script = f"{code}\nimport sys\nprint(','.join(sorted({loaded} & set({sorted(watch)!r}))))\n"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return {m for m in out.stdout.strip().split(",") if m}


@pytest.fixture(scope="session")
def template_db(tmp_path_factory):
    """A migrated empty SQLite store, made once: migrating a new file takes seconds."""
    from toolkit.tracking import _store

    path = tmp_path_factory.mktemp("template") / "mlflow.db"
    _store.get_client(f"sqlite:///{path}", create=True)
    return path


@pytest.fixture
def uri(tmp_path, monkeypatch, template_db):
    """An empty SQLite store of this test (a copy of the template); the spool, the store
    locks and the default store (MLFLOW_TRACKING_URI) point into the test's folder."""
    monkeypatch.setenv("TOOLKIT_SPOOL_DIR", str(tmp_path / "spool"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # where store locks go
    path = tmp_path / "store" / "mlflow.db"
    path.parent.mkdir()
    with sqlite3.connect(template_db) as src, sqlite3.connect(path) as dst:
        src.backup(dst)
    store = f"sqlite:///{path}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    return store


def tracking_cli(argv: list[str]) -> tuple[int, str]:
    """Run a tracking command the way toolkit/cli.py does (ToolkitError -> exit 1):
    (exit code, the error's message or "")."""
    import argparse

    from toolkit.exceptions import ToolkitError
    from toolkit.tracking.commands import register

    parser = argparse.ArgumentParser(prog="toolkit")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    try:
        return args.func(args), ""
    except ToolkitError as exc:
        return 1, str(exc)
