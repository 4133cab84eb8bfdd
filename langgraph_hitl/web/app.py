"""`create_app`: the web inbox as a FastAPI application.

The app opens one `Approvals` on startup (FastAPI lifespan) and closes it on shutdown.
A session middleware loads the signed cookie and writes it back when it changed; every
response carries security headers (no framing, `default-src 'self'`, no referrer, so one-time
link tokens never leak to other sites).
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import ExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import jinja2
from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from ..approvals import Approvals
from ..store import open_store
from .auth import Authenticator, SessionCodec, load_approvers
from .deps import CsrfError, LoginRequired, WebState, login_url, render
from .service import InboxService, load_graph

__all__ = ["SECRET_ENV", "SESSION_COOKIE", "TOKENS_ENV", "create_app"]

log = logging.getLogger("langgraph_hitl.web")

SESSION_COOKIE = "hitl_session"
"""The name of the signed session cookie."""
TOKENS_ENV = "HITL_WEB_TOKENS"
"""Environment variable naming the approvers tokens file, read when `approvers` is None."""
SECRET_ENV = "HITL_WEB_SECRET"
"""Environment variable holding the session signing key, read when `secret_key` is None."""

_HERE = Path(__file__).resolve().parent
_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# FastAPI's interactive docs load Swagger UI from a CDN with an inline bootstrap script; they
# show no request data, so only they get a wider policy.
_DOCS_CSP = (
    "default-src 'self'; img-src 'self' data: https://fastapi.tiangolo.com; "
    "style-src 'self' https://cdn.jsdelivr.net; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "frame-ancestors 'none'"
)
_DOCS_PATHS = ("/api/docs", "/api/docs/oauth2-redirect")


def _templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_HERE / "templates")),
        autoescape=True,  # request arguments are untrusted: escape everything, everywhere
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return Jinja2Templates(env=env)


def _nonce_store(link_signer: Any, nonce_store: Any, approvals: Approvals, stack: ExitStack) -> Any:
    if link_signer is None or nonce_store is not None:
        return nonce_store
    from ..notify.links import MemoryNonceStore, SQLiteNonceStore

    path = getattr(approvals.store.backend, "path", None)
    if isinstance(path, str) and path:
        store = SQLiteNonceStore(path)
        stack.callback(store.close)
        return store
    log.warning("approval links use an in-memory nonce store; pass nonce_store= when running several servers")
    return MemoryNonceStore()


def create_app(
    *,
    db: str = "sqlite:///hitl.db",
    graph: Any = None,
    approvers: Mapping[str, str] | str | os.PathLike[str] | None = None,
    secret_key: str | bytes | None = None,
    link_signer: Any = None,
    nonce_store: Any = None,
    title: str = "Approvals",
    session_ttl_s: float = 12 * 3600,
    hmac_key: bytes | None = None,
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
        nonce_store: Where used link nonces are kept; defaults to a table in the SQLite database.
        title: The name shown in the page header.
        session_ttl_s: Seconds a login lasts.
        hmac_key: The audit chain's key, if the runner writes it with one.

    Returns:
        A `fastapi.FastAPI` app; serve it with `uvicorn.run(app)`.

    Raises:
        ValueError: No approvers (neither given nor in `$HITL_WEB_TOKENS`), a bad tokens file, or a
            malformed graph spec.

    Example:
        ```python
        app = create_app(db="sqlite:///hitl.db", graph="examples/quickstart.py:build_graph",
                         approvers={"alice": os.environ["ALICE_TOKEN"]})
        uvicorn.run(app, host="127.0.0.1", port=8000)
        ```
    """
    if approvers is None:
        approvers = os.environ.get(TOKENS_ENV) or None
    if approvers is None:
        msg = (
            "create_app needs approvers: approvers={'alice': '<token>'}, or the path of a tokens file "
            f"with one 'alice:<token>' line per approver, or that path in ${TOKENS_ENV}."
        )
        raise ValueError(msg)
    if secret_key is None:
        secret_key = os.environ.get(SECRET_ENV) or None
    if link_signer is not None and not hasattr(link_signer, "redeem"):
        msg = f"link_signer must be a notify.LinkSigner, got {type(link_signer).__name__}."
        raise TypeError(msg)
    resolved = load_graph(graph)
    key = secret_key.encode("utf-8") if isinstance(secret_key, str) else secret_key
    web = WebState(
        title=title,
        auth=Authenticator(load_approvers(approvers)),
        codec=SessionCodec(key or secrets.token_bytes(32), ttl_s=session_ttl_s),
        templates=_templates(),
        link_signer=link_signer,
    )
    name = graph if isinstance(graph, str) else ""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with ExitStack() as stack:
            if resolved is not None:
                approvals = stack.enter_context(Approvals.open(resolved, db, name=name, hmac_key=hmac_key))
            else:
                store = stack.enter_context(open_store(db, hmac_key=hmac_key))
                approvals = Approvals(None, store)
            web.nonce_store = _nonce_store(link_signer, nonce_store, approvals, stack)
            web.service = InboxService(approvals, can_decide=resolved is not None)
            app.state.approvals = approvals
            try:
                yield
            finally:
                web.service = None

    app = FastAPI(
        title=f"{title} (langgraph-hitl web inbox)",
        description="Decide paused LangGraph runs. Authenticate API calls with `Authorization: Bearer <token>`.",
        lifespan=lifespan,
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.hitl_web = web
    _install_middleware(app, web)
    _install_handlers(app)

    from . import api, links, pages, reports

    app.include_router(pages.router)
    app.include_router(reports.router)
    app.include_router(links.router)
    app.include_router(api.router)
    app.mount("/static", StaticFiles(directory=str(_HERE / "static")), name="static")
    return app


def _install_middleware(app: FastAPI, web: WebState) -> None:
    @app.middleware("http")
    async def session_and_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        is_api = request.url.path.startswith("/api/") or request.url.path == "/openapi.json"
        session = None if is_api else web.codec.loads(request.cookies.get(SESSION_COOKIE))
        request.state.session = session or web.codec.new()
        response = await call_next(request)
        current = request.state.session  # a route may replace it (login, logout)
        if not is_api and current.dirty:
            response.set_cookie(
                SESSION_COOKIE,
                web.codec.dumps(current),
                max_age=int(web.codec.ttl_s),
                httponly=True,
                samesite="lax",
                secure=request.url.scheme == "https",
                path="/",
            )
        headers = response.headers
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "no-referrer")
        headers.setdefault("Content-Security-Policy", _DOCS_CSP if request.url.path in _DOCS_PATHS else _CSP)
        if not request.url.path.startswith("/static/"):
            headers.setdefault("Cache-Control", "no-store")
        return response


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(login_url(exc.next_url), status_code=303)

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
