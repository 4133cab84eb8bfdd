"""The tool gate: per-call approval for tool-calling agents, as a StateGraph node and as create_agent middleware."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pydantic
import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import ToolNode

from langgraph_hitl import Approvals, Policy, Requirement, open_checkpointer
from langgraph_hitl.errors import PolicyError
from langgraph_hitl.patterns import ToolGateNode, ToolGateState, tool_gate_condition
from langgraph_hitl.testing import FakeClock, resume_as

from fake_openai import FakeOpenAI, text, tool_calls

RAN: list[tuple[str, Any]] = []


@tool
def search(q: str) -> str:
    """Search the knowledge base."""
    RAN.append(("search", q))
    return f"3 results for {q}"


@tool
def send_email(to: str, body: str) -> str:
    """Send an email."""
    RAN.append(("send_email", to))
    return f"sent to {to}"


@tool
def delete_record(id: int) -> str:
    """Delete a record."""
    RAN.append(("delete_record", id))
    return f"deleted {id}"


TOOLS = [search, send_email, delete_record]
POLICY = Policy(
    {"search": "fully_reversible", "send_email": "irreversible_low", "delete_record": "irreversible_high"},
    requirements={
        "medium": Requirement(approvers=["alice", "bob"]),
        "high": Requirement(approvers=["alice", "bob"]),
    },
    verify_phrases={"delete_record": "DELETE {id}"},
)
MIXED = [
    ("search", {"q": "churn"}, "c_search"),
    ("send_email", {"to": "all@corp", "body": "hi"}, "c_mail"),
    ("delete_record", {"id": 7}, "c_del"),
]


@pytest.fixture(autouse=True)
def _clear() -> None:
    RAN.clear()


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


def cfg(thread: str = "t") -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}}


def chat(server: FakeOpenAI) -> Any:
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(model="gpt-4o-mini", base_url=server.base_url, api_key="test", max_retries=0)


def build(model: Any, policy: Policy = POLICY, **gate: Any) -> StateGraph[Any, Any, Any, Any]:
    """The documented wiring: model -> tool_gate -> tools -> model."""
    bound = model.bind_tools(TOOLS) if hasattr(model, "bind_tools") else model
    node = ToolGateNode(policy, **gate)
    builder = StateGraph(ToolGateState)
    builder.add_node("model", lambda state: {"messages": [bound.invoke(state["messages"])]})
    builder.add_node("tool_gate", node)
    builder.add_node("tools", ToolNode(TOOLS, wrap_tool_call=node.wrap_tool_call))
    builder.add_edge(START, "model")
    builder.add_edge("model", "tool_gate")
    builder.add_conditional_edges("tool_gate", tool_gate_condition, ["tool_gate", "tools", "model", END])
    builder.add_edge("tools", "model")
    return builder


class Scripted:
    """A model stand-in: returns scripted AI messages and records what it was sent."""

    def __init__(self, *replies: AIMessage) -> None:
        self.replies = list(replies)
        self.seen: list[list[Any]] = []

    def invoke(self, messages: list[Any]) -> AIMessage:
        self.seen.append(list(messages))
        return self.replies.pop(0)


def turn(*calls: tuple[str, dict[str, Any], str]) -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": n, "args": a, "id": i} for n, a, i in calls])


def ask(out: dict[str, Any]) -> dict[str, Any]:
    return out["__interrupt__"][0].value


def test_tool_gate_mixed_turn_safe_runs_edit_and_reject_answered(db_url: str, server: FakeOpenAI) -> None:
    """One safe and two risky calls: search runs, the email runs as edited, the delete is rejected,
    and the real ChatOpenAI client sends the model a ToolMessage for every call next turn."""
    server.push(tool_calls(*MIXED), text("Done: searched, emailed the team, kept record 7."))
    with open_checkpointer(db_url) as saver:
        graph = build(chat(server)).compile(checkpointer=saver)
        req = ask(graph.invoke({"messages": [HumanMessage("Tidy up churn")]}, cfg()))
        assert [a["name"] for a in req["action_requests"]] == ["send_email", "delete_record"]
        assert RAN == []  # nothing runs before the one question is answered
        out = resume_as(
            graph,
            {
                "decisions": [
                    {
                        "type": "edit",
                        "approver": "alice",
                        "edited_action": {"name": "send_email", "args": {"to": "team@corp", "body": "hi"}},
                    },
                    {"type": "reject", "approver": "alice", "message": "keep the record"},
                ]
            },
            cfg(),
        )
    assert "__interrupt__" not in out
    assert sorted(RAN) == [("search", "churn"), ("send_email", "team@corp")]
    sent = server.requests[-1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "tool", "tool"]
    assert (
        {c["id"] for c in sent[1]["tool_calls"]}
        == {m["tool_call_id"] for m in sent[2:]}
        == {"c_search", "c_mail", "c_del"}
    )
    results = {m["tool_call_id"]: m["content"] for m in sent[2:]}
    assert results["c_search"] == "3 results for churn"
    assert "Executed instead: send_email" in results["c_mail"] and results["c_mail"].endswith(
        "sent to team@corp"
    )
    assert results["c_del"].startswith("Not run: a reviewer (alice) rejected it with reason: keep the record")
    assert out["messages"][-1].content.startswith("Done")
    events = [(e["event"], e["action"]) for e in out["audit_trail"]]
    assert events == [
        ("proposed", "search"),
        ("auto_approved", "search"),
        ("proposed", "send_email"),
        ("proposed", "delete_record"),
        ("edited", "send_email"),
        ("rejected", "delete_record"),
    ]


def test_tool_gate_asks_once_in_langchain_shape(db_url: str) -> None:
    """The one interrupt is langchain's HITLRequest (one action request per risky call) plus our hitl key."""
    model = Scripted(turn(*MIXED), AIMessage(content="ok"))
    with open_checkpointer(db_url) as saver:
        graph = build(model).compile(checkpointer=saver)
        out = graph.invoke({"messages": [HumanMessage("Tidy up")]}, cfg())
    assert len(out["__interrupt__"]) == 1
    req = ask(out)
    assert [(a["name"], a["args"]) for a in req["action_requests"]] == [
        ("send_email", {"to": "all@corp", "body": "hi"}),
        ("delete_record", {"id": 7}),
    ]
    assert [c["allowed_decisions"] for c in req["review_configs"]] == [
        ["approve", "edit", "reject", "respond"]
    ] * 2
    hitl = req["hitl"]
    assert (hitl["node"], hitl["risk"], hitl["mode"], hitl["verify_phrase"]) == (
        "tool_gate",
        "high",
        "verify",
        None,
    )
    assert hitl["context"]["tool_calls"][2]["verify_phrase"] == "DELETE 7"
    assert "To approve, type 'DELETE 7'" in req["action_requests"][1]["description"]
    assert hitl["approvers"] == ["alice", "bob"] and hitl["exclude_approvers"] == ["agent"]
    assert [c["state"] for c in hitl["context"]["tool_calls"]] == ["safe", "pending", "pending"]
    assert hitl["on_timeout"] == "reject"


