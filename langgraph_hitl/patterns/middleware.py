"""`ToolGateMiddleware`: the tool gate for agents built with langchain's `create_agent`.

Needs `langchain` (extra `openai`, or `pip install langchain`). Same policy, same question,
same answers as `ToolGateNode`; the hooks split the work so `interrupt()` stays safe:

- `wrap_model_call` assesses the new turn's tool calls right after the model answers (no
  interrupt there, so an `LLMRiskClassifier` is called once per turn) and saves the record;
- `after_model` asks ONCE about the risky calls and applies the answer. An answer that fails
  the request's rules is refused and asked again inside the same hook (the k-th interrupt of
  the node; LangGraph replays the earlier answers in order on resume), so nothing raises after
  `interrupt()`. Because a replayed answer is checked again under the identity of whoever
  resumes last, who may decide is checked before LangGraph saves an answer (its
  `response_schema`): an answer from someone who may not decide raises and is never saved, so
  it cannot be replayed later as an approver's. Edits are re-assessed with the deterministic
  base policy, so a replay gives the same questions;
- rejected, answered and denied calls get a `ToolMessage`, so the agent's router sends only
  the approved calls to the tools; `wrap_tool_call` runs an edited call as the reviewer wrote
  it and tells the model so. It runs only the call the record reviewed: a call changed in
  state after its review (`update_state` keeping its ids) is not run, and calls sharing a
  tool-call id with a gated call are denied when assessed (neither result nor approval could be
  matched to one of them).

Example:
    ```python
    from langchain.agents import create_agent
    from langgraph_hitl.patterns import ToolGateMiddleware

    agent = create_agent(model, tools, middleware=[ToolGateMiddleware(policy)], checkpointer=saver)
    result = agent.invoke({"messages": [("user", "Clean up the CRM")]}, config)   # pauses once
    agent.invoke(Command(resume={"decisions": [{"type": "approve", "approver": "alice"}]}), config)
    ```
"""

from __future__ import annotations

import operator
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any

from langchain.agents.middleware import AgentMiddleware, AgentState, ExtendedModelResponse, ModelResponse
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langgraph.types import Command, interrupt
from typing_extensions import NotRequired

from ..errors import PolicyError
from ..nodes._common import run_config, seal_key_of, thread_id_of
from ..policy import Policy
from ..types import Assessment, AuditEvent, DecisionRecord
from ._hitl_answers import Asker
from ._hitl_tools import CHANGED, deny_shared_ids, same_call, shared_id
from ._toolcalls import ToolGateRecord, ToolReviewCore, last_ai_message, turn_key
from .llm import LLMRiskClassifier
from .toolgate import EDIT_NOTICE

__all__ = ["ToolGateAgentState", "ToolGateMiddleware"]


class ToolGateAgentState(AgentState[Any]):
    """`create_agent`'s state plus the gate's keys."""

    tool_gate: NotRequired[ToolGateRecord]
    """The gate's record of the current turn."""
    decisions: NotRequired[Annotated[list[DecisionRecord], operator.add]]
    """Every answer the gate received, including refused ones."""
    audit_trail: NotRequired[Annotated[list[AuditEvent], operator.add]]
    """Audit events: proposed, auto_approved, approved, edited, rejected, refused, ..."""


def _context(messages: Sequence[Any]) -> dict[str, Any]:
    task = next((m.content for m in reversed(messages) if isinstance(m, HumanMessage)), None)
    return {"task": task[:500] if isinstance(task, str) else None}


