"""Untrusted text made visible: control characters and bidi overrides are shown, never obeyed.

Autoescaping stops markup, but not characters that change how text *reads*: a right-to-left
override (U+202E) in a thread id or an argument can make `delete_record` of `txt.exe` look like
something else, and terminal escapes have no business on a page. Every value a template prints
goes through `visible` (the Jinja environment's `finalize`), which replaces each such character
with its `\\uXXXX` escape. The escapes are JSON's own, so arguments shown as JSON in the edit
box still parse to the same value when sent back.
"""

from __future__ import annotations

import re
from typing import Any

from markupsafe import Markup

__all__ = ["UNSAFE_CHARS", "visible"]

UNSAFE_CHARS = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"  # C0 controls (not tab, newline, CR), DEL, C1 controls
    "\u061c\u200e\u200f"  # Arabic letter mark, left-to-right and right-to-left marks
    "\u202a-\u202e"  # bidi embeddings and overrides (LRE, RLE, PDF, LRO, RLO)
    "\u2066-\u2069]"  # bidi isolates (LRI, RLI, FSI, PDI)
)
"""The characters `visible` escapes."""


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def visible(value: Any) -> Any:
    """`value` with control and bidi formatting characters replaced by `\\uXXXX`; non-text unchanged.

    Markup built by the templates themselves (a macro's output) is left alone: every value
    inside it went through this function when it was printed.

    Example:
        >>> visible("invoice\\u202egpj.exe")
        'invoice\\\\u202egpj.exe'
    """
    if isinstance(value, Markup) or not isinstance(value, str):
        return value
    return UNSAFE_CHARS.sub(_escape, value)
