"""Where the audit key comes from when none is passed: `LANGGRAPH_HITL_AUDIT_KEY`, or the file
`LANGGRAPH_HITL_AUDIT_KEY_FILE` names (a mounted secret). No I/O beyond reading that file, so
the nodes can take their seal key from here without opening a store."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import CheckpointerError

__all__ = ["AUDIT_KEY_ENV", "AUDIT_KEY_FILE_ENV", "audit_key_from", "audit_key_from_env"]

AUDIT_KEY_ENV = "LANGGRAPH_HITL_AUDIT_KEY"
"""The environment variable `open_store` reads the audit key from when none is passed."""
AUDIT_KEY_FILE_ENV = "LANGGRAPH_HITL_AUDIT_KEY_FILE"


def audit_key_from(path: str | os.PathLike[str], *, source: str) -> bytes:
    """The audit key in a file (one line; a trailing newline is dropped), e.g. a mounted secret.

    Raises:
        CheckpointerError: The file cannot be read or is empty, naming `source` (where the path came from).
    """
    try:
        key = Path(path).expanduser().read_bytes().rstrip(b"\r\n")
    except OSError as exc:
        msg = f"Cannot read the audit key file {str(path)!r} (from {source}): {exc.strerror or exc}."
        raise CheckpointerError(msg) from None
    if not key:
        msg = f"The audit key file {str(path)!r} (from {source}) is empty; put the key on its first line."
        raise CheckpointerError(msg)
    return key


def audit_key_from_env() -> bytes | None:
    """`LANGGRAPH_HITL_AUDIT_KEY`, else the file `LANGGRAPH_HITL_AUDIT_KEY_FILE` names, else None."""
    if os.environ.get(AUDIT_KEY_ENV):
        return os.environ[AUDIT_KEY_ENV].encode("utf-8")
    if os.environ.get(AUDIT_KEY_FILE_ENV):
        return audit_key_from(os.environ[AUDIT_KEY_FILE_ENV], source=AUDIT_KEY_FILE_ENV)
    return None
