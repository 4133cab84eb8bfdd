"""Tests for reversal (`Handler(do=..., undo=...)`, `Approvals.reverse` / `reversible`, the CLI):
a compensation goes through the policy, runs once through the ledger, and is audited."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import oversight_worker
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from langgraph_hitl import (
    Approvals,
    AsyncApprovals,
    AuthorizationError,
    HaltedError,
    Handler,
    NotPendingError,
    Policy,
    PolicyError,
    Requirement,
    ReversalError,
    Rule,
)
from langgraph_hitl.cli._app import app
from langgraph_hitl.testing import FakeClock

import graphs

ROOT = Path(__file__).resolve().parent.parent
WORKER = ROOT / "tests" / "oversight_worker.py"
UPDATE = {"action": {"name": "update_record", "args": {"id": 1, "value": "x"}}}


@pytest.fixture
def effects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "effects.db"
    monkeypatch.setenv("HITL_EFFECTS_DB", str(path))
    return path


def _undo_calls(effects: Path) -> tuple[dict[str, int], dict[str, int]]:
    """(effects per key, calls per key) of the compensation alone."""
    eff, calls = graphs.count_effects(str(effects))
    return {k: v for k, v in eff.items() if k.startswith("reverse:")}, {
        k: v for k, v in calls.items() if k.startswith("reverse:")
    }


def _executed_id(hitl: Any, thread_id: str) -> str:
    return next(e["action_id"] for e in hitl.history(thread_id) if e["event"] == "executed")


def test_handler_checks_its_functions() -> None:
    """`Handler` refuses what cannot be called (and a window must be positive); it runs `do`."""
    with pytest.raises(PolicyError, match="do="):
        Handler(do="nope")  # type: ignore[arg-type]
    with pytest.raises(PolicyError, match="undo="):
        Handler(do=print, undo=3)  # type: ignore[arg-type]
    assert Handler(do=lambda args: args["n"] + 1)({"n": 1}) == 2
    with pytest.raises(PolicyError, match="review_after_s=0"):
        Requirement(review_after_s=0)


def test_reverse_runs_the_compensation_once_and_audits_it(tmp_path: Path, effects: Path) -> None:
    """`reverse` runs `undo` with its own key and the action's result; a second call (by anyone
    allowed) returns the recorded outcome and runs nothing; the story is on the action's id."""
    with Approvals.open(oversight_worker.builder(), f"sqlite:///{tmp_path}/r.db", name="ops") as hitl:
        hitl.start("t1", UPDATE)
        action_id = _executed_id(hitl, "t1")
        done = hitl.reverse(action_id, approver="alice", reason="wrong value")
        assert (done.status, done.replayed, done.reversal_id) == ("reversed", False, f"reverse:{action_id}")
        assert done.result == {"restored": None}
        again = hitl.reverse(action_id, approver="bob", reason="twice")
        assert (again.status, again.replayed) == ("reversed", True)
        assert _undo_calls(effects)[1] == {f"reverse:{action_id}": 1}
        story = hitl.store.audit.query(action_id=action_id)
        assert [e["event"] for e in story] == [
            "proposed",
            "notified",
            "executed",
            "reversal_requested",
            "reversed",
        ]
        reversed_ = next(e for e in story if e["event"] == "reversed")
        assert reversed_["detail"]["reverses"] == action_id and reversed_["outcome"] == "success"
        asked = [e for e in story if e["event"] == "reversal_requested"]
        assert [(e["actor"], e["detail"]["reason"]) for e in asked][0] == ("alice", "wrong value")
        with pytest.raises(ReversalError, match="compensation"):
            hitl.reverse(f"reverse:{action_id}", approver="alice", reason="undo the undo")
        assert hitl.store.audit.verify().ok


def test_reverse_by_request_id_carries_the_receipt_digest(tmp_path: Path, effects: Path) -> None:
    """A reviewed action is reversed by its request id; the events name the digest its approval bound."""
    pol = Policy({"update_record": "irreversible_high"})
    with Approvals.open(oversight_worker.builder(pol), f"sqlite:///{tmp_path}/r.db") as hitl:
        hitl.start("t1", UPDATE)
        request = hitl.pending().items[0]
        hitl.decide(request.request_id, {"type": "approve"}, approver="bob")
        done = hitl.reverse(request.request_id[:8], approver="carol", reason="revert")
        assert done.status == "reversed"
        event = hitl.store.audit.query(action_id=done.action_id, event="reversed")[0]
        assert event["request_id"] == request.request_id
        assert event["detail"]["digest"] and event["detail"]["digest"].startswith(done.action_id)


