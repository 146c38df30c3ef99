"""A run's journal on local disk: what it was given, written before it is sent.

Every run of ``track`` appends each param, metric and tag it accepts to a file in
``<spool dir>/journal/`` before buffering it, and a checkpoint after each send that
succeeded. While the run is open its process holds an exclusive lock on the file; the
operating system releases the lock when the process ends, however it ends (SIGKILL
included). The file is removed when the run has ended and everything reached a store.

A file whose lock is free belongs to a process that died, or to a run whose end failed.
:func:`toolkit.tracking._recovery.replay` sends what it holds after its last checkpoint
to the run (metrics the store already has are not sent twice), uploads the files the run
had staged, and ends a run still RUNNING as FAILED, saying why. ``toolkit runs
--mark-stale`` and the start of the next run on the same store call it.

One JSON array per line: ``["run", {...}]`` where the run is (again, after a move to the
spool), ``["p"|"t", [[key, value], ...]]``, ``["m", [[key, value, ms, step], ...]]``,
``["sent", n]`` (the first n value lines reached the store) and ``["staging", folder]``.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolkit.tracking._values import Pending
from toolkit.tracking.spool import spool_dir

try:  # POSIX; elsewhere a dead process is told by its pid
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

__all__ = ["UNREPLAYABLE", "Journal", "JournalContent", "claim", "journal_dir", "read"]

logger = logging.getLogger(__name__)

#: Suffix of a journal that could not be replayed (its run is gone): kept, not retried.
UNREPLAYABLE = ".unreplayable"


def journal_dir() -> Path:
    """``<spool dir>/journal``: where open runs keep their journals."""
    return spool_dir() / "journal"


class Journal:
    """The append-only journal of one open run (see the module's docstring).

    Writing never stops the run: when the disk refuses a line, a warning says that the
    journal is off and the run goes on with what it holds in memory.
    """

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd
        self.lines = 0  # value lines written: the positions that checkpoints count
        self._lock = threading.Lock()

    @classmethod
    def open(cls, location: dict[str, Any]) -> Journal | None:
        """A new journal for the run at ``location`` (uri, run_id, experiment_id,
        experiment, artifact_uri); None, with a warning, when the folder cannot be written."""
        folder = journal_dir()
        name = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:12]}.jsonl"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        except OSError as exc:
            logger.warning("no journal for run %s (%s)", location.get("run_id"), exc)
            return None
        if fcntl is not None:  # blocking: a replayer may be looking at the new file
            fcntl.flock(fd, fcntl.LOCK_EX)
        journal = cls(folder / name, fd)
        journal.where(location)
        return journal

    def _write(self, record: list[Any], *, value: bool = False) -> None:
        data = (json.dumps(record, separators=(",", ":")) + "\n").encode("utf-8", "surrogatepass")
        with self._lock:
            if self._fd is None:
                return
            try:
                os.write(self._fd, data)
            except OSError as exc:
                logger.warning(
                    "the journal %s cannot be written (%s); what is logged from now on is "
                    "kept in memory only until it is sent",
                    self.path,
                    exc,
                )
                self._close_fd()
                return
            if value:
                self.lines += 1

    def where(self, location: dict[str, Any]) -> None:
        """Record where the run is (at the start, and after a move to the spool)."""
        self._write(["run", {**location, "pid": os.getpid(), "host": socket.gethostname()}])

    def values(self, kind: str, rows: list[tuple[Any, ...]]) -> None:
        """Append params (``"p"``), metrics (``"m"``) or tags (``"t"``); call under the
        run's lock, so that lines and buffer stay in the same order."""
        self._write([kind, rows], value=True)

    def sent(self, upto: int) -> None:
        """The first ``upto`` value lines reached the store."""
        self._write(["sent", upto])

    def staging(self, folder: Path) -> None:
        self._write(["staging", str(folder)])

    def _close_fd(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the lock
            self._fd = None

    def close(self, *, remove: bool) -> None:
        """Release the lock; remove the file when everything reached a store."""
        with self._lock:
            self._close_fd()
        if remove:
            self.path.unlink(missing_ok=True)


@dataclass
class JournalContent:
    """What a journal holds: where the run is, what was logged, how much was sent."""

    location: dict[str, Any] = field(default_factory=dict)
    params: list[tuple[str, str]] = field(default_factory=list)
    unsent: Pending = field(default_factory=Pending)
    staging: list[str] = field(default_factory=list)
    n_values: int = 0


def read(path: Path, *, everything: bool = False) -> JournalContent:
    """Parse a journal; a line cut short by the kill is skipped.

    ``unsent`` holds the metrics and tags after the last checkpoint, or every value
    (params too) with ``everything``.
    """
    content = JournalContent()
    rows: list[tuple[int, str, list]] = []
    sent = 0
    with open(path, encoding="utf-8", errors="surrogateescape") as handle:
        for line in handle:
            try:
                kind, body = json.loads(line)
            except (ValueError, TypeError):
                continue
            if kind == "run":
                content.location = body
            elif kind == "sent":
                sent = max(sent, int(body))
            elif kind == "staging":
                content.staging.append(body)
            elif kind in ("p", "m", "t"):
                rows.append((len(rows), kind, body))
    if everything:
        sent = 0
    for index, kind, body in rows:
        if kind == "p":  # every param: autologging may have held some back
            content.params.extend((k, v) for k, v in body)
            if everything:
                content.unsent.params.extend((k, v) for k, v in body)
        elif index >= sent:
            target = content.unsent.metrics if kind == "m" else content.unsent.tags
            target.extend(tuple(item) for item in body)
    content.n_values = len(rows)
    return content


def claim(path: Path) -> int | None:
    """An open descriptor holding the journal's lock, when its writer has ended; else None."""
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return None  # removed meanwhile: its run ended
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return None  # its process is alive
        return fd
    host, pid = path.name.rsplit("-", 2)[:2]  # pragma: no cover (no fcntl)
    if host == socket.gethostname() and _alive(int(pid)):  # pragma: no cover
        os.close(fd)
        return None
    return fd  # pragma: no cover


def _alive(pid: int) -> bool:  # pragma: no cover (platforms without fcntl)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True