class ToolGateMiddleware(AgentMiddleware[ToolGateAgentState, Any, Any]):
    """Approve an agent's risky tool calls with a policy: one question per model turn.

    Args:
        policy: A `Policy` (or `LLMRiskClassifier`) deciding which calls are safe.
        approvers: Who may decide every call (default: each call's policy requirement).
        timeout: Seconds a reviewer has (default: the shortest of the risky calls').
        requested_by: Who proposes the calls (may never approve them).
        describe: `describe(call, assessment) -> str`, the text reviewers see for a call.
        edit_notice: Prepended to an edited call's result (`{name}`, `{args}` are filled in);
            None adds nothing.
        max_asks: Questions per turn before the gate gives up and rejects the rest (fail closed).

    Raises:
        PolicyError: A bad option.

    Example:
        ```python
        agent = create_agent(ChatOpenAI(model="gpt-4o-mini"), [search, send_email],
                             middleware=[ToolGateMiddleware(policy)], checkpointer=saver)
        out = agent.invoke({"messages": [("user", "Email the team")]}, config)
        request = out["__interrupt__"][0].value        # langchain's HITLRequest + "hitl"
        agent.invoke(Command(resume={"decisions": [{"type": "approve", "approver": "alice"}]}), config)
        ```
    """

    state_schema = ToolGateAgentState

    def __init__(
        self,
        policy: Policy,
        *,
        approvers: Sequence[str] | None = None,
        timeout: float | None = None,
        requested_by: str = "agent",
        describe: Callable[[dict[str, Any], Assessment], str] | None = None,
        edit_notice: str | None = EDIT_NOTICE,
        max_asks: int = 10,
        trust_answer_identity: bool = False,
    ) -> None:
        super().__init__()
        if not isinstance(max_asks, int) or max_asks < 1:
            msg = f"max_asks={max_asks!r}; use a positive whole number (default 10)."
            raise PolicyError(msg)
        base = policy.base_policy if isinstance(policy, LLMRiskClassifier) else policy
        self.core = ToolReviewCore(
            policy,
            name="tool_gate",
            approvers=approvers,
            timeout=timeout,
            requested_by=requested_by,
            describe=describe,
            edit_policy=base,
            trust_answer_identity=trust_answer_identity,
        )
        self.edit_notice = edit_notice
        self.max_asks = max_asks
        self.asker = Asker(self.core, raise_invalid=False, max_asks=max_asks)

    # -- the model node: assess the new turn (no interrupt here) ---------------------------------------

    def _assess(self, response: Any, state: dict[str, Any]) -> Any:
        inner = response.model_response if isinstance(response, ExtendedModelResponse) else response
        if isinstance(inner, AIMessage):
            inner = ModelResponse(result=[inner])
        ai = last_ai_message(inner.result)
        if ai is None or not ai.tool_calls:
            return response
        if ai.id is None:  # the key needs a stable id; this node has no interrupt, so a random one is fine
            ai.id = f"hitl-{uuid.uuid4()}"
        record, _, events = self._assess_turn(ai, run_config(), _context(state.get("messages") or []))
        update: dict[str, Any] = {"tool_gate": record, "audit_trail": events}
        if isinstance(response, ExtendedModelResponse) and response.command is not None:
            update = {**dict(response.command.update or {}), **update}
        return ExtendedModelResponse(model_response=inner, command=Command(update=update))

    def _assess_turn(self, ai: AIMessage, config: Any, context: dict[str, Any]) -> Any:
        """The turn's record: each call assessed once by the policy, calls sharing a gated call's id denied."""
        policy = self.core.policy
        gates = deny_shared_ids(
            ai.tool_calls,
            [policy.assess({"name": c["name"], "args": dict(c.get("args") or {})}) for c in ai.tool_calls],
        )
        assessed = iter(gates)
        return self.core.assess_turn(
            ai,
            requester=self.core.requested_by,
            config=config,
            context=context,
            assess=lambda _call: next(assessed),  # assess_turn takes the turn's calls in order
        )

    def wrap_model_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
        """Call the model, then assess the tool calls it asked for."""
        return self._assess(handler(request), request.state)

    async def awrap_model_call(self, request: Any, handler: Callable[[Any], Awaitable[Any]]) -> Any:
        """Async twin of `wrap_model_call`."""
        return self._assess(await handler(request), request.state)

    # -- after the model: ask once, apply the answer -------------------------------------------------------

    def after_model(self, state: ToolGateAgentState, runtime: Any) -> dict[str, Any] | None:
        """Ask about the risky calls of the last turn and apply the answer."""
        messages = state.get("messages") or []
        ai = last_ai_message(messages)
        if ai is None or not ai.tool_calls:
            return None
        config, context = run_config(), _context(messages)
        record: ToolGateRecord | None = state.get("tool_gate")
        out: dict[str, Any] = {"messages": [], "decisions": [], "audit_trail": []}
        if record is None or record["key"] != turn_key(ai):  # the turn came from elsewhere: assess it here
            record, _, events = self._assess_turn(ai, config, context)
            out["audit_trail"] += events
        answered = {m.tool_call_id for m in messages if isinstance(m, ToolMessage)}
        out["messages"] += [
            _denied(c) for c in record["calls"] if c["state"] == "denied" and c["call"]["id"] not in answered
        ]
        asks = 0
        while record["status"] == "pending" and asks < self.max_asks:
            request = record["request"]
            assert request is not None
            answer = interrupt(request, response_schema=self.asker.schema(request))
            asks += 1
            record, msgs, decisions, events = self.core.apply_answer(
                record, answer, config=config, context=context
            )
            out["messages"] += msgs
            out["decisions"] += decisions
            out["audit_trail"] += events
        if record["status"] == "pending":  # too many refused answers: fail closed
            calls = []
            for c in record["calls"]:
                if c["state"] == "pending":
                    c = {**c, "state": "rejected", "run": None}
                    out["messages"].append(
                        ToolMessage(
                            content=f"Not run: no valid approval after {self.max_asks} questions.",
                            name=c["call"]["name"],
                            tool_call_id=c["call"]["id"],
                            status="error",
                        )
                    )
                calls.append(c)
            record = {**record, "calls": calls, "status": "decided", "request": None}
        out["tool_gate"] = record
        return out

    async def aafter_model(self, state: ToolGateAgentState, runtime: Any) -> dict[str, Any] | None:
        """Async twin of `after_model`."""
        return self.after_model(state, runtime)

    # -- the tools node: run what the reviewer approved --------------------------------------------------

    def _prepare(self, request: Any) -> tuple[Any, dict[str, Any] | None] | ToolMessage:
        """The request that runs the call the gate cleared (the reviewer's after an edit), or why not.

        G9: the call must be the one its record entry reviewed (a call changed in state after its
        review is not run), its id must be its turn's only call with that id, and what runs is
        the entry's cleared call, never the request's on trust.
        """
        state = request.state if isinstance(request.state, dict) else {}
        record: ToolGateRecord | None = state.get("tool_gate")
        ai = last_ai_message(state.get("messages") or [])
        if record is not None and (ai is None or record["key"] != turn_key(ai)):
            record = None  # the record of another turn clears nothing in this one
        call_id = request.tool_call.get("id")
        entries = [c for c in (record["calls"] if record else []) if c["call"]["id"] == call_id]
        if len(entries) > 1:
            return _not_run(request, f"Not run: {shared_id(call_id, len(entries))}.")
        entry = entries[0] if entries else None
        config = run_config()
        cleared = (
            ToolReviewCore.runnable(record, set(), thread_id=thread_id_of(config), key=seal_key_of(config))
            if record
            else []
        )
        if (
            entry is None
            or entry["run"] is None
            or not any(r is entry["run"] or r == entry["run"] for r in cleared)
        ):
            return _not_run(request, "Not run: this call was not approved by the tool gate.")
        if not same_call(request.tool_call, entry["call"]):
            return _not_run(request, f"Not run: {CHANGED}. Propose it again if it is still needed.")
        run = entry["run"]
        if same_call(run, request.tool_call):
            return request, None
        call = {**request.tool_call, "name": run["name"], "args": run["args"]}
        if run["name"] == request.tool_call["name"]:
            return request.override(tool_call=call), run
        tools = getattr(request.runtime, "tools", None) or []
        tool = next((t for t in tools if getattr(t, "name", None) == run["name"]), None)
        if tool is None:
            return ToolMessage(
                content=f"Not run: the reviewer's edit names tool {run['name']!r}, which this agent "
                "does not have.",
                name=run["name"],
                tool_call_id=call_id or "",
                status="error",
            )
        return request.override(tool_call=call, tool=tool), run

    def _annotate(self, result: Any, run: dict[str, Any] | None) -> Any:
        if run is None or not self.edit_notice or not isinstance(result, ToolMessage):
            return result
        note = self.edit_notice.format(name=run["name"], args=run["args"])
        content = result.content if isinstance(result.content, str) else str(result.content)
        return result.model_copy(update={"content": f"{note}\n\nTool response:\n{content}"})

    def wrap_tool_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
        """Run only gated-and-approved calls; run edits as the reviewer wrote them."""
        prepared = self._prepare(request)
        if isinstance(prepared, ToolMessage):
            return prepared
        return self._annotate(handler(prepared[0]), prepared[1])

    async def awrap_tool_call(self, request: Any, handler: Callable[[Any], Awaitable[Any]]) -> Any:
        """Async twin of `wrap_tool_call`."""
        prepared = self._prepare(request)
        if isinstance(prepared, ToolMessage):
            return prepared
        return self._annotate(await handler(prepared[0]), prepared[1])


def _not_run(request: Any, content: str) -> ToolMessage:
    return ToolMessage(
        content=content,
        name=request.tool_call["name"],
        tool_call_id=request.tool_call.get("id") or "",
        status="error",
    )


def _denied(c: Any) -> BaseMessage:
    return ToolMessage(
        content=f"Not run: the approval policy denies `{c['call']['name']}` "
        f"({c['assessment']['reasons'][0]}). Do not retry it unless the user asks.",
        name=c["call"]["name"],
        tool_call_id=c["call"]["id"] or "",
        status="error",
    )
