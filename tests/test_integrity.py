"""Approval integrity (G9-G11), tried the way an attacker would.

Each `test_finding_*` reproduces one hole found in v0.1 (issue "Approval integrity") and pins
that it is closed: an action runs only on receipts for exactly that action, from distinct
canonical people, and audit rows come only from langgraph-hitl's own code.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command

from langgraph_hitl import (
    Approvals,
    AuthorizationError,
    HITLState,
    NotPendingError,
    Policy,
    Requirement,
    ReviewNode,
    Rule,
    add_approval_flow,
    open_checkpointer,
    open_store,
)
from langgraph_hitl.nodes import ExecuteNode, execute_condition, review_condition
from langgraph_hitl.patterns import ToolGateNode, ToolGateState, tool_gate_condition
from langgraph_hitl.receipts import ReceiptError, verify
from langgraph_hitl.testing import FakeClock, authenticated, resume_as

RAN: list[tuple[str, dict[str, Any]]] = []
AUDIT_KEY = b"an audit key shared with the bank"


@pytest.fixture(autouse=True)
def _reset() -> None:
    RAN.clear()


def _handler(name: str) -> Any:
    def run(args: dict[str, Any], *, idempotency_key: str, receipts: list[Any]) -> dict[str, Any]:
        RAN.append((name, dict(args)))
        return {"ok": True, "approved_by": sorted(r["approver"] for r in receipts)}

    return run


HANDLERS = {n: _handler(n) for n in ("wire_money", "send_email", "delete_record")}


def policy() -> Policy:
    return Policy(
        {
            "wire_money": "irreversible_high",
            "send_email": "irreversible_low",
            "delete_record": "irreversible_high",
        },
        rules=[
            Rule("wires", actions="wire_money", when=lambda a: True, risk="critical", reason="moves money")
        ],
        requirements={
            "critical": Requirement(required_approvals=2),
            "medium": Requirement(timeout_s=60, on_timeout="approve"),
        },
        version="integrity-1",
    )


class State(HITLState, total=False):
    a_action: dict[str, Any]


def flow(*, action_key: str = "action", **kw: Any) -> StateGraph:
    builder = StateGraph(State)
    builder.add_node("plan", lambda s: {})
    builder.add_edge(START, "plan")
    add_approval_flow(
        builder, source="plan", target=END, policy=policy(), handlers=HANDLERS, action_key=action_key, **kw
    )
    return builder


def wire(**args: Any) -> dict[str, Any]:
    return {"action": {"name": "wire_money", "args": args}}


def cfg(thread: str = "t") -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}}


def audit_rows(url: str, thread: str) -> list[dict[str, Any]]:
    from langgraph_hitl.store import open_store

    with open_store(url) as store:
        return store.audit.query(thread_id=thread)


# -- 1. an edit at a later stage runs only on approvals of the edited action ------------------------------------------


def test_finding_1_edit_at_second_review_needs_fresh_approvals(db_url: str) -> None:
    """bob's edit at second review is a new action: alice's approval of the old arguments no longer counts."""
    with Approvals.open(flow(), db_url) as hitl:
        run = hitl.start("w", wire(to="ACME-payroll", amount=5000))
        hitl.decide(run.pending[0].request_id, {"type": "approve"}, approver="alice")
        [second] = hitl.pending().items
        assert second.node == "second_review"
        run = hitl.decide(
            second.request_id,
            {
                "type": "edit",
                "edited_action": {"name": "wire_money", "args": {"to": "BOB-PRIVATE", "amount": 999999}},
            },
            approver="bob",
        )
        assert RAN == [] and run.status == "paused"
        [again] = run.pending
        assert again.action["args"] == {"to": "BOB-PRIVATE", "amount": 999999}
        assert "bob" in again.payload["hitl"]["exclude_approvers"]
        with pytest.raises(AuthorizationError, match="four-eyes"):
            hitl.decide(again.request_id, {"type": "approve"}, approver="Bob")
        done = hitl.decide(again.request_id, {"type": "approve"}, approver="alice")
    assert done.values["status"] == "executed"
    assert RAN == [("wire_money", {"to": "BOB-PRIVATE", "amount": 999999})]
    assert done.values["result"]["approved_by"] == ["alice", "bob"]


def test_finding_1_tool_gate_editor_is_not_added_to_old_approvals(db_url: str) -> None:
    """At a tool gate an edit starts a new list of receipts; the earlier approval of the old call is dropped."""
    calls = [{"name": "wire_money", "args": {"to": "ACME", "amount": 5}, "id": "c1", "type": "tool_call"}]
    builder = StateGraph(ToolGateState)
    replies = iter([AIMessage(content="", tool_calls=calls, id="m1"), AIMessage(content="done", id="m2")])
    builder.add_node("model", lambda s: {"messages": [next(replies)]})
    builder.add_node("tool_gate", ToolGateNode(policy()))

    def tools(runs: list[dict[str, Any]]) -> dict[str, Any]:
        from langchain_core.messages import ToolMessage

        RAN.extend((c["name"], c["args"]) for c in runs)
        return {"messages": [ToolMessage(content="ok", tool_call_id=c["id"], name=c["name"]) for c in runs]}

    builder.add_node("tools", tools)
    builder.add_edge(START, "model")
    builder.add_edge("model", "tool_gate")
    builder.add_conditional_edges("tool_gate", tool_gate_condition, ["tool_gate", "tools", "model", END])
    builder.add_edge("tools", "model")
    with open_checkpointer(db_url) as saver:
        graph = builder.compile(checkpointer=saver)
        graph.invoke({"messages": [HumanMessage("pay")]}, cfg())
        resume_as(graph, {"type": "approve", "approver": "alice"}, cfg())
        out = resume_as(
            graph,
            {
                "type": "edit",
                "approver": "bob",
                "edited_action": {"name": "wire_money", "args": {"to": "BOB", "amount": 9}},
            },
            cfg(),
        )
        assert RAN == [] and "__interrupt__" in out
        [call] = out["tool_gate"]["calls"]
        assert call["approvals"] == ["bob"] and call["state"] == "pending"
        out = resume_as(graph, {"type": "approve", "approver": "carol"}, cfg())
    assert RAN == [("wire_money", {"to": "BOB", "amount": 9})]


def test_tool_gate_forged_record_does_not_run_a_risky_call(db_url: str) -> None:
    """Marking a pending call 'safe' in state (or swapping its arguments) does not make it run."""
    calls = [{"name": "delete_record", "args": {"id": 9}, "id": "c1", "type": "tool_call"}]
    builder = StateGraph(ToolGateState)
    builder.add_node("model", lambda s: {"messages": [AIMessage(content="", tool_calls=calls, id="m1")]})
    builder.add_node("tool_gate", ToolGateNode(policy()))
    builder.add_node("tools", lambda runs: RAN.extend((c["name"], c["args"]) for c in runs) or {})
    builder.add_edge(START, "model")
    builder.add_edge("model", "tool_gate")
    builder.add_conditional_edges("tool_gate", tool_gate_condition, ["tool_gate", "tools", "model", END])
    builder.add_edge("tools", END)
    for forge in ({"state": "safe"}, {"state": "approved", "run": {**calls[0], "args": {"id": 10}}}):
        with Approvals.open(builder, db_url) as hitl:
            thread = f"forge-{forge['state']}"
            hitl.start(thread, {"messages": [HumanMessage("go")]})
            record = hitl.graph.get_state(cfg(thread)).values["tool_gate"]
            call = {**record["calls"][0], **forge}
            hitl.graph.update_state(
                cfg(thread),
                {"tool_gate": {**record, "calls": [call], "status": "decided"}},
                as_node="tool_gate",
            )
            hitl.graph.invoke(None, hitl._config(thread))
    assert RAN == []


# -- 2. a change made with update_state is assessed afresh, under a new request id -------------------------------------


def test_finding_2_update_state_gets_a_fresh_gate_and_request_id(db_url: str) -> None:
    """A soft-gated email replaced by a delete is asked again under a hard gate; the timeout then rejects it."""
    clock = FakeClock()
    with Approvals.open(flow(), db_url, clock=clock) as hitl:
        run = hitl.start("s", {"action": {"name": "send_email", "args": {"to": "x@y"}}})
        old = run.pending[0]
        assert (old.payload["hitl"]["mode"], old.payload["hitl"]["on_timeout"]) == ("soft", "approve")
        hitl.graph.update_state(cfg("s"), {"action": {"name": "delete_record", "args": {"id": 7}}})
        [new] = hitl.refresh("s")
        assert new.request_id != old.request_id
        assert (new.payload["hitl"]["mode"], new.payload["hitl"]["on_timeout"]) == ("hard", "reject")
        assert "the action changed after it was assessed" in " ".join(new.payload["hitl"]["reasons"])
        with pytest.raises(NotPendingError):
            hitl.decide(old.request_id, {"type": "approve"}, approver="alice")
        clock.advance(3600)
        hitl.expire_overdue()
        assert hitl.graph.get_state(cfg("s")).values["status"] != "executed"
    assert RAN == []


def test_execute_refuses_an_action_changed_after_approval(db_url: str) -> None:
    """A change between approval and execution (a static breakpoint) sends the action back to review."""
    with open_checkpointer(db_url) as saver, open_store(db_url) as store:
        graph = flow(store=store).compile(checkpointer=saver, interrupt_before=["execute"])
        graph.invoke({"action": {"name": "delete_record", "args": {"id": 1}}}, cfg())
        graph.invoke(Command(resume={"type": "approve"}), authenticated(cfg(), "alice"))
        graph.update_state(cfg(), {"action": {"name": "delete_record", "args": {"id": 2}}})
        out = graph.invoke(None, cfg())
    assert RAN == []
    assert out["__interrupt__"][0].value["action_requests"][0]["args"] == {"id": 2}


# -- 3. "a different person" means a different canonical identity ------------------------------------------------------


@pytest.mark.parametrize("second", ["Alice", "alice ", "ALICE", "ａｌｉｃｅ", "al\u0456ce", "a\u200blice"])
def test_finding_3_lookalikes_are_not_a_second_person(db_url: str, second: str) -> None:
    """Case, width, spaces, a Cyrillic letter or a zero-width space never make a second approver."""
    with Approvals.open(flow(), db_url) as hitl:
        run = hitl.start("l", wire(to="ACME", amount=1))
        hitl.decide(run.pending[0].request_id, {"type": "approve"}, approver="alice")
        [second_req] = hitl.pending().items
        with pytest.raises(AuthorizationError):
            hitl.decide(second_req.request_id, {"type": "approve"}, approver=second)
        assert hitl.get(second_req.request_id).status == "pending"
    assert RAN == []


@pytest.mark.parametrize("who", ["Mallory", " mallory", "MALLORY"])
def test_finding_3_requester_cannot_approve_in_another_case(db_url: str, who: str) -> None:
    """The requester is excluded whatever the spelling."""
    with Approvals.open(flow(), db_url) as hitl:
        run = hitl.start("m", {**wire(to="x", amount=1), "requested_by": "mallory"})
        with pytest.raises(AuthorizationError, match="requested this action"):
            hitl.decide(run.pending[0].request_id, {"type": "approve"}, approver=who)


@pytest.mark.parametrize(
    "who", ["SYSTEM:TIMEOUT", "system:timeout", " System:Timeout", "ｓｙｓｔｅｍ:timeout"]
)
def test_finding_3_system_names_are_reserved(db_url: str, who: str) -> None:
    """Nobody decides as the runner, in any spelling."""
    with Approvals.open(flow(), db_url) as hitl:
        run = hitl.start("sys", {"action": {"name": "delete_record", "args": {"id": 1}}})
        for kind in ("approve", "timeout"):
            with pytest.raises(AuthorizationError):
                hitl.decide(run.pending[0].request_id, {"type": kind}, approver=who)
    assert RAN == []


# -- 4. a review node with no gate before it counts its own approval ------------------------------------------------


def test_finding_4_fixed_checkpoint_review_executes_after_one_approval(db_url: str) -> None:
    """plan -> review -> execute with no gate: one approval runs the action once, no loop to a second review."""
    builder = StateGraph(State)
    builder.add_node("plan", lambda s: {})
    builder.add_node("review", ReviewNode())
    builder.add_node("second_review", ReviewNode(name="second_review", stage=2))
    builder.add_node("execute", ExecuteNode(HANDLERS))
    builder.add_node("audit", lambda s: {})
    builder.add_edge(START, "plan")
    builder.add_edge("plan", "review")
    paths = ["review", "second_review", "execute", "audit"]
    builder.add_conditional_edges("review", review_condition, {p: p for p in paths} | {"revise": "plan"})
    builder.add_conditional_edges(
        "second_review", review_condition, {p: p for p in paths} | {"revise": "plan"}
    )
    builder.add_conditional_edges("execute", execute_condition, ["review", "audit"])
    builder.add_edge("audit", END)
    with Approvals.open(builder, db_url) as hitl:
        run = hitl.start("f", {"action": {"name": "send_email", "args": {"to": "x"}}})
        done = hitl.decide(run.pending[0].request_id, {"type": "approve"}, approver="alice")
    assert done.status == "done" and done.values["status"] == "executed"
    assert RAN == [("send_email", {"to": "x"})]


# -- 5. a custom action key: the edit is what runs -------------------------------------------------------------------


def test_finding_5_custom_action_key_runs_the_edited_arguments(db_url: str) -> None:
    """With action_key='a_action' an approved edit executes the edited arguments."""
    with Approvals.open(flow(action_key="a_action"), db_url) as hitl:
        run = hitl.start("k", {"a_action": {"name": "delete_record", "args": {"id": 1}}})
        done = hitl.decide(
            run.pending[0].request_id,
            {"type": "edit", "edited_action": {"name": "delete_record", "args": {"id": 2}}},
            approver="alice",
        )
    assert done.values["status"] == "executed"
    assert RAN == [("delete_record", {"id": 2})]


# -- 6. audit rows come only from langgraph-hitl's own code ---------------------------------------------------------


def test_finding_6_forged_audit_rows_in_state_never_reach_the_log(db_url: str) -> None:
    """A node that writes an 'approved by ceo' row for another thread adds nothing to that thread's history."""
    builder = StateGraph(State)
    builder.add_node(
        "plan",
        lambda s: {
            "audit_trail": [
                {
                    "event_id": "forged-1",
                    "event": "approved",
                    "actor": "ceo",
                    "thread_id": "other-thread",
                    "action": "wire_money",
                    "action_id": "x",
                    "ts": "2026-01-01T00:00:00+00:00",
                }
            ]
        },
    )
    builder.add_edge(START, "plan")
    add_approval_flow(builder, source="plan", target=END, policy=policy(), handlers=HANDLERS)
    with Approvals.open(builder, db_url) as hitl:
        run = hitl.start("victim", {"action": {"name": "delete_record", "args": {"id": 1}}})
        hitl.decide(run.pending[0].request_id, {"type": "approve"}, approver="alice")
        assert hitl.history("other-thread") == []
        assert "ceo" not in {r["actor"] for r in hitl.history("victim")}
        refused = [r for r in hitl.history("victim") if r["actor"] == "system:audit"]
        assert len(refused) == 1 and "no valid seal" in refused[0]["detail"]["error"]
        assert "ceo" not in str(hitl.stats())
        assert hitl.store.audit.verify().ok


