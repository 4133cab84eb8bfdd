"""Who drives a thread (`hitl_threads`): marked `in_flight` by a run, `idle` when no run does.

The runner marks a thread in flight before it invokes the graph and idle after it indexed the
interrupts (G3), so a crash leaves the mark behind for `recover()` to find. Each take-over is a
compare-and-set, so two runs of one thread never interleave their checkpoints.
"""

from __future__ import annotations

from collections.abc import Callable

from ._db import Backend
from .lease import current_owner, current_ttl, expired

__all__ = ["ThreadMarks"]


class ThreadMarks:
    """The `hitl_threads` half of `Inbox` (mixed into `Inbox`, which owns `db` and `clock`)."""

    db: Backend
    clock: Callable[[], float]

    def mark_thread(self, thread_id: str, state: str, *, graph: str = "") -> None:
        """Record whether the runner is driving `thread_id` (`in_flight`) or not (`idle`)."""
        owner = current_owner() if state == "in_flight" else None
        self.db.execute(
            "INSERT INTO hitl_threads (thread_id, state, graph, updated_at, lease_owner, lease_until) "
            f"VALUES (?, ?, ?, ?, ?, {self.db.now_sql} + ?) "
            "ON CONFLICT (thread_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at, "
            "lease_owner = excluded.lease_owner, lease_until = excluded.lease_until",
            (thread_id, state, graph, self.clock(), owner, current_ttl()),
        )

    def claim_start(self, thread_id: str, *, graph: str = "") -> bool:
        """Mark `thread_id` in flight for a new run, unless a run is already driving it (compare-and-set).

        True for a thread never run or idle; False while another `start()`, a decision or a
        recovery drives it, so two runs of one thread never interleave their checkpoints.
        """
        rows = self.db.execute(
            "INSERT INTO hitl_threads (thread_id, state, graph, updated_at, lease_owner, lease_until) "
            f"VALUES (?, 'in_flight', ?, ?, ?, {self.db.now_sql} + ?) "
            "ON CONFLICT (thread_id) DO UPDATE SET state = 'in_flight', updated_at = excluded.updated_at, "
            "lease_owner = excluded.lease_owner, lease_until = excluded.lease_until "
            "WHERE hitl_threads.state = 'idle' RETURNING thread_id",
            (thread_id, graph, self.clock(), current_owner(), current_ttl()),
        )
        return bool(rows)

    def take_idle_thread(self, thread_id: str) -> bool:
        """Mark an idle thread in flight for this process, unless anyone drives it (in flight, or deciding).

        For re-asking a thread whose question went stale: only a thread nobody is running is
        run from here, so its next node never runs twice at once.
        """
        rows = self.db.execute(
            f"UPDATE hitl_threads SET state = 'in_flight', updated_at = ?, lease_owner = ?, "
            f"lease_until = {self.db.now_sql} + ? WHERE thread_id = ? AND state = 'idle' "
            "AND NOT EXISTS (SELECT 1 FROM hitl_requests WHERE thread_id = ? AND status = 'deciding') "
            "RETURNING thread_id",
            (self.clock(), current_owner(), current_ttl(), thread_id, thread_id),
        )
        return bool(rows)

    def claim_thread(self, thread_id: str, updated_at: float, lease_until: float | None = None) -> bool:
        """Take over an in-flight thread last touched at `updated_at` (recovery).

        False if another process took it first, or if one of its requests is `deciding`: whoever
        holds that claim (a decider, or a recoverer that renewed it) drives the thread and marks
        it idle in the same transaction that settles the claim. Running it from here as well
        would run its next node twice at once.
        """
        rows = self.db.execute(
            f"UPDATE hitl_threads SET updated_at = ?, lease_owner = ?, lease_until = {self.db.now_sql} + ? "
            "WHERE thread_id = ? AND state = 'in_flight' AND updated_at = ? AND COALESCE(lease_until, -1) = ? "
            "AND NOT EXISTS (SELECT 1 FROM hitl_requests WHERE thread_id = ? AND status = 'deciding') "
            "RETURNING thread_id",
            (
                self.clock(),
                current_owner(),
                current_ttl(),
                thread_id,
                updated_at,
                -1 if lease_until is None else lease_until,
                thread_id,
            ),
        )
        return bool(rows)

    def threads_in_flight(self, *, older_than: float) -> list[tuple[str, float, float | None]]:
        """Threads marked in flight before `older_than` whose lease is over: `(thread_id, updated_at, lease_until)`."""
        rows = self.db.execute(
            f"SELECT thread_id, updated_at, lease_owner, lease_until, {self.db.now_sql} AS db_now "
            "FROM hitl_threads WHERE state = 'in_flight' AND updated_at <= ?",
            (older_than,),
        )
        return [
            (
                r["thread_id"],
                float(r["updated_at"]),
                None if r["lease_until"] is None else float(r["lease_until"]),
            )
            for r in rows
            if expired(r)
        ]
