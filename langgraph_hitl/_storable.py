"""What an answer may hold so that every checkpoint store can keep it.

LangGraph saves an answer before a node reads it, so text and arguments no store can hold
(NUL, which Postgres refuses; a lone surrogate; an integer past 64 bits; a huge object) are
refused at the edge, by the answer's models and by `decisions.normalize_decision`, each with a
message that says the fix. `decisions` re-exports the public names.
"""

from __future__ import annotations

from typing import Any

from ._canonical import canonical_json, check_json

__all__ = ["MAX_ARGS_BYTES", "MAX_TEXT", "args_problem", "short", "text_problem", "utf8"]

MAX_TEXT = 10_000
"""Longest message or confirmation phrase accepted, in characters."""
MAX_ARGS_BYTES = 256_000
"""Largest edited-arguments object accepted, as canonical JSON bytes."""


def utf8(text: str) -> bool:
    """Whether `text` can be stored and hashed as UTF-8 (a lone surrogate cannot)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def short(value: Any, limit: int = 60) -> str:
    """`value`'s repr for an error message, cut to `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def text_problem(text: str) -> str | None:
    """Why `text` cannot be kept in a checkpoint as an answer's text, or None."""
    if len(text) > MAX_TEXT or "\x00" in text or not utf8(text):
        return f"text must be UTF-8 of at most {MAX_TEXT} characters without NUL; shorten it or remove the character"
    return None


def args_problem(
    args: dict[str, Any], *, where: str = "edited_action.args", max_bytes: int = MAX_ARGS_BYTES
) -> str | None:
    """Why `args` cannot be stored as plain JSON in every checkpoint store, or None.

    Not plain JSON, text with NUL (Postgres refuses it) or a lone surrogate, an integer past
    64 bits, or more than `max_bytes` of canonical JSON.
    """
    try:
        check_json(args, where=where)
        size = len(canonical_json(args).encode("utf-8"))
    except UnicodeEncodeError:
        return f"{where} holds text that is not valid UTF-8 (a lone surrogate); fix the encoding."
    except (TypeError, ValueError) as exc:
        return str(exc)
    if size > max_bytes:
        return f"{where} is {size} bytes; at most {max_bytes} are accepted. Pass a reference (an id, a URL) instead."
    if _has_nul(args):
        return f"{where} holds text with a NUL character, which Postgres cannot store; remove it."
    wide = _wide_int(args)
    if wide is not None:
        return f"{where} holds the integer {short(wide)}, outside the 64-bit range; send it as text."
    return None


def _has_nul(value: Any) -> bool:
    """Whether any key or text in `value` holds a NUL character."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _wide_int(value: Any) -> int | None:
    """The first integer in `value` that does not fit in 64 bits (checkpoints cannot store it)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if not -(2**63) <= value < 2**64 else None
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for item in items:
        found = _wide_int(item)
        if found is not None:
            return found
    return None
