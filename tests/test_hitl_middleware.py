"""`HumanInTheLoopMiddleware`: langchain's drop-in, on this package's gate, identity, receipts and audit.

The vendored langchain tests (`test_hitl_middleware_langchain.py`) pin the compatibility; these pin
what this package adds, one regression test per difference issue 21 listed for `ToolGateMiddleware`
(numbered 1-7), the stricter options, an agent driven by `Approvals` on SQLite, and the approval
integrity findings of the adversarial review (F1-F4).
"""

from __future__ import annotations

import json
import string
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage, ToolCall, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.runtime import Runtime
from langgraph.types import Command
from pydantic import ValidationError
from vendored.langchain_hitl.model import FakeToolCallingModel

from langgraph_hitl import Approvals, Policy, Requirement
from langgraph_hitl.patterns import HumanInTheLoopMiddleware
from langgraph_hitl.patterns._hitl_tools import notice
from langgraph_hitl.patterns.hitl_middleware import EDIT_NOTICE
from langgraph_hitl.testing import authenticated, resume_as

RAN: list[tuple[str, Any]] = []


@tool
def send_email(to: str) -> str:
    """Send an email."""
    RAN.append(("send_email", to))
    return f"sent to {to}"


@tool
def draft_email(to: str) -> str:
    """Draft an email."""
    RAN.append(("draft_email", to))
    return f"drafted to {to}"


@tool
def search(q: str) -> str:
    """Search."""
    RAN.append(("search", q))
    return f"found {q}"


@tool
def ask_user(question: str) -> str:
    """Ask the user."""
    RAN.append(("ask_user", question))
    return "unused"


@tool
def delete_record(id: int) -> str:
    """Delete a record."""
    RAN.append(("delete_record", id))
    return f"deleted {id}"


TOOLS = [send_email, draft_email, search, ask_user, delete_record]
CFG: Any = {"configurable": {"thread_id": "t"}}
SETTINGS: dict[str, Any] = {
    "max_examples": 25,
    "deadline": None,
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
}


@pytest.fixture(autouse=True)
def _clear() -> None:
    RAN.clear()


def call(name: str, args: dict[str, Any], id: str) -> ToolCall:
    return ToolCall(name=name, args=args, id=id)


def agent(
    *calls: ToolCall, checkpointer: Any = "memory", interrupt_before: list[str] | None = None, **options: Any
) -> Any:
    """An agent whose model makes `calls` in one turn (message id "0"), then answers; gated by the middleware with `options`."""
    model = FakeToolCallingModel(tool_calls=[list(calls), []])
    options.setdefault("interrupt_on", {"send_email": True, "delete_record": True})
    return create_agent(
        model,
        TOOLS,
        middleware=[HumanInTheLoopMiddleware(**options)],
        checkpointer=InMemorySaver() if checkpointer == "memory" else checkpointer,
        interrupt_before=interrupt_before,
    )


def ask(out: dict[str, Any]) -> Any:
    return out["__interrupt__"][0].value


def tool_messages(agent: Any) -> dict[str, ToolMessage]:
    return {m.tool_call_id: m for m in agent.get_state(CFG).values["messages"] if isinstance(m, ToolMessage)}


# -- 1. answers without an approver -------------------------------------------------------------------


def test_hitl_middleware_answer_without_identity_is_recorded_as_anonymous() -> None:
    """(1) A langchain client's answer (no approver, no auth) is accepted, attributed to `anonymous`, with a receipt."""
    a = agent(call("send_email", {"to": "bob"}, "c1"))
    a.invoke({"messages": [HumanMessage("mail bob")]}, CFG)
    a.invoke(Command(resume={"decisions": [{"type": "approve"}]}), CFG)
    assert RAN == [("send_email", "bob")]
    state = a.get_state(CFG).values
    [decision] = state["decisions"]
    assert (decision["approver"], decision["effect"], decision["receipt"]["approver"]) == (
        "anonymous",
        "approved",
        "anonymous",
    )
    assert [(e["event"], e["actor"]) for e in state["audit_trail"]] == [
        ("proposed", "agent"),
        ("approved", "anonymous"),
    ]


def test_hitl_middleware_require_approver_refuses_unidentified_answers() -> None:
    """(1) With `require_approver=True` an unidentified answer raises, is not saved, and an identified one then runs."""
    a = agent(call("send_email", {"to": "bob"}, "c1"), require_approver=True)
    first = a.invoke({"messages": [HumanMessage("mail bob")]}, CFG)["__interrupt__"][0]
    with pytest.raises(ValueError, match="no authenticated identity in the run's config"):
        a.invoke(Command(resume={"decisions": [{"type": "approve"}]}), CFG)
    assert a.get_state(CFG).interrupts[0].id == first.id and RAN == []
    resume_as(a, {"decisions": [{"type": "approve"}]}, CFG, user="alice")
    assert RAN == [("send_email", "bob")]
    assert a.get_state(CFG).values["decisions"][0]["approver"] == "alice"


