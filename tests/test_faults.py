"""Fault injection: four processes on one SQLite file, SIGKILLed at random points, then recovered.

The full run (`make soak`) kills 300 processes per runner flavour (sync, async) on SQLite; the
default run kills a bounded slice of 10 per flavour on SQLite and on Postgres through the same code.
Children run with a short lease, some with handlers slower than it, and some agent outputs are
poisoned (see `fault_worker`). Set `HITL_FAULT_SEED` to replay a plan; every failure names its seed.
After the kills, `recover(older_than=0)` runs in a fresh process, and then:

- no request is stuck `deciding`, no thread is stuck `in_flight`;
- every `pending` request is one its thread is really paused at (validly pending);
- no request has two decisions (G2);
- no handler call after its ledger entry recorded completion, no more calls than attempts,
  no effect without an approval in the audit log (G4, G5);
- no handler called again while the process of its earlier call was alive (leases);
- the audit chain verifies (G7);
- no thread is wedged: every paused thread's request still decides, through to the end;
  every other thread has finished (or never got past its first checkpoint).
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from langgraph_hitl import Approvals

from fault_worker import REVIEWERS, graph, pick_approver

TESTS = Path(__file__).resolve().parent
WORKER = str(TESTS / "fault_worker.py")
TERMINAL_STATUSES = {"executed", "rejected", "failed", "timed_out", "responded", "denied"}
DECISION_EVENTS = {
    "approved",
    "edited",
    "rejected",
    "responded",
    "revision_requested",
    "timed_out",
    "escalated",
}


def _seed() -> int:
    return int(os.environ.get("HITL_FAULT_SEED") or random.SystemRandom().randrange(10**9))


def _run(args: list[str], env: dict[str, str], timeout: float) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, WORKER, *args], capture_output=True, text=True, timeout=timeout, env=env
    )
    assert proc.returncode == 0, f"{args[0]} failed ({proc.returncode}):\n{proc.stderr[-4000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _calls(effects_db: Path) -> list[tuple[str, float, int]]:
    if not effects_db.exists():
        return []
    conn = sqlite3.connect(effects_db)
    try:
        return conn.execute("SELECT key, ts, pid FROM calls").fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()


def _finish(hitl: Approvals, thread_id: str, seed: int) -> str:
    """Decide the thread's questions until it ends; return its final status."""
    for _ in range(6):
        state = hitl.graph.get_state({"configurable": {"thread_id": thread_id}})
        if not state.next:
            return str(state.values.get("status"))
        assert state.interrupts, (
            f"seed={seed}: thread {thread_id} is paused at {state.next} with no question (wedged)"
        )
        rid = state.interrupts[0].value["hitl"]["request_id"]
        row = hitl.get(rid)
        assert row.status == "pending", (
            f"seed={seed}: {thread_id} waits on {rid}, which the inbox has as {row.status}"
        )
        approver = pick_approver(dict(row.payload), random.Random(rid))
        assert approver is not None
        hitl.decide(rid, {"type": "approve"}, approver=approver)
    raise AssertionError(f"seed={seed}: thread {thread_id} keeps asking")


def _deaths(folder: Path) -> dict[int, list[float]]:
    """pid -> the times just before each process with that pid was killed (`fault_worker.note_death`)."""
    if not folder.is_dir():
        return {}
    return {int(p.name): sorted(float(t) for t in p.read_text().split()) for p in folder.iterdir()}


def check_no_second_live_run(
    calls: list[tuple[str, float, int]], deaths: dict[int, list[float]], seed: int
) -> int:
    """A handler is called again for the same action only after the process of the earlier call
    was killed: never beside a live one (leases), never twice in one process. Returns the retries.

    Pids are reused on a long run, so the earlier caller's death is the first kill of that pid
    at or after its call."""
    by_key: dict[str, list[tuple[float, int]]] = {}
    for key, ts, pid in calls:
        by_key.setdefault(key, []).append((ts, pid))
    retries = 0
    for key, runs in by_key.items():
        runs.sort()
        for (first, first_pid), (then, pid) in zip(runs, runs[1:], strict=False):
            died = next((d for d in deaths.get(first_pid, []) if d >= first), None)
            assert died is not None and died <= then, (
                f"seed={seed}: {key} was called again at {then} by {pid} while the process {first_pid} "
                f"that called it at {first} was alive (killed at {died}): a live handler was run twice"
            )
            retries += 1
    return retries