def test_tool_gate_safe_turn_runs_without_pause(db_url: str) -> None:
    """A turn with only safe calls runs them at once; a turn without calls ends the graph."""
    model = Scripted(
        turn(("search", {"q": "a"}, "1"), ("search", {"q": "b"}, "2")), AIMessage(content="found")
    )
    with open_checkpointer(db_url) as saver:
        out = build(model).compile(checkpointer=saver).invoke({"messages": [HumanMessage("find")]}, cfg())
    assert "__interrupt__" not in out and sorted(RAN) == [("search", "a"), ("search", "b")]
    assert out["messages"][-1].content == "found"


def test_tool_gate_edit_to_riskier_tool_is_asked_again(db_url: str) -> None:
    """An email edited into a delete is not approved by the email's answer: the delete is asked about, with its phrase."""
    model = Scripted(turn(("send_email", {"to": "x@corp", "body": "b"}, "c1")), AIMessage(content="ok"))
    with open_checkpointer(db_url) as saver:
        graph = build(model).compile(checkpointer=saver)
        first = ask(graph.invoke({"messages": [HumanMessage("mail")]}, cfg()))
        assert first["hitl"]["verify_phrase"] is None
        again = ask(
            resume_as(
                graph,
                {
                    "type": "edit",
                    "approver": "alice",
                    "edited_action": {"name": "delete_record", "args": {"id": 9}},
                },
                cfg(),
            )
        )
        assert (
            again["action_requests"][0]["name"] == "delete_record"
            and again["hitl"]["verify_phrase"] == "DELETE 9"
        )
        assert RAN == []
        resume_as(graph, {"type": "approve", "approver": "bob", "verify": "DELETE 9"}, cfg())
    assert RAN == [("delete_record", 9)]


