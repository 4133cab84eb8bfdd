"""What a review node does with an answer once `interrupt()` has returned it.

`answered` turns a valid decision into the node's state update: the status it leaves (an
edit is a new action, assessed again), the decision record, its sealed audit event and, for an
approval, the receipt. `refused` records an answer that was not accepted, so the question is
asked again. `ReviewNode` calls them inside its guard: nothing here may fail the run because
of the answer (an error becomes a refusal).

The event's id comes from the same parts the runner uses (`decision_event_id`), so the row the
runner writes when it takes the decision and the one the node writes on resume are one row.
"""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import RunnableConfig

from .._events import DECISION_EVENTS, decision_event_id, make_event
from ..policy import Policy, stricter
from ..policy_engine import assess_for
from ..receipts import action_digest, counting, enough, issue, seal
from ..types import ActionRequest, Assessment, Decision, DecisionRecord, ReviewRequest
from ._common import decided_at_of, event_time, thread_id_of
from .authorization import gate_for, receipts_in, requester_of, requesters

__all__ = ["answered", "approval_receipt", "decision_event", "decision_record", "refused"]

_OUTCOMES: dict[str, tuple[str, str]] = {
    "approve": ("approved", "approved"),
    "reject": ("rejected", "rejected"),
    "respond": ("responded", "responded"),
    "revise": ("revision_requested", "revision_requested"),
    "escalate": ("escalated", "proposed"),
}
"""Decision type -> (the effect recorded, the status it leaves), for every type but `edit` and `timeout`."""


def answered(
    state: dict[str, Any],
    request: ReviewRequest,
    decision: Decision,
    config: RunnableConfig,
    *,
    gate_state: dict[str, Any],
    node: str,
    key: bytes,
    policy: Policy | None,
    action_key: str,
) -> dict[str, Any]:
    """The state update of node `node` for a valid `decision` about the action in `gate_state`."""
    kind = decision["type"]
    hitl = request["hitl"]
    update: dict[str, Any] = {**gate_state, "review_message": decision.get("message")}
    detail: dict[str, Any] = {}
    receipt = None
    action_id = None
    if kind in _OUTCOMES:
        effect, update["status"] = _OUTCOMES[kind]
        if kind == "approve":
            receipt = approval_receipt(request, decision, hitl["digest"], config, key=key)
    elif kind == "edit":
        effect, receipt = _edited(
            state, request, decision, update, detail, config, key=key, policy=policy, action_key=action_key
        )
        action_id = update["action_id"]
    else:  # timeout
        if hitl["on_timeout"] == "approve" and hitl["mode"] == "soft":
            effect, update["status"] = "approved", "approved"
            decision = {**decision, "message": "approved on timeout (soft gate)"}
            receipt = approval_receipt(request, decision, hitl["digest"], config, key=key)
        else:
            effect, update["status"] = "timed_out", "timed_out"
    if receipt is not None:
        detail["receipt"] = receipt
    ts = event_time(config)
    update["decisions"] = [
        decision_record(request, decision, effect, ts, node=node, receipt=receipt, action_id=action_id)
    ]
    update["audit_trail"] = [
        decision_event(request, decision, effect, config, node=node, key=key, detail=detail)
    ]
    return update


def _edited(
    state: dict[str, Any],
    request: ReviewRequest,
    decision: Decision,
    update: dict[str, Any],
    detail: dict[str, Any],
    config: RunnableConfig,
    *,
    key: bytes,
    policy: Policy | None,
    action_key: str,
) -> tuple[str, Any]:
    """An edit is a new action (new digest) that the editor approves; earlier approvals stop counting."""
    edited = decision["edited_action"]
    assert edited is not None
    hitl = request["hitl"]
    old: Assessment = update["assessment"]
    new_action: ActionRequest = {"name": edited["name"], "args": edited["args"]}
    description = state[action_key].get("description")
    if description:
        new_action["description"] = description
    occurrence: str = hitl["occurrence"]
    digest = action_digest(new_action, thread_id=thread_id_of(config), occurrence=occurrence)
    update[action_key] = new_action
    update["action_id"] = digest[:32]
    detail["edited_to"] = {"name": new_action["name"], "args": new_action["args"]}
    receipt = approval_receipt(request, decision, digest, config, key=key)
    if policy is None:
        fresh: Assessment = {
            **old,
            "action_name": new_action["name"],
            "reasons": ["edited without a policy: reviewed again"],
        }
        rereview = True
    else:
        fresh = assess_for(policy, new_action, requester=old.get("requested_by") or requester_of(state))
        rereview = stricter(old, fresh)
    gate = gate_for(old, fresh, why="edited by a reviewer")
    proposer = old.get("requested_by") or requester_of(state)
    update["assessment"] = seal(
        {**gate, "digest": digest, "occurrence": occurrence, "requested_by": proposer}, key
    )
    if gate["mode"] == "deny":
        update["status"] = "denied"
        return "rejected", None
    if rereview:
        update["status"] = "proposed"
        detail["rereview"] = True
        return "rereview", receipt
    decisions: list[DecisionRecord] = state.get("decisions") or []
    counted = counting(
        [*receipts_in(decisions), receipt],
        digest=digest,
        gate=update["assessment"],
        requester=requesters(state, update["assessment"]),
        key=key,
    )
    update["status"] = "approved" if enough(counted, gate["required_approvals"]) else "proposed"
    return "edited", receipt


