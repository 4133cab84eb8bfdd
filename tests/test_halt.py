"""Tests for the stop switch (`store.halts`, `Approvals.halt` / `unhalt` / `resume_halted`, the CLI):
no handler starts under a halt, in any process; gates under it are hard; nothing is lost."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import oversight_worker
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langgraph.graph import END, START, StateGraph
from typer.testing import CliRunner

from langgraph_hitl import (
    Approvals,
    AsyncApprovals,
    AuthorizationError,
    HaltedError,
    NotPendingError,
    Policy,
    Requirement,
    ThreadStateError,
    add_approval_flow,
)
from langgraph_hitl.checkpoint import open_checkpointer
from langgraph_hitl.cli._app import app
from langgraph_hitl.store import HaltScope, open_store
from langgraph_hitl.testing import FakeClock

import graphs

ROOT = Path(__file__).resolve().parent.parent
WORKER = ROOT / "tests" / "oversight_worker.py"
UPDATE = {"action": {"name": "update_record", "args": {"id": 1, "value": "x"}}}


def _events(hitl: Any, name: str) -> list[dict[str, Any]]:
    return hitl.store.audit.query(event=name)


def _calls(effects: Path) -> dict[str, int]:
    return graphs.count_effects(str(effects))[1]


@pytest.fixture
def effects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "effects.db"
    monkeypatch.setenv("HITL_EFFECTS_DB", str(path))
    return path


# -- scopes ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [("all", "all", ""), ("graph:ops", "graph", "ops"), ("action:send_email", "action", "send_email")],
)
def test_scope_parses_the_three_forms(text: str, kind: str, value: str) -> None:
    """`all`, `graph:NAME` and `action:NAME` parse, and print back as written."""
    scope = HaltScope.parse(text)
    assert (scope.kind, scope.value, str(scope)) == (kind, value, text)


@pytest.mark.parametrize(
    "text",
    [
        "ALL",
        "Action:send_email",
        "action:",
        "graph: ops",
        "action:send_email ",
        "everything",
        "action:send\u200b_email",  # zero-width space
        "action:s\u0435nd_email",  # Cyrillic e: a lookalike of send_email
        "action:\uff53end_email",  # fullwidth s
        "action:send\x00email",
    ],
)
def test_scope_refuses_other_forms_and_lookalikes(text: str) -> None:
    """A scope in another case, with spaces, invisible characters or a lookalike name is refused."""
    with pytest.raises(ValueError, match="scope"):
        HaltScope.parse(text)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=30))
def test_scope_parse_is_exact(text: str) -> None:
    """Whatever parses prints back exactly as written: no folding, no trimming."""
    try:
        scope = HaltScope.parse(text)
    except ValueError:
        return
    assert str(scope) == text


def test_exact_names_only(tmp_path: Path) -> None:
    """A halt covers exactly its name: `action:Update_record` and `graph:OPS` cover nothing here."""
    with open_store(f"sqlite:///{tmp_path}/h.db") as store:
        store.halts.halt("action:Update_record", reason="case", actor="alice")
        store.halts.halt("graph:OPS", reason="case", actor="alice")
        assert store.halts.covering(action="update_record", graph="ops") is None
        store.halts.halt("action:update_record", reason="exact", actor="alice")
        assert store.halts.covering(action="reverse:update_record", graph=None) is not None


def test_halt_refuses_bad_actor_and_reason(tmp_path: Path) -> None:
    """The actor is a canonical person (no `system:` name, no lookalike); a reason is required."""
    with open_store(f"sqlite:///{tmp_path}/h.db") as store:
        with pytest.raises(AuthorizationError):
            store.halts.halt("all", reason="x", actor="system:timeout")
        with pytest.raises(AuthorizationError):
            store.halts.halt("all", reason="x", actor="\u0430lice")  # Cyrillic a
        with pytest.raises(ValueError, match="reason"):
            store.halts.halt("all", reason="  ", actor="alice")
        with pytest.raises(NotPendingError, match="No halt is on for scope 'all'"):
            store.halts.unhalt("all", reason="x", actor="alice")
        assert store.halts.active() == []


# -- one process -----------------------------------------------------------------------------------------


def test_halt_refuses_execution_and_resume_halted_runs_it_once(tmp_path: Path, effects: Path) -> None:
    """An auto-approved action stopped before its handler does not start under a halt (a `refused`
    event, reason `halted`); after unhalt `resume_halted` runs it exactly once; the chain verifies."""
    events: list[dict[str, Any]] = []

    class Recorder:
        def on_halt(self, event: dict[str, Any]) -> None:
            events.append(event)

    compiled = oversight_worker.builder().compile(interrupt_before=["execute"])
    url = f"sqlite:///{tmp_path}/h.db"
    with Approvals.open(compiled, url, name="ops", notifier=Recorder()) as hitl:
        hitl.start("before", UPDATE)
        hitl.start("before", None)  # runs: nothing is halted yet
        hitl.start("t1", UPDATE)  # auto-approved, stopped before the handler
        halt = hitl.halt("graph:ops", reason="incident 42", actor="alice")
        assert hitl.halts() == [halt]
        with pytest.raises(HaltedError, match=r"halted \(graph:ops\) by alice: incident 42"):
            hitl.start("t1", None)
        assert len(_calls(effects)) == 1
        refused = [e for e in _events(hitl, "refused") if e["thread_id"] == "t1"]
        assert [e["detail"]["reason"] for e in refused] == ["halted"]
        assert hitl.resume_halted() == []  # still halted: left as it is
        assert hitl.store.ledger.get(refused[0]["action_id"]) is None  # nothing begun or counted
        lifted = hitl.unhalt("graph:ops", reason="fixed", actor="bob")
        assert lifted.lifted_by == "bob" and hitl.halts() == []
        assert hitl.resume_halted() == ["t1"]
        assert hitl.resume_halted() == []
        assert sorted(_calls(effects).values()) == [1, 1]
        assert [e["event"] for e in hitl.history("t1")][-2:] == ["refused", "executed"]
        assert [
            (e["event"], e["actor"], e["detail"]["reason"])
            for e in hitl.store.audit.query(event=["halted", "unhalted"])
        ] == [
            ("halted", "alice", "incident 42"),
            ("unhalted", "bob", "fixed"),
        ]
        assert [e["event"] for e in events] == ["halted", "unhalted"]
        assert hitl.store.audit.verify().ok


def test_halt_makes_gates_hard_and_the_inbox_shows_it(tmp_path: Path, effects: Path) -> None:
    """An action the policy would auto-approve waits for a person under a halt; `pending`, `get`,
    the CLI's `pending` and `show` show the halt; the approval runs only after unhalt."""
    url = f"sqlite:///{tmp_path}/h.db"
    with Approvals.open(oversight_worker.builder(), url, name="ops") as hitl:
        hitl.halt("action:update_record", reason="bad deploy", actor="alice")
        run = hitl.start("t1", UPDATE)
        assert run.status == "paused"
        item = hitl.pending().items[0]
        assert item.payload["hitl"]["mode"] == "hard" and item.payload["hitl"]["on_timeout"] == "reject"
        assert item.payload["hitl"]["reasons"][0].startswith(
            "halted (action:update_record) by alice: bad deploy"
        )
        assert (
            item.halted
            == hitl.get(item.request_id).halted
            == "halted (action:update_record) by alice: bad deploy"
        )
        out = CliRunner().invoke(app, ["pending", "--db", url])
        assert out.exit_code == 0 and "HALTED: halted (action:update_record) by alice" in out.output
        data = json.loads(CliRunner().invoke(app, ["pending", "--db", url, "--json"]).output)
        assert data["items"][0]["halted"] == item.halted
        assert "HALTED" in CliRunner().invoke(app, ["show", item.request_id, "--db", url]).output
        with pytest.raises(HaltedError):
            hitl.decide(item.request_id, {"type": "approve"}, approver="bob")
        assert _calls(effects) == {}
        hitl.unhalt("action:update_record", reason="rolled back", actor="alice")
        assert hitl.pending().items == []
        assert hitl.resume_halted() == ["t1"]
        assert len(_calls(effects)) == 1
        assert "HALTED" not in CliRunner().invoke(app, ["pending", "--db", url]).output