def test_tool_gate_edit_to_denied_tool_is_not_run(db_url: str) -> None:
    """An edit the policy denies is not run, and the model is told so."""
    policy = Policy({"send_email": "irreversible_low"}, unknown="deny")
    model = Scripted(turn(("send_email", {"to": "x", "body": "b"}, "c1")), AIMessage(content="ok"))
    with open_checkpointer(db_url) as saver:
        graph = build(model, policy).compile(checkpointer=saver)
        graph.invoke({"messages": [HumanMessage("mail")]}, cfg())
        out = resume_as(
            graph,
            {"type": "edit", "approver": "alice", "edited_action": {"name": "drop_database", "args": {}}},
            cfg(),
        )
    assert RAN == []
    [msg] = [m for m in out["messages"] if isinstance(m, ToolMessage)]
    assert (
        msg.tool_call_id == "c1" and msg.status == "error" and "denied by the approval policy" in msg.content
    )


def test_tool_gate_malformed_batch_is_refused_before_saving(db_url: str) -> None:
    """A malformed `{"decisions": [...]}` fails the response schema; the same question stays answerable."""
    model = Scripted(turn(*MIXED), AIMessage(content="ok"))
    with open_checkpointer(db_url) as saver:
        graph = build(model).compile(checkpointer=saver)
        first = graph.invoke({"messages": [HumanMessage("go")]}, cfg())["__interrupt__"][0]
        with pytest.raises(pydantic.ValidationError):
            resume_as(graph, {"decisions": [{"type": "aprove"}, {"type": "reject"}]}, cfg())
        assert graph.get_state(cfg()).interrupts[0].id == first.id
        out = resume_as(graph, {"decisions": [{"type": "reject", "approver": "bob"}] * 2}, cfg())
    assert "__interrupt__" not in out and RAN == [("search", "churn")]


def test_tool_gate_wrong_count_is_refused_and_asked_again(db_url: str) -> None:
    """One decision for two calls passes the schema but not the request: refused, asked again with the reason."""
    model = Scripted(turn(*MIXED), AIMessage(content="ok"))
    with open_checkpointer(db_url) as saver:
        graph = build(model).compile(checkpointer=saver)
        first = ask(graph.invoke({"messages": [HumanMessage("go")]}, cfg()))
        again = ask(resume_as(graph, {"type": "approve", "approver": "alice"}, cfg()))
        state = graph.get_state(cfg()).values
    assert again["hitl"]["request_id"] != first["hitl"]["request_id"]
    assert "has 2 action(s) to decide; got 1" in again["hitl"]["context"]["refused"]
    assert state["decisions"][-1]["effect"] == "refused" and RAN == []