def check_invariants(url: str, effects_db: Path, seed: int, deaths: Path | None = None) -> dict[str, int]:
    """Every guarantee the kills must not break; returns counts for the report."""
    with Approvals.open(graph(), url) as hitl:
        db = hitl.store.backend
        statuses = {
            r["status"]: r["n"]
            for r in db.execute("SELECT status, COUNT(*) AS n FROM hitl_requests GROUP BY status")
        }
        assert "deciding" not in statuses, f"seed={seed}: requests stuck deciding after recover: {statuses}"
        in_flight = db.execute("SELECT thread_id FROM hitl_threads WHERE state = 'in_flight'")
        assert not in_flight, f"seed={seed}: threads stuck in flight after recover: {in_flight}"

        for row in db.execute(
            "SELECT request_id, thread_id, interrupt_id FROM hitl_requests WHERE status = 'pending'"
        ):
            state = hitl.graph.get_state({"configurable": {"thread_id": row["thread_id"]}})
            live = {i.id for i in state.interrupts}
            assert row["interrupt_id"] in live, (
                f"seed={seed}: pending {row['request_id']} is not a live question"
            )

        twice = db.execute(
            "SELECT request_id, COUNT(DISTINCT event) AS n FROM hitl_audit WHERE request_id IS NOT NULL AND event IN "
            f"({', '.join('?' * len(DECISION_EVENTS))}) GROUP BY request_id HAVING COUNT(DISTINCT event) > 1",
            sorted(DECISION_EVENTS),
        )
        assert not twice, f"seed={seed}: requests with two decisions: {twice}"

        ledger = {r["action_id"]: r for r in db.execute("SELECT * FROM hitl_ledger")}
        started = [a for a, r in ledger.items() if r["status"] == "started"]
        assert not started, f"seed={seed}: executions never finished after recover: {started}"
        calls: dict[str, list[float]] = {}
        for key, ts, _ in _calls(effects_db):
            calls.setdefault(key, []).append(ts)
        try:
            retried_after_death = check_no_second_live_run(
                _calls(effects_db), _deaths(deaths) if deaths else {}, seed
            )
        except AssertionError as exc:
            key = str(exc).split(": ", 2)[1].split(" ", 1)[0]
            rows = db.execute(
                "SELECT seq, ts, event, actor, request_id, detail FROM hitl_audit WHERE action_id = ? ORDER BY seq",
                (key,),
            )
            raise AssertionError(f"{exc}\nledger: {ledger.get(key)}\naudit: {rows}") from None
        per_thread: dict[str, set[str]] = {}
        for key in calls:
            per_thread.setdefault(str(ledger[key]["thread_id"]) if key in ledger else "?", set()).add(key)
        again = {t: keys for t, keys in per_thread.items() if len(keys) > 1}
        assert not again, f"seed={seed}: one thread's action ran under several idempotency keys: {again}"
        for key, times in calls.items():
            entry = ledger.get(key)
            assert entry is not None, f"seed={seed}: handler ran for {key} with no ledger entry"
            assert len(times) <= entry["attempts"], (
                f"seed={seed}: {key} ran {len(times)}x in {entry['attempts']} attempts"
            )
            assert max(times) <= entry["finished_at"], (
                f"seed={seed}: {key} ran again after its completion was recorded"
            )
            approvals = db.execute(
                "SELECT event, actor, risk FROM hitl_audit WHERE action_id = ? AND event IN "
                "('auto_approved', 'notified', 'approved', 'edited', 'timed_out')",
                (key,),
            )
            assert approvals, f"seed={seed}: {key} executed with no approval in the audit log"
            if any(a["risk"] == "critical" for a in approvals):
                people = {a["actor"] for a in approvals if a["event"] in ("approved", "edited")}
                assert len(people) >= 2, f"seed={seed}: critical {key} executed with approvals from {people}"

        verified = hitl.store.audit.verify()
        assert verified.ok, f"seed={seed}: audit chain broken: {verified}"

        threads = [
            r["thread_id"]
            for r in db.execute("SELECT thread_id FROM checkpoints UNION SELECT thread_id FROM hitl_threads")
        ]
        finished = unborn = paused = 0
        for tid in threads:
            state = hitl.graph.get_state({"configurable": {"thread_id": tid}})
            if state.next:
                paused += 1
                assert _finish(hitl, tid, seed) in TERMINAL_STATUSES
            elif not state.values:
                unborn += 1  # killed before its first checkpoint; start() never returned
            else:
                assert state.values.get("status") in TERMINAL_STATUSES, (
                    f"seed={seed}: thread {tid} stopped with status {state.values.get('status')!r}"
                )
                finished += 1
        assert hitl.store.audit.verify().ok
    return {
        "threads": len(threads),
        "finished": finished,
        "paused_then_decided": paused,
        "unborn": unborn,
        "executions": len(ledger),
        "handler_calls": sum(len(t) for t in calls.values()),
        "retried_effects": sum(1 for t in calls.values() if len(t) > 1),
        "retried_after_death": retried_after_death,
    }


