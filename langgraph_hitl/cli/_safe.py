"""Text from the database, made safe to print on a terminal.

Thread ids, descriptions, arguments, actors and messages come from agents and from whoever
writes to the database. Printed raw, an ESC byte starts a terminal control sequence (clear
the screen, retitle the window, rewrite earlier lines), a C1 byte can do the same on 8-bit
terminals, and a bidi override (U+202E) reorders what the reviewer reads. So every such
character is printed as a visible escape instead: `\\x1b`, `\\u202e`. Rich markup (`[red]`)
is never interpreted either: the renderers hand data to rich as `Text`, not as markup.
"""

from __future__ import annotations

import io
import re
import sys
import unicodedata
from typing import TextIO

__all__ = ["JsonLines", "json_visible", "visible"]

_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
"""Control, format (bidi marks and overrides, zero-width characters), surrogate, line and paragraph separators."""
_CANDIDATE = re.compile(r"[^\x20-\x7e]")
"""Anything outside printable ASCII is checked; the rest is always safe."""


def _unsafe(char: str) -> bool:
    return unicodedata.category(char) in _UNSAFE_CATEGORIES


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _json_escape(char: str) -> str:
    code = ord(char)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # JSON spells a character beyond the BMP as a UTF-16 surrogate pair
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def visible(text: str, *, newlines: bool = False) -> str:
    """`text` with control, format and bidi characters replaced by visible escapes.

    Args:
        text: Any text.
        newlines: Keep `\\n` (for multi-line blocks the CLI formats itself).

    Example:
        >>> visible("t\\x1b[2J\\u202eid")
        't\\\\x1b[2J\\\\u202eid'
    """

    def swap(match: re.Match[str]) -> str:
        char = match.group()
        if char == "\n" and newlines:
            return char
        return _escape(char) if _unsafe(char) else char

    return _CANDIDATE.sub(swap, text)


def json_visible(text: str) -> str:
    """JSON text with the same characters written as `\\uXXXX` escapes: still valid, equal JSON.

    JSON's own syntax is ASCII, so such characters can only be inside strings, where an
    escape means the same character. `json.dumps` already escapes C0 controls there, so a
    newline is the indentation's own and is kept.
    """

    def swap(match: re.Match[str]) -> str:
        char = match.group()
        return _json_escape(char) if char != "\n" and _unsafe(char) else char

    return _CANDIDATE.sub(swap, text)


class JsonLines(io.TextIOBase):
    """A text stream that writes JSON text to `target` (stdout by default) through `json_visible`."""

    def __init__(self, target: TextIO | None = None) -> None:
        super().__init__()
        self._target = target if target is not None else sys.stdout

    def write(self, text: str) -> int:
        """Write `text` with unsafe characters escaped; returns the length of `text`."""
        self._target.write(json_visible(text))
        return len(text)

    def writable(self) -> bool:
        """Always True."""
        return True
