"""Run every benchmark in this folder (`make bench`)."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

here = Path(__file__).parent
for script in sorted(here.glob("bench_*.py")):
    print(f"== {script.name}", flush=True)
    runpy.run_path(str(script), run_name="__main__")
sys.exit(0)
