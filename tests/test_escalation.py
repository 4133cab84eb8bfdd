"""Escalation chains: model levels escalate on low confidence, errors, timeouts and sensitive content; people decide last."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from langgraph_hitl import Approvals, open_checkpointer
from langgraph_hitl.errors import PolicyError
from langgraph_hitl.patterns import EscalationState, HumanLevel, ModelLevel, create_escalation_chain
from langgraph_hitl.store import open_store
from langgraph_hitl.testing import FakeClock, resume_as

from fake_openai import FakeOpenAI, error, structured


def cfg(thread: str = "t") -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}}


def ask(out: dict[str, Any]) -> dict[str, Any]:
    return out["__interrupt__"][0].value


def unsure(task: Any) -> dict[str, Any]:
    return {"answer": "probably 30 days?", "confidence": 0.42}


def sure(task: Any) -> dict[str, Any]:
    return {"answer": "Refunds are allowed within 30 days.", "confidence": 0.93}


def fake_chat(*replies: str) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter([AIMessage(content=r) for r in replies]))


SUPPORT = [HumanLevel("human", approvers=["sam"], timeout=900), HumanLevel("manager", approvers=["mia"])]


@pytest.fixture
def saver(db_url: str) -> Iterator[Any]:
    with open_checkpointer(db_url) as cp:
        yield cp


def path(out: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(s["level"], s["outcome"], s["reason"]) for s in out["escalation_path"]]


def test_escalation_walks_levels_and_records_why(db_url: str) -> None:
    """agent (low confidence) -> senior_agent (sensitive) -> human (timeout) -> manager (responds), each reason recorded."""
    senior = fake_chat('{"answer": "Refund it, goodwill.", "confidence": 0.9, "sensitive": true}')
    builder = create_escalation_chain(
        [ModelLevel("agent", unsure), ModelLevel("senior_agent", senior), *SUPPORT]
    )
    clock = FakeClock()
    with Approvals.open(builder, db_url, clock=clock) as hitl:
        run = hitl.start("t", {"task": "Refund order 8812 after 45 days?"})
        req = run.pending[0].payload
        hitl_ = req["hitl"]
        assert (hitl_["node"], hitl_["approvers"], hitl_["timeout_s"]) == ("review_human", ["sam"], 900)
        assert hitl_["reasons"] == [
            "escalated to human: sensitive: the model flagged the content as sensitive"
        ]
        assert req["action_requests"][0]["args"] == {
            "task": "Refund order 8812 after 45 days?",
            "answer": "Refund it, goodwill.",
        }
        assert hitl_["context"]["on_timeout"] == "escalates to manager"
        clock.advance(901)
        assert hitl.expire_overdue() == [run.pending[0].request_id]
        [waiting] = hitl.pending().items
        assert (waiting.node, waiting.approvers) == ("review_manager", ["mia"])
        out = hitl.decide(
            waiting.request_id, {"type": "respond", "message": "Refund 50% as credit."}, approver="mia"
        ).values
    assert (out["escalation_status"], out["answer"], out["resolved_by"]) == (
        "resolved",
        "Refund 50% as credit.",
        "manager:mia",
    )
    assert path(out) == [
        ("agent", "escalated", "low confidence: 0.42 below 0.7"),
        ("senior_agent", "escalated", "sensitive: the model flagged the content as sensitive"),
        ("human", "escalated", "timeout: nobody at human decided in time"),
        ("manager", "resolved", "responded by mia"),
    ]
    assert [s["to"] for s in out["escalation_path"]] == ["senior_agent", "human", "manager", None]
    audit = [(e["event"], e["actor"], (e["detail"] or {}).get("reason")) for e in out["audit_trail"]]
    assert audit == [
        ("escalated", "agent", "low confidence: 0.42 below 0.7"),
        ("escalated", "senior_agent", "sensitive: the model flagged the content as sensitive"),
        ("timed_out", "system:timeout", None),
        ("escalated", "system", "timeout: nobody at human decided in time"),
        ("responded", "mia", None),
    ]


def test_escalation_resolves_at_first_confident_level(saver: Any) -> None:
    """A confident first answer resolves without asking anyone."""
    graph = create_escalation_chain([ModelLevel("agent", sure), *SUPPORT]).compile(checkpointer=saver)
    out = graph.invoke({"task": "Refund window?"}, cfg())
    assert "__interrupt__" not in out
    assert (out["escalation_status"], out["resolved_by"], out["confidence"]) == ("resolved", "agent", 0.93)
    assert [e["event"] for e in out["audit_trail"]] == ["auto_approved"]


def test_escalation_error_and_timeout_are_reasons(saver: Any) -> None:
    """A model that raises escalates with `error: ...`; a timeout exception escalates with `timeout: ...`."""

    def broken(task: Any) -> dict[str, Any]:
        raise RuntimeError("upstream 502")

    def slow(task: Any) -> dict[str, Any]:
        raise TimeoutError("took 30 s")

    graph = create_escalation_chain(
        [ModelLevel("agent", broken), ModelLevel("retry", slow), ModelLevel("senior_agent", sure)]
    ).compile(checkpointer=saver)
    out = graph.invoke({"task": "x"}, cfg())
    assert path(out) == [
        ("agent", "escalated", "error: RuntimeError: upstream 502"),
        ("retry", "escalated", "timeout: TimeoutError: took 30 s"),
        ("senior_agent", "resolved", "confidence 0.93 at or above 0.7"),
    ]


def test_escalation_stronger_model_is_real_chatopenai(saver: Any) -> None:
    """A ModelLevel with ChatOpenAI asks for LevelAnswer with a json_schema response format; a 500 escalates."""
    from langchain_openai import ChatOpenAI

    with FakeOpenAI() as server:
        server.push(error(500), structured({"answer": "30 days, per policy P-7.", "confidence": 0.88}))
        weak = ChatOpenAI(model="gpt-4o-mini", base_url=server.base_url, api_key="test", max_retries=0)
        strong = ChatOpenAI(model="gpt-4o", base_url=server.base_url, api_key="test", max_retries=0)
        graph = create_escalation_chain(
            [ModelLevel("agent", weak), ModelLevel("senior_agent", strong)]
        ).compile(checkpointer=saver)
        out = graph.invoke({"task": "Refund window?"}, cfg())
    assert (out["answer"], out["resolved_by"]) == ("30 days, per policy P-7.", "senior_agent")
    assert path(out)[0][2] == "error: OpenAIAPIError: Error code: 500 - scripted failure"
    second = server.requests[1]
    assert second["model"] == "gpt-4o" and second["response_format"]["json_schema"]["name"] == "LevelAnswer"
    assert "Earlier attempts:\n- agent: error: OpenAIAPIError" in second["messages"][1]["content"]


def test_escalation_sensitive_check_skips_to_first_human(saver: Any) -> None:
    """Your sensitive() check jumps over the remaining model levels to the next human level, with its reason."""
    graph = create_escalation_chain(
        [ModelLevel("agent", sure), ModelLevel("senior_agent", sure), *SUPPORT],
        sensitive=lambda task, answer: "mentions a lawyer" if "lawyer" in task else False,
    ).compile(checkpointer=saver)
    req = ask(graph.invoke({"task": "My lawyer wants a refund"}, cfg()))
    assert req["hitl"]["node"] == "review_human"
    out = resume_as(graph, {"type": "approve", "approver": "sam"}, cfg())
    assert path(out) == [
        ("agent", "escalated", "sensitive: mentions a lawyer"),
        ("human", "resolved", "approved by sam"),
    ]
    assert out["answer"] == "Refunds are allowed within 30 days." and out["resolved_by"] == "human:sam"


def test_escalation_human_edit_and_reject(saver: Any) -> None:
    """A person's edit becomes the answer; a rejection ends the chain as rejected without asking the manager."""
    graph = create_escalation_chain([ModelLevel("agent", unsure), *SUPPORT]).compile(checkpointer=saver)
    graph.invoke({"task": "q1"}, cfg("edit"))
    out = resume_as(
        graph,
        {
            "type": "edit",
            "approver": "sam",
            "edited_action": {"name": "answer", "args": {"task": "q1", "answer": "No, 30 days only."}},
        },
        cfg("edit"),
    )
    assert (out["escalation_status"], out["answer"]) == ("resolved", "No, 30 days only.")
    graph.invoke({"task": "q2"}, cfg("reject"))
    out = resume_as(graph, {"type": "reject", "approver": "sam", "message": "spam"}, cfg("reject"))
    assert "__interrupt__" not in out
    assert (out["escalation_status"], out["resolved_by"]) == ("rejected", "human:sam")
    assert path(out)[-1] == ("human", "rejected", "rejected by sam: spam")


