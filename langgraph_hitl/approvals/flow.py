"""The runner's operations, written once for both runners: start, decide, resume, refresh,
expire, recover.

Each operation is a generator that does no I/O itself: it yields what it needs done (`Db`:
a step on the store; `GetState`: the thread's snapshot; `Index`: index a snapshot; `Run`:
run the graph; `Part`: a stream part for the caller) and is sent the result, or has the
error thrown in where it asked. `Approvals` performs those effects with plain calls;
`AsyncApprovals` awaits the graph and runs the store's short transactions in a worker thread.
So the two runners keep the same rules in the same order, and differ only in how they wait.

An operation's return value is its result (`RunResult`, a report, a list of ids).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from langgraph.types import Command

from ..errors import ConflictError, NotPendingError
from ..store.inbox import RequestRow
from ..types import SYSTEM_TIMEOUT, Decision
from .core import _Core, log
from .graphs import live_interrupts
from .halting import approving_timeout_halted
from .models import PLAIN, PendingRequest, RecoveryReport, RunOptions
from .tracing import operation, reviewed

__all__ = [
    "Db",
    "Flow",
    "GetState",
    "Index",
    "Run",
    "decided",
    "expired_overdue",
    "recovered",
    "refreshed",
    "started",
]


@dataclass(frozen=True)
class Db:
    """Call `fn(*args, **kwargs)`, a short step on the store."""

    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


def db(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Db:
    return Db(fn, args, kwargs)


@dataclass(frozen=True)
class GetState:
    """The thread's `StateSnapshot`, subgraphs included."""

    thread_id: str


@dataclass(frozen=True)
class Index:
    """`_Core._index_state` on a snapshot (the trails of paused subgraphs read by the runner's saver)."""

    thread_id: str
    state: Any
    resumed: RequestRow | None = None
    """The claimed request the run just resumed (its decider is who the graph should have heard)."""
    expired: bool = False


@dataclass(frozen=True)
class Run:
    """Run the graph on `input`: streamed part by part when `run` streams (each part goes to the
    caller) unless `invoke`, else one `invoke`."""

    input: Any
    config: dict[str, Any]
    run: RunOptions
    invoke: bool = False


Effect = Db | GetState | Index | Run
Flow = Generator[Effect, Any, Any]
"""An operation: yields effects, is sent their results, returns its own."""


def started(core: _Core, thread_id: str, input: Any, *, abandon: bool, run: RunOptions) -> Flow:
    """The one start path (in a `hitl.start` span when tracing is on, see `tracing`)."""
    flow = _started(core, thread_id, input, abandon=abandon, run=run)
    return (yield from operation(core, "start", flow, thread_id=thread_id))


def _started(core: _Core, thread_id: str, input: Any, *, abandon: bool, run: RunOptions) -> Flow:
    """Claim the thread, run the graph, index what it left."""
    if not (yield db(core.store.inbox.claim_start, thread_id, graph=core.name)):  # one run at a time
        core._raise_busy(thread_id)
    try:
        state = yield GetState(thread_id)
        yield db(core._prepare_start, thread_id, state, abandon=abandon, input=input)
    except BaseException:
        yield db(core.store.inbox.mark_thread, thread_id, "idle", graph=core.name)
        raise
    try:
        yield Run(input, core._config(thread_id, run=run), run)
    except Exception as exc:
        # Whatever the run left (a question asked before the failure, or nothing) is indexed and
        # the thread marked idle: never left in flight for a run that is over, a stream closed
        # early included (`drive.Stopped`).
        yield Index(thread_id, (yield GetState(thread_id)))
        core._raise_start_failure(thread_id, exc)
    state = yield GetState(thread_id)
    pending = yield Index(thread_id, state)
    return core._result(thread_id, state, pending)


