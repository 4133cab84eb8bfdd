"""An MCP server over the inbox, so a person can review and decide from any MCP client.

`langgraph-hitl mcp --as alice --graph path/to/file.py:builder` serves, over stdio:

| tool / resource | what it gives |
|---|---|
| `list_pending` | pending requests, newest first (`pending --json`); `mine=true`: only those this reviewer may decide |
| `show_request` | one request in full, what became of it, and its thread's audit trail (`show --json`) |
| `decide` | approve, reject, edit or respond, through the CLI's one decide path |
| `hitl://audit` | the newest audit events, as JSON |
| `hitl://audit/{thread_id}` | one thread's audit trail, as JSON |

**Who decides is the server's identity**, fixed when it starts (`--as`) and canonicalized
then; no tool argument can change it. A `decide` call carrying an `approver` (or any other
extra key) is decided as the server's identity all the same, so a model driving the client
cannot pass itself off as someone else. Four-eyes therefore takes two servers (or two
clients), one per person, exactly as it takes two people at the command line.

The web inbox serves the same tools over streamable HTTP at `/mcp` (`create_app(mcp=True)`,
`langgraph-hitl serve --mcp`), where each request decides as the approver its bearer token
names (`langgraph_hitl.web.mcp_http` passes `create_mcp_server` a function instead of one identity).

`decide` is the CLI's `approve` / `reject` / `edit` / `respond`: the request is looked up in
the store (id or 6+ character prefix), refused early if it is no longer pending, turned into
an answer by the same rules (`all_calls`, `calls`, `call_verify`, `call_args` for a request
with several tool calls), then `Approvals.decide`, so authorization, four-eyes, receipts and
confirmation phrases all apply. Every refusal comes back as an MCP tool error (`isError`) that
names the request, the reason and what to do; the request stays pending.

Needs the `mcp` (2.3 or later) and `cli` extras. Nothing here is imported by `import langgraph_hitl`.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from .cli._inbox_tools import DecisionType, InboxTools, answer_options, tool_error_text
from .cli._settings import Settings

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

__all__ = ["DecisionType", "InboxTools", "create_mcp_server", "lone_surrogates_replaced", "serve_stdio"]

T = TypeVar("T")


def create_mcp_server(tools: InboxTools | Callable[[], InboxTools]) -> MCPServer[Any]:
    """An `MCPServer` whose tools and resources read and decide through `tools`.

    Args:
        tools: The inbox, and the one identity every decision is made as; or a function that
            returns, while a message is handled, the inbox deciding as that message's sender
            (`web.mcp_http` returns the approver whose bearer token the HTTP request carries).

    Returns:
        The server; run it with `server.run()` (stdio), or see `serve_stdio`.

    Raises:
        ImportError: The `mcp` package is missing or older than 2.3 (the message says how to install it).
    """
    try:
        from mcp.server.mcpserver import MCPServer
    except ImportError as exc:  # pragma: no cover - the extra is installed in development
        msg = f'The MCP server needs the mcp package, version 2.3 or later ({exc}): pip install "mcp>=2.3"'
        raise ImportError(msg) from None

    if isinstance(tools, InboxTools):
        fixed = tools
        who = f"as {fixed.identity!r}, the identity this server was started with"
        current: Callable[[], InboxTools] = lambda: fixed  # noqa: E731
    else:
        who, current = "as the approver whose bearer token authenticates the request", tools
    server: MCPServer[Any] = MCPServer(
        "langgraph-hitl",
        log_level="WARNING",  # a refused decision is the reviewer's business, reported to them, not logged
        instructions=(
            f"The langgraph-hitl approval inbox. Every decision made here is made {who}; no argument "
            "changes it. Read a request with show_request before deciding it."
        ),
    )

    _add_reading_tools(server, current)
    _add_decide_tool(server, current)
    _add_audit_resources(server, current)
    return server


def _guarded(current: Callable[[], InboxTools], call: Callable[[InboxTools], T]) -> T:
    """`call(current())`, with every failure turned into a tool error the client reads (the reason and the fix)."""
    from mcp.server.mcpserver.exceptions import ToolError

    tools = current()
    try:
        return call(tools)
    except Exception as exc:  # every failure reaches the client as a tool error naming it
        raise ToolError(tool_error_text(exc, tools.identity, tools.identity_origin)) from exc


def _add_reading_tools(server: MCPServer[Any], current: Callable[[], InboxTools]) -> None:
    """`list_pending` and `show_request`."""
    from mcp.types import ToolAnnotations

    reading = ToolAnnotations(read_only_hint=True, open_world_hint=False)

    @server.tool(annotations=reading)
    def list_pending(
        risk: Literal["low", "medium", "high", "critical"] | None = None,
        thread_id: str | None = None,
        mine: bool = False,
        limit: int = 50,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """Pending approval requests, newest first, with the next page's cursor.

        `mine`: only the requests this server's identity may decide. `thread_id`: only that
        thread's (its exact id). `limit`: 1 to 500 per page.
        """
        return _guarded(
            current,
            lambda tools: tools.list_pending(
                risk=risk, thread_id=thread_id, mine=mine, limit=limit, cursor=cursor
            ),
        )

    @server.tool(annotations=reading)
    def show_request(request_id: str) -> dict[str, Any]:
        """One request in full (action, arguments, risk, reasons, approvers, allowed decisions,
        confirmation phrase, deadline, context), what became of it, and its thread's audit trail.
        `request_id`: the id, or a unique prefix of 6+ characters."""
        return _guarded(current, lambda tools: tools.show_request(request_id))


def _add_decide_tool(server: MCPServer[Any], current: Callable[[], InboxTools]) -> None:
    """`decide`: its arguments never name who decides."""
    from mcp.types import ToolAnnotations

    deciding = ToolAnnotations(
        read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=True
    )

    @server.tool(annotations=deciding)
    def decide(
        request_id: str,
        decision: DecisionType,
        message: str | None = None,
        verify: str | None = None,
        edited_args: dict[str, Any] | None = None,
        edited_name: str | None = None,
        all_calls: bool = False,
        calls: dict[str, str] | None = None,
        call_verify: dict[str, str] | None = None,
        call_args: dict[str, dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Approve, reject, edit or respond to a pending request, and resume its graph.

        The decider is this server's identity, fixed at start; it is not an argument. `verify`:
        the confirmation phrase, when the request has one. `edited_args` (and `edited_name`): the
        edited action, for `edit`. A request with several tool calls: `all_calls=true` decides
        every call this way, or `calls` maps a call (its tool-call id or number, 1 for the first)
        to its own decision; `call_verify` and `call_args` give a call's phrase and edited
        arguments. A refused decision is a tool error saying why; the request stays pending.
        """
        opts = answer_options(
            decision,
            message=message,
            verify=verify,
            edited_args=edited_args,
            edited_name=edited_name,
            all_calls=all_calls,
            calls=calls,
            call_verify=call_verify,
            call_args=call_args,
        )
        return _guarded(current, lambda tools: tools.decide(request_id, opts))


