"""Errors of the tracking layer, all under :class:`toolkit.ToolkitError`."""

from __future__ import annotations

from toolkit.exceptions import ToolkitError, ValidationError

__all__ = ["RunNotFoundError", "StoreError", "TrackingError"]


class TrackingError(ToolkitError, RuntimeError):
    """Something went wrong while recording a run (the store refused or vanished)."""


class StoreError(TrackingError):
    """The tracking store cannot be opened, created or migrated."""


class RunNotFoundError(ValidationError):
    """A run id names no run in the store."""
