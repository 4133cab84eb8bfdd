"""Opening SQLite the way every part of langgraph-hitl needs it (no LangGraph import)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Literal

from .errors import CheckpointerError

__all__ = ["URL_HINT", "connect_sqlite", "database_kind", "sqlite_path_from_url"]

URL_HINT = "Use sqlite:///path.db (embedded, default) or postgresql://user@host/db (extra [postgres])."
"""What a database URL may look like, for every error about one."""


def database_kind(url: object, *, what: str = "database") -> Literal["sqlite", "postgres"]:
    """Which backend a URL names: the one place that reads a URL's scheme.

    `sqlite:` (then `sqlite_path_from_url` reads the path), or `postgresql://` / `postgres://`.

    Raises:
        CheckpointerError: Empty, not text, or another scheme, naming `what` and the forms allowed.
    """
    if not isinstance(url, str) or not url:
        msg = f"{what.capitalize()} URL {url!r} is empty or not text. {URL_HINT}"
        raise CheckpointerError(msg)
    if url.startswith("sqlite:"):
        return "sqlite"
    if url.startswith(("postgresql://", "postgres://")):
        return "postgres"
    shown = url.split("@")[-1] if "@" in url else url  # never echo a password
    msg = f"Unsupported {what} URL {shown!r}. {URL_HINT}"
    raise CheckpointerError(msg)


def sqlite_path_from_url(url: str) -> str:
    """The file path in `sqlite:///path.db` (relative) or `sqlite:////abs/path.db`; `:memory:` kept."""
    if not url.startswith("sqlite:"):
        msg = f"Not a SQLite URL: {url!r}. Use sqlite:///relative/path.db or sqlite:////absolute/path.db."
        raise CheckpointerError(msg)
    rest = url[len("sqlite:") :]
    if rest.startswith("///"):
        path = rest[3:]
    elif rest.startswith("//"):
        msg = (
            f"SQLite URL {url!r} names a host; SQLite has none. "
            "Use sqlite:///relative/path.db or sqlite:////absolute/path.db."
        )
        raise CheckpointerError(msg)
    else:
        path = rest
    if not path:
        msg = f"SQLite URL {url!r} has no file path. Example: sqlite:///hitl.db."
        raise CheckpointerError(msg)
    return path


def _set_wal(conn: sqlite3.Connection, within: float) -> None:
    """Switch to WAL, retrying while another connection holds the lock.

    Switching the journal mode of a new file needs an exclusive lock, and SQLite answers "database
    is locked" at once, without its busy handler, while another process is doing the same, so two
    processes opening a fresh database together would otherwise fail.
    """
    deadline = time.monotonic() + within
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def connect_sqlite(path: str, *, busy_timeout_ms: int = 30_000) -> sqlite3.Connection:
    """Open a SQLite connection the way every part of langgraph-hitl needs it.

    WAL (readers never block the writer), a busy timeout (parallel writers wait instead of
    failing with "database is locked"), and `check_same_thread=False` (LangGraph calls nodes
    from worker threads).
    """
    if path != ":memory:":
        parent = Path(path).expanduser().resolve().parent
        if not parent.is_dir():
            msg = f"Cannot open SQLite database {path!r}: folder {str(parent)!r} does not exist. Create it first."
            raise CheckpointerError(msg)
    try:
        conn = sqlite3.connect(
            path, check_same_thread=False, timeout=busy_timeout_ms / 1000, isolation_level=None
        )
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        if path != ":memory:":
            _set_wal(conn, busy_timeout_ms / 1000)
        conn.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.Error as exc:
        msg = f"Cannot open SQLite database {path!r}: {exc}. Check that the path is writable."
        raise CheckpointerError(msg) from exc
    return conn