# -- 2. unlisted tools ------------------------------------------------------------------------------------


def test_hitl_middleware_unlisted_tools_run_without_review() -> None:
    """(2) A tool missing from `interrupt_on` runs at once, as with langchain's middleware."""
    out = agent(call("search", {"q": "x"}, "s1")).invoke({"messages": [HumanMessage("find")]}, CFG)
    assert "__interrupt__" not in out and RAN == [("search", "x")]


@pytest.mark.parametrize(
    "options",
    [{"unlisted": "review"}, {"policy": Policy({"send_email": "irreversible_low"})}],
    ids=["unlisted-review", "policy-unknown-is-hard"],
)
def test_hitl_middleware_unlisted_tools_fail_closed_when_asked(options: dict[str, Any]) -> None:
    """(2) `unlisted="review"`, or a policy (unknown tools are hard-gated), asks before an unlisted tool runs."""
    a = agent(call("search", {"q": "x"}, "s1"), **options)
    request = ask(a.invoke({"messages": [HumanMessage("find")]}, CFG))
    assert [r["action_name"] for r in request["review_configs"]] == ["search"] and RAN == []
    a.invoke(Command(resume={"decisions": [{"type": "approve"}]}), CFG)
    assert RAN == [("search", "x")]


def test_hitl_middleware_tools_set_false_still_run_when_unlisted_are_reviewed() -> None:
    """(2) `unlisted="review"` gates tools missing from `interrupt_on`, not those explicitly set to False."""
    a = agent(call("search", {"q": "x"}, "s1"), interrupt_on={"search": False}, unlisted="review")
    assert "__interrupt__" not in a.invoke({"messages": [HumanMessage("find")]}, CFG)
    assert RAN == [("search", "x")]


# -- 3. allowed decisions per tool ------------------------------------------------------------------------


def test_hitl_middleware_allowed_decisions_are_per_tool_as_configured() -> None:
    """(3) `["respond"]` and `["approve", "edit"]` are offered exactly as configured, without an added reject."""
    a = agent(
        call("ask_user", {"question": "colour?"}, "q1"),
        call("send_email", {"to": "bob"}, "c1"),
        interrupt_on={
            "ask_user": {"allowed_decisions": ["respond"]},
            "send_email": {"allowed_decisions": ["approve", "edit"]},
        },
    )
    request = ask(a.invoke({"messages": [HumanMessage("go")]}, CFG))
    assert request["review_configs"] == [
        {"action_name": "ask_user", "allowed_decisions": ["respond"]},
        {"action_name": "send_email", "allowed_decisions": ["approve", "edit"]},
    ]
    with pytest.raises(
        ValueError,
        match=r"Decision type 'reject' is not allowed for tool 'send_email'\. Expected one of \['approve', 'edit'\]",
    ):
        a.invoke(
            Command(resume={"decisions": [{"type": "respond", "message": "blue"}, {"type": "reject"}]}), CFG
        )
    a.invoke(
        Command(resume={"decisions": [{"type": "respond", "message": "blue"}, {"type": "approve"}]}), CFG
    )
    replies = tool_messages(a)
    assert (replies["q1"].content, replies["q1"].status) == ("blue", "success")
    assert RAN == [("send_email", "bob")]


# -- 4. hook outputs ----------------------------------------------------------------------------------------


def test_hitl_middleware_outputs_keep_langchains_shape() -> None:
    """(4) `after_model` returns the turn's AIMessage, nothing when nothing is gated, and its own keys stay private."""
    mw = HumanInTheLoopMiddleware(interrupt_on={"send_email": True})
    unlisted = AIMessage("", tool_calls=[call("search", {"q": "x"}, "s1")])
    assert mw.after_model({"messages": [HumanMessage("x"), unlisted]}, Runtime()) is None
    a = agent(call("send_email", {"to": "bob"}, "c1"), call("search", {"q": "y"}, "s2"))
    a.invoke({"messages": [HumanMessage("go")]}, CFG)
    out = a.invoke(Command(resume={"decisions": [{"type": "reject"}]}), CFG)
    assert set(out) == {"messages"}
    assert {"tool_gate", "decisions", "audit_trail"} <= set(a.get_state(CFG).values)
    ai = next(m for m in out["messages"] if isinstance(m, AIMessage) and m.tool_calls)
    assert [c["id"] for c in ai.tool_calls] == ["c1", "s2"]  # the rejected call stays paired with its reply
    assert RAN == [("search", "y")]


# -- 5. texts the model reads ----------------------------------------------------------------------------


