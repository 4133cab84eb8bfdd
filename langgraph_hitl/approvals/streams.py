"""Stream objects the runners return (`RunStream`, `AsyncRunStream`), and the helpers that run
a runner's steps to their end when nobody reads the stream."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncGenerator, Generator, Iterable
from contextlib import aclosing
from typing import Any

from .models import RunResult

__all__ = ["AsyncRunStream", "RunStream", "arun_to_end", "run_to_end"]


def run_to_end(steps: Iterable[Any]) -> RunResult:
    """Drive a runner's steps with nobody reading the stream: the last item is the run's `RunResult`."""
    result: Any = None
    for item in steps:
        result = item
    assert isinstance(result, RunResult)
    return result


class RunStream:
    """LangGraph's stream parts of one runner call, as it runs; `result` once it has ended.

    Returned by `Approvals.stream` and `Approvals.decide_stream`. Iterating it runs the graph
    (`graph.stream` with the runner's config), and when the run pauses or ends it is indexed
    exactly as by `start` / `decide`: its questions are in the inbox and its audit rows in the log
    before the iteration stops. Stop early (`break`) and close it, or use it in a `with` block:
    the run stops where it is and what it left is indexed (a decision the graph had not yet taken
    goes back to pending).

    The runner's lease on the thread lives in the stream's own context, so your loop body and
    other streams never share it.
    """

    def __init__(self, steps: Generator[Any, None, None]) -> None:
        self._steps = steps
        self._context = contextvars.copy_context()
        self._open = True
        self.result: RunResult | None = None
        """Where the thread stands (as `start` / `decide` return it), once the stream has ended."""

    def __iter__(self) -> RunStream:
        return self

    def __next__(self) -> Any:
        if not self._open:
            raise StopIteration
        try:
            item = self._context.run(next, self._steps)
        except BaseException:
            self._open = False
            raise
        if isinstance(item, RunResult):  # the steps' last item: let them finish (and release the lease)
            self.result, self._open = item, False
            self._context.run(next, self._steps, None)
            raise StopIteration
        return item

    def close(self) -> None:
        """Stop the run where it is and index what it left (nothing happens if it has ended)."""
        if self._open:
            self._open = False
            self._context.run(self._steps.close)

    def __enter__(self) -> RunStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


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