# -- 7. a multi-call decision is validated per call before anything is written --------------------------------------


def test_finding_7_multi_call_decision_checked_per_call_before_claim(db_url: str) -> None:
    """carol may approve the email but not the delete: the batch is refused whole and nothing is recorded."""
    pol = Policy(
        {"send_email": "irreversible_low", "delete_record": "irreversible_high"},
        requirements={
            "medium": Requirement(approvers=["alice", "carol"]),
            "high": Requirement(approvers=["alice"]),
        },
    )
    calls = [
        {"name": "send_email", "args": {"to": "x"}, "id": "c1", "type": "tool_call"},
        {"name": "delete_record", "args": {"id": 9}, "id": "c2", "type": "tool_call"},
    ]
    builder = StateGraph(ToolGateState)
    builder.add_node("model", lambda s: {"messages": [AIMessage(content="", tool_calls=calls, id="m1")]})
    builder.add_node("tool_gate", ToolGateNode(pol))
    builder.add_node("tools", lambda runs: RAN.extend((c["name"], c["args"]) for c in runs) or {})
    builder.add_edge(START, "model")
    builder.add_edge("model", "tool_gate")
    builder.add_conditional_edges("tool_gate", tool_gate_condition, ["tool_gate", "tools", "model", END])
    builder.add_edge("tools", END)
    with Approvals.open(builder, db_url) as hitl:
        run = hitl.start("mc", {"messages": [HumanMessage("go")]})
        [req] = run.pending
        before = len(hitl.history("mc"))
        with pytest.raises(AuthorizationError, match="action 2"):
            hitl.decide(
                req.request_id, {"decisions": [{"type": "approve"}, {"type": "approve"}]}, approver="carol"
            )
        rows = hitl.history("mc")
        assert [r["event"] for r in rows[before:]] == ["refused"]
        assert hitl.get(req.request_id).status == "pending"