def test_escalation_wrong_approver_is_refused_and_asked_again(saver: Any) -> None:
    """At a human level, someone else's decision is refused and the same level asks again."""
    graph = create_escalation_chain([ModelLevel("agent", unsure), *SUPPORT]).compile(checkpointer=saver)
    first = ask(graph.invoke({"task": "q"}, cfg()))
    again = ask(resume_as(graph, {"type": "approve", "approver": "mia"}, cfg()))
    assert (
        again["hitl"]["node"] == "review_human" and again["hitl"]["request_id"] != first["hitl"]["request_id"]
    )
    assert graph.get_state(cfg()).values["decisions"][-1]["effect"] == "refused"


def test_escalation_human_first_level_must_answer(saver: Any) -> None:
    """With no model answer to approve, a person can only respond or reject."""
    graph = create_escalation_chain(SUPPORT).compile(checkpointer=saver)
    req = ask(graph.invoke({"task": "Call me back?"}, cfg()))
    assert req["review_configs"][0]["allowed_decisions"] == ["reject", "respond"]
    again = resume_as(graph, {"type": "approve", "approver": "sam"}, cfg())
    assert again["decisions"][-1]["effect"] == "refused" and "__interrupt__" in again
    out = resume_as(graph, {"type": "respond", "approver": "sam", "message": "Calling at 3pm."}, cfg())
    assert (out["answer"], out["resolved_by"]) == ("Calling at 3pm.", "human:sam")


