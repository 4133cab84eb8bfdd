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
from typing import Any

from .._canonical import canonical_json
from ..errors import ConflictError, NotPendingError
from ..types import ActionRequest, ReviewRequest
from ._db import Backend
from .inbox_reading import InboxReading
from .inbox_row import COLUMNS, RequestRow
from .inbox_threads import ThreadMarks
from .lease import current_owner, current_ttl

__all__ = ["Inbox", "RequestRow"]

_PERSON_DECISIONS = {
    "approved": "approve",
    "edited": "edit",
    "rejected": "reject",
    "responded": "respond",
    "revision_requested": "revise",
}
"""Audit events a person's answer leaves -> the decision type; what `settle_decided` reads."""


class Inbox(InboxReading, ThreadMarks):
    """Reads and writes `hitl_requests`, `hitl_request_approvers` and `hitl_threads`.

    The writes to requests are here; the reads are `InboxReading`'s (`inbox_reading.py`) and the
    thread marks `ThreadMarks`' (`inbox_threads.py`).
    """

    def __init__(self, backend: Backend, *, clock: Callable[[], float]) -> None:
        self.db = backend
        self.clock = clock

    # -- writing --------------------------------------------------------------------------------------

    def index(
        self,
        thread_id: str,
        items: Sequence[tuple[str, str, ReviewRequest]],
        *,
        graph: str = "",
        traceparent: str | None = None,
    ) -> list[str]:
        """Index paused questions of `thread_id`: `(interrupt_id, checkpoint_ns, payload)` each.

        Rows already indexed are left alone (their deadline keeps counting from the first
        indexing). `traceparent` (the W3C trace context of the run that asked) goes with new rows.
        Returns the request ids that are new.
        """
        now = self.clock()
        new: list[str] = []
        if not items:
            return new
        with self.db.transaction():
            self.db.lock_inbox()
            for interrupt_id, ns, payload in items:
                rid = payload["hitl"]["request_id"]
                known = self.db.execute(
                    "SELECT status, interrupt_id FROM hitl_requests WHERE request_id = ?", (rid,)
                )
                if known:
                    if self._ask_again(known[0], interrupt_id, payload):
                        new.append(rid)
                    continue
                self._insert(
                    thread_id, interrupt_id, ns, payload, graph=graph, now=now, traceparent=traceparent
                )
                new.append(rid)
        return new

    def _ask_again(self, known: dict[str, Any], interrupt_id: str, payload: ReviewRequest) -> bool:
        """Re-open an indexed row asked again under a new interrupt; False if it stays as it is."""
        if known["status"] not in ("pending", "cancelled") or known["interrupt_id"] == interrupt_id:
            return False
        # The same question asked again after the thread's state changed.
        self.db.execute(
            "UPDATE hitl_requests SET status = 'pending', interrupt_id = ?, payload = ?, "
            "decided_at = NULL WHERE request_id = ?",
            (interrupt_id, canonical_json(payload), payload["hitl"]["request_id"]),
        )
        return True

    def _insert(
        self,
        thread_id: str,
        interrupt_id: str,
        ns: str,
        payload: ReviewRequest,
        *,
        graph: str,
        now: float,
        traceparent: str | None = None,
    ) -> None:
        """A new pending row, with its approvers indexed for "pending for approver X"."""
        hitl = payload["hitl"]
        rid = hitl["request_id"]
        seq = (self.db.execute("SELECT MAX(seq) AS m FROM hitl_requests")[0]["m"] or 0) + 1
        timeout = hitl.get("timeout_s")
        approvers = hitl.get("approvers")
        first = payload["action_requests"][0]
        self.db.execute(
            f"INSERT INTO hitl_requests ({COLUMNS}, traceparent) VALUES "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', NULL, NULL, ?, ?, ?, ?, NULL, NULL, ?, ?) "
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
                traceparent,
            ),
        )
        if approvers:
            self.db.executemany(
                "INSERT INTO hitl_request_approvers (approver, request_id, seq) VALUES (?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                [(a, rid, seq) for a in dict.fromkeys(approvers)],
            )

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
                f"WHERE request_id = ? AND status = 'pending' RETURNING {COLUMNS}, traceparent",
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

    def mark_answered_elsewhere(self, request_id: str, *, decided_by: str, decision: dict[str, Any]) -> None:
        """Record that the graph took another answer than the claimed one (a plain resume got there
        first): the request is resumed with who really decided and what."""
        self.db.execute(
            "UPDATE hitl_requests SET status = 'resumed', decided_by = ?, decision = ?, resumed_at = ? "
            "WHERE request_id = ? AND status = 'deciding'",
            (decided_by, canonical_json(decision), self.clock(), request_id),
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


def _args_hash(action: ActionRequest) -> str:
    from .._canonical import args_hash

    return args_hash(action.get("args", {}))
