"""Answers in langchain's and Agent Inbox's formats, and payloads that are strict langchain `HITLRequest`s.

Every answer shape is tried at both doors, on real graphs with a real SQLite checkpointer:
straight into the graph as an authenticated user (`resume_as(..., user="alice")`, the shape
of a LangGraph Server resume) and through `Approvals.decide`. Every payload the package emits
is parsed with langchain's own `HITLRequest` TypedDict, strictly.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import count
from typing import Any, get_args

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain.agents.middleware.human_in_the_loop import DecisionType, HITLRequest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import ToolNode
from pydantic import TypeAdapter

from langgraph_hitl import Approvals, Policy, Requirement, add_approval_flow, open_checkpointer
from langgraph_hitl.errors import DecisionError
from langgraph_hitl.patterns import (
    HumanLevel,
    ModelLevel,
    Stage,
    ToolGateNode,
    ToolGateState,
    create_approval_pipeline,
    create_escalation_chain,
    tool_gate_condition,
)
from langgraph_hitl.testing import resume_as

from graphs import HANDLERS, State, action, build, plan, policy

SETTINGS: dict[str, Any] = {
    "max_examples": 30,
    "deadline": None,
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow],
}
STRICT = TypeAdapter(HITLRequest)
"""langchain's own request type: a payload it refuses is one a strict client cannot parse."""

MESSAGE = st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=30)
NEW_ID = st.integers(min_value=8, max_value=10**6)


def cfg(thread: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}}


def ask(out: dict[str, Any]) -> dict[str, Any]:
    return out["__interrupt__"][0].value


# -- the answers, and what each should do to the paused `delete_record(id=7)` ---------------------------


@st.composite
def langchain_answers(draw: st.DrawFn) -> tuple[Any, str, Any]:
    """langchain's decision with `"args": null`, alone or in `{"decisions": [...]}`; the status and
    the id it should leave (the executed id, or the message)."""
    kind = draw(st.sampled_from(["approve", "edit", "reject", "respond"]))
    decision: dict[str, Any] = {"type": kind, "args": None}
    expected: tuple[str, Any] = ("executed", 7)
    if kind == "edit":
        new_id = draw(NEW_ID)
        decision["edited_action"] = {"name": "delete_record", "args": {"id": new_id}}
        expected = ("executed", new_id)
    elif kind in ("reject", "respond"):
        text = draw(MESSAGE)
        decision["message"] = text
        expected = ("rejected" if kind == "reject" else "responded", text)
    answer = {"decisions": [decision]} if draw(st.booleans()) else decision
    return answer, *expected


@st.composite
def inbox_answers(draw: st.DrawFn) -> tuple[Any, str, Any]:
    """Agent Inbox's `HumanResponse`, alone or in a list of one; the status and id or message it should leave."""
    kind = draw(st.sampled_from(["accept", "edit", "response", "ignore"]))
    expected: tuple[str, Any]
    if kind == "accept":
        echo = draw(st.sampled_from([None, {"action": "delete_record", "args": {"id": 7}}]))
        response: dict[str, Any] = {"type": "accept", "args": echo}
        expected = ("executed", 7)
    elif kind == "edit":
        new_id = draw(NEW_ID)
        response = {"type": "edit", "args": {"action": "delete_record", "args": {"id": new_id}}}
        expected = ("executed", new_id)
    elif kind == "response":
        text = draw(MESSAGE)
        response, expected = {"type": "response", "args": text}, ("responded", text)
    else:
        response, expected = {"type": "ignore", "args": None}, ("rejected", None)
    answer = [response] if draw(st.booleans()) else response
    return answer, *expected


def check_outcome(values: dict[str, Any], status: str, detail: Any) -> None:
    """The paused delete ended as the answer said, decided by alice (the config's user, not the answer)."""
    assert values["status"] == status, values.get("decisions")
    if status == "executed":
        assert values["result"]["args"] == {"id": detail}
    elif detail is not None:
        assert values["review_message"] == detail
    decided = [d for d in values["decisions"] if d["effect"] != "refused"]
    assert [d["approver"] for d in decided] == ["alice"]


# -- item 5: the answers are accepted -----------------------------------------------------------------


@pytest.fixture
def graph(db_url: str) -> Iterator[Any]:
    with open_checkpointer(db_url) as saver:
        yield build().compile(checkpointer=saver)


