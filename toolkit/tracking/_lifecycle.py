"""What surrounds an open run of ``track``: console capture, SIGTERM, the heartbeat, and
the status that the way a block ended means."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any

from toolkit.tracking import _capture
from toolkit.tracking._values import clip, now_ms

if TYPE_CHECKING:  # pragma: no cover
    from toolkit.tracking._run import Run

__all__ = ["DEFAULT_HEARTBEAT_S", "Lifecycle", "RunTerminated", "heartbeat_interval", "status_of"]

logger = logging.getLogger(__name__)

#: Seconds between heartbeats; a RUNNING run whose heartbeat is much older is stale.
DEFAULT_HEARTBEAT_S = 30.0
#: Where the console output of a run is stored, in its artifacts.
CONSOLE_LOG = "logs/output.log"


class RunTerminated(SystemExit):
    """Raised in the main thread when the process receives SIGTERM during a run."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum


def heartbeat_interval() -> float:
    """``TOOLKIT_HEARTBEAT_S`` seconds, else 30."""
    raw = os.environ.get("TOOLKIT_HEARTBEAT_S")
    try:
        return float(raw) if raw else DEFAULT_HEARTBEAT_S
    except ValueError:
        return DEFAULT_HEARTBEAT_S


def status_of(exc: BaseException | None) -> tuple[str, dict[str, str]]:
    """The run status a block's exception means, and the tags that say why.

    >>> status_of(None)
    ('FINISHED', {})
    >>> status_of(SystemExit(2))
    ('FAILED', {'toolkit.end_reason': 'sys.exit(2)', 'toolkit.exit_code': '2'})
    """
    if exc is None:
        return "FINISHED", {}
    if isinstance(exc, RunTerminated):
        name = signal.Signals(exc.signum).name
        return "KILLED", {"toolkit.end_reason": f"signal {name}"}
    if isinstance(exc, KeyboardInterrupt):
        return "KILLED", {"toolkit.end_reason": "KeyboardInterrupt (SIGINT)"}
    if isinstance(exc, SystemExit):
        code = exc.code
        if code is None or code == 0:
            return "FINISHED", {"toolkit.exit_code": "0"}
        return "FAILED", {
            "toolkit.end_reason": f"sys.exit({code!r})",
            "toolkit.exit_code": clip(str(code), 1000),
        }
    return "FAILED", {
        "toolkit.end_reason": "exception",
        "toolkit.error.type": f"{type(exc).__module__}.{type(exc).__qualname__}",
        "toolkit.error.message": clip(str(exc), 5000),
    }


class Lifecycle:
    """Console capture, the SIGTERM handler and the heartbeat thread of one open run.

    :meth:`start` turns them on; :meth:`stop` stops the heartbeat and the capture (before
    the run sends its last values); :meth:`restore` puts the previous SIGTERM handler
    back (after the run ended, so SIGTERM during the upload still ends it KILLED).
    """

    def __init__(self, run: Run) -> None:
        self.run = run
        self._old_handler: Any = None
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def start(self) -> None:
        self._start_console_capture()
        self._install_signal_handler()
        self._start_heartbeat()

    def stop(self) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join(timeout=5.0)
        self._stop_console_capture()

    def restore(self) -> None:
        if self._old_handler is not None:
            signal.signal(signal.SIGTERM, self._old_handler)
            self._old_handler = None

    # ------------------------------------------------------------------ console
    def _start_console_capture(self) -> None:
        self._log_path = self.run.staging_path(CONSOLE_LOG)
        self._log_file = open(self._log_path, "w", encoding="utf-8")
        lock = threading.Lock()
        self._tees = (
            _capture.Tee(sys.stdout, self._log_file, lock),
            _capture.Tee(sys.stderr, self._log_file, lock),
        )
        sys.stdout, sys.stderr = self._tees  # type: ignore[assignment]

    def _stop_console_capture(self) -> None:
        out, err = self._tees
        if sys.stdout is out:
            sys.stdout = out.stream
        if sys.stderr is err:
            sys.stderr = err.stream
        self._log_file.close()
        if self._log_path.exists() and self._log_path.stat().st_size == 0:
            self._log_path.unlink()

    # ------------------------------------------------------------------ SIGTERM
    def _install_signal_handler(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return  # someone else handles it (an outer run, or the application)

        def on_sigterm(signum: int, frame: Any) -> None:
            raise RunTerminated(signum)

        self._old_handler = signal.signal(signal.SIGTERM, on_sigterm)

    # ------------------------------------------------------------------ heartbeat
    def _start_heartbeat(self) -> None:
        interval = heartbeat_interval()
        run, stop = self.run, self._stop

        def beat() -> None:
            while not stop.wait(interval):
                try:
                    run.set_tag("toolkit.heartbeat", str(now_ms()))
                    run.flush()
                except Exception as exc:  # keep beating; the run's end reports errors
                    logger.warning("heartbeat of run %s failed: %s", run.run_id, exc)

        self._beat = threading.Thread(target=beat, name=f"toolkit-heartbeat-{run.run_id[:8]}")
        self._beat.daemon = True
        self._beat.start()
