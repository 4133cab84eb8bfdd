"""`open_checkpointer(url)` / `aopen_checkpointer(url)`: a durable, ready-to-use checkpointer.

A paused run lives in the checkpointer; with a file or a database behind it, another process
resumes it by `thread_id`. Both functions are context managers that set the database up on
open, so there is no `setup()` to forget.

- `sqlite:///path.db` (default, embedded): WAL, a 30 s busy timeout (parallel writers wait
  instead of failing with "database is locked"), `check_same_thread=False`.
- `postgresql://user@host/db` (extra `postgres`): LangGraph's `PostgresSaver`, set up on open,
  with an optional connection pool.

Example:
    ```python
    from langgraph_hitl import open_checkpointer

    with open_checkpointer("sqlite:///hitl.db") as saver:
        graph = builder.compile(checkpointer=saver)
    ```
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from ._sqlite import URL_HINT, connect_sqlite, database_kind, sqlite_path_from_url
from .errors import CheckpointerError

__all__ = ["aopen_checkpointer", "open_checkpointer", "redact"]

_HINT = URL_HINT


def redact(url: str) -> str:
    """`url` with any password (in `user:password@` or `?password=`) replaced by `***`."""
    from .store.postgres import redact_url

    return redact_url(url)


def _sqlite_path(url: str) -> str:
    path = sqlite_path_from_url(url)
    if path != ":memory:":
        parent = Path(path).expanduser().resolve().parent
        if not parent.is_dir():
            msg = f"Cannot open {url!r}: folder {str(parent)!r} does not exist. Create it or choose another path."
            raise CheckpointerError(msg)
        if not os.access(parent, os.W_OK):
            msg = f"Cannot open {url!r}: folder {str(parent)!r} is not writable. Choose a writable path."
            raise CheckpointerError(msg)
    return path


def _postgres_import(name: str) -> Any:
    try:
        if name == "sync":
            from langgraph.checkpoint.postgres import PostgresSaver

            return PostgresSaver
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

        return AsyncPostgresSaver
    except ImportError as exc:
        msg = (
            f'Postgres checkpoints need the [postgres] extra: pip install "langgraph-hitl[postgres]" ({exc}).'
        )
        raise CheckpointerError(msg) from exc


def _kind(url: str) -> str:
    try:
        return database_kind(url, what="checkpointer")
    except CheckpointerError:
        if isinstance(url, str) and url:
            msg = f"Unsupported checkpointer URL {redact(url)!r}. {_HINT}"
            raise CheckpointerError(msg) from None
        raise


@contextmanager
def open_checkpointer(url: str = "sqlite:///hitl.db", *, pool_size: int | None = None) -> Iterator[Any]:
    """Open a checkpointer for `url`, set up and ready; close it on exit.

    Args:
        url: `sqlite:///path.db` or `postgresql://...`.
        pool_size: Postgres only: use a `psycopg_pool.ConnectionPool` of this size.

    Yields:
        A `SqliteSaver` or `PostgresSaver`.

    Raises:
        CheckpointerError: Unsupported URL, unwritable path, missing extra, or the database
            cannot be reached or set up.
    """
    if _kind(url) == "sqlite":
        from langgraph.checkpoint.sqlite import SqliteSaver

        conn = connect_sqlite(_sqlite_path(url))
        conn.isolation_level = "DEFERRED"  # SqliteSaver manages its own transactions with commit()
        try:
            saver = SqliteSaver(conn)
            try:
                saver.setup()
            except Exception as exc:
                msg = f"Cannot set up SQLite checkpoints at {url!r}: {exc}"
                raise CheckpointerError(msg) from exc
            yield saver
        finally:
            conn.close()
        return
    saver_cls = _postgres_import("sync")
    if pool_size:
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool

        try:
            pool = ConnectionPool(
                url,
                min_size=min(4, pool_size),
                max_size=pool_size,
                open=True,
                timeout=10,
                kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
            )
        except Exception as exc:
            msg = f"Cannot connect to {redact(url)!r}: {exc}. Check host, port, user and database."
            raise CheckpointerError(msg) from exc
        try:
            saver = saver_cls(pool)
            saver.setup()
            yield saver
        finally:
            pool.close()
        return
    try:
        cm = saver_cls.from_conn_string(url)
        saver = cm.__enter__()
    except Exception as exc:
        msg = f"Cannot connect to {redact(url)!r}: {exc}. Check host, port, user and database."
        raise CheckpointerError(msg) from exc
    try:
        saver.setup()
        yield saver
    finally:
        cm.__exit__(None, None, None)


async def _while_locked(step: Callable[[], Awaitable[Any]], conn: Any, within: float = 30.0) -> None:
    """Run `step`, again while SQLite answers "database is locked" at once (up to `within` s).

    Several processes (or event loops) opening a fresh file together race to switch it to WAL
    and create the tables; SQLite refuses the loser immediately, without its busy handler.
    The steps are idempotent (`journal_mode`, `CREATE TABLE IF NOT EXISTS`).
    """
    import sqlite3

    deadline = time.monotonic() + within
    while True:
        try:
            await step()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            await conn.rollback()  # a failed script leaves its transaction open, holding a lock
            await asyncio.sleep(0.05)


@asynccontextmanager
async def aopen_checkpointer(url: str = "sqlite:///hitl.db") -> AsyncIterator[Any]:
    """Async twin of `open_checkpointer`: yields an `AsyncSqliteSaver` or `AsyncPostgresSaver`.

    Raises:
        CheckpointerError: As `open_checkpointer`.
    """
    if _kind(url) == "sqlite":
        import aiosqlite
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        path = _sqlite_path(url)
        try:
            conn = await aiosqlite.connect(path, timeout=30)
            await conn.execute("PRAGMA busy_timeout = 30000")
            if path != ":memory:":
                await _while_locked(lambda: conn.execute("PRAGMA journal_mode = WAL"), conn)
        except Exception as exc:
            msg = f"Cannot open SQLite database {url!r}: {exc}"
            raise CheckpointerError(msg) from exc
        try:
            saver = AsyncSqliteSaver(conn)
            try:
                await _while_locked(saver.setup, conn)
            except Exception as exc:
                msg = f"Cannot set up SQLite checkpoints at {url!r}: {exc}"
                raise CheckpointerError(msg) from exc
            yield saver
        finally:
            await conn.close()
        return
    saver_cls = _postgres_import("async")
    try:
        cm = saver_cls.from_conn_string(url)
        saver = await cm.__aenter__()
    except Exception as exc:
        msg = f"Cannot connect to {redact(url)!r}: {exc}. Check host, port, user and database."
        raise CheckpointerError(msg) from exc
    try:
        await saver.setup()
        yield saver
    finally:
        await cm.__aexit__(None, None, None)
