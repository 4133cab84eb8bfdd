"""Step 2 of the tool-call review, after `interrupt()` returned: applying validated decisions.

`apply_decisions` settles each pending call with its reviewer's decision (approve, edit,
respond, reject, or a timeout / escalation the gate cannot follow) and returns the calls, the
`ToolMessage`s the model gets for calls that will not run, the decision records and the sealed
audit events. An approval or an edit issues a receipt for exactly the call that will run (G9);
an edit is a new action, so approvals of the old call stop counting. `refusal` records an
answer that failed validation. The caller catches anything these raise: nothing may raise after
`interrupt()`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langchain_core.messages import BaseMessage

from .._events import DECISION_EVENTS, decision_event_id, make_event
from ..identity import as_recorded
from ..nodes._common import decided_at_of, event_time, seal_key_of, thread_id_of
from ..nodes.review import gate_for
from ..policy import Policy, stricter
from ..receipts import Receipt, action_digest, issue, seal
from ..types import SYSTEM_TIMEOUT, Decision, DecisionRecord
from ._toolcall_records import CallReview, ToolGateRecord, bind_gate, count_receipts, gate_of, tool_message

__all__ = ["apply_decisions", "refusal"]

Reply = Callable[[dict[str, Any], Decision], BaseMessage]
"""Builds the `ToolMessage` for a reviewer's `reject` / `respond`."""


def apply_decisions(
    record: ToolGateRecord,
    pending: list[int],
    decisions: list[Decision],
    *,
    node: str,
    edit_policy: Policy,
    reply: Reply | None,
    config: Any,
) -> tuple[list[CallReview], list[BaseMessage], list[DecisionRecord], list[dict[str, Any]]]:
    """Apply `decisions[j]` to call `pending[j]`; return the calls, ToolMessages, decisions, audit events."""
    hitl = record["request"]["hitl"]  # type: ignore[index]
    calls = [dict(c) for c in record["calls"]]
    messages: list[BaseMessage] = []
    records: list[DecisionRecord] = []
    events: list[dict[str, Any]] = []
    thread_id, key, ts = thread_id_of(config), seal_key_of(config), event_time(config)
    for i, decision in zip(pending, decisions, strict=True):
        c: Any = calls[i]
        kind, who = decision["type"], decision.get("approver")
        shown = c["run"]
        asked_id = c["action_id"]
        detail: dict[str, Any] = {
            "tool_call_id": c["call"]["id"],
            "node": node,
            "message": decision.get("message"),
        }
        effect, replies = _settle(
            c,
            hitl,
            decision,
            detail,
            requester=record["requested_by"],
            edit_policy=edit_policy,
            reply=reply,
            config=config,
        )
        messages.extend(replies)
        records.append(_decision_record(c, hitl, decision, effect, detail, node=node, ts=ts))
        if kind == "edit" and "receipt" in detail:
            asked_id = detail["receipt"]["digest"][:32]  # the edit approves the edited call
        events.append(
            seal(
                make_event(
                    DECISION_EVENTS.get(kind, kind),
                    action_id=asked_id,
                    actor=who or SYSTEM_TIMEOUT,
                    thread_id=thread_id,
                    action={"name": shown["name"], "args": shown["args"]},
                    assessment=dict(c["assessment"]),
                    request_id=hitl["request_id"],
                    decision=effect,
                    detail=detail,
                    ts=ts,
                    event_id=decision_event_id(
                        asked_id, hitl["request_id"], kind, actor=who or SYSTEM_TIMEOUT
                    ),
                ),
                key,
            )
        )
    return calls, messages, records, events  # type: ignore[return-value]


def _settle(
    c: Any,
    hitl: Any,
    decision: Decision,
    detail: dict[str, Any],
    *,
    requester: str,
    edit_policy: Policy,
    reply: Reply | None,
    config: Any,
) -> tuple[str, list[BaseMessage]]:
    """Apply one decision to call `c` in place; return its effect and the ToolMessages it sends."""
    kind, who, message = decision["type"], decision.get("approver"), decision.get("message")
    if kind == "approve" or (kind == "timeout" and hitl["on_timeout"] == "approve"):
        receipt = issue_receipt(c, hitl, decision, c["digest"], config)
        detail["receipt"] = receipt
        done = "edited" if c["run"] != c["call"] else "approved"
        count_receipts(c, [*c["receipts"], receipt], requester, seal_key_of(config), done=done)
        return "approved", []
    if kind == "edit":
        effect = apply_edit(c, hitl, decision, detail, config, requester, edit_policy=edit_policy)
        if effect != "rejected":
            return effect, []
        return effect, [
            tool_message(
                c["call"],
                f"Not run: the reviewer's edit of `{c['call']['name']}` "
                f"is denied by the approval policy ({c['assessment']['reasons'][0]}).",
            )
        ]
    if kind == "respond":
        c["state"], c["run"] = "responded", None
        if reply is not None:
            return "responded", [reply(c["call"], decision)]
        return "responded", [tool_message(c["call"], message or "", ok=True)]
    if kind == "reject" and reply is not None:
        c["state"], c["run"] = "rejected", None
        return "rejected", [reply(c["call"], decision)]
    # reject, a timeout that fails closed, an escalation the gate cannot follow
    effect = "timed_out" if kind in ("timeout", "escalate") else "rejected"
    c["state"], c["run"] = "rejected", None
    why = (
        f"nobody approved it in time ({who})"
        if effect == "timed_out"
        else f"a reviewer ({who}) rejected it" + (f" with reason: {message}" if message else "")
    )
    return effect, [
        tool_message(
            c["call"],
            f"Not run: {why}. Do not retry the call to `{c['call']['name']}` unless the user asks.",
        )
    ]


