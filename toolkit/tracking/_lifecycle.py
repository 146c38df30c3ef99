"""What surrounds an open run of ``track``: console capture, SIGTERM, the heartbeat, MLflow
autologging, and the status that the way a block ended means."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TextIO

from toolkit.tracking import _capture, _store
from toolkit.tracking._values import clip, now_ms
from toolkit.tracking.errors import RunEndedError

if TYPE_CHECKING:  # pragma: no cover
    from toolkit.tracking._run import Run

__all__ = [
    "DEFAULT_FLUSH_S",
    "DEFAULT_HEARTBEAT_S",
    "Lifecycle",
    "RunTerminated",
    "autologging_on",
    "finishing",
    "flush_interval",
    "heartbeat_interval",
    "status_of",
]

logger = logging.getLogger(__name__)

#: Seconds between heartbeats; a RUNNING run whose heartbeat is much older is stale.
DEFAULT_HEARTBEAT_S = 30.0
#: Seconds a logged metric waits at most before it is sent.
DEFAULT_FLUSH_S = 2.0
#: Where the console output of a run is stored, in its artifacts.
CONSOLE_LOG = "logs/output.log"


class RunTerminated(SystemExit):
    """Raised in the main thread when the process receives SIGTERM during a run."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum


def _seconds(variable: str, default: float) -> float:
    raw = os.environ.get(variable)
    try:
        value = float(raw) if raw else default
    except ValueError:
        return default
    return value if value > 0 else default


def heartbeat_interval() -> float:
    """``TOOLKIT_HEARTBEAT_S`` seconds, else 30."""
    return _seconds("TOOLKIT_HEARTBEAT_S", DEFAULT_HEARTBEAT_S)


def flush_interval() -> float:
    """``TOOLKIT_FLUSH_S`` seconds, else 2: the longest a logged metric waits to be sent."""
    return _seconds("TOOLKIT_FLUSH_S", DEFAULT_FLUSH_S)


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


def autologging_on() -> bool:
    """True when an MLflow autologging integration (``mlflow.autolog()``,
    ``mlflow.sklearn.autolog()``, ...) is on in this process."""
    from mlflow.utils import autologging_utils

    names = list(autologging_utils.AUTOLOGGING_INTEGRATIONS)
    return any(not autologging_utils.autologging_is_disabled(name) for name in names)


class _ConsoleLog:
    """A run's console log: a file staged at the first write, so a run that prints
    nothing stages nothing (and uploads nothing)."""

    def __init__(self, run: Run) -> None:
        self._run = run
        self._file: TextIO | None = None
        self.closed = False

    def write(self, text: str) -> None:
        if self._file is None:
            if not text:
                return
            try:
                self._file = open(self._run.staging_path(CONSOLE_LOG), "w", encoding="utf-8")
            except RunEndedError:  # closed inside its block: the console still shows it
                self.closed = True
                return
        self._file.write(text)

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        self.closed = True
        if self._file is not None:
            self._file.close()


class _Heartbeats:
    """One daemon thread that refreshes the heartbeat of every open run of the process,
    and sends the metrics each has buffered every :func:`flush_interval` seconds.

    A thread per run costs its start and its join, milliseconds on a busy machine: more
    than the store calls of a small run.
    """

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        # a forked child neither beats for its parent's runs nor inherits a held lock
        self._due: dict[Run, list[float]] = {}  # run -> [interval, next beat, next flush]
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, run: Run, interval: float) -> None:
        with self._wake:
            now = time.monotonic()
            self._due[run] = [interval, now + interval, now + flush_interval()]
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="toolkit-heartbeat", daemon=True
                )
                self._thread.start()
            self._wake.notify()

    def remove(self, run: Run) -> None:
        with self._wake:
            self._due.pop(run, None)

    def _loop(self) -> None:
        while True:
            with self._wake:
                now = time.monotonic()
                beat = [run for run, (_, at, _) in self._due.items() if at <= now]
                flush = [run for run, (_, at, due) in self._due.items() if due <= now and at > now]
                for run in beat:
                    self._due[run][1] = now + self._due[run][0]
                for run in (*beat, *flush):
                    self._due[run][2] = now + flush_interval()
                if not beat and not flush:
                    times = [min(at, due) for _, at, due in self._due.values()]
                    self._wake.wait(min(times) - now if times else None)
                    continue
            for run in beat:
                if not _beat(run):
                    self.remove(run)
            for run in flush:
                if not _send(run):
                    self.remove(run)


