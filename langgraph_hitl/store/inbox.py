"""The inbox index (`hitl_requests`): every question a review node asked, and its fate.

Status moves only forward:

```
pending --claim--> deciding --mark_resumed--> resumed
   |                   `--release--> pending        (the resume never reached the graph)
   |--> expired / cancelled                          (timeout handled; thread abandoned or changed)
   `--settle_decided--> resumed                     (answered by a plain Command(resume=...))
```

`claim` is a compare-and-set in one statement, so exactly one decision wins per request
across processes (G2). Listing reads only these tables, never LangGraph's checkpoints.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._canonical import canonical_json
from ..errors import ConflictError, NotPendingError
from ..types import ActionRequest, RequestStatus, ReviewRequest
from ._db import Backend
from .lease import current_owner, current_ttl, expired

__all__ = ["Inbox", "RequestRow"]

_PERSON_DECISIONS = {
    "approved": "approve",
    "edited": "edit",
    "rejected": "reject",
    "responded": "respond",
    "revision_requested": "revise",
}
"""Audit events a person's answer leaves -> the decision type; what `settle_decided` reads."""

_COLUMNS = (
    "request_id, thread_id, interrupt_id, checkpoint_ns, node, stage, action_id, action_name, args_hash, risk, "
    "approvers, open_to_all, requested_by, status, decided_by, decision, payload, graph, created_at, deadline, "
    "decided_at, resumed_at, seq"
)


@dataclass(frozen=True)
class RequestRow:
    """One inbox row: a question, who may answer it, and what became of it."""

    request_id: str
    thread_id: str
    interrupt_id: str
    node: str
    stage: int
    action_id: str
    action_name: str
    args_hash: str
    risk: str
    approvers: list[str] | None
    requested_by: str
    status: RequestStatus
    decided_by: str | None
    decision: dict[str, Any] | None
    payload: ReviewRequest
    graph: str
    created_at: float
    deadline: float | None
    decided_at: float | None
    resumed_at: float | None
    seq: int
    checkpoint_ns: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def action(self) -> ActionRequest:
        """The (first) action under review."""
        return self.payload["action_requests"][0]

    @property
    def cursor(self) -> str:
        """Pass to `Inbox.pending(cursor=...)` to get the rows after this one."""
        return f"{self.seq}:{self.request_id}"

    @classmethod
    def from_db(cls, row: dict[str, Any]) -> RequestRow:
        """Build from a database row."""
        return cls(
            request_id=row["request_id"],
            thread_id=row["thread_id"],
            interrupt_id=row["interrupt_id"],
            node=row["node"],
            stage=int(row["stage"]),
            action_id=row["action_id"],
            action_name=row["action_name"],
            args_hash=row["args_hash"],
            risk=row["risk"],
            approvers=json.loads(row["approvers"]) if row["approvers"] else None,
            requested_by=row["requested_by"],
            status=row["status"],
            decided_by=row["decided_by"],
            decision=json.loads(row["decision"]) if row["decision"] else None,
            payload=json.loads(row["payload"]),
            graph=row["graph"],
            created_at=float(row["created_at"]),
            deadline=None if row["deadline"] is None else float(row["deadline"]),
            decided_at=None if row["decided_at"] is None else float(row["decided_at"]),
            resumed_at=None if row["resumed_at"] is None else float(row["resumed_at"]),
            seq=int(row["seq"]),
            checkpoint_ns=row["checkpoint_ns"],
        )


def _parse_cursor(cursor: str) -> tuple[int, str]:
    try:
        seq, rid = cursor.split(":", 1)
        return int(seq), rid
    except ValueError:
        msg = f"Cursor {cursor!r} is not one this inbox issued; pass the next_cursor of the previous page."
        raise ValueError(msg) from None


