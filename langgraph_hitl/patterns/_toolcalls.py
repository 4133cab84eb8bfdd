"""The tool-call review logic `ToolGateNode` and `ToolGateMiddleware` share.

Two pure steps, so both hosts can keep `interrupt()` safe:

1. `assess_turn`: assess every tool call of one model turn with the policy (before any
   interrupt; this is where an `LLMRiskClassifier` calls its model) and build the one question
   for the risky calls. The result, a `ToolGateRecord`, is saved in state.
2. `apply_answer`: apply a reviewer's answer to the saved record. Never raises: an answer
   that fails validation is refused and a new question is built (ask again).

`ToolReviewCore` holds a host's options and drives the steps; each step's logic lives in its own
module: the records and their G9 checks (`_toolcall_records`), assessing one call
(`_toolcall_assessment`), building the question (`_toolcall_question`) and applying decisions
(`_toolcall_decisions`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage
from pydantic import BaseModel

from ..decisions import validate_decision
from ..errors import AuthorizationError, HITLError, PolicyError
from ..identity import canonical_list, canonical_or_none
from ..nodes._common import decider_of, seal_key_of, thread_id_of
from ..policy import Policy
from ..receipts import action_digest, seal
from ..types import Assessment, Decision, DecisionRecord
from ._toolcall_assessment import review_call, tool_call_of
from ._toolcall_decisions import apply_decisions, refusal
from ._toolcall_question import ask_about, describe_call
from ._toolcall_records import (
    RUNS,
    CallReview,
    ToolGateRecord,
    bind_gate,
    count_receipts,
    last_ai_message,
    runnable_calls,
    tool_message,
    turn_key,
)

__all__ = ["CallReview", "ToolGateRecord", "ToolReviewCore", "last_ai_message", "turn_key"]


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
        self.describe = describe or describe_call
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
            call = tool_call_of(tc)
            assessment = (
                assess(call)
                if assess is not None
                else self.policy.assess({"name": call["name"], "args": call["args"]})
            )
            review, proposed, denial = review_call(
                call, assessment, turn=key, thread_id=thread_id, requester=requester, seal_key=seal_key
            )
            calls.append(review)
            events.extend(proposed)
            if denial is not None:
                messages.append(denial)
        record: ToolGateRecord = {
            "key": key,
            "status": "decided",
            "calls": calls,
            "request": None,
            "attempt": 0,
            "requested_by": requester,
        }
        return self._ask(record, context, refused=None), messages, [seal(e, seal_key) for e in events]

    def _ask(self, record: ToolGateRecord, context: dict[str, Any], refused: str | None) -> ToolGateRecord:
        """Record with a fresh question for the pending calls (or `decided` if none is pending)."""
        return ask_about(
            record,
            context,
            refused,
            node=self.name,
            approvers=self.approvers,
            timeout=self.timeout,
            describe=self.describe,
            force_reject=self.force_reject,
        )

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
            if isinstance(answer, BaseModel):  # what interrupt() returns after checking INTERRUPT_SCHEMA
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
        rec, event = refusal(record, answer, error, node=self.name, config=config)
        return self._ask(record, context, refused=error), [], [rec], [event]

    def _apply(
        self,
        record: ToolGateRecord,
        pending: list[int],
        decisions: list[Decision],
        *,
        config: Any,
        context: dict[str, Any],
    ) -> tuple[ToolGateRecord, list[BaseMessage], list[DecisionRecord], list[dict[str, Any]]]:
        calls, messages, records, events = apply_decisions(
            record,
            pending,
            decisions,
            node=self.name,
            edit_policy=self.edit_policy,
            reply=self.reply,
            config=config,
        )
        return self._ask({**record, "calls": calls}, context, refused=None), messages, records, events

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
        cleared = {id(r) for r in runnable_calls(record, answered, thread_id=thread_id, key=key)}
        calls: list[Any] = []
        messages: list[BaseMessage] = []
        for c in record["calls"]:
            run = c["run"]
            if (
                c["state"] in RUNS
                and run is not None
                and run.get("id") not in answered
                and id(run) not in cleared
            ):
                digest = action_digest(run, thread_id=thread_id, occurrence=c["occurrence"])
                fresh = self.edit_policy.assess({"name": run["name"], "args": run["args"]})
                why = "the call changed after it was assessed: assessed again"
                gate = bind_gate(
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
                        tool_message(
                            c["call"],
                            f"Not run: the approval policy denies `{run['name']}` ({fresh['reasons'][0]}).",
                        )
                    )
                elif fresh["mode"] in ("auto", "notify"):
                    c["state"] = "safe"
                else:
                    count_receipts(
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
        return runnable_calls(record, answered, thread_id=thread_id, key=key)