def test_tool_gate_wrong_verify_phrase_is_refused(db_url: str) -> None:
    """Approving a verify-gated call with the wrong phrase is refused and asked again; nothing runs."""
    model = Scripted(turn(("delete_record", {"id": 7}, "c1")), AIMessage(content="ok"))
    with open_checkpointer(db_url) as saver:
        graph = build(model).compile(checkpointer=saver)
        graph.invoke({"messages": [HumanMessage("delete")]}, cfg())
        again = ask(resume_as(graph, {"type": "approve", "approver": "alice", "verify": "DELETE 8"}, cfg()))
        assert "does not match" in again["hitl"]["context"]["refused"] and RAN == []
        resume_as(graph, {"type": "approve", "approver": "alice", "verify": "DELETE 7"}, cfg())
    assert RAN == [("delete_record", 7)]


def test_tool_gate_verify_phrase_is_checked_per_call(db_url: str) -> None:
    """In a batch, only the verify-gated call's decision needs its phrase; a missing one is refused."""
    model = Scripted(turn(*MIXED), AIMessage(content="ok"))
    with open_checkpointer(db_url) as saver:
        graph = build(model).compile(checkpointer=saver)
        graph.invoke({"messages": [HumanMessage("go")]}, cfg())
        again = ask(resume_as(graph, {"decisions": [{"type": "approve", "approver": "bob"}] * 2}, cfg()))
        assert "missing. Type exactly 'DELETE 7' to approve request" in again["hitl"]["context"]["refused"]
        assert "action 2 ('delete_record')" in again["hitl"]["context"]["refused"]
        resume_as(
            graph,
            {
                "decisions": [
                    {"type": "approve", "approver": "bob"},
                    {"type": "approve", "approver": "bob", "verify": "DELETE 7"},
                ]
            },
            cfg(),
        )
    assert sorted(RAN) == [("delete_record", 7), ("search", "churn"), ("send_email", "all@corp")]


def test_tool_gate_respond_answers_for_the_tool(db_url: str) -> None:
    """`respond` skips the tool; the model gets the reviewer's answer as a successful ToolMessage."""
    model = Scripted(turn(("send_email", {"to": "x", "body": "b"}, "c1")), AIMessage(content="ok"))
    with open_checkpointer(db_url) as saver:
        graph = build(model).compile(checkpointer=saver)
        graph.invoke({"messages": [HumanMessage("mail")]}, cfg())
        resume_as(graph, {"type": "respond", "approver": "bob", "message": "I phoned them instead."}, cfg())
    tool_msg = model.seen[-1][-1]
    assert isinstance(tool_msg, ToolMessage) and tool_msg.status == "success"
    assert tool_msg.content == "I phoned them instead." and RAN == []


def test_tool_gate_critical_call_needs_two_distinct_approvers(db_url: str) -> None:
    """A critical call is asked about twice; the first approver may not give the second approval."""
    policy = Policy(
        {"wire": "irreversible_high"}, rules=[], requirements={"high": Requirement(required_approvals=2)}
    )
    tools_model = Scripted(turn(("wire", {"eur": 9000}, "c1")), AIMessage(content="ok"))
    with open_checkpointer(db_url) as saver:
        graph = build(tools_model, policy).compile(checkpointer=saver)
        graph.invoke({"messages": [HumanMessage("pay")]}, cfg())
        second = ask(resume_as(graph, {"type": "approve", "approver": "alice"}, cfg()))
        assert second["hitl"]["stage"] == 2 and "alice" in second["hitl"]["exclude_approvers"]
        ask(resume_as(graph, {"type": "approve", "approver": "alice"}, cfg()))
        assert graph.get_state(cfg()).values["decisions"][-1]["effect"] == "refused"
        out = resume_as(graph, {"type": "approve", "approver": "bob"}, cfg())
    wire_result = [m for m in out["messages"] if isinstance(m, ToolMessage)][0]
    assert (
        wire_result.tool_call_id == "c1" and "not a valid tool" in wire_result.content
    )  # approved, sent to ToolNode


