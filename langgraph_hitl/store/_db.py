"""A thin database layer: one connection, short transactions, the same SQL on SQLite and Postgres.

Store modules (`inbox`, `audit`, `ledger`) write portable SQL with `?` placeholders and call
`Backend.execute` / `Backend.transaction`. Each backend translates placeholders and supplies
the few dialect pieces that differ (row locks, the audit chain lock, migrations).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeVar

from .._sqlite import connect_sqlite, sqlite_path_from_url
from .schema import SQLITE_MIGRATIONS

__all__ = ["Backend", "SQLiteBackend", "sqlite_path_from_url"]

Row = dict[str, Any]


class Backend:
    """What the store modules need from a database connection."""

    name: str = "abstract"
    skip_locked: str = ""
    """Appended to a `SELECT` that claims rows so several workers can sweep at once."""
    for_update: str = ""
    """Appended to a `SELECT` inside a transaction to lock the rows it reads until the commit
    (Postgres; SQLite's `BEGIN IMMEDIATE` already serializes writers)."""
    now_sql: str = ""
    """An SQL expression for the database's clock in epoch seconds (leases are timed by it, not a host's)."""
    migrations: Sequence[tuple[int, Sequence[str]]] = ()
    """The schema's versions in this dialect (`store.schema`), applied by `Store.setup()`."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run one statement inside the current transaction (or alone) and return its rows."""
        raise NotImplementedError

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for each parameter row."""
        raise NotImplementedError

    _lock: threading.RLock
    """Serializes the connection between threads; `transaction()` holds it for a whole transaction."""
    _depth: int
    """How deep the current thread's `transaction()` blocks are nested (0: none open)."""

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A write transaction; nested calls join the outer one, an exception rolls the whole one back."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._depth = 1
            try:
                with self._outermost_transaction():
                    yield
            finally:
                self._depth = 0

    def _outermost_transaction(self) -> AbstractContextManager[Any]:
        """Begin, commit or roll back one transaction on the connection (the backend's own syntax)."""
        raise NotImplementedError

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open on this connection (its locks would stall another
        connection's reads, e.g. `verify()`'s prefetch thread)."""
        return self._depth > 0

    def lock_audit_chain(self) -> None:
        """Serialize appends to the audit hash chain for the rest of the transaction."""

    def lock_inbox(self) -> None:
        """Serialize inbox indexing (request sequence numbers) for the rest of the transaction.

        SQLite's `BEGIN IMMEDIATE` already serializes writers; Postgres takes an advisory lock.
        """

    def apply_migrations(self, migrations: Sequence[tuple[int, Sequence[str]]]) -> None:
        """Apply the migrations whose version is above the recorded one, each in its own transaction."""
        with self.transaction():
            self.execute(
                "CREATE TABLE IF NOT EXISTS hitl_schema_version (version INTEGER NOT NULL, applied_at TEXT NOT NULL)"
            )
            rows = self.execute("SELECT MAX(version) AS v FROM hitl_schema_version")
        current = rows[0]["v"] or 0
        for version, statements in migrations:
            if version <= current:
                continue
            with self.transaction():
                again = self.execute("SELECT MAX(version) AS v FROM hitl_schema_version")[0]["v"] or 0
                if version <= again:  # another process applied it meanwhile
                    continue
                for statement in statements:
                    self.execute(statement)
                self.execute(
                    "INSERT INTO hitl_schema_version (version, applied_at) VALUES (?, ?)",
                    (version, _now_text()),
                )

    def close(self) -> None:
        """Close the connection."""

    def clone(self) -> Backend:
        """A new connection to the same database (the lease heartbeat's own, so it never waits
        behind this connection's transactions)."""
        raise NotImplementedError


def _now_text() -> str:
    from .._canonical import now_iso

    return now_iso()


_T = TypeVar("_T")


def _busy(exc: sqlite3.OperationalError) -> bool:
    """SQLite refused a statement because another connection holds a lock (SQLITE_BUSY). Not
    SQLITE_LOCKED ("database table is locked"): that conflict is within this connection, and
    waiting would not end it."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF == 5 if isinstance(code, int) else "database is locked" in str(exc)


class SQLiteBackend(Backend):
    """One SQLite connection in autocommit mode; `transaction()` issues `BEGIN IMMEDIATE`."""

    name = "sqlite"
    now_sql = "((julianday('now') - 2440587.5) * 86400.0)"
    migrations = SQLITE_MIGRATIONS

    def __init__(self, path: str, *, busy_timeout_ms: int = 30_000) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self.conn = connect_sqlite(path, busy_timeout_ms=busy_timeout_ms)
        # The waiting is done here (`_waiting`), not by SQLite's busy handler: see there.
        self.conn.execute("PRAGMA busy_timeout = 0")
        self.conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._depth = 0

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self._lock:

            def run() -> list[Row]:
                return [dict(r) for r in self.conn.execute(sql, tuple(params)).fetchall()]

            # Inside BEGIN IMMEDIATE the write lock is held: nothing to wait for.
            return run() if self._depth else self._waiting(run)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self._lock:
            if self._depth:
                self.conn.executemany(sql, [tuple(r) for r in rows])
                return
            with self.transaction():  # all rows or none, so a wait never repeats a written row
                self.conn.executemany(sql, [tuple(r) for r in rows])

    @contextmanager
    def _outermost_transaction(self) -> Iterator[None]:
        self._waiting(lambda: self.conn.execute("BEGIN IMMEDIATE"))
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def _waiting(self, step: Callable[[], _T]) -> _T:
        """`step` (one statement, without effect when refused), tried again every 0.1-2 ms while
        another connection holds the lock it needs, for at most the busy timeout.

        SQLite's own busy handler sleeps 1, 2, 5, 10, 15, ... ms between tries: a writer that
        holds the lock for a third of a millisecond cost each waiter several, and two processes
        deciding together spent their time asleep (issue 16's concurrency figures).
        """
        try:
            return step()
        except sqlite3.OperationalError as exc:
            if not _busy(exc):
                raise
        deadline, pause = time.monotonic() + self.busy_timeout_ms / 1000, 0.0001
        while True:
            time.sleep(pause)
            pause = min(pause * 2, 0.002)
            try:
                return step()
            except sqlite3.OperationalError as exc:
                if not _busy(exc) or time.monotonic() > deadline:
                    raise

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    def clone(self) -> SQLiteBackend:
        if self.path == ":memory:" or self.path.startswith("file::memory:"):
            raise NotImplementedError  # another connection would open another, empty database
        return SQLiteBackend(self.path)
