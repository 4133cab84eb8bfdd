"""Audit events as nodes and the runner build them, with ids both sides agree on.

The runner records a decision's event in the same transaction as the decision; the review
node records the same event again when the graph resumes. Both derive the event id from the
same parts, so the log keeps one row.
"""

from __future__ import annotations

from typing import Any

from ._canonical import args_hash, now_iso, stable_id
from .types import AuditEvent

__all__ = ["DECISION_EVENTS", "decision_event_id", "make_event"]

DECISION_EVENTS: dict[str, str] = {
    "approve": "approved",
    "edit": "edited",
    "reject": "rejected",
    "respond": "responded",
    "revise": "revision_requested",
    "timeout": "timed_out",
    "escalate": "escalated",
    "invalid": "refused",
}
"""Decision type -> audit event name."""


def decision_event_id(action_id: str, request_id: str, decision_type: str) -> str:
    """The event id of the decision `decision_type` on `request_id`."""
    return stable_id(action_id, DECISION_EVENTS.get(decision_type, decision_type), request_id)


def make_event(
    event: str,
    *,
    action_id: str,
    actor: str,
    thread_id: str | None,
    action: dict[str, Any] | None = None,
    assessment: dict[str, Any] | None = None,
    request_id: str | None = None,
    decision: str | None = None,
    outcome: str | None = None,
    detail: dict[str, Any] | None = None,
    event_id: str | None = None,
    ts: str | None = None,
) -> AuditEvent:
    """Build one audit event; `event_id` defaults to a stable id of (action, event, request)."""
    args = action.get("args") if action else None
    return {
        "event_id": event_id or stable_id(action_id, event, request_id or ""),
        "ts": ts or now_iso(),
        "thread_id": thread_id,
        "request_id": request_id,
        "action_id": action_id,
        "event": event,
        "actor": actor,
        "action": action.get("name") if action else None,
        "args": args,
        "args_hash": args_hash(args) if args is not None else None,
        "reversibility": assessment.get("reversibility") if assessment else None,
        "risk": assessment.get("risk") if assessment else None,
        "decision": decision,
        "outcome": outcome,
        "policy_version": assessment.get("policy_version") if assessment else None,
        "detail": detail,
    }
