"""What the runner's claim writes about a decision: its effect, the gate it went through, and the
receipt the review node will keep for an approval (the same fields, the same MAC, G9)."""

from __future__ import annotations

from typing import Any

from .._events import DECISION_EVENTS
from ..receipts import Receipt, action_digest, issue
from ..store.inbox import RequestRow
from ..types import Decision

__all__ = ["effect_of", "gate_of", "receipt_for"]


def effect_of(row: RequestRow, kind: str) -> str:
    """What a decision does, for the audit row: a soft gate's timeout approves."""
    if kind == "timeout" and row.payload["hitl"].get("on_timeout") == "approve":
        return "approved"
    return DECISION_EVENTS[kind]


def gate_of(row: RequestRow) -> dict[str, Any]:
    """What the audit log records about the gate a request went through."""
    hitl = row.payload["hitl"]
    return {
        "risk": hitl.get("risk"),
        "reversibility": hitl.get("reversibility"),
        "policy_version": hitl.get("policy_version"),
    }


def receipt_for(
    row: RequestRow, index: int, decision: Decision, approver: str, decided_at: str, *, key: bytes
) -> Receipt | None:
    """The receipt for call `index` of an approving decision on `row`, None for any other decision."""
    hitl = row.payload["hitl"]
    calls = hitl.get("calls") or []
    if index >= len(calls):
        return None
    call = calls[index]
    kind = decision["type"]
    if kind not in ("approve", "edit") and not (kind == "timeout" and effect_of(row, kind) == "approved"):
        return None  # only approvals (a soft gate's timeout included) are receipts
    edited = decision.get("edited_action")
    digest = (
        action_digest(edited, thread_id=row.thread_id, occurrence=call["occurrence"])
        if kind == "edit" and edited
        else call["digest"]
    )
    return issue(
        request_id=row.request_id,
        digest=digest,
        approver=approver,
        stage=row.stage,
        decision=kind,
        gate=call,
        decided_at=decided_at,
        thread_id=row.thread_id,
        occurrence=call["occurrence"],
        key=key,
    )