def _decision_record(
    c: Any, hitl: Any, decision: Decision, effect: str, detail: dict[str, Any], *, node: str, ts: str
) -> DecisionRecord:
    """The decision as `decisions` in state keeps it, with the receipt it issued, if any."""
    rec: Any = {
        "request_id": hitl["request_id"],
        "action_id": c["action_id"],
        "node": node,
        "stage": hitl["stage"],
        "type": decision["type"],
        "approver": decision.get("approver"),
        "message": decision.get("message"),
        "edited_action": decision.get("edited_action"),
        "effect": effect,
        "decided_at": ts,
    }
    if "receipt" in detail:
        rec["receipt"] = detail["receipt"]
    return rec  # type: ignore[no-any-return]


def issue_receipt(c: Any, hitl: Any, decision: Decision, digest: str, config: Any) -> Receipt:
    """A receipt for the decision on `digest`, under the gate the reviewer saw."""
    return issue(
        request_id=hitl["request_id"],
        digest=digest,
        approver=decision.get("approver") or "",
        stage=hitl["stage"],
        decision=decision["type"],
        gate=gate_of(c),
        decided_at=decided_at_of(config),
        thread_id=thread_id_of(config),
        occurrence=c["occurrence"],
        key=seal_key_of(config),
    )


def apply_edit(
    c: Any,
    hitl: Any,
    decision: Decision,
    detail: dict[str, Any],
    config: Any,
    requester: str,
    *,
    edit_policy: Policy,
) -> str:
    """The reviewer's call is a new action (new digest): earlier approvals of the old call stop counting."""
    edited = decision["edited_action"]
    assert edited is not None
    new_call = {**c["call"], "name": edited["name"], "args": edited["args"]}
    digest = action_digest(new_call, thread_id=thread_id_of(config), occurrence=c["occurrence"])
    receipt = issue_receipt(c, hitl, decision, digest, config)  # issued under the gate the editor saw
    detail["receipt"] = receipt
    new = edit_policy.assess({"name": edited["name"], "args": edited["args"]})
    detail["edited_to"] = {"name": edited["name"], "args": edited["args"]}
    allowed = new.get("allowed_decisions") or ["approve", "reject"]
    if new["mode"] == "deny" or not {"approve", "edit"} & set(allowed):
        # Denied, or a gate that only lets reviewers reject: an edit into it cannot approve it.
        c["assessment"], c["state"], c["run"] = new, "denied", None
        return "rejected"
    c["run"], c["digest"], c["action_id"] = new_call, digest, digest[:32]
    if stricter(c["assessment"], new):  # a riskier call than the one approved: ask again, from scratch
        c["assessment"] = bind_gate(
            {**new, "requested_by": c["assessment"].get("requested_by")},
            digest=digest,
            occurrence=c["occurrence"],
            requester=requester,
            key=seal_key_of(config),
        )
        c["state"], c["receipts"], c["approvals"] = "pending", [receipt], []
        detail["rereview"] = True
        return "rereview"
    gate = gate_for(c["assessment"], new, why="edited by a reviewer")
    c["assessment"] = bind_gate(
        gate, digest=digest, occurrence=c["occurrence"], requester=requester, key=seal_key_of(config)
    )
    count_receipts(c, [receipt], requester, seal_key_of(config), done="edited")
    return "edited"


def refusal(
    record: ToolGateRecord, answer: Any, error: str, *, node: str, config: Any
) -> tuple[DecisionRecord, dict[str, Any]]:
    """The decision record and sealed audit event of an answer refused with `error`."""
    hitl = record["request"]["hitl"]  # type: ignore[index]
    who = as_recorded(answer.get("approver")) if isinstance(answer, dict) else None
    rec: DecisionRecord = {
        "request_id": hitl["request_id"],
        "action_id": hitl["action_id"],
        "node": node,
        "stage": hitl["stage"],
        "type": "invalid",
        "approver": who,
        "message": error,
        "edited_action": None,
        "effect": "refused",
        "decided_at": event_time(config),
    }
    event = make_event(
        "refused",
        action_id=hitl["action_id"],
        actor=who or "unknown",
        thread_id=thread_id_of(config),
        request_id=hitl["request_id"],
        decision="refused",
        detail={"message": error, "node": node},
        event_id=decision_event_id(hitl["action_id"], hitl["request_id"], "invalid", actor=who or "unknown"),
        ts=event_time(config),
    )
    return rec, seal(event, seal_key_of(config))
