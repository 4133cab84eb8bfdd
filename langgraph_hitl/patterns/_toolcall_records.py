"""What the tool-call review keeps in state for a turn, and when a call in it may run (G9).

A `ToolGateRecord` is one model turn: a `CallReview` per tool call, the open question and how
many questions were asked. A call runs only if its sealed gate names exactly the call that runs
and, unless the policy let it through, receipts for exactly that call meet its requirement:

- `bind_gate` seals a call's gate to its digest;
- `count_receipts` settles a call's state from the receipts it holds;
- `runnable_calls` is the check a host makes before it executes anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from langchain_core.messages import AIMessage, ToolMessage
from typing_extensions import TypedDict

from .._canonical import stable_id
from ..receipts import Receipt, action_digest, counting, enough, seal, sealed
from ..types import Assessment, ReviewRequest

__all__ = [
    "RUNS",
    "CallReview",
    "ToolGateRecord",
    "bind_gate",
    "count_receipts",
    "gate_of",
    "last_ai_message",
    "runnable_calls",
    "tool_message",
    "turn_key",
]

RUNS = ("safe", "approved", "edited")
"""The call states whose `run` executes, once `runnable_calls` clears it."""


class CallReview(TypedDict):
    """One tool call of the turn and what the gate did with it."""

    call: dict[str, Any]
    """The model's tool call, as it asked: `{"name", "args", "id", "type"}`."""
    action_id: str
    """Identifies the call in decisions and audit events."""
    assessment: Assessment
    """The policy's assessment of the call (re-assessed after an edit)."""
    state: Literal["safe", "pending", "approved", "edited", "rejected", "responded", "denied"]
    """`safe` (runs without review), `pending`, `approved`, `edited`, `rejected`, `responded`, `denied`."""
    run: dict[str, Any] | None
    """The call that runs (the reviewer's after an edit) or awaits review; None if it never runs."""
    approvals: list[str]
    """Who approved the call that runs, so far (critical calls need two distinct approvers)."""
    occurrence: str
    """The turn and tool-call id: with the thread, part of the call's digest."""
    digest: str
    """`receipts.action_digest` of `run` (of the reviewer's call after an edit)."""
    receipts: list[Receipt]
    """Approvals of exactly `digest`; an edit starts a new list (G9)."""


class ToolGateRecord(TypedDict):
    """The gate's record of one model turn, kept in state under `tool_gate`."""

    key: str
    """Identifies the turn: the AI message's id and its tool-call ids."""
    status: Literal["pending", "decided"]
    """`pending` while a question is open, `decided` once every call is settled."""
    calls: list[CallReview]
    """Every tool call of the turn, in the model's order."""
    request: ReviewRequest | None
    """The open question (the interrupt value), or None."""
    attempt: int
    """How many questions were built for this turn (request ids derive from it)."""
    requested_by: str
    """Who proposed the calls (may not approve them)."""


def last_ai_message(messages: Sequence[Any]) -> AIMessage | None:
    """The most recent `AIMessage` in `messages`, or None."""
    return next((m for m in reversed(messages) if isinstance(m, AIMessage)), None)


def turn_key(ai: AIMessage) -> str:
    """A stable id for the turn: the message id plus its tool-call ids."""
    return stable_id(ai.id, *[c.get("id") for c in ai.tool_calls])


def tool_message(call: dict[str, Any], content: str, *, ok: bool = False) -> ToolMessage:
    """The `ToolMessage` answering `call` when it does not run (or a reviewer responded for it)."""
    return ToolMessage(
        content=content,
        name=call["name"],
        tool_call_id=call.get("id") or "",
        status="success" if ok else "error",
    )


def gate_of(c: CallReview) -> dict[str, Any]:
    """The part of a call's gate that its receipts name."""
    a = c["assessment"]
    return {"mode": a["mode"], "risk": a["risk"], "policy_version": a["policy_version"]}


def bind_gate(gate: Any, *, digest: str, occurrence: str, requester: str, key: bytes) -> Any:
    """`gate` sealed to the call's digest, with who proposed it (kept from an earlier gate)."""
    proposer = gate.get("requested_by") or requester
    return seal({**gate, "digest": digest, "occurrence": occurrence, "requested_by": proposer}, key)


def count_receipts(c: Any, receipts: list[Receipt], requester: str, key: bytes | None, *, done: str) -> None:
    """Keep `receipts` on the call; it runs once those of its current digest meet its requirement."""
    c["receipts"] = receipts
    asked = [requester, c["assessment"].get("requested_by") or requester]
    counted = counting(receipts, digest=c["digest"], gate=gate_of(c), requester=asked, key=key)
    c["approvals"] = [r["approver"] for r in counted]
    c["state"] = done if enough(counted, c["assessment"]["required_approvals"]) else "pending"


def runnable_calls(
    record: ToolGateRecord, answered: set[str], *, thread_id: str | None = None, key: bytes | None = None
) -> list[dict[str, Any]]:
    """The calls to execute now: safe, or approved / edited with receipts for exactly the call that runs."""
    out = []
    for c in record["calls"]:
        run = c["run"]
        if c["state"] not in RUNS or run is None or run.get("id") in answered:
            continue
        # G9: the call that runs must be the one assessed (sealed gate, same digest) and, unless the
        # policy let it through, approved by receipts for exactly it.
        digest = action_digest(run, thread_id=thread_id, occurrence=c.get("occurrence", ""))
        gate: Any = c["assessment"]
        if digest != c.get("digest") or gate.get("digest") != digest or not sealed(gate, key):
            continue
        if c["state"] == "safe":
            if gate["mode"] not in ("auto", "notify"):
                continue
        else:
            counted = counting(
                c.get("receipts") or [],
                digest=digest,
                gate=gate,
                requester=[record["requested_by"], gate.get("requested_by") or record["requested_by"]],
                key=key,
            )
            if not enough(counted, gate["required_approvals"]):
                continue
        out.append(run)
    return out
