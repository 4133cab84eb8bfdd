"""Real processes: resume in another process, racing deciders, and SIGKILL at every step of a decision."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from langgraph_hitl import Approvals

from graphs import action, build, count_effects

TESTS = Path(__file__).resolve().parent
WORKER = str(TESTS / "worker.py")


def run_worker(
    url: str, *args: str, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, WORKER, url, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"worker {args} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


def test_resume_in_another_process_with_command(tmp_path: Path) -> None:
    """One process pauses a graph; a second resumes it by thread_id with Command(resume=...)."""
    db = tmp_path / "hitl.db"
    common = f"""
        import sys; sys.path.insert(0, {str(TESTS)!r})
        from graphs import build
        from langgraph.types import Command
        from langgraph_hitl import open_checkpointer, open_store
        url = "sqlite:///{db}"
        config = {{"configurable": {{"thread_id": "ticket-1"}}}}
    """
    first = textwrap.dedent(common) + textwrap.dedent("""
        with open_checkpointer(url) as saver, open_store(url) as store:
            out = build(store=store).compile(checkpointer=saver).invoke(
                {"action": {"name": "delete_record", "args": {"id": 4821}}}, config)
        print(out["__interrupt__"][0].value["hitl"]["request_id"])
    """)
    second = textwrap.dedent(common) + textwrap.dedent("""
        with open_checkpointer(url) as saver, open_store(url) as store:
            graph = build(store=store).compile(checkpointer=saver)
            assert graph.get_state(config).next == ("review",)
            from langgraph_hitl.testing import resume_as
            out = resume_as(graph, {"type": "approve", "approver": "alice"}, config)
        print(out["status"])
    """)
    a = subprocess.run([sys.executable, "-c", first], capture_output=True, text=True, timeout=120)
    assert a.returncode == 0, a.stderr
    b = subprocess.run([sys.executable, "-c", second], capture_output=True, text=True, timeout=120)
    assert b.returncode == 0, b.stderr
    assert b.stdout.strip() == "executed"
    from langgraph_hitl.store import open_store

    with open_store(f"sqlite:///{db}") as store:
        rows = store.audit.query(thread_id="ticket-1")
        assert [(r["event"], r["actor"]) for r in rows] == [
            ("proposed", "agent"),
            ("approved", "alice"),
            ("executed", "executor"),
        ]
        assert rows[1]["request_id"] == a.stdout.strip()
        assert store.audit.verify().ok


def test_four_processes_race_one_decision_wins(tmp_path: Path) -> None:
    """G2: four real processes approve the same 24 requests at once; each request is decided once."""
    url = f"sqlite:///{tmp_path / 'hitl.db'}"
    effects_db = str(tmp_path / "effects.db")
    with Approvals.open(build(), url) as hitl:
        rids = [hitl.start(f"t{i}", action("delete_record", id=i)).pending[0].request_id for i in range(24)]
    env = {**os.environ, "HITL_EFFECTS_DB": effects_db}
    procs = []
    for n in range(4):
        order = rids[:]
        random.Random(n).shuffle(order)
        procs.append(
            subprocess.Popen(
                [sys.executable, WORKER, url, "race", f"approver{n}", *order],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
        )
    results = []
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err[-3000:]
        assert "database is locked" not in err
        results.append(json.loads(out))
    wins = [rid for r in results for rid in r["wins"]]
    assert sorted(wins) == sorted(rids)  # every request won exactly once
    losses = [kind for r in results for kind in r["losses"].values()]
    assert len(losses) == 3 * len(rids) and set(losses) <= {"ConflictError", "NotPendingError"}
    effects, calls = count_effects(effects_db)
    assert len(effects) == len(rids) and set(calls.values()) == {1}
    with Approvals.open(build(), url) as hitl:
        assert hitl.pending().items == []
        assert {hitl.get(r).status for r in rids} == {"resumed"}
        assert hitl.store.audit.verify().ok


@pytest.mark.parametrize("point", ["before_claim", "after_claim", "in_handler", "after_resume"])
def test_sigkill_during_decide_then_recover(
    tmp_path: Path, point: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """G3/G5: SIGKILL at each step of a decision; recover() in a fresh process decides it exactly once."""
    url = f"sqlite:///{tmp_path / 'hitl.db'}"
    effects_db = str(tmp_path / "effects.db")
    monkeypatch.setenv("HITL_EFFECTS_DB", effects_db)
    env = {"HITL_EFFECTS_DB": effects_db}
    with Approvals.open(build(), url) as hitl:
        rid = hitl.start("victim", action("delete_record", id=1)).pending[0].request_id
        other = hitl.start("bystander", action("delete_record", id=2)).pending[0].request_id
    crash_env = {**env, "HITL_KILL_IN_HANDLER": "1"} if point == "in_handler" else env
    worker_point = "after_claim" if point == "in_handler" else point
    if point == "in_handler":
        crashed = run_worker(url, "decide", rid, "approve", "alice", env=crash_env, check=False)
    else:
        crashed = run_worker(url, "crash-at", worker_point, rid, "alice", env=crash_env, check=False)
    assert crashed.returncode == -9, crashed.stderr[-2000:]
    report = json.loads(run_worker(url, "recover", env=env).stdout)
    with Approvals.open(build(), url) as hitl:
        row = hitl.get(rid)
        if point == "before_claim":
            assert row.status == "pending" and report["redriven"] == []
            hitl.decide(rid, {"type": "approve"}, approver="alice")
        else:
            assert row.status == "resumed", (point, report)
        state = hitl.graph.get_state({"configurable": {"thread_id": "victim"}})
        assert state.values["status"] == "executed" and not state.next
        assert hitl.get(other).status == "pending"  # nothing else was touched
        approvals = [e for e in hitl.history("victim") if e["event"] == "approved"]
        assert len(approvals) == 1 and approvals[0]["actor"] == "alice"
        assert hitl.store.audit.verify().ok
        assert hitl.recover(older_than=0).redriven == []  # idempotent
    effects, calls = count_effects(effects_db)
    assert len(effects) == 1  # the external effect happened once
    assert calls[next(iter(effects))] == (2 if point == "in_handler" else 1)
