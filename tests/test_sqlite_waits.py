"""The SQLite store waits for another connection's write lock itself, in short steps (issue 16).

SQLite's busy handler sleeps 1, 2, 5, 10 ms and more between tries, so writers that each hold the
lock for a fraction of a millisecond cost each other whole milliseconds asleep. The store now
retries in steps of 0.1-2 ms, bounded by the same busy timeout. The attacks: another process
holding the write lock while the store begins a transaction, writes outside a transaction, and
writes many rows outside one; a lock held past the busy timeout.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from langgraph_hitl.store import open_store
from langgraph_hitl.store._db import SQLiteBackend


def _holder(path: Path, held: threading.Event, release: threading.Event) -> threading.Thread:
    """Another connection that takes the write lock and keeps it until `release`."""

    def run() -> None:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t (v) VALUES ('holder')")
        held.set()
        release.wait(30)
        conn.execute("COMMIT")
        conn.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "w.db"
    backend = SQLiteBackend(str(path))
    backend.execute("CREATE TABLE t (v TEXT)")
    backend.close()
    return path


@pytest.mark.parametrize("how", ["transaction", "execute", "executemany"])
def test_a_write_waits_for_another_connections_lock_then_lands_once(db: Path, how: str) -> None:
    backend = SQLiteBackend(str(db))
    held, release, released = threading.Event(), threading.Event(), threading.Event()
    holder = _holder(db, held, release)
    assert held.wait(10)
    done: list[bool] = []

    def write() -> None:
        if how == "transaction":
            with backend.transaction():
                backend.execute("INSERT INTO t (v) VALUES ('a')")
                backend.execute("INSERT INTO t (v) VALUES ('b')")
        elif how == "execute":
            backend.execute("INSERT INTO t (v) VALUES ('a')")
            backend.execute("INSERT INTO t (v) VALUES ('b')")
        else:
            backend.executemany("INSERT INTO t (v) VALUES (?)", [("a",), ("b",)])
        done.append(released.is_set())

    writer = threading.Thread(target=write)
    writer.start()
    writer.join(0.3)
    assert writer.is_alive() and not done  # waiting, not failed
    released.set()
    release.set()
    writer.join(30)
    holder.join(30)
    assert done == [True]  # it finished only after the lock was let go
    rows = sorted(r["v"] for r in backend.execute("SELECT v FROM t"))
    assert rows == ["a", "b", "holder"]  # each row once: a wait never repeats a written row
    backend.close()


def test_the_busy_timeout_still_bounds_the_wait(db: Path) -> None:
    backend = SQLiteBackend(str(db), busy_timeout_ms=100)
    held, release = threading.Event(), threading.Event()
    holder = _holder(db, held, release)
    try:
        assert held.wait(10)
        with pytest.raises(sqlite3.OperationalError, match="locked"), backend.transaction():
            backend.execute("INSERT INTO t (v) VALUES ('never')")
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            backend.executemany("INSERT INTO t (v) VALUES (?)", [("never",), ("never",)])
    finally:
        release.set()
        holder.join(30)
    assert [r["v"] for r in backend.execute("SELECT v FROM t")] == ["holder"]
    backend.close()


def test_other_errors_are_not_waited_on(db: Path) -> None:
    """Only a lock held elsewhere is waited for: a wrong statement fails at once, as before."""
    backend = SQLiteBackend(str(db), busy_timeout_ms=60_000)
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        backend.execute("SELECT * FROM missing")
    backend.close()


def test_sqlite_never_sleeps_for_the_store(tmp_path: Path) -> None:
    """A store opened as users open it leaves the waiting to `_waiting` (its busy timeout is 0)."""
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    try:
        rows = store.backend.execute("PRAGMA busy_timeout")
        assert next(iter(rows[0].values())) == 0  # SQLite never sleeps for the store; `_waiting` does
    finally:
        store.close()


def test_a_conflict_within_the_connection_is_not_waited_on(db: Path) -> None:
    """SQLITE_LOCKED (a table in use by this connection's own open statement) fails at once:
    no other connection will ever release it, so waiting out a ten-minute busy timeout would
    only hang the caller."""
    backend = SQLiteBackend(str(db), busy_timeout_ms=600_000)
    backend.executemany("INSERT INTO t (v) VALUES (?)", [("a",), ("b",), ("c",)])
    reading = backend.conn.execute("SELECT v FROM t")  # an open statement on the table
    reading.fetchone()
    errors: list[BaseException] = []

    def drop() -> None:
        try:
            backend.execute("DROP TABLE t")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    worker = threading.Thread(target=drop, daemon=True)
    worker.start()
    worker.join(30)
    assert not worker.is_alive(), "a conflict within the connection was waited on as if another held the lock"
    assert len(errors) == 1 and "table is locked" in str(errors[0])
    reading.close()
    backend.close()