def test_reverse_of_what_never_ran(tmp_path: Path, effects: Path) -> None:
    """A rejected, a still pending and an unknown request are refused, naming why; nothing runs."""
    pol = Policy({"update_record": "irreversible_high"})
    with Approvals.open(oversight_worker.builder(pol), f"sqlite:///{tmp_path}/r.db") as hitl:
        hitl.start("t1", UPDATE)
        rejected = hitl.pending().items[0].request_id
        hitl.decide(rejected, {"type": "reject"}, approver="bob")
        hitl.start("t2", UPDATE)
        waiting = hitl.pending().items[0].request_id
        with pytest.raises(ReversalError, match=r"reject\) was never executed"):
            hitl.reverse(rejected, approver="alice", reason="x")
        with pytest.raises(ReversalError, match=r"pending\) was never executed"):
            hitl.reverse(waiting, approver="alice", reason="x")
        with pytest.raises(NotPendingError):
            hitl.reverse("no-such-request", approver="alice", reason="x")
        assert _undo_calls(effects) == ({}, {})
        assert hitl.store.audit.query(event=["reversal_requested", "reversed"]) == []


def test_reverse_without_a_compensation_says_how(tmp_path: Path, effects: Path) -> None:
    """An action registered without `undo` names itself and the fix."""
    pol = Policy({"send_email": "fully_reversible"})
    with Approvals.open(oversight_worker.builder(pol), f"sqlite:///{tmp_path}/r.db") as hitl:
        hitl.start("t1", {"action": {"name": "send_email", "args": {"to": "a"}}})
        action_id = _executed_id(hitl, "t1")
        with pytest.raises(
            ReversalError, match=r"'send_email' .* has no compensation.*Handler\(do=\.\.\., undo=\.\.\.\)"
        ):
            hitl.reverse(action_id, approver="alice", reason="x")


def _gated(**requirement: Any) -> Policy:
    return Policy(
        {"update_record": "partially_reversible", "reverse:update_record": "irreversible_high"},
        requirements={"high": Requirement(**requirement)} if requirement else {},
    )


def test_reverse_by_an_unauthorized_approver(tmp_path: Path, effects: Path) -> None:
    """The policy's requirement for `reverse:NAME` says who may reverse: anyone else (or a lookalike
    of an allowed name) is refused, audited, and nothing runs."""
    with Approvals.open(
        oversight_worker.builder(_gated(approvers=["alice"])), f"sqlite:///{tmp_path}/r.db"
    ) as hitl:
        hitl.start("t1", UPDATE)
        action_id = _executed_id(hitl, "t1")
        with pytest.raises(AuthorizationError, match="'bob' may not reverse 'update_record'; allowed: alice"):
            hitl.reverse(action_id, approver="bob", reason="x")
        with pytest.raises(AuthorizationError):
            hitl.reverse(action_id, approver="\u0430lice", reason="x")  # Cyrillic a
        with pytest.raises(AuthorizationError):
            hitl.reverse(action_id, approver="system:timeout", reason="x")
        refused = hitl.store.audit.query(action_id=action_id, event="refused")
        assert [e["actor"] for e in refused] == ["bob"]
        assert _undo_calls(effects)[1] == {}
        assert hitl.reverse(action_id, approver="alice", reason="ok").status == "reversed"


def test_reverse_denied_by_the_policy(tmp_path: Path, effects: Path) -> None:
    """A `deny` gate on `reverse:NAME` refuses every reversal."""
    pol = Policy(
        {"update_record": "partially_reversible"},
        rules=[Rule("no-undo", actions="reverse:update_record", when=lambda a: True, mode="deny")],
    )
    with Approvals.open(oversight_worker.builder(pol), f"sqlite:///{tmp_path}/r.db") as hitl:
        hitl.start("t1", UPDATE)
        with pytest.raises(AuthorizationError, match="denies reverse:update_record"):
            hitl.reverse(_executed_id(hitl, "t1"), approver="alice", reason="x")


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(["alice", "Alice", "ALICE", "bob", "carol"]), min_size=1, max_size=5))
def test_two_person_reversal(tmp_path_factory: pytest.TempPathFactory, askers: list[str]) -> None:
    """Under `required_approvals=2` the compensation runs once, when the second distinct person asks
    (a name in another case is the same person), and never before."""
    path = tmp_path_factory.mktemp("two")
    os.environ["HITL_EFFECTS_DB"] = str(path / "effects.db")
    try:
        with Approvals.open(
            oversight_worker.builder(_gated(required_approvals=2)), f"sqlite:///{path}/r.db"
        ) as hitl:
            hitl.start("t1", UPDATE)
            action_id = _executed_id(hitl, "t1")
            people: list[str] = []
            for who in askers:
                done = hitl.reverse(action_id, approver=who, reason="two")
                if who.lower() not in people:
                    people.append(who.lower())
                assert done.status == ("reversed" if len(people) >= 2 else "pending")
                assert done.needed == 2
            calls = _undo_calls(path / "effects.db")[1]
            assert calls == ({f"reverse:{action_id}": 1} if len(people) >= 2 else {})
    finally:
        os.environ.pop("HITL_EFFECTS_DB", None)


