"""Replaying the journals that dead processes left (:mod:`toolkit.tracking._journal`).

``toolkit runs --mark-stale`` and the start of every run call :func:`replay_orphans` for
their store: what a killed run logged and had not sent reaches the store through the
run's own send path, its staged files are uploaded, and a run still RUNNING ends FAILED
with the reason in tag ``toolkit.end_reason``.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.tracking import _store
from toolkit.tracking._journal import UNREPLAYABLE, JournalContent, claim, journal_dir, read
from toolkit.tracking._run import Run
from toolkit.tracking._values import Pending
from toolkit.tracking.errors import RunNotFoundError

if TYPE_CHECKING:  # pragma: no cover
    from mlflow import MlflowClient

__all__ = ["Replayed", "replay", "replay_orphans"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Replayed:
    """One journal replayed: the run, the values sent, the status it was given (or None)."""

    run_id: str
    tracking_uri: str
    n_sent: int
    status: str | None
    journal: str


def replay_orphans(tracking_uri: str) -> list[Replayed]:
    """Replay every journal left by a dead process for a run in ``tracking_uri``.

    A journal that cannot be replayed now (the store refuses) stays for the next try; one
    whose run no longer exists is renamed ``*.unreplayable`` and kept.
    """
    folder = journal_dir()
    try:
        names = sorted(entry.name for entry in os.scandir(folder) if entry.name.endswith(".jsonl"))
    except OSError:
        return []
    done = []
    for name in names:
        path = folder / name
        fd = claim(path)
        if fd is None:
            continue
        try:
            content = read(path)
            if not content.location and not content.n_values:  # died before its first line
                path.unlink(missing_ok=True)
                continue
            if content.location.get("uri") != tracking_uri:
                continue
            try:
                done.append(replay(path, content))
            except Exception as exc:
                logger.warning("journal %s could not be replayed yet: %s", path, exc)
                continue
            path.unlink(missing_ok=True)
        finally:
            os.close(fd)
    return done


def replay(path: Path, content: JournalContent) -> Replayed:
    """Send what ``content`` (read from ``path``) holds that its store lacks, and end the run.

    Raises whatever the store raises; the caller keeps the journal then.
    """
    where = content.location
    uri, run_id = where["uri"], where["run_id"]
    client = _store.get_client(uri)
    try:
        stored = _store.get_run(client, run_id)
    except RunNotFoundError:
        path.rename(path.with_name(path.name + UNREPLAYABLE))
        raise
    pending = _missing(client, stored, content)
    run = Run(
        client,
        uri,
        run_id,
        where.get("experiment_id", stored.info.experiment_id),
        where.get("experiment", ""),
        artifact_uri=stored.info.artifact_uri,
        journal=False,
    )
    status = None
    n_sent = len(pending.params) + len(pending.metrics) + len(pending.tags)
    if stored.info.status == "RUNNING":
        status = "FAILED"
        gone = "no longer exists" if _gone(where) else "did not finish the run (its end failed)"
        pending.tags.append(
            (
                "toolkit.end_reason",
                f"stale: process {where.get('pid')} on {where.get('host')} {gone}; "
                f"{n_sent} value(s) recovered from its journal",
            )
        )
    run._pending = pending
    folders = [Path(f) for f in content.staging if Path(f).is_dir()]
    if folders:
        run._artifacts = folders[0]
    run.close(status)  # sends, uploads the staged files, ends the run
    for folder in folders[1:]:
        shutil.rmtree(folder, ignore_errors=True)
    logger.warning(
        "run %s: %d value(s) recovered from the journal of process %s%s",
        run_id,
        n_sent,
        where.get("pid"),
        f"; marked {status}" if status else "",
    )
    return Replayed(run.run_id, run.tracking_uri, n_sent, status, str(path))


def _gone(where: dict[str, Any]) -> bool:
    """Whether the process that wrote the journal has ended (a journal is also left by a
    live process whose run could not end)."""
    if where.get("host") != socket.gethostname():
        return True
    try:
        os.kill(int(where.get("pid") or 0), 0)
    except ProcessLookupError:
        return True
    except (OSError, ValueError):
        return False
    return int(where.get("pid") or 0) <= 0


def _missing(client: MlflowClient, stored: Any, content: JournalContent) -> Pending:
    """The journal's unsent values less those the store already has."""
    have_params = stored.data.params
    params = []
    for key, value in dict(content.params).items():
        if key not in have_params:
            params.append((key, value))
        elif have_params[key] != value:
            logger.warning(
                "run %s: param %r is %r in the store and %r in the journal; kept the store's",
                stored.info.run_id,
                key,
                have_params[key],
                value,
            )
    have: set[tuple] = set()
    for key in {m[0] for m in content.unsent.metrics} & set(stored.data.metrics):
        history = _store.call_with_retry(client.get_metric_history, stored.info.run_id, key)
        have.update((m.key, m.value, m.timestamp, m.step) for m in history)
    metrics = []
    for key, value, ts, step in content.unsent.metrics:
        row = (key, float(value), int(ts), int(step))
        if row not in have:
            have.add(row)
            metrics.append(row)
    tags = list(dict(content.unsent.tags).items())  # the last value of each
    return Pending(params=params, metrics=metrics, tags=tags)
