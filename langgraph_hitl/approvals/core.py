"""What `Approvals` and `AsyncApprovals` share: every step on the store, and the rules they keep.

The runner's rules, in the order a decision meets them:
1. The request must be in the inbox and pending (`NotPendingError`).
2. The decision must be valid for the request: shape, type, approver, four-eyes, phrase
   (`DecisionError`, `AuthorizationError`); a refusal is audited and the request stays pending.
3. The thread must still be paused at that exact interrupt (stale ids are cancelled).
4. Compare-and-set pending -> deciding, with the decision's audit event, in one transaction:
   one decision wins (`ConflictError` for the others).
5. Resume keyed by interrupt id; index what the graph asks next; mark the request resumed.
A crash anywhere leaves a `deciding` row or an `in_flight` thread that `recover()` finishes.
Both are leases (`store.lease`): while the process that claimed them runs, a heartbeat keeps
them, so `recover()` elsewhere never drives the same run twice.
"""

from __future__ import annotations

import functools
import inspect
import logging
import uuid
from collections.abc import Callable
from typing import Any, TypeVar, cast

from .._canonical import iso
from .._events import DECISION_EVENTS, decision_event_id, make_event, trusted_events
from ..decisions import decider
from ..errors import ConflictError, HITLError, NotPendingError, ThreadStateError
from ..protocols import Notifier
from ..receipts import Receipt
from ..rubber_stamp import validate_reviewed
from ..store import Store
from ..store.inbox import RequestRow
from ..store.lease import DEFAULT_TTL, hold
from ..telemetry import current_traceparent
from ..types import SYSTEM_TIMEOUT, AuditEvent, Decision
from .answered import answers_in, lost_to, settle_lost_claim
from .executions import RAN, announce_executions
from .graphs import checkpoint_config, checkpointed_trail, interrupt_items, trail_sources
from .models import PLAIN, PendingRequest, RunOptions, RunResult
from .options import check_start, raise_busy, raise_start_failure, run_options
from .reading import Reading
from .receipting import effect_of as _effect
from .receipting import gate_of as _gate_of
from .receipting import receipt_for

__all__ = ["_Core", "leased", "log"]

log = logging.getLogger("langgraph_hitl")

_F = TypeVar("_F", bound=Callable[..., Any])


def leased(method: _F) -> _F:
    """Run a runner method as one lease owner (`store.lease.hold`): what it claims stays leased
    by the heartbeat while it runs, and is free for `recover()` the moment it ends."""
    if inspect.iscoroutinefunction(method):

        @functools.wraps(method)
        async def run_async(self: _Core, *args: Any, **kwargs: Any) -> Any:
            with hold(self.store.backend, ttl=self.lease_s):
                return await method(self, *args, **kwargs)

        return cast(_F, run_async)

    @functools.wraps(method)
    def run(self: _Core, *args: Any, **kwargs: Any) -> Any:
        with hold(self.store.backend, ttl=self.lease_s):
            return method(self, *args, **kwargs)

    return cast(_F, run)