def test_tool_gate_per_call_approvers_are_enforced(db_url: str) -> None:
    """Someone allowed to approve one call may not approve another call whose approvers exclude them."""
    policy = Policy(
        {"send_email": "irreversible_low", "delete_record": "irreversible_high"},
        requirements={
            "medium": Requirement(approvers=["alice", "carol"]),
            "high": Requirement(approvers=["alice"]),
        },
    )
    model = Scripted(
        turn(("send_email", {"to": "x", "body": "b"}, "c1"), ("delete_record", {"id": 1}, "c2")),
        AIMessage(content="ok"),
    )
    with open_checkpointer(db_url) as saver:
        graph = build(model, policy).compile(checkpointer=saver)
        req = ask(graph.invoke({"messages": [HumanMessage("go")]}, cfg()))
        assert req["hitl"]["approvers"] == ["alice", "carol"]
        again = ask(resume_as(graph, {"decisions": [{"type": "approve", "approver": "carol"}] * 2}, cfg()))
        assert "'carol' may not decide request" in again["hitl"]["context"]["refused"]
        assert "action 2 ('delete_record'). Approvers: alice." in again["hitl"]["context"]["refused"]
        resume_as(
            graph,
            {
                "decisions": [
                    {"type": "approve", "approver": "carol"},
                    {"type": "reject", "approver": "carol"},
                ]
            },
            cfg(),
        )
    assert RAN == [("send_email", "x")]


def test_tool_gate_runner_timeout_rejects_every_pending_call(db_url: str) -> None:
    """The runner's single timeout decision answers the whole request: every risky call fails closed."""
    model = Scripted(turn(*MIXED), AIMessage(content="ok"))
    clock = FakeClock()
    with Approvals.open(build(model, timeout=60), db_url, clock=clock) as hitl:
        hitl.start("t", {"messages": [HumanMessage("go")]})
        clock.advance(61)
        assert len(hitl.expire_overdue()) == 1
        out = hitl.graph.get_state(cfg()).values
    assert RAN == [("search", "churn")]
    timed_out = [m.content for m in out["messages"] if isinstance(m, ToolMessage) and m.status == "error"]
    assert len(timed_out) == 2 and all("nobody approved it in time" in c for c in timed_out)
    assert [d["effect"] for d in out["decisions"]] == ["timed_out", "timed_out"]


def test_tool_gate_denied_call_gets_a_tool_message(db_url: str) -> None:
    """A call the policy denies never runs and is answered at once, next to the calls that do run."""
    policy = Policy({"search": "fully_reversible"}, unknown="deny")
    model = Scripted(turn(("search", {"q": "a"}, "1"), ("rm_rf", {}, "2")), AIMessage(content="ok"))
    with open_checkpointer(db_url) as saver:
        out = (
            build(model, policy).compile(checkpointer=saver).invoke({"messages": [HumanMessage("x")]}, cfg())
        )
    replies = {m.tool_call_id: m for m in model.seen[-1] if isinstance(m, ToolMessage)}
    assert set(replies) == {"1", "2"} and "approval policy denies `rm_rf`" in replies["2"].content
    assert "__interrupt__" not in out and RAN == [("search", "a")]


def test_tool_gate_with_approvals_runner(db_url: str) -> None:
    """The runner indexes the gate's question and resumes it with a validated decision."""
    model = Scripted(turn(("send_email", {"to": "x", "body": "b"}, "c1")), AIMessage(content="sent"))
    with Approvals.open(build(model), db_url) as hitl:
        hitl.start("agent-1", {"messages": [HumanMessage("mail")]})
        [request] = hitl.pending().items
        hitl.decide(request.request_id, {"type": "approve"}, approver="bob")
        assert hitl.pending().items == []
    assert RAN == [("send_email", "x")]


def test_tool_gate_batch_through_approvals_runner(db_url: str) -> None:
    """A two-call question answered through the runner with langchain's batch shape settles both calls."""
    model = Scripted(turn(*MIXED), AIMessage(content="ok"))
    with Approvals.open(build(model), db_url) as hitl:
        hitl.start("agent-2", {"messages": [HumanMessage("go")]})
        [request] = hitl.pending().items
        hitl.decide(
            request.request_id, {"decisions": [{"type": "reject"}, {"type": "reject"}]}, approver="bob"
        )
        assert hitl.pending().items == []
        assert [e["event"] for e in hitl.history("agent-2") if e["actor"] == "bob"] == [
            "rejected",
            "rejected",
        ]


