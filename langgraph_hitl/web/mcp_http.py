"""The MCP server on the web inbox: streamable HTTP at `/mcp`, behind the inbox's bearer tokens.

`create_app(..., mcp=True)` (`langgraph-hitl serve --mcp`) serves the tools and resources of
`langgraph-hitl mcp` (`langgraph_hitl.mcp_server`) over MCP's streamable HTTP transport, so a
reviewer's MCP client connects to the running inbox with their own token instead of starting a
server of its own. What makes that safe:

- **Every HTTP request is authenticated** exactly as the JSON API's are (`deps.api_user`): no
  token or an unknown one is 401, too many unknown tokens from one client 429, all before the
  MCP SDK reads the body. A name that cannot decide anywhere (`identity.canonical` refuses it) is 403.
- **Who decides is the request's approver.** The approver is put on the request, and a server
  middleware hands each MCP message the inbox deciding as the approver of the HTTP request
  that carried it, so a message is never decided as another session's approver, and no tool
  argument names a person (a forged `approver` is ignored). The SDK binds each MCP session to
  the approver that opened it: the session id used with another approver's token is "not found".
- **One decide path.** `decide` builds the answer by the CLI's rules, then calls the app's
  `InboxService.decide`: the runner, lock and checks the pages and the JSON API use.
- **Host and Origin.** The SDK's DNS-rebinding protection is on: by default only loopback names
  (`127.0.0.1`, `localhost`, `[::1]`, any port) may appear in `Host`, and a browser's `Origin`
  must be one of them too; `create_app(mcp=["inbox.example.com"])` adds names, `["*"]` turns the
  check off for a proxy that does it. Bearer tokens are never cookies, so the session cookie and
  the forms' CSRF tokens play no part here.
- **Lifespan.** The SDK's session manager runs inside the app's lifespan, started after the
  runner opens and stopped before it closes; each start makes a fresh one.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractContextManager, asynccontextmanager, nullcontext
from contextvars import ContextVar
from functools import partial
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.security import HTTPBearer
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

try:
    from ..cli._inbox_tools import InboxTools
except ImportError as exc:  # pragma: no cover - rich, from the [cli] extra, which the tools' texts use
    _msg = f'create_app(mcp=...) needs the [mcp] and [cli] extras ({exc}): pip install "langgraph-hitl[web,mcp,cli]"'
    raise ImportError(_msg) from None
from ..errors import AuthorizationError
from ..identity import canonical
from .auth import hash_token
from .deps import WebState, api_user
from .service import InboxService, ReadOnlyInboxError
from .throttle import Throttled

if TYPE_CHECKING:
    from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
    from mcp.server.transport_security import TransportSecuritySettings

    from ..approvals import RunResult
    from ..store import RequestRow, Store

__all__ = ["APPROVER_KEY", "LOOPBACK_HOSTS", "MCP_PATH", "WebInboxTools", "allowed_hosts", "mount_mcp"]

MCP_PATH = "/mcp"
"""Where the streamable HTTP endpoint is served."""
APPROVER_KEY = "langgraph_hitl.approver"
"""The ASGI scope key holding the authenticated approver of an `/mcp` request."""
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
"""Names a client on this machine reaches the inbox by; always allowed in `Host`."""

_bearer = HTTPBearer(auto_error=False)
_caller: ContextVar[str | None] = ContextVar("langgraph_hitl_mcp_caller", default=None)
_HOST = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(:[0-9]{1,5})?")


class WebInboxTools(InboxTools):
    """The MCP tools deciding as one authenticated approver, through the web app's service.

    Reads go to the app's store; `decide` goes to `InboxService.decide`. Made for each MCP
    message; it holds nothing to close (the app's lifespan owns the runner).

    Args:
        service: The app's runner behind its lock.
        identity: The approver the request's bearer token names.

    Raises:
        AuthorizationError: `identity` is not an acceptable name.
    """

    identity_origin = "the approver whose bearer token authenticated this request"

    def __init__(self, service: InboxService, identity: str) -> None:
        # No settings and no runner of its own (InboxTools.__init__ makes those): the app's service decides.
        self.service = service
        self.identity = canonical(identity)

    def close(self) -> None:
        """Nothing to close: the app's lifespan owns the runner."""

    def _store(self) -> AbstractContextManager[Store]:
        return nullcontext(self.service.approvals.store)

    def _check_can_decide(self, command: str) -> None:
        if not self.service.can_decide:
            msg = (
                f"`{command}` resumes the paused graph, but this inbox was started without one, so it "
                "can show requests but not decide them. Serve it with a graph (create_app(graph=...), "
                "or langgraph-hitl serve --graph path/to/file.py:builder)."
            )
            raise ReadOnlyInboxError(msg)

    def _resume(self, row: RequestRow, command: str, value: Any) -> tuple[RunResult, list[dict[str, Any]]]:
        decide = partial(self.service.decide, row.request_id, value, approver=self.identity)
        return self._decided(self.service.approvals.store, row, decide)


def allowed_hosts(hosts: bool | str | Sequence[str]) -> list[str] | None:
    """The `Host` names MCP requests may carry: loopback plus `hosts`, or None for no check (`["*"]`).

    Args:
        hosts: True (loopback only), or host names such as `"inbox.example.com"` or
            `"10.0.0.5:8000"` (a name without a port allows any port).

    Raises:
        ValueError: A name that is not a host name, IP address or `[IPv6]`, with or without a port.
    """
    names = [hosts] if isinstance(hosts, str) else ([] if isinstance(hosts, bool) else list(hosts))
    if "*" in names:
        return None
    found = list(LOOPBACK_HOSTS)
    for name in names:
        bare = name if isinstance(name, str) else ""
        if bare.count(":") > 1 and not bare.startswith("["):
            bare = f"[{bare}]"  # a bare IPv6 address
        if _HOST.fullmatch(bare) is None:
            msg = (
                f"MCP host {name!r} is not a host name: give what clients put in the Host header, "
                "e.g. 'inbox.example.com', 'inbox.example.com:8443' or '10.0.0.5' (no scheme, no path)."
            )
            raise ValueError(msg)
        if bare.lower() not in found:
            found.append(bare.lower())
    return found


def _security(hosts: list[str] | None) -> TransportSecuritySettings:
    from mcp.server.transport_security import TransportSecuritySettings

    if hosts is None:
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    patterns = [p for h in hosts for p in ((h,) if re.search(r":[0-9]+$", h) else (h, f"{h}:*"))]
    origins = [f"{scheme}://{p}" for p in patterns for scheme in ("http", "https")]
    return TransportSecuritySettings(allowed_hosts=patterns, allowed_origins=origins)


class McpEndpoint:
    """The ASGI endpoint at `/mcp`: authenticate, then hand the request to the SDK's session manager.

    Args:
        web: The app's state (authenticator, throttle, service).
        hosts: `allowed_hosts(...)`.
    """

    def __init__(self, web: WebState, hosts: list[str] | None) -> None:
        self.web = web
        self.security = _security(hosts)
        self.manager: StreamableHTTPSessionManager | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        who, digest = await self._approver(Request(scope))
        manager = self.manager
        if manager is None:
            raise HTTPException(status_code=503, detail="The MCP endpoint is starting or stopping; retry.")
        from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
        from mcp.server.auth.provider import AccessToken

        # `user`: the SDK binds the MCP session to this principal; APPROVER_KEY: who decides.
        token = AccessToken(token=digest, client_id=who, subject=who, scopes=[])
        authed = {**scope, APPROVER_KEY: who, "user": AuthenticatedUser(token)}
        await manager.handle_request(authed, receive, send)

    async def _approver(self, request: Request) -> tuple[str, str]:
        """The canonical approver of the request's bearer token and the token's hash, else an HTTP
        error (401, 403, 429)."""
        credentials = await _bearer(request)
        try:
            who = api_user(request, credentials)
        except Throttled as exc:
            text = f"Too many wrong tokens from your address; try again in {exc.retry_after} s."
            raise HTTPException(429, detail=text, headers={"Retry-After": str(exc.retry_after)}) from None
        # api_user refused a request without a token, so there is one to hash.
        digest = hash_token(credentials.credentials) if credentials is not None else ""
        try:
            return canonical(who), digest
        except AuthorizationError as exc:  # a name no decision can be made as
            detail = f"{exc} Give this approver an acceptable name in the tokens file."
            raise HTTPException(status_code=403, detail=detail) from None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """A fresh MCP server and session manager, serving until the app stops."""
        from ..mcp_server import create_mcp_server

        server = create_mcp_server(self._tools)
        server.middleware.append(_bind_caller)
        server.streamable_http_app(streamable_http_path=MCP_PATH, transport_security=self.security)
        manager = server.session_manager
        async with manager.run():
            self.manager = manager
            try:
                yield
            finally:
                self.manager = None

    def _tools(self) -> InboxTools:
        """The tools deciding as the approver of the HTTP request that carried the message being handled."""
        who = _caller.get()
        if who is None:
            msg = "This MCP message came without an authenticated approver; nothing is read or decided."
            raise PermissionError(msg)
        return WebInboxTools(self.web.inbox, who)


async def _bind_caller(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
    """SDK middleware: while a message is handled, `_caller` is the approver of its HTTP request."""
    scope = getattr(ctx.request, "scope", None)
    who = scope.get(APPROVER_KEY) if isinstance(scope, dict) else None
    reset = _caller.set(who if isinstance(who, str) else None)
    try:
        return await call_next(ctx)
    finally:
        _caller.reset(reset)


def mount_mcp(app: FastAPI, web: WebState, hosts: bool | str | Sequence[str]) -> McpEndpoint:
    """Serve MCP at `/mcp` on `app`, and run its session manager inside the app's lifespan.

    Raises:
        ValueError: A bad host name (see `allowed_hosts`).
        ImportError: The `mcp` package (2.3 or later) is missing; the message says how to install it.
    """
    try:
        import mcp.server.streamable_http_manager  # noqa: F401
    except ImportError as exc:
        msg = (
            f'create_app(mcp=...) needs the mcp package, version 2.3 or later ({exc}): pip install "mcp>=2.3"'
        )
        raise ImportError(msg) from None
    endpoint = McpEndpoint(web, allowed_hosts(hosts))
    # An ASGI app, not a function: every method reaches it (GET opens the event stream, DELETE ends a session).
    app.router.routes.append(Route(MCP_PATH, endpoint=endpoint, include_in_schema=False))
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[Any]:
        async with inner(application) as state, endpoint.running():
            yield state

    app.router.lifespan_context = lifespan
    return endpoint
