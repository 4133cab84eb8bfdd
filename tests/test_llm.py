"""LLM risk classification: the real ChatOpenAI client against a loopback server, and langchain's fake chat models."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.language_models import FakeMessagesListChatModel, GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import END, START, StateGraph

from langgraph_hitl import HITLState, Policy, Requirement, Rule, add_approval_flow, open_checkpointer
from langgraph_hitl.errors import PolicyError
from langgraph_hitl.patterns import (
    LLMRiskClassifier,
    RiskVerdict,
    ToolGateNode,
    ToolGateState,
    tool_gate_condition,
)
from langgraph_hitl.testing import resume_as

from fake_openai import FakeOpenAI, error, structured, text, tool_calls

POLICY = Policy(
    {"send_email": "irreversible_low", "search": "fully_reversible", "drop_db": "irreversible_high"},
    rules=[Rule("no-drops", actions="drop_db", mode="deny")],
    requirements={"critical": Requirement(approvers=["cto", "ciso"], required_approvals=2)},
)
MASS_MAIL = {"name": "send_email", "args": {"to": ["all@corp.example"], "subject": "We are closing"}}


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


def chat(server: FakeOpenAI) -> Any:
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model="gpt-4o-mini", base_url=server.base_url, api_key="test", max_retries=0, temperature=0
    )


def verdict(risk: str, *reasons: str, confidence: float = 0.8) -> dict[str, Any]:
    return {"risk": risk, "reasons": list(reasons), "confidence": confidence}


def fake(*replies: str) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter([AIMessage(content=r) for r in replies]))


def test_fake_openai_serves_content_tool_calls_and_records_requests(server: FakeOpenAI) -> None:
    """The loopback server answers the real client with content and tool calls and records what it was sent."""
    server.push(text("hello"), tool_calls(("search", {"q": "x"}, "c1")))
    model = chat(server)
    assert model.invoke("hi").content == "hello"
    reply = model.bind_tools(
        [
            {
                "type": "function",
                "function": {
                    "name": "search",
                    "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
                },
            }
        ]
    ).invoke("find x")
    assert reply.tool_calls == [{"name": "search", "args": {"q": "x"}, "id": "c1", "type": "tool_call"}]
    assert [r["messages"][-1]["content"] for r in server.requests] == ["hi", "find x"]
    assert server.paths == ["/v1/chat/completions"] * 2


def test_llm_classifier_raises_risk_with_real_chatopenai(server: FakeOpenAI) -> None:
    """The model's `critical` becomes a rule: critical risk, its requirement (two approvers), the model's reasons."""
    server.push(
        structured(verdict("critical", "mails every customer", "announces a closure", confidence=0.9))
    )
    assessment = LLMRiskClassifier(chat(server), POLICY).assess(MASS_MAIL)
    assert (assessment["risk"], assessment["mode"], assessment["required_approvals"]) == (
        "critical",
        "hard",
        2,
    )
    assert assessment["approvers"] == ["cto", "ciso"]
    assert assessment["reasons"][0] == (
        "rule llm-risk: the model rates it critical (confidence 0.90): "
        "mails every customer; announces a closure"
    )
    sent = server.requests[0]
    assert sent["response_format"]["type"] == "json_schema"
    schema = sent["response_format"]["json_schema"]
    assert schema["name"] == "RiskVerdict" and schema["strict"] is True
    assert sorted(schema["schema"]["required"]) == sorted(
        schema["schema"]["properties"]
    )  # strict mode: all required
    assert not {"default", "minimum", "maximum", "maxItems"} & {
        k for p in schema["schema"]["properties"].values() for k in p
    }
    assert (
        sent["messages"][0]["role"] == "system" and '"action": "send_email"' in sent["messages"][1]["content"]
    )
    assert '"risk": "medium"' in sent["messages"][1]["content"]  # the model sees the policy's floor


def test_llm_classifier_cannot_lower_the_policy_floor(server: FakeOpenAI) -> None:
    """A model saying `low` about a medium action changes nothing but a reason."""
    server.push(structured(verdict("low", "looks harmless")))
    base = POLICY.assess(MASS_MAIL)
    assessment = LLMRiskClassifier(chat(server), POLICY).assess(MASS_MAIL)
    assert {k: assessment[k] for k in ("risk", "mode", "required_approvals")} == {  # type: ignore[literal-required]
        "risk": "medium",
        "mode": "soft",
        "required_approvals": 1,
    }
    assert assessment["reasons"][:-1] == base["reasons"]
    assert assessment["reasons"][-1].endswith("the policy's medium stands")


def test_llm_classifier_fails_closed_when_the_model_errors(server: FakeOpenAI) -> None:
    """A 500 keeps the policy's assessment and says why; on_error='review' makes a person decide."""
    server.push(error(500), error(503))
    kept = LLMRiskClassifier(chat(server), POLICY).assess({"name": "search", "args": {"q": "x"}})
    assert (kept["risk"], kept["mode"]) == ("low", "auto")
    assert kept["reasons"][-1].startswith("LLM risk check failed (")
    assert "kept the policy's assessment" in kept["reasons"][-1]
    review = LLMRiskClassifier(chat(server), POLICY, on_error="review").assess(
        {"name": "search", "args": {"q": "x"}}
    )
    assert review["mode"] == "hard" and review["reasons"][0].startswith(
        "rule llm-unavailable: LLM risk check failed"
    )


def test_llm_classifier_with_fake_chat_models_parses_json() -> None:
    """Models without structured output are asked for JSON; prose around it is tolerated."""
    generic = LLMRiskClassifier(
        fake('Sure. {"risk": "high", "reasons": ["prod"], "confidence": 0.7} Hope it helps'), POLICY
    )
    assert generic.assess(MASS_MAIL)["risk"] == "high"
    listed = LLMRiskClassifier(
        FakeMessagesListChatModel(
            responses=[AIMessage(content='{"risk": "medium", "reasons": [], "confidence": 0.5}')]
        ),
        POLICY,
    )
    assert listed.assess(MASS_MAIL)["risk"] == "medium"


