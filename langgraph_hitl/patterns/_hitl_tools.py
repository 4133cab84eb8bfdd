"""The tools step of `HumanInTheLoopMiddleware`: run what was approved, ask what is still open.

Each tool call runs in its own LangGraph task (`create_agent` sends one per call), so a call
that still needs a person is asked about here, one question per task: the per-call questions
of `interrupt_mode="per_call"`, and in batched mode the follow-ups a turn's one question left
open (a second approver, an edit the policy gates more strictly) or a call no question covered
(an `AIMessage` put in state by hand). A call runs only when a sealed record clears it, with
receipts for exactly the call that runs; otherwise it is asked about, never run on trust:

- the record's entry for a call is found by its tool-call id, so the call in the request must be
  the one the entry reviewed (same name and arguments, G9): a call changed in state after its
  review (`update_state` keeping the ids) is a new call, assessed and asked about afresh;
- a tool-call id shared by several calls of one turn matches no entry soundly, so none of those
  calls runs when any of them is gated (`deny_shared_ids`); each gets a `ToolMessage` saying why.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, cast

from langchain.agents.middleware.human_in_the_loop import Action, ToolApprovalRequest
from langchain.agents.middleware.types import ToolCallRequest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.runtime import get_runtime
from langgraph.types import Command

from .._canonical import stable_id
from ..nodes._common import run_config, runner_store, seal_key_of, thread_id_of
from ..receipts import action_digest
from ..types import Assessment
from ._hitl_answers import Asker
from ._interrupt_on import edit_problem
from ._toolcalls import CallReview, ToolGateRecord, ToolReviewCore, last_ai_message, turn_key

__all__ = [
    "CHANGED",
    "Prepared",
    "ToolStep",
    "context_of",
    "deny_shared_ids",
    "notice",
    "same_call",
    "shared_id",
    "with_update",
]

Prepared = tuple[ToolCallRequest, Action | None, dict[str, list[Any]]]
"""The request to run, the reviewer's call when it replaced the model's, and state updates to add."""


CHANGED = "the call changed after it was reviewed (same tool-call id, another tool or other arguments)"
"""Why a call whose record entry reviewed another call is asked about again, or refused."""

_RUNS_UNREVIEWED = ("auto", "notify")


def _digest(call: Mapping[str, Any]) -> str | None:
    """The digest of `call`'s name and arguments (None if they cannot be serialized)."""
    try:
        return action_digest(
            {"name": call.get("name"), "args": call.get("args")}, thread_id=None, occurrence=""
        )
    except (TypeError, ValueError):
        return None


