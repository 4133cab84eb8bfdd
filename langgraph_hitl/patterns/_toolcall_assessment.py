"""Step 1 of the tool-call review, before any interrupt: one tool call, assessed and recorded.

`review_call` turns the model's call and the policy's assessment of it into the call's
`CallReview`, the audit events of its proposal (and of the policy letting it through or denying
it) and, for a denied call, the `ToolMessage` the model gets instead of a result. It fails
closed: a call without an id, or with arguments that cannot be stored, is denied.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import BaseMessage

from .._canonical import stable_id
from .._events import make_event
from ..decisions import args_problem
from ..receipts import action_digest
from ..types import Assessment
from ._toolcall_records import CallReview, bind_gate, tool_message

__all__ = ["review_call", "tool_call_of"]


def tool_call_of(tc: Any) -> dict[str, Any]:
    """The model's tool call as the gate keeps it: `{"name", "args", "id", "type"}`."""
    return {
        "name": tc["name"],
        "args": dict(tc.get("args") or {}),
        "id": tc.get("id"),
        "type": "tool_call",
    }


def _fail_closed(call: dict[str, Any], assessment: Assessment) -> tuple[dict[str, Any], Assessment]:
    """`call` and its assessment, denied if it has no id or arguments no store can hold."""
    if not call["id"]:
        assessment = {
            **assessment,
            "mode": "deny",
            "reasons": [
                "tool call has no id, so its result cannot be matched to it: denied",
                *assessment["reasons"],
            ],
        }
    problem = args_problem(call["args"], where=f"tool call {call['name']!r} args")
    if problem is not None:  # fail closed, and keep the oversized or unstorable args out of state
        assessment = {
            **assessment,
            "mode": "deny",
            "reasons": [f"{problem}: denied", *assessment["reasons"]],
        }
        call = {**call, "args": {}}
    return call, assessment


def review_call(
    call: dict[str, Any],
    assessment: Assessment,
    *,
    turn: str,
    thread_id: str | None,
    requester: str,
    seal_key: bytes,
) -> tuple[CallReview, list[dict[str, Any]], BaseMessage | None]:
    """The call's review record, its audit events (unsealed), and a ToolMessage if it is denied."""
    call, assessment = _fail_closed(call, assessment)
    occurrence = stable_id(turn, call["id"])
    digest = action_digest(call, thread_id=thread_id, occurrence=occurrence)
    action_id = digest[:32]
    mode = assessment["mode"]
    state: Any = "safe" if mode in ("auto", "notify") else "denied" if mode == "deny" else "pending"
    sealed_gate = bind_gate(
        assessment, digest=digest, occurrence=occurrence, requester=requester, key=seal_key
    )
    review: CallReview = {
        "call": call,
        "action_id": action_id,
        "assessment": sealed_gate,
        "state": state,
        "run": None if state == "denied" else call,
        "approvals": [],
        "occurrence": occurrence,
        "digest": digest,
        "receipts": [],
    }
    events = _proposal_events(
        call, assessment, state, action_id=action_id, thread_id=thread_id, requester=requester
    )
    denial = None
    if state == "denied":
        denial = tool_message(
            call,
            f"Not run: the approval policy denies `{call['name']}` "
            f"({assessment['reasons'][0]}). Do not retry it unless the user asks.",
        )
    return review, events, denial


def _proposal_events(
    call: dict[str, Any],
    assessment: Assessment,
    state: str,
    *,
    action_id: str,
    thread_id: str | None,
    requester: str,
) -> list[dict[str, Any]]:
    """`proposed`, then `auto_approved` / `notified` for a safe call or `denied` for a denied one."""
    action = {"name": call["name"], "args": call["args"]}
    mode = assessment["mode"]

    def event(name: str, **fields: Any) -> dict[str, Any]:
        return dict(
            make_event(
                name,
                action_id=action_id,
                thread_id=thread_id,
                action=action,
                assessment=dict(assessment),
                **fields,
            )
        )

    proposed = {"tool_call_id": call["id"], "mode": mode, "reasons": assessment["reasons"]}
    proposed["required_approvals"] = assessment["required_approvals"]  # what `policy backtest` replays
    events = [event("proposed", actor=requester, detail=proposed)]
    if state == "safe":
        events.append(
            event("auto_approved" if mode == "auto" else "notified", actor="auto", decision="approved")
        )
    elif state == "denied":
        events.append(
            event("denied", actor="policy", decision="rejected", detail={"reasons": assessment["reasons"]})
        )
    return events
