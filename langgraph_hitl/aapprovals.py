"""`AsyncApprovals`: the runner for asyncio applications (same rules and names as `Approvals`).

Graph calls are awaited (`ainvoke`, `astream`, `aget_state`) on an async checkpointer; the inbox's
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
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import aclosing, asynccontextmanager
from typing import Any

from langgraph.types import Command, StreamMode

from ._runner import (
    PLAIN,
    Page,
    PendingRequest,
    RecoveryReport,
    RunOptions,
    RunResult,
    _Core,
    checkpoint_config,
    checkpointed_trail,
    interrupt_items,
    leased,
    log,
    trail_sources,
)
from .approvals import _compile
from .checkpoint import aopen_checkpointer
from .errors import ConflictError, NotPendingError
from .store import Store, open_store
from .store.inbox import RequestRow
from .store.lease import DEFAULT_TTL, hold
from .types import SYSTEM_TIMEOUT, Decision

__all__ = ["AsyncApprovals", "AsyncRunStream"]

_WINDING_DOWN: set[asyncio.Task[None]] = set()
"""Streams' runs still going: held here so that none is dropped before it has indexed what it left."""


async def arun_to_end(steps: AsyncGenerator[Any, None]) -> RunResult:
    """Drive a runner's steps with nobody reading the stream: the last item is the run's `RunResult`."""
    result: Any = None
    async with aclosing(steps):
        async for item in steps:
            result = item
    assert isinstance(result, RunResult)
    return result


async def _produce(
    steps: AsyncGenerator[Any, None], parts: asyncio.Queue[tuple[str, Any]], more: asyncio.Queue[bool]
) -> None:
    """Run `steps` in this task (and its own context, where the runner's lease lives), handing each
    part over and waiting to be asked for the next; `False` stops the run where it is."""
    result: Any = None
    try:
        async with aclosing(steps):
            async for item in steps:
                if isinstance(item, RunResult):
                    result = item
                    continue
                parts.put_nowait(("part", item))
                if not await more.get():
                    return  # closing the steps stops the run and indexes what it left
    except BaseException as exc:  # the reader raises it; a cancellation or an exit also ends this task
        parts.put_nowait(("error", exc))
        if not isinstance(exc, Exception):
            raise
        return
    parts.put_nowait(("end", result))


class AsyncRunStream:
    """Async twin of `RunStream`: `async for part in stream`, then `stream.result`.

    Returned by `AsyncApprovals.astream` and `AsyncApprovals.adecide_stream`. The run goes on
    in a task of its own (so the runner's lease never leaks into your code or another stream),
    one part at a time as you ask for them. Stop early and `await stream.aclose()`, or use it
    in `async with`: the run stops where it is and what it left is indexed.
    """

    def __init__(self, steps: AsyncGenerator[Any, None]) -> None:
        self._steps = steps
        self._parts: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._more: asyncio.Queue[bool] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._open = True
        self.result: RunResult | None = None
        """Where the thread stands (as `start` / `decide` return it), once the stream has ended."""

    def __aiter__(self) -> AsyncRunStream:
        return self

    async def __anext__(self) -> Any:
        if not self._open:
            raise StopAsyncIteration
        if self._task is None:
            # `_produce` holds no reference to this object: dropped unread, it is collected and
            # `__del__` stops the run.
            self._task = asyncio.create_task(_produce(self._steps, self._parts, self._more))
            _WINDING_DOWN.add(self._task)
            self._task.add_done_callback(_WINDING_DOWN.discard)
        else:
            self._more.put_nowait(True)
        try:
            kind, item = await self._parts.get()
        except asyncio.CancelledError:
            self._open = False
            self._task.cancel()
            raise
        if kind == "part":
            return item
        self._open = False
        await asyncio.wait([self._task])
        if kind == "error":
            raise item
        self.result = item
        raise StopAsyncIteration

    async def aclose(self) -> None:
        """Stop the run where it is and index what it left (nothing happens if it has ended)."""
        was_open, self._open = self._open, False
        if self._task is None:
            return  # never started: nothing ran
        if was_open:
            self._more.put_nowait(False)
        await asyncio.wait([self._task])

    async def __aenter__(self) -> AsyncRunStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __del__(self) -> None:
        task = self._task
        if self._open and task is not None and not task.done() and not task.get_loop().is_closed():
            task.get_loop().call_soon_threadsafe(self._more.put_nowait, False)