def test_hitl_middleware_reject_and_edit_texts_are_langchains() -> None:
    """(5) Reject (with and without a reason) and the edit notice read exactly as langchain writes them."""
    a = agent(call("send_email", {"to": "bob"}, "c1"), call("delete_record", {"id": 7}, "d1"))
    a.invoke({"messages": [HumanMessage("go")]}, CFG)
    edit = {"type": "edit", "edited_action": {"name": "send_email", "args": {"to": "carol"}}}
    a.invoke(Command(resume={"decisions": [edit, {"type": "reject"}]}), CFG)
    replies = tool_messages(a)
    assert replies["d1"].content == (
        "User rejected the tool call for `delete_record` with id d1. The tool was not executed. "
        "Do not retry this tool call unless the user explicitly requests it."
    )
    assert replies["c1"].content == (
        f'{EDIT_NOTICE} Executed instead: send_email with arguments {{"to": "carol"}}.\n\nTool response:\nsent to carol'
    )
    b = agent(call("delete_record", {"id": 7}, "d1"))
    b.invoke({"messages": [HumanMessage("go")]}, CFG)
    b.invoke(Command(resume={"decisions": [{"type": "reject", "message": "keep it"}]}), CFG)
    assert (
        tool_messages(b)["d1"].content
        == "User rejected the tool call for `delete_record` with reason: keep it"
    )


# -- 6. invalid answers ------------------------------------------------------------------------------------


def test_hitl_middleware_invalid_answer_raises_and_never_wedges_the_thread() -> None:
    """(6) An answer that breaks the rules raises langchain's ValueError before it is saved; a valid one then works."""
    a = agent(
        call("send_email", {"to": "bob"}, "c1"),
        interrupt_on={"send_email": {"allowed_decisions": ["approve", "reject"]}},
    )
    first = a.invoke({"messages": [HumanMessage("go")]}, CFG)["__interrupt__"][0]
    for bad, error in [
        ({"decisions": []}, "Number of human decisions (0) does not match number of hanging tool calls (1)."),
        (
            {"decisions": [{"type": "respond", "message": "x"}]},
            "Decision type 'respond' is not allowed for tool 'send_email'.",
        ),
    ]:
        with pytest.raises(ValueError, match=error.replace("(", r"\(").replace(")", r"\)")) as raised:
            a.invoke(Command(resume=bad), CFG)
        assert isinstance(raised.value, ValidationError)
        assert a.get_state(CFG).interrupts[0].id == first.id
    a.invoke(Command(resume={"decisions": [{"type": "approve"}]}), CFG)
    assert RAN == [("send_email", "bob")]


def test_hitl_middleware_ask_again_records_the_refusal_and_asks_again() -> None:
    """(6) `on_invalid="ask_again"` refuses a wrong answer without raising, says why, and takes the next one."""
    a = agent(
        call("send_email", {"to": "bob"}, "c1"),
        call("delete_record", {"id": 7}, "d1"),
        on_invalid="ask_again",
    )
    a.invoke({"messages": [HumanMessage("go")]}, CFG)
    again = ask(a.invoke(Command(resume={"type": "approve"}), CFG))
    assert "has 2 action(s) to decide; got 1" in again["hitl"]["context"]["refused"] and RAN == []
    a.invoke(Command(resume={"decisions": [{"type": "approve"}, {"type": "reject"}]}), CFG)
    assert RAN == [("send_email", "bob")]
    assert [d["effect"] for d in a.get_state(CFG).values["decisions"]] == ["refused", "approved", "rejected"]


def test_hitl_middleware_ask_again_still_refuses_someone_who_may_not_decide() -> None:
    """(6) Even with `ask_again`, an answer from someone the policy does not allow raises and is never saved."""
    policy = Policy(
        {"send_email": "irreversible_low"}, requirements={"medium": Requirement(approvers=["alice"])}
    )
    a = agent(call("send_email", {"to": "bob"}, "c1"), policy=policy, on_invalid="ask_again")
    a.invoke({"messages": [HumanMessage("go")]}, CFG)
    edit = {"type": "edit", "edited_action": {"name": "send_email", "args": {"to": "eve@evil"}}}
    with pytest.raises(ValueError, match="'eve' may not decide request"):
        resume_as(a, edit, CFG, user="eve")
    resume_as(a, {"type": "approve"}, CFG, user="alice")
    assert RAN == [("send_email", "bob")]  # eve's edit was never saved, so it cannot replay as alice's


# -- 7. descriptions, when, per-call mode --------------------------------------------------------------------