def decided(core: _Core, row: RequestRow, valid: list[Decision], approver: str, run: RunOptions) -> Flow:
    """The one decide path after validation: still live, claim, resume, notify."""
    yield db(core._check_live, row, (yield GetState(row.thread_id)))
    claimed = yield db(core._claim, row, valid, approver)
    answer = core._answer(row, valid)
    with reviewed(core, claimed, valid):  # the review span, current for the resumed run and the hook
        result = yield from resumed(core, claimed, answer, run=run)
        core._notify("on_decision", row.request_id, answer, thread_id=row.thread_id)
    return result


def resumed(
    core: _Core,
    claimed: RequestRow,
    decision: dict[str, Any],
    *,
    expired: bool = False,
    run: RunOptions = PLAIN,
) -> Flow:
    """Deliver a claimed decision to the graph and index what it asks next; a resume the graph
    never took puts the request back to pending."""
    thread_id, interrupt_id = claimed.thread_id, claimed.interrupt_id
    config = core._config(thread_id, decider=claimed.decided_by, decided_at=claimed.decided_at, run=run)
    try:
        yield Run(Command(resume={interrupt_id: decision}), config, run)
    except BaseException as exc:
        state = yield GetState(thread_id)
        if interrupt_id in live_interrupts(state):
            yield db(core._release, claimed, exc)  # the graph never took the answer
        else:
            yield Index(thread_id, state, resumed=claimed, expired=expired)
        raise
    state = yield GetState(thread_id)
    pending = yield Index(thread_id, state, resumed=claimed, expired=expired)
    return core._result(thread_id, state, pending)


def refreshed(core: _Core, thread_id: str, run: RunOptions) -> Flow:
    """Run the paused node again so its question is asked (and indexed) anew (a `hitl.refresh` span)."""
    return (yield from operation(core, "refresh", _refreshed(core, thread_id, run), thread_id=thread_id))


def _refreshed(core: _Core, thread_id: str, run: RunOptions) -> Flow:
    yield from continued(core, thread_id, RecoveryReport(), run)
    pending: list[PendingRequest] = yield Index(thread_id, (yield GetState(thread_id)))
    return pending


def expired_overdue(core: _Core, moment: float, run: RunOptions) -> Flow:
    """Resolve every request past its deadline with its `on_timeout` (G6); the ids resolved.

    Under a halt no timeout approves: a soft gate's overdue request stays pending (a person may
    decide it) until the halt is lifted; timeouts that reject or escalate go ahead."""
    done: list[str] = []
    held: list[str] = []
    while True:
        rows = [
            r for r in (yield db(core.store.inbox.overdue, moment, limit=100)) if r.request_id not in done
        ]
        if not rows:
            return [r for r in done if r not in held]
        for row in rows:
            done.append(row.request_id)
            if (yield db(approving_timeout_halted, core.store, row)) or (yield from _expire(core, row, run)):
                held.append(row.request_id)  # a halt: no timeout approves; a person may still decide


class _HeldByHalt(Exception):
    """Rolls back a timeout's claim that a halt, seen inside the claim's transaction, holds."""


def _claim_unless_halted(core: _Core, row: RequestRow, decision: list[Decision]) -> RequestRow | None:
    """Claim `row` for its timeout, or None when that would approve under a halt: checked under the
    lock `halt()` takes, in the claim's transaction, so a halt committing meanwhile is seen.

    The claim comes first: it locks the request's row, then the audit chain (its rows), the order
    every other claim takes them in; taking the chain's lock first deadlocked against a concurrent
    `decide` of the same request on Postgres."""
    try:
        with core.store.transaction():
            claimed = core._claim(row, decision, SYSTEM_TIMEOUT)
            core.store.backend.lock_audit_chain()  # held already if the claim wrote audit rows
            if approving_timeout_halted(core.store, row):
                raise _HeldByHalt
            return claimed
    except _HeldByHalt:
        return None