def test_tool_gate_node_checks_options() -> None:
    """ToolGateNode refuses a non-policy and bad options when it is built."""
    with pytest.raises(PolicyError, match="needs a Policy"):
        ToolGateNode({"search": "fully_reversible"})  # type: ignore[arg-type]
    with pytest.raises(PolicyError, match="approvers='alice'"):
        ToolGateNode(POLICY, approvers="alice")
    with pytest.raises(PolicyError, match="timeout=-1"):
        ToolGateNode(POLICY, timeout=-1)


# -- create_agent middleware ---------------------------------------------------------------------------


def test_tool_gate_middleware_mixed_turn_with_create_agent(db_url: str, server: FakeOpenAI) -> None:
    """The same scenario through create_agent: one question (re-asked after a bad answer that names
    nobody; one that names its approver raises unsaved), then a ToolMessage for every call in the
    model's next request."""
    from langchain.agents import create_agent

    from langgraph_hitl.patterns import ToolGateMiddleware

    server.push(tool_calls(*MIXED), text("done"))
    with open_checkpointer(db_url) as saver:
        agent = create_agent(chat(server), TOOLS, middleware=[ToolGateMiddleware(POLICY)], checkpointer=saver)
        req = ask(agent.invoke({"messages": [("user", "Tidy up churn")]}, cfg()))
        assert [a["name"] for a in req["action_requests"]] == ["send_email", "delete_record"]
        with pytest.raises(pydantic.ValidationError, match=r"has 2 action\(s\) to decide; got 1"):
            resume_as(agent, {"type": "approve", "approver": "alice"}, cfg())
        again = ask(resume_as(agent, {"type": "approve"}, cfg(), user="alice"))
        assert "has 2 action(s) to decide; got 1" in again["hitl"]["context"]["refused"]
        out = resume_as(
            agent,
            {
                "decisions": [
                    {
                        "type": "edit",
                        "approver": "alice",
                        "edited_action": {"name": "send_email", "args": {"to": "team@corp", "body": "hi"}},
                    },
                    {"type": "reject", "approver": "alice", "message": "keep it"},
                ]
            },
            cfg(),
        )
    assert sorted(RAN) == [("search", "churn"), ("send_email", "team@corp")]
    sent = server.requests[-1]["messages"]
    assert sorted(m["tool_call_id"] for m in sent if m["role"] == "tool") == ["c_del", "c_mail", "c_search"]
    assert [d["effect"] for d in out["decisions"]] == ["refused", "edited", "rejected"]
    assert out["messages"][-1].content == "done"


def test_tool_gate_middleware_safe_calls_run_without_pause(db_url: str, server: FakeOpenAI) -> None:
    """Safe calls pass the middleware without a question."""
    from langchain.agents import create_agent

    from langgraph_hitl.patterns import ToolGateMiddleware

    server.push(tool_calls(("search", {"q": "x"}, "s1")), text("found"))
    with open_checkpointer(db_url) as saver:
        agent = create_agent(chat(server), TOOLS, middleware=[ToolGateMiddleware(POLICY)], checkpointer=saver)
        out = agent.invoke({"messages": [("user", "find x")]}, cfg())
    assert "__interrupt__" not in out and RAN == [("search", "x")]
    assert json.loads(json.dumps(out["tool_gate"]["calls"][0]["state"])) == "safe"