def _soft_graph() -> StateGraph:
    pol = Policy({"send_email": "irreversible_low"}, requirements={"medium": Requirement(timeout_s=60)})
    graph = StateGraph(graphs.State)
    graph.add_node("plan", graphs.plan)
    graph.add_edge(START, "plan")
    add_approval_flow(graph, source="plan", target=END, policy=pol, handlers=graphs.HANDLERS)
    return graph


def test_no_timeout_approves_under_a_halt(tmp_path: Path, effects: Path) -> None:
    """A soft gate asked before the halt does not approve on timeout while halted: it stays
    pending (a person may decide); after unhalt its timeout applies."""
    clock = FakeClock()
    with Approvals.open(_soft_graph(), f"sqlite:///{tmp_path}/h.db", clock=clock) as hitl:
        hitl.start("t1", {"action": {"name": "send_email", "args": {"to": "a"}}})
        request = hitl.pending().items[0]
        assert request.payload["hitl"]["on_timeout"] == "approve"
        hitl.halt("all", reason="freeze", actor="alice")
        clock.advance(120)
        assert hitl.expire_overdue() == []
        assert hitl.get(request.request_id).status == "pending"
        assert _calls(effects) == {}
        hitl.unhalt("all", reason="thaw", actor="alice")
        assert hitl.expire_overdue() == [request.request_id]
        assert len(_calls(effects)) == 1


