"""Helpers shared by the test modules."""

from __future__ import annotations

import subprocess
import sys

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
