"""`create_app`: the web inbox as a FastAPI application.

The app opens one `Approvals` on startup (FastAPI lifespan) and closes it on shutdown. Sessions
live in the database (`sessions.py`); `middleware.py` limits request bodies, loads sessions and
sets the security headers; `docs.py` serves the API docs from an installed package, offline.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, ExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import jinja2
from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from ..approvals import Approvals
from ..store import open_store
from .auth import Authenticator, SessionCodec, load_approvers
from .deps import CsrfError, LoginRequired, WebState, login_url, render
from .middleware import BodyLimit, install_session_middleware
from .service import InboxService, resolve_graph
from .sessions import SessionStore
from .slack import SlackSettings
from .textsafe import visible
from .throttle import FailureThrottle, Throttled

__all__ = ["DEFAULT_MAX_BODY_BYTES", "SECRET_ENV", "SESSION_COOKIE", "TOKENS_ENV", "create_app"]

log = logging.getLogger("langgraph_hitl.web")

SESSION_COOKIE = "hitl_session"
"""The name of the signed session cookie."""
TOKENS_ENV = "HITL_WEB_TOKENS"
"""Environment variable naming the approvers tokens file, read when `approvers` is None."""
SECRET_ENV = "HITL_WEB_SECRET"
"""Environment variable holding the session signing key, read when `secret_key` is None."""
DEFAULT_MAX_BODY_BYTES = 2 * 1024 * 1024
"""Largest request body accepted by default (2 MiB); larger ones get 413 before they are read."""

_HERE = Path(__file__).resolve().parent


def _templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_HERE / "templates")),
        autoescape=True,  # request arguments are untrusted: escape everything, everywhere
        finalize=visible,  # and show control and bidi characters as escapes instead of obeying them
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return Jinja2Templates(env=env)


def _nonce_store(link_signer: Any, nonce_store: Any, approvals: Approvals) -> Any:
    """Where used link nonces go: yours, else the store's table (every server on the database shares it)."""
    if link_signer is None or nonce_store is not None:
        return nonce_store
    return approvals.store.nonces