class AsyncApprovals(_Core):
    """Async twin of `Approvals`: `await start / decide / expire_overdue / recover`; `astream` and
    `adecide_stream` for `async for`."""

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
            compiled = _compile(graph, saver, url)
            store = await asyncio.to_thread(open_store, url, clock=clock, hmac_key=hmac_key)
            try:
                yield cls(compiled, store, notifier=notifier, name=name, lease_s=lease_s)
            finally:
                await asyncio.to_thread(store.close)

    def __init__(
        self, graph: Any, store: Store, *, notifier: Any = None, name: str = "", lease_s: float = DEFAULT_TTL
    ) -> None:
        super().__init__(graph, store, notifier=notifier, name=name, lease_s=lease_s)

    async def _state(self, thread_id: str) -> Any:
        return await self.graph.aget_state(self._config(thread_id), subgraphs=True)

    async def _db(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def _index(
        self, thread_id: str, state: Any, *, resumed: str | None = None, expired: bool = False
    ) -> list[PendingRequest]:
        """`_index_state`, with the trails of paused subgraphs read here by the async saver: a worker
        thread blocking on the event loop for them could starve the loop's own executor."""
        saver = getattr(self.graph, "checkpointer", None)
        events: list[Any] = []
        for source in trail_sources(state):
            if isinstance(source, str):
                found = (
                    await saver.aget_tuple(checkpoint_config(thread_id, source))
                    if saver is not None
                    else None
                )
                source = checkpointed_trail(found)
            events.extend(source)
        pending = await self._db(
            self._index_state, thread_id, state, resumed=resumed, expired=expired, events=events
        )
        return pending  # type: ignore[no-any-return]

    async def _drive(self, input: Any, config: dict[str, Any], run: RunOptions) -> AsyncGenerator[Any, None]:
        """See `Approvals._drive`."""
        if run.stream_mode is None:
            await self.graph.ainvoke(input, config, **run.graph_kwargs())
            return
        async with aclosing(self.graph.astream(input, config, **run.graph_kwargs())) as parts:
            async for part in parts:
                yield part

    async def _held(self, steps: AsyncGenerator[Any, None]) -> AsyncGenerator[Any, None]:
        """See `Approvals._held`."""
        with hold(self.store.backend, ttl=self.lease_s):
            async with aclosing(steps):
                async for item in steps:
                    yield item

    # -- starting -----------------------------------------------------------------------------------------

    @leased
    async def start(
        self, thread_id: str, input: Any, *, abandon: bool = False, config: Any = None, context: Any = None
    ) -> RunResult:
        """See `Approvals.start`."""
        run = self._options(config, context, thread_id=thread_id, call="start")
        self._check_start(thread_id, input)
        return await arun_to_end(self._started(thread_id, input, abandon=abandon, run=run))

    def astream(
        self,
        thread_id: str,
        input: Any,
        *,
        stream_mode: StreamMode | Sequence[StreamMode] = "values",
        subgraphs: bool = False,
        config: Any = None,
        context: Any = None,
        abandon: bool = False,
    ) -> AsyncRunStream:
        """See `Approvals.stream`: `async for part in hitl.astream(...)`, then `.result`."""
        run = self._options(
            config, context, thread_id=thread_id, call="astream", stream_mode=stream_mode, subgraphs=subgraphs
        )
        self._check_start(thread_id, input)
        return AsyncRunStream(self._held(self._started(thread_id, input, abandon=abandon, run=run)))

    async def _started(
        self, thread_id: str, input: Any, *, abandon: bool, run: RunOptions
    ) -> AsyncGenerator[Any, None]:
        """See `Approvals._started`."""
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
            async with aclosing(self._drive(input, self._config(thread_id, run=run), run)) as parts:
                async for part in parts:
                    yield part
        except (Exception, GeneratorExit) as exc:
            # Whatever the run left is indexed and the thread marked idle (see `Approvals._started`).
            await self._index(thread_id, await self._state(thread_id))
            self._raise_start_failure(thread_id, exc)
        state = await self._state(thread_id)
        yield self._result(thread_id, state, await self._index(thread_id, state))

    # -- deciding -----------------------------------------------------------------------------------------

    @leased
    async def decide(
        self, request_id: str, decision: Any, *, approver: str, config: Any = None, context: Any = None
    ) -> RunResult:
        """See `Approvals.decide`."""
        row = await self._db(self._row, request_id)
        run = self._options(config, context, thread_id=row.thread_id, call="decide")
        valid, approver = await self._db(self._validate, row, decision, approver)
        return await arun_to_end(self._decided(row, valid, approver, run))

    async def adecide_stream(
        self,
        request_id: str,
        decision: Any,
        *,
        approver: str,
        stream_mode: StreamMode | Sequence[StreamMode] = "values",
        subgraphs: bool = False,
        config: Any = None,
        context: Any = None,
    ) -> AsyncRunStream:
        """See `Approvals.decide_stream`: `async for part in await hitl.adecide_stream(...)`.

        Awaited, because the decision is checked (in the database) before anything streams.
        """
        row = await self._db(self._row, request_id)
        run = self._options(
            config, context, thread_id=row.thread_id, call="adecide_stream", stream_mode=stream_mode,
            subgraphs=subgraphs,
        )  # fmt: skip
        valid, approver = await self._db(self._validate, row, decision, approver)
        return AsyncRunStream(self._held(self._decided(row, valid, approver, run)))

    async def _decided(
        self, row: RequestRow, valid: list[Decision], approver: str, run: RunOptions
    ) -> AsyncGenerator[Any, None]:
        """See `Approvals._decided`."""
        await self._db(self._check_live, row, await self._state(row.thread_id))
        claimed = await self._db(self._claim, row, valid, approver)
        answer = self._answer(row, valid)
        result: Any = None
        async with aclosing(self._resume(claimed, answer, run=run)) as steps:
            async for result in steps:
                if not isinstance(result, RunResult):
                    yield result
        self._notify("on_decision", row.request_id, answer, thread_id=row.thread_id)
        yield result

    async def _resume(
        self, claimed: RequestRow, decision: dict[str, Any], *, expired: bool = False, run: RunOptions = PLAIN
    ) -> AsyncGenerator[Any, None]:
        """See `Approvals._resume`."""
        request_id, thread_id, interrupt_id = claimed.request_id, claimed.thread_id, claimed.interrupt_id
        config = self._config(thread_id, decider=claimed.decided_by, decided_at=claimed.decided_at, run=run)
        try:
            async with aclosing(self._drive(Command(resume={interrupt_id: decision}), config, run)) as parts:
                async for part in parts:
                    yield part
        except BaseException as exc:
            state = await self._state(thread_id)
            if interrupt_id in {iid for iid, _, _ in interrupt_items(state)}:
                await self._db(self._release, claimed, exc)
            else:
                await self._index(thread_id, state, resumed=request_id, expired=expired)
            raise
        state = await self._state(thread_id)
        pending = await self._index(thread_id, state, resumed=request_id, expired=expired)
        yield self._result(thread_id, state, pending)

    # -- keeping threads moving ---------------------------------------------------------------------------

    @leased
    async def refresh(
        self, thread_id: str, *, config: Any = None, context: Any = None
    ) -> list[PendingRequest]:
        """See `Approvals.refresh`."""
        run = self._options(config, context, thread_id=thread_id, call="refresh")
        await self._continue(thread_id, RecoveryReport(), run)
        state = await self._state(thread_id)
        return await self._index(thread_id, state)

    @leased
    async def expire_overdue(
        self, now: float | None = None, *, config: Any = None, context: Any = None
    ) -> list[str]:
        """See `Approvals.expire_overdue`."""
        run = self._options(config, context, thread_id=None, call="expire_overdue")
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
                await self._expire(row, run)
                done.append(row.request_id)

    async def _expire(self, row: RequestRow, run: RunOptions) -> None:
        """See `Approvals._expire`."""
        decision = self._timeout_decision(row)
        try:
            await self._db(self._check_live, row, await self._state(row.thread_id))
        except ConflictError:
            return  # decided meanwhile by another process; not ours to expire
        except NotPendingError:
            await self._reask(
                row.thread_id, run
            )  # stale: the thread's action changed; ask about what it is now
            return
        try:
            claimed = await self._db(self._claim, row, decision, SYSTEM_TIMEOUT)
        except (ConflictError, NotPendingError):
            return  # decided or cancelled meanwhile; not ours to expire
        await arun_to_end(self._resume(claimed, self._answer(row, decision), expired=True, run=run))
        self._notify("on_timeout", row.request_id, thread_id=row.thread_id, outcome=decision[0]["type"])

    @leased
    async def recover(
        self, *, older_than: float = 0.0, config: Any = None, context: Any = None
    ) -> RecoveryReport:
        """See `Approvals.recover`."""
        run = self._options(config, context, thread_id=None, call="recover")
        report = RecoveryReport()
        cutoff = self.clock() - older_than
        for row, lease_until in await self._db(self.store.inbox.deciding, older_than=cutoff):
            try:
                await self._recover_claim(row, lease_until, report, run)
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
                await self._continue(thread_id, report, run)
                await self._index(thread_id, await self._state(thread_id))
                report.reindexed.append(thread_id)
            except Exception as exc:
                log.exception("recover: thread %s failed", thread_id)
                report.failed[thread_id] = f"{type(exc).__name__}: {exc}"
        return report

    async def _recover_claim(
        self, row: RequestRow, lease_until: float | None, report: RecoveryReport, run: RunOptions
    ) -> None:
        """See `Approvals._recover_claim`."""
        if row.decided_at is None or not await self._db(
            self.store.inbox.renew_claim, row.request_id, row.decided_at, lease_until
        ):
            return
        state = await self._state(row.thread_id)
        expired = row.decided_by == "system:timeout"
        if row.interrupt_id in {iid for iid, _, _ in interrupt_items(state)} and row.decision is not None:
            await arun_to_end(self._resume(row, row.decision, expired=expired, run=run))
            report.redriven.append(row.request_id)
        else:
            await self._continue(row.thread_id, report, run)
            state = await self._state(row.thread_id)
            await self._index(row.thread_id, state, resumed=row.request_id, expired=expired)
            report.already_resumed.append(row.request_id)

    async def _reask(self, thread_id: str, run: RunOptions) -> None:
        """See `Approvals._reask`."""
        if await self._db(self.store.inbox.take_idle_thread, thread_id):
            await self._continue(thread_id, RecoveryReport(), run)
            await self._index(thread_id, await self._state(thread_id))

    async def _continue(self, thread_id: str, report: RecoveryReport, run: RunOptions) -> None:
        """See `Approvals._continue`."""
        state = await self._state(thread_id)
        # A crash after a task's writes were saved but before the next checkpoint leaves `next`
        # empty and the finished task in `tasks`: the run is unfinished all the same.
        if (state.next or state.tasks) and not state.interrupts:
            await self.graph.ainvoke(None, self._config(thread_id, run=run), **run.graph_kwargs())
            report.continued.append(thread_id)

    # -- reading: the same names as `Approvals`, awaited (the database work runs in a worker thread) --------

    async def pending(
        self,
        *,
        approver: str | None = None,
        risk: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
        thread_id: str | None = None,
    ) -> Page:
        """See `Approvals.pending`."""
        return await self._db(  # type: ignore[no-any-return]
            self._read_pending, approver=approver, risk=risk, limit=limit, cursor=cursor, thread_id=thread_id
        )

    async def resume(
        self,
        thread_id: str,
        decision: Any,
        *,
        approver: str,
        interrupt_id: str | None = None,
        config: Any = None,
        context: Any = None,
    ) -> RunResult:
        """See `Approvals.resume`."""
        request_id = await self._db(self._thread_request, thread_id, interrupt_id)
        return await self.decide(request_id, decision, approver=approver, config=config, context=context)

    async def get(self, request_id: str) -> PendingRequest:
        """See `Approvals.get`."""
        return await self._db(self._read_get, request_id)  # type: ignore[no-any-return]

    async def history(self, thread_id: str) -> list[dict[str, Any]]:
        """See `Approvals.history`."""
        return await self._db(self._read_history, thread_id)  # type: ignore[no-any-return]

    async def stats(self, **kwargs: Any) -> Any:
        """See `Approvals.stats`."""
        return await self._db(self._read_stats, **kwargs)

    async def record_feedback(
        self,
        *,
        score: float,
        kind: str,
        actor: str,
        thread_id: str | None = None,
        request_id: str | None = None,
        comment: str | None = None,
    ) -> str:
        """See `Approvals.record_feedback`."""
        return await self._db(  # type: ignore[no-any-return]
            self.store.feedback.record,
            score=score, kind=kind, actor=actor, thread_id=thread_id, request_id=request_id, comment=comment,
        )  # fmt: skip

    async def apending(self, **kwargs: Any) -> Page:
        """Alias of `await pending(...)`, kept from 0.1."""
        return await self.pending(**kwargs)
