"""Writing the files a user asked for: whole or not at all, never over an input."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from toolkit.exceptions import ValidationError

__all__ = ["OutputIsInputError", "check_outputs", "write_atomic", "write_text_atomic"]


class OutputIsInputError(ValidationError):
    """An output path names one of the command's inputs."""


def _same(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_outputs(
    inputs: Iterable[str | Path | None], outputs: Iterable[str | Path | None]
) -> None:
    """Refuse an output that is one of the inputs (the same file, also through a link or
    another spelling of its path), before any work is done.

    >>> check_outputs(["a.csv"], ["b.csv"]) is None
    True
    """
    given = [Path(p) for p in inputs if p is not None]
    for out in (Path(p) for p in outputs if p is not None):
        for source in given:
            if out.resolve() == source.resolve() or _same(out, source):
                raise OutputIsInputError(
                    f"output {str(out)!r} is the input {str(source)!r}; writing it would "
                    "destroy the input: choose another path"
                )


def write_atomic(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it to
    ``path``: a failure leaves the old file (or none), never half a file."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(handle)
    tmp = Path(name)
    try:
        write(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` whole or not at all."""
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
