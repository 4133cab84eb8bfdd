"""MCP client sessions to real `langgraph-hitl mcp` servers, for synchronous tests.

Each identity gets its own server, spawned as `python -m langgraph_hitl.cli mcp --as NAME`
over stdio by the SDK's own client (`stdio_client` + `ClientSession`). The sessions live on
an event loop in a background thread for as long as the `McpClients` is open, so one
module's tests share the servers' start-up cost, and each test calls them synchronously.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import Coroutine, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import IO, Any, TypeVar

from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.types import CallToolResult

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")


def server_env() -> dict[str, str]:
    """The servers' environment: the repo and tests/ importable, no settings from the parent."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANGGRAPH_HITL_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "tests"), env.get("PYTHONPATH", "")])
    return env


def server_params(identity: str, db: str, graph: str | None, cwd: Path) -> StdioServerParameters:
    """How to start one server deciding as `identity`."""
    args = ["-m", "langgraph_hitl.cli", "mcp", "--as", identity, "--db", db]
    if graph is not None:
        args += ["--graph", graph]
    return StdioServerParameters(command=sys.executable, args=args, env=server_env(), cwd=cwd)


class McpClients:
    """One MCP server per identity, each behind a `ClientSession`, callable from sync code.

    Args:
        db: The database URL the servers serve.
        graph: The graph spec they decide with (None: read-only servers).
        identities: Who each server decides as.
        errlog: Where the servers' stderr goes.
    """

    def __init__(self, db: str, graph: str | None, identities: Sequence[str], errlog: IO[str]) -> None:
        self.db, self.graph, self.identities, self.errlog = db, graph, list(identities), errlog
        self.sessions: dict[str, ClientSession] = {}
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._failed: BaseException | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> McpClients:
        self._thread.start()
        self._ready.wait(120)
        if self._failed is not None:
            raise RuntimeError("the MCP servers did not start") from self._failed
        assert self.sessions, "the MCP servers did not start within 120 s"
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)

    def _run(self) -> None:
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            self._failed = exc
            self._ready.set()
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        cwd = Path(self.errlog.name).parent if hasattr(self.errlog, "name") else ROOT
        async with AsyncExitStack() as stack:
            for who in self.identities:
                params = server_params(who, self.db, self.graph, cwd)
                read, write = await stack.enter_async_context(stdio_client(params, errlog=self.errlog))
                self.sessions[who] = await stack.enter_async_context(ClientSession(read, write))
            await asyncio.gather(*(s.initialize() for s in self.sessions.values()))
            self._ready.set()
            await self._stop.wait()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the sessions' loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(120)

    def call(self, who: str, tool: str, arguments: dict[str, Any] | None = None) -> CallToolResult:
        """Call `tool` on the server deciding as `who`."""
        return self.run(self.sessions[who].call_tool(tool, arguments or {}))

    def read(self, who: str, uri: str) -> str:
        """The text of the resource at `uri`, from `who`'s server."""
        result = self.run(self.sessions[who].read_resource(uri))
        content = result.contents[0]
        assert hasattr(content, "text"), content
        return str(content.text)
