"""Rubber-stamp detection: approvers who approve faster than anyone could read are flagged from the
inbox, with the numbers behind each flag, and must then type a phrase to approve, whichever way
they answer (the runner, a plain LangGraph resume, the web inbox, another spelling of their name)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command

from langgraph_hitl import Approvals, Policy, add_approval_flow, open_checkpointer, open_store
from langgraph_hitl.errors import DecisionError, PolicyError
from langgraph_hitl.rubber_stamp import RubberStampRule, confirmation_request, profile, rule_for
from langgraph_hitl.testing import FakeClock, authenticated

from graphs import State

RULE = RubberStampRule(actions=["send_email"], window=10, min_decisions=5, fast_s=5.0, streak=8)
ACTIONS = {"send_email": "irreversible_high", "delete_record": "irreversible_high"}
HANDLERS = {"send_email": lambda args: "sent", "delete_record": lambda args: "deleted"}


def _builder(store: Any = None, *, rule: RubberStampRule | None = RULE) -> StateGraph:
    policy = Policy(ACTIONS, rules=[rule] if rule else [], version="rs-1")
    builder = StateGraph(State)
    builder.add_node("agent", lambda state: {})
    builder.add_edge(START, "agent")
    add_approval_flow(builder, source="agent", target=END, policy=policy, handlers=HANDLERS, store=store)
    return builder


def _email(i: int) -> dict[str, Any]:
    return {"action": {"name": "send_email", "args": {"to": [f"c{i}@example.com"], "body": "hello"}}}


def _stamp(db_url: str, clock: FakeClock, approver: str, n: int, *, seconds: float = 1.0) -> None:
    """`approver` approves `n` fresh requests, each `seconds` after it was asked (under a policy
    without the rule, so the record builds up without phrases; the inbox is the same)."""
    with Approvals.open(_builder(rule=None), db_url, clock=clock) as hitl:
        for i in range(n):
            run = hitl.start(f"{approver}-{i}-{clock()}", _email(i))
            clock.advance(seconds)
            hitl.decide(run.pending[0].request_id, {"type": "approve"}, approver=approver)


@pytest.fixture
def runner(db_url: str) -> Any:
    clock = FakeClock()
    with Approvals.open(_builder(), db_url, clock=clock) as hitl:
        yield hitl, clock, db_url


def test_rubber_stamp_rule_travels_in_the_question_and_never_changes_the_gate(runner: Any) -> None:
    """The rule is in `hitl.rubber_stamp` of the actions it covers only; gates are unchanged."""
    hitl, _, _ = runner
    asked = hitl.start("t-mail", _email(1)).pending[0].payload["hitl"]
    assert asked["rubber_stamp"]["phrase"] == "APPROVE {action} {request}" and asked["mode"] == "hard"
    other = hitl.start("t-del", {"action": {"name": "delete_record", "args": {"id": 3}}}).pending[0]
    assert "rubber_stamp" not in other.payload["hitl"]


def test_rubber_stamp_flagged_approver_must_type_the_phrase(store_url: str) -> None:
    """Six approvals in a second each flag `fast` and `unread`; the next approval without the phrase
    is refused with the evidence and stays pending; with the phrase it runs; a rejection needs none."""
    clock, db_url = FakeClock(), store_url
    with Approvals.open(_builder(), db_url, clock=clock) as hitl:
        _flagged_then_confirmed(hitl, clock, db_url)


def _flagged_then_confirmed(hitl: Approvals, clock: FakeClock, db_url: str) -> None:
    _stamp(db_url, clock, "alice", 6)
    stats = hitl.stats(rubber_stamp=RULE)
    alice = stats["reviewers"]["alice"]
    assert {f["flag"] for f in alice["flags"]} == {"fast", "unread"}
    fast = next(f for f in alice["flags"] if f["flag"] == "fast")
    assert (fast["count"], fast["decisions"], fast["value"], fast["threshold"]) == (6, 6, 1.0, 0.5)
    assert alice["streak"] == 6 and alice["median_s"] == 1.0 and alice["median_shown_bytes"] > 0
    run = hitl.start("t-next", _email(99))
    req = run.pending[0]
    with pytest.raises(
        DecisionError, match=r"(?s)Type exactly 'APPROVE send_email .{8}'.*'alice' must confirm"
    ):
        hitl.decide(req.request_id, {"type": "approve"}, approver="alice")
    assert hitl.get(req.request_id).status == "pending"
    edit = {"type": "edit", "edited_action": {"name": "send_email", "args": {"to": ["x@example.com"]}}}
    with pytest.raises(DecisionError, match="must confirm approvals"):  # an edit approves too
        hitl.decide(req.request_id, edit, approver="alice")
    phrase = f"APPROVE send_email {req.request_id[:8]}"
    done = hitl.decide(req.request_id, {"type": "approve", "verify": phrase}, approver="alice")
    assert done.values["status"] == "executed"
    assert (
        hitl.stats(rubber_stamp=RULE)["reviewers"]["alice"]["streak"] == 0
    )  # a confirmed approval ends the streak
    other = hitl.start("t-other", _email(100)).pending[0]
    rejected = hitl.decide(other.request_id, {"type": "reject", "message": "no"}, approver="alice")
    assert rejected.values["status"] == "rejected"
    bob = hitl.start("t-bob", _email(101)).pending[0]  # bob has no record: no phrase
    assert hitl.decide(bob.request_id, {"type": "approve"}, approver="bob").values["status"] == "executed"


def test_rubber_stamp_slow_reviewers_are_not_flagged(runner: Any) -> None:
    """Approvals that take a minute each flag nothing, so no phrase is asked."""
    hitl, clock, db_url = runner
    _stamp(db_url, clock, "carol", 6, seconds=60.0)
    assert hitl.stats(rubber_stamp=RULE)["reviewers"]["carol"]["flags"] == []
    req = hitl.start("t-carol", _email(7)).pending[0]
    assert hitl.decide(req.request_id, {"type": "approve"}, approver="carol").values["status"] == "executed"


@pytest.mark.parametrize("spelling", ["ALICE", " Alice ", "a1ice", "alıce"])
def test_rubber_stamp_other_spellings_are_the_same_approver(runner: Any, spelling: str) -> None:
    """A flag earned as `alice` holds for `ALICE` and for lookalikes (`a1ice`, dotless `alıce`)."""
    hitl, clock, db_url = runner
    _stamp(db_url, clock, "alice", 6)
    req = hitl.start("t-spell", _email(5)).pending[0]
    with pytest.raises(DecisionError, match="must confirm approvals"):
        hitl.decide(req.request_id, {"type": "approve"}, approver=spelling)
    profiles = hitl.stats(rubber_stamp=RULE)["reviewers"]
    assert list(profiles) == ["alice"]


def test_rubber_stamp_lookalike_record_counts_for_the_original(runner: Any) -> None:
    """Decisions taken as `a1ice` flag `alice` too: switching spellings never starts a clean record."""
    hitl, clock, db_url = runner
    _stamp(db_url, clock, "a1ice", 3)
    _stamp(db_url, clock, "alice", 3)
    req = hitl.start("t-mixed", _email(9)).pending[0]
    with pytest.raises(DecisionError, match="6 of the last 6 decisions"):
        hitl.decide(req.request_id, {"type": "approve"}, approver="alice")


def test_rubber_stamp_plain_langgraph_resume_is_refused_too(db_url: str) -> None:
    """A flagged approver who resumes the thread with plain LangGraph, past the runner, is refused
    by the review node (from the store), and the question is asked again with the reason."""
    clock = FakeClock()
    with Approvals.open(_builder(), db_url, clock=clock) as hitl:
        _stamp(db_url, clock, "alice", 6)
        hitl.start("t-raw", _email(1))
    with open_checkpointer(db_url) as saver, open_store(db_url, clock=clock) as store:
        graph = _builder(store=store).compile(checkpointer=saver)
        config = authenticated({"configurable": {"thread_id": "t-raw"}}, "Alice")
        out = graph.invoke(Command(resume={"type": "approve"}), config)
        assert out.get("status") != "executed"
        asked = graph.get_state(config).interrupts[0].value["hitl"]
        assert "must confirm approvals" in asked["refused"] and "6 of the last 6" in asked["refused"]
        phrase = f"APPROVE send_email {asked['request_id'][:8]}"
        out = graph.invoke(Command(resume={"type": "approve", "verify": phrase}), config)
        assert out["status"] == "executed"


def test_rubber_stamp_without_a_store_everyone_types_the_phrase(tmp_path: Path) -> None:
    """A graph run with no store cannot clear anyone: every approval needs the phrase (fail closed)."""
    from langgraph.checkpoint.memory import InMemorySaver

    graph = _builder().compile(checkpointer=InMemorySaver())
    config = authenticated({"configurable": {"thread_id": "t-mem"}}, "bob")
    graph.invoke(_email(1), config)
    graph.invoke(Command(resume={"type": "approve"}), config)
    asked = graph.get_state(config).interrupts[0].value["hitl"]
    assert "no store holds the approvers' decisions" in asked["refused"]


def test_rubber_stamp_web_inbox_applies_the_same_rule(db_url: str) -> None:
    """Through the web inbox's JSON API, a flagged approver's approval is refused with the evidence."""
    from fastapi.testclient import TestClient

    from langgraph_hitl.web import create_app

    clock = FakeClock(time.time())  # the web inbox's runner reads the window with the real clock
    with Approvals.open(_builder(), db_url, clock=clock) as hitl:
        _stamp(db_url, clock, "alice", 6)
        req = hitl.start("t-web", _email(3)).pending[0]
    token = "alice-token-7f3c0a9b2e"
    app = create_app(db=db_url, graph=_builder(), approvers={"alice": token}, secret_key="s" * 32)
    with TestClient(app, follow_redirects=False) as client:
        headers = {"Authorization": f"Bearer {token}"}
        url = f"/api/requests/{req.request_id}/decision"
        resp = client.post(url, json={"type": "approve"}, headers=headers)
        assert resp.status_code == 400 and "must confirm approvals" in resp.text
        assert app.state.approvals.get(req.request_id).status == "pending"
        phrase = f"APPROVE send_email {req.request_id[:8]}"
        resp = client.post(url, json={"type": "approve", "verify": phrase}, headers=headers)
        assert resp.status_code == 200, resp.text
        # The page's form: an optional phrase field; without the phrase the refusal names it.
        form_req = app.state.approvals.start("t-form", _email(4)).pending[0]
        _login(client, token)
        page = client.get(f"/requests/{form_req.request_id}").text
        assert "only when asked: approvals that came too quickly" in page
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf is not None
        action = f"/requests/{form_req.request_id}/decision"
        refused = client.post(action, data={"csrf": csrf.group(1), "type": "approve"})
        assert refused.status_code == 400 and "must confirm approvals" in refused.text
        phrase = f"APPROVE send_email {form_req.request_id[:8]}"
        done = client.post(action, data={"csrf": csrf.group(1), "type": "approve", "verify": phrase})
        assert done.status_code in (200, 303), done.text
        assert app.state.approvals.get(form_req.request_id).status == "resumed"


def test_rubber_stamp_enforce_false_only_flags(db_url: str) -> None:
    """`enforce=False` keeps the flags in the metrics and asks for nothing."""
    clock = FakeClock()
    rule = RubberStampRule(actions="*", min_decisions=5, enforce=False)
    with Approvals.open(_builder(rule=rule), db_url, clock=clock) as hitl:
        _stamp(db_url, clock, "dave", 6)
        assert hitl.stats(rubber_stamp=rule)["reviewers"]["dave"]["flags"]
        req = hitl.start("t-dave", _email(1)).pending[0]
        assert (
            hitl.decide(req.request_id, {"type": "approve"}, approver="dave").values["status"] == "executed"
        )


def test_rubber_stamp_rule_is_validated_when_built() -> None:
    """Bad thresholds, a phrase that is empty, or a rule that tries to change a gate are refused."""
    with pytest.raises(PolicyError, match="window=0"):
        RubberStampRule(window=0)
    with pytest.raises(PolicyError, match="fast_share=1.5"):
        RubberStampRule(fast_share=1.5)
    with pytest.raises(PolicyError, match="phrase=''"):
        RubberStampRule(phrase="")
    with pytest.raises(PolicyError, match="never changes a gate"):
        RubberStampRule(mode="deny")
    policy = Policy(ACTIONS, rules=[RULE])
    assert rule_for(policy, {"name": "delete_record", "args": {}}) is None
    assert policy.assess({"name": "send_email", "args": {}}) == Policy(ACTIONS).assess(
        {"name": "send_email", "args": {}}
    )


_decision = st.fixed_dictionaries(
    {
        "approver": st.just("alice"),
        "request_id": st.text(alphabet="0123456789abcdef", min_size=8, max_size=8),
        "kind": st.sampled_from(["approve", "approve", "reject", "edit"]),
        "seconds": st.floats(min_value=0, max_value=600, allow_nan=False),
        "shown_bytes": st.integers(min_value=0, max_value=50_000),
        "confirmed": st.booleans(),
        "decided_at": st.floats(min_value=0, max_value=1e9, allow_nan=False),
    }
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_decision, max_size=30))
def test_rubber_stamp_profile_evidence_matches_its_numbers(decisions: list[Any]) -> None:
    """Every flag's numbers are recomputable from the window, and a flag needs min_decisions."""
    found = profile(decisions, RULE)
    window = decisions[: RULE.window]
    assert found["decisions"] == len(window)
    for flag in found["flags"]:
        assert len(window) >= RULE.min_decisions
        assert flag["decisions"] == len(window)
        if flag["flag"] == "fast":
            fast = [
                d
                for i, d in enumerate(window)
                if d["kind"] == "approve" and _at_most(d, decisions[i + 1 : i + 2]) < RULE.fast_s
            ]
            assert flag["count"] == len(fast) and flag["value"] >= RULE.fast_share
        if flag["flag"] == "streak":
            assert all(d["kind"] == "approve" and not d["confirmed"] for d in window[: flag["count"]])
    if len(window) < RULE.min_decisions:
        assert found["flags"] == []


