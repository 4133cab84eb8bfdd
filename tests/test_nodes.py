"""The approval nodes driven straight through LangGraph (no runner): routing and the traps."""

from __future__ import annotations

import asyncio
import operator
from collections import UserString
from pathlib import Path
from typing import Annotated, Any

import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command
from typing_extensions import TypedDict

from langgraph_hitl import (
    AuditNode,
    ClassifyAndGateNode,
    ExecuteNode,
    Policy,
    ReviewNode,
    add_approval_flow,
    open_checkpointer,
)
from langgraph_hitl.errors import PolicyError
from langgraph_hitl.testing import authenticated, resume_as

from graphs import HANDLERS, action, build, policy


def cfg(thread: str = "t") -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}}


@pytest.fixture
def graph(db_url: str):
    with open_checkpointer(db_url) as saver:
        yield build().compile(checkpointer=saver)


def ask(out: dict[str, Any]) -> dict[str, Any]:
    return out["__interrupt__"][0].value


def test_flow_low_risk_runs_without_pause(graph) -> None:
    """A read is auto-approved and executed; nobody is asked."""
    out = graph.invoke(action("read_record", id=1), cfg())
    assert "__interrupt__" not in out
    assert out["status"] == "executed" and out["result"]["done"] == "read_record"
    assert [e["event"] for e in out["audit_trail"]] == ["proposed", "auto_approved", "executed"]


def test_flow_partially_reversible_runs_with_note(graph) -> None:
    """An update runs at once and leaves a `notified` audit note."""
    out = graph.invoke(action("update_record", id=1), cfg())
    assert out["status"] == "executed"
    assert "notified" in [e["event"] for e in out["audit_trail"]]


def test_flow_high_risk_exactly_one_review(graph) -> None:
    """A delete pauses once; one approval executes it."""
    out = graph.invoke(action("delete_record", id=7), cfg())
    req = ask(out)
    assert req["hitl"]["node"] == "review" and req["hitl"]["risk"] == "high"
    assert req["action_requests"][0] == {
        "name": "delete_record",
        "args": {"id": 7},
        "description": "delete_record(id=7)",
    }
    assert req["review_configs"][0]["allowed_decisions"] == ["approve", "edit", "reject", "respond"]
    out = resume_as(graph, {"type": "approve", "approver": "alice"}, cfg())
    assert "__interrupt__" not in out and out["status"] == "executed"
    assert [d["effect"] for d in out["decisions"]] == ["approved"]


def test_flow_critical_needs_two_distinct_approvers(graph) -> None:
    """A prod delete needs alice and then someone other than alice."""
    out = graph.invoke(action("delete_record", id=7, env="prod"), cfg())
    assert ask(out)["hitl"]["risk"] == "critical"
    out = resume_as(graph, {"type": "approve", "approver": "alice"}, cfg())
    second = ask(out)["hitl"]
    assert second["node"] == "second_review" and second["stage"] == 2
    assert "alice" in second["exclude_approvers"]
    out = resume_as(graph, {"type": "approve", "approver": "alice"}, cfg())
    assert out["decisions"][-1]["effect"] == "refused" and "four-eyes" in out["decisions"][-1]["message"]
    assert out["status"] == "approved" and "__interrupt__" in out
    out = resume_as(graph, {"type": "approve", "approver": "bob"}, cfg())
    assert out["status"] == "executed"


def test_flow_rejection_never_executes(graph) -> None:
    """A rejected delete ends at audit with its reason; the handler never runs."""
    graph.invoke(action("delete_record", id=7), cfg())
    out = resume_as(graph, {"type": "reject", "approver": "alice", "message": "wrong customer"}, cfg())
    assert out["status"] == "rejected" and out["result"] is None
    assert out["review_message"] == "wrong customer"
    assert "executed" not in [e["event"] for e in out["audit_trail"]]


def test_flow_respond_returns_guidance_without_executing(graph) -> None:
    """respond sends guidance back and runs nothing."""
    graph.invoke(action("delete_record", id=7), cfg())
    out = resume_as(graph, {"type": "respond", "approver": "alice", "message": "archive it"}, cfg())
    assert out["status"] == "responded" and out["review_message"] == "archive it" and out["result"] is None


def test_flow_requester_cannot_approve_own_action(graph) -> None:
    """The requester's approval is refused and the question asked again."""
    graph.invoke({**action("delete_record", id=7), "requested_by": "mallory"}, cfg())
    out = resume_as(graph, {"type": "approve", "approver": "mallory"}, cfg())
    assert out["decisions"][-1]["effect"] == "refused" and "own" not in out["status"]
    assert "requested this action" in out["decisions"][-1]["message"]
    assert "__interrupt__" in out


