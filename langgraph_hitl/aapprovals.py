"""`AsyncApprovals`: the runner for asyncio applications (same rules and names as `Approvals`).

Graph calls are awaited (`ainvoke`, `aget_state`) on an async checkpointer; the inbox's
short transactions run in a worker thread so the event loop never waits on the database.

Example:
    ```python
    async with AsyncApprovals.open(builder, "sqlite:///hitl.db") as hitl:
        run = await hitl.start("t1", {"action": {...}})
        await hitl.decide(run.pending[0].request_id, {"type": "approve"}, approver="alice")
    ```
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from langgraph.types import Command

from ._runner import (
    DURABILITY,
    Page,
    PendingRequest,
    RecoveryReport,
    RunResult,
    _Core,
    interrupt_items,
    leased,
    log,
)
from .approvals import _compile
from .checkpoint import aopen_checkpointer
from .errors import ConflictError, NotPendingError
from .store import Store, open_store
from .store.inbox import RequestRow
from .store.lease import DEFAULT_TTL
from .types import SYSTEM_TIMEOUT

__all__ = ["AsyncApprovals"]


class AsyncApprovals(_Core):
    """Async twin of `Approvals`: `await start / decide / expire_overdue / recover`."""

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        graph: Any,
        url: str = "sqlite:///hitl.db",
        *,
        clock: Callable[[], float] | None = None,
        notifier: Any = None,
        hmac_key: bytes | None = None,
        name: str = "",
        lease_s: float = DEFAULT_TTL,
    ) -> AsyncIterator[AsyncApprovals]:
        """Open async checkpoints and the inbox at `url`; see `Approvals.open`."""
        async with aopen_checkpointer(url) as saver:
            store = await asyncio.to_thread(open_store, url, clock=clock, hmac_key=hmac_key)
            try:
                yield cls(_compile(graph, saver), store, notifier=notifier, name=name, lease_s=lease_s)
            finally:
                await asyncio.to_thread(store.close)

    def __init__(
        self, graph: Any, store: Store, *, notifier: Any = None, name: str = "", lease_s: float = DEFAULT_TTL
    ) -> None:
        super().__init__(graph, store, notifier=notifier, name=name, lease_s=lease_s)

    async def _state(self, thread_id: str) -> Any:
        return await self.graph.aget_state(self._config(thread_id))

    async def _db(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(fn, *args, **kwargs)

    @leased
    async def start(self, thread_id: str, input: Any, *, abandon: bool = False) -> RunResult:
        """See `Approvals.start`."""
        self._check_start(thread_id, input)
        if not await self._db(self.store.inbox.claim_start, thread_id, graph=self.name):
            self._raise_busy(thread_id)
        try:
            await self._db(
                self._prepare_start, thread_id, await self._state(thread_id), abandon=abandon, input=input
            )
        except BaseException:
            await self._db(self.store.inbox.mark_thread, thread_id, "idle", graph=self.name)
            raise
        try:
            await self.graph.ainvoke(input, self._config(thread_id), durability=DURABILITY)
        except Exception as exc:
            # Whatever the run left (a question asked before the failure, or nothing) is indexed
            # and the thread marked idle: never left in flight for a run that is over.
            await self._db(self._index_state, thread_id, await self._state(thread_id))
            self._raise_start_failure(thread_id, exc)
        state = await self._state(thread_id)
        pending = await self._db(self._index_state, thread_id, state)
        return self._result(thread_id, state, pending)

    @leased
    async def decide(self, request_id: str, decision: Any, *, approver: str) -> RunResult:
        """See `Approvals.decide`."""
        row = await self._db(self._row, request_id)
        valid, approver = await self._db(self._validate, row, decision, approver)
        state = await self._state(row.thread_id)
        await self._db(self._check_live, row, state)
        claimed = await self._db(self._claim, row, valid, approver)
        result = await self._resume(claimed, self._answer(row, valid))
        self._notify("on_decision", row.request_id, self._answer(row, valid), thread_id=row.thread_id)
        return result

    async def _resume(
        self, claimed: RequestRow, decision: dict[str, Any], *, expired: bool = False
    ) -> RunResult:
        request_id, thread_id, interrupt_id = claimed.request_id, claimed.thread_id, claimed.interrupt_id
        config = self._config(thread_id, decider=claimed.decided_by, decided_at=claimed.decided_at)
        try:
            await self.graph.ainvoke(Command(resume={interrupt_id: decision}), config, durability=DURABILITY)
        except BaseException as exc:
            state = await self._state(thread_id)
            if interrupt_id in {iid for iid, _, _ in interrupt_items(state)}:
                await self._db(self._release, claimed, exc)
            else:
                await self._db(self._index_state, thread_id, state, resumed=request_id, expired=expired)
            raise
        state = await self._state(thread_id)
        pending = await self._db(self._index_state, thread_id, state, resumed=request_id, expired=expired)
        return self._result(thread_id, state, pending)

    @leased
    async def refresh(self, thread_id: str) -> list[PendingRequest]:
        """See `Approvals.refresh`."""
        await self._continue(thread_id, RecoveryReport())
        state = await self._state(thread_id)
        return await self._db(self._index_state, thread_id, state)  # type: ignore[no-any-return]

    @leased
    async def expire_overdue(self, now: float | None = None) -> list[str]:
        """See `Approvals.expire_overdue`."""
        moment = self.clock() if now is None else now
        done: list[str] = []
        while True:
            rows = [
                r
                for r in await self._db(self.store.inbox.overdue, moment, limit=100)
                if r.request_id not in done
            ]
            if not rows:
                return done
            for row in rows:
                decision = self._timeout_decision(row)
                try:
                    await self._db(self._check_live, row, await self._state(row.thread_id))
                except ConflictError:
                    done.append(row.request_id)  # decided meanwhile by another process; not ours to expire
                    continue
                except NotPendingError:
                    # Stale: the thread's action changed. Ask about what it is now.
                    done.append(row.request_id)
                    await self._reask(row.thread_id)
                    continue
                try:
                    claimed = await self._db(self._claim, row, decision, SYSTEM_TIMEOUT)
                except (ConflictError, NotPendingError):
                    done.append(row.request_id)
                    continue
                await self._resume(claimed, self._answer(row, decision), expired=True)
                self._notify(
                    "on_timeout", row.request_id, thread_id=row.thread_id, outcome=decision[0]["type"]
                )
                done.append(row.request_id)

    @leased
    async def recover(self, *, older_than: float = 0.0) -> RecoveryReport:
        """See `Approvals.recover`."""
        report = RecoveryReport()
        cutoff = self.clock() - older_than
        for row, lease_until in await self._db(self.store.inbox.deciding, older_than=cutoff):
            try:
                await self._recover_claim(row, lease_until, report)
            except Exception as exc:  # one thread's failure must not stop the others' recovery
                log.exception("recover: request %s on thread %s failed", row.request_id, row.thread_id)
                report.failed[row.thread_id] = f"{type(exc).__name__}: {exc}"
        in_flight = await self._db(self.store.inbox.threads_in_flight, older_than=cutoff)
        for thread_id, updated_at, lease_until in in_flight:
            if thread_id in report.failed:
                continue
            try:
                if not await self._db(self.store.inbox.claim_thread, thread_id, updated_at, lease_until):
                    continue
                await self._continue(thread_id, report)
                await self._db(self._index_state, thread_id, await self._state(thread_id))
                report.reindexed.append(thread_id)
            except Exception as exc:
                log.exception("recover: thread %s failed", thread_id)
                report.failed[thread_id] = f"{type(exc).__name__}: {exc}"
        return report

    async def _recover_claim(
        self, row: RequestRow, lease_until: float | None, report: RecoveryReport
    ) -> None:
        """See `Approvals._recover_claim`."""
        if row.decided_at is None or not await self._db(
            self.store.inbox.renew_claim, row.request_id, row.decided_at, lease_until
        ):
            return
        state = await self._state(row.thread_id)
        expired = row.decided_by == "system:timeout"
        if row.interrupt_id in {iid for iid, _, _ in interrupt_items(state)} and row.decision is not None:
            await self._resume(row, row.decision, expired=expired)
            report.redriven.append(row.request_id)
        else:
            await self._continue(row.thread_id, report)
            state = await self._state(row.thread_id)
            await self._db(self._index_state, row.thread_id, state, resumed=row.request_id, expired=expired)
            report.already_resumed.append(row.request_id)

    async def _reask(self, thread_id: str) -> None:
        """See `Approvals._reask`."""
        if await self._db(self.store.inbox.take_idle_thread, thread_id):
            await self._continue(thread_id, RecoveryReport())
            await self._db(self._index_state, thread_id, await self._state(thread_id))

    async def _continue(self, thread_id: str, report: RecoveryReport) -> None:
        state = await self._state(thread_id)
        # A crash after a task's writes were saved but before the next checkpoint leaves `next`
        # empty and the finished task in `tasks`: the run is unfinished all the same.
        if (state.next or state.tasks) and not state.interrupts:
            await self.graph.ainvoke(None, self._config(thread_id), durability=DURABILITY)
            report.continued.append(thread_id)

    # -- reading: the same names as `Approvals`, awaited (the database work runs in a worker thread) --------

    async def pending(
        self,
        *,
        approver: str | None = None,
        risk: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """See `Approvals.pending`."""
        return await self._db(self._read_pending, approver=approver, risk=risk, limit=limit, cursor=cursor)  # type: ignore[no-any-return]

    async def get(self, request_id: str) -> PendingRequest:
        """See `Approvals.get`."""
        return await self._db(self._read_get, request_id)  # type: ignore[no-any-return]

    async def history(self, thread_id: str) -> list[dict[str, Any]]:
        """See `Approvals.history`."""
        return await self._db(self._read_history, thread_id)  # type: ignore[no-any-return]

    async def stats(self, **kwargs: Any) -> Any:
        """See `Approvals.stats`."""
        return await self._db(self._read_stats, **kwargs)

    async def apending(self, **kwargs: Any) -> Page:
        """Alias of `await pending(...)`, kept from 0.1."""
        return await self.pending(**kwargs)
