"""A tool-calling agent whose risky tool calls need approval, one question per model turn.

    model ──> tool_gate ──(safe + approved calls)──> tools ──> model
                 │  one interrupt for all risky calls of the turn
                 └──(every call answered)──> model           (no tool calls) ──> END

In one turn the model asks for three tools: `search_crm` (safe, read-only), `send_email` to
all staff and `delete_record` (both risky). The gate lets the search through and asks ONCE
about the other two. The reviewer edits the email to go to the account team only and rejects
the delete. The search and the edited email run; the delete does not; and the model's next
turn receives a ToolMessage for every one of its three calls, so no call is left unanswered.

With OPENAI_API_KEY set the agent is `ChatOpenAI` (its tool calls may differ; the reviewer
below still edits emails and rejects deletes). Without it, a scripted model plays the same
turn offline. The same gate for `langchain.agents.create_agent` is `ToolGateMiddleware`.

    python examples/tool_agent.py
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import ToolNode
from langgraph.types import Command

from langgraph_hitl import Policy, Requirement, open_checkpointer
from langgraph_hitl.patterns import ToolGateNode, ToolGateState, tool_gate_condition
from langgraph_hitl.testing import authenticated

RAN: list[str] = []
TO_MODEL: list[list[Any]] = []  # what each model call was sent


@tool
def search_crm(query: str) -> str:
    """Search the CRM for accounts matching the query."""
    RAN.append(f"search_crm({query!r})")
    return "account 4821 'Acme Corp': churned 2024-11-02, owner: team-acme@example.com"


@tool
def send_email(to: str, subject: str, body: str) -> str:
    """Send an email."""
    RAN.append(f"send_email(to={to!r})")
    return f"email sent to {to}"


@tool
def delete_record(record_id: int) -> str:
    """Delete a CRM record permanently."""
    RAN.append(f"delete_record({record_id})")
    return f"record {record_id} deleted"


TOOLS = [search_crm, send_email, delete_record]

POLICY = Policy(
    {
        "search_crm": "fully_reversible",
        "send_email": "irreversible_low",
        "delete_record": "irreversible_high",
    },
    requirements={"medium": Requirement(approvers=["ops_lead"]), "high": Requirement(approvers=["ops_lead"])},
    verify_phrases={"delete_record": "DELETE {record_id}"},
    impacts={"delete_record": "Deletes the account and its history; there is no undo."},
)


class ScriptedModel(GenericFakeChatModel):
    """A stand-in for a chat model that supports tools: replays scripted turns, offline."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedModel:  # type: ignore[override]
        return self


def make_model() -> Any:
    if os.environ.get("OPENAI_API_KEY"):
        from langchain_openai import ChatOpenAI

        print("model: ChatOpenAI")
        return ChatOpenAI(model=os.environ.get("OPENAI_MODEL", "gpt-4o-mini"), temperature=0, max_retries=1)
    print("model: scripted (set OPENAI_API_KEY to use ChatOpenAI)")
    return ScriptedModel(
        messages=iter(
            [
                AIMessage(
                    content="",
                    tool_calls=[
                        {"name": "search_crm", "args": {"query": "churned Acme"}, "id": "call_search"},
                        {
                            "name": "send_email",
                            "args": {
                                "to": "all-staff@example.com",
                                "subject": "Acme churned",
                                "body": "Acme has left us.",
                            },
                            "id": "call_email",
                        },
                        {"name": "delete_record", "args": {"record_id": 4821}, "id": "call_delete"},
                    ],
                ),
                AIMessage(content="I told the Acme account team; the record stays, as requested."),
            ]
        )
    )


SYSTEM = (
    "You are a CRM assistant. Use the tools. For the task, search the CRM, email people about it, "
    "and clean up churned records."
)


