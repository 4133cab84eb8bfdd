"""Fault injection: processes drive one SQLite file and are SIGKILLed at random points.

    python tests/fault_worker.py soak URL --trials N --procs 4 --seed S [--flavour async]
                                                                           # run the trials; JSON summary
    python tests/fault_worker.py recover URL                               # recover(older_than=0); JSON report
    python tests/fault_worker.py once URL THREAD ACTION JSON_ARGS --point P --nth N [--slow-put S]
                                                                           # one start, killed at P

`soak` imports LangGraph once, then forks one child per trial, `--procs` at a time, all on
the same database. A child opens its own `Approvals` and loops over random operations
(start a run, decide a pending request, expire overdue requests, recover) until it is
killed. Each trial is killed one way, chosen by the seeded plan:

- from inside, the n-th time the process passes a point (after a checkpoint write, after a
  claim, in a handler between its effect and the ledger record, ...): `POINTS`;
- from outside, by the parent, after a random delay (`external`).

Children drive `Approvals` or, with `--flavour async`, `AsyncApprovals` (through
`flavours.BlockingAsyncApprovals`), with a short lease (`LEASE_S`) and, in some children, handlers
slower than it, so the heartbeat is all that keeps a live handler from being run again. A share
of the runs start from poisoned agent outputs (values that are not JSON, huge integers, NUL,
lone surrogates). A child that meets any exception but a `HITLError` exits non-zero, which the
parent reports. Before every kill the time is written to `HITL_DEATHS/<pid>`, so the checks can
tell a retry after a death from a second run beside a live one.

Handlers record their effects through `graphs.record_effect` (env `HITL_EFFECTS_DB`).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import datetime  # noqa: E402

from langgraph.checkpoint.sqlite import SqliteSaver  # noqa: E402

from langgraph_hitl import Approvals, ConflictError, HITLError, NotPendingError  # noqa: E402
from langgraph_hitl.approvals.core import _Core  # noqa: E402
from langgraph_hitl.store.audit import AuditLog  # noqa: E402
from langgraph_hitl.store.inbox import Inbox  # noqa: E402
from langgraph_hitl.store.ledger import Ledger  # noqa: E402
from langgraph_hitl.types import SYSTEM_TIMEOUT  # noqa: E402

import graphs  # noqa: E402

TIMEOUT_S = 30.0
"""Every reviewed request's deadline; `expire` ops jump the clock ahead by up to ~this."""
REVIEWERS = ("alice", "bob", "carol")
LEASE_S = 0.6
"""The children's lease: shorter than the slow handlers, so only the heartbeat keeps them."""

POINTS: dict[str, int] = {
    "start:after_in_flight": 2,
    "checkpoint:after_put": 8,
    "checkpoint:after_put_writes": 8,
    "decide:after_claim": 3,
    "expire:after_claim": 2,
    "runner:before_index": 4,
    "runner:after_index": 4,
    "execute:after_effect": 2,
    "execute:after_ledger_begin": 2,
    "execute:after_ledger_complete": 2,
    "audit:after_append": 6,
}
"""Kill points inside the process, each with the largest n drawn for 'the n-th pass'."""


def graph() -> Any:
    """The graph every process runs (the same one the recovering process opens)."""
    return graphs.build(timeout_s=TIMEOUT_S)


# -- the child --------------------------------------------------------------------------------------


def note_death(pid: int) -> None:
    """Record that `pid` is about to be killed (the time is an upper bound on its last act)."""
    folder = os.environ.get("HITL_DEATHS")
    if folder:  # appended: a pid is reused by later children on a long run
        with Path(folder, str(pid)).open("a") as f:
            f.write(f"{time.time()!r}\n")


class Tripwire:
    """Kills this process the `nth` time it passes `point`."""

    def __init__(self, point: str, nth: int) -> None:
        self.point = point
        self.left = nth

    def passed(self, point: str) -> None:
        if point != self.point:
            return
        self.left -= 1
        if self.left <= 0:
            note_death(os.getpid())
            os.kill(os.getpid(), signal.SIGKILL)


def _after_async(owner: Any, name: str, trip: Any, point: str) -> None:
    """`_after` for a coroutine method."""
    original = getattr(owner, name)

    @functools.wraps(original)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        out = await original(*args, **kwargs)
        trip.passed(point)
        return out

    setattr(owner, name, wrapper)


def _savers() -> list[Any]:
    """Every checkpointer class a child may run on (SQLite and Postgres, sync and async)."""
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    found: list[Any] = [SqliteSaver, AsyncSqliteSaver]
    try:
        from langgraph.checkpoint.postgres import PostgresSaver
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    except ImportError:
        return found
    return [*found, PostgresSaver, AsyncPostgresSaver]