def create_app(
    *,
    db: str = "sqlite:///hitl.db",
    graph: Any = None,
    approvers: Mapping[str, str] | str | os.PathLike[str] | None = None,
    secret_key: str | bytes | None = None,
    link_signer: Any = None,
    nonce_store: Any = None,
    links_need_sign_in: bool = True,
    title: str = "Approvals",
    session_ttl_s: float = 12 * 3600,
    hmac_key: bytes | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    auth_failures: tuple[int, float] = (10, 300.0),
    notifier: Any = None,
    slack: SlackSettings | None = None,
    mcp: bool | Sequence[str] = False,
    operators: Collection[str] | None = None,
) -> Any:
    """Build the web inbox: pages for people, a JSON API for tools, one-time approval links.

    Args:
        db: The database holding the checkpoints and the inbox (`sqlite:///path.db` or `postgresql://...`).
        graph: The graph whose runs are decided here: a `StateGraph` builder, a compiled graph, or a
            `"path/to/file.py:attr"` spec. Without one the inbox shows requests but cannot decide them.
        approvers: Who may sign in: `{"alice": "<token>"}` or the path of a tokens file
            (`alice:<token>` lines, or `alice:sha256:<hex>`). Only token hashes are kept in memory.
            None reads the file named by `$HITL_WEB_TOKENS`.
        secret_key: Signs session cookies and CSRF tokens. None reads `$HITL_WEB_SECRET`, else a random
            key is made (sessions then end when the process restarts).
        link_signer: A `notify.LinkSigner` to accept one-time approval links at `/links/{token}`.
        nonce_store: Where used link nonces are kept; defaults to the store's `hitl_link_nonces` table
            (SQLite or Postgres), shared by every server on the database.
        links_need_sign_in: A link is opened and redeemed only by its own approver, signed in (the
            default). Pass False only if every link reaches its approver alone (a direct message).
        title: The name shown in the page header.
        session_ttl_s: Seconds a sign-in lasts (signing out ends it at once).
        hmac_key: The audit chain's key, if the runner writes it with one.
        max_body_bytes: Largest request body accepted; larger ones get 413 before they are read.
        auth_failures: `(limit, window_s)`: after `limit` wrong tokens from one client within
            `window_s` seconds, sign-in and API calls from it get 429 with `Retry-After`.
        notifier: Told about questions a decision here creates (a second review, an edited call
            asked again) and about decisions: a `notify.WebhookNotifier`, as `Approvals.open` takes.
        slack: A `web.slack.SlackSettings`: answer the review messages' Slack buttons at
            `POST /slack/interactions` (needs the [slack] extra). Off without it.
        mcp: Serve the MCP tools of `langgraph-hitl mcp` at `/mcp` (streamable HTTP, needs the [mcp]
            and [cli] extras), each request authenticated by its bearer token and deciding as its approver
            (`web.mcp_http`). True accepts loopback `Host` names only; a list adds names clients
            use (`["inbox.example.com"]`); `["*"]` leaves the Host/Origin check to a proxy.
        operators: The approvers who may halt and lift halts on the Operations page
            (`web.oversight`), e.g. `{"alice"}`; names are canonicalized like every approver's.
            None: nobody may (the page answers 403 saying how to configure it).

    Returns:
        A `fastapi.FastAPI` app; serve it with `uvicorn.run(app)`.

    Raises:
        ValueError: No approvers (neither given nor in `$HITL_WEB_TOKENS`), a bad tokens file, a
            malformed graph spec, a bad `max_body_bytes` / `auth_failures`, or an operator who is
            not an approver (or whose name could pass for another).

    Example:
        ```python
        app = create_app(db="sqlite:///hitl.db", graph="examples/quickstart.py:build_graph",
                         approvers={"alice": os.environ["ALICE_TOKEN"]})
        uvicorn.run(app, host="127.0.0.1", port=8000)
        ```
    """
    approvers = _approvers_or_env(approvers)
    _check_options(max_body_bytes, auth_failures, link_signer)
    if secret_key is None:
        secret_key = os.environ.get(SECRET_ENV) or None
    resolved = resolve_graph(graph)
    key = secret_key.encode("utf-8") if isinstance(secret_key, str) else secret_key
    web = WebState(
        title=title,
        auth=Authenticator(load_approvers(approvers)),
        codec=SessionCodec(key or secrets.token_bytes(32), ttl_s=session_ttl_s),
        templates=_templates(),
        throttle=FailureThrottle(*auth_failures),
        link_signer=link_signer,
        links_need_sign_in=links_need_sign_in,
    )
    lifespan = _lifespan(
        web,
        db=db,
        graph=resolved,
        name=graph if isinstance(graph, str) else "",
        hmac_key=hmac_key,
        notifier=notifier,
        nonce_store=nonce_store,
    )
    app = FastAPI(
        title=f"{title} (langgraph-hitl web inbox)",
        description="Decide paused LangGraph runs. Authenticate API calls with `Authorization: Bearer <token>`.",
        lifespan=lifespan,
        docs_url=None,  # docs.py serves them from local files, never a CDN
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.hitl_web = web
    app.state.hitl_operators = _operators(web, operators)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)  # inner: its 413 still gets the headers
    install_session_middleware(app, web, cookie=SESSION_COOKIE)
    _install_handlers(app)

    from . import api, docs, link_routes, oversight, oversight_reverse, pages, reports

    app.include_router(pages.router)
    app.include_router(reports.router)
    app.include_router(link_routes.router)
    app.include_router(docs.router)
    app.include_router(api.router)
    app.include_router(oversight.router)
    app.include_router(oversight_reverse.router)
    if slack is not None:
        from .slack_jobs import SlackApp
        from .slack_routes import router as slack_router

        app.state.hitl_slack = SlackApp(slack)
        app.include_router(slack_router)
    if mcp is not False:
        from .mcp_http import mount_mcp

        mount_mcp(app, web, mcp)
    app.mount("/static", StaticFiles(directory=str(_HERE / "static")), name="static")
    docs.mount_assets(app)
    return app