def test_trap_rerun_on_resume_repeats_no_side_effect(db_url: str, tmp_path) -> None:
    """The review node re-runs on every resume; the action still executes once."""
    calls: list[int] = []
    handlers = {**HANDLERS, "delete_record": lambda args: calls.append(args["id"]) or "ok"}
    builder = StateGraph(graph_state())
    builder.add_node("plan", lambda s: {})
    builder.add_edge(START, "plan")
    add_approval_flow(builder, source="plan", target=END, policy=policy(), handlers=handlers)
    with open_checkpointer(db_url) as saver:
        g = builder.compile(checkpointer=saver)
        g.invoke(action("delete_record", id=9), cfg())
        for bad in (
            {"type": "approve"},
            {"type": "revise", "approver": "a"},
            {"type": "approve", "approver": "agent"},
        ):
            out = resume_as(g, bad, cfg())
            assert "__interrupt__" in out and calls == []
        out = resume_as(g, {"type": "approve", "approver": "alice"}, cfg())
        g.invoke(None, cfg())  # a stray continue after the end does nothing
    assert calls == [9] and out["status"] == "executed"


def graph_state() -> type:
    from graphs import State

    return State


def test_trap_malformed_answer_refused_before_saving(graph) -> None:
    """A malformed resume raises before LangGraph stores it; the thread still takes a good answer."""
    graph.invoke(action("delete_record", id=7), cfg())
    for bad in (
        {"type": "aprove", "approver": "x"},
        {"type": "approve", "approver": "x", "extra": 1},
        {"type": "edit", "approver": "x", "edited_action": {"name": "delete_record", "args": [1]}},
        "yes",
    ):
        with pytest.raises(pydantic.ValidationError):
            resume_as(graph, bad, cfg())
        assert graph.get_state(cfg()).interrupts  # still paused, nothing sticky
    out = resume_as(graph, {"type": "approve", "approver": "alice"}, cfg())
    assert out["status"] == "executed"


def test_trap_invalid_answer_neither_wedges_nor_executes(graph) -> None:
    """A well-formed but disallowed answer is refused, re-asked, and a valid one then works."""
    out = graph.invoke(action("delete_record", id=7), cfg())
    first = ask(out)["hitl"]["request_id"]
    out = resume_as(graph, {"type": "revise", "approver": "alice", "message": "x"}, cfg())
    again = ask(out)["hitl"]["request_id"]
    assert again != first and out["status"] == "proposed" and out["result"] is None
    assert "not allowed" in out["decisions"][-1]["message"]
    out = resume_as(graph, {"type": "approve", "approver": "alice"}, cfg())
    assert out["status"] == "executed"


def test_trap_edit_to_other_tool_is_regated(graph) -> None:
    """Editing a soft-gated email into a delete asks again under the delete's gate."""
    out = graph.invoke(action("send_email", to=["a@x"]), cfg())
    assert ask(out)["hitl"]["mode"] == "soft"
    out = resume_as(
        graph,
        {"type": "edit", "approver": "alice", "edited_action": {"name": "delete_record", "args": {"id": 1}}},
        cfg(),
    )
    req = ask(out)["hitl"]
    assert req["mode"] == "hard" and req["risk"] == "high" and out["status"] == "proposed"
    assert out["decisions"][-1]["effect"] == "rereview"
    assert out["action"] == {"name": "delete_record", "args": {"id": 1}}
    out = resume_as(graph, {"type": "approve", "approver": "bob"}, cfg())
    assert out["status"] == "executed" and out["result"]["done"] == "delete_record"


def test_trap_edit_cannot_lower_gate(graph) -> None:
    """A critical action edited into a harmless one still needs its second approver."""
    graph.invoke(action("delete_record", id=7, env="prod"), cfg())
    out = resume_as(
        graph,
        {"type": "edit", "approver": "alice", "edited_action": {"name": "read_record", "args": {"id": 7}}},
        cfg(),
    )
    assert ask(out)["hitl"]["node"] == "second_review"
    assert out["assessment"]["risk"] == "critical"


def test_edit_same_tool_counts_as_approval(graph) -> None:
    """An edit of the arguments at the same gate runs the edited action."""
    graph.invoke(action("delete_record", id=7), cfg())
    out = resume_as(
        graph,
        {"type": "edit", "approver": "alice", "edited_action": {"name": "delete_record", "args": {"id": 8}}},
        cfg(),
    )
    assert out["status"] == "executed" and out["result"]["args"] == {"id": 8}


