"""Confidence bands and confirmation levels: how much a person is asked, on top of the policy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel

from langgraph_hitl import Approvals, ConfidenceBands, HITLState, Policy, add_approval_flow, open_checkpointer
from langgraph_hitl.decisions import validate_decision
from langgraph_hitl.errors import DecisionError, PolicyError
from langgraph_hitl.patterns import confirmation_level, confirmation_policy, read_confidence
from langgraph_hitl.testing import resume_as

DONE: list[tuple[str, Any]] = []


@pytest.fixture(autouse=True)
def _clear() -> None:
    DONE.clear()


def handler(name: str) -> Any:
    def run(args: dict[str, Any]) -> str:
        DONE.append((name, args))
        return "ok"

    return run


def build(policy: Policy, names: tuple[str, ...] = ("send_email",)) -> StateGraph[Any, Any, Any, Any]:
    builder = StateGraph(HITLState)
    builder.add_node("plan", lambda state: {})
    builder.add_edge(START, "plan")
    return add_approval_flow(
        builder,
        source="plan",
        target=END,
        policy=policy,
        handlers={n: handler(n) for n in {*names, *policy.actions}},
    )


def cfg(thread: str = "t") -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}}


def mail(confidence: Any = None) -> dict[str, Any]:
    state: dict[str, Any] = {"action": {"name": "send_email", "args": {"to": "ann@corp"}}}
    if confidence is not None:
        state["confidence"] = confidence
    return state


BANDED = Policy({"send_email": "irreversible_low", "wipe": "irreversible_high"}, confidence=ConfidenceBands())


@pytest.fixture
def graph(db_url: str) -> Iterator[Any]:
    with open_checkpointer(db_url) as saver:
        yield build(BANDED, ("send_email", "wipe")).compile(checkpointer=saver)


def test_confidence_bands_route_three_ways(graph: Any) -> None:
    """>= 0.85 runs without review, < 0.3 is denied, in between a person is asked."""
    high = graph.invoke(mail(0.9), cfg("high"))
    assert "__interrupt__" not in high and high["status"] == "executed"
    assert high["assessment"]["reasons"][0] == "confidence 0.90 at or above 0.85"
    assert [e["event"] for e in high["audit_trail"]] == ["proposed", "auto_approved", "executed"]
    low = graph.invoke(mail(0.1), cfg("low"))
    assert "__interrupt__" not in low and low["status"] == "denied"
    assert low["assessment"]["reasons"][0] == "confidence 0.10 below 0.3: denied"
    middle = graph.invoke(mail(0.5), cfg("middle"))
    assert middle["__interrupt__"][0].value["hitl"]["mode"] == "soft"
    done = resume_as(graph, {"type": "approve", "approver": "lee"}, cfg("middle"))
    assert done["status"] == "executed"
    assert [a["to"] for _, a in DONE] == ["ann@corp", "ann@corp"]


def test_confidence_band_edges_are_inclusive_below(graph: Any) -> None:
    """Exactly 0.85 auto-approves; exactly 0.3 is asked, not denied."""
    assert graph.invoke(mail(0.85), cfg("a"))["status"] == "executed"
    assert "__interrupt__" in graph.invoke(mail(0.3), cfg("b"))


def test_confidence_thresholds_are_configurable(db_url: str) -> None:
    """Stricter bands (0.95 / 0.5) ask at 0.9 and deny at 0.45."""
    policy = Policy(
        {"send_email": "irreversible_low"},
        confidence=ConfidenceBands(auto_approve_at=0.95, auto_reject_below=0.5),
    )
    with open_checkpointer(db_url) as saver:
        graph = build(policy).compile(checkpointer=saver)
        assert "__interrupt__" in graph.invoke(mail(0.9), cfg("a"))
        assert graph.invoke(mail(0.45), cfg("b"))["status"] == "denied"
        assert graph.invoke(mail(0.96), cfg("c"))["status"] == "executed"
    with pytest.raises(PolicyError, match="need 0 <= auto_reject_below <= auto_approve_at <= 1"):
        ConfidenceBands(auto_approve_at=0.2, auto_reject_below=0.5)


def test_confidence_never_loosens_a_hard_gate(graph: Any) -> None:
    """A confident model still waits for a person on an irreversible, high-impact action."""
    out = graph.invoke({"action": {"name": "wipe", "args": {}}, "confidence": 0.99}, cfg())
    assert out["__interrupt__"][0].value["hitl"]["mode"] == "hard" and DONE == []


@pytest.mark.parametrize("bad", [1.7, -0.1, True, "high", float("nan")])
def test_confidence_outside_range_is_ignored(graph: Any, bad: Any) -> None:
    """A confidence that is not a number in [0, 1] is ignored: the policy's own gate (ask) applies."""
    out = graph.invoke(mail(bad), cfg())
    assert "__interrupt__" in out and out["assessment"]["mode"] == "soft"


