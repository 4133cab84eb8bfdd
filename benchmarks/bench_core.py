"""Overhead of langgraph-hitl against hand-rolled LangGraph, run side by side in one process.

Every figure is a ratio of a subject against a baseline measured in the same process, on the
same SQLite file, interleaved (alternating which side goes first) so that background load on
the machine hits both sides alike. Prints one JSON object:

    python benchmarks/bench_core.py gate          # ClassifyAndGateNode vs a pass-through node
    python benchmarks/bench_core.py pause         # Approvals.start / decide vs raw invoke / Command(resume=...)
    python benchmarks/bench_core.py concurrent    # decisions/s with 1, 2, 4 processes on one SQLite file
    python benchmarks/bench_core.py all --quick   # everything, small sizes (a smoke run)
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.types import Command

from langgraph_hitl import (
    Approvals,
    ClassifyAndGateNode,
    HITLError,
    HITLState,
    Policy,
    add_approval_flow,
    open_checkpointer,
    risk_condition,
)
from langgraph_hitl.testing import authenticated

HERE = Path(__file__).resolve()
ACTIONS = {
    "read_record": "fully_reversible",
    "update_record": "partially_reversible",
    "send_email": "irreversible_low",
    "delete_record": "irreversible_high",
}


class State(HITLState, total=False):
    task: str


TARGETS = {"gate": 1.05, "start": 1.10, "decide": 1.15}
"""The ratios issue 16 sets: the gate against a pass-through node, `start` against a raw invoke to
the interrupt, `decide` against a raw `Command(resume=...)`."""


def _handler(args: dict[str, Any], *, idempotency_key: str) -> dict[str, Any]:
    return {"ok": True, "key": idempotency_key}


HANDLERS = {name: _handler for name in ACTIONS}


def policy() -> Policy:
    """The benchmark policy: reads run automatically, deletes need a person."""
    return Policy(ACTIONS, version="bench-1")


def plan(state: State) -> dict[str, Any]:
    """The 'agent': the action arrives with the input."""
    return {}


def approval_graph() -> StateGraph:
    """plan -> add_approval_flow(...) -> END: the graph a user of the package writes."""
    builder = StateGraph(State)
    builder.add_node("plan", plan)
    builder.add_edge(START, "plan")
    add_approval_flow(builder, source="plan", target=END, policy=policy(), handlers=HANDLERS)
    return builder


def _act(state: State) -> dict[str, Any]:
    action = state["action"]
    return {"result": HANDLERS[action["name"]](action["args"], idempotency_key="k")}


def _pass_through(state: State) -> dict[str, Any]:
    return {"status": "approved"}


def gate_graph(*, gated: bool) -> StateGraph:
    """plan -> gate -> act -> END; the gate is ClassifyAndGateNode or a pass-through node."""
    builder = StateGraph(State)
    builder.add_node("plan", plan)
    builder.add_node("gate", ClassifyAndGateNode(policy()) if gated else _pass_through)
    builder.add_node("act", _act)
    builder.add_edge(START, "plan")
    builder.add_edge("plan", "gate")
    builder.add_conditional_edges("gate", risk_condition, {"execute": "act", "review": END, "audit": END})
    builder.add_edge("act", END)
    return builder


def action(name: str, **args: Any) -> dict[str, Any]:
    return {"action": {"name": name, "args": args}}


def _cfg(thread_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id}}


def _timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


# -- gate overhead ----------------------------------------------------------------------------------


def bench_gate(workdir: Path, *, actions: int = 1000, repeats: int = 3, chunk: int = 50) -> dict[str, Any]:
    """`actions` low-risk actions through ClassifyAndGateNode vs a pass-through node, per repeat."""
    url = f"sqlite:///{workdir / 'gate.db'}"
    with open_checkpointer(url) as saver:
        graphs = {
            "baseline": gate_graph(gated=False).compile(checkpointer=saver),
            "subject": gate_graph(gated=True).compile(checkpointer=saver),
        }
        for side, graph in graphs.items():  # warm up both
            for i in range(20):
                graph.invoke(action("read_record", id=i), _cfg(f"warm-{side}-{i}"))
        per_repeat = []
        for rep in range(repeats):
            totals = {"baseline": 0.0, "subject": 0.0}
            for start in range(0, actions, chunk):
                order = ["baseline", "subject"] if (start // chunk) % 2 == 0 else ["subject", "baseline"]
                for side in order:
                    graph = graphs[side]

                    def run(graph: Any = graph, side: str = side, start: int = start, rep: int = rep) -> None:
                        for i in range(start, min(start + chunk, actions)):
                            out = graph.invoke(action("read_record", id=i), _cfg(f"{side}-{rep}-{i}"))
                            assert out["result"]["ok"], out

                    totals[side] += _timed(run)
            gc.collect()
            per_repeat.append(totals)
    ratios = [t["subject"] / t["baseline"] for t in per_repeat]
    return {
        "actions": actions,
        "repeats": repeats,
        "baseline_ms_per_action": _ms(statistics.median(t["baseline"] for t in per_repeat) / actions),
        "subject_ms_per_action": _ms(statistics.median(t["subject"] for t in per_repeat) / actions),
        "ratio_each_repeat": [round(r, 3) for r in ratios],
        "ratio": round(statistics.median(ratios), 3),
        "target": TARGETS["gate"],
    }


# -- pause and decide -------------------------------------------------------------------------------


def bench_pause(workdir: Path, *, ops: int = 200, repeats: int = 3) -> dict[str, Any]:
    """Approvals.start vs raw invoke to the interrupt; Approvals.decide vs raw Command(resume=...).

    One graph, one SQLite file. Operations alternate one by one between the two sides (the
    side that goes first alternates too). The raw side is exactly what a hand-rolled
    integration does: `graph.invoke(input)` until `__interrupt__`, then
    `graph.invoke(Command(resume={interrupt_id: decision}))`. A third, informational side
    resumes raw but hands the nodes the store (so the ledger and audit writes the nodes do
    are in the baseline too): the difference to `decide` is the runner alone.
    """
    url = f"sqlite:///{workdir / 'pause.db'}"
    results: dict[str, list[dict[str, float]]] = {"start": [], "decide": [], "decide_vs_raw_with_store": []}
    with Approvals.open(approval_graph(), url) as hitl:
        graph = hitl.graph
        store_cfg = hitl._config  # the runner's config: thread id plus its store for the nodes

        def raw_start(tid: str, i: int) -> str:
            out = graph.invoke(action("delete_record", id=i), _cfg(tid))
            return str(out["__interrupt__"][0].id)

        def raw_resume(tid: str, iid: str, *, with_store: bool = False) -> None:
            # Who answers comes from the run's config (as LangGraph Server's auth puts it there).
            cfg = authenticated(store_cfg(tid) if with_store else _cfg(tid), "alice")
            out = graph.invoke(Command(resume={iid: {"type": "approve"}}), cfg)
            assert out["status"] == "executed", out["status"]

        for i in range(10):  # warm up
            iid = raw_start(f"warm-raw-{i}", i)
            raw_resume(f"warm-raw-{i}", iid)
            rid = hitl.start(f"warm-hitl-{i}", action("delete_record", id=i)).pending[0].request_id
            hitl.decide(rid, {"type": "approve"}, approver="alice")
        for rep in range(repeats):
            times: dict[str, dict[str, list[float]]] = {k: {"baseline": [], "subject": []} for k in results}
            raw_ids: list[tuple[str, str]] = []
            raw_store_ids: list[tuple[str, str]] = []
            hitl_ids: list[str] = []
            for i in range(ops):
                tid = f"r{rep}-{i}"
                calls = [
                    (
                        "baseline",
                        lambda tid=tid, i=i, out=raw_ids: out.append(  # type: ignore[misc]
                            (f"raw-{tid}", raw_start(f"raw-{tid}", i))
                        ),
                    ),
                    (
                        "subject",
                        lambda tid=tid, i=i, out=hitl_ids: out.append(  # type: ignore[misc]
                            hitl.start(f"hitl-{tid}", action("delete_record", id=i)).pending[0].request_id
                        ),
                    ),
                ]
                for side, call in calls if i % 2 == 0 else calls[::-1]:
                    times["start"][side].append(_timed(call))
                # a paused thread for the informational side (untimed)
                raw_store_ids.append((f"rs-{tid}", raw_start(f"rs-{tid}", i)))
            for i in range(ops):
                (rtid, iid), rid = raw_ids[i], hitl_ids[i]
                calls = [
                    ("baseline", lambda rtid=rtid, iid=iid: raw_resume(rtid, iid)),
                    ("subject", lambda rid=rid: hitl.decide(rid, {"type": "approve"}, approver="alice")),
                ]
                for side, call in calls if i % 2 == 0 else calls[::-1]:
                    times["decide"][side].append(_timed(call))
                times["decide_vs_raw_with_store"]["subject"].append(times["decide"]["subject"][-1])
                stid, siid = raw_store_ids[i]
                times["decide_vs_raw_with_store"]["baseline"].append(
                    _timed(lambda stid=stid, siid=siid: raw_resume(stid, siid, with_store=True))
                )
            gc.collect()
            for key, sides in times.items():
                results[key].append({side: statistics.median(v) for side, v in sides.items()})
    out: dict[str, Any] = {"ops": ops, "repeats": repeats}
    for key, reps in results.items():
        ratios = [r["subject"] / r["baseline"] for r in reps]
        out[key] = {
            "baseline_ms": _ms(statistics.median(r["baseline"] for r in reps)),
            "subject_ms": _ms(statistics.median(r["subject"] for r in reps)),
            "ratio_each_repeat": [round(x, 3) for x in ratios],
            "ratio": round(statistics.median(ratios), 3),
            "target": TARGETS.get(key),
        }
    return out


def profile_decide(workdir: Path, *, ops: int = 150, top: int = 25) -> str:
    """cProfile of `ops` starts and decisions, our code only, sorted by cumulative time."""
    import cProfile
    import io
    import pstats

    url = f"sqlite:///{workdir / 'profile.db'}"
    with Approvals.open(approval_graph(), url) as hitl:
        prof = cProfile.Profile()
        prof.enable()
        rids = [hitl.start(f"p{i}", action("delete_record", id=i)).pending[0].request_id for i in range(ops)]
        for rid in rids:
            hitl.decide(rid, {"type": "approve"}, approver="alice")
        prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(
        "langgraph_hitl|sqlite3|get_state|invoke", top
    )
    return buf.getvalue()


def phases(workdir: Path, *, ops: int = 200) -> dict[str, Any]:
    """Where `decide` spends its time beyond a raw resume, step by step (no profiler, so no
    inflation): each effect the runner performs is timed, and so are the two nodes that do more
    with the store than without it. Raw resumes of the same graph run interleaved."""
    import collections
    import functools

    from langgraph_hitl.nodes.execute import ExecuteNode
    from langgraph_hitl.nodes.review import ReviewNode

    spent: dict[str, list[float]] = collections.defaultdict(list)
    url = f"sqlite:///{workdir / 'phases.db'}"
    originals = {ReviewNode: ReviewNode.__call__, ExecuteNode: ExecuteNode.__call__}
    side = ["raw"]

    def timed_node(cls: Any, label: str) -> None:
        call = originals[cls]

        @functools.wraps(call)
        def run(self: Any, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return call(self, *args, **kwargs)
            finally:
                spent[f"{side[0]}: {label}"].append(time.perf_counter() - started)

        cls.__call__ = run  # type: ignore[method-assign]

    timed_node(ReviewNode, "review node")
    timed_node(ExecuteNode, "execute node")
    try:
        with Approvals.open(approval_graph(), url) as hitl:
            perform = hitl._perform

            def timed_perform(effect: Any) -> Any:
                kind = type(effect).__name__
                name = f"{kind} {getattr(effect.fn, '__name__', '')}".strip() if kind == "Db" else kind
                started = time.perf_counter()
                try:
                    return perform(effect)
                finally:
                    spent[f"decide: {name}"].append(time.perf_counter() - started)

            hitl._perform = timed_perform  # type: ignore[method-assign]
            graph = hitl.graph
            raw = [
                str(graph.invoke(action("delete_record", id=i), _cfg(f"raw-{i}"))["__interrupt__"][0].id)
                for i in range(ops)
            ]
            rids = [
                hitl.start(f"hitl-{i}", action("delete_record", id=i)).pending[0].request_id
                for i in range(ops)
            ]
            spent.clear()
            for i in range(ops):
                side[0] = "decide"
                started = time.perf_counter()
                hitl.decide(rids[i], {"type": "approve"}, approver="alice")
                spent["decide: total"].append(time.perf_counter() - started)
                side[0] = "raw"
                started = time.perf_counter()
                graph.invoke(
                    Command(resume={raw[i]: {"type": "approve"}}), authenticated(_cfg(f"raw-{i}"), "alice")
                )
                spent["raw: total"].append(time.perf_counter() - started)
    finally:
        for cls, call in originals.items():
            cls.__call__ = call  # type: ignore[method-assign]
    return {
        name: {
            "median_ms": _ms(statistics.median(v)),
            "per_decision_ms": _ms(sum(v) / ops),
            "calls": len(v) / ops,
        }
        for name, v in sorted(spent.items())
    }


# -- concurrent decisions ---------------------------------------------------------------------------


def _worker(url: str, rids_file: str, seed: int) -> None:
    """Subprocess: open the runner, say ready, wait for 'go', try to approve every request."""
    rids = json.loads(Path(rids_file).read_text())
    random.Random(seed).shuffle(rids)
    wins: list[str] = []
    losses = locked = other = 0
    with Approvals.open(approval_graph(), url) as hitl:
        print("ready", flush=True)
        sys.stdin.readline()
        started = time.perf_counter()
        for rid in rids:
            try:
                hitl.decide(rid, {"type": "approve"}, approver=f"reviewer-{seed}")
                wins.append(rid)
            except HITLError:
                losses += 1
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc):
                    locked += 1
                else:
                    other += 1
        elapsed = time.perf_counter() - started
    print(
        json.dumps({"wins": wins, "losses": losses, "locked": locked, "other": other, "seconds": elapsed}),
        flush=True,
    )


def bench_concurrent(
    workdir: Path, *, requests: int = 240, procs: tuple[int, ...] = (1, 2, 4)
) -> dict[str, Any]:
    """N processes race to approve the same `requests` paused requests on one SQLite file."""
    runs: dict[str, Any] = {}
    for n in procs:
        url = f"sqlite:///{workdir / f'workers-{n}.db'}"
        with Approvals.open(approval_graph(), url) as hitl:
            rids = [
                hitl.start(f"t{i}", action("delete_record", id=i)).pending[0].request_id
                for i in range(requests)
            ]
        rids_file = workdir / f"rids-{n}.json"
        rids_file.write_text(json.dumps(rids))
        workers = [
            subprocess.Popen(
                [sys.executable, str(HERE), "_worker", url, str(rids_file), str(k)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for k in range(n)
        ]
        for w in workers:
            assert w.stdout is not None and w.stdout.readline().strip() == "ready"
        started = time.perf_counter()
        for w in workers:
            assert w.stdin is not None
            w.stdin.write("go\n")
            w.stdin.flush()
        outs = []
        for w in workers:
            out, err = w.communicate(timeout=600)
            if w.returncode != 0:
                raise RuntimeError(f"worker failed ({w.returncode}): {err[-2000:]}")
            outs.append((json.loads(out.strip().splitlines()[-1]), err))
        elapsed = time.perf_counter() - started
        wins = [rid for o, _ in outs for rid in o["wins"]]
        with Approvals.open(approval_graph(), url) as hitl:
            approved = hitl.store.backend.execute(
                "SELECT request_id, COUNT(*) AS n FROM hitl_audit WHERE event = 'approved' GROUP BY request_id"
            )
            ledger = hitl.store.backend.execute("SELECT COUNT(*) AS n, MAX(attempts) AS a FROM hitl_ledger")[
                0
            ]
            verified = hitl.store.audit.verify().ok
        runs[str(n)] = {
            "processes": n,
            "decisions": len(set(wins)),
            "seconds": round(elapsed, 3),
            "decisions_per_s": round(len(set(wins)) / elapsed, 1),
            "double_decisions": (len(wins) - len(set(wins))) + sum(1 for r in approved if r["n"] > 1),
            "undecided": requests - len(set(wins)),
            "locked_errors": sum(o["locked"] for o, _ in outs)
            + sum(e.count("database is locked") for _, e in outs),
            "other_errors": sum(o["other"] for o, _ in outs),
            "executions": int(ledger["n"]),
            "audit_verifies": verified,
        }
    base = runs[str(procs[0])]["decisions_per_s"]
    for run in runs.values():
        run["speedup_vs_1"] = round(run["decisions_per_s"] / base, 2)
    return {
        "source": "bench_core.py (fallback: benchmarks/bench_workers.py is missing)",
        "requests": requests,
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_worker":
        _worker(argv[1], argv[2], int(argv[3]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["gate", "pause", "profile", "phases", "concurrent", "all"])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    quick = args.quick
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="hitl-bench-") as tmp:
        work = Path(tmp)
        if args.what in ("gate", "all"):
            out["gate"] = bench_gate(
                work, actions=100 if quick else 1000, repeats=1 if quick else args.repeats
            )
        if args.what in ("pause", "all"):
            out["pause"] = bench_pause(work, ops=30 if quick else 200, repeats=1 if quick else args.repeats)
        if args.what == "profile":
            print(profile_decide(work))
            return 0
        if args.what == "phases":
            out["phases"] = phases(work, ops=30 if quick else 200)
        if args.what in ("concurrent", "all"):
            out["concurrent"] = bench_concurrent(work, requests=40 if quick else 240)
    json.dump(out, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("LANGSMITH_TRACING", "false")
    raise SystemExit(main())
