"""What a review node asks: the parts of its question, each derived from state alone.

`ReviewNode.build_request` assembles them before `interrupt()`, so everything here is pure:
the same state gives the identical question on every re-run (nothing random or
time-dependent), which is what lets LangGraph match a resume to the question it answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._canonical import plain_json
from ..decisions import langchain_decisions
from ..identity import canonical_list
from ..receipts import counting
from ..types import ActionRequest, DecisionRecord, HITLContext, OnTimeout, ReviewRequest
from .authorization import receipts_in

__all__ = [
    "deciders",
    "describe",
    "earlier_approvers",
    "last_refusal",
    "review_request",
    "shown_context",
    "timeout_rule",
]


def deciders(own: list[str] | None, assessment: Mapping[str, Any], level: int) -> list[str] | None:
    """Who may decide: the node's approvers, else the gate's; after `level` escalations, that tier."""
    approvers = own if own is not None else canonical_list(assessment.get("approvers"))
    if level:
        tiers = assessment.get("escalation") or []
        approvers = canonical_list(tiers[min(level, len(tiers)) - 1]) if tiers else approvers
    return approvers


def earlier_approvers(
    decisions: list[DecisionRecord], *, digest: str, gate: Any, requesters: list[str], key: bytes
) -> list[str]:
    """Who already approved the action with `digest` under `gate` (valid receipts, one per person).

    A second review excludes them, beside its `requesters`: four-eyes needs a different person.
    """
    counted = counting(receipts_in(decisions), digest=digest, gate=gate, requester=requesters, key=key)
    return [r["approver"] for r in counted if r["approver"] not in requesters]


def timeout_rule(own: OnTimeout | None, assessment: Mapping[str, Any], level: int) -> OnTimeout:
    """What happens when nobody decides in time: the node's rule, else the gate's, else `reject`.

    Only a soft gate may approve on timeout, and only a request with a tier left may escalate;
    anything else rejects (fails closed).
    """
    on_timeout: OnTimeout = own or assessment.get("on_timeout") or "reject"
    if on_timeout == "approve" and assessment["mode"] != "soft":
        on_timeout = "reject"
    if on_timeout == "escalate" and level >= len(assessment.get("escalation") or []):
        on_timeout = "reject"
    return on_timeout


def shown_context(state: Mapping[str, Any], action_id: str) -> dict[str, Any]:
    """What the agent was doing, as reviewers see it: `hitl_context` and the thread's last other actions."""
    raw_context = state.get("hitl_context")
    context = (
        dict(raw_context) if isinstance(raw_context, dict) else {"value": raw_context} if raw_context else {}
    )
    context.setdefault(
        "earlier_actions",
        [
            {"action": e.get("action"), "event": e.get("event"), "actor": e.get("actor")}
            for e in (state.get("audit_trail") or [])[-6:]
            if isinstance(e, dict) and e.get("action_id") != action_id
        ],
    )
    # What reviewers see must be storable anywhere: non-JSON values are shown as text, and said so.
    shown: dict[str, Any]
    shown, converted = plain_json(context, where="hitl_context")
    if converted:
        shown["converted"] = converted[:20]
    return shown


def last_refusal(mine: list[DecisionRecord]) -> str | None:
    """Why this node's last refused answer about the action was refused, to show when it asks again."""
    return next((r["message"] for r in reversed(mine) if r["effect"] == "refused"), None) if mine else None


def review_request(action: ActionRequest, allowed: list[str], hitl: HITLContext) -> ReviewRequest:
    """The question about `action`: a strict langchain `HITLRequest`, with langgraph-hitl's `hitl` beside it."""
    return {
        "action_requests": [
            {
                "name": action["name"],
                "args": action["args"],
                "description": action.get("description") or describe(action),
            }
        ],
        # langchain's types only, so strict HITLRequest clients parse it; `revise` is in `hitl`.
        "review_configs": [
            {
                "action_name": action["name"],
                "allowed_decisions": langchain_decisions(allowed),
            }
        ],
        "hitl": hitl,
    }


def describe(action: ActionRequest) -> str:
    """`name(key=value, ...)` for an action without a description (its first six arguments)."""
    args = ", ".join(f"{k}={v!r}" for k, v in list(action["args"].items())[:6])
    return f"{action['name']}({args})"
