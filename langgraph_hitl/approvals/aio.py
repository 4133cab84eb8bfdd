"""`AsyncApprovals`: the runner for asyncio applications (same rules and names as `Approvals`).

It performs `flow`'s operations awaited: graph calls (`ainvoke`, `astream`, `aget_state`) on an
async checkpointer; the inbox's short transactions in a worker thread so the event loop never
waits on the database.

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
from typing import Any, cast

from langgraph.types import StreamMode

from ..checkpoint import aopen_checkpointer
from ..protocols import Notifier
from ..store import Store, open_store
from ..store.inbox import RequestRow
from ..store.lease import DEFAULT_TTL, hold
from . import drive, flow
from .core import _Core, leased
from .flow import Db, Effect, GetState, Index, Run
from .graphs import checkpoint_config, checkpointed_trail, compile_on, trail_sources
from .models import Page, PendingRequest, RecoveryReport, RunResult
from .oversight import AsyncOversight
from .shadowing import ShadowPolicy, ShadowRunner
from .streams import AsyncRunStream

__all__ = ["AsyncApprovals"]


class AsyncApprovals(AsyncOversight, ShadowRunner, _Core):
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
        notifier: Notifier | None = None,
        hmac_key: bytes | None = None,
        name: str = "",
        lease_s: float = DEFAULT_TTL,
        shadow_policy: ShadowPolicy = None,
    ) -> AsyncIterator[AsyncApprovals]:
        """Open async checkpoints and the inbox at `url`; see `Approvals.open`."""
        async with aopen_checkpointer(url) as saver:
            compiled = compile_on(graph, saver, url)
            store = await asyncio.to_thread(open_store, url, clock=clock, hmac_key=hmac_key)
            try:
                runner = cls(compiled, store, notifier=notifier, name=name, lease_s=lease_s)
                yield runner._shadowed(shadow_policy)
            finally:
                await asyncio.to_thread(store.close)

    def __init__(
        self,
        graph: Any,
        store: Store,
        *,
        notifier: Notifier | None = None,
        name: str = "",
        lease_s: float = DEFAULT_TTL,
    ) -> None:
        super().__init__(graph, store, notifier=notifier, name=name, lease_s=lease_s)

    async def _state(self, thread_id: str) -> Any:
        return await self.graph.aget_state(self._config(thread_id), subgraphs=True)

    async def _db(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def _index(
        self, thread_id: str, state: Any, *, resumed: RequestRow | None = None, expired: bool = False
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

    async def _held(self, steps: AsyncGenerator[Any, None]) -> AsyncGenerator[Any, None]:
        """See `Approvals._held`."""
        with hold(self.store.backend, ttl=self.lease_s):
            async with aclosing(steps):
                async for item in steps:
                    yield item

    async def _perform(self, effect: Effect) -> Any:
        """See `Approvals._perform`: the graph awaited, the store in a worker thread."""
        if isinstance(effect, Db):
            return await self._db(effect.fn, *effect.args, **effect.kwargs)
        if isinstance(effect, GetState):
            return await self._state(effect.thread_id)
        if isinstance(effect, Index):
            return await self._index(
                effect.thread_id, effect.state, resumed=effect.resumed, expired=effect.expired
            )
        return await self.graph.ainvoke(effect.input, effect.config, **effect.run.graph_kwargs())

    def _stream(self, effect: Run) -> AsyncIterator[Any]:
        return self.graph.astream(effect.input, effect.config, **effect.run.graph_kwargs())  # type: ignore[no-any-return]

    # -- starting -----------------------------------------------------------------------------------------

    @leased
    async def start(
        self, thread_id: str, input: Any, *, abandon: bool = False, config: Any = None, context: Any = None
    ) -> RunResult:
        """See `Approvals.start`."""
        run = self._options(config, context, thread_id=thread_id, call="start")
        self._check_start(thread_id, input)
        return cast(
            RunResult,
            await drive.arun(self._perform, flow.started(self, thread_id, input, abandon=abandon, run=run)),
        )

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
        return AsyncRunStream(
            self._held(
                drive.asteps(
                    self._perform,
                    self._stream,
                    flow.started(self, thread_id, input, abandon=abandon, run=run),
                )
            )
        )

    # -- deciding -----------------------------------------------------------------------------------------

    @leased
    async def decide(
        self, request_id: str, decision: Any, *, approver: str, config: Any = None, context: Any = None
    ) -> RunResult:
        """See `Approvals.decide`."""
        row = await self._db(self._row, request_id)
        run = self._options(config, context, thread_id=row.thread_id, call="decide")
        valid, approver = await self._db(self._validate, row, decision, approver)
        return cast(RunResult, await drive.arun(self._perform, flow.decided(self, row, valid, approver, run)))

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
        return AsyncRunStream(
            self._held(
                drive.asteps(self._perform, self._stream, flow.decided(self, row, valid, approver, run))
            )
        )

    # -- keeping threads moving ---------------------------------------------------------------------------

    @leased
    async def refresh(
        self, thread_id: str, *, config: Any = None, context: Any = None
    ) -> list[PendingRequest]:
        """See `Approvals.refresh`."""
        run = self._options(config, context, thread_id=thread_id, call="refresh")
        return cast(
            list[PendingRequest], await drive.arun(self._perform, flow.refreshed(self, thread_id, run))
        )

    @leased
    async def expire_overdue(
        self, now: float | None = None, *, config: Any = None, context: Any = None
    ) -> list[str]:
        """See `Approvals.expire_overdue`."""
        run = self._options(config, context, thread_id=None, call="expire_overdue")
        moment = self.clock() if now is None else now
        return cast(list[str], await drive.arun(self._perform, flow.expired_overdue(self, moment, run)))

    @leased
    async def recover(
        self, *, older_than: float = 0.0, config: Any = None, context: Any = None
    ) -> RecoveryReport:
        """See `Approvals.recover`."""
        run = self._options(config, context, thread_id=None, call="recover")
        return cast(
            RecoveryReport,
            await drive.arun(self._perform, flow.recovered(self, self.clock() - older_than, run)),
        )

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
