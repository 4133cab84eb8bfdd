"""What wraps every request: a body-size limit, the session, and the security headers.

`BodyLimit` refuses a request whose body is over the limit with 413 before the body is read:
at once when `Content-Length` says so, and otherwise as soon as the bytes received pass it
(a chunked upload is never buffered whole, let alone parsed). The session middleware loads
the server-side session the cookie names and writes it back when it changed; every response
gets the security headers (no framing, `default-src 'self'`, no referrer, so one-time link
tokens never leak to other sites).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .deps import WebState

__all__ = ["CSP", "DOCS_CSP", "BodyLimit", "install_session_middleware", "too_large_message"]

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# Swagger UI sets inline styles on the elements it draws; its scripts are all served from this site.
DOCS_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


def too_large_message(limit: int, size: int | None = None) -> str:
    """The 413 answer's text."""
    seen = f"is {size} bytes" if size is not None else "is larger than that"
    return (
        f"The request body {seen}; this inbox accepts at most {limit} bytes "
        "(create_app(max_body_bytes=...)). Send less: edited arguments are limited to 256 kB anyway."
    )


class BodyLimit:
    """ASGI middleware: 413 for request bodies over `max_bytes`, before they are read.

    Args:
        app: The application to wrap.
        max_bytes: Largest body accepted.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:
            size = int(length) if length.isdigit() else None
            if size is None or size > self.max_bytes:
                await self._refuse(scope, send, size)
                return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Raised inside the route that reads the body; answered as 413 by FastAPI.
                    raise HTTPException(status_code=413, detail=too_large_message(self.max_bytes))
            return message

        await self.app(scope, limited, send)

    async def _refuse(self, scope: Scope, send: Send, size: int | None) -> None:
        body = json.dumps({"detail": too_large_message(self.max_bytes, size)}).encode("utf-8")
        headers: list[tuple[bytes, bytes]] = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode("ascii")),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _headers(request: Request, response: Response) -> None:
    path = request.url.path
    headers = response.headers
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Content-Security-Policy", DOCS_CSP if path.startswith("/api/docs") else CSP)
    if not path.startswith("/static/") and not path.startswith("/api/docs/assets/"):
        headers.setdefault("Cache-Control", "no-store")


def install_session_middleware(app: FastAPI, web: WebState, *, cookie: str) -> None:
    """Load the session before each page request, save it after, and add the security headers."""

    @app.middleware("http")
    async def session_and_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        path = request.url.path
        is_page = not (path.startswith(("/api/", "/static/")) or path in ("/openapi.json", "/mcp"))
        session: Any = None
        if is_page and web.sessions is not None:
            session = await run_in_threadpool(web.sessions.load, request.cookies.get(cookie))
        if session is None and web.sessions is not None:
            session = web.sessions.visitor()
        request.state.session = session
        response = await call_next(request)
        current = request.state.session  # a route may replace it (login, logout)
        if is_page and current is not None and current.dirty and web.sessions is not None:
            await run_in_threadpool(web.sessions.save, current)
            response.set_cookie(
                cookie,
                web.sessions.cookie(current),
                max_age=int(web.codec.ttl_s),
                httponly=True,
                samesite="lax",
                secure=request.url.scheme == "https",
                path="/",
            )
        _headers(request, response)
        return response
