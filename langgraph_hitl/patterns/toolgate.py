"""`ToolGateNode` and `tool_gate_condition`: per-tool-call approval for a tool-calling agent.

Put the gate between your model node and langgraph's `ToolNode`. For each model turn it
assesses every tool call with the policy, lets the safe ones through, and asks ONCE about the
risky ones: one interrupt whose value is langchain's `HITLRequest` (one action request per
risky call) plus our `hitl` key. Answer with one decision, or with langchain's
`{"decisions": [...]}`, one per risky call, in order:

- `approve`: the call runs as the model asked;
- `edit`: the reviewer's call runs instead, after the policy re-assesses it: a call that needs
  a stricter gate (another tool, riskier arguments) is asked about again, a denied one is not run;
- `reject` / `respond`: the call does not run; the model gets a `ToolMessage` with the reason
  (status `error`) or the reviewer's answer (status `success`), so no tool-call id is left
  without a result.

An invalid answer is refused before it is saved (`response_schema`) or, if it only fails the
request's rules (approver, verify phrase, count), recorded as `refused` and asked again.

```
model -> tool_gate -> (risky calls) tool_gate (asks) -> tools -> model
                   -> (only safe calls) tools -> model
                   -> (every call answered) model;  (no tool calls) END
```

Example:
    ```python
    from langgraph.prebuilt import ToolNode
    from langgraph_hitl.patterns import ToolGateNode, ToolGateState, tool_gate_condition

    builder = StateGraph(ToolGateState)
    builder.add_node("model", call_model)
    builder.add_node("tool_gate", ToolGateNode(policy))
    builder.add_node("tools", ToolNode(tools))
    builder.add_edge(START, "model")
    builder.add_edge("model", "tool_gate")
    builder.add_conditional_edges("tool_gate", tool_gate_condition, ["tool_gate", "tools", "model", END])
    builder.add_edge("tools", "model")
    ```
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal

from langchain_core.messages import AnyMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph.message import add_messages
from langgraph.types import Send, interrupt

from ..answer_schema import INTERRUPT_SCHEMA
from ..nodes import HITLState
from ..nodes._common import run_config, seal_key_of, thread_id_of
from ..nodes._view import view
from ..policy import Policy
from ..types import Assessment
from ._toolcalls import CallReview, ToolGateRecord, ToolReviewCore, last_ai_message, turn_key

__all__ = ["CallReview", "ToolGateNode", "ToolGateRecord", "ToolGateState", "tool_gate_condition"]

EDIT_NOTICE = (
    "Note: a reviewer replaced this tool call before it ran; the call in your message is the one you "
    "proposed, not the one that ran. Executed instead: {name} with arguments {args}."
)


class ToolGateState(HITLState, total=False):
    """State for an agent graph with a `ToolGateNode`: `messages` plus the gate's keys."""

    messages: Annotated[list[AnyMessage], add_messages]
    """The conversation; the gate adds a `ToolMessage` for every call that does not run."""
    tool_gate: ToolGateRecord
    """The gate's record of the current turn: each call's assessment, state and the open question."""


