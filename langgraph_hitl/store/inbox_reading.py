"""Reading the inbox index: one request, a page of pending ones, a thread's, the overdue, the claimed.

Every read here touches only langgraph-hitl's tables (never LangGraph's checkpoints), so listing
the inbox stays fast and needs no LangGraph import.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._db import Backend
from .inbox_row import COLUMNS, RequestRow
from .lease import expired

__all__ = ["InboxReading"]


def _parse_cursor(cursor: str) -> tuple[int, str]:
    try:
        seq, rid = cursor.split(":", 1)
        return int(seq), rid
    except ValueError:
        msg = f"Cursor {cursor!r} is not one this inbox issued; pass the next_cursor of the previous page."
        raise ValueError(msg) from None


class InboxReading:
    """The queries of `Inbox` over `hitl_requests` (mixed into `Inbox`, which owns `db` and `clock`)."""

    db: Backend
    clock: Callable[[], float]

    def get(self, request_id: str) -> RequestRow | None:
        """One row by request id (any status)."""
        rows = self.db.execute(f"SELECT {COLUMNS} FROM hitl_requests WHERE request_id = ?", (request_id,))
        return RequestRow.from_db(rows[0]) if rows else None

    def find(self, prefix: str) -> list[RequestRow]:
        """Rows whose id starts with `prefix` (for people typing ids)."""
        rows = self.db.execute(
            f"SELECT {COLUMNS} FROM hitl_requests WHERE request_id >= ? AND request_id < ? ORDER BY request_id LIMIT 5",
            (prefix, prefix + "\U0010ffff"),
        )
        return [RequestRow.from_db(r) for r in rows]

    def pending(
        self,
        *,
        approver: str | None = None,
        risk: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
        thread_id: str | None = None,
    ) -> tuple[list[RequestRow], str | None]:
        """Pending rows, newest first, and the cursor of the next page (None at the end).

        Args:
            approver: Only requests this person may decide (listed, or open to anyone, and
                neither requested nor already approved by them).
            risk: Only this risk level.
            thread_id: Only this thread's requests (an index lookup).
            limit: Page size, 1-500.
            cursor: The previous page's `next_cursor`.
        """
        if not 1 <= limit <= 500:
            msg = f"limit={limit!r}; use 1-500."
            raise ValueError(msg)
        out: list[RequestRow] = []
        after = cursor
        while len(out) <= limit:
            batch = self._page(
                approver=approver, risk=risk, limit=limit + 1, after=after, thread_id=thread_id
            )
            out += [
                r
                for r in batch
                if not approver or approver not in r.payload["hitl"].get("exclude_approvers", [])
            ]
            if len(batch) <= limit:
                break
            after = batch[-1].cursor  # exclusions thinned the page: read on
        page = out[:limit]
        return page, (page[-1].cursor if len(out) > limit else None)

    def _page(
        self,
        *,
        approver: str | None,
        risk: str | None,
        limit: int,
        after: str | None,
        thread_id: str | None = None,
    ) -> list[RequestRow]:
        where = ["status = 'pending'"]
        params: list[Any] = []
        if thread_id is not None:
            where.append("thread_id = ?")
            params.append(thread_id)
        if after:
            seq, rid = _parse_cursor(after)
            where.append("(seq < ? OR (seq = ? AND request_id < ?))")
            params += [seq, seq, rid]
        if risk:
            where.append("risk = ?")
            params.append(risk)
        if approver:
            where.append(
                "(open_to_all = 1 OR request_id IN "
                "(SELECT request_id FROM hitl_request_approvers WHERE approver = ?))"
            )
            where.append("requested_by <> ?")
            params += [approver, approver]
        rows = self.db.execute(
            f"SELECT {COLUMNS} FROM hitl_requests WHERE {' AND '.join(where)} "
            "ORDER BY seq DESC, request_id DESC LIMIT ?",
            (*params, limit),
        )
        return [RequestRow.from_db(r) for r in rows]

    def count_pending(self) -> int:
        """How many requests wait for a decision."""
        return int(
            self.db.execute("SELECT COUNT(*) AS n FROM hitl_requests WHERE status = 'pending'")[0]["n"]
        )

    def by_thread(self, thread_id: str) -> list[RequestRow]:
        """Every row of a thread, oldest first."""
        rows = self.db.execute(
            f"SELECT {COLUMNS} FROM hitl_requests WHERE thread_id = ? ORDER BY seq", (thread_id,)
        )
        return [RequestRow.from_db(r) for r in rows]

    def overdue(self, now: float, *, limit: int = 100) -> list[RequestRow]:
        """Pending rows whose deadline has passed, oldest deadline first."""
        rows = self.db.execute(
            f"SELECT {COLUMNS} FROM hitl_requests WHERE status = 'pending' AND deadline IS NOT NULL "
            "AND deadline <= ? ORDER BY deadline LIMIT ?",
            (now, limit),
        )
        return [RequestRow.from_db(r) for r in rows]

    def deciding(self, *, older_than: float) -> list[tuple[RequestRow, float | None]]:
        """Claimed rows made before `older_than` (epoch) whose lease is over (see `lease`): candidates
        for recovery, with the `lease_until` to take each over by (`renew_claim`)."""
        rows = self.db.execute(
            f"SELECT {COLUMNS}, lease_owner, lease_until, {self.db.now_sql} AS db_now FROM hitl_requests "
            "WHERE status = 'deciding' AND decided_at <= ? ORDER BY seq",
            (older_than,),
        )
        return [
            (RequestRow.from_db(r), None if r["lease_until"] is None else float(r["lease_until"]))
            for r in rows
            if expired(r)
        ]