# -- 8. on the raw path the decider comes from the run's config ----------------------------------------------------


def test_finding_8_raw_resume_without_identity_is_refused(db_url: str) -> None:
    """An answer's own 'approver' is not trusted: nothing runs, and the next question says why."""
    with open_checkpointer(db_url) as saver:
        graph = flow().compile(checkpointer=saver)
        graph.invoke({"action": {"name": "delete_record", "args": {"id": 1}}}, cfg())
        out = graph.invoke(Command(resume={"type": "approve", "approver": "anyone"}), cfg())
        assert RAN == []
        assert "no authenticated identity" in out["__interrupt__"][0].value["hitl"]["refused"]
        out = graph.invoke(Command(resume={"type": "approve"}), authenticated(cfg(), "alice"))
    assert out["status"] == "executed" and RAN == [("delete_record", {"id": 1})]


def test_raw_resume_answer_must_match_authenticated_user(db_url: str) -> None:
    """An authenticated bob cannot answer as alice."""
    with open_checkpointer(db_url) as saver:
        graph = flow().compile(checkpointer=saver)
        graph.invoke({"action": {"name": "delete_record", "args": {"id": 1}}}, cfg())
        out = graph.invoke(
            Command(resume={"type": "approve", "approver": "alice"}), authenticated(cfg(), "bob")
        )
    assert (
        RAN == [] and "identity comes from the submitter" in out["__interrupt__"][0].value["hitl"]["refused"]
    )


