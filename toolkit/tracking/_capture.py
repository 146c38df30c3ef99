"""What a run records without being asked: code version, environment, console output.

Git state, the package list and MLflow's run-context tags are read once per process and
working directory: a script's code and environment do not change while it runs, and
reading them costs tens of milliseconds that would otherwise be paid by every small run.
"""

from __future__ import annotations

import functools
import io
import os
import platform
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

__all__ = [
    "STORE_NAMES",
    "GitState",
    "Tee",
    "environment",
    "git_state",
    "package_versions",
    "run_context_tags",
    "static_environment",
]

#: Longest diff stored as an artifact (bigger diffs are cut, and the cut is said).
MAX_DIFF_BYTES = 20_000_000
#: MLflow's default store files and artifact folders: wherever they are in a working tree,
#: they are records of runs, not changes to the code.
STORE_NAMES = (
    "mlflow.db",
    "mlflow.db-wal",
    "mlflow.db-shm",
    "mlflow.db-journal",
    "mlflow.db.lock",
    "mlruns",
    "mlartifacts",
)


@dataclass(frozen=True)
class GitState:
    """The code version of a working tree."""

    commit: str | None = None
    branch: str | None = None
    dirty: bool | None = None
    root: str | None = None
    status: str = ""
    diff: str = ""
    notes: list[str] = field(default_factory=list)


def _git(args: list[str], cwd: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout if out.returncode == 0 else None


def _pathspec(root: str, exclude: tuple[str, ...]) -> list[str]:
    """The whole tree but MLflow's store files (by name, anywhere) and ``exclude``."""
    specs = [":/"]
    for name in STORE_NAMES:
        specs += [f":(top,exclude,glob)**/{name}", f":(top,exclude,glob)**/{name}/**"]
    top = Path(os.path.realpath(root))
    for path in exclude:
        try:
            relative = Path(os.path.realpath(path)).relative_to(top)
        except ValueError:  # outside the working tree
            continue
        if relative.parts:
            specs.append(f":(top,exclude,literal){relative.as_posix()}")
    return specs


@functools.lru_cache(maxsize=8)
def git_state(cwd: str, exclude: tuple[str, ...] = ()) -> GitState:
    """Commit, branch, dirty flag, ``git status`` and the diff against HEAD of ``cwd``.

    MLflow's store files never count as changes: files and folders named as in
    :data:`STORE_NAMES` anywhere in the tree, and the paths in ``exclude`` (the store a
    run writes to, see ``_store.store_paths``, and the spool). A run that keeps its store
    in the repository would otherwise find the tree dirty because of its own records.

    Returns an empty :class:`GitState` outside a repository or without git.
    """
    root = _git(["rev-parse", "--show-toplevel"], cwd)
    if root is None:
        return GitState()
    root = root.strip()
    specs = ["--", *_pathspec(root, exclude)]
    commit = (_git(["rev-parse", "HEAD"], cwd) or "").strip() or None
    branch = (_git(["rev-parse", "--abbrev-ref", "HEAD"], cwd) or "").strip() or None
    status = _git(["status", "--porcelain=v1", "--untracked-files=normal", *specs], cwd) or ""
    diff = (_git(["diff", "HEAD", "--no-color", "--binary", *specs], cwd) or "") if commit else ""
    notes = []
    if len(diff.encode()) > MAX_DIFF_BYTES:
        diff = diff.encode()[:MAX_DIFF_BYTES].decode(errors="ignore")
        notes.append(f"diff cut at {MAX_DIFF_BYTES} bytes")
    return GitState(
        commit=commit,
        branch=branch,
        dirty=bool(status.strip()),
        root=root,
        status=status,
        diff=diff,
        notes=notes,
    )


@functools.lru_cache(maxsize=1)
def package_versions() -> str:
    """``name==version`` of every installed distribution, sorted, one a line."""
    seen = {}
    for dist in metadata.distributions():
        name, version = _name_and_version(dist)
        if name and name.lower() not in seen:
            seen[name.lower()] = f"{name}=={version}"
    return "\n".join(seen[k] for k in sorted(seen)) + "\n"


def _name_and_version(dist: metadata.Distribution) -> tuple[str | None, str | None]:
    """Name and Version from the metadata headers.

    ``dist.metadata`` parses the whole file as an e-mail message, and ``dist.version``
    parses it again: with ~100 packages that is a quarter of a second, paid by the first
    run of every process. Both fields are single header lines, so reading the headers up
    to the first blank line gives the same answer in a tenth of the time.
    """
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    name = version = None
    for line in text.splitlines():
        if not line.strip():
            break
        if name is None and line.startswith("Name:"):
            name = line[5:].strip()
        elif version is None and line.startswith("Version:"):
            version = line[8:].strip()
        if name and version:
            return name, version
    meta = dist.metadata  # unusual layout: let importlib parse it (once)
    return meta["Name"], meta["Version"]


def _memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


@functools.lru_cache(maxsize=1)
def static_environment() -> dict[str, Any]:
    """Python, platform, hardware, executable and host name: what no run of this process changes."""
    memory = _memory_bytes()
    cpus = os.cpu_count()
    hardware = f"{cpus} CPUs, {platform.machine()}"
    if memory:
        hardware += f", {memory / 2**30:.1f} GiB RAM"
    processor = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                processor = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "hostname": socket.gethostname(),
        "cpu_count": cpus,
        "memory_bytes": memory,
        "processor": processor,
        "hardware": hardware,
    }