class Plan(BaseModel):
    to: str
    confidence: float


def test_read_confidence_reads_model_outputs() -> None:
    """Numbers, dicts, pydantic models, tool-call args and JSON content; nonsense gives None."""
    assert read_confidence(0.4) == 0.4
    assert read_confidence({"confidence": 1}) == 1.0
    assert read_confidence(Plan(to="x", confidence=0.72)) == 0.72
    assert (
        read_confidence(
            AIMessage(content="", tool_calls=[{"name": "Plan", "args": {"confidence": 0.6}, "id": "1"}])
        )
        == 0.6
    )
    assert read_confidence(AIMessage(content='{"to": "x", "confidence": 0.33}')) == 0.33
    assert read_confidence('{"certainty": 0.9}', key="certainty") == 0.9
    for bad in [
        None,
        "not json",
        AIMessage(content="sure!"),
        {"confidence": "high"},
        {"confidence": True},
        {"confidence": 2},
        {},
        [0.5],
        object(),
    ]:
        assert read_confidence(bad) is None, bad


def test_structured_output_confidence_drives_the_gate(db_url: str) -> None:
    """A planner reads its model's self-reported confidence into state; the gate routes on it."""
    model = GenericFakeChatModel(
        messages=iter(
            [
                AIMessage(content='{"to": "ann@corp", "confidence": 0.92}'),
                AIMessage(content='{"to": "all@corp", "confidence": 0.55}'),
            ]
        )
    )

    def plan(state: dict[str, Any]) -> dict[str, Any]:
        reply = model.invoke("Who should get the mail? Answer JSON with your confidence.")
        return {
            "action": {"name": "send_email", "args": {"to": Plan.model_validate_json(str(reply.content)).to}},
            "confidence": read_confidence(reply),
        }

    builder = StateGraph(HITLState)
    builder.add_node("plan", plan)
    builder.add_edge(START, "plan")
    add_approval_flow(
        builder, source="plan", target=END, policy=BANDED, handlers={n: handler(n) for n in BANDED.actions}
    )
    with open_checkpointer(db_url) as saver:
        graph = builder.compile(checkpointer=saver)
        assert graph.invoke({}, cfg("a"))["status"] == "executed"
        assert "__interrupt__" in graph.invoke({}, cfg("b"))
    assert DONE == [("send_email", {"to": "ann@corp"})]


# -- confirmation levels ---------------------------------------------------------------------------------

LEVELS = confirmation_policy(
    {"post_digest": "info", "send_invoice": "confirm", "delete_account": "verify"},
    verify_phrases={"delete_account": "DELETE {id}"},
)


def test_confirmation_policy_maps_levels_to_gate_modes() -> None:
    """info -> notify, confirm -> hard, verify -> verify with the formatted phrase; and back again."""
    modes = {
        n: LEVELS.assess({"name": n, "args": {"id": 7}})["mode"]
        for n in ("post_digest", "send_invoice", "delete_account")
    }
    assert modes == {"post_digest": "notify", "send_invoice": "hard", "delete_account": "verify"}
    assert LEVELS.assess({"name": "delete_account", "args": {"id": 7}})["verify_phrase"] == "DELETE 7"
    assert [confirmation_level(m) for m in ("auto", "notify", "soft", "hard", "verify", "deny")] == [
        None,
        "info",
        "confirm",
        "confirm",
        "verify",
        None,
    ]