def test_halt_while_a_decision_is_mid_flight(tmp_path: Path, effects: Path) -> None:
    """An approval accepted before the halt, whose run stopped before the handler, does not run
    under the halt; its receipt still counts after unhalt (nothing asked again, nothing lost)."""
    compiled = oversight_worker.builder(Policy({"update_record": "irreversible_high"})).compile(
        interrupt_before=["execute"]
    )
    with Approvals.open(compiled, f"sqlite:///{tmp_path}/h.db") as hitl:
        hitl.start("t1", UPDATE)
        request = hitl.pending().items[0]
        hitl.decide(request.request_id, {"type": "approve"}, approver="bob")  # stops before execute
        hitl.halt("all", reason="mid-flight", actor="alice")
        with pytest.raises(HaltedError):
            hitl.start("t1", None)
        assert _calls(effects) == {}
        hitl.unhalt("all", reason="ok", actor="alice")
        assert hitl.resume_halted() == ["t1"]
        assert len(_calls(effects)) == 1
        assert hitl.pending().items == []


def _finish(hitl: Any, thread_id: str) -> None:
    """Take a thread to its end: continue it before its handler, or approve what it waits on."""
    waiting = hitl.pending(thread_id=thread_id).items
    if waiting:
        hitl.decide(waiting[0].request_id, {"type": "approve"}, approver="bob")
        waiting = hitl.pending(thread_id=thread_id).items
    state = hitl.graph.get_state({"configurable": {"thread_id": thread_id}})
    if state.next:
        hitl.start(thread_id, None)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(["halt", "unhalt", "start", "go", "resume"]), min_size=1, max_size=12))
def test_halts_and_runs_in_any_order(tmp_path_factory: pytest.TempPathFactory, ops: list[str]) -> None:
    """Any sequence of halt / unhalt / gate / continue / resume_halted: no handler ever starts while
    halted, each action runs at most once, and once unhalted every thread runs exactly once."""
    path = tmp_path_factory.mktemp("seq")
    os.environ["HITL_EFFECTS_DB"] = str(path / "effects.db")
    seen: list[bool] = []
    compiled = oversight_worker.builder().compile(interrupt_before=["execute"])
    try:
        with Approvals.open(compiled, f"sqlite:///{path}/h.db", name="ops") as hitl:

            def guard(args: dict[str, Any], *, idempotency_key: str) -> dict[str, Any]:
                seen.append(bool(hitl.store.halts.active()))
                return oversight_worker.update(args, idempotency_key=idempotency_key)

            hitl.graph.builder.nodes["execute"].runnable.func.handlers["update_record"] = guard
            threads: list[str] = []
            for op in ops:
                if op == "halt":
                    hitl.halt("graph:ops", reason="seq", actor="alice")
                elif op == "unhalt" and hitl.halts():
                    hitl.unhalt("graph:ops", reason="seq", actor="alice")
                elif op == "start":
                    threads.append(f"t{len(threads)}")
                    hitl.start(threads[-1], UPDATE)  # through the gate: stops before execute, or asks
                elif op == "go" and threads:
                    try:
                        hitl.start(threads[0], None)
                    except (HaltedError, ThreadStateError):
                        pass  # halted (audited), or waiting for a person
                elif op == "resume":
                    hitl.resume_halted()
            if hitl.halts():
                hitl.unhalt("graph:ops", reason="end", actor="alice")
            hitl.resume_halted()
            for thread_id in threads:
                _finish(hitl, thread_id)
            assert not any(seen)
            assert sorted(_calls(path / "effects.db").values()) == [1] * len(threads)
            assert hitl.store.audit.verify().ok
    finally:
        os.environ.pop("HITL_EFFECTS_DB", None)