def refused(
    request: ReviewRequest,
    error: str,
    approver: str | None,
    config: RunnableConfig,
    *,
    gate_state: dict[str, Any],
    node: str,
    key: bytes,
) -> dict[str, Any]:
    """The state update of node `node` for an answer refused with `error`, attributed to `approver`."""
    bad: Decision = {"type": "invalid", "approver": approver, "message": error}  # type: ignore[typeddict-item]
    return {
        **gate_state,
        "decisions": [decision_record(request, bad, "refused", event_time(config), node=node)],
        "audit_trail": [decision_event(request, bad, "refused", config, node=node, key=key)],
    }


def decision_record(
    request: ReviewRequest,
    decision: Decision,
    effect: str,
    ts: str,
    *,
    node: str,
    receipt: Any = None,
    action_id: str | None = None,
) -> DecisionRecord:
    """The record of `decision` that node `node` keeps in state (`decisions`)."""
    hitl = request["hitl"]
    record: DecisionRecord = {
        "request_id": hitl["request_id"],
        "action_id": action_id or hitl["action_id"],
        "node": node,
        "stage": hitl["stage"],
        "type": decision.get("type", "invalid"),
        "approver": decision.get("approver"),
        "message": decision.get("message"),
        "edited_action": decision.get("edited_action"),
        "effect": effect,
        "decided_at": ts,
    }
    if receipt is not None:
        record["receipt"] = receipt
    return record


def decision_event(
    request: ReviewRequest,
    decision: Decision,
    effect: str,
    config: RunnableConfig,
    *,
    node: str,
    key: bytes,
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The audit event of `decision`, sealed with `key`, as node `node` puts it in state (`audit_trail`)."""
    hitl = request["hitl"]
    receipt = (detail or {}).get("receipt")
    # An edit approves the edited action: its event is that action's, as the runner records it.
    action_id = receipt["digest"][:32] if decision.get("type") == "edit" and receipt else hitl["action_id"]
    kind = decision.get("type", "invalid")
    event = DECISION_EVENTS.get(kind, "refused")
    asked = request["action_requests"][0]
    return seal(
        make_event(
            event,
            action_id=action_id,
            actor=decision.get("approver") or "unknown",
            thread_id=thread_id_of(config),
            action={"name": asked["name"], "args": asked["args"]},
            assessment={
                "risk": hitl["risk"],
                "reversibility": hitl["reversibility"],
                "policy_version": hitl["policy_version"],
            },
            request_id=hitl["request_id"],
            decision=effect,
            detail={
                "message": decision.get("message"),
                "node": node,
                "stage": hitl["stage"],
                **(detail or {}),
            },
            event_id=decision_event_id(
                action_id, hitl["request_id"], kind, actor=decision.get("approver") or "unknown"
            ),
            ts=event_time(config),
        ),
        key,
    )


def approval_receipt(
    request: ReviewRequest, decision: Decision, digest: str, config: RunnableConfig, *, key: bytes
) -> Any:
    """The receipt, sealed with `key`, by which `decision` approves the action with `digest`."""
    hitl = request["hitl"]
    call = hitl["calls"][0]
    return issue(
        request_id=hitl["request_id"],
        digest=digest,
        approver=decision.get("approver") or "",
        stage=hitl["stage"],
        decision=decision["type"],
        gate=call,
        decided_at=decided_at_of(config),
        thread_id=thread_id_of(config),
        occurrence=hitl["occurrence"],
        key=key,
    )