def _add_audit_resources(server: MCPServer[Any], current: Callable[[], InboxTools]) -> None:
    """`hitl://audit` (the newest events) and `hitl://audit/{thread_id}` (one thread's trail)."""
    from mcp.server.mcpserver import ResourceSecurity
    from mcp.server.mcpserver.exceptions import ResourceNotFoundError

    @server.resource("hitl://audit", mime_type="application/json")
    def recent_audit() -> str:
        """The newest 50 audit events, oldest first."""
        return json.dumps(current().audit(limit=50), ensure_ascii=False)

    any_text = ResourceSecurity(exempt_params={"thread_id"})  # a thread id is an index key, not a path

    @server.resource("hitl://audit/{thread_id}", mime_type="application/json", security=any_text)
    def thread_audit(thread_id: str) -> str:
        """A thread's whole audit trail, oldest first."""
        events = current().audit(thread_id=thread_id, limit=None)
        if not events:
            msg = f"No audit events for thread {thread_id!r}: it never paused for a decision here, or its id differs."
            raise ResourceNotFoundError(msg)
        return json.dumps(events, ensure_ascii=False)


def serve_stdio(settings: Settings, *, identity: str) -> None:
    """Serve the inbox over stdio as `identity` until the client closes the connection.

    Raises:
        AuthorizationError: `identity` is not an acceptable name.
    """
    import anyio

    tools = InboxTools(settings, identity=identity)
    settings.require_database()
    server = create_mcp_server(tools)
    try:
        anyio.run(_run_stdio, server)
    finally:
        tools.close()


async def _run_stdio(server: MCPServer[Any]) -> None:
    """`MCPServer.run_stdio_async`, reading stdin through `lone_surrogates_replaced`.

    The SDK cannot parse a JSON string escape of a lone surrogate (`"\\ud800"`) and drops the
    whole message without an answer, so the client would wait forever; read as U+FFFD, as the
    SDK reads undecodable bytes, the call gets its answer (an id that matches nothing).
    `tests/test_mcp_server.py` pins the private `_lowlevel_server` this relies on.
    """
    import io
    import sys

    import anyio
    from mcp.server.stdio import stdio_server

    text = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
    lines = _RepairedLines(anyio.wrap_file(text))
    async with stdio_server(stdin=lines) as (read, write):  # type: ignore[arg-type]
        lowlevel = server._lowlevel_server
        await lowlevel.run(read, write, lowlevel.create_initialization_options())


class _RepairedLines:
    """An async iterator over `lines`, each through `lone_surrogates_replaced`."""

    def __init__(self, lines: AsyncIterable[str]) -> None:
        self._lines = lines

    async def __aiter__(self) -> AsyncIterator[str]:
        async for line in self._lines:
            yield lone_surrogates_replaced(line)


_SURROGATE = re.compile("[\ud800-\udfff]")


def lone_surrogates_replaced(line: str) -> str:
    """A JSON-RPC message with every lone surrogate in its strings (and keys) made U+FFFD.

    Unchanged when it holds none, or is not JSON (the SDK answers that itself), or is nested too
    deeply to parse (the SDK drops it, as it drops one without escapes, and the server goes on
    serving). A pair of escapes that spells one character (`"\\ud83d\\ude00"`) is that
    character, not a lone surrogate.

    Example:
        >>> lone_surrogates_replaced('{"id": "ab\\\\ud800"}')
        '{"id": "ab\ufffd"}'
    """
    if "\\u" not in line:
        return line
    try:
        value = json.loads(line)
        fixed = _replaced(value)
        return line if fixed == value else json.dumps(fixed, ensure_ascii=False)
    except (ValueError, RecursionError):  # raised out of the reader, either would end the server
        return line


def _replaced(value: Any) -> Any:
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_replaced(v) for v in value]
    if isinstance(value, dict):
        return {_replaced(k): _replaced(v) for k, v in value.items()}
    return value