@pytest.mark.parametrize("answers", [langchain_answers(), inbox_answers()], ids=["langchain", "agent_inbox"])
def test_resume_in_client_formats_decides_as_the_config_user(graph: Any, answers: Any) -> None:
    """langchain's decisions with `args: null` and Agent Inbox's responses, resumed as alice, decide the delete."""
    threads = count()

    @settings(**SETTINGS)
    @given(case=answers)
    def check(case: tuple[Any, str, Any]) -> None:
        answer, status, detail = case
        config = cfg(f"raw-{next(threads)}")
        assert "__interrupt__" in graph.invoke(action("delete_record", id=7), config)
        out = resume_as(graph, answer, config, user="alice")
        assert "__interrupt__" not in out
        check_outcome(out, status, detail)

    check()


@pytest.mark.parametrize("answers", [langchain_answers(), inbox_answers()], ids=["langchain", "agent_inbox"])
def test_decide_in_client_formats(db_url: str, answers: Any) -> None:
    """`Approvals.decide` takes the same shapes as a raw resume, the decider from its `approver` argument."""
    threads = count()
    with Approvals.open(build(), db_url) as hitl:

        @settings(**SETTINGS)
        @given(case=answers)
        def check(case: tuple[Any, str, Any]) -> None:
            answer, status, detail = case
            run = hitl.start(f"runner-{next(threads)}", action("delete_record", id=7))
            result = hitl.decide(run.pending[0].request_id, answer, approver="alice")
            assert result.status == "done"
            check_outcome(result.values, status, detail)

        check()
        assert hitl.store.audit.verify().ok


def test_agent_inbox_accept_without_phrase_is_refused_and_asked_again(db_url: str) -> None:
    """A phrase-gated delete answered with Agent Inbox's accept is re-asked with the reason; nothing runs."""
    with open_checkpointer(db_url) as saver:
        graph = build(verify=True).compile(checkpointer=saver)
        config = cfg("phrase")
        first = ask(graph.invoke(action("delete_record", id=7), config))
        accept = [{"type": "accept", "args": {"action": "delete_record", "args": {"id": 7}}}]
        out = resume_as(graph, accept, config, user="alice")
        again = ask(out)
        assert again["hitl"]["request_id"] != first["hitl"]["request_id"]
        assert "Confirmation phrase missing" in again["hitl"]["refused"]
        assert "'DELETE 7'" in again["hitl"]["refused"]
        assert out["status"] != "executed" and out["result"] is None
        assert [(d["effect"], d["approver"]) for d in out["decisions"]] == [("refused", "alice")]
        out = resume_as(graph, {"type": "approve", "verify": "DELETE 7"}, config, user="alice")
        assert out["status"] == "executed"


def test_agent_inbox_edit_is_read_back_through_its_fields(db_url: str) -> None:
    """Agent Inbox sends edited fields as text: a number typed as `'8'` edits to the number 8; text that is not
    JSON is refused naming the field (the request stays pending); the phrase comes from the `confirm` field."""
    with Approvals.open(build(verify=True), db_url) as hitl:
        rid = hitl.start("edit", action("delete_record", id=7)).pending[0].request_id
        typed = [{"type": "edit", "args": {"action": "delete_record", "args": {"id": "8x", "confirm": ""}}}]
        with pytest.raises(
            DecisionError, match=r"Field 'id' held 7, not text; the edit sent '8x', which is not JSON"
        ):
            hitl.decide(rid, typed, approver="alice")
        assert hitl.get(rid).status == "pending"
        typed = [
            {"type": "edit", "args": {"action": "delete_record", "args": {"id": "8", "confirm": "DELETE 7"}}}
        ]
        run = hitl.decide(rid, typed, approver="alice")
        assert run.values["decisions"][-1]["edited_action"] == {"name": "delete_record", "args": {"id": 8}}
        assert run.pending[0].action["args"] == {"id": 8}  # a new phrase: the edited delete is asked again
        rid = hitl.start("confirm", action("delete_record", id=9)).pending[0].request_id
        typed = [
            {"type": "edit", "args": {"action": "delete_record", "args": {"id": 9, "confirm": "DELETE 9"}}}
        ]
        run = hitl.decide(rid, typed, approver="alice")
        assert run.values["decisions"][-1]["type"] == "approve" and run.values["result"]["args"] == {"id": 9}