def _after(owner: Any, name: str, trip: Any, point: str | Any) -> None:
    """Wrap `owner.name` so the tripwire is passed after it returns (`point` may depend on the call)."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        out = original(*args, **kwargs)
        trip.passed(point(*args, **kwargs) if callable(point) else point)
        return out

    setattr(owner, name, wrapper)


def install(trip: Tripwire) -> None:
    """Put the tripwire on every kill point (this process only: it is a fork)."""
    _after(
        Inbox,
        "mark_thread",
        trip,
        lambda *a, **k: "start:after_in_flight" if "in_flight" in (*a, *k.values()) else "",
    )
    for saver in _savers():
        _after(saver, "put", trip, "checkpoint:after_put")
        _after(saver, "put_writes", trip, "checkpoint:after_put_writes")
        _after_async(saver, "aput", trip, "checkpoint:after_put")
        _after_async(saver, "aput_writes", trip, "checkpoint:after_put_writes")
    _after(Inbox, "claim_start", trip, "start:after_in_flight")
    _after(
        Inbox,
        "claim",
        trip,
        lambda *a, **k: (
            "expire:after_claim" if SYSTEM_TIMEOUT in (*a[3:], *k.values()) else "decide:after_claim"
        ),
    )
    _after(graphs, "record_effect", trip, "execute:after_effect")
    _after(Ledger, "begin", trip, "execute:after_ledger_begin")
    _after(Ledger, "complete", trip, "execute:after_ledger_complete")
    _after(AuditLog, "append", trip, "audit:after_append")
    original_index = _Core._index_state

    @functools.wraps(original_index)
    def index_state(self: Any, *args: Any, **kwargs: Any) -> Any:
        trip.passed("runner:before_index")
        out = original_index(self, *args, **kwargs)
        trip.passed("runner:after_index")
        return out

    _Core._index_state = index_state  # type: ignore[method-assign]


def pick_approver(payload: dict[str, Any], rng: random.Random) -> str | None:
    """A reviewer allowed to decide `payload` (never its requester, never an excluded one)."""
    hitl = payload["hitl"]
    allowed = hitl.get("approvers") or list(REVIEWERS)
    banned = {hitl.get("requested_by"), *hitl.get("exclude_approvers", [])}
    choices = [a for a in allowed if a not in banned]
    return rng.choice(choices) if choices else None


POISON: list[Any] = [
    datetime.datetime(2026, 11, 30, tzinfo=datetime.timezone.utc),
    2**70,
    "nul\x00inside",
    "lone \ud800",
    {"deep": [1, {"x": "\x00"}]},
    "x" * 300_000,
]
"""What agents put in their outputs on a bad day."""


def op_start(hitl: Approvals, rng: random.Random, tag: str) -> None:
    """Start a run on a new thread; low-risk actions execute right away; 1 in 8 outputs is poisoned."""
    kind = rng.choices(
        ["read_record", "update_record", "send_email", "delete_record", "prod_delete"],
        weights=[15, 10, 20, 35, 20],
    )[0]
    args: dict[str, Any] = {"id": rng.randrange(10**6)}
    if kind == "prod_delete":
        kind, args["env"] = "delete_record", "prod"
    agent: dict[str, Any] = {"action": {"name": kind, "args": args}}
    if rng.random() < 0.125:
        poison = rng.choice(POISON)
        if rng.random() < 0.5:
            args["note"] = poison
        else:
            agent["hitl_context"] = {"note": poison}
    try:
        hitl.start(tag, agent)
    except HITLError:
        pass  # refused, naming the value: what the checks verify is that nothing was lost or left in flight


def op_decide(hitl: Approvals, rng: random.Random) -> None:
    """Decide a random pending request with a valid decision (races with other processes are fine)."""
    items = hitl.pending(limit=50).items
    if not items:
        return
    req = rng.choice(items)
    approver = pick_approver(dict(req.payload), rng)
    if approver is None:
        return
    allowed = req.payload["review_configs"][0]["allowed_decisions"]
    kind = rng.choices(["approve", "reject", "edit", "respond"], weights=[60, 15, 15, 10])[0]
    if kind not in allowed:
        kind = "approve" if "approve" in allowed else "reject"
    decision: dict[str, Any] = {"type": kind}
    if kind == "edit":
        args = {**req.action["args"], "id": rng.randrange(10**6)}
        if rng.random() < 0.3:
            args["env"] = "prod"  # a stricter gate: asked again
        decision["edited_action"] = {"name": req.action["name"], "args": args}
    elif kind in ("reject", "respond"):
        decision["message"] = "not like this" if kind == "reject" else "use the archive instead"
    try:
        hitl.decide(req.request_id, decision, approver=approver)
    except (ConflictError, NotPendingError):
        pass  # another process decided, expired or cancelled it first


def op_expire(hitl: Approvals, rng: random.Random) -> None:
    """Expire what would be overdue a random while from now."""
    hitl.expire_overdue(now=time.time() + rng.uniform(0, TIMEOUT_S + 5))


def runner_class(flavour: str) -> Any:
    """`Approvals`, or `AsyncApprovals` called the same way."""
    if flavour == "async":
        from flavours import BlockingAsyncApprovals

        return BlockingAsyncApprovals
    return Approvals


def child(url: str, trial: int, seed: int, point: str, nth: int, flavour: str = "sync") -> None:
    """One trial: random operations until killed (never returns normally)."""
    rng = random.Random(f"{seed}:{trial}")
    install(Tripwire(point, nth))
    if rng.random() < 0.3:  # handlers slower than the lease: only the heartbeat keeps them
        os.environ["HITL_HANDLER_SLEEP"] = str(round(rng.uniform(LEASE_S, 3 * LEASE_S), 2))
    with runner_class(flavour).open(graph(), url, lease_s=LEASE_S) as hitl:
        for n in range(100_000):
            op = rng.choices(["start", "decide", "expire", "recover"], weights=[35, 50, 10, 5])[0]
            if op == "start":
                op_start(hitl, rng, f"w{trial}-{n}")
            elif op == "decide":
                op_decide(hitl, rng)
            elif op == "expire":
                op_expire(hitl, rng)
            else:
                hitl.recover()  # leases keep live processes' claims and handlers out of reach


# -- the parent -------------------------------------------------------------------------------------


def plan(trials: int, seed: int) -> list[dict[str, Any]]:
    """Which way each trial dies: an inside point and its n-th pass, or from outside after a delay."""
    rng = random.Random(seed)
    out = []
    for trial in range(trials):
        if rng.random() < 0.3:
            out.append(
                {"trial": trial, "point": "external", "nth": 0, "delay": round(rng.uniform(0.05, 2.0), 3)}
            )
        else:
            point = rng.choice(sorted(POINTS))
            out.append({"trial": trial, "point": point, "nth": rng.randint(1, POINTS[point]), "delay": None})
    return out


def _fork(fn: Any, *args: Any) -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 0
    try:
        fn(*args)
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        code = 3
    os._exit(code)


def _setup(url: str) -> None:
    with Approvals.open(graph(), url):
        pass


def soak(
    url: str, *, trials: int, procs: int, seed: int, max_life: float, flavour: str = "sync"
) -> dict[str, Any]:
    """Run `trials` killed children, `procs` at a time; return what happened to each."""
    pid = _fork(_setup, url)
    _, status = os.waitpid(pid, 0)
    if status != 0:
        raise SystemExit(f"setup failed with status {status}")
    queue = plan(trials, seed)
    running: dict[int, tuple[dict[str, Any], float]] = {}
    results: list[dict[str, Any]] = []
    while queue or running:
        while queue and len(running) < procs:
            spec = queue.pop(0)
            pid = _fork(child, url, spec["trial"], seed, spec["point"], spec["nth"], flavour)
            running[pid] = (spec, time.monotonic())
        time.sleep(0.002)
        now = time.monotonic()
        for pid, (spec, born) in list(running.items()):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                del running[pid]
                killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
                code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status)
                results.append({**spec, "killed": killed, "exit": code, "life_s": round(now - born, 3)})
                continue
            deadline = spec["delay"] if spec["point"] == "external" else max_life
            if now - born >= deadline:
                if spec["point"] != "external":
                    spec["fallback"] = True  # the point was not reached in time: killed from outside
                note_death(pid)
                os.kill(pid, signal.SIGKILL)
    killed = [r for r in results if r["killed"]]
    points: dict[str, int] = {}
    for r in killed:
        name = "external (fallback)" if r.get("fallback") else r["point"]
        points[name] = points.get(name, 0) + 1
    return {
        "seed": seed,
        "flavour": flavour,
        "trials": trials,
        "procs": procs,
        "killed": len(killed),
        "points": points,
        "not_killed": [r for r in results if not r["killed"]],
    }


def once(
    url: str, thread: str, name: str, args: dict[str, Any], *, point: str, nth: int, slow_put: float
) -> None:
    """Start one run with the tripwire at `point`; `slow_put` delays every checkpoint save (a slow disk)."""
    if slow_put:
        original = SqliteSaver.put

        def put(self: Any, *a: Any, **k: Any) -> Any:
            time.sleep(slow_put)
            return original(self, *a, **k)

        SqliteSaver.put = put  # type: ignore[method-assign]
    install(Tripwire(point, nth))
    with Approvals.open(graph(), url) as hitl:
        hitl.start(thread, {"action": {"name": name, "args": args}})


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["soak", "recover", "once"])
    parser.add_argument("url")
    parser.add_argument("rest", nargs="*", help="once: THREAD ACTION JSON_ARGS")
    parser.add_argument("--point", default="external")
    parser.add_argument("--nth", type=int, default=1)
    parser.add_argument("--slow-put", type=float, default=0.0)
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--procs", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--flavour", choices=["sync", "async"], default="sync")
    parser.add_argument(
        "--max-life", type=float, default=8.0, help="seconds before a child is killed from outside"
    )
    args = parser.parse_args(argv)
    if args.command == "soak":
        out = soak(
            args.url,
            trials=args.trials,
            procs=args.procs,
            seed=args.seed,
            max_life=args.max_life,
            flavour=args.flavour,
        )
    elif args.command == "once":
        thread, name, raw = args.rest
        once(args.url, thread, name, json.loads(raw), point=args.point, nth=args.nth, slow_put=args.slow_put)
        out = {"killed": False}
    else:
        with Approvals.open(graph(), args.url) as hitl:
            out = hitl.recover(older_than=0).__dict__
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