def run_trials(tmp_path: Path, trials: int, url: str | None = None, flavour: str = "sync") -> dict[str, Any]:
    seed = _seed()
    url = url or f"sqlite:///{tmp_path / 'hitl.db'}"
    effects_db = tmp_path / "effects.db"
    deaths = tmp_path / "deaths"
    deaths.mkdir()
    env = {**os.environ, "HITL_EFFECTS_DB": str(effects_db), "HITL_DEATHS": str(deaths)}
    summary = _run(
        ["soak", url, "--trials", str(trials), "--procs", "4", "--seed", str(seed), "--flavour", flavour],
        env,
        timeout=60 + 6 * trials,
    )
    print(f"fault plan seed={seed}: {json.dumps(summary['points'])}")
    assert summary["killed"] == trials, f"seed={seed}: some children were not killed: {summary['not_killed']}"
    report = _run(["recover", url], env, timeout=300)
    print(f"recover: { {k: len(v) for k, v in report.items()} }")
    counts = check_invariants(url, effects_db, seed, deaths)
    print(f"checked ({flavour}, {url.split(':')[0]}, {trials} kills): {counts}")
    assert counts["threads"] > 0 and counts["executions"] > 0, (
        f"seed={seed}: the trials did nothing: {counts}"
    )
    return counts


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_recover_after_random_sigkills_keeps_guarantees(tmp_path: Path, store_url: str, flavour: str) -> None:
    """A bounded slice of the soak per runner and database: 10 processes killed at random points,
    four at a time, with slow handlers and poisoned agent outputs; recover() restores every guarantee."""
    run_trials(tmp_path, 10, store_url, flavour)


@pytest.mark.soak
@pytest.mark.slow
@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_recover_after_random_sigkills_soak_keeps_guarantees(
    tmp_path: Path, request: pytest.FixtureRequest, flavour: str
) -> None:
    """The full soak: 300 processes killed at random points per runner flavour, four at a time,
    on SQLite; recover() restores every guarantee."""
    if "soak" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("soak size: run with make soak (pytest -m soak)")
    run_trials(tmp_path, int(os.environ.get("HITL_FAULT_TRIALS", "300")), flavour=flavour)


def _once(url: str, env: dict[str, str], *args: str) -> None:
    proc = subprocess.run(
        [sys.executable, WORKER, "once", url, *args], capture_output=True, text=True, timeout=120, env=env
    )
    assert proc.returncode == -9, f"expected SIGKILL, got {proc.returncode}:\n{proc.stderr[-3000:]}"


def test_recover_continues_run_killed_between_task_writes_and_next_checkpoint(tmp_path: Path) -> None:
    """G3: killed after a task's writes were saved but before the next checkpoint, the run is continued, not lost."""
    url = f"sqlite:///{tmp_path / 'hitl.db'}"
    env = {**os.environ, "HITL_EFFECTS_DB": str(tmp_path / "effects.db")}
    _once(
        url,
        env,
        "victim",
        "delete_record",
        '{"id": 7}',
        "--point",
        "checkpoint:after_put_writes",
        "--nth",
        "1",
    )
    with Approvals.open(graph(), url) as hitl:
        state = hitl.graph.get_state({"configurable": {"thread_id": "victim"}})
        # LangGraph saves writes and checkpoints from background threads, so the kill leaves either
        # a run that looks finished (`next` empty, the task's writes saved) or one paused before `plan`;
        # neither is paused at a question, and neither is indexed.
        assert state.next in ((), ("plan",)) and not state.interrupts
        assert hitl.pending().items == []
    report = _run(["recover", url], env, timeout=120)
    assert report["continued"] == ["victim"]
    with Approvals.open(graph(), url) as hitl:
        [req] = hitl.pending().items
        assert req.thread_id == "victim" and req.action["args"] == {"id": 7}
        assert _finish(hitl, "victim", 0) == "executed"


def test_recover_reuses_idempotency_key_when_checkpoint_saves_lag(tmp_path: Path) -> None:
    """G5: killed in a handler while checkpoint saves lag (slow disk), recovery re-runs it under the same key."""
    url = f"sqlite:///{tmp_path / 'hitl.db'}"
    effects_db = tmp_path / "effects.db"
    env = {**os.environ, "HITL_EFFECTS_DB": str(effects_db)}
    _once(
        url,
        env,
        "victim",
        "read_record",
        '{"id": 7}',
        "--point",
        "execute:after_effect",
        "--slow-put",
        "0.05",
    )
    _run(["recover", url], env, timeout=120)
    keys = {key for key, _, _ in _calls(effects_db)}
    assert len(keys) == 1 and len(_calls(effects_db)) == 2  # called again after the crash, with the same key
    with Approvals.open(graph(), url) as hitl:
        entries = hitl.store.backend.execute("SELECT action_id, status, attempts FROM hitl_ledger")
        assert entries == [{"action_id": keys.pop(), "status": "completed", "attempts": 2}]


def test_fault_worker_pick_approver_respects_exclusions() -> None:
    """The workers' reviewer choice never picks the requester or an excluded approver (else races would look like bugs)."""
    payload = {"hitl": {"approvers": None, "requested_by": "alice", "exclude_approvers": ["alice", "bob"]}}
    assert {pick_approver(payload, random.Random(i)) for i in range(20)} == {"carol"}
    assert (
        pick_approver(
            {"hitl": {"approvers": ["bob"], "requested_by": "agent", "exclude_approvers": ["bob"]}},
            random.Random(0),
        )
        is None
    )
    assert set(REVIEWERS) >= {"alice", "bob", "carol"}
