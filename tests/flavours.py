"""Run a test written against `Approvals` on `AsyncApprovals` too.

`BlockingAsyncApprovals.open(...)` has `Approvals.open`'s signature and yields an object with
`Approvals`' methods, each one awaiting the real `AsyncApprovals` method on an event loop in a
background thread. The async checkpointer lives on that loop, so the test's own synchronous
calls (`hitl.graph.get_state(...)`, `hitl.store...`) work from the test's thread, as they do for
an application that mixes both. Nothing of the runner is re-implemented here: every call is the
async runner's own code.

Use the `flavour` fixture (conftest) to parametrize a module: it patches the module's `Approvals`.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from langgraph_hitl import AsyncApprovals

__all__ = ["BlockingAsyncApprovals"]


class _Loop:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="async-runner-loop", daemon=True)
        self.thread.start()

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class BlockingAsyncApprovals:
    """`AsyncApprovals`, called the way a test calls `Approvals`."""

    def __init__(self, runner: AsyncApprovals, loop: _Loop) -> None:
        self._runner = runner
        self._loop = loop

    @classmethod
    @contextmanager
    def open(
        cls, graph: Any, url: str = "sqlite:///hitl.db", **kwargs: Any
    ) -> Iterator[BlockingAsyncApprovals]:
        loop = _Loop()
        opened = AsyncApprovals.open(graph, url, **kwargs)
        try:
            runner = loop.run(opened.__aenter__())
            try:
                yield cls(runner, loop)
            finally:
                loop.run(opened.__aexit__(None, None, None))
        finally:
            loop.close()

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._runner, name)
        if inspect.iscoroutinefunction(value):

            def call(*args: Any, **kwargs: Any) -> Any:
                return self._loop.run(value(*args, **kwargs))

            return call
        return value
