"""Leases: a live run is never driven twice, a dead one is picked up at once (issue: runner robustness, 2).

The attacks: a handler slower than any timeout while another process recovers; a recovering
host whose clock runs an hour ahead; a handler without an idempotency key killed in the middle
of its effect; two threads of one process, and two processes, beginning the same action.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from langgraph.graph import END, START, StateGraph

from langgraph_hitl import Approvals, AsyncApprovals, ConflictError, HITLState, Policy, add_approval_flow
from langgraph_hitl.store import open_store
from langgraph_hitl.store.lease import hold, is_gone, new_owner
from langgraph_hitl.testing import FakeClock

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))

from test_crossprocess import run_worker  # noqa: E402

from graphs import action, build, count_effects  # noqa: E402


class _Gate:
    """A handler that blocks until released (at most `limit` seconds) and counts its calls."""

    def __init__(self, limit: float = 6.0) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.calls = 0
        self.limit = limit

    def __call__(self, args: dict[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        self.calls += 1
        self.entered.set()
        self.release.wait(self.limit)
        return {"sent": args}


def _slow_graph(gate: _Gate) -> StateGraph:
    builder = StateGraph(HITLState)
    builder.add_node("plan", lambda state: {})
    builder.add_edge(START, "plan")
    add_approval_flow(
        builder,
        source="plan",
        target=END,
        policy=Policy(actions={"wire_money": "irreversible_high"}),
        handlers={"wire_money": gate},
    )
    return builder


SEND = {"action": {"name": "wire_money", "args": {"to": "acct-9", "amount": 100}}}


def _wait(event: threading.Event) -> None:
    assert event.wait(30), "the handler was never called"


def test_recover_never_redrives_a_live_slow_handler(store_url: str) -> None:
    """A handler slower than `older_than` is left alone by recover() in another runner, whose clock
    may even run an hour ahead: the decider's lease is live. Old code re-ran the handler."""
    gate = _Gate()
    with Approvals.open(_slow_graph(gate), store_url, lease_s=1.0) as hitl:
        rid = hitl.start("t-slow", SEND).pending[0].request_id
        decided: dict[str, Any] = {}
        worker = threading.Thread(
            target=lambda: decided.update(run=hitl.decide(rid, {"type": "approve"}, approver="alice"))
        )
        worker.start()
        try:
            _wait(gate.entered)
            time.sleep(1.5)  # longer than the lease: only the heartbeat keeps it
            ahead = FakeClock(time.time() + 3600)
            with Approvals.open(_slow_graph(gate), store_url, clock=ahead) as other:
                for _ in range(3):
                    report = other.recover()
                    assert (report.redriven, report.continued, report.already_resumed) == ([], [], [])
                    assert other.recover(older_than=0).redriven == []
        finally:
            gate.release.set()
            worker.join(30)
        assert decided["run"].values["status"] == "executed"
        assert gate.calls == 1
        assert hitl.recover().redriven == []  # finished: nothing to recover


def test_async_runner_holds_its_lease_too(store_url: str) -> None:
    """The same attack on `AsyncApprovals`: its decide holds the lease while the handler runs."""
    gate = _Gate()

    async def main() -> None:
        async with AsyncApprovals.open(_slow_graph(gate), store_url, lease_s=1.0) as hitl:
            rid = (await hitl.start("t-slow-a", SEND)).pending[0].request_id
            task = asyncio.create_task(hitl.decide(rid, {"type": "approve"}, approver="alice"))
            await asyncio.to_thread(_wait, gate.entered)
            await asyncio.sleep(1.5)
            async with AsyncApprovals.open(_slow_graph(gate), store_url) as other:
                report = await other.recover(older_than=0)
                assert (report.redriven, report.continued) == ([], [])
            gate.release.set()
            run = await task
            assert run.values["status"] == "executed"

    asyncio.run(main())
    assert gate.calls == 1


