"""What every benchmark script shares: the machine it ran on, and its section of RESULTS.md."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


def machine() -> dict[str, str]:
    """uname, CPU model, usable cores, RAM and the load average right now."""
    cpu = ram = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 1024**2:.1f} GiB"
                break
    except OSError:
        pass
    uname = subprocess.run(["uname", "-a"], capture_output=True, text=True).stdout.strip()
    return {
        "uname": uname or " ".join(platform.uname()),
        "cpu": cpu,
        "cores": str(len(os.sched_getaffinity(0))),
        "ram": ram,
        "load": ", ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def machine_line(host: dict[str, str] | None = None) -> str:
    """The machine as one markdown line fragment."""
    host = host or machine()
    return f"`{host['uname']}`; CPU {host['cpu']}, {host['cores']} cores, {host['ram']} RAM"


def update_results(name: str, section: str, path: Path = RESULTS) -> None:
    """Replace the ``<!-- name:start -->`` ... ``<!-- name:end -->`` block of RESULTS.md
    (appended when missing); ``section`` may carry the markers itself or not."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    body = section.strip()
    if body.startswith(start):
        body = body[len(start) :]
    if body.endswith(end):
        body = body[: -len(end)]
    block = f"{start}\n{body.strip()}\n{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")