def test_hitl_middleware_descriptions_prefix_factory_and_when() -> None:
    """(7) `description_prefix`, a `(tool_call, state, runtime)` factory and a `when` predicate behave as langchain's."""
    seen: list[Any] = []

    def describe(tool_call: Any, state: Any, runtime: Any) -> str:
        seen.append(runtime)
        return f"Delete {tool_call['args']['id']}? ({len(state['messages'])} messages)"

    a = agent(
        call("send_email", {"to": "bob"}, "c1"),
        call("delete_record", {"id": 7}, "d1"),
        call("search", {"q": "x"}, "s1"),
        description_prefix="Check this",
        interrupt_on={
            "send_email": True,
            "delete_record": {"allowed_decisions": ["approve", "reject"], "description": describe},
            "search": {
                "allowed_decisions": ["approve"],
                "when": lambda req: req.tool_call["args"]["q"] == "secret",
            },
        },
    )
    request = ask(a.invoke({"messages": [HumanMessage("go")]}, CFG))
    assert [r["description"] for r in request["action_requests"]] == [
        "Check this\n\nTool: send_email\nArgs: {'to': 'bob'}",
        "Delete 7? (2 messages)",
    ]
    assert seen and all(isinstance(r, Runtime) for r in seen)
    a.invoke(Command(resume={"decisions": [{"type": "approve"}, {"type": "approve"}]}), CFG)
    assert sorted(RAN) == [("delete_record", 7), ("search", "x"), ("send_email", "bob")]


def test_hitl_middleware_per_call_mode_answers_by_interrupt_id_and_is_audited() -> None:
    """(7) `interrupt_mode="per_call"`: one typed question per gated call, answered by id, each decision audited."""
    a = agent(
        call("send_email", {"to": "bob"}, "c1"),
        call("delete_record", {"id": 7}, "d1"),
        interrupt_mode="per_call",
    )
    paused = a.invoke({"messages": [HumanMessage("go")]}, CFG)["__interrupt__"]
    by_tool = {i.value["name"]: i for i in paused}
    assert by_tool["send_email"].value == {
        "type": "tool_approval",
        "tool_call_id": "c1",
        "name": "send_email",
        "args": {"to": "bob"},
        "description": "Tool execution requires approval\n\nTool: send_email\nArgs: {'to': 'bob'}",
    }
    assert by_tool["delete_record"].response_schema["oneOf"]
    answers = {by_tool["send_email"].id: {"type": "approve"}, by_tool["delete_record"].id: {"type": "reject"}}
    a.invoke(Command(resume=answers), CFG)
    assert RAN == [("send_email", "bob")]
    state = a.get_state(CFG).values
    assert sorted((d["type"], d["approver"]) for d in state["decisions"]) == [
        ("approve", "anonymous"),
        ("reject", "anonymous"),
    ]
    assert tool_messages(a)["d1"].status == "error"


# -- the stricter options, identity, receipts -----------------------------------------------------------------


def test_hitl_middleware_policy_denies_and_asks_for_the_phrase() -> None:
    """A policy can deny a listed tool outright, and add a verify phrase to another (stricter only)."""
    policy = Policy(
        {"send_email": "irreversible_low", "delete_record": "irreversible_high"},
        unknown="deny",
        verify_phrases={"delete_record": "DELETE {id}"},
    )
    a = agent(call("delete_record", {"id": 7}, "d1"), call("search", {"q": "x"}, "s1"), policy=policy)
    request = ask(a.invoke({"messages": [HumanMessage("go")]}, CFG))
    assert request["action_requests"][0]["description"].endswith("To approve, type 'DELETE 7'.")
    with pytest.raises(ValueError, match="Confirmation phrase missing"):
        a.invoke(Command(resume={"decisions": [{"type": "approve"}]}), CFG)
    a.invoke(Command(resume={"decisions": [{"type": "approve", "verify": "DELETE 7"}]}), CFG)
    assert RAN == [("delete_record", 7)]
    assert "approval policy denies `search`" in tool_messages(a)["s1"].content


def test_hitl_middleware_identity_comes_from_server_auth_not_the_answer() -> None:
    """Who decided is LangGraph Server's authenticated user; the answer's own `approver` must match it."""
    policy = Policy(
        {"send_email": "irreversible_low"}, requirements={"medium": Requirement(approvers=["alice"])}
    )
    a = agent(call("send_email", {"to": "bob"}, "c1"), policy=policy)
    a.invoke({"messages": [HumanMessage("go")]}, CFG)
    with pytest.raises(ValueError, match="names approver 'alice' but was submitted by 'mallory'"):
        resume_as(a, {"decisions": [{"type": "approve", "approver": "alice"}]}, CFG, user="mallory")
    with pytest.raises(ValueError, match="'anonymous' may not decide"):
        a.invoke(Command(resume={"decisions": [{"type": "approve"}]}), CFG)
    resume_as(a, {"decisions": [{"type": "approve"}]}, CFG, user="ALICE")
    assert RAN == [("send_email", "bob")]
    assert a.get_state(CFG).values["decisions"][0]["approver"] == "alice"