def test_recover_in_another_process_leaves_a_live_handler_alone(store_url: str, tmp_path: Path) -> None:
    """Across processes: a decider whose handler sleeps 4 s with a 1 s lease, and two recover()
    calls from fresh processes meanwhile; the handler runs once."""
    effects = str(tmp_path / "effects.db")
    env = {"HITL_EFFECTS_DB": effects, "HITL_LEASE_S": "1"}
    with Approvals.open(build(), store_url) as hitl:
        rid = hitl.start("victim", action("delete_record", id=1)).pending[0].request_id
    decider = subprocess.Popen(
        [sys.executable, str(TESTS / "worker.py"), store_url, "decide", rid, "approve", "alice"],
        env={**os.environ, **env, "HITL_HANDLER_SLEEP": "4"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 60
        while not count_effects(effects)[1] and time.time() < deadline:
            time.sleep(0.05)
        assert count_effects(effects)[1], "the handler never started"
        time.sleep(1.2)  # past the lease's length: only the heartbeat keeps it
        for _ in range(2):
            report = json.loads(run_worker(store_url, "recover", env=env).stdout)
            assert report["redriven"] == [] and report["continued"] == [], report
    finally:
        out, err = decider.communicate(timeout=60)
    assert decider.returncode == 0, err[-2000:]
    assert json.loads(out)["status"] == "executed"
    _, calls = count_effects(effects)
    assert list(calls.values()) == [1]


def test_unkeyed_handler_killed_mid_effect_is_failed_not_rerun(tmp_path: Path) -> None:
    """A handler without an idempotency key dies after its effect: recovery records "outcome
    unknown" and does not call it again (old code repeated the effect)."""
    url = f"sqlite:///{tmp_path / 'hitl.db'}"
    effects = str(tmp_path / "effects.db")
    env = {"HITL_EFFECTS_DB": effects, "HITL_UNKEYED_HANDLERS": "1"}
    with Approvals.open(build(unkeyed=True), url) as hitl:
        rid = hitl.start("victim", action("delete_record", id=1)).pending[0].request_id
    crashed = run_worker(
        url, "decide", rid, "approve", "alice", env={**env, "HITL_KILL_IN_HANDLER": "1"}, check=False
    )
    assert crashed.returncode == -9, crashed.stderr[-2000:]
    report = json.loads(run_worker(url, "recover", env=env).stdout)  # at once: the owner is dead
    assert report["redriven"] == [] and report["failed"] == {}, report
    with Approvals.open(build(unkeyed=True), url) as hitl:
        state = hitl.graph.get_state({"configurable": {"thread_id": "victim"}})
        assert state.values["status"] == "failed" and not state.next
        assert "outcome unknown" in state.values["audit_trail"][-1]["detail"]["error"]
        failed = [e for e in hitl.history("victim") if e["event"] == "failed"]
        assert len(failed) == 1 and "idempotency_key" in failed[0]["detail"]["error"]
        assert hitl.get(rid).status == "resumed"
    effects_by_key, calls = count_effects(effects)
    assert sum(calls.values()) == 1 and len(effects_by_key) == 1


def test_keyed_handler_of_a_killed_process_is_retried_at_once_with_its_key(tmp_path: Path) -> None:
    """The other side: a dead owner on this machine frees its lease at once (no 30 s wait), and a
    keyed handler is retried with the same key, so its target drops the repeat."""
    url = f"sqlite:///{tmp_path / 'hitl.db'}"
    effects = str(tmp_path / "effects.db")
    env = {"HITL_EFFECTS_DB": effects}
    with Approvals.open(build(), url) as hitl:
        rid = hitl.start("victim", action("delete_record", id=1)).pending[0].request_id
    crashed = run_worker(
        url, "decide", rid, "approve", "alice", env={**env, "HITL_KILL_IN_HANDLER": "1"}, check=False
    )
    assert crashed.returncode == -9
    began = time.monotonic()
    report = json.loads(run_worker(url, "recover", env=env).stdout)
    assert report["redriven"] or report["already_resumed"], report
    assert time.monotonic() - began < 25  # not the lease's 30 s
    effects_by_key, calls = count_effects(effects)
    assert len(effects_by_key) == 1 and list(calls.values()) == [2]


def test_ledger_refuses_to_begin_an_action_a_live_owner_runs(store_url: str) -> None:
    """Two threads of one process: the second `begin` of a running action raises `ConflictError`
    naming the owner; once the first owner's block ends, a begin takes over (attempt 2)."""
    store = open_store(store_url)
    other = open_store(store_url)
    try:
        inside, leave = threading.Event(), threading.Event()

        def first() -> None:
            with hold(store.backend, ttl=0.5):
                store.ledger.begin("act-1", idempotency_key="act-1", action="wire_money")
                inside.set()
                leave.wait(10)

        runner = threading.Thread(target=first)
        runner.start()
        assert inside.wait(10)
        time.sleep(0.8)  # past the ttl: the heartbeat renewed it
        with hold(other.backend, ttl=0.5), pytest.raises(ConflictError, match="being executed right now"):
            other.ledger.begin("act-1", idempotency_key="act-1", action="wire_money")
        leave.set()
        runner.join(10)
        with hold(other.backend, ttl=0.5):
            entry = other.ledger.begin("act-1", idempotency_key="act-1", action="wire_money")
        assert entry.status == "started" and entry.attempts == 2
    finally:
        store.close()
        other.close()


def test_lease_is_timed_by_the_database_clock_and_renewed(store_url: str) -> None:
    """The heartbeat moves `lease_until` forward on the database's clock; a foreign owner is never
    'gone' by a local test, only by its lease's end."""
    store = open_store(store_url)
    try:
        with hold(store.backend, ttl=0.6) as owner:
            store.ledger.begin("act-2", idempotency_key="act-2", action="x")
            first = store.backend.execute("SELECT lease_until FROM hitl_ledger WHERE action_id = 'act-2'")[0]
            time.sleep(1.0)
            later = store.backend.execute("SELECT lease_until FROM hitl_ledger WHERE action_id = 'act-2'")[0]
            now = store.backend.execute(f"SELECT {store.backend.now_sql} AS n")[0]["n"]
            assert later["lease_until"] > first["lease_until"] and later["lease_until"] > now
            assert not is_gone(owner)
        assert is_gone(owner)
        foreign = "0123456789ab:1:1:feedfacecafe"
        assert not is_gone(foreign)
        store.backend.execute(
            f"UPDATE hitl_ledger SET lease_owner = ?, lease_until = {store.backend.now_sql} + 0.3 "
            "WHERE action_id = 'act-2'",
            (foreign,),
        )
        with hold(store.backend), pytest.raises(ConflictError):
            store.ledger.begin("act-2", idempotency_key="act-2", action="x")
        time.sleep(0.5)
        with hold(store.backend):
            assert store.ledger.begin("act-2", idempotency_key="act-2", action="x").attempts == 2
    finally:
        store.close()


def test_owner_of_another_process_is_gone_when_it_exits_or_is_a_zombie() -> None:
    """Same machine: a live process's owner holds; killed (even before it is reaped), it is gone."""
    code = "from langgraph_hitl.store.lease import new_owner; print(new_owner(), flush=True); import time; time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        owner = proc.stdout.readline().strip()
        assert owner.split(":")[1] == str(proc.pid)
        assert not is_gone(owner)
        proc.kill()
        deadline = time.time() + 10
        while not is_gone(owner) and time.time() < deadline:  # a zombie until reaped: gone already
            time.sleep(0.02)
        assert is_gone(owner)
    finally:
        proc.kill()
        proc.wait()
    mine = new_owner()
    assert is_gone(mine)  # never held: nothing of it is live
    assert not is_gone(None)  # rows written outside a lease expire only by their end


def test_lease_length_is_validated() -> None:
    """A non-positive or non-numeric lease names the value and the fix."""
    with pytest.raises(ValueError, match=r"lease_s=0: give the lease length in seconds"):
        Approvals(StateGraph(HITLState), None, lease_s=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"lease_s='30'"):
        Approvals(StateGraph(HITLState), None, lease_s="30")  # type: ignore[arg-type]


@pytest.mark.parametrize(("outer_ttl", "inner_ttl"), [(30.0, 0.6), (0.9, 0.9)], ids=["wakes", "no-wake"])
def test_heartbeat_renews_leases_added_while_it_sleeps(
    store_url: str, outer_ttl: float, inner_ttl: float
) -> None:
    """The heartbeat is woken only by a lease needing a shorter interval than the one it waits out.
    A long lease puts it to sleep and a short one added then still gets renewed in time (a wake);
    a lease as long as the one it waits for is added without a wake and renewed at its next tick."""
    store = open_store(store_url)
    release, began = threading.Event(), threading.Event()

    def other_owner() -> None:
        with hold(store.backend, ttl=inner_ttl):  # a fresh owner: lease contexts are per thread
            clone = open_store(store_url)
            try:
                clone.ledger.begin("inner", idempotency_key="inner", action="x")
            finally:
                clone.close()
            began.set()
            release.wait(10)

    try:
        with hold(store.backend, ttl=outer_ttl):
            time.sleep(0.2)  # the heartbeat is asleep on the outer lease's interval
            worker = threading.Thread(target=other_owner)
            worker.start()
            try:
                assert began.wait(10)
                time.sleep(2.5 * inner_ttl)  # past the lease: only renewals keep it
                row = store.backend.execute(
                    f"SELECT lease_until, {store.backend.now_sql} AS now FROM hitl_ledger WHERE action_id = 'inner'"
                )[0]
            finally:
                release.set()
                worker.join(10)
        assert row["lease_until"] > row["now"], "the lease lapsed while its owner lived"
    finally:
        store.close()


def test_a_forked_child_owns_leases_under_its_own_pid_and_start_time() -> None:
    """The owner id's start time is read once per process: a forked child reads its own."""
    from langgraph_hitl.store import lease

    parent_owner = new_owner()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its owner id and wait to be killed
        os.write(write, new_owner().encode() + b"\n")
        time.sleep(30)
        os._exit(0)
    try:
        os.close(write)
        owner = os.read(read, 200).decode().strip()
        machine, child_pid, started, _ = owner.split(":")
        assert int(child_pid) == pid != os.getpid()
        assert started == lease._start_time(pid)
        assert machine == parent_owner.split(":")[0]
        assert not is_gone(owner)
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(read)
    assert is_gone(owner)


def test_short_leases_coming_and_going_never_put_off_a_long_ones_renewal(store_url: str) -> None:
    """An owner's lease is renewed on its own schedule: short holds opened and closed every
    50 ms (each needing a shorter interval, so each waking the heartbeat) used to make it
    recompute and go back to sleep without renewing anything, and the long lease lapsed while
    its owner ran."""
    store = open_store(store_url)
    backend = store.backend
    stop = threading.Event()

    def short_holds() -> None:
        while not stop.is_set():
            with hold(backend, ttl=0.6):
                pass
            time.sleep(0.05)

    churn = threading.Thread(target=short_holds)
    try:
        with hold(backend, ttl=1.5):
            store.ledger.begin("long", idempotency_key="long", action="x")
            churn.start()
            lapsed = []
            deadline = time.monotonic() + 4.0  # more than twice the lease
            while time.monotonic() < deadline:
                row = backend.execute(
                    f"SELECT lease_until, {backend.now_sql} AS now FROM hitl_ledger WHERE action_id = 'long'"
                )[0]
                if row["lease_until"] <= row["now"]:
                    lapsed.append(row["now"] - row["lease_until"])
                time.sleep(0.1)
            assert not lapsed, (
                f"the lease lapsed while its owner ran ({len(lapsed)} checks, by up to {max(lapsed):.2f} s)"
            )
    finally:
        stop.set()
        if churn.is_alive():
            churn.join(10)
        store.close()