def test_revise_routes_back_to_source(db_url: str) -> None:
    """revise sends the reviewer's instructions back to the planning node."""
    seen: list[str | None] = []

    def plan(state: dict[str, Any]) -> dict[str, Any]:
        seen.append(state.get("review_message"))
        n = len(seen)
        return {"action": {"name": "delete_record", "args": {"id": n}}}

    builder = StateGraph(graph_state())
    builder.add_node("plan", plan)
    builder.add_edge(START, "plan")
    add_approval_flow(builder, source="plan", target=END, policy=policy(), handlers=HANDLERS)
    with open_checkpointer(db_url) as saver:
        g = builder.compile(checkpointer=saver)
        g.invoke({"task": "x"}, cfg())
        builder_requirement = g.get_state(cfg()).interrupts[0].value["review_configs"][0]["allowed_decisions"]
        assert "revise" not in builder_requirement  # not offered by default
    assert seen == [None]


def test_malformed_action_is_denied(graph) -> None:
    """An action without a name or with non-JSON args is denied, never executed."""
    out = graph.invoke({"action": {"name": "delete_record", "args": {"ids": {1, 2}}}}, cfg())
    assert out["status"] == "denied" and out["result"] is None
    assert "plain JSON" in out["assessment"]["reasons"][0]
    out = graph.invoke({"action": {"args": {}}}, cfg("nameless"))
    assert out["status"] == "denied" and "'name'" in out["assessment"]["reasons"][0]


def test_async_and_stream_paths(db_url: str) -> None:
    """The flow pauses and resumes the same under ainvoke, stream and astream."""

    async def run() -> None:
        from langgraph_hitl import aopen_checkpointer

        async with aopen_checkpointer(db_url) as saver:
            g = build().compile(checkpointer=saver)
            out = await g.ainvoke(action("delete_record", id=1), cfg("a"))
            assert ask(out)["hitl"]["risk"] == "high"
            chunks = [
                c
                async for c in g.astream(
                    Command(resume={"type": "approve", "approver": "al"}), authenticated(cfg("a"), "al")
                )
            ]
            assert any("execute" in c for c in chunks)
            assert (await g.aget_state(cfg("a"))).values["status"] == "executed"

    asyncio.run(run())
    with open_checkpointer(db_url) as saver:
        g = build().compile(checkpointer=saver)
        chunks = list(g.stream(action("delete_record", id=2), cfg("s")))
        assert any("__interrupt__" in c for c in chunks)
        list(g.stream(Command(resume={"type": "reject", "approver": "al"}), authenticated(cfg("s"), "al")))
        assert g.get_state(cfg("s")).values["status"] == "rejected"


def test_subgraph_interrupt_resumes_at_parent(db_url: str) -> None:
    """An approval flow inside a subgraph pauses the parent and resumes from it."""
    inner = build().compile()

    class Parent(TypedDict, total=False):
        action: dict
        status: str
        log: Annotated[list[str], operator.add]

    parent = StateGraph(Parent)
    parent.add_node("inner", inner)
    parent.add_node("after", lambda s: {"log": [f"after:{s['status']}"]})
    parent.add_edge(START, "inner")
    parent.add_edge("inner", "after")
    parent.add_edge("after", END)
    with open_checkpointer(db_url) as saver:
        g = parent.compile(checkpointer=saver)
        out = g.invoke(action("delete_record", id=3), cfg())
        intr = out["__interrupt__"][0]
        out = resume_as(g, {intr.id: {"type": "approve", "approver": "alice"}}, cfg())
    assert out["log"] == ["after:executed"]


def test_parallel_branches_pause_at_once_and_resume_by_id(db_url: str) -> None:
    """Two branches, each with its own approval subgraph, pause together; answers match by interrupt id."""
    inner = build().compile()

    class S(TypedDict, total=False):
        log: Annotated[list[str], operator.add]

    def branch(name: str, act: dict[str, Any]):
        def run(state: S) -> dict[str, Any]:
            out = inner.invoke(act)
            return {"log": [f"{name}:{out['status']}"]}

        return run

    builder = StateGraph(S)
    builder.add_node("a", branch("a", action("delete_record", id=1)))
    builder.add_node("b", branch("b", action("send_email", to=["x@y"])))
    builder.add_edge(START, "a")
    builder.add_edge(START, "b")
    builder.add_edge("a", END)
    builder.add_edge("b", END)
    with open_checkpointer(db_url) as saver:
        g = builder.compile(checkpointer=saver)
        out = g.invoke({"log": []}, cfg())
        by_action = {i.value["action_requests"][0]["name"]: i.id for i in out["__interrupt__"]}
        assert set(by_action) == {"delete_record", "send_email"}
        out = resume_as(
            g,
            {
                by_action["send_email"]: {"type": "approve", "approver": "carol"},
                by_action["delete_record"]: {"type": "reject", "approver": "carol"},
            },
            cfg(),
        )
    assert sorted(out["log"]) == ["a:rejected", "b:executed"]