def test_hitl_middleware_changed_record_never_runs_a_call_without_its_receipt() -> None:
    """An approved call changed in state before the tools ran is not run as changed: it is asked about again (G9)."""
    a = create_agent(
        FakeToolCallingModel(tool_calls=[[call("send_email", {"to": "bob"}, "c1")], []]),
        TOOLS,
        middleware=[HumanInTheLoopMiddleware(interrupt_on={"send_email": True})],
        checkpointer=InMemorySaver(),
        interrupt_before=["tools"],
    )
    a.invoke({"messages": [HumanMessage("go")]}, CFG)
    a.invoke(Command(resume={"decisions": [{"type": "approve"}]}), CFG)
    record = a.get_state(CFG).values["tool_gate"]
    forged = {
        **record,
        "calls": [{**record["calls"][0], "run": {**record["calls"][0]["run"], "args": {"to": "eve@evil"}}}],
    }
    a.update_state(CFG, {"tool_gate": forged})
    again = ask(a.invoke(None, CFG))
    assert again["action_requests"][0]["args"] == {"to": "bob"} and RAN == []
    a.invoke(Command(resume={"decisions": [{"type": "approve"}]}), CFG)
    assert RAN == [("send_email", "bob")]


def test_hitl_middleware_driven_by_approvals_with_two_approvers(db_url: str) -> None:
    """`Approvals` drives it on SQLite: the policy's second approver is asked per call, the first may not repeat."""
    from langgraph_hitl.errors import AuthorizationError

    policy = Policy(
        {"delete_record": "irreversible_high"}, requirements={"high": Requirement(required_approvals=2)}
    )
    graph = agent(call("delete_record", {"id": 7}, "d1"), checkpointer=None, policy=policy)
    with Approvals.open(graph, db_url) as hitl:
        hitl.start("t1", {"messages": [HumanMessage("delete 7")]})
        [first] = hitl.pending().items
        assert first.payload["review_configs"][0]["allowed_decisions"] == [
            "approve",
            "edit",
            "reject",
            "respond",
        ]
        hitl.decide(first.request_id, {"decisions": [{"type": "approve"}]}, approver="alice")
        [second] = hitl.pending().items
        assert second.payload["hitl"]["stage"] == 2 and "alice" in second.payload["hitl"]["exclude_approvers"]
        with pytest.raises(AuthorizationError, match="already approved this action"):
            hitl.decide(second.request_id, {"type": "approve"}, approver="alice")
        assert RAN == []
        result = hitl.decide(second.request_id, {"type": "approve"}, approver="bob")
        history = [(e["event"], e["actor"]) for e in hitl.history("t1")]
    assert result.status == "done" and RAN == [("delete_record", 7)]
    assert (
        ("approved", "alice") in history
        and ("approved", "bob") in history
        and ("refused", "alice") in history
    )


def test_hitl_middleware_timeout_fails_closed_through_approvals(db_url: str) -> None:
    """`timeout=` puts a deadline on the question; `expire_overdue()` rejects the call, and the model is told why."""
    from langgraph_hitl.testing import FakeClock

    clock = FakeClock()
    graph = agent(call("send_email", {"to": "bob"}, "c1"), checkpointer=None, timeout=60)
    with Approvals.open(graph, db_url, clock=clock) as hitl:
        hitl.start("t3", {"messages": [HumanMessage("mail")]})
        [request] = hitl.pending().items
        assert request.payload["hitl"]["timeout_s"] == 60
        clock.advance(61)
        assert len(hitl.expire_overdue()) == 1
        values = hitl.graph.get_state({"configurable": {"thread_id": "t3"}}).values
    assert RAN == []
    [reply] = [m for m in values["messages"] if isinstance(m, ToolMessage)]
    assert reply.status == "error" and "nobody approved it in time" in reply.content
    assert [d["effect"] for d in values["decisions"]] == ["timed_out"]


def test_hitl_middleware_per_call_questions_are_indexed_by_approvals(db_url: str) -> None:
    """Under the runner, per-call questions carry the `hitl` payload, so `Approvals` lists and decides them."""
    graph = agent(call("send_email", {"to": "bob"}, "c1"), checkpointer=None, interrupt_mode="per_call")
    with Approvals.open(graph, db_url) as hitl:
        hitl.start("t2", {"messages": [HumanMessage("mail")]})
        [request] = hitl.pending().items
        assert request.payload["type"] == "tool_approval" and request.payload["tool_call_id"] == "c1"
        hitl.decide(request.request_id, {"type": "approve"}, approver="bob")
        events = [(e["event"], e["actor"]) for e in hitl.history("t2")]
    assert RAN == [("send_email", "bob")] and ("approved", "bob") in events