def test_raw_resume_trusts_the_answer_only_behind_the_development_switch(db_url: str) -> None:
    """trust_answer_identity=True takes the approver from the answer, but never a system: name."""
    with open_checkpointer(db_url) as saver:
        graph = flow(trust_answer_identity=True).compile(checkpointer=saver)
        graph.invoke({"action": {"name": "delete_record", "args": {"id": 1}}}, cfg())
        out = graph.invoke(Command(resume={"type": "timeout", "approver": "system:timeout"}), cfg())
        assert "reserved for the runner" in out["__interrupt__"][0].value["hitl"]["refused"]
        out = graph.invoke(Command(resume={"type": "approve", "approver": "alice"}), cfg())
    assert out["status"] == "executed"


# -- receipts for the target system ----------------------------------------------------------------------------------


def test_handler_receipts_verify_with_the_audit_key(db_url: str) -> None:
    """A handler's receipts verify for exactly the action it runs, and not for other arguments."""
    seen: list[Any] = []
    keys: list[str] = []

    def wire_money(args: dict[str, Any], *, idempotency_key: str, receipts: list[Any]) -> dict[str, Any]:
        verify(
            receipts,
            {"name": "wire_money", "args": args},
            key=AUDIT_KEY,
            required=2,
            idempotency_key=idempotency_key,
        )
        seen.extend(receipts)
        keys.append(idempotency_key)
        return {"ok": True}

    builder = StateGraph(State)
    builder.add_node("plan", lambda s: {})
    builder.add_edge(START, "plan")
    add_approval_flow(
        builder, source="plan", target=END, policy=policy(),
        handlers={"wire_money": wire_money, "send_email": lambda a: "sent", "delete_record": lambda a: "deleted"},
    )  # fmt: skip
    with Approvals.open(builder, db_url, hmac_key=AUDIT_KEY) as hitl:
        run = hitl.start("r", wire(to="ACME", amount=10))
        hitl.decide(run.pending[0].request_id, {"type": "approve"}, approver="alice")
        done = hitl.decide(hitl.pending().items[0].request_id, {"type": "approve"}, approver="bob")
        receipts_in_log = [r["detail"]["receipt"] for r in hitl.history("r") if r["event"] == "approved"]
    assert done.values["status"] == "executed"
    assert sorted(r["approver"] for r in seen) == ["alice", "bob"]
    assert [r["mac"] for r in receipts_in_log] == [r["mac"] for r in seen]
    with pytest.raises(ReceiptError, match="other arguments"):
        verify(seen, {"name": "wire_money", "args": {"to": "ACME", "amount": 11}}, key=AUDIT_KEY, required=2)
    with pytest.raises(ReceiptError, match="another run of the action"):  # no replay for a later transfer
        verify(
            seen,
            {"name": "wire_money", "args": {"to": "ACME", "amount": 10}},
            key=AUDIT_KEY,
            required=2,
            idempotency_key="0" * 32,
        )
    verify(
        seen,
        {"name": "wire_money", "args": {"to": "ACME", "amount": 10}},
        key=AUDIT_KEY,
        required=2,
        idempotency_key=keys[0],
    )
    with pytest.raises(TypeError, match="needs the key"):
        verify(seen, {"name": "wire_money", "args": {"to": "ACME", "amount": 10}}, key=None, required=2)  # type: ignore[arg-type]
    with pytest.raises(ReceiptError, match="no valid MAC"):
        verify(
            [{**seen[0], "approver": "carol"}, seen[1]],
            {"name": "wire_money", "args": {"to": "ACME", "amount": 10}},
            key=AUDIT_KEY,
            required=2,
        )