def _utf8(text: str) -> str:
    """`text` with what a database cannot store (lone surrogates; NUL, which Postgres refuses) escaped,
    so a refusal can be recorded whatever it refuses."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


class _Core(Reading):
    """The runner's steps on the store: checks, index, claim, receipts, release, notifications.

    `flow` orders them into the runner's operations; `Approvals` and `AsyncApprovals` drive
    those flows (calling the graph, and the database, in their own way)."""

    tracer_provider: Any = None
    """An OpenTelemetry `TracerProvider` for this runner's spans and its graph's nodes' (None: the
    global one, `opentelemetry.trace.set_tracer_provider`); see `telemetry`."""

    def __init__(
        self,
        graph: Any,
        store: Store,
        *,
        notifier: Notifier | None = None,
        name: str = "",
        lease_s: float = DEFAULT_TTL,
    ) -> None:
        if isinstance(lease_s, bool) or not isinstance(lease_s, int | float) or not lease_s > 0:
            msg = f"lease_s={lease_s!r}: give the lease length in seconds, a positive number (default 30)."
            raise ValueError(msg)
        self.graph = graph
        self.store = store
        self.notifier = notifier
        self.name = name
        self.lease_s = float(lease_s)

    @property
    def clock(self) -> Callable[[], float]:
        return self.store.clock

    def _config(
        self,
        thread_id: str,
        *,
        decider: str | None = None,
        decided_at: float | None = None,
        run: RunOptions = PLAIN,
    ) -> dict[str, Any]:
        """The run's config: the caller's (`run.config`: callbacks, tags, metadata, recursion_limit,
        their own `configurable` keys) under the runner's own keys, which always win.

        `hitl_decider` tells the review nodes who answered (they honour it only beside this
        process's `Store`, which no remote client can put in a config).
        """
        conf: dict[str, Any] = {"thread_id": thread_id, "hitl_store": self.store, "hitl_runner_flushes": True}
        if decider is not None:
            conf["hitl_decider"] = decider
            conf["hitl_decided_at"] = iso(decided_at if decided_at is not None else self.clock())
        if self.tracer_provider is not None:
            conf["hitl_tracer_provider"] = self.tracer_provider
        if run.config is None:
            return {"configurable": conf}
        return {**run.config, "configurable": {**(run.config.get("configurable") or {}), **conf}}

    _options = staticmethod(run_options)

    # -- starting -----------------------------------------------------------------------------------------

    _check_start = staticmethod(check_start)

    _raise_busy = staticmethod(raise_busy)
    _raise_start_failure = staticmethod(raise_start_failure)

    def _prepare_start(self, thread_id: str, state: Any, *, abandon: bool, input: Any = ...) -> None:
        """G8: refuse new input to a paused thread unless abandoning it, which cancels its requests.

        `start(thread_id, None)` on a thread stopped at a static breakpoint (`interrupt_before` /
        `interrupt_after`: `next` set, no question asked) continues it, as `invoke(None)` does.
        """
        if not state.next:
            return
        if input is None and not state.interrupts and not interrupt_items(state):
            return  # a static breakpoint: None continues it; there is nothing to abandon
        if not abandon:
            waiting = [p["hitl"]["request_id"] for _, _, p in interrupt_items(state)]
            msg = (
                f"Thread {thread_id!r} is paused (waiting: {', '.join(waiting) or ', '.join(state.next)}). "
                "Decide its requests, or pass abandon=True to cancel them and start over."
            )
            raise ThreadStateError(msg)
        self.store.inbox.cancel_stale(thread_id, [])

    # -- indexing -----------------------------------------------------------------------------------------

    def _index_state(
        self,
        thread_id: str,
        state: Any,
        *,
        resumed: RequestRow | None = None,
        expired: bool = False,
        events: list[Any] | None = None,
    ) -> list[PendingRequest]:
        """Index the thread's questions, audit its events, settle `resumed` (the claimed row the
        run just resumed, as claimed: no second read): one transaction.

        The events are the root's and those of approval flows paused inside subgraphs, so these
        are recorded when they pause, before any decision on them; `events` is them read
        already (the async runner reads checkpoints with its own saver's async calls).
        """
        items = interrupt_items(state)
        if events is None:
            events = self._audit_trail(thread_id, state)
        claimed = resumed
        lost = lost_to(self.store, claimed, state) if claimed is not None else []
        ran: list[dict[str, Any]] = []  # executions this run recorded, announced once (`on_executed`)
        with self.store.transaction():
            if lost and claimed is not None:  # another answer reached the graph first (G11)
                settle_lost_claim(self.store, claimed, lost, ts=iso(self.clock()))
            elif claimed is not None:
                mark = self.store.inbox.mark_expired if expired else self.store.inbox.mark_resumed
                mark(claimed.request_id)
            new = self.store.inbox.index(thread_id, items, graph=self.name, traceparent=current_traceparent())
            asked = {p["hitl"]["request_id"] for _, _, p in items}
            if events:  # G11: only what langgraph-hitl's nodes sealed for this thread becomes a row
                key, ts = self.store.seal_key, iso(self.clock())

                def admit(fresh: list[Any]) -> list[AuditEvent]:
                    kept = trusted_events(fresh, key=key, thread_id=thread_id, ts=ts)
                    # Answered by a plain resume; a question the thread asks now is open, whatever
                    # an event copied into its state says.
                    settled = [e for e in kept if e.get("request_id") not in asked]
                    self.store.inbox.settle_decided(thread_id, settled)
                    ran.extend(e for e in kept if e.get("event") in RAN)
                    return cast(list[AuditEvent], kept)

                self.store.audit.append(events, admit=admit)
            self.store.inbox.cancel_stale(thread_id, [p["hitl"]["request_id"] for _, _, p in items])
            self.store.inbox.mark_thread(thread_id, "idle", graph=self.name)
        pending = [self._pending_of(p["hitl"]["request_id"]) for _, _, p in items]
        if self.notifier is not None:
            for req in pending:
                if req.request_id in new:
                    self._notify("on_pending", req.payload, thread_id=thread_id)
            if ran and hasattr(self.notifier, "on_executed"):  # else no lookup at all
                announce_executions(self.store, ran, self._notify)
        if lost and claimed is not None:
            msg = (
                f"The decision by {claimed.decided_by!r} on request {claimed.request_id} did not take effect: "
                f"{lost[-1]['actor']!r} answered it first (not through this runner), and the graph acted on "
                f"that answer. Thread {thread_id!r} now waits on "
                f"{', '.join(p.request_id for p in pending) or 'nothing'}."
            )
            raise ConflictError(msg)
        return pending

    def _audit_trail(self, thread_id: str, state: Any) -> list[Any]:
        """The events of `state` and of every subgraph paused in it, parent first (see `trail_sources`)."""
        saver = getattr(self.graph, "checkpointer", None)
        events: list[Any] = []
        for source in trail_sources(state):
            if isinstance(source, str):
                found = saver.get_tuple(checkpoint_config(thread_id, source)) if saver is not None else None
                source = checkpointed_trail(found)
            events.extend(source)
        return events

    def _result(self, thread_id: str, state: Any, pending: list[PendingRequest]) -> RunResult:
        values = dict(getattr(state, "values", {}) or {})
        paused = bool(getattr(state, "next", ()))
        return RunResult(
            thread_id=thread_id, status="paused" if paused else "done", pending=pending, values=values
        )

    def _pending_of(self, request_id: str) -> PendingRequest:
        row = self.store.inbox.get(request_id)
        assert row is not None
        return PendingRequest.from_row(row)

    # -- deciding -----------------------------------------------------------------------------------------

    def _validate(self, row: RequestRow, decision: Any, approver: str) -> tuple[list[Decision], str]:
        """The one decide path's checks (G1, G10): the decisions, and who decides (canonical)."""
        if not isinstance(approver, str) or not approver.strip():
            decider(approver)  # raises DecisionError: nobody is named, so there is no refusal to attribute
        if row.status != "pending":
            self.store.inbox._raise_not_pending(row.request_id)
        try:
            who = decider(approver)
            return validate_reviewed(decision, row.payload, approver=who, store=self.store), who
        except HITLError as exc:
            self._audit_refusal(row, approver, decision, str(exc))
            raise

    def _audit_refusal(self, row: RequestRow, approver: str, decision: Any, error: str) -> None:
        kind = decision.get("type") if isinstance(decision, dict) else None
        self.store.audit.append(
            [
                make_event(
                    "refused",
                    action_id=row.action_id,
                    actor=_utf8(approver[:200]) if isinstance(approver, str) else "?",
                    thread_id=row.thread_id,
                    action=dict(row.action),
                    assessment=_gate_of(row),
                    request_id=row.request_id,
                    decision=_utf8(str(kind)[:40]) if kind is not None else None,
                    detail={"error": _utf8(error[:2000])},
                    event_id=uuid.uuid4().hex,
                    ts=iso(self.clock()),
                )
            ]
        )

    def _check_live(self, row: RequestRow, state: Any) -> None:
        live = {iid for iid, _, _ in interrupt_items(state)}
        if row.interrupt_id not in live:
            answered = answers_in(self.store, row, state)
            if answered:  # answered with plain LangGraph: record who, never count it as cancelled
                with self.store.transaction():
                    self.store.audit.append(cast(list[AuditEvent], answered))
                    self.store.inbox.settle_decided(row.thread_id, answered)
                msg = (
                    f"Request {row.request_id} was already decided by {answered[-1]['actor']!r} (answered "
                    f"with plain LangGraph, not through this runner); thread {row.thread_id!r} has moved on. "
                    f"refresh({row.thread_id!r}) lists what it asks now."
                )
                raise ConflictError(msg)
            # Cancel only this request: the snapshot may have been read while another process was
            # resuming the thread, and its other questions are that process's to index.
            if not self.store.inbox.cancel(row.request_id):
                self.store.inbox._raise_not_pending(row.request_id)
            msg = (
                f"Request {row.request_id} is stale: thread {row.thread_id!r} is no longer paused at it "
                "(it finished, was abandoned, or its state was changed). It was cancelled; "
                f"refresh({row.thread_id!r}) asks again."
            )
            raise NotPendingError(msg)

    @staticmethod
    def _answer(row: RequestRow, decisions: list[Decision]) -> dict[str, Any]:
        """The resume value: one decision, or `{"decisions": [...]}` for a request with several actions."""
        if len(row.payload["action_requests"]) == 1:
            return dict(decisions[0])
        return {"decisions": [dict(d) for d in decisions]}

    def _claim(self, row: RequestRow, decisions: list[Decision], approver: str) -> RequestRow:
        """Pending -> deciding with the decision's audit rows and receipts: one transaction (G2, G9)."""
        with self.store.transaction():
            claimed = self.store.inbox.claim(row.request_id, self._answer(row, decisions), approver=approver)
            decided_at = iso(claimed.decided_at if claimed.decided_at is not None else self.clock())
            events = []
            # Several actions in one request carry their own ids (`hitl.action_ids`), as the node records them.
            ids = row.payload["hitl"].get("action_ids") or [row.action_id]
            for i, (decision, asked) in enumerate(
                zip(decisions, row.payload["action_requests"], strict=False)
            ):
                kind = decision["type"]
                action_id = ids[i] if i < len(ids) else f"{row.action_id}#{i}"
                receipt = self._receipt(row, i, decision, approver, decided_at)
                if kind == "edit" and receipt is not None:
                    action_id = receipt["digest"][:32]  # an edit approves the edited action, a new one (G9)
                events.append(
                    make_event(
                        DECISION_EVENTS[kind],
                        action_id=action_id,
                        actor=approver,
                        thread_id=row.thread_id,
                        action=dict(asked),
                        assessment=_gate_of(row),
                        request_id=row.request_id,
                        decision=_effect(row, kind),
                        ts=decided_at,
                        detail={
                            "message": decision.get("message"),
                            "node": row.node,
                            "stage": row.stage,
                            "edited_action": decision.get("edited_action"),
                            **({"receipt": receipt} if receipt is not None else {}),
                        },
                        event_id=decision_event_id(action_id, row.request_id, kind, actor=approver),
                    )
                )
            self.store.audit.append(events)
            self.store.inbox.mark_thread(row.thread_id, "in_flight", graph=self.name)
        return claimed

    def _release(self, claimed: RequestRow, exc: BaseException) -> None:
        """Put a claimed request back to pending, with a row saying its decision did not take effect (G11)."""
        kind = (claimed.decision or {}).get("type")
        with self.store.transaction():
            self.store.inbox.release(claimed.request_id)
            self.store.inbox.mark_thread(claimed.thread_id, "idle", graph=self.name)  # nothing runs it now
            self.store.audit.append([make_event(
                "refused", action_id=claimed.action_id, actor=claimed.decided_by or "unknown",
                thread_id=claimed.thread_id, action=dict(claimed.action), assessment=_gate_of(claimed),
                request_id=claimed.request_id, decision=str(kind) if kind else None, event_id=uuid.uuid4().hex,
                ts=iso(self.clock()), detail={"released": True, "error": _utf8(
                    f"the decision was not delivered ({type(exc).__name__}: {str(exc)[:500]}); "
                    "the request is pending again, and the receipt written with the claim does not count")},
            )])  # fmt: skip

    def _receipt(
        self, row: RequestRow, index: int, decision: Decision, approver: str, decided_at: str
    ) -> Receipt | None:
        """The receipt the node will keep for an approving decision (the same fields, the same MAC)."""
        return receipt_for(row, index, decision, approver, decided_at, key=self.store.seal_key)

    def _timeout_decision(self, row: RequestRow) -> list[Decision]:
        hitl = row.payload["hitl"]
        kind = "escalate" if hitl.get("on_timeout") == "escalate" else "timeout"
        one: Decision = {"type": kind, "approver": SYSTEM_TIMEOUT}  # type: ignore[typeddict-item]
        return [dict(one) for _ in row.payload["action_requests"]]  # type: ignore[misc]

    def _notify(self, method: str, *args: Any, **kwargs: Any) -> None:
        hook = getattr(self.notifier, method, None)
        if hook is None:
            return
        try:
            hook(*args, **kwargs)
        except Exception:  # a notification must never fail or block a run
            log.exception("notifier %s failed", method)