# -- the edit notice (what langchain's tests of its private state key cover) -----------------------------------


@tool
def write_blocks(content: str) -> list[dict[str, Any]]:
    """Write, answering with content blocks."""
    return [{"type": "text", "text": f"wrote {content}"}]


@pytest.mark.parametrize(
    "edit_notice", [EDIT_NOTICE, "Operator overrode these args.", None], ids=["default", "custom", "off"]
)
def test_hitl_middleware_edit_notice_on_block_results(edit_notice: str | None) -> None:
    """An edited call's block-content result gets the notice as a text block in front (custom text, or none)."""
    a = create_agent(
        FakeToolCallingModel(tool_calls=[[call("write_blocks", {"content": "a"}, "w1")], []]),
        [write_blocks],
        middleware=[HumanInTheLoopMiddleware(interrupt_on={"write_blocks": True}, edit_notice=edit_notice)],
        checkpointer=InMemorySaver(),
    )
    a.invoke({"messages": [HumanMessage("go")]}, CFG)
    edit = {"type": "edit", "edited_action": {"name": "write_blocks", "args": {"content": "b"}}}
    a.invoke(Command(resume={"decisions": [edit]}), CFG)
    content = tool_messages(a)["w1"].content
    if edit_notice is None:
        assert content == [{"type": "text", "text": "wrote b"}]
    else:
        text = f'{edit_notice} Executed instead: write_blocks with arguments {{"content": "b"}}.\n\nTool response:'
        assert content == [{"type": "text", "text": text}, {"type": "text", "text": "wrote b"}]


def test_hitl_middleware_edit_notice_on_command_results_and_added_once() -> None:
    """A Command result's own ToolMessage gets the notice once; other messages in it are left alone."""
    executed = {"name": "write_command", "args": {"content": "b"}}
    command: Command[Any] = Command(
        update={
            "messages": [ToolMessage("wrote b", tool_call_id="w1"), ToolMessage("other", tool_call_id="99")],
            "k": 1,
        }
    )
    once = notice(command, "w1", executed, EDIT_NOTICE)  # type: ignore[arg-type]
    twice = notice(once, "w1", executed, EDIT_NOTICE)  # type: ignore[arg-type]
    mine, other = twice.update["messages"]
    assert (
        mine.content
        == f"{EDIT_NOTICE} Executed instead: write_command with arguments {json.dumps({'content': 'b'})}.\n\nTool response:\nwrote b"
    )
    assert other.content == "other" and twice.update["k"] == 1


def test_hitl_middleware_edit_to_a_tool_the_agent_lacks_raises() -> None:
    """A reviewer naming a tool the agent does not have fails loudly, as langchain's does, and nothing runs."""
    a = agent(call("send_email", {"to": "bob"}, "c1"))
    a.invoke({"messages": [HumanMessage("go")]}, CFG)
    edit = {"type": "edit", "edited_action": {"name": "nope", "args": {}}}
    with pytest.raises(ValueError, match="'nope', which is not an available tool"):
        a.invoke(Command(resume={"decisions": [edit]}), CFG)
    assert RAN == []


# -- F1: the tools step runs only the call that was reviewed ----------------------------------------------

ADDRESSES = st.text(alphabet=string.ascii_letters + "@.", min_size=1, max_size=24)
SWAPS = st.one_of(
    st.builds(lambda to: ("send_email", {"to": to}), ADDRESSES.filter(lambda to: to != "bob")),
    st.builds(lambda id: ("delete_record", {"id": id}), st.integers(-(10**9), 10**9)),
)
"""A call that replaces the reviewed `send_email(to="bob")` under the same ids: other arguments, or another gated tool."""


def swap(a: Any, name: str, args: dict[str, Any], call_id: str) -> None:
    """Replace the turn's AIMessage (same message id, same tool-call id) with one making another call."""
    a.update_state(CFG, {"messages": [AIMessage("", id="0", tool_calls=[call(name, args, call_id)])]})


@settings(**SETTINGS)
@given(changed=SWAPS, verdict=st.sampled_from(["approve", "reject"]))
def test_hitl_middleware_call_changed_after_approval_is_asked_again(changed: Any, verdict: str) -> None:
    """(F1) An approved call changed with `update_state` at a breakpoint does not run: it is asked about afresh, as changed."""
    RAN.clear()
    a = agent(call("send_email", {"to": "bob"}, "c1"), interrupt_before=["tools"])
    a.invoke({"messages": [HumanMessage("mail bob")]}, CFG)
    a.invoke(Command(resume={"decisions": [{"type": "approve"}]}), CFG)
    name, args = changed
    swap(a, name, args, "c1")
    out = a.invoke(None, CFG)
    assert RAN == []
    again = ask(out)
    assert [(r["name"], r["args"]) for r in again["action_requests"]] == [(name, args)]
    assert "changed after it was reviewed" in again["hitl"]["context"]["refused"]
    a.invoke(Command(resume={"decisions": [{"type": verdict}]}), CFG)
    assert RAN == ([(name, next(iter(args.values())))] if verdict == "approve" else [])
    assert tool_messages(a)["c1"].status == ("success" if verdict == "approve" else "error")