class Inbox:
    """Reads and writes `hitl_requests`, `hitl_request_approvers` and `hitl_threads`."""

    def __init__(self, backend: Backend, *, clock: Callable[[], float]) -> None:
        self.db = backend
        self.clock = clock

    # -- writing --------------------------------------------------------------------------------------

    def index(
        self, thread_id: str, items: Sequence[tuple[str, str, ReviewRequest]], *, graph: str = ""
    ) -> list[str]:
        """Index paused questions of `thread_id`: `(interrupt_id, checkpoint_ns, payload)` each.

        Rows already indexed are left alone (their deadline keeps counting from the first
        indexing). Returns the request ids that are new.
        """
        now = self.clock()
        new: list[str] = []
        if not items:
            return new
        with self.db.transaction():
            self.db.lock_inbox()
            for interrupt_id, ns, payload in items:
                hitl = payload["hitl"]
                rid = hitl["request_id"]
                known = self.db.execute(
                    "SELECT status, interrupt_id FROM hitl_requests WHERE request_id = ?", (rid,)
                )
                if known:
                    if (
                        known[0]["status"] in ("pending", "cancelled")
                        and known[0]["interrupt_id"] != interrupt_id
                    ):
                        # The same question asked again after the thread's state changed.
                        self.db.execute(
                            "UPDATE hitl_requests SET status = 'pending', interrupt_id = ?, payload = ?, "
                            "decided_at = NULL WHERE request_id = ?",
                            (interrupt_id, canonical_json(payload), rid),
                        )
                        new.append(rid)
                    continue
                seq = (self.db.execute("SELECT MAX(seq) AS m FROM hitl_requests")[0]["m"] or 0) + 1
                timeout = hitl.get("timeout_s")
                approvers = hitl.get("approvers")
                first = payload["action_requests"][0]
                self.db.execute(
                    f"INSERT INTO hitl_requests ({_COLUMNS}) VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', NULL, NULL, ?, ?, ?, ?, NULL, NULL, ?) "
                    "ON CONFLICT (request_id) DO NOTHING",
                    (
                        rid,
                        thread_id,
                        interrupt_id,
                        ns,
                        hitl["node"],
                        int(hitl.get("stage", 1)),
                        hitl["action_id"],
                        first["name"],
                        _args_hash(first),
                        hitl["risk"],
                        json.dumps(approvers) if approvers is not None else None,
                        1 if approvers is None else 0,
                        hitl.get("requested_by", ""),
                        canonical_json(payload),
                        graph,
                        now,
                        now + float(timeout) if timeout else None,
                        seq,
                    ),
                )
                if approvers:
                    self.db.executemany(
                        "INSERT INTO hitl_request_approvers (approver, request_id, seq) VALUES (?, ?, ?) "
                        "ON CONFLICT DO NOTHING",
                        [(a, rid, seq) for a in dict.fromkeys(approvers)],
                    )
                new.append(rid)
        return new

    def cancel_stale(self, thread_id: str, live_request_ids: Sequence[str]) -> list[str]:
        """Cancel the thread's pending rows that are no longer among its live questions."""
        with self.db.transaction():
            rows = self.db.execute(
                "SELECT request_id FROM hitl_requests WHERE thread_id = ? AND status = 'pending'",
                (thread_id,),
            )
            stale = [r["request_id"] for r in rows if r["request_id"] not in set(live_request_ids)]
            for rid in stale:
                self.db.execute(
                    "UPDATE hitl_requests SET status = 'cancelled', decided_at = ? WHERE request_id = ? AND status = 'pending'",
                    (self.clock(), rid),
                )
        return stale

    def settle_decided(self, thread_id: str, events: Sequence[Any]) -> list[str]:
        """Settle the thread's pending rows that a person answered outside the runner.

        A thread paused by the runner can be resumed with plain LangGraph (`Command(resume=...)`
        with the decider in the run's config); the review node then seals the decision into the
        trail, and whoever writes that trail (`AuditNode` with a store, or the runner's next
        `refresh`) passes the sealed events here: each pending row a decision names becomes
        `resumed`, with who decided and what, instead of lingering as pending or being counted
        as cancelled. `events` must be trusted (sealed for this thread); others are ignored.

        Returns:
            The request ids settled.
        """
        settled: list[str] = []
        now = self.clock()
        for event in events:
            kind = _PERSON_DECISIONS.get(str(event.get("event"))) if isinstance(event, dict) else None
            rid = event.get("request_id") if kind is not None else None
            if not isinstance(rid, str) or event.get("thread_id") != thread_id or rid in settled:
                continue
            who = str(event.get("actor") or "")
            if self.db.execute(
                "UPDATE hitl_requests SET status = 'resumed', decided_by = ?, decision = ?, decided_at = ?, "
                "resumed_at = ? WHERE request_id = ? AND thread_id = ? AND status = 'pending' RETURNING request_id",
                (who, canonical_json({"type": kind, "approver": who}), now, now, rid, thread_id),
            ):
                settled.append(rid)
        return settled

    def cancel_unanswered(
        self,
        thread_id: str,
        items: Sequence[tuple[str, str, ReviewRequest]],
        *,
        by: str | None,
        reason: str,
        graph: str = "",
    ) -> list[str]:
        """Record questions that a change to the thread removed before anyone answered them.

        Each `(interrupt_id, checkpoint_ns, payload)` is indexed if it is not yet, then a pending
        row becomes `cancelled` with `decision` = `{"type": "cancelled", "by": by, "reason": reason}`.
        `decided_by` stays NULL: nobody decided, so no decision time is counted for anyone.
        Decided rows are left alone. Returns the request ids cancelled.
        """
        done: list[str] = []
        with self.db.transaction():
            self.index(thread_id, items, graph=graph)
            note = canonical_json({"type": "cancelled", "by": by, "reason": reason})
            for _, _, payload in items:
                rid = payload["hitl"]["request_id"]
                if self.db.execute(
                    "UPDATE hitl_requests SET status = 'cancelled', decision = ?, decided_at = ? "
                    "WHERE request_id = ? AND status = 'pending' RETURNING request_id",
                    (note, self.clock(), rid),
                ):
                    done.append(rid)
        return done

    def cancel(self, request_id: str) -> bool:
        """Cancel one pending request (its thread is no longer paused at it); False if it was not pending."""
        rows = self.db.execute(
            "UPDATE hitl_requests SET status = 'cancelled', decided_at = ? WHERE request_id = ? AND status = 'pending' "
            "RETURNING request_id",
            (self.clock(), request_id),
        )
        return bool(rows)

    def claim(self, request_id: str, decision: dict[str, Any], *, approver: str) -> RequestRow:
        """Move `request_id` from pending to deciding with `decision`; exactly one caller wins.

        Raises:
            NotPendingError: Unknown, expired or cancelled.
            ConflictError: Another decision was accepted first.
        """
        with self.db.transaction():
            updated = self.db.execute(
                "UPDATE hitl_requests SET status = 'deciding', decided_by = ?, decision = ?, decided_at = ?, "
                f"lease_owner = ?, lease_until = {self.db.now_sql} + ? "
                f"WHERE request_id = ? AND status = 'pending' RETURNING {_COLUMNS}",
                (
                    approver,
                    canonical_json(decision),
                    self.clock(),
                    current_owner(),
                    current_ttl(),
                    request_id,
                ),
            )  # the claimed row comes back with the update: no second read
            if not updated:
                self._raise_not_pending(request_id)
        return RequestRow.from_db(updated[0])

    def _raise_not_pending(self, request_id: str) -> None:
        row = self.get(request_id)
        if row is None:
            msg = f"No request {request_id!r} in the inbox. List waiting requests with pending()."
            raise NotPendingError(msg)
        if row.status in ("deciding", "resumed"):
            what = (row.decision or {}).get("type", "?")
            msg = (
                f"Request {request_id} was already decided by {row.decided_by!r} ({what}); one decision wins."
            )
            raise ConflictError(msg)
        msg = f"Request {request_id} is {row.status}, no longer pending; it cannot be decided."
        raise NotPendingError(msg)

    def release(self, request_id: str) -> None:
        """Put a claimed request back to pending (its resume never reached the graph)."""
        self.db.execute(
            "UPDATE hitl_requests SET status = 'pending', decided_by = NULL, decision = NULL, decided_at = NULL "
            "WHERE request_id = ? AND status = 'deciding'",
            (request_id,),
        )

    def mark_resumed(self, request_id: str) -> None:
        """Record that the graph received the decision."""
        self.db.execute(
            "UPDATE hitl_requests SET status = 'resumed', resumed_at = ? WHERE request_id = ? AND status = 'deciding'",
            (self.clock(), request_id),
        )

    def mark_expired(self, request_id: str) -> None:
        """Record that a timeout resolved the request (after its `timeout` decision was delivered)."""
        self.db.execute(
            "UPDATE hitl_requests SET status = 'expired', resumed_at = ? WHERE request_id = ? AND status = 'deciding'",
            (self.clock(), request_id),
        )

    def renew_claim(self, request_id: str, decided_at: float, lease_until: float | None = None) -> bool:
        """Take over a `deciding` row whose claim is `decided_at` and whose lease ended at `lease_until`
        (recovery); False if someone else did, or if its owner renewed the lease meanwhile."""
        rows = self.db.execute(
            f"UPDATE hitl_requests SET decided_at = ?, lease_owner = ?, lease_until = {self.db.now_sql} + ? "
            "WHERE request_id = ? AND status = 'deciding' AND decided_at = ? AND COALESCE(lease_until, -1) = ? "
            "RETURNING request_id",
            (
                self.clock(), current_owner(), current_ttl(), request_id, decided_at,
                -1 if lease_until is None else lease_until,
            ),
        )  # fmt: skip
        return bool(rows)

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

    # -- reading --------------------------------------------------------------------------------------

    def get(self, request_id: str) -> RequestRow | None:
        """One row by request id (any status)."""
        rows = self.db.execute(f"SELECT {_COLUMNS} FROM hitl_requests WHERE request_id = ?", (request_id,))
        return RequestRow.from_db(rows[0]) if rows else None

    def find(self, prefix: str) -> list[RequestRow]:
        """Rows whose id starts with `prefix` (for people typing ids)."""
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM hitl_requests WHERE request_id >= ? AND request_id < ? ORDER BY request_id LIMIT 5",
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
            f"SELECT {_COLUMNS} FROM hitl_requests WHERE {' AND '.join(where)} "
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
            f"SELECT {_COLUMNS} FROM hitl_requests WHERE thread_id = ? ORDER BY seq", (thread_id,)
        )
        return [RequestRow.from_db(r) for r in rows]

    def overdue(self, now: float, *, limit: int = 100) -> list[RequestRow]:
        """Pending rows whose deadline has passed, oldest deadline first."""
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM hitl_requests WHERE status = 'pending' AND deadline IS NOT NULL "
            "AND deadline <= ? ORDER BY deadline LIMIT ?",
            (now, limit),
        )
        return [RequestRow.from_db(r) for r in rows]

    def deciding(self, *, older_than: float) -> list[tuple[RequestRow, float | None]]:
        """Claimed rows made before `older_than` (epoch) whose lease is over (see `lease`): candidates
        for recovery, with the `lease_until` to take each over by (`renew_claim`)."""
        rows = self.db.execute(
            f"SELECT {_COLUMNS}, lease_owner, lease_until, {self.db.now_sql} AS db_now FROM hitl_requests "
            "WHERE status = 'deciding' AND decided_at <= ? ORDER BY seq",
            (older_than,),
        )
        return [
            (RequestRow.from_db(r), None if r["lease_until"] is None else float(r["lease_until"]))
            for r in rows
            if expired(r)
        ]

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


def _args_hash(action: ActionRequest) -> str:
    from .._canonical import args_hash

    return args_hash(action.get("args", {}))