def test_reversible_lists_within_the_window(tmp_path: Path, effects: Path) -> None:
    """`reversible` lists executed, reversible actions with a compensation until `review_after_s`
    after they ran; not once reversed, not after the window, not irreversible or uncompensated ones."""
    clock = FakeClock()
    with Approvals.open(oversight_worker.builder(), f"sqlite:///{tmp_path}/r.db", clock=clock) as hitl:
        hitl.start("t1", UPDATE)
        hitl.start("t2", {"action": {"name": "update_record", "args": {"id": 2, "value": "y"}}})
        listed = hitl.reversible()
        assert [a.thread_id for a in listed] == ["t1", "t2"]
        assert listed[0].until == pytest.approx(clock.now + 3600)
        hitl.reverse(listed[0].action_id, approver="alice", reason="x")
        assert [a.thread_id for a in hitl.reversible()] == ["t2"]
        clock.advance(3601)
        assert hitl.reversible() == []
        assert hitl.reverse(listed[1].action_id, approver="alice", reason="late").status == "reversed"


def test_halt_covers_the_compensation(tmp_path: Path, effects: Path) -> None:
    """A halt of the action stops its compensation too (a `refused` event, reason `halted`);
    after unhalt the same reversal runs once."""
    with Approvals.open(oversight_worker.builder(), f"sqlite:///{tmp_path}/r.db") as hitl:
        hitl.start("t1", UPDATE)
        action_id = _executed_id(hitl, "t1")
        hitl.halt("action:update_record", reason="freeze", actor="carol")
        with pytest.raises(HaltedError):
            hitl.reverse(action_id, approver="alice", reason="x")
        refused = hitl.store.audit.query(action_id=action_id, event="refused")
        assert [e["detail"]["reason"] for e in refused] == ["halted"]
        assert hitl.store.ledger.get(f"reverse:{action_id}") is None
        hitl.unhalt("action:update_record", reason="thaw", actor="carol")
        assert hitl.reverse(action_id, approver="alice", reason="x").status == "reversed"
        assert _undo_calls(effects)[1] == {f"reverse:{action_id}": 1}


def test_a_failing_compensation_is_recorded_once(tmp_path: Path, effects: Path) -> None:
    """A compensation that raises is `failed` (audited `reversal_failed`) and is not run again."""
    calls: list[int] = []

    def broken(args: dict[str, Any]) -> Any:
        calls.append(1)
        raise RuntimeError("target down")

    builder = oversight_worker.builder()
    with Approvals.open(builder, f"sqlite:///{tmp_path}/r.db") as hitl:
        hitl.graph.builder.nodes["execute"].runnable.func.compensations["update_record"] = broken
        hitl.start("t1", UPDATE)
        action_id = _executed_id(hitl, "t1")
        done = hitl.reverse(action_id, approver="alice", reason="x")
        assert (done.status, done.error) == ("failed", "RuntimeError: target down")
        assert hitl.reverse(action_id, approver="alice", reason="x").replayed
        assert calls == [1]
        assert hitl.store.audit.query(action_id=action_id, event="reversal_failed")[0]["outcome"] == "error"