def _operators(web: WebState, operators: Collection[str] | None) -> Any:
    """The checked operators, and the templates' halt banner and menu (`web.oversight`)."""
    from .oversight import install_globals
    from .oversight_views import Operators

    checked = Operators(operators, web.auth.names)
    install_globals(web, checked)
    return checked


def _approvers_or_env(
    approvers: Mapping[str, str] | str | os.PathLike[str] | None,
) -> Mapping[str, str] | str | os.PathLike[str]:
    """`approvers`, else the tokens file named by `$HITL_WEB_TOKENS`; neither is an error that says the fix."""
    if approvers is None:
        approvers = os.environ.get(TOKENS_ENV) or None
    if approvers is None:
        msg = (
            "create_app needs approvers: approvers={'alice': '<token>'}, or the path of a tokens file "
            f"with one 'alice:<token>' line per approver, or that path in ${TOKENS_ENV}."
        )
        raise ValueError(msg)
    return approvers


def _check_options(max_body_bytes: int, auth_failures: tuple[int, float], link_signer: Any) -> None:
    if isinstance(max_body_bytes, bool) or not isinstance(max_body_bytes, int) or max_body_bytes < 1024:
        msg = (
            f"max_body_bytes={max_body_bytes!r}: use a whole number of bytes, at least 1024 (default 2 MiB)."
        )
        raise ValueError(msg)
    if not isinstance(auth_failures, tuple) or len(auth_failures) != 2:
        msg = f"auth_failures={auth_failures!r}: use (limit, window_s), e.g. (10, 300.0)."
        raise ValueError(msg)
    if link_signer is not None and not hasattr(link_signer, "redeem"):
        msg = f"link_signer must be a notify.LinkSigner, got {type(link_signer).__name__}."
        raise TypeError(msg)


def _lifespan(
    web: WebState,
    *,
    db: str,
    graph: Any,
    name: str,
    hmac_key: bytes | None,
    notifier: Any,
    nonce_store: Any,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Open one `Approvals` (or, without a graph, only the store) for the app's life; close it after."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with ExitStack() as stack:
            if graph is not None:
                approvals = stack.enter_context(
                    Approvals.open(graph, db, name=name, hmac_key=hmac_key, notifier=notifier)
                )
            else:
                store = stack.enter_context(open_store(db, hmac_key=hmac_key))
                approvals = Approvals(None, store)
            web.nonce_store = _nonce_store(web.link_signer, nonce_store, approvals)
            web.sessions = SessionStore(approvals.store.backend, web.codec, clock=approvals.store.clock)
            web.service = InboxService(approvals, can_decide=graph is not None)
            app.state.approvals = approvals
            try:
                yield
            finally:
                web.service = None

    return lifespan


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(login_url(exc.next_url), status_code=303)

    @app.exception_handler(Throttled)
    async def throttled(request: Request, exc: Throttled) -> Response:
        text = (
            f"Too many wrong tokens from your address; try again in {exc.retry_after} s. "
            "If you lost your token, ask the inbox's operator for a new one."
        )
        headers = {"Retry-After": str(exc.retry_after)}
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": text, "error": "Throttled"}, status_code=429, headers=headers)
        response = render(
            request, "message.html", {"heading": "Too many attempts", "message": text}, status_code=429
        )
        response.headers.update(headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_input(request: Request, exc: RequestValidationError) -> Response:
        if request.url.path.startswith("/api/"):
            return await request_validation_exception_handler(request, exc)
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err.get('loc', ())[1:])}: {err.get('msg', '')}"
            for err in exc.errors()
        )
        return render(
            request, "message.html", {"heading": "Invalid input", "message": problems}, status_code=400
        )

    @app.exception_handler(CsrfError)
    async def csrf_refused(request: Request, exc: CsrfError) -> Response:
        return render(
            request,
            "message.html",
            {
                "heading": "Form expired",
                "message": "This form is missing its security token or it belongs to another session. "
                "Go back, reload the page and submit again.",
            },
            status_code=403,
        )