def _expire(core: _Core, row: RequestRow, run: RunOptions) -> Flow:
    """Resolve one overdue request, unless it was decided, cancelled or changed meanwhile; True
    when a halt holds it (its timeout would approve)."""
    decision = core._timeout_decision(row)
    try:
        yield db(core._check_live, row, (yield GetState(row.thread_id)))
    except ConflictError:
        return False  # decided meanwhile by another process; not ours to expire
    except NotPendingError:
        yield from _reask(core, row.thread_id, run)  # stale: the action changed; ask about what it is now
        return False
    try:
        claimed = yield db(_claim_unless_halted, core, row, decision)
    except (ConflictError, NotPendingError):
        return False  # decided or cancelled meanwhile; not ours to expire
    if claimed is None:
        return True
    try:
        with reviewed(core, claimed, decision):  # the review span ends in a timeout (or an escalation)
            yield from resumed(core, claimed, core._answer(row, decision), expired=True, run=run)
            core._notify("on_timeout", row.request_id, thread_id=row.thread_id, outcome=decision[0]["type"])
    except ConflictError:
        pass  # a person's answer reached the graph first: recorded as theirs, no timeout happened
    return False


def recovered(core: _Core, cutoff: float, run: RunOptions) -> Flow:
    """Finish what a crash interrupted (G3), in a `hitl.recover` span."""
    return (yield from operation(core, "recover", _recovered(core, cutoff, run)))


def _recovered(core: _Core, cutoff: float, run: RunOptions) -> Flow:
    """Claims older than `cutoff`, then threads in flight."""
    report = RecoveryReport()
    for row, lease_until in (yield db(core.store.inbox.deciding, older_than=cutoff)):
        try:
            yield from _recover_claim(core, row, lease_until, report, run)
        except Exception as exc:  # one thread's failure must not stop the others' recovery
            log.exception("recover: request %s on thread %s failed", row.request_id, row.thread_id)
            report.failed[row.thread_id] = f"{type(exc).__name__}: {exc}"
    for thread_id, updated_at, lease_until in (
        yield db(core.store.inbox.threads_in_flight, older_than=cutoff)
    ):
        if thread_id in report.failed:
            continue
        try:
            if not (yield db(core.store.inbox.claim_thread, thread_id, updated_at, lease_until)):
                continue
            yield from continued(core, thread_id, report, run)
            yield Index(thread_id, (yield GetState(thread_id)))
            report.reindexed.append(thread_id)
        except Exception as exc:
            log.exception("recover: thread %s failed", thread_id)
            report.failed[thread_id] = f"{type(exc).__name__}: {exc}"
    return report


def _recover_claim(
    core: _Core, row: RequestRow, lease_until: float | None, report: RecoveryReport, run: RunOptions
) -> Flow:
    if row.decided_at is None or not (
        yield db(core.store.inbox.renew_claim, row.request_id, row.decided_at, lease_until)
    ):
        return
    state = yield GetState(row.thread_id)
    expired = row.decided_by == SYSTEM_TIMEOUT
    if row.interrupt_id in live_interrupts(state) and row.decision is not None:
        try:
            yield from resumed(core, row, row.decision, expired=expired, run=run)
        except ConflictError:  # another answer reached the graph first; recorded as such
            report.already_resumed.append(row.request_id)
            return
        report.redriven.append(row.request_id)
    else:
        yield from continued(core, row.thread_id, report, run)
        yield Index(row.thread_id, (yield GetState(row.thread_id)), resumed=row, expired=expired)
        report.already_resumed.append(row.request_id)


def _reask(core: _Core, thread_id: str, run: RunOptions) -> Flow:
    """Index the question a thread asks now, if no process is driving it (it is then marked in flight)."""
    if (yield db(core.store.inbox.take_idle_thread, thread_id)):
        yield from continued(core, thread_id, RecoveryReport(), run)
        yield Index(thread_id, (yield GetState(thread_id)))


def continued(core: _Core, thread_id: str, report: RecoveryReport, run: RunOptions) -> Flow:
    """Continue a run a crash (or a state change) left unfinished, to its next pause or end."""
    state = yield GetState(thread_id)
    # A crash after a task's writes were saved but before the next checkpoint leaves `next`
    # empty and the finished task in `tasks`: the run is unfinished all the same.
    if (state.next or state.tasks) and not state.interrupts:
        yield Run(None, core._config(thread_id, run=run), run, invoke=True)
        report.continued.append(thread_id)