def same_call(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two tool calls name the same tool with the same arguments (canonical JSON, as digests do)."""
    digest = _digest(a)
    return digest is not None and digest == _digest(b)


def shared_id(call_id: Any, count: int) -> str:
    """Why calls sharing a tool-call id do not run."""
    return (
        f"tool call id {call_id!r} is shared by {count} calls of this turn, so a result or an approval "
        "cannot be matched to one of them: none of them runs"
    )


def deny_shared_ids(calls: Sequence[Mapping[str, Any]], gates: Sequence[Assessment]) -> list[Assessment]:
    """`gates` (one per call, in order), with every call that shares its id with a gated call denied.

    Calls sharing an id are left alone when none of them needs review: they would run anyway.
    """
    counts = Counter(c.get("id") for c in calls if c.get("id") is not None)
    blocked = {
        call_id
        for call_id, n in counts.items()
        if n > 1
        and any(
            g["mode"] not in _RUNS_UNREVIEWED
            for c, g in zip(calls, gates, strict=True)
            if c.get("id") == call_id
        )
    }
    return [
        {**g, "mode": "deny", "reasons": [shared_id(c.get("id"), counts[c.get("id")]), *g["reasons"]]}
        if c.get("id") in blocked
        else g
        for c, g in zip(calls, gates, strict=True)
    ]


def context_of(messages: Any) -> dict[str, Any]:
    """What reviewers see as the task: the last human message."""
    task = next((m.content for m in reversed(messages or []) if isinstance(m, HumanMessage)), None)
    return {"task": task[:500] if isinstance(task, str) else None}


def _notice_text(edit_notice: str, executed: Action, *, has_content: bool) -> str:
    text = (
        f"{edit_notice} Executed instead: {executed['name']} with arguments "
        f"{json.dumps(executed['args'], default=str)}."
    )
    return f"{text}\n\nTool response:" if has_content else text


def _prepend(message: ToolMessage, executed: Action, edit_notice: str) -> ToolMessage:
    text = _notice_text(edit_notice, executed, has_content=bool(message.content))
    content: Any
    if isinstance(message.content, str):
        if text in message.content:
            return message
        content = f"{text}\n{message.content}" if message.content else text
    else:
        if any(text in str(block) for block in message.content):
            return message
        strings = bool(message.content) and all(isinstance(b, str) for b in message.content)
        content = [text if strings else {"type": "text", "text": text}, *message.content]
    return message.model_copy(update={"content": content})


def notice(result: Any, call_id: str | None, executed: Action | None, edit_notice: str | None) -> Any:
    """`result` with langchain's edit notice on the edited call's `ToolMessage` (added once)."""
    if not edit_notice or executed is None:
        return result
    if isinstance(result, ToolMessage):
        return _prepend(result, executed, edit_notice)
    if not isinstance(result, Command) or not isinstance(result.update, dict):
        return result
    messages = result.update.get("messages")
    if not isinstance(messages, list):
        return result
    marked = [
        _prepend(m, executed, edit_notice) if isinstance(m, ToolMessage) and m.tool_call_id == call_id else m
        for m in messages
    ]
    return replace(result, update={**result.update, "messages": marked})


def with_update(result: Any, update: Mapping[str, list[Any]]) -> Any:
    """`result` (a `ToolMessage` or `Command`) carrying `update` (decisions and audit events) too."""
    if not any(update.values()):
        return result
    if isinstance(result, ToolMessage):
        return Command(update={"messages": [result], **update})
    if isinstance(result, Command) and isinstance(result.update, dict):
        merged = dict(result.update)
        for key, values in update.items():
            merged[key] = [*cast(list[Any], merged.get(key) or []), *values]
        return replace(result, update=merged)
    return result


def _not_run(request: ToolCallRequest, why: str) -> ToolMessage:
    return ToolMessage(
        content=f"Not run: {why}. Do not retry it unless the user asks.",
        name=request.tool_call["name"],
        tool_call_id=request.tool_call.get("id") or "",
        status="error",
    )


class ToolStep:
    """`wrap_tool_call`'s work, for `HumanInTheLoopMiddleware` (which provides these attributes)."""

    core: ToolReviewCore
    asker: Asker
    interrupt_mode: str

    def _gate(self, call: Any, state: Any, runtime: Any, request: ToolCallRequest | None = None) -> Any:
        raise NotImplementedError

    def _one_call(
        self, request: ToolCallRequest, gated: Any, *, entry: CallReview | None, refused: str | None = None
    ) -> tuple[ToolGateRecord, list[dict[str, Any]]]:
        """A record of this call alone (its entry in the turn's record, or assessed now) and its events.

        `refused` says why an earlier review does not cover the call (shown in the question's context).
        """
        state = request.state if isinstance(request.state, Mapping) else {}
        messages = state.get("messages") or []
        call = dict(request.tool_call)
        if entry is not None:
            record = state["tool_gate"]
            one = cast(
                ToolGateRecord,
                {
                    **record,
                    "key": stable_id(record["key"], call.get("id"), "per call"),
                    "calls": [entry],
                    "status": "decided",
                    "request": None,
                    "attempt": 0,
                },
            )
            return self.core.ask(one, context_of(messages), refused=None), []
        if call.get("id") == "":  # langchain lets an empty id through per call; the record needs one to match
            call["id"] = stable_id("empty tool call id", call["name"], call.get("args"))
        ai = last_ai_message(messages)
        turn = AIMessage(content="", id=stable_id(getattr(ai, "id", None), call["id"]), tool_calls=[call])
        one, _, events = self.core.assess_turn(
            turn,
            requester=self.core.requested_by,
            config=run_config(),
            context=context_of(messages),
            assess=lambda _call: gated,
        )
        if refused is not None and one["status"] == "pending":
            one = self.core.ask(one, context_of(messages), refused=refused)
        return one, events

    def _shares_id(self, request: ToolCallRequest, state: Mapping[str, Any]) -> ToolMessage | None:
        """A refusal when the call shares its id with another call of its turn and any of them is gated."""
        call_id = request.tool_call.get("id")
        ai = last_ai_message(state.get("messages") or [])
        if call_id is None or ai is None:
            return None
        same = [c for c in ai.tool_calls if c.get("id") == call_id]
        if len(same) < 2:
            return None
        runtime = get_runtime()
        if all(self._gate(c, state, runtime)["mode"] in _RUNS_UNREVIEWED for c in same):
            return None
        return _not_run(request, shared_id(call_id, len(same)))

    def _prepare(self, request: ToolCallRequest) -> Prepared | Any:
        """The request to run (the reviewer's call after an edit), or the result to return instead."""
        state = request.state if isinstance(request.state, Mapping) else {}
        refused = self._shares_id(request, state)
        if refused is not None:
            return refused
        if self.interrupt_mode == "per_call":
            return self._per_call(request)
        ai = last_ai_message(state.get("messages") or [])
        record: ToolGateRecord | None = state.get("tool_gate")
        changed = None
        if record is not None and ai is not None and record["key"] == turn_key(ai):
            entry = next((c for c in record["calls"] if c["call"]["id"] == request.tool_call.get("id")), None)
            if entry is not None and entry["state"] in ("rejected", "responded", "denied"):
                return _not_run(request, f"it was {entry['state']} at review")
            if entry is not None and not same_call(request.tool_call, entry["call"]):
                changed = CHANGED  # G9: its review was of another call; this one is asked about afresh
            elif entry is not None:
                settled = self._settled(request, record, entry)
                if settled is not None:
                    return settled
        # No record clears the call (nothing was asked this turn, or the record or call changed): gate it now.
        gated = self._gate(request.tool_call, state, get_runtime(), request)
        if gated["mode"] in _RUNS_UNREVIEWED:
            return request, None, {}
        return self._ask_one(request, *self._one_call(request, gated, entry=None, refused=changed))

    def _settled(self, request: ToolCallRequest, record: ToolGateRecord, entry: CallReview) -> Prepared | Any:
        """The call as its (unchanged) record entry settles it: run, ask its open question, or None."""
        config = run_config()
        cleared = ToolReviewCore.runnable(
            record, set(), thread_id=thread_id_of(config), key=seal_key_of(config)
        )
        if entry["run"] is not None and any(r == entry["run"] for r in cleared):
            return self._approved(request, entry["run"], {})
        if entry["state"] == "pending":
            return self._ask_one(request, *self._one_call(request, None, entry=entry))
        return None

    def _per_call(self, request: ToolCallRequest) -> Prepared | Any:
        call = request.tool_call
        state = request.state if isinstance(request.state, Mapping) else {}
        gated = self._gate(call, state, get_runtime(), request)
        if gated["mode"] in _RUNS_UNREVIEWED:
            return request, None, {}
        if call.get("id") is None:
            msg = (
                f"Tool call `{call['name']}` has no ID, so its result can't be matched "
                "to it. Make sure the chat model returns tool call IDs."
            )
            raise ValueError(msg)
        one, proposed = self._one_call(request, gated, entry=None)
        asked = one["request"]
        if asked is None:  # denied by the policy
            return self._ask_one(request, one, proposed)
        value: dict[str, Any] = dict(
            ToolApprovalRequest(
                type="tool_approval",
                tool_call_id=str(call["id"]),
                name=call["name"],
                args=call["args"],
                description=asked["action_requests"][0].get("description", ""),
            )
        )
        if runner_store(run_config()) is not None:  # the runner indexes questions that carry `hitl`
            value.update(asked)
        allowed = asked["review_configs"][0]["allowed_decisions"]
        return self._ask_one(
            request, one, proposed, value=value, schema=(allowed, call["name"], request.tool)
        )

    def _ask_one(
        self,
        request: ToolCallRequest,
        one: ToolGateRecord,
        proposed: list[dict[str, Any]],
        value: Any = None,
        schema: Any = None,
    ) -> Prepared | Any:
        """Ask about one call (one question per task) and run it, or answer it, as decided."""
        config = run_config()
        context = context_of((request.state or {}).get("messages") or [])
        [c] = one["calls"]
        if c["state"] == "denied":
            why = f"the approval policy denies `{c['call']['name']}` ({c['assessment']['reasons'][0]})"
            return with_update(_not_run(request, why), {"audit_trail": proposed})
        one, replies, decisions, events = self.asker.ask(
            one, config=config, context=context, value=value, schema=schema
        )
        update: dict[str, list[Any]] = {"decisions": decisions, "audit_trail": [*proposed, *events]}
        [c] = one["calls"]
        cleared = ToolReviewCore.runnable(one, set(), thread_id=thread_id_of(config), key=seal_key_of(config))
        if c["run"] is not None and any(r == c["run"] for r in cleared):
            return self._approved(request, c["run"], update)
        if replies:  # the record may hold a stand-in id (see `_one_call`): answer the call the model sent
            reply = replies[0].model_copy(update={"tool_call_id": request.tool_call.get("id") or ""})
            return with_update(reply, update)
        why = (
            "it needs another approval, and a call is asked about once per step"
            if c["state"] == "pending"
            else ""
        )
        return with_update(_not_run(request, why or f"it was {c['state']}"), update)

    def _approved(self, request: ToolCallRequest, run: Any, update: dict[str, list[Any]]) -> Prepared | Any:
        """The request for the cleared call `run`: as the model sent it, or the reviewer's (maybe another tool).

        What runs is always `run`, the call the receipts name, never the request's call on trust.
        """
        if same_call(run, request.tool_call):
            return request, None, update
        problem = edit_problem([{"type": "edit", "edited_action": run}], self.core.edit_policy)
        if problem is not None:  # an edit never softens a gate, even if the rules changed since the answer
            return with_update(_not_run(request, problem), update)
        executed: Action = {"name": run["name"], "args": run["args"]}
        call: Any = {**request.tool_call, "name": run["name"], "args": run["args"]}
        if run["name"] == request.tool_call["name"]:
            return request.override(tool_call=call), executed, update
        tools = list(getattr(request.runtime, "tools", None) or [])
        tool = next((t for t in tools if getattr(t, "name", None) == run["name"]), None)
        if tool is None:
            names = ", ".join(sorted(getattr(t, "name", "?") for t in tools))
            msg = (
                f"Reviewer edited tool call {request.tool_call.get('id')!r} to {run['name']!r}, which is not "
                f"an available tool. Available tools: {names}."
            )
            raise ValueError(msg)
        return request.override(tool_call=call, tool=tool), executed, update
