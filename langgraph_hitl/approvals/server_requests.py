"""A LangGraph Server thread's questions as the runner's `PendingRequest`s.

What `ServerInbox` (`langgraph_server.py`) and `record_ended_reviews` (`ended_reviews.py`) read
from the server's threads and checkpoints: which interrupts are langgraph-hitl's `ReviewRequest`s,
and who may decide one. Plain functions over JSON; no `langgraph_sdk` import.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from ..errors import AuthorizationError
from ..identity import canonical_list
from ..types import ActionRequest, ReviewRequest
from .models import PendingRequest

__all__ = ["flat_interrupts", "is_review_request", "may_decide", "pending_request", "server_time"]


def server_time(value: Any) -> float:
    """Epoch seconds of a timestamp the server sent (a datetime or ISO text); 0.0 when it sent none."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return 0.0


def is_review_request(value: Any) -> bool:
    """Whether an interrupt's value is a langgraph-hitl `ReviewRequest` (not another graph's question)."""
    return (
        isinstance(value, dict) and isinstance(value.get("hitl"), dict) and bool(value.get("action_requests"))
    )


def flat_interrupts(raw: Any) -> list[dict[str, Any]]:
    """A thread's `interrupts` (task id -> list) or a state's (list), flattened."""
    if isinstance(raw, dict):
        return [i for items in raw.values() for i in items or []]
    return list(raw or [])


def pending_request(thread_id: str, payload: ReviewRequest, paused_at: float) -> PendingRequest:
    """The request `payload` asks on `thread_id`, paused since `paused_at` (its deadline counts from then)."""
    hitl = payload["hitl"]
    timeout = hitl.get("timeout_s")
    return PendingRequest(
        request_id=hitl["request_id"],
        thread_id=thread_id,
        node=hitl["node"],
        stage=int(hitl.get("stage", 1)),
        # Without Agent Inbox's `arguments`: the runner's PendingRequest carries langchain's action.
        action=cast(
            ActionRequest, {k: v for k, v in payload["action_requests"][0].items() if k != "arguments"}
        ),
        risk=hitl["risk"],
        status="pending",
        approvers=hitl.get("approvers"),
        requested_by=hitl.get("requested_by", ""),
        created_at=paused_at,
        deadline=paused_at + float(timeout) if timeout else None,
        decided_by=None,
        decision=None,
        payload=payload,
    )


def may_decide(request: PendingRequest, approver: str) -> bool:
    """Whether `approver` (canonical) could decide `request`: listed or open to all, not excluded."""
    hitl = request.payload["hitl"]
    try:
        allowed = canonical_list(request.approvers)
        excluded = canonical_list([request.requested_by, *(hitl.get("exclude_approvers") or [])]) or []
    except AuthorizationError:
        return False
    return (allowed is None or approver in allowed) and approver not in excluded