def test_escalation_broken_sensitive_check_fails_closed(saver: Any) -> None:
    """A sensitive() check that raises sends the answer to a person, saying why."""

    def broken(task: Any, answer: Any) -> bool:
        raise KeyError("topic")

    graph = create_escalation_chain([ModelLevel("agent", sure), *SUPPORT], sensitive=broken).compile(
        checkpointer=saver
    )
    out = graph.invoke({"task": "q"}, cfg())
    assert out["__interrupt__"][0].value["hitl"]["node"] == "review_human"
    assert (
        path(out)[0][2]
        == "sensitive: the sensitive-content check failed (KeyError: 'topic'), so a person decides"
    )


def test_escalation_without_levels_left_is_unresolved(saver: Any) -> None:
    """When the last level escalates, the chain ends unresolved (fail closed), saying so."""
    graph = create_escalation_chain([ModelLevel("agent", unsure)]).compile(checkpointer=saver)
    out = graph.invoke({"task": "q"}, cfg())
    assert out["escalation_status"] == "unresolved"
    assert path(out) == [
        ("agent", "unresolved", "low confidence: 0.42 below 0.7; no level left to escalate to")
    ]
    assert out["audit_trail"][-1]["event"] == "rejected"


def test_escalation_fake_chat_model_json_and_garbage(saver: Any) -> None:
    """A chat model without structured output is asked for JSON; an unreadable reply counts as an error."""
    graph = create_escalation_chain(
        [
            ModelLevel("agent", fake_chat("I think maybe yes")),
            ModelLevel("senior_agent", fake_chat('{"answer": "yes", "confidence": 0.8}')),
        ],
        min_confidence=0.75,
    ).compile(checkpointer=saver)
    out = graph.invoke({"task": {"question": "ok?"}}, cfg())
    assert path(out)[0][2] == "error: ValueError: the model's reply has no JSON object: 'I think maybe yes'"
    assert (out["answer"], out["resolved_by"]) == ("yes", "senior_agent")


def test_escalation_callable_receives_history(saver: Any) -> None:
    """A two-argument level function gets the earlier steps."""
    seen: list[Any] = []

    def senior(task: Any, history: list[dict[str, Any]]) -> dict[str, Any]:
        seen.extend(history)
        return sure(task)

    create_escalation_chain([ModelLevel("agent", unsure), ModelLevel("senior", senior)]).compile(
        checkpointer=saver
    ).invoke({"task": "q"}, cfg())
    assert [s["level"] for s in seen] == ["agent"]


def test_escalation_audit_reaches_the_store(db_url: str) -> None:
    """With a store the final AuditNode writes the chain's events."""
    with open_checkpointer(db_url) as saver, open_store(db_url) as store:
        create_escalation_chain(
            [ModelLevel("agent", unsure), ModelLevel("senior", sure)], store=store
        ).compile(checkpointer=saver).invoke({"task": "q"}, cfg("audited"))
    with open_store(db_url) as store:
        assert [r["event"] for r in store.audit.query(thread_id="audited")] == ["escalated", "auto_approved"]


def test_create_escalation_chain_rejects_bad_config() -> None:
    """Bad levels and options are refused when the graph is built."""
    with pytest.raises(PolicyError, match="non-empty list of ModelLevel"):
        create_escalation_chain([])
    with pytest.raises(PolicyError, match="Level name 'audit'"):
        create_escalation_chain([ModelLevel("audit", sure)])
    with pytest.raises(PolicyError, match=r"clash: \['human'\]"):
        create_escalation_chain([ModelLevel("human", sure), HumanLevel("human")])
    with pytest.raises(PolicyError, match="neither a chat model nor callable"):
        create_escalation_chain([ModelLevel("agent", 42)])
    with pytest.raises(PolicyError, match="'revise' is not a level decision"):
        create_escalation_chain([HumanLevel("human", allowed_decisions=("approve", "reject", "revise"))])
    with pytest.raises(PolicyError, match="approvers='sam'"):
        create_escalation_chain([HumanLevel("human", approvers="sam")])
    with pytest.raises(PolicyError, match="min_confidence=1.5"):
        create_escalation_chain([ModelLevel("agent", sure)], min_confidence=1.5)
    with pytest.raises(PolicyError, match="sensitive=True"):
        create_escalation_chain([ModelLevel("agent", sure)], sensitive=True)  # type: ignore[arg-type]
    with pytest.raises(PolicyError, match="subclass EscalationState"):
        create_escalation_chain([ModelLevel("agent", sure)], state_schema=dict)
    assert "escalation_path" in EscalationState.__annotations__