def _at_most(decision: Any, previous: list[Any]) -> float:
    """The most time `decision` can have taken: since its question, or since the previous decision."""
    if not previous:
        return float(decision["seconds"])
    return min(decision["seconds"], max(0.0, decision["decided_at"] - previous[0]["decided_at"]))


def test_rubber_stamp_a_queue_does_not_hide_fast_approvals(runner: Any) -> None:
    """Questions that waited an hour, then approved one second apart, are fast: the time since the
    approver's previous decision bounds what a decision can have taken."""
    hitl, clock, db_url = runner
    with Approvals.open(_builder(rule=None), db_url, clock=clock) as other:
        waiting = [other.start(f"q{i}", _email(i)).pending[0] for i in range(6)]
        clock.advance(3600)
        for req in waiting:
            clock.advance(1)
            other.decide(req.request_id, {"type": "approve"}, approver="erin")
    erin = hitl.stats(rubber_stamp=RULE)["reviewers"]["erin"]
    assert erin["fast"] == 5 and erin["median_s"] == 1.0  # the first one: since its question, an hour
    assert [f["flag"] for f in erin["flags"]] == ["fast", "unread"]


def test_rubber_stamp_confirmation_keeps_existing_phrases() -> None:
    """A request that already has a `verify` phrase keeps it; the others get the rule's phrase."""
    request: Any = {
        "action_requests": [{"name": "pay", "args": {"id": 7}}],
        "review_configs": [],
        "hitl": {"request_id": "abcdef0123", "verify_phrase": "PAY 7", "calls": [{"verify_phrase": "PAY 7"}]},
    }
    assert confirmation_request(request, RULE)["hitl"]["verify_phrase"] == "PAY 7"
    request["hitl"] = {"request_id": "abcdef0123", "verify_phrase": None, "calls": [{"verify_phrase": None}]}
    asked = confirmation_request(request, RubberStampRule(phrase="PAY {id} ({request})"))["hitl"]
    assert asked["verify_phrase"] == asked["calls"][0]["verify_phrase"] == "PAY 7 (abcdef01)"