def build(model: Any) -> StateGraph[Any, Any, Any, Any]:
    bound = model.bind_tools(TOOLS)
    gate = ToolGateNode(POLICY)
    builder = StateGraph(ToolGateState)

    def call_model(state: dict[str, Any]) -> dict[str, Any]:
        messages = [SystemMessage(SYSTEM), *state["messages"]]
        TO_MODEL.append(messages)
        return {"messages": [bound.invoke(messages)]}

    builder.add_node("model", call_model)
    builder.add_node("tool_gate", gate)
    builder.add_node("tools", ToolNode(TOOLS, wrap_tool_call=gate.wrap_tool_call))
    builder.add_edge(START, "model")
    builder.add_edge("model", "tool_gate")
    builder.add_conditional_edges("tool_gate", tool_gate_condition, ["tool_gate", "tools", "model", END])
    builder.add_edge("tools", "model")
    return builder


def review(request: dict[str, Any]) -> dict[str, Any]:
    """What the ops lead decides for each risky call: narrow emails to the account team, never delete."""
    decisions = []
    for action in request["action_requests"]:
        if action["name"] == "send_email":
            decisions.append(
                {
                    "type": "edit",
                    "approver": "ops_lead",
                    "edited_action": {
                        "name": "send_email",
                        "args": {**action["args"], "to": "team-acme@example.com"},
                    },
                }
            )
        elif action["name"] == "delete_record":
            decisions.append(
                {
                    "type": "reject",
                    "approver": "ops_lead",
                    "message": "Keep churned accounts for 90 days (retention policy).",
                }
            )
        else:
            decisions.append({"type": "approve", "approver": "ops_lead"})
    return {"decisions": decisions}


def main() -> None:
    model = make_model()
    with open_checkpointer(f"sqlite:///{Path(tempfile.mkdtemp()) / 'hitl.db'}") as saver:
        graph = build(model).compile(checkpointer=saver)
        config = {"configurable": {"thread_id": "crm-cleanup"}}
        out = graph.invoke(
            {"messages": [HumanMessage("Acme churned. Tell people and clean up their record.")]}, config
        )
        for _ in range(5):  # a real model may take a few turns
            if "__interrupt__" not in out:
                break
            request = out["__interrupt__"][0].value
            first = next(m for m in out["messages"] if isinstance(m, AIMessage) and m.tool_calls)
            print(f"the model asked for: {', '.join(c['name'] for c in first.tool_calls)}")
            print(f"one question, {len(request['action_requests'])} risky call(s):")
            for action in request["action_requests"]:
                print(f"   - {action['name']} {action['args']}")
            print(f"   ran so far: {RAN or 'nothing'}")
            answer = review(request)
            for action, decision in zip(request["action_requests"], answer["decisions"], strict=True):
                print(f"   ops_lead: {decision['type']} {action['name']}")
            # Who answers comes from the run's config (LangGraph Server puts its authenticated user
            # there), never from the answer itself.
            out = graph.invoke(Command(resume=answer), authenticated(config, "ops_lead"))

        print(f"ran: {sorted(RAN)}")  # the tool node runs the calls concurrently, in any order
        sent = TO_MODEL[-1]  # the model's last call: after the AI turn with tools come their results
        ai = next(m for m in sent if isinstance(m, AIMessage) and m.tool_calls)
        answers = {m.tool_call_id: m for m in sent if isinstance(m, ToolMessage)}
        print(
            f"the model's next turn receives a ToolMessage for every call: "
            f"{sorted(answers) == sorted(c['id'] for c in ai.tool_calls)}"
        )
        for call in ai.tool_calls:
            msg = answers[call["id"]]
            note = " (with an edit notice)" if "Executed instead" in str(msg.content) else ""
            print(f"   {call['name']:<14} [{msg.status}] {str(msg.content).splitlines()[-1][:80]}{note}")
        print(f"model: {out['messages'][-1].content}")
        print(f"audit: {[e['event'] + ':' + str(e['action']) for e in out['audit_trail']]}")


if __name__ == "__main__":
    main()