def _beat(run: Run) -> bool:
    """Refresh the run's heartbeat tag and send what it buffered; False once it ended."""
    try:
        run.set_tag("toolkit.heartbeat", str(now_ms()))
        run.flush()
    except RunEndedError:  # closed inside its block: nothing to beat for
        return False
    except Exception as exc:  # keep beating; the run's end reports errors
        logger.warning("heartbeat of run %s failed: %s", run.run_id, exc)
    return True


def _send(run: Run) -> bool:
    """Send what the run buffered; False once it ended. A store that refuses keeps the
    values buffered and says so once (``Run._flush_soon``), not every few seconds."""
    if run.closed:
        return False
    if run._has_pending():
        run._flush_soon()
    return True


_HEARTBEATS = _Heartbeats()


class _Signals:
    """SIGTERM and Ctrl-C while runs are open: the first ends the innermost block (KILLED);
    any other, and any that arrives while a run finishes, waits until the finish is done.

    Without this, a second signal a few milliseconds after the first raised again inside
    the finish and left the run RUNNING with its buffered metrics unsent. The handlers are
    installed while a run is open, only where the application left Python's defaults
    (SIGTERM ends the process, SIGINT raises ``KeyboardInterrupt``), and only from the
    main thread.
    """

    def __init__(self) -> None:
        self._open = 0
        self._finishing = 0
        self._raised = False
        self.held: list[int] = []
        self._old: dict[int, Any] = {}

    def opened(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        if self._open == 0:
            defaults = {signal.SIGTERM: signal.SIG_DFL, signal.SIGINT: signal.default_int_handler}
            for signum, default in defaults.items():
                if signal.getsignal(signum) is default:
                    self._old[signum] = signal.signal(signum, self._handle)
        self._open += 1

    def closed(self) -> None:
        if threading.current_thread() is not threading.main_thread() or self._open == 0:
            return
        self._open -= 1
        if self._open == 0:
            for signum, handler in self._old.items():
                signal.signal(signum, handler)
            self._old = {}
            self._raised = False

    def _handle(self, signum: int, frame: Any) -> None:
        if self._finishing or self._raised:
            self.held.append(signum)
            return
        self._raised = True
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise RunTerminated(signum)

    @contextlib.contextmanager
    def finishing(self) -> Iterator[list[int]]:
        """Hold signals while a run ends; yields the list of those that arrived."""
        if threading.current_thread() is not threading.main_thread():
            yield []
            return
        self._finishing += 1
        start = len(self.held)
        held: list[int] = []
        try:
            yield held
        finally:
            self._finishing -= 1
            held.extend(self.held[start:])
            if self._finishing == 0:
                self.held = []
                self._raised = False


_SIGNALS = _Signals()


def finishing() -> contextlib.AbstractContextManager[list[int]]:
    """While a run ends, SIGTERM and Ctrl-C wait (see :class:`_Signals`)."""
    return _SIGNALS.finishing()


def raise_held(held: list[int]) -> None:
    """Deliver, once a run has ended, a signal that arrived while it finished."""
    if not held:
        return
    if signal.SIGINT in held and signal.SIGTERM not in held:
        raise KeyboardInterrupt
    raise RunTerminated(signal.SIGTERM if signal.SIGTERM in held else held[0])


class Lifecycle:
    """Console capture, the SIGTERM handler, the heartbeat and MLflow autologging
    of one open run.

    :meth:`start` turns them on; :meth:`stop` stops the heartbeat and the capture (before
    the run sends its last values); :meth:`restore` puts the previous SIGTERM handler
    back and hands autologging back to MLflow (after the run ended, so SIGTERM during
    the upload still ends it KILLED).
    """

    def __init__(self, run: Run) -> None:
        self.run = run
        self._signals = False
        self._fluent_run_id: str | None = None
        self._uri_before: tuple[str, str | None] | None = None

    def start(self) -> None:
        self._start_console_capture()
        _SIGNALS.opened()
        self._signals = True
        _HEARTBEATS.add(self.run, heartbeat_interval())
        self._attach_autologging()

    def stop(self) -> None:
        _HEARTBEATS.remove(self.run)
        self._stop_console_capture()

    def restore(self, status: str = "FINISHED") -> None:
        self._detach_autologging(status)
        if self._signals:
            self._signals = False
            _SIGNALS.closed()

    # ------------------------------------------------------------------ autologging
    def _attach_autologging(self) -> None:
        """While autologging is on, make the run MLflow's active run so it logs into it.

        Autologging logs into the fluent API's active run and, when there is none,
        starts a run of its own for every ``fit``: the model's params and metrics would
        land in a second run. The fluent API also reads the global tracking URI, which
        points at this run's store while the run is open.
        """
        if not autologging_on():
            return
        import mlflow

        run = self.run
        before = mlflow.get_tracking_uri()
        try:
            if not _same_store(before, run.tracking_uri):
                self._uri_before = (before, os.environ.get("MLFLOW_TRACKING_URI"))
                mlflow.set_tracking_uri(run.tracking_uri)
            mlflow.start_run(run_id=run.run_id, nested=mlflow.active_run() is not None)
        except Exception as exc:  # the fluent API refused (e.g. another active experiment)
            self._restore_tracking_uri()
            logger.warning(
                "MLflow autologging is on, but run %s could not be made MLflow's active run "
                "(%s); autologging will log into runs of its own",
                run.run_id,
                exc,
            )
            return
        self._fluent_run_id = run.run_id
        run.autologged = True

    def _detach_autologging(self, status: str) -> None:
        if self._fluent_run_id is None:
            return
        import mlflow

        fluent_id, self._fluent_run_id = self._fluent_run_id, None
        try:
            active = mlflow.active_run()
            if active is not None and active.info.run_id == fluent_id:
                mlflow.end_run(status)  # pops MLflow's stack; the status is the run's own
        except Exception as exc:  # the run itself has ended and said how
            logger.warning("MLflow could not end its view of run %s: %s", fluent_id, exc)
        finally:
            self._restore_tracking_uri()

    def _restore_tracking_uri(self) -> None:
        if self._uri_before is None:
            return
        import mlflow

        uri, variable = self._uri_before
        self._uri_before = None
        # MLflow took the URI from MLFLOW_TRACKING_URI (or its default) unless the two
        # differ: then clear its setting so it reads the variable again, as before.
        # set_tracking_uri also sets (or, for None, removes) the variable: put it back.
        mlflow.set_tracking_uri(None if variable in (None, uri) else uri)
        if variable is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = variable

    # ------------------------------------------------------------------ console
    def _start_console_capture(self) -> None:
        self._log = _ConsoleLog(self.run)
        lock = threading.Lock()
        self._tees = (
            _capture.Tee(sys.stdout, self._log, lock),  # type: ignore[arg-type]
            _capture.Tee(sys.stderr, self._log, lock),  # type: ignore[arg-type]
        )
        sys.stdout, sys.stderr = self._tees  # type: ignore[assignment]

    def _stop_console_capture(self) -> None:
        out, err = self._tees
        if sys.stdout is out:
            sys.stdout = out.stream
        if sys.stderr is err:
            sys.stderr = err.stream
        self._log.close()


def _same_store(a: str, b: str) -> bool:
    """Whether the tracking URI ``a`` names the store of the resolved URI ``b``."""
    try:
        return _store.resolve_tracking_uri(a) == b
    except ValueError:  # not a URI toolkit can resolve: not the run's store
        return False