def test_tool_gate_middleware_refused_answer_never_replays_as_an_approvers(
    db_url: str, server: FakeOpenAI
) -> None:
    """An edit from someone who may not decide is refused before it is saved, so an approver's later
    resume cannot replay it under the approver's name (it used to run the refused edit)."""
    from langchain.agents import create_agent

    from langgraph_hitl.patterns import ToolGateMiddleware

    server.push(tool_calls(("send_email", {"to": "team@corp", "body": "hi"}, "c_mail")), text("done"))
    with open_checkpointer(db_url) as saver:
        agent = create_agent(chat(server), TOOLS, middleware=[ToolGateMiddleware(POLICY)], checkpointer=saver)
        agent.invoke({"messages": [("user", "Email the team")]}, cfg())
        edit = {
            "type": "edit",
            "edited_action": {"name": "send_email", "args": {"to": "x@evil", "body": "hi"}},
        }
        with pytest.raises(pydantic.ValidationError, match="'eve' may not decide request"):
            resume_as(agent, edit, cfg(), user="eve")
        out = resume_as(agent, {"type": "approve"}, cfg(), user="alice")
    assert RAN == [("send_email", "team@corp")]
    assert [(d["approver"], d["effect"]) for d in out["decisions"]] == [("alice", "approved")]


def scripted_agent(*calls: tuple[str, dict[str, Any], str], **options: Any) -> Any:
    """A create_agent agent with `ToolGateMiddleware(POLICY)` whose model makes `calls` (message id "0"), then answers."""
    from langchain.agents import create_agent
    from langgraph.checkpoint.memory import InMemorySaver
    from vendored.langchain_hitl.model import FakeToolCallingModel

    from langgraph_hitl.patterns import ToolGateMiddleware

    model = FakeToolCallingModel(tool_calls=[[{"name": n, "args": a, "id": i} for n, a, i in calls], []])
    return create_agent(
        model, TOOLS, middleware=[ToolGateMiddleware(POLICY)], checkpointer=InMemorySaver(), **options
    )


def replies(agent: Any) -> list[ToolMessage]:
    return [m for m in agent.get_state(cfg()).values["messages"] if isinstance(m, ToolMessage)]


@pytest.mark.parametrize(
    "changed",
    [("send_email", {"to": "eve@evil", "body": "hi"}), ("delete_record", {"id": 7})],
    ids=["other-args", "other-tool"],
)
def test_tool_gate_middleware_call_changed_after_approval_is_not_run(changed: tuple[str, Any]) -> None:
    """(F1) An approved call changed with `update_state` at a breakpoint (same ids) is not run; the model is told why."""
    agent = scripted_agent(
        ("send_email", {"to": "team@corp", "body": "hi"}, "c_mail"), interrupt_before=["tools"]
    )
    agent.invoke({"messages": [("user", "Email the team")]}, cfg())
    resume_as(agent, {"type": "approve"}, cfg(), user="alice")
    name, args = changed
    swapped = AIMessage(content="", id="0", tool_calls=[{"name": name, "args": args, "id": "c_mail"}])
    agent.update_state(cfg(), {"messages": [swapped]})
    agent.invoke(None, cfg())
    assert RAN == []
    [reply] = replies(agent)
    assert reply.status == "error" and "changed after it was reviewed" in reply.content


def test_tool_gate_middleware_calls_sharing_an_id_with_a_gated_call_never_run() -> None:
    """(F2) A safe call and a gated call sharing one id are both denied when assessed: no question, neither runs."""
    agent = scripted_agent(
        ("search", {"q": "x"}, "dup"),
        ("send_email", {"to": "team@corp", "body": "hi"}, "dup"),
        ("search", {"q": "other"}, "s1"),
    )
    out = agent.invoke({"messages": [("user", "go")]}, cfg())
    assert "__interrupt__" not in out and RAN == [("search", "other")]
    shared = [m for m in replies(agent) if m.tool_call_id == "dup"]
    assert len(shared) == 2 and all("shared by 2 calls" in m.content for m in shared)


