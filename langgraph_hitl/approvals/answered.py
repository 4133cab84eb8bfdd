"""Who really answered a question: the decisions the review nodes sealed into a thread's state.

A thread the runner paused can also be answered with plain LangGraph (`Command(resume=...)`
with the decider in the run's config), by another service or at the same moment as the
runner. The graph acts on whichever answer reached it; these helpers read that answer from the
snapshot, so the inbox and the audit log say who decided, and a runner decision that lost the
race is reported as not delivered instead of being recorded as the one the graph took.

Only events sealed by langgraph-hitl's own nodes for this thread count (G11): a client can
write anything into state, never a sealed decision of its own making.
"""

from __future__ import annotations

from typing import Any

from .._events import make_event, trusted_events
from ..store import Store
from ..store.inbox import RequestRow
from .graphs import trail_sources

__all__ = ["PERSON_DECISIONS", "answers_in", "lost_to", "not_delivered_event", "settle_lost_claim"]

PERSON_DECISIONS = ("approved", "edited", "rejected", "responded", "revision_requested")
"""The audit events a person's answer leaves (what a timeout or the runner issues is not one)."""


def answers_in(store: Store, row: RequestRow, state: Any) -> list[dict[str, Any]]:
    """The sealed decisions on `row`'s request in `state` (the root's trail and those of paused
    subgraphs the snapshot carries), oldest first; empty when nobody answered it there."""
    mine = [
        event
        for source in trail_sources(state)
        if isinstance(source, list)
        for event in source
        if isinstance(event, dict)
        and event.get("request_id") == row.request_id
        and event.get("event") in PERSON_DECISIONS
    ]
    if not mine:
        return []
    kept = trusted_events(mine, key=store.seal_key, thread_id=row.thread_id)
    return [e for e in kept if e.get("event") in PERSON_DECISIONS and e.get("request_id") == row.request_id]


def not_delivered_event(row: RequestRow, winner: str, *, ts: str) -> dict[str, Any]:
    """The row that says a claimed decision did not take effect because `winner` answered first (G11)."""
    import uuid

    kind = (row.decision or {}).get("type")
    hitl = row.payload["hitl"]
    return dict(
        make_event(
            "refused",
            action_id=row.action_id,
            actor=row.decided_by or "unknown",
            thread_id=row.thread_id,
            action=dict(row.action),
            assessment={k: hitl.get(k) for k in ("risk", "reversibility", "policy_version")},
            request_id=row.request_id,
            decision=str(kind) if kind else None,
            event_id=uuid.uuid4().hex,
            ts=ts,
            detail={
                "error": (
                    f"the decision did not take effect: {winner!r} answered this question first (not through "
                    "this runner), and the graph acted on that answer"
                ),
                "answered_by": winner,
            },
        )
    )


def lost_to(store: Store, claimed: RequestRow, state: Any) -> list[dict[str, Any]]:
    """The sealed answers in `state` to the request the runner claimed, when none is the
    claimant's: another answer reached the graph first. Empty when the claim took effect (or
    nobody's answer is in the snapshot)."""
    answered = answers_in(store, claimed, state)
    if not answered or claimed.decided_by in {e.get("actor") for e in answered}:
        return []
    return answered


def settle_lost_claim(store: Store, claimed: RequestRow, answered: list[dict[str, Any]], *, ts: str) -> None:
    """Record that the graph acted on `answered`, not on the claim: the request is resumed with
    who really decided and what, the answers are in the log, and a row says the claimed decision
    did not take effect. Call inside the transaction that indexes the thread."""
    winner = answered[-1]
    kind = {"approved": "approve", "edited": "edit", "rejected": "reject", "responded": "respond"}.get(
        str(winner.get("event")), "revise"
    )
    store.audit.append(answered)  # type: ignore[arg-type]
    who = str(winner["actor"])
    store.inbox.mark_answered_elsewhere(
        claimed.request_id, decided_by=who, decision={"type": kind, "approver": who}
    )
    store.audit.append([not_delivered_event(claimed, str(winner["actor"]), ts=ts)])  # type: ignore[list-item]
