"""The exception tree of toolkit.

Every error that toolkit raises on purpose is a :class:`ToolkitError`. Errors about
the *content* of an input are also :class:`ValueError`; errors about its *type* are
also :class:`TypeError`, so ``except ValueError`` keeps working for callers who do
not know toolkit.
"""

from __future__ import annotations

__all__ = [
    "ColumnNotFoundError",
    "DuplicateIdError",
    "EmptyInputError",
    "InvalidLabelError",
    "InvalidProbabilityError",
    "InvalidValueError",
    "LengthMismatchError",
    "NotApplicableError",
    "TargetInFeaturesWarning",
    "ToolkitError",
    "ToolkitTypeError",
    "UnusableColumnWarning",
    "ValidationError",
]


class ToolkitError(Exception):
    """Root of every error toolkit raises on purpose."""


class ValidationError(ToolkitError, ValueError):
    """An input has the right type but unusable content."""


class ToolkitTypeError(ToolkitError, TypeError):
    """An input has the wrong type (e.g. text where numbers are needed)."""


class EmptyInputError(ValidationError):
    """An input has no rows."""


class LengthMismatchError(ValidationError):
    """Two inputs that must be row-aligned have different lengths."""


class InvalidValueError(ValidationError):
    """Missing or non-finite values where finite values are required."""


class InvalidProbabilityError(ValidationError):
    """Probabilities outside [0, 1], rows not summing to 1, or columns not matching classes."""


class InvalidLabelError(ValidationError):
    """A label is not among the classes, or fewer than two classes exist."""


class DuplicateIdError(ValidationError):
    """Row ids are not unique."""


class ColumnNotFoundError(ValidationError, KeyError):
    """A named column does not exist in the table it was looked up in."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class NotApplicableError(ValidationError):
    """The analysis does not apply to this task or input (e.g. calibration for regression)."""


class TargetInFeaturesWarning(UserWarning):
    """The label column was among the features; it was dropped (it would explain every
    error pattern and cluster by the answer itself)."""


class UnusableColumnWarning(UserWarning):
    """A feature column no analysis can use (lists in its cells, say) was dropped; the
    message names it and says why."""
