"""Audit events as nodes and the runner build them, with ids both sides agree on.

The runner records a decision's event in the same transaction as the decision; the review
node records the same event again when the graph resumes. Both derive the event id from the
same parts, so the log keeps one row.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._canonical import args_hash, now_iso, stable_id
from .types import AuditEvent

__all__ = [
    "DECISION_EVENTS",
    "decision_event_id",
    "in_subgraph",
    "make_event",
    "task_namespace",
    "trusted_events",
]

NS_SEP, NS_END = "|", ":"
"""LangGraph's checkpoint namespaces: `node:<task id>` for a task, one per level, joined by `|`
(`parent:<task id>|child:<task id>` inside a subgraph); the root graph's is empty."""


def task_namespace(parent_ns: str, node: str, task_id: str) -> str:
    """The checkpoint namespace of task `task_id` of `node` in the graph at `parent_ns`: where a
    subgraph that task runs keeps its checkpoints."""
    own = f"{node}{NS_END}{task_id}"
    return f"{parent_ns}{NS_SEP}{own}" if parent_ns else own


def in_subgraph(checkpoint_ns: str) -> bool:
    """True for a node's namespace inside a subgraph (or a graph called from a node), not the root graph."""
    return NS_SEP in checkpoint_ns


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


def decision_event_id(action_id: str, request_id: str, decision_type: str, *, actor: str) -> str:
    """The event id of `actor`'s decision `decision_type` on `request_id`.

    The runner's claim and the review node compute the same id for the same person's decision,
    so it is one row; another person's answer to the same question (a plain resume racing the
    runner) is a row of its own, never merged into the first one.
    """
    return stable_id(action_id, DECISION_EVENTS.get(decision_type, decision_type), request_id, actor)


def make_event(
    event: str,
    *,
    action_id: str,
    actor: str,
    thread_id: str | None,
    action: Mapping[str, Any] | None = None,
    assessment: Mapping[str, Any] | None = None,
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


def trusted_events(
    events: Any, *, key: bytes | None, thread_id: str | None, ts: str | None = None
) -> list[dict[str, Any]]:
    """The events of `state["audit_trail"]` that may become audit rows (G11).

    An event counts only if langgraph-hitl's own code sealed it with `key` and it belongs to
    `thread_id`. Anything else (a row a graph node wrote into state, or copied from another
    thread) is dropped, and a `refused` row by `system:audit` says so, once per forged event.
    """
    from .receipts import sealed

    out: list[dict[str, Any]] = []
    for e in events if isinstance(events, list) else []:
        if isinstance(e, dict) and sealed(e, key) and e.get("thread_id") == thread_id and key:
            out.append({k: v for k, v in e.items() if k != "seal"})
            continue
        claimed = (
            {f: str(e.get(f))[:200] for f in ("event", "actor", "thread_id", "action_id", "event_id")}
            if isinstance(e, dict)
            else {"value": repr(e)[:200]}
        )
        why = (
            "its thread is not this run's"
            if isinstance(e, dict) and sealed(e, key) and key
            else "it was not written by langgraph-hitl (no valid seal)"
        )
        out.append(
            dict(
                make_event(
                    "refused",
                    action_id=str(claimed.get("action_id") or ""),
                    actor="system:audit",
                    thread_id=thread_id,
                    decision="refused",
                    ts=ts,
                    event_id=stable_id("forged", thread_id, repr(sorted(claimed.items()))),
                    detail={"error": f"an audit event in graph state was ignored: {why}", "claimed": claimed},
                )
            )
        )
    return out