def test_review_node_options_validated() -> None:
    """Bad node options fail when the node is built, naming the value."""
    with pytest.raises(PolicyError, match="approvers='alice'"):
        ReviewNode(approvers="alice")  # type: ignore[arg-type]
    with pytest.raises(PolicyError, match="timeout=0"):
        ReviewNode(timeout=0)
    with pytest.raises(PolicyError, match="including reject"):
        ReviewNode(allowed_decisions=["approve"])


def test_add_approval_flow_refuses_name_clash(db_url: str) -> None:
    """Adding the flow twice without a prefix is an error that names the fix."""
    b = build()
    with pytest.raises(PolicyError, match="prefix="):
        add_approval_flow(b, source="plan", target=END, policy=policy(), handlers=HANDLERS)


def test_flow_refuses_a_policy_action_without_a_handler_when_built() -> None:
    """A listed action with no handler fails when the graph is built, naming it and the fix,
    not after a person approved it (issue: people's interfaces, 4)."""
    builder = StateGraph(dict)
    builder.add_node("plan", lambda state: {})
    builder.add_edge(START, "plan")
    handlers = {k: v for k, v in HANDLERS.items() if k != "delete_record"}
    with pytest.raises(PolicyError, match=r"lists \['delete_record'\].*Add a handler for each"):
        add_approval_flow(builder, source="plan", target=END, policy=policy(), handlers=handlers)


def test_flow_denies_an_unlisted_action_without_a_handler_before_asking(db_url: str) -> None:
    """An action the policy does not list and no handler runs is denied at the gate (audited with
    the reason), instead of asking a person to approve what can never run."""
    with open_checkpointer(db_url) as saver:
        graph = build().compile(checkpointer=saver)
        out = graph.invoke(action("format_disk", device="/dev/sda"), cfg("nohandler"))
    assert "__interrupt__" not in out and out["status"] == "denied"
    denied = [e for e in out["audit_trail"] if e["event"] == "denied"]
    assert "no handler for 'format_disk'" in " ".join(denied[0]["detail"]["reasons"])


@pytest.mark.parametrize(
    "make",
    [
        lambda url: AuditNode(url),
        lambda url: ExecuteNode({"x": lambda args: None}, ledger=url),
        lambda url: ReviewNode(store=url),
        lambda url: ClassifyAndGateNode(Policy({"x": "fully_reversible"}), store=url),
    ],
    ids=["audit", "execute", "review", "gate"],
)
def test_nodes_refuse_a_store_url_naming_the_fix(make: Any) -> None:
    """Nodes never open a database (0.1 opened one per URL, cached for the process and never
    closed): a URL is refused at construction, saying how to pass a store."""
    with pytest.raises(
        TypeError, match=r"is a URL; nodes take a store object.*open_store\('sqlite:///x.db'\)"
    ):
        make("sqlite:///x.db")
    for other in (Path("x.db"), bytearray(b"sqlite:///x.db"), UserString("sqlite:///x.db")):
        with pytest.raises(TypeError, match="is a URL"):
            make(other)
    with pytest.raises(TypeError, match="is not a store"):
        make(42)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=100, deadline=None)
@given(value=_JSON)
def test_a_json_value_in_the_config_is_never_taken_for_the_store(tmp_path_factory: Any, value: Any) -> None:
    """What a remote client can put in `configurable.hitl_store` (JSON) never passes for the
    runner's store, before or after the nodes have seen a real one."""
    from langgraph_hitl.nodes._common import runner_store
    from langgraph_hitl.store import open_store

    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('s') / 'x.db'}")
    try:
        assert runner_store({"configurable": {"hitl_store": value}}) is None
        assert runner_store({"configurable": {"hitl_store": store}}) is store
        assert runner_store({"configurable": {"hitl_store": value}}) is None
        as_dict = {"seal_key": b"k", "transaction": None}
        assert runner_store({"configurable": {"hitl_store": as_dict}}) is None
    finally:
        store.close()


def test_the_store_check_is_the_protocols_and_holds_per_object(tmp_path: Path) -> None:
    """`runner_store` checks what `StoreLike` checks, on each object: an object of the store's
    type without its state (so without a seal key) is refused even after a real store passed."""
    from typing_extensions import get_protocol_members

    from langgraph_hitl.nodes._common import STORE_MEMBERS, runner_store
    from langgraph_hitl.protocols import StoreLike
    from langgraph_hitl.store import Store, open_store

    assert set(STORE_MEMBERS) == get_protocol_members(StoreLike)
    store = open_store(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        assert runner_store({"configurable": {"hitl_store": store}}) is store
        hollow = Store.__new__(Store)
        assert not isinstance(hollow, StoreLike)
        assert runner_store({"configurable": {"hitl_store": hollow}}) is None
    finally:
        store.close()