def test_agent_inbox_response_rejects_where_respond_is_not_allowed(db_url: str) -> None:
    """Agent Inbox offers Respond wherever `reject` is allowed: its text is `respond` where allowed, else `reject`."""
    from graphs import HANDLERS, plan, policy

    builder = StateGraph(State)
    builder.add_node("plan", plan)
    builder.add_edge(START, "plan")
    strict = policy(requirements={"high": Requirement(allowed_decisions=("approve", "reject"))})
    add_approval_flow(builder, source="plan", target=END, policy=strict, handlers=HANDLERS)
    with Approvals.open(builder, db_url) as hitl:
        rid = hitl.start("t", action("delete_record", id=7)).pending[0].request_id
        run = hitl.decide(rid, [{"type": "response", "args": "keep it"}], approver="alice")
        assert (run.values["status"], run.values["review_message"]) == ("rejected", "keep it")


@pytest.mark.parametrize(
    ("answer", "match"),
    [
        ({"type": "yes"}, r"Agent Inbox's \{'type': 'accept' \| 'edit' \| 'response' \| 'ignore'"),
        ("approve", r"not str 'approve'\. Send .*langchain's batch"),
        ({"type": "approve", "args": {"id": 8}}, r"type 'approve' takes no 'args'.*'type': 'edit'"),
        ({"type": "accept", "args": "yes"}, r"Agent Inbox's 'accept' carries args=\{'action': name"),
        ({"type": "response", "args": None}, r"'response' carries its text as args='...', got None"),
        ({"type": "response", "args": "a", "message": "b"}, r"send the text once"),
        (
            {"type": "edit", "args": {"action": "x", "args": {}}, "edited_action": {"name": "x", "args": {}}},
            r"both 'edited_action' \(langchain\) and 'args' \(Agent Inbox\)",
        ),
        ([{"type": "accept"}, {"type": "ignore"}], r"list of one response; got 2 items"),
    ],
)
def test_unknown_shapes_are_refused_naming_the_accepted_ones(db_url: str, answer: Any, match: str) -> None:
    """A shape that is none of the three dialects gets a DecisionError saying what to send; the request stays pending."""
    with Approvals.open(build(), db_url) as hitl:
        run = hitl.start("bad", action("delete_record", id=7))
        rid = run.pending[0].request_id
        with pytest.raises(DecisionError, match=match):
            hitl.decide(rid, answer, approver="alice")
        row = hitl.store.inbox.get(rid)
        assert row is not None and row.status == "pending"


# -- item 6: every payload is a strict langchain HITLRequest ------------------------------------------


@tool
def send_email(to: str, body: str) -> str:
    """Send an email."""
    return f"sent to {to}"


def tool_gate_graph() -> StateGraph[Any, Any, Any, Any]:
    """model -> tool_gate -> tools, the model scripted to ask for one email."""
    turns = [
        AIMessage(
            content="", tool_calls=[{"name": "send_email", "args": {"to": "a@x", "body": "hi"}, "id": "c1"}]
        ),
        AIMessage(content="done"),
    ]
    gate = ToolGateNode(Policy({"send_email": "irreversible_low"}, requirements={"medium": Requirement()}))
    builder = StateGraph(ToolGateState)
    builder.add_node("model", lambda state: {"messages": [turns.pop(0)]})
    builder.add_node("tool_gate", gate)
    builder.add_node("tools", ToolNode([send_email], wrap_tool_call=gate.wrap_tool_call))
    builder.add_edge(START, "model")
    builder.add_edge("model", "tool_gate")
    builder.add_conditional_edges("tool_gate", tool_gate_condition, ["tool_gate", "tools", "model", END])
    builder.add_edge("tools", "model")
    return builder


def revise_flow() -> StateGraph[Any, Any, Any, Any]:
    """plan -> approval flow, with `revise` allowed at every gate (a prod delete needs two people)."""
    allowed = ("approve", "edit", "reject", "respond", "revise")
    requirements = {
        "high": Requirement(allowed_decisions=allowed),
        "critical": Requirement(required_approvals=2, allowed_decisions=allowed),
    }
    builder = StateGraph(State)
    builder.add_node("plan", plan)
    builder.add_edge(START, "plan")
    add_approval_flow(
        builder, source="plan", target=END, policy=policy(requirements=requirements), handlers=HANDLERS
    )
    return builder


