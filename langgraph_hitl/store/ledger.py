"""The execution ledger (`hitl_ledger`): an approved action's handler runs at most once (G5).

One row per action, moving only forward:

```
(absent) --begin--> started --complete--> completed
                       |  `----fail-----> failed
                       `--begin again--> started, attempts + 1   (a crash between effect and record)
```

`ExecuteNode` calls `begin` before the handler. A `completed` or `failed` entry comes back
unchanged, so the node returns the recorded outcome instead of running the handler again.
A `started` entry is leased (`store.lease`) by the process running the handler: while it lives,
`begin` refuses with `ConflictError`, however slow the handler. Once its lease is over (the
process died), the earlier run crashed after (or while) causing the effect and before
recording it: the node retries with the *same* idempotency key, and the effect's target,
seeing that key again, can refuse to repeat itself. A handler that takes no idempotency key
is not retried: its entry is recorded as failed, "outcome unknown".

Example:
    ```python
    entry = ledger.begin(action_id, idempotency_key=request_id, action="send_email")
    if entry.status == "started":
        result = send_email(args, idempotency_key=entry.idempotency_key)
        ledger.complete(action_id, result)
    ```
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Literal

from .._canonical import canonical_json, check_json
from ..errors import ConflictError, NotPendingError
from ._db import Backend
from .lease import current_owner, current_ttl, expired, hold

__all__ = ["Ledger", "LedgerEntry", "LedgerStatus"]

LedgerStatus = Literal["started", "completed", "failed"]
"""`started`: the handler was (or is being) called and no outcome is recorded yet;
`completed`: it returned and its result is recorded; `failed`: it raised and the error is recorded."""

_COLUMNS = (
    "action_id, idempotency_key, thread_id, action, status, result, error, attempts, started_at, finished_at"
)


@dataclass(frozen=True)
class LedgerEntry:
    """One action's execution record."""

    action_id: str
    """The action executed."""
    idempotency_key: str
    """The key the first attempt was given; every retry must pass the same one to the handler."""
    status: LedgerStatus
    """Where the execution stands."""
    result: Any
    """The handler's JSON result (`completed` only)."""
    error: str | None
    """The handler's error (`failed` only)."""
    attempts: int
    """How many times `begin` let the handler run: 1, plus one per retry after a crash."""
    started_at: float
    """Epoch time of the first attempt."""
    finished_at: float | None
    """Epoch time the outcome was recorded."""
    action: str = ""
    """The action's name."""
    thread_id: str | None = None
    """The thread that ran it."""

    @property
    def finished(self) -> bool:
        """True once an outcome is recorded: do not call the handler again."""
        return self.status != "started"

    @classmethod
    def from_db(cls, row: dict[str, Any]) -> LedgerEntry:
        """Build from a database row."""
        return cls(
            action_id=row["action_id"],
            idempotency_key=row["idempotency_key"],
            status=row["status"],
            result=None if row["result"] is None else json.loads(row["result"]),
            error=row["error"],
            attempts=int(row["attempts"]),
            started_at=float(row["started_at"]),
            finished_at=None if row["finished_at"] is None else float(row["finished_at"]),
            action=row["action"],
            thread_id=row["thread_id"],
        )


