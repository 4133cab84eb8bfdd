"""The tool-call review logic `ToolGateNode` and `ToolGateMiddleware` share.

Two pure steps, so both hosts can keep `interrupt()` safe:

1. `assess_turn`: assess every tool call of one model turn with the policy (before any
   interrupt; this is where an `LLMRiskClassifier` calls its model) and build the one question
   for the risky calls. The result, a `ToolGateRecord`, is saved in state.
2. `apply_answer`: apply a reviewer's answer to the saved record. Never raises: an answer
   that fails validation is refused and a new question is built (ask again).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, Literal

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from pydantic import BaseModel
from typing_extensions import TypedDict

from .._canonical import plain_json, stable_id
from .._events import DECISION_EVENTS, decision_event_id, make_event
from ..decisions import RESPONSE_SCHEMA, args_problem, call_rules, langchain_decisions, validate_decision
from ..errors import AuthorizationError, HITLError, PolicyError
from ..identity import as_recorded, canonical_list, canonical_or_none
from ..nodes._agent_inbox import agent_inbox_view, on_langgraph_server
from ..nodes._common import decided_at_of, decider_of, event_time, run_config, seal_key_of, thread_id_of
from ..nodes.review import gate_for
from ..policy import MODE_ORDER, Policy, stricter
from ..receipts import Receipt, action_digest, counting, enough, issue, seal, sealed
from ..types import RISK_ORDER, SYSTEM_TIMEOUT, Assessment, Decision, DecisionRecord, ReviewRequest

__all__ = ["CallReview", "ToolGateRecord", "ToolReviewCore", "last_ai_message", "RESPONSE_SCHEMA"]

_RUNS = ("safe", "approved", "edited")


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


def _tool_message(call: dict[str, Any], content: str, *, ok: bool = False) -> ToolMessage:
    return ToolMessage(
        content=content,
        name=call["name"],
        tool_call_id=call.get("id") or "",
        status="success" if ok else "error",
    )


def _describe(call: dict[str, Any], assessment: Assessment) -> str:
    args = json.dumps(call["args"], sort_keys=True, default=str)
    text = f"Tool call {call['name']}({args[:500]}). {assessment['reasons'][0]}. {assessment['impact']}"
    if assessment["verify_phrase"]:
        text += f" To approve, type {assessment['verify_phrase']!r}."
    return text


class ToolReviewCore:
    """Assess a turn's tool calls and apply answers; see the module docstring."""

    def __init__(
        self,
        policy: Policy,
        *,
        name: str,
        approvers: Sequence[str] | None = None,
        timeout: float | None = None,
        requested_by: str = "agent",
        describe: Callable[[dict[str, Any], Assessment], str] | None = None,
        edit_policy: Policy | None = None,
        trust_answer_identity: bool = False,
        anonymous: str | None = None,
        force_reject: bool = True,
        reply: Callable[[dict[str, Any], Decision], BaseMessage] | None = None,
    ) -> None:
        if not isinstance(policy, Policy):
            msg = f"{name} needs a Policy (or an LLMRiskClassifier), got {type(policy).__name__}."
            raise PolicyError(msg)
        if approvers is not None and (isinstance(approvers, str) or not approvers):
            msg = f"approvers={approvers!r}; give a non-empty list of names, or None for the policy's."
            raise PolicyError(msg)
        if timeout is not None and not timeout > 0:
            msg = f"timeout={timeout!r}; use a positive number of seconds or None."
            raise PolicyError(msg)
        self.policy = policy
        self.edit_policy = edit_policy or policy
        self.name = name
        try:
            self.approvers = canonical_list(approvers)
        except AuthorizationError as exc:
            raise PolicyError(str(exc)) from exc
        self.trust_answer_identity = trust_answer_identity
        self.timeout = timeout
        self.requested_by = requested_by
        self.describe = describe or _describe
        self.anonymous = anonymous
        """Who an answer is recorded as when nobody is identified (None: such answers are refused)."""
        self.force_reject = force_reject
        """Offer `reject` for every call even when its gate does not list it (fail closed)."""
        self.reply = reply
        """Builds the `ToolMessage` for a reviewer's `reject` / `respond` (None: this package's texts)."""

    # -- step 1: before any interrupt -------------------------------------------------------------------

    def assess_turn(
        self,
        ai: AIMessage,
        *,
        requester: str,
        config: Any,
        context: dict[str, Any],
        assess: Callable[[dict[str, Any]], Assessment] | None = None,
    ) -> tuple[ToolGateRecord, list[BaseMessage], list[dict[str, Any]]]:
        """Assess every call of `ai`; return the record, ToolMessages for denied calls, audit events.

        `assess(call)` replaces `policy.assess` for the turn's calls (a host that gates with more
        than the action's name and arguments, e.g. a predicate on the agent's state).
        """
        key = turn_key(ai)
        thread_id = thread_id_of(config)
        seal_key = seal_key_of(config)
        try:
            requester = canonical_or_none(requester, allow_system=True, field="requested_by") or "agent"
        except AuthorizationError:
            pass
        calls: list[CallReview] = []
        messages: list[BaseMessage] = []
        events: list[dict[str, Any]] = []
        for tc in ai.tool_calls:
            call: dict[str, Any] = {
                "name": tc["name"],
                "args": dict(tc.get("args") or {}),
                "id": tc.get("id"),
                "type": "tool_call",
            }
            assessment = (
                assess(call)
                if assess is not None
                else self.policy.assess({"name": call["name"], "args": call["args"]})
            )
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
            occurrence = stable_id(key, call["id"])
            digest = action_digest(call, thread_id=thread_id, occurrence=occurrence)
            action_id = digest[:32]
            mode = assessment["mode"]
            state: Any = "safe" if mode in ("auto", "notify") else "denied" if mode == "deny" else "pending"
            sealed_gate = self._bind(
                assessment, digest=digest, occurrence=occurrence, requester=requester, key=seal_key
            )
            calls.append(
                {
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
            )
            action = {"name": call["name"], "args": call["args"]}
            events.append(
                dict(
                    make_event(
                        "proposed",
                        action_id=action_id,
                        actor=requester,
                        thread_id=thread_id,
                        action=action,
                        assessment=dict(assessment),
                        detail={"tool_call_id": call["id"], "mode": mode},
                    )
                )
            )
            if state == "safe":
                events.append(
                    dict(
                        make_event(
                            "auto_approved" if mode == "auto" else "notified",
                            action_id=action_id,
                            actor="auto",
                            thread_id=thread_id,
                            action=action,
                            assessment=dict(assessment),
                            decision="approved",
                        )
                    )
                )
            elif state == "denied":
                events.append(
                    dict(
                        make_event(
                            "denied",
                            action_id=action_id,
                            actor="policy",
                            thread_id=thread_id,
                            action=action,
                            assessment=dict(assessment),
                            decision="rejected",
                            detail={"reasons": assessment["reasons"]},
                        )
                    )
                )
                messages.append(
                    _tool_message(
                        call,
                        f"Not run: the approval policy denies `{call['name']}` "
                        f"({assessment['reasons'][0]}). Do not retry it unless the user asks.",
                    )
                )
        record: ToolGateRecord = {
            "key": key,
            "status": "decided",
            "calls": calls,
            "request": None,
            "attempt": 0,
            "requested_by": requester,
        }
        return self._ask(record, context, refused=None), messages, [seal(e, seal_key) for e in events]

    def _call_approvers(self, c: CallReview) -> list[str] | None:
        return self.approvers if self.approvers is not None else canonical_list(c["assessment"]["approvers"])

    @staticmethod
    def _gate(c: CallReview) -> dict[str, Any]:
        a = c["assessment"]
        return {"mode": a["mode"], "risk": a["risk"], "policy_version": a["policy_version"]}

    def _ask(self, record: ToolGateRecord, context: dict[str, Any], refused: str | None) -> ToolGateRecord:
        """Record with a fresh question for the pending calls (or `decided` if none is pending)."""
        pending = [c for c in record["calls"] if c["state"] == "pending"]
        shown_context, converted = plain_json(context, where="hitl_context")
        if converted:
            shown_context["converted"] = converted[:20]
        if not pending:
            return {**record, "status": "decided", "request": None}
        attempt = record["attempt"] + 1
        worst = max(
            pending, key=lambda c: (RISK_ORDER[c["assessment"]["risk"]], MODE_ORDER[c["assessment"]["mode"]])
        )
        lists = [self._call_approvers(c) for c in pending]
        approvers: list[str] | None = None
        if all(a is not None for a in lists):
            approvers = list(dict.fromkeys(n for a in lists for n in a or ()))
        exclude = list(dict.fromkeys([record["requested_by"], *[a for c in pending for a in c["approvals"]]]))
        per_call = [
            call_rules(
                digest=c["digest"],
                occurrence=c["occurrence"],
                gate=c["assessment"],
                approvers=self._call_approvers(c),
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
        phrases = list(
            dict.fromkeys(
                c["assessment"]["verify_phrase"] for c in pending if c["assessment"]["verify_phrase"]
            )
        )
        timeouts = [c["assessment"]["timeout_s"] for c in pending if c["assessment"]["timeout_s"] is not None]
        soft_ok = all(
            c["assessment"]["mode"] == "soft" and c["assessment"]["on_timeout"] == "approve" for c in pending
        )
        runs: list[dict[str, Any]] = [
            c["run"] for c in pending if c["run"] is not None
        ]  # pending calls all run
        request: ReviewRequest = {
            "action_requests": [
                {"name": run["name"], "args": run["args"], "description": self.describe(run, c["assessment"])}
                for c, run in zip(pending, runs, strict=True)
            ],
            "review_configs": [
                {
                    "action_name": run["name"],
                    "allowed_decisions": langchain_decisions(c["assessment"]["allowed_decisions"]),
                }
                for c, run in zip(pending, runs, strict=True)
            ],
            "hitl": {
                "request_id": stable_id(record["key"], self.name, attempt),
                "action_id": pending[0]["action_id"]
                if len(pending) == 1
                else stable_id(record["key"], "turn"),
                "action_ids": [c["action_id"] for c in pending],
                "node": self.name,
                "stage": 2 if any(c["approvals"] for c in pending) else 1,
                "risk": worst["assessment"]["risk"],
                "reversibility": worst["assessment"]["reversibility"],
                "mode": worst["assessment"]["mode"],
                "reasons": list(dict.fromkeys(r for c in pending for r in c["assessment"]["reasons"])),
                "approvers": approvers,
                "exclude_approvers": exclude,
                "requested_by": record["requested_by"],
                "timeout_s": self.timeout
                if self.timeout is not None
                else (min(timeouts) if timeouts else None),
                "on_timeout": "approve" if soft_ok else "reject",
                # One call: its phrase is the request's. Several: each decision is checked against its own
                # call's phrase (`hitl.calls[i]`), so approving an email never needs a delete's phrase.
                "verify_phrase": phrases[0] if len(pending) == 1 and phrases else None,
                "impact": " ".join(dict.fromkeys(c["assessment"]["impact"] for c in pending)),
                "context": {
                    **shown_context,
                    "refused": refused,
                    "tool_calls": [
                        {
                            "id": c["call"]["id"],
                            "name": c["call"]["name"],
                            "state": c["state"],
                            "risk": c["assessment"]["risk"],
                            "approvers": self._call_approvers(c),
                            "verify_phrase": c["assessment"]["verify_phrase"],
                        }
                        for c in record["calls"]
                    ],
                },
                "policy_version": worst["assessment"]["policy_version"],
                "escalation_level": 0,
                "calls": per_call,
            },
        }
        if len(pending) == 1:
            request["hitl"]["digest"], request["hitl"]["occurrence"] = (
                pending[0]["digest"],
                pending[0]["occurrence"],
            )
        for config in request["review_configs"] if self.force_reject else ():
            if "reject" not in config["allowed_decisions"]:
                config["allowed_decisions"].append("reject")
        if on_langgraph_server(run_config()):  # every call visible and decidable in Agent Inbox
            request = agent_inbox_view(request)
        return {**record, "status": "pending", "request": request, "attempt": attempt}

    def ask(
        self, record: ToolGateRecord, context: dict[str, Any], refused: str | None = None
    ) -> ToolGateRecord:
        """`record` with a fresh question about its pending calls (`decided` if none is pending)."""
        return self._ask(record, context, refused)

    def decider(self, config: Any, answer: Any) -> tuple[str | None, str | None]:
        """Who answered (`nodes._common.decider_of`), else `anonymous` when allowed and nobody is named.

        An identity that is present but refused (a reserved name) is never replaced by `anonymous`.
        """
        who, why = decider_of(config, answer, trust_answer=self.trust_answer_identity)
        if who is not None or self.anonymous is None:
            return who, why
        named = ((config or {}).get("configurable") or {}).get("langgraph_auth_user_id")
        if isinstance(named, str) and named.strip():
            return None, why
        return self.anonymous, None

    # -- step 2: after interrupt() returned; never raises ------------------------------------------------

    def apply_answer(
        self, record: ToolGateRecord, answer: Any, *, config: Any, context: dict[str, Any]
    ) -> tuple[ToolGateRecord, list[BaseMessage], list[DecisionRecord], list[dict[str, Any]]]:
        """Apply `answer` to the open question; return record, ToolMessages, decisions, audit events.

        Who answered comes from the run's config (`nodes._common.decider_of`); each decision is
        checked against its own call's approvers, exclusions and phrase before anything applies.
        """
        request = record["request"]
        assert request is not None
        pending = [i for i, c in enumerate(record["calls"]) if c["state"] == "pending"]
        try:
            if isinstance(answer, BaseModel):  # what interrupt() returns after checking RESPONSE_SCHEMA
                answer = answer.model_dump(exclude_none=True)
            if (
                isinstance(answer, dict)
                and answer.get("type") in ("timeout", "escalate")
                and len(pending) > 1
            ):
                answer = {"decisions": [answer] * len(pending)}  # the runner answers a whole request at once
            who, why = self.decider(config, answer)
            if who is None:
                msg = f"Refused: {why}."
                raise AuthorizationError(msg)
            decisions = validate_decision(answer, request, approver=who)
            return self._apply(record, pending, decisions, config=config, context=context)
        except Exception as exc:  # never raise after interrupt(): refuse and ask again
            error = str(exc) if isinstance(exc, HITLError) else f"{type(exc).__name__}: {exc}"
            return self._refuse(record, answer, error, config=config, context=context)

    def _refuse(
        self, record: ToolGateRecord, answer: Any, error: str, *, config: Any, context: dict[str, Any]
    ) -> tuple[ToolGateRecord, list[BaseMessage], list[DecisionRecord], list[dict[str, Any]]]:
        hitl = record["request"]["hitl"]  # type: ignore[index]
        who = as_recorded(answer.get("approver")) if isinstance(answer, dict) else None
        rec: DecisionRecord = {
            "request_id": hitl["request_id"],
            "action_id": hitl["action_id"],
            "node": self.name,
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
            detail={"message": error, "node": self.name},
            event_id=decision_event_id(hitl["action_id"], hitl["request_id"], "invalid"),
            ts=event_time(config),
        )
        return self._ask(record, context, refused=error), [], [rec], [seal(event, seal_key_of(config))]

    def _apply(
        self,
        record: ToolGateRecord,
        pending: list[int],
        decisions: list[Decision],
        *,
        config: Any,
        context: dict[str, Any],
    ) -> tuple[ToolGateRecord, list[BaseMessage], list[DecisionRecord], list[dict[str, Any]]]:
        hitl = record["request"]["hitl"]  # type: ignore[index]
        calls = [dict(c) for c in record["calls"]]
        messages: list[BaseMessage] = []
        records: list[DecisionRecord] = []
        events: list[dict[str, Any]] = []
        thread_id, key, ts = thread_id_of(config), seal_key_of(config), event_time(config)
        for i, decision in zip(pending, decisions, strict=True):
            c: Any = calls[i]
            kind, who, message = decision["type"], decision.get("approver"), decision.get("message")
            shown = c["run"]
            asked_id = c["action_id"]
            detail: dict[str, Any] = {"tool_call_id": c["call"]["id"], "node": self.name, "message": message}
            if kind == "approve" or (kind == "timeout" and hitl["on_timeout"] == "approve"):
                receipt = self._receipt(c, hitl, decision, c["digest"], config)
                detail["receipt"] = receipt
                effect = "approved"
                self._count(
                    c,
                    [*c["receipts"], receipt],
                    record["requested_by"],
                    key,
                    done="edited" if shown != c["call"] else "approved",
                )
            elif kind == "edit":
                effect = self._edit(c, hitl, decision, detail, config, record["requested_by"])
                if effect == "rejected":
                    messages.append(
                        _tool_message(
                            c["call"],
                            f"Not run: the reviewer's edit of `{c['call']['name']}` "
                            f"is denied by the approval policy ({c['assessment']['reasons'][0]}).",
                        )
                    )
            elif kind == "respond":
                effect, c["state"], c["run"] = "responded", "responded", None
                if self.reply is not None:
                    messages.append(self.reply(c["call"], decision))
                else:
                    messages.append(_tool_message(c["call"], message or "", ok=True))
            elif kind == "reject" and self.reply is not None:
                effect, c["state"], c["run"] = "rejected", "rejected", None
                messages.append(self.reply(c["call"], decision))
            else:  # reject, a timeout that fails closed, an escalation the gate cannot follow
                effect = "timed_out" if kind in ("timeout", "escalate") else "rejected"
                c["state"], c["run"] = "rejected", None
                why = (
                    f"nobody approved it in time ({who})"
                    if effect == "timed_out"
                    else f"a reviewer ({who}) rejected it" + (f" with reason: {message}" if message else "")
                )
                messages.append(
                    _tool_message(
                        c["call"],
                        f"Not run: {why}. Do not retry the call to "
                        f"`{c['call']['name']}` unless the user asks.",
                    )
                )
            rec: Any = {
                "request_id": hitl["request_id"],
                "action_id": c["action_id"],
                "node": self.name,
                "stage": hitl["stage"],
                "type": kind,
                "approver": who,
                "message": message,
                "edited_action": decision.get("edited_action"),
                "effect": effect,
                "decided_at": ts,
            }
            if "receipt" in detail:
                rec["receipt"] = detail["receipt"]
            records.append(rec)
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
                        event_id=decision_event_id(asked_id, hitl["request_id"], kind),
                    ),
                    key,
                )
            )
        return self._ask({**record, "calls": calls}, context, refused=None), messages, records, events  # type: ignore[typeddict-item]

    def _receipt(self, c: Any, hitl: Any, decision: Decision, digest: str, config: Any) -> Receipt:
        return issue(
            request_id=hitl["request_id"],
            digest=digest,
            approver=decision.get("approver") or "",
            stage=hitl["stage"],
            decision=decision["type"],
            gate=self._gate(c),
            decided_at=decided_at_of(config),
            thread_id=thread_id_of(config),
            occurrence=c["occurrence"],
            key=seal_key_of(config),
        )

    @staticmethod
    def _bind(gate: Any, *, digest: str, occurrence: str, requester: str, key: bytes) -> Any:
        """`gate` sealed to the call's digest, with who proposed it (kept from an earlier gate)."""
        proposer = gate.get("requested_by") or requester
        return seal({**gate, "digest": digest, "occurrence": occurrence, "requested_by": proposer}, key)

    @staticmethod
    def _count(c: Any, receipts: list[Receipt], requester: str, key: bytes | None, *, done: str) -> None:
        """Keep `receipts` on the call; it runs once those of its current digest meet its requirement."""
        c["receipts"] = receipts
        asked = [requester, c["assessment"].get("requested_by") or requester]
        counted = counting(
            receipts, digest=c["digest"], gate=ToolReviewCore._gate(c), requester=asked, key=key
        )
        c["approvals"] = [r["approver"] for r in counted]
        c["state"] = done if enough(counted, c["assessment"]["required_approvals"]) else "pending"

    def _edit(
        self, c: Any, hitl: Any, decision: Decision, detail: dict[str, Any], config: Any, requester: str
    ) -> str:
        """The reviewer's call is a new action (new digest): earlier approvals of the old call stop counting."""
        edited = decision["edited_action"]
        assert edited is not None
        new_call = {**c["call"], "name": edited["name"], "args": edited["args"]}
        digest = action_digest(new_call, thread_id=thread_id_of(config), occurrence=c["occurrence"])
        receipt = self._receipt(c, hitl, decision, digest, config)  # issued under the gate the editor saw
        detail["receipt"] = receipt
        new = self.edit_policy.assess({"name": edited["name"], "args": edited["args"]})
        detail["edited_to"] = {"name": edited["name"], "args": edited["args"]}
        if new["mode"] == "deny":
            c["assessment"], c["state"], c["run"] = new, "denied", None
            return "rejected"
        c["run"], c["digest"], c["action_id"] = new_call, digest, digest[:32]
        if stricter(c["assessment"], new):  # a riskier call than the one approved: ask again, from scratch
            c["assessment"] = self._bind(
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
        c["assessment"] = self._bind(
            gate, digest=digest, occurrence=c["occurrence"], requester=requester, key=seal_key_of(config)
        )
        self._count(c, [receipt], requester, seal_key_of(config), done="edited")
        return "edited"

    def reopen(
        self, record: ToolGateRecord, answered: set[str], *, config: Any, context: dict[str, Any]
    ) -> tuple[ToolGateRecord, list[BaseMessage]] | None:
        """Ask again about calls marked to run that `runnable` does not clear (G9: never fail open).

        A call whose record was changed in state (its arguments, its gate, its state) is assessed
        afresh; receipts that name exactly it under that gate still count. Returns the record (with
        a new question if a call needs a person) and ToolMessages for calls now denied; None if
        every call marked to run is cleared.
        """
        thread_id, key = thread_id_of(config), seal_key_of(config)
        cleared = {id(r) for r in self.runnable(record, answered, thread_id=thread_id, key=key)}
        calls: list[Any] = []
        messages: list[BaseMessage] = []
        for c in record["calls"]:
            run = c["run"]
            if (
                c["state"] in _RUNS
                and run is not None
                and run.get("id") not in answered
                and id(run) not in cleared
            ):
                digest = action_digest(run, thread_id=thread_id, occurrence=c["occurrence"])
                fresh = self.edit_policy.assess({"name": run["name"], "args": run["args"]})
                why = "the call changed after it was assessed: assessed again"
                gate = self._bind(
                    {**fresh, "reasons": [*fresh["reasons"], why]},
                    digest=digest,
                    occurrence=c["occurrence"],
                    requester=record["requested_by"],
                    key=key,
                )
                c = {**c, "assessment": gate, "digest": digest, "action_id": digest[:32]}
                if fresh["mode"] == "deny":
                    c["state"], c["run"] = "denied", None
                    messages.append(
                        _tool_message(
                            c["call"],
                            f"Not run: the approval policy denies `{run['name']}` ({fresh['reasons'][0]}).",
                        )
                    )
                elif fresh["mode"] in ("auto", "notify"):
                    c["state"] = "safe"
                else:
                    self._count(
                        c,
                        list(c.get("receipts") or []),
                        record["requested_by"],
                        key,
                        done="edited" if run != c["call"] else "approved",
                    )
            calls.append(c)
        if len(calls) == len(record["calls"]) and all(
            a is b for a, b in zip(calls, record["calls"], strict=True)
        ):
            return None
        return self._ask(
            {**record, "calls": calls}, context, refused="a call changed after it was assessed"
        ), messages

    @staticmethod
    def runnable(
        record: ToolGateRecord, answered: set[str], *, thread_id: str | None = None, key: bytes | None = None
    ) -> list[dict[str, Any]]:
        """The calls to execute now: safe, or approved / edited with receipts for exactly the call that runs."""
        out = []
        for c in record["calls"]:
            run = c["run"]
            if c["state"] not in _RUNS or run is None or run.get("id") in answered:
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