def test_tool_gate_middleware_answer_naming_someone_else_is_never_saved() -> None:
    """(F3) bob's approve naming alice raises unsaved, so it cannot replay as alice's when she rejects."""
    agent = scripted_agent(("send_email", {"to": "x@evil", "body": "hi"}, "c_mail"))
    first = agent.invoke({"messages": [("user", "Email")]}, cfg())["__interrupt__"][0]
    with pytest.raises(pydantic.ValidationError, match="names approver 'alice' but was submitted by 'bob'"):
        resume_as(agent, {"type": "approve", "approver": "alice"}, cfg(), user="bob")
    assert [i.id for i in agent.get_state(cfg()).interrupts] == [first.id]
    out = resume_as(agent, {"type": "reject", "message": "no"}, cfg(), user="alice")
    assert RAN == []
    assert [(d["type"], d["approver"]) for d in out["decisions"]] == [("reject", "alice")]


def test_tool_gate_node_runs_only_recorded_calls() -> None:
    """`ToolGateNode` runs calls from its sealed record: a swap at a breakpoint runs the approved call, not the swapped one."""
    from langgraph.checkpoint.memory import InMemorySaver

    model = Scripted(
        turn(("send_email", {"to": "team@corp", "body": "hi"}, "c_mail")), AIMessage(content="ok")
    )
    graph = build(model).compile(checkpointer=InMemorySaver(), interrupt_before=["tools"])
    graph.invoke({"messages": [HumanMessage("go")]}, cfg())
    resume_as(graph, {"type": "approve", "approver": "alice"}, cfg())
    [ai] = [m for m in graph.get_state(cfg()).values["messages"] if isinstance(m, AIMessage)]
    swapped = {"name": "send_email", "args": {"to": "eve@evil", "body": "hi"}, "id": "c_mail"}
    graph.update_state(cfg(), {"messages": [AIMessage(content="", id=ai.id, tool_calls=[swapped])]})
    while graph.get_state(cfg()).next:
        graph.invoke(None, cfg())
    assert RAN == [("send_email", "team@corp")]


def test_tool_gate_middleware_refuses_bad_max_asks() -> None:
    """max_asks must be positive."""
    from langgraph_hitl.patterns import ToolGateMiddleware

    with pytest.raises(PolicyError, match="max_asks=0"):
        ToolGateMiddleware(POLICY, max_asks=0)


def test_patterns_exports_resolve_and_extras_stay_lazy() -> None:
    """`langgraph_hitl.patterns.__all__` is sorted and resolves; importing it pulls in neither langchain nor openai."""
    import subprocess
    import sys

    import langgraph_hitl.patterns as patterns

    assert patterns.__all__ == sorted(patterns.__all__)
    for name in patterns.__all__:
        assert getattr(patterns, name) is not None, name
    with pytest.raises(AttributeError, match="has no attribute 'ToolGate'"):
        patterns.ToolGate  # noqa: B018
    code = "import sys, langgraph_hitl.patterns; print(' '.join(sys.modules))"
    loaded = {
        m.split(".")[0]
        for m in subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.split()
    }
    assert not loaded & {"langchain", "langchain_openai", "openai"}


def test_tool_gate_node_edit_into_a_reject_only_gate_runs_nothing(db_url: str) -> None:
    """An edit turning a call into one whose gate only lets reviewers reject (here `medium`) is
    refused: the edited call does not run (the gate would otherwise get softer through an edit)."""
    policy = Policy(
        {"send_email": "irreversible_low", "delete_record": "irreversible_high"},
        requirements={"medium": Requirement(allowed_decisions=["reject"])},
    )
    model = Scripted(turn(("delete_record", {"id": 7}, "c1")), AIMessage(content="done"))
    with open_checkpointer(db_url) as saver:
        graph = build(model, policy).compile(checkpointer=saver)
        ask(graph.invoke({"messages": [HumanMessage("clean up")]}, cfg()))
        edit = {"name": "send_email", "args": {"to": "bob@example.com", "body": "hi"}}
        out = resume_as(graph, {"type": "edit", "edited_action": edit, "approver": "alice"}, cfg())
    assert RAN == [] and "__interrupt__" not in out
    assert [c["state"] for c in out["tool_gate"]["calls"]] == ["denied"]