def test_forged_receipts_in_state_do_not_count(db_url: str) -> None:
    """A node that appends a copied receipt under another name cannot make a second approver."""
    with Approvals.open(flow(), db_url) as hitl:
        run = hitl.start("fr", wire(to="ACME", amount=1))
        hitl.decide(run.pending[0].request_id, {"type": "approve"}, approver="alice")
        state = hitl.graph.get_state(cfg("fr")).values
        [rec] = [d for d in state["decisions"] if d.get("receipt")]
        forged = {**rec, "approver": "mallory", "receipt": {**rec["receipt"], "approver": "mallory"}}
        hitl.graph.update_state(
            cfg("fr"), {"decisions": [forged], "status": "approved"}, as_node="second_review"
        )
        out = hitl.graph.invoke(None, hitl._config("fr"))
    assert RAN == []
    assert out["status"] != "executed"


def test_store_seal_key_is_shared_across_connections(db_url: str) -> None:
    """Two processes on one database seal with the same key (it lives in the database)."""
    from langgraph_hitl.store import open_store

    with open_store(db_url) as a, open_store(db_url) as b:
        assert a.seal_key == b.seal_key and len(a.seal_key) == 32
    path = db_url.removeprefix("sqlite:///")
    assert sqlite3.connect(path).execute("SELECT COUNT(*) FROM hitl_secret").fetchone() == (1,)


# -- the invariant test: random sequences, checked after every step ---------------------------------------------------

NAMES = [
    "alice",
    "bob",
    "carol",
    "alice",
    "bob",
    "Alice",
    "alice ",
    "al\u0456ce",
    "BOB",
    "Mallory",
    "SYSTEM:timeout",
]