def _login(client: Any, token: str) -> None:
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert csrf is not None
    assert client.post("/login", data={"token": token, "csrf": csrf.group(1)}).status_code == 303


def test_rubber_stamp_cli_and_web_metrics_show_the_evidence(db_url: str) -> None:
    """`langgraph-hitl reviewers` and the web metrics page list each approver's numbers and flags
    with their evidence; `stats --json` carries the same profiles and the thresholds used."""
    import json

    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from langgraph_hitl.cli._app import app as cli_app
    from langgraph_hitl.web import create_app

    clock = FakeClock(time.time())
    _stamp(db_url, clock, "alice", 12)
    _stamp(db_url, clock, "bob", 3, seconds=90.0)
    cli = CliRunner()
    out = cli.invoke(cli_app, ["--db", db_url, "reviewers", "--min-decisions", "10"], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert "flag alice fast: 12 of the last 12 decisions were approvals in under 5 s" in out.output
    assert "flag bob" not in out.output
    out = cli.invoke(cli_app, ["--db", db_url, "reviewers", "--fast-share", "2", "--json"])
    assert out.exit_code != 0 and "fast_share=2.0" in out.output
    data = json.loads(cli.invoke(cli_app, ["--db", db_url, "stats", "--json"], catch_exceptions=False).output)
    assert data["reviewers"]["alice"]["streak"] == 12 and data["rubber_stamp"]["min_decisions"] == 10
    assert data["reviewers"]["bob"]["flags"] == [] and data["reviewers"]["bob"]["median_s"] == 90.0
    token = "alice-token-7f3c0a9b2e"
    app = create_app(db=db_url, graph=_builder(), approvers={"alice": token}, secret_key="s" * 32)
    with TestClient(app, follow_redirects=False) as client:
        _login(client, token)
        page = client.get("/metrics").text
        assert 'id="reviewers"' in page and "12 of the last 12 decisions were approvals in under 5 s" in page
        assert "<em>streak</em> at 15 approvals in a row" in page


def test_rubber_stamp_phrase_survives_arguments_that_do_not_fit_it() -> None:
    """A phrase whose fields the arguments cannot fill, or fill with blanks, is asked for as written:
    the decision is refused as any missing phrase is (no other exception), and the phrase is never empty."""
    from langgraph.checkpoint.memory import InMemorySaver

    for n, (phrase, args) in enumerate(
        [("PAY {to:.2f}", {"to": "abc"}), ("PAY {to.tier}", {"to": {}}), ("{to}", {"to": " "})]
    ):
        graph = _builder(rule=RubberStampRule(actions=["send_email"], phrase=phrase)).compile(
            checkpointer=InMemorySaver()
        )
        config = authenticated({"configurable": {"thread_id": f"t-fit-{n}"}}, "bob")
        graph.invoke({"action": {"name": "send_email", "args": args}}, config)
        graph.invoke(Command(resume={"type": "approve"}), config)  # no store: everyone is flagged
        asked = graph.get_state(config).interrupts[0].value["hitl"]
        assert "must confirm approvals by typing the phrase" in asked["refused"], asked["refused"]
        assert repr(phrase) in asked["refused"]
        done = graph.invoke(Command(resume={"type": "approve", "verify": phrase}), config)
        assert done["status"] == "executed"
