"""The one question a turn asks: a `ReviewRequest` about every pending tool call at once.

`ask_about` builds it from the record (or marks the record `decided` when nothing is pending).
The request as a whole takes the riskiest call's risk, mode and policy version; each call keeps
its own rules in `hitl.calls[i]` (approvers, exclusions, phrase), and each decision is checked
against its own call's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .._canonical import plain_json, stable_id
from ..decisions import call_rules, langchain_decisions
from ..identity import canonical_list
from ..nodes._agent_inbox import agent_inbox_view, on_langgraph_server
from ..nodes._common import run_config
from ..policy import MODE_ORDER
from ..types import RISK_ORDER, Assessment, CallRules, HITLContext, ReviewRequest
from ._toolcall_records import CallReview, ToolGateRecord

__all__ = ["ask_about", "call_approvers", "describe_call"]


def describe_call(call: dict[str, Any], assessment: Assessment) -> str:
    """The default description of a call shown to reviewers: what it does, why it is asked, the phrase."""
    args = json.dumps(call["args"], sort_keys=True, default=str)
    text = f"Tool call {call['name']}({args[:500]}). {assessment['reasons'][0]}. {assessment['impact']}"
    if assessment["verify_phrase"]:
        text += f" To approve, type {assessment['verify_phrase']!r}."
    return text


def call_approvers(c: CallReview, approvers: list[str] | None) -> list[str] | None:
    """Who may approve call `c`: the host's `approvers`, else its gate's."""
    return approvers if approvers is not None else canonical_list(c["assessment"]["approvers"])


def ask_about(
    record: ToolGateRecord,
    context: dict[str, Any],
    refused: str | None,
    *,
    node: str,
    approvers: list[str] | None,
    timeout: float | None,
    describe: Callable[[dict[str, Any], Assessment], str],
    force_reject: bool,
) -> ToolGateRecord:
    """Record with a fresh question for the pending calls (or `decided` if none is pending)."""
    pending = [c for c in record["calls"] if c["state"] == "pending"]
    shown_context, converted = plain_json(context, where="hitl_context")
    if converted:
        shown_context["converted"] = converted[:20]
    if not pending:
        return {**record, "status": "decided", "request": None}
    attempt = record["attempt"] + 1
    runs: list[dict[str, Any]] = [c["run"] for c in pending if c["run"] is not None]  # pending calls all run
    each = [call_approvers(c, approvers) for c in pending]
    request: ReviewRequest = {
        "action_requests": [
            {"name": run["name"], "args": run["args"], "description": describe(run, c["assessment"])}
            for c, run in zip(pending, runs, strict=True)
        ],
        "review_configs": [
            {
                "action_name": run["name"],
                "allowed_decisions": langchain_decisions(c["assessment"]["allowed_decisions"]),
            }
            for c, run in zip(pending, runs, strict=True)
        ],
        "hitl": _hitl(
            record,
            pending,
            attempt,
            each,
            {**shown_context, "refused": refused, "tool_calls": _calls_shown(record, approvers)},
            node=node,
            approvers=approvers,
            timeout=timeout,
        ),
    }
    if len(pending) == 1:
        request["hitl"]["digest"], request["hitl"]["occurrence"] = (
            pending[0]["digest"],
            pending[0]["occurrence"],
        )
    for config in request["review_configs"] if force_reject else ():
        if "reject" not in config["allowed_decisions"]:
            config["allowed_decisions"].append("reject")
    if on_langgraph_server(run_config()):  # every call visible and decidable in Agent Inbox
        request = agent_inbox_view(request)
    return {**record, "status": "pending", "request": request, "attempt": attempt}


def _hitl(
    record: ToolGateRecord,
    pending: list[CallReview],
    attempt: int,
    each: list[list[str] | None],
    context: dict[str, Any],
    *,
    node: str,
    approvers: list[str] | None,
    timeout: float | None,
) -> HITLContext:
    """The question's `hitl` part: the riskiest call's gate for the request, each call's own rules.

    `each` holds every pending call's approvers (None: anyone not excluded); the request lists
    their union, or None if any call lets anyone decide.
    """
    worst = max(
        pending, key=lambda c: (RISK_ORDER[c["assessment"]["risk"]], MODE_ORDER[c["assessment"]["mode"]])
    )
    union: list[str] | None = None
    if all(a is not None for a in each):
        union = list(dict.fromkeys(n for a in each for n in a or ()))
    exclude = list(dict.fromkeys([record["requested_by"], *[a for c in pending for a in c["approvals"]]]))
    phrases = list(
        dict.fromkeys(c["assessment"]["verify_phrase"] for c in pending if c["assessment"]["verify_phrase"])
    )
    timeouts = [c["assessment"]["timeout_s"] for c in pending if c["assessment"]["timeout_s"] is not None]
    soft_ok = all(
        c["assessment"]["mode"] == "soft" and c["assessment"]["on_timeout"] == "approve" for c in pending
    )
    return {
        "request_id": stable_id(record["key"], node, attempt),
        "action_id": pending[0]["action_id"] if len(pending) == 1 else stable_id(record["key"], "turn"),
        "action_ids": [c["action_id"] for c in pending],
        "node": node,
        "stage": 2 if any(c["approvals"] for c in pending) else 1,
        "risk": worst["assessment"]["risk"],
        "reversibility": worst["assessment"]["reversibility"],
        "mode": worst["assessment"]["mode"],
        "reasons": list(dict.fromkeys(r for c in pending for r in c["assessment"]["reasons"])),
        "approvers": union,
        "exclude_approvers": exclude,
        "requested_by": record["requested_by"],
        "timeout_s": timeout if timeout is not None else (min(timeouts) if timeouts else None),
        "on_timeout": "approve" if soft_ok else "reject",
        # One call: its phrase is the request's. Several: each decision is checked against its own
        # call's phrase (`hitl.calls[i]`), so approving an email never needs a delete's phrase.
        "verify_phrase": phrases[0] if len(pending) == 1 and phrases else None,
        "impact": " ".join(dict.fromkeys(c["assessment"]["impact"] for c in pending)),
        "context": context,
        "policy_version": worst["assessment"]["policy_version"],
        "escalation_level": 0,
        "calls": _call_rules(record, pending, approvers),
    }


def _calls_shown(record: ToolGateRecord, approvers: list[str] | None) -> list[dict[str, Any]]:
    """Every call of the turn as the reviewer's context shows it, settled ones included."""
    return [
        {
            "id": c["call"]["id"],
            "name": c["call"]["name"],
            "state": c["state"],
            "risk": c["assessment"]["risk"],
            "approvers": call_approvers(c, approvers),
            "verify_phrase": c["assessment"]["verify_phrase"],
        }
        for c in record["calls"]
    ]


def _call_rules(
    record: ToolGateRecord, pending: list[CallReview], approvers: list[str] | None
) -> list[CallRules]:
    """The rules each pending call is decided under: neither its proposer nor an earlier approver decides it."""
    return [
        call_rules(
            digest=c["digest"],
            occurrence=c["occurrence"],
            gate=c["assessment"],
            approvers=call_approvers(c, approvers),
            exclude=list(
                dict.fromkeys(
                    [
                        record["requested_by"],
                        c["assessment"].get("requested_by") or record["requested_by"],
                        *c["approvals"],
                    ]
                )
            ),
            verify_phrase=c["assessment"]["verify_phrase"],
        )
        for c in pending
    ]
