"""`RequestRow`: one row of the inbox index (`hitl_requests`), as every reader of the inbox sees it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..types import ActionRequest, RequestStatus, ReviewRequest

__all__ = ["COLUMNS", "RequestRow"]

COLUMNS = (
    "request_id, thread_id, interrupt_id, checkpoint_ns, node, stage, action_id, action_name, args_hash, risk, "
    "approvers, open_to_all, requested_by, status, decided_by, decision, payload, graph, created_at, deadline, "
    "decided_at, resumed_at, seq"
)
"""The columns of `hitl_requests` that `RequestRow.from_db` reads, in order."""


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
    traceparent: str | None = None
    """The W3C trace context of the run that asked (read by `Inbox.claim` only; see `telemetry`)."""

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
            traceparent=row.get("traceparent"),
        )