def test_confirmation_policy_rejects_bad_tables() -> None:
    """Unknown levels, verify without a phrase and phrases for other levels are refused with the fix."""
    with pytest.raises(PolicyError, match="confirmation level 'ask'. Allowed: info, confirm, verify"):
        confirmation_policy({"x": "ask"})  # type: ignore[dict-item]
    with pytest.raises(PolicyError, match="'x' is 'verify' but has no phrase"):
        confirmation_policy({"x": "verify"})
    with pytest.raises(PolicyError, match=r"verify_phrases names \['x'\], which are not 'verify' actions"):
        confirmation_policy({"x": "confirm"}, verify_phrases={"x": "YES"})


def test_confirmation_policy_extends_a_base_policy() -> None:
    """The base policy's actions, rules and version are kept; levels override its table."""
    base = Policy({"search": "fully_reversible", "post_digest": "irreversible_high"}, version="v9")
    policy = confirmation_policy({"post_digest": "info"}, base=base)
    assert policy.version == "v9" and policy.actions["search"] == "fully_reversible"
    assert policy.assess({"name": "post_digest", "args": {}})["mode"] == "notify"


def test_confirmation_info_runs_and_leaves_a_note(db_url: str) -> None:
    """`info` runs at once and is audited as notified."""
    with open_checkpointer(db_url) as saver:
        out = (
            build(LEVELS, ("post_digest",))
            .compile(checkpointer=saver)
            .invoke({"action": {"name": "post_digest", "args": {}}}, cfg())
        )
    assert out["status"] == "executed" and "notified" in [e["event"] for e in out["audit_trail"]]


def test_confirmation_confirm_is_yes_or_no(db_url: str) -> None:
    """`confirm` pauses; a no means it never runs."""
    with open_checkpointer(db_url) as saver:
        graph = build(LEVELS, ("send_invoice",)).compile(checkpointer=saver)
        graph.invoke({"action": {"name": "send_invoice", "args": {"id": 3}}}, cfg())
        out = resume_as(graph, {"type": "reject", "approver": "ann", "message": "wrong amount"}, cfg())
    assert out["status"] == "rejected" and DONE == []


def test_verify_wrong_phrase_is_refused_and_request_stays_pending(db_url: str) -> None:
    """Raw invoke: a wrong phrase is refused and asked again; the runner refuses it before resuming."""
    delete = {"action": {"name": "delete_account", "args": {"id": 7}}}
    with open_checkpointer(db_url) as saver:
        graph = build(LEVELS, ("delete_account",)).compile(checkpointer=saver)
        request = graph.invoke(delete, cfg())["__interrupt__"][0].value
        assert request["hitl"]["verify_phrase"] == "DELETE 7"
        with pytest.raises(DecisionError, match=r"does not match: typed 'DELETE 8'. Type exactly 'DELETE 7'"):
            validate_decision({"type": "approve", "approver": "ann", "verify": "DELETE 8"}, request)
        again = resume_as(graph, {"type": "approve", "approver": "ann", "verify": "DELETE 8"}, cfg())
        assert again["decisions"][-1]["effect"] == "refused" and DONE == []
        assert again["__interrupt__"][0].value["hitl"]["request_id"] != request["hitl"]["request_id"]
    with Approvals.open(build(LEVELS, ("delete_account",)), db_url) as hitl:
        hitl.start("runner", delete)
        [pending] = hitl.pending().items
        with pytest.raises(DecisionError, match="Confirmation phrase missing"):
            hitl.decide(pending.request_id, {"type": "approve"}, approver="ann")
        assert [p.request_id for p in hitl.pending().items] == [pending.request_id]
        hitl.decide(pending.request_id, {"type": "approve", "verify": "DELETE 7"}, approver="ann")
    assert DONE == [("delete_account", {"id": 7})]