def payloads(saver: Any) -> dict[str, dict[str, Any]]:
    """One question from every node that asks: review, second_review, a pipeline stage, an escalation level, the tool gate."""
    seen: dict[str, dict[str, Any]] = {}
    flow = revise_flow().compile(checkpointer=saver)
    seen["review"] = ask(flow.invoke(action("delete_record", id=7, env="prod"), cfg("flow")))
    seen["second_review"] = ask(resume_as(flow, {"type": "approve"}, cfg("flow"), user="alice"))
    stages = [Stage("draft", lambda topic: f"about {topic}"), Stage("tone", lambda t, i: t, approvers=["ed"])]
    pipeline = create_approval_pipeline(stages).compile(checkpointer=saver)
    seen["pipeline"] = ask(pipeline.invoke({"input": "v2"}, cfg("pipeline")))
    levels = [ModelLevel("agent", lambda task: {"answer": "maybe", "confidence": 0.1}), HumanLevel("human")]
    chain = create_escalation_chain(levels).compile(checkpointer=saver)
    seen["escalation"] = ask(chain.invoke({"task": "refund?"}, cfg("chain")))
    tools = tool_gate_graph().compile(checkpointer=saver)
    seen["tool_gate"] = ask(tools.invoke({"messages": [HumanMessage("mail a")]}, cfg("tools")))
    return seen


def test_every_payload_is_a_strict_langchain_hitl_request(db_url: str) -> None:
    """langchain's HITLRequest parses every question strictly; the full list, `revise` included, is in `hitl`."""
    with open_checkpointer(db_url) as saver:
        seen = payloads(saver)
    assert set(seen) == {"review", "second_review", "pipeline", "escalation", "tool_gate"}
    for node, payload in seen.items():
        parsed = STRICT.validate_python(payload, strict=True)
        assert parsed["review_configs"] == payload["review_configs"], node
    from langgraph_hitl.decisions import allowed_decisions

    for node, payload in seen.items():
        for i, config in enumerate(payload["review_configs"]):
            assert set(config["allowed_decisions"]) <= set(allowed_decisions(payload, i)), node
    for node in ("review", "second_review", "pipeline"):
        assert "revise" in allowed_decisions(seen[node]), node
        assert seen[node]["hitl"]["allowed_decisions"][-1] == "revise", node


def test_revise_outside_review_configs_is_still_accepted(db_url: str) -> None:
    """A pipeline stage's `revise` is decided through `Approvals.decide` and a raw resume, though langchain's part omits it."""
    stages = [
        Stage("draft", lambda topic: f"about {topic}"),
        Stage("tone", lambda t, i: f"{t} [{i}]", approvers=["ed"]),
    ]
    with Approvals.open(create_approval_pipeline(stages), db_url) as hitl:
        run = hitl.start("p", {"input": "v2"})
        payload = run.pending[0].payload
        assert "revise" not in payload["review_configs"][0]["allowed_decisions"]
        run = hitl.decide(run.pending[0].request_id, {"type": "revise", "message": "louder"}, approver="ed")
        again = run.pending[0].payload
        assert again["action_requests"][0]["args"] == {"output": "about v2 [louder]"}
        out = resume_as(hitl.graph, {"type": "revise", "message": "more"}, cfg("p"), user="ed")
        assert out["decisions"][-1]["effect"] == "revision_requested"
        assert ask(out)["action_requests"][0]["args"] == {"output": "about v2 [louder\nmore]"}


@pytest.mark.parametrize(
    ("answer", "ran"),
    [
        ({"decisions": [{"type": "approve", "args": None}]}, True),
        ([{"type": "accept", "args": None}], True),
        ([{"type": "response", "args": "use the archive"}], False),
    ],
    ids=["langchain", "inbox_accept", "inbox_response"],
)
def test_tool_gate_takes_client_formats(db_url: str, answer: Any, ran: bool) -> None:
    """The tool gate's question is answered in langchain's and Agent Inbox's formats by the config's user."""
    with open_checkpointer(db_url) as saver:
        graph = tool_gate_graph().compile(checkpointer=saver)
        graph.invoke({"messages": [HumanMessage("mail a")]}, cfg("tools"))
        out = resume_as(graph, answer, cfg("tools"), user="alice")
    assert "__interrupt__" not in out
    [result] = [m for m in out["messages"] if isinstance(m, ToolMessage)]
    assert (result.content == "sent to a@x") is ran
    if not ran:
        assert "use the archive" in result.content


def test_langchain_decision_types_are_langchains_own() -> None:
    """What `review_configs` may list is exactly langchain's `DecisionType` (fails loudly if langchain changes it)."""
    from langgraph_hitl.types import LANGCHAIN_DECISION_TYPES

    assert LANGCHAIN_DECISION_TYPES == get_args(DecisionType)