@pytest.mark.parametrize(
    "reply", ["no json here", '{"risk": "extreme", "confidence": 0.5}', '{"risk": "high", "confidence": 7}']
)
def test_llm_classifier_garbage_reply_fails_closed(reply: str) -> None:
    """An unreadable or out-of-range verdict is a failed check: the policy's assessment stands."""
    assessment = LLMRiskClassifier(fake(reply), POLICY).assess(MASS_MAIL)
    assert assessment["risk"] == "medium" and assessment["reasons"][-1].startswith("LLM risk check failed")


def test_llm_classifier_skips_denied_critical_and_unlisted_actions() -> None:
    """Denied or already-critical actions, and actions outside `actions=`, never reach the model."""
    calls: list[Any] = []

    def model(messages: list[Any]) -> RiskVerdict:
        calls.append(messages)
        return RiskVerdict(risk="high", reasons=["x"], confidence=0.9)

    clf = LLMRiskClassifier(model, POLICY, actions=["send_email"])
    assert clf.assess({"name": "drop_db", "args": {}})["mode"] == "deny"
    assert clf.assess({"name": "search", "args": {}})["risk"] == "low"
    assert calls == []
    assert clf.assess(MASS_MAIL)["risk"] == "high" and len(calls) == 1


def test_llm_classifier_in_gate_node_is_called_once_per_step(db_url: str, server: FakeOpenAI) -> None:
    """In ClassifyAndGateNode the model is asked once; resuming the review does not ask it again."""
    server.push(structured(verdict("high", "customer-facing")))
    builder = StateGraph(HITLState)
    builder.add_node("plan", lambda state: {})
    builder.add_edge(START, "plan")
    sent: list[Any] = []
    add_approval_flow(
        builder,
        source="plan",
        target=END,
        policy=LLMRiskClassifier(chat(server), POLICY),
        handlers={"send_email": lambda args: sent.append(args) or "sent", "search": list, "drop_db": list},
    )
    config = {"configurable": {"thread_id": "t"}}
    with open_checkpointer(db_url) as saver:
        graph = builder.compile(checkpointer=saver)
        out = graph.invoke({"action": MASS_MAIL}, config)
        assert out["__interrupt__"][0].value["hitl"]["risk"] == "high"
        out = resume_as(graph, {"type": "approve", "approver": "ann"}, config)
    assert out["status"] == "executed" and len(server.requests) == 1 and len(sent) == 1


def test_llm_classifier_in_tool_gate_is_called_once_per_turn(db_url: str) -> None:
    """ToolGateNode assesses before it asks, so a resume does not re-ask the classifier."""
    calls: list[Any] = []

    def model(messages: list[Any]) -> dict[str, Any]:
        calls.append(messages)
        return verdict("high", "many recipients")

    turns = [
        AIMessage(content="", tool_calls=[{"name": "send_email", "args": MASS_MAIL["args"], "id": "c1"}]),
        AIMessage(content="done"),
    ]
    builder = StateGraph(ToolGateState)
    builder.add_node("model", lambda state: {"messages": [turns.pop(0)]})
    builder.add_node("tool_gate", ToolGateNode(LLMRiskClassifier(model, POLICY)))
    builder.add_node("tools", lambda state: {})
    builder.add_edge(START, "model")
    builder.add_edge("model", "tool_gate")
    builder.add_conditional_edges("tool_gate", tool_gate_condition, ["tool_gate", "tools", "model", END])
    builder.add_edge("tools", "model")
    config = {"configurable": {"thread_id": "t"}}
    with open_checkpointer(db_url) as saver:
        graph = builder.compile(checkpointer=saver)
        out = graph.invoke({"messages": [HumanMessage("announce")]}, config)
        assert out["__interrupt__"][0].value["hitl"]["risk"] == "high"
        resume_as(graph, {"type": "reject", "approver": "ann"}, config)
    assert len(calls) == 1


def test_llm_classifier_checks_its_options() -> None:
    """Bad floors, options and models are refused when the classifier is built."""
    with pytest.raises(PolicyError, match="needs a plain Policy as its floor, got dict"):
        LLMRiskClassifier(fake(), {})  # type: ignore[arg-type]
    with pytest.raises(PolicyError, match="on_error='ignore'"):
        LLMRiskClassifier(fake(), POLICY, on_error="ignore")  # type: ignore[arg-type]
    with pytest.raises(PolicyError, match="actions='send_email'"):
        LLMRiskClassifier(fake(), POLICY, actions="send_email")
    with pytest.raises(PolicyError, match="neither a chat model nor callable"):
        LLMRiskClassifier(42, POLICY)
    clf = LLMRiskClassifier(fake(), POLICY)
    with pytest.raises(PolicyError, match="plain Policy"):
        LLMRiskClassifier(fake(), clf)
    assert isinstance(clf, Policy) and repr(clf).startswith("LLMRiskClassifier(model=GenericFakeChatModel")


def test_llm_classifier_model_name_means_chatopenai(
    monkeypatch: pytest.MonkeyPatch, server: FakeOpenAI
) -> None:
    """A model name builds ChatOpenAI (temperature 0), configured from the environment."""
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    server.push(structured(verdict("high", "env")))
    clf = LLMRiskClassifier("gpt-4o-mini", POLICY)
    assert type(clf.model).__name__ == "ChatOpenAI"
    assert clf.assess(MASS_MAIL)["risk"] == "high" and server.requests[0]["model"] == "gpt-4o-mini"
