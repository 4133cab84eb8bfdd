"""A tool-calling agent LangGraph Server runs: its risky tool calls of one turn are asked about together.

    model -> tool_gate -(safe and approved calls)-> tools -> model
                |  one question for every risky call of the turn
                `-(every call answered)-> model             (no tool calls) -> END

The model is scripted so the deployment runs offline: it proposes the tool calls that the
user's message lists as JSON (`[{"name": "delete_record", "args": {"record_id": 7}}, ...]`),
then answers in words once the tools have replied. Put a chat model with `bind_tools` there.

Agent Inbox shows only the first action request of a question; on LangGraph Server the gate's
question carries every call in it (see the README's "Agent Inbox" section): each call with its
arguments and risk in the description, one field per call in the Edit card.
"""

from __future__ import annotations

import json
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import ToolNode

from langgraph_hitl import Policy
from langgraph_hitl.patterns import ToolGateNode, ToolGateState, tool_gate_condition


@tool
def search_crm(query: str) -> str:
    """Search the CRM for accounts matching the query."""
    return f"1 account matches {query!r}"


@tool
def send_email(to: str, subject: str) -> str:
    """Send an email."""
    return f"email {subject!r} sent to {to}"


@tool
def delete_record(record_id: int) -> str:
    """Delete a CRM record permanently."""
    return f"record {record_id} deleted"


TOOLS = [search_crm, send_email, delete_record]

POLICY = Policy(
    {
        "search_crm": "fully_reversible",
        "send_email": "irreversible_low",
        "delete_record": "irreversible_high",
    },
    verify_phrases={"delete_record": "DELETE {record_id}"},
    version="server-tools-1",
)


def model(state: dict[str, Any]) -> dict[str, Any]:
    """A stand-in for the chat model: the tool calls the user's message lists, then a final answer."""
    last = state["messages"][-1]
    if isinstance(last, HumanMessage):
        calls = json.loads(str(last.content))
        tool_calls = [{"name": c["name"], "args": c["args"], "id": f"call_{i}"} for i, c in enumerate(calls)]
        return {"messages": [AIMessage(content="", tool_calls=tool_calls)]}
    return {"messages": [AIMessage(content="Done.")]}


def build() -> StateGraph[Any, Any, Any, Any]:
    """model -> tool_gate -> tools -> model."""
    gate = ToolGateNode(POLICY)
    builder = StateGraph(ToolGateState)
    builder.add_node("model", model)
    builder.add_node("tool_gate", gate)
    builder.add_node("tools", ToolNode(TOOLS, wrap_tool_call=gate.wrap_tool_call))
    builder.add_edge(START, "model")
    builder.add_edge("model", "tool_gate")
    builder.add_conditional_edges("tool_gate", tool_gate_condition, ["tool_gate", "tools", "model", END])
    builder.add_edge("tools", "model")
    return builder


graph = build().compile()
