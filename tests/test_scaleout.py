"""Scale-out: many real worker processes on one Postgres, concurrent sweepers and recoverers, async runners."""

from __future__ import annotations

import asyncio
import json
import select
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from langgraph_hitl import Approvals, AsyncApprovals, ConflictError
from langgraph_hitl._events import DECISION_EVENTS
from langgraph_hitl.approvals.graphs import interrupt_items

from graphs import action, build, count_effects

TESTS = Path(__file__).resolve().parent
SCALE_WORKER = str(TESTS / "scale_worker.py")
WORKERS = 8
HUMAN_DECISION_EVENTS = sorted(
    {DECISION_EVENTS[k] for k in ("approve", "edit", "reject", "respond", "revise")}
)


class WorkerPool:
    """Worker processes that stay up for the whole module, so each test pays the imports once."""

    def __init__(self, size: int, logs: Path) -> None:
        self.logs = [logs / f"worker{n}.log" for n in range(size)]
        self.procs = [
            subprocess.Popen(
                [sys.executable, SCALE_WORKER, "serve"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log.open("w"),
                text=True,
            )
            for log in self.logs
        ]

    def _line(self, proc: subprocess.Popen[str], deadline: float) -> str:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
        return proc.stdout.readline() if ready else ""

    def _fail(self, n: int, what: str) -> AssertionError:
        return AssertionError(f"worker {n} {what}:\n{self.logs[n].read_text()[-3000:]}")

    def run(self, url: str, command: str, options: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Give every worker a job; release them together once all are ready; collect their JSON results."""
        deadline = time.monotonic() + 120
        for proc, opts in zip(self.procs, options, strict=True):
            assert proc.stdin is not None
            proc.stdin.write(json.dumps({"url": url, "command": command, "options": opts}) + "\n")
            proc.stdin.flush()
        for n, proc in enumerate(self.procs):
            if self._line(proc, deadline).strip() != "ready":
                raise self._fail(n, "was not ready")
        for proc in self.procs:  # the barrier: every worker is connected; now they all go at once
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        results = []
        for n, proc in enumerate(self.procs):
            line = self._line(proc, deadline)
            if not line.strip():
                raise self._fail(n, "gave no result")
            results.append(json.loads(line))
        for log in self.logs:
            assert "database is locked" not in log.read_text()
        return results

    def close(self) -> None:
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.close()
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerPool]:
    """Eight worker processes, shared by this module's multi-process tests."""
    workers = WorkerPool(WORKERS, tmp_path_factory.mktemp("workers"))
    try:
        yield workers
    finally:
        workers.close()


def crash_worker(url: str, options: dict[str, Any]) -> None:
    """Run the `crash` job in a process of its own: half-done work, then SIGKILL."""
    proc = subprocess.run(
        [sys.executable, SCALE_WORKER, url, "crash", json.dumps(options)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -9, proc.stderr[-3000:]


def assert_no_lost_requests(hitl: Approvals, threads: list[str]) -> set[str]:
    """Every thread is finished, or paused with each live question pending and listed; returns the paused ones."""
    listed = {r.request_id for r in hitl.pending(limit=500).items}
    paused = set()
    for thread_id in threads:
        state = hitl.graph.get_state({"configurable": {"thread_id": thread_id}})
        if state.next:
            live = [p["hitl"]["request_id"] for _, _, p in interrupt_items(state)]
            assert live and set(live) <= listed, (thread_id, live)
            paused.add(thread_id)
        else:
            assert state.values["status"] in ("executed", "rejected", "timed_out"), (thread_id, state.values)
    rows = hitl.store.backend.execute(
        "SELECT request_id, thread_id FROM hitl_requests WHERE status = 'pending'"
    )
    assert {r["thread_id"] for r in rows} <= paused  # no pending row for a thread that moved on
    return paused


def assert_effects_once(hitl: Approvals, threads: list[str], effects_db: str) -> None:
    """One effect, from one handler call, per executed action."""
    executed = [
        t
        for t in threads
        if hitl.graph.get_state({"configurable": {"thread_id": t}}).values.get("status") == "executed"
    ]
    effects, calls = count_effects(effects_db)
    assert len(effects) == len(executed)
    assert set(calls.values()) <= {1}, {k: n for k, n in calls.items() if n > 1}


@pytest.mark.postgres
def test_workers_race_on_postgres_each_request_decided_once(
    pool: WorkerPool, pg_url: str, tmp_path: Path
) -> None:
    """G2/G3 at scale: 8 processes start runs and race to decide them; each request is decided once, none lost."""
    effects_db = str(tmp_path / "effects.db")
    with Approvals.open(build(), pg_url) as hitl:
        for i in range(16):  # shared requests every worker sees from the first moment
            hitl.start(f"s{i}", action("delete_record", id=i, **({"env": "prod"} if i % 4 == 0 else {})))
    results = pool.run(
        pg_url, "mix", [{"worker": n, "own": 4, "effects_db": effects_db} for n in range(WORKERS)]
    )

    winners: dict[str, list[tuple[str, str]]] = {}
    for res in results:
        for rid, kind in res["wins"].items():
            winners.setdefault(rid, []).append((res["approver"], kind))
    assert {rid: w for rid, w in winners.items() if len(w) > 1} == {}  # no double decisions
    raced = Counter(rid for res in results for rid in (*res["wins"], *res["losses"]))
    assert sum(1 for n in raced.values() if n > 1) >= 8  # the workers really did race
    delivered = Counter(rid for res in results for rid in res["resumed"])
    assert set(delivered) == set(winners) and set(delivered.values()) == {1}

    with Approvals.open(build(), pg_url) as hitl:
        started = {f"s{i}" for i in range(16)} | {t for res in results for t in res["started"]}
        statuses = Counter(
            r["status"] for r in hitl.store.backend.execute("SELECT status FROM hitl_requests")
        )
        assert set(statuses) <= {"pending", "resumed"}, statuses  # nothing cancelled, nothing stuck deciding
        for rid, [(approver, kind)] in winners.items():
            row = hitl.get(rid)
            assert (row.status, row.decided_by, (row.decision or {}).get("type")) == (
                "resumed",
                approver,
                kind,
            )
            events = hitl.store.audit.query(request_id=rid, event=HUMAN_DECISION_EVENTS)
            assert [(e["event"], e["actor"]) for e in events] == [(DECISION_EVENTS[kind], approver)]
        for row in hitl.pending(limit=500).items:
            assert hitl.store.audit.query(request_id=row.request_id, event=HUMAN_DECISION_EVENTS) == []
        assert_no_lost_requests(hitl, sorted(started))
        assert_effects_once(hitl, sorted(started), effects_db)
        assert hitl.store.audit.verify().ok

        for _ in range(3):  # drain what the workers left (stage-two reviews they may not take)
            for req in hitl.pending(limit=500).items:
                hitl.decide(req.request_id, {"type": "approve"}, approver="drain-" + req.node)
        assert hitl.pending().items == [] and assert_no_lost_requests(hitl, sorted(started)) == set()


@pytest.mark.postgres
def test_expire_overdue_from_many_processes_resolves_each_once(
    pool: WorkerPool, pg_url: str, tmp_path: Path
) -> None:
    """G6 at scale: 8 sweepers at once; each overdue request expires once, with one timed_out event."""
    effects_db = str(tmp_path / "effects.db")
    options: dict[str, Any] = {"build": {"timeout_s": 60}, "effects_db": effects_db}
    with Approvals.open(build(**options["build"]), pg_url) as hitl:
        rids = {}
        for i in range(24):
            name, args = ("send_email", {"to": [f"u{i}@x"]}) if i % 3 == 0 else ("delete_record", {"id": i})
            rids[hitl.start(f"t{i}", action(name, **args)).pending[0].request_id] = (f"t{i}", name)
    results = pool.run(pg_url, "expire", [{**options, "worker": n} for n in range(WORKERS)])

    delivered = Counter(rid for res in results for rid in res["resumed"])
    assert set(delivered) == set(rids) and set(delivered.values()) == {
        1
    }  # each re-driven by exactly one sweeper
    # A sweeper returns what it saw overdue; one that starts after the others finished sees nothing.
    assert all(set(res["returned"]) <= set(rids) for res in results)
    assert set().union(*(res["returned"] for res in results)) == set(rids)
    with Approvals.open(build(**options["build"]), pg_url) as hitl:
        for rid, (thread_id, name) in rids.items():
            row = hitl.get(rid)
            assert (row.status, row.decided_by) == ("expired", "system:timeout")
            events = hitl.store.audit.query(request_id=rid, event="timed_out")
            assert [e["actor"] for e in events] == ["system:timeout"]
            values = hitl.graph.get_state({"configurable": {"thread_id": thread_id}}).values
            assert values["status"] == ("executed" if name == "send_email" else "timed_out")
            assert [d["approver"] for d in values["decisions"]] == ["system:timeout"]
        assert hitl.pending().items == []
        assert_effects_once(hitl, [t for t, _ in rids.values()], effects_db)
        assert hitl.store.audit.verify().ok


@pytest.mark.postgres
def test_recover_from_many_processes_redrives_each_once(
    pool: WorkerPool, pg_url: str, tmp_path: Path
) -> None:
    """G3/G5 at scale: after a crash mid-way through many decisions, 8 recoverers at once finish each once."""
    effects_db = str(tmp_path / "effects.db")
    with Approvals.open(build(), pg_url) as hitl:
        rids = [hitl.start(f"t{i}", action("delete_record", id=i)).pending[0].request_id for i in range(16)]
        thread_of = {rid: hitl.get(rid).thread_id for rid in rids}
    after_claim, after_resume, untouched = rids[:8], rids[8:12], rids[12:]
    in_flight = [f"f{i}" for i in range(4)]
    crash_worker(
        pg_url,
        {
            "after_claim": after_claim,
            "after_resume": after_resume,
            "in_flight": in_flight,
            "effects_db": effects_db,
        },
    )
    # The recoverers run an hour after the crash and leave claims younger than 10 minutes alone:
    # a claim one of them renews is then never taken over by another (older_than=0 would allow that).
    later = {"clock_offset": 3600, "older_than": 600, "effects_db": effects_db}
    results = pool.run(pg_url, "recover", [{**later, "worker": n} for n in range(WORKERS)])

    redriven = Counter(rid for res in results for rid in res["redriven"])
    already = Counter(rid for res in results for rid in res["already_resumed"])
    reindexed = Counter(t for res in results for t in res["reindexed"])
    assert redriven == Counter(after_claim)  # each delivered by exactly one recoverer
    assert already == Counter(after_resume)
    assert reindexed == Counter(in_flight)  # a thread being re-driven is not also re-run by another process
    assert Counter(rid for res in results for rid in res["resumed"]) == Counter(after_claim)
    with Approvals.open(build(), pg_url) as hitl:
        for rid in after_claim + after_resume:
            assert hitl.get(rid).status == "resumed"
            values = hitl.graph.get_state({"configurable": {"thread_id": thread_of[rid]}}).values
            assert values["status"] == "executed"
            assert [e["actor"] for e in hitl.store.audit.query(request_id=rid, event="approved")] == ["alice"]
        pending = {r.thread_id for r in hitl.pending(limit=500).items}
        assert pending == {thread_of[rid] for rid in untouched} | set(
            in_flight
        )  # the lost questions are back
        assert (
            hitl.store.backend.execute("SELECT thread_id FROM hitl_threads WHERE state = 'in_flight'") == []
        )
        assert_no_lost_requests(hitl, [*thread_of.values(), *in_flight])
        assert_effects_once(hitl, [*thread_of.values(), *in_flight], effects_db)
        assert hitl.store.audit.verify().ok


def test_async_runner_concurrent_decisions_one_winner_each(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AsyncApprovals on an async saver: 20 runs started and raced with gather; one decision wins per request."""
    effects_db = str(tmp_path / "effects.db")
    monkeypatch.setenv("HITL_EFFECTS_DB", effects_db)

    async def scenario() -> None:
        async with AsyncApprovals.open(build(), store_url) as hitl:
            assert type(hitl.graph.checkpointer).__name__ in ("AsyncSqliteSaver", "AsyncPostgresSaver")
            runs = await asyncio.gather(
                *(hitl.start(f"t{i}", action("delete_record", id=i)) for i in range(20))
            )
            rids = [run.pending[0].request_id for run in runs]
            attempts = [
                (rid, kind, who) for rid in rids for kind, who in (("approve", "alice"), ("reject", "bob"))
            ]
            outcomes = await asyncio.gather(
                *(hitl.decide(rid, {"type": kind}, approver=who) for rid, kind, who in attempts),
                return_exceptions=True,
            )
            unexpected = [
                o for o in outcomes if isinstance(o, BaseException) and not isinstance(o, ConflictError)
            ]
            assert unexpected == []
            won = {
                rid: (kind, who)
                for (rid, kind, who), o in zip(attempts, outcomes, strict=True)
                if not isinstance(o, BaseException)
            }
            assert sorted(won) == sorted(rids)  # exactly one winner per request (two attempts, one loses)
            assert sum(isinstance(o, ConflictError) for o in outcomes) == len(rids)
            for i, rid in enumerate(rids):
                kind, who = won[rid]
                state = await hitl.graph.aget_state({"configurable": {"thread_id": f"t{i}"}})
                assert state.values["status"] == ("executed" if kind == "approve" else "rejected")
                row = await hitl.get(rid)
                assert (row.status, row.decided_by) == ("resumed", who)
                events = await asyncio.to_thread(
                    hitl.store.audit.query, request_id=rid, event=HUMAN_DECISION_EVENTS
                )
                assert [e["actor"] for e in events] == [who]
            assert (await hitl.apending()).items == []
            approved = sum(1 for kind, _ in won.values() if kind == "approve")
            effects, calls = count_effects(effects_db)
            assert len(effects) == approved and set(calls.values()) <= {1}

    asyncio.run(scenario())