def test_async_twins(tmp_path: Path, effects: Path) -> None:
    """`AsyncApprovals` halts, lists, unhalts and resumes what the halt stopped."""
    compiled = oversight_worker.builder().compile(interrupt_before=["execute"])

    async def scenario() -> None:
        async with AsyncApprovals.open(compiled, f"sqlite:///{tmp_path}/a.db", name="ops") as hitl:
            await hitl.start("t1", UPDATE)
            await hitl.halt("all", reason="async", actor="alice")
            assert [str(h.scope) for h in await hitl.halts()] == ["all"]
            with pytest.raises(HaltedError):
                await hitl.start("t1", None)
            await hitl.unhalt("all", reason="async", actor="alice")
            assert len(await hitl.halts(lifted=True)) == 1
            assert await hitl.resume_halted() == ["t1"]

    asyncio.run(scenario())
    assert len(_calls(effects)) == 1


def test_cli_halt_halts_unhalt(tmp_path: Path) -> None:
    """`halt`, `halts` and `unhalt` work on the database alone; a bad scope is a usage error (2),
    an unknown one not found (3)."""
    url = f"sqlite:///{tmp_path}/c.db"
    open_store(url).close()
    cli = CliRunner()
    out = cli.invoke(app, ["halt", "action:send_email", "--reason", "storm", "--as", "alice", "--db", url])
    assert out.exit_code == 0, out.output
    assert "halted (action:send_email) by alice: storm" in out.output
    listed = json.loads(cli.invoke(app, ["halts", "--json", "--db", url]).output)
    assert [h["scope"] for h in listed] == ["action:send_email"]
    assert (
        cli.invoke(
            app, ["halt", "action:s\u0435nd_email", "--reason", "x", "--as", "alice", "--db", url]
        ).exit_code
        == 2
    )
    assert cli.invoke(app, ["unhalt", "all", "--reason", "x", "--as", "alice", "--db", url]).exit_code == 3
    out = cli.invoke(app, ["unhalt", "action:send_email", "--reason", "calm", "--as", "bob", "--db", url])
    assert out.exit_code == 0 and "lifted by bob" in out.output
    assert "No halt is on." in cli.invoke(app, ["halts", "--db", url]).output
    assert "lifted by bob" in cli.invoke(app, ["halts", "--all", "--db", url]).output


# -- across processes ------------------------------------------------------------------------------------