def environment() -> dict[str, Any]:
    """Python, platform, hardware, argv, cwd and pid of this process."""
    return {
        **static_environment(),
        "argv": list(sys.argv),
        "cwd": os.getcwd(),
        "pid": os.getpid(),
    }


def run_context_tags() -> dict[str, str]:
    """MLflow's own run-context tags: ``mlflow.user``, ``mlflow.source.name`` and
    ``mlflow.source.type``, and in a notebook or on Databricks the tags of that context.

    MLflow's git context is left out: it reads the repository of the main file with
    GitPython, while the run records the working directory's state (:func:`git_state`),
    whose dirty flag and diff the git tags must agree with.
    """
    main = sys.argv[0] if sys.argv else ""
    return dict(_context_tags(main, os.environ.get("MLFLOW_RUN_CONTEXT")))


@functools.lru_cache(maxsize=8)
def _context_tags(main: str, run_context: str | None) -> tuple[tuple[str, str], ...]:
    from mlflow.tracking.context.git_context import GitRunContext
    from mlflow.tracking.context.registry import resolve_tags

    del run_context  # part of the cache key: MLflow reads MLFLOW_RUN_CONTEXT itself
    tags = resolve_tags(ignore=[GitRunContext])
    # MLflow drops all three when the user name cannot be read (some containers).
    tags.setdefault("mlflow.user", str(os.getuid()) if hasattr(os, "getuid") else "unknown")
    tags.setdefault("mlflow.source.name", main or "<console>")
    tags.setdefault("mlflow.source.type", "LOCAL")
    return tuple((str(k), str(v)) for k, v in tags.items())


class Tee(io.TextIOBase):
    """Write to a console stream and to a log file at once.

    Everything else (``fileno``, ``isatty``, ``encoding``) is the console stream's, so code
    that checks for a terminal behaves as before.
    """

    def __init__(self, stream: TextIO, sink: TextIO, lock: threading.Lock) -> None:
        self._stream = stream
        self._sink = sink
        self._lock = lock

    @property
    def stream(self) -> TextIO:
        return self._stream

    def write(self, text: str) -> int:
        written = self._stream.write(text)
        with self._lock:
            if not self._sink.closed:
                self._sink.write(text)
        return written

    def flush(self) -> None:
        self._stream.flush()
        with self._lock:
            if not self._sink.closed:
                self._sink.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._stream, "encoding", "utf-8")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
