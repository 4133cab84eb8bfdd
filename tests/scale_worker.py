"""A worker process for the scale-out tests.

    python tests/scale_worker.py URL COMMAND OPTIONS_JSON    one job
    python tests/scale_worker.py serve                       jobs as JSON lines on stdin:
                                                             {"url": ..., "command": ..., "options": {...}}

For each job the worker opens a runner, prints `ready`, waits for a `go` line on stdin (the
parent releases all workers at once, so they really overlap), then prints one JSON line.

Commands:
  mix      start `own` threads of its own, then decide whatever is pending (racing the
           other workers) until nothing it may decide is left; prints wins and losses
  expire   expire_overdue(now=far future); prints what it returned and what it resumed
  recover  recover(older_than=...); prints the report and what it resumed
  crash    leave work half done, then SIGKILL itself: claim `after_claim` requests,
           claim and resume (but never index) `after_resume` requests, start `in_flight`
           threads without indexing them

Options (JSON): `worker` (int), `own` (int), `build` (kwargs for `graphs.build`), `effects_db`,
`after_claim` / `after_resume` (request ids), `in_flight` (thread ids), `older_than`, and
`clock_offset` (seconds added to the runner's clock: "this worker runs that much later").
Every `_resume` call (a decision delivered to a graph) is recorded in `resumed`.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from langgraph.types import Command  # noqa: E402

from langgraph_hitl import Approvals, HITLError  # noqa: E402
from langgraph_hitl.approvals import flow  # noqa: E402

from graphs import action, build  # noqa: E402

RESUMED: list[str] = []
_original_resume = flow.resumed


def _counting_resume(core: Any, claimed: Any, *args: Any, **kwargs: Any) -> Any:
    RESUMED.append(claimed.request_id)
    return _original_resume(core, claimed, *args, **kwargs)


flow.resumed = _counting_resume  # every runner's decisions, expiries and recoveries resume through it

OWN_ACTIONS = [
    ("delete_record", {}),  # high: one review
    ("delete_record", {"env": "prod"}),  # critical: review, then a second reviewer
    ("read_record", {}),  # low: runs at once
    ("send_email", {"to": ["a@example.com"]}),  # medium: one review
]


def own_thread_ids(worker: int, own: int) -> list[str]:
    """The threads worker `worker` starts (the parent computes the same list)."""
    return [f"w{worker}-{i}" for i in range(own)]


def wait_for_go() -> None:
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        raise SystemExit("parent did not say go")


def mix(hitl: Approvals, opts: dict[str, Any]) -> dict[str, Any]:
    worker = int(opts["worker"])
    approver = f"approver{worker}"
    rng = random.Random(worker)
    started = []
    for i, thread_id in enumerate(own_thread_ids(worker, int(opts["own"]))):
        name, extra = OWN_ACTIONS[i % len(OWN_ACTIONS)]
        hitl.start(thread_id, action(name, id=1000 * worker + i, **extra))
        started.append(thread_id)
    wins: dict[str, str] = {}
    losses: dict[str, str] = {}
    idle = 0
    for _ in range(200):
        items = hitl.pending(limit=500).items
        if not items or idle >= 3:
            break
        rng.shuffle(items)
        progressed = False
        for req in items:
            kind = rng.choice(["approve", "approve", "reject"])
            try:
                hitl.decide(req.request_id, {"type": kind}, approver=approver)
            except HITLError as exc:
                losses[req.request_id] = type(exc).__name__
                continue
            wins[req.request_id] = kind
            progressed = True
        idle = 0 if progressed else idle + 1
    return {"approver": approver, "started": started, "wins": wins, "losses": losses}


def crash(hitl: Approvals, opts: dict[str, Any]) -> None:
    for rid in [*opts.get("after_claim", []), *opts.get("after_resume", [])]:
        row = hitl._row(rid)
        valid, _ = hitl._validate(row, {"type": "approve"}, "alice")
        hitl._check_live(row, hitl._state(row.thread_id))
        claimed = hitl._claim(row, valid, "alice")
        if rid in opts.get("after_resume", []):  # the answer as claimed, exactly what recover() would deliver
            hitl.graph.invoke(
                Command(resume={row.interrupt_id: claimed.decision}),
                hitl._config(row.thread_id, decider=claimed.decided_by, decided_at=claimed.decided_at),
            )
    for thread_id in opts.get("in_flight", []):
        hitl.store.inbox.mark_thread(thread_id, "in_flight")
        hitl.graph.invoke(action("delete_record", id=thread_id), hitl._config(thread_id))
    os.kill(os.getpid(), signal.SIGKILL)


def run(url: str, command: str, opts: dict[str, Any]) -> dict[str, Any]:
    """Open a runner on `url`, say ready, wait for go, run `command`, and return its result."""
    RESUMED.clear()
    os.environ["HITL_EFFECTS_DB"] = opts.get("effects_db", "")
    offset = float(opts.get("clock_offset", 0))
    with Approvals.open(build(**opts.get("build", {})), url, clock=lambda: time.time() + offset) as hitl:
        if command == "crash":
            crash(hitl, opts)
        wait_for_go()
        if command == "mix":
            out = mix(hitl, opts)
        elif command == "expire":
            out = {"returned": hitl.expire_overdue(now=time.time() + 3600)}
        elif command == "recover":
            out = dict(hitl.recover(older_than=float(opts.get("older_than", 0))).__dict__)
        else:
            raise SystemExit(f"unknown command {command!r}")
    return {**out, "resumed": list(RESUMED)}


def main(argv: list[str]) -> None:
    if argv == ["serve"]:
        for line in sys.stdin:  # one job per line, so a pool of workers pays the imports once
            job = json.loads(line)
            print(json.dumps(run(job["url"], job["command"], job["options"])), flush=True)
        return
    url, command, raw = argv
    print(json.dumps(run(url, command, json.loads(raw))), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