@settings(**{**SETTINGS, "max_examples": 10})
@given(other=st.integers(-(10**9), 10**9).filter(lambda id: id != 7))
def test_hitl_middleware_second_approver_sees_and_approves_only_the_changed_call(other: int) -> None:
    """(F1) Between two approvals, a changed call is asked about afresh: the first approval does not count for it."""
    RAN.clear()
    policy = Policy(
        {"delete_record": "irreversible_high"}, requirements={"high": Requirement(required_approvals=2)}
    )
    a = agent(call("delete_record", {"id": 7}, "d1"), policy=policy)
    a.invoke({"messages": [HumanMessage("delete 7")]}, CFG)
    second = ask(resume_as(a, {"decisions": [{"type": "approve"}]}, CFG, user="alice"))
    assert second["action_requests"][0]["args"] == {"id": 7} and second["hitl"]["stage"] == 2
    swap(a, "delete_record", {"id": other}, "d1")
    again = ask(a.invoke(None, authenticated(CFG, "bob")))
    assert again["action_requests"][0]["args"] == {"id": other}
    assert again["hitl"]["stage"] == 1 and "alice" not in again["hitl"]["exclude_approvers"]
    resume_as(a, {"decisions": [{"type": "approve"}]}, CFG, user="bob")
    assert RAN == []
    reply = tool_messages(a)["d1"]
    assert reply.status == "error" and "needs another approval" in reply.content


# -- F2: tool-call ids shared by several calls of a turn -----------------------------------------------------

CALLS = {"search": {"q": "x"}, "send_email": {"to": "bob"}, "delete_record": {"id": 7}}


@settings(**SETTINGS)
@given(
    names=st.lists(st.sampled_from(sorted(CALLS)), min_size=2, max_size=3),
    mode=st.sampled_from(["batched", "per_call"]),
)
def test_hitl_middleware_calls_sharing_an_id_never_run_when_one_is_gated(names: list[str], mode: str) -> None:
    """(F2) Calls sharing a tool-call id with a gated call never run (none of them), each is told why; others run."""
    RAN.clear()
    policy = Policy(
        {
            "search": "fully_reversible",
            "send_email": "irreversible_low",
            "delete_record": "irreversible_high",
        },
        requirements={"high": Requirement(required_approvals=2)},
    )
    calls = [call(name, CALLS[name], "dup") for name in names]
    a = agent(*calls, call("search", {"q": "other"}, "s1"), policy=policy, interrupt_mode=mode)
    out = a.invoke({"messages": [HumanMessage("go")]}, CFG)
    assert "__interrupt__" not in out
    replies = [m for m in a.get_state(CFG).values["messages"] if isinstance(m, ToolMessage)]
    if names == ["search"] * len(names):  # nothing gated: they run, as langchain's would
        assert sorted(RAN) == sorted([("search", "x")] * len(names) + [("search", "other")])
        return
    assert RAN == [("search", "other")]
    shared = [m for m in replies if m.tool_call_id == "dup"]
    assert len(shared) == len(names)
    assert all(m.status == "error" and f"shared by {len(names)} calls" in m.content for m in shared)


def test_hitl_middleware_shared_ids_through_approvals(db_url: str) -> None:
    """(F2) Under `Approvals`, a two-approver call sharing a safe call's id is not asked about and never runs."""
    policy = Policy(
        {"search": "fully_reversible", "delete_record": "irreversible_high"},
        requirements={"high": Requirement(required_approvals=2)},
    )
    graph = agent(
        call("search", {"q": "x"}, "dup"),
        call("delete_record", {"id": 7}, "dup"),
        checkpointer=None,
        policy=policy,
        interrupt_on={"delete_record": True, "search": False},
    )
    with Approvals.open(graph, db_url) as hitl:
        run = hitl.start("t1", {"messages": [HumanMessage("go")]})
        assert run.status == "done" and hitl.pending().items == []
        events = [(e["event"], e["actor"]) for e in hitl.history("t1")]
    assert RAN == [] and events.count(("denied", "policy")) == 2


# -- F3: an answer naming someone else is never saved, so it is never replayed --------------------------------


