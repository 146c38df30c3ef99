"""Text that is safe to print on a terminal: stored names and values can hold anything."""

from __future__ import annotations

import unicodedata

__all__ = ["printable"]

_CONTROL = {"Cc", "Cf", "Cs", "Co", "Cn"}
_NAMED = {"\n": "\\n", "\r": "\\r"}


def printable(value: object) -> str:
    """``str(value)`` with every control, format, surrogate or unassigned character shown
    as a visible escape (``\\x1b``, ``\\u202e``), so a stored run name or a cell of the
    user's file cannot clear, recolour or reorder the terminal of whoever prints it.

    Tabs stay; newlines become ``\\n`` so one value stays on one line.

    >>> printable("model\\x1b[2J")
    'model\\\\x1b[2J'
    >>> printable("a\\nb\\tc")
    'a\\\\nb\\tc'
    >>> printable("caf\\u00e9 \\u202eevil")
    'café \\\\u202eevil'
    >>> printable("x\\ud800y")
    'x\\\\ud800y'
    """
    text = str(value)
    if text.isprintable():
        return text
    out = []
    for char in text:
        if char == "\t" or unicodedata.category(char) not in _CONTROL:
            out.append(char)
        elif char in _NAMED:
            out.append(_NAMED[char])
        elif ord(char) < 0x100:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(f"\\u{ord(char):04x}" if ord(char) < 0x10000 else f"\\U{ord(char):08x}")
    return "".join(out)