@pytest.mark.parametrize("keyed", [True, False])
def test_crash_inside_the_compensation(tmp_path: Path, effects: Path, keyed: bool) -> None:
    """A process killed inside the compensation (after its effect, before the ledger record): a retry
    runs it again with the same key, so the target sees one effect; a compensation without a key is
    recorded as outcome unknown and never run twice."""
    url = f"sqlite:///{tmp_path}/r.db"
    with Approvals.open(oversight_worker.builder(keyed=keyed), url, name="ops") as hitl:
        hitl.start("t1", UPDATE)
        action_id = _executed_id(hitl, "t1")
    env = {**os.environ, "HITL_KILL_IN_UNDO": "1", **({} if keyed else {"HITL_UNKEYED_UNDO": "1"})}
    proc = subprocess.run(
        [sys.executable, str(WORKER), "reverse", url, action_id],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -9, proc.stderr[-2000:]
    with Approvals.open(oversight_worker.builder(keyed=keyed), url, name="ops") as hitl:
        done = hitl.reverse(action_id, approver="bob", reason="retry")
        again = hitl.reverse(action_id, approver="bob", reason="retry")
        assert again.replayed and again.status == done.status
        effects_by_key, calls = _undo_calls(effects)
        if keyed:
            assert done.status == "reversed"
            assert effects_by_key == {f"reverse:{action_id}": 1} and calls == {f"reverse:{action_id}": 2}
        else:
            assert done.status == "failed" and "outcome unknown" in (done.error or "")
            assert sum(calls.values()) == 1
        assert hitl.store.ledger.get(f"reverse:{action_id}").attempts == 2
        assert hitl.store.audit.verify().ok


def test_async_twins(tmp_path: Path, effects: Path) -> None:
    """`AsyncApprovals.reverse` and `reversible` do what the sync ones do."""

    async def scenario() -> None:
        async with AsyncApprovals.open(oversight_worker.builder(), f"sqlite:///{tmp_path}/a.db") as hitl:
            await hitl.start("t1", UPDATE)
            listed = await hitl.reversible()
            assert len(listed) == 1
            assert (
                await hitl.reverse(listed[0].action_id, approver="alice", reason="x")
            ).status == "reversed"
            assert await hitl.reversible() == []

    asyncio.run(scenario())


def test_cli_reverse_and_reversible(tmp_path: Path, effects: Path) -> None:
    """`reversible` lists, `reverse` runs the compensation (exit 0), a request that never ran is
    refused (5), an unknown one not found (3)."""
    url = f"sqlite:///{tmp_path}/c.db"
    graph = f"{WORKER}:builder"
    with Approvals.open(oversight_worker.builder(), url) as hitl:
        hitl.start("t1", UPDATE)
        action_id = _executed_id(hitl, "t1")
    cli = CliRunner()
    listed = json.loads(cli.invoke(app, ["reversible", "--db", url, "--graph", graph, "--json"]).output)
    assert [a["action_id"] for a in listed] == [action_id]
    out = cli.invoke(
        app, ["reverse", action_id, "--reason", "wrong", "--as", "alice", "--db", url, "--graph", graph]
    )
    assert out.exit_code == 0, out.output
    assert "reversed" in out.output
    out = cli.invoke(
        app, ["reverse", action_id, "--reason", "again", "--as", "alice", "--db", url, "--graph", graph]
    )
    assert "nothing ran again" in out.output
    assert (
        cli.invoke(
            app, ["reverse", "nope-nope", "--reason", "x", "--as", "alice", "--db", url, "--graph", graph]
        ).exit_code
        == 3
    )
    assert (
        "Nothing may be reversed now."
        in cli.invoke(app, ["reversible", "--db", url, "--graph", graph]).output
    )


def test_reverse_leaves_another_graphs_action(tmp_path: Path, effects: Path) -> None:
    """Two runners (`name=` ops and billing) on one database, both with an `update_record` that has a
    compensation: billing neither lists nor reverses ops' action (its compensation and policy are
    ops'); ops reverses it once."""
    calls: list[str] = []

    def billing_undo(args: dict[str, Any]) -> Any:
        calls.append("billing")
        return {}

    url = f"sqlite:///{tmp_path}/r.db"
    with (
        Approvals.open(oversight_worker.builder(), url, name="ops") as ops,
        Approvals.open(oversight_worker.builder(), url, name="billing") as bill,
    ):
        bill.graph.builder.nodes["execute"].runnable.func.compensations["update_record"] = billing_undo
        ops.start("t1", UPDATE)
        action_id = _executed_id(ops, "t1")
        assert [a.action_id for a in ops.reversible()] == [action_id]
        assert bill.reversible() == []
        with pytest.raises(ReversalError, match="ran in graph 'ops'.*name='ops'"):
            bill.reverse(action_id, approver="alice", reason="wrong runner")
        assert calls == []
        assert ops.reverse(action_id, approver="alice", reason="right runner").status == "reversed"
        assert _undo_calls(effects)[1] == {f"reverse:{action_id}": 1}


def test_two_runners_reversing_at_once_run_the_compensation_once(store_url: str, effects: Path) -> None:
    """Two processes' runners (own connections) reverse the same action at the same moment: the
    ledger lets one compensation run; the other gets the recorded outcome or a conflict, never a
    second run."""
    import threading

    from langgraph_hitl import HITLError

    with Approvals.open(oversight_worker.builder(), store_url, name="ops") as first:
        first.start("t-race", UPDATE)
        action_id = _executed_id(first, "t-race")
        with Approvals.open(oversight_worker.builder(), store_url, name="ops") as second:
            barrier = threading.Barrier(2)
            outcomes: list[Any] = []

            def reverse(runner: Approvals, who: str) -> None:
                barrier.wait()
                try:
                    outcomes.append(runner.reverse(action_id, approver=who, reason="race").status)
                except HITLError as exc:
                    outcomes.append(type(exc).__name__)

            threads = [
                threading.Thread(target=reverse, args=(r, w)) for r, w in ((first, "alice"), (second, "bob"))
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
    assert "reversed" in outcomes and len(outcomes) == 2, outcomes
    assert _undo_calls(effects) == ({f"reverse:{action_id}": 1}, {f"reverse:{action_id}": 1})