def _spawn(url: str, prefix: str, n: int, effects: Path, barrier: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "HITL_EFFECTS_DB": str(effects)}
    return subprocess.Popen(
        [sys.executable, str(WORKER), "execute", url, prefix, str(n), str(barrier), "4"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_calls(effects: Path, at_least: int, procs: list[subprocess.Popen[str]]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if sum(_calls(effects).values()) >= at_least:
                return
        except sqlite3.Error:
            pass
        if any(p.poll() for p in procs):  # a worker failed: no point waiting for the others
            break
        time.sleep(0.02)
    pytest.fail(
        "the workers never started enough handlers: "
        + " | ".join(p.stderr.read()[-2000:] for p in procs if p.stderr and p.poll() is not None)
    )


def test_halt_stops_four_executing_processes(store_url: str, tmp_path: Path) -> None:
    """A halt committed while 4 processes execute: no ledger entry is begun after it, every handler
    that started was admitted before it, and the rest of the runs are refused (reason `halted`)."""
    effects = tmp_path / "effects.db"
    with open_store(store_url), open_checkpointer(store_url):
        pass  # set the tables up once, before the workers race to (LangGraph's own setup does not)
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    procs = [_spawn(store_url, f"w{i}", 8, effects, barrier) for i in range(4)]
    try:
        _wait_for_calls(effects, 3, procs)
        with open_store(store_url) as store:
            with store.transaction():  # the halt and the snapshot of what it let through: one transaction
                halt = store.halts.halt("all", reason="stop now", actor="alice")
                admitted = {
                    r["action_id"] for r in store.backend.execute("SELECT action_id FROM hitl_ledger")
                }
            outs = [p.communicate(timeout=300) for p in procs]
            assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
            summary = [json.loads(o[0]) for o in outs]
            after = {r["action_id"] for r in store.backend.execute("SELECT action_id FROM hitl_ledger")}
            refused = [
                e for e in store.audit.query(event="refused") if (e["detail"] or {}).get("reason") == "halted"
            ]
            assert after == admitted  # nothing begun after the halt committed
            assert set(_calls(effects)) <= admitted  # every handler that ran was admitted before it
            assert sum(s["refused"] for s in summary) == len(refused) > 0
            assert sum(s["ran"] for s in summary) == len(admitted) == len(_calls(effects))
            assert {e["detail"]["halt_id"] for e in refused} == {halt.id}
            assert store.audit.verify().ok
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()


def test_a_database_below_migration_6(tmp_path: Path) -> None:
    """On a database not yet migrated (opened with setup=False) nothing is halted and nothing fails;
    once migrated, a halt set elsewhere is seen by the same store object."""
    url = f"sqlite:///{tmp_path}/old.db"
    with open_store(url, setup=False) as old:
        old.backend.apply_migrations([m for m in old.backend.migrations if m[0] < 6])
        assert old.halts.active() == [] and old.halts.blocking(action="x", thread_id=None) is None
        with open_store(url) as new:
            new.halts.halt("all", reason="after the upgrade", actor="alice")
        assert old.halts.blocking(action="x", thread_id=None) is not None


def test_resume_halted_leaves_another_graphs_threads(store_url: str, effects: Path) -> None:
    """Two runners (`name=` ops and billing) on one database, with the same node names: after
    `unhalt`, billing's `resume_halted` does not continue ops' stopped thread through billing's
    nodes and handlers; ops' own runner continues it, and ops' handler runs once."""

    def billing_update(args: dict[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        graphs.record_effect(idempotency_key, "billing_update", args)
        return {}

    billing = StateGraph(graphs.State)
    billing.add_node("plan", graphs.plan)
    billing.add_edge(START, "plan")
    add_approval_flow(
        billing,
        source="plan",
        target=END,
        policy=Policy({"update_record": "partially_reversible"}),
        handlers={"update_record": billing_update},
    )
    url = store_url
    ops_graph = oversight_worker.builder().compile(interrupt_before=["execute"])
    with (
        Approvals.open(ops_graph, url, name="ops") as ops,
        Approvals.open(billing.compile(interrupt_before=["execute"]), url, name="billing") as bill,
    ):
        ops.start("ops-1", UPDATE)
        ops.halt("all", reason="incident", actor="alice")
        with pytest.raises(HaltedError):
            ops.start("ops-1", None)
        ops.unhalt("all", reason="fixed", actor="alice")
        assert bill.resume_halted() == []
        assert asyncio.run(_async_resume(url)) == []
        assert ops.resume_halted() == ["ops-1"]
    conn = sqlite3.connect(effects)
    assert [r[0] for r in conn.execute("SELECT action FROM calls")] == ["update_record"]
    conn.close()


async def _async_resume(url: str) -> list[str]:
    async with AsyncApprovals.open(oversight_worker.builder(), url, name="other") as hitl:
        return await hitl.resume_halted()


def test_a_scope_differing_only_in_case_from_a_known_name_is_refused(store_url: str, effects: Path) -> None:
    """Once the database has seen `update_record` and graph `ops`, a halt naming them in another
    case or with lookalike letters is refused naming the real one (it would cover nothing); the
    exact names and names never seen are accepted."""
    with Approvals.open(oversight_worker.builder(), store_url, name="ops") as hitl:
        hitl.start("t1", UPDATE)
        for scope in ["action:Update_record", "action:UPDATE_RECORD", "action:update_rec0rd", "graph:OPS"]:
            with pytest.raises(ValueError, match="differs from it only in case or lookalike letters"):
                hitl.halt(scope, reason="typo", actor="alice")
        assert hitl.halts() == []
        hitl.halt("action:update_record", reason="exact", actor="alice")
        hitl.halt("graph:ops", reason="exact", actor="alice")
        hitl.halt("action:archive_record", reason="not seen yet", actor="alice")
        assert len(hitl.halts()) == 3


def test_a_halt_row_written_around_the_api_can_be_lifted(store_url: str) -> None:
    """A row `all` with a stray name, written into the table directly, stops everything (the check
    reads the kind) and `unhalt("all")` lifts it instead of answering that no halt is on."""
    with open_store(store_url) as store:
        with store.transaction():
            store.backend.execute(
                "INSERT INTO hitl_halts (scope_kind, scope_value, reason, actor, created_at) "
                "VALUES ('all', 'x', 'forged', 'mallory', 1)"
            )
        assert store.halts.blocking(action="update_record", thread_id=None) is not None
        lifted = store.halts.unhalt("all", reason="not ours", actor="alice")
        assert lifted.lifted_by == "alice"
        assert store.halts.blocking(action="update_record", thread_id=None) is None


def test_resume_halted_does_not_push_a_later_breakpoint(tmp_path: Path, effects: Path) -> None:
    """A thread the halt stopped, continued after unhalt, whose next action then waits at a static
    breakpoint (`interrupt_before`): `resume_halted` leaves it there (the halt no longer holds it)."""
    compiled = oversight_worker.builder().compile(interrupt_before=["execute"])
    with Approvals.open(compiled, f"sqlite:///{tmp_path}/h.db", name="ops") as hitl:
        hitl.start("t1", UPDATE)
        hitl.halt("all", reason="incident", actor="alice")
        with pytest.raises(HaltedError):
            hitl.start("t1", None)
        hitl.unhalt("all", reason="fixed", actor="alice")
        assert hitl.resume_halted() == ["t1"]
        hitl.start("t1", {"action": {"name": "update_record", "args": {"id": 2, "value": "y"}}})
        assert hitl.graph.get_state({"configurable": {"thread_id": "t1"}}).next == ("execute",)
        assert hitl.resume_halted() == []
        assert len(_calls(effects)) == 1


def test_a_halt_between_the_timeout_check_and_the_claim(
    tmp_path: Path, effects: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A halt committing after `expire_overdue` looked for one and before it claims the request for
    an approving timeout: the claim sees it (same lock, same transaction), so no timeout approves."""
    from langgraph_hitl.approvals import flow, halting

    clock = FakeClock()
    with Approvals.open(_soft_graph(), f"sqlite:///{tmp_path}/h.db", clock=clock) as hitl:
        hitl.start("t1", {"action": {"name": "send_email", "args": {"to": "a"}}})
        request = hitl.pending().items[0]
        clock.advance(120)
        looks = []

        def halt_right_after_looking(store: Any, row: Any) -> bool:
            held = halting.approving_timeout_halted(store, row)
            if not looks:
                hitl.halt("all", reason="lands mid-expiry", actor="alice")
            looks.append(held)
            return held

        with monkeypatch.context() as patched:
            patched.setattr(flow, "approving_timeout_halted", halt_right_after_looking)
            assert hitl.expire_overdue() == []
        assert looks[0] is False  # it looked before the halt committed
        assert hitl.get(request.request_id).status == "pending"
        assert hitl.store.audit.query(event="timed_out") == []
        hitl.unhalt("all", reason="thaw", actor="alice")
        assert hitl.expire_overdue() == [request.request_id]
        assert len(_calls(effects)) == 1


@pytest.mark.postgres
def test_a_timeout_claim_takes_its_locks_in_the_order_a_decision_does(pg_url: str, effects: Path) -> None:
    """The timeout's claim once took the audit chain's lock before the request's row, where a
    decision takes the row first: on Postgres the two deadlocked (found by the fault suite). Here a
    transaction holds the row, as a concurrent decision would, then asks for the chain's lock while
    `expire_overdue` waits: both finish, nobody is aborted."""
    import threading

    clock = FakeClock()
    with Approvals.open(_soft_graph(), pg_url, clock=clock) as hitl, open_store(pg_url) as other:
        hitl.start("t-lock", {"action": {"name": "send_email", "args": {"to": "a"}}})
        rid = hitl.pending().items[0].request_id
        clock.advance(120)
        errors: list[BaseException] = []

        def expire() -> None:
            try:
                hitl.expire_overdue()
            except BaseException as exc:  # a deadlock abort would land here
                errors.append(exc)

        worker = threading.Thread(target=expire)
        with other.transaction():
            other.backend.execute(
                "SELECT request_id FROM hitl_requests WHERE request_id = ? FOR UPDATE", (rid,)
            )
            worker.start()
            deadline = time.monotonic() + 30
            while not other.backend.execute("SELECT 1 AS w FROM pg_locks WHERE NOT granted"):
                assert time.monotonic() < deadline, "expire_overdue never waited for the row"
                time.sleep(0.02)
            other.backend.lock_audit_chain()  # a decision's next step; deadlocked before
        worker.join(60)
        assert not worker.is_alive() and errors == []
        assert hitl.get(rid).status == "expired"
