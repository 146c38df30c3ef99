"""Errors of the tracking layer, all under :class:`toolkit.ToolkitError`."""

from __future__ import annotations

from toolkit.exceptions import ToolkitError, ValidationError

__all__ = [
    "NonFiniteValueWarning",
    "RecordNotFoundError",
    "RunEndedError",
    "RunNotFoundError",
    "ServerUnreachableError",
    "StoreError",
    "StoreNotFoundError",
    "TrackingError",
]


class TrackingError(ToolkitError, RuntimeError):
    """Something went wrong while recording a run (the store refused or vanished)."""


class StoreError(TrackingError):
    """The tracking store cannot be opened, created or migrated."""


class ServerUnreachableError(StoreError):
    """The tracking server does not answer (a read needs it; a run moves to the spool)."""


class StoreNotFoundError(StoreError):
    """A command that only reads found no store where the tracking URI points."""


class RunEndedError(TrackingError):
    """Something was logged to a run that has ended (after its block, a failure, a kill
    or :meth:`~toolkit.tracking.run.Run.close`)."""


class RunNotFoundError(ValidationError):
    """A run id names no run in the store."""


class RecordNotFoundError(ValidationError):
    """A run has no record of the kind asked for (e.g. a run not made by ``track``)."""


class NonFiniteValueWarning(UserWarning):
    """NaN or infinity was written as ``null`` in a JSON artifact (JSON has neither)."""