class ToolGateNode:
    """Review a model turn's tool calls with a policy: safe ones pass, risky ones are asked about once.

    The node runs twice per risky turn: first it assesses the calls (no interrupt, so a model
    used by an `LLMRiskClassifier` is called once) and saves the question in state; then it
    asks. A resume re-runs only the asking step, which reads everything from state.

    Args:
        policy: Decides which calls are safe (`auto`, `notify`), need a person (`soft`, `hard`,
            `verify`) or never run (`deny`). Unknown tools are hard-gated.
        approvers: Who may decide every call (default: each call's policy requirement).
        timeout: Seconds a reviewer has (default: the shortest of the risky calls').
        requested_by: Who proposes the calls when state has no `requested_by`.
        describe: `describe(call, assessment) -> str`, the text reviewers see for a call.
        name: The node's name in the graph (`tool_gate_condition` returns `"tool_gate"` to ask;
            map it to this name if you change it).
        messages_key: The state key holding the conversation.
        gate_key: The state key holding the gate's record.
        trust_answer_identity: Development only: take the decider from the answer's `approver`
            field when the run's config names nobody (see `ReviewNode`).
        tool_annotations: The tools' MCP annotations (`{name: annotations}` or the tools of
            `list_tools()`), as reversibility hints the policy can only make stricter (see
            `langgraph_hitl.tool_annotations`).

    Raises:
        PolicyError: `policy` is not a `Policy`, bad `approvers` / `timeout`, or bad `tool_annotations`.

    Example:
        ```python
        gate = ToolGateNode(Policy({"search": "fully_reversible", "send_email": "irreversible_high"}))
        builder.add_node("tool_gate", gate)
        builder.add_node("tools", ToolNode(tools, wrap_tool_call=gate.wrap_tool_call))
        ```
    """

    def __init__(
        self,
        policy: Policy,
        *,
        approvers: Sequence[str] | None = None,
        timeout: float | None = None,
        requested_by: str = "agent",
        describe: Callable[[dict[str, Any], Assessment], str] | None = None,
        name: str = "tool_gate",
        messages_key: str = "messages",
        gate_key: str = "tool_gate",
        trust_answer_identity: bool = False,
        tool_annotations: Any = None,
    ) -> None:
        if tool_annotations is not None:
            from ..tool_annotations import policy_with_tool_annotations

            policy = policy_with_tool_annotations(policy, tool_annotations)
        self.core = ToolReviewCore(
            policy,
            name=name,
            approvers=approvers,
            timeout=timeout,
            requested_by=requested_by,
            describe=describe,
            trust_answer_identity=trust_answer_identity,
        )
        self.name = name
        self.messages_key = messages_key
        self.gate_key = gate_key

    def __call__(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        state = view(state)
        ai = last_ai_message(state.get(self.messages_key) or [])
        if ai is None or not ai.tool_calls:
            return {}
        context = dict(state.get("hitl_context") or {})
        record: ToolGateRecord | None = state.get(self.gate_key)
        if record is None or record["key"] != turn_key(ai):
            requester = state.get("requested_by") or self.core.requested_by
            record, messages, events = self.core.assess_turn(
                ai, requester=requester, config=config, context=context
            )
            return {self.gate_key: record, self.messages_key: messages, "audit_trail": events}
        if record["status"] != "pending":
            answered = {
                m.tool_call_id for m in state.get(self.messages_key) or [] if isinstance(m, ToolMessage)
            }
            reopened = self.core.reopen(record, answered, config=config, context=context)
            if reopened is None:
                return {}
            return {self.gate_key: reopened[0], self.messages_key: reopened[1]}
        answer: Any = interrupt(record["request"], response_schema=INTERRUPT_SCHEMA)
        # From here on nothing may raise because of the answer: apply_answer refuses instead.
        record, messages, decisions, events = self.core.apply_answer(
            record, answer, config=config, context=context
        )
        return {
            self.gate_key: record,
            self.messages_key: messages,
            "decisions": decisions,
            "audit_trail": events,
        }

    def wrap_tool_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
        """Tell the model when a reviewer edited a call: pass as `ToolNode(..., wrap_tool_call=gate.wrap_tool_call)`.

        The model's message keeps the call it proposed; this prepends a note naming the call
        that actually ran to that call's result.
        """
        result = handler(request)
        state = getattr(request, "state", None)
        record = state.get(self.gate_key) if isinstance(state, dict) else None
        call_id = request.tool_call.get("id")
        if not record or not isinstance(result, ToolMessage):
            return result
        for c in record["calls"]:
            if c["call"]["id"] == call_id and c["state"] == "edited" and c["run"] is not None:
                note = EDIT_NOTICE.format(name=c["run"]["name"], args=c["run"]["args"])
                content = result.content if isinstance(result.content, str) else str(result.content)
                return result.model_copy(update={"content": f"{note}\n\nTool response:\n{content}"})
        return result


def tool_gate_condition(
    state: dict[str, Any],
    *,
    tools_node: str = "tools",
    messages_key: str = "messages",
    gate_key: str = "tool_gate",
) -> list[Send] | Literal["tool_gate", "model", "__end__"]:
    """Route after a `ToolGateNode`.

    - `[Send(tools_node, calls)]`: run the safe, approved and edited calls (only those);
    - `"tool_gate"`: a question is open (or was refused): ask it;
    - `"model"`: every call was answered without running (rejected, responded, denied): the
      model reads the `ToolMessage`s; map it to your model node's name;
    - `END`: the model's last message has no tool calls.

    Args:
        state: The graph state.
        tools_node: The name of your `ToolNode`.
        messages_key: The state key holding the conversation.
        gate_key: The state key holding the gate's record.

    Returns:
        A list with one `Send`, or a destination name.

    Example:
        ```python
        builder.add_conditional_edges("tool_gate", tool_gate_condition, ["tool_gate", "tools", "model", END])
        ```
    """
    state = view(state)  # type: ignore[assignment]  # TypedDict, pydantic or dataclass state
    messages = state.get(messages_key) or []
    ai = last_ai_message(messages)
    if ai is None or not ai.tool_calls:
        return "__end__"
    record: ToolGateRecord | None = state.get(gate_key)
    if record is None or record["key"] != turn_key(ai) or record["status"] == "pending":
        return "tool_gate"
    answered = {m.tool_call_id for m in messages if isinstance(m, ToolMessage)}
    config = run_config()
    runs = ToolReviewCore.runnable(record, answered, thread_id=thread_id_of(config), key=seal_key_of(config))
    if runs:
        return [Send(tools_node, runs)]
    if any(
        c["state"] in ("safe", "approved", "edited")
        and c["run"] is not None
        and c["run"].get("id") not in answered
        for c in record["calls"]
    ):
        return "tool_gate"  # a call marked to run is not covered by its approvals: the gate asks again
    return "model"