def _invariant_machine(db_url: str) -> type:
    from hypothesis import strategies as st
    from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

    from langgraph_hitl import HITLError
    from langgraph_hitl.identity import canonical

    class Integrity(RuleBasedStateMachine):
        """start / decide (approve, edit, reject, lookalike names) / update_state / refresh / expire / recover."""

        def __init__(self) -> None:
            super().__init__()
            RAN.clear()
            self.clock = FakeClock()
            self.executed: list[tuple[dict[str, Any], list[Any]]] = []
            machine = self

            def wire_money(args: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
                # Only record here: the node catches what a handler raises, so the check is the invariant's.
                machine.executed.append((dict(args), kwargs.get("receipts")))
                return {"ok": True}

            builder = StateGraph(State)
            builder.add_node("plan", lambda s: {})
            builder.add_edge(START, "plan")
            pol = Policy(
                {"wire_money": "irreversible_high"},
                rules=[Rule("wires", actions="wire_money", when=lambda a: True, risk="critical")],
                requirements={"critical": Requirement(required_approvals=2, timeout_s=60)},
            )
            add_approval_flow(
                builder, source="plan", target=END, policy=pol, handlers={"wire_money": wire_money}
            )
            self._cm = Approvals.open(builder, db_url, clock=self.clock)
            self.hitl = self._cm.__enter__()
            self.thread = f"inv-{id(self)}"
            self.hitl.start(self.thread, {**wire(to="ACME", amount=5), "requested_by": "mallory"})

        def teardown(self) -> None:
            self._cm.__exit__(None, None, None)

        def _pending(self) -> Any:
            items = [p for p in self.hitl.pending().items if p.thread_id == self.thread]
            return items[0] if items else None

        @rule(
            who=st.sampled_from(NAMES),
            kind=st.sampled_from(["approve", "approve", "approve", "edit", "reject"]),
            amount=st.integers(1, 3),
        )
        def decide(self, who: str, kind: str, amount: int) -> None:
            req = self._pending()
            if req is None:
                return
            decision: dict[str, Any] = {"type": kind}
            if kind == "edit":
                decision["edited_action"] = {"name": "wire_money", "args": {"to": "ACME", "amount": amount}}
            try:
                self.hitl.decide(req.request_id, decision, approver=who)
            except HITLError:
                pass

        @rule(who=st.sampled_from(["alice", "bob", "carol"]))
        def approve(self, who: str) -> None:
            self.decide(who, "approve", 1)

        @rule(amount=st.integers(1, 3))
        def change_state(self, amount: int) -> None:
            if self._pending() is None:
                return
            self.hitl.graph.update_state(
                cfg(self.thread), {"action": {"name": "wire_money", "args": {"to": "ACME", "amount": amount}}}
            )
            self.hitl.refresh(self.thread)

        @rule()
        def expire(self) -> None:
            self.clock.advance(61)
            self.hitl.expire_overdue()

        @rule()
        def recover(self) -> None:
            self.hitl.recover(older_than=0)

        @invariant()
        def executed_only_on_two_distinct_approvals_of_exactly_those_arguments(self) -> None:
            rows = self.hitl.history(self.thread)
            for args, receipts in self.executed:
                effect = next(i for i, r in enumerate(rows) if r["event"] == "executed" and r["args"] == args)
                people = set()
                for r in rows[
                    :effect
                ]:  # the log, read as an auditor would: who approved exactly these arguments
                    edited = ((r.get("detail") or {}).get("edited_action") or {}).get("args")
                    if (r["event"] == "approved" and r["args"] == args) or (
                        r["event"] == "edited" and edited == args
                    ):
                        try:
                            people.add(canonical(r["actor"]))
                        except AuthorizationError:
                            continue  # a lookalike is nobody
                people -= {"mallory"}
                assert len(people) >= 2, (
                    f"executed {args} with approvals of exactly it from {people or 'nobody'}"
                )
                if (
                    receipts is not None
                ):  # and the receipts the handler got verify for exactly these arguments
                    verify(
                        receipts,
                        {"name": "wire_money", "args": args},
                        key=self.hitl.store.seal_key,
                        required=2,
                    )
            assert len(self.executed) <= 1

    return Integrity


def _run_invariant(db_url: str, examples: int) -> None:
    from hypothesis import HealthCheck, settings

    machine = _invariant_machine(db_url)
    machine.TestCase.settings = settings(
        max_examples=examples,
        stateful_step_count=12,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    machine.TestCase().runTest()


def test_invariant_receipts_bounded(db_url: str) -> None:
    """A bounded slice of the invariant test: random sequences never execute without two real receipts."""
    _run_invariant(db_url, 25)


@pytest.mark.soak
def test_invariant_receipts_soak(db_url: str) -> None:
    """The invariant test at full size (make soak): 2,000 generated sequences."""
    _run_invariant(db_url, 2000)


def test_pending_filter_compares_canonical_identities(db_url: str) -> None:
    """pending(approver=...) matches the same person however the name is cased or spaced, never a lookalike."""
    pol = Policy(
        {"delete_record": "irreversible_high"}, requirements={"high": Requirement(approvers=["Alice"])}
    )
    builder = StateGraph(State)
    builder.add_node("plan", lambda s: {})
    builder.add_edge(START, "plan")
    add_approval_flow(builder, source="plan", target=END, policy=pol, handlers=HANDLERS)
    with Approvals.open(builder, db_url) as hitl:
        run = hitl.start("p", {"action": {"name": "delete_record", "args": {"id": 1}}})
        assert run.pending[0].approvers == ["alice"]
        for who in ("alice", "ALICE", " Alice "):
            assert [p.request_id for p in hitl.pending(approver=who).items] == [run.pending[0].request_id]
        with pytest.raises(AuthorizationError, match="mix"):
            hitl.pending(approver="al\u0456ce")


@pytest.mark.parametrize("who", ["al\x00ice", "alice\ud800", "a\u202elice", "\u3164alice"])
def test_refused_names_are_audited_on_both_backends(store_url: str, who: str) -> None:
    """NUL, a lone surrogate, a bidi override or a Hangul filler in a name: refused, audited, still pending."""
    with Approvals.open(flow(), store_url) as hitl:
        thread = f"n-{abs(hash(who))}"
        run = hitl.start(thread, {"action": {"name": "delete_record", "args": {"id": 1}}})
        rid = run.pending[0].request_id
        with pytest.raises(AuthorizationError):
            hitl.decide(rid, {"type": "approve"}, approver=who)
        assert hitl.get(rid).status == "pending"
        [refusal] = [r for r in hitl.history(thread) if r["event"] == "refused"]
        assert "\x00" not in refusal["actor"]
        assert hitl.decide(rid, {"type": "approve"}, approver="alice").values["status"] == "executed"


def test_raw_answer_with_a_nul_name_is_refused_and_recorded_escaped(store_url: str) -> None:
    """An answer naming 'al\\x00ice' on the raw path is refused; its record reaches even Postgres, escaped."""
    with open_checkpointer(store_url) as saver, open_store(store_url) as store:
        graph = flow(store=store).compile(checkpointer=saver)
        thread = cfg(f"nul-{store_url[:6]}")
        graph.invoke({"action": {"name": "delete_record", "args": {"id": 1}}}, thread)
        out = graph.invoke(
            Command(resume={"type": "approve", "approver": "al\x00ice"}), authenticated(thread, "alice")
        )
        assert "identity comes from the submitter" in out["__interrupt__"][0].value["hitl"]["refused"]
        out = graph.invoke(Command(resume={"type": "approve"}), authenticated(thread, "alice"))
    assert out["status"] == "executed"
    rows = audit_rows(store_url, thread["configurable"]["thread_id"])
    [refused] = [r for r in rows if r["event"] == "refused"]
    assert refused["actor"] == "'al\\x00ice'"


@pytest.mark.parametrize("runner_thread", [False, True])
def test_forged_state_without_the_runners_config_fails_closed(db_url: str, runner_thread: bool) -> None:
    """No store in the run's config (a raw graph, or the runner's graph invoked directly): forged gates still fail."""
    forged_gate: dict[str, Any] = {"mode": "auto", "risk": "low", "required_approvals": 0}
    with Approvals.open(flow(), db_url) as hitl:
        graph = hitl.graph
        if runner_thread:
            hitl.start("raw", wire(to="ACME", amount=5))
        else:
            graph.invoke(wire(to="ACME", amount=5), cfg("raw"))
        state = graph.get_state(cfg("raw")).values
        assessment = {**state["assessment"], **forged_gate}
        receipt = {
            **(state.get("decisions") or [{}])[-1].get("receipt", {}),
            "approver": "bob",
            "mac": "0" * 64,
        }
        graph.update_state(cfg("raw"), {"assessment": assessment, "status": "approved"}, as_node="review")
        out = graph.invoke(None, cfg("raw"))
        assert RAN == [] and out.get("status") != "executed"
        graph.update_state(
            cfg("raw"),
            {
                "decisions": [
                    {
                        "request_id": "x",
                        "action_id": "x",
                        "node": "review",
                        "stage": 2,
                        "type": "approve",
                        "approver": "bob",
                        "message": None,
                        "edited_action": None,
                        "effect": "approved",
                        "decided_at": "",
                        "receipt": receipt,
                    }
                ],
                "status": "approved",
            },
            as_node="review",
        )
        out = graph.invoke(None, cfg("raw"))
    assert RAN == [] and out.get("status") != "executed"


def test_requester_rewritten_in_state_still_cannot_approve(db_url: str) -> None:
    """The proposer is sealed with the gate: rewriting requested_by in state does not unlock self-approval."""
    with Approvals.open(flow(), db_url) as hitl:
        run = hitl.start(
            "rq", {"action": {"name": "delete_record", "args": {"id": 1}}, "requested_by": "mallory"}
        )
        with pytest.raises(AuthorizationError, match="requested this action"):
            hitl.decide(run.pending[0].request_id, {"type": "approve"}, approver="mallory")
        hitl.graph.update_state(cfg("rq"), {"requested_by": "someone-else"})
        [again] = hitl.refresh("rq")
        assert {"mallory", "someone-else"} <= set(again.payload["hitl"]["exclude_approvers"])
        with pytest.raises(AuthorizationError, match="requested this action"):
            hitl.decide(again.request_id, {"type": "approve"}, approver="mallory")
    assert RAN == []


@pytest.mark.parametrize(
    ("first", "second"),
    [("alice", "al\u0131ce"), ("alice", "\u0251lice"), ("alice", "AL\u0130CE"), ("alice", "a\xa0lice"),
     ("alice", "a1ice"), ("alice", "alice\u0332"), ("bob", "\u042c\u043e\u044c"), ("bob", "\u0185ob")],
)  # fmt: skip
def test_same_script_lookalikes_are_not_a_second_approver(db_url: str, first: str, second: str) -> None:
    """Latin lookalike letters, combining marks, NBSP and digits never pass for a second person."""
    with Approvals.open(flow(), db_url) as hitl:
        run = hitl.start("lk", wire(to="ACME", amount=1))
        hitl.decide(run.pending[0].request_id, {"type": "approve"}, approver=first)
        [stage2] = hitl.pending().items
        with pytest.raises(AuthorizationError, match="looks like"):
            hitl.decide(stage2.request_id, {"type": "approve"}, approver=second)
        assert hitl.get(stage2.request_id).status == "pending"
    assert RAN == []


def test_requester_lookalike_cannot_approve(db_url: str) -> None:
    """'rnallory' looks like the requester 'mallory'."""
    with Approvals.open(flow(), db_url) as hitl:
        run = hitl.start(
            "rl", {"action": {"name": "delete_record", "args": {"id": 1}}, "requested_by": "mallory"}
        )
        with pytest.raises(AuthorizationError, match="looks like the requester"):
            hitl.decide(run.pending[0].request_id, {"type": "approve"}, approver="rnallory")


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_expire_asks_again_when_the_overdue_question_went_stale(db_url: str, flavour: str) -> None:
    """A soft request whose action was swapped (no refresh) is not silently dropped: the new action is asked."""
    import asyncio

    from langgraph_hitl import AsyncApprovals

    clock = FakeClock()

    def setup(graph: Any) -> None:
        graph.update_state(cfg("st"), {"action": {"name": "delete_record", "args": {"id": 3}}})

    if flavour == "sync":
        with Approvals.open(flow(), db_url, clock=clock) as hitl:
            old = hitl.start("st", {"action": {"name": "send_email", "args": {"to": "x"}}}).pending[0]
            setup(hitl.graph)
            clock.advance(3600)
            assert hitl.expire_overdue() == [old.request_id]
            [new] = hitl.pending().items
    else:

        async def run() -> Any:
            async with AsyncApprovals.open(flow(), db_url, clock=clock) as hitl:
                old = (
                    await hitl.start("st", {"action": {"name": "send_email", "args": {"to": "x"}}})
                ).pending[0]
                await hitl.graph.aupdate_state(
                    cfg("st"), {"action": {"name": "delete_record", "args": {"id": 3}}}
                )
                clock.advance(3600)
                assert await hitl.expire_overdue() == [old.request_id]
                return old, (await hitl.apending()).items[0]

        old, new = asyncio.run(run())
    assert new.request_id != old.request_id and new.action["name"] == "delete_record"
    assert (new.payload["hitl"]["mode"], new.payload["hitl"]["on_timeout"]) == ("hard", "reject")
    assert RAN == []


def _forge_approval(hitl: Any, thread: str, node: str) -> Any:
    """Write an 'approved by manager' decision (no receipt) into state as if `node` had recorded it."""
    state = hitl.graph.get_state(cfg(thread)).values
    forged = {"request_id": "x", "action_id": state["action_id"], "node": node, "stage": 1, "type": "approve",
              "approver": "manager", "message": None, "edited_action": None, "effect": "approved",
              "decided_at": ""}  # fmt: skip
    hitl.graph.update_state(cfg(thread), {"decisions": [forged], "status": "approved"}, as_node=node)
    return hitl.graph.invoke(None, hitl._config(thread))


def test_pipeline_stage_does_not_pass_on_a_forged_approval(db_url: str) -> None:
    """A pipeline stage's output goes on only with receipts for exactly it."""
    from langgraph_hitl.patterns import Stage, create_approval_pipeline

    stages = [Stage("draft", lambda x: f"draft of {x}"), Stage("tone", lambda x: x.upper(), approvers=["manager"]),
              Stage("final", lambda x: x + "!")]  # fmt: skip
    with Approvals.open(create_approval_pipeline(stages), db_url) as hitl:
        hitl.start("pf", {"input": "news"})
        out = _forge_approval(hitl, "pf", "review_tone")
    assert out["pipeline_status"] == "rejected" and "not passed on" in out["stopped_at"]["reason"]


def test_escalation_level_is_not_resolved_by_a_forged_approval(db_url: str) -> None:
    """A human level's answer is accepted only with receipts for exactly that answer."""
    from langgraph_hitl.patterns import HumanLevel, create_escalation_chain

    chain = create_escalation_chain([HumanLevel("manager", approvers=["manager"])])
    with Approvals.open(chain, db_url) as hitl:
        hitl.start("ef", {"task": "refund?", "answer": "yes"})
        out = _forge_approval(hitl, "ef", "review_manager")
    assert out["escalation_status"] != "resolved"
    assert "not accepted" in out["escalation_path"][-1]["reason"]


def test_a_decision_the_graph_never_took_leaves_a_row_saying_so(db_url: str) -> None:
    """G11: when the resume fails before the graph takes the answer, the claim is released and audited."""
    failing = {"on": False}

    class FlakyReview(ReviewNode):
        def build_request(self, state: dict[str, Any], config: Any) -> Any:
            if failing["on"]:
                raise RuntimeError("review service unavailable")
            return super().build_request(state, config)

    builder = StateGraph(State)
    builder.add_node("plan", lambda s: {})
    builder.add_node("review", FlakyReview())
    builder.add_node("execute", ExecuteNode(HANDLERS))
    builder.add_edge(START, "plan")
    builder.add_edge("plan", "review")
    builder.add_conditional_edges("review", review_condition, {"review": "review", "second_review": "review",
                                                              "execute": "execute", "audit": END, "revise": END})  # fmt: skip
    builder.add_edge("execute", END)
    with Approvals.open(builder, db_url) as hitl:
        rid = hitl.start("rel", {"action": {"name": "send_email", "args": {"to": "x"}}}).pending[0].request_id
        failing["on"] = True
        with pytest.raises(RuntimeError, match="unavailable"):
            hitl.decide(rid, {"type": "approve"}, approver="alice")
        assert hitl.get(rid).status == "pending" and RAN == []
        [released] = [r for r in hitl.history("rel") if (r["detail"] or {}).get("released")]
        assert (released["event"], released["actor"]) == ("refused", "alice")
        assert "was not delivered (RuntimeError: review service unavailable)" in released["detail"]["error"]
        failing["on"] = False
        assert hitl.decide(rid, {"type": "approve"}, approver="alice").values["status"] == "executed"