@settings(**SETTINGS)
@given(
    sender=st.sampled_from(["mallory", "bob", None]),
    named=st.sampled_from(["alice", "Alice", " alice "]),
    kind=st.sampled_from(["approve", "edit"]),
    mode=st.sampled_from(["batched", "per_call"]),
    listed=st.booleans(),
)
def test_hitl_middleware_ask_again_never_saves_an_answer_naming_someone_else(
    sender: str | None, named: str, kind: str, mode: str, listed: bool
) -> None:
    """(F3) With `ask_again`, an answer whose `approver` is not its sender raises unsaved; the named person's reject wins."""
    assume(sender is not None or not listed)
    RAN.clear()
    options: dict[str, Any] = {"approvers": ["alice", "mallory"], "require_approver": True} if listed else {}
    a = agent(call("send_email", {"to": "bob"}, "c1"), on_invalid="ask_again", interrupt_mode=mode, **options)
    first = a.invoke({"messages": [HumanMessage("mail bob")]}, CFG)["__interrupt__"][0]
    forged: dict[str, Any] = {"type": kind, "approver": named}
    if kind == "edit":
        forged["edited_action"] = {"name": "send_email", "args": {"to": "eve@evil"}}
    with pytest.raises(ValueError, match="submitted by|may not decide"):
        answer = forged if mode == "per_call" else {"decisions": [forged]}
        if sender is None:
            a.invoke(Command(resume=answer), CFG)
        else:
            resume_as(a, answer, CFG, user=sender)
    assert [i.id for i in a.get_state(CFG).interrupts] == [first.id]
    reject = {"type": "reject", "message": "no"}
    resume_as(a, reject if mode == "per_call" else {"decisions": [reject]}, CFG, user="alice")
    assert RAN == []
    assert [(d["type"], d["approver"]) for d in a.get_state(CFG).values["decisions"]] == [("reject", "alice")]


def test_hitl_middleware_ask_again_saves_only_nameless_wrong_answers() -> None:
    """(F3) With `ask_again`, a wrong answer naming its sender raises unsaved; a nameless one is refused and asked again, and anyone may answer next."""
    a = agent(call("send_email", {"to": "bob"}, "c1"), on_invalid="ask_again")
    first = a.invoke({"messages": [HumanMessage("mail bob")]}, CFG)["__interrupt__"][0]
    twice = {"decisions": [{"type": "approve", "approver": "alice"}] * 2}
    with pytest.raises(ValueError, match=r"has 1 action\(s\) to decide; got 2"):
        resume_as(a, twice, CFG, user="alice")
    assert [i.id for i in a.get_state(CFG).interrupts] == [first.id]
    again = ask(resume_as(a, {"decisions": [{"type": "approve"}] * 2}, CFG, user="alice"))
    assert "got 2 decision(s)" in again["hitl"]["context"]["refused"]
    resume_as(a, {"decisions": [{"type": "approve"}]}, CFG, user="bob")
    assert RAN == [("send_email", "bob")]
    decisions = a.get_state(CFG).values["decisions"]
    assert [(d["approver"], d["effect"]) for d in decisions] == [(None, "refused"), ("bob", "approved")]


# -- F4: an edit never softens the gate of the tool it writes --------------------------------------------------


@settings(**SETTINGS)
@given(
    allowed=st.lists(
        st.sampled_from(["approve", "edit", "reject", "respond"]), min_size=1, max_size=4, unique=True
    ),
    on_invalid=st.sampled_from(["raise", "ask_again"]),
)
def test_hitl_middleware_edit_into_a_tool_that_may_not_be_approved_is_refused(
    allowed: list[str], on_invalid: str
) -> None:
    """(F4) An edit may switch tools only into one whose `interrupt_on` entry lets a reviewer approve or edit; else it raises unsaved."""
    RAN.clear()
    interrupt_on: Any = {"send_email": True, "delete_record": {"allowed_decisions": allowed}}
    a = agent(call("send_email", {"to": "bob"}, "c1"), interrupt_on=interrupt_on, on_invalid=on_invalid)
    first = a.invoke({"messages": [HumanMessage("mail bob")]}, CFG)["__interrupt__"][0]
    edit = {"type": "edit", "edited_action": {"name": "delete_record", "args": {"id": 7}}}
    if {"approve", "edit"} & set(allowed):
        a.invoke(Command(resume={"decisions": [edit]}), CFG)
        assert RAN == [("delete_record", 7)]
        return
    with pytest.raises(ValueError, match="tool 'delete_record', whose allowed decisions are"):
        a.invoke(Command(resume={"decisions": [edit]}), CFG)
    assert [i.id for i in a.get_state(CFG).interrupts] == [first.id] and RAN == []
    a.invoke(Command(resume={"decisions": [{"type": "reject"}]}), CFG)
    assert RAN == [] and tool_messages(a)["c1"].status == "error"