class Ledger:
    """Record each action's execution so its handler's effect happens at most once.

    Args:
        backend: The database connection (from `open_store`).
        clock: Returns the epoch time.
    """

    def __init__(
        self, backend: Backend, *, clock: Callable[[], float] = time.time, halts: Any = None
    ) -> None:
        self.backend = backend
        self.clock = clock
        self.halts = halts
        """The stop switch (`store.halts.Halts`): checked in the transaction that starts an entry."""

    def held(self) -> AbstractContextManager[str]:
        """A block whose `started` entries stay leased however long their handler runs (see
        `store.lease.hold`): `ExecuteNode` runs each handler inside one."""
        return hold(self.backend)

    def begin(
        self, action_id: str, *, idempotency_key: str, action: str, thread_id: str | None = None
    ) -> LedgerEntry:
        """Claim an execution of `action_id` before calling its handler.

        Args:
            action_id: The approved action.
            idempotency_key: Passed to the handler; recorded by the first attempt only.
            action: The action's name.
            thread_id: The thread running it.

        Returns:
            A new `started` entry (attempts 1): call the handler. An existing `started` entry
            with attempts incremented: an earlier attempt did not record its outcome, call the
            handler again with `entry.idempotency_key`. A `completed` or `failed` entry,
            unchanged: do not call the handler, use `entry.result` or `entry.error`.

        Raises:
            ValueError: `action_id` or `idempotency_key` is empty.
            ConflictError: Another live process is running the handler now (its lease, renewed by
                its heartbeat, has not ended): the handler must not be called again.
            HaltedError: A halt covers the action (`store.halts`): nothing was started or counted.
        """
        for name, value in (
            ("action_id", action_id),
            ("idempotency_key", idempotency_key),
            ("action", action),
        ):
            if not isinstance(value, str) or not value:
                msg = f"Ledger.begin() needs a non-empty string {name}, got {value!r}."
                raise ValueError(msg)
        with self.backend.transaction():
            self.backend.lock_audit_chain()  # before the entry's row: the order every ledger write takes
            if self.halts is not None:  # a finished entry starts nothing; any other start waits for the halt
                known = self.get(action_id)
                if known is None or known.status == "started":
                    self.halts.check(action=action, thread_id=thread_id)
            inserted = self.backend.execute(
                f"INSERT INTO hitl_ledger ({_COLUMNS}, lease_owner, lease_until) "
                f"VALUES (?, ?, ?, ?, 'started', NULL, NULL, 1, ?, NULL, ?, {self.backend.now_sql} + ?) "
                "ON CONFLICT (action_id) DO NOTHING RETURNING action_id",
                (action_id, idempotency_key, thread_id, action, self.clock(), current_owner(), current_ttl()),
            )
            if not inserted:
                self._take_over(action_id)
            entry = self.get(action_id)
        if entry is None:  # pragma: no cover - inserted or found above, in the same transaction
            msg = f"Ledger entry for action {action_id!r} vanished inside its own transaction."
            raise RuntimeError(msg)
        return entry

    def _take_over(self, action_id: str) -> None:
        """Count one more attempt at a `started` entry whose lease is over; refuse a live one."""
        rows = self.backend.execute(
            f"SELECT status, attempts, lease_owner, lease_until, {self.backend.now_sql} AS db_now "
            f"FROM hitl_ledger WHERE action_id = ?{self.backend.for_update}",
            (action_id,),
        )
        if not rows or rows[0]["status"] != "started":
            return
        row = rows[0]
        if not expired(row):
            msg = (
                f"Action {action_id!r} is being executed right now (by {row['lease_owner']}, lease held "
                "by its heartbeat); it is not started a second time. If that process dies, its lease ends "
                "and recover() finishes the run."
            )
            raise ConflictError(msg)
        taken = self.backend.execute(
            f"UPDATE hitl_ledger SET attempts = attempts + 1, lease_owner = ?, lease_until = {self.backend.now_sql} + ? "
            "WHERE action_id = ? AND status = 'started' AND attempts = ? AND COALESCE(lease_until, -1) = ? "
            "RETURNING action_id",
            (
                current_owner(), current_ttl(), action_id, row["attempts"],
                -1 if row["lease_until"] is None else row["lease_until"],
            ),
        )  # fmt: skip
        if not taken:
            msg = f"Action {action_id!r} was taken over by another process at this moment; it is not started twice."
            raise ConflictError(msg)

    def complete(self, action_id: str, result: Any) -> LedgerEntry:
        """Record that the handler returned `result`.

        Args:
            action_id: The action begun with `begin()`.
            result: The handler's return value, plain JSON; later `begin()` calls return it.

        Returns:
            The completed entry. Completing an entry that is already completed keeps the first result.

        Raises:
            TypeError: `result` is not plain JSON.
            NotPendingError: `action_id` was never begun, or it is recorded as failed.
        """
        check_json(result, where=f"result of action {action_id!r}")
        return self._finish(action_id, "completed", canonical_json(result), None)

    def fail(self, action_id: str, error: str) -> LedgerEntry:
        """Record that the handler raised.

        Args:
            action_id: The action begun with `begin()`.
            error: What went wrong (e.g. `"TimeoutError: gateway"`); later `begin()` calls return it.

        Returns:
            The failed entry. Failing an entry that is already failed keeps the first error.

        Raises:
            NotPendingError: `action_id` was never begun, or it is recorded as completed.
        """
        return self._finish(action_id, "failed", None, str(error))

    def _finish(
        self, action_id: str, status: LedgerStatus, result: str | None, error: str | None
    ) -> LedgerEntry:
        with self.backend.transaction():
            # The audit chain's lock before the entry's row, as `begin` (and the halt check in it)
            # takes them: a completion that locked the row first, then appended its audit row,
            # deadlocked on Postgres against a concurrent `begin` of the same action.
            self.backend.lock_audit_chain()
            self.backend.execute(
                "UPDATE hitl_ledger SET status = ?, result = ?, error = ?, finished_at = ? "
                "WHERE action_id = ? AND status = 'started'",
                (status, result, error, self.clock(), action_id),
            )
            entry = self.get(action_id)
        if entry is None:
            msg = f"Action {action_id!r} has no ledger entry; call Ledger.begin() before running its handler."
            raise NotPendingError(msg)
        if entry.status != status:
            msg = (
                f"Action {action_id!r} is already recorded as {entry.status}; its outcome cannot change "
                f"to {status}. Use the recorded outcome (Ledger.get())."
            )
            raise NotPendingError(msg)
        return entry

    def get(self, action_id: str) -> LedgerEntry | None:
        """The entry for `action_id`.

        Args:
            action_id: The action.

        Returns:
            Its entry, or None if it was never begun.
        """
        rows = self.backend.execute(f"SELECT {_COLUMNS} FROM hitl_ledger WHERE action_id = ?", (action_id,))
        return LedgerEntry.from_db(rows[0]) if rows else None
